//! Scoring users against the whole item table and the softmax cross-entropy over the full
//! catalogue (notes/recommend.md §10, K32–K33), forward and backward side by side.
//!
//! Shapes: N user vectors U (N, d); the item table Q (I, d) and biases b (I,); the scores
//! S (N, I); targets per row in CSR form ([`crate::pooling::Bags`]: row n's target items).

use glassbox_core::activation::SoftmaxRow;
use glassbox_core::{Float, gemm};
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::pooling::Bags;

/// (K32) `S = U Qᵀ + 1 bᵀ`: U (N, d), Q (I, d), b (I,), S (N, I). One GEMM through
/// glassbox-core (Qᵀ by strides, no copy), then the bias per row; bit-identical at any
/// thread count (the GEMM's guarantee, notes/gemm.md).
///
/// # Panics
/// If the shapes disagree.
pub fn item_scores_forward<T: Float>(
    u: ArrayView2<T>,
    q: ArrayView2<T>,
    b: &[T],
    mut s: ArrayViewMut2<T>,
) {
    assert_eq!(b.len(), q.nrows(), "item_scores_forward: b is not (I,)");
    gemm(T::one(), u, q.t(), T::zero(), s.view_mut());
    for mut row in s.rows_mut() {
        for (x, &bi) in row.iter_mut().zip(b) {
            *x += bi;
        }
    }
}

/// (K32) One user's row of S for retrieval: `out[i] = u · Q[i] + b_i` (the dot in f32, left
/// to right, then widened to f64 for the ranking). u (d,), Q (I, d), b (I,), out (I,).
pub fn user_scores(u: &[f32], q: &[f32], b: &[f32], out: &mut [f64]) {
    let d = u.len();
    for ((s, row), &bi) in out.iter_mut().zip(q.chunks_exact(d)).zip(b) {
        let dot: f32 = u.iter().zip(row).map(|(x, y)| x * y).sum();
        *s = f64::from(dot + bi);
    }
}

/// (K32) Backward of [`item_scores_forward`], accumulating (the caller zeroes):
/// `d_U += d_S Q`, `d_Q += d_Sᵀ U` (two GEMMs with β = 1, transposes by strides),
/// `d_b += Σ_n d_S[n, :]` (rows added in ascending n).
///
/// # Panics
/// If the shapes disagree.
pub fn item_scores_backward<T: Float>(
    d_s: ArrayView2<T>,
    u: ArrayView2<T>,
    q: ArrayView2<T>,
    d_u: ArrayViewMut2<T>,
    d_q: ArrayViewMut2<T>,
    d_b: &mut [T],
) {
    assert_eq!(
        d_b.len(),
        q.nrows(),
        "item_scores_backward: d_b is not (I,)"
    );
    gemm(T::one(), d_s, q, T::one(), d_u);
    gemm(T::one(), d_s.t(), u, T::one(), d_q);
    for row in d_s.rows() {
        for (g, &x) in d_b.iter_mut().zip(row.iter()) {
            *g += x;
        }
    }
}

/// How the (row, target) terms of (K33) are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetWeighting {
    /// Each row weighs 1/N, shared by its targets: `w_n = 1/(N |T_n|)`.
    PerRow,
    /// Each (row, target) pair weighs 1/P, P = Σ_n |T_n| (the multinomial likelihood of
    /// Mult-VAE and the PyTorch MF-softmax reference): `w_n = 1/P`.
    PerTarget,
}

impl TargetWeighting {
    /// w_n of every row.
    fn weights<T: Float>(self, targets: Bags<'_>) -> Vec<T> {
        let n = targets.len();
        match self {
            TargetWeighting::PerRow => (0..n)
                .map(|r| T::from_f64(1.0 / (n * targets.bag(r).len()) as f64))
                .collect(),
            TargetWeighting::PerTarget => {
                vec![T::from_f64(1.0 / targets.ids.len() as f64); n]
            }
        }
    }
}

/// What [`softmax_ce_backward`] needs: the probabilities of every row.
#[derive(Debug, Clone)]
pub struct SoftmaxCeCache<T> {
    /// P (N, I) row-major, `P[n] = softmax(S[n])`.
    probs: Vec<T>,
    items: usize,
    /// w_n (N,).
    weights: Vec<T>,
}

/// (K33) Softmax cross-entropy over the whole catalogue with a target set per row:
/// `L = Σ_n w_n Σ_{t ∈ T_n} (lse(S[n]) − S[n, t])` (an item listed twice counts twice), with
/// `w_n` = 1/(N|T_n|) (per row: the cross-entropy against the target distribution uniform
/// over T_n, averaged over rows) or 1/P (per target pair), see [`TargetWeighting`]. `lse` in
/// the stable shifted form of `SoftmaxRow` (B12a). Rows are split between threads; the N row
/// losses are then added in ascending n.
///
/// # Panics
/// If S is not (N, I) for N = the number of target rows, or a row has no target.
pub fn softmax_ce_forward<T: Float>(
    s: ArrayView2<T>,
    targets: Bags<'_>,
    weighting: TargetWeighting,
) -> (T, SoftmaxCeCache<T>) {
    let (n, items) = s.dim();
    assert_eq!(n, targets.len(), "softmax_ce_forward: S has {n} rows");
    assert!(n > 0, "softmax_ce_forward: no rows");
    let mut probs = vec![T::zero(); n * items];
    let mut losses = vec![T::zero(); n];
    assert!(
        (0..n).all(|r| !targets.bag(r).is_empty()),
        "softmax_ce_forward: a row has no target"
    );
    let weights: Vec<T> = weighting.weights(targets);
    probs
        .par_chunks_mut(items.max(1))
        .zip(losses.par_iter_mut())
        .enumerate()
        .for_each(|(r, (p, loss))| {
            let row = s.row(r);
            let sm = SoftmaxRow::of(row);
            for (pi, &z) in p.iter_mut().zip(row.iter()) {
                *pi = sm.prob(z);
            }
            // −ln softmax(z)_t = ln s − (z_t ⊖ m).
            let sum = targets.bag(r).iter().fold(T::zero(), |acc, &i| {
                acc + (sm.ln_sum() - sm.shifted(row[i as usize]))
            });
            *loss = sum * weights[r];
        });
    let total = losses.iter().fold(T::zero(), |a, &l| a + l);
    (
        total,
        SoftmaxCeCache {
            probs,
            items,
            weights,
        },
    )
}

/// (K33) `d_S[n, :] = w_n (|T_n| P[n, :] − c_n)`, c_n the counts of each item in T_n
/// (per row: `(P[n, :] − y_n)/N`), written into `d_s` (N, I).
///
/// # Panics
/// If `d_s` is not the forward pass's (N, I).
pub fn softmax_ce_backward<T: Float>(
    cache: &SoftmaxCeCache<T>,
    targets: Bags<'_>,
    mut d_s: ArrayViewMut2<T>,
) {
    let n = targets.len();
    assert_eq!(
        d_s.dim(),
        (n, cache.items),
        "softmax_ce_backward: d_S shape"
    );
    d_s.outer_iter_mut()
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            let p = &cache.probs[r * cache.items..(r + 1) * cache.items];
            let t = targets.bag(r);
            let w = cache.weights[r];
            let scale = w * T::from_f64(t.len() as f64);
            for (g, &pi) in row.iter_mut().zip(p) {
                *g = pi * scale;
            }
            for &i in t {
                row[i as usize] -= w;
            }
        });
}
