//! Limits on hostile sizes (notes/reliability.md, "Inputs"): each is a clear error naming the
//! file, the line and the column, reached after reading at most about the limit — never an
//! out-of-memory kill. The endless inputs (`std::io::repeat`) prove the bound: without it
//! these tests would never end.

mod support;

use std::io::{Cursor, Read};

use glassbox_data::*;
use support::{Scratch, assert_message};

/// `head` followed by `tail` repeated forever.
fn endless(head: &str, tail: u8) -> impl Read + Send + 'static {
    Cursor::new(head.as_bytes().to_vec()).chain(std::io::repeat(tail))
}

fn small_limits() -> ReadOptions {
    ReadOptions {
        max_field_bytes: 64,
        max_columns: 8,
        max_categories: 3,
        ..ReadOptions::default()
    }
}

#[test]
fn defaults_are_documented_values() {
    let o = ReadOptions::default();
    assert_eq!(o.max_field_bytes, 1 << 20);
    assert_eq!(o.max_columns, 10_000);
    assert_eq!(o.max_categories, 100_000);
    assert_eq!(
        ReadOptions::with_delimiter(b';').max_columns,
        DEFAULT_MAX_COLUMNS
    );
}

#[test]
fn a_field_over_the_limit_names_line_and_column() {
    let long = "x".repeat(65);
    let text = format!("a,b\n1,2\n3,{long}\n");
    let err =
        RawTable::from_reader(Cursor::new(text.clone()), "long.csv", &small_limits()).unwrap_err();
    assert!(matches!(
        err,
        DataError::FieldTooLong {
            line: 3,
            column: 2,
            limit: 64,
            ..
        }
    ));
    assert_message(&err, &["long.csv", "line 3", "column 2", "64 bytes"]);
    // At the limit exactly, or with the limit raised, the file reads.
    let fits = ReadOptions {
        max_field_bytes: 65,
        ..small_limits()
    };
    let raw = RawTable::from_reader(Cursor::new(text), "long.csv", &fits).unwrap();
    assert_eq!(raw.column(1)[1], long);
}

#[test]
fn the_default_field_limit_is_one_mebibyte() {
    let text = format!("a,b\n1,{}\n", "y".repeat((1 << 20) + 1));
    let err =
        RawTable::from_reader(Cursor::new(text), "big.csv", &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(err, DataError::FieldTooLong { line: 2, column: 2, limit, .. } if limit == 1 << 20)
    );
}

#[test]
fn an_endless_unquoted_field_stops_at_the_limit() {
    let err = RawTable::from_reader(endless("a,b\n1,", b'z'), "endless.csv", &small_limits())
        .unwrap_err();
    assert!(matches!(
        err,
        DataError::FieldTooLong {
            line: 2,
            column: 2,
            ..
        }
    ));
    // With the default limit too (1 MiB, read in segments).
    let err = RawTable::from_reader(
        endless("a,b\n1,", b'z'),
        "endless.csv",
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DataError::FieldTooLong {
            line: 2,
            column: 2,
            ..
        }
    ));
}

#[test]
fn a_quote_never_closed_stops_at_the_limit_not_at_the_end_of_the_file() {
    // The open quote on line 3 would take in every later line.
    let mut text = String::from("a,b\n1,2\n3,\"open\n");
    for i in 0..100 {
        text.push_str(&format!("{i},{i}\n"));
    }
    let err = RawTable::from_reader(Cursor::new(text), "quote.csv", &small_limits()).unwrap_err();
    assert!(matches!(
        err,
        DataError::FieldTooLong {
            line: 3,
            column: 2,
            ..
        }
    ));
    assert_message(
        &err,
        &["quote.csv", "line 3", "column 2", "quote left open"],
    );
    // An endless stream of newlines inside the quote.
    let err = RawTable::from_reader(endless("a,b\n\"", b'\n'), "nl.csv", &ReadOptions::default())
        .unwrap_err();
    assert!(matches!(
        err,
        DataError::FieldTooLong {
            line: 2,
            column: 1,
            ..
        }
    ));
}

