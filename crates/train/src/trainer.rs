//! The trainer: mini-batch gradient descent over an [`Mlp`], with validation, early
//! stopping, a history and exact resumption (notes/training.md §2–§4, equations T5–T9).
//!
//! One training step on a batch of n rows (T5–T6), in this order:
//! 1. `lr = schedule.lr_at(base_lr, t)` with `t` the optimizer steps taken (O15–O18);
//! 2. forward in training mode (dropout masks drawn from the trainer's RNG) (B20);
//! 3. the loss `L_b` of the batch and its gradient, written into a zeroed (n, O) buffer
//!    (L3–L14): from the logits Z of the last layer for [`LossInput::Logits`] losses, from
//!    its output Y otherwise;
//! 4. zero the parameter gradients, back-propagate (B20b–B20d);
//! 5. the global gradient norm, clipped if configured (O14); a non-finite loss or norm
//!    ends training with [`TrainError::NonFinite`] **before** the update;
//! 6. the optimizer's update with `lr` (O1–O13).
//!
//! Every step runs inside one rayon pool (`TrainConfig::threads`), started with
//! flush-to-zero on every thread, and allocates nothing: batches are gathered into
//! preallocated buffers, the network computes in its [`Workspace`], the loss writes into a
//! kept gradient buffer.
//!
//! ```
//! use glassbox_core::{Activation, Init, LayerSpec, MlpSpec};
//! use glassbox_train::{DataView, TrainConfig, Trainer};
//! use ndarray::Array2;
//!
//! // y = 1 when x₀ + x₁ > 0: separable, so a few epochs reach a low loss.
//! let x = Array2::from_shape_fn((64, 2), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 8.0 - 1.0);
//! let y = Array2::from_shape_fn((64, 1), |(i, _)| f32::from(x[[i, 0]] + x[[i, 1]] > 0.0));
//! let spec = MlpSpec::new(2, vec![
//!     LayerSpec::new(8, Activation::Relu),
//!     LayerSpec::new(1, Activation::Sigmoid),
//! ]);
//! let mut config = TrainConfig::keras_recipe(30, 1);
//! config.optimizer = glassbox_train::OptimizerConfig::adam_keras(0.05);
//! let mut trainer = Trainer::<f32>::new(spec, Init::GlorotUniform, config)?;
//! let data = DataView::new(x.view(), y.view());
//! let history = trainer.fit(&data, Some(&data), &mut |_| {})?;
//! assert_eq!(history.len(), 30);
//! assert!(history.epochs[29].train_loss < 0.5 * history.epochs[0].train_loss);
//! assert!(history.epochs[29].val_accuracy.unwrap() > 0.9);
//! # Ok::<(), glassbox_train::TrainError>(())
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use glassbox_core::{
    Activation, Float, GradWrite, Init, Mlp, MlpError, MlpSpec, Mode, Rng, SoftmaxRow, Upstream,
    Workspace, seeded_rng,
};
use ndarray::{Array2, ArrayView1, ArrayView2, s};
use serde::{Deserialize, Serialize};

use crate::batching::{BatchBuffer, num_batches, shuffled_order};
use crate::history::{EarlyStop, EpochRecord, History};
use crate::metrics::{MetricsError, roc_auc};
use crate::{
    LossConfig, LossError, LossInput, LossKind, OptimError, Optimizer, OptimizerConfig, Schedule,
    ScheduleError, clip_grad_norm, global_norm,
};

