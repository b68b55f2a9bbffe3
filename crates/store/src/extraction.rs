//! The text extraction queue (`ExtractionStore`): one job per document, written with the
//! document (`document_writes`), claimed with a lease by whichever node's worker gets it first.

use std::future::Future;

use carnet_domain::{DocumentId, Ins};
use time::{Duration, OffsetDateTime};

use crate::database::{on_pool, on_writer};
use crate::documents::corrupt;
use crate::time_codec::to_millis;
use crate::writes::{Statement, Writes};
use crate::{Backend, Database, Result, StoreError};

/// The job of a document just inserted (pushed by `document_writes`).
pub(crate) const INSERT_JOB: &str = "INSERT INTO extraction_jobs (document_id, state, attempts, next_attempt_at, created_at) \
     VALUES ($1, 'pending', 0, $2, $2)";

/// A job claimed by a worker: its lease runs until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractionJob {
    pub document_id: DocumentId,
    /// Claims so far, this one included: a job whose worker died mid-way (its lease expired)
    /// counts each attempt.
    pub attempts: u32,
}

/// Where a document's text stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractionState {
    /// Not extracted yet (waiting, being extracted, or waiting for a retry).
    Pending { attempts: u32, last_error: Option<String> },
    /// The sealed text is the document's derived artifact of kind `text`.
    Done,
    /// "Text unavailable": `reason` is a stable code, `detail` says why.
    Unavailable { reason: String, detail: String },
}

/// How a claimed job ended.
#[derive(Debug, Clone, Copy)]
pub enum ExtractionResult<'a> {
    /// The text, already sealed: stored as the document's derived artifact `kind`.
    Text {
        kind: &'a str,
        sealed: &'a [u8],
    },
    Unavailable {
        reason: &'a str,
        detail: &'a str,
    },
}

/// Jobs counted by state and reason (`reason` empty unless unavailable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractionCount {
    pub state: String,
    pub reason: String,
    pub jobs: u64,
}

