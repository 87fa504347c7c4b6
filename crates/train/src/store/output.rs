//! The one output writer: every file glassbox writes — checkpoints, model bundles, reports,
//! tables, plots, predictions — goes through [`write_with`] or [`write_via_path`].
//!
//! What it promises depends on what the path names (notes/reliability.md, "Outputs"):
//!
//! | the path is … | glassbox … |
//! |---|---|
//! | a regular file, or nothing yet | writes `.<name>.tmp-<pid>-<n>[.<ext>]` in the same folder, `fsync`s it, renames it over the target, `fsync`s the folder: a reader sees the old content or the whole new content, never a prefix |
//! | a symbolic link (chains too) | follows it and replaces the *final target* atomically as above; the link stays a link |
//! | `-`, a FIFO or a character device (`/dev/stdout`, `/dev/null`, `/dev/full`, a terminal) | writes straight into it as a stream, no temporary file, no rename; a write error (ENOSPC, EPIPE) is reported |
//! | a folder, a block device, a socket | refuses, naming the path and what it is |
//!
//! A process killed mid-write (SIGKILL, power cut) leaves the target untouched and at most one
//! temporary file; the next write to the same target removes temporaries whose process is gone.

use std::error::Error as StdError;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The boxed cause of an output failure.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// An output failure, always naming the file or folder concerned.
///
/// `Display` gives the one-line summary (`cannot write "runs/a/report.json"`); the underlying
/// cause (an `io::Error`, a CSV or JSON error, a drawing error) is reachable through
/// [`std::error::Error::source`].
#[derive(Debug)]
pub struct OutputError {
    action: &'static str,
    path: PathBuf,
    source: Cause,
}

impl OutputError {
    /// Builds an error for `path`; `action` is a short phrase such as `"cannot write"`.
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: impl Into<Cause>) -> Self {
        Self {
            action,
            path: path.into(),
            source: source.into(),
        }
    }

    /// The file or folder the failed operation was about.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.action, self.path)
    }
}

impl StdError for OutputError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// How a path is written, decided from what it names (the table in the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (`-` or `/dev/stdout`).
    Stdout,
    /// A regular file or a new path — the final target of any symbolic links — replaced
    /// atomically.
    Replace(PathBuf),
    /// A FIFO or character device, written in place as a stream.
    Stream(PathBuf),
}

/// How many symbolic links [`destination`] follows before it calls the chain a loop (Linux's
/// own limit, `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Decides how `path` is written. Errors (a folder, a block device, a socket, a link loop, a
/// path with no file name) name the path.
pub fn destination(path: &Path) -> Result<Destination, OutputError> {
    if path.as_os_str() == "-" || path == Path::new("/dev/stdout") {
        return Ok(Destination::Stdout);
    }
    let refuse = |what: String| {
        OutputError::new(
            "refusing to write",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, what),
        )
    };
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = match fs::symlink_metadata(&current) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return if current.file_name().is_some() {
                    Ok(Destination::Replace(current))
                } else {
                    Err(refuse("the path has no file name".into()))
                };
            }
            Err(e) => return Err(OutputError::new("cannot write", path, e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link =
                fs::read_link(&current).map_err(|e| OutputError::new("cannot write", path, e))?;
            // A relative link target is relative to the folder holding the link.
            current = match current.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
            continue;
        }
        if kind.is_file() {
            return Ok(Destination::Replace(current));
        }
        if kind.is_dir() {
            return Err(refuse(format!("{:?} is a folder", current)));
        }
        return match special_kind(&kind) {
            Special::Stream => Ok(Destination::Stream(current)),
            Special::Other(what) => Err(refuse(format!(
                "{current:?} is a {what}; glassbox writes only regular files, FIFOs and character devices"
            ))),
        };
    }
    Err(refuse(format!(
        "more than {MAX_LINKS} symbolic links (a loop?)"
    )))
}

enum Special {
    Stream,
    Other(&'static str),
}

#[cfg(unix)]
fn special_kind(kind: &fs::FileType) -> Special {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() || kind.is_char_device() {
        Special::Stream
    } else if kind.is_block_device() {
        Special::Other("block device")
    } else if kind.is_socket() {
        Special::Other("socket")
    } else {
        Special::Other("special file")
    }
}

#[cfg(not(unix))]
fn special_kind(_kind: &fs::FileType) -> Special {
    Special::Other("special file")
}

/// Distinguishes temporary files made by concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The prefix of every temporary file made for `name`: `.<name>.tmp-`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// A temporary file beside its target, deleted on drop unless [`TempFile::commit`] renamed it.
///
/// Deleting in `Drop` covers every early return *and* a panic inside the caller's closure.
struct TempFile {
    tmp: PathBuf,
    target: PathBuf,
    /// The name the caller used (the link, if the target is reached through one), for errors.
    named: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Chooses `.<file name>.tmp-<pid>-<n>` in the target's folder, keeping the target's
    /// extension at the end (`.roc.png.tmp-12-0.png`) for writers that pick a format from it.
    /// Temporaries of the same target left by dead processes are removed first.
    fn beside(target: &Path, named: &Path) -> Result<Self, OutputError> {
        let name = target.file_name().ok_or_else(|| {
            OutputError::new(
                "cannot write",
                named,
                io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
            )
        })?;
        let name = name.to_string_lossy();
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        remove_stale_temporaries(&dir, &name);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = format!("{}{}-{n}", temp_prefix(&name), std::process::id());
        if let Some(ext) = target.extension() {
            tmp_name.push('.');
            tmp_name.push_str(&ext.to_string_lossy());
        }
        Ok(Self {
            tmp: dir.join(tmp_name),
            target: target.to_path_buf(),
            named: named.to_path_buf(),
            committed: false,
        })
    }

