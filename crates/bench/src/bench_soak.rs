//! `carnet-bench soak`: a long mixed run against a `carnet serve` child. Each workload's capacity
//! is measured alone first (unpaced wrk, as `bench http` does); then all of them run at once, each
//! paced to half its own capacity, for `--minutes`. It reports every error by workload, wrk's
//! latency per period, the server's RSS every 10 s and its growth after warm-up, and what the run
//! left on disk. Figures only: it fails when the harness cannot run, never on time or memory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use carnet_auth::TokenClaims;
use carnet_domain::{Ins, Role, Rpps};
use futures::TryStreamExt;

use crate::bench::ServerUnderTest;
use crate::bench_http::{
    Load, Seeded, Wrk, checked_search_url, get_script, half_load_pause, pacing_lua, provide_script_numbered, pseudo_pdf, seed_patient,
};

const MIB: f64 = 1024.0 * 1024.0;

#[derive(clap::Args)]
pub struct SoakArgs {
    /// Minutes of the mixed load.
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// Seconds per period: each workload's wrk reports its latency and errors once a period.
    #[arg(long, default_value_t = 60)]
    pub period_seconds: u64,
    /// Seconds of each workload's capacity measurement (alone, unpaced).
    #[arg(long, default_value_t = 10)]
    pub capacity_seconds: u64,
    /// Concurrent connections per workload (one wrk thread each).
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// Documents in the searched patient's record.
    #[arg(long, default_value_t = 50)]
    pub documents: usize,
    /// Patients whose policies change in turn; at least 4× the connections, so that no two
    /// changes of one patient's policy are in flight at once (the second would rightly be
    /// refused as stale).
    #[arg(long, default_value_t = 1024)]
    pub patients: usize,
    /// Run on PostgreSQL (metadata and ledger) at this URL instead of the embedded SQLite.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    pub wrk: PathBuf,
    /// A run of a few seconds that only proves the harness works (CI).
    #[arg(long)]
    pub smoke: bool,
}

/// One workload of the mix: wrk's target and its Lua.
struct Workload {
    name: &'static str,
    url: String,
    /// The Lua for a mean pause between a connection's requests (`None`: unpaced), for the run
    /// numbered `start` (see `next_start`).
    script: Box<dyn Fn(Option<f64>, u64) -> String + Send + Sync>,
}

/// Where the next run of a workload starts, after one that started at `start` and answered
/// `requests`. Deposits take it as their ids' first number (each run's must differ from every other's);
/// policy changes as their first patient, past the ones the last run may have left in flight.
fn next_start(start: u64, requests: u64, patients: usize) -> u64 {
    start + requests + patients as u64 / 2
}

/// One period of one workload in the mix: what wrk measured, or why it measured nothing.
struct Period {
    index: usize,
    outcome: Result<Load, String>,
}

