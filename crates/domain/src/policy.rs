//! The patient's choices about their record (access rules 2, 3, 5, 9, 10, 11, 13 of
//! `docs/access-rules.md`) and
//! the pure transitions that change them.
//!
//! Changing the policy is two steps, so that the second cannot be reached without the first:
//! [`authorize_change`] checks *who* may make a change and returns an [`ApprovedChange`] (a proof
//! value only it can build); [`PatientPolicy::apply`] checks the change *itself* against the
//! current policy and the clock. The service loads, authorizes, applies and saves.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use crate::{Actor, ActorKind, Ins, Profession, Rpps};

/// A professional's authorization to consult the record (rule 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub rpps: Rpps,
    pub granted_at: OffsetDateTime,
    /// `None`: until revoked.
    pub expires_at: Option<OffsetDateTime>,
    /// `Actor::reference()` of whoever recorded it (patient, representative or declaring professional).
    pub granted_by: String,
    /// Set when a professional declared the patient's consent at the point of care.
    pub declared: Option<Declaration>,
}

/// Who declared an authorization at the point of care, and when (rule 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// `Actor::reference()` of the declaring professional (`rpps:…`).
    pub by: String,
    pub at: OffsetDateTime,
}

impl Authorization {
    pub fn is_current(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepresentationKind {
    Minor,
    ProtectedAdult,
}

/// A legal representative registered on the record (rule 9). Registration is one of two keys:
/// the representative also needs a token whose `represents` names the patient's INS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    /// `Actor::reference()` of the representative (`iss#sub`).
    pub representative: String,
    pub kind: RepresentationKind,
    pub since: OffsetDateTime,
    /// Exclusive end; `None`: until ended.
    pub until: Option<OffsetDateTime>,
    pub registered_by: String,
    pub registered_at: OffsetDateTime,
}

impl Representation {
    pub fn is_current(&self, now: OffsetDateTime) -> bool {
        self.since <= now && self.until.is_none_or(|u| now < u)
    }
}

/// The patient's choices, as plain data. Not a storage or wire format: the store and the API
/// have their own (carnet-store's `policy_format`, carnet-server's `routes::policy`), so a field
/// here can be renamed without breaking stored rows or clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientPolicy {
    /// At most one per professional: a new grant replaces the old one.
    pub authorizations: Vec<Authorization>,
    pub blocked: Vec<Rpps>,
    pub medecin_traitant: Option<Rpps>,
    /// Professionals given the médecin traitant's rights (rule 5).
    pub extended_rights: Vec<Rpps>,
    pub representatives: Vec<Representation>,
    /// Rule 10.
    pub opposes_bris_de_glace: bool,
    /// Rule 11, a separate switch.
    pub opposes_samu: bool,
    /// Rule 13.
    pub reimbursement_hidden: bool,
}

/// How an actor stands as the record's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Patient,
    Representative,
}

impl PatientPolicy {
    pub fn is_blocked(&self, rpps: &Rpps) -> bool {
        self.blocked.contains(rpps)
    }

    pub fn authorization(&self, rpps: &Rpps) -> Option<&Authorization> {
        self.authorizations.iter().find(|a| &a.rpps == rpps)
    }

    pub fn is_medecin_traitant(&self, rpps: &Rpps) -> bool {
        self.medecin_traitant.as_ref() == Some(rpps)
    }

    pub fn has_extended_rights(&self, rpps: &Rpps) -> bool {
        self.extended_rights.contains(rpps)
    }

    /// A representative acts only while registered, within dates, and with a token that
    /// represents this INS: one key alone (a stale registration, a forged-looking claim) is not enough.
    pub fn is_current_representative(&self, actor: &Actor, ins: &Ins, now: OffsetDateTime) -> bool {
        matches!(actor.kind, ActorKind::Representative { .. })
            && actor.speaks_for(ins)
            && self.representatives.iter().any(|r| actor.has_reference(&r.representative) && r.is_current(now))
    }

