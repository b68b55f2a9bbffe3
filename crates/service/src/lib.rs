//! Carnet's use cases. Each public method is one thing a user does: it checks the actor's right
//! with a pure domain rule *before* touching data (so a denial reveals nothing about existence),
//! loads, applies the domain transition, and saves.
//!
//! Architecture invariant: no HTTP here and no SQL; this crate is where the HTTP edge and the CLI
//! meet the domain and the store.

mod activity;
mod apps;
mod audit;
mod clock;
mod consultation;
mod deposit;
mod directory;
mod documents;
mod export;
mod extraction;
mod gate;
mod keys;
mod leases;
mod ledger_trust;
mod notifications;
mod oversight;
mod policy;
mod profile;
mod records;
mod restore;
mod sealing;
mod sessions;
mod submissions;
mod text_search;
mod timeline;

use std::sync::Arc;

use carnet_crypto::{CryptoError, KeyProvider};
use carnet_domain::codes::CodeLists;
use carnet_domain::record::LifecycleError;
use carnet_domain::{ActionDenied, AuthorizationWindows, Clock, ProfessionMatrix, RetentionPolicy, ScopeDenied};
use carnet_ledger::{Ledger, LedgerError};
use carnet_store::{BlobStore, Database, StoreError};

pub use activity::{ACTIVITY_EMERGENCIES, ACTIVITY_PAGE, Activity, ActivityQuery};
pub use apps::Admission;
pub use carnet_extract as extract;
pub use carnet_search::Snippet;
pub use clock::{ManualClock, SystemClock};
pub use directory::{NAME_SEARCH_LIMIT, NAME_SEARCH_MIN, NameSearch};
pub use documents::{Content, ContentError, DocumentAction, DocumentView, Submitted, UploadSweep};
pub use export::{EXPORT_HISTORY_LIMIT, RecordExport};
pub use extraction::{DocumentText, EXTRACTION_IDLE, ExtractionReport, ExtractionSettings, TEXT_KIND};
pub use gate::Visible;
pub use keys::{RotationReport, ledger_public_key, ledger_signer};
pub use ledger_trust::ledger_against_checkpoint;
pub use notifications::{Courier, DeliveryReport, MUTABLE_KINDS, NOTIFICATION_KINDS, Preferences, backoff, render};
pub use oversight::{HistoryPage, HistoryQuery, MAX_NOTE, ProvenEntries, ReviewQueueItem};
pub use profile::{NewItem, ProfileQuery};
pub use records::{NewRecord, PatientQuery, RecordView, SweepReport};
pub use restore::RESTORE_ACTION;
pub use sealing::{UNREADABLE_CLOSE_REASON, UNREADABLE_JUSTIFICATION};
pub use sessions::{OpenedSession, SIGN_IN_LIFETIME, SignInSecrets, SignedIn, TakenSignIn};
pub use submissions::{BundleDocument, BundleSubmitted, NewSubmissionSet, SubmissionSetView};
pub use text_search::{FULLTEXT_ACTION, MAX_PAGE, MAX_QUERY_CHARS, Paging, QueryProblem, TextHit, TextSearch, check_text_query};
pub use timeline::{
    ClassGroup, MAX_TIMELINE_MONTHS, Month, TIMELINE_MONTHS, Timeline, TimelineEntry, TimelineMonth, TimelineQuery, act_date, act_day,
    day_in_paris, fold_versions, timeline_of,
};

/// The ledger's and the review queue's records as the use cases return them: data only — the
/// edge never holds a handle on the ledger or the metadata store.
pub use carnet_ledger::{AccessReceipts, ConsistencyProof, InclusionProof, Outcome, ReceiptEntry, RecordedEntry, SignedTreeHead};
pub use carnet_store::{Backend, ConnectedApp, ReviewItem, Revocation};

