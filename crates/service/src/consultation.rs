//! What consulting a record sets off besides the read itself: the enumeration guard (rule 15)
//! and the notification of a professional's first access.

use std::collections::{HashMap, HashSet};

use carnet_domain::{AccessDecision, Actor, EnumerationRule, GuardVerdict, Ins};
use carnet_store::{EnumerationStore, OutboxMessage, PolicyStore, ReviewItem, ReviewStore};
use time::format_description::well_known::Rfc3339;

use crate::audit::{Event, entry_actor};
use crate::gate::Gate;
use crate::{Carnet, Result, ServiceError};

/// Pairs (record, professional) known to have been notified already, so that the common case
/// costs no database round trip. Bounded: cleared when full (a miss only costs one insert that
/// does nothing).
#[derive(Default)]
pub(crate) struct SeenConsultations(HashSet<String>);

const SEEN_CAPACITY: usize = 100_000;

/// The records this node noted in the enumeration guard lately, per actor ("actor|ins" → when
/// the store admitted them), so that re-opening one within `NOTE_REFRESH` skips the guard's
/// transaction (`EnumerationRule::noted_recently`). Bounded: cleared when full (a miss only
/// costs the note it would have cost anyway).
#[derive(Default)]
pub(crate) struct RecentOpenings(HashMap<String, time::OffsetDateTime>);

const RECENT_CAPACITY: usize = 100_000;

fn opening_key(actor_ref: &str, ins: &Ins) -> String {
    format!("{actor_ref}|{ins}")
}

impl Carnet {
    /// Whether this node noted every one of `records` for the actor lately enough not to ask
    /// the store again.
    fn noted_recently(&self, actor_ref: &str, records: &[Ins], now: time::OffsetDateTime, rule: &EnumerationRule) -> bool {
        let Ok(recent) = self.recent_openings.lock() else { return false };
        records.iter().all(|ins| recent.0.get(&opening_key(actor_ref, ins)).is_some_and(|at| rule.noted_recently(*at, now)))
    }

    /// Counts a professional's opening of the record in the enumeration guard; over the limit,
    /// the opening is refused (429) and — once per episode — an alert goes to the privacy
    /// officer's queue and the ledger.
    pub(crate) async fn guard_opening(&self, gate: &Gate<'_>) -> Result<()> {
        self.guard_lookup(gate.actor, "record.open", std::slice::from_ref(&gate.ins)).await
    }

    /// Counts a lookup of `records` (all at once) by `actor` in the enumeration guard, whose
    /// counts the database keeps for every node. Over the limit the whole lookup is refused
    /// (429) with a `deny` ledger entry for `action` (naming the record when there is one),
    /// and — once per episode — an alert goes to the privacy officer's queue and the ledger.
    pub(crate) async fn guard_lookup(&self, actor: &Actor, action: &'static str, records: &[Ins]) -> Result<()> {
        if !EnumerationRule::watches(actor) || records.is_empty() {
            return Ok(());
        }
        let reference = actor.reference();
        let now = self.now();
        let rule = self.enumeration_rule();
        if self.noted_recently(&reference, records, now, &rule) {
            return Ok(());
        }
        let verdict = self.db.note_openings(&reference, records, now, &rule).await?;
        let GuardVerdict::Throttled { first_time_over } = verdict else {
            // Admitted: the store noted them all.
            if let Ok(mut recent) = self.recent_openings.lock() {
                if recent.0.len() + records.len() > RECENT_CAPACITY {
                    recent.0.clear();
                }
                recent.0.extend(records.iter().map(|ins| (opening_key(&reference, ins), now)));
            }
            return Ok(());
        };
        let named = match records {
            [one] => Some(one),
            _ => None,
        };
        self.record_event(actor, Event::deny(action, named, None, "enumeration_guard")).await?;
        if first_time_over {
            let index = self.record_event(actor, Event::deny("alert.enumeration", None, None, "limit_exceeded")).await?;
            let item = ReviewItem {
                id: uuid::Uuid::new_v4().to_string(),
                kind: "enumeration".into(),
                ins: None,
                actor_ref: reference.clone(),
                summary: format!("more than {} distinct records opened within an hour", self.config.enumeration_limit),
                ledger_index: Some(index),
                opened_at: now,
                status: "open".into(),
                notes: "[]".into(),
                version: 0,
            };
            self.db.insert_review_item(&item).await?;
            tracing::warn!(actor = %reference, limit = self.config.enumeration_limit, "enumeration guard: professional throttled");
        }
        Err(ServiceError::Throttled)
    }

    pub(crate) fn enumeration_rule(&self) -> EnumerationRule {
        EnumerationRule::hourly(self.config.enumeration_limit)
    }

    /// A professional's first consultation of a record is notified to the patient.
    pub(crate) async fn note_consultation(&self, gate: &Gate<'_>) -> Result<()> {
        if gate.actor.professional().is_none() {
            return Ok(());
        }
        let basis = match gate.record_decision() {
            AccessDecision::Permit(b) => b,
            AccessDecision::Deny(_) => return Ok(()),
        };
        let key = format!("{}|{}", gate.ins, gate.actor.reference());
        if self.seen.lock().map(|s| s.0.contains(&key)).unwrap_or(false) {
            return Ok(());
        }
        // Emergency accesses have their own notification.
        if !basis.is_emergency() {
            let who = entry_actor(gate.actor);
            let payload = serde_json::json!({
                "actor": who.name, "profession": who.profession, "organisation": who.organisation,
                "basis": basis.code(), "at": gate.now.format(&Rfc3339).unwrap_or_default(),
            });
            let message = OutboxMessage {
                id: uuid::Uuid::new_v4().to_string(),
                ins: gate.ins.clone(),
                kind: "first_access".into(),
                recipient: "patient".into(),
                payload: payload.to_string(),
                created_at: gate.now,
                attempts: 0,
            };
            self.db.note_first_access(&gate.ins, &gate.actor.reference(), gate.now, &[message]).await?;
        }
        if let Ok(mut seen) = self.seen.lock() {
            if seen.0.len() >= SEEN_CAPACITY {
                seen.0.clear();
            }
            seen.0.insert(key);
        }
        Ok(())
    }
}
