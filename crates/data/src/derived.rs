//! Derived columns (notes/data.md §9–10, D11–D16): datetime cells turned into Unix seconds,
//! and features computed from other columns before the table is typed — time differences,
//! ages, hour of day, day of week, flags, and entity counts (rows sharing a key).
//!
//! Declared in the schema file as an array of tables, in order (a later one may use an
//! earlier one), or on the command line as `NAME=OP(ARG,…)` ([`DerivedSpec::parse_flag`]):
//!
//! ```toml
//! [[derived]]
//! name = "seconds_to_purchase"
//! op = "seconds_between"        # to − from, seconds (D13)
//! from = "signup_time"
//! to = "purchase_time"
//!
//! [[derived]]
//! name = "purchase_hour"
//! op = "hour_of_day"            # or "day_of_week" (D12); encoding "category" or "cyclic" (D14)
//! of = "purchase_time"
//! encoding = "cyclic"
//!
//! [[derived]]
//! name = "device_users"
//! op = "count_by_key"           # rows sharing the key (D16)
//! key = "device_id"
//! scope = "training"            # fitted on the training file, stored ("scored": counted
//!                               # over the file being scored)
//! ```
//!
//! The derived columns are appended to the raw table, so the rest of the data layer (kinds,
//! imputation, standardisation, one-hot) treats them as any other column.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::datetime::{DatetimeFormat, day_of_week, hour_of_day};
use super::error::{DataError, Names, Result};
use super::infer::is_missing_token;
use super::read::RawTable;
use super::schema::{ColumnKind, ColumnSchema, KindSource, Schema, SchemaOverrides};

/// How hour of day and day of week become features (D14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleEncoding {
    /// One categorical column (`0`…`23`, `0` = Monday…`6`), one-hot encoded later.
    #[default]
    Category,
    /// Two numeric columns `NAME_sin`, `NAME_cos` on the unit circle.
    Cyclic,
}

/// Where an entity count is counted (D16; the leakage trade-off is in notes/data.md §10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CountScope {
    /// Fitted on the training file and stored: a scored row counts the training rows with
    /// its key, plus one for itself.
    #[default]
    Training,
    /// Counted over the file being scored (the rows with the same key in it, itself
    /// included); nothing is stored.
    Scored,
}

/// The unit of an [`DerivedOp::Age`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeUnit {
    Seconds,
    Minutes,
    Hours,
    #[default]
    Days,
}

impl AgeUnit {
    fn seconds(self) -> f64 {
        match self {
            AgeUnit::Seconds => 1.0,
            AgeUnit::Minutes => 60.0,
            AgeUnit::Hours => 3600.0,
            AgeUnit::Days => 86_400.0,
        }
    }
}

/// What a derived column computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DerivedOp {
    /// (D13) `to − from` in seconds.
    SecondsBetween { from: String, to: String },
    /// (D13′) Age of the event `of` at the reference time `at`: `(at − of) / unit`.
    Age {
        of: String,
        at: String,
        unit: AgeUnit,
    },
    /// (D12, D14) Hour of day (UTC) of a datetime column.
    HourOfDay { of: String, encoding: CycleEncoding },
    /// (D12, D14) Day of week (UTC, 0 = Monday) of a datetime column.
    DayOfWeek { of: String, encoding: CycleEncoding },
    /// (D15) 1 if the numeric column `of` is at most `value`, else 0.
    AtMost { of: String, value: f64 },
    /// (D16) Rows sharing the value of `key`.
    CountByKey {
        key: String,
        scope: CountScope,
        /// Training scope: key → training rows with it (fitted by [`Schema::infer`]).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        counts: BTreeMap<String, u64>,
    },
}

/// One derived column as declared (schema file `[[derived]]` or a command-line flag).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedSpec {
    pub name: String,
    pub op: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub of: Option<String>,
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub unit: Option<AgeUnit>,
    #[serde(default)]
    pub encoding: Option<CycleEncoding>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub scope: Option<CountScope>,
}

/// A derived column: its name and what it computes (with the fitted counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    pub name: String,
    #[serde(flatten)]
    pub op: DerivedOp,
}

