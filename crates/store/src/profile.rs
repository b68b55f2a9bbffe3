//! `ProfileStore`: the medical profile's items. Direct items are one row each (`profile_items`,
//! migration 0015); the items read from one document are one row together (`profile_item_sets`,
//! migration 0019), numbered so that an item's id finds its set (`ItemId::in_set`). Either way the
//! queryable metadata is in clear and what an item says is a sealed blob the service opens (this
//! crate never sees it in clear).

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

/// A correction goes in only while the item it corrects is current, wherever that item is: a
/// current row of `profile_items`, or the `$14`th item of set `$13` whose document is current and
/// that no live correction names yet. (Two corrections of one version at once: the unique index
/// `profile_items_corrected_once` refuses the second.)
const INSERT_CORRECTION: &str = "INSERT INTO profile_items (id, ins, kind, origin, source_document, recorded_by, recorded_at, effective, \
     status, replaces, sealed) SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11 \
     WHERE EXISTS (SELECT 1 FROM profile_items WHERE id = $12 AND status = 'current') \
     OR (EXISTS (SELECT 1 FROM profile_item_sets s JOIN documents d ON d.id = s.document \
                 WHERE s.id = $13 AND $14 < s.count AND d.status = 'current') \
         AND NOT EXISTS (SELECT 1 FROM profile_items WHERE replaces = $12 AND status <> 'entered-in-error'))";

fn origin_text(origin: &ItemOrigin) -> &'static str {
    match origin {
        ItemOrigin::Document { .. } => "document",
        ItemOrigin::Patient => "patient",
        ItemOrigin::Professional => "professional",
    }
}

/// The statements that store `items`: the items read from one document, numbered as one set
/// (`ItemId::in_set`, as the service numbers a deposit's), go in one `profile_item_sets` row;
/// any other item (direct entries, imports, and document items numbered otherwise, as before
/// migration 0019) in one `profile_items` row each. A document's items come together.
pub(crate) fn item_statements(backend: crate::Backend, items: &[StoredItem]) -> Result<Vec<Statement<'static>>> {
    let mut statements = Vec::new();
    let mut rows = Vec::new();
    let mut rest = items;
    while let Some(first) = rest.first() {
        let Some(document) = first.meta.origin.source_document() else {
            rows.push(first);
            rest = &rest[1..];
            continue;
        };
        let len = rest.iter().take_while(|i| i.meta.origin.source_document() == Some(document)).count();
        let (group, tail) = rest.split_at(len);
        rest = tail;
        match numbered_set(group) {
            Some(set) => statements.push(set_statement(set, document, group)?),
            None => rows.extend(group),
        }
    }
    statements.extend(insert_statement(backend, &rows)?);
    Ok(statements)
}

/// The set's id if `group` (items read from one document) is numbered as one set, in order, and
/// holds nothing a set does not keep (a version chain, a stored status, another record).
fn numbered_set(group: &[StoredItem]) -> Option<ItemId> {
    let first = group.first()?;
    let (set, _) = first.meta.id.set_and_place();
    let numbered = group.iter().enumerate().all(|(place, item)| {
        u16::try_from(place).is_ok_and(|place| item.meta.id == ItemId::in_set(set, place))
            && item.meta.ins == first.meta.ins
            && item.meta.status == ItemStatus::Current
            && item.meta.replaces.is_none()
    });
    numbered.then_some(set)
}

const INSERT_SET: &str = "INSERT INTO profile_item_sets (id, document, ins, count, items) VALUES ($1,$2,$3,$4,$5)";

fn set_statement(set: ItemId, document: DocumentId, group: &[StoredItem]) -> Result<Statement<'static>> {
    let count = i64::try_from(group.len()).map_err(|e| corrupt("profile item set", e))?;
    Ok(Statement::new(INSERT_SET)
        .text(set.to_string())
        .text(document.to_string())
        .text(group[0].meta.ins.as_str().to_owned())
        .int(count)
        .bytes(encode_set(group)?))
}

/// A set's `items`, layout 1: per item, in place order, its kind, who recorded it, when (ms), its
/// effective date (a flag, then ms) and its sealed content; texts and content length-prefixed
/// (u32, big-endian). Written and read only here.
const SET_LAYOUT: u8 = 1;

