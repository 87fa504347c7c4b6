//! The noise multiplier for a target (ε, δ) (notes/privacy.md §6): Opacus 1.6.0's
//! `get_noise_multiplier` search, step for step — doubling from σ = 10, then bisection
//! until the ε spent is within 0.01 below the target — over the accountant of
//! [`super::accountant`].
//!
//! ```
//! use glassbox_train::privacy::calibration::{calibrate_noise_multiplier, calibration_steps};
//!
//! // Target ε = 3 over 10 epochs at q = 256/9864, δ = 1e-5 (Opacus: σ = 1.103515625).
//! let q = 256.0 / 9864.0;
//! let steps = calibration_steps(10, q).unwrap();
//! assert_eq!(steps, 385);
//! let found = calibrate_noise_multiplier(3.0, 1e-5, q, steps).unwrap();
//! assert_eq!(found.noise_multiplier, 1.103515625);
//! assert!(found.spent.epsilon <= 3.0 && found.spent.epsilon > 3.0 - 0.01);
//! ```

use super::accountant::{Accountant, Certified, PrivacySpent, epsilon};
use super::validate::{PrivacyError, check_delta, check_epsilon, check_sample_rate, check_steps};

/// Opacus's `epsilon_tolerance`: the search stops once `target − ε(σ) ≤ 0.01`.
pub const EPSILON_TOLERANCE: f64 = 0.01;

/// Opacus's `MAX_SIGMA`: the doubling gives up once σ exceeds 10⁶.
pub const MAX_NOISE_MULTIPLIER: f64 = 1e6;

/// The first upper end of the bracket; it is doubled before its first use, so the first σ
/// evaluated is 20.
pub const INITIAL_SIGMA_HIGH: f64 = 10.0;

/// A bound on the bisections. Halving a bracket inside [0, 20] reaches two adjacent f64
/// values after about 60 halvings near σ ≈ 1 and at most about 1,100 even towards the
/// subnormals, so a search still going after this many has stalled on a jump of ε(σ) and
/// would otherwise never stop (Opacus has no bound).
pub const MAX_BISECTIONS: usize = 2_000;

/// The result of a calibration: the σ to train with and what it spends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseCalibration {
    /// The noise multiplier σ (noise standard deviation σ·C for clipping norm C).
    pub noise_multiplier: f64,
    /// The (ε, δ) that σ spends over the given steps: `target − 0.01 ≤ ε ≤ target`.
    pub spent: PrivacySpent,
    /// The number of steps T the calibration assumed.
    pub steps: u64,
}

/// (P12) The steps Opacus's calibration assumes for `epochs` epochs at sampling rate q:
/// `T = int(epochs/q)`, the quotient truncated toward zero (e.g. 10/(32/9864) = 3082.5 →
/// 3082). With q = 1/⌈N/B⌉ it is usually the E·⌈N/B⌉ steps that training takes
/// ([`super::sampling::SamplingPlan::steps`]), but not always: `1/⌈N/B⌉` is rounded, and
/// the quotient can land just below the integer (E = 3, ⌈N/B⌉ = 75: 224, not 225). Use this
/// to reproduce Opacus; to certify a run, give [`calibrate_noise_multiplier`] the run's own
/// T.
pub fn calibration_steps(epochs: u64, q: f64) -> Result<u64, PrivacyError> {
    if epochs == 0 {
        return Err(PrivacyError::ZeroEpochs);
    }
    check_sample_rate(q)?;
    Ok((epochs as f64 / q) as u64)
}

/// (P11) The noise multiplier σ for which T steps at sampling rate q spend at most
/// `target_epsilon` (and within [`EPSILON_TOLERANCE`] of it) at `delta`, by Opacus's search:
///
/// ```text
/// σ_low = 0, σ_high = 10
/// repeat  σ_high ← 2·σ_high;  ε_high ← ε(σ_high);  if σ_high > 10⁶: error
/// until   ε_high ≤ target
/// while   target − ε_high > 0.01:
///         σ = (σ_low + σ_high)/2;  if ε(σ) < target { σ_high = σ; ε_high = ε(σ) } else { σ_low = σ }
/// return  σ_high
/// ```
///
/// ε is [`epsilon`] over the default orders (the search is [`search_noise_multiplier`] from
/// [`Start::Opacus`], the one the PLD accountant shares). Checks `target_epsilon` finite
/// and `> 0`, `0 < δ < 1`, `0 < q ≤ 1`, `T ≥ 1`; [`PrivacyError::BudgetTooSmall`] when
/// σ > 10⁶ is still not enough.
pub fn calibrate_noise_multiplier(
    target_epsilon: f64,
    delta: f64,
    q: f64,
    steps: u64,
) -> Result<NoiseCalibration, PrivacyError> {
    check_search(target_epsilon, delta, q, steps)?;
    let spend = |sigma: f64| epsilon(sigma, q, steps, delta);
    let found = search_noise_multiplier(target_epsilon, q, steps, Start::Opacus, spend, |s| {
        s.epsilon
    })?;
    Ok(NoiseCalibration {
        noise_multiplier: found.noise_multiplier,
        spent: found.spent,
        steps,
    })
}

