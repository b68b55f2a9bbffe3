//! The apps a patient connected (SMART on FHIR clients acting for a patient or a representative):
//! each is listed with its scopes and last use, the holder revokes one and its tokens are refused
//! on every path until the holder allows it again, and the access history names it.

use crate::support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_auth::TokenClaims;
use carnet_domain::{Ins, Profession, Role};
use carnet_server::HttpLimits;
use carnet_service::ServiceConfig;
use serde_json::{Value, json};
use support::{Backend, Reply, TestApp, ins, lab_report};

/// Declares one test per backend, over a Carnet whose catalogue names the app `agenda`.
macro_rules! with_a_catalogue {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::catalogued(super::Backend::Sqlite).await).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { super::$name(super::catalogued(super::Backend::Postgres).await).await } )* }
    };
}

with_a_catalogue!(
    an_app_is_listed_with_its_scopes_and_last_use,
    a_revoked_app_is_refused_on_every_path_until_allowed,
    a_representatives_app_is_theirs_to_revoke_record_by_record,
    an_app_token_does_not_manage_apps,
    another_patient_neither_lists_nor_revokes,
    the_access_history_and_audit_events_name_the_app,
    a_client_id_that_cannot_name_an_app_is_refused,
);

const AGENDA: &str = "agenda";
const AGENDA_NAME: &str = "Agenda santé";
/// Granted to the apps of these tests: reading everything of the patient's.
const READ_ALL: &str = "patient/*.rs";

async fn catalogued(backend: Backend) -> TestApp {
    let config = ServiceConfig { apps: [(AGENDA.to_owned(), AGENDA_NAME.to_owned())].into(), ..ServiceConfig::default() };
    TestApp::with_config(backend, HttpLimits::default(), config).await
}

/// A token of `client` acting for the patient `ins` with `scope`.
fn patient_app(app: &TestApp, ins: &Ins, client: &str, scope: &str) -> String {
    app.token(TokenClaims {
        sub: format!("p-{ins}"),
        role: Role::Patient,
        ins: Some(ins.to_string()),
        scope: Some(scope.into()),
        client_id: Some(client.into()),
        ..Default::default()
    })
}

/// A record with one document from a doctor; returns the document's id.
async fn record_with_a_document(app: &TestApp, p: &Ins) -> String {
    app.open_record(p).await;
    let reply = app.upload(p, &app.professional(1, Profession::Medecin), lab_report(1), b"%PDF-1.7 bilan").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    reply.body["id"].as_str().expect("id").to_owned()
}

async fn apps_of(app: &TestApp, p: &Ins, token: &str) -> Reply {
    app.get(&format!("/api/records/{p}/apps"), token).await
}

fn assert_revoked(reply: &Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {}", reply.raw);
    let challenge = reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
    assert!(reply.raw.contains("access by this app was revoked by the patient"), "{what}: {}", reply.raw);
}

async fn an_app_is_listed_with_its_scopes_and_last_use(app: TestApp) {
    let p = ins(1);
    record_with_a_document(&app, &p).await;
    let patient = app.patient(&p);
    assert_eq!(apps_of(&app, &p, &patient).await.body, json!([]), "no app yet");
    let first = patient_app(&app, &p, AGENDA, "patient/DocumentReference.rs");
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &first).await.status, StatusCode::OK);
    let listed = apps_of(&app, &p, &patient).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.raw);
    assert_eq!(listed.body[0]["client_id"], AGENDA);
    assert_eq!(listed.body[0]["name"], AGENDA_NAME, "the catalogue's name");
    assert_eq!(listed.body[0]["scopes"], json!(["patient/DocumentReference.rs"]));
    assert_eq!(listed.body[0]["first_used_at"], "2026-03-02T09:00:00Z");
    assert_eq!(listed.body[0]["last_used_at"], "2026-03-02T09:00:00Z");
    assert_eq!(listed.body[0]["revoked_at"], Value::Null);
    // A busy app does not write on every request: its last use moves about once a minute.
    app.clock.advance(time::Duration::seconds(30));
    app.get(&format!("/api/records/{p}/documents"), &first).await;
    assert_eq!(apps_of(&app, &p, &patient).await.body[0]["last_used_at"], "2026-03-02T09:00:00Z");
    app.clock.advance(time::Duration::seconds(31));
    app.get(&format!("/api/records/{p}/documents"), &first).await;
    assert_eq!(apps_of(&app, &p, &patient).await.body[0]["last_used_at"], "2026-03-02T09:01:01Z");
    // Scopes granted anew are shown at once; an app outside the catalogue is named by its id.
    let wider = patient_app(&app, &p, AGENDA, "patient/DocumentReference.rs patient/Binary.r");
    app.get(&format!("/api/records/{p}/documents"), &wider).await;
    app.get(&format!("/api/records/{p}/documents"), &patient_app(&app, &p, "vaccins", READ_ALL)).await;
    let listed = apps_of(&app, &p, &patient).await.body;
    assert_eq!(listed[0]["scopes"], json!(["patient/DocumentReference.rs", "patient/Binary.r"]), "{listed}");
    assert_eq!(listed[0]["first_used_at"], "2026-03-02T09:00:00Z", "the first use stays");
    assert_eq!((&listed[1]["client_id"], &listed[1]["name"]), (&json!("vaccins"), &json!("vaccins")), "{listed}");
    // The patient's own session, and professionals, are no apps.
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
}