pub async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let smoke = args.smoke;
    let (minutes_s, period_s, capacity_s, connections) = if smoke {
        (4, 2, 1, 2)
    } else {
        (args.minutes * 60, args.period_seconds.max(1), args.capacity_seconds.max(1), args.connections.max(1))
    };
    let (documents, patients) = if smoke { (10, 16) } else { (args.documents, args.patients) };
    if patients < 4 * connections as usize {
        bail!("--patients ({patients}) must be at least 4× --connections ({connections})");
    }
    let sample_every = Duration::from_secs(if smoke { 1 } else { 10 });
    let backend = if args.postgres_url.is_some() { "PostgreSQL" } else { "SQLite (embedded default)" };
    println!(
        "carnet-bench soak: {backend}; 4 workloads × {connections} connections (wrk, 1 thread each); capacity {capacity_s} s each alone, \
         then all at once at half of it for {} s in periods of {period_s} s",
        minutes_s
    );

    let tmp = tempfile::tempdir()?;
    let data_dir = tmp.path().join("data");
    let mut env: Vec<(&str, String)> = vec![("CARNET_POLICY__ENUMERATION_LIMIT_PER_HOUR", "100000000".into())];
    if let Some(url) = &args.postgres_url {
        env.push(("CARNET_DATABASE_URL", url.clone()));
    }
    let server = ServerUnderTest::start(&data_dir, &env).await?;
    println!("data directory {}", data_dir.display());
    let client = reqwest::Client::new();
    let seeding = Instant::now();
    let searched = Ins::from_body("2840375012345").context("bench INS")?;
    let Seeded { doctor, first_id } = seed_patient(&server, &client, &searched, documents).await?;
    // Deposits go to a record of their own, so the searched record keeps its size all along.
    let deposited = Ins::from_body("2840375023456").context("deposit INS")?;
    seed_patient(&server, &client, &deposited, 0).await?;
    let holders = seed_policy_patients(&server, &client, patients).await?;
    println!(
        "seeded: {documents} documents of 100 KB to search, a record to deposit into, {patients} patients' policies to change ({:.1} s)",
        seeding.elapsed().as_secs_f64()
    );

    let workloads = workloads(&server, &client, &doctor, &first_id, &searched, &deposited, holders, documents).await?;
    let capacity_wrk = Wrk { bin: &args.wrk, seconds: capacity_s, connections, threads: 1, scripts: tmp.path() };
    let mut starts = [1u64; 4];
    let mut pauses = [0.0f64; 4];
    let mut capacity = Vec::new();
    for (n, w) in workloads.iter().enumerate() {
        let (full, _) =
            capacity_wrk.measure(&w.url, &(w.script)(None, starts[n]), None).with_context(|| format!("{}: capacity", w.name))?;
        starts[n] = next_start(starts[n], full.requests, patients);
        let start = starts[n];
        let (pause, probe) = half_load_pause(&capacity_wrk, &w.url, &full, connections, &|d| (w.script)(d, start))
            .with_context(|| format!("{}: calibrating half load", w.name))?;
        starts[n] = next_start(starts[n], probe.requests, patients);
        pauses[n] = pause;
        capacity.push((full, probe));
    }
    println!("\ncapacity, each workload alone (unpaced), and the pause that halves it:");
    println!(
        "{:<44} {:>9} {:>8} {:>8} {:>7} {:>7} {:>12} {:>10}",
        "workload", "req/s", "p50 ms", "p99 ms", "non-2xx", "socket", "half: req/s", "pause ms"
    );
    for (w, ((full, probe), pause)) in workloads.iter().zip(capacity.iter().zip(pauses)) {
        println!(
            "{:<44} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>7} {:>12.0} {:>10.1}",
            w.name,
            full.requests_per_second,
            full.p50_ms,
            full.p99_ms,
            full.non_2xx + probe.non_2xx,
            full.socket_errors + probe.socket_errors,
            full.requests_per_second / 2.0,
            pause
        );
    }

    // The mix: one thread per workload running wrk period after period until the deadline; this
    // thread samples the server's RSS meanwhile.
    let total = Duration::from_secs(minutes_s);
    let mix_started = Instant::now();
    let mut rss: Vec<(Duration, u64, u64)> = Vec::new();
    let periods: Vec<Vec<Period>> = std::thread::scope(|scope| {
        let handles: Vec<_> = workloads
            .iter()
            .enumerate()
            .map(|(n, w)| {
                let wrk = Wrk { seconds: period_s, ..capacity_wrk };
                let (pause, mut start) = (pauses[n], starts[n]);
                scope.spawn(move || {
                    let mut periods = Vec::new();
                    loop {
                        let left = total.saturating_sub(mix_started.elapsed()).as_secs_f64().round() as u64;
                        if left == 0 {
                            break;
                        }
                        let wrk = Wrk { seconds: wrk.seconds.min(left), ..wrk };
                        let outcome =
                            wrk.measure(&w.url, &(w.script)(Some(pause), start), None).map(|(l, _)| l).map_err(|e| format!("{e:#}"));
                        if let Ok(l) = &outcome {
                            start = next_start(start, l.requests, patients);
                        }
                        periods.push(Period { index: periods.len(), outcome });
                    }
                    periods
                })
            })
            .collect();
        loop {
            if let Ok((bytes, anonymous)) = vm_rss(server.pid()) {
                rss.push((mix_started.elapsed(), bytes, anonymous));
            }
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
            let next = sample_every * (rss.len() as u32);
            std::thread::sleep(next.saturating_sub(mix_started.elapsed()).max(Duration::from_millis(50)));
        }
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });

    report_periods(&workloads, &capacity, &periods, period_s);
    report_rss(&rss, &server, total)?;
    report_disk(&data_dir, args.postgres_url.as_deref(), &periods[2]);
    Ok(())
}

