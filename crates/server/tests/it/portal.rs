//! The portal's pages: French, no script, strict headers; every page checked by axe-core in
//! Debian's Chromium (zero WCAG 2.1 A/AA violations, nothing scrolling sideways at 360 px) with
//! screenshots kept in `target/tmp/portal/` to look at.

use crate::support;

use std::path::PathBuf;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_auth::{DemoPerson, DevClient, DevProvider, TokenClaims};
use carnet_domain::Role;
use carnet_server::portal::session::SessionCookies;
use carnet_server::portal::signin::{Portal, PortalClient};
use carnet_service::ServiceConfig;
use support::{Backend, Reply, TestApp, ins};

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
    assert_eq!(header(&home, "referrer-policy"), "same-origin");
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

    // A sign-in refusal (here: none configured) is a page of the portal too, with its headers.
    let refused = get_as(&app, "/connexion", BROWSER).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.raw.contains("<link rel=\"stylesheet\" href=\"/static/carnet.css\">"), "{}", refused.raw);
    assert!(refused.raw.contains("La connexion n’est pas configurée sur ce serveur."), "{}", refused.raw);
    assert_eq!(header(&refused, "content-security-policy"), CSP);
}

/// What `tests/portal/check.mjs` saw of one step.
#[derive(serde::Deserialize, Debug)]
pub struct Checked {
    pub step: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub overflow: bool,
    #[serde(default)]
    pub text: String,
    /// What each frame of the page shows.
    #[serde(default)]
    pub frames: Vec<Frame>,
    #[serde(default)]
    pub violations: Vec<serde_json::Value>,
}

/// A frame of a page, as `check.mjs` saw it.
#[derive(serde::Deserialize, Debug)]
pub struct Frame {
    pub url: String,
    pub text: String,
}

/// A demo person the portal's dev provider offers (`label` is the button to click).
pub fn demo_person(label: &str, claims: TokenClaims) -> DemoPerson {
    DemoPerson { label: label.into(), claims }
}

/// Marie Dupont, patient (INS `ins(77)`), as the dev provider offers her.
pub fn marie() -> DemoPerson {
    demo_person(
        "Marie Dupont (patiente)",
        TokenClaims { name: Some("Marie Dupont".into()), ins: Some(ins(77).to_string()), ..TokenClaims::new("marie", Role::Patient) },
    )
}

/// Dr Paul Bernard, general practitioner (`rpps(77)`).
pub fn dr_bernard() -> TokenClaims {
    TokenClaims {
        name: Some("Dr Paul Bernard".into()),
        rpps: Some(support::rpps(77).to_string()),
        profession: Some("10".into()),
        ..TokenClaims::new("dr-bernard", Role::Professional)
    }
}

/// A portal on a loopback port whose dev provider offers `people`; its origin. Nothing seeded.
pub async fn portal_offering(people: Vec<DemoPerson>) -> (TestApp, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let (issuer, redirect) = (format!("{origin}/dev-issuer"), format!("{origin}/connexion/retour"));
    let app = TestApp::with_portal(Backend::Sqlite, ServiceConfig::default(), |dev| {
        let client = DevClient { client_id: "carnet-portail".into(), redirect_uri: redirect.clone() };
        let provider = DevProvider::new(dev, issuer.clone(), people, vec![client]);
        let client =
            PortalClient { issuer, client_id: "carnet-portail".into(), client_secret: None, redirect_url: redirect, extra_scopes: vec![] };
        Portal::new(SessionCookies { secure: false, origin: Some(origin.clone()) }, Some(client), Some(Arc::new(provider)))
    })
    .await;
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serves") });
    (app, origin)
}

/// A portal offering Marie, whose record Dr Bernard fed with two documents and read one of; its
/// origin.
async fn served_portal() -> (TestApp, String) {
    let (app, origin) = portal_offering(vec![marie()]).await;
    let p = ins(77);
    app.open_record(&p).await;
    let doctor = app.token(dr_bernard());
    let mut first = None;
    for (n, title) in [(1, "Bilan sanguin de mars"), (2, "Compte rendu de consultation")] {
        let mut meta = support::lab_report(7700 + n);
        meta["title"] = serde_json::json!(title);
        let reply = app.upload(&p, &doctor, meta, b"%PDF-1.7 demo").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
        first.get_or_insert(reply.body["id"].as_str().expect("id").to_owned());
    }
    // The doctor reads a document: an access the patient sees.
    let read = app.get(&format!("/api/documents/{}", first.expect("a document")), &doctor).await;
    assert_eq!(read.status, StatusCode::OK);
    (app, origin)
}

