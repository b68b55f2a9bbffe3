//! The storage conformance suite: every backend must pass every case.
//!
//! Compiled only with the `test-support` feature (the release binary does not carry it). Used by
//! `tests/it/sqlite.rs` and `tests/it/postgres.rs` through `store_suite!`, which declares each
//! case as a test of its own, and reusable by any future backend.

use carnet_domain::actor::{Actor, ActorKind, ProfessionalIdentity};
use carnet_domain::{
    CreationChannel, Finess, IdentityStatus, Ins, InsKind, Profession, Professional, Record, RecordStatus, ReferenceTraits,
    RetentionPolicy, Rpps, Sex,
};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use carnet_crypto::WrappedKey;
use carnet_domain::codes::{CLASS_SYSTEM, Code, FORMAT_SYSTEM_IHE};
use carnet_domain::document::XdsMetadata;
use carnet_domain::{DocumentId, DocumentMeta, DocumentStatus, SecurityLabel};

use crate::database::on_pool;
use crate::{
    AppStore, AppUse, ConnectedApp, Database, DirectoryStore, DocumentStore, GateInputs, KeyStore, NewSetDocument, NotificationStore,
    OutboxMessage, PolicyStore, RecordStore, ReviewItem, ReviewStore, Revocation, StoreError, StoredPreferences, StoredSubmissionSet,
    SubmissionStore, TraitsQuery,
};
use crate::{ExtractionCount, ExtractionResult, ExtractionState, ExtractionStore};
use crate::{PendingSignIn, SessionStore, StoredSession};
use crate::{ProfileStore, StoredItem};
use carnet_domain::profile::{ItemId, ItemKind, ItemMeta, ItemOrigin, ItemStatus};

/// Declares one `#[tokio::test]` per case of the suite. `$fresh` is an async function returning a
/// fresh, migrated `Database` and a guard kept alive until the case ends (e.g. its temporary
/// directory).
#[macro_export]
macro_rules! store_suite {
    ($fresh:path) => {
        $crate::store_suite!($fresh;
            records_round_trip,
            one_live_record_per_ins,
            stale_saves_are_refused,
            due_records_follow_the_clock,
            first_feed_is_kept,
            statistics_count_channels_and_organisations,
            directory_upserts,
            the_directory_is_searched_by_family_name,
            patient_keys_are_kept_once_and_rewrapped_atomically,
            documents_round_trip_and_keep_unique_ids,
            replacement_supersedes_atomically,
            a_patients_document_list_follows_every_change_on_every_node,
            shredding_deletes_documents_and_derived_artifacts,
            interrupted_uploads_are_remembered_until_ended,
            ids_without_row_or_note_are_unclaimed,
            policies_are_saved_optimistically_with_their_notifications,
            policies_written_before_versions_read_and_save,
            emergencies_review_items_and_first_accesses,
            justification_openings_are_kept_by_commitment,
            free_text_stored_before_sealing_is_found,
            gate_inputs_are_the_three_reads_in_one,
            the_outbox_delivers_retries_and_keeps_what_failed,
            outbox_claims_are_leased_and_retried_after_the_lease,
            a_job_lease_has_one_holder_until_it_ends,
            a_node_shutting_down_gives_its_leases_back,
            submission_sets_are_all_or_nothing,
            large_submission_sets_are_all_or_nothing,
            cancelled_deposits_land_whole_or_not_at_all,
            records_are_found_by_traits,
            connected_apps_are_noted_revoked_and_allowed,
            portal_sessions_are_touched_revoked_and_purged,
            sign_ins_are_taken_once_and_expire,
            the_ledger_checkpoint_only_advances_unless_reset,
            a_distrusted_ledger_stays_so_until_a_restore_is_acknowledged,
            the_enumeration_guard_counts_distinct_records_and_purges,
            extraction_jobs_are_written_with_their_documents_and_claimed_once,
            extraction_leases_expire_and_results_are_kept_with_the_lease,
            profile_items_land_with_their_document_or_not_at_all,
            profile_items_of_a_submission_set_land_with_it,
            a_replacement_supersedes_its_sources_items,
            direct_items_are_corrected_and_marked_entered_in_error,
            withdrawing_a_correction_of_a_documents_item_puts_it_back,
            shredding_deletes_profile_items,
            a_records_profile_follows_every_change_on_every_node,
            items_stored_one_row_each_land_with_their_document,
            items_stored_one_row_each_are_superseded_with_their_document,
            items_stored_one_row_each_are_corrected_and_put_back,
            items_stored_one_row_each_follow_every_change_on_every_node,
            two_corrections_of_one_version_do_not_both_land,
        );
    };
    ($fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (db, _guard) = $fresh().await;
                $crate::conformance::$case(db).await;
            }
        )*
    };
}

const T0: OffsetDateTime = datetime!(2026-01-15 10:00 UTC);

/// A document row goes in only while its upload is noted, as a deposit notes it first. Noted
/// already (a retried insert of the same document) is fine.
async fn noted<'m>(db: &Database, meta: &'m DocumentMeta) -> &'m DocumentMeta {
    let _ = db.begin_upload(meta.id, T0).await;
    meta
}

/// `noted` for each document of a submission set.
async fn noted_rows<'r, 'm>(db: &Database, rows: &'r [NewSetDocument<'m>]) -> &'r [NewSetDocument<'m>] {
    for r in rows {
        let _ = db.begin_upload(r.meta.id, T0).await;
    }
    rows
}

fn ins(n: u64) -> Ins {
    let body = format!("1{:02}{:02}75{:06}", 80 + n % 20, 1 + n % 12, n % 1_000_000);
    Ins::from_body(&body[..13]).expect("a valid generated INS")
}

fn finess(n: u64) -> Finess {
    Finess::from_body(&format!("75{:06}", n)).expect("digits")
}

fn professional_actor(profession: Profession, org: u64) -> Actor {
    Actor {
        issuer: "https://idp.test".into(),
        subject: format!("pro-{org}"),
        name: Some("Dr Test".into()),
        kind: ActorKind::Professional(ProfessionalIdentity {
            rpps: Rpps::from_body(&format!("10{:08}", org)).expect("digits"),
            profession,
            specialty: None,
            organisation: Some(finess(org)),
        }),
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

fn record(n: u64, actor: &Actor) -> Record {
    let traits = ReferenceTraits {
        birth_name: "MARTIN".into(),
        birth_given_names: "Jeanne Louise".into(),
        birth_date: date!(1980 - 03 - 14),
        sex: Sex::Female,
        birthplace: Some("2A004".into()),
    };
    Record::open(actor, ins(n), InsKind::Nir, IdentityStatus::Qualifiee, traits, T0).expect("valid record")
}

pub async fn records_round_trip(db: Database) {
    let actor = professional_actor(Profession::Pharmacien, 1);
    let r = record(1, &actor);
    db.create_record(&r).await.expect("create");
    let found = db.find_record_by_ins(&r.ins).await.expect("find").expect("present");
    assert_eq!(found, r, "a record reads back exactly as written");
    assert_eq!(found.channel, CreationChannel::Pharmacist);
    assert_eq!(db.find_record_by_ins(&ins(2)).await.expect("find"), None);
}

/// Takes an active record through a destruction request to destroyed.
async fn destroy(db: &Database, r: &mut Record) {
    r.request_destruction("patient request", T0, &RetentionPolicy::default()).expect("destroyable");
    db.save_record(r, RecordStatus::Active).await.expect("save");
    let read_as = r.status;
    r.apply(RecordStatus::Destroyed, T0);
    db.save_record(r, read_as).await.expect("destroy");
}

pub async fn one_live_record_per_ins(db: Database) {
    let actor = professional_actor(Profession::Medecin, 1);
    let mut r = record(1, &actor);
    db.create_record(&r).await.expect("create");
    let again = db.create_record(&r).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "second live record refused: {again:?}");

    // Once destroyed, the INS may have a new record; the tombstone keeps no identity.
    destroy(&db, &mut r).await;
    assert_eq!(db.find_record_by_ins(&r.ins).await.expect("find"), None, "a destroyed record is not live");
    db.create_record(&record(1, &actor)).await.expect("a new record after destruction");
}

pub async fn stale_saves_are_refused(db: Database) {
    let actor = professional_actor(Profession::Medecin, 1);
    let mut r = record(1, &actor);
    db.create_record(&r).await.expect("create");
    r.close("moving abroad", T0, &RetentionPolicy::default()).expect("close");
    db.save_record(&r, RecordStatus::Active).await.expect("first close");
    let stale = db.save_record(&r, RecordStatus::Active).await;
    assert!(matches!(stale, Err(StoreError::Stale(_))), "a save based on an old read is refused: {stale:?}");
    let found = db.find_record_by_ins(&r.ins).await.expect("find").expect("present");
    assert_eq!(found.status, RecordStatus::Closed);
    assert_eq!(found.close_reason.as_deref(), Some("moving abroad"));
}

pub async fn due_records_follow_the_clock(db: Database) {
    let retention = RetentionPolicy::default();
    let actor = professional_actor(Profession::Medecin, 1);
    let mut closed = record(1, &actor);
    db.create_record(&closed).await.expect("create");
    closed.close("closing", T0, &retention).expect("close");
    db.save_record(&closed, RecordStatus::Active).await.expect("save");
    let active = record(2, &actor);
    db.create_record(&active).await.expect("create");

    let at = |now: OffsetDateTime| (now, now - retention.archive_after_closure);
    let (now, before) = at(T0 + Duration::days(1));
    assert!(db.find_records_due(now, before, 10).await.expect("due").is_empty(), "nothing due the next day");
    let (now, before) = at(T0 + retention.archive_after_closure);
    let due = db.find_records_due(now, before, 10).await.expect("due");
    assert_eq!(due.iter().map(|r| &r.ins).collect::<Vec<_>>(), vec![&closed.ins], "due for archiving");
    assert_eq!(due[0].due_transition(now, &retention), Some(RecordStatus::Archived));
    let (now, before) = at(T0 + retention.destroy_after_closure);
    let due = db.find_records_due(now, before, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due_transition(now, &retention), Some(RecordStatus::Destroyed));
}

pub async fn first_feed_is_kept(db: Database) {
    let actor = professional_actor(Profession::Medecin, 1);
    let r = record(1, &actor);
    db.create_record(&r).await.expect("create");
    db.mark_fed(&r.ins, T0 + Duration::hours(1)).await.expect("fed");
    db.mark_fed(&r.ins, T0 + Duration::hours(2)).await.expect("fed again");
    let found = db.find_record_by_ins(&r.ins).await.expect("find").expect("present");
    assert_eq!(found.first_fed_at, Some(T0 + Duration::hours(1)));
}

pub async fn statistics_count_channels_and_organisations(db: Database) {
    let pharmacist = professional_actor(Profession::Pharmacien, 7);
    let doctor = professional_actor(Profession::Medecin, 8);
    for n in 1..=3 {
        db.create_record(&record(n, &pharmacist)).await.expect("create");
    }
    db.create_record(&record(4, &doctor)).await.expect("create");
    db.mark_fed(&ins(1), T0).await.expect("fed");
    db.mark_fed(&ins(4), T0).await.expect("fed");

    let stats = db.record_statistics().await.expect("stats");
    assert_eq!((stats.created, stats.fed), (4, 2));
    assert_eq!(stats.by_status, vec![(RecordStatus::Active, 4)]);
    let pharm = stats.by_channel.iter().find(|c| c.channel == CreationChannel::Pharmacist).expect("pharmacist row");
    assert_eq!((pharm.created, pharm.fed), (3, 1));
    let org7 = stats.by_organisation.iter().find(|o| o.organisation == finess(7)).expect("org 7");
    assert_eq!((org7.created, org7.fed, org7.channel), (3, 1, CreationChannel::Pharmacist));
    assert_eq!(stats.by_organisation.len(), 2);
}

pub async fn directory_upserts(db: Database) {
    let mut p = Professional {
        email: Some("dr.test@example.org".into()),
        rpps: Rpps::from_body("1000000001").expect("digits"),
        family_name: "DURAND".into(),
        given_name: "Paul".into(),
        profession: Profession::Infirmier,
        specialty: None,
        organisation: Some(finess(3)),
    };
    assert_eq!(db.save_professionals(std::slice::from_ref(&p), T0).await.expect("save"), 1);
    assert_eq!(db.find_professional_by_rpps(&p.rpps).await.expect("find"), Some(p.clone()));
    p.family_name = "DURAND-LEROY".into();
    p.specialty = Some("SM26".into());
    db.save_professionals(std::slice::from_ref(&p), T0).await.expect("update");
    assert_eq!(db.find_professional_by_rpps(&p.rpps).await.expect("find"), Some(p.clone()));
    let unknown = Rpps::from_body("1000000002").expect("digits");
    assert_eq!(db.find_professional_by_rpps(&unknown).await.expect("find"), None);
}

/// By the folded family name's prefix (case, accents, spaces and hyphens aside), in name order,
/// at most `limit`; a renamed professional is found by the new name only.
pub async fn the_directory_is_searched_by_family_name(db: Database) {
    let professional = |n: u64, family: &str, given: &str| Professional {
        rpps: Rpps::from_body(&format!("10000{n:05}")).expect("digits"),
        family_name: family.into(),
        given_name: given.into(),
        profession: Profession::Medecin,
        specialty: None,
        organisation: None,
        email: None,
    };
    let people = [
        professional(1, "Lefèvre", "Anne"),
        professional(2, "LEFEVRE", "Bruno"),
        professional(3, "Le Febvre", "Chloé"),
        professional(4, "Lefort", "Denis"),
        professional(5, "Martin", "Élise"),
    ];
    db.save_professionals(&people, T0).await.expect("save");
    let names = |found: Vec<Professional>| found.into_iter().map(|p| p.given_name).collect::<Vec<_>>();
    let search = |prefix: &'static str, limit| {
        let db = db.clone();
        async move { names(db.find_professionals_by_name(prefix, limit).await.expect("search")) }
    };
    assert_eq!(search("lefevre", 10).await, ["Anne", "Bruno"], "accents and case folded, ties by given name");
    assert_eq!(search("lef", 10).await, ["Chloé", "Anne", "Bruno", "Denis"], "in key order: lefebvre, lefevre, lefort");
    assert_eq!(search("lef", 2).await, ["Chloé", "Anne"], "never more than the limit");
    assert_eq!(search("martin", 10).await, ["Élise"]);
    assert!(search("", 10).await.is_empty(), "an empty prefix lists nothing");
    assert!(search("le%", 10).await.is_empty(), "a wildcard is no key");
    assert!(search("l_f", 10).await.is_empty(), "a wildcard is no key");
    assert!(search("dupont", 10).await.is_empty());
    let mut renamed = people[4].clone();
    renamed.family_name = "Dupré".into();
    db.save_professionals(&[renamed], T0).await.expect("update");
    assert!(search("martin", 10).await.is_empty(), "the old name no longer finds her");
    assert_eq!(search("dupre", 10).await, ["Élise"]);

    // Rows written before the key existed get it when the store opens.
    db.forget_name_keys().await;
    assert!(search("lef", 10).await.is_empty());
    db.fill_name_keys().await.expect("fill");
    assert_eq!(search("lef", 10).await, ["Chloé", "Anne", "Bruno", "Denis"]);
}

