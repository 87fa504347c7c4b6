//! `glassbox case-study`: the purchase-prediction study, end to end, on the bundled data.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::Global;
use super::common::OutDir;
use crate::exit::{CliError, ResultExt};
use crate::output::RunDir;
use crate::pipeline::{
    DataOptions, Evaluation, MemberJob, TrainedModel, assemble, evaluate_csv, prepare_training,
    thread_count, train_members,
};
use crate::plot;
use crate::progress::Progress;
use crate::recipe::{Recipe, RecipeChanges};
use crate::render::metrics::metrics_table;
use crate::report::{
    CaseStudy, CaseStudyModel, EvalPlots, Plots, case_study_markdown, record_all, write_eval_plots,
    write_history, write_history_plots,
};
use glassbox_data::{DataSummary, ReadOptions, Table, TargetSpec};

const AFTER_HELP: &str = "\
Examples:
  glassbox case-study                          # writes runs/case-study/
  glassbox case-study --out /tmp/cs --seed 3   # another seed, elsewhere
  glassbox case-study --quick                  # 2 epochs, 2 members: a smoke test

Reads datasets/online_shoppers_train.csv (training), datasets/online_shoppers_test.csv (test)
and datasets/online_shoppers.schema.toml from --data-dir (default: ./datasets, else the
source tree's). Trains the paper's Keras recipe and the default recipe on the training file,
evaluates both on the test file, and writes:

  report.md                      the study: test metrics side by side, reference figures,
                                 plots, recipes, data summary, conventions, limitations
  metrics.json                   every metric and curve, test and validation, both recipes
  history.csv                    per recipe, member and epoch: losses, validation ROC-AUC
  paper/model.safetensors        the model bundles (see `glassbox inspect`)
  default/model.safetensors
  plots/*.{svg,png}              loss curves, ROC, PR, calibration, confusion matrices";

/// Arguments of `case-study`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct CaseStudyArgs {
    /// Output folder.
    #[arg(long, short, value_name = "DIR", default_value = "runs/case-study")]
    pub out: PathBuf,

    /// Folder holding online_shoppers_{train,test}.csv and online_shoppers.schema.toml.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Seed of both recipes (split, initialisation, shuffling).
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub seed: u64,

    /// A fast smoke run: 2 epochs, at most 2 ensemble members.
    #[arg(long)]
    pub quick: bool,
}

const TRAIN_FILE: &str = "online_shoppers_train.csv";
const TEST_FILE: &str = "online_shoppers_test.csv";
const SCHEMA_FILE: &str = "online_shoppers.schema.toml";
const TARGET: &str = "Revenue";

/// `--data-dir`, else `./datasets` if it holds the training file, else the source tree's.
fn data_dir(arg: &Option<PathBuf>) -> PathBuf {
    if let Some(d) = arg {
        return d.clone();
    }
    let local = PathBuf::from("datasets");
    if local.join(TRAIN_FILE).is_file() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// Data rows of `test` whose text (trimmed, line ending removed) equals a data row of
/// `train`: verbatim copies across the split.
fn rows_copied_across(train: &Path, test: &Path) -> Result<usize, CliError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| anyhow::anyhow!("{}: cannot read the file: {e}", p.display()))
            .data_err()
    };
    let train_text = read(train)?;
    let seen: HashSet<&str> = train_text.lines().skip(1).map(str::trim).collect();
    let test_text = read(test)?;
    Ok(test_text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && seen.contains(l.trim()))
        .count())
}

/// Runs `case-study`.
pub fn run(args: CaseStudyArgs, global: &Global) -> Result<(), CliError> {
    let started = Instant::now();
    let progress = Progress::new(global.quiet);
    let dir = data_dir(&args.data_dir);
    let (train_path, test_path) = (dir.join(TRAIN_FILE), dir.join(TEST_FILE));
    let mut recipes = [Recipe::paper(), Recipe::default_recipe()];
    for r in &mut recipes {
        let mut changes = RecipeChanges {
            seed: Some(args.seed),
            ..Default::default()
        };
        if args.quick {
            changes.epochs = Some(2);
            changes.ensemble = Some(r.ensemble.min(2));
        }
        r.apply(&changes)
            .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    }
    let threads = thread_count(global.threads);
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        let target = TargetSpec::new(TARGET);
        let prepare_started = Instant::now();
        // Both recipes read the training file their own way (log1p or not, a validation
        // part or not): on two threads.
        let sets = std::thread::scope(|scope| {
            let handles: Vec<_> = recipes
                .iter()
                .map(|r| {
                    let (dir, train_path, target) = (&dir, &train_path, &target);
                    scope.spawn(move || {
                        let options = DataOptions {
                            schema: Some(dir.join(SCHEMA_FILE)),
                            apply_log1p: r.log1p,
                            ..Default::default()
                        };
                        prepare_training(train_path, &options, target, r.val_fraction, r.seed)
                            .map_err(CliError::from)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("a data-reading thread panicked").into())
                    })
                })
                .collect::<Result<Vec<_>, CliError>>()
        })?;
        let names = ["paper", "default"];
        let jobs: Vec<MemberJob<'_>> = recipes
            .iter()
            .zip(&sets)
            .zip(names)
            .flat_map(|((recipe, set), model)| {
                (0..recipe.ensemble).map(move |member| MemberJob {
                    set,
                    recipe,
                    model,
                    member,
                })
            })
            .collect();
        let prepare_seconds = prepare_started.elapsed().as_secs_f64();
        let train_started = Instant::now();
        let mut results = train_members(&jobs, threads, &progress).into_iter();
        let train_seconds = train_started.elapsed().as_secs_f64();
        let mut trained: Vec<TrainedModel> = Vec::new();
        for ((recipe, set), name) in recipes.iter().zip(&sets).zip(names) {
            let members = results
                .by_ref()
                .take(recipe.ensemble)
                .collect::<Result<Vec<_>, _>>()?;
            trained.push(assemble(set, recipe, name, members)?);
        }
        let evaluate_started = Instant::now();
        let mut tests: Vec<Evaluation> = Vec::new();
        for t in &trained {
            let (eval, notes) = evaluate_csv(&t.bundle, &test_path, "test")?;
            if tests.is_empty() {
                for line in notes.lines() {
                    progress.note(&line);
                }
            }
            tests.push(eval);
        }
        let timings = Timings {
            prepare: prepare_seconds,
            train: train_seconds,
            evaluate: evaluate_started.elapsed().as_secs_f64(),
            started,
        };
        write_outputs(
            run,
            &args,
            &trained,
            &tests,
            &sets[1].summary,
            (&train_path, &test_path),
            &timings,
            threads,
        )?;
        let cols: Vec<(&str, &Evaluation)> = names.iter().copied().zip(tests.iter()).collect();
        println!(
            "case study: {} on {} (train) → {} (test)\n",
            names.join(" and "),
            train_path.display(),
            test_path.display()
        );
        print!("{}", metrics_table(&cols));
        if !global.quiet {
            println!();
            print!("{}", run.listing());
        }
        println!(
            "\nreport: {}  ({:.2} s)",
            run.path().join("report.md").display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// Wall time of the phases of a case study, seconds.
struct Timings {
    prepare: f64,
    train: f64,
    evaluate: f64,
    started: Instant,
}

/// Writes bundles, history, plots, metrics.json and report.md.
#[allow(clippy::too_many_arguments)]
fn write_outputs(
    run: &mut RunDir,
    args: &CaseStudyArgs,
    trained: &[TrainedModel],
    tests: &[Evaluation],
    train_summary: &DataSummary,
    (train_path, test_path): (&Path, &Path),
    timings: &Timings,
    threads: usize,
) -> Result<(), CliError> {
    let write_started = Instant::now();
    let names = ["paper", "default"];
    let test_table = Table::read(
        test_path,
        &ReadOptions::default(),
        trained[1].bundle.preprocessor.schema(),
    )
    .data_err()?;
    let test_summary =
        DataSummary::new(&test_table, Some(&trained[1].bundle.preprocessor)).data_err()?;
    let mut history = Vec::new();
    let mut bundle_paths = Vec::new();
    for (t, name) in trained.iter().zip(names) {
        let rel = format!("{name}/model.safetensors");
        let path = run.prepare(&rel).usage_err()?;
        t.bundle.save(&path).usage_err()?;
        run.record(path);
        bundle_paths.push(rel);
        history.extend(t.history.iter().cloned());
    }
    // The figures are independent: draw each model's, and the comparison, on its own thread.
    let shared: &RunDir = run;
    let (drawn, comparison) = std::thread::scope(|scope| {
        let handles: Vec<_> = trained
            .iter()
            .zip(tests)
            .zip(names)
            .map(|((t, test), name)| {
                scope.spawn(move || -> Result<(Plots, EvalPlots), CliError> {
                    let h = write_history_plots(
                        shared,
                        name,
                        &t.bundle.info.recipe.label(),
                        &t.history,
                    )
                    .usage_err()?;
                    let e =
                        write_eval_plots(shared, name, &format!("{name} recipe, test split"), test)
                            .usage_err()?;
                    Ok((h, e))
                })
            })
            .collect();
        let comparison = comparison_plots(shared, &names, tests);
        let drawn: Vec<_> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a plotting thread panicked").into()))
            })
            .collect();
        (drawn, comparison)
    });
    let mut history_plots = Vec::new();
    let mut eval_plots = Vec::new();
    for d in drawn {
        let (h, e) = d?;
        record_all(run, &h.files);
        record_all(run, &e.files);
        history_plots.push(h.stems);
        eval_plots.push(e);
    }
    let comparison = comparison?;
    record_all(run, &comparison.files);
    let comparison = comparison.stems;
    write_history(run, &history).usage_err()?;
    let test_rows_in_train = rows_copied_across(train_path, test_path)?;
    run.write_json(
        "metrics.json",
        &json!({
            "train_file": train_path.display().to_string(),
            "test_file": test_path.display().to_string(),
            "seed": args.seed,
            "quick": args.quick,
            "threads": threads,
            "seconds": {
                "read_and_prepare": timings.prepare,
                "train": timings.train,
                "evaluate": timings.evaluate,
                "bundles_plots_history": write_started.elapsed().as_secs_f64(),
                "total_before_report": timings.started.elapsed().as_secs_f64(),
            },
            "models": names.iter().zip(trained).zip(tests).map(|((n, t), e)| json!({
                "name": n,
                "recipe": t.bundle.info.recipe,
                "threshold": t.bundle.info.threshold,
                "members": t.bundle.info.members,
                "test": e,
                "validation": t.validation,
            })).collect::<Vec<_>>(),
            "test_rows_copied_from_train": test_rows_in_train,
            "data": { "train": train_summary, "test": test_summary },
        }),
    )
    .usage_err()?;
    let models = names
        .iter()
        .enumerate()
        .map(|(i, n)| CaseStudyModel {
            name: n,
            bundle: &trained[i].bundle,
            bundle_path: bundle_paths[i].clone(),
            test: &tests[i],
            validation: trained[i].validation.as_ref(),
            plots: &eval_plots[i],
            history_plots: &history_plots[i],
            train_seconds: timings.train,
        })
        .collect();
    let command = format!(
        "glassbox case-study{}{}",
        if args.seed != 0 {
            format!(" --seed {}", args.seed)
        } else {
            String::new()
        },
        if args.quick { " --quick" } else { "" }
    );
    let report = case_study_markdown(&CaseStudy {
        models,
        train_summary,
        test_summary: &test_summary,
        test_rows_in_train,
        comparison_plots: &comparison,
        total_seconds: timings.started.elapsed().as_secs_f64(),
        threads,
        command,
    });
    run.write_bytes("report.md", report.as_bytes())
        .usage_err()?;
    Ok(())
}

/// ROC and precision–recall curves of both recipes on one figure each.
fn comparison_plots(run: &RunDir, names: &[&str], tests: &[Evaluation]) -> Result<Plots, CliError> {
    let mut out = Plots::default();
    let roc: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .zip(tests)
        .filter_map(|(n, e)| {
            let r = e.roc.as_ref()?;
            let label = format!("{n} (AUC {:.4})", e.at_threshold.roc_auc?);
            Some((
                label,
                r.fpr.iter().copied().zip(r.tpr.iter().copied()).collect(),
            ))
        })
        .collect();
    let pr: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .zip(tests)
        .filter_map(|(n, e)| {
            let r = e.pr.as_ref()?;
            let label = format!("{n} (AP {:.4})", e.at_threshold.average_precision?);
            Some((
                label,
                r.recall
                    .iter()
                    .copied()
                    .zip(r.precision.iter().copied())
                    .collect(),
            ))
        })
        .collect();
    for (stem, title, x, y, series) in [
        (
            "plots/compare-roc",
            "ROC, test split",
            "false positive rate",
            "true positive rate",
            roc,
        ),
        (
            "plots/compare-pr",
            "Precision–recall, test split",
            "recall",
            "precision",
            pr,
        ),
    ] {
        if series.is_empty() {
            continue;
        }
        let pairs: Vec<(&str, &[(f64, f64)])> = series
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_slice()))
            .collect();
        let files =
            plot::line_curves(run.prepare(stem).usage_err()?, title, x, y, &pairs).usage_err()?;
        out.files
            .extend(files.paths().iter().map(|p| p.to_path_buf()));
        out.stems.push(stem.to_string());
    }
    Ok(out)
}