    fn error(&self, source: impl Into<Cause>) -> OutputError {
        OutputError::new("cannot write", &self.named, source)
    }

    /// `fsync`s the temporary file, renames it over the target, then `fsync`s the folder so
    /// the rename itself is durable (best effort: some file systems refuse a folder `fsync`).
    fn commit(mut self) -> Result<(), OutputError> {
        File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| self.error(e))?;
        fs::rename(&self.tmp, &self.target).map_err(|e| self.error(e))?;
        self.committed = true;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // The file may not exist (creation failed); nothing else to do about an error here.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Removes `.<name>.tmp-<pid>-…` files in `dir` whose process `<pid>` no longer runs: the
/// remains of a writer killed between creating its temporary file and renaming it. Only
/// where `/proc` tells which processes run; a temporary of a live process (another writer)
/// is never touched. Best effort: a file that cannot be removed stays.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return;
    }
    let prefix = temp_prefix(name);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|s| s.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !proc_root.join(pid.to_string()).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `path` with content produced by `fill`, which writes into a buffered handle, with
/// the semantics of the module doc's table.
///
/// For a replaced file: if `fill` returns an error (or panics), or flushing, `fsync` or the
/// rename fails, the temporary file is removed, the target is untouched, and the error names
/// `path` with the cause as its source. For a stream, what `fill` wrote before an error has
/// been sent; the error is reported the same way.
pub fn write_with<F>(path: impl AsRef<Path>, fill: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> Result<(), Cause>,
{
    let path = path.as_ref();
    match destination(path)? {
        Destination::Stdout => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            fill(&mut w).map_err(|e| OutputError::new("cannot write", path, e))?;
            w.flush()
                .map_err(|e| OutputError::new("cannot write", path, e))
        }
        Destination::Stream(target) => {
            let file = OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| OutputError::new("cannot write", path, e))?;
            let mut w = BufWriter::new(file);
            fill(&mut w).map_err(|e| OutputError::new("cannot write", path, e))?;
            w.flush()
                .map_err(|e| OutputError::new("cannot write", path, e))
        }
        Destination::Replace(target) => {
            let temp = TempFile::beside(&target, path)?;
            let file = File::create_new(&temp.tmp).map_err(|e| temp.error(e))?;
            let mut w = BufWriter::new(file);
            fill(&mut w).map_err(|e| temp.error(e))?;
            let file = w.into_inner().map_err(|e| temp.error(e.into_error()))?;
            drop(file);
            temp.commit()
        }
    }
}

/// Writes `bytes` to `path` (see [`write_with`]).
pub fn write_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), OutputError> {
    write_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Writes `path` through a producer that insists on writing a file by path itself (plotters'
/// bitmap backend encodes PNG only to a path).
///
/// `produce` receives a temporary path that ends in the target's extension. For a replaced
/// file, whatever it leaves there is `fsync`ed and renamed over the target; for a stream (or
/// standard output) it is produced in the system's temporary folder and then copied into the
/// stream. Error and cleanup behaviour are those of [`write_with`].
pub fn write_via_path<F>(path: impl AsRef<Path>, produce: F) -> Result<(), OutputError>
where
    F: FnOnce(&Path) -> Result<(), Cause>,
{
    let path = path.as_ref();
    match destination(path)? {
        Destination::Replace(target) => {
            let temp = TempFile::beside(&target, path)?;
            produce(&temp.tmp).map_err(|e| temp.error(e))?;
            temp.commit()
        }
        Destination::Stdout | Destination::Stream(_) => {
            let scratch_target = std::env::temp_dir().join(
                path.file_name()
                    .unwrap_or_else(|| "glassbox-output".as_ref()),
            );
            let scratch = TempFile::beside(&scratch_target, path)?;
            produce(&scratch.tmp).map_err(|e| scratch.error(e))?;
            let bytes = fs::read(&scratch.tmp).map_err(|e| scratch.error(e))?;
            write_bytes(path, &bytes)
        }
    }
}