fn wrapped(id: &str, byte: u8) -> WrappedKey {
    WrappedKey { master_key_id: id.into(), sealed: vec![byte; 60] }
}

pub async fn patient_keys_are_kept_once_and_rewrapped_atomically(db: Database) {
    let (a, b) = (ins(1), ins(2));
    assert_eq!(db.save_patient_key_if_absent(&a, &wrapped("mk-1", 1), T0).await.expect("save"), wrapped("mk-1", 1));
    // A racing first deposit gets the key already in force, not its own.
    assert_eq!(db.save_patient_key_if_absent(&a, &wrapped("mk-1", 9), T0).await.expect("save"), wrapped("mk-1", 1));
    db.save_patient_key_if_absent(&b, &wrapped("mk-1", 2), T0).await.expect("save");
    assert_eq!(db.all_patient_keys().await.expect("all").len(), 2);

    // A rotation based on a stale read changes nothing at all.
    let stale = [(a.clone(), wrapped("mk-1", 1), wrapped("mk-2", 11)), (b.clone(), wrapped("mk-1", 99), wrapped("mk-2", 12))];
    assert!(matches!(db.save_rewrapped_keys(&stale).await, Err(StoreError::Stale(_))));
    assert_eq!(db.find_patient_key(&a).await.expect("find"), Some(wrapped("mk-1", 1)), "all or nothing");
    let good = [(a.clone(), wrapped("mk-1", 1), wrapped("mk-2", 11)), (b.clone(), wrapped("mk-1", 2), wrapped("mk-2", 12))];
    db.save_rewrapped_keys(&good).await.expect("rewrap");
    assert_eq!(db.find_patient_key(&b).await.expect("find"), Some(wrapped("mk-2", 12)));
    db.delete_patient_key(&a).await.expect("delete");
    assert_eq!(db.find_patient_key(&a).await.expect("find"), None);

    // Service secrets: kept once, rewrapped all or nothing.
    let kept = db.save_service_key_if_absent("ledger-signing", &wrapped("mk-1", 21), T0).await.expect("save");
    assert_eq!(kept, wrapped("mk-1", 21));
    let again = db.save_service_key_if_absent("ledger-signing", &wrapped("mk-1", 22), T0).await.expect("save");
    assert_eq!(again, wrapped("mk-1", 21), "the first wrap stays");
    let stale = [("ledger-signing".to_owned(), wrapped("mk-1", 99), wrapped("mk-2", 23))];
    assert!(matches!(db.save_rewrapped_service_keys(&stale).await, Err(StoreError::Stale(_))));
    let good = [("ledger-signing".to_owned(), wrapped("mk-1", 21), wrapped("mk-2", 23))];
    db.save_rewrapped_service_keys(&good).await.expect("rewrap");
    assert_eq!(db.all_service_keys().await.expect("all"), vec![("ledger-signing".to_owned(), wrapped("mk-2", 23))]);
}

