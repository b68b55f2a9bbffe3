//! One path for every deposit. A document deposited alone (`/api`, its bytes streamed) is a
//! submission set of one document that has no set of its own; an ITI-65 bundle or a Synthea
//! import is a set of several, in memory. Both go through [`Carnet::deposit`], in this order:
//!
//! 1. who may feed, for every document (`feedable_record`); a refusal is a ledger entry;
//! 2. a set's unique id: known already, the deposit is answered as a resubmission;
//! 3. each document: its author, its metadata (`check_metadata`, the labels its depositor may
//!    set, the title's length), its size and hash when they are known before it is written, its
//!    unique id (a lone document's, known already, is a resubmission; a set's document's, a
//!    conflict), the version it replaces; a CDA R2 document's header, read from its bytes and
//!    checked against the deposit (`cda_checked`, docs/cda.md);
//! 4. one ledger entry per document, then the blobs, then every row (with the profile items read
//!    from a CDA level 3 body), the set and the
//!    notifications in one transaction (`write_atomically`: one trip to SQLite's writer). A
//!    unique id taken meanwhile by another request is answered as a resubmission;
//! 5. the record marked as fed.
//!
//! A deposit never leaves half-written state: each upload is noted as pending before its first
//! blob byte, the blobs are complete and durable before the rows exist, and the rows' insertion
//! ends the pending notes in the same transaction. Whatever fails in between deletes the blobs;
//! a killed process leaves pending notes that the next start cleans.

use bytes::Bytes;
use carnet_domain::document::{DocumentSubmission, check_metadata};
use carnet_domain::{Actor, DocumentId, DocumentMeta, DocumentScope, DocumentStatus, Operation, Record};
use carnet_store::{DocumentStore, NewSetDocument, ProfileStore, RecordStore, StoredSubmissionSet, SubmissionStore};
use futures::future::Either;
use futures::{Stream, StreamExt};
use time::OffsetDateTime;

use crate::audit::Event;
use crate::documents::{ContentError, DocumentView, MAX_TITLE, UploadGuard, check_deposit_labels, normalized_labels, title_context};
use crate::submissions::{NewSubmissionSet, set_title_context};
use crate::{Carnet, Result, ServiceError};

/// What a resubmission is compared on, beside the unique id and the patient: the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub size: u64,
    pub sha256: [u8; 32],
}

impl Fingerprint {
    fn of(meta: &DocumentMeta) -> Fingerprint {
        Fingerprint { size: meta.size, sha256: meta.sha256 }
    }
}

/// One document of a deposit: what its depositor declared, and its bytes.
pub(crate) struct Incoming<S> {
    pub submission: DocumentSubmission,
    pub content: S,
    /// The size and SHA-256 of the bytes when they are in memory (a set's documents): checked
    /// before anything is written. A streamed document's are known once it is written.
    pub known: Option<Fingerprint>,
}

/// Documents for one record, stored all or nothing.
pub(crate) struct Deposit<S> {
    /// `None`: a document deposited alone, without a set row.
    pub set: Option<NewSubmissionSet>,
    pub documents: Vec<Incoming<S>>,
}

/// The outcome of a deposit.
pub(crate) struct Deposited {
    /// The set's id, for a set.
    pub set_id: Option<String>,
    /// One per document, in the deposit's order.
    pub documents: Vec<DocumentView>,
    /// `false`: the same documents were deposited before under this unique id; nothing was stored.
    pub created: bool,
    pub submitted_at: OffsetDateTime,
}

/// A document checked and ready to be written.
struct Prepared {
    meta: DocumentMeta,
    title: Option<String>,
    supersedes: Option<DocumentId>,
    known: Option<Fingerprint>,
    declared_size: Option<u64>,
    declared_sha256: Option<[u8; 32]>,
}

