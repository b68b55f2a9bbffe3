//! Backups of the embedded ledger: an online snapshot of its SQLite file, and a read-only handle
//! on such a snapshot (for checking a backup without changing a byte of it).

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::{LedgerStore, Pool};
use crate::{LedgerError, Result};

impl LedgerStore {
    /// Writes a consistent copy of the SQLite ledger to `dest` (which must not exist) while the
    /// appender keeps committing: `VACUUM INTO` reads in one transaction, so the copy holds whole
    /// batches only (entries, their nodes and their signed head together). sqlx exposes no
    /// `sqlite3_backup_*`; this statement is the online snapshot its runtime API can run.
    pub async fn snapshot_into(&self, dest: &Path) -> Result<()> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(LedgerError::Url("an online snapshot of a PostgreSQL ledger: use pg_dump (docs/backup.md)".into()));
        };
        let dest = dest.to_str().ok_or_else(|| LedgerError::Url(format!("snapshot path {} is not UTF-8", dest.display())))?;
        sqlx::query("VACUUM INTO $1").bind(dest).execute(pool).await?;
        Ok(())
    }

    /// A ledger snapshot opened read-only: no migration, no journal mode change, nothing written.
    pub async fn open_snapshot(path: &Path) -> Result<LedgerStore> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| LedgerError::Url(format!("snapshot {}: {e}", path.display())))?
            .read_only(true)
            .immutable(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        Ok(LedgerStore { pool: Pool::Sqlite(pool) })
    }
}