fn document(n: u8, patient: &Ins) -> DocumentMeta {
    DocumentMeta {
        id: DocumentId::from_bytes([n; 16]),
        ins: patient.clone(),
        xds: XdsMetadata {
            unique_id: format!("1.2.250.1.999.{n}"),
            class_code: Code::new(CLASS_SYSTEM, "10"),
            type_code: Code::new("http://loinc.org", "11502-2"),
            format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds-sd:pdf:2008"),
            practice_setting: Some(Code::new(
                "https://mos.esante.gouv.fr/NOS/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS",
                "SNR",
            )),
            facility_type: n
                .is_multiple_of(2)
                .then(|| Code::new("https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "SA07")),
            service_start: Some(T0 - Duration::days(2)),
            service_end: None,
            mime_type: "application/pdf".into(),
            language: "fr-FR".into(),
            authored_at: Some(T0 - Duration::days(1)),
        },
        author: "rpps:10000000019".into(),
        author_name: Some(carnet_domain::document::PersonName {
            // Quotes, backslashes, accents and a character outside the BMP survive every encoding.
            family: Some(if n == 2 { "D'ARC \"é\" \\ \u{1d11e}\n".into() } else { "MARTIN".into() }),
            given: (n % 2 == 1).then(|| "Claire".into()),
        }),
        deposited_by: "https://idp.test#lab-software".into(),
        submitted_at: T0 + Duration::minutes(i64::from(n)),
        size: 1000 + u64::from(n),
        sha256: [n; 32],
        labels: vec![SecurityLabel::MasquePs, SecurityLabel::InvisibleRepresentantsLegaux],
        status: DocumentStatus::Current,
        archived: false,
        replaces: None,
    }
}

pub async fn documents_round_trip_and_keep_unique_ids(db: Database) {
    let p = ins(1);
    let d1 = document(1, &p);
    db.insert_document(noted(&db, &d1).await, Some(b"sealed title"), None, &[]).await.expect("insert");
    let (found, title) = db.find_document(d1.id).await.expect("find").expect("present");
    assert_eq!(found, d1);
    assert_eq!(title.as_deref(), Some(&b"sealed title"[..]));
    assert_eq!(db.find_document_by_unique_id(&d1.xds.unique_id).await.expect("find"), Some(d1.clone()));

    let same_uid = DocumentMeta { id: DocumentId::from_bytes([9; 16]), ..d1.clone() };
    assert!(matches!(db.insert_document(noted(&db, &same_uid).await, None, None, &[]).await, Err(StoreError::Conflict(_))));
    assert!(db.find_document(same_uid.id).await.expect("find").is_none(), "nothing half-written");

    let d2 = document(2, &p);
    db.insert_document(noted(&db, &d2).await, None, None, &[]).await.expect("insert");
    db.insert_document(noted(&db, &document(3, &ins(2))).await, None, None, &[]).await.expect("another patient");
    // The record's list carries every field and the sealed title, byte for byte.
    let mine = owned(db.find_documents_of(&p).await.expect("list"));
    assert_eq!(mine, vec![(d2.clone(), None), (d1.clone(), Some(b"sealed title".to_vec()))], "newest first, this patient only");
    assert_eq!(db.find_documents_of(&ins(9)).await.expect("list"), vec![], "no documents, no rows");

    let mut archived = d1.clone();
    archived.set_archived(true).expect("archive");
    archived.labels = vec![];
    db.save_document_state(&archived, DocumentStatus::Current).await.expect("save");
    assert_eq!(db.find_document(d1.id).await.expect("find").expect("present").0, archived);
    assert_eq!(
        owned(db.find_documents_of(&p).await.expect("list")).get(1).map(|d| &d.0),
        Some(&archived),
        "the archive flag and labels read back"
    );
    let mut withdrawn = archived.clone();
    withdrawn.status = DocumentStatus::EnteredInError;
    db.save_document_state(&withdrawn, DocumentStatus::Current).await.expect("withdraw");
    assert!(matches!(db.save_document_state(&withdrawn, DocumentStatus::Current).await, Err(StoreError::Stale(_))));
}

/// The list may come from a node's cache: a change made through any node (here two handles on
/// one database, each with its own cache) must show in the next read on every node.
pub async fn a_patients_document_list_follows_every_change_on_every_node(a: Database) {
    let b = a.another_node();
    let (p, other) = (ins(1), ins(2));
    let ids = |list: Vec<(DocumentMeta, Option<Vec<u8>>)>| {
        list.into_iter().map(|(d, _)| (d.id, d.status, d.archived, d.labels)).collect::<Vec<_>>()
    };
    let read_both = |expected: Vec<(DocumentMeta, Option<Vec<u8>>)>, step: &'static str| {
        let (a, b, p) = (a.clone(), b.clone(), p.clone());
        async move {
            assert_eq!(owned(a.find_documents_of(&p).await.expect("list")), expected, "{step}: node a");
            assert_eq!(owned(b.find_documents_of(&p).await.expect("list")), expected, "{step}: node b");
            // Twice: the second read is the cached one.
            assert_eq!(owned(a.find_documents_of(&p).await.expect("list")), expected, "{step}: node a again");
            assert_eq!(owned(b.find_documents_of(&p).await.expect("list")), expected, "{step}: node b again");
        }
    };
    read_both(vec![], "no documents").await;
    let d1 = document(1, &p);
    a.insert_document(noted(&a, &d1).await, Some(b"t1"), None, &[]).await.expect("insert");
    read_both(vec![(d1.clone(), Some(b"t1".to_vec()))], "insert on a").await;

    let d2 = document(2, &p);
    b.insert_document(noted(&b, &d2).await, None, None, &[]).await.expect("insert");
    read_both(vec![(d2.clone(), None), (d1.clone(), Some(b"t1".to_vec()))], "insert on b").await;

    let mut archived = d1.clone();
    archived.set_archived(true).expect("archive");
    archived.labels = vec![SecurityLabel::InvisiblePatient];
    a.save_document_state(&archived, DocumentStatus::Current).await.expect("save");
    read_both(vec![(d2.clone(), None), (archived.clone(), Some(b"t1".to_vec()))], "labels and archive on a").await;

    // Another patient's change leaves this list as it is, and theirs is their own.
    b.insert_document(noted(&b, &document(7, &other)).await, None, None, &[]).await.expect("other patient");
    read_both(vec![(d2.clone(), None), (archived.clone(), Some(b"t1".to_vec()))], "another patient's deposit").await;
    assert_eq!(ids(owned(a.find_documents_of(&other).await.expect("list"))).len(), 1);

    let v3 = DocumentMeta { replaces: Some(d2.id), ..document(3, &p) };
    b.insert_document(noted(&b, &v3).await, None, Some(d2.id), &[]).await.expect("replace");
    let superseded = DocumentMeta { status: DocumentStatus::Superseded, ..d2.clone() };
    read_both(vec![(v3.clone(), None), (superseded.clone(), None), (archived.clone(), Some(b"t1".to_vec()))], "replacement on b").await;

    let d4 = document(4, &p);
    a.begin_upload(d4.id, T0).await.expect("begin");
    let set = StoredSubmissionSet {
        id: "set-cache".into(),
        ins: p.clone(),
        unique_id: "1.2.250.1.999.set.cache".into(),
        source_id: "1.2.250.1.999".into(),
        author: None,
        author_family: None,
        author_given: None,
        deposited_by: "https://idp.test#lab-software".into(),
        submitted_at: T0,
        title_sealed: None,
        documents: vec![d4.id],
    };
    a.insert_submission(&set, noted_rows(&a, &[NewSetDocument { meta: &d4, title_sealed: None, supersedes: None }]).await, &[])
        .await
        .expect("set");
    let expected = vec![(d4.clone(), None), (v3.clone(), None), (superseded.clone(), None), (archived.clone(), Some(b"t1".to_vec()))];
    read_both(expected, "submission set on a").await;

    b.delete_document(archived.id).await.expect("delete");
    read_both(vec![(d4.clone(), None), (v3.clone(), None), (superseded.clone(), None)], "deletion on b").await;

    a.delete_documents_of(&p).await.expect("shred");
    read_both(vec![], "shredding on a").await;
    assert_eq!(ids(owned(b.find_documents_of(&other).await.expect("list"))).len(), 1, "the other patient keeps theirs");
}

pub async fn replacement_supersedes_atomically(db: Database) {
    let p = ins(1);
    let v1 = document(1, &p);
    db.insert_document(noted(&db, &v1).await, None, None, &[]).await.expect("insert");
    let v2 = DocumentMeta { replaces: Some(v1.id), ..document(2, &p) };
    db.insert_document(noted(&db, &v2).await, None, Some(v1.id), &[]).await.expect("replace");
    assert_eq!(db.find_document(v1.id).await.expect("find").expect("present").0.status, DocumentStatus::Superseded);
    // Replacing a version that is no longer current fails and inserts nothing.
    let v3 = DocumentMeta { replaces: Some(v1.id), ..document(3, &p) };
    assert!(matches!(db.insert_document(noted(&db, &v3).await, None, Some(v1.id), &[]).await, Err(StoreError::Stale(_))));
    assert!(db.find_document(v3.id).await.expect("find").is_none());
}

pub async fn shredding_deletes_documents_and_derived_artifacts(db: Database) {
    let p = ins(1);
    let d = document(1, &p);
    db.insert_document(noted(&db, &d).await, None, None, &[]).await.expect("insert");
    db.save_derived(d.id, "text", b"sealed text").await.expect("derived");
    db.save_derived(d.id, "text", b"sealed text v2").await.expect("derived again");
    assert_eq!(db.find_derived(d.id, "text").await.expect("find").as_deref(), Some(&b"sealed text v2"[..]));
    assert_eq!(db.find_derived(d.id, "entries").await.expect("find"), None);
    db.insert_document(noted(&db, &document(2, &ins(2))).await, None, None, &[]).await.expect("other patient");
    assert_eq!(db.delete_documents_of(&p).await.expect("delete"), vec![d.id]);
    assert!(db.find_document(d.id).await.expect("find").is_none());
    assert_eq!(db.find_derived(d.id, "text").await.expect("find"), None, "derived artifacts go with their document");
    assert_eq!(db.find_documents_of(&ins(2)).await.expect("list").len(), 1);
}

pub async fn interrupted_uploads_are_remembered_until_ended(db: Database) {
    let p = ins(1);
    let (done, interrupted, abandoned) = (document(1, &p), document(2, &p), document(3, &p));
    for d in [&done, &interrupted, &abandoned] {
        db.begin_upload(d.id, T0).await.expect("begin");
    }
    db.insert_document(noted(&db, &done).await, None, None, &[]).await.expect("insert ends the upload");
    db.end_upload(abandoned.id).await.expect("abandon");
    assert_eq!(db.pending_uploads(T0 + Duration::seconds(1), 10).await.expect("pending"), vec![interrupted.id]);
    assert_eq!(db.pending_uploads(T0, 10).await.expect("pending"), vec![], "only uploads started before the given instant");
    assert!(db.begin_upload(interrupted.id, T0).await.is_err(), "an id is uploaded once");

    let later = document(4, &p);
    db.begin_upload(later.id, T0 + Duration::seconds(5)).await.expect("begin");
    let cutoff = T0 + Duration::seconds(10);
    assert_eq!(db.pending_uploads(cutoff, 1).await.expect("page"), vec![interrupted.id], "the oldest first, at most the limit");
    assert_eq!(db.pending_uploads(cutoff, 10).await.expect("all"), vec![interrupted.id, later.id]);
}

pub async fn ids_without_row_or_note_are_unclaimed(db: Database) {
    let p = ins(1);
    let (stored, uploading, abandoned, unknown) = (document(1, &p), document(2, &p), document(3, &p), document(4, &p));
    for d in [&stored, &uploading, &abandoned] {
        db.begin_upload(d.id, T0).await.expect("begin");
    }
    db.insert_document(noted(&db, &stored).await, None, None, &[]).await.expect("insert");
    db.end_upload(abandoned.id).await.expect("abandon");
    let ids = [stored.id, uploading.id, abandoned.id, unknown.id];
    let mut unclaimed = db.unclaimed_ids(&ids).await.expect("unclaimed");
    unclaimed.sort();
    let mut expected = vec![abandoned.id, unknown.id];
    expected.sort();
    assert_eq!(unclaimed, expected, "a row or a pending note claims an id");
    assert_eq!(db.unclaimed_ids(&[]).await.expect("none"), vec![]);

    // More ids than one statement binds: checked in batches, all answered.
    let many: Vec<DocumentId> =
        (0..1_200u32).map(|n| DocumentId::from_bytes([(n >> 8) as u8, n as u8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9])).collect();
    let mut with_stored = many.clone();
    with_stored.push(stored.id);
    assert_eq!(db.unclaimed_ids(&with_stored).await.expect("many").len(), many.len());
}

fn message(n: u8, patient: &Ins, kind: &str) -> OutboxMessage {
    OutboxMessage {
        id: format!("msg-{n}"),
        ins: patient.clone(),
        kind: kind.into(),
        recipient: "patient".into(),
        payload: format!("{{\"n\":{n}}}"),
        created_at: T0 + Duration::seconds(i64::from(n)),
        attempts: 0,
    }
}

pub async fn policies_are_saved_optimistically_with_their_notifications(db: Database) {
    use carnet_domain::PatientPolicy;
    let p = ins(1);
    let fresh = db.find_policy(&p).await.expect("find");
    assert_eq!((fresh.policy.clone(), fresh.version), (PatientPolicy::default(), 0), "nobody authorized by default");
    let mut policy = PatientPolicy { opposes_samu: true, ..PatientPolicy::default() };
    policy.blocked.push(Rpps::from_body("1000000001").expect("digits"));
    db.save_policy(&p, &policy, 0, T0, &[message(1, &p, "policy_change")]).await.expect("first save");
    let stored = db.find_policy(&p).await.expect("find");
    assert_eq!((stored.policy.clone(), stored.version), (policy.clone(), 1));
    // A save based on an old read is refused, and its notification is not queued.
    let other = PatientPolicy { reimbursement_hidden: true, ..policy.clone() };
    assert!(matches!(db.save_policy(&p, &other, 0, T0, &[message(2, &p, "policy_change")]).await, Err(StoreError::Stale(_))));
    db.save_policy(&p, &other, 1, T0, &[]).await.expect("second save");
    assert_eq!(db.find_policy(&p).await.expect("find").version, 2);
    let queued: Vec<String> = db.due_messages(T0 + Duration::days(1), 10).await.expect("due").into_iter().map(|m| m.id).collect();
    assert_eq!(queued, vec!["msg-1"]);

    // A document's notification is queued with it, and not when the insert fails.
    let d = document(1, &p);
    db.insert_document(noted(&db, &d).await, None, None, &[message(3, &p, "new_document")]).await.expect("insert");
    let dup = DocumentMeta { id: DocumentId::from_bytes([9; 16]), ..d.clone() };
    assert!(db.insert_document(noted(&db, &dup).await, None, None, &[message(4, &p, "new_document")]).await.is_err());
    let queued: Vec<String> = db.due_messages(T0 + Duration::days(1), 10).await.expect("due").into_iter().map(|m| m.id).collect();
    assert_eq!(queued, vec!["msg-1", "msg-3"]);
}

/// A row as written before the stored policy had a version marker (serde of the domain type).
const POLICY_BEFORE_VERSIONS: &str = include_str!("../tests/fixtures/policy-v1/everything.json");

/// Writes a policy row as it is, past the store's encoding.
async fn write_policy_row(db: &Database, p: &Ins, json: &str) -> crate::Result<()> {
    crate::database::on_writer!(db, |pool| sqlx::query(
        "INSERT INTO patient_policies (ins, policy, version, updated_at) VALUES ($1, $2, 1, $3)"
    )
    .bind(p.as_str())
    .bind(json)
    .bind(crate::time_codec::to_millis(T0))
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn policies_written_before_versions_read_and_save(db: Database) {
    let actor = professional_actor(Profession::Medecin, 1);
    let p = ins(1);
    db.create_record(&record(1, &actor)).await.expect("create");
    write_policy_row(&db, &p, POLICY_BEFORE_VERSIONS).await.expect("an old row");
    let stored = db.find_policy(&p).await.expect("an old row reads");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.policy.authorizations.len(), 4);
    assert_eq!(stored.policy.representatives.len(), 3);
    assert_eq!(stored.policy.medecin_traitant, Some(Rpps::from_body("1000000760").expect("digits")));
    assert!(stored.policy.opposes_bris_de_glace && stored.policy.reimbursement_hidden && !stored.policy.opposes_samu);
    let gate = db.find_gate_inputs(&p, None).await.expect("the gate reads it").expect("a record");
    assert_eq!(gate.policy, stored);
    // Saved again, it is written in the current format and reads the same.
    let mut changed = stored.policy.clone();
    changed.opposes_samu = true;
    db.save_policy(&p, &changed, 1, T0, &[]).await.expect("saves over an old row");
    assert_eq!(db.find_policy(&p).await.expect("reads"), crate::StoredPolicy { policy: changed, version: 2 });
}

fn emergency_access(p: &Ins, actor: &str, opened: OffsetDateTime, kind: carnet_domain::EmergencyKind) -> carnet_domain::EmergencyAccess {
    carnet_domain::EmergencyAccess {
        kind,
        ins: p.clone(),
        actor: actor.into(),
        justification: "patient inconscient".into(),
        opened_at: opened,
        expires_at: opened + Duration::hours(4),
    }
}

fn emergency_review(id: &str, p: &Ins, actor: &str) -> ReviewItem {
    ReviewItem {
        id: id.into(),
        kind: "emergency".into(),
        ins: Some(p.clone()),
        actor_ref: actor.into(),
        summary: "bris_de_glace".into(),
        ledger_index: Some(7),
        opened_at: T0,
        status: "open".into(),
        notes: "[]".into(),
        version: 0,
    }
}

pub async fn emergencies_review_items_and_first_accesses(db: Database) {
    use carnet_domain::EmergencyKind;
    let p = ins(1);
    let access = |opened: OffsetDateTime| emergency_access(&p, "rpps:10000000019", opened, EmergencyKind::BrisDeGlace);
    let review = |id: &str| emergency_review(id, &p, "rpps:10000000019");
    assert_eq!(db.find_latest_emergency("rpps:10000000019", &p).await.expect("find"), None);
    db.save_emergency("e1", &access(T0), &review("r1"), &[message(1, &p, "emergency_access")]).await.expect("save");
    db.save_emergency("e2", &access(T0 + Duration::hours(1)), &review("r2"), &[]).await.expect("save");
    assert_eq!(db.find_latest_emergency("rpps:10000000019", &p).await.expect("find"), Some(access(T0 + Duration::hours(1))));
    assert_eq!(db.find_latest_emergency("rpps:10000000027", &p).await.expect("find"), None, "another actor's access is not theirs");
    assert!(db.save_emergency("e3", &access(T0), &review("r1"), &[]).await.is_err(), "all or nothing: the review id is taken");
    assert_eq!(db.find_latest_emergency("rpps:10000000019", &p).await.expect("find").map(|e| e.opened_at), Some(T0 + Duration::hours(1)));
    // The actor's own, latest first, bounded; another actor has none.
    let mine = db.find_emergencies_by("rpps:10000000019", 10).await.expect("find");
    assert_eq!(mine, vec![access(T0 + Duration::hours(1)), access(T0)]);
    assert_eq!(db.find_emergencies_by("rpps:10000000019", 1).await.expect("find"), vec![access(T0 + Duration::hours(1))]);
    assert!(db.find_emergencies_by("rpps:10000000027", 10).await.expect("find").is_empty(), "another actor's accesses are not theirs");

    let mut item = db.find_review_item("r1").await.expect("find").expect("present");
    assert_eq!(item.ledger_index, Some(7));
    assert_eq!(db.find_review_items(Some("open"), 10).await.expect("list").len(), 2);
    item.status = "acknowledged".into();
    db.save_review_item(&item).await.expect("save");
    assert!(matches!(db.save_review_item(&item).await, Err(StoreError::Stale(_))), "saved from an old read");
    assert_eq!(db.find_review_items(Some("open"), 10).await.expect("list").len(), 1);
    assert_eq!(db.find_review_items(None, 10).await.expect("list").len(), 2);
    db.insert_review_item(&ReviewItem { id: "r3".into(), kind: "enumeration".into(), ins: None, ledger_index: None, ..review("x") })
        .await
        .expect("insert");
    assert_eq!(db.find_review_items(Some("open"), 10).await.expect("list").len(), 2);

    assert!(db.note_first_access(&p, "rpps:10000000019", T0, &[message(2, &p, "first_access")]).await.expect("first"));
    assert!(!db.note_first_access(&p, "rpps:10000000019", T0, &[message(3, &p, "first_access")]).await.expect("again"));
    let queued: Vec<String> = db.due_messages(T0 + Duration::days(1), 10).await.expect("due").into_iter().map(|m| m.id).collect();
    assert_eq!(queued, vec!["msg-1", "msg-2"], "the second access notifies nobody");
}

pub async fn free_text_stored_before_sealing_is_found(db: Database) {
    let actor = professional_actor(Profession::Medecin, 1);
    let retention = RetentionPolicy::default();
    let (mut clear, mut sealed, mut gone) = (record(1, &actor), record(2, &actor), record(3, &actor));
    for r in [&mut clear, &mut sealed, &mut gone] {
        db.create_record(r).await.expect("create");
        r.close("moving abroad", T0, &retention).expect("close");
        db.save_record(r, RecordStatus::Active).await.expect("close");
    }
    sealed.close_reason = Some("sealed:v1:AAAA".into());
    db.save_record(&sealed, RecordStatus::Closed).await.expect("sealed");
    let read_as = gone.status;
    gone.apply(RecordStatus::Destroyed, T0);
    db.save_record(&gone, read_as).await.expect("destroyed");
    let found: Vec<Ins> = db.find_clear_close_reasons("sealed:v1:", 10).await.expect("find").into_iter().map(|r| r.ins).collect();
    assert_eq!(found, vec![clear.ins.clone()], "live, and not sealed");
    assert_eq!(db.drop_clear_close_reasons_of_destroyed("sealed:v1:").await.expect("drop"), 1);
    assert_eq!(db.drop_clear_close_reasons_of_destroyed("sealed:v1:").await.expect("drop again"), 0);

    let review = |id: &str, notes: &str| ReviewItem { notes: notes.into(), ..emergency_review(id, &ins(1), "rpps:10000000019") };
    for item in [review("r1", "[]"), review("r2", r#"[{"text":"appelé"}]"#), review("r3", "sealed:v1:AAAA")] {
        db.insert_review_item(&item).await.expect("insert");
    }
    let found: Vec<String> = db.find_clear_review_notes("sealed:v1:", 10).await.expect("find").into_iter().map(|i| i.id).collect();
    assert_eq!(found, vec!["r2"]);
}

pub async fn justification_openings_are_kept_by_commitment(db: Database) {
    let (p, q) = (ins(1), ins(2));
    let commitment = "ab".repeat(32);
    assert_eq!(db.find_justification_opening(&commitment).await.expect("find"), None);
    db.save_justification_opening(&commitment, &p, &[1, 2, 3]).await.expect("save");
    db.save_justification_opening(&commitment, &q, &[9]).await.expect("saved again: the first is kept");
    assert_eq!(db.find_justification_opening(&commitment).await.expect("find"), Some((p, vec![1, 2, 3])));
    assert_eq!(db.find_justification_opening(&"cd".repeat(32)).await.expect("find"), None);
}

pub async fn the_outbox_delivers_retries_and_keeps_what_failed(db: Database) {
    let p = ins(1);
    assert_eq!(db.find_preferences(&p).await.expect("find"), None);
    let prefs =
        StoredPreferences { email_sealed: Some(vec![1, 2, 3]), email_enabled: true, webhook_sealed: None, muted_kinds: String::new() };
    db.save_preferences(&p, &prefs, T0).await.expect("save");
    let changed = StoredPreferences { email_enabled: false, muted_kinds: "new_document,policy_change".into(), ..prefs };
    db.save_preferences(&p, &changed, T0).await.expect("save again");
    assert_eq!(db.find_preferences(&p).await.expect("find"), Some(changed));

    db.enqueue(&[message(1, &p, "new_document"), message(2, &p, "new_document")]).await.expect("enqueue");
    assert_eq!(db.due_messages(T0, 10).await.expect("due").len(), 0, "not yet created at T0");
    let due = db.due_messages(T0 + Duration::minutes(1), 10).await.expect("due");
    assert_eq!(due.len(), 2);
    db.mark_delivered("msg-1", T0 + Duration::minutes(1)).await.expect("delivered");
    db.mark_failed("msg-2", "connection refused", T0 + Duration::minutes(5)).await.expect("failed");
    assert!(db.due_messages(T0 + Duration::minutes(2), 10).await.expect("due").is_empty(), "backing off");
    let retry = db.due_messages(T0 + Duration::minutes(5), 10).await.expect("due");
    assert_eq!((retry.len(), retry[0].attempts), (1, 1));
    assert_eq!(db.outbox_counts().await.expect("counts"), (1, 1));
}

pub async fn outbox_claims_are_leased_and_retried_after_the_lease(db: Database) {
    let p = ins(1);
    db.enqueue(&[message(1, &p, "new_document"), message(2, &p, "new_document"), message(3, &p, "new_document")]).await.expect("enqueue");
    let now = T0 + Duration::minutes(1);
    let lease = now + Duration::minutes(10);
    let ids = |m: Vec<OutboxMessage>| m.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(db.claim_due_messages("node-a", T0, lease, 10).await.expect("claim")), Vec::<String>::new(), "not yet created at T0");
    assert_eq!(ids(db.claim_due_messages("node-a", now, lease, 2).await.expect("claim")), vec!["msg-1", "msg-2"], "oldest first");
    assert_eq!(ids(db.claim_due_messages("node-a", now, lease, 10).await.expect("claim")), vec!["msg-3"], "the first two are leased");
    assert!(db.claim_due_messages("node-a", now + Duration::minutes(9), lease, 10).await.expect("claim").is_empty(), "all leased");
    db.mark_delivered("msg-1", now).await.expect("delivered");
    db.mark_failed("msg-3", "connection refused", now + Duration::hours(1)).await.expect("failed");
    // msg-2's deliverer died holding it: once the lease ends, another takes it.
    let again = db.claim_due_messages("node-a", lease, lease + Duration::minutes(10), 10).await.expect("claim");
    assert_eq!((ids(again.clone()), again[0].attempts), (vec!["msg-2".to_owned()], 0));
    assert_eq!(db.outbox_counts().await.expect("counts"), (1, 2));
}

/// Two nodes (two `Database` handles on one database) delivering the same outbox at once:
/// every message claimed by exactly one of them.
pub async fn two_deliverers_deliver_each_message_once(a: Database, b: Database) {
    let p = ins(1);
    let messages: Vec<OutboxMessage> = (1..=120).map(|n| message(n, &p, "new_document")).collect();
    a.enqueue(&messages).await.expect("enqueue");
    let now = T0 + Duration::hours(1);
    let deliverer = |db: Database| {
        tokio::spawn(async move {
            let mut delivered = Vec::new();
            loop {
                let claimed = db.claim_due_messages("node-a", now, now + Duration::minutes(10), 5).await.expect("claim");
                if claimed.is_empty() {
                    return delivered;
                }
                for m in claimed {
                    db.mark_delivered(&m.id, now).await.expect("delivered");
                    delivered.push(m.id);
                }
            }
        })
    };
    let (on_a, on_b) = tokio::join!(deliverer(a.clone()), deliverer(b.clone()));
    let (on_a, on_b) = (on_a.expect("node a"), on_b.expect("node b"));
    let mut all: Vec<String> = on_a.iter().chain(&on_b).cloned().collect();
    all.sort();
    let mut expected: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    expected.sort();
    assert_eq!(all, expected, "each message once (a: {}, b: {})", on_a.len(), on_b.len());
    assert_eq!(a.outbox_counts().await.expect("counts"), (120, 0));
}

pub async fn a_job_lease_has_one_holder_until_it_ends(db: Database) {
    use crate::JobLeaseStore;
    let until = T0 + Duration::minutes(10);
    assert!(db.take_job_lease("sweep", "node-a", T0, until).await.expect("take"), "free: taken");
    assert!(!db.take_job_lease("sweep", "node-b", T0 + Duration::minutes(9), until).await.expect("take"), "held by A");
    assert!(db.take_job_lease("upload_sweep", "node-b", T0, until).await.expect("take"), "another job: its own lease");
    assert!(db.take_job_lease("sweep", "node-a", T0 + Duration::minutes(5), until + Duration::minutes(5)).await.expect("renew"));
    assert!(!db.take_job_lease("sweep", "node-b", until, until + Duration::minutes(10)).await.expect("take"), "renewed by A");
    // A died: once its lease ends, B takes the job over, and A (back) finds it held.
    let later = until + Duration::minutes(5);
    assert!(db.take_job_lease("sweep", "node-b", later, later + Duration::minutes(10)).await.expect("take over"));
    assert!(!db.take_job_lease("sweep", "node-a", later, later + Duration::minutes(10)).await.expect("take"));
}

pub async fn a_distrusted_ledger_stays_so_until_a_restore_is_acknowledged(db: Database) {
    use crate::{LedgerCheckpoint, LedgerCheckpointStore, LedgerTrust};
    assert_eq!(db.ledger_trust().await.expect("read"), LedgerTrust { distrust: None, restores: 0 }, "trusted at first");
    assert!(db.distrust_ledger("entry 0 rewritten", T0, 0).await.expect("distrust"));
    assert!(db.distrust_ledger("a later finding", T0 + Duration::minutes(1), 0).await.expect("distrust again"), "the episode stands");
    assert_eq!(db.ledger_distrust().await.expect("read").as_deref(), Some("entry 0 rewritten"), "the first finding stays");
    let head = LedgerCheckpoint { tree_size: 9, root: vec![1; 32], timestamp_ms: 90, signature: vec![2; 64] };
    assert!(db.advance_ledger_checkpoint(&head).await.expect("advance"));
    assert!(db.ledger_distrust().await.expect("read").is_some(), "advancing the checkpoint restores no trust");
    db.reset_ledger_checkpoint(&head).await.expect("reset");
    assert_eq!(
        db.ledger_trust().await.expect("read"),
        LedgerTrust { distrust: None, restores: 1 },
        "an acknowledged restore does, counted"
    );
    // A finding made before the restore (its finder read the count 0) is about the ledger replaced since.
    assert!(!db.distrust_ledger("found before the restore", T0 + Duration::minutes(2), 0).await.expect("stale"));
    assert_eq!(db.ledger_distrust().await.expect("read"), None, "a stale finding raises no distrust");
    assert!(db.distrust_ledger("found after it", T0 + Duration::minutes(3), 1).await.expect("fresh"));
    assert_eq!(db.ledger_trust().await.expect("read").distrust.as_deref(), Some("found after it"));
}

/// A node shutting down gives back what it holds — and only that: another node takes the jobs,
/// the extraction jobs and the notifications at once, not at the leases' end.
pub async fn a_node_shutting_down_gives_its_leases_back(db: Database) {
    use crate::{JobLeaseStore, ReleasedLeases};
    let now = datetime!(2026-03-01 10:00 UTC);
    let until = now + Duration::minutes(30);
    let p = ins(1);
    // Node "n1" (and "n10", whose name starts with it) hold a sweep each, extraction jobs and notifications.
    assert!(db.take_job_lease("sweep", "n1", now, until).await.expect("take"));
    assert!(db.take_job_lease("upload_sweep", "n10", now, until).await.expect("take"));
    for n in 1..=3 {
        db.insert_document(noted(&db, &document(n, &p)).await, None, None, &[]).await.expect("insert");
    }
    assert_eq!(db.claim_extraction_jobs("n1:round-1", now, Duration::minutes(30), 2).await.expect("claim").len(), 2);
    assert_eq!(db.claim_extraction_jobs("n10:round-1", now, Duration::minutes(30), 2).await.expect("claim").len(), 1);
    db.enqueue(&[message(1, &p, "new_document"), message(2, &p, "new_document"), message(3, &p, "new_document")]).await.expect("enqueue");
    let claimed = db.claim_due_messages("n1", now, until, 2).await.expect("claim");
    db.mark_failed(&claimed[1].id, "connection refused", now + Duration::hours(1)).await.expect("failed");
    assert_eq!(db.claim_due_messages("n10", now, until, 5).await.expect("claim").len(), 1);

    let released = db.release_leases("n1", now + Duration::minutes(1)).await.expect("release");
    assert_eq!(released, ReleasedLeases { jobs: 1, extraction_jobs: 2, notifications: 1 }, "the failed message keeps its backoff");
    let later = now + Duration::minutes(2);
    assert!(db.take_job_lease("sweep", "n2", later, until).await.expect("take"), "the sweep is free at once");
    assert!(!db.take_job_lease("upload_sweep", "n2", later, until).await.expect("take"), "n10's lease is its own");
    let jobs = db.claim_extraction_jobs("n2:round-1", later, Duration::minutes(30), 10).await.expect("claim");
    assert_eq!(jobs.iter().map(|j| j.attempts).collect::<Vec<_>>(), vec![2, 2], "n1's two jobs, their claim counted");
    let messages = db.claim_due_messages("n2", later, until, 10).await.expect("claim");
    assert_eq!(messages.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec![claimed[0].id.as_str()], "n1's undelivered claim only");
    assert_eq!(db.release_leases("n1", later).await.expect("again"), ReleasedLeases::default(), "nothing left to give back");
}

/// Two nodes (two `Database` handles on one database) asking for the same job's lease at once,
/// round after round: exactly one holds it each round.
pub async fn two_nodes_never_hold_one_job_lease_together(a: Database, b: Database) {
    use crate::JobLeaseStore;
    for round in 0..20 {
        let now = T0 + Duration::hours(round);
        let until = now + Duration::minutes(30);
        let job = format!("job-{}", round % 3);
        let (on_a, on_b) = tokio::join!(a.take_job_lease(&job, "node-a", now, until), b.take_job_lease(&job, "node-b", now, until));
        let (on_a, on_b) = (on_a.expect("a"), on_b.expect("b"));
        assert!(on_a != on_b, "round {round}: exactly one holder (a: {on_a}, b: {on_b})");
    }
}

/// Test support: a fresh database on the PostgreSQL cluster at `admin_url` (which must allow
/// CREATE DATABASE). Returns the database and its URL.
pub async fn scratch_postgres(admin_url: &str) -> Result<(Database, String), StoreError> {
    let url = scratch_postgres_url(admin_url).await?;
    Ok((Database::connect(&url).await?, url))
}

/// Test support: creates a fresh, empty database on the cluster at `admin_url` and returns its URL.
pub async fn scratch_postgres_url(admin_url: &str) -> Result<String, StoreError> {
    use sqlx::Connection;
    let name = format!("carnet_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    admin.close().await?;
    let (base, _) = admin_url.rsplit_once('/').ok_or_else(|| StoreError::Url("no database name in URL".into()))?;
    let (base, query) = match admin_url.split_once('?') {
        Some((_, q)) => (base.split_once('?').map_or(base, |(b, _)| b), format!("?{q}")),
        None => (base, String::new()),
    };
    Ok(format!("{base}/{name}{query}"))
}

fn submission_set(n: u8, patient: &Ins, documents: &[&DocumentMeta]) -> StoredSubmissionSet {
    StoredSubmissionSet {
        id: format!("set-{n}"),
        ins: patient.clone(),
        unique_id: format!("1.2.250.1.999.77.{n}"),
        source_id: "1.2.250.1.999.77".into(),
        author: Some("rpps:10000000019".into()),
        author_family: Some("MARTIN".into()),
        author_given: None,
        deposited_by: "https://idp.test#lab-software".into(),
        submitted_at: T0 + Duration::minutes(i64::from(n)),
        title_sealed: Some(vec![n; 8]),
        documents: documents.iter().map(|d| d.id).collect(),
    }
}

pub async fn submission_sets_are_all_or_nothing(db: Database) {
    let p = ins(1);
    let (d1, d2) = (document(1, &p), document(2, &p));
    for d in [&d1, &d2] {
        db.begin_upload(d.id, T0).await.expect("begin");
    }
    let notify = [OutboxMessage {
        id: "m-set-1".into(),
        ins: p.clone(),
        kind: "new_document".into(),
        recipient: "patient".into(),
        payload: "{}".into(),
        created_at: T0,
        attempts: 0,
    }];
    let set = submission_set(1, &p, &[&d1, &d2]);
    let docs = [
        NewSetDocument { meta: &d1, title_sealed: Some(b"t1"), supersedes: None },
        NewSetDocument { meta: &d2, title_sealed: None, supersedes: None },
    ];
    db.insert_submission(&set, noted_rows(&db, &docs).await, &notify).await.expect("insert");
    assert_eq!(db.find_submission_set_by_unique_id(&set.unique_id).await.expect("find"), Some(set.clone()));
    assert_eq!(db.find_submission_sets_of(&p).await.expect("list"), vec![set.clone()]);
    assert_eq!(db.find_document(d1.id).await.expect("find").expect("present").1.as_deref(), Some(&b"t1"[..]));
    assert_eq!(db.pending_uploads(T0 + Duration::seconds(1), 10).await.expect("pending"), vec![], "the uploads ended with the rows");
    assert_eq!(db.outbox_counts().await.expect("counts"), (0, 1), "the notification was queued in the same transaction");

    // A set whose second document's unique id is taken: nothing of it is written.
    let d3 = document(3, &p);
    let clash = DocumentMeta { id: DocumentId::from_bytes([4; 16]), ..d1.clone() };
    let bad = submission_set(2, &p, &[&d3, &clash]);
    let docs = [
        NewSetDocument { meta: &d3, title_sealed: None, supersedes: None },
        NewSetDocument { meta: &clash, title_sealed: None, supersedes: None },
    ];
    assert!(matches!(db.insert_submission(&bad, noted_rows(&db, &docs).await, &notify[..0]).await, Err(StoreError::Conflict(_))));
    assert!(db.find_document(d3.id).await.expect("find").is_none(), "no document of a failed set");
    assert!(db.find_submission_set_by_unique_id(&bad.unique_id).await.expect("find").is_none());

    // A set replacing a version that is no longer current: nothing written either.
    let v2 = DocumentMeta { replaces: Some(d1.id), ..document(5, &p) };
    let once = submission_set(3, &p, &[&v2]);
    db.insert_submission(&once, noted_rows(&db, &[NewSetDocument { meta: &v2, title_sealed: None, supersedes: Some(d1.id) }]).await, &[])
        .await
        .expect("replace");
    let v3 = DocumentMeta { replaces: Some(d1.id), ..document(6, &p) };
    let twice = submission_set(4, &p, &[&v3]);
    let replaced_again = db
        .insert_submission(&twice, noted_rows(&db, &[NewSetDocument { meta: &v3, title_sealed: None, supersedes: Some(d1.id) }]).await, &[])
        .await;
    assert!(matches!(replaced_again, Err(StoreError::Stale(_))));
    assert!(db.find_document(v3.id).await.expect("find").is_none());
    let mut after = v3.clone();
    after.xds.unique_id = "1.2.250.1.999.after-stale".into();
    db.insert_document(noted(&db, &after).await, None, None, &[]).await.expect("writes go on after a refused one");
    db.delete_document(after.id).await.expect("delete");
    let sets: Vec<String> = db.find_submission_sets_of(&p).await.expect("list").into_iter().map(|s| s.id).collect();
    assert_eq!(sets, ["set-3", "set-1"], "newest first");
    assert!(db.find_submission_sets_of(&ins(2)).await.expect("list").is_empty());

    // Shredding the patient's content takes their submission sets too.
    db.delete_documents_of(&p).await.expect("shred");
    assert!(db.find_submission_sets_of(&p).await.expect("list").is_empty());
}

/// `count` documents of `patient`, ids and unique ids from `first` on.
fn many_documents(first: u16, count: u16, patient: &Ins) -> Vec<DocumentMeta> {
    (first..first + count)
        .map(|n| {
            let [hi, lo] = n.to_be_bytes();
            let mut id = [7; 16];
            id[14] = hi;
            id[15] = lo;
            let mut d = DocumentMeta { id: DocumentId::from_bytes(id), ..document(1, patient) };
            d.xds.unique_id = format!("1.2.250.1.999.88.{n}");
            d
        })
        .collect()
}

/// A bundle too large for one statement list (SQLite sends it in several trips of one
/// transaction): whole, or nothing when its last document clashes.
pub async fn large_submission_sets_are_all_or_nothing(db: Database) {
    let p = ins(3);
    let docs = many_documents(0, 400, &p);
    let clash = DocumentMeta { id: DocumentId::from_bytes([9; 16]), ..docs[0].clone() };
    let mut with_clash: Vec<&DocumentMeta> = docs.iter().collect();
    with_clash.push(&clash);
    let bad = submission_set(10, &p, &with_clash);
    let rows: Vec<NewSetDocument> = with_clash.iter().map(|d| NewSetDocument { meta: d, title_sealed: None, supersedes: None }).collect();
    // The clash is with a document of the same bundle: refused as a whole.
    assert!(matches!(db.insert_submission(&bad, noted_rows(&db, &rows).await, &[]).await, Err(StoreError::Conflict(_))));
    assert!(db.find_documents_of(&p).await.expect("list").is_empty(), "nothing of the refused bundle");

    let good = submission_set(11, &p, &docs.iter().collect::<Vec<_>>());
    db.insert_submission(&good, noted_rows(&db, &rows[..400]).await, &[]).await.expect("insert");
    assert_eq!(db.find_documents_of(&p).await.expect("list").len(), 400);
    assert_eq!(db.find_submission_set_by_unique_id(&good.unique_id).await.expect("find").map(|s| s.documents.len()), Some(400));
}

/// A deposit whose caller goes away mid-write (a timeout, a closed connection) is written whole
/// or not at all, and the next deposit goes through.
pub async fn cancelled_deposits_land_whole_or_not_at_all(db: Database) {
    let p = ins(4);
    for (round, micros) in [0u64, 50, 200, 500, 1_000, 2_000, 5_000, 20_000, 100_000].into_iter().enumerate() {
        let round = u8::try_from(round).expect("few rounds");
        let docs = many_documents(1_000 + u16::from(round) * 100, 60, &p);
        let set = submission_set(20 + round, &p, &docs.iter().collect::<Vec<_>>());
        let rows: Vec<NewSetDocument> = docs.iter().map(|d| NewSetDocument { meta: d, title_sealed: None, supersedes: None }).collect();
        let cut =
            tokio::time::timeout(std::time::Duration::from_micros(micros), db.insert_submission(&set, noted_rows(&db, &rows).await, &[]))
                .await;
        if let Ok(Err(e)) = cut {
            panic!("round {round}: an uncancelled deposit lands: {e:?}")
        }
        // The next write on the same connection(s), then a look at what the cut one left.
        let probe = many_documents(9_000 + u16::from(round), 1, &p);
        db.insert_document(noted(&db, &probe[0]).await, None, None, &[]).await.expect("the next write goes through");
        let mine = db.find_documents_of(&p).await.expect("list").iter().filter(|(d, _)| docs.iter().any(|x| x.id == d.id)).count();
        let set_found = db.find_submission_set_by_unique_id(&set.unique_id).await.expect("find").is_some();
        assert!(mine == 0 && !set_found || mine == 60 && set_found, "round {round}: {mine} of 60 documents, set found: {set_found}");
    }
}

pub async fn records_are_found_by_traits(db: Database) {
    let pro = professional_actor(Profession::Medecin, 1);
    let mut a = record(1, &pro);
    let mut b = record(2, &pro);
    if let (Some(ta), Some(tb)) = (a.traits.as_mut(), b.traits.as_mut()) {
        ta.birth_name = "DUPONT".into();
        ta.birth_given_names = "Marie Claire".into();
        tb.birth_name = "DU_PONTEL".into();
        tb.sex = Sex::Male;
    }
    db.create_record(&a).await.expect("a");
    db.create_record(&b).await.expect("b");
    let find = |q: TraitsQuery| {
        let db = db.clone();
        async move { db.find_records_by_traits(&q, 10).await.expect("search").into_iter().map(|r| r.ins).collect::<Vec<_>>() }
    };
    let family = |f: &str| TraitsQuery { family: Some(f.into()), ..TraitsQuery::default() };
    assert_eq!(find(family("dupon")).await, vec![a.ins.clone()], "prefix, case-insensitive; `_` is no wildcard");
    assert_eq!(find(family("du_")).await, vec![b.ins.clone()]);
    assert_eq!(find(TraitsQuery { given: Some("cla".into()), ..TraitsQuery::default() }).await, vec![a.ins.clone()], "any given name");
    assert_eq!(
        find(TraitsQuery { given: Some("arie".into()), ..TraitsQuery::default() }).await,
        Vec::<Ins>::new(),
        "a prefix, not a substring"
    );
    let by_date = TraitsQuery { birth_date: Some(date!(1980 - 03 - 14)), sex: Some(Sex::Male), ..TraitsQuery::default() };
    assert_eq!(find(by_date).await, vec![b.ins.clone()]);
    assert_eq!(find(family("%")).await, Vec::<Ins>::new(), "`%` is no wildcard");
}

/// A document list as owned values, to compare with expected ones.
fn owned(list: crate::DocumentList) -> Vec<(DocumentMeta, Option<Vec<u8>>)> {
    list.into_iter().map(|(meta, title)| (std::sync::Arc::unwrap_or_clone(meta), title.map(|t| t.to_vec()))).collect()
}

/// `find_gate_inputs` answers what `find_record_by_ins`, `find_policy` and
/// `find_latest_emergency` answer, in every state the gate meets.
pub async fn gate_inputs_are_the_three_reads_in_one(db: Database) {
    use carnet_domain::{EmergencyKind, PatientPolicy};
    let actor = professional_actor(Profession::Medecin, 1);
    let (doctor, other) = ("rpps:10000000019", "rpps:10000000027");
    let p = ins(1);
    let separate = |db: Database, p: Ins, who: Option<&'static str>| async move {
        let record = db.find_record_by_ins(&p).await.expect("record")?;
        let policy = db.find_policy(&p).await.expect("policy");
        let emergency = match who {
            Some(who) => db.find_latest_emergency(who, &p).await.expect("emergency"),
            None => None,
        };
        // The generation is checked by what it is for, below; here it is taken as read.
        let documents_generation = db.find_gate_inputs(&p, who).await.expect("generation")?.documents_generation;
        Some(GateInputs { record, policy, emergency, documents_generation })
    };
    let check = |step: &'static str| {
        let (db, p) = (db.clone(), p.clone());
        async move {
            for who in [Some(doctor), Some(other), None] {
                let one = db.find_gate_inputs(&p, who).await.expect("one statement");
                assert_eq!(one, separate(db.clone(), p.clone(), who).await, "{step}, actor {who:?}");
            }
        }
    };
    check("no record").await;
    assert_eq!(db.find_gate_inputs(&p, Some(doctor)).await.expect("read"), None);
    let mut r = record(1, &actor);
    db.create_record(&r).await.expect("create");
    check("a record, default policy, no emergency").await;
    let policy = PatientPolicy { opposes_samu: true, ..PatientPolicy::default() };
    db.save_policy(&p, &policy, 0, T0, &[]).await.expect("policy");
    check("a saved policy").await;
    let access = |opened: OffsetDateTime, kind| emergency_access(&p, doctor, opened, kind);
    let review = |id: &str| emergency_review(id, &p, doctor);
    db.save_emergency("e1", &access(T0, EmergencyKind::BrisDeGlace), &review("r1"), &[]).await.expect("emergency");
    db.save_emergency("e2", &access(T0 + Duration::hours(2), EmergencyKind::Samu), &review("r2"), &[]).await.expect("emergency");
    check("two emergencies of one actor").await;
    let one = db.find_gate_inputs(&p, Some(doctor)).await.expect("read").expect("a record");
    assert_eq!(one.emergency.map(|e| e.kind), Some(EmergencyKind::Samu), "the latest");
    assert_eq!(one.policy.version, 1);
    // Another patient's record sees none of it.
    let second = record(2, &actor);
    db.create_record(&second).await.expect("create");
    let theirs = db.find_gate_inputs(&second.ins, Some(doctor)).await.expect("read").expect("a record");
    assert_eq!((theirs.policy.version, theirs.emergency), (0, None));
    // The generation read with the gate finds the list as it is: none, then each change.
    let at = |db: Database, p: Ins| async move {
        let generation = db.find_gate_inputs(&p, Some(doctor)).await.expect("read").expect("a record").documents_generation;
        let listed: Vec<DocumentId> = db.find_documents_at(&p, generation).await.expect("list").iter().map(|(m, _)| m.id).collect();
        let now: Vec<DocumentId> = db.find_documents_of(&p).await.expect("list").iter().map(|(m, _)| m.id).collect();
        assert_eq!(listed, now, "at generation {generation}");
        (generation, listed)
    };
    let (g0, none) = at(db.clone(), p.clone()).await;
    assert_eq!((g0, none.len()), (0, 0), "no document yet");
    let d1 = document(1, &p);
    db.insert_document(noted(&db, &d1).await, None, None, &[]).await.expect("insert");
    let (g1, one) = at(db.clone(), p.clone()).await;
    assert!(g1 > g0 && one == vec![d1.id], "a deposit moves the generation: {g0} → {g1}");
    let other = db.another_node();
    other.insert_document(noted(&other, &document(2, &p)).await, None, None, &[]).await.expect("insert elsewhere");
    let (g2, two) = at(db.clone(), p.clone()).await;
    assert!(g2 > g1 && two.len() == 2, "another node's deposit too: {g1} → {g2}");
    db.insert_document(noted(&db, &document(3, &second.ins)).await, None, None, &[]).await.expect("another patient");
    assert_eq!(at(db.clone(), p.clone()).await.0, g2, "another patient's deposit does not");
    // A destroyed record is not there, as for `find_record_by_ins`.
    destroy(&db, &mut r).await;
    check("a destroyed record").await;
    assert_eq!(db.find_gate_inputs(&p, Some(doctor)).await.expect("read"), None);
}

pub async fn connected_apps_are_noted_revoked_and_allowed(db: Database) {
    let (p, q) = (&ins(1), &ins(2));
    async fn used(db: &Database, ins: &Ins, client_id: &str, scopes: &str, at: OffsetDateTime) {
        db.note_app_use(&AppUse { ins, client_id, name: "Agenda santé", scopes, at }).await.expect("note")
    }
    assert_eq!(db.find_apps_of(p).await.expect("list"), vec![], "none yet");
    used(&db, p, "agenda", "patient/DocumentReference.rs", T0).await;
    used(&db, p, "agenda", "patient/DocumentReference.rs patient/Binary.r", T0 + Duration::minutes(5)).await;
    used(&db, p, "carnet-vaccins", "patient/Immunization.rs", T0 + Duration::minutes(1)).await;
    used(&db, q, "agenda", "patient/Patient.r", T0 + Duration::minutes(2)).await;
    let listed = db.find_apps_of(p).await.expect("list");
    assert_eq!(
        listed,
        vec![
            ConnectedApp {
                ins: p.clone(),
                client_id: "agenda".into(),
                name: "Agenda santé".into(),
                scopes: "patient/DocumentReference.rs patient/Binary.r".into(),
                first_used_at: T0,
                last_used_at: T0 + Duration::minutes(5),
                revoked: None,
            },
            ConnectedApp {
                ins: p.clone(),
                client_id: "carnet-vaccins".into(),
                name: "Agenda santé".into(),
                scopes: "patient/Immunization.rs".into(),
                first_used_at: T0 + Duration::minutes(1),
                last_used_at: T0 + Duration::minutes(1),
                revoked: None,
            },
        ],
        "by first use, the first use kept and the last one moved"
    );
    // Revocation is per record, seen from another node at once, and kept through later uses.
    let revocation = Revocation { at: T0 + Duration::minutes(6), by: "https://idp#p-1".into() };
    assert!(db.set_app_revocation(p, "agenda", Some(&revocation)).await.expect("revoke"));
    assert!(!db.set_app_revocation(p, "never-used", Some(&revocation)).await.expect("revoke"), "an app never used is not there");
    used(&db, p, "agenda", "patient/DocumentReference.rs", T0 + Duration::minutes(7)).await;
    let on = db.another_node().find_app_on("agenda", &[p.clone(), q.clone(), ins(3)]).await.expect("find");
    let revoked: Vec<(&Ins, Option<&Revocation>)> = on.iter().map(|a| (&a.ins, a.revoked.as_ref())).collect();
    assert_eq!(on.len(), 2, "one row per record used");
    assert!(revoked.contains(&(p, Some(&revocation))), "{revoked:?}");
    assert!(revoked.contains(&(q, None)), "the other record keeps the app: {revoked:?}");
    assert_eq!(db.find_app_on("agenda", &[]).await.expect("find"), vec![]);
    assert!(db.set_app_revocation(p, "agenda", None).await.expect("allow"));
    let again = db.find_app_on("agenda", std::slice::from_ref(p)).await.expect("find");
    assert_eq!(again.iter().map(|a| a.revoked.clone()).collect::<Vec<_>>(), vec![None], "allowed again");
}

fn session(id_hash: &str, at: OffsetDateTime) -> StoredSession {
    StoredSession {
        id_hash: id_hash.to_owned(),
        actor: r#"{"issuer":"urn:test","subject":"p1"}"#.to_owned(),
        csrf_token: format!("csrf-{id_hash}"),
        created_at: at,
        last_seen_at: at,
        idle_expires_at: at + Duration::minutes(15),
        absolute_expires_at: at + Duration::hours(8),
        revoked_at: None,
    }
}

pub async fn portal_sessions_are_touched_revoked_and_purged(db: Database) {
    let a = session("aa", T0);
    db.insert_session(&a).await.expect("insert");
    assert_eq!(db.find_session("aa").await.expect("find"), Some(a.clone()));
    assert_eq!(db.find_session("ab").await.expect("find"), None, "found by its exact hash only");
    assert!(matches!(db.insert_session(&a).await, Err(StoreError::Conflict(_))), "one session per id");

    let later = T0 + Duration::minutes(5);
    assert!(db.touch_session("aa", later, later + Duration::minutes(15)).await.expect("touch"));
    let touched = db.find_session("aa").await.expect("find").expect("there");
    assert_eq!((touched.last_seen_at, touched.idle_expires_at, touched.created_at), (later, later + Duration::minutes(15), T0));

    // Sign-out: revoked once; a revoked session is not touched back to life.
    assert!(db.revoke_session("aa", later).await.expect("revoke"));
    assert!(!db.revoke_session("aa", later).await.expect("revoke again"));
    assert!(!db.touch_session("aa", later, later + Duration::hours(1)).await.expect("touch revoked"));
    assert_eq!(db.find_session("aa").await.expect("find").and_then(|s| s.revoked_at), Some(later));
    assert!(!db.revoke_session("zz", later).await.expect("revoke unknown"));

    // The purge removes the revoked, the idle and the too old; keeps the live.
    db.insert_session(&session("idle", T0)).await.expect("insert");
    db.insert_session(&StoredSession { absolute_expires_at: T0 + Duration::minutes(20), ..session("old", T0) }).await.expect("insert");
    let live_at = T0 + Duration::minutes(19);
    db.insert_session(&session("live", live_at)).await.expect("insert");
    let purged = db.purge_sessions(T0 + Duration::minutes(20)).await.expect("purge");
    assert_eq!(purged, 3);
    for gone in ["aa", "idle", "old"] {
        assert_eq!(db.find_session(gone).await.expect("find"), None, "{gone} purged");
    }
    assert!(db.find_session("live").await.expect("find").is_some());
    db.delete_session("live").await.expect("delete");
    assert_eq!(db.find_session("live").await.expect("find"), None);
}

pub async fn sign_ins_are_taken_once_and_expire(db: Database) {
    let pending = |state: &str, expires_at| PendingSignIn {
        state_hash: state.to_owned(),
        nonce: format!("nonce-{state}"),
        pkce_verifier: format!("verifier-{state}"),
        created_at: T0,
        expires_at,
    };
    let s1 = pending("s1", T0 + Duration::minutes(10));
    db.insert_sign_in(&s1).await.expect("insert");
    db.insert_sign_in(&pending("s2", T0 + Duration::minutes(1))).await.expect("insert");
    db.insert_sign_in(&pending("s3", T0 + Duration::minutes(1))).await.expect("insert");
    assert_eq!(db.take_sign_in("s1", T0).await.expect("take"), Some(s1));
    assert_eq!(db.take_sign_in("s1", T0).await.expect("take again"), None, "a replayed callback finds nothing");
    assert_eq!(db.take_sign_in("s2", T0 + Duration::minutes(1)).await.expect("take late"), None, "expired");
    assert_eq!(db.take_sign_in("s2", T0).await.expect("take after"), None, "an expired take still consumes it");
    assert_eq!(db.purge_sessions(T0 + Duration::minutes(2)).await.expect("purge"), 1);
    assert_eq!(db.take_sign_in("s3", T0).await.expect("take purged"), None);
}

pub async fn the_ledger_checkpoint_only_advances_unless_reset(db: Database) {
    use crate::{LedgerCheckpoint, LedgerCheckpointStore};
    let head = |size: u64, byte: u8| LedgerCheckpoint {
        tree_size: size,
        root: vec![byte; 32],
        timestamp_ms: size * 10,
        signature: vec![byte; 64],
    };
    assert_eq!(db.ledger_checkpoint().await.expect("read"), None, "a new store has seen no ledger");
    assert!(db.advance_ledger_checkpoint(&head(5, 1)).await.expect("advance"));
    assert!(db.advance_ledger_checkpoint(&head(9, 2)).await.expect("advance"));
    assert!(!db.advance_ledger_checkpoint(&head(7, 3)).await.expect("advance"), "never backwards");
    assert!(!db.advance_ledger_checkpoint(&head(9, 4)).await.expect("advance"), "nor sideways at the same size");
    assert_eq!(db.ledger_checkpoint().await.expect("read"), Some(head(9, 2)));
    db.reset_ledger_checkpoint(&head(3, 5)).await.expect("reset");
    assert_eq!(db.ledger_checkpoint().await.expect("read"), Some(head(3, 5)), "an acknowledged restore moves it anywhere");
}

pub async fn the_enumeration_guard_counts_distinct_records_and_purges(db: Database) {
    use crate::EnumerationStore;
    use carnet_domain::{EnumerationRule, GuardVerdict};
    let rule = EnumerationRule::hourly(3);
    let note = |actor: &'static str, records: Vec<Ins>, at: OffsetDateTime| {
        let db = db.clone();
        async move { db.note_openings(actor, &records, at, &rule).await.expect("note") }
    };
    assert_eq!(note("rpps:1", vec![ins(1), ins(2)], T0).await, GuardVerdict::Allowed);
    assert_eq!(note("rpps:1", vec![ins(2), ins(2), ins(3)], T0).await, GuardVerdict::Allowed, "a record counts once");
    assert_eq!(note("rpps:1", vec![ins(1)], T0 + Duration::minutes(1)).await, GuardVerdict::Allowed, "re-opening is free");
    assert_eq!(note("rpps:1", vec![ins(4)], T0).await, GuardVerdict::Throttled { first_time_over: true });
    assert_eq!(note("rpps:1", vec![ins(5)], T0).await, GuardVerdict::Throttled { first_time_over: false }, "one alert per episode");
    assert_eq!(note("rpps:2", vec![ins(4)], T0).await, GuardVerdict::Allowed, "counted per actor");
    // Record 1, re-opened at T0+1min, outlives the others by a minute.
    let later = T0 + Duration::HOUR;
    assert_eq!(db.purge_openings(rule.since(later)).await.expect("purge"), 3, "two of rpps:1's and rpps:2's only one");
    assert_eq!(note("rpps:1", vec![ins(6), ins(7)], later).await, GuardVerdict::Allowed, "the window slid: the episode ended");
    assert_eq!(note("rpps:1", vec![ins(8)], later).await, GuardVerdict::Throttled { first_time_over: true }, "a new episode");
    assert_eq!(db.purge_openings(rule.since(later + Duration::HOUR)).await.expect("purge"), 3);
    assert_eq!(note("rpps:1", vec![ins(8)], later + Duration::HOUR).await, GuardVerdict::Allowed);
}

