//! Who may do what besides reading clinical content: the record's lifecycle, feeding it, the
//! labels a depositor sets, identity traits, the operators' and the privacy officer's work, the
//! holder's own pages. One pure function, [`authorize`], answers for every such [`Action`]; the
//! service asks it before loading anything it does not need for the decision, and writes the
//! [`Grant`] or [`ActionDenied`] code into the ledger.
//!
//! Reading clinical content is [`crate::decide`]'s; changing the patient's choices is
//! [`crate::authorize_change`]'s, setting labels on a stored document
//! [`crate::authorize_label_change`]'s and opening an emergency access [`crate::open_emergency`]'s:
//! those need the document, the change or the request, and return more than a yes or no.

use time::OffsetDateTime;

use crate::access::REIMBURSEMENT_TYPE;
use crate::codes::Code;
use crate::policy::{Holder, PatientPolicy};
use crate::record::RecordAction;
use crate::{Actor, ActorKind, Ins, Scopes, SecurityLabel};

/// The patient's choices about one record, for the actions only its holder (or a privacy
/// officer) takes.
#[derive(Debug, Clone, Copy)]
pub struct HolderContext<'a> {
    pub ins: &'a Ins,
    pub policy: &'a PatientPolicy,
    pub now: OffsetDateTime,
}

impl HolderContext<'_> {
    fn holder(&self, actor: &Actor) -> Option<Holder> {
        self.policy.holder(actor, self.ins, self.now)
    }
}

/// What an actor asks to do, with what the decision depends on.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// A record's lifecycle, and reading its status.
    Record {
        action: RecordAction,
        ins: &'a Ins,
    },
    /// Deposit a document of `type_code` in the record of `ins`.
    Feed {
        ins: &'a Ins,
        type_code: &'a Code,
    },
    /// Set these labels on one's own deposit.
    SetDepositLabels(&'a [SecurityLabel]),
    /// Attribute a deposit to another professional than oneself.
    NameAuthor,
    /// See a record's identity (traits, identity status, close reason), and search by traits.
    SeeIdentity,
    /// Register oneself as the representative of the record one just created.
    RegisterAsCreator(&'a Ins),
    /// Change a document's status (withdraw, archive): `author` and `deposited_by` are the
    /// document's.
    ChangeDocumentStatus {
        author: &'a str,
        deposited_by: &'a str,
    },
    ReadPolicy(HolderContext<'a>),
    ReadAccessHistory(HolderContext<'a>),
    /// Read or set where the patient's notifications go.
    ManageNotifications(HolderContext<'a>),
    DeleteReimbursementHistory(HolderContext<'a>),
    /// List the apps connected to the record, revoke one, or allow it again.
    ManageApps(HolderContext<'a>),
    /// Counts over every record: not about one record.
    ReadStatistics,
    RotateKeys,
    /// Load the professionals directory from the national register's extracts.
    MaintainDirectory,
    /// The privacy officer's queue of emergency accesses and alerts.
    ReviewQueue,
}

/// The kind of an [`Action`], without its data: what the decision table covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Record(RecordAction),
    Feed,
    SetDepositLabels,
    NameAuthor,
    SeeIdentity,
    RegisterAsCreator,
    ChangeDocumentStatus,
    ReadPolicy,
    ReadAccessHistory,
    ManageNotifications,
    DeleteReimbursementHistory,
    ManageApps,
    ReadStatistics,
    RotateKeys,
    MaintainDirectory,
    ReviewQueue,
}

impl ActionKind {
    pub const ALL: [ActionKind; 21] = [
        ActionKind::Record(RecordAction::Create),
        ActionKind::Record(RecordAction::ReadStatus),
        ActionKind::Record(RecordAction::Close),
        ActionKind::Record(RecordAction::Reopen),
        ActionKind::Record(RecordAction::RequestDestruction),
        ActionKind::Record(RecordAction::Export),
        ActionKind::Feed,
        ActionKind::SetDepositLabels,
        ActionKind::NameAuthor,
        ActionKind::SeeIdentity,
        ActionKind::RegisterAsCreator,
        ActionKind::ChangeDocumentStatus,
        ActionKind::ReadPolicy,
        ActionKind::ReadAccessHistory,
        ActionKind::ManageNotifications,
        ActionKind::DeleteReimbursementHistory,
        ActionKind::ManageApps,
        ActionKind::ReadStatistics,
        ActionKind::RotateKeys,
        ActionKind::MaintainDirectory,
        ActionKind::ReviewQueue,
    ];
}

impl Action<'_> {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Record { action, .. } => ActionKind::Record(*action),
            Action::Feed { .. } => ActionKind::Feed,
            Action::SetDepositLabels(_) => ActionKind::SetDepositLabels,
            Action::NameAuthor => ActionKind::NameAuthor,
            Action::SeeIdentity => ActionKind::SeeIdentity,
            Action::RegisterAsCreator(_) => ActionKind::RegisterAsCreator,
            Action::ChangeDocumentStatus { .. } => ActionKind::ChangeDocumentStatus,
            Action::ReadPolicy(_) => ActionKind::ReadPolicy,
            Action::ReadAccessHistory(_) => ActionKind::ReadAccessHistory,
            Action::ManageNotifications(_) => ActionKind::ManageNotifications,
            Action::DeleteReimbursementHistory(_) => ActionKind::DeleteReimbursementHistory,
            Action::ManageApps(_) => ActionKind::ManageApps,
            Action::ReadStatistics => ActionKind::ReadStatistics,
            Action::RotateKeys => ActionKind::RotateKeys,
            Action::MaintainDirectory => ActionKind::MaintainDirectory,
            Action::ReviewQueue => ActionKind::ReviewQueue,
        }
    }
}

/// Why an action is permitted. The code goes into the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    /// The record lifecycle's rule lets this role do this to this record.
    RecordRule,
    /// The action is one of the role's.
    Role,
    MayFeed,
    /// The patient, or a current representative.
    Holder,
    PrivacyOfficer,
    Operator,
    /// The document's author or depositor.
    Author,
    /// A representative who created the record is registered on it.
    CreatedTheRecord,
}

impl Grant {
    pub const ALL: [Grant; 8] = [
        Grant::RecordRule,
        Grant::Role,
        Grant::MayFeed,
        Grant::Holder,
        Grant::PrivacyOfficer,
        Grant::Operator,
        Grant::Author,
        Grant::CreatedTheRecord,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Grant::RecordRule => "record_rule",
            Grant::Role => "role",
            Grant::MayFeed => "may_feed",
            Grant::Holder => "holder",
            Grant::PrivacyOfficer => "privacy_officer",
            Grant::Operator => "operator",
            Grant::Author => "author",
            Grant::CreatedTheRecord => "created_the_record",
        }
    }
}

