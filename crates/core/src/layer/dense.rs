//! The Dense layer kind of a network: `Aₗ = fₗ(A₍ₗ₋₁₎·Θₗᵀ + 1·bₗᵀ) ⊙ Mₗ`
//! (notes/backprop.md §1, §3, §5: B1–B6, B14–B16, B20), on the network's flat buffers.
//!
//! The maths on views is in [`crate::dense`]; this file says where a Dense layer's numbers
//! live and calls it in order.
//!
//! - **Parameters**, its slice of the flat buffer: Θ (H, D) row-major, then b (H) (B20a) —
//!   named `layers.{l}.weight` and `layers.{l}.bias` like a PyTorch `nn.Linear`.
//! - **Buffers**, per row of a batch: Z and Y (H each) — the cache; with dropout, the mask M
//!   and the dropped output A = Y ⊙ M (H each); the gradient buffer G (H), which holds
//!   ∂L/∂A (or ∂L/∂Y), then ∂L/∂Z, in place.

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut1, ArrayViewMut2, s};

use super::{GradAt, GradWrite, mat, mat_mut};
use crate::gemm::kernel::Scratch;
use crate::{
    Activation, Float, Init, Rng, TensorInfo, dense_add_example_sq_norms, dense_backward_input,
    dense_backward_params, dense_forward, dense_gemm_scratch, dropout_backward, dropout_forward,
    dropout_sample_mask, scale_example_rows, wide_forward_add,
};

/// A Dense layer of a network: D inputs, H units, the activation f, a drop probability, and
/// where its parameters start in the flat buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DenseLayer {
    /// D = Hₗ₋₁, the width of its input.
    pub(crate) inputs: usize,
    /// H = Hₗ, its units.
    pub(crate) units: usize,
    /// Offset of Θ in the flat buffer (b follows at `offset + H·D`).
    pub(crate) offset: usize,
    pub(crate) activation: Activation,
    /// Drop probability on its output in training; 0 = none.
    pub(crate) dropout: f64,
}

impl DenseLayer {
    pub(crate) fn inputs(&self) -> usize {
        self.inputs
    }

    pub(crate) fn outputs(&self) -> usize {
        self.units
    }

    /// Θ then b: `H·(D + 1)` values from `offset` (B20a).
    pub(crate) fn params(&self) -> Range<usize> {
        self.offset..self.offset + self.units * (self.inputs + 1)
    }

    /// Θ's range within the layer's slice; b takes the rest.
    fn theta_len(&self) -> usize {
        self.units * self.inputs
    }

