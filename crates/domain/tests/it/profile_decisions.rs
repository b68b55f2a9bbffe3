//! Who sees a profile item (`decide_item`): an item read from a document exactly when its source
//! is visible; a direct item on the record's standing; an item entered in error by its recorder
//! only. A permit and a deny per rule, then properties over random actors, policies and sources.

use crate::support::*;

use carnet_domain::profile::{ItemId, ItemKind, ItemMeta, ItemOrigin, ItemStatus, decide_item};
use carnet_domain::{AccessDecision, DenyReason, DocumentId, DocumentMeta, SecurityLabel, decide, decide_record};
use proptest::prelude::*;
use proptest::sample::select;

fn from_document(doc: &DocumentMeta) -> ItemMeta {
    ItemMeta {
        id: ItemId::from_bytes([2; 16]),
        ins: doc.ins.clone(),
        kind: ItemKind::Allergy,
        origin: ItemOrigin::Document { document: doc.id, path: String::new() },
        recorded_by: doc.author.clone(),
        recorded_at: NOW,
        effective: None,
        status: ItemStatus::Current,
        replaces: None,
    }
}

fn direct(by: Who, origin: ItemOrigin, status: ItemStatus) -> ItemMeta {
    ItemMeta { origin, recorded_by: by.reference(), status, ..from_document(&base_doc()) }
}

fn verdict(who: Who, item: &ItemMeta, source: Option<&DocumentMeta>) -> AccessDecision {
    decide_item(&who.actor(), &Scene::new().ctx(), &base_policy(), item, source)
}

#[test]
fn an_item_from_a_masked_document_is_hidden_from_an_authorized_doctor_and_shown_to_the_medecin_traitant() {
    let masked = DocumentMeta { labels: vec![SecurityLabel::MasquePs], ..base_doc() };
    let item = from_document(&masked);
    assert_eq!(verdict(Who::Doctor, &item, Some(&masked)), AccessDecision::Deny(DenyReason::MaskedFromProfessionals));
    assert!(verdict(Who::MedecinTraitant, &item, Some(&masked)).is_permit());
    // The same item from an unmasked source: the authorized doctor sees it.
    assert!(verdict(Who::Doctor, &item, Some(&base_doc())).is_permit());
}

#[test]
fn an_item_from_a_document_invisible_to_the_patient_is_hidden_from_the_patient_only() {
    let invisible = DocumentMeta { labels: vec![SecurityLabel::InvisiblePatient], ..base_doc() };
    let item = from_document(&invisible);
    assert_eq!(verdict(Who::Patient, &item, Some(&invisible)), AccessDecision::Deny(DenyReason::InvisiblePatient));
    assert!(verdict(Who::Doctor, &item, Some(&invisible)).is_permit());
}

#[test]
fn an_item_follows_its_withdrawn_source() {
    let withdrawn = DocumentMeta { status: carnet_domain::DocumentStatus::EnteredInError, ..base_doc() };
    let item = from_document(&withdrawn);
    assert_eq!(verdict(Who::Doctor, &item, Some(&withdrawn)), AccessDecision::Deny(DenyReason::EnteredInError));
    assert!(verdict(Who::Author, &item, Some(&withdrawn)).is_permit());
}

#[test]
fn an_item_whose_source_is_missing_or_another_is_hidden() {
    let item = from_document(&base_doc());
    assert_eq!(verdict(Who::Patient, &item, None), AccessDecision::Deny(DenyReason::OtherRecord));
    let other = DocumentMeta { id: DocumentId::from_bytes([9; 16]), ..base_doc() };
    assert_eq!(verdict(Who::Patient, &item, Some(&other)), AccessDecision::Deny(DenyReason::OtherRecord));
    assert!(verdict(Who::Patient, &item, Some(&base_doc())).is_permit());
}

