//! A PLR layer on a column set S (notes/tabular.md N23–N25): y = [PLR(x_S), x_S̄], the
//! embedding's gradient into the columns of S (N24) and the other columns' passed through
//! (N25).
//!
//! - PyTorch float64: loss, every parameter's gradient, ∂L/∂X and three SGD steps
//!   (crates/core/tests/reference/make_plr_columns_fixtures.py → plr_columns.json);
//! - the f64 gradient check of every parameter and of X, with negative controls (the passed
//!   columns' gradient dropped; the frequencies' gradient 1 % off);
//! - a 0/1 column reaches the first Dense layer unchanged, bit for bit;
//! - S = every column gives the bits of the layer without a column set;
//! - per-example norms and clipping (N13 on x_S), bit-identical passes at 1, 2 and 7
//!   threads, and bad column sets refused.

use glassbox_core::{
    Activation, GradWrite, Init, InputLayerSpec, LayerSpec, Mlp, MlpError, MlpSpec, Mode, Upstream,
    seeded_rng,
};
use ndarray::Array2;
use serde_json::Value;

mod fixtures_json;
mod nets;
use fixtures_json::floats;
use nets::{
    FixtureCheck, assert_bits_and_one_shard, assert_clipping_matches_per_example,
    assert_matches_fixture, dim, fixture_net, matrix, pass_bits, relu_sigmoid_spec, tensor_range,
};

fn fixture() -> Value {
    serde_json::from_str(include_str!("reference/plr_columns.json")).expect("fixture JSON")
}

fn plr(k: usize, h: usize, sigma: f64, columns: Option<Vec<usize>>) -> InputLayerSpec {
    InputLayerSpec::Plr {
        frequencies: k,
        units: h,
        sigma,
        columns,
    }
}

/// PLR (K, H) on `columns` of `d` inputs, then Dense(`units`, ReLU) and Dense(1, sigmoid).
fn columns_spec(d: usize, columns: &[usize], k: usize, h: usize, units: usize) -> MlpSpec {
    relu_sigmoid_spec(d, units).with_input_layers(vec![plr(k, h, 0.4, Some(columns.to_vec()))])
}

fn fixture_spec(f: &Value) -> MlpSpec {
    let columns: Vec<usize> = floats(&f["columns"]).iter().map(|&c| c as usize).collect();
    columns_spec(
        dim(f, "d"),
        &columns,
        dim(f, "k"),
        dim(f, "h"),
        dim(f, "units"),
    )
}

#[test]
fn plr_on_a_column_set_matches_pytorch_float64() {
    let f = fixture();
    let spec = fixture_spec(&f);
    // |S| = 3 columns of H = 3 units, then the 2 passed columns.
    assert_eq!(spec.dense_inputs(), 3 * 3 + 2);
    let (mut mlp, x, y) = fixture_net(&f, spec);
    assert_matches_fixture(&f, &mut mlp, &x, &y);
    assert_eq!(mlp.theta(0).dim(), (4, 11));
}

#[test]
fn gradient_check_f64_passes_and_wrong_gradients_fail() {
    let f = fixture();
    let names = ["layers.0.frequencies", "layers.0.weight", "input"];
    let check = FixtureCheck::passed(&f, fixture_spec(&f), &names);
    // The passed columns (1 and 4) have a gradient (N25): not zero.
    assert!(check.d_x.column(1).iter().any(|&g| g != 0.0));
    // Negative control 1: the passed columns' gradient dropped (as if S̄ had none).
    let mut bad_x = check.d_x.clone();
    bad_x.column_mut(1).fill(0.0);
    bad_x.column_mut(4).fill(0.0);
    let report = check.compare(&check.grads, &bad_x);
    assert!(!report.passed(), "∂L/∂x_S̄ dropped must fail the check");
    // Negative control 2: the frequencies' gradient 1 % off.
    let mut bad = check.grads.clone();
    bad[tensor_range(&check.mlp, "layers.0.frequencies")]
        .iter_mut()
        .for_each(|g| *g *= 1.01);
    let report = check.compare(&bad, &check.d_x);
    assert!(!report.passed(), "frequencies × 1.01 must fail the check");
    assert!(report.tensor("layers.0.weight").expect("weight").passed());
}

/// (N23) A passed 0/1 column reaches the first Dense layer as it is: with Θ₀ reading only
/// that column (weight 1, bias 0, identity activation) the output is the column, bit for bit.
#[test]
fn a_one_hot_column_reaches_the_first_dense_layer_unchanged() {
    let (d, s, h) = (5, vec![0, 2, 3], 4);
    let spec = MlpSpec::new(d, vec![LayerSpec::new(1, Activation::Identity)])
        .with_input_layers(vec![plr(3, h, 1.0, Some(s.clone()))]);
    assert_eq!(spec.dense_inputs(), s.len() * h + 2);
    let mut mlp = Mlp::<f32>::new(spec, Init::GlorotUniform, &mut seeded_rng(4)).unwrap();
    let n = 9;
    let mut x = matrix(n, d, 6).mapv(|v| v as f32);
    for r in 0..n {
        x[[r, 1]] = (r % 2) as f32;
        x[[r, 4]] = ((r / 2) % 2) as f32;
    }
    let dense = tensor_range_f32(&mlp, "layers.1.weight");
    for (col, slot) in [(1, s.len() * h), (4, s.len() * h + 1)] {
        let p = mlp.params_mut();
        p[dense.start..].fill(0.0);
        p[dense.start + slot] = 1.0;
        let out = mlp.predict(x.view());
        let want: Vec<u32> = x.column(col).iter().map(|v| v.to_bits()).collect();
        let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "column {col}");
    }
}