    /// The patient themselves, or a current representative.
    pub fn holder(&self, actor: &Actor, ins: &Ins, now: OffsetDateTime) -> Option<Holder> {
        match &actor.kind {
            ActorKind::Patient { ins: own } if own == ins => Some(Holder::Patient),
            ActorKind::Representative { .. } if self.is_current_representative(actor, ins, now) => Some(Holder::Representative),
            _ => None,
        }
    }
}

/// The default expiry of an authorization, per profession (rule 2), applied when none is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationWindows(BTreeMap<Profession, Duration>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the authorization window of {0} must be a positive duration")]
pub struct InvalidWindow(pub Profession);

impl AuthorizationWindows {
    /// No default expiry for anyone.
    pub fn none() -> AuthorizationWindows {
        AuthorizationWindows(BTreeMap::new())
    }

    pub fn new(windows: impl IntoIterator<Item = (Profession, Duration)>) -> Result<AuthorizationWindows, InvalidWindow> {
        let mut map = BTreeMap::new();
        for (p, d) in windows {
            if !d.is_positive() {
                return Err(InvalidWindow(p));
            }
            map.insert(p, d);
        }
        Ok(AuthorizationWindows(map))
    }

    pub fn window(&self, profession: Profession) -> Option<Duration> {
        self.0.get(&profession).copied()
    }
}

impl Default for AuthorizationWindows {
    /// Pharmacy counters only (pharmacists and their préparateurs): 3 days. A pharmacy visit is
    /// usually a one-off dispensing, in whichever pharmacy is open, so a permanent authorization
    /// would outlive its purpose. Doctors, nurses and therapists follow the patient over time;
    /// asking again at each visit is the friction Carnet exists to remove, and the patient can
    /// always set an expiry or revoke.
    fn default() -> Self {
        let three_days = Duration::days(3);
        AuthorizationWindows(BTreeMap::from([
            (Profession::Pharmacien, three_days),
            (Profession::PreparateurPharmacie, three_days),
            (Profession::PreparateurPharmacieHospitaliere, three_days),
        ]))
    }
}

/// A change to the patient's policy. Its [`code`](PolicyChange::code) names it in notifications;
/// the API reads it from its own request type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyChange {
    /// By the patient or a representative. `profession` comes from the directory (it selects the
    /// default window); unknown, no default window applies.
    Authorize {
        rpps: Rpps,
        profession: Option<Profession>,
        expires_at: Option<OffsetDateTime>,
    },
    /// By a professional, for themselves, at the point of care: they declare the patient's consent.
    DeclareAuthorization {
        rpps: Rpps,
        expires_at: Option<OffsetDateTime>,
    },
    Revoke {
        rpps: Rpps,
    },
    Block {
        rpps: Rpps,
    },
    Unblock {
        rpps: Rpps,
    },
    SetMedecinTraitant {
        rpps: Option<Rpps>,
    },
    GrantExtendedRights {
        rpps: Rpps,
    },
    RevokeExtendedRights {
        rpps: Rpps,
    },
    AddRepresentative {
        representative: String,
        kind: RepresentationKind,
        /// `None`: from now.
        since: Option<OffsetDateTime>,
        until: Option<OffsetDateTime>,
    },
    EndRepresentative {
        representative: String,
    },
    SetBrisDeGlaceOpposition {
        opposed: bool,
    },
    SetSamuOpposition {
        opposed: bool,
    },
    HideReimbursement {
        hidden: bool,
    },
}

impl PolicyChange {
    /// A stable name for the ledger.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyChange::Authorize { .. } => "authorize",
            PolicyChange::DeclareAuthorization { .. } => "declare_authorization",
            PolicyChange::Revoke { .. } => "revoke",
            PolicyChange::Block { .. } => "block",
            PolicyChange::Unblock { .. } => "unblock",
            PolicyChange::SetMedecinTraitant { .. } => "set_medecin_traitant",
            PolicyChange::GrantExtendedRights { .. } => "grant_extended_rights",
            PolicyChange::RevokeExtendedRights { .. } => "revoke_extended_rights",
            PolicyChange::AddRepresentative { .. } => "add_representative",
            PolicyChange::EndRepresentative { .. } => "end_representative",
            PolicyChange::SetBrisDeGlaceOpposition { .. } => "set_bris_de_glace_opposition",
            PolicyChange::SetSamuOpposition { .. } => "set_samu_opposition",
            PolicyChange::HideReimbursement { .. } => "hide_reimbursement",
        }
    }
}