impl Prepared {
    /// Takes what the sealer saw of the bytes: it must be what was checked before, or what the
    /// depositor declared.
    fn received(&mut self, sealed: &carnet_crypto::Sealed) -> Result<()> {
        let seen = Fingerprint { size: sealed.size, sha256: sealed.sha256 };
        match self.known {
            Some(known) if known != seen => {
                return Err(ServiceError::Crypto(carnet_crypto::CryptoError::Integrity("sealed blob differs from the checked bytes")));
            }
            Some(_) => {}
            None => {
                if let Some(declared) = self.declared_size
                    && declared != seen.size
                {
                    return Err(ServiceError::Invalid(format!(
                        "size: {declared} bytes declared, {} received; nothing was stored",
                        seen.size
                    )));
                }
                if self.declared_sha256.is_some_and(|h| h != seen.sha256) {
                    return Err(ServiceError::Invalid(
                        "hash: the SHA-256 of the bytes received differs from the one declared; nothing was stored".into(),
                    ));
                }
            }
        }
        self.meta.size = seen.size;
        self.meta.sha256 = seen.sha256;
        Ok(())
    }
}

/// What a deposit was known by before: its set, or a lone document with its unique id.
// One value, moved once into `resubmission`: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Known {
    Set(StoredSubmissionSet),
    Document(DocumentMeta),
}

/// A document's checks end with the document ready, or known already (a lone document).
enum Checked {
    Ready(Prepared),
    Known(DocumentMeta),
}

impl Carnet {
    /// Deposits documents into one record: every step a deposit takes, for `/api` documents and
    /// submission sets alike (see the module's documentation).
    pub(crate) async fn deposit<S>(&self, actor: &Actor, deposit: Deposit<S>) -> Result<Deposited>
    where
        S: Stream<Item = std::result::Result<Bytes, ContentError>> + Send + Unpin,
    {
        let Deposit { set, documents } = deposit;
        let Some(first) = documents.first() else {
            return Err(ServiceError::Invalid("a submission set holds at least one document".into()));
        };
        let ins = first.submission.ins.clone();
        if documents.iter().any(|d| d.submission.ins != ins) {
            return Err(ServiceError::Invalid("every document of a submission set is for the same patient".into()));
        }
        if set.is_none() && documents.len() != 1 {
            return Err(ServiceError::Invalid("several documents are deposited as a submission set".into()));
        }
        let operation = if set.is_some() { Operation::DepositSet } else { Operation::Deposit };
        let scope = self.scoped(actor, operation, Some(&ins)).await?;
        for d in &documents {
            if let Err(denied) = scope.check_deposit(actor, &d.submission.xds) {
                self.record_event(actor, Event::deny(operation.as_str(), Some(&ins), None, "insufficient_scope")).await?;
                return Err(denied.into());
            }
        }
        let ids: Vec<DocumentId> = documents.iter().map(|_| DocumentId::from_bytes(*uuid::Uuid::new_v4().as_bytes())).collect();
        let record = self.fed_record(actor, set.as_ref(), &documents, ids[0]).await?;
        if let Some(set) = &set {
            if set.unique_id.is_empty()
                || set.unique_id.len() > carnet_domain::document::MAX_UNIQUE_ID
                || !set.unique_id.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(ServiceError::Invalid("submission set unique_id: 1 to 128 printable ASCII characters".into()));
            }
            if let Some(existing) = self.db.find_submission_set_by_unique_id(&set.unique_id).await? {
                let mut again = Vec::with_capacity(documents.len());
                for d in documents {
                    let fingerprint = self.fingerprint(d.known, d.content).await?;
                    again.push((d.submission.xds.unique_id, fingerprint));
                }
                return self.resubmission(actor, &record, Known::Set(existing), &again, scope).await;
            }
        }

