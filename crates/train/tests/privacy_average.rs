//! The averaged iterates of a private run (notes/privacy.md §12, P28): the average is the
//! β-weighted mean of the iterates, end to end; averaging leaves the training path alone
//! (the iterates are bit-identical with and without it); it is the same at 1 and 2 threads,
//! survives a checkpoint bit for bit, and is refused with early stopping or β ∉ [0, 1); the
//! same for the warm-up of the decay (P29), which is refused without a decay.

mod support;

use glassbox_core::Init;
use glassbox_train::privacy::average::update_average_warmup;
use glassbox_train::privacy::{
    DpMethod, DpRequest, DpSgdConfig, NoiseChoice, PrivacyError, plan_dp_sgd,
};
use glassbox_train::{
    DataView, EarlyStopping, Monitor, OptimizerConfig, TrainConfig, TrainError, Trainer,
};
use ndarray::Array2;
use support::{Scratch, binary_data, binary_spec, bits, run_state};

const ROWS: usize = 120;
const EPOCHS: usize = 6;

fn plan(batch: usize, average_decay: Option<f64>) -> Result<DpSgdConfig, PrivacyError> {
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.1),
        delta: 1e-3,
        clip_norm: 1.0,
        method: DpMethod {
            average_decay,
            ..DpMethod::default()
        },
    };
    plan_dp_sgd(&request, ROWS, batch, EPOCHS, 1).map(|(config, _)| config)
}

fn config(epochs: usize, threads: usize, batch: usize, beta: Option<f64>) -> TrainConfig {
    let mut c = TrainConfig::keras_recipe(epochs, 23);
    c.batch_size = batch;
    c.optimizer = OptimizerConfig::adam_torch(0.05);
    c.threads = Some(threads);
    c.privacy = Some(plan(batch, beta).expect("a valid plan"));
    c
}

fn data() -> (Array2<f32>, Array2<f32>) {
    binary_data(ROWS, 5, 4)
}

fn fit(t: &mut Trainer<f32>) {
    let (x, y) = data();
    t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .expect("trains");
}

/// A 5-6-1 network with this configuration, before training.
fn untrained(c: TrainConfig) -> Trainer<f32> {
    Trainer::new(binary_spec(5, &[6], 0.0), Init::TorchDefault, c).expect("valid")
}

fn trained(c: TrainConfig) -> Trainer<f32> {
    let mut t = untrained(c);
    fit(&mut t);
    t
}

/// With B = N every epoch is one step (q = 1), so the iterates can be read after each
/// epoch: the trainer's average is `Σ β^{t−s}·θ_s / Σ β^{t−s}` of them, computed here in f64
/// (to 1e-6 relative: the average is kept in f32). Negative control: the plain mean of the
/// iterates is far from it.
#[test]
fn the_average_is_the_weighted_mean_of_the_iterates() {
    let beta = 0.6;
    let mut t = untrained(config(1, 1, ROWS, Some(beta)));
    let mut iterates: Vec<Vec<f64>> = Vec::new();
    for epoch in 1..=EPOCHS {
        t.set_epochs(epoch).expect("valid");
        fit(&mut t);
        assert_eq!(t.optimizer().step_count(), epoch as u64);
        iterates.push(t.mlp().params().iter().map(|&p| f64::from(p)).collect());
    }
    let avg = t.averaged_params().expect("the run averages");
    let (mut worst, mut plain_gap) = (0.0f64, 0.0f64);
    for (j, &a) in avg.iter().enumerate() {
        let (mut num, mut den, mut plain) = (0.0, 0.0, 0.0);
        for (s, theta) in iterates.iter().enumerate() {
            let w = beta.powi((EPOCHS - 1 - s) as i32);
            num += w * theta[j];
            den += w;
            plain += theta[j] / EPOCHS as f64;
        }
        let want = num / den;
        worst = worst.max((f64::from(a) - want).abs() / want.abs().max(1e-3));
        plain_gap = plain_gap.max((plain - want).abs() / want.abs().max(1e-3));
    }
    assert!(worst < 1e-6, "worst relative error {worst:e}");
    assert!(
        plain_gap > 1e-3,
        "the plain mean is as close: {plain_gap:e}"
    );
}

/// Averaging reads the iterates and changes none of them: the same seed trains the same
/// bits with and without it; the average differs from the last iterate, is the same at 1
/// and 2 threads, becomes the network with `use_average`, and with β = 0 is the last
/// iterate.
#[test]
fn averaging_leaves_the_iterates_alone_and_is_the_same_at_any_thread_count() {
    let plain = trained(config(EPOCHS, 2, 16, None));
    let averaged = trained(config(EPOCHS, 2, 16, Some(0.9)));
    assert!(plain.averaged_params().is_none());
    assert_eq!(run_state(&averaged), run_state(&plain));
    let avg = bits(averaged.averaged_params().expect("averages"));
    assert_ne!(avg, bits(averaged.mlp().params()));
    let one_thread = trained(config(EPOCHS, 1, 16, Some(0.9)));
    assert_eq!(bits(one_thread.averaged_params().expect("averages")), avg);
    let mut used = averaged;
    assert!(used.use_average());
    assert_eq!(bits(used.mlp().params()), avg);
    let last = trained(config(EPOCHS, 2, 16, Some(0.0)));
    assert_eq!(
        bits(last.averaged_params().expect("averages")),
        bits(last.mlp().params())
    );
}

