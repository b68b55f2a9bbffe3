//! Sign-in for people: the portal's OpenID Connect code flow against the dev provider, over real
//! HTTP (the portal discovers its provider and exchanges the code like against any other),
//! sessions with idle and absolute expiry, sign-out, the CSRF check and a replayed callback.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use carnet_auth::{DemoPerson, DevClient, DevProvider, TokenClaims};
use carnet_domain::{ActorKind, Role, Scopes};
use carnet_server::portal::session::{PLAIN_COOKIE, PortalSession, SessionCookies};
use carnet_server::portal::signin::{Portal, PortalClient};
use carnet_service::ServiceConfig;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use time::Duration;

use crate::support::{Backend, TestApp, ins};

const CLIENT_ID: &str = "carnet-portail";

macro_rules! with_the_portal {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::Served::start(super::Backend::Sqlite).await).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { super::$name(super::Served::start(super::Backend::Postgres).await).await } )* }
    };
}

with_the_portal!(
    a_person_signs_in_through_the_dev_provider,
    a_replayed_or_stale_callback_opens_no_session,
    an_idle_session_ends_after_its_idle_limit,
    a_used_session_ends_at_its_absolute_limit,
    sign_out_revokes_the_session,
    a_form_without_its_csrf_token_or_from_elsewhere_changes_nothing,
    a_tampered_authorization_opens_no_session,
    abandoned_sign_ins_are_purged_by_later_ones,
    a_sign_in_refused_at_the_provider_opens_no_session,
);

/// Carnet on a loopback port, its portal signing in with the dev provider it serves itself.
struct Served {
    app: TestApp,
    base: String,
    http: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

/// A page for signed-in people only (the portal's pages take the same extractor).
async fn page(session: PortalSession) -> String {
    serde_json::json!({ "actor": session.actor, "csrf": session.csrf_token }).to_string()
}

impl Served {
    async fn start(backend: Backend) -> Served {
        Served::start_with(backend, false).await
    }

    /// `secure`: the portal as behind TLS (the `__Host-` cookie); plain http here all the same.
    async fn start_with(backend: Backend, secure: bool) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let config = ServiceConfig { sessions: carnet_domain::SessionLimits::default(), ..ServiceConfig::default() };
        let issuer_url = format!("{base}/dev-issuer");
        let redirect_url = format!("{base}/connexion/retour");
        let app = TestApp::with_portal(backend, config, |dev| {
            let people = vec![DemoPerson {
                label: "Marie Dupont (patiente)".into(),
                claims: TokenClaims {
                    name: Some("Marie Dupont".into()),
                    ins: Some(ins(1).to_string()),
                    // An ID token is not an app's token: ignored for the session.
                    scope: Some("patient/*.rs".into()),
                    ..TokenClaims::new("marie", Role::Patient)
                },
            }];
            let client = DevClient { client_id: CLIENT_ID.into(), redirect_uri: redirect_url.clone() };
            let provider = DevProvider::new(dev, issuer_url.clone(), people, vec![client]);
            let client =
                PortalClient { issuer: issuer_url, client_id: CLIENT_ID.into(), client_secret: None, redirect_url, extra_scopes: vec![] };
            Portal::new(SessionCookies { secure, origin: Some(base.clone()) }, Some(client), Some(Arc::new(provider)))
        })
        .await;
        let router = app.router.clone().merge(Router::new().route("/espace", get(page)).with_state(app.state.clone()));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Served { app, base, http, _server: server }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.expect("request")
    }

    /// Follows the code flow by hand up to the provider's redirect back to the portal: the
    /// callback's URL (not yet visited).
    async fn through_the_provider(&self) -> String {
        self.through_the_provider_with(|_| {}).await
    }

