//! What the privacy code refuses, and why (notes/privacy.md §9, §1): every input that would make
//! the stated guarantee false or meaningless is a typed error with a message that says which
//! value was wrong and what was expected. Nothing is clamped or silently replaced.

use thiserror::Error;

/// Everything the accountant, the calibration and the sampler refuse.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PrivacyError {
    /// ε must be a finite number above 0: ε ≤ 0 promises more than any mechanism with
    /// noise can give, and an infinite ε promises nothing.
    #[error("privacy: ε must be a finite number > 0, got {0}")]
    InvalidEpsilon(f64),
    /// δ must lie strictly between 0 and 1: δ = 0 is pure DP, which the Gaussian mechanism
    /// never satisfies; δ ≥ 1 is no guarantee at all.
    #[error("privacy: δ must be in (0, 1), got {0}")]
    InvalidDelta(f64),
    /// δ ≥ 1/n: publishing each record in full with probability δ is (0, δ)-DP and leaks
    /// n·δ ≥ 1 records in expectation, so such a δ allows leaking a whole record.
    #[error(
        "privacy: δ = {delta} is not below 1/n = {bound} for n = {rows} training rows; \
         a δ ≥ 1/n allows publishing a whole record (choose δ ≪ 1/n, e.g. 1e-5)"
    )]
    DeltaNotBelowInverseRows {
        /// The δ asked for.
        delta: f64,
        /// The number of training rows n.
        rows: usize,
        /// 1/n.
        bound: f64,
    },
    /// The sampling rate must lie in (0, 1]: q = 0 samples nothing, q > 1 is no probability.
    #[error("privacy: the sampling rate q must be in (0, 1], got {0}")]
    InvalidSampleRate(f64),
    /// The noise multiplier σ must be a number ≥ 0 (σ = 0 is allowed and spends ε = ∞).
    #[error("privacy: the noise multiplier σ must be a number ≥ 0, got {0}")]
    InvalidNoiseMultiplier(f64),
    /// A mechanism run 0 times spends nothing and trains nothing: almost surely a mistake.
    #[error("privacy: the number of steps must be at least 1, got 0")]
    ZeroSteps,
    /// Calibration needs at least one epoch.
    #[error("privacy: the number of epochs must be at least 1, got 0")]
    ZeroEpochs,
    /// A Rényi order must be a number above 1 (+∞ allowed).
    #[error("privacy: a Rényi order must be > 1, got {0}")]
    InvalidOrder(f64),
    /// The order list and the RDP values must pair up one to one, and not be empty.
    #[error("privacy: {orders} orders but {values} RDP values (need the same number, at least 1)")]
    OrderCountMismatch {
        /// Number of orders.
        orders: usize,
        /// Number of RDP values.
        values: usize,
    },
    /// The series (P5) became negative after a subtraction: rounding has overtaken the
    /// sum, and the value would be meaningless. Not seen at any tested (σ, q, α).
    #[error(
        "privacy: the RDP series at order {order} (σ = {sigma}, q = {q}) lost all precision \
         (a partial sum became negative)"
    )]
    SeriesLostPrecision {
        /// The order α.
        order: f64,
        /// The noise multiplier σ.
        sigma: f64,
        /// The sampling rate q.
        q: f64,
    },
    /// The series (P5) did not fall below its stopping threshold within the term limit.
    #[error(
        "privacy: the RDP series at order {order} (σ = {sigma}, q = {q}) did not converge \
         in {terms} terms"
    )]
    SeriesDidNotConverge {
        /// The order α.
        order: f64,
        /// The noise multiplier σ.
        sigma: f64,
        /// The sampling rate q.
        q: f64,
        /// Terms summed before giving up.
        terms: usize,
    },
    /// Calibration (P11): even σ above 10⁶ does not bring ε down to the target.
    #[error(
        "privacy: the budget ε = {target_epsilon} is too small for q = {q} and {steps} steps: \
         σ = {sigma} (> 1e6) still spends ε = {epsilon}"
    )]
    BudgetTooSmall {
        /// The target ε.
        target_epsilon: f64,
        /// The sampling rate q.
        q: f64,
        /// The number of steps T.
        steps: u64,
        /// The last σ tried.
        sigma: f64,
        /// The ε it spends.
        epsilon: f64,
    },
    /// Calibration (P11): the bisection ran out of distinct f64 midpoints before ε came
    /// within the tolerance of the target (ε(σ) jumps there).
    #[error(
        "privacy: the noise-multiplier search for ε = {target_epsilon} did not converge: \
         σ in [{sigma_low}, {sigma_high}] after {iterations} bisections"
    )]
    CalibrationDidNotConverge {
        /// The target ε.
        target_epsilon: f64,
        /// Lower end of the last bracket.
        sigma_low: f64,
        /// Upper end of the last bracket.
        sigma_high: f64,
        /// Bisections done.
        iterations: usize,
    },
    /// The PLD accountant (notes/privacy_pld.md, P36) would need an FFT longer than its limit:
    /// the loss range over the steps is too wide for the grid mesh (raise the mesh or use the
    /// RDP accountant).
    #[error(
        "privacy: the PLD accountant needs {points} grid points at mesh {grid_step} \
         (limit {limit}); raise the mesh or use --dp-accountant rdp"
    )]
    PldGridTooLarge {
        /// Points the composed loss window needs.
        points: u64,
        /// The largest FFT length allowed.
        limit: u64,
        /// The grid mesh h.
        grid_step: f64,
    },
    /// The PLD grid mesh must be finite and > 0.
    #[error("privacy: the PLD grid mesh must be a finite number > 0, got {0}")]
    InvalidGridStep(f64),
    /// E·⌈N/B⌉ does not fit in 64 bits.
    #[error("privacy: {epochs} epochs of {steps_per_epoch} steps overflow a 64-bit step count")]
    StepCountOverflow {
        /// Epochs E.
        epochs: u64,
        /// Steps per epoch ⌈N/B⌉.
        steps_per_epoch: usize,
    },
    /// Sampling needs at least one row.
    #[error("privacy: cannot sample batches from 0 rows")]
    NoRows,
    /// A nominal batch size of 0.
    #[error("privacy: the batch size must be at least 1, got 0")]
    ZeroBatchSize,
    /// The expected batch size ⌊N·q⌋ the DP step divides by is 0.
    #[error(
        "privacy: the expected batch size ⌊N·q⌋ is 0 for N = {rows} rows and q = {q}; \
         the DP step would divide by 0 (raise q or use more rows)"
    )]
    EmptyExpectedBatch {
        /// Number of rows N.
        rows: usize,
        /// Sampling rate q.
        q: f64,
    },
    /// The clipping norm C must be a finite number > 0 (the sensitivity of the sum, §2).
    #[error("privacy: the clipping norm C must be a finite number > 0, got {0}")]
    InvalidClipNorm(f64),
    /// A DP run needs exactly one of a target ε and a noise multiplier σ.
    #[error("privacy: give either a target ε or a noise multiplier σ, not both")]
    EpsilonAndNoiseBoth,
    /// Dropout is refused in DP training (issue 16's rule; notes/privacy.md §13).
    #[error("privacy: layer {layer} has dropout {p}; DP training refuses dropout (set it to 0)")]
    Dropout {
        /// The layer.
        layer: usize,
        /// Its drop probability.
        p: f64,
    },
    /// Global-norm clipping of the batch gradient mixes the examples of a batch: one
    /// example's gradient changes every other's scale, so the sensitivity argument fails.
    #[error(
        "privacy: global gradient clipping ({0}) scales the batch gradient by a factor that depends on every example; DP-SGD clips each example instead (--dp-clip)"
    )]
    GlobalClipping(f64),
    /// The accountant assumes Poisson sampling; a fixed order or a shuffle into fixed-size
    /// batches is another mechanism.
    #[error(
        "privacy: the accountant assumes Poisson sampling (each row joins each batch with probability q), but the run asks for {0}; DP training samples its own batches"
    )]
    NotPoissonSampling(&'static str),
    /// Early stopping on the training loss reads the training rows outside the private step.
    #[error(
        "privacy: early stopping on the training loss reads the training rows outside the private step; monitor a validation value instead"
    )]
    MonitorsTrainingRows,
    /// A run whose ε is infinite (σ = 0, or so little noise that no order gives a finite
    /// bound) certifies no privacy: refused for training.
    #[error("privacy: σ = {0} certifies no privacy (ε = ∞); choose σ > 0 or a target ε")]
    NoPrivacy(f64),
    /// `--dp-accountant` without private training: nothing to account.
    #[error(
        "privacy: --dp-accountant {0} needs private training: give --dp-epsilon ε or --dp-noise σ"
    )]
    AccountantWithoutPrivacy(&'static str),
    /// Class weights computed from the training labels are a statistic of the training
    /// rows that the accountant does not charge.
    #[error(
        "privacy: balanced class weights are computed from the training labels, which the accountant does not charge; use --class-weight none"
    )]
    ClassWeightsFromData,
    /// The decay β of the averaged iterates (P28) must be in [0, 1): β = 1 never moves.
    #[error("privacy: the averaging decay β must be in [0, 1), got {0}")]
    InvalidAverageDecay(f64),
    /// The warm-up of the averaging's decay (P29) without a decay to warm up to.
    #[error("privacy: the warm-up of the averaging decay needs a decay β (--dp-average)")]
    WarmupWithoutAverage,
    /// γ of automatic clipping (P30) must be positive and finite.
    #[error("privacy: automatic clipping needs γ > 0 and finite, got {0}")]
    InvalidAutomaticClip(f64),
    /// γ of DP-AdamBC (P31) must be positive and finite.
    #[error("privacy: DP-AdamBC needs a floor γ > 0 and finite, got {0}")]
    InvalidAdamBiasCorrection(f64),
    /// DP-AdamBC (P31) corrects Adam's second moment; the optimizer has none.
    #[error(
        "privacy: the bias correction of DP-AdamBC needs the Adam optimizer (--optimizer adam)"
    )]
    BiasCorrectionNeedsAdam,
    /// Automatic clipping (P30) and per-layer clipping (P32) are two rules for the same
    /// factor; the step applies one.
    #[error(
        "privacy: automatic clipping (--dp-clip-automatic) and per-layer clipping (--dp-clip-per-layer) exclude each other"
    )]
    TwoClipRules,
}

