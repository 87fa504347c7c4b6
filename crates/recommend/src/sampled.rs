//! Sampled softmax with the log-Q correction (notes/recommend.md §10, K34): the cross-entropy
//! over the target and M items drawn from a proposal Q, with every logit corrected by
//! −ln(M·Q(i)) so that the sampled loss's gradient is an unbiased-in-the-limit estimate of the
//! full softmax's (Bengio & Senécal 2008; Jean et al. 2015; Yi et al. 2019).
//!
//! Shapes: N (row, target) pairs with their user vectors U (N, d); the item table Q (I, d) and
//! biases b (I,); M sampled items shared by the batch.

use glassbox_core::activation::SoftmaxRow;
use glassbox_core::init::uniform01;
use glassbox_core::{Float, Rng, gemm};
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::embedding::{embedding_backward, embedding_forward};

/// A proposal distribution Q over the I items, sampled by inverse CDF.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Q(i) (I,), Σ = 1.
    q: Vec<f64>,
    /// The running sums of Q in ascending i (I,); the last is 1 up to rounding.
    cumulative: Vec<f64>,
}

impl Proposal {
    /// `Q(i) = w_i^α / Σ_j w_j^α` (α = 1: popularity; α = 0: uniform). Weights of 0 get
    /// `Q = 0` for α > 0 and are never drawn.
    ///
    /// # Panics
    /// If a weight is negative or not finite, or every weight is 0.
    pub fn new(weights: &[f64], alpha: f64) -> Proposal {
        assert!(
            weights.iter().all(|w| w.is_finite() && *w >= 0.0),
            "Proposal: weights must be finite and ≥ 0"
        );
        let raw: Vec<f64> = weights
            .iter()
            .map(|&w| {
                if w == 0.0 && alpha > 0.0 {
                    0.0
                } else {
                    w.powf(alpha)
                }
            })
            .collect();
        let total: f64 = raw.iter().sum();
        assert!(total > 0.0, "Proposal: every weight is 0");
        let q: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let mut acc = 0.0;
        let cumulative = q
            .iter()
            .map(|p| {
                acc += p;
                acc
            })
            .collect();
        Proposal { q, cumulative }
    }

    /// Q(i).
    pub fn prob(&self, item: u32) -> f64 {
        self.q[item as usize]
    }

    /// M items drawn with replacement: item i for a uniform r when it is the first with
    /// `cumulative[i] > r` (items with Q = 0 are never the first). One `uniform01` per draw
    /// from `rng`, so a seeded stream gives the same items on every machine.
    pub fn sample(&self, m: usize, rng: &mut Rng) -> Vec<u32> {
        let last = self.q.iter().rposition(|&p| p > 0.0).unwrap_or(0);
        (0..m)
            .map(|_| {
                let r = uniform01(rng);
                self.cumulative.partition_point(|&c| c <= r).min(last) as u32
            })
            .collect()
    }
}

/// What [`sampled_softmax_backward`] needs from the forward pass.
#[derive(Debug, Clone)]
pub struct SampledCache<T> {
    /// Softmax over [target, sample 1, …, sample M] of each pair, (N, 1 + M); an accidental
    /// hit (sample = the pair's target) has probability 0.
    probs: Vec<T>,
    /// The sampled rows of Q, (M, d).
    q_sampled: Vec<T>,
    /// The targets' rows of Q, (N, d).
    q_target: Vec<T>,
}

/// (K34) With `o(n, i) = U[n]·Q[i] + b_i − ln(M·Q(i))`, for pair n with target t_n and the
/// shared samples S_1..S_M: `z_n = [o(n, t_n), o(n, S_1), …, o(n, S_M)]`, where a sample equal
/// to t_n (an accidental hit) gets −∞; `L = (1/N) Σ_n (lse(z_n) − z_n0)`. The sampled scores
/// are one GEMM `U Q_Sᵀ` through glassbox-core; rows are split between threads and the row
/// losses added in ascending n.
///
/// # Panics
/// If a shape disagrees, N or M is 0, or an id is out of range.
#[allow(clippy::too_many_arguments)]
pub fn sampled_softmax_forward<T: Float>(
    u: ArrayView2<T>,
    q: &[T],
    b: &[T],
    d: usize,
    targets: &[u32],
    sampled: &[u32],
    proposal: &Proposal,
) -> (T, SampledCache<T>) {
    let (n, m) = (targets.len(), sampled.len());
    assert!(
        n > 0 && m > 0,
        "sampled_softmax_forward: no pairs or no samples"
    );
    assert_eq!(u.dim(), (n, d), "sampled_softmax_forward: U is not (N, d)");
    let mut q_sampled = vec![T::zero(); m * d];
    let mut q_target = vec![T::zero(); n * d];
    embedding_forward(q, d, sampled, &mut q_sampled);
    embedding_forward(q, d, targets, &mut q_target);
    let log_mq = |i: u32| T::from_f64((m as f64 * proposal.prob(i)).ln());
    let mut zs = vec![T::zero(); n * m];
    gemm(
        T::one(),
        u,
        aview2_rows(&q_sampled, m, d).t(),
        T::zero(),
        aview_mut2_of(&mut zs, n, m),
    );
    let col: Vec<T> = sampled.iter().map(|&i| b[i as usize] - log_mq(i)).collect();
    let width = 1 + m;
    let mut probs = vec![T::zero(); n * width];
    let mut losses = vec![T::zero(); n];
    probs
        .par_chunks_mut(width)
        .zip(losses.par_iter_mut())
        .enumerate()
        .for_each(|(r, (p, loss))| {
            let t = targets[r];
            let qt = &q_target[r * d..(r + 1) * d];
            let dot = u
                .row(r)
                .iter()
                .zip(qt)
                .fold(T::zero(), |a, (&x, &y)| a + x * y);
            p[0] = dot + b[t as usize] - log_mq(t);
            for j in 0..m {
                p[1 + j] = if sampled[j] == t {
                    T::neg_infinity()
                } else {
                    zs[r * m + j] + col[j]
                };
            }
            let sm = SoftmaxRow::of(ndarray::aview1(p));
            *loss = sm.ln_sum() - sm.shifted(p[0]);
            for x in p.iter_mut() {
                *x = sm.prob(*x);
            }
        });
    let total = losses.iter().fold(T::zero(), |a, &l| a + l);
    (
        total / T::from_f64(n as f64),
        SampledCache {
            probs,
            q_sampled,
            q_target,
        },
    )
}

