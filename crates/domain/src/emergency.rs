//! Emergency access (access rules 10 and 11): bris de glace by a professional, SAMU regulation by
//! a regulating doctor. Opening one is a pure check that yields an `EmergencyAccess`, a
//! time-limited value the service stores, notifies about, and hands to `decide` while it lasts.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::policy::PatientPolicy;
use crate::{Actor, ActorKind, Ins, RecordStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyKind {
    /// Rule 10: a professional without authorization, in an emergency.
    BrisDeGlace,
    /// Rule 11: a SAMU regulating doctor.
    Samu,
}

impl EmergencyKind {
    pub fn code(self) -> &'static str {
        match self {
            EmergencyKind::BrisDeGlace => "bris_de_glace",
            EmergencyKind::Samu => "samu",
        }
    }
}

/// An open emergency access to one record by one actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyAccess {
    pub kind: EmergencyKind,
    /// The record it opens: an access is never carried over to another patient.
    pub ins: Ins,
    /// `Actor::reference()` of who opened it.
    pub actor: String,
    /// Trimmed, 1 to `MAX_JUSTIFICATION` characters; reviewed by a privacy officer.
    pub justification: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl EmergencyAccess {
    pub fn is_current(&self, now: OffsetDateTime) -> bool {
        self.opened_at <= now && now < self.expires_at
    }
}

/// What the actor asks for. `duration` comes from the settings, not from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmergencyRequest<'a> {
    pub kind: EmergencyKind,
    pub justification: &'a str,
    pub duration: Duration,
}

pub const MAX_JUSTIFICATION: usize = 1000;

/// Why an emergency access is refused. `Justification` is the caller's input (422); the others
/// are denials (403), with messages that do not say what the patient chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmergencyDenied {
    #[error("{} is opened only by {}", .0.code(), match .0 { EmergencyKind::BrisDeGlace => "a professional", EmergencyKind::Samu => "a SAMU regulating doctor" })]
    Role(EmergencyKind),
    #[error("justification: a written reason of 1 to {max} characters is required", max = MAX_JUSTIFICATION)]
    Justification,
    #[error("emergency access to this record is not possible")]
    RecordNotActive,
    #[error("emergency access to this record is not possible")]
    Blocked,
    #[error("emergency access to this record is not possible")]
    Opposed(EmergencyKind),
    #[error("this professional already has access to this record: emergency access is not needed")]
    AlreadyAuthorized,
}

impl EmergencyDenied {
    pub fn code(self) -> &'static str {
        match self {
            EmergencyDenied::Role(_) => "emergency_role",
            EmergencyDenied::Justification => "justification_required",
            EmergencyDenied::RecordNotActive => "record_not_active",
            EmergencyDenied::Blocked => "blocked",
            EmergencyDenied::Opposed(EmergencyKind::BrisDeGlace) => "bris_de_glace_opposed",
            EmergencyDenied::Opposed(EmergencyKind::Samu) => "samu_opposed",
            EmergencyDenied::AlreadyAuthorized => "already_authorized",
        }
    }
}

/// Opens an emergency access. Checks, in order: the role fits the kind (bris de glace by a
/// `Professional`, SAMU by a `Regulator`); the justification (input, so checked before anything
/// that depends on the record, and answered the same whatever the record holds); the record is
/// active; the professional is not blocked (rule 3); the patient did not oppose this kind; and,
/// for bris de glace, that the professional has no access already — an authorized professional
/// would see nothing more, and a needless emergency would only alarm the patient and the reviewer.
pub fn open_emergency(
    actor: &Actor,
    ins: &Ins,
    record_status: RecordStatus,
    policy: &PatientPolicy,
    request: &EmergencyRequest<'_>,
    now: OffsetDateTime,
) -> Result<EmergencyAccess, EmergencyDenied> {
    let identity = match (&actor.kind, request.kind) {
        (ActorKind::Professional(p), EmergencyKind::BrisDeGlace) | (ActorKind::Regulator(p), EmergencyKind::Samu) => p,
        (_, kind) => return Err(EmergencyDenied::Role(kind)),
    };
    let justification = request.justification.trim();
    if justification.is_empty() || justification.chars().count() > MAX_JUSTIFICATION {
        return Err(EmergencyDenied::Justification);
    }
    if record_status != RecordStatus::Active {
        return Err(EmergencyDenied::RecordNotActive);
    }
    if policy.is_blocked(&identity.rpps) {
        return Err(EmergencyDenied::Blocked);
    }
    let opposed = match request.kind {
        EmergencyKind::BrisDeGlace => policy.opposes_bris_de_glace,
        EmergencyKind::Samu => policy.opposes_samu,
    };
    if opposed {
        return Err(EmergencyDenied::Opposed(request.kind));
    }
    let rpps = &identity.rpps;
    let has_access = policy.is_medecin_traitant(rpps)
        || policy.has_extended_rights(rpps)
        || policy.authorization(rpps).is_some_and(|a| a.is_current(now));
    if request.kind == EmergencyKind::BrisDeGlace && has_access {
        return Err(EmergencyDenied::AlreadyAuthorized);
    }
    Ok(EmergencyAccess {
        kind: request.kind,
        ins: ins.clone(),
        actor: actor.reference(),
        justification: justification.to_owned(),
        opened_at: now,
        expires_at: now + request.duration,
    })
}
