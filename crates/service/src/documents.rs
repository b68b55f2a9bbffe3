//! Documents: deposit (streamed, sealed chunk by chunk under the patient's key), consultation
//! through the gate, retrieval of byte ranges, lifecycle (replace, withdraw, archive), derived
//! artifacts, and crypto-shredding.
//!
//! A deposit never leaves half-written state: the upload is noted as pending before the first
//! blob byte, the blob is complete and durable before the metadata row exists, and the row's
//! insertion ends the pending note in the same transaction. Whatever fails in between deletes
//! the blob; a killed process leaves a pending note that the next start cleans.

use std::ops::Range;

use bytes::Bytes;
use carnet_crypto::{StreamOpener, StreamSealer};
use carnet_domain::document::{DocumentSubmission, PersonName};
use carnet_domain::{
    Action, Actor, DocumentId, DocumentMeta, DocumentScope, DocumentStatus, IdentityStatus, Ins, Operation, Record, RecordStatus,
    SecurityLabel, authorize,
};
use carnet_store::{DirectoryStore, DocumentStore, KeyStore, RecordStore, StoreError};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::audit::Event;
use crate::deposit::{Deposit, Deposited, Incoming};
use crate::gate::Visible;
use crate::{Carnet, Result, ServiceError};

/// Why a content stream stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentError {
    /// The body exceeded the transport's limit.
    TooLarge,
    /// The client went away or sent a malformed body.
    Interrupted(String),
    /// The body was whole but is not what the deposit allows (e.g. a second document part):
    /// nothing is stored.
    Invalid(String),
    /// The body arrives slower than the server waits for.
    TooSlow(String),
}

/// What is done with a document: each is its own action in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentAction {
    /// Metadata (and title).
    Read,
    /// The bytes.
    Retrieve,
    /// Extracted text or structured entries.
    ReadDerived,
    Withdraw,
    Archive,
    Unarchive,
    /// A change of security labels.
    Label,
}

impl DocumentAction {
    /// What the token's scopes must allow.
    pub fn operation(self) -> Operation {
        match self {
            DocumentAction::Read => Operation::ReadDocument,
            DocumentAction::Retrieve | DocumentAction::ReadDerived => Operation::ReadContent,
            DocumentAction::Withdraw | DocumentAction::Archive | DocumentAction::Unarchive | DocumentAction::Label => {
                Operation::UpdateDocument
            }
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            DocumentAction::Read => "document.read",
            DocumentAction::Retrieve => "document.retrieve",
            DocumentAction::ReadDerived => "document.read_derived",
            DocumentAction::Withdraw => "document.withdraw",
            DocumentAction::Archive => "document.archive",
            DocumentAction::Unarchive => "document.unarchive",
            DocumentAction::Label => "document.label",
        }
    }
}

/// A document as its reader may see it: metadata and the (unsealed) title.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentView {
    pub meta: DocumentMeta,
    pub title: Option<String>,
}

/// The outcome of a deposit.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    Created(DocumentView),
    /// The same unique id with the same bytes was deposited before: nothing new was stored.
    Unchanged(DocumentView),
}

/// Plaintext bytes of a document (or of a range of it), authenticated chunk by chunk as they
/// are read. A chunk that fails authentication ends the stream with an error: nothing
/// unauthenticated is ever yielded.
pub struct Content {
    pub meta: DocumentMeta,
    /// The plaintext range served (`0..size` for the whole document).
    pub range: Range<u64>,
    pub body: BoxStream<'static, Result<Bytes>>,
}

pub(crate) const MAX_TITLE: usize = 1000;

pub(crate) fn title_context(id: DocumentId) -> Vec<u8> {
    let mut c = b"carnet-title-v1".to_vec();
    c.extend_from_slice(id.as_bytes());
    c
}

pub(crate) fn derived_context(id: DocumentId, kind: &str) -> Vec<u8> {
    let mut c = b"carnet-derived-v1".to_vec();
    c.extend_from_slice(id.as_bytes());
    c.extend_from_slice(kind.as_bytes());
    c
}

/// Pending notes read per statement by the upload sweep.
const PENDING_PAGE: u32 = 500;
/// Blobs listed per page, and pages per round of the upload sweep: a round checks at most
/// 10 000 blobs, then the next round goes on from there.
const BLOB_PAGE: usize = 1000;
const BLOB_PAGES_PER_ROUND: usize = 10;

