//! Unit tests of the gradient check (notes/backprop.md §7): every activation and a Dense
//! layer as ops, MLPs with MSE and fused BCE, dropout with a fixed mask, kinks, and the
//! negative controls that must fail.

use super::*;
use crate::{
    Activation, Dense, DenseGrads, Init, LayerSpec, MlpSpec, dropout_backward, dropout_forward,
    dropout_sample_mask, sigmoid,
};
use ndarray::{Array, ArrayView2};

/// MSE (B17, B18): `L = (1/(N·O)) Σ (ŷ − y)²`, `∂L/∂ŷ = 2(ŷ − y)/(N·O)`.
struct Mse(Array2<f64>);

impl CheckLoss for Mse {
    fn input(&self) -> LossInput {
        LossInput::Output
    }
    fn value(&self, y_hat: ArrayView2<f64>) -> f64 {
        (&y_hat - &self.0).mapv(|e| e * e).sum() / y_hat.len() as f64
    }
    fn gradient(&self, y_hat: ArrayView2<f64>, mut d: ArrayViewMut2<f64>) {
        d.assign(&((&y_hat - &self.0) * (2.0 / y_hat.len() as f64)));
    }
}

/// BCE on logits in the stable form `max(z, 0) − z·y + ln(1 + e^{−|z|})`, mean over
/// N·O, with the fused gradient `(σ(z) − y)/(N·O)`: exercises the ∂L/∂Z path.
struct BceLogits(Array2<f64>);

impl CheckLoss for BceLogits {
    fn input(&self) -> LossInput {
        LossInput::Logits
    }
    fn value(&self, z: ArrayView2<f64>) -> f64 {
        let mut sum = 0.0;
        ndarray::Zip::from(&z).and(&self.0).for_each(|&z, &y| {
            sum += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
        });
        sum / z.len() as f64
    }
    fn gradient(&self, z: ArrayView2<f64>, mut d: ArrayViewMut2<f64>) {
        let n = z.len() as f64;
        ndarray::Zip::from(&mut d)
            .and(&z)
            .and(&self.0)
            .for_each(|d, &z, &y| *d = (sigmoid(z) - y) / n);
    }
}

/// Deterministic, irregular data in roughly [−1.5, 1.5], away from integer patterns.
fn data(rows: usize, cols: usize, salt: u64) -> Array2<f64> {
    Array::from_shape_fn((rows, cols), |(i, j)| {
        let k = (i * 131 + j * 71 + salt as usize * 37) % 97;
        (k as f64 / 97.0 - 0.5) * 3.0 + 0.013 * (j as f64 - i as f64)
    })
}

fn targets(rows: usize, cols: usize) -> Array2<f64> {
    Array::from_shape_fn((rows, cols), |(i, j)| ((i + j) % 2) as f64 * 0.8 + 0.1)
}

fn three_layer(acts: [Activation; 3], dropout: f64, seed: u64) -> Mlp<f64> {
    let spec = MlpSpec::new(
        6,
        vec![
            LayerSpec::new(5, acts[0]).with_dropout(dropout),
            LayerSpec::new(4, acts[1]),
            LayerSpec::new(2, acts[2]),
        ],
    );
    Mlp::new(spec, Init::TorchDefault, &mut seeded_rng(seed)).expect("valid spec")
}

#[test]
fn every_activation_passes() {
    let cfg = GradcheckConfig::default();
    let (n, h) = (4, 5);
    let w = data(n, h, 9);
    for act in Activation::VARIANTS {
        let z0 = data(n, h, 1);
        assert!(z0.iter().all(|z| z.abs() > 1e-3), "keep away from the kink");
        let loss = |z: &[f64]| {
            let z = ArrayView2::from_shape((n, h), z).expect("n·h values");
            let mut y = Array2::zeros((n, h));
            act.forward(z, y.view_mut());
            (&y * &w).sum()
        };
        let mut y = Array2::zeros((n, h));
        act.forward(z0.view(), y.view_mut());
        let mut d_z = Array2::zeros((n, h));
        act.backward(z0.view(), y.view(), w.view(), d_z.view_mut());
        let mut point: Vec<f64> = z0.iter().copied().collect();
        let analytic: Vec<f64> = d_z.iter().copied().collect();
        let r = check_tensor(act.name(), &mut point, &analytic, &cfg, loss);
        assert!(r.passed(), "{act}: {r:?}");
        assert_eq!(r.checked, n * h);
        assert!(r.max_rel_err < 1e-7, "{act}: {}", r.max_rel_err);
        assert_eq!(point, z0.iter().copied().collect::<Vec<_>>(), "restored");
        eprintln!("{act}: max_rel_err {:.2e}", r.max_rel_err);
    }
}

