//! The enumeration guard (access rule 15): a professional or regulator who looks up or opens
//! more distinct records within a sliding window than a configured limit is throttled, and an
//! alert is raised once per episode.
//!
//! Pure rule, time passed in. The openings themselves live in the metadata store, shared by
//! every node (a professional spread over several nodes gets the limit once, a restart forgets
//! nothing); the store applies `EnumerationRule::judge` inside the transaction that notes them,
//! one actor at a time, so that two nodes cannot both let the record over the limit through.

use time::{Duration, OffsetDateTime};

use crate::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum GuardVerdict {
    Allowed,
    /// Refuse the lookup. `first_time_over` is true once per episode (until the actor is
    /// admitted a new record again): raise the alert then, not on every refused call.
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

/// What the guard holds for one actor when a lookup arrives: the distinct records it counts
/// (opened within the window) and whether the actor is in a throttling episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Distinct records opened within the window.
    pub counted: usize,
    /// Records asked for now that are not among them.
    pub new: usize,
    pub in_episode: bool,
}

/// The verdict, and what the store keeps for the actor after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: GuardVerdict,
    /// Whether the actor's records asked for are noted (opened now, counted for another window).
    pub note: bool,
    pub in_episode: bool,
}

/// How long a node takes a record it noted for an actor as noted, re-opened or not: a doctor
/// reading one record page after page costs the store one note a minute, not one per page.
pub const NOTE_REFRESH: Duration = Duration::MINUTE;

/// How many distinct records an actor may open within how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumerationRule {
    pub window: Duration,
    pub limit: usize,
}

impl EnumerationRule {
    /// `limit` distinct records per hour.
    pub fn hourly(limit: usize) -> EnumerationRule {
        EnumerationRule { window: Duration::HOUR, limit }
    }

    /// Whose lookups the guard counts: professionals and regulators, who may look up any
    /// patient's record and so could enumerate them. Patients and representatives look up only
    /// their own; the other roles see no identity.
    pub fn watches(actor: &Actor) -> bool {
        actor.professional().is_some()
    }