/// Where [`search_noise_multiplier`] starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// Opacus's start: `σ_low = 0`, and `σ_high = 10` doubled until `ε(σ_high) ≤ target`.
    Opacus,
    /// A bracket `σ_low < σ_high` believed to hold the answer: `ε(σ_high)` is evaluated and,
    /// if above the target, the search falls back to Opacus's doubling from `σ_high` (with
    /// `σ_low = 0`); `ε(σ_low)` is evaluated and, if already within the target, `σ_low`
    /// becomes the upper end and 0 the lower. Either way the bisection that follows keeps
    /// Opacus's invariant `ε(σ_high) ≤ target`.
    Bracket {
        /// The lower end.
        low: f64,
        /// The upper end.
        high: f64,
    },
}

/// A noise multiplier found by [`search_noise_multiplier`], what it spends, and how many
/// times the accountant was called.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found<S> {
    /// σ, with `target − 0.01 ≤ ε(σ) ≤ target`.
    pub noise_multiplier: f64,
    /// The accountant's result at σ.
    pub spent: S,
    /// Calls of the accountant (for PLD, at both meshes of [`calibrate_pld`]).
    pub evaluations: usize,
}

/// (P11, P41) The one σ search of both accountants: from `start`, bisection until the
/// accountant's ε at the upper end is within [`EPSILON_TOLERANCE`] below the target.
/// `spend(σ)` is the accountant, `epsilon_of` reads its ε.
///
/// # Errors
/// [`PrivacyError::BudgetTooSmall`] past σ = 10⁶, [`PrivacyError::CalibrationDidNotConverge`]
/// after [`MAX_BISECTIONS`], or the accountant's own error.
pub fn search_noise_multiplier<S>(
    target_epsilon: f64,
    q: f64,
    steps: u64,
    start: Start,
    mut spend: impl FnMut(f64) -> Result<S, PrivacyError>,
    epsilon_of: impl Fn(&S) -> f64,
) -> Result<Found<S>, PrivacyError> {
    let mut evaluations = 0;
    let mut spend = |sigma: f64| {
        evaluations += 1;
        spend(sigma)
    };
    let (mut sigma_low, mut sigma_high, at_high) = match start {
        Start::Opacus => (0.0, INITIAL_SIGMA_HIGH, None),
        Start::Bracket { low, high } => (low, high, Some(spend(high)?)),
    };
    let mut spent_high = match at_high {
        Some(spent) if epsilon_of(&spent) <= target_epsilon => spent,
        _ => {
            sigma_low = 0.0;
            loop {
                sigma_high *= 2.0;
                let spent = spend(sigma_high)?;
                if sigma_high > MAX_NOISE_MULTIPLIER {
                    return Err(PrivacyError::BudgetTooSmall {
                        target_epsilon,
                        q,
                        steps,
                        sigma: sigma_high,
                        epsilon: epsilon_of(&spent),
                    });
                }
                if epsilon_of(&spent) <= target_epsilon {
                    break spent;
                }
            }
        }
    };
    if sigma_low > 0.0 {
        let spent = spend(sigma_low)?;
        if epsilon_of(&spent) <= target_epsilon {
            (sigma_high, spent_high, sigma_low) = (sigma_low, spent, 0.0);
        }
    }

    let mut bisections = 0;
    while target_epsilon - epsilon_of(&spent_high) > EPSILON_TOLERANCE {
        if bisections == MAX_BISECTIONS {
            return Err(PrivacyError::CalibrationDidNotConverge {
                target_epsilon,
                sigma_low,
                sigma_high,
                iterations: bisections,
            });
        }
        bisections += 1;
        let sigma = (sigma_low + sigma_high) / 2.0;
        let spent = spend(sigma)?;
        if epsilon_of(&spent) < target_epsilon {
            sigma_high = sigma;
            spent_high = spent;
        } else {
            sigma_low = sigma;
        }
    }
    Ok(Found {
        noise_multiplier: sigma_high,
        spent: spent_high,
        evaluations,
    })
}

/// (P41) The lower end of the PLD search's bracket, as a fraction of the RDP σ.
pub const PLD_BRACKET_LOW: f64 = 0.8;

/// (P43) The mesh of the PLD search's coarse pass, as a multiple of the accountant's mesh:
/// at 10 × 10⁻⁴ one PLD ε cost about 1/14 of the fine one at σ = 1.66, q = 0.1, T = 600
/// (notes/privacy_pld.md §8), and its ε is above the fine ε (P42) by 1.6·10⁻⁴ there.
pub const PLD_COARSE_FACTOR: f64 = 10.0;

