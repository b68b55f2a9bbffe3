//! Stories told through the public API only: policy changes made by the people entitled to make
//! them, then what each actor reads.

use crate::support;

use carnet_domain::{
    AccessDecision, Actor, AuthorizationWindows, Basis, DenyReason, DocumentMeta, EmergencyDenied, EmergencyKind, EmergencyRequest,
    PatientPolicy, PolicyChange, PolicyDenied, PolicyError, Profession, RepresentationKind, SecurityLabel, authorize_change,
    authorize_label_change, decide, open_emergency,
};
use support::*;
use time::{Duration, OffsetDateTime};

fn change(policy: &mut PatientPolicy, by: &Actor, c: PolicyChange, now: OffsetDateTime) -> Result<(), PolicyError> {
    let approved = authorize_change(by, &ins(), policy, &c, now).expect("entitled");
    policy.apply(approved, now, &AuthorizationWindows::default())
}

fn reads(actor: &Actor, scene: &Scene, policy: &PatientPolicy, doc: &DocumentMeta) -> AccessDecision {
    decide(actor, &scene.ctx(), policy, doc)
}

fn bris_de_glace(actor: &Actor, policy: &PatientPolicy) -> Result<carnet_domain::EmergencyAccess, EmergencyDenied> {
    let request =
        EmergencyRequest { kind: EmergencyKind::BrisDeGlace, justification: "détresse respiratoire", duration: Duration::hours(2) };
    open_emergency(actor, &ins(), carnet_domain::RecordStatus::Active, policy, &request, NOW)
}

fn samu(actor: &Actor, policy: &PatientPolicy) -> Result<carnet_domain::EmergencyAccess, EmergencyDenied> {
    let request = EmergencyRequest { kind: EmergencyKind::Samu, justification: "appel au 15, malaise", duration: Duration::hours(2) };
    open_emergency(actor, &ins(), carnet_domain::RecordStatus::Active, policy, &request, NOW)
}

#[test]
fn a_minors_secret_is_kept_from_the_parent_and_shown_to_the_minor() {
    let minor = patient_of(ins());
    let parent = representative("mother", vec![ins()]);
    let doctor = professional(20, Profession::Medecin);
    let mut policy = PatientPolicy::default();
    // The insurer's desk registers the mother until the minor comes of age.
    let majority = NOW + Duration::days(900);
    let register = PolicyChange::AddRepresentative {
        representative: parent.reference(),
        kind: RepresentationKind::Minor,
        since: Some(NOW - Duration::days(4000)),
        until: Some(majority),
    };
    change(&mut policy, &insurer(), register, NOW).expect("registered");
    // The mother authorizes the family doctor.
    change(&mut policy, &parent, PolicyChange::Authorize { rpps: rpps(20), profession: Some(Profession::Medecin), expires_at: None }, NOW)
        .expect("a representative acts for the minor");

    // The doctor writes a contraception consultation and labels it a minor's secret.
    let scene = Scene::new();
    let mut secret = base_doc();
    secret.author = doctor.reference();
    assert_eq!(authorize_label_change(&doctor, &scene.ctx(), &policy, &secret, SecurityLabel::InvisibleRepresentantsLegaux), Ok(()));
    secret.labels.push(SecurityLabel::InvisibleRepresentantsLegaux);
    let mut ordinary = base_doc();
    ordinary.author = doctor.reference();

    assert_eq!(reads(&parent, &scene, &policy, &ordinary), AccessDecision::Permit(Basis::Representative));
    assert_eq!(reads(&parent, &scene, &policy, &secret), AccessDecision::Deny(DenyReason::InvisibleRepresentatives));
    assert_eq!(reads(&minor, &scene, &policy, &secret), AccessDecision::Permit(Basis::Patient));
    assert_eq!(reads(&doctor, &scene, &policy, &secret), AccessDecision::Permit(Basis::Author));
    // The mother cannot reach it sideways either: no label change on what she cannot see.
    assert!(authorize_label_change(&parent, &scene.ctx(), &policy, &secret, SecurityLabel::MasquePs).is_err());

    // At majority the representation ends by itself; the mother reads nothing any more.
    let adult = Scene { now: majority, ..Scene::new() };
    assert_eq!(reads(&parent, &adult, &policy, &ordinary), AccessDecision::Deny(DenyReason::NotRepresentative));
    assert_eq!(reads(&minor, &adult, &policy, &secret), AccessDecision::Permit(Basis::Patient));
}

