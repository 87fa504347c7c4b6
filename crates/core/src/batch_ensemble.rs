//! A BatchEnsemble linear layer (Wen, Tran & Ba 2020; as TabM uses it, Gorishniy et al.
//! 2025): k members share one weight matrix W and differ by a multiplicative adapter on the
//! input (r), one on the output (s) and their own bias (b), so k networks train in one pass
//! for the price of one plus O(k·(D + H)) parameters (notes/tabular.md §5, N14–N18).
//!
//! Shapes: `N` rows, `k` members, `D` inputs, `H` units. The input is either shared by all
//! members, x (N, D) — the first layer of TabM — or one block per member, x (N, k·D) with
//! member i's input at columns i·D … i·D + D − 1 (every later layer). The output is
//! (N, k·H), member i at columns i·H … i·H + H − 1. Forward and backward sit side by side;
//! backward *adds* into caller-owned gradient buffers.
//!
//! Speed: the members share W, so the three products with W are each one GEMM of the
//! engine's kernel over the k-times replicated batch, an (N·k, ·) matrix whose row n·k + i
//! is member i of row n: `t = u·Wᵀ` (forward), `d_u = d_t·W` and `d_W = d_tᵀ·u` (backward).
//! The rest (u = x ∘ r, z = s ∘ t + b, the adapters' gradients) is O(N·k·(D + H)).
//!
//! Determinism: the GEMM splits outputs, never a sum, and each sum's order is fixed by the
//! shape (notes/gemm.md §3); element-wise passes split rows; the gradients of r, s, b are
//! split by members i, each summing over n in increasing order on one thread. So results are
//! bit-identical at any thread count (test
//! `batch_ensemble_is_bit_identical_at_1_2_and_7_threads`). Each GEMM has a loop reference
//! beside it (`be_forward_naive`, `be_delta_naive`, `be_weight_gradient_naive`), compared
//! in this file's tests.

mod norms;

use std::ops::Range;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::activation::PAR_MIN_ELEMS;
use crate::init::{uniform_symmetric, uniform01};
use crate::layer::{GradWrite, mat, mat_mut};
use crate::{Float, Rng, gemm};
pub(crate) use norms::{ExampleParts, be_add_example_sq_norms, be_scale_examples};

/// The shape of a BatchEnsemble layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchEnsembleSpec {
    /// k, the members.
    pub members: usize,
    /// D, the inputs of one member.
    pub inputs: usize,
    /// H, the units of one member.
    pub units: usize,
    /// Whether all members read one input x (N, D) instead of their own (N, k·D).
    pub shared_input: bool,
}

impl BatchEnsembleSpec {
    /// Width of the input rows: D if shared, else k·D.
    pub fn input_width(&self) -> usize {
        if self.shared_input {
            self.inputs
        } else {
            self.members * self.inputs
        }
    }

    /// Width of the output rows, k·H.
    pub fn output_width(&self) -> usize {
        self.members * self.units
    }
}

/// Parameters: `weight` W (H, D) shared; `r` (k, D), `s` (k, H), `bias` b (k, H) per member.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchEnsemble<T> {
    pub spec: BatchEnsembleSpec,
    pub weight: Vec<T>,
    pub r: Vec<T>,
    pub s: Vec<T>,
    pub bias: Vec<T>,
}

/// Gradients of a [`BatchEnsemble`], same layout; backward adds into them.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchEnsembleGrads<T> {
    pub d_weight: Vec<T>,
    pub d_r: Vec<T>,
    pub d_s: Vec<T>,
    pub d_bias: Vec<T>,
}

/// What [`BatchEnsemble::forward`] keeps for [`BatchEnsemble::backward`].
#[derive(Clone, Debug)]
pub struct BatchEnsembleCache<T> {
    /// The input: ∂L/∂r needs it.
    x: Array2<T>,
    /// u = x ∘ r per (n, i), (N, k, D) flat: ∂L/∂W needs it.
    u: Vec<T>,
    /// t = u·Wᵀ per (n, i), (N, k, H) flat: ∂L/∂s needs it.
    t: Vec<T>,
}