/// Every (method, path) of the API and of FHIR, with the record's and the document's ids.
fn every_path(openapi: &Value, p: &Ins, id: &str) -> Vec<(Method, String)> {
    let mut out = vec![];
    for (path, item) in openapi["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                let path = path
                    .replace("{ins}", p.as_str())
                    .replace("{id}", id)
                    .replace("{rpps}", support::rpps(1).as_str())
                    .replace("{size}", "1")
                    .replace("{client_id}", AGENDA);
                out.push((Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"), path));
            }
        }
    }
    for path in [
        format!("/fhir/Patient/{p}"),
        format!("/fhir/Patient/{p}/$summary"),
        format!("/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8%7C{p}"),
        format!("/fhir/DocumentReference?patient={p}"),
        format!("/fhir/DocumentReference/{id}"),
        format!("/fhir/Binary/{id}"),
        format!("/fhir/List?patient={p}"),
        format!("/fhir/Consent?patient={p}"),
        format!("/fhir/AuditEvent?patient={p}"),
    ] {
        out.push((Method::GET, path));
    }
    out.push((Method::POST, "/fhir/".into()));
    out
}

async fn call(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method.clone()).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = if *method == Method::GET {
        Body::empty()
    } else {
        req = req.header("content-type", "application/json");
        Body::from("{}")
    };
    app.send(req.body(body).expect("request")).await
}

