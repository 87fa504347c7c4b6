//! The next-hour case study (will this visitor buy in the next hour?), end to end on the
//! bundled RetailRocket event log: the paper's recipe and the default recipe for event logs,
//! trained on the training days' standard sample and evaluated on every example of the test
//! day (the split of `datasets/README.md`, RetailRocket section; notes/events.md V23–V25).
//!
//! ```text
//! data      datasets/retailrocket_events.csv
//! features  featurize_protocol: training sample (V24) and every test example, one pass
//! model     both recipes' members side by side (validation carved from the training sample)
//! metrics   test day, probabilities corrected for the sampling (V25); M19 tops; M20 bootstrap,
//!           and paired with tuned LightGBM's test predictions (benches/peers/next_hour/)
//! report    bundles, plots, history.csv, metrics.json, report.md (report.rs)
//! ```

mod report;

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use glassbox_audit::Classifier;
use glassbox_audit::explain::{
    PermutationConfig, PermutationImportance, permutation_importance_csv,
};
use glassbox_events::{EventSpec, FeatureMatrix, FeaturizeReport, Protocol, featurize_protocol};
use glassbox_train::metrics::paired::PairedBootstrap;
use glassbox_train::metrics::threshold_counts;
use glassbox_train::metrics::top_k::{
    BootstrapInterval, cluster_bootstrap_models, precision_at_k, recall_at_top_fraction,
};
use serde::Serialize;

use super::{Case, CaseOptions};
use crate::exit::{CliError, ResultExt, joined};
use crate::out_dir::OutDir;
use crate::pipeline::events::{
    EventFeaturizer, event_recipe, matrix_table, score_matrix, training_set,
};
use crate::pipeline::{
    Evaluation, TrainedModel, ValidationPart, assemble, evaluate, train_members,
};
use crate::progress::Progress;
use crate::recipe::{Recipe, RecipeName};
use crate::render::metrics::metrics_table;

/// The next-hour case in the registry.
pub const CASE: Case = Case {
    name: "next-hour",
    about: "will this visitor buy in the next hour? The paper's recipe and the default recipe \
            on the RetailRocket event log",
    default_out: "runs/case-study-next-hour",
    run,
};

const LOG_FILE: &str = "retailrocket_events.csv";

/// The two recipes, in the order of every table and figure.
const NAMES: [&str; 2] = ["paper", "default"];

/// The paper recipe's and the default recipe's places in [`NAMES`].
const PAPER: usize = 0;
const DEFAULT: usize = 1;

/// Visitor-clustered bootstrap resamples (M20).
const BOOTSTRAP_RESAMPLES: usize = 1000;

/// Reference (c) of the data README, tuned LightGBM: its test-day probabilities (seed 0), one
/// line `label,probability` per test example in the case's row order
/// (benches/peers/next_hour/lightgbm_next_hour.py; gzip, 2.2 MB).
const PEER: &[u8] =
    include_bytes!("../../../../../benches/peers/next_hour/lightgbm_test_predictions.csv.gz");
pub(crate) const PEER_NAME: &str = "LightGBM tuned (reference c, seed 0)";

/// Negatives kept in the permutation-importance rows: one test negative in this many (by the
/// V24 rule), with every positive; ROC-AUC does not move under uniform negative sampling,
/// and the full day would cost 46 × repeats passes over 617 k rows.
const IMPORTANCE_NEGATIVES_ONE_IN: u64 = 100;

/// The test metrics of one recipe beyond [`Evaluation`] (data README's definitions).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TopMetrics {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub log_loss: f64,
    pub precision_at_100: f64,
    pub recall_at_top_1pct: f64,
    /// 95 % visitor-clustered bootstrap intervals (M20).
    pub roc_auc_ci: BootstrapInterval,
    pub pr_auc_ci: BootstrapInterval,
    /// This recipe − [`PEER_NAME`] on the same visitor resamples (M20, paired).
    pub paired: PairedBootstrap,
}

