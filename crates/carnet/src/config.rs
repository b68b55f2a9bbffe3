//! `Settings`: loaded once from defaults, then a TOML file, then `CARNET_*` environment
//! variables (nested keys with `__`, e.g. `CARNET_LIMITS__JSON_BODY_BYTES`), and passed down
//! explicitly.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use carnet_auth::TrustedIssuer;
use carnet_domain::RetentionPolicy;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the embedded default keeps its files (SQLite database, keys, blobs).
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; default: `sqlite://<data_dir>/carnet.db`.
    pub database_url: Option<SecretUrl>,
    /// The ledger's own store: default `sqlite://<data_dir>/ledger.db` beside an SQLite
    /// database, or the `ledger` schema of the PostgreSQL database.
    pub ledger_url: Option<SecretUrl>,
    /// `human` or `json`.
    pub log_format: LogFormat,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub retention: RetentionSettings,
    pub storage: StorageSettings,
    pub notifications: NotificationSettings,
    pub policy: PolicySettings,
    pub http: HttpSettings,
    /// The ledger's own checks (`[ledger]`).
    #[serde(default)]
    pub ledger: LedgerSettings,
    /// The text of documents, extracted after each deposit (`[extraction]`, docs/search.md).
    #[serde(default)]
    pub extraction: ExtractionConfig,
    /// Search inside a record (`[search]`, docs/search.md).
    #[serde(default)]
    pub search: SearchConfig,
    /// The SMART App Launch authorization server published at `/.well-known/smart-configuration`;
    /// absent: none is published (and the CapabilityStatement claims no SMART-on-FHIR service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart: Option<SmartSettings>,
    /// The catalogue of apps patients may connect (`[[apps]]`), to show them by name.
    #[serde(default)]
    pub apps: Vec<AppSettings>,
    /// How people sign in to the portal (`[portal]`); absent: `/connexion` says sign-in is not
    /// configured. `carnet demo` signs in with the dev provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<PortalSettings>,
}

/// The portal as an OpenID Connect client, and its sessions.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    /// `dev`: the dev issuer's own provider (needs `auth.dev_issuer`, for demo and development);
    /// otherwise the `issuer` of one of `[[auth.issuers]]`.
    pub issuer: String,
    #[serde(default = "PortalSettings::default_client_id")]
    pub client_id: String,
    /// For a confidential client; absent: a public client (PKCE alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The portal's address as browsers see it (`https://dossier.example.fr`). Default:
    /// `http://<bind>`, allowed only when `bind` is a loopback address (Carnet itself speaks
    /// plain http; behind a TLS proxy, give the https address). An `https` address gets the
    /// `__Host-carnet_session` cookie with `Secure`; plain http on loopback gets `carnet_session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Default: `<public_url>/connexion/retour`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// Scopes asked besides `openid`.
    #[serde(default)]
    pub extra_scopes: Vec<String>,
    /// A session unused this long ends.
    #[serde(default = "PortalSettings::default_idle_minutes")]
    pub idle_minutes: i64,
    /// A session ends this long after sign-in, however used.
    #[serde(default = "PortalSettings::default_absolute_hours")]
    pub absolute_hours: i64,
}

impl PortalSettings {
    pub const DEV: &'static str = "dev";

    fn default_client_id() -> String {
        "carnet-portail".into()
    }
    fn default_idle_minutes() -> i64 {
        15
    }
    fn default_absolute_hours() -> i64 {
        8
    }

    /// The dev provider, with the defaults.
    pub fn dev() -> PortalSettings {
        PortalSettings {
            issuer: Self::DEV.into(),
            client_id: Self::default_client_id(),
            client_secret: None,
            public_url: None,
            redirect_url: None,
            extra_scopes: vec![],
            idle_minutes: Self::default_idle_minutes(),
            absolute_hours: Self::default_absolute_hours(),
        }
    }

    pub fn session_limits(&self) -> carnet_domain::SessionLimits {
        carnet_domain::SessionLimits {
            idle: time::Duration::minutes(self.idle_minutes),
            absolute: time::Duration::hours(self.absolute_hours),
        }
    }
}

impl fmt::Debug for PortalSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("public_url", &self.public_url)
            .field("redirect_url", &self.redirect_url)
            .field("extra_scopes", &self.extra_scopes)
            .field("idle_minutes", &self.idle_minutes)
            .field("absolute_hours", &self.absolute_hours)
            .finish()
    }
}

/// How often `serve` verifies the whole ledger, and how gently.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSettings {
    /// Hours between two full verifications of the ledger (as `carnet ledger verify` does) while
    /// serving; the first runs one interval after start (the start itself checks the latest head
    /// and the metadata store's checkpoint). 0: never.
    pub verify_interval_hours: u64,
    /// Pause after each page of 1,000 entries, so that a verification never takes the disk
    /// from the requests being served.
    pub verify_pause_ms: u64,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings { verify_interval_hours: 24, verify_pause_ms: 10 }
    }
}

/// Search inside a record (`[search]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// The memory this node's full-text indexes may hold, in MiB (least recently used out first).
    pub cache_mib: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig { cache_mib: 64 }
    }
}

