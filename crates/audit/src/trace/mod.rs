//! One training step, every number (notes/teaching.md walks through the default trace).
//!
//! [`trace_step`] runs one step of training on a small batch and records every
//! intermediate: the pre-activation Zₗ and activation Yₗ of each layer, the loss and its
//! gradient, every ∂L/∂Zₗ, ∂L/∂Yₗ, ∂L/∂Θₗ, ∂L/∂bₗ, ∂L/∂X, and the optimizer's update with
//! its state (for Adam: g, m, v, the bias corrections, m̂, v̂, the step and the new weights).
//! Each number carries the equation of `notes/` that produced it (B… backprop.md, L…
//! losses.md, O… optimizers.md).
//!
//! **Nothing is re-implemented.** The numbers come from the engine's own code paths:
//! - Zₗ, Yₗ: [`Mlp::forward`](glassbox_core::Mlp::forward), read from its cache (`pre_activation`, `activation_output`);
//! - L and ∂L/∂(loss input): the real loss, [`LossConfig::compute`];
//! - ∂L/∂Θₗ, ∂L/∂bₗ, ∂L/∂X: [`Mlp::backward`](glassbox_core::Mlp::backward) and [`Backward::input_gradient`](glassbox_core::Backward::input_gradient);
//! - ∂L/∂Zₗ and ∂L/∂Yₗ of every layer: the MLP keeps them in its private workspace, so the
//!   trace runs the same per-layer functions its backward runs, in the same order —
//!   [`Activation::backward`](glassbox_core::Activation::backward) (B3) and [`dense_backward_input`](glassbox_core::dense_backward_input) (B6) — and then **proves**
//!   they are the ones the MLP used: [`dense_backward_params`](glassbox_core::dense_backward_params) (B4, B5) on the captured
//!   ∂L/∂Zₗ must reproduce the MLP's ∂L/∂Θₗ and ∂L/∂bₗ bit for bit, and B6 on ∂L/∂Z₁ its
//!   ∂L/∂X, or the trace fails with [`AuditError::Internal`](crate::AuditError::Internal);
//! - per-feature scaling (`--feature-scale`; `trace/scale.rs`, notes/backprop.md §13): X̃ = X ⊙ s from
//!   the forward cache, checked against the engine's `feature_scale_forward`; ∂L/∂s and ∂L/∂X
//!   from the captured ∂L/∂X̃ by the engine's `feature_scale_backward`, checked bit for bit
//!   against the MLP's (PLR embeddings and BatchEnsemble networks are refused);
//! - the update: the real [`Optimizer::step`](glassbox_train::Optimizer::step) on the MLP's flat buffers; its state after
//!   the step from [`Optimizer::buffers`](glassbox_train::Optimizer::buffers). Only m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), the bias
//!   corrections and the textbook form of the step are computed here, for display, and are
//!   marked [`Origin::Derived`].
//!
//! Layers are numbered from 1 in symbols (Z₁ is the first layer's, as in
//! notes/backprop.md §9); tensor names (`layers.0.weight`) count from 0 as in the code.
//! Dropout is not applied (the forward pass runs in inference mode); a network with dropout
//! gets a note saying so.

mod equations;
mod scale;
mod step;
mod update;

use glassbox_train::{LossConfig, OptimizerConfig};
use ndarray::ArrayView2;
use serde::Serialize;

pub use equations::optimizer_name;
pub use step::{
    default_optimizer, example_2_2_1, new_optimizer, trace_csv, trace_example, trace_step,
};

/// Where a number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Given: the input batch, targets, parameters before the step.
    Given,
    /// Computed by the engine's own code (forward, loss, backward, optimizer).
    Engine,
    /// Computed here from engine values, for display (m̂, v̂, bias corrections, Δθ).
    Derived,
}

/// One labelled tensor of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// ASCII key: `x`, `theta1`, `z1`, `y1`, `loss`, `d_z2`, `d_theta2`, `d_x`, `adam_m`, …
    pub id: String,
    /// The symbol as in the notes: `Z₁`, `∂L/∂Θ₂`, `m̂`.
    pub symbol: String,
    /// How it is computed, in the notes' notation.
    pub formula: String,
    /// The equation(s) of `notes/` that produced it: `B1`, `B3, B10`, `L2`, `O12`.
    pub equation: String,
    /// Shape; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<f64>,
    /// Where the values come from.
    pub origin: Origin,
}

impl Quantity {
    fn new(
        id: impl Into<String>,
        symbol: impl Into<String>,
        formula: impl Into<String>,
        equation: impl Into<String>,
        origin: Origin,
        shape: Vec<usize>,
        values: Vec<f64>,
    ) -> Self {
        Quantity {
            id: id.into(),
            symbol: symbol.into(),
            formula: formula.into(),
            equation: equation.into(),
            shape,
            values,
            origin,
        }
    }

    fn matrix(
        id: impl Into<String>,
        symbol: impl Into<String>,
        formula: impl Into<String>,
        equation: impl Into<String>,
        origin: Origin,
        m: ArrayView2<f64>,
    ) -> Self {
        let (r, c) = m.dim();
        Self::new(
            id,
            symbol,
            formula,
            equation,
            origin,
            vec![r, c],
            m.iter().copied().collect(),
        )
    }

    fn scalar(
        id: impl Into<String>,
        symbol: impl Into<String>,
        formula: impl Into<String>,
        equation: impl Into<String>,
        origin: Origin,
        v: f64,
    ) -> Self {
        Self::new(id, symbol, formula, equation, origin, vec![], vec![v])
    }
}

/// A part of the trace: input, forward, loss, backward, update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// The quantities in the order they are computed.
    pub quantities: Vec<Quantity>,
    /// For the update section: one label per parameter (`Θ₁[1,2]`, 1-based as the
    /// symbols), so the (P,) quantities print as a table with one row per parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_labels: Option<Vec<String>>,
    /// The matching names in the code's terms (`layers.0.weight[0,1]`, 0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensor_labels: Option<Vec<String>>,
}

/// One layer of the traced network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerInfo {
    /// Units Hₗ.
    pub units: usize,
    /// The activation, as `Activation`'s display (`sigmoid`, `leaky_relu(0.01)`).
    pub activation: String,
    /// Drop probability (not applied in the trace).
    pub dropout: f64,
}

/// Every number of one training step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// What was traced, in one line.
    pub title: String,
    /// D.
    pub inputs: usize,
    /// The layers, input side first.
    pub layers: Vec<LayerInfo>,
    /// N, the rows of the batch.
    pub rows: usize,
    /// The loss and its options.
    pub loss: LossConfig,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The optimizer's step count t after this step (1 for a fresh optimizer).
    pub step: u64,
    /// Conventions and checks worth knowing when reading the numbers.
    pub notes: Vec<String>,
    /// Input, forward, loss, backward, update.
    pub sections: Vec<Section>,
}

impl Trace {
    /// The quantity with this `id` (`z1`, `d_theta2`, `adam_m_hat`, …), in any section.
    pub fn quantity(&self, id: &str) -> Option<&Quantity> {
        self.sections
            .iter()
            .flat_map(|s| s.quantities.iter())
            .find(|q| q.id == id)
    }
}
