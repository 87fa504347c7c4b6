//! `glassbox value train | evaluate | predict`: a transaction log (customer, time, value) to a
//! customer-value model, its metrics on a later period, and each customer's predicted spend.
//! The featurizer is `glassbox-value` (notes/value.md §2), the model
//! [`crate::pipeline::value`].

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use glassbox_train::LossKind;
use glassbox_train::metrics::value::ValueMetrics;
use glassbox_value::{
    Amount, Clock, Columns, CustomerTable, Part, ValueError, featurize, format_ms, headline_split,
    parse_date, parse_horizon,
};
use serde_json::json;

use super::Global;
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::output::write_atomic_with;
use crate::pipeline::value::{ValueModel, ValueRecipe, fit_value_model};

const AFTER_HELP: &str = "\
Examples (the bundled Online Retail log; spend in the 91 days after 2011-09-01):
  glassbox value train datasets/online_retail.csv.gz --customer CustomerID --time InvoiceDate \\
      --quantity Quantity --price UnitPrice --invoice InvoiceNo --categorical Country \\
      --product StockCode --cutoff 2011-09-01 --horizon 91d --out runs/value
  glassbox value evaluate runs/value/model.safetensors datasets/online_retail.csv.gz \\
      --cutoff 2011-09-01 --out runs/value-eval
  glassbox value predict runs/value/model.safetensors datasets/online_retail.csv.gz \\
      --at 2011-12-01 --out predictions.csv
Lines before the cutoff make the features, the horizon after it the target (net spend, returns
netted, floored at 0). Logs may be plain or gzip CSV. Errors name the file, line and column.";

/// Arguments of `value`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ValueArgs {
    #[command(subcommand)]
    pub command: ValueCommand,
}

/// The `value` subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum ValueCommand {
    /// Train a customer-value model on a transaction log (features before --cutoff, target
    /// in the --horizon after it; 20 % of the customers held out for early stopping).
    Train(TrainArgs),
    /// Metrics of a model on a log at a cutoff (metrics.json with a top-level `test` object).
    Evaluate(EvaluateArgs),
    /// Each customer's probability of buying and expected spend over the model's horizon
    /// after --at, with lower and upper quantiles.
    Predict(PredictArgs),
}

/// The roles of the log's columns.
#[derive(Debug, Clone, Args)]
pub struct RoleArgs {
    /// The customer-id column (lines with an empty id are skipped).
    #[arg(long, value_name = "COL")]
    pub customer: String,
    /// The time column (ISO-8601 date-times, or Unix seconds or milliseconds).
    #[arg(long, value_name = "COL")]
    pub time: String,
    /// The line-value column (negative on returns); or give --quantity and --price.
    #[arg(long, value_name = "COL", conflicts_with_all = ["quantity", "price"])]
    pub amount: Option<String>,
    /// The quantity column (value = quantity × price).
    #[arg(long, value_name = "COL", requires = "price")]
    pub quantity: Option<String>,
    /// The unit-price column (must be ≥ 0).
    #[arg(long, value_name = "COL", requires = "quantity")]
    pub price: Option<String>,
    /// The invoice column (an id starting with C is a cancellation).
    #[arg(long, value_name = "COL")]
    pub invoice: Option<String>,
    /// A categorical column (country, channel, …); repeat for several.
    #[arg(long, value_name = "COL")]
    pub categorical: Vec<String>,
    /// The product (stock code) column: a code not starting with a digit is a service line
    /// (postage, fees), and the share of spend on them is a feature.
    #[arg(long, value_name = "COL")]
    pub product: Option<String>,
}

impl RoleArgs {
    fn columns(&self) -> Result<Columns, CliError> {
        let amount = match (&self.amount, &self.quantity, &self.price) {
            (Some(a), None, None) => Amount::Column(a.clone()),
            (None, Some(q), Some(p)) => Amount::QuantityTimesPrice {
                quantity: q.clone(),
                price: p.clone(),
            },
            _ => {
                return Err(CliError::usage(anyhow::anyhow!(
                    "give the line value as --amount COL, or as --quantity COL --price COL"
                )));
            }
        };
        Ok(Columns {
            customer: self.customer.clone(),
            time: self.time.clone(),
            amount,
            invoice: self.invoice.clone(),
            categorical: self.categorical.clone(),
            product: self.product.clone(),
        })
    }
}

/// Which value loss to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// Zero-inflated lognormal (the default; C4–C7).
    Ziln,
    /// Squared error on log1p(y) (C1).
    MseLog1p,
    /// Huber on log1p(y) (C3).
    HuberLog1p,
}

