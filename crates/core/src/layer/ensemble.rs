//! The BatchEnsemble layer kind of a network (notes/tabular.md §5, N14–N18; as a layer
//! N19–N21): k members share W and differ by r, s and b, each member's units followed by the
//! layer's activation, x (N, D or k·D) → y = f(z) (N, k·H). The maths is in
//! [`crate::batch_ensemble`]; this file says where the layer's numbers live.
//!
//! - **Parameters**, its slice of the flat buffer: W (H, D), r (k, D), s (k, H), b (k, H) —
//!   named `layers.{l}.weight`, `.r`, `.s`, `.bias`; drawn by N18.
//! - **Buffers**, per row of a batch: u (k·D) and t (k·H) — the op's cache, the rows of its
//!   GEMMs' (N·k)-row operands; z and y (k·H);
//!   the gradient buffer G (k·H), which holds ∂L/∂y, then δ = ∂L/∂z, in place; d_t (k·H)
//!   and d_u (k·D).

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::{GradAt, GradWrite, mat, mat_mut, push_tensors};
use crate::batch_ensemble::{
    ExampleParts, be_add_example_sq_norms, be_delta, be_forward, be_input_gradient,
    be_param_gradients, be_scale_examples,
};
use crate::gemm::kernel::Scratch;
use crate::{Activation, BatchEnsembleSpec, Float, Rng, TensorInfo, dense_gemm_scratch};

/// A BatchEnsemble layer: its shape, its element-wise activation and where its parameters
/// start in the flat buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct EnsembleLayer {
    pub(crate) spec: BatchEnsembleSpec,
    /// Offset of W in the flat buffer (r, s, b follow).
    pub(crate) offset: usize,
    /// Applied to every member's units (never softmax: the spec refuses it).
    pub(crate) activation: Activation,
}

impl EnsembleLayer {
    pub(crate) fn params(&self) -> Range<usize> {
        self.offset..self.offset + self.spec.num_params()
    }

    /// `layers.{index}.weight` [H, D], `.r` [k, D], `.s` [k, H], `.bias` [k, H].
    pub(crate) fn tensors(&self, index: usize, out: &mut Vec<TensorInfo>) {
        let BatchEnsembleSpec {
            members: k,
            inputs: d,
            units: h,
            ..
        } = self.spec;
        push_tensors(
            index,
            self.offset,
            vec![
                ("weight", vec![h, d]),
                ("r", vec![k, d]),
                ("s", vec![k, h]),
                ("bias", vec![k, h]),
            ],
            out,
        );
    }

    /// (N18) The layer's own initialisation, whatever the network's initialiser.
    pub(crate) fn init<T: Float>(&self, params: &mut [T], rng: &mut Rng) {
        self.spec.init(params, rng);
    }

    pub(crate) fn buffers<T: Float>(&self) -> EnsembleBuffers<T> {
        EnsembleBuffers {
            spec: self.spec,
            u: Vec::new(),
            t: Vec::new(),
            z: Vec::new(),
            y: Vec::new(),
            g: Vec::new(),
            d_t: Vec::new(),
            d_u: Vec::new(),
        }
    }

    pub(crate) fn fits<T>(&self, bufs: &EnsembleBuffers<T>) -> bool {
        bufs.spec == self.spec
    }

    /// (N14, N19) u, t, z by the op, then y = f(z).
    pub(crate) fn forward<T: Float>(
        &self,
        params: &[T],
        input: ArrayView2<T>,
        bufs: &mut EnsembleBuffers<T>,
    ) {
        let n = input.nrows();
        let w = self.spec.output_width();
        let EnsembleBuffers { u, t, z, y, .. } = bufs;
        be_forward(&self.spec, self.spec.split(params), input, u, t, z);
        self.activation.forward(mat(z, n, w), mat_mut(y, n, w)); // (N19)
    }

    /// (N19, N16, N17) G holds ∂L/∂y (`GradAt::Output`; through f′ to ∂L/∂z) or already
    /// ∂L/∂z (`GradAt::PreActivation`); then d_u from it, for the first `n` rows.
    pub(crate) fn delta<T: Float>(
        &self,
        params: &[T],
        n: usize,
        bufs: &mut EnsembleBuffers<T>,
        at: GradAt,
    ) {
        let w = self.spec.output_width();
        let EnsembleBuffers {
            z, y, g, d_t, d_u, ..
        } = bufs;
        if at == GradAt::Output {
            self.activation
                .backward_in_place(mat(z, n, w), mat(y, n, w), mat_mut(g, n, w)); // (N19)
        }
        be_delta(&self.spec, self.spec.split(params), n, g, d_t, d_u);
    }

