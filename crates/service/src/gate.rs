//! The gate every read of clinical content goes through.
//!
//! `Visible` is the proof that a document passed the gate for one actor: only this module
//! creates it, and every function that returns clinical data (metadata, title, bytes, derived
//! text) takes one — so a read path that forgot the check does not compile.

use carnet_domain::{Actor, DocumentMeta, DocumentStatus, Record, RecordStatus, SecurityLabel};

/// A document the gate let this actor see.
#[derive(Debug, Clone, PartialEq)]
pub struct Visible {
    meta: DocumentMeta,
}

impl Visible {
    pub fn meta(&self) -> &DocumentMeta {
        &self.meta
    }

    pub fn into_meta(self) -> DocumentMeta {
        self.meta
    }
}

/// The decision context for one actor on one record.
pub(crate) struct Gate<'a> {
    pub actor: &'a Actor,
    pub record: &'a Record,
}

impl Gate<'_> {
    /// Lets the document through if the actor may see it.
    pub fn admit(&self, meta: DocumentMeta) -> Option<Visible> {
        self.permits(&meta).then_some(Visible { meta })
    }

    /// Until the full policy (issue 4) lands: the holder and their representatives read their
    /// record (minus what is hidden from them), authors read what they wrote; nobody else.
    fn permits(&self, meta: &DocumentMeta) -> bool {
        if meta.ins != self.record.ins {
            return false;
        }
        let is_author = meta.author == self.actor.reference() || meta.deposited_by == self.actor.reference();
        if meta.status == DocumentStatus::EnteredInError {
            return is_author && self.record.status == RecordStatus::Active;
        }
        match self.record.status {
            RecordStatus::Active => {}
            RecordStatus::Closed => {}
            RecordStatus::Archived | RecordStatus::Destroyed => return false,
        }
        if self.actor.speaks_for(&meta.ins) {
            let representative = !matches!(self.actor.kind, carnet_domain::ActorKind::Patient { .. });
            let hidden_from_patient = meta.labels.contains(&SecurityLabel::InvisiblePatient);
            let hidden_from_representatives = meta.labels.contains(&SecurityLabel::InvisibleRepresentantsLegaux);
            return !(hidden_from_patient || (representative && hidden_from_representatives));
        }
        is_author && self.record.status == RecordStatus::Active
    }
}
