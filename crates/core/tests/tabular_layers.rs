//! The tabular layers (notes/tabular.md, N1–N9): PyTorch float64 values and gradients
//! (crates/core/tests/reference/make_tabular_fixtures.py → tabular_layers.json), an f64
//! gradient check over every parameter and input with a negative control, and bit-identical
//! results at 1, 2 and 7 threads.

use glassbox_core::gradcheck::{GradcheckConfig, check_tensor};
use glassbox_core::{Plr, PlrSpec, feature_scale_backward, feature_scale_forward, seeded_rng};
use ndarray::{Array2, ArrayView2};
use serde_json::Value;

mod fixtures_json;
use fixtures_json::{close, floats};

fn fixture() -> Value {
    let text = include_str!("reference/tabular_layers.json");
    serde_json::from_str(text).expect("fixture JSON")
}

/// The fixture's PLR layer, in `T`.
fn fixture_plr(f: &Value) -> (Plr<f64>, Array2<f64>, Array2<f64>) {
    let s = &f["shape"];
    let dim = |k: &str| s[k].as_u64().expect("shape") as usize;
    let (n, d, k, h) = (dim("n"), dim("d"), dim("k"), dim("h"));
    let p = &f["plr"];
    let plr = Plr {
        spec: PlrSpec {
            features: d,
            frequencies: k,
            units: h,
            sigma: 0.7,
        },
        freq: floats(&p["freq"]),
        weight: floats(&p["weight"]),
        bias: floats(&p["bias"]),
    };
    let x = Array2::from_shape_vec((n, d), floats(&p["x"])).expect("x");
    let r = Array2::from_shape_vec((n, d * h), floats(&p["r"])).expect("r");
    (plr, x, r)
}

#[test]
fn plr_and_feature_scale_match_pytorch_float64() {
    let f = fixture();
    let (plr, x, r) = fixture_plr(&f);
    let (y, cache) = plr.forward(x.view());
    let p = &f["plr"];
    close("plr y", y.as_slice().unwrap(), &floats(&p["y"]), 1e-13);
    let loss: f64 = (&y * &r).sum();
    close("plr loss", &[loss], &[p["loss"].as_f64().unwrap()], 1e-13);
    let mut grads = plr.zero_grads();
    let d_x = plr.backward(cache, r.view(), &mut grads);
    close(
        "plr d_x",
        d_x.as_slice().unwrap(),
        &floats(&p["d_x"]),
        1e-12,
    );
    close("plr d_freq", &grads.d_freq, &floats(&p["d_freq"]), 1e-12);
    close(
        "plr d_weight",
        &grads.d_weight,
        &floats(&p["d_weight"]),
        1e-12,
    );
    close("plr d_bias", &grads.d_bias, &floats(&p["d_bias"]), 1e-12);
    // Backward adds: a second pass doubles the gradients.
    let (_, cache) = plr.forward(x.view());
    plr.backward(cache, r.view(), &mut grads);
    let twice: Vec<f64> = floats(&p["d_bias"]).iter().map(|g| 2.0 * g).collect();
    close("plr d_bias twice", &grads.d_bias, &twice, 1e-12);

    // f32 follows f64 to single precision.
    let plr32 = Plr::<f32> {
        spec: plr.spec,
        freq: plr.freq.iter().map(|&v| v as f32).collect(),
        weight: plr.weight.iter().map(|&v| v as f32).collect(),
        bias: plr.bias.iter().map(|&v| v as f32).collect(),
    };
    let (y32, _) = plr32.forward(x.mapv(|v| v as f32).view());
    let y32: Vec<f64> = y32.iter().map(|&v| f64::from(v)).collect();
    close("plr y f32", &y32, &floats(&p["y"]), 1e-4);

    let sc = &f["scale"];
    let (n, d) = (x.nrows(), x.ncols());
    let xs = Array2::from_shape_vec((n, d), floats(&sc["x"])).unwrap();
    let rs = Array2::from_shape_vec((n, d), floats(&sc["r"])).unwrap();
    let s = floats(&sc["s"]);
    let ys = feature_scale_forward(&s, xs.view());
    close("scale y", ys.as_slice().unwrap(), &floats(&sc["y"]), 1e-15);
    let mut d_s = vec![0.0; d];
    let dxs = feature_scale_backward(&s, xs.view(), rs.view(), &mut d_s);
    close(
        "scale d_x",
        dxs.as_slice().unwrap(),
        &floats(&sc["d_x"]),
        1e-15,
    );
    close("scale d_s", &d_s, &floats(&sc["d_s"]), 1e-14);
}