impl DerivedSpec {
    /// Parses a command-line flag `NAME=OP(ARG,…)`:
    /// `seconds_between(FROM,TO)`, `age(OF,AT[,UNIT])`, `hour_of_day(OF[,cyclic])`,
    /// `day_of_week(OF[,cyclic])`, `at_most(OF,VALUE)`, `count_by_key(KEY[,scored])`.
    ///
    /// # Errors
    /// A message saying what is wrong with the flag.
    pub fn parse_flag(flag: &str) -> std::result::Result<DerivedSpec, String> {
        let usage = || {
            format!(
                "--derive \"{flag}\": expected NAME=OP(ARG,...), e.g. gap=seconds_between(signup,purchase)"
            )
        };
        let (name, call) = flag.split_once('=').ok_or_else(usage)?;
        let (op, rest) = call.split_once('(').ok_or_else(usage)?;
        let args: Vec<String> = rest
            .strip_suffix(')')
            .ok_or_else(usage)?
            .split(',')
            .map(|a| a.trim().to_string())
            .collect();
        let arg = |i: usize| args.get(i).filter(|a| !a.is_empty()).cloned();
        let mut spec = DerivedSpec {
            name: name.trim().to_string(),
            op: op.trim().to_string(),
            ..DerivedSpec::default()
        };
        match spec.op.as_str() {
            "seconds_between" => (spec.from, spec.to) = (arg(0), arg(1)),
            "age" => {
                (spec.of, spec.at) = (arg(0), arg(1));
                spec.unit = word(flag, arg(2))?;
            }
            "hour_of_day" | "day_of_week" => {
                spec.of = arg(0);
                spec.encoding = word(flag, arg(1))?;
            }
            "at_most" => {
                spec.of = arg(0);
                spec.value = match arg(1) {
                    Some(v) => Some(
                        v.parse()
                            .map_err(|_| format!("--derive \"{flag}\": \"{v}\" is not a number"))?,
                    ),
                    None => None,
                };
            }
            "count_by_key" => {
                spec.key = arg(0);
                spec.scope = word(flag, arg(1))?;
            }
            _ => {}
        }
        Ok(spec)
    }

    /// The operation, checked for its required fields.
    fn op(&self, origin: &str) -> Result<DerivedOp> {
        let need = |field: &Option<String>, what: &str| {
            field.clone().ok_or_else(|| DataError::SchemaFile {
                file: origin.to_string(),
                message: format!(
                    "derived column \"{}\" (op {}) needs `{what}`",
                    self.name, self.op
                ),
            })
        };
        Ok(match self.op.as_str() {
            "seconds_between" => DerivedOp::SecondsBetween {
                from: need(&self.from, "from")?,
                to: need(&self.to, "to")?,
            },
            "age" => DerivedOp::Age {
                of: need(&self.of, "of")?,
                at: need(&self.at, "at")?,
                unit: self.unit.unwrap_or_default(),
            },
            "hour_of_day" => DerivedOp::HourOfDay {
                of: need(&self.of, "of")?,
                encoding: self.encoding.unwrap_or_default(),
            },
            "day_of_week" => DerivedOp::DayOfWeek {
                of: need(&self.of, "of")?,
                encoding: self.encoding.unwrap_or_default(),
            },
            "at_most" => DerivedOp::AtMost {
                of: need(&self.of, "of")?,
                value: self.value.ok_or_else(|| DataError::SchemaFile {
                    file: origin.to_string(),
                    message: format!(
                        "derived column \"{}\" (op at_most) needs `value`",
                        self.name
                    ),
                })?,
            },
            "count_by_key" => DerivedOp::CountByKey {
                key: need(&self.key, "key")?,
                scope: self.scope.unwrap_or_default(),
                counts: BTreeMap::new(),
            },
            other => {
                return Err(DataError::SchemaFile {
                    file: origin.to_string(),
                    message: format!(
                        "derived column \"{}\": unknown op \"{other}\" (known: seconds_between, age, hour_of_day, day_of_week, at_most, count_by_key)",
                        self.name
                    ),
                });
            }
        })
    }
}

/// A keyword argument of a `--derive` flag (`days`, `cyclic`, `scored`) as its enum.
fn word<T: serde::de::DeserializeOwned>(
    flag: &str,
    arg: Option<String>,
) -> std::result::Result<Option<T>, String> {
    arg.map(|w| serde_json::from_value(serde_json::Value::String(w)))
        .transpose()
        .map_err(|e| format!("--derive \"{flag}\": {e}"))
}