/// Why an action is refused. The message is for the caller (the service maps it to 403, or 422
/// for a deposit's labels, or answers as for a missing record where the record's existence is
/// not the caller's to learn); the code is for the ledger, and several denials share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionDenied {
    #[error("this role may not do that on records")]
    RecordRole,
    #[error("a patient or representative acts only on their own or represented record")]
    NotTheirRecord,
    #[error("a patient or representative deposits only in their own or represented record")]
    FeedsOwnRecordOnly,
    #[error("insurer agents deposit the reimbursement history (type REMB) only")]
    FeedsReimbursementOnly,
    #[error("this role does not deposit documents")]
    DoesNotFeed,
    #[error("labels: a patient or representative may set MASQUE_PS only, not {}", .0.code())]
    SetsMasquePsOnly(SecurityLabel),
    #[error("labels: insurer agents set no label")]
    SetsNoLabel,
    #[error("only feeding software names a document's author: everyone else authors as themselves")]
    AuthorsAsThemselves,
    #[error("this role searches by INS identifier only: it does not see identity traits")]
    IdentityHidden,
    #[error("only a representative who creates the record they represent is registered on it")]
    NotCreatingRepresentative,
    #[error("only the author of a document changes its status")]
    NotAuthor,
    #[error("only the patient, their representative or a privacy officer reads the access policy")]
    NotPolicyReader,
    #[error("only the patient, their representative or a privacy officer reads the access history")]
    NotHistoryReader,
    #[error("only the patient or their representative manages the notifications")]
    NotHolder,
    #[error("only the patient or their representative deletes the reimbursement history")]
    NotHolderToDelete,
    #[error("only the patient or their representative manages the apps connected to the record")]
    NotHolderForApps,
    #[error("an app does not manage the apps connected to a record: the patient does, in their own session")]
    AppManagesNoApps,
    #[error("statistics are for insurer agents, privacy officers and operators")]
    StatisticsRole,
    #[error("only operators rotate keys")]
    OperatorsRotateKeys,
    #[error("only operators maintain the professionals directory")]
    OperatorsMaintainDirectory,
    #[error("the review queue is the privacy officer's")]
    PrivacyOfficersQueue,
}

