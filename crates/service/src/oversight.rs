//! Reading the ledger: the patient's access history (with inclusion proofs), signed tree heads
//! and proofs for anyone who keeps a copy, and the privacy officer's review queue.

use std::collections::HashMap;

use carnet_domain::{Action, ActionDenied, Actor, Grant, HolderContext, Ins, Operation, authorize};
use carnet_ledger::{
    AccessReceipts, ConsistencyProof, EntryQuery, InclusionProof, RECEIPT_FORMAT, ReceiptEntry, RecordedEntry, SignedTreeHead,
};
use carnet_store::{DocumentStore, PolicyStore, RecordStore, ReviewItem, ReviewStore};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::Event;
use crate::{Carnet, Result, ServiceError};

/// A page of a patient's access history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<RecordedEntry>,
    /// Pass as `after` (oldest first) or `before` (newest first) for the next page; `None` when
    /// this was the last.
    pub next_after: Option<u64>,
    /// The record's INS register (what a FHIR reference to the patient needs).
    pub ins_kind: carnet_domain::InsKind,
}

/// Filters of the access history.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub actor: Option<String>,
    pub after: Option<u64>,
    pub before: Option<u64>,
    /// From the latest entry back (the person's history page); oldest first otherwise.
    pub newest_first: bool,
    pub limit: u32,
}

/// What a history page shows of the ledger's proofs: the latest signed tree head, whether its
/// signature checks against the ledger's public key, and for each entry whether its inclusion
/// proof in that head checks (the same computation `carnet ledger verify` and any third party
/// with the published heads make).
#[derive(Debug, Clone)]
pub struct ProvenEntries {
    pub head: SignedTreeHead,
    pub head_signed: bool,
    /// One per entry, in the order given.
    pub included: Vec<bool>,
}

/// An item of the review queue with the ledger entry it names (`None` if it names none).
#[derive(Debug, Clone)]
pub struct ReviewQueueItem {
    pub item: ReviewItem,
    pub entry: Option<RecordedEntry>,
}

/// The longest note a privacy officer may add to an item, in characters.
pub const MAX_NOTE: usize = 2000;

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

impl Carnet {
    /// The access history of a record, oldest first: for the patient, their current
    /// representative, and the privacy officer. A holder does not see entries about documents
    /// hidden from them (rule 14: a hidden document leaves no trace, not even in the history).
    pub async fn access_history(&self, actor: &Actor, ins: &Ins, query: HistoryQuery) -> Result<HistoryPage> {
        let scope = self.scoped(actor, Operation::AccessHistory, Some(ins)).await?;
        let found = match self.db.find_record_by_ins(ins).await? {
            Some(record) => {
                let policy = self.db.find_policy(ins).await?.policy;
                authorize(actor, Action::ReadAccessHistory(HolderContext { ins, policy: &policy, now: self.now() })).map(|g| (record, g))
            }
            None => Err(ActionDenied::NotHistoryReader),
        };
        let (record, grant) = match found {
            Ok(found) => found,
            Err(denied) => {
                // Answered as a missing record: whether there is one is not this caller's to learn.
                self.record_event(actor, Event::deny("history.read", Some(ins), None, denied.code())).await?;
                return Err(ServiceError::NotFound("record"));
            }
        };
        self.record_event(actor, Event::permit("history.read", Some(ins), None, grant.code())).await?;
        let officer = grant == Grant::PrivacyOfficer;
        let limit = query.limit.clamp(1, 200);
        let ledger_query = EntryQuery {
            ins: Some(ins.clone()),
            from_ms: query.from.map(millis),
            to_ms: query.to.map(millis),
            actor_ref: query.actor,
            about_a_record: false,
            after_index: query.after,
            before_index: query.before,
            newest_first: query.newest_first,
            limit,
        };
        let page = self.ledger.find_entries(&ledger_query).await?;
        let next_after = (page.len() as u32 == limit).then(|| page.last().map(|e| e.index)).flatten();
        let mut entries = if officer {
            page
        } else {
            let gate = self.gate(actor, &record, scope).await?;
            let documents: HashMap<String, std::sync::Arc<carnet_domain::DocumentMeta>> =
                self.db.find_documents_of(ins).await?.into_iter().map(|(d, _)| (d.id.to_string(), d)).collect();
            page.into_iter()
                .filter(|e| {
                    let about_a_document = e.entry.action.starts_with("document.") || e.entry.action == "emergency.document";
                    match e.entry.target.as_ref().filter(|_| about_a_document).and_then(|t| documents.get(t)) {
                        Some(doc) => gate.decide(doc).is_permit(),
                        None => true,
                    }
                })
                .collect()
        };
        self.open_justifications(&mut entries).await?;
        Ok(HistoryPage { entries, next_after, ins_kind: record.ins_kind })
    }

