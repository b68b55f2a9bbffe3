//! The ledger's own store, SQLite or PostgreSQL: entries, perfect-subtree nodes, signed tree heads.
//!
//! Both backends run the same query text (on PostgreSQL every connection has `search_path =
//! ledger`), generated for each by `shared_queries!`; what differs (connection, write transaction,
//! bulk insert) sits side by side in `sqlite.rs` and `postgres.rs`.

mod postgres;
mod snapshot;
mod sqlite;

use carnet_domain::Ins;
use sqlx::{PgPool, SqlitePool};

use crate::entry::{LedgerEntry, RecordedEntry};
use crate::merkle::{CompactRange, Hash, NodeId, consistency_plan, inclusion_plan, leaf_hash};
use crate::tree_head::{SignedTreeHead, TreeHead, TreeHeadSigner};
use crate::verify::{ConsistencyProof, InclusionProof};
use crate::{LedgerError, Result};

/// The largest page `find_entries` returns.
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the ledger's tables: every read, and the writes of the appender. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LedgerStore {
    pool: Pool,
}

/// Calls `backend::$f(pool, args…)` on whichever backend this store has.
macro_rules! dispatch {
    ($store:expr, $f:ident($($arg:expr),*)) => {
        match &$store.pool {
            Pool::Sqlite(pool) => sqlite::$f(pool $(, $arg)*).await,
            Pool::Postgres(pool) => postgres::$f(pool $(, $arg)*).await,
        }
    };
}

/// Search of the ledger, oldest first (ascending leaf index) unless `newest_first`: pages stay
/// stable while entries are appended. All filters are optional and combined; `from_ms` is
/// inclusive, `to_ms` exclusive; the next page is `after_index = last index returned` (oldest
/// first) or `before_index = last index returned` (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryQuery {
    pub ins: Option<Ins>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub actor_ref: Option<String>,
    /// Only entries about a record (with an INS): what an actor did in records, without their
    /// other entries (e.g. reading their own activity).
    pub about_a_record: bool,
    pub after_index: Option<u64>,
    pub before_index: Option<u64>,
    /// Descending leaf index (a history read from the latest).
    pub newest_first: bool,
    /// 1 to `MAX_PAGE` (0 means `MAX_PAGE`).
    pub limit: u32,
}

/// An entry ready to be written: checked, serialised, with its indexed columns.
#[derive(Debug, Clone)]
pub(crate) struct PendingEntry {
    pub at: i64,
    pub ins: Option<String>,
    pub actor_ref: String,
    pub action: String,
    pub outcome: &'static str,
    pub bytes: Vec<u8>,
}

impl PendingEntry {
    pub(crate) fn new(entry: &LedgerEntry) -> Result<PendingEntry> {
        Ok(PendingEntry {
            bytes: entry.canonical_bytes()?,
            at: entry.at,
            ins: entry.ins.as_ref().map(|i| i.as_str().to_owned()),
            actor_ref: entry.actor.reference.clone(),
            action: entry.action.clone(),
            outcome: entry.outcome.as_str(),
        })
    }
}

/// What the appender keeps in memory: the right border of the tree and the last signed head.
#[derive(Debug, Clone)]
pub(crate) struct TreeState {
    range: CompactRange,
    root: Hash,
    last_timestamp_ms: u64,
}

impl TreeState {
    fn matches(&self, head: &SignedTreeHead) -> bool {
        self.range.size() == head.head.tree_size && self.root == head.head.root_hash
    }

