//! `carnet-bench crash`: acknowledged means kept. Depositors feed a `carnet serve` child on
//! `/api` and ITI-65 at once; the child is killed at a random point (`kill -9`, or a simulated
//! power cut with `--power-loss`), restarted, and every document acknowledged so far must come
//! back byte-identical, with a ledger that `carnet ledger verify` accepts. Unlike the other
//! workloads this one fails (exit 1) when anything acknowledged is lost: it is part of the test
//! command in a short version, on both backends.
//!
//! The power cut is simulated by `powerloss.c`, preloaded into the child: beside the data
//! directory it keeps a copy holding only what the child's flushes made durable (see the file's
//! header for what each flush promises). After the kill, that copy becomes the data directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use carnet_domain::Ins;
use sha2::Digest;

use crate::bench::ServerUnderTest;
use crate::bench_http::provide_bundle;

#[derive(clap::Args)]
pub struct CrashArgs {
    /// Kill cycles.
    #[arg(long, default_value_t = 30)]
    pub cycles: usize,
    /// Concurrent depositors (alternately on `/api` and ITI-65).
    #[arg(long, default_value_t = 8)]
    pub depositors: usize,
    /// Longest time the child runs under load before each cut, in milliseconds; each cut falls
    /// at a random point between a fifth of it and it.
    #[arg(long, default_value_t = 3000)]
    pub max_run_ms: u64,
    /// Largest document, in bytes (each is between half of it and it).
    #[arg(long, default_value_t = 256 * 1024)]
    pub size: usize,
    /// PostgreSQL instead of the embedded default (a fresh database: its data is added to).
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// A simulated power cut instead of a process kill: only what was flushed survives (the
    /// embedded default; needs a C compiler, `cc`).
    #[arg(long)]
    pub power_loss: bool,
    /// A few short cycles, for the test command.
    #[arg(long)]
    pub short: bool,
    /// The seed of the cut points and document sizes (printed; random by default).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A deposit the server answered with success before the cut.
struct Acknowledged {
    id: String,
    sha256: [u8; 32],
    via: Route,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Api,
    Iti65,
}

/// xorshift: cut points and sizes reproducible from the printed seed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

fn document_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut dice = Dice(seed | 1);
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((v.len()..len).map(|_| dice.next() as u8));
    v
}

