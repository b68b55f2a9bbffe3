//! A cast of actors, a patient's policy and a document shared by the policy tests.
#![allow(dead_code)] // each test binary uses a part of it

use carnet_domain::codes::{Code, CodeLists};
use carnet_domain::document::{DocumentId, XdsMetadata};
use carnet_domain::{
    AccessContext, Actor, ActorKind, Authorization, DocumentMeta, DocumentStatus, EmergencyAccess, EmergencyKind, Ins, PatientPolicy,
    Profession, ProfessionMatrix, ProfessionalIdentity, RecordStatus, Representation, RepresentationKind, Rpps,
};
use std::sync::LazyLock;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const NOW: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);
pub const ISSUER: &str = "https://idp.example";

/// The record's patient, and someone else.
pub fn ins() -> Ins {
    Ins::from_body("2840575123456").expect("valid body")
}
pub fn other_ins() -> Ins {
    Ins::from_body("1790133987654").expect("valid body")
}

pub fn rpps(n: u8) -> Rpps {
    Rpps::from_body(&format!("10000000{n:02}")).expect("10 digits")
}

fn actor(subject: &str, kind: ActorKind) -> Actor {
    Actor { issuer: ISSUER.into(), subject: subject.into(), name: None, kind, scopes: carnet_domain::Scopes::RoleOnly, client: None }
}

pub fn identity(n: u8, profession: Profession) -> ProfessionalIdentity {
    ProfessionalIdentity { rpps: rpps(n), profession, specialty: None, organisation: None }
}

pub fn professional(n: u8, profession: Profession) -> Actor {
    actor(&format!("pro-{n}"), ActorKind::Professional(identity(n, profession)))
}

pub fn regulator(n: u8) -> Actor {
    actor(&format!("reg-{n}"), ActorKind::Regulator(identity(n, Profession::Medecin)))
}

pub fn patient_of(ins: Ins) -> Actor {
    actor(&format!("pat-{}", ins.as_str()), ActorKind::Patient { ins })
}

pub fn representative(subject: &str, represents: Vec<Ins>) -> Actor {
    actor(subject, ActorKind::Representative { represents })
}

pub fn system() -> Actor {
    actor("lab-software", ActorKind::System { organisation: None })
}
pub fn insurer() -> Actor {
    actor("agent-1", ActorKind::InsurerAgent)
}
pub fn operator() -> Actor {
    actor("ops-1", ActorKind::Operator)
}
pub fn privacy_officer() -> Actor {
    actor("dpo-1", ActorKind::PrivacyOfficer)
}

/// The cast of the decision table: who they are and what the base policy says about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Patient,
    OtherPatient,
    /// Registered representative (a parent), token represents the patient.
    Parent,
    /// Was registered; the registration ended yesterday.
    ExParent,
    /// Token represents the patient, never registered.
    UnregisteredParent,
    /// Registered, but the token represents someone else.
    ParentWrongToken,
    /// Médecin, authorized without expiry.
    Doctor,
    /// Infirmier, authorized.
    Nurse,
    /// Pharmacien, authorized until NOW + 3 days.
    Pharmacist,
    /// Chirurgien-dentiste, authorized.
    Dentist,
    /// Médecin traitant (no separate authorization).
    MedecinTraitant,
    /// Masseur-kinésithérapeute with extended rights.
    Extended,
    /// Médecin with no authorization.
    Stranger,
    /// Infirmier with no authorization.
    StrangerNurse,
    /// Médecin, author of the base document, not authorized.
    Author,
    /// Médecin whose authorization expired yesterday.
    Expired,
    /// SAMU regulating doctor.
    Regulator,
    System,
    Insurer,
    Operator,
    PrivacyOfficer,
}

impl Who {
    pub const ALL: [Who; 21] = [
        Who::Patient,
        Who::OtherPatient,
        Who::Parent,
        Who::ExParent,
        Who::UnregisteredParent,
        Who::ParentWrongToken,
        Who::Doctor,
        Who::Nurse,
        Who::Pharmacist,
        Who::Dentist,
        Who::MedecinTraitant,
        Who::Extended,
        Who::Stranger,
        Who::StrangerNurse,
        Who::Author,
        Who::Expired,
        Who::Regulator,
        Who::System,
        Who::Insurer,
        Who::Operator,
        Who::PrivacyOfficer,
    ];

    pub fn actor(self) -> Actor {
        match self {
            Who::Patient => patient_of(ins()),
            Who::OtherPatient => patient_of(other_ins()),
            Who::Parent => representative("parent", vec![other_ins(), ins()]),
            Who::ExParent => representative("ex-parent", vec![ins()]),
            Who::UnregisteredParent => representative("stranger-parent", vec![ins()]),
            Who::ParentWrongToken => representative("parent-2", vec![other_ins()]),
            Who::Doctor => professional(1, Profession::Medecin),
            Who::Nurse => professional(2, Profession::Infirmier),
            Who::Pharmacist => professional(3, Profession::Pharmacien),
            Who::Dentist => professional(10, Profession::ChirurgienDentiste),
            Who::MedecinTraitant => professional(4, Profession::Medecin),
            Who::Extended => professional(5, Profession::MasseurKinesitherapeute),
            Who::Stranger => professional(6, Profession::Medecin),
            Who::StrangerNurse => professional(11, Profession::Infirmier),
            Who::Author => professional(7, Profession::Medecin),
            Who::Expired => professional(8, Profession::Medecin),
            Who::Regulator => regulator(9),
            Who::System => system(),
            Who::Insurer => insurer(),
            Who::Operator => operator(),
            Who::PrivacyOfficer => privacy_officer(),
        }
    }

