//! Layers for the numeric features of tables (notes/tabular.md, N1–N9): a learned scale per
//! feature (RealMLP, Holzmüller et al. 2024) and periodic embeddings with a per-feature
//! dense layer, PLR (Gorishniy, Rubachev & Babenko 2022). Each op's forward and backward sit
//! side by side; backward *adds* into caller-owned gradient buffers.
//!
//! Shapes: `N` rows, `D` features, `K` frequencies per feature, `H` embedding units per
//! feature. Parameters are flat row-major buffers, as the network's are.
//!
//! Determinism: threads split rows (forward, `∂L/∂X`) or features (parameter gradients), and
//! every sum over rows runs in increasing row order on one thread, so results are
//! bit-identical at any thread count (test `plr_is_bit_identical_at_1_2_and_7_threads`).

use std::ops::Range;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::gemm::kernel::on_widest_isa;
use crate::init::{uniform_symmetric, uniform01};
use crate::{Float, Rng};

mod plr_loops;
use plr_loops::{LANES, MAX_PHASES};

/// (N1) Per-feature scaling, forward: `y_nd = x_nd · s_d`. x (N, D), s (D) → y (N, D).
///
/// **Panics** if `s.len()` is not D.
pub fn feature_scale_forward<T: Float>(s: &[T], x: ArrayView2<T>) -> Array2<T> {
    let mut y = Array2::zeros(x.dim());
    feature_scale_forward_into(s, x, y.view_mut());
    y
}

/// (N1) [`feature_scale_forward`] into a caller-owned y (N, D).
///
/// **Panics** if `s.len()` is not D or y is not shaped like x.
pub fn feature_scale_forward_into<T: Float>(s: &[T], x: ArrayView2<T>, mut y: ArrayViewMut2<T>) {
    assert_eq!(
        s.len(),
        x.ncols(),
        "feature_scale: {} scales for {} features",
        s.len(),
        x.ncols()
    );
    assert_eq!(x.dim(), y.dim(), "feature_scale: y is not shaped like x");
    for (mut y_row, x_row) in y.rows_mut().into_iter().zip(x.rows()) {
        for ((yv, &xv), &sd) in y_row.iter_mut().zip(x_row).zip(s) {
            *yv = xv * sd; // (N1)
        }
    }
}

/// (N2) Per-feature scaling, backward: `d_s_d += Σ_n d_y_nd · x_nd` (summed in row order),
/// and returns `d_x_nd = d_y_nd · s_d` (N, D).
///
/// **Panics** if the shapes disagree.
pub fn feature_scale_backward<T: Float>(
    s: &[T],
    x: ArrayView2<T>,
    d_y: ArrayView2<T>,
    d_s: &mut [T],
) -> Array2<T> {
    feature_scale_param_gradient(x, d_y, d_s);
    let mut d_x = Array2::zeros(x.dim());
    feature_scale_input_gradient(s, d_y, d_x.view_mut());
    d_x
}

/// (N2) The scale's gradient over the rows of x and d_y (N, D): `d_s_d += Σ_n d_y_nd · x_nd`,
/// rows in increasing order.
///
/// **Panics** if the shapes disagree.
pub fn feature_scale_param_gradient<T: Float>(x: ArrayView2<T>, d_y: ArrayView2<T>, d_s: &mut [T]) {
    assert_eq!(
        x.dim(),
        d_y.dim(),
        "feature_scale: x and d_y differ in shape"
    );
    assert_eq!(
        d_s.len(),
        x.ncols(),
        "feature_scale: d_s has the wrong length"
    );
    for (x_row, dy_row) in x.rows().into_iter().zip(d_y.rows()) {
        for ((ds, &xv), &dy) in d_s.iter_mut().zip(x_row).zip(dy_row) {
            *ds += dy * xv; // (N2)
        }
    }
}

/// (N2) The input gradient `d_x_nd = d_y_nd · s_d`, written into d_x (N, D).
///
/// **Panics** if the shapes disagree.
pub fn feature_scale_input_gradient<T: Float>(
    s: &[T],
    d_y: ArrayView2<T>,
    mut d_x: ArrayViewMut2<T>,
) {
    assert_eq!(
        d_y.dim(),
        d_x.dim(),
        "feature_scale: d_x is not shaped like d_y"
    );
    assert_eq!(
        s.len(),
        d_y.ncols(),
        "feature_scale: s has the wrong length"
    );
    for (mut dx_row, dy_row) in d_x.rows_mut().into_iter().zip(d_y.rows()) {
        for ((dx, &dy), &sd) in dx_row.iter_mut().zip(dy_row).zip(s) {
            *dx = dy * sd; // (N2)
        }
    }
}

