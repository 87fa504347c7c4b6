//! Metrics of the score ranking: the counts at every distinct threshold (M8), the ROC curve
//! and its area (M9)–(M11), the precision–recall curve and average precision (M12)–(M13),
//! and the choice of a decision threshold (M17)–(M18).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_scores, class_counts};

/// True- and false-positive counts at every distinct score, highest first (M8): the
/// equivalent of scikit-learn's `confusion_matrix_at_thresholds`. Index `k` describes the
/// decision `score ≥ thresholds[k]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdCounts {
    /// The distinct scores `τ₁ > τ₂ > … > τ_m` (`-0.0` reported as `0.0`).
    pub thresholds: Vec<f64>,
    /// `TP_k`: positives scoring `≥ τ_k`; non-decreasing, ends at `positives`.
    pub tp: Vec<usize>,
    /// `FP_k`: negatives scoring `≥ τ_k`; non-decreasing, ends at `negatives`.
    pub fp: Vec<usize>,
    /// `N₊`, the number of positive labels.
    pub positives: usize,
    /// `N₋`, the number of negative labels.
    pub negatives: usize,
}

/// Sorts the samples by decreasing score and accumulates TP and FP at the end of each run
/// of equal scores (M8).
///
/// The order is that of a stable sort on [`f64::total_cmp`] with `-0.0` mapped to `+0.0`
/// ([`descending_order`]), so equal scores (as numpy compares them) form one run whatever
/// their order in the input. Scores may be any finite numbers (probabilities or logits).
/// Sort once and read every ranking metric from the result ([`ThresholdCounts::roc_auc`],
/// [`ThresholdCounts::average_precision`], the curves): each is the same bits as the free
/// function of the same name.
///
/// Errors: [`MetricsError::LengthMismatch`], [`MetricsError::Empty`],
/// [`MetricsError::NonFinite`].
pub fn threshold_counts(labels: &[bool], scores: &[f64]) -> Result<ThresholdCounts, MetricsError> {
    check_scores(labels, scores)?;
    Ok(counts_in_order(labels, scores, &descending_order(scores)))
}

/// [`threshold_counts`] of checked `labels` and `scores` from their [`descending_order`]
/// `order` (for a caller that walks the same order again).
pub(super) fn counts_in_order(labels: &[bool], scores: &[f64], order: &[usize]) -> ThresholdCounts {
    let (positives, negatives) = class_counts(labels);
    let mut counts = ThresholdCounts {
        thresholds: Vec::new(),
        tp: Vec::new(),
        fp: Vec::new(),
        positives,
        negatives,
    };
    // `x + 0.0` turns -0.0 into +0.0 and leaves every other finite value unchanged.
    let key = |i: usize| scores[i] + 0.0;
    let (mut tp, mut fp) = (0, 0);
    for (rank, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let run_ends = order.get(rank + 1).is_none_or(|&next| key(next) != key(i));
        if run_ends {
            counts.thresholds.push(key(i));
            counts.tp.push(tp);
            counts.fp.push(fp);
        }
    }
    counts
}

/// The indices of `scores` by decreasing `s + 0.0`, ties in input order: the order of
/// `sort_by(|a, b| key(b).total_cmp(&key(a)))` (stable) on the indices (M8), computed as an
/// unstable sort of `(key bits, index)` pairs — direct integer compares instead of two
/// lookups per compare; the index makes every pair distinct, so the order is the stable one.
/// Scores must be finite (the callers check).
pub fn descending_order(scores: &[f64]) -> Vec<usize> {
    // total_cmp's own bit map: flip every bit of a negative number, the sign bit of a
    // positive one; then `!` so that the largest score gets the smallest key.
    let descending_key = |s: f64| {
        let b = (s + 0.0).to_bits();
        !(if b >> 63 == 1 { !b } else { b | 1 << 63 })
    };
    let mut pairs: Vec<(u64, usize)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (descending_key(s), i))
        .collect();
    pairs.sort_unstable();
    pairs.into_iter().map(|(_, i)| i).collect()
}

