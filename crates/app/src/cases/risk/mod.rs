//! The risk-control case study: score purchases for fraud with time and entity features and
//! decide by cost, on the bundled purchase-fraud files (datasets/README.md, fraud section).
//!
//! ```text
//! data      datasets/fraud_purchases_{train,test}.csv, fraud_purchases.schema.toml
//! features  engineered (D11–D16: seconds to purchase, the 60-s flag, hour and weekday on the
//!           circle, device_users fitted on the training file) versus raw (times as Unix seconds)
//! model     the default recipe on each feature set, side by side (validation carved from train)
//! decision  alert iff p · purchase_value ≥ τ (M22): the Bayes rule τ = $5 and the τ of least
//!           cost on the validation rows (M24)
//! metrics   test: ROC-AUC, PR-AUC, recall at 1 %/5 % FPR (M25), precision of the top 1 %/5 %,
//!           cost and savings (M21); paired bootstrap against LightGBM (M26); fairness by sex
//!           and age band (F1–F8); integrated gradients of flagged purchases (E3–E7)
//! ```
//!
//! `user_id` and `device_id` are dropped by the schema: never model inputs.

mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use glassbox_audit::Classifier;
use glassbox_audit::explain::{ExplainReport, IgConfig, explain_rows};
use glassbox_data::{RawTable, ReadOptions, Table, TargetSpec};
use glassbox_train::metrics::cost::{
    CostMatrix, CostPoint, CostReport, CostSpec, MissCost, cost_curve, cost_minimising_threshold,
    precision_at_top_fraction, recall_at_fpr, risk_scores,
};
use glassbox_train::metrics::fairness::{
    FairnessConfig, FairnessReport, fairness_by_group_decided,
};
use glassbox_train::metrics::paired::{PairedBootstrap, paired_bootstrap};
use serde::Serialize;

use super::{Case, CaseOptions};
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::pipeline::cost::{decide_by_cost, miss_costs};
use crate::pipeline::{
    DataOptions, TrainedModel, TrainingSet, assemble, evaluate_csv, prepare_training, train_members,
};
use crate::progress::Progress;
use crate::recipe::{Recipe, RecipeChanges};

/// The risk case in the registry.
pub const CASE: Case = Case {
    name: "risk",
    about: "risk control: fraud scoring with time and entity features and a cost-aware \
            decision, on the purchase-fraud data",
    default_out: "runs/case-study-risk",
    run,
};

const TRAIN_FILE: &str = "fraud_purchases_train.csv";
const TEST_FILE: &str = "fraud_purchases_test.csv";
const SCHEMA_FILE: &str = "fraud_purchases.schema.toml";
const TARGET: &str = "class";
/// The column whose value a missed fraud costs, and the cost of one alert (data README).
const MISS_COLUMN: &str = "purchase_value";
const ALERT_COST: f64 = 5.0;
/// Tuned LightGBM's per-row test probabilities (benches/peers/fraud/lightgbm_fraud.py).
const PEER: &str = include_str!("../../../../../benches/peers/fraud/lightgbm_test_predictions.csv");
const PEER_NAME: &str = "LightGBM tuned";
const BOOTSTRAP_RESAMPLES: usize = 500;
/// Feature sets, in the order of every table: the engineered one is the default recipe.
const NAMES: [&str; 2] = ["engineered", "raw"];
/// Seeds of the engineered model whose mean and spread the report gives (the targets are
/// means over 5 seeds).
const SEEDS: usize = 5;

/// The models trained: the two feature sets at the run's seed, then the engineered one at
/// the next `SEEDS − 1` seeds.
fn model_names() -> [&'static str; 1 + SEEDS] {
    std::array::from_fn(|k| match k {
        0 => NAMES[0],
        1 => NAMES[1],
        _ => "engineered (seed spread)",
    })
}

/// The data README's cost matrix: an alert costs $5, a missed fraud its purchase value.
fn cost_spec() -> CostSpec {
    CostSpec {
        alert: ALERT_COST,
        miss: MissCost::Column(MISS_COLUMN.into()),
    }
}

/// The test metrics of one model (the data README's definitions).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RiskMetrics {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub recall_at_1pct_fpr: f64,
    pub recall_at_5pct_fpr: f64,
    pub precision_top_1pct: f64,
    pub precision_top_5pct: f64,
    /// The Bayes rule, alert iff p · value ≥ $5 (the protocol's decision).
    pub bayes: CostReport,
    /// The τ of least cost on the validation rows, applied to the test rows.
    pub validated: CostReport,
}

