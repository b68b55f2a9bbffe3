//! The HTTP edge itself: authentication answers, limits, operational endpoints, the directory.

use crate::support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_auth::TokenClaims;
use carnet_domain::{Profession, Role};
use carnet_server::HttpLimits;
use serde_json::json;
use support::{Backend, TestApp, assert_problem, finess, ins, new_record, rpps};

async fn authentication_is_required_and_explained(app: TestApp) {
    let path = format!("/api/records/{}", ins(1));
    let none = app.call(Method::GET, &path, None, None).await;
    assert_problem(&none, StatusCode::UNAUTHORIZED, "bearer token is required");
    assert_eq!(none.headers["www-authenticate"], "Bearer realm=\"carnet\"");

    let basic = app.send(Request::get(&path).header("authorization", "Basic dXNlcjpwYXNz").body(Body::empty()).expect("request")).await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert!(basic.headers["www-authenticate"].to_str().expect("ascii").contains("invalid_request"));

    let garbage = app.call(Method::GET, &path, Some("not.a.jwt"), None).await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert!(garbage.headers["www-authenticate"].to_str().expect("ascii").contains("invalid_token"));

    // Expired: minted now, checked two hours later (beyond the one-hour lifetime and the leeway).
    let token = app.patient(&ins(1));
    app.clock.advance(time::Duration::hours(2));
    let expired = app.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.headers["www-authenticate"].to_str().expect("ascii").contains("invalid_token"));

    // A token whose claims break the contract (a professional without RPPS) is refused too.
    let no_rpps = app.token(TokenClaims { sub: "x".into(), role: Role::Professional, profession: Some("10".into()), ..Default::default() });
    let refused = app.call(Method::GET, &path, Some(&no_rpps), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body["detail"].as_str().unwrap_or_default().contains("rpps"), "{}", refused.raw);
}

async fn a_valid_token_without_the_right_is_403(app: TestApp) {
    let regulator = app.token(TokenClaims {
        sub: "samu".into(),
        role: Role::Regulator,
        rpps: Some(rpps(5).to_string()),
        profession: Some("10".into()),
        ..Default::default()
    });
    assert_eq!(app.post("/api/records", &regulator, new_record(&ins(1))).await.status, StatusCode::FORBIDDEN);
    for role in [Role::System, Role::PrivacyOfficer, Role::Operator] {
        let r = app.post("/api/records", &app.role(role), new_record(&ins(1))).await;
        assert_problem(&r, StatusCode::FORBIDDEN, "may not");
    }
}

async fn directory_upsert_import_and_lookup(app: TestApp) {
    let operator = app.role(Role::Operator);
    let nurse = app.professional(3, Profession::Infirmier);
    let entry = |n: u32, family: &str| json!({"rpps": rpps(n).to_string(), "family_name": family, "given_name": "Alex", "profession": "60", "specialty": null, "finess": finess(n).to_string()});
    let path = |n: u32| format!("/api/professionals/{}", rpps(n));

    let put = app.call(Method::PUT, &path(1), Some(&operator), Some(entry(1, "DURAND"))).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.raw);
    let got = app.get(&path(1), &nurse).await;
    assert_eq!(got.body, entry(1, "DURAND"));
    app.call(Method::PUT, &path(1), Some(&operator), Some(entry(1, "DURAND-LEROY"))).await;
    assert_eq!(app.get(&path(1), &nurse).await.body["family_name"], "DURAND-LEROY");

    assert_problem(&app.get(&path(2), &nurse).await, StatusCode::NOT_FOUND, "professional not found");
    assert_problem(&app.get("/api/professionals/12345678901", &nurse).await, StatusCode::UNPROCESSABLE_ENTITY, "check digit");
    assert_problem(
        &app.call(Method::PUT, &path(2), Some(&operator), Some(entry(1, "X"))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "different professionals",
    );

    // Only operators write, and a refused write stores nothing.
    assert_eq!(app.call(Method::PUT, &path(2), Some(&nurse), Some(entry(2, "ROUX"))).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path(2), &nurse).await.status, StatusCode::NOT_FOUND);

    // Bulk import is all or nothing.
    let mut bad = entry(5, "FAURE");
    bad["profession"] = json!("11");
    let refused = app.post("/api/professionals", &operator, json!([entry(4, "ROUX"), bad])).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "[1].profession");
    assert_eq!(app.get(&path(4), &nurse).await.status, StatusCode::NOT_FOUND, "nothing of a refused import is kept");
    let ok = app.post("/api/professionals", &operator, json!([entry(4, "ROUX"), entry(5, "FAURE")])).await;
    assert_eq!(ok.body, json!({"saved": 2}));
    assert_eq!(app.get(&path(5), &nurse).await.body["family_name"], "FAURE");
}

