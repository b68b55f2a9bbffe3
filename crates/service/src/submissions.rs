//! Submission sets: several documents deposited together, all or nothing (IHE MHD ITI-65), and
//! found again per patient (ITI-66) through the gate.
//!
//! `submit_bundle` goes the way every deposit goes (`deposit`): everything is checked before
//! anything is written — who may feed, the record (active, qualified identity), every
//! document's codes, labels, sizes, hashes and unique ids, replaced versions — then every blob
//! is sealed, then every row, the set and the notifications are inserted in one database
//! transaction. Nothing is ever visible half-done.

use bytes::Bytes;
use carnet_domain::document::{DeclaredAuthor, DocumentSubmission};
use carnet_domain::{Actor, DocumentId, Ins, Record};
use carnet_store::{RecordStore, SubmissionStore};
use time::OffsetDateTime;

use crate::deposit::{Deposit, Fingerprint, Incoming};
use crate::documents::{ContentError, DocumentView};
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
    /// The register of the record's INS (NIR, NIA, test NIR), for rendering its identifier.
    pub ins_kind: carnet_domain::InsKind,
    pub unique_id: String,
    pub source_id: String,
    pub author: Option<DeclaredAuthor>,
    /// Shown only when every document of the set is visible to the reader.
    pub title: Option<String>,
    pub submitted_at: OffsetDateTime,
    pub documents: Vec<DocumentId>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl Carnet {
    /// Deposits a submission set and all its documents, all or nothing (see `deposit`). Every
    /// document must be for the same patient. Resubmitting the same set (same unique id, same
    /// documents and bytes) answers `created: false` and stores nothing; reusing a unique id for
    /// other content is a conflict.
    pub async fn submit_bundle(&self, actor: &Actor, set: NewSubmissionSet, documents: Vec<BundleDocument>) -> Result<BundleSubmitted> {
        let documents = documents
            .into_iter()
            .map(|d| {
                let known = Fingerprint { size: d.bytes.len() as u64, sha256: d.sha256() };
                let content = futures::stream::iter([Ok::<_, ContentError>(d.bytes)]);
                Incoming { submission: d.submission, content, known: Some(known) }
            })
            .collect();
        let deposited = self.deposit(actor, Deposit { set: Some(set), documents }).await?;
        Ok(BundleSubmitted {
            // A set's deposit always has its set's id.
            set_id: deposited.set_id.unwrap_or_default(),
            documents: deposited.documents,
            created: deposited.created,
            submitted_at: deposited.submitted_at,
        })
    }

    /// A patient's submission sets, through the gate: each lists only the documents this actor
    /// may see, and a set with none is absent. One ledger entry (the document search).
    pub async fn visible_submission_sets(&self, actor: &Actor, ins: &Ins) -> Result<Vec<SubmissionSetView>> {
        let documents = self.scoped(actor, carnet_domain::Operation::SearchSubmissionSets, Some(ins)).await?;
        let visible = self.documents_through(actor, ins, documents).await?;
        let Some(ins_kind) = visible.first().map(|v| v.ins_kind()) else {
            return Ok(vec![]);
        };
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
                ins_kind,
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

pub(crate) fn set_title_context(unique_id: &str) -> Vec<u8> {
    let mut c = b"carnet-set-title-v1".to_vec();
    c.extend_from_slice(unique_id.as_bytes());
    c
}
