//! `glassbox predict MODEL DATA.csv [--out FILE.csv]`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::Global;
use super::common::load_bundle;
use crate::bundle::Bundle;
use crate::exit::{CliError, ResultExt};
use crate::output::write_atomic_with;
use crate::pipeline::{PREDICT_CHUNK_ROWS, PredictSummary, predict_csv};
use crate::progress::Progress;

const AFTER_HELP: &str = "\
Examples:
  glassbox predict runs/case-study/default/model.safetensors new_sessions.csv --out scored.csv
  glassbox predict model.safetensors big.csv | head

Output: one line per data row, `row,line,probability,label`:
  row          1-based data row
  line         the line of the input file where the row starts (the header is line 1)
  probability  the model's probability of the positive class, 6 decimals
  label        the positive label if probability ≥ the model's threshold, else the negative
               (decided on the unrounded probability). A model trained with --cost-fn-column
               COL decides each row by probability × COL ≥ its cost threshold instead, so the
               file must hold COL, a number ≥ 0 in every row.

The input is read in chunks of 8192 rows, so files larger than memory work. Columns are
matched by name in any order; extra columns (the target included) are ignored. Values of a
categorical column never seen in training are encoded as <unknown> and counted in a note,
not rejected. A missing column the model needs, or a malformed value, stops with a message
naming the file, line and column (exit code 2); with --out no partial file is left behind.";

/// Arguments of `predict`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct PredictArgs {
    /// The model file (model.safetensors).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// The CSV file to score (comma, semicolon or tab separated; a header row).
    #[arg(value_name = "DATA.csv")]
    pub data: PathBuf,

    /// Write the predictions to this file (atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,

    /// Rows per chunk.
    #[arg(long, value_name = "ROWS", default_value_t = PREDICT_CHUNK_ROWS, hide = true)]
    pub chunk_rows: usize,

    /// Score over the processes of `mpirun -np N` (a build with the `mpi` feature): each
    /// rank scores its own byte range of the file; rank 0 writes the output, the same bytes
    /// as one process (notes/distributed.md).
    #[arg(long)]
    pub distributed: bool,
}

/// Runs `predict`.
pub fn run(args: PredictArgs, global: &Global) -> Result<(), CliError> {
    let result = match args.distributed {
        true => run_distributed(&args, global),
        false => run_here(&args, global, |bundle, w| {
            predict_csv(bundle, &args.data, w, args.chunk_rows).map_err(CliError::from)
        }),
    };
    #[cfg(feature = "mpi")]
    if args.distributed {
        return crate::mpi::finish(result);
    }
    result
}

/// `predict --distributed`: this rank's part; rank 0 writes the whole output.
#[cfg(feature = "mpi")]
fn run_distributed(args: &PredictArgs, global: &Global) -> Result<(), CliError> {
    let world = crate::mpi::World::init().map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let result = predict_on_rank(&world, args, global);
    // Dropping the world would finalise MPI now, while other ranks may still wait for this
    // one; `crate::mpi::finish` finalises (or aborts the job) once the result is known.
    std::mem::forget(world);
    result
}

/// This rank's share of `predict --distributed`.
#[cfg(feature = "mpi")]
fn predict_on_rank(
    world: &crate::mpi::World,
    args: &PredictArgs,
    global: &Global,
) -> Result<(), CliError> {
    use crate::mpi::predict::{PartsError, predict_parts};
    use glassbox_train::distributed::Collective;

    let stopped = |e| match e {
        PartsError::Ranks(why) => {
            CliError::usage(anyhow::anyhow!("distributed predict stopped: {why}"))
        }
        PartsError::Write(e) => crate::pipeline::PipelineError::Write(e).into(),
    };
    if world.rank() != 0 {
        let bundle = load_bundle(&args.model)?;
        predict_parts(world, &bundle, &args.data, args.chunk_rows, None).map_err(stopped)?;
        return Ok(());
    }
    run_here(args, global, |bundle, w| {
        predict_parts(world, bundle, &args.data, args.chunk_rows, Some(w)).map_err(stopped)
    })
}

/// Without the `mpi` feature `--distributed` is a usage error.
#[cfg(not(feature = "mpi"))]
fn run_distributed(_: &PredictArgs, _: &Global) -> Result<(), CliError> {
    Err(CliError::usage(anyhow::anyhow!(
        "--distributed needs a build with the mpi feature: cargo build --release --features mpi (notes/distributed.md)"
    )))
}

/// `predict` writing through `score` to --out (atomically) or standard output, then the
/// summary on standard error.
fn run_here(
    args: &PredictArgs,
    global: &Global,
    mut score: impl FnMut(&Bundle, &mut dyn Write) -> Result<PredictSummary, CliError>,
) -> Result<(), CliError> {
    let progress = Progress::new(global.quiet);
    let bundle = load_bundle(&args.model)?;
    if args.chunk_rows == 0 {
        return Err(CliError::usage(anyhow::anyhow!(
            "--chunk-rows must be at least 1"
        )));
    }
    let summary = match &args.out {
        Some(path) => {
            let mut failure: Option<CliError> = None;
            let mut done = None;
            let written = write_atomic_with(path, |w| {
                let mut w = FirstWriteError::new(w);
                match score(&bundle, &mut w) {
                    Ok(s) => {
                        done = Some(s);
                        Ok(())
                    }
                    // A failed write is the output's error, reported by the writer with the
                    // output path (`cannot write "/dev/full"`), not a prediction error.
                    Err(e) => match w.error.take() {
                        Some(write_error) => Err(write_error.into()),
                        None => {
                            failure = Some(e);
                            Err(anyhow::anyhow!("prediction stopped"))
                        }
                    },
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            written.usage_err()?;
            done.ok_or_else(|| anyhow::anyhow!("predict wrote no summary"))?
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            let s = score(&bundle, &mut lock)?;
            lock.flush()
                .map_err(|e| anyhow::anyhow!("cannot write to standard output: {e}"))
                .usage_err()?;
            s
        }
    };
    for line in summary.notes.lines() {
        progress.note(&line);
    }
    if !global.quiet {
        let rows = summary.notes.rows;
        eprintln!(
            "predicted {rows} rows of {} in {:.2} s ({:.0} rows/s): {} \"{}\" at threshold {:.4}{}",
            args.data.display(),
            summary.seconds,
            rows as f64 / summary.seconds.max(1e-9),
            summary.positives,
            bundle.preprocessor.target().positive_written(),
            bundle.info.threshold.value,
            args.out
                .as_ref()
                .map_or(String::new(), |p| format!(", written to {}", p.display()))
        );
    }
    Ok(())
}

/// A writer that remembers the first error its inner writer returned, so that a failed
/// write is reported against the output path rather than as a prediction error.
struct FirstWriteError<'a> {
    inner: &'a mut dyn Write,
    error: Option<std::io::Error>,
}

impl<'a> FirstWriteError<'a> {
    fn new(inner: &'a mut dyn Write) -> Self {
        Self { inner, error: None }
    }

    fn keep<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && self.error.is_none()
        {
            self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
        r
    }
}

impl Write for FirstWriteError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.keep(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.keep(r)
    }
}
