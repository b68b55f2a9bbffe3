//! The patient's choices over `/api`: the access policy and its changes, emergency access,
//! document labels, the reimbursement history, notification preferences.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use carnet_domain::policy::RepresentationKind;
use carnet_domain::{EmergencyKind, PatientPolicy, PolicyChange, Rpps, SecurityLabel};
use carnet_service::Preferences;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, Authenticated, InsPath};
use crate::routes::documents::{DocumentResponse, parse_document_id};

/// The patient's access policy. Every professional is named by their RPPS (11 digits); every
/// instant is RFC 3339; absent optional values are `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyResponse {
    /// Who may read the record, besides the médecin traitant and extended rights: at most one
    /// per professional (a new grant replaces the old one).
    pub authorizations: Vec<AuthorizationResponse>,
    /// Professionals who see nothing but what they authored, and may be granted nothing until
    /// unblocked.
    #[schema(example = json!(["10000001015"]))]
    pub blocked: Vec<String>,
    /// The patient's médecin traitant (RPPS), who sees every document.
    #[schema(example = "10000001015", required = true)]
    pub medecin_traitant: Option<String>,
    /// Professionals given the médecin traitant's rights.
    pub extended_rights: Vec<String>,
    /// Legal representatives, current and ended.
    pub representatives: Vec<RepresentationResponse>,
    /// The patient opposes bris de glace.
    pub opposes_bris_de_glace: bool,
    /// The patient opposes access by the SAMU's regulating doctor.
    pub opposes_samu: bool,
    /// The reimbursement history is hidden from every professional.
    pub reimbursement_hidden: bool,
}

/// A professional's authorization to read the record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationResponse {
    #[schema(example = "10000001015")]
    pub rpps: String,
    #[schema(format = DateTime)]
    pub granted_at: String,
    /// `null`: until revoked.
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
    /// Who recorded it: the patient or a representative (`issuer#subject`), or the declaring
    /// professional (`rpps:…`).
    pub granted_by: String,
    /// Set when a professional declared the patient's consent at the point of care.
    #[schema(required = true)]
    pub declared: Option<DeclarationResponse>,
}

/// Who declared an authorization at the point of care, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeclarationResponse {
    /// The declaring professional, `rpps:…`.
    pub by: String,
    #[schema(format = DateTime)]
    pub at: String,
}

/// A legal representative registered on the record. Registration is one of two keys: the
/// representative's token must also name the patient's INS in `represents`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepresentationResponse {
    /// `issuer#subject` of the representative.
    #[schema(example = "https://idp.example#parent-1")]
    pub representative: String,
    pub kind: RepresentationKindName,
    #[schema(format = DateTime)]
    pub since: String,
    /// Exclusive end; `null`: until ended.
    #[schema(format = DateTime, required = true)]
    pub until: Option<String>,
    /// Who registered it (`issuer#subject`).
    pub registered_by: String,
    #[schema(format = DateTime)]
    pub registered_at: String,
}

/// Why a representative represents the patient.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepresentationKindName {
    /// A parent or guardian of a minor.
    Minor,
    /// The guardian of a protected adult.
    ProtectedAdult,
}

