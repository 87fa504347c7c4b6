//! The customer-value case study (issue 14): from each customer's transactions before
//! 2011-09-01, predict their spend in the next 91 days, on UCI's "Online Retail" log, under the
//! protocol of `../shared/datasets/README.md`.
//!
//! ```text
//! data      datasets/online_retail.csv.gz, streamed (glassbox-value: C10–C25)
//! split     the portable customer split (C24): fit / val / test; and 5 cross-fitting folds
//! models    ZILN MLP (default) and MSE-on-log1p MLP, 5 seeds each; the last-period rule (C25)
//! metrics   Gini, Spearman, decile MAPE, top-10/20 % share, MAE, RMSE, AUC any (C30–C35)
//! report    metrics.json, report.md, decile chart, gain curve, permutation importance (report.rs)
//! ```
//!
//! Everything chosen (epochs by early stopping, the MSE alternative's blend weight with the
//! rule C37, the decile power map C39) is chosen on val; the ZILN default is not blended and
//! the level factor C36 is off. Test and the
//! cross-fitted pooled figures are computed once, for the report.

mod report;

use std::path::PathBuf;
use std::time::Instant;

use glassbox_train::TrainError;
use glassbox_train::metrics::value::ValueMetrics;
use glassbox_value::{
    Clock, Columns, CustomerTable, Part, cross_fit_folds, featurize, headline_split,
    last_period_rule, parse_date, parse_horizon,
};
use rayon::prelude::*;

use super::{Case, CaseOptions};
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::pipeline::value::{ValueModel, ValueRecipe, fit_value_model};

/// The value case in the registry.
pub const CASE: Case = Case {
    name: "value",
    about: "customer lifetime value: each customer's spend in the next 91 days, ZILN MLP vs \
            the references, on the Online Retail log",
    default_out: "runs/case-study-value",
    run,
};

const LOG_FILE: &str = "online_retail.csv.gz";
const CUTOFF: &str = "2011-09-01";
const START: &str = "2010-12-01";
const HORIZON: &str = "91d";
/// Seeds per model (the targets are means over 5).
const SEEDS: u64 = 5;
/// Cross-fitting folds.
const FOLDS: usize = 5;

/// One model's predictions: per seed, on the headline test customers and cross-fitted
/// (out-of-fold) on every customer.
pub(crate) struct ModelRuns {
    pub name: &'static str,
    /// `[seed][test position]`.
    pub test: Vec<Vec<f64>>,
    /// `[seed][customer]`, empty when not cross-fitted.
    pub cross_fit: Vec<Vec<f64>>,
    /// Epochs trained per headline seed (early stopping).
    pub epochs: Vec<usize>,
    /// Per headline seed: the network's blend weight α (C37), the exponent of the decile
    /// power map (C39) and the level factor (C36), all fitted on val.
    pub blend_level: Vec<(f64, f64, f64)>,
}

/// What the report is built from.
pub(crate) struct Study {
    pub table: CustomerTable,
    pub parts: Vec<Part>,
    pub test: Vec<usize>,
    pub val: Vec<usize>,
    pub models: Vec<ModelRuns>,
    pub rule_test: Vec<f64>,
    pub rule_all: Vec<f64>,
    /// The first seed's headline ZILN model (for permutation importance).
    pub first_model: ValueModel,
    pub read_seconds: f64,
    pub fit_seconds: f64,
}

fn rows_of(parts: &[Part], part: Part) -> Vec<usize> {
    (0..parts.len()).filter(|&i| parts[i] == part).collect()
}

