//! Unit tests of `optim.rs` (a sibling file to keep the module under 1,000 lines).

use super::*;

/// Gradient of `f(θ) = ½ Σ_i a_i (θ_i − c_i)²`.
fn quad_grad(theta: &[f64], g: &mut [f64]) {
    let a = [1.0, 4.0, 0.25, 2.0];
    let c = [0.5, -1.0, 2.0, 0.0];
    for i in 0..theta.len() {
        g[i] = a[i] * (theta[i] - c[i]);
    }
}

fn run(config: OptimizerConfig, steps: usize) -> (Vec<f64>, Optimizer<f64>) {
    let mut theta = vec![1.0, 1.0, -1.0, 3.0];
    let mut g = vec![0.0; 4];
    let mut opt = Optimizer::new(config, 4).unwrap();
    for _ in 0..steps {
        quad_grad(&theta, &mut g);
        opt.step(&mut theta, &g);
    }
    (theta, opt)
}

#[test]
fn sgd_literal_steps() {
    // θ = 1, a = 1, c = 0.5: g = 0.5; SGD lr 0.1 → 0.95.
    // Momentum 0.9: b₁ = 0.5, θ₁ = 0.95; g₂ = 0.45, b₂ = 0.9·0.5 + 0.45 = 0.9,
    // θ₂ = 0.95 − 0.09 = 0.86.
    // Nesterov 0.9: b₁ = 0.5, θ₁ = 1 − 0.1·(0.5 + 0.45) = 0.905.
    let (t, _) = run(OptimizerConfig::sgd(0.1), 1);
    assert!((t[0] - 0.95).abs() < 1e-15);
    let (t, _) = run(OptimizerConfig::sgd_momentum(0.1, 0.9), 2);
    assert!((t[0] - 0.86).abs() < 1e-15);
    let (t, _) = run(OptimizerConfig::sgd_nesterov(0.1, 0.9), 1);
    assert!((t[0] - 0.905).abs() < 1e-15);
}

#[test]
fn adam_first_step_is_lr_times_sign() {
    // At t = 1, m̂ = g and √v̂ = |g|: the step is lr·g/(|g| + ε) ≈ lr·sign(g) (Torch);
    // Keras: α = lr·√0.001/0.1, m = 0.1 g, √v = √0.001·|g| → lr·g/(|g| + ε̂/√0.001).
    for config in [
        OptimizerConfig::adam_torch(0.01),
        OptimizerConfig::adam_keras(0.01),
    ] {
        let (t, _) = run(config, 1);
        let start = [1.0, 1.0, -1.0, 3.0];
        let g: [f64; 4] = [0.5, 8.0, -0.75, 6.0];
        for i in 0..4 {
            let eps = match config {
                OptimizerConfig::Adam {
                    eps: AdamEpsilon::Torch(e),
                    ..
                } => e,
                OptimizerConfig::Adam {
                    eps: AdamEpsilon::Keras(e),
                    ..
                } => e / 0.001f64.sqrt(),
                _ => unreachable!(),
            };
            let expect = start[i] - 0.01 * g[i] / (g[i].abs() + eps);
            assert!(
                (t[i] - expect).abs() < 1e-15,
                "{config:?} i={i}: {} vs {expect}",
                t[i]
            );
        }
    }
}

/// DP-AdamBC (P31), two steps worked by hand: lr = 0.1, β₁ = 0.9, β₂ = 0.999, Φ = 0.01,
/// γ = 1e-4, θ = (1, 1), g₁ = (0.5, 0.05), g₂ = (−0.1, 0.05).
///
/// Coordinate 0, step 1: m = 0.05, v = 0.001·0.25 = 2.5e-4, m̂ = 0.05/0.1 = 0.5,
/// v̂ = 2.5e-4/0.001 = 0.25, v̂ − Φ = 0.24, √0.24 = 0.489898, θ = 1 − 0.1·0.5/0.489898 =
/// 0.897938. Step 2: m = 0.05 + 0.1·(−0.1 − 0.05) = 0.035, v = 0.999·2.5e-4 + 0.001·0.01 =
/// 2.5975e-4, m̂ = 0.035/0.19 = 0.184211, v̂ = 2.5975e-4/0.001999 = 0.129940, v̂ − Φ =
/// 0.119940, √ = 0.346324, θ = 0.897938 − 0.1·0.184211/0.346324 = 0.844748.
///
/// Coordinate 1 stays under the noise: v̂ = 0.0025 both steps, v̂ − Φ < 0, so the floor
/// √γ = 0.01 divides: each step is 0.1·0.05/0.01 = 0.5, θ = 0.5 then 0. Plain Adam (the
/// negative control) would step by ≈ lr = 0.1 instead: sign-sized.
#[test]
fn dp_adam_bc_two_steps_by_hand() {
    let mut opt = Optimizer::new(OptimizerConfig::adam_torch(0.1), 2).unwrap();
    let correction = NoiseCorrection {
        variance: 0.01,
        floor: 1e-4,
    };
    opt.set_noise_correction(Some(correction)).unwrap();
    let mut plain = Optimizer::new(OptimizerConfig::adam_torch(0.1), 2).unwrap();
    let (mut theta, mut control) = (vec![1.0f64, 1.0], vec![1.0f64, 1.0]);
    opt.step(&mut theta, &[0.5, 0.05]);
    plain.step(&mut control, &[0.5, 0.05]);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(
        close(theta[0], 1.0 - 0.1 * 0.5 / 0.24f64.sqrt()),
        "{theta:?}"
    );
    assert!(close(theta[0], 0.897_937_927_384_034), "{theta:?}");
    assert!(close(theta[1], 0.5), "{theta:?}");
    // Plain Adam: 1 − 0.1·0.05/(0.05 + 1e-8), ε's share 2e-8.
    assert!((control[1] - 0.9).abs() < 1e-7, "{control:?}");
    opt.step(&mut theta, &[-0.1, 0.05]);
    let v_hat = 2.5975e-4 / (1.0 - 0.999f64.powi(2));
    let step2 = 0.1 * (0.035 / 0.19) / (v_hat - 0.01).sqrt();
    assert!(close(theta[0], 0.897_937_927_384_034 - step2), "{theta:?}");
    assert!(close(theta[0], 0.844_747_623_013_559), "{theta:?}");
    assert!(close(theta[1], 0.0), "{theta:?}");
}

