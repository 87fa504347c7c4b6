//! Typed columns parsed with a known [`Schema`]: the [`Table`], and the [`ChunkReader`] that
//! reads a file of any size as a sequence of tables.
//!
//! Values are validated once, here: a numeric column holds finite numbers or missing, a
//! boolean column booleans or missing; every error names the file, the line and the column.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::derived::{Role, apply as apply_derived, changes_nothing, extended_header};
use super::error::{DataError, Names, Result, ValueProblem};
use super::infer::{is_missing_token, parse_bool};
use super::part::FilePart;
use super::read::{CsvSource, RawTable, ReadOptions};
use super::schema::{ColumnKind, ColumnSchema, Schema, SchemaOverrides};

/// The values of one column. Equality treats a missing value as equal to a missing value
/// (NaN to NaN in a numeric column).
#[derive(Debug, Clone)]
pub enum ColumnData {
    /// Finite numbers; a missing value is NaN.
    Numeric(Vec<f64>),
    /// A missing value is `None`.
    Boolean(Vec<Option<bool>>),
    /// `codes[i]` indexes `levels` (first-seen order in this table); `None` is missing.
    Categorical {
        levels: Vec<String>,
        codes: Vec<Option<u32>>,
    },
}

impl PartialEq for ColumnData {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ColumnData::Numeric(a), ColumnData::Numeric(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
            }
            (ColumnData::Boolean(a), ColumnData::Boolean(b)) => a == b,
            (
                ColumnData::Categorical { levels, codes },
                ColumnData::Categorical {
                    levels: l2,
                    codes: c2,
                },
            ) => levels == l2 && codes == c2,
            _ => false,
        }
    }
}

impl ColumnData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.len(),
            ColumnData::Boolean(v) => v.len(),
            ColumnData::Categorical { codes, .. } => codes.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind these values belong to.
    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnData::Numeric(_) => ColumnKind::Numeric,
            ColumnData::Boolean(_) => ColumnKind::Boolean,
            ColumnData::Categorical { .. } => ColumnKind::Categorical,
        }
    }

    fn select(&self, rows: &[usize]) -> ColumnData {
        match self {
            ColumnData::Numeric(v) => ColumnData::Numeric(rows.iter().map(|&i| v[i]).collect()),
            ColumnData::Boolean(v) => ColumnData::Boolean(rows.iter().map(|&i| v[i]).collect()),
            ColumnData::Categorical { levels, codes } => ColumnData::Categorical {
                levels: levels.clone(),
                codes: rows.iter().map(|&i| codes[i]).collect(),
            },
        }
    }
}

/// One cell, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Missing,
    Number(f64),
    Bool(bool),
    Text(&'a str),
}

/// How many cells of a column are missing, and how many of those were declared sentinels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingCount {
    /// All missing cells (missing tokens and sentinels).
    pub total: usize,
    /// Cells that matched a declared sentinel (`-1` durations…).
    pub sentinel: usize,
}

/// One typed column of a [`Table`].
#[derive(Debug, Clone)]
pub struct Column {
    spec: ColumnSchema,
    /// 1-based field number in the source file, for messages.
    position: usize,
    data: ColumnData,
    /// `sentinel[i]`: row `i` matched a declared sentinel. Empty when none is declared.
    sentinel: Vec<bool>,
    /// A boolean column's first spelling of false and of true (`[false, true]`), e.g.
    /// `no`/`yes`, so outputs can write labels as the file does. `None` elsewhere.
    spellings: [Option<String>; 2],
}

/// Equal columns hold the same values: the spellings are presentation, not data.
impl PartialEq for Column {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
            && self.position == other.position
            && self.data == other.data
            && self.sentinel == other.sentinel
    }
}

impl Column {
    /// How a boolean column first wrote `value` (e.g. `yes`, `TRUE`); `None` for other
    /// kinds or a value not seen.
    pub fn spelling(&self, value: bool) -> Option<&str> {
        self.spellings[usize::from(value)].as_deref()
    }

    /// The header name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The column's schema entry.
    pub fn schema(&self) -> &ColumnSchema {
        &self.spec
    }

    /// The kind of the values.
    pub fn kind(&self) -> ColumnKind {
        self.data.kind()
    }

