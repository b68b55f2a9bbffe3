//! The medical profile through `/api`: CDA level 3 deposits fill it, each item visible exactly as
//! its source document is; direct entries by the patient and professionals, corrected or marked
//! entered-in-error by their author; and no entry's content readable at rest.

use axum::http::{Method, StatusCode};
use carnet_domain::{Ins, Profession};
use serde_json::{Value, json};

use crate::cda::{Header, cda_with_body, metadata, structured_body};
use crate::support;
use support::{TestApp, assert_problem, ins, rpps};

const XSI: &str = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

/// A VSM body: a problem, an allergy, a weight, and a section this reader does not map (no item).
pub(crate) fn vsm_body(problem: &str) -> String {
    structured_body(&format!(
        "<section><code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Problèmes</title>\
         <entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"55607006\" codeSystem=\"2.16.840.1.113883.6.96\"/>\
         <statusCode code=\"completed\"/><effectiveTime><low value=\"20150301\"/></effectiveTime>\
         <value {XSI} xsi:type=\"CD\" code=\"E11\" codeSystem=\"2.16.840.1.113883.6.3\" displayName=\"{problem}\"/></observation></entry></section>\
         </component><component><section><code code=\"48765-2\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Allergies</title>\
         <entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"ASSERTION\" codeSystem=\"2.16.840.1.113883.5.4\"/>\
         <statusCode code=\"completed\"/><value {XSI} xsi:type=\"CD\" code=\"91936005\" codeSystem=\"2.16.840.1.113883.6.96\" \
         displayName=\"Allergie à la pénicilline\"/></observation></entry></section>\
         </component><component><section><code code=\"8716-3\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Signes vitaux</title>\
         <entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"29463-7\" codeSystem=\"2.16.840.1.113883.6.1\"/>\
         <statusCode code=\"completed\"/><effectiveTime value=\"202611151030+0100\"/>\
         <value {XSI} xsi:type=\"PQ\" value=\"72.5\" unit=\"kg\"/></observation></entry></section>\
         </component><component><section><code code=\"29762-2\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Mode de vie</title>\
         <entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"72166-2\" codeSystem=\"2.16.840.1.113883.6.1\"/>\
         <value {XSI} xsi:type=\"ST\">Non fumeur</value></observation></entry></section>"
    ))
}

/// Deposits a VSM (unique id `…7.{n}`) by doctor 1, replacing (document id, its `n`) at
/// version 2 if given; its id.
async fn deposit_vsm(app: &TestApp, p: &Ins, n: u32, labels: &[&str], replaces: Option<(&str, u32)>, problem: &str) -> String {
    let confidentiality = if labels.contains(&"MASQUE_PS") { "R" } else { "N" };
    let parent = replaces.map(|(_, old)| format!("1.2.250.1.999.7.{old}"));
    let header = Header {
        version: if replaces.is_some() { 2 } else { 1 },
        confidentiality,
        parent: parent.as_deref().map(|u| (u, 1)),
        ..Header::vsm(p)
    };
    let bytes = cda_with_body(&header, &vsm_body(problem));
    let doctor = app.professional(1, Profession::Medecin);
    let r = app.upload(p, &doctor, metadata(n, "60591-5", labels, replaces.map(|(id, _)| id)), &bytes).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn profile(app: &TestApp, p: &Ins, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/records/{p}/profile{query}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.body["items"].as_array().unwrap().clone()
}

fn sources(items: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = items.iter().filter_map(|i| i["source_document"].as_str().map(str::to_owned)).collect();
    s.sort();
    s.dedup();
    s
}

async fn change_policy(app: &TestApp, p: &Ins, change: Value) {
    let r = app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(p), change).await;
    assert!(r.status.is_success(), "{}", r.raw);
}

