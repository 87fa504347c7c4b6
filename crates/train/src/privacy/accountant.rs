//! The RDP accountant of DP-SGD (notes/privacy.md §2–§5): the Rényi differential privacy
//! of one step of the Poisson-subsampled Gaussian mechanism (Mironov 2017; Mironov, Talwar
//! & Zhang 2019, §3.3), composed over T steps, converted to (ε, δ) by Balle et al. 2020,
//! Theorem 21 — with the conventions of Opacus 1.6.0's `RDPAccountant` exactly (its order
//! list, its series stopping rule, NaN orders skipped, ties to the first order, no clamp at 0).
//!
//! ```
//! use glassbox_train::privacy::accountant::epsilon;
//!
//! // σ = 1, q = 256/9864, 100 steps, δ = 1e-5 (Opacus: 2.25641516988554 at order 6.4).
//! let spent = epsilon(1.0, 256.0 / 9864.0, 100, 1e-5).unwrap();
//! assert!((spent.epsilon - 2.256_415_169_885_54).abs() < 1e-9);
//! assert_eq!(spent.optimal_order, 6.4);
//! ```

use super::dp_sgd::ACCOUNTANT;
use super::pld::{DEFAULT_GRID_STEP, PldSpent, pld_epsilon_with_grid};
use super::special::{log_add_exp, log_erfc, log_sub_exp};
use super::validate::{
    PrivacyError, check_delta, check_noise_multiplier, check_sample_rate, check_steps,
};
use serde::{Deserialize, Serialize};
use std::f64::consts::{LN_2, SQRT_2};

/// The fractional-order series (P5) stops once both new terms are below `e^{−30}` (Opacus).
pub const SERIES_STOP_LOG: f64 = -30.0;

/// A bound on the number of terms of (P5) and (P4), so that a pathological input (or an
/// integer order above 10⁷) ends in an error instead of a hang; far more than the tested
/// inputs need (the whole accountant test file runs in 0.2 s).
pub const SERIES_MAX_TERMS: usize = 10_000_000;

/// (P10) Opacus's default Rényi orders: `1 + x/10.0` for `x = 1, …, 99` (1.1 … 10.9, each
/// computed in floating point as Opacus does), then the integers 12, 13, …, 63 — 151
/// orders, with no 11 and nothing above 63.
pub fn default_orders() -> Vec<f64> {
    let fractional = (1..=99).map(|x| 1.0 + f64::from(x) / 10.0);
    let integers = (12..=63).map(f64::from);
    fractional.chain(integers).collect()
}

/// The (ε, δ) guarantee the accountant certifies, and where it was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacySpent {
    /// ε of (P9), the minimum over the orders (not clamped at 0).
    pub epsilon: f64,
    /// The order α at which the minimum is reached (the first one on a tie); NaN when no
    /// order gave a number (Opacus's `(inf, nan)`).
    pub optimal_order: f64,
    /// True when the minimum is at the first or the last order of the list: a longer list
    /// could certify a smaller ε (Opacus warns in this case).
    pub at_order_boundary: bool,
}

/// (P7) The generalised binomial coefficients `C(α, i) = α(α − 1)…(α − i + 1)/i!` for
/// `i = 0, 1, 2, …`, as `(ln|C(α, i)|, C(α, i) > 0)`, by the recurrence
/// `C(α, i + 1) = C(α, i)·(α − i)/(i + 1)` taken in log space (no overflow for any α, and
/// the sign flips each time `α − i < 0`). For integer α the coefficients past `i = α` are 0
/// (`ln = −∞`).
struct GeneralisedBinomial {
    alpha: f64,
    next_index: f64,
    log_abs: f64,
    positive: bool,
}

impl GeneralisedBinomial {
    fn new(alpha: f64) -> Self {
        Self {
            alpha,
            next_index: 0.0,
            log_abs: 0.0,
            positive: true,
        }
    }
}

impl Iterator for GeneralisedBinomial {
    type Item = (f64, bool);

    fn next(&mut self) -> Option<(f64, bool)> {
        let current = (self.log_abs, self.positive);
        let i = self.next_index;
        let factor = (self.alpha - i) / (i + 1.0);
        self.log_abs += factor.abs().ln();
        if factor < 0.0 {
            self.positive = !self.positive;
        }
        self.next_index = i + 1.0;
        Some(current)
    }
}

