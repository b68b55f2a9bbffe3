//! `carnet-bench keys`: the master keys in a PKCS#11 token against the local key files, in the
//! same run. ITI-67 search, ITI-68 retrieve and ITI-65 provide through `carnet serve` with each
//! provider (alternated, `--rounds` times), with the data-key unwraps that reached the provider
//! during each workload (`carnet_key_unwraps_total`: the key cache keeps them off the hot path);
//! then the providers' raw unwrap rate, which is what a cache miss costs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use carnet_domain::Ins;

use crate::bench::ServerUnderTest;
use crate::bench_http::{Load, Wrk, checked_search_url, get_script, provide_script, pseudo_pdf, seed_patient};

const PIN: &str = "5678-bench";
const PIN_ENV: &str = "CARNET_BENCH_PKCS11_PIN";
const LABEL: &str = "carnet-bench";

#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub load: crate::bench_http::WrkArgs,
    /// Times each provider is measured, alternated (local, token, local, token…).
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// Documents in the searched patient's record.
    #[arg(long, default_value_t = 50)]
    pub documents: usize,
    /// Unwraps per provider in the raw measurement.
    #[arg(long, default_value_t = 20_000)]
    pub unwraps: u32,
    /// The PKCS#11 module (SoftHSM2's by default).
    #[arg(long, default_value = "/usr/lib/softhsm/libsofthsm2.so")]
    pub module: PathBuf,
    /// A short run that only proves the harness works (CI).
    #[arg(long)]
    pub smoke: bool,
    /// Internal: measure the raw unwrap rates in this process (the parent sets SOFTHSM2_CONF).
    #[arg(long, hide = true)]
    pub raw_child: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Provider {
    Local,
    Token,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::Local => "local key files",
            Provider::Token => "PKCS#11 token (SoftHSM2)",
        }
    }
}

/// One provider's figures: a load per workload, and the unwraps the provider did during it.
#[derive(Default)]
struct Figures {
    search: Vec<(Load, u64)>,
    retrieve: Vec<(Load, u64)>,
    provide: Vec<(Load, u64)>,
}

/// A fresh SoftHSM2 token in `dir`; the configuration file's path.
fn init_token(dir: &Path) -> anyhow::Result<PathBuf> {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens)?;
    let conf = dir.join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()))?;
    let out = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", LABEL, "--so-pin", "1234-bench", "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .context("running softhsm2-util (apt-get install softhsm2)")?;
    if !out.status.success() {
        bail!("softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(conf)
}

async fn unwraps(client: &reqwest::Client, server: &ServerUnderTest) -> anyhow::Result<u64> {
    let text = client.get(format!("{}/metrics", server.url)).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("carnet_key_unwraps_total "))
        .and_then(|n| n.trim().parse().ok())
        .context("the server's /metrics has no carnet_key_unwraps_total")
}

