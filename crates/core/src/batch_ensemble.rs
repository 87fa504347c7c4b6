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

use ndarray::{Array2, ArrayView2};
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

impl<T: Float> BatchEnsemble<T> {
    /// (N18) Initialisation, drawn in this order: W ~ U(±1/√D) as PyTorch's `nn.Linear`;
    /// r_id = ±1 with probability ½ each (TabM's random signs, which make the members differ
    /// from the first step); b_ih ~ U(±1/√D); s = 1 (drawn from nothing).
    pub fn new(spec: BatchEnsembleSpec, rng: &mut Rng) -> BatchEnsemble<T> {
        let (k, d, h) = (spec.members, spec.inputs, spec.units);
        let bound = 1.0 / (d as f64).sqrt();
        let weight = (0..h * d)
            .map(|_| T::from_f64(uniform_symmetric(bound, rng)))
            .collect();
        let r = (0..k * d)
            .map(|_| T::from_f64(if uniform01(rng) < 0.5 { -1.0 } else { 1.0 }))
            .collect();
        let bias = (0..k * h)
            .map(|_| T::from_f64(uniform_symmetric(bound, rng)))
            .collect();
        BatchEnsemble {
            spec,
            weight,
            r,
            s: vec![T::one(); k * h],
            bias,
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

    /// Member i's input column d of row n.
    fn x_at(&self, x: &ArrayView2<T>, n: usize, i: usize, d: usize) -> T {
        if self.spec.shared_input {
            x[[n, d]]
        } else {
            x[[n, i * self.spec.inputs + d]]
        }
    }

    /// Forward, x (N, D or k·D) → z (N, k·H):
    ///
    /// ```text
    /// (N14)  u_nid = x_nid r_id,    t_nih = Σ_d W_hd u_nid,    z_nih = s_ih t_nih + b_ih
    /// ```
    ///
    /// (x_nid = x_nd for a shared input.) Threads split rows.
    ///
    /// **Panics** if x has the wrong width.
    pub fn forward(&self, x: ArrayView2<T>) -> (Array2<T>, BatchEnsembleCache<T>) {
        let BatchEnsembleSpec {
            members: k_n,
            inputs: d_n,
            units: h_n,
            ..
        } = self.spec;
        assert_eq!(
            x.ncols(),
            self.spec.input_width(),
            "batch ensemble: {} input columns, expected {}",
            x.ncols(),
            self.spec.input_width()
        );
        let n = x.nrows();
        let mut u = vec![T::zero(); n * k_n * d_n];
        let mut t = vec![T::zero(); n * k_n * h_n];
        let mut z = vec![T::zero(); n * k_n * h_n];
        u.par_chunks_mut((k_n * d_n).max(1))
            .zip(t.par_chunks_mut((k_n * h_n).max(1)))
            .zip(z.par_chunks_mut((k_n * h_n).max(1)))
            .enumerate()
            .for_each(|(row, ((u_row, t_row), z_row))| {
                for i in 0..k_n {
                    let u_i = &mut u_row[i * d_n..(i + 1) * d_n];
                    for (d, ud) in u_i.iter_mut().enumerate() {
                        *ud = self.x_at(&x, row, i, d) * self.r[i * d_n + d]; // (N14)
                    }
                    for h in 0..h_n {
                        let w = &self.weight[h * d_n..(h + 1) * d_n];
                        let mut acc = T::zero();
                        for (wd, ud) in w.iter().zip(u_i.iter()) {
                            acc += *wd * *ud; // (N14)
                        }
                        t_row[i * h_n + h] = acc;
                        z_row[i * h_n + h] = self.s[i * h_n + h] * acc + self.bias[i * h_n + h];
                    }
                }
            });
        let z = Array2::from_shape_vec((n, k_n * h_n), z).expect("N·k·H outputs");
        let x = x.to_owned();
        (z, BatchEnsembleCache { x, u, t })
    }

    /// Backward from `d_z` (N, k·H): adds the parameter gradients into `grads` and returns
    /// ∂L/∂x (N, D or k·D).
    ///
    /// ```text
    /// (N15)  d_b_ih += Σ_n d_z_nih,        d_s_ih += Σ_n d_z_nih t_nih
    /// (N16)  d_t_nih = d_z_nih s_ih,       d_W_hd += Σ_n Σ_i d_t_nih u_nid
    /// (N17)  d_u_nid = Σ_h d_t_nih W_hd,   d_r_id += Σ_n d_u_nid x_nid,
    ///        d_x_nid = d_u_nid r_id        (shared input: d_x_nd = Σ_i d_u_nid r_id)
    /// ```
    ///
    /// Rows in parallel for d_t, d_u and d_x; rows h of d_W and members i of d_r, d_s, d_b
    /// in parallel, each summing over n (and i) in increasing order.
    ///
    /// **Panics** if `d_z` or `grads` have the wrong shape.
    pub fn backward(
        &self,
        cache: BatchEnsembleCache<T>,
        d_z: ArrayView2<T>,
        grads: &mut BatchEnsembleGrads<T>,
    ) -> Array2<T> {
        let BatchEnsembleSpec {
            members: k_n,
            inputs: d_n,
            units: h_n,
            ..
        } = self.spec;
        let BatchEnsembleCache { x, u, t } = cache;
        let n = x.nrows();
        assert_eq!(
            d_z.dim(),
            (n, k_n * h_n),
            "batch ensemble: d_z has the wrong shape"
        );
        assert_eq!(
            grads.d_weight.len(),
            self.weight.len(),
            "batch ensemble: wrong gradient buffers"
        );
        let mut d_t = vec![T::zero(); n * k_n * h_n];
        let mut d_u = vec![T::zero(); n * k_n * d_n];
        let mut d_x = Array2::zeros((n, self.spec.input_width()));
        d_t.par_chunks_mut((k_n * h_n).max(1))
            .zip(d_u.par_chunks_mut((k_n * d_n).max(1)))
            .zip(d_x.axis_iter_mut(ndarray::Axis(0)).into_par_iter())
            .enumerate()
            .for_each(|(row, ((dt_row, du_row), mut dx_row))| {
                for i in 0..k_n {
                    for h in 0..h_n {
                        dt_row[i * h_n + h] = d_z[[row, i * h_n + h]] * self.s[i * h_n + h]; // (N16)
                    }
                    for d in 0..d_n {
                        let mut acc = T::zero();
                        for h in 0..h_n {
                            acc += dt_row[i * h_n + h] * self.weight[h * d_n + d]; // (N17)
                        }
                        du_row[i * d_n + d] = acc;
                        let g = acc * self.r[i * d_n + d]; // (N17)
                        if self.spec.shared_input {
                            dx_row[d] += g; // members in order
                        } else {
                            dx_row[i * d_n + d] = g;
                        }
                    }
                }
            });
        grads
            .d_weight
            .par_chunks_mut(d_n.max(1))
            .enumerate()
            .for_each(|(h, dw_row)| {
                for row in 0..n {
                    for i in 0..k_n {
                        let dt = d_t[(row * k_n + i) * h_n + h];
                        let u_i = &u[(row * k_n + i) * d_n..(row * k_n + i + 1) * d_n];
                        for (dw, ud) in dw_row.iter_mut().zip(u_i) {
                            *dw += dt * *ud; // (N16)
                        }
                    }
                }
            });
        let xv = x.view();
        grads
            .d_r
            .par_chunks_mut(d_n.max(1))
            .zip(grads.d_s.par_chunks_mut(h_n.max(1)))
            .zip(grads.d_bias.par_chunks_mut(h_n.max(1)))
            .enumerate()
            .for_each(|(i, ((dr, ds), db))| {
                for row in 0..n {
                    for h in 0..h_n {
                        let dz = d_z[[row, i * h_n + h]];
                        db[h] += dz; // (N15)
                        ds[h] += dz * t[(row * k_n + i) * h_n + h]; // (N15)
                    }
                    for (d, drd) in dr.iter_mut().enumerate() {
                        *drd += d_u[(row * k_n + i) * d_n + d] * self.x_at(&xv, row, i, d); // (N17)
                    }
                }
            });
        d_x
    }
}
