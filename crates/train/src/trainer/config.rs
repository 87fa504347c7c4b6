//! The training configuration, the data a run reads, and why a run can fail.

use glassbox_core::{Float, MlpError, MlpSpec};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::history::EpochRecord;
use crate::metrics::MetricsError;
use crate::privacy::{DpSgdConfig, PrivacyError};
use crate::{
    LossConfig, LossError, LossKind, OptimError, OptimizerConfig, Schedule, ScheduleError,
};

/// Which quantity early stopping watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Monitor {
    /// Validation loss (lower is better).
    ValLoss,
    /// Validation ROC-AUC (higher is better).
    ValRocAuc,
    /// Validation accuracy (higher is better).
    ValAccuracy,
    /// Training loss of the epoch (lower is better); needs no validation data.
    TrainLoss,
}

impl Monitor {
    /// Whether a larger value is better.
    pub fn maximise(self) -> bool {
        matches!(self, Monitor::ValRocAuc | Monitor::ValAccuracy)
    }

    /// Whether the value comes from validation data.
    pub fn needs_validation(self) -> bool {
        !matches!(self, Monitor::TrainLoss)
    }

    /// The monitored value of an epoch, if it was computed.
    pub fn value(self, r: &EpochRecord) -> Option<f64> {
        match self {
            Monitor::ValLoss => r.val_loss,
            Monitor::ValRocAuc => r.val_roc_auc,
            Monitor::ValAccuracy => r.val_accuracy,
            Monitor::TrainLoss => Some(r.train_loss),
        }
    }
}

/// Early stopping with Keras's rule (T9): an epoch *improves* when its monitored value `v`
/// beats the best so far by more than `min_delta` (`v < best − min_delta` when lower is
/// better, `v > best + min_delta` when higher is); the first epoch always improves. After
/// `patience` consecutive epochs without improvement training stops, and with
/// `restore_best` the weights of the best epoch are put back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Epochs without improvement tolerated (0 stops at the first one).
    pub patience: usize,
    /// The margin an improvement must exceed (≥ 0).
    #[serde(default)]
    pub min_delta: f64,
    /// The watched quantity.
    pub monitor: Monitor,
    /// Whether to put the best epoch's weights back when stopping (Keras's
    /// `restore_best_weights`: only when training stops early;
    /// [`Trainer::restore_best`](super::Trainer::restore_best) does it on request).
    #[serde(default)]
    pub restore_best: bool,
}

/// Everything that defines a training run, as written into its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Total epochs of the run (a resumed run continues up to this count).
    pub epochs: usize,
    /// Rows per batch, B ≥ 1; the last batch of an epoch may be smaller (T3).
    pub batch_size: usize,
    /// The loss and its weighting.
    pub loss: LossConfig,
    /// The optimizer and its conventions (ε form, weight-decay form).
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule, indexed by optimizer steps.
    #[serde(default = "constant_schedule")]
    pub schedule: Schedule,
    /// Clip the global gradient norm to this value (O14); `None`: no clipping.
    #[serde(default)]
    pub clip_norm: Option<f64>,
    /// Early stopping, or none.
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// The seed: initial weights (stream 0) and the trainer's RNG (stream 1).
    pub seed: u64,
    /// Shuffle the rows at the start of every epoch (T2); `false` keeps the data's order.
    #[serde(default = "yes")]
    pub shuffle: bool,
    /// Threads of the training pool; `None` lets rayon choose. Results do not depend on it.
    #[serde(default)]
    pub threads: Option<usize>,
    /// Differentially private training (DP-SGD, notes/privacy.md §12): Poisson-sampled
    /// batches, per-example clipping, Gaussian noise; `None` trains as usual (and is left
    /// out of manifests, which stay as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<DpSgdConfig>,
}

fn constant_schedule() -> Schedule {
    Schedule::Constant
}

fn yes() -> bool {
    true
}

