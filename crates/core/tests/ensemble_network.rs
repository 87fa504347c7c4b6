//! A BatchEnsemble network (notes/tabular.md N19–N21): k members sharing each layer's W,
//! with their own r, s, b, as layers of an [`Mlp`] with `ensemble_k = k`.
//!
//! - PyTorch float64: the members' logits, the mean of their losses, the mean of their
//!   probabilities, every parameter's gradient, ∂L/∂X and three SGD steps
//!   (crates/core/tests/reference/make_ensemble_network_fixtures.py → ensemble_network.json);
//! - the f64 gradient check of every parameter and input, with negative controls;
//! - bit-identical results at 1, 2 and 7 threads (plain, sharded backward);
//! - the spec: parameter count and names, validation, initialisation (N18).

use glassbox_core::gradcheck::{CheckLoss, CheckMode, GradcheckConfig, check_mlp, compare_mlp};
use glassbox_core::{
    Activation, GradWrite, Init, InputLayerSpec, LayerSpec, Mlp, MlpError, MlpSpec, Mode, Upstream,
    seeded_rng, sigmoid,
};
use ndarray::Array2;
use serde_json::Value;

mod fixtures_json;
mod nets;
use fixtures_json::{close, floats};
use nets::{
    MeanBceLogits, assert_matches_fixture_gradients_and_steps,
    assert_one_shard_equals_the_plain_backward, assert_passed_with_nonzero_gradients,
    assert_same_bits_at_1_2_and_7_threads, dim, fixture_net, loss_and_gradients, matrix, pass_bits,
    tensor_range,
};

/// The fixture network's tensors, in order.
const TENSORS: [&str; 9] = [
    "layers.0.scale",
    "layers.1.weight",
    "layers.1.r",
    "layers.1.s",
    "layers.1.bias",
    "layers.2.weight",
    "layers.2.r",
    "layers.2.s",
    "layers.2.bias",
];

fn fixture() -> Value {
    serde_json::from_str(include_str!("reference/ensemble_network.json")).expect("fixture JSON")
}

/// Scale, then BatchEnsemble(`units`, ReLU) and BatchEnsemble(1, sigmoid), k members.
fn ensemble_spec(d: usize, k: usize, units: usize) -> MlpSpec {
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
fn ensemble_network_matches_pytorch_float64() {
    let f = fixture();
    let (mut mlp, x, y) = fixture_net(
        &f,
        ensemble_spec(dim(&f, "d"), dim(&f, "k"), dim(&f, "units")),
    );
    let mut ws = mlp.workspace(x.nrows());
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let logits = fwd.logits().to_owned();
    close(
        "logits",
        logits.as_slice().unwrap(),
        &floats(&f["logits"]),
        1e-13,
    );
    // (N21) The probability: the mean of the members' σ(z_i).
    let k = logits.ncols() as f64;
    let p: Vec<f64> = logits
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|&z| sigmoid(z)).sum::<f64>() / k)
        .collect();
    close("probability", &p, &floats(&f["probability"]), 1e-13);
    assert_matches_fixture_gradients_and_steps(&f, &mut mlp, &x, &y);
    let names: Vec<String> = mlp.tensors().into_iter().map(|t| t.name).collect();
    assert_eq!(names, TENSORS);
    assert_eq!(mlp.spec().num_tensors(), names.len());
}