#[test]
fn the_medecin_traitant_sees_a_document_the_patient_hid() {
    let patient = patient_of(ins());
    let mut policy = base_policy();
    let scene = Scene::new();
    let mut doc = base_doc();
    assert_eq!(authorize_label_change(&patient, &scene.ctx(), &policy, &doc, SecurityLabel::MasquePs), Ok(()));
    doc.labels.push(SecurityLabel::MasquePs);

    assert_eq!(reads(&Who::Doctor.actor(), &scene, &policy, &doc), AccessDecision::Deny(DenyReason::MaskedFromProfessionals));
    assert_eq!(reads(&Who::MedecinTraitant.actor(), &scene, &policy, &doc), AccessDecision::Permit(Basis::MedecinTraitant));
    assert_eq!(reads(&Who::Extended.actor(), &scene, &policy, &doc), AccessDecision::Permit(Basis::ExtendedRights));
    assert_eq!(reads(&Who::Author.actor(), &scene, &policy, &doc), AccessDecision::Permit(Basis::Author));
    assert_eq!(reads(&patient, &scene, &policy, &doc), AccessDecision::Permit(Basis::Patient));
    let in_emergency = Scene { emergency: Some(bris_de_glace(&Who::Stranger.actor(), &policy).expect("opens")), ..Scene::new() };
    assert_eq!(reads(&Who::Stranger.actor(), &in_emergency, &policy, &doc), AccessDecision::Deny(DenyReason::MaskedFromProfessionals));

    // A new médecin traitant inherits the view; the former one loses it.
    change(&mut policy, &patient, PolicyChange::SetMedecinTraitant { rpps: Some(Who::Doctor.rpps()) }, NOW).expect("ok");
    assert_eq!(reads(&Who::Doctor.actor(), &scene, &policy, &doc), AccessDecision::Permit(Basis::MedecinTraitant));
    assert_eq!(reads(&Who::MedecinTraitant.actor(), &scene, &policy, &doc), AccessDecision::Deny(DenyReason::NoAuthorization));
}

#[test]
fn a_blocked_professional_sees_nothing_even_authorized_even_in_an_emergency() {
    let patient = patient_of(ins());
    let doctor = Who::Doctor.actor();
    let mut policy = base_policy();
    let scene = Scene::new();
    // An emergency the doctor opened before being blocked.
    let before = {
        let mut p = policy.clone();
        p.authorizations.retain(|a| a.rpps != Who::Doctor.rpps());
        bris_de_glace(&doctor, &p).expect("opened while unblocked")
    };
    change(&mut policy, &patient, PolicyChange::Block { rpps: Who::Doctor.rpps() }, NOW).expect("ok");
    assert!(policy.authorization(&Who::Doctor.rpps()).is_none(), "blocking revoked the authorization");
    // Even if the authorization were still there (a stale copy), the block wins.
    let mut stale = policy.clone();
    stale.authorizations.push(authorization(Who::Doctor.rpps(), None));
    let in_emergency = Scene { emergency: Some(before), ..Scene::new() };
    for t in lists().types {
        let doc = doc_of_type(&t.code.code);
        for (p, s) in [(&policy, &scene), (&stale, &scene), (&policy, &in_emergency)] {
            assert_eq!(reads(&doctor, s, p, &doc), AccessDecision::Deny(DenyReason::Blocked), "{}", t.code.code);
        }
    }
    // No way back in by the doctor's own hand.
    assert_eq!(bris_de_glace(&doctor, &policy).map(|_| ()), Err(EmergencyDenied::Blocked));
    let declare = PolicyChange::DeclareAuthorization { rpps: Who::Doctor.rpps(), expires_at: None };
    assert_eq!(authorize_change(&doctor, &ins(), &policy, &declare, NOW).map(|_| ()), Err(PolicyDenied::Blocked));
    let authorize = PolicyChange::Authorize { rpps: Who::Doctor.rpps(), profession: Some(Profession::Medecin), expires_at: None };
    assert_eq!(change(&mut policy, &patient, authorize.clone(), NOW), Err(PolicyError::Blocked));
    // What the doctor wrote stays readable to them.
    let mut own = base_doc();
    own.author = doctor.reference();
    own.labels.push(SecurityLabel::MasquePs);
    assert_eq!(reads(&doctor, &scene, &policy, &own), AccessDecision::Permit(Basis::Author));
    // Unblocked, the doctor is a stranger until authorized again.
    change(&mut policy, &patient, PolicyChange::Unblock { rpps: Who::Doctor.rpps() }, NOW).expect("ok");
    assert_eq!(reads(&doctor, &scene, &policy, &base_doc()), AccessDecision::Deny(DenyReason::NoAuthorization));
    change(&mut policy, &patient, authorize, NOW).expect("ok");
    assert_eq!(reads(&doctor, &scene, &policy, &base_doc()), AccessDecision::Permit(Basis::Authorization));
}

