//! `ProfileStore`: the medical profile's items (migration 0015). Rows hold the item's queryable
//! metadata; what it says is a sealed blob the service opens (this crate never sees it in clear).

use std::future::Future;
use std::sync::Arc;

use carnet_domain::profile::{ItemId, ItemKind, ItemMeta, ItemOrigin, ItemStatus};
use carnet_domain::{DocumentId, DocumentMeta, Ins};

use crate::database::on_pool;
use crate::documents::{GENERATION_SQL, corrupt, document_writes};
use crate::submissions::{NewSetDocument, StoredSubmissionSet, submission_writes};
use crate::time_codec::{from_millis, opt_from_millis, to_millis};
use crate::writes::{Statement, Writes};
use crate::{Database, OutboxMessage, Result, StoreError};

/// An item as stored: its metadata and its sealed content. An item read from a document has its
/// place in the document (`ItemOrigin::Document::path`) sealed with the content: read back, the
/// metadata's path is empty until the service opens the content.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    pub meta: ItemMeta,
    pub sealed: Vec<u8>,
}

pub trait ProfileStore {
    /// `DocumentStore::insert_document` with the items read from the document, in the same
    /// transaction: the document and its items land together or not at all.
    fn insert_document_with_items(
        &self,
        meta: &DocumentMeta,
        title_sealed: Option<&[u8]>,
        supersedes: Option<DocumentId>,
        notify: &[OutboxMessage],
        items: &[StoredItem],
    ) -> impl Future<Output = Result<()>> + Send;
    /// `SubmissionStore::insert_submission` with the items read from its documents, in the same transaction.
    fn insert_submission_with_items(
        &self,
        set: &StoredSubmissionSet,
        documents: &[NewSetDocument<'_>],
        notify: &[OutboxMessage],
        items: &[StoredItem],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Direct entries, or an import's items: all of them land in one transaction or none does.
    fn insert_items(&self, items: &[StoredItem]) -> impl Future<Output = Result<()>> + Send;
    /// A correction: `item` (which names `old` in `replaces`) goes in and `old`, read as current,
    /// becomes superseded, in one transaction; `Stale` if `old` is no longer current.
    fn correct_item(&self, old: ItemId, item: &StoredItem) -> impl Future<Output = Result<()>> + Send;
    /// Marks a current item entered in error; `Stale` if it is no longer current. If it corrected
    /// an item read from a still-current document, that item is current again.
    fn mark_item_entered_in_error(&self, id: ItemId) -> impl Future<Output = Result<()>> + Send;
    /// A record's items, every status, optionally of one kind; by effective date (newest first,
    /// undated last), then id.
    fn find_items_of(&self, ins: &Ins, kind: Option<ItemKind>) -> impl Future<Output = Result<Vec<StoredItem>>> + Send;
    /// All of a record's items as `find_items_of` orders them, at the record's generation as the
    /// caller read it (the one `find_documents_at` takes): from this node's cache while that is
    /// still the record's generation, so that reading a profile does not read its rows again.
    fn find_items_at(&self, ins: &Ins, generation: i64) -> impl Future<Output = Result<Arc<[StoredItem]>>> + Send;
    fn find_item(&self, id: ItemId) -> impl Future<Output = Result<Option<StoredItem>>> + Send;
}

const ITEM_COLUMNS: &str = "id, ins, kind, origin, source_document, recorded_by, recorded_at, effective, status, replaces, sealed";

const INSERT_ITEM: &str = "INSERT INTO profile_items (id, ins, kind, origin, source_document, recorded_by, recorded_at, effective, status, \
     replaces, sealed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)";

fn origin_text(origin: &ItemOrigin) -> &'static str {
    match origin {
        ItemOrigin::Document { .. } => "document",
        ItemOrigin::Patient => "patient",
        ItemOrigin::Professional => "professional",
    }
}

/// All of a deposit's items in ONE statement of one parameter, a JSON array of rows that the
/// database unpacks (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). Its text never
/// changes, so a deposit's whole transaction keeps one shape that SQLite keeps prepared, and its
/// binding is one value: with a parameter per column, a 50-item deposit bound ~550 parameters, and
/// SQLite looks each one's name up in a list (the cost grew with the square of the count).
pub(crate) fn insert_statement(backend: crate::Backend, items: &[StoredItem]) -> Result<Option<Statement<'static>>> {
    if items.is_empty() {
        return Ok(None);
    }
    let rows: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            let m = &item.meta;
            serde_json::json!([
                m.id.to_string(),
                m.ins.as_str(),
                m.kind.as_str(),
                origin_text(&m.origin),
                m.origin.source_document().map(|d| d.to_string()),
                m.recorded_by,
                to_millis(m.recorded_at),
                m.effective.map(to_millis),
                m.status.as_str(),
                m.replaces.map(|r| r.to_string()),
                carnet_domain::hex::encode(&item.sealed),
            ])
        })
        .collect();
    let json = serde_json::to_string(&rows).map_err(|e| corrupt("profile items", e))?;
    let sql = match backend {
        crate::Backend::Sqlite => INSERT_ITEMS_SQLITE,
        crate::Backend::Postgres => INSERT_ITEMS_POSTGRES,
    };
    Ok(Some(Statement::new(sql).text(json)))
}

