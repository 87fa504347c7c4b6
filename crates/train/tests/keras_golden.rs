//! The paper's Keras recipe, trained by Keras's `model.fit` and by glassbox's trainer from
//! the same initial weights, agree step for step.
//!
//! Fixture: `crates/train/tests/reference/keras_golden.json`, written by
//! `crates/train/tests/reference/make_keras_golden.py` (TensorFlow 2.21, Keras 3.15.1): 6 → 64 → 64 → 1
//! (ReLU, ReLU, sigmoid), Keras's Adam (lr 1e-3, ε̂ = 1e-7, O13), binary cross-entropy,
//! batch 32, no shuffle, 100 rows (three batches of 32 and one of 4 per epoch), 2 epochs =
//! 8 steps. On TensorFlow, `fit` computes the BCE from the sigmoid's logits
//! (notes/losses.md §3), which is what `TrainConfig::keras_recipe` does: the last layer
//! stays a sigmoid (so predictions are probabilities) and the loss reads its pre-activation.
//!
//! Keras's kernels are (D, H) with `y = x·K + b`; glassbox's weights are (H, D) with
//! `z = a·Wᵀ + b`, so W = Kᵀ.
//!
//! **Tolerances** (both sides compute in f32; measured with TF 2.21 / Keras 3.15.1, printed
//! with `--nocapture`, quoted in notes/training.md §6):
//! - weights after each epoch: |Δ| ≤ 1e-6 (measured 6.0e-8 after epoch 1, 1.2e-7 after
//!   epoch 2, i.e. 1–4 f32 ulps of weights of size ~0.3). The frameworks order their GEMM
//!   sums differently, so gradients differ by a few ulps; Adam's step ≈ lr·m̂/√v̂ turns a
//!   relative gradient difference δ into a step difference ~lr·δ, ≲ 1e-9 per step here. The
//!   bound leaves a margin of 8 over the measurement and is still 1000 times below one Adam
//!   step (1e-3): a missed or extra step, the other ε form, a dropped last batch or another
//!   row order fail it (negative controls below: 2.4e-3 and 9.0e-3).
//! - step losses and running losses: |Δ| ≤ 2e-6 (measured ≤ 8.2e-7, growing from 3e-8 at
//!   step 1). Keras's value is TF's float32 `reduce_mean` of ≤ 32 terms of ~0.7, whose
//!   rounding alone can reach 32·2⁻²⁴·0.7 ≈ 1.3e-6; ours sums in f64. On top, logits from
//!   weights a few ulps apart differ by up to Σ over 64 units of (ulp · activation).

use glassbox_core::{Activation, LayerSpec, Mlp, MlpSpec};
use glassbox_train::{AdamEpsilon, DataView, Event, OptimizerConfig, TrainConfig, Trainer};
use ndarray::Array2;
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reference/keras_golden.json"
);
const LOSS_TOL: f64 = 2e-6;
const WEIGHT_TOL: f64 = 1e-6;

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("fixture present"))
        .expect("fixture is JSON")
}

/// float32 values from concatenated 8-hex-digit bit patterns.
fn from_hex(s: &str) -> Vec<f32> {
    assert_eq!(s.len() % 8, 0);
    (0..s.len() / 8)
        .map(|i| f32::from_bits(u32::from_str_radix(&s[8 * i..8 * i + 8], 16).expect("hex")))
        .collect()
}

fn matrix(v: &Value) -> Array2<f32> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).expect("rows of numbers");
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j] as f32)
}

/// Keras weights → glassbox's parameter buffer: per layer Wₗ = Kₗᵀ (H, D) row-major, then bₗ.
fn params_from_keras(layers: &Value) -> Vec<f32> {
    let mut params = Vec::new();
    for layer in layers.as_array().expect("layers") {
        let shape: Vec<usize> = serde_json::from_value(layer["kernel_shape"].clone()).unwrap();
        let (d, h) = (shape[0], shape[1]);
        let kernel = from_hex(layer["kernel"].as_str().unwrap());
        assert_eq!(kernel.len(), d * h);
        for out in 0..h {
            for inp in 0..d {
                params.push(kernel[inp * h + out]); // W[out, inp] = K[inp, out]
            }
        }
        let bias = from_hex(layer["bias"].as_str().unwrap());
        assert_eq!(bias.len(), h);
        params.extend(bias);
    }
    params
}