/// Arguments of `value train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The transaction log (CSV or CSV.gz with a header).
    #[arg(value_name = "TRANSACTIONS.csv")]
    pub log: PathBuf,
    #[command(flatten)]
    pub roles: RoleArgs,
    /// The calibration cutoff (YYYY-MM-DD or ISO-8601).
    #[arg(long, value_name = "DATE")]
    pub cutoff: String,
    /// The prediction horizon (e.g. 91d).
    #[arg(long, value_name = "SPAN")]
    pub horizon: String,
    /// The calibration start (default: the first customer line).
    #[arg(long, value_name = "DATE")]
    pub start: Option<String>,
    /// The loss (and so the head).
    #[arg(long, value_enum, default_value = "ziln")]
    pub loss: LossArg,
    /// Seed of initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Output folder (model.safetensors, metrics.json).
    #[arg(long, value_name = "DIR", default_value = "runs/value")]
    pub out: PathBuf,
}

/// Changes to the default recipe (ZILN MLP 64-64; see `crate::pipeline::value::ValueRecipe`).
#[derive(Debug, Args)]
pub struct TuningArgs {
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_name = "H,H", value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Dropout after each hidden layer.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Adam's learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Coupled L2 weight decay [default: 1e-2 with ZILN, 1e-3 with the log1p losses].
    #[arg(long)]
    pub l2: Option<f64>,
    /// Rows per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Most epochs (early stopping on val ends sooner).
    #[arg(long)]
    pub max_epochs: Option<usize>,
    /// Early-stopping patience in epochs.
    #[arg(long)]
    pub patience: Option<usize>,
}

impl TuningArgs {
    fn apply(&self, r: &mut ValueRecipe) {
        if let Some(h) = &self.hidden {
            r.hidden = h.clone();
        }
        r.dropout = self.dropout.unwrap_or(r.dropout);
        r.lr = self.lr.unwrap_or(r.lr);
        r.l2 = self.l2.unwrap_or(r.l2);
        r.batch_size = self.batch_size.unwrap_or(r.batch_size);
        r.max_epochs = self.max_epochs.unwrap_or(r.max_epochs);
        r.patience = self.patience.unwrap_or(r.patience);
    }
}

/// Arguments of `value evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// A model written by `glassbox value train`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The transaction log.
    #[arg(value_name = "TRANSACTIONS.csv")]
    pub log: PathBuf,
    /// The cutoff: features before it, the target in the model's horizon after it.
    #[arg(long, value_name = "DATE")]
    pub cutoff: String,
    /// The calibration start (default: the first customer line).
    #[arg(long, value_name = "DATE")]
    pub start: Option<String>,
    /// Output folder (metrics.json).
    #[arg(long, value_name = "DIR", default_value = "runs/value-eval")]
    pub out: PathBuf,
}

/// Arguments of `value predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A model written by `glassbox value train`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The transaction log.
    #[arg(value_name = "TRANSACTIONS.csv")]
    pub log: PathBuf,
    /// Predict the spend in the model's horizon after this date, from the lines before it.
    #[arg(long, value_name = "DATE")]
    pub at: String,
    /// Central probability of the [lower, upper] interval.
    #[arg(long, default_value_t = 0.8)]
    pub interval: f64,
    /// Output CSV (customer, probability, expected_value, lower, upper).
    #[arg(long, value_name = "FILE", default_value = "predictions.csv")]
    pub out: PathBuf,
}

/// Runs `glassbox value …`.
pub fn run(args: ValueArgs, global: &Global) -> Result<(), CliError> {
    match args.command {
        ValueCommand::Train(a) => train(a, global),
        ValueCommand::Evaluate(a) => evaluate(a),
        ValueCommand::Predict(a) => predict(a),
    }
}

fn start_of(start: &Option<String>) -> Result<Option<i64>, CliError> {
    start
        .as_deref()
        .map(|s| parse_date(s, "start"))
        .transpose()
        .usage_err()
}

fn data(e: ValueError) -> CliError {
    match e {
        ValueError::BadDate { .. } | ValueError::BadDuration { .. } => CliError::usage(e),
        other => CliError::data(other),
    }
}

fn all_rows(table: &CustomerTable) -> Vec<usize> {
    (0..table.ids.len()).collect()
}

fn metrics(
    table: &CustomerTable,
    rows: &[usize],
    model: &ValueModel,
) -> Result<ValueMetrics, CliError> {
    let actual: Vec<f64> = rows.iter().map(|&i| table.target[i]).collect();
    let predicted: Vec<f64> = model
        .predict(table, rows)
        .iter()
        .map(|p| p.expected)
        .collect();
    ValueMetrics::compute(&actual, &predicted)
        .map_err(|e| anyhow::anyhow!("value metrics: {e}"))
        .data_err()
}

