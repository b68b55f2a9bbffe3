//! `ProfileStore`: the medical profile's items (migration 0015). Rows hold the item's queryable
//! metadata; what it says is a sealed blob the service opens (this crate never sees it in clear).

use std::future::Future;

use carnet_domain::profile::{ItemId, ItemKind, ItemMeta, ItemOrigin, ItemStatus};
use carnet_domain::{DocumentId, DocumentMeta, Ins};

use crate::database::on_pool;
use crate::documents::{corrupt, document_writes};
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

fn insert_statement(item: &StoredItem) -> Statement<'_> {
    let m = &item.meta;
    Statement::new(INSERT_ITEM)
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
        for item in items {
            writes.push(insert_statement(item));
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
        for item in items {
            writes.push(insert_statement(item));
        }
        unique_violation(self.write_atomically(&writes).await, "a submission set or document with this unique id exists")
    }

    async fn insert_items(&self, items: &[StoredItem]) -> Result<()> {
        let mut writes = Writes::default();
        for item in items {
            writes.push(insert_statement(item));
        }
        unique_violation(self.write_atomically(&writes).await, "a profile item with this id exists")
    }

    async fn correct_item(&self, old: ItemId, item: &StoredItem) -> Result<()> {
        let mut writes = Writes::default();
        writes.guard(
            Statement::new("UPDATE profile_items SET status = 'superseded' WHERE id = $1 AND status = 'current'").text(old.to_string()),
            "profile item",
        );
        writes.push(insert_statement(item));
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
        // Undated items last on both backends (PostgreSQL sorts NULLs first when descending).
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM profile_items WHERE ins = $1 AND ($2 IS NULL OR kind = $2) \
             ORDER BY CASE WHEN effective IS NULL THEN 1 ELSE 0 END, effective DESC, id"
        );
        let kind = kind.map(ItemKind::as_str);
        let rows: Vec<ItemRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).bind(kind).fetch_all(pool).await)?;
        rows.into_iter().map(ItemRow::into_item).collect()
    }

    async fn find_item(&self, id: ItemId) -> Result<Option<StoredItem>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM profile_items WHERE id = $1");
        let row: Option<ItemRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(pool).await)?;
        row.map(ItemRow::into_item).transpose()
    }
}
