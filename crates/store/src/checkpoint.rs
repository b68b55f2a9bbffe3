//! `LedgerCheckpointStore` on both backends: the latest signed tree head of the ledger the
//! metadata store has seen, so that the two stores vouch for each other — a ledger deleted,
//! emptied, replaced by an older copy or rewritten no longer matches what this store saw.

use crate::Result;
use crate::database::{Database, on_pool, on_writer};

/// A signed tree head as the metadata store keeps it (the ledger crate checks signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCheckpoint {
    pub tree_size: u64,
    pub root: Vec<u8>,
    pub timestamp_ms: u64,
    pub signature: Vec<u8>,
}

pub trait LedgerCheckpointStore {
    fn ledger_checkpoint(&self) -> impl Future<Output = Result<Option<LedgerCheckpoint>>> + Send;
    /// Keeps `head` if it is larger than the checkpoint (or there is none); `true` if kept.
    /// Nodes advancing it concurrently never move it back.
    fn advance_ledger_checkpoint(&self, head: &LedgerCheckpoint) -> impl Future<Output = Result<bool>> + Send;
    /// Keeps `head` whatever the checkpoint was: only for a deliberate restore an operator
    /// acknowledged (recorded in the ledger first).
    /// Also removes the distrust (`ledger_distrust`) and counts the restore (`LedgerTrust::restores`).
    fn reset_ledger_checkpoint(&self, head: &LedgerCheckpoint) -> impl Future<Output = Result<()>> + Send;
    /// Whether a node found the ledger untrustworthy, and the acknowledged restores so far, read together.
    fn ledger_trust(&self) -> impl Future<Output = Result<LedgerTrust>> + Send;
    /// Why a node found the ledger untrustworthy, if one did: every node stops clinical work.
    fn ledger_distrust(&self) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Keeps `problem` for every node (the first one found stays) if no restore was acknowledged
    /// since the finder read `restores` (before its check): `false` if one was, the finding being
    /// about a ledger since restored.
    fn distrust_ledger(&self, problem: &str, at: time::OffsetDateTime, restores: u64) -> impl Future<Output = Result<bool>> + Send;
}

/// The installation's verdict on the ledger, as every node reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTrust {
    /// The first finding of the episode, if the ledger is distrusted.
    pub distrust: Option<String>,
    /// Acknowledged restores so far: a distrust held under a smaller count has been lifted.
    pub restores: u64,
}

fn db_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const UPSERT: &str = "INSERT INTO ledger_checkpoint (id, tree_size, root, timestamp_ms, signature) VALUES (1, $1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, root = excluded.root, \
     timestamp_ms = excluded.timestamp_ms, signature = excluded.signature";

impl LedgerCheckpointStore for Database {
    async fn ledger_checkpoint(&self) -> Result<Option<LedgerCheckpoint>> {
        let row: Option<(i64, Vec<u8>, i64, Vec<u8>)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT tree_size, root, timestamp_ms, signature FROM ledger_checkpoint WHERE id = 1")
                .fetch_optional(pool)
                .await)?;
        Ok(row.map(|(size, root, ts, signature)| LedgerCheckpoint {
            tree_size: u64::try_from(size).unwrap_or(0),
            root,
            timestamp_ms: u64::try_from(ts).unwrap_or(0),
            signature,
        }))
    }

    async fn advance_ledger_checkpoint(&self, head: &LedgerCheckpoint) -> Result<bool> {
        let sql = format!("{UPSERT} WHERE excluded.tree_size > ledger_checkpoint.tree_size");
        let done = on_writer!(self, |pool| sqlx::query(&sql)
            .bind(db_int(head.tree_size))
            .bind(&head.root)
            .bind(db_int(head.timestamp_ms))
            .bind(&head.signature)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn reset_ledger_checkpoint(&self, head: &LedgerCheckpoint) -> Result<()> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            // First, so that a finding being written waits for this restore and then sees it counted.
            sqlx::query("UPDATE ledger_restores SET acknowledged = acknowledged + 1 WHERE id = 1").execute(&mut *tx).await?;
            sqlx::query(UPSERT)
                .bind(db_int(head.tree_size))
                .bind(&head.root)
                .bind(db_int(head.timestamp_ms))
                .bind(&head.signature)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM ledger_distrust").execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn ledger_trust(&self) -> Result<LedgerTrust> {
        let (distrust, restores): (Option<String>, i64) = on_pool!(self, |pool| sqlx::query_as(
            "SELECT (SELECT problem FROM ledger_distrust WHERE id = 1), acknowledged FROM ledger_restores WHERE id = 1"
        )
        .fetch_one(pool)
        .await)?;
        Ok(LedgerTrust { distrust, restores: u64::try_from(restores).unwrap_or(0) })
    }

    async fn ledger_distrust(&self) -> Result<Option<String>> {
        let row: Option<(String,)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT problem FROM ledger_distrust WHERE id = 1").fetch_optional(pool).await)?;
        Ok(row.map(|(problem,)| problem))
    }

    async fn distrust_ledger(&self, problem: &str, at: time::OffsetDateTime, restores: u64) -> Result<bool> {
        // PostgreSQL: the count's row lock orders this against a restore being acknowledged.
        let count = match self.backend() {
            crate::Backend::Sqlite => "SELECT acknowledged FROM ledger_restores WHERE id = 1",
            crate::Backend::Postgres => "SELECT acknowledged FROM ledger_restores WHERE id = 1 FOR UPDATE",
        };
        let standing = on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            let (now,): (i64,) = sqlx::query_as(count).fetch_one(&mut *tx).await?;
            let standing = now == db_int(restores);
            if standing {
                sqlx::query("INSERT INTO ledger_distrust (id, problem, since) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
                    .bind(problem)
                    .bind(crate::time_codec::to_millis(at))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            standing
        });
        Ok(standing)
    }
}