fn spec() -> MlpSpec {
    MlpSpec::new(
        6,
        vec![
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

/// Losses (batch, running) of each step and the weights after each epoch, trained by the
/// trainer from the fixture's initial weights with `config`.
struct Run {
    step_loss: Vec<f64>,
    running_loss: Vec<f64>,
    after_epoch: Vec<Vec<f32>>,
}

fn run(g: &Value, x: &Array2<f32>, y: &Array2<f32>, config: TrainConfig) -> Run {
    let mlp = Mlp::from_params(spec(), params_from_keras(&g["initial"])).expect("shapes agree");
    let mut trainer = Trainer::from_model(mlp, config).expect("valid");
    let data = DataView::new(x.view(), y.view());
    let (mut step_loss, mut running_loss, mut after_epoch) = (vec![], vec![], vec![]);
    for epochs in 1..=2 {
        trainer.set_epochs(epochs).unwrap();
        trainer
            .fit(&data, None, &mut |e| {
                if let Event::Batch(p) = e {
                    step_loss.push(p.loss);
                    running_loss.push(p.running_loss);
                }
            })
            .expect("training runs");
        after_epoch.push(trainer.mlp().params().to_vec());
    }
    Run {
        step_loss,
        running_loss,
        after_epoch,
    }
}

fn recipe() -> TrainConfig {
    let mut c = TrainConfig::keras_recipe(1, 0);
    c.shuffle = false;
    c.threads = Some(1);
    c
}

#[test]
fn the_trainer_reproduces_keras_fit_step_for_step() {
    let g = golden();
    assert_eq!(g["versions"]["backend"], "tensorflow");
    let (x, y) = (matrix(&g["x"]), matrix(&g["y"]));
    assert_eq!((x.dim(), y.dim()), ((100, 6), (100, 1)));
    let keras_steps: Vec<f64> = serde_json::from_value(g["step_loss"].clone()).unwrap();
    let keras_running: Vec<f64> = serde_json::from_value(g["running_loss"].clone()).unwrap();
    assert_eq!(keras_steps.len(), 8);
    let epoch_weights = [
        params_from_keras(&g["after_epoch_1"]),
        params_from_keras(&g["final"]),
    ];
    let r = run(&g, &x, &y, recipe());
    assert_eq!(
        r.step_loss.len(),
        8,
        "4 steps per epoch: 32, 32, 32 and 4 rows"
    );

    let loss_diff: Vec<f64> = r
        .step_loss
        .iter()
        .zip(&keras_steps)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let running_diff = r
        .running_loss
        .iter()
        .zip(&keras_running)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let weight_diff: Vec<f64> = (0..2)
        .map(|e| max_abs_diff(&r.after_epoch[e], &epoch_weights[e]))
        .collect();
    let initial = params_from_keras(&g["initial"]);
    let moved = max_abs_diff(&epoch_weights[1], &initial);
    let sci = |v: &[f64]| {
        v.iter()
            .map(|d| format!("{d:.2e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!("keras golden: step-loss |Δ| per step [{}]", sci(&loss_diff));
    eprintln!("keras golden: running-loss max |Δ| {running_diff:.2e}");
    eprintln!(
        "keras golden: weights max |Δ| after epoch 1, 2: [{}]",
        sci(&weight_diff)
    );
    eprintln!("keras golden: the weights moved by up to {moved:.2e} in 8 steps");
    for (step, d) in loss_diff.iter().enumerate() {
        assert!(*d <= LOSS_TOL, "step {step}: loss differs by {d:e}");
    }
    assert!(
        running_diff <= LOSS_TOL,
        "running loss differs by {running_diff:e}"
    );
    for (e, d) in weight_diff.iter().enumerate() {
        assert!(
            *d <= WEIGHT_TOL,
            "after epoch {}: weights differ by {d:e}",
            e + 1
        );
    }
    // The run is not trivial: 8 Adam steps of ~1e-3 each.
    assert!(moved > 5e-3, "{moved}");
}

/// Negative controls: the same comparison fails for the PyTorch ε form and for a run with
/// shuffling on — so the tolerances above can tell these apart.
#[test]
fn the_comparison_detects_a_wrong_recipe() {
    let g = golden();
    let (x, y) = (matrix(&g["x"]), matrix(&g["y"]));
    let final_weights = params_from_keras(&g["final"]);
    let mut torch_eps = recipe();
    torch_eps.optimizer = OptimizerConfig::Adam {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: AdamEpsilon::Torch(1e-7),
        weight_decay: glassbox_train::WeightDecay::None,
    };
    let mut shuffled = recipe();
    shuffled.shuffle = true;
    for (name, config) in [("Torch ε form", torch_eps), ("shuffled rows", shuffled)] {
        let r = run(&g, &x, &y, config);
        let d = max_abs_diff(&r.after_epoch[1], &final_weights);
        eprintln!("keras golden, negative control {name}: weights max |Δ| {d:.2e}");
        assert!(d > WEIGHT_TOL, "{name}: {d:e} would pass");
    }
}
