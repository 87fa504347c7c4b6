//! Argument groups shared by several subcommands, and small helpers around them.

use std::path::{Path, PathBuf};

use clap::Args;
use glassbox_data::{DerivedSpec, FeatureOptions, NumericScaling, ReadOptions, Table, TargetSpec};
use glassbox_train::LossConfig;
use glassbox_train::metrics::cost::{CostSpec, MissCost};

use crate::bundle::Bundle;
use crate::exit::{CliError, ResultExt};
use crate::output::write_atomic;
use crate::pipeline::DataOptions;
use crate::recipe::{
    ClassWeightRule, EmbeddingName, LossName, OptimizerName, Recipe, RecipeChanges, RecipeName,
    ThresholdRule,
};

/// How to read the columns of a training CSV.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Reading the data")]
pub struct DataArgs {
    /// TOML file declaring column kinds, missing-value sentinels, log1p and dropped columns
    /// (see datasets/online_shoppers.schema.toml). Flags below win over it.
    #[arg(long, value_name = "FILE.toml")]
    pub schema: Option<PathBuf>,

    /// Read COL as categories (one-hot), e.g. integer codes such as a region number.
    /// Repeat the flag or separate names with commas.
    #[arg(long, value_name = "COL", value_delimiter = ',')]
    pub categorical: Vec<String>,

    /// Treat VALUE in column COL as missing (imputed with the training median or mode),
    /// e.g. --missing Duration=-1. Repeatable.
    #[arg(long, value_name = "COL=VALUE", value_parser = parse_col_value)]
    pub missing: Vec<(String, String)>,

    /// Apply u = ln(1 + x) to numeric column COL before standardising (for skewed,
    /// non-negative counts and durations). Repeatable or comma-separated.
    #[arg(long, value_name = "COL", value_delimiter = ',')]
    pub log1p: Vec<String>,

    /// Ignore column COL entirely (identifiers, leaks). Repeatable or comma-separated.
    #[arg(long, value_name = "COL", value_delimiter = ',')]
    pub drop: Vec<String>,

    /// Read COL as datetimes (Unix seconds): `COL` alone for ISO-8601, `COL=%m/%d/%y %H:%M`
    /// for a pattern. ISO columns are also recognised without the flag. Repeatable.
    #[arg(long, value_name = "COL[=FORMAT]", value_parser = parse_datetime_flag)]
    pub datetime: Vec<(String, String)>,

    /// Add a derived column (notes/data.md §9–10), e.g. gap=seconds_between(signup,purchase),
    /// hour=hour_of_day(purchase,cyclic), dow=day_of_week(purchase), quick=at_most(gap,60),
    /// age=age(signup,purchase,days), users=count_by_key(device) (fitted on the training
    /// file and stored) or count_by_key(device,scored) (counted over the scored file).
    /// Repeatable, applied in order.
    #[arg(long, value_name = "NAME=OP(ARGS)", value_parser = DerivedSpec::parse_flag)]
    pub derive: Vec<DerivedSpec>,
}

/// `--numeric-scaling`: standard, robust-clip or quantile-normal.
fn parse_numeric_scaling(s: &str) -> Result<NumericScaling, String> {
    match s.trim() {
        "standard" => Ok(NumericScaling::Standard),
        "robust-clip" => Ok(NumericScaling::RobustClip),
        "quantile-normal" => Ok(NumericScaling::QuantileNormal),
        other => Err(format!(
            "unknown numeric scaling \"{other}\" (standard, robust-clip, quantile-normal)"
        )),
    }
}

/// `COL` → `(COL, "iso")`, `COL=FORMAT` → `(COL, FORMAT)`.
fn parse_datetime_flag(s: &str) -> Result<(String, String), String> {
    let (c, f) = s.split_once('=').unwrap_or((s, "iso"));
    if c.trim().is_empty() || f.trim().is_empty() {
        return Err(format!("expected COL or COL=FORMAT, got \"{s}\""));
    }
    Ok((c.trim().to_string(), f.trim().to_string()))
}