/// The correction is Adam's only, with Φ ≥ 0 and γ > 0, each finite; none restores Adam.
#[test]
fn noise_correction_refuses_other_optimizers_and_bad_values() {
    let good = NoiseCorrection {
        variance: 0.01,
        floor: 1e-8,
    };
    let mut sgd = Optimizer::<f64>::new(OptimizerConfig::sgd(0.1), 2).unwrap();
    assert!(sgd.set_noise_correction(Some(good)).is_err());
    assert!(sgd.set_noise_correction(None).is_ok());
    let mut adam = Optimizer::<f64>::new(OptimizerConfig::adam_keras(0.1), 2).unwrap();
    for (variance, floor) in [
        (-1.0, 1e-8),
        (f64::NAN, 1e-8),
        (0.01, 0.0),
        (0.01, f64::INFINITY),
    ] {
        let bad = NoiseCorrection { variance, floor };
        assert!(adam.set_noise_correction(Some(bad)).is_err(), "{bad:?}");
    }
    assert!(adam.set_noise_correction(Some(good)).is_ok());
}

#[test]
fn weight_decay_forms() {
    // One SGD step from θ = 1 with g = 0.5, lr = 0.1, λ = 0.2:
    // L2: g' = 0.5 + 0.2 = 0.7 → θ = 0.93. Decoupled: θ = 1·(1 − 0.02) − 0.05 = 0.93.
    // They coincide for SGD (no momentum); with Adam they do not.
    let l2 = OptimizerConfig::sgd(0.1).with_weight_decay(WeightDecay::L2(0.2));
    let dec = OptimizerConfig::sgd(0.1).with_weight_decay(WeightDecay::Decoupled(0.2));
    assert!((run(l2, 1).0[0] - 0.93).abs() < 1e-15);
    assert!((run(dec, 1).0[0] - 0.93).abs() < 1e-15);
    let a_l2 = OptimizerConfig::adam_torch(0.1).with_weight_decay(WeightDecay::L2(0.2));
    let a_dec = OptimizerConfig::adamw(0.1, 0.2);
    // Adam at t = 1 steps by lr·g/(|g| + ε) ≈ lr·sign(g).
    // L2: g' = 0.5 + 0.2·1 = 0.7 → θ = 1 − 0.1·0.7/(0.7 + ε) ≈ 0.9.
    // AdamW: θ = 1·(1 − 0.02) − 0.1·0.5/(0.5 + ε) ≈ 0.88.
    let eps = 1e-8;
    assert!((run(a_l2, 1).0[0] - (1.0 - 0.1 * 0.7 / (0.7 + eps))).abs() < 1e-15);
    assert!((run(a_dec, 1).0[0] - (0.98 - 0.1 * 0.5 / (0.5 + eps))).abs() < 1e-15);
}

fn all_configs() -> Vec<OptimizerConfig> {
    vec![
        OptimizerConfig::sgd(0.05),
        OptimizerConfig::sgd_momentum(0.05, 0.9),
        OptimizerConfig::sgd_nesterov(0.05, 0.9).with_weight_decay(WeightDecay::L2(0.01)),
        OptimizerConfig::rmsprop_torch(0.05),
        OptimizerConfig::rmsprop_keras(0.05).with_weight_decay(WeightDecay::Decoupled(0.1)),
        OptimizerConfig::adam_torch(0.05),
        OptimizerConfig::adam_keras(0.05),
        OptimizerConfig::adamw(0.05, 0.05),
    ]
}

#[test]
fn every_optimizer_descends_the_quadratic() {
    let f = |t: &[f64]| {
        let mut g = vec![0.0; 4];
        quad_grad(t, &mut g);
        g.iter()
            .zip([1.0, 4.0, 0.25, 2.0])
            .map(|(g, a)| g * g / a)
            .sum::<f64>()
            / 2.0
    };
    let start = f(&[1.0, 1.0, -1.0, 3.0]);
    for c in all_configs() {
        let (t, opt) = run(c, 50);
        assert_eq!(opt.step_count(), 50);
        assert!(f(&t) < 0.5 * start, "{c:?}: {} vs start {start}", f(&t));
    }
}

