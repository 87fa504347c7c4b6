//! Cutting a CSV file into byte ranges of whole records, one per process of a distributed
//! run (notes/distributed.md §5): each process reads and parses only its range, and the
//! ranges in order hold the file's data records, each numbered with the line it starts on
//! in the whole file.
//!
//! The cut: `N + 1` nominal bounds `a_r = H + ⌊r·(L − H)/N⌋` between the header's end H and
//! the file's length L; each inner bound moves forward to the first record start at or
//! after it — a byte just after a `\n` with an even number of `"` before it (outside quotes
//! in RFC 4180, where an escaped quote is two). Each process counts the quotes and line ends
//! of its own nominal range only; with every range's counts (exchanged between processes,
//! or all counted here by [`plan_parts`]) it knows the counts before each bound.
//!
//! A file whose quotes are not RFC 4180 (a `"` inside an unquoted field) can make a cut
//! land inside a quoted field: the part before it then ends inside an open quote, which the
//! reader reports ([`crate::DataError::UnterminatedQuote`]) — never a wrong row.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

/// The quotes and line ends of a byte range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteCounts {
    /// Bytes `"`.
    pub quotes: u64,
    /// Bytes `\n`.
    pub newlines: u64,
}

impl ByteCounts {
    fn plus(self, other: ByteCounts) -> ByteCounts {
        ByteCounts {
            quotes: self.quotes + other.quotes,
            newlines: self.newlines + other.newlines,
        }
    }

    fn count(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.quotes += u64::from(b == b'"');
            self.newlines += u64::from(b == b'\n');
        }
    }
}

/// One process's part of a file: whole records, and the line ends before them (so its rows
/// keep their line numbers in the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    /// The part's bytes in the file.
    pub bytes: Range<u64>,
    /// Line ends in the file before `bytes.start`.
    pub newlines_before: u64,
}

/// The nominal bounds `a_0 = H ≤ a_1 ≤ … ≤ a_N = L` of `parts` parts of the data bytes
/// `[header_end, len)`.
pub fn nominal_bounds(header_end: u64, len: u64, parts: usize) -> Vec<u64> {
    let data = len.saturating_sub(header_end);
    (0..=parts as u64)
        .map(|r| header_end + (u128::from(data) * u128::from(r) / parts as u128) as u64)
        .collect()
}

fn open_at(path: &Path, at: u64) -> io::Result<BufReader<File>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(at))?;
    Ok(BufReader::with_capacity(1 << 17, file))
}

/// The quotes and line ends of `path`'s bytes `range`.
///
/// # Errors
/// The I/O error of opening or reading the file.
pub fn count_bytes(path: &Path, range: Range<u64>) -> io::Result<ByteCounts> {
    let mut input = open_at(path, range.start)?.take(range.end.saturating_sub(range.start));
    let mut counts = ByteCounts::default();
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(counts);
        }
        counts.count(buf);
        let n = buf.len();
        input.consume(n);
    }
}

/// The first record start at or after `from` (see the module), given the counts of the
/// bytes before `from`, with the line ends before it; the file's end when there is none.
fn record_start(path: &Path, from: u64, before: ByteCounts) -> io::Result<(u64, u64)> {
    if from == 0 {
        return Ok((0, 0));
    }
    let mut input = open_at(path, from - 1)?;
    let mut counts = before;
    let mut at = from;
    let mut prev = [0u8];
    if input.read(&mut prev)? == 0 || (prev[0] == b'\n' && counts.quotes.is_multiple_of(2)) {
        return Ok((from, counts.newlines));
    }
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok((at, counts.newlines));
        }
        for (i, &b) in buf.iter().enumerate() {
            counts.count(std::slice::from_ref(&b));
            if b == b'\n' && counts.quotes.is_multiple_of(2) {
                return Ok((at + i as u64 + 1, counts.newlines));
            }
        }
        let n = buf.len();
        at += n as u64;
        input.consume(n);
    }
}

/// Part `part` of `path` cut at the nominal `bounds` (from [`nominal_bounds`]), given the
/// counts of the header bytes `[0, a_0)` and of every nominal range `[a_r, a_{r+1})`.
///
/// # Errors
/// The I/O error of reading the file near the part's bounds.
///
/// # Panics
/// If `counts` does not have one entry per part (`bounds.len() − 1`) or `part` is not one.
pub fn locate_part(
    path: &Path,
    bounds: &[u64],
    header: ByteCounts,
    counts: &[ByteCounts],
    part: usize,
) -> io::Result<FilePart> {
    let parts = counts.len();
    assert!(
        bounds.len() == parts + 1 && part < parts,
        "part {part} of {parts}"
    );
    let before = |r: usize| counts[..r].iter().fold(header, |a, &c| a.plus(c));
    let (start, newlines_before) = match part {
        0 => (bounds[0], header.newlines),
        r => record_start(path, bounds[r], before(r))?,
    };
    let end = match part + 1 {
        r if r == parts => bounds[r],
        r => record_start(path, bounds[r], before(r))?.0,
    };
    Ok(FilePart {
        bytes: start..end.max(start),
        newlines_before,
    })
}

/// All `parts` parts of `path` (whose header ends at byte `header_end`), counted in this one
/// process: what the processes of a distributed run compute together.
///
/// # Errors
/// The I/O error of reading the file.
pub fn plan_parts(path: &Path, header_end: u64, parts: usize) -> io::Result<Vec<FilePart>> {
    let len = std::fs::metadata(path)?.len();
    let bounds = nominal_bounds(header_end, len, parts);
    let header = count_bytes(path, 0..header_end)?;
    let counts = bounds
        .windows(2)
        .map(|w| count_bytes(path, w[0]..w[1]))
        .collect::<io::Result<Vec<_>>>()?;
    (0..parts)
        .map(|r| locate_part(path, &bounds, header, &counts, r))
        .collect()
}
