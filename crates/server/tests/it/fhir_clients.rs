//! FHIR clients and data Carnet did not write, against a real Carnet listening on loopback:
//!
//! - npm `fhir-kit-client` and PyPI `fhirpy` each run the whole MHD flow (PDQm → ITI-65 →
//!   ITI-67 → ITI-68, byte-identical) as a subprocess (`tests/fhir-clients/`), on SQLite and
//!   PostgreSQL; the test then checks from the server side what they deposited;
//! - `fhirpy` deposits the three CI-SIS volets as CDA level 3 and finds their items through FHIR
//!   searches and `$summary`;
//! - HL7's official `Bundle-xds.json`, read from npm `hl7.fhir.r4.examples` as published, is
//!   refused as published and accepted by ITI-65 after the substitutions written down in
//!   `crates/fhir/tests/official_example.rs` (each repeated below).
//!
//! The tools are installed by `scripts/test` (`npm ci --prefix tests/fhir-clients`, `fhirpy` in
//! `.venv-test`); a missing tool fails the test, never skips it.

use crate::support;

use std::path::PathBuf;
use std::process::Output;

use axum::http::StatusCode;
use carnet_domain::{Ins, Profession, Role};
use serde_json::{Value, json};
use support::fhir::{Validated, assert_outcome};
use support::{Backend, TestApp, ins, rpps};

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-clients")
}

pub(crate) fn node_package(name: &str) -> PathBuf {
    let dir = clients_dir().join("node_modules").join(name);
    assert!(dir.exists(), "npm package {name} is missing: run `npm ci --prefix tests/fhir-clients`");
    dir
}

/// Serves the test app's router on a loopback port; the base URL of `/fhir`.
pub(crate) async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serves") });
    format!("http://{addr}/fhir")
}

/// Runs a client script with the base URL, a token and the INS; its output, or a failure
/// showing what it printed.
pub(crate) async fn run_client(program: &str, script: &str, base: &str, token: &str, p: &Ins) -> Value {
    run_client_with(program, script, base, token, p, &[]).await
}

/// `run_client` with more environment variables.
async fn run_client_with(program: &str, script: &str, base: &str, token: &str, p: &Ins, env: &[(&str, String)]) -> Value {
    let out: Output = tokio::process::Command::new(program)
        .arg(clients_dir().join(script))
        .current_dir(clients_dir())
        .env("CARNET_FHIR_BASE", base)
        .env("CARNET_TOKEN", token)
        .env("CARNET_INS", p.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script} printed no JSON line ({e}):\n{stdout}"))
}