/// (P4) `ln A_α` for an integer order α ≥ 2, the binomial expansion of (P3):
/// `A_α = Σ_{i=0}^{α} C(α, i)·q^i·(1 − q)^{α − i}·exp((i² − i)/(2σ²))`, every term taken as
/// its logarithm and summed by [`log_add_exp`] (all terms are positive). Needs
/// `0 < q < 1`, `σ > 0`.
fn log_a_integer_order(sigma: f64, q: f64, alpha: u64) -> f64 {
    let (ln_q, ln_1mq) = (q.ln(), (1.0 - q).ln());
    let two_variance = 2.0 * (sigma * sigma);
    let alpha_f = alpha as f64;
    let mut log_a = f64::NEG_INFINITY;
    for (i, (log_binomial, _)) in (0..=alpha).zip(GeneralisedBinomial::new(alpha_f)) {
        let i = i as f64;
        let log_coefficient = log_binomial + i * ln_q + (alpha_f - i) * ln_1mq;
        let log_term = log_coefficient + (i * i - i) / two_variance;
        log_a = log_add_exp(log_a, log_term);
    }
    log_a
}

/// (P5) `ln A_α` for a fractional order α > 1: the integral (P3) split at
/// `z₀ = σ²·ln(1/q − 1) + ½` into two series over `i = 0, 1, 2, …` (with `j = α − i`),
///
/// `A_α = Σ_i C(α, i)·[ q^i (1 − q)^j·e^{(i² − i)/(2σ²)}·½ erfc((i − z₀)/(√2σ))
///                    + q^j (1 − q)^i·e^{(j² − j)/(2σ²)}·½ erfc((z₀ − j)/(√2σ)) ]`,
///
/// each of the two sums accumulated in log space (added when `C(α, i) > 0`, subtracted
/// when it is negative), stopping after the first `i` at which both new terms' logarithms
/// are below [`SERIES_STOP_LOG`] (Opacus's rule). Needs `0 < q < 1`, `σ > 0`.
fn log_a_fractional_order(sigma: f64, q: f64, alpha: f64) -> Result<f64, PrivacyError> {
    let (ln_q, ln_1mq) = (q.ln(), (1.0 - q).ln());
    let two_variance = 2.0 * (sigma * sigma);
    let erfc_scale = SQRT_2 * sigma;
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let lost_precision = || PrivacyError::SeriesLostPrecision {
        order: alpha,
        sigma,
        q,
    };

    // The sums below and above z₀, as logarithms (−∞ = 0).
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (i, (log_binomial, positive)) in GeneralisedBinomial::new(alpha).enumerate() {
        if i == SERIES_MAX_TERMS {
            return Err(PrivacyError::SeriesDidNotConverge {
                order: alpha,
                sigma,
                q,
                terms: i,
            });
        }
        let i = i as f64;
        let j = alpha - i;
        let log_t0 = log_binomial + i * ln_q + j * ln_1mq;
        let log_t1 = log_binomial + j * ln_q + i * ln_1mq;
        let log_e0 = -LN_2 + log_erfc((i - z0) / erfc_scale);
        let log_e1 = -LN_2 + log_erfc((z0 - j) / erfc_scale);
        let log_s0 = log_t0 + (i * i - i) / two_variance + log_e0;
        let log_s1 = log_t1 + (j * j - j) / two_variance + log_e1;
        if log_s0.is_nan() || log_s1.is_nan() {
            return Err(lost_precision());
        }
        if positive {
            log_a0 = log_add_exp(log_a0, log_s0);
            log_a1 = log_add_exp(log_a1, log_s1);
        } else {
            log_a0 = log_sub_exp(log_a0, log_s0).ok_or_else(lost_precision)?;
            log_a1 = log_sub_exp(log_a1, log_s1).ok_or_else(lost_precision)?;
        }
        if log_s0.max(log_s1) < SERIES_STOP_LOG {
            break;
        }
    }
    Ok(log_add_exp(log_a0, log_a1))
}

