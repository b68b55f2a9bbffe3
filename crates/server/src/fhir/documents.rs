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
use carnet_fhir::{IssueType, parse_provide_bundle};
use carnet_service::{BundleDocument, DocumentAction, DocumentView, NewSubmissionSet, ServiceError};
use futures::StreamExt;
use serde_json::Value;

use super::{FhirActor, FhirError, FhirLimits, FhirQuery, base_url, json, paging_links, read_body};
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
                    let element = if m.contains("unique id") {
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
    let query = DocumentQuery::parse(&params)?;
    let base = base_url(&headers);
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
    let links = paging_links(&base, "DocumentReference", &params, query.page, more);
    // Written from the shared metadata without building the FHIR model (`search_page`).
    let documents = page
        .iter()
        .zip(&titles)
        .map(|(v, title)| DocumentReferenceJson { meta: v.meta(), title: title.as_deref(), ins_kind: kind, ctx: &ctx })
        .collect();
    Ok(json(StatusCode::OK, &DocumentSearchset { documents, total: total as u64, links: &links }))
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

/// The TRE_A07 labels of a JSON `securityLabel` array; `at` is its FHIRPath.
fn labels_of(value: &Value, at: &str) -> Result<Vec<SecurityLabel>, FhirError> {
    let unprocessable = |path: String, msg: String| FhirError::new(StatusCode::UNPROCESSABLE_ENTITY, IssueType::Value, msg).at(path);
    let Some(items) = value.as_array() else {
        return Err(unprocessable(at.into(), "securityLabel is an array of CodeableConcept".into()));
    };
    let system = carnet_fhir::systems::security_label_system();
    let mut labels = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let codings = item.get("coding").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut found = false;
        for (j, c) in codings.iter().enumerate() {
            let path = format!("{at}[{i}].coding[{j}]");
            let (s, code) = (c.get("system").and_then(Value::as_str), c.get("code").and_then(Value::as_str));
            match (s, code) {
                (Some(s), Some(code)) if s == system => {
                    let label = SecurityLabel::parse(code).ok_or_else(|| {
                        unprocessable(
                            format!("{path}.code"),
                            format!("{code:?} is not a TRE_A07 label (MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX)"),
                        )
                    })?;
                    labels.push(label);
                    found = true;
                }
                (Some(carnet_fhir::systems::V3_CONFIDENTIALITY), Some("N")) => found = true,
                _ => {
                    return Err(unprocessable(
                        path,
                        format!("only TRE_A07 labels ({system}) are accepted: a restriction Carnet cannot enforce must not be dropped"),
                    ));
                }
            }
        }
        if !found {
            return Err(unprocessable(format!("{at}[{i}]"), "a label needs a coding".into()));
        }
    }
    Ok(labels)
}

/// The document as its reader sees it, in JSON (for PUT's comparison and PATCH's base).
async fn current(state: &AppState, actor: &carnet_domain::Actor, id: DocumentId, base: &str) -> Result<Value, FhirError> {
    let visible = state.carnet.visible_document(actor, id, DocumentAction::Read).await.map_err(hidden_as_missing)?;
    let kind = visible.ins_kind();
    let view = state.carnet.view(&visible).await?;
    serde_json::to_value(render(state, base, &view, kind))
        .map_err(|e| FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, IssueType::Exception, e.to_string()))
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

/// The first path where two JSON values differ, as a FHIRPath under `at`.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{at}.{k}")),
                _ => Some(format!("{at}.{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(at.to_owned()),
    }
}