/// Two nodes (two `Database` handles on one database, each with its own connections) racing
/// one actor's lookups of distinct records: never more than the limit admitted between them,
/// and one alert.
pub async fn two_nodes_never_admit_more_than_the_limit(a: Database, b: Database) {
    use crate::EnumerationStore;
    use carnet_domain::{EnumerationRule, GuardVerdict};
    let rule = EnumerationRule::hourly(5);
    // A few actors, each raced anew: a missing lock shows in most rounds, not every one.
    for actor in ["rpps:1", "rpps:2", "rpps:3", "rpps:4", "rpps:5"] {
        let lookups = |db: Database, from: u64| {
            tokio::spawn(async move {
                let mut verdicts = Vec::new();
                for n in from..from + 10 {
                    verdicts.push(db.note_openings(actor, &[ins(n)], T0, &rule).await.expect("note"));
                }
                verdicts
            })
        };
        let (on_a, on_b) = tokio::join!(lookups(a.clone(), 100), lookups(b.clone(), 200));
        let verdicts: Vec<GuardVerdict> = on_a.expect("node a").into_iter().chain(on_b.expect("node b")).collect();
        let admitted = verdicts.iter().filter(|v| **v == GuardVerdict::Allowed).count();
        let alerts = verdicts.iter().filter(|v| **v == GuardVerdict::Throttled { first_time_over: true }).count();
        assert_eq!((admitted, alerts), (5, 1), "{actor}: {verdicts:?}");
    }
}

