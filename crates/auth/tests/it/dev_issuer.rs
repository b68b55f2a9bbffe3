//! The development issuer: ES256 round trips for every role, the claims contract per role, and
//! the private key file.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use carnet_auth::{AuthError, DevIssuer, JwksSource, TokenClaims, TokenVerifier};
use carnet_domain::actor::ProfessionalIdentity;
use carnet_domain::{ActorKind, Finess, Ins, Profession, Role, Rpps, SmartScope};
use serde_json::json;
use support::{NOW, openssl};

const AUD: &str = "carnet";

fn ins() -> Ins {
    Ins::from_body("2690549588157").expect("valid")
}

fn child() -> Ins {
    Ins::from_body("1120575123456").expect("valid")
}

fn rpps() -> Rpps {
    Rpps::from_body("1000000001").expect("valid")
}

fn finess() -> Finess {
    Finess::from_body("75000001").expect("valid")
}

struct Dev {
    _dir: tempfile::TempDir,
    issuer: DevIssuer,
    verifier: TokenVerifier,
}

async fn dev() -> Dev {
    let dir = tempfile::tempdir().expect("temp dir");
    let issuer = DevIssuer::load_or_create(dir.path()).expect("dev issuer");
    let verifier = TokenVerifier::new(vec![issuer.trusted_issuer(AUD)], Duration::from_secs(60)).await.expect("verifier");
    Dev { _dir: dir, issuer, verifier }
}

impl Dev {
    fn mint(&self, claims: &TokenClaims) -> String {
        self.issuer.mint(claims, AUD, time::Duration::minutes(5), NOW).expect("mint")
    }
}

#[tokio::test]
async fn every_role_round_trips_to_its_actor() {
    let d = dev().await;
    let identity = ProfessionalIdentity {
        rpps: rpps(),
        profession: Profession::SageFemme,
        specialty: Some("SM26".into()),
        organisation: Some(finess()),
    };
    let pro = |role| TokenClaims {
        rpps: Some(rpps().to_string()),
        profession: Some("50".into()),
        specialty: Some("SM26".into()),
        finess: Some(finess().to_string()),
        ..TokenClaims::new("pro", role)
    };
    let cases = [
        (TokenClaims { ins: Some(ins().to_string()), ..TokenClaims::new("pat", Role::Patient) }, ActorKind::Patient { ins: ins() }),
        (
            TokenClaims { represents: vec![ins().to_string(), child().to_string()], ..TokenClaims::new("rep", Role::Representative) },
            ActorKind::Representative { represents: vec![child(), ins()] },
        ),
        (pro(Role::Professional), ActorKind::Professional(identity.clone())),
        (pro(Role::Regulator), ActorKind::Regulator(identity)),
        (
            TokenClaims { finess: Some(finess().to_string()), ..TokenClaims::new("lab", Role::System) },
            ActorKind::System { organisation: Some(finess()) },
        ),
        (TokenClaims::new("sys", Role::System), ActorKind::System { organisation: None }),
        (TokenClaims::new("cpam", Role::InsurerAgent), ActorKind::InsurerAgent),
        (TokenClaims::new("dpo", Role::PrivacyOfficer), ActorKind::PrivacyOfficer),
        (TokenClaims::new("ops", Role::Operator), ActorKind::Operator),
    ];
    for (claims, kind) in cases {
        let claims = TokenClaims { name: Some(format!("{} name", claims.sub)), scope: Some("openid patient/*.rs".into()), ..claims };
        let actor = d.verifier.verify(&d.mint(&claims), NOW).await.unwrap_or_else(|e| panic!("{:?}: {e}", claims.role));
        assert_eq!(actor.kind, kind);
        assert_eq!(actor.role(), claims.role);
        assert_eq!(actor.issuer, DevIssuer::ISSUER);
        assert_eq!(actor.subject, claims.sub);
        assert_eq!(actor.name, claims.name);
        assert_eq!(actor.scopes, carnet_domain::Scopes::Granted(SmartScope::parse_all("openid patient/*.rs").expect("valid")));
    }
}

#[tokio::test]
async fn a_representative_may_name_one_ins_in_the_ins_claim() {
    let d = dev().await;
    let token = d.mint(&TokenClaims { ins: Some(child().to_string()), ..TokenClaims::new("rep", Role::Representative) });
    let actor = d.verifier.verify(&token, NOW).await.expect("valid");
    assert!(actor.speaks_for(&child()));
}