/// PUT of a DocumentReference: only `securityLabel` may differ from what the caller reads.
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
    let mut sent: Value = serde_json::from_slice(&bytes).map_err(|e| {
        FhirError::new(StatusCode::BAD_REQUEST, IssueType::Structure, format!("not FHIR JSON: {e}")).at("DocumentReference")
    })?;
    if sent.get("resourceType").and_then(Value::as_str) != Some("DocumentReference") {
        return Err(FhirError::bad_request("the body is a DocumentReference").at("DocumentReference.resourceType"));
    }
    if sent.get("id").and_then(Value::as_str) != Some(id.to_string().as_str()) {
        return Err(FhirError::bad_request("the body's id must be the id in the URL").at("DocumentReference.id"));
    }
    let base = base_url(&headers);
    let mut now = current(&state, &actor, id, &base).await?;
    let labels = labels_of(sent.get("securityLabel").unwrap_or(&Value::Array(vec![])), "DocumentReference.securityLabel")?;
    for v in [&mut sent, &mut now] {
        if let Some(o) = v.as_object_mut() {
            for k in ["securityLabel", "meta", "text"] {
                o.remove(k);
            }
        }
    }
    if let Some(path) = first_difference(&now, &sent, "DocumentReference") {
        return Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueType::BusinessRule,
            "only securityLabel may be changed: a document's other metadata is fixed (replace the document to change it)",
        )
        .at(path));
    }
    relabel(&state, &actor, id, labels, &base).await
}

/// PATCH (JSON Patch, RFC 6902) of `/securityLabel` only.
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
    let ops: Value = serde_json::from_slice(&bytes)
        .map_err(|e| FhirError::new(StatusCode::BAD_REQUEST, IssueType::Structure, format!("not JSON: {e}")))?;
    let Some(ops) = ops.as_array() else {
        return Err(FhirError::bad_request("a JSON Patch is an array of operations"));
    };
    let base = base_url(&headers);
    let doc = current(&state, &actor, id, &base).await?;
    let mut labels = doc.get("securityLabel").cloned().unwrap_or(Value::Array(vec![]));
    for (i, op) in ops.iter().enumerate() {
        apply(&mut labels, op).map_err(|msg| {
            FhirError::new(StatusCode::UNPROCESSABLE_ENTITY, IssueType::Value, msg).at(format!("Parameters.operation[{i}]"))
        })?;
    }
    let labels = labels_of(&labels, "DocumentReference.securityLabel")?;
    relabel(&state, &actor, id, labels, &base).await
}

/// One JSON Patch operation on the `securityLabel` array.
fn apply(labels: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op.get("op").and_then(Value::as_str).ok_or("an operation needs op")?;
    let path = op.get("path").and_then(Value::as_str).ok_or("an operation needs path")?;
    let rest = path.strip_prefix("/securityLabel").ok_or_else(|| format!("{path}: only /securityLabel may be patched"))?;
    let value = op.get("value").cloned();
    if kind == "test" {
        let target = match rest {
            "" => Some(&*labels),
            r => r.trim_start_matches('/').parse::<usize>().ok().and_then(|i| labels.get(i)),
        };
        return if target == value.as_ref() { Ok(()) } else { Err(format!("{path}: test failed")) };
    }
    if matches!((kind, rest), ("replace" | "add", "")) {
        *labels = value.ok_or("add/replace need a value")?;
        return Ok(());
    }
    let Value::Array(items) = labels else { return Err("securityLabel is not an array".into()) };
    let index = |s: &str, len: usize| -> Result<usize, String> {
        let i: usize = s.parse().map_err(|_| format!("{path}: not an index"))?;
        if i < len { Ok(i) } else { Err(format!("{path}: no such label")) }
    };
    match (kind, rest) {
        ("remove", "") => items.clear(),
        ("add", "/-") => items.push(value.ok_or("add needs a value")?),
        ("add", r) => {
            let i: usize = r.trim_start_matches('/').parse().map_err(|_| format!("{path}: not an index"))?;
            if i > items.len() {
                return Err(format!("{path}: beyond the end"));
            }
            items.insert(i, value.ok_or("add needs a value")?);
        }
        ("remove", r) => {
            let i = index(r.trim_start_matches('/'), items.len())?;
            items.remove(i);
        }
        ("replace", r) => {
            let i = index(r.trim_start_matches('/'), items.len())?;
            items[i] = value.ok_or("replace needs a value")?;
        }
        (other, _) => return Err(format!("op {other:?} is not supported on securityLabel (add, remove, replace, test)")),
    }
    Ok(())
}
