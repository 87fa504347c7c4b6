//! A `.csv.gz` reads as the same table as its plain `.csv`; a corrupt one fails with an error
//! that names the file (crates/data/src/input.rs).

use std::io::Write;
use std::path::PathBuf;

use flate2::Compression;
use flate2::write::GzEncoder;
use glassbox_data::{RawTable, ReadOptions};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-gz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).expect("in memory");
    encoder.finish().expect("in memory")
}

const TEXT: &str = "id,name,amount\r\n1,\"a, quoted\",2.5\n\n2,b,-3\n3,\"multi\nline\",7";

#[test]
fn a_gzip_file_and_its_plain_text_give_the_same_table() {
    let dir = temp_dir("same");
    let plain = dir.join("t.csv");
    let packed = dir.join("t.csv.gz");
    std::fs::write(&plain, TEXT).expect("write");
    std::fs::write(&packed, gzip(TEXT.as_bytes())).expect("write");
    let options = ReadOptions::default();
    let a = RawTable::read(&plain, &options).expect("plain reads");
    let b = RawTable::read(&packed, &options).expect("gzip reads");
    assert_eq!(a.header(), b.header());
    assert_eq!(a.n_rows(), 3);
    assert_eq!(a.lines(), b.lines(), "line numbers are those of the text");
    for j in 0..a.header().len() {
        assert_eq!(a.column(j), b.column(j));
    }
    assert_eq!(b.column(1)[2], "multi\nline");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_corrupt_gzip_file_is_an_error_naming_the_file() {
    let dir = temp_dir("corrupt");
    let mut bytes = gzip(TEXT.repeat(50).as_bytes());
    // Flip bytes in the middle of the deflate stream: the CRC or the stream breaks.
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8] {
        *b ^= 0xa5;
    }
    let path = dir.join("broken.csv.gz");
    std::fs::write(&path, &bytes).expect("write");
    let err = RawTable::read(&path, &ReadOptions::default()).expect_err("corrupt input fails");
    let message = err.to_string();
    assert!(message.contains("broken.csv.gz"), "{message}");
    assert!(message.contains("corrupt gzip data"), "{message}");
    std::fs::remove_dir_all(&dir).ok();
}
