//! Token verification against keys made by a tool we did not write (`openssl`), served the ways
//! real issuers serve them (in-memory, JWKS file, OIDC discovery). Every accept and every deny.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carnet_auth::{AuthError, DevIssuer, TokenClaims, TokenVerifier, TrustedIssuer};
use carnet_domain::{Ins, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
const ISS: &str = "https://idp.test/realms/health";

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A key pair made by openssl: the private PEM and the public JWK.
struct Key {
    pem: Vec<u8>,
    jwk: Value,
    alg: Algorithm,
}

fn rsa_key(dir: &Path, kid: &str) -> Key {
    openssl(dir, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"]);
    let pem = std::fs::read(dir.join("rsa.pem")).expect("pem");
    let modulus = String::from_utf8(openssl(dir, &["rsa", "-in", "rsa.pem", "-noout", "-modulus"])).expect("ascii");
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
    let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode(bytes), "e": "AQAB"});
    Key { pem, jwk, alg: Algorithm::RS256 }
}

fn ec_key(dir: &Path, kid: &str) -> Key {
    openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"]);
    let pem = std::fs::read(dir.join("ec.pem")).expect("pem");
    let der = openssl(dir, &["pkey", "-in", "ec.pem", "-pubout", "-outform", "DER"]);
    let point = &der[der.len() - 64..]; // SubjectPublicKeyInfo ends with 04 || x || y
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..])});
    Key { pem, jwk, alg: Algorithm::ES256 }
}

fn sign(key: &Key, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = key.jwk["kid"].as_str().map(str::to_owned);
    let encoding = match key.alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&key.pem),
        _ => EncodingKey::from_ec_pem(&key.pem),
    }
    .expect("encoding key");
    jsonwebtoken::encode(&header, claims, &encoding).expect("sign")
}

fn professional_claims() -> Value {
    json!({
        "iss": ISS, "sub": "dr-who", "aud": ["carnet", "other"], "iat": NOW.unix_timestamp(),
        "exp": NOW.unix_timestamp() + 300, "carnet_role": "professional",
        "rpps": carnet_domain::Rpps::from_body("1000000001").expect("valid").to_string(), "profession": "10",
        "scope": "openid user/DocumentReference.rs",
    })
}

fn trusted(keys: &[&Key]) -> TrustedIssuer {
    TrustedIssuer {
        issuer: ISS.into(),
        audience: "carnet".into(),
        jwks_file: None,
        jwks_url: None,
        jwks: serde_json::from_value(json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})).ok(),
    }
}

async fn verifier(issuers: Vec<TrustedIssuer>) -> TokenVerifier {
    TokenVerifier::new(issuers, Duration::from_secs(60)).await.expect("verifier")
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_openssl_keys_are_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (rsa, ec) = (rsa_key(dir.path(), "rsa-1"), ec_key(dir.path(), "ec-1"));
    let v = verifier(vec![trusted(&[&rsa, &ec])]).await;
    for key in [&rsa, &ec] {
        let actor = v.verify(&sign(key, &professional_claims()), NOW).await.unwrap_or_else(|e| panic!("{:?}: {e}", key.alg));
        assert_eq!(actor.role(), Role::Professional);
        assert_eq!(actor.issuer, ISS);
        assert_eq!(actor.scopes.len(), 2);
    }
}

#[tokio::test]
async fn every_bad_token_is_refused_for_its_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (rsa, ec) = (rsa_key(dir.path(), "rsa-1"), ec_key(dir.path(), "ec-1"));
    let v = verifier(vec![trusted(&[&rsa])]).await;
    let with = |patch: Value| {
        let mut c = professional_claims();
        if let (Some(m), Value::Object(p)) = (c.as_object_mut(), patch) {
            m.extend(p);
        }
        c
    };
    let now = NOW.unix_timestamp();

    // Dates: expiry and not-before, with the 60 s leeway on both sides.
    let within = sign(&rsa, &with(json!({"exp": now - 30})));
    assert!(v.verify(&within, NOW).await.is_ok(), "expired 30 s ago is within leeway");
    let expired = sign(&rsa, &with(json!({"exp": now - 61})));
    assert!(matches!(v.verify(&expired, NOW).await, Err(AuthError::Expired)));
    let early = sign(&rsa, &with(json!({"nbf": now + 120})));
    assert!(matches!(v.verify(&early, NOW).await, Err(AuthError::NotYetValid)));
    let no_exp = {
        let mut c = professional_claims();
        c.as_object_mut().expect("object").remove("exp");
        sign(&rsa, &c)
    };
    assert!(matches!(v.verify(&no_exp, NOW).await, Err(AuthError::Claim { claim: "exp", .. })));

    // Audience and issuer.
    let wrong_aud = sign(&rsa, &with(json!({"aud": "someone-else"})));
    assert!(matches!(v.verify(&wrong_aud, NOW).await, Err(AuthError::Audience)));
    let other_iss = sign(&rsa, &with(json!({"iss": "https://evil.test"})));
    assert!(matches!(v.verify(&other_iss, NOW).await, Err(AuthError::UnknownIssuer)));

    // Signature: tampered payload, an untrusted key, a key of the wrong type for the alg.
    let good = sign(&rsa, &professional_claims());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
    payload["carnet_role"] = json!("operator");
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    assert!(matches!(v.verify(&parts.join("."), NOW).await, Err(AuthError::Signature)));
    let untrusted = rsa_key(dir.path(), "rsa-1"); // same kid, different key
    assert!(matches!(v.verify(&sign(&untrusted, &professional_claims()), NOW).await, Err(AuthError::Signature)));
    let unknown_kid = rsa_key(dir.path(), "rsa-2");
    assert!(matches!(v.verify(&sign(&unknown_kid, &professional_claims()), NOW).await, Err(AuthError::UnknownKey)));
    let ec_token = sign(&ec, &professional_claims()); // the issuer has no EC key
    assert!(matches!(v.verify(&ec_token, NOW).await, Err(AuthError::UnknownKey)));

    // Algorithms other than ES256/RS256, including HMAC with the public key and `none`.
    let hs = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &professional_claims(), &EncodingKey::from_secret(b"secret"))
        .expect("sign");
    assert!(matches!(v.verify(&hs, NOW).await, Err(AuthError::Algorithm(_))));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(professional_claims().to_string())
    );
    assert!(v.verify(&none, NOW).await.is_err(), "alg none is refused");
    for junk in ["", "abc", "a.b.c", "...."] {
        assert!(matches!(v.verify(junk, NOW).await, Err(AuthError::Malformed)), "{junk:?}");
    }

    // A valid signature over claims that break the contract.
    let bad_rpps = sign(&rsa, &with(json!({"rpps": "10000000010"})));
    let err = v.verify(&bad_rpps, NOW).await.expect_err("bad rpps");
    assert!(matches!(err, AuthError::Claim { claim: "rpps", .. }));
    assert!(err.www_authenticate().starts_with("Bearer realm=\"carnet\", error=\"invalid_token\""));
    assert!(!err.is_server_side());
}

