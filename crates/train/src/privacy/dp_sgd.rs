//! DP-SGD (notes/privacy.md §12): the settings a private run trains with, how they are planned
//! from a budget (ε, δ) or a noise multiplier, the Gaussian noise, and the noisy average the
//! optimizer steps on. The step itself is [`crate::train_step`]; the batches come from the
//! Poisson sampler of [`super::sampling`].
//!
//! ```
//! use glassbox_train::privacy::dp_sgd::{DpRequest, NoiseChoice, plan_dp_sgd};
//!
//! // The shoppers training file, B = 512 (q = 1/20), 30 epochs, (ε, δ) = (1, 1e-5), C = 2.
//! let request = DpRequest { noise: NoiseChoice::TargetEpsilon(1.0), delta: 1e-5, clip_norm: 2.0 };
//! let (config, record) = plan_dp_sgd(&request, 9_864, 512, 30, 1).unwrap();
//! assert_eq!(config.noise_multiplier, 5.1171875); // as Opacus
//! assert_eq!((record.steps, record.expected_batch_size), (600, 493));
//! assert!(record.epsilon <= 1.0);
//! ```

use glassbox_core::{Float, Rng};
use serde::{Deserialize, Serialize};

use rand::RngCore;

use super::elementary::{exp, ln};
use super::sampling::{SamplingPlan, UNIT_GRID, unit_uniform};
use super::validate::{
    PrivacyError, check_clip_norm, check_delta_for_rows, check_epsilon, check_noise_multiplier,
    check_sample_rate,
};
use super::{calibrate_noise_multiplier, epsilon};

/// What the records name as the accountant.
pub const ACCOUNTANT: &str = "RDP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019), \
     Opacus's 151 orders, converted to (ε, δ) by Balle et al. 2020, Thm 21";

/// The DP-SGD settings of a training run, as its manifest records them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpSgdConfig {
    /// σ: the noise added to the sum of clipped gradients has standard deviation σ·C.
    pub noise_multiplier: f64,
    /// C: each example's gradient (all parameters, one norm) is clipped to L2 norm ≤ C.
    pub clip_norm: f64,
    /// q: each row joins each step's batch independently with probability q (P13).
    pub sample_rate: f64,
    /// Steps per epoch, ⌈N/B⌉ = 1/q (P14).
    pub steps_per_epoch: usize,
    /// ⌊N·q⌋, what the noisy sum is divided by (P14, P23); the trainer checks it against
    /// its training rows.
    pub expected_batch_size: usize,
}

impl DpSgdConfig {
    /// Checks σ ≥ 0, C > 0, 0 < q ≤ 1, at least one step per epoch.
    ///
    /// # Errors
    /// The [`PrivacyError`] naming the value.
    pub fn validate(&self) -> Result<(), PrivacyError> {
        check_noise_multiplier(self.noise_multiplier)?;
        check_clip_norm(self.clip_norm)?;
        check_sample_rate(self.sample_rate)?;
        if self.steps_per_epoch == 0 {
            return Err(PrivacyError::ZeroSteps);
        }
        if self.expected_batch_size == 0 {
            return Err(PrivacyError::EmptyExpectedBatch {
                rows: 0,
                q: self.sample_rate,
            });
        }
        Ok(())
    }
}

/// How σ is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoiseChoice {
    /// Calibrate σ so that the run spends at most this ε (P11).
    TargetEpsilon(f64),
    /// Train with this σ and report the ε it spends.
    NoiseMultiplier(f64),
}

/// A request for private training: the noise, δ and the clipping norm C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpRequest {
    /// A target ε or a given σ.
    pub noise: NoiseChoice,
    /// δ, below 1/N.
    pub delta: f64,
    /// C.
    pub clip_norm: f64,
}

/// What a private run spends and how: written into the bundle, `training.json`, `inspect`
/// and the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyRecord {
    /// The ε asked for, when σ was calibrated to it.
    pub target_epsilon: Option<f64>,
    /// The ε the accountant certifies for all the steps of all the runs (P9).
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// σ.
    pub noise_multiplier: f64,
    /// C.
    pub clip_norm: f64,
    /// q = 1/⌈N/B⌉.
    pub sample_rate: f64,
    /// N, the rows the guarantee protects.
    pub rows: usize,
    /// The nominal batch size B the rate came from.
    pub batch_size: usize,
    /// ⌊N·q⌋, what the noisy sum is divided by.
    pub expected_batch_size: usize,
    /// Steps of one network: E·⌈N/B⌉ (fewer if early stopping ends it; ε is then an upper
    /// bound).
    pub steps_per_run: u64,
    /// Networks trained on the same rows (ensemble members); their steps compose.
    pub runs: usize,
    /// T = runs · steps per run, the steps the accountant charges.
    pub steps: u64,
    /// The Rényi order at which ε is reached.
    pub optimal_order: f64,
    /// The accountant.
    pub accountant: String,
}

