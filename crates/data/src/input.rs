//! Opening an input file: the one place that decides how bytes come off the disk, so that
//! every command reading a CSV (tables, event logs, transaction logs) reads a `.csv.gz` the
//! same way as a plain `.csv`.
//!
//! A file is gzip when its first two bytes are the gzip magic `1f 8b` (RFC 1952), whatever
//! its name: a renamed file still reads. It is then decompressed while it is read
//! (streamed: memory does not grow with the file), members one after another like `zcat`
//! does. A corrupt or truncated stream surfaces as an I/O error whose message says so;
//! the caller names the file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

/// The two bytes every gzip member starts with (RFC 1952 §2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reader buffer size: large enough that a big log is read in few system calls.
const BUFFER_BYTES: usize = 1 << 17;

/// Opens `path` for buffered reading, decompressing it on the fly when it is gzip.
///
/// # Errors
/// The I/O error of opening or first reading the file. Errors met later while reading a
/// gzip file come from [`Read::read`] with a message starting "corrupt gzip data".
pub fn open_input(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut plain = BufReader::with_capacity(BUFFER_BYTES, File::open(path)?);
    if starts_with_gzip_magic(&mut plain)? {
        let decoder = MultiGzDecoder::new(plain);
        Ok(Box::new(BufReader::with_capacity(
            BUFFER_BYTES,
            CorruptGzipMessage(decoder),
        )))
    } else {
        Ok(Box::new(plain))
    }
}

/// Whether the file at `path` is gzip (starts with the gzip magic): its bytes are then not
/// its text, so it cannot be cut into byte ranges.
///
/// # Errors
/// The I/O error of opening or reading the file.
pub fn is_gzip(path: &Path) -> io::Result<bool> {
    starts_with_gzip_magic(&mut BufReader::with_capacity(2, File::open(path)?))
}

/// Whether the buffered input starts with the gzip magic; reads at most what one fill
/// gives and consumes nothing. A file shorter than two bytes is not gzip.
fn starts_with_gzip_magic(input: &mut impl BufRead) -> io::Result<bool> {
    let head = input.fill_buf()?;
    if head.len() >= 2 {
        return Ok(head[..2] == GZIP_MAGIC);
    }
    // A one-byte first fill (rare: pipes) cannot hold the magic; look no further.
    Ok(false)
}

/// Adds "corrupt gzip data" to the decoder's errors, which on their own ("invalid gzip
/// header", "corrupt deflate stream", an unexpected end of file) do not say which layer
/// failed.
struct CorruptGzipMessage<R>(R);

impl<R: Read> Read for CorruptGzipMessage<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("corrupt gzip data ({e})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("in memory");
        encoder.finish().expect("in memory")
    }

    fn read_all(path: &Path) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        open_input(path)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn gzip_and_plain_files_read_as_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("glassbox-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let text = b"a,b\n1,2\n3,\"x,y\"\n";
        let plain = dir.join("t.csv");
        let packed = dir.join("t.csv.gz");
        std::fs::write(&plain, text).expect("write");
        // Two members back to back, as `cat a.gz b.gz` makes: both are read.
        let mut two = gzip(&text[..8]);
        two.extend(gzip(&text[8..]));
        std::fs::write(&packed, two).expect("write");
        assert_eq!(read_all(&plain).expect("plain"), text);
        assert_eq!(read_all(&packed).expect("gzip"), text);
        let one_byte = dir.join("one");
        std::fs::write(&one_byte, [0x1f]).expect("write");
        assert_eq!(read_all(&one_byte).expect("one byte"), [0x1f]);
        let truncated = dir.join("cut.csv.gz");
        let whole = gzip(text);
        std::fs::write(&truncated, &whole[..whole.len() - 12]).expect("write");
        let err = read_all(&truncated).expect_err("a truncated stream is an error");
        assert!(err.to_string().contains("corrupt gzip data"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
