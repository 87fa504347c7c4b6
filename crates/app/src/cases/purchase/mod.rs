//! The purchase-prediction case study (will this visitor buy?), end to end on the bundled
//! "Online Shoppers Purchasing Intention" data: the paper's Keras recipe and the default
//! recipe, each trained on the training split and evaluated on the test split.
//!
//! ```text
//! data      datasets/online_shoppers_{train,test}.csv, online_shoppers.schema.toml, target Revenue
//! features  per recipe: read, validation split, preprocessor fitted on the training part
//! model     every member of both recipes trained side by side, then one bundle per recipe
//! metrics   both bundles evaluated on the test file
//! privacy   one DP-SGD network per ε ∈ {1, 3, 8} (privacy.rs), evaluated on the test file
//! report    bundles, plots, history.csv, metrics.json, report.md (report.rs)
//! ```

mod privacy;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use glassbox_data::{DataSummary, TargetSpec};

use super::{Case, CaseOptions};
use crate::exit::{CliError, joined};
use crate::out_dir::OutDir;
use crate::pipeline::{
    DataOptions, Evaluation, MemberJob, TrainedModel, TrainingSet, assemble, evaluate_csv,
    prepare_training, train_members,
};
use crate::progress::Progress;
use crate::recipe::Recipe;
use crate::render::metrics::metrics_table;
use report::{Timings, write_outputs};

/// The purchase case in the registry.
pub const CASE: Case = Case {
    name: "purchase",
    about: "will this visitor buy? The paper's Keras recipe and the default recipe on the \
            Online Shoppers data",
    default_out: "runs/case-study-purchase",
    run,
};

const TRAIN_FILE: &str = "online_shoppers_train.csv";
const TEST_FILE: &str = "online_shoppers_test.csv";
const SCHEMA_FILE: &str = "online_shoppers.schema.toml";
const TARGET: &str = "Revenue";

/// The two recipes, in the order of every table and figure.
const NAMES: [&str; 2] = ["paper", "default"];

/// Where the data are.
#[derive(Debug, Clone)]
struct Data {
    dir: PathBuf,
    train: PathBuf,
    test: PathBuf,
}

/// What the report stage needs besides the models and their metrics.
struct Study<'a> {
    case: &'a Case,
    options: &'a CaseOptions,
    data: Data,
    /// The training file as the default recipe read it.
    train_summary: &'a DataSummary,
}

/// `--data-dir`, else `./datasets` if it holds the training file, else the source tree's.
fn data(arg: &Option<PathBuf>) -> Data {
    let dir = super::data_dir(arg, TRAIN_FILE);
    Data {
        train: dir.join(TRAIN_FILE),
        test: dir.join(TEST_FILE),
        dir,
    }
}

/// The paper's recipe and the default one with the run's settings.
fn recipes(options: &CaseOptions) -> Result<[Recipe; 2], CliError> {
    super::with_run_settings([Recipe::paper(), Recipe::default_recipe()], options)
}

/// Features: each recipe reads the training file its own way (log1p or not, a validation
/// part or not), on two threads.
fn features(data: &Data, recipes: &[Recipe; 2]) -> Result<Vec<TrainingSet>, CliError> {
    let target = TargetSpec::new(TARGET);
    std::thread::scope(|scope| {
        let handles: Vec<_> = recipes
            .iter()
            .map(|r| {
                let (dir, train_path, target) = (&data.dir, &data.train, &target);
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
            .map(|h| joined(h.join(), "data-reading")?)
            .collect::<Result<Vec<_>, CliError>>()
    })
}

/// The member jobs of both recipes, in recipe then member order.
fn jobs<'a>(recipes: &'a [Recipe; 2], sets: &'a [TrainingSet]) -> Vec<MemberJob<'a>> {
    super::member_jobs(recipes, sets, &NAMES)
}

/// Models: every member of both recipes trained at once; then one bundle per recipe.
/// Returns them with the wall time of the training alone.
fn models(
    recipes: &[Recipe; 2],
    sets: &[TrainingSet],
    jobs: &[MemberJob<'_>],
    options: &CaseOptions,
    progress: &Progress,
) -> Result<(Vec<TrainedModel>, f64), CliError> {
    let train_started = Instant::now();
    let mut results = train_members(jobs, options.threads, progress).into_iter();
    let train_seconds = train_started.elapsed().as_secs_f64();
    let mut trained: Vec<TrainedModel> = Vec::new();
    for ((recipe, set), name) in recipes.iter().zip(sets).zip(NAMES) {
        let members = results
            .by_ref()
            .take(recipe.ensemble)
            .collect::<Result<Vec<_>, _>>()?;
        trained.push(assemble(set, recipe, name, members)?);
    }
    Ok((trained, train_seconds))
}

/// Metrics: each bundle on the test file (the notes about the file printed once).
fn metrics(
    trained: &[TrainedModel],
    test: &Path,
    progress: &Progress,
) -> Result<Vec<Evaluation>, CliError> {
    let mut tests: Vec<Evaluation> = Vec::new();
    for t in trained {
        let (eval, notes) = evaluate_csv(&t.bundle, test, "test")?;
        if tests.is_empty() {
            for line in notes.lines() {
                progress.note(&line);
            }
        }
        tests.push(eval);
    }
    Ok(tests)
}

/// Runs the purchase case study: data → features → model → metrics → report.
fn run(case: &Case, options: &CaseOptions) -> Result<(), CliError> {
    let started = Instant::now();
    let progress = Progress::new(options.quiet);
    let data = data(&options.data_dir);
    let recipes = recipes(options)?;
    let mut out = OutDir::open(&options.out)?;
    out.guard(|run| {
        let prepare_started = Instant::now();
        let sets = features(&data, &recipes)?;
        let jobs = jobs(&recipes, &sets);
        let prepare_seconds = prepare_started.elapsed().as_secs_f64();
        let (trained, train_seconds) = models(&recipes, &sets, &jobs, options, &progress)?;
        let evaluate_started = Instant::now();
        let tests = metrics(&trained, &data.test, &progress)?;
        let private =
            privacy::private_models(&data.dir, &data.train, &data.test, options, &progress)?;
        let timings = Timings {
            prepare: prepare_seconds,
            train: train_seconds,
            evaluate: evaluate_started.elapsed().as_secs_f64(),
            started,
        };
        let study = Study {
            case,
            options,
            data: data.clone(),
            train_summary: &sets[1].summary,
        };
        write_outputs(run, &study, &trained, &tests, &private, &timings)?;
        let cols: Vec<(&str, &Evaluation)> = NAMES.iter().copied().zip(tests.iter()).collect();
        println!(
            "case study: {} on {} (train) → {} (test)\n",
            NAMES.join(" and "),
            data.train.display(),
            data.test.display()
        );
        print!("{}", metrics_table(&cols));
        println!("\ndifferential privacy (DP-SGD, δ = 1e-5), test ROC-AUC / PR-AUC:");
        for m in &private {
            let spent = m
                .trained
                .bundle
                .info
                .privacy
                .as_ref()
                .map_or(f64::NAN, |p| p.epsilon);
            println!(
                "  ε = {} (spent {spent:.3}): {:.4} / {:.4}",
                m.epsilon,
                m.test.at_half.roc_auc.unwrap_or(f64::NAN),
                m.test.at_half.average_precision.unwrap_or(f64::NAN)
            );
        }
        if !options.quiet {
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
