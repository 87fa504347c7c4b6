//! CSV text → records of trimmed UTF-8 fields, with exact line numbers.
//!
//! The reader is written out here rather than delegated to the `csv` crate because the
//! error messages need the line on which each record *starts*, and `csv`'s record
//! positions are taken before blank lines are skipped and before a CRLF's `\n` is consumed
//! (notes/data.md §1 shows the probe). Its quoting rules are those of the `csv` crate with
//! default settings (RFC 4180 with doubled quotes); a property test in this module checks
//! that both read the same fields from text written by `csv::Writer`.
//!
//! Rules (notes/data.md §1):
//! - A UTF-8 byte-order mark at the start of the file is skipped.
//! - Lines end with LF or CRLF; a final line without a newline is read like any other. A lone
//!   CR is data.
//! - Blank lines (nothing but the line ending) are skipped, but still counted for line
//!   numbers.
//! - A field that starts with `"` is quoted: it may hold delimiters, CR and LF, and `""`
//!   stands for one `"`. After the closing quote, bytes up to the next delimiter are kept
//!   as they are. In an unquoted field a `"` is an ordinary character.
//! - Every field and header name is trimmed of surrounding whitespace, quoted or not.
//! - The delimiter is given, or detected from the first non-blank line by
//!   [`detect_delimiter`].

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::error::{DataError, Result};
use super::input::open_input;

/// How to read a CSV file, and the limits that turn a hostile size into an error rather than
/// an out-of-memory kill (notes/reliability.md, "Inputs").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The field delimiter (one ASCII byte, not `"`, CR or LF). `None` detects it from
    /// the header line with [`detect_delimiter`].
    pub delimiter: Option<u8>,
    /// The longest field, in bytes before trimming ([`DataError::FieldTooLong`]). Also
    /// bounds a quoted field that is never closed, which would otherwise take in the rest
    /// of the file.
    pub max_field_bytes: usize,
    /// The most fields in one record, header included ([`DataError::TooManyColumns`]).
    pub max_columns: usize,
    /// The most distinct values in one categorical column of a table
    /// ([`DataError::TooManyCategories`]); each becomes a one-hot feature.
    pub max_categories: usize,
}

/// Default of [`ReadOptions::max_field_bytes`]: 1 MiB.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1 << 20;
/// Default of [`ReadOptions::max_columns`].
pub const DEFAULT_MAX_COLUMNS: usize = 10_000;
/// Default of [`ReadOptions::max_categories`]. The largest real vocabularies of tabular data
/// fit (postal codes, ~42,000 in the US; ICD-10 diagnosis codes, ~70,000); a column with more
/// distinct values is an identifier, whose one-hot levels would each see too few rows to
/// learn a weight, and whose one-hot block (4 bytes × rows × levels) is what runs out of memory.
pub const DEFAULT_MAX_CATEGORIES: usize = 100_000;

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            delimiter: None,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_columns: DEFAULT_MAX_COLUMNS,
            max_categories: DEFAULT_MAX_CATEGORIES,
        }
    }
}

impl ReadOptions {
    /// Options with an explicit delimiter (and the default limits).
    pub fn with_delimiter(delimiter: u8) -> Self {
        Self {
            delimiter: Some(delimiter),
            ..Self::default()
        }
    }
}

/// The delimiters [`detect_delimiter`] chooses from, in order of preference on a tie.
pub const CANDIDATE_DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// Detects the delimiter from the header line.
///
/// Rule: count each of `,` `;` and TAB outside double-quoted stretches of `line`; the most
/// frequent wins; ties go to the earlier of comma, semicolon, tab; a line with none of them
/// (a one-column file) is read with a comma. Only the header is consulted, because the
/// header is the one line guaranteed to hold no data (a decimal comma in a
/// semicolon-separated file cannot fool it).
pub fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; CANDIDATE_DELIMITERS.len()];
    let mut in_quotes = false;
    for &b in line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && let Some(k) = CANDIDATE_DELIMITERS.iter().position(|&d| d == b) {
            counts[k] += 1;
        }
    }
    let mut best = 0;
    for k in 1..counts.len() {
        if counts[k] > counts[best] {
            best = k;
        }
    }
    CANDIDATE_DELIMITERS[best]
}

fn check_delimiter(d: u8) -> Result<u8> {
    if d.is_ascii() && d != b'"' && d != b'\r' && d != b'\n' {
        Ok(d)
    } else {
        Err(DataError::BadDelimiter {
            delimiter: char::from(d),
        })
    }
}

