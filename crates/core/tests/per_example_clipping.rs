//! Per-example gradient norms and clipping without per-example gradients
//! (notes/privacy.md §11, P18–P21, P45): [`Mlp::backward_clipped`] against explicit
//! per-example gradients in f64 — one backward pass per row — on every Dense activation the
//! engine has, both kinds of upstream gradient, 1 to 3 layers, and BatchEnsemble networks
//! (k = 2 and 3, after the scaling and PLR input layers too).
//!
//! Checked: the returned norms ‖gᵢ‖ equal the explicit ones; the written gradient equals
//! `Σᵢ min(1, C/‖gᵢ‖)·gᵢ`; every clipped example's norm is ≤ C, and C is chosen so that
//! some examples are clipped and some are not. Negative control: the same check fed the
//! norms without the bias term (`‖δᵢ‖²·‖xᵢ‖²` alone) must fail.

use glassbox_core::{
    Activation, ClipRule, GradWrite, Init, InputLayerSpec, LayerBudget, LayerSpec, Mlp, MlpSpec,
    Mode, Upstream, automatic_clip_factor, clip_factor, seeded_rng,
};
use ndarray::{Array2, s};

/// A deterministic, irregular (N, D) matrix in about [−1.5, 1.5].
fn matrix(n: usize, d: usize, salt: u64) -> Array2<f64> {
    Array2::from_shape_fn((n, d), |(i, j)| {
        let k = (i as u64 * 7919 + j as u64 * 104_729 + salt * 1_299_709) % 1009;
        (k as f64 / 1009.0 - 0.5) * 3.0
    })
}

/// The networks: every activation, as hidden layer and as output, 1–3 layers.
fn networks() -> Vec<(MlpSpec, bool)> {
    use Activation::*;
    let l = LayerSpec::new;
    vec![
        // (spec, upstream is ∂ℓ/∂Z — a fused loss — rather than ∂ℓ/∂Y)
        (
            MlpSpec::new(5, vec![l(4, Relu), l(3, Tanh), l(1, Sigmoid)]),
            true,
        ),
        (
            MlpSpec::new(
                4,
                vec![l(3, LeakyRelu { alpha: 0.1 }), l(2, Sigmoid), l(3, Softmax)],
            ),
            false,
        ),
        (MlpSpec::new(3, vec![l(2, Identity)]), false),
        (MlpSpec::new(6, vec![l(5, Sigmoid), l(2, Identity)]), true),
        (MlpSpec::new(4, vec![l(6, Tanh), l(1, Sigmoid)]), false),
        // BatchEnsemble networks (N19, P45): the shared W's per-example term sums k outer
        // products.
        (
            MlpSpec::new(5, vec![l(4, Relu), l(3, Tanh), l(1, Sigmoid)]).with_ensemble(3),
            true,
        ),
        (
            MlpSpec::new(4, vec![l(6, Sigmoid), l(2, Identity)])
                .with_input_layers(vec![
                    InputLayerSpec::Scale,
                    InputLayerSpec::Plr {
                        frequencies: 3,
                        units: 2,
                        sigma: 0.5,
                        columns: None,
                    },
                ])
                .with_ensemble(2),
            false,
        ),
    ]
}

fn upstream(d: &Array2<f64>, dz: bool) -> Upstream<'_, f64> {
    if dz {
        Upstream::DZ(d.view())
    } else {
        Upstream::DY(d.view())
    }
}

/// Row i: the gradient of example i alone (every parameter, flat), by an ordinary backward
/// pass on that one row.
fn explicit_per_example(mlp: &Mlp<f64>, x: &Array2<f64>, d: &Array2<f64>, dz: bool) -> Array2<f64> {
    let mut single = mlp.clone();
    let mut ws = single.workspace(1);
    let mut out = Array2::zeros((x.nrows(), mlp.num_params()));
    for i in 0..x.nrows() {
        let xi = x.slice(s![i..i + 1, ..]);
        let di = d.slice(s![i..i + 1, ..]).to_owned();
        let fwd = single.forward(xi, Mode::Inference, &mut ws);
        single.backward(fwd, upstream(&di, dz), GradWrite::Overwrite);
        out.row_mut(i)
            .assign(&ndarray::ArrayView1::from(single.grads()));
    }
    out
}