/// Whether a step acts on the current page without leading to another (nothing to check).
fn is_action(step: &str) -> bool {
    ["fill:", "check:", "uncheck:", "select:", "upload:", "cookie:"].iter().any(|p| step.starts_with(p))
}

/// Walks `steps` (see `tests/portal/check.mjs`) in one Chromium context and checks each page
/// reached: its status, a text it shows, zero axe-core violations, no sideways scrolling at
/// 360 px. Screenshots go to `target/tmp/portal/<name>/`. Returns what was seen, one per step.
pub async fn walk(name: &str, steps: &[(String, u16, &str)]) -> Vec<Checked> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/portal");
    assert!(dir.join("node_modules/axe-core").exists(), "axe-core is not installed: run scripts/test (npm ci in tests/portal)");
    let output = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp/portal").join(name);
    let _ = std::fs::remove_dir_all(&output);
    let mut run = tokio::process::Command::new("node");
    run.arg("check.mjs").arg(&output).current_dir(&dir).kill_on_drop(true);
    for (step, _, _) in steps {
        run.arg(step);
    }
    let out =
        tokio::time::timeout(std::time::Duration::from_secs(180), run.output()).await.expect("the browser run ends").expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check.mjs failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let checked: Vec<Checked> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(checked.len(), steps.len(), "{stdout}");
    for (c, (step, status, shows)) in checked.iter().zip(steps) {
        assert_eq!(&c.step, step);
        if is_action(step) {
            continue;
        }
        assert_eq!(c.status, *status, "{} ({})", c.url, c.text);
        assert!(c.text.contains(shows), "{} should show {shows:?}: {}", c.url, c.text);
        assert!(c.violations.is_empty(), "axe-core on {}: {:#?}", c.url, c.violations);
        assert!(!c.overflow, "{} scrolls sideways at 360 px", c.url);
    }
    let pages = steps.iter().filter(|(s, _, _)| !is_action(s)).count();
    let shots = std::fs::read_dir(&output)
        .expect("screenshots")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"));
    assert_eq!(shots.count(), 2 * pages, "a screenshot per page and width");
    checked
}