/// Why an actor may not make a change. Messages stay generic: they go to the caller, and must not
/// tell a professional what the patient decided about them (rule 14); the code goes to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyDenied {
    #[error("only the patient or a current legal representative changes this record's access policy")]
    NotHolder,
    #[error("this role may not make this change to a patient's access policy")]
    Role,
    #[error("a professional declares an authorization only for themselves")]
    NotForThemselves,
    #[error("this professional may not declare an authorization on this record")]
    Blocked,
    #[error("a representative ends only their own representation")]
    NotOwnRepresentation,
}

impl PolicyDenied {
    pub fn code(self) -> &'static str {
        match self {
            PolicyDenied::NotHolder => "not_holder",
            PolicyDenied::Role => "role",
            PolicyDenied::NotForThemselves => "not_for_themselves",
            PolicyDenied::Blocked => "blocked",
            PolicyDenied::NotOwnRepresentation => "not_own_representation",
        }
    }
}

/// Why a change is refused on its merits (the edge maps these to 422, or 409 for `Blocked`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("expires_at must be in the future")]
    ExpiryInPast,
    #[error("this professional is blocked: unblock them first")]
    Blocked,
    #[error("representative: an actor reference `issuer#subject` of 3 to {max} printable characters")]
    InvalidRepresentative { max: usize },
    #[error("until must be after since and in the future")]
    InvalidPeriod,
    #[error("no such representative on this record")]
    NoSuchRepresentation,
}

impl PolicyError {
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::ExpiryInPast => "expiry_in_past",
            PolicyError::Blocked => "blocked",
            PolicyError::InvalidRepresentative { .. } => "invalid_representative",
            PolicyError::InvalidPeriod => "invalid_period",
            PolicyError::NoSuchRepresentation => "no_such_representation",
        }
    }
}

/// Proof that `authorize_change` let this actor make this change. Only that function builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an approved change does nothing until applied"]
pub struct ApprovedChange {
    by: String,
    /// The declaring professional's profession (from their token), for the default window.
    declarer: Option<Profession>,
    change: PolicyChange,
}

impl ApprovedChange {
    /// `Actor::reference()` of who makes the change.
    pub fn by(&self) -> &str {
        &self.by
    }

    pub fn change(&self) -> &PolicyChange {
        &self.change
    }
}

/// Who may change the patient's policy.
///
/// - The patient, or a current representative: any change, except that a representative ends
///   only their own representation (one parent may not remove the other; the patient or the
///   insurer's desk may).
/// - A professional: `DeclareAuthorization` for themselves, unless blocked.
/// - An insurer agent at the desk: `AddRepresentative` and `EndRepresentative`, registering a
///   legal mandate from paper (birth certificate, court decision) and its end (a guardian
///   replaced). The second key stays the identity provider's `represents` claim, so the desk
///   alone gives nobody access. Nothing else: the insurer does not steer who reads the record.
/// - Nobody else.
pub fn authorize_change(
    actor: &Actor,
    ins: &Ins,
    policy: &PatientPolicy,
    change: &PolicyChange,
    now: OffsetDateTime,
) -> Result<ApprovedChange, PolicyDenied> {
    let approved = |declarer| ApprovedChange { by: actor.reference(), declarer, change: change.clone() };
    match &actor.kind {
        ActorKind::Patient { .. } | ActorKind::Representative { .. } => match policy.holder(actor, ins, now) {
            None => Err(PolicyDenied::NotHolder),
            Some(Holder::Representative) => match change {
                PolicyChange::EndRepresentative { representative } if !actor.has_reference(representative) => {
                    Err(PolicyDenied::NotOwnRepresentation)
                }
                _ => Ok(approved(None)),
            },
            Some(Holder::Patient) => Ok(approved(None)),
        },
        ActorKind::Professional(p) => match change {
            PolicyChange::DeclareAuthorization { rpps, .. } if *rpps != p.rpps => Err(PolicyDenied::NotForThemselves),
            PolicyChange::DeclareAuthorization { .. } if policy.is_blocked(&p.rpps) => Err(PolicyDenied::Blocked),
            PolicyChange::DeclareAuthorization { .. } => Ok(approved(Some(p.profession))),
            _ => Err(PolicyDenied::Role),
        },
        ActorKind::InsurerAgent => match change {
            PolicyChange::AddRepresentative { .. } | PolicyChange::EndRepresentative { .. } => Ok(approved(None)),
            _ => Err(PolicyDenied::Role),
        },
        ActorKind::Regulator(_) | ActorKind::System { .. } | ActorKind::PrivacyOfficer | ActorKind::Operator => Err(PolicyDenied::Role),
    }
}

