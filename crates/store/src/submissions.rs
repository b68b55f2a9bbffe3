//! `SubmissionStore` on both backends: IHE MHD submission sets, written with their documents in
//! one transaction (an ITI-65 bundle is all or nothing), and found per patient (ITI-66).

use std::future::Future;

use carnet_domain::{DocumentId, DocumentMeta, Ins};
use time::OffsetDateTime;

use crate::database::on_pool;
use crate::documents::{corrupt, document_writes};
use crate::time_codec::{from_millis, to_millis};
use crate::writes::{Statement, Writes};
use crate::{Database, OutboxMessage, Result, StoreError};

/// A submission set as stored: ids and codes; the title sealed under the patient's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubmissionSet {
    pub id: String,
    pub ins: Ins,
    /// XDS uniqueId of the set.
    pub unique_id: String,
    /// XDS sourceId: the depositing system.
    pub source_id: String,
    /// `rpps:…` of the declared author, if any.
    pub author: Option<String>,
    pub author_family: Option<String>,
    pub author_given: Option<String>,
    /// `Actor::reference()` of whoever deposited it.
    pub deposited_by: String,
    pub submitted_at: OffsetDateTime,
    pub title_sealed: Option<Vec<u8>>,
    /// Its documents, in the bundle's order.
    pub documents: Vec<DocumentId>,
}

/// One document of a set, ready to insert.
#[derive(Debug, Clone)]
pub struct NewSetDocument<'a> {
    pub meta: &'a DocumentMeta,
    pub title_sealed: Option<&'a [u8]>,
    /// The current version this one supersedes.
    pub supersedes: Option<DocumentId>,
}

pub trait SubmissionStore {
    /// Inserts every document, the set and the notifications in ONE transaction: all or none.
    /// `Conflict` if the set's or any document's unique id is taken; `Stale` if a replaced
    /// document is no longer current. Each document's pending upload note ends with it.
    fn insert_submission(
        &self,
        set: &StoredSubmissionSet,
        documents: &[NewSetDocument<'_>],
        notify: &[OutboxMessage],
    ) -> impl Future<Output = Result<()>> + Send;
    fn find_submission_set_by_unique_id(&self, unique_id: &str) -> impl Future<Output = Result<Option<StoredSubmissionSet>>> + Send;
    /// A patient's submission sets, newest first.
    fn find_submission_sets_of(&self, ins: &Ins) -> impl Future<Output = Result<Vec<StoredSubmissionSet>>> + Send;
}

const SET_COLUMNS: &str = "id, ins, unique_id, source_id, author, author_family, author_given, deposited_by, submitted_at, title_sealed";

#[derive(sqlx::FromRow)]
struct SetRow {
    id: String,
    ins: String,
    unique_id: String,
    source_id: String,
    author: Option<String>,
    author_family: Option<String>,
    author_given: Option<String>,
    deposited_by: String,
    submitted_at: i64,
    title_sealed: Option<Vec<u8>>,
}

impl SetRow {
    fn into_set(self, documents: Vec<DocumentId>) -> Result<StoredSubmissionSet> {
        Ok(StoredSubmissionSet {
            id: self.id,
            ins: Ins::parse(&self.ins).map_err(|e| corrupt("INS", e))?,
            unique_id: self.unique_id,
            source_id: self.source_id,
            author: self.author,
            author_family: self.author_family,
            author_given: self.author_given,
            deposited_by: self.deposited_by,
            submitted_at: from_millis(self.submitted_at)?,
            title_sealed: self.title_sealed,
            documents,
        })
    }
}

impl Database {
    async fn set_documents(&self, set_ids: &[String]) -> Result<Vec<(String, DocumentId)>> {
        let mut out = Vec::new();
        for id in set_ids {
            let rows: Vec<(String,)> = on_pool!(self, |pool| sqlx::query_as(
                "SELECT document_id FROM submission_set_documents WHERE set_id = $1 ORDER BY position"
            )
            .bind(id)
            .fetch_all(pool)
            .await)?;
            for (doc,) in rows {
                out.push((id.clone(), DocumentId::parse(&doc).map_err(|e| corrupt("document id", e))?));
            }
        }
        Ok(out)
    }

    async fn with_documents(&self, rows: Vec<SetRow>) -> Result<Vec<StoredSubmissionSet>> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let docs = self.set_documents(&ids).await?;
        rows.into_iter()
            .map(|r| {
                let mine = docs.iter().filter(|(s, _)| *s == r.id).map(|(_, d)| *d).collect();
                r.into_set(mine)
            })
            .collect()
    }
}

/// The writes of a submission set: its documents (`document_writes`), the set, its positions and
/// the notifications. Shared with `ProfileStore::insert_submission_with_items`.
pub(crate) fn submission_writes<'a>(
    writes: &mut Writes<'a>,
    set: &'a StoredSubmissionSet,
    documents: &[NewSetDocument<'a>],
    notify: &'a [OutboxMessage],
) -> Result<()> {
    for d in documents {
        document_writes(writes, d.meta, d.title_sealed, d.supersedes)?;
    }
    writes.push(
        Statement::new(
            "INSERT INTO submission_sets (id, ins, unique_id, source_id, author, author_family, author_given, deposited_by, \
             submitted_at, title_sealed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .text(set.id.as_str())
        .text(set.ins.as_str())
        .text(set.unique_id.as_str())
        .text(set.source_id.as_str())
        .opt_text(set.author.as_deref())
        .opt_text(set.author_family.as_deref())
        .opt_text(set.author_given.as_deref())
        .text(set.deposited_by.as_str())
        .int(to_millis(set.submitted_at))
        .opt_bytes(set.title_sealed.as_deref()),
    );
    for (position, doc) in set.documents.iter().enumerate() {
        writes.push(
            Statement::new("INSERT INTO submission_set_documents (set_id, position, document_id) VALUES ($1, $2, $3)")
                .text(set.id.as_str())
                .int(i64::try_from(position).map_err(|e| corrupt("position", e))?)
                .text(doc.to_string()),
        );
    }
    for m in notify {
        writes.push(crate::policy::outbox_statement(m));
    }
    Ok(())
}

impl SubmissionStore for Database {
    async fn insert_submission(&self, set: &StoredSubmissionSet, documents: &[NewSetDocument<'_>], notify: &[OutboxMessage]) -> Result<()> {
        let mut writes = Writes::default();
        submission_writes(&mut writes, set, documents, notify)?;
        let result = self.write_atomically(&writes).await;
        match result {
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict("a submission set or document with this unique id exists"))
            }
            other => other,
        }
    }

    async fn find_submission_set_by_unique_id(&self, unique_id: &str) -> Result<Option<StoredSubmissionSet>> {
        let sql = format!("SELECT {SET_COLUMNS} FROM submission_sets WHERE unique_id = $1");
        let row: Option<SetRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(unique_id).fetch_optional(pool).await)?;
        Ok(self.with_documents(row.into_iter().collect()).await?.pop())
    }

    async fn find_submission_sets_of(&self, ins: &Ins) -> Result<Vec<StoredSubmissionSet>> {
        let sql = format!("SELECT {SET_COLUMNS} FROM submission_sets WHERE ins = $1 ORDER BY submitted_at DESC, id");
        let rows: Vec<SetRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(ins.as_str()).fetch_all(pool).await)?;
        self.with_documents(rows).await
    }
}
