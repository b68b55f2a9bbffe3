//! Instants are stored as Unix milliseconds (BIGINT/INTEGER) so both backends sort and compare
//! them the same way; dates as ISO `YYYY-MM-DD` text.

use time::{Date, OffsetDateTime};

use crate::StoreError;

pub fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt { what: "timestamp", detail: e.to_string() })
}

pub fn opt_from_millis(ms: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    ms.map(from_millis).transpose()
}

const DATE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

pub fn date_to_text(d: Date) -> String {
    d.format(DATE).unwrap_or_default()
}

pub fn date_from_text(s: &str) -> Result<Date, StoreError> {
    Date::parse(s, DATE).map_err(|e| StoreError::Corrupt { what: "date", detail: e.to_string() })
}