/// The ChaCha8 stream of the trainer's RNG. [`Trainer::new`] draws the initial weights
/// from `seeded_rng(seed)` (stream 0) and shuffles and drops out from stream 1 of the same
/// seed, so the two never share a draw.
pub const TRAINER_STREAM: u64 = 1;

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
    /// `restore_best_weights`: only when training stops early; [`Trainer::restore_best`]
    /// does it on request).
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

    /// Checks the data against the network: N ≥ 1, X (N, D), Y (N, O), weights (N,), every
    /// value finite, weights ≥ 0. `set` names the data in errors.
    ///
    /// # Errors
    /// [`TrainError::Data`] naming the set, and the row and column of a bad value.
    pub fn validate(&self, spec: &MlpSpec, set: &'static str) -> Result<(), TrainError> {
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
        if self.y.dim() != (n, spec.outputs()) {
            return bad(format!(
                "Y is {:?} but X has {n} rows and the network {} outputs",
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
    /// The thread pool could not be started.
    #[error("cannot start {threads:?} training threads: {reason}")]
    ThreadPool {
        /// Threads asked for (`None`: rayon's choice).
        threads: Option<usize>,
        /// The operating system's reason.
        reason: String,
    },
}

/// Where the loss reads the network's output (T5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LossReads {
    /// The last layer's pre-activation Z; backward starts from ∂L/∂Z.
    Logits,
    /// The last layer's output Y; backward starts from ∂L/∂Y.
    Output,
}

/// (T5) Which output of the last layer a loss reads, or why the pair is refused:
/// - logits losses ([`LossInput::Logits`]) read Z. The last activation must be the identity
///   or the very function the loss fuses — sigmoid for BCE, softmax for cross-entropy —
///   which the loss then applies itself, as Keras on TensorFlow does with a sigmoid output
///   and `"binary_crossentropy"` (notes/losses.md §3). The network's output Y is then the
///   probability, and the loss never sees it.
/// - [`LossKind::BceKeras`] reads Y and needs a sigmoid output;
/// - [`LossKind::Mse`] reads Y whatever the activation.
pub(crate) fn loss_reads(
    loss: LossKind,
    last: Activation,
    outputs: usize,
) -> Result<LossReads, TrainError> {
    let refuse = |reason| {
        Err(TrainError::LossMismatch {
            loss,
            activation: last.to_string(),
            outputs,
            reason,
        })
    };
    match (loss.input(), loss, last) {
        (
            LossInput::Logits,
            LossKind::BceWithLogits,
            Activation::Identity | Activation::Sigmoid,
        ) => Ok(LossReads::Logits),
        (
            LossInput::Logits,
            LossKind::SoftmaxCrossEntropy,
            Activation::Identity | Activation::Softmax,
        ) => {
            if outputs < 2 {
                refuse("softmax cross-entropy needs at least 2 outputs")
            } else {
                Ok(LossReads::Logits)
            }
        }
        (LossInput::Logits, _, _) => refuse(
            "a logits loss needs a linear last layer or the activation it fuses (sigmoid for BCE, softmax for cross-entropy)",
        ),
        (LossInput::Probabilities, _, Activation::Sigmoid) => Ok(LossReads::Output),
        (LossInput::Probabilities, _, _) => {
            refuse("a loss on probabilities needs a sigmoid last layer")
        }
        (LossInput::Values, _, _) => Ok(LossReads::Output),
    }
}

/// Progress after one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchProgress {
    /// The epoch (from 0).
    pub epoch: usize,
    /// The batch within the epoch (from 0).
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// Rows of this batch.
    pub rows: usize,
    /// The batch's loss `L_b` (training mode).
    pub loss: f64,
    /// Row-weighted mean of the epoch's batch losses so far (T7) — Keras's progress-bar
    /// loss.
    pub running_loss: f64,
    /// The learning rate of this step.
    pub lr: f64,
    /// Global gradient norm before clipping (O14).
    pub grad_norm: f64,
}

/// What [`Trainer::fit`] reports to its callback, in this order per epoch:
/// `EpochStart`, one `Batch` per step, `EpochEnd`, and `EarlyStop` if it stops.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// An epoch begins.
    EpochStart {
        /// The epoch (from 0).
        epoch: usize,
        /// Total epochs of the run.
        epochs: usize,
        /// Batches in this epoch.
        batches: usize,
        /// Training rows N.
        rows: usize,
    },
    /// A training step is done.
    Batch(BatchProgress),
    /// An epoch is done and validated; its record is in the history.
    EpochEnd(&'a EpochRecord),
    /// Early stopping ended the run.
    EarlyStop(&'a EarlyStop),
}

/// The state of early stopping between epochs (checkpointed with the run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    /// The best monitored value so far.
    pub best_value: Option<f64>,
    /// Its epoch.
    pub best_epoch: Option<usize>,
    /// Epochs since the last improvement.
    pub wait: usize,
}

/// A network, its optimizer and everything needed to continue training it exactly.
#[derive(Debug)]
pub struct Trainer<T: Float = f32> {
    pub(crate) config: TrainConfig,
    pub(crate) mlp: Mlp<T>,
    pub(crate) optimizer: Optimizer<T>,
    /// Shuffles and dropout masks, in that order within an epoch.
    pub(crate) rng: Rng,
    pub(crate) history: History,
    /// How the initial weights were made: an [`Init`] name, or `"supplied"`.
    pub(crate) init: String,
    pub(crate) stopping: EarlyStoppingState,
    /// The parameters of the best epoch, kept when early stopping restores them.
    pub(crate) best_params: Option<Vec<T>>,
    /// Application data stored in checkpoints (e.g. the fitted preprocessor).
    pub(crate) extra: BTreeMap<String, String>,
}

impl<T: Float> Trainer<T> {
    /// A trainer for a new network drawn by `init` from `seeded_rng(config.seed)`.
    ///
    /// # Errors
    /// An invalid configuration or architecture, or a loss that does not fit the last layer.
    pub fn new(spec: MlpSpec, init: Init, config: TrainConfig) -> Result<Self, TrainError> {
        config.validate()?;
        let mlp = Mlp::new(spec, init, &mut seeded_rng(config.seed))?;
        Self::assemble(mlp, config, init.name().to_string())
    }

    /// A trainer for a network whose weights the caller made (loaded from another
    /// framework, say); the manifest records its initialiser as `"supplied"`.
    ///
    /// # Errors
    /// As [`Trainer::new`].
    pub fn from_model(mlp: Mlp<T>, config: TrainConfig) -> Result<Self, TrainError> {
        config.validate()?;
        Self::assemble(mlp, config, "supplied".into())
    }

    fn assemble(mlp: Mlp<T>, config: TrainConfig, init: String) -> Result<Self, TrainError> {
        let spec = mlp.spec();
        let last = spec.layers[spec.layers.len() - 1].activation;
        loss_reads(config.loss.kind, last, spec.outputs())?;
        let optimizer = Optimizer::new(config.optimizer, mlp.num_params())?;
        let mut rng = seeded_rng(config.seed);
        rng.set_stream(TRAINER_STREAM);
        Ok(Trainer {
            config,
            mlp,
            optimizer,
            rng,
            history: History::default(),
            init,
            stopping: EarlyStoppingState::default(),
            best_params: None,
            extra: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Changes the total number of epochs, e.g. to continue a finished or resumed run
    /// further. Nothing else of the configuration can change mid-run.
    ///
    /// # Errors
    /// [`TrainError::Config`] for 0.
    pub fn set_epochs(&mut self, epochs: usize) -> Result<(), TrainError> {
        if epochs == 0 {
            return Err(TrainError::Config {
                field: "epochs",
                reason: "must be at least 1".into(),
            });
        }
        self.config.epochs = epochs;
        Ok(())
    }

    /// The network.
    pub fn mlp(&self) -> &Mlp<T> {
        &self.mlp
    }

    /// The network, giving up the trainer.
    pub fn into_mlp(self) -> Mlp<T> {
        self.mlp
    }

    /// The optimizer and its state.
    pub fn optimizer(&self) -> &Optimizer<T> {
        &self.optimizer
    }

    /// The trainer's RNG (its state is checkpointed).
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    /// The history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// The initialiser's name, or `"supplied"`.
    pub fn init_name(&self) -> &str {
        &self.init
    }

    /// Early stopping's state.
    pub fn early_stopping_state(&self) -> &EarlyStoppingState {
        &self.stopping
    }

    /// The parameters of the best epoch, if early stopping keeps them.
    pub fn best_params(&self) -> Option<&[T]> {
        self.best_params.as_deref()
    }

    /// Puts the best epoch's parameters back (when early stopping keeps them); returns
    /// whether it did.
    pub fn restore_best(&mut self) -> bool {
        match &self.best_params {
            Some(best) => {
                self.mlp.params_mut().copy_from_slice(best);
                true
            }
            None => false,
        }
    }

    /// Application data saved with every checkpoint.
    pub fn extra(&self) -> &BTreeMap<String, String> {
        &self.extra
    }

    /// Application data, mutable (e.g. to store the fitted preprocessor's JSON).
    pub fn extra_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.extra
    }

    /// Where the loss reads the network (checked at construction).
    fn reads(&self) -> LossReads {
        let spec = self.mlp.spec();
        let last = spec.layers[spec.layers.len() - 1].activation;
        loss_reads(self.config.loss.kind, last, spec.outputs()).unwrap_or(LossReads::Output)
    }

    /// Scores of `x` (N, D) as the validation metrics use them (T8): for one output the
    /// probability of the positive class (σ(Z) for BCE from logits, Y otherwise), one per
    /// row; for O outputs, row-major (N·O) probabilities (softmax of Z for cross-entropy
    /// from logits, Y otherwise). In inference mode, in batches of `batch_size` rows.
    ///
    /// # Panics
    /// If X does not have D columns.
    pub fn scores(&self, x: ArrayView2<T>) -> Vec<f64> {
        let mut ws = self
            .mlp
            .workspace(self.config.batch_size.min(x.nrows().max(1)));
        let mut out = Vec::with_capacity(x.nrows() * self.mlp.spec().outputs());
        for start in (0..x.nrows()).step_by(self.config.batch_size) {
            let end = (start + self.config.batch_size).min(x.nrows());
            let fwd = self
                .mlp
                .forward(x.slice(s![start..end, ..]), Mode::Inference, &mut ws);
            push_scores(self.config.loss.kind, self.reads(), &fwd, &mut out);
        }
        out
    }

    /// Trains until `config.epochs` epochs are done (continuing a resumed run), or early
    /// stopping ends the run, validating on `val` after every epoch. Returns the history.
    ///
    /// `callback` hears every [`Event`]; it runs on a thread of the training pool (hence
    /// `Send`), between steps. A run that already finished returns its history at once.
    ///
    /// # Errors
    /// Bad data ([`TrainError::Data`]); a monitor without validation data; a non-finite
    /// loss or gradient norm ([`TrainError::NonFinite`], with the epoch and batch — the
    /// trainer keeps the weights of the last good step and can be inspected or saved).
    pub fn fit(
        &mut self,
        train: &DataView<'_, T>,
        val: Option<&DataView<'_, T>>,
        callback: &mut (dyn FnMut(&Event<'_>) + Send),
    ) -> Result<History, TrainError> {
        let spec = self.mlp.spec().clone();
        train.validate(&spec, "training")?;
        if let Some(v) = val {
            v.validate(&spec, "validation")?;
        }
        if let Some(es) = &self.config.early_stopping
            && es.monitor.needs_validation()
            && val.is_none()
        {
            return Err(TrainError::MonitorNeedsValidation(es.monitor));
        }
        if self.history.early_stop.is_some() || self.epochs_done() >= self.config.epochs {
            return Ok(self.history.clone());
        }
        let threads = self.config.threads;
        let pool = glassbox_core::build_pool(threads.unwrap_or(0)).map_err(|e| {
            TrainError::ThreadPool {
                threads,
                reason: e.to_string(),
            }
        })?;
        // The whole loop runs on one pool thread: jobs spawned from inside a pool use the
        // workers' own deques, while jobs injected from outside allocate (notes/training.md).
        pool.install(|| self.run(train, val, callback))?;
        Ok(self.history.clone())
    }

    /// The epoch loop of [`Trainer::fit`], on a thread of the pool.
    fn run(
        &mut self,
        train: &DataView<'_, T>,
        val: Option<&DataView<'_, T>>,
        callback: &mut (dyn FnMut(&Event<'_>) + Send),
    ) -> Result<(), TrainError> {
        let b = self.config.batch_size;
        let (d, o) = (self.mlp.spec().inputs, self.mlp.spec().outputs());
        let n = train.rows();
        let batches = num_batches(n, b);
        let reads = self.reads();
        // Every buffer of the step, allocated once (T6).
        let mut order = vec![0usize; n];
        let mut buf = BatchBuffer::<T>::new(b, d, o, train.weights.is_some());
        let mut ws = self.mlp.workspace(b);
        let mut d_out = Array2::<T>::zeros((b, o));
        let mut val_eval = val.map(|v| Validation::new(v, o));

        for epoch in self.epochs_done()..self.config.epochs {
            let started = Instant::now();
            let Trainer {
                config,
                mlp,
                optimizer,
                rng,
                ..
            } = self;
            shuffled_order(&mut order, config.shuffle.then_some(&mut *rng));
            callback(&Event::EpochStart {
                epoch,
                epochs: config.epochs,
                batches,
                rows: n,
            });
            let mut loss_sum = 0.0f64; // Σ L_b·n_b (T7)
            let mut rows_done = 0usize;
            let mut lr = config.optimizer.lr();
            let mut max_norm = 0.0f64;
            // (T3) batches of B rows in `order`, the last one partial; (T6) one step each.
            for (batch, rows) in order.chunks(b).enumerate() {
                let nb = rows.len();
                let data = buf.gather(train.x, train.y, train.weights, rows);
                lr = config
                    .schedule
                    .lr_at(config.optimizer.lr(), optimizer.step_count() as usize);
                let fwd = mlp.forward(data.x, Mode::Train(&mut *rng), &mut ws);
                let mut d_a = d_out.slice_mut(s![..nb, ..]);
                d_a.fill(T::zero());
                let read = match reads {
                    LossReads::Logits => fwd.logits(),
                    LossReads::Output => fwd.output(),
                };
                let loss = config
                    .loss
                    .compute(read, data.y, data.weights, Some(d_a.view_mut()));
                if !loss.is_finite() {
                    return Err(non_finite(epoch, batch, NonFiniteKind::Loss, loss));
                }
                let upstream = match reads {
                    LossReads::Logits => Upstream::DZ(d_a.view()),
                    LossReads::Output => Upstream::DY(d_a.view()),
                };
                // Writes the gradients (no zeroing pass): each step starts from zero.
                mlp.backward(fwd, upstream, GradWrite::Overwrite);
                let norm = match config.clip_norm {
                    Some(max) => clip_grad_norm(mlp.grads_mut(), max),
                    None => global_norm(mlp.grads()),
                };
                if !norm.is_finite() {
                    return Err(non_finite(epoch, batch, NonFiniteKind::GradNorm, norm));
                }
                let (params, grads) = mlp.params_and_grads_mut();
                optimizer.step_lr(params, grads, lr);
                loss_sum += loss * nb as f64;
                rows_done += nb;
                max_norm = max_norm.max(norm);
                callback(&Event::Batch(BatchProgress {
                    epoch,
                    batch,
                    batches,
                    rows: nb,
                    loss,
                    running_loss: loss_sum / rows_done as f64,
                    lr,
                    grad_norm: norm,
                }));
            }
            let (val_loss, val_roc_auc, val_accuracy) = match (&mut val_eval, val) {
                (Some(ev), Some(v)) => {
                    let m = ev.evaluate(mlp, &config.loss, reads, v, b, &mut ws, epoch)?;
                    (Some(m.loss), m.roc_auc, Some(m.accuracy))
                }
                _ => (None, None, None),
            };
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / rows_done as f64,
                val_loss,
                val_roc_auc,
                val_accuracy,
                lr,
                steps: optimizer.step_count(),
                max_grad_norm: max_norm,
            };
            let stop = self.early_stopping_update(&record)?;
            self.history.epochs.push(record);
            self.history.seconds.push(started.elapsed().as_secs_f64());
            if let Some(last) = self.history.epochs.last() {
                callback(&Event::EpochEnd(last));
            }
            if let Some(stop) = stop {
                self.history.early_stop = Some(stop);
                if let Some(stop) = &self.history.early_stop {
                    callback(&Event::EarlyStop(stop));
                }
                break;
            }
        }
        Ok(())
    }

    /// (T9) Updates early stopping after `record`; returns the stop if training ends here
    /// (with the best weights put back when `restore_best`).
    fn early_stopping_update(
        &mut self,
        record: &EpochRecord,
    ) -> Result<Option<EarlyStop>, TrainError> {
        let Some(es) = self.config.early_stopping else {
            return Ok(None);
        };
        let value = es
            .monitor
            .value(record)
            .ok_or(TrainError::MonitorUndefined {
                monitor: es.monitor,
                epoch: record.epoch,
            })?;
        let st = &mut self.stopping;
        let improved = match st.best_value {
            None => true,
            Some(best) if es.monitor.maximise() => value > best + es.min_delta,
            Some(best) => value < best - es.min_delta,
        };
        if improved {
            st.best_value = Some(value);
            st.best_epoch = Some(record.epoch);
            st.wait = 0;
            if es.restore_best {
                let best = self.best_params.get_or_insert_with(Vec::new);
                best.clear();
                best.extend_from_slice(self.mlp.params());
            }
            return Ok(None);
        }
        st.wait += 1;
        if st.wait < es.patience {
            return Ok(None);
        }
        let (best_value, best_epoch) = (st.best_value.unwrap_or(value), st.best_epoch.unwrap_or(0));
        let restored_best = es.restore_best && self.restore_best();
        Ok(Some(EarlyStop {
            epoch: record.epoch,
            best_epoch,
            best_value,
            restored_best,
        }))
    }
}

fn non_finite(epoch: usize, batch: usize, what: NonFiniteKind, value: f64) -> TrainError {
    TrainError::NonFinite {
        epoch,
        batch,
        what,
        value,
    }
}

/// (T8) Appends the scores of one forward pass to `out` (see [`Trainer::scores`]).
fn push_scores<T: Float>(
    loss: LossKind,
    reads: LossReads,
    fwd: &glassbox_core::Forward<'_, T>,
    out: &mut Vec<f64>,
) {
    match (reads, loss) {
        (LossReads::Logits, LossKind::BceWithLogits) => {
            out.extend(
                fwd.logits()
                    .iter()
                    .map(|&z| Float::to_f64(glassbox_core::sigmoid(z))),
            );
        }
        (LossReads::Logits, _) => {
            // Softmax of each row of Z, in f64 (B12a, core's one softmax), in place.
            for row in fwd.logits().rows() {
                let start = out.len();
                out.extend(row.iter().map(|&z| Float::to_f64(z)));
                let softmax = SoftmaxRow::of(ArrayView1::from(&out[start..]));
                out[start..].iter_mut().for_each(|p| *p = softmax.prob(*p));
            }
        }
        (LossReads::Output, _) => out.extend(fwd.output().iter().map(|&y| Float::to_f64(y))),
    }
}

/// Validation results of one epoch.
struct ValMetrics {
    loss: f64,
    roc_auc: Option<f64>,
    accuracy: f64,
}

/// Buffers for validation, allocated once per [`Trainer::fit`].
struct Validation {
    /// Class of each row: `y > 0.5` for one output, the arg-max of the row otherwise.
    classes: Vec<usize>,
    /// For ROC-AUC: whether each row is positive (class 1); empty when O > 2.
    positive: Vec<bool>,
    /// Scores (N·O), refilled each epoch.
    scores: Vec<f64>,
    /// Positive-class scores (N) for ROC-AUC.
    pos_scores: Vec<f64>,
    outputs: usize,
}

impl Validation {
    fn new<T: Float>(val: &DataView<'_, T>, outputs: usize) -> Self {
        let classes: Vec<usize> = val
            .y
            .rows()
            .into_iter()
            .map(|r| argmax_or_threshold(r.iter().map(|&v| Float::to_f64(v))))
            .collect();
        let positive = if outputs <= 2 {
            classes.iter().map(|&c| c == 1).collect()
        } else {
            Vec::new()
        };
        Validation {
            classes,
            positive,
            scores: Vec::with_capacity(val.rows() * outputs),
            pos_scores: Vec::with_capacity(val.rows()),
            outputs,
        }
    }

    /// The validation loss (T7, in inference mode, batches of `b` rows in order), ROC-AUC
    /// and accuracy (T8).
    #[allow(clippy::too_many_arguments)]
    fn evaluate<T: Float>(
        &mut self,
        mlp: &Mlp<T>,
        loss: &LossConfig,
        reads: LossReads,
        val: &DataView<'_, T>,
        b: usize,
        ws: &mut Workspace<T>,
        epoch: usize,
    ) -> Result<ValMetrics, TrainError> {
        let n = val.rows();
        self.scores.clear();
        let mut sum = 0.0f64;
        for (batch, start) in (0..n).step_by(b).enumerate() {
            let end = (start + b).min(n);
            let fwd = mlp.forward(val.x.slice(s![start..end, ..]), Mode::Inference, ws);
            let read = match reads {
                LossReads::Logits => fwd.logits(),
                LossReads::Output => fwd.output(),
            };
            let l = loss.compute(
                read,
                val.y.slice(s![start..end, ..]),
                val.weights.map(|w| &w[start..end]),
                None,
            );
            if !l.is_finite() {
                return Err(non_finite(epoch, batch, NonFiniteKind::ValLoss, l));
            }
            sum += l * (end - start) as f64;
            push_scores(loss.kind, reads, &fwd, &mut self.scores);
        }
        let o = self.outputs;
        let mut correct = 0usize;
        for (i, &c) in self.classes.iter().enumerate() {
            let row = &self.scores[i * o..(i + 1) * o];
            if argmax_or_threshold(row.iter().copied()) == c {
                correct += 1;
            }
        }
        let roc_auc = if self.positive.is_empty() {
            None
        } else {
            self.pos_scores.clear();
            self.pos_scores
                .extend((0..n).map(|i| self.scores[i * o + (o - 1)]));
            match roc_auc(&self.positive, &self.pos_scores) {
                Ok(v) => Some(v),
                Err(MetricsError::SingleClass { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        };
        Ok(ValMetrics {
            loss: sum / n as f64,
            roc_auc,
            accuracy: correct as f64 / n as f64,
        })
    }
}

/// The class of a row of targets or scores: for one value, 1 if it is ≥ 0.5 (the
/// decision rule M1 at threshold ½; a 0/1 target maps to itself), else 0; for several,
/// the index of the largest (the first on ties).
fn argmax_or_threshold(row: impl Iterator<Item = f64>) -> usize {
    let mut best = (0usize, f64::NEG_INFINITY);
    let mut count = 0;
    let mut first = 0.0;
    for (i, v) in row.enumerate() {
        if i == 0 {
            first = v;
        }
        if v > best.1 {
            best = (i, v);
        }
        count += 1;
    }
    if count == 1 {
        usize::from(first >= 0.5)
    } else {
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_of_a_row() {
        assert_eq!(argmax_or_threshold([0.5].into_iter()), 1);
        assert_eq!(argmax_or_threshold([0.4999].into_iter()), 0);
        assert_eq!(argmax_or_threshold([0.2, 0.7, 0.1].into_iter()), 1);
        assert_eq!(argmax_or_threshold([0.5, 0.5].into_iter()), 0);
    }

    #[test]
    fn loss_and_last_layer_pairs() {
        use Activation::*;
        let ok = |k, a, o| loss_reads(k, a, o);
        assert_eq!(
            ok(LossKind::BceWithLogits, Sigmoid, 1),
            Ok(LossReads::Logits)
        );
        assert_eq!(
            ok(LossKind::BceWithLogits, Identity, 1),
            Ok(LossReads::Logits)
        );
        assert!(ok(LossKind::BceWithLogits, Relu, 1).is_err());
        assert!(ok(LossKind::BceWithLogits, Softmax, 2).is_err());
        assert_eq!(
            ok(LossKind::SoftmaxCrossEntropy, Softmax, 3),
            Ok(LossReads::Logits)
        );
        assert!(ok(LossKind::SoftmaxCrossEntropy, Softmax, 1).is_err());
        assert_eq!(ok(LossKind::BceKeras, Sigmoid, 1), Ok(LossReads::Output));
        assert!(ok(LossKind::BceKeras, Identity, 1).is_err());
        assert_eq!(ok(LossKind::Mse, Tanh, 2), Ok(LossReads::Output));
        let e = ok(LossKind::BceKeras, Relu, 1).unwrap_err();
        assert!(e.to_string().contains("needs a sigmoid last layer"), "{e}");
    }

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