    /// Θ (H, D) and b (H) of the layer's slice of the parameter buffer.
    pub(crate) fn theta_and_bias<'p, T>(&self, params: &'p [T]) -> (ArrayView2<'p, T>, &'p [T]) {
        let (theta, b) = params.split_at(self.theta_len());
        (mat(theta, self.units, self.inputs), b)
    }

    /// `layers.{index}.weight` [H, D], then `layers.{index}.bias` [H].
    pub(crate) fn tensors(&self, index: usize, out: &mut Vec<TensorInfo>) {
        out.push(TensorInfo {
            name: format!("layers.{index}.weight"),
            offset: self.offset,
            shape: vec![self.units, self.inputs],
        });
        out.push(TensorInfo {
            name: format!("layers.{index}.bias"),
            offset: self.offset + self.theta_len(),
            shape: vec![self.units],
        });
    }

    /// (B21–B23) Θ row-major, then b, drawn by `init` from `rng`.
    pub(crate) fn init<T: Float>(&self, params: &mut [T], init: Init, rng: &mut Rng) {
        let (theta, b) = params.split_at_mut(self.theta_len());
        init.fill(
            mat_mut(theta, self.units, self.inputs),
            ArrayViewMut1::from(b),
            rng,
        );
    }

    pub(crate) fn buffers<T: Float>(&self) -> DenseBuffers<T> {
        DenseBuffers {
            inputs: self.inputs,
            units: self.units,
            has_dropout: self.dropout > 0.0,
            dropped: false,
            z: Vec::new(),
            y: Vec::new(),
            mask: Vec::new(),
            a: Vec::new(),
            g: Vec::new(),
        }
    }

    pub(crate) fn fits<T>(&self, bufs: &DenseBuffers<T>) -> bool {
        bufs.inputs == self.inputs
            && bufs.units == self.units
            && bufs.has_dropout == (self.dropout > 0.0)
    }

    /// Forward (B1, B2), then in training with dropout (B14, B15): Z, Y and, dropped,
    /// M and A into the buffers. Draws a mask from `rng` only when given one and the layer
    /// has dropout (layer by layer, row-major).
    pub(crate) fn forward<T: Float>(
        &self,
        params: &[T],
        input: ArrayView2<T>,
        bufs: &mut DenseBuffers<T>,
        rng: Option<&mut Rng>,
    ) {
        let (n, h) = (input.nrows(), self.units);
        let (theta, b) = self.theta_and_bias(params);
        dense_forward(
            input,
            theta,
            b.into(),
            self.activation,
            mat_mut(&mut bufs.z, n, h),
            mat_mut(&mut bufs.y, n, h),
        );
        bufs.dropped = false;
        if self.dropout > 0.0
            && let Some(rng) = rng
        {
            dropout_sample_mask(self.dropout, rng, mat_mut(&mut bufs.mask, n, h));
            dropout_forward(
                mat(&bufs.y, n, h),
                mat(&bufs.mask, n, h),
                mat_mut(&mut bufs.a, n, h),
            );
            bufs.dropped = true;
        }
    }

    /// (B27) The wide part `X·Wᵀ` added to Z after [`DenseLayer::forward`], then Y = f(Z)
    /// again: the output layer of a network with the wide term (never dropped out there:
    /// the spec refuses dropout on the output layer).
    pub(crate) fn add_wide<T: Float>(
        &self,
        x: ArrayView2<T>,
        w: ArrayView2<T>,
        bufs: &mut DenseBuffers<T>,
    ) {
        let (n, h) = (x.nrows(), self.units);
        debug_assert!(!bufs.dropped, "the output layer has no dropout");
        wide_forward_add(x, w, mat_mut(&mut bufs.z, n, h));
        self.activation
            .forward(mat(&bufs.z, n, h), mat_mut(&mut bufs.y, n, h));
    }

    /// Backward to the parameter gradients: [`DenseLayer::delta`], then
    /// [`DenseLayer::param_gradients`] when `grads` is given. G is left holding ∂L/∂Z.
    pub(crate) fn backward<T: Float>(
        &self,
        params: &[T],
        grads: Option<(&mut [T], GradWrite)>,
        input: ArrayView2<T>,
        bufs: &mut DenseBuffers<T>,
        at: GradAt,
    ) {
        debug_assert_eq!(params.len(), self.params().len());
        let n = input.nrows();
        self.delta(n, bufs, at);
        if let Some((grads, write)) = grads {
            self.param_gradients(grads, write, input, bufs);
        }
    }

    /// G holds ∂L/∂A (`GradAt::Output`) — through (B16) to ∂L/∂Y if dropout ran, through
    /// (B3) to ∂L/∂Z — or already ∂L/∂Z (`GradAt::PreActivation`); afterwards it holds
    /// ∂L/∂Z (the δ of notes/privacy.md §11), for the first `n` rows.
    pub(crate) fn delta<T: Float>(&self, n: usize, bufs: &mut DenseBuffers<T>, at: GradAt) {
        let h = self.units;
        let DenseBuffers {
            z,
            y,
            mask,
            g,
            dropped,
            ..
        } = bufs;
        if at == GradAt::Output {
            if *dropped {
                dropout_backward(mat(mask, n, h), mat_mut(g, n, h)); // B16
            }
            self.activation
                .backward_in_place(mat(z, n, h), mat(y, n, h), mat_mut(g, n, h)); // B3
        }
    }

    /// (B4, B5) `d_Θ ⟵ Gᵀ·input`, `d_b ⟵ Gᵀ·1` into the layer's slice of the gradient
    /// buffer; G holds ∂L/∂Z after [`DenseLayer::delta`].
    pub(crate) fn param_gradients<T: Float>(
        &self,
        grads: &mut [T],
        write: GradWrite,
        input: ArrayView2<T>,
        bufs: &DenseBuffers<T>,
    ) {
        self.param_gradients_rows(grads, write, input, bufs, 0..input.nrows());
    }

    /// [`DenseLayer::param_gradients`] over the batch rows `rows` only: one shard's
    /// partial sum of B4, B5 (T11), from zero when `write` overwrites.
    pub(crate) fn param_gradients_rows<T: Float>(
        &self,
        grads: &mut [T],
        write: GradWrite,
        input: ArrayView2<T>,
        bufs: &DenseBuffers<T>,
        rows: Range<usize>,
    ) {
        let (n, h) = (input.nrows(), self.units);
        let (d_theta, d_b) = grads.split_at_mut(self.theta_len());
        let d_z = mat(&bufs.g, n, h);
        dense_backward_params(
            input.slice(s![rows.clone(), ..]),
            d_z.slice(s![rows, ..]),
            mat_mut(d_theta, h, self.inputs),
            ArrayViewMut1::from(d_b),
            write,
        ); // B4, B5
    }

    /// (P19) Adds each example's squared gradient norm over Θ and b to `sq_norms` (N,);
    /// G holds the per-example ∂ℓᵢ/∂Z after [`DenseLayer::delta`].
    pub(crate) fn add_example_sq_norms<T: Float>(
        &self,
        input: ArrayView2<T>,
        bufs: &DenseBuffers<T>,
        sq_norms: &mut [f64],
    ) {
        let n = input.nrows();
        dense_add_example_sq_norms(input, mat(&bufs.g, n, self.units), sq_norms);
    }

    /// (P21) Scales row i of G by `factors[i]` (N,).
    pub(crate) fn scale_examples<T: Float>(&self, bufs: &mut DenseBuffers<T>, factors: &[f64]) {
        scale_example_rows(mat_mut(&mut bufs.g, factors.len(), self.units), factors);
    }

    /// (B6) `∂L/∂input = G·Θ` (N, D), written into `d_input`; G holds ∂L/∂Z after
    /// [`DenseLayer::backward`].
    pub(crate) fn input_gradient<T: Float>(
        &self,
        params: &[T],
        bufs: &DenseBuffers<T>,
        d_input: ArrayViewMut2<T>,
    ) {
        let n = d_input.nrows();
        let (theta, _) = self.theta_and_bias(params);
        dense_backward_input(theta, mat(&bufs.g, n, self.units), d_input);
    }
}