#[tokio::test]
async fn every_page_passes_axe_core_in_chromium() {
    let (_app, origin) = served_portal().await;
    // Signed out, then signed in through the demo provider's page, then the patient's pages.
    let steps = [
        (format!("{origin}/"), 200, "Se connecter"),
        (format!("{origin}/une-page-qui-n-existe-pas"), 404, "Page introuvable"),
        (format!("{origin}/connexion/retour?code=x&state=inconnu"), 400, "vous n’êtes pas connecté"),
        (format!("{origin}/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Marie Dupont (patiente)".to_owned(), 200, "Mon dossier médical"),
        (format!("{origin}/historique"), 200, "Historique des accès"),
        (format!("{origin}/historique?moi=1"), 200, "Vous"),
    ];
    let checked = walk("accueil", &steps).await;
    // What the signed-in home says: the documents, and the doctor's reading — in words.
    let home = &checked[4];
    assert!(home.url.ends_with('/'), "{}", home.url);
    assert!(home.text.contains("Connecté en tant que Marie Dupont"), "{}", home.text);
    assert!(home.text.contains("2\u{a0}documents dans votre dossier"), "{}", home.text);
    assert!(home.text.contains("Compte rendu de consultation") && home.text.contains("Bilan sanguin de mars"), "{}", home.text);
    assert!(home.text.contains("Dr Paul Bernard (Médecin") && home.text.contains("a consulté un document"), "{}", home.text);
    assert!(!home.text.contains("document.read"), "no raw code on a page");
    // The history, newest first, hides the patient's own consultations unless asked.
    assert!(!checked[5].text.contains("Vous avez consulté"), "{}", checked[5].text);
    assert!(checked[6].text.contains("Vous avez consulté la liste de vos documents"), "{}", checked[6].text);
}

/// Marie, a session of hers, and Dr Bernard's token after he fed her record two documents.
async fn marie_with_documents(app: &TestApp) -> (support::PortalVisit, String, Vec<String>) {
    let p = ins(77);
    app.open_record(&p).await;
    let doctor = app.token(dr_bernard());
    let mut ids = Vec::new();
    for n in 1..=2 {
        let reply = app.upload(&p, &doctor, support::lab_report(7800 + n), b"%PDF-1.7 demo").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
        ids.push(reply.body["id"].as_str().expect("id").to_owned());
    }
    (app.portal_session(&marie_actor()).await, doctor, ids)
}

/// Marie as her portal session carries her.
pub fn marie_actor() -> carnet_domain::Actor {
    carnet_domain::Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "marie".into(),
        name: Some("Marie Dupont".into()),
        kind: carnet_domain::ActorKind::Patient { ins: ins(77) },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

#[tokio::test]
async fn each_history_entry_is_checked_against_the_signed_tree_head() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (marie, doctor, ids) = marie_with_documents(&app).await;
    assert_eq!(app.get(&format!("/api/documents/{}", ids[0]), &doctor).await.status, StatusCode::OK);
    let page = app.page("/historique", &marie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    assert!(page.raw.contains("dont la signature est valide"), "{}", page.raw);
    assert!(page.raw.contains("Preuve vérifiée") && !page.raw.contains("Preuve non vérifiée"), "{}", page.raw);
    assert!(page.raw.contains("Empreinte du registre"), "{}", page.raw);

    // An insider with write access to the files drops the append-only trigger and rewrites the
    // doctor's name in the stored entries: their proofs no longer check.
    let ledger = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir().join("ledger.db").display())).await.expect("ledger.db");
    sqlx::query("DROP TRIGGER entries_no_update").execute(&ledger).await.expect("drop the trigger");
    let changed =
        sqlx::query("UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), 'Dr Paul Bernard', 'Dr Paul Bernarf') AS BLOB)")
            .execute(&ledger)
            .await
            .expect("tamper")
            .rows_affected();
    assert!(changed > 0);
    let page = app.page("/historique", &marie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    assert!(page.raw.contains("Preuve non vérifiée"), "{}", page.raw);
    assert!(page.raw.contains("Attention") && page.raw.contains("n’ont pas pu être vérifiées"), "{}", page.raw);
    assert!(!page.raw.contains("dont la signature est valide"), "{}", page.raw);
}

#[tokio::test]
async fn the_history_gives_receipts_that_hold_without_carnet_and_only_for_its_reader() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (marie, doctor, ids) = marie_with_documents(&app).await;
    for id in &ids {
        assert_eq!(app.get(&format!("/api/documents/{id}"), &doctor).await.status, StatusCode::OK);
    }
    let key = app.get("/api/ledger/public-key", &doctor).await;
    let key: [u8; 32] = carnet_domain::hex::decode_array(key.body["public_key"].as_str().expect("a key")).expect("hex");
    let page = app.page("/historique", &marie).await;
    assert!(page.raw.contains("href=\"/historique/preuves\" download"), "{}", page.raw);
    let shown = page.raw.matches("<span class=\"quand\">").count();

    let file = app.page("/historique/preuves", &marie).await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.raw);
    let disposition = file.headers.get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(disposition.starts_with("attachment; filename=\"preuves-acces-"), "{disposition}");
    let receipts: carnet_ledger::AccessReceipts = serde_json::from_str(&file.raw).expect("a receipt file");
    let check = receipts.check(Some(&key)).expect("every entry in the signed tree");
    assert_eq!(check.entries, shown, "the entries of the page, each with its proof");
    let marie_ins = ins(77).to_string();
    for e in &receipts.entries {
        let entry: serde_json::Value = serde_json::from_str(&e.entry).expect("JSON");
        assert_eq!(entry["ins"], marie_ins.as_str(), "only entries about her record: {}", e.entry);
    }
    let reads =
        receipts.entries.iter().filter(|e| e.entry.contains("Bernard") && ids.iter().any(|id| e.entry.contains(id.as_str()))).count();
    assert!(reads >= 2, "the doctor's deposits and readings are among them: {receipts:?}");

    // A receipt changed after the fact no longer holds.
    let mut forged = receipts.clone();
    forged.entries[0].entry = forged.entries[0].entry.replace("Bernard", "Bernarf");
    assert!(forged.check(Some(&key)).is_err());

    // Through /api: the patient gets them; the doctor, who is not a reader of her history, gets
    // the same 404 as for a record that does not exist, and no receipt.
    let path = format!("/api/records/{}/access-history/receipts?limit=200", ins(77));
    let own = app.get(&path, &app.patient(&ins(77))).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.raw);
    let own: carnet_ledger::AccessReceipts = serde_json::from_value(own.body).expect("receipts");
    assert!(own.check(Some(&key)).is_ok() && own.entries.len() >= reads);
    let refused = app.get(&path, &doctor).await;
    let absent = app.get(&format!("/api/records/{}/access-history/receipts", ins(78)), &doctor).await;
    assert_eq!((refused.status, absent.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(refused.body["detail"], absent.body["detail"], "{} / {}", refused.raw, absent.raw);
    assert!(!refused.raw.contains("entries"), "{}", refused.raw);
}

#[tokio::test]
async fn the_history_pages_back_fifty_at_a_time_and_filters_by_day() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (marie, doctor, ids) = marie_with_documents(&app).await;
    for _ in 0..60 {
        assert_eq!(app.get(&format!("/api/documents/{}", ids[1]), &doctor).await.status, StatusCode::OK);
    }
    // Her own consultations included, so that every entry of the ledger about her is listed.
    let first = app.page("/historique?moi=1", &marie).await;
    assert_eq!(first.status, StatusCode::OK);
    let count = |raw: &str| raw.matches("<span class=\"quand\">").count();
    assert_eq!(count(&first.raw), 50, "fifty per page");
    let older = first.raw.split("href=\"/historique?").nth(1).and_then(|r| r.split('"').next()).expect("a link to older entries");
    assert!(older.starts_with("moi=1&#38;avant="), "{older}");
    let second = app.page(&format!("/historique?{}", older.replace("&#38;", "&")), &marie).await;
    assert_eq!(second.status, StatusCode::OK);
    // The record's creation, 2 deposits, 60 readings, the first page's own reading: 64.
    assert_eq!(count(&second.raw), 14, "{}", second.raw);
    assert!(second.raw.contains("a déposé un document"), "the oldest are on the last page");
    assert!(!second.raw.contains("Voir les accès plus anciens"));

    // A day filter in Paris time: the test clock is 2 March 2026.
    let that_day = app.page("/historique?moi=1&du=2026-03-02&au=2026-03-02", &marie).await;
    assert_eq!(count(&that_day.raw), 50);
    let day_before = app.page("/historique?au=2026-03-01", &marie).await;
    assert_eq!(day_before.status, StatusCode::OK);
    assert!(day_before.raw.contains("Aucun accès à afficher"), "{}", day_before.raw);
    // Invalid filters: said next to their field, nothing listed.
    let bad = app.page("/historique?du=2026-03-05&au=2026-03-01", &marie).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.raw.contains("aria-describedby=\"au-erreur\"") && bad.raw.contains("Cette date est avant la date de début."),
        "{}",
        bad.raw
    );
    assert_eq!(count(&bad.raw), 0);
    let unreadable = app.page("/historique?du=31%2F02%2F2026", &marie).await;
    assert_eq!(unreadable.status, StatusCode::BAD_REQUEST);
    assert!(unreadable.raw.contains("id=\"du-erreur\""), "{}", unreadable.raw);
    assert!(unreadable.raw.contains("value=\"31/02/2026\""), "the entered value is kept: {}", unreadable.raw);
}

