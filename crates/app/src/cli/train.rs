//! `glassbox train DATA.csv --target COL [flags] [--out DIR]`.

use std::path::PathBuf;

use clap::Args;
use glassbox_train::privacy::{Accountant, ClipSplit, DpMethod, PrivacyError};
use serde_json::json;

use super::Global;
use super::common::{CostArgs, DataArgs, RecipeArgs, TargetArgs};
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::pipeline::cost::{decide_by_cost, miss_costs};
use crate::pipeline::{DataOptions, prepare_training_from, thread_count, train_bundle};
use crate::progress::Progress;
use crate::recipe::PrivacyRecipe;
use crate::render::metrics::metrics_table;
use crate::render::privacy::describe_privacy;
use crate::report::{record_all, write_eval_plots, write_history, write_history_plots};

const AFTER_HELP: &str = "\
Examples:
  # the bundled data, the default recipe
  glassbox train datasets/online_shoppers_train.csv --target Revenue \\
      --schema datasets/online_shoppers.schema.toml --out runs/shoppers
  # the paper's Keras recipe, another seed
  glassbox train datasets/online_shoppers_train.csv --target Revenue \\
      --schema datasets/online_shoppers.schema.toml --recipe paper --seed 3
  # differentially private: (ε, δ) = (3, 1e-5), each example's gradient clipped to C = 1
  glassbox train datasets/online_shoppers_train.csv --target Revenue \\
      --schema datasets/online_shoppers.schema.toml --dp-epsilon 3 --dp-delta 1e-5 --dp-clip 1.0
  # fraud: an alert costs $5, a missed fraud its purchase value; the threshold of least cost
  glassbox train datasets/fraud_purchases_train.csv --target class --positive 1 \\
      --schema datasets/fraud_purchases.schema.toml --cost-fp 5 --cost-fn-column purchase_value
  # any CSV with a two-valued target: declare codes as categories, sentinels as missing
  glassbox train churn.csv --target churned --positive yes --categorical region \\
      --missing tenure=-1 --log1p monthly_spend --drop customer_id --epochs 50

What happens: the file is read (delimiter detected, column kinds inferred, then the schema
file and flags applied); a stratified validation part (--val-fraction) is held out; the
preprocessor (imputation, log1p, standardisation, one-hot) is fitted on the rest only; K
networks are trained (--ensemble), each keeping its best validation epoch under early
stopping; the decision threshold is chosen on the validation rows (--threshold), or, with
a cost matrix (--cost-fp and --cost-fn or --cost-fn-column), as the threshold of least
expected cost on them: alert when p · m ≥ τ (notes/metrics.md §7), stored with the costs.

Writes to --out:
  model.safetensors    the model bundle: weights of every member, the fitted preprocessor
                       and schema, target and positive label, threshold, recipe, metrics
  training.json        recipe, threshold, validation metrics, privacy (ε, δ, σ, C, q, T), data summary
  history.csv          per member and epoch: losses, validation ROC-AUC and accuracy, lr
  plots/               loss curves; validation ROC, PR, calibration, confusion (SVG + PNG)";

/// Arguments of `train`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct TrainArgs {
    /// The training CSV (comma, semicolon or tab separated; a header row).
    #[arg(value_name = "DATA.csv")]
    pub data: PathBuf,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Output folder.
    #[arg(long, short, value_name = "DIR", default_value = "runs/train")]
    pub out: PathBuf,

    #[command(flatten)]
    pub data_args: DataArgs,

    #[command(flatten)]
    pub recipe: RecipeArgs,

    #[command(flatten)]
    pub privacy: PrivacyArgs,

    #[command(flatten)]
    pub cost: CostArgs,

    /// Train data-parallel over the processes of `mpirun -np N` (a build with the `mpi`
    /// feature): each rank reads its part of the file, computes its shards' gradients;
    /// rank 0 alone writes (notes/distributed.md).
    #[arg(long)]
    pub distributed: bool,

    /// How a distributed run sums the shards' gradients: `exact` (in shard order: the bits
    /// of one process) or `fast` (one MPI_Allreduce, its order not fixed).
    #[arg(
        long,
        value_name = "exact|fast",
        default_value = "exact",
        requires = "distributed"
    )]
    pub reduce: ReduceArg,
}

/// `--reduce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReduceArg {
    /// In shard order, bit-identical to one process.
    Exact,
    /// One MPI_Allreduce.
    Fast,
}

