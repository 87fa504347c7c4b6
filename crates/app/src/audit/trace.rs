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
//! - Zₗ, Yₗ: [`Mlp::forward`], read from its cache (`pre_activation`, `activation_output`);
//! - L and ∂L/∂(loss input): the real loss, [`LossConfig::compute`];
//! - ∂L/∂Θₗ, ∂L/∂bₗ, ∂L/∂X: [`Mlp::backward_with_input_grad`];
//! - ∂L/∂Zₗ and ∂L/∂Yₗ of every layer: the MLP keeps them in its private workspace, so the
//!   trace runs the same per-layer functions its backward runs, in the same order —
//!   [`Activation::backward`] (B3) and [`dense_backward_input`] (B6) — and then **proves**
//!   they are the ones the MLP used: [`dense_backward_params`] (B4, B5) on the captured
//!   ∂L/∂Zₗ must reproduce the MLP's ∂L/∂Θₗ and ∂L/∂bₗ bit for bit, and B6 on ∂L/∂Z₁ its
//!   ∂L/∂X, or the trace fails with [`AuditError::Internal`];
//! - the update: the real [`Optimizer::step`] on the MLP's flat buffers; its state after
//!   the step from [`Optimizer::buffers`]. Only m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), the bias
//!   corrections and the textbook form of the step are computed here, for display, and are
//!   marked [`Origin::Derived`].
//!
//! Layers are numbered from 1 in symbols (Z₁ is the first layer's, as in
//! notes/backprop.md §9); tensor names (`layers.0.weight`) count from 0 as in the code.
//! Dropout is not applied (the forward pass runs in inference mode); a network with dropout
//! gets a note saying so.

use std::fmt::Write as _;

use glassbox_core::{Activation, LayerSpec, Mlp, MlpSpec, Mode, Upstream};
use glassbox_core::{dense_backward_input, dense_backward_params};
use glassbox_train::{
    AdamEpsilon, LossConfig, LossInput, LossKind, Momentum, Optimizer, OptimizerConfig,
    RmsPropEpsilon, WeightDecay,
};
use ndarray::{Array1, Array2, ArrayView2, array};
use serde::Serialize;

use super::{AuditError, Format, encode_f64, first_rows, markdown_table, sig13, text_table};
use glassbox_data::{Preprocessor, Table};

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

    /// The values in the notes' bracket notation, 13 significant digits:
    /// `[[0.3775, 0.3925], [0.355, 0.365]]`, `[0.35, 0.35]` or `0.3035152678491`.
    pub fn bracketed(&self) -> String {
        let list = |v: &[f64]| {
            let items: Vec<String> = v.iter().map(|&x| sig13(x)).collect();
            format!("[{}]", items.join(", "))
        };
        match self.shape.as_slice() {
            [] => self.values.first().map_or_else(String::new, |&v| sig13(v)),
            [_] => list(&self.values),
            [_, c] => {
                let rows: Vec<String> = self.values.chunks((*c).max(1)).map(list).collect();
                format!("[{}]", rows.join(", "))
            }
            _ => list(&self.values),
        }
    }

    fn shape_text(&self) -> String {
        match self.shape.as_slice() {
            [] => "scalar".into(),
            s => {
                let dims: Vec<String> = s.iter().map(usize::to_string).collect();
                format!("({})", dims.join(", "))
            }
        }
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

    /// The trace rendered in `format`.
    ///
    /// # Errors
    /// Only [`AuditError::Internal`] if JSON serialisation failed (a bug).
    pub fn render(&self, format: Format) -> Result<String, AuditError> {
        match format {
            Format::Text => Ok(self.to_text()),
            Format::Markdown => Ok(self.to_markdown()),
            Format::Json => super::to_json(self),
        }
    }

    /// Network, batch, loss, optimizer and step in one line.
    fn summary(&self) -> String {
        let mut net = format!("{} inputs", self.inputs);
        for l in &self.layers {
            let _ = write!(net, " → {} {}", l.units, l.activation);
        }
        format!(
            "network {net}; batch N = {}; loss {}; optimizer {}; step t = {}",
            self.rows,
            self.loss.kind,
            optimizer_name(&self.optimizer),
            self.step
        )
    }

    /// Plain text: one block per quantity, matrices one row per line.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}
{}
",
            self.title,
            self.summary()
        );
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n== {} ==", section.title);
            if let Some(table) = section.parameter_table() {
                for q in &table.scalars {
                    let _ = writeln!(
                        out,
                        "{} = {}   [{}; {}]",
                        q.symbol,
                        q.bracketed(),
                        q.formula,
                        q.equation
                    );
                }
                for q in &table.columns {
                    let _ = writeln!(out, "{} = {}   ({})", q.symbol, q.formula, q.equation);
                }
                out.push_str(&text_table(&table.header, &table.rows));
                continue;
            }
            for q in &section.quantities {
                let derived = if q.origin == Origin::Derived {
                    "; derived"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "{} = {}   ({}; {}{derived})",
                    q.symbol,
                    q.formula,
                    q.equation,
                    q.shape_text()
                );
                match q.shape.as_slice() {
                    [_, c] if *c > 0 => {
                        for row in q.values.chunks(*c) {
                            let cells: Vec<String> = row.iter().map(|&v| sig13(v)).collect();
                            let _ = writeln!(out, "    [{}]", cells.join(", "));
                        }
                    }
                    _ => {
                        let _ = writeln!(out, "    {}", q.bracketed());
                    }
                }
            }
        }
        out
    }

    /// Markdown for a handout: one table per section.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n{}.\n\n", self.title, self.summary());
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n## {}\n", section.title);
            let listed: Vec<&Quantity> = match section.parameter_table() {
                Some(ref t) => t.scalars.iter().chain(&t.columns).copied().collect(),
                None => section.quantities.iter().collect(),
            };
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|q| {
                    let value = match (&section.row_labels, q.shape.is_empty()) {
                        (Some(_), false) => "per parameter, below".into(),
                        _ => q.bracketed(),
                    };
                    vec![
                        q.symbol.clone(),
                        q.formula.clone(),
                        q.equation.clone(),
                        q.shape_text(),
                        value,
                    ]
                })
                .collect();
            out.push_str(&markdown_table(
                &["quantity", "formula", "equation", "shape", "value"],
                &rows,
            ));
            if let Some(table) = section.parameter_table() {
                out.push('\n');
                out.push_str(&markdown_table(&table.header, &table.rows));
            }
        }
        out
    }
}

