//! Connecting to either backend, migrating, and running the same code on both.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqliteConnection, SqlitePool};

use crate::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, Clone)]
pub(crate) enum Writer {
    Sqlite(std::sync::Arc<tokio::sync::Mutex<SqliteWriter>>),
    Postgres(PgPool),
}

/// SQLite's one writer connection, and whether a transaction sent to it in one trip
/// (`Database::write_atomically`) may still be open: its sender was dropped before it heard
/// the end (a request cancelled, a timeout), and sqlx's worker stops a statement list whose
/// caller is gone. The next holder rolls it back before anything else runs (`ready`).
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    pub(crate) connection: SqliteConnection,
    pub(crate) in_doubt: bool,
}

impl SqliteWriter {
    /// The connection, out of any transaction a cancelled one-trip write left open.
    pub(crate) async fn ready(&mut self) -> std::result::Result<&mut SqliteConnection, sqlx::Error> {
        if self.in_doubt {
            rollback_if_open(&mut self.connection).await?;
            self.in_doubt = false;
        }
        Ok(&mut self.connection)
    }
}

/// Whether a PostgreSQL connection given back to the pool is outside any transaction (else the
/// pool closes it). A future dropped while its `BEGIN` was answered but before sqlx counted the
/// transaction (a request cancelled at that instant) gave back a connection inside a
/// transaction nobody would end: the next statements run on it — acknowledged writes — joined
/// it and were never committed (the store's conformance test of cancelled deposits found notes
/// written and answered, yet invisible to every other connection). In an implicit transaction
/// of one statement, both timestamps are that statement's — in ONE protocol message: the simple
/// query protocol (a bare string, no arguments). A prepared statement's Parse, Bind and Execute are messages of
/// their own, each restamping the statement, so the two always differed and every connection was
/// closed (ITI-65 on PostgreSQL fell from ~720 to ~45 deposits/s).
pub async fn outside_any_transaction(connection: &mut sqlx::PgConnection) -> std::result::Result<bool, sqlx::Error> {
    use sqlx::Row as _;
    // A bare string has no arguments: sqlx sends it as one simple Query message.
    let row = sqlx::Executor::fetch_one(connection, "SELECT transaction_timestamp() = statement_timestamp()").await?;
    row.try_get(0)
}

/// `ROLLBACK`, and no error if there was nothing to roll back (the transaction had ended).
pub(crate) async fn rollback_if_open(connection: &mut SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    match sqlx::query("ROLLBACK").persistent(false).execute(connection).await {
        Err(sqlx::Error::Database(e)) if e.message().contains("no transaction is active") => Ok(()),
        other => other.map(|_| ()),
    }
}

/// The metadata database. Cheap to clone (pools inside).
#[derive(Debug, Clone)]
pub struct Database {
    /// Where reads go.
    pub(crate) pool: Pool,
    /// Where writes go. On SQLite ONE connection behind a fair lock: SQLite admits one writer
    /// at a time, and writers on several connections found its lock taken and slept in the busy
    /// handler (~3 sleeps of ~8 ms per ITI-65 deposit, BENCHMARKS.md), where here they wait in
    /// line and the next starts the moment the previous one is done (a pool of one connection
    /// did the same through the pool's release task). On PostgreSQL the same pool as reads.
    /// Unlike a pool, the connection is not replaced if sqlx's worker thread for it dies: writes
    /// then fail until the server restarts (SQLite on a local file gives no other cause).
    pub(crate) writer: Writer,
    pub(crate) documents_cache: std::sync::Arc<std::sync::Mutex<crate::documents::DocumentsCache>>,
    pub(crate) profile_cache: std::sync::Arc<std::sync::Mutex<crate::profile::ProfileCache>>,
    /// SQLite in a file: flushes the write-ahead log after writes, many commits per flush, so
    /// that a write is on disk before its caller answers (see `on_writer!`).
    pub(crate) durability: Option<std::sync::Arc<crate::blobs::GroupSync>>,
}

/// Runs `$body` with `$pool` bound to whichever pool this database has. Query text written
/// with `$1`-style parameters works on both (sqlx numbers SQLite's `$N` the same way).
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            $crate::database::Pool::Sqlite($pool) => $body,
            $crate::database::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// `on_pool!` for statements that write. On SQLite, `$pool` is the one writer connection, held