/// Where the field parser is inside the current field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing of the field read yet.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just read a `"` inside a quoted field: `"` next means a literal quote, anything
    /// else means the quote closed the field.
    QuoteInQuoted,
    /// After the closing quote: bytes are kept as they are up to the delimiter.
    AfterQuoted,
}

/// A limit a record broke while being split ([`FieldParser::feed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// Field `column` (1-based) is longer than the field limit.
    Field { column: usize },
    /// The record has more fields than the column limit.
    Columns,
}

/// Splits one record (one or more physical lines, each fed in one or more segments) into
/// fields. Its buffers are kept from record to record ([`FieldParser::reset`]): the fields'
/// bytes one after the other and where each ends, so reading a record allocates nothing
/// once the buffers have grown to the longest record.
struct FieldParser {
    delimiter: u8,
    max_field_bytes: usize,
    max_columns: usize,
    state: State,
    /// The bytes of the record's fields so far, one after the other.
    bytes: Vec<u8>,
    /// `ends[j]` is where field `j` ends in `bytes` (field `j + 1` starts there).
    ends: Vec<usize>,
}

impl FieldParser {
    fn new(delimiter: u8, max_field_bytes: usize, max_columns: usize) -> Self {
        Self {
            delimiter,
            max_field_bytes,
            max_columns,
            state: State::FieldStart,
            bytes: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Ready for the next record (the buffers keep their capacity).
    fn reset(&mut self) {
        self.state = State::FieldStart;
        self.bytes.clear();
        self.ends.clear();
    }

    /// The fields of the record read, as raw bytes.
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.bytes[a..b])
    }

    /// The bytes of the field being read.
    fn field_len(&self) -> usize {
        self.bytes.len() - self.ends.last().copied().unwrap_or(0)
    }

    /// Feeds one segment of a physical line: the whole line with its LF or CRLF, or a piece
    /// of a long line (`complete` false; a piece never ends with CR, see
    /// [`Records::read_segment`]), or the last line of the input without a line ending
    /// (`complete` true). Returns `true` when the record ends with this segment, `false`
    /// when it continues (an open quote, or more of the line to come).
    fn feed(&mut self, line: &[u8], complete: bool) -> Result<bool, Overflow> {
        let n = line.len();
        let mut i = 0;
        while i < n {
            let b = line[i];
            // The line ending: LF, or CR immediately followed by a final LF.
            let is_end = b == b'\n' || (b == b'\r' && i + 2 == n && line[n - 1] == b'\n');
            match self.state {
                State::Quoted => {
                    if b == b'"' {
                        self.state = State::QuoteInQuoted;
                    } else {
                        self.bytes.push(b);
                    }
                }
                State::QuoteInQuoted if b == b'"' => {
                    self.bytes.push(b'"');
                    self.state = State::Quoted;
                }
                _ if is_end => {
                    self.end_field()?;
                    return Ok(true);
                }
                _ if b == self.delimiter => self.end_field()?,
                State::FieldStart if b == b'"' => self.state = State::Quoted,
                State::FieldStart | State::Unquoted => {
                    self.bytes.push(b);
                    self.state = State::Unquoted;
                }
                State::QuoteInQuoted | State::AfterQuoted => {
                    self.bytes.push(b);
                    self.state = State::AfterQuoted;
                }
            }
            i += 1;
        }
        // Checked once a segment (a segment is at most SEGMENT_BYTES), so the per-byte loop
        // stays as it was; the field is then at most the limit plus one segment.
        self.check_field()?;
        // End of input without a line ending: the record is complete unless a quote is open.
        if self.state == State::Quoted || !complete {
            Ok(false)
        } else {
            self.end_field()?;
            Ok(true)
        }
    }

    fn check_field(&self) -> Result<(), Overflow> {
        if self.field_len() > self.max_field_bytes {
            return Err(Overflow::Field {
                column: self.ends.len() + 1,
            });
        }
        Ok(())
    }

    fn end_field(&mut self) -> Result<(), Overflow> {
        self.check_field()?;
        if self.ends.len() >= self.max_columns {
            return Err(Overflow::Columns);
        }
        self.ends.push(self.bytes.len());
        self.state = State::FieldStart;
        Ok(())
    }
}