/// The extraction queue.
pub trait ExtractionStore {
    /// Claims up to `limit` due jobs for `owner` until `now + lease`: pending jobs whose next
    /// attempt is due and whose lease (if any) has expired. Two workers never hold one job
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: its one writer).
    fn claim_extraction_jobs(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ExtractionJob>>> + Send;
    /// Ends a job `owner` holds, with its text (sealed) or why there is none, in one
    /// transaction. `Stale` if the lease was lost (expired and claimed elsewhere) or the
    /// document is gone.
    fn finish_extraction(
        &self,
        id: DocumentId,
        owner: &str,
        result: ExtractionResult<'_>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Gives a job back after a failure that may pass (storage, keys): tried again at
    /// `next_attempt_at`. `Stale` if the lease was lost.
    fn retry_extraction(
        &self,
        id: DocumentId,
        owner: &str,
        error: &str,
        next_attempt_at: OffsetDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Where a document's text stands (`None`: no job, e.g. the document is gone).
    fn find_extraction(&self, id: DocumentId) -> impl Future<Output = Result<Option<ExtractionState>>> + Send;
    /// The patient's documents whose text is extracted (`done`), in one statement: the search
    /// names them in its index's key, so that a text finished after the last deposit is seen.
    fn texts_done_of(&self, ins: &Ins) -> impl Future<Output = Result<Vec<DocumentId>>> + Send;
    /// Jobs by state and reason, for the metrics.
    fn extraction_counts(&self) -> impl Future<Output = Result<Vec<ExtractionCount>>> + Send;
    /// Puts "text unavailable" jobs back in the queue, due at `now` with no attempt counted
    /// (after the cause was fixed: a tool or an OCR language installed, a limit raised): those
    /// of `reason` only if given, of the record `ins` only if given. How many.
    fn requeue_unavailable_extractions(
        &self,
        reason: Option<&str>,
        ins: Option<&Ins>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64>> + Send;
}

fn attempts(n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|e| corrupt("attempts", e))
}

impl ExtractionStore for Database {
    async fn claim_extraction_jobs(&self, owner: &str, now: OffsetDateTime, lease: Duration, limit: u32) -> Result<Vec<ExtractionJob>> {
        // On SQLite the one writer serializes claims; on PostgreSQL rows another claim holds
        // are passed over rather than waited for.
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE extraction_jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE document_id IN (SELECT document_id FROM extraction_jobs \
                 WHERE state = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) \
                 ORDER BY next_attempt_at, document_id LIMIT $4{lock}) \
             RETURNING document_id, attempts"
        );
        let rows: Vec<(String, i64)> = on_writer!(self, |pool| sqlx::query_as(&sql)
            .bind(owner)
            .bind(to_millis(now + lease))
            .bind(to_millis(now))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        let mut jobs = rows
            .into_iter()
            .map(|(id, n)| {
                Ok(ExtractionJob { document_id: DocumentId::parse(&id).map_err(|e| corrupt("document id", e))?, attempts: attempts(n)? })
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING gives no order.
        jobs.sort_by_key(|j| j.document_id.to_string());
        Ok(jobs)
    }

    async fn finish_extraction(&self, id: DocumentId, owner: &str, result: ExtractionResult<'_>, now: OffsetDateTime) -> Result<()> {
        let (state, reason, detail) = match result {
            ExtractionResult::Text { .. } => ("done", None, None),
            ExtractionResult::Unavailable { reason, detail } => ("unavailable", Some(reason), Some(detail)),
        };
        let id_text = id.to_string();
        let mut writes = Writes::default();
        writes.guard(
            Statement::new(
                "UPDATE extraction_jobs SET state = $2, reason = $3, detail = $4, finished_at = $5, lease_owner = NULL, lease_until = NULL \
                 WHERE document_id = $1 AND lease_owner = $6 AND state = 'pending'",
            )
            .text(id_text.as_str())
            .text(state)
            .opt_text(reason)
            .opt_text(detail)
            .int(to_millis(now))
            .text(owner),
            "extraction job",
        );
        if let ExtractionResult::Text { kind, sealed } = result {
            writes.push(
                Statement::new(
                    "INSERT INTO derived_artifacts (document_id, kind, sealed) VALUES ($1, $2, $3) \
                     ON CONFLICT (document_id, kind) DO UPDATE SET sealed = excluded.sealed",
                )
                .text(id_text.as_str())
                .text(kind)
                .bytes(sealed),
            );
        }
        self.write_atomically(&writes).await
    }

    async fn retry_extraction(&self, id: DocumentId, owner: &str, error: &str, next_attempt_at: OffsetDateTime) -> Result<()> {
        let error: String = error.chars().take(500).collect();
        let done = on_writer!(self, |pool| sqlx::query(
            "UPDATE extraction_jobs SET detail = $3, next_attempt_at = $4, lease_owner = NULL, lease_until = NULL \
             WHERE document_id = $1 AND lease_owner = $2 AND state = 'pending'"
        )
        .bind(id.to_string())
        .bind(owner)
        .bind(error)
        .bind(to_millis(next_attempt_at))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if done == 1 { Ok(()) } else { Err(StoreError::Stale("extraction job")) }
    }

    async fn find_extraction(&self, id: DocumentId) -> Result<Option<ExtractionState>> {
        let row: Option<(String, Option<String>, Option<String>, i64)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT state, reason, detail, attempts FROM extraction_jobs WHERE document_id = $1")
                .bind(id.to_string())
                .fetch_optional(pool)
                .await)?;
        let Some((state, reason, detail, n)) = row else { return Ok(None) };
        Ok(Some(match state.as_str() {
            "pending" => ExtractionState::Pending { attempts: attempts(n)?, last_error: detail },
            "done" => ExtractionState::Done,
            "unavailable" => ExtractionState::Unavailable { reason: reason.unwrap_or_default(), detail: detail.unwrap_or_default() },
            other => return Err(corrupt("extraction state", other)),
        }))
    }

    async fn texts_done_of(&self, ins: &Ins) -> Result<Vec<DocumentId>> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT j.document_id FROM extraction_jobs j JOIN documents d ON d.id = j.document_id \
             WHERE d.ins = $1 AND j.state = 'done'"
        )
        .bind(ins.as_str())
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(|(id,)| DocumentId::parse(&id).map_err(|e| corrupt("document id", e))).collect()
    }

    async fn extraction_counts(&self) -> Result<Vec<ExtractionCount>> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT state, COALESCE(reason, ''), COUNT(*) FROM extraction_jobs GROUP BY state, COALESCE(reason, '') ORDER BY 1, 2"
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|(state, reason, n)| ExtractionCount { state, reason, jobs: u64::try_from(n).unwrap_or(0) }).collect())
    }

    async fn requeue_unavailable_extractions(&self, reason: Option<&str>, ins: Option<&Ins>, now: OffsetDateTime) -> Result<u64> {
        // The conditions asked for only: a `$n IS NULL` would leave PostgreSQL a parameter of
        // unknown type.
        let mut sql = String::from(
            "UPDATE extraction_jobs SET state = 'pending', reason = NULL, detail = NULL, finished_at = NULL, attempts = 0, \
             next_attempt_at = $1, lease_owner = NULL, lease_until = NULL WHERE state = 'unavailable'",
        );
        let mut n = 1;
        if reason.is_some() {
            n += 1;
            sql.push_str(&format!(" AND reason = ${n}"));
        }
        if ins.is_some() {
            n += 1;
            sql.push_str(&format!(" AND document_id IN (SELECT id FROM documents WHERE ins = ${n})"));
        }
        let done = on_writer!(self, |pool| {
            let mut q = sqlx::query(&sql).bind(to_millis(now));
            if let Some(reason) = reason {
                q = q.bind(reason);
            }
            if let Some(ins) = ins {
                q = q.bind(ins.as_str());
            }
            q.execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(done)
    }
}