pub const MAX_REPRESENTATIVE_REFERENCE: usize = 512;

/// An `iss#sub` reference: representatives are never RPPS holders acting as such.
fn check_representative(reference: &str) -> Result<(), PolicyError> {
    let err = PolicyError::InvalidRepresentative { max: MAX_REPRESENTATIVE_REFERENCE };
    let well_formed = reference.len() <= MAX_REPRESENTATIVE_REFERENCE
        && reference.chars().all(|c| !c.is_control() && !c.is_whitespace())
        && reference.rsplit_once('#').is_some_and(|(iss, sub)| !iss.is_empty() && !sub.is_empty());
    if well_formed { Ok(()) } else { Err(err) }
}

impl PatientPolicy {
    /// Applies an approved change at `now`. On error nothing changes.
    ///
    /// - An expiry must be in the future. With none given, the profession's default window
    ///   applies. A professional's own declaration is also capped by that window: the window
    ///   exists for point-of-care declarations, and a declarer must not outlast it by asking.
    /// - A new authorization replaces the professional's previous one (the latest consent wins).
    /// - Nothing grants a blocked professional anything (authorization, médecin traitant,
    ///   extended rights) until the patient unblocks them: a block is the patient's strongest
    ///   word, and a later grant that silently unblocked would be easy to give by mistake.
    /// - Blocking revokes the authorization and extended rights (rule 3), and ends the médecin
    ///   traitant designation if it names them.
    /// - Removing what is not there (revoke, unblock, revoke extended rights) is a no-op, so
    ///   retries are safe; ending an unknown representative is an error, because its key is free
    ///   text and a typo must not pass for success.
    pub fn apply(&mut self, approved: ApprovedChange, now: OffsetDateTime, windows: &AuthorizationWindows) -> Result<(), PolicyError> {
        let ApprovedChange { by, declarer, change } = approved;
        match change {
            PolicyChange::Authorize { rpps, profession, expires_at } => {
                let window = profession.and_then(|p| windows.window(p));
                let expires_at = self.expiry(&rpps, expires_at, window, false, now)?;
                self.grant(Authorization { rpps, granted_at: now, expires_at, granted_by: by, declared: None });
            }
            PolicyChange::DeclareAuthorization { rpps, expires_at } => {
                let window = declarer.and_then(|p| windows.window(p));
                let expires_at = self.expiry(&rpps, expires_at, window, true, now)?;
                let declared = Some(Declaration { by: by.clone(), at: now });
                self.grant(Authorization { rpps, granted_at: now, expires_at, granted_by: by, declared });
            }
            PolicyChange::Revoke { rpps } => self.authorizations.retain(|a| a.rpps != rpps),
            PolicyChange::Block { rpps } => {
                self.authorizations.retain(|a| a.rpps != rpps);
                self.extended_rights.retain(|r| *r != rpps);
                if self.medecin_traitant.as_ref() == Some(&rpps) {
                    self.medecin_traitant = None;
                }
                if !self.blocked.contains(&rpps) {
                    self.blocked.push(rpps);
                }
            }
            PolicyChange::Unblock { rpps } => self.blocked.retain(|r| *r != rpps),
            PolicyChange::SetMedecinTraitant { rpps } => {
                if rpps.as_ref().is_some_and(|r| self.is_blocked(r)) {
                    return Err(PolicyError::Blocked);
                }
                self.medecin_traitant = rpps;
            }
            PolicyChange::GrantExtendedRights { rpps } => {
                if self.is_blocked(&rpps) {
                    return Err(PolicyError::Blocked);
                }
                if !self.extended_rights.contains(&rpps) {
                    self.extended_rights.push(rpps);
                }
            }
            PolicyChange::RevokeExtendedRights { rpps } => self.extended_rights.retain(|r| *r != rpps),
            PolicyChange::AddRepresentative { representative, kind, since, until } => {
                check_representative(&representative)?;
                let since = since.unwrap_or(now);
                if until.is_some_and(|u| u <= since || u <= now) {
                    return Err(PolicyError::InvalidPeriod);
                }
                self.representatives.retain(|r| r.representative != representative);
                self.representatives.push(Representation { representative, kind, since, until, registered_by: by, registered_at: now });
            }
            PolicyChange::EndRepresentative { representative } => {
                let r = self
                    .representatives
                    .iter_mut()
                    .find(|r| r.representative == representative)
                    .ok_or(PolicyError::NoSuchRepresentation)?;
                // Kept, ended, so the record shows who represented the patient and until when.
                if r.until.is_none_or(|u| u > now) {
                    r.until = Some(now);
                }
            }
            PolicyChange::SetBrisDeGlaceOpposition { opposed } => self.opposes_bris_de_glace = opposed,
            PolicyChange::SetSamuOpposition { opposed } => self.opposes_samu = opposed,
            PolicyChange::HideReimbursement { hidden } => self.reimbursement_hidden = hidden,
        }
        Ok(())
    }