pub async fn extraction_jobs_are_written_with_their_documents_and_claimed_once(a: Database) {
    let b = a.another_node();
    let p = ins(1);
    let now = datetime!(2026-03-01 10:00 UTC);
    let docs: Vec<DocumentMeta> = (1..=6).map(|n| document(n, &p)).collect();
    for d in &docs {
        a.insert_document(noted(&a, d).await, None, None, &[]).await.expect("insert");
    }
    // A deposit that fails (its unique id is taken) writes no job.
    assert!(
        a.insert_document(noted(&a, &DocumentMeta { id: DocumentId::from_bytes([99; 16]), ..docs[0].clone() }).await, None, None, &[])
            .await
            .is_err()
    );
    assert_eq!(a.find_extraction(DocumentId::from_bytes([99; 16])).await.expect("find"), None);
    for d in &docs {
        assert_eq!(a.find_extraction(d.id).await.expect("find"), Some(ExtractionState::Pending { attempts: 0, last_error: None }));
    }
    // Two nodes claim at once: every job goes to exactly one of them.
    let lease = Duration::minutes(5);
    let (ja, jb) = tokio::join!(a.claim_extraction_jobs("node-a", now, lease, 4), b.claim_extraction_jobs("node-b", now, lease, 4));
    let (ja, jb) = (ja.expect("claim a"), jb.expect("claim b"));
    let mut claimed: Vec<DocumentId> = ja.iter().chain(&jb).map(|j| j.document_id).collect();
    claimed.sort_by_key(|id| id.to_string());
    claimed.dedup();
    assert_eq!(claimed.len(), 6, "each of the 6 jobs claimed once: {ja:?} {jb:?}");
    assert!(ja.iter().chain(&jb).all(|j| j.attempts == 1));
    // Held jobs are not claimed again while their lease runs.
    assert!(a.claim_extraction_jobs("node-c", now + Duration::minutes(1), lease, 10).await.expect("claim").is_empty());
    // A deleted document takes its job with it.
    a.delete_document(docs[0].id).await.expect("delete");
    assert_eq!(a.find_extraction(docs[0].id).await.expect("find"), None);
}