/// Everything the report needs.
pub(crate) struct Outcome {
    pub log: PathBuf,
    pub featurize: FeaturizeReport,
    pub train: FeatureMatrix,
    pub test_rows: usize,
    pub test_positives: usize,
    pub test_visitors: usize,
    pub test_positive_visitors: usize,
    pub trained: Vec<TrainedModel>,
    pub tests: Vec<Evaluation>,
    pub tops: Vec<TopMetrics>,
    pub importance: Option<PermutationImportance>,
    /// [`PEER_NAME`]'s ROC-AUC and PR-AUC on the test day.
    pub peer_roc_auc: f64,
    pub peer_pr_auc: f64,
    pub seconds: Vec<(&'static str, f64)>,
}

/// `--data-dir`, else `./datasets` if it holds the log, else the source tree's.
fn log_path(arg: &Option<PathBuf>) -> PathBuf {
    super::data_dir(arg, LOG_FILE).join(LOG_FILE)
}

/// Both recipes for event logs with the run's settings.
fn recipes(options: &CaseOptions) -> Result<[Recipe; 2], CliError> {
    super::with_run_settings(
        [
            event_recipe(RecipeName::Paper),
            event_recipe(RecipeName::Default),
        ],
        options,
    )
}

/// Distinct users among `keys`, and among the positive rows.
fn visitors(matrix: &FeatureMatrix) -> (usize, usize) {
    let mut all: Vec<u64> = matrix.keys.iter().map(|k| k.0).collect();
    let mut pos: Vec<u64> = matrix
        .keys
        .iter()
        .zip(&matrix.y)
        .filter(|(_, y)| **y == 1.0)
        .map(|(k, _)| k.0)
        .collect();
    for v in [&mut all, &mut pos] {
        v.sort_unstable();
        v.dedup();
    }
    (all.len(), pos.len())
}

/// The test-day rows of the permutation importance: every positive and one negative in
/// [`IMPORTANCE_NEGATIVES_ONE_IN`] (V24's rule with that `M`).
fn importance_rows(test: &FeatureMatrix, protocol: &Protocol, spec: &EventSpec) -> FeatureMatrix {
    let rule = Protocol {
        negative_keep_one_in: IMPORTANCE_NEGATIVES_ONE_IN,
        ..protocol.clone()
    };
    test.select(|i| {
        let (user, t) = test.keys[i];
        let k = spec.cutoffs.index_of(t).unwrap_or(0);
        rule.in_sample(user, k, Some(test.y[i] == 1.0))
    })
}

/// The peer's test probabilities, checked row by row against the case's labels (the fixture
/// follows the featurizer's row order; a different order or log is refused, not scored).
fn peer_probabilities(gzip: &[u8], labels: &[bool]) -> Result<Vec<f64>, CliError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzip)
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("the LightGBM fixture: {e}"))
        .internal_err()?;
    let mut probs = Vec::with_capacity(labels.len());
    for (i, line) in text.lines().skip(1).enumerate() {
        let parsed = line.split_once(',').and_then(|(label, p)| {
            Some((
                label == "1",
                p.parse::<f64>().ok().filter(|p| p.is_finite())?,
            ))
        });
        match parsed {
            Some((label, p)) if labels.get(i) == Some(&label) => probs.push(p),
            _ => {
                return Err(anyhow::anyhow!(
                    "the LightGBM fixture's row {} ({line:?}) does not match test example {} \
                     (its label: {:?}); regenerate it with \
                     benches/peers/next_hour/lightgbm_next_hour.py",
                    i + 1,
                    i + 1,
                    labels.get(i)
                ))
                .internal_err();
            }
        }
    }
    if probs.len() != labels.len() {
        return Err(anyhow::anyhow!(
            "the LightGBM fixture holds {} rows, the test day {}",
            probs.len(),
            labels.len()
        ))
        .internal_err();
    }
    Ok(probs)
}

