//! Metrics per group of one CSV column, and the gaps between groups (notes/fairness.md,
//! equations F1–F8).
//!
//! For each group g of the column's raw CSV values: the count, the observed positive rate,
//! the predicted positive rate at the threshold (selection rate, F1), TPR and FPR (F2),
//! precision (F3), ROC-AUC (M10; `None` when the group has one class) and calibration — the
//! mean predicted probability against the observed rate (F4) and the expected calibration
//! error over equal-width bins (F5). Across groups: the demographic-parity difference
//! `max_g − min_g` of the selection rate (F6) and the equalised-odds difference, the larger
//! of the TPR gap and the FPR gap (F7) — as fairlearn's `demographic_parity_difference` and
//! `equalized_odds_difference` define them (`method="between_groups"`, `agg="worst_case"`).
//!
//! Conventions (stated in notes/fairness.md and matched by the fixture):
//! - a sample is predicted positive when `score ≥ threshold` (M1);
//! - a rate whose denominator is zero is undefined (`None`), not 0: a group without
//!   positives has no TPR, one without predicted positives no precision; undefined rates are
//!   left out of the gaps (F8);
//! - a group is **flagged** as too small to judge when it has fewer than
//!   [`FairnessConfig::min_rows`] rows (default 30) or fewer than `min_positives` positives
//!   or `min_negatives` negatives (default 5 each). Flagged groups are reported, never
//!   hidden; the gaps are given over all groups and over the unflagged ones.

use std::collections::BTreeMap;
use std::path::Path;

use glassbox_train::metrics::{calibration_table, confusion_matrix, roc_auc};
use serde::Serialize;

use super::{AuditError, Classifier, Format, markdown_table, sig, text_table};
use crate::plot::{PlotFiles, grouped_bars};
use glassbox_data::{Names, Preprocessor, RawTable, ReadOptions, Table};

/// A column with more distinct values than this is refused by [`group_labels`]: it is not a
/// grouping (a numeric measurement, an identifier).
pub const MAX_GROUPS: usize = 50;

