//! SMART scopes on every path: for random sets of scopes, each request succeeds exactly when
//! the scopes grant what it needs (an oracle written here, apart from the domain's table) and
//! the access rules permit it (the same request with a role-only token: scopes never widen);
//! otherwise it is refused 403 `insufficient_scope`, the same on `/api` and `/fhir`. Granular
//! `DocumentReference?category=`/`?type=` scopes narrow searches and reads to the documents they
//! name.

use crate::support;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_auth::TokenClaims;
use carnet_domain::{Ins, Profession, Role};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{Backend, Reply, TestApp, ins, lab_report};

/// A deposited document: id, type (LOINC) and class codes.
#[derive(Debug, Clone)]
struct Doc {
    id: String,
    type_code: String,
    class_code: String,
}

const LOINC: &str = "http://loinc.org";

struct World {
    app: TestApp,
    patient: Ins,
    other: Ins,
    docs: Vec<Doc>,
}

async fn world(backend: Backend) -> World {
    let app = TestApp::new(backend).await;
    let (patient, other) = (ins(9101), ins(9102));
    app.open_record(&patient).await;
    app.open_record(&other).await;
    let doctor = app.professional(9101, Profession::Medecin);
    let mut docs = Vec::new();
    for (n, type_code) in [(1u32, "11502-2"), (2, "18748-4"), (3, "60591-5")] {
        let meta = of_type(type_code, 9100 + n);
        let reply = app.upload(&patient, &doctor, meta, format!("document {n}").as_bytes()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
        docs.push(Doc {
            id: reply.body["id"].as_str().expect("id").to_owned(),
            type_code: type_code.to_owned(),
            class_code: reply.body["class_code"]["code"].as_str().expect("class").to_owned(),
        });
    }
    World { app, patient, other, docs }
}

/// A biology report's metadata with another type.
fn of_type(type_code: &str, n: u32) -> Value {
    let mut meta = lab_report(n);
    meta["type_code"] = json!(type_code);
    meta
}

/// One request of the table and what it needs, as SMART says it: `Resource.letter` pairs.
#[derive(Debug, Clone)]
struct Probe {
    method: Method,
    path: String,
    body: Option<Value>,
    needs: &'static [&'static str],
    /// The document it touches (granular scopes), if any.
    document: Option<usize>,
    /// A search whose matched documents are compared with the granular filter.
    lists_documents: bool,
}

fn probes(w: &World) -> Vec<Probe> {
    let (p, o, d) = (&w.patient, &w.other, &w.docs);
    let probe = |method: Method, path: String, needs: &'static [&'static str]| Probe {
        method,
        path,
        body: None,
        needs,
        document: None,
        lists_documents: false,
    };
    let on_doc = |path: String, needs: &'static [&'static str], i: usize| Probe { document: Some(i), ..probe(Method::GET, path, needs) };
    let search = |path: String, needs: &'static [&'static str]| Probe { lists_documents: true, ..probe(Method::GET, path, needs) };
    vec![
        search(format!("/fhir/DocumentReference?patient={p}"), &["DocumentReference.s"]),
        search(format!("/api/records/{p}/documents"), &["DocumentReference.s"]),
        on_doc(format!("/fhir/DocumentReference/{}", d[0].id), &["DocumentReference.r"], 0),
        on_doc(format!("/api/documents/{}", d[1].id), &["DocumentReference.r"], 1),
        on_doc(format!("/fhir/Binary/{}", d[0].id), &["Binary.r", "DocumentReference.r"], 0),
        on_doc(format!("/api/documents/{}/content", d[2].id), &["Binary.r", "DocumentReference.r"], 2),
        probe(Method::GET, format!("/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|{p}"), &["Patient.s"]),
        probe(Method::GET, format!("/fhir/Patient/{p}"), &["Patient.r"]),
        probe(Method::GET, format!("/api/records/{p}"), &["Patient.r"]),
        probe(Method::GET, format!("/fhir/Patient/{p}/$summary"), &["Patient.r", "DocumentReference.r"]),
        probe(Method::GET, format!("/fhir/List?patient={p}&code=submissionset"), &["List.s", "DocumentReference.s"]),
        probe(Method::GET, format!("/fhir/Consent?patient={p}"), &["Consent.r"]),
        probe(Method::GET, format!("/api/records/{p}/policy"), &["Consent.r"]),
        probe(Method::GET, format!("/fhir/AuditEvent?patient={p}"), &["AuditEvent.s"]),
        probe(Method::GET, format!("/api/records/{p}/access-history"), &["AuditEvent.s"]),
        probe(Method::GET, format!("/api/records/{p}/notification-preferences"), &["Patient.r"]),
        Probe {
            body: Some(json!({"email": null, "email_enabled": false, "webhook_url": null})),
            ..probe(Method::PUT, format!("/api/records/{p}/notification-preferences"), &["Patient.u"])
        },
        // The labels it has: nothing changes, but the update is asked for.
        Probe {
            body: Some(json!({"labels": []})),
            document: Some(1),
            ..probe(Method::PUT, format!("/api/documents/{}/labels", d[1].id), &["DocumentReference.u"])
        },
        // Another patient's record: the scopes are checked first, then the rules refuse.
        search(format!("/fhir/DocumentReference?patient={o}"), &["DocumentReference.s"]),
        probe(Method::GET, format!("/api/records/{o}/policy"), &["Consent.r"]),
        probe(Method::GET, format!("/fhir/Patient/{o}"), &["Patient.r"]),
    ]
}