/// (N12) Adds each example's squared gradient norm over s to `sq_norms` (N,):
/// `Σ_d (d_y_nd · x_nd)²`, the square of row n's term of (N2).
pub fn feature_scale_add_example_sq_norms<T: Float>(
    x: ArrayView2<T>,
    d_y: ArrayView2<T>,
    sq_norms: &mut [f64],
) {
    for ((x_row, dy_row), sq) in x.rows().into_iter().zip(d_y.rows()).zip(sq_norms) {
        for (&xv, &dy) in x_row.iter().zip(dy_row) {
            let g = Float::to_f64(dy * xv);
            *sq += g * g; // (N12)
        }
    }
}

/// The shape of a PLR embedding: D features, K frequencies, H units per feature, and σ of
/// the frequencies' initial normal distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlrSpec {
    pub features: usize,
    pub frequencies: usize,
    pub units: usize,
    pub sigma: f64,
}

/// PLR parameters. `freq` c (D, K); `weight` W (D, H, 2K), row `h` of feature d holding
/// the weights on `[sin(v_d1..K), cos(v_d1..K)]`; `bias` b (D, H).
#[derive(Clone, Debug, PartialEq)]
pub struct Plr<T> {
    pub spec: PlrSpec,
    pub freq: Vec<T>,
    pub weight: Vec<T>,
    pub bias: Vec<T>,
}

/// Gradients of a [`Plr`], same layout; backward adds into them.
#[derive(Clone, Debug, PartialEq)]
pub struct PlrGrads<T> {
    pub d_freq: Vec<T>,
    pub d_weight: Vec<T>,
    pub d_bias: Vec<T>,
}

/// What [`Plr::forward`] keeps for [`Plr::backward`].
#[derive(Clone, Debug)]
pub struct PlrCache<T> {
    /// The input x (N, D): ∂v/∂c needs it.
    x: Array2<T>,
    /// sin v, cos v per (n, d): (N, D, 2K) flat — ∂z/∂W, and cos/sin are ∂(sin, cos)/∂v.
    periodic: Vec<T>,
    /// The pre-activation z (N, D·H): ReLU′.
    z: Vec<T>,
}

/// 2π as `T`.
fn two_pi<T: Float>() -> T {
    T::from_f64(std::f64::consts::TAU)
}

/// (N6) One draw of N(0, 1) by Box–Muller from two uniforms of `rng`: √(−2 ln u₁)·cos(2πu₂),
/// with u₁ in (0, 1] so the logarithm is finite.
fn standard_normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - uniform01(rng);
    let u2 = uniform01(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl PlrSpec {
    /// Parameters of the embedding: c (D·K), W (D·H·2K), b (D·H), in that order in a flat
    /// buffer.
    pub fn num_params(&self) -> usize {
        let (d, k, h) = (self.features, self.frequencies, self.units);
        d * k + d * h * 2 * k + d * h
    }

    /// Width of the output rows, D·H.
    pub fn outputs(&self) -> usize {
        self.features * self.units
    }

    /// c, W and b of a flat parameter slice laid out as [`PlrSpec::num_params`] says.
    pub fn split<'p, T>(&self, params: &'p [T]) -> (&'p [T], &'p [T], &'p [T]) {
        let (d, k, h) = (self.features, self.frequencies, self.units);
        let (freq, rest) = params.split_at(d * k);
        let (weight, bias) = rest.split_at(d * h * 2 * k);
        (freq, weight, &bias[..d * h])
    }

    /// [`PlrSpec::split`], mutable.
    pub fn split_mut<'p, T>(&self, params: &'p mut [T]) -> (&'p mut [T], &'p mut [T], &'p mut [T]) {
        let (d, k, h) = (self.features, self.frequencies, self.units);
        let (freq, rest) = params.split_at_mut(d * k);
        let (weight, bias) = rest.split_at_mut(d * h * 2 * k);
        (freq, weight, &mut bias[..d * h])
    }

    /// (N6) Initialisation of a flat parameter slice: c_dk ~ N(0, σ²) (the paper's choice,
    /// σ a hyper-parameter), W and b ~ U(±1/√(2K)) as PyTorch's `nn.Linear` with fan-in 2K.
    /// Draws c, then W, then b.
    pub fn init<T: Float>(&self, params: &mut [T], rng: &mut Rng) {
        let bound = 1.0 / ((2 * self.frequencies) as f64).sqrt();
        let (freq, weight, bias) = self.split_mut(params);
        for c in freq {
            *c = T::from_f64(self.sigma * standard_normal(rng));
        }
        for w in weight.iter_mut().chain(bias.iter_mut()) {
            *w = T::from_f64(uniform_symmetric(bound, rng));
        }
    }
}