/// Differentially private training (DP-SGD, notes/privacy.md): Poisson-sampled batches,
/// each example's gradient clipped, Gaussian noise added.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Differential privacy (DP-SGD)")]
pub struct PrivacyArgs {
    /// Train with (ε, δ)-differential privacy for this ε: the noise multiplier σ is
    /// calibrated over every step of every ensemble member (RDP accountant).
    #[arg(long, value_name = "EPSILON", conflicts_with = "dp_noise")]
    pub dp_epsilon: Option<f64>,

    /// Train privately with this noise multiplier σ and report the ε it spends.
    #[arg(long, value_name = "SIGMA")]
    pub dp_noise: Option<f64>,

    /// The accountant that calibrates σ and certifies ε [default: rdp]: `rdp` (Rényi DP,
    /// Opacus's; notes/privacy.md) or `pld` (the certified privacy loss distribution at mesh
    /// 1e-4, a smaller σ for the same ε; notes/privacy_pld.md). See `glassbox privacy --help`.
    #[arg(long, value_enum, value_name = "ACCOUNTANT")]
    pub dp_accountant: Option<DpAccountant>,

    /// δ of the guarantee; must be below 1/N for N training rows.
    #[arg(long, value_name = "DELTA", default_value_t = 1e-5)]
    pub dp_delta: f64,

    /// The per-example clipping norm C.
    #[arg(long, value_name = "C", default_value_t = 1.0)]
    pub dp_clip: f64,

    /// Keep as the model the exponential moving average of the iterates with this decay β
    /// (e.g. 0.99; notes/privacy.md P28) instead of the last iterate: post-processing, no
    /// privacy spent.
    #[arg(long, value_name = "BETA")]
    pub dp_average: Option<f64>,

    /// Warm the averaging's decay up as min(β, (1 + t)/(10 + t)) at step t (De et al. 2022;
    /// notes/privacy.md P29) instead of a fixed β.
    #[arg(long, requires = "dp_average")]
    pub dp_average_warmup: bool,

    /// Automatic clipping: scale each example's gradient by C/(‖g‖ + γ) with this γ (e.g.
    /// 0.01; Bu et al. 2023; notes/privacy.md P30) instead of min(1, C/‖g‖).
    #[arg(long, value_name = "GAMMA")]
    pub dp_clip_automatic: Option<f64>,

    /// Per-layer clipping (McMahan et al. 2018; notes/privacy.md P32–P33): clip each layer's
    /// part of an example's gradient to C_l, with Σ C_l² = C² split equally (`equal`) or in
    /// proportion to the layers' parameters (`params`), instead of one norm per example.
    #[arg(long, value_enum, value_name = "SPLIT")]
    pub dp_clip_per_layer: Option<DpClipSplit>,

    /// DP-AdamBC (Tang, Shpilevskiy & Lécuyer 2024; notes/privacy.md P31): take the noise's
    /// variance (σC/B)² off Adam's second moment, floored at this γ (e.g. 1e-8). Adam only.
    #[arg(long, value_name = "GAMMA")]
    pub dp_adam_bias_correction: Option<f64>,

    /// How private batches are drawn. Only `poisson` (each row joins each batch
    /// independently with probability q) is what the accountant certifies; `shuffle`
    /// (fixed-size batches cut from a shuffle) is refused.
    #[arg(long, value_enum, value_name = "HOW", default_value = "poisson")]
    pub dp_sampling: DpSampling,
}

/// Values of `--dp-clip-per-layer` (P33).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DpClipSplit {
    /// C_l = C/√L for each of the L layers.
    Equal,
    /// C_l = C·√(P_l/P), P_l the layer's parameters.
    Params,
}

/// Values of `--dp-accountant` (and of `privacy --accountant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DpAccountant {
    /// Rényi DP of the subsampled Gaussian (Opacus's accountant; notes/privacy.md P3–P10).
    Rdp,
    /// The pessimistic privacy loss distribution (notes/privacy_pld.md P34–P40).
    Pld,
}

impl From<DpAccountant> for Accountant {
    fn from(choice: DpAccountant) -> Self {
        match choice {
            DpAccountant::Rdp => Accountant::Rdp,
            DpAccountant::Pld => Accountant::PLD,
        }
    }
}

/// Values of `--dp-sampling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DpSampling {
    /// Poisson sampling (notes/privacy.md §7, P13): what DP training does.
    Poisson,
    /// Fixed-size batches from a shuffle: another mechanism, refused.
    Shuffle,
}