/// A model of the study: its name, its recipe for a seed, and whether it is cross-fitted.
type ModelPreset = (&'static str, fn(u64) -> ValueRecipe, bool);

/// A job's predictions for its scored rows, its epochs, its (blend weight, power-map
/// exponent, level factor), and the model itself when kept.
type JobResult = (Vec<f64>, usize, (f64, f64, f64), Option<ValueModel>);

/// One training job: a recipe, its fit/val/score rows and where its predictions go.
struct Job {
    model: usize,
    seed: u64,
    /// `None`: the headline split; `Some(f)`: cross-fitting fold f is scored.
    fold: Option<usize>,
    fit: Vec<usize>,
    val: Vec<usize>,
    score: Vec<usize>,
}

fn run(case: &Case, options: &CaseOptions) -> Result<(), CliError> {
    let started = Instant::now();
    let mut out = OutDir::open(&options.out)?;
    // Everything that can fail runs inside the guard: a log that fails to load leaves no
    // folder behind (the guard removes the one it created while it is still empty).
    out.guard(|run| {
        let study = study(options)?;
        report::write(case, options, &study, run, started)
    })
}

/// Reads the log, splits it, trains every model and computes the rule.
fn study(options: &CaseOptions) -> Result<Study, CliError> {
    let started = Instant::now();
    let dir = super::data_dir(&options.data_dir, LOG_FILE);
    let log = dir.join(LOG_FILE);
    let columns = Columns::online_retail();
    let clock = Clock {
        cutoff_ms: parse_date(CUTOFF, "cutoff").usage_err()?,
        horizon_ms: parse_horizon(HORIZON, "horizon").usage_err()?,
        start_ms: Some(parse_date(START, "start").usage_err()?),
    };
    let table = featurize(&log, &columns, &clock, true).data_err()?;
    let read_seconds = started.elapsed().as_secs_f64();
    let parts = headline_split(&table.ids, &table.numeric_ids, &table.target);
    let folds = cross_fit_folds(&table.ids, &table.numeric_ids, &table.target, FOLDS);
    let (fit, val, test) = (
        rows_of(&parts, Part::Fit),
        rows_of(&parts, Part::Val),
        rows_of(&parts, Part::Test),
    );
    let seeds = if options.quick { 1 } else { SEEDS };
    let recipes: [ModelPreset; 2] = [
        ("ZILN MLP (default)", ValueRecipe::ziln, true),
        ("MSE-on-log1p MLP", ValueRecipe::mse_log1p, false),
    ];
    let mut jobs = Vec::new();
    for (m, (_, _, cross)) in recipes.iter().enumerate() {
        for s in 0..seeds {
            let seed = options.seed + s;
            jobs.push(Job {
                model: m,
                seed,
                fold: None,
                fit: fit.clone(),
                val: val.clone(),
                score: test.clone(),
            });
            if *cross {
                for f in 0..FOLDS {
                    let folds = &folds;
                    let of = |g: usize| (0..folds.len()).filter(move |&i| folds[i] == g);
                    let v = (f + 1) % FOLDS;
                    jobs.push(Job {
                        model: m,
                        seed,
                        fold: Some(f),
                        fit: (0..folds.len())
                            .filter(|&i| folds[i] != f && folds[i] != v)
                            .collect(),
                        val: of(v).collect(),
                        score: of(f).collect(),
                    });
                }
            }
        }
    }
    let fit_started = Instant::now();
    // Independent jobs side by side, one thread each: every job is seeded on its own and its
    // sums run in row order, so the results do not depend on the thread count.
    let results: Vec<Result<JobResult, TrainError>> = jobs
        .par_iter()
        .map(|job| {
            let mut recipe = (recipes[job.model].1)(job.seed);
            if options.quick {
                recipe.max_epochs = recipe.max_epochs.min(20);
            }
            let model = fit_value_model(
                &table,
                &columns,
                clock.horizon_ms,
                &job.fit,
                &job.val,
                &recipe,
                Some(1),
            )?;
            let preds = model
                .predict(&table, &job.score)
                .iter()
                .map(|p| p.expected)
                .collect();
            let epochs = model.trainer.epochs_done();
            let keep = job.model == 0 && job.seed == options.seed && job.fold.is_none();
            let fitted = (model.info.blend, model.info.decile_map.1, model.info.level);
            Ok((preds, epochs, fitted, keep.then_some(model)))
        })
        .collect();
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let mut models: Vec<ModelRuns> = recipes
        .iter()
        .map(|(name, _, cross)| ModelRuns {
            name,
            test: Vec::new(),
            cross_fit: if *cross {
                vec![vec![0.0; table.ids.len()]; seeds as usize]
            } else {
                Vec::new()
            },
            epochs: Vec::new(),
            blend_level: Vec::new(),
        })
        .collect();
    let mut first_model = None;
    for (job, result) in jobs.iter().zip(results) {
        let (preds, epochs, fitted, model) = result.internal_err()?;
        let runs = &mut models[job.model];
        let s = (job.seed - options.seed) as usize;
        match job.fold {
            None => {
                runs.test.push(preds);
                runs.epochs.push(epochs);
                runs.blend_level.push(fitted);
            }
            Some(_) => {
                for (&i, p) in job.score.iter().zip(preds) {
                    runs.cross_fit[s][i] = p;
                }
            }
        }
        if model.is_some() {
            first_model = model;
        }
    }
    let calibration_days = (clock.cutoff_ms - table.stats.start_ms) as f64 / 86_400_000.0;
    let horizon_days = clock.horizon_ms as f64 / 86_400_000.0;
    let rule = |i: usize| last_period_rule(&table.features[i], horizon_days, calibration_days);
    Ok(Study {
        rule_test: test.iter().map(|&i| rule(i)).collect(),
        rule_all: (0..table.ids.len()).map(rule).collect(),
        first_model: first_model
            .ok_or_else(|| anyhow::anyhow!("the first ZILN model is missing"))
            .internal_err()?,
        table,
        parts,
        test,
        val,
        models,
        read_seconds,
        fit_seconds,
    })
}

/// Metrics of predictions against the actual values of `rows`.
pub(crate) fn metrics_of(
    table: &CustomerTable,
    rows: &[usize],
    predicted: &[f64],
) -> Result<ValueMetrics, CliError> {
    let actual: Vec<f64> = rows.iter().map(|&i| table.target[i]).collect();
    ValueMetrics::compute(&actual, predicted)
        .map_err(|e| anyhow::anyhow!("value metrics: {e}"))
        .internal_err()
}

/// Where the case reads its log from (for the report).
pub(crate) fn log_path(options: &CaseOptions) -> PathBuf {
    super::data_dir(&options.data_dir, LOG_FILE).join(LOG_FILE)
}