pub async fn extraction_leases_expire_and_results_are_kept_with_the_lease(db: Database) {
    let p = ins(1);
    let now = datetime!(2026-03-01 10:00 UTC);
    let lease = Duration::minutes(5);
    let (d1, d2, d3) = (document(1, &p), document(2, &p), document(3, &p));
    for d in [&d1, &d2, &d3] {
        db.insert_document(noted(&db, d).await, None, None, &[]).await.expect("insert");
    }
    let jobs = db.claim_extraction_jobs("dead", now, lease, 10).await.expect("claim");
    assert_eq!(jobs.len(), 3);
    // The node died: once the lease expired, another claims the jobs, and the first can no
    // longer finish them.
    let jobs = db.claim_extraction_jobs("alive", now + lease, lease, 10).await.expect("claim again");
    assert_eq!(jobs.iter().map(|j| j.attempts).collect::<Vec<_>>(), vec![2, 2, 2]);
    let text = ExtractionResult::Text { kind: "text", sealed: b"sealed text" };
    assert!(matches!(db.finish_extraction(d1.id, "dead", text, now).await, Err(StoreError::Stale(_))));
    assert_eq!(db.find_derived(d1.id, "text").await.expect("find"), None, "nothing is stored without the lease");
    db.finish_extraction(d1.id, "alive", text, now).await.expect("finish");
    assert_eq!(db.find_extraction(d1.id).await.expect("find"), Some(ExtractionState::Done));
    assert_eq!(db.find_derived(d1.id, "text").await.expect("find").as_deref(), Some(&b"sealed text"[..]));
    // Finished once only.
    assert!(matches!(db.finish_extraction(d1.id, "alive", text, now).await, Err(StoreError::Stale(_))));
    let unavailable = ExtractionResult::Unavailable { reason: "timeout", detail: "pdftotext ran past 60 s" };
    db.finish_extraction(d2.id, "alive", unavailable, now).await.expect("finish");
    assert_eq!(
        db.find_extraction(d2.id).await.expect("find"),
        Some(ExtractionState::Unavailable { reason: "timeout".into(), detail: "pdftotext ran past 60 s".into() })
    );
    // A failure that may pass: given back, due again later, not before.
    db.retry_extraction(d3.id, "alive", "key provider unreachable", now + Duration::minutes(10)).await.expect("retry");
    assert!(matches!(db.retry_extraction(d3.id, "alive", "again", now).await, Err(StoreError::Stale(_))));
    assert_eq!(
        db.find_extraction(d3.id).await.expect("find"),
        Some(ExtractionState::Pending { attempts: 2, last_error: Some("key provider unreachable".into()) })
    );
    assert!(db.claim_extraction_jobs("alive", now + Duration::minutes(9), lease, 10).await.expect("claim").is_empty());
    let due = db.claim_extraction_jobs("alive", now + Duration::minutes(10), lease, 10).await.expect("claim");
    assert_eq!(due.iter().map(|j| (j.document_id, j.attempts)).collect::<Vec<_>>(), vec![(d3.id, 3)]);
    assert_eq!(
        db.extraction_counts().await.expect("counts"),
        vec![
            ExtractionCount { state: "done".into(), reason: String::new(), jobs: 1 },
            ExtractionCount { state: "pending".into(), reason: String::new(), jobs: 1 },
            ExtractionCount { state: "unavailable".into(), reason: "timeout".into(), jobs: 1 },
        ]
    );
}

