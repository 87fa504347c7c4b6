//! Request bodies → a [`Table`] read with the model's prediction schema, or a
//! [`RequestError`] naming the row and field. No I/O and no HTTP here, so the fuzz test can
//! drive it directly.
//!
//! Two body formats (notes/serving.md §2):
//! - **JSON** (`application/json`, the default): one row object, an array of row objects, or
//!   `{"rows": [row, …]}`. A row object is keyed by the CSV column names; every column the
//!   model reads must be present (`null` for a missing value, imputed as in training); keys
//!   the schema knows but the model does not read (the target, dropped columns) are ignored;
//!   any other key is refused. Numbers reach the data layer as the text the client wrote, so
//!   they parse exactly as the same text in a CSV file would. A numeric column takes a
//!   number or `null`; a boolean column `true`/`false`, a boolean spelling or `null`; a
//!   categorical column a string, a number (an integer code) or `null`. Strings are trimmed,
//!   as CSV fields are.
//! - **CSV** (`text/csv`): a header and rows, read by the same reader as `glassbox predict`
//!   (missing tokens, sentinels and quoting as there); a column the schema does not know is
//!   refused here, where `predict` would ignore it.

use std::borrow::Cow;
use std::fmt;

use glassbox_data::{
    ChunkReader, ColumnBuilder, ColumnKind, DataError, Preprocessor, ReadOptions, Schema, Table,
};
use ndarray::Array2;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The name request bodies go by in the data layer's messages.
pub const BODY_NAME: &str = "request body";

/// What the body claims to be (from `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Csv,
}

/// Why a request was refused, with the HTTP status it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// 400 for a malformed or invalid body, 413 for too many rows.
    pub status: u16,
    pub message: String,
}

impl RequestError {
    pub fn bad(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }

    /// A failure of the server's own (500).
    pub fn internal() -> Self {
        Self {
            status: 500,
            message: "reading the request failed (an internal error)".into(),
        }
    }

    fn too_many_rows(limit: usize) -> Self {
        Self {
            status: 413,
            message: format!(
                "more than {limit} rows in one request, the limit (--max-rows); split the request"
            ),
        }
    }
}

/// Reads `body` as `format` with the model's prediction `schema`, at most `max_rows` rows.
///
/// # Errors
/// [`RequestError`] 400 for malformed JSON/CSV, a missing or unknown column, a value of the
/// wrong type, a non-finite or unparsable number (the message names the row or line and the
/// field); 413 for more than `max_rows` rows.
pub fn parse_body(
    body: &[u8],
    format: BodyFormat,
    schema: &Schema,
    max_rows: usize,
) -> Result<Table, RequestError> {
    match format {
        BodyFormat::Json => parse_json(body, schema, max_rows),
        BodyFormat::Csv => parse_csv(body, schema, max_rows),
    }
}

/// [`parse_body`], then the preprocessor's encoding: the features (N, D) of the rows.
///
/// # Errors
/// Those of [`parse_body`], and 400 for a value the encoding refuses (a negative value in a
/// `log1p` column).
pub fn read_features(
    body: &[u8],
    format: BodyFormat,
    schema: &Schema,
    preprocessor: &Preprocessor,
    max_rows: usize,
) -> Result<Array2<f32>, RequestError> {
    let table = parse_body(body, format, schema, max_rows)?;
    match preprocessor.encode(&table, false) {
        Ok(encoded) => Ok(encoded.x),
        Err(e) if format == BodyFormat::Json => Err(json_value_error(e)),
        Err(e) => Err(RequestError::bad(e.to_string())),
    }
}

fn parse_csv(body: &[u8], schema: &Schema, max_rows: usize) -> Result<Table, RequestError> {
    let bad = |e: DataError| RequestError::bad(e.to_string());
    // predict's reader, one chunk of up to max_rows + 1 rows: one more says "too many".
    let mut reader = ChunkReader::from_reader(
        std::io::Cursor::new(body.to_vec()),
        BODY_NAME,
        &ReadOptions::default(),
        schema,
        max_rows.saturating_add(1),
    )
    .map_err(bad)?;
    let unknown: Vec<&str> = reader
        .ignored_columns()
        .iter()
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(RequestError::bad(format!(
            "{BODY_NAME}, line {}: unknown column(s) {}; the model reads {}",
            reader.header_line(),
            quoted(&unknown),
            quoted(&model_columns(schema))
        )));
    }
    let table = reader
        .next()
        .unwrap_or_else(|| {
            Err(DataError::NoDataRows {
                file: BODY_NAME.to_string(),
            })
        })
        .map_err(bad)?;
    if table.n_rows() > max_rows {
        return Err(RequestError::too_many_rows(max_rows));
    }
    Ok(table)
}