/// The four parameter tensors of a BatchEnsemble layer, as slices: W (H, D), r (k, D),
/// s (k, H), b (k, H). The network keeps them contiguous in that order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BeParams<'p, T> {
    pub(crate) w: &'p [T],
    pub(crate) r: &'p [T],
    pub(crate) s: &'p [T],
    pub(crate) b: &'p [T],
}

impl BatchEnsembleSpec {
    /// Parameters: H·D (W) + k·D (r) + 2·k·H (s, b).
    pub fn num_params(&self) -> usize {
        let (k, d, h) = (self.members, self.inputs, self.units);
        h * d + k * d + 2 * k * h
    }

    /// Lengths of W, r, s, b in the flat layout.
    pub(crate) fn tensor_lens(&self) -> [usize; 4] {
        let (k, d, h) = (self.members, self.inputs, self.units);
        [h * d, k * d, k * h, k * h]
    }

    /// The flat slice `params` (W, r, s, b in order) cut into its tensors.
    pub(crate) fn split<'p, T>(&self, params: &'p [T]) -> BeParams<'p, T> {
        let [lw, lr, ls, _] = self.tensor_lens();
        let (w, rest) = params.split_at(lw);
        let (r, rest) = rest.split_at(lr);
        let (s, b) = rest.split_at(ls);
        BeParams { w, r, s, b }
    }

    /// The flat gradient slice (W, r, s, b in order) cut into its tensors.
    pub(crate) fn split_mut<'p, T>(
        &self,
        grads: &'p mut [T],
    ) -> (&'p mut [T], &'p mut [T], &'p mut [T], &'p mut [T]) {
        let [lw, lr, ls, _] = self.tensor_lens();
        let (w, rest) = grads.split_at_mut(lw);
        let (r, rest) = rest.split_at_mut(lr);
        let (s, b) = rest.split_at_mut(ls);
        (w, r, s, b)
    }

    /// Member i's input column d of row n.
    fn x_at<T: Float>(&self, x: &ArrayView2<T>, n: usize, i: usize, d: usize) -> T {
        if self.shared_input {
            x[[n, d]]
        } else {
            x[[n, i * self.inputs + d]]
        }
    }

    /// (N18) Draws W, r, b in that order into the flat slice `params` (W, r, s, b): W ~
    /// U(±1/√D) as PyTorch's `nn.Linear`; r_id = ±1 with probability ½ each (TabM's random
    /// signs, which make the members differ from the first step); b_ih ~ U(±1/√D); s = 1.
    pub(crate) fn init<T: Float>(&self, params: &mut [T], rng: &mut Rng) {
        let bound = 1.0 / (self.inputs as f64).sqrt();
        let [lw, lr, ls, _] = self.tensor_lens();
        let (w, rest) = params.split_at_mut(lw);
        let (r, rest) = rest.split_at_mut(lr);
        let (s, b) = rest.split_at_mut(ls);
        w.iter_mut()
            .for_each(|v| *v = T::from_f64(uniform_symmetric(bound, rng)));
        r.iter_mut()
            .for_each(|v| *v = T::from_f64(if uniform01(rng) < 0.5 { -1.0 } else { 1.0 }));
        b.iter_mut()
            .for_each(|v| *v = T::from_f64(uniform_symmetric(bound, rng)));
        s.fill(T::one());
    }
}

