//! DP-SGD in the trainer (notes/privacy.md §12–§13): the noise's statistics (P22, P23), the
//! private step against its definition, determinism across seeds and thread counts, and
//! every refusal.

mod support;

use glassbox_core::{Init, seeded_rng};
use glassbox_train::privacy::{
    ClipSplit, DpMethod, DpRequest, DpSgdConfig, NoiseChoice, PrivacyError, PrivacyRecord,
    add_noise_and_average, plan_dp_sgd,
};
use glassbox_train::{
    DataView, EarlyStopping, Event, Monitor, OptimizerConfig, TrainConfig, TrainError, Trainer,
};
use support::{binary_data, binary_spec, bits};

/// z = (result·B − g)/σC for a buffer of `p` coordinates all holding `g`.
fn noise_draws(p: usize, g: f64, noise_std: f64, expected_batch: usize, seed: u64) -> Vec<f64> {
    let mut grads = vec![g; p];
    add_noise_and_average(&mut grads, noise_std, expected_batch, &mut seeded_rng(seed));
    grads
        .iter()
        .map(|v| (v * expected_batch as f64 - g) / noise_std)
        .collect()
}

/// Over P = 200,001 coordinates the standardised noise has mean 0, variance 1, fourth moment
/// 3, P(|z| < 1) = 0.6827, the two tails P(|z| > 3) and P(|z| > R) of the normal law, and no
/// lag-1 correlation, each within 5 standard errors of its sampling law: mean ± 5/√P,
/// s² ± 5·√(2/P), m₄ ± 5·√(96/P), a fraction p ± 5·√(p(1−p)/P), the correlation ± 5/√P.
#[test]
fn the_noise_is_standard_normal_scaled_by_sigma_c_over_b() {
    let p = 200_001;
    let z = noise_draws(p, 0.75, 1.5, 3, 9);
    let n = p as f64;
    let mean = z.iter().sum::<f64>() / n;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = z.iter().map(|v| v.powi(4)).sum::<f64>() / n;
    let within_one = z.iter().filter(|v| v.abs() < 1.0).count() as f64 / n;
    let lag1 = z.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / (n - 1.0);
    let p1 = 0.682_689_492_137_085_9;
    // The tails: beyond 3 (the wedges of the outer layers) and beyond R = 3.6542 (the
    // ziggurat's tail method), two-sided, against 2·Φ(−3) and 2·Φ(−R).
    let tail = |t: f64| z.iter().filter(|v| v.abs() > t).count() as f64 / n;
    for (t, p) in [
        (3.0, 2.699_796_063_260_2e-3),
        (3.654_152_885_361_009, 2.580_324_876_539e-4),
    ] {
        let got = tail(t);
        eprintln!("P(|z| > {t}) = {got:.3e} (law {p:.3e})");
        assert!(
            (got - p).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
            "P(|z| > {t}) = {got}"
        );
    }
    eprintln!(
        "mean {mean:.2e}, var {var:.5}, m4 {m4:.4}, P(|z|<1) {within_one:.5}, lag-1 {lag1:.2e}"
    );
    assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {var}");
    assert!(
        (m4 - 3.0).abs() < 5.0 * (96.0 / n).sqrt(),
        "fourth moment {m4}"
    );
    assert!(
        (within_one - p1).abs() < 5.0 * (p1 * (1.0 - p1) / n).sqrt(),
        "P(|z|<1) {within_one}"
    );
    assert!(lag1.abs() < 5.0 / n.sqrt(), "lag-1 correlation {lag1}");
    // The same draws for the same seed, others for another.
    assert_eq!(z, noise_draws(p, 0.75, 1.5, 3, 9));
    assert_ne!(z[..10], noise_draws(p, 0.75, 1.5, 3, 10)[..10]);
}

/// Negative control for the statistics: noise of the wrong scale (σC/B with B = 2 where 3 is
/// claimed) fails the variance bound of the test above.
#[test]
fn noise_of_the_wrong_scale_fails_the_variance_bound() {
    let p = 200_001;
    let mut grads = vec![0.0f64; p];
    add_noise_and_average(&mut grads, 1.5, 2, &mut seeded_rng(9));
    let n = p as f64;
    let var = grads.iter().map(|v| (v * 3.0 / 1.5).powi(2)).sum::<f64>() / n;
    assert!((var - 1.0).abs() > 5.0 * (2.0 / n).sqrt(), "variance {var}");
}

