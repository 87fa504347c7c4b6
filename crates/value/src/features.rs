//! The feature list (C10–C19), the scaling a model sees (C23), the categorical vocabulary
//! (C20), the portable customer split (C24) and the "last period repeats" rule (C25).

use std::collections::BTreeMap;

use glassbox_data::{ColumnKind, FeatureGroup};
use serde::{Deserialize, Serialize};

/// Horizon-length periods of net spend back from the cutoff (C19).
pub const PERIODS: usize = 4;

/// How a raw feature is scaled before standardising (C23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureKind {
    /// Money or a count: `sign(x)·ln(1 + |x|)` first (heavy tails).
    Heavy,
    /// Days, rates and flags: standardised as they are.
    Plain,
}

/// The raw features of a customer row, in order, with their kind (notes/value.md §2).
pub const FEATURES: [(&str, FeatureKind); 19 + PERIODS] = [
    ("recency_days", FeatureKind::Plain),
    ("tenure_days", FeatureKind::Plain),
    ("invoices", FeatureKind::Heavy),
    ("purchase_days", FeatureKind::Heavy),
    ("cancelled_invoices", FeatureKind::Heavy),
    ("gross_value", FeatureKind::Heavy),
    ("returned_value", FeatureKind::Heavy),
    ("net_value", FeatureKind::Heavy),
    ("return_rate", FeatureKind::Plain),
    ("mean_invoice_value", FeatureKind::Heavy),
    ("max_invoice_value", FeatureKind::Heavy),
    ("first_invoice_value", FeatureKind::Heavy),
    ("mean_lines_per_invoice", FeatureKind::Heavy),
    ("mean_quantity_per_invoice", FeatureKind::Heavy),
    ("mean_days_between_purchase_days", FeatureKind::Plain),
    ("one_day_customer", FeatureKind::Plain),
    ("net_value_last_30d", FeatureKind::Heavy),
    ("invoices_last_90d", FeatureKind::Heavy),
    ("service_share", FeatureKind::Plain),
    ("net_value_period_1", FeatureKind::Heavy),
    ("net_value_period_2", FeatureKind::Heavy),
    ("net_value_period_3", FeatureKind::Heavy),
    ("net_value_period_4", FeatureKind::Heavy),
];

/// Months (30 days each) back from the cutoff that the trend and the active-month share
/// look at (C46).
pub const TREND_MONTHS: usize = 12;

/// The transaction-history features (C44–C46), after [`FEATURES`] in every raw row. A model
/// sees them only when its scaler was fitted with `history` on (a recipe flag, off in both
/// presets unless notes/value.md §4 adopts it), so models and manifests without them keep
/// their inputs.
pub const HISTORY_FEATURES: [(&str, FeatureKind); 8] = [
    ("invoices_last_30d", FeatureKind::Heavy),
    ("invoices_last_180d", FeatureKind::Heavy),
    ("invoices_last_365d", FeatureKind::Heavy),
    ("gap_sd_days", FeatureKind::Plain),
    ("last_gap_days", FeatureKind::Plain),
    ("recency_over_mean_gap", FeatureKind::Heavy),
    ("monthly_trend", FeatureKind::Plain),
    ("active_month_share", FeatureKind::Plain),
];

/// Every raw feature of a row, in order: [`FEATURES`], then [`HISTORY_FEATURES`].
pub const ALL_FEATURES: [(&str, FeatureKind); 27 + PERIODS] = {
    let mut all = [("", FeatureKind::Plain); 27 + PERIODS];
    let mut j = 0;
    while j < FEATURES.len() {
        all[j] = FEATURES[j];
        j += 1;
    }
    while j < all.len() {
        all[j] = HISTORY_FEATURES[j - FEATURES.len()];
        j += 1;
    }
    all
};

/// The index of a feature by name in a raw row ([`FEATURES`], then [`HISTORY_FEATURES`]).
///
/// # Panics
/// If there is no such feature (a programming error).
pub fn feature_index(name: &str) -> usize {
    ALL_FEATURES
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no feature {name}"))
}

/// Standardised inputs are clipped to ±this many sd (C23): a handful of odd accounts sit
/// 10–18 sd out, and a ReLU net extrapolates wildly there.
pub const CLIP_SD: f64 = 5.0;

/// A categorical value needs this many fitting customers to get its own one-hot column (C20).
pub const MIN_CATEGORY_CUSTOMERS: usize = 10;