#[tokio::test]
async fn the_home_says_what_happened_since_the_last_visit() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (marie, _, _) = marie_with_documents(&app).await;
    // A first visit: nothing "new" to point at (everything is), no emergency.
    let first = app.page("/", &marie).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(!first.raw.contains("À voir"), "{}", first.raw);

    // The next day, a SAMU regulator opens her record, and the doctor deposits a third document.
    app.clock.advance(time::Duration::days(1));
    let doctor = app.token(dr_bernard());
    let regulator = app.token(TokenClaims {
        name: Some("Dr Élodie Garnier".into()),
        rpps: Some(support::rpps(20).to_string()),
        profession: Some("10".into()),
        ..TokenClaims::new("samu-1", Role::Regulator)
    });
    let url = format!("/api/records/{}/emergency-access", ins(77));
    let opened = app.post(&url, &regulator, serde_json::json!({"kind": "samu", "justification": "Appel au 15 : malaise"})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.raw);
    assert_eq!(app.upload(&ins(77), &doctor, support::lab_report(7803), b"%PDF-1.7 demo").await.status, StatusCode::CREATED);
    app.clock.advance(time::Duration::hours(1));
    let later = app.portal_session(&marie_actor()).await;
    let home = app.page("/", &later).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.raw.contains("À voir"), "{}", home.raw);
    assert!(home.raw.contains("1\u{a0}nouveau document depuis votre dernière visite"), "{}", home.raw);
    assert!(home.raw.contains("Accès en urgence") && home.raw.contains("Dr Élodie Garnier"), "{}", home.raw);
    assert!(home.raw.contains("Appel au 15 : malaise"), "the justification: {}", home.raw);

    // Seen: on the following visit, neither is new any more.
    app.clock.advance(time::Duration::hours(1));
    let next = app.portal_session(&marie_actor()).await;
    let home = app.page("/", &next).await;
    assert!(!home.raw.contains("À voir"), "{}", home.raw);
}