impl Derived {
    /// The columns this derivation appends, with their kinds.
    pub fn outputs(&self) -> Vec<(String, ColumnKind)> {
        match &self.op {
            DerivedOp::HourOfDay { encoding, .. } | DerivedOp::DayOfWeek { encoding, .. } => {
                match encoding {
                    CycleEncoding::Category => vec![(self.name.clone(), ColumnKind::Categorical)],
                    CycleEncoding::Cyclic => vec![
                        (format!("{}_sin", self.name), ColumnKind::Numeric),
                        (format!("{}_cos", self.name), ColumnKind::Numeric),
                    ],
                }
            }
            DerivedOp::AtMost { .. } => vec![(self.name.clone(), ColumnKind::Boolean)],
            _ => vec![(self.name.clone(), ColumnKind::Numeric)],
        }
    }

    /// The columns it reads.
    fn inputs(&self) -> Vec<&str> {
        match &self.op {
            DerivedOp::SecondsBetween { from, to } => vec![from, to],
            DerivedOp::Age { of, at, .. } => vec![of, at],
            DerivedOp::HourOfDay { of, .. }
            | DerivedOp::DayOfWeek { of, .. }
            | DerivedOp::AtMost { of, .. } => vec![of],
            DerivedOp::CountByKey { key, .. } => vec![key],
        }
    }

    /// Whether its values depend on the whole file being scored (the `scored` count).
    pub fn needs_whole_file(&self) -> bool {
        matches!(
            self.op,
            DerivedOp::CountByKey {
                scope: CountScope::Scored,
                ..
            }
        )
    }
}

/// Whether a table is the training file (entity counts fitted on it) or a file scored later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Training,
    Scoring,
}

/// Whether every non-missing cell of a column is ISO-8601 (and there is at least one): the
/// inference rule for datetime columns.
pub(crate) fn looks_iso(cells: &[String], spec: &ColumnSchema) -> bool {
    let mut present = 0usize;
    for text in cells {
        if is_missing_token(text) || spec.is_sentinel(text) {
            continue;
        }
        if DatetimeFormat::Iso.parse(text).is_none() {
            return false;
        }
        present += 1;
    }
    present > 0
}

/// Adds the derived columns of `overrides` to an inferred `schema` of `raw` (the training
/// file): checks the declarations, fits the training-scope counts on `raw`, appends each
/// output column (kind from the op, `log1p`/`drop` from the overrides).
pub(crate) fn infer_derived(
    raw: &RawTable,
    schema: &mut Schema,
    overrides: &SchemaOverrides,
) -> Result<()> {
    for spec in &overrides.derived {
        let mut derived = Derived {
            name: spec.name.clone(),
            op: spec.op(&overrides.origin)?,
        };
        let known: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
        for input in derived.inputs() {
            if !known.iter().any(|k| k == input) {
                return Err(DataError::UnknownSchemaColumn {
                    origin: overrides.origin.clone(),
                    column: input.to_string(),
                    file: raw.file().to_string(),
                    available: Names(known),
                });
            }
        }
        if let DerivedOp::CountByKey {
            key,
            scope: CountScope::Training,
            counts,
        } = &mut derived.op
        {
            let j = raw.header().iter().position(|h| h == key);
            let Some(j) = j else {
                return Err(DataError::InvalidSchema {
                    column: derived.name.clone(),
                    message: format!("the key \"{key}\" must be a column of the file"),
                });
            };
            *counts = count_keys(raw.column(j));
        }
        for (name, kind) in derived.outputs() {
            if known.contains(&name) {
                return Err(DataError::InvalidSchema {
                    column: name,
                    message: "a derived column cannot take the name of another column".into(),
                });
            }
            let mut column = ColumnSchema::new(&name, kind);
            column.source = KindSource::Declared;
            if let Some(o) = overrides.columns.get(&name) {
                column.log1p = o.log1p.unwrap_or(false);
                column.drop = o.drop.unwrap_or(false);
                column.missing = o.missing.clone();
            }
            schema.columns.push(column);
        }
        schema.derived.push(derived);
    }
    Ok(())
}