/// The stable index sort of [`descending_order`] as first written: the naive reference the
/// tests hold it to.
pub fn descending_order_reference(scores: &[f64]) -> Vec<usize> {
    let key = |i: usize| scores[i] + 0.0;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
    order
}

impl ThresholdCounts {
    /// [`roc_curve`] from these counts (M9).
    ///
    /// Errors: [`MetricsError::SingleClass`] when either class is absent.
    pub fn roc_curve(&self, drop_intermediate: bool) -> Result<RocCurve, MetricsError> {
        let c = self;
        if c.positives == 0 || c.negatives == 0 {
            return Err(MetricsError::SingleClass {
                metric: "roc_curve",
                positives: c.positives,
                negatives: c.negatives,
            });
        }
        let m = c.thresholds.len();
        let keep = |k: usize| {
            if !drop_intermediate || m <= 2 || k == 0 || k == m - 1 {
                return true;
            }
            // (M9b): second difference x[k+1] − 2x[k] + x[k−1], in exact integers.
            let bend = |x: &[usize]| x[k + 1] + x[k - 1] != 2 * x[k];
            bend(&c.fp) || bend(&c.tp)
        };
        let mut roc = RocCurve {
            fpr: vec![0.0],
            tpr: vec![0.0],
            thresholds: vec![f64::INFINITY],
        };
        for k in (0..m).filter(|&k| keep(k)) {
            roc.fpr.push(c.fp[k] as f64 / c.negatives as f64);
            roc.tpr.push(c.tp[k] as f64 / c.positives as f64);
            roc.thresholds.push(c.thresholds[k]);
        }
        Ok(roc)
    }

    /// [`roc_auc`] from these counts (M10).
    ///
    /// Errors: those of [`ThresholdCounts::roc_curve`].
    pub fn roc_auc(&self) -> Result<f64, MetricsError> {
        let roc = self.roc_curve(true)?;
        let mut area = 0.0;
        for k in 1..roc.fpr.len() {
            area += (roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1]) / 2.0;
        }
        Ok(area)
    }

    /// [`precision_recall_curve`] from these counts (M12).
    ///
    /// Errors: [`MetricsError::NoPositives`] when no label is positive.
    pub fn precision_recall_curve(&self, drop_intermediate: bool) -> Result<PrCurve, MetricsError> {
        let c = self;
        if c.positives == 0 {
            return Err(MetricsError::NoPositives {
                metric: "precision_recall_curve",
                n: c.positives + c.negatives,
            });
        }
        let m = c.thresholds.len();
        let keep = |k: usize| {
            !drop_intermediate
                || m <= 2
                || k == 0
                || k == m - 1
                || c.tp[k] != c.tp[k - 1]
                || c.tp[k + 1] != c.tp[k]
        };
        let mut pr = PrCurve {
            precision: Vec::new(),
            recall: Vec::new(),
            thresholds: Vec::new(),
        };
        // Walk from the lowest threshold up, so the arrays come out in scikit-learn's order.
        for k in (0..m).rev().filter(|&k| keep(k)) {
            // every run holds at least one sample, so tp + fp ≥ 1
            pr.precision
                .push(c.tp[k] as f64 / (c.tp[k] + c.fp[k]) as f64);
            pr.recall.push(c.tp[k] as f64 / c.positives as f64);
            pr.thresholds.push(c.thresholds[k]);
        }
        pr.precision.push(1.0);
        pr.recall.push(0.0);
        Ok(pr)
    }

    /// [`average_precision`] from these counts (M13).
    ///
    /// Errors: those of [`ThresholdCounts::precision_recall_curve`].
    pub fn average_precision(&self) -> Result<f64, MetricsError> {
        let pr = self.precision_recall_curve(false)?;
        let mut ap = 0.0;
        for k in 0..pr.thresholds.len() {
            ap -= (pr.recall[k + 1] - pr.recall[k]) * pr.precision[k];
        }
        Ok(ap.max(0.0)) // as scikit-learn: rounding can leave −0.0
    }
}

