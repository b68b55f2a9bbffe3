//! Changes to the patient's policy (who may make them, what they do), label changes, and opening
//! an emergency access: each permit and each refusal.

use crate::support;

use carnet_domain::access::LabelDenied;
use carnet_domain::emergency::MAX_JUSTIFICATION;
use carnet_domain::policy::Declaration;
use carnet_domain::{
    AuthorizationWindows, DocumentMeta, EmergencyDenied, EmergencyKind, EmergencyRequest, PatientPolicy, PolicyChange, PolicyDenied,
    PolicyError, Profession, RecordStatus, RepresentationKind, SecurityLabel, authorize_change, authorize_label_change, open_emergency,
};
use support::*;
use time::{Duration, OffsetDateTime};

/// One change of every kind, aimed at `Who::Stranger` or the parent.
fn every_change() -> Vec<PolicyChange> {
    let r = Who::Stranger.rpps();
    vec![
        PolicyChange::Authorize { rpps: r.clone(), profession: Some(Profession::Medecin), expires_at: None },
        PolicyChange::DeclareAuthorization { rpps: r.clone(), expires_at: None },
        PolicyChange::Revoke { rpps: r.clone() },
        PolicyChange::Block { rpps: r.clone() },
        PolicyChange::Unblock { rpps: r.clone() },
        PolicyChange::SetMedecinTraitant { rpps: Some(r.clone()) },
        PolicyChange::GrantExtendedRights { rpps: r.clone() },
        PolicyChange::RevokeExtendedRights { rpps: r },
        PolicyChange::AddRepresentative {
            representative: "https://idp.example#new".into(),
            kind: RepresentationKind::Minor,
            since: None,
            until: None,
        },
        PolicyChange::EndRepresentative { representative: Who::Parent.reference() },
        PolicyChange::SetBrisDeGlaceOpposition { opposed: true },
        PolicyChange::SetSamuOpposition { opposed: true },
        PolicyChange::HideReimbursement { hidden: true },
    ]
}

fn may(who: Who, change: &PolicyChange) -> Result<(), PolicyDenied> {
    authorize_change(&who.actor(), &ins(), &base_policy(), change, NOW).map(|_| ())
}

#[test]
fn the_patient_makes_every_change() {
    for c in every_change() {
        assert_eq!(may(Who::Patient, &c), Ok(()), "{}", c.code());
    }
}

#[test]
fn a_current_representative_makes_every_change_but_ending_someone_else() {
    for c in every_change() {
        let expected = match &c {
            PolicyChange::EndRepresentative { representative } if *representative != Who::Parent.reference() => {
                Err(PolicyDenied::NotOwnRepresentation)
            }
            _ => Ok(()),
        };
        assert_eq!(may(Who::Parent, &c), expected, "{}", c.code());
    }
    let other = PolicyChange::EndRepresentative { representative: Who::ParentWrongToken.reference() };
    assert_eq!(may(Who::Parent, &other), Err(PolicyDenied::NotOwnRepresentation));
}

#[test]
fn non_holders_change_nothing() {
    for who in [Who::OtherPatient, Who::ExParent, Who::UnregisteredParent, Who::ParentWrongToken] {
        for c in every_change() {
            assert_eq!(may(who, &c), Err(PolicyDenied::NotHolder), "{who:?} {}", c.code());
        }
    }
    for who in [Who::Regulator, Who::System, Who::Operator, Who::PrivacyOfficer] {
        for c in every_change() {
            assert_eq!(may(who, &c), Err(PolicyDenied::Role), "{who:?} {}", c.code());
        }
    }
}

