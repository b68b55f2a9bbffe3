//! `/api/records/{ins}/documents` and `/api/documents/{id}`: deposit (multipart, streamed),
//! list, read metadata, retrieve bytes (with `Range`), withdraw, archive.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carnet_domain::codes::{CLASS_SYSTEM, Code, CodeLists, FORMAT_SYSTEM_IHE};
use carnet_domain::document::{DeclaredAuthor, DocumentSubmission, PersonName, XdsMetadata};
use carnet_domain::{DocumentId, Ins, SecurityLabel};
use carnet_service::{ContentError, DocumentView, Submitted};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, InsPath};

/// A deposit's `metadata` part (JSON). Codes default to the DMP systems; the type code is
/// looked up in the DMP list (JDV_J66), whose codes are unique across LOINC and TRE_A05.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadMetadata {
    /// XDS uniqueId, chosen by the depositing software (an OID or `urn:uuid:…`).
    #[schema(example = "1.2.250.1.999.1.1.7.42")]
    pub unique_id: String,
    /// Class code (JDV_J57); may be omitted: the type's class is used.
    #[schema(example = "10")]
    pub class_code: Option<String>,
    /// Type code (JDV_J66): LOINC or TRE_A05.
    #[schema(example = "11502-2")]
    pub type_code: String,
    /// IHE format code; default `urn:ihe:iti:xds:2017:mimeTypeSufficient`.
    pub format_code: Option<String>,
    /// Default: the `content` part's Content-Type.
    pub mime_type: Option<String>,
    /// BCP 47; default `fr-FR`.
    pub language: Option<String>,
    /// Clinical content: stored sealed under the patient's key.
    pub title: Option<String>,
    /// RFC 3339.
    pub authored_at: Option<String>,
    /// TRE_A07 codes: `MASQUE_PS`, `INVISIBLE_PATIENT`, `INVISIBLE_REPRESENTANTS_LEGAUX`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Declared size in bytes: checked against the bytes received.
    pub size: Option<u64>,
    /// Declared SHA-256 (hex): checked against the bytes received.
    pub sha256: Option<String>,
    /// The id of the document this one replaces.
    pub replaces: Option<String>,
    pub practice_setting: Option<CodeInput>,
    pub facility_type: Option<CodeInput>,
    /// RFC 3339.
    pub service_start: Option<String>,
    pub service_end: Option<String>,
    /// Declared by feeding software (system identity) for the professional it feeds for.
    pub author: Option<AuthorInput>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    pub system: String,
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorInput {
    pub rpps: Option<String>,
    pub family: Option<String>,
    pub given: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeResponse {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A document's metadata as its reader may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentResponse {
    pub id: String,
    pub ins: String,
    pub unique_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub class_code: CodeResponse,
    pub type_code: CodeResponse,
    pub format_code: CodeResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub practice_setting: Option<CodeResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility_type: Option<CodeResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_end: Option<String>,
    pub mime_type: String,
    pub language: String,
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_given: Option<String>,
    pub deposited_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authored_at: Option<String>,
    pub submitted_at: String,
    pub size: u64,
    /// Hex SHA-256 of the document's bytes.
    pub sha256: String,
    pub labels: Vec<String>,
    /// `current`, `superseded`, `entered-in-error`.
    pub status: String,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Where the bytes are.
    pub content_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentList {
    /// Only what the caller may see is listed and counted.
    pub total: usize,
    pub documents: Vec<DocumentResponse>,
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    carnet_domain::hex::encode(bytes)
}

fn code_response(c: &Code, display: Option<&str>) -> CodeResponse {
    CodeResponse { system: c.system.clone(), code: c.code.clone(), display: display.map(str::to_owned) }
}

impl DocumentResponse {
    pub fn of(view: DocumentView, codes: &CodeLists) -> DocumentResponse {
        let m = view.meta;
        DocumentResponse {
            id: m.id.to_string(),
            ins: m.ins.to_string(),
            unique_id: m.xds.unique_id,
            title: view.title,
            class_code: code_response(&m.xds.class_code, codes.find_class(&m.xds.class_code).map(|c| c.display.as_str())),
            type_code: code_response(&m.xds.type_code, codes.find_type(&m.xds.type_code).map(|t| t.display.as_str())),
            format_code: code_response(&m.xds.format_code, codes.find_format(&m.xds.format_code).map(|f| f.display.as_str())),
            practice_setting: m.xds.practice_setting.as_ref().map(|c| code_response(c, None)),
            facility_type: m.xds.facility_type.as_ref().map(|c| code_response(c, None)),
            service_start: m.xds.service_start.map(rfc3339),
            service_end: m.xds.service_end.map(rfc3339),
            mime_type: m.xds.mime_type,
            language: m.xds.language,
            author: m.author,
            author_family: m.author_name.as_ref().and_then(|n| n.family.clone()),
            author_given: m.author_name.as_ref().and_then(|n| n.given.clone()),
            deposited_by: m.deposited_by,
            authored_at: m.xds.authored_at.map(rfc3339),
            submitted_at: rfc3339(m.submitted_at),
            size: m.size,
            sha256: hex(&m.sha256),
            labels: m.labels.iter().map(|l| l.code().to_owned()).collect(),
            status: m.status.as_str().to_owned(),
            archived: m.archived,
            replaces: m.replaces.map(|r| r.to_string()),
            content_url: format!("/api/documents/{}/content", m.id),
        }
    }
}

fn invalid(field: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(format!("{field}: {problem}"))
}

fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|s| OffsetDateTime::parse(s, &Rfc3339).map_err(|_| invalid(field, format!("{s:?} is not an RFC 3339 date-time")))).transpose()
}