impl PrivacyArgs {
    /// The recipe's privacy field: `None` unless --dp-epsilon or --dp-noise is given.
    ///
    /// # Errors
    /// `--dp-sampling shuffle` with private training: the accountant assumes Poisson
    /// sampling (notes/privacy.md §13).
    pub fn recipe(&self) -> Result<Option<PrivacyRecipe>, PrivacyError> {
        if !(self.dp_epsilon.is_some() || self.dp_noise.is_some()) {
            if let Some(choice) = self.dp_accountant {
                return Err(PrivacyError::AccountantWithoutPrivacy(
                    Accountant::from(choice).name(),
                ));
            }
            return Ok(None);
        }
        if self.dp_sampling == DpSampling::Shuffle {
            return Err(PrivacyError::NotPoissonSampling(
                "fixed-size batches from a shuffle (--dp-sampling shuffle; use poisson, the default)",
            ));
        }
        Ok(Some(PrivacyRecipe {
            target_epsilon: self.dp_epsilon,
            noise_multiplier: self.dp_noise,
            delta: self.dp_delta,
            clip_norm: self.dp_clip,
            method: DpMethod {
                average_decay: self.dp_average,
                average_warmup: self.dp_average_warmup,
                automatic_clip: self.dp_clip_automatic,
                adam_bias_correction: self.dp_adam_bias_correction,
                clip_per_layer: self.dp_clip_per_layer.map(|split| match split {
                    DpClipSplit::Equal => ClipSplit::Equal,
                    DpClipSplit::Params => ClipSplit::Params,
                }),
            },
            accounting: self.dp_accountant.map_or(Accountant::Rdp, Accountant::from),
        }))
    }
}

/// Runs `train`.
pub fn run(args: TrainArgs, global: &Global) -> Result<(), CliError> {
    let result = run_on_this_rank(&args, global);
    #[cfg(feature = "mpi")]
    if args.distributed {
        return crate::mpi::finish(result);
    }
    result
}

/// `train` on this process: all of it, or one rank's share of a distributed run.
fn run_on_this_rank(args: &TrainArgs, global: &Global) -> Result<(), CliError> {
    let progress = Progress::new(global.quiet);
    let mut recipe = args.recipe.recipe()?;
    let costs = args.cost.spec()?;
    if costs.is_some() && recipe.val_fraction <= 0.0 {
        return Err(CliError::usage(anyhow::anyhow!(
            "--cost-fp chooses the threshold on the validation rows: --val-fraction must be above 0"
        )));
    }
    let privacy = args
        .privacy
        .recipe()
        .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    if let Some(p) = privacy {
        recipe.privacy = Some(p);
        recipe.overrides.push(format!(
            "privacy = {}, δ {}, C {}, accountant {}",
            p.target_epsilon.map_or_else(
                || format!("σ {}", p.noise_multiplier.unwrap_or(0.0)),
                |e| format!("ε {e}")
            ),
            p.delta,
            p.clip_norm,
            p.accounting.name()
        ));
        recipe
            .validate()
            .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    }
    if args.distributed && args.reduce == ReduceArg::Exact && !recipe.input_layers.is_empty() {
        // T12 splits Dense layers by units; the input layers of tables are not cut that way.
        return Err(CliError::usage(anyhow::anyhow!(
            "--reduce exact splits the Dense layers by units and does not cover --embedding or --feature-scale: use --reduce fast with them"
        )));
    }
    if args.distributed && args.reduce == ReduceArg::Exact && recipe.ensemble_k > 1 {
        // T12 splits Dense layers by units; a BatchEnsemble layer is not cut that way.
        return Err(CliError::usage(anyhow::anyhow!(
            "--reduce exact splits the Dense layers by units and does not cover --ensemble-k: use --reduce fast with it"
        )));
    }
    if args.distributed && args.reduce == ReduceArg::Exact && recipe.wide {
        // T12 splits Dense layers by units; the wide term's W is not cut that way.
        return Err(CliError::usage(anyhow::anyhow!(
            "--reduce exact splits the Dense layers by units and does not cover --wide: use --reduce fast with it"
        )));
    }
    let (content, rank) = join_distributed(args)?;
    let prepare = |content| {
        prepare_training_from(
            &args.data,
            content,
            &DataOptions {
                features: recipe.features,
                ..args.data_args.options(recipe.log1p)
            },
            &args.target.spec(),
            recipe.val_fraction,
            recipe.seed,
        )
    };
    if rank != 0 {
        // Rank 0 alone writes; the others train their shards and stop.
        let set = prepare(content)?;
        let threads = thread_count(global.threads);
        train_bundle(&set, &recipe, &recipe.base.clone(), threads, &progress)?;
        return Ok(());
    }
    let mut out = OutDir::open(&args.out)?;
    out.guard(|run| {
        let set = prepare(content)?;
        for w in &set.schema.warnings {
            progress.note(w);
        }
        // The cost column is read (and every cell checked) before any training.
        let val_miss = match &costs {
            Some(c) => {
                let all = miss_costs(&args.data, &c.miss, set.summary.rows)?;
                Some(set.val_rows.iter().map(|&i| all[i]).collect::<Vec<f64>>())
            }
            None => None,
        };
        if !recipe.log1p && (!args.data_args.log1p.is_empty() || args.data_args.schema.is_some()) {
            progress.note(&format!(
                "recipe {} ignores log1p settings (features are standardised raw values); add --use-log1p true to apply them",
                recipe.base
            ));
        }
        let label = recipe.base.clone();
        let mut trained = train_bundle(
            &set,
            &recipe,
            &label,
            thread_count(global.threads),
            &progress,
        )?;
        if let (Some(c), Some(m)) = (&costs, &val_miss) {
            decide_by_cost(&mut trained, c, m)?;
        }
        let model_path = run.prepare("model.safetensors").usage_err()?;
        trained.bundle.save(&model_path).usage_err()?;
        run.record(model_path.clone());
        write_history(run, &trained.history).usage_err()?;
        let curves =
            write_history_plots(run, "train", &recipe.label(), &trained.history).usage_err()?;
        record_all(run, &curves.files);
        if let Some(v) = &trained.validation {
            let title = format!("{} on validation", recipe.label());
            let plots = write_eval_plots(run, "validation", &title, v).usage_err()?;
            record_all(run, &plots.files);
        }
        run.write_json(
            "training.json",
            &json!({
                "data": args.data.display().to_string(),
                "recipe": recipe,
                "threshold": trained.bundle.info.threshold,
                "members": trained.bundle.info.members,
                "validation": trained.validation,
                "privacy": trained.bundle.info.privacy,
                "data_summary": set.summary,
            }),
        )
        .usage_err()?;
        println!(
            "trained {} on {} ({} rows for training, {} for validation, {} features)",
            recipe.label(),
            args.data.display(),
            set.train_rows.len(),
            set.val_rows.len(),
            set.preprocessor.n_features()
        );
        let t = &trained.bundle.info.threshold;
        println!("decision threshold {:.4} ({})", t.value, t.rule);
        if let Some(d) = &t.cost {
            println!(
                "cost decision: alert when p · m ≥ {:.4} ({}); validation cost {:.2} (approve all {:.2}, savings {:.1} %)",
                d.risk_threshold,
                d.costs,
                d.validation.cost,
                d.validation.cost_approve_all,
                100.0 * d.validation.savings
            );
        }
        if let Some(p) = &trained.bundle.info.privacy {
            println!("\ndifferential privacy (DP-SGD):");
            print!("{}", describe_privacy(p));
        }
        if let Some(v) = &trained.validation {
            println!("\nvalidation metrics:");
            print!("{}", metrics_table(&[("validation", v)]));
        }
        if !global.quiet {
            println!();
            print!("{}", run.listing());
        }
        Ok(())
    })
}