/// (N14, N22) Forward on flat buffers, x (N, D or k·D) → u (N·k, D), t (N·k, H),
/// z (N, k·H):
///
/// ```text
/// u_nid = x_nid r_id,    t_nih = Σ_d W_hd u_nid,    z_nih = s_ih t_nih + b_ih
/// ```
///
/// The members share W, so t is one GEMM over the k-times replicated, r-scaled batch:
/// u is an (N·k, D) matrix (row n·k + i is member i of row n) and `t ← u·Wᵀ` (Wᵀ a stride
/// view). u and z are element-wise passes. Every element is computed by the same
/// instructions at any thread count (the GEMM never splits a sum, notes/gemm.md §3); each
/// t_nih is the GEMM kernel's sum over d, whose order is fixed by the shape. The buffers hold
/// at least N rows; only the first N are written. Reference: [`be_forward_naive`].
pub(crate) fn be_forward<T: Float>(
    spec: &BatchEnsembleSpec,
    p: BeParams<'_, T>,
    x: ArrayView2<T>,
    u: &mut [T],
    t: &mut [T],
    z: &mut [T],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    check_input(spec, &x);
    let n = x.nrows();
    rows_of(&mut u[..n * k_n * d_n], k_n * d_n, |row, u_row| {
        for (i, u_i) in u_row.chunks_exact_mut(d_n.max(1)).enumerate() {
            for (d, ud) in u_i.iter_mut().enumerate() {
                *ud = spec.x_at(&x, row, i, d) * p.r[i * d_n + d]; // (N14)
            }
        }
    });
    gemm(
        T::one(),
        mat(u, n * k_n, d_n),
        mat(p.w, h_n, d_n).t(),
        T::zero(),
        mat_mut(t, n * k_n, h_n),
    ); // (N22) T = U·Wᵀ
    let t = &t[..n * k_n * h_n];
    rows_of(&mut z[..n * k_n * h_n], k_n * h_n, |row, z_row| {
        let t_row = &t[row * k_n * h_n..(row + 1) * k_n * h_n];
        for (((zv, tv), sv), bv) in z_row.iter_mut().zip(t_row).zip(p.s).zip(p.b) {
            *zv = *sv * *tv + *bv; // (N14)
        }
    });
}

/// Reference for [`be_forward`]: every t_nih summed over d in increasing order, in loops;
/// returns [u, t, z].
#[cfg(test)]
pub(crate) fn be_forward_naive<T: Float>(
    spec: &BatchEnsembleSpec,
    p: BeParams<'_, T>,
    x: ArrayView2<T>,
) -> [Vec<T>; 3] {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    check_input(spec, &x);
    let n = x.nrows();
    let mut u = vec![T::zero(); n * k_n * d_n];
    let (mut t, mut z) = (
        vec![T::zero(); n * k_n * h_n],
        vec![T::zero(); n * k_n * h_n],
    );
    for row in 0..n {
        for i in 0..k_n {
            let ui = (row * k_n + i) * d_n;
            for d in 0..d_n {
                u[ui + d] = spec.x_at(&x, row, i, d) * p.r[i * d_n + d];
            }
            for h in 0..h_n {
                let mut acc = T::zero();
                for d in 0..d_n {
                    acc += p.w[h * d_n + d] * u[ui + d];
                }
                let th = (row * k_n + i) * h_n + h;
                t[th] = acc;
                z[th] = p.s[i * h_n + h] * acc + p.b[i * h_n + h];
            }
        }
    }
    [u, t, z]
}

/// **Panics** if x is not (N, D) for a shared input or (N, k·D).
fn check_input<T>(spec: &BatchEnsembleSpec, x: &ArrayView2<T>) {
    assert_eq!(
        x.ncols(),
        spec.input_width(),
        "batch ensemble: {} input columns, expected {}",
        x.ncols(),
        spec.input_width()
    );
}

/// Runs `f(row, chunk)` on each `width`-long chunk of `buf` (one batch row), in parallel
/// when the buffer is large ([`PAR_MIN_ELEMS`]): element-wise passes, so the bits do not
/// depend on the split.
fn rows_of<T: Float>(buf: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let width = width.max(1);
    if buf.len() >= PAR_MIN_ELEMS {
        buf.par_chunks_mut(width)
            .enumerate()
            .for_each(|(row, c)| f(row, c));
    } else {
        buf.chunks_mut(width)
            .enumerate()
            .for_each(|(row, c)| f(row, c));
    }
}

