//! `/api/records/{ins}/profile`: the medical profile — items read from CDA level 3 deposits and
//! entered directly — as the caller may see it (each item's visibility is its source document's;
//! docs/profile.md). Adding, correcting and marking entered-in-error are direct entries' only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use carnet_domain::Ins;
use carnet_domain::profile::{ItemContent, ItemId, ItemKind, ItemOrigin, ProfileItem};
use carnet_service::{NewItem, ProfileQuery};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Authenticated, InsPath};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProfileParams {
    /// One kind only: condition, allergy, medication, immunization, result, vital-sign,
    /// advance-directive, organ-donation, contact.
    pub kind: Option<String>,
    /// `true`: superseded and entered-in-error items too (the history), each only if visible.
    pub history: Option<bool>,
}

/// An item with its provenance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResponse {
    pub id: String,
    pub kind: String,
    /// `current`, `superseded` or `entered-in-error`.
    pub status: String,
    /// `document` (read from a deposited CDA level 3 document), `self-declared` (entered by the
    /// patient or a representative) or `professional` (entered by a professional).
    pub origin: String,
    /// The source document's id (origin `document`).
    pub source_document: Option<String>,
    /// The entry's place in the source document (an XPath).
    pub path: Option<String>,
    /// Who recorded it: the source document's author, else who entered it (`rpps:…`, `ins:…`, `iss#sub`).
    pub recorded_by: String,
    /// When Carnet recorded it (RFC 3339).
    pub recorded_at: String,
    /// When it happened or was observed (RFC 3339), when known.
    pub effective: Option<String>,
    /// The item this one corrects.
    pub replaces: Option<String>,
    /// What it says: code (system, code, display), text, clinical_status, negated, at, from, to
    /// (FHIR dateTime text as precise as the source wrote), value, reference_range,
    /// interpretation, lot, performer, author_name, details.
    #[schema(value_type = Object)]
    pub content: ItemContent,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<ProfileItem> for ItemResponse {
    fn from(item: ProfileItem) -> ItemResponse {
        let m = item.meta;
        let (origin, source_document, path) = match m.origin {
            ItemOrigin::Document { document, path } => ("document", Some(document.to_string()), Some(path)),
            ItemOrigin::Patient => ("self-declared", None, None),
            ItemOrigin::Professional => ("professional", None, None),
        };
        ItemResponse {
            id: m.id.to_string(),
            kind: m.kind.as_str().to_owned(),
            status: m.status.as_str().to_owned(),
            origin: origin.to_owned(),
            source_document,
            path,
            recorded_by: m.recorded_by,
            recorded_at: rfc3339(m.recorded_at),
            effective: m.effective.map(rfc3339),
            replaces: m.replaces.map(|r| r.to_string()),
            content: item.content,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse {
    pub items: Vec<ItemResponse>,
}

/// A direct entry, or its correction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// condition, allergy, medication, immunization, result, vital-sign; and the patient's own
    /// declarations: advance-directive (exists, and where in `details`), organ-donation, contact.
    pub kind: String,
    /// What it says (as in `ItemResponse.content`; `author_name` is set by Carnet).
    #[schema(value_type = Object)]
    pub content: ItemContent,
}

fn kind(k: &str) -> Result<ItemKind, ApiError> {
    ItemKind::parse(k).ok_or_else(|| {
        let known: Vec<&str> = ItemKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::unprocessable(format!("kind: {k:?} is not one of {}", known.join(", ")))
    })
}

fn new_item(request: ItemRequest) -> Result<NewItem, ApiError> {
    Ok(NewItem { kind: kind(&request.kind)?, content: request.content })
}

fn path_of(ins: &str, id: &str) -> Result<(Ins, ItemId), ApiError> {
    let ins = Ins::parse(ins).map_err(|e| ApiError::unprocessable(format!("ins: {e}")))?;
    let id = ItemId::parse(id).map_err(|e| ApiError::unprocessable(format!("id: {e}")))?;
    Ok((ins, id))
}

/// The record's profile as the caller may see it: current items, newest first. One entry in
/// the access ledger (the count returned).
#[utoipa::path(get, path = "/api/records/{ins}/profile", tag = "profile",
    params(("ins" = String, Path, description = "The patient's INS"), ProfileParams),
    responses(
        (status = 200, description = "The items the caller may see", body = ProfileResponse),
        (status = 404, description = "No such record, or one the caller may not consult", body = crate::Problem),
        (status = 422, description = "An unknown kind (named)", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiQuery(params): ApiQuery<ProfileParams>,
) -> Result<Json<ProfileResponse>, ApiError> {
    let query = ProfileQuery { kind: params.kind.as_deref().map(kind).transpose()?, history: params.history.unwrap_or(false) };
    let items = state.carnet.profile(&actor, &ins, query).await?;
    Ok(Json(ProfileResponse { items: items.into_iter().map(ItemResponse::from).collect() }))
}

/// Add an item: the patient (or a representative) adds self-declared items and their
/// declarations; a professional who may consult the record adds clinical items.
#[utoipa::path(post, path = "/api/records/{ins}/profile", tag = "profile",
    params(("ins" = String, Path, description = "The patient's INS")),
    request_body = ItemRequest,
    responses(
        (status = 201, description = "Added", body = ItemResponse),
        (status = 403, description = "A professional adding a patient's declaration", body = crate::Problem),
        (status = 404, description = "No such record, or one the caller may not consult", body = crate::Problem),
        (status = 409, description = "The record is not active", body = crate::Problem),
        (status = 422, description = "An unknown kind, a malformed date, an empty item (named)", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiJson(request): ApiJson<ItemRequest>,
) -> Result<(StatusCode, Json<ItemResponse>), ApiError> {
    let item = state.carnet.add_profile_item(&actor, &ins, new_item(request)?).await?;
    Ok((StatusCode::CREATED, Json(item.into())))
}

/// Correct an item: a new version replacing it. A direct item is corrected by its author or the
/// patient; an item read from a document by the patient only (her statement, self-declared,
/// replaces it; its author replaces the document instead).
#[utoipa::path(put, path = "/api/records/{ins}/profile/{id}", tag = "profile",
    params(("ins" = String, Path, description = "The patient's INS"), ("id" = String, Path, description = "The item's id")),
    request_body = ItemRequest,
    responses(
        (status = 200, description = "The new version", body = ItemResponse),
        (status = 403, description = "Neither the item's author nor the patient", body = crate::Problem),
        (status = 404, description = "No such item or record, or one the caller may not see", body = crate::Problem),
        (status = 409, description = "Not current, read from a document (for its author), or the record not active", body = crate::Problem),
        (status = 422, description = "Another kind, a malformed date (named)", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn correct(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((ins, id)): Path<(String, String)>,
    ApiJson(request): ApiJson<ItemRequest>,
) -> Result<Json<ItemResponse>, ApiError> {
    let (ins, id) = path_of(&ins, &id)?;
    let item = state.carnet.correct_profile_item(&actor, &ins, id, new_item(request)?).await?;
    Ok(Json(item.into()))
}

/// Mark a direct item entered in error (its author or the patient): then only its author sees it.
/// If it was the patient's correction of an item read from a document, that item is back.
#[utoipa::path(post, path = "/api/records/{ins}/profile/{id}/entered-in-error", tag = "profile",
    params(("ins" = String, Path, description = "The patient's INS"), ("id" = String, Path, description = "The item's id")),
    responses(
        (status = 204, description = "Marked"),
        (status = 403, description = "Neither the item's author nor the patient", body = crate::Problem),
        (status = 404, description = "No such item or record, or one the caller may not see", body = crate::Problem),
        (status = 409, description = "Not current, read from a document, or the record not active", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn entered_in_error(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((ins, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (ins, id) = path_of(&ins, &id)?;
    state.carnet.mark_profile_item_entered_in_error(&actor, &ins, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
