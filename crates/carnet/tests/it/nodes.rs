//! Three `carnet serve` nodes behind Debian's haproxy (round-robin), one PostgreSQL database,
//! blobs in S3 (PyPI `moto[server]`): what one node does is in force on the others at once, the
//! enumeration guard counts across them, their concurrent ledger appends verify, and each
//! notification is delivered once (docs/scaling.md).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backup::{S3, s3_script, start_s3};
use crate::cli::free_port;
use crate::smart::listening_port;

const BIN: &str = env!("CARGO_BIN_EXE_carnet");
const HAPROXY: &str = "/usr/sbin/haproxy";
/// Distinct records a professional may open per hour in this installation.
const GUARD_LIMIT: usize = 5;

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// `carnet …` on the installation's data directory and configuration file.
fn carnet(data: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("CARNET_CONFIG", config)
        .env("CARNET_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("carnet runs")
}

/// A node: `carnet serve` on a port of the system's choosing, read from its log.
fn start_node(data: &Path, config: &Path) -> (Running, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("CARNET_CONFIG", config)
        .env("CARNET_DATA_DIR", data)
        .env("CARNET_BIND", "127.0.0.1:0")
        .env("CARNET_AUTH__DEV_ISSUER", "true")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carnet serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let running = Running(child);
    let port = listening_port(stderr);
    (running, format!("http://127.0.0.1:{port}"))
}

/// haproxy in front of `nodes`, round-robin, on a free port; returns its URL once it answers.
fn start_haproxy(dir: &Path, nodes: &[&str]) -> (Running, String) {
    assert!(Path::new(HAPROXY).exists(), "{HAPROXY} is missing: apt-get install haproxy (scripts/test does)");
    let port = free_port();
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(n, url)| format!("  server node{n} {} check inter 500ms\n", url.trim_start_matches("http://")))
        .collect();
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n  maxconn 512\ndefaults\n  mode http\n  retries 3\n  option redispatch\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
             frontend carnet\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\
             backend nodes\n  balance roundrobin\n  option httpchk GET /health\n{servers}"
        ),
    )
    .expect("write");
    let child =
        Command::new(HAPROXY).arg("-db").arg("-f").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("haproxy");
    let running = Running(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Command::new("curl").args(["-sf", "--max-time", "5", &format!("{url}/health")]).output().is_ok_and(|o| o.status.success()) {
        assert!(Instant::now() < deadline, "haproxy never answered on {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (running, url)
}

/// A webhook receiver: answers 200 to every POST and keeps the `id` of each JSON body.
fn start_webhook() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(&stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok()
                && let Some(id) = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["id"].as_str().map(str::to_owned))
            {
                kept.lock().expect("lock").push(id);
            }
            let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, received)
}

/// The installation's configuration: PostgreSQL at `database_url`, blobs in the S3 bucket
/// `carnet-nodes`, a small enumeration limit, notifications delivered every second.
fn write_config(dir: &Path, database_url: &str, s3: &S3) -> PathBuf {
    let config = dir.join("carnet.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{database_url}\"\n[storage]\nblob_url = \"s3://carnet-nodes/carnet\"\n[storage.blob_options]\n\
             aws_endpoint = \"{}\"\naws_allow_http = \"true\"\naws_region = \"eu-west-3\"\n\
             aws_access_key_id = \"test\"\naws_secret_access_key = \"test\"\n\
             [policy]\nenumeration_limit_per_hour = {GUARD_LIMIT}\n[notifications]\ninterval_seconds = 1\n",
            s3.endpoint
        ),
    )
    .expect("write");
    config
}

fn rpps(n: u32) -> String {
    carnet_domain::Rpps::from_body(&format!("1{n:09}")).expect("RPPS").to_string()
}

fn token(data: &Path, config: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "--data-dir", data.to_str().expect("UTF-8 path")];
    all.extend_from_slice(args);
    succeeded(&carnet(data, config, &all)).trim().to_owned()
}