/// The weights-only squared norms ‖δᵢ‖²·‖xᵢ‖² summed over layers — the bias term missing.
fn weights_only_norms(mlp: &Mlp<f64>, per_example: &Array2<f64>) -> Vec<f64> {
    let weights: Vec<_> = mlp
        .tensors()
        .into_iter()
        .filter(|t| t.name.ends_with("weight"))
        .collect();
    per_example
        .rows()
        .into_iter()
        .map(|g| {
            let sq: f64 = weights
                .iter()
                .map(|t| g.slice(s![t.range()]).iter().map(|v| v * v).sum::<f64>())
                .sum();
            sq.sqrt()
        })
        .collect()
}

/// Whether `norms` (claimed ‖gᵢ‖) and `grads` (claimed Σ clipped gᵢ) agree with the
/// explicit per-example gradients at clipping norm `c`; `Err` says where they do not.
fn check(per_example: &Array2<f64>, norms: &[f64], grads: &[f64], c: f64) -> Result<(), String> {
    let mut sum = vec![0.0; grads.len()];
    for (i, g) in per_example.rows().into_iter().enumerate() {
        let exact = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if (norms[i] - exact).abs() > 1e-12 * exact.max(1.0) {
            return Err(format!(
                "example {i}: norm {} but explicit {exact}",
                norms[i]
            ));
        }
        let factor = clip_factor(exact, c);
        let clipped = exact * factor;
        if clipped > c * (1.0 + 1e-12) {
            return Err(format!("example {i}: clipped norm {clipped} > C = {c}"));
        }
        for (s, v) in sum.iter_mut().zip(g) {
            *s += factor * v;
        }
    }
    for (k, (a, b)) in grads.iter().zip(&sum).enumerate() {
        if (a - b).abs() > 1e-12 * b.abs().max(1.0) {
            return Err(format!("parameter {k}: clipped sum {a} but explicit {b}"));
        }
    }
    Ok(())
}

/// Case `case`'s network (seeded by the case), its n inputs and upstream gradients, and the
/// explicit per-example gradients.
fn case_of(
    case: usize,
    spec: &MlpSpec,
    dz: bool,
    n: usize,
) -> (Mlp<f64>, Array2<f64>, Array2<f64>, Array2<f64>) {
    let mlp = Mlp::<f64>::new(
        spec.clone(),
        Init::TorchDefault,
        &mut seeded_rng(case as u64),
    )
    .expect("valid spec");
    let x = matrix(n, spec.inputs, case as u64);
    let d = matrix(n, spec.output_width(), 50 + case as u64);
    let per_example = explicit_per_example(&mlp, &x, &d, dz);
    (mlp, x, d, per_example)
}

#[test]
fn clipped_backward_equals_explicit_per_example_gradients_on_every_layer_type() {
    for (case, (spec, dz)) in networks().into_iter().enumerate() {
        let n = 9;
        let (mut mlp, x, d, per_example) = case_of(case, &spec, dz, n);
        let mut exact: Vec<f64> = per_example
            .rows()
            .into_iter()
            .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect();
        exact.sort_by(f64::total_cmp);
        let c = exact[n / 2]; // the median: about half the examples are clipped
        let mut ws = mlp.workspace(n);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let norms = mlp.backward_clipped(fwd, upstream(&d, dz), c).to_vec();
        let clipped = norms.iter().filter(|&&v| v > c).count();
        assert!(
            clipped > 0 && clipped < n,
            "case {case}: {clipped} of {n} clipped"
        );
        check(&per_example, &norms, mlp.grads(), c).unwrap_or_else(|e| panic!("case {case}: {e}"));

        // Negative control: the norms without the bias term must fail the same check.
        let wrong = weights_only_norms(&mlp, &per_example);
        assert!(
            check(&per_example, &wrong, mlp.grads(), c).is_err(),
            "case {case}: the check cannot tell a missing bias term"
        );
        // A huge C clips nothing: the plain sum, as the ordinary backward writes it.
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward_clipped(fwd, upstream(&d, dz), 1e300);
        let unclipped = mlp.grads().to_vec();
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward(fwd, upstream(&d, dz), GradWrite::Overwrite);
        assert_eq!(
            unclipped,
            mlp.grads(),
            "case {case}: C = ∞ differs from backward"
        );
    }
}

