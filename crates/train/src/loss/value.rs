//! Losses for a non-negative, heavy-tailed value `y ≥ 0` (a customer's future spend), each
//! with the head it trains and the prediction that head gives (notes/value.md §1, C1–C8):
//!
//! - [`mse_log1p`]: one output `a`, squared error against `ln(1 + y)` (C1); predicts
//!   `max(0, eᵃ − 1)` (C2).
//! - [`huber_log1p`]: one output, Huber (δ = 1, PyTorch's default) against `ln(1 + y)` (C3).
//! - [`ziln`]: the zero-inflated lognormal of Wang, Liu & Miao (2019): three outputs per row
//!   `(z, μ, s)` — purchase logit, log-scale mean, pre-softplus scale (C4) — BCE on "any
//!   value" plus the lognormal negative log-likelihood of the positive values (C5, C6);
//!   predicts `σ(z)·exp(μ + σ²/2)` and the mixture's quantiles (C7, C8).
//!
//! Targets are (N, 1) for all three; the loss owns its head: [`ValueHead::outputs`] is the
//! width of the network's last layer. Every row is computed in f64 and the gradient cast to
//! `T`, so f32 training sees the same stable formulas as the f64 gradient check. Like
//! every loss here the value is the weighted mean over the N rows and the gradient is
//! **added** into the caller's buffer.

use glassbox_core::Float;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::{Weighting, check_grad, times};

/// Huber's threshold δ (PyTorch `HuberLoss(delta=1.0)`, the default): quadratic inside
/// `|r| ≤ δ`, linear outside (C3).
pub const HUBER_DELTA: f64 = 1.0;

/// The floor of the lognormal scale, `σ ≥ √1e-7` as in `google/lifetime_value`'s
/// `zero_inflated_lognormal_loss` (C4): without it σ → 0 makes `(ln y − μ)²/σ²` infinite.
/// Below the floor `∂σ/∂s = 0` (the max picks the constant).
pub const ZILN_SIGMA_FLOOR: f64 = 3.162_277_660_168_379_5e-4;

/// Which value head a loss trains (C2, C7): how wide the last layer is and how its outputs
/// become a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueHead {
    /// One output `a ≈ ln(1 + y)` ([`mse_log1p`], [`huber_log1p`]).
    Log1p,
    /// Three outputs `(z, μ, s)` ([`ziln`]).
    Ziln,
}

/// A head's prediction for one row (C2, C7).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValuePrediction {
    /// P(y > 0): `σ(z)` for ZILN; for the log1p head 1 when the prediction is positive.
    pub probability: f64,
    /// The predicted value: `E[y] = p·exp(μ + σ²/2)` (ZILN) or `max(0, eᵃ − 1)` (log1p).
    pub expected: f64,
    /// μ and σ of the lognormal of a positive value (ZILN), `(a, 0)` for the log1p head.
    pub mu: f64,
    /// The lognormal scale σ (C4); 0 for the log1p head.
    pub sigma: f64,
}

impl ValueHead {
    /// Outputs of the last layer this head needs.
    pub fn outputs(self) -> usize {
        match self {
            ValueHead::Log1p => 1,
            ValueHead::Ziln => 3,
        }
    }

    /// The prediction from one row of raw outputs (C2, C7).
    ///
    /// # Panics
    /// If `row` does not have [`ValueHead::outputs`] entries.
    pub fn predict(self, row: &[f64]) -> ValuePrediction {
        assert_eq!(row.len(), self.outputs(), "{self:?} head: wrong row width");
        match self {
            ValueHead::Log1p => {
                let expected = row[0].exp_m1().max(0.0); // C2
                ValuePrediction {
                    probability: if expected > 0.0 { 1.0 } else { 0.0 },
                    expected,
                    mu: row[0],
                    sigma: 0.0,
                }
            }
            ValueHead::Ziln => {
                let p = sigmoid_f64(row[0]);
                let (sigma, _) = ziln_sigma(row[2]);
                let mu = row[1];
                // C7: exp of a finite argument; beyond f64's range it is +∞, stated, not hidden.
                let expected = p * (mu + 0.5 * sigma * sigma).exp();
                ValuePrediction {
                    probability: p,
                    expected,
                    mu,
                    sigma,
                }
            }
        }
    }

