//! The `glassbox` command line.
//!
//! One subcommand is one variant of [`Command`] plus one module with an `Args` struct (clap
//! derive) and a `run(args, &Global) -> Result<(), CliError>` function. To add one: write
//! `cli/<name>.rs`, add `mod <name>;`, a variant with its doc comment (the first line is the
//! short help), and one arm in [`Command::run`]. Argument groups shared by several commands
//! (data-reading flags, recipe flags) live in `common` and are `#[command(flatten)]`ed.
//!
//! Exit codes ([`crate::exit`]): 0 success, 2 for anything the user can fix (arguments, data,
//! model files, output folders — clap's own argument errors are 2 as well), 1 for internal
//! errors.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use glassbox_core::gemm::kernel::Isa;

use crate::exit::{self, CliError, ResultExt};

mod common;

mod case_study;
mod evaluate;
mod events;
mod explain;
mod gradcheck;
mod inspect;
mod predict;
mod privacy;
mod recommend;
mod serve;
mod trace;
mod train;
mod value;

const ABOUT: &str =
    "glassbox: a neural network written by hand, every line of its maths open to audit";

const LONG_ABOUT: &str = "\
glassbox: a neural network written by hand, every line of its maths open to audit.

It trains small multilayer perceptrons on tabular CSV files with a binary target (will this
visitor buy?), and writes models, metrics, plots and reports you can check line by line.

The usual path:
  1. glassbox case-study                      the whole purchase-prediction study on the
                                              bundled data, in a few seconds
  2. glassbox train data.csv --target COL     train on your own CSV (-> model.safetensors)
  3. glassbox evaluate MODEL labelled.csv     metrics, ROC/PR/calibration plots
  4. glassbox predict MODEL new.csv           probability and label for every row
  5. glassbox inspect MODEL                   what a model file holds

Every number a run reports is measured on rows the model did not train on: thresholds and
early stopping use a validation part carved out of the training file; test files are only
evaluated.";

const AFTER_HELP: &str = "\
Exit codes: 0 success; 2 a problem you can fix (arguments, data, model file, output folder);
1 an internal error (please report it).
Run `glassbox <COMMAND> --help` for each command's options and examples.";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "glassbox",
    version = version_line(),
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Worker threads for the maths [default: one per core]. Results are bit-identical
    /// whatever the count.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// Print nothing but results and errors: no progress bars, no notes.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// The instruction set of the matrix kernel and of every hand-written vector loop (norms,
    /// noise, optimizers): scalar, avx2 or avx512 [default: the GLASSBOX_ISA environment
    /// variable, else the fastest this CPU runs]. Every one gives the same bits; scalar is
    /// the slow reference an auditor can rerun any result on.
    #[arg(long, global = true, value_name = "ISA", value_parser = parse_isa)]
    pub isa: Option<Isa>,
}

/// `--isa`'s value: an instruction set by its name.
fn parse_isa(name: &str) -> Result<Isa, String> {
    Isa::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Isa::ALL.iter().map(|isa| isa.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// `glassbox --version`: the package version and the instruction set GLASSBOX_ISA and the CPU
/// choose for the matrix kernel (or why GLASSBOX_ISA is refused).
fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| {
        let isa = match glassbox_core::gemm::kernel::isa_from_environment() {
            Ok(isa) => isa_description(isa),
            Err(e) => format!("gemm kernel: {e}"),
        };
        format!("{} ({isa})", env!("CARGO_PKG_VERSION"))
    })
}

/// The matrix kernel's instruction set as `--version` and `inspect` print it.
pub fn isa_description(isa: Option<Isa>) -> String {
    match isa {
        Some(isa) => format!("gemm kernel: {isa}"),
        None => "gemm kernel: matrixmultiply (no AVX2+FMA)".to_string(),
    }
}

/// Applies `--isa` (refused, with the reason, when this CPU lacks it) or checks that
/// GLASSBOX_ISA names one this CPU runs, so a bad choice stops the run before any maths.
fn init_isa(global: &Global) -> Result<(), CliError> {
    match global.isa {
        Some(isa) => glassbox_core::gemm::kernel::force_isa(Some(isa))
            .map_err(|e| CliError::usage(anyhow::anyhow!("--isa {isa}: {e}"))),
        None => glassbox_core::gemm::kernel::isa_from_environment()
            .map(|_| ())
            .map_err(|e| CliError::usage(anyhow::anyhow!("{e}"))),
    }
}

