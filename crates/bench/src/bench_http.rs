//! `carnet-bench http`: the HTTP workloads against a `carnet serve` child on loopback,
//! driven by `wrk` (Debian's package; `scripts/bench` installs it), each reported with throughput
//! and p50/p99 latency, and as a ratio to a hello-world endpoint on the same stack measured in the
//! same run. Nothing skips the policy gate or the ledger: every request is an authenticated
//! professional's, decided and logged like any other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use carnet_auth::TokenClaims;
use carnet_domain::{Ins, Role};

use crate::bench::ServerUnderTest;

/// How wrk loads the server, the same options for every benchmark that uses it.
#[derive(clap::Args)]
pub struct WrkArgs {
    /// Seconds per workload (and per round, where a benchmark alternates rounds).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// wrk threads (the load generator shares the machine: keep it at 1 on 2 cores).
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    pub wrk: PathBuf,
}

#[derive(clap::Args)]
pub struct HttpArgs {
    #[command(flatten)]
    pub load: crate::bench_http::WrkArgs,
    /// Documents in the searched patient's record.
    #[arg(long, default_value_t = 50)]
    pub documents: usize,
    /// Run on PostgreSQL (metadata and ledger) at this URL instead of the embedded SQLite.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// A short run that only proves the harness works (CI).
    #[arg(long)]
    pub smoke: bool,
    /// Run only these workloads (and always the hello-world ceiling), e.g. `--only provide`
    /// while profiling one of them.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Workload>,
}

/// The workloads `carnet-bench http` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// ITI-67 search, then the same at half its throughput.
    Search,
    /// ITI-68 retrieve of 100 KB.
    Retrieve,
    /// ITI-65 provide of one document of 100 KB.
    Provide,
}

/// What wrk measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    pub requests: u64,
    /// wrk's transport errors: connect, read, write and timeout together.
    pub socket_errors: u64,
    /// Of those, the answers that took longer than wrk's timeout (2 s), late rather than lost.
    pub timeouts: u64,
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, factor) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60_000.0)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|n| n * factor)
}

/// Reads wrk's `--latency` report.
pub fn parse_wrk(output: &str) -> anyhow::Result<Load> {
    let mut load = Load::default();
    for line in output.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(v)) => load.requests_per_second = v.parse().context("Requests/sec")?,
            (Some("50%"), Some(v)) => load.p50_ms = parse_duration_ms(v).context("p50")?,
            (Some("99%"), Some(v)) => load.p99_ms = parse_duration_ms(v).context("p99")?,
            (Some("Non-2xx"), _) => load.non_2xx = line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0),
            // `Socket errors: connect 0, read 0, write 0, timeout 0`
            (Some("Socket"), Some("errors:")) => {
                let counts =
                    line.split(',').filter_map(|part| part.trim().rsplit_once(' ')).filter_map(|(k, n)| Some((k, n.parse::<u64>().ok()?)));
                for (kind, n) in counts {
                    load.socket_errors += n;
                    if kind.ends_with("timeout") {
                        load.timeouts = n;
                    }
                }
            }
            _ => {}
        }
        if let Some(rest) = line.split(" requests in ").next()
            && line.contains(" requests in ")
        {
            load.requests = rest.trim().parse().unwrap_or(0);
        }
    }
    if load.requests_per_second == 0.0 {
        bail!("wrk reported no throughput:\n{output}");
    }
    Ok(load)
}

#[derive(Clone, Copy)]
pub(crate) struct Wrk<'a> {
    pub bin: &'a Path,
    pub seconds: u64,
    pub connections: u32,
    pub threads: u32,
    pub scripts: &'a Path,
}