/// `n` patients' records (as the insurer) and each patient's own token: only the patient (or a
/// representative) changes their policy.
async fn seed_policy_patients(server: &ServerUnderTest, client: &reqwest::Client, n: usize) -> anyhow::Result<Vec<(Ins, String)>> {
    let insurer = server.token(&TokenClaims { sub: "bench-insurer".into(), role: Role::InsurerAgent, ..TokenClaims::default() })?;
    let holders = (0..n)
        .map(|i| {
            let ins = Ins::from_body(&format!("2840375{:06}", 100_000 + i)).with_context(|| format!("policy patient {i}'s INS"))?;
            let token = server.token(&TokenClaims {
                sub: format!("bench-patient-{i}"),
                role: Role::Patient,
                ins: Some(ins.to_string()),
                ..TokenClaims::default()
            })?;
            Ok((ins, token))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    futures::stream::iter(holders.iter().map(Ok))
        .try_for_each_concurrent(8, |(ins, _)| {
            let insurer = &insurer;
            async move {
                let record = serde_json::json!({"ins": ins.to_string(), "identity_status": "qualifiee", "birth_name": "SOAK",
                    "birth_given_names": "Test", "birth_date": "1984-03-01", "sex": "F"});
                let r = client.post(format!("{}/api/records", server.url)).bearer_auth(insurer).json(&record).send().await?;
                if !r.status().is_success() {
                    bail!("creating {ins}'s record: {} {}", r.status(), r.text().await.unwrap_or_default());
                }
                Ok(())
            }
        })
        .await?;
    Ok(holders)
}

/// The four workloads: ITI-67 search and ITI-68 retrieve of the searched record, ITI-65 provide
/// into the deposit record, and the patients' policy changes through `/api`.
#[allow(clippy::too_many_arguments)]
async fn workloads(
    server: &ServerUnderTest,
    client: &reqwest::Client,
    doctor: &str,
    first_id: &str,
    searched: &Ins,
    deposited: &Ins,
    holders: Vec<(Ins, String)>,
    documents: usize,
) -> anyhow::Result<Vec<Workload>> {
    let search_url = checked_search_url(server, client, doctor, searched, documents).await?;
    let (search_token, retrieve_token, provide_token) = (doctor.to_owned(), doctor.to_owned(), doctor.to_owned());
    let binary = pseudo_pdf(100 * 1024, 999_999);
    let sha = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&binary))
    };
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&binary)
    };
    let deposited = deposited.clone();
    // Every run's ids start with its own number: a repeated id would be a resubmission.
    let provide = move |pause: Option<f64>, start: u64| {
        format!("{}{}", provide_script_numbered(&provide_token, &deposited, &b64, binary.len(), &sha, Some(start)), pacing_lua(pause))
    };
    let authorized = Rpps::from_body("1000000200").context("bench RPPS")?;
    let blocked = Rpps::from_body("1000000300").context("bench RPPS")?;
    let policy_lua = policy_script(&holders, &authorized, &blocked);
    Ok(vec![
        Workload {
            name: "ITI-67 search (gate + ledger)",
            url: search_url,
            script: Box::new(move |pause, _| get_script(&search_token, pause)),
        },
        Workload {
            name: "ITI-68 retrieve 100 KB",
            url: format!("{}/fhir/Binary/{first_id}", server.url),
            script: Box::new(move |pause, _| get_script(&retrieve_token, pause).replace("application/fhir+json", "application/pdf")),
        },
        Workload { name: "ITI-65 provide 100 KB", url: format!("{}/fhir", server.url), script: Box::new(provide) },
        Workload {
            name: "policy change (authorize/block/revoke/unblock)",
            url: format!("{}/api", server.url),
            script: Box::new(move |pause, start| format!("{policy_lua}counter = {start}\n{}", pacing_lua(pause))),
        },
    ])
}