/// L = Σ R ⊙ PLR(x) for `plr` with its parameters replaced by `set`.
fn plr_loss(plr: &Plr<f64>, x: ArrayView2<f64>, r: &Array2<f64>) -> f64 {
    (&plr.forward(x).0 * r).sum()
}

#[test]
fn gradient_check_f64_passes_and_a_wrong_gradient_fails() {
    let f = fixture();
    let (plr, x, r) = fixture_plr(&f);
    let (_, cache) = plr.forward(x.view());
    let mut grads = plr.zero_grads();
    let d_x = plr.backward(cache, r.view(), &mut grads);
    let config = GradcheckConfig::default();
    let mut any_nonzero = false;
    for (name, analytic) in [
        ("freq", grads.d_freq.clone()),
        ("weight", grads.d_weight.clone()),
        ("bias", grads.d_bias.clone()),
    ] {
        any_nonzero |= analytic.iter().any(|&g| g != 0.0);
        let mut point = match name {
            "freq" => plr.freq.clone(),
            "weight" => plr.weight.clone(),
            _ => plr.bias.clone(),
        };
        let report = check_tensor(name, &mut point, &analytic, &config, |v| {
            let mut p = plr.clone();
            match name {
                "freq" => p.freq = v.to_vec(),
                "weight" => p.weight = v.to_vec(),
                _ => p.bias = v.to_vec(),
            }
            plr_loss(&p, x.view(), &r)
        });
        assert!(report.passed(), "{name}: {report:?}");
    }
    assert!(any_nonzero, "an all-zero gradient would pass trivially");
    let mut xp = x.as_slice().unwrap().to_vec();
    let shape = x.dim();
    // x enters through sin(2π c x) with 2π|c| up to ≈ 10: the four-point formula's error
    // grows like (2πc)⁵h⁴, so x takes a step of 1e-4 (the other tensors pass at 1e-3).
    let fine = GradcheckConfig {
        step: 1e-4,
        ..GradcheckConfig::default()
    };
    let report = check_tensor("x", &mut xp, d_x.as_slice().unwrap(), &fine, |v| {
        let xv = Array2::from_shape_vec(shape, v.to_vec()).unwrap();
        plr_loss(&plr, xv.view(), &r)
    });
    assert!(report.passed(), "x: {report:?}");

    // Negative control: the frequency gradient without its cos term (∂sin v/∂v dropped)
    // must fail the same check.
    let mut wrong = plr.zero_grads();
    let (_, cache) = plr.forward(x.view());
    let mut broken = plr.clone();
    let k = plr.spec.frequencies;
    for (i, w) in broken.weight.iter_mut().enumerate() {
        if i % (2 * k) < k {
            *w = 0.0; // zero the sin-block weights in backward only
        }
    }
    broken.backward(cache, r.view(), &mut wrong);
    let mut point = plr.freq.clone();
    let report = check_tensor("freq", &mut point, &wrong.d_freq, &config, |v| {
        let mut p = plr.clone();
        p.freq = v.to_vec();
        plr_loss(&p, x.view(), &r)
    });
    assert!(!report.passed(), "a wrong gradient must fail the check");

    // Feature scaling: every d_s and d_x, and a control with d_s off by 1 %.
    let s = vec![0.5, -1.5, 2.0];
    let rs = Array2::from_shape_fn(shape, |(n, d)| ((n * 3 + d) as f64 * 0.37).sin());
    let mut d_s = vec![0.0; 3];
    feature_scale_backward(&s, x.view(), rs.view(), &mut d_s);
    let mut sp = s.clone();
    let loss_s = |v: &[f64]| (&feature_scale_forward(v, x.view()) * &rs).sum();
    assert!(check_tensor("s", &mut sp, &d_s, &config, loss_s).passed());
    let off: Vec<f64> = d_s.iter().map(|g| g * 1.01).collect();
    assert!(!check_tensor("s", &mut sp, &off, &config, loss_s).passed());
}

