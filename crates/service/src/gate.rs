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

/// A decision with its reason code (what the ledger records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Permit(&'static str),
    Deny(&'static str),
}

/// The decision context for one actor on one record.
pub(crate) struct Gate<'a> {
    pub actor: &'a Actor,
    pub record: &'a Record,
}

impl Gate<'_> {
    /// Lets the document through if the actor may see it.
    pub fn admit(&self, meta: DocumentMeta) -> Option<Visible> {
        matches!(self.judge(&meta), Verdict::Permit(_)).then_some(Visible { meta })
    }

    /// Until the full policy (issue 4) lands: the holder and their representatives read their
    /// record (minus what is hidden from them), authors read what they wrote; nobody else.
    pub fn judge(&self, meta: &DocumentMeta) -> Verdict {
        if meta.ins != self.record.ins {
            return Verdict::Deny("other_record");
        }
        let is_author = meta.author == self.actor.reference() || meta.deposited_by == self.actor.reference();
        let active = self.record.status == RecordStatus::Active;
        if meta.status == DocumentStatus::EnteredInError {
            return if is_author && active { Verdict::Permit("author") } else { Verdict::Deny("withdrawn") };
        }
        if matches!(self.record.status, RecordStatus::Archived | RecordStatus::Destroyed) {
            return Verdict::Deny("record_not_active");
        }
        if self.actor.speaks_for(&meta.ins) {
            let representative = !matches!(self.actor.kind, carnet_domain::ActorKind::Patient { .. });
            if meta.labels.contains(&SecurityLabel::InvisiblePatient) {
                return Verdict::Deny("invisible_patient");
            }
            if representative && meta.labels.contains(&SecurityLabel::InvisibleRepresentantsLegaux) {
                return Verdict::Deny("invisible_representants_legaux");
            }
            return Verdict::Permit(if representative { "representative" } else { "holder" });
        }
        if !active {
            return Verdict::Deny("record_closed");
        }
        if is_author { Verdict::Permit("author") } else { Verdict::Deny("no_authorization") }
    }
}
