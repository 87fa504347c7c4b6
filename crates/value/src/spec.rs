//! What to read from a transaction log (the columns' roles, by header name) and the task's
//! clock (cutoff, horizon, calibration start): notes/value.md §2.

use glassbox_events::{DAY_MS, Span, TimeFormat};
use serde::{Deserialize, Serialize};

use crate::error::ValueError;

/// How a line's value is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    /// One column holds the line's value (negative on a return).
    Column(String),
    /// Value = quantity × unit price (quantity negative on a return; a price must be ≥ 0).
    QuantityTimesPrice {
        /// The quantity column.
        quantity: String,
        /// The unit-price column.
        price: String,
    },
}

/// The roles of a log's columns, named as in its header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    /// The customer id (lines with an empty id are skipped and counted).
    pub customer: String,
    /// The line's time.
    pub time: String,
    /// The line's value.
    pub amount: Amount,
    /// The invoice (basket) id; without it, a customer's lines at one timestamp are one
    /// invoice. An id starting with `C` marks a cancellation invoice.
    pub invoice: Option<String>,
    /// Categorical columns (country, channel, …): each customer's most frequent value.
    pub categorical: Vec<String>,
    /// The product (stock code) column; a code not starting with a digit is a service line
    /// (postage, fees, manual adjustments: C38). Without it the share is 0 for everyone.
    #[serde(default)]
    pub product: Option<String>,
}

impl Columns {
    /// The roles of UCI's "Online Retail" log (datasets/online_retail.csv.gz), as its
    /// protocol reads it: quantity × unit price, the invoice, the country, the stock code.
    pub fn online_retail() -> Columns {
        Columns {
            customer: "CustomerID".into(),
            time: "InvoiceDate".into(),
            amount: Amount::QuantityTimesPrice {
                quantity: "Quantity".into(),
                price: "UnitPrice".into(),
            },
            invoice: Some("InvoiceNo".into()),
            categorical: vec!["Country".into()],
            product: Some("StockCode".into()),
        }
    }
}

/// The clock of the task (C21, C22): calibration `[start, cutoff)`, holdout
/// `[cutoff, cutoff + horizon)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// The cutoff, Unix ms.
    pub cutoff_ms: i64,
    /// The holdout length, ms.
    pub horizon_ms: i64,
    /// The calibration start, Unix ms; `None`: the log's first customer line.
    pub start_ms: Option<i64>,
}

impl Clock {
    /// The end of the holdout (exclusive).
    pub fn holdout_end(&self) -> i64 {
        self.cutoff_ms.saturating_add(self.horizon_ms)
    }
}

/// Parses a date or date-time given on the command line (`2011-09-01`, ISO-8601).
///
/// # Errors
/// [`ValueError::BadDate`] naming the option.
pub fn parse_date(text: &str, what: &'static str) -> Result<i64, ValueError> {
    TimeFormat::Iso8601
        .parse_ms(text.trim().as_bytes())
        .ok_or_else(|| ValueError::BadDate {
            what,
            text: text.to_string(),
        })
}

/// Parses a positive duration (`91d`, `12h`, `30m`).
///
/// # Errors
/// [`ValueError::BadDuration`] naming the option.
pub fn parse_horizon(text: &str, what: &'static str) -> Result<i64, ValueError> {
    Span::parse(text, what)
        .map(Span::ms)
        .map_err(|e| ValueError::BadDuration {
            what,
            message: e.to_string(),
        })
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of Unix milliseconds, for messages and outputs.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rest = ms.rem_euclid(DAY_MS) / 1000;
    // Civil date from days since 1970-01-01 (the inverse of events' days_from_civil).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_the_formatter() {
        for text in [
            "1970-01-01 00:00:00",
            "2011-09-01 00:00:00",
            "2000-02-29 23:59:59",
        ] {
            let ms = parse_date(text, "cutoff").expect("parses");
            assert_eq!(format_ms(ms), text);
        }
        assert!(parse_date("2011-13-01", "cutoff").is_err());
        assert_eq!(
            parse_horizon("91d", "horizon").expect("parses"),
            91 * DAY_MS
        );
        assert!(parse_horizon("-3d", "horizon").is_err());
    }
}
