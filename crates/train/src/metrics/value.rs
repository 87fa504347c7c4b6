//! Metrics of a value prediction (notes/value.md §3, C30–C36): normalized Gini as in the ZILN
//! paper's code, Spearman's rank correlation, the decile chart and its MAPE, the revenue
//! share of the top customers, MAE and RMSE; the AUC of "any purchase" is [`roc_auc`] of
//! `y > 0` against the predicted value (M8–M11).
//!
//! `actual` and `predicted` pair up by index; every sum runs in index order in f64. Ties in
//! the prediction are never broken by sort order: the gain curve spreads a block of equal
//! predictions' value evenly (the expectation over random tie-breaking); the decile chart,
//! which must place every customer, breaks them by index (callers pass customers in id order).

use serde::Serialize;

use super::{MetricsError, roc_auc};

fn check(actual: &[f64], predicted: &[f64]) -> Result<(), MetricsError> {
    if actual.len() != predicted.len() {
        return Err(MetricsError::LengthMismatch {
            labels: actual.len(),
            scores: predicted.len(),
        });
    }
    if actual.is_empty() {
        return Err(MetricsError::Empty);
    }
    for (index, &value) in actual.iter().chain(predicted).enumerate() {
        if !value.is_finite() {
            return Err(MetricsError::NonFinite {
                index: index % actual.len(),
                value,
            });
        }
    }
    Ok(())
}

/// Indices sorted by `key` descending (ties: index ascending; the callers average ties).
fn descending(key: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..key.len()).collect();
    order.sort_by(|&a, &b| key[b].total_cmp(&key[a]).then(a.cmp(&b)));
    order
}

/// (C30) The gain curve: `c_k` = share of the total actual value held by the k customers with
/// the highest predictions, k = 1…n; within a block of equal predictions the block's value
/// accrues evenly. Returns `[c_1, …, c_n]`.
///
/// # Errors
/// Empty or mismatched inputs, a non-finite value, or a total actual value that is not > 0.
pub fn gain_curve(actual: &[f64], predicted: &[f64]) -> Result<Vec<f64>, MetricsError> {
    check(actual, predicted)?;
    let total: f64 = actual.iter().sum();
    if total <= 0.0 {
        return Err(MetricsError::NoPositives {
            metric: "gain_curve",
            n: actual.len(),
        });
    }
    let order = descending(predicted);
    let mut curve = Vec::with_capacity(actual.len());
    let mut cumulative = 0.0f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && predicted[order[end]] == predicted[order[start]] {
            end += 1;
        }
        let block: f64 = order[start..end].iter().map(|&i| actual[i]).sum();
        let each = block / (end - start) as f64;
        for k in 1..=(end - start) {
            curve.push((cumulative + each * k as f64) / total);
        }
        cumulative += block;
        start = end;
    }
    Ok(curve)
}

/// (C31) Normalized Gini: `G(s) = 2·mean_k c_k(s) − 1` for the gain curve of scores s;
/// `G(ŷ)/G(y)`, the model's Gini over that of the perfect ranking.
///
/// # Errors
/// As [`gain_curve`].
pub fn normalized_gini(actual: &[f64], predicted: &[f64]) -> Result<f64, MetricsError> {
    let raw = |scores: &[f64]| -> Result<f64, MetricsError> {
        let curve = gain_curve(actual, scores)?;
        Ok(2.0 * curve.iter().sum::<f64>() / curve.len() as f64 - 1.0)
    };
    Ok(raw(predicted)? / raw(actual)?)
}

/// Average ranks, 1-based (ties share the mean of their positions).
fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(a.cmp(&b)));
    let mut ranks = vec![0.0; x.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && x[order[end]] == x[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// (C32) Spearman's rank correlation: Pearson's r of the average ranks
/// (`scipy.stats.spearmanr`); 0 when either side is constant.
///
/// # Errors
/// Empty or mismatched inputs, a non-finite value.
pub fn spearman(actual: &[f64], predicted: &[f64]) -> Result<f64, MetricsError> {
    check(actual, predicted)?;
    let (a, p) = (average_ranks(actual), average_ranks(predicted));
    let n = a.len() as f64;
    let (ma, mp) = (a.iter().sum::<f64>() / n, p.iter().sum::<f64>() / n);
    let (mut sap, mut saa, mut spp) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&p) {
        sap += (x - ma) * (y - mp);
        saa += (x - ma) * (x - ma);
        spp += (y - mp) * (y - mp);
    }
    if saa == 0.0 || spp == 0.0 {
        return Ok(0.0);
    }
    Ok(sap / (saa * spp).sqrt())
}

/// One tenth of the customers by ascending prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decile {
    /// Customers in it.
    pub count: usize,
    /// Mean prediction.
    pub predicted: f64,
    /// Mean actual value.
    pub actual: f64,
}