/// (P3) The Rényi DP at order α of one step of the Poisson-subsampled Gaussian mechanism
/// with sampling rate `q` and noise multiplier `sigma` (noise standard deviation σ·C for
/// sensitivity C): `rdp(α) = ln A_α/(α − 1)`, with `ln A_α` from (P4) when α is an integer
/// and from (P5) otherwise; and the cases of (P6): `q = 0 → 0`, `σ = 0 → ∞`,
/// `q = 1 → α/(2σ²)` (the plain Gaussian mechanism), `α = ∞ → ∞`.
///
/// Accepts `0 ≤ q ≤ 1`, `σ ≥ 0`, `α > 1` (or `+∞`); anything else is an error. The
/// training-side checks (q > 0, etc.) are in [`super::validate`].
pub fn sampled_gaussian_rdp(sigma: f64, q: f64, order: f64) -> Result<f64, PrivacyError> {
    if !(0.0..=1.0).contains(&q) {
        return Err(PrivacyError::InvalidSampleRate(q));
    }
    if sigma.is_nan() || sigma < 0.0 {
        return Err(PrivacyError::InvalidNoiseMultiplier(sigma));
    }
    if order.is_nan() || order <= 1.0 {
        return Err(PrivacyError::InvalidOrder(order));
    }
    if q == 0.0 {
        return Ok(0.0);
    }
    if sigma == 0.0 {
        return Ok(f64::INFINITY);
    }
    if q == 1.0 {
        return Ok(order / (2.0 * (sigma * sigma)));
    }
    if order == f64::INFINITY {
        return Ok(f64::INFINITY);
    }
    let log_a = if order.fract() == 0.0 {
        // The binomial sum has α + 1 terms: bound it like the fractional series.
        if order > SERIES_MAX_TERMS as f64 {
            let terms = SERIES_MAX_TERMS;
            return Err(PrivacyError::SeriesDidNotConverge {
                order,
                sigma,
                q,
                terms,
            });
        }
        log_a_integer_order(sigma, q, order as u64)
    } else {
        log_a_fractional_order(sigma, q, order)?
    };
    Ok(log_a / (order - 1.0))
}

/// (P8) The RDP of `steps` runs of the same mechanism, at each order: `T·rdp(α)` (RDP
/// composes additively order by order).
pub fn rdp_after_steps(
    sigma: f64,
    q: f64,
    steps: u64,
    orders: &[f64],
) -> Result<Vec<f64>, PrivacyError> {
    let steps = steps as f64;
    orders
        .iter()
        .map(|&order| Ok(sampled_gaussian_rdp(sigma, q, order)? * steps))
        .collect()
}

/// (P9) From RDP to (ε, δ), Balle et al. 2020 ("Hypothesis testing interpretations and
/// Rényi differential privacy"), Theorem 21: a mechanism that is (α, ρ_α)-RDP is (ε, δ)-DP
/// with `ε = ρ_α + ln((α − 1)/α) − (ln δ + ln α)/(α − 1)`; the best over the list is taken.
///
/// Opacus's conventions: orders whose ε is NaN are skipped (all NaN → `ε = ∞`,
/// `optimal_order = NaN`); on a tie the first order wins; ε is **not** clamped at 0.
/// Orders must be > 1, the lists of equal non-zero length, `0 < δ < 1`.
pub fn epsilon_from_rdp(
    orders: &[f64],
    rdp: &[f64],
    delta: f64,
) -> Result<PrivacySpent, PrivacyError> {
    if orders.len() != rdp.len() || orders.is_empty() {
        return Err(PrivacyError::OrderCountMismatch {
            orders: orders.len(),
            values: rdp.len(),
        });
    }
    check_delta(delta)?;
    if let Some(&bad) = orders.iter().find(|&&order| order.is_nan() || order <= 1.0) {
        return Err(PrivacyError::InvalidOrder(bad));
    }
    let ln_delta = delta.ln();
    let mut best: Option<(usize, f64)> = None;
    for (index, (&order, &rho)) in orders.iter().zip(rdp).enumerate() {
        // Evaluated in Opacus's order: (ρ − (ln δ + ln α)/(α − 1)) + ln((α − 1)/α).
        let candidate =
            rho - (ln_delta + order.ln()) / (order - 1.0) + ((order - 1.0) / order).ln();
        let better = match best {
            None => !candidate.is_nan(),
            Some((_, current)) => candidate < current,
        };
        if better {
            best = Some((index, candidate));
        }
    }
    Ok(match best {
        None => PrivacySpent {
            epsilon: f64::INFINITY,
            optimal_order: f64::NAN,
            at_order_boundary: false,
        },
        Some((index, epsilon)) => PrivacySpent {
            epsilon,
            optimal_order: orders[index],
            at_order_boundary: index == 0 || index == orders.len() - 1,
        },
    })
}