#[test]
fn a_professional_only_declares_for_themselves_unless_blocked() {
    let own = PolicyChange::DeclareAuthorization { rpps: Who::Stranger.rpps(), expires_at: None };
    let approved = authorize_change(&Who::Stranger.actor(), &ins(), &base_policy(), &own, NOW).expect("for themselves");
    assert_eq!(approved.by(), Who::Stranger.reference());
    assert_eq!(approved.change(), &own);
    let for_someone_else = PolicyChange::DeclareAuthorization { rpps: Who::Doctor.rpps(), expires_at: None };
    assert_eq!(may(Who::Stranger, &for_someone_else), Err(PolicyDenied::NotForThemselves));
    let mut blocked = base_policy();
    blocked.blocked.push(Who::Stranger.rpps());
    assert_eq!(authorize_change(&Who::Stranger.actor(), &ins(), &blocked, &own, NOW).map(|_| ()), Err(PolicyDenied::Blocked));
    for c in every_change().into_iter().filter(|c| !matches!(c, PolicyChange::DeclareAuthorization { .. })) {
        assert_eq!(may(Who::Stranger, &c), Err(PolicyDenied::Role), "{}", c.code());
    }
}

#[test]
fn the_insurer_desk_registers_representatives_only() {
    for c in every_change() {
        let expected = match &c {
            PolicyChange::AddRepresentative { .. } | PolicyChange::EndRepresentative { .. } => Ok(()),
            _ => Err(PolicyDenied::Role),
        };
        assert_eq!(may(Who::Insurer, &c), expected, "{}", c.code());
    }
}

#[test]
fn denial_codes_are_stable() {
    let all = [
        PolicyDenied::NotHolder,
        PolicyDenied::Role,
        PolicyDenied::NotForThemselves,
        PolicyDenied::Blocked,
        PolicyDenied::NotOwnRepresentation,
    ];
    let codes: Vec<&str> = all.iter().map(|d| d.code()).collect();
    assert_eq!(codes, ["not_holder", "role", "not_for_themselves", "blocked", "not_own_representation"]);
}

// ---------------------------------------------------------------------------------------------
// apply

/// Applies `change` made by `who` to `policy` at NOW with the shipped windows.
fn apply(who: Who, policy: &mut PatientPolicy, change: PolicyChange) -> Result<(), PolicyError> {
    apply_at(who, policy, change, NOW)
}

fn apply_at(who: Who, policy: &mut PatientPolicy, change: PolicyChange, now: OffsetDateTime) -> Result<(), PolicyError> {
    let approved = authorize_change(&who.actor(), &ins(), policy, &change, now).expect("approved in these tests");
    policy.apply(approved, now, &AuthorizationWindows::default())
}

/// Like `apply`, and checks a refused change left the policy untouched.
fn refused(who: Who, policy: &mut PatientPolicy, change: PolicyChange) -> PolicyError {
    let before = policy.clone();
    let err = apply(who, policy, change).expect_err("refused");
    assert_eq!(*policy, before, "a refused change changes nothing");
    err
}

#[test]
fn authorizing_records_who_and_applies_the_window() {
    let mut p = base_policy();
    let r = Who::Stranger.rpps();
    apply(Who::Patient, &mut p, PolicyChange::Authorize { rpps: r.clone(), profession: Some(Profession::Medecin), expires_at: None })
        .expect("ok");
    let a = p.authorization(&r).expect("granted");
    assert_eq!((a.granted_at, a.expires_at, a.granted_by.as_str(), &a.declared), (NOW, None, Who::Patient.reference().as_str(), &None));
    // A pharmacist gets the default window when the patient gives no expiry…
    apply(Who::Patient, &mut p, PolicyChange::Authorize { rpps: r.clone(), profession: Some(Profession::Pharmacien), expires_at: None })
        .expect("ok");
    assert_eq!(p.authorization(&r).and_then(|a| a.expires_at), Some(NOW + Duration::days(3)));
    // …and the patient's own expiry otherwise, even a longer one.
    let later = NOW + Duration::days(30);
    apply(
        Who::Patient,
        &mut p,
        PolicyChange::Authorize { rpps: r.clone(), profession: Some(Profession::Pharmacien), expires_at: Some(later) },
    )
    .expect("ok");
    assert_eq!(p.authorization(&r).and_then(|a| a.expires_at), Some(later));
    assert_eq!(p.authorizations.iter().filter(|a| a.rpps == r).count(), 1, "a new grant replaces the old one");
    // Unknown profession: no default window.
    apply(Who::Parent, &mut p, PolicyChange::Authorize { rpps: r.clone(), profession: None, expires_at: None }).expect("ok");
    let a = p.authorization(&r).expect("granted");
    assert_eq!((a.expires_at, a.granted_by.clone()), (None, Who::Parent.reference()));
}