/// The test day as every recipe's metrics read it.
struct TestDay<'a> {
    rows: &'a FeatureMatrix,
    labels: Vec<bool>,
    /// The visitor of each row: the bootstrap's clusters.
    users: Vec<u64>,
    /// [`PEER_NAME`]'s probabilities of the same rows.
    peer: Vec<f64>,
}

/// One recipe's test-day probabilities for the population (V25) and its threshold mapped the
/// same way.
struct Scored {
    probs: Vec<f64>,
    threshold: f64,
}

/// Scores every test row with `model` ([`Scored`]).
fn scored(
    model: &TrainedModel,
    day: &TestDay,
    featurizer: &EventFeaturizer,
) -> Result<Scored, CliError> {
    let pos_weight = model.bundle.info.recipe.pos_weight;
    let probs = score_matrix(&model.bundle, day.rows)?
        .into_iter()
        .map(|p| featurizer.population_probability(p, pos_weight))
        .collect();
    let threshold =
        featurizer.population_probability(model.bundle.info.threshold.value, pos_weight);
    Ok(Scored { probs, threshold })
}

/// Every recipe's test metrics: the evaluation and the tops (M19) of each on a thread of its
/// own, and here the visitor bootstrap (M20) of all of them with its paired form against the
/// peer's probabilities, on one set of draws (each result the same whatever runs beside it,
/// and the same bits as one bootstrap per recipe).
fn test_metrics(
    scored: &[Scored],
    day: &TestDay,
    seed: u64,
) -> Result<Vec<(Evaluation, TopMetrics)>, CliError> {
    let (labels, users, peer) = (&day.labels[..], &day.users[..], &day.peer[..]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = scored
            .iter()
            .zip(NAMES)
            .map(|(s, name)| {
                scope.spawn(move || {
                    let metric = |r: Result<f64, _>| {
                        r.map_err(|e| anyhow::anyhow!("{name}: {e}")).internal_err()
                    };
                    let tops = (
                        metric(precision_at_k(labels, &s.probs, 100))?,
                        metric(recall_at_top_fraction(labels, &s.probs, 0.01))?,
                    );
                    let eval = evaluate("test", labels.to_vec(), s.probs.clone(), s.threshold)?;
                    Ok::<_, CliError>((eval, tops))
                })
            })
            .collect();
        let models: Vec<&[f64]> = scored.iter().map(|s| &s.probs[..]).collect();
        let boots = cluster_bootstrap_models(
            labels,
            &models,
            Some(peer),
            users,
            BOOTSTRAP_RESAMPLES,
            seed,
        )
        .map_err(|e| anyhow::anyhow!("bootstrap against LightGBM: {e}"))
        .internal_err()?;
        let mut out = Vec::new();
        for ((h, boot), name) in handles.into_iter().zip(boots).zip(NAMES) {
            let (eval, (precision_at_100, recall_at_top_1pct)) =
                joined(h.join(), &format!("{name} evaluation"))??;
            let (roc_auc_ci, pr_auc_ci, paired) = boot;
            let paired = paired
                .ok_or_else(|| anyhow::anyhow!("{name}: no paired bootstrap"))
                .internal_err()?;
            let r = &eval.at_threshold;
            let top = TopMetrics {
                roc_auc: r.roc_auc.unwrap_or(f64::NAN),
                pr_auc: r.average_precision.unwrap_or(f64::NAN),
                log_loss: r.log_loss,
                precision_at_100,
                recall_at_top_1pct,
                roc_auc_ci,
                pr_auc_ci,
                paired,
            };
            out.push((eval, top));
        }
        Ok(out)
    })
}