impl TrainConfig {
    /// The recipe of the paper's Keras model as `model.fit` runs it on TensorFlow: batch 32,
    /// binary cross-entropy computed from the logits (notes/losses.md §3: Keras on TF
    /// rewrites a sigmoid output + `"binary_crossentropy"` into the logits form), Keras's
    /// Adam (lr 1e-3, ε̂ = 1e-7 in Keras's form, O13), constant lr, no clipping, no early
    /// stopping, shuffling on.
    pub fn keras_recipe(epochs: usize, seed: u64) -> Self {
        TrainConfig {
            epochs,
            batch_size: 32,
            loss: LossConfig::new(LossKind::BceWithLogits),
            optimizer: OptimizerConfig::adam_keras(1e-3),
            schedule: Schedule::Constant,
            clip_norm: None,
            early_stopping: None,
            seed,
            shuffle: true,
            threads: None,
            privacy: None,
        }
    }

    /// Checks every field: epochs and batch size > 0, the loss, optimizer and schedule,
    /// `clip_norm` positive and finite, `min_delta` ≥ 0 and finite, `threads` ≠ `Some(0)`.
    ///
    /// # Errors
    /// [`TrainError::Config`], [`TrainError::Loss`], [`TrainError::Optimizer`] or
    /// [`TrainError::Schedule`] naming the problem.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field: &'static str, reason: String| Err(TrainError::Config { field, reason });
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        self.loss.validate()?;
        self.optimizer.validate()?;
        self.schedule.validate()?;
        if let Some(c) = self.clip_norm
            && !(c > 0.0 && c.is_finite())
        {
            return bad("clip_norm", format!("must be positive and finite, got {c}"));
        }
        if let Some(es) = &self.early_stopping
            && !(es.min_delta >= 0.0 && es.min_delta.is_finite())
        {
            return bad(
                "early_stopping.min_delta",
                format!("must be ≥ 0 and finite, got {}", es.min_delta),
            );
        }
        if self.threads == Some(0) {
            return bad("threads", "must be at least 1 (or absent)".into());
        }
        if let Some(dp) = &self.privacy {
            dp.validate()?;
            if dp.method.adam_bias_correction.is_some()
                && !matches!(self.optimizer, OptimizerConfig::Adam { .. })
            {
                return Err(PrivacyError::BiasCorrectionNeedsAdam.into());
            }
        }
        Ok(())
    }

    /// The refusals of private training (notes/privacy.md §13), for a run of `spec`:
    /// dropout, global-norm clipping (it mixes the examples of a batch), a fixed row order
    /// (`shuffle = false`: the accountant assumes Poisson sampling, which the DP trainer does
    /// itself), early stopping on the training loss; and early stopping together with the
    /// averaged iterates (P28), which would each choose the final weights. Nothing to check
    /// without `privacy`.
    ///
    /// # Errors
    /// [`TrainError::Privacy`] naming the rule; [`TrainError::Config`] for averaging with
    /// early stopping.
    pub fn validate_privacy(&self, spec: &MlpSpec) -> Result<(), TrainError> {
        if self.privacy.is_none() {
            return Ok(());
        }
        if spec.wide
            && self
                .privacy
                .as_ref()
                .is_some_and(|dp| dp.method.clip_per_layer.is_some())
        {
            // P32–P33 budget the Dense layers only; the wide term's W would go unclipped.
            return Err(TrainError::Config {
                field: "privacy.clip_per_layer",
                reason: "per-layer clipping (--dp-clip-per-layer) budgets the Dense layers only,                          not the wide term's W (--wide); use the flat clip"
                    .into(),
            });
        }
        if let Some((layer, l)) = spec
            .layers
            .iter()
            .enumerate()
            .find(|(_, l)| l.dropout > 0.0)
        {
            return Err(PrivacyError::Dropout {
                layer,
                p: l.dropout,
            }
            .into());
        }
        if let Some(c) = self.clip_norm {
            return Err(PrivacyError::GlobalClipping(c).into());
        }
        if !self.shuffle {
            return Err(
                PrivacyError::NotPoissonSampling("a fixed row order (shuffle = false)").into(),
            );
        }
        if self
            .early_stopping
            .is_some_and(|es| !es.monitor.needs_validation())
        {
            return Err(PrivacyError::MonitorsTrainingRows.into());
        }
        if let Some(dp) = &self.privacy
            && dp.method.average_decay.is_some()
            && self.early_stopping.is_some()
        {
            return Err(TrainError::Config {
                field: "privacy.average_decay",
                reason: "the averaged iterates and early stopping would each choose the final \
                         weights; use one of them"
                    .into(),
            });
        }
        Ok(())
    }
}

