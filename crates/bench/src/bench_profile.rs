//! `carnet-bench profile`: the medical profile under load (issue 20). Three measures against a
//! `carnet serve` child, with the hello-world ceiling in the same run:
//!
//! - **structured deposits**: ITI-65 bundles carrying a CDA R2 level 3 document — a VSM of 50
//!   entries and a CR-BIO of 40 results, whose entries the server reads into profile items —
//!   against plain deposits of the same byte size (`text/plain`, a format code that is not
//!   CDA) in alternated rounds (plain, VSM, CR-BIO, plain…), so that drift hits all alike. The
//!   server's CPU per deposit is counted from the round's start until it is idle again, so the
//!   text extraction each deposit queues is paid by the round that queued it;
//! - **`$summary`** of a record of 500 items (ten 50-entry VSMs deposited through `/api`), at full
//!   and half load;
//! - **an Observation trend** (one LOINC code, oldest first) on a record of 40-result CR-BIOs,
//!   each holding one creatinine.
//!
//! Every CDA is generated here, deterministically, after the CI-SIS structure the reader
//! understands (`carnet_extract::cda`): sections coded in LOINC, a narrative table each entry
//! references, the author the bench doctor, the patient the bench INS.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use carnet_domain::Ins;

use crate::bench::ServerUnderTest;
use crate::bench_http::{Load, Wrk, bundle_script, get_script, half_load, provide_bundle, seed_patient};

#[derive(clap::Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub load: crate::bench_http::WrkArgs,
    /// Rounds of the three deposits (plain, VSM, CR-BIO), alternated.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// 50-entry VSMs deposited in the `$summary` record (10: 500 items).
    #[arg(long, default_value_t = 10)]
    pub summary_vsms: usize,
    /// 40-result CR-BIOs (one creatinine each, a month apart) in the trend's record.
    #[arg(long, default_value_t = 50)]
    pub trend_reports: usize,
    /// Run on PostgreSQL (metadata and ledger) at this URL instead of the embedded SQLite.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// A short run that only proves the harness works (CI).
    #[arg(long)]
    pub smoke: bool,
    /// Run only these workloads (and always the hello-world ceiling), e.g. `--only summary`
    /// while profiling the server.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Workload>,
}

/// The workloads `carnet-bench profile` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// The deposit rounds: plain, VSM, CR-BIO.
    Deposits,
    /// `$summary` of the 500-item record.
    Summary,
    /// The creatinine trend.
    Trend,
}

/// The bench doctor's RPPS (`seed_patient`'s), as a CDA author id: the national PS root, "8".
const AUTHOR_EXTENSION: &str = "810000001015";
const FORMAT_XPHR: &str = "urn:ihe:pcc:xphr:2007";
const FORMAT_XD_LAB: &str = "urn:ihe:lab:xd-lab:2008";
const FORMAT_PLAIN: &str = "urn:ihe:iti:xds:2017:mimeTypeSufficient";

/// One kind of deposit: its bytes and what the bundle declares of them.
struct Deposit {
    name: &'static str,
    bytes: Vec<u8>,
    type_code: &'static str,
    class_code: &'static str,
    mime: &'static str,
    format: &'static str,
}

impl Deposit {
    /// The ITI-65 bundle of this deposit, its unique ids `@ID@` (numbered per request).
    fn bundle(&self, ins: &Ins) -> serde_json::Value {
        use sha2::Digest;
        let b64 = base64::engine::general_purpose::STANDARD;
        let sha = b64.encode(sha2::Sha256::digest(&self.bytes));
        let mut bundle = provide_bundle(ins, "@ID@", &b64.encode(&self.bytes), self.bytes.len(), &sha);
        let doc = &mut bundle["entry"][1]["resource"];
        doc["type"]["coding"][0]["code"] = self.type_code.into();
        doc["category"][0]["coding"][0]["code"] = self.class_code.into();
        doc["content"][0]["attachment"]["contentType"] = self.mime.into();
        doc["content"][0]["attachment"]["title"] = self.name.into();
        doc["content"][0]["format"]["code"] = self.format.into();
        bundle["entry"][2]["resource"]["contentType"] = self.mime.into();
        bundle
    }
}