        let now = self.now();
        let mut prepared: Vec<Prepared> = Vec::with_capacity(documents.len());
        let mut contents = Vec::with_capacity(documents.len());
        for (i, (d, id)) in documents.into_iter().zip(ids).enumerate() {
            // In a set, a refusal names the document.
            let numbered = |e: ServiceError| match (e, &set) {
                (ServiceError::Invalid(m), Some(_)) => ServiceError::Invalid(format!("document {}: {m}", i + 1)),
                (ServiceError::Conflict(m), Some(_)) => ServiceError::Conflict(format!("document {}: {m}", i + 1)),
                (other, _) => other,
            };
            let p = match self.check(actor, &record, &d, id, now, set.is_some()).await.map_err(numbered)? {
                Checked::Ready(p) => p,
                Checked::Known(existing) => {
                    // A lone document deposited before: the body is read (hashed, not stored) to know.
                    let fingerprint = self.fingerprint(d.known, d.content).await?;
                    let again = [(d.submission.xds.unique_id, fingerprint)];
                    return self.resubmission(actor, &record, Known::Document(existing), &again, scope).await;
                }
            };
            if prepared.iter().any(|q| q.meta.xds.unique_id == p.meta.xds.unique_id) {
                return Err(ServiceError::Invalid(format!("document {}: the same unique id twice in one submission set", i + 1)));
            }
            if p.supersedes.is_some() && prepared.iter().any(|q| q.supersedes == p.supersedes) {
                return Err(ServiceError::Invalid(format!("document {}: two documents replace the same version", i + 1)));
            }
            prepared.push(p);
            contents.push(d.content);
        }

        // A CDA's header is read and checked against its deposit before anything is written.
        // Its level 3 entries become profile items, written with the document.
        let mut contents_checked = Vec::with_capacity(contents.len());
        let mut entries = Vec::with_capacity(contents.len());
        for (i, (p, content)) in prepared.iter().zip(contents).enumerate() {
            if !carnet_extract::cda::is_cda(&p.meta.xds.mime_type, &p.meta.xds.format_code.code) {
                contents_checked.push(Either::Left(content));
                entries.push(vec![]);
                continue;
            }
            let (bytes, read) = self.cda_checked(&record, p, content).await.map_err(|e| match (e, &set) {
                (ServiceError::Invalid(m), Some(_)) => ServiceError::Invalid(format!("document {}: {m}", i + 1)),
                (other, _) => other,
            })?;
            contents_checked.push(Either::Right(futures::stream::iter([Ok(bytes)])));
            entries.push(read);
        }
        let contents = contents_checked;