/// A receiver-operating-characteristic curve as `sklearn.metrics.roc_curve` returns it (M9):
/// `fpr` and `tpr` non-decreasing, `thresholds` decreasing with `thresholds[0] = +∞` (the
/// point (0, 0): nothing predicted positive). serde_json writes that `+∞` as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// The ROC curve (M9), point for point as `sklearn.metrics.roc_curve(y, s,
/// drop_intermediate=…)`.
///
/// With `drop_intermediate = true` (scikit-learn's default) a point is dropped when the
/// second differences of both FP and TP vanish there, i.e. it lies inside a straight
/// segment of its neighbours (M9b); the area is unchanged.
///
/// Errors: those of [`threshold_counts`], and [`MetricsError::SingleClass`] when either
/// class is absent (scikit-learn warns and returns NaN rates).
pub fn roc_curve(
    labels: &[bool],
    scores: &[f64],
    drop_intermediate: bool,
) -> Result<RocCurve, MetricsError> {
    threshold_counts(labels, scores)?.roc_curve(drop_intermediate)
}

/// Area under the ROC curve (M10): the trapezoid rule over [`roc_curve`], as
/// `sklearn.metrics.roc_auc_score`. A run of tied scores is one diagonal segment of the
/// curve, so a tied positive/negative pair counts one half (M11).
///
/// Errors: those of [`roc_curve`]; one class present is [`MetricsError::SingleClass`]
/// (scikit-learn 1.9 warns `UndefinedMetricWarning` and returns NaN).
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<f64, MetricsError> {
    threshold_counts(labels, scores)?.roc_auc()
}

/// ROC-AUC by its definition as a probability (M11), counting all `N₊·N₋` pairs: the naive
/// reference for [`roc_auc`], O(N₊·N₋) — for tests and audits, not for large data.
///
/// Errors: those of [`roc_auc`].
pub fn roc_auc_pairwise(labels: &[bool], scores: &[f64]) -> Result<f64, MetricsError> {
    check_scores(labels, scores)?;
    let (positives, negatives) = class_counts(labels);
    if positives == 0 || negatives == 0 {
        return Err(MetricsError::SingleClass {
            metric: "roc_auc",
            positives,
            negatives,
        });
    }
    let pairs = |want: bool| labels.iter().zip(scores).filter(move |&(&y, _)| y == want);
    // Twice the numerator, so that a tie's 1/2 stays an integer.
    let mut twice_wins: u64 = 0;
    for (_, &sp) in pairs(true) {
        for (_, &sn) in pairs(false) {
            twice_wins += match sp.partial_cmp(&sn) {
                Some(Ordering::Greater) => 2,
                Some(Ordering::Equal) => 1,
                _ => 0,
            };
        }
    }
    Ok(twice_wins as f64 / (2.0 * positives as f64 * negatives as f64))
}

/// A precision–recall curve as `sklearn.metrics.precision_recall_curve` returns it (M12):
/// `thresholds` increasing; `precision` and `recall` one longer, index `k < len` describing
/// `score ≥ thresholds[k]`, and the last entry the added point `precision = 1, recall = 0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrCurve {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// The precision–recall curve (M12), as `sklearn.metrics.precision_recall_curve(y, s,
/// drop_intermediate=…)` (scikit-learn's default is `false`).
///
/// With `drop_intermediate = true` a point is kept only if TP changes on entering or on
/// leaving it (the first and last point of each vertical run) (M12b).
///
/// Errors: those of [`threshold_counts`], and [`MetricsError::NoPositives`] when no label
/// is positive (scikit-learn warns and sets recall to 1).
pub fn precision_recall_curve(
    labels: &[bool],
    scores: &[f64],
    drop_intermediate: bool,
) -> Result<PrCurve, MetricsError> {
    threshold_counts(labels, scores)?.precision_recall_curve(drop_intermediate)
}

/// Average precision, scikit-learn's step-wise sum `AP = Σ_k (R_k − R_{k−1})·P_k` (M13):
/// each precision weighted by the recall gained at its threshold, with no interpolation
/// (not the trapezoid area under the PR curve), as `sklearn.metrics.average_precision_score`.
///
/// Errors: those of [`precision_recall_curve`]; no positive label is
/// [`MetricsError::NoPositives`] (scikit-learn warns and returns 0).
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<f64, MetricsError> {
    threshold_counts(labels, scores)?.average_precision()
}