fn parse_sha256(raw: &str) -> Result<[u8; 32], ApiError> {
    // Folded: the client's hash is compared with the bytes', never used as a name.
    carnet_domain::hex::decode_array(&raw.to_ascii_lowercase()).map_err(|_| invalid("sha256", "64 hexadecimal digits"))
}

pub fn parse_document_id(raw: &str) -> Result<DocumentId, ApiError> {
    DocumentId::parse(raw).map_err(|e| invalid("id", e))
}

impl UploadMetadata {
    pub(crate) fn parse(self, ins: Ins, content_type: Option<String>, codes: &CodeLists) -> Result<DocumentSubmission, ApiError> {
        let type_code = codes.find_type_by_code(&self.type_code).ok_or_else(|| {
            let examples: Vec<&str> = codes.types.iter().take(8).map(|t| t.code.code.as_str()).collect();
            invalid("type_code", format!("{:?} is not a DMP type code (JDV_J66, e.g. {}…)", self.type_code, examples.join(", ")))
        })?;
        let class = self.class_code.unwrap_or_else(|| type_code.class.clone());
        let labels = self
            .labels
            .iter()
            .map(|l| {
                SecurityLabel::parse(l)
                    .ok_or_else(|| invalid("labels", format!("{l:?} is not one of {}", SecurityLabel::ALL.map(|l| l.code()).join(", "))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mime_type = self
            .mime_type
            .or(content_type.filter(|c| c != "application/octet-stream"))
            .ok_or_else(|| invalid("mime_type", "required (or send the content part with its Content-Type)"))?;
        let declared_author = match self.author {
            None => None,
            Some(a) => Some(DeclaredAuthor {
                rpps: a.rpps.as_deref().map(|r| r.parse().map_err(|e| invalid("author.rpps", e))).transpose()?,
                name: (a.family.is_some() || a.given.is_some()).then_some(PersonName { family: a.family, given: a.given }),
            }),
        };
        let xds = XdsMetadata {
            unique_id: self.unique_id,
            class_code: Code::new(CLASS_SYSTEM, &class),
            type_code: type_code.code.clone(),
            format_code: Code::new(FORMAT_SYSTEM_IHE, self.format_code.as_deref().unwrap_or("urn:ihe:iti:xds:2017:mimeTypeSufficient")),
            practice_setting: self.practice_setting.map(|c| Code { system: c.system, code: c.code }),
            facility_type: self.facility_type.map(|c| Code { system: c.system, code: c.code }),
            service_start: parse_time("service_start", self.service_start.as_deref())?,
            service_end: parse_time("service_end", self.service_end.as_deref())?,
            mime_type,
            language: self.language.unwrap_or_else(|| "fr-FR".to_owned()),
            authored_at: parse_time("authored_at", self.authored_at.as_deref())?,
        };
        Ok(DocumentSubmission {
            ins,
            xds,
            title: self.title,
            declared_author,
            labels,
            declared_size: self.size,
            declared_sha256: self.sha256.as_deref().map(parse_sha256).transpose()?,
            replaces: self.replaces.as_deref().map(parse_document_id).transpose()?,
        })
    }
}

/// A pause this long in the middle of an upload ends it (a stalled client holds no resources).
const UPLOAD_IDLE: Duration = Duration::from_secs(60);

/// How slowly a deposit may arrive, and for how long (`HttpLimits`): a client trickling bytes
/// would otherwise hold a connection, a task and a half-written blob for as long as it likes.
/// The longest an upload may take also tells the upload sweep when a pending note is certainly
/// abandoned (`ServiceConfig::upload_deadline`).
#[derive(Debug, Clone, Copy)]
pub struct UploadPace {
    pub min_bytes_per_second: u64,
    pub grace: Duration,
    pub max_duration: Duration,
}

impl UploadPace {
    /// Whether `received` bytes after `elapsed` are too few.
    pub fn too_slow(&self, received: u64, elapsed: Duration) -> bool {
        elapsed > self.grace && (received as f64) < self.min_bytes_per_second as f64 * elapsed.as_secs_f64()
    }

    /// What ends an upload that has received `received` bytes after `elapsed`, if anything:
    /// too slow, or running longer than an upload may.
    pub fn check(&self, received: u64, elapsed: Duration) -> Result<(), ContentError> {
        if elapsed > self.max_duration {
            return Err(ContentError::TooSlow(format!(
                "still arriving after {} s, the longest an upload may take: nothing was stored",
                self.max_duration.as_secs()
            )));
        }
        if self.too_slow(received, elapsed) {
            return Err(ContentError::TooSlow(format!(
                "{received} bytes in {} s, less than {} bytes/s: nothing was stored",
                elapsed.as_secs(),
                self.min_bytes_per_second
            )));
        }
        Ok(())
    }
}
/// The `metadata` part is small JSON.
const METADATA_LIMIT: usize = 64 * 1024;

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than the limit")
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, format!("multipart body: {}", e.body_text()))
    }
}

/// Deposit a document: `multipart/form-data` with a `metadata` part (JSON, first) and a
/// `content` part (the bytes, streamed: any size up to the configured limit).
#[utoipa::path(post, path = "/api/records/{ins}/documents", tag = "documents",
    params(("ins" = String, Path, description = "The patient's INS")),
    request_body(content_type = "multipart/form-data", description = "`metadata` (JSON, see UploadMetadata) then `content` (the document's bytes)"),
    responses(
        (status = 201, description = "Deposited", body = DocumentResponse),
        (status = 200, description = "Already deposited with the same bytes: nothing new stored", body = DocumentResponse),
        (status = 403, description = "This actor may not feed this record", body = crate::Problem),
        (status = 404, description = "No such record", body = crate::Problem),
        (status = 409, description = "Record not active, identity not qualified, or unique id taken by other bytes", body = crate::Problem),
        (status = 413, description = "Larger than the limit", body = crate::Problem),
        (status = 422, description = "Bad metadata, unknown code, or declared size/hash differ from the bytes", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    axum::Extension(pace): axum::Extension<UploadPace>,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let first = multipart.next_field().await.map_err(multipart_error)?;
    let Some(first) = first.filter(|f| f.name() == Some("metadata")) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "the first part must be `metadata` (JSON), then `content`"));
    };
    let mut raw = Vec::new();
    let mut first = first;
    while let Some(piece) = first.chunk().await.map_err(multipart_error)? {
        raw.extend_from_slice(&piece);
        if raw.len() > METADATA_LIMIT {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("metadata: at most {METADATA_LIMIT} bytes")));
        }
    }
    // multer hands out one field at a time: the metadata part must be released first.
    drop(first);
    let metadata: UploadMetadata = serde_json::from_slice(&raw).map_err(|e| ApiError::unprocessable(format!("metadata: {e}")))?;
    // The `content` part is read by one future and deposited by another, so that what follows
    // it can be checked before the deposit commits: a deposit is one `metadata` and one
    // `content`, and a part after them (a second document) refuses the whole deposit.
    let (kind_tx, kind_rx) = futures::channel::oneshot::channel::<Result<Option<String>, ApiError>>();
    let (mut bytes_tx, bytes_rx) = futures::channel::mpsc::channel::<Result<bytes::Bytes, ContentError>>(1);
    let read = async move {
        let content = match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("content") => field,
            Ok(_) => {
                let _ =
                    kind_tx.send(Err(ApiError::new(StatusCode::BAD_REQUEST, "the second part must be `content` (the document's bytes)")));
                return;
            }
            Err(e) => {
                let _ = kind_tx.send(Err(multipart_error(e)));
                return;
            }
        };
        if kind_tx.send(Ok(content.content_type().map(str::to_owned))).is_err() {
            return;
        }
        let mut field = content;
        let mut received = 0u64;
        loop {
            let piece = match tokio::time::timeout(UPLOAD_IDLE, field.chunk()).await {
                Err(_) => Err(ContentError::Interrupted("no data for 60 s".into())),
                Ok(Ok(Some(bytes))) => {
                    received += bytes.len() as u64;
                    pace.check(received, started.elapsed()).map(|()| bytes)
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ContentError::TooLarge),
                Ok(Err(e)) => Err(ContentError::Interrupted(e.body_text())),
            };
            let failed = piece.is_err();
            // The depositor gone (refused, failed): nothing more to read for it.
            if futures::SinkExt::send(&mut bytes_tx, piece).await.is_err() || failed {
                return;
            }
        }
        drop(field);
        let after = match multipart.next_field().await {
            Ok(None) => return,
            Ok(Some(extra)) => ContentError::Invalid(format!(
                "a deposit has one `metadata` part and one `content` part; found another part ({}) after `content`: nothing was stored",
                extra.name().map_or_else(|| "unnamed".to_owned(), |n| format!("`{}`", n.chars().take(40).collect::<String>()))
            )),
            Err(e) => ContentError::Interrupted(e.body_text()),
        };
        let _ = futures::SinkExt::send(&mut bytes_tx, Err(after)).await;
    };
    let deposit = async {
        let content_type =
            kind_rx.await.map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the body ended before the `content` part"))??;
        let submission = metadata.parse(ins, content_type, &state.carnet.config().codes)?;
        Ok::<_, ApiError>(state.carnet.submit_document(&actor, submission, bytes_rx).await?)
    };
    let ((), submitted) = futures::join!(read, deposit);
    let submitted = submitted?;
    let codes = &state.carnet.config().codes;
    Ok(match submitted {
        Submitted::Created(view) => {
            let location = format!("/api/documents/{}", view.meta.id);
            (StatusCode::CREATED, [(header::LOCATION, location)], Json(DocumentResponse::of(view, codes))).into_response()
        }
        Submitted::Unchanged(view) => (StatusCode::OK, Json(DocumentResponse::of(view, codes))).into_response(),
    })
}

