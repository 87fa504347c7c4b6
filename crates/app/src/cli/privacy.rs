//! `glassbox privacy --noise σ | --epsilon ε --rate q --steps T --delta δ`: the RDP accountant
//! of DP-SGD on the command line (notes/privacy.md §3–§6).

use clap::Args;
use glassbox_train::privacy::dp_sgd::ACCOUNTANT;
use glassbox_train::privacy::validate::check_delta_for_rows;
use glassbox_train::privacy::{calibrate_noise_multiplier, epsilon};
use serde_json::json;

use super::Global;
use crate::exit::{CliError, ResultExt};

const AFTER_HELP: &str = "\
Examples:
  # ε spent by 390 steps at σ = 0.72174072, q = 1/39 (B = 256 on 9,864 rows, 10 epochs)
  glassbox privacy --noise 0.72174072 --rate 0.02564102564102564 --steps 390 --delta 1e-5
  # the inverse: the σ that spends at most ε = 3 (Opacus's search, tolerance 0.01)
  glassbox privacy --epsilon 3 --rate 0.05 --steps 600 --delta 1e-5 --json

The accountant is the Rényi DP of the Poisson-subsampled Gaussian mechanism over Opacus's 151
orders, converted to (ε, δ) by Balle et al. (2020); it agrees with Opacus 1.6.0's RDP
accountant to 1e-12 (crates/train/tests/privacy_accountant.rs). Give --rows N to have δ
checked against 1/N.";

/// Arguments of `privacy`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct PrivacyArgs {
    /// The noise multiplier σ: print the ε that T steps spend.
    #[arg(long, value_name = "SIGMA", required_unless_present = "epsilon")]
    pub noise: Option<f64>,

    /// A target ε: print the noise multiplier σ that spends at most ε.
    #[arg(long, value_name = "EPSILON", conflicts_with = "noise")]
    pub epsilon: Option<f64>,

    /// The Poisson sampling rate q (each row joins each batch with probability q).
    #[arg(long, value_name = "Q")]
    pub rate: f64,

    /// The number of steps T.
    #[arg(long, value_name = "T")]
    pub steps: u64,

    /// δ of the guarantee.
    #[arg(long, value_name = "DELTA")]
    pub delta: f64,

    /// The training rows N, to check δ < 1/N.
    #[arg(long, value_name = "N")]
    pub rows: Option<usize>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `privacy`.
pub fn run(args: PrivacyArgs, _global: &Global) -> Result<(), CliError> {
    if let Some(rows) = args.rows {
        check_delta_for_rows(args.delta, rows).usage_err()?;
    }
    let (sigma, spent, target) = match (args.noise, args.epsilon) {
        (_, Some(target)) => {
            let cal = calibrate_noise_multiplier(target, args.delta, args.rate, args.steps)
                .usage_err()?;
            (cal.noise_multiplier, cal.spent, Some(target))
        }
        (Some(sigma), None) => {
            let spent = epsilon(sigma, args.rate, args.steps, args.delta).usage_err()?;
            (sigma, spent, None)
        }
        (None, None) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "give --noise σ (to get ε) or --epsilon ε (to get σ)"
            )));
        }
    };
    if args.json {
        let value = json!({
            "noise_multiplier": sigma,
            "epsilon": spent.epsilon,
            "target_epsilon": target,
            "delta": args.delta,
            "sample_rate": args.rate,
            "steps": args.steps,
            "optimal_order": spent.optimal_order,
            "at_order_boundary": spent.at_order_boundary,
            "accountant": ACCOUNTANT,
        });
        println!("{}", serde_json::to_string_pretty(&value).internal_err()?);
        return Ok(());
    }
    match target {
        Some(t) => println!(
            "σ = {sigma} spends ε = {:.6} ≤ {t} at δ = {:e} (q = {}, T = {})",
            spent.epsilon, args.delta, args.rate, args.steps
        ),
        None => println!(
            "ε = {:.6} at δ = {:e} (σ = {sigma}, q = {}, T = {})",
            spent.epsilon, args.delta, args.rate, args.steps
        ),
    }
    println!("optimal Rényi order {}", spent.optimal_order);
    if spent.at_order_boundary {
        println!(
            "note: the best order is at the end of the list; a longer list could certify a smaller ε"
        );
    }
    println!("accountant: {ACCOUNTANT}");
    Ok(())
}
