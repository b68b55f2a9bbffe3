//! FHIR `instant`, `dateTime` and `date` strings to and from `time` values.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// An `instant` in UTC, e.g. `2026-01-02T03:04:05.678Z` (fraction only when non-zero).
/// Written by hand so it cannot fail.
pub fn instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let nanos = t.nanosecond();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        let digits = format!("{nanos:09}");
        format!(".{}", digits.trim_end_matches('0'))
    };
    format!("{}T{:02}:{:02}:{:02}{fraction}Z", date(t.date()), t.hour(), t.minute(), t.second())
}

/// A `date`, e.g. `1984-12-01`.
pub fn date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Reads a FHIR `dateTime` Carnet can store as an instant: a full date-time with its offset
/// (RFC 3339), or a day alone, taken as that day at 00:00 UTC. Year-only and year-month values
/// are refused: a document's dates must say at least the day.
pub fn parse_date_time(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let parts: Vec<&str> = s.split('-').collect();
    if let [y, m, d] = parts.as_slice()
        && y.len() == 4
        && m.len() == 2
        && d.len() == 2
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    {
        let (y, m, d): (i32, u8, u8) = (y.parse().map_err(|_| bad(s))?, m.parse().map_err(|_| bad(s))?, d.parse().map_err(|_| bad(s))?);
        let month = time::Month::try_from(m).map_err(|_| bad(s))?;
        let day = Date::from_calendar_date(y, month, d).map_err(|_| bad(s))?;
        return Ok(PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_utc());
    }
    Err(bad(s))
}

fn bad(s: &str) -> String {
    let shown: String = s.chars().take(40).collect();
    format!("{shown:?} is not a dateTime Carnet can store: give a day (YYYY-MM-DD) or a full date-time with its offset")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn instants_are_utc_with_a_trimmed_fraction() {
        assert_eq!(instant(datetime!(2026-01-02 03:04:05 +01:00)), "2026-01-02T02:04:05Z");
        assert_eq!(instant(datetime!(2026-01-02 03:04:05.678 UTC)), "2026-01-02T03:04:05.678Z");
        assert_eq!(date(date!(1984 - 12 - 01)), "1984-12-01");
    }

    #[test]
    fn date_times_parse_to_instants() {
        assert_eq!(parse_date_time("2013-07-01T23:11:33+10:00"), Ok(datetime!(2013-07-01 23:11:33 +10:00)));
        assert_eq!(parse_date_time("2005-12-24"), Ok(datetime!(2005-12-24 0:00 UTC)));
        for bad in ["2005", "2005-12", "2005-13-01", "2005-02-30", "24/12/2005", "2013-07-01T23:11:33", "", "é-é-é"] {
            assert!(parse_date_time(bad).is_err(), "{bad}");
        }
    }
}
