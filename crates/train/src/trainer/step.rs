//! One training step (T5–T6): the single function that the trainer runs on every batch, that
//! `benches/train_step.rs` times and that `examples/peer_runner.rs` races against the other
//! frameworks, so a speed figure always measures the shipped step.
//!
//! In this order, on a batch of n rows:
//! 1. `lr = schedule.lr_at(base_lr, t)` with `t` the optimizer steps taken (O15–O18);
//! 2. forward in training mode, dropout masks drawn from the caller's RNG (B20);
//! 3. the loss `L_b` of the batch and its gradient, written into a zeroed (n, O) buffer
//!    (L3–L14): from the logits Z of the last layer for [`LossInput::Logits`] losses, from
//!    its output Y otherwise; a non-finite `L_b` ends the step here;
//! 4. back-propagation that *writes* the parameter gradients (GEMM with β = 0, so no
//!    zeroing pass is needed) (B20b–B20d), summed over the batch's shards in order (T11);
//! 5. the global gradient norm ‖g‖, summed in f64, and the clipping of g when configured
//!    (O14); a non-finite ‖g‖ ends the step here, before the update;
//! 6. the optimizer's update with `lr` (O1–O13).
//!
//! With `TrainConfig::privacy` (DP-SGD, notes/privacy.md §12) steps 4 and 5 become: the
//! loss gradient times n (row i is then example i's own `∂ℓᵢ/∂out`), back-propagation with
//! each example's gradient clipped to C (P18–P21), and the Gaussian noise added to the sum
//! and divided by the expected batch size (P22–P23); the batch (sampled by the trainer) may
//! be empty.
//!
//! Nothing is allocated: the network computes in the [`Workspace`] of [`StepBuffers`], the
//! loss writes into its kept gradient buffer.

use glassbox_core::{Activation, Float, Mlp, Mode, Rng, ShardPlan, Upstream, Workspace};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

use super::{NonFiniteKind, TrainConfig, TrainError};
use crate::batching::Batch;
use crate::privacy::add_noise_and_average;
use crate::{LossConfig, LossInput, LossKind, Optimizer, clip_mlp_grad_norm};

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
/// - [`LossKind::Mse`] reads Y whatever the activation;
/// - a value loss ([`LossKind::value_head`]) reads Y of a linear layer of its head's width.
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
            LossKind::BceWithLogits | LossKind::Focal,
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
        // A value head (notes/value.md C4): its outputs are raw numbers, so a linear last
        // layer of the head's width.
        (LossInput::Values, _, _) => match loss.value_head() {
            Some(_) if last != Activation::Identity => {
                refuse("a value loss needs a linear last layer")
            }
            Some(head) if outputs != head.outputs() => match head.outputs() {
                1 => refuse("this value loss needs 1 output"),
                _ => refuse("the ZILN loss needs 3 outputs (logit, mu, sigma)"),
            },
            _ => Ok(LossReads::Output),
        },
    }
}

/// The buffers a training step writes, made once for batches of up to B rows.
#[derive(Debug)]
pub struct StepBuffers<T: Float> {
    /// The network's forward caches and backward scratch for B rows.
    ws: Workspace<T>,
    /// ∂L/∂Z (logits losses) or ∂L/∂Y (B, O) of the last layer; the first n rows are the
    /// batch's, the rest are left over.
    d_out: Array2<T>,
    /// Which output of the last layer the loss reads.
    reads: LossReads,
}

impl<T: Float> StepBuffers<T> {
    /// Buffers for training `mlp` with `loss` on batches of up to `batch_size` rows. Make them
    /// on the thread pool that will run the steps: the workspace reserves the GEMM kernel's
    /// buffers on every worker of the current pool, so no step allocates.
    ///
    /// # Errors
    /// [`TrainError::LossMismatch`] when `loss` cannot train `mlp`'s last layer (T5).
    pub fn new(mlp: &Mlp<T>, loss: LossKind, batch_size: usize) -> Result<Self, TrainError> {
        let spec = mlp.spec();
        let last = spec.layers[spec.layers.len() - 1].activation;
        let reads = loss_reads(loss, last, spec.outputs())?;
        Ok(StepBuffers {
            ws: mlp.workspace(batch_size),
            d_out: Array2::zeros((batch_size, spec.output_width())),
            reads,
        })
    }

