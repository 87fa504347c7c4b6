//! Metrics per group and the gaps between groups (notes/fairness.md, equations F1–F8): the
//! fairness equations, on labels, scores and one group label per sample. Reading the groups
//! from a CSV column and scoring a model is `glassbox_audit::fairness`; the report's text,
//! Markdown and plot are the app's (`glassbox_app::render::fairness`).
//!
//! For each group g: the count, the observed positive rate, the predicted positive rate at
//! the threshold (selection rate, F1), TPR and FPR (F2), precision (F3), ROC-AUC (M10; `None`
//! when the group has one class) and calibration — the mean predicted probability against
//! the observed rate (F4) and the expected calibration error over equal-width bins (F5).
//! Across groups: the demographic-parity difference `max_g − min_g` of the selection rate (F6)
//! and the equalised-odds difference, the larger of the TPR gap and the FPR gap (F7) — as
//! fairlearn's `demographic_parity_difference` and `equalized_odds_difference` define them
//! (`method="between_groups"`, `agg="worst_case"`).
//!
//! Conventions (stated in notes/fairness.md and matched by the fixture
//! crates/train/tests/reference/fairness_fixtures.json):
//! - a sample is predicted positive when `score ≥ threshold` (M1);
//! - a rate whose denominator is zero is undefined (`None`), not 0: a group without
//!   positives has no TPR, one without predicted positives no precision; undefined rates are
//!   left out of the gaps (F8);
//! - a group is **flagged** as too small to judge when it has fewer than
//!   [`FairnessConfig::min_rows`] rows (default 30) or fewer than `min_positives` positives
//!   or `min_negatives` negatives (default 5 each). Flagged groups are reported, never
//!   hidden; the gaps are given over all groups and over the unflagged ones.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{MetricsError, calibration_table, confusion_matrix, roc_auc};

/// Why a fairness evaluation could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FairnessError {
    /// An input or setting outside its range (lengths that differ, no rows, a NaN threshold,
    /// zero calibration bins).
    #[error("{name} = {value}: {reason}")]
    InvalidInput {
        /// What is wrong.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A metric of one group could not be computed (a score not finite or outside [0, 1]).
    #[error("group \"{group}\": {source}")]
    Metrics {
        /// The group.
        group: String,
        /// The metric's error.
        #[source]
        source: MetricsError,
    },
}

/// Settings of a fairness evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FairnessConfig {
    /// Decision threshold: positive when `score ≥ threshold`.
    pub threshold: f64,
    /// Groups with fewer rows are flagged.
    pub min_rows: usize,
    /// Groups with fewer positive labels are flagged.
    pub min_positives: usize,
    /// Groups with fewer negative labels are flagged.
    pub min_negatives: usize,
    /// Equal-width bins of the expected calibration error (F5).
    pub calibration_bins: usize,
}

impl Default for FairnessConfig {
    /// Threshold 0.5; flag groups under 30 rows or under 5 positives or 5 negatives; 10
    /// calibration bins.
    fn default() -> Self {
        FairnessConfig {
            threshold: 0.5,
            min_rows: 30,
            min_positives: 5,
            min_negatives: 5,
            calibration_bins: 10,
        }
    }
}

/// The metrics of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMetrics {
    /// The raw CSV value shared by the group's rows.
    pub group: String,
    /// Rows.
    pub count: usize,
    /// Positive labels.
    pub positives: usize,
    /// Observed positive rate `positives / count`.
    pub positive_rate: f64,
    /// Selection rate `(TP + FP) / count` (F1).
    pub predicted_positive_rate: f64,
    /// True positives at the threshold.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// True negatives.
    pub tn: usize,
    /// False negatives.
    pub fn_: usize,
    /// `TP / (TP + FN)`; `None` without positives (F2).
    pub tpr: Option<f64>,
    /// `FP / (FP + TN)`; `None` without negatives (F2).
    pub fpr: Option<f64>,
    /// `TP / (TP + FP)`; `None` without predicted positives (F3).
    pub precision: Option<f64>,
    /// ROC-AUC (M10); `None` when the group has one class.
    pub roc_auc: Option<f64>,
    /// Mean predicted probability (F4).
    pub mean_predicted: f64,
    /// `mean_predicted − positive_rate` (F4).
    pub calibration_gap: f64,
    /// Expected calibration error (F5).
    pub ece: f64,
    /// Whether the group is too small to judge.
    pub flagged: bool,
    /// Why it is flagged (empty when it is not).
    pub flag_reasons: Vec<String>,
}

