//! `glassbox_audit::trace`: every number of one training step of the 2-2-1 example against the
//! hand-worked values of notes/backprop.md §9 and the PyTorch Adam numbers of
//! notes/teaching.md.
//!
//! The forward/backward values were computed with Python's `decimal` at 40 digits and
//! printed to 13 significant digits (notes/backprop.md §9); the Adam values come from
//! `torch.optim.Adam(lr=0.1)` in float64 (torch 2.15.0), printed with `%.13g` — the script is in
//! notes/teaching.md §6. A relative tolerance of 1e-11 covers the 13-digit printing
//! (≤ 5e-13) and f64 rounding.

#[path = "../../data/tests/support/mod.rs"]
mod data_support;
mod support;

use glassbox_audit::AuditError;
use glassbox_audit::trace::{
    Origin, default_optimizer, example_2_2_1, new_optimizer, trace_csv, trace_example, trace_step,
};
use glassbox_core::{GradWrite, Mode, Upstream};
use glassbox_train::{LossConfig, LossKind, OptimizerConfig, mse};

fn assert_close(trace: &glassbox_audit::trace::Trace, id: &str, expected: &[f64]) {
    let q = trace
        .quantity(id)
        .unwrap_or_else(|| panic!("no quantity {id}"));
    assert_eq!(q.values.len(), expected.len(), "{id}: length");
    for (i, (a, e)) in q.values.iter().zip(expected).enumerate() {
        let rel = (a - e).abs() / e.abs().max(1e-300);
        assert!(rel < 1e-11, "{id}[{i}]: {a:e} vs {e:e} (rel {rel:e})");
    }
}

#[test]
fn forward_and_backward_match_the_hand_worked_example() {
    let t = trace_example(default_optimizer()).unwrap();
    assert_eq!(t.rows, 2);
    assert_eq!(t.step, 1);
    assert_close(&t, "z1", &[0.3775, 0.3925, 0.355, 0.365]);
    assert_close(
        &t,
        "y1",
        &[
            0.5932699921072,
            0.5968843782598,
            0.5878295384825,
            0.5902502519302,
        ],
    );
    assert_close(&t, "z2", &[1.105905967060, 1.100744428762]);
    assert_close(&t, "y2", &[0.7513650695523, 0.7503995631350]);
    assert_close(&t, "loss", &[0.3035152678491]);
    assert_close(&t, "d_y_hat", &[0.7413650695523, -0.2396004368650]);
    assert_close(&t, "d_z2", &[0.1384985616286, -0.04487717590896]);
    assert_close(&t, "d_theta2", &[0.05578691096127, 0.05617886346136]);
    assert_close(&t, "d_b2", &[0.09362138571960]);
    assert_close(
        &t,
        "d_y1",
        &[
            0.05539942465142,
            0.06232435273285,
            -0.01795087036358,
            -0.02019472915903,
        ],
    );
    assert_close(
        &t,
        "d_z1",
        &[
            0.01336792042289,
            0.01499607548890,
            -0.004349244077337,
            -0.004884194040262,
        ],
    );
    assert_close(
        &t,
        "d_theta1",
        &[
            -0.0006363772020568,
            0.002206640857756,
            -0.0007154544376339,
            0.002476446356942,
        ],
    );
    assert_close(&t, "d_b1", &[0.009018676345550, 0.01011188144863]);
    assert_close(
        &t,
        "d_x",
        &[
            0.005754206935657,
            0.007172406731247,
            -0.001873435121666,
            -0.002335107027546,
        ],
    );
}

#[test]
fn every_number_carries_its_equation() {
    let t = trace_example(default_optimizer()).unwrap();
    let eq = |id: &str| t.quantity(id).unwrap().equation.clone();
    assert_eq!(eq("z1"), "B1, B20");
    assert_eq!(eq("y1"), "B2, B10");
    assert_eq!(eq("loss"), "L1");
    assert_eq!(eq("d_y_hat"), "L2");
    assert_eq!(eq("d_z2"), "B3, B10, B20b");
    assert_eq!(eq("d_theta2"), "B4, B20c");
    assert_eq!(eq("d_b2"), "B5, B20c");
    assert_eq!(eq("d_y1"), "B6, B20d");
    assert_eq!(eq("d_x"), "B6, B20d");
    assert_eq!(eq("adam_m"), "O10");
    assert_eq!(eq("adam_v"), "O11");
    assert_eq!(eq("adam_m_hat"), "O12");
    assert_eq!(eq("theta_new"), "O12");
    for s in &t.sections {
        for q in &s.quantities {
            assert!(!q.equation.is_empty(), "{} has no equation", q.id);
        }
    }
    assert_eq!(t.quantity("adam_m_hat").unwrap().origin, Origin::Derived);
    assert_eq!(t.quantity("adam_m").unwrap().origin, Origin::Engine);
}