/// What the server holds for `p` after a client's flow, as the patient sees it.
async fn documents_of(app: &TestApp, p: &Ins) -> Vec<Value> {
    let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &app.patient(p)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.body["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
}

async fn fhir_kit_client_runs_the_whole_flow(app: TestApp) {
    node_package("fhir-kit-client");
    let p = ins(31);
    app.open_record(&p).await;
    let base = serve(&app).await;
    let seen = run_client("node", "flow-fhir-kit-client.mjs", &base, &app.professional(1, Profession::Medecin), &p).await;
    assert_eq!((seen["client"].as_str(), seen["identical"].as_bool()), (Some("fhir-kit-client"), Some(true)), "{seen}");
    assert_eq!(seen["patient"], p.to_string());
    let docs = documents_of(&app, &p).await;
    assert_eq!(docs.len(), 1, "exactly the one document the client deposited");
    assert_eq!(docs[0]["id"], seen["document"]);
    assert_eq!(docs[0]["content"][0]["attachment"]["size"], 100 * 1024);
    let raw = app.get_raw(&format!("/fhir/Binary/{}", seen["document"].as_str().unwrap_or_default()), &app.patient(&p), &[]).await;
    assert!(raw.bytes.starts_with(b"%PDF-1.7\n% fhir-kit-client flow\n"), "the bytes the client sent");
}

async fn fhirpy_runs_the_whole_flow(app: TestApp) {
    let python = std::env::var("CARNET_PYTHON")
        .expect("CARNET_PYTHON is not set: run the suite with scripts/test (it installs fhirpy in .venv-test)");
    let p = ins(32);
    app.open_record(&p).await;
    let base = serve(&app).await;
    // A nurse this time (a system identity may feed but never reads: rule 12).
    let seen = run_client(&python, "flow_fhirpy.py", &base, &app.professional(2, Profession::Infirmier), &p).await;
    assert_eq!((seen["client"].as_str(), seen["identical"].as_bool()), (Some("fhirpy"), Some(true)), "{seen}");
    let docs = documents_of(&app, &p).await;
    let mut ids: Vec<&str> = docs.iter().filter_map(|d| d["id"].as_str()).collect();
    ids.sort_unstable();
    let mut reported: Vec<&str> = seen["documents"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    reported.sort_unstable();
    assert_eq!(ids, reported, "the two documents the client deposited, no more");
    // `SearchSet.count()` under `Prefer: handling=lenient`, and one document per creation search.
    assert_eq!(seen["counted"], 2, "{seen}");
    assert_eq!(seen["by_creation"], seen["documents"], "{seen}");
    let lists = app.fhir_get(&format!("/fhir/List?patient={p}"), &app.patient(&p)).await;
    assert_eq!(lists.body["total"], 1, "one submission set: {}", lists.raw);
}

/// The three CI-SIS volets deposited as CDA level 3 through ITI-65 by fhirpy, which then finds
/// their items through FHIR searches (a creatinine trend over two reports, a vaccination with
/// its lot) and in `$summary` (tests/fhir-clients/profile_fhirpy.py). The server's side: the
/// profile holds exactly those items, each from a document the client deposited, and the IPS
/// Bundle the client read passes both validators.
async fn fhirpy_finds_the_items_of_cda_volets_it_deposited(app: TestApp) {
    let python = std::env::var("CARNET_PYTHON")
        .expect("CARNET_PYTHON is not set: run the suite with scripts/test (it installs fhirpy in .venv-test)");
    let p = ins(34);
    app.open_record(&p).await;
    // Her doctor, whom she authorized: `$summary` reads the whole record, not only his documents.
    let authorize = json!({"change": "authorize", "rpps": rpps(1).to_string()});
    let r = app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), authorize).await;
    assert!(r.status.is_success(), "{}", r.raw);
    let base = serve(&app).await;
    let doctor = app.professional(1, Profession::Medecin);
    let seen = run_client_with(&python, "profile_fhirpy.py", &base, &doctor, &p, &[("CARNET_RPPS", rpps(1).to_string())]).await;
    assert_eq!(seen["trend"], json!([0.9, 1.4]), "{seen}");

    let r = app.get(&format!("/api/records/{p}/profile"), &app.patient(&p)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let items = r.body["items"].as_array().cloned().unwrap_or_default();
    let found = seen["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), found.len(), "the profile holds what the client found, no more: {}", r.raw);
    assert_eq!(found.len(), 9, "a problem, an allergy, a treatment, a weight, a vaccination and four results: {seen}");
    let deposited = seen["documents"].as_array().cloned().unwrap_or_default();
    for item in &items {
        assert!(deposited.contains(&item["source_document"]), "every item comes from a deposited document: {item}");
        let reference = found.iter().find(|f| f.as_str().is_some_and(|f| f.ends_with(&format!("/{}", item["id"].as_str().unwrap_or("?")))));
        assert!(reference.is_some(), "the client found item {} ({})", item["id"], item["kind"]);
    }

    let mut v = Validated::new();
    let summary = app.fhir_get(&format!("/fhir/Patient/{}/$summary", seen["patient"].as_str().unwrap_or_default()), &doctor).await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.raw);
    v.keep("summary-after-fhirpy", &summary);
    v.check();
}

/// HL7's `Bundle-xds.json` from the npm package, as published.
fn official_xds_example() -> Value {
    let file = node_package("hl7.fhir.r4.examples").join("Bundle-xds.json");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).expect("the example is JSON")
}

