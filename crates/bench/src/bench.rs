//! `carnet-bench …`: benchmarks that print their figures. They never pass or fail on time; the
//! numbers go to BENCHMARKS.md with the command that produced them.
//!
//! The server under test is a separate `carnet serve` process (this same binary) on loopback, so
//! its peak memory is its own and the load generator's work is not counted against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use carnet_auth::{DevIssuer, TokenClaims};
use carnet_domain::{Ins, Role};

const MIB: f64 = 1024.0 * 1024.0;

#[derive(clap::Args)]
pub struct DocumentsArgs {
    /// Size of the document to round-trip, in MiB.
    #[arg(long, default_value_t = 2048)]
    pub size_mib: u64,
    /// Where the server under test keeps its data (default: a fresh temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// The server under test: `CARNET_BIN`, or the `carnet` binary built beside this one.
pub(crate) fn carnet_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CARNET_BIN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe().context("finding this binary")?.with_file_name("carnet");
    if !beside.exists() {
        bail!("no carnet binary at {}: build it too (cargo build --release -p carnet) or set CARNET_BIN", beside.display());
    }
    Ok(beside)
}

/// A `carnet serve` child on loopback, killed on drop.
pub struct ServerUnderTest {
    /// `None` for a balancer in front of servers started elsewhere.
    child: Option<Child>,
    pub url: String,
    dev: DevIssuer,
}

impl Drop for ServerUnderTest {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl ServerUnderTest {
    pub async fn start(data_dir: &Path, extra_env: &[(&str, String)]) -> anyhow::Result<ServerUnderTest> {
        ServerUnderTest::launch(data_dir, extra_env, false).await
    }

    /// `carnet demo` in `dir` (its data in `dir/carnet-demo`): the demo's data, its portal and
    /// dev sign-in, as a newcomer gets them.
    pub async fn start_demo(dir: &Path, extra_env: &[(&str, String)]) -> anyhow::Result<ServerUnderTest> {
        ServerUnderTest::launch(dir, extra_env, true).await
    }

