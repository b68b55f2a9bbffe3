//! The apps a patient connected to their record (SMART on FHIR clients): the holder lists them,
//! revokes one, allows it again. Never through an app's own token.

use axum::Json;
use axum::extract::{Path, State};
use carnet_domain::Ins;
use carnet_service::ConnectedApp;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authenticated, InsPath};

/// An app connected to a record.
#[derive(Serialize, ToSchema)]
pub struct AppResponse {
    /// The OAuth client id its tokens name.
    pub client_id: String,
    /// The catalogue's name for it, else its client id.
    pub name: String,
    /// The SMART scopes its last token was granted.
    pub scopes: Vec<String>,
    /// RFC 3339: its first use on the record.
    pub first_used_at: String,
    /// RFC 3339, to about a minute.
    pub last_used_at: String,
    /// RFC 3339: since when its tokens are refused on the record; absent while it may act.
    pub revoked_at: Option<String>,
    /// The holder who revoked it (`issuer#subject`).
    pub revoked_by: Option<String>,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<ConnectedApp> for AppResponse {
    fn from(a: ConnectedApp) -> Self {
        AppResponse {
            client_id: a.client_id,
            name: a.name,
            scopes: a.scopes.split_whitespace().map(str::to_owned).collect(),
            first_used_at: rfc3339(a.first_used_at),
            last_used_at: rfc3339(a.last_used_at),
            revoked_at: a.revoked.as_ref().map(|r| rfc3339(r.at)),
            revoked_by: a.revoked.map(|r| r.by),
        }
    }
}

/// The apps connected to a record, by first use (the holder, in their own session).
#[utoipa::path(get, path = "/api/records/{ins}/apps", tag = "policy",
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 200, description = "The apps that used the record", body = Vec<AppResponse>),
        (status = 404, description = "Not the holder's record, or an app's token", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
) -> Result<Json<Vec<AppResponse>>, ApiError> {
    Ok(Json(state.carnet.connected_apps(&actor, &ins).await?.into_iter().map(Into::into).collect()))
}

fn parse(ins: &str) -> Result<Ins, ApiError> {
    Ins::parse(ins).map_err(|e| ApiError::unprocessable(format!("ins: {e}")))
}

/// Revoke an app: its tokens are refused on this record from the next request on, on every
/// path, until the holder allows it again. A ledger entry.
#[utoipa::path(post, path = "/api/records/{ins}/apps/{client_id}/revoke", tag = "policy",
    params(("ins" = String, Path, description = "The patient's INS"), ("client_id" = String, Path, description = "The app's client id")),
    responses(
        (status = 200, description = "Revoked", body = AppResponse),
        (status = 404, description = "No such app on the record; or not the holder's record, or an app's token", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((ins, client_id)): Path<(String, String)>,
) -> Result<Json<AppResponse>, ApiError> {
    Ok(Json(state.carnet.revoke_app(&actor, &parse(&ins)?, &client_id).await?.into()))
}

/// Allow a revoked app again. A ledger entry.
#[utoipa::path(post, path = "/api/records/{ins}/apps/{client_id}/allow", tag = "policy",
    params(("ins" = String, Path, description = "The patient's INS"), ("client_id" = String, Path, description = "The app's client id")),
    responses(
        (status = 200, description = "Allowed", body = AppResponse),
        (status = 404, description = "No such app on the record; or not the holder's record, or an app's token", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn allow(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((ins, client_id)): Path<(String, String)>,
) -> Result<Json<AppResponse>, ApiError> {
    Ok(Json(state.carnet.allow_app(&actor, &parse(&ins)?, &client_id).await?.into()))
}
