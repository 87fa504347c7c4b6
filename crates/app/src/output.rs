//! Writing run outputs so that a reader never sees half a file.
//!
//! Every file a run produces (JSON reports, CSV tables, SVG/PNG plots, model files) goes
//! through [`write_atomic_with`] or one of its wrappers, which hand it to the one output
//! writer, `glassbox_train::store::output`: a regular file is written to a temporary file *in the
//! same folder*, `fsync`ed and renamed over the target, so the target holds either its old
//! content or the complete new content — never a prefix; a symbolic link's target is replaced
//! the same way; a FIFO or character device (`/dev/stdout`, `-`) is written as a stream; any
//! other special file is refused. See `notes/reliability.md`.
//!
//! [`RunDir`] is the run folder: it checks once, up front, that the folder can be created and
//! written (so a bad `--out` fails before training, not after), and it keeps the list of files
//! written for the final summary.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use glassbox_train::store::output::{Destination, OutputError, destination};
use glassbox_train::store::output::{write_via_path, write_with};

/// Writes `bytes` to `path` with the one output writer's semantics
/// (`glassbox_train::store::output`): a regular file is replaced atomically, a link's target is
/// replaced, a FIFO or character device is streamed into, anything else is refused.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Writes `path` with content produced by `fill`, which writes into a buffered handle (see
/// [`write_atomic`] for what each kind of path gets).
///
/// If `fill` returns an error (or panics), or flushing, `fsync` or the rename fails, the
/// temporary file is removed, the target is untouched, and the error names `path` with the
/// cause as its source.
pub fn write_atomic_with<F>(path: impl AsRef<Path>, fill: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> anyhow::Result<()>,
{
    write_with(path, |w| fill(w).map_err(Into::into))
}

/// Writes `path` through a producer that insists on writing a file by path itself
/// (plotters' bitmap backend encodes PNG only to a path).
///
/// `produce` receives a temporary path, which ends in the target's extension; what it leaves
/// there becomes the target. Error and cleanup behaviour are those of [`write_atomic_with`].
pub fn write_atomic_via_path<F>(path: impl AsRef<Path>, produce: F) -> Result<(), OutputError>
where
    F: FnOnce(&Path) -> anyhow::Result<()>,
{
    write_via_path(path, |p| produce(p).map_err(Into::into))
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
