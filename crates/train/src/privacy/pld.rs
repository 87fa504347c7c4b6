//! The privacy-loss-distribution (PLD) accountant of DP-SGD (notes/privacy_pld.md): the
//! pessimistic "connect-the-dots" discretisation (Doroshenko, Ghazi, Kamath, Kumar &
//! Manurangsi 2022) of the Poisson-subsampled Gaussian's privacy loss, in both neighbouring
//! directions (P34–P35); its T-fold self-composition by the hand-written FFT of
//! [`super::fft`] with the truncated tail and the FFT's rounding charged to δ (P36–P38); and
//! ε(δ) read off the composed distribution in closed form (P39), the worse of the two
//! directions (P40).
//!
//! ```
//! use glassbox_train::privacy::pld::pld_epsilon;
//!
//! // σ = 1, q = 256/9864, 100 steps, δ = 1e-5: dp_accounting's PLD gives 1.839117792,
//! // the RDP accountant 2.256.
//! let spent = pld_epsilon(1.0, 256.0 / 9864.0, 100, 1e-5).unwrap();
//! assert!((spent.epsilon - 1.839_117_792).abs() < 1e-3);
//! ```

use super::fft::{Complex, UNIT_ROUNDOFF, complex_power, fft_in_place, fft_relative_error_bound};
use super::special::{erfc, log_add_exp};
use super::validate::{
    PrivacyError, check_delta, check_noise_multiplier, check_sample_rate, check_steps,
};
use std::f64::consts::FRAC_1_SQRT_2;

/// The default mesh h of the loss grid (dp_accounting's `value_discretization_interval`).
pub const DEFAULT_GRID_STEP: f64 = 1e-4;

/// (P36) The tail mass the composition may cut above its window, charged to δ.
pub const TAIL_BOUND: f64 = 1e-15;

/// (P34) The one-step grid covers the mechanism's output `o` on `[−k·σ, 1 + k·σ]` with this
/// k; the mass outside is not lost (it is rounded pessimistically, P34), and
/// `Φ̄(9.5) ≈ 1e-21` makes the pessimism invisible.
pub const CUT_STANDARD_DEVIATIONS: f64 = 9.5;

/// The longest FFT the composition may take (2²⁴ complex values, 256 MB).
pub const MAX_FFT_LEN: usize = 1 << 24;

/// Which neighbouring relation a pair of output distributions describes (P34).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The row is present in D and removed in D′: P = (1 − q)·N(0, σ²) + q·N(1, σ²),
    /// Q = N(0, σ²).
    Remove,
    /// The row is added: P = N(0, σ²), Q = (1 − q)·N(0, σ²) + q·N(1, σ²).
    Add,
}

/// How each grid cell's mass is placed on the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// (P35) Connect-the-dots: each cell's P- and Q-mass split between its two ends, so the
    /// result dominates the true pair — the certified accountant.
    Pessimistic,
    /// Every cell's mass at its lower end (losses rounded down): *under*-estimates δ. Only
    /// the tests' negative control uses it.
    Optimistic,
}

/// A privacy loss distribution on the grid `ℓ_k = (first_index + k)·h`: the P-probability
/// of each loss value, and of the loss +∞.
#[derive(Debug, Clone, PartialEq)]
pub struct LossDistribution {
    /// The mesh h.
    pub grid_step: f64,
    /// The grid index of `masses[0]`.
    pub first_index: i64,
    /// P(L = ℓ_k).
    pub masses: Vec<f64>,
    /// P(L = +∞).
    pub infinite_mass: f64,
    /// δ already charged for truncation and rounding (P36, P38); 0 for one step.
    pub charged_delta: f64,
}

/// `Φ̄(z)` and `Φ(z)` of the standard normal, from erfc (accurate in both tails).
fn tails(z: f64) -> (f64, f64) {
    (
        0.5 * erfc(z * FRAC_1_SQRT_2),
        0.5 * erfc(-z * FRAC_1_SQRT_2),
    )
}