/// The scopes a patient's app may be given, mixing what grants, what does not fit the actor,
/// and what grants nothing.
fn scope_pool(w: &World) -> Vec<String> {
    let d = &w.docs;
    vec![
        "patient/DocumentReference.rs".into(),
        "patient/DocumentReference.r".into(),
        "patient/DocumentReference.s".into(),
        format!("patient/DocumentReference.rs?category={}", d[0].class_code),
        format!("patient/DocumentReference.rs?type={LOINC}|{}", d[1].type_code),
        format!("patient/DocumentReference.rus?type={LOINC}%7C{}", d[2].type_code),
        "patient/DocumentReference.rs?code=unenforceable".into(),
        "patient/DocumentReference.cu".into(),
        "patient/Binary.r".into(),
        "patient/Patient.rs".into(),
        "patient/Patient.u".into(),
        "patient/Consent.rs".into(),
        "patient/AuditEvent.s".into(),
        "patient/List.s".into(),
        "patient/*.rs".into(),
        "patient/*.read".into(),
        "user/*.cruds".into(),
        "system/*.cruds".into(),
        "patient/Observation.rs".into(),
        "openid".into(),
        "launch/patient".into(),
    ]
}

/// A scope string's parts, read here without the domain's parser.
struct Granted {
    context: String,
    resource: String,
    letters: String,
    query: Option<String>,
}

fn granted(scope: &str) -> Option<Granted> {
    let (context, rest) = scope.split_once('/')?;
    let (body, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q.replace("%7C", "|"))),
        None => (rest, None),
    };
    let (resource, perms) = body.split_once('.')?;
    let letters = match perms {
        "read" => "rs".to_owned(),
        "write" => "cud".to_owned(),
        "*" => "cruds".to_owned(),
        p => p.to_owned(),
    };
    Some(Granted { context: context.to_owned(), resource: resource.to_owned(), letters, query })
}

/// Does `g` grant `resource.letter` to a patient? Queries only on documents, and only
/// `category`/`type` ones.
fn grants(g: &Granted, resource: &str, letter: char) -> bool {
    let fits = g.context == "patient" || g.context == "user";
    let enforceable =
        g.query.as_deref().is_none_or(|q| resource == "DocumentReference" && (q.starts_with("category=") || q.starts_with("type=")));
    fits && (g.resource == "*" || g.resource == resource) && g.letters.contains(letter) && enforceable
}

/// Does the granular filter of the scopes granting `DocumentReference.letter` admit `doc`?
fn admits(scopes: &[String], letter: char, doc: &Doc) -> bool {
    scopes.iter().filter_map(|s| granted(s)).filter(|g| grants(g, "DocumentReference", letter)).any(|g| match g.query.as_deref() {
        None => true,
        Some(q) => match q.split_once('=') {
            Some(("category", v)) => v == doc.class_code,
            Some(("type", v)) => v == format!("{LOINC}|{}", doc.type_code) || v == doc.type_code,
            _ => false,
        },
    })
}

