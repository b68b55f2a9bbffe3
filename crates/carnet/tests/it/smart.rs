//! `carnet serve` with a `[smart]` section: the SMART configuration it publishes comes from the
//! issuer's OpenID Connect discovery document (npm `oidc-provider`, `tests/oidc`, installed by
//! `scripts/test`), and a SMART issuer that cannot be read stops the start with a clear message.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_carnet");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test OpenID provider on a free port, with the browser app's client; its issuer.
fn start_provider() -> (Running, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc");
    assert!(dir.join("node_modules/oidc-provider").exists(), "oidc-provider is not installed: run scripts/test (npm ci in tests/oidc)");
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .env("CARNET_OIDC_APP_REDIRECT", "http://127.0.0.1:9/callback.html")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let (line, mut stdout) = ready_line(stdout);
    let issuer = line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("provider did not start: {line:?}")).to_owned();
    // Keep reading: a closed pipe would end the provider at its next warning.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (running, issuer)
}

fn config(dir: &Path, port: u16, issuer: &str) -> PathBuf {
    let file = dir.join("carnet.toml");
    let toml = format!(
        "bind = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[[auth.issuers]]\nissuer = \"{issuer}\"\naudience = \"carnet\"\njwks_url = \"{issuer}/jwks\"\n\
         [http]\ncors_origins = [\"https://app.example\"]\n[smart]\nissuer = \"{issuer}\"\n",
        dir.join("data").display()
    );
    std::fs::write(&file, toml).expect("write");
    file
}

fn curl(url: &str) -> Option<serde_json::Value> {
    let out = Command::new("curl").args(["-sf", "--max-time", "10", url]).output().ok().filter(|o| o.status.success())?;
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn serve_publishes_the_smart_configuration_discovered_from_its_issuer() {
    let (_provider, issuer) = start_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    // Port 0: the system chooses while binding, so no other process can take it meanwhile.
    let file = config(dir.path(), 0, &issuer);
    let mut serve = Command::new(BIN)
        .args(["--config", &file.display().to_string(), "serve"])
        .env_remove("CARNET_CONFIG")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carnet serve starts");
    let stderr = serve.stderr.take().expect("stderr");
    let _serve = Running(serve);
    let port = listening_port(stderr);
    let url = format!("http://127.0.0.1:{port}/.well-known/smart-configuration");
    let smart = curl(&url).expect("carnet serve answers once listening");
    assert_eq!(smart["issuer"], issuer.as_str());
    assert_eq!(smart["authorization_endpoint"], format!("{issuer}/auth"));
    assert_eq!(smart["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(smart["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(smart["revocation_endpoint"], format!("{issuer}/token/revocation"));
    assert_eq!(smart["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    let has = |key: &str, value: &str| smart[key].as_array().is_some_and(|a| a.iter().any(|v| v == value));
    assert!(has("capabilities", "client-public") && has("capabilities", "client-confidential-symmetric"), "{smart}");
    assert!(!has("capabilities", "context-standalone-patient"), "its token responses carry no patient: {smart}");
    assert!(has("grant_types_supported", "authorization_code") && has("scopes_supported", "patient/DocumentReference.rs"), "{smart}");

    let metadata = curl(&format!("http://127.0.0.1:{port}/fhir/metadata")).expect("metadata");
    let security = &metadata["rest"][0]["security"];
    assert_eq!((security["cors"].as_bool(), security["service"][0]["coding"][0]["code"].as_str()), (Some(true), Some("SMART-on-FHIR")));
}

#[test]
fn a_smart_issuer_that_cannot_be_read_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let file = config(dir.path(), free_port(), &issuer);
    let out = Command::new(BIN)
        .args(["--config", &file.display().to_string(), "serve"])
        .env_remove("CARNET_CONFIG")
        .output()
        .expect("carnet serve runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("the SMART issuer's discovery document {issuer}/")), "names what it could not read: {stderr}");
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

/// The port `carnet serve` says it listens on (its "carnet listening" log line), read within
/// 60 s; its log goes on being drained.
pub(crate) fn listening_port(stderr: std::process::ChildStderr) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        for line in lines.by_ref().map_while(Result::ok) {
            let port = line
                .contains("carnet listening")
                .then(|| line.split("127.0.0.1:").nth(1))
                .flatten()
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u16>().ok());
            if let Some(port) = port {
                let _ = tx.send(Ok(port));
                lines.for_each(drop);
                return;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(port)) => port,
        Ok(Err(log)) => panic!("carnet serve ended without listening:\n{log}"),
        Err(_) => panic!("carnet serve did not listen within 60 s"),
    }
}