fn dp_config(epochs: usize, seed: u64, threads: usize, dp: DpSgdConfig) -> TrainConfig {
    let mut c = TrainConfig::keras_recipe(epochs, seed);
    c.batch_size = 16;
    c.optimizer = OptimizerConfig::sgd(0.5);
    c.threads = Some(threads);
    c.privacy = Some(dp);
    c
}

fn plan(rows: usize, sigma: f64, clip: f64) -> DpSgdConfig {
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(sigma),
        delta: 1e-3,
        clip_norm: clip,
        method: DpMethod::default(),
    };
    plan_dp_sgd(&request, rows, 16, 3, 1)
        .expect("a valid plan")
        .0
}

fn train(config: TrainConfig, rows: usize) -> (Vec<u64>, Vec<usize>) {
    let (x, y) = binary_data::<f32>(rows, 6, 1);
    let mut trainer =
        Trainer::<f32>::new(binary_spec(6, &[8], 0.0), Init::TorchDefault, config).expect("valid");
    let mut sizes = Vec::new();
    trainer
        .fit(&DataView::new(x.view(), y.view()), None, &mut |e| {
            if let Event::Batch(p) = e {
                sizes.push(p.rows);
            }
        })
        .expect("trains");
    (bits(trainer.mlp().params()), sizes)
}

#[test]
fn private_training_is_bit_identical_at_1_2_and_7_threads_and_depends_on_the_seed() {
    let rows = 200;
    let dp = plan(rows, 1.1, 1.0);
    assert_eq!((dp.steps_per_epoch, dp.expected_batch_size), (13, 15));
    for optimizer in [OptimizerConfig::sgd(0.5), OptimizerConfig::adam_torch(0.01)] {
        let mut one = dp_config(3, 5, 1, dp);
        one.optimizer = optimizer;
        let (a, sizes) = train(one.clone(), rows);
        assert_eq!(sizes.len(), 3 * 13);
        assert!(
            sizes.iter().any(|&s| s != sizes[0]),
            "Poisson batches vary: {sizes:?}"
        );
        for threads in [2, 7] {
            let mut other = one.clone();
            other.threads = Some(threads);
            assert_eq!(a, train(other, rows).0, "1 vs {threads} threads");
        }
        assert_eq!(a, train(one.clone(), rows).0, "same seed");
        one.seed = 6;
        assert_ne!(a, train(one, rows).0, "another seed");
    }
}

/// DP-AdamBC (P31): Φ = (σC/B)² from the plan, the same bits at 1, 2 and 7 threads, other
/// bits than plain DP-Adam with the same seed; refused with SGD and for a γ ≤ 0.
#[test]
fn dp_adam_bc_is_bit_identical_at_1_2_and_7_threads_and_not_plain_adam() {
    let rows = 200;
    let flat = plan(rows, 1.1, 1.0);
    let bc = DpSgdConfig {
        method: DpMethod {
            adam_bias_correction: Some(1e-8),
            ..flat.method
        },
        ..flat
    };
    let c = bc.noise_correction().expect("the option is set");
    let std = 1.1 * 1.0 / 15.0; // σC/B with B = ⌊N·q⌋ = 15
    assert_eq!((c.variance, c.floor), (std * std, 1e-8));
    assert_eq!(flat.noise_correction(), None);
    let adam = |threads, dp| {
        let mut config = dp_config(3, 5, threads, dp);
        config.optimizer = OptimizerConfig::adam_torch(1e-3);
        config
    };
    let (a, _) = train(adam(1, bc), rows);
    for threads in [2, 7] {
        assert_eq!(a, train(adam(threads, bc), rows).0, "{threads} threads");
    }
    assert_ne!(a, train(adam(1, flat), rows).0, "plain DP-Adam");
    assert!(matches!(
        dp_config(3, 5, 1, bc).validate(),
        Err(TrainError::Privacy(PrivacyError::BiasCorrectionNeedsAdam))
    ));
    refuses_bad_gammas(
        |gamma| DpSgdConfig {
            method: DpMethod {
                adam_bias_correction: Some(gamma),
                ..flat.method
            },
            ..flat
        },
        |e| matches!(e, PrivacyError::InvalidAdamBiasCorrection(_)),
    );
}

/// Every γ ≤ 0 or not finite, set by `with`, fails validation with the error `expected`.
fn refuses_bad_gammas(with: impl Fn(f64) -> DpSgdConfig, expected: fn(&PrivacyError) -> bool) {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = with(bad).validate().expect_err("refused");
        assert!(expected(&err), "γ = {bad}: {err}");
    }
}