#[test]
fn an_expiry_in_the_past_is_refused() {
    let mut p = base_policy();
    for past in [NOW, NOW - Duration::seconds(1), NOW - Duration::days(400)] {
        let change = PolicyChange::Authorize { rpps: Who::Stranger.rpps(), profession: None, expires_at: Some(past) };
        assert_eq!(refused(Who::Patient, &mut p, change), PolicyError::ExpiryInPast);
        let declared = PolicyChange::DeclareAuthorization { rpps: Who::Stranger.rpps(), expires_at: Some(past) };
        assert_eq!(refused(Who::Stranger, &mut p, declared), PolicyError::ExpiryInPast);
    }
    assert_eq!(PolicyError::ExpiryInPast.code(), "expiry_in_past");
}

#[test]
fn a_declaration_records_the_declarer_and_is_capped_by_the_window() {
    let mut p = PatientPolicy::default();
    let pharmacist = Who::Pharmacist;
    apply(pharmacist, &mut p, PolicyChange::DeclareAuthorization { rpps: pharmacist.rpps(), expires_at: None }).expect("ok");
    let a = p.authorization(&pharmacist.rpps()).expect("declared");
    assert_eq!(a.declared, Some(Declaration { by: pharmacist.reference(), at: NOW }));
    assert_eq!(a.granted_by, pharmacist.reference());
    assert_eq!(a.expires_at, Some(NOW + Duration::days(3)));
    // Asking for longer does not outlast the window; asking for shorter is honoured.
    apply(pharmacist, &mut p, PolicyChange::DeclareAuthorization { rpps: pharmacist.rpps(), expires_at: Some(NOW + Duration::days(90)) })
        .expect("ok");
    assert_eq!(p.authorization(&pharmacist.rpps()).and_then(|a| a.expires_at), Some(NOW + Duration::days(3)));
    apply(pharmacist, &mut p, PolicyChange::DeclareAuthorization { rpps: pharmacist.rpps(), expires_at: Some(NOW + Duration::days(1)) })
        .expect("ok");
    assert_eq!(p.authorization(&pharmacist.rpps()).and_then(|a| a.expires_at), Some(NOW + Duration::days(1)));
    // A doctor's declaration has no default window.
    apply(Who::Stranger, &mut p, PolicyChange::DeclareAuthorization { rpps: Who::Stranger.rpps(), expires_at: None }).expect("ok");
    assert_eq!(p.authorization(&Who::Stranger.rpps()).map(|a| a.expires_at), Some(None));
}

#[test]
fn blocking_revokes_and_nothing_is_granted_until_unblocked() {
    let mut p = base_policy();
    let mt = Who::MedecinTraitant.rpps();
    p.authorizations.push(authorization(mt.clone(), None));
    p.extended_rights.push(mt.clone());
    apply(Who::Patient, &mut p, PolicyChange::Block { rpps: mt.clone() }).expect("ok");
    assert!(p.is_blocked(&mt));
    assert!(p.authorization(&mt).is_none(), "blocking revokes the authorization (rule 3)");
    assert!(!p.has_extended_rights(&mt));
    assert_eq!(p.medecin_traitant, None, "and ends the médecin traitant designation");
    apply(Who::Patient, &mut p, PolicyChange::Block { rpps: mt.clone() }).expect("idempotent");
    assert_eq!(p.blocked.iter().filter(|r| **r == mt).count(), 1);

    let grants = [
        PolicyChange::Authorize { rpps: mt.clone(), profession: None, expires_at: None },
        PolicyChange::SetMedecinTraitant { rpps: Some(mt.clone()) },
        PolicyChange::GrantExtendedRights { rpps: mt.clone() },
    ];
    for g in grants.clone() {
        assert_eq!(refused(Who::Patient, &mut p, g), PolicyError::Blocked);
    }
    apply(Who::Patient, &mut p, PolicyChange::Unblock { rpps: mt.clone() }).expect("ok");
    assert!(!p.is_blocked(&mt));
    assert!(p.authorization(&mt).is_none(), "unblocking restores nothing");
    for g in grants {
        apply(Who::Patient, &mut p, g).expect("granted once unblocked");
    }
    assert!(p.authorization(&mt).is_some() && p.is_medecin_traitant(&mt) && p.has_extended_rights(&mt));
}

