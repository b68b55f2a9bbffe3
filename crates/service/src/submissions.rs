//! Submission sets: several documents deposited together, all or nothing (IHE MHD ITI-65), and
//! found again per patient (ITI-66) through the gate.
//!
//! `submit_bundle` checks everything before writing anything — who may feed, the record (active,
//! qualified identity), every document's codes, labels, sizes, hashes and unique ids, replaced
//! versions — then seals every blob, then inserts every row, the set and the notifications in
//! one database transaction. Any failure deletes the blobs already written; a crash leaves
//! pending-upload notes that the next start cleans. Nothing is ever visible half-done.

use bytes::Bytes;
use carnet_domain::document::{DeclaredAuthor, DocumentSubmission};
use carnet_domain::{Actor, DocumentId, DocumentMeta, Ins, Record};
use carnet_store::{DocumentStore, NewSetDocument, RecordStore, StoredSubmissionSet, SubmissionStore};
use time::OffsetDateTime;

use crate::audit::Event;
use crate::documents::{DocumentView, title_context};
use crate::{Carnet, Result, ServiceError};

/// The SubmissionSet's own metadata, as the depositing software declared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubmissionSet {
    /// XDS uniqueId of the set.
    pub unique_id: String,
    /// XDS sourceId: the depositing system.
    pub source_id: String,
    pub author: Option<DeclaredAuthor>,
    /// Clinical content: sealed under the patient's key.
    pub title: Option<String>,
}

/// One document of a bundle, its bytes already in memory (the edge bounded the body).
#[derive(Debug, Clone)]
pub struct BundleDocument {
    pub submission: DocumentSubmission,
    pub bytes: Bytes,
    /// The SHA-256 of `bytes` when the caller computed it already (the FHIR edge does, to check
    /// the hash a bundle declares); computed here otherwise. Hashing 100 KB three times was 7%
    /// of a deposit's CPU. Not taken on trust: the sealer hashes the bytes again as it encrypts
    /// them, and a difference fails the deposit before anything is recorded.
    pub sha256: Option<[u8; 32]>,
}

impl BundleDocument {
    fn sha256(&self) -> [u8; 32] {
        self.sha256.unwrap_or_else(|| sha256(&self.bytes))
    }
}

/// The outcome of `submit_bundle`.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSubmitted {
    /// The set's id (the `List` id).
    pub set_id: String,
    /// One per document, in the bundle's order.
    pub documents: Vec<DocumentView>,
    /// `false`: the same set was deposited before with the same documents; nothing was stored.
    pub created: bool,
    pub submitted_at: OffsetDateTime,
}

/// A submission set as a reader may see it: only the documents the gate lets through.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionSetView {
    pub id: String,
    pub ins: Ins,
    pub unique_id: String,
    pub source_id: String,
    pub author: Option<DeclaredAuthor>,
    /// Shown only when every document of the set is visible to the reader.
    pub title: Option<String>,
    pub submitted_at: OffsetDateTime,
    pub documents: Vec<DocumentId>,
}

