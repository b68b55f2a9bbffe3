//! Test support: keys made at test time by a tool we did not write (`openssl`), token signing,
//! and a minimal OpenID provider (discovery document + rotatable JWK set) on 127.0.0.1:0.
//! No key material is committed to the repository.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carnet_auth::{AuthError, JwksSource, TokenVerifier, TrustedIssuer};
use carnet_domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

pub const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
pub const ISS: &str = "https://idp.test/realms/health";
pub const AUD: &str = "carnet";

pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A key pair made by openssl: the private PEM and the public JWK.
#[derive(Clone)]
pub struct Key {
    pub pem: Vec<u8>,
    pub jwk: Value,
    pub alg: Algorithm,
}

impl Key {
    pub fn kid(&self) -> &str {
        self.jwk["kid"].as_str().expect("kid")
    }

    /// The same key published under another kid.
    pub fn with_kid(&self, kid: &str) -> Key {
        let mut k = self.clone();
        k.jwk["kid"] = json!(kid);
        k
    }

    pub fn encoding(&self) -> EncodingKey {
        match self.alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&self.pem),
            _ => EncodingKey::from_ec_pem(&self.pem),
        }
        .expect("encoding key")
    }
}

/// openssl prints a modulus in upper case; Carnet's hex reads lower case only.
fn hex_bytes(hex: &str) -> Vec<u8> {
    carnet_domain::hex::decode(&hex.to_ascii_lowercase()).expect("hex")
}

/// `openssl genpkey -algorithm RSA`, public part as JWK `n`/`e`.
pub fn rsa_key(bits: u32, kid: &str) -> Key {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", &format!("rsa_keygen_bits:{bits}"), "-out", "rsa.pem"]);
    let pem = std::fs::read(d.join("rsa.pem")).expect("pem");
    let modulus = String::from_utf8(openssl(d, &["rsa", "-in", "rsa.pem", "-noout", "-modulus"])).expect("ascii");
    let n = hex_bytes(modulus.trim().trim_start_matches("Modulus="));
    let text = String::from_utf8(openssl(d, &["rsa", "-in", "rsa.pem", "-noout", "-text"])).expect("ascii");
    assert!(text.contains("publicExponent: 65537 (0x10001)"), "openssl's default exponent");
    let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"});
    Key { pem, jwk, alg: Algorithm::RS256 }
}

/// `openssl genpkey -algorithm EC` on P-256, public point as JWK `x`/`y`.
pub fn ec_key(kid: &str) -> Key {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"]);
    let pem = std::fs::read(d.join("ec.pem")).expect("pem");
    let der = openssl(d, &["pkey", "-in", "ec.pem", "-pubout", "-outform", "DER"]);
    let point = &der[der.len() - 65..]; // SubjectPublicKeyInfo ends with 04 || x || y
    assert_eq!(point[0], 0x04, "uncompressed point");
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])});
    Key { pem, jwk, alg: Algorithm::ES256 }
}

/// The keys of a test binary, made once (RSA generation takes a moment).
pub struct Keys {
    pub rsa: Key,
    /// Another RSA key published under the same kid as `rsa`: a forger's key.
    pub rsa_forged: Key,
    pub rsa2: Key,
    pub ec: Key,
    pub ec2: Key,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa_key(2048, "rsa-1"),
        rsa_forged: rsa_key(2048, "rsa-1"),
        rsa2: rsa_key(2048, "rsa-2"),
        ec: ec_key("ec-1"),
        ec2: ec_key("ec-2"),
    })
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs with an explicit header (any `alg`, `kid`, `crit`…) using `key` with `alg`.
pub fn sign_raw(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}

/// A standard token: `alg` of the key, its `kid`, `typ` JWT.
pub fn sign(key: &Key, claims: &Value) -> String {
    let alg = format!("{:?}", key.alg);
    sign_raw(&json!({"alg": alg, "typ": "JWT", "kid": key.kid()}), claims, &key.encoding(), key.alg)
}

pub fn rpps() -> String {
    carnet_domain::Rpps::from_body("1000000001").expect("valid").to_string()
}

