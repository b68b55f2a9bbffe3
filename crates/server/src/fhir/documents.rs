//! IHE MHD on documents: ITI-65 provide (`POST /fhir`), ITI-67 find and read
//! (`DocumentReference`), ITI-68 retrieve (`Binary`), and the security-label update (PATCH/PUT
//! of `DocumentReference.securityLabel`).

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use carnet_domain::{DocumentId, InsKind, SecurityLabel};
use carnet_fhir::mhd::EntryRole;
use carnet_fhir::model::{BundleEntryResponse, DocumentReference};
use carnet_fhir::render::{RenderContext, document_reference, transaction_response};
use carnet_fhir::search::DocumentQuery;
use carnet_fhir::search_page::{DocumentReferenceJson, DocumentSearchset};
use carnet_fhir::{IssueType, parse_provide_bundle, read_label_patch, read_label_put};
use carnet_service::{BundleDocument, DocumentAction, DocumentView, MAX_PAGE, NewSubmissionSet, Paging, ServiceError, check_text_query};
use futures::StreamExt;

use super::{FhirActor, FhirError, FhirLimits, FhirQuery, applied, base_url, handling, json, paging_links, read_body, searchset};
use crate::AppState;
use crate::routes::documents::{RangeRequest, content_response, requested_range};

fn document_id(raw: &str) -> Result<DocumentId, FhirError> {
    // A malformed id cannot name a document: it answers like a missing one.
    DocumentId::parse(raw).map_err(|_| FhirError::not_found("DocumentReference"))
}

fn render(state: &AppState, base: &str, view: &DocumentView, kind: InsKind) -> DocumentReference {
    let ctx = RenderContext { base_url: base, codes: &state.carnet.config().codes };
    document_reference(&view.meta, view.title.as_deref(), kind, &ctx)
}

