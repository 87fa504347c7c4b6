//! Differential privacy for training (notes/privacy.md): the RDP accountant of DP-SGD, the
//! noise-multiplier calibration, Poisson sampling of batches, the DP-SGD settings (`dp_sgd`),
//! the noise and noisy average (`noise`, fed by the counter-based generator of `chacha`; the
//! step itself is [`crate::train_step`], the per-example clipping
//! `glassbox_core::Mlp::backward_clipped`), and the checks that refuse a configuration whose
//! guarantee would not hold.
//!
//! The guarantee is (ε, δ)-differential privacy (P1) with respect to adding or removing one
//! training row; it is certified through Rényi differential privacy (P2), which composes
//! additively over the training steps.
//!
//! ```
//! use glassbox_train::privacy::{SamplingPlan, calibrate_noise_multiplier, epsilon};
//!
//! // Shoppers data (N = 9,864), B = 512, 30 epochs, target (ε, δ) = (1, 1e-5).
//! let plan = SamplingPlan::for_batch_size(9_864, 512).unwrap(); // q = 1/20
//! let steps = plan.steps(30).unwrap(); // 600
//! let sigma = calibrate_noise_multiplier(1.0, 1e-5, plan.rate(), steps).unwrap();
//! assert_eq!(sigma.noise_multiplier, 5.1171875); // as Opacus
//! let spent = epsilon(sigma.noise_multiplier, plan.rate(), steps, 1e-5).unwrap();
//! assert_eq!(spent, sigma.spent);
//! ```

pub mod accountant;
pub mod average;
pub mod calibration;
pub mod chacha;
pub mod dp_sgd;
pub mod elementary;
pub mod fft;
pub mod noise;
pub mod pld;
pub mod sampling;
/// The special functions live in core (one owner; the data crate's quantile-normal needs Φ⁻¹).
pub use glassbox_core::special;
pub mod validate;

pub use accountant::{
    Accountant, Certified, PrivacySpent, default_orders, epsilon, epsilon_from_rdp,
    epsilon_with_orders, rdp_after_steps, sampled_gaussian_rdp,
};
pub use calibration::{
    NoiseCalibration, calibrate_noise_multiplier, calibrate_noise_multiplier_for_epochs,
    calibrate_with, calibration_steps,
};
pub use dp_sgd::{
    ClipSplit, DpMethod, DpRequest, DpSgdConfig, NoiseChoice, PrivacyRecord, plan_dp_sgd,
    plan_dp_sgd_with,
};
pub use noise::add_noise_and_average;
pub use sampling::{PoissonSampler, SamplingPlan, expected_batch_size};
pub use validate::{PrivacyBudget, PrivacyError};