/// What a round of `Carnet::sweep_uploads` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadSweep {
    /// Pending notes of interrupted uploads, each with its blob.
    pub interrupted_uploads: usize,
    /// Blobs claimed by neither a document nor an upload.
    pub orphan_blobs: usize,
}

/// Deletes the blob and the pending note of an upload that did not complete, even when the
/// request's future is dropped mid-way (client gone, timeout, shutdown). Once the rows' commit
/// has been sent it does nothing: the commit may have happened, and deleting the blob would
/// leave a row without content. Its pending note decides instead — ended by the commit, or left
/// for the upload sweep, which deletes the blob with it.
pub(crate) struct UploadGuard {
    carnet: Option<Carnet>,
    ids: Vec<DocumentId>,
    committing: bool,
}

impl UploadGuard {
    pub(crate) fn new(carnet: Carnet, ids: Vec<DocumentId>) -> UploadGuard {
        UploadGuard { carnet: Some(carnet), ids, committing: false }
    }

    /// The rows' commit is about to be sent.
    pub(crate) fn committing(&mut self) {
        self.committing = true;
    }

    pub(crate) fn was_committing(&self) -> bool {
        self.committing
    }

    pub(crate) fn disarm(&mut self) {
        self.carnet = None;
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if self.committing {
            return;
        }
        if let Some(carnet) = self.carnet.take() {
            let ids = std::mem::take(&mut self.ids);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    for id in ids {
                        carnet.abandon_upload(id).await;
                    }
                });
            }
        }
    }
}

impl Carnet {
    /// Deposits a document, streaming its bytes into a sealed blob: a submission set of one
    /// document, without a set of its own (see `deposit`). The declared size and hash, when
    /// given, must match the bytes; the same unique id with the same bytes is answered
    /// `Unchanged`, with other bytes it is a conflict.
    pub async fn submit_document<S>(&self, actor: &Actor, submission: DocumentSubmission, content: S) -> Result<Submitted>
    where
        S: Stream<Item = std::result::Result<Bytes, ContentError>> + Send + Unpin,
    {
        let alone = Deposit { set: None, documents: vec![Incoming { submission, content, known: None }] };
        let Deposited { mut documents, created, .. } = self.deposit(actor, alone).await?;
        // One document in, one view out.
        let view = documents.pop().ok_or(ServiceError::NotFound("document"))?;
        Ok(if created { Submitted::Created(view) } else { Submitted::Unchanged(view) })
    }

    /// The record a deposit goes into, after checking who may feed it.
    pub(crate) async fn feedable_record(&self, actor: &Actor, submission: &DocumentSubmission) -> Result<Record> {
        let ins = &submission.ins;
        authorize(actor, Action::Feed { ins, type_code: &submission.xds.type_code })?;
        let record = self.db.find_record_by_ins(ins).await?.ok_or(ServiceError::NotFound("record"))?;
        if record.status != RecordStatus::Active {
            return Err(ServiceError::Conflict(format!(
                "the record is {}: documents are deposited in active records only",
                record.status.as_str()
            )));
        }
        if record.identity_status != IdentityStatus::Qualifiee {
            return Err(ServiceError::Conflict(format!(
                "the patient's identity is {}: only a qualified identity (qualifiee) may be used to feed a record",
                record.identity_status.as_str()
            )));
        }
        Ok(record)
    }

    /// Who authored the document: a professional authors as themselves; feeding software names
    /// the author; a patient's own deposits are theirs.
    pub(crate) async fn author_of(&self, actor: &Actor, submission: &DocumentSubmission) -> Result<(String, Option<PersonName>)> {
        let declared = submission.declared_author.as_ref();
        let reference = match declared.and_then(|d| d.rpps.as_ref()) {
            Some(rpps) if authorize(actor, Action::NameAuthor).is_ok() => format!("rpps:{rpps}"),
            _ => actor.reference(),
        };
        let mut name = declared.and_then(|d| d.name.clone());
        if name.is_none()
            && let Some(rpps) = reference.strip_prefix("rpps:").and_then(|r| r.parse().ok())
            && let Some(p) = self.db.find_professional_by_rpps(&rpps).await?
        {
            name = Some(PersonName { family: Some(p.family_name), given: Some(p.given_name) });
        }
        Ok((reference, name))
    }

