//! The value losses (crates/train/src/loss/value.rs, notes/value.md C1–C7): against PyTorch
//! (fixture crates/train/tests/reference/value_loss_fixtures.json, made by
//! crates/train/tests/reference/make_value_loss_fixtures.py), an f64 gradient check with a
//! negative control, and a ZILN training run (with and without the ranking term, C41–C43) that
//! is bit-identical at 1, 2 and 7 threads.

mod support;

use glassbox_core::{Activation, Init, LayerSpec, MlpSpec};
use glassbox_train::{
    DataView, LossConfig, LossKind, TrainConfig, Trainer, ValueHead, Weighting, huber_log1p,
    level_scale, mse_log1p, ziln,
};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde::Deserialize;
use support::{RunState, assert_matches_reference, check_output_gradient, run_state};

#[derive(Deserialize)]
struct Case {
    name: String,
    loss: String,
    outputs: Vec<Vec<f64>>,
    y: Vec<f64>,
    weights: Option<Vec<f64>>,
    value: f64,
    grad: Vec<Vec<f64>>,
    prediction: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("reference/value_loss_fixtures.json")).expect("parses")
}

type LossFn =
    fn(ArrayView2<f64>, ArrayView2<f64>, &Weighting<f64>, Option<ArrayViewMut2<f64>>) -> f64;

fn loss_fn(name: &str) -> LossFn {
    match name {
        "ziln" => ziln::<f64>,
        "mse_log1p" => mse_log1p::<f64>,
        "huber_log1p" => huber_log1p::<f64>,
        other => panic!("unknown loss {other}"),
    }
}

fn matrix(rows: &[Vec<f64>]) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn ours(c: &Case, out: &Array2<f64>) -> (f64, Array2<f64>) {
    let y = Array2::from_shape_fn((c.y.len(), 1), |(i, _)| c.y[i]);
    let weighting = Weighting {
        sample: c.weights.as_deref(),
        class: None,
    };
    let mut grad = Array2::zeros(out.dim());
    let value = loss_fn(&c.loss)(out.view(), y.view(), &weighting, Some(grad.view_mut()));
    (value, grad)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn every_value_loss_matches_pytorch() {
    let fixture = fixture();
    assert_eq!(fixture.cases.len(), 7);
    for c in &fixture.cases {
        let out = matrix(&c.outputs);
        let (value, grad) = ours(c, &out);
        assert_matches_reference(&c.name, (value, &grad), (c.value, &c.grad));
        if let Some(expected) = &c.prediction {
            for (row, &e) in c.outputs.iter().zip(expected) {
                let p = ValueHead::Ziln.predict(row).expected;
                assert!(rel(p, e) < 1e-12, "{}: prediction {p} vs {e}", c.name);
            }
        }
    }
}

/// Central differences of the loss in f64 against the analytic gradient, every element of
/// every fixture input; then a negative control: the gradient of μ scaled by 1.01 fails.
#[test]
fn f64_gradients_pass_the_gradient_check_and_a_wrong_one_fails() {
    for c in &fixture().cases {
        // The extremes case has y = 1e250 (a loss of ~1e5) and a floor kink; check the others
        // at full tolerance and that one against PyTorch only (above).
        if c.name.ends_with("extremes") {
            continue;
        }
        let out = matrix(&c.outputs);
        let (_, grad) = ours(c, &out);
        // A 1 % error in dμ must fail.
        let scale_d_mu = |g: &mut [f64]| {
            for i in (1..g.len()).step_by(3) {
                g[i] *= 1.01;
            }
        };
        let control = c.loss == "ziln" && c.y.iter().any(|&y| y > 0.0);
        let wrong: Option<support::WrongGradient> = control.then_some(&scale_d_mu);
        check_output_gradient(&c.name, &out, &grad, wrong, |m| ours(c, m).0);
    }
}

fn ziln_data(n: usize) -> (Array2<f32>, Array2<f32>) {
    let x = Array2::from_shape_fn((n, 4), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 8.0 - 1.0);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| {
        let s = x[[i, 0]] + 0.5 * x[[i, 1]];
        if s > 0.0 { (2.0 + 3.0 * s).exp() } else { 0.0 }
    });
    (x, y)
}

