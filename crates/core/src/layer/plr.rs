//! The PLR embedding layer kind of a network (notes/tabular.md §2, N3–N9; as a layer N10,
//! N13): each of D features through K periodic features and its own dense layer of H units
//! with ReLU, x (N, D) → y (N, D·H). The maths is in [`crate::tabular`]; this file says
//! where the layer's numbers live.
//!
//! - **Parameters**, its slice of the flat buffer: c (D, K), W (D, H, 2K), b (D, H) —
//!   named `layers.{l}.frequencies`, `layers.{l}.weight`, `layers.{l}.bias`; drawn by N6.
//! - **Buffers**, per row of a batch: p (D·2K), z and y (D·H) — the cache; the gradient
//!   buffer G (D·H), which holds ∂L/∂y, then δ (N5), in place; g = ∂L/∂v (D·K, N8).
//! - **A column set** S (N23–N25): with `columns`, D = |S| of the input's w columns are
//!   embedded and the other w − |S| pass through, y = [PLR(x_S), x_S̄]; the layer then also
//!   keeps x_S (N·D), the assembled output and its gradient buffer (N·(D·H + w − D)).

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::{GradWrite, mat, mat_mut, push_tensors};
use crate::tabular::{
    plr_add_example_sq_norms, plr_assemble, plr_delta, plr_forward, plr_gather, plr_input_gradient,
    plr_input_gradient_columns, plr_param_gradients,
};
use crate::{Float, PlrSpec, Rng, TensorInfo, scale_example_rows};

/// A PLR layer: its shape and where its parameters start in the flat buffer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlrLayer {
    /// The embedding's shape, D = |S|.
    pub(crate) spec: PlrSpec,
    /// Offset of c in the flat buffer (W and b follow).
    pub(crate) offset: usize,
    /// w, the width of the input rows (D when every column is embedded).
    pub(crate) width: usize,
    /// S, strictly increasing and below w (N23); `None` embeds every column.
    pub(crate) columns: Option<Vec<usize>>,
}

impl PlrLayer {
    /// The layer of `spec` at `offset` on `width` input columns, embedding `columns` (all
    /// when `None`).
    pub(crate) fn new(
        spec: PlrSpec,
        offset: usize,
        width: usize,
        columns: Option<&[usize]>,
    ) -> PlrLayer {
        let columns = columns.map(<[usize]>::to_vec);
        PlrLayer {
            spec,
            offset,
            width,
            columns,
        }
    }

    /// Width of the output rows: D·H, then the w − D columns passed through (N23).
    pub(crate) fn outputs(&self) -> usize {
        self.spec.outputs() + self.width - self.spec.features
    }

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
            select: self.columns.as_ref().map(|s| Selection::new(s, self.width)),
            periodic: Vec::new(),
            z: Vec::new(),
            y: Vec::new(),
            g: Vec::new(),
            g_phase: Vec::new(),
        }
    }

    pub(crate) fn fits<T>(&self, bufs: &PlrBuffers<T>) -> bool {
        bufs.spec == self.spec
            && bufs.select.as_ref().map(|s| (&s.columns, s.width))
                == self.columns.as_ref().map(|c| (c, self.width))
    }

    /// (N3, N4) p, z and y into the buffers; with a column set, (N23) x_S is gathered
    /// first and the output assembled as [y, x_S̄].
    pub(crate) fn forward<T: Float>(
        &self,
        params: &[T],
        input: ArrayView2<T>,
        bufs: &mut PlrBuffers<T>,
    ) {
        let PlrBuffers {
            select,
            periodic,
            z,
            y,
            ..
        } = bufs;
        let Some(sel) = select else {
            plr_forward(&self.spec, params, input, periodic, z, y);
            return;
        };
        let n = input.nrows();
        let d = sel.columns.len();
        plr_gather(input, &sel.columns, mat_mut(&mut sel.x_s, n, d));
        plr_forward(&self.spec, params, mat(&sel.x_s, n, d), periodic, z, y);
        let dh = self.spec.outputs();
        plr_assemble(
            mat(y, n, dh),
            input,
            &sel.passed,
            mat_mut(&mut sel.out, n, self.outputs()),
        );
    }

    /// (N5, N8) G, holding ∂L/∂y for the first `n` rows, becomes δ; g is written. With a
    /// column set, G's first D·H columns are taken from the assembled gradient buffer.
    pub(crate) fn delta<T: Float>(&self, params: &[T], n: usize, bufs: &mut PlrBuffers<T>) {
        let PlrBuffers {
            select,
            periodic,
            z,
            g,
            g_phase,
            ..
        } = bufs;
        if let Some(sel) = select {
            let dh = self.spec.outputs();
            let from = mat(&sel.d_out, n, self.outputs());
            mat_mut(g, n, dh).assign(&from.slice(ndarray::s![.., ..dh]));
        }
        plr_delta(&self.spec, params, n, periodic, z, g, g_phase);
    }

    /// The input the parameter gradients read: x_S when the layer has a column set.
    fn embedded<'a, T: Float>(
        &self,
        input: ArrayView2<'a, T>,
        bufs: &'a PlrBuffers<T>,
    ) -> ArrayView2<'a, T> {
        match &bufs.select {
            None => input,
            Some(sel) => mat(&sel.x_s, input.nrows(), sel.columns.len()),
        }
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
            self.embedded(input, bufs),
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
            self.embedded(input, bufs),
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

    /// (N9) `∂L/∂input`, written into `d_input` (N, w), from g; with a column set (N24,
    /// N25) into the columns of S, and the passed columns' gradient copied from the
    /// assembled gradient buffer.
    pub(crate) fn input_gradient<T: Float>(
        &self,
        params: &[T],
        bufs: &PlrBuffers<T>,
        d_input: ArrayViewMut2<T>,
    ) {
        let Some(sel) = &bufs.select else {
            plr_input_gradient(&self.spec, params, &bufs.g_phase, d_input);
            return;
        };
        let n = d_input.nrows();
        let d_out = mat(&sel.d_out, n, self.outputs());
        plr_input_gradient_columns(
            &self.spec,
            params,
            &bufs.g_phase,
            &sel.columns,
            &sel.passed,
            d_out,
            d_input,
        );
    }
}

