//! Table → feature matrix: the [`Preprocessor`], fitted on training rows only and applied
//! identically to validation, test and prediction input (notes/data.md §5).
//!
//! Per feature column, in schema order (target and dropped columns excluded):
//! - numeric: impute the training median (D2), optionally `u = ln(1 + x)` (D3), then
//!   standardise `z = (u − μ) / s` with the training mean and standard deviation (D4)–(D7);
//! - boolean: 1/0, a missing value imputed with the training mode (D8);
//! - categorical: one-hot over the training levels plus an `<unknown>` bucket, a missing
//!   value imputed with the training mode (D10).
//!
//! Statistics are computed in `f64`, sequentially in row order (so bit-reproducible), and
//! the features are rounded to `f32` at the end. Shapes: `N` rows, `D` features.

use std::collections::{BTreeMap, HashMap};

use ndarray::{Array1, Array2, ShapeBuilder};
use serde::{Deserialize, Serialize};

use super::error::{DataError, Names, Result};
use super::scaling::{FeatureOptions, FittedScaling, NumericScaling};
use super::schema::{ColumnKind, Schema};
use super::table::{Column, ColumnData, Table};
use super::target::{Target, TargetSpec};

/// Name of the one-hot bucket for categories not seen in training.
pub const UNKNOWN_LEVEL: &str = "<unknown>";

/// Name of the missing-indicator feature (D22).
pub const MISSING_LEVEL: &str = "<missing>";

/// Version of the serialised [`Preprocessor`] format.
pub const PREPROCESSOR_FORMAT: u32 = 1;

/// `f64` fields written as decimal strings in Rust's shortest round-trip form and read back
/// with Rust's correctly rounded parser, so JSON round-trips are bit-exact (serde_json's
/// default float parser does not guarantee that without its `float_roundtrip` feature).
pub(crate) mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        let a = x.abs();
        if a != 0.0 && !(1e-5..1e16).contains(&a) {
            s.collect_str(&format_args!("{x:e}"))
        } else {
            s.collect_str(x)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Number(f64),
        }
        match Repr::deserialize(d)? {
            Repr::Text(t) => t
                .parse()
                .map_err(|_| de::Error::custom(format!("\"{t}\" is not a number"))),
            Repr::Number(x) => Ok(x),
        }
    }
}

/// A list of `f64` written and read like [`exact_f64`].
pub(crate) mod exact_f64_vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(serde::Serialize, Deserialize)]
    #[serde(transparent)]
    struct Exact(#[serde(with = "super::exact_f64")] f64);

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for &x in v {
            seq.serialize_element(&Exact(x))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Exact>::deserialize(d)?
            .into_iter()
            .map(|e| e.0)
            .collect())
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Fitted statistics of a numeric column ((D2)–(D7)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    pub column: String,
    /// Training median of the observed raw values, imputed for missing ones (D2).
    #[serde(with = "exact_f64")]
    pub median: f64,
    /// Whether `u = ln(1 + x)` is applied after imputation (D3).
    pub log1p: bool,
    /// Training mean of `u` over all rows, imputed ones included (D4).
    #[serde(with = "exact_f64")]
    pub mean: f64,
    /// Training population standard deviation of `u` (D5).
    #[serde(with = "exact_f64")]
    pub std: f64,
    /// The divisor `s`: `std`, or 1 when the training values are all equal (D6).
    #[serde(with = "exact_f64")]
    pub scale: f64,
    /// Observed (non-missing) training values.
    pub observed: usize,
    /// Robust or quantile-normal scaling (D17)–(D21) in place of (D7); `None` standardises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<FittedScaling>,
    /// A `column=<missing>` 0/1 feature follows the value (D22).
    #[serde(default, skip_serializing_if = "is_false")]
    pub missing_indicator: bool,
}

/// Fitted statistics of a boolean column (D8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BooleanStats {
    pub column: String,
    /// The training mode, imputed for missing values (a tie goes to `false`).
    pub mode: bool,
    pub true_count: usize,
    pub false_count: usize,
}