/// Automatic clipping (P30) trains the same bits at 1, 2 and 7 threads and other bits than
/// the flat clip (P20) with the same seed; a γ ≤ 0 is refused.
#[test]
fn automatic_clipping_is_bit_identical_at_1_2_and_7_threads_and_not_the_flat_clip() {
    let rows = 200;
    let flat = plan(rows, 1.1, 1.0);
    let auto = DpSgdConfig {
        method: DpMethod {
            automatic_clip: Some(0.01),
            ..flat.method
        },
        ..flat
    };
    let (a, _) = train(dp_config(3, 5, 1, auto), rows);
    for threads in [2, 7] {
        assert_eq!(
            a,
            train(dp_config(3, 5, threads, auto), rows).0,
            "{threads} threads"
        );
    }
    assert_ne!(a, train(dp_config(3, 5, 1, flat), rows).0, "the flat clip");
    refuses_bad_gammas(
        |gamma| DpSgdConfig {
            method: DpMethod {
                automatic_clip: Some(gamma),
                ..flat.method
            },
            ..flat
        },
        |e| matches!(e, PrivacyError::InvalidAutomaticClip(_)),
    );
}

/// Per-layer clipping (P32) with either split (P33) trains the same bits at 1, 2 and 7
/// threads, other bits than the flat clip (P20) and than the other split with the same seed;
/// the record keeps the split under the flat key `clip_per_layer` and reads it back; with
/// automatic clipping (P30) it is refused.
#[test]
fn per_layer_clipping_is_bit_identical_at_1_2_and_7_threads_and_not_the_flat_clip() {
    let rows = 200;
    let flat = plan(rows, 1.1, 1.0);
    let with = |split| DpSgdConfig {
        method: DpMethod {
            clip_per_layer: Some(split),
            ..flat.method
        },
        ..flat
    };
    let mut trained = Vec::new();
    for split in [ClipSplit::Equal, ClipSplit::Params] {
        let (a, _) = train(dp_config(3, 5, 1, with(split)), rows);
        for threads in [2, 7] {
            let again = train(dp_config(3, 5, threads, with(split)), rows).0;
            assert_eq!(a, again, "{split:?}, {threads} threads");
        }
        trained.push(a);
    }
    let flat_bits = train(dp_config(3, 5, 1, flat), rows).0;
    assert_ne!(trained[0], flat_bits, "equal split vs the flat clip");
    assert_ne!(trained[1], flat_bits, "params split vs the flat clip");
    assert_ne!(trained[0], trained[1], "the two splits");

    let request = |method| DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.1),
        delta: 1e-5,
        clip_norm: 1.0,
        method,
    };
    let method = with(ClipSplit::Params).method;
    let (_, record) = plan_dp_sgd(&request(method), 200, 16, 2, 1).expect("valid");
    let json = serde_json::to_value(&record).expect("serialises");
    assert_eq!(json["clip_per_layer"], "params", "{json}");
    let back: PrivacyRecord = serde_json::from_value(json).expect("reads back");
    assert_eq!(back.method.clip_per_layer, Some(ClipSplit::Params));
    let both = DpMethod {
        automatic_clip: Some(0.01),
        ..method
    };
    assert_eq!(
        plan_dp_sgd(&request(both), 200, 16, 2, 1).unwrap_err(),
        PrivacyError::TwoClipRules
    );
}