    /// The state at `head` from the stored border nodes, checked against the head and the
    /// number of stored entries.
    fn rebuild(head: Option<&SignedTreeHead>, stored_entries: u64, border: &[NodeRow]) -> Result<TreeState> {
        let (size, root, ts) = head.map_or((0, crate::empty_root(), 0), |h| (h.head.tree_size, h.head.root_hash, h.head.timestamp_ms));
        if stored_entries != size {
            return Err(LedgerError::Corrupt(format!(
                "the store holds {stored_entries} entries but its latest signed tree head covers {size}"
            )));
        }
        let mut hashes = Vec::new();
        for id in CompactRange::border_nodes(size) {
            let row = border.iter().find(|r| r.id() == Some(id));
            let hash = row
                .and_then(|r| r.hash_array())
                .ok_or_else(|| LedgerError::Corrupt(format!("subtree node {id:?} is missing or malformed")))?;
            hashes.push(hash);
        }
        let range = CompactRange::from_border(size, hashes)
            .ok_or_else(|| LedgerError::Corrupt("the right border does not match the size".into()))?;
        if range.root() != root {
            return Err(LedgerError::Corrupt(format!("the stored subtrees do not give the signed root of size {size}")));
        }
        Ok(TreeState { root: range.root(), range, last_timestamp_ms: ts })
    }
}

/// What one transaction writes, computed before it starts writing.
pub(crate) struct PreparedBatch {
    pub first_index: u64,
    pub nodes: Vec<(NodeId, Hash)>,
    pub head: SignedTreeHead,
    pub state: TreeState,
}

impl PreparedBatch {
    fn new(state: &TreeState, entries: &[PendingEntry], signer: &dyn TreeHeadSigner, now_ms: u64) -> PreparedBatch {
        let mut range = state.range.clone();
        let first_index = range.size();
        let mut nodes = Vec::with_capacity(entries.len() * 2 + 64);
        for entry in entries {
            range.append(leaf_hash(&entry.bytes), |id, hash| nodes.push((id, hash)));
        }
        // Heads never go back in time, even if the clock does.
        let timestamp_ms = now_ms.max(state.last_timestamp_ms);
        let root = range.root();
        let head = TreeHead { tree_size: range.size(), root_hash: root, timestamp_ms }.sign(signer);
        PreparedBatch { first_index, nodes, head, state: TreeState { range, root, last_timestamp_ms: timestamp_ms } }
    }
}

/// A batch to commit: `entries` may be empty (then only the genesis head, if missing, is written).
pub(crate) struct Commit<'a> {
    pub entries: &'a [PendingEntry],
    pub signer: &'a dyn TreeHeadSigner,
    pub now_ms: u64,
}

/// Where a committed batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Committed {
    pub first_index: u64,
    pub tree_size: u64,
}

/// Raw rows: decoded by the SQL layer, judged here (`verify_store` must survive anything).
#[derive(Debug, Clone)]
pub(crate) struct EntryRow {
    pub idx: i64,
    pub bytes: Vec<u8>,
    /// The columns searches select by, which the hash does not cover: each must say what the
    /// hashed bytes say (`IndexedColumns::disagreement`).
    pub columns: IndexedColumns,
}

/// An entry's indexed columns, as stored beside its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexedColumns {
    pub at: i64,
    pub ins: Option<String>,
    pub actor_ref: String,
    pub action: String,
    pub outcome: String,
}

impl IndexedColumns {
    /// The columns `entry` must be stored with.
    pub(crate) fn of(entry: &LedgerEntry) -> IndexedColumns {
        IndexedColumns {
            at: entry.at,
            ins: entry.ins.as_ref().map(|i| i.as_str().to_owned()),
            actor_ref: entry.actor.reference.clone(),
            action: entry.action.clone(),
            outcome: entry.outcome.as_str().to_owned(),
        }
    }

    /// The first column that does not say what `entry`'s hashed bytes say (a column changed
    /// behind the ledger's back would move an entry into, or out of, someone's history).
    pub(crate) fn disagreement(&self, entry: &LedgerEntry) -> Option<&'static str> {
        let expected = IndexedColumns::of(entry);
        [
            ("at", self.at == expected.at),
            ("ins", self.ins == expected.ins),
            ("actor_ref", self.actor_ref == expected.actor_ref),
            ("action", self.action == expected.action),
            ("outcome", self.outcome == expected.outcome),
        ]
        .into_iter()
        .find_map(|(name, agrees)| (!agrees).then_some(name))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct NodeRow {
    pub level: i64,
    pub idx: i64,
    pub hash: Vec<u8>,
}

impl NodeRow {
    pub(crate) fn id(&self) -> Option<NodeId> {
        Some(NodeId::new(u8::try_from(self.level).ok().filter(|l| *l < 64)?, u64::try_from(self.idx).ok()?))
    }

