//! The layer kinds an [`Mlp`](crate::Mlp) is a sequence of (notes/design.md, "Layers").
//!
//! The network calls its layers in order — forward from the first to the last, backward
//! from the last to the first — and owns nothing else: the parameter buffer, the gradient
//! buffer, the order. Everything a layer kind computes sits in that kind's own file, side by
//! side:
//!
//! - **parameters**: how many, their names (`layers.{l}.…`), their initialisation — each
//!   layer owns one contiguous slice of the flat buffer and sees only that slice;
//! - **buffers**: its slice of the [`Workspace`](crate::Workspace), sized for a batch of up
//!   to N rows — what its forward keeps for its backward (its cache), its output, and its
//!   gradient buffer, which holds `∂L/∂output` when its backward starts;
//! - **forward**: input (N, in) → output (N, out);
//! - **backward**: from `∂L/∂output` in its gradient buffer to its parameter gradients,
//!   added or written ([`GradWrite`]);
//! - **input gradient**: `∂L/∂input`, from what backward left, written into the gradient
//!   buffer of the layer below (or the workspace's `∂L/∂X` for the first layer).
//!
//! `Layer` lists the kinds and `LayerBuffers` their buffers; each of their methods is one
//! `match` whose arms hand over to the kind's file. Those two enums are the only place a new
//! kind is named. Nothing here records operations for a later pass (no tape), and no
//! backward rule lives away from its forward.
//!
//! Kinds: Dense (`layer/dense.rs`: `f(X·Θᵀ + 1·bᵀ)`, optional inverted dropout on its output);
//! the input layers of tables (notes/tabular.md, N10), which may precede the Dense layers:
//! per-feature scaling (`layer/scale.rs`, `X ⊙ s`) and PLR embeddings (`layer/plr.rs`);
//! BatchEnsemble layers (`layer/ensemble.rs`, notes/tabular.md N19), which replace the Dense
//! layers of a network of k members.

pub(crate) mod dense;
pub(crate) mod ensemble;
pub(crate) mod plr;
pub(crate) mod scale;

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::gemm::kernel::Scratch;
use crate::{Float, Init, Rng, TensorInfo};
use dense::{DenseBuffers, DenseLayer};
use ensemble::{EnsembleBuffers, EnsembleLayer};
use plr::{PlrBuffers, PlrLayer};
use scale::{ScaleBuffers, ScaleLayer};

/// How a backward pass lands the parameter gradients in their buffers (notes/backprop.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradWrite {
    /// Add to what the buffer holds (GEMM with β = 1): two passes add two batch gradients,
    /// and zeroing is its own step — gradient accumulation over micro-batches, PyTorch's
    /// `.grad`. The reference form (STYLE.md habit 4).
    Accumulate,
    /// Write, never reading the old values (GEMM with β = 0): equal to zeroing then
    /// accumulating, with one pass over the buffer fewer — what a training step uses, as
    /// every step starts from zero. A departure from the reference form (notes/design.md):
    /// an exact −0.0 stays −0.0 where zeroing then adding makes it +0.0.
    Overwrite,
}

impl GradWrite {
    /// The GEMM's β: 1 to add, 0 to write.
    pub fn beta<T: Float>(self) -> T {
        match self {
            GradWrite::Accumulate => T::one(),
            GradWrite::Overwrite => T::zero(),
        }
    }

    /// The new value of a buffer element that holds `old`, given this pass's `grad`.
    pub fn apply<T: Float>(self, old: T, grad: T) -> T {
        match self {
            GradWrite::Accumulate => old + grad,
            GradWrite::Overwrite => grad,
        }
    }
}

/// What a layer's gradient buffer holds when its backward starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GradAt {
    /// `∂L/∂output`: what the layer above wrote, or the loss's `∂L/∂Ŷ`.
    Output,
    /// `∂L/∂Z` of the output activation, from a loss fused with it
    /// ([`crate::Upstream::DZ`]): the layer skips the activation's derivative.
    PreActivation,
}