fn tensor_range_f32(mlp: &Mlp<f32>, name: &str) -> std::ops::Range<usize> {
    mlp.tensors()
        .into_iter()
        .find(|t| t.name == name)
        .expect("tensor")
        .range()
}

/// S = every column runs the gather/assemble path; it gives the bits of the layer that
/// embeds every column without naming them (the layer of older bundles).
#[test]
fn naming_every_column_gives_the_bits_of_the_plain_layer() {
    let d = 6;
    let bits = |columns: Option<Vec<usize>>| {
        let spec = relu_sigmoid_spec(d, 5).with_input_layers(vec![plr(4, 3, 0.5, columns)]);
        let mut mlp = Mlp::<f32>::new(spec, Init::GlorotUniform, &mut seeded_rng(8)).unwrap();
        pass_bits(2, &mut mlp, 33, true)
    };
    assert_eq!(bits(Some((0..d).collect())), bits(None));
}

#[test]
fn per_example_norms_and_clipping_match_explicit_per_example_gradients() {
    let spec = columns_spec(6, &[1, 2, 5], 3, 4, 5);
    let mut mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut seeded_rng(3)).unwrap();
    let (n, d) = (9, 6);
    let x = matrix(n, d, 1);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| (i % 2) as f64);
    let (got, _) = assert_clipping_matches_per_example(&mut mlp, &x, &y);
    assert!(got.iter().all(|&g| g > 0.0));
}

/// Bits at 1, 2 and 7 threads (f32, w = 13, |S| = 7, K = 8, H = 8); one shard equals the
/// plain backward.
#[test]
fn plr_on_a_column_set_is_bit_identical_at_1_2_and_7_threads() {
    assert_bits_and_one_shard(&columns_spec(13, &[0, 1, 2, 5, 6, 9, 12], 8, 8, 32));
}

/// ∂L/∂X of the passed columns is the first Dense layer's ∂L/∂(input) at their slots (N25).
#[test]
fn the_passed_columns_gradient_is_the_dense_layers_input_gradient() {
    let (d, s, h) = (4, vec![0, 2], 2);
    let spec = MlpSpec::new(d, vec![LayerSpec::new(1, Activation::Identity)])
        .with_input_layers(vec![plr(2, h, 0.7, Some(s.clone()))]);
    let mut mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut seeded_rng(2)).unwrap();
    let n = 3;
    let x = matrix(n, d, 4);
    let up = Array2::from_elem((n, 1), 1.0);
    let mut ws = mlp.workspace(n);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let d_x = mlp
        .backward(fwd, Upstream::DZ(up.view()), GradWrite::Overwrite)
        .input_gradient()
        .to_owned();
    let theta = mlp.theta(0).to_owned();
    for r in 0..n {
        assert_eq!(d_x[[r, 1]], theta[[0, s.len() * h]]);
        assert_eq!(d_x[[r, 3]], theta[[0, s.len() * h + 1]]);
    }
}

#[test]
fn bad_column_sets_are_refused() {
    let spec = plr(16, 8, 0.05, Some(vec![0, 3, 7]));
    assert_eq!(spec.to_string(), "plr(k=16,h=8,sigma=0.05,columns=0/3/7)");
    assert_eq!(
        "plr(columns=0/3/7, sigma=0.05, h=8, k=16)".parse::<InputLayerSpec>(),
        Ok(spec)
    );
    for bad in [
        "plr(k=2,h=8,sigma=1,columns=)",
        "plr(k=2,h=8,sigma=1,columns=3/1)",
        "plr(k=2,h=8,sigma=1,columns=1/1)",
        "plr(k=2,h=8,sigma=1,columns=a)",
        "plr(k=2,h=8,sigma=1,columns=-1)",
        "plr(k=2,h=8,sigma=1,columns=numeric)",
    ] {
        assert!(bad.parse::<InputLayerSpec>().is_err(), "{bad}");
    }
    // A column beyond the input, and an empty set, are refused by the spec's validation.
    for columns in [vec![0, 5], vec![]] {
        let bad = MlpSpec::new(5, vec![LayerSpec::new(1, Activation::Sigmoid)])
            .with_input_layers(vec![plr(2, 2, 1.0, Some(columns.clone()))]);
        assert!(
            matches!(bad.validate(), Err(MlpError::InputLayer { layer: 0, .. })),
            "{columns:?}"
        );
        assert!(Mlp::<f64>::new(bad, Init::GlorotUniform, &mut seeded_rng(1)).is_err());
    }
    // Parameters: c (2·2), W (2·3·4), b (2·3), then Dense on 2·3 + 3 inputs.
    let spec = MlpSpec::new(5, vec![LayerSpec::new(1, Activation::Sigmoid)])
        .with_input_layers(vec![plr(2, 3, 1.0, Some(vec![1, 3]))]);
    assert_eq!(spec.num_params(), 4 + 24 + 6 + 10);
    assert_eq!(InputLayerSpec::Scale.checked_shape(5), Some((5, 5)));
    assert_eq!(plr(2, 3, 1.0, Some(vec![1, 3])).checked_shape(1), None);
}