async fn a_vsm_deposit_fills_the_profile_with_its_provenance(app: TestApp) {
    let p = ins(90);
    app.open_record(&p).await;
    let doc = deposit_vsm(&app, &p, 1, &[], None, "Diabète de type 2").await;
    let items = profile(&app, &p, &app.patient(&p), "").await;
    let mut kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["allergy", "condition", "vital-sign"], "the unmapped section gives no item: {items:?}");
    for i in &items {
        assert_eq!(i["origin"], "document");
        assert_eq!(i["source_document"], doc.as_str());
        assert_eq!(i["recorded_by"], format!("rpps:{}", rpps(1)));
        assert_eq!(i["status"], "current");
        assert!(i["path"].as_str().unwrap().starts_with("/ClinicalDocument/component/structuredBody/"), "{i}");
    }
    let condition = items.iter().find(|i| i["kind"] == "condition").unwrap();
    assert_eq!(
        condition["content"]["code"],
        json!({"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11", "display": "Diabète de type 2"})
    );
    assert_eq!(condition["content"]["from"], "2015-03-01");
    assert_eq!(condition["effective"], "2015-03-01T00:00:00Z");
    let weight = profile(&app, &p, &app.patient(&p), "?kind=vital-sign").await;
    assert_eq!(weight.len(), 1);
    assert_eq!(weight[0]["content"]["code"]["system"], "http://loinc.org");
    assert_eq!(weight[0]["content"]["value"], json!({"type": "quantity", "value": "72.5", "unit": "kg"}));
    assert_eq!(weight[0]["content"]["at"], "2026-11-15T10:30:00+01:00", "as precise as written");
    assert_problem(
        &app.get(&format!("/api/records/{p}/profile?kind=hobby"), &app.patient(&p)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "kind",
    );
    // Each read is in the access ledger, without content.
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.patient(&p)).await;
    assert!(history.raw.contains("profile.read"), "{}", history.raw);
    assert!(!history.raw.contains("Diabète"), "{}", history.raw);
}

async fn an_item_from_a_masked_document_is_hidden_from_an_authorized_doctor_and_shown_to_the_medecin_traitant(app: TestApp) {
    let p = ins(91);
    app.open_record(&p).await;
    change_policy(&app, &p, json!({"change": "authorize", "rpps": rpps(2).to_string()})).await;
    change_policy(&app, &p, json!({"change": "set_medecin_traitant", "rpps": rpps(3).to_string()})).await;
    let plain = deposit_vsm(&app, &p, 1, &[], None, "Asthme").await;
    let masked = deposit_vsm(&app, &p, 2, &["MASQUE_PS"], None, "Dépression").await;
    let authorized = app.professional(2, Profession::Medecin);
    let seen = profile(&app, &p, &authorized, "").await;
    assert_eq!(sources(&seen), std::slice::from_ref(&plain));
    assert_eq!(seen.len(), 3, "neither the masked items nor their count: {seen:?}");
    assert!(!serde_json::to_string(&seen).unwrap().contains("Dépression"));
    let mut both = vec![plain, masked];
    both.sort();
    assert_eq!(sources(&profile(&app, &p, &app.professional(3, Profession::Medecin), "").await), both, "the médecin traitant");
    assert_eq!(sources(&profile(&app, &p, &app.patient(&p), "").await), both, "the patient");
}