#[test]
fn removals_are_idempotent_and_settings_are_set() {
    let mut p = base_policy();
    let doctor = Who::Doctor.rpps();
    apply(Who::Patient, &mut p, PolicyChange::Revoke { rpps: doctor.clone() }).expect("ok");
    assert!(p.authorization(&doctor).is_none());
    apply(Who::Patient, &mut p, PolicyChange::Revoke { rpps: doctor.clone() }).expect("revoking nothing is fine");
    apply(Who::Patient, &mut p, PolicyChange::Unblock { rpps: doctor.clone() }).expect("unblocking nothing is fine");
    apply(Who::Patient, &mut p, PolicyChange::RevokeExtendedRights { rpps: Who::Extended.rpps() }).expect("ok");
    assert!(p.extended_rights.is_empty());
    apply(Who::Patient, &mut p, PolicyChange::GrantExtendedRights { rpps: doctor.clone() }).expect("ok");
    apply(Who::Patient, &mut p, PolicyChange::GrantExtendedRights { rpps: doctor.clone() }).expect("ok");
    assert_eq!(p.extended_rights, vec![doctor.clone()]);
    apply(Who::Patient, &mut p, PolicyChange::SetMedecinTraitant { rpps: Some(doctor.clone()) }).expect("ok");
    assert_eq!(p.medecin_traitant, Some(doctor));
    apply(Who::Patient, &mut p, PolicyChange::SetMedecinTraitant { rpps: None }).expect("ok");
    assert_eq!(p.medecin_traitant, None);
    apply(Who::Patient, &mut p, PolicyChange::SetBrisDeGlaceOpposition { opposed: true }).expect("ok");
    assert!(p.opposes_bris_de_glace && !p.opposes_samu, "two separate switches");
    apply(Who::Patient, &mut p, PolicyChange::SetSamuOpposition { opposed: true }).expect("ok");
    apply(Who::Patient, &mut p, PolicyChange::SetBrisDeGlaceOpposition { opposed: false }).expect("ok");
    assert!(!p.opposes_bris_de_glace && p.opposes_samu);
    apply(Who::Patient, &mut p, PolicyChange::HideReimbursement { hidden: true }).expect("ok");
    assert!(p.reimbursement_hidden);
    apply(Who::Patient, &mut p, PolicyChange::HideReimbursement { hidden: false }).expect("ok");
    assert!(!p.reimbursement_hidden);
}

