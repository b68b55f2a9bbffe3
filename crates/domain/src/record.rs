//! The record ("dossier") of one patient and its lifecycle:
//! active → closed → archived → destroyed, with reopening and early destruction.
//!
//! Transitions are pure methods taking `now`; the storage layer persists their result and a
//! periodic sweep applies the time-driven ones (`Record::due_transition`).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{Actor, ActorKind, Finess, IdentityStatus, Ins, InsKind, Profession, ReferenceTraits};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Active,
    /// Readable by its holder only; reopenable.
    Closed,
    /// Kept, unreadable, until destruction; reopenable.
    Archived,
    /// Crypto-shredded; only a tombstone (no identity) remains for statistics.
    Destroyed,
}

impl RecordStatus {
    pub const ALL: [RecordStatus; 4] = [RecordStatus::Active, RecordStatus::Closed, RecordStatus::Archived, RecordStatus::Destroyed];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Active => "active",
            RecordStatus::Closed => "closed",
            RecordStatus::Archived => "archived",
            RecordStatus::Destroyed => "destroyed",
        }
    }

    pub fn parse(s: &str) -> Option<RecordStatus> {
        RecordStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// How the record came to be: kept for statistics and pharmacists' incentives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreationChannel {
    Patient,
    Professional,
    Pharmacist,
    InsurerAgent,
}

impl CreationChannel {
    pub const ALL: [CreationChannel; 4] =
        [CreationChannel::Patient, CreationChannel::Professional, CreationChannel::Pharmacist, CreationChannel::InsurerAgent];

    pub fn as_str(self) -> &'static str {
        match self {
            CreationChannel::Patient => "patient",
            CreationChannel::Professional => "professional",
            CreationChannel::Pharmacist => "pharmacist",
            CreationChannel::InsurerAgent => "insurer_agent",
        }
    }

    pub fn parse(s: &str) -> Option<CreationChannel> {
        CreationChannel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How long closed records are kept. Configurable; the defaults follow the DMP's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// A closed record becomes archived this long after closure.
    pub archive_after_closure: Duration,
    /// A closed or archived record is destroyed this long after closure (10 years).
    pub destroy_after_closure: Duration,
    /// An early destruction request takes effect this long after it was made.
    pub early_destruction_delay: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            archive_after_closure: Duration::days(60),
            destroy_after_closure: Duration::days(3653),
            early_destruction_delay: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub ins: Ins,
    pub ins_kind: InsKind,
    pub identity_status: IdentityStatus,
    /// `None` once destroyed.
    pub traits: Option<ReferenceTraits>,
    pub status: RecordStatus,
    pub channel: CreationChannel,
    /// `Actor::reference()` of the creator.
    pub created_by: String,
    pub creator_organisation: Option<Finess>,
    pub created_at: OffsetDateTime,
    pub closed_at: Option<OffsetDateTime>,
    pub close_reason: Option<String>,
    pub destruction_due_at: Option<OffsetDateTime>,
    pub destroyed_at: Option<OffsetDateTime>,
    /// When the first document was deposited ("fed" records in the statistics).
    pub first_fed_at: Option<OffsetDateTime>,
}

/// What may be done to a record (not to its clinical content: that is the access policy's). Who
/// may is `rights::authorize` (`Action::Record`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordAction {
    Create,
    ReadStatus,
    Close,
    Reopen,
    RequestDestruction,
    /// Take a copy of everything in the record (the holder's right to their data).
    Export,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("the record is {0}, the operation needs it {1}")]
    WrongStatus(&'static str, &'static str),
    #[error("a reason is required (1 to {max} characters)")]
    Reason { max: usize },
    #[error("identity status {0:?} has no INS retrieved from the national service: a record needs 'recuperee' or 'qualifiee'")]
    NoIns(&'static str),
}

pub const MAX_REASON: usize = 500;

/// The channel of a record created by `actor` (who was already authorized to create it).
pub fn creation_channel(actor: &Actor) -> CreationChannel {
    match &actor.kind {
        ActorKind::Professional(p) if p.profession == Profession::Pharmacien => CreationChannel::Pharmacist,
        ActorKind::Professional(_) | ActorKind::Regulator(_) | ActorKind::System { .. } => CreationChannel::Professional,
        ActorKind::InsurerAgent | ActorKind::PrivacyOfficer | ActorKind::Operator => CreationChannel::InsurerAgent,
        ActorKind::Patient { .. } | ActorKind::Representative { .. } => CreationChannel::Patient,
    }
}