/// One layer of a network: its kind, its shape and where its parameters sit. Holds no
/// numbers, so one description serves `f32` and `f64` alike.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Layer {
    Dense(DenseLayer),
    Scale(ScaleLayer),
    Plr(PlrLayer),
    Ensemble(EnsembleLayer),
}

impl Layer {
    /// Width of the input rows.
    pub(crate) fn inputs(&self) -> usize {
        match self {
            Layer::Dense(l) => l.inputs(),
            Layer::Scale(l) => l.features,
            Layer::Plr(l) => l.width,
            Layer::Ensemble(l) => l.spec.input_width(),
        }
    }

    /// Width of the output rows.
    pub(crate) fn outputs(&self) -> usize {
        match self {
            Layer::Dense(l) => l.outputs(),
            Layer::Scale(l) => l.features,
            Layer::Plr(l) => l.outputs(),
            Layer::Ensemble(l) => l.spec.output_width(),
        }
    }

    /// The layer's slice of the parameter (and gradient) buffer.
    pub(crate) fn params(&self) -> Range<usize> {
        match self {
            Layer::Dense(l) => l.params(),
            Layer::Scale(l) => l.params(),
            Layer::Plr(l) => l.params(),
            Layer::Ensemble(l) => l.params(),
        }
    }

    /// The named tensors of the layer's slice, layer `index` of the network.
    pub(crate) fn tensors(&self, index: usize, out: &mut Vec<TensorInfo>) {
        match self {
            Layer::Dense(l) => l.tensors(index, out),
            Layer::Scale(l) => l.tensors(index, out),
            Layer::Plr(l) => l.tensors(index, out),
            Layer::Ensemble(l) => l.tensors(index, out),
        }
    }

    /// Draws the layer's parameters (its slice) with `init` from `rng`; the input layers of
    /// tables have their own initialisation (N6, N11).
    pub(crate) fn init<T: Float>(&self, params: &mut [T], init: Init, rng: &mut Rng) {
        match self {
            Layer::Dense(l) => l.init(params, init, rng),
            Layer::Scale(l) => l.init(params),
            Layer::Plr(l) => l.init(params, rng),
            Layer::Ensemble(l) => l.init(params, rng),
        }
    }

    /// Empty buffers for this layer (grown by [`LayerBuffers::reserve_rows`]).
    pub(crate) fn buffers<T: Float>(&self) -> LayerBuffers<T> {
        match self {
            Layer::Dense(l) => LayerBuffers::Dense(l.buffers()),
            Layer::Scale(l) => LayerBuffers::Scale(l.buffers()),
            Layer::Plr(l) => LayerBuffers::Plr(l.buffers()),
            Layer::Ensemble(l) => LayerBuffers::Ensemble(l.buffers()),
        }
    }

