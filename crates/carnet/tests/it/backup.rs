//! Backups as an operator takes them (docs/backup.md): `carnet admin backup` while `carnet serve`
//! deposits, restored and read back byte for byte; every refusal and every backup mistake named;
//! and the PostgreSQL + S3 procedure with the standard tools (`pg_dump`/`pg_restore`, a bucket
//! copy) against a real S3 server (PyPI `moto[server]`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_carnet");
const DOCTOR_RPPS: &str = "10000001015";

/// `carnet …` on the data directory `data`, with `env` on top; nothing else of the caller's
/// configuration.
fn carnet(data: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("CARNET_CONFIG").env("CARNET_DATA_DIR", data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("carnet runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// A `carnet serve` child with the dev issuer on, killed on drop.
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(data: &Path, env: &[(&str, String)]) -> Serve {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_remove("CARNET_CONFIG")
            .env("CARNET_DATA_DIR", data)
            .env("CARNET_BIND", format!("127.0.0.1:{port}"))
            .env("CARNET_AUTH__DEV_ISSUER", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let serve = Serve { child: cmd.spawn().expect("carnet serve starts"), url: format!("http://127.0.0.1:{port}") };
        let health = format!("{}/health", serve.url);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Command::new("curl").args(["-sf", "--max-time", "10", &health]).output().is_ok_and(|o| o.status.success()) {
            assert!(Instant::now() < deadline, "carnet serve never answered {health}");
            std::thread::sleep(Duration::from_millis(100));
        }
        serve
    }
}

/// The people of these tests, with tokens from the data directory's dev issuer.
struct People {
    ins: String,
    insurer: String,
    doctor: String,
    patient: String,
}

fn token(data: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "--data-dir", data.to_str().expect("UTF-8 path")];
    all.extend_from_slice(args);
    succeeded(&carnet(data, &all, &[])).trim().to_owned()
}

fn people(data: &Path) -> People {
    let ins = carnet_store::bench_ins(4242).expect("INS").to_string();
    People {
        insurer: token(data, &["--role", "insurer_agent", "--sub", "insurer"]),
        doctor: token(data, &["--role", "professional", "--sub", "doctor", "--rpps", DOCTOR_RPPS, "--profession", "10"]),
        patient: token(data, &["--role", "patient", "--sub", "patient", "--ins", &ins]),
        ins,
    }
}

/// The patient's record, with the doctor authorized.
async fn open_record(client: &reqwest::Client, url: &str, p: &People) {
    let record = json!({"ins": p.ins, "identity_status": "qualifiee", "birth_name": "SAUVEGARDE", "birth_given_names": "Alice",
        "birth_date": "1984-03-01", "sex": "F"});
    let r = client.post(format!("{url}/api/records")).bearer_auth(&p.insurer).json(&record).send().await.expect("create");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let change = json!({"change": "authorize", "rpps": DOCTOR_RPPS});
    let r = client
        .post(format!("{url}/api/records/{}/policy/changes", p.ins))
        .bearer_auth(&p.patient)
        .json(&change)
        .send()
        .await
        .expect("authorize");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
}

fn document_bytes(n: u64) -> Vec<u8> {
    let mut v = format!("%PDF-1.7\n% document {n}\n").into_bytes();
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    // Sizes across one and several 64 KiB chunks.
    let len = 1000 + (n as usize * 37_123) % 200_000;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x >> 24) as u8);
    }
    v
}

/// The doctor deposits document `n`; its id.
async fn deposit(client: &reqwest::Client, url: &str, p: &People, n: u64) -> (String, Vec<u8>) {
    let bytes = document_bytes(n);
    let meta = json!({"unique_id": format!("1.2.250.1.999.42.{n}"), "type_code": "11502-2", "title": format!("Bilan {n}"), "mime_type": "application/pdf"});
    let form = reqwest::multipart::Form::new()
        .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json").expect("mime"))
        .part("content", reqwest::multipart::Part::bytes(bytes.clone()).mime_str("application/pdf").expect("mime"));
    let r =
        client.post(format!("{url}/api/records/{}/documents", p.ins)).bearer_auth(&p.doctor).multipart(form).send().await.expect("deposit");
    assert_eq!(r.status(), 201, "document {n}");
    let body: Value = r.json().await.expect("JSON");
    (body["id"].as_str().expect("id").to_owned(), bytes)
}

async fn content(client: &reqwest::Client, url: &str, token: &str, id: &str) -> Vec<u8> {
    let r = client.get(format!("{url}/api/documents/{id}/content")).bearer_auth(token).send().await.expect("content");
    assert_eq!(r.status(), 200, "document {id}");
    r.bytes().await.expect("body").to_vec()
}