/// What a key of a row object is.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Read by the model: index into the collected columns, and the column's kind.
    Read(usize, ColumnKind),
    /// Known to the schema but not read (the target, a dropped column).
    Ignored,
}

/// Reads the cells of JSON rows into the columns the model reads, each cell parsed as it
/// is met, from text borrowed from the body (no copy per cell).
struct Collector<'s> {
    schema: &'s Schema,
    /// Every schema column's name and what it is. Looked up from `hint` on: clients send
    /// the keys of every row in one order, so a key is nearly always the one expected and
    /// costs one comparison, not a hash.
    slots: Vec<(&'s str, Slot)>,
    hint: usize,
    columns: Vec<ColumnBuilder<'s>>,
    /// `seen[j]` is the last row (1-based) that gave read column `j`: no per-row reset.
    seen: Vec<usize>,
    rows: usize,
    max_rows: usize,
    /// The precise error, when the deserializer's own message would be vaguer.
    error: Option<RequestError>,
}

impl<'s> Collector<'s> {
    /// A collector expecting about `rows_hint` rows (space is reserved for them).
    fn new(schema: &'s Schema, max_rows: usize, rows_hint: usize) -> Self {
        let reserve = rows_hint.min(max_rows);
        let max_categories = ReadOptions::default().max_categories;
        let mut columns = Vec::new();
        let slots = schema
            .columns
            .iter()
            .map(|c| {
                let slot = if c.drop {
                    Slot::Ignored
                } else {
                    let position = columns.len() + 1;
                    columns.push(ColumnBuilder::new(c, position, reserve, max_categories));
                    Slot::Read(position - 1, c.kind)
                };
                (c.name.as_str(), slot)
            })
            .collect();
        Self {
            schema,
            seen: vec![0; columns.len()],
            slots,
            hint: 0,
            columns,
            rows: 0,
            max_rows,
            error: None,
        }
    }

    /// What `key` is, if the schema knows it.
    fn slot(&mut self, key: &str) -> Option<Slot> {
        let n = self.slots.len();
        let found = (0..n)
            .map(|k| (self.hint + k) % n)
            .find(|&i| self.slots[i].0 == key)?;
        self.hint = (found + 1) % n;
        Some(self.slots[found].1)
    }

    /// Records `error` and returns the deserializer error that stops the parse.
    fn fail<E: de::Error>(&mut self, error: RequestError) -> E {
        let message = error.message.clone();
        self.error = Some(error);
        E::custom(message)
    }