#[test]
fn f32_norms_match_f64_and_the_clipped_sum_is_bounded() {
    let (spec, dz) = networks().swap_remove(0);
    let mlp64 =
        Mlp::<f64>::new(spec.clone(), Init::TorchDefault, &mut seeded_rng(3)).expect("spec");
    let n = 40;
    let x = matrix(n, spec.inputs, 11) * 4.0;
    let d = matrix(n, spec.output_width(), 12) * 4.0;
    let per_example = explicit_per_example(&mlp64, &x, &d, dz);
    let c = 0.05;
    let mut mlp = mlp64.cast::<f32>();
    let (x32, d32) = (x.mapv(|v| v as f32), d.mapv(|v| v as f32));
    let mut ws = mlp.workspace(n);
    let fwd = mlp.forward(x32.view(), Mode::Inference, &mut ws);
    let norms = mlp
        .backward_clipped(fwd, Upstream::DZ(d32.view()), c)
        .to_vec();
    for (i, g) in per_example.rows().into_iter().enumerate() {
        let exact = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(exact > c, "example {i} is not clipped: choose a smaller C");
        assert!(
            (norms[i] - exact).abs() < 1e-5 * exact,
            "example {i}: {} vs {exact}",
            norms[i]
        );
        // Every example clipped to exactly C: the sum of N gradients of norm C has norm ≤ N·C.
    }
    let total = mlp
        .grads()
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    assert!(
        total <= n as f64 * c * (1.0 + 1e-5),
        "‖Σ clipped‖ = {total} > N·C"
    );
}

/// A fixture of `tests/reference/`, parsed.
fn reference(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/reference/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("valid JSON")
}

/// The array `key` of a fixture, as numbers.
fn json_floats(v: &serde_json::Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} missing"))
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Against PyTorch: per-example norms and the clipped sum from `torch.func` (vmap of grad),
/// float64, written by `tests/reference/make_per_example_clipping.py` (5-4-3-1 ReLU/tanh/
/// linear, per-example BCE-with-logits, C = the median norm).
#[test]
fn clipped_backward_matches_torch_func_per_example_gradients() {
    let v = reference("per_example_clipping.json");
    let floats = |key: &str| json_floats(&v, key);
    let spec = MlpSpec::new(
        5,
        vec![
            LayerSpec::new(4, Activation::Relu),
            LayerSpec::new(3, Activation::Tanh),
            LayerSpec::new(1, Activation::Identity),
        ],
    );
    let mut mlp = Mlp::<f64>::from_params(spec, floats("params")).expect("fits the spec");
    let x_rows: Vec<f64> = v["x"]
        .as_array()
        .expect("x")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("a row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
        })
        .collect();
    let x = Array2::from_shape_vec((8, 5), x_rows).expect("8 × 5");
    let y = floats("y");
    let c = v["clip_norm"].as_f64().expect("C");
    let mut ws = mlp.workspace(8);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    // ∂ℓᵢ/∂zᵢ of example i's own BCE-with-logits: σ(zᵢ) − yᵢ (L6).
    let d_z = Array2::from_shape_fn((8, 1), |(i, _)| {
        1.0 / (1.0 + (-fwd.logits()[[i, 0]]).exp()) - y[i]
    });
    let norms = mlp
        .backward_clipped(fwd, Upstream::DZ(d_z.view()), c)
        .to_vec();
    for (i, (a, b)) in norms.iter().zip(floats("norms")).enumerate() {
        assert!(
            (a - b).abs() < 1e-12 * b,
            "example {i}: norm {a} vs torch {b}"
        );
    }
    for (k, (a, b)) in mlp.grads().iter().zip(floats("clipped_sum")).enumerate() {
        assert!(
            (a - b).abs() < 1e-12 * b.abs().max(1e-3),
            "parameter {k}: {a} vs torch {b}"
        );
    }
}

/// (P30) Automatic clipping on every network: the written gradient is
/// `Σᵢ C/(‖gᵢ‖ + γ)·gᵢ` of the explicit per-example gradients (1e-12), and every scaled
/// example has norm `C·‖gᵢ‖/(‖gᵢ‖ + γ) < C`; the flat clip's sum (P20) fails the same
/// comparison (negative control). A zero gradient stays zero, a huge one ends just below C.
#[test]
fn automatic_clipping_equals_explicit_normalised_gradients_and_stays_below_c() {
    let (c, gamma) = (0.7, 0.01);
    for (case, (spec, dz)) in networks().into_iter().enumerate() {
        let n = 9;
        let (mut mlp, x, d, per_example) = case_of(case, &spec, dz, n);
        let mut want = vec![0.0; mlp.num_params()];
        for (i, g) in per_example.rows().into_iter().enumerate() {
            let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            let factor = automatic_clip_factor(norm, c, gamma);
            let scaled = g.iter().map(|v| (factor * v).powi(2)).sum::<f64>().sqrt();
            assert!(scaled < c, "case {case}, example {i}: {scaled} ≥ C = {c}");
            for (w, v) in want.iter_mut().zip(g) {
                *w += factor * v;
            }
        }
        let gap = |grads: &[f64]| max_relative_gap(grads, &want);
        let mut ws = mlp.workspace(n);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let rule = ClipRule::Automatic { gamma };
        mlp.backward_clipped_by(fwd, upstream(&d, dz), c, rule);
        assert!(
            gap(mlp.grads()) < 1e-12,
            "case {case}: {}",
            gap(mlp.grads())
        );
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward_clipped(fwd, upstream(&d, dz), c);
        assert!(gap(mlp.grads()) > 1e-6, "case {case}: the flat clip passed");
    }
    assert_eq!(automatic_clip_factor(0.0, 2.0, gamma) * 0.0, 0.0);
    let big = 1e9 * automatic_clip_factor(1e9, 2.0, gamma);
    assert!(big < 2.0 && big > 2.0 * (1.0 - 1e-10), "{big}");
}

