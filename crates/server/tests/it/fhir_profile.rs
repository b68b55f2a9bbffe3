//! The medical profile over FHIR: searches of the five resources by patient and code, a trend,
//! read by id, a professional's create with `X-Provenance`, `$summary` as an IPS document with
//! the items — each answer through both validators, and a masked document's items absent from an
//! authorized doctor's searches, reads, totals and summary.

use axum::http::{Method, StatusCode};
use carnet_domain::{Ins, Profession};
use serde_json::{Value, json};

use crate::cda::{Header, cda_with_body, metadata};
use crate::portal_profile::creatinine;
use crate::profile::vsm_body;
use crate::support::fhir::Validated;
use crate::support::{self, TestApp, ins, rpps};

async fn deposit(app: &TestApp, p: &Ins, n: u32, code: &str, body: &str, labels: &[&str]) {
    let confidentiality = if labels.contains(&"MASQUE_PS") { "R" } else { "N" };
    let header = Header { code, confidentiality, ..Header::vsm(p) };
    let r = app.upload(p, &app.professional(1, Profession::Medecin), metadata(n, code, labels, None), &cda_with_body(&header, body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
}

async fn searches_reads_and_trends_pass_the_validators(app: TestApp) {
    let p = ins(95);
    app.open_record(&p).await;
    deposit(&app, &p, 1, "60591-5", &vsm_body("Diabète de type 2"), &[]).await;
    for (n, (v, at)) in [("1.4", "20260604"), ("0.9", "20250312"), ("1.1", "20251102")].into_iter().enumerate() {
        deposit(&app, &p, 10 + n as u32, "11502-2", &creatinine(v, at, "N"), &[]).await;
    }
    let token = app.patient(&p);
    let mut validated = Validated::new();
    let conditions = app.fhir_get(&format!("/fhir/Condition?patient={p}"), &token).await;
    assert_eq!(conditions.status, StatusCode::OK, "{}", conditions.raw);
    let bundle = validated.keep("conditions", &conditions);
    assert_eq!(bundle["total"], 1);
    let condition = &entries(&bundle)[0];
    assert_eq!(condition["resourceType"], "Condition");
    assert_eq!(condition["code"]["coding"][0]["code"], "E11");
    // A trend: one LOINC code, oldest first.
    let trend = app.fhir_get(&format!("/fhir/Observation?patient={p}&code=http://loinc.org|2160-0&_sort=date"), &token).await;
    let bundle = validated.keep("trend", &trend);
    let values: Vec<f64> = entries(&bundle).iter().map(|o| o["valueQuantity"]["value"].as_f64().expect("a value")).collect();
    assert_eq!(values, [0.9, 1.1, 1.4], "{}", trend.raw);
    // Read by id, under its own type only.
    let id = condition["id"].as_str().expect("an id");
    let read = app.fhir_get(&format!("/fhir/Condition/{id}"), &token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.raw);
    validated.keep("condition", &read);
    assert_eq!(app.fhir_get(&format!("/fhir/Observation/{id}"), &token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.fhir_get("/fhir/Condition/not-an-id", &token).await.status, StatusCode::NOT_FOUND);
    // The IPS summary lists the items in its sections.
    let summary = app.fhir_get(&format!("/fhir/Patient/{p}/$summary"), &token).await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.raw);
    let doc = validated.keep("summary", &summary);
    let composition = &entries(&doc)[0];
    let section =
        |code: &str| composition["section"].as_array().expect("sections").iter().find(|s| s["code"]["coding"][0]["code"] == code).cloned();
    assert_eq!(section("11450-4").expect("problems")["entry"].as_array().map(Vec::len), Some(1));
    assert_eq!(section("48765-2").expect("allergies")["entry"].as_array().map(Vec::len), Some(1));
    assert_eq!(section("30954-2").expect("results")["entry"].as_array().map(Vec::len), Some(3));
    assert!(summary.raw.contains("\"resourceType\":\"AllergyIntolerance\""));
    // An unknown parameter is refused, named.
    let bad = app.fhir_get(&format!("/fhir/Condition?patient={p}&color=blue"), &token).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.raw);
    assert!(bad.raw.contains("color"), "{}", bad.raw);
    let metadata = app.fhir_get("/fhir/metadata", &token).await;
    for resource in ["Condition", "AllergyIntolerance", "MedicationStatement", "Immunization", "Observation"] {
        assert!(metadata.raw.contains(&format!("\"type\":\"{resource}\"")), "{resource} declared");
    }
    validated.check();
}

async fn a_masked_documents_items_leave_no_trace_in_an_authorized_doctors_answers(app: TestApp) {
    let p = ins(96);
    app.open_record(&p).await;
    for change in [
        json!({"change": "authorize", "rpps": rpps(2).to_string()}),
        json!({"change": "set_medecin_traitant", "rpps": rpps(3).to_string()}),
    ] {
        let r = app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), change).await;
        assert!(r.status.is_success(), "{}", r.raw);
    }
    deposit(&app, &p, 1, "60591-5", &vsm_body("Asthme"), &[]).await;
    deposit(&app, &p, 2, "60591-5", &vsm_body("Dépression"), &["MASQUE_PS"]).await;
    let authorized = app.professional(2, Profession::Medecin);
    let traitant = app.professional(3, Profession::Medecin);
    let seen = app.fhir_get(&format!("/fhir/Condition?patient={p}"), &authorized).await;
    assert_eq!(seen.body["total"], 1, "{}", seen.raw);
    assert!(!seen.raw.contains("Dépression"));
    let all = app.fhir_get(&format!("/fhir/Condition?patient={p}"), &traitant).await;
    assert_eq!(all.body["total"], 2, "{}", all.raw);
    let hidden = entries(&all.body).into_iter().find(|c| c.to_string().contains("Dépression")).expect("the médecin traitant sees it");
    let id = hidden["id"].as_str().expect("an id");
    assert_eq!(app.fhir_get(&format!("/fhir/Condition/{id}"), &authorized).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.fhir_get(&format!("/fhir/Condition/{id}"), &traitant).await.status, StatusCode::OK);
    let summary = app.fhir_get(&format!("/fhir/Patient/{p}/$summary"), &authorized).await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.raw);
    assert!(summary.raw.contains("Asthme") && !summary.raw.contains("Dépression"), "{}", summary.raw);
    // A stranger: the answer of a missing record.
    let stranger = app.fhir_get(&format!("/fhir/Condition?patient={p}"), &app.professional(4, Profession::Medecin)).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND, "{}", stranger.raw);
    assert_eq!(
        app.fhir_get(&format!("/fhir/Condition/{id}"), &app.professional(4, Profession::Medecin)).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn a_professional_creates_an_item_in_his_own_name(app: TestApp) {
    let p = ins(97);
    app.open_record(&p).await;
    let r = app
        .post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), json!({"change": "authorize", "rpps": rpps(2).to_string()}))
        .await;
    assert!(r.status.is_success(), "{}", r.raw);
    let doctor = app.professional(2, Profession::Medecin);
    let allergy = json!({
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": format!("Patient/{p}")},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergie à la pénicilline"}]},
    });
    let body = serde_json::to_vec(&allergy).expect("json");
    let own =
        json!({"resourceType": "Provenance", "target": [{"reference": "AllergyIntolerance/x"}], "recorded": "2026-12-06T10:00:00+01:00",
        "agent": [{"who": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": format!("8{}", rpps(2))}}}]})
        .to_string();
    let other = own.replace(&format!("8{}", rpps(2)), &format!("8{}", rpps(5)));
    let refused = app.fhir(Method::POST, "/fhir/AllergyIntolerance", Some(&doctor), Some(body.clone()), &[("x-provenance", &other)]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.raw);
    let wrong_type = app.fhir(Method::POST, "/fhir/Condition", Some(&doctor), Some(body.clone()), &[]).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST, "{}", wrong_type.raw);
    let created = app.fhir(Method::POST, "/fhir/AllergyIntolerance", Some(&doctor), Some(body), &[("x-provenance", &own)]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let location = created.headers.get("location").and_then(|v| v.to_str().ok()).expect("a Location").to_owned();
    let id = created.body["id"].as_str().expect("an id");
    assert!(location.ends_with(&format!("/fhir/AllergyIntolerance/{id}")), "{location}");
    let mut validated = Validated::new();
    validated.keep("created", &created);
    let found = app.fhir_get(&format!("/fhir/AllergyIntolerance?patient={p}"), &app.patient(&p)).await;
    assert_eq!(found.body["total"], 1, "{}", found.raw);
    validated.keep("found", &found);
    validated.check();
    // Nobody creates in a record they may not consult.
    let stranger = app.professional(4, Profession::Medecin);
    let body = serde_json::to_vec(&allergy).expect("json");
    let refused = app.fhir(Method::POST, "/fhir/AllergyIntolerance", Some(&stranger), Some(body), &[]).await;
    assert!(matches!(refused.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{}", refused.raw);
    assert_eq!(app.fhir_get(&format!("/fhir/AllergyIntolerance?patient={p}"), &app.patient(&p)).await.body["total"], 1);
}

/// The ledger entries of one `$summary` request, and whether they were committed together
/// (no signed head between the first and the last).
async fn summary_entries(app: &TestApp, p: &Ins, token: &str) -> (StatusCode, Vec<(String, String, Option<String>)>, bool) {
    let ledger = app.carnet.ledger();
    let before = ledger.latest_tree_head().await.expect("a head").head.tree_size;
    let status = app.fhir_get(&format!("/fhir/Patient/{p}/$summary"), token).await.status;
    let after = ledger.latest_tree_head().await.expect("a head").head.tree_size;
    let recorded = ledger.entries_at(&(before..after).collect::<Vec<_>>()).await.expect("the entries");
    let mut together = true;
    for size in before + 1..after {
        together &= ledger.tree_head_at(size).await.is_err();
    }
    let entries = recorded.into_iter().map(|r| (r.entry.action, r.entry.outcome.as_str().to_owned(), r.entry.target)).collect();
    (status, entries, together)
}

async fn a_summary_records_what_it_read_in_one_commit_of_the_ledger(app: TestApp) {
    let p = ins(94);
    app.open_record(&p).await;
    let r = app
        .post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), json!({"change": "authorize", "rpps": rpps(2).to_string()}))
        .await;
    assert!(r.status.is_success(), "{}", r.raw);
    deposit(&app, &p, 1, "60591-5", &vsm_body("Asthme"), &[]).await;
    deposit(&app, &p, 2, "60591-5", &vsm_body("Dépression"), &["MASQUE_PS"]).await;
    let entry = |action: &str, outcome: &str, target: Option<&str>| (action.to_owned(), outcome.to_owned(), target.map(str::to_owned));
    let (status, entries, together) = summary_entries(&app, &p, &app.professional(2, Profession::Medecin)).await;
    assert_eq!(status, StatusCode::OK);
    let items = entries.last().and_then(|e| e.2.clone()).unwrap_or_default();
    assert_eq!(
        entries,
        [
            entry("record.read_status", "permit", None),
            entry("record.summary", "permit", None),
            // The masked document and its items are not counted.
            entry("document.search", "permit", Some("returned:1")),
            entry("profile.read", "permit", Some(&items)),
        ]
    );
    let vsm_items: usize = items.trim_start_matches("returned:").parse().expect("a count");
    assert!(vsm_items > 0, "{items}");
    assert!(together, "one commit, one signed head");
    // The patient sees the masked document's items too.
    let (_, entries, _) = summary_entries(&app, &p, &app.patient(&p)).await;
    assert_eq!(entries[2], entry("document.search", "permit", Some("returned:2")));
    assert_eq!(entries[3], entry("profile.read", "permit", Some(&format!("returned:{}", 2 * vsm_items))));
    // A doctor without standing is refused, and the refusal is recorded the same way.
    let (status, entries, together) = summary_entries(&app, &p, &app.professional(4, Profession::Medecin)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(entries, [entry("record.read_status", "permit", None), entry("record.summary", "deny", None)]);
    assert!(together);
    // No record: the lookup is recorded, and the answer is a missing record's.
    let (status, entries, _) = summary_entries(&app, &ins(93), &app.professional(2, Profession::Medecin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(entries, [entry("record.read_status", "permit", None)]);
}

crate::on_both_backends!(
    a_summary_records_what_it_read_in_one_commit_of_the_ledger,
    searches_reads_and_trends_pass_the_validators,
    a_masked_documents_items_leave_no_trace_in_an_authorized_doctors_answers,
    a_professional_creates_an_item_in_his_own_name,
);
