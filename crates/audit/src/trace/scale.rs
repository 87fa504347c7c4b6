//! Per-feature scaling in a trace (notes/tabular.md N1–N2 as the trace shows them,
//! notes/backprop.md §13, B31–B32): s among the given numbers, X̃ = X ⊙ s read from the
//! engine's forward cache, and ∂L/∂s and the scaling's share of ∂L/∂X recomputed from the
//! captured ∂L/∂X̃ by the engine's own [`feature_scale_backward`] and checked bit for bit
//! against the MLP's backward.

use glassbox_core::{
    InputLayerSpec, Mlp, TensorInfo, feature_scale_backward, feature_scale_forward,
};
use ndarray::{Array2, ArrayView2};

use super::{Origin, Quantity};
use crate::AuditError;

/// The scaling layer of a network that starts with exactly one (`--feature-scale`): its s
/// tensor, the first of the network's tensors (layer 0's).
pub(super) fn scale_tensor(net: &Mlp<f64>) -> Option<TensorInfo> {
    match net.spec().input_layers.as_slice() {
        [InputLayerSpec::Scale] => net.tensors().into_iter().next(),
        _ => None,
    }
}

/// s, from the parameter buffer.
pub(super) fn scale_of<'b>(net: &'b Mlp<f64>, s: &TensorInfo) -> &'b [f64] {
    &net.params()[s.range()]
}

/// (B31) Demands that the forward cache's X̃ is N1 on X and s, bit for bit (the forward the
/// trace shows is the one the engine ran).
pub(super) fn verify_forward(
    s: &[f64],
    x: ArrayView2<f64>,
    x_scaled: ArrayView2<f64>,
) -> Result<(), AuditError> {
    if feature_scale_forward(s, x) != x_scaled {
        return Err(AuditError::Internal(
            "the MLP's scaled input X̃ is not X ⊙ s (N1)".into(),
        ));
    }
    Ok(())
}

/// (B32) From the captured ∂L/∂X̃: ∂L/∂s (checked bit for bit against the MLP's) and the
/// scaling's share of ∂L/∂X, `∂L/∂X̃ ⊙ s`, which the caller completes (B29) and checks.
pub(super) fn verify_backward(
    net: &Mlp<f64>,
    s: &TensorInfo,
    x: ArrayView2<f64>,
    d_x_scaled: ArrayView2<f64>,
) -> Result<Array2<f64>, AuditError> {
    // From zero, as the trace's backward accumulates into zeroed gradients.
    let mut d_s = vec![0.0; s.len()];
    let d_x = feature_scale_backward(scale_of(net, s), x, d_x_scaled, &mut d_s);
    if d_s != net.grads()[s.range()] {
        return Err(AuditError::Internal(
            "the captured ∂L/∂X̃ does not reproduce the MLP's ∂L/∂s".into(),
        ));
    }
    Ok(d_x)
}

/// s, a given number.
pub(super) fn given_s(net: &Mlp<f64>, s: &TensorInfo) -> Quantity {
    Quantity::new(
        "s",
        "s",
        "per-feature scale, one per column of X (starts at 1, N11)",
        "N1, B31",
        Origin::Given,
        vec![s.len()],
        scale_of(net, s).to_vec(),
    )
}

/// X̃ = X ⊙ s, the first quantity of the forward pass.
pub(super) fn forward_x_scaled(x_scaled: ArrayView2<f64>) -> Quantity {
    Quantity::matrix(
        "x_scaled",
        "X̃",
        "X ⊙ s (x̃_nd = x_nd·s_d)",
        "N1, B31",
        Origin::Engine,
        x_scaled,
    )
}

/// ∂L/∂X̃ and ∂L/∂s, the last quantities of the backward pass before ∂L/∂X.
pub(super) fn backward_quantities(
    net: &Mlp<f64>,
    s: &TensorInfo,
    d_x_scaled: ArrayView2<f64>,
) -> [Quantity; 2] {
    [
        Quantity::matrix(
            "d_x_scaled",
            "∂L/∂X̃",
            "∂L/∂Z₁·Θ₁",
            "B6, B20d, B32",
            Origin::Engine,
            d_x_scaled,
        ),
        Quantity::new(
            "d_s",
            "∂L/∂s",
            "Σ_n ∂L/∂X̃ ⊙ X (column sums)",
            "N2, B32",
            Origin::Engine,
            vec![s.len()],
            net.grads()[s.range()].to_vec(),
        ),
    ]
}
