//! Where keys come from: a JWKS file (read at start), a JWKS URL and OIDC discovery (fetched
//! lazily from a small provider on 127.0.0.1, refetched on key rotation at most once per
//! interval), and every way that can go wrong.

use crate::support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use carnet_auth::{AuthError, JwksSource, TokenVerifier, TrustedIssuer};
use serde_json::json;
use support::*;

async fn new(issuers: Vec<TrustedIssuer>) -> Result<TokenVerifier, AuthError> {
    TokenVerifier::new(issuers, Duration::from_secs(60)).await
}

fn file_issuer(path: std::path::PathBuf) -> TrustedIssuer {
    TrustedIssuer { issuer: ISS.into(), audience: AUD.into(), jwks: JwksSource::File(path), unscoped_roles: vec![] }
}

// ---------------------------------------------------------------- JWKS file

#[tokio::test]
async fn keys_from_a_jwks_file() {
    let k = keys();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks_of(&[&k.rsa, &k.ec]).to_string()).expect("write");
    let v = new(vec![file_issuer(path.clone())]).await.expect("verifier");
    assert!(v.verify(&sign(&k.rsa, &pro_claims()), NOW).await.is_ok());
    assert!(v.verify(&sign(&k.ec, &pro_claims()), NOW).await.is_ok());
    // Read once, at start: a later change of the file does not matter.
    std::fs::write(&path, "garbage").expect("write");
    assert!(v.verify(&sign(&k.rsa, &pro_claims()), NOW).await.is_ok());
    assert!(matches!(v.verify(&sign(&k.rsa2, &pro_claims()), NOW).await, Err(AuthError::UnknownKey)), "a file is not refetched");
}

#[tokio::test]
async fn an_unusable_jwks_file_fails_at_start() {
    let k = keys();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut enc = k.rsa.jwk.clone();
    enc["use"] = json!("enc");
    let mut private = k.ec.jwk.clone();
    private["d"] = json!("AAAA");
    let short = rsa_key(1024, "short");
    let cases = [
        ("missing.json", None),
        ("not-json.json", Some("{not json".to_owned())),
        ("not-a-set.json", Some(json!([k.rsa.jwk]).to_string())),
        ("empty.json", Some(json!({"keys": []}).to_string())),
        ("enc-only.json", Some(json!({"keys": [enc]}).to_string())),
        ("private.json", Some(json!({"keys": [private, k.rsa.jwk]}).to_string())),
        ("short-rsa.json", Some(jwks_of(&[&short, &k.ec]).to_string())),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        if let Some(content) = content {
            std::fs::write(&path, content).expect("write");
        }
        let e = new(vec![file_issuer(path)]).await.expect_err(name);
        assert!(matches!(e, AuthError::Keys(_)), "{name}: {e:?}");
        assert!(e.is_server_side());
        assert!(e.to_string().contains(name), "the message names the file: {e}");
        assert!(!e.to_string().contains("AAAA"), "no key material: {e}");
    }
}

// ---------------------------------------------------------------- configuration

#[tokio::test]
async fn bad_issuer_entries_fail_at_start() {
    let k = keys();
    let entry = |issuer: &str, audience: &str, jwks: JwksSource| TrustedIssuer {
        issuer: issuer.into(),
        audience: audience.into(),
        jwks,
        unscoped_roles: vec![],
    };
    let cases = [
        vec![entry("https://idp.example.org", AUD, JwksSource::Url("http://idp.example.org/certs".into()))],
        vec![entry("https://idp.example.org", AUD, JwksSource::Url("file:///etc/jwks.json".into()))],
        vec![entry("https://idp.example.org", AUD, JwksSource::Url("certs".into()))],
        vec![entry("http://idp.example.org", AUD, JwksSource::Discover)],
        vec![entry("urn:carnet:dev-issuer", AUD, JwksSource::Discover)],
        vec![entry(ISS, AUD, JwksSource::Static(json!({"keys": "none"})))],
        vec![entry(ISS, "", JwksSource::Static(jwks_of(&[&k.ec])))],
        vec![entry("", AUD, JwksSource::Static(jwks_of(&[&k.ec])))],
        vec![static_issuer(&[&k.ec]), static_issuer(&[&k.rsa])],
    ];
    for issuers in cases {
        let described = format!("{issuers:?}");
        assert!(matches!(new(issuers).await, Err(AuthError::Keys(_))), "{described}");
    }
    // Loopback http and https are fine (nothing is fetched at start).
    let fine = vec![
        entry("https://idp.example.org", AUD, JwksSource::Discover),
        entry("https://b.example.org", AUD, JwksSource::Url("https://b.example.org/certs".into())),
        entry("http://127.0.0.1:1", AUD, JwksSource::Discover),
        entry("http://localhost:1", AUD, JwksSource::Url("http://localhost:1/certs".into())),
    ];
    assert!(new(fine).await.is_ok());
}