#[test]
fn too_many_columns_in_the_header_or_a_row() {
    let header = (0..9)
        .map(|j| format!("c{j}"))
        .collect::<Vec<_>>()
        .join(",");
    let err = RawTable::from_reader(
        Cursor::new(format!("{header}\n")),
        "wide.csv",
        &small_limits(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DataError::TooManyColumns {
            line: 1,
            limit: 8,
            ..
        }
    ));
    assert_message(
        &err,
        &["wide.csv", "line 1", "column 9", "more than 8 columns"],
    );
    // An endless row of delimiters.
    let err = RawTable::from_reader(
        endless("a,b\n", b','),
        "commas.csv",
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DataError::TooManyColumns {
            line: 2,
            limit: 10_000,
            ..
        }
    ));
    // 10,000 columns read with the default limit.
    let header = (0..10_000)
        .map(|j| format!("c{j}"))
        .collect::<Vec<_>>()
        .join(",");
    let row = vec!["1"; 10_000].join(",");
    let raw = RawTable::from_reader(
        Cursor::new(format!("{header}\n{row}\n")),
        "ok.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(raw.header().len(), 10_000);
}

#[test]
fn too_many_categories_names_the_first_value_beyond_the_limit() {
    let scratch = Scratch::new("too_many_categories");
    let path = scratch.file("cats.csv", "id,y\na,1\nb,0\na,1\nc,0\nNA,1\nd,0\n");
    let err = Table::read_infer(&path, &small_limits(), &SchemaOverrides::default()).unwrap_err();
    assert!(matches!(
        &err,
        DataError::TooManyCategories { line: 7, column: 1, limit: 3, name, .. } if name == "id"
    ));
    assert_message(
        &err,
        &["cats.csv", "line 7", "column 1", "\"id\"", "3 distinct"],
    );
    // The same limit in the chunked reader that predict uses.
    let (_, schema) =
        Table::read_infer(&path, &ReadOptions::default(), &SchemaOverrides::default()).unwrap();
    let chunk = ChunkReader::open(&path, &small_limits(), &schema, 100)
        .unwrap()
        .next()
        .unwrap();
    assert!(matches!(
        chunk,
        Err(DataError::TooManyCategories { line: 7, .. })
    ));
    // Four levels with a limit of four read.
    let four = ReadOptions {
        max_categories: 4,
        ..small_limits()
    };
    let (table, _) = Table::read_infer(&path, &four, &SchemaOverrides::default()).unwrap();
    assert_eq!(table.n_rows(), 6);
}

/// Lines longer than one read segment (1 MiB), with a CRLF or a lone CR where a segment
/// ends, read exactly as short lines do.
#[test]
fn lines_longer_than_a_segment_read_like_short_ones() {
    const SEGMENT: usize = 1 << 20;
    let wide = ReadOptions {
        max_field_bytes: 4 << 20,
        ..ReadOptions::default()
    };
    // (end of line 2, what its second field then holds after the x…x)
    for (tail, kept) in [("\r\n", ""), ("\rz\n", "\rz"), ("\"q\"\n", "\"q\"")] {
        for shift in [0usize, 1, 2] {
            // Line 2 is `1,` then x…x, so that its CR falls at the segment end, or one
            // byte either side of it.
            let filler = "x".repeat(SEGMENT - 3 + shift);
            let text = format!("a,b\r\n\r\n1,{filler}{tail}\n3,4\n");
            let raw = RawTable::from_reader(Cursor::new(text), "seg.csv", &wide)
                .unwrap_or_else(|e| panic!("tail {tail:?} shift {shift}: {e}"));
            assert_eq!(raw.column(0), ["1", "3"], "tail {tail:?} shift {shift}");
            assert_eq!(raw.column(1), [format!("{filler}{kept}"), "4".into()]);
            assert_eq!(raw.lines(), [3, 5], "tail {tail:?} shift {shift}");
        }
    }
}