/// Forward of a PLR embedding with parameters `params` (laid out as [`PlrSpec::split`]),
/// x (N, D) → y (N, D·H), feature d's units at columns d·H … d·H + H − 1:
///
/// ```text
/// (N3)  v_ndk = 2π c_dk x_nd,     p_nd = [sin v_nd1 … sin v_ndK, cos v_nd1 … cos v_ndK]
/// (N4)  z_ndh = Σ_j W_dhj p_ndj + b_dh,     y_ndh = max(z_ndh, 0)
/// ```
///
/// Writes p (N·D·2K), z and y (N·D·H each, row-major) into the first N rows' worth of the
/// given buffers. Threads split rows.
///
/// **Panics** if x does not have D columns, K or H is 0, or a buffer is too short.
pub fn plr_forward<T: Float>(
    spec: &PlrSpec,
    params: &[T],
    x: ArrayView2<T>,
    periodic: &mut [T],
    z: &mut [T],
    y: &mut [T],
) {
    let PlrSpec {
        features: d_n,
        frequencies: k_n,
        units: h_n,
        ..
    } = *spec;
    assert_eq!(
        x.ncols(),
        d_n,
        "plr: {} columns for {d_n} features",
        x.ncols()
    );
    assert!(k_n > 0 && h_n > 0, "plr: K and H must be positive");
    let n = x.nrows();
    let (freq, weight, bias) = spec.split(params);
    let (p_len, dh) = ((d_n * 2 * k_n).max(1), (d_n * h_n).max(1));
    let shuffle = plr_loops::Shuffle::for_phases::<T>(2 * k_n);
    periodic[..n * d_n * 2 * k_n]
        .par_chunks_mut(p_len * ROWS_PER_TASK)
        .zip(z[..n * d_n * h_n].par_chunks_mut(dh * ROWS_PER_TASK))
        .zip(y[..n * d_n * h_n].par_chunks_mut(dh * ROWS_PER_TASK))
        .enumerate()
        .for_each(|(block, ((p_rows, z_rows), y_rows))| {
            on_widest_isa(
                #[inline(always)]
                || {
                    let first = block * ROWS_PER_TASK;
                    let rows = ROWS_PER_TASK.min(n - first);
                    // (N28) Blocks of LANES rows side by side, then the rest row by row:
                    // the same sums either way.
                    let blocked = if d_n == 0 || 2 * k_n > MAX_PHASES {
                        0
                    } else {
                        rows / LANES * LANES
                    };
                    let mut lanes = [[T::zero(); LANES]; MAX_PHASES];
                    for r in (0..blocked).step_by(LANES) {
                        plr_loops::forward_rows(
                            shuffle,
                            (k_n, h_n),
                            freq,
                            weight,
                            bias,
                            x.slice(ndarray::s![first + r..first + r + LANES, ..]),
                            &mut p_rows[r * p_len..(r + LANES) * p_len],
                            &mut z_rows[r * dh..(r + LANES) * dh],
                            &mut y_rows[r * dh..(r + LANES) * dh],
                            &mut lanes,
                        );
                    }
                    let rows = p_rows[blocked * p_len..]
                        .chunks_mut(p_len)
                        .zip(z_rows[blocked * dh..].chunks_mut(dh))
                        .zip(y_rows[blocked * dh..].chunks_mut(dh));
                    for (i, ((p_row, z_row), y_row)) in rows.enumerate() {
                        let x_row = x.row(first + blocked + i);
                        forward_row(spec, freq, weight, bias, x_row, p_row, z_row, y_row);
                    }
                },
            );
        });
}

