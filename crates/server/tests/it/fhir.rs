//! The FHIR edge over HTTP, on SQLite and PostgreSQL: capabilities, PDQm, ITI-65/66/67/68,
//! labels, Consent, AuditEvent, the IPS summary, bad input, hidden documents and the insurer.
//! Every FHIR resource a test receives is checked by FHIR.js and Medplum (`Validated`).

use crate::support;

use axum::http::{Method, StatusCode};
use carnet_domain::{Profession, Role};
use carnet_server::HttpLimits;
use serde_json::{Value, json};
use support::fhir::{Doc, Validated, assert_outcome, b64, pdf, provide_bundle};
use support::{TestApp, ins};

fn ids_of(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["resource"]["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn location_id(entry: &Value) -> String {
    entry["response"]["location"].as_str().and_then(|l| l.rsplit('/').next()).expect("a location").to_owned()
}

fn identifier(p: &carnet_domain::Ins) -> String {
    format!("urn:oid:1.2.250.1.213.1.4.8|{p}")
}

async fn authorize(app: &TestApp, p: &carnet_domain::Ins, n: u32) {
    let change = json!({"change": "authorize", "rpps": support::rpps(n).to_string()});
    let r = app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(p), change).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
}

async fn capability_statement_tells_what_is_mounted(app: TestApp) {
    let mut v = Validated::new();
    let r = app.fhir(Method::GET, "/fhir/metadata", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let cs = v.keep("capability", &r);
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert_eq!(cs["rest"][0]["interaction"][0]["code"], "transaction");
    // Every declared interaction answers (never 404 "no such endpoint" or 405).
    let pro = app.professional(1, Profession::Medecin);
    let p = ins(1);
    app.open_record(&p).await;
    for resource in cs["rest"][0]["resource"].as_array().expect("resources") {
        let t = resource["type"].as_str().expect("type");
        for i in resource["interaction"].as_array().expect("interactions") {
            let (method, path) = match i["code"].as_str().expect("code") {
                "search-type" => (Method::GET, format!("/fhir/{t}?patient=Patient/{p}")),
                "read" => (Method::GET, format!("/fhir/{t}/00000000-0000-4000-8000-000000000000")),
                "update" => (Method::PUT, format!("/fhir/{t}/00000000-0000-4000-8000-000000000000")),
                "patch" => (Method::PATCH, format!("/fhir/{t}/00000000-0000-4000-8000-000000000000")),
                "create" => (Method::POST, format!("/fhir/{t}")),
                other => panic!("undeclared interaction {other}"),
            };
            let r =
                app.fhir(method.clone(), &path, Some(&pro), Some(b"[]".to_vec()), &[("content-type", "application/json-patch+json")]).await;
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {}", r.raw);
            let unsupported = r.body["issue"][0]["code"] == "not-supported" && r.status == StatusCode::NOT_FOUND;
            assert!(!unsupported, "{method} {path} is declared but not mounted: {}", r.raw);
        }
    }
    let summary = app.fhir_get(&format!("/fhir/Patient/{p}/$summary"), &pro).await;
    assert_ne!(summary.status, StatusCode::NOT_FOUND, "$summary is mounted: {}", summary.raw);
    // What is not declared is not served, and says so in FHIR.
    let r = app.fhir_get("/fhir/Encounter?patient=x", &pro).await;
    assert_outcome(&r, StatusCode::NOT_FOUND, None);
    let r = app.fhir(Method::DELETE, "/fhir/metadata", Some(&pro), None, &[]).await;
    assert_outcome(&r, StatusCode::METHOD_NOT_ALLOWED, None);
    v.keep("not-found", &app.fhir_get("/fhir/Encounter", &pro).await);
    v.check();
}

async fn provide_find_retrieve_and_lists(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(2);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let (a, b) = (pdf(150_000, 1), pdf(2_000, 2));
    let bundle = provide_bundle(&p, 1, &[Doc::lab(1, a.clone()), Doc::consultation(2, b.clone())]);
    let r = app.provide(&doctor, &bundle).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let response = v.keep("transaction-response", &r);
    assert_eq!(response["type"], "transaction-response");
    let entries = response["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 5, "one response per request entry");
    assert!(entries.iter().all(|e| e["response"]["status"] == "201 Created"));
    assert!(entries[0]["response"]["location"].as_str().is_some_and(|l| l.starts_with("List/")));
    let (doc_a, doc_b) = (location_id(&entries[1]), location_id(&entries[3]));
    assert_eq!(location_id(&entries[2]), doc_a, "the Binary of a document is its bytes");

    // ITI-78: the patient by INS and by traits.
    let found = v.keep("pdqm", &app.fhir_get(&format!("/fhir/Patient?identifier={}", identifier(&p)), &doctor).await);
    assert_eq!(found["total"], 1);
    assert_eq!(found["entry"][0]["resource"]["name"][0]["family"], "MARTIN");
    let by_traits =
        v.keep("pdqm-traits", &app.fhir_get("/fhir/Patient?family=mart&given=jea&birthdate=1984-12-01&gender=female", &doctor).await);
    assert!(ids_of(&by_traits).contains(&p.to_string()), "{by_traits}");
    let none = v.keep("pdqm-none", &app.fhir_get("/fhir/Patient?family=martin&birthdate=1900-01-01", &doctor).await);
    assert_eq!(none["total"], 0);
    v.keep("patient-read", &app.fhir_get(&format!("/fhir/Patient/{p}"), &doctor).await);

    // ITI-67.
    let all = v.keep("search", &app.fhir_get(&format!("/fhir/DocumentReference?patient.identifier={}", identifier(&p)), &doctor).await);
    assert_eq!(all["total"], 2);
    assert_eq!(ids_of(&all).len(), 2);
    let labs =
        app.fhir_get(&format!("/fhir/DocumentReference?patient=Patient/{p}&type=http://loinc.org|11502-2&status=current"), &doctor).await;
    assert_eq!(ids_of(&v.keep("search-type", &labs)), std::slice::from_ref(&doc_a));
    let class = app
        .fhir_get(
            &format!("/fhir/DocumentReference?patient={p}&category=10&format=urn:ihe:iti:xds-sd:pdf:2008&period=ge2026-02-01"),
            &doctor,
        )
        .await;
    assert_eq!(v.keep("search-category", &class)["total"], 2);
    let none = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&date=lt2020-01-01"), &doctor).await;
    assert_eq!(v.keep("search-date", &none)["total"], 0);
    let author = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&author.family=zz"), &doctor).await;
    assert_eq!(author.body["total"], 0);
    let labelled = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&security-label=MASQUE_PS"), &doctor).await;
    assert_eq!(labelled.body["total"], 0);
    // Paging: one per page, newest first, links that work.
    let page1 = v.keep("page-1", &app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&_count=1&_sort=-date"), &doctor).await);
    assert_eq!(page1["total"], 2);
    // Both were deposited at the same instant: the tie is broken by id, descending (ids are
    // random, so which document comes first is decided here, not assumed).
    let first = std::cmp::max(doc_a.clone(), doc_b.clone());
    assert_eq!(ids_of(&page1), [first], "same instant: the greater id first");
    let next = page1["link"].as_array().and_then(|l| l.iter().find(|x| x["relation"] == "next")).expect("a next link")["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let path = next.strip_prefix("http://carnet.test").expect("absolute, on this base");
    let page2 = v.keep("page-2", &app.fhir_get(path, &doctor).await);
    assert_eq!(ids_of(&page2).len(), 1);
    assert_ne!(ids_of(&page2), ids_of(&page1));
    assert!(page2["link"].as_array().is_some_and(|l| l.iter().any(|x| x["relation"] == "previous")));

    let read = v.keep("read", &app.fhir_get(&format!("/fhir/DocumentReference/{doc_a}"), &doctor).await);
    assert_eq!(read["content"][0]["attachment"]["title"], "Bilan 1");
    let url = read["content"][0]["attachment"]["url"].as_str().expect("attachment url").to_owned();
    assert_eq!(url, format!("http://carnet.test/fhir/Binary/{doc_a}"));

    // ITI-68: the attachment URL, byte-identical, ranged, and as JSON.
    let raw = app.get_raw(&format!("/fhir/Binary/{doc_a}"), &doctor, &[]).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.bytes, a, "byte-identical");
    assert_eq!(raw.headers["content-type"], "application/pdf");
    let part = app.get_raw(&format!("/fhir/Binary/{doc_a}"), &doctor, &[("range", "bytes=65530-65545")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes, a[65530..=65545]);
    let beyond = app.fhir(Method::GET, &format!("/fhir/Binary/{doc_a}"), Some(&doctor), None, &[("range", "bytes=900000-")]).await;
    assert_outcome(&beyond, StatusCode::RANGE_NOT_SATISFIABLE, Some("Range"));
    let as_json =
        app.fhir(Method::GET, &format!("/fhir/Binary/{doc_b}"), Some(&doctor), None, &[("accept", "application/fhir+json")]).await;
    let binary = v.keep("binary", &as_json);
    assert_eq!(binary["data"], b64(&b));

    // ITI-66: the set lists both documents.
    let lists =
        v.keep("lists", &app.fhir_get(&format!("/fhir/List?code=submissionset&patient.identifier={}", identifier(&p)), &doctor).await);
    assert_eq!(lists["total"], 1);
    let listed: Vec<String> = lists["entry"][0]["resource"]["entry"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["item"]["reference"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(listed, [format!("DocumentReference/{doc_a}"), format!("DocumentReference/{doc_b}")]);
    assert_eq!(lists["entry"][0]["resource"]["title"], "Envoi 1");

    // The same bundle again: nothing new, the same ids.
    let again = app.provide(&doctor, &bundle).await;
    let again = v.keep("resubmission", &again);
    assert!(again["entry"].as_array().expect("entries").iter().all(|e| e["response"]["status"] == "200 OK"), "{again}");
    assert_eq!(location_id(&again["entry"][1]), doc_a);
    let all = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &doctor).await;
    assert_eq!(all.body["total"], 2, "no duplicate");
    // The same set id with other content is a conflict.
    let mut other = provide_bundle(&p, 1, &[Doc::lab(1, a.clone()), Doc::consultation(3, b.clone())]);
    other["entry"][0]["resource"]["title"] = json!("changed");
    assert_outcome(&app.provide(&doctor, &other).await, StatusCode::CONFLICT, None);
    v.check();
}

async fn bad_input_is_an_operation_outcome_and_stores_nothing(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(3);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let good = provide_bundle(&p, 5, &[Doc::lab(50, pdf(1000, 5))]);
    let post = |body: Vec<u8>| app.fhir(Method::POST, "/fhir", Some(&doctor), Some(body), &[]);

    let r = post(b"{not json".to_vec()).await;
    assert_outcome(&r, StatusCode::BAD_REQUEST, Some("Bundle"));
    v.keep("malformed", &r);
    let mut wrong_type = good.clone();
    wrong_type["resourceType"] = json!("Patient");
    assert_outcome(&post(wrong_type.to_string().into_bytes()).await, StatusCode::BAD_REQUEST, Some("Bundle.resourceType"));
    let mut batch = good.clone();
    batch["type"] = json!("batch");
    assert_outcome(&post(batch.to_string().into_bytes()).await, StatusCode::BAD_REQUEST, Some("Bundle.type"));
    let mut no_type = good.clone();
    no_type["entry"][1]["resource"].as_object_mut().expect("object").remove("type");
    assert_outcome(&post(no_type.to_string().into_bytes()).await, StatusCode::BAD_REQUEST, Some("Bundle.entry[1].resource.type"));
    let mut bad_hash = good.clone();
    bad_hash["entry"][2]["resource"]["data"] = json!(b64(&pdf(1000, 6)));
    let r = post(bad_hash.to_string().into_bytes()).await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("Bundle.entry[1].resource.content[0].attachment"));
    v.keep("bad-hash", &r);
    // Not a JSON object; an entry of a resource type ITI-65 does not carry; a document without
    // its unique id; a declared SHA-1 (R4's attachment.hash) that contradicts the Binary.
    assert_outcome(&post(b"[]".to_vec()).await, StatusCode::BAD_REQUEST, Some("Bundle"));
    let mut observation = good.clone();
    observation["entry"][2]["resource"] = json!({"resourceType": "Observation", "status": "final"});
    let r = post(observation.to_string().into_bytes()).await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("Bundle.entry[2].resource.resourceType"));
    v.keep("wrong-entry-type", &r);
    let mut no_unique_id = good.clone();
    no_unique_id["entry"][1]["resource"].as_object_mut().expect("object").remove("masterIdentifier");
    assert_outcome(
        &post(no_unique_id.to_string().into_bytes()).await,
        StatusCode::BAD_REQUEST,
        Some("Bundle.entry[1].resource.masterIdentifier"),
    );
    let mut bad_sha1 = good.clone();
    bad_sha1["entry"][1]["resource"]["content"][0]["attachment"]["hash"] = json!(b64(&[7u8; 20]));
    let r = post(bad_sha1.to_string().into_bytes()).await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("Bundle.entry[1].resource.content[0].attachment.hash"));
    let mut bad_size = good.clone();
    bad_size["entry"][1]["resource"]["content"][0]["attachment"]["size"] = json!(999);
    assert_outcome(&post(bad_size.to_string().into_bytes()).await, StatusCode::UNPROCESSABLE_ENTITY, Some("attachment.size"));
    let unknown = provide_bundle(&ins(99), 6, &[Doc::lab(60, pdf(1000, 5))]);
    let r = post(unknown.to_string().into_bytes()).await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("Bundle.entry[1].resource.subject"));
    // A bundle whose second document is bad stores neither.
    let mut half = provide_bundle(&p, 7, &[Doc::lab(70, pdf(1000, 7)), Doc::lab(71, pdf(1000, 8))]);
    half["entry"][3]["resource"]["type"]["coding"][0]["code"] = json!("00000-0");
    assert_outcome(&post(half.to_string().into_bytes()).await, StatusCode::UNPROCESSABLE_ENTITY, Some("Bundle.entry[3].resource.type"));
    // A set that reuses a deposited document's unique id stores nothing either.
    assert_eq!(post(provide_bundle(&p, 8, &[Doc::lab(80, pdf(500, 1))]).to_string().into_bytes()).await.status, StatusCode::OK);
    let clash = provide_bundle(&p, 9, &[Doc::lab(81, pdf(500, 2)), Doc::lab(80, pdf(500, 1))]);
    let r = post(clash.to_string().into_bytes()).await;
    assert_outcome(&r, StatusCode::CONFLICT, Some("Bundle.entry[3].resource.masterIdentifier"));

    // Too large: 413 before anything is parsed.
    let small = TestApp::with_limits(app.backend, HttpLimits { fhir_body_bytes: 4096, ..HttpLimits::default() }).await;
    small.open_record(&p).await;
    let big = provide_bundle(&p, 10, &[Doc::lab(100, pdf(20_000, 1))]);
    let r = small.provide(&small.professional(1, Profession::Medecin), &big).await;
    assert_outcome(&r, StatusCode::PAYLOAD_TOO_LARGE, None);
    v.keep("too-large", &r);

    // Search parameters: unknown or malformed → 400 naming them.
    for (query, param) in [("foo=bar", "foo"), ("date=yesterday", "date"), ("status=final", "status"), ("_count=x", "_count")] {
        let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&{query}"), &doctor).await;
        assert_outcome(&r, StatusCode::BAD_REQUEST, Some(param));
    }
    assert_outcome(&app.fhir_get("/fhir/DocumentReference?status=current", &doctor).await, StatusCode::BAD_REQUEST, Some("patient"));
    assert_outcome(&app.fhir_get("/fhir/Patient?birthdate=1984", &doctor).await, StatusCode::BAD_REQUEST, Some("birthdate"));
    // Unauthenticated: an OperationOutcome too.
    let r = app.fhir(Method::GET, &format!("/fhir/DocumentReference?patient={p}"), None, None, &[]).await;
    assert_outcome(&r, StatusCode::UNAUTHORIZED, None);
    assert!(r.headers.contains_key("www-authenticate"));

    // Nothing stored but the one good set: one document, one set, one blob.
    let all = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &doctor).await;
    assert_eq!(all.body["total"], 1, "{}", all.raw);
    let lists = app.fhir_get(&format!("/fhir/List?patient={p}"), &doctor).await;
    assert_eq!(lists.body["total"], 1);
    let blobs = std::fs::read_dir(app.data_dir().join("blobs/documents")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(blobs, 1, "no blob of a refused bundle is left");
    let pending = carnet_store::DocumentStore::pending_uploads(&app.db, time::macros::datetime!(2100-01-01 0:00 UTC), 10).await;
    assert_eq!(pending.expect("pending"), vec![], "no upload left pending");
    v.check();
}

async fn hidden_documents_are_absent_everywhere(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(4);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let other = app.professional(2, Profession::Medecin);
    authorize(&app, &p, 2).await;
    let mut hidden = Doc::lab(40, pdf(900, 4));
    hidden.labels = vec!["MASQUE_PS"];
    let r = app.provide(&author, &provide_bundle(&p, 40, &[hidden])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let hidden_id = location_id(&r.body["entry"][1]);
    let r = app.provide(&author, &provide_bundle(&p, 41, &[Doc::consultation(41, pdf(900, 5))])).await;
    let shown_id = location_id(&r.body["entry"][1]);

    let seen = v.keep("search-other", &app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &other).await);
    assert_eq!(seen["total"], 1, "the hidden document is not counted");
    assert_eq!(ids_of(&seen), [shown_id]);
    assert_eq!(app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&security-label=MASQUE_PS"), &other).await.body["total"], 0);
    assert_eq!(app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&security-label=MASQUE_PS"), &author).await.body["total"], 1);
    // Read and Binary answer exactly like a document that does not exist.
    let missing = "00000000-0000-4000-8000-0000000000aa";
    for kind in ["DocumentReference", "Binary"] {
        let h = app.fhir_get(&format!("/fhir/{kind}/{hidden_id}"), &other).await;
        let m = app.fhir_get(&format!("/fhir/{kind}/{missing}"), &other).await;
        assert_outcome(&h, StatusCode::NOT_FOUND, None);
        assert_eq!((h.status, h.raw.clone()), (m.status, m.raw), "{kind}: hidden == missing");
        v.keep(kind, &h);
    }
    // The set of the hidden document is absent; the other is there.
    let lists = v.keep("lists-other", &app.fhir_get(&format!("/fhir/List?patient={p}&code=submissionset"), &other).await);
    assert_eq!(lists["total"], 1);
    assert_eq!(app.fhir_get(&format!("/fhir/List?patient={p}"), &author).await.body["total"], 2);
    // The summary lists only what the caller may see.
    let summary = v.keep("summary-other", &app.fhir_get(&format!("/fhir/Patient/{p}/$summary"), &other).await);
    assert!(!summary.to_string().contains(&hidden_id));
    v.check();
}

async fn an_insurer_agent_gets_no_clinical_content(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(5);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let r = app.provide(&doctor, &provide_bundle(&p, 50, &[Doc::lab(50, pdf(700, 9))])).await;
    let id = location_id(&r.body["entry"][1]);
    let insurer = app.role(Role::InsurerAgent);
    let search = v.keep("insurer-search", &app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &insurer).await);
    assert_eq!(search["total"], 0);
    assert!(search.get("entry").is_none());
    assert_outcome(&app.fhir_get(&format!("/fhir/DocumentReference/{id}"), &insurer).await, StatusCode::NOT_FOUND, None);
    assert_outcome(&app.fhir_get(&format!("/fhir/Binary/{id}"), &insurer).await, StatusCode::NOT_FOUND, None);
    let json_binary =
        app.fhir(Method::GET, &format!("/fhir/Binary/{id}"), Some(&insurer), None, &[("accept", "application/fhir+json")]).await;
    assert_outcome(&json_binary, StatusCode::NOT_FOUND, None);
    assert_eq!(app.fhir_get(&format!("/fhir/List?patient={p}"), &insurer).await.body["total"], 0);
    assert_outcome(&app.fhir_get(&format!("/fhir/Consent?patient={p}"), &insurer).await, StatusCode::FORBIDDEN, None);
    let audit = app.fhir_get(&format!("/fhir/AuditEvent?patient={p}"), &insurer).await;
    assert!(matches!(audit.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", audit.raw);
    assert_eq!(audit.body["resourceType"], "OperationOutcome");
    assert_outcome(&app.fhir_get(&format!("/fhir/Patient/{p}/$summary"), &insurer).await, StatusCode::FORBIDDEN, None);
    // PDQm: existence and status by INS, no identity; no search by traits.
    let found = v.keep("insurer-pdqm", &app.fhir_get(&format!("/fhir/Patient?identifier={}", identifier(&p)), &insurer).await);
    assert_eq!(found["total"], 1);
    let patient = &found["entry"][0]["resource"];
    assert!(patient.get("name").is_none() && patient.get("birthDate").is_none() && patient.get("gender").is_none(), "{patient}");
    assert_outcome(&app.fhir_get("/fhir/Patient?family=MARTIN", &insurer).await, StatusCode::FORBIDDEN, None);
    // Nor can an operator read the bytes.
    assert_outcome(&app.fhir_get(&format!("/fhir/Binary/{id}"), &app.role(Role::Operator)).await, StatusCode::NOT_FOUND, None);
    v.check();
}

/// Every document of a set is checked for the right to feed, like a document deposited alone:
/// an insurer agent deposits a set of reimbursements, and a set with one other document is
/// refused whole — with the refusal in the patient's access history, whichever document it is.
async fn each_document_of_a_set_needs_the_right_to_feed(app: TestApp) {
    let p = ins(6);
    app.open_record(&p).await;
    let insurer = app.role(Role::InsurerAgent);
    let remb = |n: u32| Doc { type_code: "REMB", class_code: "60", title: format!("Remboursements {n}"), ..Doc::lab(n, pdf(600, 3)) };
    // The test bundles write LOINC types; REMB is a TRE_A05 code.
    let reimbursements = |bundle: &mut Value, documents: &[usize]| {
        for &i in documents {
            bundle["entry"][1 + 2 * i]["resource"]["type"]["coding"][0]["system"] =
                json!("https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire");
        }
    };
    let mut allowed = provide_bundle(&p, 60, &[remb(60), remb(61)]);
    reimbursements(&mut allowed, &[0, 1]);
    let r = app.provide(&insurer, &allowed).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    // The other document second, then first.
    for (set, documents, remb_at) in [(62, [remb(62), Doc::lab(63, pdf(600, 4))], 0), (64, [Doc::lab(64, pdf(600, 5)), remb(65)], 1)] {
        let mut mixed = provide_bundle(&p, set, &documents);
        reimbursements(&mut mixed, &[remb_at]);
        assert_outcome(&app.provide(&insurer, &mixed).await, StatusCode::FORBIDDEN, None);
    }
    let patient = app.patient(&p);
    let lists = app.fhir_get(&format!("/fhir/List?patient={p}"), &patient).await;
    assert_eq!(lists.body["total"], 1, "the refused sets stored nothing: {}", lists.raw);
    assert_eq!(app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &patient).await.body["total"], 2);

    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &patient).await;
    let refused: Vec<&str> = history.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "document.submit_set" && e["outcome"] == "deny")
        .map(|e| e["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(refused, ["not_allowed_to_feed", "not_allowed_to_feed"], "both refusals, first or second document: {}", history.raw);
}

async fn labels_change_by_patch_and_put(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(6);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let r = app.provide(&doctor, &provide_bundle(&p, 60, &[Doc::lab(60, pdf(600, 6))])).await;
    let id = location_id(&r.body["entry"][1]);
    let patient = app.patient(&p);
    let patch = json!([{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "MASQUE_PS"}]}}]);
    let r = app
        .fhir(
            Method::PATCH,
            &format!("/fhir/DocumentReference/{id}"),
            Some(&patient),
            Some(patch.to_string().into_bytes()),
            &[("content-type", "application/json-patch+json")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let doc = v.keep("patched", &r);
    assert_eq!(doc["securityLabel"][0]["coding"][0]["code"], "MASQUE_PS");
    // Another professional no longer sees it.
    authorize(&app, &p, 2).await;
    assert_eq!(
        app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &app.professional(2, Profession::Medecin)).await.body["total"],
        0
    );
    // PATCH outside securityLabel, or a label the patient may not set: refused.
    let bad = json!([{"op": "replace", "path": "/status", "value": "superseded"}]);
    let r = app
        .fhir(
            Method::PATCH,
            &format!("/fhir/DocumentReference/{id}"),
            Some(&patient),
            Some(bad.to_string().into_bytes()),
            &[("content-type", "application/json-patch+json")],
        )
        .await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("operation[0]"));
    // PUT: the same document with no label lifts MASQUE_PS; another change is refused.
    let mut body = doc.clone();
    body["securityLabel"] = json!([]);
    let r = app.fhir(Method::PUT, &format!("/fhir/DocumentReference/{id}"), Some(&patient), Some(body.to_string().into_bytes()), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(v.keep("put", &r).get("securityLabel").is_none());
    body["status"] = json!("superseded");
    let r = app.fhir(Method::PUT, &format!("/fhir/DocumentReference/{id}"), Some(&patient), Some(body.to_string().into_bytes()), &[]).await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("DocumentReference.status"));
    // The author's INVISIBLE_PATIENT is not the patient's to set.
    let invisible = json!([{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "INVISIBLE_PATIENT"}]}}]);
    let r = app
        .fhir(
            Method::PATCH,
            &format!("/fhir/DocumentReference/{id}"),
            Some(&patient),
            Some(invisible.to_string().into_bytes()),
            &[("content-type", "application/json-patch+json")],
        )
        .await;
    assert_outcome(&r, StatusCode::FORBIDDEN, None);
    v.check();
}

