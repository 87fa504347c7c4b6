//! A private run (DP-Adam: Poisson batches, per-example clipping, noise) saved after 3 epochs
//! and resumed to 6 ends bit-identical to the uninterrupted 6-epoch run — parameters, Adam's
//! moments, the step count and the RNG state that draws the batches and the noise — and the
//! accountant charged for the resumed run's steps certifies the planned ε (notes/privacy.md
//! §12). Negative control: resuming with a fresh RNG diverges.

mod support;

use glassbox_core::{Init, seeded_rng};
use glassbox_train::privacy::{
    DpMethod, DpRequest, NoiseChoice, PrivacyRecord, epsilon, plan_dp_sgd,
};
use glassbox_train::{
    DataView, OptimizerConfig, TrainConfig, Trainer, load_checkpoint, read_manifest,
};
use ndarray::Array2;
use support::{RunState, Scratch, binary_data, binary_spec, run_state};

const ROWS: usize = 200;
const EPOCHS: usize = 6;

fn planned() -> (glassbox_train::privacy::DpSgdConfig, PrivacyRecord) {
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.1),
        delta: 1e-3,
        clip_norm: 1.0,
        method: DpMethod::default(),
    };
    plan_dp_sgd(&request, ROWS, 16, EPOCHS, 1).expect("a valid plan")
}

fn config(epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::keras_recipe(epochs, 17);
    c.batch_size = 16;
    c.optimizer = OptimizerConfig::adam_torch(0.01);
    c.threads = Some(2);
    c.privacy = Some(planned().0);
    c
}

fn data() -> (Array2<f32>, Array2<f32>) {
    binary_data(ROWS, 6, 8)
}

fn fit(t: &mut Trainer<f32>, (x, y): &(Array2<f32>, Array2<f32>)) {
    t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .expect("trains");
}

fn trained(epochs: usize) -> Trainer<f32> {
    let mut t = Trainer::new(
        binary_spec(6, &[8, 4], 0.0),
        Init::TorchDefault,
        config(epochs),
    )
    .expect("valid");
    fit(&mut t, &data());
    t
}

fn straight() -> RunState {
    let t = trained(EPOCHS);
    assert_eq!(t.optimizer().step_count(), planned().1.steps);
    run_state(&t)
}

#[test]
fn a_resumed_private_run_is_bit_identical_and_its_steps_are_charged() {
    let (dp, record) = planned();
    assert_eq!((dp.steps_per_epoch, record.steps), (13, 78));
    let scratch = Scratch::new("privacy_resume");
    let path = scratch.path("epoch3.safetensors");
    trained(3).save(&path).expect("checkpoint saved");
    let manifest = read_manifest(&path).expect("manifest");
    assert_eq!(
        (manifest.epochs_done, manifest.optimizer_step_count),
        (3, 39)
    );

    let mut resumed = Trainer::<f32>::resume(&path).expect("checkpoint loads");
    assert_eq!(resumed.config().privacy, Some(dp), "the DP settings travel");
    resumed.set_epochs(EPOCHS).expect("valid");
    fit(&mut resumed, &data());
    assert_eq!(run_state(&resumed), straight());

    // The accountant over the steps actually taken (39 before the checkpoint, 39 after)
    // certifies what was planned for the whole run, and more than the first half alone.
    let steps = resumed.optimizer().step_count();
    assert_eq!(steps, record.steps);
    let spent = epsilon(dp.noise_multiplier, dp.sample_rate, steps, record.delta).unwrap();
    assert_eq!(spent.epsilon, record.epsilon);
    let half = epsilon(dp.noise_multiplier, dp.sample_rate, 39, record.delta).unwrap();
    assert!(half.epsilon < record.epsilon);
}

/// Negative control: the same checkpoint continued with the RNG a new run would start from
/// draws other batches and other noise.
#[test]
fn resuming_a_private_run_without_its_rng_state_diverges() {
    let scratch = Scratch::new("privacy_resume_wrong_rng");
    let path = scratch.path("epoch3.safetensors");
    trained(3).save(&path).expect("checkpoint saved");
    let mut ckpt = load_checkpoint::<f32>(&path).expect("loads");
    let mut fresh = seeded_rng(17);
    fresh.set_stream(1);
    assert_ne!(ckpt.rng, fresh);
    ckpt.rng = fresh;
    let mut t = Trainer::from_checkpoint(ckpt).expect("valid");
    t.set_epochs(EPOCHS).expect("valid");
    fit(&mut t, &data());
    assert_ne!(run_state(&t).params, straight().params);
}
