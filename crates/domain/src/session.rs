//! A person's portal session: when it ends. Pure rules over instants, so every path (page, form,
//! sweep) asks the same question the same way.

use time::{Duration, OffsetDateTime};

/// How long a session lives: `idle` without use, `absolute` from sign-in whatever the use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionLimits {
    /// 15 minutes idle, 8 hours in all: a shared computer left alone is closed soon, a working
    /// day is one sign-in.
    fn default() -> Self {
        SessionLimits { idle: Duration::minutes(15), absolute: Duration::hours(8) }
    }
}

/// A use refreshes the stored last use only when the one noted is older than this, so a page
/// with many requests does not write on each. Idle expiry may therefore come up to this much early.
pub const TOUCH_PRECISION: Duration = Duration::minutes(1);

/// What a session is at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    /// Unused for `idle` or longer.
    IdleExpired,
    /// Signed in `absolute` or longer ago.
    AbsoluteExpired,
    /// Signed out (or revoked by an operator).
    Revoked,
}

/// A session's instants as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl SessionTimes {
    /// Its state at `now`. Revocation wins, then the absolute limit, then idleness. An instant
    /// exactly at a limit is past it.
    pub fn state(&self, now: OffsetDateTime, limits: SessionLimits) -> SessionState {
        if self.revoked_at.is_some_and(|at| at <= now) {
            SessionState::Revoked
        } else if now >= self.absolute_expiry(limits) {
            SessionState::AbsoluteExpired
        } else if now >= self.idle_expiry(limits) {
            SessionState::IdleExpired
        } else {
            SessionState::Live
        }
    }

    pub fn absolute_expiry(&self, limits: SessionLimits) -> OffsetDateTime {
        self.created_at.saturating_add(limits.absolute)
    }

    /// Never after the absolute expiry.
    pub fn idle_expiry(&self, limits: SessionLimits) -> OffsetDateTime {
        self.last_seen_at.saturating_add(limits.idle).min(self.absolute_expiry(limits))
    }

    /// Whether a use at `now` of a live session should be written down.
    pub fn needs_touch(&self, now: OffsetDateTime) -> bool {
        now - self.last_seen_at >= TOUCH_PRECISION
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);

    fn times(last_seen_after: i64) -> SessionTimes {
        SessionTimes { created_at: T0, last_seen_at: T0 + Duration::seconds(last_seen_after), revoked_at: None }
    }

    #[test]
    fn defaults_are_fifteen_minutes_idle_and_eight_hours_in_all() {
        let l = SessionLimits::default();
        assert_eq!((l.idle, l.absolute), (Duration::minutes(15), Duration::hours(8)));
        let s = times(0);
        assert_eq!(s.state(T0 + Duration::minutes(14), l), SessionState::Live);
        assert_eq!(s.state(T0 + Duration::minutes(15), l), SessionState::IdleExpired);
        let used = times(7 * 3600 + 59 * 60);
        assert_eq!(used.state(T0 + Duration::hours(8) - Duration::seconds(1), l), SessionState::Live);
        assert_eq!(used.state(T0 + Duration::hours(8), l), SessionState::AbsoluteExpired);
    }

    #[test]
    fn a_revoked_session_is_over_even_while_fresh() {
        let s = SessionTimes { revoked_at: Some(T0), ..times(0) };
        assert_eq!(s.state(T0 + Duration::seconds(1), SessionLimits::default()), SessionState::Revoked);
    }

    #[test]
    fn a_use_is_written_at_most_once_a_minute() {
        let s = times(0);
        assert!(!s.needs_touch(T0 + Duration::seconds(59)));
        assert!(s.needs_touch(T0 + Duration::seconds(60)));
    }

    proptest! {
        /// Live exactly when not revoked, younger than the absolute limit and used within the
        /// idle one; and a live session stays live at any earlier instant after its last use.
        #[test]
        fn live_exactly_within_both_limits(
            idle in 1i64..100_000, absolute in 1i64..1_000_000, seen in 0i64..1_000_000, at in 0i64..2_000_000,
            revoked in proptest::option::of(0i64..2_000_000),
        ) {
            let limits = SessionLimits { idle: Duration::seconds(idle), absolute: Duration::seconds(absolute) };
            let s = SessionTimes { revoked_at: revoked.map(|r| T0 + Duration::seconds(r)), ..times(seen) };
            let now = T0 + Duration::seconds(at);
            let live = revoked.is_none_or(|r| r > at) && at < absolute && at < seen + idle;
            prop_assert_eq!(s.state(now, limits) == SessionState::Live, live);
            if live && at > seen {
                prop_assert_eq!(s.state(T0 + Duration::seconds(seen), limits), SessionState::Live);
            }
            prop_assert!(s.idle_expiry(limits) <= s.absolute_expiry(limits));
        }
    }
}