/// PyTorch `Adam(lr=0.1)`, step 1 (notes/teaching.md §5).
#[test]
fn adam_first_step_matches_pytorch() {
    let t = trace_example(default_optimizer()).unwrap();
    let g = [
        -0.0006363772020568,
        0.002206640857756,
        -0.0007154544376339,
        0.002476446356942,
        0.00901867634555,
        0.01011188144863,
        0.05578691096127,
        0.05617886346136,
        0.0936213857196,
    ];
    assert_close(&t, "g", &g);
    assert_close(&t, "adam_m", &g.map(|g| 0.1 * g));
    assert_close(
        &t,
        "adam_v",
        &[
            4.049759432976e-10,
            4.869263875119e-09,
            5.1187505233e-10,
            6.132786558812e-09,
            8.133652302579e-08,
            1.022501464312e-07,
            3.112179434601e-06,
            3.15606469981e-06,
            8.764963864058e-06,
        ],
    );
    assert_close(&t, "adam_m_hat", &g);
    assert_close(&t, "adam_v_hat", &g.map(|g| g * g));
    assert_close(&t, "adam_bc1", &[0.1]);
    assert_close(&t, "adam_bc2", &[0.001]);
    assert_close(
        &t,
        "adam_step",
        &[
            -0.09999842862962,
            0.09999954682455,
            -0.09999860230649,
            0.0999995961972,
            0.09999988911911,
            0.09999990110653,
            0.09999998207465,
            0.09999998219971,
            0.09999998931868,
        ],
    );
    assert_close(
        &t,
        "theta_new",
        &[
            0.2499984286296,
            0.1000004531755,
            0.3499986023065,
            0.2000004038028,
            0.2500001108809,
            0.2500000988935,
            0.3000000179253,
            0.3500000178003,
            0.5000000106813,
        ],
    );
}