#[tokio::test]
async fn each_role_is_refused_without_its_claims() {
    let d = dev().await;
    let pro = |role, rpps: Option<&str>, profession: Option<&str>, finess: Option<&str>| TokenClaims {
        rpps: rpps.map(Into::into),
        profession: profession.map(Into::into),
        finess: finess.map(Into::into),
        ..TokenClaims::new("pro", role)
    };
    let (r, f) = (rpps().to_string(), finess().to_string());
    let bad_rpps = format!("{}{}", &r[..10], (r.as_bytes()[10] - b'0' + 1) % 10);
    let cases = [
        (TokenClaims::new("pat", Role::Patient), "ins"),
        (TokenClaims { ins: Some("184127645108900".into()), ..TokenClaims::new("pat", Role::Patient) }, "ins"),
        (TokenClaims::new("rep", Role::Representative), "represents"),
        (TokenClaims { represents: vec![ins().to_string(), "123".into()], ..TokenClaims::new("rep", Role::Representative) }, "represents"),
        (pro(Role::Professional, None, Some("10"), None), "rpps"),
        (pro(Role::Professional, Some(&bad_rpps), Some("10"), None), "rpps"),
        (pro(Role::Professional, Some(&r), None, None), "profession"),
        (pro(Role::Professional, Some(&r), Some("12"), None), "profession"),
        (pro(Role::Professional, Some(&r), Some("10"), Some("750000019")), "finess"),
        (pro(Role::Regulator, None, Some("10"), Some(&f)), "rpps"),
        (pro(Role::Regulator, Some(&bad_rpps), Some("10"), None), "rpps"),
        (pro(Role::Regulator, Some(&r), None, None), "profession"),
        (pro(Role::Regulator, Some(&r), Some("10"), Some("12345678")), "finess"),
        (TokenClaims { finess: Some("75000001".into()), ..TokenClaims::new("lab", Role::System) }, "finess"),
        (TokenClaims { scope: Some("patient/*.x".into()), ..TokenClaims::new("ops", Role::Operator) }, "scope"),
        (TokenClaims { scope: Some("user/*.rs nurse/*.r".into()), ..TokenClaims::new("dpo", Role::PrivacyOfficer) }, "scope"),
        (TokenClaims { scope: Some("system/binary.r".into()), ..TokenClaims::new("cpam", Role::InsurerAgent) }, "scope"),
        (TokenClaims { sub: String::new(), ..TokenClaims::new("", Role::Operator) }, "sub"),
    ];
    for (claims, claim) in cases {
        match d.verifier.verify(&d.mint(&claims), NOW).await {
            Err(AuthError::Claim { claim: c, .. }) => assert_eq!(c, claim, "{claims:?}"),
            other => panic!("{claims:?}: expected a `{claim}` error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn dev_tokens_expire_and_carry_their_audience() {
    let d = dev().await;
    let token = d.mint(&TokenClaims::new("ops", Role::Operator));
    let after = |s: i64| NOW + time::Duration::seconds(s);
    assert!(d.verifier.verify(&token, after(300 + 59)).await.is_ok(), "within the leeway");
    assert!(matches!(d.verifier.verify(&token, after(300 + 60)).await, Err(AuthError::Expired)));
    assert!(matches!(d.verifier.verify(&token, after(-120)).await, Err(AuthError::NotYetValid)), "iat ahead of the clock");
    let elsewhere = TokenVerifier::new(vec![d.issuer.trusted_issuer("another-api")], Duration::from_secs(60)).await.expect("verifier");
    assert!(matches!(elsewhere.verify(&token, NOW).await, Err(AuthError::Audience)));
    // Trusted through `with_static_keys` too.
    let v = TokenVerifier::new(vec![], Duration::from_secs(60))
        .await
        .expect("verifier")
        .with_static_keys(DevIssuer::ISSUER, AUD, &d.issuer.jwks())
        .expect("keys");
    assert!(v.verify(&token, NOW).await.is_ok());
    // Another dev issuer (another data directory) is another key under the same `iss`.
    let other = dev().await;
    assert!(matches!(d.verifier.verify(&other.mint(&TokenClaims::new("ops", Role::Operator)), NOW).await, Err(AuthError::UnknownKey)));
}

#[tokio::test]
async fn the_trust_entry_holds_the_public_keys_in_memory() {
    let d = dev().await;
    let trusted = d.issuer.trusted_issuer(AUD);
    assert_eq!(trusted.issuer, "urn:carnet:dev-issuer");
    assert_eq!(trusted.audience, AUD);
    assert_eq!(trusted.jwks, JwksSource::Static(d.issuer.jwks()));
    let jwk = &d.issuer.jwks()["keys"][0];
    for private in ["d", "p", "q"] {
        assert!(jwk.get(private).is_none(), "the JWK set is public");
    }
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()), (Some("EC"), Some("P-256"), Some("ES256")));
}

#[test]
fn the_key_file_is_created_private_and_reused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dev = DevIssuer::load_or_create(dir.path()).expect("created");
    let path = dir.path().join(DevIssuer::KEY_FILE);
    assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("dev-issuer-key.pem"));
    assert_eq!(std::fs::metadata(&path).expect("key file").permissions().mode() & 0o777, 0o600);
    let again = DevIssuer::load_or_create(dir.path()).expect("loaded");
    assert_eq!(dev.kid(), again.kid(), "the same key is reused");
    assert_eq!(dev.jwks(), again.jwks());
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no temporary file left behind");
    assert!(!format!("{dev:?}").contains("PRIVATE"), "Debug shows no key");
}