const INSERT_ITEMS_SQLITE: &str = "INSERT INTO profile_items (id, ins, kind, origin, source_document, recorded_by, recorded_at, effective, \
     status, replaces, sealed) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
     value ->> 7, value ->> 8, value ->> 9, unhex(value ->> 10) FROM json_each($1) ORDER BY key";

const INSERT_ITEMS_POSTGRES: &str = "INSERT INTO profile_items (id, ins, kind, origin, source_document, recorded_by, recorded_at, effective, \
     status, replaces, sealed) SELECT r ->> 0, r ->> 1, r ->> 2, r ->> 3, r ->> 4, r ->> 5, (r ->> 6)::bigint, (r ->> 7)::bigint, \
     r ->> 8, r ->> 9, decode(r ->> 10, 'hex') FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t (r, n) ORDER BY n";

fn bind_item<'a>(s: Statement<'a>, item: &'a StoredItem) -> Statement<'a> {
    let m = &item.meta;
    s.text(m.id.to_string())
        .text(m.ins.as_str())
        .text(m.kind.as_str())
        .text(origin_text(&m.origin))
        .opt_text(m.origin.source_document().map(|d| d.to_string()))
        .text(m.recorded_by.as_str())
        .int(to_millis(m.recorded_at))
        .opt_int(m.effective.map(to_millis))
        .text(m.status.as_str())
        .opt_text(m.replaces.map(|r| r.to_string()))
        .bytes(item.sealed.as_slice())
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: String,
    ins: String,
    kind: String,
    origin: String,
    source_document: Option<String>,
    recorded_by: String,
    recorded_at: i64,
    effective: Option<i64>,
    status: String,
    replaces: Option<String>,
    sealed: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct GenerationItemRow {
    generation: i64,
    #[sqlx(flatten)]
    item: ItemRow,
}

impl ItemRow {
    fn into_item(self) -> Result<StoredItem> {
        let item_id = |s: &str| ItemId::parse(s).map_err(|e| corrupt("profile item id", e));
        let origin = match (self.origin.as_str(), self.source_document) {
            ("document", Some(d)) => {
                ItemOrigin::Document { document: DocumentId::parse(&d).map_err(|e| corrupt("document id", e))?, path: String::new() }
            }
            ("patient", None) => ItemOrigin::Patient,
            ("professional", None) => ItemOrigin::Professional,
            (other, _) => return Err(corrupt("profile item origin", other)),
        };
        Ok(StoredItem {
            meta: ItemMeta {
                id: item_id(&self.id)?,
                ins: Ins::parse(&self.ins).map_err(|e| corrupt("INS", e))?,
                kind: ItemKind::parse(&self.kind).ok_or_else(|| corrupt("profile item kind", &self.kind))?,
                origin,
                recorded_by: self.recorded_by,
                recorded_at: from_millis(self.recorded_at)?,
                effective: opt_from_millis(self.effective)?,
                status: ItemStatus::parse(&self.status).ok_or_else(|| corrupt("profile item status", &self.status))?,
                replaces: self.replaces.as_deref().map(item_id).transpose()?,
            },
            sealed: self.sealed,
        })
    }
}

/// The profile cache: each record's sealed items (nothing in clear: the service opens them per
/// request) as read at a generation, the count of the record's `document_changes`, which direct
/// items move too (migration 0018). The documents cache's argument holds: changes only add rows,
/// so an unchanged count means unchanged items, on any node. Bounded: cleared when it holds more
/// than `CACHED_ITEMS` items.
#[derive(Debug, Default)]
pub(crate) struct ProfileCache {
    records: std::collections::HashMap<Ins, (i64, Arc<[StoredItem]>)>,
    items: usize,
}

/// About 0.6 KiB each sealed: ~12 MiB at most.
const CACHED_ITEMS: usize = 20_000;

const ORDER_ITEMS: &str = "ORDER BY CASE WHEN effective IS NULL THEN 1 ELSE 0 END, effective DESC, id";

impl Database {
    fn cached_items(&self, ins: &Ins, generation: i64) -> Option<Arc<[StoredItem]>> {
        let cache = self.profile_cache.lock().ok()?;
        cache.records.get(ins).filter(|(at, _)| *at == generation).map(|(_, items)| items.clone())
    }

    fn cache_items(&self, ins: &Ins, generation: i64, items: &Arc<[StoredItem]>) {
        let Ok(mut cache) = self.profile_cache.lock() else { return };
        if items.len() > CACHED_ITEMS {
            return;
        }
        if cache.items + items.len() > CACHED_ITEMS {
            cache.records.clear();
            cache.items = 0;
        }
        let replaced = cache.records.insert(ins.clone(), (generation, items.clone()));
        cache.items = cache.items + items.len() - replaced.map_or(0, |(_, old)| old.len());
    }
}

fn unique_violation(result: Result<()>, what: &'static str) -> Result<()> {
    match result {
        Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => Err(StoreError::Conflict(what)),
        other => other,
    }
}

impl ProfileStore for Database {
    async fn insert_document_with_items(
        &self,
        meta: &DocumentMeta,
        title_sealed: Option<&[u8]>,
        supersedes: Option<DocumentId>,
        notify: &[OutboxMessage],
        items: &[StoredItem],
    ) -> Result<()> {
        let mut writes = Writes::default();
        document_writes(&mut writes, meta, title_sealed, supersedes)?;
        if let Some(statement) = insert_statement(self.backend(), items)? {
            writes.push(statement);
        }
        for m in notify {
            writes.push(crate::policy::outbox_statement(m));
        }
        unique_violation(self.write_atomically(&writes).await, "a document with this unique id exists")
    }

    async fn insert_submission_with_items(
        &self,
        set: &StoredSubmissionSet,
        documents: &[NewSetDocument<'_>],
        notify: &[OutboxMessage],
        items: &[StoredItem],
    ) -> Result<()> {
        let mut writes = Writes::default();
        submission_writes(&mut writes, set, documents, notify)?;
        if let Some(statement) = insert_statement(self.backend(), items)? {
            writes.push(statement);
        }
        unique_violation(self.write_atomically(&writes).await, "a submission set or document with this unique id exists")
    }

    async fn insert_items(&self, items: &[StoredItem]) -> Result<()> {
        let mut writes = Writes::default();
        if let Some(statement) = insert_statement(self.backend(), items)? {
            writes.push(statement);
        }
        unique_violation(self.write_atomically(&writes).await, "a profile item with this id exists")
    }

    async fn correct_item(&self, old: ItemId, item: &StoredItem) -> Result<()> {
        let mut writes = Writes::default();
        writes.guard(
            Statement::new("UPDATE profile_items SET status = 'superseded' WHERE id = $1 AND status = 'current'").text(old.to_string()),
            "profile item",
        );
        writes.push(bind_item(Statement::new(INSERT_ITEM), item));
        unique_violation(self.write_atomically(&writes).await, "a profile item with this id exists")
    }

    async fn mark_item_entered_in_error(&self, id: ItemId) -> Result<()> {
        let mut writes = Writes::default();
        writes.guard(
            Statement::new("UPDATE profile_items SET status = 'entered-in-error' WHERE id = $1 AND status = 'current'")
                .text(id.to_string()),
            "profile item",
        );
        // Withdrawing a patient's correction of an item read from a document puts the document's
        // item back, unless the document itself was replaced or withdrawn meanwhile.
        writes.push(
            Statement::new(
                "UPDATE profile_items SET status = 'current' WHERE id = (SELECT replaces FROM profile_items WHERE id = $1) \
                 AND status = 'superseded' AND EXISTS \
                 (SELECT 1 FROM documents d WHERE d.id = profile_items.source_document AND d.status = 'current')",
            )
            .text(id.to_string()),
        );
        self.write_atomically(&writes).await
    }

    async fn find_items_of(&self, ins: &Ins, kind: Option<ItemKind>) -> Result<Vec<StoredItem>> {
        let generation: i64 = on_pool!(self, |pool| sqlx::query_scalar(GENERATION_SQL).bind(ins.as_str()).fetch_one(pool).await)?;
        let items = self.find_items_at(ins, generation).await?;
        Ok(items.iter().filter(|i| kind.is_none_or(|k| i.meta.kind == k)).cloned().collect())
    }

    async fn find_items_at(&self, ins: &Ins, generation: i64) -> Result<Arc<[StoredItem]>> {
        if generation == 0 {
            // Nothing was ever written for this record.
            return Ok(Arc::from([]));
        }
        if let Some(items) = self.cached_items(ins, generation) {
            return Ok(items);
        }
        // The items and their generation in one statement, so that they belong to one snapshot.
        // Undated items last on both backends (PostgreSQL sorts NULLs first when descending).
        let sql = format!("SELECT ({GENERATION_SQL}) AS generation, {ITEM_COLUMNS} FROM profile_items WHERE ins = $1 {ORDER_ITEMS}");
        let rows: Vec<GenerationItemRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).fetch_all(pool).await)?;
        let Some(read_at) = rows.first().map(|r| r.generation) else { return Ok(Arc::from([])) };
        let items: Arc<[StoredItem]> = rows.into_iter().map(|r| r.item.into_item()).collect::<Result<Vec<_>>>()?.into();
        self.cache_items(ins, read_at, &items);
        Ok(items)
    }

    async fn find_item(&self, id: ItemId) -> Result<Option<StoredItem>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM profile_items WHERE id = $1");
        let row: Option<ItemRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(pool).await)?;
        row.map(ItemRow::into_item).transpose()
    }
}
