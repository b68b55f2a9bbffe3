//! The `carnet` binary as a user runs it: the demo and its printed example calls, tokens,
//! configuration errors, and administration commands on both backends.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_carnet");

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A running `carnet demo`, killed on drop.
pub(crate) struct Demo {
    child: Child,
    pub(crate) printed: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_demo(dir: &Path, port: u16) -> Demo {
    let child = Command::new(BIN)
        .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env_remove("CARNET_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("carnet demo starts");
    // Owned by `Demo` at once, so a failing assertion below still kills it.
    let mut demo = Demo { child, printed: String::new() };
    let stdout = demo.child.stdout.take().expect("stdout");
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("utf-8 output");
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    // Keep draining, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    assert!(printed.contains("Press Ctrl-C"), "the demo printed its welcome:\n{printed}");
    // The welcome is printed before the listener is bound: wait for /health.
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let ok = Command::new("curl").args(["-sf", "--max-time", "10", &health]).output().map(|o| o.status.success()).unwrap_or(false);
        if ok {
            demo.printed = printed;
            return demo;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the demo never answered {health}");
}

/// The example `curl` commands of the welcome text, continuation lines joined.
fn example_calls(printed: &str) -> Vec<String> {
    let mut calls = Vec::new();
    let mut current = String::new();
    for line in printed.lines().map(str::trim) {
        if current.is_empty() && !line.starts_with("curl ") {
            continue;
        }
        current.push_str(line.trim_end_matches('\\').trim());
        current.push(' ');
        if !line.ends_with('\\') {
            calls.push(std::mem::take(&mut current));
        }
    }
    calls
}

fn run_call(dir: &Path, call: &str) -> (u16, String) {
    let script = format!(". ./carnet-demo/tokens.env && {} -o /dev/stdout -w '\\n%{{http_code}}'", call);
    let out = Command::new("bash").arg("-c").arg(&script).current_dir(dir).output().expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn the_demo_starts_and_its_printed_calls_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let demo = start_demo(dir.path(), port);
    let calls = example_calls(&demo.printed);
    // Own record, a doctor's look-up, a refused look-up, statistics, directory, creation, her
    // documents, a download, a deposit, the nurse's list, the history, a SAMU access, the review
    // queue, the tree head, close, reopen.
    let expected = [200, 200, 403, 200, 200, 201, 200, 200, 201, 200, 200, 201, 200, 200, 200, 200];
    assert_eq!(calls.len(), expected.len(), "the welcome shows {} calls:\n{}", expected.len(), calls.join("\n"));
    for (call, want) in calls.iter().zip(expected) {
        let (status, body) = run_call(dir.path(), call);
        assert_eq!(status, want, "{call}\n→ {body}");
    }
    assert!(dir.path().join("carnet-demo/carnet.db").exists(), "the embedded default is SQLite in the data directory");

    // `carnet token` mints from the same dev issuer key, and the server accepts it.
    let token = Command::new(BIN)
        .args(["token", "--data-dir", "carnet-demo", "--role", "professional", "--rpps", "10010003019", "--profession", "60"])
        .current_dir(dir.path())
        .output()
        .expect("carnet token");
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    let call = format!("curl -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{port}/api/professionals/10010001013");
    assert_eq!(run_call(dir.path(), &call).0, 200);

    // A second start reuses the data without seeding again: the printed calls still work (the
    // download names the same document), and the demo's own replays add nothing to the history.
    drop(demo);
    let again = start_demo(dir.path(), port);
    let calls = example_calls(&again.printed);
    assert_eq!(run_call(dir.path(), &calls[0]).0, 200);
    assert!(calls[7].contains("/content"), "{}", calls[7]);
    assert_eq!(run_call(dir.path(), &calls[7]).0, 200, "{}", calls[7]);
    assert!(calls[10].contains("access-history"), "{}", calls[10]);
    let (status, history) = run_call(dir.path(), &calls[10]);
    assert_eq!(status, 200);
    assert!(!history.contains("document.resubmit"), "a restart replayed the seeding: {history}");
}

fn carnet(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env_remove("CARNET_CONFIG").env("CARNET_DATA_DIR", dir.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("carnet runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn what_carnet_creates_is_readable_by_its_own_user_only_whatever_the_umask() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // Started as a default shell starts it: umask 022.
    let out = Command::new("sh")
        .args(["-c", &format!("umask 022 && exec {BIN} admin sweep")])
        .current_dir(dir.path())
        .env_remove("CARNET_CONFIG")
        .env("CARNET_DATA_DIR", &data)
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&data), 0o700, "the data directory");
    let mut seen = 0;
    let mut pending = vec![data];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").map(|e| e.expect("entry").path()) {
            if entry.is_dir() {
                assert_eq!(mode(&entry), 0o700, "{}", entry.display());
                pending.push(entry);
            } else {
                assert_eq!(mode(&entry) & 0o077, 0, "{} is {:o}", entry.display(), mode(&entry));
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "the databases and keys were created: {seen} files");
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = carnet(dir.path(), &["admin", "sweep"], &[("CARNET_LIMITS__JSON_BODY_BYTES", "10")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("json_body_bytes must be at least 1024"), "{}", stderr(&out));

    let out = carnet(dir.path(), &["admin", "sweep"], &[("CARNET_DATABASE_URL", "mysql://localhost/x")]);
    assert!(stderr(&out).contains("database URL: unsupported scheme"), "{}", stderr(&out));

    let file = dir.path().join("carnet.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:9999\"\ncolour = \"blue\"\n").expect("write");
    let out = carnet(dir.path(), &["--config", "carnet.toml", "admin", "sweep"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("colour"), "names the unknown key: {}", stderr(&out));

    let out = carnet(dir.path(), &["--config", "missing.toml", "serve"], &[]);
    assert!(stderr(&out).contains("missing.toml not found"), "{}", stderr(&out));

    let out = carnet(dir.path(), &["token", "--role", "nurse"], &[]);
    assert!(stderr(&out).contains("unknown role"), "{}", stderr(&out));
}

fn import_professionals_on(database_url: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("CARNET_DATABASE_URL", database_url)];
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "rpps,family_name,given_name,profession,specialty,finess\n10010001013,BERNARD,Sophie,10,,\n10010002029,PETIT,Julien,11,,\n",
    )
    .expect("write");
    let out = carnet(dir.path(), &["admin", "import-professionals", "bad.csv"], &env);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("line 3: profession"), "{}", stderr(&out));

    let good = dir.path().join("good.csv");
    std::fs::write(&good, "rpps,family_name,given_name,profession,specialty,finess\n10010001013,BERNARD,Sophie,10,SM54,750001018\n10010002029,PETIT,Julien,21,,\n").expect("write");
    let out = carnet(dir.path(), &["admin", "import-professionals", "good.csv"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 professionals"));

    let out = carnet(dir.path(), &["admin", "sweep"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "archived: 0, destroyed: 0, shredded: 0\ninterrupted uploads removed: 0, orphan blobs deleted: 0"
    );

    // Key rotation: a new master key file replaces the old one, with owner-only permissions.
    let keys = dir.path().join("data/keys");
    let key_files = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&keys)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".key")).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let before = key_files();
    assert_eq!(before.len(), 1, "the first start created one master key");
    let out = carnet(dir.path(), &["keys", "rotate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    let after = key_files();
    assert_eq!(after.len(), 1);
    assert_ne!(after, before);
    assert!(printed.contains(&format!("retired: {}", before[0].trim_end_matches(".key"))), "{printed}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(keys.join(&after[0])).expect("key file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A master key others can read is refused at start.
    std::fs::set_permissions(keys.join(&after[0]), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = carnet(dir.path(), &["admin", "sweep"], &env);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("readable by group or others"), "{}", stderr(&out));
}

#[test]
fn admin_commands_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    import_professionals_on(&format!("sqlite://{}", dir.path().join("admin.db").display()));
}

#[tokio::test]
async fn admin_commands_on_postgres() {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL")
        .expect("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
    let (db, url) = carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database");
    db.close().await;
    tokio::task::spawn_blocking(move || import_professionals_on(&url)).await.expect("joined");
}

/// `carnet ledger verify` on an installation: clean, then after an entry was rewritten in the
/// store (its append-only trigger dropped first, as an attacker with database access would).
fn ledger_verify_on(database_url: &str, tamper: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("CARNET_DATABASE_URL", database_url)];
    // Two rotations write ledger entries (keys.rotate, by the operator).
    for _ in 0..2 {
        let out = carnet(dir.path(), &["keys", "rotate"], &env);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = carnet(dir.path(), &["ledger", "verify"], &env);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{printed}{}", stderr(&out));
    assert!(printed.contains("ledger ok: 2 entries"), "{printed}");
    // A wrong public key: no head verifies.
    let out = carnet(dir.path(), &["ledger", "verify", "--public-key", &"00".repeat(32)], &env);
    assert!(!out.status.success());
    tamper(&dir.path().join("data"));
    let out = carnet(dir.path(), &["ledger", "verify"], &env);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a rewritten entry is caught: {printed}");
    assert!(printed.contains("first bad index 0"), "{printed}");
}

#[test]
fn ledger_verify_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("admin.db").display());
    ledger_verify_on(&db, |data_dir| {
        let script = "import sqlite3, sys\n\
c = sqlite3.connect(sys.argv[1])\n\
c.execute('DROP TRIGGER entries_no_update')\n\
c.execute(\"UPDATE entries SET entry = CAST(REPLACE(CAST(entry AS TEXT), 'operator', 'operatoR') AS BLOB) WHERE idx = 0\")\n\
c.commit()\n";
        let out = Command::new("python3").args(["-c", script]).arg(data_dir.join("ledger.db")).output().expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    });
}

#[tokio::test]
async fn ledger_verify_on_postgres() {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL")
        .expect("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
    let (db, url) = carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database");
    db.close().await;
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let target = url.clone();
        ledger_verify_on(&url, move |_| {
            handle.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&target).await.expect("connect");
                sqlx::query("DROP TRIGGER entries_append_only ON ledger.entries").execute(&mut c).await.expect("drop trigger");
                sqlx::query("UPDATE ledger.entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'operator', 'operatoR'), 'UTF8') WHERE idx = 0")
                    .execute(&mut c)
                    .await
                    .expect("tamper");
            });
        });
    })
    .await
    .expect("joined");
}

