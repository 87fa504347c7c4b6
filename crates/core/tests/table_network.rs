//! A network with the input layers of tables (notes/tabular.md N10–N13): per-feature
//! scaling and a PLR embedding as layers of an [`Mlp`], before its Dense layers.
//!
//! - PyTorch float64: loss, every parameter's gradient, ∂L/∂X and three SGD steps
//!   (crates/core/tests/reference/make_table_network_fixtures.py → table_network.json);
//! - the f64 gradient check of every parameter and input, with negative controls;
//! - per-example gradient norms (N12, N13) against one backward pass per row, and the
//!   clipped gradient (P18–P21) they give;
//! - bit-identical results at 1, 2 and 7 threads;
//! - the spec's text form, validation, parameter names and initialisation (N11).

use glassbox_core::{
    Activation, Init, InputLayerSpec, LayerSpec, Mlp, MlpError, MlpSpec, seeded_rng,
};
use ndarray::Array2;
use serde_json::Value;

mod fixtures_json;
mod nets;
use nets::{
    FixtureCheck, assert_bits_and_one_shard, assert_clipping_matches_per_example,
    assert_matches_fixture, dim, fixture_net, matrix, relu_sigmoid_spec, tensor_range,
};

fn fixture() -> Value {
    serde_json::from_str(include_str!("reference/table_network.json")).expect("fixture JSON")
}

/// Scale, PLR (K, H), then Dense(`units`, ReLU) and Dense(1, sigmoid).
fn table_spec(d: usize, k: usize, h: usize, units: usize, sigma: f64) -> MlpSpec {
    relu_sigmoid_spec(d, units).with_input_layers(vec![
        InputLayerSpec::Scale,
        InputLayerSpec::Plr {
            frequencies: k,
            units: h,
            sigma,
            columns: None,
        },
    ])
}

/// The fixture's network spec (its sizes, σ = 0.4 as the script).
fn fixture_spec(f: &Value) -> MlpSpec {
    table_spec(dim(f, "d"), dim(f, "k"), dim(f, "h"), dim(f, "units"), 0.4)
}

#[test]
fn table_network_matches_pytorch_float64() {
    let f = fixture();
    let (mut mlp, x, y) = fixture_net(&f, fixture_spec(&f));
    assert_matches_fixture(&f, &mut mlp, &x, &y);
    let names: Vec<String> = mlp.tensors().into_iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "layers.0.scale",
            "layers.1.frequencies",
            "layers.1.weight",
            "layers.1.bias",
            "layers.2.weight",
            "layers.2.bias",
            "layers.3.weight",
            "layers.3.bias"
        ]
    );
    assert_eq!(
        mlp.theta(0).dim(),
        (4, 9),
        "theta(0) is the first Dense layer's"
    );
}

#[test]
fn gradient_check_f64_passes_and_wrong_gradients_fail() {
    let f = fixture();
    let names = [
        "layers.0.scale",
        "layers.1.frequencies",
        "layers.1.weight",
        "input",
    ];
    let check = FixtureCheck::passed(&f, fixture_spec(&f), &names);
    // Negative controls: the frequencies' gradient 1 % off; the scale's gradient dropped.
    for (name, wrong) in [("layers.1.frequencies", 1.01), ("layers.0.scale", 0.0)] {
        let mut bad = check.grads.clone();
        bad[tensor_range(&check.mlp, name)]
            .iter_mut()
            .for_each(|g| *g *= wrong);
        let report = check.compare(&bad, &check.d_x);
        assert!(!report.passed(), "{name} × {wrong} must fail the check");
        assert!(report.tensor("layers.1.weight").expect("weight").passed());
    }
}

#[test]
fn per_example_norms_and_clipping_match_explicit_per_example_gradients() {
    let spec = table_spec(4, 3, 5, 6, 0.5);
    let mut mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut seeded_rng(3)).unwrap();
    // Move s away from 1 so that N12's x·d_y differs from d_y.
    mlp.params_mut()[..4].copy_from_slice(&[0.7, 1.3, -0.9, 1.1]);
    let (n, d) = (9, 4);
    let x = matrix(n, d, 1);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| (i % 2) as f64);
    let (got, explicit) = assert_clipping_matches_per_example(&mut mlp, &x, &y);

    // Negative control: the norms without the frequencies' term of N13 are too small.
    let c_range = mlp.tensors()[1].range();
    let without_c: Vec<f64> = explicit
        .iter()
        .map(|g| {
            g.iter()
                .enumerate()
                .filter(|(j, _)| !c_range.contains(j))
                .map(|(_, v)| v * v)
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    assert!(
        got.iter()
            .zip(&without_c)
            .any(|(a, b)| (a - b).abs() > 1e-9 * a),
        "the check must tell the full norm from one without the frequencies"
    );
}

/// Bits at 1, 2 and 7 threads (f32, N = 257, D = 13, K = 8, H = 8); one shard equals the
/// plain backward.
#[test]
fn table_network_is_bit_identical_at_1_2_and_7_threads() {
    assert_bits_and_one_shard(&table_spec(13, 8, 8, 32, 0.1));
}

#[test]
fn input_layer_specs_read_write_and_validate() {
    let plr = InputLayerSpec::Plr {
        frequencies: 16,
        units: 8,
        sigma: 0.05,
        columns: None,
    };
    assert_eq!(plr.to_string(), "plr(k=16,h=8,sigma=0.05)");
    assert_eq!(
        "plr(sigma=0.05, h=8, k=16)".parse::<InputLayerSpec>(),
        Ok(plr)
    );
    assert_eq!("scale".parse::<InputLayerSpec>(), Ok(InputLayerSpec::Scale));
    for bad in [
        "plr(k=0,h=8,sigma=1)",
        "plr(k=2,h=8,sigma=-1)",
        "plr(k=2,h=8)",
        "plr",
        "embed",
        "plr(k=2,h=8,sigma=nan)",
    ] {
        assert!(bad.parse::<InputLayerSpec>().is_err(), "{bad}");
    }
    // Parameters: s (3), then c (3·2), W (3·4·4), b (3·4), then Dense on 12 inputs.
    let spec = table_spec(3, 2, 4, 5, 1.0);
    assert_eq!(spec.dense_inputs(), 12);
    assert_eq!(spec.num_params(), 3 + 6 + 48 + 12 + 5 * 13 + 6);
    let bad =
        MlpSpec::new(3, vec![LayerSpec::new(1, Activation::Sigmoid)]).with_input_layers(vec![
            InputLayerSpec::Plr {
                frequencies: 2,
                units: 0,
                sigma: 1.0,
                columns: None,
            },
        ]);
    assert!(matches!(
        bad.validate(),
        Err(MlpError::InputLayer { layer: 0, .. })
    ));
    // (N11) s starts at 1; PLR's frequencies at N(0, σ²), not all zero.
    let mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut seeded_rng(1)).unwrap();
    assert!(mlp.params()[..3].iter().all(|&s| s == 1.0));
    assert!(mlp.params()[3..9].iter().any(|&c| c != 0.0));
}
