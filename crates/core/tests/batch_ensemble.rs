//! The BatchEnsemble linear layer (notes/tabular.md §5, N14–N18): PyTorch float64 outputs
//! and every gradient, shared and per-member input
//! (crates/core/tests/reference/make_batch_ensemble_fixtures.py → batch_ensemble.json); an
//! f64 gradient check over every parameter and input with negative controls; bit-identical
//! results at 1, 2 and 7 threads; the initialisation (N18).

use glassbox_core::gradcheck::{GradcheckConfig, check_tensor};
use glassbox_core::{BatchEnsemble, BatchEnsembleSpec, seeded_rng};
use ndarray::{Array2, ArrayView2};
use serde_json::Value;

mod fixtures_json;
use fixtures_json::{close, floats};

fn fixture() -> Value {
    serde_json::from_str(include_str!("reference/batch_ensemble.json")).expect("fixture JSON")
}

/// The fixture's layer, input and upstream gradient for `case` (`shared`/`per_member`).
fn fixture_layer(f: &Value, case: &str) -> (BatchEnsemble<f64>, Array2<f64>, Array2<f64>) {
    let dim = |k: &str| f["shape"][k].as_u64().expect("shape") as usize;
    let spec = BatchEnsembleSpec {
        members: dim("k"),
        inputs: dim("d"),
        units: dim("h"),
        shared_input: case == "shared",
    };
    let c = &f[case];
    let layer = BatchEnsemble {
        spec,
        weight: floats(&c["weight"]),
        r: floats(&c["r"]),
        s: floats(&c["s"]),
        bias: floats(&c["bias"]),
    };
    let n = dim("n");
    let x = Array2::from_shape_vec((n, spec.input_width()), floats(&c["x"])).expect("x");
    let up = Array2::from_shape_vec((n, spec.output_width()), floats(&c["upstream"])).expect("R");
    (layer, x, up)
}

#[test]
fn batch_ensemble_matches_pytorch_float64() {
    let f = fixture();
    for case in ["shared", "per_member"] {
        let (layer, x, up) = fixture_layer(&f, case);
        let c = &f[case];
        let (z, cache) = layer.forward(x.view());
        close(
            &format!("{case} z"),
            z.as_slice().unwrap(),
            &floats(&c["z"]),
            1e-13,
        );
        let mut g = layer.zero_grads();
        let d_x = layer.backward(cache, up.view(), &mut g);
        close(
            &format!("{case} d_x"),
            d_x.as_slice().unwrap(),
            &floats(&c["d_x"]),
            1e-12,
        );
        close(
            &format!("{case} d_weight"),
            &g.d_weight,
            &floats(&c["d_weight"]),
            1e-12,
        );
        close(&format!("{case} d_r"), &g.d_r, &floats(&c["d_r"]), 1e-12);
        close(&format!("{case} d_s"), &g.d_s, &floats(&c["d_s"]), 1e-12);
        close(
            &format!("{case} d_bias"),
            &g.d_bias,
            &floats(&c["d_bias"]),
            1e-12,
        );
        // Backward adds: a second pass doubles the gradients.
        let (_, cache) = layer.forward(x.view());
        layer.backward(cache, up.view(), &mut g);
        let twice: Vec<f64> = floats(&c["d_s"]).iter().map(|v| 2.0 * v).collect();
        close(&format!("{case} d_s twice"), &g.d_s, &twice, 1e-12);
    }
}

/// L = Σ R ⊙ z.
fn loss(layer: &BatchEnsemble<f64>, x: ArrayView2<f64>, up: &Array2<f64>) -> f64 {
    (&layer.forward(x).0 * up).sum()
}