/// ε(σ, q, T, δ) over the given orders: (P8) then (P9). Checks σ ≥ 0, `0 < q ≤ 1`,
/// `T ≥ 1`, `0 < δ < 1`.
pub fn epsilon_with_orders(
    sigma: f64,
    q: f64,
    steps: u64,
    delta: f64,
    orders: &[f64],
) -> Result<PrivacySpent, PrivacyError> {
    check_noise_multiplier(sigma)?;
    check_sample_rate(q)?;
    check_steps(steps)?;
    check_delta(delta)?;
    let rdp = rdp_after_steps(sigma, q, steps, orders)?;
    epsilon_from_rdp(orders, &rdp, delta)
}

/// ε(σ, q, T, δ) of T steps of DP-SGD with noise multiplier σ and Poisson sampling rate q,
/// over Opacus's [`default_orders`] (P10) — what Opacus's `RDPAccountant.get_epsilon`
/// returns, with the order at which it is reached.
pub fn epsilon(sigma: f64, q: f64, steps: u64, delta: f64) -> Result<PrivacySpent, PrivacyError> {
    epsilon_with_orders(sigma, q, steps, delta, &default_orders())
}

/// Which accountant certifies ε, with its parameters (notes/privacy_pld.md §6): what
/// `--dp-accountant` chooses, what the recipe and the privacy record keep (as
/// `{"kind": "rdp"}` or `{"kind": "pld", "grid_step": h}`; absent from records written
/// before the choice existed, which were all RDP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Accountant {
    /// The RDP accountant of this module (P3–P10), Opacus's conventions.
    #[default]
    Rdp,
    /// The pessimistic PLD accountant of [`super::pld`] (P34–P40) at mesh `grid_step`.
    Pld {
        /// The mesh h of the loss grid (P35).
        grid_step: f64,
    },
}

/// What an [`Accountant`] certifies for one (σ, q, T, δ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Certified {
    /// The RDP accountant's ε and the order that reached it.
    Rdp(PrivacySpent),
    /// The PLD accountant's ε and each direction's.
    Pld(PldSpent),
}

impl Certified {
    /// The certified ε.
    pub fn epsilon(&self) -> f64 {
        match self {
            Certified::Rdp(s) => s.epsilon,
            Certified::Pld(s) => s.epsilon,
        }
    }

    /// The Rényi order of an RDP result; none for PLD.
    pub fn optimal_order(&self) -> Option<f64> {
        match self {
            Certified::Rdp(s) => Some(s.optimal_order),
            Certified::Pld(_) => None,
        }
    }
}

impl Accountant {
    /// The PLD accountant at dp_accounting's mesh, [`DEFAULT_GRID_STEP`].
    pub const PLD: Accountant = Accountant::Pld {
        grid_step: DEFAULT_GRID_STEP,
    };

