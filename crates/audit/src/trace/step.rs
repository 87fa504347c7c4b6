//! One training step of a network on a batch, every intermediate captured from the engine's
//! own forward, loss, backward and optimizer code (see the module documentation of
//! [`crate::trace`] for what is proven and how).

use glassbox_core::{Activation, InputLayerSpec, LayerSpec, Mlp, MlpSpec, Mode, Upstream};
use glassbox_core::{
    GradWrite, TensorInfo, WideTerm, dense_backward_input, dense_backward_params,
    wide_backward_input_add, wide_backward_params,
};
use glassbox_data::{Preprocessor, Table};
use glassbox_train::{LossConfig, LossInput, LossKind, Optimizer, OptimizerConfig};
use ndarray::{Array1, Array2, ArrayView2, array};

use super::equations::{activation_eq, derivative_text, loss_eqs, optimizer_name, sub};
use super::scale::{self, scale_of, scale_tensor};
use super::update::update_section;
use super::{LayerInfo, Origin, Quantity, Section, Trace};
use crate::{AuditError, encode_f64, first_rows};

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

/// [`AuditError::TooManyRows`] beyond [`MAX_TRACE_ROWS`](crate::MAX_TRACE_ROWS).
fn check_trace_rows(n: usize) -> Result<(), AuditError> {
    crate::check_row_limit(
        "trace",
        n,
        crate::MAX_TRACE_ROWS,
        "a trace prints every number of the step, several per row",
    )
}