    /// The τ-quantile of the predicted distribution of y (C8): for ZILN the mixture of a
    /// point mass `1 − p` at 0 and the lognormal, `0` if `τ ≤ 1 − p`, else
    /// `exp(μ + σ·Φ⁻¹((τ − 1 + p)/p))`; for the log1p head the point prediction.
    ///
    /// # Panics
    /// If `τ` is not in (0, 1).
    pub fn quantile(self, prediction: &ValuePrediction, tau: f64) -> f64 {
        assert!(tau > 0.0 && tau < 1.0, "quantile level {tau} not in (0, 1)");
        match self {
            ValueHead::Log1p => prediction.expected,
            ValueHead::Ziln => {
                let p = prediction.probability;
                if tau <= 1.0 - p {
                    0.0
                } else {
                    let level = ((tau - 1.0 + p) / p).min(1.0 - f64::EPSILON);
                    (prediction.mu + prediction.sigma * normal_quantile(level)).exp()
                }
            }
        }
    }
}

impl ValueHead {
    /// (C36) The prediction of `s·y`, for a level factor `s > 0`: the expected value times
    /// s; for ZILN μ shifted by `ln s`, so the lognormal, its mean and every quantile (C8)
    /// scale by s while `p` stays; for the log1p head (whose quantile is the point
    /// prediction) only the expected value.
    pub fn rescale(self, prediction: ValuePrediction, s: f64) -> ValuePrediction {
        ValuePrediction {
            expected: prediction.expected * s,
            mu: match self {
                ValueHead::Log1p => prediction.mu,
                ValueHead::Ziln => prediction.mu + s.ln(),
            },
            ..prediction
        }
    }
}

/// (C36) The level factor fitted on validation rows, `s = Σ y / Σ ŷ` (sums in row order):
/// after it the predictions sum to the actual total there. 1 when either sum is not
/// positive and finite (nothing to calibrate on).
pub fn level_scale(actual: &[f64], predicted: &[f64]) -> f64 {
    let total = |v: &[f64]| v.iter().fold(0.0, |s, x| s + x);
    let (y, p) = (total(actual), total(predicted));
    if y > 0.0 && y.is_finite() && p > 0.0 && p.is_finite() {
        y / p
    } else {
        1.0
    }
}

/// The range the decile power map's exponent is held to (C39): positive, so the map keeps
/// the ranking; at most 2, so a noisy chart cannot blow the top up.
pub const DECILE_POWER_RANGE: (f64, f64) = (0.05, 2.0);

/// (C39) The decile power map fitted on validation rows: the least-squares line of
/// `ln(mean y_d)` on `ln(mean ŷ_d)` over the decile chart (C33; deciles with both means
/// positive), returned as `(a, b)` of `ŷ' = a·ŷᵇ` with b held to [`DECILE_POWER_RANGE`].
/// `(1, 1)` (the identity) when fewer than two deciles qualify or their ŷ are all equal.
pub fn decile_power_map(actual: &[f64], predicted: &[f64]) -> (f64, f64) {
    let Ok(chart) = crate::metrics::value::decile_chart(actual, predicted) else {
        return (1.0, 1.0);
    };
    let points: Vec<(f64, f64)> = chart
        .iter()
        .filter(|d| d.actual > 0.0 && d.predicted > 0.0)
        .map(|d| (d.predicted.ln(), d.actual.ln()))
        .collect();
    let n = points.len() as f64;
    let mean = |f: fn(&(f64, f64)) -> f64| points.iter().map(f).fold(0.0, |s, v| s + v) / n;
    let (mx, my) = (mean(|p| p.0), mean(|p| p.1));
    let sxx = points.iter().fold(0.0, |s, p| s + (p.0 - mx) * (p.0 - mx));
    let sxy = points.iter().fold(0.0, |s, p| s + (p.0 - mx) * (p.1 - my));
    // Equal ŷ everywhere: their logs' mean can differ from each in the last bit, so the
    // spread, not sxx = 0, says there is no slope to fit.
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.0), h.max(p.0))
        });
    if points.len() < 2 || hi - lo <= 1e-9 || !(sxy / sxx).is_finite() {
        return (1.0, 1.0);
    }
    let b = (sxy / sxx).clamp(DECILE_POWER_RANGE.0, DECILE_POWER_RANGE.1);
    ((my - b * mx).exp(), b)
}

