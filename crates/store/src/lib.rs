//! Carnet's metadata storage.
//!
//! Each capability is a trait (`RecordStore`, `DirectoryStore`, …) that the service layer calls.
//! `Database` implements them all over either backend: SQLite (the embedded default, WAL) or
//! PostgreSQL. Both run the same code; where the SQL differs the two texts sit side by side
//! (see `dialect!`), and the same conformance suite (`conformance`) runs against both.
//!
//! Architecture invariant: nothing outside this crate writes SQL; nothing in this crate decides
//! who may see what (that is `carnet-domain`'s policy, applied by `carnet-service`).

mod database;
mod directory;
mod records;
mod time_codec;

pub mod conformance;

use std::future::Future;

use carnet_domain::record::RecordStatistics;
use carnet_domain::{Ins, Professional, Record, RecordStatus, Rpps};
use time::OffsetDateTime;

pub use database::{Backend, Database};

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
    #[error("database URL: {0}")]
    Url(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Records: one per patient (INS), and their lifecycle.
pub trait RecordStore {
    /// Inserts a new record; `Conflict` if the INS already has a live (not destroyed) one.
    fn create_record(&self, record: &Record) -> impl Future<Output = Result<()>> + Send;
    /// The live record of this INS, if any.
    fn find_record_by_ins(&self, ins: &Ins) -> impl Future<Output = Result<Option<Record>>> + Send;
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
}

/// The professionals directory.
pub trait DirectoryStore {
    /// Inserts or updates the professionals, all or none.
    fn save_professionals(&self, professionals: &[Professional], now: OffsetDateTime) -> impl Future<Output = Result<u64>> + Send;
    fn find_professional_by_rpps(&self, rpps: &Rpps) -> impl Future<Output = Result<Option<Professional>>> + Send;
}