    /// Whether `bufs` were made for a layer of this kind and shape.
    pub(crate) fn fits<T: Float>(&self, bufs: &LayerBuffers<T>) -> bool {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => l.fits(b),
            (Layer::Scale(l), LayerBuffers::Scale(b)) => l.fits(b),
            (Layer::Plr(l), LayerBuffers::Plr(b)) => l.fits(b),
            (Layer::Ensemble(l), LayerBuffers::Ensemble(b)) => l.fits(b),
            _ => false,
        }
    }

    /// Forward on `input` (N, in) with the layer's parameter slice, into its buffers.
    /// `rng` is given in training (dropout draws from it), `None` in inference.
    pub(crate) fn forward<T: Float>(
        &self,
        params: &[T],
        input: ArrayView2<T>,
        bufs: &mut LayerBuffers<T>,
        rng: Option<&mut Rng>,
    ) {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => l.forward(params, input, b, rng),
            (Layer::Scale(l), LayerBuffers::Scale(b)) => l.forward(params, input, b),
            (Layer::Plr(l), LayerBuffers::Plr(b)) => l.forward(params, input, b),
            (Layer::Ensemble(l), LayerBuffers::Ensemble(b)) => l.forward(params, input, b),
            _ => unreachable!("{}", MISMATCH),
        }
    }

    /// (B27) Adds the wide part `X·Wᵀ` to the pre-activation of this layer — the output
    /// layer, Dense whenever the wide term is allowed (k = 1) — and applies its activation
    /// again.
    pub(crate) fn add_wide<T: Float>(
        &self,
        x: ArrayView2<T>,
        w: ArrayView2<T>,
        bufs: &mut LayerBuffers<T>,
    ) {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => l.add_wide(x, w, b),
            _ => unreachable!("the wide term's output layer is Dense (the spec refuses k > 1)"),
        }
    }

    /// Backward from the gradient buffer (holding what `at` says) to the parameter
    /// gradients, when `grads` (the layer's slice of the gradient buffer) is given.
    /// `input` is the forward's input.
    pub(crate) fn backward<T: Float>(
        &self,
        params: &[T],
        grads: Option<(&mut [T], GradWrite)>,
        input: ArrayView2<T>,
        bufs: &mut LayerBuffers<T>,
        at: GradAt,
    ) {
        if let (Layer::Dense(l), LayerBuffers::Dense(b)) = (self, &mut *bufs) {
            return l.backward(params, grads, input, b, at);
        }
        self.delta(params, input.nrows(), bufs, at);
        if let Some((grads, write)) = grads {
            self.param_gradients(grads, write, input, bufs);
        }
    }

    /// The first half of [`Layer::backward`]: the gradient buffer, holding what `at` says
    /// for the first `n` rows, becomes the layer's δ = ∂L/∂(pre-activation).
    pub(crate) fn delta<T: Float>(
        &self,
        params: &[T],
        n: usize,
        bufs: &mut LayerBuffers<T>,
        at: GradAt,
    ) {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => l.delta(n, b, at),
            // No activation: the gradient buffer's ∂L/∂Y is already δ.
            (Layer::Scale(_), LayerBuffers::Scale(_)) => {}
            (Layer::Plr(l), LayerBuffers::Plr(b)) => l.delta(params, n, b),
            (Layer::Ensemble(l), LayerBuffers::Ensemble(b)) => l.delta(params, n, b, at),
            _ => unreachable!("{}", MISMATCH),
        }
    }

    /// The second half of [`Layer::backward`]: the parameter gradients from δ, added or
    /// written into `grads` (the layer's slice of the gradient buffer).
    pub(crate) fn param_gradients<T: Float>(
        &self,
        grads: &mut [T],
        write: GradWrite,
        input: ArrayView2<T>,
        bufs: &LayerBuffers<T>,
    ) {
        self.param_gradients_rows(grads, write, input, bufs, 0..input.nrows());
    }

    /// [`Layer::param_gradients`] over the batch rows `rows` only (one shard, T11).
    pub(crate) fn param_gradients_rows<T: Float>(
        &self,
        grads: &mut [T],
        write: GradWrite,
        input: ArrayView2<T>,
        bufs: &LayerBuffers<T>,
        rows: Range<usize>,
    ) {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => {
                l.param_gradients_rows(grads, write, input, b, rows)
            }
            (Layer::Scale(l), LayerBuffers::Scale(b)) => {
                l.param_gradients_rows(grads, write, input, b, rows)
            }
            (Layer::Plr(l), LayerBuffers::Plr(b)) => {
                l.param_gradients_rows(grads, write, input, b, rows)
            }
            (Layer::Ensemble(l), LayerBuffers::Ensemble(b)) => {
                l.param_gradients_rows(grads, write, input, b, rows)
            }
            _ => unreachable!("{}", MISMATCH),
        }
    }

    /// Adds each example's squared gradient norm over the layer's parameters to `sq_norms`
    /// (N,), from δ (notes/privacy.md §11).
    pub(crate) fn add_example_sq_norms<T: Float>(
        &self,
        input: ArrayView2<T>,
        bufs: &LayerBuffers<T>,
        sq_norms: &mut [f64],
    ) {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => l.add_example_sq_norms(input, b, sq_norms),
            (Layer::Scale(l), LayerBuffers::Scale(b)) => l.add_example_sq_norms(input, b, sq_norms),
            (Layer::Plr(l), LayerBuffers::Plr(b)) => l.add_example_sq_norms(input, b, sq_norms),
            (Layer::Ensemble(l), LayerBuffers::Ensemble(b)) => {
                l.add_example_sq_norms(input, b, sq_norms)
            }
            _ => unreachable!("{}", MISMATCH),
        }
    }

    /// (P21) Scales each example's δ by its clip factor, then writes the layer's parameter
    /// gradients from the scaled δ: `Σᵢ cᵢ·∂ℓᵢ/∂Θ` in one GEMM.
    pub(crate) fn clipped_param_gradients<T: Float>(
        &self,
        grads: &mut [T],
        input: ArrayView2<T>,
        bufs: &mut LayerBuffers<T>,
        factors: &[f64],
    ) {
        self.scale_examples(bufs, factors);
        self.param_gradients(grads, GradWrite::Overwrite, input, bufs);
    }

    /// Scales example i's δ by `factors[i]` (N,), before [`Layer::param_gradients`].
    pub(crate) fn scale_examples<T: Float>(&self, bufs: &mut LayerBuffers<T>, factors: &[f64]) {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => l.scale_examples(b, factors),
            (Layer::Scale(l), LayerBuffers::Scale(b)) => l.scale_examples(b, factors),
            (Layer::Plr(l), LayerBuffers::Plr(b)) => l.scale_examples(b, factors),
            (Layer::Ensemble(l), LayerBuffers::Ensemble(b)) => l.scale_examples(b, factors),
            _ => unreachable!("{}", MISMATCH),
        }
    }

    /// `∂L/∂input` (N, in), written into `d_input`, from what [`Layer::backward`] left.
    pub(crate) fn input_gradient<T: Float>(
        &self,
        params: &[T],
        bufs: &LayerBuffers<T>,
        d_input: ArrayViewMut2<T>,
    ) {
        match (self, bufs) {
            (Layer::Dense(l), LayerBuffers::Dense(b)) => l.input_gradient(params, b, d_input),
            (Layer::Scale(l), LayerBuffers::Scale(b)) => l.input_gradient(params, b, d_input),
            (Layer::Plr(l), LayerBuffers::Plr(b)) => l.input_gradient(params, b, d_input),
            (Layer::Ensemble(l), LayerBuffers::Ensemble(b)) => l.input_gradient(params, b, d_input),
            _ => unreachable!("{}", MISMATCH),
        }
    }
}

