//! Fairness of a model by the groups of one or more CSV columns (notes/fairness.md). The
//! groups are a column's raw CSV values — any column of the file, used by the model or not;
//! the scores are the model's probabilities, computed as the model bundle computes them (R1:
//! each f32 network's logit, σ in f64, the mean over the members); the metrics and gaps per
//! group are the fairness equations F1–F8 of [`glassbox_train::metrics::fairness`].
//! `glassbox evaluate --by` calls [`fairness_by_columns`]; the report's text, Markdown and
//! plot are the app's.

use std::path::Path;

use glassbox_core::Mlp;
use glassbox_data::{Names, Preprocessor, RawTable, ReadOptions, Table};
use glassbox_train::metrics::ensemble::ensemble_probabilities;
use glassbox_train::metrics::fairness::{FairnessConfig, FairnessReport, fairness_by_group};

use crate::{AuditError, check_model_fits};

/// A column with more distinct values than this is refused by [`group_labels`]: it is not a
/// grouping (a numeric measurement, an identifier).
pub const MAX_GROUPS: usize = 50;

/// The label of a group whose cell is empty.
pub const EMPTY_GROUP: &str = "(empty)";

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

/// The fairness reports of `members` (a model bundle's f32 networks, fitted with `pre`) on
/// the labelled rows of `raw`, one per column of `columns`, at `config`'s threshold. Every
/// column is checked against the file's header before any row is scored; no columns give no
/// reports.
///
/// # Errors
/// [`AuditError::Model`] if a member does not read the preprocessor's features,
/// [`AuditError::UnknownColumn`] (listing the file's columns) or
/// [`AuditError::InvalidOption`] (too many distinct values) for a column, the data layer's
/// errors (a column the model needs is absent, no target column, …), and those of
/// [`fairness_by_group`].
pub fn fairness_by_columns(
    members: &[Mlp<f32>],
    pre: &Preprocessor,
    raw: &RawTable,
    columns: &[String],
    config: &FairnessConfig,
) -> Result<Vec<FairnessReport>, AuditError> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let first = members
        .first()
        .ok_or_else(|| AuditError::Model("the model has no networks".into()))?;
    for m in members {
        check_model_fits(m, pre)?;
    }
    let groups = columns
        .iter()
        .map(|column| group_labels(raw, column))
        .collect::<Result<Vec<_>, _>>()?;
    let table = Table::from_raw(raw, pre.schema())?;
    let (x, y) = pre.transform(&table)?;
    let labels: Vec<bool> = y.iter().map(|&v| v > 0.5).collect();
    // The bundle's members share one architecture, hence one workspace.
    let scores = ensemble_probabilities(members, x.view(), &mut [first.workspace(x.nrows())]);
    let mut reports = Vec::with_capacity(columns.len());
    for (column, groups) in columns.iter().zip(&groups) {
        let mut report = fairness_by_group(column, groups, &labels, &scores, config)?;
        report.source = table.file().to_string();
        reports.push(report);
    }
    Ok(reports)
}

/// Reads `path` and evaluates the groups of `column` ([`fairness_by_columns`] on one
/// column).
///
/// # Errors
/// The file's read errors, and those of [`fairness_by_columns`].
pub fn fairness_csv(
    members: &[Mlp<f32>],
    pre: &Preprocessor,
    path: &Path,
    options: &ReadOptions,
    column: &str,
    config: &FairnessConfig,
) -> Result<FairnessReport, AuditError> {
    let raw = RawTable::read(path, options)?;
    let mut reports = fairness_by_columns(members, pre, &raw, &[column.to_string()], config)?;
    reports
        .pop()
        .ok_or_else(|| AuditError::Internal("one column gave no report".into()))
}