    /// Grows the buffers to hold batches of `n` rows if they hold fewer (the only
    /// allocation): a Poisson-sampled batch can exceed the size they were made for.
    pub fn reserve_rows(&mut self, n: usize) {
        if n > self.d_out.nrows() {
            self.d_out = Array2::zeros((n, self.d_out.ncols()));
            self.ws.reserve_rows(n);
        }
    }

    /// The network's workspace, for passes between steps (validation, scoring).
    pub fn workspace(&mut self) -> &mut Workspace<T> {
        &mut self.ws
    }

    /// Which output of the last layer the loss reads.
    pub(crate) fn reads(&self) -> LossReads {
        self.reads
    }
}

/// What one training step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    /// The batch's loss `L_b` (training mode).
    pub loss: f64,
    /// The global gradient norm before clipping (O14).
    pub grad_norm: f64,
    /// The learning rate of the update.
    pub lr: f64,
}

/// A step stopped before the update: its loss or gradient norm was NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFiniteStep {
    /// Which number.
    pub what: NonFiniteKind,
    /// Its value.
    pub value: f64,
}

/// One training step on `batch` (n ≤ B rows): the six steps of the module doc, with the
/// loss, schedule and clipping of `config` and the caller's `optimizer` and `rng`. With
/// `config.privacy` (DP-SGD, notes/privacy.md §12) steps 4–5 become: back-propagation with
/// each example's gradient clipped to C (P18–P21), then Gaussian noise of standard deviation
/// σ·C drawn from `rng` and added to the sum, divided by the expected batch size (P23);
/// the reported norm is that of the privatised gradient, and an empty batch is a step too.
///
/// # Errors
/// [`NonFiniteStep`] when the loss (step 3) or the gradient norm (step 5) is not finite;
/// the parameters and the optimizer's state are then those before the step (the
/// gradients are not).
///
/// # Panics
/// If the batch has more rows than `buffers` were made for, or X or Y does not fit the
/// network.
pub fn train_step<T: Float>(
    config: &TrainConfig,
    mlp: &mut Mlp<T>,
    optimizer: &mut Optimizer<T>,
    rng: &mut Rng,
    batch: Batch<'_, T>,
    buffers: &mut StepBuffers<T>,
) -> Result<StepOutcome, NonFiniteStep> {
    let n = batch.x.nrows();
    let lr = config
        .schedule
        .lr_at(config.optimizer.lr(), optimizer.step_count() as usize);
    let StepBuffers { ws, d_out, reads } = buffers;
    let private = config.privacy.as_ref();
    let loss = if n == 0 && private.is_some() {
        // A Poisson-sampled batch may be empty; the noise is released all the same (P23).
        mlp.grads_mut().fill(T::zero());
        0.0
    } else {
        let fwd = mlp.forward(batch.x, Mode::Train(rng), ws);
        let mut d_a = d_out.slice_mut(s![..n, ..]);
        d_a.fill(T::zero());
        let read = match reads {
            LossReads::Logits => fwd.logits(),
            LossReads::Output => fwd.output(),
        };
        let k = mlp.spec().ensemble_k;
        let loss = members_loss(
            &config.loss,
            k,
            read,
            batch.y,
            batch.weights,
            Some(d_a.view_mut()),
        );
        if !loss.is_finite() {
            return Err(loss_failed(loss));
        }
        if let Some(dp) = private {
            // L_b is the mean of the rows' own losses ℓᵢ, so row i of n·∂L_b/∂out is
            // ∂ℓᵢ/∂out: the per-example gradient that clipping needs (P18–P21).
            let rows = T::from_f64(n as f64);
            d_a.mapv_inplace(|v| v * rows);
            let (reads, rule) = (*reads, dp.clip_rule());
            mlp.backward_clipped_by(fwd, upstream(reads, d_a.view()), dp.clip_norm, rule);
        } else {
            // Writes the gradients (no zeroing pass): each step starts from zero; summed by
            // shards (T11), the sum N MPI ranks form too (notes/distributed.md).
            mlp.backward_sharded(fwd, upstream(*reads, d_a.view()), ShardPlan::for_batch(n));
        }
        loss
    };
    let grad_norm = match private {
        Some(dp) => {
            let noise_std = dp.noise_multiplier * dp.clip_norm;
            // P23; returns ‖g̃‖
            add_noise_and_average(mlp.grads_mut(), noise_std, dp.expected_batch_size, rng)
        }
        None => clip_or_norm(config.clip_norm, mlp),
    };
    apply_update(mlp, optimizer, lr, loss, grad_norm)
}