    /// `through_the_provider`, the authorization request changed by `tamper` on its way.
    async fn through_the_provider_with(&self, tamper: impl FnOnce(&mut Vec<(String, String)>)) -> String {
        let start = self.get("/connexion", None).await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let authorize = location(&start);
        assert!(authorize.starts_with(&format!("{}/dev-issuer/authorize?", self.base)), "{authorize}");
        let query = authorize.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
        let params: Vec<(String, String)> = serde_urlencoded::from_str(&query).expect("query");
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
        assert!(param("nonce").is_some() && param("state").is_some());
        assert!(param("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")));

        let page = self.get(&authorize, None).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("page");
        assert!(html.contains("DÉMONSTRATION") && html.contains("Choisissez une personne de démonstration"), "{html}");
        assert!(html.contains("Marie Dupont (patiente)") && html.contains(r#"lang="fr""#));

        let mut form = params.clone();
        tamper(&mut form);
        form.push(("person".into(), "0".into()));
        let chosen = self.http.post(self.url("/dev-issuer/authorize")).form(&form).send().await.expect("choose");
        assert_eq!(chosen.status(), StatusCode::SEE_OTHER);
        let back = location(&chosen);
        assert!(back.starts_with(&format!("{}/connexion/retour?code=", self.base)), "{back}");
        back
    }

    /// Signs in; the `Cookie` header value for the session.
    async fn sign_in(&self) -> String {
        let back = self.through_the_provider().await;
        let done = self.get(&back, None).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{:?}", done.text().await);
        assert_eq!(location(&done), "/");
        let set = set_cookie(&done).expect("a session cookie");
        set.split(';').next().expect("name=value").to_owned()
    }

    /// The signed-in page's answer for this cookie: `Some(page JSON)`, or `None` when sent to sign in.
    async fn page(&self, cookie: &str) -> Option<serde_json::Value> {
        let reply = self.get("/espace", Some(cookie)).await;
        match reply.status() {
            StatusCode::OK => Some(serde_json::from_str(&reply.text().await.expect("body")).expect("json")),
            StatusCode::SEE_OTHER => {
                assert_eq!(location(&reply), "/connexion");
                None
            }
            other => panic!("unexpected {other}"),
        }
    }

    async fn sign_out(&self, cookie: &str, form: &[(&str, &str)], origin: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(self.url("/deconnexion")).header(COOKIE, cookie).form(form);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        req.send().await.expect("sign out")
    }
}

fn location(reply: &reqwest::Response) -> String {
    reply.headers().get(LOCATION).and_then(|v| v.to_str().ok()).expect("a Location").to_owned()
}

fn set_cookie(reply: &reqwest::Response) -> Option<String> {
    reply.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn a_person_signs_in_through_the_dev_provider(s: Served) {
    let back = s.through_the_provider().await;
    let done = s.get(&back, None).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let set = set_cookie(&done).expect("cookie");
    // Plain http on loopback: no `__Host-`, no `Secure`; always HttpOnly, SameSite=Lax, Path=/.
    assert!(set.starts_with(&format!("{PLAIN_COOKIE}=")), "{set}");
    let flags: Vec<&str> = set.split(';').skip(1).map(str::trim).collect();
    assert_eq!(flags, ["Path=/", "HttpOnly", "SameSite=Lax"]);
    let id = set.split(';').next().and_then(|p| p.split_once('=')).map(|(_, v)| v.to_owned()).expect("id");
    assert_eq!(id.len(), 43, "32 random bytes in base64url");

    let page = s.page(&format!("{PLAIN_COOKIE}={id}")).await.expect("signed in");
    let actor: carnet_domain::Actor = serde_json::from_value(page["actor"].clone()).expect("actor");
    assert_eq!(actor.kind, ActorKind::Patient { ins: ins(1) });
    assert_eq!((actor.subject.as_str(), actor.name.as_deref()), ("marie", Some("Marie Dupont")));
    // The dev provider is the dev issuer: the same references whatever port the server is on
    // (a representative's `iss#sub` in a policy, an app's or the CLI's tokens).
    assert_eq!(actor.issuer, carnet_auth::DevIssuer::ISSUER);
    assert_eq!((actor.scopes, actor.client), (Scopes::RoleOnly, None), "the person themselves, not an app");

    // At rest: the id's hash only.
    let hash = carnet_domain::hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()));
    let stored = carnet_store::SessionStore::find_session(&s.app.db, &hash).await.expect("find").expect("stored by hash");
    assert!(!stored.actor.contains(&id) && stored.id_hash != id);
    assert!(carnet_store::SessionStore::find_session(&s.app.db, &id).await.expect("find").is_none());