/// Plans a private run of `runs` networks, each trained for `epochs` epochs on the same
/// `rows` rows with nominal batch size `batch_size`: q = 1/⌈N/B⌉ (P14), T = runs·E·⌈N/B⌉
/// (RDP composes over the runs as over the steps, P8), and σ calibrated to the target ε
/// (P11) or the ε that a given σ spends (P9).
///
/// # Errors
/// ε ≤ 0, δ ∉ (0, 1/N), C ≤ 0, σ < 0, an infinite ε (σ = 0), 0 epochs or runs,
/// ⌊N·q⌋ = 0, or a budget no σ meets.
pub fn plan_dp_sgd(
    request: &DpRequest,
    rows: usize,
    batch_size: usize,
    epochs: usize,
    runs: usize,
) -> Result<(DpSgdConfig, PrivacyRecord), PrivacyError> {
    check_delta_for_rows(request.delta, rows)?;
    check_clip_norm(request.clip_norm)?;
    let plan = SamplingPlan::for_batch_size(rows, batch_size)?;
    let steps_per_run = plan.steps(epochs as u64)?;
    let steps = steps_per_run
        .checked_mul(runs as u64)
        .filter(|&t| t > 0)
        .ok_or(PrivacyError::ZeroSteps)?;
    let q = plan.rate();
    let (sigma, spent, target) = match request.noise {
        NoiseChoice::TargetEpsilon(eps) => {
            check_epsilon(eps)?;
            let cal = calibrate_noise_multiplier(eps, request.delta, q, steps)?;
            (cal.noise_multiplier, cal.spent, Some(eps))
        }
        NoiseChoice::NoiseMultiplier(sigma) => {
            check_noise_multiplier(sigma)?;
            (sigma, epsilon(sigma, q, steps, request.delta)?, None)
        }
    };
    if !spent.epsilon.is_finite() {
        return Err(PrivacyError::NoPrivacy(sigma));
    }
    let config = DpSgdConfig {
        noise_multiplier: sigma,
        clip_norm: request.clip_norm,
        sample_rate: q,
        steps_per_epoch: plan.steps_per_epoch(),
        expected_batch_size: plan.expected_batch_size(),
    };
    let record = PrivacyRecord {
        target_epsilon: target,
        epsilon: spent.epsilon,
        delta: request.delta,
        noise_multiplier: sigma,
        clip_norm: request.clip_norm,
        sample_rate: q,
        rows,
        batch_size,
        expected_batch_size: plan.expected_batch_size(),
        steps_per_run,
        runs,
        steps,
        optimal_order: spent.optimal_order,
        accountant: ACCOUNTANT.into(),
    };
    Ok((config, record))
}

/// The ziggurat's layers (Doornik 2005, "An improved ziggurat method to generate normal
/// random samples", ZIGNOR): 128 layers of equal area V under the standard normal density's
/// unnormalised form `f(x) = e^{−x²/2}`, the base layer's right edge at R.
const ZIGGURAT_LAYERS: usize = 128;
const ZIGGURAT_R: f64 = 3.442_619_855_899;
const ZIGGURAT_V: f64 = 9.912_563_035_262_17e-3;

/// (P22) The layer edges `x₀ = V/f(R)` (the base layer as a rectangle of the same area),
/// `x₁ = R`, `xᵢ = √(−2 ln(V/xᵢ₋₁ + f(xᵢ₋₁)))`, `x₁₂₈ = 0`, the ratios `xᵢ₊₁/xᵢ` and the
/// density at the edges `f(xᵢ)`.
struct Ziggurat {
    x: [f64; ZIGGURAT_LAYERS + 1],
    ratio: [f64; ZIGGURAT_LAYERS],
    density: [f64; ZIGGURAT_LAYERS + 1],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLE: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let f = |x: f64| exp(-0.5 * x * x);
        let mut x = [0.0; ZIGGURAT_LAYERS + 1];
        x[0] = ZIGGURAT_V / f(ZIGGURAT_R);
        x[1] = ZIGGURAT_R;
        for i in 2..ZIGGURAT_LAYERS {
            x[i] = (-2.0 * ln(ZIGGURAT_V / x[i - 1] + f(x[i - 1]))).sqrt();
        }
        let ratio = std::array::from_fn(|i| x[i + 1] / x[i]);
        let density = x.map(f);
        Ziggurat { x, ratio, density }
    })
}