/// Training (or validation) data: X (N, D), Y (N, O) and optional sample weights (N,).
#[derive(Debug, Clone, Copy)]
pub struct DataView<'a, T> {
    /// Inputs X (N, D), any layout.
    pub x: ArrayView2<'a, T>,
    /// Targets Y (N, O): 0/1 for BCE, one-hot rows for softmax cross-entropy.
    pub y: ArrayView2<'a, T>,
    /// Per-row weights (N,), finite and ≥ 0 (L3), or none.
    pub weights: Option<&'a [T]>,
}

impl<'a, T: Float> DataView<'a, T> {
    /// Data without sample weights (checked when training starts).
    pub fn new(x: ArrayView2<'a, T>, y: ArrayView2<'a, T>) -> Self {
        DataView {
            x,
            y,
            weights: None,
        }
    }

    /// The same data with per-row weights (N,).
    pub fn with_weights(mut self, weights: &'a [T]) -> Self {
        self.weights = Some(weights);
        self
    }

    /// N, the number of rows.
    pub fn rows(&self) -> usize {
        self.x.nrows()
    }

    /// Checks the data against the network: N ≥ 1, X (N, D), Y (N, `targets`) — O, or 1 for
    /// a value loss ([`crate::LossKind::target_width`]) — weights (N,), every value finite,
    /// weights ≥ 0. `set` names the data in errors.
    ///
    /// # Errors
    /// [`TrainError::Data`] naming the set, and the row and column of a bad value.
    pub fn validate(
        &self,
        spec: &MlpSpec,
        targets: usize,
        set: &'static str,
    ) -> Result<(), TrainError> {
        let bad = |reason: String| Err(TrainError::Data { set, reason });
        let (n, d) = self.x.dim();
        if n == 0 {
            return bad("no rows".into());
        }
        if d != spec.inputs {
            return bad(format!(
                "X has {d} columns but the network has {} inputs",
                spec.inputs
            ));
        }
        if self.y.dim() != (n, targets) {
            return bad(format!(
                "Y is {:?} but X has {n} rows and the network {} outputs ({targets} target column(s))",
                self.y.dim(),
                spec.outputs()
            ));
        }
        for (name, a) in [("X", &self.x), ("Y", &self.y)] {
            if let Some(((r, c), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return bad(format!("{name}[{r}, {c}] is {v}"));
            }
        }
        if let Some(w) = self.weights {
            if w.len() != n {
                return bad(format!("{} sample weights for {n} rows", w.len()));
            }
            if let Some((r, v)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v >= T::zero()))
            {
                return bad(format!(
                    "sample weight of row {r} is {v}, not finite and ≥ 0"
                ));
            }
        }
        Ok(())
    }
}

/// Which number a run stopped on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NonFiniteKind {
    /// The training loss of a batch.
    Loss,
    /// The global gradient norm of a batch (before clipping).
    GradNorm,
    /// The validation loss of a validation batch.
    ValLoss,
}