/// γ must be positive: with γ = 0 a zero gradient would be scaled by C/0.
#[test]
#[should_panic(expected = "γ > 0")]
fn automatic_clipping_refuses_a_zero_gamma() {
    let (spec, dz) = networks().swap_remove(0);
    let mut mlp =
        Mlp::<f64>::new(spec.clone(), Init::TorchDefault, &mut seeded_rng(1)).expect("spec");
    let x = matrix(3, spec.inputs, 1);
    let d = matrix(3, spec.output_width(), 2);
    let mut ws = mlp.workspace(3);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    mlp.backward_clipped_by(
        fwd,
        upstream(&d, dz),
        1.0,
        ClipRule::Automatic { gamma: 0.0 },
    );
}

/// Layer l's parameters, from the tensor names `layers.{l}.*`, as ranges of the flat vector.
fn layer_ranges(mlp: &Mlp<f64>) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for t in mlp.tensors() {
        let l: usize = t
            .name
            .split('.')
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("layers.{l}.");
        let r = t.range();
        match out.get_mut(l) {
            Some(have) => *have = have.start.min(r.start)..have.end.max(r.end),
            None => out.push(r),
        }
    }
    out
}

/// (P32, P33) Per-layer clipping on every network, both budgets, against the explicit
/// per-example gradients in f64: `Σₗ C_l² = C²` and `C_l²/C² = w_l/W`; for **every example and
/// every layer** the scaled part has norm ≤ C_l and the whole scaled gradient ≤ C (1e-12);
/// the written gradient is `Σᵢ Σₗ min(1, C_l/‖gₗᵢ‖)·gₗᵢ` (1e-12); the returned norms are the
/// whole ‖gᵢ‖. C is the median norm, so some layers' parts are clipped and some not. Negative
/// control: the flat clip (P20) at the same C fails the comparison (with one layer it must
/// instead give the same bits: then C_1 = C).
#[test]
fn per_layer_clipping_bounds_every_layer_of_every_example_and_equals_explicit_gradients() {
    let (mut clipped, mut kept) = (0, 0);
    for budget in [LayerBudget::Equal, LayerBudget::Params] {
        for (case, (spec, dz)) in networks().into_iter().enumerate() {
            let n = 9;
            let (mut mlp, x, d, per_example) = case_of(case, &spec, dz, n);
            let ranges = layer_ranges(&mlp);
            let mut whole: Vec<f64> = per_example
                .rows()
                .into_iter()
                .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
                .collect();
            let mut sorted = whole.clone();
            sorted.sort_by(f64::total_cmp);
            let c = sorted[n / 2];
            let c_l = mlp.layer_clip_norms(c, budget);
            assert_eq!(c_l.len(), ranges.len(), "case {case}");
            let sq: f64 = c_l.iter().map(|v| v * v).sum();
            assert!(
                (sq - c * c).abs() < 1e-14 * c * c,
                "case {case}: Σ C_l² = {sq}, C² = {}",
                c * c
            );
            let p = mlp.num_params() as f64;
            for (l, r) in ranges.iter().enumerate() {
                let share = match budget {
                    LayerBudget::Equal => 1.0 / ranges.len() as f64,
                    LayerBudget::Params => r.len() as f64 / p,
                };
                assert!(
                    (c_l[l] * c_l[l] / (c * c) - share).abs() < 1e-14,
                    "case {case}, layer {l}"
                );
            }
            let mut want = vec![0.0; mlp.num_params()];
            for (i, g) in per_example.rows().into_iter().enumerate() {
                let mut total = 0.0;
                for (l, r) in ranges.iter().enumerate() {
                    let part = g.slice(s![r.clone()]);
                    let norm = part.iter().map(|v| v * v).sum::<f64>().sqrt();
                    let factor = clip_factor(norm, c_l[l]);
                    if factor < 1.0 {
                        clipped += 1
                    } else {
                        kept += 1
                    }
                    let scaled = factor * norm;
                    assert!(
                        scaled <= c_l[l] * (1.0 + 1e-12),
                        "case {case}, example {i}, layer {l}: {scaled} > C_l = {}",
                        c_l[l]
                    );
                    total += scaled * scaled;
                    for (w, v) in want[r.clone()].iter_mut().zip(part) {
                        *w += factor * v;
                    }
                }
                assert!(
                    total.sqrt() <= c * (1.0 + 1e-12),
                    "case {case}, example {i}: {} > C",
                    total.sqrt()
                );
            }
            let gap = |grads: &[f64]| max_relative_gap(grads, &want);
            let mut ws = mlp.workspace(n);
            let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
            let norms = mlp
                .backward_clipped_by(fwd, upstream(&d, dz), c, ClipRule::PerLayer(budget))
                .to_vec();
            for (i, (a, b)) in norms.iter().zip(whole.iter_mut()).enumerate() {
                assert!(
                    (a - *b).abs() < 1e-12 * b.max(1.0),
                    "case {case}, example {i}: norm {a} vs {b}"
                );
            }
            assert!(
                gap(mlp.grads()) < 1e-12,
                "case {case}, {budget:?}: {}",
                gap(mlp.grads())
            );
            let per_layer = mlp.grads().to_vec();
            let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
            mlp.backward_clipped(fwd, upstream(&d, dz), c);
            if ranges.len() == 1 {
                // One layer: C_1 = C, and per-layer clipping is the flat clip, bit for bit.
                assert_eq!(per_layer, mlp.grads(), "case {case}, {budget:?}");
            } else {
                assert!(
                    gap(mlp.grads()) > 1e-6,
                    "case {case}, {budget:?}: the flat clip passed"
                );
            }
        }
    }
    assert!(
        clipped > 10 && kept > 10,
        "{clipped} layer parts clipped, {kept} kept"
    );
}

