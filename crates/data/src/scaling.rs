//! The preprocessing choices tabular networks need (notes/data.md §11, D17–D23): how a
//! numeric column is scaled after imputation and `log1p`, whether missing values get an
//! indicator, and whether rare categories are pooled. The [`FeatureOptions`] are fitted on the
//! training rows only and stored, with their statistics, in the preprocessor (hence in the
//! model bundle).
//!
//! The default options reproduce the preprocessing of notes/data.md §5 exactly (a bundle
//! written before these options existed reads back with them).

use serde::{Deserialize, Serialize};

/// How a numeric column's value u (after imputation (D2) and `log1p` (D3)) becomes a feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumericScaling {
    /// `(u − μ) / s` with the training mean and standard deviation (D4)–(D7).
    #[default]
    Standard,
    /// RealMLP's robust scaling with smooth clipping (D17)–(D19): centred on the median,
    /// divided by the interquartile range, then `x / √(1 + (x/3)²)`.
    RobustClip,
    /// Quantile-normal ("RankGauss"): Φ⁻¹ of the mid-rank empirical CDF of the training
    /// values, interpolated between them (D20)–(D21).
    QuantileNormal,
}

/// The selectable preprocessing of a training run (notes/data.md §11).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureOptions {
    /// Numeric scaling.
    #[serde(default)]
    pub numeric: NumericScaling,
    /// (D22) A 0/1 `column=<missing>` feature for every numeric column, and a `<missing>`
    /// level for every categorical column, that has missing values in the training rows.
    #[serde(default)]
    pub missing_indicators: bool,
    /// (D23) Categorical levels seen fewer than this many times in training are pooled with
    /// unseen levels into the `<unknown>` bucket; 0 or 1 pools nothing.
    #[serde(default)]
    pub rare_min_count: usize,
}

impl FeatureOptions {
    /// True for the preprocessing every record written before these options used (D4–D10).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Most knots a quantile-normal column keeps (D21): more distinct training values are thinned
/// to this many, so a bundle stays small (a continuous column of 20k rows would otherwise
/// store 40k numbers).
pub const MAX_QUANTILE_KNOTS: usize = 1025;

/// The fitted non-standard scaling of one numeric column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scaling", rename_all = "snake_case")]
pub enum FittedScaling {
    /// (D17)–(D19): `x = factor · (u − center)`, feature `x / √(1 + (x/3)²)`.
    RobustClip {
        #[serde(with = "crate::features::exact_f64")]
        center: f64,
        #[serde(with = "crate::features::exact_f64")]
        factor: f64,
    },
    /// (D20)–(D21): knots `v_k` (increasing) and their normal scores `g_k`.
    QuantileNormal {
        #[serde(with = "crate::features::exact_f64_vec")]
        knots: Vec<f64>,
        #[serde(with = "crate::features::exact_f64_vec")]
        scores: Vec<f64>,
    },
}

/// The q-quantile of sorted values with linear interpolation between order statistics
/// (NumPy's default, "linear"): position h = (n − 1)·q, value `v[⌊h⌋] + (h − ⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋])`.
///
/// **Panics** if `sorted` is empty.
pub fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// (D19) Smooth clipping, `x / √(1 + (x/3)²)`: the identity near 0, tending to ±3.
pub fn smooth_clip(x: f64) -> f64 {
    x / (1.0 + (x / 3.0) * (x / 3.0)).sqrt()
}

impl FittedScaling {
    /// (D17)–(D18) Robust scaling fitted on the training values `u` (imputed, non-empty):
    ///
    /// ```text
    /// center = median(u),   q = Q(0.75) − Q(0.25)   (linear quantiles)
    /// if q = 0: q = (max − min)/2;   factor = 1/q, or 0 when q is still 0 (a constant column)
    /// ```
    ///
    /// **Panics** if `u` is empty.
    pub fn fit_robust(u: &[f64]) -> FittedScaling {
        let mut sorted = u.to_vec();
        sorted.sort_by(f64::total_cmp);
        let center = quantile_linear(&sorted, 0.5);
        let mut spread = quantile_linear(&sorted, 0.75) - quantile_linear(&sorted, 0.25);
        if spread == 0.0 {
            spread = 0.5 * (sorted[sorted.len() - 1] - sorted[0]);
        }
        let factor = if spread == 0.0 { 0.0 } else { 1.0 / spread };
        FittedScaling::RobustClip { center, factor }
    }

