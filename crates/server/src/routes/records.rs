//! `/api/records`: create a record, read its status, close, reopen, request early destruction;
//! `/api/statistics/records`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use carnet_domain::record::RecordStatistics;
use carnet_domain::{IdentityStatus, Ins, InsKind, ReferenceTraits, Sex};
use carnet_service::{NewRecord, RecordView};
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, Authenticated, InsPath};

/// A record creation request: the patient's INS and reference traits.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecord {
    /// The INS: 13 characters + 2-digit key (spaces allowed).
    #[schema(example = "184127645108946")]
    pub ins: String,
    /// The INS register: `urn:oid:1.2.250.1.213.1.4.8` (NIR, the default), `…4.9` (NIA), `…4.10` (test NIR).
    pub ins_system: Option<String>,
    /// `recuperee` or `qualifiee` (a record needs an INS retrieved from the national service).
    #[schema(example = "qualifiee")]
    pub identity_status: String,
    #[schema(example = "MARTIN")]
    pub birth_name: String,
    #[schema(example = "Jeanne Louise")]
    pub birth_given_names: String,
    /// `YYYY-MM-DD`.
    #[schema(example = "1984-12-01")]
    pub birth_date: String,
    /// `M`, `F` or `I`.
    pub sex: String,
    /// INSEE code of the birthplace.
    pub birthplace: Option<String>,
}

/// A reason, for closing a record or asking for its early destruction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
}

/// A record as the caller may see it. Insurer agents, operators and privacy officers get
/// existence and status only.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordResponse {
    pub ins: String,
    pub ins_system: String,
    /// `active`, `closed`, `archived`.
    pub status: String,
    /// `patient`, `professional`, `pharmacist`, `insurer_agent`.
    pub channel: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_given_names: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthplace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destruction_due_at: Option<String>,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl From<RecordView> for RecordResponse {
    fn from(v: RecordView) -> RecordResponse {
        let t = v.traits.as_ref();
        RecordResponse {
            ins: v.ins.to_string(),
            ins_system: v.ins_kind.system(),
            status: v.status.as_str().to_owned(),
            channel: v.channel.as_str().to_owned(),
            created_at: rfc3339(v.created_at),
            identity_status: v.identity_status.map(|s| s.as_str().to_owned()),
            birth_name: t.map(|t| t.birth_name.clone()),
            birth_given_names: t.map(|t| t.birth_given_names.clone()),
            birth_date: t.map(|t| t.birth_date.to_string()),
            sex: t.map(|t| t.sex.as_str().to_owned()),
            birthplace: t.and_then(|t| t.birthplace.clone()),
            closed_at: v.closed_at.map(rfc3339),
            close_reason: v.close_reason,
            destruction_due_at: v.destruction_due_at.map(rfc3339),
        }
    }
}

/// Parses an INS from outside input; the message names the check that failed.
fn parse_ins(raw: &str) -> Result<Ins, ApiError> {
    Ins::parse(raw).map_err(|e| ApiError::unprocessable(format!("ins: {e}")))
}

impl CreateRecord {
    fn parse(self) -> Result<NewRecord, ApiError> {
        let ins = parse_ins(&self.ins)?;
        let ins_kind = match &self.ins_system {
            None => InsKind::Nir,
            Some(s) => InsKind::from_system(s).ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "ins_system: unknown INS register {s:?}; expected one of {}",
                    InsKind::ALL.map(|k| k.system()).join(", ")
                ))
            })?,
        };
        let identity_status = IdentityStatus::parse(&self.identity_status).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "identity_status: {:?} is not one of {}",
                self.identity_status,
                IdentityStatus::ALL.map(|s| s.as_str()).join(", ")
            ))
        })?;
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let birth_date = Date::parse(&self.birth_date, format)
            .map_err(|_| ApiError::unprocessable(format!("birth_date: {:?} is not a YYYY-MM-DD date", self.birth_date)))?;
        let sex = Sex::parse(&self.sex).ok_or_else(|| ApiError::unprocessable(format!("sex: {:?} is not one of M, F, I", self.sex)))?;
        Ok(NewRecord {
            ins,
            ins_kind,
            identity_status,
            traits: ReferenceTraits {
                birth_name: self.birth_name,
                birth_given_names: self.birth_given_names,
                birth_date,
                sex,
                birthplace: self.birthplace,
            },
        })
    }
}