/// Why a layer and its buffers of another kind can never meet: a workspace is checked
/// against its network ([`Layer::fits`]) before every pass.
const MISMATCH: &str = "a layer met buffers of another kind (the workspace was checked)";

/// One layer's slice of the workspace, for batches of up to a capacity of rows.
#[derive(Clone, Debug)]
pub(crate) enum LayerBuffers<T> {
    Dense(DenseBuffers<T>),
    Scale(ScaleBuffers<T>),
    Plr(PlrBuffers<T>),
    Ensemble(EnsembleBuffers<T>),
}

impl<T: Float> LayerBuffers<T> {
    /// Grows every buffer to hold `n` rows (allocates only if it holds fewer).
    pub(crate) fn reserve_rows(&mut self, n: usize) {
        match self {
            LayerBuffers::Dense(b) => b.reserve_rows(n),
            LayerBuffers::Scale(b) => b.reserve_rows(n),
            LayerBuffers::Plr(b) => b.reserve_rows(n),
            LayerBuffers::Ensemble(b) => b.reserve_rows(n),
        }
    }

    /// The most GEMM scratch the layer's products need for up to `n` rows.
    pub(crate) fn gemm_scratch(&self, n: usize) -> Scratch {
        match self {
            LayerBuffers::Dense(b) => b.gemm_scratch(n),
            LayerBuffers::Ensemble(b) => b.gemm_scratch(n),
            // The input layers of tables call no GEMM.
            LayerBuffers::Scale(_) | LayerBuffers::Plr(_) => Scratch::default(),
        }
    }