/// ITI-65 Provide Document Bundle: parsed and checked by `carnet-fhir`, deposited all or
/// nothing by the service, answered with a transaction-response.
pub async fn provide(
    State(state): State<AppState>,
    Extension(limits): Extension<FhirLimits>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FhirError> {
    let bytes = read_body(&headers, body, limits.body_bytes).await?;
    let mut bundle = parse_provide_bundle(&bytes, &state.carnet.config().codes)?;
    drop(bytes);
    // Where a service refusal points in the bundle: the first DocumentReference's entry.
    let entry_of = |doc: usize| bundle.entries.iter().position(|r| *r == EntryRole::DocumentReference(doc)).unwrap_or(0);
    let set = NewSubmissionSet {
        unique_id: bundle.submission_set.unique_id.clone(),
        source_id: bundle.submission_set.source_id.clone(),
        author: bundle.submission_set.author.clone(),
        title: bundle.submission_set.title.clone(),
    };
    // Moved, not copied: the response needs only the entries' roles.
    let documents = std::mem::take(&mut bundle.documents)
        .into_iter()
        .map(|d| BundleDocument { submission: d.submission, bytes: Bytes::from(d.bytes), sha256: Some(d.sha256) })
        .collect();
    let submitted = match state.carnet.submit_bundle(&actor, set, documents).await {
        Ok(s) => s,
        Err(e) => {
            // "document N: …" names the document; record-level refusals point at its subject.
            let (doc, element) = match &e {
                ServiceError::Invalid(m) | ServiceError::Conflict(m) => {
                    let n = m.strip_prefix("document ").and_then(|r| r.split(':').next()).and_then(|n| n.parse::<usize>().ok());
                    // A CDA header refusal names its element (an XPath) in the diagnostics.
                    let element = if m.contains("CDA R2 document refused") {
                        "content[0].attachment"
                    } else if m.contains("unique id") {
                        "masterIdentifier"
                    } else if m.contains("size") || m.contains("hash") {
                        "content[0].attachment"
                    } else {
                        ""
                    };
                    (n.map(|n| n.saturating_sub(1)).unwrap_or(0), element)
                }
                _ => (0, "subject"),
            };
            let path = format!("Bundle.entry[{}].resource{}{}", entry_of(doc), if element.is_empty() { "" } else { "." }, element);
            let not_found = matches!(e, ServiceError::NotFound(_));
            let mut err = FhirError::from(e).at(path);
            if not_found {
                // The patient named by the bundle has no record: the bundle cannot be processed.
                err.status = StatusCode::UNPROCESSABLE_ENTITY;
                err.diagnostics = "the patient has no record in Carnet (DocumentReference.subject)".into();
            }
            return Err(err);
        }
    };
    let status = if submitted.created { "201 Created" } else { "200 OK" };
    let last_modified = carnet_fhir::datetime::instant(submitted.submitted_at);
    let responses = bundle
        .entries
        .iter()
        .map(|role| {
            let location = match role {
                EntryRole::SubmissionSet => format!("List/{}", submitted.set_id),
                EntryRole::DocumentReference(i) => {
                    format!("DocumentReference/{}", submitted.documents.get(*i).map(|d| d.meta.id.to_string()).unwrap_or_default())
                }
                EntryRole::Binary(i) => {
                    format!("Binary/{}", submitted.documents.get(*i).map(|d| d.meta.id.to_string()).unwrap_or_default())
                }
            };
            BundleEntryResponse {
                status: status.into(),
                location: Some(location),
                last_modified: Some(last_modified.clone()),
                ..BundleEntryResponse::default()
            }
        })
        .collect();
    Ok(json(StatusCode::OK, &transaction_response(responses)))
}

/// ITI-67 Find Document References: the gate's documents of the patient, then the filters;
/// `total` counts what the caller may see and matches, nothing else.
pub async fn search(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    FhirQuery(params): FhirQuery,
) -> Result<Response, FhirError> {
    let handling = handling(&headers);
    let (query, ignored) = DocumentQuery::parse_with(&params, handling)?;
    let base = base_url(&headers);
    if let Some(text) = &query.full_text {
        return full_text_search(&state, &actor, &query, text, &params, &ignored, &base, handling).await;
    }
    let mut visible: Vec<_> =
        state.carnet.visible_documents(&actor, &query.patient).await?.into_iter().filter(|v| query.matches(v.meta())).collect();
    visible.sort_by(|a, b| {
        let order = a.meta().submitted_at.cmp(&b.meta().submitted_at).then(a.meta().id.cmp(&b.meta().id));
        if query.ascending { order } else { order.reverse() }
    });
    let total = visible.len();
    let kind = visible.first().map_or(InsKind::Nir, |v| v.ins_kind());
    // One key unwrap for the page's titles; the metadata is rendered where it lies (shared
    // with the store's cache), not copied first.
    let start = query.page.offset.min(total);
    let page = &visible[start..start.saturating_add(query.page.count).min(total)];
    let titles = state.carnet.titles(page).await?;
    let ctx = RenderContext { base_url: &base, codes: &state.carnet.config().codes };
    let more = query.page.offset + query.page.count < total;
    let links = paging_links(&base, "DocumentReference", &applied(&params, &ignored), query.page, more);
    let outcome = carnet_fhir::render::ignored_parameters(&ignored);
    // Written from the shared metadata without building the FHIR model (`search_page`).
    let documents = page
        .iter()
        .zip(&titles)
        .map(|(v, title)| DocumentReferenceJson { meta: v.meta(), title: title.as_deref(), ins_kind: kind, ctx: &ctx })
        .collect();
    Ok(searchset(&DocumentSearchset { documents, total: total as u64, links: &links, outcome: outcome.as_ref() }, handling))
}

/// The extension holding the passage of a document that matched a `full-text` search, on
/// `Bundle.entry.search` (a string: the passage as written in the document).
pub const SNIPPET_EXTENSION: &str = "https://carnet.example/fhir/StructureDefinition/search-snippet";

/// ITI-67 with `full-text` (IHE MHD Full-Text Search option): the documents the gate admits,
/// whose text holds every word, that match the other parameters, by relevance — each entry's
/// `search.score` the hit's score over the best one's (0..1], its passage in the snippet
/// extension. One ledger entry, without the words searched.
#[allow(clippy::too_many_arguments)]
async fn full_text_search(
    state: &AppState,
    actor: &carnet_domain::Actor,
    query: &DocumentQuery,
    text: &str,
    params: &[(String, String)],
    ignored: &[carnet_fhir::search::SearchError],
    base: &str,
    handling: carnet_fhir::search::Handling,
) -> Result<Response, FhirError> {
    check_text_query(text).map_err(|p| {
        FhirError::new(StatusCode::UNPROCESSABLE_ENTITY, IssueType::Invalid, format!("full-text: the text {p}")).at("full-text")
    })?;
    // At most `MAX_PAGE` hits a page (each has its passage computed); the links follow it.
    let page_asked = carnet_fhir::search::Page { count: query.page.count.min(MAX_PAGE), ..query.page };
    let paging = Paging { offset: page_asked.offset, limit: page_asked.count };
    let found = state.carnet.search_text(actor, &query.patient, text, &|m| query.matches(m), paging).await?;
    let page: Vec<_> = found.hits.iter().map(|h| h.visible.clone()).collect();
    let titles = state.carnet.titles(&page).await?;
    let kind = page.first().map_or(InsKind::Nir, |v| v.ins_kind());
    let ctx = RenderContext { base_url: base, codes: &state.carnet.config().codes };
    let more = paging.offset + found.hits.len() < found.total;
    let links = paging_links(base, "DocumentReference", &applied(params, ignored), page_asked, more);
    let outcome = carnet_fhir::render::ignored_parameters(ignored);
    let documents = page
        .iter()
        .zip(&titles)
        .map(|(v, title)| DocumentReferenceJson { meta: v.meta(), title: title.as_deref(), ins_kind: kind, ctx: &ctx })
        .collect();
    let set = DocumentSearchset { documents, total: found.total as u64, links: &links, outcome: outcome.as_ref() };
    let mut bundle = serde_json::to_value(&set).map_err(|e| FhirError::from(ServiceError::Search(e.to_string())))?;
    if let Some(entries) = bundle.get_mut("entry").and_then(|e| e.as_array_mut()) {
        for (entry, hit) in entries.iter_mut().zip(&found.hits) {
            // Rounded: a score is an ordering hint, not a figure to compare across searches.
            let score = (f64::from(hit.relevance) * 10_000.0).round() / 10_000.0;
            entry["search"] = serde_json::json!({
                "extension": [{"url": SNIPPET_EXTENSION, "valueString": hit.snippet.text}],
                "mode": "match",
                "score": score,
            });
        }
    }
    Ok(searchset(&bundle, handling))
}

/// A DocumentReference by id: one the caller may not see answers exactly like a missing one.
pub async fn read(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let id = document_id(&id)?;
    let visible = state.carnet.visible_document(&actor, id, DocumentAction::Read).await.map_err(hidden_as_missing)?;
    let kind = visible.ins_kind();
    let view = state.carnet.view(&visible).await?;
    Ok(json(StatusCode::OK, &render(&state, &base_url(&headers), &view, kind)))
}

fn hidden_as_missing(e: ServiceError) -> FhirError {
    match e {
        ServiceError::NotFound(_) => FhirError::not_found("DocumentReference"),
        other => other.into(),
    }
}

fn accepts_fhir_json(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|m| {
        let m = m.split(';').next().unwrap_or_default().trim();
        m == "application/fhir+json" || m == "application/json+fhir"
    })
}