fn manifest(backup: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).expect("manifest")).expect("JSON")
}

fn manifest_blobs(m: &Value) -> Vec<String> {
    m["files"].as_object().expect("files").keys().filter_map(|k| k.strip_prefix("blobs/documents/")).map(str::to_owned).collect()
}

/// The restored ledger's last entry: its action and bytes.
async fn last_ledger_entry(ledger: &Path) -> (String, String) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", ledger.display())).await.expect("connect");
    let (action, entry): (String, Vec<u8>) =
        sqlx::query_as("SELECT action, entry FROM entries ORDER BY idx DESC LIMIT 1").fetch_one(&mut c).await.expect("query");
    (action, text(&entry))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_document_it_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let p = people(&data);
    let server = Serve::start(&data, &[]);
    let client = reqwest::Client::new();
    open_record(&client, &server.url, &p).await;
    let deposited: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    for n in 0..4 {
        let (id, bytes) = deposit(&client, &server.url, &p, n).await;
        deposited.lock().unwrap().insert(id, bytes);
    }

    // Two depositors keep going while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let during = Arc::new(AtomicUsize::new(0));
    let backing_up = Arc::new(AtomicBool::new(false));
    // How many documents are deposited so far, for waiting on the load without sleeping.
    let (count_tx, mut count) = tokio::sync::watch::channel(deposited.lock().unwrap().len());
    let count_tx = Arc::new(count_tx);
    let mut load = Vec::new();
    for worker in 0..2u64 {
        let (client, url, stop, during, backing_up, deposited, count_tx) =
            (client.clone(), server.url.clone(), stop.clone(), during.clone(), backing_up.clone(), deposited.clone(), count_tx.clone());
        let p = People { ins: p.ins.clone(), insurer: p.insurer.clone(), doctor: p.doctor.clone(), patient: p.patient.clone() };
        load.push(tokio::spawn(async move {
            let mut n = 100 + worker * 100_000;
            while !stop.load(Ordering::SeqCst) {
                let (id, bytes) = deposit(&client, &url, &p, n).await;
                let total = {
                    let mut deposited = deposited.lock().unwrap();
                    deposited.insert(id, bytes);
                    deposited.len()
                };
                count_tx.send_replace(total);
                if backing_up.load(Ordering::SeqCst) {
                    during.fetch_add(1, Ordering::SeqCst);
                }
                n += 1;
            }
        }));
    }
    // Under load from the start: wait for a few deposits of the load itself.
    count.wait_for(|n| *n >= 8).await.expect("the load runs");
    let backup = dir.path().join("backup");
    let keys = dir.path().join("offline-keys");
    backing_up.store(true, Ordering::SeqCst);
    let (b, k, d) = (backup.clone(), keys.clone(), data.clone());
    let out = tokio::task::spawn_blocking(move || {
        carnet(&d, &["admin", "backup", b.to_str().expect("path"), "--keys-to", k.to_str().expect("path")], &[])
    })
    .await
    .expect("joined");
    backing_up.store(false, Ordering::SeqCst);
    let printed = succeeded(&out);
    assert!(text(&out.stderr).contains("WARNING") && text(&out.stderr).contains("can read every record"), "{}", text(&out.stderr));
    // A few more after it, then the load stops.
    let after = *count.borrow_and_update() + 2;
    count.wait_for(|n| *n >= after).await.expect("the load runs");
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.expect("load task");
    }
    assert!(during.load(Ordering::SeqCst) > 0, "deposits completed while the backup ran");
    let m = manifest(&backup);
    let ids = manifest_blobs(&m);
    let total = deposited.lock().unwrap().len();
    assert!(ids.len() >= 8 && ids.len() < total, "the backup holds what was there when it began: {} of {total}", ids.len());
    assert_eq!(m["counts"]["documents"], ids.len(), "{m}");
    assert_eq!(m["counts"]["blobs"], ids.len(), "{m}");
    assert_eq!(m["counts"]["records"], 1, "{m}");
    assert!(printed.contains(&format!("{} documents", ids.len())), "{printed}");
    let entries = m["counts"]["ledger_entries"].as_u64().expect("ledger entries");
    assert!(entries > ids.len() as u64, "one entry per deposit at least: {m}");
    assert_eq!(m["ledger"]["tree_head"]["tree_size"], entries);
    drop(server);

    let out = carnet(&data, &["admin", "verify-backup", backup.to_str().expect("path"), "--keys", keys.to_str().expect("path")], &[]);
    assert!(succeeded(&out).starts_with("backup ok"), "{}", text(&out.stdout));

    // Restored into a new, empty data directory, with the keys kept apart.
    let restored = dir.path().join("restored");
    let out = carnet(&restored, &["admin", "restore", backup.to_str().expect("path"), "--keys-from", keys.to_str().expect("path")], &[]);
    let printed = succeeded(&out);
    let backup_id = m["backup_id"].as_str().expect("id");
    assert!(printed.contains(&format!("ledger entry {entries} records the restore")), "{printed}");
    let (action, entry) = last_ledger_entry(&restored.join("ledger.db")).await;
    assert_eq!(action, "ledger.restore");
    let root = m["ledger"]["tree_head"]["root_hash"].as_str().expect("root");
    assert!(entry.contains(&format!("backup:{backup_id} size:{entries} root:{root}")), "{entry}");
    assert!(entry.contains("deliberate_restore"), "{entry}");
    let out = carnet(&restored, &["ledger", "verify"], &[]);
    assert!(succeeded(&out).contains(&format!("ledger ok: {} entries", entries + 1)), "{}", text(&out.stdout));

    // The restored server starts and serves every document the manifest counts, byte-identical.
    let patient = token(&restored, &["--role", "patient", "--sub", "patient", "--ins", &p.ins]);
    let server = Serve::start(&restored, &[]);
    let deposited = deposited.lock().unwrap().clone();
    for id in &ids {
        let read = content(&client, &server.url, &patient, id).await;
        assert!(deposited.get(id).is_some_and(|sent| *sent == read), "document {id} read back byte-identical");
    }
    drop(server);
    assert!(succeeded(&carnet(&restored, &["ledger", "verify"], &[])).starts_with("ledger ok"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn flip_byte(file: &Path, at: usize) {
    let mut bytes = std::fs::read(file).expect("read");
    bytes[at] ^= 0x40;
    std::fs::write(file, bytes).expect("write");
}

fn sha256_hex(file: &Path) -> String {
    use sha2::Digest;
    carnet_domain::hex::encode(&sha2::Sha256::digest(std::fs::read(file).expect("read")))
}

/// The verify-backup report of `backup`: exit status and what it printed.
fn verify(data: &Path, backup: &Path, keys: Option<&Path>) -> (bool, String) {
    let mut args = vec!["admin", "verify-backup", backup.to_str().expect("path")];
    if let Some(keys) = keys {
        args.extend(["--keys", keys.to_str().expect("path")]);
    }
    let out = carnet(data, &args, &[]);
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_backup_mistake_is_refused_or_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    let s = |p: &Path| p.to_str().expect("path").to_owned();
    let data = path("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let p = people(&data);
    let server = Serve::start(&data, &[]);
    let client = reqwest::Client::new();
    open_record(&client, &server.url, &p).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(deposit(&client, &server.url, &p, n).await.0);
    }
    let (backup, keys) = (path("backup"), path("keys-copy"));
    succeeded(&carnet(&data, &["admin", "backup", &s(&backup), "--keys-to", &s(&keys)], &[]));
    drop(server);
    let (ok, report) = verify(&data, &backup, Some(&keys));
    assert!(ok && report.contains("3 documents (every blob decrypted)"), "{report}");

    // Refused before anything is written: the keys inside the backup, a backup into a full directory.
    let inside = path("second");
    let out = carnet(&data, &["admin", "backup", &s(&inside), "--keys-to", &s(&inside.join("keys"))], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is inside the backup") && text(&out.stderr).contains("can read every record"),
        "{}",
        text(&out.stderr)
    );
    assert!(!inside.exists(), "nothing written");
    let out = carnet(&data, &["admin", "backup", &s(&backup)], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not empty (it holds blobs, carnet.db, ledger.db, manifest.json)"), "{}", text(&out.stderr));

    // No keys given.
    let (ok, report) = verify(&data, &backup, None);
    assert!(!ok && report.contains("no keys: pass --keys DIR"), "{report}");
    let (ok, report) = verify(&data, &backup, Some(&path("nowhere")));
    assert!(!ok && report.contains("no keys: no master key (*.key) in"), "{report}");

    // A blob missing, as if lost since; and missing from the manifest too, as when the blobs were
    // copied before the databases (a row whose blob did not exist yet).
    let lost = path("lost-blob");
    copy_dir(&backup, &lost);
    std::fs::remove_file(lost.join(format!("blobs/documents/{}", ids[1]))).expect("rm");
    let (ok, report) = verify(&data, &lost, Some(&keys));
    assert!(!ok && report.contains(&format!("blobs/documents/{} is missing", ids[1])), "{report}");
    let early = path("blobs-first");
    copy_dir(&backup, &early);
    std::fs::remove_file(early.join(format!("blobs/documents/{}", ids[2]))).expect("rm");
    let mut m = manifest(&early);
    m["files"].as_object_mut().expect("files").remove(&format!("blobs/documents/{}", ids[2]));
    m["counts"]["blobs"] = json!(2);
    std::fs::write(early.join("manifest.json"), serde_json::to_vec(&m).expect("JSON")).expect("write");
    let (ok, report) = verify(&data, &early, Some(&keys));
    assert!(!ok && report.contains(&format!("document {} has no blob in the backup", ids[2])), "{report}");
    assert!(report.contains("were the blobs copied before the databases?"), "{report}");

    // No ledger.
    let unlogged = path("no-ledger");
    copy_dir(&backup, &unlogged);
    std::fs::remove_file(unlogged.join("ledger.db")).expect("rm");
    let (ok, report) = verify(&data, &unlogged, Some(&keys));
    assert!(!ok && report.contains("no ledger: ledger.db is missing"), "{report}");

    // A changed file; and a blob changed with its manifest hash made to match: its AEAD tag fails.
    let changed = path("changed");
    copy_dir(&backup, &changed);
    let size = std::fs::metadata(changed.join("carnet.db")).expect("db").len() as usize;
    flip_byte(&changed.join("carnet.db"), size - 100);
    let (ok, report) = verify(&data, &changed, Some(&keys));
    assert!(!ok && report.contains("carnet.db was changed since the backup"), "{report}");
    let forged = path("forged-blob");
    copy_dir(&backup, &forged);
    let blob = forged.join(format!("blobs/documents/{}", ids[0]));
    flip_byte(&blob, 100);
    let mut m = manifest(&forged);
    m["files"][format!("blobs/documents/{}", ids[0])]["sha256"] = json!(sha256_hex(&blob));
    std::fs::write(forged.join("manifest.json"), serde_json::to_vec(&m).expect("JSON")).expect("write");
    let (ok, report) = verify(&data, &forged, Some(&keys));
    assert!(!ok && report.contains(&format!("document {}: its blob does not decrypt", ids[0])), "{report}");

    // Restore: into a directory that holds something, without keys, from a broken backup.
    let full = path("full");
    std::fs::create_dir_all(full.join("keys")).expect("mkdir");
    std::fs::write(full.join("carnet.db"), b"another installation").expect("write");
    let out = carnet(&full, &["admin", "restore", &s(&backup), "--keys-from", &s(&keys)], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not empty (it holds carnet.db, keys)"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(full.join("carnet.db")).expect("read"), b"another installation", "left as it was");
    let empty = path("empty");
    let out = carnet(&empty, &["admin", "restore", &s(&backup)], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no master keys: pass --keys-from DIR"), "{}", text(&out.stderr));
    let out = carnet(&empty, &["admin", "restore", &s(&lost), "--keys-from", &s(&keys)], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&format!("cannot be restored:\n- blobs/documents/{} is missing", ids[1])), "{}", text(&out.stderr));
    assert!(!empty.exists(), "nothing restored");
}

/// A `moto_server` child (PyPI `moto[server]`), killed on drop.
pub(crate) struct S3 {
    child: Child,
    pub(crate) endpoint: String,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    PathBuf::from(
        std::env::var("CARNET_PYTHON")
            .expect("CARNET_PYTHON is not set: run the suite with scripts/test (it installs moto[server] in .venv-test)"),
    )
}

pub(crate) fn start_s3() -> S3 {
    let moto = python().with_file_name("moto_server");
    assert!(moto.exists(), "{} is missing: pip install -r scripts/requirements-test.txt", moto.display());
    let port = free_port();
    let child = Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server");
    let s3 = S3 { child, endpoint: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    s3
}

/// boto3 against the test S3 server: what `aws s3 mb` and `aws s3 sync` do (docs/backup.md).
pub(crate) fn s3_script(s3: &S3, script: &str, args: &[&str]) -> String {
    let prelude = "import sys, boto3\n\
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='eu-west-3', aws_access_key_id='test', aws_secret_access_key='test')\n";
    let out =
        Command::new(python()).arg("-c").arg(format!("{prelude}{script}")).arg(&s3.endpoint).args(args).output().expect("python runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
}

/// docs/backup.md's procedure for PostgreSQL and S3, step by step: `pg_dump` of the database
/// (metadata and the `ledger` schema together) while the server runs, then the bucket copied,
/// then `pg_restore` into a fresh database, the keys copied, and a server on the restored pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_s3_restore_by_the_documented_procedure() {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL")
        .expect("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
    let source_url = carnet_store::conformance::scratch_postgres_url(&admin).await.expect("scratch database");
    let target_url = carnet_store::conformance::scratch_postgres_url(&admin).await.expect("scratch database");
    let s3 = start_s3();
    s3_script(&s3, "s3.create_bucket(Bucket='carnet-live', CreateBucketConfiguration={'LocationConstraint': 'eu-west-3'})\n", &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    // A configuration file: the S3 options are strings, which environment variables would not keep.
    let env = |database: &str, bucket: &str| -> Vec<(&'static str, String)> {
        let file = dir.path().join(format!("{bucket}.toml"));
        let toml = format!(
            "database_url = \"{database}\"\n[storage]\nblob_url = \"s3://{bucket}/carnet\"\n[storage.blob_options]\n\
             aws_endpoint = \"{}\"\naws_allow_http = \"true\"\naws_region = \"eu-west-3\"\n\
             aws_access_key_id = \"test\"\naws_secret_access_key = \"test\"\n",
            s3.endpoint
        );
        std::fs::write(&file, toml).expect("write");
        vec![("CARNET_CONFIG", file.to_str().expect("path").to_owned())]
    };
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let p = people(&data);
    let server = Serve::start(&data, &env(&source_url, "carnet-live"));
    let client = reqwest::Client::new();
    open_record(&client, &server.url, &p).await;
    let mut deposited = Vec::new();
    for n in 0..4 {
        deposited.push(deposit(&client, &server.url, &p, n).await);
    }
    // The embedded commands refuse, and say where to look.
    let out = carnet(&data, &["admin", "backup", dir.path().join("nope").to_str().expect("path")], &env(&source_url, "carnet-live"));
    assert!(!out.status.success() && text(&out.stderr).contains("docs/backup.md"), "{}", text(&out.stderr));

    // 1. The database, online (one consistent snapshot: metadata and ledger together).
    let dump = dir.path().join("carnet.dump");
    run(Command::new("pg_dump").args(["--format=custom", "--file"]).arg(&dump).arg(&source_url));
    // 2. The bucket, after the dump: every row of the dump has its blob already.
    s3_script(
        &s3,
        "s3.create_bucket(Bucket='carnet-restored', CreateBucketConfiguration={'LocationConstraint': 'eu-west-3'})\n\
         for page in s3.get_paginator('list_objects_v2').paginate(Bucket='carnet-live'):\n    \
             for o in page.get('Contents', []):\n        \
                 s3.copy_object(Bucket='carnet-restored', Key=o['Key'], CopySource={'Bucket': 'carnet-live', 'Key': o['Key']})\n",
        &[],
    );
    // 3. The master keys, kept apart.
    let keys = dir.path().join("keys-copy");
    copy_dir(&data.join("keys"), &keys);
    drop(server);

    // Restore: the dump into a fresh database, the keys into the new data directory.
    run(Command::new("pg_restore").args(["--no-owner", "--exit-on-error", "--dbname"]).arg(&target_url).arg(&dump));
    let restored = dir.path().join("restored");
    copy_dir(&keys, &restored.join("keys"));
    {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(restored.join("keys")).expect("keys").flatten() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }
    let listed = s3_script(
        &s3,
        "print(sum(len(p.get('Contents', [])) for p in s3.get_paginator('list_objects_v2').paginate(Bucket='carnet-restored')))\n",
        &[],
    );
    assert_eq!(listed.trim(), deposited.len().to_string(), "every blob copied");
    let restored_env = env(&target_url, "carnet-restored");
    let verified = succeeded(&carnet(&restored, &["ledger", "verify"], &restored_env));
    assert!(verified.starts_with("ledger ok"), "{verified}");
    let entries: u64 = verified.split_whitespace().nth(2).and_then(|n| n.parse().ok()).expect("the entry count");
    // The documented last step: the restore recorded in the restored ledger, a signed entry.
    let refused = carnet(&restored, &["admin", "record-restore", "--backup", "two words"], &restored_env);
    assert!(!refused.status.success(), "a backup name with a space is refused");
    let printed = succeeded(&carnet(&restored, &["admin", "record-restore", "--backup", "carnet-2026-05-01.dump"], &restored_env));
    assert!(
        printed
            .contains(&format!("(entry {entries}): a deliberate restore of backup carnet-2026-05-01.dump, its tree of {entries} entries")),
        "{printed}"
    );
    let verified = succeeded(&carnet(&restored, &["ledger", "verify"], &restored_env));
    assert!(verified.starts_with(&format!("ledger ok: {} entries", entries + 1)), "{verified}");
    let patient = token(&restored, &["--role", "patient", "--sub", "patient", "--ins", &p.ins]);
    let server = Serve::start(&restored, &restored_env);
    for (id, sent) in &deposited {
        assert!(content(&client, &server.url, &patient, id).await == *sent, "document {id} read back byte-identical");
    }
}

/// The ledger's files in `data` (the database and its write-ahead log, if any).
fn ledger_files(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data)
        .expect("read data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("ledger.db")))
        .collect()
}

/// An insider swaps the ledger for an older copy of itself, then deletes it: each time
/// `ledger verify` says so, and `serve` refuses every clinical read and write (503) while health
/// says why — until an operator records a deliberate restore, itself a ledger entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_replaced_by_an_older_copy_or_deleted_stops_clinical_work_until_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let p = people(&data);
    let client = reqwest::Client::new();
    let server = Serve::start(&data, &[]);
    open_record(&client, &server.url, &p).await;
    let (first, first_bytes) = deposit(&client, &server.url, &p, 1).await;
    drop(server);
    // A command that opens the installation keeps the checkpoint at the latest head on closing.
    succeeded(&carnet(&data, &["admin", "sweep"], &[]));
    let older = dir.path().join("older");
    std::fs::create_dir_all(&older).expect("mkdir");
    for file in ledger_files(&data) {
        std::fs::copy(&file, older.join(file.file_name().expect("name"))).expect("copy");
    }
    let server = Serve::start(&data, &[]);
    deposit(&client, &server.url, &p, 2).await;
    drop(server);
    succeeded(&carnet(&data, &["admin", "sweep"], &[]));
    assert!(succeeded(&carnet(&data, &["ledger", "verify"], &[])).contains("consistent with the metadata store"));

    // The older copy: every entry in it verifies, but this installation has seen more.
    for file in ledger_files(&data) {
        std::fs::remove_file(file).expect("remove");
    }
    for file in std::fs::read_dir(&older).expect("read").map(|e| e.expect("entry").path()) {
        std::fs::copy(&file, data.join(file.file_name().expect("name"))).expect("copy back");
    }
    let out = carnet(&data, &["ledger", "verify"], &[]);
    assert!(!out.status.success(), "an older ledger is caught: {}", text(&out.stdout));
    assert!(text(&out.stdout).contains("replaced by an older copy"), "{}", text(&out.stdout));

    let server = Serve::start(&data, &[]);
    let health: Value = client.get(format!("{}/health", server.url)).send().await.expect("health").json().await.expect("JSON");
    assert_eq!(health["status"], "ledger untrusted", "{health}");
    assert!(health["ledger"].as_str().is_some_and(|why| why.contains("older copy")), "{health}");
    let ready = client.get(format!("{}/ready", server.url)).send().await.expect("ready");
    assert_eq!(ready.status(), 503);
    let read = client.get(format!("{}/api/documents/{first}/content", server.url)).bearer_auth(&p.doctor).send().await.expect("read");
    assert_eq!(read.status(), 503, "no clinical read the ledger cannot prove");
    let meta = json!({"unique_id": "1.2.250.1.999.42.3", "type_code": "11502-2", "title": "Bilan 3", "mime_type": "application/pdf"});
    let form = reqwest::multipart::Form::new()
        .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json").expect("mime"))
        .part("content", reqwest::multipart::Part::bytes(document_bytes(3)).mime_str("application/pdf").expect("mime"));
    let write = client
        .post(format!("{}/api/records/{}/documents", server.url, p.ins))
        .bearer_auth(&p.doctor)
        .multipart(form)
        .send()
        .await
        .expect("deposit");
    assert_eq!(write.status(), 503, "no clinical write either");
    let heads = client.get(format!("{}/api/ledger/tree-head", server.url)).bearer_auth(&p.insurer).send().await.expect("tree head");
    assert_eq!(heads.status(), 200, "the published heads stay readable, to examine the damage");
    drop(server);

    // The operator acknowledges: a signed entry, and clinical work resumes on this ledger.
    let printed = succeeded(&carnet(&data, &["admin", "record-restore", "--backup", "ledger-copy-of-yesterday"], &[]));
    assert!(printed.contains("recorded in the ledger"), "{printed}");
    assert!(succeeded(&carnet(&data, &["ledger", "verify"], &[])).contains("ledger ok"));
    let server = Serve::start(&data, &[]);
    assert_eq!(content(&client, &server.url, &p.doctor, &first).await, first_bytes);
    drop(server);

    // Deleted outright: a fresh, empty ledger is no ledger this installation has seen.
    for file in ledger_files(&data) {
        std::fs::remove_file(file).expect("remove");
    }
    let out = carnet(&data, &["ledger", "verify"], &[]);
    assert!(!out.status.success(), "a deleted ledger is caught: {}", text(&out.stdout));
    let server = Serve::start(&data, &[]);
    let read = client.get(format!("{}/api/documents/{first}/content", server.url)).bearer_auth(&p.doctor).send().await.expect("read");
    assert_eq!(read.status(), 503);
    let health: Value = client.get(format!("{}/health", server.url)).send().await.expect("health").json().await.expect("JSON");
    assert!(health["ledger"].as_str().is_some_and(|why| why.contains("deleted")), "{health}");
}

/// `carnet ledger witness` from outside: it keeps extensions, and alarms when the operator rolls
/// the whole installation back (ledger, nodes, heads and the metadata store's checkpoint
/// together, which no check inside can see), and again when the rolled-back ledger grows into a
/// fork; `ledger verify --trusted-head` on the witness's receipts says the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_catches_a_rollback_of_the_whole_installation_and_the_fork_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, witness) = (dir.path().join("data"), dir.path().join("witness"));
    std::fs::create_dir_all(&data).expect("mkdir");
    let p = people(&data);
    let client = reqwest::Client::new();
    let watch = |url: &str, key: &str| {
        let w = witness.to_str().expect("UTF-8").to_owned();
        let mut cmd = Command::new(BIN);
        cmd.args(["ledger", "witness", "--url", url, "--dir", &w, "--public-key", key, "--once"])
            .env_remove("CARNET_CONFIG")
            .env("CARNET_WITNESS_TOKEN", &p.insurer);
        cmd.output().expect("carnet runs")
    };

    let server = Serve::start(&data, &[]);
    let key: Value = client.get(format!("{}/api/ledger/public-key", server.url)).send().await.expect("key").json().await.expect("JSON");
    let key = key["public_key"].as_str().expect("published without a token").to_owned();
    open_record(&client, &server.url, &p).await;
    deposit(&client, &server.url, &p, 1).await;
    assert_eq!(text(&watch(&server.url, &key).stdout).trim(), "First");
    drop(server);
    let earlier = dir.path().join("earlier");
    copy_dir(&data, &earlier);

    let server = Serve::start(&data, &[]);
    deposit(&client, &server.url, &p, 2).await;
    let out = watch(&server.url, &key);
    assert_eq!(text(&out.stdout).trim(), "Extended", "{}", text(&out.stderr));
    drop(server);

    // The operator puts the whole earlier installation back: it checks out clean inside.
    std::fs::remove_dir_all(&data).expect("remove");
    copy_dir(&earlier, &data);
    assert!(succeeded(&carnet(&data, &["ledger", "verify"], &[])).contains("ledger ok"));
    let out = carnet(&data, &["ledger", "verify", "--trusted-head", witness.join("heads.jsonl").to_str().expect("UTF-8")], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("no longer holds the trusted tree head"), "{}", text(&out.stdout));
    let server = Serve::start(&data, &[]);
    let out = watch(&server.url, &key);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("ALARM: rollback"), "{}", text(&out.stdout));
    // Grown past what the witness saw, the rolled-back ledger is a fork of it.
    for n in 3..6 {
        deposit(&client, &server.url, &p, n).await;
    }
    let out = watch(&server.url, &key);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("ALARM: fork"), "{}", text(&out.stdout));
}

/// A patient's receipts (`/api/records/{ins}/access-history/receipts`, the history page's
/// download) checked by `carnet ledger check-receipt` as anyone would, years later: they hold
/// against the published key and the server's current ledger; a changed file, a stranger's key or
/// a server whose whole installation was rolled back past them is named, with exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_receipt_holds_until_the_ledger_is_rolled_back_past_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let p = people(&data);
    let client = reqwest::Client::new();
    let check = |file: &Path, args: &[&str]| {
        let mut all = vec!["ledger", "check-receipt", file.to_str().expect("UTF-8")];
        all.extend_from_slice(args);
        let out = Command::new(BIN).args(&all).env_remove("CARNET_CONFIG").env("CARNET_WITNESS_TOKEN", &p.patient).output().expect("runs");
        (out.status.code(), text(&out.stdout))
    };

    let server = Serve::start(&data, &[]);
    let key: Value = client.get(format!("{}/api/ledger/public-key", server.url)).send().await.expect("key").json().await.expect("JSON");
    let key = key["public_key"].as_str().expect("a key").to_owned();
    open_record(&client, &server.url, &p).await;
    drop(server);
    let earlier = dir.path().join("earlier");
    copy_dir(&data, &earlier);

    let server = Serve::start(&data, &[]);
    let (id, _) = deposit(&client, &server.url, &p, 1).await;
    content(&client, &server.url, &p.doctor, &id).await;
    let r = client
        .get(format!("{}/api/records/{}/access-history/receipts?limit=200", server.url, p.ins))
        .bearer_auth(&p.patient)
        .send()
        .await
        .expect("receipts");
    assert_eq!(r.status(), 200);
    let receipts = dir.path().join("preuves.json");
    std::fs::write(&receipts, r.bytes().await.expect("body")).expect("write");

    let (code, said) = check(&receipts, &["--public-key", &key, "--url", &server.url]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.starts_with("receipt ok:") && said.contains("still held"), "{said}");
    let (code, said) = check(&receipts, &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("vouched for its own key"), "offline and unpinned, it says what it proves: {said}");
    let (code, said) = check(&receipts, &["--public-key", &"ab".repeat(32)]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("RECEIPT BROKEN") && said.contains("another key"), "{said}");
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, std::fs::read_to_string(&receipts).expect("read").replace("document.retrieve", "document.list"))
        .expect("write");
    let (code, said) = check(&forged, &["--public-key", &key]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("is not in the signed tree"), "{said}");
    drop(server);

    // The operator puts the whole earlier installation back: it checks out clean inside, but
    // no longer holds what the patient keeps.
    std::fs::remove_dir_all(&data).expect("remove");
    copy_dir(&earlier, &data);
    let server = Serve::start(&data, &[]);
    let (code, said) = check(&receipts, &["--public-key", &key, "--url", &server.url]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("does not extend the tree"), "{said}");
}

/// The embedded default with its master keys in a PKCS#11 token (SoftHSM2): the backup leaves
/// the keys where they are and says so, refuses to copy them, is verified and restored with the
/// token, and every document reads back byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_with_master_keys_in_a_token_is_verified_and_restored_with_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, restored, backup) = (dir.path().join("data"), dir.path().join("restored"), dir.path().join("backup"));
    std::fs::create_dir_all(&data).expect("mkdir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("mkdir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()))
        .expect("conf");
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "carnet-backup", "--so-pin", "1234-so", "--pin", "5678-user"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs (apt-get install softhsm2)");
    assert!(init.status.success(), "{}", text(&init.stderr));
    let env: Vec<(&str, String)> = vec![
        ("SOFTHSM2_CONF", conf.display().to_string()),
        ("CARNET_STORAGE__KEYS", "pkcs11".into()),
        ("CARNET_STORAGE__PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so".into()),
        ("CARNET_STORAGE__PKCS11_TOKEN_LABEL", "carnet-backup".into()),
        ("CARNET_STORAGE__PKCS11_PIN_ENV", "CARNET_TEST_PIN".into()),
        ("CARNET_TEST_PIN", "5678-user".into()),
    ];
    let p = people(&data);
    let client = reqwest::Client::new();
    let server = Serve::start(&data, &env);
    open_record(&client, &server.url, &p).await;
    let mut deposited = Vec::new();
    for n in 0..3 {
        deposited.push(deposit(&client, &server.url, &p, n).await);
    }
    drop(server);
    assert!(!data.join("keys").exists(), "no key file in the data directory");

    let b = backup.to_str().expect("UTF-8");
    let refused = carnet(&data, &["admin", "backup", b, "--keys-to", dir.path().join("k").to_str().expect("UTF-8")], &env);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("never leave it"), "{}", text(&refused.stderr));
    assert!(!backup.exists(), "nothing written by a refused backup");
    let out = succeeded(&carnet(&data, &["admin", "backup", b], &env));
    assert!(out.contains("stay in the PKCS#11 token \"carnet-backup\""), "{out}");

    let checked = succeeded(&carnet(&data, &["admin", "verify-backup", b, "--token"], &env));
    assert!(checked.contains("backup ok") && checked.contains("3 documents (every blob decrypted)"), "{checked}");
    let (ok, said) = verify(&data, &backup, None);
    assert!(!ok && said.contains("--token"), "without keys the check says how to give them: {said}");

    succeeded(&carnet(&restored, &["admin", "restore", b], &env));
    // A backup leaves the dev issuer's key out: the restored installation mints its own.
    let p = people(&restored);
    let server = Serve::start(&restored, &env);
    for (id, bytes) in &deposited {
        assert_eq!(&content(&client, &server.url, &p.doctor, id).await, bytes, "document {id} byte-identical");
    }
}