pub async fn profile(args: ProfileArgs) -> anyhow::Result<()> {
    let (seconds, connections, rounds) =
        if args.smoke { (2, 4, 1) } else { (args.load.seconds, args.load.connections, args.rounds.max(1)) };
    let trend_reports = if args.smoke { 10 } else { args.trend_reports };
    let backend = if args.postgres_url.is_some() { "PostgreSQL" } else { "SQLite (embedded default)" };
    println!(
        "carnet-bench profile: {backend}; wrk, {} thread(s), {connections} connections, {seconds} s per workload, {rounds} deposit round(s)",
        args.load.threads
    );
    let tmp = tempfile::tempdir()?;
    let mut env: Vec<(&str, String)> = vec![("CARNET_POLICY__ENUMERATION_LIMIT_PER_HOUR", "100000000".into())];
    if let Some(url) = &args.postgres_url {
        env.push(("CARNET_DATABASE_URL", url.clone()));
    }
    let server = ServerUnderTest::start(&tmp.path().join("data"), &env).await?;
    let client = reqwest::Client::new();
    let ticks = clock_ticks();

    // Three records: one takes the timed deposits, one is summarized, one holds the trend.
    let deposits_ins = Ins::from_body("2840375012345").context("bench INS")?;
    let summary_ins = Ins::from_body("2840375012346").context("summary INS")?;
    let trend_ins = Ins::from_body("2840375012347").context("trend INS")?;
    let doctor = seed_patient(&server, &client, &deposits_ins, 0).await?.doctor;
    seed_patient(&server, &client, &summary_ins, 0).await?;
    seed_patient(&server, &client, &trend_ins, 0).await?;

    // The deposits: a VSM and a CR-BIO padded to one size, and plain text of that size.
    // Each volet with its format code: XPHR for the synthèse, IHE XD-LAB for the biology report.
    let (vsm_natural, crbio_natural) = (vsm(&deposits_ins, 0, 0).len(), cr_bio(&deposits_ins, 0, 0).len());
    let size = vsm_natural.max(crbio_natural);
    let deposits = [
        Deposit {
            name: "plain",
            bytes: plain_text(size),
            type_code: "11488-4",
            class_code: "10",
            mime: "text/plain",
            format: FORMAT_PLAIN,
        },
        Deposit {
            name: "VSM",
            bytes: vsm(&deposits_ins, 0, size).into_bytes(),
            type_code: "60591-5",
            class_code: "11",
            mime: "text/xml",
            format: FORMAT_XPHR,
        },
        Deposit {
            name: "CR-BIO",
            bytes: cr_bio(&deposits_ins, 0, size).into_bytes(),
            type_code: "11502-2",
            class_code: "10",
            mime: "text/xml",
            format: FORMAT_XD_LAB,
        },
    ];
    println!(
        "deposits of {size} bytes each (VSM {vsm_natural} and CR-BIO {crbio_natural} bytes before padding their narrative to the larger)"
    );
    let bundles: Vec<serde_json::Value> = deposits.iter().map(|d| d.bundle(&deposits_ins)).collect();

    // Before timing: each deposit once through the same bundle, and the items it made counted.
    let mut expected = 0;
    for (i, ((deposit, bundle), items)) in deposits.iter().zip(&bundles).zip([0, VSM_ENTRIES, CRBIO_RESULTS]).enumerate() {
        // OID arcs, apart from the timed runs' (`run.thread.n`, runs from 1).
        let body = bundle.to_string().replace("@ID@", &format!("0.{i}"));
        let r = client
            .post(format!("{}/fhir", server.url))
            .bearer_auth(&doctor)
            .header("content-type", "application/fhir+json")
            .body(body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("the {} deposit was refused: {} {}", deposit.name, r.status(), r.text().await.unwrap_or_default());
        }
        expected += items;
        let found = profile_items(&server, &client, &doctor, &deposits_ins).await?;
        if found != expected {
            bail!("after one {} deposit the profile holds {found} items, expected {expected}", deposit.name);
        }
    }
    println!("checked: one VSM deposit made {VSM_ENTRIES} profile items, one CR-BIO {CRBIO_RESULTS}, one plain deposit none");

    // The summarized record and the trend's, through `/api` as practice software would.
    let seeding = Instant::now();
    for n in 0..args.summary_vsms {
        api_deposit(&server, &client, &doctor, &summary_ins, &format!("1.2.250.1.999.8.{n}"), "60591-5", vsm(&summary_ins, n as u32, 0))
            .await?;
    }
    for n in 0..trend_reports {
        api_deposit(&server, &client, &doctor, &trend_ins, &format!("1.2.250.1.999.9.{n}"), "11502-2", cr_bio(&trend_ins, n as u32, 0))
            .await?;
    }
    let summary_items = args.summary_vsms * VSM_ENTRIES;
    let trend_items = trend_reports * CRBIO_RESULTS;
    println!(
        "seeded {} VSMs ({summary_items} items) and {trend_reports} CR-BIOs ({trend_items} items) through /api in {:.1} s",
        args.summary_vsms,
        seeding.elapsed().as_secs_f64()
    );
    let found = profile_items(&server, &client, &doctor, &summary_ins).await?;
    if found != summary_items {
        bail!("the summarized record holds {found} items, expected {summary_items}");
    }
    let summary_url = format!("{}/fhir/Patient/{summary_ins}/$summary", server.url);
    let summary_bytes = check_summary(&client, &summary_url, &doctor, summary_items).await?;
    let trend_url = format!("{}/fhir/Observation?patient={trend_ins}&code=http://loinc.org%7C2160-0&_sort=date", server.url);
    check_trend(&client, &trend_url, &doctor, trend_reports).await?;
    println!(
        "checked: $summary holds the {summary_items} items ({summary_bytes} bytes); the trend answers {trend_reports} creatinines, oldest first"
    );
    settle(server.pid(), ticks).await?;

    let wrk = Wrk { bin: &args.load.wrk, seconds, connections, threads: args.load.threads, scripts: tmp.path() };
    let runs = |w: Workload| args.only.is_empty() || args.only.contains(&w);
    let hello = wrk.run(&format!("{}/health", server.url), &get_script(&doctor, None), None)?;
    let reads = |url: &str| -> anyhow::Result<(Load, Load)> {
        let full = wrk.run(url, &get_script(&doctor, None), None)?;
        let half = half_load(&wrk, url, &full, connections, &|delay| get_script(&doctor, delay))?;
        Ok((full, half))
    };
    let (mut summary, mut trend) = (None, None);
    if runs(Workload::Summary) {
        summary = Some(reads(&summary_url)?);
        settle(server.pid(), ticks).await?;
    }
    if runs(Workload::Trend) {
        trend = Some(reads(&trend_url)?);
        settle(server.pid(), ticks).await?;
    }

    // The deposits, alternated round after round; each run numbered apart (ids never repeat).
    let mut measured: Vec<Vec<Round>> = vec![vec![]; deposits.len()];
    for round in 0..if runs(Workload::Deposits) { rounds } else { 0 } {
        for (i, bundle) in bundles.iter().enumerate() {
            let run = u64::from(round) * 10 + i as u64 + 1;
            let cpu_before = cpu_seconds(server.pid(), ticks)?;
            let load = wrk.run(&format!("{}/fhir", server.url), &bundle_script(&doctor, bundle, Some(run)), None)?;
            let drained = settle(server.pid(), ticks).await?;
            let cpu = cpu_seconds(server.pid(), ticks)? - cpu_before;
            measured[i].push(Round { load, cpu_ms: 1000.0 * cpu / load.requests.max(1) as f64, drained });
        }
    }
    let rss = server.peak_rss()? as f64 / (1024.0 * 1024.0);

    let ratio = |l: &Load| 100.0 * l.requests_per_second / hello.requests_per_second;
    println!("\n{:<62} {:>9} {:>9} {:>9} {:>8}", "workload", "req/s", "p50 ms", "p99 ms", "vs hello");
    let row = |name: &str, l: &Load| {
        println!("{name:<62} {:>9.0} {:>9.2} {:>9.2} {:>7.1}%", l.requests_per_second, l.p50_ms, l.p99_ms, ratio(l));
    };
    row("hello world (GET /health, same stack)", &hello);
    let mut targets = vec![];
    if let Some((full, half)) = &summary {
        row(&format!("$summary, {summary_items} items (doctor, IPS Bundle of {summary_bytes} bytes)"), full);
        row("$summary at half that load", half);
        targets.push(format!("$summary p99 ≤ 20 ms ({:.2} ms at full load, {:.2} ms at half load)", full.p99_ms, half.p99_ms));
    }
    if let Some((full, half)) = &trend {
        row(&format!("Observation trend, creatinine: {trend_reports} of {trend_items} items"), full);
        row("Observation trend at half that load", half);
    }
    if !runs(Workload::Deposits) {
        if !targets.is_empty() {
            println!("\ntargets: {}", targets.join("; "));
        }
        println!("server peak RSS (VmHWM): {rss:.1} MiB");
        return Ok(());
    }

    println!(
        "\n{:<7} {:<8} {:>9} {:>9} {:>9} {:>12} {:>10} {:>9}",
        "round", "deposit", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "settled s", "÷ plain"
    );
    for round in 0..rounds as usize {
        let plain = measured[0][round].load.requests_per_second;
        for (deposit, rounds) in deposits.iter().zip(&measured) {
            let r = &rounds[round];
            println!(
                "{:<7} {:<8} {:>9.0} {:>9.2} {:>9.2} {:>12.2} {:>10.1} {:>9.2}",
                round + 1,
                deposit.name,
                r.load.requests_per_second,
                r.load.p50_ms,
                r.load.p99_ms,
                r.cpu_ms,
                r.drained.as_secs_f64(),
                r.load.requests_per_second / plain
            );
        }
    }
    let mean = |rounds: &[Round], f: &dyn Fn(&Round) -> f64| rounds.iter().map(f).sum::<f64>() / rounds.len().max(1) as f64;
    let ratios = |i: usize| -> Vec<f64> {
        measured[i].iter().zip(&measured[0]).map(|(r, p)| r.load.requests_per_second / p.load.requests_per_second).collect()
    };
    let list = |v: &[f64]| v.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ");
    let (vsm_ratios, crbio_ratios) = (ratios(1), ratios(2));
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!("\nmeans over {rounds} round(s):");
    for (deposit, rounds) in deposits.iter().zip(&measured) {
        println!(
            "  {:<8} {:>7.0} deposits/s, p50 {:.2} ms, p99 {:.2} ms, server CPU {:.2} ms per deposit (extraction included)",
            deposit.name,
            mean(rounds, &|r| r.load.requests_per_second),
            mean(rounds, &|r| r.load.p50_ms),
            mean(rounds, &|r| r.load.p99_ms),
            mean(rounds, &|r| r.cpu_ms)
        );
    }
    targets.insert(
        0,
        format!(
            "VSM ≥ 0.70 × plain (each round: {}; mean {:.2}); CR-BIO ≥ 0.70 × plain ({}; mean {:.2})",
            list(&vsm_ratios),
            mean_of(&vsm_ratios),
            list(&crbio_ratios),
            mean_of(&crbio_ratios)
        ),
    );
    println!("\ntargets: {}", targets.join("; "));
    println!("server peak RSS (VmHWM): {rss:.1} MiB");
    Ok(())
}

