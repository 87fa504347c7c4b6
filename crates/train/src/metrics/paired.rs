//! A paired, stratified bootstrap of the difference between two models scored on the same
//! rows (M26): is model A worse than model B on this test set, or is the gap noise?

use glassbox_core::seeded_rng;
use serde::Serialize;

use super::MetricsError;
use super::ranking::{average_precision, roc_auc};
use super::top_k::percentile_interval;
use crate::batching::uniform_below;

/// A percentile interval of a paired difference `A − B`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedInterval {
    /// The difference on the rows as they are.
    pub estimate: f64,
    /// The 2.5 % and 97.5 % quantiles over the resamples.
    pub low: f64,
    pub high: f64,
}

impl PairedInterval {
    /// The interval of the resampled differences `v` around `estimate` (quantiles as M20's).
    pub(super) fn of(estimate: f64, v: Vec<f64>) -> PairedInterval {
        let (low, high, _) = percentile_interval(v);
        PairedInterval {
            estimate,
            low,
            high,
        }
    }
}

/// The paired differences of ROC-AUC, average precision and (optionally) cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedBootstrap {
    pub resamples: usize,
    pub roc_auc: PairedInterval,
    pub pr_auc: PairedInterval,
    /// Difference of total cost, from per-row costs of each model's decisions.
    pub cost: Option<PairedInterval>,
}

/// Weighted ROC-AUC (M11) and average precision (M13) of rows visited in decreasing score
/// order (`order`), row `i` counted `w_i` times; tied scores form one block.
fn weighted_auc_ap(order: &[usize], scores: &[f64], labels: &[bool], w: &[u32]) -> (f64, f64) {
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let positives: f64 = labels
        .iter()
        .zip(w)
        .filter(|(y, _)| **y)
        .map(|(_, &w)| f64::from(w))
        .sum();
    let negatives: f64 = labels
        .iter()
        .zip(w)
        .filter(|(y, _)| !**y)
        .map(|(_, &w)| f64::from(w))
        .sum();
    let (mut auc, mut ap) = (0.0, 0.0);
    let mut k = 0;
    while k < order.len() {
        let s = scores[order[k]];
        let (mut tp_g, mut fp_g) = (0.0, 0.0);
        while k < order.len() && scores[order[k]] == s {
            let i = order[k];
            if labels[i] {
                tp_g += f64::from(w[i]);
            } else {
                fp_g += f64::from(w[i]);
            }
            k += 1;
        }
        auc += fp_g * (tp + tp_g / 2.0);
        if tp_g > 0.0 {
            ap += (tp_g / positives) * (tp + tp_g) / (tp + tp_g + fp + fp_g);
        }
        tp += tp_g;
        fp += fp_g;
    }
    (auc / (positives * negatives), ap)
}

/// The sorted row order by decreasing score (stable, `-0.0` as `0.0`).
fn decreasing(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| (scores[b] + 0.0).total_cmp(&(scores[a] + 0.0)));
    order
}

/// The differences `A − B` of ROC-AUC and average precision on the rows as they are (the
/// estimates of M26 and of M20's paired form).
///
/// # Errors
/// Those of [`roc_auc`] and [`average_precision`]; [`MetricsError::LengthMismatch`].
pub(super) fn paired_estimates(
    labels: &[bool],
    scores_a: &[f64],
    scores_b: &[f64],
) -> Result<(f64, f64), MetricsError> {
    if scores_b.len() != labels.len() {
        return Err(MetricsError::LengthMismatch {
            labels: labels.len(),
            scores: scores_b.len(),
        });
    }
    Ok((
        roc_auc(labels, scores_a)? - roc_auc(labels, scores_b)?,
        average_precision(labels, scores_a)? - average_precision(labels, scores_b)?,
    ))
}

/// (M26) Paired stratified bootstrap of `A − B`: `resamples` times, draw `P` positives from
/// the positives and `N` negatives from the negatives with replacement
/// ([`uniform_below`] on `seeded_rng(seed)`), the same draw for both models, and recompute
/// ROC-AUC, average precision and, when per-row costs are given (`costs = (c_A, c_B)`, the
/// cost of each row under each model's decision), the total cost. The interval is the sorted
/// differences at `round(0.025·(B−1))` and `round(0.975·(B−1))`.
///
/// # Errors
/// Those of [`roc_auc`] and [`average_precision`]; [`MetricsError::LengthMismatch`].
pub fn paired_bootstrap(
    labels: &[bool],
    scores_a: &[f64],
    scores_b: &[f64],
    costs: Option<(&[f64], &[f64])>,
    resamples: usize,
    seed: u64,
) -> Result<PairedBootstrap, MetricsError> {
    let (auc, ap) = paired_estimates(labels, scores_a, scores_b)?;
    let cost_estimate = costs.map(|(a, b)| a.iter().sum::<f64>() - b.iter().sum::<f64>());
    let (order_a, order_b) = (decreasing(scores_a), decreasing(scores_b));
    let positives: Vec<usize> = (0..labels.len()).filter(|&i| labels[i]).collect();
    let negatives: Vec<usize> = (0..labels.len()).filter(|&i| !labels[i]).collect();
    let mut rng = seeded_rng(seed);
    let mut w = vec![0u32; labels.len()];
    let (mut d_auc, mut d_ap, mut d_cost) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..resamples {
        w.fill(0);
        for group in [&positives, &negatives] {
            for _ in 0..group.len() {
                w[group[uniform_below(&mut rng, group.len() as u64) as usize]] += 1;
            }
        }
        let (auc_a, ap_a) = weighted_auc_ap(&order_a, scores_a, labels, &w);
        let (auc_b, ap_b) = weighted_auc_ap(&order_b, scores_b, labels, &w);
        d_auc.push(auc_a - auc_b);
        d_ap.push(ap_a - ap_b);
        if let Some((a, b)) = costs {
            d_cost.push(
                w.iter()
                    .zip(a.iter().zip(b))
                    .map(|(&w, (a, b))| f64::from(w) * (a - b))
                    .sum(),
            );
        }
    }
    Ok(PairedBootstrap {
        resamples,
        roc_auc: PairedInterval::of(auc, d_auc),
        pr_auc: PairedInterval::of(ap, d_ap),
        cost: cost_estimate.map(|e| PairedInterval::of(e, d_cost)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_weights_give_the_plain_metrics_and_a_model_against_itself_differs_by_zero() {
        let labels = [true, false, true, true, false, false];
        let scores = [0.9, 0.8, 0.7, 0.4, 0.4, 0.1];
        let (auc, ap) = weighted_auc_ap(&decreasing(&scores), &scores, &labels, &[1; 6]);
        assert!((auc - roc_auc(&labels, &scores).unwrap()).abs() < 1e-15);
        assert!((ap - average_precision(&labels, &scores).unwrap()).abs() < 1e-15);
        let same = paired_bootstrap(&labels, &scores, &scores, None, 50, 1).unwrap();
        assert_eq!((same.roc_auc.low, same.roc_auc.high), (0.0, 0.0));
        // Negative control: a worse model's interval lies below zero's estimate.
        let worse = [0.1, 0.8, 0.7, 0.4, 0.9, 0.1];
        let d = paired_bootstrap(&labels, &worse, &scores, None, 200, 1).unwrap();
        assert!(d.roc_auc.estimate < 0.0 && d.roc_auc.low <= d.roc_auc.estimate);
        assert!(d.roc_auc.high >= d.roc_auc.estimate);
    }
}
