//! The purchase-prediction pipeline, file to file: read and split the training CSV, fit the
//! preprocessor on the training part, train the ensemble, choose the threshold on the
//! validation part, evaluate a bundle on a labelled CSV, and stream predictions for a CSV of
//! any size.
//!
//! ```text
//! prepare_training(csv, DataOptions, TargetSpec, val_fraction, seed)
//!     Table::read_infer → Target::resolve → stratified split (T4) → Preprocessor::fit(train part)
//!     → TrainingSet { x_train, y_train, x_val, y_val, … }
//! train_bundle(&TrainingSet, &Recipe, &Progress)
//!     K × glassbox_train::fit → ensemble probabilities on validation → threshold (M17)
//!     → Bundle
//! evaluate_csv(&Bundle, csv)          → Evaluation (metrics at the threshold and at 0.5, curves)
//! predict_csv(&Bundle, csv, writer)   → streamed CSV of row, line, probability, label
//! ```
//!
//! Nothing here prints except through [`Progress`]; the command-line layer decides what to
//! show. Errors are [`CliError`]s, classified where they arise (data → exit 2).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use glassbox_core::{Mlp, seeded_rng};
use glassbox_train::batching::{num_batches, stratified_split};
use glassbox_train::metrics::threshold::{ThresholdError, choose_threshold};
use glassbox_train::metrics::{
    CalibrationTable, MetricsReport, PrCurve, RocCurve, calibration_table, precision_recall_curve,
    roc_curve,
};
use glassbox_train::{
    ClassWeights, DataView, EarlyStopping, Event, History, LossConfig, Monitor, TrainConfig,
    TrainError, Trainer,
};
use ndarray::{Array1, Array2, Axis};
use serde::Serialize;

use crate::bundle::{Bundle, BundleInfo, MemberInfo, TrainingData, member_probabilities};
use crate::exit::{CliError, ErrorKind, ResultExt};
use crate::progress::{Progress, TrainBar};
use crate::recipe::{ClassWeightRule, Recipe};
use crate::report::{EpochRecord, conventions};
use glassbox_data::{
    ChunkReader, DataSummary, Preprocessor, ReadOptions, Schema, SchemaOverrides, Sentinel, Table,
    Target, TargetSpec,
};

/// How to read the columns of a training file: a schema file and per-column flags (the
/// flags win over the file).
#[derive(Debug, Clone, PartialEq)]
pub struct DataOptions {
    /// `--schema FILE.toml`.
    pub schema: Option<PathBuf>,
    /// `--categorical COL`.
    pub categorical: Vec<String>,
    /// `--missing COL=VALUE`: `VALUE` is a number sentinel if it parses as one, else text.
    pub missing: Vec<(String, String)>,
    /// `--log1p COL`.
    pub log1p: Vec<String>,
    /// `--drop COL`.
    pub drop: Vec<String>,
    /// `false` ignores every `log1p` setting (schema file and flags): the recipe's choice.
    pub apply_log1p: bool,
}

impl Default for DataOptions {
    /// No schema file, no flags, `log1p` settings applied.
    fn default() -> Self {
        DataOptions {
            schema: None,
            categorical: Vec::new(),
            missing: Vec::new(),
            log1p: Vec::new(),
            drop: Vec::new(),
            apply_log1p: true,
        }
    }
}

impl DataOptions {
    /// The schema file's overrides with the flags applied on top.
    pub fn overrides(&self) -> Result<SchemaOverrides, CliError> {
        let mut o = match &self.schema {
            Some(p) => SchemaOverrides::from_toml_file(p).data_err()?,
            None => SchemaOverrides::new("command line"),
        };
        let mut flags = SchemaOverrides::new("command line");
        for c in &self.categorical {
            flags.set_kind(c, glassbox_data::ColumnKind::Categorical);
        }
        for (c, v) in &self.missing {
            let sentinel = match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Sentinel::Number(x),
                _ => Sentinel::Text(v.trim().to_string()),
            };
            flags.add_missing(c, sentinel);
        }
        for c in &self.log1p {
            flags.set_log1p(c, true);
        }
        for c in &self.drop {
            flags.set_drop(c, true);
        }
        o.merge(flags);
        if !self.apply_log1p {
            for c in o.columns.values_mut() {
                c.log1p = None;
            }
        }
        Ok(o)
    }
}

/// The stream of the split's RNG: the split draws from `seeded_rng(seed)` switched to this
/// stream, so it never shares random numbers with member 0's initialisation (stream 0).
pub const SPLIT_STREAM: u64 = 1;