pub async fn crash(args: CrashArgs) -> anyhow::Result<()> {
    let (cycles, depositors, max_run) =
        if args.short { (4.min(args.cycles), 4, 1500) } else { (args.cycles, args.depositors, args.max_run_ms) };
    if args.power_loss && args.postgres_url.is_some() {
        bail!("--power-loss simulates the embedded default's disk; PostgreSQL makes a commit durable itself (fsync, synchronous_commit)");
    }
    let seed =
        args.seed.unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64));
    let mut dice = Dice(seed | 1);
    let backend = if args.postgres_url.is_some() { "PostgreSQL" } else { "SQLite (embedded default)" };
    let cut = if args.power_loss { "simulated power cut (only flushed writes survive)" } else { "kill -9" };
    println!("carnet-bench crash: {backend}; {cycles} cycles of {depositors} depositors (/api and ITI-65), {cut}; seed {seed}");

    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let mut env: Vec<(&str, String)> = vec![];
    if let Some(url) = &args.postgres_url {
        env.push(("CARNET_DATABASE_URL", url.clone()));
    }
    let preload = if args.power_loss { Some(build_interposer(tmp.path())?) } else { None };

    let ins = Ins::from_body("2850375012345").context("bench INS")?;
    let doctor = {
        let server = ServerUnderTest::start(&data, &env).await?;
        let seeded = crate::bench_http::seed_patient(&server, &reqwest::Client::new(), &ins, 0).await?;
        seeded.doctor
        // Dropped: killed. Nothing was acknowledged yet that a cut could lose.
    };

    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let mut acknowledged: Vec<Acknowledged> = vec![];
    let mut unverified_ledgers = 0;
    let started = Instant::now();
    for cycle in 1..=cycles {
        let shadow = tmp.path().join("durable");
        let mut cycle_env = env.clone();
        if let Some(library) = &preload {
            copy_tree(&data, &shadow)?;
            cycle_env.push(("LD_PRELOAD", library.display().to_string()));
            cycle_env.push(("POWERLOSS_ROOT", data.display().to_string()));
            cycle_env.push(("POWERLOSS_SHADOW", shadow.display().to_string()));
        }
        let server = ServerUnderTest::start(&data, &cycle_env).await?;
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..depositors)
            .map(|d| {
                let via = if d % 2 == 0 { Route::Api } else { Route::Iti65 };
                let worker = Depositor {
                    client: client.clone(),
                    url: server.url.clone(),
                    token: doctor.clone(),
                    ins: ins.clone(),
                    via,
                    size: args.size,
                    seed: dice.next(),
                };
                tokio::spawn(worker.run(Arc::clone(&acked), Arc::clone(&refused)))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(dice.between(max_run / 5, max_run))).await;
        drop(server);
        // Answers already on their way were sent before the cut: let the depositors read them.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for t in &tasks {
            t.abort();
        }
        let this_cycle = std::mem::take(&mut *acked.lock().map_err(|_| anyhow::anyhow!("a depositor panicked"))?);
        let fresh = this_cycle.len();
        acknowledged.extend(this_cycle);
        if preload.is_some() {
            // The disk after the cut: what was flushed.
            std::fs::remove_dir_all(&data)?;
            std::fs::rename(&shadow, &data)?;
        }
        if !ledger_verifies(&data, args.postgres_url.as_deref())? {
            unverified_ledgers += 1;
        }
        let server = ServerUnderTest::start(&data, &env).await.with_context(|| format!("restarting after cut {cycle}"))?;
        let (lost, altered) = check_all(&client, &server, &doctor, &acknowledged).await?;
        drop(server);
        println!(
            "cycle {cycle:>3}: {fresh:>4} acknowledged this cycle ({} refused), {:>5} in all; lost {}, altered {}",
            refused.load(std::sync::atomic::Ordering::Relaxed),
            acknowledged.len(),
            lost.len(),
            altered.len()
        );
        if !lost.is_empty() || !altered.is_empty() || unverified_ledgers > 0 {
            for id in &lost {
                println!("  LOST: {id}");
            }
            for id in &altered {
                println!("  ALTERED: {id}");
            }
            bail!(
                "acknowledged documents lost ({}) or altered ({}), or a ledger that does not verify ({unverified_ledgers})",
                lost.len(),
                altered.len()
            );
        }
    }
    let api = acknowledged.iter().filter(|a| a.via == Route::Api).count();
    println!(
        "\n{cycles} cuts in {:.0} s: {} deposits acknowledged ({api} /api, {} ITI-65), all present and byte-identical after every cut; `carnet ledger verify` ok after every cut",
        started.elapsed().as_secs_f64(),
        acknowledged.len(),
        acknowledged.len() - api
    );
    Ok(())
}

struct Depositor {
    client: reqwest::Client,
    url: String,
    token: String,
    ins: Ins,
    via: Route,
    size: usize,
    seed: u64,
}

