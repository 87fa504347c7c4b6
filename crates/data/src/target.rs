//! The binary target: which column, which class is positive, and the 0/1 labels
//! (notes/data.md §5, equation (D9)).
//!
//! Labels are compared as *label keys*, the canonical text of a target cell: `true`/`false`
//! for a boolean column (so `TRUE`, `yes` and `1` are one class), the number's shortest
//! decimal form for a numeric column (`1.0` → `1`), the text itself for a categorical one.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use ndarray::Array1;
use serde::{Deserialize, Serialize};

use super::error::{DataError, Names, Result};
use super::infer::parse_bool;
use super::table::{Column, ColumnData, Table, Value};

/// What the caller asks for: the target column, and optionally its positive label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    /// The target column's header name.
    pub column: String,
    /// The positive class as written in the data (or any boolean spelling of it for a
    /// boolean column). `None` infers it: of two classes, the one spelled `true`, `yes` or
    /// `1` (any case), if exactly one is.
    pub positive: Option<String>,
}

impl TargetSpec {
    /// The target `column`, positive label inferred.
    pub fn new(column: &str) -> Self {
        Self {
            column: column.to_string(),
            positive: None,
        }
    }

    /// The same target with an explicit positive label.
    pub fn with_positive(mut self, label: &str) -> Self {
        self.positive = Some(label.to_string());
        self
    }
}

/// A resolved binary target: its column and the label keys of both classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub column: String,
    /// Label key of the positive class (label 1).
    pub positive: String,
    /// Label key of the negative class (label 0).
    pub negative: String,
    /// `[positive, negative]` as the training file writes them, when that differs from the
    /// keys (a boolean column's `yes`/`no` or `TRUE`/`FALSE`); outputs such as predicted
    /// labels use it. Absent in bundles written before it existed: the keys are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<[String; 2]>,
}

/// Class counts of a target in one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassBalance {
    pub target: String,
    pub positive: String,
    pub negative: String,
    pub positive_count: usize,
    pub negative_count: usize,
    /// `positive_count / (positive_count + negative_count)`.
    pub positive_rate: f64,
}

/// The label key of a non-missing cell.
fn key_of(value: Value<'_>) -> Option<String> {
    match value {
        Value::Missing => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(x) => Some(x.to_string()),
        Value::Text(t) => Some(t.to_string()),
    }
}

/// Label keys of every row of `column` (a column of `table`), borrowing categorical text.
fn keys<'c>(table: &Table, column: &'c Column) -> Result<Vec<Cow<'c, str>>> {
    let mut out = Vec::with_capacity(column.len());
    for i in 0..column.len() {
        let key = match column.value(i) {
            Value::Text(t) => Some(Cow::Borrowed(t)),
            v => key_of(v).map(Cow::Owned),
        };
        out.push(key.ok_or_else(|| DataError::MissingLabel {
            file: table.file().to_string(),
            line: table.lines()[i],
            column: column.position(),
            target: column.name().to_string(),
        })?);
    }
    Ok(out)
}

fn target_column<'t>(table: &'t Table, column: &str) -> Result<&'t Column> {
    table
        .column(column)
        .ok_or_else(|| DataError::MissingTarget {
            file: table.file().to_string(),
            target: column.to_string(),
            available: Names(table.column_names()),
        })
}

