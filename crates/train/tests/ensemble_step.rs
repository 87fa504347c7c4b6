//! A BatchEnsemble network in the trainer (notes/tabular.md N19–N21): the training step's
//! loss is the mean of the members' losses and three SGD steps land where PyTorch's do
//! (crates/core/tests/reference/make_ensemble_network_fixtures.py → ensemble_network.json);
//! the scores are the mean of the members' probabilities; a fit is bit-identical at 1, 2
//! and 7 threads; DP-SGD trains one (P45), bit-identical at 1, 2 and 7 threads.

mod support;

use glassbox_core::{Activation, Init, InputLayerSpec, LayerSpec, Mlp, MlpSpec, seeded_rng};
use glassbox_train::batching::Batch;
use glassbox_train::privacy::{DpMethod, DpRequest, NoiseChoice, plan_dp_sgd};
use glassbox_train::{
    DataView, Optimizer, OptimizerConfig, StepBuffers, TrainConfig, Trainer, train_step,
};
use ndarray::Array2;
use serde_json::Value;
use support::{binary_data, bits};

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{name}[{i}]: {g} vs {w}"
        );
    }
}

fn spec(d: usize, k: usize, units: usize) -> MlpSpec {
    MlpSpec::new(
        d,
        vec![
            LayerSpec::new(units, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
    .with_input_layers(vec![InputLayerSpec::Scale])
    .with_ensemble(k)
}

#[test]
fn train_step_matches_pytorch_float64_and_scores_average_the_members() {
    let f: Value = serde_json::from_str(include_str!(
        "../../core/tests/reference/ensemble_network.json"
    ))
    .expect("fixture JSON");
    let dim = |k: &str| f["shape"][k].as_u64().expect("shape") as usize;
    let (n, d) = (dim("n"), dim("d"));
    let mut mlp = Mlp::<f64>::from_params(spec(d, dim("k"), dim("units")), floats(&f["params"]))
        .expect("fixture parameters");
    let x = Array2::from_shape_vec((n, d), floats(&f["x"])).expect("x");
    let y = Array2::from_shape_vec((n, 1), floats(&f["y"])).expect("y");

    let mut config = TrainConfig::keras_recipe(1, 0);
    config.optimizer = OptimizerConfig::sgd(f["lr"].as_f64().unwrap());
    config.batch_size = n;
    let scores = Trainer::from_model(mlp.clone(), config.clone())
        .expect("trainer")
        .scores(x.view());
    close("scores", &scores, &floats(&f["probability"]), 1e-13);

    let mut opt = Optimizer::new(config.optimizer, mlp.num_params()).expect("optimizer");
    let mut buffers = StepBuffers::new(&mlp, config.loss.kind, n).expect("buffers");
    let mut rng = seeded_rng(0);
    let mut losses = Vec::new();
    for _ in 0..3 {
        let step = train_step(
            &config,
            &mut mlp,
            &mut opt,
            &mut rng,
            Batch::new(x.view(), y.view()),
            &mut buffers,
        )
        .expect("finite step");
        losses.push(step.loss);
    }
    close("loss", &losses[..1], &[f["loss"].as_f64().unwrap()], 1e-13);
    close(
        "params after 3 SGD steps",
        mlp.params(),
        &floats(&f["params_after_3_sgd"]),
        1e-12,
    );
}

fn fit_bits(threads: usize) -> Vec<u64> {
    let (x, y) = binary_data::<f32>(300, 7, 4);
    let (xv, yv) = binary_data::<f32>(64, 7, 5);
    let mut c = TrainConfig::keras_recipe(2, 6);
    c.batch_size = 64;
    c.threads = Some(threads);
    let mut t = Trainer::<f32>::new(spec(7, 4, 16), Init::GlorotUniform, c).expect("trainer");
    let history = t
        .fit(
            &DataView::new(x.view(), y.view()),
            Some(&DataView::new(xv.view(), yv.view())),
            &mut |_| {},
        )
        .expect("training runs");
    let mut out = bits(t.mlp().params());
    for e in &history.epochs {
        out.push(e.train_loss.to_bits());
        out.push(e.val_loss.expect("validation").to_bits());
        out.push(e.val_roc_auc.expect("roc").to_bits());
    }
    out.extend(t.scores(xv.view()).iter().map(|s| s.to_bits()));
    out
}

#[test]
fn fit_is_bit_identical_at_1_2_and_7_threads() {
    let one = fit_bits(1);
    assert_eq!(one, fit_bits(2));
    assert_eq!(one, fit_bits(7));
}

/// A private fit of a k = 3 network (P45's per-example norms, P20 clipping, P23 noise):
/// the bits of the weights and of the epochs' losses.
fn private_fit_bits(threads: usize) -> Vec<u64> {
    let (x, y) = binary_data::<f32>(64, 5, 1);
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.0),
        delta: 1e-3,
        clip_norm: 0.05,
        method: DpMethod::default(),
    };
    let mut c = TrainConfig::keras_recipe(2, 0);
    c.batch_size = 16;
    c.threads = Some(threads);
    c.optimizer = OptimizerConfig::sgd(0.1);
    c.privacy = Some(plan_dp_sgd(&request, 64, 16, 2, 1).expect("plan").0);
    let mut t = Trainer::<f32>::new(spec(5, 3, 4), Init::GlorotUniform, c).expect("trainer");
    let before = t.mlp().params().to_vec();
    let history = t
        .fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .expect("DP-SGD trains a BatchEnsemble network");
    assert_ne!(before, t.mlp().params(), "the private fit moved no weight");
    assert!(
        history.epochs.iter().all(|e| e.train_loss.is_finite()),
        "a private epoch's loss is not finite"
    );
    let mut out = bits(t.mlp().params());
    out.extend(history.epochs.iter().map(|e| e.train_loss.to_bits()));
    out
}

#[test]
fn private_training_of_a_batch_ensemble_is_bit_identical_at_1_2_and_7_threads() {
    let one = private_fit_bits(1);
    assert_eq!(one, private_fit_bits(2));
    assert_eq!(one, private_fit_bits(7));
}
