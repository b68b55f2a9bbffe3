//! The portal's pages: French, no script, strict headers; every page checked by axe-core in
//! Debian's Chromium (zero WCAG 2.1 A/AA violations, nothing scrolling sideways at 360 px) with
//! screenshots kept in `target/tmp/portal/` to look at.

use crate::support;

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use support::{Backend, Reply, TestApp};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn get_as(app: &TestApp, path: &str, accept: &str) -> Reply {
    let req = Request::builder().method(Method::GET).uri(path).header("accept", accept).body(Body::empty()).expect("request");
    app.send(req).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn pages_are_french_scriptless_and_carry_strict_headers() {
    let app = TestApp::new(Backend::Sqlite).await;
    let home = get_as(&app, "/", BROWSER).await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(header(&home, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&home, "content-security-policy"), CSP);
    assert_eq!(header(&home, "x-frame-options"), "DENY");
    assert_eq!(header(&home, "referrer-policy"), "no-referrer");
    assert_eq!(header(&home, "cache-control"), "no-store");
    assert!(home.raw.contains("<html lang=\"fr\">"), "{}", home.raw);
    assert!(home.raw.contains("Votre dossier médical, entre vos mains"));
    assert!(!home.raw.to_ascii_lowercase().contains("<script"), "no script on a page");
    assert!(!home.raw.contains(" style=\""), "no inline style: the CSP allows only the stylesheet");

    let css = get_as(&app, "/static/carnet.css", "text/css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
    assert!(css.raw.contains(":focus-visible"), "a visible focus");

    // An unknown page: French for a browser, problem details for an API client and under /api.
    let page = get_as(&app, "/mes-documentz", BROWSER).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.raw.contains("Page introuvable"), "{}", page.raw);
    assert_eq!(header(&page, "content-security-policy"), CSP);
    let api_client = get_as(&app, "/mes-documentz", "application/json").await;
    assert_eq!(api_client.status, StatusCode::NOT_FOUND);
    assert_eq!(header(&api_client, "content-type"), "application/problem+json");
    let under_api = get_as(&app, "/api/nothing-here", BROWSER).await;
    assert_eq!(header(&under_api, "content-type"), "application/problem+json");
}

#[derive(serde::Deserialize, Debug)]
struct Checked {
    url: String,
    status: u16,
    overflow: bool,
    violations: Vec<serde_json::Value>,
}

#[tokio::test]
async fn every_page_passes_axe_core_in_chromium() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/portal");
    assert!(dir.join("node_modules/axe-core").exists(), "axe-core is not installed: run scripts/test (npm ci in tests/portal)");
    let app = TestApp::new(Backend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serves") });
    let output = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp/portal");
    let pages = [("/", 200), ("/une-page-qui-n-existe-pas", 404)];
    let mut run = tokio::process::Command::new("node");
    run.arg("check.mjs").arg(&output).current_dir(&dir).kill_on_drop(true);
    for (path, _) in pages {
        run.arg(format!("{origin}{path}"));
    }
    let out =
        tokio::time::timeout(std::time::Duration::from_secs(120), run.output()).await.expect("the browser run ends").expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check.mjs failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let checked: Vec<Checked> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(checked.len(), pages.len(), "{stdout}");
    for (c, (path, status)) in checked.iter().zip(pages) {
        assert!(c.url.ends_with(path), "{c:?}");
        assert_eq!(c.status, status, "{c:?}");
        assert!(c.violations.is_empty(), "axe-core on {path}: {:#?}", c.violations);
        assert!(!c.overflow, "{path} scrolls sideways at 360 px");
    }
    let shots = std::fs::read_dir(&output)
        .expect("screenshots")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"));
    assert!(shots.count() >= 2 * pages.len(), "a screenshot per page and width");
}
