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

/// Items per multi-row `INSERT`: a deposit's items go in a few statements (one round trip each
/// on PostgreSQL), of few enough shapes that SQLite keeps them prepared.
const ITEMS_PER_INSERT: usize = 16;

/// `INSERT … VALUES (…), (…)` of `n` rows (1 ≤ n ≤ `ITEMS_PER_INSERT`), written once.
fn insert_rows_sql(n: usize) -> &'static str {
    static SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (1..=ITEMS_PER_INSERT)
            .map(|rows| {
                let (head, _) = INSERT_ITEM.split_once("VALUES").unwrap_or((INSERT_ITEM, ""));
                let values: Vec<String> = (0..rows)
                    .map(|r| format!("({})", (1..=11).map(|c| format!("${}", r * 11 + c)).collect::<Vec<_>>().join(",")))
                    .collect();
                format!("{head}VALUES {}", values.join(", "))
            })
            .collect()
    });
    &SQL[n.clamp(1, ITEMS_PER_INSERT) - 1]
}

/// The statements inserting `items`, `ITEMS_PER_INSERT` rows at a time.
pub(crate) fn insert_statements(items: &[StoredItem]) -> Vec<Statement<'_>> {
    items.chunks(ITEMS_PER_INSERT).map(|chunk| chunk.iter().fold(Statement::new(insert_rows_sql(chunk.len())), bind_item)).collect()
}

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
        for statement in insert_statements(items) {
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
        for statement in insert_statements(items) {
            writes.push(statement);
        }
        unique_violation(self.write_atomically(&writes).await, "a submission set or document with this unique id exists")
    }

    async fn insert_items(&self, items: &[StoredItem]) -> Result<()> {
        let mut writes = Writes::default();
        for statement in insert_statements(items) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_each_rows_parameters_in_turn() {
        let two = insert_rows_sql(2);
        assert!(two.starts_with("INSERT INTO profile_items (id, ins,"), "{two}");
        assert!(two.ends_with("VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11), ($12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)"), "{two}");
        assert_eq!(insert_rows_sql(ITEMS_PER_INSERT).matches('(').count(), ITEMS_PER_INSERT + 1);
    }
}