/// The standard normal mass of `(a, b]` (`a ≤ b`), as a difference of the tail on the side
/// away from 0, so that narrow cells in a tail keep their relative accuracy.
fn normal_mass(a: f64, b: f64) -> f64 {
    let (upper_a, lower_a) = tails(a);
    let (upper_b, lower_b) = tails(b);
    let mass = if a >= 0.0 {
        upper_a - upper_b
    } else if b <= 0.0 {
        lower_b - lower_a
    } else {
        1.0 - upper_b - lower_a
    };
    mass.max(0.0)
}

/// (P34) The remove direction's loss at output o: `ln(1 − q + q·e^{(2o − 1)/(2σ²)})`.
fn remove_loss(sigma: f64, q: f64, o: f64) -> f64 {
    let exponent = (2.0 * o - 1.0) / (2.0 * sigma * sigma);
    log_add_exp((-q).ln_1p(), q.ln() + exponent)
}

/// (P34) The output `o` at which the remove direction's loss equals ℓ:
/// `o = σ²·(ln(e^ℓ − (1 − q)) − ln q) + ½`; `−∞` when `ℓ ≤ ln(1 − q)` (no output has so
/// small a loss).
fn remove_output(sigma: f64, q: f64, loss: f64) -> f64 {
    let log_excess = if loss > 0.0 {
        (loss.exp_m1() + q).ln()
    } else {
        let ratio = (1.0 - q) * (-loss).exp();
        if ratio >= 1.0 {
            return f64::NEG_INFINITY;
        }
        loss + (-ratio).ln_1p()
    };
    sigma * sigma * (log_excess - q.ln()) + 0.5
}

/// The P- and Q-mass of the outputs in `(a, b]`, in the given direction.
fn cell_masses(direction: Direction, sigma: f64, q: f64, a: f64, b: f64) -> (f64, f64) {
    let centred = normal_mass(a / sigma, b / sigma);
    let shifted = normal_mass((a - 1.0) / sigma, (b - 1.0) / sigma);
    let mixture = (1.0 - q) * centred + q * shifted;
    match direction {
        Direction::Remove => (mixture, centred),
        Direction::Add => (centred, mixture),
    }
}