impl Depositor {
    /// Deposits until the server goes away; each success is recorded the moment it is read.
    async fn run(self, acked: Arc<Mutex<Vec<Acknowledged>>>, refused: Arc<std::sync::atomic::AtomicUsize>) {
        let mut dice = Dice(self.seed | 1);
        loop {
            let len = dice.between(self.size as u64 / 2, self.size as u64 + 1) as usize;
            let bytes = document_bytes(len, dice.next());
            let sha256: [u8; 32] = sha2::Sha256::digest(&bytes).into();
            let unique = format!("{}.{}", self.seed % 1_000_000_007, dice.next() % 1_000_000_007);
            let answer = match self.via {
                Route::Api => self.by_api(bytes, &unique).await,
                Route::Iti65 => self.by_iti65(&bytes, &sha256, &unique).await,
            };
            match answer {
                Ok(Some(id)) => match acked.lock() {
                    Ok(mut acked) => acked.push(Acknowledged { id, sha256, via: self.via }),
                    Err(_) => return,
                },
                // Refused (e.g. 503 while starting): not acknowledged, try the next one.
                Ok(None) => {
                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                // The server is gone.
                Err(_) => return,
            }
        }
    }

    async fn by_api(&self, bytes: Vec<u8>, unique: &str) -> anyhow::Result<Option<String>> {
        let meta = serde_json::json!({"unique_id": format!("1.2.250.1.999.7.{unique}"), "type_code": "11502-2", "title": "Bilan", "mime_type": "application/pdf"});
        let form = reqwest::multipart::Form::new()
            .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json")?)
            .part("content", reqwest::multipart::Part::bytes(bytes).mime_str("application/pdf")?);
        let r = self
            .client
            .post(format!("{}/api/records/{}/documents", self.url, self.ins))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::CREATED {
            return Ok(None);
        }
        let body: serde_json::Value = r.json().await?;
        Ok(body["id"].as_str().map(str::to_owned))
    }

    async fn by_iti65(&self, bytes: &[u8], sha256: &[u8; 32], unique: &str) -> anyhow::Result<Option<String>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let bundle = provide_bundle(&self.ins, unique, &b64.encode(bytes), bytes.len(), &b64.encode(sha256));
        let r = self
            .client
            .post(format!("{}/fhir", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/fhir+json")
            .json(&bundle)
            .send()
            .await?;
        if !r.status().is_success() {
            return Ok(None);
        }
        let body: serde_json::Value = r.json().await?;
        let id = body["entry"].as_array().into_iter().flatten().find_map(|e| {
            let location = e["response"]["location"].as_str()?;
            location.strip_prefix("DocumentReference/").map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
        });
        Ok(id)
    }
}

/// Every acknowledged document, read back: the ids lost, then the ids whose bytes changed.
async fn check_all(
    client: &reqwest::Client,
    server: &ServerUnderTest,
    token: &str,
    acknowledged: &[Acknowledged],
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let (mut lost, mut altered) = (vec![], vec![]);
    for a in acknowledged {
        let r = client.get(format!("{}/api/documents/{}/content", server.url, a.id)).bearer_auth(token).send().await?;
        if !r.status().is_success() {
            lost.push(format!("{} ({})", a.id, r.status()));
            continue;
        }
        let body = r.bytes().await?;
        if <[u8; 32]>::from(sha2::Sha256::digest(&body)) != a.sha256 {
            altered.push(a.id.clone());
        }
    }
    Ok((lost, altered))
}

/// `carnet ledger verify` on the data directory, as an operator runs it after an incident.
fn ledger_verifies(data: &Path, postgres_url: Option<&str>) -> anyhow::Result<bool> {
    let mut cmd = std::process::Command::new(crate::bench::carnet_binary()?);
    cmd.args(["ledger", "verify"]).env_remove("CARNET_CONFIG").env("CARNET_DATA_DIR", data).env("RUST_LOG", "warn");
    if let Some(url) = postgres_url {
        cmd.env("CARNET_DATABASE_URL", url);
    }
    let out = cmd.output().context("running carnet ledger verify")?;
    if !out.status.success() {
        println!("  ledger verify: {}{}", String::from_utf8_lossy(&out.stdout).trim(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(out.status.success())
}

/// Compiles the power-cut interposer (`powerloss.c`) into `dir`.
fn build_interposer(dir: &Path) -> anyhow::Result<PathBuf> {
    let source = dir.join("powerloss.c");
    std::fs::write(&source, include_str!("powerloss.c"))?;
    let library = dir.join("powerloss.so");
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&library)
        .arg(&source)
        .args(["-ldl", "-lpthread"])
        .output()
        .context("running cc (a C compiler is needed for --power-loss)")?;
    if !out.status.success() {
        bail!("compiling the power-cut interposer: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(library)
}

/// The data directory as the disk holds it before the child starts (SQLite's shared-memory
/// index aside: it is rebuilt, never trusted from disk). `cp -a` keeps the modification times
/// the interposer compares to skip unchanged files.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    let status = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().context("running cp")?;
    if !status.success() {
        bail!("copying {} to {}", from.display(), to.display());
    }
    for entry in std::fs::read_dir(to)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with("-shm") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
