//! Reading a cell, and inferring each column's kind from its cells (notes/data.md §2).
//!
//! A cell (already trimmed) is, in this order (D1):
//! 1. **missing** if it is a missing token ([`is_missing_token`]: empty, `NA`, `NaN` in any
//!    case) or one of the column's declared sentinels;
//! 2. otherwise a value of the column's kind.
//!
//! Inference looks at the non-missing cells of a column:
//! - all are boolean spellings ([`parse_bool`]) → [`ColumnKind::Boolean`];
//! - else all parse as `f64` (Rust's grammar: `12`, `-0.5`, `1e3`, also `inf`) →
//!   [`ColumnKind::Numeric`] (an infinite value is then an error when the table is parsed);
//! - else → [`ColumnKind::Categorical`].
//!
//! A column with no non-missing cell is inferred categorical, with a warning; fitting then
//! fails on it unless it is dropped. So `0`/`1` columns are boolean, and integer-coded
//! categories (OperatingSystems…) are numeric unless declared categorical.

use std::collections::HashSet;

use super::datetime::DatetimeFormat;
use super::derived::{infer_derived, looks_iso};
use super::error::{DataError, Names, Result};
use super::read::RawTable;
use super::schema::{ColumnKind, ColumnSchema, KindSource, Schema, SchemaOverrides};

/// (D1) Whether a trimmed cell is a universal missing token: empty, `NA` or `NaN` (ASCII case
/// ignored). Any other spelling that Rust parses as NaN (`-nan`) is also read as missing in
/// numeric columns.
pub fn is_missing_token(text: &str) -> bool {
    text.is_empty() || text.eq_ignore_ascii_case("na") || text.eq_ignore_ascii_case("nan")
}

/// Parses a boolean spelling: `true`/`false`, `yes`/`no`, `1`/`0`, ASCII case ignored.
pub fn parse_bool(text: &str) -> Option<bool> {
    const TRUE: [&str; 3] = ["true", "yes", "1"];
    const FALSE: [&str; 3] = ["false", "no", "0"];
    if TRUE.iter().any(|t| text.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|t| text.eq_ignore_ascii_case(t)) {
        Some(false)
    } else {
        None
    }
}

/// A column is flagged as identifier-like when it is categorical with more than this many
/// distinct values and more distinct values than half its rows.
const IDENTIFIER_MIN_LEVELS: usize = 100;

/// A categorical column is flagged as "mostly numeric" when at least this fraction of its
/// non-missing cells are numbers.
const MOSTLY_NUMERIC: f64 = 0.9;

impl Schema {
    /// Infers every column's kind from `raw` and applies `overrides` (notes/data.md §2).
    ///
    /// Errors: [`DataError::UnknownSchemaColumn`] if an override names a column that `raw`
    /// does not have; [`DataError::InvalidSchema`] for a setting that does not fit the
    /// column's kind (log1p on a non-numeric column).
    pub fn infer(raw: &RawTable, overrides: &SchemaOverrides) -> Result<Schema> {
        // Overrides may also name derived columns (`NAME`, or `NAME_sin`/`NAME_cos`).
        let derived = |name: &str| {
            overrides.derived.iter().any(|d| {
                [String::new(), "_sin".into(), "_cos".into()]
                    .iter()
                    .any(|s| format!("{}{s}", d.name) == name)
            })
        };
        for (name, o) in &overrides.columns {
            if !raw.header().iter().any(|h| h == name) && !derived(name) {
                return Err(DataError::UnknownSchemaColumn {
                    origin: o.origin.clone(),
                    column: name.clone(),
                    file: raw.file().to_string(),
                    available: Names(raw.header().to_vec()),
                });
            }
        }
        let mut columns = Vec::with_capacity(raw.header().len());
        let mut warnings = Vec::new();
        for (j, name) in raw.header().iter().enumerate() {
            let o = overrides.columns.get(name);
            let mut spec = ColumnSchema::new(name, ColumnKind::Categorical);
            if let Some(o) = o {
                spec.missing = o.missing.clone();
                spec.log1p = o.log1p.unwrap_or(false);
                spec.drop = o.drop.unwrap_or(false);
            }
            match (
                o.and_then(|o| o.kind),
                o.and_then(|o| o.datetime.as_deref()),
            ) {
                (kind, Some(format)) => {
                    spec.kind = kind.unwrap_or(ColumnKind::Numeric);
                    spec.datetime = Some(if format.eq_ignore_ascii_case("iso") {
                        DatetimeFormat::Iso
                    } else {
                        DatetimeFormat::pattern(format).map_err(|message| {
                            DataError::InvalidSchema {
                                column: name.clone(),
                                message,
                            }
                        })?
                    });
                }
                (Some(kind), None) => spec.kind = kind,
                (None, None) => {
                    spec.source = KindSource::Inferred;
                    if looks_iso(raw.column(j), &spec) {
                        spec.kind = ColumnKind::Numeric;
                        spec.datetime = Some(DatetimeFormat::Iso);
                    } else {
                        spec.kind = infer_kind(raw, j, &spec, &mut warnings);
                    }
                }
            }
            columns.push(spec);
        }
        let mut schema = Schema {
            columns,
            warnings,
            derived: Vec::new(),
        };
        infer_derived(raw, &mut schema, overrides)?;
        schema.validate()?;
        Ok(schema)
    }
}

/// Infers the kind of column `j`; pushes warnings about suspicious columns.
fn infer_kind(
    raw: &RawTable,
    j: usize,
    spec: &ColumnSchema,
    warnings: &mut Vec<String>,
) -> ColumnKind {
    let cells = raw.column(j);
    let mut present = 0usize;
    let mut all_bool = true;
    let mut numbers = 0usize;
    let mut first_text: Option<(u64, &str)> = None;
    for (i, text) in cells.iter().enumerate() {
        if is_missing_token(text) || spec.is_sentinel(text) {
            continue;
        }
        present += 1;
        all_bool &= parse_bool(text).is_some();
        if text.parse::<f64>().is_ok() {
            numbers += 1;
        } else if first_text.is_none() {
            first_text = Some((raw.lines()[i], text.as_str()));
        }
    }
    let name = &spec.name;
    if present == 0 {
        warnings.push(format!(
            "column \"{name}\": every value is missing; read as categorical (drop it with drop = true)"
        ));
        return ColumnKind::Categorical;
    }
    if all_bool {
        return ColumnKind::Boolean;
    }
    if numbers == present {
        return ColumnKind::Numeric;
    }
    if let Some((line, text)) = first_text
        && numbers as f64 >= MOSTLY_NUMERIC * present as f64
    {
        warnings.push(format!(
            "column \"{name}\": {numbers} of {present} values are numbers but not all (first \
             other: \"{text}\" on line {line}); read as categorical — declare kind = \"numeric\" \
             to make that an error instead"
        ));
    }
    if !spec.drop {
        let distinct: HashSet<&str> = cells.iter().map(String::as_str).collect();
        if distinct.len() > IDENTIFIER_MIN_LEVELS && 2 * distinct.len() > cells.len() {
            warnings.push(format!(
                "column \"{name}\": {} distinct values in {} rows, like an identifier; consider \
                 drop = true",
                distinct.len(),
                cells.len()
            ));
        }
    }
    ColumnKind::Categorical
}
