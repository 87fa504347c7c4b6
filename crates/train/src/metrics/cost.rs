//! Cost-aware decisions (notes/metrics.md §7, M21–M25): an example-dependent cost matrix,
//! the expected cost of a set of alerts, the cost-minimising threshold, and the metrics of a
//! risk ranking — recall at a false-positive rate and precision of the top fraction.
//!
//! The cost matrix (Bahnsen et al. 2014): an alert costs `alert` whether the row was
//! positive or not (a manual review), a missed positive costs its own `miss_i` (e.g. the
//! purchase value lost in a chargeback), a passed negative costs 0.

use serde::{Deserialize, Serialize};

use super::top_k::expected_positives_in_top;
use super::{MetricsError, check_scores, threshold_counts};

/// An example-dependent cost matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostMatrix<'a> {
    /// Cost of one alert (true or false positive).
    pub alert: f64,
    /// Cost of missing positive `i` (false negative), one per row.
    pub miss: &'a [f64],
}

/// (M21) The cost of alerting on the rows with `alerts[i]`:
/// `C = Σ_i [a_i · c_alert + (1 − a_i) · y_i · m_i]`.
///
/// # Errors
/// [`MetricsError::LengthMismatch`] when the slices differ in length, [`MetricsError::Empty`].
pub fn expected_cost(
    labels: &[bool],
    alerts: &[bool],
    cost: &CostMatrix<'_>,
) -> Result<f64, MetricsError> {
    check_lengths(labels, cost.miss.len())?;
    check_lengths(labels, alerts.len())?;
    Ok(labels
        .iter()
        .zip(alerts)
        .zip(cost.miss)
        .map(|((&y, &a), &m)| {
            if a {
                cost.alert
            } else if y {
                m
            } else {
                0.0
            }
        })
        .sum())
}

fn check_lengths(labels: &[bool], n: usize) -> Result<(), MetricsError> {
    if labels.is_empty() {
        return Err(MetricsError::Empty);
    }
    if labels.len() != n {
        return Err(MetricsError::LengthMismatch {
            labels: labels.len(),
            scores: n,
        });
    }
    Ok(())
}

/// (M22) The risk score of a row: `r_i = p_i · m_i`, the expected loss of passing it. The
/// decision is `alert iff r_i ≥ τ`; `τ = c_alert` is the Bayes rule for calibrated `p`.
pub fn risk_scores(probs: &[f64], miss: &[f64]) -> Vec<f64> {
    probs.iter().zip(miss).map(|(p, m)| p * m).collect()
}

/// One point of the cost curve: alerting on `r ≥ threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    pub threshold: f64,
    pub alerts: usize,
    pub cost: f64,
}

/// (M23) The cost of alerting on `r ≥ τ` for every distinct risk `τ` (highest first), then
/// alerting on nothing (`τ = +∞`, first): `C(τ) = c_alert · A(τ) + Σ_{y_i, r_i < τ} m_i`.
///
/// # Errors
/// Those of [`threshold_counts`] on the risks; [`MetricsError::LengthMismatch`].
pub fn cost_curve(
    labels: &[bool],
    risks: &[f64],
    cost: &CostMatrix<'_>,
) -> Result<Vec<CostPoint>, MetricsError> {
    check_scores(labels, risks)?;
    check_lengths(labels, cost.miss.len())?;
    let mut order: Vec<usize> = (0..risks.len()).collect();
    order.sort_by(|&a, &b| (risks[b] + 0.0).total_cmp(&(risks[a] + 0.0)));
    let missed_all: f64 = labels
        .iter()
        .zip(cost.miss)
        .filter(|(y, _)| **y)
        .map(|(_, m)| m)
        .sum();
    let mut curve = vec![CostPoint {
        threshold: f64::INFINITY,
        alerts: 0,
        cost: missed_all,
    }];
    // Missed cost still to pay, reduced as positives get alerted; summed in sorted order.
    let mut caught = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        if labels[i] {
            caught += cost.miss[i];
        }
        let run_ends = order
            .get(rank + 1)
            .is_none_or(|&next| risks[next] + 0.0 != risks[i] + 0.0);
        if run_ends {
            let alerts = rank + 1;
            curve.push(CostPoint {
                threshold: risks[i] + 0.0,
                alerts,
                cost: cost.alert * alerts as f64 + (missed_all - caught),
            });
        }
    }
    Ok(curve)
}