    /// Reads the entries of row object `self.rows` (0-based), `first` already taken.
    fn row<'de, A: MapAccess<'de>>(
        &mut self,
        mut map: A,
        first: Option<Cow<'de, str>>,
    ) -> Result<(), A::Error> {
        if self.rows == self.max_rows {
            return Err(self.fail(RequestError::too_many_rows(self.max_rows)));
        }
        let row = self.rows + 1;
        let mut key = first;
        if key.is_none() {
            key = map.next_key_seed(TextSeed)?;
        }
        while let Some(k) = key {
            let raw: &RawValue = map.next_value()?;
            match self.slot(&k) {
                None => {
                    let message = format!(
                        "row {row}: unknown field \"{k}\"; the model reads {}",
                        quoted(&model_columns(self.schema))
                    );
                    return Err(self.fail(RequestError::bad(message)));
                }
                Some(Slot::Ignored) => {}
                Some(Slot::Read(j, kind)) => {
                    if self.seen[j] == row {
                        let message = format!("row {row}: field \"{k}\" is given twice");
                        return Err(self.fail(RequestError::bad(message)));
                    }
                    self.seen[j] = row;
                    let pushed = match cell(raw, kind) {
                        Ok(text) => self.columns[j].push(&text, row as u64, BODY_NAME),
                        Err(problem) => {
                            let message = format!("row {row}, field \"{k}\": {problem}");
                            return Err(self.fail(RequestError::bad(message)));
                        }
                    };
                    if let Err(e) = pushed {
                        return Err(self.fail(json_value_error(e)));
                    }
                }
            }
            key = map.next_key_seed(TextSeed)?;
        }
        if let Some(j) = self.seen.iter().position(|&s| s != row) {
            let message = format!(
                "row {row}: field \"{}\" is missing (the model reads {}; send null for a missing value)",
                self.columns[j].schema().name,
                quoted(&model_columns(self.schema))
            );
            return Err(self.fail(RequestError::bad(message)));
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> Result<Table, RequestError> {
        if self.rows == 0 {
            return Err(RequestError::bad("the request holds no rows"));
        }
        let lines = (1..=self.rows as u64).collect();
        Table::from_built(BODY_NAME, self.schema, self.columns, lines)
            .map_err(|e| RequestError::bad(e.to_string()))
    }
}

/// The data layer's message for a JSON body, where its "line" is the row number.
fn json_value_error(e: DataError) -> RequestError {
    RequestError::bad(match e {
        DataError::BadValue {
            line,
            name,
            text,
            problem,
            ..
        } => format!("row {line}, field \"{name}\": \"{text}\" {problem}"),
        DataError::NegativeLog1p {
            line, name, value, ..
        } => format!("row {line}, field \"{name}\": log1p needs values >= 0, found {value}"),
        other => other.to_string(),
    })
}

/// The text of one JSON value as a cell of a column of `kind` (borrowed from the body but
/// for a string with escapes), or what is wrong with it.
fn cell(raw: &RawValue, kind: ColumnKind) -> Result<Cow<'_, str>, String> {
    let text = raw.get();
    let found = |what: &str| {
        let expected = match kind {
            ColumnKind::Numeric => "a number or null (JSON has no NaN or infinity)",
            ColumnKind::Boolean => "true, false, a boolean spelling or null",
            ColumnKind::Categorical => "a string, a number or null",
        };
        Err(format!("expected {expected}, found {what}"))
    };
    match text.as_bytes().first() {
        Some(b'n') => Ok(Cow::Borrowed("")),
        Some(b'"') => {
            let s = json_string(text).map_err(|e| e.to_string())?;
            match (kind, s) {
                (ColumnKind::Numeric, _) => found(&format!("the string {text}")),
                (_, Cow::Borrowed(s)) => Ok(Cow::Borrowed(s.trim())),
                (_, Cow::Owned(s)) => Ok(Cow::Owned(s.trim().to_string())),
            }
        }
        Some(b't' | b'f') => match kind {
            ColumnKind::Boolean => Ok(Cow::Borrowed(text)),
            _ => found(text),
        },
        Some(b'-' | b'0'..=b'9') => match kind {
            ColumnKind::Numeric | ColumnKind::Categorical | ColumnKind::Boolean => {
                Ok(Cow::Borrowed(text))
            }
        },
        Some(b'{') => found("an object"),
        Some(b'[') => found("an array"),
        _ => found(text),
    }
}

/// A JSON string literal's content, borrowed when it has no escapes. `literal` is a whole
/// literal serde_json has already checked, so without a backslash its content is the text
/// between the quotes.
fn json_string(literal: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    match literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(content) if !content.contains('\\') => Ok(Cow::Borrowed(content)),
        _ => serde_json::Deserializer::from_str(literal).deserialize_str(TextVisitor),
    }
}

/// A string, borrowed from the body when it has no escapes (keys, string values).
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// One row object.
struct RowSeed<'c, 's>(&'c mut Collector<'s>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {} as an object keyed by column names",
            self.0.rows + 1
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.row(map, None)
    }
}

/// An array of row objects.
struct RowsSeed<'c, 's>(&'c mut Collector<'s>);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of row objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(RowSeed(self.0))?.is_some() {}
        Ok(())
    }
}

/// The top level: an array of rows, `{"rows": […]}`, or one row object.
struct BodySeed<'c, 's>(&'c mut Collector<'s>);

impl<'de> DeserializeSeed<'de> for BodySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row object, an array of row objects, or {\"rows\": [...]}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        RowsSeed(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(first) = map.next_key_seed(TextSeed)? else {
            return self.0.row(map, None);
        };
        // `{"rows": …}` is the batch form, unless the model has a column called "rows".
        if first == "rows" && self.0.schema.column("rows").is_none() {
            map.next_value_seed(RowsSeed(self.0))?;
            if let Some(k) = map.next_key_seed(TextSeed)? {
                let message = format!(
                    "unknown key \"{k}\" beside \"rows\" (the body is {{\"rows\": [...]}})"
                );
                return Err(self.0.fail(RequestError::bad(message)));
            }
            return Ok(());
        }
        self.0.row(map, Some(first))
    }
}

fn parse_json(body: &[u8], schema: &Schema, max_rows: usize) -> Result<Table, RequestError> {
    // A row object of a typical model is a few hundred bytes: reserve for that many rows.
    // UTF-8 checked once for the whole body (vectorised), not string by string.
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = 1 + body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        RequestError::bad(format!(
            "malformed JSON: the body is not UTF-8 (line {line}, byte {})",
            e.valid_up_to() + 1
        ))
    })?;
    let mut collector = Collector::new(schema, max_rows, body.len() / 256 + 1);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = BodySeed(&mut collector)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = parsed {
        return Err(collector
            .error
            .take()
            .unwrap_or_else(|| RequestError::bad(format!("malformed JSON: {e}"))));
    }
    collector.finish()
}

/// The columns the model reads, in schema order.
fn model_columns(schema: &Schema) -> Vec<&str> {
    schema.kept().map(|c| c.name.as_str()).collect()
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