/// (N20) The loss of a network of k members on its outputs `out` (N, k·O), member i at
/// columns i·O … i·O + O − 1, with targets `y` (N, ·) shared by the members: the mean of the
/// members' losses,
///
/// ```text
/// L = (1/k) Σ_i L(out_i, y),    ∂L/∂out_i = (1/k) ∂L(out_i, y)/∂out_i
/// ```
///
/// (TabM trains each member on its own loss; their mean makes one backward pass train all).
/// Members in order, each written into its columns of `d_out`, then scaled by 1/k. With
/// k = 1 exactly `loss.compute` (the same bits). The gradient check uses it too, so the
/// loss it checks is the one trained.
pub fn members_loss<T: Float>(
    loss: &LossConfig,
    k: usize,
    out: ArrayView2<T>,
    y: ArrayView2<T>,
    weights: Option<&[T]>,
    mut d_out: Option<ArrayViewMut2<T>>,
) -> f64 {
    if k <= 1 {
        return loss.compute(out, y, weights, d_out);
    }
    let o = out.ncols() / k;
    let mut sum = 0.0f64;
    for i in 0..k {
        let cols = s![.., i * o..(i + 1) * o];
        let d_i = d_out.as_mut().map(|d| d.slice_mut(cols));
        sum += loss.compute(out.slice(cols), y, weights, d_i);
    }
    if let Some(d) = d_out.as_mut() {
        let scale = T::from_f64(1.0 / k as f64);
        d.mapv_inplace(|v| v * scale);
    }
    sum / k as f64
}

/// Step 5 without privacy: ‖g‖ before clipping (T13, [`Mlp::grad_norm`]), g clipped to
/// `clip` when given (O14).
pub(crate) fn clip_or_norm<T: Float>(clip: Option<f64>, mlp: &mut Mlp<T>) -> f64 {
    match clip {
        Some(max) => clip_mlp_grad_norm(mlp, max),
        None => mlp.grad_norm(),
    }
}

/// The error of a step whose loss is not finite.
pub(crate) fn loss_failed(loss: f64) -> NonFiniteStep {
    NonFiniteStep {
        what: NonFiniteKind::Loss,
        value: loss,
    }
}

/// Step 6 after the check of step 5: the optimizer's update with `lr` when ‖g‖ is finite.
pub(crate) fn apply_update<T: Float>(
    mlp: &mut Mlp<T>,
    optimizer: &mut Optimizer<T>,
    lr: f64,
    loss: f64,
    grad_norm: f64,
) -> Result<StepOutcome, NonFiniteStep> {
    norm_is_finite(grad_norm)?;
    let (params, grads) = mlp.params_and_grads_mut();
    optimizer.step_lr(params, grads, lr);
    Ok(StepOutcome {
        loss,
        grad_norm,
        lr,
    })
}

/// The error of a step whose gradient norm is not finite (checked before the update).
pub(crate) fn norm_is_finite(grad_norm: f64) -> Result<(), NonFiniteStep> {
    if grad_norm.is_finite() {
        Ok(())
    } else {
        Err(NonFiniteStep {
            what: NonFiniteKind::GradNorm,
            value: grad_norm,
        })
    }
}

/// The upstream gradient of the last layer, as the loss reads it.
pub(crate) fn upstream<T>(reads: LossReads, d_a: ArrayView2<'_, T>) -> Upstream<'_, T> {
    match reads {
        LossReads::Logits => Upstream::DZ(d_a),
        LossReads::Output => Upstream::DY(d_a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