/// The one error type of this crate. Messages are safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is well formed but breaks a rule (422).
    #[error("{0}")]
    Invalid(String),
    /// Nothing there — or nothing the caller may know of (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The state forbids it (409): duplicate record, wrong lifecycle status, concurrent change.
    #[error("{0}")]
    Conflict(String),
    /// Authenticated, but this actor may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The token's scopes do not allow the operation (403 `insufficient_scope`).
    #[error(transparent)]
    Scope(#[from] ScopeDenied),
    /// The enumeration guard refused the opening of one more record (429).
    #[error("too many distinct records opened in the last hour; try again later")]
    Throttled,
    /// The request body is larger than the configured limit (413).
    #[error("the document is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The client stopped sending before the end (nothing was stored).
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    /// The client sent too slowly to be waited for (nothing was stored).
    #[error("the upload was too slow: {0}")]
    TooSlow(String),
    /// A storage failure: logged with its cause, shown as a generic 500/503.
    #[error("storage failure")]
    Store(#[source] StoreError),
    /// Stored data failed authentication, or a key could not be used: never served; logged
    /// loudly, shown as a generic 500.
    #[error("stored data failed an integrity or key check")]
    Crypto(#[source] CryptoError),
    /// The ledger could not record the access, so it was not performed (503).
    #[error("the access could not be recorded in the ledger; nothing was done")]
    Ledger(#[source] LedgerError),
    /// A ledger query about something that is not there (a size or index beyond the tree, a tree
    /// head never signed): 404.
    #[error("{0}")]
    LedgerNotFound(String),
    /// A ledger query that makes no sense (e.g. a consistency proof from a larger to a smaller
    /// tree): 422.
    #[error("{0}")]
    LedgerInvalid(String),
    /// The in-memory search index failed (not the caller's input).
    #[error("the search index failed: {0}")]
    Search(String),
}

impl From<LedgerError> for ServiceError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::BeyondTree { .. } | LedgerError::UnknownTreeHead { .. } => ServiceError::LedgerNotFound(e.to_string()),
            LedgerError::InvalidRange { .. } => ServiceError::LedgerInvalid(e.to_string()),
            other => ServiceError::Ledger(other),
        }
    }
}

impl From<CryptoError> for ServiceError {
    fn from(e: CryptoError) -> Self {
        ServiceError::Crypto(e)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ServiceError::Conflict(what.to_owned()),
            StoreError::Stale(what) => ServiceError::Conflict(format!("the {what} was changed by another request; retry")),
            other => ServiceError::Store(other),
        }
    }
}

impl From<LifecycleError> for ServiceError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::WrongStatus(..) => ServiceError::Conflict(e.to_string()),
            LifecycleError::Reason { .. } | LifecycleError::NoIns(_) => ServiceError::Invalid(e.to_string()),
        }
    }
}

