//! Reading an event log: CSV text, one row per line, to [`Event`]s with interned ids.
//!
//! Rows are split by hand (not with `csv::Reader`) so that every error names the true line:
//! blank lines are skipped but counted, LF and CRLF both end a line. Quoting follows RFC 4180
//! within a line (a field starting with `"` is quoted, `""` is a quote, bytes after the closing
//! quote are kept up to the delimiter); a quoted field may not span lines, since event logs do
//! not need that and streaming stays simple. Fields are trimmed of spaces and tabs.

use std::io::BufRead;
use std::path::Path;

use crate::error::{CellAt, EventsError, quoted_list};
use crate::hash::FastMap;
use crate::spec::{EventSpec, UserIds};
use crate::time::TimeFormat;

/// One event row, with its ids interned to dense indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Unix milliseconds.
    pub time_ms: i64,
    /// Dense user index (see [`Ids::user_key`]).
    pub user: u32,
    /// Position of the event's kind in [`crate::spec::EventKinds::kinds`].
    pub kind: u8,
    /// Dense item index.
    pub item: u32,
    /// Dense transaction index, or [`NO_TRANSACTION`].
    pub transaction: u32,
    /// The value cell (0 when there is no value column or the cell is empty).
    pub value: f64,
}

/// `Event::transaction` of a row without a transaction id.
pub const NO_TRANSACTION: u32 = u32::MAX;

/// Text → dense index, with canonical decimal integers (no sign, no leading zero) kept as
/// numbers, so the common numeric ids are hashed as one word.
#[derive(Debug, Default)]
struct Interner {
    numbers: FastMap<u64, u32>,
    texts: FastMap<Box<[u8]>, u32>,
    len: u32,
}

fn canonical_number(cell: &[u8]) -> Option<u64> {
    let ok = !cell.is_empty()
        && cell.len() <= 19
        && cell.iter().all(u8::is_ascii_digit)
        && (cell[0] != b'0' || cell.len() == 1);
    ok.then(|| cell.iter().fold(0u64, |v, b| v * 10 + u64::from(b - b'0')))
}

impl Interner {
    /// The index of `cell`, and whether it is new.
    fn intern(&mut self, cell: &[u8]) -> (u32, bool) {
        let next = self.len;
        let index = match canonical_number(cell) {
            Some(n) => *self.numbers.entry(n).or_insert(next),
            None => match self.texts.get(cell) {
                Some(&i) => i,
                None => {
                    self.texts.insert(cell.into(), next);
                    next
                }
            },
        };
        let new = index == next;
        if new {
            self.len += 1;
        }
        (index, new)
    }
}

/// The id tables of a log: user keys (and names), item and transaction counts.
#[derive(Debug, Default)]
pub struct Ids {
    users: Interner,
    items: Interner,
    transactions: Interner,
    /// Key of each dense user index: the numeric id, or the index itself for text ids.
    user_keys: Vec<u64>,
    /// Text of each user id (filled for [`UserIds::Text`] only).
    user_names: Vec<String>,
}

impl Ids {
    /// The example key of dense user `u`.
    pub fn user_key(&self, u: u32) -> u64 {
        self.user_keys[u as usize]
    }

    /// The users' id texts, by key, when ids are text ([`UserIds::Text`]); empty otherwise.
    pub fn user_names(&self) -> &[String] {
        &self.user_names
    }

    /// Distinct users, items and transactions seen so far.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.user_keys.len(),
            self.items.len as usize,
            self.transactions.len as usize,
        )
    }
}

/// A field of the current line: a byte range of the line, or of the unquoting scratch buffer.
#[derive(Debug, Clone, Copy)]
enum Field {
    Line(usize, usize),
    Scratch(usize, usize),
}

/// Header positions of the roles.
#[derive(Debug, Clone, Copy)]
struct RoleColumns {
    user: usize,
    time: usize,
    event: usize,
    item: usize,
    value: Option<usize>,
    transaction: Option<usize>,
}