    // No cookie, a made-up one: sent to sign in.
    assert_eq!(s.page("carnet_session=made-up").await, None);
    let anonymous = s.get("/espace", None).await;
    assert_eq!((anonymous.status(), location(&anonymous)), (StatusCode::SEE_OTHER, "/connexion".to_owned()));
}

async fn a_replayed_or_stale_callback_opens_no_session(s: Served) {
    let back = s.through_the_provider().await;
    let cookie = {
        let first = s.get(&back, None).await;
        assert_eq!(first.status(), StatusCode::SEE_OTHER);
        set_cookie(&first).expect("cookie")
    };
    // The same callback again: its state was used.
    let replay = s.get(&back, None).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&replay).is_none());
    assert!(replay.text().await.expect("page").contains("a expiré ou a déjà servi"));
    // A state never issued, and none at all.
    let code = back.split("code=").nth(1).and_then(|c| c.split('&').next()).expect("code").to_owned();
    for stale in [format!("/connexion/retour?code={code}&state=inconnu"), format!("/connexion/retour?code={code}")] {
        let reply = s.get(&stale, None).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{stale}");
        assert!(set_cookie(&reply).is_none());
    }
    // A sign-in left at the provider longer than its ten minutes.
    let late = s.through_the_provider().await;
    s.app.clock.advance(carnet_service::SIGN_IN_LIFETIME);
    let reply = s.get(&late, None).await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&reply).is_none());
    // The session the first callback opened is untouched by the refusals (10 minutes idle < 15).
    assert!(s.page(cookie.split(';').next().expect("pair")).await.is_some());
}

async fn an_idle_session_ends_after_its_idle_limit(s: Served) {
    let cookie = s.sign_in().await;
    s.app.clock.advance(Duration::minutes(14));
    assert!(s.page(&cookie).await.is_some(), "used within 15 minutes");
    s.app.clock.advance(Duration::minutes(14));
    assert!(s.page(&cookie).await.is_some(), "the use renewed it");
    s.app.clock.advance(Duration::minutes(15));
    assert_eq!(s.page(&cookie).await, None, "15 minutes unused: over");
    let reply = s.get("/espace", Some(&cookie)).await;
    assert_eq!(location(&reply), "/connexion");
}

async fn a_used_session_ends_at_its_absolute_limit(s: Served) {
    let cookie = s.sign_in().await;
    for _ in 0..47 {
        s.app.clock.advance(Duration::minutes(10));
        assert!(s.page(&cookie).await.is_some());
    }
    // 7 h 50 in: still live; at 8 h, over, however busy.
    s.app.clock.advance(Duration::minutes(10));
    let reply = s.get("/espace", Some(&cookie)).await;
    assert_eq!((reply.status(), location(&reply)), (StatusCode::SEE_OTHER, "/connexion".to_owned()));
    assert!(set_cookie(&reply).is_some_and(|c| c.contains("Max-Age=0")), "the stale cookie is cleared");
}

