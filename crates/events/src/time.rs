//! Timestamps: Unix seconds, Unix milliseconds or ISO-8601, to integer Unix milliseconds (UTC).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::span::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};

/// How the time column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// Decided once, from the first event row: a plain number is Unix milliseconds when its
    /// magnitude is at least 10¹¹ (10¹¹ ms is 1973, 10¹¹ s is the year 5138), else Unix
    /// seconds; anything else is ISO-8601. Every later row must parse in the same format.
    #[default]
    Auto,
    /// Unix seconds, integer or decimal (`1433138409` or `1433138409.198`).
    UnixSeconds,
    /// Unix milliseconds, integer (`1433138409198`).
    UnixMillis,
    /// ISO-8601 / RFC 3339: `2015-06-01T06:00:09.198Z`, a space instead of `T`, an offset
    /// `±hh:mm` / `±hhmm` / `±hh`, or none (read as UTC); a date alone is midnight UTC.
    Iso8601,
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeFormat::Auto => "a timestamp (auto-detected format)",
            TimeFormat::UnixSeconds => "Unix seconds",
            TimeFormat::UnixMillis => "Unix milliseconds",
            TimeFormat::Iso8601 => "an ISO-8601 date-time",
        })
    }
}

impl TimeFormat {
    /// The concrete format of a first cell under `Auto` (any other format is returned as is).
    pub fn detect(self, cell: &[u8]) -> TimeFormat {
        if self != TimeFormat::Auto {
            return self;
        }
        let digits = cell.strip_prefix(b"-").unwrap_or(cell);
        if !digits.is_empty() && digits.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
            let integer_digits = digits.iter().take_while(|b| b.is_ascii_digit()).count();
            if integer_digits >= 12 {
                TimeFormat::UnixMillis
            } else {
                TimeFormat::UnixSeconds
            }
        } else {
            TimeFormat::Iso8601
        }
    }

    /// Unix milliseconds of `cell`, or `None` if it does not parse in this format.
    /// `Auto` must be resolved with [`TimeFormat::detect`] first.
    pub fn parse_ms(self, cell: &[u8]) -> Option<i64> {
        match self {
            TimeFormat::UnixMillis => parse_integer(cell),
            TimeFormat::UnixSeconds => parse_decimal_seconds(cell),
            TimeFormat::Iso8601 => parse_iso8601(cell),
            TimeFormat::Auto => self.detect(cell).parse_ms(cell),
        }
    }
}

/// A signed decimal integer without spaces, `+` or exponent; `None` on overflow.
fn parse_integer(cell: &[u8]) -> Option<i64> {
    let (negative, digits) = match cell.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, cell),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