/// (D16) Rows per non-missing key.
fn count_keys(cells: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for c in cells.iter().filter(|c| !is_missing_token(c)) {
        *counts.entry(c.clone()).or_insert(0) += 1;
    }
    counts
}

/// The header a file has once `schema`'s derived columns are appended.
pub(crate) fn extended_header(header: &[String], schema: &Schema) -> Vec<String> {
    let mut out = header.to_vec();
    for d in &schema.derived {
        out.extend(d.outputs().into_iter().map(|(n, _)| n));
    }
    out
}

/// A number as a cell: shortest text that reads back to the same `f64`; NaN → missing.
fn cell(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        format!("{x}")
    }
}

/// Whether [`apply`] leaves a file with this `header` as it is: `schema` derives no column
/// and reads no datetime column of it. A reader may then parse the file's cells as they
/// come, without holding them as text first.
pub(crate) fn changes_nothing(header: &[String], schema: &Schema) -> bool {
    schema.derived.is_empty()
        && !schema
            .columns
            .iter()
            .any(|c| c.datetime.is_some() && header.contains(&c.name))
}

/// `raw` with its datetime columns read as Unix seconds (D11) and `schema`'s derived columns
/// appended (D12–D16). Borrowed unchanged when the schema has neither.
///
/// # Errors
/// [`DataError::BadDatetime`] naming the file, line and column of a cell that is not a
/// datetime of its column's format; [`DataError::MissingColumn`] for an input column the
/// file lacks; [`DataError::BadValue`] for a non-number read by `at_most`.
pub(crate) fn apply<'r>(
    raw: &'r RawTable,
    schema: &Schema,
    role: Role,
) -> Result<Cow<'r, RawTable>> {
    if changes_nothing(raw.header(), schema) {
        return Ok(Cow::Borrowed(raw));
    }
    let datetimes: Vec<&ColumnSchema> = schema
        .columns
        .iter()
        .filter(|c| c.datetime.is_some() && raw.header().contains(&c.name))
        .collect();
    let mut header = raw.header().to_vec();
    let mut columns: Vec<Vec<String>> = (0..header.len()).map(|j| raw.column(j).to_vec()).collect();
    // Numeric values by column name, for the derivations.
    let mut numbers: HashMap<String, Vec<f64>> = HashMap::new();
    for spec in datetimes {
        let Some(format) = &spec.datetime else {
            continue;
        };
        let Some(j) = header.iter().position(|h| *h == spec.name) else {
            continue;
        };
        let mut values = Vec::with_capacity(raw.n_rows());
        for (i, text) in raw.column(j).iter().enumerate() {
            if is_missing_token(text) || spec.is_sentinel(text) {
                values.push(f64::NAN);
                continue;
            }
            let t = format.parse(text).ok_or_else(|| DataError::BadDatetime {
                file: raw.file().to_string(),
                line: raw.lines()[i],
                column: j + 1,
                name: spec.name.clone(),
                text: text.clone(),
                format: format.describe(),
            })?;
            values.push(t);
        }
        columns[j] = values.iter().map(|&t| cell(t)).collect();
        numbers.insert(spec.name.clone(), values);
    }
    for d in &schema.derived {
        let values = derive(raw, &header, &columns, &mut numbers, d, role)?;
        for ((name, _), v) in d.outputs().into_iter().zip(values) {
            header.push(name);
            columns.push(v);
        }
    }
    Ok(Cow::Owned(raw.with_columns(header, columns)))
}

/// The numeric values of column `name` (datetime or derived ones from `numbers`, else its
/// cells parsed).
fn numeric<'a>(
    raw: &RawTable,
    header: &[String],
    columns: &[Vec<String>],
    numbers: &'a mut HashMap<String, Vec<f64>>,
    name: &str,
) -> Result<&'a [f64]> {
    if !numbers.contains_key(name) {
        let j = column_index(raw, header, name)?;
        let mut values = Vec::with_capacity(raw.n_rows());
        for (i, text) in columns[j].iter().enumerate() {
            if is_missing_token(text) {
                values.push(f64::NAN);
                continue;
            }
            values.push(text.parse::<f64>().map_err(|_| DataError::BadValue {
                file: raw.file().to_string(),
                line: raw.lines()[i],
                column: j + 1,
                name: name.to_string(),
                text: text.clone(),
                problem: super::error::ValueProblem::NotNumeric,
            })?);
        }
        numbers.insert(name.to_string(), values);
    }
    Ok(numbers.get(name).map_or(&[], Vec::as_slice))
}