    /// 1-based field number in the source file.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The values.
    pub fn data(&self) -> &ColumnData {
        &self.data
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Cell `i`.
    ///
    /// **Panics** if `i >= self.len()`.
    pub fn value(&self, i: usize) -> Value<'_> {
        match &self.data {
            ColumnData::Numeric(v) if v[i].is_nan() => Value::Missing,
            ColumnData::Numeric(v) => Value::Number(v[i]),
            ColumnData::Boolean(v) => v[i].map_or(Value::Missing, Value::Bool),
            ColumnData::Categorical { levels, codes } => {
                codes[i].map_or(Value::Missing, |c| Value::Text(&levels[c as usize]))
            }
        }
    }

    /// Whether cell `i` is missing.
    ///
    /// **Panics** if `i >= self.len()`.
    pub fn is_missing(&self, i: usize) -> bool {
        self.value(i) == Value::Missing
    }

    /// Missing cells, in total and by declared sentinel.
    pub fn missing(&self) -> MissingCount {
        MissingCount {
            total: (0..self.len()).filter(|&i| self.is_missing(i)).count(),
            sentinel: self.sentinel.iter().filter(|&&s| s).count(),
        }
    }

    /// Parses the file fields `picks` (0-based field, schema entry) of `raw`.
    fn parse_picked<'s>(
        raw: &RawTable,
        picks: impl IntoIterator<Item = (usize, &'s ColumnSchema)>,
    ) -> Result<Vec<Column>> {
        picks
            .into_iter()
            .map(|(j, spec)| {
                let cells = raw.column(j);
                let mut column = ColumnBuilder::new(spec, j + 1, cells.len(), raw.max_categories());
                for (text, &line) in cells.iter().zip(raw.lines()) {
                    column.push(text, line, raw.file())?;
                }
                Ok(column.finish())
            })
            .collect()
    }

    fn select(&self, rows: &[usize]) -> Column {
        Column {
            spec: self.spec.clone(),
            position: self.position,
            data: self.data.select(rows),
            sentinel: if self.sentinel.is_empty() {
                Vec::new()
            } else {
                rows.iter().map(|&i| self.sentinel[i]).collect()
            },
            spellings: self.spellings.clone(),
        }
    }
}

/// Up to this many levels, a categorical cell's level is looked up by comparing strings.
const FEW_LEVELS: usize = 16;

/// Whether two cells are the same text. Lengths and the first and last bytes are compared
/// inline first, so nearly every mismatch, and a match of up to two bytes (integer codes),
/// costs no call to `memcmp` (5 % of the server's CPU at 1,000-row requests before).
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a.last() == b.last() && (a.len() <= 2 || a == b)
}

/// The values of a [`ColumnBuilder`] so far.
#[derive(Debug)]
enum Building {
    Numeric(Vec<f64>),
    Boolean(Vec<Option<bool>>),
    Categorical {
        levels: Vec<String>,
        index: HashMap<String, u32>,
        codes: Vec<Option<u32>>,
    },
}

/// Parses the cells of one column, one at a time, with its schema entry: missing per (D1),
/// else a value of the column's kind or a [`DataError::BadValue`] naming the cell. The one
/// place cell text becomes a value: [`Table::from_raw`] feeds it a file's cells, a server
/// the text of a request's values as it reads them (borrowed, no copy per cell).
#[derive(Debug)]
pub struct ColumnBuilder<'s> {
    spec: &'s ColumnSchema,
    position: usize,
    max_categories: usize,
    data: Building,
    sentinel: Vec<bool>,
    spellings: [Option<String>; 2],
}

impl<'s> ColumnBuilder<'s> {
    /// A column for `spec`, field `position` (1-based) of its source, space for `rows`
    /// rows, at most `max_categories` levels if categorical.
    pub fn new(
        spec: &'s ColumnSchema,
        position: usize,
        rows: usize,
        max_categories: usize,
    ) -> Self {
        let data = match spec.kind {
            ColumnKind::Numeric => Building::Numeric(Vec::with_capacity(rows)),
            ColumnKind::Boolean => Building::Boolean(Vec::with_capacity(rows)),
            ColumnKind::Categorical => Building::Categorical {
                levels: Vec::new(),
                index: HashMap::new(),
                codes: Vec::with_capacity(rows),
            },
        };
        let sentinel = if spec.missing.is_empty() {
            Vec::new()
        } else {
            Vec::with_capacity(rows)
        };
        Self {
            spec,
            position,
            max_categories,
            data,
            sentinel,
            spellings: [None, None],
        }
    }