impl Wrk<'_> {
    /// Runs wrk on `url`; `script` is Lua (headers, bodies, pacing). Fails on any non-2xx answer.
    pub(crate) fn run(&self, url: &str, script: &str, connections: Option<u32>) -> anyhow::Result<Load> {
        let (load, text) = self.measure(url, script, connections)?;
        if load.non_2xx > 0 {
            bail!("{} of {} responses were not 2xx for {url}:\n{text}", load.non_2xx, load.requests);
        }
        Ok(load)
    }

    /// Runs wrk on `url` and returns what it measured, errors counted (not refused), with wrk's
    /// report.
    pub(crate) fn measure(&self, url: &str, script: &str, connections: Option<u32>) -> anyhow::Result<(Load, String)> {
        // Numbered: several wrk may start at once (`bench soak`), each with its own script.
        static SCRIPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = self.scripts.join(format!("s{}.lua", SCRIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        std::fs::write(&path, script)?;
        let c = connections.unwrap_or(self.connections).max(self.threads);
        let out = Command::new(self.bin)
            .args(["--latency", "-t", &self.threads.to_string(), "-c", &c.to_string(), "-d", &format!("{}s", self.seconds), "-s"])
            .arg(&path)
            .arg(url)
            .output()
            .with_context(|| format!("running {} (install it: apt-get install wrk, or scripts/bench)", self.bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!("wrk failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
        }
        Ok((parse_wrk(&text)?, text))
    }
}

/// `url` at half the throughput `full` measured: each connection waits between its requests. A
/// short paced run measures the latency at that load, which the final pause then leaves room for.
/// `script` gives the Lua for a mean pause between a connection's requests.
pub(crate) fn half_load(
    wrk: &Wrk<'_>,
    url: &str,
    full: &Load,
    connections: u32,
    script: &dyn Fn(Option<f64>) -> String,
) -> anyhow::Result<Load> {
    let (pause_ms, probe) = half_load_pause(wrk, url, full, connections, script)?;
    if probe.non_2xx > 0 {
        bail!("{} of {} responses were not 2xx for {url} (half-load probe)", probe.non_2xx, probe.requests);
    }
    wrk.run(url, &script(Some(pause_ms)), None)
}

/// The mean pause between a connection's requests that brings `url` to half the throughput
/// `full` measured, from a short probe paced at the bare cycle (whose answer time the pause then
/// leaves room for); with the probe's figures, errors counted.
pub(crate) fn half_load_pause(
    wrk: &Wrk<'_>,
    url: &str,
    full: &Load,
    connections: u32,
    script: &dyn Fn(Option<f64>) -> String,
) -> anyhow::Result<(f64, Load)> {
    let target = full.requests_per_second / 2.0;
    let cycle_ms = f64::from(connections) / target * 1000.0;
    let calibration = Wrk { seconds: (wrk.seconds / 3).max(2), ..*wrk };
    let (probe, _) = calibration.measure(url, &script(Some(cycle_ms)), None)?;
    let latency_ms = (f64::from(connections) / probe.requests_per_second * 1000.0 - cycle_ms).max(0.0);
    Ok(((cycle_ms - latency_ms).max(0.0), probe))
}

/// Lua: one GET with a bearer token, optionally paced: `delay_ms` is the mean pause between a
/// connection's requests, drawn from an exponential distribution so that the connections'
/// requests arrive at random (as independent users' do). A fixed pause keeps all connections in
/// step and turns a steady load into bursts of one request per connection.
pub(crate) fn get_script(token: &str, delay_ms: Option<f64>) -> String {
    let delay = pacing_lua(delay_ms);
    format!(
        "wrk.method = \"GET\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\nwrk.headers[\"Accept\"] = \"application/fhir+json\"\n{delay}"
    )
}

/// Lua: wrk's `delay()` for a mean pause of `delay_ms` between a connection's requests, drawn at
/// random (see `get_script`); nothing without one.
pub(crate) fn pacing_lua(delay_ms: Option<f64>) -> String {
    delay_ms
        .map(|d| format!("math.randomseed(os.time() + math.floor(os.clock() * 1e6))\nfunction delay() return -{d:.3} * math.log(1 - math.random()) end\n"))
        .unwrap_or_default()
}

/// Lua: ITI-65 provide bundles, each with its own unique ids, around one 100 KB Binary.
pub(crate) fn provide_script(token: &str, ins: &Ins, binary_b64: &str, size: usize, sha256_b64: &str) -> String {
    provide_script_numbered(token, ins, binary_b64, size, sha256_b64, None)
}

/// `provide_script` whose unique ids start with `run` (`run.thread.n`): runs numbered apart never
/// repeat each other's ids (a repeated id with the same content is a resubmission, answered
/// without storing anything). Without `run`, a random number per wrk thread.
pub(crate) fn provide_script_numbered(token: &str, ins: &Ins, binary_b64: &str, size: usize, sha256_b64: &str, run: Option<u64>) -> String {
    bundle_script(token, &provide_bundle(ins, "@ID@", binary_b64, size, sha256_b64), run)
}

/// Lua: `POST /fhir` of `bundle` (an ITI-65 transaction whose unique ids hold `@ID@`), each
/// request with its own ids, numbered as `provide_script_numbered` says.
pub(crate) fn bundle_script(token: &str, bundle: &serde_json::Value, run: Option<u64>) -> String {
    let bundle = bundle.to_string();
    let (head, rest) = bundle.split_once("@ID@").unwrap_or((&bundle, ""));
    let parts: Vec<String> = std::iter::once(head.to_owned()).chain(rest.split("@ID@").map(str::to_owned)).collect();
    let lua_parts: Vec<String> = parts.iter().map(|p| format!("[==[{p}]==]")).collect();
    let prefix = run.map_or_else(|| "math.random(1, 1000000000)".to_owned(), |r| r.to_string());
    // `thread_id` is a global: `thread:set` writes the thread's globals (a `local` would shadow
    // it and every thread's ids would start with 0).
    format!(
        r#"local parts = {{ {} }}
local counter = 0
local threads = 0
thread_id = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", {prefix} .. "." .. threads)
end
function request()
  counter = counter + 1
  local id = thread_id .. "." .. counter
  local body = table.concat(parts, id)
  return wrk.format("POST", "/fhir", {{ ["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/fhir+json" }}, body)
end
"#,
        lua_parts.join(", ")
    )
}

/// An IHE MHD ITI-65 Provide Document Bundle: SubmissionSet List, one DocumentReference, one Binary.
/// `id` is substituted so every request deposits a new document.
pub fn provide_bundle(ins: &Ins, id: &str, binary_b64: &str, size: usize, sha256_b64: &str) -> serde_json::Value {
    let subject = serde_json::json!({"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": ins.to_string()}});
    serde_json::json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "meta": {"profile": ["https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle"]},
        "entry": [
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "List",
                    "extension": [{"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", "valueIdentifier": {"value": "urn:oid:1.2.250.1.999.1"}}],
                    "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": format!("urn:oid:1.2.250.1.999.2.{id}")}],
                    "status": "current",
                    "mode": "working",
                    "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
                    "subject": subject,
                    "date": "2026-11-23T10:00:00Z",
                    "entry": [{"item": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"}}]
                },
                "request": {"method": "POST", "url": "List"}
            },
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002",
                "resource": {
                    "resourceType": "DocumentReference",
                    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:oid:1.2.250.1.999.3.{id}")},
                    "status": "current",
                    "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2"}]},
                    "category": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": "10"}]}],
                    "subject": subject,
                    "date": "2026-11-23T09:30:00+01:00",
                    "content": [{
                        "attachment": {"contentType": "application/pdf", "language": "fr-FR", "url": "urn:uuid:00000000-0000-4000-8000-000000000003", "size": size, "title": "Bilan",
                            "extension": [{"url": "urn:carnet:fhir:StructureDefinition:attachment-sha256", "valueBase64Binary": sha256_b64}]},
                        "format": {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "code": "urn:ihe:iti:xds-sd:pdf:2008"}
                    }]
                },
                "request": {"method": "POST", "url": "DocumentReference"}
            },
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003",
                "resource": {"resourceType": "Binary", "contentType": "application/pdf", "data": binary_b64},
                "request": {"method": "POST", "url": "Binary"}
            }
        ]
    })
}

