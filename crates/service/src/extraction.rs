//! The text of every document, for the record's search: the worker that runs the extraction
//! queue, and `document_text` to read a document's text back.
//!
//! Each deposit writes an extraction job in its own transaction (the store's `document_writes`),
//! so a crash loses none. `serve` runs `extract_texts` round after round on every node: a round
//! claims due jobs with a lease, reads each document's plaintext (the service's own read, not a
//! caller's: no gate, no ledger entry — nothing leaves the service), extracts its text with
//! `carnet_extract` (in process, or a tool in a child process under limits) and stores it sealed
//! under the patient's key as the document's derived artifact `text`, in the transaction that
//! ends the job. A document whose text cannot be extracted stays stored and readable; its job
//! ends "unavailable" with the reason. Failures that may pass (the store, the key provider) give
//! the job back with backoff; a job claimed `max_attempts` times (its worker died each time)
//! ends unavailable.

use std::time::Duration;

use carnet_domain::{DocumentMeta, Ins};
use carnet_extract::tools::Extractor;
use carnet_store::{DocumentStore, ExtractionJob, ExtractionResult, ExtractionState, ExtractionStore, StoreError};
use futures::StreamExt;

use crate::documents::derived_context;
use crate::gate::Visible;
use crate::{Carnet, Result, ServiceError};

/// The derived artifact holding a document's text.
pub const TEXT_KIND: &str = "text";

/// How `extract_texts` works (`[extraction]` in the configuration).
#[derive(Debug, Clone)]
pub struct ExtractionSettings {
    /// The extractors, their tools and limits.
    pub extractor: Extractor,
    /// Jobs claimed per round.
    pub batch: u32,
    /// Jobs of a round run at once (at least one). The tools are other processes: a node with
    /// cores to spare extracts that many documents at a time.
    pub workers: u32,
    /// How long a claimed job is this node's: past it, another node may claim the job again.
    /// Longer than the slowest extraction: a scan of `max_ocr_pages` pages, each rendered then
    /// OCR'd within the tools' timeout (by default 20 × 2 × 60 s = 40 minutes).
    pub lease: time::Duration,
    /// Claims after which a job ends unavailable (`gave_up`).
    pub max_attempts: u32,
    /// Largest document extracted, in bytes (larger ones end `too_large` unread).
    pub max_document_bytes: u64,
    /// Names this node in the leases it takes (logs, the job rows).
    pub node: String,
}

impl Default for ExtractionSettings {
    fn default() -> Self {
        ExtractionSettings {
            extractor: Extractor::default(),
            batch: 8,
            workers: 1,
            lease: time::Duration::minutes(60),
            max_attempts: 5,
            max_document_bytes: 64 * 1024 * 1024,
            node: "carnet".into(),
        }
    }
}

/// What a round of `extract_texts` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractionReport {
    /// Documents whose text was stored.
    pub extracted: usize,
    /// Documents left without text, with the reason code of each.
    pub unavailable: Vec<&'static str>,
    /// Jobs given back to be retried.
    pub retried: usize,
}

/// A document's text, as far as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentText {
    Text(String),
    /// Not extracted yet.
    Pending,
    /// "Text unavailable": the reason code and why.
    Unavailable {
        reason: String,
        detail: String,
    },
}

/// How one job ended.
enum Ended {
    Extracted,
    Unavailable(&'static str),
    Retried,
}

impl Carnet {
    /// One round of the extraction queue: claims up to `settings.batch` due jobs and runs them,
    /// `settings.workers` at a time (an extraction takes a core; other nodes take other jobs).
    pub async fn extract_texts(&self, settings: &ExtractionSettings) -> Result<ExtractionReport> {
        use futures::StreamExt;
        // A lease of this round only: a job this node claimed before and lost is not finished
        // by a late round of its own.
        let owner = format!("{}:{}", settings.node, uuid::Uuid::new_v4().simple());
        let jobs = self.db.claim_extraction_jobs(&owner, self.now(), settings.lease, settings.batch).await?;
        let owner = owner.as_str();
        let workers = usize::try_from(settings.workers.max(1)).unwrap_or(1);
        let mut ended = futures::stream::iter(jobs)
            .map(|job| async move {
                let outcome = self.extract_one(settings, owner, &job).await;
                (job, outcome)
            })
            .buffer_unordered(workers);
        let mut report = ExtractionReport::default();
        while let Some((job, outcome)) = ended.next().await {
            match outcome {
                Ok(Some(Ended::Extracted)) => report.extracted += 1,
                Ok(Some(Ended::Unavailable(reason))) => report.unavailable.push(reason),
                Ok(Some(Ended::Retried)) => report.retried += 1,
                Ok(None) => {}
                Err(e) => {
                    // The job could not even be given back: its lease expires and it is claimed again.
                    tracing::warn!(document = %job.document_id, error = %e, "extraction job left to its lease");
                }
            }
        }
        Ok(report)
    }

