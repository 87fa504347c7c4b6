//! `glassbox case-study [CASE]`: a case study on the bundled data, end to end, with a report
//! (the studies themselves are [`crate::cases`]).

use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser};

use super::Global;
use crate::cases::{self, CaseOptions};
use crate::exit::CliError;
use crate::pipeline::thread_count;

const AFTER_HELP: &str = "\
Examples:
  glassbox case-study                          # every case: runs/case-study/<case>/ + index.md
  glassbox case-study purchase                 # one case (writes runs/case-study-purchase/)
  glassbox case-study next-hour --out /tmp/nh  # the event-log case, elsewhere
  glassbox case-study --out /tmp/cs --seed 3   # every case, another seed
  glassbox case-study --quick                  # 2 epochs, 2 members: a smoke test

next-hour reads datasets/retailrocket_events.csv from --data-dir and follows the task and split
of datasets/README.md (RetailRocket section): report.md, metrics.json (a top-level `test`
object for the default recipe), bundles, plots, history.csv.

purchase reads datasets/online_shoppers_train.csv (training), datasets/online_shoppers_test.csv
(test) and datasets/online_shoppers.schema.toml from --data-dir (default: ./datasets, else the
source tree's). It trains the paper's Keras recipe and the default recipe on the training
file, evaluates both on the test file, and writes:

  report.md                      the study: test metrics side by side, reference figures,
                                 plots, recipes, data summary, conventions, limitations
  metrics.json                   every metric and curve, test and validation, both recipes
  history.csv                    per recipe, member and epoch: losses, validation ROC-AUC
  paper/model.safetensors        the model bundles (see `glassbox inspect`)
  default/model.safetensors
  plots/*.{svg,png}              loss curves, ROC, PR, calibration, confusion matrices";

/// The registered case studies, for the CASE argument and its help.
fn case_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        cases::CASES
            .iter()
            .map(|c| PossibleValue::new(c.name).help(c.about)),
    )
}

/// Arguments of `case-study`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct CaseStudyArgs {
    /// The case study to run [default: every case, into DIR/<case>/ with DIR/index.md].
    #[arg(value_name = "CASE", value_parser = case_names())]
    pub case: Option<String>,

    /// Output folder [default: runs/case-study for every case, else the case's own].
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Folder holding the case's data files (purchase: online_shoppers_{train,test}.csv and
    /// online_shoppers.schema.toml).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Seed of the case's recipes (split, initialisation, shuffling).
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub seed: u64,

    /// A fast smoke run: 2 epochs, at most 2 ensemble members.
    #[arg(long)]
    pub quick: bool,
}

/// Runs `case-study`: the named case, else every case ([`cases::run_all`]).
pub fn run(args: CaseStudyArgs, global: &Global) -> Result<(), CliError> {
    let Some(name) = args.case.as_deref() else {
        return cases::run_all(&CaseOptions {
            out: args.out.unwrap_or_else(|| PathBuf::from(cases::ALL_OUT)),
            data_dir: args.data_dir,
            seed: args.seed,
            quick: args.quick,
            threads: thread_count(global.threads),
            quiet: global.quiet,
        });
    };
    let case = cases::find(name)
        .ok_or_else(|| CliError::usage(anyhow::anyhow!("no case study named \"{name}\"")))?;
    let options = CaseOptions {
        out: args.out.unwrap_or_else(|| PathBuf::from(case.default_out)),
        data_dir: args.data_dir,
        seed: args.seed,
        quick: args.quick,
        threads: thread_count(global.threads),
        quiet: global.quiet,
    };
    (case.run)(case, &options)
}