fn train(args: TrainArgs, global: &Global) -> Result<(), CliError> {
    let columns = args.roles.columns()?;
    let clock = Clock {
        cutoff_ms: parse_date(&args.cutoff, "cutoff").map_err(data)?,
        horizon_ms: parse_horizon(&args.horizon, "horizon").map_err(data)?,
        start_ms: start_of(&args.start)?,
    };
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        let table = featurize(&args.log, &columns, &clock, true).map_err(data)?;
        // The portable split (C24): fit on its fit part, stop early on its val part; its test
        // part (20 %) is left untouched, for `glassbox value evaluate` or the case study.
        let parts = headline_split(&table.ids, &table.numeric_ids, &table.target);
        let rows =
            |p: Part| -> Vec<usize> { (0..parts.len()).filter(|&i| parts[i] == p).collect() };
        let (fit, val) = (rows(Part::Fit), rows(Part::Val));
        // Each loss starts from its own recipe (the log1p losses keep L2 1e-3), then the flags.
        let mut recipe = match args.loss {
            LossArg::Ziln => ValueRecipe::ziln(args.seed),
            LossArg::MseLog1p => ValueRecipe::mse_log1p(args.seed),
            LossArg::HuberLog1p => ValueRecipe {
                loss: LossKind::HuberLog1p,
                ..ValueRecipe::mse_log1p(args.seed)
            },
        };
        args.tuning.apply(&mut recipe);
        let model = fit_value_model(
            &table,
            &columns,
            clock.horizon_ms,
            &fit,
            &val,
            &recipe,
            global.threads,
        )
        .data_err()?;
        let val_metrics = metrics(&table, &val, &model)?;
        let path = run.prepare("model.safetensors").usage_err()?;
        model.save(&path).usage_err()?;
        run.record(path);
        run.write_json(
            "metrics.json",
            &json!({
                "validation": val_metrics,
                "counts": table.stats,
                "epochs": model.trainer.epochs_done(),
                "loss": recipe.loss.to_string(),
                "recipe": recipe,
            }),
        )
        .usage_err()?;
        if !global.quiet {
            println!(
                "{} customers ({} buying in the horizon); fit {} / val {}; {} epochs; \
                 val Gini {:.4}, decile MAPE {:.3} → {}",
                table.stats.customers,
                table.stats.customers_buying_in_holdout,
                fit.len(),
                val.len(),
                model.trainer.epochs_done(),
                val_metrics.normalized_gini,
                val_metrics.decile_mape,
                run.path().display()
            );
        }
        Ok(())
    })
}

fn evaluate(args: EvaluateArgs) -> Result<(), CliError> {
    let model = ValueModel::load(&args.model).data_err()?;
    let clock = Clock {
        cutoff_ms: parse_date(&args.cutoff, "cutoff").map_err(data)?,
        horizon_ms: model.info.horizon_ms,
        start_ms: start_of(&args.start)?,
    };
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        let table = featurize(&args.log, &model.info.columns, &clock, true).map_err(data)?;
        let m = metrics(&table, &all_rows(&table), &model)?;
        run.write_json("metrics.json", &json!({"test": m, "counts": table.stats}))
            .usage_err()?;
        println!(
            "{} customers: Gini {:.4}, Spearman {:.4}, top-20 % share {:.3}, decile MAPE {:.3} → {}",
            m.n,
            m.normalized_gini,
            m.spearman,
            m.top20_revenue_share,
            m.decile_mape,
            run.path().join("metrics.json").display()
        );
        Ok(())
    })
}

fn predict(args: PredictArgs) -> Result<(), CliError> {
    if !(args.interval > 0.0 && args.interval < 1.0) {
        return Err(CliError::usage(anyhow::anyhow!(
            "--interval {} must be in (0, 1)",
            args.interval
        )));
    }
    let model = ValueModel::load(&args.model).data_err()?;
    let clock = Clock {
        cutoff_ms: parse_date(&args.at, "at").map_err(data)?,
        horizon_ms: model.info.horizon_ms,
        start_ms: None,
    };
    let table = featurize(&args.log, &model.info.columns, &clock, false).map_err(data)?;
    let head = model.head();
    let predictions = model.predict(&table, &all_rows(&table));
    let (lo, hi) = ((1.0 - args.interval) / 2.0, (1.0 + args.interval) / 2.0);
    write_atomic_with(&args.out, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record([
            "customer",
            "probability",
            "expected_value",
            "lower",
            "upper",
        ])?;
        for (id, p) in table.ids.iter().zip(&predictions) {
            csv.write_record([
                id.clone(),
                format!("{}", p.probability),
                format!("{}", p.expected),
                format!("{}", head.quantile(p, lo)),
                format!("{}", head.quantile(p, hi)),
            ])?;
        }
        csv.flush()?;
        Ok(())
    })
    .usage_err()?;
    println!(
        "{} customers scored at {} for the next {} days → {}",
        predictions.len(),
        format_ms(clock.cutoff_ms),
        model.info.horizon_ms / 86_400_000,
        args.out.display()
    );
    Ok(())
}