/// A small ZILN training run; `ranking`: λ of the pairwise term (C41–C43), or none.
fn ziln_run(threads: usize, ranking: Option<f64>) -> (RunState, f64) {
    let (x, y) = ziln_data(512);
    let spec = MlpSpec::new(
        4,
        vec![
            LayerSpec::new(16, Activation::Relu).with_dropout(0.25),
            LayerSpec::new(3, Activation::Identity),
        ],
    );
    let mut c = TrainConfig::keras_recipe(8, 5);
    c.loss = LossConfig {
        ranking,
        ..LossConfig::new(LossKind::Ziln)
    };
    c.batch_size = 64;
    c.threads = Some(threads);
    let mut t = Trainer::<f32>::new(spec, Init::GlorotUniform, c).expect("valid trainer");
    let history = t
        .fit(
            &DataView::new(x.view(), y.view()),
            Some(&DataView::new(x.view(), y.view())),
            &mut |_| {},
        )
        .expect("trains");
    let last = history.epochs.last().expect("epochs").train_loss;
    assert!(
        last < history.epochs[0].train_loss,
        "ZILN training lowers the loss"
    );
    (run_state(&t), last)
}

#[test]
fn ziln_training_is_bit_identical_at_1_2_and_7_threads() {
    let mut runs = Vec::new();
    for ranking in [None, Some(1.0)] {
        let (one, loss) = ziln_run(1, ranking);
        assert!(loss.is_finite());
        for threads in [2, 7] {
            let (other, other_loss) = ziln_run(threads, ranking);
            assert_eq!(
                loss.to_bits(),
                other_loss.to_bits(),
                "{threads} threads, {ranking:?}"
            );
            assert!(
                other == one,
                "weights or state differ at {threads} threads, {ranking:?}"
            );
        }
        runs.push(loss);
    }
    // The ranking term (C41–C43) trains: its run differs from the value loss alone.
    assert_ne!(runs[0].to_bits(), runs[1].to_bits());
}

#[test]
fn the_loss_owns_its_head() {
    assert_eq!(LossKind::Ziln.value_head(), Some(ValueHead::Ziln));
    assert_eq!(LossKind::Ziln.target_width(3), 1);
    assert_eq!(LossKind::Mse.target_width(3), 3);
    // A ZILN loss on a one-output network is refused before training.
    let spec = MlpSpec::new(4, vec![LayerSpec::new(1, Activation::Identity)]);
    let mut c = TrainConfig::keras_recipe(1, 5);
    c.loss = LossConfig::new(LossKind::Ziln);
    let err = Trainer::<f32>::new(spec, Init::GlorotUniform, c).expect_err("refused");
    assert!(err.to_string().contains("3 outputs"), "{err}");
}

/// C36: the level factor makes the validation predictions sum to the actual total, and a
/// rescaled prediction scales the expected value and every ZILN quantile by the same factor
/// while the purchase probability stays.
#[test]
fn the_level_factor_scales_the_mean_and_the_quantiles_alike() {
    let actual = [0.0, 30.0, 10.0, 0.0];
    let predicted = [5.0, 10.0, 5.0, 0.0];
    let s = level_scale(&actual, &predicted);
    assert_eq!(s, 2.0);
    let after: f64 = predicted.iter().map(|p| p * s).sum();
    assert_eq!(after, actual.iter().sum::<f64>());
    // Nothing to calibrate on: 1.
    assert_eq!(level_scale(&[0.0, 0.0], &[1.0, 2.0]), 1.0);
    assert_eq!(level_scale(&[1.0], &[0.0]), 1.0);
    assert_eq!(level_scale(&[1.0], &[f64::INFINITY]), 1.0);
    let head = ValueHead::Ziln;
    let p = head.predict(&[0.4, 3.0, -0.2]);
    let q = head.rescale(p, 1.7);
    assert_eq!(q.probability, p.probability);
    assert!(rel(q.expected, 1.7 * p.expected) < 1e-15);
    // The mean of the rescaled distribution, from its own μ and σ (C7).
    let mean = q.probability * (q.mu + 0.5 * q.sigma * q.sigma).exp();
    assert!(rel(mean, q.expected) < 1e-14, "{mean} vs {}", q.expected);
    for tau in [0.3, 0.5, 0.8, 0.95] {
        let (a, b) = (head.quantile(&p, tau), head.quantile(&q, tau));
        assert!(
            rel(b, 1.7 * a) < 1e-14 || a == 0.0 && b == 0.0,
            "τ {tau}: {a} {b}"
        );
    }
    assert!(head.quantile(&q, 0.95) > 0.0);
    // The log1p head: the point prediction (and so its quantile) scales.
    let log1p = ValueHead::Log1p;
    let p = log1p.predict(&[2.0]);
    let q = log1p.rescale(p, 0.5);
    assert_eq!(q.expected, 0.5 * p.expected);
    assert_eq!(log1p.quantile(&q, 0.9), 0.5 * p.expected);
}

