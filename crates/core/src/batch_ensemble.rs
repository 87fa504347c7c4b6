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
//! Determinism: threads split rows (forward, the row-wise parts of backward) or outputs of a
//! parameter gradient (rows h of d_W, members i of d_r, d_s, d_b); every sum over rows and
//! members runs in a fixed order on one thread, so results are bit-identical at any thread
//! count (test `batch_ensemble_is_bit_identical_at_1_2_and_7_threads`).

use std::ops::Range;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::init::{uniform_symmetric, uniform01};
use crate::{Float, Rng};

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

/// (N14) Forward on flat buffers, x (N, D or k·D) → u (N, k, D), t (N, k, H), z (N, k·H):
///
/// ```text
/// u_nid = x_nid r_id,    t_nih = Σ_d W_hd u_nid,    z_nih = s_ih t_nih + b_ih
/// ```
///
/// Threads split rows. The buffers hold at least N rows; only the first N are written.
pub(crate) fn be_forward<T: Float>(
    spec: &BatchEnsembleSpec,
    p: BeParams<'_, T>,
    x: ArrayView2<T>,
    u: &mut [T],
    t: &mut [T],
    z: &mut [T],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    assert_eq!(
        x.ncols(),
        spec.input_width(),
        "batch ensemble: {} input columns, expected {}",
        x.ncols(),
        spec.input_width()
    );
    let n = x.nrows();
    u[..n * k_n * d_n]
        .par_chunks_mut((k_n * d_n).max(1))
        .zip(t[..n * k_n * h_n].par_chunks_mut((k_n * h_n).max(1)))
        .zip(z[..n * k_n * h_n].par_chunks_mut((k_n * h_n).max(1)))
        .enumerate()
        .for_each(|(row, ((u_row, t_row), z_row))| {
            for i in 0..k_n {
                let u_i = &mut u_row[i * d_n..(i + 1) * d_n];
                for (d, ud) in u_i.iter_mut().enumerate() {
                    *ud = spec.x_at(&x, row, i, d) * p.r[i * d_n + d]; // (N14)
                }
                for h in 0..h_n {
                    let w = &p.w[h * d_n..(h + 1) * d_n];
                    let mut acc = T::zero();
                    for (wd, ud) in w.iter().zip(u_i.iter()) {
                        acc += *wd * *ud; // (N14)
                    }
                    t_row[i * h_n + h] = acc;
                    z_row[i * h_n + h] = p.s[i * h_n + h] * acc + p.b[i * h_n + h];
                }
            }
        });
}

/// (N16, N17) From d_z (N, k·H) to d_t (N, k, H) and d_u (N, k, D):
/// `d_t_nih = d_z_nih s_ih`, `d_u_nid = Σ_h d_t_nih W_hd` (h in increasing order). Threads
/// split rows.
pub(crate) fn be_delta<T: Float>(
    spec: &BatchEnsembleSpec,
    p: BeParams<'_, T>,
    n: usize,
    d_z: &[T],
    d_t: &mut [T],
    d_u: &mut [T],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    d_u[..n * k_n * d_n]
        .par_chunks_mut((k_n * d_n).max(1))
        .zip(d_t[..n * k_n * h_n].par_chunks_mut((k_n * h_n).max(1)))
        .zip(d_z[..n * k_n * h_n].par_chunks((k_n * h_n).max(1)))
        .for_each(|((du_row, dt_row), dz_row)| {
            for i in 0..k_n {
                for h in 0..h_n {
                    dt_row[i * h_n + h] = dz_row[i * h_n + h] * p.s[i * h_n + h]; // (N16)
                }
                for d in 0..d_n {
                    let mut acc = T::zero();
                    for h in 0..h_n {
                        acc += dt_row[i * h_n + h] * p.w[h * d_n + d]; // (N17)
                    }
                    du_row[i * d_n + d] = acc;
                }
            }
        });
}

/// (N15–N17) The parameter gradients over the batch rows `rows`, *added* into d_W, d_r,
/// d_s, d_b (the layout of [`BatchEnsembleSpec::split_mut`]):
///
/// ```text
/// d_b_ih += Σ_n d_z_nih,    d_s_ih += Σ_n d_z_nih t_nih,
/// d_W_hd += Σ_n Σ_i d_t_nih u_nid,    d_r_id += Σ_n d_u_nid x_nid
/// ```
///
/// Rows h of d_W and members i of d_r, d_s, d_b in parallel, each summing over n (then i)
/// in increasing order on one thread.
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
    grads: &mut [T],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    let (d_w, d_r, d_s, d_b) = spec.split_mut(grads);
    d_w.par_chunks_mut(d_n.max(1))
        .enumerate()
        .for_each(|(h, dw_row)| {
            for row in rows.clone() {
                for i in 0..k_n {
                    let dt = d_t[(row * k_n + i) * h_n + h];
                    let u_i = &u[(row * k_n + i) * d_n..(row * k_n + i + 1) * d_n];
                    for (dw, ud) in dw_row.iter_mut().zip(u_i) {
                        *dw += dt * *ud; // (N16)
                    }
                }
            }
        });
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
        be_param_gradients(&spec, x.view(), &u, &t, &d_z, &d_t, &d_u, 0..n, &mut flat);
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
