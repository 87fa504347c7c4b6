//! How the `glassbox` command turns an error into a message and an exit code.
//!
//! | exit code | meaning | [`ErrorKind`] |
//! |---|---|---|
//! | 0 | success | — |
//! | 1 | internal error: a bug or an environment failure we did not anticipate | `Internal` |
//! | 2 | the user can fix it: bad arguments, unusable output folder, bad CSV, missing columns, corrupted model file | `Usage`, `Data` |
//!
//! Code 2 for usage errors is also what `clap` uses when it rejects arguments, so the two
//! agree. An error that nobody classified is `Internal` (the conversion from `anyhow::Error`),
//! on the principle that a user-fixable error deserves a deliberate label.
//!
//! `main` stays two lines:
//!
//! ```no_run
//! use glassbox_app::exit::{self, CliError};
//!
//! fn run() -> Result<(), CliError> {
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     exit::finish(run())
//! }
//! ```
//!
//! The message is the error followed by its cause chain, one cause per line:
//!
//! ```text
//! error: cannot read data file "shoppers.csv"
//!   caused by: line 17, column "Revenue": expected TRUE or FALSE, found "maybe"
//! ```

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use glassbox_audit::AuditError;
use glassbox_train::TrainError;
use glassbox_train::metrics::threshold::ThresholdError;

use crate::pipeline::PipelineError;
use crate::render::JsonError;

/// Who can fix the error, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad invocation: arguments, option values, unusable output folder.
    Usage,
    /// Bad input content: malformed CSV, missing columns, values out of range, a model file
    /// that is corrupted or from an incompatible version.
    Data,
    /// Anything else: a bug or an unexpected environment failure.
    Internal,
}

impl ErrorKind {
    /// The process exit code: 2 for `Usage` and `Data`, 1 for `Internal`.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage | ErrorKind::Data => 2,
            ErrorKind::Internal => 1,
        }
    }
}

/// An error on its way out of the command, with its classification.
#[derive(Debug)]
pub struct CliError {
    /// Who can fix it.
    pub kind: ErrorKind,
    /// What went wrong, with its context chain.
    pub source: anyhow::Error,
}

impl CliError {
    /// Wraps `err` as a usage error (exit code 2).
    pub fn usage(err: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorKind::Usage, err)
    }

    /// Wraps `err` as a data error (exit code 2).
    pub fn data(err: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorKind::Data, err)
    }

    /// Wraps `err` as an internal error (exit code 1).
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorKind::Internal, err)
    }

    /// Wraps `err` with the given classification.
    pub fn new(kind: ErrorKind, err: impl Into<anyhow::Error>) -> Self {
        Self {
            kind,
            source: err.into(),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

/// An unclassified error is internal (exit code 1); classify user-fixable errors explicitly
/// with [`CliError::usage`], [`CliError::data`] or [`ResultExt`].
/// A worker thread's result; its panic becomes an internal error (exit 1) naming `what`.
pub(crate) fn joined<T>(result: std::thread::Result<T>, what: &str) -> Result<T, CliError> {
    result.map_err(|_| CliError::internal(anyhow::anyhow!("the {what} thread panicked")))
}

impl From<anyhow::Error> for CliError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(err)
    }
}

/// `result.usage_err()?`, `result.data_err()?`: classify an error where it is raised.
pub trait ResultExt<T> {
    /// Classifies the error as [`ErrorKind::Usage`].
    fn usage_err(self) -> Result<T, CliError>;
    /// Classifies the error as [`ErrorKind::Data`].
    fn data_err(self) -> Result<T, CliError>;
    /// Classifies the error as [`ErrorKind::Internal`].
    fn internal_err(self) -> Result<T, CliError>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn usage_err(self) -> Result<T, CliError> {
        self.map_err(CliError::usage)
    }
    fn data_err(self) -> Result<T, CliError> {
        self.map_err(CliError::data)
    }
    fn internal_err(self) -> Result<T, CliError> {
        self.map_err(CliError::internal)
    }
}

/// An audit error as a command-line error: bad arguments are usage errors, bad data and
/// models data errors (both exit 2); a failed consistency check is internal (exit 1).
impl From<AuditError> for CliError {
    fn from(e: AuditError) -> Self {
        let kind = match &e {
            AuditError::UnknownColumn { .. }
            | AuditError::RowCount { .. }
            | AuditError::RowIndex { .. }
            | AuditError::InvalidOption { .. } => ErrorKind::Usage,
            AuditError::Internal(_) => ErrorKind::Internal,
            _ => ErrorKind::Data,
        };
        CliError::new(kind, e)
    }
}

