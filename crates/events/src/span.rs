//! Durations (`30m`, `1h`, `24h`, `7d`) and history windows (a duration or `all`).
//!
//! Time inside the featurizer is integer milliseconds, so every window edge is exact.
//! Both types serialise as their text (`"1h"`, `"all"`), which keeps a bundle readable.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::EventsError;

/// Milliseconds in a second, minute, hour and day.
pub const SECOND_MS: i64 = 1_000;
/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A positive duration in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Span(i64);

impl Span {
    /// A span of `ms` milliseconds; zero or negative is [`EventsError::EmptyWindow`].
    pub fn from_ms(ms: i64, what: &'static str) -> Result<Span, EventsError> {
        if ms <= 0 {
            return Err(EventsError::EmptyWindow { what, ms });
        }
        Ok(Span(ms))
    }

    /// `h` hours (a constant for presets; `h` must be positive).
    pub const fn hours(h: i64) -> Span {
        assert!(h > 0, "a span is positive");
        Span(h * HOUR_MS)
    }

    /// `m` minutes (a constant for presets; `m` must be positive).
    pub const fn minutes(m: i64) -> Span {
        assert!(m > 0, "a span is positive");
        Span(m * MINUTE_MS)
    }

    /// `d` days (a constant for presets; `d` must be positive).
    pub const fn days(d: i64) -> Span {
        assert!(d > 0, "a span is positive");
        Span(d * DAY_MS)
    }

    /// The length in milliseconds.
    pub const fn ms(self) -> i64 {
        self.0
    }

    /// Reads `<integer><unit>` with unit `ms`, `s`, `m`, `h` or `d` (`90s`, `30m`, `1h`, `7d`).
    /// A zero length is [`EventsError::EmptyWindow`] with `what` naming the setting.
    pub fn parse(text: &str, what: &'static str) -> Result<Span, EventsError> {
        let bad = |problem| EventsError::BadDuration {
            text: text.to_string(),
            problem,
        };
        let t = text.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad(
                "expected a whole number followed by a unit: ms, s, m, h or d (e.g. 30m)",
            ));
        }
        let (number, unit) = t.split_at(digits);
        let unit_ms = match unit.trim() {
            "ms" => 1,
            "s" => SECOND_MS,
            "m" | "min" => MINUTE_MS,
            "h" => HOUR_MS,
            "d" => DAY_MS,
            "" => return Err(bad("the unit is missing: ms, s, m, h or d (e.g. 30m)")),
            _ => return Err(bad("unknown unit; use ms, s, m, h or d")),
        };
        let n: i64 = number.parse().map_err(|_| bad("the number is too large"))?;
        let ms = n
            .checked_mul(unit_ms)
            .ok_or_else(|| bad("the number is too large"))?;
        Span::from_ms(ms, what)
    }
}

/// The shortest exact text: whole hours as `h` (so a day is `24h`, as the reference names it),
/// else minutes, seconds or milliseconds.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms % HOUR_MS == 0 {
            write!(f, "{}h", ms / HOUR_MS)
        } else if ms % MINUTE_MS == 0 {
            write!(f, "{}m", ms / MINUTE_MS)
        } else if ms % SECOND_MS == 0 {
            write!(f, "{}s", ms / SECOND_MS)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl TryFrom<String> for Span {
    type Error = EventsError;
    fn try_from(text: String) -> Result<Span, EventsError> {
        Span::parse(&text, "duration")
    }
}

impl From<Span> for String {
    fn from(span: Span) -> String {
        span.to_string()
    }
}

/// A history window ending at the cutoff: the last `Span`, or all history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Window {
    /// Events with `t − span ≤ timestamp < t`.
    Last(Span),
    /// Every event before `t`.
    All,
}

impl Window {
    /// Reads `all` or a duration ([`Span::parse`]).
    pub fn parse(text: &str) -> Result<Window, EventsError> {
        if text.trim().eq_ignore_ascii_case("all") {
            Ok(Window::All)
        } else {
            Span::parse(text, "history window").map(Window::Last)
        }
    }

    /// The earliest timestamp inside the window at cutoff `t` (`i64::MIN` for all history).
    pub fn start(self, t: i64) -> i64 {
        match self {
            Window::Last(span) => t.saturating_sub(span.ms()),
            Window::All => i64::MIN,
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Last(span) => span.fmt(f),
            Window::All => f.write_str("all"),
        }
    }
}

impl TryFrom<String> for Window {
    type Error = EventsError;
    fn try_from(text: String) -> Result<Window, EventsError> {
        Window::parse(&text)
    }
}

impl From<Window> for String {
    fn from(window: Window) -> String {
        window.to_string()
    }
}