impl DataArgs {
    /// The pipeline's options; `apply_log1p` is the recipe's choice.
    pub fn options(&self, apply_log1p: bool) -> DataOptions {
        DataOptions {
            apply_log1p,
            schema: self.schema.clone(),
            categorical: self.categorical.clone(),
            missing: self.missing.clone(),
            log1p: self.log1p.clone(),
            drop: self.drop.clone(),
            datetime: self.datetime.clone(),
            derive: self.derive.clone(),
            features: FeatureOptions::default(),
        }
    }
}

/// `COL=VALUE` → `(COL, VALUE)`; the value may be empty-free text or a number.
fn parse_col_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((c, v)) if !c.trim().is_empty() && !v.trim().is_empty() => {
            Ok((c.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!(
            "expected COL=VALUE (e.g. Administrative_Duration=-1), got \"{s}\""
        )),
    }
}

/// The training recipe: a preset and changes to single fields.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Recipe (start from a preset, change single fields)")]
pub struct RecipeArgs {
    /// Preset: `paper` reproduces the Keras recipe of Sakar et al. (2019) exactly; `default`
    /// is the best recipe found by the search in notes/recipe.md.
    #[arg(long, value_enum, default_value = "default")]
    pub recipe: RecipeName,

    /// Apply the log1p settings of --schema and --log1p (the paper recipe does not).
    #[arg(long, value_name = "BOOL")]
    pub use_log1p: Option<bool>,

    /// Numeric columns: standard (mean/sd), robust-clip (RealMLP: median/IQR, smooth clip
    /// to ±3) or quantile-normal (Φ⁻¹ of the mid-rank CDF). notes/data.md §11.
    #[arg(long, value_name = "RULE", value_parser = parse_numeric_scaling)]
    pub numeric_scaling: Option<NumericScaling>,

    /// Add a 0/1 `<missing>` feature to each column with missing training values.
    #[arg(long, value_name = "BOOL")]
    pub missing_indicators: Option<bool>,

    /// Pool categorical levels seen fewer than N times in training into `<unknown>` (0 = off).
    #[arg(long, value_name = "N")]
    pub rare_min_count: Option<usize>,

    /// Input layers of tables before the hidden layers (notes/tabular.md): plr, periodic
    /// embeddings of every column (Gorishniy et al. 2022), plr-numeric, of the numeric
    /// columns only, or none.
    #[arg(long, value_enum, value_name = "KIND")]
    pub embedding: Option<EmbeddingName>,

    /// PLR: frequencies per column, K (default 16).
    #[arg(long, value_name = "K")]
    pub plr_frequencies: Option<usize>,

    /// PLR: units per column, H (default 16); the first hidden layer sees columns × H.
    #[arg(long, value_name = "H")]
    pub plr_units: Option<usize>,

    /// PLR: σ of the initial frequencies, drawn from N(0, σ²) (default 0.1).
    #[arg(long, value_name = "SIGMA")]
    pub plr_sigma: Option<f64>,

    /// BatchEnsemble with K members (TabM): every layer's weights shared by K members with
    /// their own adapters, trained together; the probability is their mean. 1 = off.
    #[arg(long, value_name = "K")]
    pub ensemble_k: Option<usize>,

    /// A learned scale per input column, starting at 1, before any embedding (RealMLP).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub feature_scale: Option<bool>,

    /// The wide & deep linear term: the logit becomes MLP(x) + wᵀx + c (Cheng et al. 2016),
    /// w over every input column, starting at 0.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub wide: Option<bool>,

    /// Hidden layer sizes, comma-separated, e.g. 64,64 (an output unit follows).
    #[arg(long, value_name = "UNITS", value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,

    /// Hidden activation: relu, tanh, sigmoid, identity, leaky_relu(0.01).
    #[arg(long, value_name = "NAME")]
    pub activation: Option<String>,

    /// Drop probability after each hidden layer while training (0 = none).
    #[arg(long, value_name = "P")]
    pub dropout: Option<f64>,

    /// Weight initialiser: glorot_uniform (Keras), he_uniform, torch_default.
    #[arg(long, value_name = "NAME")]
    pub init: Option<String>,

    /// Training loss.
    #[arg(long, value_enum)]
    pub loss: Option<LossName>,

    /// γ of `--loss focal` (default 2): how much the rows already classified well are
    /// down-weighted (0 gives cross-entropy).
    #[arg(long, value_name = "GAMMA")]
    pub focal_gamma: Option<f64>,

