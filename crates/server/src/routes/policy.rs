//! The patient's choices over `/api`: the access policy and its changes, emergency access,
//! document labels, the reimbursement history, notification preferences.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use carnet_domain::{EmergencyKind, PatientPolicy, PolicyChange, SecurityLabel};
use carnet_service::Preferences;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, Authenticated, InsPath};
use crate::routes::documents::{DocumentResponse, parse_document_id};

/// The patient's access policy: authorizations (with who granted or declared them and when,
/// and expiry), blocked professionals, médecin traitant, extended rights, legal representatives
/// (with dates), the two emergency oppositions, and whether the reimbursement history is hidden.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct PolicyResponse(PatientPolicy);

/// Read the patient's access policy (the patient, their representative, a privacy officer).
#[utoipa::path(get, path = "/api/records/{ins}/policy", tag = "policy",
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 200, description = "The policy", body = PolicyResponse),
        (status = 403, description = "Not the holder", body = crate::Problem),
        (status = 404, description = "No such record", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
) -> Result<Json<PolicyResponse>, ApiError> {
    Ok(Json(PolicyResponse(state.carnet.policy(&actor, &ins).await?)))
}

/// One change to the access policy, tagged by `change`:
/// `authorize` {rpps, expires_at?}, `declare_authorization` {rpps, expires_at?} (a professional,
/// for themselves, at the point of care), `revoke` {rpps}, `block` {rpps}, `unblock` {rpps},
/// `set_medecin_traitant` {rpps | null}, `grant_extended_rights` {rpps},
/// `revoke_extended_rights` {rpps}, `add_representative` {representative: "issuer#subject",
/// kind: minor | protected_adult, since?, until?}, `end_representative` {representative},
/// `set_bris_de_glace_opposition` {opposed}, `set_samu_opposition` {opposed},
/// `hide_reimbursement` {hidden}. Dates are RFC 3339.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = Object, example = json!({"change": "authorize", "rpps": "10000001015", "expires_at": "2027-01-01T00:00:00Z"}))]
pub struct ChangeRequest(serde_json::Value);