/// Everything the report needs.
pub(crate) struct Outcome {
    pub train: PathBuf,
    pub test: PathBuf,
    pub sets: Vec<TrainingSet>,
    pub trained: Vec<TrainedModel>,
    pub metrics: Vec<RiskMetrics>,
    pub peer: RiskMetrics,
    pub paired: PairedBootstrap,
    /// Test cost curve of the engineered model (M23), and its validation curve.
    pub curve: Vec<CostPoint>,
    pub val_curve: Vec<CostPoint>,
    pub fairness: Vec<FairnessReport>,
    pub explained: Option<ExplainReport>,
    pub seconds: Vec<(&'static str, f64)>,
    /// The seeds of the engineered model: the run's (model 0), then models 2.. .
    pub seeds: Vec<u64>,
}

/// The data options of each feature set: the schema file, or the raw columns only.
fn data_options(dir: &Path) -> [DataOptions; 2] {
    let pattern = "%m/%d/%y %H:%M".to_string();
    [
        DataOptions {
            schema: Some(dir.join(SCHEMA_FILE)),
            ..Default::default()
        },
        DataOptions {
            drop: vec!["user_id".into(), "device_id".into()],
            datetime: vec![
                ("signup_time".into(), pattern.clone()),
                ("purchase_time".into(), pattern),
            ],
            log1p: vec![MISS_COLUMN.into()],
            ..Default::default()
        },
    ]
}

/// The text cells of one column of a CSV file, with the line of each row.
fn text_column(path: &Path, column: &str) -> Result<(Vec<String>, Vec<u64>), CliError> {
    let raw = RawTable::read(path, &ReadOptions::default()).data_err()?;
    let j = raw
        .header()
        .iter()
        .position(|h| h == column)
        .ok_or_else(|| anyhow::anyhow!("{}: no column {column}", path.display()))
        .data_err()?;
    Ok((raw.column(j).to_vec(), raw.lines().to_vec()))
}

/// The age band of an age in years.
fn age_band(age: &str) -> String {
    match age.parse::<f64>() {
        Ok(a) if a < 25.0 => "18–24".into(),
        Ok(a) if a < 35.0 => "25–34".into(),
        Ok(a) if a < 45.0 => "35–44".into(),
        Ok(_) => "45+".into(),
        Err(_) => "unknown".into(),
    }
}

/// Test metrics of probabilities `probs`; `val` = validation labels, probabilities and
/// values for the validated threshold.
fn risk_metrics(
    labels: &[bool],
    probs: &[f64],
    miss: &[f64],
    val: (&[bool], &[f64], &[f64]),
) -> Result<RiskMetrics, CliError> {
    let m = |r: Result<f64, _>| r.map_err(|e| anyhow::anyhow!("{e}")).internal_err();
    let cost = CostMatrix {
        alert: ALERT_COST,
        miss,
    };
    let val_cost = CostMatrix {
        alert: ALERT_COST,
        miss: val.2,
    };
    let tau = cost_minimising_threshold(val.0, &risk_scores(val.1, val.2), &val_cost)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .internal_err()?
        .threshold;
    let report = |t: f64| {
        CostReport::compute(labels, probs, &cost, t)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .internal_err()
    };
    Ok(RiskMetrics {
        roc_auc: m(glassbox_train::metrics::roc_auc(labels, probs))?,
        pr_auc: m(glassbox_train::metrics::average_precision(labels, probs))?,
        recall_at_1pct_fpr: m(recall_at_fpr(labels, probs, 0.01))?,
        recall_at_5pct_fpr: m(recall_at_fpr(labels, probs, 0.05))?,
        precision_top_1pct: m(precision_at_top_fraction(labels, probs, 0.01))?,
        precision_top_5pct: m(precision_at_top_fraction(labels, probs, 0.05))?,
        bayes: report(ALERT_COST)?,
        validated: report(tau)?,
    })
}

/// Per-row cost of alerting on `p · m ≥ τ` (for the paired bootstrap).
fn row_costs(labels: &[bool], probs: &[f64], miss: &[f64], tau: f64) -> Vec<f64> {
    labels
        .iter()
        .zip(probs.iter().zip(miss))
        .map(|(&y, (&p, &m))| {
            if p * m >= tau {
                ALERT_COST
            } else if y {
                m
            } else {
                0.0
            }
        })
        .collect()
}

/// The peer's per-row test probabilities.
fn peer_probabilities(rows: usize) -> Result<Vec<f64>, CliError> {
    let probs: Vec<f64> = PEER
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.trim().parse().ok())
        .collect();
    if probs.len() != rows {
        return Err(anyhow::anyhow!(
            "the peer predictions hold {} rows, the test file {rows}",
            probs.len()
        ))
        .internal_err();
    }
    Ok(probs)
}