pub(crate) fn pseudo_pdf(len: usize, seed: u64) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x >> 24) as u8);
    }
    v
}

pub async fn http(args: HttpArgs) -> anyhow::Result<()> {
    let (seconds, connections) = if args.smoke { (2, 4) } else { (args.load.seconds, args.load.connections) };
    let documents = if args.smoke { 10 } else { args.documents };
    let backend = if args.postgres_url.is_some() { "PostgreSQL" } else { "SQLite (embedded default)" };
    println!("carnet-bench http: {backend}; wrk, {} thread(s), {connections} connections, {seconds} s per workload", args.load.threads);
    let tmp = tempfile::tempdir()?;
    let mut env: Vec<(&str, String)> = vec![("CARNET_POLICY__ENUMERATION_LIMIT_PER_HOUR", "100000000".into())];
    if let Some(url) = &args.postgres_url {
        env.push(("CARNET_DATABASE_URL", url.clone()));
    }
    let server = ServerUnderTest::start(&tmp.path().join("data"), &env).await?;
    let client = reqwest::Client::new();
    let ins = Ins::from_body("2840375012345").context("bench INS")?;
    let seed_started = Instant::now();
    let Seeded { doctor, first_id } = seed_patient(&server, &client, &ins, documents).await?;
    println!("seeded {documents} documents of 100 KB in {:.1} s", seed_started.elapsed().as_secs_f64());

    let wrk = Wrk { bin: &args.load.wrk, seconds, connections, threads: args.load.threads, scripts: tmp.path() };
    let search_url = checked_search_url(&server, &client, &doctor, &ins, documents).await?;

    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let runs = |w: Workload| args.only.is_empty() || args.only.contains(&w);
    let hello = wrk.run(&format!("{}/health", server.url), &get_script(&doctor, None), None)?;
    let rss_hello = mib(server.peak_rss()?);
    let mut rss = vec![format!("hello {rss_hello:.1} MiB")];
    let (mut search, mut half, mut retrieve, mut provide) = (None, None, None, None);
    if runs(Workload::Search) {
        let full = wrk.run(&search_url, &get_script(&doctor, None), None)?;
        rss.push(format!("search {:.1}", mib(server.peak_rss()?)));
        half = Some(half_load(&wrk, &search_url, &full, connections, &|delay| get_script(&doctor, delay))?);
        search = Some(full);
    }
    if runs(Workload::Retrieve) {
        let accept_pdf = get_script(&doctor, None).replace("application/fhir+json", "application/pdf");
        retrieve = Some(wrk.run(&format!("{}/fhir/Binary/{first_id}", server.url), &accept_pdf, None)?);
        rss.push(format!("retrieve {:.1}", mib(server.peak_rss()?)));
    }
    if runs(Workload::Provide) {
        let binary = pseudo_pdf(100 * 1024, 999_999);
        use base64::Engine;
        let sha = {
            use sha2::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&binary))
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
        provide = Some(wrk.run(&format!("{}/fhir", server.url), &provide_script(&doctor, &ins, &b64, binary.len(), &sha), None)?);
        rss.push(format!("provide {:.1}", mib(server.peak_rss()?)));
    }

    let ratio = |l: &Load| 100.0 * l.requests_per_second / hello.requests_per_second;
    println!("\n{:<58} {:>10} {:>9} {:>9} {:>8}", "workload", "req/s", "p50 ms", "p99 ms", "vs hello");
    let row = |name: &str, l: Option<&Load>| {
        if let Some(l) = l {
            println!("{name:<58} {:>10.0} {:>9.2} {:>9.2} {:>7.0}%", l.requests_per_second, l.p50_ms, l.p99_ms, ratio(l));
        }
    };
    row("hello world (GET /health, same stack)", Some(&hello));
    row(&format!("ITI-67 search, {documents} documents (gate + ledger)"), search.as_ref());
    row("ITI-67 search at half that load", half.as_ref());
    row("ITI-68 retrieve 100 KB (gate + ledger + decrypt)", retrieve.as_ref());
    row("ITI-65 provide 1 DocumentReference + 100 KB Binary", provide.as_ref());
    let mut targets = vec![];
    if let (Some(search), Some(half)) = (&search, &half) {
        targets.push(format!("ITI-67 ≥ 30% of hello ({:.0}%), p99 ≤ 10 ms at half load ({:.2} ms)", ratio(search), half.p99_ms));
    }
    if let Some(provide) = &provide {
        targets.push(format!("ITI-65 ≥ 2,000 documents/s ({:.0})", provide.requests_per_second));
    }
    if !targets.is_empty() {
        println!("\ntargets: {}", targets.join("; "));
    }
    println!("server peak RSS (VmHWM) after each workload: {}", rss.join(", "));
    Ok(())
}