    /// The column's schema entry.
    pub fn schema(&self) -> &ColumnSchema {
        self.spec
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        match &self.data {
            Building::Numeric(v) => v.len(),
            Building::Boolean(v) => v.len(),
            Building::Categorical { codes, .. } => codes.len(),
        }
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the cell `text` of source line `line` of `file` (both for messages).
    ///
    /// Errors: [`DataError::BadValue`] for a value the kind refuses (not a number, infinite,
    /// not a boolean); [`DataError::TooManyCategories`]. The column is unchanged then.
    pub fn push(&mut self, text: &str, line: u64, file: &str) -> Result<()> {
        let spec = self.spec;
        let bad = |problem| DataError::BadValue {
            file: file.to_string(),
            line,
            column: self.position,
            name: spec.name.clone(),
            text: text.to_string(),
            problem,
        };
        let token = is_missing_token(text);
        let hit = !spec.missing.is_empty() && !token && spec.is_sentinel(text);
        let missing = hit || token;
        match &mut self.data {
            Building::Numeric(v) => {
                let x = if missing {
                    f64::NAN
                } else {
                    let x: f64 = text.parse().map_err(|_| bad(ValueProblem::NotNumeric))?;
                    if x.is_infinite() {
                        return Err(bad(ValueProblem::Infinite));
                    }
                    x
                };
                v.push(x);
            }
            Building::Boolean(v) => {
                let b = if missing {
                    None
                } else {
                    let b = parse_bool(text).ok_or_else(|| bad(ValueProblem::NotBoolean))?;
                    self.spellings[usize::from(b)].get_or_insert_with(|| text.trim().to_string());
                    Some(b)
                };
                v.push(b);
            }
            Building::Categorical {
                levels,
                index,
                codes,
            } => {
                // A few levels are found faster by comparing than by hashing.
                let known = || {
                    if levels.len() <= FEW_LEVELS {
                        levels
                            .iter()
                            .position(|l| same_text(l, text))
                            .map(|i| i as u32)
                    } else {
                        index.get(text).copied()
                    }
                };
                let code = if missing {
                    None
                } else if let Some(code) = known() {
                    Some(code)
                } else if levels.len() >= self.max_categories {
                    return Err(DataError::TooManyCategories {
                        file: file.to_string(),
                        line,
                        column: self.position,
                        name: spec.name.clone(),
                        limit: self.max_categories,
                    });
                } else {
                    levels.push(text.to_string());
                    let code = (levels.len() - 1) as u32;
                    index.insert(text.to_string(), code);
                    Some(code)
                };
                codes.push(code);
            }
        }
        if !spec.missing.is_empty() {
            self.sentinel.push(hit);
        }
        Ok(())
    }

    /// The parsed column.
    pub fn finish(self) -> Column {
        let data = match self.data {
            Building::Numeric(v) => ColumnData::Numeric(v),
            Building::Boolean(v) => ColumnData::Boolean(v),
            Building::Categorical { levels, codes, .. } => {
                ColumnData::Categorical { levels, codes }
            }
        };
        Column {
            spec: self.spec.clone(),
            position: self.position,
            data,
            sentinel: self.sentinel,
            spellings: self.spellings,
        }
    }
}

/// Exact duplicate rows (notes/data.md §4): two rows are duplicates when every column
/// holds the same parsed value, a missing value equal to a missing value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateStats {
    /// Rows that repeat an earlier row: the rows `Table::without_duplicates` removes
    /// (pandas' `duplicated().sum()`).
    pub repeats: usize,
    /// Distinct row contents that occur more than once.
    pub groups: usize,
    /// Rows whose content occurs more than once, first occurrences included
    /// (pandas' `duplicated(keep=False).sum()`).
    pub rows_in_groups: usize,
}