fn professional(data: &Path, config: &Path, n: u32, profession: &str) -> String {
    token(data, config, &["--role", "professional", "--sub", &format!("pro-{n}"), "--rpps", &rpps(n), "--profession", profession])
}

/// The requests of this test: bounded, whatever a node does.
fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Vec<u8>) {
    let r = request.send().await.expect("an answer");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

async fn create_record(http: &reqwest::Client, url: &str, insurer: &str, ins: &str) {
    let record = json!({"ins": ins, "identity_status": "qualifiee", "birth_name": "NOEUD", "birth_given_names": "Alice",
        "birth_date": "1984-03-01", "sex": "F"});
    let (status, body) = send(http.post(format!("{url}/api/records")).bearer_auth(insurer).json(&record)).await;
    assert_eq!(status, 201, "{}", text(&body));
}

async fn change(http: &reqwest::Client, url: &str, patient: &str, ins: &str, body: Value) {
    let (status, reply) = send(http.post(format!("{url}/api/records/{ins}/policy/changes")).bearer_auth(patient).json(&body)).await;
    assert_eq!(status, 200, "{}", text(&reply));
}

async fn deposit(http: &reqwest::Client, url: &str, doctor: &str, ins: &str, n: u64, bytes: &[u8]) -> String {
    let meta = json!({"unique_id": format!("1.2.250.1.999.21.{n}"), "type_code": "11502-2", "title": format!("Bilan {n}"), "mime_type": "application/pdf"});
    let form = reqwest::multipart::Form::new()
        .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json").expect("mime"))
        .part("content", reqwest::multipart::Part::bytes(bytes.to_vec()).mime_str("application/pdf").expect("mime"));
    let (status, body) = send(http.post(format!("{url}/api/records/{ins}/documents")).bearer_auth(doctor).multipart(form)).await;
    assert_eq!(status, 201, "deposit {n}: {}", text(&body));
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    body["id"].as_str().expect("id").to_owned()
}

/// Requests each node has answered (its `/metrics`).
async fn requests_answered(http: &reqwest::Client, url: &str) -> f64 {
    let (status, body) = send(http.get(format!("{url}/metrics"))).await;
    assert_eq!(status, 200);
    text(&body)
        .lines()
        .filter(|l| l.starts_with("carnet_http_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_haproxy_act_as_one_installation() {
    let Ok(admin) = std::env::var("CARNET_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED three_nodes_behind_haproxy_act_as_one_installation: CARNET_TEST_POSTGRES_URL is not set (scripts/test starts PostgreSQL)"
        );
        return;
    };
    let database_url = carnet_store::conformance::scratch_postgres_url(&admin).await.expect("scratch database");
    let s3: S3 = start_s3();
    s3_script(&s3, "s3.create_bucket(Bucket='carnet-nodes', CreateBucketConfiguration={'LocationConstraint': 'eu-west-3'})\n", &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    // One data directory for the three nodes: what they share besides PostgreSQL and S3 is the
    // master keys and the dev issuer's key (a secrets volume in a real deployment).
    let data: PathBuf = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let config = write_config(dir.path(), &database_url, &s3);

    let insurer = token(&data, &config, &["--role", "insurer_agent", "--sub", "insurer"]);
    let officer = token(&data, &config, &["--role", "privacy_officer", "--sub", "dpo"]);
    let doctor = professional(&data, &config, 1, "10");
    let nurse = professional(&data, &config, 2, "60");
    let urgentist = professional(&data, &config, 3, "10");
    let scanner = professional(&data, &config, 4, "10");
    let ins = carnet_store::bench_ins(2101).expect("INS").to_string();
    let patient = token(&data, &config, &["--role", "patient", "--sub", "patient", "--ins", &ins]);

    // One after the other: the first creates the master key the others then find.
    let (_a, a) = start_node(&data, &config);
    let (_b, b) = start_node(&data, &config);
    let (_c, c) = start_node(&data, &config);
    let (_haproxy, lb) = start_haproxy(dir.path(), &[&a, &b, &c]);
    let (webhook, received) = start_webhook();
    let http = client();

    // The record, its notifications to the webhook, the doctor authorized: through the balancer.
    create_record(&http, &lb, &insurer, &ins).await;
    let prefs = json!({"webhook_url": webhook, "email_enabled": false});
    let (status, body) =
        send(http.put(format!("{lb}/api/records/{ins}/notification-preferences")).bearer_auth(&patient).json(&prefs)).await;
    assert_eq!(status, 200, "{}", text(&body));
    change(&http, &lb, &patient, &ins, json!({"change": "authorize", "rpps": rpps(1)})).await;

    // A deposit through A, found by ITI-67 through B, read back byte-identical through C.
    let sent: Vec<u8> = (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect();
    let id = deposit(&http, &a, &doctor, &ins, 1, &sent).await;
    let (status, bundle) =
        send(http.get(format!("{b}/fhir/DocumentReference?patient={ins}")).bearer_auth(&doctor).header("accept", "application/fhir+json"))
            .await;
    assert_eq!(status, 200, "{}", text(&bundle));
    assert!(text(&bundle).contains(&id), "ITI-67 on B finds the deposit made on A: {}", text(&bundle));
    let (status, got) = send(http.get(format!("{c}/api/documents/{id}/content")).bearer_auth(&doctor)).await;
    assert_eq!(status, 200);
    assert!(got == sent, "C reads back the bytes deposited through A");

    // A revocation through A is in force on B at once; a block too.
    change(&http, &a, &patient, &ins, json!({"change": "authorize", "rpps": rpps(2)})).await;
    assert_eq!(send(http.get(format!("{b}/api/documents/{id}/content")).bearer_auth(&nurse)).await.0, 200, "authorized on A: B admits");
    change(&http, &a, &patient, &ins, json!({"change": "revoke", "rpps": rpps(2)})).await;
    assert_eq!(send(http.get(format!("{b}/api/documents/{id}/content")).bearer_auth(&nurse)).await.0, 404, "revoked on A: B refuses");
    change(&http, &c, &patient, &ins, json!({"change": "authorize", "rpps": rpps(2)})).await;
    assert_eq!(send(http.get(format!("{a}/api/documents/{id}/content")).bearer_auth(&nurse)).await.0, 200, "authorized on C: A admits");
    change(&http, &a, &patient, &ins, json!({"change": "block", "rpps": rpps(2)})).await;
    assert_eq!(send(http.get(format!("{b}/api/documents/{id}/content")).bearer_auth(&nurse)).await.0, 404, "blocked on A: B refuses");

    // An emergency access opened on A: the urgentist reads on B, the privacy officer reviews on C.
    assert_eq!(send(http.get(format!("{b}/api/documents/{id}/content")).bearer_auth(&urgentist)).await.0, 404);
    let emergency = json!({"kind": "bris_de_glace", "justification": "inconsciente aux urgences"});
    let (status, body) = send(http.post(format!("{a}/api/records/{ins}/emergency-access")).bearer_auth(&urgentist).json(&emergency)).await;
    assert_eq!(status, 201, "{}", text(&body));
    assert_eq!(send(http.get(format!("{b}/api/documents/{id}/content")).bearer_auth(&urgentist)).await.0, 200, "opened on A: B admits");
    let (status, queue) = send(http.get(format!("{c}/api/review-items?status=open")).bearer_auth(&officer)).await;
    assert_eq!(status, 200, "{}", text(&queue));
    let queue: Value = serde_json::from_slice(&queue).expect("JSON");
    let reviewed = queue.as_array().expect("items").iter().filter(|i| i["kind"] == "emergency" && i["ins"] == ins.as_str()).count();
    assert_eq!(reviewed, 1, "the emergency opened on A is in C's review queue: {queue}");

    // The enumeration guard counts across nodes: the limit's worth of distinct records through
    // the balancer (so spread over the three), then one more refused on whichever node.
    let records: Vec<String> = (0..=GUARD_LIMIT as u64).map(|n| carnet_store::bench_ins(2200 + n).expect("INS").to_string()).collect();
    for r in &records {
        create_record(&http, &lb, &insurer, r).await;
    }
    for (n, r) in records[..GUARD_LIMIT].iter().enumerate() {
        assert_eq!(send(http.get(format!("{lb}/api/records/{r}")).bearer_auth(&scanner)).await.0, 200, "record {n} within the limit");
    }
    for node in [&a, &b, &c] {
        let over = format!("{node}/api/records/{}", records[GUARD_LIMIT]);
        assert_eq!(send(http.get(over).bearer_auth(&scanner)).await.0, 429, "one record over the limit, refused by {node}");
    }
    let (_, queue) = send(http.get(format!("{c}/api/review-items?status=open")).bearer_auth(&officer)).await;
    let queue: Value = serde_json::from_slice(&queue).expect("JSON");
    assert_eq!(queue.as_array().expect("items").iter().filter(|i| i["kind"] == "enumeration").count(), 1, "one alert: {queue}");

    // Three nodes appending to the ledger at once (every read is an entry): round-robin spreads
    // the load, and the ledger they wrote verifies.
    let before = [requests_answered(&http, &a).await, requests_answered(&http, &b).await, requests_answered(&http, &c).await];
    let mut load = tokio::task::JoinSet::new();
    for n in 0..60u64 {
        let (http, lb, doctor, ins) = (http.clone(), lb.clone(), doctor.clone(), ins.clone());
        load.spawn(async move {
            if n % 10 == 0 {
                deposit(&http, &lb, &doctor, &ins, 100 + n, format!("%PDF {n}").as_bytes()).await;
                201
            } else {
                send(http.get(format!("{lb}/api/records/{ins}/documents")).bearer_auth(&doctor)).await.0
            }
        });
    }
    let statuses: Vec<u16> = load.join_all().await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 201), "{statuses:?}");
    let after = [requests_answered(&http, &a).await, requests_answered(&http, &b).await, requests_answered(&http, &c).await];
    for (node, (before, after)) in before.iter().zip(after).enumerate() {
        assert!(after - before >= 15.0, "node {node} answered {} of the 60 requests: round-robin spreads them", after - before);
    }
    let verified = succeeded(&carnet(&data, &config, &["ledger", "verify"]));
    assert!(verified.starts_with("ledger ok"), "{verified}");

    // Each notification delivered once, whichever node's deliverer took it.
    let pg = sqlx::PgPool::connect(&database_url).await.expect("PostgreSQL");
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected: Vec<String> = loop {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetch_one(&pg).await.expect("pending");
        if pending == 0 {
            break sqlx::query_as::<_, (String,)>("SELECT id FROM outbox WHERE ins = $1 ORDER BY id")
                .bind(&ins)
                .fetch_all(&pg)
                .await
                .expect("outbox")
                .into_iter()
                .map(|(id,)| id)
                .collect();
        }
        assert!(Instant::now() < deadline, "{pending} notifications still undelivered after 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut got = received.lock().expect("lock").clone();
    got.sort();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &got {
        *counts.entry(id).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "a notification sent twice: {counts:?}");
    assert!(expected.len() >= 8, "deposits, policy changes, first accesses and the emergency were notified: {expected:?}");
    assert_eq!(got, expected, "each of the patient's notifications reached the webhook once");
    pg.close().await;
}

/// A PostgreSQL cluster of this test's own (`scripts/pg`), stopped and deleted on drop.
struct Cluster {
    dir: PathBuf,
    url: String,
}

fn scripts_pg(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg");
    succeeded(&Command::new(script).args(args).output().expect("scripts/pg runs")).trim().to_owned()
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::Builder::new().prefix("carnet-pg-").tempdir().expect("temp dir").keep();
        let url = scripts_pg(&["start", dir.to_str().expect("path")]);
        Cluster { dir, url }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg");
        let _ = Command::new(script).arg("stop").arg(&self.dir).output();
    }
}

/// What a deposit under load was answered: its status (0: no answer) and, if acknowledged,
/// the document's id and bytes.
type Attempt = (u16, Option<(String, Vec<u8>)>);

/// Faults under load through the balancer: PostgreSQL stopped (the nodes answer 503, then
/// recover by themselves when it is back) and a node killed (`kill -9`: the others go on); no
/// acknowledged deposit is lost and the ledger verifies. Then the object store gone: a deposit
/// answers 503 and leaves no row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_a_killed_node_and_a_lost_object_store_lose_no_acknowledged_deposit() {
    if std::env::var("CARNET_TEST_POSTGRES_URL").is_err() {
        eprintln!(
            "SKIPPED a_database_outage_a_killed_node_and_a_lost_object_store_lose_no_acknowledged_deposit: CARNET_TEST_POSTGRES_URL is not set \
             (scripts/test starts PostgreSQL)"
        );
        return;
    }
    let cluster = Cluster::start();
    let database_url = carnet_store::conformance::scratch_postgres_url(&cluster.url).await.expect("scratch database");
    let s3 = start_s3();
    s3_script(&s3, "s3.create_bucket(Bucket='carnet-nodes', CreateBucketConfiguration={'LocationConstraint': 'eu-west-3'})\n", &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let config = write_config(dir.path(), &database_url, &s3);
    let insurer = token(&data, &config, &["--role", "insurer_agent", "--sub", "insurer"]);
    let doctor = professional(&data, &config, 1, "10");
    let ins = carnet_store::bench_ins(2301).expect("INS").to_string();
    let patient = token(&data, &config, &["--role", "patient", "--sub", "patient", "--ins", &ins]);
    let (mut node_a, a) = start_node(&data, &config);
    let (_b, b) = start_node(&data, &config);
    let (_c, c) = start_node(&data, &config);
    let (_haproxy, lb) = start_haproxy(dir.path(), &[&a, &b, &c]);
    let http = client();
    create_record(&http, &lb, &insurer, &ins).await;
    change(&http, &lb, &patient, &ins, json!({"change": "authorize", "rpps": rpps(1)})).await;

    // Two depositors through the balancer until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut depositors = tokio::task::JoinSet::new();
    for worker in 0..2u64 {
        let (http, lb, doctor, ins, stop) = (http.clone(), lb.clone(), doctor.clone(), ins.clone(), stop.clone());
        depositors.spawn(async move {
            let mut attempts: Vec<Attempt> = Vec::new();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let bytes = format!("%PDF worker {worker} deposit {n}").into_bytes();
                let meta =
                    json!({"unique_id": format!("1.2.250.1.999.23.{worker}.{n}"), "type_code": "11502-2", "mime_type": "application/pdf"});
                let form = reqwest::multipart::Form::new()
                    .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json").expect("mime"))
                    .part("content", reqwest::multipart::Part::bytes(bytes.clone()).mime_str("application/pdf").expect("mime"));
                let attempt = match http.post(format!("{lb}/api/records/{ins}/documents")).bearer_auth(&doctor).multipart(form).send().await
                {
                    Ok(r) if r.status() == 201 => {
                        let body: Value = r.json().await.expect("JSON");
                        (201, Some((body["id"].as_str().expect("id").to_owned(), bytes)))
                    }
                    Ok(r) => (r.status().as_u16(), None),
                    Err(_) => (0, None),
                };
                attempts.push(attempt);
            }
            attempts
        });
    }
    let probe = |url: String| {
        let (http, doctor, ins) = (http.clone(), doctor.clone(), ins.clone());
        async move { send(http.get(format!("{url}/api/records/{ins}/documents")).bearer_auth(&doctor)).await.0 }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    // PostgreSQL down: every node answers 503 (within its pool's 5 s wait).
    tokio::task::spawn_blocking({
        let dir = cluster.dir.clone();
        move || scripts_pg(&["halt", dir.to_str().expect("path")])
    })
    .await
    .expect("halt");
    for node in [&a, &b, &c] {
        assert_eq!(probe(node.clone()).await, 503, "{node} while PostgreSQL is down");
    }
    tokio::task::spawn_blocking({
        let dir = cluster.dir.clone();
        move || scripts_pg(&["resume", dir.to_str().expect("path")])
    })
    .await
    .expect("resume");
    // Back: each node recovers by itself.
    for node in [&a, &b, &c] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while probe(node.clone()).await != 200 {
            assert!(Instant::now() < deadline, "{node} did not recover within 60 s of PostgreSQL's return");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Node A killed under load: the others go on.
    node_a.0.kill().expect("kill -9");
    let _ = node_a.0.wait();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let attempts: Vec<Attempt> = depositors.join_all().await.into_iter().flatten().collect();
    let acknowledged: Vec<&(String, Vec<u8>)> = attempts.iter().filter_map(|(_, d)| d.as_ref()).collect();
    let statuses: BTreeMap<u16, usize> = attempts.iter().fold(BTreeMap::new(), |mut m, (s, _)| {
        *m.entry(*s).or_default() += 1;
        m
    });
    // 503 while PostgreSQL was down; at most the two deposits in flight on A when it died cut.
    let cut: usize = statuses.iter().filter(|(s, _)| !matches!(s, 201 | 503)).map(|(_, n)| n).sum();
    assert!(cut <= 2, "only 201, 503 and the deposits A held when killed: {statuses:?}");
    assert!(statuses.get(&503).is_some_and(|n| *n > 0) && acknowledged.len() > 4, "load across the outage: {statuses:?}");
    for _ in 0..10 {
        assert_eq!(probe(lb.clone()).await, 200, "the balancer goes on with B and C");
    }
    for (id, bytes) in &acknowledged {
        let (status, got) = send(http.get(format!("{b}/api/documents/{id}/content")).bearer_auth(&doctor)).await;
        assert!(status == 200 && got == *bytes, "acknowledged deposit {id} read back byte-identical ({status})");
    }
    let verified = succeeded(&carnet(&data, &config, &["ledger", "verify"]));
    assert!(verified.starts_with("ledger ok"), "{verified}");

    // The object store gone: a deposit fails cleanly, and nothing is recorded without its blob.
    let listed = |url: String| {
        let (http, doctor, ins) = (http.clone(), doctor.clone(), ins.clone());
        async move {
            let (status, body) = send(http.get(format!("{url}/api/records/{ins}/documents")).bearer_auth(&doctor)).await;
            assert_eq!(status, 200, "{}", text(&body));
            serde_json::from_slice::<Value>(&body).expect("JSON")["total"].as_u64().expect("total")
        }
    };
    let before = listed(b.clone()).await;
    drop(s3);
    let slow = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("client");
    let started = Instant::now();
    let (status, body) = send(
        slow.post(format!("{b}/api/records/{ins}/documents")).bearer_auth(&doctor).multipart(
            reqwest::multipart::Form::new()
                .part(
                    "metadata",
                    reqwest::multipart::Part::text(
                        json!({"unique_id": "1.2.250.1.999.23.9.1", "type_code": "11502-2", "mime_type": "application/pdf"}).to_string(),
                    )
                    .mime_str("application/json")
                    .expect("mime"),
                )
                .part("content", reqwest::multipart::Part::bytes(b"%PDF no store".to_vec()).mime_str("application/pdf").expect("mime")),
        ),
    )
    .await;
    assert_eq!(status, 503, "after {:?}: {}", started.elapsed(), text(&body));
    assert_eq!(listed(b.clone()).await, before, "nothing recorded without its blob");
    drop(cluster);
}

/// An executable shell script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Where the document's text extraction stands, read from the shared database.
async fn extraction_of(db: &carnet_store::Database, id: &str) -> Option<carnet_store::ExtractionState> {
    use carnet_store::ExtractionStore;
    let id = carnet_domain::DocumentId::parse(id).expect("document id");
    db.find_extraction(id).await.expect("read the extraction queue")
}

/// A node stopped gracefully (SIGTERM) while it holds leases gives them back: the other node takes
/// the extraction job it was in the middle of at its next round — seconds, not the lease's 60
/// minutes — and the retention sweep's lease is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_mid_lease_hands_its_work_to_the_other_at_once() {
    let Ok(admin) = std::env::var("CARNET_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED a_node_stopped_mid_lease_hands_its_work_to_the_other_at_once: CARNET_TEST_POSTGRES_URL is not set \
             (scripts/test starts PostgreSQL)"
        );
        return;
    };
    let database_url = carnet_store::conformance::scratch_postgres_url(&admin).await.expect("scratch database");
    let dir = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    // Stand-ins for poppler: A's pdftotext never ends (a long extraction), B's answers at once.
    let pdfinfo = script(dir.path(), "pdfinfo", "cat >/dev/null\necho 'Pages:          1'");
    let slow = script(dir.path(), "pdftotext-slow", "cat >/dev/null\nexec sleep 600");
    let fast = script(dir.path(), "pdftotext-fast", "cat >/dev/null\necho 'Compte rendu de biologie'");
    let config_with = |name: &str, pdftotext: &Path| {
        let config = dir.path().join(name);
        std::fs::write(
            &config,
            format!(
                "database_url = \"{database_url}\"\n[extraction]\ninterval_seconds = 1\nlease_minutes = 60\npdfinfo = \"{}\"\npdftotext = \"{}\"\n",
                pdfinfo.display(),
                pdftotext.display()
            ),
        )
        .expect("write");
        config
    };
    let (config_a, config_b) = (config_with("a.toml", &slow), config_with("b.toml", &fast));
    let insurer = token(&data, &config_a, &["--role", "insurer_agent", "--sub", "insurer"]);
    let doctor = professional(&data, &config_a, 1, "10");
    let ins = carnet_store::bench_ins(2102).expect("INS").to_string();
    let patient = token(&data, &config_a, &["--role", "patient", "--sub", "patient", "--ins", &ins]);
    let db = carnet_store::Database::connect(&database_url).await.expect("the shared database");

    let (mut node_a, a) = start_node(&data, &config_a);
    let http = client();
    create_record(&http, &a, &insurer, &ins).await;
    change(&http, &a, &patient, &ins, json!({"change": "authorize", "rpps": rpps(1)})).await;
    let id = deposit(&http, &a, &doctor, &ins, 1, b"%PDF-1.7 bilan").await;
    // A claims the job (its lease: 60 minutes) and runs its endless pdftotext.
    let deadline = Instant::now() + Duration::from_secs(30);
    while extraction_of(&db, &id).await != Some(carnet_store::ExtractionState::Pending { attempts: 1, last_error: None }) {
        assert!(Instant::now() < deadline, "A never claimed the job: {:?}", extraction_of(&db, &id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    let sweep_holder = || async {
        sqlx::query_scalar::<_, String>("SELECT holder FROM job_leases WHERE job = 'retention_sweep'")
            .fetch_optional(&pool)
            .await
            .expect("job_leases")
    };
    let held_by_a = sweep_holder().await.expect("A took the retention sweep's lease at its start");

    // B starts while A holds everything: its rounds find the job leased and the sweep held.
    let (_node_b, _b) = start_node(&data, &config_b);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        extraction_of(&db, &id).await,
        Some(carnet_store::ExtractionState::Pending { attempts: 1, last_error: None }),
        "A's lease holds B off"
    );
    assert_eq!(sweep_holder().await.as_deref(), Some(held_by_a.as_str()));

    // A stopped as an orchestrator stops it.
    drop(http);
    let pid = node_a.0.id().to_string();
    succeeded(&Command::new("kill").args(["-TERM", &pid]).output().expect("kill -TERM"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = node_a.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "A did not stop within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "a graceful stop: {exit:?}");
    assert_eq!(sweep_holder().await, None, "A gave the retention sweep's lease back");
    // B takes the job at its next round and extracts it, 59 minutes before A's lease would have ended.
    let deadline = Instant::now() + Duration::from_secs(30);
    while extraction_of(&db, &id).await != Some(carnet_store::ExtractionState::Done) {
        assert!(Instant::now() < deadline, "B did not take the job up: {:?}", extraction_of(&db, &id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    db.close().await;
}