/// Lua: each request changes the next patient's policy, round after round of the patients:
/// authorize one professional, block another, revoke the first, unblock the second. One wrk
/// thread, so one counter for all its connections.
fn policy_script(holders: &[(Ins, String)], authorized: &Rpps, blocked: &Rpps) -> String {
    let patients: Vec<String> = holders.iter().map(|(ins, token)| format!("{{\"{ins}\", \"{token}\"}}")).collect();
    let changes = [("authorize", authorized), ("block", blocked), ("revoke", authorized), ("unblock", blocked)]
        .map(|(change, rpps)| format!("[[{{\"change\": \"{change}\", \"rpps\": \"{}\"}}]]", rpps.as_str()));
    format!(
        r#"local patients = {{ {} }}
local changes = {{ {} }}
function request()
  local p = patients[(counter % #patients) + 1]
  local body = changes[(math.floor(counter / #patients) % #changes) + 1]
  counter = counter + 1
  return wrk.format("POST", "/api/records/" .. p[1] .. "/policy/changes", {{ ["Authorization"] = "Bearer " .. p[2], ["Content-Type"] = "application/json" }}, body)
end
"#,
        patients.join(",\n"),
        changes.join(", ")
    )
}

/// The server's resident memory now (Linux `VmRSS`), and the anonymous part of it (`RssAnon`:
/// the heap, SQLite's page caches — what a leak would grow, unlike mapped files), in bytes.
fn vm_rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("{name} not reported"))?;
        let kib: u64 = line.split_whitespace().nth(1).with_context(|| format!("{name} value"))?.parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("RssAnon:")?))
}

fn report_periods(workloads: &[Workload], capacity: &[(Load, Load)], periods: &[Vec<Period>], period_s: u64) {
    println!("\nall at once, each paced to half its capacity; one row per workload and period of {period_s} s:");
    println!(
        "{:>6}  {:<44} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7}",
        "period", "workload", "target/s", "req/s", "p50 ms", "p99 ms", "non-2xx", "socket"
    );
    let count = periods.iter().map(Vec::len).max().unwrap_or(0);
    for index in 0..count {
        for ((w, (full, _)), runs) in workloads.iter().zip(capacity).zip(periods) {
            let Some(p) = runs.iter().find(|p| p.index == index) else { continue };
            match &p.outcome {
                Ok(l) => println!(
                    "{:>6}  {:<44} {:>9.0} {:>9.0} {:>8.2} {:>8.2} {:>8} {:>7}",
                    index + 1,
                    w.name,
                    full.requests_per_second / 2.0,
                    l.requests_per_second,
                    l.p50_ms,
                    l.p99_ms,
                    l.non_2xx,
                    l.socket_errors
                ),
                Err(e) => println!("{:>6}  {:<44} wrk measured nothing: {e}", index + 1, w.name),
            }
        }
    }
    println!("\nerrors over the whole mix (goal: 0):");
    for (w, runs) in workloads.iter().zip(periods) {
        let loads = runs.iter().filter_map(|p| p.outcome.as_ref().ok());
        let (requests, non_2xx, socket, late) =
            loads.fold((0, 0, 0, 0), |(r, n, s, t), l| (r + l.requests, n + l.non_2xx, s + l.socket_errors, t + l.timeouts));
        let failed = runs.iter().filter(|p| p.outcome.is_err()).count();
        let failed = if failed > 0 { format!(", {failed} period(s) without figures") } else { String::new() };
        println!(
            "  {:<44} {requests:>9} requests, {non_2xx} non-2xx/3xx, {socket} transport errors ({late} of them answers later than 2 s){failed}",
            w.name
        );
    }
}

/// The RSS samples as a table (a row per minute, a column per 10 s), and the growth after
/// warm-up: the first 2 minutes, or the first fifth of a shorter run.
fn report_rss(rss: &[(Duration, u64, u64)], server: &ServerUnderTest, total: Duration) -> anyhow::Result<()> {
    println!("\nserver RSS (VmRSS, MiB) during the mix, sampled every 10 s (every second in a smoke run, a row per 6):");
    // A row per minute (a row per 6 samples in a smoke run), a column per sample.
    let per_row = 6;
    let step = rss.get(1).map_or(10, |(t, ..)| t.as_secs_f64().round() as u64).max(1);
    let offsets: Vec<String> = (0..per_row).map(|n| format!("{:>7}", format!("+{} s", n as u64 * step))).collect();
    println!("  {:>6}  {}", "minute", offsets.join(" "));
    for (row, samples) in rss.chunks(per_row).enumerate() {
        let cells: Vec<String> = samples.iter().map(|(_, b, _)| format!("{:>7.1}", *b as f64 / MIB)).collect();
        println!("  {row:>6}  {}", cells.join(" "));
    }
    let warm = (total / 5).min(Duration::from_secs(120));
    let (Some(after_warmup), Some(end)) = (rss.iter().find(|(t, ..)| *t >= warm), rss.last()) else {
        println!("too few samples for a growth figure");
        return Ok(());
    };
    let (warm_mib, end_mib) = (after_warmup.1 as f64 / MIB, end.1 as f64 / MIB);
    println!(
        "RSS after warm-up ({:.0} s) {warm_mib:.1} MiB, at the end ({:.0} s) {end_mib:.1} MiB: ×{:.2}, {:+.1} MiB (goal: no growth); \
         peak (VmHWM) {:.1} MiB",
        after_warmup.0.as_secs_f64(),
        end.0.as_secs_f64(),
        end_mib / warm_mib,
        end_mib - warm_mib,
        server.peak_rss()? as f64 / MIB
    );
    println!(
        "of which anonymous (RssAnon: heap, SQLite's page caches) {:.1} → {:.1} MiB ({:+.1} MiB); file-backed and shared {:.1} → {:.1} MiB",
        after_warmup.2 as f64 / MIB,
        end.2 as f64 / MIB,
        (end.2 as f64 - after_warmup.2 as f64) / MIB,
        (after_warmup.1 - after_warmup.2.min(after_warmup.1)) as f64 / MIB,
        (end.1 - end.2.min(end.1)) as f64 / MIB
    );
    Ok(())
}

/// What the run left on disk: the database (and ledger) files and the documents' blobs. Deposits
/// add to both all along: this grows by design, unlike the RSS.
fn report_disk(data_dir: &Path, postgres_url: Option<&str>, provide: &[Period]) {
    let deposits: u64 = provide.iter().filter_map(|p| p.outcome.as_ref().ok()).map(|l| l.requests.saturating_sub(l.non_2xx)).sum();
    let (blobs, blob_files) = dir_size(&data_dir.join("blobs"));
    let (everything, _) = dir_size(data_dir);
    println!(
        "\non disk at the end (the mix deposited ~{deposits} documents of 100 KB; deposits keep adding data, so these grow by design):"
    );
    println!("  blobs       {:>10.1} MiB  ({blob_files} files in {})", blobs as f64 / MIB, data_dir.join("blobs").display());
    match postgres_url {
        None => println!("  databases   {:>10.1} MiB  (SQLite files: metadata, ledger, their WAL)", (everything - blobs) as f64 / MIB),
        Some(url) => match postgres_size(url) {
            Ok(bytes) => println!("  PostgreSQL  {:>10.1} MiB  (pg_database_size)", bytes as f64 / MIB),
            Err(e) => println!("  PostgreSQL  size unknown: {e:#}"),
        },
    }
}

/// Bytes and number of the files under `dir` (nothing for what cannot be read).
fn dir_size(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return (0, 0) };
    entries.filter_map(Result::ok).fold((0, 0), |(bytes, files), e| match e.file_type() {
        Ok(t) if t.is_dir() => {
            let (b, f) = dir_size(&e.path());
            (bytes + b, files + f)
        }
        Ok(_) => (bytes + e.metadata().map(|m| m.len()).unwrap_or(0), files + 1),
        Err(_) => (bytes, files),
    })
}

/// The database's size, through `psql` (installed beside PostgreSQL by `scripts/bench`).
fn postgres_size(url: &str) -> anyhow::Result<u64> {
    let out = std::process::Command::new("psql")
        .args(["-Atc", "SELECT pg_database_size(current_database())", url])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}