async fn a_revoked_app_is_refused_on_every_path_until_allowed(app: TestApp) {
    let p = ins(2);
    let id = record_with_a_document(&app, &p).await;
    let patient = app.patient(&p);
    let agenda = patient_app(&app, &p, AGENDA, READ_ALL);
    let vaccins = patient_app(&app, &p, "vaccins", READ_ALL);
    for token in [&agenda, &vaccins] {
        assert_eq!(app.get(&format!("/api/documents/{id}"), token).await.status, StatusCode::OK);
    }
    let revoked = app.post(&format!("/api/records/{p}/apps/{AGENDA}/revoke"), &patient, json!({})).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.raw);
    assert_eq!(revoked.body["revoked_at"], "2026-03-02T09:00:00Z");
    assert_eq!(revoked.body["revoked_by"], format!("ins:{p}"));

    // Every path that takes a token refuses the app's, its new tokens too (the app is refused,
    // not a token), whatever the path asks.
    let openapi = app.get("/api/openapi.json", &patient).await.body;
    let fresh = patient_app(&app, &p, AGENDA, "patient/DocumentReference.rs");
    let mut walked = 0;
    for (method, path) in every_path(&openapi, &p, &id) {
        if call(&app, &method, &path, None).await.status != StatusCode::UNAUTHORIZED {
            continue; // a path for anyone (the OpenAPI document)
        }
        for token in [&agenda, &fresh] {
            assert_revoked(&call(&app, &method, &path, Some(token)).await, &format!("{method} {path}"));
        }
        walked += 1;
    }
    assert!(walked > 40, "walked {walked} paths");

    // The patient's own session and the other app are untouched.
    assert_eq!(app.get(&format!("/api/documents/{id}"), &patient).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/documents/{id}"), &vaccins).await.status, StatusCode::OK);
    // Listed as revoked, and not moved by the refused requests.
    let listed = apps_of(&app, &p, &patient).await.body;
    let agenda_row = listed.as_array().and_then(|a| a.iter().find(|x| x["client_id"] == AGENDA)).expect("listed");
    assert_eq!(agenda_row["revoked_at"], "2026-03-02T09:00:00Z", "{listed}");

    // Allowed again: the app's tokens work again.
    let allowed = app.post(&format!("/api/records/{p}/apps/{AGENDA}/allow"), &patient, json!({})).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.raw);
    assert_eq!((&allowed.body["revoked_at"], &allowed.body["revoked_by"]), (&Value::Null, &Value::Null));
    assert_eq!(app.get(&format!("/api/documents/{id}"), &agenda).await.status, StatusCode::OK);

    // Each change and each refusal is in the ledger.
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &patient).await.body;
    let actions: Vec<(&str, &str)> = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("app.")))
        .map(|e| (e["action"].as_str().unwrap_or_default(), e["outcome"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(actions.first(), Some(&("app.revoke", "permit")), "{actions:?}");
    assert_eq!(actions.last(), Some(&("app.allow", "permit")), "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == ("app.access", "deny")).count(), 2 * walked, "one refusal per request: {actions:?}");
}

async fn a_representatives_app_is_theirs_to_revoke_record_by_record(app: TestApp) {
    let (first, second) = (ins(3), ins(4));
    // A parent of two creates both records: registered as the representative of each.
    let claims = |scope: Option<&str>, client: Option<&str>| TokenClaims {
        sub: "parent-1".into(),
        role: Role::Representative,
        represents: vec![first.to_string(), second.to_string()],
        scope: scope.map(str::to_owned),
        client_id: client.map(str::to_owned),
        ..Default::default()
    };
    let parent = app.token(claims(None, None));
    for child in [&first, &second] {
        let mut body = support::new_record(child);
        body["birth_date"] = json!("2015-06-01");
        let created = app.post("/api/records", &parent, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    }
    let doctor = app.professional(1, Profession::Medecin);
    for (n, child) in [(1, &first), (2, &second)] {
        assert_eq!(app.upload(child, &doctor, lab_report(n), b"%PDF-1.7 bilan").await.status, StatusCode::CREATED);
    }
    let agenda = app.token(claims(Some(READ_ALL), Some(AGENDA)));
    let seen = |child: Ins, token: String| {
        let app = &app;
        async move {
            let reply = app.get(&format!("/api/records/{child}/documents"), &token).await;
            if reply.status == StatusCode::OK { reply.body["total"].as_u64().unwrap_or_default() } else { 0 }
        }
    };
    for child in [&first, &second] {
        assert_eq!(seen(child.clone(), agenda.clone()).await, 1);
        let listed = apps_of(&app, child, &parent).await;
        assert_eq!(listed.body[0]["client_id"], AGENDA, "{}", listed.raw);
    }
    // Revoked on the first child's record only: refused there, still acting on the second.
    let revoked = app.post(&format!("/api/records/{first}/apps/{AGENDA}/revoke"), &parent, json!({})).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.raw);
    // On the first, the token no longer speaks for the child: nothing there, as for anyone else.
    assert_eq!(seen(first.clone(), agenda.clone()).await, 0);
    assert_eq!(seen(second.clone(), agenda.clone()).await, 1);
    assert_eq!(seen(first.clone(), parent.clone()).await, 1, "the parent's own session");
    // Revoked on both: the app's tokens are refused outright.
    app.post(&format!("/api/records/{second}/apps/{AGENDA}/revoke"), &parent, json!({})).await;
    assert_revoked(&app.get(&format!("/api/records/{second}/documents"), &agenda).await, "both revoked");
    // Allowed again on the first: acting there again.
    app.post(&format!("/api/records/{first}/apps/{AGENDA}/allow"), &parent, json!({})).await;
    assert_eq!(seen(first.clone(), agenda.clone()).await, 1);
}

async fn an_app_token_does_not_manage_apps(app: TestApp) {
    let p = ins(5);
    let id = record_with_a_document(&app, &p).await;
    let patient = app.patient(&p);
    let agenda = patient_app(&app, &p, AGENDA, "patient/*.cruds");
    let vaccins = patient_app(&app, &p, "vaccins", "patient/*.cruds");
    app.get(&format!("/api/documents/{id}"), &vaccins).await;
    // Deny: an app lists nothing, revokes no other app and cannot allow itself back: no scope
    // grants it (403 insufficient_scope, decided before the record is looked up).
    assert_eq!(apps_of(&app, &p, &agenda).await.status, StatusCode::FORBIDDEN);
    let tried = app.post(&format!("/api/records/{p}/apps/vaccins/revoke"), &agenda, json!({})).await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN, "{}", tried.raw);
    assert!(tried.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().contains("insufficient_scope"));
    assert_eq!(app.get(&format!("/api/documents/{id}"), &vaccins).await.status, StatusCode::OK, "vaccins still acts");
    app.post(&format!("/api/records/{p}/apps/{AGENDA}/revoke"), &patient, json!({})).await;
    let freed = patient_app(&app, &p, "vaccins", "patient/*.cruds");
    assert_eq!(app.post(&format!("/api/records/{p}/apps/{AGENDA}/allow"), &freed, json!({})).await.status, StatusCode::FORBIDDEN);
    assert_revoked(&app.get(&format!("/api/documents/{id}"), &agenda).await, "still revoked");
    // Permit: the patient's own session.
    assert_eq!(apps_of(&app, &p, &patient).await.status, StatusCode::OK);
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &patient).await.body;
    let denied = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "manage_apps" && e["reason"] == "insufficient_scope")
        .count();
    assert_eq!(denied, 3, "the app's attempts (list, revoke, allow) are in the ledger: {history}");
}

