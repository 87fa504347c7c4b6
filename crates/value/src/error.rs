//! The one error type of the transaction featurizer. Messages about the log name the file
//! and, where it applies, the line (the header is line 1) and the column (1-based number and
//! header name).

/// Everything that can go wrong between a transaction log and a customer table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read the transaction log: {source}")]
    Io {
        /// The path as given.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A malformed CSV record (wrong field count, bad quoting, invalid UTF-8).
    #[error("{file}: line {line}: {message}")]
    Csv {
        /// The path as given.
        file: String,
        /// 1-based line.
        line: u64,
        /// What the CSV reader found.
        message: String,
    },
    /// A role names a column the header does not have.
    #[error("{file}: no column \"{name}\" for --{role}; the header has {available}")]
    UnknownColumn {
        /// The path as given.
        file: String,
        /// The role (`customer`, `time`, …).
        role: &'static str,
        /// The name asked for.
        name: String,
        /// The header, quoted.
        available: String,
    },
    /// A cell that does not parse as its role requires, or a value the task refuses.
    #[error("{file}: line {line}, column {column} (\"{name}\"): {problem}: {text:?}")]
    BadCell {
        /// The path as given.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based field number.
        column: usize,
        /// Header name.
        name: String,
        /// What is wrong.
        problem: &'static str,
        /// The cell as written.
        text: String,
    },
    /// A date given on the command line that does not parse.
    #[error("--{what} {text:?} is not a date (expected YYYY-MM-DD or an ISO-8601 date-time)")]
    BadDate {
        /// Which option.
        what: &'static str,
        /// As given.
        text: String,
    },
    /// A duration that does not parse (`91d`, `12h`, …).
    #[error("--{what}: {message}")]
    BadDuration {
        /// Which option.
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The cutoff is not inside the log's time range.
    #[error(
        "{file}: the cutoff {cutoff} is outside the log, whose customer lines run from {first} to {last}: the calibration period before it and the period after it must both hold lines"
    )]
    CutoffOutsideLog {
        /// The path as given.
        file: String,
        /// The cutoff, ISO-8601.
        cutoff: String,
        /// First line's time.
        first: String,
        /// Last line's time.
        last: String,
    },
    /// No customer line at all.
    #[error("{file}: no line with a customer id")]
    NoCustomers {
        /// The path as given.
        file: String,
    },
    /// Nobody in the cohort buys in the holdout: a value model cannot be fitted or judged.
    #[error(
        "{file}: none of the {customers} customers with a purchase before the cutoff has a purchase in the holdout [{from}, {to}): nothing to learn a value from"
    )]
    NoHoldoutPurchases {
        /// The path as given.
        file: String,
        /// Customers in the cohort.
        customers: usize,
        /// Holdout start.
        from: String,
        /// Holdout end.
        to: String,
    },
}