    /// (D20)–(D21) Quantile-normal scores fitted on the training values `u` (non-empty).
    /// With distinct values v_1 < … < v_K of counts c_k, N = Σ c_k and C_k = c_1 + … + c_k:
    ///
    /// ```text
    /// (D20)  F_k = (C_{k−1} + c_k/2) / N,   g_k = Φ⁻¹(F_k)      (K = 1: g_1 = 0)
    /// ```
    ///
    /// F_k is the mid-rank of v_k, strictly inside (0, 1), so g_k is finite. More than
    /// [`MAX_QUANTILE_KNOTS`] knots are thinned to the knots of index round(j·(K−1)/(M−1)),
    /// j = 0 … M−1 (first and last kept).
    ///
    /// **Panics** if `u` is empty.
    pub fn fit_quantile_normal(u: &[f64]) -> FittedScaling {
        let mut sorted = u.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mut knots = Vec::new();
        let mut scores = Vec::new();
        let mut below = 0usize;
        let mut i = 0;
        while i < sorted.len() {
            let mut j = i;
            while j < sorted.len() && sorted[j] == sorted[i] {
                j += 1;
            }
            let count = (j - i) as f64;
            // (D20) mid-rank CDF, then the normal score.
            let f = (below as f64 + 0.5 * count) / n;
            knots.push(sorted[i]);
            scores.push(glassbox_core::special::normal_quantile(f));
            below = j;
            i = j;
        }
        if knots.len() == 1 {
            scores[0] = 0.0;
        }
        if knots.len() > MAX_QUANTILE_KNOTS {
            let k = knots.len() - 1;
            let m = MAX_QUANTILE_KNOTS - 1;
            let keep: Vec<usize> = (0..=m)
                .map(|j| ((j * k) as f64 / m as f64).round() as usize)
                .collect();
            knots = keep.iter().map(|&i| knots[i]).collect();
            scores = keep.iter().map(|&i| scores[i]).collect();
        }
        FittedScaling::QuantileNormal { knots, scores }
    }

