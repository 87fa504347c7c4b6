//! DP-SGD (notes/privacy.md §12): the settings a private run trains with and how they are
//! planned from a budget (ε, δ) or a noise multiplier. The step itself is
//! [`crate::train_step`]; the batches come from the Poisson sampler of [`super::sampling`],
//! the noise and the noisy average from [`super::noise`].
//!
//! ```
//! use glassbox_train::privacy::dp_sgd::{DpMethod, DpRequest, NoiseChoice, plan_dp_sgd};
//!
//! // The shoppers training file, B = 512 (q = 1/20), 30 epochs, (ε, δ) = (1, 1e-5), C = 2.
//! let request = DpRequest {
//!     noise: NoiseChoice::TargetEpsilon(1.0),
//!     delta: 1e-5,
//!     clip_norm: 2.0,
//!     method: DpMethod::default(),
//! };
//! let (config, record) = plan_dp_sgd(&request, 9_864, 512, 30, 1).unwrap();
//! assert_eq!(config.noise_multiplier, 5.1171875); // as Opacus
//! assert_eq!((record.steps, record.expected_batch_size), (600, 493));
//! assert!(record.epsilon <= 1.0);
//! ```

use glassbox_core::{ClipRule, LayerBudget};
use serde::{Deserialize, Serialize};

use super::accountant::Accountant;
use super::average::check_average_decay;
use super::calibration::calibrate_with;
use super::sampling::SamplingPlan;
use super::validate::{
    PrivacyError, check_clip_norm, check_delta_for_rows, check_epsilon, check_noise_multiplier,
    check_sample_rate,
};
use crate::optim::NoiseCorrection;

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
    /// The method's options beside σ and C (P28–P31), under the same keys.
    #[serde(flatten)]
    pub method: DpMethod,
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
        self.method.validate()
    }

    /// DP-AdamBC's correction for this run (P31): Φ = (σC/B)² with B the expected batch
    /// size that the noisy sum is divided by (P23), and the floor γ; none without the option.
    pub fn noise_correction(&self) -> Option<NoiseCorrection> {
        self.method.adam_bias_correction.map(|floor| {
            let std = self.noise_multiplier * self.clip_norm / self.expected_batch_size as f64;
            NoiseCorrection {
                variance: std * std,
                floor,
            }
        })
    }

    /// The per-example bound of the step: P20, P30 with its γ, or P32 with its split (P33).
    pub fn clip_rule(&self) -> ClipRule {
        match (self.method.automatic_clip, self.method.clip_per_layer) {
            (Some(gamma), _) => ClipRule::Automatic { gamma },
            (None, Some(split)) => ClipRule::PerLayer(split.into()),
            (None, None) => ClipRule::Flat,
        }
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
    /// The method's options beside σ and C (P28–P31).
    pub method: DpMethod,
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
    /// The Rényi order at which ε is reached (RDP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimal_order: Option<f64>,
    /// The accountant, in words.
    pub accountant: String,
    /// Which accountant and its parameters (notes/privacy_pld.md §6); RDP when absent.
    #[serde(default)]
    pub accounting: Accountant,
    /// The method's options beside σ and C (P28–P31), under the same keys (each one
    /// post-processing or a clip of the same sensitivity: no privacy spent).
    #[serde(flatten)]
    pub method: DpMethod,
}

/// The method's options beside σ, C and q (P28–P31): one owner for the request, the config,
/// the record and the recipe, flattened into each one's JSON under these keys (absent when
/// unset, so records written before an option existed still read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DpMethod {
    /// β of the averaged iterates (P28): the model a run ends with is the exponential moving
    /// average of its iterates with this decay; none: the last iterate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_decay: Option<f64>,
    /// Whether the decay warms up as `min(β, (1 + t)/(10 + t))` (P29) instead of staying β
    /// with P28's debiasing; only with `average_decay`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub average_warmup: bool,
    /// γ of automatic clipping (P30): each example's gradient scaled by C/(‖gᵢ‖ + γ)
    /// instead of min(1, C/‖gᵢ‖) (P20); none: P20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_clip: Option<f64>,
    /// γ of DP-AdamBC (P31): Adam's `v̂` less the noise variance (σC/B)², floored at γ;
    /// none: plain Adam. Only with Adam.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_bias_correction: Option<f64>,
    /// Per-layer clipping (P32) with this split of C² over the layers (P33); none: one flat
    /// norm per example. Not with automatic clipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_per_layer: Option<ClipSplit>,
}