/// One rule for label codings on every path (ITI-65, PUT, PATCH: `carnet_fhir::labels`): TRE_A07
/// in any of its spellings (canonical URL, `urn:oid:`, bare OID), the same label once, `N`
/// ignored; and a coding refused on one path is refused alike on the others. Before, PUT and
/// PATCH refused the bare OID that ITI-65 accepted, and answered 422 for a label without a
/// coding where ITI-65 answered 400 (required): ITI-65's answers are the right ones.
async fn label_codings_mean_the_same_on_every_path(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(8);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let patient = app.patient(&p);
    let spellings = |code: &str| {
        json!([
            {"coding": [{"system": "1.2.250.1.213.1.1.4.13", "code": code}]},
            {"coding": [
                {"system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument", "code": code},
                {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
            ]},
        ])
    };
    let labels_of = |doc: &Value| -> Vec<String> {
        doc["securityLabel"].as_array().into_iter().flatten().filter_map(|l| l["coding"][0]["code"].as_str().map(str::to_owned)).collect()
    };
    // ITI-65: the author's INVISIBLE_REPRESENTANTS_LEGAUX, twice, in two spellings.
    let mut bundle = provide_bundle(&p, 80, &[Doc::lab(80, pdf(700, 8))]);
    bundle["entry"][1]["resource"]["securityLabel"] = spellings("INVISIBLE_REPRESENTANTS_LEGAUX");
    let r = app.provide(&doctor, &bundle).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let provided = location_id(&r.body["entry"][1]);
    let read = v.keep("provided", &app.fhir_get(&format!("/fhir/DocumentReference/{provided}"), &doctor).await);
    assert_eq!(labels_of(&read), ["INVISIBLE_REPRESENTANTS_LEGAUX"]);

    // PUT and PATCH: the patient's MASQUE_PS, in the same spellings.
    let r = app.provide(&doctor, &provide_bundle(&p, 81, &[Doc::lab(81, pdf(700, 9))])).await;
    let id = location_id(&r.body["entry"][1]);
    let path = format!("/fhir/DocumentReference/{id}");
    let doc = app.fhir_get(&path, &patient).await.body;
    let put = |labels: Value| {
        let mut body = doc.clone();
        body["securityLabel"] = labels;
        app.fhir(Method::PUT, &path, Some(&patient), Some(body.to_string().into_bytes()), &[])
    };
    let patch = |ops: Value| {
        app.fhir(
            Method::PATCH,
            &path,
            Some(&patient),
            Some(ops.to_string().into_bytes()),
            &[("content-type", "application/json-patch+json")],
        )
    };
    let r = put(spellings("MASQUE_PS")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(labels_of(&v.keep("put", &r)), ["MASQUE_PS"]);
    let r = patch(json!([{"op": "remove", "path": "/securityLabel/0"}])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(labels_of(&r.body).is_empty(), "{}", r.raw);
    let both = spellings("MASQUE_PS");
    let r = patch(json!([
        {"op": "add", "path": "/securityLabel/-", "value": both[0]},
        {"op": "add", "path": "/securityLabel/-", "value": both[1]}
    ]))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(labels_of(&v.keep("patched", &r)), ["MASQUE_PS"]);

    // Refused alike: a restriction Carnet cannot enforce (422), a label without a coding (400).
    let restricted = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]});
    for (n, (label, status, code)) in [
        (restricted, StatusCode::UNPROCESSABLE_ENTITY, "code-invalid"),
        (json!({"text": "confidentiel"}), StatusCode::BAD_REQUEST, "required"),
    ]
    .into_iter()
    .enumerate()
    {
        let set = 82 + n as u32;
        let mut bundle = provide_bundle(&p, set, &[Doc::lab(set, pdf(700, 10))]);
        bundle["entry"][1]["resource"]["securityLabel"] = json!([label]);
        let by_iti65 = app.provide(&doctor, &bundle).await;
        let by_put = put(json!([label])).await;
        let by_patch = patch(json!([{"op": "add", "path": "/securityLabel/0", "value": label}])).await;
        for (r, at) in [
            (&by_iti65, "Bundle.entry[1].resource.securityLabel[0]"),
            (&by_put, "DocumentReference.securityLabel[0]"),
            (&by_patch, "DocumentReference.securityLabel[0]"),
        ] {
            assert_outcome(r, status, Some(at));
            assert_eq!(r.body["issue"][0]["code"], code, "{}", r.raw);
            v.keep("refused-label", r);
        }
    }
    // Nothing refused was stored: the document still carries MASQUE_PS alone.
    assert_eq!(labels_of(&app.fhir_get(&path, &patient).await.body), ["MASQUE_PS"]);
    v.check();
}

