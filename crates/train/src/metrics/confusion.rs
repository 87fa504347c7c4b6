//! The confusion matrix at one decision threshold and the rates read from it (M1)–(M7).

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_scores, ratio};

/// Counts of a binary decision against the truth (M1). `tp + fp + tn + fn_` is the number of
/// samples. In JSON the last field is named `fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Positives predicted positive.
    pub tp: usize,
    /// Negatives predicted positive.
    pub fp: usize,
    /// Negatives predicted negative.
    pub tn: usize,
    /// Positives predicted negative (`fn` is a Rust keyword).
    #[serde(rename = "fn")]
    pub fn_: usize,
}

/// The confusion matrix of the decision `score ≥ threshold` (M1).
///
/// A score equal to the threshold counts as positive, as in scikit-learn's threshold
/// curves. `threshold = +∞` predicts nothing positive, `-∞` everything.
///
/// Errors: [`MetricsError::LengthMismatch`], [`MetricsError::Empty`],
/// [`MetricsError::NonFinite`] (any score), [`MetricsError::NanThreshold`].
pub fn confusion_matrix(
    labels: &[bool],
    scores: &[f64],
    threshold: f64,
) -> Result<Confusion, MetricsError> {
    check_scores(labels, scores)?;
    if threshold.is_nan() {
        return Err(MetricsError::NanThreshold);
    }
    let mut c = Confusion {
        tp: 0,
        fp: 0,
        tn: 0,
        fn_: 0,
    };
    for (&y, &s) in labels.iter().zip(scores) {
        match (y, s >= threshold) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
            (true, false) => c.fn_ += 1,
        }
    }
    Ok(c)
}

impl Confusion {
    /// Number of samples `N = tp + fp + tn + fn`.
    pub fn n(&self) -> usize {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// Number of positive labels `N₊ = tp + fn`.
    pub fn positives(&self) -> usize {
        self.tp + self.fn_
    }

    /// Number of negative labels `N₋ = fp + tn`.
    pub fn negatives(&self) -> usize {
        self.fp + self.tn
    }

    /// Accuracy `(tp + tn) / N` (M2); `0.0` for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.n())
    }

    /// Precision `tp / (tp + fp)` (M3); `0.0` when nothing is predicted positive
    /// (scikit-learn `precision_score`, `zero_division="warn"`).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Recall = true-positive rate `tp / (tp + fn)` (M4); `0.0` when there are no positives
    /// (scikit-learn `recall_score`, `zero_division="warn"`).
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.positives())
    }

    /// Specificity = true-negative rate `tn / (tn + fp)` (M5); `0.0` when there are no
    /// negatives (scikit-learn `recall_score(pos_label=0)`, `zero_division="warn"`).
    pub fn specificity(&self) -> f64 {
        ratio(self.tn, self.negatives())
    }

    /// False-positive rate `fp / (fp + tn)` (M6); `0.0` when there are no negatives. Then
    /// `specificity + fpr = 0`, not 1: both fall back to the zero-division value.
    pub fn fpr(&self) -> f64 {
        ratio(self.fp, self.negatives())
    }

    /// F1 `2·tp / (2·tp + fp + fn)` (M7), the harmonic mean of (M3) and (M4) written on the
    /// counts as scikit-learn ≥ 1.3 computes it; `0.0` when `tp + fp + fn = 0`.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::metrics::worked_example::{LABELS, SCORES};

    #[test]
    fn worked_example_at_threshold_0_4_counts_the_tie_as_positive() {
        let c = confusion_matrix(&LABELS, &SCORES, 0.4).unwrap();
        // predicted positive: 0.9(+) 0.8(−) 0.7(+) 0.4(+) 0.4(−); negative: 0.1(−)
        assert_eq!(
            c,
            Confusion {
                tp: 3,
                fp: 2,
                tn: 1,
                fn_: 0
            }
        );
        assert_eq!(c.n(), 6);
        assert_eq!(c.accuracy(), 4.0 / 6.0);
        assert_eq!(c.precision(), 3.0 / 5.0);
        assert_eq!(c.recall(), 1.0);
        assert_eq!(c.specificity(), 1.0 / 3.0);
        assert_eq!(c.fpr(), 2.0 / 3.0);
        assert_eq!(c.f1(), 0.75); // 6 / (6 + 2 + 0)
    }

    #[test]
    fn worked_example_at_threshold_0_5() {
        let c = confusion_matrix(&LABELS, &SCORES, 0.5).unwrap();
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (2, 1, 2, 1));
        assert_eq!(c.precision(), 2.0 / 3.0);
        assert_eq!(c.recall(), 2.0 / 3.0);
        assert_eq!(c.f1(), 4.0 / 6.0);
    }

    #[test]
    fn infinite_thresholds_predict_nothing_or_everything() {
        let none = confusion_matrix(&LABELS, &SCORES, f64::INFINITY).unwrap();
        assert_eq!((none.tp, none.fp, none.tn, none.fn_), (0, 0, 3, 3));
        // nothing predicted positive: precision and F1 are 0/0 → 0
        assert_eq!(none.precision(), 0.0);
        assert_eq!(none.f1(), 0.0);
        let all = confusion_matrix(&LABELS, &SCORES, f64::NEG_INFINITY).unwrap();
        assert_eq!((all.tp, all.fp, all.tn, all.fn_), (3, 3, 0, 0));
        assert_eq!(all.recall(), 1.0);
        assert_eq!(all.fpr(), 1.0);
    }

    #[test]
    fn zero_division_gives_zero_for_every_rate() {
        // all labels negative, nothing predicted positive
        let c = confusion_matrix(&[false, false], &[0.1, 0.2], 0.5).unwrap();
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (0, 0, 2, 0));
        assert_eq!(c.precision(), 0.0);
        assert_eq!(c.recall(), 0.0);
        assert_eq!(c.f1(), 0.0);
        assert_eq!(c.specificity(), 1.0);
        // all labels positive: specificity and FPR have no negatives to divide by
        let c = confusion_matrix(&[true, true], &[0.1, 0.9], 0.5).unwrap();
        assert_eq!(c.specificity(), 0.0);
        assert_eq!(c.fpr(), 0.0);
        assert_eq!(c.recall(), 0.5);
    }

    #[test]
    fn errors_on_bad_input() {
        assert_eq!(
            confusion_matrix(&LABELS, &SCORES, f64::NAN),
            Err(MetricsError::NanThreshold)
        );
        assert_eq!(
            confusion_matrix(&LABELS, &SCORES[..5], 0.5),
            Err(MetricsError::LengthMismatch {
                labels: 6,
                scores: 5
            })
        );
        assert_eq!(confusion_matrix(&[], &[], 0.5), Err(MetricsError::Empty));
    }

    #[test]
    fn serialises_fn_under_its_own_name() {
        let c = Confusion {
            tp: 1,
            fp: 2,
            tn: 3,
            fn_: 4,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"tp":1,"fp":2,"tn":3,"fn":4}"#);
        assert_eq!(serde_json::from_str::<Confusion>(&json).unwrap(), c);
    }
}
