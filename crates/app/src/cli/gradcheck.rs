//! `glassbox gradcheck MODEL DATA.csv`: the f64 central-difference check of every network
//! of a model on rows of a CSV file ([`glassbox_audit::gradcheck`]).

use std::path::PathBuf;

use clap::Args;
use glassbox_audit::gradcheck::{Coverage, GradcheckOptions, gradcheck_csv};

use super::Global;
use super::common::{bundle_loss, emit, load_bundle, read_table};
use crate::exit::CliError;
use crate::render::{Format, render, to_json};

const GRADCHECK_HELP: &str = "\
Examples:
  glassbox gradcheck MODEL datasets/online_shoppers_test.csv
  glassbox gradcheck MODEL data.csv --rows 64 --per-tensor 200 --seed 3 --format json

Each network of the model is cast to f64 and its analytic gradient of the model's own loss on
the first --rows rows (for a BatchEnsemble network, --ensemble-k, the mean of its members'
losses, as trained) is compared with four-point central differences (notes/backprop.md §7):
every parameter and input (or a seeded sample per tensor), per-tensor largest relative error,
tolerance 1e-7. A negative control (the gradient scaled by 1 + 1e-4) must fail. Exit code 1 if
a check fails — that would be a bug in the engine.";

/// Arguments of `gradcheck`.
#[derive(Debug, Args)]
#[command(after_help = GRADCHECK_HELP)]
pub struct GradcheckArgs {
    /// The model file.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// A labelled CSV file; its first --rows rows are used.
    #[arg(value_name = "DATA.csv")]
    pub data: PathBuf,

    /// Rows the loss is evaluated on.
    #[arg(long, short = 'k', default_value_t = 32, value_name = "K")]
    pub rows: usize,

    /// Check N elements per tensor, drawn with --seed [default: all for models up to 20,000
    /// parameters, else 256].
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub per_tensor: Option<usize>,

    /// Check every parameter and input, whatever the model's size.
    #[arg(long)]
    pub all: bool,

    /// Seed of the sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,

    /// Write to this file instead of printing.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs `gradcheck` on every network of the model.
pub fn run(args: GradcheckArgs, _global: &Global) -> Result<(), CliError> {
    let bundle = load_bundle(&args.model)?;
    let table = read_table(&bundle, &args.data)?;
    let loss = bundle_loss(&bundle)?;
    let options = GradcheckOptions {
        coverage: match (args.all, args.per_tensor) {
            (true, _) => Coverage::All,
            (false, Some(per_tensor)) => Coverage::Sample { per_tensor },
            (false, None) => Coverage::Auto,
        },
        seed: args.seed,
        ..GradcheckOptions::default()
    };
    let mut reports = Vec::with_capacity(bundle.members.len());
    for mlp in &bundle.members {
        reports.push(gradcheck_csv(
            mlp,
            &bundle.preprocessor,
            &table,
            args.rows,
            &loss,
            &options,
        )?);
    }
    let text = match args.format {
        Format::Json => to_json(&reports)?,
        f => {
            let mut s = String::new();
            for (k, r) in reports.iter().enumerate() {
                if reports.len() > 1 {
                    s.push_str(&format!("network {k} of {}\n", reports.len()));
                }
                s.push_str(&render(r, f)?);
                s.push('\n');
            }
            s
        }
    };
    emit(&text, args.out.as_deref())?;
    let failed: Vec<usize> = (0..reports.len()).filter(|&k| !reports[k].passed).collect();
    let undetected = reports
        .iter()
        .any(|r| r.negative_control.as_ref().is_some_and(|c| !c.detected));
    if !failed.is_empty() || undetected {
        return Err(CliError::internal(anyhow::anyhow!(
            "gradient check failed for network(s) {failed:?}{}",
            if undetected {
                "; a negative control was not rejected"
            } else {
                ""
            }
        )));
    }
    Ok(())
}