/// Text extraction (`[extraction]`): the worker `serve` runs, its tools and their limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractionConfig {
    /// Whether `serve` extracts text. Off: jobs wait in the queue until it is on again.
    pub enabled: bool,
    /// Whether scanned PDFs and images are OCR'd (off: their text is unavailable, `disabled`).
    pub ocr: bool,
    /// Tesseract's language model.
    pub ocr_language: String,
    /// Wall-clock limit of one tool run (killed past it).
    pub timeout_seconds: u64,
    /// CPU limit of one tool run.
    pub cpu_seconds: u64,
    /// Address-space limit of one tool run.
    pub memory_mib: u64,
    /// Larger documents are not extracted (`too_large`).
    pub max_document_mib: u64,
    /// Longer text is cut.
    pub max_text_kib: usize,
    /// A PDF with more pages is not read (`too_many_pages`).
    pub max_pages: u32,
    /// A scan with more pages is not OCR'd (`too_many_pages`).
    pub max_ocr_pages: u32,
    /// An image with more pixels (from its header) is not OCR'd (`too_many_pixels`).
    pub max_pixels: u64,
    /// Jobs claimed per round.
    pub batch: u32,
    /// Jobs run at once on this node (at least 1): up to its cores, less what serving needs.
    pub workers: u32,
    /// How long a claimed job is this node's before another may take it over: longer than the
    /// slowest extraction (`max_ocr_pages` × 2 tool runs × `timeout_seconds`).
    pub lease_minutes: i64,
    /// Claims after which a job ends unavailable (`gave_up`).
    pub max_attempts: u32,
    /// Pause after a round that found nothing to do.
    pub interval_seconds: u64,
    /// The tools: a bare name is looked up in `PATH`.
    pub pdftotext: PathBuf,
    pub pdfinfo: PathBuf,
    pub pdftoppm: PathBuf,
    pub tesseract: PathBuf,
    pub prlimit: PathBuf,
}

impl Default for ExtractionConfig {
    fn default() -> Self {
        ExtractionConfig {
            enabled: true,
            ocr: true,
            ocr_language: "fra".into(),
            timeout_seconds: 60,
            cpu_seconds: 60,
            memory_mib: 1024,
            max_document_mib: 64,
            max_text_kib: 4096,
            max_pages: 2000,
            max_ocr_pages: 20,
            max_pixels: 40_000_000,
            batch: 8,
            workers: 1,
            lease_minutes: 60,
            max_attempts: 5,
            interval_seconds: 5,
            pdftotext: "pdftotext".into(),
            pdfinfo: "pdfinfo".into(),
            pdftoppm: "pdftoppm".into(),
            tesseract: "tesseract".into(),
            prlimit: "prlimit".into(),
        }
    }
}

impl ExtractionConfig {
    /// The service's settings; `node` names this node in the leases it takes.
    pub fn settings(&self, node: String) -> carnet_service::ExtractionSettings {
        use carnet_service::extract::tools::{Extractor, ToolLimits, Tools};
        let mib = 1024 * 1024;
        carnet_service::ExtractionSettings {
            extractor: Extractor {
                tools: Tools {
                    pdftotext: self.pdftotext.clone(),
                    pdfinfo: self.pdfinfo.clone(),
                    pdftoppm: self.pdftoppm.clone(),
                    tesseract: self.tesseract.clone(),
                    prlimit: self.prlimit.clone(),
                    ocr_language: self.ocr_language.clone(),
                },
                limits: ToolLimits {
                    timeout: std::time::Duration::from_secs(self.timeout_seconds.max(1)),
                    cpu_seconds: self.cpu_seconds.max(1),
                    memory_bytes: self.memory_mib.saturating_mul(mib),
                    max_pages: self.max_pages,
                    max_ocr_pages: self.max_ocr_pages,
                    max_pixels: self.max_pixels,
                    ocr: self.ocr,
                    ..ToolLimits::default()
                },
                inline: carnet_service::extract::InlineLimits {
                    max_input: usize::try_from(self.max_document_mib.saturating_mul(mib)).unwrap_or(usize::MAX),
                    max_output: self.max_text_kib.saturating_mul(1024),
                    ..carnet_service::extract::InlineLimits::default()
                },
            },
            batch: self.batch.max(1),
            workers: self.workers.max(1),
            lease: time::Duration::minutes(self.lease_minutes.max(1)),
            max_attempts: self.max_attempts.max(1),
            max_document_bytes: self.max_document_mib.saturating_mul(mib),
            node,
        }
    }
}

/// The HTTP edge's browser-facing settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Origins (`https://app.example`, no path) whose pages may call `/fhir` and the SMART
    /// well-known (CORS). None by default: browsers refuse every cross-origin call.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

/// Where SMART apps get their tokens: one of the trusted `[[auth.issuers]]`. Endpoints not given
/// here are read from its OpenID Connect discovery document when Carnet starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmartSettings {
    /// The `issuer` of one of `[[auth.issuers]]`.
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// Client authentication at the token endpoint (`none` for public clients,
    /// `client_secret_basic`…); default: the discovery document's.
    #[serde(default)]
    pub token_endpoint_auth_methods: Option<Vec<String>>,
    /// Published scopes; default: the discovery document's `scopes_supported`.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// What the authorization server does that Carnet cannot see, e.g.
    /// `context-standalone-patient` when its token responses carry `patient`.
    #[serde(default)]
    pub extra_capabilities: Vec<String>,
}

/// One app of the catalogue: the OAuth client id its tokens name, and the name patients see.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    pub client_id: String,
    pub name: String,
}

/// How notifications leave: an SMTP relay for e-mail, HTTP for webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// `smtp://host:port`, `smtp://host:port?tls=required`, `smtps://user:pass@host`; none: no
    /// e-mail (notifications wait in the outbox).
    pub smtp_url: Option<SecretUrl>,
    pub from: String,
    /// How often `serve` delivers what is due.
    pub interval_seconds: u64,
}