/// Rows per task of the row-parallel PLR loops: each row's numbers are computed alone, so
/// the split changes no bits; blocks keep small batches from paying a task per row.
const ROWS_PER_TASK: usize = 64;

/// (N3, N4) One row of [`plr_forward`]: per feature, the phases (N26), then z_d summed in
/// increasing j with its partial sums in registers (N27, [`plr_loops::forward_feature`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_row<T: Float>(
    spec: &PlrSpec,
    freq: &[T],
    weight: &[T],
    bias: &[T],
    x_row: ndarray::ArrayView1<T>,
    p_row: &mut [T],
    z_row: &mut [T],
    y_row: &mut [T],
) {
    let (k_n, h_n) = (spec.frequencies, spec.units);
    let feats = p_row
        .chunks_exact_mut(2 * k_n)
        .zip(z_row.chunks_exact_mut(h_n))
        .zip(y_row.chunks_exact_mut(h_n))
        .zip(freq.chunks_exact(k_n))
        .zip(weight.chunks_exact(2 * k_n * h_n))
        .zip(bias.chunks_exact(h_n))
        .zip(x_row);
    for ((((((p, z_d), y_d), c_d), w_d), b_d), &xv) in feats {
        plr_loops::phases(c_d, xv, p); // (N3, N26)
        plr_loops::forward_feature(p, w_d, b_d, z_d, y_d); // (N4, N27)
    }
}

/// Backward, first step, for `n` rows: `delta` holds ∂L/∂y (n, D·H) and becomes δ in place;
/// g (n, D·K) is written:
///
/// ```text
/// (N5)  δ_ndh = d_y_ndh · [z_ndh > 0]                     (ReLU′(0) = 0)
/// (N8)  g_ndk = Σ_h δ_ndh (W_dh,k cos v_ndk − W_dh,K+k sin v_ndk)   (= ∂L/∂v_ndk)
/// ```
///
/// `periodic` and `z` are what [`plr_forward`] wrote. Threads split rows.
pub fn plr_delta<T: Float>(
    spec: &PlrSpec,
    params: &[T],
    n: usize,
    periodic: &[T],
    z: &[T],
    delta: &mut [T],
    g: &mut [T],
) {
    let PlrSpec {
        features: d_n,
        frequencies: k_n,
        units: h_n,
        ..
    } = *spec;
    let (_, weight, _) = spec.split(params);
    let (dh, dk) = ((d_n * h_n).max(1), (d_n * k_n).max(1));
    delta[..n * d_n * h_n]
        .par_chunks_mut(dh * ROWS_PER_TASK)
        .zip(g[..n * d_n * k_n].par_chunks_mut(dk * ROWS_PER_TASK))
        .zip(periodic[..n * d_n * 2 * k_n].par_chunks(d_n * 2 * k_n * ROWS_PER_TASK))
        .zip(z[..n * d_n * h_n].par_chunks(dh * ROWS_PER_TASK))
        .for_each(|(((delta_rows, g_rows), p_rows), z_rows)| {
            on_widest_isa(
                #[inline(always)]
                || {
                    let rows = delta_rows
                        .chunks_mut(dh)
                        .zip(g_rows.chunks_mut(dk))
                        .zip(p_rows.chunks(d_n * 2 * k_n))
                        .zip(z_rows.chunks(dh));
                    for (((delta_row, g_row), p_row), z_row) in rows {
                        delta_row_of(spec, weight, p_row, z_row, delta_row, g_row);
                    }
                },
            );
        });
}

/// (N5, N8) One row of [`plr_delta`]: per feature, g_d summed in increasing h with its
/// partial sums in registers (N27, [`plr_loops::delta_feature`]).
#[inline(always)]
fn delta_row_of<T: Float>(
    spec: &PlrSpec,
    weight: &[T],
    p_row: &[T],
    z_row: &[T],
    delta_row: &mut [T],
    g_row: &mut [T],
) {
    let (k_n, h_n) = (spec.frequencies, spec.units);
    for (dl, &zv) in delta_row.iter_mut().zip(z_row) {
        if zv <= T::zero() {
            *dl = T::zero(); // (N5) ReLU′(0) = 0, as PyTorch
        }
    }
    if k_n == 0 || h_n == 0 {
        g_row.fill(T::zero());
        return;
    }
    let feats = g_row
        .chunks_exact_mut(k_n)
        .zip(delta_row.chunks_exact(h_n))
        .zip(p_row.chunks_exact(2 * k_n))
        .zip(weight.chunks_exact(h_n * 2 * k_n));
    for (((g_d, delta_d), p), w_d) in feats {
        plr_loops::delta_feature(p, w_d, delta_d, g_d); // (N8, N27)
    }
}