fn bits_at(threads: usize) -> Vec<u64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let spec = PlrSpec {
            features: 13,
            frequencies: 8,
            units: 16,
            sigma: 0.1,
        };
        let plr = Plr::<f32>::new(spec, &mut seeded_rng(5));
        let x = Array2::from_shape_fn((257, 13), |(n, d)| {
            ((n * 13 + d) as f32 * 0.173).sin() * 3.0
        });
        let r = Array2::from_shape_fn((257, 13 * 16), |(n, j)| ((n + 7 * j) as f32 * 0.11).cos());
        let (y, cache) = plr.forward(x.view());
        let mut grads = plr.zero_grads();
        let d_x = plr.backward(cache, r.view(), &mut grads);
        y.iter()
            .chain(d_x.iter())
            .chain(&grads.d_freq)
            .chain(&grads.d_weight)
            .chain(&grads.d_bias)
            .map(|v| u64::from(v.to_bits()))
            .collect()
    })
}

#[test]
fn plr_is_bit_identical_at_1_2_and_7_threads() {
    let one = bits_at(1);
    assert!(one.iter().any(|&b| b != 0));
    assert_eq!(one, bits_at(2));
    assert_eq!(one, bits_at(7));
}

#[test]
fn initial_frequencies_follow_the_normal_law_of_sigma() {
    // (N6) c ~ N(0, σ²): mean ≈ 0 and sd ≈ σ over 40,000 draws (4 sd of the estimates).
    let spec = PlrSpec {
        features: 200,
        frequencies: 200,
        units: 1,
        sigma: 0.3,
    };
    let plr = Plr::<f64>::new(spec, &mut seeded_rng(11));
    let n = plr.freq.len() as f64;
    let mean = plr.freq.iter().sum::<f64>() / n;
    let sd = (plr.freq.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 4.0 * 0.3 / n.sqrt(), "mean {mean}");
    assert!((sd - 0.3).abs() < 4.0 * 0.3 / (2.0 * n).sqrt(), "sd {sd}");
    let bound = 1.0 / 2f64.sqrt();
    assert!(plr.weight.iter().all(|w| w.abs() <= bound));
}

/// The PLR maths written as plain per-row loops (the code before session 14's rewrite, N3–N9),
/// with the same (N26) phase: the blocked, vectorised layer must give these bits exactly.
fn naive_plr<T: glassbox_core::Float>(plr: &Plr<T>, x: ArrayView2<T>, r: &Array2<T>) -> Vec<T> {
    let PlrSpec {
        features: dn,
        frequencies: kn,
        units: hn,
        ..
    } = plr.spec;
    let tau = T::from_f64(std::f64::consts::TAU);
    let (mut y, mut d_x) = (Vec::new(), Vec::new());
    let (mut d_c, mut d_w, mut d_b) = (
        vec![T::zero(); dn * kn],
        vec![T::zero(); dn * hn * 2 * kn],
        vec![T::zero(); dn * hn],
    );
    for n in 0..x.nrows() {
        for d in 0..dn {
            let mut p = vec![T::zero(); 2 * kn];
            for k in 0..kn {
                (p[k], p[kn + k]) = T::plr_phase(plr.freq[d * kn + k], x[[n, d]]);
            }
            let mut g = vec![T::zero(); kn];
            for h in 0..hn {
                let w = &plr.weight[(d * hn + h) * 2 * kn..(d * hn + h + 1) * 2 * kn];
                let mut z = plr.bias[d * hn + h];
                for j in 0..2 * kn {
                    z += w[j] * p[j];
                }
                y.push(z.max(T::zero()));
                let dl = if z > T::zero() {
                    r[[n, d * hn + h]]
                } else {
                    T::zero()
                };
                d_b[d * hn + h] += dl;
                for j in 0..2 * kn {
                    d_w[(d * hn + h) * 2 * kn + j] += dl * p[j];
                }
                for k in 0..kn {
                    g[k] += dl * (w[k] * p[kn + k] - w[kn + k] * p[k]);
                }
            }
            let mut dx = T::zero();
            for k in 0..kn {
                dx += g[k] * tau * plr.freq[d * kn + k];
                d_c[d * kn + k] += g[k] * tau * x[[n, d]];
            }
            d_x.push(dx);
        }
    }
    [y, d_x, d_c, d_w, d_b].concat()
}