/// The update section as a table: one row per parameter, one column per (P,) quantity.
struct ParameterTable<'a> {
    scalars: Vec<&'a Quantity>,
    columns: Vec<&'a Quantity>,
    header: Vec<&'a str>,
    rows: Vec<Vec<String>>,
}

impl Section {
    fn parameter_table(&self) -> Option<ParameterTable<'_>> {
        let labels = self.row_labels.as_ref()?;
        let (scalars, columns): (Vec<&Quantity>, Vec<&Quantity>) =
            self.quantities.iter().partition(|q| q.shape.is_empty());
        // The last column names each parameter in the code's terms (`layers.0.weight[0,1]`),
        // as notes/teaching.md §1 promises: symbols count layers from 1, tensors from 0.
        let tensors = self.tensor_labels.as_ref();
        let header = std::iter::once("parameter")
            .chain(columns.iter().map(|q| q.symbol.as_str()))
            .chain(tensors.map(|_| "tensor"))
            .collect();
        let rows = labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                std::iter::once(label.clone())
                    .chain(columns.iter().map(|q| sig13(q.values[i])))
                    .chain(tensors.and_then(|t| t.get(i)).cloned())
                    .collect()
            })
            .collect();
        Some(ParameterTable {
            scalars,
            columns,
            header,
            rows,
        })
    }
}

/// `n` as Unicode subscript digits (`12` → `₁₂`).
fn sub(n: usize) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect()
}

/// The equation of an activation's value and derivative (notes/backprop.md §2).
fn activation_eq(a: Activation, backward: bool) -> &'static str {
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
fn derivative_text(a: Activation, l: &str) -> String {
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
fn loss_eqs(loss: &LossConfig) -> (&'static str, &'static str, &'static str, &'static str) {
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
    }
}

fn optimizer_name(c: &OptimizerConfig) -> String {
    let v = |x: f64| super::sig(x, 13);
    match *c {
        OptimizerConfig::Sgd { lr, momentum, .. } => match momentum {
            Momentum::None => format!("SGD (lr {})", v(lr)),
            Momentum::Classic(mu) => format!("SGD (lr {}, momentum {})", v(lr), v(mu)),
            Momentum::Nesterov(mu) => {
                format!("SGD (lr {}, Nesterov momentum {})", v(lr), v(mu))
            }
        },
        OptimizerConfig::RmsProp { lr, rho, eps, .. } => {
            let (form, e) = match eps {
                RmsPropEpsilon::Torch(e) => ("PyTorch", e),
                RmsPropEpsilon::Keras(e) => ("Keras", e),
            };
            format!(
                "RMSprop, {form} form (lr {}, ρ {}, ε {})",
                v(lr),
                v(rho),
                v(e)
            )
        }
        OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            eps,
            ..
        } => {
            let (form, e) = match eps {
                AdamEpsilon::Torch(e) => ("PyTorch form", format!("ε {}", v(e))),
                AdamEpsilon::Keras(e) => ("Keras form", format!("ε̂ {}", v(e))),
            };
            format!(
                "Adam, {form} (lr {}, β₁ {}, β₂ {}, {e})",
                v(lr),
                v(beta1),
                v(beta2)
            )
        }
    }
}

