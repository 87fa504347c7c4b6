//! The one error type of the data layer.
//!
//! Every message names the file it is about and, where it applies, the line (1-based,
//! the header is line 1, a quoted field spanning several lines is reported at the line
//! where its record starts) and the column (1-based field number and its header name).

use std::fmt;

/// A list of names, displayed as `"a", "b", "c"` in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "\"{name}\"")?;
        }
        Ok(())
    }
}

/// What is wrong with a cell in [`DataError::BadValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    /// Not a number, in a numeric column.
    NotNumeric,
    /// `inf`, `-infinity`, `1e999`… in a numeric column: rejected, not read as missing.
    Infinite,
    /// Not a boolean spelling, in a boolean column.
    NotBoolean,
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueProblem::NotNumeric => "is not a number, but the column is numeric",
            ValueProblem::Infinite => {
                "is infinite; infinite values are rejected (write an empty field, NA or NaN for a missing value)"
            }
            ValueProblem::NotBoolean => {
                "is not a boolean (true/false, yes/no, 1/0, any case), but the column is boolean"
            }
        })
    }
}

/// ` ("name")`, or nothing for an empty name (a header cell that is not UTF-8).
fn quoted_name(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" (\"{name}\")")
    }
}

/// Everything that can go wrong between a CSV file and a feature matrix.
///
/// `file` is the path as given by the caller (or the origin name of an in-memory
/// source); `line` counts the header as line 1; `column` is the 1-based field number in
/// the file and `name` its header name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read (missing file, permission, I/O failure).
    #[error("{file}: cannot read the file: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Zero bytes, or nothing but a byte-order mark and blank lines.
    #[error("{file}: the file is empty (expected a header line naming the columns)")]
    Empty { file: String },
    /// A header and no data rows.
    #[error("{file}: the file has a header (line 1) but no data rows")]
    NoDataRows { file: String },
    /// A row whose field count differs from the header's.
    #[error(
        "{file}, line {line}: expected {expected} fields (as many as the header has), found {found}"
    )]
    Ragged {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    /// A quoted field that is never closed.
    #[error("{file}, line {line}: a quoted field opened in this record is never closed")]
    UnterminatedQuote { file: String, line: u64 },
    /// A field longer than [`ReadOptions::max_field_bytes`](super::ReadOptions) (often a
    /// quote that is never closed, which takes in the lines after it).
    #[error(
        "{file}, line {line}, column {column}: the field is longer than {limit} bytes, the limit (a quote left open takes in the lines after it; raise ReadOptions::max_field_bytes for longer fields)"
    )]
    FieldTooLong {
        file: String,
        /// The line on which the record starts.
        line: u64,
        column: usize,
        limit: usize,
    },
    /// A record with more fields than [`ReadOptions::max_columns`](super::ReadOptions).
    #[error(
        "{file}, line {line}, column {}: more than {limit} columns, the limit (raise ReadOptions::max_columns for wider files)", .limit + 1
    )]
    TooManyColumns {
        file: String,
        line: u64,
        limit: usize,
    },
    /// A categorical column with more distinct values than
    /// [`ReadOptions::max_categories`](super::ReadOptions).
    #[error(
        "{file}, line {line}, column {column} (\"{name}\"): more than {limit} distinct values in a categorical column, the limit; a column with this many values is an identifier (drop it with drop = true) or needs ReadOptions::max_categories raised"
    )]
    TooManyCategories {
        file: String,
        /// The line of the first value beyond the limit.
        line: u64,
        column: usize,
        name: String,
        limit: usize,
    },
    /// A field that is not valid UTF-8.
    #[error("{file}, line {line}, column {column}{}: the field is not valid UTF-8", quoted_name(.name))]
    InvalidUtf8 {
        file: String,
        line: u64,
        column: usize,
        /// The column's header name (empty when the header itself is invalid).
        name: String,
    },
    /// A header name that is empty after trimming.
    #[error("{file}, line {line}, column {column}: the column has an empty name")]
    EmptyHeaderName {
        file: String,
        line: u64,
        column: usize,
    },
    /// Two header fields with the same name.
    #[error("{file}, line {line}: column {second} repeats the name \"{name}\" of column {first}")]
    DuplicateHeader {
        file: String,
        line: u64,
        name: String,
        first: usize,
        second: usize,
    },
    /// The delimiter given in [`ReadOptions`](super::ReadOptions) cannot be used.
    #[error(
        "delimiter {delimiter:?} cannot be used: it must be one ASCII byte other than a quote, CR or LF"
    )]
    BadDelimiter { delimiter: char },
    /// A cell that is not a value of its column's kind (text in a numeric column, `inf`,
    /// `maybe` in a boolean column).
    #[error("{file}, line {line}, column {column} (\"{name}\"): \"{text}\" {problem}")]
    BadValue {
        file: String,
        line: u64,
        column: usize,
        name: String,
        text: String,
        problem: ValueProblem,
    },
    /// A cell of a datetime column that is not a datetime of the column's format.
    #[error(
        "{file}, line {line}, column {column} (\"{name}\"): \"{text}\" is not a datetime of the column's format ({format})"
    )]
    BadDatetime {
        file: String,
        line: u64,
        column: usize,
        name: String,
        text: String,
        format: String,
    },
    /// A column the schema needs is absent from the file.
    #[error(
        "{file}: no column \"{column}\", which the schema needs; the file's columns are {available}"
    )]
    MissingColumn {
        file: String,
        column: String,
        available: Names,
    },
    /// The target column is not in the table.
    #[error("{file}: target column \"{target}\" not found; available columns: {available}")]
    MissingTarget {
        file: String,
        target: String,
        available: Names,
    },
    /// A row with no target value.
    #[error("{file}, line {line}, column {column} (\"{target}\"): the target value is missing")]
    MissingLabel {
        file: String,
        line: u64,
        column: usize,
        target: String,
    },
    /// The target has one class only.
    #[error(
        "{file}: target \"{target}\" has a single class, \"{class}\" (all {count} rows); a binary target needs two"
    )]
    SingleClass {
        file: String,
        target: String,
        class: String,
        count: usize,
    },
    /// The target has more than two classes.
    #[error("{file}: target \"{target}\" has {} classes ({classes}); a binary target needs exactly two", .classes.0.len())]
    TargetNotBinary {
        file: String,
        target: String,
        classes: Names,
    },
    /// The positive class could not be inferred and was not given.
    #[error(
        "{file}: cannot tell which class of target \"{target}\" is positive (its values are {values}); name the positive label"
    )]
    PositiveLabelRequired {
        file: String,
        target: String,
        values: Names,
    },
    /// The positive label given is not a value of the target.
    #[error(
        "{file}: positive label \"{label}\" is not a value of target \"{target}\"; its values are {values}"
    )]
    UnknownPositiveLabel {
        file: String,
        target: String,
        label: String,
        values: Names,
    },
    /// A target value at transform time that is neither class seen in training.
    #[error(
        "{file}, line {line}, column {column} (\"{target}\"): target value \"{value}\" is neither class seen in training (positive, negative: {classes})"
    )]
    UnknownLabel {
        file: String,
        line: u64,
        column: usize,
        target: String,
        value: String,
        /// The positive class, then the negative one.
        classes: Names,
    },
    /// A negative value in a column transformed by `log1p`.
    #[error(
        "{file}, line {line}, column {column} (\"{name}\"): log1p needs values >= 0, found {value}; declare it missing (missing = [{value}]) or turn log1p off"
    )]
    NegativeLog1p {
        file: String,
        line: u64,
        column: usize,
        name: String,
        value: f64,
    },
    /// A feature column with no observed value in the training data.
    #[error(
        "{file}: column \"{column}\" has no values in the training data (all {rows} are missing); drop it (drop = true)"
    )]
    NoObservedValues {
        file: String,
        column: String,
        rows: usize,
    },
    /// The schema file is not valid TOML or does not follow the schema format.
    #[error("{file}: invalid schema file: {message}")]
    SchemaFile { file: String, message: String },
    /// The schema overrides name a column that the data does not have.
    #[error("{origin}: column \"{column}\" is not in {file}; its columns are {available}")]
    UnknownSchemaColumn {
        origin: String,
        column: String,
        file: String,
        available: Names,
    },
    /// A schema setting that makes no sense for its column (log1p on text, …).
    #[error("schema for column \"{column}\": {message}")]
    InvalidSchema { column: String, message: String },
    /// A serialised preprocessor that cannot be read.
    #[error("{origin}: cannot read the preprocessor: {message}")]
    BadPreprocessor { origin: String, message: String },
    /// A table handed to the preprocessor does not match the schema it was fitted with.
    #[error("{file}: the table does not match the schema: {message}")]
    SchemaMismatch { file: String, message: String },
}

/// The data layer's result type.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
