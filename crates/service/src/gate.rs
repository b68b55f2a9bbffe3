//! The gate every read of clinical content goes through.
//!
//! `Visible` is the proof that a document passed the gate for one actor: only this module
//! creates it, and every function that returns clinical data (metadata, title, bytes, derived
//! text) takes one — so a read path that forgot the check does not compile. The decision itself
//! is the domain's pure `decide` (`docs/access-rules.md`); this module only gathers its inputs
//! (the record's status, the patient's policy, the actor's emergency access) once per request.

use std::sync::Arc;

use carnet_domain::{
    AccessContext, AccessDecision, Actor, DocumentMeta, DocumentScope, EmergencyAccess, Ins, InsKind, PatientPolicy, Record, RecordStatus,
    decide, decide_record,
};
use carnet_store::{PolicyStore, StoredPolicy};

use crate::{Carnet, Result};

/// A document the gate let this actor see. Its metadata is shared with the store's documents
/// cache, not copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Visible {
    meta: Arc<DocumentMeta>,
    /// The record's INS register: what a FHIR reference to the patient needs.
    ins_kind: InsKind,
    /// The sealed title when it was read with the metadata (`None`: not read yet, ask the
    /// store; `Some(None)`: the document has no title).
    pub(crate) title_sealed: Option<Option<Arc<[u8]>>>,
}

impl Visible {
    pub fn meta(&self) -> &DocumentMeta {
        &self.meta
    }

    /// The INS register (NIR, NIA, test NIR) of the document's record.
    pub fn ins_kind(&self) -> InsKind {
        self.ins_kind
    }

    pub fn into_meta(self) -> DocumentMeta {
        Arc::unwrap_or_clone(self.meta)
    }
}

/// What a decision on one record depends on besides the actor and the document, loaded once.
pub(crate) struct Gate<'a> {
    pub actor: &'a Actor,
    pub ins: Ins,
    pub ins_kind: InsKind,
    pub record_status: RecordStatus,
    pub stored: StoredPolicy,
    pub emergency: Option<EmergencyAccess>,
    pub carnet: &'a Carnet,
    pub now: time::OffsetDateTime,
    /// The documents the token's scopes let the operation touch (made only by the scope check).
    pub documents: DocumentScope,
}

impl<'a> Gate<'a> {
    fn context(&self) -> AccessContext<'_> {
        AccessContext {
            ins: &self.ins,
            record_status: self.record_status,
            now: self.now,
            emergency: self.emergency.as_ref(),
            matrix: &self.carnet.config.matrix,
        }
    }

    pub fn policy(&self) -> &PatientPolicy {
        &self.stored.policy
    }

    /// May the actor consult the record at all (its basis or the reason it may not)?
    pub fn record_decision(&self) -> AccessDecision {
        decide_record(self.actor, &self.context(), &self.stored.policy)
    }

    pub fn decide(&self, meta: &DocumentMeta) -> AccessDecision {
        decide(self.actor, &self.context(), &self.stored.policy, meta)
    }

    /// Whether the token's granular scopes let the operation touch the document.
    pub fn in_scope(&self, meta: &DocumentMeta) -> bool {
        self.documents.admits(&meta.xds)
    }

    /// Lets the document through if the actor may see it and the token's scopes reach it.
    pub fn admit(&self, meta: impl Into<Arc<DocumentMeta>>) -> Option<Visible> {
        let meta = meta.into();
        (self.in_scope(&meta) && self.decide(&meta).is_permit()).then_some(Visible { meta, ins_kind: self.ins_kind, title_sealed: None })
    }

    /// Lets the document and its sealed title (read with it) through if the actor may see it.
    pub fn admit_with_title(&self, meta: impl Into<Arc<DocumentMeta>>, title_sealed: Option<Arc<[u8]>>) -> Option<Visible> {
        self.admit(meta).map(|v| Visible { title_sealed: Some(title_sealed), ..v })
    }

    /// The same gate for another operation of the same request, whose scope check answered
    /// `documents`.
    pub fn with_documents(&self, documents: DocumentScope) -> Gate<'a> {
        Gate {
            actor: self.actor,
            ins: self.ins.clone(),
            ins_kind: self.ins_kind,
            record_status: self.record_status,
            stored: self.stored.clone(),
            emergency: self.emergency.clone(),
            carnet: self.carnet,
            now: self.now,
            documents,
        }
    }

    /// The label rule (who may set or lift which label), for `authorize_label_change`.
    pub fn label_context(&self) -> AccessContext<'_> {
        self.context()
    }
}

impl Carnet {
    /// Loads what deciding on `record` for `actor` needs: the patient's policy and, for a
    /// professional or regulator, their latest emergency access to it. `documents` is what the
    /// scope check of the operation answered.
    pub(crate) async fn gate<'a>(&'a self, actor: &'a Actor, record: &Record, documents: DocumentScope) -> Result<Gate<'a>> {
        let stored = self.db.find_policy(&record.ins).await?;
        let emergency =
            if actor.holds_emergency_accesses() { self.db.find_latest_emergency(&actor.reference(), &record.ins).await? } else { None };
        Ok(Gate {
            actor,
            ins: record.ins.clone(),
            ins_kind: record.ins_kind,
            record_status: record.status,
            stored,
            emergency,
            carnet: self,
            now: self.now(),
            documents,
        })
    }

    /// The live record of `ins`, the gate for `actor` on it and the patient's document
    /// generation (for `find_documents_at`), read in one statement (the search and read paths);
    /// `None` when there is no live record.
    pub(crate) async fn record_and_gate<'a>(
        &'a self,
        actor: &'a Actor,
        ins: &Ins,
        documents: DocumentScope,
    ) -> Result<Option<(Record, Gate<'a>, i64)>> {
        let emergency_of = actor.holds_emergency_accesses().then(|| actor.reference());
        let Some(inputs) = self.db.find_gate_inputs(ins, emergency_of.as_deref()).await? else { return Ok(None) };
        let record = inputs.record;
        let gate = Gate {
            actor,
            ins: record.ins.clone(),
            ins_kind: record.ins_kind,
            record_status: record.status,
            stored: inputs.policy,
            emergency: inputs.emergency,
            carnet: self,
            now: self.now(),
            documents,
        };
        Ok(Some((record, gate, inputs.documents_generation)))
    }
}
