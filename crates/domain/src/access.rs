//! The access decision: one pure function for every read of clinical content (access rules 1–13,
//! `docs/access-rules.md`). Every read path — read, list, search, count, summary, full-text hit, export —
//! asks `decide` per document; `decide_record` answers whether the actor may consult the record
//! at all (listing, the enumeration guard). Both return a reason code for the ledger (rule 16).
//!
//! Order of the checks, each a rule:
//!
//! 1. roles that never read clinical content (rule 12);
//! 2. the document belongs to the record in context (a defence against a caller's mix-up);
//! 3. the record's status (rule 1): archived or destroyed, nobody; closed, the holder only;
//! 4. authors read what they wrote while the record is active (rule 3) — professionals and
//!    regulators only: holders are governed by rules 7–9 without exception;
//! 5. the actor's standing on the record ([`decide_record`]): holder (rules 7–9), blocked
//!    (rule 3), médecin traitant or extended rights (rule 5), authorization (rule 2), bris de
//!    glace (rule 10), SAMU (rule 11);
//! 6. the document for that standing: entered-in-error (author only), reimbursement hidden
//!    (rule 13), MASQUE_PS (rule 6), the profession matrix (rule 4), INVISIBLE_* (rules 7, 8).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::codes::Code;
use crate::emergency::{EmergencyAccess, EmergencyKind};
use crate::matrix::ProfessionMatrix;
use crate::policy::{Holder, PatientPolicy};
use crate::{Actor, ActorKind, DocumentMeta, DocumentStatus, Ins, ProfessionalIdentity, RecordStatus, SecurityLabel};

/// The TRE_A05 type code of the reimbursement history (rule 13).
pub const REIMBURSEMENT_TYPE: &str = "REMB";
pub const TRE_A05_SYSTEM: &str = "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire";

/// Everything besides the actor, the policy and the document that a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct AccessContext<'a> {
    /// The record being read.
    pub ins: &'a Ins,
    pub record_status: RecordStatus,
    pub now: OffsetDateTime,
    /// The actor's emergency access to this record, if they opened one. One that is not theirs,
    /// not for this record, or of the wrong kind for their role is ignored.
    pub emergency: Option<&'a EmergencyAccess>,
    pub matrix: &'a ProfessionMatrix,
}

/// Why access is permitted. The code goes into the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Patient,
    Representative,
    Author,
    MedecinTraitant,
    ExtendedRights,
    Authorization,
    BrisDeGlace,
    Samu,
}

/// Why access is denied. The code goes into the ledger; callers see a hidden document exactly as
/// a missing one (rule 14), never this reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// Rule 12: insurer agents, operators, privacy officers and systems.
    RoleNeverReads,
    /// The document is not in the record being decided on.
    OtherRecord,
    RecordClosed,
    RecordArchived,
    RecordDestroyed,
    /// A patient, on someone else's record.
    NotHolder,
    /// Not registered, out of dates, or the token does not represent this INS.
    NotRepresentative,
    InvisiblePatient,
    InvisibleRepresentatives,
    EnteredInError,
    Blocked,
    ReimbursementHidden,
    MaskedFromProfessionals,
    MatrixExcludesType,
    NoAuthorization,
    AuthorizationExpired,
    BrisDeGlaceOpposed,
    SamuOpposed,
    EmergencyExpired,
    /// A regulator without a current SAMU access.
    NoEmergencyAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "code", rename_all = "snake_case")]
#[must_use]
pub enum AccessDecision {
    Permit(Basis),
    Deny(DenyReason),
}

impl Basis {
    pub const ALL: [Basis; 8] = [
        Basis::Patient,
        Basis::Representative,
        Basis::Author,
        Basis::MedecinTraitant,
        Basis::ExtendedRights,
        Basis::Authorization,
        Basis::BrisDeGlace,
        Basis::Samu,
    ];

    /// Bris de glace or SAMU access: opened, reviewed and notified on its own terms.
    pub fn is_emergency(self) -> bool {
        matches!(self, Basis::BrisDeGlace | Basis::Samu)
    }

    pub fn code(self) -> &'static str {
        match self {
            Basis::Patient => "patient",
            Basis::Representative => "representative",
            Basis::Author => "author",
            Basis::MedecinTraitant => "medecin_traitant",
            Basis::ExtendedRights => "extended_rights",
            Basis::Authorization => "authorization",
            Basis::BrisDeGlace => "bris_de_glace",
            Basis::Samu => "samu",
        }
    }
}