/// (C39) The decile power map applied: `a·max(ŷ, 0)ᵇ` (b > 0, so 0 stays 0 and the order
/// of the predictions is kept).
pub fn apply_power_map((a, b): (f64, f64), predicted: f64) -> f64 {
    a * predicted.max(0.0).powf(b)
}

/// (C37) The blend of a network's prediction with a rule's: `α·net + (1 − α)·rule`.
pub fn blend(alpha: f64, net: f64, rule: f64) -> f64 {
    alpha * net + (1.0 - alpha) * rule
}

/// (C37) The blend weight fitted on validation rows: the α of the grid 1, 0.9, …, 0 whose
/// blend has the highest normalized Gini (C31) there; the first best in that order, so a tie
/// keeps more of the network. 1 when the Gini is undefined (no value on these rows).
pub fn blend_weight(actual: &[f64], net: &[f64], rule: &[f64]) -> f64 {
    let mut best = (f64::NEG_INFINITY, 1.0);
    for step in (0..=10).rev() {
        let alpha = f64::from(step) / 10.0;
        let mixed: Vec<f64> = net
            .iter()
            .zip(rule)
            .map(|(&n, &r)| blend(alpha, n, r))
            .collect();
        if let Ok(g) = crate::metrics::value::normalized_gini(actual, &mixed)
            && g > best.0
        {
            best = (g, alpha);
        }
    }
    best.1
}

impl super::LossKind {
    /// The value head this loss trains, if it is a value loss: the loss owns its head.
    pub fn value_head(self) -> Option<ValueHead> {
        match self {
            super::LossKind::MseLog1p | super::LossKind::HuberLog1p => Some(ValueHead::Log1p),
            super::LossKind::Ziln => Some(ValueHead::Ziln),
            _ => None,
        }
    }

    /// Columns of the targets Y for a network of `outputs` outputs: one value per row for
    /// a value loss (ZILN's three outputs model one target), `outputs` otherwise.
    pub fn target_width(self, outputs: usize) -> usize {
        if self.value_head().is_some() {
            1
        } else {
            outputs
        }
    }
}

/// `σ(x)` in f64, the stable two-branch form (B10a).
pub(super) fn sigmoid_f64(x: f64) -> f64 {
    glassbox_core::sigmoid(x)
}

/// (C4) `σ = max(softplus(s), σ_min)` and `∂σ/∂s` (`sigmoid(s)` above the floor, 0 on it);
/// softplus in the stable form `max(s, 0) + ln(1 + e^{−|s|})`.
pub(super) fn ziln_sigma(s: f64) -> (f64, f64) {
    let softplus = s.max(0.0) + (-s.abs()).exp().ln_1p();
    if softplus > ZILN_SIGMA_FLOOR {
        (softplus, sigmoid_f64(s))
    } else {
        (ZILN_SIGMA_FLOOR, 0.0)
    }
}

/// Checks a value loss's shapes: outputs (N, width), targets (N, 1), N ≥ 1.
pub(super) fn check_value_shapes<T>(
    a: &ArrayView2<T>,
    y: &ArrayView2<T>,
    width: usize,
    loss: &str,
) {
    assert_eq!(
        a.ncols(),
        width,
        "{loss}: the outputs are {:?} but the head has {width} columns",
        a.dim()
    );
    assert_eq!(
        y.dim(),
        (a.nrows(), 1),
        "{loss}: the targets are {:?} but the outputs {:?} (targets are one value per row)",
        y.dim(),
        a.dim()
    );
    assert!(a.nrows() > 0, "{loss}: empty batch (N = 0)");
}

