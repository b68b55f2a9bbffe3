//! The holder's copy of their record: everything they may see, read as they would read it one
//! document at a time (each through the gate, each a consultation in the ledger), with the
//! access history — the right to one's own data, in one request.

use carnet_domain::record::RecordAction;
use carnet_domain::{Actor, Ins, InsKind, Operation};
use carnet_ledger::RecordedEntry;

use crate::documents::DocumentAction;
use crate::oversight::HistoryQuery;
use crate::{Carnet, DocumentView, RecordView, Result, ServiceError, Visible};

/// How many access-history entries an export carries at most (50 pages of 200): beyond, the
/// export says it stopped there (`history_complete`).
pub const EXPORT_HISTORY_LIMIT: usize = 10_000;

/// What an export carries. The documents' bytes are read by the caller with `Carnet::content`,
/// one at a time, through the `Visible` each was admitted as.
#[derive(Debug)]
pub struct RecordExport {
    pub record: RecordView,
    /// The record's INS register (what FHIR references to the patient need).
    pub ins_kind: InsKind,
    /// Every document the holder may see, each admitted for retrieval, oldest first (by date
    /// of deposit, then id: the same order for the same record).
    pub documents: Vec<(Visible, DocumentView)>,
    /// The access history, oldest first, as `access_history` gives it to this actor.
    pub history: Vec<RecordedEntry>,
    /// False when the history was longer than `EXPORT_HISTORY_LIMIT` entries.
    pub history_complete: bool,
}

impl Carnet {
    /// A copy of a record for its holder (`RecordAction::Export`: the patient or the
    /// representative whose token represents them). The export is its own ledger entry
    /// (`record.export`), written first; then the list, each document's retrieval and the
    /// history are read through the same methods as `/api`, so each leaves its own entry and
    /// nothing the holder may not see is included.
    pub async fn export_record(&self, actor: &Actor, ins: &Ins) -> Result<RecordExport> {
        self.scoped(actor, Operation::ReadRecord, Some(ins)).await?;
        self.authorize_record(actor, RecordAction::Export, ins).await?;
        let record = self.live_record(ins).await?;
        let ins_kind = record.ins_kind;
        let record = self.record_view(record, actor).await?;
        let listed = self.visible_documents(actor, ins).await?;
        let mut admitted = Vec::with_capacity(listed.len());
        for listed in &listed {
            match self.visible_document(actor, listed.meta().id, DocumentAction::Retrieve).await {
                Ok(visible) => admitted.push(visible),
                // Gone (or hidden) since the list was read: not part of the copy.
                Err(ServiceError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        admitted.sort_by_key(|v| (v.meta().submitted_at, v.meta().id.to_string()));
        let views = self.views(&admitted).await?;
        let documents = admitted.into_iter().zip(views).collect();
        let mut history = Vec::new();
        let mut after = None;
        let history_complete = loop {
            let page = self.access_history(actor, ins, HistoryQuery { after, limit: 200, ..HistoryQuery::default() }).await?;
            history.extend(page.entries);
            match page.next_after {
                None => break true,
                Some(_) if history.len() >= EXPORT_HISTORY_LIMIT => break false,
                Some(next) => after = Some(next),
            }
        };
        history.truncate(EXPORT_HISTORY_LIMIT);
        Ok(RecordExport { record, ins_kind, documents, history, history_complete })
    }
}