    /// (N15–N17) The parameter gradients over the batch rows `rows`, from zero when `write`
    /// overwrites.
    pub(crate) fn param_gradients_rows<T: Float>(
        &self,
        grads: &mut [T],
        write: GradWrite,
        input: ArrayView2<T>,
        bufs: &EnsembleBuffers<T>,
        rows: Range<usize>,
    ) {
        be_param_gradients(
            &self.spec, input, &bufs.u, &bufs.t, &bufs.g, &bufs.d_t, &bufs.d_u, rows, write, grads,
        );
    }

    /// (P45) Adds each example's squared gradient norm over W, r, s and b to `sq_norms` (N,);
    /// G holds the per-example ∂ℓₙ/∂z, d_t and d_u their images, after [`EnsembleLayer::delta`].
    pub(crate) fn add_example_sq_norms<T: Float>(
        &self,
        input: ArrayView2<T>,
        bufs: &EnsembleBuffers<T>,
        sq_norms: &mut [f64],
    ) {
        let parts = ExampleParts {
            x: input,
            u: &bufs.u,
            t: &bufs.t,
            d_z: &bufs.g,
            d_t: &bufs.d_t,
            d_u: &bufs.d_u,
        };
        be_add_example_sq_norms(&self.spec, parts, sq_norms);
    }

    /// (P21) Scales example n's rows of G, d_t and d_u by `factors[n]` (N,).
    pub(crate) fn scale_examples<T: Float>(&self, bufs: &mut EnsembleBuffers<T>, factors: &[f64]) {
        let EnsembleBuffers { g, d_t, d_u, .. } = bufs;
        be_scale_examples(&self.spec, g, d_t, d_u, factors);
    }

    /// (N17) `∂L/∂input`, written into `d_input` (N, D or k·D), from d_u.
    pub(crate) fn input_gradient<T: Float>(
        &self,
        params: &[T],
        bufs: &EnsembleBuffers<T>,
        d_input: ArrayViewMut2<T>,
    ) {
        be_input_gradient(&self.spec, self.spec.split(params), &bufs.d_u, d_input);
    }
}

/// A BatchEnsemble layer's slice of the workspace, row-major for up to a capacity of rows.
#[derive(Clone, Debug)]
pub(crate) struct EnsembleBuffers<T> {
    spec: BatchEnsembleSpec,
    /// u = x ∘ r (N, k, D): ∂L/∂W.
    u: Vec<T>,
    /// t = u·Wᵀ (N, k, H): ∂L/∂s.
    t: Vec<T>,
    /// z (N, k·H): f′ for ReLU-like activations, and the logits of a fused loss.
    z: Vec<T>,
    /// y = f(z) (N, k·H): f′ for sigmoid-like activations, and the next layer's input.
    y: Vec<T>,
    /// G (N, k·H): ∂L/∂y, then δ = ∂L/∂z, in place.
    g: Vec<T>,
    /// d_t = δ ∘ s (N, k, H): ∂L/∂W.
    d_t: Vec<T>,
    /// d_u = Σ_h δ s W (N, k, D): ∂L/∂r and ∂L/∂x.
    d_u: Vec<T>,
}

impl<T: Float> EnsembleBuffers<T> {
    pub(crate) fn outputs(&self) -> usize {
        self.spec.output_width()
    }

    pub(crate) fn reserve_rows(&mut self, n: usize) {
        let (kd, kh) = (self.spec.members * self.spec.inputs, self.outputs());
        for (buf, width) in [
            (&mut self.u, kd),
            (&mut self.t, kh),
            (&mut self.z, kh),
            (&mut self.y, kh),
            (&mut self.g, kh),
            (&mut self.d_t, kh),
            (&mut self.d_u, kd),
        ] {
            buf.resize(n * width, T::zero());
        }
    }

    /// The three GEMMs of the layer for up to `n` rows: a Dense layer's products on the
    /// (n·k)-row replicated batch, in the same layouts ([`dense_gemm_scratch`]).
    pub(crate) fn gemm_scratch(&self, n: usize) -> Scratch {
        dense_gemm_scratch::<T>(n * self.spec.members, self.spec.inputs, self.spec.units)
    }

    pub(crate) fn output(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.y, n, self.outputs())
    }

    pub(crate) fn grad_mut(&mut self, n: usize) -> ArrayViewMut2<'_, T> {
        let w = self.outputs();
        mat_mut(&mut self.g, n, w)
    }

    pub(crate) fn grad(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.g, n, self.outputs())
    }

    pub(crate) fn z(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.z, n, self.outputs())
    }
}