/// (N9) The input gradient `d_x_nd = Σ_k g_ndk 2π c_dk`, written into d_x (N, D), from the g
/// of [`plr_delta`]. Threads split rows.
pub fn plr_input_gradient<T: Float>(spec: &PlrSpec, params: &[T], g: &[T], d_x: ArrayViewMut2<T>) {
    let columns: Vec<usize> = (0..spec.features).collect();
    input_gradient_rows(spec, params, g, &columns, &[], None, d_x);
}

/// (N9, N24, N25) `d_x_n,S_j = Σ_k g_njk 2π c_jk` for S = `columns`, and, given `d_out`,
/// `d_x_n,S̄_m = d_out_n,DH+m` for S̄ = `passed`. Threads split rows in blocks.
fn input_gradient_rows<T: Float>(
    spec: &PlrSpec,
    params: &[T],
    g: &[T],
    columns: &[usize],
    passed: &[usize],
    d_out: Option<ArrayView2<T>>,
    mut d_x: ArrayViewMut2<T>,
) {
    let (d_n, k_n, dh) = (spec.features, spec.frequencies, spec.outputs());
    let (freq, _, _) = spec.split(params);
    d_x.axis_chunks_iter_mut(ndarray::Axis(0), ROWS_PER_TASK)
        .into_par_iter()
        .enumerate()
        .for_each(|(block, mut dx_rows)| {
            for (i, mut dx_row) in dx_rows.rows_mut().into_iter().enumerate() {
                let row = block * ROWS_PER_TASK + i;
                for (d, &col) in columns.iter().enumerate() {
                    let mut dx = T::zero();
                    for k in 0..k_n {
                        // (N9, N24)
                        dx += g[(row * d_n + d) * k_n + k] * two_pi::<T>() * freq[d * k_n + k];
                    }
                    dx_row[col] = dx;
                }
                if let Some(d_out) = d_out {
                    for (m, &col) in passed.iter().enumerate() {
                        dx_row[col] = d_out[[row, dh + m]]; // (N25)
                    }
                }
            }
        });
}

/// (N23) The embedded columns of x (N, w): `x_s[n, j] = x[n, S_j]` for S = `columns`.
/// Element-wise, so any order gives the same bits.
///
/// **Panics** if a column is out of range or x_s is not (N, |S|).
pub fn plr_gather<T: Float>(x: ArrayView2<T>, columns: &[usize], mut x_s: ArrayViewMut2<T>) {
    assert_eq!(
        x_s.dim(),
        (x.nrows(), columns.len()),
        "plr: x_S has the wrong shape"
    );
    for (mut to, from) in x_s.rows_mut().into_iter().zip(x.rows()) {
        for (t, &c) in to.iter_mut().zip(columns) {
            *t = from[c];
        }
    }
}

/// (N23) The layer's output with a column set: `out_n = [y_n, x_n,S̄]`, the D·H embedding
/// units first, then the passed columns `passed` = S̄ of x (N, w) in increasing order.
///
/// **Panics** if the shapes disagree.
pub fn plr_assemble<T: Float>(
    y: ArrayView2<T>,
    x: ArrayView2<T>,
    passed: &[usize],
    mut out: ArrayViewMut2<T>,
) {
    let dh = y.ncols();
    assert_eq!(
        out.dim(),
        (y.nrows(), dh + passed.len()),
        "plr: output shape"
    );
    assert_eq!(x.nrows(), y.nrows(), "plr: x and y differ in rows");
    for ((mut o, y_row), x_row) in out.rows_mut().into_iter().zip(y.rows()).zip(x.rows()) {
        for (t, &v) in o.iter_mut().zip(y_row) {
            *t = v;
        }
        for (t, &c) in o.iter_mut().skip(dh).zip(passed) {
            *t = x_row[c];
        }
    }
}