/// ITI-68 Retrieve Document: the bytes, streamed with their content type and `Range`; or, asked
/// with `Accept: application/fhir+json`, a JSON `Binary` (up to `limits.fhir_binary_json_bytes`).
pub async fn binary(
    State(state): State<AppState>,
    Extension(limits): Extension<FhirLimits>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let id = document_id(&id)?;
    let visible = state.carnet.visible_document(&actor, id, DocumentAction::Retrieve).await.map_err(|e| match e {
        ServiceError::NotFound(_) => FhirError::not_found("Binary"),
        other => other.into(),
    })?;
    let size = visible.meta().size;
    if accepts_fhir_json(&headers) {
        if size > limits.binary_json_bytes {
            return Err(FhirError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                IssueType::TooCostly,
                format!(
                    "the document has {size} bytes, more than the {} served as a JSON Binary: ask for its raw bytes (any Accept but application/fhir+json), which stream with Range",
                    limits.binary_json_bytes
                ),
            ));
        }
        let content = state.carnet.content(&visible, None).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
        let mut body = content.body;
        while let Some(piece) = body.next().await {
            bytes.extend_from_slice(&piece?);
        }
        let binary = carnet_fhir::patient_views::binary(&id.to_string(), &content.meta.xds.mime_type, &bytes);
        return Ok(json(StatusCode::OK, &binary));
    }
    if requested_range(&headers, size) == RangeRequest::Unsatisfiable {
        let mut e =
            FhirError::new(StatusCode::RANGE_NOT_SATISFIABLE, IssueType::Invalid, format!("the document has {size} bytes")).at("Range");
        e.status = StatusCode::RANGE_NOT_SATISFIABLE;
        let mut response = axum::response::IntoResponse::into_response(e);
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("bytes */{size}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(response);
    }
    Ok(content_response(&state, &visible, &headers).await?)
}