fn need_met(scopes: &[String], need: &str) -> bool {
    let (resource, letter) = need.split_once('.').expect("Resource.letter");
    let letter = letter.chars().next().expect("letter");
    scopes.iter().filter_map(|s| granted(s)).any(|g| grants(&g, resource, letter))
}

async fn send(app: &TestApp, probe: &Probe, token: &str) -> Reply {
    let mut req = Request::builder().method(probe.method.clone()).uri(&probe.path).header("authorization", format!("Bearer {token}"));
    let body = match &probe.body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    app.send(req.body(body).expect("request")).await
}

/// The document ids a search answered (FHIR searchset or `/api` list).
fn listed(reply: &Reply) -> BTreeSet<String> {
    let items = match reply.body.get("entry") {
        Some(entries) => entries.as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect(),
        None => reply.body["documents"].as_array().cloned().unwrap_or_default(),
    };
    items.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect()
}

fn patient_token(app: &TestApp, p: &Ins, scope: Option<String>) -> String {
    app.token(TokenClaims {
        sub: format!("p-{p}"),
        role: Role::Patient,
        ins: Some(p.to_string()),
        scope,
        client_id: Some("app-test".into()),
        ..Default::default()
    })
}

async fn check_case(w: &World, scopes: &[String]) -> Result<(), TestCaseError> {
    let role_only = patient_token(&w.app, &w.patient, None);
    let scoped = patient_token(&w.app, &w.patient, Some(scopes.join(" ")));
    for probe in probes(w) {
        let baseline = send(&w.app, &probe, &role_only).await;
        let reply = send(&w.app, &probe, &scoped).await;
        let granted = probe.needs.iter().all(|n| need_met(scopes, n));
        let what = format!("{} {} with {scopes:?}", probe.method, probe.path);
        if !granted {
            prop_assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}: {}", what, reply.raw);
            let challenge = reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
            prop_assert!(challenge.contains("error=\"insufficient_scope\""), "{}: {}", what, challenge);
            // The refusal says which scope would do, and nothing of the record.
            prop_assert!(!reply.raw.contains(&w.patient.to_string()) && !reply.raw.contains("not found"), "{}: {}", what, reply.raw);
            if probe.path.starts_with("/fhir") {
                prop_assert_eq!(&reply.body["resourceType"], "OperationOutcome");
                prop_assert_eq!(&reply.body["issue"][0]["code"], "forbidden");
            }
            continue;
        }
        let hidden_by_scope = probe.document.is_some_and(|i| {
            let letter = if probe.method == Method::PUT { 'u' } else { 'r' };
            !admits(scopes, letter, &w.docs[i])
        });
        if hidden_by_scope {
            prop_assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}: outside the granular scopes: {}", what, reply.raw);
            continue;
        }
        prop_assert_eq!(reply.status, baseline.status, "{}: scopes never change what the rules decide: {}", what, reply.raw);
        if probe.lists_documents && reply.status == StatusCode::OK {
            let expected: BTreeSet<String> =
                w.docs.iter().filter(|d| listed(&baseline).contains(&d.id) && admits(scopes, 's', d)).map(|d| d.id.clone()).collect();
            prop_assert_eq!(listed(&reply), expected, "{}", what);
        }
    }
    Ok(())
}

fn scopes_decide_with_the_rules(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let w = runtime.block_on(world(backend));
    let pool = scope_pool(&w);
    let config = ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(scopes in prop::sample::subsequence(pool.clone(), 0..5))| {
        runtime.block_on(check_case(&w, &scopes))?;
    });
}

#[test]
fn scopes_decide_with_the_rules_on_sqlite() {
    scopes_decide_with_the_rules(Backend::Sqlite);
}

#[test]
fn scopes_decide_with_the_rules_on_postgres() {
    scopes_decide_with_the_rules(Backend::Postgres);
}