/// The input gradient of a PLR layer with a column set S (N, w), from g of [`plr_delta`]
/// and the gradient `d_out` (N, D·H + w − D) the layer above wrote:
///
/// ```text
/// (N24)  d_x_n,S_j = Σ_k g_njk 2π c_jk              (N9 on the embedded columns)
/// (N25)  d_x_n,S̄_m = d_out_n,DH+m                   (∂y/∂x_S̄ = I: passed through)
/// ```
///
/// Every element is written once, so no column keeps a stale value. Threads split rows.
///
/// **Panics** if the shapes disagree.
pub fn plr_input_gradient_columns<T: Float>(
    spec: &PlrSpec,
    params: &[T],
    g: &[T],
    columns: &[usize],
    passed: &[usize],
    d_out: ArrayView2<T>,
    d_x: ArrayViewMut2<T>,
) {
    let (d_n, dh) = (spec.features, spec.outputs());
    assert_eq!(columns.len(), d_n, "plr: |S| is not D");
    assert_eq!(d_x.ncols(), d_n + passed.len(), "plr: d_x is not (N, w)");
    assert_eq!(
        d_out.dim(),
        (d_x.nrows(), dh + passed.len()),
        "plr: d_out shape"
    );
    input_gradient_rows(spec, params, g, columns, passed, Some(d_out), d_x);
}

/// The parameter gradients over the batch rows `rows`, **added** into `grads` (laid out as
/// [`PlrSpec::split`]), from x (N, D), p, δ and g:
///
/// ```text
/// (N7)  d_W_dhj += Σ_n δ_ndh p_ndj,    d_b_dh += Σ_n δ_ndh
/// (N9)  d_c_dk += Σ_n g_ndk 2π x_nd
/// ```
///
/// Threads split features; each sums over n in increasing order, its partial sums in
/// registers (N27, [`plr_loops::param_gradients_feature`]).
pub fn plr_param_gradients<T: Float>(
    spec: &PlrSpec,
    x: ArrayView2<T>,
    periodic: &[T],
    delta: &[T],
    g: &[T],
    rows: Range<usize>,
    grads: &mut [T],
) {
    let PlrSpec {
        features: d_n,
        frequencies: k_n,
        units: h_n,
        ..
    } = *spec;
    let (d_freq, d_weight, d_bias) = spec.split_mut(grads);
    // Enough features per task that a small batch does not pay a task per feature.
    let per_task = (FEATURE_ROWS_PER_TASK / rows.len().max(1)).max(1);
    d_freq
        .par_chunks_mut(k_n.max(1))
        .zip(d_weight.par_chunks_mut((h_n * 2 * k_n).max(1)))
        .zip(d_bias.par_chunks_mut(h_n.max(1)))
        .enumerate()
        .with_min_len(per_task)
        .for_each(|(d, ((d_c, d_w), d_b))| {
            on_widest_isa(
                #[inline(always)]
                || {
                    let feature = plr_loops::FeatureRows {
                        periodic,
                        delta,
                        g,
                        features: d_n,
                        frequencies: k_n,
                        units: h_n,
                        feature: d,
                    };
                    // (N7, N9, N27)
                    plr_loops::param_gradients_feature(
                        &feature,
                        x.column(d),
                        rows.clone(),
                        d_c,
                        d_w,
                        d_b,
                    );
                },
            );
        });
}

/// (feature, row) pairs per task of [`plr_param_gradients`].
const FEATURE_ROWS_PER_TASK: usize = 256;

/// (N13) Adds each example's squared gradient norm over c, W and b to `sq_norms` (N,): row n's
/// terms of (N7) and (N9) squared,
/// `Σ_dh δ_ndh² (‖p_nd‖² + 1) + Σ_dk (g_ndk 2π x_nd)²` (‖p_nd‖² = K up to rounding).
pub fn plr_add_example_sq_norms<T: Float>(
    spec: &PlrSpec,
    x: ArrayView2<T>,
    periodic: &[T],
    delta: &[T],
    g: &[T],
    sq_norms: &mut [f64],
) {
    let PlrSpec {
        features: d_n,
        frequencies: k_n,
        units: h_n,
        ..
    } = *spec;
    for (row, sq) in sq_norms.iter_mut().enumerate().take(x.nrows()) {
        for d in 0..d_n {
            let p = &periodic[(row * d_n + d) * 2 * k_n..(row * d_n + d + 1) * 2 * k_n];
            let p_sq: f64 = p.iter().map(|&v| Float::to_f64(v) * Float::to_f64(v)).sum();
            for h in 0..h_n {
                let dl = Float::to_f64(delta[row * d_n * h_n + d * h_n + h]);
                *sq += dl * dl * (p_sq + 1.0); // (N13) W and b
            }
            let xv = Float::to_f64(x[[row, d]]);
            for k in 0..k_n {
                let gc = Float::to_f64(g[(row * d_n + d) * k_n + k]) * std::f64::consts::TAU * xv;
                *sq += gc * gc; // (N13) c
            }
        }
    }
}