    /// Openings at or before this instant no longer count.
    pub fn since(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.checked_sub(self.window).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Whether a record a node noted for an actor at `noted_at` (the store admitted it) may be
    /// re-opened at `now` without asking the store again: it is still counted, so re-opening
    /// it is free (`judge`), and it was noted less than [`NOTE_REFRESH`] ago (and within a
    /// tenth of the window). What skipping the note costs: the record's opening stays that
    /// much older than it is, so it may leave the window that much sooner.
    pub fn noted_recently(&self, noted_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        let fresh_for = NOTE_REFRESH.min(self.window / 10);
        noted_at <= now && now - noted_at < fresh_for && noted_at > self.since(now)
    }

    /// A lookup of some records, all at once: admitted if the records not counted yet fit
    /// under the limit with those counted (re-opening a counted record is free, even while
    /// throttled), else refused whole (a search is not cut to what fits: the caller would
    /// learn which records exist past the limit). A new record admitted ends the episode.
    pub fn judge(&self, standing: Standing) -> Judgement {
        if standing.new == 0 {
            return Judgement { verdict: GuardVerdict::Allowed, note: true, in_episode: standing.in_episode };
        }
        if standing.counted.saturating_add(standing.new) <= self.limit {
            return Judgement { verdict: GuardVerdict::Allowed, note: true, in_episode: false };
        }
        Judgement { verdict: GuardVerdict::Throttled { first_time_over: !standing.in_episode }, note: false, in_episode: true }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    /// One actor's rows as the store keeps them: each record's latest opening, and the episode.
    #[derive(Default, Clone)]
    struct Rows {
        opened: HashMap<u32, OffsetDateTime>,
        in_episode: bool,
    }

    impl Rows {
        /// What the store does in its transaction.
        fn look_up(&mut self, rule: &EnumerationRule, records: &[u32], now: OffsetDateTime) -> GuardVerdict {
            let since = rule.since(now);
            let counted: Vec<u32> = self.opened.iter().filter(|(_, at)| **at > since).map(|(r, _)| *r).collect();
            let mut asked = records.to_vec();
            asked.sort_unstable();
            asked.dedup();
            let new = asked.iter().filter(|r| !counted.contains(r)).count();
            let judgement = rule.judge(Standing { counted: counted.len(), new, in_episode: self.in_episode });
            if judgement.note {
                for r in asked {
                    let at = self.opened.entry(r).or_insert(now);
                    *at = (*at).max(now);
                }
            }
            self.in_episode = judgement.in_episode;
            judgement.verdict
        }
    }

    fn throttled(first_time_over: bool) -> GuardVerdict {
        GuardVerdict::Throttled { first_time_over }
    }

    #[test]
    fn distinct_records_are_counted_and_reopening_is_free() {
        let rule = EnumerationRule::hourly(3);
        let mut rows = Rows::default();
        for n in 0..3 {
            assert_eq!(rows.look_up(&rule, &[n], T0), GuardVerdict::Allowed);
        }
        for _ in 0..5 {
            assert_eq!(rows.look_up(&rule, &[1], T0 + Duration::minutes(1)), GuardVerdict::Allowed);
        }
        assert_eq!(rows.look_up(&rule, &[3], T0), throttled(true));
        assert_eq!(rows.look_up(&rule, &[4], T0), throttled(false));
        // Already counted records stay open while throttled, and do not end the episode.
        assert_eq!(rows.look_up(&rule, &[2], T0), GuardVerdict::Allowed);
        assert_eq!(rows.look_up(&rule, &[5], T0), throttled(false));
    }

    #[test]
    fn a_search_over_the_limit_is_refused_whole() {
        let rule = EnumerationRule::hourly(3);
        let mut rows = Rows::default();
        assert_eq!(rows.look_up(&rule, &[0, 1], T0), GuardVerdict::Allowed);
        // Two new records where one fits: refused, and nothing noted.
        assert_eq!(rows.look_up(&rule, &[1, 2, 3], T0), throttled(true));
        assert_eq!(rows.opened.len(), 2);
        // The one that fits, with a counted one, is admitted and ends the episode.
        assert_eq!(rows.look_up(&rule, &[0, 2, 2], T0), GuardVerdict::Allowed);
        assert!(!rows.in_episode);
    }

    #[test]
    fn a_recent_note_is_taken_as_still_counted_for_a_minute_at_most() {
        let rule = EnumerationRule::hourly(3);
        assert!(rule.noted_recently(T0, T0));
        assert!(rule.noted_recently(T0, T0 + Duration::seconds(59)));
        assert!(!rule.noted_recently(T0, T0 + Duration::seconds(60)), "a minute on, the store is asked again");
        assert!(!rule.noted_recently(T0 + Duration::seconds(1), T0), "a note from the future (a clock set back) is not trusted");
        // A short window: a tenth of it, and never past it.
        let short = EnumerationRule { window: Duration::seconds(30), limit: 3 };
        assert!(short.noted_recently(T0, T0 + Duration::seconds(2)));
        assert!(!short.noted_recently(T0, T0 + Duration::seconds(3)));
    }

    #[test]
    fn the_window_slides() {
        let rule = EnumerationRule::hourly(2);
        let mut rows = Rows::default();
        assert_eq!(rows.look_up(&rule, &[0], T0), GuardVerdict::Allowed);
        assert_eq!(rows.look_up(&rule, &[1], T0 + Duration::minutes(30)), GuardVerdict::Allowed);
        assert_eq!(rows.look_up(&rule, &[2], T0 + Duration::minutes(59)), throttled(true));
        // An hour after the first opening it no longer counts: a new episode may begin.
        assert_eq!(rows.look_up(&rule, &[2], T0 + Duration::HOUR), GuardVerdict::Allowed);
        assert_eq!(rows.look_up(&rule, &[3], T0 + Duration::HOUR), throttled(true));
        // Re-opening refreshes: record 1, reopened at 1h20, still counts at 2h10.
        assert_eq!(rows.look_up(&rule, &[1], T0 + Duration::minutes(80)), GuardVerdict::Allowed);
        assert_eq!(rows.look_up(&rule, &[4], T0 + Duration::minutes(130)), GuardVerdict::Allowed);
        assert_eq!(rows.look_up(&rule, &[5], T0 + Duration::minutes(131)), throttled(true));
    }

    #[test]
    fn a_zero_limit_throttles_every_new_record() {
        let rule = EnumerationRule::hourly(0);
        let mut rows = Rows::default();
        assert_eq!(rows.look_up(&rule, &[0], T0), throttled(true));
        assert_eq!(rows.look_up(&rule, &[1], T0), throttled(false));
        assert!(rows.opened.is_empty());
    }

    proptest! {
        /// Whatever the lookups: within any window, never more than `limit` distinct records
        /// admitted; a lookup of counted records only is never refused; the alert is raised
        /// once per episode (exactly on the refusals that follow an admission of a new record,
        /// or the first ever).
        #[test]
        fn never_more_than_the_limit_and_one_alert_per_episode(
            limit in 0usize..5,
            lookups in proptest::collection::vec((0u32..8, proptest::collection::vec(0u32..12, 0..4)), 1..60),
        ) {
            let rule = EnumerationRule::hourly(limit);
            let mut rows = Rows::default();
            let mut now = T0;
            let mut admitted: Vec<(u32, OffsetDateTime)> = Vec::new();
            let mut alert_due = true;
            for (minutes, records) in lookups {
                now += Duration::minutes(i64::from(minutes) * 4);
                let since = rule.since(now);
                let all_counted = records.iter().all(|r| rows.opened.get(r).is_some_and(|at| *at > since));
                let verdict = rows.look_up(&rule, &records, now);
                match verdict {
                    GuardVerdict::Allowed => {
                        let new = records.iter().any(|r| !admitted.iter().any(|(a, at)| a == r && *at > since));
                        if new {
                            alert_due = true;
                        }
                        admitted.extend(records.iter().map(|r| (*r, now)));
                    }
                    GuardVerdict::Throttled { first_time_over } => {
                        prop_assert!(!all_counted, "a lookup of counted records only is refused");
                        prop_assert_eq!(first_time_over, alert_due);
                        alert_due = false;
                    }
                }
                let mut distinct: Vec<u32> = admitted.iter().filter(|(_, at)| *at > since).map(|(r, _)| *r).collect();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert!(distinct.len() <= limit, "{} distinct records within the window, limit {}", distinct.len(), limit);
            }
        }

        /// A node that does not ask the store again for records it noted lately
        /// (`noted_recently`) refuses nothing the store would have admitted, and admits at most
        /// `limit` distinct records within any window less `NOTE_REFRESH`.
        #[test]
        fn skipping_recent_notes_refuses_nothing_more_and_keeps_the_limit_within_the_window_less_a_minute(
            limit in 0usize..5,
            lookups in proptest::collection::vec((0u32..12, proptest::collection::vec(0u32..10, 1..4)), 1..80),
        ) {
            let rule = EnumerationRule::hourly(limit);
            let mut rows = Rows::default();
            let mut noted: HashMap<u32, OffsetDateTime> = HashMap::new();
            let mut now = T0;
            let mut admitted: Vec<(u32, OffsetDateTime)> = Vec::new();
            for (quarters, records) in lookups {
                // Steps of 15 s to 2 min 45 s: lookups within a minute of each other, and apart.
                now += Duration::seconds(i64::from(quarters) * 15);
                let skipped = records.iter().all(|r| noted.get(r).is_some_and(|at| rule.noted_recently(*at, now)));
                let verdict = if skipped {
                    let mut asked = rows.clone();
                    prop_assert_eq!(asked.look_up(&rule, &records, now), GuardVerdict::Allowed, "the store would have refused it");
                    GuardVerdict::Allowed
                } else {
                    let verdict = rows.look_up(&rule, &records, now);
                    if verdict == GuardVerdict::Allowed {
                        noted.extend(records.iter().map(|r| (*r, now)));
                    }
                    verdict
                };
                if verdict == GuardVerdict::Allowed {
                    admitted.extend(records.iter().map(|r| (*r, now)));
                }
                let since = rule.since(now) + NOTE_REFRESH;
                let mut distinct: Vec<u32> = admitted.iter().filter(|(_, at)| *at > since).map(|(r, _)| *r).collect();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert!(distinct.len() <= limit, "{} distinct records within the window less a minute, limit {}", distinct.len(), limit);
            }
        }
    }
}
