//! The decision table: every access rule of `docs/access-rules.md` with at least one permit and one deny.
//! Each row starts from the same patient (`support::base_policy`), document (a consultation
//! report written by `Who::Author`) and context (active record, no emergency, `NOW`), tweaks one
//! of them, and names the expected decision code (a basis when permitted, a reason when denied).

use crate::support;

use carnet_domain::{
    AccessDecision, DenyReason, DocumentMeta, DocumentStatus, EmergencyKind, Ins, PatientPolicy, RecordStatus, SecurityLabel, decide,
    decide_record,
};
use support::*;
use time::Duration;

type PolicyTweak = fn(&mut PatientPolicy);
type DocTweak = fn(&mut DocumentMeta);
type SceneTweak = fn(&mut Scene);

struct Row {
    rule: &'static str,
    what: &'static str,
    who: Who,
    policy: PolicyTweak,
    doc: DocTweak,
    scene: SceneTweak,
    expect: &'static str,
}

fn same<T>(_: &mut T) {}

const fn row(rule: &'static str, what: &'static str, who: Who, expect: &'static str) -> Row {
    Row { rule, what, who, policy: same, doc: same, scene: same, expect }
}

impl Row {
    const fn policy(self, policy: PolicyTweak) -> Row {
        Row { policy, ..self }
    }
    const fn doc(self, doc: DocTweak) -> Row {
        Row { doc, ..self }
    }
    const fn scene(self, scene: SceneTweak) -> Row {
        Row { scene, ..self }
    }
}

