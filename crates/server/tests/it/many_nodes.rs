//! Two nodes of one installation (two `Carnet`s with their own caches on one database, ledger,
//! keys and blobs, as two `carnet serve` behind a load balancer): a change made through one is
//! in force on the other at its next request — revocation, block, emergency access, sign-out,
//! master key rotation, a ledger found untrustworthy and its restore acknowledged — the enumeration
//! guard counts across both, and a node stopping hands its job leases over.

use crate::support;

use axum::http::StatusCode;
use carnet_domain::{Actor, ActorKind, Ins, Profession, Scopes};
use carnet_server::HttpLimits;
use carnet_service::ServiceConfig;
use carnet_store::{KeyStore, ReviewStore};
use serde_json::{Value, json};
use support::{TestApp, ins, rpps};

fn doc(n: u32) -> Value {
    json!({"unique_id": format!("1.2.250.1.999.21.{n}"), "type_code": "11502-2", "title": format!("Bilan {n}"), "mime_type": "application/pdf"})
}

async fn change(node: &TestApp, p: &Ins, token: &str, body: Value) {
    let r = node.post(&format!("/api/records/{p}/policy/changes"), token, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
}

/// What `token` reads of the document `id` through `node`: its status and, if read, its bytes.
async fn read(node: &TestApp, id: &str, token: &str) -> (StatusCode, Vec<u8>) {
    let r = node.get_raw(&format!("/api/documents/{id}/content"), token, &[]).await;
    (r.status, r.bytes)
}

/// A record with one document by professional 1, on node `a`; returns its id.
async fn record_with_a_document(a: &TestApp, p: &Ins, n: u32) -> String {
    a.open_record(p).await;
    let r = a.upload(p, &a.professional(1, Profession::Medecin), doc(n), format!("%PDF bilan {n}").as_bytes()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.body["id"].as_str().expect("id").to_owned()
}

async fn a_revocation_or_a_block_through_one_node_binds_the_other_at_once(a: TestApp) {
    let b = a.another_node().await;
    let p = ins(1);
    let id = record_with_a_document(&a, &p, 1).await;
    let (patient, nurse) = (a.patient(&p), a.professional(2, Profession::Infirmier));
    let authorize = json!({"change": "authorize", "rpps": rpps(2).to_string()});

    change(&a, &p, &patient, authorize.clone()).await;
    // Read twice through B: whatever B caches of the record is warm.
    for _ in 0..2 {
        assert_eq!(read(&b, &id, &nurse).await, (StatusCode::OK, b"%PDF bilan 1".to_vec()));
    }
    change(&a, &p, &patient, json!({"change": "revoke", "rpps": rpps(2).to_string()})).await;
    assert_eq!(read(&b, &id, &nurse).await.0, StatusCode::NOT_FOUND, "revoked through A: refused by B at once");

    change(&b, &p, &patient, authorize).await;
    assert_eq!(read(&a, &id, &nurse).await.0, StatusCode::OK, "authorized through B: admitted by A at once");
    assert_eq!(read(&b, &id, &nurse).await.0, StatusCode::OK);
    change(&a, &p, &patient, json!({"change": "block", "rpps": rpps(2).to_string()})).await;
    assert_eq!(read(&b, &id, &nurse).await.0, StatusCode::NOT_FOUND, "blocked through A: refused by B at once");
    let list = b.get(&format!("/api/records/{p}/documents"), &nurse).await;
    assert_eq!((list.status, list.body["total"].as_u64()), (StatusCode::OK, Some(0)), "{}", list.raw);
}

async fn an_emergency_access_opened_on_one_node_opens_the_record_on_the_other_and_is_reviewed_there(a: TestApp) {
    let b = a.another_node().await;
    let p = ins(2);
    let id = record_with_a_document(&a, &p, 2).await;
    let urgentist = a.professional(3, Profession::Medecin);
    assert_eq!(read(&b, &id, &urgentist).await.0, StatusCode::NOT_FOUND, "no authorization, no emergency: nothing");
    let r = a
        .post(&format!("/api/records/{p}/emergency-access"), &urgentist, json!({"kind": "bris_de_glace", "justification": "inconsciente"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(read(&b, &id, &urgentist).await, (StatusCode::OK, b"%PDF bilan 2".to_vec()), "opened on A: B admits");
    let queue = b.get("/api/review-items?status=open", &b.role(carnet_domain::Role::PrivacyOfficer)).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.raw);
    let emergencies: Vec<&Value> = queue.body.as_array().expect("items").iter().filter(|i| i["kind"] == "emergency").collect();
    assert_eq!(emergencies.len(), 1, "{}", queue.raw);
    assert_eq!(emergencies[0]["ins"], p.to_string().as_str());
}

async fn a_session_signed_out_on_one_node_is_over_on_the_other(a: TestApp) {
    let b = a.another_node().await;
    let p = ins(3);
    a.open_record(&p).await;
    let holder = Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "holder".into(),
        name: Some("Jeanne MARTIN".into()),
        kind: ActorKind::Patient { ins: p.clone() },
        scopes: Scopes::RoleOnly,
        client: None,
    };
    let visit = a.portal_session(&holder).await;
    let page = b.page("/dossier", &visit).await;
    assert_eq!(page.status, StatusCode::OK, "a session opened on A is one on B: {}", page.raw);
    let out = a.submit("/deconnexion", &visit, &[]).await;
    assert!(out.status.is_redirection(), "{} {}", out.status, out.raw);
    let page = b.page("/dossier", &visit).await;
    assert_ne!(page.status, StatusCode::OK, "signed out on A: over on B");
    assert!(!page.raw.contains("MARTIN"), "{}", page.raw);
}

async fn a_master_key_rotated_through_one_node_leaves_the_other_reading_and_writing(a: TestApp) {
    let b = a.another_node().await;
    let (p, q) = (ins(4), ins(5));
    let before = record_with_a_document(&a, &p, 4).await;
    let doctor = a.professional(1, Profession::Medecin);
    assert_eq!(read(&b, &before, &doctor).await.0, StatusCode::OK, "B holds the old master key");
    let operator = Actor {
        issuer: "urn:test".into(),
        subject: "ops".into(),
        name: None,
        kind: ActorKind::Operator,
        scopes: Scopes::RoleOnly,
        client: None,
    };
    let report = a.carnet.rotate_master_key(&operator).await.expect("rotate through A");
    assert_eq!(report.retired.len(), 1, "the old master key is gone");
    // A first deposit for another patient through B: its data key wrapped under the new master key.
    b.open_record(&q).await;
    let r = b.upload(&q, &doctor, doc(5), b"%PDF after").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let after = r.body["id"].as_str().expect("id").to_owned();
    for node in [&a, &b] {
        assert_eq!(read(node, &before, &doctor).await, (StatusCode::OK, b"%PDF bilan 4".to_vec()));
        assert_eq!(read(node, &after, &doctor).await, (StatusCode::OK, b"%PDF after".to_vec()));
    }
    let (_, wrapped) = a.db.all_patient_keys().await.expect("keys").into_iter().find(|(i, _)| *i == q).expect("q's key");
    assert_eq!(wrapped.master_key_id, report.new_master_key, "B wrapped under the master key A made active");
}

async fn a_ledger_found_untrustworthy_by_one_node_stops_the_others(a: TestApp) {
    let b = a.another_node().await;
    let p = ins(6);
    let id = record_with_a_document(&a, &p, 6).await;
    let doctor = a.professional(1, Profession::Medecin);
    b.carnet.checkpoint_ledger().await.expect("B's periodic checkpoint");
    assert_eq!(read(&b, &id, &doctor).await.0, StatusCode::OK, "a trusted ledger: B serves");

    crate::ledger_trust::rewrite_the_first_entry(&a).await;
    let pause = std::time::Duration::ZERO;
    let problem = a.carnet.verify_ledger_now(pause).await.expect("verify").expect("A finds the rewrite");
    assert_eq!(read(&a, &id, &doctor).await.0, StatusCode::SERVICE_UNAVAILABLE);
    b.carnet.checkpoint_ledger().await.expect("B's periodic checkpoint");
    assert_eq!(read(&b, &id, &doctor).await.0, StatusCode::SERVICE_UNAVAILABLE, "B takes up A's finding at its next checkpoint");
    assert!(b.carnet.ledger_problem().is_some_and(|p| p.contains(&problem)), "{:?}", b.carnet.ledger_problem());
    // A node started now starts untrusted, and the queue holds one item, not one per node.
    let c = a.another_node().await;
    assert!(c.carnet.check_ledger().await.expect("start-up check").is_some());
    assert_eq!(read(&c, &id, &doctor).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(b.carnet.verify_ledger_now(pause).await.expect("verify").is_some());
    let items = a.db.find_review_items(Some("open"), 100).await.expect("queue");
    assert_eq!(items.iter().filter(|i| i.kind == "ledger").count(), 1, "{items:?}");
}

/// The operator's `carnet admin record-restore`: a process of its own on the installation.
async fn acknowledge_a_restore(a: &TestApp) {
    let operator = a.another_node().await;
    let _ = operator.carnet.check_ledger().await.expect("start-up check");
    let head = operator.carnet.latest_tree_head().await.expect("head");
    let operator_actor = Actor {
        issuer: "urn:carnet:cli".into(),
        subject: "operator".into(),
        name: Some("carnet CLI".into()),
        kind: ActorKind::Operator,
        scopes: Scopes::RoleOnly,
        client: None,
    };
    operator.carnet.record_restore(&operator_actor, "backup-21", Some(&head)).await.expect("record-restore");
}

async fn an_acknowledged_restore_lifts_the_distrust_on_every_node_without_a_restart(a: TestApp) {
    let b = a.another_node().await;
    let p = ins(7);
    let id = record_with_a_document(&a, &p, 7).await;
    let doctor = a.professional(1, Profession::Medecin);
    let pause = std::time::Duration::ZERO;
    crate::ledger_trust::rewrite_the_first_entry(&a).await;
    let problem = a.carnet.verify_ledger_now(pause).await.expect("verify").expect("A finds the rewrite");
    b.carnet.checkpoint_ledger().await.expect("B's periodic checkpoint");
    assert_eq!(read(&b, &id, &doctor).await.0, StatusCode::SERVICE_UNAVAILABLE, "B took up A's finding");

    // The operator restores the backup, then acknowledges it: each node, at its next checkpoint,
    // checks the restored ledger and serves again — no restart.
    crate::ledger_trust::undo_the_rewrite_of_the_first_entry(&a).await;
    acknowledge_a_restore(&a).await;
    for (name, node) in [("A", &a), ("B", &b)] {
        assert!(node.carnet.ledger_problem().is_some(), "{name}: until its checkpoint");
        node.carnet.checkpoint_ledger().await.expect("periodic checkpoint");
        assert_eq!(node.carnet.ledger_problem(), None, "{name}");
        assert_eq!(read(node, &id, &doctor).await.0, StatusCode::OK, "{name} serves again");
        assert_eq!(node.get("/ready", &doctor).await.status, StatusCode::OK, "{name}");
    }
    // A later checkpoint does not raise the lifted distrust again from what a node remembered.
    b.carnet.checkpoint_ledger().await.expect("checkpoint");
    assert!(a.carnet.verify_ledger_now(pause).await.expect("verify").is_none(), "the restored ledger verifies");
    assert_eq!(read(&b, &id, &doctor).await.0, StatusCode::OK);

    // Bad again right after: a new episode, found on A, taken up by B, one more item in the queue.
    crate::ledger_trust::rewrite_the_first_entry(&a).await;
    let again = a.carnet.verify_ledger_now(pause).await.expect("verify").expect("A finds it again");
    b.carnet.checkpoint_ledger().await.expect("checkpoint");
    assert_eq!(read(&b, &id, &doctor).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(b.carnet.ledger_problem().is_some_and(|p| p.contains(&again)), "{:?}", b.carnet.ledger_problem());
    let items = a.db.find_review_items(Some("open"), 100).await.expect("queue");
    let ledger_items: Vec<&str> = items.iter().filter(|i| i.kind == "ledger").map(|i| i.summary.as_str()).collect();
    assert_eq!(ledger_items, vec![problem.as_str(), again.as_str()], "one item per episode");
}

/// A node that stops gives its leases back (what `carnet serve` does at shutdown): the other
/// node runs the job at its next round instead of at the lease's end.
async fn a_node_stopping_gives_its_job_leases_to_the_other(a: TestApp) {
    let b = a.another_node().await;
    assert_ne!(a.carnet.node(), b.carnet.node(), "each node has a name of its own");
    let hour = std::time::Duration::from_secs(3600);
    assert!(a.carnet.hold_job("retention_sweep", a.carnet.node(), hour).await.expect("lease"));
    assert!(!b.carnet.hold_job("retention_sweep", b.carnet.node(), hour).await.expect("lease"), "A holds it for an hour");
    let released = a.carnet.release_leases().await.expect("release");
    assert_eq!(released.jobs, 1);
    assert!(b.carnet.hold_job("retention_sweep", b.carnet.node(), hour).await.expect("lease"), "B takes it at once");
    assert_eq!(b.carnet.release_leases().await.expect("release").jobs, 1, "and gives back only its own");
    assert_eq!(a.carnet.release_leases().await.expect("release").jobs, 0);
}

async fn the_enumeration_guard_counts_openings_on_every_node(backend: support::Backend) {
    let config = ServiceConfig { enumeration_limit: 4, ..ServiceConfig::default() };
    let a = TestApp::with_config(backend, HttpLimits::default(), config).await;
    let b = a.another_node().await;
    let doctor = a.professional(9, Profession::Medecin);
    let records: Vec<Ins> = (10..15).map(ins).collect();
    for p in &records {
        a.open_record(p).await;
    }
    // Four distinct records (each lookup of a record's status counts), alternately through A and B: all admitted.
    for (n, p) in records[..4].iter().enumerate() {
        let node = if n % 2 == 0 { &a } else { &b };
        let r = node.get(&format!("/api/records/{p}"), &doctor).await;
        assert_eq!(r.status, StatusCode::OK, "record {n}: {}", r.raw);
    }
    // The fifth, on either node: refused.
    for node in [&a, &b] {
        let r = node.get(&format!("/api/records/{}", records[4]), &doctor).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.raw);
    }
    let queue = a.get("/api/review-items", &a.role(carnet_domain::Role::PrivacyOfficer)).await;
    let alerts = queue.body.as_array().expect("items").iter().filter(|i| i["kind"] == "enumeration").count();
    assert_eq!(alerts, 1, "one alert for the episode, whichever node saw it: {}", queue.raw);
}

on_both_backends!(
    a_revocation_or_a_block_through_one_node_binds_the_other_at_once,
    an_emergency_access_opened_on_one_node_opens_the_record_on_the_other_and_is_reviewed_there,
    a_session_signed_out_on_one_node_is_over_on_the_other,
    a_master_key_rotated_through_one_node_leaves_the_other_reading_and_writing,
    a_ledger_found_untrustworthy_by_one_node_stops_the_others,
    an_acknowledged_restore_lifts_the_distrust_on_every_node_without_a_restart,
    a_node_stopping_gives_its_job_leases_to_the_other,
);

mod guard {
    #[tokio::test]
    async fn sqlite() {
        super::the_enumeration_guard_counts_openings_on_every_node(super::support::Backend::Sqlite).await;
    }
    #[tokio::test]
    async fn postgres() {
        super::the_enumeration_guard_counts_openings_on_every_node(super::support::Backend::Postgres).await;
    }
}