fn item(n: u8, patient: &Ins, kind: ItemKind, origin: ItemOrigin) -> StoredItem {
    StoredItem {
        meta: ItemMeta {
            id: ItemId::from_bytes([0x40 + n; 16]),
            ins: patient.clone(),
            kind,
            origin,
            recorded_by: "rpps:10000000019".into(),
            recorded_at: T0 + Duration::minutes(i64::from(n)),
            effective: (!n.is_multiple_of(3)).then(|| T0 - Duration::days(i64::from(n))),
            status: ItemStatus::Current,
            replaces: None,
        },
        sealed: vec![n; 24],
    }
}

/// An item read from `doc`, as the store gives it back (the path is sealed with the content).
fn from_doc(n: u8, doc: &DocumentMeta, kind: ItemKind) -> StoredItem {
    item(n, &doc.ins, kind, ItemOrigin::Document { document: doc.id, path: String::new() })
}

/// How a document's items are numbered, and so stored.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// As the service numbers a deposit's items: one set, one row.
    Set,
    /// Any other numbering, as every item was before sets: one row each.
    Rows,
}

/// The items read from `doc`, `kinds` in order, from item `n` on, numbered per `layout`.
fn read_from(layout: Layout, n: u8, doc: &DocumentMeta, kinds: &[ItemKind]) -> Vec<StoredItem> {
    let set = ItemId::in_set(ItemId::from_bytes([0x40 + n; 16]), 0);
    (0u8..)
        .zip(kinds)
        .map(|(i, kind)| {
            let mut item = from_doc(n + i, doc, *kind);
            if let Layout::Set = layout {
                item.meta.id = ItemId::in_set(set, u16::from(i));
            }
            item
        })
        .collect()
}

fn ids(items: &[StoredItem]) -> Vec<ItemId> {
    items.iter().map(|i| i.meta.id).collect()
}

pub async fn profile_items_land_with_their_document_or_not_at_all(db: Database) {
    items_land_with_their_document(db, Layout::Set).await;
}

pub async fn items_stored_one_row_each_land_with_their_document(db: Database) {
    items_land_with_their_document(db, Layout::Rows).await;
}

