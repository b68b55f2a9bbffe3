//! FHIR `instant`, `dateTime` and `date` strings to and from `time` values.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// An `instant` in UTC, e.g. `2026-01-02T03:04:05.678Z` (fraction only when non-zero).
/// Written by hand so it cannot fail, and digit by digit rather than through `fmt`: a search
/// page writes a hundred of them.
pub fn instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let mut out = String::with_capacity(30);
    push_date(&mut out, t.date());
    out.push('T');
    push_digits(&mut out, u32::from(t.hour()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(t.minute()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(t.second()), 2);
    let mut nanos = t.nanosecond();
    if nanos != 0 {
        let mut width = 9;
        while nanos.is_multiple_of(10) {
            nanos /= 10;
            width -= 1;
        }
        out.push('.');
        push_digits(&mut out, nanos, width);
    }
    out.push('Z');
    out
}

/// A `date`, e.g. `1984-12-01`.
pub fn date(d: Date) -> String {
    let mut out = String::with_capacity(10);
    push_date(&mut out, d);
    out
}

fn push_date(out: &mut String, d: Date) {
    let year = d.year();
    if (0..=9999).contains(&year) {
        push_digits(out, year.unsigned_abs(), 4);
    } else {
        // Outside FHIR's four-digit years (time's large-dates range): still a readable value.
        out.push_str(&format!("{year:04}"));
    }
    out.push('-');
    push_digits(out, u32::from(u8::from(d.month())), 2);
    out.push('-');
    push_digits(out, u32::from(d.day()), 2);
}

/// `n` in decimal, zero-padded to `width` digits (wider numbers keep all their digits).
fn push_digits(out: &mut String, n: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = at.min(digits.len().saturating_sub(width));
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
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

    proptest::proptest! {
        /// The digit-by-digit writer says what `format!` says, for every instant of FHIR's years.
        #[test]
        fn instants_and_dates_match_their_fmt_form(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000, coarse in 0u8..3) {
            // A third of the cases with whole seconds, a third with milliseconds.
            let nanos = match coarse { 0 => 0, 1 => nanos / 1_000_000 * 1_000_000, _ => nanos };
            let t = OffsetDateTime::from_unix_timestamp(secs).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?
                .replace_nanosecond(nanos).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let d = t.date();
            let day = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            let fraction = if nanos == 0 { String::new() } else { format!(".{}", format!("{nanos:09}").trim_end_matches('0')) };
            let expected = format!("{day}T{:02}:{:02}:{:02}{fraction}Z", t.hour(), t.minute(), t.second());
            proptest::prop_assert_eq!(date(d), day);
            proptest::prop_assert_eq!(instant(t), expected.clone());
            proptest::prop_assert_eq!(parse_date_time(&expected).ok(), Some(t));
        }
    }

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