/// (P34–P35) The one-step privacy loss distribution of the Poisson-subsampled Gaussian with
/// noise multiplier σ and sampling rate q, in one direction, on the grid of mesh h.
///
/// The loss is monotone in the output o (increasing for Remove, decreasing for Add), so
/// each grid cell `(ℓ_k, ℓ_{k+1}]` is an interval of outputs with P-mass `p` and Q-mass
/// `r`. Pessimistic: `b = (p − e^{ℓ_k}·r)/(1 − e^{−h})` goes to `ℓ_{k+1}`, `p − b` to `ℓ_k`
/// (both masses kept, P35); below the grid all P-mass goes to the first point; above it,
/// `e^{ℓ_top}·r` to the top point and the rest, δ(ℓ_top), to +∞.
pub fn one_step_distribution(
    sigma: f64,
    q: f64,
    grid_step: f64,
    direction: Direction,
    rounding: Rounding,
) -> Result<LossDistribution, PrivacyError> {
    check_noise_multiplier(sigma)?;
    check_sample_rate(q)?;
    if !(grid_step > 0.0 && grid_step.is_finite()) {
        return Err(PrivacyError::InvalidGridStep(grid_step));
    }
    if sigma == 0.0 {
        return Err(PrivacyError::InvalidNoiseMultiplier(sigma));
    }
    let cut = CUT_STANDARD_DEVIATIONS * sigma;
    let (low_loss, high_loss) = {
        let at_low = remove_loss(sigma, q, -cut);
        let at_high = remove_loss(sigma, q, 1.0 + cut);
        match direction {
            Direction::Remove => (at_low, at_high),
            Direction::Add => (-at_high, -at_low),
        }
    };
    let first_index = (low_loss / grid_step).floor() as i64;
    let last_index = ((high_loss / grid_step).ceil() as i64).max(first_index + 1);
    let points = (last_index - first_index + 1) as u64;
    if points > MAX_FFT_LEN as u64 {
        return Err(PrivacyError::PldGridTooLarge {
            points,
            limit: MAX_FFT_LEN as u64,
            grid_step,
        });
    }
    let points = points as usize;
    let loss_at = |k: usize| (first_index + k as i64) as f64 * grid_step;
    // The outputs at the grid points, and the output interval of "loss ≤ ℓ_k" … "loss > ℓ_k".
    let boundary: Vec<f64> = (0..points)
        .map(|k| match direction {
            Direction::Remove => remove_output(sigma, q, loss_at(k)),
            Direction::Add => remove_output(sigma, q, -loss_at(k)),
        })
        .collect();
    // Outputs of the cell strictly between grid points k − 1 and k (k = 0: below the grid,
    // k = points: above it), as an interval (a, b].
    let cell = |k: usize| -> (f64, f64) {
        let (lower, upper) = (
            if k == 0 { None } else { Some(boundary[k - 1]) },
            boundary.get(k).copied(),
        );
        match direction {
            Direction::Remove => (
                lower.unwrap_or(f64::NEG_INFINITY),
                upper.unwrap_or(f64::INFINITY),
            ),
            Direction::Add => (
                upper.unwrap_or(f64::NEG_INFINITY),
                lower.unwrap_or(f64::INFINITY),
            ),
        }
    };
    let mut masses = vec![0.0; points];
    let mut infinite_mass = 0.0;
    let split_denominator = -(-grid_step).exp_m1();
    for k in 0..=points {
        let (a, b) = cell(k);
        let (p, r) = if a < b {
            cell_masses(direction, sigma, q, a, b)
        } else {
            (0.0, 0.0)
        };
        if k == 0 {
            masses[0] += p;
        } else if k == points {
            let top = match rounding {
                Rounding::Pessimistic => (loss_at(points - 1).exp() * r).min(p).max(0.0),
                Rounding::Optimistic => p,
            };
            masses[points - 1] += top;
            infinite_mass += p - top;
        } else {
            let upper_share = match rounding {
                Rounding::Pessimistic => {
                    let excess = p - loss_at(k - 1).exp() * r;
                    (excess / split_denominator).clamp(0.0, p)
                }
                Rounding::Optimistic => 0.0,
            };
            masses[k - 1] += p - upper_share;
            masses[k] += upper_share;
        }
    }
    Ok(LossDistribution {
        grid_step,
        first_index,
        masses,
        infinite_mass,
        charged_delta: 0.0,
    })
}

impl LossDistribution {
    /// The loss value of `masses[k]`.
    pub fn loss(&self, k: usize) -> f64 {
        (self.first_index + k as i64) as f64 * self.grid_step
    }

    /// `ln Σ_k m_k·e^{λ·ℓ_k}` over the finite masses (the log-MGF of P36).
    fn log_mgf(&self, lambda: f64) -> f64 {
        self.masses
            .iter()
            .enumerate()
            .filter(|(_, m)| **m > 0.0)
            .fold(f64::NEG_INFINITY, |acc, (k, m)| {
                log_add_exp(acc, m.ln() + lambda * self.loss(k))
            })
    }

