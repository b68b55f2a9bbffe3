//! A verifier written in Python from the crate documentation alone (`tests/python/`) checks a
//! real ledger: entry bytes, tree heads and their signatures, inclusion and consistency proofs.
//! Needs a Python 3 with `cryptography` (`CARNET_PYTHON`, default `python3`; `scripts/test`
//! installs it in .venv-test). Fails, never skips, when it is missing.

use crate::support;

use carnet_domain::hex;
use carnet_ledger::GroupCommit;
use serde_json::json;

#[tokio::test]
async fn an_independent_python_verifier_accepts_the_ledger() {
    let scratch = support::sqlite().await;
    let ledger = support::open(&scratch, GroupCommit::default()).await;
    support::append_rounds(&ledger, 0, &[1, 2, 5, 8, 13, 21]).await;
    let sizes = scratch.raw.head_sizes().await;
    let latest = *sizes.last().unwrap();

    let mut heads = Vec::new();
    for &size in &sizes {
        heads.push(serde_json::to_value(ledger.tree_head_at(size).await.unwrap()).unwrap());
    }
    let mut entries = Vec::new();
    let mut inclusion = Vec::new();
    for index in 0..latest {
        let recorded = ledger.entry(index).await.unwrap();
        entries.push(json!({ "index": index, "bytes": hex::encode(&recorded.bytes) }));
        for &size in sizes.iter().filter(|&&s| s > index) {
            inclusion.push(serde_json::to_value(ledger.inclusion_proof(index, size).await.unwrap()).unwrap());
        }
    }
    let mut consistency = Vec::new();
    for &old in &sizes {
        for &new in sizes.iter().filter(|&&n| n >= old) {
            consistency.push(serde_json::to_value(ledger.consistency_proof(old, new).await.unwrap()).unwrap());
        }
    }
    let export = json!({
        "public_key": hex::encode(&ledger.public_key()),
        "heads": heads,
        "entries": entries,
        "inclusion": inclusion,
        "consistency": consistency,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    std::fs::write(&path, serde_json::to_vec(&export).unwrap()).unwrap();

    let python = std::env::var("CARNET_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/verify_ledger.py");
    let output = std::process::Command::new(&python)
        .arg(script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python:?} ({e}): set CARNET_PYTHON to a Python 3 with `pip install cryptography`"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the Python verifier refused the ledger:\n{stdout}\n{stderr}");
    assert!(stdout.starts_with("ok: 50 entries"), "{stdout}");
}