/// A Dense layer's slice of the workspace: row-major (N, H) buffers for up to a capacity of
/// rows.
#[derive(Clone, Debug)]
pub(crate) struct DenseBuffers<T> {
    /// D: with H, the shape of the layer's products (for the GEMM scratch).
    inputs: usize,
    units: usize,
    /// Whether the layer has dropout (then `mask` and `a` are allocated).
    has_dropout: bool,
    /// Whether the last forward pass applied a mask (then the next layer read `a`).
    dropped: bool,
    /// Z: read by the derivative of ReLU-like activations, and the logits of a fused loss.
    z: Vec<T>,
    /// Y = f(Z): read by the derivative of sigmoid, tanh and softmax, and the next layer's
    /// input when no mask was applied.
    y: Vec<T>,
    /// M, the scaled mask (B14), read again by (B16).
    mask: Vec<T>,
    /// A = Y ⊙ M, the next layer's input when the mask was applied.
    a: Vec<T>,
    /// G: ∂L/∂A, then ∂L/∂Z, in place.
    g: Vec<T>,
}

impl<T: Float> DenseBuffers<T> {
    pub(crate) fn units(&self) -> usize {
        self.units
    }

    pub(crate) fn reserve_rows(&mut self, n: usize) {
        let len = n * self.units;
        for buf in [&mut self.z, &mut self.y, &mut self.g] {
            buf.resize(len, T::zero());
        }
        if self.has_dropout {
            self.mask.resize(len, T::zero());
            self.a.resize(len, T::zero());
        }
    }

    /// The three products of the layer for up to `n` rows with a row-major input
    /// ([`dense_gemm_scratch`]).
    pub(crate) fn gemm_scratch(&self, n: usize) -> Scratch {
        dense_gemm_scratch::<T>(n, self.inputs, self.units)
    }

    /// What the next layer reads: A if the mask was applied, else Y.
    pub(crate) fn output(&self, n: usize) -> ArrayView2<'_, T> {
        if self.dropped {
            mat(&self.a, n, self.units)
        } else {
            mat(&self.y, n, self.units)
        }
    }

    pub(crate) fn grad_mut(&mut self, n: usize) -> ArrayViewMut2<'_, T> {
        mat_mut(&mut self.g, n, self.units)
    }

    pub(crate) fn grad(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.g, n, self.units)
    }

    pub(crate) fn z(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.z, n, self.units)
    }

    pub(crate) fn y(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.y, n, self.units)
    }
}
