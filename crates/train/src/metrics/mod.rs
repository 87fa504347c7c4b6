//! Evaluation metrics for a binary classifier, matched to scikit-learn 1.9.
//!
//! Every function takes the true labels as `&[bool]` (`true` = the positive class, e.g.
//! "the visitor bought") and the model's scores as `&[f64]`, one per sample, in the same
//! order. Scores are predicted probabilities of the positive class; the ranking metrics
//! (ROC, PR, AUC, AP, best threshold) only use their order, so logits work there too,
//! while the probability metrics (log-loss, Brier, calibration) require `0 ≤ s ≤ 1`.
//!
//! The definitions, numbered (M1)–(M18), are in `notes/metrics.md`; each doc comment cites
//! its equation. The conventions in one place:
//! - a sample is predicted positive when `score ≥ threshold` (M1), as scikit-learn's
//!   `roc_curve` and `precision_recall_curve` count it;
//! - a ratio whose denominator is zero is `0.0`, scikit-learn's `zero_division="warn"`
//!   value (M3)–(M7);
//! - tied scores form one threshold, so the ROC curve moves diagonally through a tie and
//!   the AUC counts a tied positive/negative pair as one half (M8)–(M11);
//! - a metric that is undefined on the data (ROC with one class, AP without positives)
//!   is an [`MetricsError`], never a NaN or a panic.
//!
//! Sorting is deterministic: a stable sort on [`f64::total_cmp`] after mapping `-0.0` to
//! `+0.0` (numpy treats them as equal). All sums run sequentially in a fixed order; nothing
//! here is parallel. Sample weights are not supported.
//!
//! ```
//! use glassbox_train::metrics::{confusion_matrix, roc_auc, average_precision};
//!
//! let labels = [true, false, true, true, false, false];
//! let scores = [0.9, 0.8, 0.7, 0.4, 0.4, 0.1];
//! let c = confusion_matrix(&labels, &scores, 0.4)?; // 0.4 ≥ 0.4: both tied samples are positive
//! assert_eq!((c.tp, c.fp, c.tn, c.fn_), (3, 2, 1, 0));
//! assert_eq!(c.f1(), 0.75); // 2·3 / (2·3 + 2 + 0)
//! assert!((roc_auc(&labels, &scores)? - 13.0 / 18.0).abs() < 1e-15);
//! assert!((average_precision(&labels, &scores)? - 34.0 / 45.0).abs() < 1e-15);
//! # Ok::<(), glassbox_train::metrics::MetricsError>(())
//! ```

mod confusion;
pub mod cost;
pub mod ensemble;
pub mod fairness;
pub mod paired;
mod probability;
mod ranking;
mod report;
pub mod standard_error;
pub mod threshold;
pub mod top_k;
pub mod value;

pub use confusion::{Confusion, confusion_matrix};
pub use probability::{CalibrationBin, CalibrationTable, brier_score, calibration_table, log_loss};
pub use ranking::{
    Criterion, PrCurve, RocCurve, ThresholdCounts, average_precision, best_threshold,
    descending_order, descending_order_reference, precision_recall_curve, roc_auc,
    roc_auc_pairwise, roc_curve, threshold_counts,
};
pub use report::MetricsReport;

/// Why a metric could not be computed. Indices refer to positions in the caller's slices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// No samples at all: every metric here averages or ranks over at least one.
    #[error("metrics need at least one sample, got none")]
    Empty,
    /// `labels` and `scores` must pair up one to one.
    #[error("labels has {labels} entries but scores has {scores}")]
    LengthMismatch { labels: usize, scores: usize },
    /// A score is NaN or ±∞ (scikit-learn's `assert_all_finite` rejects these too).
    #[error("score at index {index} is not finite ({value})")]
    NonFinite { index: usize, value: f64 },
    /// A probability metric received a score outside `[0, 1]`.
    #[error("probability at index {index} is {value}, outside [0, 1]")]
    OutOfRange { index: usize, value: f64 },
    /// The metric needs both classes (ROC curve, ROC-AUC, Youden's J).
    #[error("{metric} needs both classes, got {positives} positives and {negatives} negatives")]
    SingleClass {
        metric: &'static str,
        positives: usize,
        negatives: usize,
    },
    /// The metric needs at least one positive label (PR curve, AP, best F1).
    #[error("{metric} needs at least one positive label, got none among {n} samples")]
    NoPositives { metric: &'static str, n: usize },
    /// A decision threshold must be a number (±∞ are allowed: predict all / nothing).
    #[error("the decision threshold is NaN")]
    NanThreshold,
    /// A calibration table needs at least one bin.
    #[error("a calibration table needs n_bins ≥ 1, got 0")]
    ZeroBins,
}

