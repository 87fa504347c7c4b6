//! `glassbox recommend train | evaluate | predict`: an interactions file (who bought or
//! used what, and when) to the default recommender, its metrics on a later period under the
//! protocol of notes/recommend.md §1, and each user's top-K list. The model is
//! glassbox-recommend's; the pipeline is [`crate::pipeline::recommend`].

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use glassbox_recommend::mf::MfConfig;
use glassbox_recommend::read::{Columns, parse_time};
use glassbox_recommend::{Mode, Ranked};
use serde_json::json;

use super::Global;
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::output::write_csv;
use crate::pipeline::recommend::{
    RecommendModel, evaluate_mode, load, read_log, save, test_json, test_split, train,
};

const AFTER_HELP: &str = "\
Examples (the bundled Online Retail interactions; test period from 2011-10-01):
  glassbox recommend train datasets/online_retail_interactions.csv.gz --user customer_id \\
      --item stock_code --time invoice_date --basket invoice_no --cutoff 2011-10-01 --out runs/rec
  glassbox recommend evaluate runs/rec/model.safetensors datasets/online_retail_interactions.csv.gz \\
      --out runs/rec-eval
  glassbox recommend predict runs/rec/model.safetensors --k 20 --out recommendations.csv
Training uses the events before --cutoff (all of them without it); the settings of each mode
are chosen on its last --validation-days. `evaluate` scores the events at or after the model's
cutoff in both modes (new: the user's own items removed; all: repeats count). Files may be
comma, tab or semicolon separated, plain or gzip. Errors name the file, line and column.";

/// Arguments of `recommend`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct RecommendArgs {
    #[command(subcommand)]
    pub command: RecommendCommand,
}

/// The `recommend` subcommands.
#[derive(Debug, Subcommand)]
pub enum RecommendCommand {
    /// Train the default recommender on the interactions before --cutoff (model.safetensors,
    /// metrics.json with the validation scores).
    Train(TrainArgs),
    /// Metrics of a model on the interactions at or after its cutoff (metrics.json with a
    /// top-level `test` object).
    Evaluate(EvaluateArgs),
    /// Each user's top-K list (CSV: user, rank, item, score).
    Predict(PredictArgs),
}

/// Arguments of `recommend train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The interactions (CSV or CSV.gz with a header).
    #[arg(value_name = "INTERACTIONS.csv")]
    pub log: PathBuf,
    /// The user-id column.
    #[arg(long, value_name = "COL")]
    pub user: String,
    /// The item-id column.
    #[arg(long, value_name = "COL")]
    pub item: String,
    /// The time column (ISO-8601 or Unix seconds); without it there is no validation split
    /// and the default settings are used.
    #[arg(long, value_name = "COL")]
    pub time: Option<String>,
    /// The basket (order) column: lines of one basket naming one item count once (default:
    /// the time stands for the basket).
    #[arg(long, value_name = "COL")]
    pub basket: Option<String>,
    /// Train on the events before this date (YYYY-MM-DD, ISO-8601 or Unix seconds).
    #[arg(long, value_name = "DATE")]
    pub cutoff: Option<String>,
    /// Days before the cutoff whose events are the validation truth of the settings search.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub validation_days: i64,
    /// Most epochs of the MF part (the validation split picks the number, every 5).
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub epochs: usize,
    /// Seed of MF's initialisation and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (model.safetensors, metrics.json).
    #[arg(long, value_name = "DIR", default_value = "runs/recommend")]
    pub out: PathBuf,
}

/// Arguments of `recommend evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// A model written by `glassbox recommend train`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The interactions to score (its events before the model's cutoff are not used).
    #[arg(value_name = "TEST.csv")]
    pub test: PathBuf,
    /// Output folder (metrics.json).
    #[arg(long, value_name = "DIR", default_value = "runs/recommend-eval")]
    pub out: PathBuf,
}

/// Which items a list may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Only items the user has not bought yet (the primary mode).
    New,
    /// Every item, the user's own included.
    All,
}

/// Arguments of `recommend predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A model written by `glassbox recommend train`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The users to list, one id per line (a first line equal to the model's user column is
    /// a header); default: every training user. Users without training history get the
    /// recent-popularity list.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Length of each list.
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    #[arg(long, value_enum, default_value = "new")]
    pub mode: ModeArg,
    /// Output CSV (user, rank, item, score).
    #[arg(long, value_name = "FILE", default_value = "recommendations.csv")]
    pub out: PathBuf,
}

/// Runs `glassbox recommend …`.
pub fn run(args: RecommendArgs, global: &Global) -> Result<(), CliError> {
    match args.command {
        RecommendCommand::Train(a) => run_train(a, global),
        RecommendCommand::Evaluate(a) => run_evaluate(a),
        RecommendCommand::Predict(a) => run_predict(a),
    }
}