#[tokio::test]
async fn keys_from_a_jwks_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rsa = rsa_key(dir.path(), "file-key");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, json!({"keys": [rsa.jwk]}).to_string()).expect("write");
    let issuer = TrustedIssuer { issuer: ISS.into(), audience: "carnet".into(), jwks_file: Some(path), jwks_url: None, jwks: None };
    let v = verifier(vec![issuer.clone()]).await;
    assert!(v.verify(&sign(&rsa, &professional_claims()), NOW).await.is_ok());

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{not json").expect("write");
    let bad = TrustedIssuer { jwks_file: Some(broken), ..issuer.clone() };
    assert!(matches!(TokenVerifier::new(vec![bad], Duration::from_secs(60)).await, Err(AuthError::Keys(_))));
    let missing = TrustedIssuer { jwks_file: Some(dir.path().join("nope.json")), ..issuer };
    assert!(matches!(TokenVerifier::new(vec![missing], Duration::from_secs(60)).await, Err(AuthError::Keys(_))));
}

/// A minimal OpenID provider: discovery document and a JWK set the test can rotate.
async fn start_provider(jwks: Arc<Mutex<Value>>) -> String {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let discovery = json!({"issuer": base, "jwks_uri": format!("{base}/certs")});
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(move || async move { axum::Json(discovery) }))
        .route("/certs", get(move || async move { axum::Json(jwks.lock().expect("lock").clone()) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn keys_by_oidc_discovery_with_rotation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (first, second) = (rsa_key(dir.path(), "k1"), ec_key(dir.path(), "k2"));
    let jwks = Arc::new(Mutex::new(json!({"keys": [first.jwk]})));
    let base = start_provider(jwks.clone()).await;
    let issuer = TrustedIssuer { issuer: base.clone(), audience: "carnet".into(), jwks_file: None, jwks_url: None, jwks: None };
    let v = verifier(vec![issuer]).await.with_refetch_after(Duration::ZERO);
    let claims = |_: &Key| {
        let mut c = professional_claims();
        c["iss"] = json!(base);
        c
    };
    assert!(v.verify(&sign(&first, &claims(&first)), NOW).await.is_ok(), "discovered keys");
    // The provider rotates: a token signed with the new key is accepted after a refetch.
    *jwks.lock().expect("lock") = json!({"keys": [second.jwk]});
    assert!(v.verify(&sign(&second, &claims(&second)), NOW).await.is_ok(), "rotated key");

    // An unreachable provider is our problem (503), not the caller's (401).
    let gone = TrustedIssuer { issuer: "http://127.0.0.1:9".into(), audience: "carnet".into(), jwks_file: None, jwks_url: None, jwks: None };
    let v = verifier(vec![gone]).await;
    let mut c = professional_claims();
    c["iss"] = json!("http://127.0.0.1:9");
    let err = v.verify(&sign(&first, &c), NOW).await.expect_err("unreachable");
    assert!(err.is_server_side(), "{err}");
}

#[tokio::test]
async fn the_dev_issuer_key_is_private_and_stable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dev = DevIssuer::load_or_create(dir.path()).expect("created");
    let path = dir.path().join("dev-issuer-key.pem");
    assert_eq!(std::fs::metadata(&path).expect("key file").permissions().mode() & 0o777, 0o600);
    let again = DevIssuer::load_or_create(dir.path()).expect("loaded");
    assert_eq!(dev.jwks(), again.jwks(), "the same key is reused");

    let ins = Ins::from_body("2690549588157").expect("valid");
    let claims = TokenClaims { sub: "p".into(), role: Role::Patient, ins: Some(ins.to_string()), ..TokenClaims::default() };
    let token = dev.mint(&claims, "carnet", time::Duration::minutes(5), NOW).expect("mint");
    let v = verifier(vec![again.trusted_issuer("carnet")]).await;
    assert!(v.verify(&token, NOW).await.expect("valid").speaks_for(&ins));
    assert!(matches!(v.verify(&token, NOW + time::Duration::minutes(7)).await, Err(AuthError::Expired)));
    let other_aud = verifier(vec![again.trusted_issuer("elsewhere")]).await;
    assert!(matches!(other_aud.verify(&token, NOW).await, Err(AuthError::Audience)));

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = DevIssuer::load_or_create(dir.path()).err().expect("a readable key is refused");
    assert!(refused.to_string().contains("chmod 600"), "{refused}");
}