/// The most bytes read at once from a physical line. A longer line is fed to the parser in
/// segments, so no line, however long, is held whole; lines up to this size (every line
/// of real data) are read in one piece, as before the limits.
const SEGMENT_BYTES: usize = 1 << 20;

/// Physical lines → records.
struct Records {
    input: Box<dyn BufRead + Send>,
    delimiter: u8,
    max_field_bytes: usize,
    max_columns: usize,
    /// Physical lines started so far.
    line: u64,
    /// Bytes consumed from `input` so far (where the next segment starts).
    offset: u64,
    /// The current segment: a whole line or a piece of one.
    buf: Vec<u8>,
    /// Whether `buf` ends its line (with LF, or at the end of the input).
    complete: bool,
    /// A segment already read (the header line, read to detect the delimiter).
    pending: bool,
    file: String,
    /// The last record read ([`Records::next_record`]), kept for its buffers.
    parser: FieldParser,
}

fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\n" | b"\r\n")
}

impl Records {
    fn new(input: Box<dyn BufRead + Send>, file: String, options: &ReadOptions) -> Self {
        Self {
            input,
            delimiter: b',',
            max_field_bytes: options.max_field_bytes,
            max_columns: options.max_columns,
            line: 0,
            offset: 0,
            buf: Vec::new(),
            complete: true,
            pending: false,
            file,
            parser: FieldParser::new(b',', options.max_field_bytes, options.max_columns),
        }
    }

    /// Reads the next segment of a physical line into `self.buf` (at most
    /// [`SEGMENT_BYTES`], plus a CR's LF); `false` at end of input. A segment that does not
    /// end its line never ends with CR, so the parser always sees a CRLF whole.
    fn read_segment(&mut self) -> Result<bool> {
        if self.pending {
            self.pending = false;
            return Ok(true);
        }
        let starts_line = self.complete;
        let io_error = |source| DataError::Io {
            file: self.file.clone(),
            source,
        };
        self.buf.clear();
        let n = (&mut self.input)
            .take(SEGMENT_BYTES as u64)
            .read_until(b'\n', &mut self.buf)
            .map_err(io_error)?;
        if n == 0 {
            return Ok(false);
        }
        self.offset += n as u64;
        self.complete = self.buf.ends_with(b"\n") || n < SEGMENT_BYTES;
        if !self.complete {
            let next = self.input.fill_buf().map_err(io_error)?;
            match next.first() {
                None => self.complete = true,
                Some(b'\n') if self.buf.ends_with(b"\r") => {
                    self.buf.push(b'\n');
                    self.input.consume(1);
                    self.offset += 1;
                    self.complete = true;
                }
                Some(_) => {}
            }
        }
        if starts_line {
            self.line += 1;
        }
        Ok(true)
    }

    /// The error for a limit broken by the record that starts on line `start`.
    fn overflow(&self, overflow: Overflow, start: u64) -> DataError {
        match overflow {
            Overflow::Field { column } => DataError::FieldTooLong {
                file: self.file.clone(),
                line: start,
                column,
                limit: self.max_field_bytes,
            },
            Overflow::Columns => DataError::TooManyColumns {
                file: self.file.clone(),
                line: start,
                limit: self.max_columns,
            },
        }
    }

    /// Reads the next record into `self.parser`; its line, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<u64>> {
        loop {
            if !self.read_segment()? {
                return Ok(None);
            }
            if !is_blank(&self.buf) {
                break;
            }
        }
        let start = self.line;
        self.parser.delimiter = self.delimiter;
        self.parser.reset();
        loop {
            match self.parser.feed(&self.buf, self.complete) {
                Ok(true) => break,
                Ok(false) => {}
                Err(overflow) => return Err(self.overflow(overflow, start)),
            }
            if !self.read_segment()? {
                return Err(DataError::UnterminatedQuote {
                    file: self.file.clone(),
                    line: start,
                });
            }
        }
        Ok(Some(start))
    }
}