async fn the_official_xds_example_is_refused_as_published_and_accepted_after_the_written_substitutions(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(33);
    app.open_record(&p).await;
    let system = app.role(Role::System);
    let mut bundle = official_xds_example();
    // The package's example still holds what the committed fixture was made from.
    assert_eq!(bundle["entry"][1]["resource"]["resourceType"], "Patient");
    assert_eq!(bundle["entry"][0]["resource"]["masterIdentifier"]["value"], "urn:oid:129.6.58.92.88336");

    // As published: refused at its Patient entry, and nothing stored.
    let r = app.provide(&system, &bundle).await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("Bundle.entry[1].resource.resourceType"));
    assert_eq!(r.body["issue"][0]["expression"], json!(["Bundle.entry[1].resource.resourceType"]), "exactly that element: {}", r.raw);
    v.keep("xds-as-published", &r);

    // The seven substitutions of crates/fhir/tests/official_example.rs, in its order.
    let entries = bundle["entry"].as_array_mut().expect("entries");
    let doc_url = entries[0]["fullUrl"].as_str().expect("fullUrl").to_owned();
    let subject = json!({"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": p.to_string()}});
    // 1. no Patient entry: the subject named by INS;
    entries.remove(1);
    entries[0]["resource"]["subject"] = subject.clone();
    // 2. the Practitioners contained as authors;
    let practitioners: Vec<Value> = entries.drain(1..3).map(|e| e["resource"].clone()).collect();
    assert!(practitioners.iter().all(|x| x["resourceType"] == "Practitioner"));
    entries[0]["resource"]["contained"] = Value::Array(practitioners);
    // 4. one author;
    entries[0]["resource"]["author"] = json!([{"reference": "#a3"}]);
    // 5. a DMP type, 6. its DMP class, 7. an accepted format;
    entries[0]["resource"]["type"] = json!({"coding": [{"system": "http://loinc.org", "code": "11488-4"}]});
    entries[0]["resource"]["category"] = json!([{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": "10"}]}]);
    entries[0]["resource"]["content"][0]["format"]["code"] = json!("urn:ihe:iti:xds:2017:mimeTypeSufficient");
    // 3. a SubmissionSet listing the document.
    entries.insert(
        0,
        json!({
            "fullUrl": "urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21",
            "resource": {
                "resourceType": "List",
                "extension": [{"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", "valueIdentifier": {"value": "urn:oid:129.6.58.92"}}],
                "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": "urn:oid:129.6.58.92.88337"}],
                "status": "current", "mode": "working",
                "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
                "subject": subject,
                "entry": [{"item": {"reference": doc_url}}]
            },
            "request": {"method": "POST", "url": "List"}
        }),
    );
    let r = app.provide(&system, &bundle).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let response = v.keep("xds-accepted", &r);
    assert_eq!(response["entry"].as_array().map(Vec::len), Some(3), "List, DocumentReference, Binary");
    let location = response["entry"][1]["response"]["location"].as_str().expect("location");
    let id = location.trim_start_matches("DocumentReference/").split('/').next().expect("id");

    // Kept as the example said it: unique id, the contained author's name, its bytes.
    let patient = app.patient(&p);
    let doc = v.keep("xds-document", &app.fhir_get(&format!("/fhir/DocumentReference/{id}"), &patient).await);
    assert_eq!(doc["masterIdentifier"]["value"], "urn:oid:129.6.58.92.88336");
    assert!(doc.to_string().contains("Smitty"), "the declared author: {doc}");
    let raw = app.get_raw(&format!("/fhir/Binary/{id}"), &patient, &[]).await;
    assert_eq!((raw.status, raw.bytes.as_slice()), (StatusCode::OK, b"asdasdasdasdasd".as_slice()));
    v.check();
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::TestApp::new(super::Backend::Sqlite).await).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::TestApp::new(super::Backend::Postgres).await).await } )* }
    };
}

on_both!(
    fhir_kit_client_runs_the_whole_flow,
    fhirpy_runs_the_whole_flow,
    fhirpy_finds_the_items_of_cda_volets_it_deposited,
    the_official_xds_example_is_refused_as_published_and_accepted_after_the_written_substitutions,
);
