//! Against a real, certified OpenID provider we did not write (npm `oidc-provider`, in
//! `tests/oidc`): a lab's software gets a JWT access token by client credentials, and Carnet
//! accepts it through OIDC discovery — for ES256 and RS256 — and refuses it when tampered with or
//! meant for another audience. `scripts/test` installs the provider (`npm ci`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use carnet_auth::{AuthError, JwksSource, TokenVerifier, TrustedIssuer};
use carnet_domain::{ActorKind, Role};

struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(alg: &str) -> Provider {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "oidc-provider is not installed: run scripts/test (it runs `npm ci` in tests/oidc)"
    );
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .env("CARNET_OIDC_ALG", alg)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().expect("stdout");
    let (line, _stdout) = ready_line(stdout);
    let issuer = line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("provider did not start: {line:?}")).to_owned();
    Provider { child, issuer }
}

async fn client_credentials_token(issuer: &str) -> String {
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth("lab-software", Some("lab-software-test-secret-not-for-production"))
        .form(&[("grant_type", "client_credentials"), ("scope", "system/DocumentReference.cruds system/Binary.cr")])
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("json");
    response["access_token"].as_str().unwrap_or_else(|| panic!("no access token: {response}")).to_owned()
}

fn trust(issuer: &str, audience: &str) -> TrustedIssuer {
    TrustedIssuer { issuer: issuer.into(), audience: audience.into(), jwks: JwksSource::Discover, unscoped_roles: vec![] }
}

async fn accepted_then_refused(alg: &str) {
    let provider = start_provider(alg);
    let token = client_credentials_token(&provider.issuer).await;
    let now = time::OffsetDateTime::now_utc();

    let verifier = TokenVerifier::new(vec![trust(&provider.issuer, "carnet")], Duration::from_secs(60)).await.expect("verifier");
    let actor = verifier.verify(&token, now).await.unwrap_or_else(|e| panic!("{alg} token from oidc-provider refused: {e}"));
    assert_eq!(actor.role(), Role::System);
    assert_eq!(actor.subject, "lab-software");
    assert!(matches!(&actor.kind, ActorKind::System { organisation: Some(f) } if f.as_str() == "750000010"));
    assert_eq!(
        actor.scopes.granted().unwrap_or_default().iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["system/DocumentReference.cruds", "system/Binary.cr"]
    );

    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    assert!(matches!(verifier.verify(&tampered, now).await, Err(AuthError::Signature | AuthError::Malformed)));

    let elsewhere = TokenVerifier::new(vec![trust(&provider.issuer, "another-api")], Duration::from_secs(60)).await.expect("verifier");
    assert!(matches!(elsewhere.verify(&token, now).await, Err(AuthError::Audience)));
}

#[tokio::test]
async fn es256_access_tokens_from_oidc_provider() {
    accepted_then_refused("ES256").await;
}

#[tokio::test]
async fn rs256_access_tokens_from_oidc_provider() {
    accepted_then_refused("RS256").await;
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
