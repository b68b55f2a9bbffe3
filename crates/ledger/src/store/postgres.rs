//! PostgreSQL: schema `ledger` in the given database. Every connection has `search_path =
//! ledger`, so the shared query text and sqlx's own `_sqlx_migrations` table resolve there and
//! never meet the metadata store's `public._sqlx_migrations`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};

use super::{
    Bind, Commit, Committed, ENTRY_COLUMNS, EntryQuery, EntryRow, HeadRow, IndexedColumns, NodeRow, PendingEntry, PreparedBatch, TreeState,
    commit_body, completed_nodes_sql, db_int, find_sql, nodes_sql, shared_queries,
};
use crate::merkle::{CompactRange, NodeId};
use crate::{LedgerError, Result};

shared_queries!(sqlx::Postgres);

/// Serialises appenders across Carnet nodes sharing one database (`pg_advisory_xact_lock`).
const WRITER_LOCK: i64 = 0x6361_726e_6574_4c47; // "carnetLG"

pub(super) async fn connect(url: &str) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url).map_err(|e| LedgerError::Url(e.to_string()))?.options([("search_path", "ledger")]);
    // As the metadata store's pool: a connection given back inside a transaction (its
    // future cancelled just after `BEGIN`) is closed, not reused.
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .after_release(|connection, _| Box::pin(outside_any_transaction(connection)))
        .connect_with(options)
        .await?;
    // The schema must exist before sqlx creates its migrations table in it. Two nodes starting
    // together may race on it; what matters is that it exists afterwards.
    if let Err(e) = sqlx::query("CREATE SCHEMA IF NOT EXISTS ledger").execute(&pool).await {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'ledger')").fetch_one(&pool).await?;
        if !exists {
            return Err(e.into());
        }
    }
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

pub(super) async fn commit(pool: &PgPool, state: &mut Option<TreeState>, batch: Commit<'_>) -> Result<Committed> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITER_LOCK).execute(&mut *tx).await?;
    commit_body!(tx, state, batch, insert)
}

async fn insert(conn: &mut PgConnection, prepared: &PreparedBatch, entries: &[PendingEntry]) -> Result<()> {
    // One statement per table for the whole batch: arrays unnested server-side.
    let n = entries.len();
    let (mut idx, mut at, mut ins, mut actor, mut action, mut outcome, mut bytes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (offset, e) in (0u64..).zip(entries) {
        idx.push(db_int(prepared.first_index + offset));
        at.push(e.at);
        ins.push(e.ins.clone());
        actor.push(e.actor_ref.clone());
        action.push(e.action.clone());
        outcome.push(e.outcome.to_owned());
        bytes.push(e.bytes.clone());
    }
    sqlx::query(
        "INSERT INTO entries (idx, at, ins, actor_ref, action, outcome, entry) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BYTEA[])",
    )
    .bind(idx)
    .bind(at)
    .bind(ins)
    .bind(actor)
    .bind(action)
    .bind(outcome)
    .bind(bytes)
    .execute(&mut *conn)
    .await?;
    let levels: Vec<i64> = prepared.nodes.iter().map(|(id, _)| i64::from(id.level)).collect();
    let indexes: Vec<i64> = prepared.nodes.iter().map(|(id, _)| db_int(id.index)).collect();
    let hashes: Vec<Vec<u8>> = prepared.nodes.iter().map(|(_, h)| h.to_vec()).collect();
    sqlx::query("INSERT INTO nodes (level, idx, hash) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BYTEA[])")
        .bind(levels)
        .bind(indexes)
        .bind(hashes)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn storage_bytes(pool: &PgPool) -> Result<i64> {
    let row = sqlx::query(
        "SELECT (pg_total_relation_size('ledger.entries') + pg_total_relation_size('ledger.nodes') \
         + pg_total_relation_size('ledger.tree_heads'))::BIGINT AS bytes",
    )
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("bytes")?)
}

/// Whether a connection given back to the pool is outside any transaction (else the pool closes
/// it): as the metadata store's pool does, and for the same reason (a future cancelled just after
/// `BEGIN` left one open that the next statements would join). One simple-protocol message, so
/// both timestamps are this statement's when no transaction is open.
async fn outside_any_transaction(connection: &mut sqlx::PgConnection) -> std::result::Result<bool, sqlx::Error> {
    use sqlx::Row as _;
    // A bare string has no arguments: sqlx sends it as one simple Query message.
    let row = sqlx::Executor::fetch_one(connection, "SELECT transaction_timestamp() = statement_timestamp()").await?;
    row.try_get(0)
}