/// (P41, P43) The σ that spends at most `target_epsilon` (within [`EPSILON_TOLERANCE`]) under
/// `accountant`. RDP: [`calibrate_noise_multiplier`] exactly. PLD: the same search
/// ([`search_noise_multiplier`]) on the PLD ε, started from the bracket
/// `[0.8·σ_RDP, σ_RDP]` — the RDP σ (milliseconds) is an upper end because the PLD ε is
/// below the RDP ε, and the bracket spares the slow PLD evaluations at small σ (each one an
/// FFT of up to 2²⁴ points) — run by [`calibrate_pld`]: on a coarse mesh first, the
/// accountant's own mesh certifying the answer.
///
/// # Errors
/// As [`calibrate_noise_multiplier`], a bad mesh, or a PLD grid too long for the FFT.
pub fn calibrate_with(
    accountant: Accountant,
    target_epsilon: f64,
    delta: f64,
    q: f64,
    steps: u64,
) -> Result<Found<Certified>, PrivacyError> {
    check_search(target_epsilon, delta, q, steps)?;
    accountant.validate()?;
    match accountant {
        Accountant::Rdp => {
            let spend = |sigma: f64| accountant.spend(sigma, q, steps, delta);
            search_noise_multiplier(
                target_epsilon,
                q,
                steps,
                Start::Opacus,
                spend,
                Certified::epsilon,
            )
        }
        Accountant::Pld { grid_step } => calibrate_pld(grid_step, target_epsilon, delta, q, steps),
    }
}

/// (P43) The PLD σ search in two passes. The search of (P41) from `[0.8·σ_RDP, σ_RDP]` runs
/// on the mesh `PLD_COARSE_FACTOR·h`, whose ε is above the mesh-h ε (P42), and returns σ_c;
/// one PLD ε at the accountant's mesh h then certifies σ_c: if `target − 0.01 ≤ ε_h(σ_c) ≤
/// target` it is the answer, with that fine-mesh ε. Otherwise (ε_c(σ_c) fell within the
/// meshes' gap of `target − 0.01`, or the coarse pass failed) the search of (P41) runs again
/// on mesh h alone, as before this pass existed. Either way the σ returned spends at most the
/// target at mesh h, by an evaluation at mesh h; `evaluations` counts both meshes' calls.
///
/// # Errors
/// As [`calibrate_with`].
pub fn calibrate_pld(
    grid_step: f64,
    target_epsilon: f64,
    delta: f64,
    q: f64,
    steps: u64,
) -> Result<Found<Certified>, PrivacyError> {
    let rdp = calibrate_noise_multiplier(target_epsilon, delta, q, steps)?;
    let bracket = Start::Bracket {
        low: PLD_BRACKET_LOW * rdp.noise_multiplier,
        high: rdp.noise_multiplier,
    };
    let fine = Accountant::Pld { grid_step };
    let coarse = Accountant::Pld {
        grid_step: grid_step * PLD_COARSE_FACTOR,
    };
    let search = |accountant: Accountant| {
        let spend = |sigma: f64| accountant.spend(sigma, q, steps, delta);
        search_noise_multiplier(target_epsilon, q, steps, bracket, spend, Certified::epsilon)
    };
    let mut evaluations = 0;
    if let Ok(found) = search(coarse) {
        let sigma = found.noise_multiplier;
        let spent = fine.spend(sigma, q, steps, delta)?;
        evaluations += found.evaluations + 1;
        let spent_epsilon = spent.epsilon();
        if spent_epsilon <= target_epsilon && target_epsilon - spent_epsilon <= EPSILON_TOLERANCE {
            return Ok(Found {
                noise_multiplier: sigma,
                spent,
                evaluations,
            });
        }
    }
    let slow = search(fine)?;
    Ok(Found {
        evaluations: evaluations + slow.evaluations,
        ..slow
    })
}

/// The checks of a σ search: ε finite and > 0, δ ∈ (0, 1), q ∈ (0, 1], T ≥ 1.
fn check_search(target_epsilon: f64, delta: f64, q: f64, steps: u64) -> Result<(), PrivacyError> {
    check_epsilon(target_epsilon)?;
    check_delta(delta)?;
    check_sample_rate(q)?;
    check_steps(steps)
}

/// [`calibrate_noise_multiplier`] for a number of epochs, with T from (P12).
pub fn calibrate_noise_multiplier_for_epochs(
    target_epsilon: f64,
    delta: f64,
    q: f64,
    epochs: u64,
) -> Result<NoiseCalibration, PrivacyError> {
    let steps = calibration_steps(epochs, q)?;
    calibrate_noise_multiplier(target_epsilon, delta, q, steps)
}
