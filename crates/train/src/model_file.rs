//! Reading a model file (checkpoint or bundle) with a bound on its size.

use std::fs;
use std::io;
use std::path::Path;

/// The largest model file (checkpoint or bundle) glassbox reads: 2 GiB, 500 million f32
/// parameters, far beyond any network for tabular data. Without a bound, a model path naming
/// an endless stream (`/dev/zero`, a pipe) would be read until memory runs out.
pub const MAX_MODEL_FILE_BYTES: u64 = 2 << 30;

/// The bytes of the model file at `path`, refusing (with [`io::ErrorKind::FileTooLarge`])
/// one of more than `limit` bytes after reading at most `limit + 1`.
///
/// # Errors
/// The I/O error of opening or reading, or the size error.
pub fn read_model_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use io::Read as _;
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("the file is larger than {limit} bytes, the largest model file glassbox reads"),
        ));
    }
    Ok(bytes)
}