fn masked(d: &mut DocumentMeta) {
    d.labels.push(SecurityLabel::MasquePs);
}
fn invisible_patient(d: &mut DocumentMeta) {
    d.labels.push(SecurityLabel::InvisiblePatient);
}
fn invisible_representatives(d: &mut DocumentMeta) {
    d.labels.push(SecurityLabel::InvisibleRepresentantsLegaux);
}
fn withdrawn(d: &mut DocumentMeta) {
    d.status = DocumentStatus::EnteredInError;
}
fn reimbursement(d: &mut DocumentMeta) {
    *d = DocumentMeta { id: d.id, ..doc_of_type("REMB") };
}
fn psychiatric(d: &mut DocumentMeta) {
    d.xds.type_code = type_code("68599-0");
}
fn residence(d: &mut DocumentMeta) {
    d.xds.type_code = type_code("ATTEST-RESID");
}
fn closed(s: &mut Scene) {
    s.status = RecordStatus::Closed;
}
fn bris_de_glace_by_stranger(s: &mut Scene) {
    s.emergency = Some(emergency(EmergencyKind::BrisDeGlace, Who::Stranger));
}
fn bris_de_glace_by_stranger_nurse(s: &mut Scene) {
    s.emergency = Some(emergency(EmergencyKind::BrisDeGlace, Who::StrangerNurse));
}
fn samu(s: &mut Scene) {
    s.emergency = Some(emergency(EmergencyKind::Samu, Who::Regulator));
}
fn block_doctor(p: &mut PatientPolicy) {
    p.blocked.push(Who::Doctor.rpps());
}
fn block_stranger(p: &mut PatientPolicy) {
    p.blocked.push(Who::Stranger.rpps());
}
fn block_author(p: &mut PatientPolicy) {
    p.blocked.push(Who::Author.rpps());
}
fn hide_reimbursement(p: &mut PatientPolicy) {
    p.reimbursement_hidden = true;
}
fn oppose_bris_de_glace(p: &mut PatientPolicy) {
    p.opposes_bris_de_glace = true;
}
fn oppose_samu(p: &mut PatientPolicy) {
    p.opposes_samu = true;
}

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // Rule 1: no active record, no consultation; a closed record is its holder's only.
    row("1", "the patient reads their active record", Who::Patient, "patient"),
    row("1", "the patient reads their closed record", Who::Patient, "patient").scene(closed),
    row("1", "a representative reads the closed record", Who::Parent, "representative").scene(closed),
    row("1", "an authorized doctor may not read a closed record", Who::Doctor, "record_closed").scene(closed),
    row("1", "the médecin traitant may not read a closed record", Who::MedecinTraitant, "record_closed").scene(closed),
    row("1", "an author may not read a closed record", Who::Author, "record_closed").scene(closed),
    row("1", "nobody reads an archived record, not even the patient", Who::Patient, "record_archived").scene(|s| s.status = RecordStatus::Archived),
    row("1", "nobody reads a destroyed record", Who::Patient, "record_destroyed").scene(|s| s.status = RecordStatus::Destroyed),
    row("1", "another patient is not the holder", Who::OtherPatient, "not_holder"),
    row("1", "a document of another record is never read under this one", Who::Doctor, "other_record").doc(|d| d.ins = Ins::from_body("1790133987654").expect("valid")),
    // Rule 2: professionals need a current authorization.
    row("2", "an authorized doctor reads", Who::Doctor, "authorization"),
    row("2", "a declared authorization counts", Who::Stranger, "authorization").policy(|p| {
        let mut a = authorization(Who::Stranger.rpps(), None);
        a.granted_by = Who::Stranger.reference();
        a.declared = Some(carnet_domain::policy::Declaration { by: Who::Stranger.reference(), at: NOW });
        p.authorizations.push(a);
    }),
    row("2", "a professional without authorization reads nothing", Who::Stranger, "no_authorization"),
    row("2", "an expired authorization does not count", Who::Expired, "authorization_expired"),
    row("2", "the pharmacist reads within their window", Who::Pharmacist, "authorization"),
    row("2", "the pharmacist's window has closed", Who::Pharmacist, "authorization_expired").scene(|s| s.now = NOW + Duration::days(3)),
    // Rule 3: blocked sees nothing, except what they wrote.
    row("3", "a blocked doctor reads nothing, even authorized", Who::Doctor, "blocked").policy(block_doctor),
    row("3", "a blocked médecin traitant reads nothing", Who::MedecinTraitant, "blocked").policy(|p| p.blocked.push(Who::MedecinTraitant.rpps())),
    row("3", "a blocked extended-rights holder reads nothing", Who::Extended, "blocked").policy(|p| p.blocked.push(Who::Extended.rpps())),
    row("3", "a blocked professional gets nothing from bris de glace", Who::Stranger, "blocked").policy(block_stranger).scene(bris_de_glace_by_stranger),
    row("3", "a blocked regulator gets nothing from SAMU access", Who::Regulator, "blocked").policy(|p| p.blocked.push(Who::Regulator.rpps())).scene(samu),
    row("3", "a blocked author reads what they wrote", Who::Author, "author").policy(block_author),
    row("3", "an author reads what they wrote without authorization", Who::Author, "author"),
    // Rule 4: the profession × document-type matrix.
    row("4", "a nurse reads a biology report", Who::Nurse, "authorization").doc(|d| d.xds.type_code = type_code("11502-2")),
    row("4", "a nurse does not read a psychiatric synthesis", Who::Nurse, "matrix_excludes_type").doc(psychiatric),
    row("4", "a dentist does not read a psychological assessment", Who::Dentist, "matrix_excludes_type").doc(|d| d.xds.type_code = type_code("83901-9")),
    row("4", "a dentist reads a consultation report", Who::Dentist, "authorization"),
    row("4", "a doctor does not read the residence certificate", Who::Doctor, "matrix_excludes_type").doc(residence),
    row("4", "the matrix binds bris de glace", Who::StrangerNurse, "matrix_excludes_type").doc(psychiatric).scene(bris_de_glace_by_stranger_nurse),
    row("4", "the matrix binds the SAMU regulator", Who::Regulator, "matrix_excludes_type").doc(residence).scene(samu),
    row("4", "the matrix does not bind extended rights", Who::Extended, "extended_rights").doc(psychiatric),
    // Rule 5: médecin traitant and extended rights see every document.
    row("5", "the médecin traitant reads without authorization", Who::MedecinTraitant, "medecin_traitant"),
    row("5", "the médecin traitant reads a masked document", Who::MedecinTraitant, "medecin_traitant").doc(masked),
    row("5", "the médecin traitant reads every type", Who::MedecinTraitant, "medecin_traitant").doc(residence),
    row("5", "extended rights read a masked document", Who::Extended, "extended_rights").doc(masked),
    row("5", "a former médecin traitant is a stranger", Who::MedecinTraitant, "no_authorization").policy(|p| p.medecin_traitant = None),
    // Rule 6: MASQUE_PS.
    row("6", "an authorized doctor does not read a masked document", Who::Doctor, "masked_from_professionals").doc(masked),
    row("6", "the author reads their masked document", Who::Author, "author").doc(masked),
    row("6", "bris de glace does not reveal a masked document", Who::Stranger, "masked_from_professionals").doc(masked).scene(bris_de_glace_by_stranger),
    row("6", "SAMU access does not reveal a masked document", Who::Regulator, "masked_from_professionals").doc(masked).scene(samu),
    row("6", "the patient reads their masked document", Who::Patient, "patient").doc(masked),
    // Rule 7: INVISIBLE_PATIENT.
    row("7", "the patient does not read a document awaiting announcement", Who::Patient, "invisible_patient").doc(invisible_patient),
    row("7", "nor does their representative", Who::Parent, "invisible_patient").doc(invisible_patient),
    row("7", "an authorized doctor does", Who::Doctor, "authorization").doc(invisible_patient),
    row("7", "the author does", Who::Author, "author").doc(invisible_patient),
    // Rules 8 and 9: representatives.
    row("8", "a parent does not read the minor's secret", Who::Parent, "invisible_representatives").doc(invisible_representatives),
    row("8", "the minor does", Who::Patient, "patient").doc(invisible_representatives),
    row("8", "a doctor does", Who::Doctor, "authorization").doc(invisible_representatives),
    row("9", "a registered representative reads for the patient", Who::Parent, "representative"),
    row("9", "an unregistered representative reads nothing", Who::UnregisteredParent, "not_representative"),
    row("9", "an ended representation gives nothing", Who::ExParent, "not_representative"),
    row("9", "registration without a token that represents the patient gives nothing", Who::ParentWrongToken, "not_representative"),
    row("9", "a representation that has not started gives nothing", Who::Parent, "not_representative").policy(|p| p.representatives[0].since = NOW + Duration::days(1)),
    // Rule 10: bris de glace.
    row("10", "a professional in an emergency reads", Who::Stranger, "bris_de_glace").scene(bris_de_glace_by_stranger),
    row("10", "not if the patient opposed it", Who::Stranger, "bris_de_glace_opposed").policy(oppose_bris_de_glace).scene(bris_de_glace_by_stranger),
    row("10", "opposing SAMU does not oppose bris de glace", Who::Stranger, "bris_de_glace").policy(oppose_samu).scene(bris_de_glace_by_stranger),
    row("10", "not once it expired", Who::Stranger, "emergency_expired").scene(|s| {
        s.emergency = Some(emergency(EmergencyKind::BrisDeGlace, Who::Stranger));
        s.now = NOW + Duration::hours(1);
    }),
    row("10", "not with someone else's emergency", Who::Stranger, "no_authorization").scene(bris_de_glace_by_stranger_nurse),
    row("10", "not with an emergency on another record", Who::Stranger, "no_authorization").scene(|s| {
        let mut e = emergency(EmergencyKind::BrisDeGlace, Who::Stranger);
        e.ins = Ins::from_body("1790133987654").expect("valid");
        s.emergency = Some(e);
    }),
    row("10", "not with an emergency of the SAMU kind", Who::Stranger, "no_authorization").scene(|s| s.emergency = Some(emergency(EmergencyKind::Samu, Who::Stranger))),
    // Rule 11: SAMU regulation.
    row("11", "the regulator reads during a SAMU access", Who::Regulator, "samu").scene(samu),
    row("11", "not if the patient opposed SAMU", Who::Regulator, "samu_opposed").policy(oppose_samu).scene(samu),
    row("11", "opposing bris de glace does not oppose SAMU", Who::Regulator, "samu").policy(oppose_bris_de_glace).scene(samu),
    row("11", "a regulator without a SAMU access reads nothing", Who::Regulator, "no_emergency_access"),
    row("11", "a regulator acts through SAMU access only, even if authorized", Who::Regulator, "no_emergency_access").policy(|p| p.authorizations.push(authorization(Who::Regulator.rpps(), None))),
    row("11", "a regulator does not use bris de glace", Who::Regulator, "no_emergency_access").scene(|s| s.emergency = Some(emergency(EmergencyKind::BrisDeGlace, Who::Regulator))),
    // Rule 12: roles that never read clinical content.
    row("12", "an insurer agent reads nothing", Who::Insurer, "role_never_reads"),
    row("12", "an insurer agent does not read the reimbursement history it injected", Who::Insurer, "role_never_reads").doc(|d| { reimbursement(d); d.author = Who::Insurer.reference(); }),
    row("12", "an operator reads nothing", Who::Operator, "role_never_reads"),
    row("12", "a privacy officer reads nothing", Who::PrivacyOfficer, "role_never_reads"),
    row("12", "feeding software does not read back what it deposited", Who::System, "role_never_reads").doc(|d| { d.author = Who::System.reference(); d.deposited_by = Who::System.reference(); }),
    // Rule 13: reimbursement history.
    row("13", "a doctor reads the reimbursement history", Who::Doctor, "authorization").doc(reimbursement),
    row("13", "not once the patient hid it", Who::Doctor, "reimbursement_hidden").policy(hide_reimbursement).doc(reimbursement),
    row("13", "hidden from the médecin traitant too", Who::MedecinTraitant, "reimbursement_hidden").policy(hide_reimbursement).doc(reimbursement),
    row("13", "the patient still reads it", Who::Patient, "patient").policy(hide_reimbursement).doc(reimbursement),
    row("13", "a nurse does not read it anyway (matrix)", Who::Nurse, "matrix_excludes_type").doc(reimbursement),
    // Entered-in-error: its author only.
    row("eie", "a withdrawn document is hidden from an authorized doctor", Who::Doctor, "entered_in_error").doc(withdrawn),
    row("eie", "and from the médecin traitant", Who::MedecinTraitant, "entered_in_error").doc(withdrawn),
    row("eie", "and from the patient", Who::Patient, "entered_in_error").doc(withdrawn),
    row("eie", "its author still reads it", Who::Author, "author").doc(withdrawn),
    row("eie", "a patient reads a document they deposited and withdrew", Who::Patient, "patient").doc(|d| { withdrawn(d); d.author = Who::Patient.reference(); }),
    row("eie", "a superseded version stays readable", Who::Doctor, "authorization").doc(|d| d.status = DocumentStatus::Superseded),
];

