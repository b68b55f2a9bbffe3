//! Time as a dependency: every rule that depends on "now" takes it from a `Clock`, so tests
//! can move time (archive after closure, destruction after 10 years, token expiry).

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}