/// A training file read, split and encoded.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// The file as given.
    pub file: String,
    /// The schema the file was read with (inferred + overrides).
    pub schema: Schema,
    /// What the whole file held (rows, kinds, missing, duplicates, class balance).
    pub summary: DataSummary,
    /// Fitted on the training part only.
    pub preprocessor: Preprocessor,
    /// Features (N_train, D) and labels (N_train,).
    pub x_train: Array2<f32>,
    pub y_train: Array1<f32>,
    /// The validation part, if `val_fraction > 0`.
    pub x_val: Option<Array2<f32>>,
    pub y_val: Option<Array1<f32>>,
    /// Rows of the file in each part (0-based data-row indices).
    pub train_rows: Vec<usize>,
    pub val_rows: Vec<usize>,
}

impl TrainingSet {
    /// The target, resolved on the training file.
    pub fn target(&self) -> &Target {
        self.preprocessor.target()
    }
}

/// Reads `path`, resolves the target, carves a stratified validation part of
/// `val_fraction` (0 = none) and fits the preprocessor on the rest.
///
/// Errors (exit 2): every data-layer error (unreadable file, ragged row, bad value, missing
/// or single-class target, unknown positive label…), and a validation fraction that would
/// leave a class empty on one side.
pub fn prepare_training(
    path: &Path,
    options: &DataOptions,
    target: &TargetSpec,
    val_fraction: f64,
    seed: u64,
) -> Result<TrainingSet, CliError> {
    let overrides = options.overrides()?;
    let (table, schema) =
        Table::read_infer(path, &ReadOptions::default(), &overrides).data_err()?;
    let resolved = Target::resolve(&table, target).data_err()?;
    let labels = resolved.labels(&table).data_err()?;
    let (train_rows, val_rows) = if val_fraction > 0.0 {
        let classes: Vec<usize> = labels.iter().map(|&y| usize::from(y == 1.0)).collect();
        let mut rng = seeded_rng(seed);
        rng.set_stream(SPLIT_STREAM);
        let split = stratified_split(&classes, val_fraction, &mut rng)
            .with_context(|| format!("{}: cannot carve a validation part", path.display()))
            .data_err()?;
        (split.train, split.val)
    } else {
        ((0..table.n_rows()).collect(), Vec::new())
    };
    let train_table = if val_rows.is_empty() {
        table.clone()
    } else {
        table.select_rows(&train_rows)
    };
    let preprocessor = Preprocessor::fit(&train_table, &schema, target).data_err()?;
    let (x_train, y_train) = preprocessor.transform(&train_table).data_err()?;
    let (x_val, y_val) = if val_rows.is_empty() {
        (None, None)
    } else {
        let (x, y) = preprocessor
            .transform(&table.select_rows(&val_rows))
            .data_err()?;
        (Some(x), Some(y))
    };
    let summary = DataSummary::new(&table, Some(&preprocessor)).data_err()?;
    Ok(TrainingSet {
        file: path.display().to_string(),
        schema,
        summary,
        preprocessor,
        x_train,
        y_train,
        x_val,
        y_val,
        train_rows,
        val_rows,
    })
}

/// Labels as booleans (1.0 → true).
pub fn bool_labels(y: &Array1<f32>) -> Vec<bool> {
    y.iter().map(|&v| v == 1.0).collect()
}

/// Everything measured on one labelled set.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// What was evaluated (`test`, `validation`, a file name).
    pub name: String,
    /// Metrics at the bundle's threshold.
    pub at_threshold: MetricsReport,
    /// Metrics at 0.5, the paper's decision rule (same ranking metrics).
    pub at_half: MetricsReport,
    /// ROC curve (M9); `None` with one class.
    pub roc: Option<RocCurve>,
    /// Precision–recall curve (M12); `None` without positives.
    pub pr: Option<PrCurve>,
    /// Reliability table over 10 equal-width bins (M16).
    pub calibration: CalibrationTable,
    #[serde(skip)]
    pub labels: Vec<bool>,
    #[serde(skip)]
    pub probs: Vec<f64>,
}

/// Number of calibration bins in every report.
pub const CALIBRATION_BINS: usize = 10;

