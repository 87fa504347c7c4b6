//! The audit subcommands of the `glassbox` command line: `trace`, `gradcheck`, `explain`,
//! and the `--by` option of `evaluate`. Each is an `Args` struct (clap derive) and a `run`
//! function; crates/app/src/cli/mod.rs holds one variant and one call for each. The logic
//! lives in [`super::trace`], [`super::gradcheck`], [`super::explain`] and
//! [`super::fairness`]; this module loads the model bundle, calls them and writes the
//! results.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use glassbox_train::{ClassWeights, LossConfig, OptimizerConfig};

use super::explain::{
    IgConfig, Output, PermutationConfig, Rule, explain_rows, permutation_importance_csv,
};
use super::fairness::{FairnessConfig, FairnessReport, fairness_by_group, group_labels};
use super::gradcheck::{Coverage, GradcheckOptions, gradcheck_csv};
use super::trace::{default_optimizer, trace_csv, trace_example};
use super::{AuditError, Classifier, Format};
use crate::bundle::Bundle;
use crate::cli::Global;
use crate::cli::common::{OutDir, load_bundle};
use crate::exit::{CliError, ErrorKind, ResultExt};
use crate::output::{RunDir, write_atomic};
use glassbox_data::{RawTable, ReadOptions, Table};

/// An audit error as a command-line error: bad arguments and output folders are usage
/// errors, bad data and models data errors (both exit 2); a failed consistency check is
/// internal (exit 1).
impl From<AuditError> for CliError {
    fn from(e: AuditError) -> Self {
        let kind = match &e {
            AuditError::UnknownColumn { .. }
            | AuditError::RowCount { .. }
            | AuditError::RowIndex { .. }
            | AuditError::InvalidOption { .. }
            | AuditError::Output(_) => ErrorKind::Usage,
            AuditError::Internal(_) => ErrorKind::Internal,
            _ => ErrorKind::Data,
        };
        CliError::new(kind, e)
    }
}

/// Writes `text` to `out` atomically, or prints it when there is no `out`.
fn emit(text: &str, out: Option<&Path>) -> Result<(), CliError> {
    match out {
        Some(path) => {
            write_atomic(path, text.as_bytes()).usage_err()?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The loss the bundle's networks were trained with: the recipe's kind, with balanced class
/// weights from the training class counts when the recipe asks for them.
fn bundle_loss(bundle: &Bundle) -> Result<LossConfig, CliError> {
    let recipe = &bundle.info.recipe;
    let balance = &bundle.info.data.class_balance;
    let class_weights = match recipe.class_weight {
        crate::recipe::ClassWeightRule::None => None,
        crate::recipe::ClassWeightRule::Balanced => Some(
            ClassWeights::balanced(balance.negative_count, balance.positive_count).data_err()?,
        ),
    };
    Ok(LossConfig {
        kind: recipe.loss,
        class_weights,
        pos_weight: None,
    })
}

/// Reads a labelled CSV file with the bundle's schema.
fn read_table(bundle: &Bundle, path: &Path) -> Result<Table, CliError> {
    Table::read(path, &ReadOptions::default(), bundle.preprocessor.schema()).data_err()
}

const TRACE_HELP: &str = "\
Examples:
  glassbox trace                                   the 2-2-1 example of notes/backprop.md §9
  glassbox trace --optimizer sgd --lr 0.5 --format markdown --out step.md
  glassbox trace MODEL data.csv --rows 2           a saved model on the first 2 rows

Every number carries the equation of notes/ that produced it (B… backprop.md, L… losses.md,
O… optimizers.md); notes/teaching.md walks through the default trace by hand. The numbers
come from the engine's own forward, loss, backward and optimizer code, in f64.";

/// The optimizer of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceOptimizer {
    /// PyTorch's Adam (β = 0.9, 0.999; ε = 1e-8).
    Adam,
    /// Plain SGD.
    Sgd,
    /// The model's own optimizer (from its recipe), fresh state.
    Model,
}

/// Arguments of `trace`.
#[derive(Debug, Args)]
#[command(after_help = TRACE_HELP)]
pub struct TraceArgs {
    /// A model file; without it, the 2-2-1 example is traced.
    #[arg(value_name = "MODEL", requires = "data")]
    pub model: Option<PathBuf>,

    /// A labelled CSV file (with MODEL): the first --rows rows are the batch.
    #[arg(value_name = "DATA.csv")]
    pub data: Option<PathBuf>,

    /// Rows of the batch (with MODEL).
    #[arg(long, short = 'k', default_value_t = 4, value_name = "K")]
    pub rows: usize,

    /// Which network of an ensemble (0-based).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub member: usize,

    /// The optimizer whose update is traced [default: adam for the example, model for MODEL].
    #[arg(long, value_enum)]
    pub optimizer: Option<TraceOptimizer>,

    /// Learning rate [default: 0.1 for the example, the model's for MODEL].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,

    /// Write to this file instead of printing.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn trace_optimizer(
    choice: TraceOptimizer,
    lr: Option<f64>,
    model: Option<&OptimizerConfig>,
) -> Result<OptimizerConfig, CliError> {
    let base = match (choice, model) {
        (TraceOptimizer::Adam, _) => default_optimizer(),
        (TraceOptimizer::Sgd, _) => OptimizerConfig::sgd(0.1),
        (TraceOptimizer::Model, Some(c)) => *c,
        (TraceOptimizer::Model, None) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "--optimizer model needs a MODEL (the example has no model optimizer)"
            )));
        }
    };
    Ok(match (lr, base) {
        (None, c) => c,
        (
            Some(lr),
            OptimizerConfig::Sgd {
                momentum,
                weight_decay,
                ..
            },
        ) => OptimizerConfig::Sgd {
            lr,
            momentum,
            weight_decay,
        },
        (
            Some(lr),
            OptimizerConfig::RmsProp {
                rho,
                eps,
                weight_decay,
                ..
            },
        ) => OptimizerConfig::RmsProp {
            lr,
            rho,
            eps,
            weight_decay,
        },
        (
            Some(lr),
            OptimizerConfig::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            },
        ) => OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        },
    })
}