/// The row driver of the value losses: `row(outputs, y, grad)` returns `ℓ_n` and writes
/// `∂ℓ_n/∂outputs` into `grad`; returns `(1/N) Σ_n w_n ℓ_n` (f64, row order) and adds
/// `w_n·∂ℓ_n/∂a/N` into `d_a`. The class of a row, for class weights, is `y > 0`.
fn rows<T: Float, const W: usize>(
    loss: &str,
    a: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    mut d_a: Option<ArrayViewMut2<T>>,
    row: impl Fn(&[f64; W], f64, &mut [f64; W]) -> f64,
) -> f64 {
    check_value_shapes(&a, &y, W, loss);
    check_grad(&d_a, a.dim(), loss, "d_a");
    let n_rows = a.nrows();
    weighting.check(n_rows, loss);
    let inv_n = 1.0 / n_rows as f64;
    let mut sum = 0.0f64;
    for n in 0..n_rows {
        let target = y[[n, 0]].to_f64();
        let w = weighting.row(n, || usize::from(target > 0.0)).to_f64();
        let outputs: [f64; W] = std::array::from_fn(|o| a[[n, o]].to_f64());
        let mut grad = [0.0f64; W];
        let l = row(&outputs, target, &mut grad);
        sum += times(w, l);
        if let Some(d) = d_a.as_mut() {
            for (o, g) in grad.iter().enumerate() {
                d[[n, o]] += T::from_f64(times(w * inv_n, *g));
            }
        }
    }
    sum * inv_n
}

/// MSE against `ln(1 + y)` (C1): `ℓ = (a − ln(1 + y))²`, `∂ℓ/∂a = 2·(a − ln(1 + y))`;
/// `L = (1/N) Σ w_n ℓ_n`. `a` is (N, 1), `y` (N, 1) with `y ≥ 0`; `d_a` is added to.
///
/// # Panics
/// If the shapes are not (N, 1), N = 0, or the sample weights are not (N,).
pub fn mse_log1p<T: Float>(
    a: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    d_a: Option<ArrayViewMut2<T>>,
) -> f64 {
    rows::<T, 1>("mse_log1p", a, y, weighting, d_a, |out, y, grad| {
        let r = out[0] - y.ln_1p(); // C1
        grad[0] = 2.0 * r;
        r * r
    })
}

/// Huber loss against `ln(1 + y)` with δ = [`HUBER_DELTA`] (C3), PyTorch `HuberLoss`:
/// `r = a − ln(1 + y)`; `ℓ = r²/2` if `|r| ≤ δ`, else `δ·(|r| − δ/2)`; `∂ℓ/∂a = r` or
/// `δ·sign(r)`. Shapes and panics as [`mse_log1p`].
pub fn huber_log1p<T: Float>(
    a: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    d_a: Option<ArrayViewMut2<T>>,
) -> f64 {
    rows::<T, 1>("huber_log1p", a, y, weighting, d_a, |out, y, grad| {
        let r = out[0] - y.ln_1p(); // C3
        if r.abs() <= HUBER_DELTA {
            grad[0] = r;
            0.5 * r * r
        } else {
            grad[0] = HUBER_DELTA * r.signum();
            HUBER_DELTA * (r.abs() - 0.5 * HUBER_DELTA)
        }
    })
}

/// ½·ln(2π), the lognormal density's constant.
const HALF_LN_TWO_PI: f64 = 0.918_938_533_204_672_8;