/// The layer's y, ∂L/∂x, then ∂L/∂(c, W, b), as one vector.
fn layer_values<T: glassbox_core::Float>(plr: &Plr<T>, x: ArrayView2<T>, r: &Array2<T>) -> Vec<T> {
    let (y, cache) = plr.forward(x);
    let mut grads = plr.zero_grads();
    let d_x = plr.backward(cache, r.view(), &mut grads);
    let mut out: Vec<T> = y.iter().copied().collect();
    out.extend(d_x.iter());
    out.extend(
        grads
            .d_freq
            .iter()
            .chain(&grads.d_weight)
            .chain(&grads.d_bias),
    );
    out
}

fn reference_case<T: glassbox_core::Float>(k: usize, h: usize) -> (Plr<T>, Array2<T>, Array2<T>) {
    let spec = PlrSpec {
        features: 46,
        frequencies: k,
        units: h,
        sigma: 1.0,
    };
    let plr = Plr::<T>::new(spec, &mut seeded_rng(9));
    let x = Array2::from_shape_fn((131, 46), |(n, d)| {
        T::from_f64(((n * 46 + d) as f64 * 0.377).sin() * 4.0)
    });
    let r = Array2::from_shape_fn((131, 46 * h), |(n, j)| {
        T::from_f64(((n + 5 * j) as f64 * 0.13).cos())
    });
    (plr, x, r)
}

#[test]
fn plr_matches_plain_per_row_loops_bit_for_bit() {
    for (k, h) in [(8, 4), (3, 5), (48, 16)] {
        let (plr, x, r) = reference_case::<f32>(k, h);
        let (fast, naive) = (
            layer_values(&plr, x.view(), &r),
            naive_plr(&plr, x.view(), &r),
        );
        assert_eq!(fast.len(), naive.len());
        assert!(
            fast.iter()
                .zip(&naive)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "f32 K={k} H={h}"
        );
        let (plr, x, r) = reference_case::<f64>(k, h);
        let (fast, naive) = (
            layer_values(&plr, x.view(), &r),
            naive_plr(&plr, x.view(), &r),
        );
        assert!(
            fast.iter()
                .zip(&naive)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "f64 K={k} H={h}"
        );
    }
}

/// (N26) The f32 layer (fast sin/cos of the phase in turns) against the f64 layer (std
/// sin/cos) on the same parameters: the approximation moves y and the gradients by no more
/// than f32 rounding of the same sums would.
#[test]
fn plr_f32_stays_close_to_the_f64_layer() {
    let (p64, x64, r64) = reference_case::<f64>(8, 4);
    let cast = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let p32 = Plr::<f32> {
        spec: p64.spec,
        freq: cast(&p64.freq),
        weight: cast(&p64.weight),
        bias: cast(&p64.bias),
    };
    let (x32, r32) = (x64.mapv(|v| v as f32), r64.mapv(|v| v as f32));
    // The f64 layer on the f32-rounded inputs, so only the arithmetic differs.
    let p64 = Plr::<f64> {
        spec: p64.spec,
        freq: p32.freq.iter().map(|&v| f64::from(v)).collect(),
        weight: p32.weight.iter().map(|&v| f64::from(v)).collect(),
        bias: p32.bias.iter().map(|&v| f64::from(v)).collect(),
    };
    let (x64, r64) = (x32.mapv(f64::from), r32.mapv(f64::from));
    let a = layer_values(&p32, x32.view(), &r32);
    let b = layer_values(&p64, x64.view(), &r64);
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (&u, &v)| m.max((f64::from(u) - v).abs()));
    assert!(worst > 0.0, "f32 and f64 cannot agree to the bit");
    assert!(worst <= 1e-5 * scale, "worst {worst:e} of scale {scale:e}");
}
