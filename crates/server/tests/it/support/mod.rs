//! `TestApp`: the whole HTTP stack over a fresh database (SQLite or PostgreSQL), a dev issuer
//! for tokens, and a clock the test moves.

#![allow(dead_code)]

pub mod fhir;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use carnet_auth::{DevIssuer, TokenClaims, TokenVerifier, TrustedIssuer};
use carnet_domain::{Finess, Ins, Profession, Role, Rpps};
use carnet_server::portal::signin::Portal;
use carnet_server::{AppState, BrowserAccess, HttpLimits, Metrics};
use carnet_service::{Carnet, ManualClock, ServiceConfig, Storage, StorageLocation};
use carnet_store::Database;
use http_body_util::BodyExt;
use serde_json::Value;
use time::macros::datetime;
use tower::ServiceExt;

pub const AUDIENCE: &str = "carnet";

pub struct TestApp {
    pub router: Router,
    /// What the router serves with: extra routes in a test take it too.
    pub state: AppState,
    pub carnet: Carnet,
    /// The metadata store under the service, for white-box checks (what is left at rest).
    pub db: Database,
    pub dev: DevIssuer,
    pub clock: Arc<ManualClock>,
    pub backend: Backend,
    /// The scratch PostgreSQL database's URL (PostgreSQL backend only).
    pub postgres_url: Option<String>,
    /// Shared with the nodes `another_node` makes.
    dir: Arc<tempfile::TempDir>,
}

/// A response whose body is kept as bytes (documents).
/// A signed-in browser: its session cookie and the token its forms carry.
pub struct PortalVisit {
    pub cookie: String,
    pub csrf: String,
}