/// The patient's documents the caller may see (nothing else is listed or counted).
#[utoipa::path(get, path = "/api/records/{ins}/documents", tag = "documents",
    params(("ins" = String, Path, description = "The patient's INS")),
    responses((status = 200, description = "Visible documents, newest first", body = DocumentList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
) -> Result<Json<DocumentList>, ApiError> {
    let visible = state.carnet.visible_documents(&actor, &ins).await?;
    let codes = &state.carnet.config().codes;
    let documents: Vec<DocumentResponse> =
        state.carnet.views(&visible).await?.into_iter().map(|v| DocumentResponse::of(v, codes)).collect();
    Ok(Json(DocumentList { total: documents.len(), documents }))
}

/// A document's metadata. A document the caller may not see answers exactly like one that
/// does not exist.
#[utoipa::path(get, path = "/api/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document", body = DocumentResponse),
        (status = 404, description = "No such document (or not visible to the caller)", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let id = parse_document_id(&id)?;
    let view = state.carnet.document(&actor, id).await?;
    Ok(Json(DocumentResponse::of(view, &state.carnet.config().codes)))
}

/// What a `Range` header asks of a document of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    Whole,
    Part(std::ops::Range<u64>),
    Unsatisfiable,
}

pub fn requested_range(headers: &HeaderMap, size: u64) -> RangeRequest {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return RangeRequest::Whole };
    match http_range_header::parse_range_header(raw) {
        // A malformed Range header is ignored (RFC 9110 §14.2): the whole document is served.
        Err(_) => RangeRequest::Whole,
        Ok(parsed) => match parsed.validate(size) {
            Err(_) => RangeRequest::Unsatisfiable,
            Ok(ranges) => match ranges.as_slice() {
                [one] => RangeRequest::Part(*one.start()..one.end() + 1),
                // Several ranges: serve the whole document, which RFC 9110 allows.
                _ => RangeRequest::Whole,
            },
        },
    }
}