/// With σ = 0 and C larger than any example's gradient, the private step is the ordinary
/// one rescaled: Σᵢ gᵢ/⌊N·q⌋ = (n/⌊N·q⌋)·(mean gradient), and SGD's update is linear in it.
#[test]
fn without_noise_or_clipping_the_private_step_is_the_rescaled_plain_step() {
    use glassbox_core::{Mlp, seeded_rng};
    use glassbox_train::batching::Batch;
    use glassbox_train::{Optimizer, StepBuffers, train_step};
    let (x, y) = binary_data::<f64>(24, 5, 3);
    let spec = binary_spec(5, &[7, 4], 0.0);
    let mlp = Mlp::<f64>::new(spec, Init::TorchDefault, &mut seeded_rng(1)).expect("valid");
    let dp = DpSgdConfig {
        noise_multiplier: 0.0,
        clip_norm: 1e12,
        sample_rate: 0.25,
        steps_per_epoch: 4,
        expected_batch_size: 6,
        method: DpMethod::default(),
    };
    let step = |privacy: Option<DpSgdConfig>| {
        let mut config = TrainConfig::keras_recipe(1, 0);
        config.optimizer = OptimizerConfig::sgd(1.0);
        config.privacy = privacy;
        let mut m = mlp.clone();
        let mut opt = Optimizer::new(config.optimizer, m.num_params()).expect("sgd");
        let mut buffers = StepBuffers::new(&m, config.loss.kind, 24).expect("logits");
        train_step(
            &config,
            &mut m,
            &mut opt,
            &mut seeded_rng(2),
            Batch::new(x.view(), y.view()),
            &mut buffers,
        )
        .expect("finite");
        m.params().to_vec()
    };
    let (plain, private) = (step(None), step(Some(dp)));
    let scale = 24.0 / 6.0;
    for ((p0, a), b) in mlp.params().iter().zip(&plain).zip(&private) {
        let expected = p0 + scale * (a - p0);
        assert!((b - expected).abs() < 1e-12, "{b} vs {expected}");
    }
    assert!(plain != mlp.params(), "the step moved the parameters");
}

fn refusal(mut edit: impl FnMut(&mut TrainConfig, &mut f64)) -> TrainError {
    let rows = 100;
    let (x, y) = binary_data::<f32>(rows, 4, 2);
    let mut config = dp_config(1, 0, 1, plan(rows, 1.0, 1.0));
    let mut dropout = 0.0;
    edit(&mut config, &mut dropout);
    let spec = binary_spec(4, &[5], dropout);
    // Settings are checked when the trainer is made; the rules that need the data, by fit.
    let mut trainer = match Trainer::<f32>::new(spec, Init::TorchDefault, config) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let data = DataView::new(x.view(), y.view());
    trainer
        .fit(&data, Some(&data), &mut |_| {})
        .expect_err("refused")
}

