//! Points in time as written in policy bundles: RFC 3339 timestamps, kept as
//! whole seconds since the Unix epoch in UTC.
//!
//! Accepted text: `YYYY-MM-DDTHH:MM:SS`, an optional fraction `.d…` (any number
//! of digits), then a mandatory zone, `Z` or `±HH:MM`. `t`, `z` and a single
//! space in place of `T` are accepted too. Years run from 0000 to 9999, both
//! as written and once converted to UTC.
//!
//! Two rules are choices of ours rather than RFC 3339's:
//! - fractions of a second are dropped, so `…:59.999Z` is the same instant as
//!   `…:59Z`: a policy's window is decided to the second;
//! - a leap second `:60` is accepted (any minute, since we keep no table of
//!   leap seconds) and read as `:59` of the same minute, because Unix time has
//!   no leap seconds and reading it as the next minute would move the instant
//!   past a `…:00` boundary that a person wrote separately.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whole seconds since 1970-01-01T00:00:00Z, leap seconds not counted.
///
/// Displays as `YYYY-MM-DDTHH:MM:SSZ`. Values outside years 0000–9999 can be
/// made with [`Timestamp::from_unix`]; they display with a signed, expanded year
/// (ISO 8601 style, e.g. `+10000-01-01T00:00:00Z`), which [`FromStr`] rejects.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Timestamp(i64);

