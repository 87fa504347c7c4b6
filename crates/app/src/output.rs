//! Writing run outputs so that a reader never sees half a file.
//!
//! Every file a run produces (JSON reports, CSV tables, SVG/PNG plots, model files) goes
//! through [`write_atomic_with`] or one of its wrappers: the bytes are written to a temporary
//! file *in the same folder* (`.<name>.tmp-<pid>-<n>[.<ext>]`), flushed and `fsync`ed, then
//! renamed over the target. A rename inside one folder is atomic on POSIX file systems, so the
//! target holds either its old content or the complete new content — never a prefix. On any
//! error (or a panic in the caller's writer) the temporary file is removed and the target is
//! left untouched. See `notes/design.md`, "Outputs and plots".
//!
//! [`RunDir`] is the run folder: it checks once, up front, that the folder can be created and
//! written (so a bad `--out` fails before training, not after), and it keeps the list of files
//! written for the final summary.

use std::error::Error as StdError;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// An output failure, always naming the file or folder concerned.
///
/// `Display` gives the one-line summary (`cannot write "runs/a/report.json"`); the underlying
/// cause (an `io::Error`, a CSV or JSON error, a drawing error) is reachable through
/// [`std::error::Error::source`], which is how [`crate::exit`] prints `caused by:` lines.
#[derive(Debug)]
pub struct OutputError {
    action: &'static str,
    path: PathBuf,
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl OutputError {
    /// Builds an error for `path`; `action` is a short phrase such as `"cannot write"`.
    pub fn new(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
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

/// Distinguishes temporary files made by concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file beside its target, deleted on drop unless [`TempFile::commit`] renamed it.
///
/// Deleting in `Drop` covers every early return *and* a panic inside the caller's closure.
struct TempFile {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Chooses `.<file name>.tmp-<pid>-<n>` in the target's folder, keeping the target's
    /// extension at the end (`.roc.png.tmp-12-0.png`) for writers that pick a format from it.
    fn beside(target: &Path) -> Result<Self, OutputError> {
        let name = target.file_name().ok_or_else(|| {
            OutputError::new(
                "cannot write",
                target,
                io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
            )
        })?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id());
        if let Some(ext) = target.extension() {
            tmp_name.push('.');
            tmp_name.push_str(&ext.to_string_lossy());
        }
        let tmp = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
            _ => PathBuf::from(tmp_name),
        };
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    fn error(&self, source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> OutputError {
        OutputError::new("cannot write", &self.target, source)
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

/// Writes `bytes` to `path` atomically (temporary file, `fsync`, rename).
///
/// The folder must exist. On error the target keeps its previous content (or stays absent)
/// and no temporary file is left behind.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Writes `path` atomically with content produced by `fill`, which writes into a buffered
/// handle on the temporary file.
///
/// If `fill` returns an error (or panics), or flushing, `fsync` or the rename fails, the
/// temporary file is removed, the target is untouched, and the error names `path` with the
/// cause as its source.
pub fn write_atomic_with<F>(path: impl AsRef<Path>, fill: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> anyhow::Result<()>,
{
    let temp = TempFile::beside(path.as_ref())?;
    let file = File::create_new(&temp.tmp).map_err(|e| temp.error(e))?;
    let mut w = BufWriter::new(file);
    fill(&mut w).map_err(|e| temp.error(e))?;
    let file = w.into_inner().map_err(|e| temp.error(e.into_error()))?;
    drop(file);
    temp.commit()
}

/// Writes `path` atomically through a producer that insists on writing a file by path itself
/// (plotters' bitmap backend encodes PNG only to a path).
///
/// `produce` receives the temporary path, which ends in the target's extension; whatever it
/// leaves there is `fsync`ed and renamed over the target. Error and cleanup behaviour are those
/// of [`write_atomic_with`].
pub fn write_atomic_via_path<F>(path: impl AsRef<Path>, produce: F) -> Result<(), OutputError>
where
    F: FnOnce(&Path) -> anyhow::Result<()>,
{
    let temp = TempFile::beside(path.as_ref())?;
    produce(&temp.tmp).map_err(|e| temp.error(e))?;
    temp.commit()
}

/// Writes `value` as pretty-printed JSON (two-space indent, trailing newline), atomically.
pub fn write_json<T: Serialize + ?Sized>(
    path: impl AsRef<Path>,
    value: &T,
) -> Result<(), OutputError> {
    write_atomic_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")?;
        Ok(())
    })
}

/// Writes a CSV table with a header row, atomically. Every row must have `header.len()`
/// fields; a ragged row is an error naming the file (the `csv` crate reports the row).
pub fn write_csv<R, S>(
    path: impl AsRef<Path>,
    header: &[&str],
    rows: impl IntoIterator<Item = R>,
) -> Result<(), OutputError>
where
    R: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    write_atomic_with(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(header)?;
        for row in rows {
            csv.write_record(row)?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// Writes one CSV row per record through `serde` (header taken from the field names),
/// atomically.
pub fn write_csv_records<T: Serialize>(
    path: impl AsRef<Path>,
    records: &[T],
) -> Result<(), OutputError> {
    write_atomic_with(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        for r in records {
            csv.serialize(r)?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// A run's output folder and the list of files written into it.
///
/// Files are addressed by a path relative to the folder (`"plots/roc.svg"`); missing
/// sub-folders are created. Writing the same relative path twice lists it once.
#[derive(Debug)]
pub struct RunDir {
    root: PathBuf,
    written: Vec<PathBuf>,
}

impl RunDir {
    /// Creates the folder (and its parents) if needed and checks that it accepts files by
    /// creating and removing a probe file. An existing folder is reused; files in it are
    /// replaced only when written again.
    ///
    /// Errors name the folder: `cannot create run folder "…"` (e.g. a parent is a regular
    /// file) or `run folder is not writable "…"`.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, OutputError> {
        let root = root.into();
        fs::create_dir_all(&root)
            .map_err(|e| OutputError::new("cannot create run folder", &root, e))?;
        let probe = root.join(format!(".glassbox-write-probe-{}", std::process::id()));
        File::create(&probe)
            .and_then(|f| f.sync_all())
            .map_err(|e| OutputError::new("run folder is not writable", &root, e))?;
        fs::remove_file(&probe)
            .map_err(|e| OutputError::new("run folder is not writable", &root, e))?;
        Ok(Self {
            root,
            written: Vec::new(),
        })
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `root/rel`, creating the missing folders between them.
    pub fn prepare(&self, rel: impl AsRef<Path>) -> Result<PathBuf, OutputError> {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| OutputError::new("cannot create folder", dir, e))?;
        }
        Ok(path)
    }

    /// Adds a file written by someone else (e.g. a plot) to the listing.
    pub fn record(&mut self, path: impl Into<PathBuf>) {
        let path = path.into();
        if !self.written.contains(&path) {
            self.written.push(path);
        }
    }

    /// [`write_atomic`] to `root/rel`, recorded. Returns the full path.
    pub fn write_bytes(
        &mut self,
        rel: impl AsRef<Path>,
        bytes: &[u8],
    ) -> Result<PathBuf, OutputError> {
        self.write_with(rel, |w| Ok(w.write_all(bytes)?))
    }

    /// [`write_atomic_with`] to `root/rel`, recorded. Returns the full path.
    pub fn write_with<F>(&mut self, rel: impl AsRef<Path>, fill: F) -> Result<PathBuf, OutputError>
    where
        F: FnOnce(&mut dyn Write) -> anyhow::Result<()>,
    {
        let path = self.prepare(rel)?;
        write_atomic_with(&path, fill)?;
        self.record(path.clone());
        Ok(path)
    }

    /// [`write_json`] to `root/rel`, recorded. Returns the full path.
    pub fn write_json<T: Serialize + ?Sized>(
        &mut self,
        rel: impl AsRef<Path>,
        value: &T,
    ) -> Result<PathBuf, OutputError> {
        let path = self.prepare(rel)?;
        write_json(&path, value)?;
        self.record(path.clone());
        Ok(path)
    }

    /// [`write_csv`] to `root/rel`, recorded. Returns the full path.
    pub fn write_csv<R, S>(
        &mut self,
        rel: impl AsRef<Path>,
        header: &[&str],
        rows: impl IntoIterator<Item = R>,
    ) -> Result<PathBuf, OutputError>
    where
        R: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let path = self.prepare(rel)?;
        write_csv(&path, header, rows)?;
        self.record(path.clone());
        Ok(path)
    }

    /// The files written so far, in the order first written.
    pub fn files(&self) -> &[PathBuf] {
        &self.written
    }

    /// The final summary: one line per file, `  <path relative to the run folder>  <bytes>`,
    /// in writing order; a file that has since disappeared shows `(missing)`.
    pub fn listing(&self) -> String {
        let mut out = format!(
            "wrote {} files to {}\n",
            self.written.len(),
            self.root.display()
        );
        for p in &self.written {
            let rel = p.strip_prefix(&self.root).unwrap_or(p);
            match fs::metadata(p) {
                Ok(m) => out.push_str(&format!("  {}  {} bytes\n", rel.display(), m.len())),
                Err(_) => out.push_str(&format!("  {}  (missing)\n", rel.display())),
            }
        }
        out
    }
}