/// A médecin's claims for `ISS`/`AUD`, valid at `NOW`.
pub fn pro_claims() -> Value {
    json!({
        "iss": ISS, "sub": "dr-who", "aud": [AUD, "other-api"], "iat": NOW.unix_timestamp(),
        "exp": NOW.unix_timestamp() + 300, "carnet_role": "professional", "name": "Dr Who",
        "rpps": rpps(), "profession": "10", "scope": "openid user/DocumentReference.rs",
    })
}

/// `pro_claims()` with members replaced (a `null` removes one).
pub fn pro_with(patch: Value) -> Value {
    let mut c = pro_claims();
    let m = c.as_object_mut().expect("object");
    for (k, v) in patch.as_object().expect("object") {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    c
}

pub fn jwks_of(keys: &[&Key]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

pub fn static_issuer(keys: &[&Key]) -> TrustedIssuer {
    TrustedIssuer { issuer: ISS.into(), audience: AUD.into(), jwks: JwksSource::Static(jwks_of(keys)), unscoped_roles: Role::ALL.to_vec() }
}

pub async fn verifier(issuers: Vec<TrustedIssuer>) -> TokenVerifier {
    TokenVerifier::new(issuers, Duration::from_secs(60)).await.expect("verifier")
}

/// Verifies a token that must be refused, and checks the refusal leaks nothing of the token.
pub async fn refused(v: &TokenVerifier, token: &str) -> AuthError {
    let e = v.verify(token, NOW).await.expect_err("the token must be refused");
    let message = format!("{e} {}", e.www_authenticate());
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!message.contains(part), "the message echoes the token: {message}");
    }
    assert!(!message.contains("dr-who"), "the message echoes a claim: {message}");
    e
}

/// A minimal OpenID provider the test controls.
#[derive(Default)]
pub struct Provider {
    pub base: String,
    pub jwks: Mutex<Value>,
    /// The `issuer` its discovery document names (default: its own base URL).
    pub names_issuer: Mutex<Option<String>>,
    /// The status `/certs` answers with (200: the JWK set; otherwise an empty body).
    pub certs_status: AtomicU16,
    /// A body `/certs` answers with instead of the JWK set.
    pub certs_body: Mutex<Option<String>>,
    pub discovery_hits: AtomicUsize,
    pub certs_hits: AtomicUsize,
}

impl Provider {
    pub fn certs_hits(&self) -> usize {
        self.certs_hits.load(Ordering::SeqCst)
    }

    pub fn discovery_hits(&self) -> usize {
        self.discovery_hits.load(Ordering::SeqCst)
    }

    pub fn publish(&self, jwks: Value) {
        *self.jwks.lock().expect("lock") = jwks;
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/certs", self.base)
    }

    /// Claims issued by this provider.
    pub fn claims(&self) -> Value {
        pro_with(json!({"iss": self.base}))
    }

    pub fn trusted(&self, jwks: JwksSource) -> TrustedIssuer {
        TrustedIssuer { issuer: self.base.clone(), audience: AUD.into(), jwks, unscoped_roles: Role::ALL.to_vec() }
    }
}

pub async fn start_provider(jwks: Value) -> Arc<Provider> {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = Arc::new(Provider { base, jwks: Mutex::new(jwks), certs_status: AtomicU16::new(200), ..Provider::default() });
    async fn discovery(State(p): State<Arc<Provider>>) -> impl IntoResponse {
        p.discovery_hits.fetch_add(1, Ordering::SeqCst);
        let issuer = p.names_issuer.lock().expect("lock").clone().unwrap_or_else(|| p.base.clone());
        axum::Json(json!({"issuer": issuer, "jwks_uri": p.jwks_url(), "id_token_signing_alg_values_supported": ["RS256", "ES256"]}))
    }
    async fn certs(State(p): State<Arc<Provider>>) -> axum::response::Response {
        p.certs_hits.fetch_add(1, Ordering::SeqCst);
        let status = StatusCode::from_u16(p.certs_status.load(Ordering::SeqCst)).expect("status");
        if status != StatusCode::OK {
            return status.into_response();
        }
        if let Some(body) = p.certs_body.lock().expect("lock").clone() {
            return body.into_response();
        }
        axum::Json(p.jwks.lock().expect("lock").clone()).into_response()
    }
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/certs", get(certs))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    provider
}