/// Unix seconds with an optional fraction, to milliseconds. Digits after the third decimal
/// are dropped (toward −∞), so `0.0009` s is 0 ms and `-0.0009` s is −1 ms.
fn parse_decimal_seconds(cell: &[u8]) -> Option<i64> {
    let (whole, fraction) = match cell.iter().position(|&b| b == b'.') {
        Some(dot) => (&cell[..dot], &cell[dot + 1..]),
        None => (cell, &cell[cell.len()..]),
    };
    let negative = whole.first() == Some(&b'-');
    if whole == b"-" || whole.is_empty() {
        return None;
    }
    let seconds = parse_integer(whole)?;
    if !fraction.iter().all(u8::is_ascii_digit) || (cell.ends_with(b".") && fraction.is_empty()) {
        return None;
    }
    let mut milli = 0i64;
    for i in 0..3 {
        milli = milli * 10 + fraction.get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    let rest_nonzero = fraction.iter().skip(3).any(|&b| b != b'0');
    let ms = seconds.checked_mul(SECOND_MS)?;
    if negative {
        let down = i64::from(rest_nonzero);
        ms.checked_sub(milli + down)
    } else {
        ms.checked_add(milli)
    }
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), H. Hinnant's algorithm.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads exactly `n` ASCII digits at `*at`, advancing it.
fn digits(cell: &[u8], at: &mut usize, n: usize) -> Option<i64> {
    let slice = cell.get(*at..*at + n)?;
    if !slice.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *at += n;
    Some(slice.iter().fold(0, |v, b| v * 10 + i64::from(b - b'0')))
}

/// `YYYY-MM-DD[(T| )hh:mm[:ss[(.|,)fff…]]][Z|±hh[:mm]|±hhmm]`; no offset means UTC.
fn parse_iso8601(cell: &[u8]) -> Option<i64> {
    let mut at = 0;
    let year = digits(cell, &mut at, 4)?;
    let expect =
        |at: &mut usize, c: u8| -> Option<()> { (cell.get(*at) == Some(&c)).then(|| *at += 1) };
    expect(&mut at, b'-')?;
    let month = digits(cell, &mut at, 2)?;
    expect(&mut at, b'-')?;
    let day = digits(cell, &mut at, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * DAY_MS;
    if at == cell.len() {
        return Some(ms);
    }
    if !matches!(cell[at], b'T' | b't' | b' ') {
        return None;
    }
    at += 1;
    let hour = digits(cell, &mut at, 2)?;
    expect(&mut at, b':')?;
    let minute = digits(cell, &mut at, 2)?;
    let mut second = 0;
    let mut milli = 0;
    if cell.get(at) == Some(&b':') {
        at += 1;
        second = digits(cell, &mut at, 2)?;
        if matches!(cell.get(at), Some(b'.' | b',')) {
            at += 1;
            let start = at;
            while cell.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return None;
            }
            // Milliseconds from the first three digits; finer digits are dropped.
            for i in 0..3 {
                milli = milli * 10
                    + cell
                        .get(start + i)
                        .filter(|_| start + i < at)
                        .map_or(0, |b| i64::from(b - b'0'));
            }
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    ms += hour * HOUR_MS + minute * MINUTE_MS + second * SECOND_MS + milli;
    let offset_ms = match cell.get(at) {
        None => 0,
        Some(b'Z' | b'z') if at + 1 == cell.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            at += 1;
            let oh = digits(cell, &mut at, 2)?;
            if cell.get(at) == Some(&b':') {
                at += 1;
            }
            let om = if at < cell.len() {
                digits(cell, &mut at, 2)?
            } else {
                0
            };
            if at != cell.len() || oh > 23 || om > 59 {
                return None;
            }
            let offset = oh * HOUR_MS + om * MINUTE_MS;
            if sign == b'+' { offset } else { -offset }
        }
        Some(_) => return None,
    };
    // Local time minus its offset is UTC.
    Some(ms - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_parses_every_format() {
        for (cell, format) in [
            ("1433138409198", TimeFormat::UnixMillis),
            ("1433138409", TimeFormat::UnixSeconds),
            ("1433138409.198", TimeFormat::UnixSeconds),
            ("2015-06-01T06:00:09Z", TimeFormat::Iso8601),
        ] {
            assert_eq!(TimeFormat::Auto.detect(cell.as_bytes()), format, "{cell}");
        }
        let ms = 1_433_138_409_198;
        assert_eq!(TimeFormat::UnixMillis.parse_ms(b"1433138409198"), Some(ms));
        assert_eq!(
            TimeFormat::UnixSeconds.parse_ms(b"1433138409.198"),
            Some(ms)
        );
        assert_eq!(
            TimeFormat::UnixSeconds.parse_ms(b"1433138409.1989"),
            Some(ms)
        );
        assert_eq!(
            TimeFormat::UnixSeconds.parse_ms(b"1433138409"),
            Some(ms - 198)
        );
        assert_eq!(TimeFormat::UnixSeconds.parse_ms(b"-0.0009"), Some(-1));
        for text in [
            "2015-06-01T06:00:09.198Z",
            "2015-06-01 06:00:09.198",
            "2015-06-01T08:00:09.198+02:00",
            "2015-06-01T08:00:09.198+0200",
            "2015-06-01T01:30:09.1981-04:30",
        ] {
            assert_eq!(
                TimeFormat::Iso8601.parse_ms(text.as_bytes()),
                Some(ms),
                "{text}"
            );
        }
        assert_eq!(TimeFormat::Iso8601.parse_ms(b"1970-01-01"), Some(0));
        assert_eq!(
            TimeFormat::Iso8601.parse_ms(b"2000-02-29T00:00"),
            Some(951_782_400_000)
        );
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for text in [
            "",
            "-",
            "12a",
            "1.2.3",
            "1.",
            "2015-02-29",
            "2015-13-01",
            "2015-06-01T24:00",
            "2015-06-01T06:00:09Z1",
            "2015-06-01T06:00:09.Z",
            "2015/06/01",
            "2015-06-01T06",
        ] {
            let format = TimeFormat::Auto.detect(text.as_bytes());
            assert_eq!(
                format.parse_ms(text.as_bytes()),
                None,
                "{text} as {format:?}"
            );
        }
        assert_eq!(
            TimeFormat::UnixMillis.parse_ms(b"99999999999999999999"),
            None
        );
    }
}