/// The document as its reader sees it (what a PUT is compared with and a PATCH applies to).
async fn stored(state: &AppState, actor: &carnet_domain::Actor, id: DocumentId, base: &str) -> Result<DocumentReference, FhirError> {
    let visible = state.carnet.visible_document(actor, id, DocumentAction::Read).await.map_err(hidden_as_missing)?;
    let kind = visible.ins_kind();
    let view = state.carnet.view(&visible).await?;
    Ok(render(state, base, &view, kind))
}

async fn relabel(
    state: &AppState,
    actor: &carnet_domain::Actor,
    id: DocumentId,
    labels: Vec<SecurityLabel>,
    base: &str,
) -> Result<Response, FhirError> {
    let view = state.carnet.set_labels(actor, id, labels).await.map_err(hidden_as_missing)?;
    let kind = match state.carnet.visible_document(actor, id, DocumentAction::Read).await {
        Ok(v) => v.ins_kind(),
        // The caller just hid it from themselves (e.g. INVISIBLE_PATIENT by its author's software).
        Err(_) => InsKind::Nir,
    };
    Ok(json(StatusCode::OK, &render(state, base, &view, kind)))
}

/// PUT of a DocumentReference: only `securityLabel` may differ from what the caller reads
/// (checked by `carnet_fhir::labels`).
pub async fn update(
    State(state): State<AppState>,
    Extension(limits): Extension<FhirLimits>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, FhirError> {
    let id = document_id(&id)?;
    let bytes = read_body(&headers, body, limits.body_bytes).await?;
    let put = read_label_put(&id.to_string(), &bytes)?;
    let base = base_url(&headers);
    let update = put.apply(&stored(&state, &actor, id, &base).await?)?;
    relabel(&state, &actor, id, update.labels, &base).await
}

/// PATCH (JSON Patch, RFC 6902) of `/securityLabel` only (read by `carnet_fhir::labels`).
pub async fn patch(
    State(state): State<AppState>,
    Extension(limits): Extension<FhirLimits>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, FhirError> {
    let id = document_id(&id)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/json-patch+json") {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IssueType::NotSupported,
            "PATCH takes a JSON Patch (application/json-patch+json) of /securityLabel",
        ));
    }
    let bytes = read_body(&headers, body, limits.body_bytes).await?;
    let patch = read_label_patch(&bytes)?;
    let base = base_url(&headers);
    let update = patch.apply(&stored(&state, &actor, id, &base).await?)?;
    relabel(&state, &actor, id, update.labels, &base).await
}