/// Saved after 3 epochs and resumed to 6, the average ends bit-identical to the
/// uninterrupted run's; a checkpoint whose manifest drops the average is refused.
#[test]
fn the_average_survives_a_checkpoint() {
    let straight = trained(config(EPOCHS, 2, 16, Some(0.9)));
    let scratch = Scratch::new("privacy_average");
    let path = scratch.path("epoch3.safetensors");
    trained(config(3, 2, 16, Some(0.9)))
        .save(&path)
        .expect("checkpoint saved");
    let mut resumed = Trainer::<f32>::resume(&path).expect("loads");
    resumed.set_epochs(EPOCHS).expect("valid");
    fit(&mut resumed);
    assert_eq!(run_state(&resumed), run_state(&straight));
    assert_eq!(
        bits(resumed.averaged_params().expect("averages")),
        bits(straight.averaged_params().expect("averages"))
    );
    // Without its average the run could not continue exactly: the loader says so.
    let mut ckpt = glassbox_train::load_checkpoint::<f32>(&path).expect("loads");
    ckpt.manifest.has_average = false;
    ckpt.averaged = None;
    let plain_path = scratch.path("no-average.safetensors");
    Trainer::from_checkpoint(ckpt)
        .expect("valid")
        .save(&plain_path)
        .expect("saved");
    let err = Trainer::<f32>::resume(&plain_path).expect_err("the average is missing");
    assert!(err.to_string().contains("P28"), "{err}");
}

/// β must be in [0, 1), and averaging does not mix with early stopping (each would choose
/// the final weights).
#[test]
fn bad_decays_and_early_stopping_are_refused() {
    for beta in [1.0, -0.5, f64::NAN] {
        assert!(
            matches!(
                plan(16, Some(beta)),
                Err(PrivacyError::InvalidAverageDecay(_))
            ),
            "{beta}"
        );
    }
    let mut c = config(EPOCHS, 1, 16, Some(0.9));
    c.early_stopping = Some(EarlyStopping {
        patience: 2,
        min_delta: 0.0,
        monitor: Monitor::ValLoss,
        restore_best: true,
    });
    let (x, y) = data();
    let mut t = Trainer::<f32>::new(binary_spec(5, &[6], 0.0), Init::TorchDefault, c)
        .expect("a valid config alone");
    let view = DataView::new(x.view(), y.view());
    let err = t.fit(&view, Some(&view), &mut |_| {}).expect_err("refused");
    assert!(
        matches!(
            err,
            TrainError::Config {
                field: "privacy.average_decay",
                ..
            }
        ),
        "{err}"
    );
}

/// `config` with the warm-up of the decay (P29).
fn warm_config(epochs: usize, threads: usize, batch: usize, beta: f64) -> TrainConfig {
    let mut c = config(epochs, threads, batch, Some(beta));
    if let Some(dp) = c.privacy.as_mut() {
        dp.method.average_warmup = true;
    }
    c
}

/// (P29) end to end, B = N (one step per epoch): the trainer's warmed-up average (kept in
/// f32) is `update_average_warmup` folded over the iterates in f64 at steps 1…T (1e-6
/// relative; the unit tests of `average.rs` check that fold against P29's closed form), so
/// the trainer folds every step with its own t; P28's average with the same β is not
/// (negative control). The iterates are the run without averaging's, bit for bit, and the
/// average is the same at 1, 2 and 7 threads.
#[test]
fn the_warmed_up_average_is_its_weighted_mean_and_the_same_at_any_thread_count() {
    let beta = 0.99;
    let mut t = untrained(warm_config(1, 1, ROWS, beta));
    let mut want: Vec<f64> = Vec::new();
    for epoch in 1..=EPOCHS {
        t.set_epochs(epoch).expect("valid");
        fit(&mut t);
        let theta: Vec<f64> = t.mlp().params().iter().map(|&p| f64::from(p)).collect();
        want.resize(theta.len(), 0.0);
        update_average_warmup(&mut want, &theta, epoch as u64, beta);
    }
    let avg = t.averaged_params().expect("the run averages");
    let p28 = trained(config(EPOCHS, 1, ROWS, Some(beta)));
    let p28 = p28.averaged_params().expect("averages");
    let rel = |a: f32, w: f64| (f64::from(a) - w).abs() / w.abs().max(1e-3);
    let worst = avg
        .iter()
        .zip(&want)
        .map(|(&a, &w)| rel(a, w))
        .fold(0.0, f64::max);
    let p28_gap = p28
        .iter()
        .zip(&want)
        .map(|(&a, &w)| rel(a, w))
        .fold(0.0, f64::max);
    assert!(worst < 1e-6, "worst relative error {worst:e}");
    assert!(p28_gap > 1e-3, "P28's average is as close: {p28_gap:e}");

    let plain = trained(config(EPOCHS, 2, 16, None));
    let warm = trained(warm_config(EPOCHS, 2, 16, 0.9));
    assert_eq!(run_state(&warm), run_state(&plain));
    let avg = bits(warm.averaged_params().expect("averages"));
    let fixed = trained(config(EPOCHS, 2, 16, Some(0.9)));
    assert_ne!(avg, bits(fixed.averaged_params().expect("averages")));
    for threads in [1, 7] {
        let other = trained(warm_config(EPOCHS, threads, 16, 0.9));
        assert_eq!(bits(other.averaged_params().expect("averages")), avg);
    }
}

/// The warm-up without a decay to warm up to is refused by the planner and by the config.
#[test]
fn a_warmup_without_a_decay_is_refused() {
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.1),
        delta: 1e-3,
        clip_norm: 1.0,
        method: DpMethod {
            average_warmup: true,
            ..DpMethod::default()
        },
    };
    assert!(matches!(
        plan_dp_sgd(&request, ROWS, 16, EPOCHS, 1),
        Err(PrivacyError::WarmupWithoutAverage)
    ));
    let mut dp = plan(16, None).expect("valid");
    dp.method.average_warmup = true;
    assert!(matches!(
        dp.validate(),
        Err(PrivacyError::WarmupWithoutAverage)
    ));
}