const SECONDS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// The instant `seconds` after the Unix epoch (before it when negative).
    pub const fn from_unix(seconds: i64) -> Self {
        Timestamp(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(&self) -> i64 {
        self.0
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`). `month` must be 1–12 and `day` 1–31.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // `days` comes from an i64 of seconds divided by 86 400, so it is far from
    // overflowing here.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small positive numbers by construction (1–31, 1–12).
    (year, month as u32, day as u32)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Why a text is not a timestamp. The message quotes the whole input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError {
    input: String,
    kind: TimestampErrorKind,
}

impl TimestampError {
    /// What was wrong.
    pub fn kind(&self) -> &TimestampErrorKind {
        &self.kind
    }

    /// The text that failed to parse, shortened to 80 characters and `…`
    /// when longer, so that a stray blob cannot flood an error report.
    pub fn input(&self) -> &str {
        &self.input
    }
}

/// The ways a timestamp can be wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampErrorKind {
    /// Something other than the expected piece of syntax was found.
    Syntax {
        /// What was expected, e.g. "a 2-digit month".
        expected: &'static str,
        /// 1-based position of the offending character, counted in characters.
        position: usize,
    },
    /// The month is not 1–12.
    Month(u32),
    /// The day does not exist in that month.
    Day {
        /// The year as written.
        year: i64,
        /// The month as written.
        month: u32,
        /// The day as written.
        day: u32,
    },
    /// The hour is not 0–23.
    Hour(u32),
    /// The minute is not 0–59.
    Minute(u32),
    /// The second is not 0–60.
    Second(u32),
    /// The text ends where the time zone should be.
    MissingZone,
    /// The zone offset's hours are not 0–23 or its minutes not 0–59.
    Offset(String),
    /// Characters follow the time zone.
    Trailing {
        /// 1-based position of the first extra character.
        position: usize,
    },
    /// In UTC the instant falls outside years 0000–9999.
    OutOfRange,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.input;
        match &self.kind {
            TimestampErrorKind::Syntax { expected, position } => write!(
                f,
                "expected {expected} at position {position} of `{input}`; \
                 timestamps look like `2026-12-24T09:30:00Z`"
            ),
            TimestampErrorKind::Month(m) => write!(f, "invalid month `{m:02}` in `{input}`"),
            TimestampErrorKind::Day { year, month, day } => write!(
                f,
                "invalid day `{day:02}` in `{input}`: month {month:02} of {year:04} has {} days",
                days_in_month(*year, *month)
            ),
            TimestampErrorKind::Hour(h) => write!(f, "invalid hour `{h:02}` in `{input}`"),
            TimestampErrorKind::Minute(m) => write!(f, "invalid minute `{m:02}` in `{input}`"),
            TimestampErrorKind::Second(s) => write!(f, "invalid second `{s:02}` in `{input}`"),
            TimestampErrorKind::MissingZone => write!(
                f,
                "missing time zone in `{input}`: add `Z` or an offset like `+02:00`"
            ),
            TimestampErrorKind::Offset(o) => {
                write!(f, "invalid time zone offset `{o}` in `{input}`")
            }
            TimestampErrorKind::Trailing { position } => write!(
                f,
                "unexpected text at position {position} of `{input}` after the time zone"
            ),
            TimestampErrorKind::OutOfRange => write!(
                f,
                "`{input}` is outside the supported years 0000 to 9999 (in UTC)"
            ),
        }
    }
}

impl std::error::Error for TimestampError {}

/// A cursor over the ASCII-only grammar. Any non-ASCII byte simply fails to
/// match, so byte offsets before the failure are also character offsets.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn position(&self) -> usize {
        // Everything before `pos` matched ASCII, so this is a char boundary;
        // counting characters keeps the message right if it ever is not.
        self.text
            .get(..self.pos)
            .map_or(self.pos, |s| s.chars().count())
            + 1
    }

    fn syntax(&self, expected: &'static str) -> TimestampErrorKind {
        TimestampErrorKind::Syntax {
            expected,
            position: self.position(),
        }
    }

    fn digits(&mut self, n: usize, expected: &'static str) -> Result<u32, TimestampErrorKind> {
        let mut value = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(b - b'0');
                    self.pos += 1;
                }
                _ => return Err(self.syntax(expected)),
            }
        }
        Ok(value)
    }

    fn literal(&mut self, accept: &[u8], expected: &'static str) -> Result<(), TimestampErrorKind> {
        match self.peek() {
            Some(b) if accept.contains(&b) => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.syntax(expected)),
        }
    }
}

fn parse_seconds(text: &str) -> Result<i64, TimestampErrorKind> {
    let mut c = Cursor { text, pos: 0 };
    let year = i64::from(c.digits(4, "a 4-digit year")?);
    c.literal(b"-", "`-` after the year")?;
    let month = c.digits(2, "a 2-digit month")?;
    c.literal(b"-", "`-` after the month")?;
    let day = c.digits(2, "a 2-digit day")?;
    c.literal(b"Tt ", "`T` between the date and the time")?;
    let hour = c.digits(2, "a 2-digit hour")?;
    c.literal(b":", "`:` after the hour")?;
    let minute = c.digits(2, "2-digit minutes")?;
    c.literal(b":", "`:` after the minutes")?;
    let second = c.digits(2, "2-digit seconds")?;

    // Range checks come after the syntax so that a malformed text is reported
    // as such rather than by whichever field happened to be read first.
    if !(1..=12).contains(&month) {
        return Err(TimestampErrorKind::Month(month));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(TimestampErrorKind::Day { year, month, day });
    }
    if hour > 23 {
        return Err(TimestampErrorKind::Hour(hour));
    }
    if minute > 59 {
        return Err(TimestampErrorKind::Minute(minute));
    }
    if second > 60 {
        return Err(TimestampErrorKind::Second(second));
    }

    if c.peek() == Some(b'.') {
        c.pos += 1;
        c.digits(1, "a digit after `.`")?;
        while matches!(c.peek(), Some(b'0'..=b'9')) {
            c.pos += 1;
        }
    }

    let offset = match c.peek() {
        None => return Err(TimestampErrorKind::MissingZone),
        Some(b'Z' | b'z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let start = c.pos;
            c.pos += 1;
            let oh = c.digits(2, "2-digit offset hours")?;
            c.literal(b":", "`:` in the time zone offset")?;
            let om = c.digits(2, "2-digit offset minutes")?;
            if oh > 23 || om > 59 {
                let written = text.get(start..c.pos).unwrap_or_default().to_string();
                return Err(TimestampErrorKind::Offset(written));
            }
            let seconds = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        Some(_) => return Err(c.syntax("`Z` or a time zone offset like `+02:00`")),
    };
    if c.pos != text.len() {
        return Err(TimestampErrorKind::Trailing {
            position: c.position(),
        });
    }

    let local = days_from_civil(year, month, day) * SECONDS_PER_DAY
        + i64::from(hour * 3600 + minute * 60 + second.min(59));
    let utc = local - offset;
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&utc) {
        return Err(TimestampErrorKind::OutOfRange);
    }
    Ok(utc)
}

/// 0000-01-01T00:00:00Z.
const MIN_SECONDS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z.
const MAX_SECONDS: i64 = 253_402_300_799;

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_seconds(s)
            .map(Timestamp)
            .map_err(|kind| TimestampError {
                input: abbreviate(s),
                kind,
            })
    }
}

fn abbreviate(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", s.get(..end).unwrap_or_default()),
        None => s.to_string(),
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(SECONDS_PER_DAY);
        let secs = self.0.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if (0..=9999).contains(&year) {
            write!(f, "{year:04}")?;
        } else {
            write!(f, "{year:+05}")?;
        }
        write!(
            f,
            "-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp like `2026-12-24T09:30:00Z`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().unix()
    }

    fn err(s: &str) -> String {
        s.parse::<Timestamp>().unwrap_err().to_string()
    }

    #[test]
    fn bounds_match_the_calendar() {
        assert_eq!(days_from_civil(0, 1, 1) * SECONDS_PER_DAY, MIN_SECONDS);
        assert_eq!(
            days_from_civil(9999, 12, 31) * SECONDS_PER_DAY + 86_399,
            MAX_SECONDS
        );
        assert_eq!(ts("0000-01-01T00:00:00Z"), MIN_SECONDS);
        assert_eq!(ts("9999-12-31T23:59:59Z"), MAX_SECONDS);
    }

    #[test]
    fn known_values() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ts("2000-02-29T00:00:00Z"), 951_782_400);
        assert_eq!(ts("2026-12-24T00:00:00Z"), 1_798_070_400);
        assert_eq!(ts("1969-12-31T23:59:59Z"), -1);
        assert_eq!(ts("2038-01-19T03:14:07Z"), i64::from(i32::MAX));
        assert_eq!(ts("1900-01-01T00:00:00Z"), -2_208_988_800);
    }

    #[test]
    fn offsets_and_spellings() {
        let base = 1_798_070_400;
        assert_eq!(ts("2026-12-24T02:00:00+02:00"), base);
        assert_eq!(ts("2026-12-23T19:00:00-05:00"), base);
        assert_eq!(ts("2026-12-24T05:30:00+05:30"), base);
        assert_eq!(ts("2026-12-24T00:00:00-00:00"), base);
        assert_eq!(ts("2026-12-24t00:00:00z"), base);
        assert_eq!(ts("2026-12-24 00:00:00Z"), base);
        assert_eq!(ts("2026-12-24T00:00:00.999999999999Z"), base);
        assert_eq!(ts("2026-12-24T00:00:00.5+00:00"), base);
    }

    #[test]
    fn fractions_truncate_toward_the_earlier_second() {
        assert_eq!(ts("1969-12-31T23:59:59.9Z"), -1);
        assert_eq!(ts("1970-01-01T00:00:00.9Z"), 0);
    }

    #[test]
    fn leap_second_reads_as_59() {
        assert_eq!(ts("2016-12-31T23:59:60Z"), ts("2016-12-31T23:59:59Z"),);
        assert_eq!(
            err("2016-12-31T23:59:61Z"),
            "invalid second `61` in `2016-12-31T23:59:61Z`"
        );
    }

    #[test]
    fn display() {
        let show = |n| Timestamp::from_unix(n).to_string();
        assert_eq!(show(0), "1970-01-01T00:00:00Z");
        assert_eq!(show(1_798_070_400), "2026-12-24T00:00:00Z");
        assert_eq!(show(-1), "1969-12-31T23:59:59Z");
        assert_eq!(show(951_782_400 + 3723), "2000-02-29T01:02:03Z");
        assert_eq!(show(MIN_SECONDS), "0000-01-01T00:00:00Z");
        assert_eq!(show(MIN_SECONDS - 1), "-0001-12-31T23:59:59Z");
        assert_eq!(show(MAX_SECONDS + 1), "+10000-01-01T00:00:00Z");
        // Extremes must not overflow.
        let _ = show(i64::MAX);
        let _ = show(i64::MIN);
    }

    #[test]
    fn invalid_values() {
        assert_eq!(
            err("2026-13-01T00:00:00Z"),
            "invalid month `13` in `2026-13-01T00:00:00Z`"
        );
        assert_eq!(
            err("2026-00-01T00:00:00Z"),
            "invalid month `00` in `2026-00-01T00:00:00Z`"
        );
        assert_eq!(
            err("2026-02-29T00:00:00Z"),
            "invalid day `29` in `2026-02-29T00:00:00Z`: month 02 of 2026 has 28 days"
        );
        assert!(err("1900-02-29T00:00:00Z").starts_with("invalid day `29`"));
        assert!("2000-02-29T00:00:00Z".parse::<Timestamp>().is_ok());
        assert!(err("2026-04-31T00:00:00Z").starts_with("invalid day `31`"));
        assert!(err("2026-04-00T00:00:00Z").starts_with("invalid day `00`"));
        assert!(err("2026-04-01T24:00:00Z").starts_with("invalid hour `24`"));
        assert!(err("2026-04-01T23:60:00Z").starts_with("invalid minute `60`"));
        assert_eq!(
            err("2026-12-24T00:00:00"),
            "missing time zone in `2026-12-24T00:00:00`: add `Z` or an offset like `+02:00`"
        );
        assert_eq!(
            err("2026-12-24T00:00:00+24:00"),
            "invalid time zone offset `+24:00` in `2026-12-24T00:00:00+24:00`"
        );
        assert_eq!(
            err("2026-12-24"),
            "expected `T` between the date and the time at position 11 of `2026-12-24`; \
             timestamps look like `2026-12-24T09:30:00Z`"
        );
        assert!(
            err("2026-12-24T00:00Z").starts_with("expected `:` after the minutes at position 17")
        );
        assert!(err("26-12-24T00:00:00Z").starts_with("expected a 4-digit year at position 3"));
        assert!(err(" 2026-12-24T00:00:00Z").starts_with("expected a 4-digit year at position 1"));
        assert!(err("2026-12-24T00:00:00Z ").starts_with("unexpected text at position 21"));
        assert!(err("2026-12-24T00:00:00.Z").starts_with("expected a digit after `.`"));
        assert!(err("2026-12-24T00:00:00+0200").starts_with("expected `:` in the time zone offset"));
        assert!(err("2026-12-24T00:00:00 UTC").starts_with("expected `Z` or a time zone offset"));
        assert!(err("２026-12-24T00:00:00Z").starts_with("expected a 4-digit year at position 1"));
        assert!(err("2026-1２-24T00:00:00Z").starts_with("expected a 2-digit month at position 7"));
        assert!(err("").starts_with("expected a 4-digit year at position 1"));
        assert_eq!(
            err("0000-01-01T00:00:00+01:00"),
            "`0000-01-01T00:00:00+01:00` is outside the supported years 0000 to 9999 (in UTC)"
        );
        assert!(err("9999-12-31T23:59:59-00:01").contains("outside the supported years"));
        let long = format!("2026-12-24T00:00:00Z{}", "x".repeat(10_000));
        assert!(err(&long).len() < 200);
    }

    #[test]
    fn serde_as_string() {
        let t = Timestamp::from_unix(1_798_070_400);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-12-24T00:00:00Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let e = serde_json::from_str::<Timestamp>("\"2026-13-01T00:00:00Z\"").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid month `13` in `2026-13-01T00:00:00Z`"));
        assert!(serde_json::from_str::<Timestamp>("1798070400").is_err());
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Timestamp>();
        check::<TimestampError>();
    }

    proptest! {
        #[test]
        fn round_trip(secs in MIN_SECONDS..=MAX_SECONDS) {
            let t = Timestamp::from_unix(secs);
            let s = t.to_string();
            prop_assert_eq!(s.len(), 20);
            prop_assert_eq!(s.parse::<Timestamp>().unwrap(), t);
        }

        #[test]
        fn offsets_shift_by_their_value(
            secs in (MIN_SECONDS + 86_400)..=(MAX_SECONDS - 86_400),
            hours in 0u32..24,
            minutes in 0u32..60,
            negative in any::<bool>(),
        ) {
            let local = Timestamp::from_unix(secs).to_string();
            let sign = if negative { '-' } else { '+' };
            let text = format!("{}{sign}{hours:02}:{minutes:02}", &local[..19]);
            let offset = i64::from(hours * 3600 + minutes * 60);
            let expected = if negative { secs + offset } else { secs - offset };
            prop_assert_eq!(ts(&text), expected);
        }

        #[test]
        fn civil_round_trip(days in -4_000_000i64..4_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m));
            prop_assert!(d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn never_panics(s in "[0-9T:+.Zz -]{0,30}|.{0,40}") {
            let _ = s.parse::<Timestamp>();
        }
    }
}