#[test]
fn single_dense_layer_passes_for_theta_b_and_x() {
    let cfg = GradcheckConfig::default();
    let (n, d, h) = (5, 4, 3);
    for act in Activation::VARIANTS {
        let layer = Dense::<f64>::new(d, h, act, Init::TorchDefault, &mut seeded_rng(4));
        let x = data(n, d, 2);
        let w = data(n, h, 3);
        let (_, cache) = layer.forward(x.view());
        let mut grads = DenseGrads::zeros_like(&layer);
        let d_x = layer.backward(&cache, w.view(), &mut grads);
        let out = |l: &Dense<f64>, x: ArrayView2<f64>| (&l.forward(x).0 * &w).sum();
        let mut theta: Vec<f64> = layer.theta().iter().copied().collect();
        let r = check_tensor(
            "theta",
            &mut theta,
            grads.d_theta.as_slice().expect("std"),
            &cfg,
            |t| {
                let th = Array2::from_shape_vec((h, d), t.to_vec()).expect("h·d");
                out(&Dense::from_parts(th, layer.b().to_owned(), act), x.view())
            },
        );
        assert!(r.passed() && r.max_rel_err < 1e-7, "{act} theta: {r:?}");
        let mut b: Vec<f64> = layer.b().to_vec();
        let r = check_tensor("b", &mut b, grads.d_b.as_slice().expect("std"), &cfg, |b| {
            let bb = ndarray::Array1::from(b.to_vec());
            out(
                &Dense::from_parts(layer.theta().to_owned(), bb, act),
                x.view(),
            )
        });
        assert!(r.passed() && r.max_rel_err < 1e-7, "{act} b: {r:?}");
        let mut xs: Vec<f64> = x.iter().copied().collect();
        let r = check_tensor("x", &mut xs, d_x.as_slice().expect("std"), &cfg, |xv| {
            out(&layer, ArrayView2::from_shape((n, d), xv).expect("n·d"))
        });
        assert!(r.passed() && r.max_rel_err < 1e-7, "{act} x: {r:?}");
    }
}

#[test]
fn three_layer_mlp_with_mse_passes_on_every_parameter_and_input() {
    let cfg = GradcheckConfig::default();
    for (seed, acts) in [
        [Activation::Tanh, Activation::Sigmoid, Activation::Sigmoid],
        [
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.2 },
            Activation::Identity,
        ],
        [Activation::Sigmoid, Activation::Tanh, Activation::Softmax],
    ]
    .into_iter()
    .enumerate()
    {
        let mlp = three_layer(acts, 0.0, seed as u64);
        let x = data(7, 6, 5);
        let report = check_mlp(
            &mlp,
            x.view(),
            &Mse(targets(7, 2)),
            CheckMode::Inference,
            &cfg,
        );
        eprintln!("{report}");
        assert!(report.passed(), "{report}");
        assert_eq!(report.tensors.len(), 7);
        let checked: usize = report
            .tensors
            .iter()
            .map(|t| t.checked + t.skipped_kinks)
            .sum();
        assert_eq!(checked, mlp.num_params() + x.len(), "every element visited");
        assert!(report.max_rel_err() < 1e-7, "{}", report.max_rel_err());
    }
}

#[test]
fn fused_logit_loss_passes() {
    let mlp = three_layer(
        [Activation::Tanh, Activation::Relu, Activation::Sigmoid],
        0.0,
        7,
    );
    let x = data(9, 6, 8);
    let y = Array::from_shape_fn((9, 2), |(i, j)| ((i * 3 + j) % 2) as f64);
    let report = check_mlp(
        &mlp,
        x.view(),
        &BceLogits(y),
        CheckMode::Inference,
        &GradcheckConfig::default(),
    );
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
}

