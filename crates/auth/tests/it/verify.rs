//! Token verification against keys made by `openssl` and held in memory: every accept and every
//! refusal, each for its own reason.

use crate::support;

use std::time::Duration;

use carnet_auth::{AuthError, TokenVerifier, TrustedIssuer};
use carnet_domain::actor::ProfessionalIdentity;
use carnet_domain::{ActorKind, Profession, Role, Rpps, Scopes};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use support::*;

fn now() -> i64 {
    NOW.unix_timestamp()
}

// ---------------------------------------------------------------- accepted

#[tokio::test]
async fn rs256_token_from_an_openssl_rsa_key_is_accepted() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    let actor = v.verify(&sign(&k.rsa, &pro_claims()), NOW).await.expect("accepted");
    assert_eq!(actor.issuer, ISS);
    assert_eq!(actor.subject, "dr-who");
    assert_eq!(actor.name.as_deref(), Some("Dr Who"));
    assert_eq!(
        actor.kind,
        ActorKind::Professional(ProfessionalIdentity {
            rpps: Rpps::parse(&rpps()).expect("valid"),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None
        })
    );
    assert_eq!(
        actor.scopes.granted().unwrap_or_default().iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["openid", "user/DocumentReference.rs"]
    );
}

#[tokio::test]
async fn es256_token_from_an_openssl_ec_key_is_accepted() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    let actor = v.verify(&sign(&k.ec, &pro_claims()), NOW).await.expect("accepted");
    assert_eq!(actor.role(), Role::Professional);
}

#[tokio::test]
async fn the_audience_may_be_a_string_or_a_list() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for aud in [json!(AUD), json!([AUD]), json!(["first", AUD, "last"])] {
        assert!(v.verify(&sign(&k.rsa, &pro_with(json!({"aud": aud}))), NOW).await.is_ok(), "{aud}");
    }
}

#[tokio::test]
async fn without_kid_the_only_key_of_the_algorithm_is_used() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    let rs = sign_raw(&json!({"alg": "RS256"}), &pro_claims(), &k.rsa.encoding(), Algorithm::RS256);
    let es = sign_raw(&json!({"alg": "ES256"}), &pro_claims(), &k.ec.encoding(), Algorithm::ES256);
    assert!(v.verify(&rs, NOW).await.is_ok());
    assert!(v.verify(&es, NOW).await.is_ok());
}

#[tokio::test]
async fn small_clock_skew_is_tolerated_by_the_leeway() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    let tolerated = [
        json!({"exp": now() - 30}),
        json!({"exp": now() - 59}),
        json!({"nbf": now() + 30}),
        json!({"iat": now() + 59}),
        json!({"exp": (now() + 300) as f64 + 0.5, "iat": now() as f64 - 0.25}),
    ];
    for patch in tolerated {
        assert!(v.verify(&sign(&k.rsa, &pro_with(patch.clone())), NOW).await.is_ok(), "{patch}");
    }
    // The clock is the one given, not the system's: a token from 2026 is fine in 2026.
    let old = pro_with(json!({"iat": 1_000_000_000, "nbf": 1_000_000_000, "exp": 1_000_000_300}));
    let at = time::OffsetDateTime::from_unix_timestamp(1_000_000_100).expect("date");
    assert!(v.verify(&sign(&k.rsa, &old), at).await.is_ok());
}

#[tokio::test]
async fn with_static_keys_trusts_one_more_issuer() {
    let k = keys();
    let v = TokenVerifier::new(vec![], Duration::from_secs(60))
        .await
        .expect("no issuers")
        .with_static_keys(ISS, AUD, &jwks_of(&[&k.ec]))
        .expect("keys");
    assert!(v.verify(&sign(&k.ec, &pro_claims()), NOW).await.is_ok());
    let again = v.clone().with_static_keys(ISS, AUD, &jwks_of(&[&k.rsa]));
    assert!(matches!(again, Err(AuthError::Keys(_))), "an issuer is trusted once");
    assert!(matches!(v.with_static_keys("urn:other", AUD, &json!({"keys": []})), Err(AuthError::Keys(_))));
}

// ---------------------------------------------------------------- refused: form and algorithm