/// PyTorch `Adam(lr=0.1)`, step 2: the bias corrections no longer cancel, so m̂ ≠ g.
#[test]
fn adam_second_step_matches_pytorch() {
    let (mut mlp, x, y) = example_2_2_1();
    let mut opt = new_optimizer(default_optimizer(), mlp.num_params()).unwrap();
    // Step 1 with the engine (forward, MSE, backward, Adam).
    let mut ws = mlp.workspace(2);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let mut d_y = ndarray::Array2::zeros((2, 1));
    mse(
        fwd.output(),
        y.view(),
        &glassbox_train::Weighting::NONE,
        Some(d_y.view_mut()),
    );
    mlp.zero_grads();
    mlp.backward(fwd, Upstream::DY(d_y.view()), GradWrite::Accumulate);
    let (p, g) = mlp.params_and_grads_mut();
    opt.step(p, g);

    let t = trace_step(
        &mlp,
        x.view(),
        y.view(),
        &LossConfig::new(LossKind::Mse),
        &opt,
    )
    .unwrap();
    assert_eq!(t.step, 2);
    assert_close(&t, "loss", &[0.2817655847098]);
    assert_close(
        &t,
        "g",
        &[
            -0.0007652910017271,
            0.001929261120245,
            -0.0008918076428334,
            0.0022466661606,
            0.006318199488581,
            0.007353106182498,
            0.04809306612588,
            0.04848061546568,
            0.08554188943477,
        ],
    );
    assert_close(
        &t,
        "adam_m",
        &[
            -0.0001338030483578,
            0.0003915237892226,
            -0.0001535716636704,
            0.0004475467881848,
            0.001443500819958,
            0.001645379948627,
            0.009830128599102,
            0.00990415925809,
            0.01698011365824,
        ],
    );
    assert_close(
        &t,
        "adam_v",
        &[
            9.902412846789e-10,
            8.586443081335e-09,
            1.306684049094e-09,
            1.117416260944e-08,
            1.211748312803e-07,
            1.562160668159e-07,
            5.422010264554e-06,
            5.503278711041e-06,
            1.607361374827e-05,
        ],
    );
    assert_close(
        &t,
        "adam_m_hat",
        &[
            -0.0007042265703044,
            0.002060651522224,
            -0.0008082719140547,
            0.002355509411499,
            0.007597372736619,
            0.008659894466457,
            0.05173751894264,
            0.05212715398995,
            0.0893690192539,
        ],
    );
    assert_close(
        &t,
        "adam_v_hat",
        &[
            4.953683265027e-07,
            4.29536922528e-06,
            6.536688589763e-07,
            5.58987624284e-06,
            6.061772450238e-05,
            7.814710696143e-05,
            0.002712361312934,
            0.002753015863452,
            0.008040827287777,
        ],
    );
    assert_close(
        &t,
        "adam_step",
        &[
            -0.1000557655239,
            0.09942651291977,
            -0.09997081180855,
            0.09962811432964,
            0.09758050500262,
            0.09796155172861,
            0.09934173584933,
            0.09934810198919,
            0.09966360140547,
        ],
    );
    assert_close(
        &t,
        "theta_new",
        &[
            0.3500541941535,
            0.000573940255681,
            0.449969414115,
            0.1003722894732,
            0.1524196058783,
            0.1520385471649,
            0.200658282076,
            0.2506519158111,
            0.4003364092758,
        ],
    );
    // The state before the step is shown (m₀ = m after step 1 = 0.1·g₁).
    assert_close(
        &t,
        "m_before",
        &[
            -6.363772020568e-05,
            0.0002206640857756,
            -7.154544376339e-05,
            0.0002476446356942,
            0.000901867634555,
            0.001011188144863,
            0.005578691096127,
            0.005617886346136,
            0.00936213857196,
        ],
    );
}

#[test]
fn sgd_step_is_theta_minus_lr_g_exactly() {
    let t = trace_example(OptimizerConfig::sgd(0.5)).unwrap();
    let theta = &t.quantity("theta_before").unwrap().values;
    let g = &t.quantity("g").unwrap().values;
    let new = &t.quantity("theta_new").unwrap().values;
    for i in 0..theta.len() {
        assert_eq!(new[i], theta[i] - 0.5 * g[i]);
    }
    assert_eq!(t.quantity("theta_new").unwrap().equation, "O3");
    assert!(t.quantity("adam_m").is_none());
}

