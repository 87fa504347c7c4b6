//! The one error type of the audits: bad input names what is wrong, a failed consistency
//! check between two engine code paths is [`AuditError::Internal`].

use glassbox_data::{DataError, Names};
use glassbox_train::metrics::fairness::FairnessError;

/// Everything an audit can reject.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading or encoding the data failed (bad CSV, a column the model needs is absent, a
    /// column of another kind than at training time, …).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A column named on the command line is not in the file.
    #[error("{file}: no column \"{column}\" for {purpose}; the file's columns are {available}")]
    UnknownColumn {
        /// The file.
        file: String,
        /// The column asked for.
        column: String,
        /// What the column was wanted for (`--by`, …).
        purpose: String,
        /// The file's columns.
        available: Names,
    },
    /// More rows were asked for than the file holds (or none at all).
    #[error("{file}: {requested} rows requested but the file holds {available}")]
    RowCount {
        /// The file.
        file: String,
        /// Rows asked for.
        requested: usize,
        /// Rows in the file.
        available: usize,
    },
    /// More rows than an audit that reports per row accepts ([`MAX_TRACE_ROWS`](crate::MAX_TRACE_ROWS),
    /// [`MAX_EXPLAIN_ROWS`](crate::MAX_EXPLAIN_ROWS)).
    #[error(
        "{audit} of {requested} rows refused: the limit is {limit} rows, because {why}; choose fewer rows with --rows"
    )]
    TooManyRows {
        /// The audit (`trace`, `explain`).
        audit: &'static str,
        /// Rows asked for.
        requested: usize,
        /// The limit.
        limit: usize,
        /// Why the audit has a limit.
        why: &'static str,
    },
    /// A row index beyond the file.
    #[error("{file}: row {row} requested but the file holds rows 0..{available}")]
    RowIndex {
        /// The file.
        file: String,
        /// The 0-based data row asked for.
        row: usize,
        /// Rows in the file.
        available: usize,
    },
    /// The model does not fit the preprocessor or the task.
    #[error("the model does not fit: {0}")]
    Model(String),
    /// An option value outside its range.
    #[error("{name} = {value}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A metric could not be computed.
    #[error("{context}: {source}")]
    Metrics {
        /// What was being computed.
        context: String,
        /// The metric's error.
        #[source]
        source: glassbox_train::metrics::MetricsError,
    },
    /// A consistency check between two engine code paths failed — a bug, not bad input.
    #[error("internal consistency check failed: {0}")]
    Internal(String),
}

impl AuditError {
    /// Whether the user can fix it (bad input or options) rather than it being a bug.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, AuditError::Internal(_))
    }
}

/// A fairness evaluation's error, in the audit's terms (same messages).
impl From<FairnessError> for AuditError {
    fn from(e: FairnessError) -> Self {
        match e {
            FairnessError::InvalidInput {
                name,
                value,
                reason,
            } => AuditError::InvalidOption {
                name,
                value,
                reason,
            },
            FairnessError::Metrics { group, source } => AuditError::Metrics {
                context: format!("group \"{group}\""),
                source,
            },
        }
    }
}