/// A document's bytes (IHE ITI-68 equivalent on /api), streamed and decrypted chunk by chunk;
/// honours a single `Range`.
#[utoipa::path(get, path = "/api/documents/{id}/content", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The bytes, with the document's MIME type"),
        (status = 206, description = "The requested range"),
        (status = 404, description = "No such document (or not visible to the caller)", body = crate::Problem),
        (status = 416, description = "Range not satisfiable", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn content(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_document_id(&id)?;
    let visible = state.carnet.visible_document(&actor, id, carnet_service::DocumentAction::Retrieve).await?;
    content_response(&state, &visible, &headers).await
}

/// Streams a visible document as an HTTP response (shared with FHIR's Binary).
pub async fn content_response(state: &AppState, visible: &carnet_service::Visible, headers: &HeaderMap) -> Result<Response, ApiError> {
    let size = visible.meta().size;
    let range = match requested_range(headers, size) {
        RangeRequest::Whole => None,
        RangeRequest::Part(r) => Some(r),
        RangeRequest::Unsatisfiable => {
            let mut r = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, format!("the document has {size} bytes")).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let partial = range.is_some();
    let content = state.carnet.content(visible, range).await?;
    let len = content.range.end - content.range.start;
    let body = Body::from_stream(content.body.map(|r| {
        r.map_err(|e| {
            // Headers are gone: the only honest signal left is to break the connection.
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "document stream failed; connection aborted");
            std::io::Error::other(e.to_string())
        })
    }));
    let mut response = Response::new(body);
    *response.status_mut() = if partial { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let h = response.headers_mut();
    let content_type = HeaderValue::from_str(&content.meta.xds.mime_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", hex(&content.meta.sha256))) {
        h.insert(header::ETAG, etag);
    }
    // Deposited bytes are not ours: never let a browser run them in Carnet's origin.
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if partial
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", content.range.start, content.range.end.saturating_sub(1), size))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

async fn lifecycle(
    state: &AppState,
    result: Result<DocumentView, carnet_service::ServiceError>,
) -> Result<Json<DocumentResponse>, ApiError> {
    Ok(Json(DocumentResponse::of(result?, &state.carnet.config().codes)))
}

/// Withdraw a document (entered-in-error): its author only.
#[utoipa::path(post, path = "/api/documents/{id}/withdraw", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "Withdrawn", body = DocumentResponse),
        (status = 403, description = "Not its author", body = crate::Problem),
        (status = 404, description = "No such document", body = crate::Problem),
        (status = 409, description = "Not current", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let id = parse_document_id(&id)?;
    lifecycle(&state, state.carnet.withdraw_document(&actor, id).await).await
}

/// Archive a document (kept, out of the default views).
#[utoipa::path(post, path = "/api/documents/{id}/archive", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "Archived", body = DocumentResponse), (status = 409, description = "Already archived or not current", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn archive(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let id = parse_document_id(&id)?;
    lifecycle(&state, state.carnet.archive_document(&actor, id, true).await).await
}

/// Unarchive a document.
#[utoipa::path(post, path = "/api/documents/{id}/unarchive", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "Back in the default views", body = DocumentResponse), (status = 409, description = "Not archived", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn unarchive(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let id = parse_document_id(&id)?;
    lifecycle(&state, state.carnet.archive_document(&actor, id, false).await).await
}

#[cfg(test)]
mod pace_tests {
    use super::*;

    #[test]
    fn the_floor_applies_after_the_grace_only() {
        let pace = UploadPace { min_bytes_per_second: 1000, grace: Duration::from_secs(30), max_duration: Duration::from_secs(3600) };
        assert!(!pace.too_slow(0, Duration::from_secs(29)), "within the grace, anything goes");
        assert!(pace.too_slow(29_999, Duration::from_secs(30) + Duration::from_millis(1)));
        assert!(!pace.too_slow(31_000, Duration::from_secs(31)));
        assert!(pace.too_slow(60, Duration::from_secs(60)), "a byte a second");
    }

    #[test]
    fn an_upload_ends_past_the_longest_duration_however_fast() {
        let pace = UploadPace { min_bytes_per_second: 1000, grace: Duration::from_secs(30), max_duration: Duration::from_secs(3600) };
        assert!(pace.check(u64::MAX / 2, Duration::from_secs(3600)).is_ok(), "up to the bound, a fast upload goes on");
        let ended = pace.check(u64::MAX / 2, Duration::from_secs(3601));
        assert!(matches!(&ended, Err(ContentError::TooSlow(why)) if why.contains("3600 s")), "{ended:?}");
        assert!(
            matches!(pace.check(10, Duration::from_secs(60)), Err(ContentError::TooSlow(why)) if why.contains("less than 1000 bytes/s"))
        );
        assert!(pace.check(0, Duration::from_secs(1)).is_ok());
    }
}