/// A CSV source positioned after its header: the streaming core of [`RawTable::read`] and
/// of the chunked reader.
pub(crate) struct CsvSource {
    records: Records,
    max_categories: usize,
    header: Vec<String>,
    header_line: u64,
    /// The byte of the input after the header record.
    header_end: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl CsvSource {
    /// Opens `path` and reads its header.
    pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<Self> {
        let file = path.display().to_string();
        let input = open_input(path).map_err(|source| DataError::Io {
            file: file.clone(),
            source,
        })?;
        Self::from_reader(input, file, options)
    }

    /// Reads the header from `input`; `file` names the source in messages.
    pub(crate) fn from_reader(
        input: impl BufRead + Send + 'static,
        file: String,
        options: &ReadOptions,
    ) -> Result<Self> {
        let mut records = Records::new(Box::new(input), file, options);
        // The first non-blank line, without a leading byte-order mark.
        loop {
            if !records.read_segment()? {
                return Err(DataError::Empty { file: records.file });
            }
            if records.line == 1 && records.buf.starts_with(BOM) {
                records.buf.drain(..BOM.len());
            }
            if !records.buf.is_empty() && !is_blank(&records.buf) {
                break;
            }
        }
        records.delimiter = match options.delimiter {
            Some(d) => check_delimiter(d)?,
            None => detect_delimiter(&records.buf),
        };
        records.pending = true;
        let Some(header_line) = records.next_record()? else {
            return Err(DataError::Empty { file: records.file });
        };
        let mut header = Vec::with_capacity(records.parser.ends.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (j, bytes) in records.parser.fields().enumerate() {
            let name = std::str::from_utf8(bytes)
                .map_err(|_| DataError::InvalidUtf8 {
                    file: records.file.clone(),
                    line: header_line,
                    column: j + 1,
                    name: String::new(),
                })?
                .trim()
                .to_string();
            if name.is_empty() {
                return Err(DataError::EmptyHeaderName {
                    file: records.file.clone(),
                    line: header_line,
                    column: j + 1,
                });
            }
            if let Some(&first) = seen.get(&name) {
                return Err(DataError::DuplicateHeader {
                    file: records.file.clone(),
                    line: header_line,
                    name,
                    first,
                    second: j + 1,
                });
            }
            seen.insert(name.clone(), j + 1);
            header.push(name);
        }
        Ok(Self {
            header_end: records.offset,
            records,
            max_categories: options.max_categories,
            header,
            header_line,
        })
    }

    pub(crate) fn file(&self) -> &str {
        &self.records.file
    }

    /// The byte of the input after the header record.
    pub(crate) fn header_end(&self) -> u64 {
        self.header_end
    }

    /// Reads the data rows from `input` from now on: a part of the file that starts at a
    /// record boundary after the header, with `newlines_before` line ends before it (so
    /// lines keep their numbers in the whole file).
    pub(crate) fn continue_with(
        &mut self,
        input: impl BufRead + Send + 'static,
        newlines_before: u64,
    ) {
        let r = &mut self.records;
        r.input = Box::new(input);
        r.line = newlines_before;
        r.buf.clear();
        r.complete = true;
        r.pending = false;
    }

    pub(crate) fn header(&self) -> &[String] {
        &self.header
    }

    pub(crate) fn delimiter(&self) -> u8 {
        self.records.delimiter
    }

    pub(crate) fn header_line(&self) -> u64 {
        self.header_line
    }

    pub(crate) fn max_categories(&self) -> usize {
        self.max_categories
    }

    /// The next data row as trimmed strings, with its line; `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>> {
        let Some(line) = self.next_fields()? else {
            return Ok(None);
        };
        (0..self.header.len())
            .map(|j| self.field(j, line).map(str::to_string))
            .collect::<Result<_>>()
            .map(|row| Some((line, row)))
    }

    /// Reads the next data row, whose fields [`CsvSource::field`] then lends (no copy);
    /// its line, or `None` at the end.
    ///
    /// Errors: those of reading, and [`DataError::Ragged`] for a row of another width than
    /// the header.
    pub(crate) fn next_fields(&mut self) -> Result<Option<u64>> {
        let Some(line) = self.records.next_record()? else {
            return Ok(None);
        };
        let found = self.records.parser.ends.len();
        if found != self.header.len() {
            return Err(DataError::Ragged {
                file: self.records.file.clone(),
                line,
                expected: self.header.len(),
                found,
            });
        }
        Ok(Some(line))
    }

    /// Field `j` (0-based) of the row [`CsvSource::next_fields`] read from `line`, trimmed.
    ///
    /// Errors: [`DataError::InvalidUtf8`].
    pub(crate) fn field(&self, j: usize, line: u64) -> Result<&str> {
        let parser = &self.records.parser;
        let start = if j == 0 { 0 } else { parser.ends[j - 1] };
        let bytes = &parser.bytes[start..parser.ends[j]];
        let text = std::str::from_utf8(bytes).map_err(|_| DataError::InvalidUtf8 {
            file: self.records.file.clone(),
            line,
            column: j + 1,
            name: self.header[j].clone(),
        })?;
        Ok(text.trim())
    }

    /// Reads up to `max_rows` rows (all rows if `None`) into a [`RawTable`]; `None` when no
    /// row is left.
    pub(crate) fn read_rows(&mut self, max_rows: Option<usize>) -> Result<Option<RawTable>> {
        let width = self.header.len();
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); width];
        let mut lines = Vec::new();
        while max_rows.is_none_or(|m| lines.len() < m) {
            let Some((line, row)) = self.next_row()? else {
                break;
            };
            for (column, cell) in columns.iter_mut().zip(row) {
                column.push(cell);
            }
            lines.push(line);
        }
        if lines.is_empty() {
            return Ok(None);
        }
        Ok(Some(RawTable {
            file: self.records.file.clone(),
            delimiter: self.records.delimiter,
            header: self.header.clone(),
            header_line: self.header_line,
            columns,
            lines,
            max_categories: self.max_categories,
        }))
    }
}

