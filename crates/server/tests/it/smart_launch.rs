//! SMART App Launch 2 and CORS, as a browser app meets them:
//!
//! - `/.well-known/smart-configuration` (and under `/fhir`) publishes the configured authorization
//!   server, or answers 404 saying none is configured; the CapabilityStatement claims the
//!   SMART-on-FHIR service and CORS only when they are configured;
//! - CORS: a preflight from a configured origin is answered, one from any other origin refused
//!   with a message naming it, and only configured origins get `Access-Control-Allow-Origin`;
//! - end to end: npm `fhirclient` in Debian's Chromium (npm `playwright-core`, `tests/smart-app`)
//!   does a standalone launch against npm `oidc-provider` (`tests/oidc`): login, the French consent
//!   page, PKCE code exchange, a read its scope grants and one it does not.
//!
//! `scripts/test` installs the npm packages and Chromium; a missing tool fails the test, never skips it.

use crate::support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_auth::{JwksSource, TrustedIssuer};
use carnet_domain::Profession;
use carnet_server::{BrowserAccess, SmartConfiguration};
use serde_json::Value;
use support::fhir::{Doc, pdf, provide_bundle};
use support::{Backend, Reply, TestApp, ins};

const APP: &str = "https://app.example";

fn smart_configuration(issuer: &str) -> SmartConfiguration {
    SmartConfiguration {
        issuer: issuer.into(),
        jwks_uri: format!("{issuer}/jwks"),
        authorization_endpoint: format!("{issuer}/auth"),
        token_endpoint: format!("{issuer}/token"),
        revocation_endpoint: Some(format!("{issuer}/token/revocation")),
        introspection_endpoint: None,
        token_endpoint_auth_methods_supported: vec!["none".into(), "client_secret_basic".into()],
        grant_types_supported: vec!["authorization_code".into(), "client_credentials".into()],
        scopes_supported: vec!["openid".into(), "launch/patient".into(), "patient/DocumentReference.rs".into()],
        response_types_supported: vec!["code".into()],
        code_challenge_methods_supported: vec!["S256".into()],
        capabilities: vec!["launch-standalone".into(), "client-public".into(), "permission-v2".into()],
    }
}

async fn configured() -> TestApp {
    let browser = BrowserAccess { smart: Some(smart_configuration("https://idp.example")), cors_origins: vec![APP.into()] };
    TestApp::with_browser(Backend::Sqlite, browser, vec![]).await
}