    /// The latest signed tree head and, for each of `entries`, its inclusion proof in it (none for
    /// an entry the head does not cover yet).
    async fn proofs_in_latest_head(&self, entries: &[RecordedEntry]) -> Result<(SignedTreeHead, Vec<Option<InclusionProof>>)> {
        let head = self.ledger.latest_tree_head().await?;
        let size = head.head.tree_size;
        let covered: Vec<u64> = entries.iter().map(|e| e.index).filter(|&i| i < size).collect();
        let mut proofs = self.ledger.inclusion_proofs(&covered, size).await?.into_iter();
        let proofs = entries.iter().map(|e| if e.index < size { proofs.next() } else { None }).collect();
        Ok((head, proofs))
    }

    /// Checks `entries` (already read through `access_history`) against the latest signed tree
    /// head. Proofs are public: this reads nothing the entries did not already show.
    pub async fn prove_entries(&self, entries: &[RecordedEntry]) -> Result<ProvenEntries> {
        let (head, proofs) = self.proofs_in_latest_head(entries).await?;
        let head_signed = carnet_ledger::verify_tree_head(&head, &self.ledger.public_key());
        let included = entries
            .iter()
            .zip(&proofs)
            .map(|(entry, proof)| proof.as_ref().is_some_and(|p| p.verify(&entry.leaf_hash(), &head.head.root_hash)))
            .collect();
        Ok(ProvenEntries { head, head_signed, included })
    }

    /// The receipts of `entries` (already read through `access_history`): the latest signed tree
    /// head and each entry's bytes and inclusion path in it, for the patient to keep and check
    /// without Carnet (`carnet ledger check-receipt`). An entry the head does not cover yet is
    /// left out.
    pub async fn access_receipts(&self, entries: &[RecordedEntry]) -> Result<AccessReceipts> {
        let (head, proofs) = self.proofs_in_latest_head(entries).await?;
        let entries = entries
            .iter()
            .zip(proofs)
            .filter_map(|(e, proof)| {
                // Stored entries are UTF-8 JSON; one that is not would fail its own check anyway.
                let entry = String::from_utf8(e.bytes.clone()).ok()?;
                Some(ReceiptEntry { index: e.index, entry, path: proof?.path })
            })
            .collect();
        Ok(AccessReceipts { format: RECEIPT_FORMAT.to_owned(), public_key: self.ledger.public_key(), tree_head: head, entries })
    }

    pub async fn latest_tree_head(&self) -> Result<SignedTreeHead> {
        Ok(self.ledger.latest_tree_head().await?)
    }

    pub async fn tree_head_at(&self, size: u64) -> Result<SignedTreeHead> {
        Ok(self.ledger.tree_head_at(size).await?)
    }

    pub async fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<InclusionProof> {
        Ok(self.ledger.inclusion_proof(index, tree_size).await?)
    }

    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof> {
        Ok(self.ledger.consistency_proof(old, new).await?)
    }

    pub fn ledger_public_key(&self) -> [u8; 32] {
        self.ledger.public_key()
    }