#[test]
fn private_training_refuses_what_would_break_the_guarantee() {
    let e = refusal(|_, p| *p = 0.2);
    assert!(
        matches!(
            e,
            TrainError::Privacy(PrivacyError::Dropout { layer: 0, .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("refuses dropout"), "{e}");
    let e = refusal(|c, _| c.clip_norm = Some(1.0));
    assert!(
        matches!(e, TrainError::Privacy(PrivacyError::GlobalClipping(_))),
        "{e}"
    );
    let e = refusal(|c, _| c.shuffle = false);
    assert!(
        matches!(e, TrainError::Privacy(PrivacyError::NotPoissonSampling(_))),
        "{e}"
    );
    assert!(e.to_string().contains("Poisson sampling"), "{e}");
    let e = refusal(|c, _| {
        c.early_stopping = Some(EarlyStopping {
            patience: 1,
            min_delta: 0.0,
            monitor: Monitor::TrainLoss,
            restore_best: false,
        })
    });
    assert!(
        matches!(e, TrainError::Privacy(PrivacyError::MonitorsTrainingRows)),
        "{e}"
    );
    let e = refusal(|c, _| {
        if let Some(dp) = c.privacy.as_mut() {
            dp.expected_batch_size += 1;
        }
    });
    assert!(
        matches!(
            e,
            TrainError::Config {
                field: "privacy.expected_batch_size",
                ..
            }
        ),
        "{e}"
    );
    let e = refusal(|c, _| {
        if let Some(dp) = c.privacy.as_mut() {
            dp.clip_norm = 0.0;
        }
    });
    assert!(
        matches!(e, TrainError::Privacy(PrivacyError::InvalidClipNorm(_))),
        "{e}"
    );
    // Early stopping on a validation value is allowed: the validation rows are not trained on.
    let rows = 100;
    let (x, y) = binary_data::<f32>(rows, 4, 2);
    let mut config = dp_config(2, 0, 1, plan(rows, 1.0, 1.0));
    config.early_stopping = Some(EarlyStopping {
        patience: 1,
        min_delta: 0.0,
        monitor: Monitor::ValLoss,
        restore_best: true,
    });
    let mut trainer =
        Trainer::<f32>::new(binary_spec(4, &[5], 0.0), Init::TorchDefault, config).expect("valid");
    let data = DataView::new(x.view(), y.view());
    trainer
        .fit(&data, Some(&data), &mut |_| {})
        .expect("validation monitors are allowed");
}

#[test]
fn planning_refuses_a_bad_budget_and_composes_over_runs() {
    let request = |noise, delta, clip_norm| DpRequest {
        noise,
        delta,
        clip_norm,
        method: DpMethod::default(),
    };
    let eps = NoiseChoice::TargetEpsilon;
    let plan = |r: DpRequest| plan_dp_sgd(&r, 9_864, 256, 10, 1);
    assert_eq!(
        plan(request(eps(0.0), 1e-5, 1.0)).unwrap_err(),
        PrivacyError::InvalidEpsilon(0.0)
    );
    assert_eq!(
        plan(request(eps(-1.0), 1e-5, 1.0)).unwrap_err(),
        PrivacyError::InvalidEpsilon(-1.0)
    );
    assert!(matches!(
        plan(request(eps(3.0), 1.0 / 9_864.0, 1.0)),
        Err(PrivacyError::DeltaNotBelowInverseRows { rows: 9_864, .. })
    ));
    assert_eq!(
        plan(request(eps(3.0), 1e-5, 0.0)).unwrap_err(),
        PrivacyError::InvalidClipNorm(0.0)
    );
    let sigma = NoiseChoice::NoiseMultiplier;
    assert_eq!(
        plan(request(sigma(-0.5), 1e-5, 1.0)).unwrap_err(),
        PrivacyError::InvalidNoiseMultiplier(-0.5)
    );
    // Opacus's calibration for B = 256, 10 epochs, ε = 8: σ = 0.72174072 (shared README).
    let (config, record) = plan(request(eps(8.0), 1e-5, 1.0)).unwrap();
    assert_eq!((record.steps, config.steps_per_epoch), (390, 39));
    assert!(
        (config.noise_multiplier - 0.72174072).abs() < 1e-8,
        "{}",
        config.noise_multiplier
    );
    // Two networks on the same rows spend the ε of 2T steps.
    let (_, two) = plan_dp_sgd(&request(sigma(1.0), 1e-5, 1.0), 9_864, 256, 10, 2).unwrap();
    let (_, one_long) = plan_dp_sgd(&request(sigma(1.0), 1e-5, 1.0), 9_864, 256, 20, 1).unwrap();
    assert_eq!(two.steps, 780);
    assert_eq!(two.epsilon, one_long.epsilon);
}

/// The method's options (P28–P31) live in one struct, flattened: a record keeps the flat keys
/// it was written with (absent when unset), reads back equal, still refuses an unknown key,
/// and a record written before any option existed reads with every option unset.
#[test]
fn records_keep_flat_option_keys_and_refuse_unknown_ones() {
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.1),
        delta: 1e-5,
        clip_norm: 1.0,
        method: DpMethod {
            average_decay: Some(0.99),
            average_warmup: true,
            automatic_clip: Some(0.01),
            adam_bias_correction: Some(1e-6),
            clip_per_layer: None,
        },
    };
    let (config, record) = plan_dp_sgd(&request, 200, 16, 2, 1).expect("valid");
    let json = serde_json::to_value(&record).expect("serialises");
    for key in [
        "average_decay",
        "average_warmup",
        "automatic_clip",
        "adam_bias_correction",
    ] {
        assert!(json.get(key).is_some(), "{key} at the top level: {json}");
    }
    assert!(json.get("method").is_none(), "{json}");
    let back: PrivacyRecord = serde_json::from_value(json.clone()).expect("reads back");
    assert_eq!(back, record);
    let config_json = serde_json::to_value(config).expect("serialises");
    assert_eq!(
        serde_json::from_value::<DpSgdConfig>(config_json.clone()).expect("reads back"),
        config
    );

    let mut unknown = json.clone();
    unknown["average_decy"] = serde_json::json!(0.9);
    let err = serde_json::from_value::<PrivacyRecord>(unknown).expect_err("refused");
    assert!(err.to_string().contains("average_decy"), "{err}");
    let mut unknown = config_json;
    unknown["clip"] = serde_json::json!(1.0);
    assert!(serde_json::from_value::<DpSgdConfig>(unknown).is_err());

    let mut old = json;
    for key in [
        "average_decay",
        "average_warmup",
        "automatic_clip",
        "adam_bias_correction",
    ] {
        old.as_object_mut().expect("an object").remove(key);
    }
    let old: PrivacyRecord = serde_json::from_value(old).expect("an older record reads");
    assert_eq!(old.method, DpMethod::default());
}