/// Fitted statistics of a categorical column (D10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoricalStats {
    pub column: String,
    /// Training levels in feature order: numeric order if every level is a number, byte
    /// order otherwise. The `<unknown>` bucket follows them.
    pub levels: Vec<String>,
    /// Training count of each level.
    pub counts: Vec<usize>,
    /// Index into `levels` of the training mode, imputed for missing values (a tie goes to
    /// the earliest level); `levels.len()` (the bucket) if the mode is a pooled rare level.
    pub mode: usize,
    /// Training levels seen fewer than the options' `rare_min_count` times, pooled into the
    /// `<unknown>` bucket (D23), in the order of `levels`' rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rare: Vec<String>,
    /// Training rows of the pooled rare levels.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rare_count: usize,
    /// A `column=<missing>` feature follows the bucket; missing cells go there instead of
    /// the mode (D22).
    #[serde(default, skip_serializing_if = "is_false")]
    pub missing_level: bool,
}

/// One fitted feature column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FittedColumn {
    Numeric(NumericStats),
    Boolean(BooleanStats),
    Categorical(CategoricalStats),
}

impl FittedColumn {
    /// The source column's name.
    pub fn column(&self) -> &str {
        match self {
            FittedColumn::Numeric(s) => &s.column,
            FittedColumn::Boolean(s) => &s.column,
            FittedColumn::Categorical(s) => &s.column,
        }
    }

    /// The source column's kind.
    pub fn kind(&self) -> ColumnKind {
        match self {
            FittedColumn::Numeric(_) => ColumnKind::Numeric,
            FittedColumn::Boolean(_) => ColumnKind::Boolean,
            FittedColumn::Categorical(_) => ColumnKind::Categorical,
        }
    }

    /// Number of features this column produces.
    pub fn width(&self) -> usize {
        match self {
            FittedColumn::Categorical(s) => s.levels.len() + 1 + usize::from(s.missing_level),
            FittedColumn::Numeric(s) => 1 + usize::from(s.missing_indicator),
            FittedColumn::Boolean(_) => 1,
        }
    }

    /// Names of this column's features: the column name, or `column=level` for each level
    /// and `column=<unknown>`; then `column=<missing>` if it has a missing indicator (D22).
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            FittedColumn::Categorical(s) => s
                .levels
                .iter()
                .map(String::as_str)
                .chain([UNKNOWN_LEVEL])
                .chain(s.missing_level.then_some(MISSING_LEVEL))
                .map(|l| format!("{}={l}", s.column))
                .collect(),
            FittedColumn::Numeric(s) if s.missing_indicator => {
                vec![s.column.clone(), format!("{}={MISSING_LEVEL}", s.column)]
            }
            other => vec![other.column().to_string()],
        }
    }
}

/// The features `start..end` of the matrix that come from one source column (one feature
/// for numeric and boolean columns, the one-hot block for a categorical one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureGroup {
    pub column: String,
    pub kind: ColumnKind,
    pub start: usize,
    pub end: usize,
    /// Names of features `start..end`.
    pub names: Vec<String>,
}

/// The result of [`Preprocessor::encode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Features, (N, D).
    pub x: Array2<f32>,
    /// Labels, (N,), 1.0 positive / 0.0 negative; `None` when not asked for.
    pub y: Option<Array1<f32>>,
    /// Feature column → cells imputed in this table (missing tokens and sentinels).
    pub imputed: BTreeMap<String, usize>,
    /// Categorical column → cells whose level was not seen in training (sent to
    /// `<unknown>`). Every categorical column has an entry, zero included.
    pub unknown: BTreeMap<String, usize>,
}