    /// (P36) The grid window `[lo, hi]` (indices) outside which the T-fold sum has at most
    /// [`TAIL_BOUND`] of mass on each side, by the Chernoff bound
    /// `P(S ≥ u) ≤ exp(T·K(λ) − λu)`, `P(S ≤ u) ≤ exp(T·K(−λ) + λu)` over λ = 2^j, j = −8..8;
    /// returns `(lo, hi, bound on the mass above hi)`, with `lo ≤ 0`.
    fn composed_window(&self, steps: u64) -> (i64, i64, f64) {
        let t = steps as f64;
        let h = self.grid_step;
        let min_index = self.first_index.saturating_mul(steps as i64);
        let max_index =
            (self.first_index + self.masses.len() as i64 - 1).saturating_mul(steps as i64);
        let lambdas: Vec<f64> = (-8..=8).map(|j| 2f64.powi(j)).collect();
        let log_tail = TAIL_BOUND.ln();
        let mut upper = f64::INFINITY;
        let mut lower = f64::NEG_INFINITY;
        for &lambda in &lambdas {
            upper = upper.min((t * self.log_mgf(lambda) - log_tail) / lambda);
            lower = lower.max(-(t * self.log_mgf(-lambda) - log_tail) / lambda);
        }
        let hi = if upper.is_finite() {
            ((upper / h).ceil() as i64).min(max_index)
        } else {
            max_index
        };
        let lo = if lower.is_finite() {
            ((lower / h).floor() as i64).max(min_index)
        } else {
            min_index
        }
        .min(0);
        let hi = hi.max(lo);
        let above = if hi >= max_index {
            0.0
        } else {
            let u = (hi + 1) as f64 * h;
            lambdas
                .iter()
                .map(|&lambda| (t * self.log_mgf(lambda) - lambda * u).exp())
                .fold(f64::INFINITY, f64::min)
        };
        (lo, hi, above)
    }

    /// (P36–P38) The T-fold self-composition: the finite masses convolved T times by a
    /// circular FFT of power-of-two length M covering the window of P36 (mass outside it
    /// folds onto it, which only raises δ; the mass above it is charged), the +∞ mass
    /// `1 − (1 − m_∞)^T`, and the FFT's rounding bound (P38) charged to δ.
    pub fn compose(&self, steps: u64) -> Result<LossDistribution, PrivacyError> {
        check_steps(steps)?;
        let (lo, hi, above) = self.composed_window(steps);
        let span = (hi - lo + 1) as u64;
        let len = span.next_power_of_two();
        if len > MAX_FFT_LEN as u64 {
            return Err(PrivacyError::PldGridTooLarge {
                points: span,
                limit: MAX_FFT_LEN as u64,
                grid_step: self.grid_step,
            });
        }
        let len = len as usize;
        let mut spectrum: Vec<Complex> = vec![(0.0, 0.0); len];
        for (k, &m) in self.masses.iter().enumerate() {
            spectrum[k % len].0 += m;
        }
        let input_norm1: f64 = self.masses.iter().sum();
        let input_norm2 = self.masses.iter().map(|m| m * m).sum::<f64>().sqrt();
        fft_in_place(&mut spectrum, false);
        let eta = fft_relative_error_bound(len);
        // (P38) Each coefficient's error: η·‖x‖₁ componentwise, η·√M·‖x‖₂ by Higham's norm
        // bound; the smaller holds.
        let coefficient_error = eta * input_norm1.min((len as f64).sqrt() * input_norm2);
        let t = steps as f64;
        let (mut powered_error_sq, mut powered_norm_sq) = (0.0, 0.0);
        for z in spectrum.iter_mut() {
            let modulus = z.0.hypot(z.1) + coefficient_error;
            let grown = ((t - 1.0) * modulus.ln()).exp();
            let error = t * grown * coefficient_error + 6.0 * UNIT_ROUNDOFF * t * grown * modulus;
            *z = complex_power(*z, steps);
            powered_error_sq += error * error;
            powered_norm_sq += z.0 * z.0 + z.1 * z.1;
        }
        fft_in_place(&mut spectrum, true);
        // (P38) ‖ŷ − y‖₁ ≤ η·‖Ŷ‖₂ + ‖Ŷ − Y‖₂, with 1 % for the norms' own rounding.
        let fft_charge = 1.01 * (eta * powered_norm_sq.sqrt() + powered_error_sq.sqrt());
        let scale = 1.0 / len as f64;
        let mut masses = vec![0.0; len];
        let origin = self.first_index * steps as i64;
        for (r, z) in spectrum.iter().enumerate() {
            let slot = (origin + r as i64 - lo).rem_euclid(len as i64) as usize;
            masses[slot] = (z.0 * scale).max(0.0);
        }
        let infinite_mass = -(t * (-self.infinite_mass).ln_1p()).exp_m1();
        Ok(LossDistribution {
            grid_step: self.grid_step,
            first_index: lo,
            masses,
            infinite_mass,
            charged_delta: self.charged_delta * t + above + fft_charge,
        })
    }