// ---------------------------------------------------------------- JWKS URL and discovery

#[tokio::test]
async fn keys_from_a_jwks_url_are_fetched_on_first_use() {
    let k = keys();
    let p = start_provider(jwks_of(&[&k.rsa, &k.ec])).await;
    let v = new(vec![p.trusted(JwksSource::Url(p.jwks_url()))]).await.expect("verifier");
    assert_eq!(p.certs_hits(), 0, "lazy: nothing fetched at start");
    assert!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await.is_ok());
    assert!(v.verify(&sign(&k.ec, &p.claims()), NOW).await.is_ok());
    assert_eq!((p.discovery_hits(), p.certs_hits()), (0, 1), "fetched once, no discovery");
    // The clones share the cache.
    let clone = v.clone();
    assert!(clone.verify(&sign(&k.ec, &p.claims()), NOW).await.is_ok());
    assert_eq!(p.certs_hits(), 1);
}

#[tokio::test]
async fn keys_by_oidc_discovery() {
    let k = keys();
    let p = start_provider(jwks_of(&[&k.rsa])).await;
    let v = new(vec![p.trusted(JwksSource::Discover)]).await.expect("verifier");
    let actor = v.verify(&sign(&k.rsa, &p.claims()), NOW).await.expect("discovered keys");
    assert_eq!(actor.issuer, p.base);
    assert_eq!((p.discovery_hits(), p.certs_hits()), (1, 1));
    // Signature, audience and dates are still checked with discovered keys.
    assert!(matches!(v.verify(&sign(&k.rsa_forged, &p.claims()), NOW).await, Err(AuthError::Signature)));
    let mut other_aud = p.claims();
    other_aud["aud"] = json!("other-api");
    assert!(matches!(v.verify(&sign(&k.rsa, &other_aud), NOW).await, Err(AuthError::Audience)));
}

#[tokio::test]
async fn key_rotation_is_picked_up_by_a_refetch() {
    let k = keys();
    let p = start_provider(jwks_of(&[&k.rsa])).await;
    let v = new(vec![p.trusted(JwksSource::Discover)]).await.expect("verifier").with_refetch_after(Duration::from_secs(1));
    assert!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await.is_ok());

    // The provider rotates to a new key (another type, too); the old one is withdrawn.
    p.publish(jwks_of(&[&k.ec]));
    assert!(
        matches!(v.verify(&sign(&k.ec, &p.claims()), NOW).await, Err(AuthError::UnknownKey)),
        "within the refetch interval the set is not fetched again"
    );
    assert_eq!(p.certs_hits(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(v.verify(&sign(&k.ec, &p.claims()), NOW).await.is_ok(), "the new kid triggers a refetch");
    assert_eq!(p.certs_hits(), 2);
    assert!(matches!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await, Err(AuthError::UnknownKey)), "the withdrawn key is gone");
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let k = keys();
    let p = start_provider(jwks_of(&[&k.rsa])).await;
    let made_up = |i: usize| sign(&k.rsa.with_kid(&format!("made-up-{i}")), &p.claims());

    // Default interval, 60 s: right after the first fetch, made-up kids fetch nothing.
    let v = new(vec![p.trusted(JwksSource::Discover)]).await.expect("verifier");
    assert!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await.is_ok());
    assert_eq!(p.certs_hits(), 1);
    for i in 0..5 {
        assert!(matches!(v.verify(&made_up(i), NOW).await, Err(AuthError::UnknownKey)));
    }
    assert_eq!(p.certs_hits(), 1, "no refetch within 60 s");

    // Once the interval has passed, a concurrent burst of made-up kids costs one fetch.
    let v = new(vec![p.trusted(JwksSource::Discover)]).await.expect("verifier").with_refetch_after(Duration::from_secs(1));
    assert!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await.is_ok());
    assert_eq!(p.certs_hits(), 2);
    p.publish(jwks_of(&[&k.rsa, &k.rsa2]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (v, token) = (v.clone(), made_up(i));
            tokio::spawn(async move { v.verify(&token, NOW).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.expect("task"), Err(AuthError::UnknownKey)));
    }
    assert_eq!(p.certs_hits(), 3, "one refetch for the whole burst");
    // That refetch brought rsa-2: a token with it needs no further fetch; known keys never do.
    assert!(v.verify(&sign(&k.rsa2, &p.claims()), NOW).await.is_ok());
    assert!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await.is_ok());
    assert!(matches!(v.verify(&made_up(99), NOW).await, Err(AuthError::UnknownKey)));
    assert_eq!(p.certs_hits(), 3);
}

// ---------------------------------------------------------------- failures are server side

