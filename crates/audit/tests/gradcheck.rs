//! `glassbox_audit::gradcheck`: the f64 central-difference check of a trained model on rows of a CSV
//! file passes, its built-in negative control is rejected, and a deliberately wrong
//! gradient fails.

#[path = "../../data/tests/support/mod.rs"]
mod data_support;
mod support;

use glassbox_audit::AuditError;
use glassbox_audit::gradcheck::{
    Coverage, GradcheckOptions, gradcheck_against, gradcheck_batch, gradcheck_csv,
};
use glassbox_core::gradcheck::{CheckMode, GradcheckConfig};
use glassbox_train::{LossConfig, LossKind};
use ndarray::Axis;

#[test]
fn a_trained_model_passes_on_csv_rows_and_the_negative_control_is_rejected() {
    let (mlp, pre, test) = support::trained_shoppers_model();
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let report = gradcheck_csv(&mlp, &pre, &test, 32, &loss, &GradcheckOptions::default()).unwrap();
    assert!(report.passed, "{report:?}");
    assert_eq!(report.rows, 32);
    assert_eq!(report.coverage, Coverage::All);
    let names: Vec<&str> = report.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
            "input"
        ]
    );
    assert_eq!(report.tensors[0].shape, [16, 79]);
    assert_eq!(report.tensors[4].shape, [32, 79]);
    // Every parameter was compared or skipped at a kink.
    for (t, n) in report.tensors.iter().zip([16 * 79, 16, 16, 1, 32 * 79]) {
        assert_eq!(t.checked + t.skipped_kinks, n, "{}", t.name);
        assert!(t.max_rel_err <= 1e-7 && t.analytic_norm > 0.0, "{t:?}");
    }
    let control = report.negative_control.as_ref().unwrap();
    assert!(control.detected, "{control:?}");
    assert_eq!(control.failed_tensors, control.tensors);
    // The serialised form (the JSON report; its text and Markdown are the app's).
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["tensors"][0]["verdict"], "pass");
    assert_eq!(json["negative_control"]["detected"], true);
}

#[test]
fn a_perturbed_analytic_gradient_fails() {
    let (mlp, pre, test) = support::trained_shoppers_model();
    let rows = glassbox_audit::first_rows(&test, 8).unwrap();
    let (x, y) = glassbox_audit::encode_f64(&pre, &rows).unwrap();
    let y = y.insert_axis(Axis(1));
    let mlp = mlp.cast::<f64>();
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let options = GradcheckOptions {
        negative_control: false,
        ..GradcheckOptions::default()
    };
    // The engine's own gradients pass …
    let (mut params, input) = glassbox_core::gradcheck::analytic_gradients(
        &mlp,
        x.view(),
        &LossLike(loss, y.clone()),
        CheckMode::Inference,
    );
    let check = |params: &[f64]| {
        gradcheck_against(
            &mlp,
            x.view(),
            y.view(),
            &loss,
            &options,
            params,
            input.view(),
        )
        .unwrap()
    };
    let ok = check(&params);
    assert!(ok.passed, "{ok:?}");
    // … one element of the output layer's weights off by 0.1 % fails that tensor only.
    let t = &mlp.tensors()[2];
    let k = t.range().start
        + (0..t.len())
            .max_by(|&a, &b| {
                params[t.offset + a]
                    .abs()
                    .total_cmp(&params[t.offset + b].abs())
            })
            .unwrap();
    params[k] *= 1.001;
    let bad = check(&params);
    assert!(!bad.passed);
    let verdicts: Vec<&str> = bad.tensors.iter().map(|t| t.verdict.as_str()).collect();
    assert_eq!(verdicts, ["pass", "pass", "too_large", "pass", "pass"]);
    assert!(bad.tensors[2].max_rel_err > 5e-4, "{:?}", bad.tensors[2]);
    // An all-zero analytic gradient fails by the zero guard, not by the tolerance.
    let zero = check(&vec![0.0; params.len()]);
    assert_eq!(zero.tensors[0].verdict, "analytic_all_zero");
}

/// The same loss as the audit uses, to call `analytic_gradients` directly in the test.
struct LossLike(LossConfig, ndarray::Array2<f64>);

impl glassbox_core::gradcheck::CheckLoss for LossLike {
    fn input(&self) -> glassbox_core::gradcheck::LossInput {
        glassbox_core::gradcheck::LossInput::Logits
    }
    fn value(&self, v: ndarray::ArrayView2<f64>) -> f64 {
        self.0.compute(v, self.1.view(), None, None)
    }
    fn gradient(&self, v: ndarray::ArrayView2<f64>, mut d: ndarray::ArrayViewMut2<f64>) {
        d.fill(0.0);
        self.0.compute(v, self.1.view(), None, Some(d));
    }
}

