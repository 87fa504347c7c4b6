//! The trainer: mini-batch gradient descent over an [`Mlp`], with validation, early
//! stopping, a history and exact resumption (notes/training.md §2–§4, equations T5–T9).
//!
//! - `config`: [`TrainConfig`] (what a run is, as its manifest records it), the data a run
//!   reads ([`DataView`]) and why a run fails ([`TrainError`]);
//! - `step`: [`train_step`], the one training step (T5–T6) — forward, loss, backward that
//!   writes the gradients, the global gradient norm and clipping, the optimizer's update —
//!   called by the trainer on every batch and by the benches and the peer runner;
//! - `fit`: [`Trainer::fit`], the epoch loop around it (shuffling, batching, validation,
//!   early stopping) and the [`Event`]s it reports;
//! - this file: the [`Trainer`] itself and its scores (T8).
//!
//! A loss or gradient norm that is not finite ends training with [`TrainError::NonFinite`]
//! **before** the update. Every step runs inside one rayon pool (`TrainConfig::threads`),
//! started with flush-to-zero on every thread, and allocates nothing: batches are gathered
//! into preallocated buffers, the network computes in the workspace of [`StepBuffers`], the
//! loss writes into a kept gradient buffer.
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

mod config;
mod fit;
pub(crate) mod step;

pub use config::{DataView, EarlyStopping, Monitor, NonFiniteKind, TrainConfig, TrainError};
pub use fit::{BatchProgress, EarlyStoppingState, Event};
pub(crate) use step::{LossReads, loss_reads};
pub use step::{NonFiniteStep, StepBuffers, StepOutcome, members_loss, train_step};

use std::collections::BTreeMap;

use glassbox_core::{Float, Init, Mlp, MlpSpec, Mode, Rng, SoftmaxRow, seeded_rng};
use ndarray::{ArrayView1, ArrayView2, s};

use crate::distributed::Distributed;
use crate::history::History;
use crate::{LossKind, Optimizer};

/// The ChaCha8 stream of the trainer's RNG. [`Trainer::new`] draws the initial weights
/// from `seeded_rng(seed)` (stream 0) and shuffles and drops out from stream 1 of the same
/// seed, so the two never share a draw.
pub const TRAINER_STREAM: u64 = 1;

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
    /// The average of the iterates of a private run that averages them (P28), updated
    /// after every step.
    pub(crate) averaged: Option<Vec<T>>,
    /// Application data stored in checkpoints (e.g. the fitted preprocessor).
    pub(crate) extra: BTreeMap<String, String>,
    /// The other processes of a data-parallel run (notes/distributed.md), if any.
    pub(crate) distributed: Option<Distributed>,
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
        let mut optimizer = Optimizer::new(config.optimizer, mlp.num_params())?;
        // P31: a private Adam run may take the noise's variance off v̂ (DP-AdamBC).
        optimizer.set_noise_correction(config.privacy.and_then(|dp| dp.noise_correction()))?;
        let mut rng = seeded_rng(config.seed);
        rng.set_stream(TRAINER_STREAM);
        let averaged = config
            .privacy
            .and_then(|dp| dp.method.average_decay)
            .map(|_| mlp.params().to_vec());
        Ok(Trainer {
            averaged,
            config,
            mlp,
            optimizer,
            rng,
            history: History::default(),
            init,
            stopping: EarlyStoppingState::default(),
            best_params: None,
            extra: BTreeMap::new(),
            distributed: None,
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

    /// Runs every later step with the other processes of `dist` (notes/distributed.md):
    /// same bits as one process with [`Reduce::Exact`](crate::distributed::Reduce).
    ///
    /// # Errors
    /// [`TrainError::Config`] with DP-SGD or dropout, which a distributed step does not
    /// support (their random draws would have to be split across the ranks).
    pub fn set_distributed(&mut self, dist: Distributed) -> Result<(), TrainError> {
        let refuse = |reason: &str| TrainError::Config {
            field: "distributed",
            reason: reason.to_string(),
        };
        if self.config.privacy.is_some() {
            return Err(refuse("a distributed run cannot use DP-SGD"));
        }
        if self.mlp.spec().layers.iter().any(|l| l.dropout > 0.0) {
            return Err(refuse("a distributed run cannot use dropout"));
        }
        self.distributed = Some(dist);
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

    /// The average of the iterates (P28), when the private run averages them.
    pub fn averaged_params(&self) -> Option<&[T]> {
        self.averaged.as_deref()
    }

    /// Makes the average of the iterates the network's parameters (when the private run
    /// averages them; P28); returns whether it did. Training on from here starts from the
    /// average.
    pub fn use_average(&mut self) -> bool {
        match &self.averaged {
            Some(avg) => {
                self.mlp.params_mut().copy_from_slice(avg);
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
            let k = self.mlp.spec().ensemble_k;
            push_scores(self.config.loss.kind, self.reads(), k, &fwd, &mut out);
        }
        out
    }
}

/// (T8) Appends the scores of one forward pass to `out` (see [`Trainer::scores`]); for a
/// network of k > 1 members (N21), the mean of the members' scores, row by row, members in
/// order.
fn push_scores<T: Float>(
    loss: LossKind,
    reads: LossReads,
    k: usize,
    fwd: &glassbox_core::Forward<'_, T>,
    out: &mut Vec<f64>,
) {
    let read = match reads {
        LossReads::Logits => fwd.logits(),
        LossReads::Output => fwd.output(),
    };
    if k <= 1 {
        return push_member_scores(loss, reads, read, out);
    }
    // (N21) Each member's scores (N, O) in turn, summed into the rows of `out`, then / k.
    let (n, o) = (read.nrows(), read.ncols() / k);
    let start = out.len();
    out.resize(start + n * o, 0.0);
    let mut member = Vec::with_capacity(n * o);
    for i in 0..k {
        member.clear();
        push_member_scores(
            loss,
            reads,
            read.slice(s![.., i * o..(i + 1) * o]),
            &mut member,
        );
        out[start..]
            .iter_mut()
            .zip(&member)
            .for_each(|(a, b)| *a += b);
    }
    out[start..].iter_mut().for_each(|a| *a /= k as f64);
}

/// (T8) The scores of one network's (or one member's) output `read` (N, O): σ of the logits
/// for BCE, the softmax of each row for cross-entropy, Y as it is otherwise.
fn push_member_scores<T: Float>(
    loss: LossKind,
    reads: LossReads,
    read: ArrayView2<T>,
    out: &mut Vec<f64>,
) {
    match (reads, loss) {
        (LossReads::Logits, LossKind::BceWithLogits) => {
            out.extend(
                read.iter()
                    .map(|&z| Float::to_f64(glassbox_core::sigmoid(z))),
            );
        }
        (LossReads::Logits, _) => {
            // Softmax of each row of Z, in f64 (B12a, core's one softmax), in place.
            for row in read.rows() {
                let start = out.len();
                out.extend(row.iter().map(|&z| Float::to_f64(z)));
                let softmax = SoftmaxRow::of(ArrayView1::from(&out[start..]));
                out[start..].iter_mut().for_each(|p| *p = softmax.prob(*p));
            }
        }
        (LossReads::Output, _) => out.extend(read.iter().map(|&y| Float::to_f64(y))),
    }
}