pub struct RawReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    /// The body broke off with an error (the connection would be cut).
    pub broken: bool,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares one `#[tokio::test]` per backend for an `async fn(TestApp)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::support::TestApp::new(super::support::Backend::Sqlite).await).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { super::$name(super::support::TestApp::new(super::support::Backend::Postgres).await).await } )* }
    };
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        TestApp::with_limits(backend, HttpLimits::default()).await
    }

    pub async fn with_limits(backend: Backend, limits: HttpLimits) -> TestApp {
        TestApp::with_config(backend, limits, ServiceConfig::default()).await
    }

    pub async fn with_config(backend: Backend, limits: HttpLimits, config: ServiceConfig) -> TestApp {
        TestApp::build(backend, limits, config, None).await
    }

    /// The whole stack with blobs in the given store (default: files in the data directory).
    pub async fn build(backend: Backend, limits: HttpLimits, config: ServiceConfig, blobs: Option<carnet_store::BlobStore>) -> TestApp {
        TestApp::assemble(backend, limits, config, blobs, BrowserAccess::default(), vec![], Portal::default()).await
    }

    /// The whole stack with SMART discovery and CORS origins, trusting `issuers` besides the dev issuer.
    pub async fn with_browser(backend: Backend, browser: BrowserAccess, issuers: Vec<TrustedIssuer>) -> TestApp {
        TestApp::assemble(backend, HttpLimits::default(), ServiceConfig::default(), None, browser, issuers, Portal::default()).await
    }

    /// The whole stack with the portal's sign-in configured by `portal` (given the dev issuer,
    /// for a dev provider), and `config`.
    pub async fn with_portal(backend: Backend, config: ServiceConfig, portal: impl FnOnce(Arc<DevIssuer>) -> Portal) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let dev = Arc::new(DevIssuer::load_or_create(dir.path()).expect("dev issuer"));
        let portal = portal(dev);
        TestApp::assemble_in(dir, backend, HttpLimits::default(), config, None, BrowserAccess::default(), vec![], portal, None).await
    }

    /// The whole stack with its master keys in a PKCS#11 token.
    pub async fn with_pkcs11(backend: Backend, token: carnet_crypto::Pkcs11Config) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (limits, config) = (HttpLimits::default(), ServiceConfig::default());
        TestApp::assemble_in(dir, backend, limits, config, None, BrowserAccess::default(), vec![], Portal::default(), Some(token)).await
    }

    async fn assemble(
        backend: Backend,
        limits: HttpLimits,
        config: ServiceConfig,
        blobs: Option<carnet_store::BlobStore>,
        browser: BrowserAccess,
        issuers: Vec<TrustedIssuer>,
        portal: Portal,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        TestApp::assemble_in(dir, backend, limits, config, blobs, browser, issuers, portal, None).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn assemble_in(
        dir: tempfile::TempDir,
        backend: Backend,
        limits: HttpLimits,
        config: ServiceConfig,
        blobs: Option<carnet_store::BlobStore>,
        browser: BrowserAccess,
        mut issuers: Vec<TrustedIssuer>,
        portal: Portal,
        pkcs11: Option<carnet_crypto::Pkcs11Config>,
    ) -> TestApp {
        let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
        let (database_url, postgres_url) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("carnet.db").display()), None),
            Backend::Postgres => {
                let admin = std::env::var("CARNET_TEST_POSTGRES_URL")
                    .expect("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
                let url = carnet_store::conformance::scratch_postgres_url(&admin).await.expect("scratch database");
                (url.clone(), Some(url))
            }
        };
        let blobs = match blobs {
            Some(b) => b,
            None => carnet_store::BlobStore::local(&dir.path().join("blobs")).expect("blob store"),
        };
        let ledger_url = match &postgres_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", dir.path().join("ledger.db").display()),
        };
        let storage = Storage::open(StorageLocation {
            database_url,
            ledger_url,
            keys_dir: dir.path().join("keys"),
            pkcs11,
            blobs,
            ledger_clock: clock.clone(),
        })
        .await
        .expect("storage");
        let db = storage.db.clone();
        let carnet = Carnet::new(storage, clock.clone(), config);
        let dev = DevIssuer::load_or_create(dir.path()).expect("dev issuer");
        issuers.push(dev.trusted_issuer(AUDIENCE));
        let verifier = TokenVerifier::new(issuers, std::time::Duration::from_secs(60)).await.expect("verifier");
        let state = AppState {
            carnet: Arc::new(carnet.clone()),
            verifier,
            metrics: Metrics::new(),
            dev_jwks: Some(Arc::new(dev.jwks())),
            browser: Arc::new(browser),
            portal: Arc::new(portal),
        };
        let dir = Arc::new(dir);
        TestApp { router: carnet_server::router(state.clone(), &limits), state, carnet, db, dev, clock, backend, postgres_url, dir }
    }

    /// A second node of this installation, as a second `carnet serve` behind a load balancer:
    /// its own `Carnet` (own caches, own connections, own ledger writer) and token verifier, on
    /// the same database, ledger, master keys, local blobs, issuer and clock.
    pub async fn another_node(&self) -> TestApp {
        let sqlite = |file: &str| format!("sqlite://{}", self.dir.path().join(file).display());
        let (database_url, ledger_url) = match &self.postgres_url {
            Some(url) => (url.clone(), url.clone()),
            None => (sqlite("carnet.db"), sqlite("ledger.db")),
        };
        let storage = Storage::open(StorageLocation {
            database_url,
            ledger_url,
            keys_dir: self.dir.path().join("keys"),
            pkcs11: None,
            blobs: carnet_store::BlobStore::local(&self.dir.path().join("blobs")).expect("blob store"),
            ledger_clock: self.clock.clone(),
        })
        .await
        .expect("storage");
        let db = storage.db.clone();
        let carnet = Carnet::new(storage, self.clock.clone(), self.carnet.config().clone());
        let dev = DevIssuer::load_or_create(self.dir.path()).expect("dev issuer");
        let verifier = TokenVerifier::new(vec![dev.trusted_issuer(AUDIENCE)], std::time::Duration::from_secs(60)).await.expect("verifier");
        let state = AppState {
            carnet: Arc::new(carnet.clone()),
            verifier,
            metrics: Metrics::new(),
            dev_jwks: Some(Arc::new(dev.jwks())),
            browser: self.state.browser.clone(),
            portal: self.state.portal.clone(),
        };
        TestApp {
            router: carnet_server::router(state.clone(), &HttpLimits::default()),
            state,
            carnet,
            db,
            dev,
            clock: self.clock.clone(),
            backend: self.backend,
            postgres_url: self.postgres_url.clone(),
            dir: self.dir.clone(),
        }
    }

    /// A portal session of `person` (opened through the service, as the sign-in does): what
    /// its requests carry.
    pub async fn portal_session(&self, person: &carnet_domain::Actor) -> PortalVisit {
        let opened = self.carnet.open_session(person).await.expect("a session");
        PortalVisit { cookie: format!("{}={}", self.state.portal.cookies.name(), opened.id), csrf: opened.csrf_token }
    }

    /// A page as a browser asks for it, with `visit`'s cookie.
    pub async fn page(&self, path: &str, visit: &PortalVisit) -> Reply {
        let req = Request::builder()
            .uri(path)
            .header("cookie", &visit.cookie)
            .header("accept", "text/html")
            .body(Body::empty())
            .expect("request");
        self.send(req).await
    }

    /// A form posted from one of the portal's own pages (its CSRF token added).
    pub async fn submit(&self, path: &str, visit: &PortalVisit, fields: &[(&str, &str)]) -> Reply {
        let mut all: Vec<(&str, &str)> = vec![("csrf", visit.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, visit, &all).await
    }

    /// A form posted from the portal's own origin with exactly `fields` (no token added).
    pub async fn post_form(&self, path: &str, visit: &PortalVisit, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).expect("a form");
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("cookie", &visit.cookie)
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    /// The data directory: SQLite files, blobs, keys.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn token(&self, claims: TokenClaims) -> String {
        self.dev.mint(&claims, AUDIENCE, time::Duration::hours(1), carnet_domain::Clock::now(self.clock.as_ref())).expect("mint")
    }

    pub fn patient(&self, ins: &Ins) -> String {
        self.token(TokenClaims { sub: format!("p-{ins}"), role: Role::Patient, ins: Some(ins.to_string()), ..Default::default() })
    }

    pub fn representative(&self, of: &Ins) -> String {
        self.token(TokenClaims {
            sub: format!("r-{of}"),
            role: Role::Representative,
            represents: vec![of.to_string()],
            ..Default::default()
        })
    }

    pub fn professional(&self, n: u32, profession: Profession) -> String {
        self.token(TokenClaims {
            sub: format!("pro-{n}"),
            role: Role::Professional,
            rpps: Some(rpps(n).to_string()),
            profession: Some(profession.code().into()),
            finess: Some(finess(n).to_string()),
            ..Default::default()
        })
    }

    pub fn role(&self, role: Role) -> String {
        self.token(TokenClaims { sub: format!("{role:?}"), role, ..Default::default() })
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body, raw }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Deposits a document over `/api` as multipart: `metadata` then `content`.
    pub async fn upload(&self, ins: &Ins, token: &str, metadata: Value, content: &[u8]) -> Reply {
        let (boundary, body) = multipart(&metadata, content, "application/pdf");
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/records/{ins}/documents"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    /// A GET whose body is kept as bytes, with extra headers (e.g. `Range`).
    pub async fn get_raw(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> RawReply {
        let mut req = Request::builder().method(Method::GET).uri(path).header("authorization", format!("Bearer {token}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self.router.clone().oneshot(req.body(Body::empty()).expect("request")).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        // Frame by frame, so what arrived before a break is kept.
        let mut body = res.into_body();
        let (mut bytes, mut broken) = (Vec::new(), false);
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => bytes.extend_from_slice(f.data_ref().map(|d| d.as_ref()).unwrap_or_default()),
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        RawReply { status, headers, bytes, broken }
    }

    /// Creates an active record with a qualified identity, as an insurer agent would.
    pub async fn open_record(&self, ins: &Ins) {
        let reply = self.post("/api/records", &self.role(Role::InsurerAgent), new_record(ins)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    }
}

/// A multipart/form-data body with a JSON `metadata` part and a `content` part.
pub fn multipart(metadata: &Value, content: &[u8], content_type: &str) -> (String, Vec<u8>) {
    let boundary = "carnet-test-boundary-7d1f0c";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"doc\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary.to_owned(), body)
}

/// Metadata of a biology report, with a unique id derived from `n`.
pub fn lab_report(n: u32) -> Value {
    serde_json::json!({
        "unique_id": format!("1.2.250.1.999.1.1.{n}"),
        "type_code": "11502-2",
        "format_code": "urn:ihe:iti:xds-sd:pdf:2008",
        "title": format!("Bilan sanguin {n}"),
        "authored_at": "2026-03-01T08:30:00Z",
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    carnet_domain::hex::encode(&sha2::Sha256::digest(bytes))
}

pub fn ins(n: u32) -> Ins {
    Ins::from_body(&format!("2{:02}{:02}75{:06}", 60 + n % 40, 1 + n % 12, n)).expect("valid INS body")
}

pub fn rpps(n: u32) -> Rpps {
    Rpps::from_body(&format!("1{n:09}")).expect("digits")
}

pub fn finess(n: u32) -> Finess {
    Finess::from_body(&format!("{:08}", 75_000_000 + n)).expect("digits")
}

pub fn new_record(ins: &Ins) -> Value {
    serde_json::json!({
        "ins": ins.to_string(),
        "identity_status": "qualifiee",
        "birth_name": "MARTIN",
        "birth_given_names": "Jeanne",
        "birth_date": "1984-12-01",
        "sex": "F",
        "birthplace": "75056",
    })
}

/// Asserts a problem-details error with this status whose detail contains `needle`.
pub fn assert_problem(reply: &Reply, status: StatusCode, needle: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.raw);
    assert_eq!(reply.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    assert_eq!(reply.body["status"], status.as_u16());
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "detail {detail:?} should mention {needle:?}");
}