pub async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    if args.raw_child {
        return raw_unwraps(&args);
    }
    let (seconds, connections, documents, rounds) =
        if args.smoke { (2, 4, 5, 1) } else { (args.load.seconds, args.load.connections, args.documents, args.rounds.max(1)) };
    println!(
        "carnet-bench keys: SQLite; wrk, {} thread(s), {connections} connections, {seconds} s per workload, {rounds} round(s)",
        args.load.threads
    );
    let tmp = tempfile::tempdir()?;
    let conf = init_token(tmp.path())?;
    let wrk = Wrk { bin: &args.load.wrk, seconds, connections, threads: args.load.threads, scripts: tmp.path() };
    let client = reqwest::Client::new();
    let ins = Ins::from_body("2840375012345").context("bench INS")?;
    let binary = pseudo_pdf(100 * 1024, 999_999);
    let (b64, sha) = {
        use base64::Engine;
        use sha2::Digest;
        let engine = base64::engine::general_purpose::STANDARD;
        (engine.encode(&binary), engine.encode(sha2::Sha256::digest(&binary)))
    };
    let mut figures = [Figures::default(), Figures::default()];
    for round in 0..rounds {
        for (slot, provider) in [Provider::Local, Provider::Token].into_iter().enumerate() {
            let mut env: Vec<(&str, String)> = vec![("CARNET_POLICY__ENUMERATION_LIMIT_PER_HOUR", "100000000".into())];
            if provider == Provider::Token {
                env.extend([
                    ("SOFTHSM2_CONF", conf.display().to_string()),
                    ("CARNET_STORAGE__KEYS", "pkcs11".into()),
                    ("CARNET_STORAGE__PKCS11_MODULE", args.module.display().to_string()),
                    ("CARNET_STORAGE__PKCS11_TOKEN_LABEL", LABEL.into()),
                    ("CARNET_STORAGE__PKCS11_PIN_ENV", PIN_ENV.into()),
                    (PIN_ENV, PIN.into()),
                ]);
            }
            let server = ServerUnderTest::start(&tmp.path().join(format!("data-{round}-{slot}")), &env).await?;
            let seeded = seed_patient(&server, &client, &ins, documents).await?;
            let search_url = checked_search_url(&server, &client, &seeded.doctor, &ins, documents).await?;
            let f = &mut figures[slot];
            let measured = |load: Load, before: u64, after: u64| (load, after.saturating_sub(before));
            let before = unwraps(&client, &server).await?;
            let load = wrk.run(&search_url, &get_script(&seeded.doctor, None), None)?;
            f.search.push(measured(load, before, unwraps(&client, &server).await?));
            let before = unwraps(&client, &server).await?;
            let accept_pdf = get_script(&seeded.doctor, None).replace("application/fhir+json", "application/pdf");
            let load = wrk.run(&format!("{}/fhir/Binary/{}", server.url, seeded.first_id), &accept_pdf, None)?;
            f.retrieve.push(measured(load, before, unwraps(&client, &server).await?));
            let before = unwraps(&client, &server).await?;
            let script = provide_script(&seeded.doctor, &ins, &b64, binary.len(), &sha);
            let load = wrk.run(&format!("{}/fhir", server.url), &script, None)?;
            f.provide.push(measured(load, before, unwraps(&client, &server).await?));
            println!("round {}: {} measured", round + 1, provider.name());
        }
    }

    let best = |runs: &[(Load, u64)]| {
        runs.iter().max_by(|a, b| a.0.requests_per_second.total_cmp(&b.0.requests_per_second)).map(|(l, u)| (*l, *u)).unwrap_or_default()
    };
    println!(
        "\n{:<40} {:>12} {:>12} {:>7} {:>20}",
        "workload (best of the rounds)", "local req/s", "token req/s", "ratio", "unwraps/s (token)"
    );
    for (name, local, token) in [
        ("ITI-67 search, gate + ledger", &figures[0].search, &figures[1].search),
        ("ITI-68 retrieve 100 KB (decrypt)", &figures[0].retrieve, &figures[1].retrieve),
        ("ITI-65 provide 100 KB (encrypt)", &figures[0].provide, &figures[1].provide),
    ] {
        let ((l, _), (t, token_unwraps)) = (best(local), best(token));
        println!(
            "{name:<40} {:>12.0} {:>12.0} {:>7.2} {:>20.2}",
            l.requests_per_second,
            t.requests_per_second,
            t.requests_per_second / l.requests_per_second,
            token_unwraps as f64 / seconds as f64
        );
    }
    println!(
        "p99 ms local / token: search {:.2} / {:.2}, retrieve {:.2} / {:.2}, provide {:.2} / {:.2}",
        best(&figures[0].search).0.p99_ms,
        best(&figures[1].search).0.p99_ms,
        best(&figures[0].retrieve).0.p99_ms,
        best(&figures[1].retrieve).0.p99_ms,
        best(&figures[0].provide).0.p99_ms,
        best(&figures[1].provide).0.p99_ms
    );

    // The raw rates, in a child that reaches the token through the same configuration file.
    let unwraps = if args.smoke { 200 } else { args.unwraps };
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["keys", "--raw-child", "--unwraps", &unwraps.to_string(), "--module"])
        .arg(&args.module)
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .context("running the raw measurement")?;
    if !out.status.success() {
        bail!("raw measurement: {}", String::from_utf8_lossy(&out.stderr));
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

/// Unwraps per second of each provider, one thread, one key (what a key-cache miss costs).
fn raw_unwraps(args: &KeysArgs) -> anyhow::Result<()> {
    use carnet_crypto::{DataKey, KeyProvider, LocalKeyring, Pkcs11Config, Pkcs11Keyring};
    let dir = tempfile::tempdir()?;
    let local = LocalKeyring::load_or_create(dir.path())?;
    let config = Pkcs11Config { module: args.module.clone(), token_label: LABEL.into(), pin: PIN.to_owned().into() };
    let token = Pkcs11Keyring::open_or_create(&config)?;
    let mut rates = Vec::new();
    for provider in [&local as &dyn KeyProvider, &token] {
        let wrapped = provider.wrap(&DataKey::generate(), b"2840375012345")?;
        let start = Instant::now();
        for _ in 0..args.unwraps {
            std::hint::black_box(provider.unwrap(&wrapped, b"2840375012345")?);
        }
        rates.push(f64::from(args.unwraps) / start.elapsed().as_secs_f64());
    }
    println!(
        "raw unwraps, one thread, {} each: local key files {:.0}/s, PKCS#11 token {:.0}/s (×{:.3})",
        args.unwraps,
        rates[0],
        rates[1],
        rates[1] / rates[0]
    );
    Ok(())
}