/// The largest `|a − b| / max(|b|, 1)` over the pairs: relative where `want` is large,
/// absolute near zero.
fn max_relative_gap(got: &[f64], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// (P45) Against PyTorch on a BatchEnsemble network: per-example norms and the clipped sum
/// from `torch.func` (vmap of grad), float64, written by
/// `tests/reference/make_ensemble_clipping.py` (BatchEnsemble(4, ReLU) on the input shared by
/// k = 3 members, then BatchEnsemble(1); per-example loss the members' mean BCE-with-logits,
/// N20; C = the median norm).
#[test]
fn clipped_backward_of_a_batch_ensemble_matches_torch_func_per_example_gradients() {
    let v = reference("ensemble_clipping.json");
    let floats = |key: &str| json_floats(&v, key);
    let dim = |key: &str| v["shape"][key].as_u64().expect("shape") as usize;
    let (n, d, k, units) = (dim("n"), dim("d"), dim("k"), dim("units"));
    let spec = MlpSpec::new(
        d,
        vec![
            LayerSpec::new(units, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
    .with_ensemble(k);
    let mut mlp = Mlp::<f64>::from_params(spec, floats("params")).expect("fits the spec");
    let x = Array2::from_shape_vec((n, d), floats("x")).expect("n × d");
    let y = floats("y");
    let c = v["clip_norm"].as_f64().expect("C");
    let mut ws = mlp.workspace(n);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    // ∂ℓₙ/∂z_ni of example n's own loss, the members' mean BCE (N20): (σ(z_ni) − yₙ)/k.
    let d_z = Array2::from_shape_fn((n, k), |(row, i)| {
        (1.0 / (1.0 + (-fwd.logits()[[row, i]]).exp()) - y[row]) / k as f64
    });
    let norms = mlp
        .backward_clipped(fwd, Upstream::DZ(d_z.view()), c)
        .to_vec();
    let want = floats("norms");
    assert!(
        want.iter().filter(|&&w| w > c).count() > 0 && want.iter().any(|&w| w < c),
        "the fixture clips some examples and not others"
    );
    for (i, (a, b)) in norms.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() < 1e-12 * b,
            "example {i}: norm {a} vs torch {b}"
        );
    }
    for (p, (a, b)) in mlp.grads().iter().zip(floats("clipped_sum")).enumerate() {
        assert!(
            (a - b).abs() < 1e-12 * b.abs().max(1e-3),
            "parameter {p}: {a} vs torch {b}"
        );
    }
}