/// Explains (E3–E7) up to three flagged test purchases of the engineered model: the first
/// alerted rows in file order.
fn explain_flagged(
    model: &TrainedModel,
    test: &Path,
    alerts: &[bool],
) -> Result<ExplainReport, CliError> {
    let bundle = &model.bundle;
    let pre = &bundle.preprocessor;
    let table = Table::read(test, &ReadOptions::default(), &pre.prediction_schema()).data_err()?;
    let rows: Vec<usize> = (0..alerts.len()).filter(|&i| alerts[i]).take(3).collect();
    let classifier = Classifier::new(&bundle.members)?;
    Ok(explain_rows(
        &classifier,
        pre,
        &table,
        &rows,
        &IgConfig::default(),
    )?)
}

/// Runs the risk case study.
fn run(case: &Case, options: &CaseOptions) -> Result<(), CliError> {
    let started = Instant::now();
    let progress = Progress::new(options.quiet);
    let dir = super::data_dir(&options.data_dir, TRAIN_FILE);
    let (train, test) = (dir.join(TRAIN_FILE), dir.join(TEST_FILE));
    let mut recipes = super::with_run_settings(
        std::array::from_fn::<_, { 1 + SEEDS }, _>(|_| Recipe::default_recipe()),
        options,
    )?;
    // Models 2.. are the engineered features at the next seeds (the 5-seed spread).
    for (k, r) in recipes.iter_mut().enumerate().skip(2) {
        let seed = options.seed.wrapping_add(k as u64 - 1);
        r.apply(&RecipeChanges {
            seed: Some(seed),
            ..Default::default()
        })
        .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    }
    let mut out = OutDir::open(&options.out)?;
    out.guard(|run| {
        let mut seconds = Vec::new();
        let t = Instant::now();
        let miss = MissCost::Column(MISS_COLUMN.into());
        let train_miss = miss_costs(&train, &miss, 0)?;
        let test_miss = miss_costs(&test, &miss, 0)?;
        let target = TargetSpec::new(TARGET).with_positive("1");
        let options_of = data_options(&dir);
        let sets = (0..recipes.len())
            .map(|k| &options_of[usize::from(k == 1)])
            .zip(&recipes)
            .map(|(o, r)| prepare_training(&train, o, &target, r.val_fraction, r.seed))
            .collect::<Result<Vec<_>, _>>()?;
        seconds.push(("read and features", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let names = model_names();
        let jobs = super::member_jobs(&recipes, &sets, &names);
        let mut results = train_members(&jobs, options.threads, &progress).into_iter();
        let mut trained = Vec::new();
        for ((recipe, set), name) in recipes.iter().zip(&sets).zip(names) {
            let members = results
                .by_ref()
                .take(recipe.ensemble)
                .collect::<Result<Vec<_>, _>>()?;
            let mut model = assemble(set, recipe, name, members)?;
            // The bundle stores the decision `train --cost-fp 5 --cost-fn-column
            // purchase_value` stores: the τ of least validation cost.
            let val_miss: Vec<f64> = set.val_rows.iter().map(|&i| train_miss[i]).collect();
            decide_by_cost(&mut model, &cost_spec(), &val_miss)?;
            trained.push(model);
        }
        seconds.push(("train", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let mut tests = Vec::new();
        let mut metrics = Vec::new();
        for (model, set) in trained.iter().zip(&sets) {
            let (eval, _) = evaluate_csv(&model.bundle, &test, "test")?;
            let val = model
                .validation
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("the recipe holds out no validation rows"))
                .internal_err()?;
            let val_miss: Vec<f64> = set.val_rows.iter().map(|&i| train_miss[i]).collect();
            metrics.push(risk_metrics(
                &eval.labels,
                &eval.probs,
                &test_miss,
                (&val.labels, &val.probs, &val_miss),
            )?);
            tests.push(eval);
        }
        let labels = tests[0].labels.clone();
        let peer_probs = peer_probabilities(labels.len())?;
        // The peer has no validation probabilities here: its validated τ is the Bayes rule.
        let peer = risk_metrics(
            &labels,
            &peer_probs,
            &test_miss,
            (&labels, &peer_probs, &test_miss),
        )
        .map(|mut m| {
            m.validated = m.bayes;
            m
        })?;
        let ours = &tests[0].probs;
        let paired = paired_bootstrap(
            &labels,
            ours,
            &peer_probs,
            Some((
                &row_costs(&labels, ours, &test_miss, ALERT_COST),
                &row_costs(&labels, &peer_probs, &test_miss, ALERT_COST),
            )),
            if options.quick {
                50
            } else {
                BOOTSTRAP_RESAMPLES
            },
            options.seed,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))
        .internal_err()?;
        let cost = CostMatrix {
            alert: ALERT_COST,
            miss: &test_miss,
        };
        let err = |e: glassbox_train::metrics::MetricsError| anyhow::anyhow!("{e}");
        let curve = cost_curve(&labels, &risk_scores(ours, &test_miss), &cost)
            .map_err(err)
            .internal_err()?;
        let val = trained[0].validation.as_ref();
        let val_miss: Vec<f64> = sets[0].val_rows.iter().map(|&i| train_miss[i]).collect();
        let val_curve = match val {
            Some(v) => cost_curve(
                &v.labels,
                &risk_scores(&v.probs, &val_miss),
                &CostMatrix {
                    alert: ALERT_COST,
                    miss: &val_miss,
                },
            )
            .map_err(err)
            .internal_err()?,
            None => Vec::new(),
        };
        // The groups are judged at the decision the headline cost is of: the Bayes rule.
        let alerts: Vec<bool> = ours
            .iter()
            .zip(&test_miss)
            .map(|(p, m)| p * m >= ALERT_COST)
            .collect();
        let config = FairnessConfig {
            threshold: ALERT_COST,
            ..FairnessConfig::default()
        };
        let (sex, _) = text_column(&test, "sex")?;
        let bands: Vec<String> = text_column(&test, "age")?
            .0
            .iter()
            .map(|a| age_band(a))
            .collect();
        let fairness = [("sex", sex), ("age band", bands)]
            .into_iter()
            .map(|(name, groups)| {
                fairness_by_group_decided(name, &groups, &labels, ours, &alerts, &config)
                    .map(|mut f| {
                        f.source =
                            format!("test file, alert iff p · {MISS_COLUMN} ≥ ${ALERT_COST}");
                        f
                    })
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .internal_err()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let explained = if options.quick {
            None
        } else {
            Some(explain_flagged(&trained[0], &test, &alerts)?)
        };
        seconds.push((
            "evaluate, bootstrap, fairness, explain",
            t.elapsed().as_secs_f64(),
        ));
        let outcome = Outcome {
            train: train.clone(),
            test: test.clone(),
            sets,
            trained,
            metrics,
            peer,
            paired,
            curve,
            val_curve,
            fairness,
            explained,
            seconds,
            seeds: std::iter::once(&recipes[0])
                .chain(&recipes[2..])
                .map(|r| r.seed)
                .collect(),
        };
        report::write_outputs(run, case, options, &outcome, started)?;
        let m = &outcome.metrics[0];
        println!(
            "case study risk: default recipe on engineered features, {} → {}\n  test ROC-AUC \
{:.4}, PR-AUC {:.4}, recall at 1 % FPR {:.4}, cost ${:.0} (savings {:.1} %)\n  {PEER_NAME}: \
ROC-AUC {:.4}, PR-AUC {:.4}, cost ${:.0}",
            train.display(),
            test.display(),
            m.roc_auc,
            m.pr_auc,
            m.recall_at_1pct_fpr,
            m.bayes.cost,
            100.0 * m.bayes.savings,
            outcome.peer.roc_auc,
            outcome.peer.pr_auc,
            outcome.peer.bayes.cost
        );
        println!(
            "\nreport: {}  ({:.2} s)",
            run.path().join("report.md").display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