    async fn extract_one(&self, settings: &ExtractionSettings, owner: &str, job: &ExtractionJob) -> Result<Option<Ended>> {
        let id = job.document_id;
        if job.attempts > settings.max_attempts {
            let detail = format!("claimed {} times without ending", job.attempts - 1);
            return self.end_unavailable(job, owner, "gave_up", &detail).await;
        }
        let Some((meta, _)) = self.db.find_document(id).await? else {
            // Deleted meanwhile: its job went with it.
            return Ok(None);
        };
        if meta.size > settings.max_document_bytes {
            let detail = format!("{} bytes, at most {} are extracted", meta.size, settings.max_document_bytes);
            return self.end_unavailable(job, owner, carnet_extract::Reason::TooLarge.code(), &detail).await;
        }
        let bytes = match self.plaintext(&meta).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return self.end_unavailable(job, owner, "shredded", "the patient's key is gone").await,
            Err(e) => return self.retry(job, owner, &e).await,
        };
        let started = std::time::Instant::now();
        let outcome = settings.extractor.extract(&meta.xds.mime_type, &bytes).await;
        drop(bytes);
        match outcome {
            Ok(text) => {
                let key = match self.data_key(&meta.ins).await {
                    Ok(Some(key)) => key,
                    Ok(None) => return self.end_unavailable(job, owner, "shredded", "the patient's key is gone").await,
                    Err(e) => return self.retry(job, owner, &e).await,
                };
                let sealed = carnet_crypto::seal(&key, &derived_context(id, TEXT_KIND), text.as_bytes());
                let result = ExtractionResult::Text { kind: TEXT_KIND, sealed: &sealed };
                match self.db.finish_extraction(id, owner, result, self.now()).await {
                    Ok(()) => {
                        tracing::info!(document = %id, bytes = text.len(), ms = started.elapsed().as_millis() as u64, "text extracted");
                        Ok(Some(Ended::Extracted))
                    }
                    Err(StoreError::Stale(_)) => Ok(None),
                    Err(e) => self.retry(job, owner, &e.into()).await,
                }
            }
            Err(unavailable) => {
                // The detail names the tool and the limit, never the document's content.
                tracing::info!(document = %id, reason = unavailable.reason.code(), detail = %unavailable.detail, "text unavailable");
                self.end_unavailable(job, owner, unavailable.reason.code(), &unavailable.detail).await
            }
        }
    }

    async fn end_unavailable(&self, job: &ExtractionJob, owner: &str, reason: &'static str, detail: &str) -> Result<Option<Ended>> {
        match self.db.finish_extraction(job.document_id, owner, ExtractionResult::Unavailable { reason, detail }, self.now()).await {
            Ok(()) => Ok(Some(Ended::Unavailable(reason))),
            Err(StoreError::Stale(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn retry(&self, job: &ExtractionJob, owner: &str, error: &ServiceError) -> Result<Option<Ended>> {
        tracing::warn!(document = %job.document_id, attempts = job.attempts, error = %error, "text extraction failed; will retry");
        let next = self.now() + crate::notifications::backoff(job.attempts.saturating_sub(1));
        match self.db.retry_extraction(job.document_id, owner, &error.to_string(), next).await {
            Ok(()) => Ok(Some(Ended::Retried)),
            Err(StoreError::Stale(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The whole plaintext of a document (`None` if its patient's key is gone).
    async fn plaintext(&self, meta: &DocumentMeta) -> Result<Option<Vec<u8>>> {
        if self.data_key(&meta.ins).await?.is_none() {
            return Ok(None);
        }
        let mut content = self.open_content(meta.clone(), None).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
        while let Some(piece) = content.body.next().await {
            bytes.extend_from_slice(&piece?);
        }
        Ok(Some(bytes))
    }

    /// A document's extracted text, or where its extraction stands. Not a ledger entry by
    /// itself: what shows text to someone (the search) records that it did.
    pub async fn document_text(&self, visible: &Visible) -> Result<DocumentText> {
        let id = visible.meta().id;
        match self.db.find_extraction(id).await? {
            None | Some(ExtractionState::Pending { .. }) => Ok(DocumentText::Pending),
            Some(ExtractionState::Unavailable { reason, detail }) => Ok(DocumentText::Unavailable { reason, detail }),
            Some(ExtractionState::Done) => match self.derived(visible, TEXT_KIND).await? {
                Some(bytes) => String::from_utf8(bytes)
                    .map(DocumentText::Text)
                    .map_err(|_| ServiceError::Crypto(carnet_crypto::CryptoError::Integrity("extracted text"))),
                None => Ok(DocumentText::Pending),
            },
        }
    }

    /// Jobs of the extraction queue by state and reason (for the metrics).
    pub async fn extraction_counts(&self) -> Result<Vec<carnet_store::ExtractionCount>> {
        Ok(self.db.extraction_counts().await?)
    }

    /// Puts the "text unavailable" jobs back in the queue, due now with their attempts reset
    /// (`carnet admin extraction retry`, once the cause is fixed: an OCR language installed, a
    /// limit raised); only those of `reason` and of the record `ins` when given. The operator's
    /// command, not a reader's: no document is read and nothing leaves the service. How many.
    pub async fn retry_unavailable_texts(&self, reason: Option<&str>, ins: Option<&Ins>) -> Result<u64> {
        let requeued = self.db.requeue_unavailable_extractions(reason, ins, self.now()).await?;
        if requeued > 0 {
            tracing::info!(requeued, reason = reason.unwrap_or("any"), "text extraction jobs back in the queue");
        }
        Ok(requeued)
    }
}

/// Waits between rounds that found nothing to do.
pub const EXTRACTION_IDLE: Duration = Duration::from_secs(5);
