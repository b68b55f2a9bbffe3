//! SQLite: the embedded default. The ledger lives in a file of its own, WAL with
//! `synchronous=FULL` (a commit is on disk when `append` answers); one write transaction per batch.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

use super::{
    Bind, Commit, Committed, ENTRY_COLUMNS, EntryQuery, EntryRow, HeadRow, IndexedColumns, NodeRow, PendingEntry, PreparedBatch, TreeState,
    commit_body, completed_nodes_sql, db_int, find_sql, nodes_sql, shared_queries,
};
use crate::merkle::{CompactRange, NodeId};
use crate::{LedgerError, Result};

shared_queries!(sqlx::Sqlite);

pub(super) async fn connect(url: &str) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| LedgerError::Url(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a batch acknowledged to its callers survives a power loss, not only a crash.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

pub(super) async fn commit(pool: &SqlitePool, state: &mut Option<TreeState>, batch: Commit<'_>) -> Result<Committed> {
    // IMMEDIATE takes the write lock first, so the state read below cannot go stale.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    commit_body!(tx, state, batch, insert)
}

async fn insert(conn: &mut SqliteConnection, prepared: &PreparedBatch, entries: &[PendingEntry]) -> Result<()> {
    // Multi-row statements: each statement is a round trip to sqlx's SQLite worker thread, which
    // costs more than the insert itself. Chunks stay far below SQLite's bound-parameter limit.
    for (chunk_no, chunk) in entries.chunks(ROWS_PER_STATEMENT).enumerate() {
        let sql = multi_row_insert("entries (idx, at, ins, actor_ref, action, outcome, entry)", 7, chunk.len());
        let mut query = sqlx::query(&sql);
        let first = prepared.first_index + (chunk_no * ROWS_PER_STATEMENT) as u64;
        for (offset, e) in (0u64..).zip(chunk) {
            query = query
                .bind(db_int(first + offset))
                .bind(e.at)
                .bind(e.ins.as_deref())
                .bind(e.actor_ref.as_str())
                .bind(e.action.as_str())
                .bind(e.outcome)
                .bind(e.bytes.as_slice());
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in prepared.nodes.chunks(ROWS_PER_STATEMENT) {
        let sql = multi_row_insert("nodes (level, idx, hash)", 3, chunk.len());
        let mut query = sqlx::query(&sql);
        for (id, hash) in chunk {
            query = query.bind(i64::from(id.level)).bind(db_int(id.index)).bind(hash.as_slice());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

const ROWS_PER_STATEMENT: usize = 128;

/// `INSERT INTO <table> VALUES ($1, …, $columns), …` for `rows` rows.
fn multi_row_insert(table: &str, columns: usize, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let params: Vec<String> = (1..=columns).map(|c| format!("${}", row * columns + c)).collect();
        sql.push_str(&format!("({})", params.join(", ")));
    }
    sql
}

pub(super) async fn storage_bytes(pool: &SqlitePool) -> Result<i64> {
    let row = sqlx::query("SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()").fetch_one(pool).await?;
    Ok(row.try_get("bytes")?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_their_parameters_row_by_row() {
        assert_eq!(multi_row_insert("t (a, b)", 2, 2), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
    }

    #[tokio::test]
    async fn the_ledger_file_is_wal_with_full_synchronous_writes() {
        let dir = tempfile::tempdir().unwrap();
        let pool = connect(&format!("sqlite://{}", dir.path().join("ledger.db").display())).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "FULL");
    }
}
