//! The patient's side: their choices as `Consent` (IHE PCF) and their access history as
//! `AuditEvent` (IHE BALP) — for the patient, their representative and the privacy officer,
//! as the service decides.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use carnet_fhir::patient_views::{AuditApp, AuditRecord, audit_event, consents as render_consents};
use carnet_fhir::render::{SearchEntry, SearchMode, bundle_searchset, ignored_parameters, with_outcome};
use carnet_fhir::search::{PatientScopedQuery, Prefix};
use carnet_service::HistoryQuery;
use carnet_service::Outcome;

use super::{FhirActor, FhirError, FhirQuery, applied, base_url, handling, paging_links, searchset};
use crate::AppState;

pub async fn consents(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    FhirQuery(params): FhirQuery,
) -> Result<Response, FhirError> {
    let handling = handling(&headers);
    let (q, ignored) = PatientScopedQuery::parse_with("Consent", &params, &[("status", &["active", "inactive"])], false, handling)?;
    let wanted: Vec<&str> = params.iter().filter(|(k, _)| k == "status").flat_map(|(_, v)| v.split(',')).collect();
    let (policy, kind) = state.carnet.policy_and_ins_kind(&actor, &q.patient).await?;
    let all = render_consents(&policy, &q.patient, kind, state.carnet.clock().now());
    let matching: Vec<_> = all.into_iter().filter(|c| wanted.is_empty() || wanted.contains(&c.status.as_str())).collect();
    let base = base_url(&headers);
    let total = matching.len();
    let entries = matching
        .into_iter()
        .skip(q.page.offset)
        .take(q.page.count)
        .map(|c| SearchEntry {
            full_url: format!("{base}/Consent/{}", c.id.clone().unwrap_or_default()),
            resource: c.into(),
            mode: SearchMode::Match,
        })
        .collect();
    let more = q.page.offset + q.page.count < total;
    let links = paging_links(&base, "Consent", &applied(&params, &ignored), q.page, more);
    Ok(searchset(&with_outcome(bundle_searchset(entries, Some(total as u64), links), ignored_parameters(&ignored)), handling))
}

/// The access history, oldest first. `_offset` here is the ledger index to start from (the
/// ledger pages by index, so `next` links stay stable while entries are appended).
pub async fn audit_events(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    FhirQuery(params): FhirQuery,
) -> Result<Response, FhirError> {
    let handling = handling(&headers);
    let (q, ignored) = PatientScopedQuery::parse_with("AuditEvent", &params, &[], true, handling)?;
    let params = applied(&params, &ignored);
    let mut query = HistoryQuery {
        limit: u32::try_from(q.page.count.max(1)).unwrap_or(200),
        after: q.page.offset.checked_sub(1).map(|i| i as u64),
        ..HistoryQuery::default()
    };
    for d in &q.date {
        if matches!(d.prefix, Prefix::Ge | Prefix::Gt | Prefix::Eq | Prefix::Sa) {
            query.from = Some(query.from.map_or(d.start, |f| f.max(d.start)));
        }
        if matches!(d.prefix, Prefix::Le | Prefix::Lt | Prefix::Eq | Prefix::Eb) {
            query.to = Some(query.to.map_or(d.end, |t| t.min(d.end)));
        }
    }
    let page = state.carnet.access_history(&actor, &q.patient, query).await?;
    let kind = page.ins_kind;
    let base = base_url(&headers);
    let entries = page
        .entries
        .iter()
        .filter_map(|e| {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.entry.at) * 1_000_000).ok()?;
            if !q.date.iter().all(|d| d.matches_instant(at)) {
                return None;
            }
            let record = AuditRecord {
                index: e.index,
                at,
                actor_reference: &e.entry.actor.reference,
                actor_role: &e.entry.actor.role,
                actor_name: e.entry.actor.name.as_deref(),
                ins: e.entry.ins.as_ref(),
                ins_kind: kind,
                action: &e.entry.action,
                target: e.entry.target.as_deref(),
                permitted: e.entry.outcome == Outcome::Permit,
                reason: &e.entry.reason,
                justification: e.entry.justification.as_deref(),
                app: e.entry.actor.app.as_deref().map(|client_id| AuditApp { client_id, name: state.carnet.app_name(client_id) }),
            };
            let event = audit_event(&record);
            Some(SearchEntry { full_url: format!("{base}/AuditEvent/ledger-{}", e.index), resource: event.into(), mode: SearchMode::Match })
        })
        .collect();
    let mut page_for_links = q.page;
    let more = page.next_after.is_some();
    let mut links = paging_links(&base, "AuditEvent", &params, page_for_links, false);
    if let Some(after) = page.next_after {
        page_for_links.offset = usize::try_from(after + 1).unwrap_or(usize::MAX);
        let next = paging_links(&base, "AuditEvent", &params, page_for_links, false);
        if let Some(self_link) = next.into_iter().next() {
            links.push(carnet_fhir::model::BundleLink { relation: "next".into(), url: self_link.url });
        }
    }
    let _ = more;
    Ok(searchset(&with_outcome(bundle_searchset(entries, None, links), ignored_parameters(&ignored)), handling))
}