#[test]
fn dropout_with_a_fixed_mask_passes() {
    // As an op: L = Σ w ⊙ (y ⊙ M), ∂L/∂y = w ⊙ M.
    let (n, h) = (6, 5);
    let mut mask = Array2::zeros((n, h));
    dropout_sample_mask(0.4, &mut seeded_rng(2), mask.view_mut());
    assert!(mask.iter().any(|&m| m == 0.0) && mask.iter().any(|&m| m != 0.0));
    let w = data(n, h, 4);
    let mut d = w.clone();
    dropout_backward(mask.view(), d.view_mut());
    let mut y: Vec<f64> = data(n, h, 6).iter().copied().collect();
    let r = check_tensor(
        "y",
        &mut y,
        d.as_slice().expect("std"),
        &GradcheckConfig::default(),
        |y| {
            let mut a = Array2::zeros((n, h));
            dropout_forward(
                ArrayView2::from_shape((n, h), y).expect("n·h"),
                mask.view(),
                a.view_mut(),
            );
            (&a * &w).sum()
        },
    );
    assert!(r.passed() && r.max_rel_err < 1e-7, "{r:?}");
    // In the MLP, training mode with the mask drawn from a fixed RNG state.
    let mlp = three_layer(
        [Activation::Tanh, Activation::Tanh, Activation::Sigmoid],
        0.5,
        3,
    );
    let x = data(8, 6, 1);
    let mask_rng = seeded_rng(77);
    let mode = CheckMode::Train {
        mask_rng: &mask_rng,
    };
    let report = check_mlp(
        &mlp,
        x.view(),
        &Mse(targets(8, 2)),
        mode,
        &GradcheckConfig::default(),
    );
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
    // The masks really were applied: training gradients differ from inference ones.
    let (train, _) = analytic_gradients(&mlp, x.view(), &Mse(targets(8, 2)), mode);
    let (infer, _) = analytic_gradients(&mlp, x.view(), &Mse(targets(8, 2)), CheckMode::Inference);
    assert_ne!(train, infer);
}

#[test]
fn negative_controls_fail() {
    let mlp = three_layer(
        [Activation::Tanh, Activation::Sigmoid, Activation::Sigmoid],
        0.0,
        11,
    );
    let x = data(5, 6, 3);
    let loss = Mse(targets(5, 2));
    let cfg = GradcheckConfig::default();
    let (params, input) = analytic_gradients(&mlp, x.view(), &loss, CheckMode::Inference);
    let good = compare_mlp(
        &mlp,
        x.view(),
        &loss,
        CheckMode::Inference,
        &params,
        input.view(),
        &cfg,
    );
    assert!(good.passed(), "{good}");

    // One parameter's gradient off by 0.1 %.
    let mut wrong = params.clone();
    let k = mlp.tensors()[2].offset + 3; // an element of layers.1.weight
    wrong[k] *= 1.001;
    let r = compare_mlp(
        &mlp,
        x.view(),
        &loss,
        CheckMode::Inference,
        &wrong,
        input.view(),
        &cfg,
    );
    assert!(!r.passed());
    let t = r.tensor("layers.1.weight").expect("tensor");
    assert_eq!(t.verdict, Verdict::TooLarge);
    assert_eq!(t.worst, Some(3));
    assert!(r.tensor("layers.0.weight").expect("tensor").passed());

    // A wrong derivative: the gradients of the same net with tanh swapped for sigmoid.
    let other = Mlp::from_params(
        MlpSpec::new(6, {
            let mut l = mlp.spec().layers.clone();
            l[0].activation = Activation::Sigmoid;
            l
        }),
        mlp.params().to_vec(),
    )
    .expect("valid");
    let (p2, i2) = analytic_gradients(&other, x.view(), &loss, CheckMode::Inference);
    let r = compare_mlp(
        &mlp,
        x.view(),
        &loss,
        CheckMode::Inference,
        &p2,
        i2.view(),
        &cfg,
    );
    assert!(!r.passed());

    // All-zero analytic gradient: fails even where the true gradient is tiny.
    let zeros = vec![0.0; params.len()];
    let r = compare_mlp(
        &mlp,
        x.view(),
        &loss,
        CheckMode::Inference,
        &zeros,
        input.view(),
        &cfg,
    );
    assert!(r.tensors[..6].iter().all(|t| t.verdict != Verdict::Pass));
    assert!(r.tensor("input").expect("tensor").passed());

    // A zero loss gradient everywhere (targets equal to the outputs): the numeric and
    // analytic gradients are both zero — no evidence, so no pass.
    let exact = Mse(mlp.predict(x.view()));
    let r = check_mlp(&mlp, x.view(), &exact, CheckMode::Inference, &cfg);
    assert!(!r.passed());
    assert!(
        r.tensors
            .iter()
            .all(|t| t.verdict == Verdict::AnalyticAllZero)
    );
}

