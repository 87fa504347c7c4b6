//! `glassbox explain MODEL DATA.csv`: gradient × input, integrated gradients and
//! permutation importance, mapped back to the CSV's columns ([`glassbox_audit::explain`]).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use glassbox_audit::Classifier;
use glassbox_audit::explain::{
    IgConfig, Output, PermutationConfig, Rule, explain_rows, permutation_importance_csv,
};
use glassbox_data::{ReadOptions, Table};

use super::Global;
use super::common::load_bundle;
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::plot;
use crate::render::{Format, render};
use crate::report::record_all;

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
    pub output: OutputArg,

    /// Steps m of the integrated-gradients path integral.
    #[arg(long, default_value_t = 1024, value_name = "M")]
    pub steps: usize,

    /// Quadrature rule of the path integral.
    #[arg(long, value_enum, default_value = "trapezoid")]
    pub rule: RuleArg,

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

/// Which scalar of the model is explained (E1): `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// The logit `z`, the last layer's pre-activation (log-odds of the positive class).
    Logit,
    /// The probability `p = σ(z)`.
    Probability,
}

impl From<OutputArg> for Output {
    fn from(a: OutputArg) -> Self {
        match a {
            OutputArg::Logit => Output::Logit,
            OutputArg::Probability => Output::Probability,
        }
    }
}

/// The quadrature of the path integral (E4): `--rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    /// `α_k = k/m`, k = 0 … m−1, weights 1/m.
    Left,
    /// `α_k = k/m`, k = 1 … m, weights 1/m.
    Right,
    /// `α_k = (k + ½)/m`, k = 0 … m−1, weights 1/m.
    Midpoint,
    /// `α_k = k/m`, k = 0 … m, weights 1/m with the two ends halved.
    Trapezoid,
}

impl From<RuleArg> for Rule {
    fn from(a: RuleArg) -> Self {
        match a {
            RuleArg::Left => Rule::Left,
            RuleArg::Right => Rule::Right,
            RuleArg::Midpoint => Rule::Midpoint,
            RuleArg::Trapezoid => Rule::Trapezoid,
        }
    }
}

/// Runs `explain`.
pub fn run(args: ExplainArgs, global: &Global) -> Result<(), CliError> {
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
        rule: args.rule.into(),
        output: args.output.into(),
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
        run.write_bytes("explain.md", render(&report, Format::Markdown)?.as_bytes())
            .usage_err()?;
        let plots = run.path().join("plots");
        std::fs::create_dir_all(&plots)
            .map_err(|e| crate::output::OutputError::new("cannot create folder", &plots, e))
            .usage_err()?;
        for f in plot::reports::explain_rows(&report, &plots).usage_err()? {
            record_all(run, f.paths());
        }
        print!("{}", render(&report, args.format)?);
        if let Some(imp) = &importance {
            run.write_json("importance.json", imp).usage_err()?;
            run.write_bytes("importance.md", render(imp, Format::Markdown)?.as_bytes())
                .usage_err()?;
            let files =
                plot::reports::importance(imp, &run.prepare("plots/importance").usage_err()?)
                    .usage_err()?;
            record_all(run, files.paths());
            print!("\n{}", render(imp, args.format)?);
        }
        if !global.quiet {
            eprint!("\n{}", run.listing());
        }
        Ok(())
    })
}