        // Checked: the decisions go to the ledger, then the blobs are written.
        for p in &prepared {
            let action = if p.supersedes.is_some() { "document.replace" } else { "document.submit" };
            self.record_event(actor, Event::permit(action, Some(&record.ins), Some(p.meta.id.to_string()), "may_feed")).await?;
        }
        let key = self.data_key_or_create(&record.ins).await?;
        let ids: Vec<DocumentId> = prepared.iter().map(|p| p.meta.id).collect();
        let mut guard = UploadGuard::new(self.clone(), ids.clone());
        let stored: Result<Option<String>> = async {
            let mut titles = Vec::with_capacity(prepared.len());
            for (p, content) in prepared.iter_mut().zip(contents) {
                self.db.begin_upload(p.meta.id, now).await?;
                let sealed = self.write_blob(&key, p.meta.id, content).await?;
                p.received(&sealed)?;
                titles.push(p.title.as_deref().map(|t| carnet_crypto::seal(&key, &title_context(p.meta.id), t.as_bytes())));
            }
            let notify: Vec<_> =
                prepared.iter().map(|p| self.new_document_message(&record.ins, notified_author(actor, &p.meta), &key)).collect();
            let mut items = Vec::new();
            for (p, read) in prepared.iter().zip(&entries) {
                items.extend(crate::profile::items_of_entries(&key, &p.meta, read, now)?);
            }
            let set = match (&set, prepared.as_slice(), titles.as_slice()) {
                (Some(set), ..) => set,
                (None, [p], [title]) => {
                    guard.committing();
                    self.db.insert_document_with_items(&p.meta, title.as_deref(), p.supersedes, &notify, &items).await?;
                    return Ok(None);
                }
                // Refused before anything was checked.
                (None, ..) => return Err(ServiceError::Invalid("several documents are deposited as a submission set".into())),
            };
            let title_sealed = set.title.as_deref().map(|t| carnet_crypto::seal(&key, &set_title_context(&set.unique_id), t.as_bytes()));
            let author_name = set.author.as_ref().and_then(|a| a.name.as_ref());
            let stored_set = StoredSubmissionSet {
                id: uuid::Uuid::new_v4().to_string(),
                ins: record.ins.clone(),
                unique_id: set.unique_id.clone(),
                source_id: set.source_id.clone(),
                author: set.author.as_ref().and_then(|a| a.rpps.as_ref()).map(|r| format!("rpps:{r}")),
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
            guard.committing();
            self.db.insert_submission_with_items(&stored_set, &rows, &notify, &items).await?;
            Ok(Some(stored_set.id))
        }
        .await;
        // Success or failure, the request is still here to finish the job: the guard is only
        // for a request dropped mid-way.
        guard.disarm();
        let set_id = match stored {
            Ok(set_id) => set_id,
            Err(e) => {
                // A refused commit (a unique id or a replaced version taken meanwhile) rolled
                // back; any other failure of the commit (a lost connection, a failed flush) may
                // have left the rows in place: the pending notes decide (the upload sweep).
                if !guard.was_committing() || matches!(e, ServiceError::Conflict(_)) {
                    for id in &ids {
                        self.abandon_upload(*id).await;
                    }
                } else {
                    tracing::warn!(error = %e, "a deposit's commit failed: its blobs are left to the upload sweep");
                }
                if !matches!(e, ServiceError::Conflict(_)) {
                    return Err(e);
                }
                // Another request deposited the same unique id meanwhile: answer as a resubmission.
                let known = match &set {
                    Some(set) => self.db.find_submission_set_by_unique_id(&set.unique_id).await?.map(Known::Set),
                    None => match prepared.first() {
                        Some(p) => self.db.find_document_by_unique_id(&p.meta.xds.unique_id).await?.map(Known::Document),
                        None => None,
                    },
                };
                let Some(known) = known else { return Err(e) };
                let again: Vec<_> = prepared.into_iter().map(|p| (p.meta.xds.unique_id.clone(), Fingerprint::of(&p.meta))).collect();
                return self.resubmission(actor, &record, known, &again, scope).await;
            }
        };
        if record.first_fed_at.is_none() {
            self.db.mark_fed(&record.ins, now).await?;
        }
        match (&set_id, prepared.as_slice()) {
            (Some(set), _) => tracing::info!(set = %set, documents = prepared.len(), by = %actor.reference(), "submission set deposited"),
            (None, [p]) => tracing::info!(document = %p.meta.id, by = %actor.reference(), size = p.meta.size, "document deposited"),
            (None, _) => {}
        }
        let documents = prepared.into_iter().map(|p| DocumentView { meta: p.meta, title: p.title }).collect();
        Ok(Deposited { set_id, documents, created: true, submitted_at: now })
    }

    /// The record the documents go into, after checking that this actor may feed it with each
    /// of them (an insurer agent feeds REMB only). A refusal is a ledger entry: `document.submit`
    /// on the document's id for a lone document, `document.submit_set` on the set's unique id.
    async fn fed_record<S>(
        &self,
        actor: &Actor,
        set: Option<&NewSubmissionSet>,
        documents: &[Incoming<S>],
        first_id: DocumentId,
    ) -> Result<Record> {
        let mut record = None;
        for d in documents {
            match self.feedable_record(actor, &d.submission).await {
                Ok(fed) => {
                    record.get_or_insert(fed);
                }
                Err(e) => {
                    let reason = match &e {
                        ServiceError::Forbidden(_) => "not_allowed_to_feed",
                        ServiceError::NotFound(_) => "not_found",
                        _ => "record_not_feedable",
                    };
                    let (action, target) = match set {
                        Some(set) => ("document.submit_set", set.unique_id.chars().take(128).collect()),
                        None => ("document.submit", first_id.to_string()),
                    };
                    self.record_event(actor, Event::deny(action, Some(&d.submission.ins), Some(target), reason)).await?;
                    return Err(e);
                }
            }
        }
        record.ok_or_else(|| ServiceError::Invalid("a submission set holds at least one document".into()))
    }

