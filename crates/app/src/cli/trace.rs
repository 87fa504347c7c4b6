//! `glassbox trace [MODEL DATA.csv]`: one training step, every number labelled with its
//! equation ([`glassbox_audit::trace`]).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use glassbox_audit::trace::{default_optimizer, trace_csv, trace_example};
use glassbox_train::OptimizerConfig;

use super::Global;
use super::common::{bundle_loss, emit, load_bundle, read_table, refuse_batch_ensemble};
use crate::exit::CliError;
use crate::render::{Format, render};

const TRACE_HELP: &str = "\
Examples:
  glassbox trace                                   the 2-2-1 example of notes/backprop.md §9
  glassbox trace --optimizer sgd --lr 0.5 --format markdown --out step.md
  glassbox trace MODEL data.csv --rows 2           a saved model on the first 2 rows

Every number carries the equation of notes/ that produced it (B… backprop.md, L… losses.md,
O… optimizers.md); notes/teaching.md walks through the default trace by hand. The numbers
come from the engine's own forward, loss, backward and optimizer code, in f64.";

/// The optimizer of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceOptimizer {
    /// PyTorch's Adam (β = 0.9, 0.999; ε = 1e-8).
    Adam,
    /// Plain SGD.
    Sgd,
    /// The model's own optimizer (from its recipe), fresh state.
    Model,
}

/// Arguments of `trace`.
#[derive(Debug, Args)]
#[command(after_help = TRACE_HELP)]
pub struct TraceArgs {
    /// A model file; without it, the 2-2-1 example is traced.
    #[arg(value_name = "MODEL", requires = "data")]
    pub model: Option<PathBuf>,

    /// A labelled CSV file (with MODEL): the first --rows rows are the batch.
    #[arg(value_name = "DATA.csv")]
    pub data: Option<PathBuf>,

    /// Rows of the batch (with MODEL).
    #[arg(long, short = 'k', default_value_t = 4, value_name = "K")]
    pub rows: usize,

    /// Which network of an ensemble (0-based).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub member: usize,

    /// The optimizer whose update is traced [default: adam for the example, model for MODEL].
    #[arg(long, value_enum)]
    pub optimizer: Option<TraceOptimizer>,

    /// Learning rate [default: the model's with --optimizer model (the default with MODEL),
    /// 0.1 with --optimizer adam or sgd].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,

    /// Write to this file instead of printing.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The optimizer of a trace: `adam` and `sgd` are fresh presets with learning rate 0.1 (with
/// or without a model), `model` is the model's own optimizer with its rate; `--lr` replaces
/// the rate of any of them.
fn trace_optimizer(
    choice: TraceOptimizer,
    lr: Option<f64>,
    model: Option<&OptimizerConfig>,
) -> Result<OptimizerConfig, CliError> {
    let base = match (choice, model) {
        (TraceOptimizer::Adam, _) => default_optimizer(),
        (TraceOptimizer::Sgd, _) => OptimizerConfig::sgd(0.1),
        (TraceOptimizer::Model, Some(c)) => *c,
        (TraceOptimizer::Model, None) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "--optimizer model needs a MODEL (the example has no model optimizer)"
            )));
        }
    };
    Ok(match (lr, base) {
        (None, c) => c,
        (
            Some(lr),
            OptimizerConfig::Sgd {
                momentum,
                weight_decay,
                ..
            },
        ) => OptimizerConfig::Sgd {
            lr,
            momentum,
            weight_decay,
        },
        (
            Some(lr),
            OptimizerConfig::RmsProp {
                rho,
                eps,
                weight_decay,
                ..
            },
        ) => OptimizerConfig::RmsProp {
            lr,
            rho,
            eps,
            weight_decay,
        },
        (
            Some(lr),
            OptimizerConfig::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            },
        ) => OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        },
    })
}

/// Runs `trace`.
pub fn run(args: TraceArgs, _global: &Global) -> Result<(), CliError> {
    let trace = match (&args.model, &args.data) {
        (Some(model), Some(data)) => {
            let bundle = load_bundle(model)?;
            refuse_batch_ensemble(&bundle, "trace")?;
            let mlp = bundle.members.get(args.member).ok_or_else(|| {
                CliError::usage(anyhow::anyhow!(
                    "--member {} but the model has {} network(s)",
                    args.member,
                    bundle.members.len()
                ))
            })?;
            let recipe = &bundle.info.recipe;
            let optimizer = trace_optimizer(
                args.optimizer.unwrap_or(TraceOptimizer::Model),
                args.lr,
                Some(&recipe.optimizer),
            )?;
            let table = read_table(&bundle, data)?;
            let loss = bundle_loss(&bundle)?;
            trace_csv(
                mlp,
                &bundle.preprocessor,
                &table,
                args.rows,
                &loss,
                optimizer,
            )?
        }
        _ => {
            let optimizer = trace_optimizer(
                args.optimizer.unwrap_or(TraceOptimizer::Adam),
                args.lr,
                None,
            )?;
            trace_example(optimizer)?
        }
    };
    emit(&render(&trace, args.format)?, args.out.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_is_the_one_the_help_promises() {
        let model = OptimizerConfig::adam_keras(0.001);
        let lr = |choice, arg, model| trace_optimizer(choice, arg, model).unwrap().lr();
        // With a model: its own rate for `model`, 0.1 for the presets.
        assert_eq!(lr(TraceOptimizer::Model, None, Some(&model)), 0.001);
        assert_eq!(lr(TraceOptimizer::Adam, None, Some(&model)), 0.1);
        assert_eq!(lr(TraceOptimizer::Sgd, None, Some(&model)), 0.1);
        // The example: 0.1; `--lr` wins everywhere.
        assert_eq!(lr(TraceOptimizer::Adam, None, None), 0.1);
        assert_eq!(lr(TraceOptimizer::Sgd, Some(0.5), None), 0.5);
        assert_eq!(lr(TraceOptimizer::Model, Some(0.2), Some(&model)), 0.2);
        assert!(trace_optimizer(TraceOptimizer::Model, None, None).is_err());
    }
}