/// The access policy's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// A profession × document-type matrix replacing the shipped one (same TSV format as
    /// `crates/domain/data/profession-matrix.tsv`).
    pub matrix_file: Option<PathBuf>,
    /// How long an emergency access lasts.
    pub emergency_minutes: i64,
    /// Distinct records a professional may open per hour before being throttled.
    pub enumeration_limit_per_hour: usize,
    /// Default authorization windows in hours, by TRE_G15 profession code (replaces the shipped
    /// defaults: pharmacists and préparateurs 72 h).
    pub authorization_window_hours: Option<BTreeMap<String, i64>>,
}

/// Where encrypted blobs and master keys live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Blob store: default local files in `<data_dir>/blobs`; or `s3://bucket/prefix` for
    /// S3-compatible storage (credentials from the standard `AWS_*` environment variables).
    pub blob_url: Option<SecretUrl>,
    /// Backend options, e.g. `aws_endpoint`, `aws_region`, `aws_allow_http` (for a local MinIO).
    pub blob_options: BlobOptions,
    /// Master keys' directory (local key provider); default `<data_dir>/keys`.
    pub keys_dir: Option<PathBuf>,
    /// Which provider holds the master keys: `local` (files in `keys_dir`) or `pkcs11` (an HSM's
    /// token, keys generated inside it and never leaving it; see docs/keys.md).
    pub keys: KeysProvider,
    /// `keys = "pkcs11"`: the PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub pkcs11_module: Option<PathBuf>,
    /// `keys = "pkcs11"`: the label of the token holding Carnet's master keys.
    pub pkcs11_token_label: Option<String>,
    /// `keys = "pkcs11"`: the environment variable holding the token's user PIN (never the PIN
    /// itself: configuration files get copied).
    pub pkcs11_pin_env: Option<String>,
    /// Chunk size of the encrypted blob format, in bytes (1 KiB to 16 MiB).
    pub chunk_bytes: u32,
    /// How often `serve` removes interrupted uploads and orphan blobs (`Carnet::sweep_uploads`).
    pub upload_sweep_interval_seconds: u64,
}

/// Where the master keys are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeysProvider {
    #[default]
    Local,
    Pkcs11,
}

/// A URL that may carry credentials (`postgres://user:password@host/db`, `smtps://user:pass@host`,
/// `?password=…`): used as written, shown without them. Its `Debug` keeps the scheme, host, port
/// and path, which tell where Carnet connects, and hides the user-info, the query and the fragment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> SecretUrl {
        SecretUrl(url.into())
    }

    /// The URL with its credentials, for the connection that needs them: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `scheme://***@host:port/path?***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once(':') else {
            // Not a URL: no way to tell its parts, so nothing of it is shown.
            return "***".to_owned();
        };
        let (slashes, rest) = match rest.strip_prefix("//") {
            Some(rest) => ("//", rest),
            None => ("", rest),
        };
        // Everything up to the last `@` is user-info: a password may hold `/`, `?` or `#` unescaped.
        let (user_info, rest) = match rest.rsplit_once('@') {
            Some((_, rest)) => ("***@", rest),
            None => ("", rest),
        };
        let (place, hidden) = match rest.find(['?', '#']) {
            Some(at) => (&rest[..at], "?***"),
            None => (rest, ""),
        };
        format!("{scheme}:{slashes}{user_info}{place}{hidden}")
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The blob store's options: some are keys (`aws_secret_access_key`, `aws_session_token`…).
/// `Debug` shows every option's name and only the values known to be no secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobOptions(pub BTreeMap<String, String>);

