//! Record lifecycle use cases.

use carnet_domain::record::{self, LifecycleError, RecordAction, RecordDenied, RecordStatistics};
use carnet_domain::{
    Actor, ActorKind, CreationChannel, IdentityStatus, Ins, InsKind, Record, RecordStatus, ReferenceTraits,
    RetentionPolicy,
};
use carnet_store::{DocumentStore, RecordStore};
use serde::Serialize;
use time::OffsetDateTime;

use crate::audit::Event;
use crate::{Carnet, Result, ServiceError};

/// A record creation request, already parsed at the edge.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub ins: Ins,
    pub ins_kind: InsKind,
    pub identity_status: IdentityStatus,
    pub traits: ReferenceTraits,
}

/// What an actor may see of a record. Insurer agents, operators and privacy officers see
/// existence and status only (rule 12): the identity and reasons are left out for them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordView {
    pub ins: Ins,
    pub ins_kind: InsKind,
    pub status: RecordStatus,
    pub channel: CreationChannel,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_status: Option<IdentityStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traits: Option<ReferenceTraits>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub destruction_due_at: Option<OffsetDateTime>,
}

impl RecordView {
    pub fn of(record: Record, actor: &Actor) -> RecordView {
        let full = !matches!(actor.kind, ActorKind::InsurerAgent | ActorKind::Operator | ActorKind::PrivacyOfficer);
        RecordView {
            ins: record.ins,
            ins_kind: record.ins_kind,
            status: record.status,
            channel: record.channel,
            created_at: record.created_at,
            identity_status: full.then_some(record.identity_status),
            traits: if full { record.traits } else { None },
            closed_at: record.closed_at,
            close_reason: if full { record.close_reason } else { None },
            destruction_due_at: record.destruction_due_at,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub archived: u64,
    pub destroyed: u64,
    /// Destroyed records whose content was crypto-shredded in this sweep.
    pub shredded: u64,
}

fn action_code(action: RecordAction) -> &'static str {
    match action {
        RecordAction::Create => "record.create",
        RecordAction::ReadStatus => "record.read_status",
        RecordAction::Close => "record.close",
        RecordAction::Reopen => "record.reopen",
        RecordAction::RequestDestruction => "record.request_destruction",
        RecordAction::ReadStatistics => "record.statistics",
    }
}

fn denial_code(denied: RecordDenied) -> &'static str {
    match denied {
        RecordDenied::Role => "role_not_allowed",
        RecordDenied::NotTheirs => "not_their_record",
    }
}

/// The retention sweep's identity in the ledger.
pub(crate) fn sweeper() -> Actor {
    Actor {
        issuer: "urn:carnet".into(),
        subject: "retention-sweep".into(),
        name: Some("Carnet retention sweep".into()),
        kind: ActorKind::System { organisation: None },
        scopes: vec![],
    }
}

impl Carnet {
    /// The record rule, with its decision in the ledger either way.
    async fn authorize_record(&self, actor: &Actor, action: RecordAction, ins: &Ins) -> Result<()> {
        match record::authorize(actor, action, ins) {
            Ok(()) => {
                self.record_event(actor, Event::permit(action_code(action), Some(ins), None, "record_rule")).await?;
                Ok(())
            }
            Err(denied) => {
                self.record_event(actor, Event::deny(action_code(action), Some(ins), None, denial_code(denied))).await?;
                Err(denied.into())
            }
        }
    }

    pub async fn create_record(&self, actor: &Actor, new: NewRecord) -> Result<RecordView> {
        self.authorize_record(actor, RecordAction::Create, &new.ins).await?;
        let traits = new.traits.validated().map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let rec = Record::open(actor, new.ins, new.ins_kind, new.identity_status, traits, self.now())?;
        self.db.create_record(&rec).await?;
        self.register_creating_representative(actor, &rec).await?;
        tracing::info!(channel = rec.channel.as_str(), by = %actor.reference(), "record created");
        Ok(RecordView::of(rec, actor))
    }

    pub async fn record_status(&self, actor: &Actor, ins: &Ins) -> Result<RecordView> {
        self.authorize_record(actor, RecordAction::ReadStatus, ins).await?;
        let rec = self.live_record(ins).await?;
        Ok(RecordView::of(rec, actor))
    }