    /// The view of a document the caller just deposited (or re-deposited): its own deposit.
    /// `documents` is the deposit's scope check.
    pub(crate) async fn view_unchecked(
        &self,
        actor: &Actor,
        record: &Record,
        meta: DocumentMeta,
        documents: DocumentScope,
    ) -> Result<DocumentView> {
        let gate = self.gate(actor, record, documents).await?;
        match gate.admit(meta.clone()) {
            Some(visible) => self.view(&visible).await,
            // Deposited, but not readable by the depositor (e.g. labelled INVISIBLE_PATIENT by
            // a patient's own software): answer the metadata it sent, without the title.
            None => Ok(DocumentView { meta, title: None }),
        }
    }

    /// A replacement's target: the current version, of the same record, by its author (or the
    /// software that deposited it). Anyone else gets the answer a missing document gets.
    pub(crate) async fn replaceable(&self, actor: &Actor, record: &Record, old: DocumentId) -> Result<DocumentId> {
        let meta = match self.db.find_document(old).await? {
            Some((meta, _)) if meta.ins == record.ins => meta,
            _ => return Err(ServiceError::NotFound("document to replace")),
        };
        let own = actor.has_reference(&meta.author) || actor.has_reference(&meta.deposited_by);
        if !own {
            return Err(ServiceError::NotFound("document to replace"));
        }
        if meta.status != DocumentStatus::Current {
            return Err(ServiceError::Conflict(format!("the document to replace is {}", meta.status.as_str())));
        }
        Ok(old)
    }

    pub(crate) fn content_error(&self, e: ContentError) -> ServiceError {
        match e {
            ContentError::TooLarge => ServiceError::TooLarge { limit: self.config.max_document_bytes },
            ContentError::Interrupted(why) => ServiceError::Interrupted(why),
            ContentError::Invalid(why) => ServiceError::Invalid(why),
            ContentError::TooSlow(why) => ServiceError::TooSlow(why),
        }
    }