    /// (P39) δ(ε) = m_∞ + charged + Σ_{ℓ_k > ε} m_k·(1 − e^{ε − ℓ_k}), summed from the top.
    pub fn delta_for_epsilon(&self, epsilon: f64) -> f64 {
        let mut sum = 0.0;
        for k in (0..self.masses.len()).rev() {
            let loss = self.loss(k);
            if loss <= epsilon {
                break;
            }
            sum += self.masses[k] * -(epsilon - loss).exp_m1();
        }
        self.infinite_mass + self.charged_delta + sum
    }

    /// (P39) The smallest ε ≥ 0 with δ(ε) ≤ δ: on `[ℓ_k, ℓ_{k+1}]` δ(ε) = c + A_k − e^ε·B_k
    /// with `A_k = Σ_{j>k} m_j`, `B_k = Σ_{j>k} m_j e^{−ℓ_j}`, so the crossing is solved in
    /// closed form once a descending scan finds its cell. `+∞` when even the +∞ mass and the
    /// charges exceed δ.
    pub fn epsilon_for_delta(&self, delta: f64) -> f64 {
        let base = self.infinite_mass + self.charged_delta;
        if base > delta {
            return f64::INFINITY;
        }
        let (mut above_mass, mut above_weighted) = (0.0, 0.0);
        for k in (0..self.masses.len()).rev() {
            let loss = self.loss(k);
            let here = base + above_mass - loss.exp() * above_weighted;
            if here > delta {
                let next = self.loss(k + 1);
                let solved = ((base + above_mass - delta) / above_weighted).ln();
                return solved.clamp(loss, next).max(0.0);
            }
            if loss <= 0.0 {
                return 0.0;
            }
            above_mass += self.masses[k];
            above_weighted += self.masses[k] * (-loss).exp();
        }
        0.0
    }
}

/// The ε certified by the PLD accountant, and each direction's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PldSpent {
    /// (P40) `max(ε_remove, ε_add)`.
    pub epsilon: f64,
    /// ε of the remove direction alone.
    pub remove: f64,
    /// ε of the add direction alone.
    pub add: f64,
}

/// The ε of one direction after T steps at mesh h. A mesh m·h (m a positive integer)
/// certifies at least as much (P42), which the σ search's coarse pass uses.
pub fn direction_epsilon(
    sigma: f64,
    q: f64,
    steps: u64,
    delta: f64,
    grid_step: f64,
    direction: Direction,
    rounding: Rounding,
) -> Result<f64, PrivacyError> {
    check_delta(delta)?;
    let one = one_step_distribution(sigma, q, grid_step, direction, rounding)?;
    Ok(one.compose(steps)?.epsilon_for_delta(delta))
}

/// (P40) ε(σ, q, T, δ) by the pessimistic PLD at mesh h: a pair of neighbouring data sets
/// differs in one direction for all T steps, so each direction composes alone and the
/// certified ε is the larger.
pub fn pld_epsilon_with_grid(
    sigma: f64,
    q: f64,
    steps: u64,
    delta: f64,
    grid_step: f64,
) -> Result<PldSpent, PrivacyError> {
    check_steps(steps)?;
    let remove = direction_epsilon(
        sigma,
        q,
        steps,
        delta,
        grid_step,
        Direction::Remove,
        Rounding::Pessimistic,
    )?;
    let add = direction_epsilon(
        sigma,
        q,
        steps,
        delta,
        grid_step,
        Direction::Add,
        Rounding::Pessimistic,
    )?;
    Ok(PldSpent {
        epsilon: remove.max(add),
        remove,
        add,
    })
}

/// [`pld_epsilon_with_grid`] at the [`DEFAULT_GRID_STEP`].
pub fn pld_epsilon(sigma: f64, q: f64, steps: u64, delta: f64) -> Result<PldSpent, PrivacyError> {
    pld_epsilon_with_grid(sigma, q, steps, delta, DEFAULT_GRID_STEP)
}