#[test]
fn fused_logit_loss_starts_backward_at_the_logits() {
    // BCE from logits on the same network: ∂L/∂Z₂ = (σ(z) − y)/N (L6), no ∂L/∂ŷ row.
    let (mlp, x, y) = example_2_2_1();
    let opt = new_optimizer(OptimizerConfig::sgd(0.1), mlp.num_params()).unwrap();
    let t = trace_step(
        &mlp,
        x.view(),
        y.view(),
        &LossConfig::new(LossKind::BceWithLogits),
        &opt,
    )
    .unwrap();
    assert!(t.quantity("d_y_hat").is_none());
    let d_z2 = &t.quantity("d_z2").unwrap();
    assert_eq!(d_z2.equation, "L6, L3");
    let z2 = &t.quantity("z2").unwrap().values;
    for (n, target) in [0.01, 0.99].iter().enumerate() {
        let expect = (1.0 / (1.0 + (-z2[n]).exp()) - target) / 2.0;
        assert!((d_z2.values[n] - expect).abs() < 1e-16);
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (mlp, x, y) = example_2_2_1();
    let opt = new_optimizer(default_optimizer(), mlp.num_params()).unwrap();
    let mse = LossConfig::new(LossKind::Mse);
    let wide = ndarray::Array2::<f64>::zeros((2, 3));
    let e = trace_step(&mlp, wide.view(), y.view(), &mse, &opt).unwrap_err();
    assert!(matches!(e, AuditError::Model(_)), "{e}");
    assert!(e.to_string().contains("X has 3 columns"), "{e}");
    let short_y = ndarray::Array2::<f64>::zeros((1, 1));
    let e = trace_step(&mlp, x.view(), short_y.view(), &mse, &opt).unwrap_err();
    assert!(e.to_string().contains("targets are (1, 1)"), "{e}");
    let small = new_optimizer(default_optimizer(), 3).unwrap();
    let e = trace_step(&mlp, x.view(), y.view(), &mse, &small).unwrap_err();
    assert!(e.to_string().contains("9 parameters"), "{e}");
    let e = new_optimizer(OptimizerConfig::sgd(-1.0), 9).unwrap_err();
    assert!(matches!(e, AuditError::InvalidOption { .. }), "{e}");
    let empty = ndarray::Array2::<f64>::zeros((0, 2));
    let no_y = ndarray::Array2::<f64>::zeros((0, 1));
    assert!(trace_step(&mlp, empty.view(), no_y.view(), &mse, &opt).is_err());
}

#[test]
fn trace_of_a_saved_model_on_csv_rows() {
    let (mlp, pre, test) = support::trained_shoppers_model();
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let t = trace_csv(&mlp, &pre, &test, 3, &loss, OptimizerConfig::sgd(0.1)).unwrap();
    assert_eq!(t.rows, 3);
    assert_eq!(t.inputs, 79);
    assert_eq!(t.quantity("x").unwrap().shape, [3, 79]);
    assert_eq!(t.quantity("d_x").unwrap().shape, [3, 79]);
    assert_eq!(t.quantity("d_theta1").unwrap().shape, [16, 79]);
    assert_eq!(t.quantity("loss").unwrap().equation, "L5, L3");
    assert_eq!(t.quantity("g").unwrap().values.len(), mlp.num_params());
    assert!(t.notes.iter().any(|n| n.contains("PageValues")));
    // The targets are the preprocessor's labels of the first three rows.
    let (_, y) = pre.transform(&test.select_rows(&[0, 1, 2])).unwrap();
    let want: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(t.quantity("y_target").unwrap().values, want);
    let e = trace_csv(&mlp, &pre, &test, 5000, &loss, default_optimizer()).unwrap_err();
    assert!(
        e.to_string()
            .contains("5000 rows requested but the file holds 2466"),
        "{e}"
    );
    let other = support::classifier::<f32>(4, 2, 0);
    let e = trace_csv(&other, &pre, &test, 2, &loss, default_optimizer()).unwrap_err();
    assert!(matches!(e, AuditError::Model(_)), "{e}");
}

#[test]
fn a_trace_of_more_rows_than_the_limit_is_refused() {
    let (mlp, _, _) = example_2_2_1();
    let n = glassbox_audit::MAX_TRACE_ROWS + 1;
    let x = ndarray::Array2::<f64>::zeros((n, 2));
    let y = ndarray::Array2::<f64>::zeros((n, 1));
    let opt = new_optimizer(default_optimizer(), mlp.num_params()).unwrap();
    let e = trace_step(
        &mlp,
        x.view(),
        y.view(),
        &LossConfig::new(LossKind::Mse),
        &opt,
    )
    .unwrap_err();
    assert!(
        matches!(e, AuditError::TooManyRows { audit: "trace", requested, limit: 1_000, .. } if requested == n),
        "{e}"
    );
    assert!(
        e.to_string().contains("choose fewer rows with --rows"),
        "{e}"
    );
    // At the limit the trace runs.
    let n = glassbox_audit::MAX_TRACE_ROWS;
    let x = ndarray::Array2::<f64>::zeros((n, 2));
    let y = ndarray::Array2::<f64>::zeros((n, 1));
    let loss = LossConfig::new(LossKind::Mse);
    assert!(trace_step(&mlp, x.view(), y.view(), &loss, &opt).is_ok());
}

#[test]
fn a_csv_trace_of_more_rows_than_the_limit_is_refused() {
    let (mlp, pre, test) = support::trained_shoppers_model();
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let e = trace_csv(&mlp, &pre, &test, 1_001, &loss, default_optimizer()).unwrap_err();
    assert!(
        matches!(
            e,
            AuditError::TooManyRows {
                audit: "trace",
                requested: 1_001,
                ..
            }
        ),
        "{e}"
    );
}

/// The 2-2-1 example with the wide term (B27), W = [0.7, −0.3].
fn wide_example() -> (
    glassbox_core::Mlp<f64>,
    ndarray::Array2<f64>,
    ndarray::Array2<f64>,
) {
    let (mlp, x, y) = example_2_2_1();
    let spec = mlp.spec().clone().with_wide(true);
    let mut params = mlp.params().to_vec();
    params.extend([0.7, -0.3]);
    (glassbox_core::Mlp::from_params(spec, params).unwrap(), x, y)
}

/// The loss of `mlp` on the batch (the trace's own forward and loss).
fn loss_at(
    mlp: &glassbox_core::Mlp<f64>,
    x: &ndarray::Array2<f64>,
    y: &ndarray::Array2<f64>,
) -> f64 {
    let opt = new_optimizer(OptimizerConfig::sgd(0.1), mlp.num_params()).unwrap();
    let bce = LossConfig::new(LossKind::BceWithLogits);
    let t = trace_step(mlp, x.view(), y.view(), &bce, &opt).unwrap();
    t.quantity("loss").unwrap().values[0]
}

#[test]
fn the_wide_term_is_traced_and_checked_by_hand_and_by_differences() {
    let (mlp, x, y) = wide_example();
    let opt = new_optimizer(OptimizerConfig::sgd(0.1), mlp.num_params()).unwrap();
    let bce = LossConfig::new(LossKind::BceWithLogits);
    let t = trace_step(&mlp, x.view(), y.view(), &bce, &opt).unwrap();
    let v = |id: &str| t.quantity(id).unwrap().values.clone();
    let (w, y1, theta2, b2) = (v("w_wide"), v("y1"), v("theta2"), v("b2"));
    assert_eq!(w, [0.7, -0.3]);
    assert_eq!(t.quantity("z2").unwrap().equation, "B1, B20, B27");
    // B27 by hand: z₂ = Y₁·Θ₂ᵀ + b₂ + X·Wᵀ, row by row.
    let z2 = v("z2");
    for n in 0..2 {
        let deep = y1[2 * n] * theta2[0] + y1[2 * n + 1] * theta2[1] + b2[0];
        let wide = x[[n, 0]] * w[0] + x[[n, 1]] * w[1];
        assert!((z2[n] - (deep + wide)).abs() < 1e-15, "z2[{n}]");
    }
    // B28 by hand: ∂L/∂W = (∂L/∂Z₂)ᵀ·X; B29: ∂L/∂X gains ∂L/∂Z₂·W.
    let (d_z2, d_z1, theta1, d_w) = (v("d_z2"), v("d_z1"), v("theta1"), v("d_w_wide"));
    for d in 0..2 {
        let expect = d_z2[0] * x[[0, d]] + d_z2[1] * x[[1, d]];
        assert!((d_w[d] - expect).abs() < 1e-16, "d_w[{d}]");
    }
    let d_x = v("d_x");
    for n in 0..2 {
        for d in 0..2 {
            let deep = d_z1[2 * n] * theta1[d] + d_z1[2 * n + 1] * theta1[2 + d];
            let expect = deep + d_z2[n] * w[d];
            assert!((d_x[2 * n + d] - expect).abs() < 1e-16, "d_x[{n},{d}]");
        }
    }
    assert_eq!(t.quantity("d_x").unwrap().equation, "B6, B20d, B29");
    // The gradient of W against central differences of the loss (f64, h = 1e-6), and a
    // negative control: the differences tell a gradient 1e-3 off from the right one.
    for (d, &analytic) in d_w.iter().enumerate() {
        let h = 1e-6;
        let at = |delta: f64| {
            let mut m = mlp.clone();
            m.params_mut()[9 + d] += delta;
            loss_at(&m, &x, &y)
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        assert!(
            (numeric - analytic).abs() < 1e-9,
            "W[{d}]: {numeric} vs {}",
            analytic
        );
        assert!(
            (numeric - (analytic + 1e-3)).abs() > 1e-4,
            "negative control"
        );
    }
    // SGD's update reaches W too, labelled in both notations.
    let theta_new = v("theta_new");
    assert_eq!(theta_new[9], 0.7 - 0.1 * d_w[0]);
    let update = t.sections.last().unwrap();
    let labels = update.row_labels.as_ref().unwrap();
    assert_eq!(labels[9..], ["W[1,1]", "W[1,2]"]);
    assert_eq!(
        update.tensor_labels.as_ref().unwrap()[10],
        "wide.weight[0,1]"
    );
}