/// A document checked and ready to be written.
struct Prepared {
    meta: DocumentMeta,
    title: Option<String>,
    supersedes: Option<DocumentId>,
    bytes: Bytes,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl Carnet {
    /// Deposits a submission set and all its documents, all or nothing. Every document must be
    /// for the same patient. Resubmitting the same set (same unique id, same documents and
    /// bytes) answers `created: false` and stores nothing; reusing a unique id for other
    /// content is a conflict.
    pub async fn submit_bundle(&self, actor: &Actor, set: NewSubmissionSet, documents: Vec<BundleDocument>) -> Result<BundleSubmitted> {
        let Some(first) = documents.first() else {
            return Err(ServiceError::Invalid("a submission set holds at least one document".into()));
        };
        let ins = first.submission.ins.clone();
        if documents.iter().any(|d| d.submission.ins != ins) {
            return Err(ServiceError::Invalid("every document of a submission set is for the same patient".into()));
        }
        let record = match self.feedable_record(actor, &first.submission).await {
            Ok(record) => record,
            Err(e) => {
                let reason = match &e {
                    ServiceError::Forbidden(_) => "not_allowed_to_feed",
                    ServiceError::NotFound(_) => "not_found",
                    _ => "record_not_feedable",
                };
                self.record_event(
                    actor,
                    Event::deny("document.submit_set", Some(&ins), Some(set.unique_id.chars().take(128).collect()), reason),
                )
                .await?;
                return Err(e);
            }
        };
        // Every document must be feedable by this actor (an insurer agent feeds REMB only).
        for d in &documents[1..] {
            self.feedable_record(actor, &d.submission).await?;
        }
        if set.unique_id.is_empty()
            || set.unique_id.len() > carnet_domain::document::MAX_UNIQUE_ID
            || !set.unique_id.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(ServiceError::Invalid("submission set unique_id: 1 to 128 printable ASCII characters".into()));
        }
        if let Some(existing) = self.db.find_submission_set_by_unique_id(&set.unique_id).await? {
            return self.resubmitted_set(actor, &record, existing, &documents).await;
        }

        let now = self.now();
        let mut prepared = Vec::with_capacity(documents.len());
        for (i, d) in documents.into_iter().enumerate() {
            let p = self.prepare(actor, &record, d, now).await.map_err(|e| match e {
                ServiceError::Invalid(m) => ServiceError::Invalid(format!("document {}: {m}", i + 1)),
                ServiceError::Conflict(m) => ServiceError::Conflict(format!("document {}: {m}", i + 1)),
                other => other,
            })?;
            if prepared.iter().any(|q: &Prepared| q.meta.xds.unique_id == p.meta.xds.unique_id) {
                return Err(ServiceError::Invalid(format!("document {}: the same unique id twice in one submission set", i + 1)));
            }
            if p.supersedes.is_some() && prepared.iter().any(|q: &Prepared| q.supersedes == p.supersedes) {
                return Err(ServiceError::Invalid(format!("document {}: two documents replace the same version", i + 1)));
            }
            prepared.push(p);
        }

        // Checked: the decisions go to the ledger, then the blobs are written.
        for p in &prepared {
            let action = if p.supersedes.is_some() { "document.replace" } else { "document.submit" };
            self.record_event(actor, Event::permit(action, Some(&record.ins), Some(p.meta.id.to_string()), "may_feed")).await?;
        }
        let key = self.data_key_or_create(&record.ins).await?;
        let ids: Vec<DocumentId> = prepared.iter().map(|p| p.meta.id).collect();
        let mut guard = crate::documents::UploadGuard::new(self.clone(), ids.clone());
        let stored: Result<String> = async {
            let mut titles = Vec::with_capacity(prepared.len());
            for p in &prepared {
                self.db.begin_upload(p.meta.id, now).await?;
                let content = futures::stream::iter([Ok::<_, crate::ContentError>(p.bytes.clone())]);
                let sealed = self.write_blob(&key, p.meta.id, content).await?;
                if sealed.size != p.meta.size || sealed.sha256 != p.meta.sha256 {
                    return Err(ServiceError::Crypto(carnet_crypto::CryptoError::Integrity("sealed blob differs from the checked bytes")));
                }
                titles.push(p.title.as_deref().map(|t| carnet_crypto::seal(&key, &title_context(p.meta.id), t.as_bytes())));
            }
            let title_sealed = set.title.as_deref().map(|t| carnet_crypto::seal(&key, &set_title_context(&set.unique_id), t.as_bytes()));
            let author_rpps = set.author.as_ref().and_then(|a| a.rpps.as_ref()).map(|r| format!("rpps:{r}"));
            let author_name = set.author.as_ref().and_then(|a| a.name.as_ref());
            let stored_set = StoredSubmissionSet {
                id: uuid::Uuid::new_v4().to_string(),
                ins: record.ins.clone(),
                unique_id: set.unique_id.clone(),
                source_id: set.source_id.clone(),
                author: author_rpps,
                author_family: author_name.and_then(|n| n.family.clone()),
                author_given: author_name.and_then(|n| n.given.clone()),
                deposited_by: actor.reference(),
                submitted_at: now,
                title_sealed,
                documents: ids.clone(),
            };
            let rows: Vec<NewSetDocument<'_>> = prepared
                .iter()
                .zip(&titles)
                .map(|(p, t)| NewSetDocument { meta: &p.meta, title_sealed: t.as_deref(), supersedes: p.supersedes })
                .collect();
            let notify: Vec<_> = prepared
                .iter()
                .map(|p| {
                    let author = p
                        .meta
                        .author_name
                        .as_ref()
                        .map(|n| [n.given.as_deref(), n.family.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" "));
                    self.new_document_message(&record.ins, author.or_else(|| actor.name.clone()))
                })
                .collect();
            self.db.insert_submission(&stored_set, &rows, &notify).await?;
            Ok(stored_set.id)
        }
        .await;
        guard.disarm();
        let set_id = match stored {
            Ok(set_id) => set_id,
            Err(e) => {
                for id in &ids {
                    self.abandon_upload(*id).await;
                }
                if let ServiceError::Conflict(_) = e {
                    // Another request deposited the same set meanwhile: answer as a resubmission.
                    if let Some(existing) = self.db.find_submission_set_by_unique_id(&set.unique_id).await? {
                        let again: Vec<BundleDocument> = prepared
                            .iter()
                            .map(|p| BundleDocument {
                                submission: resubmission_of(&p.meta),
                                bytes: p.bytes.clone(),
                                sha256: Some(p.meta.sha256),
                            })
                            .collect();
                        return self.resubmitted_set(actor, &record, existing, &again).await;
                    }
                }
                return Err(e);
            }
        };
        if record.first_fed_at.is_none() {
            self.db.mark_fed(&record.ins, now).await?;
        }
        tracing::info!(set = %set_id, documents = prepared.len(), by = %actor.reference(), "submission set deposited");
        let documents = prepared.into_iter().map(|p| DocumentView { meta: p.meta, title: p.title }).collect();
        Ok(BundleSubmitted { set_id, documents, created: true, submitted_at: now })
    }