/// Metrics, curves and calibration of `probs` against `labels`.
///
/// Errors: probabilities outside [0, 1] or non-finite (internal: a model bug), no rows
/// (data).
pub fn evaluate(
    name: &str,
    labels: Vec<bool>,
    probs: Vec<f64>,
    threshold: f64,
) -> Result<Evaluation, CliError> {
    let at_threshold = MetricsReport::compute(&labels, &probs, threshold).internal_err()?;
    let at_half = MetricsReport::compute(&labels, &probs, 0.5).internal_err()?;
    let roc = roc_curve(&labels, &probs, true).ok();
    let pr = precision_recall_curve(&labels, &probs, true).ok();
    let calibration = calibration_table(&labels, &probs, CALIBRATION_BINS).internal_err()?;
    Ok(Evaluation {
        name: name.to_string(),
        at_threshold,
        at_half,
        roc,
        pr,
        calibration,
        labels,
        probs,
    })
}

/// What reading a labelled CSV for evaluation found besides the metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputNotes {
    /// Rows read.
    pub rows: usize,
    /// Categorical column → cells with a level unseen in training (sent to `<unknown>`).
    pub unknown_categories: BTreeMap<String, usize>,
    /// Feature column → cells imputed (missing values).
    pub imputed: BTreeMap<String, usize>,
    /// File columns the model does not use.
    pub ignored_columns: Vec<String>,
}

impl InputNotes {
    fn add(&mut self, encoded: &glassbox_data::Encoded, rows: usize) {
        self.rows += rows;
        for (c, n) in &encoded.unknown {
            *self.unknown_categories.entry(c.clone()).or_default() += n;
        }
        for (c, n) in &encoded.imputed {
            *self.imputed.entry(c.clone()).or_default() += n;
        }
    }

    /// One note per column with unseen categories: `Browser: 1 value unseen in training …`.
    pub fn unknown_lines(&self) -> Vec<String> {
        self.unknown_categories
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| {
                format!(
                    "column \"{c}\": {n} value{} not seen in training, encoded as <unknown>",
                    if *n == 1 { "" } else { "s" }
                )
            })
            .collect()
    }
}

/// Reads a labelled CSV with the bundle's schema and evaluates the bundle on it.
pub fn evaluate_csv(
    bundle: &Bundle,
    path: &Path,
    name: &str,
) -> Result<(Evaluation, InputNotes), CliError> {
    let pre = &bundle.preprocessor;
    let table = Table::read(path, &ReadOptions::default(), pre.schema()).data_err()?;
    let encoded = pre.encode(&table, true).data_err()?;
    let mut notes = InputNotes {
        ignored_columns: table.ignored_columns().to_vec(),
        ..Default::default()
    };
    notes.add(&encoded, table.n_rows());
    let y = encoded
        .y
        .ok_or_else(|| anyhow::anyhow!("encode(with_labels) returned no labels"))?;
    let probs = bundle.probabilities(encoded.x.view());
    let eval = evaluate(name, bool_labels(&y), probs, bundle.info.threshold.value)?;
    Ok((eval, notes))
}

/// Rows per chunk of [`predict_csv`]: large enough for efficient matrix products, small
/// enough that a chunk's text and features stay a few megabytes.
pub const PREDICT_CHUNK_ROWS: usize = 8192;

/// What [`predict_csv`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PredictSummary {
    pub notes: InputNotes,
    /// Rows predicted positive at the bundle's threshold.
    pub positives: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Streams `path` through the bundle in chunks of `chunk_rows`, writing one CSV line per