#[tokio::test]
async fn malformed_tokens() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    let good = sign(&k.rsa, &pro_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let junk = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        "a.b.c".into(),
        "....".into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.extra"),
        format!("{}.{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[1], parts[2]), // JWE shape
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),                          // padding
        format!("{}.{}.{}", b64("not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64("[1,2]"), parts[1], parts[2]),
        format!("{}.{}.{}", b64(r#"{"typ":"JWT"}"#), parts[1], parts[2]), // no alg
        format!("{}.{}.{}", b64(r#"{"alg":5}"#), parts[1], parts[2]),
        format!("{}.{}.{}", b64(r#"{"alg":"RS256","kid":7}"#), parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], b64("\"a string\""), parts[2]),
        format!("{}.{}.{}", parts[0], "%%%", parts[2]),
        format!("{}.{}.{}", parts[0], b64("x".repeat(20_000)), parts[2]), // too long
    ];
    for token in junk {
        assert!(matches!(refused(&v, &token).await, AuthError::Malformed), "{token:.60}");
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string());
        for signature in ["", "AAAA"] {
            let token = format!("{header}.{}.{signature}", b64(pro_claims().to_string()));
            assert!(matches!(refused(&v, &token).await, AuthError::Algorithm(_)), "{alg} {signature:?}");
        }
    }
    let token = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(pro_claims().to_string()));
    assert_eq!(refused(&v, &token).await.to_string(), "the token's algorithm none is not accepted (ES256 or RS256 only)");
}

#[tokio::test]
async fn hmac_is_refused_even_keyed_with_the_public_key() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    // The classic confusion: HS256 "signed" with the issuer's public key as the secret.
    let public = serde_json::to_vec(&k.rsa.jwk).expect("json");
    for (alg, secret) in
        [(Algorithm::HS256, public.as_slice()), (Algorithm::HS256, b"secret"), (Algorithm::HS384, b"s"), (Algorithm::HS512, b"s")]
    {
        let header = json!({"alg": format!("{alg:?}"), "kid": "rsa-1"});
        let token = sign_raw(&header, &pro_claims(), &EncodingKey::from_secret(secret), alg);
        assert!(matches!(refused(&v, &token).await, AuthError::Algorithm(a) if a == format!("{alg:?}")));
    }
}

#[tokio::test]
async fn other_asymmetric_algorithms_are_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let token = sign_raw(&json!({"alg": format!("{alg:?}"), "kid": "rsa-1"}), &pro_claims(), &k.rsa.encoding(), alg);
        assert!(matches!(refused(&v, &token).await, AuthError::Algorithm(_)), "{alg:?}");
    }
    for alg in ["ES384", "ES512", "EdDSA", "ES256K", "rs256", "XYZ"] {
        let token = format!("{}.{}.{}", b64(json!({"alg": alg}).to_string()), b64(pro_claims().to_string()), b64([1u8; 64]));
        let e = refused(&v, &token).await;
        assert!(matches!(&e, AuthError::Algorithm(_)), "{alg}: {e:?}");
        if alg == "XYZ" || alg == "rs256" {
            assert!(e.to_string().contains("unsupported"), "unregistered names are not echoed: {e}");
        }
    }
}

#[tokio::test]
async fn critical_header_extensions_are_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    let header = json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"], "exp": now() + 10});
    let token = sign_raw(&header, &pro_claims(), &k.rsa.encoding(), Algorithm::RS256);
    assert!(matches!(refused(&v, &token).await, AuthError::CriticalHeader));
}

// ---------------------------------------------------------------- refused: issuer and key

#[tokio::test]
async fn an_untrusted_issuer_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for iss in ["https://evil.test", "https://idp.test/realms/health/", "HTTPS://IDP.TEST/realms/health"] {
        assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(json!({"iss": iss})))).await, AuthError::UnknownIssuer), "{iss}");
    }
    let nobody = verifier(vec![]).await;
    assert!(matches!(refused(&nobody, &sign(&k.rsa, &pro_claims())).await, AuthError::UnknownIssuer));
}

#[tokio::test]
async fn a_missing_or_non_string_issuer_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(json!({"iss": null})))).await, AuthError::Claim { claim: "iss", .. }));
    assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(json!({"iss": [ISS]})))).await, AuthError::Claim { claim: "iss", .. }));
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    assert!(matches!(refused(&v, &sign(&k.rsa2, &pro_claims())).await, AuthError::UnknownKey));
    assert!(matches!(refused(&v, &sign(&k.ec.with_kid("ec-9"), &pro_claims())).await, AuthError::UnknownKey));
}

