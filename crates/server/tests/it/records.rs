//! The record lifecycle over HTTP, on both backends: who may do what, bad input, and time.

use crate::support;

use axum::http::{Method, StatusCode};
use carnet_domain::{Profession, Role};
use serde_json::json;
use support::{TestApp, assert_problem, finess, ins, new_record};
use time::Duration;

async fn a_patient_creates_and_reads_their_record(app: TestApp) {
    let me = ins(1);
    let token = app.patient(&me);
    let created = app.post("/api/records", &token, new_record(&me)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    assert_eq!(created.headers["location"], format!("/api/records/{me}").as_str());
    assert_eq!(created.body["channel"], "patient");
    assert_eq!(created.body["status"], "active");

    let read = app.get(&format!("/api/records/{me}"), &token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["birth_name"], "MARTIN");
    assert_eq!(read.body["ins_system"], "urn:oid:1.2.250.1.213.1.4.8");
    assert_eq!(read.body["identity_status"], "qualifiee");
    assert_eq!(read.body, created.body, "a read returns exactly what the write returned");

    let again = app.post("/api/records", &token, new_record(&me)).await;
    assert_problem(&again, StatusCode::CONFLICT, "already has a record");
}

async fn a_patient_cannot_touch_another_record_nor_learn_it_exists(app: TestApp) {
    let (mine, theirs, nobody) = (ins(1), ins(2), ins(3));
    app.post("/api/records", &app.patient(&theirs), new_record(&theirs)).await;
    let token = app.patient(&mine);
    let create = app.post("/api/records", &token, new_record(&theirs)).await;
    assert_problem(&create, StatusCode::FORBIDDEN, "own or represented");
    // Same answer whether the other record exists or not: no existence leak.
    let existing = app.get(&format!("/api/records/{theirs}"), &token).await;
    let missing = app.get(&format!("/api/records/{nobody}"), &token).await;
    assert_eq!(existing.status, StatusCode::FORBIDDEN);
    assert_eq!(existing.raw, missing.raw);
    let close = app.post(&format!("/api/records/{theirs}/close"), &token, json!({"reason": "x"})).await;
    assert_eq!(close.status, StatusCode::FORBIDDEN);
    let still = app.get(&format!("/api/records/{theirs}"), &app.patient(&theirs)).await;
    assert_eq!(still.body["status"], "active", "a refused request changes nothing");
}

async fn a_representative_acts_for_the_represented_only(app: TestApp) {
    let (child, other) = (ins(4), ins(5));
    let parent = app.representative(&child);
    let created = app.post("/api/records", &parent, new_record(&child)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    assert_eq!(created.body["channel"], "patient");
    let refused = app.post("/api/records", &parent, new_record(&other)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn creation_channels_and_statistics(app: TestApp) {
    let pharmacist = app.professional(7, Profession::Pharmacien);
    let doctor = app.professional(8, Profession::Medecin);
    let insurer = app.role(Role::InsurerAgent);
    for n in 10..13 {
        let r = app.post("/api/records", &pharmacist, new_record(&ins(n))).await;
        assert_eq!(r.body["channel"], "pharmacist", "{}", r.raw);
    }
    assert_eq!(app.post("/api/records", &doctor, new_record(&ins(13))).await.body["channel"], "professional");
    assert_eq!(app.post("/api/records", &insurer, new_record(&ins(14))).await.body["channel"], "insurer_agent");
    carnet_store::RecordStore::mark_fed(&app.db, &ins(10), carnet_domain::Clock::now(app.clock.as_ref())).await.expect("mark fed");

    let stats = app.get("/api/statistics/records", &insurer).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.raw);
    assert_eq!(stats.body["created"], 5);
    assert_eq!(stats.body["fed"], 1);
    let pharm = stats.body["by_channel"].as_array().expect("rows").iter().find(|r| r["channel"] == "pharmacist").cloned();
    assert_eq!(pharm, Some(json!({"channel": "pharmacist", "created": 3, "fed": 1})));
    let org = stats.body["by_organisation"].as_array().expect("rows").iter().find(|r| r["finess"] == finess(7).as_str()).cloned();
    assert_eq!(org, Some(json!({"finess": finess(7).to_string(), "channel": "pharmacist", "created": 3, "fed": 1})));

    for role in [Role::PrivacyOfficer, Role::Operator] {
        assert_eq!(app.get("/api/statistics/records", &app.role(role)).await.status, StatusCode::OK);
    }
    assert_problem(&app.get("/api/statistics/records", &doctor).await, StatusCode::FORBIDDEN, "statistics");
    assert_eq!(app.get("/api/statistics/records", &app.patient(&ins(10))).await.status, StatusCode::FORBIDDEN);
}

async fn insurers_and_operators_see_status_not_identity(app: TestApp) {
    let me = ins(20);
    app.post("/api/records", &app.patient(&me), new_record(&me)).await;
    for role in [Role::InsurerAgent, Role::Operator, Role::PrivacyOfficer] {
        let r = app.get(&format!("/api/records/{me}"), &app.role(role)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["status"], "active");
        for hidden in ["birth_name", "birth_given_names", "birth_date", "identity_status", "close_reason"] {
            assert!(r.body.get(hidden).is_none(), "{role:?} must not see {hidden}: {}", r.raw);
        }
    }
    let doctor = app.get(&format!("/api/records/{me}"), &app.professional(1, Profession::Medecin)).await;
    assert_eq!(doctor.body["birth_name"], "MARTIN", "professionals check identity traits");
}

async fn bad_input_gets_a_precise_error_and_changes_nothing(app: TestApp) {
    let me = ins(30);
    let token = app.patient(&me);
    let mut body = new_record(&me);
    let good = me.to_string();
    let wrong_key = format!("{}{:02}", &good[..13], (good[13..].parse::<u8>().expect("key") % 97) + 1);
    for (ins_value, needle) in
        [(wrong_key.as_str(), "key does not match"), ("12345", "15 characters"), ("1841276X5108912", "invalid character")]
    {
        body["ins"] = json!(ins_value);
        assert_problem(&app.post("/api/records", &token, body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    assert_problem(&app.get("/api/records/12345", &token).await, StatusCode::UNPROCESSABLE_ENTITY, "15 characters");
    let cases = [
        ("ins_system", json!("urn:oid:1.2.3"), "ins_system"),
        ("identity_status", json!("provisoire"), "recuperee"),
        ("identity_status", json!("maybe"), "identity_status"),
        ("birth_date", json!("01/12/1984"), "birth_date"),
        ("sex", json!("X"), "sex"),
        ("birthplace", json!("7505"), "birthplace"),
        ("birth_name", json!("   "), "birth_name"),
        ("birth_name", json!("DUP\u{0}ONT"), "control character"),
        ("birth_given_names", json!("Marie\u{1b}[2J"), "control character"),
        ("unexpected", json!(1), "unknown field"),
    ];
    for (field, value, needle) in cases {
        let mut b = new_record(&me);
        b[field] = value;
        assert_problem(&app.post("/api/records", &token, b).await, StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    let syntax = app
        .send(
            axum::http::Request::post("/api/records")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{not json"))
                .expect("request"),
        )
        .await;
    assert_eq!(syntax.status, StatusCode::BAD_REQUEST);
    // None of the above wrote anything.
    assert_problem(&app.get(&format!("/api/records/{me}"), &token).await, StatusCode::NOT_FOUND, "record not found");
}

async fn lifecycle_close_reopen_archive_destroy(app: TestApp) {
    let me = ins(40);
    let token = app.patient(&me);
    app.post("/api/records", &token, new_record(&me)).await;
    let path = format!("/api/records/{me}");

    assert_problem(&app.post(&format!("{path}/close"), &token, json!({"reason": "  "})).await, StatusCode::UNPROCESSABLE_ENTITY, "reason");
    let closed = app.post(&format!("{path}/close"), &token, json!({"reason": "moving abroad"})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.raw);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.body["close_reason"], "moving abroad");
    assert_problem(&app.post(&format!("{path}/close"), &token, json!({"reason": "again"})).await, StatusCode::CONFLICT, "closed");
    let reopened = app.call(Method::POST, &format!("{path}/reopen"), Some(&token), None).await;
    assert_eq!(reopened.body["status"], "active", "{}", reopened.raw);
    assert_problem(&app.call(Method::POST, &format!("{path}/reopen"), Some(&token), None).await, StatusCode::CONFLICT, "active");

    // An insurer agent may close after notice; time then archives, and destroys after 10 years.
    let insurer = app.role(Role::InsurerAgent);
    assert_eq!(app.post(&format!("{path}/close"), &insurer, json!({"reason": "deceased"})).await.status, StatusCode::OK);
    app.clock.advance(Duration::days(59));
    assert_eq!(app.carnet.sweep().await.expect("sweep").archived, 0);
    app.clock.advance(Duration::days(1));
    assert_eq!(app.carnet.sweep().await.expect("sweep").archived, 1);
    let token = app.patient(&me);
    assert_eq!(app.get(&path, &token).await.body["status"], "archived");
    app.clock.advance(Duration::days(3653 - 60));
    let report = app.carnet.sweep().await.expect("sweep");
    assert_eq!(report.destroyed, 1);
    assert_eq!(app.carnet.sweep().await.expect("sweep").destroyed, 0, "sweeping is idempotent");
    let token = app.patient(&me);
    assert_eq!(app.get(&path, &token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.post("/api/records", &token, new_record(&me)).await.status, StatusCode::CREATED, "a new record after destruction");
}

async fn reopening_an_archived_record_cancels_destruction(app: TestApp) {
    let me = ins(41);
    let token = app.patient(&me);
    app.post("/api/records", &token, new_record(&me)).await;
    let path = format!("/api/records/{me}");
    app.post(&format!("{path}/close"), &token, json!({"reason": "pause"})).await;
    app.clock.advance(Duration::days(100));
    app.carnet.sweep().await.expect("sweep");
    let token = app.patient(&me);
    assert_eq!(app.get(&path, &token).await.body["status"], "archived");
    assert_eq!(app.call(Method::POST, &format!("{path}/reopen"), Some(&token), None).await.body["status"], "active");
    app.clock.advance(Duration::days(3700));
    assert_eq!(app.carnet.sweep().await.expect("sweep").destroyed, 0);
}

async fn early_destruction_on_request(app: TestApp) {
    let me = ins(42);
    let token = app.patient(&me);
    app.post("/api/records", &token, new_record(&me)).await;
    let path = format!("/api/records/{me}");
    let doctor = app.professional(1, Profession::Medecin);
    assert_eq!(app.post(&format!("{path}/destruction-request"), &doctor, json!({"reason": "no"})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.carnet.sweep().await.expect("sweep").destroyed, 0, "the refused request scheduled nothing");
    let asked = app.post(&format!("{path}/destruction-request"), &token, json!({"reason": "I want it gone"})).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.raw);
    assert_eq!(asked.body["status"], "closed");
    assert!(asked.body["destruction_due_at"].is_string());
    assert_eq!(app.carnet.sweep().await.expect("sweep").destroyed, 1);
    assert_eq!(app.get(&path, &token).await.status, StatusCode::NOT_FOUND);
}

async fn unknown_record_is_404(app: TestApp) {
    let doctor = app.professional(1, Profession::Medecin);
    assert_problem(&app.get(&format!("/api/records/{}", ins(99)), &doctor).await, StatusCode::NOT_FOUND, "record not found");
}

on_both_backends!(
    a_patient_creates_and_reads_their_record,
    a_patient_cannot_touch_another_record_nor_learn_it_exists,
    a_representative_acts_for_the_represented_only,
    creation_channels_and_statistics,
    insurers_and_operators_see_status_not_identity,
    bad_input_gets_a_precise_error_and_changes_nothing,
    lifecycle_close_reopen_archive_destroy,
    reopening_an_archived_record_cancels_destruction,
    early_destruction_on_request,
    unknown_record_is_404,
);