    /// The feature of value `u`.
    pub fn apply(&self, u: f64) -> f64 {
        match self {
            // (D17)–(D19)
            FittedScaling::RobustClip { center, factor } => smooth_clip(factor * (u - center)),
            FittedScaling::QuantileNormal { knots, scores } => interpolate(knots, scores, u),
        }
    }
}

/// (D21) The piecewise-linear map through (v_k, g_k): g_1 at or below v_1, g_K at or above
/// v_K, else `g_k + (u − v_k)/(v_{k+1} − v_k) · (g_{k+1} − g_k)` for v_k ≤ u < v_{k+1}.
fn interpolate(knots: &[f64], scores: &[f64], u: f64) -> f64 {
    let last = knots.len() - 1;
    if u <= knots[0] {
        return scores[0];
    }
    if u >= knots[last] {
        return scores[last];
    }
    // First knot above u; 1 ≤ k ≤ last because knots[0] < u < knots[last].
    let k = knots.partition_point(|&v| v <= u);
    let (v0, v1, g0, g1) = (knots[k - 1], knots[k], scores[k - 1], scores[k]);
    g0 + (u - v0) / (v1 - v0) * (g1 - g0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_scaling_by_hand() {
        // u = 1, 2, 3, 4, 100: median 3; Q(0.25) = 2, Q(0.75) = 4 → factor 1/2.
        let s = FittedScaling::fit_robust(&[100.0, 1.0, 2.0, 4.0, 3.0]);
        assert_eq!(
            s,
            FittedScaling::RobustClip {
                center: 3.0,
                factor: 0.5
            }
        );
        // x = (5 − 3)/2 = 1 → 1/√(1 + 1/9) = 3/√10.
        assert_eq!(s.apply(5.0), 3.0 / 10f64.sqrt());
        // The outlier: x = 48.5 → 48.5/√(1 + (48.5/3)²) = 2.9943…, below 3.
        let far = s.apply(100.0);
        assert!((far - 48.5 / (1.0 + (48.5f64 / 3.0).powi(2)).sqrt()).abs() < 1e-15);
        assert!(far < 3.0 && far > 2.99);
        assert_eq!(s.apply(3.0), 0.0);
    }

    #[test]
    fn robust_scaling_falls_back_to_half_the_range_then_to_zero() {
        // 0/1 column with 90 % zeros: IQR 0 → q = (1 − 0)/2, factor 2; median 0.
        let mut u = vec![0.0; 9];
        u.push(1.0);
        let s = FittedScaling::fit_robust(&u);
        assert_eq!(
            s,
            FittedScaling::RobustClip {
                center: 0.0,
                factor: 2.0
            }
        );
        assert_eq!(s.apply(1.0), smooth_clip(2.0));
        // A constant column maps everything to 0, also unseen values.
        let c = FittedScaling::fit_robust(&[7.0, 7.0, 7.0]);
        assert_eq!(c.apply(7.0), 0.0);
        assert_eq!(c.apply(-1e9), 0.0);
    }

    #[test]
    fn quantile_normal_by_hand() {
        // A 0/1 column with 70 % zeros: F = 0.35 and 0.85 → −0.3853, +1.0364 (the
        // shared suite's README quotes −0.39 / +1.04 for its RankGauss).
        let mut u = vec![0.0; 7];
        u.extend([1.0; 3]);
        let s = FittedScaling::fit_quantile_normal(&u);
        let FittedScaling::QuantileNormal { knots, scores } = &s else {
            panic!("quantile-normal expected");
        };
        assert_eq!(knots, &[0.0, 1.0]);
        // scipy.stats.norm.ppf(0.35), norm.ppf(0.85)
        assert!((scores[0] + 0.385_320_466_407_567_6).abs() < 1e-12);
        assert!((scores[1] - 1.036_433_389_493_789_7).abs() < 1e-12);
        // Between the knots: linear; outside: clamped.
        let mid = s.apply(0.25);
        assert!((mid - (scores[0] + 0.25 * (scores[1] - scores[0]))).abs() < 1e-15);
        assert_eq!(s.apply(-5.0), scores[0]);
        assert_eq!(s.apply(9.0), scores[1]);
        // Four distinct values: F = 1/8, 3/8, 5/8, 7/8, symmetric scores.
        let t = FittedScaling::fit_quantile_normal(&[4.0, 1.0, 3.0, 2.0]);
        let FittedScaling::QuantileNormal { scores, .. } = &t else {
            panic!("quantile-normal expected");
        };
        assert!((scores[0] + 1.150_349_380_376_008).abs() < 1e-12); // norm.ppf(1/8)
        assert!((scores[0] + scores[3]).abs() < 1e-15);
        // A constant column → 0.
        assert_eq!(
            FittedScaling::fit_quantile_normal(&[2.0, 2.0]).apply(2.0),
            0.0
        );
    }

    #[test]
    fn many_distinct_values_are_thinned_keeping_both_ends() {
        let u: Vec<f64> = (0..5000).map(|i| (i as f64).sqrt()).collect();
        let FittedScaling::QuantileNormal { knots, scores } =
            FittedScaling::fit_quantile_normal(&u)
        else {
            panic!("quantile-normal expected");
        };
        assert_eq!(knots.len(), MAX_QUANTILE_KNOTS);
        assert_eq!((knots[0], knots[knots.len() - 1]), (0.0, 4999f64.sqrt()));
        assert!(knots.windows(2).all(|w| w[0] < w[1]));
        assert!(scores.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.quantile([1, 2, 4, 8], [0.25, 0.5, 0.75]) = 1.75, 3.0, 5.0
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile_linear(&v, 0.25), 1.75);
        assert_eq!(quantile_linear(&v, 0.5), 3.0);
        assert_eq!(quantile_linear(&v, 0.75), 5.0);
    }
}