#[tokio::test]
async fn without_kid_two_candidate_keys_are_ambiguous() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.rsa2])]).await;
    let token = sign_raw(&json!({"alg": "RS256"}), &pro_claims(), &k.rsa.encoding(), Algorithm::RS256);
    assert!(matches!(refused(&v, &token).await, AuthError::UnknownKey));
}

#[tokio::test]
async fn an_algorithm_that_does_not_match_the_key_type_is_refused() {
    let k = keys();
    // An ES256 token naming the RSA key's kid, and an RS256 token naming the EC key's kid.
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    let es_as_rsa = sign_raw(&json!({"alg": "ES256", "kid": "rsa-1"}), &pro_claims(), &k.ec.encoding(), Algorithm::ES256);
    assert!(matches!(refused(&v, &es_as_rsa).await, AuthError::UnknownKey));
    let rs_as_ec = sign_raw(&json!({"alg": "RS256", "kid": "ec-1"}), &pro_claims(), &k.rsa.encoding(), Algorithm::RS256);
    assert!(matches!(refused(&v, &rs_as_ec).await, AuthError::UnknownKey));
    // An issuer with RSA keys only gets no ES256 token through, kid or not.
    let rsa_only = verifier(vec![static_issuer(&[&k.rsa])]).await;
    let es = sign_raw(&json!({"alg": "ES256"}), &pro_claims(), &k.ec.encoding(), Algorithm::ES256);
    assert!(matches!(refused(&rsa_only, &es).await, AuthError::UnknownKey));
    // A JWK restricted to another algorithm (`alg` RS384) does not verify RS256.
    let mut rs384 = k.rsa.clone();
    rs384.jwk["alg"] = json!("RS384");
    let restricted = verifier(vec![static_issuer(&[&rs384, &k.ec])]).await;
    assert!(matches!(refused(&restricted, &sign(&k.rsa, &pro_claims())).await, AuthError::UnknownKey));
}

// ---------------------------------------------------------------- refused: signature

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    for key in [&k.rsa, &k.ec] {
        let token = sign(key, &pro_claims());
        let parts: Vec<&str> = token.split('.').collect();
        let promoted = b64(pro_with(json!({"carnet_role": "operator"})).to_string());
        let forged = format!("{}.{promoted}.{}", parts[0], parts[2]);
        assert!(matches!(refused(&v, &forged).await, AuthError::Signature), "{:?}", key.alg);
        let header = b64(json!({"alg": format!("{:?}", key.alg), "kid": key.kid(), "typ": "at+jwt"}).to_string());
        let reheaded = format!("{header}.{}.{}", parts[1], parts[2]);
        assert!(matches!(refused(&v, &reheaded).await, AuthError::Signature), "{:?}", key.alg);
    }
}

#[tokio::test]
async fn a_signature_by_another_key_under_a_trusted_kid_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    assert!(matches!(refused(&v, &sign(&k.rsa_forged, &pro_claims())).await, AuthError::Signature));
    assert!(matches!(refused(&v, &sign(&k.ec2.with_kid("ec-1"), &pro_claims())).await, AuthError::Signature));
}

#[tokio::test]
async fn a_damaged_signature_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    for key in [&k.rsa, &k.ec] {
        let token = sign(key, &pro_claims());
        let (message, signature) = token.rsplit_once('.').expect("three parts");
        let other = sign(key, &pro_with(json!({"sub": "someone-else"})));
        let damaged = [
            format!("{message}."),
            format!("{message}.{}", &signature[..signature.len() - 4]),
            format!("{message}.{signature}AAAA"),
            format!("{message}.{}", b64([0u8; 64])),
            format!("{message}.{}", b64([0u8; 256])),
            format!("{message}.{}", other.rsplit_once('.').expect("parts").1),
            format!("{message}.!!!!"),
        ];
        for token in damaged {
            assert!(matches!(refused(&v, &token).await, AuthError::Signature), "{:?}", key.alg);
        }
    }
}