    /// α of `--loss focal`: the weight of the positive class, 1 − α of the negative (default:
    /// none, both 1).
    #[arg(long, value_name = "ALPHA")]
    pub focal_alpha: Option<f64>,

    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerName>,

    /// Learning rate.
    #[arg(long, value_name = "RATE")]
    pub lr: Option<f64>,

    /// Weight decay λ (decoupled for adamw, coupled L2 for the others).
    #[arg(long, value_name = "LAMBDA")]
    pub weight_decay: Option<f64>,

    /// Cosine learning-rate decay to 0 over the planned steps (`--cosine false` for a
    /// constant rate).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub cosine: Option<bool>,

    /// Maximum passes over the training rows.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,

    /// Rows per optimizer step.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Seed of the split, initialisation, shuffling and dropout (member k uses SEED + k).
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,

    /// Per-class loss weights: none, or balanced (n / (2·n_class)).
    #[arg(long, value_enum, value_name = "RULE")]
    pub class_weight: Option<ClassWeightRule>,

    /// Stop after PATIENCE epochs without a better validation loss, keeping the best
    /// epoch's weights (0 = train every epoch).
    #[arg(long, value_name = "PATIENCE")]
    pub early_stopping: Option<usize>,

    /// Train K networks from seeds SEED..SEED+K and average their probabilities.
    #[arg(long, value_name = "K")]
    pub ensemble: Option<usize>,

    /// Fraction of the training file held out, stratified, for validation (early stopping,
    /// threshold, validation metrics); 0 trains on every row.
    #[arg(long, value_name = "F")]
    pub val_fraction: Option<f64>,

    /// Decision threshold: max-f1 or youden (chosen on the validation rows), or a fixed
    /// probability such as 0.5.
    #[arg(long, value_name = "RULE", value_parser = parse_threshold)]
    pub threshold: Option<ThresholdRule>,
}

fn parse_threshold(s: &str) -> Result<ThresholdRule, String> {
    s.parse()
}

impl RecipeArgs {
    /// The preset with the requested changes.
    pub fn recipe(&self) -> Result<Recipe, CliError> {
        let mut r = self.recipe.recipe();
        r.apply(&self.changes())
            .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
        Ok(r)
    }

    /// The field changes.
    pub fn changes(&self) -> RecipeChanges {
        RecipeChanges {
            log1p: self.use_log1p,
            numeric_scaling: self.numeric_scaling,
            missing_indicators: self.missing_indicators,
            rare_min_count: self.rare_min_count,
            feature_scale: self.feature_scale,
            plr: self.embedding.map(|e| e != EmbeddingName::None),
            plr_numeric: self.embedding.map(|e| e == EmbeddingName::PlrNumeric),
            plr_frequencies: self.plr_frequencies,
            plr_units: self.plr_units,
            plr_sigma: self.plr_sigma,
            ensemble_k: self.ensemble_k,
            wide: self.wide,
            hidden: self.hidden.clone(),
            activation: self.activation.clone(),
            dropout: self.dropout,
            init: self.init.clone(),
            loss: self.loss,
            focal_gamma: self.focal_gamma,
            focal_alpha: self.focal_alpha,
            class_weight: self.class_weight,
            optimizer: self.optimizer,
            lr: self.lr,
            weight_decay: self.weight_decay,
            cosine: self.cosine,
            epochs: self.epochs,
            batch_size: self.batch_size,
            early_stopping: self.early_stopping,
            ensemble: self.ensemble,
            val_fraction: self.val_fraction,
            threshold: self.threshold,
            seed: self.seed,
        }
    }
}

/// A cost matrix (notes/metrics.md §7): an alert costs `--cost-fp` (a review, paid on true
/// and false positives alike), a missed positive costs `--cost-fn` or its row's value of
/// `--cost-fn-column`, a passed negative costs 0.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Cost of decisions")]
pub struct CostArgs {
    /// Cost of one alert (a flagged row, fraudulent or not), e.g. 5.
    #[arg(long, value_name = "AMOUNT", value_parser = parse_cost_fp)]
    pub cost_fp: Option<f64>,