    /// One document's checks, before anything is written. `in_set`: a unique id known already
    /// is a conflict (the set is what is resubmitted); alone, it is answered as a resubmission.
    async fn check<S>(
        &self,
        actor: &Actor,
        record: &Record,
        d: &Incoming<S>,
        id: DocumentId,
        now: OffsetDateTime,
        in_set: bool,
    ) -> Result<Checked> {
        let submission = &d.submission;
        let (author, author_name) = self.author_of(actor, submission).await?;
        let known = d.known.unwrap_or(Fingerprint { size: 0, sha256: [0; 32] });
        let meta = DocumentMeta {
            id,
            ins: record.ins.clone(),
            xds: submission.xds.clone(),
            author,
            author_name,
            deposited_by: actor.reference(),
            submitted_at: now,
            size: known.size,
            sha256: known.sha256,
            labels: normalized_labels(&submission.labels),
            status: DocumentStatus::Current,
            archived: false,
            replaces: submission.replaces,
        };
        check_metadata(&meta.xds, &self.config.codes).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        check_deposit_labels(actor, &meta.labels)?;
        if submission.title.as_ref().is_some_and(|t| t.chars().count() > MAX_TITLE) {
            return Err(ServiceError::Invalid(format!("title: at most {MAX_TITLE} characters")));
        }
        match d.known {
            Some(known) => {
                if known.size > self.config.max_document_bytes {
                    return Err(ServiceError::TooLarge { limit: self.config.max_document_bytes });
                }
                if let Some(declared) = submission.declared_size
                    && declared != known.size
                {
                    return Err(ServiceError::Invalid(format!(
                        "size: {declared} bytes declared, {} given; nothing was stored",
                        known.size
                    )));
                }
                if submission.declared_sha256.is_some_and(|h| h != known.sha256) {
                    return Err(ServiceError::Invalid(
                        "hash: the SHA-256 of the bytes differs from the one declared; nothing was stored".into(),
                    ));
                }
            }
            None => {
                if submission.declared_size.is_some_and(|size| size > self.config.max_document_bytes) {
                    return Err(ServiceError::TooLarge { limit: self.config.max_document_bytes });
                }
            }
        }
        if let Some(existing) = self.db.find_document_by_unique_id(&meta.xds.unique_id).await? {
            if !in_set {
                return Ok(Checked::Known(existing));
            }
            return Err(ServiceError::Conflict(format!(
                "a document with unique id {} was deposited in another submission set",
                meta.xds.unique_id
            )));
        }
        let supersedes = match submission.replaces {
            Some(old) => Some(self.replaceable(actor, record, old).await?),
            None => None,
        };
        Ok(Checked::Ready(Prepared {
            meta,
            title: submission.title.clone(),
            supersedes,
            known: d.known,
            declared_size: submission.declared_size,
            declared_sha256: submission.declared_sha256,
        }))
    }

    /// Reads a CDA document's bytes (bounded) and checks its header against its deposit
    /// (`carnet_extract::cda::check_deposit`); the bytes are then written as any document's, and
    /// the level 3 entries (none at level 1) are returned for the profile.
    async fn cda_checked<S>(&self, record: &Record, p: &Prepared, mut content: S) -> Result<(Bytes, Vec<carnet_extract::cda::Entry>)>
    where
        S: Stream<Item = std::result::Result<Bytes, ContentError>> + Send + Unpin,
    {
        use carnet_extract::cda::{CdaLimits, DepositFacts, check_deposit, read_cda};
        let defaults = CdaLimits::default();
        let max_input = usize::try_from(self.config.max_document_bytes).unwrap_or(usize::MAX).min(defaults.max_input);
        let mut bytes = Vec::new();
        while let Some(piece) = content.next().await {
            let piece = piece.map_err(|e| self.content_error(e))?;
            if bytes.len() + piece.len() > max_input {
                return Err(ServiceError::TooLarge { limit: max_input as u64 });
            }
            bytes.extend_from_slice(&piece);
        }
        let refused = |e: carnet_extract::cda::CdaError| ServiceError::Invalid(format!("CDA R2 document refused, {e}; nothing was stored"));
        let doc = read_cda(&bytes, &CdaLimits { max_input, ..defaults }).map_err(refused)?;
        let replaced = match p.supersedes {
            Some(old) => self.db.find_document(old).await?.map(|(meta, _)| meta.xds.unique_id),
            None => None,
        };
        let facts = DepositFacts {
            ins: &record.ins,
            author_rpps: p.meta.author.strip_prefix("rpps:"),
            labels: &p.meta.labels,
            type_code: &p.meta.xds.type_code,
            replaces: replaced.as_deref(),
        };
        check_deposit(&doc, &facts, &self.config.codes).map_err(refused)?;
        let entries = match doc.body {
            carnet_extract::cda::Body::Structured { entries, .. } => entries,
            carnet_extract::cda::Body::NonXml { .. } => vec![],
        };
        Ok((Bytes::from(bytes), entries))
    }