impl<T: Float> Plr<T> {
    /// (N6) A new embedding drawn by [`PlrSpec::init`]: c, then W, then b.
    pub fn new(spec: PlrSpec, rng: &mut Rng) -> Plr<T> {
        let mut params = vec![T::zero(); spec.num_params()];
        spec.init(&mut params, rng);
        let (freq, weight, bias) = spec.split(&params);
        Plr {
            spec,
            freq: freq.to_vec(),
            weight: weight.to_vec(),
            bias: bias.to_vec(),
        }
    }

    /// The parameters in one flat buffer, c then W then b.
    fn flat(&self) -> Vec<T> {
        [&self.freq[..], &self.weight, &self.bias].concat()
    }

    /// Zero gradients of this layer's shape.
    pub fn zero_grads(&self) -> PlrGrads<T> {
        PlrGrads {
            d_freq: vec![T::zero(); self.freq.len()],
            d_weight: vec![T::zero(); self.weight.len()],
            d_bias: vec![T::zero(); self.bias.len()],
        }
    }

    /// Forward (N3, N4) through [`plr_forward`], x (N, D) → y (N, D·H), in fresh buffers.
    ///
    /// **Panics** if x does not have D columns.
    pub fn forward(&self, x: ArrayView2<T>) -> (Array2<T>, PlrCache<T>) {
        let (n, s) = (x.nrows(), self.spec);
        let mut periodic = vec![T::zero(); n * s.features * 2 * s.frequencies];
        let mut z = vec![T::zero(); n * s.outputs()];
        let mut y = vec![T::zero(); n * s.outputs()];
        plr_forward(&s, &self.flat(), x, &mut periodic, &mut z, &mut y);
        let y = Array2::from_shape_vec((n, s.outputs()), y).expect("n·D·H outputs");
        let x = x.to_owned();
        (y, PlrCache { x, periodic, z })
    }

    /// Backward from `d_y` (N, D·H): [`plr_delta`] (N5, N8), [`plr_param_gradients`] (N7,
    /// N9) added into `grads`, and returns ∂L/∂x (N, D) by [`plr_input_gradient`] (N9).
    ///
    /// **Panics** if `d_y` or `grads` have the wrong shape.
    pub fn backward(
        &self,
        cache: PlrCache<T>,
        d_y: ArrayView2<T>,
        grads: &mut PlrGrads<T>,
    ) -> Array2<T> {
        let s = self.spec;
        let n = cache.x.nrows();
        assert_eq!(d_y.dim(), (n, s.outputs()), "plr: d_y has the wrong shape");
        assert_eq!(
            grads.d_weight.len(),
            self.weight.len(),
            "plr: wrong gradient buffers"
        );
        let params = self.flat();
        let mut delta: Vec<T> = d_y.iter().copied().collect();
        let mut g = vec![T::zero(); n * s.features * s.frequencies];
        plr_delta(
            &s,
            &params,
            n,
            &cache.periodic,
            &cache.z,
            &mut delta,
            &mut g,
        );
        let mut flat_grads = [&grads.d_freq[..], &grads.d_weight, &grads.d_bias].concat();
        plr_param_gradients(
            &s,
            cache.x.view(),
            &cache.periodic,
            &delta,
            &g,
            0..n,
            &mut flat_grads,
        );
        let (d_c, d_w, d_b) = s.split(&flat_grads);
        grads.d_freq.copy_from_slice(d_c);
        grads.d_weight.copy_from_slice(d_w);
        grads.d_bias.copy_from_slice(d_b);
        let mut d_x = Array2::zeros((n, s.features));
        plr_input_gradient(&s, &params, &g, d_x.view_mut());
        d_x
    }
}