async fn a_replaced_cda_replaces_its_items_and_a_withdrawn_one_withdraws_them(app: TestApp) {
    let p = ins(92);
    app.open_record(&p).await;
    let v1 = deposit_vsm(&app, &p, 1, &[], None, "Asthme").await;
    let v2 = deposit_vsm(&app, &p, 2, &[], Some((&v1, 1)), "Asthme sévère").await;
    let patient = app.patient(&p);
    let current = profile(&app, &p, &patient, "").await;
    assert_eq!(sources(&current), std::slice::from_ref(&v2));
    assert_eq!(current.len(), 3);
    let history = profile(&app, &p, &patient, "?history=true").await;
    assert_eq!(history.iter().filter(|i| i["status"] == "superseded" && i["source_document"] == v1.as_str()).count(), 3, "{history:?}");
    // Withdrawn by its author: its items go with it, for everyone but the author.
    let r = app.post(&format!("/api/documents/{v2}/withdraw"), &app.professional(1, Profession::Medecin), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(profile(&app, &p, &patient, "").await.is_empty());
    assert_eq!(profile(&app, &p, &app.professional(1, Profession::Medecin), "").await.len(), 3, "the author still sees what they withdrew");
}

async fn direct_entries_are_added_corrected_and_withdrawn_by_their_author(app: TestApp) {
    let p = ins(93);
    app.open_record(&p).await;
    change_policy(&app, &p, json!({"change": "authorize", "rpps": rpps(2).to_string()})).await;
    change_policy(&app, &p, json!({"change": "authorize", "rpps": rpps(4).to_string()})).await;
    let url = format!("/api/records/{p}/profile");
    let patient = app.patient(&p);
    let doctor = app.professional(2, Profession::Medecin);
    let colleague = app.professional(4, Profession::Medecin);

    let declared = app
        .post(
            &url,
            &patient,
            json!({"kind": "advance-directive", "content": {"text": "Directives rédigées", "details": "Chez mon notaire"}}),
        )
        .await;
    assert_eq!(declared.status, StatusCode::CREATED, "{}", declared.raw);
    assert_eq!(declared.body["origin"], "self-declared");
    let allergy = app.post(&url, &patient, json!({"kind": "allergy", "content": {"text": "Arachide", "at": "2020"}})).await;
    assert_eq!(allergy.status, StatusCode::CREATED, "{}", allergy.raw);
    assert_eq!(allergy.body["effective"], "2020-01-01T00:00:00Z");
    let condition = app.post(&url, &doctor, json!({"kind": "condition", "content": {"text": "Hypertension", "from": "2024-03"}})).await;
    assert_eq!(condition.status, StatusCode::CREATED, "{}", condition.raw);
    assert_eq!(condition.body["origin"], "professional");
    assert_eq!(condition.body["recorded_by"], format!("rpps:{}", rpps(2)));

    // Refusals: a professional declaring for the patient, an unknown kind, an empty item, a bad date.
    assert_problem(
        &app.post(&url, &doctor, json!({"kind": "organ-donation", "content": {"text": "oui"}})).await,
        StatusCode::FORBIDDEN,
        "declaration",
    );
    assert_problem(
        &app.post(&url, &patient, json!({"kind": "hobby", "content": {"text": "x"}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "kind",
    );
    assert_problem(
        &app.post(&url, &patient, json!({"kind": "allergy", "content": {}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code, a text",
    );
    assert_problem(
        &app.post(&url, &patient, json!({"kind": "allergy", "content": {"text": "x", "at": "hier"}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at:",
    );
    // A stranger gets the answer of a missing record, reading and writing.
    let stranger = app.professional(6, Profession::Medecin);
    let missing = ins(99);
    let a = app.get(&url, &stranger).await;
    let b = app.get(&format!("/api/records/{missing}/profile"), &stranger).await;
    assert_eq!((a.status, &a.body["detail"]), (b.status, &b.body["detail"]), "hidden and missing answer alike");
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = app.post(&url, &stranger, json!({"kind": "condition", "content": {"text": "x"}})).await;
    let b = app.post(&format!("/api/records/{missing}/profile"), &stranger, json!({"kind": "condition", "content": {"text": "x"}})).await;
    assert_eq!((a.status, &a.body["detail"]), (b.status, &b.body["detail"]));

    // Corrections: by the author, a new version replacing the old; by a colleague, 403.
    let id = condition.body["id"].as_str().unwrap();
    let item_url = format!("{url}/{id}");
    let put = async |token: &str, text: &str| {
        app.call(Method::PUT, &item_url, Some(token), Some(json!({"kind": "condition", "content": {"text": text}}))).await
    };
    assert_problem(&put(&colleague, "autre").await, StatusCode::FORBIDDEN, "author");
    let corrected = put(&doctor, "Hypertension artérielle").await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.raw);
    assert_eq!(corrected.body["replaces"], id);
    assert_problem(&put(&doctor, "encore").await, StatusCode::CONFLICT, "superseded");
    let texts: Vec<String> =
        profile(&app, &p, &patient, "?kind=condition").await.iter().map(|i| i["content"]["text"].to_string()).collect();
    assert_eq!(texts, ["\"Hypertension artérielle\""]);

    // Entered in error by the patient (who may change any direct item): then only its author sees it.
    let new_id = corrected.body["id"].as_str().unwrap();
    let r = app.call(Method::POST, &format!("{url}/{new_id}/entered-in-error"), Some(&patient), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.raw);
    assert!(profile(&app, &p, &patient, "?kind=condition&history=true").await.iter().all(|i| i["id"] != new_id), "hidden from the patient");
    let own = profile(&app, &p, &doctor, "?kind=condition&history=true").await;
    assert!(own.iter().any(|i| i["id"] == new_id && i["status"] == "entered-in-error"), "{own:?}");
    // An item read from a document is not withdrawn by the patient (she corrects it, or masks
    // the document).
    let doc_item = {
        deposit_vsm(&app, &p, 5, &[], None, "Asthme").await;
        profile(&app, &p, &patient, "?kind=allergy").await.into_iter().find(|i| i["origin"] == "document").unwrap()
    };
    let r = app.call(Method::POST, &format!("{url}/{}/entered-in-error", doc_item["id"].as_str().unwrap()), Some(&patient), None).await;
    assert_problem(&r, StatusCode::CONFLICT, "not withdrawn");
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &patient).await;
    for action in ["profile.add", "profile.correct", "profile.entered_in_error"] {
        assert!(history.raw.contains(action), "{action}: {}", history.raw);
    }
    assert!(!history.raw.contains("Hypertension"), "no clinical content in the ledger");
}

/// The patient corrects what a document says of her: her statement, self-declared, replaces the
/// document's item in the current profile (which stays in the history), and taking her
/// correction back brings the document's item back. The document's author corrects by replacing
/// the document (409); another professional may not correct it (403). A correction of an item
/// read from a masked document does not point a doctor who may not see it at it.
async fn the_patient_corrects_an_item_read_from_a_document_and_may_take_it_back(app: TestApp) {
    let p = ins(94);
    app.open_record(&p).await;
    change_policy(&app, &p, json!({"change": "authorize", "rpps": rpps(1).to_string()})).await;
    change_policy(&app, &p, json!({"change": "authorize", "rpps": rpps(2).to_string()})).await;
    change_policy(&app, &p, json!({"change": "set_medecin_traitant", "rpps": rpps(3).to_string()})).await;
    let url = format!("/api/records/{p}/profile");
    let patient = app.patient(&p);
    let author = app.professional(1, Profession::Medecin);
    let colleague = app.professional(2, Profession::Medecin);
    let traitant = app.professional(3, Profession::Medecin);
    let plain = deposit_vsm(&app, &p, 1, &[], None, "Asthme").await;
    let masked = deposit_vsm(&app, &p, 2, &["MASQUE_PS"], None, "Dépression").await;
    let allergy_of = async |doc: &str| -> String {
        let items = profile(&app, &p, &patient, "?kind=allergy").await;
        items.iter().find(|i| i["source_document"] == doc).and_then(|i| i["id"].as_str()).unwrap().to_owned()
    };
    let read = allergy_of(&plain).await;
    let put = async |token: &str, id: &str, text: &str| {
        app.call(Method::PUT, &format!("{url}/{id}"), Some(token), Some(json!({"kind": "allergy", "content": {"text": text}}))).await
    };
    assert_problem(&put(&colleague, &read, "autre").await, StatusCode::FORBIDDEN, "author");
    assert_problem(&put(&author, &read, "autre").await, StatusCode::CONFLICT, "replacing the document");
    let corrected = put(&patient, &read, "Pas d'allergie à la pénicilline : amoxicilline bien tolérée en 2024").await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.raw);
    assert_eq!((corrected.body["origin"].as_str(), corrected.body["replaces"].as_str()), (Some("self-declared"), Some(read.as_str())));
    for token in [&patient, &author, &colleague] {
        let current = profile(&app, &p, token, "?kind=allergy").await;
        assert!(current.iter().all(|i| i["id"] != read.as_str()), "superseded in the current profile: {current:?}");
        assert!(current.iter().any(|i| i["id"] == corrected.body["id"] && i["origin"] == "self-declared"), "{current:?}");
    }
    let history = profile(&app, &p, &author, "?kind=allergy&history=true").await;
    assert!(history.iter().any(|i| i["id"] == read.as_str() && i["status"] == "superseded"), "kept in the history: {history:?}");

    // Taking the correction back brings the document's item back.
    let mine = corrected.body["id"].as_str().unwrap();
    let r = app.call(Method::POST, &format!("{url}/{mine}/entered-in-error"), Some(&patient), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.raw);
    let current = profile(&app, &p, &colleague, "?kind=allergy").await;
    assert!(current.iter().any(|i| i["id"] == read.as_str() && i["status"] == "current"), "{current:?}");

    // From a masked document: the colleague sees her statement, not what it corrects.
    let hidden = allergy_of(&masked).await;
    let corrected = put(&patient, &hidden, "Allergie levée").await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.raw);
    let seen = |items: Vec<Value>| items.into_iter().find(|i| i["id"] == corrected.body["id"]).expect("her correction is seen");
    assert_eq!(seen(profile(&app, &p, &colleague, "?kind=allergy").await)["replaces"], Value::Null);
    assert_eq!(seen(profile(&app, &p, &traitant, "?kind=allergy").await)["replaces"], hidden.as_str());
    let one = app.fhir_get(&format!("/fhir/AllergyIntolerance/{}", corrected.body["id"].as_str().unwrap()), &colleague).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.raw);
    assert!(!one.raw.contains(&hidden) && !one.raw.contains(&masked), "{}", one.raw);
}

async fn a_structured_entry_is_nowhere_at_rest(app: TestApp) {
    let marker = format!("PROFILMARKER{}", uuid::Uuid::new_v4().simple());
    let p = ins(94);
    app.open_record(&p).await;
    deposit_vsm(&app, &p, 1, &[], None, &marker).await;
    let direct = app
        .post(
            &format!("/api/records/{p}/profile"),
            &app.patient(&p),
            json!({"kind": "contact", "content": {"text": "Ma sœur", "details": format!("06 {marker}")}}),
        )
        .await;
    assert_eq!(direct.status, StatusCode::CREATED, "{}", direct.raw);
    // Readable through the API…
    let items = profile(&app, &p, &app.patient(&p), "").await;
    for kind in ["condition", "contact"] {
        let item = items.iter().find(|i| i["kind"] == kind).unwrap();
        assert!(item.to_string().contains(&marker), "{item}");
    }
    // The deposit's items are numbered as one set, which the store keeps as one row.
    let places: Vec<(carnet_domain::profile::ItemId, u16)> = items
        .iter()
        .filter(|i| i["kind"] != "contact")
        .map(|i| carnet_domain::profile::ItemId::parse(i["id"].as_str().expect("an id")).expect("an item id").set_and_place())
        .collect();
    let mut numbers: Vec<u16> = places.iter().map(|(_, place)| *place).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..numbers.len() as u16).collect::<Vec<_>>(), "{places:?}");
    assert!(places.iter().all(|(set, _)| *set == places[0].0), "{places:?}");
    // …nowhere in the tables…
    for table in crate::documents::dump_tables(&app).await {
        assert!(!table.contains(&marker) && !table.contains(&crate::documents::hex(marker.as_bytes())), "plaintext in a table: {table}");
    }
    // …nor in any file at rest.
    app.db.close().await;
    let mut dirs = vec![app.data_dir().to_owned()];
    if let Some(url) = &app.postgres_url {
        dirs.extend(crate::documents::postgres_files_of(url).await);
    }
    for dir in dirs {
        assert_eq!(crate::documents::scan_for(&dir, marker.as_bytes()), Vec::<std::path::PathBuf>::new(), "under {}", dir.display());
    }
}

async fn an_iti65_vsm_fills_the_profile_in_its_submission_sets_transaction(app: TestApp) {
    use support::fhir::{Doc, provide_bundle};
    let p = ins(95);
    app.open_record(&p).await;
    let bytes = cda_with_body(&Header::vsm(&p), &vsm_body("Asthme"));
    let mut bundle = provide_bundle(&p, 80, &[Doc { type_code: "60591-5", class_code: "11", ..Doc::lab(80, bytes) }]);
    let attachment = &mut bundle["entry"][1]["resource"]["content"][0];
    attachment["attachment"]["contentType"] = json!("text/xml");
    attachment["format"]["code"] = json!("urn:ihe:pcc:xphr:2007");
    bundle["entry"][2]["resource"]["contentType"] = json!("text/xml");
    let r = app.provide(&app.professional(1, Profession::Medecin), &bundle).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let items = profile(&app, &p, &app.patient(&p), "").await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items.iter().all(|i| i["origin"] == "document" && i["recorded_by"] == format!("rpps:{}", rpps(1))));
    assert_eq!(sources(&items).len(), 1);
}

on_both_backends!(
    a_vsm_deposit_fills_the_profile_with_its_provenance,
    an_iti65_vsm_fills_the_profile_in_its_submission_sets_transaction,
    an_item_from_a_masked_document_is_hidden_from_an_authorized_doctor_and_shown_to_the_medecin_traitant,
    a_replaced_cda_replaces_its_items_and_a_withdrawn_one_withdraws_them,
    direct_entries_are_added_corrected_and_withdrawn_by_their_author,
    the_patient_corrects_an_item_read_from_a_document_and_may_take_it_back,
    a_structured_entry_is_nowhere_at_rest,
);

mod leaks {
    //! The leak property: for random policies, labels, withdrawals, emergencies and callers of
    //! every role, the items a profile read returns are exactly those whose source `decide`
    //! permits (a direct item: the record's standing; entered in error: its recorder only), and
    //! a caller without standing who may see nothing gets the answer of a missing record.

    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::http::{Method, StatusCode};
    use carnet_domain::profile::{ItemOrigin, ItemStatus};
    use carnet_domain::{AccessContext, DocumentId, ProfessionMatrix, decide, decide_record};
    use carnet_server::HttpLimits;
    use carnet_service::ServiceConfig;
    use carnet_store::{DocumentStore, PolicyStore, ProfileStore, RecordStore};
    use proptest::prelude::*;
    use serde_json::json;

    use super::{Header, cda_with_body, metadata, vsm_body};
    use crate::policy_props::{Asker, LABELS, PROS, Scenario, askers, patient, professional, scenario, set_the_scene};
    use crate::support::{Backend, TestApp, ins};

    /// The volets: synthèse, biology report, vaccination note (each reads the test body its own way).
    const VOLETS: [&str; 3] = ["60591-5", "11502-2", "87273-9"];

    static NEXT: AtomicU32 = AtomicU32::new(3000);

    async fn check(app: &TestApp, s: Scenario) -> Result<(), TestCaseError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = ins(n);
        app.open_record(&p).await;
        let pros: Vec<Asker> = PROS.iter().map(|(k, prof)| professional(*k, *prof, false)).collect();
        for (i, d) in s.docs.iter().enumerate() {
            let labels: Vec<&str> = d.labels.iter().map(|l| LABELS[*l]).collect::<BTreeSet<_>>().into_iter().collect();
            let code = VOLETS[d.type_index % VOLETS.len()];
            let confidentiality = if labels.contains(&"MASQUE_PS") { "R" } else { "N" };
            let header = Header { author: PROS[d.author].0, code, confidentiality, ..Header::vsm(&p) };
            let unique = 100_000 + n * 10 + i as u32;
            let author = app.token(pros[d.author].claims.clone());
            let r = app.upload(&p, &author, metadata(unique, code, &labels, None), &cda_with_body(&header, &vsm_body("Asthme"))).await;
            prop_assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
            let id = r.body["id"].as_str().unwrap_or_default().to_owned();
            if d.withdrawn {
                prop_assert_eq!(app.post(&format!("/api/documents/{id}/withdraw"), &author, json!({})).await.status, StatusCode::OK);
            }
        }
        // The patient's own entries: one current, one entered in error.
        let holder = app.token(patient(&p).claims);
        let url = format!("/api/records/{p}/profile");
        for text in ["Arachide", "Erreur"] {
            let r = app.post(&url, &holder, json!({"kind": "allergy", "content": {"text": text}})).await;
            prop_assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
            if text == "Erreur" {
                let id = r.body["id"].as_str().unwrap_or_default();
                let marked = app.call(Method::POST, &format!("{url}/{id}/entered-in-error"), Some(&holder), None).await;
                prop_assert_eq!(marked.status, StatusCode::NO_CONTENT);
            }
        }
        let (policy, parent, now) = set_the_scene(app, &p, n, &s).await?;

        let db = &app.db;
        let record = db.find_record_by_ins(&p).await.ok().flatten().ok_or_else(|| TestCaseError::fail("record"))?;
        let items = db.find_items_of(&p, None).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(items.len() >= 2 + 3 * s.docs.len(), "every volet reads items from the test body: {}", items.len());
        let mut sources = BTreeMap::new();
        for d in items.iter().filter_map(|i| i.meta.origin.source_document()).collect::<BTreeSet<DocumentId>>() {
            let meta = db.find_document(d).await.ok().flatten().ok_or_else(|| TestCaseError::fail("source"))?.0;
            sources.insert(d, meta);
        }
        let matrix = ProfessionMatrix::dmp_default();
        for asker in &askers(&pros, &p, n, parent) {
            let emergency = db.find_latest_emergency(&asker.actor.reference(), &p).await.ok().flatten();
            let ctx = AccessContext { ins: &p, record_status: record.status, now, emergency: emergency.as_ref(), matrix: &matrix };
            let standing = decide_record(&asker.actor, &ctx, &policy).is_permit();
            // Written from `decide` on the sources and the standing, not from `decide_item`.
            let expected: BTreeMap<String, ItemStatus> = items
                .iter()
                .filter(|i| match &i.meta.origin {
                    ItemOrigin::Document { document, .. } => decide(&asker.actor, &ctx, &policy, &sources[document]).is_permit(),
                    ItemOrigin::Patient | ItemOrigin::Professional => {
                        standing && (i.meta.status != ItemStatus::EnteredInError || asker.actor.reference() == i.meta.recorded_by)
                    }
                })
                .map(|i| (i.meta.id.to_string(), i.meta.status))
                .collect();
            let token = app.token(asker.claims.clone());
            for history in [false, true] {
                let want: BTreeSet<&String> =
                    expected.iter().filter(|(_, st)| history || **st == ItemStatus::Current).map(|(id, _)| id).collect();
                let r = app.get(&format!("{url}?history={history}"), &token).await;
                if !standing && want.is_empty() {
                    prop_assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}: {}", asker.actor.kind, r.raw);
                    continue;
                }
                prop_assert_eq!(r.status, StatusCode::OK, "{:?}: {}", asker.actor.kind, r.raw);
                let got: BTreeSet<String> =
                    r.body["items"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect();
                prop_assert_eq!(got.iter().collect::<BTreeSet<_>>(), want, "{:?}, history {}", asker.actor.kind, history);
            }
        }
        Ok(())
    }

    fn run(backend: Backend) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let config = ServiceConfig { enumeration_limit: 1_000_000, ..ServiceConfig::default() };
        let app = rt.block_on(TestApp::with_config(backend, HttpLimits::default(), config));
        let cases = std::env::var("CARNET_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
        runner.run(&scenario(), |s| rt.block_on(check(&app, s))).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn every_profile_read_returns_exactly_the_items_whose_source_decide_permits_sqlite() {
        run(Backend::Sqlite);
    }

    #[test]
    fn every_profile_read_returns_exactly_the_items_whose_source_decide_permits_postgres() {
        run(Backend::Postgres);
    }
}