#[test]
fn the_decision_table() {
    let mut failures = Vec::new();
    for (i, r) in TABLE.iter().enumerate() {
        let mut policy = base_policy();
        (r.policy)(&mut policy);
        let mut doc = base_doc();
        (r.doc)(&mut doc);
        let mut scene = Scene::new();
        (r.scene)(&mut scene);
        let got = decide(&r.who.actor(), &scene.ctx(), &policy, &doc);
        if got.code() != r.expect {
            failures.push(format!("row {i} (rule {}): {} — {:?}: expected {}, got {got:?}", r.rule, r.what, r.who, r.expect));
        }
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_rule_has_a_permit_and_a_deny_row() {
    let rules = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "eie"];
    for rule in rules {
        let decisions: Vec<bool> = TABLE
            .iter()
            .filter(|r| r.rule == rule)
            .map(|r| carnet_domain::access::Basis::ALL.iter().any(|b| b.code() == r.expect))
            .collect();
        // Rule 12 permits nothing by design: its rows are all denials.
        assert!(rule == "12" || decisions.contains(&true), "rule {rule} has no permit row");
        assert!(decisions.contains(&false), "rule {rule} has no deny row");
    }
    for r in TABLE {
        assert!(
            carnet_domain::access::Basis::ALL.iter().any(|b| b.code() == r.expect) || DenyReason::ALL.iter().any(|d| d.code() == r.expect),
            "{}: {} is not a decision code",
            r.what,
            r.expect
        );
    }
}

/// Record-level decisions: may the actor consult the record at all?
#[test]
fn the_record_table() {
    type Case = (&'static str, Who, PolicyTweak, SceneTweak, &'static str);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("the patient consults their closed record", Who::Patient, same, closed, "patient"),
        ("a representative consults", Who::Parent, same, same, "representative"),
        ("an ended representative does not", Who::ExParent, same, same, "not_representative"),
        ("an authorized doctor consults", Who::Doctor, same, same, "authorization"),
        ("the médecin traitant consults", Who::MedecinTraitant, same, same, "medecin_traitant"),
        ("extended rights consult", Who::Extended, same, same, "extended_rights"),
        ("bris de glace consults", Who::Stranger, same, bris_de_glace_by_stranger, "bris_de_glace"),
        ("SAMU consults", Who::Regulator, same, samu, "samu"),
        ("an author without standing does not consult the record", Who::Author, same, same, "no_authorization"),
        ("a blocked author does not consult the record", Who::Author, block_author, same, "blocked"),
        ("a blocked doctor does not", Who::Doctor, block_doctor, same, "blocked"),
        ("an expired authorization does not", Who::Expired, same, same, "authorization_expired"),
        ("a doctor does not consult a closed record", Who::Doctor, same, closed, "record_closed"),
        ("an insurer agent does not consult", Who::Insurer, same, same, "role_never_reads"),
        ("an operator does not consult", Who::Operator, same, same, "role_never_reads"),
        ("a privacy officer does not consult", Who::PrivacyOfficer, same, same, "role_never_reads"),
        ("a system does not consult", Who::System, same, same, "role_never_reads"),
    ];
    for (what, who, tweak_policy, tweak_scene, expect) in cases {
        let mut policy = base_policy();
        tweak_policy(&mut policy);
        let mut scene = Scene::new();
        tweak_scene(&mut scene);
        let got = decide_record(&who.actor(), &scene.ctx(), &policy);
        assert_eq!(got.code(), *expect, "{what}: {got:?}");
    }
    let d = decide_record(&Who::Doctor.actor(), &Scene::new().ctx(), &base_policy());
    assert_eq!(d, AccessDecision::Permit(carnet_domain::access::Basis::Authorization));
    assert_eq!(d.outcome(), "permit");
}