/// The subcommands. (Each is parsed once per process, so the size difference between
/// variants that clippy warns about costs nothing worth boxing for.)
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// A case study on the bundled data, end to end, with a report (default: purchase).
    ///
    /// purchase trains the paper's Keras recipe and the default recipe on the training
    /// split, evaluates both on the test split, and writes models, metrics, plots and
    /// report.md.
    CaseStudy(case_study::CaseStudyArgs),
    /// Raw event logs (user, time, event, item): featurize, train, score the active users.
    Events(events::EventsArgs),
    /// Train a model on a CSV file with a binary target.
    Train(train::TrainArgs),
    /// Evaluate a model on a labelled CSV file: metrics table, metrics.json, plots.
    Evaluate(evaluate::EvaluateArgs),
    /// Predict every row of a CSV file (streamed: any size), as CSV.
    Predict(predict::PredictArgs),
    /// Serve models over HTTP: JSON or CSV rows in, probabilities and labels out.
    Serve(serve::ServeArgs),
    /// Show what a model file holds: layers, parameters, schema, threshold, metrics.
    Inspect(inspect::InspectArgs),
    /// One training step on a tiny network or a saved model, every number labelled with
    /// the equation in notes/ that produced it (text, JSON or Markdown).
    Trace(trace::TraceArgs),
    /// Finite-difference (f64) check of a model's gradients on rows of a CSV file.
    Gradcheck(gradcheck::GradcheckArgs),
    /// The privacy accountant of DP-SGD: ε from (σ, q, T, δ), or σ for a target ε.
    Privacy(privacy::PrivacyArgs),
    /// Why did the model score these rows so? Gradient × input, integrated gradients and
    /// permutation importance, mapped back to the CSV columns.
    Explain(explain::ExplainArgs),
    /// Customer value from a transaction log: train, evaluate, predict each customer's spend.
    Value(value::ValueArgs),
    /// Top-N recommendation from interactions: train, evaluate (both protocol modes),
    /// predict each user's list.
    Recommend(recommend::RecommendArgs),
}

impl Command {
    /// Runs the subcommand.
    pub fn run(self, global: &Global) -> Result<(), CliError> {
        match self {
            Command::CaseStudy(a) => case_study::run(a, global),
            Command::Events(a) => events::run(a, global),
            Command::Train(a) => train::run(a, global),
            Command::Evaluate(a) => evaluate::run(a, global),
            Command::Predict(a) => predict::run(a, global),
            Command::Serve(a) => serve::run(a, global),
            Command::Inspect(a) => inspect::run(a, global),
            Command::Trace(a) => trace::run(a, global),
            Command::Gradcheck(a) => gradcheck::run(a, global),
            Command::Privacy(a) => privacy::run(a, global),
            Command::Explain(a) => explain::run(a, global),
            Command::Value(a) => value::run(a, global),
            Command::Recommend(a) => recommend::run(a, global),
        }
    }
}

/// Sets up the thread pool (flush-to-zero on every worker, `--threads` honoured).
fn init_threads(global: &Global) -> Result<(), CliError> {
    if global.threads == Some(0) {
        return Err(CliError::usage(anyhow::anyhow!(
            "--threads must be at least 1 (omit it to use one thread per core)"
        )));
    }
    glassbox_core::init_global_pool(global.threads)
        .map_err(|e| anyhow::anyhow!("cannot start the thread pool: {e}"))
        .internal_err()
}

/// Parses the arguments, runs the command and turns the outcome into an exit code; what
/// `src/main.rs` calls.
pub fn main() -> ExitCode {
    quit_quietly_on_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and exit 0; argument errors print a
            // message with a usage line and exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    exit::finish(run(cli))
}

/// A closed pipe (`glassbox trace | head`) ends the process quietly, as it ends other Unix
/// tools, instead of making the next `println!` panic: Rust programs start with SIGPIPE
/// ignored, so a write to a closed pipe fails and `println!` panics on the failure. This
/// puts SIGPIPE back to its default action.
#[cfg(unix)]
fn quit_quietly_on_closed_pipe() {
    unsafe extern "C" {
        /// The C library's `signal(2)` (std links the C library on every Unix target).
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: the default action is the C library's own, no Rust handler is installed, and
    // this runs first thing in `main`, before any other thread exists.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(unix))]
fn quit_quietly_on_closed_pipe() {}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    init_isa(&cli.global)?;
    if matches!(cli.command, Command::Serve(_)) {
        // Before the pool's threads allocate (notes/serving.md §4).
        glassbox_serve::use_one_heap();
    }
    init_threads(&cli.global)?;
    cli.command.run(&cli.global)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