/// `carnet admin sweep` also runs a round of the upload sweep: a blob no document or upload
/// claims, older than the upload deadline, is deleted; a recent one (an upload may still be
/// writing it) is kept.
#[test]
fn admin_sweep_deletes_old_orphan_blobs_and_keeps_recent_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = carnet(dir.path(), &["admin", "sweep"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let blobs = dir.path().join("data").join("blobs").join("documents");
    std::fs::create_dir_all(&blobs).expect("blob directory");
    let (old, recent) = (blobs.join(uuid::Uuid::new_v4().to_string()), blobs.join(uuid::Uuid::new_v4().to_string()));
    std::fs::write(&old, b"left by a crashed upload").expect("write");
    std::fs::write(&recent, b"an upload in progress").expect("write");
    let touched = Command::new("touch").args(["-d", "3 days ago"]).arg(&old).status().expect("touch");
    assert!(touched.success());
    let out = carnet(dir.path(), &["admin", "sweep"], &[]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(said.contains("orphan blobs deleted: 1"), "{said}");
    assert!(!old.exists(), "the old orphan is gone");
    assert!(recent.exists(), "the recent one is kept");
}

/// `carnet admin extraction retry` puts "text unavailable" jobs back in the queue and says how
/// many (the queue's behaviour is tested on both backends in crates/server's extraction tests);
/// a malformed `--ins` is refused, naming it.
#[test]
fn admin_extraction_retry_says_how_many_jobs_are_back_in_the_queue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = carnet(dir.path(), &["admin", "extraction", "retry", "--reason", "tool_missing"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.starts_with("0 documents whose text was unavailable are back in the extraction queue"), "{said}");
    let out = carnet(dir.path(), &["admin", "extraction", "retry", "--ins", "123"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--ins"), "{}", stderr(&out));
}
