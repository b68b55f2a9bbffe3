//! The access policy over HTTP, on SQLite and PostgreSQL: the patient's choices and who may make
//! them, emergency access, minors, the médecin traitant, blocks, labels, the enumeration guard,
//! the reimbursement history — and that what one may not see answers like what does not exist.

use crate::support;

use axum::http::StatusCode;
use carnet_auth::TokenClaims;
use carnet_domain::{DocumentId, Profession, Role};
use carnet_server::HttpLimits;
use carnet_service::ServiceConfig;
use serde_json::{Value, json};
use support::{TestApp, assert_problem, ins, rpps};

fn id_of(reply: &support::Reply) -> String {
    reply.body["id"].as_str().unwrap_or_else(|| panic!("an id in {}", reply.raw)).to_owned()
}

async fn change(app: &TestApp, ins: &carnet_domain::Ins, token: &str, body: Value) -> support::Reply {
    app.post(&format!("/api/records/{ins}/policy/changes"), token, body).await
}

async fn titles(app: &TestApp, ins: &carnet_domain::Ins, token: &str) -> Vec<String> {
    let r = app.get(&format!("/api/records/{ins}/documents"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let mut t: Vec<String> = r.body["documents"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["title"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    t.sort();
    assert_eq!(r.body["total"].as_u64(), Some(t.len() as u64), "total counts exactly what is listed");
    t
}

fn doc(n: u32, type_code: &str, title: &str, labels: &[&str]) -> Value {
    json!({"unique_id": format!("1.2.250.1.999.7.{n}"), "type_code": type_code, "title": title, "labels": labels, "mime_type": "application/pdf"})
}

async fn an_authorization_lets_a_professional_read_and_a_revocation_stops_it(app: TestApp) {
    let p = ins(1);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    app.upload(&p, &author, doc(1, "11502-2", "Bilan", &[]), b"%PDF bilan").await;
    let nurse = app.professional(2, Profession::Infirmier);
    let patient = app.patient(&p);
    assert!(titles(&app, &p, &nurse).await.is_empty(), "no authorization, nothing");

    let r = change(&app, &p, &patient, json!({"change": "authorize", "rpps": rpps(2).to_string()})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["authorizations"][0]["granted_by"], format!("ins:{p}").as_str());
    assert_eq!(titles(&app, &p, &nurse).await, vec!["Bilan"]);

    let r = change(&app, &p, &patient, json!({"change": "revoke", "rpps": rpps(2).to_string()})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(titles(&app, &p, &nurse).await.is_empty());
}

async fn only_the_holder_changes_the_policy_and_bad_changes_change_nothing(app: TestApp) {
    let p = ins(2);
    app.open_record(&p).await;
    let patient = app.patient(&p);
    let authorize = json!({"change": "authorize", "rpps": rpps(5).to_string()});
    for (who, token) in [
        ("another patient", app.patient(&ins(3))),
        ("a professional", app.professional(5, Profession::Medecin)),
        ("an insurer agent", app.role(Role::InsurerAgent)),
        ("an operator", app.role(Role::Operator)),
        ("a privacy officer", app.role(Role::PrivacyOfficer)),
    ] {
        let r = change(&app, &p, &token, authorize.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.raw);
    }
    let past = json!({"change": "authorize", "rpps": rpps(5).to_string(), "expires_at": "2020-01-01T00:00:00Z"});
    assert_problem(&change(&app, &p, &patient, past).await, StatusCode::UNPROCESSABLE_ENTITY, "expires_at must be in the future");
    assert_problem(&change(&app, &p, &patient, json!({"change": "promote"})).await, StatusCode::UNPROCESSABLE_ENTITY, "change:");
    assert_problem(
        &change(&app, &p, &patient, json!({"change": "authorize", "rpps": "123"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "change:",
    );
    let policy = app.get(&format!("/api/records/{p}/policy"), &patient).await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.raw);
    assert_eq!(policy.body["authorizations"], json!([]), "nothing changed");
    // Reading the policy is the holder's (and the privacy officer's).
    assert_eq!(app.get(&format!("/api/records/{p}/policy"), &app.professional(5, Profession::Medecin)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&format!("/api/records/{p}/policy"), &app.role(Role::PrivacyOfficer)).await.status, StatusCode::OK);
}

async fn a_professional_declares_the_patients_authorization_at_the_point_of_care(app: TestApp) {
    let p = ins(4);
    app.open_record(&p).await;
    app.upload(&p, &app.professional(1, Profession::Medecin), doc(1, "11502-2", "Bilan", &[]), b"%PDF").await;
    let pharmacist = app.professional(6, Profession::Pharmacien);
    let r = change(&app, &p, &pharmacist, json!({"change": "declare_authorization", "rpps": rpps(6).to_string()})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let a = &r.body["authorizations"][0];
    assert_eq!(a["declared"]["by"], format!("rpps:{}", rpps(6)).as_str(), "who declared it is recorded");
    assert!(a["expires_at"].as_str().is_some_and(|e| e.starts_with("2026-03-05")), "a pharmacy's window is three days: {a}");
    assert_eq!(titles(&app, &p, &pharmacist).await, vec!["Bilan"]);
    // For themselves only.
    let other = change(&app, &p, &pharmacist, json!({"change": "declare_authorization", "rpps": rpps(7).to_string()})).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    // After the window, nothing.
    app.clock.advance(time::Duration::days(4));
    let fresh = app.professional(6, Profession::Pharmacien);
    assert!(titles(&app, &p, &fresh).await.is_empty(), "the declared authorization lapsed");
}

async fn a_blocked_professional_sees_nothing_even_authorized_even_by_bris_de_glace(app: TestApp) {
    let p = ins(8);
    app.open_record(&p).await;
    let blocked = app.professional(9, Profession::Medecin);
    let own = id_of(&app.upload(&p, &blocked, doc(1, "11488-4", "Consultation par Dr 9", &[]), b"%PDF mine").await);
    app.upload(&p, &app.professional(1, Profession::Medecin), doc(2, "11502-2", "Bilan", &[]), b"%PDF").await;
    let patient = app.patient(&p);
    assert_eq!(change(&app, &p, &patient, json!({"change": "authorize", "rpps": rpps(9).to_string()})).await.status, StatusCode::OK);
    assert_eq!(titles(&app, &p, &blocked).await.len(), 2);
    let r = change(&app, &p, &patient, json!({"change": "block", "rpps": rpps(9).to_string()})).await;
    assert_eq!(r.body["authorizations"], json!([]), "blocking revokes");
    assert_eq!(titles(&app, &p, &blocked).await, vec!["Consultation par Dr 9"], "only what they authored");
    let again = change(&app, &p, &patient, json!({"change": "authorize", "rpps": rpps(9).to_string()})).await;
    assert_problem(&again, StatusCode::CONFLICT, "blocked");
    let bdg = app
        .post(&format!("/api/records/{p}/emergency-access"), &blocked, json!({"kind": "bris_de_glace", "justification": "urgence"}))
        .await;
    assert_problem(&bdg, StatusCode::FORBIDDEN, "emergency access to this record is not possible");
    assert_eq!(titles(&app, &p, &blocked).await, vec!["Consultation par Dr 9"]);
    assert_eq!(app.get(&format!("/api/documents/{own}"), &blocked).await.status, StatusCode::OK, "authors still read what they wrote");
}

async fn bris_de_glace_needs_a_justification_is_time_limited_and_reviewed(app: TestApp) {
    let p = ins(10);
    app.open_record(&p).await;
    app.upload(&p, &app.professional(1, Profession::Medecin), doc(1, "11502-2", "Bilan", &[]), b"%PDF").await;
    app.upload(&p, &app.professional(1, Profession::Medecin), doc(2, "11488-4", "Masqué", &["MASQUE_PS"]), b"%PDF").await;
    let urgentist = app.professional(11, Profession::Medecin);
    let url = format!("/api/records/{p}/emergency-access");
    assert_problem(&app.post(&url, &urgentist, json!({"kind": "bris_de_glace"})).await, StatusCode::UNPROCESSABLE_ENTITY, "justification");
    assert_problem(
        &app.post(&url, &urgentist, json!({"kind": "bris_de_glace", "justification": "   "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "justification",
    );
    assert_problem(
        &app.post(&url, &urgentist, json!({"kind": "panic", "justification": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "kind",
    );
    assert!(titles(&app, &p, &urgentist).await.is_empty());
    let opened = app.post(&url, &urgentist, json!({"kind": "bris_de_glace", "justification": "Patient inconscient aux urgences"})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.raw);
    assert_eq!(titles(&app, &p, &urgentist).await, vec!["Bilan"], "MASQUE_PS stays hidden, also in an emergency");
    // The privacy officer's queue has it; the ledger has the justification.
    let officer = app.role(Role::PrivacyOfficer);
    let queue = app.get("/api/review-items?status=open", &officer).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.raw);
    let item = queue.body.as_array().and_then(|a| a.iter().find(|i| i["kind"] == "emergency")).cloned().expect("an emergency item");
    assert_eq!(item["actor"], format!("rpps:{}", rpps(11)).as_str());
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.patient(&p)).await;
    let entry = history.body["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == "emergency.bris_de_glace" && e["outcome"] == "permit"))
        .cloned()
        .expect("in the history");
    assert_eq!(entry["justification"], "Patient inconscient aux urgences");
    // Time-limited.
    app.clock.advance(time::Duration::hours(5));
    let later = app.professional(11, Profession::Medecin);
    assert!(titles(&app, &p, &later).await.is_empty(), "the emergency access expired");
    // Reviewing is the officer's, and is itself recorded.
    let officer = app.role(Role::PrivacyOfficer);
    let id = item["id"].as_str().expect("id");
    assert_eq!(app.post(&format!("/api/review-items/{id}/acknowledge"), &later, json!({})).await.status, StatusCode::FORBIDDEN);
    let ack = app.post(&format!("/api/review-items/{id}/acknowledge"), &officer, json!({"note": "justifié"})).await;
    assert_eq!(ack.body["status"], "acknowledged", "{}", ack.raw);
    assert_problem(&app.post(&format!("/api/review-items/{id}/acknowledge"), &officer, json!({})).await, StatusCode::CONFLICT, "already");
}

async fn opposing_samu_but_not_bris_de_glace_gives_exactly_that(app: TestApp) {
    let p = ins(12);
    app.open_record(&p).await;
    app.upload(&p, &app.professional(1, Profession::Medecin), doc(1, "11502-2", "Bilan", &[]), b"%PDF").await;
    let patient = app.patient(&p);
    assert_eq!(change(&app, &p, &patient, json!({"change": "set_samu_opposition", "opposed": true})).await.status, StatusCode::OK);
    let regulator = app.token(TokenClaims {
        sub: "samu-1".into(),
        role: Role::Regulator,
        rpps: Some(rpps(20).to_string()),
        profession: Some("10".into()),
        ..Default::default()
    });
    let url = format!("/api/records/{p}/emergency-access");
    let samu = app.post(&url, &regulator, json!({"kind": "samu", "justification": "appel 15"})).await;
    let bdg =
        app.post(&url, &app.professional(21, Profession::Medecin), json!({"kind": "bris_de_glace", "justification": "urgence"})).await;
    assert_eq!(samu.status, StatusCode::FORBIDDEN, "SAMU opposed: {}", samu.raw);
    assert_eq!(bdg.status, StatusCode::CREATED, "bris de glace not opposed: {}", bdg.raw);
    assert_eq!(titles(&app, &p, &app.professional(21, Profession::Medecin)).await, vec!["Bilan"]);
    // And the other way round.
    assert_eq!(change(&app, &p, &patient, json!({"change": "set_samu_opposition", "opposed": false})).await.status, StatusCode::OK);
    assert_eq!(change(&app, &p, &patient, json!({"change": "set_bris_de_glace_opposition", "opposed": true})).await.status, StatusCode::OK);
    assert_eq!(app.post(&url, &regulator, json!({"kind": "samu", "justification": "appel 15"})).await.status, StatusCode::CREATED);
    assert_eq!(
        app.post(&url, &app.professional(22, Profession::Medecin), json!({"kind": "bris_de_glace", "justification": "x"})).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn the_medecin_traitant_sees_what_the_patient_hid(app: TestApp) {
    let p = ins(13);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let hidden = id_of(&app.upload(&p, &author, doc(1, "11488-4", "Consultation", &[]), b"%PDF").await);
    let patient = app.patient(&p);
    // The patient hides it from professionals (MASQUE_PS is theirs to set, not the author's).
    let r = app
        .call(axum::http::Method::PUT, &format!("/api/documents/{hidden}/labels"), Some(&author), Some(json!({"labels": ["MASQUE_PS"]})))
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "MASQUE_PS");
    let r = app
        .call(axum::http::Method::PUT, &format!("/api/documents/{hidden}/labels"), Some(&patient), Some(json!({"labels": ["MASQUE_PS"]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["labels"], json!(["MASQUE_PS"]));
    let authorized = app.professional(30, Profession::Medecin);
    let mt = app.professional(31, Profession::Medecin);
    change(&app, &p, &patient, json!({"change": "authorize", "rpps": rpps(30).to_string()})).await;
    change(&app, &p, &patient, json!({"change": "set_medecin_traitant", "rpps": rpps(31).to_string()})).await;
    assert!(titles(&app, &p, &authorized).await.is_empty(), "hidden from an authorized professional");
    assert_eq!(titles(&app, &p, &mt).await, vec!["Consultation"], "the médecin traitant sees it");
    assert_eq!(app.get(&format!("/api/documents/{hidden}"), &author).await.status, StatusCode::OK, "and its author");
    // Extended rights are the médecin traitant's rights.
    change(&app, &p, &patient, json!({"change": "grant_extended_rights", "rpps": rpps(30).to_string()})).await;
    assert_eq!(titles(&app, &p, &authorized).await, vec!["Consultation"]);
}

async fn a_minors_secret_is_kept_from_the_parent(app: TestApp) {
    let minor = ins(14);
    let parent = app.representative(&minor);
    // The parent opens the record: they are registered as its representative.
    let mut body = support::new_record(&minor);
    body["birth_date"] = json!("2012-02-27");
    let created = app.post("/api/records", &parent, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let author = app.professional(1, Profession::Medecin);
    app.upload(&minor, &author, doc(1, "11488-4", "Consultation", &[]), b"%PDF").await;
    app.upload(&minor, &author, doc(2, "11488-4", "Consultation confidentielle", &["INVISIBLE_REPRESENTANTS_LEGAUX"]), b"%PDF").await;
    let child = app.patient(&minor);
    assert_eq!(titles(&app, &minor, &child).await, vec!["Consultation", "Consultation confidentielle"], "the minor sees it");
    assert_eq!(titles(&app, &minor, &parent).await, vec!["Consultation"], "the parent does not");
    let policy = app.get(&format!("/api/records/{minor}/policy"), &parent).await;
    assert_eq!(policy.body["representatives"][0]["kind"], "minor", "{}", policy.raw);
    assert!(policy.body["representatives"][0]["until"].as_str().is_some_and(|u| u.starts_with("2030-02-27")), "until the 18th birthday");
    // Another representative claim, never registered, sees nothing.
    let stranger = app.token(TokenClaims {
        sub: "r-stranger".into(),
        role: Role::Representative,
        represents: vec![minor.to_string()],
        ..Default::default()
    });
    assert!(titles(&app, &minor, &stranger).await.is_empty());
    // The parent reads the history of the record they represent.
    assert_eq!(app.get(&format!("/api/records/{minor}/access-history"), &parent).await.status, StatusCode::OK);
    // After majority, the parent's representation has ended.
    app.clock.advance(time::Duration::days(365 * 5));
    let later = app.representative(&minor);
    assert!(titles(&app, &minor, &later).await.is_empty());
}

async fn invisible_patient_until_the_author_lifts_it(app: TestApp) {
    let p = ins(15);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let id = id_of(&app.upload(&p, &author, doc(1, "11502-2", "Résultat", &["INVISIBLE_PATIENT"]), b"%PDF").await);
    let patient = app.patient(&p);
    assert!(titles(&app, &p, &patient).await.is_empty());
    let r = app.call(axum::http::Method::PUT, &format!("/api/documents/{id}/labels"), Some(&patient), Some(json!({"labels": []}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "the patient cannot touch what they cannot see");
    let r = app.call(axum::http::Method::PUT, &format!("/api/documents/{id}/labels"), Some(&author), Some(json!({"labels": []}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(titles(&app, &p, &patient).await, vec!["Résultat"], "announced");
}

async fn hidden_and_missing_answer_alike(app: TestApp) {
    let p = ins(16);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let hidden = id_of(&app.upload(&p, &author, doc(1, "11488-4", "Masqué", &["MASQUE_PS"]), b"%PDF").await);
    let patient = app.patient(&p);
    change(&app, &p, &patient, json!({"change": "authorize", "rpps": rpps(40).to_string()})).await;
    let reader = app.professional(40, Profession::Medecin);
    let missing = DocumentId::from_bytes([0x77; 16]).to_string();
    for suffix in ["", "/content"] {
        let a = app.get(&format!("/api/documents/{hidden}{suffix}"), &reader).await;
        let b = app.get(&format!("/api/documents/{missing}{suffix}"), &reader).await;
        assert_eq!((a.status, &a.body), (b.status, &b.body), "hidden answers as missing");
    }
    let a = app.call(axum::http::Method::PUT, &format!("/api/documents/{hidden}/labels"), Some(&reader), Some(json!({"labels": []}))).await;
    let b =
        app.call(axum::http::Method::PUT, &format!("/api/documents/{missing}/labels"), Some(&reader), Some(json!({"labels": []}))).await;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &reader).await.body["total"], 0);
}

async fn the_reimbursement_history_can_be_hidden_and_deleted(app: TestApp) {
    let p = ins(17);
    app.open_record(&p).await;
    let insurer = app.role(Role::InsurerAgent);
    let remb =
        json!({"unique_id": "1.2.250.1.999.9.17", "type_code": "REMB", "title": "Remboursements 2025", "mime_type": "application/pdf"});
    assert_eq!(app.upload(&p, &insurer, remb, b"%PDF remb").await.status, StatusCode::CREATED);
    let patient = app.patient(&p);
    change(&app, &p, &patient, json!({"change": "set_medecin_traitant", "rpps": rpps(50).to_string()})).await;
    let mt = app.professional(50, Profession::Medecin);
    assert_eq!(titles(&app, &p, &mt).await, vec!["Remboursements 2025"]);
    change(&app, &p, &patient, json!({"change": "hide_reimbursement", "hidden": true})).await;
    assert!(titles(&app, &p, &mt).await.is_empty(), "hidden from professionals");
    assert_eq!(titles(&app, &p, &patient).await, vec!["Remboursements 2025"], "the patient still sees it");
    let url = format!("/api/records/{p}/reimbursement-history");
    assert_eq!(app.call(axum::http::Method::DELETE, &url, Some(&mt), None).await.status, StatusCode::FORBIDDEN);
    let deleted = app.call(axum::http::Method::DELETE, &url, Some(&patient), None).await;
    assert_eq!(deleted.body["deleted"], 1, "{}", deleted.raw);
    assert!(titles(&app, &p, &patient).await.is_empty());
}

async fn the_enumeration_guard_throttles_and_alerts(_app: TestApp) {
    let backend = _app.backend;
    drop(_app);
    let config = ServiceConfig { enumeration_limit: 3, ..ServiceConfig::default() };
    let app = TestApp::with_config(backend, HttpLimits::default(), config).await;
    let scanner = app.professional(60, Profession::Medecin);
    let mut statuses = Vec::new();
    for n in 70..75 {
        let p = ins(n);
        app.open_record(&p).await;
        change(&app, &p, &app.patient(&p), json!({"change": "authorize", "rpps": rpps(60).to_string()})).await;
        statuses.push(app.get(&format!("/api/records/{p}/documents"), &scanner).await.status);
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
    // Reopening a record already counted is free.
    assert_eq!(app.get(&format!("/api/records/{}/documents", ins(70)), &scanner).await.status, StatusCode::OK);
    let queue = app.get("/api/review-items?status=open", &app.role(Role::PrivacyOfficer)).await;
    let alerts: Vec<&Value> = queue.body.as_array().map(|a| a.iter().filter(|i| i["kind"] == "enumeration").collect()).unwrap_or_default();
    assert_eq!(alerts.len(), 1, "one alert per episode: {}", queue.raw);
    // Another professional is not affected.
    let other = app.professional(61, Profession::Medecin);
    assert_eq!(app.get(&format!("/api/records/{}/documents", ins(74)), &other).await.status, StatusCode::OK);
}

/// Rule 15 counts every record lookup, not only clinical reads: the record's status, PDQm by
/// INS and by traits — else any professional could look up every INS and read who has a record.
async fn every_record_lookup_counts_in_the_enumeration_guard(_app: TestApp) {
    let backend = _app.backend;
    drop(_app);
    let config = ServiceConfig { enumeration_limit: 3, ..ServiceConfig::default() };
    let app = TestApp::with_config(backend, HttpLimits::default(), config).await;
    for n in 80..86 {
        app.open_record(&ins(n)).await;
    }
    let (ok, over) = (StatusCode::OK, StatusCode::TOO_MANY_REQUESTS);
    let looker = app.professional(62, Profession::Medecin);
    let mut statuses = Vec::new();
    for n in 80..85 {
        statuses.push(app.get(&format!("/api/records/{}", ins(n)), &looker).await.status);
    }
    assert_eq!(statuses, [ok, ok, ok, over, over]);
    assert_eq!(app.get(&format!("/api/records/{}", ins(81)), &looker).await.status, ok, "a record counted already is free");
    let searcher = app.professional(63, Profession::Medecin);
    let mut statuses = Vec::new();
    for n in 80..85 {
        let found = app.fhir_get(&format!("/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8%7C{}", ins(n)), &searcher).await;
        assert_eq!(found.status == ok, found.body["total"] == 1, "{}", found.raw);
        statuses.push(found.status);
    }
    assert_eq!(statuses, [ok, ok, ok, over, over]);
    // A search by traits returning more records than the limit returns none of them.
    let third = app.professional(64, Profession::Medecin);
    let many = app.fhir_get("/fhir/Patient?family=martin&birthdate=1984-12-01", &third).await;
    assert_eq!(many.status, over, "{}", many.raw);
    assert!(!many.raw.contains(ins(80).as_str()), "{}", many.raw);
    // Patients are not counted: they look up only their own record.
    let patient = app.patient(&ins(84));
    for _ in 0..5 {
        assert_eq!(app.get(&format!("/api/records/{}", ins(84)), &patient).await.status, ok);
    }
    let queue = app.get("/api/review-items?status=open", &app.role(Role::PrivacyOfficer)).await;
    let alerted: Vec<&Value> =
        queue.body.as_array().map(|a| a.iter().filter(|i| i["kind"] == "enumeration").map(|i| &i["actor"]).collect()).unwrap_or_default();
    assert_eq!(alerted.len(), 3, "one alert per professional and episode: {}", queue.raw);
    // An hour later (a fresh token) the sweep has purged the openings, and the window admits new lookups.
    app.clock.advance(time::Duration::minutes(61));
    let report = app.carnet.sweep().await.expect("sweep");
    assert_eq!(report.guard_openings_purged, 6, "three records for each of the first two, none for the refused search nor the patient");
    let looker = app.professional(62, Profession::Medecin);
    assert_eq!(app.get(&format!("/api/records/{}", ins(84)), &looker).await.status, ok);
}

/// Re-opening a record within a minute of its last note costs the guard nothing (no note);
/// after that minute it is noted again, and its hour starts over.
async fn a_record_reopened_within_a_minute_is_not_noted_again(app: TestApp) {
    let (ok, over) = (StatusCode::OK, StatusCode::TOO_MANY_REQUESTS);
    for n in 86..88 {
        app.open_record(&ins(n)).await;
    }
    let hour = time::Duration::HOUR;
    let (quick, slow) = (app.professional(65, Profession::Medecin), app.professional(66, Profession::Medecin));
    for looker in [&quick, &slow] {
        assert_eq!(app.get(&format!("/api/records/{}", ins(86)), looker).await.status, ok);
    }
    // 30 s on, `quick` looks again: still counted, not noted again.
    app.clock.advance(time::Duration::seconds(30));
    assert_eq!(app.get(&format!("/api/records/{}", ins(86)), &quick).await.status, ok);
    // 70 s on, `slow` looks again: noted again.
    app.clock.advance(time::Duration::seconds(40));
    assert_eq!(app.get(&format!("/api/records/{}", ins(86)), &slow).await.status, ok);
    // An hour and 10 s after the first look, only `quick`'s opening has left the window.
    app.clock.advance(hour - time::Duration::seconds(60));
    let report = app.carnet.sweep().await.expect("sweep");
    assert_eq!(report.guard_openings_purged, 1, "quick's note of the first look, not slow's of the second");
    // The guard still refuses past the limit, reopenings skipped or not.
    let config = ServiceConfig { enumeration_limit: 1, ..ServiceConfig::default() };
    let strict = TestApp::with_config(app.backend, HttpLimits::default(), config).await;
    for n in 86..88 {
        strict.open_record(&ins(n)).await;
    }
    let looker = strict.professional(67, Profession::Medecin);
    assert_eq!(strict.get(&format!("/api/records/{}", ins(86)), &looker).await.status, ok);
    assert_eq!(strict.get(&format!("/api/records/{}", ins(86)), &looker).await.status, ok, "free, and not asked");
    assert_eq!(strict.get(&format!("/api/records/{}", ins(87)), &looker).await.status, over);
    assert_eq!(strict.get(&format!("/api/records/{}", ins(86)), &looker).await.status, ok, "still free while throttled");
}

async fn every_decision_is_in_the_patients_history(app: TestApp) {
    let p = ins(18);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let id = id_of(&app.upload(&p, &author, doc(1, "11502-2", "Bilan", &[]), b"%PDF").await);
    let stranger = app.professional(90, Profession::Medecin);
    assert_eq!(app.get(&format!("/api/documents/{id}"), &stranger).await.status, StatusCode::NOT_FOUND);
    let patient = app.patient(&p);
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &patient).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.raw);
    let entries = history.body["entries"].as_array().cloned().unwrap_or_default();
    let find = |action: &str, outcome: &str, reference: &str| {
        entries.iter().any(|e| e["action"] == action && e["outcome"] == outcome && e["actor"]["reference"] == reference)
    };
    assert!(find("document.submit", "permit", &format!("rpps:{}", rpps(1))), "the deposit");
    assert!(find("document.read", "deny", &format!("rpps:{}", rpps(90))), "the refused read, with who tried");
    let denied = entries.iter().find(|e| e["action"] == "document.read" && e["outcome"] == "deny").expect("entry");
    assert_eq!(denied["reason"], "no_authorization");
    assert_eq!(denied["actor"]["profession"], "10");
    // Each entry is provably in the ledger: check one inclusion proof against the signed head.
    let head = app.get("/api/ledger/tree-head", &patient).await;
    let size = head.body["tree_size"].as_u64().expect("size");
    let index = denied["index"].as_u64().expect("index");
    let proof = app.get(&format!("/api/ledger/inclusion-proof?index={index}&tree_size={size}"), &patient).await;
    assert_eq!(proof.status, StatusCode::OK, "{}", proof.raw);
    let unhex = |s: &str| -> [u8; 32] { carnet_domain::hex::decode_array(s).expect("64 lower-case hex digits") };
    let path: Vec<[u8; 32]> = proof.body["path"].as_array().expect("path").iter().map(|h| unhex(h.as_str().expect("hex"))).collect();
    let leaf = carnet_ledger::leaf_hash(denied["entry_json"].as_str().expect("bytes").as_bytes());
    assert_eq!(leaf, unhex(denied["leaf_hash"].as_str().expect("leaf")));
    let root = unhex(head.body["root_hash"].as_str().expect("root"));
    assert!(carnet_ledger::verify_inclusion(&leaf, index, size, &path, &root), "the entry is in the signed tree");
    // Bad proof requests are clear.
    assert_problem(
        &app.get(&format!("/api/ledger/inclusion-proof?index={}&tree_size={size}", size + 5), &patient).await,
        StatusCode::NOT_FOUND,
        "beyond",
    );
    assert_problem(&app.get("/api/ledger/consistency-proof?old=5&new=2", &patient).await, StatusCode::UNPROCESSABLE_ENTITY, "larger");
    assert_problem(
        &app.get(&format!("/api/ledger/consistency-proof?old=1&new={}", size + 1), &patient).await,
        StatusCode::NOT_FOUND,
        "beyond",
    );
    assert_problem(&app.get(&format!("/api/ledger/tree-heads/{}", size + 10), &patient).await, StatusCode::NOT_FOUND, "beyond the ledger");
    let consistency = app.get(&format!("/api/ledger/consistency-proof?old=1&new={size}"), &patient).await;
    assert_eq!(consistency.status, StatusCode::OK, "{}", consistency.raw);
    assert_problem(&app.get("/api/ledger/inclusion-proof?index=x", &patient).await, StatusCode::BAD_REQUEST, "index");
    // The history is the holder's and the privacy officer's only.
    assert_eq!(app.get(&format!("/api/records/{p}/access-history"), &author).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/records/{p}/access-history"), &app.role(Role::PrivacyOfficer)).await.status, StatusCode::OK);
}

async fn the_history_leaves_no_trace_of_what_the_viewer_may_not_see(app: TestApp) {
    let p = ins(19);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let hidden = id_of(&app.upload(&p, &author, doc(1, "11502-2", "Résultat", &["INVISIBLE_PATIENT"]), b"%PDF").await);
    app.get(&format!("/api/documents/{hidden}"), &author).await;
    let patient = app.patient(&p);
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &patient).await;
    assert!(!history.raw.contains(&hidden), "no entry names the hidden document: {}", history.raw);
    let officer = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.role(Role::PrivacyOfficer)).await;
    assert!(officer.raw.contains(&hidden), "the privacy officer sees everything");
}

async fn no_access_goes_unlogged(app: TestApp) {
    let p = ins(20);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let id = id_of(&app.upload(&p, &author, doc(1, "11502-2", "Bilan", &[]), b"%PDF-LEDGER-DOWN").await);
    // The ledger's store goes away: every access that cannot be recorded is refused.
    app.carnet.ledger().store().close().await;
    let patient = app.patient(&p);
    for path in [format!("/api/documents/{id}"), format!("/api/documents/{id}/content"), format!("/api/records/{p}/documents")] {
        let r = app.get(&path, &patient).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {}", r.raw);
        assert!(!r.raw.contains("PDF-LEDGER-DOWN") && !r.raw.contains("Bilan"), "{path} served content");
    }
    let deposit = app.upload(&p, &author, doc(2, "11502-2", "Autre", &[]), b"%PDF").await;
    assert_eq!(deposit.status, StatusCode::SERVICE_UNAVAILABLE, "a deposit is not stored unlogged");
}

/// Every kind of change, in the JSON clients send, and the policy as clients read it: field for
/// field, `null` for what is absent, RFC 3339 instants.
async fn every_change_reads_as_clients_send_it_and_the_policy_answers_in_its_shape(app: TestApp) {
    let p = ins(21);
    app.open_record(&p).await;
    let patient = app.patient(&p);
    let pharmacist = app.professional(6, Profession::Pharmacien);
    let r = |n| rpps(n).to_string();
    let steps = [
        (&patient, json!({"change": "authorize", "rpps": r(2)})),
        (&patient, json!({"change": "authorize", "rpps": r(3), "expires_at": "2027-01-01T00:00:00Z"})),
        (&patient, json!({"change": "authorize", "rpps": r(4), "expires_at": null})),
        (&patient, json!({"change": "revoke", "rpps": r(4)})),
        (&pharmacist, json!({"change": "declare_authorization", "rpps": r(6)})),
        (&patient, json!({"change": "block", "rpps": r(9)})),
        (&patient, json!({"change": "block", "rpps": r(10)})),
        (&patient, json!({"change": "unblock", "rpps": r(10)})),
        (&patient, json!({"change": "set_medecin_traitant", "rpps": r(30)})),
        (&patient, json!({"change": "set_medecin_traitant", "rpps": null})),
        (&patient, json!({"change": "set_medecin_traitant", "rpps": r(31)})),
        (&patient, json!({"change": "grant_extended_rights", "rpps": r(32)})),
        (&patient, json!({"change": "grant_extended_rights", "rpps": r(33)})),
        (&patient, json!({"change": "revoke_extended_rights", "rpps": r(33)})),
        (
            &patient,
            json!({"change": "add_representative", "representative": "https://idp.example#parent-1", "kind": "minor", "until": "2030-02-27T00:00:00Z"}),
        ),
        (
            &patient,
            json!({"change": "add_representative", "representative": "https://idp.example#guardian", "kind": "protected_adult", "since": "2026-04-01T00:00:00Z", "until": null}),
        ),
        (&patient, json!({"change": "add_representative", "representative": "https://idp.example#parent-2", "kind": "minor"})),
        (&patient, json!({"change": "end_representative", "representative": "https://idp.example#parent-2"})),
        (&patient, json!({"change": "set_bris_de_glace_opposition", "opposed": true})),
        (&patient, json!({"change": "set_samu_opposition", "opposed": true})),
        (&patient, json!({"change": "set_samu_opposition", "opposed": false})),
        (&patient, json!({"change": "hide_reimbursement", "hidden": true})),
    ];
    for (token, body) in steps {
        let reply = change(&app, &p, token, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}: {}", reply.raw);
    }
    let by_patient = format!("ins:{p}");
    let now = "2026-03-02T09:00:00Z";
    let expected = json!({
        "authorizations": [
            {"rpps": r(2), "granted_at": now, "expires_at": null, "granted_by": by_patient, "declared": null},
            {"rpps": r(3), "granted_at": now, "expires_at": "2027-01-01T00:00:00Z", "granted_by": by_patient, "declared": null},
            {"rpps": r(6), "granted_at": now, "expires_at": "2026-03-05T09:00:00Z", "granted_by": format!("rpps:{}", r(6)),
             "declared": {"by": format!("rpps:{}", r(6)), "at": now}},
        ],
        "blocked": [r(9)],
        "medecin_traitant": r(31),
        "extended_rights": [r(32)],
        "representatives": [
            {"representative": "https://idp.example#parent-1", "kind": "minor", "since": now, "until": "2030-02-27T00:00:00Z",
             "registered_by": by_patient, "registered_at": now},
            {"representative": "https://idp.example#guardian", "kind": "protected_adult", "since": "2026-04-01T00:00:00Z", "until": null,
             "registered_by": by_patient, "registered_at": now},
            {"representative": "https://idp.example#parent-2", "kind": "minor", "since": now, "until": now,
             "registered_by": by_patient, "registered_at": now},
        ],
        "opposes_bris_de_glace": true,
        "opposes_samu": false,
        "reimbursement_hidden": true,
    });
    let policy = app.get(&format!("/api/records/{p}/policy"), &patient).await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.raw);
    assert_eq!(policy.body, expected);
}

/// The OpenAPI document describes the policy and each change, not an opaque object.
#[tokio::test]
async fn the_openapi_document_lists_the_policys_fields_and_every_change() {
    let app = TestApp::new(support::Backend::Sqlite).await;
    let doc = app.call(axum::http::Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let schemas = &doc.body["components"]["schemas"];
    let fields = |schema: &Value| -> Vec<String> {
        let mut names: Vec<String> = schema["properties"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        names.sort();
        names
    };
    let sorted = |names: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        v.sort();
        v
    };
    let policy = &doc.body["paths"]["/api/records/{ins}/policy"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(policy["$ref"], "#/components/schemas/PolicyResponse");
    let policy_fields = [
        "authorizations",
        "blocked",
        "medecin_traitant",
        "extended_rights",
        "representatives",
        "opposes_bris_de_glace",
        "opposes_samu",
        "reimbursement_hidden",
    ];
    assert_eq!(fields(&schemas["PolicyResponse"]), sorted(&policy_fields));
    assert_eq!(fields(&schemas["AuthorizationResponse"]), sorted(&["rpps", "granted_at", "expires_at", "granted_by", "declared"]));
    assert_eq!(fields(&schemas["DeclarationResponse"]), sorted(&["by", "at"]));
    assert_eq!(
        fields(&schemas["RepresentationResponse"]),
        sorted(&["representative", "kind", "since", "until", "registered_by", "registered_at"])
    );
    assert_eq!(schemas["RepresentationKindName"]["enum"], json!(["minor", "protected_adult"]));
    assert_eq!(schemas["AuthorizationResponse"]["properties"]["granted_at"]["format"], "date-time");

    let changes = &doc.body["paths"]["/api/records/{ins}/policy/changes"]["post"];
    assert_eq!(changes["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ChangeRequest");
    assert_eq!(changes["responses"]["200"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/PolicyResponse");
    let variants = schemas["ChangeRequest"]["oneOf"].as_array().cloned().unwrap_or_default();
    let described: Vec<(String, Vec<String>)> =
        variants.iter().map(|v| (v["properties"]["change"]["enum"][0].as_str().unwrap_or_default().to_owned(), fields(v))).collect();
    let rpps_only = sorted(&["change", "rpps"]);
    let expected = [
        ("authorize", sorted(&["change", "rpps", "expires_at"])),
        ("declare_authorization", sorted(&["change", "rpps", "expires_at"])),
        ("revoke", rpps_only.clone()),
        ("block", rpps_only.clone()),
        ("unblock", rpps_only.clone()),
        ("set_medecin_traitant", rpps_only.clone()),
        ("grant_extended_rights", rpps_only.clone()),
        ("revoke_extended_rights", rpps_only.clone()),
        ("add_representative", sorted(&["change", "representative", "kind", "since", "until"])),
        ("end_representative", sorted(&["change", "representative"])),
        ("set_bris_de_glace_opposition", sorted(&["change", "opposed"])),
        ("set_samu_opposition", sorted(&["change", "opposed"])),
        ("hide_reimbursement", sorted(&["change", "hidden"])),
    ];
    assert_eq!(described, expected.map(|(c, f)| (c.to_owned(), f)).to_vec());
}

on_both_backends!(
    no_access_goes_unlogged,
    an_authorization_lets_a_professional_read_and_a_revocation_stops_it,
    only_the_holder_changes_the_policy_and_bad_changes_change_nothing,
    a_professional_declares_the_patients_authorization_at_the_point_of_care,
    a_blocked_professional_sees_nothing_even_authorized_even_by_bris_de_glace,
    bris_de_glace_needs_a_justification_is_time_limited_and_reviewed,
    opposing_samu_but_not_bris_de_glace_gives_exactly_that,
    the_medecin_traitant_sees_what_the_patient_hid,
    a_minors_secret_is_kept_from_the_parent,
    invisible_patient_until_the_author_lifts_it,
    hidden_and_missing_answer_alike,
    the_reimbursement_history_can_be_hidden_and_deleted,
    the_enumeration_guard_throttles_and_alerts,
    every_record_lookup_counts_in_the_enumeration_guard,
    a_record_reopened_within_a_minute_is_not_noted_again,
    every_decision_is_in_the_patients_history,
    the_history_leaves_no_trace_of_what_the_viewer_may_not_see,
    every_change_reads_as_clients_send_it_and_the_policy_answers_in_its_shape,
);
