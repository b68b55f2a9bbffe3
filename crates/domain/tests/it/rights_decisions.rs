//! The decision table of `authorize`: every action besides reading clinical content, with at
//! least one permit and one deny row each. Each row starts from the same patient
//! (`support::base_policy`, at `NOW`) and names the expected grant or refusal; then properties
//! over random actors of every role and random actions: `authorize` is total, and agrees with
//! the other doors (`decide_record`, the holder).

use crate::support;

use std::mem::discriminant;

use carnet_domain::codes::Code;
use carnet_domain::record::RecordAction;
use carnet_domain::{
    AccessDecision, Action, ActionDenied, ActionKind, Actor, ActorKind, DenyReason, Grant, HolderContext, Ins, PatientPolicy, Profession,
    RecordStatus, Scopes, SecurityLabel, authorize, decide_record,
};
use proptest::prelude::*;
use proptest::sample::select;
use support::*;
use time::{Duration, OffsetDateTime};

/// What the actions of the table borrow.
struct Fixture {
    ins: Ins,
    policy: PatientPolicy,
    consultation: Code,
    reimbursement: Code,
    /// `REMB` under another system than TRE_A05's.
    reimbursement_elsewhere: Code,
    author: String,
    deposited_by: String,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            ins: ins(),
            policy: base_policy(),
            consultation: type_code("11488-4"),
            reimbursement: type_code("REMB"),
            reimbursement_elsewhere: Code::new("urn:oid:1.2.3", "REMB"),
            author: Who::Author.reference(),
            deposited_by: Who::System.reference(),
        }
    }

    fn holder(&self) -> HolderContext<'_> {
        HolderContext { ins: &self.ins, policy: &self.policy, now: NOW }
    }
}

type Build = for<'a> fn(&'a Fixture) -> Action<'a>;

struct Row {
    what: &'static str,
    who: Who,
    /// The actor acts through an app: a token with a client and granted SMART scopes.
    app: bool,
    action: Build,
    expect: Result<Grant, ActionDenied>,
}

const fn row(what: &'static str, who: Who, action: Build, expect: Result<Grant, ActionDenied>) -> Row {
    Row { what, who, app: false, action, expect }
}

const fn app_row(what: &'static str, who: Who, action: Build, expect: Result<Grant, ActionDenied>) -> Row {
    Row { what, who, app: true, action, expect }
}

impl Row {
    fn actor(&self) -> Actor {
        let mut actor = self.who.actor();
        if self.app {
            actor.client = Some("app-agenda".into());
            actor.scopes = Scopes::Granted(vec![]);
        }
        actor
    }
}

fn create(f: &Fixture) -> Action<'_> {
    Action::Record { action: RecordAction::Create, ins: &f.ins }
}
fn read_status(f: &Fixture) -> Action<'_> {
    Action::Record { action: RecordAction::ReadStatus, ins: &f.ins }
}
fn close(f: &Fixture) -> Action<'_> {
    Action::Record { action: RecordAction::Close, ins: &f.ins }
}
fn reopen(f: &Fixture) -> Action<'_> {
    Action::Record { action: RecordAction::Reopen, ins: &f.ins }
}
fn request_destruction(f: &Fixture) -> Action<'_> {
    Action::Record { action: RecordAction::RequestDestruction, ins: &f.ins }
}
fn export(f: &Fixture) -> Action<'_> {
    Action::Record { action: RecordAction::Export, ins: &f.ins }
}
fn feed_consultation(f: &Fixture) -> Action<'_> {
    Action::Feed { ins: &f.ins, type_code: &f.consultation }
}
fn feed_reimbursement(f: &Fixture) -> Action<'_> {
    Action::Feed { ins: &f.ins, type_code: &f.reimbursement }
}
fn change_status(f: &Fixture) -> Action<'_> {
    Action::ChangeDocumentStatus { author: &f.author, deposited_by: &f.deposited_by }
}
fn read_policy(f: &Fixture) -> Action<'_> {
    Action::ReadPolicy(f.holder())
}
fn read_history(f: &Fixture) -> Action<'_> {
    Action::ReadAccessHistory(f.holder())
}
fn notifications(f: &Fixture) -> Action<'_> {
    Action::ManageNotifications(f.holder())
}
fn delete_reimbursement(f: &Fixture) -> Action<'_> {
    Action::DeleteReimbursementHistory(f.holder())
}
fn manage_apps(f: &Fixture) -> Action<'_> {
    Action::ManageApps(f.holder())
}

