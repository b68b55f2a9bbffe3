//! Every decision and every write becomes a ledger entry before anything is served or changed.
//! An entry that cannot be appended fails the request: there is no unlogged access.

use carnet_domain::{AccessDecision, Actor, DocumentScope, Ins, Operation};
use carnet_ledger::{EntryActor, LedgerEntry, Outcome};

use crate::{Carnet, Result};

/// What the ledger says of one decision: an action on an optional target, and the outcome with
/// its reason code.
pub(crate) struct Event<'a> {
    pub ins: Option<&'a Ins>,
    pub action: &'static str,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub reason: &'a str,
    /// A commitment to an emergency justification (`Carnet::commit_justification`): the
    /// entry never carries the text.
    pub justification_commitment: Option<String>,
}

impl<'a> Event<'a> {
    pub fn permit(action: &'static str, ins: Option<&'a Ins>, target: Option<String>, reason: &'a str) -> Event<'a> {
        Event { ins, action, target, outcome: Outcome::Permit, reason, justification_commitment: None }
    }

    pub fn deny(action: &'static str, ins: Option<&'a Ins>, target: Option<String>, reason: &'a str) -> Event<'a> {
        Event { ins, action, target, outcome: Outcome::Deny, reason, justification_commitment: None }
    }

    /// The policy's decision, with its basis or reason code.
    pub fn decided(action: &'static str, ins: Option<&'a Ins>, target: Option<String>, decision: AccessDecision) -> Event<'a> {
        let outcome = if decision.is_permit() { Outcome::Permit } else { Outcome::Deny };
        Event { ins, action, target, outcome, reason: decision.code(), justification_commitment: None }
    }

    pub fn with_justification_commitment(mut self, commitment: String) -> Event<'a> {
        self.justification_commitment = Some(commitment);
        self
    }
}

/// How an actor appears in the ledger: references, role, name, profession, organisation and the
/// app acted through — what the patient's access history shows ("who, by name, profession and
/// organisation, through which app"). Patients and their representatives are not named: the
/// ledger is append-only and outlives crypto-shredding, so it keeps no patient's or relative's
/// name (their reference is an issuer's subject, and their role says who they are to the record).
pub(crate) fn entry_actor(actor: &Actor) -> EntryActor {
    EntryActor {
        reference: actor.reference(),
        role: actor.role().as_str().to_owned(),
        name: match actor.kind {
            carnet_domain::ActorKind::Patient { .. } | carnet_domain::ActorKind::Representative { .. } => None,
            _ => actor.name.clone(),
        },
        profession: actor.profession().map(|p| p.code().to_owned()),
        organisation: actor.organisation().map(|f| f.to_string()),
        app: crate::apps::app_of(actor).map(str::to_owned),
    }
}

impl Carnet {
    /// The token's scopes for `operation` (`carnet_domain::scope::permit`), checked before
    /// anything about the record is looked up, so a refusal says nothing of it. A refusal is
    /// recorded, on the record named by the request when there is one.
    pub(crate) async fn scoped(&self, actor: &Actor, operation: Operation, ins: Option<&Ins>) -> Result<DocumentScope> {
        match carnet_domain::scope::permit(actor, operation) {
            Ok(documents) => Ok(documents),
            Err(denied) => {
                self.record_event(actor, Event::deny(operation.as_str(), ins, None, "insufficient_scope")).await?;
                Err(denied.into())
            }
        }
    }

    /// Appends the event; returns its leaf index.
    pub(crate) async fn record_event(&self, actor: &Actor, event: Event<'_>) -> Result<u64> {
        self.ledger_trusted()?;
        self.append_event(actor, event).await
    }

    /// Appends the event whatever the ledger's state: only for the entry that acknowledges a
    /// deliberate restore, which is what lifts the refusal.
    pub(crate) async fn append_event(&self, actor: &Actor, event: Event<'_>) -> Result<u64> {
        let receipt = self.ledger.append(&self.entry_of(actor, event)).await?;
        Ok(receipt.index)
    }

    /// Appends the events of one request together, in order, in one commit of the ledger
    /// rather than one after the other; returns the first's leaf index. All are recorded or
    /// none is (and then nothing may be served).
    pub(crate) async fn record_events(&self, actor: &Actor, events: Vec<Event<'_>>) -> Result<u64> {
        self.ledger_trusted()?;
        let entries: Vec<LedgerEntry> = events.into_iter().map(|event| self.entry_of(actor, event)).collect();
        let receipt = self.ledger.append_all(&entries).await?;
        Ok(receipt.index)
    }

    fn entry_of(&self, actor: &Actor, event: Event<'_>) -> LedgerEntry {
        LedgerEntry {
            at: (self.now().unix_timestamp_nanos() / 1_000_000) as i64,
            actor: entry_actor(actor),
            ins: event.ins.cloned(),
            action: event.action.to_owned(),
            target: event.target,
            outcome: event.outcome,
            reason: event.reason.to_owned(),
            justification: None,
            justification_commitment: event.justification_commitment,
        }
    }
}
