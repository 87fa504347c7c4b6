//! The wide & deep linear term (notes/backprop.md §12, B27–B30): a network whose output
//! layer's pre-activation gains `X·Wᵀ`.
//!
//! - PyTorch float64: logits, loss, every parameter's gradient, ∂L/∂X and three SGD steps
//!   (crates/core/tests/reference/make_wide_network_fixtures.py → wide_network.json);
//! - the f64 gradient check of every parameter and input, with negative controls;
//! - W = 0 gives the plain network's bits; the layers' draws do not move when it is on;
//! - per-example gradient norms (B30) against one backward pass per row, the clipped
//!   gradient they give, and the sharded backward (T11);
//! - bit-identical results at 1, 2 and 7 threads;
//! - the spec: names, parameter count, k > 1 refused.

use glassbox_core::gradcheck::CheckLoss;
use glassbox_core::{
    GradWrite, Init, Mlp, MlpError, MlpSpec, Mode, ShardPlan, Upstream, seeded_rng,
    wide_forward_add, wide_forward_add_naive,
};
use ndarray::Array2;
use serde_json::Value;

mod fixtures_json;
mod nets;
use fixtures_json::{close, floats};
use nets::{
    FixtureCheck, assert_clipping_matches_per_example, assert_matches_fixture_gradients_and_steps,
    assert_one_shard_equals_the_plain_backward, assert_same_bits_at_1_2_and_7_threads, dim,
    fixture_net, matrix, pass_bits, relu_sigmoid_spec, tensor_range,
};

fn fixture() -> Value {
    serde_json::from_str(include_str!("reference/wide_network.json")).expect("fixture JSON")
}

/// Dense(`units`, ReLU), Dense(1, sigmoid), with or without the wide term, on `d` inputs.
fn spec(d: usize, units: usize, wide: bool) -> MlpSpec {
    relu_sigmoid_spec(d, units).with_wide(wide)
}

fn fixture_spec(f: &Value) -> MlpSpec {
    spec(dim(f, "d"), dim(f, "units"), true)
}

#[test]
fn wide_network_matches_pytorch_float64() {
    let f = fixture();
    let (mut mlp, x, y) = fixture_net(&f, fixture_spec(&f));
    let mut ws = mlp.workspace(x.nrows());
    let logits = mlp
        .forward(x.view(), Mode::Inference, &mut ws)
        .logits()
        .to_owned();
    close(
        "logit",
        logits.as_slice().unwrap(),
        &floats(&f["logit"]),
        1e-12,
    );
    assert_matches_fixture_gradients_and_steps(&f, &mut mlp, &x, &y);
}

#[test]
fn gradient_check_f64_passes_and_wrong_gradients_fail() {
    let f = fixture();
    let names = ["layers.0.weight", "layers.1.weight", "wide.weight", "input"];
    let check = FixtureCheck::passed(&f, fixture_spec(&f), &names);
    let (mlp, grads, d_x) = (&check.mlp, &check.grads, &check.d_x);
    // Negative control 1: W's gradient 1 % off.
    let mut bad = grads.clone();
    bad[tensor_range(mlp, "wide.weight")]
        .iter_mut()
        .for_each(|g| *g *= 1.01);
    let report = check.compare(&bad, d_x);
    assert!(!report.passed(), "wide.weight × 1.01 must fail the check");
    assert!(report.tensor("layers.0.weight").expect("Θ₀").passed());
    // Negative control 2: ∂L/∂X without the wide path (B29), the deep path's alone:
    // d_X − d_Z·W, with d_Z = (σ(z) − y)/N of the fused loss.
    let range = tensor_range(mlp, "wide.weight");
    let w = Array2::from_shape_vec((1, range.len()), mlp.params()[range].to_vec()).unwrap();
    let net = mlp.clone();
    let mut ws = net.workspace(check.x.nrows());
    let fwd = net.forward(check.x.view(), Mode::Inference, &mut ws);
    let mut d_z = Array2::zeros(fwd.logits().dim());
    check.loss.gradient(fwd.logits(), d_z.view_mut());
    let deep_only = d_x - &d_z.dot(&w);
    let report = check.compare(grads, &deep_only);
    assert!(!report.passed(), "∂L/∂X without B29 must fail the check");
    assert!(report.tensor("wide.weight").expect("W").passed());
}

#[test]
fn zero_w_gives_the_plain_networks_bits_and_the_same_draws() {
    let plain =
        Mlp::<f32>::new(spec(6, 8, false), Init::GlorotUniform, &mut seeded_rng(9)).unwrap();
    let wide = Mlp::<f32>::new(spec(6, 8, true), Init::GlorotUniform, &mut seeded_rng(9)).unwrap();
    // The layers' draws are those of the plain network; W starts at zero after them.
    let p = plain.num_params();
    assert_eq!(wide.num_params(), p + 6);
    assert_eq!(&wide.params()[..p], plain.params());
    assert!(wide.params()[p..].iter().all(|&w| w == 0.0));
    let x = matrix(9, 6, 1).mapv(|v| v as f32);
    let up = matrix(9, 1, 2).mapv(|v| v as f32 / 9.0);
    let run = |mut mlp: Mlp<f32>| {
        let mut ws = mlp.workspace(9);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let out: Vec<u32> = fwd.output().iter().map(|v| v.to_bits()).collect();
        let d_x = mlp
            .backward(fwd, Upstream::DZ(up.view()), GradWrite::Overwrite)
            .input_gradient()
            .to_owned();
        let d_x: Vec<u32> = d_x.iter().map(|v| v.to_bits()).collect();
        (out, mlp.grads()[..p].to_vec(), d_x)
    };
    let (a, b) = (run(plain), run(wide));
    assert_eq!(a.0, b.0, "outputs");
    assert_eq!(a.1, b.1, "the layers' gradients");
    assert_eq!(a.2, b.2, "∂L/∂X (W = 0 adds +0 to it)");
}