/// What [`best_threshold`] maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criterion {
    /// F1 of the positive class (M7).
    MaxF1,
    /// Youden's J = TPR − FPR = sensitivity + specificity − 1 (M17).
    YoudenJ,
}

/// The decision threshold that maximises `criterion` on (validation) data, and the value
/// reached there (M17)–(M18). Returns `(threshold, value)`.
///
/// The candidates are the distinct scores; `threshold` is one of them, so
/// [`confusion_matrix`](super::confusion_matrix) at `threshold` reproduces `value`. Values
/// are compared as exact fractions of the counts, not as rounded floats (M18).
///
/// Tie rule: among thresholds reaching the maximum, the **highest** is chosen — the
/// decision with the fewest positive predictions.
///
/// Errors: those of [`threshold_counts`]; [`MetricsError::NoPositives`] for `MaxF1` without
/// positive labels (F1 is 0 at every threshold); [`MetricsError::SingleClass`] for
/// `YoudenJ` with one class.
pub fn best_threshold(
    labels: &[bool],
    scores: &[f64],
    criterion: Criterion,
) -> Result<(f64, f64), MetricsError> {
    let c = threshold_counts(labels, scores)?;
    let (p, n) = (c.positives, c.negatives);
    match criterion {
        Criterion::MaxF1 if p == 0 => {
            return Err(MetricsError::NoPositives {
                metric: "best_threshold(MaxF1)",
                n: labels.len(),
            });
        }
        Criterion::YoudenJ if p == 0 || n == 0 => {
            return Err(MetricsError::SingleClass {
                metric: "best_threshold(YoudenJ)",
                positives: p,
                negatives: n,
            });
        }
        _ => {}
    }
    // (M18): each value as an exact fraction num/den with den > 0.
    let fraction = |k: usize| -> (i128, i128) {
        let (tp, fp) = (c.tp[k] as i128, c.fp[k] as i128);
        match criterion {
            // 2tp / (2tp + fp + fn), fn = N₊ − tp; den ≥ N₊ ≥ 1
            Criterion::MaxF1 => (2 * tp, tp + fp + p as i128),
            // tp/N₊ − fp/N₋ = (tp·N₋ − fp·N₊) / (N₊·N₋)
            Criterion::YoudenJ => (tp * n as i128 - fp * p as i128, p as i128 * n as i128),
        }
    };
    let mut best = 0;
    for k in 1..c.thresholds.len() {
        let ((a, b), (x, y)) = (fraction(k), fraction(best));
        if a * y > x * b {
            best = k; // strictly greater only: the earlier (higher) threshold wins a tie
        }
    }
    let (tp, fp) = (c.tp[best] as f64, c.fp[best] as f64);
    let value = match criterion {
        Criterion::MaxF1 => 2.0 * tp / (2.0 * tp + fp + (p as f64 - tp)),
        Criterion::YoudenJ => tp / p as f64 - fp / n as f64,
    };
    Ok((c.thresholds[best], value))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::metrics::worked_example::{LABELS, SCORES};
    const THIRD: f64 = 1.0 / 3.0;
    const TWO_THIRDS: f64 = 2.0 / 3.0;

    #[test]
    fn worked_example_threshold_counts() {
        let c = threshold_counts(&LABELS, &SCORES).unwrap();
        assert_eq!(c.thresholds, vec![0.9, 0.8, 0.7, 0.4, 0.1]);
        assert_eq!(c.tp, vec![1, 1, 2, 3, 3]);
        assert_eq!(c.fp, vec![0, 1, 1, 2, 3]);
        assert_eq!((c.positives, c.negatives), (3, 3));
    }

    #[test]
    fn worked_example_roc_curve_and_auc() {
        // sklearn.metrics.roc_curve([1,0,1,1,0,0], [.9,.8,.7,.4,.4,.1]) — no point is collinear
        let roc = roc_curve(&LABELS, &SCORES, true).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, THIRD, THIRD, TWO_THIRDS, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, THIRD, THIRD, TWO_THIRDS, 1.0, 1.0]);
        assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.9, 0.8, 0.7, 0.4, 0.1]);
        // trapezoids: 0 + 1/9 + 0 + (1/3)(2/3+1)/2 + 1/3 = 2/18 + 5/18 + 6/18 = 13/18
        let auc = roc_auc(&LABELS, &SCORES).unwrap();
        assert!((auc - 13.0 / 18.0).abs() < 1e-15, "{auc}");
        // pairs: 0.9 beats 3, 0.7 beats 2, 0.4 beats 1 and ties 1 → 6.5 / 9
        assert_eq!(roc_auc_pairwise(&LABELS, &SCORES).unwrap(), 6.5 / 9.0);
    }

    #[test]
    fn drop_intermediate_removes_collinear_points_only() {
        // scores 4..1 with labels +,+,+,−: TP = 1,2,3,3 and FP = 0,0,0,1.
        // sklearn: fpr [0,0,0,1], tpr [0,1/3,1,1], thresholds [inf,4,2,1] (3 is on a segment)
        let labels = [true, true, true, false];
        let scores = [4.0, 3.0, 2.0, 1.0];
        let roc = roc_curve(&labels, &scores, true).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, THIRD, 1.0, 1.0]);
        assert_eq!(roc.thresholds, vec![f64::INFINITY, 4.0, 2.0, 1.0]);
        let full = roc_curve(&labels, &scores, false).unwrap();
        assert_eq!(full.thresholds, vec![f64::INFINITY, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(roc_auc(&labels, &scores).unwrap(), 1.0);
    }

    #[test]
    fn worked_example_pr_curve_and_average_precision() {
        // sklearn.metrics.precision_recall_curve([1,0,1,1,0,0], [.9,.8,.7,.4,.4,.1])
        let pr = precision_recall_curve(&LABELS, &SCORES, false).unwrap();
        assert_eq!(pr.thresholds, vec![0.1, 0.4, 0.7, 0.8, 0.9]);
        assert_eq!(pr.precision, vec![0.5, 0.6, TWO_THIRDS, 0.5, 1.0, 1.0]);
        assert_eq!(pr.recall, vec![1.0, 1.0, TWO_THIRDS, THIRD, THIRD, 0.0]);
        // AP = (1/3)·1 + 0·(1/2) + (1/3)·(2/3) + (1/3)·(3/5) + 0·(1/2) = 34/45
        let ap = average_precision(&LABELS, &SCORES).unwrap();
        assert!((ap - 34.0 / 45.0).abs() < 1e-15, "{ap}");
        // drop_intermediate keeps the first and last point of each TP run: TP = 3,3,2,1,1
        // (low to high) → all five are run ends here, so nothing is dropped
        assert_eq!(precision_recall_curve(&LABELS, &SCORES, true).unwrap(), pr);
    }

    #[test]
    fn pr_drop_intermediate_drops_the_middle_of_a_vertical_run() {
        // high → low: +, −, −, −, + : TP = 1,1,1,1,2 → the 2nd and 3rd highest are dropped
        let labels = [true, false, false, false, true];
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
        let pr = precision_recall_curve(&labels, &scores, true).unwrap();
        assert_eq!(pr.thresholds, vec![0.5, 0.6, 0.9]);
        assert_eq!(pr.precision, vec![0.4, 0.25, 1.0, 1.0]);
        assert_eq!(pr.recall, vec![1.0, 0.5, 0.5, 0.0]);
        let full = precision_recall_curve(&labels, &scores, false).unwrap();
        assert_eq!(full.thresholds.len(), 5);
        // AP does not change: the dropped points add no recall
        assert_eq!(
            average_precision(&labels, &scores).unwrap(),
            0.5 + 0.5 * 0.4
        );
    }

    #[test]
    fn worked_example_best_thresholds() {
        // F1 at 0.9, 0.8, 0.7, 0.4, 0.1 = 1/2, 2/5, 2/3, 3/4, 2/3 → 0.4
        assert_eq!(
            best_threshold(&LABELS, &SCORES, Criterion::MaxF1).unwrap(),
            (0.4, 0.75)
        );
        // J = 1/3, 0, 1/3, 1/3, 0: a three-way tie, the highest threshold (0.9) wins.
        // In floats 1 − 2/3 = 0.33333333333333337 > 1/3: a float argmax would return 0.4.
        let (t, j) = best_threshold(&LABELS, &SCORES, Criterion::YoudenJ).unwrap();
        assert_eq!(t, 0.9);
        assert_eq!(j, THIRD);
    }

    #[test]
    fn ties_and_signed_zeros_form_one_threshold() {
        let labels = [true, false, true, false];
        let scores = [0.0, -0.0, 0.0, -0.0];
        let c = threshold_counts(&labels, &scores).unwrap();
        assert_eq!(c.thresholds.len(), 1);
        assert!(c.thresholds[0].is_sign_positive());
        assert_eq!((c.tp[0], c.fp[0]), (2, 2));
        assert_eq!(roc_auc(&labels, &scores).unwrap(), 0.5);
        assert_eq!(roc_auc_pairwise(&labels, &scores).unwrap(), 0.5);
        // a single threshold: AP is the prevalence
        assert_eq!(average_precision(&labels, &scores).unwrap(), 0.5);
    }

    #[test]
    fn perfect_and_inverted_rankings() {
        let labels = [false, true, false, true];
        let scores = [0.1, 0.8, 0.3, 0.9];
        assert_eq!(roc_auc(&labels, &scores).unwrap(), 1.0);
        assert_eq!(average_precision(&labels, &scores).unwrap(), 1.0);
        let inverted: Vec<f64> = scores.iter().map(|s| 1.0 - s).collect();
        assert_eq!(roc_auc(&labels, &inverted).unwrap(), 0.0);
        assert_eq!(roc_auc_pairwise(&labels, &inverted).unwrap(), 0.0);
    }

    #[test]
    fn undefined_metrics_are_errors() {
        let all_neg = [false, false, false];
        let s = [0.2, 0.5, 0.7];
        let single = MetricsError::SingleClass {
            metric: "roc_curve",
            positives: 0,
            negatives: 3,
        };
        assert_eq!(roc_curve(&all_neg, &s, true), Err(single.clone()));
        assert_eq!(roc_auc(&all_neg, &s), Err(single));
        assert!(matches!(
            roc_auc_pairwise(&[true, true], &[0.1, 0.2]),
            Err(MetricsError::SingleClass {
                positives: 2,
                negatives: 0,
                ..
            })
        ));
        assert!(matches!(
            average_precision(&all_neg, &s),
            Err(MetricsError::NoPositives { n: 3, .. })
        ));
        assert!(matches!(
            best_threshold(&all_neg, &s, Criterion::MaxF1),
            Err(MetricsError::NoPositives { .. })
        ));
        assert!(matches!(
            best_threshold(&[true, true], &[0.1, 0.2], Criterion::YoudenJ),
            Err(MetricsError::SingleClass { .. })
        ));
        // all positives: AP and best F1 are defined
        assert_eq!(average_precision(&[true, true], &[0.1, 0.2]).unwrap(), 1.0);
        assert_eq!(
            best_threshold(&[true, true], &[0.1, 0.2], Criterion::MaxF1).unwrap(),
            (0.1, 1.0)
        );
        assert!(matches!(
            roc_auc(&[true, false], &[0.1, f64::NAN]),
            Err(MetricsError::NonFinite { index: 1, .. })
        ));
        assert_eq!(threshold_counts(&[], &[]), Err(MetricsError::Empty));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::metrics::confusion_matrix;

    /// Up to 40 samples with scores on a coarse grid (many ties, some signed zeros) and both
    /// classes present.
    fn samples() -> impl Strategy<Value = (Vec<bool>, Vec<f64>)> {
        prop::collection::vec((any::<bool>(), -4i32..=4, any::<bool>()), 2..40)
            .prop_map(|v| {
                let labels = v.iter().map(|&(y, _, _)| y).collect();
                // k/4, with 0 written as −0.0 half of the time
                let scores = v
                    .iter()
                    .map(|&(_, k, neg)| if k == 0 && neg { -0.0 } else { k as f64 / 4.0 })
                    .collect();
                (labels, scores)
            })
            .prop_filter("both classes", |(y, _): &(Vec<bool>, Vec<f64>)| {
                y.iter().any(|&b| b) && y.iter().any(|&b| !b)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// (M10) = (M11): the trapezoid over the tie-collapsed curve is the pair count.
        #[test]
        fn trapezoid_auc_equals_pair_count((labels, scores) in samples()) {
            let fast = roc_auc(&labels, &scores).unwrap();
            let naive = roc_auc_pairwise(&labels, &scores).unwrap();
            prop_assert!((fast - naive).abs() < 1e-12, "{fast} vs {naive}");
        }

        /// Dropping collinear points changes neither the end points nor the area.
        #[test]
        fn drop_intermediate_keeps_the_area((labels, scores) in samples()) {
            let area = |r: &RocCurve| {
                (1..r.fpr.len())
                    .map(|k| (r.fpr[k] - r.fpr[k - 1]) * (r.tpr[k] + r.tpr[k - 1]) / 2.0)
                    .sum::<f64>()
            };
            let (full, thin) = (
                roc_curve(&labels, &scores, false).unwrap(),
                roc_curve(&labels, &scores, true).unwrap(),
            );
            prop_assert!(thin.fpr.len() <= full.fpr.len());
            prop_assert_eq!(thin.fpr.last(), Some(&1.0));
            prop_assert_eq!(thin.tpr.last(), Some(&1.0));
            prop_assert!((area(&full) - area(&thin)).abs() < 1e-12);
        }

        /// The pair sort gives the stable index sort's order exactly, ties and signed
        /// zeros included, so the counts (M8) are those of the sort as first written.
        #[test]
        fn descending_order_is_the_stable_sort((_labels, scores) in samples()) {
            prop_assert_eq!(descending_order(&scores), descending_order_reference(&scores));
        }

        /// The same over any finite floats (every sign, exponent and subnormal).
        #[test]
        fn descending_order_on_any_finite_floats(
            bits in prop::collection::vec(any::<u64>(), 0..200)
        ) {
            let scores: Vec<f64> = bits
                .iter()
                .map(|&b| f64::from_bits(b))
                .map(|x| if x.is_finite() { x } else { 0.0 })
                .collect();
            prop_assert_eq!(descending_order(&scores), descending_order_reference(&scores));
        }

        /// Reversing the input order (which reorders every tie) changes nothing, bit for bit.
        #[test]
        fn results_do_not_depend_on_input_order((labels, scores) in samples()) {
            let (rl, rs): (Vec<bool>, Vec<f64>) =
                labels.iter().rev().zip(scores.iter().rev()).map(|(&y, &s)| (y, s)).unzip();
            prop_assert_eq!(threshold_counts(&labels, &scores), threshold_counts(&rl, &rs));
            prop_assert_eq!(roc_auc(&labels, &scores), roc_auc(&rl, &rs));
            prop_assert_eq!(average_precision(&labels, &scores), average_precision(&rl, &rs));
        }

        /// The chosen threshold reproduces its value through the confusion matrix, and no
        /// candidate does strictly better.
        #[test]
        fn best_threshold_is_reproducible_and_maximal((labels, scores) in samples()) {
            let (t, f1) = best_threshold(&labels, &scores, Criterion::MaxF1).unwrap();
            prop_assert_eq!(confusion_matrix(&labels, &scores, t).unwrap().f1(), f1);
            let (tj, j) = best_threshold(&labels, &scores, Criterion::YoudenJ).unwrap();
            let c = confusion_matrix(&labels, &scores, tj).unwrap();
            prop_assert_eq!(c.recall() - c.fpr(), j);
            for &s in &scores {
                let c = confusion_matrix(&labels, &scores, s).unwrap();
                prop_assert!(c.f1() <= f1 + 1e-15);
                prop_assert!(c.recall() - c.fpr() <= j + 1e-15);
            }
        }
    }
}