/// A CSV file as text: header names and trimmed cells, column by column, with the line of
/// every row. The input to [`Schema::infer`](super::Schema::infer) and
/// [`Table::from_raw`](super::Table::from_raw).
#[derive(Debug, Clone, PartialEq)]
pub struct RawTable {
    file: String,
    delimiter: u8,
    header: Vec<String>,
    header_line: u64,
    /// `columns[j][i]` is row `i` of column `j`.
    columns: Vec<Vec<String>>,
    /// `lines[i]` is the 1-based line on which row `i` starts.
    lines: Vec<u64>,
    /// [`ReadOptions::max_categories`] of the read, applied when the table is parsed.
    max_categories: usize,
}

impl RawTable {
    /// Reads a whole CSV file.
    ///
    /// Errors: [`DataError::Io`] (missing file…), [`DataError::Empty`],
    /// [`DataError::NoDataRows`], [`DataError::Ragged`], [`DataError::UnterminatedQuote`],
    /// [`DataError::InvalidUtf8`], [`DataError::EmptyHeaderName`],
    /// [`DataError::DuplicateHeader`], [`DataError::BadDelimiter`].
    pub fn read(path: impl AsRef<Path>, options: &ReadOptions) -> Result<RawTable> {
        let mut source = CsvSource::open(path.as_ref(), options)?;
        Self::read_all(&mut source)
    }

    /// Reads CSV text from any reader; `name` stands for the file in messages.
    pub fn from_reader(
        input: impl Read + Send + 'static,
        name: &str,
        options: &ReadOptions,
    ) -> Result<RawTable> {
        let mut source = CsvSource::from_reader(BufReader::new(input), name.to_string(), options)?;
        Self::read_all(&mut source)
    }

    /// A table of cells given column by column (`columns[j][i]` is row `i` of column `j`),
    /// as a request body decoded from another format (JSON rows) arrives; `name` stands for
    /// the file in messages and `lines[i]` is what messages call the line of row `i`. Cells
    /// are taken as they are (a caller that wants CSV's rules trims them). The limits of
    /// [`ReadOptions`] apply to what reading text can produce, so only `max_categories` is
    /// used here.
    ///
    /// Errors: [`DataError::NoDataRows`] without rows; [`DataError::Ragged`] when a column's
    /// length differs from `lines`; [`DataError::EmptyHeaderName`] and
    /// [`DataError::DuplicateHeader`] as for a file's header.
    pub fn from_columns(
        name: &str,
        header: Vec<String>,
        columns: Vec<Vec<String>>,
        lines: Vec<u64>,
        options: &ReadOptions,
    ) -> Result<RawTable> {
        if lines.is_empty() {
            return Err(DataError::NoDataRows {
                file: name.to_string(),
            });
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, h) in header.iter().enumerate() {
            if h.trim().is_empty() {
                return Err(DataError::EmptyHeaderName {
                    file: name.to_string(),
                    line: 1,
                    column: j + 1,
                });
            }
            if let Some(&first) = seen.get(h.as_str()) {
                return Err(DataError::DuplicateHeader {
                    file: name.to_string(),
                    line: 1,
                    name: h.clone(),
                    first,
                    second: j + 1,
                });
            }
            seen.insert(h, j + 1);
        }
        if let Some(c) = columns.iter().find(|c| c.len() != lines.len()) {
            return Err(DataError::Ragged {
                file: name.to_string(),
                line: 1,
                expected: lines.len(),
                found: c.len(),
            });
        }
        if columns.len() != header.len() {
            return Err(DataError::Ragged {
                file: name.to_string(),
                line: 1,
                expected: header.len(),
                found: columns.len(),
            });
        }
        Ok(RawTable {
            file: name.to_string(),
            delimiter: b',',
            header,
            header_line: 1,
            columns,
            lines,
            max_categories: options.max_categories,
        })
    }