async fn sign_out_revokes_the_session(s: Served) {
    let cookie = s.sign_in().await;
    let other = s.sign_in().await;
    let csrf = s.page(&cookie).await.expect("signed in")["csrf"].as_str().expect("token").to_owned();
    let out = s.sign_out(&cookie, &[("csrf", &csrf)], Some(&s.base)).await;
    assert_eq!((out.status(), location(&out)), (StatusCode::SEE_OTHER, "/".to_owned()));
    assert!(set_cookie(&out).is_some_and(|c| c.starts_with("carnet_session=;") && c.contains("Max-Age=0")));
    assert_eq!(s.page(&cookie).await, None, "the old cookie no longer works");
    assert!(s.page(&other).await.is_some(), "another session of the same person is its own");
    // Purged by the sweep.
    let report = s.app.carnet.sweep().await.expect("sweep");
    assert_eq!(report.sessions_purged, 1);
}

async fn a_form_without_its_csrf_token_or_from_elsewhere_changes_nothing(s: Served) {
    let cookie = s.sign_in().await;
    let csrf = s.page(&cookie).await.expect("signed in")["csrf"].as_str().expect("token").to_owned();
    let other = s.sign_in().await;
    let others_csrf = s.page(&other).await.expect("signed in")["csrf"].as_str().expect("token").to_owned();
    for (form, origin) in [
        (vec![], Some(s.base.as_str())),
        (vec![("csrf", "")], Some(s.base.as_str())),
        (vec![("csrf", others_csrf.as_str())], Some(s.base.as_str())),
        (vec![("csrf", csrf.as_str())], Some("http://evil.example")),
    ] {
        let reply = s.sign_out(&cookie, &form, origin).await;
        assert_eq!(reply.status(), StatusCode::FORBIDDEN, "{form:?} {origin:?}");
        assert!(set_cookie(&reply).is_none());
        assert!(reply.text().await.expect("page").contains("rien n’a été modifié"));
        assert!(s.page(&cookie).await.is_some(), "still signed in");
    }
    let cross_site =
        s.http.post(s.url("/deconnexion")).header(COOKIE, &cookie).header("sec-fetch-site", "cross-site").form(&[("csrf", &csrf)]);
    assert_eq!(cross_site.send().await.expect("post").status(), StatusCode::FORBIDDEN);
    assert!(s.page(&cookie).await.is_some(), "still signed in");
}

async fn a_tampered_authorization_opens_no_session(s: Served) {
    // Another nonce in the ID token than the one this sign-in kept (a token injected from
    // another sign-in), another PKCE challenge than the verifier kept here (a code stolen).
    let swap = |name: &'static str, value: &'static str| {
        move |form: &mut Vec<(String, String)>| {
            for (k, v) in form.iter_mut() {
                if k == name {
                    *v = value.to_owned();
                }
            }
        }
    };
    let other_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    for back in [
        s.through_the_provider_with(swap("nonce", "un-autre-nonce")).await,
        s.through_the_provider_with(swap("code_challenge", other_challenge)).await,
    ] {
        let reply = s.get(&back, None).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
        assert!(set_cookie(&reply).is_none());
    }
    assert_eq!(
        carnet_store::SessionStore::purge_sessions(&s.app.db, carnet_domain::Clock::now(s.app.clock.as_ref()) + Duration::days(1))
            .await
            .expect("purge"),
        0,
        "no session was opened"
    );
}

