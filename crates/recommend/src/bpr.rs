//! The matrix-factorisation score and the BPR loss (notes/recommend.md §5, K14–K15), forward
//! and backward side by side.
//!
//! Shapes: N (user, positive, negative) triples; p, q⁺, q⁻ are gathered rows (N, d); b⁺, b⁻
//! gathered item biases (N,).

use glassbox_core::Float;
use rayon::prelude::*;

/// (K14) The score of N (user, item) rows: `s_n = p_n · q_n + b_n`. p, q (N, d), b (N,),
/// out (N,).
/// Rows in parallel, each by one task (the same bits at any thread count). Within a task,
/// [`ROWS_AT_ONCE`] rows' dots are summed side by side, each over k = 0 … d − 1 left to right
/// as one row's fold: independent chains of additions instead of one chain per row.
pub fn mf_score<T: Float>(p: &[T], q: &[T], b: &[T], d: usize, out: &mut [T]) {
    out.par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(c, outs)| {
            for (g, group) in outs.chunks_mut(ROWS_AT_ONCE).enumerate() {
                let n0 = c * ROWS_PER_TASK + g * ROWS_AT_ONCE;
                let mut acc = [T::zero(); ROWS_AT_ONCE];
                for k in 0..d {
                    for (j, a) in acc.iter_mut().enumerate().take(group.len()) {
                        let at = (n0 + j) * d + k;
                        *a += p[at] * q[at];
                    }
                }
                for ((s, a), &bn) in group.iter_mut().zip(acc).zip(&b[n0..]) {
                    *s = a + bn;
                }
            }
        });
}

/// Rows whose dots [`mf_score`] sums side by side.
const ROWS_AT_ONCE: usize = 8;

/// Rows (triples) per parallel task of [`mf_score`] and [`bpr_backward`].
const ROWS_PER_TASK: usize = 128;

/// What [`bpr_backward`] needs from the forward pass.
#[derive(Debug, Clone)]
pub struct BprCache<T> {
    /// x_n = s⁺_n − s⁻_n (N,): the loss's only input.
    margin: Vec<T>,
}

/// (K15) BPR: `L = (1/N) Σ_n softplus(−x_n)`, `x_n = s⁺_n − s⁻_n`, with s of (K14).
/// softplus(z) = max(z, 0) + ln(1 + e^{−|z|}) (stable for every z). Returns L and the cache.
///
/// # Panics
/// If N = 0 or a shape disagrees.
pub fn bpr_forward<T: Float>(
    p: &[T],
    q_pos: &[T],
    q_neg: &[T],
    b_pos: &[T],
    b_neg: &[T],
    d: usize,
) -> (T, BprCache<T>) {
    let n = b_pos.len();
    assert!(n > 0, "bpr_forward: no triples");
    assert!(p.len() == n * d && q_pos.len() == n * d && q_neg.len() == n * d);
    let (mut s_pos, mut s_neg) = (vec![T::zero(); n], vec![T::zero(); n]);
    mf_score(p, q_pos, b_pos, d, &mut s_pos);
    mf_score(p, q_neg, b_neg, d, &mut s_neg);
    let margin: Vec<T> = s_pos.iter().zip(&s_neg).map(|(&a, &b)| a - b).collect();
    let sum = margin.iter().fold(T::zero(), |acc, &x| acc + softplus(-x));
    (sum / T::from_f64(n as f64), BprCache { margin })
}

/// (K15) softplus(z) = max(z, 0) + ln(1 + e^{−|z|}).
fn softplus<T: Float>(z: T) -> T {
    z.max(T::zero()) + (-z.abs()).exp().ln_1p()
}

/// Gradients of the gathered rows, (N, d) and (N,) like their inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct BprGrads<T> {
    pub d_p: Vec<T>,
    pub d_q_pos: Vec<T>,
    pub d_q_neg: Vec<T>,
    pub d_b_pos: Vec<T>,
    pub d_b_neg: Vec<T>,
}

/// (K15) Backward of BPR through (K14): with `g_n = ∂L/∂x_n = −σ(−x_n)/N`,
/// `d_p = g (q⁺ − q⁻)`, `d_q⁺ = g p`, `d_q⁻ = −g p`, `d_b⁺ = g`, `d_b⁻ = −g`.
///
/// # Panics
/// If d = 0.
pub fn bpr_backward<T: Float>(
    cache: &BprCache<T>,
    p: &[T],
    q_pos: &[T],
    q_neg: &[T],
    d: usize,
) -> BprGrads<T> {
    let n = cache.margin.len();
    let (mut d_p, mut d_q, mut d_b) = (
        vec![T::zero(); n * d],
        vec![T::zero(); 2 * n * d],
        vec![T::zero(); 2 * n],
    );
    bpr_backward_into(cache, p, q_pos, q_neg, d, &mut d_p, &mut d_q, &mut d_b);
    let d_q_neg = d_q.split_off(n * d);
    let d_b_neg = d_b.split_off(n);
    BprGrads {
        d_p,
        d_q_pos: d_q,
        d_q_neg,
        d_b_pos: d_b,
        d_b_neg,
    }
}

/// [`bpr_backward`] into caller-owned buffers (every element written, so they need not be
/// zeroed; a training loop reuses them): d_p (N, d), d_q (2N, d) the positives' rows then the
/// negatives', d_b (2N,) likewise — the layout of the scatter's id list (K13).
///
/// # Panics
/// If d = 0 or a buffer has the wrong length.
#[allow(clippy::too_many_arguments)]
pub fn bpr_backward_into<T: Float>(
    cache: &BprCache<T>,
    p: &[T],
    q_pos: &[T],
    q_neg: &[T],
    d: usize,
    d_p: &mut [T],
    d_q: &mut [T],
    d_b: &mut [T],
) {
    let n = cache.margin.len();
    let inv_n = T::from_f64(1.0 / n as f64);
    // Every output element depends on its own row only: rows in parallel, one task each.
    assert!(d > 0, "bpr_backward: d = 0");
    assert!(d_p.len() == n * d && d_q.len() == 2 * n * d && d_b.len() == 2 * n);
    let (d_q_pos, d_q_neg) = d_q.split_at_mut(n * d);
    let (d_b_pos, d_b_neg) = d_b.split_at_mut(n);
    let rd = ROWS_PER_TASK * d;
    (
        d_p.par_chunks_mut(rd),
        d_q_pos.par_chunks_mut(rd),
        d_q_neg.par_chunks_mut(rd),
        d_b_pos.par_chunks_mut(ROWS_PER_TASK),
        d_b_neg.par_chunks_mut(ROWS_PER_TASK),
        cache.margin.par_chunks(ROWS_PER_TASK),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(c, (d_p, d_q_pos, d_q_neg, d_b_pos, d_b_neg, margin))| {
            let at = c * rd;
            for (r, &x) in margin.iter().enumerate() {
                // σ(−x) = 1 / (1 + e^{x}), which neither overflows nor loses the small values.
                let g = -inv_n / (T::one() + x.exp());
                d_b_pos[r] = g;
                d_b_neg[r] = -g;
                for k in r * d..(r + 1) * d {
                    d_p[k] = g * (q_pos[at + k] - q_neg[at + k]);
                    d_q_pos[k] = g * p[at + k];
                    d_q_neg[k] = -g * p[at + k];
                }
            }
        });
}