async fn another_patient_neither_lists_nor_revokes(app: TestApp) {
    let p = ins(6);
    let id = record_with_a_document(&app, &p).await;
    app.get(&format!("/api/documents/{id}"), &patient_app(&app, &p, AGENDA, READ_ALL)).await;
    let stranger = app.patient(&ins(7));
    let listed = apps_of(&app, &p, &stranger).await;
    assert_eq!(listed.status, StatusCode::NOT_FOUND, "{}", listed.raw);
    // The refusal is the same whether the record uses the app or not: nothing to learn.
    let used = app.post(&format!("/api/records/{p}/apps/{AGENDA}/revoke"), &stranger, json!({})).await;
    let unused = app.post(&format!("/api/records/{p}/apps/never-used/revoke"), &stranger, json!({})).await;
    assert_eq!((used.status, &used.body), (unused.status, &unused.body), "{} / {}", used.raw, unused.raw);
    assert_eq!(used.status, StatusCode::NOT_FOUND);
    assert_eq!(app.post(&format!("/api/records/{p}/apps/{AGENDA}/allow"), &stranger, json!({})).await.body, used.body);
    // The holder is told an app never used is not there; the app stays allowed.
    let patient = app.patient(&p);
    let unknown = app.post(&format!("/api/records/{p}/apps/never-used/revoke"), &patient, json!({})).await;
    support::assert_problem(&unknown, StatusCode::NOT_FOUND, "app not found");
    assert_ne!(unknown.body, used.body);
    assert_eq!(apps_of(&app, &p, &patient).await.body[0]["revoked_at"], Value::Null);
    // Nor does a professional, whatever their rights on the record.
    let doctor = app.professional(1, Profession::Medecin);
    assert_eq!(apps_of(&app, &p, &doctor).await.status, StatusCode::NOT_FOUND);
}

async fn the_access_history_and_audit_events_name_the_app(app: TestApp) {
    let p = ins(8);
    record_with_a_document(&app, &p).await;
    let patient = app.patient(&p);
    let agenda = patient_app(&app, &p, AGENDA, READ_ALL);
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &agenda).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &patient).await.status, StatusCode::OK);
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &patient).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.raw);
    let searches: Vec<&Value> =
        history.body["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "document.search").collect();
    assert_eq!(searches.len(), 2, "{}", history.raw);
    assert_eq!(searches[0]["actor"]["app"], json!({"client_id": AGENDA, "name": AGENDA_NAME}));
    assert_eq!(searches[0]["actor"]["reference"], format!("ins:{p}"), "acting for the patient");
    assert!(searches[0]["entry_json"].as_str().is_some_and(|j| j.contains(r#""app":"agenda""#)), "the client id is in the hashed entry");
    assert_eq!(searches[1]["actor"]["app"], Value::Null, "the patient's own session names no app");
    assert!(searches[1]["entry_json"].as_str().is_some_and(|j| !j.contains("\"app\"")));

    let audit = app.fhir_get(&format!("/fhir/AuditEvent?patient={p}"), &patient).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.raw);
    let events = audit.body["entry"].as_array().expect("events");
    let by_app: Vec<&Value> = events.iter().filter(|e| e["resource"]["agent"].as_array().is_some_and(|a| a.len() == 2)).collect();
    assert!(!by_app.is_empty(), "{}", audit.raw);
    for event in by_app {
        let agent = &event["resource"]["agent"][1];
        assert_eq!(agent["type"]["coding"][0]["code"], "110150", "{agent}");
        assert_eq!(agent["who"]["identifier"]["value"], AGENDA);
        assert_eq!(agent["name"], AGENDA_NAME);
        assert_eq!(agent["requestor"], false);
        assert_eq!(event["resource"]["agent"][0]["requestor"], true, "the patient asked, through the app");
    }
}

async fn a_client_id_that_cannot_name_an_app_is_refused(app: TestApp) {
    let p = ins(9);
    record_with_a_document(&app, &p).await;
    for client in ["x".repeat(257), "agenda\u{7}".into()] {
        let token = patient_app(&app, &p, &client, READ_ALL);
        let reply = app.get(&format!("/api/records/{p}/documents"), &token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{client:?}: {}", reply.raw);
        assert!(reply.raw.contains("client_id"), "{}", reply.raw);
        assert!(!reply.raw.contains(&client), "the claim is not echoed");
    }
    assert_eq!(apps_of(&app, &p, &app.patient(&p)).await.body, json!([]), "nothing noted");
}
