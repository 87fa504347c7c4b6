//! The equation tags and formulas a trace prints beside its numbers: which equation of
//! notes/ an activation, a loss or an optimizer step is (B…, L…, O…).

use glassbox_core::Activation;
use glassbox_train::{LossConfig, LossKind, OptimizerConfig};

use crate::sig;

/// `n` as Unicode subscript digits (`12` → `₁₂`).
pub(super) fn sub(n: usize) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect()
}

/// The equation of an activation's value and derivative (notes/backprop.md §2).
pub(super) fn activation_eq(a: Activation, backward: bool) -> &'static str {
    match a {
        Activation::Identity => "B7",
        Activation::Relu => "B8",
        Activation::LeakyRelu { .. } => "B9",
        Activation::Sigmoid => "B10",
        Activation::Tanh => "B11",
        Activation::Softmax if backward => "B13",
        Activation::Softmax => "B12",
    }
}

/// `f′` in words for the backward formula.
pub(super) fn derivative_text(a: Activation, l: &str) -> String {
    match a {
        Activation::Identity => "1".into(),
        Activation::Relu => format!("1[Z{l} > 0]"),
        Activation::LeakyRelu { alpha } => format!("(1 if Z{l} > 0 else {alpha})"),
        Activation::Sigmoid => format!("Y{l}(1 − Y{l})"),
        Activation::Tanh => format!("(1 − Y{l}²)"),
        Activation::Softmax => format!("softmax Jacobian at Y{l}"),
    }
}

/// The equations of the loss value and of its gradient (notes/losses.md).
pub(super) fn loss_eqs(
    loss: &LossConfig,
) -> (&'static str, &'static str, &'static str, &'static str) {
    // (value formula, value eq, gradient formula, gradient eq)
    match (loss.kind, loss.pos_weight.is_some()) {
        (LossKind::Mse, _) => (
            "(1/(N·O)) Σ w_n (ŷ − y)²",
            "L1",
            "2·w_n·(ŷ − y)/(N·O)",
            "L2",
        ),
        (LossKind::BceWithLogits, false) => (
            "(1/(N·O)) Σ w_n [max(z, 0) − z·y + ln(1 + e^{−|z|})]",
            "L5, L3",
            "w_n·(σ(z) − y)/(N·O)",
            "L6, L3",
        ),
        (LossKind::BceWithLogits, true) => (
            "(1/(N·O)) Σ w_n ℓ_p(z, y)",
            "L7, L3",
            "w_n·(c·σ(z) − p·y)/(N·O)",
            "L8, L3",
        ),
        (LossKind::BceKeras, _) => (
            "(1/(N·O)) Σ w_n −[y ln p̃ + (1 − y) ln(1 − p̃)]",
            "L9, L3",
            "w_n·(−y/p̃ + (1 − y)/(1 − p̃))/(N·O), 0 outside the clip",
            "L10, L11",
        ),
        (LossKind::SoftmaxCrossEntropy, _) => (
            "(1/N) Σ w_n Σ_o y_o (lse(z) − z_o)",
            "L12, L14",
            "w_n·(softmax(z) − y)/N",
            "L13, L14",
        ),
        (LossKind::MseLog1p, _) => (
            "(1/N) Σ w_n (a − ln(1 + y))²",
            "C1",
            "2·w_n·(a − ln(1 + y))/N",
            "C1",
        ),
        (LossKind::HuberLog1p, _) => (
            "(1/N) Σ w_n huber_δ(a − ln(1 + y))",
            "C3",
            "w_n·clip(a − ln(1 + y), −δ, δ)/N",
            "C3",
        ),
        (LossKind::Focal, _) => (
            "(1/(N·O)) Σ w_n α_t·(1 − p_t)^γ·[max(z, 0) − z·y + ln(1 + e^{−|z|})]",
            "L15, L17, L3",
            "w_n·α_t·(∂ce/∂z·m^γ + ce·γ·m^{γ−1}·∂m/∂z)/(N·O)",
            "L16, L17",
        ),
        (LossKind::Ziln, _) => (
            "(1/N) Σ w_n [BCE(z, q) + q·NLL_lognormal(y; μ, σ)]",
            "C4, C5",
            "w_n·(σ(z) − q, −q(ln y − μ)/σ², q(1/σ − (ln y − μ)²/σ³)σ′(s))/N",
            "C6",
        ),
    }
}

/// The optimizer in one line with its form and hyper-parameters, 13 significant digits:
/// `Adam, PyTorch form (lr 0.1, β₁ 0.9, β₂ 0.999, ε 1e-8)`.
pub fn optimizer_name(c: &OptimizerConfig) -> String {
    c.heading(|x| sig(x, 13))
}
