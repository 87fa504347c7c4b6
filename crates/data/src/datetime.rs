//! Datetime cells → Unix seconds (notes/data.md §9, D11–D12).
//!
//! Two ways to read a datetime column:
//! - **inferred**: every non-missing cell is ISO-8601 — `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`,
//!   `YYYY-MM-DDTHH:MM:SS[.fff]`, optionally followed by `Z`, `±HH:MM` or `±HHMM`;
//! - **declared** with a pattern of `%Y %y %m %d %H %M %S %z` and literal characters
//!   (`%m/%d/%y %H:%M` reads `2/24/15 22:55`); numbers may be written without zero padding.
//!
//! A time without a zone is read as UTC (no daylight saving); one with a zone is converted to
//! UTC. The value is the number of seconds since 1970-01-01 00:00 UTC (D11).

use serde::{Deserialize, Serialize};

/// How a datetime column is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatetimeFormat {
    /// ISO-8601 (see the module documentation).
    Iso,
    /// A `%`-pattern (see the module documentation).
    Pattern(String),
}

impl DatetimeFormat {
    /// Parses a datetime cell to Unix seconds (D11); `None` if it is not of this format.
    pub fn parse(&self, text: &str) -> Option<f64> {
        match self {
            DatetimeFormat::Iso => parse_iso(text),
            DatetimeFormat::Pattern(p) => parse_pattern(text, p),
        }
    }

    /// A pattern checked for unknown `%` directives and for a date part.
    ///
    /// # Errors
    /// A message naming the bad directive.
    pub fn pattern(pattern: &str) -> Result<Self, String> {
        let mut chars = pattern.chars();
        let (mut year, mut month, mut day) = (false, false, false);
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some('Y' | 'y') => year = true,
                    Some('m') => month = true,
                    Some('d') => day = true,
                    Some('H' | 'M' | 'S' | 'z' | '%') => {}
                    other => {
                        return Err(format!(
                            "datetime pattern \"{pattern}\": unknown directive %{} (known: %Y %y %m %d %H %M %S %z)",
                            other.map_or(String::new(), String::from)
                        ));
                    }
                }
            }
        }
        if !(year && month && day) {
            return Err(format!(
                "datetime pattern \"{pattern}\" needs a year (%Y or %y), a month (%m) and a day (%d)"
            ));
        }
        Ok(DatetimeFormat::Pattern(pattern.to_string()))
    }

    /// How the format is shown in messages.
    pub fn describe(&self) -> String {
        match self {
            DatetimeFormat::Iso => "ISO-8601".to_string(),
            DatetimeFormat::Pattern(p) => format!("\"{p}\""),
        }
    }
}

/// (D11) Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian calendar;
/// H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The fields of a datetime before conversion.
#[derive(Default)]
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: f64,
    /// Offset east of UTC, seconds.
    offset: i64,
}

impl Fields {
    /// (D11) Unix seconds of valid fields: `86400·days + 3600·h + 60·m + s − offset`.
    fn unix_seconds(&self) -> Option<f64> {
        let valid = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && (0.0..60.0).contains(&self.second);
        valid.then(|| {
            let days = days_from_civil(self.year, self.month, self.day);
            let whole = days * 86_400 + i64::from(self.hour) * 3600 + i64::from(self.minute) * 60
                - self.offset;
            whole as f64 + self.second
        })
    }
}

/// A cursor over the cell's bytes.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// Between `min` and `max` ASCII digits.
    fn number(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.i;
        while self.i < self.s.len() && self.i - start < max && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn done(&self) -> bool {
        self.i == self.s.len()
    }

    /// Seconds with an optional fraction (`SS` or `SS.fff`).
    fn seconds(&mut self, min_digits: usize) -> Option<f64> {
        let whole = self.number(min_digits, 2)?;
        let mut value = whole as f64;
        if self.eat(b'.') {
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let frac = std::str::from_utf8(&self.s[start..self.i]).ok()?;
            if frac.is_empty() {
                return None;
            }
            value += format!("0.{frac}").parse::<f64>().ok()?;
        }
        Some(value)
    }

    /// `Z`, `±HH:MM`, `±HHMM` or `±HH` → seconds east of UTC.
    fn zone(&mut self) -> Option<i64> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let h = self.number(2, 2)?;
        let colon = self.eat(b':');
        let m = match self.number(2, 2) {
            Some(m) => m,
            None if !colon => 0,
            None => return None,
        };
        (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
    }
}