/// (M24) The threshold of least cost on the cost curve (the first, i.e. the highest, on a
/// tie): chosen on validation rows, applied to others.
///
/// # Errors
/// Those of [`cost_curve`].
pub fn cost_minimising_threshold(
    labels: &[bool],
    risks: &[f64],
    cost: &CostMatrix<'_>,
) -> Result<CostPoint, MetricsError> {
    let curve = cost_curve(labels, risks, cost)?;
    let mut best = curve[0];
    for p in &curve[1..] {
        if p.cost < best.cost {
            best = *p;
        }
    }
    Ok(best)
}

/// What a missed positive costs: one amount for every row (`--cost-fn`), or the value of a
/// column of the row (`--cost-fn-column`, e.g. the purchase value lost in a chargeback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissCost {
    Constant(f64),
    Column(String),
}

/// A cost matrix as a model stores it: the cost of one alert (`--cost-fp`) and of a miss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSpec {
    pub alert: f64,
    pub miss: MissCost,
}

impl std::fmt::Display for CostSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.miss {
            MissCost::Constant(m) => write!(f, "alert {}, miss {m}", self.alert),
            MissCost::Column(c) => write!(f, "alert {}, miss = column {c}", self.alert),
        }
    }
}

/// The cost decision of a model: alert iff `p · m ≥ risk_threshold` (M22), the threshold of
/// least cost on the validation rows (M24), with the costs it was chosen under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostDecision {
    pub costs: CostSpec,
    /// `τ` on the risk `p · m`.
    pub risk_threshold: f64,
    /// The cost report of the validation rows at `τ`.
    pub validation: CostReport,
}

impl CostDecision {
    /// (M24) Chooses `τ` on validation labels, probabilities and per-row miss costs `miss`
    /// (the constant repeated, or the column's values) under `costs`.
    ///
    /// # Errors
    /// Those of [`cost_minimising_threshold`] and [`CostReport::compute`].
    pub fn choose(
        labels: &[bool],
        probs: &[f64],
        miss: &[f64],
        costs: &CostSpec,
    ) -> Result<CostDecision, MetricsError> {
        check_lengths(labels, miss.len())?;
        let matrix = CostMatrix {
            alert: costs.alert,
            miss,
        };
        let best = cost_minimising_threshold(labels, &risk_scores(probs, miss), &matrix)?;
        // "Alert on nothing" is τ = +∞, which JSON cannot hold; no risk reaches f64::MAX.
        let tau = best.threshold.min(f64::MAX);
        Ok(CostDecision {
            costs: costs.clone(),
            risk_threshold: tau,
            validation: CostReport::compute(labels, probs, &matrix, tau)?,
        })
    }

    /// The decision of each row: `p_i · m_i ≥ τ` (M22).
    pub fn alerts(&self, probs: &[f64], miss: &[f64]) -> Vec<bool> {
        risk_scores(probs, miss)
            .iter()
            .map(|&r| r >= self.risk_threshold)
            .collect()
    }
}