fn run_train(args: TrainArgs, global: &Global) -> Result<(), CliError> {
    let cutoff = args
        .cutoff
        .as_deref()
        .map(|c| {
            parse_time(c).ok_or_else(|| {
                CliError::usage(anyhow::anyhow!(
                    "--cutoff \"{c}\" is not a date (YYYY-MM-DD, ISO-8601 or Unix seconds)"
                ))
            })
        })
        .transpose()?;
    if args.validation_days < 1 || args.epochs < 1 {
        return Err(CliError::usage(anyhow::anyhow!(
            "--validation-days and --epochs must be at least 1"
        )));
    }
    let columns = Columns {
        user: args.user.clone(),
        item: args.item.clone(),
        time: args.time.clone(),
        basket: args.basket.clone(),
    };
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        let log = read_log(&args.log, &columns)?;
        let quiet = global.quiet;
        let m = train(
            &args.log,
            &columns,
            &log,
            cutoff,
            args.validation_days,
            MfConfig {
                epochs: args.epochs,
                seed: args.seed,
                ..MfConfig::default()
            },
            &mut |line| {
                if !quiet {
                    eprintln!("  {line}");
                }
            },
        )?;
        let path = run.prepare("model.safetensors").usage_err()?;
        save(&m, &path)?;
        run.record(path);
        run.write_json(
            "metrics.json",
            &json!({
                "validation": m.info.modes,
                "training": m.info.training,
                "validation_split": m.info.validation,
            }),
        )
        .usage_err()?;
        if !global.quiet {
            let c = &m.model.split.counts;
            println!(
                "{} users × {} items, {} training pairs ({} events after the cutoff not used) → {}",
                c.training_users,
                c.candidate_items,
                c.training_pairs,
                c.ignored_events,
                run.path().display()
            );
        }
        Ok(())
    })
}

fn run_evaluate(args: EvaluateArgs) -> Result<(), CliError> {
    let model = load(&args.model)?;
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        let test = read_log(&args.test, &model.info.columns)?;
        let (split, before) = test_split(&model, &test);
        let new = evaluate_mode(&model, &split, Mode::New);
        let all = evaluate_mode(&model, &split, Mode::All);
        let c = &split.counts;
        run.write_json(
            "metrics.json",
            &json!({
                "test": test_json(&new, &all),
                "counts": {
                    "test_events": c.test_events,
                    "events_before_the_cutoff_not_used": before,
                    "warm_test_users": c.warm_test_users,
                    "cold_test_users_excluded": c.cold_test_users,
                    "test_pairs": c.test_pairs,
                    "test_repeat_pairs": c.test_repeat_pairs,
                    "test_pairs_with_items_unseen_in_training": c.test_unknown_item_pairs,
                },
                "model": args.model.display().to_string(),
            }),
        )
        .usage_err()?;
        println!(
            "new: {} users, Recall@20 {:.4}, NDCG@20 {:.4}, HR@10 {:.4} | all: {} users, Recall@20 {:.4}, NDCG@20 {:.4}, HR@10 {:.4} | {} cold users excluded, {} test pairs of unseen items → {}",
            new.users,
            new.recall_at_20,
            new.ndcg_at_20,
            new.hit_rate_at_10,
            all.users,
            all.recall_at_20,
            all.ndcg_at_20,
            all.hit_rate_at_10,
            c.cold_test_users,
            c.test_unknown_item_pairs,
            run.path().join("metrics.json").display()
        );
        Ok(())
    })
}

/// The users of `--users FILE`: one id per line, blank lines skipped, a first line equal to
/// the model's user column skipped as a header.
fn read_users(path: &Path, header: &str) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{}: cannot read: {e}", path.display())))?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() || (n == 0 && id == header) {
            continue;
        }
        users.push(id.to_string());
    }
    if users.is_empty() {
        return Err(CliError::data(anyhow::anyhow!(
            "{}: no user ids (one per line)",
            path.display()
        )));
    }
    Ok(users)
}

fn run_predict(args: PredictArgs) -> Result<(), CliError> {
    if args.k == 0 {
        return Err(CliError::usage(anyhow::anyhow!("--k must be at least 1")));
    }
    let m: RecommendModel = load(&args.model)?;
    let mode = match args.mode {
        ModeArg::New => Mode::New,
        ModeArg::All => Mode::All,
    };
    let split = &m.model.split;
    let names = match &args.users {
        Some(p) => read_users(p, &m.info.columns.user)?,
        None => split.users.clone(),
    };
    let ids: Vec<Option<u32>> = names
        .iter()
        .map(|u| split.users.binary_search(u).ok().map(|i| i as u32))
        .collect();
    let known: Vec<u32> = ids.iter().flatten().copied().collect();
    let mut lists = m.model.lists(split, mode, &known, args.k).into_iter();
    let cold = m.model.cold_list(mode, args.k);
    let mut rows = Vec::new();
    let mut n_cold = 0;
    for (name, id) in names.iter().zip(&ids) {
        let list: Vec<Ranked> = match id {
            Some(_) => lists.next().unwrap_or_default(),
            None => {
                n_cold += 1;
                cold.clone()
            }
        };
        for (r, e) in list.iter().enumerate() {
            rows.push([
                name.clone(),
                (r + 1).to_string(),
                split.items[e.item as usize].clone(),
                format!("{}", e.score),
            ]);
        }
    }
    write_csv(&args.out, &["user", "rank", "item", "score"], rows).usage_err()?;
    println!(
        "{} users ({} with training history, {} without: recent-popularity list), top {} in {} mode → {}",
        names.len(),
        names.len() - n_cold,
        n_cold,
        args.k,
        mode.name(),
        args.out.display()
    );
    Ok(())
}