#[tokio::test]
async fn an_unreachable_issuer_is_a_server_side_error() {
    let k = keys();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let issuer = format!("http://127.0.0.1:{port}");
    let v = new(vec![TrustedIssuer { issuer: issuer.clone(), audience: AUD.into(), jwks: JwksSource::Discover, unscoped_roles: vec![] }])
        .await
        .expect("verifier");
    let token = sign(&k.rsa, &pro_with(json!({"iss": issuer})));
    let e = v.verify(&token, NOW).await.expect_err("unreachable");
    assert!(matches!(e, AuthError::Fetch(_)) && e.is_server_side(), "{e:?}");
    assert!(!e.www_authenticate().contains("127.0.0.1"), "internal detail stays in the logs");
    // Right after a failure, requests fail fast instead of queueing on the network.
    let started = Instant::now();
    assert!(v.verify(&token, NOW).await.expect_err("still down").is_server_side());
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_failing_jwks_endpoint_is_a_server_side_error() {
    let k = keys();
    let p = start_provider(jwks_of(&[&k.rsa])).await;
    let v = new(vec![p.trusted(JwksSource::Url(p.jwks_url()))]).await.expect("verifier").with_refetch_after(Duration::ZERO);
    let token = sign(&k.rsa, &p.claims());
    p.certs_status.store(500, Ordering::SeqCst);
    assert!(matches!(v.verify(&token, NOW).await, Err(AuthError::Fetch(m)) if m.contains("500")));
    p.certs_status.store(200, Ordering::SeqCst);
    *p.certs_body.lock().expect("lock") = Some("<html>not json</html>".into());
    assert!(matches!(v.verify(&token, NOW).await, Err(AuthError::Fetch(m)) if m.contains("not JSON")));
    *p.certs_body.lock().expect("lock") = Some(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string());
    assert!(matches!(v.verify(&token, NOW).await, Err(AuthError::Fetch(m)) if m.contains("no usable key") && !m.contains("c2VjcmV0")));
    *p.certs_body.lock().expect("lock") = Some("x".repeat(2 * 1024 * 1024));
    assert!(matches!(v.verify(&token, NOW).await, Err(AuthError::Fetch(m)) if m.contains("larger than")));
    *p.certs_body.lock().expect("lock") = None;
    assert!(v.verify(&token, NOW).await.is_ok(), "recovers once the issuer does");
}

#[tokio::test]
async fn keys_already_fetched_survive_a_failed_refetch() {
    let k = keys();
    let p = start_provider(jwks_of(&[&k.rsa])).await;
    let v = new(vec![p.trusted(JwksSource::Discover)]).await.expect("verifier").with_refetch_after(Duration::ZERO);
    assert!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await.is_ok());
    p.certs_status.store(503, Ordering::SeqCst);
    assert!(v.verify(&sign(&k.rsa2, &p.claims()), NOW).await.expect_err("cannot refetch").is_server_side());
    assert!(v.verify(&sign(&k.rsa, &p.claims()), NOW).await.is_ok(), "the cached key still verifies");
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let k = keys();
    let p = start_provider(jwks_of(&[&k.rsa])).await;
    *p.names_issuer.lock().expect("lock") = Some("https://evil.example.org".into());
    let v = new(vec![p.trusted(JwksSource::Discover)]).await.expect("verifier");
    let e = v.verify(&sign(&k.rsa, &p.claims()), NOW).await.expect_err("mix-up");
    assert!(matches!(&e, AuthError::Fetch(m) if m.contains("another issuer")), "{e:?}");
    assert_eq!(p.certs_hits(), 0, "the keys of a mismatched document are not fetched");
}

/// A discovery document, given the server's base URL.
type Doc = fn(&str) -> serde_json::Value;

/// A server answering discovery with `doc(base)` and nothing else.
async fn discovery_only(doc: Doc) -> String {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let body = doc(&base);
    let app = axum::Router::new().route("/.well-known/openid-configuration", get(move || async move { axum::Json(body) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn a_discovery_document_without_usable_jwks_uri_is_refused() {
    let k = keys();
    let cases: [(Doc, &str); 3] = [
        (|base| json!({"issuer": base, "jwks_uri": "http://keys.example.org/certs"}), "https"),
        (|base| json!({"issuer": base}), "no jwks_uri"),
        (|_| json!({"jwks_uri": "https://keys.example.org/certs"}), "another issuer"),
    ];
    for (doc, expected) in cases {
        let base = discovery_only(doc).await;
        let v = new(vec![TrustedIssuer { issuer: base.clone(), audience: AUD.into(), jwks: JwksSource::Discover, unscoped_roles: vec![] }])
            .await
            .expect("verifier");
        let e = v.verify(&sign(&k.rsa, &pro_with(json!({"iss": base}))), NOW).await.expect_err("refused");
        assert!(matches!(&e, AuthError::Fetch(m) if m.contains(expected)), "{expected}: {e:?}");
    }
}