    pub(crate) fn hash_array(&self) -> Option<Hash> {
        self.hash.as_slice().try_into().ok()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct HeadRow {
    pub tree_size: i64,
    pub root: Vec<u8>,
    pub timestamp_ms: i64,
    pub signature: Vec<u8>,
}

impl HeadRow {
    pub(crate) fn parse(&self) -> Result<SignedTreeHead, String> {
        let tree_size = u64::try_from(self.tree_size).map_err(|_| format!("negative tree size {}", self.tree_size))?;
        let bad = |what: &str| format!("tree head of size {tree_size}: malformed {what}");
        Ok(SignedTreeHead {
            head: TreeHead {
                tree_size,
                root_hash: self.root.as_slice().try_into().map_err(|_| bad("root"))?,
                timestamp_ms: u64::try_from(self.timestamp_ms).map_err(|_| bad("timestamp"))?,
            },
            signature: self.signature.as_slice().try_into().map_err(|_| bad("signature"))?,
        })
    }
}

/// One bound value of a dynamically built query.
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// A database integer for a (checked or harmless) u64: saturates instead of wrapping.
pub(crate) fn db_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// What every read of entries selects: the bytes and the columns to check them against.
const ENTRY_COLUMNS: &str = "SELECT idx, entry, at, ins, actor_ref, action, outcome FROM entries";

fn find_sql(q: &EntryQuery) -> (String, Vec<Bind>) {
    let mut sql = format!("{ENTRY_COLUMNS} WHERE TRUE");
    let mut binds = Vec::new();
    if q.about_a_record {
        sql.push_str(" AND ins IS NOT NULL");
    }
    let mut filter = |condition: &str, bind: Bind| {
        binds.push(bind);
        sql.push_str(&format!(" AND {condition} ${}", binds.len()));
    };
    if let Some(ins) = &q.ins {
        filter("ins =", Bind::Text(ins.as_str().to_owned()));
    }
    if let Some(from) = q.from_ms {
        filter("at >=", Bind::Int(from));
    }
    if let Some(to) = q.to_ms {
        filter("at <", Bind::Int(to));
    }
    if let Some(actor) = &q.actor_ref {
        filter("actor_ref =", Bind::Text(actor.clone()));
    }
    if let Some(after) = q.after_index {
        filter("idx >", Bind::Int(db_int(after)));
    }
    if let Some(before) = q.before_index {
        filter("idx <", Bind::Int(db_int(before)));
    }
    let limit = if q.limit == 0 { MAX_PAGE } else { q.limit.min(MAX_PAGE) };
    binds.push(Bind::Int(i64::from(limit)));
    let order = if q.newest_first { "DESC" } else { "ASC" };
    sql.push_str(&format!(" ORDER BY idx {order} LIMIT ${}", binds.len()));
    (sql, binds)
}

/// `SELECT … FROM nodes WHERE (level = $1 AND idx = $2) OR …` for a set of nodes.
fn nodes_sql(ids: &[NodeId]) -> (String, Vec<i64>) {
    let mut sql = String::from("SELECT level, idx, hash FROM nodes WHERE ");
    let mut binds = Vec::with_capacity(ids.len() * 2);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str(&format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2));
        binds.push(i64::from(id.level));
        binds.push(db_int(id.index));
    }
    (sql, binds)
}

/// The nodes completed by appending leaves `[first, end)`: at each level, those whose last leaf
/// falls in the range.
fn completed_nodes_sql(first: u64, end: u64) -> Option<(String, Vec<i64>)> {
    let mut terms = Vec::new();
    let mut binds = Vec::new();
    for level in 0u32..63 {
        let width = 1u64 << level;
        let Some(hi) = (end >> level).checked_sub(1) else { break };
        let lo = (first.saturating_add(width) >> level).saturating_sub(1);
        if lo > hi {
            continue;
        }
        let n = binds.len();
        terms.push(format!("(level = ${} AND idx BETWEEN ${} AND ${})", n + 1, n + 2, n + 3));
        binds.extend([i64::from(level), db_int(lo), db_int(hi)]);
    }
    (!terms.is_empty()).then(|| (format!("SELECT level, idx, hash FROM nodes WHERE {} ORDER BY level, idx", terms.join(" OR ")), binds))
}

/// The queries both backends share, generated for one `sqlx::Database`.
macro_rules! shared_queries {
    ($db:ty) => {
        use sqlx::Row as _;

        fn head_row(row: &<$db as sqlx::Database>::Row) -> std::result::Result<HeadRow, sqlx::Error> {
            Ok(HeadRow {
                tree_size: row.try_get("tree_size")?,
                root: row.try_get("root")?,
                timestamp_ms: row.try_get("timestamp_ms")?,
                signature: row.try_get("signature")?,
            })
        }

        fn node_row(row: &<$db as sqlx::Database>::Row) -> std::result::Result<NodeRow, sqlx::Error> {
            Ok(NodeRow { level: row.try_get("level")?, idx: row.try_get("idx")?, hash: row.try_get("hash")? })
        }

        fn entry_row(row: &<$db as sqlx::Database>::Row) -> std::result::Result<EntryRow, sqlx::Error> {
            Ok(EntryRow {
                idx: row.try_get("idx")?,
                bytes: row.try_get("entry")?,
                columns: IndexedColumns {
                    at: row.try_get("at")?,
                    ins: row.try_get("ins")?,
                    actor_ref: row.try_get("actor_ref")?,
                    action: row.try_get("action")?,
                    outcome: row.try_get("outcome")?,
                },
            })
        }

        const HEAD_COLUMNS: &str = "SELECT tree_size, root, timestamp_ms, signature FROM tree_heads";

        pub(super) async fn latest_head<'e, E>(e: E) -> Result<Option<HeadRow>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let sql = format!("{HEAD_COLUMNS} ORDER BY tree_size DESC LIMIT 1");
            let row = sqlx::query(&sql).fetch_optional(e).await?;
            Ok(row.as_ref().map(head_row).transpose()?)
        }

        pub(super) async fn head_at<'e, E>(e: E, size: i64) -> Result<Option<HeadRow>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let sql = format!("{HEAD_COLUMNS} WHERE tree_size = $1");
            let row = sqlx::query(&sql).bind(size).fetch_optional(e).await?;
            Ok(row.as_ref().map(head_row).transpose()?)
        }