async fn operational_endpoints(app: TestApp) {
    let health = app.call(Method::GET, "/health", None, None).await;
    assert_eq!((health.status, health.body.clone()), (StatusCode::OK, json!({"status": "ok"})));
    let ready = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);

    let doc = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap_or_default().starts_with("3."));
    for p in ["/api/records", "/api/records/{ins}", "/api/records/{ins}/close", "/api/statistics/records", "/api/professionals/{rpps}"] {
        assert!(doc.body["paths"].get(p).is_some(), "OpenAPI documents {p}");
    }

    // Metrics count by route template, never by raw path (no INS in metrics).
    let me = ins(1);
    app.get(&format!("/api/records/{me}"), &app.patient(&me)).await;
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.raw.contains("carnet_http_requests_total"), "{}", metrics.raw);
    assert!(metrics.raw.contains("route=\"/api/records/{ins}\""));
    assert!(!metrics.raw.contains(me.as_str()));

    let jwks = app.call(Method::GET, "/dev-issuer/jwks.json", None, None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert!(jwks.body["keys"].as_array().is_some_and(|k| !k.is_empty()));

    assert_problem(&app.call(Method::GET, "/nowhere", None, None).await, StatusCode::NOT_FOUND, "no such resource");
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::with_limits(Backend::Sqlite, HttpLimits { json_body_bytes: 2048, ..HttpLimits::default() }).await;
    let me = ins(1);
    let mut body = new_record(&me);
    body["birth_name"] = json!("A".repeat(4096));
    let r = app.post("/api/records", &app.patient(&me), body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.raw);
    assert_eq!(r.headers["content-type"], "application/problem+json", "{}", r.raw);
    assert_eq!(app.get(&format!("/api/records/{me}"), &app.patient(&me)).await.status, StatusCode::NOT_FOUND);
}

/// The refusals axum and tower-http produce themselves (not a handler's) come out in the edge's
/// format: problem details on `/api`, an OperationOutcome on `/fhir`, the French page for a
/// browser on a portal path — never `text/plain` or an empty body.
#[tokio::test]
async fn the_stacks_own_refusals_are_problem_details_too() {
    let app = TestApp::with_limits(Backend::Sqlite, HttpLimits { fhir_body_bytes: 4096, ..HttpLimits::default() }).await;
    let me = ins(1);
    app.open_record(&me).await;
    let doctor = app.professional(1, Profession::Medecin);
    let send = |method: Method, uri: String, headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        app.send(req.body(Body::from(body)).expect("request"))
    };
    let auth = || ("authorization", format!("Bearer {doctor}"));
    // A multipart deposit without its boundary.
    let r = send(
        Method::POST,
        format!("/api/records/{me}/documents"),
        vec![auth(), ("content-type", "multipart/form-data".into())],
        b"--x\r\n".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.raw);
    assert_eq!(r.headers["content-type"], "application/problem+json", "{}", r.raw);
    // A path that does not decode (`%ff` is no UTF-8).
    let r = send(Method::GET, "/api/documents/%ff/content".into(), vec![auth()], vec![]).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(r.headers["content-type"], "application/problem+json", "{}", r.raw);
    assert!(!r.raw.contains("%ff") && !r.raw.contains('\u{fffd}'), "the input is not echoed: {}", r.raw);
    // A method the path does not have: 405, its Allow kept.
    let r = send(Method::DELETE, "/api/records".into(), vec![auth()], vec![]).await;
    assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED, "not allowed");
    assert!(r.headers.contains_key("allow"), "{:?}", r.headers);
    // A JSON body that is not JSON.
    let r = send(Method::POST, "/api/records".into(), vec![auth(), ("content-type", "application/json".into())], b"{".to_vec()).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(r.headers["content-type"], "application/problem+json", "{}", r.raw);
    // Under /fhir: an OperationOutcome, whatever refused.
    let r = send(Method::POST, "/fhir".into(), vec![auth(), ("content-type", "application/fhir+json".into())], vec![b' '; 8192]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.raw);
    assert_eq!(r.headers["content-type"], "application/fhir+json", "{}", r.raw);
    assert_eq!(r.body["resourceType"], "OperationOutcome", "{}", r.raw);
    // Headers beyond their limits (16 KB one, 64 KB in all): 431, before anything is read.
    let big = "a".repeat(100 * 1024);
    let r = send(Method::GET, format!("/api/records/{me}"), vec![auth(), ("x-filler", big)], vec![]).await;
    assert_problem(&r, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "larger than this server accepts");
    let many: Vec<(&'static str, String)> =
        ["x-a", "x-b", "x-c", "x-d", "x-e"].into_iter().map(|n| (n, "b".repeat(15 * 1024))).chain([auth()]).collect();
    let r = send(Method::GET, format!("/api/records/{me}"), many, vec![]).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "75 KB in all: {}", r.raw);
    let r = send(Method::GET, format!("/fhir/Patient?identifier={me}"), vec![auth(), ("x-filler", "c".repeat(20 * 1024))], vec![]).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(r.body["resourceType"], "OperationOutcome", "{}", r.raw);
    let fine = send(Method::GET, format!("/api/records/{me}"), vec![auth(), ("x-filler", "d".repeat(8 * 1024))], vec![]).await;
    assert_eq!(fine.status, StatusCode::OK, "an 8 KB header is fine: {}", fine.raw);
    // A browser on a portal path: the French page.
    let r = send(Method::GET, "/documents/%ff".into(), vec![("accept", "text/html".into())], vec![]).await;
    assert!(r.status.is_client_error() || r.status == StatusCode::SEE_OTHER, "{}", r.status);
    if r.status.is_client_error() {
        assert!(r.headers["content-type"].to_str().unwrap_or_default().starts_with("text/html"), "{}", r.raw);
        assert!(r.raw.contains("<html lang=\"fr\">"), "{}", r.raw);
    }
}

on_both_backends!(
    authentication_is_required_and_explained,
    a_valid_token_without_the_right_is_403,
    directory_upsert_import_and_lookup,
    operational_endpoints,
);