/// Why training could not start or had to stop.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// A configuration field is invalid.
    #[error("training configuration: {field} {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The loss configuration is invalid.
    #[error("training configuration: loss: {0}")]
    Loss(#[from] LossError),
    /// The optimizer configuration is invalid.
    #[error("training configuration: {0}")]
    Optimizer(#[from] OptimError),
    /// The schedule is invalid.
    #[error("training configuration: {0}")]
    Schedule(#[from] ScheduleError),
    /// The architecture is invalid.
    #[error("architecture: {0}")]
    Architecture(#[from] MlpError),
    /// The loss does not fit the network's last layer.
    #[error(
        "loss {loss} cannot train a network whose last layer is {activation} with {outputs} output(s): {reason}"
    )]
    LossMismatch {
        /// The loss.
        loss: LossKind,
        /// The last layer's activation.
        activation: String,
        /// O.
        outputs: usize,
        /// The rule that was broken.
        reason: &'static str,
    },
    /// Early stopping watches a validation value but no validation data were given.
    #[error("early stopping monitors {0:?}, which needs validation data")]
    MonitorNeedsValidation(Monitor),
    /// The monitored value could not be computed (e.g. ROC-AUC with one class).
    #[error("early stopping monitors {monitor:?}, which is undefined after epoch {epoch}")]
    MonitorUndefined {
        /// The monitor.
        monitor: Monitor,
        /// The epoch (from 0).
        epoch: usize,
    },
    /// Bad training or validation data.
    #[error("{set} data: {reason}")]
    Data {
        /// `"training"` or `"validation"`.
        set: &'static str,
        /// What is wrong, with row and column.
        reason: String,
    },
    /// A loss or gradient norm was NaN or infinite: training stopped before applying the
    /// update of that batch (the weights are those after the previous batch).
    #[error("non-finite {what:?} ({value}) at epoch {epoch}, batch {batch}: training stopped")]
    NonFinite {
        /// The epoch (from 0).
        epoch: usize,
        /// The batch within the epoch (from 0; a validation batch for `ValLoss`).
        batch: usize,
        /// Which number.
        what: NonFiniteKind,
        /// Its value.
        value: f64,
    },
    /// A validation metric failed for a reason other than being undefined on the data.
    #[error("validation metrics: {0}")]
    Metrics(#[from] MetricsError),
    /// A private run was refused, or its settings are invalid.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// The thread pool could not be started.
    #[error("cannot start {threads:?} training threads: {reason}")]
    ThreadPool {
        /// Threads asked for (`None`: rayon's choice).
        threads: Option<usize>,
        /// The operating system's reason.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_serde_defaults_and_unknown_fields() {
        let json = r#"{"epochs": 3, "batch_size": 16,
            "loss": {"kind": "BceWithLogits"},
            "optimizer": {"algorithm": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999,
                          "eps": {"Keras": 1e-7}, "weight_decay": "None"},
            "seed": 5}"#;
        let c: TrainConfig = serde_json::from_str(json).expect("valid config");
        assert_eq!(c.schedule, Schedule::Constant);
        assert!(c.shuffle && c.clip_norm.is_none() && c.threads.is_none());
        assert_eq!(c.optimizer, OptimizerConfig::adam_keras(1e-3));
        let back: TrainConfig =
            serde_json::from_str(&serde_json::to_string(&c).expect("serialises")).expect("reads");
        assert_eq!(back, c);
        let typo = json.replace("\"seed\"", "\"sead\"");
        assert!(serde_json::from_str::<TrainConfig>(&typo).is_err());
    }

    #[test]
    fn config_validation_names_the_field() {
        let base = TrainConfig::keras_recipe(2, 0);
        base.validate().expect("valid");
        let field = |c: TrainConfig| match c.validate() {
            Err(TrainError::Config { field, .. }) => field,
            other => panic!("expected a Config error, got {other:?}"),
        };
        let mut c = base.clone();
        c.epochs = 0;
        assert_eq!(field(c), "epochs");
        let mut c = base.clone();
        c.batch_size = 0;
        assert_eq!(field(c), "batch_size");
        let mut c = base.clone();
        c.clip_norm = Some(f64::NAN);
        assert_eq!(field(c), "clip_norm");
        let mut c = base.clone();
        c.threads = Some(0);
        assert_eq!(field(c), "threads");
        let mut c = base.clone();
        c.early_stopping = Some(EarlyStopping {
            patience: 2,
            min_delta: -1.0,
            monitor: Monitor::ValLoss,
            restore_best: false,
        });
        assert_eq!(field(c), "early_stopping.min_delta");
        let mut c = base.clone();
        c.optimizer = OptimizerConfig::adam_keras(-1.0);
        assert!(matches!(c.validate(), Err(TrainError::Optimizer(_))));
        let mut c = base;
        c.schedule = Schedule::Step {
            every: 0,
            gamma: 0.5,
        };
        assert!(matches!(c.validate(), Err(TrainError::Schedule(_))));
    }
}