#[test]
fn forward_add_matches_its_naive_reference_over_odd_sizes() {
    for (n, d, o) in [(1, 1, 1), (3, 7, 2), (17, 5, 1), (64, 33, 3), (129, 12, 1)] {
        let x = matrix(n, d, 3);
        let w = matrix(o, d, 4);
        let mut fast = matrix(n, o, 5);
        let mut naive = fast.clone();
        wide_forward_add(x.view(), w.view(), fast.view_mut());
        wide_forward_add_naive(x.view(), w.view(), naive.view_mut());
        close(
            &format!("{n}×{d}×{o}"),
            fast.as_slice().unwrap(),
            naive.as_slice().unwrap(),
            1e-13,
        );
    }
}

#[test]
fn per_example_norms_and_clipping_match_explicit_per_example_gradients() {
    let mut mlp =
        Mlp::<f64>::new(spec(4, 6, true), Init::GlorotUniform, &mut seeded_rng(3)).unwrap();
    let p = mlp.num_params();
    mlp.params_mut()[p - 4..].copy_from_slice(&[0.4, -0.7, 0.2, 1.1]);
    let (n, d) = (9, 4);
    let x = matrix(n, d, 1);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| (i % 2) as f64);
    let (got, explicit) = assert_clipping_matches_per_example(&mut mlp, &x, &y);
    let norm = |g: &[f64]| g.iter().map(|v| v * v).sum::<f64>().sqrt();
    // Negative control: the norms without W's term (B30) are too small.
    let without_w: Vec<f64> = explicit.iter().map(|g| norm(&g[..p - 4])).collect();
    assert!(got.iter().zip(&without_w).all(|(a, b)| a > b));
}

#[test]
fn one_shard_equals_the_plain_backward_and_shards_sum_to_it() {
    let mlp = Mlp::<f64>::new(spec(5, 7, true), Init::GlorotUniform, &mut seeded_rng(4)).unwrap();
    let mut mlp = mlp;
    let p = mlp.num_params();
    mlp.params_mut()[p - 5..].copy_from_slice(&[0.3, -0.2, 0.5, 0.1, -0.6]);
    assert_one_shard_equals_the_plain_backward(mlp.clone(), 5, 1);
    // Several shards: the same gradient up to the order of the sums.
    let x = matrix(300, 5, 6);
    let up = matrix(300, 1, 7);
    let (mut a, mut b) = (mlp.clone(), mlp);
    let mut ws = a.workspace(300);
    let fwd = a.forward(x.view(), Mode::Inference, &mut ws);
    a.backward(fwd, Upstream::DZ(up.view()), GradWrite::Overwrite);
    let mut ws = b.workspace(300);
    let fwd = b.forward(x.view(), Mode::Inference, &mut ws);
    let plan = ShardPlan::for_batch(300);
    assert!(plan.count() > 1, "the plan splits 300 rows");
    b.backward_sharded(fwd, Upstream::DZ(up.view()), plan);
    close("sharded gradient", b.grads(), a.grads(), 1e-12);
    assert!(b.grads()[p - 5..].iter().all(|&g| g != 0.0));
}

fn bits_at(threads: usize) -> Vec<u32> {
    let mut mlp =
        Mlp::<f32>::new(spec(47, 64, true), Init::GlorotUniform, &mut seeded_rng(5)).unwrap();
    let p = mlp.num_params();
    // A non-zero W, so that every wide product counts.
    for (i, w) in mlp.params_mut()[p - 47..].iter_mut().enumerate() {
        *w = ((i * 37 % 11) as f32 - 5.0) * 0.03;
    }
    pass_bits(threads, &mut mlp, 1031, true)
}

#[test]
fn wide_network_is_bit_identical_at_1_2_and_7_threads() {
    assert_same_bits_at_1_2_and_7_threads(bits_at);
}

#[test]
fn spec_names_counts_and_refusals() {
    let mlp = Mlp::<f64>::new(spec(5, 4, true), Init::GlorotUniform, &mut seeded_rng(1)).unwrap();
    let names: Vec<String> = mlp.tensors().into_iter().map(|t| t.name).collect();
    let plain =
        Mlp::<f64>::new(spec(5, 4, false), Init::GlorotUniform, &mut seeded_rng(1)).unwrap();
    let plain_names: Vec<String> = plain.tensors().into_iter().map(|t| t.name).collect();
    // The layers' tensors as without the term, then W.
    assert_eq!(names[..4], plain_names[..]);
    assert_eq!(names[4], "wide.weight");
    assert_eq!(mlp.spec().num_tensors(), 5);
    assert_eq!(mlp.num_params(), 4 * 6 + 5 + 5);
    let refused = spec(5, 4, true).with_ensemble(2).validate();
    assert!(
        matches!(refused, Err(MlpError::Ensemble { .. })),
        "{refused:?}"
    );
}