    fn read_all(source: &mut CsvSource) -> Result<RawTable> {
        source
            .read_rows(None)?
            .ok_or_else(|| DataError::NoDataRows {
                file: source.file().to_string(),
            })
    }

    /// The same rows with other columns (derived ones appended: `derived.rs`).
    pub(crate) fn with_columns(&self, header: Vec<String>, columns: Vec<Vec<String>>) -> RawTable {
        RawTable {
            header,
            columns,
            ..self.clone_without_columns()
        }
    }

    fn clone_without_columns(&self) -> RawTable {
        RawTable {
            file: self.file.clone(),
            delimiter: self.delimiter,
            header: Vec::new(),
            header_line: self.header_line,
            columns: Vec::new(),
            lines: self.lines.clone(),
            max_categories: self.max_categories,
        }
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The delimiter used (given or detected).
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The header names, trimmed, in file order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The line of the header (1 unless blank lines precede it).
    pub fn header_line(&self) -> u64 {
        self.header_line
    }

    /// Number of data rows.
    pub fn n_rows(&self) -> usize {
        self.lines.len()
    }

    /// The cells of column `j` (0-based, file order).
    ///
    /// **Panics** if `j >= self.header().len()`.
    pub fn column(&self, j: usize) -> &[String] {
        &self.columns[j]
    }

    /// The 1-based line on which each row starts.
    pub fn lines(&self) -> &[u64] {
        &self.lines
    }

    /// The most distinct values a categorical column may have when this table is parsed
    /// ([`ReadOptions::max_categories`] of the read).
    pub fn max_categories(&self) -> usize {
        self.max_categories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str, delimiter: u8) -> Vec<(u64, Vec<String>)> {
        let mut source = CsvSource::from_reader(
            std::io::Cursor::new(text.as_bytes().to_vec()),
            "mem.csv".into(),
            &ReadOptions::with_delimiter(delimiter),
        )
        .unwrap();
        let mut out = vec![(source.header_line, source.header().to_vec())];
        while let Some(row) = source.next_row().unwrap() {
            out.push(row);
        }
        out
    }

    #[test]
    fn detection_counts_outside_quotes_and_breaks_ties_in_order() {
        assert_eq!(detect_delimiter(b"a;b;c\n"), b';');
        assert_eq!(detect_delimiter(b"a\tb\tc\r\n"), b'\t');
        assert_eq!(detect_delimiter(b"\"x,y,z\";b;c\n"), b';');
        assert_eq!(detect_delimiter(b"a,b;c\n"), b',');
        assert_eq!(detect_delimiter(b"a;b\tc\n"), b';');
        assert_eq!(detect_delimiter(b"only\n"), b',');
    }

    #[test]
    fn line_numbers_count_blank_lines_crlf_and_multiline_fields() {
        let rows = fields("a,b\r\n1,2\r\n\r\n\"x\r\ny\",3\r\n\n4,5", b',');
        assert_eq!(
            rows,
            vec![
                (1, vec!["a".into(), "b".into()]),
                (2, vec!["1".into(), "2".into()]),
                (4, vec!["x\r\ny".into(), "3".into()]),
                (7, vec!["4".into(), "5".into()]),
            ]
        );
    }

    #[test]
    fn quotes_follow_the_csv_crate() {
        // `""` inside quotes is one quote; bytes after a closing quote are kept; a quote
        // inside an unquoted field is an ordinary character.
        let rows = fields("h1;h2;h3\n\"a\"\"b\";\"c\"d;e\"f\n", b';');
        assert_eq!(rows[1].1, vec!["a\"b", "cd", "e\"f"]);
    }

    #[test]
    fn cells_given_by_column_are_the_table_their_csv_reads_as() {
        let text = "a,b\n1,x\n2,y\n";
        let read =
            RawTable::from_reader(std::io::Cursor::new(text), "body", &ReadOptions::default())
                .unwrap();
        let given = RawTable::from_columns(
            "body",
            vec!["a".into(), "b".into()],
            vec![vec!["1".into(), "2".into()], vec!["x".into(), "y".into()]],
            vec![2, 3],
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(read, given);
        let short = RawTable::from_columns(
            "body",
            vec!["a".into(), "b".into()],
            vec![vec!["1".into()], vec!["x".into(), "y".into()]],
            vec![2, 3],
            &ReadOptions::default(),
        );
        assert!(matches!(short, Err(DataError::Ragged { .. })));
        let twice = RawTable::from_columns(
            "body",
            vec!["a".into(), "a".into()],
            vec![vec!["1".into()], vec!["2".into()]],
            vec![2],
            &ReadOptions::default(),
        );
        assert!(matches!(twice, Err(DataError::DuplicateHeader { .. })));
    }

    proptest::proptest! {
        /// Text written by `csv::Writer` reads back as the same fields, for every delimiter
        /// and line ending, and the `csv` reader agrees field for field.
        #[test]
        fn csv_writer_round_trip(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-cé ,;\t\"\r\n1.]{0,6}", 3), 1..6),
            delim in proptest::sample::select(vec![b',', b';', b'\t']),
            crlf in proptest::bool::ANY,
            style in proptest::sample::select(vec![
                csv::QuoteStyle::Always, csv::QuoteStyle::Necessary, csv::QuoteStyle::NonNumeric]),
        ) {
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delim)
                .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                .quote_style(style)
                .from_writer(Vec::new());
            writer.write_record(["h1", "h2", "h3"]).unwrap();
            for row in &rows {
                writer.write_record(row).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let text = String::from_utf8(bytes.clone()).unwrap();
            let ours = fields(&text, delim);
            let mut theirs = csv::ReaderBuilder::new()
                .delimiter(delim)
                .has_headers(false)
                .from_reader(bytes.as_slice());
            let theirs: Vec<Vec<String>> = theirs
                .records()
                .map(|r| r.unwrap().iter().map(|f| f.trim().to_string()).collect())
                .collect();
            proptest::prop_assert_eq!(ours.len(), rows.len() + 1);
            for (i, row) in rows.iter().enumerate() {
                let want: Vec<String> = row.iter().map(|f| f.trim().to_string()).collect();
                proptest::prop_assert_eq!(&ours[i + 1].1, &want);
                proptest::prop_assert_eq!(&theirs[i + 1], &want);
            }
        }
        /// On any text made of letters, delimiters, quotes, LF and CRLF, our records are
        /// the `csv` crate's records (blank lines skipped, quotes handled alike), and each
        /// starts on the line where its first byte is.
        #[test]
        fn records_match_the_csv_crate(
            tokens in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "é", ",", "\"", "\n", "\r\n", " "]),
                0..40),
        ) {
            let text: String = tokens.concat();
            let mut records = Records::new(
                Box::new(std::io::Cursor::new(text.clone().into_bytes())),
                "mem.csv".into(),
                &ReadOptions::default(),
            );
            let mut ours = Vec::new();
            loop {
                match records.next_record() {
                    Ok(Some(line)) => ours.push((line, records.parser.fields().map(<[u8]>::to_vec).collect::<Vec<_>>())),
                    Ok(None) => break,
                    // The csv crate closes a quote left open at the end of input; we refuse it.
                    Err(DataError::UnterminatedQuote { .. }) => return Ok(()),
                    Err(e) => panic!("{e}"),
                }
            }
            // The csv crate's records, and where each starts: its end offsets are exact,
            // and a record starts at the first byte after the previous end that is not
            // CR or LF (blank lines and terminators are made of nothing else).
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            let mut theirs: Vec<Vec<Vec<u8>>> = Vec::new();
            let mut starts = Vec::new();
            let mut end = 0usize;
            let mut record = csv::ByteRecord::new();
            while reader.read_byte_record(&mut record).unwrap() {
                let start = end
                    + text.as_bytes()[end..]
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                starts.push(1 + text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() as u64);
                theirs.push(record.iter().map(<[u8]>::to_vec).collect());
                end = reader.position().byte() as usize;
            }
            let fields: Vec<Vec<Vec<u8>>> = ours.iter().map(|r| r.1.clone()).collect();
            proptest::prop_assert_eq!(&fields, &theirs);
            let lines: Vec<u64> = ours.iter().map(|r| r.0).collect();
            proptest::prop_assert_eq!(lines, starts);
        }
    }
}