/// Gaps between groups (F6, F7); `None` when fewer than two groups define the rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gaps {
    /// Groups taken into account.
    pub groups: usize,
    /// `max − min` of the selection rate (F6).
    pub demographic_parity_difference: Option<f64>,
    /// `max − min` of the TPR over the groups that define it.
    pub tpr_gap: Option<f64>,
    /// `max − min` of the FPR over the groups that define it.
    pub fpr_gap: Option<f64>,
    /// `max(tpr_gap, fpr_gap)` (F7).
    pub equalized_odds_difference: Option<f64>,
}

/// The fairness evaluation of one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FairnessReport {
    /// The grouping column.
    pub column: String,
    /// Where the rows came from.
    pub source: String,
    /// N.
    pub rows: usize,
    /// The settings.
    pub config: FairnessConfig,
    /// One entry per group, in the column's natural order (numeric if every value is a
    /// number, else byte order).
    pub groups: Vec<GroupMetrics>,
    /// Gaps over all groups (fairlearn's definition).
    pub all_groups: Gaps,
    /// Gaps over the groups that are not flagged.
    pub judged_groups: Gaps,
}

/// Per-group metrics and gaps for `labels` and probabilities `scores`, grouped by
/// `groups` (one label per row).
///
/// # Errors
/// [`FairnessError::InvalidInput`] for lengths that differ, no rows, a NaN threshold or zero
/// calibration bins; [`FairnessError::Metrics`] for a score that is not finite or outside
/// [0, 1].
pub fn fairness_by_group(
    column: &str,
    groups: &[String],
    labels: &[bool],
    scores: &[f64],
    config: &FairnessConfig,
) -> Result<FairnessReport, FairnessError> {
    by_group(column, groups, labels, scores, None, config)
}

/// [`fairness_by_group`] with the decisions made by another rule than `score ≥ threshold`
/// (e.g. the cost decision `p · m ≥ τ`, M22): the rates at the threshold (F1–F3) count
/// `alerts`; ROC-AUC and calibration still read `scores`. `config.threshold` is recorded
/// as the rule's threshold.
///
/// # Errors
/// As [`fairness_by_group`]; also `alerts` of another length.
pub fn fairness_by_group_decided(
    column: &str,
    groups: &[String],
    labels: &[bool],
    scores: &[f64],
    alerts: &[bool],
    config: &FairnessConfig,
) -> Result<FairnessReport, FairnessError> {
    by_group(column, groups, labels, scores, Some(alerts), config)
}

fn by_group(
    column: &str,
    groups: &[String],
    labels: &[bool],
    scores: &[f64],
    alerts: Option<&[bool]>,
    config: &FairnessConfig,
) -> Result<FairnessReport, FairnessError> {
    let n = labels.len();
    if groups.len() != n || scores.len() != n || alerts.is_some_and(|a| a.len() != n) {
        return Err(FairnessError::InvalidInput {
            name: "groups",
            value: format!(
                "{} groups, {n} labels, {} scores",
                groups.len(),
                scores.len()
            ),
            reason: "one group, label and score per row".into(),
        });
    }
    if n == 0 {
        return Err(FairnessError::InvalidInput {
            name: "rows",
            value: "0".into(),
            reason: "nothing to evaluate".into(),
        });
    }
    if config.threshold.is_nan() || config.calibration_bins == 0 {
        return Err(FairnessError::InvalidInput {
            name: "fairness settings",
            value: format!(
                "threshold {}, {} calibration bins",
                config.threshold, config.calibration_bins
            ),
            reason: "the threshold must be a number and the bins at least 1".into(),
        });
    }
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        members.entry(g.as_str()).or_default().push(i);
    }
    let mut names: Vec<&str> = members.keys().copied().collect();
    natural_sort(&mut names);
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let idx = &members[name];
        let y: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
        let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
        let a: Option<Vec<bool>> = alerts.map(|a| idx.iter().map(|&i| a[i]).collect());
        out.push(group_metrics(name, &y, &s, a.as_deref(), config)?);
    }
    let all_groups = gaps(out.iter());
    let judged_groups = gaps(out.iter().filter(|g| !g.flagged));
    Ok(FairnessReport {
        column: column.to_string(),
        source: if alerts.is_some() {
            "scores, decided by another rule".into()
        } else {
            "scores".into()
        },
        rows: n,
        config: *config,
        groups: out,
        all_groups,
        judged_groups,
    })
}

