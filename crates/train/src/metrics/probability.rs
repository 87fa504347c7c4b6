//! Metrics of the predicted probabilities themselves: log-loss (M14), the Brier score (M15)
//! and the calibration table (M16). Scores must lie in `[0, 1]`.

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_probabilities};

/// Mean log-loss (binary cross-entropy) of probabilities `p` for labels `y` (M14), as
/// `sklearn.metrics.log_loss(y, p)` in scikit-learn 1.9:
///
/// `ℓ = −(1/N) Σ_i ln clip(q_i, ε, 1 − ε)`, with `q_i = p_i` if `y_i` else `1 − p_i`,
///
/// where `ε = f64::EPSILON = 2.220446049250313e-16` (scikit-learn 1.9 takes `ε` from the
/// dtype; its former `eps` argument is gone) and `1 − p` is formed before clipping, as
/// scikit-learn stacks `[1 − p, p]`. So a sure wrong answer costs `−ln ε ≈ 36.04` instead
/// of `∞`, and a sure right one `−ln(1 − ε) ≈ 2.2e-16` instead of 0.
///
/// Defined for one class as well (scikit-learn then needs `labels=[0, 1]`).
///
/// Errors: [`MetricsError::LengthMismatch`], [`MetricsError::Empty`],
/// [`MetricsError::NonFinite`], [`MetricsError::OutOfRange`].
pub fn log_loss(labels: &[bool], probs: &[f64]) -> Result<f64, MetricsError> {
    check_probabilities(labels, probs)?;
    let eps = f64::EPSILON;
    let mut sum = 0.0;
    for (&y, &p) in labels.iter().zip(probs) {
        let q = if y { p } else { 1.0 - p }; // probability given to the true class
        sum -= q.clamp(eps, 1.0 - eps).ln();
    }
    Ok(sum / probs.len() as f64)
}

/// Brier score `(1/N) Σ_i (p_i − y_i)²` (M15), as `sklearn.metrics.brier_score_loss(y, p)`
/// (binary, `scale_by_half="auto"`: the two-column sum halved, which is this).
///
/// Errors: those of [`log_loss`].
pub fn brier_score(labels: &[bool], probs: &[f64]) -> Result<f64, MetricsError> {
    check_probabilities(labels, probs)?;
    let mut sum = 0.0;
    for (&y, &p) in labels.iter().zip(probs) {
        let d = p - if y { 1.0 } else { 0.0 };
        sum += d * d;
    }
    Ok(sum / probs.len() as f64)
}

/// One non-empty bin of a [`CalibrationTable`] (M16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Bin index `j ∈ 0..n_bins`.
    pub bin: usize,
    /// Lower edge `e_j`; bin 0 is `[e₀, e₁]`, bin `j > 0` is `(e_j, e_{j+1}]`.
    pub lower: f64,
    /// Upper edge `e_{j+1}`.
    pub upper: f64,
    /// Samples whose probability falls in the bin.
    pub count: usize,
    /// Positive labels among them.
    pub positives: usize,
    /// Mean predicted probability in the bin (scikit-learn's `prob_pred`).
    pub mean_predicted: f64,
    /// `positives / count` (scikit-learn's `prob_true`).
    pub fraction_positive: f64,
}

/// Reliability table: predicted vs observed frequency per probability bin (M16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationTable {
    /// Number of equal-width bins over `[0, 1]`, empty ones included.
    pub n_bins: usize,
    /// The non-empty bins, in increasing order of `bin`.
    pub bins: Vec<CalibrationBin>,
}