        pub(super) async fn heads_page<'e, E>(e: E, after_size: i64, limit: i64) -> Result<Vec<std::result::Result<HeadRow, String>>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let sql = format!("{HEAD_COLUMNS} WHERE tree_size > $1 ORDER BY tree_size LIMIT $2");
            let rows = sqlx::query(&sql).bind(after_size).bind(limit).fetch_all(e).await?;
            Ok(rows.iter().map(|r| head_row(r).map_err(|e| e.to_string())).collect())
        }

        pub(super) async fn max_index<'e, E>(e: E) -> Result<Option<i64>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let row = sqlx::query("SELECT MAX(idx) AS last FROM entries").fetch_one(e).await?;
            Ok(row.try_get::<Option<i64>, _>("last")?)
        }

        /// The given nodes (those that exist), in chunks to keep statements small.
        pub(super) async fn nodes(conn: &mut <$db as sqlx::Database>::Connection, ids: &[NodeId]) -> Result<Vec<NodeRow>> {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(200) {
                let (sql, binds) = nodes_sql(chunk);
                let mut query = sqlx::query(&sql);
                for b in binds {
                    query = query.bind(b);
                }
                for row in query.fetch_all(&mut *conn).await? {
                    out.push(node_row(&row)?);
                }
            }
            Ok(out)
        }

        pub(super) async fn nodes_of_pool(pool: &sqlx::Pool<$db>, ids: &[NodeId]) -> Result<Vec<NodeRow>> {
            let mut conn = pool.acquire().await?;
            nodes(&mut conn, ids).await
        }

        pub(super) async fn completed_nodes(
            pool: &sqlx::Pool<$db>,
            first: u64,
            end: u64,
        ) -> Result<Vec<std::result::Result<NodeRow, String>>> {
            let Some((sql, binds)) = completed_nodes_sql(first, end) else { return Ok(Vec::new()) };
            let mut query = sqlx::query(&sql);
            for b in binds {
                query = query.bind(b);
            }
            let rows = query.fetch_all(pool).await?;
            Ok(rows.iter().map(|r| node_row(r).map_err(|e| e.to_string())).collect())
        }

        pub(super) async fn entry<'e, E>(e: E, index: i64) -> Result<Option<EntryRow>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let sql = format!("{ENTRY_COLUMNS} WHERE idx = $1");
            let row = sqlx::query(&sql).bind(index).fetch_optional(e).await?;
            Ok(row.as_ref().map(entry_row).transpose()?)
        }

        pub(super) async fn entries_at<'e, E>(e: E, indices: &[i64]) -> Result<Vec<EntryRow>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let list: Vec<String> = (1..=indices.len()).map(|i| format!("${i}")).collect();
            let sql = format!("{ENTRY_COLUMNS} WHERE idx IN ({}) ORDER BY idx", list.join(", "));
            let mut query = sqlx::query(&sql);
            for i in indices {
                query = query.bind(*i);
            }
            let rows = query.fetch_all(e).await?;
            Ok(rows.iter().map(entry_row).collect::<std::result::Result<_, _>>()?)
        }

        pub(super) async fn entries_page<'e, E>(e: E, after: i64, limit: i64) -> Result<Vec<std::result::Result<EntryRow, String>>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let sql = format!("{ENTRY_COLUMNS} WHERE idx > $1 ORDER BY idx LIMIT $2");
            let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(e).await?;
            Ok(rows.iter().map(|r| entry_row(r).map_err(|e| e.to_string())).collect())
        }

        pub(super) async fn find<'e, E>(e: E, q: &EntryQuery) -> Result<Vec<EntryRow>>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let (sql, binds) = find_sql(q);
            let mut query = sqlx::query(&sql);
            for b in binds {
                query = match b {
                    Bind::Int(i) => query.bind(i),
                    Bind::Text(t) => query.bind(t),
                };
            }
            let rows = query.fetch_all(e).await?;
            Ok(rows.iter().map(entry_row).collect::<std::result::Result<_, _>>()?)
        }

        /// The state to append to: `cached` if it is still the latest signed head (the usual
        /// case), else rebuilt from the store — after a failed commit, or another writer's.
        pub(super) async fn current_state(
            conn: &mut <$db as sqlx::Database>::Connection,
            cached: Option<TreeState>,
        ) -> Result<(TreeState, bool)> {
            let head = latest_head(&mut *conn).await?.map(|r| r.parse()).transpose().map_err(LedgerError::Corrupt)?;
            if let (Some(state), Some(h)) = (cached, head.as_ref()) {
                if state.matches(h) {
                    return Ok((state, true));
                }
            }
            let stored = max_index(&mut *conn).await?.map_or(0, |last| last.saturating_add(1));
            let stored = u64::try_from(stored).map_err(|_| LedgerError::Corrupt("negative leaf index".into()))?;
            let size = head.as_ref().map_or(0, |h| h.head.tree_size);
            let border = nodes(&mut *conn, &CompactRange::border_nodes(size)).await?;
            Ok((TreeState::rebuild(head.as_ref(), stored, &border)?, head.is_some()))
        }
    };
}
use shared_queries;