/// Runs `trace`.
pub fn trace(args: TraceArgs, _global: &Global) -> Result<(), CliError> {
    let trace = match (&args.model, &args.data) {
        (Some(model), Some(data)) => {
            let bundle = load_bundle(model)?;
            let mlp = bundle.members.get(args.member).ok_or_else(|| {
                CliError::usage(anyhow::anyhow!(
                    "--member {} but the model has {} network(s)",
                    args.member,
                    bundle.members.len()
                ))
            })?;
            let recipe = &bundle.info.recipe;
            let optimizer = trace_optimizer(
                args.optimizer.unwrap_or(TraceOptimizer::Model),
                args.lr,
                Some(&recipe.optimizer),
            )?;
            let table = read_table(&bundle, data)?;
            let loss = bundle_loss(&bundle)?;
            trace_csv(
                mlp,
                &bundle.preprocessor,
                &table,
                args.rows,
                &loss,
                optimizer,
            )?
        }
        _ => {
            let optimizer = trace_optimizer(
                args.optimizer.unwrap_or(TraceOptimizer::Adam),
                args.lr,
                None,
            )?;
            trace_example(optimizer)?
        }
    };
    emit(&trace.render(args.format)?, args.out.as_deref())
}

const GRADCHECK_HELP: &str = "\
Examples:
  glassbox gradcheck MODEL datasets/online_shoppers_test.csv
  glassbox gradcheck MODEL data.csv --rows 64 --per-tensor 200 --seed 3 --format json

Each network of the model is cast to f64 and its analytic gradient of the model's own loss on
the first --rows rows is compared with four-point central differences (notes/backprop.md §7):
every parameter and input (or a seeded sample per tensor), per-tensor largest relative error,
tolerance 1e-7. A negative control (the gradient scaled by 1 + 1e-4) must fail. Exit code 1 if
a check fails — that would be a bug in the engine.";

/// Arguments of `gradcheck`.
#[derive(Debug, Args)]
#[command(after_help = GRADCHECK_HELP)]
pub struct GradcheckArgs {
    /// The model file.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// A labelled CSV file; its first --rows rows are used.
    #[arg(value_name = "DATA.csv")]
    pub data: PathBuf,

    /// Rows the loss is evaluated on.
    #[arg(long, short = 'k', default_value_t = 32, value_name = "K")]
    pub rows: usize,

    /// Check N elements per tensor, drawn with --seed [default: all for models up to 20,000
    /// parameters, else 256].
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub per_tensor: Option<usize>,

    /// Check every parameter and input, whatever the model's size.
    #[arg(long)]
    pub all: bool,

    /// Seed of the sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,