/// (M25) Recall at false-positive rate `q`: the ROC curve (M9, every distinct threshold)
/// interpolated linearly — with `k` the last point with `FPR_k ≤ q`,
/// `TPR(q) = TPR_k + (q − FPR_k)/(FPR_{k+1} − FPR_k) · (TPR_{k+1} − TPR_k)` (ties at a cut
/// broken at random).
///
/// # Errors
/// Those of [`threshold_counts`]; [`MetricsError::SingleClass`] without both classes.
pub fn recall_at_fpr(labels: &[bool], scores: &[f64], q: f64) -> Result<f64, MetricsError> {
    let c = threshold_counts(labels, scores)?;
    if c.positives == 0 || c.negatives == 0 {
        return Err(MetricsError::SingleClass {
            metric: "recall at a false-positive rate",
            positives: c.positives,
            negatives: c.negatives,
        });
    }
    let fpr: Vec<f64> = std::iter::once(0.0)
        .chain(c.fp.iter().map(|&f| f as f64 / c.negatives as f64))
        .collect();
    let tpr: Vec<f64> = std::iter::once(0.0)
        .chain(c.tp.iter().map(|&t| t as f64 / c.positives as f64))
        .collect();
    let k = fpr.iter().rposition(|&f| f <= q).unwrap_or(0);
    if k + 1 >= fpr.len() {
        return Ok(tpr[k]);
    }
    let w = (q - fpr[k]) / (fpr[k + 1] - fpr[k]);
    Ok(tpr[k] + w * (tpr[k + 1] - tpr[k]))
}

/// (M19) Precision of the top fraction `q` of the scores, `k = round(q · n)`, ties at the
/// cut counted pro rata.
///
/// # Errors
/// Those of [`expected_positives_in_top`].
pub fn precision_at_top_fraction(
    labels: &[bool],
    scores: &[f64],
    q: f64,
) -> Result<f64, MetricsError> {
    let k = ((q * labels.len() as f64).round() as usize).max(1);
    Ok(expected_positives_in_top(labels, scores, k)? / k.min(labels.len()) as f64)
}

/// The cost report of one set of probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// The decision threshold on the risk `p · m` (M22).
    pub threshold: f64,
    pub alerts: usize,
    /// (M21) at the threshold.
    pub cost: f64,
    /// Alerting on nothing (approve everything): `Σ_{y_i} m_i`.
    pub cost_approve_all: f64,
    /// Alerting on every row: `n · c_alert`.
    pub cost_alert_all: f64,
    /// Every positive and only them alerted: `P · c_alert`.
    pub cost_perfect: f64,
    /// `1 − cost / cost_approve_all`.
    pub savings: f64,
}

impl CostReport {
    /// The report of alerting on `p_i · m_i ≥ threshold`.
    ///
    /// # Errors
    /// [`MetricsError::LengthMismatch`], [`MetricsError::Empty`].
    pub fn compute(
        labels: &[bool],
        probs: &[f64],
        cost: &CostMatrix<'_>,
        threshold: f64,
    ) -> Result<CostReport, MetricsError> {
        check_lengths(labels, probs.len())?;
        let alerts: Vec<bool> = risk_scores(probs, cost.miss)
            .iter()
            .map(|&r| r >= threshold)
            .collect();
        Self::of_alerts(labels, &alerts, cost, threshold)
    }

    /// The report of the decisions `alerts`, made at `threshold` by whatever rule.
    ///
    /// # Errors
    /// [`MetricsError::LengthMismatch`], [`MetricsError::Empty`].
    pub fn of_alerts(
        labels: &[bool],
        alerts: &[bool],
        cost: &CostMatrix<'_>,
        threshold: f64,
    ) -> Result<CostReport, MetricsError> {
        let value = expected_cost(labels, alerts, cost)?;
        let approve_all = expected_cost(labels, &vec![false; labels.len()], cost)?;
        let positives = labels.iter().filter(|&&y| y).count();
        Ok(CostReport {
            threshold,
            alerts: alerts.iter().filter(|&&a| a).count(),
            cost: value,
            cost_approve_all: approve_all,
            cost_alert_all: cost.alert * labels.len() as f64,
            cost_perfect: cost.alert * positives as f64,
            savings: if approve_all > 0.0 {
                1.0 - value / approve_all
            } else {
                0.0
            },
        })
    }
}