    /// Width of the output rows.
    pub(crate) fn outputs(&self) -> usize {
        match self {
            LayerBuffers::Dense(b) => b.units(),
            LayerBuffers::Scale(b) => b.features(),
            LayerBuffers::Plr(b) => b.outputs(),
            LayerBuffers::Ensemble(b) => b.outputs(),
        }
    }

    /// What the next layer reads, (N, out), after a forward pass of `n` rows.
    pub(crate) fn output(&self, n: usize) -> ArrayView2<'_, T> {
        match self {
            LayerBuffers::Dense(b) => b.output(n),
            LayerBuffers::Scale(b) => b.output(n),
            LayerBuffers::Plr(b) => b.output(n),
            LayerBuffers::Ensemble(b) => b.output(n),
        }
    }

    /// The gradient buffer (N, out), which the layer above (or the loss) writes `∂L/∂output`
    /// into.
    pub(crate) fn grad_mut(&mut self, n: usize) -> ArrayViewMut2<'_, T> {
        match self {
            LayerBuffers::Dense(b) => b.grad_mut(n),
            LayerBuffers::Scale(b) => b.grad_mut(n),
            LayerBuffers::Plr(b) => b.grad_mut(n),
            LayerBuffers::Ensemble(b) => b.grad_mut(n),
        }
    }

    /// The gradient buffer (N, out): ∂L/∂Z once the layer's δ is computed.
    pub(crate) fn grad(&self, n: usize) -> ArrayView2<'_, T> {
        match self {
            LayerBuffers::Dense(b) => b.grad(n),
            LayerBuffers::Scale(b) => b.grad(n),
            LayerBuffers::Plr(b) => b.grad(n),
            LayerBuffers::Ensemble(b) => b.grad(n),
        }
    }

    /// The pre-activation (N, out) of the last forward pass.
    pub(crate) fn pre_activation(&self, n: usize) -> ArrayView2<'_, T> {
        match self {
            LayerBuffers::Dense(b) => b.z(n),
            LayerBuffers::Scale(b) => b.output(n),
            LayerBuffers::Plr(b) => b.z(n),
            LayerBuffers::Ensemble(b) => b.z(n),
        }
    }

    /// The activation's value (N, out) of the last forward pass, before dropout.
    pub(crate) fn activation_output(&self, n: usize) -> ArrayView2<'_, T> {
        match self {
            LayerBuffers::Dense(b) => b.y(n),
            LayerBuffers::Scale(b) => b.output(n),
            LayerBuffers::Plr(b) => b.output(n),
            LayerBuffers::Ensemble(b) => b.output(n),
        }
    }
}

/// Pushes tensors `layers.{index}.{name}` of the given shapes, laid out one after the
/// other from `offset` (a layer with several parameter tensors in its slice).
pub(crate) fn push_tensors(
    index: usize,
    mut offset: usize,
    shapes: Vec<(&str, Vec<usize>)>,
    out: &mut Vec<TensorInfo>,
) {
    for (name, shape) in shapes {
        let len: usize = shape.iter().product();
        out.push(TensorInfo {
            name: format!("layers.{index}.{name}"),
            offset,
            shape,
        });
        offset += len;
    }
}

/// The first `n·h` elements of `buf` as an (n, h) row-major view.
pub(crate) fn mat<T>(buf: &[T], n: usize, h: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((n, h), &buf[..n * h]).expect("slice holds n·h elements")
}

/// The first `n·h` elements of `buf` as an (n, h) row-major mutable view.
pub(crate) fn mat_mut<T>(buf: &mut [T], n: usize, h: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((n, h), &mut buf[..n * h]).expect("slice holds n·h elements")
}
