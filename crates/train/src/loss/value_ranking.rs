//! The pairwise ranking term beside a value loss (notes/value.md §1, C41–C43): a smooth,
//! value-weighted count of the batch's mis-ordered pairs, the part of the normalized Gini
//! (C31) that the predictions move.

use glassbox_core::Float;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::value::{ValueHead, sigmoid_f64, ziln_sigma};

/// `softplus(x) = ln(1 + eˣ)`, stable for any finite x.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// (C43) The score of one row of outputs, `r = ln ŷ`, and `∂r/∂outputs` (written into
/// `d_r`, the row's width): ZILN `ln σ(z) + μ + σ²/2` (C7), the log1p head `a` (C2).
fn score(head: ValueHead, row: &[f64], d_r: &mut [f64]) -> f64 {
    match head {
        ValueHead::Log1p => {
            d_r[0] = 1.0;
            row[0]
        }
        ValueHead::Ziln => {
            let (z, mu, s) = (row[0], row[1], row[2]);
            let (sigma, d_sigma_d_s) = ziln_sigma(s);
            d_r[0] = sigmoid_f64(-z); // ∂ ln σ(z)/∂z = 1 − σ(z)
            d_r[1] = 1.0;
            d_r[2] = sigma * d_sigma_d_s;
            -softplus(-z) + mu + 0.5 * sigma * sigma
        }
    }
}

/// The shapes checked, then the batch's targets, its scores (C43) and their row gradients,
/// (N,), (N,) and (N, width) row-major.
fn batch_scores<T: Float>(
    head: ValueHead,
    a: &ArrayView2<T>,
    y: &ArrayView2<T>,
    d_a: &Option<ArrayViewMut2<T>>,
    what: &str,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (width, n) = (head.outputs(), a.nrows());
    super::value::check_value_shapes(a, y, width, what);
    super::check_grad(d_a, a.dim(), what, "d_a");
    let ys: Vec<f64> = y.iter().map(|&v| v.to_f64()).collect();
    let mut d_r = vec![0.0f64; n * width];
    let r: Vec<f64> = (0..n)
        .map(|i| {
            let row: Vec<f64> = (0..width).map(|o| a[[i, o]].to_f64()).collect();
            score(head, &row, &mut d_r[i * width..(i + 1) * width])
        })
        .collect();
    (ys, r, d_r)
}

/// The pairwise ranking term (C41) of a batch and its gradient (C42, C43):
///
/// `R = (1/W)·Σ_{y_i > y_j} (y_i − y_j)·softplus(r_j − r_i)`, `W = Σ_{y_i > y_j} (y_i − y_j)`,
///
/// `r_n` the head's log-prediction (C43); `R = 0` (and no gradient) when every y of the batch
/// is equal. `a` is (N, head width) raw outputs, `y` (N, 1) with `y ≥ 0`; `λ·∂R/∂a` is
/// **added** into `d_a` (N, width). Unweighted (C43). Pairs are visited i, then j, in row
/// order, so the sums do not depend on the thread count. Returns `λ·R`.
///
/// # Panics
/// If `a`'s width is not the head's, `y` is not (N, 1), N = 0, or `d_a`'s shape differs.
pub fn pairwise_ranking<T: Float>(
    head: ValueHead,
    lambda: f64,
    a: ArrayView2<T>,
    y: ArrayView2<T>,
    d_a: Option<ArrayViewMut2<T>>,
) -> f64 {
    let (width, n) = (head.outputs(), a.nrows());
    let (ys, r, d_r) = batch_scores(head, &a, &y, &d_a, "pairwise_ranking");
    let mut total_weight = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            if ys[i] > ys[j] {
                total_weight += ys[i] - ys[j];
            }
        }
    }
    if total_weight <= 0.0 || !total_weight.is_finite() {
        return 0.0;
    }
    let mut sum = 0.0f64;
    let mut d_score = vec![0.0f64; n];
    for i in 0..n {
        for j in 0..n {
            if ys[i] > ys[j] {
                let w = (ys[i] - ys[j]) / total_weight;
                let x = r[j] - r[i];
                sum += w * softplus(x); // C41
                let g = w * sigmoid_f64(x); // C42
                d_score[i] -= g;
                d_score[j] += g;
            }
        }
    }
    if let Some(mut d) = d_a {
        for i in 0..n {
            for o in 0..width {
                d[[i, o]] += T::from_f64(lambda * d_score[i] * d_r[i * width + o]);
            }
        }
    }
    lambda * sum
}

/// The listwise term beside a value loss (V26, V27): ListNet with targets ∝ y, the
/// Kullback–Leibler divergence of the batch's predicted spend shares from its actual ones,
///
/// `Q = Σ_i P_i·(ln P_i − ln q_i)`, `P_i = y_i/Σy`, `q_i = e^{r_i}/Σ_j e^{r_j}` (= ŷ_i/Σŷ),
///
/// `r_n` the head's log-prediction (C43), `0·ln 0 = 0`; `Q = 0` (and no gradient) when the
/// batch spends nothing. `∂Q/∂r_i = q_i − P_i` (V27), chained to the outputs by C43 and
/// **added**, times λ, into `d_a`. Unweighted, sums in row order. Returns `λ·Q`.
///
/// # Panics
/// If `a`'s width is not the head's, `y` is not (N, 1), N = 0, or `d_a`'s shape differs.
pub fn listwise_ranking<T: Float>(
    head: ValueHead,
    lambda: f64,
    a: ArrayView2<T>,
    y: ArrayView2<T>,
    d_a: Option<ArrayViewMut2<T>>,
) -> f64 {
    let (width, n) = (head.outputs(), a.nrows());
    let (ys, r, d_r) = batch_scores(head, &a, &y, &d_a, "listwise_ranking");
    let total: f64 = ys.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return 0.0;
    }
    // ln Σ e^{r_j}, shifted by the largest score (V26).
    let top = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_norm = top + r.iter().map(|&x| (x - top).exp()).sum::<f64>().ln();
    let mut q_sum = 0.0f64;
    for i in 0..n {
        let p = ys[i] / total;
        if p > 0.0 {
            q_sum += p * (p.ln() - (r[i] - log_norm));
        }
    }
    if let Some(mut d) = d_a {
        for i in 0..n {
            let g = (r[i] - log_norm).exp() - ys[i] / total; // V27
            for o in 0..width {
                d[[i, o]] += T::from_f64(lambda * g * d_r[i * width + o]);
            }
        }
    }
    lambda * q_sum
}