/// Everything fitted on the fit customers that turns a raw row into model inputs: the
/// categorical vocabularies (C20) and each column's mean and sd after the log (C23).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Per categorical column: its name and the values with their own column (sorted);
    /// everything else maps to a last "other" column.
    pub vocabularies: Vec<(String, Vec<String>)>,
    /// Mean of each input column (numeric features, then one-hots).
    pub mean: Vec<f64>,
    /// Population sd of each input column; 1 where it is 0.
    pub sd: Vec<f64>,
    /// The history features (C44–C46) are inputs, after [`FEATURES`]; absent (false) in
    /// models written before them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub history: bool,
}

/// (C23) `sign(x)·ln(1 + |x|)` for heavy features, `x` otherwise.
fn squash(x: f64, kind: FeatureKind) -> f64 {
    match kind {
        FeatureKind::Heavy => x.signum() * x.abs().ln_1p(),
        FeatureKind::Plain => x,
    }
}

impl Scaler {
    /// Fits on the rows `fit` of a table: vocabularies of values held by at least
    /// [`MIN_CATEGORY_CUSTOMERS`] of them, then the mean and population sd of every column;
    /// the numeric inputs are [`FEATURES`] only.
    pub fn fit(
        features: &[Vec<f64>],
        categories: &[Vec<String>],
        category_names: &[String],
        fit: &[usize],
    ) -> Scaler {
        Self::fit_with(features, categories, category_names, fit, false)
    }

    /// [`Scaler::fit`], with the history features (C44–C46) as inputs too when `history`.
    pub fn fit_with(
        features: &[Vec<f64>],
        categories: &[Vec<String>],
        category_names: &[String],
        fit: &[usize],
        history: bool,
    ) -> Scaler {
        let vocabularies = category_names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for &i in fit {
                    *counts.entry(categories[i][k].as_str()).or_default() += 1;
                }
                let kept = counts
                    .into_iter()
                    .filter(|&(_, n)| n >= MIN_CATEGORY_CUSTOMERS)
                    .map(|(v, _)| v.to_string())
                    .collect();
                (name.clone(), kept)
            })
            .collect();
        let mut scaler = Scaler {
            vocabularies,
            mean: Vec::new(),
            sd: Vec::new(),
            history,
        };
        let width = scaler.width();
        let (mut sum, mut sq) = (vec![0.0f64; width], vec![0.0f64; width]);
        let mut row = vec![0.0; width];
        for &i in fit {
            scaler.unscaled(&features[i], &categories[i], &mut row);
            for j in 0..width {
                sum[j] += row[j];
            }
        }
        let n = fit.len().max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        for &i in fit {
            scaler.unscaled(&features[i], &categories[i], &mut row);
            for j in 0..width {
                sq[j] += (row[j] - mean[j]) * (row[j] - mean[j]);
            }
        }
        scaler.sd = sq
            .iter()
            .map(|s| (s / n).sqrt())
            .map(|sd| if sd > 0.0 { sd } else { 1.0 })
            .collect();
        scaler.mean = mean;
        scaler
    }

    /// The numeric inputs, in order: [`FEATURES`], then [`HISTORY_FEATURES`] when on.
    fn numeric(&self) -> &'static [(&'static str, FeatureKind)] {
        if self.history {
            &ALL_FEATURES
        } else {
            &FEATURES
        }
    }

    /// Input columns: the numeric features, then per categorical column its kept values
    /// and "other".
    pub fn width(&self) -> usize {
        self.numeric().len()
            + self
                .vocabularies
                .iter()
                .map(|(_, v)| v.len() + 1)
                .sum::<usize>()
    }

    /// The input columns' names.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.numeric().iter().map(|(n, _)| n.to_string()).collect();
        for (column, values) in &self.vocabularies {
            names.extend(values.iter().map(|v| format!("{column}={v}")));
            names.push(format!("{column}=other"));
        }
        names
    }

    /// The input columns grouped by source: each numeric feature alone, each categorical
    /// column's one-hots together (what permutation importance permutes as one, E8).
    pub fn feature_groups(&self) -> Vec<FeatureGroup> {
        let mut groups: Vec<FeatureGroup> = self
            .numeric()
            .iter()
            .enumerate()
            .map(|(j, (name, _))| FeatureGroup {
                column: name.to_string(),
                kind: ColumnKind::Numeric,
                start: j,
                end: j + 1,
                names: vec![name.to_string()],
            })
            .collect();
        let names = self.names();
        let mut start = self.numeric().len();
        for (column, values) in &self.vocabularies {
            let end = start + values.len() + 1;
            groups.push(FeatureGroup {
                column: column.clone(),
                kind: ColumnKind::Categorical,
                start,
                end,
                names: names[start..end].to_vec(),
            });
            start = end;
        }
        groups
    }

    /// A row before standardising: squashed features (C23), one-hot categories (C20).
    fn unscaled(&self, features: &[f64], categories: &[String], out: &mut [f64]) {
        let numeric = self.numeric();
        for (j, (x, (_, kind))) in features.iter().zip(numeric).enumerate() {
            out[j] = squash(*x, *kind);
        }
        let mut j = numeric.len();
        for ((_, values), value) in self.vocabularies.iter().zip(categories) {
            let hit = values.binary_search(value).unwrap_or(values.len());
            for k in 0..=values.len() {
                out[j + k] = f64::from(u8::from(k == hit));
            }
            j += values.len() + 1;
        }
    }

    /// (C23) The model input of one customer: `clip((u − mean)/sd, ±5)`, written into `out`
    /// ([`Scaler::width`] values).
    pub fn transform_row(&self, features: &[f64], categories: &[String], out: &mut [f64]) {
        self.unscaled(features, categories, out);
        for (j, v) in out.iter_mut().enumerate() {
            *v = ((*v - self.mean[j]) / self.sd[j]).clamp(-CLIP_SD, CLIP_SD);
        }
    }
}

