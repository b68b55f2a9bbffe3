//! The enumeration guard (access rule 15): a professional who opens more distinct records within
//! a sliding window than a configured limit is throttled, and an alert is raised once per
//! episode. Pure state, time passed in; the service holds one in memory (a restart forgets it,
//! which costs an attacker nothing they could not get by waiting an hour).

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

use crate::{Actor, Ins};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum GuardVerdict {
    Allowed,
    /// Refuse the opening. `first_time_over` is true once per episode (until the actor's count
    /// falls back under the limit): raise the alert then, not on every refused call.
    Throttled {
        first_time_over: bool,
    },
}

impl GuardVerdict {
    pub fn code(self) -> &'static str {
        match self {
            GuardVerdict::Allowed => "allowed",
            GuardVerdict::Throttled { .. } => "throttled",
        }
    }
}

#[derive(Debug, Default)]
struct Opened {
    /// Distinct records with their latest opening; never more than the limit.
    records: Vec<(Ins, OffsetDateTime)>,
    throttled: bool,
}

/// Distinct records opened per actor within a sliding window.
///
/// Memory is bounded: an actor holds at most `limit` entries (an opening over the limit is
/// refused, not recorded), and every `window` a sweep drops stale entries and idle actors, so
/// nothing outlives two windows.
#[derive(Debug)]
pub struct EnumerationGuard {
    window: Duration,
    actors: HashMap<String, Opened>,
    next_sweep: Option<OffsetDateTime>,
}

impl Default for EnumerationGuard {
    fn default() -> Self {
        EnumerationGuard::new(Duration::HOUR)
    }
}

impl EnumerationGuard {
    /// Whose openings the guard counts: professionals and regulators, who may consult any
    /// patient's record and so could enumerate them. Patients and representatives open only
    /// their own; the other roles consult no record.
    pub fn watches(actor: &Actor) -> bool {
        actor.professional().is_some()
    }

    pub fn new(window: Duration) -> EnumerationGuard {
        EnumerationGuard { window, actors: HashMap::new(), next_sweep: None }
    }

    /// Notes that `actor` (an `Actor::reference()`) opens the record `ins` at `now`, unless it
    /// would make more than `limit` distinct records within the window. Re-opening a record
    /// already counted is free (and keeps it counted for another window).
    pub fn check_and_note(&mut self, actor: &str, ins: &Ins, now: OffsetDateTime, limit: usize) -> GuardVerdict {
        self.sweep_if_due(now);
        let since = now - self.window;
        let opened = match self.actors.get_mut(actor) {
            Some(o) => o,
            None => self.actors.entry(actor.to_owned()).or_default(),
        };
        opened.records.retain(|(_, at)| *at > since);
        if let Some((_, at)) = opened.records.iter_mut().find(|(i, _)| i == ins) {
            *at = (*at).max(now);
            return GuardVerdict::Allowed;
        }
        if opened.records.len() < limit {
            opened.records.push((ins.clone(), now));
            opened.throttled = false;
            return GuardVerdict::Allowed;
        }
        let first_time_over = !opened.throttled;
        opened.throttled = true;
        GuardVerdict::Throttled { first_time_over }
    }

    fn sweep_if_due(&mut self, now: OffsetDateTime) {
        match self.next_sweep {
            Some(due) if now < due => {}
            _ => {
                let since = now - self.window;
                self.actors.retain(|_, o| {
                    o.records.retain(|(_, at)| *at > since);
                    !o.records.is_empty()
                });
                self.next_sweep = Some(now + self.window);
            }
        }
    }

    /// How many (actor, record) entries are held: for tests and a memory gauge.
    pub fn entries(&self) -> usize {
        self.actors.values().map(|o| o.records.len()).sum()
    }

    /// How many actors are tracked.
    pub fn actors(&self) -> usize {
        self.actors.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ins(n: u32) -> Ins {
        Ins::from_body(&format!("18412{n:08}")).expect("13 digits")
    }

    const T0: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    #[test]
    fn distinct_records_are_counted_and_reopening_is_free() {
        let mut g = EnumerationGuard::default();
        for n in 0..3 {
            assert_eq!(g.check_and_note("rpps:1", &ins(n), T0, 3), GuardVerdict::Allowed);
        }
        for _ in 0..5 {
            assert_eq!(g.check_and_note("rpps:1", &ins(1), T0 + Duration::minutes(1), 3), GuardVerdict::Allowed);
        }
        assert_eq!(g.check_and_note("rpps:1", &ins(3), T0, 3), GuardVerdict::Throttled { first_time_over: true });
        assert_eq!(g.check_and_note("rpps:1", &ins(4), T0, 3), GuardVerdict::Throttled { first_time_over: false });
        // Already counted records stay open while throttled.
        assert_eq!(g.check_and_note("rpps:1", &ins(2), T0, 3), GuardVerdict::Allowed);
        // Counting is per actor.
        assert_eq!(g.check_and_note("rpps:2", &ins(3), T0, 3), GuardVerdict::Allowed);
        assert_eq!(g.entries(), 4);
    }

    #[test]
    fn the_window_slides() {
        let mut g = EnumerationGuard::default();
        assert_eq!(g.check_and_note("a", &ins(0), T0, 2), GuardVerdict::Allowed);
        assert_eq!(g.check_and_note("a", &ins(1), T0 + Duration::minutes(30), 2), GuardVerdict::Allowed);
        let over = T0 + Duration::minutes(59);
        assert_eq!(g.check_and_note("a", &ins(2), over, 2), GuardVerdict::Throttled { first_time_over: true });
        // An hour after the first opening it no longer counts: a new episode may begin.
        assert_eq!(g.check_and_note("a", &ins(2), T0 + Duration::HOUR, 2), GuardVerdict::Allowed);
        assert_eq!(g.check_and_note("a", &ins(3), T0 + Duration::HOUR, 2), GuardVerdict::Throttled { first_time_over: true });
        // Re-opening refreshes: record 1, reopened at 1h20, still counts at 2h10.
        assert_eq!(g.check_and_note("a", &ins(1), T0 + Duration::minutes(80), 2), GuardVerdict::Allowed);
        assert_eq!(g.check_and_note("a", &ins(4), T0 + Duration::minutes(130), 2), GuardVerdict::Allowed);
        assert_eq!(g.check_and_note("a", &ins(5), T0 + Duration::minutes(131), 2), GuardVerdict::Throttled { first_time_over: true });
    }

    #[test]
    fn memory_is_bounded() {
        let mut g = EnumerationGuard::default();
        // One actor hammering: never more than `limit` entries.
        for n in 0..1000 {
            let _ = g.check_and_note("scraper", &ins(n), T0 + Duration::seconds(i64::from(n)), 10);
        }
        assert_eq!(g.entries(), 10);
        // Many actors once each: swept after the window.
        for n in 0..500 {
            let _ = g.check_and_note(&format!("rpps:{n}"), &ins(n), T0, 10);
        }
        assert_eq!(g.actors(), 501);
        let _ = g.check_and_note("late", &ins(0), T0 + Duration::hours(3), 10);
        assert_eq!((g.actors(), g.entries()), (1, 1));
    }

    #[test]
    fn a_zero_limit_throttles_every_new_record() {
        let mut g = EnumerationGuard::default();
        assert_eq!(g.check_and_note("a", &ins(0), T0, 0), GuardVerdict::Throttled { first_time_over: true });
        assert_eq!(g.check_and_note("a", &ins(1), T0, 0), GuardVerdict::Throttled { first_time_over: false });
        assert_eq!(g.entries(), 0);
    }
}