#[test]
fn gradient_check_f64_passes_and_wrong_gradients_fail() {
    let f = fixture();
    let (mlp, x, y) = fixture_net(
        &f,
        ensemble_spec(dim(&f, "d"), dim(&f, "k"), dim(&f, "units")),
    );
    let loss = MeanBceLogits(y);
    let config = GradcheckConfig::default();
    let report = check_mlp(&mlp, x.view(), &loss, CheckMode::Inference, &config);
    // Not all zero: every tensor but the last layer's s and bias (all are checked), and the
    // input.
    let mut checked = TENSORS[..7].to_vec();
    checked.push("input");
    assert_passed_with_nonzero_gradients(&report, &checked);

    // Negative controls: the shared W's gradient of one member only (N16 without the sum
    // over members: the first member's share, k times), r's gradient 1 % off.
    let mut net = mlp.clone();
    let (_, grads, d_x) = loss_and_gradients(&mut net, &x, &loss);
    let range = |name: &str| tensor_range(&mlp, name);
    let mut one_member = grads.clone();
    {
        // Member 0's share of ∂L/∂W₁: from its own logits' gradient only, times k.
        let k = mlp.spec().ensemble_k;
        let mut ws = net.workspace(x.nrows());
        let fwd = net.forward(x.view(), Mode::Inference, &mut ws);
        let mut d_z = Array2::zeros(fwd.logits().dim());
        loss.gradient(fwd.logits(), d_z.view_mut());
        d_z.columns_mut()
            .into_iter()
            .skip(1)
            .for_each(|mut c| c.fill(0.0));
        net.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Overwrite);
        let r = range("layers.2.weight");
        for (g, m) in one_member[r.clone()].iter_mut().zip(&net.grads()[r]) {
            *g = m * k as f64;
        }
    }
    let mut r_off = grads.clone();
    r_off[range("layers.1.r")]
        .iter_mut()
        .for_each(|g| *g *= 1.01);
    for (what, bad) in [("W from one member", one_member), ("r × 1.01", r_off)] {
        let report = compare_mlp(
            &mlp,
            x.view(),
            &loss,
            CheckMode::Inference,
            &bad,
            d_x.view(),
            &config,
        );
        assert!(!report.passed(), "{what} must fail the check");
        assert!(report.tensor("layers.1.s").expect("s").passed());
    }
}

fn bits_at(threads: usize) -> Vec<u32> {
    let spec = MlpSpec::new(
        13,
        vec![
            LayerSpec::new(16, Activation::Relu),
            LayerSpec::new(16, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
    .with_ensemble(8);
    let mut mlp = Mlp::<f32>::new(spec, Init::GlorotUniform, &mut seeded_rng(5)).unwrap();
    // With the clipped pass: P45's per-example norms and the scaled rows.
    let mut out = pass_bits(threads, &mut mlp, 257, true);
    out.push((mlp.grad_norm() as f32).to_bits());
    out
}

#[test]
fn ensemble_network_is_bit_identical_at_1_2_and_7_threads() {
    assert_same_bits_at_1_2_and_7_threads(bits_at);
}

#[test]
fn one_shard_equals_the_plain_backward() {
    let spec = ensemble_spec(5, 4, 7);
    let a = Mlp::<f64>::new(spec, Init::HeUniform, &mut seeded_rng(9)).unwrap();
    assert_one_shard_equals_the_plain_backward(a, 5, 4);
}

#[test]
fn ensemble_spec_counts_validates_and_initialises() {
    // Layer 0 (shared input, D = 3 → 5): W 15, r 4·3, s 4·5, b 4·5; layer 1 (5 → 1): W 5,
    // r 4·5, s 4, b 4; the scale 3.
    let spec = ensemble_spec(3, 4, 5);
    assert_eq!(
        spec.num_params(),
        3 + (15 + 12 + 20 + 20) + (5 + 20 + 4 + 4)
    );
    assert_eq!(spec.output_width(), 4);
    let plain = MlpSpec::new(3, vec![LayerSpec::new(1, Activation::Sigmoid)]);
    assert_eq!(plain.ensemble_k, 1);
    assert_eq!(plain.num_params(), 4, "k = 1 is the plain network");
    for bad in [
        plain.clone().with_ensemble(0),
        MlpSpec::new(
            3,
            vec![
                LayerSpec::new(4, Activation::Relu).with_dropout(0.1),
                LayerSpec::new(1, Activation::Sigmoid),
            ],
        )
        .with_ensemble(2),
        MlpSpec::new(3, vec![LayerSpec::new(2, Activation::Softmax)]).with_ensemble(2),
    ] {
        assert!(
            matches!(bad.validate(), Err(MlpError::Ensemble { .. })),
            "{bad:?}"
        );
    }
    // (N18) s = 1, r = ±1, whatever the network's initialiser.
    let mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut seeded_rng(1)).unwrap();
    let t = mlp.tensors();
    let r = &mlp.params()[t[2].range()];
    assert!(r.iter().all(|&v| v == 1.0 || v == -1.0));
    assert!(r.contains(&1.0) && r.contains(&-1.0));
    assert!(mlp.params()[t[3].range()].iter().all(|&v| v == 1.0));
    let mut ws = mlp.workspace(2);
    let x = matrix(2, 3, 1);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    assert_eq!(fwd.output().dim(), (2, 4), "one output column per member");
}