/// A parsed data file (or a chunk of one): typed columns in schema order, with the line
/// of each row.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    file: String,
    columns: Vec<Column>,
    lines: Vec<u64>,
    ignored: Vec<String>,
}

/// For each kept schema column, the 0-based field of the file that holds it.
type Picks<'s> = Vec<(usize, &'s ColumnSchema)>;

/// Which field of the file holds each kept schema column, and which file columns the
/// schema does not know.
fn plan<'s>(file: &str, header: &[String], schema: &'s Schema) -> Result<(Picks<'s>, Vec<String>)> {
    let mut picks = Vec::new();
    for spec in schema.kept() {
        let j = header.iter().position(|h| *h == spec.name).ok_or_else(|| {
            DataError::MissingColumn {
                file: file.to_string(),
                column: spec.name.clone(),
                available: Names(header.to_vec()),
            }
        })?;
        picks.push((j, spec));
    }
    let ignored = header
        .iter()
        .filter(|h| schema.column(h).is_none())
        .cloned()
        .collect();
    Ok((picks, ignored))
}

impl Table {
    /// Reads `path` with a known schema (no inference): every kept schema column must be in
    /// the file (matched by name, in any order); dropped ones are skipped and may be
    /// absent; file columns the schema does not name are ignored (listed by
    /// [`Table::ignored_columns`]).
    pub fn read(path: impl AsRef<Path>, options: &ReadOptions, schema: &Schema) -> Result<Table> {
        Self::from_raw(&RawTable::read(path, options)?, schema)
    }

    /// Reads `path`, infers its schema with `overrides` applied, and parses it.
    pub fn read_infer(
        path: impl AsRef<Path>,
        options: &ReadOptions,
        overrides: &SchemaOverrides,
    ) -> Result<(Table, Schema)> {
        let raw = RawTable::read(path, options)?;
        let schema = Schema::infer(&raw, overrides)?;
        let table = Self::from_raw_as(&raw, &schema, Role::Training)?;
        Ok((table, schema))
    }

    /// Parses a raw table with `schema` (see [`Table::read`]), as a file scored by a model
    /// fitted earlier (entity counts: D16).
    pub fn from_raw(raw: &RawTable, schema: &Schema) -> Result<Table> {
        Self::from_raw_as(raw, schema, Role::Scoring)
    }

    /// Parses a raw table with `schema`: datetime columns read and derived columns added
    /// first (derived.rs), for the training file or a scored one (`role`).
    pub fn from_raw_as(raw: &RawTable, schema: &Schema, role: Role) -> Result<Table> {
        schema.validate()?;
        let raw = &*apply_derived(raw, schema, role)?;
        let (picks, ignored) = plan(raw.file(), raw.header(), schema)?;
        let columns = Column::parse_picked(raw, picks)?;
        Ok(Table {
            file: raw.file().to_string(),
            columns,
            lines: raw.lines().to_vec(),
            ignored,
        })
    }

