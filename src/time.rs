//! Timestamps as microseconds since the Unix epoch.
//!
//! Every layer (input dates, STIX `created`/`modified`, `date_added`, the
//! feed's entry table, `added_after`) works in one unit: signed microseconds
//! since 1970-01-01T00:00:00Z in UTC. Inputs carry 0–9 fraction digits and
//! any offset; we truncate to microseconds when parsing. Output formats are
//! fixed by TAXII-NOTES decision 10: STIX properties with exactly 3 fraction
//! digits, `date_added` and the date headers with exactly 6.

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike, Utc};
use std::fmt::Write;

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// One millisecond in [`Micros`].
pub const MILLI: Micros = 1_000;
/// One second in [`Micros`].
pub const SECOND: Micros = 1_000_000;
/// One hour in [`Micros`].
pub const HOUR: Micros = 3_600 * SECOND;
/// One day in [`Micros`].
pub const DAY: Micros = 24 * HOUR;

/// Why a timestamp string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {value:?}: expected e.g. 2024-01-02T03:04:05.123Z")]
pub struct TimeError {
    /// The offending text, shortened to 64 characters.
    pub value: String,
}

/// Parses an RFC 3339 timestamp with 0–9 fraction digits and `Z` or any
/// `±HH:MM` offset; the fraction is truncated to microseconds.
pub fn parse_rfc3339(s: &str) -> Result<Micros, TimeError> {
    let err = || TimeError {
        value: s.chars().take(64).collect(),
    };
    let t = s.trim();
    // chrono accepts a space or 't' separator and lower-case 'z': RFC 3339
    // allows both, so we let it.
    let dt = DateTime::parse_from_rfc3339(t).map_err(|_| err())?;
    let utc = dt.with_timezone(&Utc);
    Ok(utc.timestamp() * SECOND + i64::from(utc.timestamp_subsec_micros()))
}

/// Parses a lenient export timestamp: RFC 3339, or the same without an
/// offset (taken as UTC), or a bare date `YYYY-MM-DD` (midnight UTC).
pub fn parse_lenient(s: &str) -> Result<Micros, TimeError> {
    if let Ok(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    let t = s.trim();
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            let utc = Utc.from_utc_datetime(&n);
            return Ok(utc.timestamp() * SECOND + i64::from(utc.timestamp_subsec_micros()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let utc = Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"));
        return Ok(utc.timestamp() * SECOND);
    }
    Err(TimeError {
        value: s.chars().take(64).collect(),
    })
}

/// The current wall-clock time.
pub fn now() -> Micros {
    let n = Utc::now();
    n.timestamp() * SECOND + i64::from(n.timestamp_subsec_micros())
}

/// Truncates to whole milliseconds (toward the past).
pub fn truncate_ms(t: Micros) -> Micros {
    t.div_euclid(MILLI) * MILLI
}

fn write_base(out: &mut String, t: Micros) -> u32 {
    let secs = t.div_euclid(SECOND);
    let micros = t.rem_euclid(SECOND) as u32;
    let dt = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    micros
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (STIX property precision).
pub fn push_ms(out: &mut String, t: Micros) {
    let micros = write_base(out, t);
    let _ = write!(out, ".{:03}Z", micros / 1000);
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (date_added precision).
pub fn push_us(out: &mut String, t: Micros) {
    let micros = write_base(out, t);
    let _ = write!(out, ".{:06}Z", micros);
}

/// `t` with exactly 3 fraction digits, e.g. `2024-01-02T03:04:05.123Z`.
pub fn fmt_ms(t: Micros) -> String {
    let mut s = String::with_capacity(24);
    push_ms(&mut s, t);
    s
}

/// `t` with exactly 6 fraction digits, e.g. `2024-01-02T03:04:05.123456Z`.
pub fn fmt_us(t: Micros) -> String {
    let mut s = String::with_capacity(27);
    push_us(&mut s, t);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fraction_lengths_and_offsets() {
        let base = parse_rfc3339("2021-12-08T09:32:24Z").unwrap();
        assert_eq!(fmt_us(base), "2021-12-08T09:32:24.000000Z");
        assert_eq!(
            parse_rfc3339("2021-12-08T09:32:24.104143+02:00").unwrap(),
            base - 2 * HOUR + 104_143
        );
        assert_eq!(
            parse_rfc3339("2021-12-08T09:32:24.540651579Z").unwrap(),
            base + 540_651
        );
        assert_eq!(
            parse_rfc3339("2021-12-08T09:32:24.5Z").unwrap(),
            base + 500_000
        );
        assert!(parse_rfc3339("2021-12-08").is_err());
        assert!(parse_rfc3339("garbage").is_err());
    }

    #[test]
    fn formats_fixed_precision() {
        let t = parse_rfc3339("2024-01-02T03:04:05.123456Z").unwrap();
        assert_eq!(fmt_ms(t), "2024-01-02T03:04:05.123Z");
        assert_eq!(fmt_us(t), "2024-01-02T03:04:05.123456Z");
        assert_eq!(fmt_us(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn lenient_accepts_naive_and_dates() {
        assert_eq!(
            parse_lenient("2024-01-02 03:04:05").unwrap(),
            parse_rfc3339("2024-01-02T03:04:05Z").unwrap()
        );
        assert_eq!(
            parse_lenient("2024-01-02").unwrap(),
            parse_rfc3339("2024-01-02T00:00:00Z").unwrap()
        );
    }
}