/// One look at her record by her doctor is several reads, each in the ledger and each on the
/// history page; her home page says it as one visit, and a later look as another.
#[tokio::test]
async fn the_home_reads_a_doctors_look_as_one_visit() {
    let app = TestApp::new(Backend::Sqlite).await;
    marie_with_documents(&app).await;
    let p = ins(77);
    let authorize = serde_json::json!({"change": "authorize", "rpps": support::rpps(77).to_string()});
    assert!(app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), authorize).await.status.is_success());
    app.clock.advance(time::Duration::hours(1));
    let doctor = app.token(dr_bernard());
    for path in [format!("/api/records/{p}"), format!("/api/records/{p}/documents"), format!("/api/records/{p}/profile")] {
        assert_eq!(app.get(&path, &doctor).await.status, StatusCode::OK, "{path}");
        app.clock.advance(time::Duration::seconds(20));
    }
    app.clock.advance(time::Duration::minutes(30));
    let doctor = app.token(dr_bernard());
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &doctor).await.status, StatusCode::OK);

    let marie = app.portal_session(&marie_actor()).await;
    let home = app.page("/", &marie).await;
    let section = home.raw.split("id=\"titre-acces\"").nth(1).and_then(|s| s.split("</section>").next()).unwrap_or_default();
    let lines: Vec<&str> = section.split("<li>").skip(1).collect();
    assert!(lines[0].contains("a consulté la liste de vos documents") && !lines[0].contains("profil"), "the later look, alone: {section}");
    assert!(
        lines[1].contains("a consulté l’état du dossier, la liste de vos documents et votre profil médical"),
        "the first look, one line: {section}"
    );
    assert!(lines[1].contains("avec votre autorisation"), "with its basis: {section}");
    // The history page still lists each read.
    let history = app.page("/historique", &marie).await;
    for read in ["a consulté l’état du dossier", "a consulté votre profil médical"] {
        assert!(history.raw.contains(read), "{read}: {}", history.raw);
    }
}

#[tokio::test]
async fn a_person_without_a_record_to_open_is_told_why_on_the_home_page() {
    let app = TestApp::new(Backend::Sqlite).await;
    // A patient whose record was never created.
    let visit = app.portal_session(&marie_actor()).await;
    let home = app.page("/", &visit).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.raw);
    assert!(home.raw.contains("Vous n’avez pas encore de dossier médical partagé dans Carnet."), "{}", home.raw);
    // A parent whose representation is not (or no longer) registered on the child's record.
    app.open_record(&ins(78)).await;
    let parent = carnet_domain::Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "not-a-parent".into(),
        name: Some("Paul Martin".into()),
        kind: carnet_domain::ActorKind::Representative { represents: vec![ins(78)] },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    };
    let visit = app.portal_session(&parent).await;
    let home = app.page("/", &visit).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.raw);
    assert!(home.raw.contains("Vous n’êtes pas, ou plus, enregistré comme représentant légal"), "{}", home.raw);
    assert!(!home.raw.contains("Vous consultez le dossier de"), "no record named: {}", home.raw);
}