    pub fn reference(self) -> String {
        self.actor().reference()
    }

    /// The RPPS of a professional or regulator.
    pub fn rpps(self) -> Rpps {
        match self.actor().kind {
            ActorKind::Professional(p) | ActorKind::Regulator(p) => p.rpps,
            other => panic!("{self:?} has no RPPS: {other:?}"),
        }
    }
}

pub fn authorization(rpps: Rpps, expires_at: Option<OffsetDateTime>) -> Authorization {
    Authorization { rpps, granted_at: NOW - Duration::days(30), expires_at, granted_by: Who::Patient.reference(), declared: None }
}

pub fn representation(who: Who, since: OffsetDateTime, until: Option<OffsetDateTime>) -> Representation {
    Representation {
        representative: who.reference(),
        kind: RepresentationKind::Minor,
        since,
        until,
        registered_by: Who::Insurer.reference(),
        registered_at: since,
    }
}

/// What the patient chose, in the decision table's starting point.
pub fn base_policy() -> PatientPolicy {
    PatientPolicy {
        authorizations: vec![
            authorization(Who::Doctor.rpps(), None),
            authorization(Who::Nurse.rpps(), None),
            authorization(Who::Pharmacist.rpps(), Some(NOW + Duration::days(3))),
            authorization(Who::Dentist.rpps(), None),
            authorization(Who::Expired.rpps(), Some(NOW - Duration::days(1))),
        ],
        blocked: vec![],
        medecin_traitant: Some(Who::MedecinTraitant.rpps()),
        extended_rights: vec![Who::Extended.rpps()],
        representatives: vec![
            representation(Who::Parent, NOW - Duration::days(3650), None),
            representation(Who::ExParent, NOW - Duration::days(3650), Some(NOW - Duration::days(1))),
            representation(Who::ParentWrongToken, NOW - Duration::days(3650), None),
        ],
        opposes_bris_de_glace: false,
        opposes_samu: false,
        reimbursement_hidden: false,
    }
}

static LISTS: LazyLock<CodeLists> = LazyLock::new(CodeLists::dmp_default);
static MATRIX: LazyLock<ProfessionMatrix> = LazyLock::new(ProfessionMatrix::dmp_default);

pub fn lists() -> CodeLists {
    LISTS.clone()
}

/// The full code of a DMP type, by its code value.
pub fn type_code(code: &str) -> Code {
    LISTS.types.iter().find(|t| t.code.code == code).cloned().unwrap_or_else(|| panic!("{code} is a DMP type")).code
}

/// A document of `type_code` in the patient's record, written by `Who::Author`.
pub fn doc_of_type(code: &str) -> DocumentMeta {
    let lists = &*LISTS;
    let t = lists.types.iter().find(|t| t.code.code == code).unwrap_or_else(|| panic!("{code} is a DMP type"));
    let class = lists.classes.iter().find(|c| c.code.code == t.class).expect("its class is listed");
    DocumentMeta {
        id: DocumentId::from_bytes([1; 16]),
        ins: ins(),
        xds: XdsMetadata {
            unique_id: "1.2.250.1.999.1".into(),
            class_code: class.code.clone(),
            type_code: t.code.clone(),
            format_code: Code::new(carnet_domain::codes::FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds-sd:pdf:2008"),
            practice_setting: None,
            facility_type: None,
            service_start: None,
            service_end: None,
            mime_type: "application/pdf".into(),
            language: "fr-FR".into(),
            authored_at: None,
        },
        author: Who::Author.reference(),
        author_name: None,
        deposited_by: Who::Author.reference(),
        submitted_at: NOW - Duration::days(10),
        size: 1,
        sha256: [0; 32],
        labels: vec![],
        status: DocumentStatus::Current,
        archived: false,
        replaces: None,
    }
}

/// A consultation report.
pub fn base_doc() -> DocumentMeta {
    doc_of_type("11488-4")
}

/// Context values owned by the test, borrowed into an `AccessContext`.
#[derive(Debug, Clone)]
pub struct Scene {
    pub ins: Ins,
    pub status: RecordStatus,
    pub now: OffsetDateTime,
    pub emergency: Option<EmergencyAccess>,
    pub matrix: ProfessionMatrix,
}

impl Scene {
    pub fn new() -> Scene {
        Scene { ins: ins(), status: RecordStatus::Active, now: NOW, emergency: None, matrix: MATRIX.clone() }
    }

    pub fn ctx(&self) -> AccessContext<'_> {
        AccessContext {
            ins: &self.ins,
            record_status: self.status,
            now: self.now,
            emergency: self.emergency.as_ref(),
            matrix: &self.matrix,
        }
    }
}

impl Default for Scene {
    fn default() -> Self {
        Scene::new()
    }
}

/// An emergency access opened ten minutes ago for an hour.
pub fn emergency(kind: EmergencyKind, by: Who) -> EmergencyAccess {
    EmergencyAccess {
        kind,
        ins: ins(),
        actor: by.reference(),
        justification: "inconscient aux urgences".into(),
        opened_at: NOW - Duration::minutes(10),
        expires_at: NOW + Duration::minutes(50),
    }
}