/// The trace of one step of `mlp` (cast to f64) on the first `k` rows of `table`, encoded
/// by `pre`, with a fresh `optimizer`. The targets are the preprocessor's 0/1 labels.
///
/// # Errors
/// [`AuditError::RowCount`] if `k` is 0 or exceeds the file; [`AuditError::TooManyRows`]
/// beyond [`MAX_TRACE_ROWS`](crate::MAX_TRACE_ROWS); [`AuditError::Model`] if the
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
    crate::check_model_fits(mlp, pre)?;
    let rows = first_rows(table, k)?;
    check_trace_rows(k)?;
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
    check_trace_rows(x.nrows())?;
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
    let wide = wide_tensor(&net);
    let scale = scale_tensor(&net);
    let n = x.nrows();
    let mut ws = net.workspace(n);
    let fwd = net.forward(x, Mode::Inference, &mut ws);
    // B31: the first Dense layer reads X̃ = X ⊙ s when the network scales its features.
    let x_scaled = scale
        .as_ref()
        .map(|_| fwd.input_layer_pre_activation(0).to_owned());
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
    let d_x = net
        .backward(fwd, upstream, GradWrite::Accumulate)
        .input_gradient()
        .to_owned();

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
    // ∂L/∂X̃ (B6 on the first Dense layer, B32) when the network scales its features.
    let d_x_scaled = scale.as_ref().map(|_| {
        let mut g = Array2::<f64>::zeros(x.dim());
        dense_backward_input(net.theta(0), d_z[0].view(), g.view_mut());
        g
    });
    let first_in = x_scaled.as_ref().map_or(x, |a| a.view());
    let scaled = match (&scale, &x_scaled, &d_x_scaled) {
        (Some(s), Some(a), Some(d)) => {
            scale::verify_forward(scale_of(&net, s), x, a.view())?;
            Some((s, d.view()))
        }
        _ => None,
    };
    let captured = Captured {
        first_in,
        ys: &ys,
        d_z: &d_z,
        d_x: d_x.view(),
    };
    verify_captured(&net, wide.as_ref(), scaled, x, &captured)?;

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
    if let Some(s) = &scale {
        given.push(scale::given_s(&net, s));
    }
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

    if let Some(w) = &wide {
        given.push(Quantity::matrix(
            "w_wide",
            "W",
            "weights of the wide term (row o = output o, column d = feature d)",
            "B27",
            Origin::Given,
            tensor_view(net.params(), w),
        ));
    }

    let mut forward: Vec<Quantity> = x_scaled
        .iter()
        .map(|a| scale::forward_x_scaled(a.view()))
        .collect();
    let x_sym = if scale.is_some() { "X̃" } else { "X" };
    for l in 0..n_layers {
        let k = sub(l + 1);
        let prev = if l == 0 {
            x_sym.to_string()
        } else {
            format!("Y{}", sub(l))
        };
        // B27: the wide term adds X·Wᵀ to the output layer's pre-activation.
        let (wide_text, wide_eq) = if l == last && wide.is_some() {
            (" + X·Wᵀ", ", B27")
        } else {
            ("", "")
        };
        forward.push(Quantity::matrix(
            format!("z{}", l + 1),
            format!("Z{k}"),
            format!("{prev}·Θ{k}ᵀ + 1·b{k}ᵀ{wide_text}"),
            format!("B1, B20{wide_eq}"),
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
            x_sym.to_string()
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
        if let (Some(w), true) = (&wide, l == last) {
            backward.push(Quantity::matrix(
                "d_w_wide",
                "∂L/∂W",
                format!("(∂L/∂Z{k})ᵀ·X"),
                "B28",
                Origin::Engine,
                tensor_view(net.grads(), w),
            ));
        }
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
    if let (Some(s), Some(d)) = (&scale, &d_x_scaled) {
        backward.extend(scale::backward_quantities(&net, s, d.view()));
    }
    let (d_x_first, first_eq) = match scale {
        Some(_) => ("∂L/∂X̃ ⊙ s".to_string(), "N2, B32"),
        None => (format!("∂L/∂Z{}·Θ{}", sub(1), sub(1)), "B6, B20d"),
    };
    let (d_x_wide, d_x_eq) = match wide {
        Some(_) => (
            format!(" + ∂L/∂Z{}·W", sub(n_layers)),
            format!("{first_eq}, B29"),
        ),
        None => (String::new(), first_eq.to_string()),
    };
    backward.push(Quantity::matrix(
        "d_x",
        "∂L/∂X",
        format!("{d_x_first}{d_x_wide}"),
        d_x_eq,
        Origin::Engine,
        d_x.view(),
    ));
    notes.push(
        "∂L/∂Z and ∂L/∂Y of every layer were captured with the engine's per-layer backward \
         functions and reproduce the MLP's own ∂L/∂Θ, ∂L/∂b and ∂L/∂X bit for bit (checked)"
            .into(),
    );
    if scale.is_some() {
        notes.push(
            "per-feature scaling: X̃ = X ⊙ s is the engine's own (checked against N1), ∂L/∂s \
             recomputed from the captured ∂L/∂X̃ reproduces the MLP's bit for bit (B32); the \
             tensors count the scaling as layer 0 (layers.0.scale), so Θ₁ is layers.1.weight"
                .into(),
        );
    }

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
    let (row_labels, tensor_labels) = parameter_labels(&net, scale.as_ref());

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
    if spec.ensemble_k > 1 {
        return Err(AuditError::Model(format!(
            "the trace follows one network of Dense layers; this one is a BatchEnsemble of \
             {} members (--ensemble-k, notes/tabular.md N19), which it does not show yet — \
             gradcheck and explain read such a network",
            spec.ensemble_k
        )));
    }
    if !matches!(spec.input_layers.as_slice(), [] | [InputLayerSpec::Scale]) {
        let names: Vec<String> = spec.input_layers.iter().map(|l| l.to_string()).collect();
        return Err(AuditError::Model(format!(
            "the trace shows Dense layers, the wide term and one per-feature scaling layer \
             (--feature-scale); this network's input layers of tables are [{}]: a PLR \
             embedding (--embedding plr), or more than one input layer, it does not show yet \
             — gradcheck and explain read such a network",
            names.join(", ")
        )));
    }
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

/// What the trace captured of the backward pass: the first Dense layer's input (X, or X̃
/// with scaling), every Dense layer's Yₗ and ∂L/∂Zₗ, and the MLP's own ∂L/∂X.
struct Captured<'c> {
    first_in: ArrayView2<'c, f64>,
    ys: &'c [Array2<f64>],
    d_z: &'c [Array2<f64>],
    d_x: ArrayView2<'c, f64>,
}

/// Recomputes ∂L/∂Θₗ, ∂L/∂bₗ (B4, B5), the scaling's ∂L/∂s (B32), the wide term's ∂L/∂W
/// (B28) and ∂L/∂X (B6 or B32, then B29) from the captured ∂L/∂Zₗ (and ∂L/∂X̃) and demands
/// bit-identical agreement with the MLP's backward.
fn verify_captured(
    net: &Mlp<f64>,
    wide: Option<&TensorInfo>,
    scaled: Option<(&TensorInfo, ArrayView2<f64>)>,
    x: ArrayView2<f64>,
    c: &Captured,
) -> Result<(), AuditError> {
    for (l, dz) in c.d_z.iter().enumerate() {
        let input = if l == 0 {
            c.first_in
        } else {
            c.ys[l - 1].view()
        };
        let mut d_theta = Array2::<f64>::zeros(net.theta(l).dim());
        let mut d_b = Array1::<f64>::zeros(net.bias(l).len());
        let write = GradWrite::Accumulate;
        dense_backward_params(input, dz.view(), d_theta.view_mut(), d_b.view_mut(), write);
        if d_theta != net.d_theta(l) || d_b != net.d_bias(l) {
            return Err(AuditError::Internal(format!(
                "layer {}: the captured ∂L/∂Z does not reproduce the MLP's ∂L/∂Θ and ∂L/∂b",
                l + 1
            )));
        }
    }
    let mut check = match scaled {
        Some((s, d_x_scaled)) => scale::verify_backward(net, s, x, d_x_scaled)?,
        None => {
            let mut g = Array2::<f64>::zeros(c.d_x.dim());
            dense_backward_input(net.theta(0), c.d_z[0].view(), g.view_mut());
            g
        }
    };
    if let (Some(w), Some(d_top)) = (wide, c.d_z.last()) {
        let mut d_w = Array2::<f64>::zeros((w.shape[0], w.shape[1]));
        let write = GradWrite::Accumulate;
        wide_backward_params(x, d_top.view(), d_w.view_mut(), write, 0..x.nrows());
        if d_w != tensor_view(net.grads(), w) {
            return Err(AuditError::Internal(
                "the captured ∂L/∂Z of the output layer does not reproduce the MLP's ∂L/∂W".into(),
            ));
        }
        wide_backward_input_add(tensor_view(net.params(), w), d_top.view(), check.view_mut());
    }
    if check != c.d_x {
        return Err(AuditError::Internal(
            "the captured ∂L/∂Z₁ does not reproduce the MLP's ∂L/∂X".into(),
        ));
    }
    Ok(())
}

/// The wide term's tensor (B27), if the network has one.
fn wide_tensor(net: &Mlp<f64>) -> Option<TensorInfo> {
    net.tensors()
        .into_iter()
        .find(|t| t.name == WideTerm::TENSOR_NAME)
}

/// The (rows, columns) view of a matrix tensor in a flat buffer (parameters or gradients).
fn tensor_view<'b>(buffer: &'b [f64], t: &TensorInfo) -> ArrayView2<'b, f64> {
    let range = t.range();
    ArrayView2::from_shape((t.shape[0], t.shape[1]), &buffer[range])
        .expect("a matrix tensor's shape matches its range")
}