/// Create a patient's record.
#[utoipa::path(post, path = "/api/records", tag = "records", request_body = CreateRecord,
    responses(
        (status = 201, description = "Created", body = RecordResponse),
        (status = 401, description = "No valid token", body = crate::Problem),
        (status = 403, description = "This actor may not create this record", body = crate::Problem),
        (status = 409, description = "The INS already has a record", body = crate::Problem),
        (status = 422, description = "Invalid INS, traits or identity status", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreateRecord>,
) -> Result<impl IntoResponse, ApiError> {
    let view = state.carnet.create_record(&actor, body.parse()?).await?;
    let location = format!("/api/records/{}", view.ins);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(RecordResponse::from(view))))
}

/// Read a record's status.
#[utoipa::path(get, path = "/api/records/{ins}", tag = "records",
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 200, description = "The record", body = RecordResponse),
        (status = 403, description = "Not the caller's record", body = crate::Problem),
        (status = 404, description = "No live record for this INS", body = crate::Problem),
        (status = 422, description = "Malformed INS", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn status(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
) -> Result<Json<RecordResponse>, ApiError> {
    Ok(Json(state.carnet.record_status(&actor, &ins).await?.into()))
}

/// Close a record (by its holder, their representative, or an insurer agent after notice).
#[utoipa::path(post, path = "/api/records/{ins}/close", tag = "records", request_body = Reason,
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 200, description = "Closed", body = RecordResponse),
        (status = 409, description = "Not active", body = crate::Problem),
        (status = 422, description = "Missing reason or malformed INS", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiJson(body): ApiJson<Reason>,
) -> Result<Json<RecordResponse>, ApiError> {
    Ok(Json(state.carnet.close_record(&actor, &ins, &body.reason).await?.into()))
}

/// Reopen a closed or archived record.
#[utoipa::path(post, path = "/api/records/{ins}/reopen", tag = "records",
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 200, description = "Active again", body = RecordResponse),
        (status = 409, description = "Not closed or archived", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
) -> Result<Json<RecordResponse>, ApiError> {
    Ok(Json(state.carnet.reopen_record(&actor, &ins).await?.into()))
}

/// Ask for early destruction (closes an active record; destruction follows after the configured delay).
#[utoipa::path(post, path = "/api/records/{ins}/destruction-request", tag = "records", request_body = Reason,
    params(("ins" = String, Path, description = "The patient's INS")),
    responses(
        (status = 200, description = "Destruction scheduled", body = RecordResponse),
        (status = 403, description = "Only the holder or their representative", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn request_destruction(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiJson(body): ApiJson<Reason>,
) -> Result<Json<RecordResponse>, ApiError> {
    Ok(Json(state.carnet.request_destruction(&actor, &ins, &body.reason).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct StatisticsResponse {
    pub created: u64,
    pub fed: u64,
    /// status → count
    pub by_status: std::collections::BTreeMap<String, u64>,
    pub by_channel: Vec<ChannelRow>,
    pub by_organisation: Vec<OrganisationRow>,
}

#[derive(Serialize, ToSchema)]
pub struct ChannelRow {
    pub channel: String,
    pub created: u64,
    pub fed: u64,
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationRow {
    pub finess: String,
    pub channel: String,
    pub created: u64,
    pub fed: u64,
}

impl From<RecordStatistics> for StatisticsResponse {
    fn from(s: RecordStatistics) -> Self {
        StatisticsResponse {
            created: s.created,
            fed: s.fed,
            by_status: s.by_status.into_iter().map(|(st, n)| (st.as_str().to_owned(), n)).collect(),
            by_channel: s
                .by_channel
                .into_iter()
                .map(|c| ChannelRow { channel: c.channel.as_str().to_owned(), created: c.created, fed: c.fed })
                .collect(),
            by_organisation: s
                .by_organisation
                .into_iter()
                .map(|o| OrganisationRow {
                    finess: o.organisation.to_string(),
                    channel: o.channel.as_str().to_owned(),
                    created: o.created,
                    fed: o.fed,
                })
                .collect(),
        }
    }
}

/// Record statistics: created, fed (≥ 1 document), by channel and by creating organisation.
#[utoipa::path(get, path = "/api/statistics/records", tag = "records",
    responses(
        (status = 200, description = "Counts", body = StatisticsResponse),
        (status = 403, description = "For insurer agents, privacy officers and operators", body = crate::Problem),
    ),
    security(("bearer" = [])))]
pub async fn statistics(State(state): State<AppState>, Authenticated(actor): Authenticated) -> Result<Json<StatisticsResponse>, ApiError> {
    Ok(Json(state.carnet.record_statistics(&actor).await?.into()))
}