impl ActionDenied {
    pub const ALL: [ActionDenied; 21] = [
        ActionDenied::RecordRole,
        ActionDenied::NotTheirRecord,
        ActionDenied::FeedsOwnRecordOnly,
        ActionDenied::FeedsReimbursementOnly,
        ActionDenied::DoesNotFeed,
        ActionDenied::SetsMasquePsOnly(SecurityLabel::InvisiblePatient),
        ActionDenied::SetsNoLabel,
        ActionDenied::AuthorsAsThemselves,
        ActionDenied::IdentityHidden,
        ActionDenied::NotCreatingRepresentative,
        ActionDenied::NotAuthor,
        ActionDenied::NotPolicyReader,
        ActionDenied::NotHistoryReader,
        ActionDenied::NotHolder,
        ActionDenied::NotHolderToDelete,
        ActionDenied::NotHolderForApps,
        ActionDenied::AppManagesNoApps,
        ActionDenied::StatisticsRole,
        ActionDenied::OperatorsRotateKeys,
        ActionDenied::OperatorsMaintainDirectory,
        ActionDenied::PrivacyOfficersQueue,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ActionDenied::RecordRole
            | ActionDenied::StatisticsRole
            | ActionDenied::OperatorsRotateKeys
            | ActionDenied::OperatorsMaintainDirectory
            | ActionDenied::PrivacyOfficersQueue => "role_not_allowed",
            ActionDenied::NotTheirRecord => "not_their_record",
            ActionDenied::FeedsOwnRecordOnly | ActionDenied::FeedsReimbursementOnly | ActionDenied::DoesNotFeed => "not_allowed_to_feed",
            ActionDenied::SetsMasquePsOnly(_) => "masque_ps_only",
            ActionDenied::SetsNoLabel => "no_label",
            ActionDenied::AuthorsAsThemselves => "authors_as_themselves",
            ActionDenied::IdentityHidden => "traits_not_visible",
            ActionDenied::NotCreatingRepresentative => "not_representative",
            ActionDenied::NotAuthor => "not_author",
            ActionDenied::NotPolicyReader
            | ActionDenied::NotHistoryReader
            | ActionDenied::NotHolder
            | ActionDenied::NotHolderToDelete
            | ActionDenied::NotHolderForApps => "not_holder",
            ActionDenied::AppManagesNoApps => "app_token",
        }
    }

    /// A refusal of the depositor's input rather than of the depositor (422, not 403).
    pub fn is_input(self) -> bool {
        matches!(self, ActionDenied::SetsMasquePsOnly(_) | ActionDenied::SetsNoLabel)
    }
}