/// Checks the inputs every metric shares: equal lengths, at least one sample, finite scores.
fn check_scores(labels: &[bool], scores: &[f64]) -> Result<(), MetricsError> {
    if labels.len() != scores.len() {
        return Err(MetricsError::LengthMismatch {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if scores.is_empty() {
        return Err(MetricsError::Empty);
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(MetricsError::NonFinite {
            index,
            value: scores[index],
        }),
        None => Ok(()),
    }
}

/// [`check_scores`] plus `0 ≤ p ≤ 1` for every score, as the probability metrics require.
fn check_probabilities(labels: &[bool], probs: &[f64]) -> Result<(), MetricsError> {
    check_scores(labels, probs)?;
    match probs.iter().position(|p| !(0.0..=1.0).contains(p)) {
        Some(index) => Err(MetricsError::OutOfRange {
            index,
            value: probs[index],
        }),
        None => Ok(()),
    }
}

/// `(positives, negatives)` in `labels`.
fn class_counts(labels: &[bool]) -> (usize, usize) {
    let positives = labels.iter().filter(|&&y| y).count();
    (positives, labels.len() - positives)
}

/// `num / den`, or `0.0` when `den == 0`: scikit-learn's `zero_division="warn"` result
/// (notes/metrics.md §Zero division).
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The hand-checkable example of notes/metrics.md §Worked example, shared by the unit tests.
#[cfg(test)]
mod worked_example {
    pub const LABELS: [bool; 6] = [true, false, true, true, false, false];
    pub const SCORES: [f64; 6] = [0.9, 0.8, 0.7, 0.4, 0.4, 0.1];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_scores_reports_the_first_problem_with_its_index() {
        assert_eq!(
            check_scores(&[true], &[0.1, 0.2]),
            Err(MetricsError::LengthMismatch {
                labels: 1,
                scores: 2
            })
        );
        assert_eq!(check_scores(&[], &[]), Err(MetricsError::Empty));
        assert!(matches!(
            check_scores(&[true, false, true], &[0.1, f64::NAN, f64::INFINITY]),
            Err(MetricsError::NonFinite { index: 1, .. })
        ));
        assert_eq!(
            check_scores(&[true, false], &[0.5, -f64::INFINITY]),
            Err(MetricsError::NonFinite {
                index: 1,
                value: f64::NEG_INFINITY
            })
        );
        assert_eq!(check_scores(&[true, false], &[-3.0, 7.0]), Ok(()));
    }

    #[test]
    fn check_probabilities_accepts_the_closed_unit_interval_only() {
        assert_eq!(check_probabilities(&[true, false], &[0.0, 1.0]), Ok(()));
        assert_eq!(check_probabilities(&[true, false], &[-0.0, 1.0]), Ok(()));
        assert_eq!(
            check_probabilities(&[true, false], &[0.5, 1.0000000000000002]),
            Err(MetricsError::OutOfRange {
                index: 1,
                value: 1.0000000000000002
            })
        );
        assert_eq!(
            check_probabilities(&[true], &[-1e-300]),
            Err(MetricsError::OutOfRange {
                index: 0,
                value: -1e-300
            })
        );
    }

    #[test]
    fn ratio_is_zero_on_zero_denominator() {
        assert_eq!(ratio(0, 0), 0.0);
        assert_eq!(ratio(1, 4), 0.25);
        assert_eq!(class_counts(&[true, false, false]), (1, 2));
    }
}
