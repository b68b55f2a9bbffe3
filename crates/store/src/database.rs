//! Connecting to either backend, migrating, and running the same code on both.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

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

/// The metadata database. Cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: Pool,
    pub(crate) documents_cache: std::sync::Arc<std::sync::Mutex<crate::documents::DocumentsCache>>,
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

impl Database {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`, then migrates.
    pub async fn connect(url: &str) -> Result<Database> {
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(format!("database URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL: durable across process crashes; a power loss may drop the last
                // commits but never corrupts. The ledger (its own file) uses FULL.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
            Database { pool: Pool::Sqlite(pool), documents_cache: Default::default() }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(format!("database URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Database { pool: Pool::Postgres(pool), documents_cache: Default::default() }
        } else {
            return Err(StoreError::Url(format!(
                "database URL: unsupported scheme in {:?}: use sqlite://PATH or postgres://…",
                url.split(':').next().unwrap_or_default()
            )));
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The same database seen by another node: its own caches, the same pool. For tests that
    /// check what one node's caches make of another node's changes.
    pub fn another_node(&self) -> Database {
        Database { pool: self.pool.clone(), documents_cache: Default::default() }
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

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}