impl LedgerStore {
    /// Opens `sqlite://PATH` (created if missing; use a file of its own, e.g.
    /// `<data_dir>/ledger.db`) or `postgres://…` (schema `ledger`), and migrates it.
    pub async fn open(url: &str) -> Result<LedgerStore> {
        let pool = if url.starts_with("sqlite:") {
            Pool::Sqlite(sqlite::connect(url).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Pool::Postgres(postgres::connect(url).await?)
        } else {
            return Err(LedgerError::Url(format!(
                "unsupported ledger URL scheme {:?}: use sqlite://PATH or postgres://…",
                url.split(':').next().unwrap_or_default()
            )));
        };
        Ok(LedgerStore { pool })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// The newest signed tree head; `None` only before a `Ledger` first started on this store.
    pub async fn latest_tree_head(&self) -> Result<Option<SignedTreeHead>> {
        let row = dispatch!(self, latest_head())?;
        row.map(|r| r.parse().map_err(LedgerError::Corrupt)).transpose()
    }

    /// The committed size: entries covered by the newest signed tree head.
    pub async fn size(&self) -> Result<u64> {
        Ok(self.latest_tree_head().await?.map_or(0, |h| h.head.tree_size))
    }

    /// The head signed at exactly `size` (heads are signed once per committed batch).
    pub async fn tree_head_at(&self, size: u64) -> Result<SignedTreeHead> {
        let current = self.size().await?;
        if size > current {
            return Err(LedgerError::BeyondTree { what: "tree size", requested: size, size: current });
        }
        let row = dispatch!(self, head_at(db_int(size)))?.ok_or(LedgerError::UnknownTreeHead { size })?;
        row.parse().map_err(LedgerError::Corrupt)
    }

    /// Proof that entry `index` is in the tree of `tree_size` (any size up to the current one;
    /// clients check it against a signed head of that size).
    pub async fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<InclusionProof> {
        let current = self.size().await?;
        if tree_size > current {
            return Err(LedgerError::BeyondTree { what: "tree size", requested: tree_size, size: current });
        }
        if index >= tree_size {
            return Err(LedgerError::BeyondTree { what: "leaf index", requested: index, size: tree_size });
        }
        let path = self.assemble(inclusion_plan(index, tree_size)).await?;
        Ok(InclusionProof { leaf_index: index, tree_size, path })
    }

    /// Inclusion proofs of several entries in the same tree (a page of a history), their nodes
    /// read together. In the order of `indices`.
    pub async fn inclusion_proofs(&self, indices: &[u64], tree_size: u64) -> Result<Vec<InclusionProof>> {
        let current = self.size().await?;
        if tree_size > current {
            return Err(LedgerError::BeyondTree { what: "tree size", requested: tree_size, size: current });
        }
        if let Some(&index) = indices.iter().find(|&&i| i >= tree_size) {
            return Err(LedgerError::BeyondTree { what: "leaf index", requested: index, size: tree_size });
        }
        let plans: Vec<_> = indices.iter().map(|&i| inclusion_plan(i, tree_size)).collect();
        let mut ids: Vec<NodeId> = plans.iter().flat_map(|p| p.nodes()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        // Bounded statements: a page's proofs share most of their upper nodes anyway.
        for chunk in ids.chunks(1000) {
            let rows = dispatch!(self, nodes_of_pool(chunk))?;
            found.extend(rows.iter().filter_map(|r| Some((r.id()?, r.hash_array()?))));
        }
        plans
            .iter()
            .zip(indices)
            .map(|(plan, &leaf_index)| {
                let path = plan
                    .assemble(|id| found.get(&id).copied())
                    .map_err(|id| LedgerError::Corrupt(format!("subtree node {id:?} is missing or malformed")))?;
                Ok(InclusionProof { leaf_index, tree_size, path })
            })
            .collect()
    }

    /// Proof that the tree of `old` is a prefix of the tree of `new`.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof> {
        if old > new {
            return Err(LedgerError::InvalidRange { old, new });
        }
        let current = self.size().await?;
        if new > current {
            return Err(LedgerError::BeyondTree { what: "tree size", requested: new, size: current });
        }
        let path = self.assemble(consistency_plan(old, new)).await?;
        Ok(ConsistencyProof { old_size: old, new_size: new, path })
    }

    async fn assemble(&self, plan: crate::merkle::ProofPlan) -> Result<Vec<Hash>> {
        let ids = plan.nodes();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = dispatch!(self, nodes_of_pool(&ids))?;
        let found: std::collections::HashMap<NodeId, Hash> = rows.iter().filter_map(|r| Some((r.id()?, r.hash_array()?))).collect();
        plan.assemble(|id| found.get(&id).copied())
            .map_err(|id| LedgerError::Corrupt(format!("subtree node {id:?} is missing or malformed")))
    }

    /// The committed entry at `index`.
    pub async fn entry(&self, index: u64) -> Result<RecordedEntry> {
        let current = self.size().await?;
        if index >= current {
            return Err(LedgerError::BeyondTree { what: "leaf index", requested: index, size: current });
        }
        let row = dispatch!(self, entry(db_int(index)))?.ok_or_else(|| LedgerError::Corrupt(format!("entry {index} is missing")))?;
        recorded(row)
    }

    /// The entries at these leaf indices, in index order (an index beyond the tree is left out).
    /// At most `MAX_PAGE` indices are read: a caller shows one page of them.
    pub async fn entries_at(&self, indices: &[u64]) -> Result<Vec<RecordedEntry>> {
        let indices: Vec<i64> = indices.iter().take(MAX_PAGE as usize).map(|&i| db_int(i)).collect();
        if indices.is_empty() {
            return Ok(vec![]);
        }
        served(dispatch!(self, entries_at(&indices))?)
    }

    /// A page of entries matching `query`, oldest first (see `EntryQuery`). The search runs on
    /// the indexed columns, which the hash does not cover: an entry whose columns disagree with
    /// its hashed bytes (changed behind the ledger's back) is left out and logged, never served
    /// under a patient or an actor its bytes do not name. `carnet ledger verify` reports it.
    pub async fn find_entries(&self, query: &EntryQuery) -> Result<Vec<RecordedEntry>> {
        served(dispatch!(self, find(query))?)
    }

    /// Bytes the ledger's tables occupy (SQLite: the database's pages; PostgreSQL: the three
    /// tables with their indexes and TOAST).
    pub async fn storage_bytes(&self) -> Result<u64> {
        let bytes = match &self.pool {
            Pool::Sqlite(p) => sqlite::storage_bytes(p).await?,
            Pool::Postgres(p) => postgres::storage_bytes(p).await?,
        };
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Commits one batch in one transaction (see `Commit`). `state` is the appender's cache: taken,
    /// and put back only if the commit succeeded.
    pub(crate) async fn commit(&self, state: &mut Option<TreeState>, batch: Commit<'_>) -> Result<Committed> {
        dispatch!(self, commit(state, batch))
    }

    pub(crate) async fn entries_page(&self, after: i64, limit: i64) -> Result<Vec<Result<EntryRow, String>>> {
        dispatch!(self, entries_page(after, limit))
    }

    pub(crate) async fn heads_page(&self, after_size: i64, limit: i64) -> Result<Vec<Result<HeadRow, String>>> {
        dispatch!(self, heads_page(after_size, limit))
    }

    pub(crate) async fn completed_nodes(&self, first: u64, end: u64) -> Result<Vec<Result<NodeRow, String>>> {
        dispatch!(self, completed_nodes(first, end))
    }
}

/// The rows a search found, as entries: one whose columns disagree with its hashed bytes is left
/// out and logged (it was found by a column that lies).
fn served(rows: Vec<EntryRow>) -> Result<Vec<RecordedEntry>> {
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        match recorded(row) {
            Ok(entry) => found.push(entry),
            Err(LedgerError::ColumnsDisagree { index, column }) => {
                tracing::error!(
                    index,
                    column,
                    "a ledger entry's indexed column disagrees with its hashed bytes: left out (run `carnet ledger verify`)"
                );
            }
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

fn recorded(row: EntryRow) -> Result<RecordedEntry> {
    let index = u64::try_from(row.idx).map_err(|_| LedgerError::Corrupt(format!("negative leaf index {}", row.idx)))?;
    let entry = LedgerEntry::from_canonical_bytes(&row.bytes)?;
    if let Some(column) = row.columns.disagreement(&entry) {
        return Err(LedgerError::ColumnsDisagree { index, column });
    }
    Ok(RecordedEntry { index, entry, bytes: row.bytes })
}

/// The body of `commit`, the same on both backends once the transaction is open and locked.
macro_rules! commit_body {
    ($tx:ident, $state:ident, $batch:ident, $insert:path) => {{
        let cached = $state.take();
        let (current, has_head) = current_state(&mut *$tx, cached).await?;
        if $batch.entries.is_empty() && has_head {
            let size = current.range.size();
            *$state = Some(current);
            return Ok(Committed { first_index: size, tree_size: size });
        }
        let prepared = PreparedBatch::new(&current, $batch.entries, $batch.signer, $batch.now_ms);
        $insert(&mut *$tx, &prepared, $batch.entries).await?;
        sqlx::query("INSERT INTO tree_heads (tree_size, root, timestamp_ms, signature) VALUES ($1, $2, $3, $4)")
            .bind(db_int(prepared.head.head.tree_size))
            .bind(prepared.head.head.root_hash.to_vec())
            .bind(db_int(prepared.head.head.timestamp_ms))
            .bind(prepared.head.signature.to_vec())
            .execute(&mut *$tx)
            .await?;
        $tx.commit().await?;
        let committed = Committed { first_index: prepared.first_index, tree_size: prepared.head.head.tree_size };
        *$state = Some(prepared.state);
        Ok(committed)
    }};
}
use commit_body;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_nodes_cover_exactly_the_nodes_a_page_of_appends_creates() {
        for (first, end) in [(0u64, 1u64), (0, 100), (5, 9), (100, 228), (1023, 1025), (7, 8)] {
            let mut expected = Vec::new();
            let mut range = CompactRange::new();
            for i in 0..end {
                range.append(leaf_hash(&i.to_be_bytes()), |id, _| {
                    if i >= first {
                        expected.push(id);
                    }
                });
            }
            expected.sort();
            let (sql, binds) = completed_nodes_sql(first, end).unwrap_or_default();
            let mut got = Vec::new();
            for (t, chunk) in binds.chunks(3).enumerate() {
                assert!(sql.contains(&format!("${}", 3 * t + 1)));
                for idx in chunk[1]..=chunk[2] {
                    got.push(NodeId::new(chunk[0] as u8, idx as u64));
                }
            }
            got.sort();
            assert_eq!(got, expected, "[{first}, {end})");
        }
    }

    #[test]
    fn the_search_binds_only_the_filters_given() {
        let (sql, binds) = find_sql(&EntryQuery { after_index: Some(3), limit: 5000, ..Default::default() });
        assert_eq!(
            sql,
            "SELECT idx, entry, at, ins, actor_ref, action, outcome FROM entries WHERE TRUE AND idx > $1 ORDER BY idx ASC LIMIT $2"
        );
        assert!(matches!(binds[..], [Bind::Int(3), Bind::Int(1000)]));
    }
}
