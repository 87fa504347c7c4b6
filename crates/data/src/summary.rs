//! The data section of a run report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::features::Preprocessor;
use super::schema::{ColumnKind, KindSource};
use super::table::{ColumnData, DuplicateStats, MissingCount, Table};
use super::target::ClassBalance;

/// One column in a [`DataSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    pub name: String,
    pub kind: ColumnKind,
    /// Inferred from the data or declared by the schema.
    pub kind_source: KindSource,
    /// Missing cells (all of them, and those that matched a declared sentinel).
    pub missing: MissingCount,
    /// Distinct non-missing levels in this table (categorical columns only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub levels: Option<usize>,
    pub log1p: bool,
    /// Whether this is the target column.
    pub target: bool,
}

/// What a data file held: rows, columns and their kinds, missing values, exact
/// duplicates, class balance and categories unseen in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub file: String,
    pub rows: usize,
    /// The kept columns, in schema order.
    pub columns: Vec<ColumnSummary>,
    /// File columns that the schema did not name (not read).
    pub ignored_columns: Vec<String>,
    pub duplicates: DuplicateStats,
    /// Present when a preprocessor is given and the table holds its target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_balance: Option<ClassBalance>,
    /// Categorical column → cells with a level unseen in training (empty without a
    /// preprocessor).
    pub unknown_categories: BTreeMap<String, usize>,
}

impl DataSummary {
    /// Summarises `table`; with a fitted `preprocessor`, adds the class balance (if the
    /// target column is present) and unknown-category counts.
    ///
    /// Errors: with a preprocessor, those of [`Preprocessor::encode`] (an unknown label…).
    pub fn new(table: &Table, preprocessor: Option<&Preprocessor>) -> Result<DataSummary> {
        match preprocessor {
            Some(p) => {
                let unknown = p.encode(table, false)?.unknown;
                DataSummary::with_unknown(table, Some(p), unknown)
            }
            None => DataSummary::with_unknown(table, None, BTreeMap::new()),
        }
    }

    /// [`DataSummary::new`] with the unknown-category counts already known — the sum of
    /// [`Preprocessor::encode`]'s `unknown` over parts that cover `table`'s rows once (the
    /// training pipeline encodes its training and validation parts anyway; a third encode
    /// of the whole table only to count them cost as much as one of those).
    ///
    /// Errors: with a preprocessor whose target is in `table`, those of
    /// [`crate::Target::class_balance`].
    pub fn with_unknown(
        table: &Table,
        preprocessor: Option<&Preprocessor>,
        unknown_categories: BTreeMap<String, usize>,
    ) -> Result<DataSummary> {
        let target = preprocessor.map(|p| p.target().column.as_str());
        let columns = table
            .columns()
            .iter()
            .map(|c| ColumnSummary {
                name: c.name().to_string(),
                kind: c.kind(),
                kind_source: c.schema().source,
                missing: c.missing(),
                levels: match c.data() {
                    ColumnData::Categorical { levels, codes } => {
                        let mut used = vec![false; levels.len()];
                        for code in codes.iter().flatten() {
                            used[*code as usize] = true;
                        }
                        Some(used.iter().filter(|&&u| u).count())
                    }
                    _ => None,
                },
                log1p: c.schema().log1p,
                target: Some(c.name()) == target,
            })
            .collect();
        let class_balance = match preprocessor {
            Some(p) if table.column(&p.target().column).is_some() => {
                Some(p.target().class_balance(table)?)
            }
            _ => None,
        };
        Ok(DataSummary {
            file: table.file().to_string(),
            rows: table.n_rows(),
            columns,
            ignored_columns: table.ignored_columns().to_vec(),
            duplicates: table.duplicates(),
            class_balance,
            unknown_categories,
        })
    }
}