    /// `"rdp"` or `"pld"`, as `--dp-accountant` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Accountant::Rdp => "rdp",
            Accountant::Pld { .. } => "pld",
        }
    }

    /// True for the RDP accountant (the default, left out of recipes).
    pub fn is_rdp(&self) -> bool {
        *self == Accountant::Rdp
    }

    /// The sentence the records print as the accountant.
    pub fn description(&self) -> String {
        match self {
            Accountant::Rdp => ACCOUNTANT.to_string(),
            Accountant::Pld { grid_step } => format!(
                "PLD of the Poisson-subsampled Gaussian mechanism, pessimistic connect-the-dots \
                 discretisation (Doroshenko et al. 2022) at mesh {grid_step}, each neighbouring \
                 direction composed by FFT with the cut tail and the rounding charged to δ, the \
                 worse direction certified (notes/privacy_pld.md P34–P40)"
            ),
        }
    }

    /// Checks the PLD mesh is finite and > 0.
    ///
    /// # Errors
    /// [`PrivacyError::InvalidGridStep`].
    pub fn validate(&self) -> Result<(), PrivacyError> {
        match *self {
            Accountant::Pld { grid_step } if !(grid_step > 0.0 && grid_step.is_finite()) => {
                Err(PrivacyError::InvalidGridStep(grid_step))
            }
            _ => Ok(()),
        }
    }

    /// ε(σ, q, T, δ) by this accountant: [`epsilon`] (P9) or [`pld_epsilon_with_grid`]
    /// (P40). σ = 0 certifies ε = ∞ under both.
    ///
    /// # Errors
    /// The checks of either accountant (σ < 0, q ∉ (0, 1], T = 0, δ ∉ (0, 1), a bad mesh, a
    /// grid too long for the FFT).
    pub fn spend(
        &self,
        sigma: f64,
        q: f64,
        steps: u64,
        delta: f64,
    ) -> Result<Certified, PrivacyError> {
        match *self {
            Accountant::Rdp => epsilon(sigma, q, steps, delta).map(Certified::Rdp),
            Accountant::Pld { grid_step } => {
                self.validate()?;
                if sigma == 0.0 {
                    // The same checks and the same answer as RDP: no noise, no privacy.
                    let spent = epsilon(sigma, q, steps, delta)?;
                    let inf = spent.epsilon;
                    return Ok(Certified::Pld(PldSpent {
                        epsilon: inf,
                        remove: inf,
                        add: inf,
                    }));
                }
                pld_epsilon_with_grid(sigma, q, steps, delta, grid_step).map(Certified::Pld)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_coefficients_match_pascal_for_integers() {
        let row: Vec<f64> = GeneralisedBinomial::new(6.0)
            .take(8)
            .map(|(l, p)| if p { l.exp() } else { -l.exp() })
            .collect();
        let expected = [1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0, 0.0];
        for (got, want) in row.iter().zip(expected) {
            assert!(
                (got - want).abs() <= 1e-13 * want.max(1.0),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn binomial_coefficients_alternate_for_fractions() {
        // C(1.5, i) = 1, 1.5, 0.375, −0.0625, 0.0234375, −0.01171875
        let expected = [1.0, 1.5, 0.375, -0.0625, 0.023_437_5, -0.011_718_75];
        for ((log_abs, positive), want) in GeneralisedBinomial::new(1.5).zip(expected) {
            let got = if positive {
                log_abs.exp()
            } else {
                -log_abs.exp()
            };
            assert!((got - want).abs() <= 1e-15, "{got} vs {want}");
        }
    }

    #[test]
    fn special_cases_of_the_one_step_rdp() {
        assert_eq!(sampled_gaussian_rdp(1.0, 0.0, 2.5), Ok(0.0));
        assert_eq!(sampled_gaussian_rdp(0.0, 0.1, 2.5), Ok(f64::INFINITY));
        assert_eq!(sampled_gaussian_rdp(2.0, 1.0, 3.0), Ok(3.0 / 8.0));
        assert_eq!(
            sampled_gaussian_rdp(2.0, 0.1, f64::INFINITY),
            Ok(f64::INFINITY)
        );
        assert!(matches!(
            sampled_gaussian_rdp(2.0, 0.1, 1e300),
            Err(PrivacyError::SeriesDidNotConverge { .. })
        ));
    }

    #[test]
    fn integer_and_fractional_paths_meet() {
        // The fractional series just beside an integer order agrees with the binomial sum.
        let at_integer = sampled_gaussian_rdp(1.0, 0.02, 4.0).unwrap();
        let beside = sampled_gaussian_rdp(1.0, 0.02, 4.0 + 1e-9).unwrap();
        assert!(
            (at_integer - beside).abs() <= 1e-7 * at_integer,
            "{at_integer} vs {beside}"
        );
    }
}
