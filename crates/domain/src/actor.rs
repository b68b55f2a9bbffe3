//! Who is asking. An `Actor` is built once, at the edge, from a verified token's claims; every
//! rule downstream takes it as given. Each role carries exactly what its rules need, so a
//! professional without an RPPS, or a patient without an INS, cannot be represented.

use serde::{Deserialize, Serialize};

use crate::{Finess, Ins, Profession, Rpps, SmartScope};

/// The `carnet_role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    Representative,
    Professional,
    Regulator,
    System,
    InsurerAgent,
    PrivacyOfficer,
    Operator,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Patient,
        Role::Representative,
        Role::Professional,
        Role::Regulator,
        Role::System,
        Role::InsurerAgent,
        Role::PrivacyOfficer,
        Role::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Representative => "representative",
            Role::Professional => "professional",
            Role::Regulator => "regulator",
            Role::System => "system",
            Role::InsurerAgent => "insurer_agent",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A health professional as named by their token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfessionalIdentity {
    pub rpps: Rpps,
    pub profession: Profession,
    pub specialty: Option<String>,
    pub organisation: Option<Finess>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ActorKind {
    Patient {
        ins: Ins,
    },
    /// Acts for each INS listed (a minor's parent, a protected adult's guardian).
    Representative {
        represents: Vec<Ins>,
    },
    Professional(ProfessionalIdentity),
    /// A SAMU regulating doctor.
    Regulator(ProfessionalIdentity),
    /// Hospital, lab or practice software, feeding with a system identity.
    System {
        organisation: Option<Finess>,
    },
    InsurerAgent,
    PrivacyOfficer,
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `iss` of the token, so two issuers' subjects never collide.
    pub issuer: String,
    /// `sub` of the token.
    pub subject: String,
    /// Display name, for the access history.
    pub name: Option<String>,
    pub kind: ActorKind,
    /// What the token's `scope` claim lets the actor do, on top of the access rules.
    pub scopes: Scopes,
    /// The OAuth client (the app) the token was issued to: `client_id` (RFC 9068) or `azp`.
    pub client: Option<String>,
}

/// The SMART scopes a request is held to. A scope only narrows what the access rules permit;
/// it never widens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "scopes", rename_all = "snake_case")]
pub enum Scopes {
    /// No `scope` claim, from an issuer configured to let this role act on its role alone
    /// (practice software, the demo, the portal's own sessions): the access rules decide alone.
    RoleOnly,
    /// The token's scopes: a request needs one that grants it. Empty grants nothing.
    Granted(Vec<SmartScope>),
}

impl Scopes {
    /// The granted scopes; `None` when the role alone decides.
    pub fn granted(&self) -> Option<&[SmartScope]> {
        match self {
            Scopes::RoleOnly => None,
            Scopes::Granted(s) => Some(s),
        }
    }
}

impl Actor {
    pub fn role(&self) -> Role {
        match &self.kind {
            ActorKind::Patient { .. } => Role::Patient,
            ActorKind::Representative { .. } => Role::Representative,
            ActorKind::Professional(_) => Role::Professional,
            ActorKind::Regulator(_) => Role::Regulator,
            ActorKind::System { .. } => Role::System,
            ActorKind::InsurerAgent => Role::InsurerAgent,
            ActorKind::PrivacyOfficer => Role::PrivacyOfficer,
            ActorKind::Operator => Role::Operator,
        }
    }

    /// A stable reference to this actor for records and logs: the same person across issuers
    /// (the portal's provider, an app's, practice software's) — the RPPS for professionals, the
    /// INS for a patient acting for themselves; `iss#sub` otherwise.
    pub fn reference(&self) -> String {
        match &self.kind {
            ActorKind::Professional(p) | ActorKind::Regulator(p) => format!("rpps:{}", p.rpps),
            ActorKind::Patient { ins } => format!("ins:{ins}"),
            _ => format!("{}#{}", self.issuer, self.subject),
        }
    }

    /// `self.reference() == reference`, without building the reference: the access decision
    /// compares authors on every document of every read.
    pub fn has_reference(&self, reference: &str) -> bool {
        match &self.kind {
            ActorKind::Professional(p) | ActorKind::Regulator(p) => reference.strip_prefix("rpps:") == Some(p.rpps.as_str()),
            ActorKind::Patient { ins } => reference.strip_prefix("ins:") == Some(ins.as_str()),
            _ => {
                reference.strip_prefix(self.issuer.as_str()).and_then(|rest| rest.strip_prefix('#')).is_some_and(|sub| sub == self.subject)
            }
        }
    }

    /// The organisation the actor works for, when the token names one.
    pub fn organisation(&self) -> Option<&Finess> {
        match &self.kind {
            ActorKind::Professional(p) | ActorKind::Regulator(p) => p.organisation.as_ref(),
            ActorKind::System { organisation } => organisation.as_ref(),
            _ => None,
        }
    }

    /// The RPPS identity a professional or a SAMU regulator acts under; `None` for other roles.
    pub fn professional(&self) -> Option<&ProfessionalIdentity> {
        match &self.kind {
            ActorKind::Professional(p) | ActorKind::Regulator(p) => Some(p),
            _ => None,
        }
    }

    /// The profession of a professional or regulator, as their token names it.
    pub fn profession(&self) -> Option<Profession> {
        self.professional().map(|p| p.profession)
    }

    /// Whether the actor may hold an emergency access (rules 10, 11: professionals open bris de
    /// glace, regulators SAMU access): for other roles there is none to load.
    pub fn holds_emergency_accesses(&self) -> bool {
        self.professional().is_some()
    }

    /// The records a patient or representative acts for: their own, or those their token
    /// represents (registration aside). `None` for the other roles, who act on records they do
    /// not speak for.
    pub fn spoken_for(&self) -> Option<&[Ins]> {
        match &self.kind {
            ActorKind::Patient { ins } => Some(std::slice::from_ref(ins)),
            ActorKind::Representative { represents } => Some(represents),
            _ => None,
        }
    }

    /// True when the actor is the patient, or represents them.
    pub fn speaks_for(&self, ins: &Ins) -> bool {
        match &self.kind {
            ActorKind::Patient { ins: own } => own == ins,
            ActorKind::Representative { represents } => represents.contains(ins),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(issuer: &str, subject: &str, kind: ActorKind) -> Actor {
        Actor { issuer: issuer.into(), subject: subject.into(), name: None, kind, scopes: Scopes::RoleOnly, client: None }
    }

    #[test]
    fn has_reference_agrees_with_reference() {
        let rpps = Rpps::from_body("1000000001").expect("digits");
        let ins = Ins::from_body("1841276451089").expect("valid");
        let pro = ProfessionalIdentity { rpps: rpps.clone(), profession: Profession::Medecin, specialty: None, organisation: None };
        let actors = [
            actor("https://idp", "42", ActorKind::Professional(pro.clone())),
            actor("https://idp", "42", ActorKind::Regulator(pro)),
            actor("https://idp", "42", ActorKind::InsurerAgent),
            actor("https://idp#x", "y", ActorKind::Operator),
            actor("https://idp", "x#y", ActorKind::Operator),
            actor("", "", ActorKind::PrivacyOfficer),
            actor("https://idp", "42", ActorKind::Patient { ins: ins.clone() }),
        ];
        let candidates = [
            format!("ins:{ins}"),
            format!("ins:{ins}0"),
            ins.to_string(),
            format!("rpps:{rpps}"),
            format!("rpps:{rpps}0"),
            rpps.to_string(),
            "https://idp#42".into(),
            "https://idp#42 ".into(),
            "https://idp#x#y".into(),
            "https://idp42".into(),
            "https://idp#".into(),
            "#".into(),
            String::new(),
        ];
        for a in &actors {
            for c in &candidates {
                assert_eq!(a.has_reference(c), a.reference() == *c, "{a:?} vs {c:?}");
            }
            assert!(a.has_reference(&a.reference()));
        }
    }
}
