//! Binary focal loss from logits (Lin et al. 2017, torchvision's `sigmoid_focal_loss`),
//! forward and backward side by side (notes/losses.md §7, L15–L17).
//!
//! [`LossKind::Focal`](super::LossKind::Focal) of the recipes (`--loss focal`), checked
//! against PyTorch and a finite-difference gradient.

use glassbox_core::{Float, sigmoid};
use ndarray::{ArrayView2, ArrayViewMut2};

use super::{Weighting, bce_logits_elem, elementwise};

/// The focal loss's settings: the focusing exponent `γ ≥ 0` and the optional positive-class
/// weight `α ∈ [0, 1]` (torchvision's default is γ = 2, α = 0.25; γ = 0 without α is BCE).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Focal {
    pub gamma: f64,
    pub alpha: Option<f64>,
}

impl Focal {
    /// γ = 2 without α: the focusing of Lin et al. without re-weighting the classes (the
    /// recipes' class weights do that).
    pub const DEFAULT: Focal = Focal {
        gamma: 2.0,
        alpha: None,
    };

    /// Checks `γ ≥ 0` finite and `α ∈ [0, 1]`.
    ///
    /// # Errors
    /// [`LossError::FocalSettings`](super::LossError::FocalSettings) naming the bad value.
    pub fn validate(&self) -> Result<(), super::LossError> {
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(super::LossError::FocalSettings(format!(
                "γ = {} (--focal-gamma): it must be a finite number ≥ 0",
                self.gamma
            )));
        }
        if let Some(a) = self.alpha
            && !(0.0..=1.0).contains(&a)
        {
            return Err(super::LossError::FocalSettings(format!(
                "α = {a} (--focal-alpha): it must lie in [0, 1]"
            )));
        }
        Ok(())
    }
}

/// One element: `(ℓ, ∂ℓ/∂z)` of (L15)–(L17).
#[inline]
fn focal_elem<T: Float>(z: T, y: T, gamma: T, alpha: Option<T>) -> (T, T) {
    let one = T::one();
    // (L15) ce = softplus(z) − z·y (stable form of L5), ∂ce/∂z = σ(z) − y (L6).
    let (ce, d_ce) = bce_logits_elem(z, y, None);
    let p = sigmoid(z);
    let q = sigmoid(-z); // 1 − p without cancellation
    // (L16) m = 1 − p_t = y·(1 − p) + (1 − y)·p, ∂m/∂z = −p(1 − p)(2y − 1).
    let m = y * q + (one - y) * p;
    let dm = -(p * q) * (y + y - one);
    let mg = if m == T::zero() {
        T::zero()
    } else {
        m.powf(gamma)
    };
    // ∂(m^γ)/∂z = γ·m^{γ−1}·∂m/∂z; at m = 0 the product with ce (also 0 there) vanishes.
    let dmg = if m == T::zero() || gamma == T::zero() {
        T::zero()
    } else {
        gamma * m.powf(gamma - one) * dm
    };
    let a = alpha.map_or(one, |a| a * y + (one - a) * (one - y));
    // (L17) ℓ = α_t·ce·m^γ, ∂ℓ/∂z = α_t·(∂ce/∂z·m^γ + ce·∂(m^γ)/∂z).
    let l = a * ce * if gamma == T::zero() { one } else { mg };
    let dl = a * (d_ce * if gamma == T::zero() { one } else { mg } + ce * dmg);
    (l, dl)
}

/// Focal loss of logits `z` (N, O) against targets `y` in [0, 1], averaged like (L3):
/// `L = (1/(N·O)) Σ_n w_n Σ_o ℓ_no`, adding `∂L/∂z` into `d_z` if given. Returns L.
///
/// # Panics
/// If the shapes differ, N = 0, or the sample weights do not have N entries.
pub fn focal_with_logits<T: Float>(
    z: ArrayView2<T>,
    y: ArrayView2<T>,
    focal: Focal,
    weighting: &Weighting<T>,
    d_z: Option<ArrayViewMut2<T>>,
) -> f64 {
    let gamma = T::from_f64(focal.gamma);
    let alpha = focal.alpha.map(T::from_f64);
    elementwise(
        "focal_with_logits",
        ("z", "y"),
        z,
        y,
        weighting,
        d_z,
        |z, y| focal_elem(z, y, gamma, alpha),
    )
}