impl Target {
    /// Resolves `spec` against the training table: the column must exist, hold no missing
    /// value, and have exactly two classes; the positive label must be one of them (or be
    /// inferable).
    ///
    /// Errors: [`DataError::MissingTarget`], [`DataError::MissingLabel`],
    /// [`DataError::SingleClass`], [`DataError::TargetNotBinary`],
    /// [`DataError::PositiveLabelRequired`], [`DataError::UnknownPositiveLabel`].
    pub fn resolve(table: &Table, spec: &TargetSpec) -> Result<Target> {
        let column = target_column(table, &spec.column)?;
        let file = table.file();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for key in keys(table, column)? {
            *counts.entry(key.into_owned()).or_insert(0) += 1;
        }
        let classes: Vec<String> = counts.keys().cloned().collect();
        if classes.len() == 1 {
            return Err(DataError::SingleClass {
                file: file.to_string(),
                target: spec.column.clone(),
                class: classes[0].clone(),
                count: counts[&classes[0]],
            });
        }
        if classes.len() > 2 {
            return Err(DataError::TargetNotBinary {
                file: file.to_string(),
                target: spec.column.clone(),
                classes: Names(classes),
            });
        }
        let positive = match &spec.positive {
            Some(label) => {
                let wanted = canonical(column, label);
                let found = classes.iter().find(|c| **c == wanted).or_else(|| {
                    let mut ci = classes.iter().filter(|c| c.eq_ignore_ascii_case(&wanted));
                    let first = ci.next();
                    if ci.next().is_some() { None } else { first }
                });
                found
                    .ok_or_else(|| DataError::UnknownPositiveLabel {
                        file: file.to_string(),
                        target: spec.column.clone(),
                        label: label.clone(),
                        values: Names(classes.clone()),
                    })?
                    .clone()
            }
            None => {
                let truthy: Vec<&String> = classes
                    .iter()
                    .filter(|c| parse_bool(c) == Some(true))
                    .collect();
                if truthy.len() != 1 {
                    return Err(DataError::PositiveLabelRequired {
                        file: file.to_string(),
                        target: spec.column.clone(),
                        values: Names(classes.clone()),
                    });
                }
                truthy[0].clone()
            }
        };
        let negative = classes
            .iter()
            .find(|c| **c != positive)
            .cloned()
            .unwrap_or_default();
        let written = match (parse_bool(&positive), parse_bool(&negative)) {
            (Some(p), Some(n)) => column
                .spelling(p)
                .zip(column.spelling(n))
                .filter(|&(ps, ns)| ps != positive || ns != negative)
                .map(|(ps, ns)| [ps.to_string(), ns.to_string()]),
            _ => None,
        };
        Ok(Target {
            column: spec.column.clone(),
            positive,
            negative,
            written,
        })
    }

    /// The positive class as the training file writes it (`yes`, `TRUE`, `1`…).
    pub fn positive_written(&self) -> &str {
        self.written.as_ref().map_or(&self.positive, |w| &w[0])
    }

    /// The negative class as the training file writes it.
    pub fn negative_written(&self) -> &str {
        self.written.as_ref().map_or(&self.negative, |w| &w[1])
    }

    /// The labels of `table`, (N,): 1.0 for the positive class, 0.0 for the negative.
    ///
    /// Errors: [`DataError::MissingTarget`], [`DataError::MissingLabel`],
    /// [`DataError::UnknownLabel`] for a value that is neither class.
    pub fn labels(&self, table: &Table) -> Result<Array1<f32>> {
        let column = target_column(table, &self.column)?;
        let file = table.file();
        let mut y = Array1::zeros(table.n_rows());
        let mut level_class: HashMap<&str, f32> = HashMap::new();
        for i in 0..column.len() {
            let value = column.value(i);
            let class = match value {
                Value::Missing => {
                    return Err(DataError::MissingLabel {
                        file: file.to_string(),
                        line: table.lines()[i],
                        column: column.position(),
                        target: self.column.clone(),
                    });
                }
                Value::Text(t) if level_class.contains_key(t) => level_class[t],
                _ => {
                    let key = key_of(value).unwrap_or_default();
                    let class = if key == self.positive {
                        1.0
                    } else if key == self.negative {
                        0.0
                    } else {
                        return Err(DataError::UnknownLabel {
                            file: file.to_string(),
                            line: table.lines()[i],
                            column: column.position(),
                            target: self.column.clone(),
                            value: key,
                            classes: Names(vec![self.positive.clone(), self.negative.clone()]),
                        });
                    };
                    if let Value::Text(t) = value {
                        level_class.insert(t, class);
                    }
                    class
                }
            };
            y[i] = class;
        }
        Ok(y)
    }

    /// Class counts of `table` (errors as [`Target::labels`]).
    pub fn class_balance(&self, table: &Table) -> Result<ClassBalance> {
        let y = self.labels(table)?;
        let positive_count = y.iter().filter(|&&v| v == 1.0).count();
        let negative_count = y.len() - positive_count;
        Ok(ClassBalance {
            target: self.column.clone(),
            positive: self.positive.clone(),
            negative: self.negative.clone(),
            positive_count,
            negative_count,
            positive_rate: positive_count as f64 / y.len().max(1) as f64,
        })
    }
}

/// The label key a user-given label stands for in `column`.
fn canonical(column: &Column, label: &str) -> String {
    let label = label.trim();
    match column.data() {
        ColumnData::Boolean(_) => parse_bool(label).map_or(label.to_string(), |b| b.to_string()),
        ColumnData::Numeric(_) => label
            .parse::<f64>()
            .map_or(label.to_string(), |x| x.to_string()),
        ColumnData::Categorical { .. } => label.to_string(),
    }
}