    /// A table of the columns `built` with [`ColumnBuilder`]s, one per kept column of
    /// `schema` in its order, row `i` from source line `lines[i]` of `file` (a request body
    /// read without a [`RawTable`]).
    ///
    /// Errors: [`DataError::SchemaMismatch`] when the columns are not the schema's kept
    /// columns or hold another number of rows than `lines`.
    pub fn from_built(
        file: &str,
        schema: &Schema,
        built: Vec<ColumnBuilder<'_>>,
        lines: Vec<u64>,
    ) -> Result<Table> {
        let mismatch = |message: String| DataError::SchemaMismatch {
            file: file.to_string(),
            message,
        };
        if !built.iter().map(|b| b.spec).eq(schema.kept()) {
            return Err(mismatch(
                "the columns built are not the schema's kept columns".into(),
            ));
        }
        if let Some(b) = built.iter().find(|b| b.len() != lines.len()) {
            return Err(mismatch(format!(
                "column \"{}\" has {} rows, not {}",
                b.spec.name,
                b.len(),
                lines.len()
            )));
        }
        Ok(Table {
            file: file.to_string(),
            columns: built.into_iter().map(ColumnBuilder::finish).collect(),
            lines,
            ignored: Vec::new(),
        })
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// A table built in memory from numeric columns of equal length (features computed by
    /// another crate, e.g. an event log's examples), read as if from a CSV file named `file`
    /// with these columns in this order: row `i` is "line" `i + 2`. Each column keeps its
    /// schema entry (its kind must be numeric; `log1p` and `drop` as given).
    ///
    /// Errors: [`DataError::InvalidSchema`] for a non-numeric entry, a non-finite value or
    /// columns of unequal length.
    pub fn from_numeric_columns(
        file: &str,
        columns: Vec<(ColumnSchema, Vec<f64>)>,
    ) -> Result<(Table, Schema)> {
        let n = columns.first().map_or(0, |(_, v)| v.len());
        let invalid = |column: &str, message: String| DataError::InvalidSchema {
            column: column.to_string(),
            message,
        };
        for (spec, values) in &columns {
            if spec.kind != ColumnKind::Numeric {
                return Err(invalid(
                    &spec.name,
                    format!("is {}, not numeric", spec.kind),
                ));
            }
            if values.len() != n {
                return Err(invalid(
                    &spec.name,
                    format!("has {} rows, the first column {n}", values.len()),
                ));
            }
            if values.iter().any(|x| x.is_infinite()) {
                return Err(invalid(&spec.name, "holds an infinite value".into()));
            }
        }
        let schema = Schema::new(columns.iter().map(|(s, _)| s.clone()).collect())?;
        let columns = columns
            .into_iter()
            .enumerate()
            .filter(|(_, (spec, _))| !spec.drop)
            .map(|(j, (spec, values))| Column {
                spec,
                position: j + 1,
                data: ColumnData::Numeric(values),
                sentinel: Vec::new(),
                spellings: [None, None],
            })
            .collect();
        let table = Table {
            file: file.to_string(),
            columns,
            lines: (0..n as u64).map(|i| i + 2).collect(),
            ignored: Vec::new(),
        };
        Ok((table, schema))
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.lines.len()
    }

    /// The kept columns, in schema order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name() == name)
    }

    /// The names of the kept columns.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name().to_string()).collect()
    }

    /// The 1-based line on which each row starts.
    pub fn lines(&self) -> &[u64] {
        &self.lines
    }

    /// File columns that the schema does not name, so were not read.
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored
    }

    /// One hashable word per cell; equal words ⇔ equal parsed values.
    fn row_key(&self, i: usize) -> Vec<u64> {
        self.columns
            .iter()
            .map(|c| match c.data() {
                ColumnData::Numeric(v) if v[i].is_nan() => u64::MAX,
                // +0.0 and -0.0 are the same value.
                ColumnData::Numeric(v) => (v[i] + 0.0).to_bits(),
                ColumnData::Boolean(v) => v[i].map_or(2, u64::from),
                ColumnData::Categorical { codes, .. } => codes[i].map_or(u64::MAX, u64::from),
            })
            .collect()
    }

    /// For each row, whether it repeats an earlier row exactly.
    fn repeat_mask(&self) -> (Vec<bool>, HashMap<Vec<u64>, usize>) {
        // Sized for every row at once: growing it rehashed every key already in it, more than
        // half the time of a 150 k-row table's count (perf, the next-hour case).
        let mut seen: HashMap<Vec<u64>, usize> = HashMap::with_capacity(self.n_rows());
        let mut repeat = Vec::with_capacity(self.n_rows());
        for i in 0..self.n_rows() {
            let count = seen.entry(self.row_key(i)).or_insert(0);
            repeat.push(*count > 0);
            *count += 1;
        }
        (repeat, seen)
    }

    /// Counts exact duplicate rows (see [`DuplicateStats`]).
    pub fn duplicates(&self) -> DuplicateStats {
        let (repeat, seen) = self.repeat_mask();
        let groups: Vec<usize> = seen.into_values().filter(|&c| c > 1).collect();
        DuplicateStats {
            repeats: repeat.iter().filter(|&&r| r).count(),
            groups: groups.len(),
            rows_in_groups: groups.iter().sum(),
        }
    }

    /// A copy without the rows that repeat an earlier row (the first copy is kept).
    pub fn without_duplicates(&self) -> Table {
        let (repeat, _) = self.repeat_mask();
        let keep: Vec<usize> = (0..self.n_rows()).filter(|&i| !repeat[i]).collect();
        self.select_rows(&keep)
    }

    /// A table of the given rows, in the given order (repeats allowed); lines are kept, so
    /// messages still point into the source file.
    ///
    /// **Panics** if an index is `>= self.n_rows()`.
    pub fn select_rows(&self, rows: &[usize]) -> Table {
        Table {
            file: self.file.clone(),
            columns: self.columns.iter().map(|c| c.select(rows)).collect(),
            lines: rows.iter().map(|&i| self.lines[i]).collect(),
            ignored: self.ignored.clone(),
        }
    }
}