/// May this actor take this action? Pure and total: every role and action has an answer, and a
/// role the rule does not name is refused.
///
/// - Records (creation by a pharmacist is its own channel, because the statistics reward it):
///   a patient or representative acts on the record they speak for; a professional creates and
///   reads the status; a regulator or a system reads the status; an insurer agent creates,
///   reads, closes and reopens; a privacy officer or operator reads the status.
/// - Feeding: the patient's own or represented record; any record for professionals, regulators
///   and feeding software; the reimbursement history only for insurer agents; privacy officers
///   and operators never. The type is compared by its code alone: its system is checked with the
///   rest of the metadata, so a wrong one answers as bad metadata, not as a refusal.
/// - Deposit labels: the patient hides their own deposits from professionals (MASQUE_PS) but
///   cannot hide a document from themselves; professionals and their software set any label
///   (INVISIBLE_PATIENT until the result is announced, a minor's secret…); insurer agents none.
/// - Only feeding software names a deposit's author; everyone else authors as themselves.
/// - Insurer agents, operators and privacy officers see a record's existence and status, never
///   its identity (rule 12), so they do not search by traits either.
/// - The author or depositor of a document changes its status.
/// - The holder (patient or current representative) reads the policy and the access history,
///   manages notifications and deletes the reimbursement history (rule 13); a privacy officer
///   reads the policy and the history too.
/// - The holder manages the apps connected to their record, in a session of their own: never
///   through an app's token (one with granted SMART scopes), so an app cannot allow itself back
///   or revoke another.
/// - Statistics: insurer agents, privacy officers, operators. Keys and the directory: operators.
///   The review queue: privacy officers.
pub fn authorize(actor: &Actor, action: Action<'_>) -> Result<Grant, ActionDenied> {
    let officer = matches!(actor.kind, ActorKind::PrivacyOfficer);
    let operator = matches!(actor.kind, ActorKind::Operator);
    let only = |allowed: bool, grant: Grant, denied: ActionDenied| if allowed { Ok(grant) } else { Err(denied) };
    match action {
        Action::Record { action, ins } => record(actor, action, ins),
        Action::Feed { ins, type_code } => match &actor.kind {
            ActorKind::Patient { .. } | ActorKind::Representative { .. } => {
                only(actor.speaks_for(ins), Grant::MayFeed, ActionDenied::FeedsOwnRecordOnly)
            }
            ActorKind::Professional(_) | ActorKind::Regulator(_) | ActorKind::System { .. } => Ok(Grant::MayFeed),
            ActorKind::InsurerAgent => only(type_code.code == REIMBURSEMENT_TYPE, Grant::MayFeed, ActionDenied::FeedsReimbursementOnly),
            ActorKind::PrivacyOfficer | ActorKind::Operator => Err(ActionDenied::DoesNotFeed),
        },
        Action::SetDepositLabels(labels) => match &actor.kind {
            ActorKind::Patient { .. } | ActorKind::Representative { .. } => match labels.iter().find(|l| **l != SecurityLabel::MasquePs) {
                Some(l) => Err(ActionDenied::SetsMasquePsOnly(*l)),
                None => Ok(Grant::Role),
            },
            ActorKind::InsurerAgent => only(labels.is_empty(), Grant::Role, ActionDenied::SetsNoLabel),
            _ => Ok(Grant::Role),
        },
        Action::NameAuthor => only(matches!(actor.kind, ActorKind::System { .. }), Grant::Role, ActionDenied::AuthorsAsThemselves),
        Action::SeeIdentity => only(
            !matches!(actor.kind, ActorKind::InsurerAgent | ActorKind::Operator | ActorKind::PrivacyOfficer),
            Grant::Role,
            ActionDenied::IdentityHidden,
        ),
        Action::RegisterAsCreator(ins) => only(
            matches!(actor.kind, ActorKind::Representative { .. }) && actor.speaks_for(ins),
            Grant::CreatedTheRecord,
            ActionDenied::NotCreatingRepresentative,
        ),
        Action::ChangeDocumentStatus { author, deposited_by } => {
            only(actor.has_reference(author) || actor.has_reference(deposited_by), Grant::Author, ActionDenied::NotAuthor)
        }
        Action::ReadPolicy(ctx) => officer_or_holder(actor, ctx, ActionDenied::NotPolicyReader),
        Action::ReadAccessHistory(ctx) => officer_or_holder(actor, ctx, ActionDenied::NotHistoryReader),
        Action::ManageNotifications(ctx) => only(ctx.holder(actor).is_some(), Grant::Holder, ActionDenied::NotHolder),
        Action::DeleteReimbursementHistory(ctx) => only(ctx.holder(actor).is_some(), Grant::Holder, ActionDenied::NotHolderToDelete),
        Action::ManageApps(ctx) => match actor.scopes {
            Scopes::Granted(_) => Err(ActionDenied::AppManagesNoApps),
            Scopes::RoleOnly => only(ctx.holder(actor).is_some(), Grant::Holder, ActionDenied::NotHolderForApps),
        },
        Action::ReadStatistics => only(
            matches!(actor.kind, ActorKind::InsurerAgent | ActorKind::Operator | ActorKind::PrivacyOfficer),
            Grant::Role,
            ActionDenied::StatisticsRole,
        ),
        Action::RotateKeys => only(operator, Grant::Operator, ActionDenied::OperatorsRotateKeys),
        Action::MaintainDirectory => only(operator, Grant::Operator, ActionDenied::OperatorsMaintainDirectory),
        Action::ReviewQueue => only(officer, Grant::PrivacyOfficer, ActionDenied::PrivacyOfficersQueue),
    }
}

fn record(actor: &Actor, action: RecordAction, ins: &Ins) -> Result<Grant, ActionDenied> {
    use RecordAction::*;
    match (&actor.kind, action) {
        (ActorKind::Patient { .. } | ActorKind::Representative { .. }, _) => {
            if actor.speaks_for(ins) {
                Ok(Grant::RecordRule)
            } else {
                Err(ActionDenied::NotTheirRecord)
            }
        }
        (ActorKind::Professional(_), Create | ReadStatus) => Ok(Grant::RecordRule),
        (ActorKind::Regulator(_) | ActorKind::System { .. }, ReadStatus) => Ok(Grant::RecordRule),
        (ActorKind::InsurerAgent, Create | ReadStatus | Close | Reopen) => Ok(Grant::RecordRule),
        (ActorKind::PrivacyOfficer | ActorKind::Operator, ReadStatus) => Ok(Grant::RecordRule),
        _ => Err(ActionDenied::RecordRole),
    }
}

fn officer_or_holder(actor: &Actor, ctx: HolderContext<'_>, denied: ActionDenied) -> Result<Grant, ActionDenied> {
    if matches!(actor.kind, ActorKind::PrivacyOfficer) {
        Ok(Grant::PrivacyOfficer)
    } else if ctx.holder(actor).is_some() {
        Ok(Grant::Holder)
    } else {
        Err(denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_codes_are_unique_and_distinct_from_denials() {
        let mut grants: Vec<&str> = Grant::ALL.iter().map(|g| g.code()).collect();
        let n = grants.len();
        grants.sort_unstable();
        grants.dedup();
        assert_eq!(grants.len(), n, "grant codes are unique");
        for d in ActionDenied::ALL {
            assert!(!grants.contains(&d.code()), "{d:?} shares its code with a grant");
            assert!(d.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{d:?}");
        }
    }
}