fn encode_set(items: &[StoredItem]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 + items.iter().map(|i| i.sealed.len() + 64).sum::<usize>());
    out.push(SET_LAYOUT);
    for item in items {
        let m = &item.meta;
        put(&mut out, m.kind.as_str().as_bytes())?;
        put(&mut out, m.recorded_by.as_bytes())?;
        out.extend_from_slice(&to_millis(m.recorded_at).to_be_bytes());
        match m.effective {
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&to_millis(t).to_be_bytes());
            }
            None => out.push(0),
        }
        put(&mut out, &item.sealed)?;
    }
    Ok(out)
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|e| corrupt("profile item set", e))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Reads a set's `items` back; what does not read is `Corrupt`, never a panic.
struct SetReader<'a> {
    rest: &'a [u8],
}

impl<'a> SetReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(corrupt("profile item set", "truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn int(&mut self) -> Result<i64> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|e| corrupt("profile item set", e))?;
        Ok(i64::from_be_bytes(bytes))
    }

    fn prefixed(&mut self) -> Result<&'a [u8]> {
        let bytes: [u8; 4] = self.take(4)?.try_into().map_err(|e| corrupt("profile item set", e))?;
        let len = usize::try_from(u32::from_be_bytes(bytes)).map_err(|e| corrupt("profile item set", e))?;
        self.take(len)
    }

    fn text(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.prefixed()?).map_err(|e| corrupt("profile item set", e))
    }
}

/// What the store keeps of a set besides its items: whose, from which document, and whether that
/// document is still current.
struct SetOf {
    set: ItemId,
    ins: Ins,
    document: DocumentId,
    document_superseded: bool,
}

/// A set's items as stored items. One is superseded when its document is, or while `corrected`
/// says a live correction names it; else current.
fn set_items(of: &SetOf, blob: &[u8], corrected: &dyn Fn(ItemId) -> bool) -> Result<Vec<StoredItem>> {
    let mut reader = SetReader { rest: blob };
    if reader.take(1)? != [SET_LAYOUT] {
        return Err(corrupt("profile item set", "unknown layout"));
    }
    let mut items = Vec::new();
    while !reader.rest.is_empty() {
        let place = u16::try_from(items.len()).map_err(|e| corrupt("profile item set", e))?;
        let id = ItemId::in_set(of.set, place);
        let kind = reader.text()?;
        let kind = ItemKind::parse(kind).ok_or_else(|| corrupt("profile item kind", kind))?;
        let recorded_by = reader.text()?.to_owned();
        let recorded_at = from_millis(reader.int()?)?;
        let effective = match reader.take(1)? {
            [0] => None,
            [1] => Some(from_millis(reader.int()?)?),
            _ => return Err(corrupt("profile item set", "effective date flag")),
        };
        let sealed = reader.prefixed()?.to_vec();
        let status = if of.document_superseded || corrected(id) { ItemStatus::Superseded } else { ItemStatus::Current };
        items.push(StoredItem {
            meta: ItemMeta {
                id,
                ins: of.ins.clone(),
                kind,
                origin: ItemOrigin::Document { document: of.document, path: String::new() },
                recorded_by,
                recorded_at,
                effective,
                status,
                replaces: None,
            },
            sealed,
        });
    }
    Ok(items)
}

/// `items` in ONE statement of one parameter, a JSON array of rows that the database unpacks
/// (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). Its text never changes, so a
/// transaction keeps one shape that SQLite keeps prepared, and its binding is one value: with a
/// parameter per column, 50 items bound ~550 parameters, and SQLite looks each one's name up in a
/// list (the cost grew with the square of the count).
fn insert_statement(backend: crate::Backend, items: &[&StoredItem]) -> Result<Option<Statement<'static>>> {
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

/// A `profile_items` row, or a `profile_item_sets` row in the same columns (`origin` 'set', the
/// document's status in `status`, the set's items in `sealed`; see `SET_COLUMNS`).
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

/// A set's row in `ITEM_COLUMNS`' shape, for one statement over both tables.
const SET_COLUMNS: &str = "s.id, s.ins, '' AS kind, 'set' AS origin, s.document AS source_document, '' AS recorded_by, \
     CAST(0 AS BIGINT) AS recorded_at, CAST(NULL AS BIGINT) AS effective, d.status, CAST(NULL AS TEXT) AS replaces, s.items AS sealed";

#[derive(sqlx::FromRow)]
struct GenerationItemRow {
    generation: i64,
    #[sqlx(flatten)]
    item: ItemRow,
}

fn item_id(s: &str) -> Result<ItemId> {
    ItemId::parse(s).map_err(|e| corrupt("profile item id", e))
}

impl ItemRow {
    /// A live correction's target: the item it names is superseded while it stands.
    fn corrects(&self) -> Option<&str> {
        (self.origin != "set" && self.status != ItemStatus::EnteredInError.as_str()).then_some(self.replaces.as_deref()).flatten()
    }