/// The cases a reviewer reads first, on both backends.
async fn an_app_reads_only_what_its_scopes_name(app: TestApp) {
    let w = world_from(app).await;
    let p = &w.patient;
    let docs_only = patient_token(&w.app, p, Some("openid patient/DocumentReference.rs".into()));
    let consent_only = patient_token(&w.app, p, Some("patient/Consent.rs".into()));
    // Permit: the documents. Deny: the consents, with the challenge naming a scope.
    assert_eq!(w.app.get(&format!("/fhir/DocumentReference?patient={p}"), &docs_only).await.status, StatusCode::OK);
    let refused = w.app.get(&format!("/fhir/Consent?patient={p}"), &docs_only).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.raw);
    assert_eq!(
        refused.headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"carnet\", error=\"insufficient_scope\", scope=\"patient/Consent.r\"")
    );
    // The issue's case: a Consent-only token reads no document, by search, id, Binary or /api.
    assert_eq!(w.app.get(&format!("/fhir/Consent?patient={p}"), &consent_only).await.status, StatusCode::OK);
    for path in [format!("/fhir/DocumentReference?patient={p}"), format!("/api/records/{p}/documents")] {
        let reply = w.app.get(&path, &consent_only).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {}", reply.raw);
        assert!(reply.raw.contains("patient/DocumentReference.s"), "{}", reply.raw);
    }
    // The refusal comes before the lookup: a missing record and a missing document answer alike.
    let stranger = ins(9199);
    let a = w.app.get(&format!("/fhir/DocumentReference?patient={stranger}"), &consent_only).await;
    let b = w.app.get(&format!("/fhir/DocumentReference?patient={p}"), &consent_only).await;
    assert_eq!((a.status, a.raw.replace(&stranger.to_string(), "")), (b.status, b.raw.replace(&p.to_string(), "")));
    // An app may not manage the holder's rights: a policy change needs Consent.u.
    let change = w
        .app
        .post(
            &format!("/api/records/{p}/policy/changes"),
            &consent_only,
            json!({"change": "authorize", "rpps": support::rpps(2).to_string()}),
        )
        .await;
    assert_eq!(change.status, StatusCode::FORBIDDEN, "{}", change.raw);
}

async fn world_from(app: TestApp) -> World {
    let (patient, other) = (ins(9201), ins(9202));
    app.open_record(&patient).await;
    World { app, patient, other, docs: vec![] }
}

async fn a_token_without_scopes_from_an_issuer_that_requires_them_is_granted_nothing(app: TestApp) {
    let p = ins(9301);
    app.open_record(&p).await;
    // The dev issuer lets every role act on its role; an empty scope claim is a scope claim.
    let empty = patient_token(&app, &p, Some(String::new()));
    let reply = app.get(&format!("/api/records/{p}"), &empty).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.raw);
    let unscoped = patient_token(&app, &p, None);
    assert_eq!(app.get(&format!("/api/records/{p}"), &unscoped).await.status, StatusCode::OK);
}

async fn a_deposit_outside_a_granular_create_scope_is_refused_naming_the_type(app: TestApp) {
    let p = ins(9401);
    app.open_record(&p).await;
    let token = patient_token(&app, &p, Some(format!("patient/DocumentReference.c?type={LOINC}|11502-2 patient/Binary.c")));
    let lab = app.upload(&p, &token, of_type("11502-2", 9401), b"lab").await;
    assert_eq!(lab.status, StatusCode::CREATED, "{}", lab.raw);
    let imaging = app.upload(&p, &token, of_type("18748-4", 9402), b"imaging").await;
    assert_eq!(imaging.status, StatusCode::FORBIDDEN, "{}", imaging.raw);
    let challenge = imaging.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(challenge.contains("scope=\"patient/DocumentReference.c?type=http://loinc.org|18748-4\""), "{challenge}");
}

on_both_backends!(
    an_app_reads_only_what_its_scopes_name,
    a_token_without_scopes_from_an_issuer_that_requires_them_is_granted_nothing,
    a_deposit_outside_a_granular_create_scope_is_refused_naming_the_type,
);