impl RepresentationKindName {
    const ALL: [(&'static str, RepresentationKind); 2] =
        [("minor", RepresentationKind::Minor), ("protected_adult", RepresentationKind::ProtectedAdult)];

    fn of(kind: RepresentationKind) -> RepresentationKindName {
        match kind {
            RepresentationKind::Minor => RepresentationKindName::Minor,
            RepresentationKind::ProtectedAdult => RepresentationKindName::ProtectedAdult,
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<PatientPolicy> for PolicyResponse {
    fn from(p: PatientPolicy) -> PolicyResponse {
        let rpps = |r: Rpps| r.as_str().to_owned();
        PolicyResponse {
            authorizations: p
                .authorizations
                .into_iter()
                .map(|a| AuthorizationResponse {
                    rpps: rpps(a.rpps),
                    granted_at: rfc3339(a.granted_at),
                    expires_at: a.expires_at.map(rfc3339),
                    granted_by: a.granted_by,
                    declared: a.declared.map(|d| DeclarationResponse { by: d.by, at: rfc3339(d.at) }),
                })
                .collect(),
            blocked: p.blocked.into_iter().map(rpps).collect(),
            medecin_traitant: p.medecin_traitant.map(rpps),
            extended_rights: p.extended_rights.into_iter().map(rpps).collect(),
            representatives: p
                .representatives
                .into_iter()
                .map(|r| RepresentationResponse {
                    representative: r.representative,
                    kind: RepresentationKindName::of(r.kind),
                    since: rfc3339(r.since),
                    until: r.until.map(rfc3339),
                    registered_by: r.registered_by,
                    registered_at: rfc3339(r.registered_at),
                })
                .collect(),
            opposes_bris_de_glace: p.opposes_bris_de_glace,
            opposes_samu: p.opposes_samu,
            reimbursement_hidden: p.reimbursement_hidden,
        }
    }
}

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
    Ok(Json(state.carnet.policy(&actor, &ins).await?.into()))
}

/// One change to the access policy, tagged by `change`. Professionals are named by RPPS (11
/// digits); instants are RFC 3339.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
#[schema(example = json!({"change": "authorize", "rpps": "10000001015", "expires_at": "2027-01-01T00:00:00Z"}))]
pub enum ChangeRequest {
    /// The patient or a representative authorizes a professional. Without `expires_at`, the
    /// professional's profession sets the default window (none for most; a few days at a
    /// pharmacy counter).
    Authorize {
        #[schema(example = "10000001015")]
        rpps: String,
        /// In the future; `null` or absent: the default window.
        #[schema(format = DateTime)]
        expires_at: Option<String>,
    },
    /// A professional, for themselves, at the point of care, declares the patient's consent;
    /// capped by the profession's default window.
    DeclareAuthorization {
        #[schema(example = "10000001015")]
        rpps: String,
        #[schema(format = DateTime)]
        expires_at: Option<String>,
    },
    /// Ends a professional's authorization (nothing to end is not an error).
    Revoke {
        #[schema(example = "10000001015")]
        rpps: String,
    },
    /// The professional sees nothing but what they authored; revokes what they were given.
    Block {
        #[schema(example = "10000001015")]
        rpps: String,
    },
    Unblock {
        #[schema(example = "10000001015")]
        rpps: String,
    },
    /// Names the médecin traitant; `null` or absent: none.
    SetMedecinTraitant {
        #[schema(example = "10000001015")]
        rpps: Option<String>,
    },
    /// Gives a professional the médecin traitant's rights.
    GrantExtendedRights {
        #[schema(example = "10000001015")]
        rpps: String,
    },
    RevokeExtendedRights {
        #[schema(example = "10000001015")]
        rpps: String,
    },
    /// Registers a legal representative (the patient, a representative, or the insurer's desk).
    AddRepresentative {
        /// `issuer#subject` of the representative.
        #[schema(example = "https://idp.example#parent-1")]
        representative: String,
        /// `minor` or `protected_adult`.
        #[schema(example = "minor")]
        kind: String,
        /// `null` or absent: from now.
        #[schema(format = DateTime)]
        since: Option<String>,
        /// Exclusive end, after `since` and in the future; `null` or absent: until ended.
        #[schema(format = DateTime)]
        until: Option<String>,
    },
    /// Ends a representation (it stays on the record, with its end).
    EndRepresentative {
        #[schema(example = "https://idp.example#parent-1")]
        representative: String,
    },
    SetBrisDeGlaceOpposition {
        opposed: bool,
    },
    SetSamuOpposition {
        opposed: bool,
    },
    /// Hides the reimbursement history from every professional.
    HideReimbursement {
        hidden: bool,
    },
}

/// A malformed field of a change; `change:` first, as for a malformed change.
fn invalid(field: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(format!("change: {field}: {problem}"))
}

fn parse_rpps(raw: &str) -> Result<Rpps, ApiError> {
    Rpps::parse(raw).map_err(|e| invalid("rpps", e))
}

fn parse_instant(field: &str, raw: Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| invalid(field, format!("{s:?} is not an RFC 3339 date-time")))).transpose()
}

impl ChangeRequest {
    /// A change from the request's JSON. Read from a value (not by the extractor) so that a
    /// malformed change answers `change: …` like a malformed field.
    pub fn read(body: serde_json::Value) -> Result<PolicyChange, ApiError> {
        let request: ChangeRequest = serde_json::from_value(body).map_err(|e| ApiError::unprocessable(format!("change: {e}")))?;
        request.parse()
    }

    /// The domain's change. The profession (for the default window) is left to the service,
    /// which asks the directory: it is not the caller's to say.
    pub fn parse(self) -> Result<PolicyChange, ApiError> {
        Ok(match self {
            ChangeRequest::Authorize { rpps, expires_at } => {
                PolicyChange::Authorize { rpps: parse_rpps(&rpps)?, profession: None, expires_at: parse_instant("expires_at", expires_at)? }
            }
            ChangeRequest::DeclareAuthorization { rpps, expires_at } => {
                PolicyChange::DeclareAuthorization { rpps: parse_rpps(&rpps)?, expires_at: parse_instant("expires_at", expires_at)? }
            }
            ChangeRequest::Revoke { rpps } => PolicyChange::Revoke { rpps: parse_rpps(&rpps)? },
            ChangeRequest::Block { rpps } => PolicyChange::Block { rpps: parse_rpps(&rpps)? },
            ChangeRequest::Unblock { rpps } => PolicyChange::Unblock { rpps: parse_rpps(&rpps)? },
            ChangeRequest::SetMedecinTraitant { rpps } => {
                PolicyChange::SetMedecinTraitant { rpps: rpps.as_deref().map(parse_rpps).transpose()? }
            }
            ChangeRequest::GrantExtendedRights { rpps } => PolicyChange::GrantExtendedRights { rpps: parse_rpps(&rpps)? },
            ChangeRequest::RevokeExtendedRights { rpps } => PolicyChange::RevokeExtendedRights { rpps: parse_rpps(&rpps)? },
            ChangeRequest::AddRepresentative { representative, kind, since, until } => {
                let Some((_, kind)) = RepresentationKindName::ALL.into_iter().find(|(name, _)| *name == kind) else {
                    let names = RepresentationKindName::ALL.map(|(name, _)| name);
                    return Err(invalid("kind", format!("{kind:?} is not one of {}", names.join(", "))));
                };
                PolicyChange::AddRepresentative {
                    representative,
                    kind,
                    since: parse_instant("since", since)?,
                    until: parse_instant("until", until)?,
                }
            }
            ChangeRequest::EndRepresentative { representative } => PolicyChange::EndRepresentative { representative },
            ChangeRequest::SetBrisDeGlaceOpposition { opposed } => PolicyChange::SetBrisDeGlaceOpposition { opposed },
            ChangeRequest::SetSamuOpposition { opposed } => PolicyChange::SetSamuOpposition { opposed },
            ChangeRequest::HideReimbursement { hidden } => PolicyChange::HideReimbursement { hidden },
        })
    }
}

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
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<PolicyResponse>, ApiError> {
    Ok(Json(state.carnet.change_policy(&actor, &ins, ChangeRequest::read(body)?).await?.into()))
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
    /// Kinds not wanted: `new_document`, `first_access`, `policy_change` (an `emergency_access`
    /// is always notified). Absent: all wanted.
    #[serde(default)]
    pub muted_kinds: Vec<String>,
}

impl From<Preferences> for PreferencesBody {
    fn from(p: Preferences) -> Self {
        PreferencesBody { email: p.email, email_enabled: p.email_enabled, webhook_url: p.webhook_url, muted_kinds: p.muted }
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
    responses((status = 200, description = "Saved", body = PreferencesBody), (status = 422, description = "Bad address, URL or kind", body = crate::Problem)),
    security(("bearer" = [])))]
pub async fn set_preferences(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    InsPath(ins): InsPath,
    ApiJson(body): ApiJson<PreferencesBody>,
) -> Result<Json<PreferencesBody>, ApiError> {
    let prefs =
        Preferences { email: body.email, email_enabled: body.email_enabled, webhook_url: body.webhook_url, muted: body.muted_kinds };
    Ok(Json(state.carnet.set_notification_preferences(&actor, &ins, prefs).await?.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_domain::Profession;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use time::macros::datetime;

    fn change(body: Value) -> Result<PolicyChange, String> {
        ChangeRequest::read(body).map_err(|e| {
            assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{}", e.detail);
            e.detail
        })
    }

    fn rpps(n: u32) -> Rpps {
        Rpps::from_body(&format!("1{n:09}")).expect("digits")
    }

    /// Each change as clients send it, with the domain's change it means.
    #[test]
    fn every_change_reads_as_clients_send_it() {
        let (r, s) = (rpps(7), rpps(7).to_string());
        let at = datetime!(2027-01-01 00:00 UTC);
        let cases = [
            (json!({"change": "authorize", "rpps": s}), PolicyChange::Authorize { rpps: r.clone(), profession: None, expires_at: None }),
            (
                json!({"change": "authorize", "rpps": s, "expires_at": "2027-01-01T00:00:00Z"}),
                PolicyChange::Authorize { rpps: r.clone(), profession: None, expires_at: Some(at) },
            ),
            (
                json!({"change": "declare_authorization", "rpps": s, "expires_at": null}),
                PolicyChange::DeclareAuthorization { rpps: r.clone(), expires_at: None },
            ),
            (json!({"change": "revoke", "rpps": s}), PolicyChange::Revoke { rpps: r.clone() }),
            (json!({"change": "block", "rpps": s}), PolicyChange::Block { rpps: r.clone() }),
            (json!({"change": "unblock", "rpps": s}), PolicyChange::Unblock { rpps: r.clone() }),
            (json!({"change": "set_medecin_traitant", "rpps": s}), PolicyChange::SetMedecinTraitant { rpps: Some(r.clone()) }),
            (json!({"change": "set_medecin_traitant", "rpps": null}), PolicyChange::SetMedecinTraitant { rpps: None }),
            (json!({"change": "set_medecin_traitant"}), PolicyChange::SetMedecinTraitant { rpps: None }),
            (json!({"change": "grant_extended_rights", "rpps": s}), PolicyChange::GrantExtendedRights { rpps: r.clone() }),
            (json!({"change": "revoke_extended_rights", "rpps": s}), PolicyChange::RevokeExtendedRights { rpps: r.clone() }),
            (
                json!({"change": "add_representative", "representative": "https://idp.example#p", "kind": "protected_adult",
                       "since": "2027-01-01T00:00:00Z", "until": null}),
                PolicyChange::AddRepresentative {
                    representative: "https://idp.example#p".into(),
                    kind: RepresentationKind::ProtectedAdult,
                    since: Some(at),
                    until: None,
                },
            ),
            (
                json!({"change": "add_representative", "representative": "a#b", "kind": "minor", "until": "2027-01-01T00:00:00Z"}),
                PolicyChange::AddRepresentative {
                    representative: "a#b".into(),
                    kind: RepresentationKind::Minor,
                    since: None,
                    until: Some(at),
                },
            ),
            (
                json!({"change": "end_representative", "representative": "a#b"}),
                PolicyChange::EndRepresentative { representative: "a#b".into() },
            ),
            (json!({"change": "set_bris_de_glace_opposition", "opposed": true}), PolicyChange::SetBrisDeGlaceOpposition { opposed: true }),
            (json!({"change": "set_samu_opposition", "opposed": false}), PolicyChange::SetSamuOpposition { opposed: false }),
            (json!({"change": "hide_reimbursement", "hidden": true}), PolicyChange::HideReimbursement { hidden: true }),
        ];
        for (body, expected) in cases {
            assert_eq!(change(body.clone()), Ok(expected.clone()), "{body}");
            assert_eq!(body["change"], expected.code(), "the tag is the change's code");
        }
    }

    #[test]
    fn the_profession_is_not_the_callers_to_say() {
        // Unknown fields are ignored, as before; the service asks the directory.
        let body = json!({"change": "authorize", "rpps": rpps(7).to_string(), "profession": Profession::Pharmacien.code()});
        assert_eq!(change(body), Ok(PolicyChange::Authorize { rpps: rpps(7), profession: None, expires_at: None }));
    }

    #[test]
    fn malformed_changes_are_refused_naming_the_field() {
        let s = rpps(7).to_string();
        for (body, needle) in [
            (json!({"change": "promote"}), "change: unknown variant `promote`"),
            (json!({"rpps": s}), "change: missing field `change`"),
            (json!({"change": "block"}), "change: missing field `rpps`"),
            (json!({"change": "block", "rpps": 7}), "change: invalid type"),
            (json!({"change": "authorize", "rpps": "123"}), "change: rpps: an RPPS number has 11 digits"),
            (json!({"change": "revoke", "rpps": "10000000071"}), "change: rpps: an RPPS number check digit"),
            (json!({"change": "set_medecin_traitant", "rpps": "x"}), "change: rpps: an RPPS number contains only digits"),
            (json!({"change": "authorize", "rpps": s, "expires_at": "tomorrow"}), "change: expires_at: \"tomorrow\" is not an RFC 3339"),
            (
                json!({"change": "declare_authorization", "rpps": s, "expires_at": "2027-01-01"}),
                "change: expires_at: \"2027-01-01\" is not an RFC 3339",
            ),
            (
                json!({"change": "add_representative", "representative": "a#b", "kind": "cousin"}),
                "change: kind: \"cousin\" is not one of minor, protected_adult",
            ),
            (json!({"change": "add_representative", "representative": "a#b", "kind": "minor", "since": "x"}), "change: since: "),
            (json!({"change": "add_representative", "representative": "a#b", "kind": "minor", "until": "x"}), "change: until: "),
            (json!({"change": "set_samu_opposition", "opposed": "yes"}), "change: invalid type"),
        ] {
            let refused = change(body.clone()).expect_err("refused");
            assert!(refused.contains(needle), "{body}: {refused:?} should contain {needle:?}");
        }
    }

    fn tag() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "authorize",
            "declare_authorization",
            "revoke",
            "block",
            "unblock",
            "set_medecin_traitant",
            "grant_extended_rights",
            "revoke_extended_rights",
            "add_representative",
            "end_representative",
            "set_bris_de_glace_opposition",
            "set_samu_opposition",
            "hide_reimbursement",
            "promote",
        ])
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
            "[0-9]{11}".prop_map(Value::from),
            Just(json!("2027-01-01T00:00:00Z")),
            Just(json!("minor")),
        ]
    }