/// for the time of `$body` (so a body must not write through `self` again: the lock is not
/// reentrant); on PostgreSQL, the pool. Returns early from the enclosing function if the
/// writer cannot be made ready.
macro_rules! on_writer {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.writer {
            $crate::database::Writer::Sqlite(writer) => {
                #[allow(unused_imports)]
                use sqlx::Connection as _;
                let outcome = {
                    let mut writer = writer.lock().await;
                    let $pool = writer.ready().await?;
                    $body
                };
                // After the lock: the next writer goes on while this one waits for the flush.
                $db.flush_log().await?;
                outcome
            }
            $crate::database::Writer::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_writer;

impl Database {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`, then migrates.
    pub async fn connect(url: &str) -> Result<Database> {
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(format!("database URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL: SQLite does not flush the log at each commit (a power loss could
                // drop the last commits, never corrupt); `flush_log` does, after the writer's
                // lock is released, for every commit made meanwhile at once (FULL would flush
                // once per commit while holding it). The ledger (its own file) uses FULL.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            // No liveness ping before each use: an embedded database has no connection to lose,
            // and the ping was one more trip to sqlx's worker thread per statement.
            let pool = SqlitePoolOptions::new().max_connections(4).test_before_acquire(false).connect_with(options.clone()).await?;
            let writer = SqliteWriter { connection: options.connect().await?, in_doubt: false };
            Database {
                pool: Pool::Sqlite(pool),
                writer: Writer::Sqlite(std::sync::Arc::new(tokio::sync::Mutex::new(writer))),
                documents_cache: Default::default(),
                profile_cache: Default::default(),
                durability: None,
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(format!("database URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .after_release(|connection, _| Box::pin(outside_any_transaction(connection)))
                .connect_with(options)
                .await?;
            // A PostgreSQL commit is on disk when it returns (`synchronous_commit` on, its default).
            Database {
                pool: Pool::Postgres(pool.clone()),
                writer: Writer::Postgres(pool),
                documents_cache: Default::default(),
                profile_cache: Default::default(),
                durability: None,
            }
        } else {
            return Err(StoreError::Url(format!(
                "database URL: unsupported scheme in {:?}: use sqlite://PATH or postgres://…",
                url.split(':').next().unwrap_or_default()
            )));
        };
        db.migrate().await?;
        Ok(Database { durability: db.log_flusher().await?, ..db })
    }

    async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        self.fill_name_keys().await
    }

    /// The same database seen by another node: its own caches, the same pool. For tests that
    /// check what one node's caches make of another node's changes.
    pub fn another_node(&self) -> Database {
        Database {
            pool: self.pool.clone(),
            writer: self.writer.clone(),
            documents_cache: Default::default(),
            profile_cache: Default::default(),
            durability: self.durability.clone(),
        }
    }

    /// The write-ahead log of an SQLite file, once migrations made it exist; none in memory.
    async fn log_flusher(&self) -> Result<Option<std::sync::Arc<crate::blobs::GroupSync>>> {
        let Pool::Sqlite(pool) = &self.pool else { return Ok(None) };
        // SQLite's own answer: an in-memory database has no file.
        let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'").fetch_one(pool).await?;
        if file.is_empty() {
            return Ok(None);
        }
        let log = std::path::PathBuf::from(format!("{file}-wal"));
        let sync = crate::blobs::GroupSync::of_file(&log).map_err(|e| StoreError::Durability(format!("{}: {e}", log.display())))?;
        Ok(Some(std::sync::Arc::new(sync)))
    }

    /// Returns once every write committed before the call is on disk (SQLite files; a no-op
    /// elsewhere: PostgreSQL's commit flushes, and memory has no disk).
    pub(crate) async fn flush_log(&self) -> Result<()> {
        if let Some(sync) = &self.durability {
            std::sync::Arc::clone(sync).sync(std::path::PathBuf::new()).await.map_err(|e| StoreError::Durability(e.to_string()))?;
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes the read pool (the SQLite writer connection closes when the last clone of this
    /// database is dropped).
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DocumentStore;

    /// A write is answered once it is on disk: on an SQLite file, each write through the writer
    /// is followed by a flush of the write-ahead log (the power-cut suite, `carnet-bench crash
    /// --power-loss`, proves what this buys).
    #[tokio::test]
    async fn sqlite_writes_flush_the_log_before_answering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::connect(&format!("sqlite://{}", dir.path().join("carnet.db").display())).await.expect("connect");
        let log = db.durability.clone().expect("an SQLite file flushes its log");
        let before = log.rounds();
        db.begin_upload(carnet_domain::DocumentId::from_bytes([1; 16]), time::OffsetDateTime::UNIX_EPOCH).await.expect("write");
        assert!(log.rounds() > before, "a write through the writer flushed the log");
        let atomically = log.rounds();
        db.end_upload(carnet_domain::DocumentId::from_bytes([1; 16])).await.expect("write");
        assert!(log.rounds() > atomically);
    }

    #[tokio::test]
    async fn memory_has_no_log_to_flush() {
        let db = Database::connect("sqlite::memory:").await.expect("connect");
        assert!(db.durability.is_none());
    }
}
