//! What the pipeline can reject. Each variant keeps the error it wraps as its source, so a
//! message reads as a cause chain; who can fix it — and so the exit code — is decided by the
//! command line (`crate::exit`), not here.

use glassbox_data::DataError;
use glassbox_train::metrics::MetricsError;
use glassbox_train::metrics::threshold::ThresholdError;
use glassbox_train::privacy::PrivacyError;
use glassbox_train::{LossError, SplitError, TrainError};

/// Everything the pipeline can reject.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Reading, inferring, encoding or summarising a CSV file failed (the message names the
    /// file, line and column).
    #[error(transparent)]
    Data(#[from] DataError),
    /// The stratified validation split cannot be carved (a class too small for it).
    #[error("{file}: cannot carve a validation part")]
    Split {
        /// The training file.
        file: String,
        /// Why.
        #[source]
        source: SplitError,
    },
    /// The recipe does not give a network (bad architecture or initialiser name).
    #[error("{0}")]
    Recipe(String),
    /// A private recipe's budget cannot be met or checked (ε ≤ 0, δ ≥ 1/N, …).
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// Balanced class weights without both classes.
    #[error(transparent)]
    ClassWeights(#[from] LossError),
    /// Training one network failed.
    #[error("training {model} (member {member}, seed {seed}) failed")]
    Train {
        /// The recipe's label (`paper`, `default`).
        model: String,
        /// The ensemble member.
        member: usize,
        /// Its seed.
        seed: u64,
        /// The trainer's error, with a hint when the loss diverged.
        #[source]
        source: TrainFailure,
    },
    /// The decision threshold could not be chosen (R2).
    #[error(transparent)]
    Threshold(#[from] ThresholdError),
    /// Metrics of an evaluation could not be computed (probabilities outside [0, 1] would be
    /// a model bug).
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A cost matrix that cannot price the rows: an unknown cost column, or a cell that is
    /// not a cost (the message names the file, line and column).
    #[error("{message}")]
    Cost { message: String },
    /// Writing the predictions failed.
    #[error("cannot write the predictions")]
    Write(#[source] std::io::Error),
    /// A state the pipeline's own code should never reach — a bug, not bad input.
    #[error("{0}")]
    Internal(String),
}

/// A trainer's error, with the hint a diverged loss deserves.
#[derive(Debug, thiserror::Error)]
pub enum TrainFailure {
    /// The loss became non-finite.
    #[error("the loss diverged: try a smaller --lr, or look for extreme values in the data")]
    Diverged(#[source] TrainError),
    /// Any other trainer error.
    #[error(transparent)]
    Other(TrainError),
}

impl TrainFailure {
    /// The trainer's error.
    pub fn train_error(&self) -> &TrainError {
        match self {
            TrainFailure::Diverged(e) | TrainFailure::Other(e) => e,
        }
    }
}

impl From<TrainError> for TrainFailure {
    fn from(e: TrainError) -> Self {
        if matches!(e, TrainError::NonFinite { .. }) {
            TrainFailure::Diverged(e)
        } else {
            TrainFailure::Other(e)
        }
    }
}