/// Streams [`Event`]s from CSV text, in file order.
pub struct EventReader {
    file: String,
    input: Box<dyn BufRead>,
    delimiter: u8,
    /// The last line read (1-based; the header is 1).
    line: u64,
    buf: Vec<u8>,
    fields: Vec<Field>,
    scratch: Vec<u8>,
    header: Vec<String>,
    columns: RoleColumns,
    time_format: TimeFormat,
    kinds: Vec<Vec<u8>>,
    positive: u8,
    user_ids: UserIds,
    ids: Ids,
    rows: u64,
}

/// Splits `line` (without its line end) at `delimiter` into `fields`, unquoting into `scratch`.
fn split_line(
    line: &[u8],
    delimiter: u8,
    fields: &mut Vec<Field>,
    scratch: &mut Vec<u8>,
) -> Result<(), ()> {
    fields.clear();
    scratch.clear();
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            // Quoted: copy into scratch, `""` → `"`, then keep bytes up to the delimiter.
            let start = scratch.len();
            i += 1;
            loop {
                match line.get(i) {
                    None => return Err(()),
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        scratch.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        scratch.push(b);
                        i += 1;
                    }
                }
            }
            while let Some(&b) = line.get(i).filter(|&&b| b != delimiter) {
                scratch.push(b);
                i += 1;
            }
            fields.push(Field::Scratch(start, scratch.len()));
        } else {
            let start = i;
            while line.get(i).is_some_and(|&b| b != delimiter) {
                i += 1;
            }
            fields.push(Field::Line(start, i));
        }
        if i >= line.len() {
            return Ok(());
        }
        i += 1; // the delimiter
        if i == line.len() {
            fields.push(Field::Line(i, i));
            return Ok(());
        }
    }
}

/// The trimmed bytes of `field` (a free function, so the id tables can be borrowed alongside).
fn field_bytes<'a>(line: &'a [u8], scratch: &'a [u8], field: Field) -> &'a [u8] {
    match field {
        Field::Line(a, b) => trim(&line[a..b]),
        Field::Scratch(a, b) => trim(&scratch[a..b]),
    }
}

fn trim(cell: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = cell.iter().position(|b| !is_space(b)).unwrap_or(cell.len());
    let end = cell
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    &cell[start..end]
}