/// The fitted CSV-to-features transform. Serialise it with serde (JSON) into the model
/// bundle; [`Preprocessor::from_json`] checks the format version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// [`PREPROCESSOR_FORMAT`].
    pub format: u32,
    schema: Schema,
    target: Target,
    /// The preprocessing choices (D17–D23); absent in bundles written before them, which
    /// used the defaults, and left out when default so those bundles rewrite byte for byte.
    #[serde(default, skip_serializing_if = "FeatureOptions::is_default")]
    options: FeatureOptions,
    columns: Vec<FittedColumn>,
}

/// Sort key of a level: numbers first in numeric order when all levels are numbers.
fn sort_levels(levels: &mut [(String, usize)]) {
    let numbers: Option<Vec<f64>> = levels.iter().map(|(l, _)| l.parse().ok()).collect();
    if numbers.is_some() {
        levels.sort_by(|a, b| {
            let x: f64 = a.0.parse().unwrap_or(f64::NAN);
            let y: f64 = b.0.parse().unwrap_or(f64::NAN);
            x.total_cmp(&y).then_with(|| a.0.cmp(&b.0))
        });
    } else {
        levels.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// Median of a non-empty slice (D2): the middle value, or the mean of the two middle
/// values for an even count (NumPy's convention).
///
/// **Panics** if `values` is empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    let n = v.len();
    // Selection instead of a sort (O(n)): the element at n/2 is the sorted one, every
    // element before it is ≤ it, so their largest is the sorted element at n/2 − 1.
    let (below, &mut middle, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    match below.iter().copied().max_by(f64::total_cmp) {
        Some(lower) if n.is_multiple_of(2) => 0.5 * (lower + middle),
        _ => middle,
    }
}

impl Preprocessor {
    /// Fits every feature column of `table` (the training rows only) and resolves the
    /// target. `schema` is the schema `table` was parsed with; it is stored so that later
    /// files are read the same way.
    ///
    /// Errors: the target errors of [`Target::resolve`]; [`DataError::SchemaMismatch`] if
    /// `table` was not parsed with `schema`; [`DataError::NoObservedValues`] for a feature
    /// column with no value; [`DataError::NegativeLog1p`].
    pub fn fit(table: &Table, schema: &Schema, target: &TargetSpec) -> Result<Preprocessor> {
        Preprocessor::fit_with(table, schema, target, FeatureOptions::default())
    }

    /// [`Preprocessor::fit`] with the preprocessing choices `options` (notes/data.md §11).
    ///
    /// Errors: as [`Preprocessor::fit`].
    pub fn fit_with(
        table: &Table,
        schema: &Schema,
        target: &TargetSpec,
        options: FeatureOptions,
    ) -> Result<Preprocessor> {
        schema.validate()?;
        let mismatch = |message: String| DataError::SchemaMismatch {
            file: table.file().to_string(),
            message,
        };
        let kept: Vec<_> = schema.kept().collect();
        if kept.len() != table.columns().len() {
            return Err(mismatch(format!(
                "the schema keeps {} columns, the table has {}",
                kept.len(),
                table.columns().len()
            )));
        }
        for (spec, column) in kept.iter().zip(table.columns()) {
            if spec.name != column.name() || spec.kind != column.kind() {
                return Err(mismatch(format!(
                    "schema column \"{}\" ({}) against table column \"{}\" ({})",
                    spec.name,
                    spec.kind,
                    column.name(),
                    column.kind()
                )));
            }
        }
        let resolved = Target::resolve(table, target)?;
        let mut columns = Vec::new();
        for column in table.columns() {
            if column.name() == resolved.column {
                continue;
            }
            columns.push(fit_column(table, column, &options)?);
        }
        Ok(Preprocessor {
            format: PREPROCESSOR_FORMAT,
            schema: schema.clone(),
            target: resolved,
            options,
            columns,
        })
    }

    /// The preprocessing choices it was fitted with.
    pub fn options(&self) -> FeatureOptions {
        self.options
    }

    /// The schema the training file was read with (target included).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The schema for prediction input: the training schema with the target dropped, so a
    /// file without the target column is accepted (and one with it is not checked).
    pub fn prediction_schema(&self) -> Schema {
        self.schema.with_dropped(&self.target.column)
    }

    /// The resolved target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The fitted feature columns, in feature order.
    pub fn columns(&self) -> &[FittedColumn] {
        &self.columns
    }

    /// Number of features `D`.
    pub fn n_features(&self) -> usize {
        self.columns.iter().map(FittedColumn::width).sum()
    }

    /// The name of every feature, in matrix column order.
    pub fn feature_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(FittedColumn::feature_names)
            .collect()
    }

    /// The features that hold a numeric column's value: the first feature of each numeric
    /// group (its missing indicator, if any, follows it and is not one), increasing. The
    /// column set S of a PLR layer on numeric columns (notes/tabular.md N23).
    pub fn numeric_value_features(&self) -> Vec<usize> {
        self.feature_groups()
            .into_iter()
            .filter(|g| g.kind == ColumnKind::Numeric)
            .map(|g| g.start)
            .collect()
    }

    /// Which features come from which source column.
    pub fn feature_groups(&self) -> Vec<FeatureGroup> {
        let mut start = 0;
        self.columns
            .iter()
            .map(|c| {
                let end = start + c.width();
                let g = FeatureGroup {
                    column: c.column().to_string(),
                    kind: c.kind(),
                    start,
                    end,
                    names: c.feature_names(),
                };
                start = end;
                g
            })
            .collect()
    }

    /// Features and labels: `(x (N, D), y (N,))`. The table must hold the target.
    pub fn transform(&self, table: &Table) -> Result<(Array2<f32>, Array1<f32>)> {
        let e = self.encode(table, true)?;
        let y = e.y.unwrap_or_else(|| Array1::zeros(0));
        Ok((e.x, y))
    }

    /// Features only, (N, D), for label-less prediction input (a target column, if
    /// present, is not looked at).
    pub fn transform_features(&self, table: &Table) -> Result<Array2<f32>> {
        Ok(self.encode(table, false)?.x)
    }

    /// Features, labels if `with_labels`, and per-column counts of imputed and unknown
    /// cells.
    ///
    /// Errors: [`DataError::MissingColumn`] for an absent feature column,
    /// [`DataError::SchemaMismatch`] for a column of another kind, [`DataError::NegativeLog1p`],
    /// and with labels those of [`Target::labels`].
    pub fn encode(&self, table: &Table, with_labels: bool) -> Result<Encoded> {
        let n = table.n_rows();
        // Filled column by column, so column-major: each column's cells are consecutive
        // (row-major with 16 features or more, every cell of a column pass was another cache
        // line); copied to the row-major x at the end.
        let mut x = Array2::<f32>::zeros((n, self.n_features()).f());
        let mut imputed = BTreeMap::new();
        let mut unknown = BTreeMap::new();
        let mut start = 0;
        for fitted in &self.columns {
            let column = table
                .column(fitted.column())
                .ok_or_else(|| DataError::MissingColumn {
                    file: table.file().to_string(),
                    column: fitted.column().to_string(),
                    available: Names(table.column_names()),
                })?;
            let mut filled = 0;
            match (fitted, column.data()) {
                (FittedColumn::Numeric(s), ColumnData::Numeric(v)) => {
                    for (i, &raw) in v.iter().enumerate() {
                        filled += usize::from(raw.is_nan());
                        let u = transformed(s.log1p, impute(raw, s.median), table, column, i)?;
                        let z = match &s.scaling {
                            Some(scaling) => scaling.apply(u),
                            // (D7) z = (u − μ) / s
                            None => (u - s.mean) / s.scale,
                        };
                        x[[i, start]] = z as f32;
                        if s.missing_indicator {
                            // (D22) 1 where the cell was missing.
                            x[[i, start + 1]] = f32::from(u8::from(raw.is_nan()));
                        }
                    }
                }
                (FittedColumn::Boolean(s), ColumnData::Boolean(v)) => {
                    for (i, b) in v.iter().enumerate() {
                        filled += usize::from(b.is_none());
                        // (D8) 1 for true, 0 for false; missing → training mode.
                        x[[i, start]] = f32::from(u8::from(b.unwrap_or(s.mode)));
                    }
                }
                (FittedColumn::Categorical(s), ColumnData::Categorical { levels, codes }) => {
                    let index: HashMap<&str, usize> = s
                        .levels
                        .iter()
                        .enumerate()
                        .map(|(k, l)| (l.as_str(), k))
                        .collect();
                    let bucket = s.levels.len();
                    // This table's level codes → training one-hot index (or the bucket), and
                    // whether the level is one never seen in training (not a pooled rare one).
                    let to_fitted: Vec<(usize, bool)> = levels
                        .iter()
                        .map(|l| match index.get(l.as_str()) {
                            Some(&k) => (k, false),
                            None => (bucket, !s.rare.contains(l)),
                        })
                        .collect();
                    let mut unseen = 0;
                    for (i, code) in codes.iter().enumerate() {
                        // (D10) one-hot; missing → training mode (or <missing>, D22); unseen
                        // and pooled rare levels (D23) → <unknown>.
                        let k = match code {
                            None if s.missing_level => bucket + 1,
                            None => {
                                filled += 1;
                                s.mode
                            }
                            Some(c) => {
                                let (k, new) = to_fitted[*c as usize];
                                unseen += usize::from(new);
                                k
                            }
                        };
                        x[[i, start + k]] = 1.0;
                    }
                    unknown.insert(s.column.clone(), unseen);
                }
                (f, _) => {
                    return Err(DataError::SchemaMismatch {
                        file: table.file().to_string(),
                        message: format!(
                            "column \"{}\" was fitted as {} but is {} in this table",
                            f.column(),
                            f.kind(),
                            column.kind()
                        ),
                    });
                }
            }
            imputed.insert(fitted.column().to_string(), filled);
            start += fitted.width();
        }
        let y = if with_labels {
            Some(self.target.labels(table)?)
        } else {
            None
        };
        Ok(Encoded {
            x: x.as_standard_layout().into_owned(),
            y,
            imputed,
            unknown,
        })
    }

    /// Reads a preprocessor from JSON and checks its format version; `origin` names the
    /// source in messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Preprocessor> {
        let p: Preprocessor =
            serde_json::from_str(text).map_err(|e| DataError::BadPreprocessor {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        if p.format != PREPROCESSOR_FORMAT {
            return Err(DataError::BadPreprocessor {
                origin: origin.to_string(),
                message: format!(
                    "format {} is not the supported format {PREPROCESSOR_FORMAT}",
                    p.format
                ),
            });
        }
        Ok(p)
    }

    /// The preprocessor as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// (D2) x̃ = x if observed, else the training median.
fn impute(raw: f64, median: f64) -> f64 {
    if raw.is_nan() { median } else { raw }
}

/// (D3) u = ln(1 + x̃) when `log1p`, else u = x̃; a negative x̃ is an error naming the cell.
fn transformed(log1p: bool, x: f64, table: &Table, column: &Column, i: usize) -> Result<f64> {
    if !log1p {
        return Ok(x);
    }
    if x < 0.0 {
        return Err(DataError::NegativeLog1p {
            file: table.file().to_string(),
            line: table.lines()[i],
            column: column.position(),
            name: column.name().to_string(),
            value: x,
        });
    }
    Ok(x.ln_1p())
}

/// Fits one feature column on the training table.
fn fit_column(table: &Table, column: &Column, options: &FeatureOptions) -> Result<FittedColumn> {
    let none_observed = || DataError::NoObservedValues {
        file: table.file().to_string(),
        column: column.name().to_string(),
        rows: table.n_rows(),
    };
    let name = column.name().to_string();
    Ok(match column.data() {
        ColumnData::Numeric(v) => {
            let observed: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
            if observed.is_empty() {
                return Err(none_observed());
            }
            let log1p = column.schema().log1p;
            let med = median(&observed);
            let mut u = Vec::with_capacity(v.len());
            for (i, &raw) in v.iter().enumerate() {
                u.push(transformed(log1p, impute(raw, med), table, column, i)?);
            }
            let n = u.len() as f64;
            // (D4) μ = (1/N) Σ u_i, summed in row order.
            let mean = u.iter().sum::<f64>() / n;
            // (D5) σ = sqrt((1/N) Σ (u_i − μ)²), population form as scikit-learn's StandardScaler.
            let std = (u.iter().map(|&ui| (ui - mean) * (ui - mean)).sum::<f64>() / n).sqrt();
            // (D6) s = σ, or 1 if every u_i is equal (then μ is that value and z = 0).
            let constant = u.iter().all(|&ui| ui == u[0]);
            let (mean, scale) = if constant { (u[0], 1.0) } else { (mean, std) };
            let scaling = match options.numeric {
                NumericScaling::Standard => None,
                NumericScaling::RobustClip => Some(FittedScaling::fit_robust(&u)),
                NumericScaling::QuantileNormal => Some(FittedScaling::fit_quantile_normal(&u)),
            };
            FittedColumn::Numeric(NumericStats {
                column: name,
                median: med,
                log1p,
                mean,
                std: if constant { 0.0 } else { std },
                scale,
                observed: observed.len(),
                scaling,
                missing_indicator: options.missing_indicators && observed.len() < v.len(),
            })
        }
        ColumnData::Boolean(v) => {
            let true_count = v.iter().filter(|b| **b == Some(true)).count();
            let false_count = v.iter().filter(|b| **b == Some(false)).count();
            if true_count + false_count == 0 {
                return Err(none_observed());
            }
            FittedColumn::Boolean(BooleanStats {
                column: name,
                mode: true_count > false_count,
                true_count,
                false_count,
            })
        }
        ColumnData::Categorical { levels, codes } => {
            let mut counts = vec![0usize; levels.len()];
            for c in codes.iter().flatten() {
                counts[*c as usize] += 1;
            }
            let mut pairs: Vec<(String, usize)> = levels
                .iter()
                .cloned()
                .zip(counts)
                .filter(|(_, c)| *c > 0)
                .collect();
            if pairs.is_empty() {
                return Err(none_observed());
            }
            sort_levels(&mut pairs);
            let mut mode = 0;
            for (k, (_, c)) in pairs.iter().enumerate() {
                if *c > pairs[mode].1 {
                    mode = k;
                }
            }
            // (D23) levels seen fewer than `rare_min_count` times join the <unknown> bucket.
            let is_rare = |c: usize| c < options.rare_min_count;
            let mode_is_rare = is_rare(pairs[mode].1);
            let mode_name = pairs[mode].0.clone();
            let (rare_pairs, kept): (Vec<_>, Vec<_>) =
                pairs.into_iter().partition(|(_, c)| is_rare(*c));
            let mode = if mode_is_rare {
                kept.len()
            } else {
                kept.iter().position(|(l, _)| *l == mode_name).unwrap_or(0)
            };
            let rare_count = rare_pairs.iter().map(|(_, c)| c).sum();
            let rare = rare_pairs.into_iter().map(|(l, _)| l).collect();
            let (levels, counts) = kept.into_iter().unzip();
            FittedColumn::Categorical(CategoricalStats {
                column: name,
                levels,
                counts,
                mode,
                rare,
                rare_count,
                missing_level: options.missing_indicators && codes.iter().any(Option::is_none),
            })
        }
    })
}
