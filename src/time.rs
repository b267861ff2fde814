//! Timestamps as microseconds since the Unix epoch.
//!
//! Every layer (input dates, STIX `created`/`modified`, `date_added`, the
//! feed's entry table, `added_after`) works in one unit: signed microseconds
//! since 1970-01-01T00:00:00Z in UTC. Inputs carry 0–9 fraction digits and
//! any offset; we truncate to microseconds when parsing. Output formats are
//! fixed by docs/decisions.md#d10: STIX properties with exactly 3 fraction
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

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`): a handful of integer
/// operations instead of chrono's general conversion, because every STIX
/// object carries three or four timestamps and every access-log line one.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u32; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = i64::from(yoe) + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn two(buf: &mut [u8], v: u32) {
    buf[0] = b'0' + (v / 10) as u8;
    buf[1] = b'0' + (v % 10) as u8;
}

/// `YYYY-MM-DDTHH:MM:SS.` followed by `digits` fraction digits and `Z`,
/// into `buf` (at least 28 bytes); returns the length. `None` outside the
/// years 0000–9999, which take the chrono path (same text as before).
fn format_fixed(buf: &mut [u8; 28], t: Micros, digits: u32) -> Option<usize> {
    let secs = t.div_euclid(SECOND);
    let micros = t.rem_euclid(SECOND) as u32;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return None;
    }
    let sod = secs.rem_euclid(86_400) as u32;
    let y = y as u32;
    two(&mut buf[0..2], y / 100);
    two(&mut buf[2..4], y % 100);
    buf[4] = b'-';
    two(&mut buf[5..7], m);
    buf[7] = b'-';
    two(&mut buf[8..10], d);
    buf[10] = b'T';
    two(&mut buf[11..13], sod / 3_600);
    buf[13] = b':';
    two(&mut buf[14..16], sod / 60 % 60);
    buf[16] = b':';
    two(&mut buf[17..19], sod % 60);
    buf[19] = b'.';
    let mut frac = micros / 10u32.pow(6 - digits);
    let end = 20 + digits as usize;
    for i in (20..end).rev() {
        buf[i] = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    buf[end] = b'Z';
    Some(end + 1)
}

/// The general (slow) path: chrono, for years outside 0000–9999.
fn push_chrono(out: &mut String, t: Micros, digits: u32) {
    let secs = t.div_euclid(SECOND);
    let micros = t.rem_euclid(SECOND) as u32;
    let dt = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:0w$}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        micros / 10u32.pow(6 - digits),
        w = digits as usize
    );
}

fn push_fixed(out: &mut String, t: Micros, digits: u32) {
    let mut buf = [0u8; 28];
    match format_fixed(&mut buf, t, digits) {
        // Only ASCII digits and separators were written.
        Some(n) => out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default()),
        None => push_chrono(out, t, digits),
    }
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (STIX property precision).
pub fn push_ms(out: &mut String, t: Micros) {
    push_fixed(out, t, 3);
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (date_added precision).
pub fn push_us(out: &mut String, t: Micros) {
    push_fixed(out, t, 6);
}

/// The TAXII "version" of an object version as it appears in manifests:
/// the STIX `modified` timestamp, which we write with 3 fraction digits;
/// only a version that is not a whole millisecond (imported data) needs 6.
pub fn push_version(out: &mut String, version_us: i64) {
    if version_us.rem_euclid(MILLI) == 0 {
        push_ms(out, version_us);
    } else {
        push_us(out, version_us);
    }
}

/// [`push_us`] into a byte buffer (the access log's line buffer).
pub fn push_us_bytes(out: &mut Vec<u8>, t: Micros) {
    let mut buf = [0u8; 28];
    match format_fixed(&mut buf, t, 6) {
        Some(n) => out.extend_from_slice(&buf[..n]),
        None => {
            let mut s = String::new();
            push_chrono(&mut s, t, 6);
            out.extend_from_slice(s.as_bytes());
        }
    }
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

    /// The old formatter, kept as the reference for the hand-rolled one.
    fn chrono_reference(t: Micros, digits: u32) -> String {
        let mut s = String::new();
        push_chrono(&mut s, t, digits);
        s
    }

    #[test]
    fn formats_calendar_edges_like_chrono() {
        for text in [
            "0000-01-01T00:00:00Z",
            "1600-02-29T23:59:59.999999Z",
            "1900-02-28T12:00:00Z",
            "1900-03-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2000-02-29T00:00:00.000001Z",
            "2100-12-31T23:59:59.5Z",
            "9999-12-31T23:59:59.999999Z",
        ] {
            let t = parse_rfc3339(text).unwrap();
            assert_eq!(fmt_us(t), chrono_reference(t, 6), "{text}");
            assert_eq!(fmt_ms(t), chrono_reference(t, 3), "{text}");
        }
        // Outside 0000-9999 the chrono path answers (and so matches itself).
        let far = 300_000_000_000 * SECOND;
        assert_eq!(fmt_us(far), chrono_reference(far, 6));
        let mut b = Vec::new();
        push_us_bytes(&mut b, -1);
        assert_eq!(b, b"1969-12-31T23:59:59.999999Z");
    }

    proptest::proptest! {
        #[test]
        fn hand_rolled_matches_chrono(t in -62_167_219_200_000_000i64..253_402_300_800_000_000i64) {
            proptest::prop_assert_eq!(fmt_us(t), chrono_reference(t, 6));
            proptest::prop_assert_eq!(fmt_ms(t), chrono_reference(t, 3));
            let mut b = Vec::new();
            push_us_bytes(&mut b, t);
            proptest::prop_assert_eq!(String::from_utf8(b).unwrap(), chrono_reference(t, 6));
        }

        #[test]
        fn any_instant_formats_without_panic(t in proptest::num::i64::ANY) {
            let s = fmt_us(t);
            proptest::prop_assert!(s.ends_with('Z'));
        }
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