#[test]
fn the_key_file_is_a_pkcs8_p256_key_for_openssl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _dev = DevIssuer::load_or_create(dir.path()).expect("created");
    let pem = std::fs::read_to_string(dir.path().join(DevIssuer::KEY_FILE)).expect("pem");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    let text = String::from_utf8(openssl(dir.path(), &["pkey", "-in", DevIssuer::KEY_FILE, "-noout", "-text"])).expect("ascii");
    assert!(text.contains("prime256v1") || text.contains("P-256"), "{text}");
}

#[test]
fn the_kid_is_the_rfc7638_thumbprint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dev = DevIssuer::load_or_create(dir.path()).expect("created");
    // An independent implementation: jsonwebtoken's JWK thumbprint.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(dev.jwks()["keys"][0].clone()).expect("jwk");
    assert_eq!(dev.kid(), jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256));
    assert_eq!(dev.jwks()["keys"][0]["kid"], json!(dev.kid()));
}

#[test]
fn a_key_file_others_may_access_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _ = DevIssuer::load_or_create(dir.path()).expect("created");
    let path = dir.path().join(DevIssuer::KEY_FILE);
    let pem = std::fs::read_to_string(&path).expect("pem");
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let refused = DevIssuer::load_or_create(dir.path()).expect_err("refused");
        assert!(matches!(refused, AuthError::Keys(_)));
        let message = refused.to_string();
        assert!(message.contains("chmod 600") && message.contains(&format!("{mode:03o}")), "{message}");
        assert!(!message.contains(pem.lines().nth(1).expect("base64 line")), "no key material in the message");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    assert!(DevIssuer::load_or_create(dir.path()).is_ok(), "owner read-only is private");
}

#[test]
fn a_key_file_that_is_not_a_p256_key_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(DevIssuer::KEY_FILE);
    let write_private = |content: &[u8]| {
        std::fs::write(&path, content).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    write_private(b"not a key");
    assert!(matches!(DevIssuer::load_or_create(dir.path()), Err(AuthError::Keys(_))));
    openssl(dir.path(), &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "p384.pem"]);
    write_private(&std::fs::read(dir.path().join("p384.pem")).expect("pem"));
    let e = DevIssuer::load_or_create(dir.path()).expect_err("a P-384 key is refused");
    assert!(e.to_string().contains("not a P-256 private key"), "{e}");
    std::fs::remove_file(&path).expect("rm");
    std::fs::create_dir(&path).expect("a directory in its place");
    assert!(matches!(DevIssuer::load_or_create(dir.path()), Err(AuthError::Keys(_))));
}

#[test]
fn concurrent_first_starts_agree_on_one_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| DevIssuer::load_or_create(dir.path()).expect("load or create").kid().to_owned())).collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(kids.windows(2).all(|w| w[0] == w[1]), "{kids:?}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn an_unwritable_directory_is_a_configuration_error() {
    let missing = std::path::Path::new("/nonexistent/carnet-test");
    assert!(matches!(DevIssuer::load_or_create(missing), Err(AuthError::Keys(_))));
}