    async fn launch(data_dir: &Path, extra_env: &[(&str, String)], demo: bool) -> anyhow::Result<ServerUnderTest> {
        std::fs::create_dir_all(data_dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = Command::new(carnet_binary()?);
        if demo {
            cmd.args(["demo", "--bind", &format!("127.0.0.1:{port}")]).current_dir(data_dir);
        } else {
            cmd.arg("serve").env("CARNET_DATA_DIR", data_dir).env("CARNET_BIND", format!("127.0.0.1:{port}"));
        }
        cmd.env_remove("CARNET_CONFIG")
            .env("CARNET_AUTH__DEV_ISSUER", "true")
            // The server's own log level: warnings, unless a profiling session asks for more
            // (e.g. CARNET_BENCH_SERVER_LOG=sqlx::query=debug for each statement's time).
            .env("RUST_LOG", std::env::var("CARNET_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("starting carnet")?;
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        // The demo creates its data directory (and the dev issuer's key) itself.
        let keys = if demo { data_dir.join("carnet-demo") } else { data_dir.to_owned() };
        if demo {
            while Instant::now() < deadline && !keys.join("seeded-documents.txt").exists() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let dev = DevIssuer::load_or_create(&keys)?;
        let server = ServerUnderTest { child: Some(child), url: format!("http://127.0.0.1:{port}"), dev };
        while Instant::now() < deadline {
            if client.get(format!("{}/ready", server.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server under test never became ready")
    }

    /// A load balancer at `url` in front of servers sharing `data_dir` (its dev issuer mints the
    /// tokens): requests go to `url`, nothing is started or killed.
    pub fn front(url: &str, data_dir: &Path) -> anyhow::Result<ServerUnderTest> {
        Ok(ServerUnderTest { child: None, url: url.to_owned(), dev: DevIssuer::load_or_create(data_dir)? })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn token(&self, claims: &TokenClaims) -> anyhow::Result<String> {
        Ok(self.dev.mint(claims, "carnet", time::Duration::hours(4), time::OffsetDateTime::now_utc())?)
    }

    /// The server's peak resident memory so far (Linux `VmHWM`), in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("VmHWM not reported")?;
        let kib: u64 = line.split_whitespace().nth(1).context("VmHWM value")?.parse()?;
        Ok(kib * 1024)
    }
}

/// Throughput of the machine's AES-256-GCM and SHA-256 on `mib` MiB, the ceiling of what a
/// document round trip can reach (a deposit does both; a retrieval only AES-GCM).
fn crypto_ceilings(mib: usize) -> anyhow::Result<(f64, f64, f64)> {
    use sha2::Digest;
    let block = Bytes::from(pseudo_random(1 << 20));
    let start = Instant::now();
    let mut h = sha2::Sha256::new();
    for _ in 0..mib {
        h.update(&block);
    }
    std::hint::black_box(h.finalize());
    let sha = mib as f64 / start.elapsed().as_secs_f64();

    let key = carnet_crypto::DataKey::generate();
    let start = Instant::now();
    let mut sealer = carnet_crypto::StreamSealer::new(&key, [1; 16], carnet_crypto::blob::DEFAULT_CHUNK_SIZE);
    let mut out = 0usize;
    for _ in 0..mib {
        out += sealer.push(&block)?.iter().map(Bytes::len).sum::<usize>();
    }
    let (last, _) = sealer.finish()?;
    std::hint::black_box(out + last.len());
    let seal_and_hash = mib as f64 / start.elapsed().as_secs_f64();

    let blob = carnet_crypto::blob::seal_all(&key, [2; 16], carnet_crypto::blob::DEFAULT_CHUNK_SIZE, &block)?;
    let start = Instant::now();
    for _ in 0..mib {
        let mut o = carnet_crypto::StreamOpener::new(&key, [2; 16], &blob[..24], blob.len() as u64, 0, block.len() as u64)?;
        std::hint::black_box(o.push(&blob[24..])?);
    }
    let open = mib as f64 / start.elapsed().as_secs_f64();
    Ok((sha, seal_and_hash, open))
}

/// Sequential write speed of the data directory's disk, fsync included: the other ceiling of a
/// deposit.
fn disk_ceiling(dir: &Path, mib: usize) -> anyhow::Result<f64> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("disk-ceiling.tmp");
    let block = pseudo_random(1 << 20);
    let start = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    for _ in 0..mib {
        f.write_all(&block)?;
    }
    f.sync_all()?;
    let speed = mib as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(speed)
}

/// Incompressible-looking bytes, fast to make (xorshift).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub async fn documents(args: DocumentsArgs) -> anyhow::Result<()> {
    let size = args.size_mib * 1024 * 1024;
    let tmp = tempfile::tempdir()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| tmp.path().join("data"));
    println!("carnet-bench documents: {} MiB round trip through `carnet serve` on loopback", args.size_mib);
    println!(
        "machine: {} cores; data directory {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        data_dir.display()
    );

    let ceiling_mib = 256.min(args.size_mib.max(16) as usize);
    let (sha, seal, open) = crypto_ceilings(ceiling_mib)?;
    println!("ceilings on this machine (one core, {ceiling_mib} MiB in memory):");
    println!("  SHA-256                       {sha:8.0} MiB/s");
    println!("  AES-256-GCM open (retrieval)  {open:8.0} MiB/s");
    println!("  AES-256-GCM seal + SHA-256    {seal:8.0} MiB/s   (what a deposit must do)");
    let disk = disk_ceiling(&data_dir, ceiling_mib * 2)?;
    println!("  disk write + fsync            {disk:8.0} MiB/s   ({} MiB in the data directory)", ceiling_mib * 2);

    let server = ServerUnderTest::start(&data_dir, &[("CARNET_LIMITS__DOCUMENT_BYTES", (size + 1).to_string())]).await?;
    let rss_idle = server.peak_rss()?;
    let ins = Ins::from_body("2790375012345").context("bench INS")?;
    let insurer = server.token(&TokenClaims { sub: "bench-insurer".into(), role: Role::InsurerAgent, ..TokenClaims::default() })?;
    let doctor = server.token(&TokenClaims {
        sub: "bench-doctor".into(),
        role: Role::Professional,
        rpps: Some("10000001015".into()),
        profession: Some("10".into()),
        ..TokenClaims::default()
    })?;
    let client = reqwest::Client::builder().build()?;
    let record = serde_json::json!({
        "ins": ins.to_string(), "identity_status": "qualifiee", "birth_name": "BENCH", "birth_given_names": "Test",
        "birth_date": "1979-03-01", "sex": "F",
    });
    let r = client.post(format!("{}/api/records", server.url)).bearer_auth(&insurer).json(&record).send().await?;
    if !r.status().is_success() && r.status() != reqwest::StatusCode::CONFLICT {
        bail!("creating the bench record: {} {}", r.status(), r.text().await.unwrap_or_default());
    }

    // Deposit: a multipart body streamed from a 1 MiB block repeated.
    let block = Bytes::from(pseudo_random(1 << 20));
    let boundary = "carnet-bench-boundary";
    let metadata = serde_json::json!({"unique_id": format!("urn:uuid:{}", uuid::Uuid::new_v4()), "type_code": "18748-4", "format_code": "urn:ihe:rad:PDF", "mime_type": "application/pdf", "title": "bench"});
    let head = Bytes::from(format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"bench.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
    let body_len = head.len() as u64 + size + tail.len() as u64;
    let full = size / block.len() as u64;
    let rest = (size % block.len() as u64) as usize;
    let pieces = std::iter::once(head)
        .chain(std::iter::repeat_n(block.clone(), full as usize))
        .chain((rest > 0).then(|| block.slice(..rest)))
        .chain(std::iter::once(tail))
        .map(Ok::<_, std::io::Error>);
    let start = Instant::now();
    let r = client
        .post(format!("{}/api/records/{ins}/documents", server.url))
        .bearer_auth(&doctor)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("content-length", body_len)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await?;
    let status = r.status();
    let created: serde_json::Value = r.json().await?;
    let upload = start.elapsed();
    if status != reqwest::StatusCode::CREATED {
        bail!("the deposit failed: {status} {created}");
    }
    let id = created["id"].as_str().context("document id")?.to_owned();
    let rss_after_upload = server.peak_rss()?;

    // Retrieval, streamed, through /api and through FHIR ITI-68 (`/fhir/Binary/{id}`).
    let (download, received, identical) = retrieve(&client, &format!("{}/api/documents/{id}/content", server.url), &doctor, &block).await?;
    if received != size || !identical {
        bail!("the round trip changed the bytes ({received} of {size} bytes received)");
    }
    let (iti68, received, identical) = retrieve(&client, &format!("{}/fhir/Binary/{id}", server.url), &doctor, &block).await?;
    if received != size || !identical {
        bail!("ITI-68 changed the bytes ({received} of {size} bytes received)");
    }
    let rss_peak = server.peak_rss()?;
    let sent: String = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for _ in 0..full {
            h.update(&block);
        }
        h.update(&block[..rest]);
        carnet_domain::hex::encode(&h.finalize())
    };
    if created["sha256"].as_str() != Some(sent.as_str()) {
        bail!("the server's SHA-256 of the deposit differs from the client's");
    }
    let on_disk = std::fs::metadata(data_dir.join("blobs/documents").join(&id)).map(|m| m.len()).unwrap_or(0);

    let mib = size as f64 / MIB;
    let up = mib / upload.as_secs_f64();
    let down = mib / download.as_secs_f64();
    println!("round trip of {mib:.0} MiB (byte-identical; the server's SHA-256 of the deposit checked by the client):");
    println!(
        "  deposit (stream, seal, hash, fsync)  {up:8.0} MiB/s  ({:.1} s)   {:.0}% of min(seal+hash, disk)",
        upload.as_secs_f64(),
        100.0 * up / seal.min(disk)
    );
    println!(
        "  retrieval (stream, open)             {down:8.0} MiB/s  ({:.1} s)   {:.0}% of the open ceiling",
        download.as_secs_f64(),
        100.0 * down / open
    );
    let fhir = mib / iti68.as_secs_f64();
    println!(
        "  ITI-68 GET /fhir/Binary/{{id}}         {fhir:8.0} MiB/s  ({:.1} s)   {:.0}% of the open ceiling",
        iti68.as_secs_f64(),
        100.0 * fhir / open
    );
    println!("  stored blob: {on_disk} bytes ({:.3}% overhead)", 100.0 * (on_disk as f64 - size as f64) / size as f64);
    println!(
        "server peak RSS (VmHWM): idle {:.1} MiB, after deposit {:.1} MiB, after retrieval {:.1} MiB",
        rss_idle as f64 / MIB,
        rss_after_upload as f64 / MIB,
        rss_peak as f64 / MIB
    );
    Ok(())
}

/// Streams `url` and compares every byte with `block` repeated (a memcmp: hashing here would
/// steal the second core from the server). Returns (elapsed, bytes, identical).
async fn retrieve(client: &reqwest::Client, url: &str, token: &str, block: &[u8]) -> anyhow::Result<(std::time::Duration, u64, bool)> {
    use futures::StreamExt;
    let start = Instant::now();
    let r = client.get(url).bearer_auth(token).header("accept", "application/octet-stream").send().await?;
    if !r.status().is_success() {
        bail!("the retrieval from {url} failed: {}", r.status());
    }
    let mut stream = r.bytes_stream();
    let mut received = 0u64;
    let mut identical = true;
    while let Some(piece) = stream.next().await {
        let mut piece = piece?;
        while !piece.is_empty() {
            let at = (received % block.len() as u64) as usize;
            let n = piece.len().min(block.len() - at);
            identical &= piece[..n] == block[at..at + n];
            received += n as u64;
            piece = piece.slice(n..);
        }
    }
    Ok((start.elapsed(), received, identical))
}

#[derive(clap::Args)]
pub struct LedgerArgs {
    /// Entries appended per configuration.
    #[arg(long, default_value_t = 4000)]
    pub entries: usize,
    /// Concurrent appenders (request handlers waiting for their receipt).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Also measure on this PostgreSQL database (its `ledger` schema), e.g. a throwaway cluster.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// Instead: append `--entries` with group commit, then time a whole verification of the
    /// store (`carnet ledger verify`'s) and the paced one `serve` runs on a schedule.
    #[arg(long)]
    pub verify: bool,
}

/// Ledger appends per second with group commit (one transaction and one fsync per batch) against
/// one commit per entry, measured in the same run, and the bytes stored per entry.
pub async fn ledger(args: LedgerArgs) -> anyhow::Result<()> {
    use carnet_ledger::{Ed25519Signer, GroupCommit, Ledger, LedgerConfig};
    println!("carnet-bench ledger: {} entries, {} concurrent appenders", args.entries, args.concurrency);
    if args.verify {
        return ledger_verify(&args).await;
    }
    let tmp = tempfile::tempdir()?;
    let mut targets: Vec<(String, String)> = Vec::new();
    for (n, mode) in ["group", "single"].iter().enumerate() {
        targets.push((
            format!("SQLite (WAL, synchronous=FULL), {mode}"),
            format!("sqlite://{}", tmp.path().join(format!("ledger-{n}.db")).display()),
        ));
    }
    if let Some(url) = &args.postgres_url {
        targets.push(("PostgreSQL, group".into(), url.clone()));
        targets.push(("PostgreSQL, single".into(), url.clone()));
    }
    let mut baseline = None;
    for (label, url) in targets {
        let group = label.ends_with("group");
        let config =
            LedgerConfig { group_commit: if group { GroupCommit::default() } else { GroupCommit::Off }, ..LedgerConfig::default() };
        let signer = std::sync::Arc::new(Ed25519Signer::from_seed([7; 32]));
        let ledger = Ledger::open(&url, signer, config).await?;
        // Fewer entries without group commit: one fsync each takes long on slow disks.
        let entries = if group { args.entries } else { (args.entries / 4).max(200) };
        let f = carnet_ledger::bench_appends(&ledger, entries, args.concurrency).await?;
        let ratio = match (&baseline, group) {
            (Some(single), false) => format!("   group commit is {:.1}× this", single_ratio(*single, f.per_second)),
            _ => String::new(),
        };
        if group {
            baseline = Some(f.per_second);
        }
        println!(
            "  {label:<40} {:>9.0} appends/s  {:>6.0} bytes/entry ({} entries in {:.2} s){ratio}",
            f.per_second, f.bytes_per_entry, f.entries, f.seconds
        );
        ledger.store().close().await;
    }
    Ok(())
}

/// `carnet-bench ledger --verify`: how long a whole verification takes, on SQLite (and
/// PostgreSQL when given), unpaced and paced as `serve` paces it (10 ms per 1,000 entries).
async fn ledger_verify(args: &LedgerArgs) -> anyhow::Result<()> {
    use carnet_ledger::{Ed25519Signer, Ledger, LedgerConfig, TreeHeadSigner};
    let tmp = tempfile::tempdir()?;
    let mut targets = vec![("SQLite".to_owned(), format!("sqlite://{}", tmp.path().join("ledger.db").display()))];
    if let Some(url) = &args.postgres_url {
        targets.push(("PostgreSQL".to_owned(), url.clone()));
    }
    for (label, url) in targets {
        let signer = std::sync::Arc::new(Ed25519Signer::from_seed([7; 32]));
        let key = signer.public_key();
        let ledger = Ledger::open(&url, signer, LedgerConfig::default()).await?;
        let f = carnet_ledger::bench_appends(&ledger, args.entries, args.concurrency).await?;
        println!("  {label}: {} entries appended in {:.1} s ({:.0}/s)", f.entries, f.seconds, f.per_second);
        for (how, pause) in [("unpaced", std::time::Duration::ZERO), ("paced 10 ms / 1,000", std::time::Duration::from_millis(10))] {
            let started = std::time::Instant::now();
            let report = carnet_ledger::verify_store_paced(ledger.store(), &[key], pause).await?;
            let seconds = started.elapsed().as_secs_f64();
            if let Some(problem) = report.problem {
                anyhow::bail!("the benchmark's own ledger does not verify: {problem}");
            }
            println!(
                "  {label}: verify ({how}) {} entries, {} heads in {seconds:.2} s ({:.0} entries/s)",
                report.entries,
                report.tree_heads_checked,
                report.entries as f64 / seconds.max(f64::EPSILON)
            );
        }
        ledger.store().close().await;
    }
    Ok(())
}

fn single_ratio(group: f64, single: f64) -> f64 {
    group / single.max(f64::EPSILON)
}
