//! The pairwise ranking term (crates/train/src/loss/value_ranking.rs, notes/value.md
//! C41–C43): against numpy (fixture crates/train/tests/reference/value_ranking_fixtures.json,
//! made by crates/train/tests/reference/make_value_ranking_fixtures.py), an f64 gradient check
//! with a negative control, and its place in `LossConfig` (L = L_value + λ·R). Training with
//! it at 1, 2 and 7 threads: `value_losses.rs`.

mod support;

use glassbox_train::{LossConfig, LossKind, ValueHead, Weighting, pairwise_ranking, ziln};
use ndarray::{Array2, array};
use serde::Deserialize;
use support::{assert_matches_reference, check_output_gradient};

#[derive(Deserialize)]
struct Case {
    name: String,
    head: String,
    lambda: f64,
    outputs: Vec<Vec<f64>>,
    y: Vec<f64>,
    value: f64,
    grad: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn cases() -> Vec<Case> {
    let f: Fixture = serde_json::from_str(include_str!("reference/value_ranking_fixtures.json"))
        .expect("parses");
    f.cases
}

fn head(c: &Case) -> ValueHead {
    match c.head.as_str() {
        "ziln" => ValueHead::Ziln,
        "log1p" => ValueHead::Log1p,
        other => panic!("unknown head {other}"),
    }
}

fn matrix(rows: &[Vec<f64>]) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn ours(c: &Case, out: &Array2<f64>) -> (f64, Array2<f64>) {
    let y = Array2::from_shape_fn((c.y.len(), 1), |(i, _)| c.y[i]);
    let mut grad = Array2::zeros(out.dim());
    let value = pairwise_ranking(
        head(c),
        c.lambda,
        out.view(),
        y.view(),
        Some(grad.view_mut()),
    );
    (value, grad)
}

#[test]
fn the_ranking_term_matches_numpy() {
    let cases = cases();
    assert_eq!(cases.len(), 5);
    for c in &cases {
        let (value, grad) = ours(c, &matrix(&c.outputs));
        assert_matches_reference(&c.name, (value, &grad), (c.value, &c.grad));
    }
    let equal = cases.iter().find(|c| c.name == "all equal").expect("case");
    let (value, grad) = ours(equal, &matrix(&equal.outputs));
    assert_eq!(value, 0.0);
    assert!(grad.iter().all(|&g| g == 0.0), "no pair, no gradient");
}

/// Central differences of λ·R in f64 against the analytic gradient on every fixture input
/// that has a pair; then a negative control: dropping C43's `∂r/∂z = 1 − σ(z)` for 1 (as if
/// the score were `z + μ + σ²/2`) must fail.
#[test]
fn f64_gradients_pass_the_gradient_check_and_a_wrong_one_fails() {
    for c in cases().iter().filter(|c| c.value > 0.0) {
        let out = matrix(&c.outputs);
        let (_, grad) = ours(c, &out);
        // ∂R/∂z = ∂R/∂r·σ(−z) and ∂R/∂μ = ∂R/∂r: the wrong chain uses ∂R/∂r alone.
        let drop_sigma = |g: &mut [f64]| {
            for i in (0..g.len()).step_by(3) {
                g[i] = g[i + 1];
            }
        };
        let wrong: Option<support::WrongGradient> = (c.head == "ziln").then_some(&drop_sigma);
        check_output_gradient(&c.name, &out, &grad, wrong, |m| ours(c, m).0);
    }
}

#[test]
fn the_loss_config_adds_lambda_r_to_the_value_loss_and_refuses_misuse() {
    let out = array![[0.3, 2.0, -0.5], [-1.0, 4.0, 0.2], [1.2, 1.0, 0.0]];
    let y = array![[5.0], [0.0], [40.0]];
    let config = LossConfig {
        ranking: Some(0.7),
        ..LossConfig::new(LossKind::Ziln)
    };
    config.validate().expect("a value loss with λ ≥ 0");
    let mut d = Array2::zeros(out.dim());
    let l = config.compute(out.view(), y.view(), None, Some(d.view_mut()));
    let mut d_parts = Array2::zeros(out.dim());
    let r = pairwise_ranking(
        ValueHead::Ziln,
        0.7,
        out.view(),
        y.view(),
        Some(d_parts.view_mut()),
    );
    let v = ziln(
        out.view(),
        y.view(),
        &Weighting::NONE,
        Some(d_parts.view_mut()),
    );
    assert!(r > 0.0);
    assert_eq!(l, r + v);
    assert_eq!(d, d_parts);
    // Without λ the value loss alone, to the bit.
    let plain = LossConfig::new(LossKind::Ziln).compute(out.view(), y.view(), None, None);
    assert_eq!(plain, v);
    // λ must be finite and ≥ 0, and the loss a value loss.
    for bad in [-0.1, f64::NAN, f64::INFINITY] {
        let c = LossConfig {
            ranking: Some(bad),
            ..LossConfig::new(LossKind::Ziln)
        };
        assert!(c.validate().is_err(), "λ = {bad} accepted");
    }
    let not_value = LossConfig {
        ranking: Some(1.0),
        ..LossConfig::new(LossKind::BceWithLogits)
    };
    assert!(not_value.validate().is_err());
    // It round-trips through the manifest's JSON, and is absent when off.
    let json = serde_json::to_string(&config).expect("serializes");
    assert_eq!(
        serde_json::from_str::<LossConfig>(&json).expect("parses"),
        config
    );
    let off = serde_json::to_string(&LossConfig::new(LossKind::Ziln)).expect("serializes");
    assert!(!off.contains("ranking"), "{off}");
}