/// Reads a CSV file of any size as [`Table`]s of at most `chunk_rows` rows, parsed with a
/// known schema (no inference) — for prediction on files larger than memory.
///
/// Line numbers in each chunk (and in its errors) are those of the file. The header is
/// checked when the reader is opened; a file with a header and no rows yields one
/// [`DataError::NoDataRows`]. After an error the iterator ends.
///
/// ```no_run
/// # use glassbox_data::{ChunkReader, Preprocessor, ReadOptions};
/// # fn f(pre: &Preprocessor) -> Result<(), glassbox_data::DataError> {
/// let schema = pre.prediction_schema();
/// for chunk in ChunkReader::open("big.csv", &ReadOptions::default(), &schema, 8192)? {
///     let x = pre.transform_features(&chunk?)?;
///     // … predict on x (N, D) …
/// }
/// # Ok(()) }
/// ```
pub struct ChunkReader {
    source: CsvSource,
    schema: Schema,
    picks: Vec<(usize, ColumnSchema)>,
    ignored: Vec<String>,
    chunk_rows: usize,
    rows_read: usize,
    done: bool,
    /// No datetime or derived column: cells go from the reader's buffer straight into the
    /// columns, without a `RawTable` of `String`s in between.
    direct: bool,
    /// Reading one part of the file ([`ChunkReader::open_part`]): no rows is no error.
    part: bool,
}

impl ChunkReader {
    /// Opens `path` and checks its header against `schema`.
    ///
    /// **Panics** if `chunk_rows == 0`.
    pub fn open(
        path: impl AsRef<Path>,
        options: &ReadOptions,
        schema: &Schema,
        chunk_rows: usize,
    ) -> Result<ChunkReader> {
        Self::start(CsvSource::open(path.as_ref(), options)?, schema, chunk_rows)
    }

    /// [`ChunkReader::open`] for CSV text from any reader; `name` stands for the file in
    /// messages (a request body).
    ///
    /// **Panics** if `chunk_rows == 0`.
    pub fn from_reader(
        input: impl Read + Send + 'static,
        name: &str,
        options: &ReadOptions,
        schema: &Schema,
        chunk_rows: usize,
    ) -> Result<ChunkReader> {
        let input = std::io::BufReader::new(input);
        Self::start(
            CsvSource::from_reader(input, name.to_string(), options)?,
            schema,
            chunk_rows,
        )
    }

    fn start(source: CsvSource, schema: &Schema, chunk_rows: usize) -> Result<ChunkReader> {
        assert!(chunk_rows > 0, "ChunkReader needs chunk_rows > 0");
        schema.validate()?;
        let direct = changes_nothing(source.header(), schema);
        let header = extended_header(source.header(), schema);
        let (picks, ignored) = plan(source.file(), &header, schema)?;
        let picks = picks.into_iter().map(|(j, s)| (j, s.clone())).collect();
        Ok(ChunkReader {
            source,
            schema: schema.clone(),
            picks,
            ignored,
            chunk_rows,
            rows_read: 0,
            done: false,
            direct,
            part: false,
        })
    }

    /// The line of the header.
    pub fn header_line(&self) -> u64 {
        self.source.header_line()
    }

