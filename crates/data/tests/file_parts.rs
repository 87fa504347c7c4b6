//! Cutting a CSV into byte-range parts (`glassbox_data::part`, notes/distributed.md §5): the
//! parts read in order give exactly the rows and line numbers of the whole file, for any
//! number of parts — through quoted line breaks, escaped quotes, CRLF, blank lines and a
//! last line without a line end — and a file whose quotes mislead the cut fails loudly
//! instead of giving other rows.

mod support;

use glassbox_data::part::plan_parts;
use glassbox_data::*;
use support::Scratch;

/// Every row of `reader` as `line: values`, in order; or the error.
fn rows_of(reader: Result<ChunkReader>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for chunk in reader? {
        let chunk = chunk?;
        for (i, line) in chunk.lines().iter().enumerate() {
            let values: Vec<String> = chunk
                .columns()
                .iter()
                .map(|c| format!("{:?}", c.value(i)))
                .collect();
            out.push(format!("{line}: {}", values.join(" | ")));
        }
    }
    Ok(out)
}

/// The rows of the whole file and, for 1..=7 parts, of the parts read one after another
/// (`Err` with the first part's error when a part fails).
fn whole_and_parts(path: &std::path::Path) -> (Vec<String>, Vec<Result<Vec<String>>>) {
    let options = ReadOptions::default();
    let (_, schema) = Table::read_infer(path, &options, &SchemaOverrides::default()).unwrap();
    let whole = rows_of(ChunkReader::open(path, &options, &schema, 3)).unwrap();
    let header_end = ChunkReader::open(path, &options, &schema, 3)
        .unwrap()
        .header_end();
    let by_parts = (1..=7)
        .map(|n| {
            let parts = plan_parts(path, header_end, n).unwrap();
            let mut next = header_end;
            let mut rows = Vec::new();
            for part in &parts {
                assert_eq!(part.bytes.start, next, "{n} parts: contiguous");
                next = part.bytes.end;
                rows.extend(rows_of(ChunkReader::open_part(
                    path, &options, &schema, 2, part,
                ))?);
            }
            assert_eq!(next, std::fs::metadata(path).unwrap().len());
            Ok(rows)
        })
        .collect();
    (whole, by_parts)
}

#[test]
fn parts_in_order_are_the_whole_file() {
    let scratch = Scratch::new("parts_in_order_are_the_whole_file");
    let text = "\n\"id\",note,x\r\n\
                1,\"two\nlines\",0.5\r\n\
                2,plain,1.5\n\
                \n\
                3,\"say \"\"hi\"\"\nand\n\nbye\",2.5\n\
                4,\"a,b\",3.5\n\
                5,last,4.5";
    let path = scratch.file("quoted.csv", text);
    let (whole, by_parts) = whole_and_parts(&path);
    assert_eq!(whole.len(), 5);
    assert!(whole[0].starts_with("3: "), "{whole:?}");
    assert!(whole[4].starts_with("12: "), "{whole:?}");
    for (n, rows) in by_parts.into_iter().enumerate() {
        assert_eq!(rows.unwrap(), whole, "{} parts", n + 1);
    }
}

#[test]
fn a_quote_inside_an_unquoted_field_fails_loudly_never_silently() {
    // `x"y` is a literal quote to the reader but flips the cut's quote parity, so some cut
    // lands inside the quoted field of row 2: the part before it ends in an open quote.
    let scratch = Scratch::new("a_quote_inside_an_unquoted_field_fails_loudly");
    let path = scratch.file("stray.csv", "a,b\n1,x\"y\n2,\"p\nq\"\n3,z\n4,w\n");
    let (whole, by_parts) = whole_and_parts(&path);
    assert_eq!(whole.len(), 4);
    let mut failed = 0;
    for (n, rows) in by_parts.into_iter().enumerate() {
        match rows {
            Ok(rows) => assert_eq!(rows, whole, "{} parts", n + 1),
            Err(DataError::UnterminatedQuote { .. }) => failed += 1,
            Err(e) => panic!("{} parts: {e}", n + 1),
        }
    }
    assert!(failed > 0, "the misleading quote never moved a cut");
}

#[test]
fn a_part_inside_the_header_is_refused() {
    let scratch = Scratch::new("a_part_inside_the_header_is_refused");
    let path = scratch.file("h.csv", "a,b\n1,2\n");
    let options = ReadOptions::default();
    let (_, schema) = Table::read_infer(&path, &options, &SchemaOverrides::default()).unwrap();
    let part = part::FilePart {
        bytes: 2..8,
        newlines_before: 0,
    };
    let Err(err) = ChunkReader::open_part(&path, &options, &schema, 2, &part) else {
        panic!("a part inside the header was read");
    };
    assert!(err.to_string().contains("inside the header"), "{err}");
}