impl EventReader {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path, spec: &EventSpec) -> Result<EventReader, EventsError> {
        let file = path.display().to_string();
        // Plain or gzip, streamed: the one opener of input files (crates/data).
        let input = glassbox_data::open_input(path).map_err(|source| EventsError::Io {
            file: file.clone(),
            action: "cannot open the event log",
            source,
        })?;
        EventReader::new(file, input, spec)
    }

    /// Reads the header of `input`; `file` names it in errors.
    pub fn new(
        file: String,
        input: Box<dyn BufRead>,
        spec: &EventSpec,
    ) -> Result<EventReader, EventsError> {
        spec.validate()?;
        let kinds: Vec<Vec<u8>> = spec
            .events
            .kinds
            .iter()
            .map(|k| k.name.as_bytes().to_vec())
            .collect();
        let kind_of = |name: &str| {
            spec.events
                .kinds
                .iter()
                .position(|k| k.name == name)
                .unwrap_or(0) as u8
        };
        let mut reader = EventReader {
            file,
            input,
            delimiter: spec.delimiter as u8,
            line: 0,
            buf: Vec::with_capacity(256),
            fields: Vec::new(),
            scratch: Vec::new(),
            header: Vec::new(),
            columns: RoleColumns {
                user: 0,
                time: 0,
                event: 0,
                item: 0,
                value: None,
                transaction: None,
            },
            time_format: spec.time_format,
            kinds,
            positive: kind_of(&spec.events.positive),
            user_ids: spec.user_ids,
            ids: Ids::default(),
            rows: 0,
        };
        if !reader.next_line()? {
            return Err(EventsError::Empty { file: reader.file });
        }
        let header: Vec<String> = (0..reader.fields.len())
            .map(|i| String::from_utf8_lossy(reader.cell(i)).into_owned())
            .collect();
        for (i, name) in header.iter().enumerate() {
            if header[..i].contains(name) {
                return Err(EventsError::DuplicateColumn {
                    file: reader.file,
                    name: name.clone(),
                    problem: "appears twice in the header",
                });
            }
        }
        let find = |role: &'static str, name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| EventsError::UnknownColumn {
                    file: reader.file.clone(),
                    role,
                    name: name.to_string(),
                    available: quoted_list(&header),
                })
        };
        let c = &spec.columns;
        reader.columns = RoleColumns {
            user: find("user", &c.user)?,
            time: find("time", &c.time)?,
            event: find("event", &c.event)?,
            item: find("item", &c.item)?,
            value: c.value.as_deref().map(|n| find("value", n)).transpose()?,
            transaction: c
                .transaction
                .as_deref()
                .map(|n| find("transaction", n))
                .transpose()?,
        };
        reader.header = header;
        Ok(reader)
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The line of the last row returned.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The id tables built so far.
    pub fn ids(&self) -> &Ids {
        &self.ids
    }

    /// Gives the id tables away (after the last row).
    pub fn into_ids(self) -> Ids {
        self.ids
    }

    /// Reads the next non-blank line into `fields`; `false` at the end of the input.
    fn next_line(&mut self) -> Result<bool, EventsError> {
        loop {
            self.buf.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| EventsError::Io {
                    file: self.file.clone(),
                    action: "cannot read the event log",
                    source,
                })?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            let mut end = self.buf.len();
            if self.buf[..end].ends_with(b"\n") {
                end -= 1;
                if self.buf[..end].ends_with(b"\r") {
                    end -= 1;
                }
            }
            if end == 0 {
                continue;
            }
            split_line(
                &self.buf[..end],
                self.delimiter,
                &mut self.fields,
                &mut self.scratch,
            )
            .map_err(|()| EventsError::UnclosedQuote {
                file: self.file.clone(),
                line: self.line,
            })?;
            return Ok(true);
        }
    }

    /// The trimmed bytes of field `i` of the current line.
    fn cell(&self, i: usize) -> &[u8] {
        field_bytes(&self.buf, &self.scratch, self.fields[i])
    }

    fn at(&self, column: usize) -> CellAt {
        CellAt {
            line: self.line,
            column: column + 1,
            name: self.header[column].clone(),
        }
    }

    fn bad_cell(&self, column: usize, problem: &'static str) -> EventsError {
        EventsError::BadCell {
            file: self.file.clone(),
            at: self.at(column),
            value: String::from_utf8_lossy(self.cell(column)).into_owned(),
            problem,
        }
    }

    /// The next event in file order, or `None` at the end of the file.
    pub fn next_event(&mut self) -> Result<Option<Event>, EventsError> {
        if !self.next_line()? {
            if self.rows == 0 {
                return Err(EventsError::NoEvents {
                    file: self.file.clone(),
                    line: 1,
                });
            }
            return Ok(None);
        }
        if self.fields.len() != self.header.len() {
            return Err(EventsError::Ragged {
                file: self.file.clone(),
                line: self.line,
                expected: self.header.len(),
                found: self.fields.len(),
            });
        }
        let c = self.columns;
        let time_ms = self.read_time(c.time)?;
        let kind_cell = self.cell(c.event);
        let Some(kind) = self.kinds.iter().position(|k| k.as_slice() == kind_cell) else {
            return Err(EventsError::UnknownEvent {
                file: self.file.clone(),
                at: self.at(c.event),
                value: String::from_utf8_lossy(kind_cell).into_owned(),
                known: quoted_list(
                    &self
                        .kinds
                        .iter()
                        .map(|k| String::from_utf8_lossy(k))
                        .collect::<Vec<_>>(),
                ),
            });
        };
        let kind = kind as u8;
        let user = self.read_user(c.user)?;
        let item_cell = field_bytes(&self.buf, &self.scratch, self.fields[c.item]);
        if item_cell.is_empty() {
            return Err(self.bad_cell(c.item, "is empty; every event needs an item"));
        }
        let item = self.ids.items.intern(item_cell).0;
        let mut transaction = NO_TRANSACTION;
        if let Some(col) = c.transaction {
            let cell = field_bytes(&self.buf, &self.scratch, self.fields[col]);
            if kind == self.positive && !cell.is_empty() {
                transaction = self.ids.transactions.intern(cell).0;
            }
        }
        let mut value = 0.0;
        if let Some(col) = c.value {
            let cell = self.cell(col);
            if !cell.is_empty() {
                value = std::str::from_utf8(cell)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        self.bad_cell(col, "is not a finite number (the value column)")
                    })?;
            }
        }
        self.rows += 1;
        Ok(Some(Event {
            time_ms,
            user,
            kind,
            item,
            transaction,
            value,
        }))
    }

    fn read_time(&mut self, col: usize) -> Result<i64, EventsError> {
        if self.time_format == TimeFormat::Auto {
            self.time_format = TimeFormat::Auto.detect(self.cell(col));
        }
        self.time_format
            .parse_ms(self.cell(col))
            .ok_or_else(|| EventsError::BadTimestamp {
                file: self.file.clone(),
                at: self.at(col),
                value: String::from_utf8_lossy(self.cell(col)).into_owned(),
                format: self.time_format.to_string(),
            })
    }

    fn read_user(&mut self, col: usize) -> Result<u32, EventsError> {
        let cell = field_bytes(&self.buf, &self.scratch, self.fields[col]);
        if cell.is_empty() {
            return Err(self.bad_cell(col, "is empty; every event needs a user"));
        }
        let key = match self.user_ids {
            UserIds::Numeric => match std::str::from_utf8(cell)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(n) => n,
                None => {
                    return Err(self.bad_cell(
                        col,
                        "is not an unsigned integer user id (declare user_ids = text for text ids)",
                    ));
                }
            },
            UserIds::Text => u64::from(self.ids.users.len),
        };
        let (user, new) = if self.user_ids == UserIds::Numeric {
            let next = self.ids.users.len;
            let user = *self.ids.users.numbers.entry(key).or_insert(next);
            if user == next {
                self.ids.users.len += 1;
            }
            (user, user == next)
        } else {
            self.ids.users.intern(cell)
        };
        if new {
            self.ids.user_keys.push(key);
            if self.user_ids == UserIds::Text {
                self.ids
                    .user_names
                    .push(String::from_utf8_lossy(cell).into_owned());
            }
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Result<Vec<String>, ()> {
        let (mut fields, mut scratch) = (Vec::new(), Vec::new());
        split_line(text.as_bytes(), b',', &mut fields, &mut scratch)?;
        Ok(fields
            .iter()
            .map(|f| {
                let bytes = match *f {
                    Field::Line(a, b) => &text.as_bytes()[a..b],
                    Field::Scratch(a, b) => &scratch[a..b],
                };
                String::from_utf8(bytes.to_vec()).unwrap_or_default()
            })
            .collect())
    }

    #[test]
    fn splits_fields_like_rfc_4180_within_a_line() {
        assert_eq!(
            split("a,b,,c"),
            Ok(vec!["a".into(), "b".into(), String::new(), "c".into()])
        );
        assert_eq!(split("a,"), Ok(vec!["a".into(), String::new()]));
        assert_eq!(
            split("\"x,y\",\"say \"\"hi\"\"\",z"),
            Ok(vec!["x,y".into(), "say \"hi\"".into(), "z".into()])
        );
        assert_eq!(split("\"ab\"cd,e"), Ok(vec!["abcd".into(), "e".into()]));
        assert_eq!(split("a\"b,c"), Ok(vec!["a\"b".into(), "c".into()]));
        assert_eq!(split("\"open,c"), Err(()));
    }

    #[test]
    fn canonical_numbers_only_are_hashed_as_numbers() {
        assert_eq!(canonical_number(b"0"), Some(0));
        assert_eq!(canonical_number(b"123"), Some(123));
        assert_eq!(canonical_number(b"0123"), None);
        assert_eq!(canonical_number(b"-1"), None);
        assert_eq!(canonical_number(b"99999999999999999999"), None);
        let mut interner = Interner::default();
        assert_eq!(interner.intern(b"7"), (0, true));
        assert_eq!(interner.intern(b"07"), (1, true));
        assert_eq!(interner.intern(b"7"), (0, false));
        assert_eq!(interner.intern(b"x"), (2, true));
    }
}