/// The chunked parallel update (P ≥ PAR_MIN_PARAMS) gives the same bits at 1, 2 and 3
/// threads, for every algorithm; and it does update every chunk.
#[test]
fn parallel_update_is_bit_identical_at_any_thread_count() {
    let p = 3 * PAR_CHUNK + 1234;
    assert!(p >= PAR_MIN_PARAMS);
    let start: Vec<f32> = (0..p)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect();
    let grad_at = |step: usize, i: usize| ((i * 13 + step * 7) % 29) as f32 / 14.0 - 1.0;
    // DP-AdamBC (P31) too: Φ between the v̂ of the small and the large gradients, so both
    // branches of its floor run.
    let bc = NoiseCorrection {
        variance: 0.05,
        floor: 1e-8,
    };
    let run = |(config, correction): (OptimizerConfig, Option<NoiseCorrection>),
               threads: usize|
     -> Vec<u32> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut theta = start.clone();
            let mut opt = Optimizer::new(config, p).unwrap();
            opt.set_noise_correction(correction).unwrap();
            for step in 0..3 {
                let g: Vec<f32> = (0..p).map(|i| grad_at(step, i)).collect();
                opt.step(&mut theta, &g);
            }
            theta.iter().map(|v| v.to_bits()).collect()
        })
    };
    for config in [
        (OptimizerConfig::adamw(1e-2, 0.1), None),
        (OptimizerConfig::adam_keras(1e-2), None),
        (OptimizerConfig::adam_torch(1e-2), Some(bc)),
        (OptimizerConfig::rmsprop_torch(1e-2), None),
        (OptimizerConfig::sgd_nesterov(1e-2, 0.9), None),
        (
            OptimizerConfig::sgd(1e-2).with_weight_decay(WeightDecay::L2(0.01)),
            None,
        ),
    ] {
        let one = run(config, 1);
        let changed = one
            .iter()
            .zip(&start)
            .filter(|(a, b)| **a != b.to_bits())
            .count();
        assert!(
            changed > p * 9 / 10,
            "{config:?}: only {changed} of {p} moved"
        );
        for threads in [2, 3, 7] {
            assert!(
                run(config, threads) == one,
                "{config:?} at {threads} threads"
            );
        }
    }
}

#[test]
fn save_restore_continue_is_bit_identical() {
    for c in all_configs() {
        let (straight, _) = run(c, 12);
        let (mut theta, opt) = run(c, 5);
        let saved: Vec<(&str, Vec<f64>)> = opt
            .buffers()
            .into_iter()
            .map(|(n, b)| (n, b.to_vec()))
            .collect();
        let mut fresh = Optimizer::<f64>::new(c, 4).unwrap();
        let view: Vec<(&str, &[f64])> = saved.iter().map(|(n, b)| (*n, &b[..])).collect();
        fresh.restore(opt.step_count(), &view).unwrap();
        let mut g = vec![0.0; 4];
        for _ in 5..12 {
            quad_grad(&theta, &mut g);
            fresh.step(&mut theta, &g);
        }
        assert_eq!(theta, straight, "{c:?}");
    }
}

#[test]
fn restore_rejects_wrong_state() {
    let mut opt = Optimizer::<f32>::new(OptimizerConfig::adam_torch(0.1), 3).unwrap();
    let z = [0.0f32; 3];
    assert!(matches!(
        opt.restore(1, &[("m", &z)]),
        Err(OptimError::BufferNames { .. })
    ));
    assert!(matches!(
        opt.restore(1, &[("m", &z), ("v", &z[..2])]),
        Err(OptimError::BufferLength { .. })
    ));
    opt.restore(7, &[("v", &z), ("m", &z)]).unwrap();
    assert_eq!(opt.step_count(), 7);
}

#[test]
fn config_validation_and_serde() {
    assert!(OptimizerConfig::sgd(-1.0).validate().is_err());
    assert!(OptimizerConfig::sgd_momentum(0.1, 1.0).validate().is_err());
    assert!(
        OptimizerConfig::adam_torch(0.1)
            .with_weight_decay(WeightDecay::L2(f64::NAN))
            .validate()
            .is_err()
    );
    let c = OptimizerConfig::adamw(0.001, 0.01);
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(
        json,
        r#"{"algorithm":"adam","lr":0.001,"beta1":0.9,"beta2":0.999,"eps":{"Torch":1e-8},"weight_decay":{"Decoupled":0.01}}"#
    );
    assert_eq!(serde_json::from_str::<OptimizerConfig>(&json).unwrap(), c);
}

#[test]
#[should_panic(expected = "3 gradients for P = 4")]
fn step_panics_on_length_mismatch() {
    let mut opt = Optimizer::<f64>::new(OptimizerConfig::sgd(0.1), 4).unwrap();
    opt.step(&mut [0.0; 4], &[0.0; 3]);
}