/// A (rows, cols) row-major view of a buffer of that length.
fn aview2_rows<T>(x: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), x).expect("a (rows, cols) buffer")
}

/// A (rows, cols) row-major mutable view of a buffer of that length.
fn aview_mut2_of<T>(x: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), x).expect("a (rows, cols) buffer")
}

/// (K34) Backward, accumulating into `d_u` (N, d), `d_q` (I, d), `d_b` (I,) (the caller
/// zeroes): `d_z_n = (softmax(z_n) − e_0)/N`; through `o`: `d_U[n] += Σ_j d_z_nj Q[c_j]`
/// (one GEMM for the samples), `d_Q[c_j] += d_z_nj U[n]` and `d_b[c_j] += d_z_nj`, scattered
/// into the table by the row-partitioned scatter-add (K13), targets first then samples.
#[allow(clippy::too_many_arguments)]
pub fn sampled_softmax_backward<T: Float>(
    cache: &SampledCache<T>,
    u: ArrayView2<T>,
    d: usize,
    targets: &[u32],
    sampled: &[u32],
    mut d_u: ArrayViewMut2<T>,
    d_q: &mut [T],
    d_b: &mut [T],
) {
    let (n, m) = (targets.len(), sampled.len());
    let width = 1 + m;
    let inv_n = T::from_f64(1.0 / n as f64);
    // d_z (N, 1 + M).
    let d_z: Vec<T> = cache
        .probs
        .chunks_exact(width)
        .flat_map(|p| {
            p.iter()
                .enumerate()
                .map(move |(j, &x)| (if j == 0 { x - T::one() } else { x }) * inv_n)
        })
        .collect();
    let d_zs: Vec<T> = d_z
        .chunks_exact(width)
        .flat_map(|r| r[1..].iter().copied())
        .collect();
    let d_z0: Vec<T> = d_z.chunks_exact(width).map(|r| r[0]).collect();
    // d_U += d_Zs Q_S, then the target column.
    gemm(
        T::one(),
        aview2_rows(&d_zs, n, m),
        aview2_rows(&cache.q_sampled, m, d),
        T::one(),
        d_u.view_mut(),
    );
    for (r, mut row) in d_u.rows_mut().into_iter().enumerate() {
        for (g, &qt) in row.iter_mut().zip(&cache.q_target[r * d..(r + 1) * d]) {
            *g += d_z0[r] * qt;
        }
    }
    // Rows of d_Q for the targets (N, d) then the samples (M, d): d_Zsᵀ U.
    let mut d_rows = vec![T::zero(); (n + m) * d];
    for (r, row) in d_rows[..n * d].chunks_exact_mut(d).enumerate() {
        for (g, &x) in row.iter_mut().zip(u.row(r).iter()) {
            *g = d_z0[r] * x;
        }
    }
    gemm(
        T::one(),
        aview2_rows(&d_zs, n, m).t(),
        u,
        T::zero(),
        aview_mut2_of(&mut d_rows[n * d..], m, d),
    );
    let ids: Vec<u32> = targets.iter().chain(sampled).copied().collect();
    embedding_backward(&d_rows, &ids, d, d_q);
    let mut d_bias: Vec<T> = d_z0.clone();
    for j in 0..m {
        d_bias.push((0..n).fold(T::zero(), |a, r| a + d_zs[r * m + j]));
    }
    embedding_backward(&d_bias, &ids, 1, d_b);
}