async fn consents_audit_events_and_summary(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(7);
    app.open_record(&p).await;
    authorize(&app, &p, 2).await;
    let patient = app.patient(&p);
    for change in [
        json!({"change": "block", "rpps": support::rpps(3).to_string()}),
        json!({"change": "set_medecin_traitant", "rpps": support::rpps(1).to_string()}),
        json!({"change": "set_bris_de_glace_opposition", "opposed": true}),
    ] {
        let r = app.post(&format!("/api/records/{p}/policy/changes"), &patient, change).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    }
    let doctor = app.professional(1, Profession::Medecin);
    app.provide(&doctor, &provide_bundle(&p, 70, &[Doc::lab(70, pdf(800, 7))])).await;
    app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &app.professional(2, Profession::Medecin)).await;

    let consents = v.keep("consents", &app.fhir_get(&format!("/fhir/Consent?patient=Patient/{p}"), &patient).await);
    let ids = ids_of(&consents);
    for want in [
        format!("authorization-{}", support::rpps(2)),
        format!("block-{}", support::rpps(3)),
        "medecin-traitant".into(),
        "opposition-bris-de-glace".into(),
    ] {
        assert!(ids.contains(&want), "{want} in {ids:?}");
    }
    let officer = app.role(Role::PrivacyOfficer);
    assert_eq!(app.fhir_get(&format!("/fhir/Consent?patient={p}&status=active"), &officer).await.status, StatusCode::OK);
    assert_outcome(
        &app.fhir_get(&format!("/fhir/Consent?patient={p}"), &app.professional(2, Profession::Medecin)).await,
        StatusCode::FORBIDDEN,
        None,
    );

    let audit = v.keep("audit", &app.fhir_get(&format!("/fhir/AuditEvent?patient={p}"), &patient).await);
    let events = audit["entry"].as_array().expect("events");
    assert!(events.iter().any(|e| e["resource"]["subtype"][1]["code"] == "document.search"), "{audit}");
    assert!(events.iter().any(|e| e["resource"]["agent"][0]["who"]["identifier"]["value"] == format!("8{}", support::rpps(2))));
    let dated = app.fhir_get(&format!("/fhir/AuditEvent?patient={p}&date=ge2026-03-02&_count=2"), &patient).await;
    let dated = v.keep("audit-page", &dated);
    assert_eq!(dated["entry"].as_array().map(Vec::len), Some(2));
    assert!(dated["link"].as_array().is_some_and(|l| l.iter().any(|x| x["relation"] == "next")));

    let summary = v.keep("summary", &app.fhir_get(&format!("/fhir/Patient/{p}/$summary"), &patient).await);
    assert_eq!(summary["type"], "document");
    assert_eq!(summary["entry"][0]["resource"]["resourceType"], "Composition");
    assert_eq!(summary["entry"][1]["resource"]["resourceType"], "Patient");
    let sections = summary["entry"][0]["resource"]["section"].as_array().expect("sections");
    for code in ["11450-4", "48765-2", "10160-0"] {
        let s = sections.iter().find(|s| s["code"]["coding"][0]["code"] == code).expect("IPS required section");
        assert_eq!(s["emptyReason"]["coding"][0]["code"], "unavailable");
    }
    assert_eq!(summary["entry"].as_array().map(Vec::len), Some(3), "the one document the patient sees");
    v.check();
}

on_both_backends!(
    capability_statement_tells_what_is_mounted,
    provide_find_retrieve_and_lists,
    bad_input_is_an_operation_outcome_and_stores_nothing,
    hidden_documents_are_absent_everywhere,
    an_insurer_agent_gets_no_clinical_content,
    each_document_of_a_set_needs_the_right_to_feed,
    labels_change_by_patch_and_put,
    label_codings_mean_the_same_on_every_path,
    consents_audit_events_and_summary,
);
