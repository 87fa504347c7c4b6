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

use glassbox_core::gradcheck::{CheckMode, GradcheckConfig, check_mlp, compare_mlp};
use glassbox_core::{
    Activation, GradWrite, Init, InputLayerSpec, LayerSpec, Mlp, MlpError, MlpSpec, Mode,
    ShardPlan, Upstream, clip_factor, seeded_rng, sigmoid,
};
use ndarray::{Array2, s};
use serde_json::Value;

mod fixtures_json;
mod nets;
use fixtures_json::{close, floats};
use nets::{
    MeanBceLogits, assert_one_shard_equals_the_plain_backward,
    assert_passed_with_nonzero_gradients, dim, fixture_net, loss_and_gradients, matrix, sgd_steps,
    tensor_range,
};

fn fixture() -> Value {
    serde_json::from_str(include_str!("reference/table_network.json")).expect("fixture JSON")
}

/// Scale, PLR (K, H), then Dense(`units`, ReLU) and Dense(1, sigmoid).
fn table_spec(d: usize, k: usize, h: usize, units: usize, sigma: f64) -> MlpSpec {
    MlpSpec::new(
        d,
        vec![
            LayerSpec::new(units, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
    .with_input_layers(vec![
        InputLayerSpec::Scale,
        InputLayerSpec::Plr {
            frequencies: k,
            units: h,
            sigma,
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
    let logits = mlp.predict(x.view()).mapv(|p| (p / (1.0 - p)).ln());
    close(
        "logit",
        logits.as_slice().unwrap(),
        &floats(&f["logit"]),
        1e-9,
    );
    let (loss, grads, d_x) = loss_and_gradients(&mut mlp, &x, &MeanBceLogits(y.clone()));
    close("loss", &[loss], &[f["loss"].as_f64().unwrap()], 1e-13);
    close("grads", &grads, &floats(&f["grads"]), 1e-12);
    close("d_x", d_x.as_slice().unwrap(), &floats(&f["d_x"]), 1e-12);
    // Three SGD steps on the same batch.
    let lr = f["lr"].as_f64().unwrap();
    sgd_steps(&mut mlp, &x, &MeanBceLogits(y), lr, 3);
    close(
        "params after 3 SGD steps",
        mlp.params(),
        &floats(&f["params_after_3_sgd"]),
        1e-12,
    );
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
    let (mlp, x, y) = fixture_net(&f, fixture_spec(&f));
    let loss = MeanBceLogits(y);
    let config = GradcheckConfig::default();
    let report = check_mlp(&mlp, x.view(), &loss, CheckMode::Inference, &config);
    assert_passed_with_nonzero_gradients(
        &report,
        &[
            "layers.0.scale",
            "layers.1.frequencies",
            "layers.1.weight",
            "input",
        ],
    );

    // Negative controls: the frequencies' gradient 1 % off; the scale's gradient dropped.
    let mut net = mlp.clone();
    let (_, grads, d_x) = loss_and_gradients(&mut net, &x, &loss);
    for (name, wrong) in [("layers.1.frequencies", 1.01), ("layers.0.scale", 0.0)] {
        let mut bad = grads.clone();
        bad[tensor_range(&mlp, name)]
            .iter_mut()
            .for_each(|g| *g *= wrong);
        let report = compare_mlp(
            &mlp,
            x.view(),
            &loss,
            CheckMode::Inference,
            &bad,
            d_x.view(),
            &config,
        );
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
    // Per-example upstream ∂ℓᵢ/∂zᵢ = σ(zᵢ) − yᵢ.
    let z = mlp.predict(x.view()).mapv(|p| (p / (1.0 - p)).ln());
    let up = (&z.mapv(sigmoid)) - &y;
    let mut explicit = Vec::new();
    for i in 0..n {
        let mut net = mlp.clone();
        let xi = x.slice(s![i..i + 1, ..]).to_owned();
        let mut ws = net.workspace(1);
        let fwd = net.forward(xi.view(), Mode::Inference, &mut ws);
        let ui = up.slice(s![i..i + 1, ..]).to_owned();
        net.backward(fwd, Upstream::DZ(ui.view()), GradWrite::Overwrite);
        explicit.push(net.grads().to_vec());
    }
    let norms: Vec<f64> = explicit
        .iter()
        .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let mut sorted = norms.clone();
    sorted.sort_by(f64::total_cmp);
    let c = sorted[n / 2]; // some examples clipped, some not
    let mut ws = mlp.workspace(n);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let got = mlp
        .backward_clipped(fwd, Upstream::DZ(up.view()), c)
        .to_vec();
    close("per-example norms", &got, &norms, 1e-12);
    let mut want = vec![0.0; mlp.num_params()];
    for (g, &norm) in explicit.iter().zip(&norms) {
        let factor = clip_factor(norm, c);
        for (w, v) in want.iter_mut().zip(g) {
            *w += factor * v;
        }
    }
    close("clipped gradient", mlp.grads(), &want, 1e-12);

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

fn bits_at(threads: usize) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let spec = table_spec(13, 8, 8, 32, 0.1);
        let mut mlp = Mlp::<f32>::new(spec, Init::GlorotUniform, &mut seeded_rng(5)).unwrap();
        let x = matrix(257, 13, 2).mapv(|v| v as f32);
        let up = matrix(257, 1, 3).mapv(|v| v as f32 / 257.0);
        let mut ws = mlp.workspace(257);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let mut out: Vec<u32> = fwd.output().iter().map(|v| v.to_bits()).collect();
        let d_x = mlp
            .backward(fwd, Upstream::DZ(up.view()), GradWrite::Overwrite)
            .input_gradient()
            .to_owned();
        out.extend(mlp.grads().iter().chain(d_x.iter()).map(|v| v.to_bits()));
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let norms = mlp.backward_clipped(fwd, Upstream::DZ(up.view()), 0.01);
        out.extend(norms.iter().map(|&v| (v as f32).to_bits()));
        out.extend(mlp.grads().iter().map(|v| v.to_bits()));
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward_sharded(fwd, Upstream::DZ(up.view()), ShardPlan::for_batch(257));
        out.extend(mlp.grads().iter().map(|v| v.to_bits()));
        out
    })
}

#[test]
fn table_network_is_bit_identical_at_1_2_and_7_threads() {
    let one = bits_at(1);
    assert!(one.iter().any(|&b| b != 0));
    assert_eq!(one, bits_at(2));
    assert_eq!(one, bits_at(7));
}

#[test]
fn one_shard_equals_the_plain_backward() {
    let spec = table_spec(5, 4, 3, 7, 0.3);
    let a = Mlp::<f64>::new(spec, Init::HeUniform, &mut seeded_rng(9)).unwrap();
    assert_one_shard_equals_the_plain_backward(a, 5, 1);
}

#[test]
fn input_layer_specs_read_write_and_validate() {
    let plr = InputLayerSpec::Plr {
        frequencies: 16,
        units: 8,
        sigma: 0.05,
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
