//! The document round trip with the master keys in a PKCS#11 token (SoftHSM2): deposit, read
//! back, rotate the master key, read back — the keys never in the data directory.
//!
//! SoftHSM2 finds its tokens through `SOFTHSM2_CONF`, read when the module is initialised; a test
//! cannot set it in its own process, so the test re-runs itself as a child with it set.

use std::process::Command;

use axum::http::StatusCode;
use carnet_crypto::Pkcs11Config;
use carnet_domain::{Actor, ActorKind, Profession};
use carnet_store::KeyStore;
use serde_json::json;

use crate::support::{Backend, TestApp, ins, lab_report};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const CHILD: &str = "CARNET_TEST_SOFTHSM_CHILD";
const PIN: &str = "5678-test";

/// Runs `body` in a child of this test binary, on a fresh SoftHSM2 token.
fn on_fresh_token(test: &str, body: impl FnOnce(Pkcs11Config)) {
    if std::env::var_os(CHILD).is_some() {
        return body(Pkcs11Config { module: MODULE.into(), token_label: "carnet-it".into(), pin: PIN.to_owned().into() });
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("token dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()))
        .expect("conf");
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "carnet-it", "--so-pin", "1234-test", "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs (scripts/test installs softhsm2)");
    assert!(init.status.success(), "init token: {}", String::from_utf8_lossy(&init.stderr));
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, "1")
        .output()
        .expect("child test runs");
    let out = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success(), "child failed:\n{out}\n{}", String::from_utf8_lossy(&child.stderr));
    assert!(out.contains("1 passed"), "the child ran the test:\n{out}");
}

fn operator() -> Actor {
    Actor {
        issuer: "urn:test".into(),
        subject: "ops".into(),
        name: None,
        kind: ActorKind::Operator,
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

#[test]
fn documents_round_trip_and_survive_a_rotation_with_keys_in_a_token() {
    on_fresh_token("pkcs11::documents_round_trip_and_survive_a_rotation_with_keys_in_a_token", |token| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let app = TestApp::with_pkcs11(Backend::Sqlite, token).await;
            let pro = app.professional(1, Profession::Medecin);
            let p = ins(1);
            app.open_record(&p).await;
            let content = b"%PDF-1.7 compte rendu sous HSM".to_vec();
            let deposited = app.upload(&p, &pro, lab_report(1), &content).await;
            assert_eq!(deposited.status, StatusCode::CREATED, "{:?}", deposited.body);
            let id = deposited.body["id"].as_str().expect("an id").to_owned();
            let path = format!("/api/documents/{id}/content");
            // Each unwrap asked of the token is counted on /metrics; the key cache keeps the
            // second reading of the record off the token.
            let unwraps = || async {
                let metrics = app.call(axum::http::Method::GET, "/metrics", None, None).await;
                metrics.raw.lines().find_map(|l| l.strip_prefix("carnet_key_unwraps_total ")).and_then(|n| n.trim().parse::<u64>().ok())
            };
            let before = unwraps().await.expect("carnet_key_unwraps_total on /metrics");
            assert_eq!(app.get_raw(&path, &pro, &[]).await.bytes, content);
            assert_eq!(unwraps().await, Some(before + 1), "the first reading unwraps the record's key in the token");
            assert_eq!(app.get_raw(&path, &pro, &[]).await.bytes, content);
            assert_eq!(unwraps().await, Some(before + 1), "the second finds it in the key cache");
            assert!(!app.data_dir().join("keys").exists(), "no master key file in the data directory");
            // The privacy officer's notes are sealed under a service key the token wraps.
            let emergency = json!({"kind": "bris_de_glace", "justification": "Malaise"});
            let opened =
                app.post(&format!("/api/records/{p}/emergency-access"), &app.professional(2, Profession::Medecin), emergency).await;
            assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
            let officer = app.role(carnet_domain::Role::PrivacyOfficer);
            let item = app.get("/api/review-items", &officer).await.body[0]["id"].as_str().unwrap_or_default().to_owned();
            let noted = app.post(&format!("/api/review-items/{item}/notes"), &officer, json!({"note": "Note sous HSM"})).await;
            assert_eq!(noted.status, StatusCode::OK, "{:?}", noted.body);

            let before = app.db.all_patient_keys().await.expect("keys");
            let report = app.carnet.rotate_master_key(&operator()).await.expect("rotate on the token");
            assert_eq!(report.rewrapped, 1);
            assert_eq!(report.retired, vec![before[0].1.master_key_id.clone()]);
            for (_, wrapped) in app.db.all_patient_keys().await.expect("keys") {
                assert_eq!(wrapped.master_key_id, report.new_master_key);
            }
            assert_eq!(app.get_raw(&path, &pro, &[]).await.bytes, content, "still readable after the rotation");
            assert!(app.get("/api/review-items", &officer).await.raw.contains("Note sous HSM"), "the notes too");
            let again = app.upload(&p, &pro, lab_report(2), b"%PDF-1.7 second").await;
            assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
        });
    });
}
