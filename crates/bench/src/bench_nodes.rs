//! `carnet-bench nodes`: ITI-67 and ITI-65 through Debian's haproxy (round-robin) in front of 1, 2
//! and 3 `carnet serve` nodes sharing one PostgreSQL database, one blob directory and one key
//! directory — the deployment of docs/scaling.md on one machine. Each node count starts on a fresh
//! database; with `--taskset` each node is pinned to a core of its own (round-robin over the
//! machine's cores), so that what limits scaling shows: the cores, the database, the ledger's one
//! writer, or the load generator on the same machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use carnet_domain::Ins;

use crate::bench::ServerUnderTest;
use crate::bench_http::{Load, Wrk, checked_search_url, get_script, half_load, provide_script, pseudo_pdf, seed_patient};

#[derive(clap::Args)]
pub struct NodesArgs {
    /// The PostgreSQL server (a database of its own is created for each node count).
    #[arg(long)]
    pub postgres_url: String,
    /// Node counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 3])]
    pub nodes: Vec<u32>,
    #[command(flatten)]
    pub load: crate::bench_http::WrkArgs,
    /// Documents in the searched patient's record.
    #[arg(long, default_value_t = 50)]
    pub documents: usize,
    /// Pin each node to one core (`taskset`), round-robin over the machine's cores.
    #[arg(long)]
    pub taskset: bool,
    #[arg(long, default_value = "/usr/sbin/haproxy")]
    pub haproxy: PathBuf,
    /// A short run that only proves the harness works (CI).
    #[arg(long)]
    pub smoke: bool,
}

/// A child killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql").args(["-Atqc", sql, url]).output().context("running psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// haproxy, round-robin over `nodes`, on a port the system picked; its URL once it answers.
async fn start_haproxy(bin: &Path, dir: &Path, nodes: &[&ServerUnderTest]) -> anyhow::Result<(Running, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(n, s)| format!("  server node{n} {} check inter 500ms\n", s.url.trim_start_matches("http://")))
        .collect();
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  option http-keep-alive\n\
             frontend carnet\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\
             backend nodes\n  balance roundrobin\n  option httpchk GET /health\n{servers}"
        ),
    )?;
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (apt-get install haproxy)", bin.display()))?;
    let running = Running(child);
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok((running, url));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("haproxy never answered on {url}")
}

/// Pins every thread of `pid` to `core`.
fn pin(pid: u32, core: usize) -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("running taskset")?;
    if !status.success() {
        bail!("taskset could not pin process {pid} to core {core}");
    }
    Ok(())
}

struct Row {
    nodes: u32,
    search: Load,
    half: Load,
    provide: Load,
}

pub async fn nodes(args: NodesArgs) -> anyhow::Result<()> {
    let (seconds, connections, documents) = if args.smoke { (2, 4, 5) } else { (args.load.seconds, args.load.connections, args.documents) };
    let counts: Vec<u32> = if args.smoke { vec![1, 2] } else { args.nodes.clone() };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "carnet-bench nodes: PostgreSQL, haproxy round-robin; wrk {} thread(s), {connections} connections, {seconds} s per workload; \
         {cores} cores{}; the load generator and haproxy share the machine",
        args.load.threads,
        if args.taskset { ", each node pinned to one core" } else { "" }
    );
    let tmp = tempfile::tempdir()?;
    let ins = Ins::from_body("2840375012345").context("bench INS")?;
    let binary = pseudo_pdf(100 * 1024, 999_999);
    let (b64, sha) = {
        use base64::Engine;
        use sha2::Digest;
        let engine = base64::engine::general_purpose::STANDARD;
        (engine.encode(&binary), engine.encode(sha2::Sha256::digest(&binary)))
    };
    let client = reqwest::Client::new();
    let mut rows = Vec::new();
    for n in counts {
        let database = format!("bench_nodes_{n}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        psql(&args.postgres_url, &format!("CREATE DATABASE {database}"))?;
        let url = format!("{}/{database}", args.postgres_url.rsplit_once('/').map_or(args.postgres_url.as_str(), |(server, _)| server));
        // One data directory for all: the same keys, blobs and dev issuer, as a shared volume would give.
        let data = tmp.path().join(format!("data-{n}"));
        let env: Vec<(&str, String)> =
            vec![("CARNET_DATABASE_URL", url.clone()), ("CARNET_POLICY__ENUMERATION_LIMIT_PER_HOUR", "100000000".into())];
        let mut servers = Vec::new();
        for node in 0..n {
            let server = ServerUnderTest::start(&data, &env).await?;
            if args.taskset {
                pin(server.pid(), node as usize % cores)?;
            }
            servers.push(server);
        }
        let refs: Vec<&ServerUnderTest> = servers.iter().collect();
        let (_haproxy, lb) = start_haproxy(&args.haproxy, tmp.path(), &refs).await?;
        // Seeded and searched through the balancer, as clients see it.
        let front = ServerUnderTest::front(&lb, &data)?;
        let seeded = seed_patient(&front, &client, &ins, documents).await?;
        let search_url = checked_search_url(&front, &client, &seeded.doctor, &ins, documents).await?;
        let wrk = Wrk { bin: &args.load.wrk, seconds, connections, threads: args.load.threads, scripts: tmp.path() };
        let search = wrk.run(&search_url, &get_script(&seeded.doctor, None), None)?;
        let half = half_load(&wrk, &search_url, &search, connections, &|delay| get_script(&seeded.doctor, delay))?;
        let provide = wrk.run(&format!("{lb}/fhir"), &provide_script(&seeded.doctor, &ins, &b64, binary.len(), &sha), None)?;
        println!("{n} node(s) measured");
        rows.push(Row { nodes: n, search, half, provide });
        drop(front);
        drop(servers);
        psql(&args.postgres_url, &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
    }

    let base = rows.first().map(|r| (r.search.requests_per_second, r.provide.requests_per_second)).unwrap_or((1.0, 1.0));
    println!(
        "\n{:>5} {:>14} {:>9} {:>16} {:>14} {:>9} {:>9}",
        "nodes", "ITI-67 req/s", "× one", "p99 ½ load (ms)", "ITI-65 req/s", "× one", "p99 ms"
    );
    for r in &rows {
        println!(
            "{:>5} {:>14.0} {:>9.2} {:>16.2} {:>14.0} {:>9.2} {:>9.2}",
            r.nodes,
            r.search.requests_per_second,
            r.search.requests_per_second / base.0,
            r.half.p99_ms,
            r.provide.requests_per_second,
            r.provide.requests_per_second / base.1,
            r.provide.p99_ms
        );
    }
    Ok(())
}