#[test]
fn representatives_are_registered_checked_and_ended() {
    let mut p = base_policy();
    let new = "https://idp.example#guardian";
    let add = |since, until| PolicyChange::AddRepresentative {
        representative: new.into(),
        kind: RepresentationKind::ProtectedAdult,
        since,
        until,
    };
    apply(Who::Insurer, &mut p, add(None, Some(NOW + Duration::days(365)))).expect("the desk registers");
    let r = p.representatives.iter().find(|r| r.representative == new).expect("registered");
    assert_eq!((r.since, r.registered_by.clone(), r.registered_at), (NOW, Who::Insurer.reference(), NOW));
    assert!(r.is_current(NOW) && !r.is_current(NOW + Duration::days(365)));
    // Registering again replaces the registration.
    apply(Who::Patient, &mut p, add(Some(NOW - Duration::days(1)), None)).expect("ok");
    assert_eq!(p.representatives.iter().filter(|r| r.representative == new).count(), 1);

    for bad in ["", "rpps:10000000019", "no-hash", "https://idp.example#", "a b#c"] {
        let change =
            PolicyChange::AddRepresentative { representative: bad.into(), kind: RepresentationKind::Minor, since: None, until: None };
        assert!(matches!(refused(Who::Patient, &mut p, change), PolicyError::InvalidRepresentative { .. }), "{bad:?}");
    }
    assert_eq!(
        refused(Who::Patient, &mut p, add(Some(NOW + Duration::days(2)), Some(NOW + Duration::days(1)))),
        PolicyError::InvalidPeriod
    );
    assert_eq!(
        refused(Who::Patient, &mut p, add(Some(NOW - Duration::days(9)), Some(NOW - Duration::days(1)))),
        PolicyError::InvalidPeriod
    );

    // The parent ends their own representation: kept, with its end.
    apply(Who::Parent, &mut p, PolicyChange::EndRepresentative { representative: Who::Parent.reference() }).expect("ok");
    let ended = p.representatives.iter().find(|r| r.representative == Who::Parent.reference()).expect("kept");
    assert_eq!(ended.until, Some(NOW));
    assert!(!p.is_current_representative(&Who::Parent.actor(), &ins(), NOW));
    // Ending an ended one keeps its first end.
    let before = p.clone();
    apply_at(Who::Patient, &mut p, PolicyChange::EndRepresentative { representative: Who::ExParent.reference() }, NOW).expect("ok");
    assert_eq!(p, before);
    assert_eq!(
        refused(Who::Patient, &mut p, PolicyChange::EndRepresentative { representative: "https://idp.example#nobody".into() }),
        PolicyError::NoSuchRepresentation
    );
}

