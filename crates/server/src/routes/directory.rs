//! `/api/professionals`: the professionals directory.

use axum::Json;
use axum::extract::{Path, State};
use carnet_domain::{Finess, Profession, Professional, Rpps};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Authenticated};

/// A directory entry.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfessionalEntry {
    /// 11 digits, Luhn key.
    #[schema(example = "10000000009")]
    pub rpps: String,
    pub family_name: String,
    pub given_name: String,
    /// TRE_G15 code: 10 médecin, 21 pharmacien, 40 chirurgien-dentiste, 50 sage-femme, 60 infirmier…
    #[schema(example = "10")]
    pub profession: String,
    pub specialty: Option<String>,
    /// The organisation's FINESS (9 digits, Luhn key).
    pub finess: Option<String>,
    /// For notifications that concern the professional (e.g. as médecin traitant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl ProfessionalEntry {
    /// Parses one entry; `at` prefixes messages in bulk imports.
    pub fn parse(self, at: &str) -> Result<Professional, ApiError> {
        let fail = |field: &str, e: &dyn std::fmt::Display| ApiError::unprocessable(format!("{at}{field}: {e}"));
        Ok(Professional {
            rpps: Rpps::parse(&self.rpps).map_err(|e| fail("rpps", &e))?,
            family_name: self.family_name,
            given_name: self.given_name,
            profession: Profession::from_code(&self.profession).map_err(|e| fail("profession", &e))?,
            specialty: self.specialty,
            organisation: self.finess.as_deref().map(Finess::parse).transpose().map_err(|e| fail("finess", &e))?,
            email: self.email,
        })
    }
}

impl From<Professional> for ProfessionalEntry {
    fn from(p: Professional) -> Self {
        ProfessionalEntry {
            rpps: p.rpps.to_string(),
            family_name: p.family_name,
            given_name: p.given_name,
            profession: p.profession.code().to_owned(),
            specialty: p.specialty,
            finess: p.organisation.map(|f| f.to_string()),
            email: p.email,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    pub saved: u64,
}

/// Look a professional up by RPPS.
#[utoipa::path(get, path = "/api/professionals/{rpps}", tag = "directory",
    params(("rpps" = String, Path, description = "11-digit RPPS")),
    responses(
        (status = 200, description = "Found", body = ProfessionalEntry),
        (status = 404, description = "Unknown professional", body = crate::Problem),
        (status = 422, description = "Malformed RPPS", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn find(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(rpps): Path<String>,
) -> Result<Json<ProfessionalEntry>, ApiError> {
    let rpps = Rpps::parse(&rpps).map_err(|e| ApiError::unprocessable(format!("rpps: {e}")))?;
    Ok(Json(state.carnet.find_professional(&actor, &rpps).await?.into()))
}

/// What a search of the directory by name asks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NameQuery {
    /// The start of the family name (case, accents, spaces and hyphens do not matter); at least
    /// two letters.
    pub name: String,
}

/// What a search of the directory by name found.
#[derive(Debug, Serialize, ToSchema)]
pub struct NameSearchResponse {
    /// In name order; at most 20.
    pub professionals: Vec<ProfessionalEntry>,
    /// More professionals matched: type more of the name.
    pub more: bool,
}

/// Find professionals by the start of their family name: the same public directory, for the same
/// callers, as the look-up by RPPS; never more than 20 answers.
#[utoipa::path(get, path = "/api/professionals", tag = "directory", params(NameQuery),
    responses(
        (status = 200, description = "Found (perhaps none)", body = NameSearchResponse),
        (status = 400, description = "No `name`", body = crate::Problem),
        (status = 403, description = "The token's scopes do not allow reading the directory", body = crate::Problem),
        (status = 422, description = "Fewer than two letters", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(query): ApiQuery<NameQuery>,
) -> Result<Json<NameSearchResponse>, ApiError> {
    let found = state.carnet.find_professionals_by_name(&actor, &query.name).await?;
    Ok(Json(NameSearchResponse { professionals: found.found.into_iter().map(Into::into).collect(), more: found.more }))
}

/// Create or update one professional (operators).
#[utoipa::path(put, path = "/api/professionals/{rpps}", tag = "directory", request_body = ProfessionalEntry,
    params(("rpps" = String, Path, description = "11-digit RPPS; must equal the body's")),
    responses(
        (status = 200, description = "Saved", body = ProfessionalEntry),
        (status = 403, description = "Operators only", body = crate::Problem),
        (status = 422, description = "Invalid entry", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn upsert(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(rpps): Path<String>,
    ApiJson(entry): ApiJson<ProfessionalEntry>,
) -> Result<Json<ProfessionalEntry>, ApiError> {
    if entry.rpps != rpps {
        return Err(ApiError::unprocessable("rpps: the path and the body name different professionals"));
    }
    let professional = entry.parse("")?;
    state.carnet.save_professionals(&actor, vec![professional.clone()]).await?;
    Ok(Json(professional.into()))
}

/// Import professionals in bulk, all or none (operators).
#[utoipa::path(post, path = "/api/professionals", tag = "directory", request_body = Vec<ProfessionalEntry>,
    responses(
        (status = 200, description = "All saved", body = ImportResult),
        (status = 403, description = "Operators only", body = crate::Problem),
        (status = 422, description = "An invalid entry; nothing saved", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(entries): ApiJson<Vec<ProfessionalEntry>>,
) -> Result<Json<ImportResult>, ApiError> {
    let professionals = entries.into_iter().enumerate().map(|(i, e)| e.parse(&format!("[{i}]."))).collect::<Result<Vec<_>, _>>()?;
    let saved = state.carnet.save_professionals(&actor, professionals).await?;
    Ok(Json(ImportResult { saved }))
}