/// Checks ε: finite and > 0.
pub fn check_epsilon(epsilon: f64) -> Result<(), PrivacyError> {
    if epsilon > 0.0 && epsilon.is_finite() {
        Ok(())
    } else {
        Err(PrivacyError::InvalidEpsilon(epsilon))
    }
}

/// Checks δ alone: 0 < δ < 1 (the accountant's domain; see [`check_delta_for_rows`] for
/// the bound that depends on the data).
pub fn check_delta(delta: f64) -> Result<(), PrivacyError> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(PrivacyError::InvalidDelta(delta))
    }
}

/// Checks δ against the training set: 0 < δ < 1/n.
pub fn check_delta_for_rows(delta: f64, rows: usize) -> Result<(), PrivacyError> {
    check_delta(delta)?;
    if rows == 0 {
        return Err(PrivacyError::NoRows);
    }
    let bound = 1.0 / rows as f64;
    if delta < bound {
        Ok(())
    } else {
        Err(PrivacyError::DeltaNotBelowInverseRows { delta, rows, bound })
    }
}

/// Checks a sampling rate for training and accounting: 0 < q ≤ 1.
pub fn check_sample_rate(q: f64) -> Result<(), PrivacyError> {
    if q > 0.0 && q <= 1.0 {
        Ok(())
    } else {
        Err(PrivacyError::InvalidSampleRate(q))
    }
}