/// How per-layer clipping splits C² over the layers (P33), as recorded: `"equal"` or
/// `"params"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipSplit {
    /// `C_l = C·√(1/L)`.
    Equal,
    /// `C_l = C·√(P_l/P)`, `P_l` the parameters of layer l.
    Params,
}

impl From<ClipSplit> for LayerBudget {
    fn from(split: ClipSplit) -> Self {
        match split {
            ClipSplit::Equal => LayerBudget::Equal,
            ClipSplit::Params => LayerBudget::Params,
        }
    }
}

impl DpMethod {
    /// Checks the averaging's β in [0, 1) (P28), its warm-up (P29) only with a β, the γ of
    /// automatic clipping (P30) and of DP-AdamBC (P31) positive and finite, and at most one
    /// of automatic (P30) and per-layer (P32) clipping.
    ///
    /// # Errors
    /// [`PrivacyError::InvalidAverageDecay`], [`PrivacyError::WarmupWithoutAverage`],
    /// [`PrivacyError::InvalidAutomaticClip`] or [`PrivacyError::InvalidAdamBiasCorrection`]
    /// naming γ, [`PrivacyError::TwoClipRules`].
    pub fn validate(&self) -> Result<(), PrivacyError> {
        match self.average_decay {
            Some(beta) => check_average_decay(beta)?,
            None if self.average_warmup => return Err(PrivacyError::WarmupWithoutAverage),
            None => {}
        }
        let bad = |gamma: &f64| !(*gamma > 0.0 && gamma.is_finite());
        if let Some(gamma) = self.automatic_clip.filter(bad) {
            return Err(PrivacyError::InvalidAutomaticClip(gamma));
        }
        if self.automatic_clip.is_some() && self.clip_per_layer.is_some() {
            return Err(PrivacyError::TwoClipRules);
        }
        match self.adam_bias_correction.filter(bad) {
            Some(gamma) => Err(PrivacyError::InvalidAdamBiasCorrection(gamma)),
            None => Ok(()),
        }
    }
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
    plan_dp_sgd_with(Accountant::Rdp, request, rows, batch_size, epochs, runs)
}

/// [`plan_dp_sgd`] with ε certified, and σ calibrated, by `accountant` (P41).
///
/// # Errors
/// As [`plan_dp_sgd`], and a bad PLD mesh.
pub fn plan_dp_sgd_with(
    accountant: Accountant,
    request: &DpRequest,
    rows: usize,
    batch_size: usize,
    epochs: usize,
    runs: usize,
) -> Result<(DpSgdConfig, PrivacyRecord), PrivacyError> {
    check_delta_for_rows(request.delta, rows)?;
    check_clip_norm(request.clip_norm)?;
    request.method.validate()?;
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
            let cal = calibrate_with(accountant, eps, request.delta, q, steps)?;
            (cal.noise_multiplier, cal.spent, Some(eps))
        }
        NoiseChoice::NoiseMultiplier(sigma) => {
            check_noise_multiplier(sigma)?;
            let spent = accountant.spend(sigma, q, steps, request.delta)?;
            (sigma, spent, None)
        }
    };
    if !spent.epsilon().is_finite() {
        return Err(PrivacyError::NoPrivacy(sigma));
    }
    let config = DpSgdConfig {
        noise_multiplier: sigma,
        clip_norm: request.clip_norm,
        sample_rate: q,
        steps_per_epoch: plan.steps_per_epoch(),
        expected_batch_size: plan.expected_batch_size(),
        method: request.method,
    };
    let record = PrivacyRecord {
        target_epsilon: target,
        epsilon: spent.epsilon(),
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
        optimal_order: spent.optimal_order(),
        accountant: accountant.description(),
        accounting: accountant,
        method: request.method,
    };
    Ok((config, record))
}