fn check_reason(reason: &str) -> Result<String, LifecycleError> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > MAX_REASON {
        return Err(LifecycleError::Reason { max: MAX_REASON });
    }
    Ok(r.to_owned())
}

impl Record {
    /// A new active record.
    pub fn open(
        actor: &Actor,
        ins: Ins,
        ins_kind: InsKind,
        identity_status: IdentityStatus,
        traits: ReferenceTraits,
        now: OffsetDateTime,
    ) -> Result<Record, LifecycleError> {
        if !identity_status.has_ins() {
            return Err(LifecycleError::NoIns(identity_status.as_str()));
        }
        Ok(Record {
            ins,
            ins_kind,
            identity_status,
            traits: Some(traits),
            status: RecordStatus::Active,
            channel: creation_channel(actor),
            created_by: actor.reference(),
            creator_organisation: actor.organisation().cloned(),
            created_at: now,
            closed_at: None,
            close_reason: None,
            destruction_due_at: None,
            destroyed_at: None,
            first_fed_at: None,
        })
    }

    pub fn close(&mut self, reason: &str, now: OffsetDateTime, retention: &RetentionPolicy) -> Result<(), LifecycleError> {
        if self.status != RecordStatus::Active {
            return Err(LifecycleError::WrongStatus(self.status.as_str(), "active"));
        }
        self.close_reason = Some(check_reason(reason)?);
        self.status = RecordStatus::Closed;
        self.closed_at = Some(now);
        self.destruction_due_at = Some(now + retention.destroy_after_closure);
        Ok(())
    }

    /// Reopening restores a closed or archived record, cancelling any scheduled destruction.
    pub fn reopen(&mut self) -> Result<(), LifecycleError> {
        if !matches!(self.status, RecordStatus::Closed | RecordStatus::Archived) {
            return Err(LifecycleError::WrongStatus(self.status.as_str(), "closed or archived"));
        }
        self.status = RecordStatus::Active;
        self.closed_at = None;
        self.close_reason = None;
        self.destruction_due_at = None;
        Ok(())
    }

    /// Early destruction: closes an active record and brings its destruction forward.
    pub fn request_destruction(&mut self, reason: &str, now: OffsetDateTime, retention: &RetentionPolicy) -> Result<(), LifecycleError> {
        let reason = check_reason(reason)?;
        match self.status {
            RecordStatus::Destroyed => return Err(LifecycleError::WrongStatus("destroyed", "not destroyed")),
            RecordStatus::Active => {
                self.status = RecordStatus::Closed;
                self.closed_at = Some(now);
                self.close_reason = Some(reason);
            }
            RecordStatus::Closed | RecordStatus::Archived => {}
        }
        self.destruction_due_at = Some(now + retention.early_destruction_delay);
        Ok(())
    }

    /// The status the record should have at `now` by the passage of time alone, if it differs.
    pub fn due_transition(&self, now: OffsetDateTime, retention: &RetentionPolicy) -> Option<RecordStatus> {
        if matches!(self.status, RecordStatus::Closed | RecordStatus::Archived) && self.destruction_due_at.is_some_and(|due| now >= due) {
            return Some(RecordStatus::Destroyed);
        }
        if self.status == RecordStatus::Closed && self.closed_at.is_some_and(|c| now >= c + retention.archive_after_closure) {
            return Some(RecordStatus::Archived);
        }
        None
    }

    /// Applies a due transition. Destruction drops the identity: only a tombstone remains.
    pub fn apply(&mut self, to: RecordStatus, now: OffsetDateTime) {
        self.status = to;
        if to == RecordStatus::Destroyed {
            self.traits = None;
            self.destroyed_at = Some(now);
            self.destruction_due_at = None;
        }
    }
}

/// Counts for the statistics page: totals, per channel, per creating organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStatistics {
    pub created: u64,
    pub fed: u64,
    pub by_status: Vec<(RecordStatus, u64)>,
    pub by_channel: Vec<ChannelCount>,
    pub by_organisation: Vec<OrganisationCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCount {
    pub channel: CreationChannel,
    pub created: u64,
    pub fed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationCount {
    pub organisation: Finess,
    pub channel: CreationChannel,
    pub created: u64,
    pub fed: u64,
}