impl fmt::Debug for BlobOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: &[&str] =
            &["aws_region", "region", "aws_default_region", "aws_allow_http", "allow_http", "aws_virtual_hosted_style_request"];
        const URLS: &[&str] = &["aws_endpoint", "aws_endpoint_url", "endpoint", "endpoint_url"];
        let mut map = f.debug_map();
        for (key, value) in &self.0 {
            let name = key.to_ascii_lowercase();
            if SHOWN.contains(&name.as_str()) {
                map.entry(key, value);
            } else if URLS.contains(&name.as_str()) {
                map.entry(key, &SecretUrl::new(value.as_str()));
            } else {
                map.entry(key, &format_args!("***"));
            }
        }
        map.finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The `aud` Carnet expects in tokens of the dev issuer.
    pub audience: String,
    /// Clock skew tolerated on `exp`/`nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Trust the built-in development issuer (its key lives in the data directory). On in
    /// `carnet demo`; never turn it on in production.
    pub dev_issuer: bool,
    /// Trusted OpenID Connect issuers.
    pub issuers: Vec<TrustedIssuer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub json_body_bytes: usize,
    /// Largest document accepted (a deposit's body may exceed it by its multipart framing).
    pub document_bytes: u64,
    pub request_timeout_seconds: u64,
    /// Largest FHIR JSON body: an ITI-65 bundle carries its documents in base64 (4/3 of their size).
    pub fhir_body_bytes: usize,
    /// Largest document served as a JSON `Binary`; larger ones must be fetched as raw bytes.
    pub fhir_binary_json_bytes: u64,
    /// Largest request header (name and value), and all of a request's headers together:
    /// beyond, 431.
    pub header_bytes: usize,
    pub headers_total_bytes: usize,
    /// Longest request URI: beyond, 414 (at most 65534; hyper refuses longer ones itself).
    pub uri_bytes: usize,
    /// A request's head must arrive within this; a kept-alive connection idle this long closes.
    pub header_read_timeout_seconds: u64,
    /// Connections served at once; beyond, 503 and closed.
    pub max_connections: usize,
    /// A deposit slower than this mean rate, once the grace has passed, is ended (408).
    pub min_upload_bytes_per_second: u64,
    pub upload_grace_seconds: u64,
    /// A deposit still arriving after this long is ended (408). Every node sharing a database
    /// must use the same value: the upload sweep removes a pending upload older than it (plus a
    /// margin) whichever node started it.
    pub max_upload_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    pub archive_after_closure_days: i64,
    pub destroy_after_closure_days: i64,
    pub early_destruction_delay_days: i64,
    /// How often `serve` applies due archive/destruction transitions.
    pub sweep_interval_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let retention = RetentionPolicy::default();
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("carnet-data"),
            database_url: None,
            ledger_url: None,
            log_format: LogFormat::Human,
            auth: AuthSettings { audience: "carnet".into(), leeway_seconds: 60, dev_issuer: false, issuers: vec![] },
            limits: LimitSettings {
                json_body_bytes: 1024 * 1024,
                document_bytes: 8 << 30,
                request_timeout_seconds: 30,
                fhir_body_bytes: 64 << 20,
                fhir_binary_json_bytes: 16 << 20,
                header_bytes: 16 * 1024,
                headers_total_bytes: 64 * 1024,
                uri_bytes: 16 * 1024,
                header_read_timeout_seconds: 10,
                max_connections: 1024,
                min_upload_bytes_per_second: 1024,
                upload_grace_seconds: 30,
                max_upload_seconds: 3600,
            },
            retention: RetentionSettings {
                archive_after_closure_days: retention.archive_after_closure.whole_days(),
                destroy_after_closure_days: retention.destroy_after_closure.whole_days(),
                early_destruction_delay_days: retention.early_destruction_delay.whole_days(),
                sweep_interval_seconds: 3600,
            },
            notifications: NotificationSettings { smtp_url: None, from: "Carnet <noreply@carnet.invalid>".into(), interval_seconds: 10 },
            policy: PolicySettings {
                matrix_file: None,
                emergency_minutes: 240,
                enumeration_limit_per_hour: 100,
                authorization_window_hours: None,
            },
            storage: StorageSettings {
                blob_url: None,
                blob_options: Default::default(),
                keys_dir: None,
                keys: KeysProvider::Local,
                pkcs11_module: None,
                pkcs11_token_label: None,
                pkcs11_pin_env: None,
                chunk_bytes: carnet_crypto::blob::DEFAULT_CHUNK_SIZE,
                upload_sweep_interval_seconds: 600,
            },
            http: HttpSettings::default(),
            ledger: LedgerSettings::default(),
            extraction: ExtractionConfig::default(),
            search: SearchConfig::default(),
            smart: None,
            apps: vec![],
            portal: None,
        }
    }
}

/// Top-level keys of `Settings`, lower-case as figment folds environment keys.
const SETTINGS_KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "database_url",
    "ledger_url",
    "log_format",
    "auth",
    "limits",
    "retention",
    "storage",
    "notifications",
    "policy",
    "http",
    "ledger",
    "extraction",
    "smart",
    "apps",
    "portal",
];