impl DenyReason {
    pub const ALL: [DenyReason; 20] = [
        DenyReason::RoleNeverReads,
        DenyReason::OtherRecord,
        DenyReason::RecordClosed,
        DenyReason::RecordArchived,
        DenyReason::RecordDestroyed,
        DenyReason::NotHolder,
        DenyReason::NotRepresentative,
        DenyReason::InvisiblePatient,
        DenyReason::InvisibleRepresentatives,
        DenyReason::EnteredInError,
        DenyReason::Blocked,
        DenyReason::ReimbursementHidden,
        DenyReason::MaskedFromProfessionals,
        DenyReason::MatrixExcludesType,
        DenyReason::NoAuthorization,
        DenyReason::AuthorizationExpired,
        DenyReason::BrisDeGlaceOpposed,
        DenyReason::SamuOpposed,
        DenyReason::EmergencyExpired,
        DenyReason::NoEmergencyAccess,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DenyReason::RoleNeverReads => "role_never_reads",
            DenyReason::OtherRecord => "other_record",
            DenyReason::RecordClosed => "record_closed",
            DenyReason::RecordArchived => "record_archived",
            DenyReason::RecordDestroyed => "record_destroyed",
            DenyReason::NotHolder => "not_holder",
            DenyReason::NotRepresentative => "not_representative",
            DenyReason::InvisiblePatient => "invisible_patient",
            DenyReason::InvisibleRepresentatives => "invisible_representatives",
            DenyReason::EnteredInError => "entered_in_error",
            DenyReason::Blocked => "blocked",
            DenyReason::ReimbursementHidden => "reimbursement_hidden",
            DenyReason::MaskedFromProfessionals => "masked_from_professionals",
            DenyReason::MatrixExcludesType => "matrix_excludes_type",
            DenyReason::NoAuthorization => "no_authorization",
            DenyReason::AuthorizationExpired => "authorization_expired",
            DenyReason::BrisDeGlaceOpposed => "bris_de_glace_opposed",
            DenyReason::SamuOpposed => "samu_opposed",
            DenyReason::EmergencyExpired => "emergency_expired",
            DenyReason::NoEmergencyAccess => "no_emergency_access",
        }
    }
}

impl AccessDecision {
    pub fn is_permit(self) -> bool {
        matches!(self, AccessDecision::Permit(_))
    }

    /// `permit` or `deny`.
    pub fn outcome(self) -> &'static str {
        if self.is_permit() { "permit" } else { "deny" }
    }

    /// The basis of a permit or the reason of a denial.
    pub fn code(self) -> &'static str {
        match self {
            AccessDecision::Permit(b) => b.code(),
            AccessDecision::Deny(r) => r.code(),
        }
    }
}

/// How the actor stands on the record, before looking at any document.
fn standing(actor: &Actor, ctx: &AccessContext<'_>, policy: &PatientPolicy) -> Result<Basis, DenyReason> {
    let professional = match &actor.kind {
        ActorKind::InsurerAgent | ActorKind::Operator | ActorKind::PrivacyOfficer | ActorKind::System { .. } => {
            return Err(DenyReason::RoleNeverReads);
        }
        ActorKind::Patient { .. } | ActorKind::Representative { .. } => None,
        ActorKind::Professional(p) | ActorKind::Regulator(p) => Some(p),
    };
    match ctx.record_status {
        RecordStatus::Active => {}
        RecordStatus::Closed if professional.is_some() => return Err(DenyReason::RecordClosed),
        RecordStatus::Closed => {}
        RecordStatus::Archived => return Err(DenyReason::RecordArchived),
        RecordStatus::Destroyed => return Err(DenyReason::RecordDestroyed),
    }
    let Some(p) = professional else {
        return match (policy.holder(actor, ctx.ins, ctx.now), &actor.kind) {
            (Some(Holder::Patient), _) => Ok(Basis::Patient),
            (Some(Holder::Representative), _) => Ok(Basis::Representative),
            (None, ActorKind::Patient { .. }) => Err(DenyReason::NotHolder),
            (None, _) => Err(DenyReason::NotRepresentative),
        };
    };
    if policy.is_blocked(&p.rpps) {
        return Err(DenyReason::Blocked);
    }
    if matches!(actor.kind, ActorKind::Regulator(_)) {
        // A regulator acts as SAMU only; their own patients they consult with a professional token.
        return emergency(actor, ctx, policy, EmergencyKind::Samu).unwrap_or(Err(DenyReason::NoEmergencyAccess));
    }
    professional_standing(actor, p, ctx, policy)
}

