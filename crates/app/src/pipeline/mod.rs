//! The purchase-prediction pipeline, file to file: read and split the training CSV, fit the
//! preprocessor on the training part, train the ensemble, choose the threshold on the
//! validation part, evaluate a bundle on a labelled CSV, and stream predictions for a CSV of
//! any size.
//!
//! ```text
//! prepare_training(csv, DataOptions, TargetSpec, val_fraction, seed)
//!     Table::read_infer → Target::resolve → stratified split (T4) → Preprocessor::fit(train part)
//!     → TrainingSet { x_train, y_train, x_val, y_val, … }
//! train_bundle(&TrainingSet, &Recipe, model, threads, &Progress)                  (train.rs)
//!     K × glassbox_train::fit → ensemble probabilities on validation (R1) → threshold (R2)
//!     → Bundle
//! evaluate_csv(&Bundle, csv)          → Evaluation (metrics at the threshold and at 0.5, curves)
//! predict_csv(&Bundle, csv, writer)   → streamed CSV of row, line, probability, label
//! ```
//!
//! Nothing here prints except through [`Progress`](crate::progress::Progress); the
//! command-line layer decides what to show. Errors are [`PipelineError`]s; the command line maps them to exit codes.

pub mod cost;
mod error;
pub mod events;
pub mod recommend;
pub mod train;
pub mod value;

pub use train::set_distributed;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use glassbox_core::seeded_rng;
use glassbox_data::{
    ChunkReader, DataSummary, FeatureOptions, Preprocessor, ReadOptions, Schema, SchemaOverrides,
    Sentinel, Table, Target, TargetSpec,
};
use glassbox_train::batching::stratified_split;
use glassbox_train::metrics::{
    CalibrationTable, MetricsReport, PrCurve, RocCurve, calibration_table, threshold_counts,
};
use ndarray::{Array1, Array2};
use serde::Serialize;

use crate::bundle::Bundle;

pub use error::{PipelineError, TrainFailure};
pub use train::{
    EpochRecord, MemberJob, MemberResult, TrainedModel, assemble, train_bundle, train_members,
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
    /// `--datetime COL[=FORMAT]`: `FORMAT` is `iso` (the default) or a `%`-pattern.
    pub datetime: Vec<(String, String)>,
    /// `--derive NAME=OP(ARG,…)`, in order (glassbox_data::DerivedSpec::parse_flag).
    pub derive: Vec<glassbox_data::DerivedSpec>,
    /// `false` ignores every `log1p` setting (schema file and flags): the recipe's choice.
    pub apply_log1p: bool,
    /// Numeric scaling, missing indicators, rare levels (D17–D23): the recipe's choice.
    pub features: FeatureOptions,
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
            datetime: Vec::new(),
            derive: Vec::new(),
            apply_log1p: true,
            features: FeatureOptions::default(),
        }
    }
}