    fn expiry(
        &self,
        rpps: &Rpps,
        given: Option<OffsetDateTime>,
        window: Option<Duration>,
        capped: bool,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, PolicyError> {
        if self.is_blocked(rpps) {
            return Err(PolicyError::Blocked);
        }
        if given.is_some_and(|e| e <= now) {
            return Err(PolicyError::ExpiryInPast);
        }
        let default = window.map(|w| now + w);
        Ok(match (given, default) {
            (Some(g), Some(d)) if capped => Some(g.min(d)),
            (Some(g), _) => Some(g),
            (None, d) => d,
        })
    }

    fn grant(&mut self, authorization: Authorization) {
        self.authorizations.retain(|a| a.rpps != authorization.rpps);
        self.authorizations.push(authorization);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representative_references_are_checked() {
        for ok in ["https://idp.example#42", "a#b", "https://x/#y#z"] {
            assert_eq!(check_representative(ok), Ok(()), "{ok}");
        }
        for bad in ["", "#", "a#", "#b", "rpps:10000000019", "a b#c", "a#b\n", &format!("a#{}", "b".repeat(600))] {
            assert!(check_representative(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn windows_refuse_non_positive_durations() {
        assert_eq!(AuthorizationWindows::new([(Profession::Medecin, Duration::ZERO)]), Err(InvalidWindow(Profession::Medecin)));
        let w = AuthorizationWindows::new([(Profession::Infirmier, Duration::days(30))]).expect("positive");
        assert_eq!(w.window(Profession::Infirmier), Some(Duration::days(30)));
        assert_eq!(w.window(Profession::Pharmacien), None);
        assert_eq!(AuthorizationWindows::default().window(Profession::Pharmacien), Some(Duration::days(3)));
        assert_eq!(AuthorizationWindows::default().window(Profession::Medecin), None);
    }
}