/// The bench patient's doctor (authorized by the patient) and the first document's id.
pub(crate) struct Seeded {
    pub(crate) doctor: String,
    pub(crate) first_id: String,
}

/// Creates `ins`'s record (as the insurer), has the patient authorize a doctor, and has the
/// doctor deposit `documents` documents of 100 KB through `/api`.
pub(crate) async fn seed_patient(
    server: &ServerUnderTest,
    client: &reqwest::Client,
    ins: &Ins,
    documents: usize,
) -> anyhow::Result<Seeded> {
    let insurer = server.token(&TokenClaims { sub: "bench-insurer".into(), role: Role::InsurerAgent, ..TokenClaims::default() })?;
    let doctor_rpps = "10000001015";
    let doctor = server.token(&TokenClaims {
        sub: "bench-doctor".into(),
        role: Role::Professional,
        rpps: Some(doctor_rpps.into()),
        profession: Some("10".into()),
        ..TokenClaims::default()
    })?;
    let patient = server.token(&TokenClaims {
        sub: "bench-patient".into(),
        role: Role::Patient,
        ins: Some(ins.to_string()),
        ..TokenClaims::default()
    })?;
    let record = serde_json::json!({"ins": ins.to_string(), "identity_status": "qualifiee", "birth_name": "BENCH", "birth_given_names": "Test", "birth_date": "1984-03-01", "sex": "F"});
    let r = client.post(format!("{}/api/records", server.url)).bearer_auth(&insurer).json(&record).send().await?;
    if !r.status().is_success() {
        bail!("creating the record: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let change = serde_json::json!({"change": "authorize", "rpps": doctor_rpps});
    let r = client.post(format!("{}/api/records/{ins}/policy/changes", server.url)).bearer_auth(&patient).json(&change).send().await?;
    if !r.status().is_success() {
        bail!("authorizing the doctor: {}", r.status());
    }
    let mut first_id = String::new();
    for n in 0..documents {
        let bytes = pseudo_pdf(100 * 1024, n as u64);
        let meta = serde_json::json!({"unique_id": format!("1.2.250.1.999.9.{n}"), "type_code": "11502-2", "title": format!("Bilan {n}"), "mime_type": "application/pdf"});
        let form = reqwest::multipart::Form::new()
            .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json")?)
            .part("content", reqwest::multipart::Part::bytes(bytes).mime_str("application/pdf")?);
        let r = client.post(format!("{}/api/records/{ins}/documents", server.url)).bearer_auth(&doctor).multipart(form).send().await?;
        if !r.status().is_success() {
            bail!("seeding document {n}: {} {}", r.status(), r.text().await.unwrap_or_default());
        }
        if n == 0 {
            first_id = r.json::<serde_json::Value>().await?["id"].as_str().unwrap_or_default().to_owned();
        }
    }
    Ok(Seeded { doctor, first_id })
}

/// The ITI-67 search of `ins`'s documents, checked to answer all `documents` of them (or the
/// figures would measure something else).
pub(crate) async fn checked_search_url(
    server: &ServerUnderTest,
    client: &reqwest::Client,
    doctor: &str,
    ins: &Ins,
    documents: usize,
) -> anyhow::Result<String> {
    let url = format!("{}/fhir/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.8%7C{ins}&_count=100", server.url);
    let check: serde_json::Value =
        client.get(&url).bearer_auth(doctor).header("accept", "application/fhir+json").send().await?.json().await?;
    if check["total"].as_u64() != Some(documents as u64) {
        bail!("ITI-67 answered total {:?}, expected {documents}: {check}", check["total"]);
    }
    Ok(url)
}

#[derive(clap::Args)]
pub struct GrowthArgs {
    /// Patient counts to measure at, in increasing order (bulk-generated metadata).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 1_000_000])]
    pub patients: Vec<u64>,
    /// Document rows per generated patient.
    #[arg(long, default_value_t = 10)]
    pub documents_each: u32,
    /// Documents of the searched patient (deposited through the API).
    #[arg(long, default_value_t = 50)]
    pub documents: usize,
    /// Seconds of load per measure.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    pub connections: u32,
    /// An EMPTY PostgreSQL database to fill (metadata and ledger) instead of the embedded SQLite.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    pub wrk: PathBuf,
    /// Where to keep the data (default: a temporary directory, deleted at the end).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `carnet-bench growth`: the same ITI-67 search at growing store sizes. The other patients'
/// metadata is bulk-generated directly in the store (the API would take hours for 10 M
/// documents); the searched patient's record, policy and documents go through the API.
pub async fn growth(args: GrowthArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| tmp.path().join("data"));
    std::fs::create_dir_all(&data_dir)?;
    let (db_url, backend) = match &args.postgres_url {
        Some(url) => (url.clone(), "PostgreSQL"),
        None => (format!("sqlite://{}", data_dir.join("carnet.db").display()), "SQLite (embedded default)"),
    };
    println!(
        "carnet-bench growth: {backend}; ITI-67 search of one patient's {} documents; wrk, {} connections, {} s per measure",
        args.documents, args.connections, args.seconds
    );
    let mut env: Vec<(&str, String)> = vec![("CARNET_POLICY__ENUMERATION_LIMIT_PER_HOUR", "100000000".into())];
    if let Some(url) = &args.postgres_url {
        env.push(("CARNET_DATABASE_URL", url.clone()));
    }
    let client = reqwest::Client::new();
    let ins = Ins::from_body("2840375012345").context("bench INS")?;
    let mut generated = 0u64;
    let mut seeded: Option<Seeded> = None;
    let mut rows = vec![];
    for &target in &args.patients {
        if target > generated {
            let db = carnet_store::Database::connect(&db_url).await.context("opening the store for bulk generation")?;
            let started = Instant::now();
            let bar = indicatif::ProgressBar::new(target - generated);
            let step = 10_000u64;
            let mut from = generated;
            while from < target {
                let to = (from + step).min(target);
                db.bulk_generate(from, to, args.documents_each, time::OffsetDateTime::now_utc()).await?;
                bar.inc(to - from);
                from = to;
            }
            bar.finish_and_clear();
            db.analyze().await?;
            let (records, docs) = db.bulk_counts().await?;
            println!(
                "generated patients {generated}..{target} in {:.0} s; the store holds {records} records and {docs} documents",
                started.elapsed().as_secs_f64()
            );
            generated = target;
            db.close().await;
        }
        let server = ServerUnderTest::start(&data_dir, &env).await?;
        let seed = match seeded.take() {
            Some(s) => s,
            None => seed_patient(&server, &client, &ins, args.documents).await?,
        };
        let url = checked_search_url(&server, &client, &seed.doctor, &ins, args.documents).await?;
        let wrk = Wrk { bin: &args.wrk, seconds: args.seconds, connections: args.connections, threads: 1, scripts: tmp.path() };
        let one = wrk.run(&url, &get_script(&seed.doctor, None), Some(1))?;
        let loaded = wrk.run(&url, &get_script(&seed.doctor, None), None)?;
        rows.push((target, one, loaded));
        seeded = Some(seed);
    }
    println!(
        "\n{:>10} {:>12} {:>16} {:>12} {:>14}",
        "patients",
        "documents",
        "p50 ms (1 conn)",
        "req/s",
        &format!("p50 ms ({} c)", args.connections)
    );
    for (patients, one, loaded) in &rows {
        println!(
            "{patients:>10} {:>12} {:>16.2} {:>12.0} {:>14.2}",
            patients * u64::from(args.documents_each),
            one.p50_ms,
            loaded.requests_per_second,
            loaded.p50_ms
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        println!("p50 growth from {} to {} patients: ×{:.2} (target: ≤ ×1.5)", first.0, last.0, last.1.p50_ms / first.1.p50_ms);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_are_read() {
        let out = "Running 2s test @ http://127.0.0.1:1/health\n  1 threads and 4 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   210.53us  100.00us   2.10ms   90.00%\n  Latency Distribution\n     50%  190.00us\n     75%  220.00us\n     90%  300.00us\n     99%    1.20ms\n  35000 requests in 2.00s, 5.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 5\n  Non-2xx or 3xx responses: 3\nRequests/sec:  17500.12\nTransfer/sec:      2.50MB\n";
        let l = parse_wrk(out).expect("parsed");
        assert_eq!(l.requests, 35000);
        assert!((l.requests_per_second - 17500.12).abs() < 1e-6);
        assert!((l.p50_ms - 0.19).abs() < 1e-9);
        assert!((l.p99_ms - 1.2).abs() < 1e-9);
        assert_eq!(l.non_2xx, 3);
        assert_eq!(l.socket_errors, 7);
        assert_eq!(l.timeouts, 5);
        assert!(parse_wrk("nothing").is_err());
        assert_eq!(parse_duration_ms("1.5s"), Some(1500.0));
    }
}