/// ISO-8601 (module documentation) → Unix seconds.
fn parse_iso(text: &str) -> Option<f64> {
    let mut c = Cursor {
        s: text.as_bytes(),
        i: 0,
    };
    let mut f = Fields {
        year: c.number(4, 4)?,
        ..Fields::default()
    };
    if !c.eat(b'-') {
        return None;
    }
    f.month = c.number(2, 2)? as u32;
    if !c.eat(b'-') {
        return None;
    }
    f.day = c.number(2, 2)? as u32;
    if !c.done() {
        if !(c.eat(b'T') || c.eat(b' ')) {
            return None;
        }
        f.hour = c.number(2, 2)? as u32;
        if !c.eat(b':') {
            return None;
        }
        f.minute = c.number(2, 2)? as u32;
        if c.eat(b':') {
            f.second = c.seconds(2)?;
        }
        if !c.done() {
            f.offset = c.zone()?;
        }
    }
    if !c.done() {
        return None;
    }
    f.unix_seconds()
}

/// A `%`-pattern (module documentation) → Unix seconds.
fn parse_pattern(text: &str, pattern: &str) -> Option<f64> {
    let mut c = Cursor {
        s: text.as_bytes(),
        i: 0,
    };
    let mut f = Fields::default();
    let mut p = pattern.chars();
    while let Some(pc) = p.next() {
        if pc != '%' {
            let mut buf = [0u8; 4];
            for &b in pc.encode_utf8(&mut buf).as_bytes() {
                if !c.eat(b) {
                    return None;
                }
            }
            continue;
        }
        match p.next()? {
            'Y' => f.year = c.number(4, 4)?,
            // POSIX: 69–99 → 1969–1999, 00–68 → 2000–2068.
            'y' => {
                let y = c.number(1, 2)?;
                f.year = if y >= 69 { 1900 + y } else { 2000 + y };
            }
            'm' => f.month = c.number(1, 2)? as u32,
            'd' => f.day = c.number(1, 2)? as u32,
            'H' => f.hour = c.number(1, 2)? as u32,
            'M' => f.minute = c.number(1, 2)? as u32,
            'S' => f.second = c.seconds(1)?,
            'z' => f.offset = c.zone()?,
            '%' => {
                if !c.eat(b'%') {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if !c.done() {
        return None;
    }
    f.unix_seconds()
}

/// (D12) Hour of day (0–23, UTC) of Unix seconds `t`.
pub fn hour_of_day(t: f64) -> u32 {
    (t.div_euclid(3600.0) as i64).rem_euclid(24) as u32
}

/// (D12) Day of week of Unix seconds `t`, 0 = Monday … 6 = Sunday (UTC); 1970-01-01 was a
/// Thursday (3).
pub fn day_of_week(t: f64) -> u32 {
    ((t.div_euclid(86_400.0) as i64) + 3).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2015, 2, 24), 16_490);
    }

    #[test]
    fn iso_with_and_without_zones() {
        let iso = DatetimeFormat::Iso;
        // 2015-02-24 22:55 UTC = 1424818500 (date -u -d '2015-02-24 22:55' +%s).
        assert_eq!(iso.parse("2015-02-24 22:55"), Some(1_424_818_500.0));
        assert_eq!(iso.parse("2015-02-24T22:55:00Z"), Some(1_424_818_500.0));
        assert_eq!(
            iso.parse("2015-02-25T00:55:00+02:00"),
            Some(1_424_818_500.0)
        );
        assert_eq!(iso.parse("2015-02-24T17:55:00-0500"), Some(1_424_818_500.0));
        assert_eq!(iso.parse("2015-02-24T22:55:00.25"), Some(1_424_818_500.25));
        assert_eq!(iso.parse("2015-02-24"), Some(1_424_736_000.0));
        for bad in [
            "2015-02-30",
            "2015-2-24",
            "24/2/2015",
            "2015-02-24T25:00",
            "2015-02-24 22:55+",
        ] {
            assert_eq!(iso.parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn patterns_read_unpadded_two_digit_years() {
        let f = DatetimeFormat::pattern("%m/%d/%y %H:%M").unwrap();
        assert_eq!(f.parse("2/24/15 22:55"), Some(1_424_818_500.0));
        assert_eq!(f.parse("02/24/15 22:55"), Some(1_424_818_500.0));
        assert_eq!(f.parse("2/24/15 22:55:00"), None);
        assert!(DatetimeFormat::pattern("%m/%q").is_err());
        assert!(DatetimeFormat::pattern("%H:%M").is_err());
    }

    #[test]
    fn hour_and_weekday() {
        // 2015-02-24 was a Tuesday.
        assert_eq!(hour_of_day(1_424_818_500.0), 22);
        assert_eq!(day_of_week(1_424_818_500.0), 1);
        assert_eq!(day_of_week(0.0), 3);
        assert_eq!(hour_of_day(-1.0), 23);
        assert_eq!(day_of_week(-1.0), 2);
    }
}