#[test]
fn sampled_mode_checks_the_requested_count_per_tensor() {
    let mlp = support::classifier::<f64>(6, 5, 3);
    let x =
        ndarray::Array2::from_shape_fn((4, 6), |(i, j)| (i as f64 - 1.5) * 0.4 + j as f64 * 0.1);
    let y = ndarray::Array2::from_shape_fn((4, 1), |(i, _)| (i % 2) as f64);
    let options = GradcheckOptions {
        coverage: Coverage::Sample { per_tensor: 3 },
        seed: 11,
        ..GradcheckOptions::default()
    };
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let r = gradcheck_batch(&mlp, x.view(), y.view(), &loss, &options).unwrap();
    assert!(r.passed, "{r:?}");
    // Three per tensor, or all of a smaller tensor (the output bias has one element).
    let counts: Vec<usize> = r
        .tensors
        .iter()
        .map(|t| t.checked + t.skipped_kinks)
        .collect();
    assert_eq!(counts, [3, 3, 3, 1, 3]);
    assert_eq!(
        r,
        gradcheck_batch(&mlp, x.view(), y.view(), &loss, &options).unwrap()
    );
}

#[test]
fn bad_input_is_an_error() {
    let (mlp, pre, test) = support::trained_shoppers_model();
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let o = GradcheckOptions::default();
    let e = gradcheck_csv(&mlp, &pre, &test, test.n_rows() + 1, &loss, &o).unwrap_err();
    assert!(matches!(e, AuditError::RowCount { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("2467 rows requested but the file holds 2466"),
        "{e}"
    );
    assert!(gradcheck_csv(&mlp, &pre, &test, 0, &loss, &o).is_err());
    let other = support::classifier::<f32>(5, 3, 1);
    let e = gradcheck_csv(&other, &pre, &test, 4, &loss, &o).unwrap_err();
    assert!(
        e.to_string()
            .contains("reads 5 features but the preprocessor produces 79"),
        "{e}"
    );
    let zero = GradcheckOptions {
        coverage: Coverage::Sample { per_tensor: 0 },
        ..GradcheckOptions::default()
    };
    assert!(matches!(
        gradcheck_csv(&mlp, &pre, &test, 4, &loss, &zero),
        Err(AuditError::InvalidOption { .. })
    ));
    let bad_step = GradcheckOptions {
        check: GradcheckConfig {
            step: 0.0,
            ..GradcheckConfig::default()
        },
        ..GradcheckOptions::default()
    };
    assert!(gradcheck_csv(&mlp, &pre, &test, 4, &loss, &bad_step).is_err());
}

#[test]
fn a_batch_ensemble_network_passes_with_the_members_loss() {
    // k = 3 members of 6-5-1 (tanh, then the logit): the loss checked is the mean of the
    // members' BCE (N20), the one trained.
    let spec = glassbox_core::MlpSpec::new(
        6,
        vec![
            glassbox_core::LayerSpec::new(5, glassbox_core::Activation::Tanh),
            glassbox_core::LayerSpec::new(1, glassbox_core::Activation::Identity),
        ],
    )
    .with_ensemble(3);
    let mlp = glassbox_core::Mlp::<f64>::new(
        spec,
        glassbox_core::Init::GlorotUniform,
        &mut glassbox_core::seeded_rng(4),
    )
    .unwrap();
    let mut rng = glassbox_core::seeded_rng(8);
    let x = ndarray::Array2::from_shape_simple_fn((5, 6), || {
        2.0 * glassbox_core::init::uniform01(&mut rng) - 1.0
    });
    let y = ndarray::Array2::from_shape_fn((5, 1), |(i, _)| f64::from(i < 2));
    let options = GradcheckOptions::default();
    let loss = LossConfig::new(LossKind::BceWithLogits);
    let r = gradcheck_batch(&mlp, x.view(), y.view(), &loss, &options).unwrap();
    assert!(r.passed, "{r:?}");
    let names: Vec<&str> = r.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"input"));
    assert!(
        names.contains(&"layers.0.r") && names.contains(&"layers.1.s"),
        "{names:?}"
    );
    for t in &r.tensors {
        assert!(t.checked > 0 && t.max_rel_err <= 1e-7, "{t:?}");
    }
    assert!(r.negative_control.as_ref().unwrap().detected);
}
