//! `glassbox privacy [--accountant rdp|pld] --noise σ | --epsilon ε --rate q --steps T
//! --delta δ`: the accountants of DP-SGD on the command line (notes/privacy.md §3–§6,
//! notes/privacy_pld.md).

use clap::Args;
use glassbox_train::privacy::calibration::calibrate_with;
use glassbox_train::privacy::validate::check_delta_for_rows;
use glassbox_train::privacy::{Accountant, Certified};
use serde_json::json;

use super::Global;
use super::train::DpAccountant;
use crate::exit::{CliError, ResultExt};

const AFTER_HELP: &str = "\
Examples:
  # ε spent by 390 steps at σ = 0.72174072, q = 1/39 (B = 256 on 9,864 rows, 10 epochs)
  glassbox privacy --noise 0.72174072 --rate 0.02564102564102564 --steps 390 --delta 1e-5
  # the inverse: the σ that spends at most ε = 3 (Opacus's search, tolerance 0.01)
  glassbox privacy --epsilon 3 --rate 0.05 --steps 600 --delta 1e-5 --json
  # the same with the PLD accountant: a smaller σ for the same ε
  glassbox privacy --accountant pld --epsilon 3 --rate 0.05 --steps 600 --delta 1e-5

The accountants (both certify an upper bound on ε for adding or removing one row):
  rdp  (default) Rényi DP of the Poisson-subsampled Gaussian mechanism over Opacus's 151
       orders, converted to (ε, δ) by Balle et al. (2020); agrees with Opacus 1.6.0's RDP
       accountant to 1e-12 (crates/train/tests/privacy_accountant.rs). Milliseconds per ε.
       Use it to compare with Opacus or published RDP figures.
  pld  The privacy loss distribution, discretised pessimistically (connect-the-dots) at mesh
       1e-4 and composed by FFT with every truncation and rounding charged to δ
       (notes/privacy_pld.md); agrees with Google dp_accounting's PLD to 1e-3
       (crates/train/tests/privacy_pld.rs). A tighter bound: about 10-25 % smaller ε than rdp at
       the same σ near ε = 1-8, so a smaller σ for the same ε. Milliseconds to seconds per ε
       (more at small σ); the σ search brackets it with the RDP σ. Use it to train with less noise.
Give --rows N to have δ checked against 1/N.";

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

    /// The accountant: `rdp` (Rényi DP, Opacus's) or `pld` (privacy loss distribution,
    /// tighter, slower); see below.
    #[arg(long, value_enum, value_name = "ACCOUNTANT", default_value = "rdp")]
    pub accountant: DpAccountant,

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
    let accountant = Accountant::from(args.accountant);
    let (sigma, spent, target, evaluations) = match (args.noise, args.epsilon) {
        (_, Some(target)) => {
            let found = calibrate_with(accountant, target, args.delta, args.rate, args.steps)
                .usage_err()?;
            let evaluations = Some(found.evaluations);
            (
                found.noise_multiplier,
                found.spent,
                Some(target),
                evaluations,
            )
        }
        (Some(sigma), None) => {
            let spent = accountant
                .spend(sigma, args.rate, args.steps, args.delta)
                .usage_err()?;
            (sigma, spent, None, None)
        }
        (None, None) => {
            return Err(CliError::usage(anyhow::anyhow!(
                "give --noise σ (to get ε) or --epsilon ε (to get σ)"
            )));
        }
    };
    let (order, boundary, directions) = match spent {
        Certified::Rdp(s) => (Some(s.optimal_order), s.at_order_boundary, None),
        Certified::Pld(s) => (None, false, Some((s.remove, s.add))),
    };
    if args.json {
        let value = json!({
            "noise_multiplier": sigma,
            "epsilon": spent.epsilon(),
            "target_epsilon": target,
            "delta": args.delta,
            "sample_rate": args.rate,
            "steps": args.steps,
            "optimal_order": order,
            "at_order_boundary": order.map(|_| boundary),
            "epsilon_remove": directions.map(|d| d.0),
            "epsilon_add": directions.map(|d| d.1),
            "accountant": accountant.description(),
            "accounting": accountant,
            "evaluations": evaluations,
        });
        println!("{}", serde_json::to_string_pretty(&value).internal_err()?);
        return Ok(());
    }
    match target {
        Some(t) => println!(
            "σ = {sigma} spends ε = {:.6} ≤ {t} at δ = {:e} (q = {}, T = {})",
            spent.epsilon(),
            args.delta,
            args.rate,
            args.steps
        ),
        None => println!(
            "ε = {:.6} at δ = {:e} (σ = {sigma}, q = {}, T = {})",
            spent.epsilon(),
            args.delta,
            args.rate,
            args.steps
        ),
    }
    if let Some(order) = order {
        println!("optimal Rényi order {order}");
    }
    if boundary {
        println!(
            "note: the best order is at the end of the list; a longer list could certify a smaller ε"
        );
    }
    if let Some((remove, add)) = directions {
        println!("ε of each direction: remove {remove:.6}, add {add:.6} (the worse is certified)");
    }
    println!("accountant: {}", accountant.description());
    Ok(())
}