    pub async fn close_record(&self, actor: &Actor, ins: &Ins, reason: &str) -> Result<RecordView> {
        self.change_record(actor, RecordAction::Close, ins, |rec, now, retention| rec.close(reason, now, retention)).await
    }

    pub async fn reopen_record(&self, actor: &Actor, ins: &Ins) -> Result<RecordView> {
        self.change_record(actor, RecordAction::Reopen, ins, |rec, _, _| rec.reopen()).await
    }

    pub async fn request_destruction(&self, actor: &Actor, ins: &Ins, reason: &str) -> Result<RecordView> {
        self.change_record(actor, RecordAction::RequestDestruction, ins, |rec, now, retention| {
            rec.request_destruction(reason, now, retention)
        })
        .await
    }

    /// Authorize, load, apply one lifecycle transition, save (refused if the record changed
    /// since it was read).
    async fn change_record(
        &self,
        actor: &Actor,
        action: RecordAction,
        ins: &Ins,
        transition: impl FnOnce(&mut Record, OffsetDateTime, &RetentionPolicy) -> Result<(), LifecycleError>,
    ) -> Result<RecordView> {
        self.authorize_record(actor, action, ins).await?;
        let mut rec = self.live_record(ins).await?;
        let read_as = rec.status;
        transition(&mut rec, self.now(), &self.config.retention)?;
        self.db.save_record(&rec, read_as).await?;
        Ok(RecordView::of(rec, actor))
    }

    pub async fn record_statistics(&self, actor: &Actor) -> Result<RecordStatistics> {
        // Statistics are not about one record: authorize against no INS in particular.
        match actor.kind {
            ActorKind::InsurerAgent | ActorKind::Operator | ActorKind::PrivacyOfficer => {
                self.record_event(actor, Event::permit("record.statistics", None, None, "role")).await?;
            }
            _ => {
                self.record_event(actor, Event::deny("record.statistics", None, None, "role_not_allowed")).await?;
                return Err(ServiceError::Forbidden("statistics are for insurer agents, privacy officers and operators".into()));
            }
        }
        Ok(self.db.record_statistics().await?)
    }

    /// Applies the time-driven transitions that are due (archive after closure, destruction).
    /// Idempotent; run periodically by `carnet serve` and on demand by `carnet admin sweep`.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let now = self.now();
        let retention = self.config.retention;
        let mut report = SweepReport::default();
        loop {
            let due = self.db.find_records_due(now, now - retention.archive_after_closure, 500).await?;
            if due.is_empty() {
                break;
            }
            let batch = due.len();
            let mut progressed = 0;
            for mut rec in due {
                let Some(to) = rec.due_transition(now, &retention) else { continue };
                let read_as = rec.status;
                rec.apply(to, now);
                let action = if to == RecordStatus::Destroyed { "record.destroy" } else { "record.archive" };
                self.record_event(&sweeper(), Event::permit(action, Some(&rec.ins), None, "retention_due")).await?;
                match self.db.save_record(&rec, read_as).await {
                    Ok(()) => {
                        progressed += 1;
                        match to {
                            RecordStatus::Archived => report.archived += 1,
                            RecordStatus::Destroyed => report.destroyed += 1,
                            _ => {}
                        }
                    }
                    // Someone reopened it meanwhile: their change wins.
                    Err(carnet_store::StoreError::Stale(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if progressed == 0 || batch < 500 {
                break;
            }
        }
        // Destruction is crypto-shredding: also finishes any shredding a crash interrupted.
        loop {
            let due = self.db.find_shredding_due(100).await?;
            if due.is_empty() {
                break;
            }
            for ins in &due {
                self.shred(ins).await?;
                report.shredded += 1;
            }
        }
        if report != SweepReport::default() {
            tracing::info!(archived = report.archived, destroyed = report.destroyed, shredded = report.shredded, "retention sweep");
        }
        Ok(report)
    }

    async fn live_record(&self, ins: &Ins) -> Result<Record> {
        self.db.find_record_by_ins(ins).await?.ok_or(ServiceError::NotFound("record"))
    }
}