/// (N16, N17, N22) From d_z (N, k·H) to d_t (N·k, H) and d_u (N·k, D):
/// `d_t_nih = d_z_nih s_ih` element-wise, then one GEMM `d_u ← d_t·W` (each d_u_nid the
/// kernel's sum over h, in an order fixed by the shape). Reference: [`be_delta_naive`].
pub(crate) fn be_delta<T: Float>(
    spec: &BatchEnsembleSpec,
    p: BeParams<'_, T>,
    n: usize,
    d_z: &[T],
    d_t: &mut [T],
    d_u: &mut [T],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    let kh = k_n * h_n;
    rows_of(&mut d_t[..n * kh], kh, |row, dt_row| {
        let dz_row = &d_z[row * kh..(row + 1) * kh];
        for ((dt, dz), sv) in dt_row.iter_mut().zip(dz_row).zip(p.s) {
            *dt = *dz * *sv; // (N16)
        }
    });
    gemm(
        T::one(),
        mat(d_t, n * k_n, h_n),
        mat(p.w, h_n, d_n),
        T::zero(),
        mat_mut(d_u, n * k_n, d_n),
    ); // (N22) d_U = d_T·W
}

/// Reference for [`be_delta`]: every d_u_nid summed over h in increasing order, in loops;
/// returns [d_t, d_u] for the N rows of `d_z`.
#[cfg(test)]
pub(crate) fn be_delta_naive<T: Float>(
    spec: &BatchEnsembleSpec,
    p: BeParams<'_, T>,
    d_z: &[T],
) -> [Vec<T>; 2] {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    let n = d_z.len() / spec.output_width().max(1);
    let (mut d_t, mut d_u) = (vec![T::zero(); d_z.len()], vec![T::zero(); n * k_n * d_n]);
    for row in 0..n {
        for i in 0..k_n {
            let ti = (row * k_n + i) * h_n;
            for h in 0..h_n {
                d_t[ti + h] = d_z[ti + h] * p.s[i * h_n + h];
            }
            for d in 0..d_n {
                let mut acc = T::zero();
                for h in 0..h_n {
                    acc += d_t[ti + h] * p.w[h * d_n + d];
                }
                d_u[(row * k_n + i) * d_n + d] = acc;
            }
        }
    }
    [d_t, d_u]
}

/// (N15–N17, N22) The parameter gradients over the batch rows `rows`, added or written (as
/// `write` says) into d_W, d_r, d_s, d_b (the layout of [`BatchEnsembleSpec::split_mut`]):
///
/// ```text
/// d_b_ih ⟵ Σ_n d_z_nih,    d_s_ih ⟵ Σ_n d_z_nih t_nih,
/// d_W_hd ⟵ Σ_n Σ_i d_t_nih u_nid,    d_r_id ⟵ Σ_n d_u_nid x_nid
/// ```
///
/// d_W is one GEMM `d_W ⟵ d_tᵀ·u` over the rows n·k + i of the replicated batch: the sum
/// over members and rows is the kernel's sum over that one index, in an order fixed by the
/// shape (the same at any thread count; the GEMM splits the outputs h, never the sum).
/// Members i of d_r, d_s, d_b run in parallel, each summing over n in increasing order on
/// one thread. Reference: [`be_weight_gradient_naive`] for d_W.
#[allow(clippy::too_many_arguments)]
pub(crate) fn be_param_gradients<T: Float>(
    spec: &BatchEnsembleSpec,
    x: ArrayView2<T>,
    u: &[T],
    t: &[T],
    d_z: &[T],
    d_t: &[T],
    d_u: &[T],
    rows: Range<usize>,
    write: GradWrite,
    grads: &mut [T],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    let (d_w, d_r, d_s, d_b) = spec.split_mut(grads);
    let (first, m) = (rows.start * k_n, rows.len() * k_n);
    gemm(
        T::one(),
        mat(&d_t[first * h_n..], m, h_n).t(),
        mat(&u[first * d_n..], m, d_n),
        write.beta(),
        mat_mut(d_w, h_n, d_n),
    ); // (N22) d_W ⟵ d_Tᵀ·U
    if write == GradWrite::Overwrite {
        for g in [&mut *d_r, &mut *d_s, &mut *d_b] {
            g.fill(T::zero());
        }
    }
    d_r.par_chunks_mut(d_n.max(1))
        .zip(d_s.par_chunks_mut(h_n.max(1)))
        .zip(d_b.par_chunks_mut(h_n.max(1)))
        .enumerate()
        .for_each(|(i, ((dr, ds), db))| {
            for row in rows.clone() {
                for h in 0..h_n {
                    let dz = d_z[(row * k_n + i) * h_n + h];
                    db[h] += dz; // (N15)
                    ds[h] += dz * t[(row * k_n + i) * h_n + h]; // (N15)
                }
                for (d, drd) in dr.iter_mut().enumerate() {
                    *drd += d_u[(row * k_n + i) * d_n + d] * spec.x_at(&x, row, i, d); // (N17)
                }
            }
        });
}