#[test]
fn gradient_check_f64_passes_and_wrong_gradients_fail() {
    let f = fixture();
    let config = GradcheckConfig::default();
    for case in ["shared", "per_member"] {
        let (layer, x, up) = fixture_layer(&f, case);
        let (_, cache) = layer.forward(x.view());
        let mut g = layer.zero_grads();
        let d_x = layer.backward(cache, up.view(), &mut g);
        let tensors: [(&str, &Vec<f64>, &Vec<f64>); 4] = [
            ("weight", &layer.weight, &g.d_weight),
            ("r", &layer.r, &g.d_r),
            ("s", &layer.s, &g.d_s),
            ("bias", &layer.bias, &g.d_bias),
        ];
        for (name, value, analytic) in tensors {
            assert!(
                analytic.iter().any(|&v| v != 0.0),
                "{case} {name}: all zero"
            );
            let set = |v: &[f64]| {
                let mut p = layer.clone();
                match name {
                    "weight" => p.weight = v.to_vec(),
                    "r" => p.r = v.to_vec(),
                    "s" => p.s = v.to_vec(),
                    _ => p.bias = v.to_vec(),
                }
                loss(&p, x.view(), &up)
            };
            let mut point = value.clone();
            let report = check_tensor(name, &mut point, analytic, &config, set);
            assert!(report.passed(), "{case} {name}: {report:?}");
            // Negative control: the same gradient 1 % off fails.
            let off: Vec<f64> = analytic.iter().map(|v| v * 1.01).collect();
            let report = check_tensor(name, &mut point, &off, &config, set);
            assert!(
                !report.passed(),
                "{case} {name}: a wrong gradient must fail"
            );
        }
        let shape = x.dim();
        let mut xp = x.as_slice().unwrap().to_vec();
        let report = check_tensor("x", &mut xp, d_x.as_slice().unwrap(), &config, |v| {
            let xv = Array2::from_shape_vec(shape, v.to_vec()).unwrap();
            loss(&layer, xv.view(), &up)
        });
        assert!(report.passed(), "{case} x: {report:?}");
    }
    // Negative control on the shared input: d_x of the first member only (no sum over
    // members) fails.
    let (layer, x, up) = fixture_layer(&f, "shared");
    let mut one = layer.clone();
    let (k, d) = (one.spec.members, one.spec.inputs);
    one.r[d..k * d].iter_mut().for_each(|v| *v = 0.0);
    let (_, cache) = layer.forward(x.view());
    let mut g = layer.zero_grads();
    let wrong = one.backward(cache, up.view(), &mut g);
    let mut xp = x.as_slice().unwrap().to_vec();
    let report = check_tensor("x", &mut xp, wrong.as_slice().unwrap(), &config, |v| {
        let xv = Array2::from_shape_vec(x.dim(), v.to_vec()).unwrap();
        loss(&layer, xv.view(), &up)
    });
    assert!(
        !report.passed(),
        "d_x without the sum over members must fail"
    );
}

fn bits_at(threads: usize, shared: bool) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let spec = BatchEnsembleSpec {
            members: 8,
            inputs: 13,
            units: 16,
            shared_input: shared,
        };
        let layer = BatchEnsemble::<f32>::new(spec, &mut seeded_rng(5));
        let x = Array2::from_shape_fn((257, spec.input_width()), |(n, d)| {
            ((n * 13 + d) as f32 * 0.173).sin() * 2.0
        });
        let up = Array2::from_shape_fn((257, spec.output_width()), |(n, j)| {
            ((n + 7 * j) as f32 * 0.11).cos()
        });
        let (z, cache) = layer.forward(x.view());
        let mut g = layer.zero_grads();
        let d_x = layer.backward(cache, up.view(), &mut g);
        z.iter()
            .chain(d_x.iter())
            .chain(&g.d_weight)
            .chain(&g.d_r)
            .chain(&g.d_s)
            .chain(&g.d_bias)
            .map(|v| v.to_bits())
            .collect()
    })
}

#[test]
fn batch_ensemble_is_bit_identical_at_1_2_and_7_threads() {
    for shared in [true, false] {
        let one = bits_at(1, shared);
        assert!(one.iter().any(|&b| b != 0));
        assert_eq!(one, bits_at(2, shared));
        assert_eq!(one, bits_at(7, shared));
    }
}

#[test]
fn initialisation_follows_n18() {
    let spec = BatchEnsembleSpec {
        members: 32,
        inputs: 50,
        units: 10,
        shared_input: true,
    };
    let layer = BatchEnsemble::<f64>::new(spec, &mut seeded_rng(2));
    assert!(layer.r.iter().all(|&v| v == 1.0 || v == -1.0));
    let minus = layer.r.iter().filter(|&&v| v < 0.0).count() as f64;
    // 1600 fair signs: within 4 sd (4·20) of 800.
    assert!((minus - 800.0).abs() < 80.0, "{minus} negative signs");
    assert!(layer.s.iter().all(|&v| v == 1.0));
    let bound = 1.0 / 50f64.sqrt();
    assert!(
        layer
            .weight
            .iter()
            .chain(&layer.bias)
            .all(|v| v.abs() <= bound)
    );
    // The members differ from the start (their r differ), so their outputs do.
    let x = Array2::from_shape_fn((3, 50), |(n, d)| ((n * 50 + d) as f64 * 0.37).sin());
    let (z, _) = layer.forward(x.view());
    assert_ne!(z[[0, 0]], z[[0, 10]]);
}