/// The zero-inflated lognormal loss (C4–C6), as `google/lifetime_value`'s
/// `zero_inflated_lognormal_loss`. Per row, outputs `(z, μ, s)`, `q = 1[y > 0]`,
/// `σ = max(softplus(s), σ_min)` (C4):
///
/// `ℓ = max(z, 0) − z·q + ln(1 + e^{−|z|}) + q·[ln y + ln σ + ½ln 2π + (ln y − μ)²/(2σ²)]` (C5),
///
/// `∂ℓ/∂z = σ(z) − q`, `∂ℓ/∂μ = −q·(ln y − μ)/σ²`,
/// `∂ℓ/∂s = q·(1/σ − (ln y − μ)²/σ³)·∂σ/∂s` (C6); `L = (1/N) Σ w_n ℓ_n`.
///
/// Extremes: a row with `y = 0` touches only `z` (its μ and s gradients are exactly 0, so
/// an all-zero batch trains the classifier alone); σ never drops below σ_min, so the NLL
/// is finite for every finite `y > 0`, however large (`ln y ≤ 710`); the logit part is the
/// stable BCE (L5). `a` is (N, 3), `y` (N, 1); `d_a` (N, 3) is added to.
///
/// # Panics
/// If the shapes are not (N, 3) and (N, 1), N = 0, or the sample weights are not (N,).
pub fn ziln<T: Float>(
    a: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    d_a: Option<ArrayViewMut2<T>>,
) -> f64 {
    rows::<T, 3>("ziln", a, y, weighting, d_a, |out, y, grad| {
        let [z, mu, s] = *out;
        let positive = y > 0.0;
        let q = if positive { 1.0 } else { 0.0 };
        // BCE from the logit, stable form (L5), linear part by the zero-coefficient rule (L0).
        let linear = if z >= 0.0 {
            times(1.0 - q, z)
        } else {
            times(q, -z)
        };
        let mut l = linear + (-z.abs()).exp().ln_1p();
        grad[0] = sigmoid_f64(z) - q; // C6
        if positive {
            let (sigma, d_sigma_d_s) = ziln_sigma(s);
            let ln_y = y.ln();
            let r = ln_y - mu;
            let inv_var = 1.0 / (sigma * sigma);
            l += ln_y + sigma.ln() + HALF_LN_TWO_PI + 0.5 * r * r * inv_var; // C5
            grad[1] = -r * inv_var; // C6
            grad[2] = (1.0 / sigma - r * r * inv_var / sigma) * d_sigma_d_s;
        }
        l
    })
}

pub use glassbox_core::special::normal_quantile; // C8: one owner, in core with erfc

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn normal_quantile_hits_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-15);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090_232_306_167_813_5).abs() < 1e-11);
        assert!((normal_quantile(0.1) + 1.281_551_565_544_600_4).abs() < 1e-12);
    }

    #[test]
    fn an_all_zero_batch_trains_only_the_logit() {
        let a = array![[0.3, 5.0, -2.0], [-1.0, 100.0, 40.0]];
        let y = array![[0.0], [0.0]];
        let mut d = Array2::zeros((2, 3));
        let l = ziln(a.view(), y.view(), &Weighting::NONE, Some(d.view_mut()));
        let bce = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
        assert!((l - (bce(0.3) + bce(-1.0)) / 2.0).abs() < 1e-15);
        for n in 0..2 {
            assert!((d[[n, 0]] - sigmoid_f64(a[[n, 0]]) / 2.0).abs() < 1e-16);
            assert_eq!((d[[n, 1]], d[[n, 2]]), (0.0, 0.0));
        }
    }

    #[test]
    fn extremes_stay_finite() {
        // σ pushed to the floor (s = −60), huge y (1e300), a confident logit (±800).
        let a = array![[800.0, 0.0, -60.0], [-800.0, 690.0, 0.0], [0.0, 3.0, 50.0]];
        let y = array![[1e300], [0.0], [1e-300]];
        let mut d = Array2::<f64>::zeros((3, 3));
        let l = ziln(a.view(), y.view(), &Weighting::NONE, Some(d.view_mut()));
        assert!(l.is_finite(), "{l}");
        assert!(d.iter().all(|g| g.is_finite()), "{d:?}");
        assert_eq!(d[[0, 2]], 0.0, "on the floor σ does not move with s");
        let p = ValueHead::Ziln.predict(&[800.0, 3.0, 50.0]);
        assert!((p.probability - 1.0).abs() < 1e-15 && p.sigma == 50.0);
    }

    #[test]
    fn mixture_quantiles_put_the_zero_mass_first() {
        let head = ValueHead::Ziln;
        let p = head.predict(&[0.0, 2.0, 0.5]); // p = 1/2
        assert_eq!(head.quantile(&p, 0.4), 0.0);
        // τ = 0.75 → the lognormal's median.
        assert!((head.quantile(&p, 0.75) - 2.0f64.exp()).abs() < 1e-12);
        let mean = 0.5 * (2.0 + 0.5 * p.sigma * p.sigma).exp();
        assert!((p.expected - mean).abs() < 1e-12);
    }
}