// ---------------------------------------------------------------- refused: audience and dates

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for aud in [json!("other-api"), json!(["other-api", "carnet2"]), json!([]), json!("CARNET")] {
        assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(json!({"aud": aud})))).await, AuthError::Audience), "{aud}");
    }
}

#[tokio::test]
async fn a_missing_or_malformed_audience_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for aud in [Value::Null, json!(5), json!([AUD, 5]), json!({"aud": AUD})] {
        assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(json!({"aud": aud})))).await, AuthError::Claim { claim: "aud", .. }), "{aud}");
    }
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for exp in [now() - 60, now() - 61, now() - 86_400, 0] {
        assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(json!({"exp": exp})))).await, AuthError::Expired), "{exp}");
    }
    // Without leeway, a token is refused from the second `exp` names (RFC 7519 §4.1.4).
    let strict = TokenVerifier::new(vec![static_issuer(&[&k.rsa])], Duration::ZERO).await.expect("verifier");
    assert!(matches!(refused(&strict, &sign(&k.rsa, &pro_with(json!({"exp": now()})))).await, AuthError::Expired));
    assert!(strict.verify(&sign(&k.rsa, &pro_with(json!({"exp": now() + 1}))), NOW).await.is_ok());
    assert!(matches!(refused(&strict, &sign(&k.rsa, &pro_with(json!({"exp": now() - 30})))).await, AuthError::Expired));
}

#[tokio::test]
async fn a_token_without_a_usable_exp_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for exp in [Value::Null, json!("2030-01-01"), json!(true)] {
        assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(json!({"exp": exp})))).await, AuthError::Claim { claim: "exp", .. }), "{exp}");
    }
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    for patch in [json!({"nbf": now() + 61}), json!({"nbf": now() + 3600}), json!({"iat": now() + 120})] {
        assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(patch.clone()))).await, AuthError::NotYetValid), "{patch}");
    }
    for patch in [json!({"nbf": "soon"}), json!({"iat": [1]})] {
        assert!(matches!(refused(&v, &sign(&k.rsa, &pro_with(patch.clone()))).await, AuthError::Claim { .. }), "{patch}");
    }
}

// ---------------------------------------------------------------- refused: claims contract

#[tokio::test]
async fn a_signed_token_breaking_the_claims_contract_is_refused_naming_the_claim() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa])]).await;
    let cases = [
        (json!({"rpps": "10000000010"}), "rpps"),
        (json!({"rpps": null}), "rpps"),
        (json!({"profession": "99"}), "profession"),
        (json!({"finess": "123"}), "finess"),
        (json!({"carnet_role": null}), "carnet_role"),
        (json!({"carnet_role": "admin"}), "carnet_role"),
        (json!({"sub": null}), "sub"),
        (json!({"scope": "admin/*.r"}), "scope"),
    ];
    for (patch, claim) in cases {
        let e = refused(&v, &sign(&k.rsa, &pro_with(patch.clone()))).await;
        assert!(matches!(e, AuthError::Claim { claim: c, .. } if c == claim), "{patch}: {e:?}");
        assert!(!e.is_server_side());
        assert!(e.www_authenticate().starts_with("Bearer realm=\"carnet\", error=\"invalid_token\", error_description=\"claim `"));
    }
    let e = refused(&v, &sign(&k.rsa, &pro_with(json!({"rpps": "10000000010"})))).await;
    assert_eq!(e.to_string(), "claim `rpps`: check digit does not match");
}

// ---------------------------------------------------------------- the cache of checked signatures

#[tokio::test]
async fn a_token_seen_before_is_still_checked_for_dates_and_only_its_exact_bytes_skip_the_signature() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.rsa, &k.ec])]).await;
    for key in [&k.rsa, &k.ec] {
        let token = sign(key, &pro_claims());
        for _ in 0..3 {
            assert!(v.verify(&token, NOW).await.is_ok(), "{:?}: the same token, again", key.alg);
        }
        // Remembered signatures do not extend a token's life.
        let later = NOW + time::Duration::seconds(301 + 60);
        assert!(matches!(v.verify(&token, later).await, Err(AuthError::Expired)), "{:?}", key.alg);
        // Other bytes around the same header and payload are checked afresh: a forged signature,
        // or the genuine signature on a changed payload.
        let parts: Vec<&str> = token.split('.').collect();
        let mut signature: Vec<char> = parts[2].chars().collect();
        let middle = signature.len() / 2;
        signature[middle] = if signature[middle] == 'A' { 'B' } else { 'A' };
        let flipped = format!("{}.{}.{}", parts[0], parts[1], signature.into_iter().collect::<String>());
        assert!(matches!(refused(&v, &flipped).await, AuthError::Signature), "{:?}", key.alg);
        let promoted = b64(pro_with(json!({"carnet_role": "operator"})).to_string());
        assert!(matches!(refused(&v, &format!("{}.{promoted}.{}", parts[0], parts[2])).await, AuthError::Signature), "{:?}", key.alg);
    }
}