/// The label of a group whose cell is empty.
pub const EMPTY_GROUP: &str = "(empty)";

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
/// [`AuditError::InvalidOption`] for lengths that differ, no rows, a NaN threshold or zero
/// calibration bins; [`AuditError::Metrics`] for a score that is not finite or outside
/// [0, 1].
pub fn fairness_by_group(
    column: &str,
    groups: &[String],
    labels: &[bool],
    scores: &[f64],
    config: &FairnessConfig,
) -> Result<FairnessReport, AuditError> {
    let n = labels.len();
    if groups.len() != n || scores.len() != n {
        return Err(AuditError::InvalidOption {
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
        return Err(AuditError::InvalidOption {
            name: "rows",
            value: "0".into(),
            reason: "nothing to evaluate".into(),
        });
    }
    if config.threshold.is_nan() || config.calibration_bins == 0 {
        return Err(AuditError::InvalidOption {
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
        out.push(group_metrics(name, &y, &s, config)?);
    }
    let all_groups = gaps(out.iter());
    let judged_groups = gaps(out.iter().filter(|g| !g.flagged));
    Ok(FairnessReport {
        column: column.to_string(),
        source: "scores".into(),
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
    config: &FairnessConfig,
) -> Result<GroupMetrics, AuditError> {
    let metrics_err = |source| AuditError::Metrics {
        context: format!("group \"{name}\""),
        source,
    };
    let c = confusion_matrix(y, s, config.threshold).map_err(metrics_err)?;
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

/// The raw cells of `column` in `raw`, one per row (an empty cell is [`EMPTY_GROUP`]).
///
/// # Errors
/// [`AuditError::UnknownColumn`] listing the file's columns; [`AuditError::InvalidOption`]
/// if the column has more than [`MAX_GROUPS`] distinct values.
pub fn group_labels(raw: &RawTable, column: &str) -> Result<Vec<String>, AuditError> {
    let j = raw
        .header()
        .iter()
        .position(|h| h == column)
        .ok_or_else(|| AuditError::UnknownColumn {
            file: raw.file().to_string(),
            column: column.to_string(),
            purpose: "--by".into(),
            available: Names(raw.header().to_vec()),
        })?;
    let labels: Vec<String> = raw
        .column(j)
        .iter()
        .map(|c| {
            if c.is_empty() {
                EMPTY_GROUP.to_string()
            } else {
                c.clone()
            }
        })
        .collect();
    let mut distinct: Vec<&String> = labels.iter().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > MAX_GROUPS {
        return Err(AuditError::InvalidOption {
            name: "--by",
            value: column.to_string(),
            reason: format!(
                "the column has {} distinct values; a grouping needs at most {MAX_GROUPS} \
                 (choose a categorical or boolean column)",
                distinct.len()
            ),
        });
    }
    Ok(labels)
}

/// Reads `path`, scores every row with `model` through `pre`, and evaluates the groups of
/// `column` (any column of the file, used by the model or not).
///
/// # Errors
/// The data layer's errors (unreadable file, a column the model needs is absent, no target
/// column, …), [`AuditError::UnknownColumn`] for `column`, [`AuditError::Model`] if the
/// model does not fit, and those of [`fairness_by_group`].
pub fn fairness_csv(
    model: &Classifier,
    pre: &Preprocessor,
    path: &Path,
    options: &ReadOptions,
    column: &str,
    config: &FairnessConfig,
) -> Result<FairnessReport, AuditError> {
    model.check_fits(pre)?;
    let raw = RawTable::read(path, options)?;
    let groups = group_labels(&raw, column)?;
    let table = Table::from_raw(&raw, pre.schema())?;
    let (x, y) = super::encode_f64(pre, &table)?;
    let labels: Vec<bool> = y.iter().map(|&v| v > 0.5).collect();
    let scores = model.probabilities(x.view(), &mut model.workspaces(x.nrows()));
    let mut report = fairness_by_group(column, &groups, &labels, &scores, config)?;
    report.source = table.file().to_string();
    Ok(report)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| sig(x, digits))
}

impl FairnessReport {
    /// The report in `format`.
    ///
    /// # Errors
    /// Only [`AuditError::Internal`] if JSON serialisation failed (a bug).
    pub fn render(&self, format: Format) -> Result<String, AuditError> {
        if format == Format::Json {
            return super::to_json(self);
        }
        let header = [
            "group",
            "n",
            "positives",
            "positive rate",
            "predicted positive rate",
            "TPR",
            "FPR",
            "precision",
            "ROC-AUC",
            "mean predicted",
            "ECE",
            "flag",
        ];
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.group.clone(),
                    g.count.to_string(),
                    g.positives.to_string(),
                    sig(g.positive_rate, 4),
                    sig(g.predicted_positive_rate, 4),
                    opt(g.tpr, 4),
                    opt(g.fpr, 4),
                    opt(g.precision, 4),
                    opt(g.roc_auc, 4),
                    sig(g.mean_predicted, 4),
                    sig(g.ece, 3),
                    if g.flagged {
                        format!("too small: {}", g.flag_reasons.join(", "))
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        let gap_line = |label: &str, g: &Gaps| {
            format!(
                "{label} ({} groups): demographic-parity difference {}, equalised-odds \
                 difference {} (TPR gap {}, FPR gap {})",
                g.groups,
                opt(g.demographic_parity_difference, 4),
                opt(g.equalized_odds_difference, 4),
                opt(g.tpr_gap, 4),
                opt(g.fpr_gap, 4)
            )
        };
        let head = format!(
            "Fairness by {} on {} ({} rows), threshold {}: a group is flagged when it has fewer \
             than {} rows, {} positives or {} negatives; undefined rates (—) are left out of \
             the gaps.",
            self.column,
            self.source,
            self.rows,
            self.config.threshold,
            self.config.min_rows,
            self.config.min_positives,
            self.config.min_negatives
        );
        let gaps = [
            gap_line("all groups", &self.all_groups),
            gap_line("groups large enough to judge", &self.judged_groups),
        ];
        Ok(match format {
            Format::Markdown => format!(
                "# Fairness by {}\n\n{head}\n\n{}\n- {}\n- {}\n",
                self.column,
                markdown_table(&header, &rows),
                gaps[0],
                gaps[1]
            ),
            _ => format!(
                "{head}\n\n{}\n{}\n{}\n",
                text_table(&header, &rows),
                gaps[0],
                gaps[1]
            ),
        })
    }

    /// Grouped bars of selection rate, TPR, FPR and precision per group at
    /// `<stem>.{svg,png}`; flagged groups are labelled "(small)", undefined rates not drawn.
    ///
    /// # Errors
    /// [`AuditError::Output`] if a file cannot be written.
    pub fn plot(&self, stem: &Path) -> Result<PlotFiles, AuditError> {
        let labels: Vec<String> = self
            .groups
            .iter()
            .map(|g| {
                if g.flagged {
                    format!("{} (small)", g.group)
                } else {
                    g.group.clone()
                }
            })
            .collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let values: Vec<[f64; 4]> = self
            .groups
            .iter()
            .map(|g| {
                [
                    g.predicted_positive_rate,
                    g.tpr.unwrap_or(f64::NAN),
                    g.fpr.unwrap_or(f64::NAN),
                    g.precision.unwrap_or(f64::NAN),
                ]
            })
            .collect();
        Ok(grouped_bars(
            stem,
            &format!("Metrics by {}", self.column),
            "rate",
            &labels,
            &["predicted positive rate", "TPR", "FPR", "precision"],
            &values,
        )?)
    }
}