/// What one deposit round measured: wrk's figures, the server's CPU per deposit from the
/// round's start until it was idle again, and how long that took after wrk stopped.
#[derive(Clone)]
struct Round {
    load: Load,
    cpu_ms: f64,
    drained: Duration,
}

/// The items of `ins`'s profile the doctor sees (`GET /api/records/{ins}/profile`).
async fn profile_items(server: &ServerUnderTest, client: &reqwest::Client, doctor: &str, ins: &Ins) -> anyhow::Result<usize> {
    let r = client.get(format!("{}/api/records/{ins}/profile", server.url)).bearer_auth(doctor).send().await?;
    if !r.status().is_success() {
        bail!("reading the profile: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let body: serde_json::Value = r.json().await?;
    Ok(body["items"].as_array().map_or(0, Vec::len))
}

/// A CDA deposited through `/api` (multipart), as `text/xml` with the XPHR format code.
async fn api_deposit(
    server: &ServerUnderTest,
    client: &reqwest::Client,
    doctor: &str,
    ins: &Ins,
    unique_id: &str,
    type_code: &str,
    cda: String,
) -> anyhow::Result<()> {
    let format = if type_code == "11502-2" { FORMAT_XD_LAB } else { FORMAT_XPHR };
    let meta = serde_json::json!({"unique_id": unique_id, "type_code": type_code, "format_code": format, "mime_type": "text/xml", "title": unique_id});
    let form = reqwest::multipart::Form::new()
        .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json")?)
        .part("content", reqwest::multipart::Part::bytes(cda.into_bytes()).mime_str("text/xml")?);
    let r = client.post(format!("{}/api/records/{ins}/documents", server.url)).bearer_auth(doctor).multipart(form).send().await?;
    if !r.status().is_success() {
        bail!("depositing {unique_id}: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    Ok(())
}

/// The resource types of profile items in a `$summary` Bundle.
const ITEM_TYPES: &[&str] = &["Condition", "AllergyIntolerance", "MedicationStatement", "Immunization", "Observation"];

/// `$summary` answers an IPS document holding `items` profile items; its size in bytes.
async fn check_summary(client: &reqwest::Client, url: &str, doctor: &str, items: usize) -> anyhow::Result<usize> {
    let r = client.get(url).bearer_auth(doctor).header("accept", "application/fhir+json").send().await?;
    if !r.status().is_success() {
        bail!("$summary: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let text = r.text().await?;
    let bundle: serde_json::Value = serde_json::from_str(&text)?;
    let entries = bundle["entry"].as_array().context("$summary's entries")?;
    let found = entries.iter().filter(|e| e["resource"]["resourceType"].as_str().is_some_and(|t| ITEM_TYPES.contains(&t))).count();
    if found != items {
        bail!("$summary holds {found} profile items, expected {items}");
    }
    Ok(text.len())
}

/// The trend answers `points` creatinine Observations, oldest first.
async fn check_trend(client: &reqwest::Client, url: &str, doctor: &str, points: usize) -> anyhow::Result<()> {
    let r = client.get(url).bearer_auth(doctor).header("accept", "application/fhir+json").send().await?;
    if !r.status().is_success() {
        bail!("the trend: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let bundle: serde_json::Value = r.json().await?;
    let dates: Vec<&str> = bundle["entry"]
        .as_array()
        .context("the trend's entries")?
        .iter()
        .filter_map(|e| e["resource"]["effectiveDateTime"].as_str())
        .collect();
    // One page: the search's default count is 50.
    if bundle["total"].as_u64() != Some(points as u64) || dates.len() != points.min(50) {
        bail!("the trend answered total {:?} and {} dated entries, expected {points}", bundle["total"], dates.len());
    }
    if dates.windows(2).any(|w| w[0] > w[1]) {
        bail!("the trend is not oldest first: {dates:?}");
    }
    Ok(())
}

/// Clock ticks per second of `/proc/{pid}/stat` (`getconf CLK_TCK`, 100 on Linux if unknown).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// The CPU time (user and system) the process has used, in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the command name (in parentheses, which may hold spaces): the state is field 3,
    // utime and stime fields 14 and 15.
    let rest = stat.rsplit_once(')').context("/proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// Waits until the server is idle (under 3% of a core over half a second: the deposits' text
/// extraction done), at most a minute; how long it took.
async fn settle(pid: u32, ticks: f64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let window = Duration::from_millis(500);
    loop {
        let before = cpu_seconds(pid, ticks)?;
        tokio::time::sleep(window).await;
        let used = cpu_seconds(pid, ticks)? - before;
        if used < 0.03 * window.as_secs_f64() || started.elapsed() > Duration::from_secs(60) {
            return Ok(started.elapsed().saturating_sub(window));
        }
    }
}

const XSI: &str = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";
const VSM_ENTRIES: usize = 50;
const CRBIO_RESULTS: usize = 40;

/// A deterministic fraction in [0, 1) for (`n`, `i`): values vary between documents and entries.
fn fraction(n: u32, i: usize) -> f64 {
    let mut x = (u64::from(n) << 32 | i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % 10_000) as f64 / 10_000.0
}

/// An HL7 date `months` after January 2015, on the 15th.
fn month(months: u32) -> String {
    format!("{:04}{:02}15", 2015 + months / 12, months % 12 + 1)
}

/// The CDA header: the bench doctor as author, `ins` as patient, type `code`.
fn header(ins: &Ins, code: &str, display: &str, n: u32) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\" {XSI}>\
         <realmCode code=\"FR\"/><typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>\
         <id root=\"1.2.250.1.999.6\" extension=\"BENCH-{code}-{n}\"/>\
         <code code=\"{code}\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"{display}\"/><title>{display}</title>\
         <effectiveTime value=\"{date}101500+0100\"/><confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>\
         <languageCode code=\"fr-FR\"/><setId root=\"1.2.250.1.999.5\" extension=\"BENCH-{code}-{n}\"/><versionNumber value=\"1\"/>\
         <recordTarget><patientRole><id root=\"1.2.250.1.213.1.4.8\" extension=\"{ins}\"/>\
         <patient><name><given>Test</given><family>BENCH</family></name><administrativeGenderCode code=\"F\" codeSystem=\"2.16.840.1.113883.5.1\"/>\
         <birthTime value=\"19840301\"/></patient></patientRole></recordTarget>\
         <author><time value=\"{date}101500+0100\"/><assignedAuthor><id root=\"1.2.250.1.71.4.2.1\" extension=\"{AUTHOR_EXTENSION}\"/>\
         <assignedPerson><name><given>Bench</given><family>Médecin</family></name></assignedPerson></assignedAuthor></author>\
         <custodian><assignedCustodian><representedCustodianOrganization><id root=\"1.2.250.1.213.4.1\"/></representedCustodianOrganization></assignedCustodian></custodian>\
         <component><structuredBody>",
        date = month(120 + n),
    )
}

const FOOTER: &str = "</structuredBody></component></ClinicalDocument>";

/// A section: its LOINC code and title, a narrative table of `rows` (id, cells), its entries.
fn section(code: &str, title: &str, rows: &[(String, String)], entries: &str, pad: &str) -> String {
    let mut table = String::new();
    for (id, cells) in rows {
        let _ = write!(table, "<tr ID=\"{id}\">{cells}</tr>");
    }
    format!(
        "<component><section><code code=\"{code}\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"{title}\"/><title>{title}</title>\
         <text><table><tbody>{table}</tbody></table>{pad}</text>{entries}</section></component>"
    )
}

/// Where the narrative padding goes (in the first section), replaced by [`padded`].
const PAD: &str = "@PAD@";

/// `doc` with its padding grown to make it `to` bytes long (none if it already is as long): a
/// paragraph of the narrative, as a longer report would have.
fn padded(doc: &str, to: usize) -> String {
    let bare = doc.len() - PAD.len();
    let room = to.saturating_sub(bare);
    let (open, close) = ("<paragraph>", "</paragraph>");
    let pad = if room > open.len() + close.len() {
        // ASCII: cut anywhere, it stays whole characters.
        let filler = "Patient revu en consultation de suivi, examen clinique sans particularite. ";
        let text: String = filler.chars().cycle().take(room - open.len() - close.len()).collect();
        format!("{open}{text}{close}")
    } else {
        " ".repeat(room)
    };
    doc.replacen(PAD, &pad, 1)
}

/// A VSM (synthèse médicale, LOINC 60591-5) of 50 entries, the `n`th of a record (its dates
/// move with `n`), padded to `pad_to` bytes: 12 active problems, 6 antécédents, 4 allergies,
/// 12 treatments, 6 vaccinations, 10 vital signs (two visits of five measures).
fn vsm(ins: &Ins, n: u32, pad_to: usize) -> String {
    const PROBLEMS: &[(&str, &str)] = &[
        ("E11", "Diabète de type 2"),
        ("I10", "Hypertension artérielle essentielle"),
        ("E78.0", "Hypercholestérolémie pure"),
        ("J45", "Asthme"),
        ("K21.0", "Reflux gastro-oesophagien avec oesophagite"),
        ("M17.1", "Gonarthrose primaire"),
        ("F32.1", "Episode dépressif moyen"),
        ("N18.3", "Maladie rénale chronique stade 3"),
        ("G47.3", "Apnée du sommeil"),
        ("E66.9", "Obésité"),
        ("I48.9", "Fibrillation auriculaire"),
        ("M81.0", "Ostéoporose post-ménopausique"),
    ];
    const HISTORY: &[(&str, &str)] = &[
        ("K35.8", "Appendicite aiguë"),
        ("S52.5", "Fracture du radius"),
        ("K80.2", "Lithiase vésiculaire"),
        ("J18.9", "Pneumopathie"),
        ("K40.9", "Hernie inguinale"),
        ("B02.9", "Zona"),
    ];
    const ALLERGIES: &[(&str, &str)] = &[
        ("J01CE01", "Benzylpénicilline"),
        ("N02BA01", "Acide acétylsalicylique"),
        ("J01FA10", "Azithromycine"),
        ("M01AE01", "Ibuprofène"),
    ];
    const TREATMENTS: &[(&str, &str)] = &[
        ("A10BA02", "Metformine 1000 mg matin et soir"),
        ("C09AA05", "Ramipril 5 mg le matin"),
        ("C10AA05", "Atorvastatine 20 mg le soir"),
        ("B01AC06", "Acide acétylsalicylique 75 mg"),
        ("C07AB07", "Bisoprolol 2,5 mg"),
        ("N02BE01", "Paracétamol 1 g si douleur"),
        ("A02BC01", "Oméprazole 20 mg"),
        ("C03CA01", "Furosémide 40 mg"),
        ("N06AB06", "Sertraline 50 mg"),
        ("R03AK06", "Salmétérol et fluticasone"),
        ("H03AA01", "Lévothyroxine 75 µg"),
        ("M04AA01", "Allopurinol 100 mg"),
    ];
    const VACCINES: &[(&str, &str)] = &[
        ("J07AL02", "Pneumocoque conjugué"),
        ("J07BB02", "Grippe saisonnière"),
        ("J07CA02", "Diphtérie, tétanos, coqueluche, poliomyélite"),
        ("J07BC01", "Hépatite B"),
        ("J07BD52", "Rougeole, oreillons, rubéole"),
        ("J07BX03", "Covid-19"),
    ];
    const VITALS: &[(&str, &str, &str, f64, f64)] = &[
        ("29463-7", "Poids", "kg", 70.0, 90.0),
        ("8302-2", "Taille", "cm", 160.0, 175.0),
        ("8480-6", "Pression artérielle systolique", "mm[Hg]", 115.0, 150.0),
        ("8462-4", "Pression artérielle diastolique", "mm[Hg]", 65.0, 95.0),
        ("8867-4", "Fréquence cardiaque", "/min", 55.0, 95.0),
    ];
    let mut doc = header(ins, "60591-5", "Synthèse médicale", n);

    let conditions = |prefix: &str, list: &[(&str, &str)], offset: u32| {
        let mut rows = vec![];
        let mut entries = String::new();
        for (i, (icd, display)) in list.iter().enumerate() {
            let id = format!("{prefix}{i}");
            let from = month((i as u32 * 7 + offset) % 120);
            rows.push((id.clone(), format!("<td>{display}</td><td>depuis {from}</td>")));
            let _ = write!(
                entries,
                "<entry><act classCode=\"ACT\" moodCode=\"EVN\"><code nullFlavor=\"NA\"/><statusCode code=\"active\"/>\
                 <effectiveTime><low value=\"{from}\"/></effectiveTime><entryRelationship typeCode=\"SUBJ\">\
                 <observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"55607006\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Problème\"/>\
                 <text><reference value=\"#{id}\"/></text><statusCode code=\"completed\"/><effectiveTime><low value=\"{from}\"/></effectiveTime>\
                 <value xsi:type=\"CD\" code=\"{icd}\" codeSystem=\"2.16.840.1.113883.6.3\" displayName=\"{display}\"/></observation>\
                 </entryRelationship></act></entry>"
            );
        }
        (rows, entries)
    };
    let (rows, entries) = conditions("pb", PROBLEMS, n);
    doc += &section("11450-4", "Problèmes actifs", &rows, &entries, PAD);
    let (rows, entries) = conditions("at", HISTORY, n + 3);
    doc += &section("11348-0", "Antécédents médicaux", &rows, &entries, "");

    let mut rows = vec![];
    let mut entries = String::new();
    for (i, (atc, display)) in ALLERGIES.iter().enumerate() {
        let id = format!("al{i}");
        rows.push((id.clone(), format!("<td>Allergie : {display}</td>")));
        let _ = write!(
            entries,
            "<entry><act classCode=\"ACT\" moodCode=\"EVN\"><code nullFlavor=\"NA\"/><statusCode code=\"active\"/>\
             <entryRelationship typeCode=\"SUBJ\"><observation classCode=\"OBS\" moodCode=\"EVN\">\
             <code code=\"ASSERTION\" codeSystem=\"2.16.840.1.113883.5.4\"/><text><reference value=\"#{id}\"/></text>\
             <statusCode code=\"completed\"/><effectiveTime><low value=\"{from}\"/></effectiveTime>\
             <value xsi:type=\"CD\" code=\"416098002\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Allergie médicamenteuse\"/>\
             <participant typeCode=\"CSM\"><participantRole classCode=\"MANU\"><playingEntity classCode=\"MMAT\">\
             <code code=\"{atc}\" codeSystem=\"2.16.840.1.113883.6.73\" displayName=\"{display}\"/></playingEntity></participantRole></participant>\
             </observation></entryRelationship></act></entry>",
            from = month(i as u32 * 11)
        );
    }
    doc += &section("48765-2", "Allergies et intolérances", &rows, &entries, "");

    let mut rows = vec![];
    let mut entries = String::new();
    for (i, (atc, display)) in TREATMENTS.iter().enumerate() {
        let id = format!("tt{i}");
        rows.push((id.clone(), format!("<td>{display}</td>")));
        let _ = write!(
            entries,
            "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"INT\"><text><reference value=\"#{id}\"/></text>\
             <statusCode code=\"active\"/><effectiveTime xsi:type=\"IVL_TS\"><low value=\"{from}\"/></effectiveTime><doseQuantity value=\"1\"/>\
             <consumable><manufacturedProduct><manufacturedMaterial><code code=\"{atc}\" codeSystem=\"2.16.840.1.113883.6.73\" displayName=\"{display}\"/>\
             </manufacturedMaterial></manufacturedProduct></consumable></substanceAdministration></entry>",
            from = month((i as u32 * 5 + n) % 130)
        );
    }
    doc += &section("10160-0", "Traitements", &rows, &entries, "");

    let mut rows = vec![];
    let mut entries = String::new();
    for (i, (atc, display)) in VACCINES.iter().enumerate() {
        let id = format!("va{i}");
        let at = month(i as u32 * 17 + n);
        rows.push((id.clone(), format!("<td>{display}</td><td>{at}</td>")));
        let _ = write!(
            entries,
            "<entry><substanceAdministration classCode=\"SBADM\" moodCode=\"EVN\" negationInd=\"false\"><text><reference value=\"#{id}\"/></text>\
             <statusCode code=\"completed\"/><effectiveTime value=\"{at}\"/><consumable><manufacturedProduct><manufacturedMaterial>\
             <code code=\"{atc}\" codeSystem=\"2.16.840.1.113883.6.73\" displayName=\"{display}\"/><lotNumberText>LOT-{n}-{i}</lotNumberText>\
             </manufacturedMaterial></manufacturedProduct></consumable></substanceAdministration></entry>"
        );
    }
    doc += &section("11369-6", "Vaccinations", &rows, &entries, "");

    let mut rows = vec![];
    let mut entries = String::new();
    for visit in 0..2u32 {
        let at = month(118 + n + visit);
        let mut components = String::new();
        for (i, (code, display, unit, low, high)) in VITALS.iter().enumerate() {
            let id = format!("sv{visit}{i}");
            let value = low + (high - low) * fraction(n * 2 + visit, i);
            rows.push((id.clone(), format!("<td>{display}</td><td>{value:.1} {unit}</td><td>{at}</td>")));
            let _ = write!(
                components,
                "<component><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"{code}\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"{display}\"/>\
                 <text><reference value=\"#{id}\"/></text><statusCode code=\"completed\"/><effectiveTime value=\"{at}\"/>\
                 <value xsi:type=\"PQ\" value=\"{value:.1}\" unit=\"{unit}\"/></observation></component>"
            );
        }
        let _ = write!(
            entries,
            "<entry><organizer classCode=\"CLUSTER\" moodCode=\"EVN\"><code code=\"46680005\" codeSystem=\"2.16.840.1.113883.6.96\" displayName=\"Signes vitaux\"/>\
             <statusCode code=\"completed\"/><effectiveTime value=\"{at}\"/>{components}</organizer></entry>"
        );
    }
    doc += &section("8716-3", "Signes vitaux", &rows, &entries, "");
    doc += FOOTER;
    padded(&doc, pad_to)
}

/// A CR-BIO (compte rendu de biologie, LOINC 11502-2) of 40 results, the `n`th of a record
/// (sampled `n` months after the first), padded to `pad_to` bytes: biochemistry (creatinine,
/// LOINC 2160-0, first), haematology and immunology/hormonology, each a battery with its
/// reference ranges and interpretations.
fn cr_bio(ins: &Ins, n: u32, pad_to: usize) -> String {
    type Test = (&'static str, &'static str, &'static str, f64, f64);
    const BIOCHEMISTRY: &[Test] = &[
        ("2160-0", "Créatinine", "mg/dL", 0.6, 1.2),
        ("2951-2", "Sodium", "mmol/L", 136.0, 145.0),
        ("2823-3", "Potassium", "mmol/L", 3.5, 5.1),
        ("2075-0", "Chlorure", "mmol/L", 98.0, 107.0),
        ("1963-8", "Bicarbonates", "mmol/L", 22.0, 29.0),
        ("3094-0", "Urée", "mg/dL", 7.0, 20.0),
        ("2345-7", "Glucose", "mg/dL", 70.0, 100.0),
        ("2093-3", "Cholestérol total", "mg/dL", 120.0, 200.0),
        ("2085-9", "Cholestérol HDL", "mg/dL", 40.0, 100.0),
        ("13457-7", "Cholestérol LDL calculé", "mg/dL", 50.0, 130.0),
        ("2571-8", "Triglycérides", "mg/dL", 40.0, 150.0),
        ("1742-6", "ALAT", "U/L", 7.0, 56.0),
        ("1920-8", "ASAT", "U/L", 10.0, 40.0),
        ("2324-2", "Gamma-GT", "U/L", 9.0, 48.0),
        ("6768-6", "Phosphatases alcalines", "U/L", 44.0, 147.0),
        ("1975-2", "Bilirubine totale", "mg/dL", 0.1, 1.2),
    ];
    const HAEMATOLOGY: &[Test] = &[
        ("718-7", "Hémoglobine", "g/dL", 12.0, 16.0),
        ("4544-3", "Hématocrite", "%", 37.0, 47.0),
        ("789-8", "Hématies", "10*12/L", 4.0, 5.4),
        ("787-2", "VGM", "fL", 80.0, 100.0),
        ("785-6", "TCMH", "pg", 27.0, 33.0),
        ("786-4", "CCMH", "g/dL", 32.0, 36.0),
        ("6690-2", "Leucocytes", "10*9/L", 4.0, 10.0),
        ("770-8", "Polynucléaires neutrophiles", "%", 40.0, 75.0),
        ("736-9", "Lymphocytes", "%", 20.0, 45.0),
        ("5905-5", "Monocytes", "%", 2.0, 10.0),
        ("713-8", "Polynucléaires éosinophiles", "%", 1.0, 6.0),
        ("706-2", "Polynucléaires basophiles", "%", 0.1, 1.0),
        ("777-3", "Plaquettes", "10*9/L", 150.0, 400.0),
        ("4548-4", "Hémoglobine glyquée", "%", 4.0, 6.0),
    ];
    const IMMUNOLOGY: &[Test] = &[
        ("3016-3", "TSH", "m[IU]/L", 0.4, 4.0),
        ("3024-7", "T4 libre", "ng/dL", 0.8, 1.8),
        ("1988-5", "Protéine C réactive", "mg/L", 0.5, 5.0),
        ("2276-4", "Ferritine", "ng/mL", 30.0, 400.0),
        ("2498-4", "Fer sérique", "ug/dL", 60.0, 170.0),
        ("2132-9", "Vitamine B12", "pg/mL", 200.0, 900.0),
        ("2284-8", "Folates", "ng/mL", 3.0, 17.0),
        ("1989-3", "Vitamine D", "ng/mL", 30.0, 100.0),
        ("2857-1", "PSA", "ng/mL", 0.1, 4.0),
        ("14957-5", "Microalbuminurie", "mg/L", 1.0, 30.0),
    ];
    let at = format!("{}073000+0100", month(84 + n));
    let mut doc = header(ins, "11502-2", "Compte rendu de biologie", n);
    let mut offset = 0;
    for (code, title, battery, tests, pad) in [
        ("18719-5", "Biochimie", ("24362-6", "Bilan biochimique"), BIOCHEMISTRY, PAD),
        ("18723-7", "Hématologie", ("58410-2", "Hémogramme"), HAEMATOLOGY, ""),
        ("18728-6", "Immunologie et hormonologie", ("24348-5", "Bilan hormonal et inflammatoire"), IMMUNOLOGY, ""),
    ] {
        let mut rows = vec![];
        let mut components = String::new();
        for (i, (loinc, display, unit, low, high)) in tests.iter().enumerate() {
            let id = format!("r{}", offset + i);
            // Most results within the range, some above (H) or below (L).
            let value = low + (high - low) * (fraction(n, offset + i) * 1.4 - 0.2);
            let value = value.max(0.01);
            let flag = if value > *high {
                "H"
            } else if value < *low {
                "L"
            } else {
                "N"
            };
            rows.push((id.clone(), format!("<td>{display}</td><td>{value:.2} {unit}</td><td>{low} - {high}</td><td>{flag}</td>")));
            let _ = write!(
                components,
                "<component><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"{loinc}\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"{display}\"/>\
                 <text><reference value=\"#{id}\"/></text><statusCode code=\"completed\"/><effectiveTime value=\"{at}\"/>\
                 <value xsi:type=\"PQ\" value=\"{value:.2}\" unit=\"{unit}\"/><interpretationCode code=\"{flag}\" codeSystem=\"2.16.840.1.113883.5.83\"/>\
                 <referenceRange><observationRange><value xsi:type=\"IVL_PQ\"><low value=\"{low}\" unit=\"{unit}\"/><high value=\"{high}\" unit=\"{unit}\"/></value>\
                 </observationRange></referenceRange></observation></component>"
            );
        }
        offset += tests.len();
        let entries = format!(
            "<entry><organizer classCode=\"BATTERY\" moodCode=\"EVN\"><code code=\"{}\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"{}\"/>\
             <statusCode code=\"completed\"/><effectiveTime value=\"{at}\"/>{components}</organizer></entry>",
            battery.0, battery.1
        );
        doc += &section(code, title, &rows, &entries, pad);
    }
    doc += FOOTER;
    padded(&doc, pad_to)
}

/// Plain text of exactly `len` bytes (ASCII): a letter, the plain deposit's content.
fn plain_text(len: usize) -> Vec<u8> {
    let letter = "Cher confrere, j'ai revu ce jour votre patiente en consultation de suivi. L'examen clinique est sans particularite, \
                  la tension arterielle est stable sous traitement, le bilan biologique est a controler dans trois mois. \
                  Je vous remercie de votre confiance et reste a votre disposition. ";
    letter.bytes().cycle().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_extract::cda::{Body, CdaLimits, EntryKind, Volet, read_cda};

    fn entries(doc: &str) -> (Volet, Vec<carnet_extract::cda::Entry>) {
        match read_cda(doc.as_bytes(), &CdaLimits::default()).expect("read").body {
            Body::Structured { volet, entries } => (volet, entries),
            Body::NonXml { .. } => panic!("level 1"),
        }
    }

    #[test]
    fn the_generated_documents_read_as_50_and_40_entries_and_pad_exactly() {
        let ins = Ins::from_body("2840375012345").expect("ins");
        let (volet, read) = entries(&vsm(&ins, 3, 0));
        assert_eq!(volet, Volet::Vsm);
        assert_eq!(read.len(), VSM_ENTRIES);
        assert!(read.iter().all(|e| e.kind != EntryKind::Other && e.text.is_some()), "{read:?}");
        let (volet, read) = entries(&cr_bio(&ins, 3, 0));
        assert_eq!(volet, Volet::CrBio);
        assert_eq!(read.len(), CRBIO_RESULTS);
        assert!(read.iter().all(|e| e.kind == EntryKind::Result && e.value.is_some()));
        assert_eq!(read.iter().filter(|e| e.code.as_ref().is_some_and(|c| c.code.as_deref() == Some("2160-0"))).count(), 1);
        let size = vsm(&ins, 0, 0).len().max(cr_bio(&ins, 0, 0).len()) + 5;
        assert_eq!(vsm(&ins, 0, size).len(), size);
        assert_eq!(cr_bio(&ins, 0, size).len(), size);
        assert_eq!(entries(&vsm(&ins, 0, size)).1.len(), VSM_ENTRIES);
        assert_eq!(plain_text(size).len(), size);
        assert_eq!(vsm(&ins, 1, 0), vsm(&ins, 1, 0), "deterministic");
    }
}