#[tokio::test]
async fn behind_tls_the_cookie_is_host_bound_and_secure() {
    let s = Served::start_with(Backend::Sqlite, true).await;
    let back = s.through_the_provider().await;
    let done = s.get(&back, None).await;
    let set = set_cookie(&done).expect("cookie");
    assert!(set.starts_with("__Host-carnet_session="), "{set}");
    let flags: Vec<&str> = set.split(';').skip(1).map(str::trim).collect();
    assert_eq!(flags, ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"], "no Domain: bound to this origin");
    let pair = set.split(';').next().expect("pair");
    assert!(s.page(pair).await.is_some());
    let plain = pair.replacen("__Host-carnet_session", PLAIN_COOKIE, 1);
    assert_eq!(s.page(&plain).await, None, "the plain name is not accepted behind TLS");
}

#[tokio::test]
async fn the_dev_provider_takes_no_choice_posted_from_another_site() {
    let s = Served::start(Backend::Sqlite).await;
    let start = s.get("/connexion", None).await;
    let authorize = location(&start);
    let query = authorize.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
    let mut form: Vec<(String, String)> = serde_urlencoded::from_str(&query).expect("query");
    form.push(("person".into(), "0".into()));
    let forged = s.http.post(s.url("/dev-issuer/authorize")).header(ORIGIN, "http://evil.example").form(&form).send().await.expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers().get(LOCATION).is_none(), "no code handed out");
    let cross = s.http.post(s.url("/dev-issuer/authorize")).header("sec-fetch-site", "cross-site").form(&form).send().await.expect("post");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let same = s.http.post(s.url("/dev-issuer/authorize")).header(ORIGIN, &s.base).form(&form).send().await.expect("post");
    assert_eq!(same.status(), StatusCode::SEE_OTHER);
}

async fn abandoned_sign_ins_are_purged_by_later_ones(s: Served) {
    let now = || carnet_domain::Clock::now(s.app.clock.as_ref());
    for _ in 0..3 {
        assert_eq!(s.get("/connexion", None).await.status(), StatusCode::SEE_OTHER);
    }
    s.app.clock.advance(carnet_service::SIGN_IN_LIFETIME + Duration::minutes(1));
    assert_eq!(s.get("/connexion", None).await.status(), StatusCode::SEE_OTHER);
    // The three abandoned ones went with that start; only the last remains, not yet expired.
    assert_eq!(carnet_store::SessionStore::purge_sessions(&s.app.db, now()).await.expect("purge"), 0);
    assert_eq!(carnet_store::SessionStore::purge_sessions(&s.app.db, now() + carnet_service::SIGN_IN_LIFETIME).await.expect("purge"), 1);
}

async fn a_sign_in_refused_at_the_provider_opens_no_session(s: Served) {
    let start = s.get("/connexion", None).await;
    let authorize = location(&start);
    let query = authorize.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&query).expect("query");
    let state = params.into_iter().find(|(k, _)| k == "state").map(|(_, v)| v).expect("state");
    let refused = format!("/connexion/retour?error=access_denied&state={state}");
    let reply = s.get(&refused, None).await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&reply).is_none());
    assert!(reply.text().await.expect("page").contains("refusée ou annulée"));
    // Its state is spent: the same answer again is a replay.
    let again = s.get(&refused, None).await;
    assert!(again.text().await.expect("page").contains("a expiré ou a déjà servi"));
}

// ---- Against a real provider: npm oidc-provider (tests/oidc) ----

struct NodeProvider {
    child: std::process::Child,
    issuer: String,
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node_provider(portal_redirect: &str, patient_ins: &str) -> NodeProvider {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc");
    assert!(dir.join("node_modules/oidc-provider").exists(), "oidc-provider is not installed: run scripts/test (npm ci in tests/oidc)");
    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portal-signin-provider.log");
    let mut child = std::process::Command::new("node")
        .arg("provider.mjs")
        .env("CARNET_OIDC_PORTAL_REDIRECT", portal_redirect)
        .env("CARNET_OIDC_PATIENT_INS", patient_ins)
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).map(std::process::Stdio::from).unwrap_or_else(|_| std::process::Stdio::null()))
        .spawn()
        .expect("node runs");
    let (line, mut stdout) = ready_line(child.stdout.take().expect("stdout"));
    let issuer = line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("provider did not start: {line:?}")).to_owned();
    // Keep reading: a closed pipe would end the provider at its next warning.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    NodeProvider { child, issuer }
}