    /// The privacy officer's queue: emergency accesses and enumeration alerts.
    pub async fn review_items(&self, actor: &Actor, status: Option<&str>) -> Result<Vec<ReviewItem>> {
        self.scoped(actor, Operation::ReviewItems, None).await?;
        let grant = match authorize(actor, Action::ReviewQueue) {
            Ok(grant) => grant,
            Err(denied) => {
                self.record_event(actor, Event::deny("review.list", None, None, denied.code())).await?;
                return Err(denied.into());
            }
        };
        if let Some(s) = status
            && !matches!(s, "open" | "acknowledged")
        {
            return Err(ServiceError::Invalid(format!("status: {s:?} is not one of open, acknowledged")));
        }
        if self.ledger_problem().is_none() {
            self.record_event(actor, Event::permit("review.list", None, None, grant.code())).await?;
        } else {
            // Nothing can be recorded on a ledger that failed its checks, and the officer must
            // still read the alert that says so: the queue (no clinical content) is served.
            tracing::warn!("the review queue read while the ledger is untrusted: not recorded");
        }
        let mut items = self.db.find_review_items(status, 500).await?;
        self.open_all_review_notes(&mut items).await?;
        Ok(items)
    }

    /// The review queue as the privacy officer's pages show it: each item with the ledger entry
    /// it points at (who, by name, profession and organisation; what; the motive given). Those
    /// entries are about what the officer reviews, which the access history shows them anyway.
    pub async fn review_queue(&self, actor: &Actor, status: Option<&str>) -> Result<Vec<ReviewQueueItem>> {
        let items = self.review_items(actor, status).await?;
        let indices: Vec<u64> = items.iter().filter_map(|i| i.ledger_index).collect();
        let mut found = self.ledger.entries_at(&indices).await?;
        self.open_justifications(&mut found).await?;
        let mut entries: HashMap<u64, RecordedEntry> = found.into_iter().map(|e| (e.index, e)).collect();
        Ok(items
            .into_iter()
            .map(|item| {
                let entry = item.ledger_index.and_then(|i| entries.remove(&i));
                ReviewQueueItem { item, entry }
            })
            .collect())
    }

    /// Acknowledges an item, with an optional note; both are ledger entries.
    pub async fn review(&self, actor: &Actor, id: &str, acknowledge: bool, note: Option<&str>) -> Result<ReviewItem> {
        self.scoped(actor, Operation::Review, None).await?;
        let action = if acknowledge { "review.acknowledge" } else { "review.annotate" };
        let grant = match authorize(actor, Action::ReviewQueue) {
            Ok(grant) => grant,
            Err(denied) => {
                self.record_event(actor, Event::deny(action, None, Some(id.chars().take(64).collect()), denied.code())).await?;
                return Err(denied.into());
            }
        };
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
            return Err(ServiceError::Invalid(format!("note: at most {MAX_NOTE} characters")));
        }
        if !acknowledge && note.is_none() {
            return Err(ServiceError::Invalid("note: required (1 to 2000 characters)".into()));
        }
        let mut item = self.db.find_review_item(id).await?.ok_or(ServiceError::NotFound("review item"))?;
        if acknowledge && item.status == "acknowledged" {
            return Err(ServiceError::Conflict("the item is already acknowledged".into()));
        }
        self.record_event(actor, Event::permit(action, item.ins.as_ref(), Some(item.id.clone()), grant.code())).await?;
        // Saved sealed under the service key; returned open.
        let mut opened = self.open_review_notes(&item.notes).await?;
        if let Some(text) = note {
            let mut notes: Vec<serde_json::Value> = serde_json::from_str(&opened).unwrap_or_default();
            notes.push(serde_json::json!({"by": actor.reference(), "at": self.now().format(&Rfc3339).unwrap_or_default(), "text": text}));
            opened = serde_json::Value::Array(notes).to_string();
            item.notes = self.seal_review_notes(&opened).await?;
        }
        if acknowledge {
            item.status = "acknowledged".into();
        }
        self.db.save_review_item(&item).await?;
        item.version += 1;
        item.notes = opened;
        Ok(item)
    }
}