fn professional_standing(
    actor: &Actor,
    p: &ProfessionalIdentity,
    ctx: &AccessContext<'_>,
    policy: &PatientPolicy,
) -> Result<Basis, DenyReason> {
    if policy.is_medecin_traitant(&p.rpps) {
        return Ok(Basis::MedecinTraitant);
    }
    if policy.has_extended_rights(&p.rpps) {
        return Ok(Basis::ExtendedRights);
    }
    let authorization = policy.authorization(&p.rpps);
    if authorization.is_some_and(|a| a.is_current(ctx.now)) {
        return Ok(Basis::Authorization);
    }
    emergency(actor, ctx, policy, EmergencyKind::BrisDeGlace).unwrap_or(Err(if authorization.is_some() {
        DenyReason::AuthorizationExpired
    } else {
        DenyReason::NoAuthorization
    }))
}

/// The standing an emergency access gives, if the context holds one that applies to this actor.
fn emergency(actor: &Actor, ctx: &AccessContext<'_>, policy: &PatientPolicy, kind: EmergencyKind) -> Option<Result<Basis, DenyReason>> {
    let e = ctx.emergency.filter(|e| e.kind == kind && e.ins == *ctx.ins && actor.has_reference(&e.actor))?;
    let (opposed, basis, reason) = match kind {
        EmergencyKind::BrisDeGlace => (policy.opposes_bris_de_glace, Basis::BrisDeGlace, DenyReason::BrisDeGlaceOpposed),
        EmergencyKind::Samu => (policy.opposes_samu, Basis::Samu, DenyReason::SamuOpposed),
    };
    Some(if opposed {
        // An opposition takes effect at once, even on an access opened before it.
        Err(reason)
    } else if !e.is_current(ctx.now) {
        Err(DenyReason::EmergencyExpired)
    } else {
        Ok(basis)
    })
}

/// May this actor consult this record at all? Used for record-level reads (listing) and before
/// counting an opening in the enumeration guard.
///
/// `decide` permitting a document implies `decide_record` permits the record, with one
/// exception: an author without standing (unauthorized, or blocked) reads their own documents
/// (`Basis::Author`) but may not consult the record. The service reaches those documents by id or
/// by an "authored by me" query, both of which still ask `decide` per document.
pub fn decide_record(actor: &Actor, ctx: &AccessContext<'_>, policy: &PatientPolicy) -> AccessDecision {
    match standing(actor, ctx, policy) {
        Ok(basis) => AccessDecision::Permit(basis),
        Err(reason) => AccessDecision::Deny(reason),
    }
}

fn is_reimbursement(type_code: &Code) -> bool {
    type_code.code == REIMBURSEMENT_TYPE && type_code.system == TRE_A05_SYSTEM
}

/// May this actor read this document (its metadata, content, text and derived data)?
pub fn decide(actor: &Actor, ctx: &AccessContext<'_>, policy: &PatientPolicy, doc: &DocumentMeta) -> AccessDecision {
    match decide_inner(actor, ctx, policy, doc) {
        Ok(basis) => AccessDecision::Permit(basis),
        Err(reason) => AccessDecision::Deny(reason),
    }
}