/// Checks a noise multiplier: σ ≥ 0 and finite.
pub fn check_noise_multiplier(sigma: f64) -> Result<(), PrivacyError> {
    if sigma >= 0.0 && sigma.is_finite() {
        Ok(())
    } else {
        Err(PrivacyError::InvalidNoiseMultiplier(sigma))
    }
}

/// Checks a clipping norm: C finite and > 0.
pub fn check_clip_norm(c: f64) -> Result<(), PrivacyError> {
    if c > 0.0 && c.is_finite() {
        Ok(())
    } else {
        Err(PrivacyError::InvalidClipNorm(c))
    }
}

/// Checks a step count: T ≥ 1.
pub fn check_steps(steps: u64) -> Result<(), PrivacyError> {
    if steps == 0 {
        Err(PrivacyError::ZeroSteps)
    } else {
        Ok(())
    }
}

/// A target (ε, δ) checked against the training set it will protect: ε finite and > 0,
/// 0 < δ < 1/n. The fields are private so that every budget in the program has passed the
/// checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacyBudget {
    epsilon: f64,
    delta: f64,
}

impl PrivacyBudget {
    /// Checks and builds the budget for a training set of `rows` rows.
    ///
    /// ```
    /// use glassbox_train::privacy::{PrivacyBudget, PrivacyError};
    ///
    /// assert!(PrivacyBudget::new(3.0, 1e-5, 9_864).is_ok());
    /// assert_eq!(PrivacyBudget::new(0.0, 1e-5, 9_864), Err(PrivacyError::InvalidEpsilon(0.0)));
    /// assert!(matches!(
    ///     PrivacyBudget::new(3.0, 1e-3, 9_864),
    ///     Err(PrivacyError::DeltaNotBelowInverseRows { rows: 9_864, .. })
    /// ));
    /// ```
    pub fn new(epsilon: f64, delta: f64, rows: usize) -> Result<Self, PrivacyError> {
        check_epsilon(epsilon)?;
        check_delta_for_rows(delta, rows)?;
        Ok(Self { epsilon, delta })
    }

    /// The target ε.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The target δ.
    pub fn delta(&self) -> f64 {
        self.delta
    }
}
