//! `TestApp`: the whole HTTP stack over a fresh database (SQLite or PostgreSQL), a dev issuer
//! for tokens, and a clock the test moves.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use carnet_auth::{DevIssuer, TokenClaims, TokenVerifier};
use carnet_domain::{Finess, Ins, Profession, Role, Rpps};
use carnet_server::{AppState, HttpLimits, Metrics};
use carnet_service::{Carnet, ManualClock, ServiceConfig};
use carnet_store::Database;
use http_body_util::BodyExt;
use serde_json::Value;
use time::macros::datetime;
use tower::ServiceExt;

pub const AUDIENCE: &str = "carnet";

pub struct TestApp {
    pub router: Router,
    pub carnet: Carnet,
    pub dev: DevIssuer,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().expect("temp dir");
        let db = match backend {
            Backend::Sqlite => Database::connect(&format!("sqlite://{}", dir.path().join("carnet.db").display()))
                .await
                .expect("sqlite"),
            Backend::Postgres => {
                let admin = std::env::var("CARNET_TEST_POSTGRES_URL")
                    .expect("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
                carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database").0
            }
        };
        let clock = Arc::new(ManualClock::new(datetime!(2026-03-02 09:00 UTC)));
        let carnet = Carnet::new(db, clock.clone(), ServiceConfig::default());
        let dev = DevIssuer::load_or_create(dir.path()).expect("dev issuer");
        let verifier = TokenVerifier::new(vec![dev.trusted_issuer(AUDIENCE)], std::time::Duration::from_secs(60))
            .await
            .expect("verifier");
        let state = AppState {
            carnet: carnet.clone(),
            verifier,
            metrics: Metrics::new(),
            dev_jwks: Some(Arc::new(dev.jwks())),
        };
        TestApp { router: carnet_server::router(state, &limits), carnet, dev, clock, _dir: dir }
    }

    pub fn token(&self, claims: TokenClaims) -> String {
        self.dev
            .mint(&claims, AUDIENCE, time::Duration::hours(1), carnet_domain::Clock::now(self.clock.as_ref()))
            .expect("mint")
    }

    pub fn patient(&self, ins: &Ins) -> String {
        self.token(TokenClaims { sub: format!("p-{ins}"), role: Role::Patient, ins: Some(ins.to_string()), ..Default::default() })
    }

    pub fn representative(&self, of: &Ins) -> String {
        self.token(TokenClaims { sub: format!("r-{of}"), role: Role::Representative, represents: vec![of.to_string()], ..Default::default() })
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
