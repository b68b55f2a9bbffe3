//! The medical profile over FHIR: search and read of Condition, AllergyIntolerance,
//! MedicationStatement, Immunization and Observation (trends: one code by date), and a
//! professional's create with its author in `X-Provenance`. The service reads items through the
//! gate (each visible exactly as its source document); `carnet_fhir::profile` parses and renders.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use carnet_domain::{ActorKind, ItemId};
use carnet_fhir::IssueType;
use carnet_fhir::profile::{ProfileQuery, ProfileResource, item_resource, parse_item, parse_provenance, profile_searchset};
use carnet_service::NewItem;

use super::{FhirActor, FhirError, FhirLimits, FhirQuery, applied, base_url, handling, json, read_body, searchset};
use crate::AppState;

impl From<carnet_fhir::profile::ProfileError> for FhirError {
    fn from(e: carnet_fhir::profile::ProfileError) -> FhirError {
        FhirError::bad_request(e.message).at(e.path)
    }
}

/// `GET /fhir/{resource}?patient=…`: the items of one record the caller may see.
pub async fn search(
    resource: ProfileResource,
    state: AppState,
    actor: carnet_domain::Actor,
    headers: HeaderMap,
    params: Vec<(String, String)>,
) -> Result<Response, FhirError> {
    let handling = handling(&headers);
    let (query, ignored) = ProfileQuery::parse_with(resource, &params, handling)?;
    // Every status: the query itself decides what an entered-in-error search finds.
    let wanted = carnet_service::ProfileQuery { kind: None, history: true };
    let (items, ins_kind) = state.carnet.profile_and_ins_kind(&actor, &query.patient, wanted).await?;
    let hits = query.select(items.iter());
    let bundle = profile_searchset(&query, &hits, &applied(&params, &ignored), ins_kind, &base_url(&headers));
    Ok(searchset(&carnet_fhir::render::with_outcome(bundle, carnet_fhir::render::ignored_parameters(&ignored)), handling))
}

/// `GET /fhir/{resource}/{id}`: one item; one the caller may not see, or of another resource
/// type, answers as a missing one.
pub async fn read(resource: ProfileResource, state: AppState, actor: carnet_domain::Actor, id: String) -> Result<Response, FhirError> {
    let missing = || FhirError::not_found(resource.name());
    let id = ItemId::parse(&id).map_err(|_| missing())?;
    let (item, ins_kind) = state.carnet.profile_item(&actor, id).await.map_err(|e| match e {
        carnet_service::ServiceError::NotFound(_) => missing(),
        e => e.into(),
    })?;
    if !resource.kinds().contains(&item.meta.kind) {
        return Err(missing());
    }
    Ok(json(StatusCode::OK, &item_resource(&item, ins_kind)))
}

/// `POST /fhir/{resource}`: a professional adds an item to a record (a direct entry). The body
/// is the resource alone; `X-Provenance`, when sent, must name the token's own professional.
pub async fn create(
    resource: ProfileResource,
    state: AppState,
    actor: carnet_domain::Actor,
    headers: HeaderMap,
    limits: FhirLimits,
    body: Body,
) -> Result<Response, FhirError> {
    let bytes = read_body(&headers, body, limits.body_bytes).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| FhirError::bad_request(format!("the body is not JSON: {e}")).at(resource.name()))?;
    let parsed = parse_item(&value)?;
    if !resource.kinds().contains(&parsed.kind) {
        return Err(
            FhirError::bad_request(format!("a {} is created at /fhir/{}", parsed.kind.as_str(), resource.name())).at("resourceType")
        );
    }
    if let Some(provenance) = headers.get("x-provenance") {
        let text = provenance.to_str().map_err(|_| FhirError::bad_request("X-Provenance is not text").at("X-Provenance"))?;
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| FhirError::bad_request(format!("X-Provenance is not a JSON Provenance: {e}")).at("X-Provenance"))?;
        let claim = parse_provenance(&value)?;
        let own = match &actor.kind {
            ActorKind::Professional(p) | ActorKind::Regulator(p) => Some(p.rpps.clone()),
            _ => None,
        };
        if claim.author_rpps.is_some() && claim.author_rpps != own {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                IssueType::BusinessRule,
                "X-Provenance names another author than the token's professional: an item is recorded by whoever creates it",
            )
            .at("Provenance.agent"));
        }
    }
    let item = state.carnet.add_profile_item(&actor, &parsed.patient, NewItem { kind: parsed.kind, content: parsed.content }).await?;
    let (stored, ins_kind) = state.carnet.profile_item(&actor, item.meta.id).await?;
    let mut response = json(StatusCode::CREATED, &item_resource(&stored, ins_kind));
    let location = format!("{}/{}/{}", base_url(&headers), resource.name(), stored.meta.id);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// The routes of one resource: search and create at its type, read by id.
pub fn routes(resource: ProfileResource) -> axum::Router<AppState> {
    use axum::routing::get;
    let name = resource.name();
    axum::Router::new()
        .route(
            &format!("/fhir/{name}"),
            get(move |State(state): State<AppState>, FhirActor(actor): FhirActor, headers: HeaderMap, FhirQuery(params): FhirQuery| {
                search(resource, state, actor, headers, params)
            })
            .post(
                move |State(state): State<AppState>,
                      FhirActor(actor): FhirActor,
                      headers: HeaderMap,
                      Extension(limits): Extension<FhirLimits>,
                      body: Body| { create(resource, state, actor, headers, limits, body) },
            ),
        )
        .route(
            &format!("/fhir/{name}/{{id}}"),
            get(move |State(state): State<AppState>, FhirActor(actor): FhirActor, Path(id): Path<String>| read(resource, state, actor, id)),
        )
}