    /// Seals the stream into the blob of `id`; on any failure the partial blob is discarded.
    pub(crate) async fn write_blob<S>(&self, key: &carnet_crypto::DataKey, id: DocumentId, mut content: S) -> Result<carnet_crypto::Sealed>
    where
        S: Stream<Item = std::result::Result<Bytes, ContentError>> + Send + Unpin,
    {
        let mut writer = self.blobs.writer(id).await?;
        let mut sealer = StreamSealer::new(key, *id.as_bytes(), self.config.chunk_size);
        let outcome: Result<()> = async {
            writer.write(sealer.header()).await?;
            while let Some(piece) = content.next().await {
                let piece = piece.map_err(|e| self.content_error(e))?;
                for chunk in sealer.push(&piece)? {
                    writer.write(chunk).await?;
                }
                if writer.written() > self.config.max_document_bytes + self.config.max_document_bytes / 100 + 4096 {
                    return Err(ServiceError::TooLarge { limit: self.config.max_document_bytes });
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            let _ = writer.abort().await;
            return Err(e);
        }
        let (last, sealed) = match sealer.finish() {
            Ok(done) => done,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        };
        if sealed.size > self.config.max_document_bytes {
            let _ = writer.abort().await;
            return Err(ServiceError::TooLarge { limit: self.config.max_document_bytes });
        }
        writer.write(last).await?;
        writer.finish().await?;
        Ok(sealed)
    }

    /// Cleans an upload that did not complete: its blob, then its pending note.
    pub(crate) async fn abandon_upload(&self, id: DocumentId) {
        let outcome = async {
            self.blobs.delete(id).await?;
            self.db.end_upload(id).await
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(document = %id, error = %e, "could not clean an interrupted upload; the next start will");
        }
    }

    /// At start: removes what interrupted uploads left (pending notes, partial blobs, staging
    /// files) among uploads started before `started_before`. A server sharing its database with
    /// other nodes passes an instant older than any upload still running elsewhere (see
    /// `ServiceConfig::upload_deadline`).
    pub async fn clean_interrupted_uploads(&self, started_before: time::OffsetDateTime) -> Result<usize> {
        let uploads = self.clean_pending_uploads(started_before).await?;
        let staged = self.blobs.remove_staging_leftovers()?;
        if uploads > 0 || staged > 0 {
            tracing::info!(uploads, staging_files = staged, "cleaned interrupted uploads");
        }
        Ok(uploads + staged)
    }

    /// One round of the periodic upload sweep, safe on every node at once: the pending notes
    /// older than `ServiceConfig::upload_deadline` (an upload that old was ended by whichever
    /// node ran it, or that node died) go with their blobs; then the next pages of the blob
    /// listing are checked, and a blob older than the deadline that has neither a document row
    /// nor a pending note is deleted. The listing resumes where the previous round stopped, so
    /// a round does bounded work however many blobs there are.
    pub async fn sweep_uploads(&self) -> Result<UploadSweep> {
        // One round at a time on this node; it also holds where the listing resumes.
        let mut cursor = self.blob_cursor.lock().await;
        // Nothing is older than the epoch: a deadline beyond it sweeps nothing.
        let cutoff = self.now().checked_sub(self.config.upload_deadline).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let interrupted_uploads = self.clean_pending_uploads(cutoff).await?;
        let mut orphan_blobs = 0;
        for _ in 0..BLOB_PAGES_PER_ROUND {
            let page = self.blobs.list_page(cursor.as_ref(), BLOB_PAGE).await?;
            let old: Vec<DocumentId> = page.blobs.iter().filter(|b| b.last_modified < cutoff).map(|b| b.id).collect();
            // Checked after the listing, never before: a listed blob exists, so its upload's
            // note was written before it (`begin_upload` precedes the first byte), and a note
            // goes only with its row's insertion (one transaction, which `unclaimed_ids` sees
            // whole) or after its blob was deleted. An id with neither, now, belongs to nobody:
            // no row can appear for it later. Another node deleting it too is harmless.
            for id in self.db.unclaimed_ids(&old).await? {
                self.blobs.delete(id).await?;
                tracing::info!(document = %id, "deleted an orphan blob");
                orphan_blobs += 1;
            }
            *cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        if interrupted_uploads + orphan_blobs > 0 {
            tracing::info!(interrupted_uploads, orphan_blobs, "upload sweep");
        }
        Ok(UploadSweep { interrupted_uploads, orphan_blobs })
    }

    /// Deletes the blobs, then the notes, of uploads begun before `started_before`, a page at
    /// a time. Deleting the blob first: a failure in between leaves a note, found again.
    async fn clean_pending_uploads(&self, started_before: time::OffsetDateTime) -> Result<usize> {
        let mut cleaned = 0;
        loop {
            let pending = self.db.pending_uploads(started_before, PENDING_PAGE).await?;
            for id in &pending {
                self.blobs.delete(*id).await?;
                self.db.end_upload(*id).await?;
            }
            cleaned += pending.len();
            if pending.len() < PENDING_PAGE as usize {
                return Ok(cleaned);
            }
        }
    }

    /// The record a consultation reads, or 404 for anyone who may not know of it.
    async fn consulted_record(&self, ins: &Ins) -> Result<Record> {
        self.db.find_record_by_ins(ins).await?.ok_or(ServiceError::NotFound("document"))
    }

    /// A document through the gate. Missing and hidden answer the same `NotFound`.
    /// A document through the gate, for `action`; the decision goes to the ledger first. A
    /// document the actor may not see answers exactly like a missing one.
    pub async fn visible_document(&self, actor: &Actor, id: DocumentId, action: DocumentAction) -> Result<Visible> {
        Ok(self.visible_document_scoped(actor, id, action).await?.0)
    }

    /// `visible_document`, with the scope check's answer for the steps that follow.
    pub(crate) async fn visible_document_scoped(
        &self,
        actor: &Actor,
        id: DocumentId,
        action: DocumentAction,
    ) -> Result<(Visible, DocumentScope)> {
        let documents = self.scoped(actor, action.operation(), None).await?;
        let found = match self.db.find_document(id).await? {
            Some((meta, title)) => self.record_and_gate(actor, &meta.ins, documents.clone()).await?.map(|(_, gate, _)| (meta, title, gate)),
            None => None,
        };
        let Some((meta, title, gate)) = found else {
            self.record_event(actor, Event::deny(action.code(), None, Some(id.to_string()), "not_found")).await?;
            return Err(ServiceError::NotFound("document"));
        };
        if !gate.in_scope(&meta) {
            // Outside the token's granular scopes: answered like a missing document.
            self.record_event(actor, Event::deny(action.code(), Some(&meta.ins), Some(id.to_string()), "out_of_scope")).await?;
            return Err(ServiceError::NotFound("document"));
        }
        let decision = gate.decide(&meta);
        if decision.is_permit() {
            self.guard_opening(&gate).await?;
        }
        let event = Event::decided(action.code(), Some(&meta.ins), Some(id.to_string()), decision);
        self.record_event(actor, event).await?;
        match gate.admit_with_title(meta, title.map(std::sync::Arc::from)) {
            Some(visible) => {
                self.note_consultation(&gate).await?;
                Ok((visible, documents))
            }
            None => Err(ServiceError::NotFound("document")),
        }
    }

    /// A patient's documents this actor may see, newest first: `decide` applied to every
    /// document of the record, nothing more, nothing less. One ledger entry for the search, with
    /// the record-level decision and how many documents it returned.
    pub async fn visible_documents(&self, actor: &Actor, ins: &Ins) -> Result<Vec<Visible>> {
        let documents = self.scoped(actor, Operation::SearchDocuments, Some(ins)).await?;
        self.documents_through(actor, ins, documents).await
    }

    /// The documents of `ins` the gate and the token's scopes (`documents`) let through, and
    /// the search's ledger entry.
    pub(crate) async fn documents_through(&self, actor: &Actor, ins: &Ins, documents: DocumentScope) -> Result<Vec<Visible>> {
        self.documents_shaped(actor, ins, documents, |visible| {
            let returned = visible.len();
            (visible, returned)
        })
        .await
    }

    /// `documents_through`, the list shaped by `shape` (the timeline's page), which also says
    /// how many documents it returns, for the ledger entry.
    pub(crate) async fn documents_shaped<T: Default>(
        &self,
        actor: &Actor,
        ins: &Ins,
        documents: DocumentScope,
        shape: impl FnOnce(Vec<Visible>) -> (T, usize),
    ) -> Result<T> {
        let Some((_, gate, generation)) = self.record_and_gate(actor, ins, documents).await? else {
            // A record the actor may not know of lists like an empty one.
            self.record_event(actor, Event::deny("document.search", Some(ins), None, "not_found")).await?;
            return Ok(T::default());
        };
        let standing = gate.record_decision();
        if standing.is_permit() {
            self.guard_opening(&gate).await?;
        }
        let visible: Vec<Visible> = self
            .db
            .find_documents_at(ins, generation)
            .await?
            .into_iter()
            .filter_map(|(meta, title)| gate.admit_with_title(meta, title))
            .collect();
        let (shaped, returned) = shape(visible);
        let returned = Some(format!("returned:{returned}"));
        self.record_event(actor, Event::decided("document.search", Some(ins), returned, standing)).await?;
        if standing.is_permit() {
            self.note_consultation(&gate).await?;
        }
        Ok(shaped)
    }

    /// Metadata and title of a visible document.
    pub async fn view(&self, visible: &Visible) -> Result<DocumentView> {
        Ok(self
            .views(std::slice::from_ref(visible))
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(|| DocumentView { meta: visible.meta().clone(), title: None }))
    }

    /// Metadata and titles of visible documents (see `titles`).
    pub async fn views(&self, visible: &[Visible]) -> Result<Vec<DocumentView>> {
        let titles = self.titles(visible).await?;
        Ok(visible.iter().zip(titles).map(|(v, title)| DocumentView { meta: v.meta().clone(), title }).collect())
    }

    /// The titles of visible documents, in order, with one unwrap of the key per record (a
    /// search's page). Titles already read with the metadata are not read again.
    pub async fn titles(&self, visible: &[Visible]) -> Result<Vec<Option<String>>> {
        let mut out = Vec::with_capacity(visible.len());
        let mut key: Option<(Ins, Option<carnet_crypto::DataKey>)> = None;
        for v in visible {
            let meta = v.meta();
            let sealed: Option<std::sync::Arc<[u8]>> = match &v.title_sealed {
                Some(known) => known.clone(),
                None => self.db.find_document(meta.id).await?.and_then(|(_, t)| t).map(std::sync::Arc::from),
            };
            let title = match sealed {
                Some(sealed) => {
                    if key.as_ref().is_none_or(|(ins, _)| *ins != meta.ins) {
                        key = Some((meta.ins.clone(), self.data_key(&meta.ins).await?));
                    }
                    let Some((_, Some(data_key))) = &key else { return Err(ServiceError::NotFound("document")) };
                    let bytes = carnet_crypto::open(data_key, &title_context(meta.id), &sealed)?;
                    Some(
                        String::from_utf8(bytes)
                            .map_err(|_| ServiceError::Crypto(carnet_crypto::CryptoError::Format("title is not UTF-8")))?,
                    )
                }
                None => None,
            };
            out.push(title);
        }
        Ok(out)
    }

    pub async fn document(&self, actor: &Actor, id: DocumentId) -> Result<DocumentView> {
        let visible = self.visible_document(actor, id, DocumentAction::Read).await?;
        self.view(&visible).await
    }

    /// The plaintext of a visible document, or of `range` (start..end, end exclusive) of it.
    /// The first chunk is authenticated before this returns, so a corrupt blob is an error
    /// status rather than a broken success.
    pub async fn content(&self, visible: &Visible, range: Option<Range<u64>>) -> Result<Content> {
        self.open_content(visible.meta().clone(), range).await
    }

    /// `content` without the gate: for the service's own work on a document (text extraction),
    /// never for a caller.
    pub(crate) async fn open_content(&self, meta: DocumentMeta, range: Option<Range<u64>>) -> Result<Content> {
        let range = range.unwrap_or(0..meta.size);
        if range.start > range.end || range.end > meta.size {
            return Err(ServiceError::Invalid(format!("range: the document has {} bytes", meta.size)));
        }
        let key = self.data_key(&meta.ins).await?.ok_or(ServiceError::NotFound("document"))?;
        let blob_len = self.blobs.len(meta.id).await?;
        let header = self.blobs.read_range(meta.id, 0..carnet_crypto::blob::HEADER_LEN as u64).await?;
        let mut opener = StreamOpener::new(&key, *meta.id.as_bytes(), &header, blob_len, range.start, range.end)?;
        if opener.layout().plaintext_len != meta.size {
            return Err(ServiceError::Crypto(carnet_crypto::CryptoError::Integrity("blob length")));
        }
        let blob_range = opener.blob_range();
        let mut pieces =
            if blob_range.is_empty() { futures::stream::empty().boxed() } else { self.blobs.stream_range(meta.id, blob_range).await? };
        // Read up to the first authenticated plaintext (or the end) before answering.
        let mut first: Vec<Bytes> = Vec::new();
        let mut ended = blob_range_is_empty(&opener);
        while first.is_empty() && !ended {
            match pieces.next().await {
                Some(piece) => first = opener.push(&piece?)?,
                None => ended = true,
            }
        }
        let state = OpenState { opener: Some(opener), pieces, ended };
        let rest = futures::stream::unfold(state, next_plaintext).flat_map(|r: Result<Vec<Bytes>>| match r {
            Ok(v) => futures::stream::iter(v.into_iter().map(Ok)).left_stream(),
            Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
        });
        let body = futures::stream::iter(first.into_iter().map(Ok)).chain(rest).boxed();
        Ok(Content { meta, range, body })
    }

    /// Seals and stores a derived artifact (extracted text, structured entries) of a document.
    pub async fn save_derived(&self, visible: &Visible, kind: &str, plaintext: &[u8]) -> Result<()> {
        let meta = visible.meta();
        let key = self.data_key(&meta.ins).await?.ok_or(ServiceError::NotFound("document"))?;
        let sealed = carnet_crypto::seal(&key, &derived_context(meta.id, kind), plaintext);
        Ok(self.db.save_derived(meta.id, kind, &sealed).await?)
    }

    pub async fn derived(&self, visible: &Visible, kind: &str) -> Result<Option<Vec<u8>>> {
        let meta = visible.meta();
        let Some(sealed) = self.db.find_derived(meta.id, kind).await? else { return Ok(None) };
        let key = self.data_key(&meta.ins).await?.ok_or(ServiceError::NotFound("document"))?;
        Ok(Some(carnet_crypto::open(&key, &derived_context(meta.id, kind), &sealed)?))
    }

    /// Withdraws a document (entered-in-error): its author only.
    pub async fn withdraw_document(&self, actor: &Actor, id: DocumentId) -> Result<DocumentView> {
        self.change_document(actor, id, DocumentAction::Withdraw, |m| m.withdraw()).await
    }

    /// Archives or unarchives a document: its author only.
    pub async fn archive_document(&self, actor: &Actor, id: DocumentId, archived: bool) -> Result<DocumentView> {
        let action = if archived { DocumentAction::Archive } else { DocumentAction::Unarchive };
        self.change_document(actor, id, action, |m| m.set_archived(archived)).await
    }

    async fn change_document(
        &self,
        actor: &Actor,
        id: DocumentId,
        action: DocumentAction,
        change: impl FnOnce(&mut DocumentMeta) -> std::result::Result<(), carnet_domain::document::DocumentLifecycleError>,
    ) -> Result<DocumentView> {
        let (visible, documents) = self.visible_document_scoped(actor, id, action).await?;
        let record = self.consulted_record(&visible.meta().ins).await?;
        if record.status != RecordStatus::Active {
            return Err(ServiceError::Conflict(format!("the record is {}", record.status.as_str())));
        }
        let mut meta = visible.meta().clone();
        if let Err(denied) = authorize(actor, Action::ChangeDocumentStatus { author: &meta.author, deposited_by: &meta.deposited_by }) {
            self.record_event(actor, Event::deny(action.code(), Some(&meta.ins), Some(id.to_string()), denied.code())).await?;
            return Err(denied.into());
        }
        let read_as = meta.status;
        change(&mut meta).map_err(|e| ServiceError::Conflict(e.to_string()))?;
        self.db.save_document_state(&meta, read_as).await?;
        let visible = self.gate(actor, &record, documents).await?.admit(meta.clone());
        match visible {
            Some(v) => self.view(&v).await,
            None => Ok(DocumentView { meta, title: None }),
        }
    }

    /// Crypto-shreds a patient's content: the wrapped key first (every blob becomes noise at
    /// once), then the blobs, then the rows. Safe to re-run after a crash at any step.
    pub(crate) async fn shred(&self, ins: &Ins) -> Result<usize> {
        self.record_event(&crate::records::sweeper(), Event::permit("record.shred", Some(ins), None, "destroyed")).await?;
        self.db.delete_patient_key(ins).await?;
        self.forget_key(ins);
        self.forget_indexes(ins);
        let documents: Vec<_> = self.db.find_documents_of(ins).await?.into_iter().map(|(meta, _)| meta).collect();
        for d in &documents {
            self.blobs.delete(d.id).await?;
        }
        self.db.delete_documents_of(ins).await?;
        Ok(documents.len())
    }
}

fn blob_range_is_empty(opener: &StreamOpener) -> bool {
    opener.blob_range().is_empty()
}

struct OpenState {
    opener: Option<StreamOpener>,
    pieces: BoxStream<'static, std::result::Result<Bytes, StoreError>>,
    ended: bool,
}

async fn next_plaintext(mut state: OpenState) -> Option<(Result<Vec<Bytes>>, OpenState)> {
    let opener = state.opener.as_mut()?;
    if !state.ended {
        while let Some(piece) = state.pieces.next().await {
            let out = piece.map_err(ServiceError::from).and_then(|p| opener.push(&p).map_err(ServiceError::from));
            match out {
                Ok(v) if v.is_empty() => continue,
                Ok(v) => return Some((Ok(v), state)),
                Err(e) => {
                    state.opener = None;
                    return Some((Err(e), state));
                }
            }
        }
    }
    let opener = state.opener.take()?;
    match opener.finish() {
        Ok(()) => None,
        Err(e) => Some((Err(e.into()), state)),
    }
}

pub(crate) fn normalized_labels(labels: &[SecurityLabel]) -> Vec<SecurityLabel> {
    let mut l = labels.to_vec();
    l.sort();
    l.dedup();
    l
}

/// Labels a depositor may set (`Action::SetDepositLabels`); a refusal is the caller's input (422).
pub(crate) fn check_deposit_labels(actor: &Actor, labels: &[SecurityLabel]) -> Result<()> {
    authorize(actor, Action::SetDepositLabels(labels))?;
    Ok(())
}