#[test]
fn opposing_samu_but_not_bris_de_glace_gives_exactly_that() {
    let patient = patient_of(ins());
    let regulator = Who::Regulator.actor();
    let stranger = Who::Stranger.actor();
    let mut policy = base_policy();
    let samu_before = samu(&regulator, &policy).expect("not opposed yet");
    change(&mut policy, &patient, PolicyChange::SetSamuOpposition { opposed: true }, NOW).expect("ok");
    assert!(!policy.opposes_bris_de_glace);

    assert_eq!(samu(&regulator, &policy).map(|_| ()), Err(EmergencyDenied::Opposed(EmergencyKind::Samu)));
    let bdg = bris_de_glace(&stranger, &policy).expect("bris de glace stays open");
    let doc = base_doc();
    let with_samu = Scene { emergency: Some(samu_before), ..Scene::new() };
    assert_eq!(
        reads(&regulator, &with_samu, &policy, &doc),
        AccessDecision::Deny(DenyReason::SamuOpposed),
        "the opposition applies at once"
    );
    let with_bdg = Scene { emergency: Some(bdg), ..Scene::new() };
    assert_eq!(reads(&stranger, &with_bdg, &policy, &doc), AccessDecision::Permit(Basis::BrisDeGlace));

    // And the other way round.
    change(&mut policy, &patient, PolicyChange::SetSamuOpposition { opposed: false }, NOW).expect("ok");
    change(&mut policy, &patient, PolicyChange::SetBrisDeGlaceOpposition { opposed: true }, NOW).expect("ok");
    assert!(samu(&regulator, &policy).is_ok());
    assert_eq!(bris_de_glace(&stranger, &policy).map(|_| ()), Err(EmergencyDenied::Opposed(EmergencyKind::BrisDeGlace)));
    assert_eq!(reads(&regulator, &with_samu, &policy, &doc), AccessDecision::Permit(Basis::Samu));
    assert_eq!(reads(&stranger, &with_bdg, &policy, &doc), AccessDecision::Deny(DenyReason::BrisDeGlaceOpposed));
}

#[test]
fn a_pharmacists_declared_access_lapses_after_three_days() {
    let pharmacist = professional(30, Profession::Pharmacien);
    let mut policy = PatientPolicy::default();
    change(&mut policy, &pharmacist, PolicyChange::DeclareAuthorization { rpps: rpps(30), expires_at: None }, NOW)
        .expect("declared at the counter");
    let prescription = doc_of_type("57833-6");
    assert_eq!(reads(&pharmacist, &Scene::new(), &policy, &prescription), AccessDecision::Permit(Basis::Authorization));
    let later = Scene { now: NOW + Duration::days(3), ..Scene::new() };
    assert_eq!(reads(&pharmacist, &later, &policy, &prescription), AccessDecision::Deny(DenyReason::AuthorizationExpired));
}