async fn items_land_with_their_document(db: Database, layout: Layout) {
    let p = ins(1);
    let d = document(1, &p);
    let items = read_from(layout, 1, &d, &[ItemKind::Allergy, ItemKind::Result, ItemKind::Result]);
    let sets = if let Layout::Set = layout { 1 } else { 0 };
    let stored = on_pool!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM profile_item_sets").fetch_one(pool).await);
    assert_eq!(stored.expect("count"), 0);
    db.insert_document_with_items(noted(&db, &d).await, None, None, &[], &items).await.expect("insert");
    let stored = on_pool!(db, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM profile_item_sets").fetch_one(pool).await);
    assert_eq!(stored.expect("count"), sets, "{layout:?}");
    for item in &items {
        assert_eq!(db.find_item(item.meta.id).await.expect("find").as_ref(), Some(item), "round trip");
    }
    // An id next to the set's last item is no item.
    let (set, _) = items[0].meta.id.set_and_place();
    assert_eq!(db.find_item(ItemId::in_set(set, 3)).await.expect("find"), None);
    // Newest effective first, undated last.
    assert_eq!(ids(&db.find_items_of(&p, None).await.expect("list")), [items[0].meta.id, items[1].meta.id, items[2].meta.id]);
    assert_eq!(ids(&db.find_items_of(&p, Some(ItemKind::Result)).await.expect("by kind")), [items[1].meta.id, items[2].meta.id]);
    assert!(db.find_items_of(&p, Some(ItemKind::Contact)).await.expect("none").is_empty());
    assert!(db.find_items_of(&ins(2), None).await.expect("other record").is_empty());
    assert!(matches!(db.find_document(d.id).await, Ok(Some(_))));

    // The document's unique id is taken: neither it nor its items are written.
    let clash = DocumentMeta { id: DocumentId::from_bytes([9; 16]), ..d.clone() };
    let lost = read_from(layout, 4, &clash, &[ItemKind::Condition]);
    let refused = db.insert_document_with_items(noted(&db, &clash).await, None, None, &[], &lost).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(db.find_item(lost[0].meta.id).await.expect("find"), None);
    // And an item whose id is taken takes its document down with it.
    let d2 = document(2, &p);
    let twice = read_from(layout, 1, &d2, &[ItemKind::Condition]);
    assert!(db.insert_document_with_items(noted(&db, &d2).await, None, None, &[], &twice).await.is_err());
    assert!(db.find_document(d2.id).await.expect("find").is_none());

    // Deleting the document deletes its items.
    db.delete_document(d.id).await.expect("delete");
    assert!(db.find_items_of(&p, None).await.expect("list").is_empty());
}

pub async fn profile_items_of_a_submission_set_land_with_it(db: Database) {
    let p = ins(1);
    let (d1, d2) = (document(1, &p), document(2, &p));
    let set = submission_set(1, &p, &[&d1, &d2]);
    let docs = [
        NewSetDocument { meta: &d1, title_sealed: None, supersedes: None },
        NewSetDocument { meta: &d2, title_sealed: None, supersedes: None },
    ];
    // A set per document, and one document's items stored one row each.
    let items = [
        read_from(Layout::Set, 1, &d1, &[ItemKind::Immunization, ItemKind::Result]),
        read_from(Layout::Set, 3, &d2, &[ItemKind::VitalSign]),
        read_from(Layout::Rows, 5, &d2, &[ItemKind::Condition]),
    ]
    .concat();
    db.insert_submission_with_items(&set, noted_rows(&db, &docs).await, &[], &items).await.expect("insert");
    let mut read = db.find_items_of(&p, None).await.expect("list");
    read.sort_by_key(|i| i.meta.recorded_at);
    assert_eq!(read, items);
    assert_eq!(db.find_submission_set_by_unique_id(&set.unique_id).await.expect("find").map(|s| s.id), Some(set.id.clone()));

    // A set refused (its unique id taken) writes no item.
    let d3 = document(3, &p);
    let again = StoredSubmissionSet { id: "set-again".into(), documents: vec![d3.id], ..set.clone() };
    let docs = [NewSetDocument { meta: &d3, title_sealed: None, supersedes: None }];
    let lost = read_from(Layout::Set, 7, &d3, &[ItemKind::Condition]);
    let refused = db.insert_submission_with_items(&again, noted_rows(&db, &docs).await, &[], &lost).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(db.find_item(lost[0].meta.id).await.expect("find"), None);
}

pub async fn a_replacement_supersedes_its_sources_items(db: Database) {
    replacement_supersedes_items(db, Layout::Set).await;
}

pub async fn items_stored_one_row_each_are_superseded_with_their_document(db: Database) {
    replacement_supersedes_items(db, Layout::Rows).await;
}

async fn replacement_supersedes_items(db: Database, layout: Layout) {
    let p = ins(1);
    let v1 = document(1, &p);
    let old = read_from(layout, 1, &v1, &[ItemKind::Allergy, ItemKind::Medication]);
    db.insert_document_with_items(noted(&db, &v1).await, None, None, &[], &old).await.expect("v1");
    let direct = item(5, &p, ItemKind::Contact, ItemOrigin::Patient);
    db.insert_items(std::slice::from_ref(&direct)).await.expect("direct");
    let v2 = DocumentMeta { replaces: Some(v1.id), ..document(2, &p) };
    let new = read_from(layout, 3, &v2, &[ItemKind::Allergy]);
    db.insert_document_with_items(noted(&db, &v2).await, None, Some(v1.id), &[], &new).await.expect("v2");
    for o in &old {
        assert_eq!(db.find_item(o.meta.id).await.expect("find").map(|i| i.meta.status), Some(ItemStatus::Superseded));
    }
    assert_eq!(db.find_item(new[0].meta.id).await.expect("find").map(|i| i.meta.status), Some(ItemStatus::Current));
    assert_eq!(db.find_item(direct.meta.id).await.expect("find").map(|i| i.meta.status), Some(ItemStatus::Current), "not from v1");
    // A plain (non-CDA) replacement supersedes the items just the same.
    let v3 = DocumentMeta { replaces: Some(v2.id), ..document(3, &p) };
    db.insert_document(noted(&db, &v3).await, None, Some(v2.id), &[]).await.expect("v3");
    assert_eq!(db.find_item(new[0].meta.id).await.expect("find").map(|i| i.meta.status), Some(ItemStatus::Superseded));
}

pub async fn direct_items_are_corrected_and_marked_entered_in_error(db: Database) {
    let p = ins(1);
    let first = item(1, &p, ItemKind::Condition, ItemOrigin::Professional);
    db.insert_items(std::slice::from_ref(&first)).await.expect("insert");
    assert!(matches!(db.insert_items(std::slice::from_ref(&first)).await, Err(StoreError::Conflict(_))), "one id, one item");
    // Forty items (several multi-row statements) land and read back as written.
    let many: Vec<StoredItem> = (100..140).map(|n| item(n, &p, ItemKind::Result, ItemOrigin::Professional)).collect();
    db.insert_items(&many).await.expect("forty");
    for m in &many {
        assert_eq!(db.find_item(m.meta.id).await.expect("find").as_ref(), Some(m));
    }
    // A batch (an import) lands whole or not at all: one id already taken refuses the others too.
    let fresh = item(4, &p, ItemKind::Allergy, ItemOrigin::Professional);
    assert!(matches!(db.insert_items(&[fresh.clone(), first.clone()]).await, Err(StoreError::Conflict(_))));
    assert_eq!(db.find_item(fresh.meta.id).await.expect("find"), None, "nothing of a refused batch");
    let mut second = item(2, &p, ItemKind::Condition, ItemOrigin::Professional);
    second.meta.replaces = Some(first.meta.id);
    db.correct_item(first.meta.id, &second).await.expect("correct");
    assert_eq!(db.find_item(first.meta.id).await.expect("find").map(|i| i.meta.status), Some(ItemStatus::Superseded));
    assert_eq!(db.find_item(second.meta.id).await.expect("find"), Some(second.clone()));
    // Correcting a version that is no longer current fails and inserts nothing.
    let mut third = item(3, &p, ItemKind::Condition, ItemOrigin::Professional);
    third.meta.replaces = Some(first.meta.id);
    assert!(matches!(db.correct_item(first.meta.id, &third).await, Err(StoreError::Stale(_))));
    assert_eq!(db.find_item(third.meta.id).await.expect("find"), None);

    db.mark_item_entered_in_error(second.meta.id).await.expect("entered in error");
    assert_eq!(db.find_item(second.meta.id).await.expect("find").map(|i| i.meta.status), Some(ItemStatus::EnteredInError));
    assert!(matches!(db.mark_item_entered_in_error(second.meta.id).await, Err(StoreError::Stale(_))), "once");
    assert!(matches!(db.mark_item_entered_in_error(ItemId::from_bytes([0xee; 16])).await, Err(StoreError::Stale(_))), "unknown");
}

pub async fn withdrawing_a_correction_of_a_documents_item_puts_it_back(db: Database) {
    correction_withdrawn_puts_item_back(db, Layout::Set).await;
}

pub async fn items_stored_one_row_each_are_corrected_and_put_back(db: Database) {
    correction_withdrawn_puts_item_back(db, Layout::Rows).await;
}

async fn correction_withdrawn_puts_item_back(db: Database, layout: Layout) {
    let p = ins(1);
    let v1 = document(1, &p);
    let [read] = <[StoredItem; 1]>::try_from(read_from(layout, 1, &v1, &[ItemKind::Allergy])).expect("one");
    db.insert_document_with_items(noted(&db, &v1).await, None, None, &[], std::slice::from_ref(&read)).await.expect("v1");
    let status = async |id: ItemId| db.find_item(id).await.expect("find").map(|i| i.meta.status);
    let mut correction = item(2, &p, ItemKind::Allergy, ItemOrigin::Patient);
    correction.meta.replaces = Some(read.meta.id);
    db.correct_item(read.meta.id, &correction).await.expect("the patient corrects");
    assert_eq!(status(read.meta.id).await, Some(ItemStatus::Superseded));
    db.mark_item_entered_in_error(correction.meta.id).await.expect("she withdraws her correction");
    assert_eq!(status(read.meta.id).await, Some(ItemStatus::Current), "the document's item is back");
    // Only a current item is corrected: a correction naming a superseded one is stale.
    let mut late = item(6, &p, ItemKind::Allergy, ItemOrigin::Patient);
    late.meta.replaces = Some(read.meta.id);
    let unknown = ItemId::in_set(read.meta.id.set_and_place().0, 9);
    assert!(matches!(db.correct_item(unknown, &late).await, Err(StoreError::Stale(_))), "no such item in the set");

    // Once the document is replaced, its item stays superseded whatever becomes of a correction.
    let mut again = item(3, &p, ItemKind::Allergy, ItemOrigin::Patient);
    again.meta.replaces = Some(read.meta.id);
    db.correct_item(read.meta.id, &again).await.expect("corrects again");
    let v2 = DocumentMeta { replaces: Some(v1.id), ..document(2, &p) };
    db.insert_document(noted(&db, &v2).await, None, Some(v1.id), &[]).await.expect("v2");
    db.mark_item_entered_in_error(again.meta.id).await.expect("withdraws");
    assert_eq!(status(read.meta.id).await, Some(ItemStatus::Superseded), "its document was replaced");
    // A direct item's corrections are not undone by withdrawing the last version.
    let first = item(4, &p, ItemKind::Condition, ItemOrigin::Professional);
    db.insert_items(std::slice::from_ref(&first)).await.expect("direct");
    let mut second = item(5, &p, ItemKind::Condition, ItemOrigin::Professional);
    second.meta.replaces = Some(first.meta.id);
    db.correct_item(first.meta.id, &second).await.expect("corrected");
    db.mark_item_entered_in_error(second.meta.id).await.expect("withdrawn");
    assert_eq!(status(first.meta.id).await, Some(ItemStatus::Superseded));
}

pub async fn shredding_deletes_profile_items(db: Database) {
    let p = ins(1);
    let d = document(1, &p);
    let read = [read_from(Layout::Set, 1, &d, &[ItemKind::Result]), read_from(Layout::Rows, 4, &d, &[ItemKind::Result])].concat();
    db.insert_document_with_items(noted(&db, &d).await, None, None, &[], &read).await.expect("insert");
    db.insert_items(&[item(2, &p, ItemKind::AdvanceDirective, ItemOrigin::Patient)]).await.expect("direct");
    let kept = item(3, &ins(2), ItemKind::Contact, ItemOrigin::Patient);
    db.insert_items(std::slice::from_ref(&kept)).await.expect("other patient");
    db.delete_documents_of(&p).await.expect("shred");
    assert!(db.find_items_of(&p, None).await.expect("list").is_empty(), "items from documents and direct entries go");
    assert_eq!(ids(&db.find_items_of(&ins(2), None).await.expect("list")), [kept.meta.id]);
}

/// A profile may come from a node's cache: every kind of change, made through either node, shows
/// in the next read on both (each read twice: the second is the cached one).
pub async fn a_records_profile_follows_every_change_on_every_node(a: Database) {
    profile_follows_every_change(a, Layout::Set).await;
}

pub async fn items_stored_one_row_each_follow_every_change_on_every_node(a: Database) {
    profile_follows_every_change(a, Layout::Rows).await;
}

async fn profile_follows_every_change(a: Database, layout: Layout) {
    let b = a.another_node();
    let p = ins(1);
    let read_both = async |expected: &[(ItemId, ItemStatus)], step: &str| {
        for (node, db) in [("a", &a), ("b", &b), ("a again", &a), ("b again", &b)] {
            let mut got: Vec<_> = db.find_items_of(&p, None).await.expect("list").iter().map(|i| (i.meta.id, i.meta.status)).collect();
            got.sort_by_key(|(id, status)| (id.to_string(), status.as_str()));
            let mut want = expected.to_vec();
            want.sort_by_key(|(id, status)| (id.to_string(), status.as_str()));
            assert_eq!(got, want, "{step}: node {node}");
        }
    };
    use ItemStatus::{Current, EnteredInError, Superseded};
    read_both(&[], "nothing yet").await;
    let v1 = document(1, &p);
    let read = read_from(layout, 1, &v1, &[ItemKind::Allergy]);
    a.insert_document_with_items(noted(&a, &v1).await, None, None, &[], &read).await.expect("deposit");
    let r = read[0].meta.id;
    read_both(&[(r, Current)], "a deposit on a").await;
    let direct = item(2, &p, ItemKind::Condition, ItemOrigin::Professional);
    b.insert_items(std::slice::from_ref(&direct)).await.expect("direct");
    let d = direct.meta.id;
    read_both(&[(r, Current), (d, Current)], "a direct item on b").await;
    let mut correction = item(3, &p, ItemKind::Allergy, ItemOrigin::Patient);
    correction.meta.replaces = Some(r);
    a.correct_item(r, &correction).await.expect("correct");
    let c = correction.meta.id;
    read_both(&[(r, Superseded), (d, Current), (c, Current)], "the patient corrects the document's item on a").await;
    b.mark_item_entered_in_error(c).await.expect("withdraw");
    read_both(&[(r, Current), (d, Current), (c, EnteredInError)], "she withdraws it on b").await;
    let v2 = DocumentMeta { replaces: Some(v1.id), ..document(2, &p) };
    let read2 = read_from(layout, 4, &v2, &[ItemKind::Allergy]);
    b.insert_document_with_items(noted(&b, &v2).await, None, Some(v1.id), &[], &read2).await.expect("replace");
    let r2 = read2[0].meta.id;
    read_both(&[(r, Superseded), (d, Current), (c, EnteredInError), (r2, Current)], "a replacement on b").await;
    a.delete_document(v2.id).await.expect("delete");
    read_both(&[(r, Superseded), (d, Current), (c, EnteredInError)], "the replacement deleted on a").await;
    b.delete_documents_of(&p).await.expect("shred");
    read_both(&[], "the record shredded on b").await;
}

/// Two people correcting one version at once: the first correction lands, the second is stale
/// and writes nothing, whether the version was read from a document or entered directly.
pub async fn two_corrections_of_one_version_do_not_both_land(db: Database) {
    let p = ins(1);
    let d = document(1, &p);
    let read = read_from(Layout::Set, 1, &d, &[ItemKind::Allergy, ItemKind::Condition]);
    db.insert_document_with_items(noted(&db, &d).await, None, None, &[], &read).await.expect("deposit");
    let direct = item(3, &p, ItemKind::Condition, ItemOrigin::Professional);
    db.insert_items(std::slice::from_ref(&direct)).await.expect("direct");
    for (n, old) in [(10, read[1].meta.id), (20, direct.meta.id)] {
        let correction = |n: u8| {
            let mut c = item(n, &p, ItemKind::Condition, ItemOrigin::Patient);
            c.meta.replaces = Some(old);
            c
        };
        let (first, second) = (correction(n), correction(n + 1));
        let (x, y) = tokio::join!(db.correct_item(old, &first), db.correct_item(old, &second));
        assert!(x.is_ok() != y.is_ok(), "one of two lands: {x:?} {y:?}");
        assert!(matches!(x.err().or(y.err()), Some(StoreError::Stale(_))));
        let items = db.find_items_of(&p, None).await.expect("list");
        let live: Vec<_> = items.iter().filter(|i| i.meta.replaces == Some(old)).collect();
        assert_eq!(live.len(), 1, "one correction of {old}");
        assert_eq!(items.iter().find(|i| i.meta.id == old).map(|i| i.meta.status), Some(ItemStatus::Superseded));
    }
    // The set's other item is untouched.
    assert_eq!(db.find_item(read[0].meta.id).await.expect("find").map(|i| i.meta.status), Some(ItemStatus::Current));
}