    /// Write to this file instead of printing.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs `gradcheck` on every network of the model.
pub fn gradcheck(args: GradcheckArgs, _global: &Global) -> Result<(), CliError> {
    let bundle = load_bundle(&args.model)?;
    let table = read_table(&bundle, &args.data)?;
    let loss = bundle_loss(&bundle)?;
    let options = GradcheckOptions {
        coverage: match (args.all, args.per_tensor) {
            (true, _) => Coverage::All,
            (false, Some(per_tensor)) => Coverage::Sample { per_tensor },
            (false, None) => Coverage::Auto,
        },
        seed: args.seed,
        ..GradcheckOptions::default()
    };
    let mut reports = Vec::with_capacity(bundle.members.len());
    for mlp in &bundle.members {
        reports.push(gradcheck_csv(
            mlp,
            &bundle.preprocessor,
            &table,
            args.rows,
            &loss,
            &options,
        )?);
    }
    let text = match args.format {
        Format::Json => super::to_json(&reports)?,
        f => {
            let mut s = String::new();
            for (k, r) in reports.iter().enumerate() {
                if reports.len() > 1 {
                    s.push_str(&format!("network {k} of {}\n", reports.len()));
                }
                s.push_str(&r.render(f)?);
                s.push('\n');
            }
            s
        }
    };
    emit(&text, args.out.as_deref())?;
    let failed: Vec<usize> = (0..reports.len()).filter(|&k| !reports[k].passed).collect();
    let undetected = reports
        .iter()
        .any(|r| r.negative_control.as_ref().is_some_and(|c| !c.detected));
    if !failed.is_empty() || undetected {
        return Err(CliError::internal(anyhow::anyhow!(
            "gradient check failed for network(s) {failed:?}{}",
            if undetected {
                "; a negative control was not rejected"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

const EXPLAIN_HELP: &str = "\
Examples:
  glassbox explain MODEL datasets/online_shoppers_test.csv --rows 0,7,42
  glassbox explain MODEL data.csv --rows 3 --output probability --steps 2048
  glassbox explain MODEL datasets/online_shoppers_test.csv --importance --repeats 20

Per chosen row (0-based data rows): gradient × input and integrated gradients from the
all-zero standardised baseline, per CSV column (one-hot groups summed), with the completeness
gap Σ IG − (f(x) − f(baseline)). With --importance: the drop in ROC-AUC when each column is
permuted, over the whole file (which must hold the target), with 95 % intervals. Writes to the
output folder:
  explain.json, explain.md                 the attributions (every feature in the JSON)
  plots/explain_row<R>.{svg,png}           integrated gradients per column, one chart a row
  importance.json, importance.md           with --importance
  plots/importance.{svg,png}               with --importance
The maths: notes/explain.md.";

/// Arguments of `explain`.
#[derive(Debug, Args)]
#[command(after_help = EXPLAIN_HELP)]
pub struct ExplainArgs {
    /// The model file.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// A CSV file with the model's columns (the target only for --importance).
    #[arg(value_name = "DATA.csv")]
    pub data: PathBuf,

    /// Data rows to explain, 0-based, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0", value_name = "R,…")]
    pub rows: Vec<usize>,

    /// Explain the logit (log-odds) or the probability.
    #[arg(long, value_enum, default_value = "logit")]
    pub output: Output,

    /// Steps m of the integrated-gradients path integral.
    #[arg(long, default_value_t = 1024, value_name = "M")]
    pub steps: usize,

    /// Quadrature rule of the path integral.
    #[arg(long, value_enum, default_value = "trapezoid")]
    pub rule: Rule,

    /// Also compute permutation importance over the whole file.
    #[arg(long)]
    pub importance: bool,

    /// Permutations per column for --importance.
    #[arg(long, default_value_t = 10, value_name = "R")]
    pub repeats: usize,

    /// Seed of the permutations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Format printed to the terminal (the files hold JSON and Markdown).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,

    /// Output folder.
    #[arg(long, short, value_name = "DIR", default_value = "runs/explain")]
    pub out: PathBuf,
}

/// Runs `explain`.
pub fn explain(args: ExplainArgs, global: &Global) -> Result<(), CliError> {
    let bundle = load_bundle(&args.model)?;
    let model = Classifier::new(&bundle.members)?;
    let pre = &bundle.preprocessor;
    let schema = if args.importance {
        pre.schema().clone()
    } else {
        pre.prediction_schema()
    };
    let table = Table::read(&args.data, &ReadOptions::default(), &schema).data_err()?;
    let config = IgConfig {
        steps: args.steps,
        rule: args.rule,
        output: args.output,
        ..IgConfig::default()
    };
    // Everything is computed before the output folder is opened, so a row beyond the file
    // or an importance that cannot be computed (`--repeats 0`, one class only) leaves no
    // explain.json behind.
    let report = explain_rows(&model, pre, &table, &args.rows, &config)?;
    let importance = if args.importance {
        let config = PermutationConfig {
            repeats: args.repeats,
            seed: args.seed,
        };
        Some(permutation_importance_csv(&model, pre, &table, &config)?)
    } else {
        None
    };
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        run.write_json("explain.json", &report).usage_err()?;
        run.write_bytes("explain.md", report.render(Format::Markdown)?.as_bytes())
            .usage_err()?;
        let plots = run.path().join("plots");
        std::fs::create_dir_all(&plots)
            .map_err(|e| crate::output::OutputError::new("cannot create folder", &plots, e))
            .usage_err()?;
        for f in report.plot(&plots)? {
            record_plot(run, f.paths());
        }
        print!("{}", report.render(args.format)?);
        if let Some(imp) = &importance {
            run.write_json("importance.json", imp).usage_err()?;
            run.write_bytes("importance.md", imp.render(Format::Markdown)?.as_bytes())
                .usage_err()?;
            let files = imp.plot(&run.prepare("plots/importance").usage_err()?)?;
            record_plot(run, files.paths());
            print!("\n{}", imp.render(args.format)?);
        }
        if !global.quiet {
            eprint!("\n{}", run.listing());
        }
        Ok(())
    })
}

fn record_plot(run: &mut RunDir, paths: [&Path; 2]) {
    for p in paths {
        run.record(p);
    }
}

/// `evaluate --by COLUMN…`, first half: per-group metrics and gaps of the bundle's
/// probabilities on the labelled file `data`, at the bundle's threshold, for each column.
/// Nothing is written: `evaluate` calls this before it opens its output folder, so an
/// unknown column or one with too many values fails the run before metrics.json and the
/// plots exist. Every column is checked against the file's header before any is scored.
/// No columns give no reports.
///
/// # Errors
/// An unknown column (usage, naming the file and listing its columns), unreadable data, a
/// column with too many values.
pub fn fairness_reports(
    bundle: &Bundle,
    data: &Path,
    columns: &[String],
) -> Result<Vec<FairnessReport>, CliError> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let raw = RawTable::read(data, &ReadOptions::default()).data_err()?;
    let groups = columns
        .iter()
        .map(|column| group_labels(&raw, column))
        .collect::<Result<Vec<_>, _>>()?;
    let pre = &bundle.preprocessor;
    let table = Table::from_raw(&raw, pre.schema()).data_err()?;
    let (x, y) = pre.transform(&table).data_err()?;
    let labels: Vec<bool> = y.iter().map(|&v| v > 0.5).collect();
    let scores = bundle.probabilities(x.view());
    let config = FairnessConfig {
        threshold: bundle.info.threshold.value,
        ..FairnessConfig::default()
    };
    let mut reports = Vec::with_capacity(columns.len());
    for (column, groups) in columns.iter().zip(&groups) {
        let mut report = fairness_by_group(column, groups, &labels, &scores, &config)?;
        report.source = table.file().to_string();
        reports.push(report);
    }
    Ok(reports)
}

/// `evaluate --by COLUMN…`, second half: writes each report of [`fairness_reports`] as
/// `fairness_<COLUMN>.json`, `.md` and `plots/fairness_<COLUMN>.{svg,png}` into `run` and
/// prints its text table.
///
/// # Errors
/// A file that cannot be written (usage).
pub fn write_fairness(reports: &[FairnessReport], run: &mut RunDir) -> Result<(), CliError> {
    for report in reports {
        let stem = format!("fairness_{}", sanitize(&report.column));
        run.write_json(format!("{stem}.json"), report).usage_err()?;
        run.write_bytes(
            format!("{stem}.md"),
            report.render(Format::Markdown)?.as_bytes(),
        )
        .usage_err()?;
        let files = report.plot(&run.prepare(format!("plots/{stem}")).usage_err()?)?;
        record_plot(run, files.paths());
        print!("\n{}", report.render(Format::Text)?);
    }
    Ok(())
}

/// A column name as a file-name part: letters, digits, `-` and `_` kept, others `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