fn column_index(raw: &RawTable, header: &[String], name: &str) -> Result<usize> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| DataError::MissingColumn {
            file: raw.file().to_string(),
            column: name.to_string(),
            available: Names(raw.header().to_vec()),
        })
}

/// The output columns of one derivation, as cells (D12–D16).
fn derive(
    raw: &RawTable,
    header: &[String],
    columns: &[Vec<String>],
    numbers: &mut HashMap<String, Vec<f64>>,
    d: &Derived,
    role: Role,
) -> Result<Vec<Vec<String>>> {
    let mut difference = |from: &str, to: &str, unit: f64| -> Result<Vec<f64>> {
        let a = numeric(raw, header, columns, numbers, from)?.to_vec();
        let b = numeric(raw, header, columns, numbers, to)?;
        Ok(a.iter().zip(b).map(|(a, b)| (b - a) / unit).collect())
    };
    let out: Vec<Vec<f64>> = match &d.op {
        DerivedOp::SecondsBetween { from, to } => vec![difference(from, to, 1.0)?],
        DerivedOp::Age { of, at, unit } => vec![difference(of, at, unit.seconds())?],
        DerivedOp::HourOfDay { of, encoding } | DerivedOp::DayOfWeek { of, encoding } => {
            let (period, f): (f64, fn(f64) -> u32) = match d.op {
                DerivedOp::HourOfDay { .. } => (24.0, hour_of_day),
                _ => (7.0, day_of_week),
            };
            let t = numeric(raw, header, columns, numbers, of)?;
            let k: Vec<f64> = t
                .iter()
                .map(|&t| {
                    if t.is_nan() {
                        f64::NAN
                    } else {
                        f64::from(f(t))
                    }
                })
                .collect();
            match encoding {
                CycleEncoding::Category => {
                    return Ok(vec![k.iter().map(|&k| cell(k)).collect()]);
                }
                // (D14) (sin 2πk/P, cos 2πk/P).
                CycleEncoding::Cyclic => {
                    let angle = |k: f64| 2.0 * std::f64::consts::PI * k / period;
                    vec![
                        k.iter().map(|&k| angle(k).sin()).collect(),
                        k.iter().map(|&k| angle(k).cos()).collect(),
                    ]
                }
            }
        }
        DerivedOp::AtMost { of, value } => {
            let x = numeric(raw, header, columns, numbers, of)?;
            let flags = x.iter().map(|&x| {
                if x.is_nan() {
                    String::new()
                } else {
                    String::from(if x <= *value { "1" } else { "0" })
                }
            });
            return Ok(vec![flags.collect()]);
        }
        DerivedOp::CountByKey { key, scope, counts } => {
            let keys = &columns[column_index(raw, header, key)?];
            vec![entity_counts(keys, *scope, counts, role)]
        }
    };
    for ((name, _), v) in d.outputs().into_iter().zip(&out) {
        numbers.insert(name, v.clone());
    }
    Ok(out
        .into_iter()
        .map(|v| v.iter().map(|&x| cell(x)).collect())
        .collect())
}

/// (D16) The entity count of each row: with `Training` scope, the stored training count of
/// its key — plus one for the row itself when it is scored (an unseen key: 0 + 1 = 1);
/// with `Scored` scope, the rows of `keys` with its key. A missing key has no count (NaN).
pub fn entity_counts(
    keys: &[String],
    scope: CountScope,
    counts: &BTreeMap<String, u64>,
    role: Role,
) -> Vec<f64> {
    let local;
    let (table, itself) = match (scope, role) {
        (CountScope::Training, Role::Training) => (counts, 0),
        (CountScope::Training, Role::Scoring) => (counts, 1),
        (CountScope::Scored, _) => {
            local = count_keys(keys);
            (&local, 0)
        }
    };
    keys.iter()
        .map(|k| {
            if is_missing_token(k) {
                f64::NAN
            } else {
                (table.get(k).copied().unwrap_or(0) + itself) as f64
            }
        })
        .collect()
}