/// (P22) One standard normal draw by the ziggurat method (Marsaglia & Tsang 2000, in
/// Doornik's 2005 form). Each attempt takes one 64-bit word: its top 53 bits give
/// `u ∈ [−1, 1)`, its low 7 bits the layer i. Inside layer i's rectangle (`|u| < xᵢ₊₁/xᵢ`,
/// about 99 % of draws) the result is `u·xᵢ`; the base layer's overhang is the tail beyond R
/// (Marsaglia's tail method, two more words per try); elsewhere `x = u·xᵢ` is accepted when
/// one more uniform falls under the density between the layer's edges. Exact for the normal
/// law up to the f64 grid of u; no trigonometry, and `ln`/`exp` (the hand-written ones of
/// [`super::elementary`], P25–P26, so the bits do not depend on the C library) only off the
/// rectangles.
pub fn standard_normal(rng: &mut Rng) -> f64 {
    let word = rng.next_u64();
    normal_from_word(ziggurat(), word, rng)
}

/// (P22) The draw whose first attempt is `word`; any further attempt takes its words from
/// `rng`.
#[inline(always)]
fn normal_from_word(table: &Ziggurat, word: u64, rng: &mut Rng) -> f64 {
    let u = 2.0 * ((word >> 11) as f64 * UNIT_GRID) - 1.0;
    let i = (word & (ZIGGURAT_LAYERS as u64 - 1)) as usize;
    if u.abs() < table.ratio[i] {
        return u * table.x[i];
    }
    normal_off_rectangle(table, u, i, rng)
}

/// (P22) The attempts that fall outside layer i's rectangle (about 1 %): the tail, or the
/// wedge test — `x = u·xᵢ` is kept when a uniform point between the densities at the layer's
/// edges, `f(xᵢ₊₁) + u′·(f(xᵢ) − f(xᵢ₊₁))`, falls below `f(x)` — then new attempts until one
/// is accepted.
#[cold]
fn normal_off_rectangle(table: &Ziggurat, mut u: f64, mut i: usize, rng: &mut Rng) -> f64 {
    loop {
        if i == 0 {
            return normal_tail(rng, u < 0.0);
        }
        let x = u * table.x[i];
        let (f0, f1) = (table.density[i], table.density[i + 1]);
        if f1 + unit_uniform(rng) * (f0 - f1) < exp(-0.5 * x * x) {
            return x;
        }
        let word = rng.next_u64();
        u = 2.0 * ((word >> 11) as f64 * UNIT_GRID) - 1.0;
        i = (word & (ZIGGURAT_LAYERS as u64 - 1)) as usize;
        if u.abs() < table.ratio[i] {
            return u * table.x[i];
        }
    }
}

/// The normal tail beyond R (Marsaglia 1964): `x = ln(u₁)/R`, `y = ln(u₂)` with
/// `u₁, u₂ ∈ (0, 1]`, until `−2y ≥ x²`; the draw is `R − x` (negated for the left tail).
fn normal_tail(rng: &mut Rng, negative: bool) -> f64 {
    loop {
        let x = ln(1.0 - unit_uniform(rng)) / ZIGGURAT_R;
        let y = ln(1.0 - unit_uniform(rng));
        if -2.0 * y >= x * x {
            return if negative {
                x - ZIGGURAT_R
            } else {
                ZIGGURAT_R - x
            };
        }
    }
}

/// The coordinates whose first words (P22) are drawn in one block (2 KiB of ChaCha8 output).
const NOISE_BLOCK: usize = 256;

/// (P23) The privatised gradient, in place: `g ← (g + σC·z)/⌊N·q⌋` for every coordinate,
/// with `z ~ N(0, 1)` drawn by (P22) in parameter order on the calling thread — the noise
/// depends on the RNG state alone, never on the thread count. `g` holds the sum of the
/// clipped per-example gradients (P21); the sum is taken in f64 and rounded once to `T`.
///
/// The words are drawn in blocks of 256 coordinates: first the 256 first-attempt words
/// (little-endian, in coordinate order), then, in coordinate order, the extra words of the
/// few draws that fall off their rectangle. Drawing a block at once lets the generator fill
/// memory at full speed instead of being asked one word at a time.
pub fn add_noise_and_average<T: Float>(
    grads: &mut [T],
    noise_std: f64,
    expected_batch: usize,
    rng: &mut Rng,
) {
    let table = ziggurat();
    let inv = 1.0 / expected_batch as f64;
    let mut block = [0u8; 8 * NOISE_BLOCK];
    for coordinates in grads.chunks_mut(NOISE_BLOCK) {
        let bytes = &mut block[..8 * coordinates.len()];
        rng.fill_bytes(bytes);
        for (g, word) in coordinates.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(word);
            let z = normal_from_word(table, u64::from_le_bytes(le), rng);
            *g = T::from_f64((g.to_f64() + noise_std * z) * inv);
        }
    }
}