// ---------------------------------------------------------------- tokens without scopes

#[tokio::test]
async fn without_a_scope_claim_only_the_configured_roles_act_on_their_role() {
    let k = keys();
    let only_professionals = TrustedIssuer { unscoped_roles: vec![Role::Professional], ..static_issuer(&[&k.ec]) };
    let v = verifier(vec![only_professionals]).await;
    let unscoped_pro = v.verify(&sign(&k.ec, &pro_with(json!({"scope": null}))), NOW).await.expect("accepted");
    assert_eq!(unscoped_pro.scopes, Scopes::RoleOnly, "a listed role acts on its role");
    let patient = json!({
        "iss": ISS, "sub": "p1", "aud": AUD, "iat": now(), "exp": now() + 300, "carnet_role": "patient",
        "ins": carnet_domain::Ins::from_body("1841276451089").expect("valid").to_string(),
    });
    let unscoped_patient = v.verify(&sign(&k.ec, &patient), NOW).await.expect("accepted");
    assert_eq!(unscoped_patient.scopes, Scopes::Granted(vec![]), "an unlisted role without scopes is granted nothing");
    // With a scope claim, every role is held to its scopes, listed or not.
    let scoped_pro = v.verify(&sign(&k.ec, &pro_claims()), NOW).await.expect("accepted");
    assert!(matches!(scoped_pro.scopes, Scopes::Granted(ref s) if s.len() == 2));
    // The default is no role.
    let strict = verifier(vec![TrustedIssuer { unscoped_roles: vec![], ..static_issuer(&[&k.ec]) }]).await;
    let pro = strict.verify(&sign(&k.ec, &pro_with(json!({"scope": null}))), NOW).await.expect("accepted");
    assert_eq!(pro.scopes, Scopes::Granted(vec![]));
}

#[test]
fn unscoped_roles_are_read_from_configuration_and_unknown_ones_named() {
    let entry: TrustedIssuer =
        serde_json::from_value(json!({"issuer": ISS, "audience": AUD, "jwks_url": "https://idp.test/certs"})).expect("valid");
    assert!(entry.unscoped_roles.is_empty(), "by default no role acts without scopes");
    let entry: TrustedIssuer = serde_json::from_value(
        json!({"issuer": ISS, "audience": AUD, "jwks_url": "https://idp.test/certs", "unscoped_roles": ["professional", "system"]}),
    )
    .expect("valid");
    assert_eq!(entry.unscoped_roles, [Role::Professional, Role::System]);
    let e = serde_json::from_value::<TrustedIssuer>(json!({"issuer": ISS, "audience": AUD, "unscoped_roles": ["doctor"]}))
        .expect_err("unknown role");
    assert!(e.to_string().contains("unscoped_roles: unknown role \"doctor\""), "{e}");
}

#[tokio::test]
async fn a_bad_scope_is_named_by_its_position_without_echoing_it() {
    let k = keys();
    let v = verifier(vec![static_issuer(&[&k.ec])]).await;
    for (scope, problem) in [
        ("openid patient/Secretfoo.rs", "scope 2 of 2: FHIR R4 defines no such resource type"),
        ("nurse/*.r openid", "scope 1 of 2: unknown context"),
        ("patient/DocumentReference.rx", "scope 1 of 1: the permissions must be"),
    ] {
        let e = refused(&v, &sign(&k.ec, &pro_with(json!({"scope": scope})))).await;
        let text = e.to_string();
        assert!(text.contains(problem), "{scope}: {text}");
        assert!(!text.contains("Secretfoo") && !text.contains("nurse") && !text.contains(".rx"), "{text}");
    }
}