fn decide_inner(actor: &Actor, ctx: &AccessContext<'_>, policy: &PatientPolicy, doc: &DocumentMeta) -> Result<Basis, DenyReason> {
    if matches!(actor.kind, ActorKind::InsurerAgent | ActorKind::Operator | ActorKind::PrivacyOfficer | ActorKind::System { .. }) {
        return Err(DenyReason::RoleNeverReads);
    }
    if doc.ins != *ctx.ins {
        return Err(DenyReason::OtherRecord);
    }
    let professional = match &actor.kind {
        ActorKind::Professional(p) | ActorKind::Regulator(p) => Some(p),
        _ => None,
    };
    if professional.is_some() && ctx.record_status == RecordStatus::Active && actor.has_reference(&doc.author) {
        return Ok(Basis::Author);
    }
    let basis = standing(actor, ctx, policy)?;
    let is_author = actor.has_reference(&doc.author);
    if doc.status == DocumentStatus::EnteredInError && !is_author {
        // Withdrawn as an error: its content is wrong, so only its author, who may need to know
        // what was withdrawn, still reads it.
        return Err(DenyReason::EnteredInError);
    }
    let labelled = |l| doc.labels.contains(&l);
    match (basis, professional) {
        (Basis::Patient | Basis::Representative, _) => {
            if labelled(SecurityLabel::InvisiblePatient) {
                return Err(DenyReason::InvisiblePatient);
            }
            if basis == Basis::Representative && labelled(SecurityLabel::InvisibleRepresentantsLegaux) {
                return Err(DenyReason::InvisibleRepresentatives);
            }
            Ok(basis)
        }
        (_, Some(p)) => {
            // Binds the médecin traitant too: the patient may delete this history outright
            // (rule 13), so hiding it from everyone must be possible as well.
            if policy.reimbursement_hidden && is_reimbursement(&doc.xds.type_code) {
                return Err(DenyReason::ReimbursementHidden);
            }
            if matches!(basis, Basis::MedecinTraitant | Basis::ExtendedRights) {
                return Ok(basis);
            }
            if labelled(SecurityLabel::MasquePs) {
                return Err(DenyReason::MaskedFromProfessionals);
            }
            if !ctx.matrix.permits(p.profession, &doc.xds.type_code) {
                return Err(DenyReason::MatrixExcludesType);
            }
            Ok(basis)
        }
        // A professional basis always comes with a professional identity.
        (_, None) => Err(DenyReason::RoleNeverReads),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LabelDenied {
    /// The actor may not see the document: the edge answers as for a missing one (rule 14).
    #[error("no such document")]
    NotVisible,
    #[error("only the patient or a legal representative sets or lifts MASQUE_PS")]
    HolderOnly,
    #[error("only the document's author sets or lifts this label")]
    AuthorOnly,
}

impl LabelDenied {
    pub fn code(self) -> &'static str {
        match self {
            LabelDenied::NotVisible => "not_visible",
            LabelDenied::HolderOnly => "holder_only",
            LabelDenied::AuthorOnly => "author_only",
        }
    }
}

/// Who may set or lift a label on a document. Setting and lifting need the same right, so the
/// operation is not a parameter.
///
/// First, the actor must be able to read the document (`decide`): nobody changes what they
/// cannot see, and the answer is then the same as for a missing document. So a representative
/// does not touch a document hidden from representatives, and nobody changes labels on a record
/// that is not active — except its holder, whose own choice MASQUE_PS is.
/// Then: MASQUE_PS is the patient's (or a representative's) choice (rule 6); INVISIBLE_PATIENT and
/// INVISIBLE_REPRESENTANTS_LEGAUX are the author's (rules 7, 8).
pub fn authorize_label_change(
    actor: &Actor,
    ctx: &AccessContext<'_>,
    policy: &PatientPolicy,
    doc: &DocumentMeta,
    label: SecurityLabel,
) -> Result<(), LabelDenied> {
    if !decide(actor, ctx, policy, doc).is_permit() {
        return Err(LabelDenied::NotVisible);
    }
    match label {
        SecurityLabel::MasquePs if policy.holder(actor, ctx.ins, ctx.now).is_some() => Ok(()),
        SecurityLabel::MasquePs => Err(LabelDenied::HolderOnly),
        SecurityLabel::InvisiblePatient | SecurityLabel::InvisibleRepresentantsLegaux if actor.has_reference(&doc.author) => Ok(()),
        SecurityLabel::InvisiblePatient | SecurityLabel::InvisibleRepresentantsLegaux => Err(LabelDenied::AuthorOnly),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_serialised_form_and_are_unique() {
        let mut codes = Vec::new();
        for b in Basis::ALL {
            assert_eq!(serde_json::to_value(b).expect("serialises"), b.code());
            codes.push(b.code());
        }
        for r in DenyReason::ALL {
            assert_eq!(serde_json::to_value(r).expect("serialises"), r.code());
            codes.push(r.code());
        }
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "codes are unique across bases and reasons");
        let d = AccessDecision::Deny(DenyReason::Blocked);
        assert_eq!(serde_json::to_string(&d).expect("serialises"), r#"{"outcome":"deny","code":"blocked"}"#);
        assert_eq!((d.outcome(), d.code()), ("deny", "blocked"));
    }
}