use ActionDenied as D;
use Grant as G;

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // The record's lifecycle: patients and representatives on the record they speak for.
    row("the patient creates their record", Who::Patient, create, Ok(G::RecordRule)),
    row("a patient does not create another's record", Who::OtherPatient, create, Err(D::NotTheirRecord)),
    row("a parent creates the record of the child their token represents", Who::UnregisteredParent, create, Ok(G::RecordRule)),
    row("a representative's token must represent the patient", Who::ParentWrongToken, create, Err(D::NotTheirRecord)),
    row("a doctor creates a record", Who::Doctor, create, Ok(G::RecordRule)),
    row("a pharmacist creates a record (its own channel)", Who::Pharmacist, create, Ok(G::RecordRule)),
    row("an insurer agent creates a record at the desk", Who::Insurer, create, Ok(G::RecordRule)),
    row("a regulator does not create records", Who::Regulator, create, Err(D::RecordRole)),
    row("feeding software does not create records", Who::System, create, Err(D::RecordRole)),
    row("an operator does not create records", Who::Operator, create, Err(D::RecordRole)),
    row("a privacy officer does not create records", Who::PrivacyOfficer, create, Err(D::RecordRole)),
    row("the patient reads their record's status", Who::Patient, read_status, Ok(G::RecordRule)),
    row("every professional role reads a status", Who::Regulator, read_status, Ok(G::RecordRule)),
    row("feeding software reads a status", Who::System, read_status, Ok(G::RecordRule)),
    row("an operator reads a status", Who::Operator, read_status, Ok(G::RecordRule)),
    row("a privacy officer reads a status", Who::PrivacyOfficer, read_status, Ok(G::RecordRule)),
    row("a patient does not read another's status", Who::OtherPatient, read_status, Err(D::NotTheirRecord)),
    row("the patient closes their record", Who::Patient, close, Ok(G::RecordRule)),
    row("an insurer agent closes a record", Who::Insurer, close, Ok(G::RecordRule)),
    row("a doctor does not close a record", Who::Doctor, close, Err(D::RecordRole)),
    row("an operator does not close a record", Who::Operator, close, Err(D::RecordRole)),
    row("a parent reopens the record", Who::Parent, reopen, Ok(G::RecordRule)),
    row("an insurer agent reopens a record", Who::Insurer, reopen, Ok(G::RecordRule)),
    row("a privacy officer does not reopen a record", Who::PrivacyOfficer, reopen, Err(D::RecordRole)),
    row("the patient asks for their record's destruction", Who::Patient, request_destruction, Ok(G::RecordRule)),
    row("an insurer agent does not ask for destruction", Who::Insurer, request_destruction, Err(D::RecordRole)),
    row("a doctor does not ask for destruction", Who::Doctor, request_destruction, Err(D::RecordRole)),
    row("a patient does not ask for another's destruction", Who::OtherPatient, request_destruction, Err(D::NotTheirRecord)),
    row("the patient takes a copy of their record", Who::Patient, export, Ok(G::RecordRule)),
    row("a parent takes a copy of the record their token represents", Who::UnregisteredParent, export, Ok(G::RecordRule)),
    row("a patient does not take a copy of another's record", Who::OtherPatient, export, Err(D::NotTheirRecord)),
    row("a doctor does not take a copy of a whole record", Who::Doctor, export, Err(D::RecordRole)),
    row("an insurer agent does not take a copy of a record", Who::Insurer, export, Err(D::RecordRole)),
    row("an operator does not take a copy of a record", Who::Operator, export, Err(D::RecordRole)),
    // Feeding.
    row("the patient feeds their own record", Who::Patient, feed_consultation, Ok(G::MayFeed)),
    row("a representative feeds the represented record", Who::Parent, feed_consultation, Ok(G::MayFeed)),
    row("a patient does not feed another's record", Who::OtherPatient, feed_consultation, Err(D::FeedsOwnRecordOnly)),
    row("a doctor feeds any record", Who::Stranger, feed_consultation, Ok(G::MayFeed)),
    row("a regulator feeds", Who::Regulator, feed_consultation, Ok(G::MayFeed)),
    row("feeding software feeds", Who::System, feed_consultation, Ok(G::MayFeed)),
    row("an insurer agent feeds the reimbursement history", Who::Insurer, feed_reimbursement, Ok(G::MayFeed)),
    row("an insurer agent feeds nothing else", Who::Insurer, feed_consultation, Err(D::FeedsReimbursementOnly)),
    row("an insurer agent's type is compared by code: its system is the metadata check's", Who::Insurer,
        |f| Action::Feed { ins: &f.ins, type_code: &f.reimbursement_elsewhere }, Ok(G::MayFeed)),
    row("an operator does not feed", Who::Operator, feed_reimbursement, Err(D::DoesNotFeed)),
    row("a privacy officer does not feed", Who::PrivacyOfficer, feed_consultation, Err(D::DoesNotFeed)),
    // Labels set at deposit.
    row("the patient masks their deposit from professionals", Who::Patient, |_| Action::SetDepositLabels(&[SecurityLabel::MasquePs]), Ok(G::Role)),
    row("the patient does not hide a deposit from themselves", Who::Patient,
        |_| Action::SetDepositLabels(&[SecurityLabel::MasquePs, SecurityLabel::InvisiblePatient]), Err(D::SetsMasquePsOnly(SecurityLabel::InvisiblePatient))),
    row("nor does a representative hide it from representatives", Who::Parent,
        |_| Action::SetDepositLabels(&[SecurityLabel::InvisibleRepresentantsLegaux]), Err(D::SetsMasquePsOnly(SecurityLabel::InvisibleRepresentantsLegaux))),
    row("a doctor sets any label", Who::Doctor, |_| Action::SetDepositLabels(&SecurityLabel::ALL), Ok(G::Role)),
    row("feeding software sets any label", Who::System, |_| Action::SetDepositLabels(&[SecurityLabel::InvisiblePatient]), Ok(G::Role)),
    row("an insurer agent deposits without labels", Who::Insurer, |_| Action::SetDepositLabels(&[]), Ok(G::Role)),
    row("an insurer agent sets no label", Who::Insurer, |_| Action::SetDepositLabels(&[SecurityLabel::MasquePs]), Err(D::SetsNoLabel)),
    // Naming the author.
    row("feeding software names the author", Who::System, |_| Action::NameAuthor, Ok(G::Role)),
    row("a doctor authors as themselves", Who::Doctor, |_| Action::NameAuthor, Err(D::AuthorsAsThemselves)),
    row("a patient authors as themselves", Who::Patient, |_| Action::NameAuthor, Err(D::AuthorsAsThemselves)),
    // Identity traits (rule 12).
    row("a doctor sees the identity", Who::Stranger, |_| Action::SeeIdentity, Ok(G::Role)),
    row("the patient sees their identity", Who::Patient, |_| Action::SeeIdentity, Ok(G::Role)),
    row("feeding software sees the identity", Who::System, |_| Action::SeeIdentity, Ok(G::Role)),
    row("an insurer agent does not", Who::Insurer, |_| Action::SeeIdentity, Err(D::IdentityHidden)),
    row("an operator does not", Who::Operator, |_| Action::SeeIdentity, Err(D::IdentityHidden)),
    row("a privacy officer does not", Who::PrivacyOfficer, |_| Action::SeeIdentity, Err(D::IdentityHidden)),
    // Registering the representative who creates the record.
    row("a parent who creates the child's record is registered", Who::UnregisteredParent, |f| Action::RegisterAsCreator(&f.ins), Ok(G::CreatedTheRecord)),
    row("not for a record their token does not represent", Who::ParentWrongToken, |f| Action::RegisterAsCreator(&f.ins), Err(D::NotCreatingRepresentative)),
    row("a patient is not registered as a representative", Who::Patient, |f| Action::RegisterAsCreator(&f.ins), Err(D::NotCreatingRepresentative)),
    row("nor is a doctor", Who::Doctor, |f| Action::RegisterAsCreator(&f.ins), Err(D::NotCreatingRepresentative)),
    // A document's status.
    row("the author withdraws or archives their document", Who::Author, change_status, Ok(G::Author)),
    row("so does the software that deposited it", Who::System, change_status, Ok(G::Author)),
    row("an authorized doctor does not", Who::Doctor, change_status, Err(D::NotAuthor)),
    row("the médecin traitant does not", Who::MedecinTraitant, change_status, Err(D::NotAuthor)),
    row("the patient does not", Who::Patient, change_status, Err(D::NotAuthor)),
    // The holder's pages (rule 9: a representative needs registration and token both).
    row("the patient reads their policy", Who::Patient, read_policy, Ok(G::Holder)),
    row("a current representative reads it", Who::Parent, read_policy, Ok(G::Holder)),
    row("a privacy officer reads it", Who::PrivacyOfficer, read_policy, Ok(G::PrivacyOfficer)),
    row("an ended representative does not", Who::ExParent, read_policy, Err(D::NotPolicyReader)),
    row("an unregistered representative does not", Who::UnregisteredParent, read_policy, Err(D::NotPolicyReader)),
    row("the médecin traitant does not", Who::MedecinTraitant, read_policy, Err(D::NotPolicyReader)),
    row("an operator does not", Who::Operator, read_policy, Err(D::NotPolicyReader)),
    row("the patient reads their access history", Who::Patient, read_history, Ok(G::Holder)),
    row("a current representative reads it", Who::Parent, read_history, Ok(G::Holder)),
    row("a privacy officer reads it", Who::PrivacyOfficer, read_history, Ok(G::PrivacyOfficer)),
    row("another patient does not", Who::OtherPatient, read_history, Err(D::NotHistoryReader)),
    row("a registration without a token for the patient does not", Who::ParentWrongToken, read_history, Err(D::NotHistoryReader)),
    row("a doctor does not", Who::Doctor, read_history, Err(D::NotHistoryReader)),
    row("the patient manages their notifications", Who::Patient, notifications, Ok(G::Holder)),
    row("a current representative does", Who::Parent, notifications, Ok(G::Holder)),
    row("a privacy officer does not", Who::PrivacyOfficer, notifications, Err(D::NotHolder)),
    row("an ended representative does not", Who::ExParent, notifications, Err(D::NotHolder)),
    row("the patient deletes the reimbursement history", Who::Patient, delete_reimbursement, Ok(G::Holder)),
    row("a current representative does", Who::Parent, delete_reimbursement, Ok(G::Holder)),
    row("the insurer agent who fed it does not", Who::Insurer, delete_reimbursement, Err(D::NotHolderToDelete)),
    row("a privacy officer does not", Who::PrivacyOfficer, delete_reimbursement, Err(D::NotHolderToDelete)),
    row("the médecin traitant does not", Who::MedecinTraitant, delete_reimbursement, Err(D::NotHolderToDelete)),
    row("the patient manages the apps connected to their record", Who::Patient, manage_apps, Ok(G::Holder)),
    row("a current representative does", Who::Parent, manage_apps, Ok(G::Holder)),
    row("another patient does not", Who::OtherPatient, manage_apps, Err(D::NotHolderForApps)),
    row("an ended representative does not", Who::ExParent, manage_apps, Err(D::NotHolderForApps)),
    row("a privacy officer does not", Who::PrivacyOfficer, manage_apps, Err(D::NotHolderForApps)),
    row("a doctor does not", Who::Doctor, manage_apps, Err(D::NotHolderForApps)),
    app_row("an app acting for the patient does not", Who::Patient, manage_apps, Err(D::AppManagesNoApps)),
    app_row("nor one acting for the representative", Who::Parent, manage_apps, Err(D::AppManagesNoApps)),
    app_row("an app keeps the rest of its holder's pages to the scopes", Who::Patient, read_history, Ok(G::Holder)),
    // Statistics, keys, directory, review queue.
    row("an insurer agent reads the statistics", Who::Insurer, |_| Action::ReadStatistics, Ok(G::Role)),
    row("an operator reads them", Who::Operator, |_| Action::ReadStatistics, Ok(G::Role)),
    row("a privacy officer reads them", Who::PrivacyOfficer, |_| Action::ReadStatistics, Ok(G::Role)),
    row("a doctor does not", Who::Doctor, |_| Action::ReadStatistics, Err(D::StatisticsRole)),
    row("a patient does not", Who::Patient, |_| Action::ReadStatistics, Err(D::StatisticsRole)),
    row("feeding software does not", Who::System, |_| Action::ReadStatistics, Err(D::StatisticsRole)),
    row("an operator rotates the master key", Who::Operator, |_| Action::RotateKeys, Ok(G::Operator)),
    row("a privacy officer does not", Who::PrivacyOfficer, |_| Action::RotateKeys, Err(D::OperatorsRotateKeys)),
    row("feeding software does not", Who::System, |_| Action::RotateKeys, Err(D::OperatorsRotateKeys)),
    row("an operator loads the directory", Who::Operator, |_| Action::MaintainDirectory, Ok(G::Operator)),
    row("a doctor does not", Who::Doctor, |_| Action::MaintainDirectory, Err(D::OperatorsMaintainDirectory)),
    row("an insurer agent does not", Who::Insurer, |_| Action::MaintainDirectory, Err(D::OperatorsMaintainDirectory)),
    row("the privacy officer works the review queue", Who::PrivacyOfficer, |_| Action::ReviewQueue, Ok(G::PrivacyOfficer)),
    row("an operator does not", Who::Operator, |_| Action::ReviewQueue, Err(D::PrivacyOfficersQueue)),
    row("a patient does not", Who::Patient, |_| Action::ReviewQueue, Err(D::PrivacyOfficersQueue)),
];

