//! ITI-78 PDQm (`Patient` search and read) and the HL7 IPS summary (`Patient/{id}/$summary`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use carnet_domain::TraitsQuery;
use carnet_domain::{Ins, RecordStatus};
use carnet_fhir::model::Patient;
use carnet_fhir::render::{RenderContext, SearchEntry, SearchMode, bundle_searchset, ignored_parameters, patient_view, with_outcome};
use carnet_fhir::search::PatientSearch;
use carnet_service::{PatientQuery, RecordView};

use super::{FhirActor, FhirError, FhirQuery, applied, base_url, handling, json, paging_links, searchset};
use crate::AppState;

/// What the caller may see of a record, as a Patient: roles that see existence and status only
/// get no identity (the service's `RecordView` left it out).
pub fn patient_of(view: &RecordView) -> Patient {
    patient_view(&view.ins, view.ins_kind, view.identity_status, view.traits.as_ref(), view.status == RecordStatus::Active)
}

pub async fn search(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    FhirQuery(params): FhirQuery,
) -> Result<Response, FhirError> {
    let handling = handling(&headers);
    let (q, ignored) = PatientSearch::parse_with(&params, handling)?;
    let query = PatientQuery {
        ins: q.ins.clone(),
        traits: TraitsQuery { family: q.family.clone(), given: q.given.clone(), birth_date: q.birth_date, sex: q.sex },
    };
    let limit = u32::try_from(q.page.offset + q.page.count + 1).unwrap_or(u32::MAX).min(1000);
    let found = state.carnet.find_patients(&actor, &query, limit).await?;
    let base = base_url(&headers);
    let more = found.len() > q.page.offset + q.page.count;
    let entries = found
        .iter()
        .skip(q.page.offset)
        .take(q.page.count)
        .map(|v| SearchEntry {
            full_url: format!("{base}/Patient/{}", v.ins.as_str()),
            resource: patient_of(v).into(),
            mode: SearchMode::Match,
        })
        .collect();
    // The total is known only when the search did not stop at its limit.
    let total = (found.len() < limit as usize).then_some(found.len() as u64);
    let links = paging_links(&base, "Patient", &applied(&params, &ignored), q.page, more);
    Ok(searchset(&with_outcome(bundle_searchset(entries, total, links), ignored_parameters(&ignored)), handling))
}

fn ins_of(id: &str) -> Result<Ins, FhirError> {
    Ins::parse(id).map_err(|_| FhirError::not_found("Patient"))
}

/// A Patient by id (its INS). A record the caller may not know of answers 404, like a missing one.
pub async fn read(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let ins = ins_of(&id)?;
    let found = state.carnet.read_patient(&actor, &ins).await?;
    let _ = base_url(&headers);
    let view = found.ok_or_else(|| FhirError::not_found("Patient"))?;
    Ok(json(StatusCode::OK, &patient_of(&view)))
}

/// `$summary`: an IPS document Bundle built from what the gate lets through.
pub async fn summary(
    State(state): State<AppState>,
    FhirActor(actor): FhirActor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let ins = ins_of(&id)?;
    // With the profile's items the caller may see; a token whose scopes do not reach the profile
    // gets the documents alone.
    let (view, documents, _, items) = state.carnet.patient_summary_with_profile(&actor, &ins).await?;
    let base = base_url(&headers);
    let codes = &state.carnet.config().codes;
    let ctx = RenderContext { base_url: &base, codes };
    let metas: Vec<_> = documents.iter().map(|v| v.meta()).collect();
    let items: Vec<_> = items.iter().collect();
    let id = uuid::Uuid::new_v4().to_string();
    let bundle = carnet_fhir::patient_views::ips_summary(
        patient_of(&view),
        &ins,
        &metas,
        &items,
        view.ins_kind,
        &ctx,
        &id,
        state.carnet.clock().now(),
    );
    Ok(json(StatusCode::OK, &bundle))
}
