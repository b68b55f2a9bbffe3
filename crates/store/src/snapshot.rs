//! Backups of the embedded default: an online snapshot of the SQLite database, a read-only
//! handle on such a snapshot, and the inventory a backup's manifest counts.
//!
//! Why `VACUUM INTO` (through sqlx's runtime API) rather than SQLite's online backup API or a
//! copy of the files: sqlx does not expose `sqlite3_backup_*`, and copying `carnet.db` with its
//! WAL while a server writes is not a snapshot. `VACUUM INTO` runs as one read transaction, so
//! it writes a consistent, self-contained database file as of one instant, without stopping
//! writers (WAL readers do not block them).

use std::path::Path;
use std::str::FromStr;

use carnet_domain::{DocumentId, Ins};
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::database::{Pool, SqliteWriter, Writer, on_pool};
use crate::documents::corrupt;
use crate::{Database, Result, StoreError};

/// What a snapshot holds, as a backup's manifest counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Records, destroyed tombstones included.
    pub records: u64,
    /// Every document row, by id, with its patient: each names one blob.
    pub documents: Vec<(DocumentId, Ins)>,
}

impl Database {
    /// Writes a consistent copy of the whole SQLite database to `dest` (which must not exist),
    /// while others keep reading and writing. PostgreSQL is backed up with its own tools.
    pub async fn snapshot_into(&self, dest: &Path) -> Result<()> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StoreError::Unsupported("an online snapshot of PostgreSQL: use pg_dump or pg_basebackup (docs/backup.md)"));
        };
        let dest = dest.to_str().ok_or_else(|| StoreError::Url(format!("snapshot path {} is not UTF-8", dest.display())))?;
        sqlx::query("VACUUM INTO $1").bind(dest).execute(pool).await?;
        Ok(())
    }

    /// A snapshot file opened read-only: reads work, any write fails, and the file is left as it
    /// is (no migration, no journal mode change, no `-wal` file), so its hash still holds.
    pub async fn open_snapshot(path: &Path) -> Result<Database> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Url(format!("snapshot {}: {e}", path.display())))?
            .read_only(true)
            // Nothing writes the snapshot while it is read: no locks, no WAL index.
            .immutable(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let writer = SqliteWriter { connection: options.connect().await?, in_doubt: false };
        Ok(Database {
            pool: Pool::Sqlite(pool),
            writer: Writer::Sqlite(std::sync::Arc::new(tokio::sync::Mutex::new(writer))),
            documents_cache: Default::default(),
            profile_cache: Default::default(),
            // Read-only: nothing to flush.
            durability: None,
        })
    }

    /// The records' count and every document's id and patient, read in one transaction.
    pub async fn inventory(&self) -> Result<Inventory> {
        let (records, rows) = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(&mut *tx).await?;
            let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, ins FROM documents ORDER BY id").fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (records, rows)
        });
        let mut documents = Vec::with_capacity(rows.len());
        for (id, ins) in rows {
            let id = DocumentId::parse(&id).map_err(|e| corrupt("document id", e))?;
            let ins = Ins::parse(&ins).map_err(|e| corrupt("document's INS", e))?;
            documents.push((id, ins));
        }
        Ok(Inventory { records: u64::try_from(records).unwrap_or(0), documents })
    }
}
