//! All scalar metrics of one evaluation, at one decision threshold, in one serialisable
//! record.

use serde::{Deserialize, Serialize};

use super::{
    Confusion, MetricsError, ThresholdCounts, brier_score, check_probabilities, confusion_matrix,
    log_loss, threshold_counts,
};

/// The scalar metrics of probabilities `p` against labels `y` at a decision threshold.
///
/// The rates come from [`Confusion`] (M2)–(M7); the ranking and probability metrics do not
/// depend on the threshold. A metric undefined on the data is `None` (JSON `null`) rather
/// than an error, so a report can always be written for non-empty, valid input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// The decision `p ≥ threshold` (M1).
    pub threshold: f64,
    /// Number of samples `N`.
    pub n: usize,
    /// Number of positive labels `N₊`.
    pub positives: usize,
    /// Counts at `threshold` (M1).
    pub confusion: Confusion,
    /// (M2)
    pub accuracy: f64,
    /// (M3), 0 on zero division.
    pub precision: f64,
    /// Recall = TPR (M4), 0 on zero division.
    pub recall: f64,
    /// TNR (M5), 0 on zero division.
    pub specificity: f64,
    /// (M6), 0 on zero division.
    pub fpr: f64,
    /// (M7), 0 on zero division.
    pub f1: f64,
    /// ROC-AUC (M10); `None` when only one class is present.
    pub roc_auc: Option<f64>,
    /// Average precision (M13); `None` when no label is positive.
    pub average_precision: Option<f64>,
    /// Mean log-loss with scikit-learn's clipping (M14).
    pub log_loss: f64,
    /// Brier score (M15).
    pub brier: f64,
}

impl MetricsReport {
    /// Computes every metric of the report for probabilities `probs` at `threshold`.
    ///
    /// Errors: [`MetricsError::LengthMismatch`], [`MetricsError::Empty`],
    /// [`MetricsError::NonFinite`], [`MetricsError::OutOfRange`] (probabilities must be in
    /// `[0, 1]`), [`MetricsError::NanThreshold`]. Single-class data is not an error: see
    /// the `Option` fields.
    pub fn compute(labels: &[bool], probs: &[f64], threshold: f64) -> Result<Self, MetricsError> {
        check_probabilities(labels, probs)?;
        Self::ranked(labels, probs, threshold, &threshold_counts(labels, probs)?)
    }

    /// [`MetricsReport::compute`] with the ranking metrics read from `counts`, the
    /// [`threshold_counts`] of the same `labels` and `probs` (one sort for several reports
    /// and curves of one set of scores); the same bits as `compute`.
    ///
    /// Errors: those of [`MetricsReport::compute`].
    pub fn ranked(
        labels: &[bool],
        probs: &[f64],
        threshold: f64,
        counts: &ThresholdCounts,
    ) -> Result<Self, MetricsError> {
        check_probabilities(labels, probs)?;
        debug_assert_eq!(counts.positives + counts.negatives, labels.len());
        let confusion = confusion_matrix(labels, probs, threshold)?;
        // After the checks above the only errors left are the "undefined on this data" ones.
        let defined = |r: Result<f64, MetricsError>| match r {
            Ok(v) => Ok(Some(v)),
            Err(MetricsError::SingleClass { .. } | MetricsError::NoPositives { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        Ok(MetricsReport {
            threshold,
            n: confusion.n(),
            positives: confusion.positives(),
            confusion,
            accuracy: confusion.accuracy(),
            precision: confusion.precision(),
            recall: confusion.recall(),
            specificity: confusion.specificity(),
            fpr: confusion.fpr(),
            f1: confusion.f1(),
            roc_auc: defined(counts.roc_auc())?,
            average_precision: defined(counts.average_precision())?,
            log_loss: log_loss(labels, probs)?,
            brier: brier_score(labels, probs)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::metrics::worked_example::{LABELS, SCORES};

    #[test]
    fn worked_example_report() {
        let r = MetricsReport::compute(&LABELS, &SCORES, 0.5).unwrap();
        assert_eq!((r.n, r.positives), (6, 3));
        assert_eq!(
            r.confusion,
            Confusion {
                tp: 2,
                fp: 1,
                tn: 2,
                fn_: 1
            }
        );
        assert_eq!(r.accuracy, 4.0 / 6.0);
        assert_eq!(r.precision, 2.0 / 3.0);
        assert_eq!(r.recall, 2.0 / 3.0);
        assert_eq!(r.specificity, 2.0 / 3.0);
        assert_eq!(r.fpr, 1.0 / 3.0);
        assert_eq!(r.f1, 4.0 / 6.0);
        assert!((r.roc_auc.unwrap() - 13.0 / 18.0).abs() < 1e-15);
        assert!((r.average_precision.unwrap() - 34.0 / 45.0).abs() < 1e-15);
        assert!((r.log_loss + (0.027216f64).ln() / 6.0).abs() < 1e-15);
        assert!((r.brier - 1.27 / 6.0).abs() < 1e-15);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<MetricsReport>(&json).unwrap(), r);
    }

    #[test]
    fn single_class_report_leaves_undefined_metrics_empty() {
        let r = MetricsReport::compute(&[false, false], &[0.2, 0.6], 0.5).unwrap();
        assert_eq!(r.roc_auc, None);
        assert_eq!(r.average_precision, None);
        assert_eq!(r.specificity, 0.5);
        assert!((r.brier - (0.04 + 0.36) / 2.0).abs() < 1e-15);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""roc_auc":null"#), "{json}");
        // all positives: AP is defined (1), AUC is not
        let r = MetricsReport::compute(&[true, true], &[0.2, 0.6], 0.5).unwrap();
        assert_eq!((r.roc_auc, r.average_precision), (None, Some(1.0)));
    }

    #[test]
    fn report_rejects_invalid_input() {
        assert!(matches!(
            MetricsReport::compute(&LABELS, &[0.1, 0.2, 0.3, 0.4, 0.5, 2.0], 0.5),
            Err(MetricsError::OutOfRange { index: 5, .. })
        ));
        assert_eq!(
            MetricsReport::compute(&LABELS, &SCORES, f64::NAN),
            Err(MetricsError::NanThreshold)
        );
        assert_eq!(
            MetricsReport::compute(&[], &[], 0.5),
            Err(MetricsError::Empty)
        );
    }
}