/// C37: the blend weight is chosen by the validation Gini on the grid 1, 0.9, …, 0.
#[test]
fn the_blend_weight_follows_the_better_ranking_and_ties_keep_the_network() {
    use glassbox_train::{blend, blend_weight};
    let actual = [0.0, 1.0, 5.0, 20.0, 100.0];
    let right = [0.0, 2.0, 4.0, 8.0, 16.0];
    let reversed = [16.0, 8.0, 4.0, 2.0, 0.0];
    // The rule ranks perfectly, the network backwards: the largest α whose blend still ranks
    // perfectly (0.1: 1.6, 2.6, 4, 7.4, 14.4; at 0.2 the first two tie).
    assert_eq!(blend_weight(&actual, &reversed, &right), 0.1);
    // The other way round: the network alone.
    assert_eq!(blend_weight(&actual, &right, &reversed), 1.0);
    // Equal rankings tie on every α: the network is kept.
    assert_eq!(blend_weight(&actual, &right, &right), 1.0);
    // No value on these rows: the Gini is undefined, the network is kept.
    assert_eq!(blend_weight(&[0.0; 5], &right, &reversed), 1.0);
    // The chosen α's blend has the best Gini of the grid.
    let actual = [1.0, 2.0, 3.0, 50.0, 100.0, 0.0, 7.0];
    let net = [3.0, 2.0, 1.0, 50.0, 100.0, 9.0, 4.0];
    let rule = [1.0, 2.0, 3.0, 100.0, 50.0, 0.0, 30.0];
    let gini = |a: f64| {
        let mixed: Vec<f64> = net
            .iter()
            .zip(&rule)
            .map(|(&n, &r)| blend(a, n, r))
            .collect();
        glassbox_train::metrics::value::normalized_gini(&actual, &mixed).unwrap()
    };
    let best = gini(blend_weight(&actual, &net, &rule));
    for step in 0..=10 {
        assert!(
            best >= gini(f64::from(step) / 10.0),
            "α {step}/10 beats the choice"
        );
    }
    assert_eq!(blend(0.25, 8.0, 4.0), 5.0);
}

#[test]
fn the_decile_power_map_recovers_a_power_law_and_keeps_the_order() {
    use glassbox_train::{DECILE_POWER_RANGE, apply_power_map, decile_power_map};
    // Ten distinct predictions, five customers each: every decile holds one value, so the
    // chart's means are the values themselves and y = 3·ŷ^0.5 is recovered exactly.
    let predicted: Vec<f64> = (0..50).map(|i| f64::from(1 + i / 5) * 10.0).collect();
    let actual: Vec<f64> = predicted.iter().map(|p| 3.0 * p.sqrt()).collect();
    let (a, b) = decile_power_map(&actual, &predicted);
    assert!(
        (a - 3.0).abs() < 1e-12 && (b - 0.5).abs() < 1e-12,
        "({a}, {b})"
    );
    for &p in &predicted {
        assert!((apply_power_map((a, b), p) - 3.0 * p.sqrt()).abs() < 1e-9);
    }
    // Negative control: a map fitted on y = 3·ŷ^0.6 is told apart.
    let other: Vec<f64> = predicted.iter().map(|p| 3.0 * p.powf(0.6)).collect();
    assert!((decile_power_map(&other, &predicted).1 - 0.5).abs() > 0.09);
    // A reversed relation would reverse the ranking: the exponent is held positive, and the
    // map keeps the order of the predictions; 0 stays 0.
    let reversed: Vec<f64> = predicted.iter().map(|p| 1000.0 / p).collect();
    let map = decile_power_map(&reversed, &predicted);
    assert_eq!(map.1, DECILE_POWER_RANGE.0);
    assert!(apply_power_map(map, 20.0) > apply_power_map(map, 10.0));
    assert_eq!(apply_power_map(map, 0.0), 0.0);
    // Nothing to fit (all predictions equal, or no value): the identity.
    assert_eq!(decile_power_map(&actual, &[7.0; 50]), (1.0, 1.0));
    assert_eq!(decile_power_map(&[0.0; 50], &predicted), (1.0, 1.0));
}
