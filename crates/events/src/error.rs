//! The one error type of the event featurizer.
//!
//! Every message about the log names the file and, where it applies, the line (1-based, the
//! header is line 1, blank lines count) and the column (1-based field number and header name).

use std::fmt;

/// `"a", "b", "c"`: names as an error message lists them.
pub(crate) fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.as_ref()))
        .collect();
    quoted.join(", ")
}

/// A cell's position: line, 1-based column number and the column's header name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellAt {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    /// 1-based field number.
    pub column: usize,
    /// The column's header name.
    pub name: String,
}

impl fmt::Display for CellAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (\"{}\")",
            self.line, self.column, self.name
        )
    }
}

/// Everything that can go wrong between an event log and a feature matrix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// The file could not be opened, read or written.
    #[error("{file}: {action}: {source}")]
    Io {
        file: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Zero bytes, or nothing but blank lines.
    #[error("{file}: the file is empty (expected a header line naming the columns)")]
    Empty { file: String },
    /// A header and no event rows.
    #[error("{file}: the file has a header (line {line}) but no event rows")]
    NoEvents { file: String, line: u64 },
    /// A column named in the spec is not in the header.
    #[error("{file}: no column named \"{name}\" (the {role} column); the header has {available}")]
    UnknownColumn {
        file: String,
        role: &'static str,
        name: String,
        available: String,
    },
    /// Two roles name the same column, or the header names a column twice.
    #[error("{file}: column \"{name}\" {problem}")]
    DuplicateColumn {
        file: String,
        name: String,
        problem: &'static str,
    },
    /// A row with a different number of fields than the header.
    #[error("{file}: line {line} has {found} fields, the header has {expected}")]
    Ragged {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    /// A quoted field whose closing quote is missing on its line (event logs are one row a line).
    #[error(
        "{file}: line {line}: a quoted field is not closed on its line (event logs must hold one row per line)"
    )]
    UnclosedQuote { file: String, line: u64 },
    /// A row that is not valid UTF-8 where text is needed.
    #[error("{file}: {at}: the field is not valid UTF-8")]
    InvalidUtf8 { file: String, at: CellAt },
    /// A timestamp that does not parse in the declared or detected format.
    #[error("{file}: {at}: cannot read timestamp \"{value}\" as {format}")]
    BadTimestamp {
        file: String,
        at: CellAt,
        value: String,
        format: String,
    },
    /// A user id, value or other cell that does not parse.
    #[error("{file}: {at}: \"{value}\" {problem}")]
    BadCell {
        file: String,
        at: CellAt,
        value: String,
        problem: &'static str,
    },
    /// An event name that the spec does not list.
    #[error("{file}: {at}: unknown event \"{value}\"; the spec lists {known}")]
    UnknownEvent {
        file: String,
        at: CellAt,
        value: String,
        known: String,
    },
    /// A row earlier in time than the one before it, when the log is declared sorted.
    #[error(
        "{file}: line {line}: timestamp {time_ms} ms is earlier than {previous_ms} ms on an earlier line; \
         the log is not sorted by time (sort it, or let the featurizer sort it in memory: order = sort_in_memory)"
    )]
    Unsorted {
        file: String,
        line: u64,
        time_ms: i64,
        previous_ms: i64,
    },
    /// A log too long to sort in memory under the configured limit.
    #[error(
        "{file}: more than {limit} events to sort in memory; sort the file by time first \
         (stable, e.g. `sort -t, -k1,1n -s`) and declare order = sorted to stream it"
    )]
    TooLongToSort { file: String, limit: usize },
    /// A duration text that does not parse (`30m`, `1h`, `24h`, `7d`, `all`).
    #[error("cannot read duration \"{text}\": {problem}")]
    BadDuration { text: String, problem: &'static str },
    /// A zero or negative duration where a window, horizon, step or gap is needed.
    #[error("the {what} is empty ({ms} ms); it must be longer than zero")]
    EmptyWindow { what: &'static str, ms: i64 },
    /// A spec that is inconsistent in itself.
    #[error("invalid featurizer spec: {0}")]
    Spec(String),
    /// The label horizon does not fit in the log.
    #[error(
        "the horizon ({horizon_ms} ms) is not shorter than the log ({span_ms} ms from the first event to the log's end); \
         no cutoff could be labelled"
    )]
    HorizonLongerThanLog { horizon_ms: i64, span_ms: i64 },
    /// No cutoff falls inside the log.
    #[error("no cutoff falls inside the log (first event at {first_ms} ms, end at {end_ms} ms)")]
    NoCutoffs { first_ms: i64, end_ms: i64 },
    /// The log spans more cutoffs than [`crate::featurize::MAX_CUTOFFS`] (a timestamp far
    /// from the others, or a wrong time unit), which would take hours and memory for nothing.
    #[error(
        "the log spans more than {limit} cutoffs (from the first event at {first_ms} ms to beyond {at_ms} ms): check the time column's unit or a stray timestamp"
    )]
    TooManyCutoffs {
        limit: u32,
        first_ms: i64,
        at_ms: i64,
    },
    /// A part of the split with no example, or no positive label where training needs one.
    #[error("the {part} holds {examples} examples and no positive label; nothing to learn from")]
    NoPositives { part: String, examples: usize },
    /// A part of the split with no example at all.
    #[error("the {part} holds no example (no cutoff of it has an active user)")]
    EmptyPart { part: String },
    /// Writing CSV output failed.
    #[error("{file}: cannot write CSV: {source}")]
    Csv {
        file: String,
        #[source]
        source: csv::Error,
    },
}