/// The codes name changes in notifications and are the API's `change` tags: stable, one each.
#[test]
fn changes_have_stable_distinct_codes() {
    let codes: Vec<&str> = every_change().iter().map(PolicyChange::code).collect();
    assert_eq!(
        codes,
        [
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
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Labels

fn label_change(who: Who, scene: &Scene, doc: &DocumentMeta, label: SecurityLabel) -> Result<(), LabelDenied> {
    authorize_label_change(&who.actor(), &scene.ctx(), &base_policy(), doc, label)
}

#[test]
fn masque_ps_is_the_holders_choice() {
    let scene = Scene::new();
    let doc = base_doc();
    assert_eq!(label_change(Who::Patient, &scene, &doc, SecurityLabel::MasquePs), Ok(()));
    assert_eq!(label_change(Who::Parent, &scene, &doc, SecurityLabel::MasquePs), Ok(()));
    let mut masked = base_doc();
    masked.labels.push(SecurityLabel::MasquePs);
    assert_eq!(label_change(Who::Patient, &scene, &masked, SecurityLabel::MasquePs), Ok(()), "lifting needs the same right");
    for who in [Who::Author, Who::Doctor, Who::MedecinTraitant] {
        assert_eq!(label_change(who, &scene, &doc, SecurityLabel::MasquePs), Err(LabelDenied::HolderOnly), "{who:?}");
    }
    // Nobody changes what they cannot see; the answer is that of a missing document.
    let mut secret = base_doc();
    secret.labels.push(SecurityLabel::InvisibleRepresentantsLegaux);
    assert_eq!(label_change(Who::Parent, &scene, &secret, SecurityLabel::MasquePs), Err(LabelDenied::NotVisible));
    assert_eq!(label_change(Who::Patient, &scene, &secret, SecurityLabel::MasquePs), Ok(()));
    let mut unannounced = base_doc();
    unannounced.labels.push(SecurityLabel::InvisiblePatient);
    assert_eq!(label_change(Who::Patient, &scene, &unannounced, SecurityLabel::MasquePs), Err(LabelDenied::NotVisible));
    for who in [Who::OtherPatient, Who::UnregisteredParent, Who::Stranger, Who::Insurer, Who::Operator] {
        assert_eq!(label_change(who, &scene, &doc, SecurityLabel::MasquePs), Err(LabelDenied::NotVisible), "{who:?}");
    }
    // The holder still hides documents of a closed record.
    let closed = Scene { status: RecordStatus::Closed, ..Scene::new() };
    assert_eq!(label_change(Who::Patient, &closed, &doc, SecurityLabel::MasquePs), Ok(()));
}

#[test]
fn invisible_labels_are_the_authors() {
    let scene = Scene::new();
    let doc = base_doc();
    for label in [SecurityLabel::InvisiblePatient, SecurityLabel::InvisibleRepresentantsLegaux] {
        assert_eq!(label_change(Who::Author, &scene, &doc, label), Ok(()), "{label:?}");
        for who in [Who::Patient, Who::Parent, Who::Doctor, Who::MedecinTraitant] {
            assert_eq!(label_change(who, &scene, &doc, label), Err(LabelDenied::AuthorOnly), "{who:?} {label:?}");
        }
        let mut labelled = base_doc();
        labelled.labels.push(label);
        assert_eq!(label_change(Who::Author, &scene, &labelled, label), Ok(()), "the author lifts it");
    }
    // A blocked author still lifts the label on what they wrote; on a closed record, nobody.
    let mut blocked = base_policy();
    blocked.blocked.push(Who::Author.rpps());
    assert_eq!(authorize_label_change(&Who::Author.actor(), &scene.ctx(), &blocked, &doc, SecurityLabel::InvisiblePatient), Ok(()));
    let closed = Scene { status: RecordStatus::Closed, ..Scene::new() };
    assert_eq!(label_change(Who::Author, &closed, &doc, SecurityLabel::InvisiblePatient), Err(LabelDenied::NotVisible));
    // A minor hides their own deposit from their parents.
    let mut own = base_doc();
    own.author = Who::Patient.reference();
    assert_eq!(label_change(Who::Patient, &scene, &own, SecurityLabel::InvisibleRepresentantsLegaux), Ok(()));
    assert_eq!(
        [LabelDenied::NotVisible.code(), LabelDenied::HolderOnly.code(), LabelDenied::AuthorOnly.code()],
        ["not_visible", "holder_only", "author_only"]
    );
}

// ---------------------------------------------------------------------------------------------
// Emergency access

fn open(
    who: Who,
    policy: &PatientPolicy,
    status: RecordStatus,
    kind: EmergencyKind,
    justification: &str,
) -> Result<carnet_domain::EmergencyAccess, EmergencyDenied> {
    let request = EmergencyRequest { kind, justification, duration: Duration::hours(1) };
    open_emergency(&who.actor(), &ins(), status, policy, &request, NOW)
}

#[test]
fn emergencies_open_for_the_right_role_with_a_justification() {
    let p = base_policy();
    let e = open(Who::Stranger, &p, RecordStatus::Active, EmergencyKind::BrisDeGlace, "  patient inconscient  ").expect("opens");
    assert_eq!(
        (e.kind, e.ins.clone(), e.actor.clone(), e.justification.as_str()),
        (EmergencyKind::BrisDeGlace, ins(), Who::Stranger.reference(), "patient inconscient")
    );
    assert_eq!((e.opened_at, e.expires_at), (NOW, NOW + Duration::hours(1)));
    assert!(e.is_current(NOW) && e.is_current(NOW + Duration::minutes(59)));
    assert!(!e.is_current(NOW + Duration::hours(1)) && !e.is_current(NOW - Duration::seconds(1)));
    let s = open(Who::Regulator, &p, RecordStatus::Active, EmergencyKind::Samu, "appel au 15").expect("opens");
    assert_eq!(s.kind, EmergencyKind::Samu);

    assert_eq!(open(Who::Stranger, &p, RecordStatus::Active, EmergencyKind::Samu, "x"), Err(EmergencyDenied::Role(EmergencyKind::Samu)));
    assert_eq!(
        open(Who::Regulator, &p, RecordStatus::Active, EmergencyKind::BrisDeGlace, "x"),
        Err(EmergencyDenied::Role(EmergencyKind::BrisDeGlace))
    );
    for who in [Who::Patient, Who::Parent, Who::System, Who::Insurer, Who::Operator, Who::PrivacyOfficer] {
        for kind in [EmergencyKind::BrisDeGlace, EmergencyKind::Samu] {
            assert_eq!(open(who, &p, RecordStatus::Active, kind, "x"), Err(EmergencyDenied::Role(kind)), "{who:?}");
        }
    }
}

#[test]
fn the_justification_is_required_and_bounded() {
    let p = base_policy();
    let bdg = |j: &str| open(Who::Stranger, &p, RecordStatus::Active, EmergencyKind::BrisDeGlace, j).map(|e| e.justification);
    for empty in ["", "   ", "\n\t"] {
        assert_eq!(bdg(empty), Err(EmergencyDenied::Justification), "{empty:?}");
    }
    let longest = "é".repeat(MAX_JUSTIFICATION);
    assert_eq!(bdg(&format!(" {longest} ")), Ok(longest.clone()), "counted in characters, after trimming");
    assert_eq!(bdg(&format!("{longest}e")), Err(EmergencyDenied::Justification));
    // Input is checked before anything that depends on the record.
    assert_eq!(open(Who::Stranger, &p, RecordStatus::Closed, EmergencyKind::BrisDeGlace, " "), Err(EmergencyDenied::Justification));
    assert_eq!(EmergencyDenied::Justification.code(), "justification_required");
}

#[test]
fn emergencies_are_refused_when_opposed_blocked_inactive_or_needless() {
    let p = base_policy();
    for status in [RecordStatus::Closed, RecordStatus::Archived, RecordStatus::Destroyed] {
        assert_eq!(open(Who::Stranger, &p, status, EmergencyKind::BrisDeGlace, "x"), Err(EmergencyDenied::RecordNotActive));
        assert_eq!(open(Who::Regulator, &p, status, EmergencyKind::Samu, "x"), Err(EmergencyDenied::RecordNotActive));
    }
    let mut blocked = base_policy();
    blocked.blocked.extend([Who::Stranger.rpps(), Who::Regulator.rpps()]);
    assert_eq!(open(Who::Stranger, &blocked, RecordStatus::Active, EmergencyKind::BrisDeGlace, "x"), Err(EmergencyDenied::Blocked));
    assert_eq!(open(Who::Regulator, &blocked, RecordStatus::Active, EmergencyKind::Samu, "x"), Err(EmergencyDenied::Blocked));

    let against_bdg = PatientPolicy { opposes_bris_de_glace: true, ..base_policy() };
    let err = open(Who::Stranger, &against_bdg, RecordStatus::Active, EmergencyKind::BrisDeGlace, "x").expect_err("opposed");
    assert_eq!((err, err.code()), (EmergencyDenied::Opposed(EmergencyKind::BrisDeGlace), "bris_de_glace_opposed"));
    assert!(open(Who::Regulator, &against_bdg, RecordStatus::Active, EmergencyKind::Samu, "x").is_ok());
    let against_samu = PatientPolicy { opposes_samu: true, ..base_policy() };
    let err = open(Who::Regulator, &against_samu, RecordStatus::Active, EmergencyKind::Samu, "x").expect_err("opposed");
    assert_eq!((err, err.code()), (EmergencyDenied::Opposed(EmergencyKind::Samu), "samu_opposed"));
    assert!(open(Who::Stranger, &against_samu, RecordStatus::Active, EmergencyKind::BrisDeGlace, "x").is_ok());

    for who in [Who::Doctor, Who::MedecinTraitant, Who::Extended] {
        assert_eq!(
            open(who, &p, RecordStatus::Active, EmergencyKind::BrisDeGlace, "x"),
            Err(EmergencyDenied::AlreadyAuthorized),
            "{who:?}"
        );
    }
    assert!(open(Who::Expired, &p, RecordStatus::Active, EmergencyKind::BrisDeGlace, "x").is_ok(), "an expired authorization is no access");
    // The messages do not say what the patient chose.
    let generic =
        [EmergencyDenied::RecordNotActive, EmergencyDenied::Blocked, EmergencyDenied::Opposed(EmergencyKind::Samu)].map(|e| e.to_string());
    assert!(generic.iter().all(|m| *m == generic[0]), "{generic:?}");
}