    /// The row's item, or its set's items.
    fn into_items(self, corrected: &dyn Fn(ItemId) -> bool, out: &mut Vec<StoredItem>) -> Result<()> {
        if self.origin == "set" {
            let of = SetOf {
                set: item_id(&self.id)?,
                ins: Ins::parse(&self.ins).map_err(|e| corrupt("INS", e))?,
                document: DocumentId::parse(self.source_document.as_deref().unwrap_or_default()).map_err(|e| corrupt("document id", e))?,
                document_superseded: self.status == "superseded",
            };
            out.extend(set_items(&of, &self.sealed, corrected)?);
            return Ok(());
        }
        out.push(self.into_item()?);
        Ok(())
    }

    fn into_item(self) -> Result<StoredItem> {
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

/// Items read from rows of both tables: a set's items take their status from the corrections
/// among `rows`, which must hold every live correction naming them (a record's rows do).
fn items_of_rows(rows: Vec<ItemRow>) -> Result<Vec<StoredItem>> {
    let corrected: std::collections::HashSet<ItemId> = rows.iter().filter_map(ItemRow::corrects).map(item_id).collect::<Result<_>>()?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        row.into_items(&|id| corrected.contains(&id), &mut items)?;
    }
    Ok(items)
}

/// `find_items_of`'s order: newest effective first, undated last, then by id.
fn sort_items(items: &mut [StoredItem]) {
    items.sort_by_key(|i| (i.meta.effective.is_none(), std::cmp::Reverse(i.meta.effective), i.meta.id));
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
        for statement in item_statements(self.backend(), items)? {
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
        for statement in item_statements(self.backend(), items)? {
            writes.push(statement);
        }
        unique_violation(self.write_atomically(&writes).await, "a submission set or document with this unique id exists")
    }

    async fn insert_items(&self, items: &[StoredItem]) -> Result<()> {
        let mut writes = Writes::default();
        for statement in item_statements(self.backend(), items)? {
            writes.push(statement);
        }
        unique_violation(self.write_atomically(&writes).await, "a profile item with this id exists")
    }

    async fn correct_item(&self, old: ItemId, item: &StoredItem) -> Result<()> {
        let m = &item.meta;
        let (set, place) = old.set_and_place();
        let mut writes = Writes::default();
        writes.guard(
            Statement::new(INSERT_CORRECTION)
                .text(m.id.to_string())
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
                .text(old.to_string())
                .text(set.to_string())
                .int(i64::from(place)),
            "profile item",
        );
        // An item of a set is superseded by the correction's existence; a row by its status.
        writes.push(
            Statement::new("UPDATE profile_items SET status = 'superseded' WHERE id = $1 AND status = 'current'").text(old.to_string()),
        );
        match self.write_atomically(&writes).await {
            // Another correction of the same version landed first (`profile_items_corrected_once`).
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => Err(StoreError::Stale("profile item")),
            other => other,
        }
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
        let sql = format!(
            "SELECT ({GENERATION_SQL}) AS generation, {ITEM_COLUMNS} FROM profile_items WHERE ins = $1 UNION ALL \
             SELECT ({GENERATION_SQL}) AS generation, {SET_COLUMNS} FROM profile_item_sets s JOIN documents d ON d.id = s.document \
             WHERE s.ins = $1"
        );
        let rows: Vec<GenerationItemRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).fetch_all(pool).await)?;
        let Some(read_at) = rows.first().map(|r| r.generation) else { return Ok(Arc::from([])) };
        let mut items = items_of_rows(rows.into_iter().map(|r| r.item).collect())?;
        sort_items(&mut items);
        let items: Arc<[StoredItem]> = items.into();
        self.cache_items(ins, read_at, &items);
        Ok(items)
    }

    async fn find_item(&self, id: ItemId) -> Result<Option<StoredItem>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM profile_items WHERE id = $1");
        let row: Option<ItemRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(pool).await)?;
        if let Some(row) = row {
            return row.into_item().map(Some);
        }
        // Then the set its id would be in, with the live corrections naming it.
        let (set, _) = id.set_and_place();
        let sql = format!(
            "SELECT {SET_COLUMNS} FROM profile_item_sets s JOIN documents d ON d.id = s.document WHERE s.id = $1 UNION ALL \
             SELECT {ITEM_COLUMNS} FROM profile_items WHERE replaces = $2 AND status <> 'entered-in-error'"
        );
        let rows: Vec<ItemRow> =
            on_pool!(self, |pool| sqlx::query_as(&sql).bind(set.to_string()).bind(id.to_string()).fetch_all(pool).await)?;
        if !rows.iter().any(|r| r.origin == "set") {
            return Ok(None);
        }
        Ok(items_of_rows(rows)?.into_iter().find(|i| i.meta.id == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stored(set: ItemId, place: u16, kind: ItemKind, effective: Option<i64>, sealed: Vec<u8>) -> StoredItem {
        let ins = Ins::from_body("1800175000001").expect("an INS");
        StoredItem {
            meta: ItemMeta {
                id: ItemId::in_set(set, place),
                ins,
                kind,
                origin: ItemOrigin::Document { document: DocumentId::from_bytes([7; 16]), path: String::new() },
                recorded_by: format!("rpps:1000000001{place}"),
                recorded_at: from_millis(1_700_000_000_000 + i64::from(place)).expect("an instant"),
                effective: effective.map(|ms| from_millis(ms).expect("an instant")),
                status: ItemStatus::Current,
                replaces: None,
            },
            sealed,
        }
    }

    fn of(set: ItemId, items: &[StoredItem]) -> SetOf {
        SetOf { set, ins: items[0].meta.ins.clone(), document: DocumentId::from_bytes([7; 16]), document_superseded: false }
    }

    proptest! {
        #[test]
        fn a_set_reads_back_as_written(
            bytes in any::<[u8; 16]>(),
            items in proptest::collection::vec((0usize..ItemKind::ALL.len(), proptest::option::of(-1_000_000_000_000i64..4_000_000_000_000), proptest::collection::vec(any::<u8>(), 0..80)), 1..20),
        ) {
            let set = ItemId::in_set(ItemId::from_bytes(bytes), 0);
            let items: Vec<StoredItem> = (0u16..).zip(items).map(|(place, (kind, effective, sealed))| stored(set, place, ItemKind::ALL[kind], effective, sealed)).collect();
            prop_assert_eq!(numbered_set(&items), Some(set));
            let blob = encode_set(&items).expect("encodes");
            prop_assert_eq!(set_items(&of(set, &items), &blob, &|_| false).expect("decodes"), items.clone());
            // A correction or a superseded document supersedes; nothing else changes.
            let corrected = items[0].meta.id;
            let read = set_items(&of(set, &items), &blob, &|id| id == corrected).expect("decodes");
            prop_assert_eq!(read[0].meta.status, ItemStatus::Superseded);
            prop_assert!(read[1..].iter().all(|i| i.meta.status == ItemStatus::Current));
            let gone = SetOf { document_superseded: true, ..of(set, &items) };
            prop_assert!(set_items(&gone, &blob, &|_| false).expect("decodes").iter().all(|i| i.meta.status == ItemStatus::Superseded));
            // Cut anywhere, it is corrupt, never a panic (nor a shorter set passed for whole, but
            // at an item's end, where the cut is a set of fewer items).
            for cut in 0..blob.len() {
                if let Ok(fewer) = set_items(&of(set, &items), &blob[..cut], &|_| false) {
                    prop_assert!(fewer.len() < items.len());
                    prop_assert_eq!(&fewer[..], &items[..fewer.len()]);
                }
            }
        }

        #[test]
        fn any_bytes_read_as_a_set_or_as_corrupt(blob in proptest::collection::vec(any::<u8>(), 0..300)) {
            let set = ItemId::from_bytes([0; 16]);
            let items = [stored(set, 0, ItemKind::Result, None, vec![])];
            let _ = set_items(&of(set, &items), &blob, &|_| false);
        }
    }

    #[test]
    fn only_items_numbered_as_one_set_of_one_record_are_a_set() {
        let set = ItemId::in_set(ItemId::from_bytes([9; 16]), 0);
        let items: Vec<StoredItem> = (0..3).map(|p| stored(set, p, ItemKind::Result, None, vec![1])).collect();
        assert_eq!(numbered_set(&items), Some(set));
        assert_eq!(numbered_set(&items[1..]), None, "a set starts at place 0");
        let mut gap = items.clone();
        gap.remove(1);
        assert_eq!(numbered_set(&gap), None, "places follow each other");
        let mut chained = items.clone();
        chained[2].meta.replaces = Some(set);
        assert_eq!(numbered_set(&chained), None, "a version chain is a row's");
        let mut other = items;
        other[1].meta.ins = Ins::from_body("2800175000002").expect("an INS");
        assert_eq!(numbered_set(&other), None, "one record");
    }
}