/// data row to `out`: `row,line,probability,label`.
///
/// `row` is the 1-based data row, `line` the file line the row starts on (the header is
/// line 1), `probability` the ensemble's probability of the positive class (6 decimals),
/// `label` the positive or negative label at the bundle's threshold, decided on the
/// unrounded probability. Memory stays at one chunk whatever the file size. A target
/// column, if present, is ignored. Categories unseen in training are encoded as
/// `<unknown>` and counted, never an error.
///
/// Errors (exit 2): unreadable input, a column the model needs is missing, a bad value
/// (the message names the line and column); write failures are reported by the caller's
/// writer.
pub fn predict_csv(
    bundle: &Bundle,
    path: &Path,
    out: &mut dyn Write,
    chunk_rows: usize,
) -> Result<PredictSummary, CliError> {
    let start = Instant::now();
    let pre = &bundle.preprocessor;
    let schema = pre.prediction_schema();
    let reader =
        ChunkReader::open(path, &ReadOptions::default(), &schema, chunk_rows.max(1)).data_err()?;
    let threshold = bundle.info.threshold.value;
    let target = pre.target();
    let mut summary = PredictSummary::default();
    writeln!(out, "row,line,probability,label")
        .context("cannot write the predictions")
        .usage_err()?;
    // Two stages on two threads: this thread's helper reads, parses and encodes chunk i + 1
    // while this thread runs the networks on chunk i and writes it. At most two encoded
    // chunks wait in the channel, so memory stays bounded whatever the file size.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<EncodedChunk, CliError>>(2);
        scope.spawn(move || {
            for chunk in reader {
                let item = chunk.data_err().and_then(|c| {
                    let encoded = pre.encode(&c, false).data_err()?;
                    Ok(EncodedChunk {
                        lines: c.lines().to_vec(),
                        ignored: c.ignored_columns().to_vec(),
                        encoded,
                    })
                });
                let failed = item.is_err();
                // A closed channel means the writer stopped (its error is reported there).
                if tx.send(item).is_err() || failed {
                    break;
                }
            }
        });
        let mut row = 0usize;
        let mut text = String::new();
        for item in rx {
            let chunk = item?;
            if row == 0 {
                summary.notes.ignored_columns = chunk.ignored;
            }
            summary.notes.add(&chunk.encoded, chunk.lines.len());
            let probs = bundle.probabilities(chunk.encoded.x.view());
            text.clear();
            for (p, line) in probs.iter().zip(&chunk.lines) {
                row += 1;
                let positive = *p >= threshold;
                summary.positives += usize::from(positive);
                let label = csv_field(if positive {
                    target.positive_written()
                } else {
                    target.negative_written()
                });
                use std::fmt::Write as _;
                let _ = writeln!(text, "{row},{line},{p:.6},{label}");
            }
            out.write_all(text.as_bytes())
                .context("cannot write the predictions")
                .usage_err()?;
        }
        Ok::<(), CliError>(())
    })?;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// One chunk of prediction input, encoded: the file line of each row, the file's columns
/// the model ignores, and the features with their imputation and unknown-level counts.
struct EncodedChunk {
    lines: Vec<u64>,
    ignored: Vec<String>,
    encoded: glassbox_data::Encoded,
}

/// A CSV field, quoted if it holds a delimiter, quote or line break.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

// ───────────────────────────── training ─────────────────────────────

/// One network to train: member `member` of `recipe` on `set`.
#[derive(Debug, Clone, Copy)]
pub struct MemberJob<'a> {
    pub set: &'a TrainingSet,
    pub recipe: &'a Recipe,
    /// The recipe's label in reports and progress (`paper`, `default`).
    pub model: &'a str,
    pub member: usize,
}

/// A trained network and its record.
#[derive(Debug, Clone)]
pub struct MemberResult {
    pub mlp: Mlp<f32>,
    pub info: MemberInfo,
    pub history: History,
}

/// The trainer's configuration for member `member` of `recipe` on `n_train` rows.
///
/// Errors: balanced class weights without both classes (cannot happen after the target was
/// resolved; internal).
pub fn train_config(
    recipe: &Recipe,
    member: usize,
    n_train: usize,
    class_counts: (usize, usize),
    threads: usize,
) -> Result<TrainConfig, CliError> {
    let class_weights = match recipe.class_weight {
        ClassWeightRule::None => None,
        ClassWeightRule::Balanced => {
            Some(ClassWeights::balanced(class_counts.0, class_counts.1).internal_err()?)
        }
    };
    let total_steps = recipe.epochs * num_batches(n_train.max(1), recipe.batch_size);
    Ok(TrainConfig {
        epochs: recipe.epochs,
        batch_size: recipe.batch_size,
        loss: LossConfig {
            kind: recipe.loss,
            class_weights,
            pos_weight: None,
        },
        optimizer: recipe.optimizer,
        schedule: recipe.schedule.resolve(recipe.optimizer.lr(), total_steps),
        clip_norm: None,
        early_stopping: recipe.early_stopping.map(|patience| EarlyStopping {
            patience,
            min_delta: 0.0,
            monitor: Monitor::ValLoss,
            restore_best: true,
        }),
        seed: recipe.member_seed(member),
        shuffle: true,
        threads: Some(threads.max(1)),
    })
}