/// Equal-width calibration table, as `sklearn.calibration.calibration_curve(y, p,
/// n_bins=n_bins, strategy="uniform")` plus the counts per bin (M16).
///
/// The edges are numpy's `linspace(0, 1, n_bins + 1)`: `e_j = j · (1/n_bins)` for
/// `j < n_bins`, and `e_{n_bins} = 1`. A probability on an inner edge goes to the lower bin
/// (`searchsorted(…, side="left")`), so the bins are `[0, e₁]`, `(e₁, e₂]`, …,
/// `(e_{B−1}, 1]`. Sums run in input order. Empty bins are left out, as scikit-learn does.
///
/// Errors: those of [`log_loss`], and [`MetricsError::ZeroBins`].
pub fn calibration_table(
    labels: &[bool],
    probs: &[f64],
    n_bins: usize,
) -> Result<CalibrationTable, MetricsError> {
    check_probabilities(labels, probs)?;
    if n_bins == 0 {
        return Err(MetricsError::ZeroBins);
    }
    let step = 1.0 / n_bins as f64;
    let edge = |j: usize| if j == n_bins { 1.0 } else { j as f64 * step };
    let inner: Vec<f64> = (1..n_bins).map(edge).collect();
    let mut count = vec![0usize; n_bins];
    let mut positives = vec![0usize; n_bins];
    let mut sum = vec![0.0f64; n_bins];
    for (&y, &p) in labels.iter().zip(probs) {
        let j = inner.partition_point(|&e| e < p); // inner edges strictly below p
        count[j] += 1;
        positives[j] += usize::from(y);
        sum[j] += p;
    }
    let bins = (0..n_bins)
        .filter(|&j| count[j] > 0)
        .map(|j| CalibrationBin {
            bin: j,
            lower: edge(j),
            upper: edge(j + 1),
            count: count[j],
            positives: positives[j],
            mean_predicted: sum[j] / count[j] as f64,
            fraction_positive: positives[j] as f64 / count[j] as f64,
        })
        .collect();
    Ok(CalibrationTable { n_bins, bins })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::metrics::worked_example::{LABELS, SCORES};

    #[test]
    fn worked_example_log_loss_and_brier() {
        // probabilities of the true class: 0.9, 0.2, 0.7, 0.4, 0.6, 0.9; product 0.027216
        let expected = -(0.027216f64).ln() / 6.0; // 0.60065837...
        let ll = log_loss(&LABELS, &SCORES).unwrap();
        assert!((ll - expected).abs() < 1e-15, "{ll} vs {expected}");
        // sklearn.metrics.log_loss([1,0,1,1,0,0], [.9,.8,.7,.4,.4,.1]) = 0.6006583738881053
        assert!((ll - 0.600_658_373_888_105_3).abs() < 1e-15);
        // squared errors 0.01 + 0.64 + 0.09 + 0.36 + 0.16 + 0.01 = 1.27
        let b = brier_score(&LABELS, &SCORES).unwrap();
        assert!((b - 1.27 / 6.0).abs() < 1e-15, "{b}");
    }

    #[test]
    fn log_loss_clips_certain_answers_at_machine_epsilon() {
        let eps = f64::EPSILON;
        // sure and wrong: −ln ε
        assert_eq!(log_loss(&[true], &[0.0]).unwrap(), -eps.ln());
        assert_eq!(log_loss(&[false], &[1.0]).unwrap(), -eps.ln());
        assert!((log_loss(&[true], &[0.0]).unwrap() - 36.043_653_389_117_15).abs() < 1e-12);
        // sure and right: −ln(1 − ε), tiny but not zero
        let right = log_loss(&[true, false], &[1.0, 0.0]).unwrap();
        assert_eq!(right, -(1.0 - eps).ln());
        assert!(right > 0.0 && right < 3e-16);
        // a tiny p is clipped up to ε: same cost as p = 0
        assert_eq!(log_loss(&[true], &[1e-300]).unwrap(), -eps.ln());
    }

    #[test]
    fn worked_example_calibration_two_bins() {
        // edges 0, 0.5, 1: [0, 0.5] holds 0.4(+) 0.4(−) 0.1(−); (0.5, 1] holds 0.9(+) 0.8(−) 0.7(+)
        let t = calibration_table(&LABELS, &SCORES, 2).unwrap();
        assert_eq!(t.n_bins, 2);
        assert_eq!(t.bins.len(), 2);
        let (lo, hi) = (&t.bins[0], &t.bins[1]);
        assert_eq!((lo.bin, lo.lower, lo.upper), (0, 0.0, 0.5));
        assert_eq!((lo.count, lo.positives), (3, 1));
        assert!((lo.mean_predicted - 0.3).abs() < 1e-15);
        assert_eq!(lo.fraction_positive, 1.0 / 3.0);
        assert_eq!((hi.bin, hi.lower, hi.upper), (1, 0.5, 1.0));
        assert_eq!((hi.count, hi.positives), (3, 2));
        assert!((hi.mean_predicted - 0.8).abs() < 1e-15);
        assert_eq!(hi.fraction_positive, 2.0 / 3.0);
    }

    #[test]
    fn calibration_edges_follow_numpy_linspace_and_go_left() {
        // 10 bins: e₃ = 3 · 0.1 = 0.30000000000000004, so 0.3 falls in bin 2 = (0.2, e₃];
        // 0.5 = e₅ exactly, so it falls in bin 4 = (0.4, 0.5]; 0 and 1 are in the end bins.
        let t = calibration_table(&[true, false, true, false], &[0.3, 0.5, 0.0, 1.0], 10).unwrap();
        let bins: Vec<usize> = t.bins.iter().map(|b| b.bin).collect();
        assert_eq!(bins, vec![0, 2, 4, 9]);
        assert_eq!(t.bins[1].upper, 0.30000000000000004);
        assert_eq!(t.bins[3].upper, 1.0);
        // one bin holds everything
        let one = calibration_table(&[true, false], &[0.0, 1.0], 1).unwrap();
        assert_eq!(one.bins.len(), 1);
        assert_eq!((one.bins[0].count, one.bins[0].mean_predicted), (2, 0.5));
    }

    #[test]
    fn probability_metrics_reject_values_outside_the_unit_interval() {
        assert_eq!(
            log_loss(&[true, false], &[0.5, 1.5]),
            Err(MetricsError::OutOfRange {
                index: 1,
                value: 1.5
            })
        );
        assert!(matches!(
            brier_score(&[true], &[-0.1]),
            Err(MetricsError::OutOfRange { index: 0, .. })
        ));
        assert!(matches!(
            calibration_table(&[true], &[f64::NAN], 10),
            Err(MetricsError::NonFinite { index: 0, .. })
        ));
        assert_eq!(
            calibration_table(&[true], &[0.5], 0),
            Err(MetricsError::ZeroBins)
        );
        assert_eq!(brier_score(&[], &[]), Err(MetricsError::Empty));
    }
}