    /// The size and SHA-256 of a document's bytes: known, or read (hashed, not stored) to know.
    async fn fingerprint<S>(&self, known: Option<Fingerprint>, mut content: S) -> Result<Fingerprint>
    where
        S: Stream<Item = std::result::Result<Bytes, ContentError>> + Send + Unpin,
    {
        if let Some(known) = known {
            return Ok(known);
        }
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(piece) = content.next().await {
            let piece = piece.map_err(|e| self.content_error(e))?;
            size += piece.len() as u64;
            if size > self.config.max_document_bytes {
                return Err(ServiceError::TooLarge { limit: self.config.max_document_bytes });
            }
            hasher.update(&piece);
        }
        Ok(Fingerprint { size, sha256: hasher.finalize().into() })
    }

    /// Answers a deposit whose unique id is known: the same documents (unique ids, patient,
    /// sizes, hashes, in order) answer `created: false` with what was stored; anything else is a
    /// conflict.
    async fn resubmission(
        &self,
        actor: &Actor,
        record: &Record,
        known: Known,
        again: &[(String, Fingerprint)],
        scope: DocumentScope,
    ) -> Result<Deposited> {
        let (what, set_id, submitted_at, stored) = match known {
            Known::Document(meta) => ("document", None, meta.submitted_at, vec![Some(meta)]),
            Known::Set(set) => {
                let mut stored = Vec::with_capacity(set.documents.len());
                // Another patient's set, or another count of documents, stays empty: a conflict.
                if set.ins == record.ins && set.documents.len() == again.len() {
                    for id in &set.documents {
                        stored.push(self.db.find_document(*id).await?.map(|(meta, _)| meta));
                    }
                }
                ("submission set", Some(set.id), set.submitted_at, stored)
            }
        };
        let conflict = || ServiceError::Conflict(format!("a {what} with this unique id exists with other content"));
        if stored.len() != again.len() {
            return Err(conflict());
        }
        let mut documents = Vec::with_capacity(stored.len());
        for (meta, (unique_id, fingerprint)) in stored.into_iter().zip(again) {
            let Some(meta) = meta else { return Err(conflict()) };
            let same = meta.xds.unique_id == *unique_id && meta.ins == record.ins && Fingerprint::of(&meta) == *fingerprint;
            if !same {
                return Err(conflict());
            }
            // The answer carries the stored title: a read, so a ledger entry like any other.
            self.record_event(actor, Event::permit("document.resubmit", Some(&record.ins), Some(meta.id.to_string()), "same_content"))
                .await?;
            documents.push(self.view_unchecked(actor, record, meta, scope.clone()).await?);
        }
        Ok(Deposited { set_id, documents, created: false, submitted_at })
    }
}

/// The author's name in the patient's "new document" notification: as declared (or found in
/// the directory), else the depositor's.
fn notified_author(actor: &Actor, meta: &DocumentMeta) -> Option<String> {
    let declared =
        meta.author_name.as_ref().map(|n| [n.given.as_deref(), n.family.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" "));
    declared.or_else(|| actor.name.clone())
}