/// How a training failure reads to the user (exit 2 unless it is a bug).
fn train_error(job: &MemberJob<'_>, e: TrainError) -> CliError {
    let context = format!(
        "training {} (member {}, seed {}) failed",
        job.model,
        job.member,
        job.recipe.member_seed(job.member)
    );
    let kind = match &e {
        TrainError::NonFinite { .. }
        | TrainError::Data { .. }
        | TrainError::MonitorUndefined { .. } => ErrorKind::Data,
        TrainError::Config { .. }
        | TrainError::Loss(_)
        | TrainError::Optimizer(_)
        | TrainError::Schedule(_)
        | TrainError::Architecture(_)
        | TrainError::LossMismatch { .. }
        | TrainError::MonitorNeedsValidation(_) => ErrorKind::Usage,
        _ => ErrorKind::Internal,
    };
    let hint = matches!(e, TrainError::NonFinite { .. });
    let mut err = anyhow::Error::from(e);
    if hint {
        err = err.context(
            "the loss diverged: try a smaller --lr, or look for extreme values in the data",
        );
    }
    CliError::new(kind, err.context(context))
}

/// Trains one network, reporting to `bar`.
fn train_member(
    job: &MemberJob<'_>,
    threads: usize,
    bar: &mut TrainBar,
) -> Result<MemberResult, CliError> {
    let set = job.set;
    let recipe = job.recipe;
    let spec = recipe
        .mlp_spec(set.preprocessor.n_features())
        .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let init = recipe
        .init()
        .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let positives = set.y_train.iter().filter(|&&v| v == 1.0).count();
    let counts = (set.y_train.len() - positives, positives);
    let config = train_config(recipe, job.member, set.y_train.len(), counts, threads)?;
    let batches = num_batches(set.y_train.len().max(1), recipe.batch_size);
    let mut trainer = Trainer::<f32>::new(spec, init, config).map_err(|e| train_error(job, e))?;
    let y_train = set.y_train.view().insert_axis(Axis(1));
    let train = DataView::new(set.x_train.view(), y_train);
    let y_val = set.y_val.as_ref().map(|y| y.view().insert_axis(Axis(1)));
    let val = match (&set.x_val, &y_val) {
        (Some(x), Some(y)) => Some(DataView::new(x.view(), *y)),
        _ => None,
    };
    let mut step = 0u64;
    let history = trainer
        .fit(&train, val.as_ref(), &mut |event| match event {
            Event::Batch(p) => {
                step += 1;
                bar.batch(step, p.epoch, p.running_loss);
            }
            Event::EpochEnd(r) => {
                let mut s = String::new();
                if let Some(v) = r.val_loss {
                    s.push_str(&format!("val loss {v:.4}"));
                }
                if let Some(a) = r.val_roc_auc {
                    s.push_str(&format!(" auc {a:.4}"));
                }
                bar.epoch(&s);
                step = ((r.epoch + 1) * batches) as u64;
            }
            _ => {}
        })
        .map_err(|e| train_error(job, e))?;
    // Early stopping restores the best weights when it fires; when every epoch ran, put
    // the best validation epoch back as well, so "early stopping" always means "the best
    // epoch's weights".
    let best_epoch = match trainer.early_stopping_state().best_epoch {
        Some(best) if recipe.early_stopping.is_some() => {
            if history.early_stop.is_none() {
                trainer.restore_best();
            }
            best
        }
        _ => history.len().saturating_sub(1),
    };
    let kept = history.epochs.get(best_epoch);
    let manifest = trainer.manifest();
    let info = MemberInfo {
        seed: recipe.member_seed(job.member),
        epochs_run: history.len(),
        best_epoch: best_epoch + 1,
        train_loss: kept.map_or(f64::NAN, |r| r.train_loss),
        val_loss: kept.and_then(|r| r.val_loss),
        config: manifest.config,
        trainer_conventions: manifest.conventions,
        // Wall times are not reproducible: they go to history.csv, not into the bundle, so
        // equal models stay equal files.
        history: History {
            seconds: Vec::new(),
            ..history.clone()
        },
    };
    bar.finish(&format!(
        "{} epoch(s), kept epoch {}{}",
        info.epochs_run,
        info.best_epoch,
        info.val_loss
            .map_or(String::new(), |v| format!(", val loss {v:.4}"))
    ));
    Ok(MemberResult {
        mlp: trainer.into_mlp(),
        info,
        history,
    })
}