impl DataOptions {
    /// The schema file's overrides with the flags applied on top.
    ///
    /// # Errors
    /// [`PipelineError::Data`] for an unreadable or invalid schema file.
    pub fn overrides(&self) -> Result<SchemaOverrides, PipelineError> {
        let mut o = match &self.schema {
            Some(p) => SchemaOverrides::from_toml_file(p)?,
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
        for (c, format) in &self.datetime {
            flags.set_datetime(c, format);
        }
        for spec in &self.derive {
            flags.add_derived(spec.clone());
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
pub(crate) const SPLIT_STREAM: u64 = 1;

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
/// # Errors
/// [`PipelineError::Data`] for every data-layer error (unreadable file, ragged row, bad
/// value, missing or single-class target, unknown positive label…);
/// [`PipelineError::Split`] for a validation fraction that would leave a class empty on one
/// side.
pub fn prepare_training(
    path: &Path,
    options: &DataOptions,
    target: &TargetSpec,
    val_fraction: f64,
    seed: u64,
) -> Result<TrainingSet, PipelineError> {
    prepare_training_from(path, None, options, target, val_fraction, seed)
}

/// [`prepare_training`] on `content`, the bytes of the file `path` already read (by the
/// ranks of a distributed run, notes/distributed.md), or on the file when `None`.
///
/// # Errors
/// As [`prepare_training`].
pub fn prepare_training_from(
    path: &Path,
    content: Option<Vec<u8>>,
    options: &DataOptions,
    target: &TargetSpec,
    val_fraction: f64,
    seed: u64,
) -> Result<TrainingSet, PipelineError> {
    let overrides = options.overrides()?;
    let (table, schema) = match content {
        None => Table::read_infer(path, &ReadOptions::default(), &overrides)?,
        Some(bytes) => {
            // The file's bytes, gathered from the ranks of a distributed run.
            let name = path.display().to_string();
            let raw = glassbox_data::RawTable::from_reader(
                std::io::Cursor::new(bytes),
                &name,
                &ReadOptions::default(),
            )?;
            let schema = glassbox_data::Schema::infer(&raw, &overrides)?;
            (Table::from_raw(&raw, &schema)?, schema)
        }
    };
    let validation = ValidationPart::Stratified {
        fraction: val_fraction,
        seed,
    };
    prepare_training_table(
        &path.display().to_string(),
        table,
        schema,
        target,
        validation,
        options.features,
    )
}

/// Which rows of a training table are held out for validation.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationPart {
    /// A stratified random `fraction` (T4) drawn with `seed`; 0 holds out nothing.
    Stratified { fraction: f64, seed: u64 },
    /// These rows (0-based, increasing), e.g. the last period of a time split.
    Rows(Vec<usize>),
}

/// [`prepare_training`] on a table already read (`file` names it): the validation part,
/// the preprocessor fitted on the rest, both encoded.
///
/// # Errors
/// As [`prepare_training`].
pub fn prepare_training_table(
    file: &str,
    table: Table,
    schema: Schema,
    target: &TargetSpec,
    validation: ValidationPart,
    features: FeatureOptions,
) -> Result<TrainingSet, PipelineError> {
    let resolved = Target::resolve(&table, target)?;
    let labels = resolved.labels(&table)?;
    let (train_rows, val_rows) = match validation {
        ValidationPart::Stratified { fraction, seed } if fraction > 0.0 => {
            let classes: Vec<usize> = labels.iter().map(|&y| usize::from(y == 1.0)).collect();
            let mut rng = seeded_rng(seed);
            rng.set_stream(SPLIT_STREAM);
            let split = stratified_split(&classes, fraction, &mut rng).map_err(|source| {
                PipelineError::Split {
                    file: file.to_string(),
                    source,
                }
            })?;
            (split.train, split.val)
        }
        ValidationPart::Stratified { .. } => ((0..table.n_rows()).collect(), Vec::new()),
        ValidationPart::Rows(val) => {
            let mut held = vec![false; table.n_rows()];
            for &i in &val {
                if let Some(h) = held.get_mut(i) {
                    *h = true;
                }
            }
            let train = (0..table.n_rows()).filter(|&i| !held[i]).collect();
            (train, val)
        }
    };
    let train_table = if val_rows.is_empty() {
        table.clone()
    } else {
        table.select_rows(&train_rows)
    };
    let preprocessor = Preprocessor::fit_with(&train_table, &schema, target, features)?;
    let train_part = preprocessor.encode(&train_table, true)?;
    // When the two parts cover the table's rows once, their unknown-category counts add up
    // to the whole table's (the summary's), without encoding it a third time.
    let mut unknown = train_part.unknown;
    let (x_train, y_train) = (train_part.x, train_part.y.unwrap_or_default());
    let (x_val, y_val) = if val_rows.is_empty() {
        (None, None)
    } else {
        let val_part = preprocessor.encode(&table.select_rows(&val_rows), true)?;
        for (column, count) in val_part.unknown {
            *unknown.entry(column).or_insert(0) += count;
        }
        (Some(val_part.x), Some(val_part.y.unwrap_or_default()))
    };
    let summary = if train_rows.len() + val_rows.len() == table.n_rows() {
        DataSummary::with_unknown(&table, Some(&preprocessor), unknown)?
    } else {
        // Validation rows given twice (or the parts otherwise not a partition): count anew.
        DataSummary::new(&table, Some(&preprocessor))?
    };
    Ok(TrainingSet {
        file: file.to_string(),
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
pub(crate) fn bool_labels(y: &Array1<f32>) -> Vec<bool> {
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
pub(crate) const CALIBRATION_BINS: usize = 10;

/// Metrics, curves and calibration of `probs` against `labels`.
///
/// # Errors
/// [`PipelineError::Metrics`] for probabilities outside [0, 1] or non-finite (a model bug),
/// or no rows.
pub fn evaluate(
    name: &str,
    labels: Vec<bool>,
    probs: Vec<f64>,
    threshold: f64,
) -> Result<Evaluation, PipelineError> {
    // One sort of the scores serves both reports and both curves (M8).
    let counts = threshold_counts(&labels, &probs)?;
    let at_threshold = MetricsReport::ranked(&labels, &probs, threshold, &counts)?;
    let at_half = MetricsReport::ranked(&labels, &probs, 0.5, &counts)?;
    let roc = counts.roc_curve(true).ok();
    let pr = counts.precision_recall_curve(true).ok();
    let calibration = calibration_table(&labels, &probs, CALIBRATION_BINS)?;
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
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
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
    /// Adds the notes of a later part of the same file (a rank's, in a distributed run).
    pub fn merge(&mut self, later: InputNotes) {
        if self.rows == 0 {
            self.ignored_columns = later.ignored_columns;
        }
        self.rows += later.rows;
        for (c, n) in later.unknown_categories {
            *self.unknown_categories.entry(c).or_default() += n;
        }
        for (c, n) in later.imputed {
            *self.imputed.entry(c).or_default() += n;
        }
    }

    fn add(&mut self, encoded: &glassbox_data::Encoded, rows: usize) {
        self.rows += rows;
        for (c, n) in &encoded.unknown {
            *self.unknown_categories.entry(c.clone()).or_default() += n;
        }
        for (c, n) in &encoded.imputed {
            *self.imputed.entry(c.clone()).or_default() += n;
        }
    }

    /// The notes worth showing: one per column with unseen categories (`column "Browser": 1
    /// value not seen in training, …`), then the columns the model ignores.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .unknown_categories
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| {
                format!(
                    "column \"{c}\": {n} value{} not seen in training, encoded as <unknown>",
                    if *n == 1 { "" } else { "s" }
                )
            })
            .collect();
        if !self.ignored_columns.is_empty() {
            out.push(format!(
                "columns not used by the model (ignored): {}",
                self.ignored_columns.join(", ")
            ));
        }
        out
    }
}

/// Reads a labelled CSV with the bundle's schema and evaluates the bundle on it.
///
/// # Errors
/// [`PipelineError::Data`] for the file's errors, and those of [`evaluate`].
pub fn evaluate_csv(
    bundle: &Bundle,
    path: &Path,
    name: &str,
) -> Result<(Evaluation, InputNotes), PipelineError> {
    let pre = &bundle.preprocessor;
    let table = Table::read(path, &ReadOptions::default(), pre.schema())?;
    let encoded = pre.encode(&table, true)?;
    let mut notes = InputNotes {
        ignored_columns: table.ignored_columns().to_vec(),
        ..Default::default()
    };
    notes.add(&encoded, table.n_rows());
    let y = encoded
        .y
        .ok_or_else(|| PipelineError::Internal("encode(with_labels) returned no labels".into()))?;
    let probs = bundle.probabilities(encoded.x.view());
    let eval = evaluate(name, bool_labels(&y), probs, bundle.info.threshold.value)?;
    Ok((eval, notes))
}

/// Rows per chunk of [`predict_csv`]: large enough for efficient matrix products, small
/// enough that a chunk's text and features stay a few megabytes.
pub(crate) const PREDICT_CHUNK_ROWS: usize = 8192;

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
/// unrounded probability — or, for a model that decides by a cost column, at `p · m ≥ τ`
/// with `m` the row's value in that column (M22). Memory stays at one chunk whatever the file size. A target
/// column, if present, is ignored. Categories unseen in training are encoded as
/// `<unknown>` and counted, never an error.
///
/// # Errors
/// [`PipelineError::Data`] for unreadable input, a column the model needs is missing, a bad
/// value (the message names the line and column); [`PipelineError::Write`] when `out`
/// fails.
pub fn predict_csv(
    bundle: &Bundle,
    path: &Path,
    out: &mut dyn Write,
    chunk_rows: usize,
) -> Result<PredictSummary, PipelineError> {
    let start = Instant::now();
    let schema = prediction_schema(bundle)?;
    // A count over the scored file (D16, scope "scored") needs the whole file at once.
    let chunk_rows = predict_chunk_rows(bundle, chunk_rows);
    let reader = ChunkReader::open(path, &ReadOptions::default(), &schema, chunk_rows)?;
    let mut summary = PredictSummary::default();
    writeln!(out, "row,line,probability,label").map_err(PipelineError::Write)?;
    let mut row = 0usize;
    let mut text = String::new();
    score_chunks(bundle, reader, &mut summary.notes, |lines, probs, miss| {
        text.clear();
        summary.positives += prediction_lines(bundle, row, lines, probs, miss, &mut text);
        row += lines.len();
        out.write_all(text.as_bytes()).map_err(PipelineError::Write)
    })?;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// The schema `predict` reads `bundle`'s input with: the training schema without the
/// target, and with the cost column when the model decides by one (M22).
///
/// # Errors
/// [`PipelineError::Cost`] when the schema reads the cost column as other than a number.
pub(crate) fn prediction_schema(bundle: &Bundle) -> Result<glassbox_data::Schema, PipelineError> {
    let schema = bundle.preprocessor.prediction_schema();
    match bundle.cost_column() {
        Some(column) => cost::schema_with_cost_column(schema, column),
        None => Ok(schema),
    }
}

/// The rows per chunk `predict` reads `bundle`'s input in: `chunk_rows`, or the whole file
/// when the model counts over the scored file (D16, scope "scored").
pub(crate) fn predict_chunk_rows(bundle: &Bundle, chunk_rows: usize) -> usize {
    if bundle.preprocessor.prediction_schema().needs_whole_file() {
        usize::MAX
    } else {
        chunk_rows.max(1)
    }
}

/// Appends to `text` the output lines `row,line,probability,label` of rows numbered from
/// `first_row + 1` (starting on file lines `lines`, with probabilities `probs`, and miss
/// costs `miss` when the model decides by a cost column); returns how many were decided
/// positive. `predict` writes every row through here.
pub(crate) fn prediction_lines(
    bundle: &Bundle,
    first_row: usize,
    lines: &[u64],
    probs: &[f64],
    miss: Option<&[f64]>,
    text: &mut String,
) -> usize {
    use std::fmt::Write as _;
    let mut positives = 0;
    for (i, (p, line)) in probs.iter().zip(lines).enumerate() {
        let (positive, label) = match miss {
            Some(m) => bundle.decide_at_cost(*p, m[i]),
            None => bundle.decide(*p),
        };
        positives += usize::from(positive);
        let label = csv_field(label);
        let _ = writeln!(text, "{},{line},{p:.6},{label}", first_row + i + 1);
    }
    positives
}

/// Scores the chunks of `reader` with `bundle`, in file order: `scored(lines, probabilities,
/// miss costs)` per chunk (the costs when the model decides by a cost column), the chunk's notes added to `notes`. Stops at the first error of reading or of
/// `scored`.
///
/// Two stages on two threads: a helper reads, parses and encodes chunk i + 1 while this
/// thread runs the networks on chunk i and hands it on. At most two encoded chunks wait in
/// the channel, so memory stays bounded whatever the file size.
pub(crate) fn score_chunks(
    bundle: &Bundle,
    reader: ChunkReader,
    notes: &mut InputNotes,
    mut scored: impl FnMut(&[u64], &[f64], Option<&[f64]>) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let pre = &bundle.preprocessor;
    let cost_column = bundle.cost_column();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<EncodedChunk, PipelineError>>(2);
        scope.spawn(move || {
            for chunk in reader {
                let item = chunk.map_err(PipelineError::from).and_then(|c| {
                    let encoded = pre.encode(&c, false)?;
                    let miss = match cost_column {
                        Some(column) => Some(cost::chunk_miss_costs(&c, column)?),
                        None => None,
                    };
                    Ok(EncodedChunk {
                        miss,
                        lines: c.lines().to_vec(),
                        ignored: c.ignored_columns().to_vec(),
                        encoded,
                    })
                });
                let failed = item.is_err();
                // A closed channel means the consumer stopped (its error is reported there).
                if tx.send(item).is_err() || failed {
                    break;
                }
            }
        });
        let mut first = true;
        for item in rx {
            let chunk = item?;
            if first {
                notes.ignored_columns = chunk.ignored;
                first = false;
            }
            notes.add(&chunk.encoded, chunk.lines.len());
            let probs = bundle.probabilities(chunk.encoded.x.view());
            scored(&chunk.lines, &probs, chunk.miss.as_deref())?;
        }
        Ok::<(), PipelineError>(())
    })
}

/// One chunk of prediction input, encoded: the file line of each row, the file's columns
/// the model ignores, and the features with their imputation and unknown-level counts.
struct EncodedChunk {
    /// Each row's miss cost, when the bundle decides by a cost column.
    miss: Option<Vec<f64>>,
    lines: Vec<u64>,
    ignored: Vec<String>,
    encoded: glassbox_data::Encoded,
}

/// A CSV field, quoted if it holds a delimiter, quote or line break.
pub(crate) fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The number of threads to use: `--threads`, else one per core.
pub(crate) fn thread_count(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(1)
    })
}
