//! ITI-66 Find Lists: the patient's submission sets, each listing only the documents the caller
//! may see; a set with none is absent.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use carnet_fhir::SubmissionSetMeta;
use carnet_fhir::render::{
    SearchEntry, SearchMode, SubmissionSetView, bundle_searchset, ignored_parameters, list_submission_set, master_identifier, with_outcome,
};
use carnet_fhir::search::PatientScopedQuery;

use super::{FhirActor, FhirError, FhirQuery, applied, base_url, handling, paging_links, searchset};
use crate::AppState;

pub async fn search(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    FhirQuery(params): FhirQuery,
) -> Result<Response, FhirError> {
    let handling = handling(&headers);
    let (q, ignored) =
        PatientScopedQuery::parse_with("List", &params, &[("code", &["submissionset"]), ("status", &["current"])], true, handling)?;
    let sets = state.carnet.visible_submission_sets(&actor, &q.patient).await?;
    let sets: Vec<_> = sets
        .into_iter()
        .filter(|s| {
            let id = master_identifier(&s.unique_id);
            q.identifier.is_empty()
                || q.identifier
                    .iter()
                    .any(|t| t.code == s.unique_id || t.matches(id.system.as_deref().unwrap_or(""), id.value.as_deref().unwrap_or("")))
        })
        .filter(|s| q.date.iter().all(|d| d.matches_instant(s.submitted_at)))
        .collect();
    let base = base_url(&headers);
    let total = sets.len();
    let entries = sets
        .iter()
        .skip(q.page.offset)
        .take(q.page.count)
        .map(|s| {
            let meta = SubmissionSetMeta {
                unique_id: s.unique_id.clone(),
                source_id: s.source_id.clone(),
                author: s.author.clone(),
                title: s.title.clone(),
            };
            let view = SubmissionSetView {
                id: &s.id,
                meta: &meta,
                ins: &s.ins,
                ins_kind: s.ins_kind,
                submitted_at: s.submitted_at,
                documents: &s.documents,
            };
            SearchEntry { full_url: format!("{base}/List/{}", s.id), resource: list_submission_set(&view).into(), mode: SearchMode::Match }
        })
        .collect();
    let more = q.page.offset + q.page.count < total;
    let links = paging_links(&base, "List", &applied(&params, &ignored), q.page, more);
    Ok(searchset(&with_outcome(bundle_searchset(entries, Some(total as u64), links), ignored_parameters(&ignored)), handling))
}
