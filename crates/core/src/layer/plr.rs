//! The PLR embedding layer kind of a network (notes/tabular.md §2, N3–N9; as a layer N10,
//! N13): each of D features through K periodic features and its own dense layer of H units
//! with ReLU, x (N, D) → y (N, D·H). The maths is in [`crate::tabular`]; this file says
//! where the layer's numbers live.
//!
//! - **Parameters**, its slice of the flat buffer: c (D, K), W (D, H, 2K), b (D, H) —
//!   named `layers.{l}.frequencies`, `layers.{l}.weight`, `layers.{l}.bias`; drawn by N6.
//! - **Buffers**, per row of a batch: p (D·2K), z and y (D·H) — the cache; the gradient
//!   buffer G (D·H), which holds ∂L/∂y, then δ (N5), in place; g = ∂L/∂v (D·K, N8).

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::{GradWrite, mat, mat_mut, push_tensors};
use crate::tabular::{
    plr_add_example_sq_norms, plr_delta, plr_forward, plr_input_gradient, plr_param_gradients,
};
use crate::{Float, PlrSpec, Rng, TensorInfo, scale_example_rows};

/// A PLR layer: its shape and where its parameters start in the flat buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PlrLayer {
    pub(crate) spec: PlrSpec,
    /// Offset of c in the flat buffer (W and b follow).
    pub(crate) offset: usize,
}

impl PlrLayer {
    pub(crate) fn params(&self) -> Range<usize> {
        self.offset..self.offset + self.spec.num_params()
    }

    /// `layers.{index}.frequencies` [D, K], `.weight` [D, H, 2K], `.bias` [D, H].
    pub(crate) fn tensors(&self, index: usize, out: &mut Vec<TensorInfo>) {
        let PlrSpec {
            features: d,
            frequencies: k,
            units: h,
            ..
        } = self.spec;
        push_tensors(
            index,
            self.offset,
            vec![
                ("frequencies", vec![d, k]),
                ("weight", vec![d, h, 2 * k]),
                ("bias", vec![d, h]),
            ],
            out,
        );
    }

    /// (N6) c ~ N(0, σ²), then W and b ~ U(±1/√(2K)), whatever the network's initialiser:
    /// the paper's initialisation of this layer.
    pub(crate) fn init<T: Float>(&self, params: &mut [T], rng: &mut Rng) {
        self.spec.init(params, rng);
    }

    pub(crate) fn buffers<T: Float>(&self) -> PlrBuffers<T> {
        PlrBuffers {
            spec: self.spec,
            periodic: Vec::new(),
            z: Vec::new(),
            y: Vec::new(),
            g: Vec::new(),
            g_phase: Vec::new(),
        }
    }

    pub(crate) fn fits<T>(&self, bufs: &PlrBuffers<T>) -> bool {
        bufs.spec == self.spec
    }

    /// (N3, N4) p, z and y into the buffers.
    pub(crate) fn forward<T: Float>(
        &self,
        params: &[T],
        input: ArrayView2<T>,
        bufs: &mut PlrBuffers<T>,
    ) {
        let PlrBuffers { periodic, z, y, .. } = bufs;
        plr_forward(&self.spec, params, input, periodic, z, y);
    }

    /// (N5, N8) G, holding ∂L/∂y for the first `n` rows, becomes δ; g is written.
    pub(crate) fn delta<T: Float>(&self, params: &[T], n: usize, bufs: &mut PlrBuffers<T>) {
        let PlrBuffers {
            periodic,
            z,
            g,
            g_phase,
            ..
        } = bufs;
        plr_delta(&self.spec, params, n, periodic, z, g, g_phase);
    }

    /// (N7, N9) The parameter gradients over the batch rows `rows`, from zero when `write`
    /// overwrites.
    pub(crate) fn param_gradients_rows<T: Float>(
        &self,
        grads: &mut [T],
        write: GradWrite,
        input: ArrayView2<T>,
        bufs: &PlrBuffers<T>,
        rows: Range<usize>,
    ) {
        if write == GradWrite::Overwrite {
            grads.fill(T::zero());
        }
        plr_param_gradients(
            &self.spec,
            input,
            &bufs.periodic,
            &bufs.g,
            &bufs.g_phase,
            rows,
            grads,
        );
    }

    /// (N13) Adds each example's squared gradient norm over c, W and b to `sq_norms` (N,).
    pub(crate) fn add_example_sq_norms<T: Float>(
        &self,
        input: ArrayView2<T>,
        bufs: &PlrBuffers<T>,
        sq_norms: &mut [f64],
    ) {
        plr_add_example_sq_norms(
            &self.spec,
            input,
            &bufs.periodic,
            &bufs.g,
            &bufs.g_phase,
            sq_norms,
        );
    }

    /// Scales example i's δ and g by `factors[i]` (N,) (P21: N7 and N9 are linear in both).
    pub(crate) fn scale_examples<T: Float>(&self, bufs: &mut PlrBuffers<T>, factors: &[f64]) {
        let n = factors.len();
        let (dh, dk) = (
            self.spec.outputs(),
            self.spec.features * self.spec.frequencies,
        );
        scale_example_rows(mat_mut(&mut bufs.g, n, dh), factors);
        scale_example_rows(mat_mut(&mut bufs.g_phase, n, dk), factors);
    }

    /// (N9) `∂L/∂input`, written into `d_input` (N, D), from g.
    pub(crate) fn input_gradient<T: Float>(
        &self,
        params: &[T],
        bufs: &PlrBuffers<T>,
        d_input: ArrayViewMut2<T>,
    ) {
        plr_input_gradient(&self.spec, params, &bufs.g_phase, d_input);
    }
}

/// A PLR layer's slice of the workspace, row-major for up to a capacity of rows.
#[derive(Clone, Debug)]
pub(crate) struct PlrBuffers<T> {
    spec: PlrSpec,
    /// p = [sin v, cos v] (N, D, 2K): ∂z/∂W, and ∂p/∂v for g.
    periodic: Vec<T>,
    /// z (N, D·H): ReLU′.
    z: Vec<T>,
    /// y = max(z, 0) (N, D·H), the next layer's input.
    y: Vec<T>,
    /// G (N, D·H): ∂L/∂y, then δ, in place.
    g: Vec<T>,
    /// g = ∂L/∂v (N, D·K): the frequencies' and the input's gradients.
    g_phase: Vec<T>,
}

impl<T: Float> PlrBuffers<T> {
    pub(crate) fn outputs(&self) -> usize {
        self.spec.outputs()
    }

    pub(crate) fn reserve_rows(&mut self, n: usize) {
        let s = self.spec;
        self.periodic
            .resize(n * s.features * 2 * s.frequencies, T::zero());
        self.z.resize(n * s.outputs(), T::zero());
        self.y.resize(n * s.outputs(), T::zero());
        self.g.resize(n * s.outputs(), T::zero());
        self.g_phase
            .resize(n * s.features * s.frequencies, T::zero());
    }

    pub(crate) fn output(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.y, n, self.outputs())
    }

    pub(crate) fn grad_mut(&mut self, n: usize) -> ArrayViewMut2<'_, T> {
        let h = self.outputs();
        mat_mut(&mut self.g, n, h)
    }

    pub(crate) fn grad(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.g, n, self.outputs())
    }

    pub(crate) fn z(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.z, n, self.outputs())
    }
}