/// Reference for [`be_param_gradients`]' d_W: `d_W_hd += Σ_n Σ_i d_t_nih u_nid`, rows n
/// then members i in increasing order, in loops.
#[cfg(test)]
pub(crate) fn be_weight_gradient_naive<T: Float>(
    spec: &BatchEnsembleSpec,
    u: &[T],
    d_t: &[T],
    rows: Range<usize>,
    d_w: &mut [T],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    for h in 0..h_n {
        for d in 0..d_n {
            let mut acc = d_w[h * d_n + d];
            for row in rows.clone() {
                for i in 0..k_n {
                    acc += d_t[(row * k_n + i) * h_n + h] * u[(row * k_n + i) * d_n + d];
                }
            }
            d_w[h * d_n + d] = acc;
        }
    }
}

/// (N17) ∂L/∂x (N, D or k·D) from d_u, written into `d_x`: `d_x_nid = d_u_nid r_id`; for a
/// shared input `d_x_nd = Σ_i d_u_nid r_id`, summed in member order. Threads split rows.
pub(crate) fn be_input_gradient<T: Float>(
    spec: &BatchEnsembleSpec,
    p: BeParams<'_, T>,
    d_u: &[T],
    mut d_x: ArrayViewMut2<T>,
) {
    let (k_n, d_n) = (spec.members, spec.inputs);
    d_x.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(d_u.par_chunks((k_n * d_n).max(1)))
        .for_each(|(mut dx_row, du_row)| {
            dx_row.fill(T::zero());
            for i in 0..k_n {
                for d in 0..d_n {
                    let g = du_row[i * d_n + d] * p.r[i * d_n + d]; // (N17)
                    if spec.shared_input {
                        dx_row[d] += g; // members in order
                    } else {
                        dx_row[i * d_n + d] = g;
                    }
                }
            }
        });
}

impl<T: Float> BatchEnsemble<T> {
    /// (N18) Initialisation ([`BatchEnsembleSpec`]'s draw, in the order W, r, b; s = 1).
    pub fn new(spec: BatchEnsembleSpec, rng: &mut Rng) -> BatchEnsemble<T> {
        let mut flat = vec![T::zero(); spec.num_params()];
        spec.init(&mut flat, rng);
        let p = spec.split(&flat);
        BatchEnsemble {
            spec,
            weight: p.w.to_vec(),
            r: p.r.to_vec(),
            s: p.s.to_vec(),
            bias: p.b.to_vec(),
        }
    }

