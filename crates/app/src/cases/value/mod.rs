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

use glassbox_train::metrics::value::ValueMetrics;
use glassbox_train::{TrainError, apply_power_map, decile_power_map};
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

/// A job's predictions for its scored rows (none when a shared map makes them, C40), its
/// epochs, its (blend weight, power-map exponent, level factor), its unmapped predictions for
/// a shared map (C40), and the model itself when kept.
type JobResult = (
    Vec<f64>,
    usize,
    (f64, f64, f64),
    Option<Unmapped>,
    Option<ValueModel>,
);

/// A cross-fitting model's predictions before the decile power map (C39 off, level 1) on its
/// val rows and on its scored rows: what the shared map C40 is fitted on and applied to.
struct Unmapped {
    val: Vec<f64>,
    score: Vec<f64>,
}

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
            let mut model = fit_value_model(
                &table,
                &columns,
                clock.horizon_ms,
                &job.fit,
                &job.val,
                &recipe,
                Some(1),
            )?;
            let expected = |m: &ValueModel, rows: &[usize]| -> Vec<f64> {
                m.predict(&table, rows).iter().map(|p| p.expected).collect()
            };
            let epochs = model.trainer.epochs_done();
            let fitted = (model.info.blend, model.info.decile_map.1, model.info.level);
            // C40: a cross-fitting model's own map is replaced by one shared with the
            // other folds' models, fitted on their pooled val predictions before the map;
            // its scored predictions come from `shared_decile_maps`, so none are made here.
            let (preds, unmapped) = if job.fold.is_some() && shares_map(&recipe) {
                model.info.decile_map = (1.0, 1.0);
                let raw = Unmapped {
                    val: expected(&model, &job.val),
                    score: expected(&model, &job.score),
                };
                (Vec::new(), Some(raw))
            } else {
                (expected(&model, &job.score), None)
            };
            let keep = job.model == 0 && job.seed == options.seed && job.fold.is_none();
            Ok((preds, epochs, fitted, unmapped, keep.then_some(model)))
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
    let mut unmapped = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        let (preds, epochs, fitted, raw, model) = result.internal_err()?;
        if let Some(raw) = raw {
            unmapped.push((job, raw));
            continue;
        }
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
    for (job, preds) in shared_decile_maps(&table.target, &unmapped) {
        let s = (job.seed - options.seed) as usize;
        for (&i, p) in job.score.iter().zip(preds) {
            models[job.model].cross_fit[s][i] = p;
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

/// Whether a recipe's cross-fitting models share their decile power map (C40): when it maps
/// (C39) and has no level factor after the map (C36 stays per model, so a shared map is
/// only used where nothing per model follows it).
fn shares_map(recipe: &ValueRecipe) -> bool {
    recipe.calibrate_deciles && !recipe.calibrate_level
}

/// (C40) The decile power map shared by the cross-fitting models of one recipe and seed:
/// model f's unmapped scored predictions go through C39 fitted on the pooled unmapped val
/// predictions of every model of that recipe and seed whose val fold is not fold f (fold f's
/// targets never reach the map that scores it), pooled in job order. One map per fold that
/// differs from the others' by one fold's val rows, where five maps fitted on one val fold
/// each shift five models against each other and cost the pooled ranking
/// (notes/value.md §4, the thirteenth session).
fn shared_decile_maps<'j>(
    target: &[f64],
    unmapped: &[(&'j Job, Unmapped)],
) -> Vec<(&'j Job, Vec<f64>)> {
    unmapped
        .iter()
        .map(|(job, raw)| {
            let (mut actual, mut predicted) = (Vec::new(), Vec::new());
            for (other, other_raw) in unmapped {
                let same = other.model == job.model && other.seed == job.seed;
                // Model g's val fold is g + 1 (mod 5): leave out the one that is fold f.
                let val_fold = other.fold.map(|g| (g + 1) % FOLDS);
                if same && val_fold != job.fold {
                    actual.extend(other.val.iter().map(|&i| target[i]));
                    predicted.extend_from_slice(&other_raw.val);
                }
            }
            let map = decile_power_map(&actual, &predicted);
            let mapped = raw.score.iter().map(|&p| apply_power_map(map, p)).collect();
            (*job, mapped)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Five fold models of one seed on 5 × 20 customers (fold g = rows 20g … 20g + 19; model f
    /// scores fold f, its val is fold f + 1), plus one model of another seed; unmapped
    /// predictions rise with the row and differ per model.
    fn fold_jobs(seed: u64) -> Vec<Job> {
        let fold = |g: usize| (20 * g..20 * g + 20).collect::<Vec<_>>();
        (0..FOLDS)
            .map(|f| Job {
                model: 0,
                seed,
                fold: Some(f),
                fit: Vec::new(),
                val: fold((f + 1) % FOLDS),
                score: fold(f),
            })
            .collect()
    }

    fn unmapped(job: &Job) -> Unmapped {
        let pred = |i: usize| (1.0 + i as f64) * (1.0 + 0.1 * job.fold.unwrap_or(0) as f64);
        Unmapped {
            val: job.val.iter().map(|&i| pred(i)).collect(),
            score: job.score.iter().map(|&i| pred(i)).collect(),
        }
    }

    fn target(i: usize) -> f64 {
        // A power law of the row with noise in the low deciles, some zeros.
        if i.is_multiple_of(7) {
            0.0
        } else {
            3.0 * (1.0 + i as f64).powf(1.3) + (i % 5) as f64
        }
    }

    #[test]
    fn each_fold_model_is_mapped_by_c39_on_the_other_val_folds_only() {
        let (ours, other_seed) = (fold_jobs(7), fold_jobs(8));
        let mut all: Vec<(&Job, Unmapped)> = ours.iter().map(|j| (j, unmapped(j))).collect();
        all.extend(other_seed.iter().map(|j| (j, unmapped(j))));
        let y: Vec<f64> = (0..100).map(target).collect();
        let out = shared_decile_maps(&y, &all);
        assert_eq!(out.len(), 10);
        for (k, (job, mapped)) in out.iter().take(FOLDS).enumerate() {
            let f = job.fold.unwrap();
            // C40 by hand: pool the val rows of models g ≠ f − 1 of the same seed, in order.
            let (mut a, mut p) = (Vec::new(), Vec::new());
            for (g, (other, raw)) in all.iter().take(FOLDS).enumerate() {
                if (g + 1) % FOLDS != f {
                    a.extend(other.val.iter().map(|&i| y[i]));
                    p.extend_from_slice(&raw.val);
                }
            }
            assert_eq!(a.len(), 80, "four val folds of 20");
            let map = decile_power_map(&a, &p);
            assert!(map != (1.0, 1.0), "a map that does something");
            let want: Vec<f64> = all[k]
                .1
                .score
                .iter()
                .map(|&x| apply_power_map(map, x))
                .collect();
            assert_eq!(mapped, &want, "fold {f}");
            // A monotone map: the model's order is kept.
            assert!(mapped.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn a_fold_s_own_targets_never_move_its_predictions() {
        let jobs = fold_jobs(0);
        let all: Vec<(&Job, Unmapped)> = jobs.iter().map(|j| (j, unmapped(j))).collect();
        let y: Vec<f64> = (0..100).map(target).collect();
        let base = shared_decile_maps(&y, &all);
        // Fold 2's targets ×10: model 2 (which scores fold 2) must not move; the models
        // whose maps pool fold 2 (as model 1's val) must.
        let mut z = y.clone();
        for v in &mut z[40..60] {
            *v *= 10.0;
        }
        let moved = shared_decile_maps(&z, &all);
        for f in 0..FOLDS {
            if f == 2 {
                assert_eq!(
                    base[f].1, moved[f].1,
                    "fold 2's targets leaked into its map"
                );
            } else {
                assert_ne!(
                    base[f].1, moved[f].1,
                    "fold {f} should pool fold 2's val rows"
                );
            }
        }
    }
}