/// A browser's cookie jar for one origin, by hand (names and values only).
#[derive(Default)]
struct Jar(std::collections::BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, reply: &reqwest::Response) {
        for set in reply.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            if let Some((name, value)) = set.split(';').next().and_then(|p| p.split_once('=')) {
                if value.is_empty() || set.to_ascii_lowercase().contains("expires=thu, 01 jan 1970") {
                    self.0.remove(name.trim());
                } else {
                    self.0.insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_signs_in_through_oidc_provider() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let redirect_url = format!("{base}/connexion/retour");
    let patient = ins(7);
    let provider = start_node_provider(&redirect_url, &patient.to_string());
    let issuer = provider.issuer.clone();
    let app = TestApp::with_portal(Backend::Sqlite, ServiceConfig::default(), |_| {
        let client = PortalClient {
            issuer,
            client_id: "carnet-portail".into(),
            client_secret: Some("carnet-portail-test-secret".into()),
            redirect_url: redirect_url.clone(),
            extra_scopes: vec!["carnet".into()],
        };
        Portal::new(SessionCookies { secure: false, origin: Some(base.clone()) }, Some(client), None)
    })
    .await;
    // The provider's ID tokens carry the real time.
    app.clock.set(time::OffsetDateTime::now_utc());
    let router = app.router.clone().merge(Router::new().route("/espace", get(page)).with_state(app.state.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    // Carnet → the provider's login and consent pages (its cookies kept) → back to Carnet.
    let start = http.get(format!("{base}/connexion")).send().await.expect("start");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let mut url = location(&start);
    assert!(url.starts_with(&provider.issuer), "{url}");
    let mut jar = Jar::default();
    let (mut logged_in, mut consented) = (false, false);
    for _ in 0..12 {
        if url.starts_with(&redirect_url) {
            break;
        }
        let reply = http.get(&url).header(COOKIE, jar.header()).send().await.expect("provider");
        jar.take(&reply);
        let next = match reply.status() {
            StatusCode::SEE_OTHER | StatusCode::FOUND => location(&reply),
            StatusCode::OK => {
                let html = reply.text().await.expect("page");
                let uid = url.rsplit('/').next().expect("interaction uid").to_owned();
                let (action, form): (_, Vec<(&str, &str)>) = if html.contains("/login\"") {
                    logged_in = true;
                    ("login", vec![("login", "patient-demo")])
                } else {
                    assert!(html.contains("Ouvrir votre espace Carnet"), "the consent page names the portal's claims: {html}");
                    consented = true;
                    ("confirm", vec![])
                };
                let posted = http
                    .post(format!("{}/interaction/{uid}/{action}", provider.issuer))
                    .header(COOKIE, jar.header())
                    .form(&form)
                    .send()
                    .await
                    .expect("post");
                jar.take(&posted);
                assert!(posted.status().is_redirection(), "{action}: {}", posted.status());
                location(&posted)
            }
            other => panic!("provider answered {other} at {url}"),
        };
        url = if next.starts_with('/') { format!("{}{next}", provider.issuer) } else { next };
    }
    assert!(logged_in && consented && url.starts_with(&redirect_url), "{url}");

    let done = http.get(&url).send().await.expect("callback");
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "{:?}", done.text().await);
    assert_eq!(location(&done), "/");
    let cookie = set_cookie(&done).expect("session cookie").split(';').next().expect("pair").to_owned();
    let page = http.get(format!("{base}/espace")).header(COOKIE, &cookie).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&page.text().await.expect("body")).expect("json");
    let actor: carnet_domain::Actor = serde_json::from_value(body["actor"].clone()).expect("actor");
    assert_eq!(actor.kind, ActorKind::Patient { ins: patient });
    assert_eq!((actor.issuer.as_str(), actor.subject.as_str()), (provider.issuer.as_str(), "patient-demo"));
    assert_eq!((actor.scopes, actor.client), (Scopes::RoleOnly, None));

    // The provider's code, replayed through Carnet: refused, no session.
    let replay = http.get(&url).send().await.expect("replay");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&replay).is_none());
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