/// For `--distributed`: joins the MPI run and gathers the data file, each rank reading its
/// part; returns the file's bytes and this rank. `(None, 0)` for a one-process run.
#[cfg(feature = "mpi")]
fn join_distributed(args: &TrainArgs) -> Result<(Option<Vec<u8>>, usize), CliError> {
    use std::sync::Arc;

    use glassbox_train::distributed::{Collective, Distributed, Reduce};

    if !args.distributed {
        return Ok((None, 0));
    }
    let world = crate::mpi::World::init().map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let rank = world.rank();
    let bytes = match crate::mpi::read_file_parts(&world, &args.data) {
        Ok(bytes) => bytes,
        Err(why) => {
            // Dropping the world would finalise MPI before `crate::mpi::finish` meets the
            // other ranks at its barrier.
            std::mem::forget(world);
            return Err(CliError::usage(anyhow::anyhow!(
                "distributed run stopped on rank {rank}: {}: {why}",
                args.data.display()
            )));
        }
    };
    let reduce = match args.reduce {
        ReduceArg::Exact => Reduce::Exact,
        ReduceArg::Fast => Reduce::Fast,
    };
    // MPI stays initialised for the life of the process (finalised at exit by mpirun's
    // teardown): the trainer holds the communicator.
    let collective: Arc<dyn Collective> = Arc::new(world);
    crate::pipeline::set_distributed(Distributed { collective, reduce });
    Ok((Some(bytes), rank))
}

/// Without the `mpi` feature `--distributed` is a usage error.
#[cfg(not(feature = "mpi"))]
fn join_distributed(args: &TrainArgs) -> Result<(Option<Vec<u8>>, usize), CliError> {
    if args.distributed {
        return Err(CliError::usage(anyhow::anyhow!(
            "--distributed needs a build with the mpi feature: cargo build --release --features mpi (notes/distributed.md)"
        )));
    }
    Ok((None, 0))
}
