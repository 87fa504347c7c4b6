//! `glassbox evaluate MODEL DATA.csv [--out DIR]`.

use std::path::{Path, PathBuf};

use clap::Args;
use glassbox_audit::fairness::fairness_by_columns;
use glassbox_data::{RawTable, ReadOptions};
use glassbox_train::metrics::fairness::{FairnessConfig, FairnessReport};
use serde_json::json;

use super::Global;
use super::common::{CostArgs, load_bundle};
use crate::bundle::Bundle;
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::output::RunDir;
use crate::pipeline::cost::evaluate_cost;
use crate::pipeline::evaluate_csv;
use crate::plot;
use crate::progress::Progress;
use crate::render::metrics::metrics_table;
use crate::render::{Format, render};
use crate::report::{record_all, write_eval_plots};

const AFTER_HELP: &str = "\
Examples:
  glassbox evaluate runs/case-study/default/model.safetensors datasets/online_shoppers_test.csv
  glassbox evaluate model.safetensors holdout.csv --out runs/holdout
  glassbox evaluate MODEL datasets/online_shoppers_test.csv --by VisitorType,Region

The file must hold the target column with the labels seen in training. Prints the metrics
at the model's threshold and at 0.5 (ROC-AUC, PR-AUC, log-loss, Brier, F1, precision, recall,
accuracy, confusion counts) and writes to the output folder:
  metrics.json                         every metric, the curves and the calibration table;
                                       `cost`: the expected cost of the model's decisions
                                       (with a cost matrix: --cost-fp with --cost-fn or
                                       --cost-fn-column, or the one stored by train)
  plots/roc.{svg,png}                  ROC curve with the chance diagonal
  plots/pr.{svg,png}                   precision-recall curve with the no-skill line
  plots/calibration.{svg,png}          reliability diagram (10 bins) and bin counts
  plots/confusion.{svg,png}            confusion matrix at the model's threshold
  fairness_<COLUMN>.{json,md}          with --by: metrics per group, gaps, small groups flagged
  plots/fairness_<COLUMN>.{svg,png}    with --by: the per-group rates side by side
The --by columns are checked against the file's header before anything is written.
The fairness maths: notes/fairness.md.";

/// Arguments of `evaluate`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct EvaluateArgs {
    /// The model file (model.safetensors).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// A labelled CSV file (with the target column).
    #[arg(value_name = "DATA.csv")]
    pub data: PathBuf,

    /// Output folder for metrics.json and the plots.
    #[arg(long, short, value_name = "DIR", default_value = "runs/evaluate")]
    pub out: PathBuf,

    /// Fairness report per group of these CSV columns (e.g. VisitorType,Region): counts,
    /// positive and predicted-positive rates, TPR, FPR, precision, ROC-AUC, calibration,
    /// demographic-parity and equalised-odds differences, and a plot.
    #[arg(long, value_name = "COLUMN", value_delimiter = ',')]
    pub by: Vec<String>,

    /// Price the model's decisions under this cost matrix (default: the one the model was
    /// trained with, if any).
    #[command(flatten)]
    pub cost: CostArgs,
}

/// Runs `evaluate`.
pub fn run(args: EvaluateArgs, global: &Global) -> Result<(), CliError> {
    let progress = Progress::new(global.quiet);
    let bundle = load_bundle(&args.model)?;
    let costs = args.cost.spec()?;
    // --by columns are checked (and the groups scored) before the output folder is opened:
    // a misspelt column must not leave metrics.json and plots behind.
    let fairness = fairness_reports(&bundle, &args.data, &args.by)?;
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        let name = args
            .data
            .file_name()
            .map_or_else(|| "data".to_string(), |n| n.to_string_lossy().into_owned());
        let (eval, notes) = evaluate_csv(&bundle, &args.data, &name)?;
        for line in notes.lines() {
            progress.note(&line);
        }
        let cost = evaluate_cost(&bundle, &args.data, &eval, costs.as_ref())?;
        let title = format!("{} on {name}", bundle.info.recipe.label());
        let plots = write_eval_plots(run, "eval", &title, &eval).usage_err()?;
        record_all(run, &plots.files);
        run.write_json(
            "metrics.json",
            &json!({
                "model": args.model.display().to_string(),
                "data": args.data.display().to_string(),
                "recipe": bundle.info.recipe,
                "threshold": bundle.info.threshold,
                "input": notes,
                "evaluation": eval,
                "cost": cost,
                "plots": plots,
            }),
        )
        .usage_err()?;
        println!(
            "{} on {} ({} rows, threshold {:.4} from the model)\n",
            args.model.display(),
            args.data.display(),
            eval.at_threshold.n,
            eval.at_threshold.threshold
        );
        print!("{}", metrics_table(&[(name.as_str(), &eval)]));
        if let Some(c) = &cost {
            let r = &c.report;
            println!(
                "\nexpected cost {:.2} at the decision {} ({} alerts; approve all {:.2}, alert all {:.2}, perfect {:.2}; savings {:.1} %)",
                r.cost,
                c.decision,
                r.alerts,
                r.cost_approve_all,
                r.cost_alert_all,
                r.cost_perfect,
                100.0 * r.savings
            );
        }
        write_fairness(&fairness, run)?;
        if !global.quiet {
            println!();
            print!("{}", run.listing());
        }
        Ok(())
    })
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
fn fairness_reports(
    bundle: &Bundle,
    data: &Path,
    columns: &[String],
) -> Result<Vec<FairnessReport>, CliError> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let raw = RawTable::read(data, &ReadOptions::default()).data_err()?;
    let config = FairnessConfig {
        threshold: bundle.info.threshold.value,
        ..FairnessConfig::default()
    };
    Ok(fairness_by_columns(
        &bundle.members,
        &bundle.preprocessor,
        &raw,
        columns,
        &config,
    )?)
}

/// `evaluate --by COLUMN…`, second half: writes each report of [`fairness_reports`] as
/// `fairness_<COLUMN>.json`, `.md` and `plots/fairness_<COLUMN>.{svg,png}` into `run` and
/// prints its text table.
///
/// # Errors
/// A file that cannot be written (usage).
fn write_fairness(reports: &[FairnessReport], run: &mut RunDir) -> Result<(), CliError> {
    for report in reports {
        let stem = format!("fairness_{}", sanitize(&report.column));
        run.write_json(format!("{stem}.json"), report).usage_err()?;
        run.write_bytes(
            format!("{stem}.md"),
            render(report, Format::Markdown)?.as_bytes(),
        )
        .usage_err()?;
        let stem_path = run.prepare(format!("plots/{stem}")).usage_err()?;
        let files = plot::reports::fairness(report, &stem_path).usage_err()?;
        record_all(run, files.paths());
        print!("\n{}", render(report, Format::Text)?);
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