    /// The file's columns the schema does not name (read past).
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored
    }

    /// Opens `path`, checks its header against `schema` (as [`ChunkReader::open`]), then
    /// reads only the records of `part` (a plain file's byte range after the header, cut
    /// at record starts: [`crate::part`]), their lines numbered as in the whole file. A
    /// part may hold no rows.
    ///
    /// **Panics** if `chunk_rows == 0`.
    ///
    /// # Errors
    /// As [`ChunkReader::open`]; [`DataError::Io`] when the part starts inside the header.
    pub fn open_part(
        path: impl AsRef<Path>,
        options: &ReadOptions,
        schema: &Schema,
        chunk_rows: usize,
        part: &FilePart,
    ) -> Result<ChunkReader> {
        let path = path.as_ref();
        let mut reader = ChunkReader::open(path, options, schema, chunk_rows)?;
        let io_error = |source| DataError::Io {
            file: reader.file().to_string(),
            source,
        };
        if part.bytes.start < reader.header_end() {
            return Err(io_error(std::io::Error::other(format!(
                "a part starting at byte {} is inside the header (which ends at byte {})",
                part.bytes.start,
                reader.header_end()
            ))));
        }
        let mut file = std::fs::File::open(path).map_err(io_error)?;
        file.seek(std::io::SeekFrom::Start(part.bytes.start))
            .map_err(io_error)?;
        let input = std::io::BufReader::with_capacity(1 << 17, file)
            .take(part.bytes.end - part.bytes.start);
        reader.source.continue_with(input, part.newlines_before);
        reader.part = true;
        Ok(reader)
    }

    /// The byte of the file after the header record: where the data records start.
    pub fn header_end(&self) -> u64 {
        self.source.header_end()
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        self.source.file()
    }

    /// The delimiter in use.
    pub fn delimiter(&self) -> u8 {
        self.source.delimiter()
    }

    /// The schema the chunks are parsed with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Data rows read so far.
    pub fn rows_read(&self) -> usize {
        self.rows_read
    }

    fn next_chunk(&mut self) -> Result<Option<Table>> {
        if self.direct {
            return self.next_chunk_direct();
        }
        let Some(raw) = self.source.read_rows(Some(self.chunk_rows))? else {
            if self.rows_read == 0 && !self.part {
                return Err(DataError::NoDataRows {
                    file: self.source.file().to_string(),
                });
            }
            return Ok(None);
        };
        self.rows_read += raw.n_rows();
        let raw = apply_derived(&raw, &self.schema, Role::Scoring)?;
        let columns = Column::parse_picked(&raw, self.picks.iter().map(|(j, s)| (*j, s)))?;
        Ok(Some(Table {
            file: raw.file().to_string(),
            columns,
            lines: raw.lines().to_vec(),
            ignored: self.ignored.clone(),
        }))
    }
}

impl ChunkReader {
    /// [`ChunkReader::next_chunk`] without derived columns: each picked cell is parsed as
    /// it is read, from the reader's buffer (the same [`ColumnBuilder::push`] of the same
    /// trimmed text as through a `RawTable`, so the same values and messages).
    fn next_chunk_direct(&mut self) -> Result<Option<Table>> {
        let max_categories = self.source.max_categories();
        // Reserve for a typical chunk, not the limit: a request body's limit is large.
        let reserve = self.chunk_rows.min(RESERVE_ROWS);
        let mut columns: Vec<ColumnBuilder<'_>> = self
            .picks
            .iter()
            .map(|(j, spec)| ColumnBuilder::new(spec, j + 1, reserve, max_categories))
            .collect();
        let mut lines = Vec::with_capacity(reserve);
        while lines.len() < self.chunk_rows {
            let Some(line) = self.source.next_fields()? else {
                break;
            };
            for (column, (j, _)) in columns.iter_mut().zip(&self.picks) {
                column.push(self.source.field(*j, line)?, line, self.source.file())?;
            }
            lines.push(line);
        }
        if lines.is_empty() {
            if self.rows_read == 0 && !self.part {
                return Err(DataError::NoDataRows {
                    file: self.source.file().to_string(),
                });
            }
            return Ok(None);
        }
        self.rows_read += lines.len();
        Ok(Some(Table {
            file: self.source.file().to_string(),
            columns: columns.into_iter().map(ColumnBuilder::finish).collect(),
            lines,
            ignored: self.ignored.clone(),
        }))
    }
}

/// Rows reserved up front per chunk of a [`ChunkReader`]; more grow the columns.
const RESERVE_ROWS: usize = 4096;

impl Iterator for ChunkReader {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        if self.done {
            return None;
        }
        match self.next_chunk() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
