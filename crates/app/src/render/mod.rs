//! How reports read: plain text for a terminal, JSON for programs, Markdown for handouts and
//! pull requests. The numbers come from elsewhere (the audits of `glassbox_audit`, the
//! metrics of `glassbox_train`); this module only lays them out.
//!
//! - `table` — the one table renderer (aligned text, Markdown) every report uses;
//! - `metrics` — evaluated models side by side; `data` — what a data set looked like;
//! - `bundle` — `inspect`'s description of a model bundle (`recommend`: of a recommender file); `privacy` — a private run's guarantee;
//! - `trace`, `gradcheck`, `explain`, `fairness` — the audit reports as [`Report`]s.

pub(crate) mod bundle;
pub(crate) mod data;
mod explain;
mod fairness;
mod gradcheck;
pub(crate) mod metrics;
pub(crate) mod privacy;
pub(crate) mod recommend;
pub(crate) mod table;
mod trace;

use serde::Serialize;

/// How a report is written: plain text for a terminal, JSON for programs, Markdown for
/// handouts and pull requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Aligned plain text.
    Text,
    /// Pretty-printed JSON (serde).
    Json,
    /// GitHub-flavoured Markdown tables.
    Markdown,
}

/// A report with a plain-text and a Markdown form; its JSON form is its serde serialisation.
pub trait Report: Serialize {
    /// Aligned plain text for a terminal.
    fn to_text(&self) -> String;
    /// GitHub-flavoured Markdown.
    fn to_markdown(&self) -> String;
}

/// `report` in `format`.
///
/// # Errors
/// Only [`JsonError`] if JSON serialisation failed (a bug).
pub fn render<R: Report + ?Sized>(report: &R, format: Format) -> Result<String, JsonError> {
    match format {
        Format::Text => Ok(report.to_text()),
        Format::Markdown => Ok(report.to_markdown()),
        Format::Json => to_json(report),
    }
}

/// Serialising a report failed: these are plain structs, so it would be a bug.
#[derive(Debug, thiserror::Error)]
#[error("internal consistency check failed: JSON serialisation: {0}")]
pub struct JsonError(String);

/// `value` as pretty JSON with a trailing newline.
///
/// # Errors
/// [`JsonError`] if serialisation failed (a bug).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonError> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| JsonError(e.to_string()))
}