#[test]
fn sampled_mode_checks_k_elements_per_tensor_reproducibly() {
    let mlp = three_layer(
        [Activation::Tanh, Activation::Sigmoid, Activation::Sigmoid],
        0.0,
        5,
    );
    let x = data(4, 6, 2);
    let cfg = GradcheckConfig {
        sample: Some(Sample {
            per_tensor: 3,
            seed: 9,
        }),
        ..GradcheckConfig::default()
    };
    let a = check_mlp(
        &mlp,
        x.view(),
        &Mse(targets(4, 2)),
        CheckMode::Inference,
        &cfg,
    );
    let b = check_mlp(
        &mlp,
        x.view(),
        &Mse(targets(4, 2)),
        CheckMode::Inference,
        &cfg,
    );
    assert!(a.passed(), "{a}");
    assert_eq!(a, b);
    let checked: Vec<usize> = a.tensors.iter().map(|t| t.checked).collect();
    // Tensors of 30, 5, 20, 4, 8, 2 and 24 elements: 3 each, or all of a smaller one.
    assert_eq!(checked, [3, 3, 3, 3, 3, 2, 3]);
}

#[test]
fn steps_across_a_relu_kink_are_skipped() {
    // One ReLU unit whose pre-activation on row 0 is exactly 0: any step in its weights
    // or bias crosses the kink, where the one-sided derivatives differ.
    let spec = MlpSpec::new(
        2,
        vec![
            LayerSpec::new(1, Activation::Relu),
            LayerSpec::new(1, Activation::Identity),
        ],
    );
    let mlp = Mlp::<f64>::from_params(spec, vec![0.5, -0.25, 0.0, 1.5, 0.1]).expect("valid");
    let x = ndarray::array![[1.0, 2.0], [0.8, -0.4]]; // z = 0 and 0.5
    let report = default_check_on_two_rows(&mlp, x.view());
    let w0 = report.tensor("layers.0.weight").expect("tensor");
    assert_eq!(w0.skipped_kinks, 2);
    assert_eq!(w0.checked, 0);
    assert_eq!(w0.verdict, Verdict::NothingChecked);
    assert_eq!(
        report
            .tensor("layers.0.bias")
            .expect("tensor")
            .skipped_kinks,
        1
    );
    assert!(report.tensor("layers.1.weight").expect("tensor").passed());
}

#[test]
fn steps_across_a_plr_units_relu_kink_are_skipped() {
    // A PLR layer (one feature, K = 1, H = 1) with frequency 0: p = [sin 0, cos 0] = [0, 1]
    // on every row, so z = W₁ + b = 0.5 − 0.5 = 0 (N4), exactly on the ReLU's kink. A step
    // in b crosses it. Without the PLR layer among the kinked layers the check would
    // compare a one-sided average with ReLU′(0) = 0 and fail.
    let spec =
        MlpSpec::new(1, vec![LayerSpec::new(1, Activation::Identity)]).with_input_layers(vec![
            crate::InputLayerSpec::Plr {
                frequencies: 1,
                units: 1,
                sigma: 0.1,
                columns: None,
            },
        ]);
    // c, W (1, 1, 2), b (1, 1), then the Dense layer's Θ (1, 1) and b (1).
    let params = vec![0.0, 0.3, 0.5, -0.5, 1.5, 0.1];
    let mlp = Mlp::<f64>::from_params(spec, params).expect("valid");
    let x = ndarray::array![[1.0], [2.0]];
    let report = default_check_on_two_rows(&mlp, x.view());
    let b = report.tensor("layers.0.bias").expect("tensor");
    assert_eq!((b.skipped_kinks, b.checked), (1, 0), "{report}");
    // The Dense layer reads y = 0, so only its bias has a gradient to check.
    assert!(report.tensor("layers.1.bias").expect("tensor").passed());
}

/// The default check (inference mode) of a one-output network on two rows, MSE against the
/// targets 1 and 2; the report is printed for a failing test's log.
fn default_check_on_two_rows(mlp: &Mlp<f64>, x: ArrayView2<f64>) -> GradcheckReport {
    let targets = Mse(ndarray::array![[1.0], [2.0]]);
    let report = check_mlp(
        mlp,
        x,
        &targets,
        CheckMode::Inference,
        &GradcheckConfig::default(),
    );
    eprintln!("{report}");
    report
}