    /// One document of a set, checked as `submit_document` checks a single deposit.
    async fn prepare(&self, actor: &Actor, record: &Record, d: BundleDocument, now: OffsetDateTime) -> Result<Prepared> {
        let hash = d.sha256();
        let submission = d.submission;
        let id = DocumentId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
        let (author, author_name) = self.author_of(actor, &submission).await?;
        let size = d.bytes.len() as u64;
        let meta = self.new_document_meta(actor, &record.ins, &submission, id, (author, author_name), now, size, hash)?;
        if size > self.config.max_document_bytes {
            return Err(ServiceError::TooLarge { limit: self.config.max_document_bytes });
        }
        if submission.declared_size.is_some_and(|s| s != size) {
            return Err(ServiceError::Invalid(format!(
                "size: {} bytes declared, {size} given; nothing was stored",
                submission.declared_size.unwrap_or_default()
            )));
        }
        if submission.declared_sha256.is_some_and(|h| h != hash) {
            return Err(ServiceError::Invalid("hash: the SHA-256 of the bytes differs from the one declared; nothing was stored".into()));
        }
        if self.db.find_document_by_unique_id(&meta.xds.unique_id).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "a document with unique id {} was deposited in another submission set",
                meta.xds.unique_id
            )));
        }
        let supersedes = match submission.replaces {
            Some(old) => Some(self.replaceable(actor, record, old).await?),
            None => None,
        };
        Ok(Prepared { meta, title: submission.title, supersedes, bytes: d.bytes })
    }

    /// A set whose unique id exists: the same documents (unique ids, sizes, hashes, patient)
    /// answer `created: false`; anything else is a conflict.
    async fn resubmitted_set(
        &self,
        actor: &Actor,
        record: &Record,
        existing: StoredSubmissionSet,
        documents: &[BundleDocument],
    ) -> Result<BundleSubmitted> {
        let conflict = || ServiceError::Conflict("a submission set with this unique id exists with other content".into());
        if existing.ins != record.ins || existing.documents.len() != documents.len() {
            return Err(conflict());
        }
        let mut views = Vec::with_capacity(documents.len());
        for (id, d) in existing.documents.iter().zip(documents) {
            let Some((meta, _)) = self.db.find_document(*id).await? else { return Err(conflict()) };
            let same = meta.xds.unique_id == d.submission.xds.unique_id && meta.size == d.bytes.len() as u64 && meta.sha256 == d.sha256();
            if !same {
                return Err(conflict());
            }
            views.push(self.view_unchecked(actor, record, meta).await?);
        }
        Ok(BundleSubmitted { set_id: existing.id, documents: views, created: false, submitted_at: existing.submitted_at })
    }

    /// A patient's submission sets, through the gate: each lists only the documents this actor
    /// may see, and a set with none is absent. One ledger entry (the document search).
    pub async fn visible_submission_sets(&self, actor: &Actor, ins: &Ins) -> Result<Vec<SubmissionSetView>> {
        let visible = self.visible_documents(actor, ins).await?;
        if visible.is_empty() {
            return Ok(vec![]);
        }
        let seen: std::collections::HashSet<DocumentId> = visible.iter().map(|v| v.meta().id).collect();
        let key = self.data_key(ins).await?;
        let mut out = Vec::new();
        for set in self.db.find_submission_sets_of(ins).await? {
            let documents: Vec<DocumentId> = set.documents.iter().copied().filter(|d| seen.contains(d)).collect();
            if documents.is_empty() {
                continue;
            }
            let title = match (&set.title_sealed, &key) {
                (Some(sealed), Some(key)) if documents.len() == set.documents.len() => {
                    let bytes = carnet_crypto::open(key, &set_title_context(&set.unique_id), sealed)?;
                    Some(
                        String::from_utf8(bytes)
                            .map_err(|_| ServiceError::Crypto(carnet_crypto::CryptoError::Format("title is not UTF-8")))?,
                    )
                }
                _ => None,
            };
            let name = (set.author_family.is_some() || set.author_given.is_some())
                .then(|| carnet_domain::document::PersonName { family: set.author_family.clone(), given: set.author_given.clone() });
            let rpps = set.author.as_deref().and_then(|a| a.strip_prefix("rpps:")).and_then(|r| r.parse().ok());
            let author = (rpps.is_some() || name.is_some()).then_some(DeclaredAuthor { rpps, name });
            out.push(SubmissionSetView {
                id: set.id,
                ins: set.ins,
                unique_id: set.unique_id,
                source_id: set.source_id,
                author,
                title,
                submitted_at: set.submitted_at,
                documents,
            });
        }
        Ok(out)
    }

    /// Live records matching the traits, for an actor allowed to search by them (see
    /// `find_patients`).
    pub(crate) async fn records_by_traits(&self, query: &carnet_store::TraitsQuery, limit: u32) -> Result<Vec<Record>> {
        Ok(self.db.find_records_by_traits(query, limit).await?)
    }
}

fn set_title_context(unique_id: &str) -> Vec<u8> {
    let mut c = b"carnet-set-title-v1".to_vec();
    c.extend_from_slice(unique_id.as_bytes());
    c
}

/// What a racing resubmission compares: unique id and bytes.
fn resubmission_of(meta: &DocumentMeta) -> DocumentSubmission {
    DocumentSubmission {
        ins: meta.ins.clone(),
        xds: meta.xds.clone(),
        title: None,
        declared_author: None,
        labels: vec![],
        declared_size: None,
        declared_sha256: None,
        replaces: None,
    }
}