/// A pipeline error as a command-line error: bad data (a CSV, a class too small to split, a
/// diverged loss) and bad options (a recipe that gives no network, an output that cannot be
/// written) exit 2; a state the pipeline should never reach exits 1.
impl From<PipelineError> for CliError {
    fn from(e: PipelineError) -> Self {
        let kind = match &e {
            PipelineError::Data(_) | PipelineError::Split { .. } | PipelineError::Cost { .. } => {
                ErrorKind::Data
            }
            PipelineError::Recipe(_) | PipelineError::Write(_) | PipelineError::Privacy(_) => {
                ErrorKind::Usage
            }
            PipelineError::Train { source, .. } => match source.train_error() {
                TrainError::NonFinite { .. }
                | TrainError::Data { .. }
                | TrainError::MonitorUndefined { .. } => ErrorKind::Data,
                TrainError::Config { .. }
                | TrainError::Loss(_)
                | TrainError::Optimizer(_)
                | TrainError::Schedule(_)
                | TrainError::Architecture(_)
                | TrainError::LossMismatch { .. }
                | TrainError::Privacy(_)
                | TrainError::MonitorNeedsValidation(_) => ErrorKind::Usage,
                _ => ErrorKind::Internal,
            },
            PipelineError::Threshold(ThresholdError::Validation(_)) => ErrorKind::Data,
            // A cost threshold is chosen on validation rows: --val-fraction 0 is a usage error.
            PipelineError::Threshold(
                ThresholdError::NeedsValidation(_) | ThresholdError::NeedsCosts,
            ) => ErrorKind::Usage,
            // The recipe was validated: a rule needing validation rows has them.
            PipelineError::ClassWeights(_)
            | PipelineError::Metrics(_)
            | PipelineError::Internal(_) => ErrorKind::Internal,
        };
        CliError::new(kind, e)
    }
}

/// A report that could not be serialised: a bug (exit 1).
impl From<JsonError> for CliError {
    fn from(e: JsonError) -> Self {
        CliError::internal(e)
    }
}

/// Writes `error: <message>` and one `  caused by: <cause>` line per cause to `out`, and
/// returns the exit code. A failure to write the message is ignored: there is nowhere left
/// to report it.
pub fn report_to(err: &CliError, out: &mut dyn Write) -> u8 {
    let mut chain = err.source.chain();
    if let Some(top) = chain.next() {
        let _ = writeln!(out, "error: {top}");
    }
    for cause in chain {
        let _ = writeln!(out, "  caused by: {cause}");
    }
    err.exit_code()
}

/// Prints the error report to stderr and returns the exit code (see [`report_to`]).
pub fn report(err: &CliError) -> ExitCode {
    ExitCode::from(report_to(err, &mut std::io::stderr().lock()))
}

/// What `main` returns: success, or the reported error's exit code.
pub fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn reported(err: &CliError) -> (String, u8) {
        let mut buf = Vec::new();
        let code = report_to(err, &mut buf);
        (String::from_utf8(buf).unwrap(), code)
    }

    #[test]
    fn codes_follow_the_convention() {
        assert_eq!(ErrorKind::Usage.exit_code(), 2);
        assert_eq!(ErrorKind::Data.exit_code(), 2);
        assert_eq!(ErrorKind::Internal.exit_code(), 1);
    }

    #[test]
    fn report_prints_the_message_and_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err: Result<(), std::io::Error> = Err(io);
        let err = err
            .context("cannot open \"shoppers.csv\"")
            .context("cannot load data set")
            .data_err()
            .unwrap_err();
        let (text, code) = reported(&err);
        assert_eq!(
            text,
            "error: cannot load data set\n  caused by: cannot open \"shoppers.csv\"\n  caused by: No such file or directory\n"
        );
        assert_eq!(code, 2);
    }

    #[test]
    fn unclassified_errors_are_internal_and_single_messages_have_no_cause_line() {
        let err: CliError = anyhow::anyhow!("gradient buffer has 3 rows, expected 4").into();
        let (text, code) = reported(&err);
        assert_eq!(text, "error: gradient buffer has 3 rows, expected 4\n");
        assert_eq!(code, 1);
        assert_eq!(err.kind, ErrorKind::Internal);
    }

    #[test]
    fn output_errors_keep_their_path_and_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied");
        let out = crate::output::OutputError::new("cannot write", "runs/a/report.json", io);
        let (text, code) = reported(&CliError::usage(out));
        assert_eq!(
            text,
            "error: cannot write \"runs/a/report.json\"\n  caused by: Permission denied\n"
        );
        assert_eq!(code, 2);
    }
}