/// Change the access policy. The patient or their representative make any change; a
/// professional declares the patient's authorization for themselves; an insurer agent registers
/// or ends a legal representative. Anyone else: 403, nothing changed.
#[utoipa::path(post, path = "/api/records/{ins}/policy/changes", tag = "policy", request_body = ChangeRequest,
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 200, description = "The policy after the change", body = PolicyResponse),
        (status = 403, description = "This actor may not make this change", body = crate::Problem),
        (status = 404, description = "No such record", body = crate::Problem),
        (status = 409, description = "The professional is blocked, or the policy changed meanwhile", body = crate::Problem),
        (status = 422, description = "Malformed change, expiry in the past, bad period", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn change(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiJson(ChangeRequest(body)): ApiJson<ChangeRequest>,
) -> Result<Json<PolicyResponse>, ApiError> {
    let change: PolicyChange = serde_json::from_value(body).map_err(|e| ApiError::unprocessable(format!("change: {e}")))?;
    Ok(Json(PolicyResponse(state.carnet.change_policy(&actor, &ins, change).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequestBody {
    /// `bris_de_glace` (a professional) or `samu` (a regulating doctor).
    #[schema(example = "bris_de_glace")]
    pub kind: String,
    /// Why: written, 1 to 1000 characters; reviewed by the privacy officer.
    #[schema(example = "Patient inconscient aux urgences, antécédents inconnus")]
    pub justification: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmergencyResponse {
    pub kind: String,
    pub ins: String,
    pub opened_at: String,
    pub expires_at: String,
}

/// Open an emergency access (bris de glace, or SAMU regulation) to a record: time-limited,
/// notified to the patient and médecin traitant, reviewed by the privacy officer.
#[utoipa::path(post, path = "/api/records/{ins}/emergency-access", tag = "policy", request_body = EmergencyRequestBody,
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 201, description = "Opened", body = EmergencyResponse),
        (status = 403, description = "Not possible for this actor on this record", body = crate::Problem),
        (status = 422, description = "Missing justification or unknown kind", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn emergency(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiJson(body): ApiJson<EmergencyRequestBody>,
) -> Result<impl IntoResponse, ApiError> {
    let kind = match body.kind.as_str() {
        "bris_de_glace" => EmergencyKind::BrisDeGlace,
        "samu" => EmergencyKind::Samu,
        other => return Err(ApiError::unprocessable(format!("kind: {other:?} is not one of bris_de_glace, samu"))),
    };
    let access = state.carnet.open_emergency(&actor, &ins, kind, body.justification.as_deref().unwrap_or("")).await?;
    let response = EmergencyResponse {
        kind: access.kind.code().to_owned(),
        ins: access.ins.to_string(),
        opened_at: access.opened_at.format(&Rfc3339).unwrap_or_default(),
        expires_at: access.expires_at.format(&Rfc3339).unwrap_or_default(),
    };
    Ok((StatusCode::CREATED, Json(response)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsBody {
    /// The labels the document should carry, exactly (TRE_A07 codes).
    pub labels: Vec<String>,
}

/// Set a document's security labels: the holder sets or lifts MASQUE_PS; the author
/// INVISIBLE_PATIENT and INVISIBLE_REPRESENTANTS_LEGAUX.
#[utoipa::path(put, path = "/api/documents/{id}/labels", tag = "policy", request_body = LabelsBody,
    params(("id" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document with its labels", body = DocumentResponse),
        (status = 403, description = "Not this actor's label to change", body = crate::Problem),
        (status = 404, description = "No such document (or not visible to the caller)", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn labels(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LabelsBody>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let id = parse_document_id(&id)?;
    let labels = body
        .labels
        .iter()
        .map(|l| {
            SecurityLabel::parse(l).ok_or_else(|| {
                ApiError::unprocessable(format!("labels: {l:?} is not one of {}", SecurityLabel::ALL.map(|l| l.code()).join(", ")))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let view = state.carnet.set_labels(&actor, id, labels).await?;
    Ok(Json(DocumentResponse::of(view, &state.carnet.config().codes)))
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: usize,
}

/// Delete the reimbursement history (every REMB document): the holder only.
#[utoipa::path(delete, path = "/api/records/{ins}/reimbursement-history", tag = "policy",
    params(("ins" = String, Path, description = "The patient's INS")),
    responses((status = 200, description = "Deleted", body = Deleted), (status = 403, description = "Not the holder", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn delete_reimbursement(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(Deleted { deleted: state.carnet.delete_reimbursement_history(&actor, &ins).await? }))
}

/// How the patient wants to be told of new documents, first accesses, emergency accesses and
/// changes of their choices.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    pub email: Option<String>,
    #[serde(default)]
    pub email_enabled: bool,
    /// Called with a JSON body for each notification (e.g. an SMS gateway).
    pub webhook_url: Option<String>,
}

impl From<Preferences> for PreferencesBody {
    fn from(p: Preferences) -> Self {
        PreferencesBody { email: p.email, email_enabled: p.email_enabled, webhook_url: p.webhook_url }
    }
}

/// Read the notification preferences (the holder).
#[utoipa::path(get, path = "/api/records/{ins}/notification-preferences", tag = "policy",
    params(("ins" = String, Path, description = "The patient's INS")),
    responses((status = 200, description = "Preferences", body = PreferencesBody), (status = 404, description = "Not the holder's record", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn preferences(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
) -> Result<Json<PreferencesBody>, ApiError> {
    Ok(Json(state.carnet.notification_preferences(&actor, &ins).await?.into()))
}

/// Set the notification preferences (the holder).
#[utoipa::path(put, path = "/api/records/{ins}/notification-preferences", tag = "policy", request_body = PreferencesBody,
    params(("ins" = String, Path, description = "The patient's INS")),
    responses((status = 200, description = "Saved", body = PreferencesBody), (status = 422, description = "Bad address or URL", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn set_preferences(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiJson(body): ApiJson<PreferencesBody>,
) -> Result<Json<PreferencesBody>, ApiError> {
    let prefs = Preferences { email: body.email, email_enabled: body.email_enabled, webhook_url: body.webhook_url };
    Ok(Json(state.carnet.set_notification_preferences(&actor, &ins, prefs).await?.into()))
}