/// (C33) The decile chart: customers sorted by ascending prediction (ties: index ascending),
/// group d holding sorted positions `⌊d·n/10⌋ … ⌊(d+1)·n/10⌋ − 1`; per group the mean
/// prediction and the mean actual value.
///
/// # Errors
/// Empty or mismatched inputs, a non-finite value, fewer than 10 customers.
pub fn decile_chart(actual: &[f64], predicted: &[f64]) -> Result<Vec<Decile>, MetricsError> {
    check(actual, predicted)?;
    let n = actual.len();
    if n < 10 {
        return Err(MetricsError::Empty);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| predicted[a].total_cmp(&predicted[b]).then(a.cmp(&b)));
    Ok((0..10)
        .map(|d| {
            let group = &order[d * n / 10..(d + 1) * n / 10];
            let count = group.len();
            let mean = |v: &[f64]| group.iter().map(|&i| v[i]).sum::<f64>() / count as f64;
            Decile {
                count,
                predicted: mean(predicted),
                actual: mean(actual),
            }
        })
        .collect())
}

/// (C33) Decile MAPE: the mean over the 10 groups of `|mean predicted − mean actual| /
/// mean actual`; groups whose actual mean is 0 are left out of the mean (their relative
/// error is undefined), and NaN is returned if all are.
pub fn decile_mape(chart: &[Decile]) -> f64 {
    let errors: Vec<f64> = chart
        .iter()
        .filter(|d| d.actual > 0.0)
        .map(|d| (d.predicted - d.actual).abs() / d.actual)
        .collect();
    if errors.is_empty() {
        f64::NAN
    } else {
        errors.iter().sum::<f64>() / errors.len() as f64
    }
}

/// (C34) Revenue share of the top `fraction` of customers by prediction: the gain curve at
/// `k = round_half_up(fraction·n)` (0 when k = 0).
///
/// # Errors
/// As [`gain_curve`].
pub fn top_share(actual: &[f64], predicted: &[f64], fraction: f64) -> Result<f64, MetricsError> {
    let curve = gain_curve(actual, predicted)?;
    let k = ((fraction * curve.len() as f64 + 0.5).floor() as usize).min(curve.len());
    Ok(if k == 0 { 0.0 } else { curve[k - 1] })
}

/// Every value metric of one set of predictions, as `metrics.json` writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueMetrics {
    /// Customers scored.
    pub n: usize,
    /// C31.
    pub normalized_gini: f64,
    /// C32.
    pub spearman: f64,
    /// C33.
    pub decile_mape: f64,
    /// (C35) mean |ŷ − y|.
    pub mae: f64,
    /// (C35) √(mean (ŷ − y)²).
    pub rmse: f64,
    /// ROC-AUC of `y > 0` against ŷ (M8–M11); `None` with one class only.
    pub auc_any: Option<f64>,
    /// C34 at 10 %.
    pub top10_revenue_share: f64,
    /// C34 at 20 %.
    pub top20_revenue_share: f64,
    /// Mean prediction (a level check).
    pub mean_predicted: f64,
    /// Mean actual value.
    pub mean_actual: f64,
    /// The decile chart (C33).
    pub deciles: Vec<Decile>,
}

impl ValueMetrics {
    /// Computes everything (C30–C35).
    ///
    /// # Errors
    /// As [`gain_curve`] and [`decile_chart`].
    pub fn compute(actual: &[f64], predicted: &[f64]) -> Result<ValueMetrics, MetricsError> {
        check(actual, predicted)?;
        let n = actual.len() as f64;
        let (mut abs, mut sq) = (0.0f64, 0.0f64);
        for (y, p) in actual.iter().zip(predicted) {
            abs += (p - y).abs();
            sq += (p - y) * (p - y);
        }
        let labels: Vec<bool> = actual.iter().map(|&y| y > 0.0).collect();
        let auc_any = match roc_auc(&labels, predicted) {
            Ok(v) => Some(v),
            Err(MetricsError::SingleClass { .. }) => None,
            Err(e) => return Err(e),
        };
        let deciles = decile_chart(actual, predicted)?;
        Ok(ValueMetrics {
            n: actual.len(),
            normalized_gini: normalized_gini(actual, predicted)?,
            spearman: spearman(actual, predicted)?,
            decile_mape: decile_mape(&deciles),
            mae: abs / n,
            rmse: (sq / n).sqrt(),
            auc_any,
            top10_revenue_share: top_share(actual, predicted, 0.1)?,
            top20_revenue_share: top_share(actual, predicted, 0.2)?,
            mean_predicted: predicted.iter().sum::<f64>() / n,
            mean_actual: actual.iter().sum::<f64>() / n,
            deciles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_by_hand_and_ties_are_averaged() {
        // y = [0, 10, 30], ŷ = [1, 2, 3]: gains 30/40, 40/40, 40/40 → raw = 2·(2.75/3) − 1.
        let y = [0.0, 10.0, 30.0];
        let raw_model = 2.0 * (0.75 + 1.0 + 1.0) / 3.0 - 1.0;
        let g = normalized_gini(&y, &[1.0, 2.0, 3.0]).unwrap();
        assert!(
            (g - 1.0).abs() < 1e-15,
            "perfect order: {g} (raw {raw_model})"
        );
        // All predictions tied: the curve is the diagonal k/n, raw = 2·mean(k/n) − 1 = 1/n.
        let c = gain_curve(&y, &[5.0, 5.0, 5.0]).unwrap();
        for (got, want) in c.iter().zip([1.0 / 3.0, 2.0 / 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-15, "{c:?}");
        }
        assert_eq!(top_share(&y, &[1.0, 2.0, 3.0], 0.2).unwrap(), 0.75);
    }
}