    proptest! {
        /// Whatever the body, parsing answers a change or a message that starts with `change:`.
        #[test]
        fn any_body_reads_or_is_refused_with_a_message(
            tag in tag(),
            fields in prop::collection::btree_map(
                prop::sample::select(vec!["rpps", "expires_at", "representative", "kind", "since", "until", "opposed", "hidden", "x"]),
                value(),
                0..6,
            ),
        ) {
            let mut body: serde_json::Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            body.insert("change".into(), json!(tag));
            match change(Value::Object(body)) {
                Ok(c) => prop_assert_eq!(c.code(), tag),
                Err(message) => prop_assert!(message.starts_with("change: "), "{}", message),
            }
        }

        /// Any valid RPPS and RFC 3339 instant reads as itself.
        #[test]
        fn valid_values_read_as_themselves(body in "[0-9]{10}", seconds in 0i64..253_402_300_799, millis in 0u16..1000) {
            let rpps = Rpps::from_body(&body).expect("ten digits");
            let at = OffsetDateTime::from_unix_timestamp(seconds).expect("in range") + time::Duration::milliseconds(i64::from(millis));
            let json = json!({"change": "declare_authorization", "rpps": rpps.to_string(), "expires_at": rfc3339(at)});
            prop_assert_eq!(change(json), Ok(PolicyChange::DeclareAuthorization { rpps, expires_at: Some(at) }));
        }
    }
}