impl Settings {
    /// Defaults ← `file` (if given; it must exist) ← `CARNET_*` environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "configuration file {} not found", file.display());
            figment = figment.merge(Toml::file(file));
        }
        // Only variables that name a setting: CARNET_CONFIG and tools' own CARNET_* variables
        // (test harness, scripts) are not configuration keys.
        let env = Env::prefixed("CARNET_")
            .filter(|key| SETTINGS_KEYS.contains(&key.as_str().to_ascii_lowercase().split("__").next().unwrap_or_default()))
            .split("__");
        let settings: Settings = figment.merge(env).extract()?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        let r = &self.retention;
        anyhow::ensure!(
            r.archive_after_closure_days >= 0 && r.early_destruction_delay_days >= 0 && r.destroy_after_closure_days > 0,
            "retention: durations must be positive"
        );
        anyhow::ensure!(self.limits.json_body_bytes >= 1024, "limits.json_body_bytes must be at least 1024");
        anyhow::ensure!(self.limits.request_timeout_seconds >= 1, "limits.request_timeout_seconds must be at least 1");
        anyhow::ensure!(self.limits.document_bytes >= 1024, "limits.document_bytes must be at least 1024");
        anyhow::ensure!((256..=65_534).contains(&self.limits.uri_bytes), "limits.uri_bytes must be between 256 and 65534");
        anyhow::ensure!(
            (1..=30 * 86_400).contains(&self.limits.max_upload_seconds),
            "limits.max_upload_seconds must be between 1 and 2592000 (30 days)"
        );
        anyhow::ensure!(self.storage.upload_sweep_interval_seconds >= 1, "storage.upload_sweep_interval_seconds must be at least 1");
        anyhow::ensure!(self.policy.emergency_minutes >= 1, "policy.emergency_minutes must be at least 1");
        anyhow::ensure!(self.policy.enumeration_limit_per_hour >= 1, "policy.enumeration_limit_per_hour must be at least 1");
        anyhow::ensure!(self.notifications.interval_seconds >= 1, "notifications.interval_seconds must be at least 1");
        anyhow::ensure!((1024..=16 << 20).contains(&self.storage.chunk_bytes), "storage.chunk_bytes must be between 1024 and 16777216");
        for origin in &self.http.cors_origins {
            crate::smart::check_origin(origin).map_err(|e| anyhow::anyhow!("http.cors_origins: {e}"))?;
        }
        if let Some(smart) = &self.smart {
            anyhow::ensure!(
                self.auth.issuers.iter().any(|i| i.issuer == smart.issuer),
                "smart.issuer {:?} is not one of [[auth.issuers]]: Carnet would refuse the tokens it hands out",
                smart.issuer
            );
            crate::smart::check_capabilities(&smart.extra_capabilities).map_err(|e| anyhow::anyhow!("smart.extra_capabilities: {e}"))?;
        }
        self.app_catalogue()?;
        if let Some(portal) = &self.portal {
            anyhow::ensure!(
                portal.idle_minutes >= 1 && portal.absolute_hours >= 1,
                "portal: idle_minutes and absolute_hours must be at least 1"
            );
            anyhow::ensure!(
                portal.issuer == PortalSettings::DEV || self.auth.issuers.iter().any(|i| i.issuer == portal.issuer),
                "portal.issuer {:?} is neither \"dev\" nor one of [[auth.issuers]]",
                portal.issuer
            );
            self.portal_origin()?;
        }
        Ok(())
    }

    /// The portal's origin (`scheme://host[:port]`) and whether its cookie is `Secure`
    /// (`https`), from `portal.public_url` or, on loopback only, `http://<bind>`.
    pub fn portal_origin(&self) -> anyhow::Result<(String, bool)> {
        let public = self.portal.as_ref().and_then(|p| p.public_url.as_deref());
        let Some(url) = public else {
            anyhow::ensure!(
                self.bind.ip().is_loopback(),
                "portal.public_url is required when bind is not a loopback address (the portal's https address behind its TLS proxy)"
            );
            return Ok((format!("http://{}", self.bind), false));
        };
        let url = url.trim_end_matches('/');
        let (secure, host) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(host), _) => (true, host),
            (None, Some(host)) => (false, host),
            _ => anyhow::bail!("portal.public_url must be an http(s) address"),
        };
        anyhow::ensure!(!host.is_empty() && !host.contains('/'), "portal.public_url is an origin: scheme, host and port, no path");
        if !secure {
            let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
            anyhow::ensure!(
                matches!(name, "localhost" | "127.0.0.1" | "[::1]"),
                "portal.public_url must be https unless on loopback: the session cookie needs TLS"
            );
        }
        Ok((url.to_owned(), secure))
    }

    /// The `[[apps]]` catalogue by client id: each id once, each with a name.
    pub fn app_catalogue(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut catalogue = BTreeMap::new();
        for app in &self.apps {
            let id = app.client_id.as_str();
            anyhow::ensure!(
                !id.is_empty() && id.chars().count() <= 256 && !id.chars().any(char::is_control),
                "apps: client_id {id:?} must be 1 to 256 characters without control characters"
            );
            anyhow::ensure!(!app.name.trim().is_empty(), "apps: the app {id:?} needs a name");
            anyhow::ensure!(catalogue.insert(app.client_id.clone(), app.name.clone()).is_none(), "apps: client_id {id:?} is listed twice");
        }
        Ok(catalogue)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("carnet.db").display()),
        }
    }

    pub fn ledger_url(&self) -> String {
        if let Some(url) = &self.ledger_url {
            return url.expose().to_owned();
        }
        match self.database_url.as_ref().map(SecretUrl::expose) {
            Some(db) if db.starts_with("postgres:") || db.starts_with("postgresql:") => db.to_owned(),
            _ => format!("sqlite://{}", self.data_dir.join("ledger.db").display()),
        }
    }

    pub fn retention_policy(&self) -> RetentionPolicy {
        let r = &self.retention;
        RetentionPolicy {
            archive_after_closure: time::Duration::days(r.archive_after_closure_days),
            destroy_after_closure: time::Duration::days(r.destroy_after_closure_days),
            early_destruction_delay: time::Duration::days(r.early_destruction_delay_days),
        }
    }

    pub fn connection_limits(&self) -> carnet_server::serve::ConnectionLimits {
        carnet_server::serve::ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.limits.header_read_timeout_seconds.max(1)),
            max_connections: self.limits.max_connections.max(1),
            head_buffer_bytes: carnet_server::serve::ConnectionLimits::head_buffer_for(&self.http_limits()),
        }
    }

    /// When a pending upload or an unclaimed blob is certainly abandoned: the longest an upload
    /// may take, plus a margin.
    pub fn upload_deadline(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.limits.max_upload_seconds).unwrap_or(30 * 86_400))
            + carnet_service::UPLOAD_DEADLINE_MARGIN
    }

    pub fn http_limits(&self) -> carnet_server::HttpLimits {
        // The multipart framing and the metadata part ride on top of the document itself.
        let framing = 128 * 1024;
        carnet_server::HttpLimits {
            json_body_bytes: self.limits.json_body_bytes,
            document_body_bytes: usize::try_from(self.limits.document_bytes.saturating_add(framing)).unwrap_or(usize::MAX),
            request_timeout: Duration::from_secs(self.limits.request_timeout_seconds),
            fhir_body_bytes: self.limits.fhir_body_bytes,
            fhir_binary_json_bytes: self.limits.fhir_binary_json_bytes,
            header_bytes: self.limits.header_bytes,
            headers_total_bytes: self.limits.headers_total_bytes,
            uri_bytes: self.limits.uri_bytes,
            min_upload_bytes_per_second: self.limits.min_upload_bytes_per_second,
            upload_grace: Duration::from_secs(self.limits.upload_grace_seconds),
            max_upload: Duration::from_secs(self.limits.max_upload_seconds),
        }
    }

    /// The policy's data: the matrix (shipped or from `policy.matrix_file`, checked against the
    /// code lists) and the authorization windows.
    pub fn policy_data(
        &self,
        codes: &carnet_domain::codes::CodeLists,
    ) -> anyhow::Result<(carnet_domain::ProfessionMatrix, carnet_domain::AuthorizationWindows)> {
        let matrix = match &self.policy.matrix_file {
            None => carnet_domain::ProfessionMatrix::dmp_default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("policy.matrix_file {}: {e}", path.display()))?;
                carnet_domain::ProfessionMatrix::parse(&text, codes)
                    .map_err(|e| anyhow::anyhow!("policy.matrix_file {}: {e}", path.display()))?
            }
        };
        let windows = match &self.policy.authorization_window_hours {
            None => carnet_domain::AuthorizationWindows::default(),
            Some(map) => {
                let mut entries = Vec::new();
                for (code, hours) in map {
                    let profession = carnet_domain::Profession::from_code(code)
                        .map_err(|e| anyhow::anyhow!("policy.authorization_window_hours: {code}: {e}"))?;
                    entries.push((profession, time::Duration::hours(*hours)));
                }
                carnet_domain::AuthorizationWindows::new(entries).map_err(|e| anyhow::anyhow!("policy.authorization_window_hours: {e}"))?
            }
        };
        Ok((matrix, windows))
    }

    pub fn courier(&self) -> anyhow::Result<carnet_notify::SmtpCourier> {
        Ok(carnet_notify::SmtpCourier::new(&carnet_notify::CourierSettings {
            smtp_url: self.notifications.smtp_url.as_ref().map(|url| url.expose().to_owned()),
            from: self.notifications.from.clone(),
            timeout: Duration::from_secs(20),
        })?)
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.storage.keys_dir.clone().unwrap_or_else(|| self.data_dir.join("keys"))
    }

    /// The PKCS#11 token of `keys = "pkcs11"` (`None` for the local key files), its PIN read from
    /// the environment variable `pkcs11_pin_env` names.
    pub fn pkcs11(&self) -> anyhow::Result<Option<carnet_crypto::Pkcs11Config>> {
        use anyhow::Context as _;
        let storage = &self.storage;
        if storage.keys == KeysProvider::Local {
            return Ok(None);
        }
        let module = storage.pkcs11_module.clone().context("storage.keys = \"pkcs11\" needs storage.pkcs11_module")?;
        let token_label = storage.pkcs11_token_label.clone().context("storage.keys = \"pkcs11\" needs storage.pkcs11_token_label")?;
        let pin_env = storage.pkcs11_pin_env.as_deref().context("storage.keys = \"pkcs11\" needs storage.pkcs11_pin_env")?;
        let pin =
            std::env::var(pin_env).with_context(|| format!("the token's PIN: environment variable {pin_env} (storage.pkcs11_pin_env)"))?;
        Ok(Some(carnet_crypto::Pkcs11Config { module, token_label, pin: pin.into() }))
    }

    pub fn blob_store(&self) -> anyhow::Result<carnet_store::BlobStore> {
        Ok(match &self.storage.blob_url {
            None => carnet_store::BlobStore::local(&self.data_dir.join("blobs"))?,
            Some(url) => {
                let options: Vec<(String, String)> = self.storage.blob_options.0.clone().into_iter().collect();
                carnet_store::BlobStore::from_url(url.expose(), &options)?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration README.md shows is one Carnet accepts.
    #[test]
    fn the_readme_example_configuration_loads() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("closed block");
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("carnet.toml");
        std::fs::write(&file, &readme[start..end]).expect("write");
        let settings = Settings::load(Some(&file)).expect("the README's configuration loads");
        assert_eq!(settings.limits.document_bytes, 8 << 30);
        assert_eq!(settings.storage.chunk_bytes, 65536);
        assert_eq!(settings.auth.issuers.len(), 1);
        assert_eq!(settings.smart.map(|s| s.issuer), Some(settings.auth.issuers[0].issuer.clone()));
        assert_eq!(settings.http.cors_origins, ["https://app.example.org"]);
    }

    fn load(toml: &str) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("carnet.toml");
        std::fs::write(&file, toml).expect("write");
        Settings::load(Some(&file))
    }

    #[test]
    fn the_upload_sweep_follows_the_longest_upload_and_heads_stay_within_hyper() {
        let settings = load("").expect("defaults");
        assert_eq!(settings.upload_deadline(), time::Duration::minutes(65), "an hour, and the margin");
        assert_eq!(settings.storage.upload_sweep_interval_seconds, 600);
        assert_eq!(settings.http_limits().max_upload, Duration::from_secs(3600));
        let longer = load("[limits]\nmax_upload_seconds = 7200\n").expect("two hours");
        assert_eq!(longer.upload_deadline(), time::Duration::minutes(125));
        for bad in [
            "[limits]\nmax_upload_seconds = 0\n",
            "[limits]\nmax_upload_seconds = 99999999999\n",
            "[storage]\nupload_sweep_interval_seconds = 0\n",
        ] {
            assert!(load(bad).is_err(), "{bad} is refused");
        }
        let e = load("[limits]\nuri_bytes = 70000\n").expect_err("beyond what hyper reads");
        assert!(e.to_string().contains("uri_bytes"), "{e}");
        let large = load("[limits]\nheaders_total_bytes = 1048576\n").expect("large headers");
        assert!(large.connection_limits().head_buffer_bytes > 2 << 20, "the read buffer follows the header limits");
    }

    /// Master keys stay local unless a token is configured; the token's PIN is never in the file.
    #[test]
    fn a_pkcs11_token_needs_its_module_label_and_a_pin_from_the_environment() {
        assert!(load("").expect("defaults").pkcs11().expect("local").is_none(), "local key files by default");
        let token = "[storage]\nkeys = \"pkcs11\"\npkcs11_module = \"/usr/lib/softhsm/libsofthsm2.so\"\npkcs11_token_label = \"carnet\"\n";
        // PATH: a variable every test process has, standing for the PIN's.
        let settings = load(&format!("{token}pkcs11_pin_env = \"PATH\"\n")).expect("loads");
        let config = settings.pkcs11().expect("a token").expect("configured");
        assert_eq!((config.module.to_str(), config.token_label.as_str()), (Some("/usr/lib/softhsm/libsofthsm2.so"), "carnet"));
        assert_eq!(Some(config.pin.as_str().to_owned()), std::env::var("PATH").ok());
        assert!(!format!("{config:?}").contains(config.pin.as_str()), "the PIN is not printed");

        let e = load(&format!("{token}pkcs11_pin = \"1234\"\n")).expect_err("a PIN in the file");
        assert!(e.to_string().contains("pkcs11_pin"), "{e}");
        let unset = load(&format!("{token}pkcs11_pin_env = \"CARNET_TEST_NO_SUCH_PIN_VARIABLE\"\n")).expect("loads");
        let e = unset.pkcs11().expect_err("no PIN");
        assert!(e.to_string().contains("CARNET_TEST_NO_SUCH_PIN_VARIABLE"), "{e}");
        let e = load("[storage]\nkeys = \"pkcs11\"\n").expect("loads").pkcs11().expect_err("no module");
        assert!(e.to_string().contains("pkcs11_module"), "{e}");
        assert!(load("[storage]\nkeys = \"vault\"\n").is_err(), "an unknown provider");
    }

    #[test]
    fn no_smart_section_no_origin_by_default() {
        let settings = load("").expect("defaults");
        assert!(settings.smart.is_none() && settings.http.cors_origins.is_empty());
    }

    #[test]
    fn a_smart_issuer_must_be_trusted_and_origins_well_formed() {
        let trusted = "[[auth.issuers]]\nissuer = \"https://idp.example\"\naudience = \"carnet\"\n";
        let e = load(&format!("{trusted}[smart]\nissuer = \"https://other.example\"\n")).expect_err("untrusted issuer");
        assert!(e.to_string().contains("https://other.example"), "{e}");
        let e = load(&format!("{trusted}[smart]\nissuer = \"https://idp.example\"\nextra_capabilities = [\"launch-ehr\"]\n"))
            .expect_err("a capability Carnet cannot back");
        assert!(e.to_string().contains("launch-ehr"), "{e}");
        let e = load("[http]\ncors_origins = [\"https://app.example/\"]\n").expect_err("not an origin");
        assert!(e.to_string().contains("https://app.example/"), "{e}");
        assert!(load(&format!("{trusted}[smart]\nissuer = \"https://idp.example\"\n")).is_ok());
    }

    /// The portal's cookie follows its address: `__Host-` and `Secure` behind https, the plain
    /// name on loopback http only; its issuer must be trusted or the dev provider.
    #[test]
    fn the_portal_needs_https_off_loopback_and_a_trusted_issuer() {
        let trusted = "[[auth.issuers]]\nissuer = \"https://idp.example\"\naudience = \"carnet\"\n";
        let local = load("[portal]\nissuer = \"dev\"\n").expect("dev on loopback");
        assert_eq!(local.portal_origin().expect("origin"), ("http://127.0.0.1:8080".to_owned(), false));
        let limits = local.portal.as_ref().map(PortalSettings::session_limits).expect("portal");
        assert_eq!((limits.idle, limits.absolute), (time::Duration::minutes(15), time::Duration::hours(8)));
        let behind_tls = load(&format!(
            "bind = \"0.0.0.0:8080\"\n{trusted}[portal]\nissuer = \"https://idp.example\"\npublic_url = \"https://dossier.example/\"\nidle_minutes = 5\n"
        ))
        .expect("https");
        assert_eq!(behind_tls.portal_origin().expect("origin"), ("https://dossier.example".to_owned(), true));
        assert_eq!(behind_tls.portal.as_ref().map(|p| p.session_limits().idle), Some(time::Duration::minutes(5)));
        for (toml, says) in [
            (format!("bind = \"0.0.0.0:8080\"\n{trusted}[portal]\nissuer = \"https://idp.example\"\n"), "public_url is required"),
            (format!("{trusted}[portal]\nissuer = \"https://idp.example\"\npublic_url = \"http://dossier.example\"\n"), "must be https"),
            (format!("{trusted}[portal]\nissuer = \"https://idp.example\"\npublic_url = \"https://dossier.example/portail\"\n"), "no path"),
            (format!("{trusted}[portal]\nissuer = \"https://other.example\"\n"), "neither"),
            ("[portal]\nissuer = \"dev\"\nidle_minutes = 0\n".to_owned(), "at least 1"),
        ] {
            let e = load(&toml).expect_err(says);
            assert!(e.to_string().contains(says), "{e}");
        }
        let secret = load("[portal]\nissuer = \"dev\"\nclient_secret = \"s3cr3t\"\n").expect("secret");
        assert!(!format!("{:?}", secret.portal).contains("s3cr3t"));
    }

    /// `[[apps]]` names the apps patients connect; a catalogue naming one twice is refused.
    #[test]
    fn the_app_catalogue_loads_and_names_each_app_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("carnet.toml");
        let app = |id: &str, name: &str| format!("[[apps]]\nclient_id = \"{id}\"\nname = \"{name}\"\n");
        std::fs::write(&file, app("agenda", "Agenda santé") + &app("vaccins", "Mes vaccins")).expect("write");
        let settings = Settings::load(Some(&file)).expect("loads");
        let catalogue = settings.app_catalogue().expect("catalogue");
        assert_eq!(catalogue.get("agenda").map(String::as_str), Some("Agenda santé"));
        assert_eq!(catalogue.len(), 2);
        std::fs::write(&file, app("agenda", "Agenda santé") + &app("agenda", "Autre")).expect("write");
        let err = Settings::load(Some(&file)).expect_err("twice").to_string();
        assert!(err.contains("\"agenda\" is listed twice"), "{err}");
        std::fs::write(&file, app("agenda", " ")).expect("write");
        assert!(Settings::load(Some(&file)).expect_err("no name").to_string().contains("needs a name"));
    }

    /// Settings carrying credentials everywhere they can: none is shown by `Debug` (what a log
    /// line or a panic would print), and each is still handed, whole, to what connects with it.
    #[test]
    fn settings_debug_shows_where_carnet_connects_but_no_credential() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("carnet.toml");
        let toml = r#"
            database_url = "postgres://carnet:db-Pa55word@db.example:5432/carnet?sslmode=require&password=db-QueryPass"
            ledger_url = "postgres://ledger:ledger-Pa55word@ledger.example/carnet"
            [notifications]
            smtp_url = "smtps://mailer:smtp-Pa55word@smtp.example:465"
            [storage]
            blob_url = "s3://blob-user:blob-Pa55word@bucket/prefix"
            [storage.blob_options]
            aws_access_key_id = "AKIA-key-id-secret"
            aws_secret_access_key = "aws-Secret-Key"
            aws_session_token = "aws-Session-Token"
            aws_endpoint = "http://minio:minio-Pa55word@minio.example:9000"
            aws_region = "eu-west-3"
        "#;
        std::fs::write(&file, toml).expect("write");
        let settings = Settings::load(Some(&file)).expect("loads");
        let shown = format!("{settings:?} {settings:#?}");
        for secret in [
            "db-Pa55word",
            "db-QueryPass",
            "ledger-Pa55word",
            "smtp-Pa55word",
            "blob-Pa55word",
            "AKIA-key-id-secret",
            "aws-Secret-Key",
            "aws-Session-Token",
            "minio-Pa55word",
            "carnet:",
            "mailer",
        ] {
            assert!(!shown.contains(secret), "{secret} is shown: {shown}");
        }
        for place in [
            "postgres://***@db.example:5432/carnet?***",
            "ledger.example",
            "smtps://***@smtp.example:465",
            "minio.example:9000",
            "eu-west-3",
        ] {
            assert!(shown.contains(place), "{place} is not shown: {shown}");
        }
        assert_eq!(settings.database_url(), "postgres://carnet:db-Pa55word@db.example:5432/carnet?sslmode=require&password=db-QueryPass");
        assert_eq!(settings.ledger_url(), "postgres://ledger:ledger-Pa55word@ledger.example/carnet");
        assert_eq!(settings.storage.blob_options.0["aws_secret_access_key"], "aws-Secret-Key");
    }

    #[test]
    fn the_ledger_follows_a_postgres_database_with_its_credentials() {
        let settings =
            Settings { database_url: Some(SecretUrl::new("postgres://u:p@db.example/carnet")), ledger_url: None, ..Settings::default() };
        assert_eq!(settings.ledger_url(), "postgres://u:p@db.example/carnet");
    }

    proptest::proptest! {
        /// Whatever the password holds (`@`, `/`, `?`, `#`, `:` unescaped included), the redacted
        /// URL shows the scheme, host and path, and no part of the credentials or the query.
        #[test]
        fn a_redacted_url_never_shows_its_credentials(
            scheme in "(postgres|postgresql|smtp|smtps|sqlite|s3)",
            user in "[a-z]{0,6}",
            password in "[A-Za-z0-9@/?#:!%]{0,12}",
            host in "host[a-z]{0,6}(\\.example)?(:[0-9]{1,5})?",
            path in "(/[a-z]{0,8})?",
            query in "(\\?[a-z]{1,6}=QUERY[a-z0-9]{0,6})?",
        ) {
            let url = format!("{scheme}://{user}:SECRET{password}@{host}{path}{query}");
            let shown = SecretUrl::new(url.as_str()).redacted();
            proptest::prop_assert!(!shown.contains("SECRET") && !shown.contains("QUERY"), "{url} shown as {shown}");
            proptest::prop_assert!(shown.starts_with(&format!("{scheme}://***@{host}{path}")), "{url} shown as {shown}");
        }
    }
}