    /// Zero gradients of this layer's shape.
    pub fn zero_grads(&self) -> BatchEnsembleGrads<T> {
        BatchEnsembleGrads {
            d_weight: vec![T::zero(); self.weight.len()],
            d_r: vec![T::zero(); self.r.len()],
            d_s: vec![T::zero(); self.s.len()],
            d_bias: vec![T::zero(); self.bias.len()],
        }
    }

    fn params(&self) -> BeParams<'_, T> {
        BeParams {
            w: &self.weight,
            r: &self.r,
            s: &self.s,
            b: &self.bias,
        }
    }

    /// Forward, x (N, D or k·D) → z (N, k·H), by [`be_forward`] (N14).
    ///
    /// **Panics** if x has the wrong width.
    pub fn forward(&self, x: ArrayView2<T>) -> (Array2<T>, BatchEnsembleCache<T>) {
        let spec = self.spec;
        let n = x.nrows();
        let mut u = vec![T::zero(); n * spec.members * spec.inputs];
        let mut t = vec![T::zero(); n * spec.output_width()];
        let mut z = vec![T::zero(); n * spec.output_width()];
        be_forward(&spec, self.params(), x, &mut u, &mut t, &mut z);
        let z = Array2::from_shape_vec((n, spec.output_width()), z).expect("N·k·H outputs");
        let x = x.to_owned();
        (z, BatchEnsembleCache { x, u, t })
    }

    /// Backward from `d_z` (N, k·H): adds the parameter gradients into `grads` (N15–N17,
    /// [`be_param_gradients`]) and returns ∂L/∂x (N, D or k·D) ([`be_input_gradient`]).
    ///
    /// **Panics** if `d_z` or `grads` have the wrong shape.
    pub fn backward(
        &self,
        cache: BatchEnsembleCache<T>,
        d_z: ArrayView2<T>,
        grads: &mut BatchEnsembleGrads<T>,
    ) -> Array2<T> {
        let spec = self.spec;
        let BatchEnsembleCache { x, u, t } = cache;
        let n = x.nrows();
        assert_eq!(
            d_z.dim(),
            (n, spec.output_width()),
            "batch ensemble: d_z has the wrong shape"
        );
        assert_eq!(
            grads.d_weight.len(),
            self.weight.len(),
            "batch ensemble: wrong gradient buffers"
        );
        let d_z: Vec<T> = d_z.iter().copied().collect();
        let mut d_t = vec![T::zero(); n * spec.output_width()];
        let mut d_u = vec![T::zero(); n * spec.members * spec.inputs];
        be_delta(&spec, self.params(), n, &d_z, &mut d_t, &mut d_u);
        // One flat buffer in the network's layout, then added into the four tensors.
        let mut flat = vec![T::zero(); spec.num_params()];
        let write = GradWrite::Overwrite;
        be_param_gradients(
            &spec,
            x.view(),
            &u,
            &t,
            &d_z,
            &d_t,
            &d_u,
            0..n,
            write,
            &mut flat,
        );
        let g = spec.split(&flat);
        for (dst, src) in [
            (&mut grads.d_weight, g.w),
            (&mut grads.d_r, g.r),
            (&mut grads.d_s, g.s),
            (&mut grads.d_bias, g.b),
        ] {
            dst.iter_mut().zip(src).for_each(|(a, b)| *a += *b);
        }
        let mut d_x = Array2::zeros((n, spec.input_width()));
        be_input_gradient(&spec, self.params(), &d_u, d_x.view_mut());
        d_x
    }
}

#[cfg(test)]
mod tests {
    //! The GEMM paths against their loop references: exact on integer-valued inputs (every
    //! partial sum is an exact integer, so any summation order gives the same bits), close
    //! on uniform ones, over odd sizes, both input kinds, a sub-range of rows and both
    //! [`GradWrite`] modes.

    use super::*;
    use crate::seeded_rng;
    use ndarray::Array2;