/// Labels of every parameter: `Θ₁[1,2]` (1-based, Dense layers counted from 1) and
/// `layers.0.weight[0,1]` (0-based, as the code names them); the scaling's `s[2]` and
/// `layers.0.scale[1]`; the wide term's `W[1,2]` and `wide.weight[0,1]`.
fn parameter_labels(net: &Mlp<f64>, scale: Option<&TensorInfo>) -> (Vec<String>, Vec<String>) {
    let mut pretty = Vec::with_capacity(net.num_params());
    let mut code = Vec::with_capacity(net.num_params());
    let mut dense_tensors = 0;
    for t in net.tensors() {
        if scale.is_some_and(|s| s.name == t.name) {
            for d in 0..t.len() {
                pretty.push(format!("s[{}]", d + 1));
                code.push(format!("{}[{d}]", t.name));
            }
            continue;
        }
        if t.name == WideTerm::TENSOR_NAME {
            for r in 0..t.shape[0] {
                for c in 0..t.shape[1] {
                    pretty.push(format!("W[{},{}]", r + 1, c + 1));
                    code.push(format!("{}[{r},{c}]", t.name));
                }
            }
            continue;
        }
        // A Dense layer's Θ then b.
        let layer = sub(dense_tensors / 2 + 1);
        dense_tensors += 1;
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