impl From<ActionDenied> for ServiceError {
    fn from(e: ActionDenied) -> Self {
        if e.is_input() { ServiceError::Invalid(e.to_string()) } else { ServiceError::Forbidden(e.to_string()) }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Settings the use cases depend on.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub retention: RetentionPolicy,
    /// The code lists documents are checked against.
    pub codes: CodeLists,
    /// Largest document accepted, in bytes.
    pub max_document_bytes: u64,
    /// Chunk size of the blob format for new documents.
    pub chunk_size: u32,
    /// Which professions see which document types (rule 4).
    pub matrix: ProfessionMatrix,
    /// Default authorization windows per profession (rule 2).
    pub windows: AuthorizationWindows,
    /// How long an emergency access lasts (rules 10, 11).
    pub emergency_duration: time::Duration,
    /// Distinct records a professional may open per hour before being throttled (rule 15).
    pub enumeration_limit: usize,
    /// The catalogue of apps patients may connect: client id → the name shown to the patient.
    /// An app outside it is named by its client id.
    pub apps: std::collections::BTreeMap<String, String>,
    /// How long a person's portal session lives (idle, absolute).
    pub sessions: carnet_domain::SessionLimits,
    /// A pending upload note, or an unclaimed blob, older than this is certainly abandoned,
    /// whichever node started it: the edge ends an upload running longer than
    /// `[limits] max_upload_seconds`, and this adds a margin for the upload's last idle wait,
    /// its final write and clocks that differ between nodes.
    pub upload_deadline: time::Duration,
    /// The bytes this node's full-text indexes may hold (`[search] cache_mib`).
    pub search_cache_bytes: usize,
}

/// Added to `[limits] max_upload_seconds` to make `ServiceConfig::upload_deadline`.
pub const UPLOAD_DEADLINE_MARGIN: time::Duration = time::Duration::minutes(5);

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            retention: RetentionPolicy::default(),
            codes: CodeLists::dmp_default(),
            max_document_bytes: 8 * 1024 * 1024 * 1024,
            chunk_size: carnet_crypto::blob::DEFAULT_CHUNK_SIZE,
            matrix: ProfessionMatrix::dmp_default(),
            windows: AuthorizationWindows::default(),
            emergency_duration: time::Duration::hours(4),
            enumeration_limit: 100,
            apps: std::collections::BTreeMap::new(),
            sessions: carnet_domain::SessionLimits::default(),
            upload_deadline: time::Duration::hours(1) + UPLOAD_DEADLINE_MARGIN,
            search_cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Where Carnet keeps things: metadata, encrypted blobs, the master keys' provider, and the
/// ledger.
#[derive(Clone)]
pub struct Storage {
    pub db: Database,
    pub blobs: BlobStore,
    pub keys: Arc<dyn KeyProvider>,
    pub ledger: Ledger,
}

/// Where Carnet's stores are: everything `Storage::open` needs.
pub struct StorageLocation {
    /// `sqlite://…` or `postgres://…`: the metadata store.
    pub database_url: String,
    /// The ledger's own store (a separate SQLite file, or the same PostgreSQL database).
    pub ledger_url: String,
    /// The master keys (created at first start).
    pub keys_dir: std::path::PathBuf,
    /// When set, the master keys live in this PKCS#11 token instead of `keys_dir`.
    pub pkcs11: Option<carnet_crypto::Pkcs11Config>,
    pub blobs: BlobStore,
    /// Times the ledger's signed tree heads.
    pub ledger_clock: Arc<dyn Clock>,
}

impl Storage {
    /// Connects the metadata store, the master keys and the ledger with its signing key — the one
    /// way the binary and the tests assemble Carnet's storage, so they cannot drift apart.
    pub async fn open(at: StorageLocation) -> Result<Storage> {
        let db = Database::connect(&at.database_url).await?;
        let keys = open_keys(&at.keys_dir, at.pkcs11.as_ref())?;
        let signer = ledger_signer(&db, keys.as_ref()).await?;
        let config = carnet_ledger::LedgerConfig { clock: at.ledger_clock, ..carnet_ledger::LedgerConfig::default() };
        let ledger = Ledger::open(&at.ledger_url, Arc::new(signer), config).await?;
        Ok(Storage { db, blobs: at.blobs, keys, ledger })
    }
}

/// The master keys' provider: the PKCS#11 token when one is configured, else the key files in
/// `keys_dir` (both created at first start).
pub fn open_keys(keys_dir: &std::path::Path, pkcs11: Option<&carnet_crypto::Pkcs11Config>) -> Result<Arc<dyn KeyProvider>> {
    Ok(match pkcs11 {
        Some(token) => Arc::new(carnet_crypto::Pkcs11Keyring::open_or_create(token)?),
        None => Arc::new(carnet_crypto::LocalKeyring::load_or_create(keys_dir)?),
    })
}

/// The use cases, over one storage and one clock. Cheap to clone.
#[derive(Clone)]
pub struct Carnet {
    db: Database,
    blobs: BlobStore,
    keys: Arc<dyn KeyProvider>,
    ledger: Ledger,
    clock: Arc<dyn Clock>,
    config: Arc<ServiceConfig>,
    seen: Arc<std::sync::Mutex<consultation::SeenConsultations>>,
    recent_openings: Arc<std::sync::Mutex<consultation::RecentOpenings>>,
    key_cache: Arc<std::sync::Mutex<keys::KeyCache>>,
    /// When this node last purged expired sessions and sign-ins on the way (Unix seconds).
    sessions_purged_at: Arc<std::sync::atomic::AtomicI64>,
    /// Where this node's upload sweep resumes the blob listing (a restart begins again).
    blob_cursor: Arc<tokio::sync::Mutex<Option<carnet_store::BlobCursor>>>,
    /// Why the ledger failed its checks, if it did (`ledger_trust`): every recorded access is
    /// refused meanwhile.
    ledger_problem: Arc<std::sync::RwLock<Option<ledger_trust::Distrust>>>,
    /// Names this node in the leases it takes (`leases`): the machine, the process, and a start of its own.
    node: Arc<str>,
    search_cache: Arc<text_search::SearchCache>,
}

impl Carnet {
    pub fn new(storage: Storage, clock: Arc<dyn Clock>, config: ServiceConfig) -> Carnet {
        Carnet {
            db: storage.db,
            blobs: storage.blobs,
            keys: storage.keys,
            ledger: storage.ledger,
            clock,
            search_cache: Arc::new(text_search::SearchCache::new(config.search_cache_bytes)),
            config: Arc::new(config),
            seen: Arc::default(),
            recent_openings: Arc::default(),
            key_cache: Arc::default(),
            sessions_purged_at: Arc::default(),
            blob_cursor: Arc::default(),
            ledger_problem: Arc::default(),
            node: leases::this_node().into(),
        }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The metadata store answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        Ok(self.db.ping().await?)
    }

    /// Which backend holds the metadata.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Closes the metadata store's connections (at shutdown).
    /// Keeps the ledger's checkpoint at its latest head (`ledger_trust`), then closes the
    /// metadata store.
    pub async fn close(&self) {
        if let Err(e) = self.checkpoint_ledger().await {
            tracing::warn!(error = %e, "keeping the ledger's checkpoint before closing");
        }
        self.db.close().await;
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Now, at the millisecond precision the store keeps, so that what a write returns equals
    /// what a later read returns.
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000).unwrap_or(now)
    }
}