/// Which part of the split a customer is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Fitted on.
    Fit,
    /// Early stopping and choices.
    Val,
    /// Touched once, for the report.
    Test,
}

/// (C24) The portable split key: `(id × 2654435761) mod 2³²` for an integer id; for any
/// other id, the FNV-1a hash of its text in place of the id.
pub fn split_key(id: &str, numeric: Option<u64>) -> u64 {
    let base = numeric.unwrap_or_else(|| {
        id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    });
    base.wrapping_mul(2_654_435_761) % (1u64 << 32)
}

/// `round_half_up(f·n)`.
fn share(f: f64, n: usize) -> usize {
    (f * n as f64 + 0.5).floor() as usize
}

/// The customers of each stratum (`y > 0`, then `y = 0`… in the order negatives, positives)
/// sorted by (split key, id) — the order both splits cut.
fn strata(ids: &[String], numeric: &[Option<u64>], target: &[f64]) -> [Vec<usize>; 2] {
    let mut strata: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for (i, &y) in target.iter().enumerate() {
        strata[usize::from(y > 0.0)].push(i);
    }
    for s in &mut strata {
        s.sort_by_key(|&i| (split_key(&ids[i], numeric[i]), numeric[i], ids[i].clone()));
    }
    strata
}

/// (C24) The headline split: within each stratum of `y > 0`, sorted by (key, id), the first
/// `round_half_up(0.2·n)` are test, the next `round_half_up(0.2·(n − n_test))` val, the rest fit.
pub fn headline_split(ids: &[String], numeric: &[Option<u64>], target: &[f64]) -> Vec<Part> {
    let mut parts = vec![Part::Fit; ids.len()];
    for stratum in strata(ids, numeric, target) {
        let n_test = share(0.2, stratum.len());
        let n_val = share(0.2, stratum.len() - n_test);
        for (rank, &i) in stratum.iter().enumerate() {
            parts[i] = if rank < n_test {
                Part::Test
            } else if rank < n_test + n_val {
                Part::Val
            } else {
                Part::Fit
            };
        }
    }
    parts
}

/// (C24) Cross-fitting folds: within each stratum sorted by (key, id), cut into `k` equal
/// folds (fold of rank r = ⌊r·k/n⌋); fold f is test once, fold (f + 1) mod k its val.
pub fn cross_fit_folds(
    ids: &[String],
    numeric: &[Option<u64>],
    target: &[f64],
    k: usize,
) -> Vec<usize> {
    let mut folds = vec![0; ids.len()];
    for stratum in strata(ids, numeric, target) {
        let n = stratum.len();
        for (rank, &i) in stratum.iter().enumerate() {
            folds[i] = rank * k / n;
        }
    }
    folds
}

/// (C25) The rule for `rows` of a table over `horizon_ms`, with the table's own calibration
/// length (cutoff − start).
pub fn last_period_rule_of(
    table: &crate::CustomerTable,
    horizon_ms: i64,
    rows: &[usize],
) -> Vec<f64> {
    let day = 86_400_000.0;
    let calibration_days = (table.stats.cutoff_ms - table.stats.start_ms) as f64 / day;
    rows.iter()
        .map(|&i| {
            last_period_rule(
                &table.features[i],
                horizon_ms as f64 / day,
                calibration_days,
            )
        })
        .collect()
}

/// (C25) "Last period repeats": `max(0, calibration net spend) × horizon / calibration length`.
pub fn last_period_rule(features: &[f64], horizon_days: f64, calibration_days: f64) -> f64 {
    features[feature_index("net_value")].max(0.0) * horizon_days / calibration_days
}
