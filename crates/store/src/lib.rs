//! Carnet's metadata storage.
//!
//! Each capability is a trait (`RecordStore`, `DirectoryStore`, …) that the service layer calls.
//! `Database` implements them all over either backend: SQLite (the embedded default, WAL) or
//! PostgreSQL. Both run the same code; where the SQL differs the two texts sit side by side
//! (see `dialect!`), and the same conformance suite (`conformance`) runs against both.
//!
//! Architecture invariant: nothing outside this crate writes SQL; nothing in this crate decides
//! who may see what (that is `carnet-domain`'s policy, applied by `carnet-service`).

mod apps;
mod blobs;
mod bulk;
mod checkpoint;
mod database;
mod directory;
mod documents;
mod extraction;
mod guard;
mod jobs;
mod policy;
mod policy_format;
mod profile;
mod records;
mod sessions;
mod snapshot;
mod submissions;
mod time_codec;
mod writes;

#[cfg(feature = "test-support")]
pub mod conformance;

use std::future::Future;

use carnet_crypto::WrappedKey;
use carnet_domain::record::RecordStatistics;
use carnet_domain::{DocumentId, DocumentMeta, DocumentStatus, Ins, Professional, Record, RecordStatus, Rpps};
use time::OffsetDateTime;

pub use apps::{AppStore, AppUse, ConnectedApp, Revocation};
pub use blobs::{BlobCursor, BlobPage, BlobStore, BlobWriter, StoredBlob};
pub use bulk::bench_ins;
pub use checkpoint::{LedgerCheckpoint, LedgerCheckpointStore, LedgerTrust};
pub use database::{Backend, Database};
pub use extraction::{ExtractionCount, ExtractionJob, ExtractionResult, ExtractionState, ExtractionStore};
pub use guard::EnumerationStore;
pub use jobs::{JobLeaseStore, ReleasedLeases};
pub use policy::{GateInputs, NotificationStore, OutboxMessage, PolicyStore, ReviewItem, ReviewStore, StoredPolicy, StoredPreferences};
pub use profile::{ProfileStore, StoredItem};
pub use sessions::{PendingSignIn, SessionStore, StoredSession};
pub use snapshot::Inventory;
pub use submissions::{NewSetDocument, StoredSubmissionSet, SubmissionStore};

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule would be broken (e.g. a second live record for one INS).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The row changed since it was read (optimistic concurrency).
    #[error("the {0} was changed concurrently")]
    Stale(&'static str),
    /// Stored data no longer parses as a domain value: corruption or a bad migration.
    #[error("corrupt {what} in storage: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// A database or blob store URL that cannot be used; the message names which.
    #[error("{0}")]
    Url(String),
    /// The blob store failed (disk, bucket, network).
    #[error("blob store: {0}")]
    Blob(String),
    /// A document's blob is missing from the blob store.
    #[error("a document's blob is missing")]
    BlobMissing,
    /// Committed writes could not be flushed to disk: they may not survive a power loss.
    #[error("flushing the database to disk: {0}")]
    Durability(String),
    /// Something this backend does not do; the message says what to use instead.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A patient's documents with their sealed titles, newest first. The metadata and titles are
/// shared with the documents cache rather than copied for every search.
pub type DocumentList = Vec<(std::sync::Arc<DocumentMeta>, Option<std::sync::Arc<[u8]>>)>;

/// Records: one per patient (INS), and their lifecycle.
pub trait RecordStore {
    /// Inserts a new record; `Conflict` if the INS already has a live (not destroyed) one.
    fn create_record(&self, record: &Record) -> impl Future<Output = Result<()>> + Send;
    /// The live record of this INS, if any.
    fn find_record_by_ins(&self, ins: &Ins) -> impl Future<Output = Result<Option<Record>>> + Send;
    /// Live records whose reference traits match every given criterion (birth name and any
    /// birth first name by case-insensitive prefix, exact birth date and sex), by INS, at most
    /// `limit`. Deciding who may search is the service's business.
    fn find_records_by_traits(&self, query: &TraitsQuery, limit: u32) -> impl Future<Output = Result<Vec<Record>>> + Send;
    /// Saves a record read earlier with status `read_as`; `Stale` if it changed meanwhile.
    fn save_record(&self, record: &Record, read_as: RecordStatus) -> impl Future<Output = Result<()>> + Send;
    /// Closed or archived records that may have a time-driven transition due at `now`
    /// (`archive_before`: records closed before this instant are due for archiving).
    fn find_records_due(
        &self,
        now: OffsetDateTime,
        archive_before: OffsetDateTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Record>>> + Send;
    /// Notes the first document deposit (statistics: "fed" records). Later deposits keep the first date.
    fn mark_fed(&self, ins: &Ins, at: OffsetDateTime) -> impl Future<Output = Result<()>> + Send;
    fn record_statistics(&self) -> impl Future<Output = Result<RecordStatistics>> + Send;
    /// Live records whose close reason was stored before close reasons were sealed (it does
    /// not start with `sealed_prefix`), at most `limit`.
    fn find_clear_close_reasons(&self, sealed_prefix: &str, limit: u32) -> impl Future<Output = Result<Vec<Record>>> + Send;
    /// Drops the close reasons of destroyed records stored before close reasons were sealed
    /// (their key is gone: they could not be sealed any more); how many.
    fn drop_clear_close_reasons_of_destroyed(&self, sealed_prefix: &str) -> impl Future<Output = Result<u64>> + Send;
}

pub use carnet_domain::TraitsQuery;

/// The professionals directory.
pub trait DirectoryStore {
    /// Inserts or updates the professionals, all or none.
    fn save_professionals(&self, professionals: &[Professional], now: OffsetDateTime) -> impl Future<Output = Result<u64>> + Send;
    fn find_professional_by_rpps(&self, rpps: &Rpps) -> impl Future<Output = Result<Option<Professional>>> + Send;
    /// At most `limit` professionals whose family name's key (`carnet_domain::directory::name_key`)
    /// starts with `key_prefix`, ordered by that key, given name and RPPS. An empty prefix finds
    /// nothing (the directory is not for listing whole).
    fn find_professionals_by_name(&self, key_prefix: &str, limit: u32) -> impl Future<Output = Result<Vec<Professional>>> + Send;
}

/// Patients' data keys, stored only wrapped.
pub trait KeyStore {
    /// Stores the patient's wrapped key unless one exists; returns the one in force either way
    /// (two first deposits racing agree on one key).
    fn save_patient_key_if_absent(
        &self,
        ins: &Ins,
        key: &WrappedKey,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<WrappedKey>> + Send;
    fn find_patient_key(&self, ins: &Ins) -> impl Future<Output = Result<Option<WrappedKey>>> + Send;
    /// Every wrapped key, for master-key rotation.
    fn all_patient_keys(&self) -> impl Future<Output = Result<Vec<(Ins, WrappedKey)>>> + Send;
    /// Replaces wrapped keys after a rotation, all or none; `Stale` if any changed meanwhile.
    fn save_rewrapped_keys(&self, keys: &[(Ins, WrappedKey, WrappedKey)]) -> impl Future<Output = Result<()>> + Send;
    /// Crypto-shredding: the key goes, so every blob sealed under it becomes noise.
    fn delete_patient_key(&self, ins: &Ins) -> impl Future<Output = Result<()>> + Send;
    /// Stores a service secret's wrap unless one exists; returns the one in force.
    fn save_service_key_if_absent(
        &self,
        name: &str,
        key: &WrappedKey,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<WrappedKey>> + Send;
    fn all_service_keys(&self) -> impl Future<Output = Result<Vec<(String, WrappedKey)>>> + Send;
    /// Replaces service secrets' wraps after a rotation, all or none.
    fn save_rewrapped_service_keys(&self, keys: &[(String, WrappedKey, WrappedKey)]) -> impl Future<Output = Result<()>> + Send;
}

/// Document metadata and derived artifacts.
pub trait DocumentStore {
    /// Notes an upload in flight before its first blob byte is written, so an interrupted one
    /// is found and cleaned at the next start.
    fn begin_upload(&self, id: DocumentId, now: OffsetDateTime) -> impl Future<Output = Result<()>> + Send;
    /// Forgets an upload that was abandoned (its blob already deleted).
    fn end_upload(&self, id: DocumentId) -> impl Future<Output = Result<()>> + Send;
    /// Uploads begun before `started_before` and neither inserted nor abandoned: interrupted.
    /// The oldest first, at most `limit`.
    fn pending_uploads(&self, started_before: OffsetDateTime, limit: u32) -> impl Future<Output = Result<Vec<DocumentId>>> + Send;
    /// Those of `ids` that have neither a document row nor a pending upload note: the blobs of
    /// these ids belong to nobody. Both tables are read in one statement, so a row inserted
    /// with its note's removal is seen as one or the other, never as neither.
    fn unclaimed_ids(&self, ids: &[DocumentId]) -> impl Future<Output = Result<Vec<DocumentId>>> + Send;
    /// Inserts a document and ends its upload; `Conflict` if its unique id is taken. With
    /// `supersedes`, the old version (read as current) becomes superseded in the same transaction.
    fn insert_document(
        &self,
        meta: &DocumentMeta,
        title_sealed: Option<&[u8]>,
        supersedes: Option<DocumentId>,
        notify: &[OutboxMessage],
    ) -> impl Future<Output = Result<()>> + Send;
    fn find_document(&self, id: DocumentId) -> impl Future<Output = Result<Option<(DocumentMeta, Option<Vec<u8>>)>>> + Send;
    fn find_document_by_unique_id(&self, unique_id: &str) -> impl Future<Output = Result<Option<DocumentMeta>>> + Send;
    /// A patient's documents, newest first, each with its sealed title. Shared, not copied: a
    /// search reads the same list many times between changes (see `DocumentsCache`).
    fn find_documents_of(&self, ins: &Ins) -> impl Future<Output = Result<DocumentList>> + Send;
    /// `find_documents_of`, given the patient's document generation read moments ago in another
    /// statement (`GateInputs::documents_generation`): the list cached at that generation
    /// without a read, else the list as it is now. Spares a search its own generation read.
    fn find_documents_at(&self, ins: &Ins, generation: i64) -> impl Future<Output = Result<DocumentList>> + Send;
    /// Saves status, archive flag and labels of a document read with status `read_as`.
    fn save_document_state(&self, meta: &DocumentMeta, read_as: DocumentStatus) -> impl Future<Output = Result<()>> + Send;
    /// Patients whose record was destroyed but whose key or documents remain: shredding that
    /// was interrupted, or is due.
    fn find_shredding_due(&self, limit: u32) -> impl Future<Output = Result<Vec<Ins>>> + Send;
    /// Deletes one document's row (its blob is deleted first); `Stale` if it was already gone.
    fn delete_document(&self, id: DocumentId) -> impl Future<Output = Result<()>> + Send;
    /// Deletes a patient's document rows (after crypto-shredding); returns their ids, for blob deletion.
    fn delete_documents_of(&self, ins: &Ins) -> impl Future<Output = Result<Vec<DocumentId>>> + Send;
    fn save_derived(&self, id: DocumentId, kind: &str, sealed: &[u8]) -> impl Future<Output = Result<()>> + Send;
    fn find_derived(&self, id: DocumentId, kind: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
}