/// Permutation importance (E8–E9) of `model` on the sampled test-day rows
/// ([`importance_rows`]), 3 repeats.
fn importance(
    model: &TrainedModel,
    test: &FeatureMatrix,
    protocol: &Protocol,
    spec: &EventSpec,
    seed: u64,
) -> Result<PermutationImportance, CliError> {
    let rows = importance_rows(test, protocol, spec);
    let bundle = &model.bundle;
    let (table, _) = matrix_table("test day (sampled)", &rows, 0..rows.rows(), false)?;
    let classifier = Classifier::new(&bundle.members)?;
    let config = PermutationConfig { repeats: 3, seed };
    Ok(permutation_importance_csv(
        &classifier,
        &bundle.preprocessor,
        &table,
        &config,
    )?)
}

/// Runs the next-hour case study.
fn run(case: &Case, options: &CaseOptions) -> Result<(), CliError> {
    let started = Instant::now();
    let progress = Progress::new(options.quiet);
    let log = log_path(&options.data_dir);
    let recipes = recipes(options)?;
    let spec = EventSpec::retailrocket_next_hour();
    let protocol = Protocol::retailrocket();
    let mut out = OutDir::open(&options.out)?;
    out.guard(|run| {
        let mut seconds = Vec::new();
        let t = Instant::now();
        let (split, featurize) = featurize_protocol(&log, &spec, &protocol, true).data_err()?;
        seconds.push(("featurize", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        // The peer's fixture is decoded and checked beside the training (it reads only the
        // test labels).
        let labels: Vec<bool> = split.test.y.iter().map(|&y| y == 1.0).collect();
        let peer = std::thread::spawn({
            let labels = labels.clone();
            move || peer_probabilities(PEER, &labels)
        });
        let file = log.display().to_string();
        // Each recipe's table and preprocessor on a thread of its own (each is the same
        // whatever runs beside it).
        let sets = std::thread::scope(|scope| {
            let handles: Vec<_> = recipes
                .iter()
                .map(|r| {
                    let (file, train) = (&file, &split.train);
                    scope.spawn(move || {
                        let validation = ValidationPart::Stratified {
                            fraction: r.val_fraction,
                            seed: r.seed,
                        };
                        training_set(file, train, r, validation)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| joined(h.join(), "data")?.map_err(CliError::from))
                .collect::<Result<Vec<_>, CliError>>()
        })?;
        let featurizer = EventFeaturizer {
            spec: spec.clone(),
            negative_keep_one_in: protocol.negative_keep_one_in,
        };
        // Recipe i's members on `threads` workers, then its bundle.
        let train_recipe = |i: usize, threads: usize| -> Result<TrainedModel, CliError> {
            let (recipe, set) = (&recipes[i], &sets[i]);
            let jobs = super::member_jobs(
                std::slice::from_ref(recipe),
                std::slice::from_ref(set),
                &NAMES[i..=i],
            );
            let members = train_members(&jobs, threads, &progress)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            let mut model = assemble(set, recipe, NAMES[i], members)?;
            model.bundle.events = Some(featurizer.clone());
            Ok(model)
        };
        // The default recipe first, on every worker: its scoring and importance, most of the
        // evaluation, then run beside the paper recipe's one short member (notes/events_default.md
        // §16). Each network is trained alone from its seed, so the order moves no bit.
        let default = train_recipe(DEFAULT, options.threads)?;
        seconds.push(("train default", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let test = &split.test;
        let peer = joined(peer.join(), "LightGBM fixture")??;
        let day = TestDay {
            rows: test,
            users: test.keys.iter().map(|k| k.0).collect(),
            peer,
            labels,
        };
        // The paper recipe's training and scoring, each recipe's test metrics, the peer's,
        // the visitor counts and the importance, on threads of their own (they only read the
        // test rows and their own model; each result is the same whatever runs beside it).
        let (evaluated, importance, peer_aucs, visitors_counts) = std::thread::scope(|scope| {
            let (day, featurizer, default) = (&day, &featurizer, &default);
            let train_recipe = &train_recipe;
            let paper = scope.spawn(move || {
                let model = train_recipe(PAPER, 1)?;
                let probs = scored(&model, day, featurizer)?;
                Ok::<_, CliError>((model, probs))
            });
            let default_scored = scope.spawn(move || scored(default, day, featurizer));
            // The metrics wait for both recipes' probabilities (the bootstrap walks them
            // together) while the importance runs here.
            let evaluated = scope.spawn(move || {
                let (paper, paper_scored) = joined(paper.join(), "paper recipe")??;
                let default_scored = joined(default_scored.join(), "scoring")??;
                let metrics = test_metrics(&[paper_scored, default_scored], day, options.seed);
                Ok::<_, CliError>((paper, metrics?))
            });
            // One sort of the peer's scores for both (M8).
            let peer_aucs = scope.spawn(move || match threshold_counts(&day.labels, &day.peer) {
                Ok(c) => (c.roc_auc(), c.average_precision()),
                Err(e) => (Err(e.clone()), Err(e)),
            });
            let counts = scope.spawn(move || visitors(test));
            let importance = if options.quick {
                Ok(None)
            } else {
                importance(default, test, &protocol, &spec, options.seed).map(Some)
            };
            let evaluated = joined(evaluated.join(), "evaluation").and_then(|r| r);
            let peer_aucs = joined(peer_aucs.join(), "peer metrics");
            let counts = joined(counts.join(), "visitor count");
            (evaluated, importance, peer_aucs, counts)
        });
        let (paper, evaluated) = evaluated?;
        let trained = vec![paper, default];
        let mut tests = Vec::new();
        let mut tops = Vec::new();
        for (eval, top) in evaluated {
            tests.push(eval);
            tops.push(top);
        }
        let importance = importance?;
        seconds.push((
            "train paper, evaluate and importance",
            t.elapsed().as_secs_f64(),
        ));

        let (test_visitors, test_positive_visitors) = visitors_counts?;
        let (peer_roc_auc, peer_pr_auc) = peer_aucs?;
        let peer_metric = |r: Result<f64, _>| {
            r.map_err(|e| anyhow::anyhow!("LightGBM fixture: {e}"))
                .internal_err()
        };
        let (peer_roc_auc, peer_pr_auc) = (peer_metric(peer_roc_auc)?, peer_metric(peer_pr_auc)?);
        let outcome = Outcome {
            log: log.clone(),
            featurize,
            test_rows: test.rows(),
            test_positives: test.positives(),
            test_visitors,
            test_positive_visitors,
            train: split.train,
            trained,
            tests,
            tops,
            importance,
            peer_roc_auc,
            peer_pr_auc,
            seconds,
        };
        report::write_outputs(run, case, options, &outcome, started)?;
        let cols: Vec<(&str, &Evaluation)> =
            NAMES.iter().copied().zip(outcome.tests.iter()).collect();
        println!(
            "case study next-hour: {} on {} (training days → test day)\n",
            NAMES.join(" and "),
            log.display()
        );
        print!("{}", metrics_table(&cols));
        println!(
            "\nreport: {}  ({:.2} s)",
            run.path().join("report.md").display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn the_peer_fixture_must_line_up_with_the_test_labels() {
        let fixture = gzip("label,probability\n0,0.25\n1,0.5\n0,1e-3\n");
        let probs = peer_probabilities(&fixture, &[false, true, false]).unwrap();
        assert_eq!(probs, [0.25, 0.5, 1e-3]);
        // A label out of place, a row too many or too few, a bad number: refused.
        assert!(peer_probabilities(&fixture, &[true, false, false]).is_err());
        assert!(peer_probabilities(&fixture, &[false, true]).is_err());
        assert!(peer_probabilities(&fixture, &[false, true, false, false]).is_err());
        let bad = gzip("label,probability\n0,x\n");
        assert!(peer_probabilities(&bad, &[false]).is_err());
        assert!(peer_probabilities(b"not gzip", &[false]).is_err());
    }
}