/// Trains every job on `workers` threads at once (each network's maths on
/// `threads / workers` threads), returning results in job order. Networks are independent
/// and seeded, so the results do not depend on `workers` or `threads`.
pub fn train_members(
    jobs: &[MemberJob<'_>],
    threads: usize,
    progress: &Progress,
) -> Vec<Result<MemberResult, CliError>> {
    let workers = threads.clamp(1, jobs.len().max(1));
    let per_job = (threads / workers).max(1);
    let mut bars: Vec<Option<TrainBar>> = jobs
        .iter()
        .map(|j| {
            let k = j.recipe.ensemble;
            let label = if k > 1 {
                format!("{} {}/{k}", j.model, j.member + 1)
            } else {
                j.model.to_string()
            };
            let batches = num_batches(j.set.y_train.len().max(1), j.recipe.batch_size);
            Some(progress.training_bar(&label, j.recipe.epochs, batches))
        })
        .collect();
    let bars_by_job: Vec<std::sync::Mutex<Option<TrainBar>>> = bars
        .iter_mut()
        .map(|b| std::sync::Mutex::new(b.take()))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<MemberResult, CliError>>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len() {
                        break;
                    }
                    let mut bar = bars_by_job[i]
                        .lock()
                        .ok()
                        .and_then(|mut b| b.take())
                        .unwrap_or_else(|| Progress::silent().training_bar("", 1, 1));
                    let r = train_member(&jobs[i], per_job, &mut bar);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(anyhow::anyhow!("a training thread stopped early").into()))
        })
        .collect()
}

/// A trained model: the bundle plus what the run records around it.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    pub bundle: Bundle,
    /// One record per member and epoch.
    pub history: Vec<EpochRecord>,
    /// The ensemble on the validation rows, at the chosen threshold.
    pub validation: Option<Evaluation>,
}

/// Puts trained members together: ensemble probabilities on the validation rows, the
/// threshold by the recipe's rule, validation metrics, the bundle.
pub fn assemble(
    set: &TrainingSet,
    recipe: &Recipe,
    model: &str,
    members: Vec<MemberResult>,
) -> Result<TrainedModel, CliError> {
    let mut history = Vec::new();
    for (k, m) in members.iter().enumerate() {
        for (r, secs) in m.history.epochs.iter().zip(&m.history.seconds) {
            history.push(EpochRecord {
                model: model.to_string(),
                member: k,
                record: r.clone(),
                seconds: *secs,
            });
        }
    }
    let infos: Vec<MemberInfo> = members.iter().map(|m| m.info.clone()).collect();
    let mlps: Vec<Mlp<f32>> = members.into_iter().map(|m| m.mlp).collect();
    let val = match (&set.x_val, &set.y_val) {
        (Some(x), Some(y)) => Some((bool_labels(y), member_probabilities(&mlps, x.view()))),
        _ => None,
    };
    let threshold = choose_threshold(
        recipe.threshold,
        val.as_ref().map(|(l, p)| (l.as_slice(), p.as_slice())),
    )
    .map_err(|e| match e {
        // The recipe was validated: a rule needing validation rows has them.
        ThresholdError::NeedsValidation(_) => CliError::internal(e),
        ThresholdError::Validation(_) => CliError::data(e),
    })?;
    let validation = match val {
        Some((labels, probs)) => Some(evaluate("validation", labels, probs, threshold.value)?),
        None => None,
    };
    let summary = &set.summary;
    let class_balance = summary
        .class_balance
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the training summary has no class balance"))?;
    let info = BundleInfo {
        created_by: format!("glassbox {}", env!("CARGO_PKG_VERSION")),
        recipe: recipe.clone(),
        target: set.target().clone(),
        threshold,
        members: infos,
        validation: validation.as_ref().map(|v| v.at_threshold.clone()),
        data: TrainingData {
            file: set.file.clone(),
            rows: summary.rows,
            train_rows: set.train_rows.len(),
            val_rows: set.val_rows.len(),
            features: set.preprocessor.n_features(),
            class_balance,
            duplicates: summary.duplicates,
        },
        conventions: conventions(recipe),
    };
    Ok(TrainedModel {
        bundle: Bundle {
            info,
            preprocessor: set.preprocessor.clone(),
            members: mlps,
        },
        history,
        validation,
    })
}

/// Trains `recipe` on `set` with `threads` threads: every member, then [`assemble`].
pub fn train_bundle(
    set: &TrainingSet,
    recipe: &Recipe,
    model: &str,
    threads: usize,
    progress: &Progress,
) -> Result<TrainedModel, CliError> {
    let jobs: Vec<MemberJob<'_>> = (0..recipe.ensemble)
        .map(|member| MemberJob {
            set,
            recipe,
            model,
            member,
        })
        .collect();
    let members = train_members(&jobs, threads, progress)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    assemble(set, recipe, model, members)
}

/// The number of threads to use: `--threads`, else one per core.
pub fn thread_count(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(1)
    })
}
