//! The per-feature scaling layer kind of a network: `y_nd = x_nd · s_d` (notes/tabular.md
//! §1, N1, N2; as a layer N10–N12), on the network's flat buffers. The maths is in
//! [`crate::tabular`]; this file says where the layer's numbers live.
//!
//! - **Parameters**, its slice of the flat buffer: s (D), named `layers.{l}.scale`,
//!   initialised to 1 (N11).
//! - **Buffers**, per row of a batch: the output Y (D) and the gradient buffer G (D), which
//!   holds ∂L/∂Y; the layer has no activation, so G is also its δ.

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2, s};

use super::{GradWrite, mat, mat_mut};
use crate::tabular::{
    feature_scale_add_example_sq_norms, feature_scale_forward_into, feature_scale_input_gradient,
    feature_scale_param_gradient,
};
use crate::{Float, TensorInfo, scale_example_rows};

/// A per-feature scaling layer: D features in and out, its scale s at `offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ScaleLayer {
    /// D, the width of its input and output.
    pub(crate) features: usize,
    /// Offset of s in the flat buffer.
    pub(crate) offset: usize,
}

impl ScaleLayer {
    /// s: D values from `offset`.
    pub(crate) fn params(&self) -> Range<usize> {
        self.offset..self.offset + self.features
    }

    /// `layers.{index}.scale` [D].
    pub(crate) fn tensors(&self, index: usize, out: &mut Vec<TensorInfo>) {
        out.push(TensorInfo {
            name: format!("layers.{index}.scale"),
            offset: self.offset,
            shape: vec![self.features],
        });
    }

    /// (N11) s = 1: the layer starts as the identity (RealMLP's initialisation); draws nothing.
    pub(crate) fn init<T: Float>(&self, params: &mut [T]) {
        params.fill(T::one());
    }

    pub(crate) fn buffers<T: Float>(&self) -> ScaleBuffers<T> {
        ScaleBuffers {
            features: self.features,
            y: Vec::new(),
            g: Vec::new(),
        }
    }

    pub(crate) fn fits<T>(&self, bufs: &ScaleBuffers<T>) -> bool {
        bufs.features == self.features
    }

    /// (N1) Y = X ⊙ s into the buffers.
    pub(crate) fn forward<T: Float>(
        &self,
        params: &[T],
        input: ArrayView2<T>,
        bufs: &mut ScaleBuffers<T>,
    ) {
        let n = input.nrows();
        feature_scale_forward_into(params, input, mat_mut(&mut bufs.y, n, self.features));
    }

    /// (N2) `d_s ⟵ Σ_n G_nd x_nd` over the batch rows `rows`, from zero when `write`
    /// overwrites, rows in increasing order.
    pub(crate) fn param_gradients_rows<T: Float>(
        &self,
        grads: &mut [T],
        write: GradWrite,
        input: ArrayView2<T>,
        bufs: &ScaleBuffers<T>,
        rows: Range<usize>,
    ) {
        if write == GradWrite::Overwrite {
            grads.fill(T::zero());
        }
        let g = mat(&bufs.g, input.nrows(), self.features);
        feature_scale_param_gradient(
            input.slice(s![rows.clone(), ..]),
            g.slice(s![rows, ..]),
            grads,
        );
    }

    /// (N12) Adds each example's squared gradient norm over s to `sq_norms` (N,).
    pub(crate) fn add_example_sq_norms<T: Float>(
        &self,
        input: ArrayView2<T>,
        bufs: &ScaleBuffers<T>,
        sq_norms: &mut [f64],
    ) {
        let n = input.nrows();
        feature_scale_add_example_sq_norms(input, mat(&bufs.g, n, self.features), sq_norms);
    }

    /// Scales row i of G by `factors[i]` (N,) (P21: every term of N2 is linear in G).
    pub(crate) fn scale_examples<T: Float>(&self, bufs: &mut ScaleBuffers<T>, factors: &[f64]) {
        scale_example_rows(mat_mut(&mut bufs.g, factors.len(), self.features), factors);
    }

    /// (N2) `∂L/∂input = G ⊙ s`, written into `d_input` (N, D).
    pub(crate) fn input_gradient<T: Float>(
        &self,
        params: &[T],
        bufs: &ScaleBuffers<T>,
        d_input: ArrayViewMut2<T>,
    ) {
        let n = d_input.nrows();
        feature_scale_input_gradient(params, mat(&bufs.g, n, self.features), d_input);
    }
}

/// A scaling layer's slice of the workspace: row-major (N, D) buffers.
#[derive(Clone, Debug)]
pub(crate) struct ScaleBuffers<T> {
    features: usize,
    /// Y = X ⊙ s, the next layer's input.
    y: Vec<T>,
    /// G: ∂L/∂Y (the layer's δ).
    g: Vec<T>,
}

impl<T: Float> ScaleBuffers<T> {
    pub(crate) fn features(&self) -> usize {
        self.features
    }

    pub(crate) fn reserve_rows(&mut self, n: usize) {
        for buf in [&mut self.y, &mut self.g] {
            buf.resize(n * self.features, T::zero());
        }
    }

    pub(crate) fn output(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.y, n, self.features)
    }

    pub(crate) fn grad_mut(&mut self, n: usize) -> ArrayViewMut2<'_, T> {
        mat_mut(&mut self.g, n, self.features)
    }

    pub(crate) fn grad(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.g, n, self.features)
    }
}