/// The hand-worked example of notes/backprop.md §9: the 2-2-1 sigmoid network, its two
/// rows and targets. Returns `(mlp, x (2, 2), y (2, 1))`.
pub fn example_2_2_1() -> (Mlp<f64>, Array2<f64>, Array2<f64>) {
    let spec = MlpSpec::new(
        2,
        vec![
            LayerSpec::new(2, Activation::Sigmoid),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    // Θ₁ = [[0.15, 0.20], [0.25, 0.30]], b₁ = [0.35, 0.35], Θ₂ = [[0.40, 0.45]], b₂ = [0.60].
    let params = vec![0.15, 0.20, 0.25, 0.30, 0.35, 0.35, 0.40, 0.45, 0.60];
    // The spec and the parameter count are fixed above, so this cannot fail.
    let mlp = Mlp::from_params(spec, params).unwrap_or_else(|e| unreachable!("{e}"));
    (
        mlp,
        array![[0.05, 0.10], [0.30, -0.20]],
        array![[0.01], [0.99]],
    )
}

/// The optimizer of the default trace: PyTorch's `Adam(lr=0.1)` (β = (0.9, 0.999), ε = 1e-8).
pub fn default_optimizer() -> OptimizerConfig {
    OptimizerConfig::adam_torch(0.1)
}

/// The default trace of notes/teaching.md: the 2-2-1 example with MSE (as in
/// notes/backprop.md §9) and `optimizer` (fresh state, so this is step t = 1).
///
/// # Errors
/// [`AuditError::InvalidOption`] for an invalid optimizer configuration.
pub fn trace_example(optimizer: OptimizerConfig) -> Result<Trace, AuditError> {
    let (mlp, x, y) = example_2_2_1();
    let opt = new_optimizer(optimizer, mlp.num_params())?;
    let mut trace = trace_step(
        &mlp,
        x.view(),
        y.view(),
        &LossConfig::new(LossKind::Mse),
        &opt,
    )?;
    trace.title = "One training step of the 2-2-1 example (notes/backprop.md §9)".into();
    Ok(trace)
}

/// A fresh optimizer for `n_params` parameters.
///
/// # Errors
/// [`AuditError::InvalidOption`] naming the bad hyper-parameter.
pub fn new_optimizer(
    config: OptimizerConfig,
    n_params: usize,
) -> Result<Optimizer<f64>, AuditError> {
    Optimizer::new(config, n_params).map_err(|e| AuditError::InvalidOption {
        name: "optimizer",
        value: optimizer_name(&config),
        reason: e.to_string(),
    })
}

/// The trace of one step of `mlp` (cast to f64) on the first `k` rows of `table`, encoded
/// by `pre`, with a fresh `optimizer`. The targets are the preprocessor's 0/1 labels.
///
/// # Errors
/// [`AuditError::RowCount`] if `k` is 0 or exceeds the file; [`AuditError::Model`] if the
/// network does not read the preprocessor's features; the data layer's errors; those of
/// [`trace_step`].
pub fn trace_csv<T: glassbox_core::Float>(
    mlp: &Mlp<T>,
    pre: &Preprocessor,
    table: &Table,
    k: usize,
    loss: &LossConfig,
    optimizer: OptimizerConfig,
) -> Result<Trace, AuditError> {
    super::check_model_fits(mlp, pre)?;
    let rows = first_rows(table, k)?;
    let (x, y) = encode_f64(pre, &rows)?;
    let mlp = mlp.cast::<f64>();
    let o = mlp.spec().outputs();
    if o != 1 {
        return Err(AuditError::Model(format!(
            "the CSV trace needs one output (the label), the network has {o}"
        )));
    }
    let y = y.insert_axis(ndarray::Axis(1));
    let opt = new_optimizer(optimizer, mlp.num_params())?;
    let mut trace = trace_step(&mlp, x.view(), y.view(), loss, &opt)?;
    trace.title = format!(
        "One training step on the first {k} rows of {} (target {})",
        table.file(),
        pre.target().column
    );
    let names = pre.feature_names();
    trace.notes.push(format!(
        "features of X, in column order: {}",
        names.join(", ")
    ));
    Ok(trace)
}

/// Every number of one training step of `mlp` on the batch `x` (N, D) with targets `y`
/// (N, O), the loss `loss` and a copy of `optimizer` (its current state is used and left
/// untouched; the trace shows the state before and after).
///
/// # Errors
/// [`AuditError::InvalidOption`] for mismatched shapes, an empty batch, an invalid loss
/// configuration or an optimizer sized for another network; [`AuditError::Internal`] if the
/// captured per-layer gradients do not reproduce the MLP's own (a bug).
pub fn trace_step(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    loss: &LossConfig,
    optimizer: &Optimizer<f64>,
) -> Result<Trace, AuditError> {
    check_inputs(mlp, x, y, loss, optimizer)?;
    let spec = mlp.spec().clone();
    let n_layers = spec.layers.len();
    let last = n_layers - 1;
    let acts: Vec<Activation> = spec.layers.iter().map(|l| l.activation).collect();
    let mut notes = vec![
        "layers are numbered from 1 in symbols (Z₁ is the first layer's); tensor names \
         count from 0 (layers.0.weight)"
            .to_string(),
        "values are printed to 13 significant digits; the JSON form holds every f64 exactly"
            .to_string(),
    ];
    if spec.layers.iter().any(|l| l.dropout > 0.0) {
        notes.push(
            "this network has dropout; the trace runs the forward pass without it \
             (inference mode), so the numbers are those of a step with every unit kept"
                .into(),
        );
    }

    let mut net = mlp.clone();
    net.zero_grads();
    let n = x.nrows();
    let mut ws = net.workspace(n);
    let fwd = net.forward(x, Mode::Inference, &mut ws);
    let zs: Vec<Array2<f64>> = (0..n_layers)
        .map(|l| fwd.pre_activation(l).to_owned())
        .collect();
    let ys: Vec<Array2<f64>> = (0..n_layers)
        .map(|l| fwd.activation_output(l).to_owned())
        .collect();

    // The loss on the tensor it reads: the logits for fused losses, else the output.
    let on_logits = loss.kind.input() == LossInput::Logits;
    let loss_in = if on_logits { &zs[last] } else { &ys[last] };
    let mut d_in = Array2::<f64>::zeros(loss_in.dim());
    let value = loss.compute(loss_in.view(), y, None, Some(d_in.view_mut()));

    // The MLP's own backward: ∂L/∂Θ, ∂L/∂b, ∂L/∂X.
    let upstream = if on_logits {
        Upstream::DZ(d_in.view())
    } else {
        Upstream::DY(d_in.view())
    };
    let d_x = net.backward_with_input_grad(fwd, upstream).to_owned();

    // ∂L/∂Zₗ and ∂L/∂Yₗ by the same per-layer functions, in the same order (B20b, B20d).
    let mut d_z: Vec<Array2<f64>> = zs.iter().map(|z| Array2::zeros(z.dim())).collect();
    let mut d_y: Vec<Option<Array2<f64>>> = vec![None; n_layers];
    if on_logits {
        d_z[last].assign(&d_in);
    } else {
        acts[last].backward(
            zs[last].view(),
            ys[last].view(),
            d_in.view(),
            d_z[last].view_mut(),
        );
    }
    for l in (1..n_layers).rev() {
        let mut g = Array2::<f64>::zeros(zs[l - 1].dim());
        dense_backward_input(net.theta(l), d_z[l].view(), g.view_mut()); // B6
        d_y[l - 1] = Some(g.clone());
        acts[l - 1].backward_in_place(zs[l - 1].view(), ys[l - 1].view(), g.view_mut()); // B3
        d_z[l - 1] = g;
    }
    verify_captured(&net, x, &ys, &d_z, d_x.view())?;

    // Sections: input, forward, loss, backward.
    let mut given = vec![Quantity::matrix(
        "x",
        "X",
        "the batch, one row per sample",
        "§0",
        Origin::Given,
        x,
    )];
    given.push(Quantity::matrix(
        "y_target",
        "y",
        "the targets",
        "§0",
        Origin::Given,
        y,
    ));
    for l in 0..n_layers {
        let k = sub(l + 1);
        given.push(Quantity::matrix(
            format!("theta{}", l + 1),
            format!("Θ{k}"),
            format!("weights of layer {} (row h = unit h)", l + 1),
            "B20a",
            Origin::Given,
            net.theta(l),
        ));
        given.push(Quantity::new(
            format!("b{}", l + 1),
            format!("b{k}"),
            format!("bias of layer {}", l + 1),
            "B20a",
            Origin::Given,
            vec![net.bias(l).len()],
            net.bias(l).to_vec(),
        ));
    }

    let mut forward = Vec::new();
    for l in 0..n_layers {
        let k = sub(l + 1);
        let prev = if l == 0 {
            "X".to_string()
        } else {
            format!("Y{}", sub(l))
        };
        forward.push(Quantity::matrix(
            format!("z{}", l + 1),
            format!("Z{k}"),
            format!("{prev}·Θ{k}ᵀ + 1·b{k}ᵀ"),
            "B1, B20",
            Origin::Engine,
            zs[l].view(),
        ));
        forward.push(Quantity::matrix(
            format!("y{}", l + 1),
            format!("Y{k}"),
            format!("{}(Z{k})", acts[l].name()),
            format!("B2, {}", activation_eq(acts[l], false)),
            Origin::Engine,
            ys[l].view(),
        ));
    }

    let (value_formula, value_eq, grad_formula, grad_eq) = loss_eqs(loss);
    let loss_sym = if on_logits {
        format!("∂L/∂Z{}", sub(n_layers))
    } else {
        "∂L/∂ŷ".to_string()
    };
    let loss_section = vec![
        Quantity::scalar("loss", "L", value_formula, value_eq, Origin::Engine, value),
        Quantity::matrix(
            if on_logits {
                format!("d_z{}", n_layers)
            } else {
                "d_y_hat".to_string()
            },
            loss_sym,
            grad_formula,
            grad_eq,
            Origin::Engine,
            d_in.view(),
        ),
    ];

    let mut backward = Vec::new();
    for l in (0..n_layers).rev() {
        let k = sub(l + 1);
        if l == last && !on_logits {
            backward.push(Quantity::matrix(
                format!("d_z{}", l + 1),
                format!("∂L/∂Z{k}"),
                format!("∂L/∂ŷ ⊙ {}", derivative_text(acts[l], &k)),
                format!("B3, {}, B20b", activation_eq(acts[l], true)),
                Origin::Engine,
                d_z[l].view(),
            ));
        }
        let a_prev = if l == 0 {
            "X".to_string()
        } else {
            format!("Y{}", sub(l))
        };
        backward.push(Quantity::matrix(
            format!("d_theta{}", l + 1),
            format!("∂L/∂Θ{k}"),
            format!("(∂L/∂Z{k})ᵀ·{a_prev}"),
            "B4, B20c",
            Origin::Engine,
            net.d_theta(l),
        ));
        backward.push(Quantity::new(
            format!("d_b{}", l + 1),
            format!("∂L/∂b{k}"),
            format!("Σ_n ∂L/∂Z{k}"),
            "B5, B20c",
            Origin::Engine,
            vec![net.d_bias(l).len()],
            net.d_bias(l).to_vec(),
        ));
        if l > 0 {
            let j = sub(l);
            if let Some(dy) = &d_y[l - 1] {
                backward.push(Quantity::matrix(
                    format!("d_y{l}"),
                    format!("∂L/∂Y{j}"),
                    format!("∂L/∂Z{k}·Θ{k}"),
                    "B6, B20d",
                    Origin::Engine,
                    dy.view(),
                ));
            }
            backward.push(Quantity::matrix(
                format!("d_z{l}"),
                format!("∂L/∂Z{j}"),
                format!("∂L/∂Y{j} ⊙ {}", derivative_text(acts[l - 1], &j)),
                format!("B3, {}, B20d", activation_eq(acts[l - 1], true)),
                Origin::Engine,
                d_z[l - 1].view(),
            ));
        }
    }
    backward.push(Quantity::matrix(
        "d_x",
        "∂L/∂X",
        format!("∂L/∂Z{}·Θ{}", sub(1), sub(1)),
        "B6, B20d",
        Origin::Engine,
        d_x.view(),
    ));
    notes.push(
        "∂L/∂Z and ∂L/∂Y of every layer were captured with the engine's per-layer backward \
         functions and reproduce the MLP's own ∂L/∂Θ, ∂L/∂b and ∂L/∂X bit for bit (checked)"
            .into(),
    );

    // The update, by the real optimizer on the network's flat buffers.
    let theta_before = net.params().to_vec();
    let grads = net.grads().to_vec();
    let mut opt = optimizer.clone();
    let state_before: Vec<(String, Vec<f64>)> = opt
        .buffers()
        .into_iter()
        .map(|(name, b)| (name.to_string(), b.to_vec()))
        .collect();
    let t_before = opt.step_count();
    {
        let (params, g) = net.params_and_grads_mut();
        opt.step(params, g);
    }
    let theta_after = net.params().to_vec();
    let state_after: Vec<(String, Vec<f64>)> = opt
        .buffers()
        .into_iter()
        .map(|(name, b)| (name.to_string(), b.to_vec()))
        .collect();
    let step = opt.step_count();
    let (update, update_notes) = update_section(
        optimizer.config(),
        step,
        t_before,
        &theta_before,
        &grads,
        &state_before,
        &state_after,
        &theta_after,
    );
    notes.extend(update_notes);
    let (row_labels, tensor_labels) = parameter_labels(&net);

    let sections = vec![
        Section {
            title: "Given: input, targets, parameters".into(),
            quantities: given,
            row_labels: None,
            tensor_labels: None,
        },
        Section {
            title: "Forward pass".into(),
            quantities: forward,
            row_labels: None,
            tensor_labels: None,
        },
        Section {
            title: "Loss".into(),
            quantities: loss_section,
            row_labels: None,
            tensor_labels: None,
        },
        Section {
            title: "Backward pass".into(),
            quantities: backward,
            row_labels: None,
            tensor_labels: None,
        },
        Section {
            title: format!("Update: {}", optimizer_name(optimizer.config())),
            quantities: update,
            row_labels: Some(row_labels),
            tensor_labels: Some(tensor_labels),
        },
    ];
    Ok(Trace {
        title: "One training step".into(),
        inputs: spec.inputs,
        layers: spec
            .layers
            .iter()
            .map(|l| LayerInfo {
                units: l.units,
                activation: l.activation.to_string(),
                dropout: l.dropout,
            })
            .collect(),
        rows: n,
        loss: *loss,
        optimizer: *optimizer.config(),
        step,
        notes,
        sections,
    })
}

fn check_inputs(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    loss: &LossConfig,
    optimizer: &Optimizer<f64>,
) -> Result<(), AuditError> {
    let spec = mlp.spec();
    let bad = |name, value: String, reason: String| AuditError::InvalidOption {
        name,
        value,
        reason,
    };
    if x.nrows() == 0 {
        return Err(bad(
            "rows",
            "0".into(),
            "the batch needs at least one row".into(),
        ));
    }
    if x.ncols() != spec.inputs {
        return Err(AuditError::Model(format!(
            "X has {} columns but the network has {} inputs",
            x.ncols(),
            spec.inputs
        )));
    }
    if y.dim() != (x.nrows(), spec.outputs()) {
        return Err(AuditError::Model(format!(
            "the targets are {:?} but the output is ({}, {})",
            y.dim(),
            x.nrows(),
            spec.outputs()
        )));
    }
    loss.validate()
        .map_err(|e| bad("loss", loss.kind.to_string(), e.to_string()))?;
    if optimizer.len() != mlp.num_params() {
        return Err(bad(
            "optimizer",
            format!("P = {}", optimizer.len()),
            format!("the network has {} parameters", mlp.num_params()),
        ));
    }
    Ok(())
}

/// Recomputes ∂L/∂Θₗ, ∂L/∂bₗ (B4, B5) and ∂L/∂X (B6) from the captured ∂L/∂Zₗ and demands
/// bit-identical agreement with the MLP's backward.
fn verify_captured(
    net: &Mlp<f64>,
    x: ArrayView2<f64>,
    ys: &[Array2<f64>],
    d_z: &[Array2<f64>],
    d_x: ArrayView2<f64>,
) -> Result<(), AuditError> {
    for (l, dz) in d_z.iter().enumerate() {
        let input = if l == 0 { x } else { ys[l - 1].view() };
        let mut d_theta = Array2::<f64>::zeros(net.theta(l).dim());
        let mut d_b = Array1::<f64>::zeros(net.bias(l).len());
        dense_backward_params(input, dz.view(), d_theta.view_mut(), d_b.view_mut());
        if d_theta != net.d_theta(l) || d_b != net.d_bias(l) {
            return Err(AuditError::Internal(format!(
                "layer {}: the captured ∂L/∂Z does not reproduce the MLP's ∂L/∂Θ and ∂L/∂b",
                l + 1
            )));
        }
    }
    let mut check = Array2::<f64>::zeros(d_x.dim());
    dense_backward_input(net.theta(0), d_z[0].view(), check.view_mut());
    if check != d_x {
        return Err(AuditError::Internal(
            "the captured ∂L/∂Z₁ does not reproduce the MLP's ∂L/∂X".into(),
        ));
    }
    Ok(())
}

/// Labels of every parameter: `Θ₁[1,2]` (1-based) and `layers.0.weight[0,1]` (0-based).
fn parameter_labels(net: &Mlp<f64>) -> (Vec<String>, Vec<String>) {
    let mut pretty = Vec::with_capacity(net.num_params());
    let mut code = Vec::with_capacity(net.num_params());
    for (i, t) in net.tensors().iter().enumerate() {
        let layer = sub(i / 2 + 1);
        match t.shape.as_slice() {
            [h, d] => {
                for r in 0..*h {
                    for c in 0..*d {
                        pretty.push(format!("Θ{layer}[{},{}]", r + 1, c + 1));
                        code.push(format!("{}[{r},{c}]", t.name));
                    }
                }
            }
            _ => {
                for r in 0..t.len() {
                    pretty.push(format!("b{layer}[{}]", r + 1));
                    code.push(format!("{}[{r}]", t.name));
                }
            }
        }
    }
    (pretty, code)
}

/// The update section: step scalars, then the (P,) columns g, state, derived quantities,
/// Δθ and θ′. Returns it with notes on the conventions.
#[allow(clippy::too_many_arguments)]
fn update_section(
    config: &OptimizerConfig,
    t: u64,
    t_before: u64,
    theta: &[f64],
    g: &[f64],
    before: &[(String, Vec<f64>)],
    after: &[(String, Vec<f64>)],
    theta_new: &[f64],
) -> (Vec<Quantity>, Vec<String>) {
    let p = theta.len();
    let col = |id: &str, sym: &str, formula: &str, eq: &str, origin, v: Vec<f64>| {
        Quantity::new(id, sym, formula, eq, origin, vec![p], v)
    };
    let buffer = |set: &[(String, Vec<f64>)], name: &str| {
        set.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut notes = Vec::new();
    let mut q = vec![
        Quantity::scalar(
            "t",
            "t",
            "steps taken, after this one",
            "§0 of optimizers.md",
            Origin::Engine,
            t as f64,
        ),
        Quantity::scalar("lr", "lr", "learning rate", "—", Origin::Given, config.lr()),
    ];
    let wd = match *config {
        OptimizerConfig::Sgd { weight_decay, .. }
        | OptimizerConfig::RmsProp { weight_decay, .. }
        | OptimizerConfig::Adam { weight_decay, .. } => weight_decay,
    };
    q.push(col(
        "theta_before",
        "θ",
        "parameter before the step",
        "B20a",
        Origin::Given,
        theta.to_vec(),
    ));
    q.push(col(
        "g",
        "g",
        "∂L/∂θ from the backward pass",
        "B4, B5",
        Origin::Engine,
        g.to_vec(),
    ));
    // The gradient the algorithm sees after weight decay (O1, O2).
    match wd {
        WeightDecay::L2(lambda) => q.push(col(
            "g_decayed",
            "g + λθ",
            "gradient with coupled L2 decay",
            "O1",
            Origin::Derived,
            g.iter().zip(theta).map(|(g, t)| g + lambda * t).collect(),
        )),
        WeightDecay::Decoupled(lambda) => notes.push(format!(
            "decoupled weight decay (O2): θ is first multiplied by 1 − lr·λ = {}",
            sig13(1.0 - config.lr() * lambda)
        )),
        WeightDecay::None => {}
    }
    let theta_decayed: Vec<f64> = match wd {
        WeightDecay::Decoupled(lambda) => theta
            .iter()
            .map(|t| t * (1.0 - config.lr() * lambda))
            .collect(),
        _ => theta.to_vec(),
    };
    if t_before > 0 {
        notes.push(format!(
            "the optimizer had taken {t_before} step(s) before this one; its state before \
             the step is shown with a ₀ subscript"
        ));
        for (name, v) in before {
            q.push(col(
                &format!("{name}_before"),
                &format!("{}₀", state_symbol(name)),
                &format!("{name} before the step"),
                "—",
                Origin::Given,
                v.clone(),
            ));
        }
    }
    let lr = config.lr();
    match *config {
        OptimizerConfig::Sgd { momentum, .. } => {
            let new_eq = match momentum {
                Momentum::None => "O3",
                Momentum::Classic(_) => {
                    q.push(col(
                        "velocity",
                        "b",
                        "μ·b₀ + g",
                        "O4",
                        Origin::Engine,
                        buffer(after, "velocity"),
                    ));
                    "O5"
                }
                Momentum::Nesterov(_) => {
                    q.push(col(
                        "velocity",
                        "b",
                        "μ·b₀ + g",
                        "O4",
                        Origin::Engine,
                        buffer(after, "velocity"),
                    ));
                    "O6"
                }
            };
            push_step(&mut q, theta, theta_new, new_eq);
        }
        OptimizerConfig::RmsProp { rho: _, eps, .. } => {
            q.push(col(
                "rms_v",
                "v",
                "ρ·v₀ + (1 − ρ)·g²",
                "O7",
                Origin::Engine,
                buffer(after, "v"),
            ));
            let eq = match eps {
                RmsPropEpsilon::Torch(_) => "O8",
                RmsPropEpsilon::Keras(_) => "O9",
            };
            push_step(&mut q, theta, theta_new, eq);
        }
        OptimizerConfig::Adam {
            beta1, beta2, eps, ..
        } => {
            let tf = t as f64;
            let b1 = 1.0 - beta1.powf(tf);
            let b2 = 1.0 - beta2.powf(tf);
            q.push(Quantity::scalar(
                "adam_bc1",
                "1 − β₁ᵗ",
                "bias correction of m",
                "O12",
                Origin::Derived,
                b1,
            ));
            q.push(Quantity::scalar(
                "adam_bc2",
                "1 − β₂ᵗ",
                "bias correction of v",
                "O12",
                Origin::Derived,
                b2,
            ));
            let m = buffer(after, "m");
            let v = buffer(after, "v");
            let (v_formula, v_eq) = match eps {
                AdamEpsilon::Torch(_) => ("β₂·v₀ + (1 − β₂)·g²", "O11"),
                AdamEpsilon::Keras(_) => ("v₀ + (g² − v₀)·(1 − β₂)", "O11′"),
            };
            q.push(col(
                "adam_m",
                "m",
                "m₀ + (1 − β₁)·(g − m₀)",
                "O10",
                Origin::Engine,
                m.clone(),
            ));
            q.push(col(
                "adam_v",
                "v",
                v_formula,
                v_eq,
                Origin::Engine,
                v.clone(),
            ));
            let m_hat: Vec<f64> = m.iter().map(|m| m / b1).collect();
            let v_hat: Vec<f64> = v.iter().map(|v| v / b2).collect();
            q.push(col(
                "adam_m_hat",
                "m̂",
                "m/(1 − β₁ᵗ)",
                "O12",
                Origin::Derived,
                m_hat.clone(),
            ));
            q.push(col(
                "adam_v_hat",
                "v̂",
                "v/(1 − β₂ᵗ)",
                "O12",
                Origin::Derived,
                v_hat.clone(),
            ));
            let (textbook, eq): (Vec<f64>, &str) = match eps {
                AdamEpsilon::Torch(e) => (
                    m_hat
                        .iter()
                        .zip(&v_hat)
                        .map(|(m, v)| lr * m / (v.sqrt() + e))
                        .collect(),
                    "O12",
                ),
                AdamEpsilon::Keras(e) => {
                    let alpha = lr * b2.sqrt() / b1;
                    (
                        m.iter()
                            .zip(&v)
                            .map(|(m, v)| m * alpha / (v.sqrt() + e))
                            .collect(),
                        "O13",
                    )
                }
            };
            let formula = match eps {
                AdamEpsilon::Torch(_) => "lr·m̂/(√v̂ + ε)",
                AdamEpsilon::Keras(_) => "α_t·m/(√v + ε̂), α_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)",
            };
            // The engine computes the same step as (lr/b₁)·(m/(√v/√b₂ + ε)); the two
            // orders of operations may differ in the last bits.
            let measured: Vec<f64> = theta_decayed
                .iter()
                .zip(theta_new)
                .map(|(a, b)| a - b)
                .collect();
            let gap = textbook
                .iter()
                .zip(&measured)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            notes.push(format!(
                "Adam's step: the textbook form {formula} and the engine's θ − θ′ differ by at \
                 most {} (order of rounding)",
                sig(gap)
            ));
            q.push(col(
                "adam_step",
                "step",
                formula,
                eq,
                Origin::Derived,
                textbook,
            ));
            q.push(col(
                "theta_new",
                "θ′",
                "θ − step",
                eq,
                Origin::Engine,
                theta_new.to_vec(),
            ));
            q.push(col(
                "delta_theta",
                "θ′ − θ",
                "the change made by the engine",
                eq,
                Origin::Derived,
                theta_new.iter().zip(theta).map(|(a, b)| a - b).collect(),
            ));
        }
    }
    (q, notes)
}

fn sig(x: f64) -> String {
    super::sig(x, 3)
}

/// θ′ (engine) and θ′ − θ (derived) for SGD and RMSprop.
fn push_step(q: &mut Vec<Quantity>, theta: &[f64], theta_new: &[f64], eq: &str) {
    let p = theta.len();
    q.push(Quantity::new(
        "theta_new",
        "θ′",
        "parameter after the step",
        eq,
        Origin::Engine,
        vec![p],
        theta_new.to_vec(),
    ));
    q.push(Quantity::new(
        "delta_theta",
        "θ′ − θ",
        "the change made by the engine",
        eq,
        Origin::Derived,
        vec![p],
        theta_new.iter().zip(theta).map(|(a, b)| a - b).collect(),
    ));
}

fn state_symbol(name: &str) -> &str {
    match name {
        "velocity" => "b",
        other => other,
    }
}