#[test]
fn a_direct_item_is_decided_on_the_record_standing() {
    let declared = direct(Who::Patient, ItemOrigin::Patient, ItemStatus::Current);
    assert!(verdict(Who::Doctor, &declared, None).is_permit());
    assert_eq!(verdict(Who::Stranger, &declared, None), AccessDecision::Deny(DenyReason::NoAuthorization));
    assert_eq!(verdict(Who::Insurer, &declared, None), AccessDecision::Deny(DenyReason::RoleNeverReads));
}

#[test]
fn a_direct_item_entered_in_error_is_seen_by_its_recorder_only() {
    let wrong = direct(Who::Doctor, ItemOrigin::Professional, ItemStatus::EnteredInError);
    assert!(verdict(Who::Doctor, &wrong, None).is_permit());
    assert_eq!(verdict(Who::Patient, &wrong, None), AccessDecision::Deny(DenyReason::EnteredInError));
    assert_eq!(verdict(Who::MedecinTraitant, &wrong, None), AccessDecision::Deny(DenyReason::EnteredInError));
}

#[test]
fn an_item_of_another_record_is_never_shown() {
    let item = ItemMeta { ins: other_ins(), ..direct(Who::Patient, ItemOrigin::Patient, ItemStatus::Current) };
    assert_eq!(verdict(Who::MedecinTraitant, &item, None), AccessDecision::Deny(DenyReason::OtherRecord));
}

fn any_source() -> impl Strategy<Value = DocumentMeta> {
    let labels = prop_oneof![2 => Just(vec![]), 1 => prop::sample::subsequence(SecurityLabel::ALL.to_vec(), 1..=3)];
    let status = select(vec![
        carnet_domain::DocumentStatus::Current,
        carnet_domain::DocumentStatus::Superseded,
        carnet_domain::DocumentStatus::EnteredInError,
    ]);
    let types = select(vec!["11488-4", "60591-5", "11502-2", "87273-9", "34133-9"]);
    (select(Who::ALL.to_vec()), labels, status, types).prop_map(|(author, labels, status, t)| DocumentMeta {
        author: author.reference(),
        labels,
        status,
        ..doc_of_type(t)
    })
}

fn any_status() -> impl Strategy<Value = ItemStatus> {
    select(vec![ItemStatus::Current, ItemStatus::Superseded, ItemStatus::EnteredInError])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// An item from a document is decided exactly as its source: the same answer, permit or deny.
    #[test]
    fn an_item_from_a_document_is_visible_exactly_when_its_source_is(who in select(Who::ALL.to_vec()), source in any_source(), status in select(vec![ItemStatus::Current, ItemStatus::Superseded])) {
        let ctx_scene = Scene::new();
        let policy = base_policy();
        let item = ItemMeta { status, ..from_document(&source) };
        prop_assert_eq!(
            decide_item(&who.actor(), &ctx_scene.ctx(), &policy, &item, Some(&source)),
            decide(&who.actor(), &ctx_scene.ctx(), &policy, &source)
        );
    }

    /// A direct item: the record's standing, and entered in error its recorder only.
    #[test]
    fn a_direct_item_is_visible_on_standing_and_in_error_to_its_recorder(who in select(Who::ALL.to_vec()), by in select(Who::ALL.to_vec()), status in any_status(), by_patient in any::<bool>()) {
        let scene = Scene::new();
        let policy = base_policy();
        let origin = if by_patient { ItemOrigin::Patient } else { ItemOrigin::Professional };
        let item = direct(by, origin, status);
        let decision = decide_item(&who.actor(), &scene.ctx(), &policy, &item, None);
        let standing = decide_record(&who.actor(), &scene.ctx(), &policy);
        if decision.is_permit() {
            prop_assert!(standing.is_permit());
        }
        if status == ItemStatus::EnteredInError && who.reference() != by.reference() {
            prop_assert!(!decision.is_permit());
        } else {
            prop_assert_eq!(decision, standing);
        }
    }
}