/// The column set of a PLR layer's buffers (N23): S and S̄ with x_S, the assembled output
/// [y, x_S̄] and its gradient buffer.
#[derive(Clone, Debug)]
struct Selection<T> {
    /// w, the input's width.
    width: usize,
    /// S, strictly increasing.
    columns: Vec<usize>,
    /// S̄ = the other columns of the input, increasing.
    passed: Vec<usize>,
    /// x_S (N, D).
    x_s: Vec<T>,
    /// [y, x_S̄] (N, D·H + w − D): the next layer's input.
    out: Vec<T>,
    /// ∂L/∂[y, x_S̄] (N, D·H + w − D), written by the layer above.
    d_out: Vec<T>,
}

impl<T> Selection<T> {
    fn new(columns: &[usize], width: usize) -> Selection<T> {
        Selection {
            width,
            columns: columns.to_vec(),
            passed: (0..width)
                .filter(|c| columns.binary_search(c).is_err())
                .collect(),
            x_s: Vec::new(),
            out: Vec::new(),
            d_out: Vec::new(),
        }
    }

    /// D·H + w − D for `dh` = D·H.
    fn out_width(&self, dh: usize) -> usize {
        dh + self.passed.len()
    }
}

/// A PLR layer's slice of the workspace, row-major for up to a capacity of rows.
#[derive(Clone, Debug)]
pub(crate) struct PlrBuffers<T> {
    spec: PlrSpec,
    /// The column set and its buffers; `None` when every column is embedded.
    select: Option<Selection<T>>,
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
        let dh = self.spec.outputs();
        self.select.as_ref().map_or(dh, |s| s.out_width(dh))
    }

    pub(crate) fn reserve_rows(&mut self, n: usize) {
        let s = self.spec;
        let out = self.outputs();
        if let Some(sel) = &mut self.select {
            sel.x_s.resize(n * s.features, T::zero());
            sel.out.resize(n * out, T::zero());
            sel.d_out.resize(n * out, T::zero());
        }
        self.periodic
            .resize(n * s.features * 2 * s.frequencies, T::zero());
        self.z.resize(n * s.outputs(), T::zero());
        self.y.resize(n * s.outputs(), T::zero());
        self.g.resize(n * s.outputs(), T::zero());
        self.g_phase
            .resize(n * s.features * s.frequencies, T::zero());
    }

    /// What the next layer reads: y, or [y, x_S̄] with a column set.
    pub(crate) fn output(&self, n: usize) -> ArrayView2<'_, T> {
        match &self.select {
            None => mat(&self.y, n, self.outputs()),
            Some(sel) => mat(&sel.out, n, self.outputs()),
        }
    }

    /// Where the layer above writes ∂L/∂output: G, or the assembled buffer with a column set.
    pub(crate) fn grad_mut(&mut self, n: usize) -> ArrayViewMut2<'_, T> {
        let w = self.outputs();
        match &mut self.select {
            None => mat_mut(&mut self.g, n, w),
            Some(sel) => mat_mut(&mut sel.d_out, n, w),
        }
    }

    /// δ (N, D·H) once computed: the embedded units' only (the passed columns have none).
    pub(crate) fn grad(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.g, n, self.spec.outputs())
    }

    /// z (N, D·H), the embedded units' pre-activation.
    pub(crate) fn z(&self, n: usize) -> ArrayView2<'_, T> {
        mat(&self.z, n, self.spec.outputs())
    }
}