/// A request with an `Origin` (and, for a preflight, the method and headers it asks for).
async fn from_origin(app: &TestApp, method: Method, path: &str, origin: &str, preflight_for: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method).uri(path).header("host", "carnet.test").header("origin", origin);
    if let Some(asked) = preflight_for {
        req = req.header("access-control-request-method", asked).header("access-control-request-headers", "authorization,prefer");
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn without_a_smart_section_nothing_smart_or_cors_is_claimed() {
    let app = TestApp::new(Backend::Sqlite).await;
    let r = app.call(Method::GET, "/.well-known/smart-configuration", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.raw);
    assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("no SMART authorization server is configured")), "{}", r.raw);
    let r = app.fhir(Method::GET, "/fhir/.well-known/smart-configuration", None, None, &[]).await;
    support::fhir::assert_outcome(&r, StatusCode::NOT_FOUND, None);
    assert!(r.raw.contains("no SMART authorization server is configured"), "{}", r.raw);

    let cs = app.fhir(Method::GET, "/fhir/metadata", None, None, &[]).await;
    let security = &cs.body["rest"][0]["security"];
    assert_eq!(security["cors"], false, "{security}");
    assert_eq!(security["service"][0]["coding"][0]["code"], "OAuth", "{security}");
    assert!(security.get("extension").is_none(), "no oauth-uris without an authorization server: {security}");

    // No origin is allowed: a preflight is refused by name, and no answer carries CORS headers.
    let r = from_origin(&app, Method::OPTIONS, "/fhir/DocumentReference", APP, Some("GET")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    assert!(r.raw.contains(APP), "{}", r.raw);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let r = from_origin(&app, Method::GET, "/fhir/metadata", APP, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn the_smart_configuration_publishes_the_configured_authorization_server() {
    let app = configured().await;
    for path in ["/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.raw);
        assert_eq!(header(&r, "content-type"), Some("application/json"), "{path}");
        assert_eq!(r.body["issuer"], "https://idp.example");
        assert_eq!(r.body["authorization_endpoint"], "https://idp.example/auth");
        assert_eq!(r.body["token_endpoint"], "https://idp.example/token");
        assert_eq!(r.body["revocation_endpoint"], "https://idp.example/token/revocation");
        assert!(r.body.get("introspection_endpoint").is_none(), "not claimed when not known: {}", r.raw);
        assert_eq!(r.body["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(r.body["response_types_supported"], serde_json::json!(["code"]));
        assert!(r.body["capabilities"].as_array().is_some_and(|c| c.iter().any(|c| c == "launch-standalone")));
    }
    let cs = app.fhir(Method::GET, "/fhir/metadata", None, None, &[]).await;
    let security = &cs.body["rest"][0]["security"];
    assert_eq!(security["cors"], true, "{security}");
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR", "{security}");
    let uris: Vec<(&str, &str)> = security["extension"][0]["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["url"].as_str()?, e["valueUri"].as_str()?)))
        .collect();
    assert_eq!(
        uris,
        [
            ("authorize", "https://idp.example/auth"),
            ("token", "https://idp.example/token"),
            ("revoke", "https://idp.example/token/revocation")
        ]
    );
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let app = configured().await;
    for path in ["/fhir/DocumentReference", "/fhir/metadata", "/fhir/.well-known/smart-configuration", "/.well-known/smart-configuration"] {
        let r = from_origin(&app, Method::OPTIONS, path, APP, Some("GET")).await;
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.raw);
        assert_eq!(header(&r, "access-control-allow-origin"), Some(APP), "{path}");
        let methods = header(&r, "access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
        assert!(["GET", "POST", "PUT", "PATCH"].iter().all(|m| methods.contains(m)), "{path}: {methods}");
        let headers = header(&r, "access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
        assert!(["authorization", "content-type", "accept", "prefer"].iter().all(|h| headers.contains(h)), "{path}: {headers}");

        // Another origin: refused by name, without a single CORS header (the browser refuses).
        let r = from_origin(&app, Method::OPTIONS, path, "https://evil.example", Some("GET")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.raw);
        assert!(r.raw.contains("https://evil.example") && r.raw.contains("not allowed"), "{path}: {}", r.raw);
        assert!(r.headers.keys().all(|k| !k.as_str().starts_with("access-control-")), "{path}: {:?}", r.headers);
    }
    // Responses: the allowed origin, and what a browser app may read of them (why a token was refused).
    let r = from_origin(&app, Method::GET, "/fhir/DocumentReference?patient.identifier=x", APP, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(APP));
    let exposed = header(&r, "access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(["location", "etag", "www-authenticate"].iter().all(|h| exposed.contains(h)), "{exposed}");
    let r = from_origin(&app, Method::GET, "/fhir/metadata", "https://evil.example", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.keys().all(|k| !k.as_str().starts_with("access-control-")), "{:?}", r.headers);
    // `/api` is not for browser apps: no CORS there.
    let r = from_origin(&app, Method::GET, "/api/records/255081416802538", APP, None).await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}

// ---- End to end: fhirclient in Chromium, oidc-provider, Carnet on loopback ----

fn tests_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests").join(name)
}

struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(redirect: &str, patient_ins: &str, log: &std::path::Path) -> Provider {
    let dir = tests_dir("oidc");
    assert!(dir.join("node_modules/oidc-provider").exists(), "oidc-provider is not installed: run scripts/test (npm ci in tests/oidc)");
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .env("CARNET_OIDC_APP_REDIRECT", redirect)
        .env("CARNET_OIDC_PATIENT_INS", patient_ins)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
        .spawn()
        .expect("node runs");
    let (line, mut stdout) = ready_line(child.stdout.take().expect("stdout"));
    let issuer = line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("provider did not start: {line:?}")).to_owned();
    // Keep reading: a closed pipe would end the provider at its next warning.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Provider { child, issuer }
}

/// Serves `router` on a loopback port; its origin.
async fn serve(router: axum::Router, listener: tokio::net::TcpListener) -> String {
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serves") });
    format!("http://{addr}")
}

/// The browser app's pages and the browser build of fhirclient, as static files.
fn app_pages() -> axum::Router {
    let dir = tests_dir("smart-app");
    let script = dir.join("node_modules/fhirclient/build/fhir-client.js");
    assert!(script.exists(), "fhirclient is not installed: run scripts/test (npm ci in tests/smart-app)");
    let file = |path: PathBuf, content_type: &'static str| {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        axum::routing::get(move || async move { ([("content-type", content_type)], bytes) })
    };
    axum::Router::new()
        .route("/launch.html", file(dir.join("public/launch.html"), "text/html; charset=utf-8"))
        .route("/callback.html", file(dir.join("public/callback.html"), "text/html; charset=utf-8"))
        .route("/fhir-client.js", file(script, "text/javascript"))
        .route("/blank.html", axum::routing::get(|| async { ([("content-type", "text/html")], "<!doctype html><title>ailleurs</title>") }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhirclient_in_chromium_does_a_standalone_launch_with_pkce() {
    assert!(std::path::Path::new("/usr/bin/chromium").exists(), "Chromium is missing: run scripts/test (apt-get install chromium)");
    let p = ins(41);
    let identifier = format!("urn:oid:1.2.250.1.213.1.4.8|{p}");
    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let app_origin = format!("http://{}", app_listener.local_addr().expect("addr"));
    let output = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smart-launch");
    std::fs::create_dir_all(&output).expect("output dir");
    let provider = start_provider(&format!("{app_origin}/callback.html"), &p.to_string(), &output.join("provider.log"));

    let browser = BrowserAccess { smart: Some(smart_configuration(&provider.issuer)), cors_origins: vec![app_origin.clone()] };
    let trusted = TrustedIssuer {
        issuer: provider.issuer.clone(),
        audience: support::AUDIENCE.into(),
        jwks: JwksSource::Discover,
        unscoped_roles: vec![],
    };
    let app = TestApp::with_browser(Backend::Sqlite, browser, vec![trusted]).await;
    // The provider's tokens carry the real time.
    app.clock.set(time::OffsetDateTime::now_utc());
    app.open_record(&p).await;
    let bundle = provide_bundle(&p, 1, &[Doc::lab(1, pdf(2000, 1)), Doc::consultation(2, pdf(3000, 2))]);
    let r = app.provide(&app.professional(1, Profession::Medecin), &bundle).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    let carnet = serve(app.router.clone(), tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind")).await;
    serve(app_pages(), app_listener).await;
    let other_origin = serve(app_pages(), other_listener).await;

    let run = tokio::process::Command::new("node")
        .arg("drive.mjs")
        .current_dir(tests_dir("smart-app"))
        .env("CARNET_APP", &app_origin)
        .env("CARNET_OTHER_APP", &other_origin)
        .env("CARNET_FHIR_BASE", format!("{carnet}/fhir"))
        .env("CARNET_IDENTIFIER", &identifier)
        .env("CARNET_OUTPUT", &output)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run).await.expect("the browser run ends").expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "drive.mjs failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("no JSON ({e}): {stdout}"));

    assert!(seen.get("failed").is_none(), "the browser flow stopped: {seen:#}");
    // A launch without PKCE never reaches the patient: the provider refuses it.
    assert_eq!(seen["without_pkce"]["error"], "invalid_request", "{seen}");
    assert!(seen["without_pkce"]["error_description"].as_str().is_some_and(|d| d.contains("PKCE")), "{seen}");
    // "Refuser": the app is told, and gets no code.
    assert_eq!(seen["refused"]["error"], "access_denied", "{seen}");
    assert!(seen["refused"].get("code").is_none(), "{seen}");
    // The consent page, in French, lists the requested scopes in plain words.
    let consent = seen["consent"].as_str().unwrap_or_default();
    for words in ["Autoriser", "Refuser", "Lire et rechercher vos documents (DocumentReference)", "Vous identifier"] {
        assert!(consent.contains(words), "{words:?} missing from the consent page:\n{consent}");
    }
    assert!(output.join("consent.png").exists(), "screenshot of the consent page");
    // After "Autoriser": the token carries what was consented, and the granted read succeeds
    // (through a CORS preflight, since the app sends `Authorization`).
    assert!(seen["scope"].as_str().is_some_and(|s| s.split(' ').any(|s| s == "patient/DocumentReference.rs")), "{seen}");
    assert_eq!(seen["documents"]["ok"], true, "{seen}");
    assert_eq!(seen["documents"]["total"], 2, "{seen}");
    // Refusals reach the app whole: the status, and why a token was refused (an exposed header).
    assert_eq!(seen["missing"]["status"], 404, "{seen}");
    assert_eq!(seen["bad_token"]["status"], 401, "{seen}");
    assert!(seen["bad_token"]["challenge"].as_str().is_some_and(|c| c.starts_with("Bearer")), "{seen}");
    // A page on an origin Carnet does not allow: the browser refuses the call.
    assert_eq!(seen["other_origin"]["ok"], false, "{seen}");
    // A read the scope does not grant: 403 insufficient_scope, readable by the app (exposed header).
    assert_eq!(seen["outside"]["status"], 403, "{seen}");
    assert!(seen["outside"]["challenge"].as_str().is_some_and(|c| c.contains("insufficient_scope")), "{seen}");
}

/// The provider's "ready" line, read within 60 s (a provider that never starts fails the test
/// instead of hanging it), and its output to keep draining.
fn ready_line(stdout: std::process::ChildStdout) -> (String, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = tx.send((line, stdout));
    });
    rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the OpenID provider said ready within 60 s")
}