/// `num / den`, or `None` when `den = 0` (F8).
fn rate(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn group_metrics(
    name: &str,
    y: &[bool],
    s: &[f64],
    alerts: Option<&[bool]>,
    config: &FairnessConfig,
) -> Result<GroupMetrics, FairnessError> {
    let metrics_err = |source| FairnessError::Metrics {
        group: name.to_string(),
        source,
    };
    let c = match alerts {
        // The decisions as scores 1/0, cut at ½.
        Some(a) => {
            let decided: Vec<f64> = a.iter().map(|&a| f64::from(u8::from(a))).collect();
            confusion_matrix(y, &decided, 0.5)
        }
        None => confusion_matrix(y, s, config.threshold),
    }
    .map_err(metrics_err)?;
    let count = y.len();
    let positives = c.tp + c.fn_;
    let negatives = c.fp + c.tn;
    let table = calibration_table(y, s, config.calibration_bins).map_err(metrics_err)?;
    // (F5) ECE = Σ_b (n_b / n)·|mean predicted_b − fraction positive_b|, bins in order.
    let ece = table.bins.iter().fold(0.0, |acc, b| {
        acc + b.count as f64 / count as f64 * (b.mean_predicted - b.fraction_positive).abs()
    });
    let mean_predicted = s.iter().fold(0.0, |acc, v| acc + v) / count as f64;
    let positive_rate = positives as f64 / count as f64;
    let mut flag_reasons = Vec::new();
    if count < config.min_rows {
        flag_reasons.push(format!("{count} rows < {}", config.min_rows));
    }
    if positives < config.min_positives {
        flag_reasons.push(format!("{positives} positives < {}", config.min_positives));
    }
    if negatives < config.min_negatives {
        flag_reasons.push(format!("{negatives} negatives < {}", config.min_negatives));
    }
    Ok(GroupMetrics {
        group: name.to_string(),
        count,
        positives,
        positive_rate,
        predicted_positive_rate: (c.tp + c.fp) as f64 / count as f64, // (F1)
        tp: c.tp,
        fp: c.fp,
        tn: c.tn,
        fn_: c.fn_,
        tpr: rate(c.tp, positives),         // (F2)
        fpr: rate(c.fp, negatives),         // (F2)
        precision: rate(c.tp, c.tp + c.fp), // (F3)
        roc_auc: roc_auc(y, s).ok(),
        mean_predicted,
        calibration_gap: mean_predicted - positive_rate, // (F4)
        ece,
        flagged: !flag_reasons.is_empty(),
        flag_reasons,
    })
}

/// `max − min` of the defined values, `None` with fewer than two (F6–F8).
fn spread(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let defined: Vec<f64> = values.flatten().collect();
    if defined.len() < 2 {
        return None;
    }
    let max = defined.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = defined.iter().copied().fold(f64::INFINITY, f64::min);
    Some(max - min)
}

fn gaps<'a>(groups: impl Iterator<Item = &'a GroupMetrics> + Clone) -> Gaps {
    let dp = spread(groups.clone().map(|g| Some(g.predicted_positive_rate)));
    let tpr_gap = spread(groups.clone().map(|g| g.tpr));
    let fpr_gap = spread(groups.clone().map(|g| g.fpr));
    let eo = match (tpr_gap, fpr_gap) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Gaps {
        groups: groups.count(),
        demographic_parity_difference: dp,
        tpr_gap,
        fpr_gap,
        equalized_odds_difference: eo,
    }
}

/// Numeric order when every label is a number, else byte order (the order of
/// categorical levels in the preprocessor).
fn natural_sort(names: &mut [&str]) {
    let numbers: Option<Vec<f64>> = names.iter().map(|n| n.parse().ok()).collect();
    if numbers.is_some() {
        names.sort_by(|a, b| {
            let x: f64 = a.parse().unwrap_or(f64::NAN);
            let y: f64 = b.parse().unwrap_or(f64::NAN);
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        names.sort();
    }
}