    /// Integers in −3..=3 (`integer`) or uniform in (−1, 1).
    fn values(len: usize, integer: bool, rng: &mut Rng) -> Vec<f64> {
        (0..len)
            .map(|_| {
                let v = 2.0 * uniform01(rng) - 1.0;
                if integer { (3.0 * v).round() } else { v }
            })
            .collect()
    }

    /// The worst |fast − naive| / (1 + |naive|) is at most `tol` (a NaN fails).
    fn same(what: &str, fast: &[f64], naive: &[f64], tol: f64) {
        assert_eq!(fast.len(), naive.len(), "{what}: lengths");
        let worst = fast
            .iter()
            .zip(naive)
            .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
            .fold(0.0, |m: f64, e| if e > m || e.is_nan() { e } else { m });
        assert!(worst <= tol, "{what}: fast and naive differ by {worst:e}");
    }

    fn compare(spec: BatchEnsembleSpec, n: usize, integer: bool, rng: &mut Rng) {
        let tol = if integer { 0.0 } else { 1e-13 };
        let label = format!("{spec:?} n={n}");
        let params = values(spec.num_params(), integer, rng);
        let p = spec.split(&params);
        let x = Array2::from_shape_vec(
            (n, spec.input_width()),
            values(n * spec.input_width(), integer, rng),
        )
        .expect("x");
        let (kd, kh) = (n * spec.members * spec.inputs, n * spec.output_width());
        let mut fast = [vec![0.0; kd], vec![0.0; kh], vec![0.0; kh]];
        let [u, t, z] = &mut fast;
        be_forward(&spec, p, x.view(), u, t, z);
        let naive = be_forward_naive(&spec, p, x.view());
        for (j, name) in ["u", "t", "z"].iter().enumerate() {
            same(&format!("{label} {name}"), &fast[j], &naive[j], tol);
        }
        let d_z = values(kh, integer, rng);
        let (mut dt_f, mut du_f) = (vec![0.0; kh], vec![0.0; kd]);
        be_delta(&spec, p, n, &d_z, &mut dt_f, &mut du_f);
        let [dt_n, du_n] = be_delta_naive(&spec, p, &d_z);
        same(&format!("{label} d_t"), &dt_f, &dt_n, tol);
        same(&format!("{label} d_u"), &du_f, &du_n, tol);
        let rows = n / 3..n;
        let start = values(spec.num_params(), integer, rng);
        for write in [GradWrite::Accumulate, GradWrite::Overwrite] {
            let mut grads = start.clone();
            let [u, t, _] = &fast;
            be_param_gradients(
                &spec,
                x.view(),
                u,
                t,
                &d_z,
                &dt_f,
                &du_f,
                rows.clone(),
                write,
                &mut grads,
            );
            let mut d_w = start[..spec.tensor_lens()[0]].to_vec();
            if write == GradWrite::Overwrite {
                d_w.fill(0.0);
            }
            be_weight_gradient_naive(&spec, u, &dt_f, rows.clone(), &mut d_w);
            same(
                &format!("{label} {write:?} d_W"),
                &grads[..d_w.len()],
                &d_w,
                tol,
            );
        }
    }

    #[test]
    fn gemm_paths_match_their_loop_references() {
        let mut rng = seeded_rng(19);
        for members in [1, 2, 3] {
            for inputs in [1, 5, 13] {
                for units in [1, 7, 17] {
                    for shared_input in [true, false] {
                        let spec = BatchEnsembleSpec {
                            members,
                            inputs,
                            units,
                            shared_input,
                        };
                        for n in [0, 1, 4, 11] {
                            compare(spec, n, true, &mut rng);
                            compare(spec, n, false, &mut rng);
                        }
                    }
                }
            }
        }
        // Large enough for the GEMMs and the element-wise passes to split across threads.
        let big = BatchEnsembleSpec {
            members: 8,
            inputs: 37,
            units: 64,
            shared_input: false,
        };
        compare(big, 97, true, &mut rng);
        compare(big, 97, false, &mut rng);
    }
}