    /// Cost of one missed positive, the same for every row.
    #[arg(
        long,
        value_name = "AMOUNT",
        value_parser = parse_cost_fn,
        requires = "cost_fp",
        conflicts_with = "cost_fn_column"
    )]
    pub cost_fn: Option<f64>,

    /// Column of the CSV holding each row's cost of a miss (e.g. purchase_value); every cell
    /// must be a number ≥ 0.
    #[arg(long, value_name = "COL", requires = "cost_fp")]
    pub cost_fn_column: Option<String>,
}

fn parse_cost_fp(s: &str) -> Result<f64, String> {
    parse_cost("--cost-fp", s)
}

fn parse_cost_fn(s: &str) -> Result<f64, String> {
    parse_cost("--cost-fn", s)
}

fn parse_cost(flag: &str, s: &str) -> Result<f64, String> {
    let amount: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not a number"))?;
    crate::pipeline::cost::check_amount(flag, amount)
}

impl CostArgs {
    /// The cost matrix, or `None` without `--cost-fp`.
    ///
    /// # Errors
    /// `--cost-fp` without `--cost-fn` or `--cost-fn-column` (usage).
    pub fn spec(&self) -> Result<Option<CostSpec>, CliError> {
        let Some(alert) = self.cost_fp else {
            return Ok(None);
        };
        let miss = match (&self.cost_fn, &self.cost_fn_column) {
            (Some(m), _) => MissCost::Constant(*m),
            (None, Some(c)) => MissCost::Column(c.clone()),
            (None, None) => {
                return Err(CliError::usage(anyhow::anyhow!(
                    "--cost-fp needs the cost of a miss: --cost-fn AMOUNT or --cost-fn-column COL"
                )));
            }
        };
        Ok(Some(CostSpec { alert, miss }))
    }
}

/// The target column and its positive label.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The column to predict; it must hold exactly two values.
    #[arg(long, short, value_name = "COL")]
    pub target: String,

    /// Which value of the target is the positive class (default: the one spelled
    /// true/yes/1, if exactly one is).
    #[arg(long, value_name = "LABEL")]
    pub positive: Option<String>,
}

impl TargetArgs {
    /// The data layer's target spec.
    pub fn spec(&self) -> TargetSpec {
        let spec = TargetSpec::new(&self.target);
        match &self.positive {
            Some(p) => spec.with_positive(p),
            None => spec,
        }
    }
}

/// Loads a model bundle; every failure is a data error (exit 2) naming the file.
pub fn load_bundle(path: &Path) -> Result<Bundle, CliError> {
    Bundle::load(path).data_err()
}

/// Refuses a bundle of BatchEnsemble networks (`--ensemble-k`, notes/tabular.md §6) in a
/// command that follows one logit per row of each network (`trace`; `explain` counts each
/// member, notes/explain.md, and `gradcheck` checks the members' mean loss, N20).
pub fn refuse_batch_ensemble(bundle: &Bundle, command: &str) -> Result<(), CliError> {
    let k = bundle.info.recipe.ensemble_k;
    if k > 1 {
        return Err(CliError::usage(anyhow::anyhow!(
            "{command} reads one logit per network, but this model's networks are BatchEnsembles of {k} members (--ensemble-k): not supported yet"
        )));
    }
    Ok(())
}

/// Writes `text` to `out` atomically, or prints it when there is no `out`.
pub fn emit(text: &str, out: Option<&Path>) -> Result<(), CliError> {
    match out {
        Some(path) => {
            write_atomic(path, text.as_bytes()).usage_err()?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The loss the bundle's networks were trained with: the recipe's kind, with balanced class
/// weights from the training class counts when the recipe asks for them.
pub fn bundle_loss(bundle: &Bundle) -> Result<LossConfig, CliError> {
    let balance = &bundle.info.data.class_balance;
    bundle
        .info
        .recipe
        .loss_config((balance.negative_count, balance.positive_count))
        .data_err()
}

/// Reads a labelled CSV file with the bundle's schema (every failure a data error).
pub fn read_table(bundle: &Bundle, path: &Path) -> Result<Table, CliError> {
    Table::read(path, &ReadOptions::default(), bundle.preprocessor.schema()).data_err()
}