#[test]
fn the_decision_table() {
    let f = Fixture::new();
    let mut failures = Vec::new();
    for (i, r) in TABLE.iter().enumerate() {
        let got = authorize(&r.actor(), (r.action)(&f));
        if got != r.expect {
            failures.push(format!("row {i}: {} — {:?}: expected {:?}, got {got:?}", r.what, r.who, r.expect));
        }
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_action_has_a_permit_and_a_deny_row() {
    let f = Fixture::new();
    for kind in ActionKind::ALL {
        let rows: Vec<&Row> = TABLE.iter().filter(|r| (r.action)(&f).kind() == kind).collect();
        assert!(rows.iter().any(|r| r.expect.is_ok()), "{kind:?} has no permit row");
        assert!(rows.iter().any(|r| r.expect.is_err()), "{kind:?} has no deny row");
    }
    for g in Grant::ALL {
        assert!(TABLE.iter().any(|r| r.expect == Ok(g)), "no row grants {g:?}");
    }
    for d in ActionDenied::ALL {
        assert!(TABLE.iter().any(|r| r.expect.is_err_and(|e| discriminant(&e) == discriminant(&d))), "no row refuses with {d:?}");
    }
}

/// The codes the ledger already holds for these decisions: an access history written before
/// must read the same as one written now.
#[test]
fn ledger_codes_are_stable() {
    let grants = [
        (G::RecordRule, "record_rule"),
        (G::Role, "role"),
        (G::MayFeed, "may_feed"),
        (G::Holder, "holder"),
        (G::PrivacyOfficer, "privacy_officer"),
        (G::Operator, "operator"),
        (G::Author, "author"),
        (G::CreatedTheRecord, "created_the_record"),
    ];
    for (g, code) in grants {
        assert_eq!(g.code(), code, "{g:?}");
    }
    let denials = [
        (D::RecordRole, "role_not_allowed"),
        (D::NotTheirRecord, "not_their_record"),
        (D::FeedsOwnRecordOnly, "not_allowed_to_feed"),
        (D::FeedsReimbursementOnly, "not_allowed_to_feed"),
        (D::DoesNotFeed, "not_allowed_to_feed"),
        (D::IdentityHidden, "traits_not_visible"),
        (D::NotAuthor, "not_author"),
        (D::NotPolicyReader, "not_holder"),
        (D::NotHistoryReader, "not_holder"),
        (D::NotHolder, "not_holder"),
        (D::NotHolderToDelete, "not_holder"),
        (D::NotHolderForApps, "not_holder"),
        (D::AppManagesNoApps, "app_token"),
        (D::StatisticsRole, "role_not_allowed"),
        (D::OperatorsRotateKeys, "role_not_allowed"),
        (D::OperatorsMaintainDirectory, "role_not_allowed"),
        (D::PrivacyOfficersQueue, "role_not_allowed"),
    ];
    for (d, code) in denials {
        assert_eq!(d.code(), code, "{d:?}");
    }
    for d in ActionDenied::ALL {
        assert!(!d.code().is_empty() && d.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{d:?}");
    }
}

/// Only a deposit's labels are the caller's input (422); every other refusal is of the caller.
#[test]
fn only_label_refusals_are_input() {
    for d in ActionDenied::ALL {
        assert_eq!(d.is_input(), matches!(d, D::SetsMasquePsOnly(_) | D::SetsNoLabel), "{d:?}");
    }
}

// Properties over random actors of every role and random actions.

const REP_POOL: [&str; 3] = ["parent", "r1", "ex-parent"];

fn any_ins() -> impl Strategy<Value = Ins> {
    prop_oneof![3 => Just(ins()), 1 => Just(other_ins())]
}

fn any_actor() -> impl Strategy<Value = Actor> {
    let represents = prop::sample::subsequence(vec![ins(), other_ins()], 0..=2);
    prop_oneof![
        4 => select(Who::ALL.to_vec()).prop_map(Who::actor),
        1 => any_ins().prop_map(patient_of),
        1 => (select(REP_POOL.to_vec()), represents).prop_map(|(sub, r)| representative(sub, r)),
        2 => (1u8..=12, select(Profession::ALL.to_vec())).prop_map(|(n, p)| professional(n, p)),
        1 => (1u8..=12, select(Profession::ALL.to_vec())).prop_map(|(n, p)| {
            let mut a = regulator(n);
            if let ActorKind::Regulator(id) = &mut a.kind {
                id.profession = p;
            }
            a
        }),
        1 => Just(system()),
        1 => Just(insurer()),
        1 => Just(operator()),
        1 => Just(privacy_officer()),
    ]
}

/// The owned data of an action, drawn at random.
#[derive(Debug, Clone)]
struct Draw {
    kind: ActionKind,
    ins: Ins,
    type_code: Code,
    labels: Vec<SecurityLabel>,
    author: String,
    deposited_by: String,
    policy: PatientPolicy,
    now: OffsetDateTime,
}

impl Draw {
    fn action(&self) -> Action<'_> {
        let holder = HolderContext { ins: &self.ins, policy: &self.policy, now: self.now };
        match self.kind {
            ActionKind::Record(action) => Action::Record { action, ins: &self.ins },
            ActionKind::Feed => Action::Feed { ins: &self.ins, type_code: &self.type_code },
            ActionKind::SetDepositLabels => Action::SetDepositLabels(&self.labels),
            ActionKind::NameAuthor => Action::NameAuthor,
            ActionKind::SeeIdentity => Action::SeeIdentity,
            ActionKind::RegisterAsCreator => Action::RegisterAsCreator(&self.ins),
            ActionKind::ChangeDocumentStatus => Action::ChangeDocumentStatus { author: &self.author, deposited_by: &self.deposited_by },
            ActionKind::ReadPolicy => Action::ReadPolicy(holder),
            ActionKind::ReadAccessHistory => Action::ReadAccessHistory(holder),
            ActionKind::ManageNotifications => Action::ManageNotifications(holder),
            ActionKind::DeleteReimbursementHistory => Action::DeleteReimbursementHistory(holder),
            ActionKind::ManageApps => Action::ManageApps(holder),
            ActionKind::ReadStatistics => Action::ReadStatistics,
            ActionKind::RotateKeys => Action::RotateKeys,
            ActionKind::MaintainDirectory => Action::MaintainDirectory,
            ActionKind::ReviewQueue => Action::ReviewQueue,
        }
    }
}

fn any_reference() -> impl Strategy<Value = String> {
    prop_oneof![select(Who::ALL.to_vec()).prop_map(Who::reference), Just(String::new()), Just("rpps:".to_owned()), "[a-z:#/.]{0,24}",]
}

fn any_policy() -> impl Strategy<Value = PatientPolicy> {
    prop_oneof![
        3 => Just(base_policy()),
        1 => Just(PatientPolicy::default()),
        1 => Just(PatientPolicy { representatives: vec![], ..base_policy() }),
    ]
}

fn any_draw() -> impl Strategy<Value = Draw> {
    let types = lists().types.into_iter().map(|t| t.code).collect::<Vec<_>>();
    (
        select(ActionKind::ALL.to_vec()),
        any_ins(),
        prop_oneof![select(types), Just(Code::new("", "REMB")), Just(Code::new("", ""))],
        prop::collection::vec(select(SecurityLabel::ALL.to_vec()), 0..=4),
        any_reference(),
        any_reference(),
        any_policy(),
        select(vec![NOW, NOW - Duration::days(3650), NOW + Duration::days(3650)]),
    )
        .prop_map(|(kind, ins, type_code, labels, author, deposited_by, policy, now)| Draw {
            kind,
            ins,
            type_code,
            labels,
            author,
            deposited_by,
            policy,
            now,
        })
}

fn active(draw: &Draw) -> Scene {
    Scene { ins: draw.ins.clone(), status: RecordStatus::Active, now: draw.now, ..Scene::new() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Total: an answer for every actor and action, the same each time, with a well-formed code.
    #[test]
    fn authorize_is_total(actor in any_actor(), draw in any_draw()) {
        let first = authorize(&actor, draw.action());
        prop_assert_eq!(first, authorize(&actor, draw.action()));
        let code = match first {
            Ok(g) => g.code(),
            Err(d) => {
                prop_assert!(!d.to_string().is_empty());
                d.code()
            }
        };
        prop_assert!(!code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{}", code);
        prop_assert_eq!(draw.action().kind(), draw.kind);
    }

    /// The holder's pages are the holder's: permitted exactly when the policy names the actor
    /// holder (or, for the policy and the history, to a privacy officer) — and a holder may also
    /// act on the record itself.
    #[test]
    fn holder_pages_follow_the_holder(actor in any_actor(), draw in any_draw()) {
        let holder = draw.policy.holder(&actor, &draw.ins, draw.now).is_some();
        let officer = matches!(actor.kind, ActorKind::PrivacyOfficer);
        let ctx = HolderContext { ins: &draw.ins, policy: &draw.policy, now: draw.now };
        prop_assert_eq!(authorize(&actor, Action::ManageNotifications(ctx)).is_ok(), holder);
        prop_assert_eq!(authorize(&actor, Action::DeleteReimbursementHistory(ctx)).is_ok(), holder);
        prop_assert_eq!(authorize(&actor, Action::ManageApps(ctx)).is_ok(), holder && actor.scopes == Scopes::RoleOnly);
        let mut app = actor.clone();
        app.scopes = Scopes::Granted(vec![]);
        prop_assert_eq!(authorize(&app, Action::ManageApps(ctx)), Err(ActionDenied::AppManagesNoApps));
        prop_assert_eq!(authorize(&actor, Action::ReadPolicy(ctx)).is_ok(), holder || officer);
        prop_assert_eq!(authorize(&actor, Action::ReadAccessHistory(ctx)).is_ok(), holder || officer);
        if holder {
            for action in [RecordAction::ReadStatus, RecordAction::Close, RecordAction::Reopen, RecordAction::RequestDestruction, RecordAction::Export] {
                prop_assert_eq!(authorize(&actor, Action::Record { action, ins: &draw.ins }), Ok(Grant::RecordRule));
            }
        }
    }

    /// The doors agree: whoever does not see identities never consults a record either (rule
    /// 12); whoever may feed a record may read its status; whoever consults an active record
    /// sees identities.
    #[test]
    fn the_doors_agree(actor in any_actor(), draw in any_draw()) {
        let scene = active(&draw);
        let consults = decide_record(&actor, &scene.ctx(), &draw.policy);
        if authorize(&actor, Action::SeeIdentity).is_err() {
            prop_assert_eq!(consults, AccessDecision::Deny(DenyReason::RoleNeverReads));
            prop_assert!(authorize(&actor, Action::ReadStatistics).is_ok());
        }
        if consults.is_permit() {
            prop_assert!(authorize(&actor, Action::SeeIdentity).is_ok());
        }
        if authorize(&actor, Action::Feed { ins: &draw.ins, type_code: &draw.type_code }).is_ok() {
            let reads_status = authorize(&actor, Action::Record { action: RecordAction::ReadStatus, ins: &draw.ins });
            prop_assert!(reads_status.is_ok(), "{:?}", reads_status);
        }
    }
}
