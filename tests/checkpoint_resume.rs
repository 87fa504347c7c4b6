//! Save → load → continue equals an uninterrupted run, bit for bit — in this process and in
//! a fresh one — and the committed checkpoint that `tests/reference/check_checkpoint.py`
//! reads still loads and reproduces its reference outputs.
//!
//! The run has dropout on both hidden layers and shuffling on (so the RNG state matters),
//! a warm-up + cosine schedule (so the step count matters), AdamW with clipping (so `m`, `v`
//! and `t` matter) and early stopping that keeps the best weights (so its state matters).
//!
//! The fresh-process test re-runs this test binary (`std::env::current_exe()`) with
//! `--ignored --exact resume_child`; the child reads the checkpoint named in
//! `GLASSBOX_RESUME_CHECKPOINT`, trains on and saves its final state to
//! `GLASSBOX_RESUME_OUT`, which the parent loads and compares.

#[path = "../crates/data/tests/support/mod.rs"]
mod data_support;
#[path = "train/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use data_support::Scratch;
use glassbox_core::{Activation, Init, LayerSpec, MlpSpec, seeded_rng};
use glassbox_train::{
    DataView, EarlyStopping, Monitor, OptimizerConfig, Schedule, TrainConfig, Trainer,
    load_checkpoint, read_manifest,
};
use ndarray::Array2;
use support::{RunState, binary_data, run_state};

const CHILD_CHECKPOINT: &str = "GLASSBOX_RESUME_CHECKPOINT";
const CHILD_OUT: &str = "GLASSBOX_RESUME_OUT";

/// Training and validation data (the same in every process: generated from seeds).
struct Data {
    x: Array2<f32>,
    y: Array2<f32>,
    xv: Array2<f32>,
    yv: Array2<f32>,
}

fn data() -> Data {
    let (x, y) = binary_data(90, 12, 40);
    let (xv, yv) = binary_data(40, 12, 41);
    Data { x, y, xv, yv }
}

fn spec() -> MlpSpec {
    MlpSpec::new(
        12,
        vec![
            LayerSpec::new(16, Activation::Relu).with_dropout(0.25),
            LayerSpec::new(8, Activation::Tanh).with_dropout(0.1),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
}

fn config(epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::keras_recipe(epochs, 42);
    c.batch_size = 16; // 90 rows: 5 batches of 16 and one of 10
    c.optimizer = OptimizerConfig::adamw(3e-3, 1e-2);
    c.schedule = Schedule::Warmup {
        steps: 5,
        then: Box::new(Schedule::Cosine {
            total_steps: 40,
            min_lr: 1e-4,
        }),
    };
    c.clip_norm = Some(1.0);
    c.early_stopping = Some(EarlyStopping {
        patience: 100,
        min_delta: 0.0,
        monitor: Monitor::ValLoss,
        restore_best: true,
    });
    c.threads = Some(2);
    c
}

/// Trains `t` on until its configured epoch count.
fn fit(t: &mut Trainer<f32>, d: &Data) {
    t.fit(
        &DataView::new(d.x.view(), d.y.view()),
        Some(&DataView::new(d.xv.view(), d.yv.view())),
        &mut |_| {},
    )
    .expect("training runs");
}

fn trained(epochs: usize, d: &Data) -> Trainer<f32> {
    let mut t = Trainer::new(spec(), Init::GlorotUniform, config(epochs)).expect("valid");
    fit(&mut t, d);
    t
}

/// Resumes the checkpoint at `path`, trains to 10 epochs.
fn resume_to_10(path: &Path, d: &Data) -> Trainer<f32> {
    let mut t = Trainer::<f32>::resume(path).expect("checkpoint loads");
    assert_eq!(t.epochs_done(), 4);
    t.set_epochs(10).expect("valid");
    fit(&mut t, d);
    t
}

/// The state after 10 uninterrupted epochs, checked to be a real test case.
fn straight_10(d: &Data) -> RunState {
    let t = trained(10, d);
    assert_eq!(t.epochs_done(), 10);
    assert_eq!(t.optimizer().step_count(), 60);
    assert!(
        t.best_params().is_some(),
        "early stopping keeps best weights"
    );
    run_state(&t)
}

fn first_4_saved(d: &Data, path: &Path) {
    let mut first = trained(4, d);
    first
        .extra_mut()
        .insert("preprocessor".into(), "{\"kept\": true}".into());
    first.save(path).expect("checkpoint saved");
}

#[test]
fn resume_in_process_is_bit_identical() {
    let d = data();
    let scratch = Scratch::new("resume_in_process");
    let path = scratch.path("epoch4.safetensors");
    first_4_saved(&d, &path);
    let manifest = read_manifest(&path).unwrap();
    assert_eq!(
        (manifest.epochs_done, manifest.optimizer_step_count),
        (4, 24)
    );
    let resumed = resume_to_10(&path, &d);
    assert_eq!(run_state(&resumed), straight_10(&d));
    assert_eq!(
        resumed.extra().get("preprocessor").map(String::as_str),
        Some("{\"kept\": true}")
    );
    assert_eq!(resumed.init_name(), "glorot_uniform");
}

/// Negative control: the same checkpoint continued with a fresh RNG (stream 1 of the seed,
/// as a new run would start) must *not* reproduce the uninterrupted run.
#[test]
fn resuming_without_the_rng_state_diverges() {
    let d = data();
    let scratch = Scratch::new("resume_wrong_rng");
    let path = scratch.path("epoch4.safetensors");
    first_4_saved(&d, &path);
    let mut ckpt = load_checkpoint::<f32>(&path).unwrap();
    let mut fresh = seeded_rng(42);
    fresh.set_stream(1);
    assert_ne!(ckpt.rng, fresh);
    ckpt.rng = fresh;
    let mut t = Trainer::from_checkpoint(ckpt).unwrap();
    t.set_epochs(10).unwrap();
    fit(&mut t, &d);
    assert_ne!(run_state(&t).params, straight_10(&d).params);
}

#[test]
fn resume_in_a_fresh_process_is_bit_identical() {
    let d = data();
    let scratch = Scratch::new("resume_fresh_process");
    let path = scratch.path("epoch4.safetensors");
    let out = scratch.path("epoch10.safetensors");
    first_4_saved(&d, &path);
    let exe = std::env::current_exe().expect("test binary path");
    let status = Command::new(exe)
        .args(["--ignored", "--exact", "resume_child", "--test-threads=1"])
        .env(CHILD_CHECKPOINT, &path)
        .env(CHILD_OUT, &out)
        .status()
        .expect("child process starts");
    assert!(status.success(), "child process failed: {status}");
    let from_child = Trainer::<f32>::resume(&out).expect("the child's checkpoint loads");
    assert_eq!(from_child.epochs_done(), 10);
    assert_eq!(run_state(&from_child), straight_10(&d));
}

/// The child side of [`resume_in_a_fresh_process_is_bit_identical`]; does nothing useful
/// on its own, hence ignored.
#[test]
#[ignore = "run by resume_in_a_fresh_process_is_bit_identical in a child process"]
fn resume_child() {
    let path = PathBuf::from(std::env::var_os(CHILD_CHECKPOINT).expect("checkpoint path"));
    let out = PathBuf::from(std::env::var_os(CHILD_OUT).expect("output path"));
    let resumed = resume_to_10(&path, &data());
    resumed.save(&out).expect("final checkpoint saved");
}

/// The f64 path with SGD + Nesterov momentum (the `velocity` buffer) and no early stopping.
#[test]
fn resume_f64_sgd_nesterov_is_bit_identical() {
    let (x, y) = binary_data::<f64>(50, 6, 43);
    let data = DataView::new(x.view(), y.view());
    let spec = MlpSpec::new(
        6,
        vec![
            LayerSpec::new(7, Activation::LeakyRelu { alpha: 0.1 }).with_dropout(0.3),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    let cfg = |epochs| {
        let mut c = TrainConfig::keras_recipe(epochs, 44);
        c.batch_size = 8;
        c.optimizer = OptimizerConfig::sgd_nesterov(0.05, 0.9);
        c
    };
    let mut straight = Trainer::<f64>::new(spec.clone(), Init::TorchDefault, cfg(5)).unwrap();
    straight.fit(&data, None, &mut |_| {}).unwrap();
    let scratch = Scratch::new("resume_f64");
    let path = scratch.path("f64.safetensors");
    let mut first = Trainer::<f64>::new(spec, Init::TorchDefault, cfg(2)).unwrap();
    first.fit(&data, None, &mut |_| {}).unwrap();
    first.save(&path).unwrap();
    let mut resumed = Trainer::<f64>::resume(&path).unwrap();
    assert_eq!(resumed.optimizer().buffers()[0].0, "velocity");
    resumed.set_epochs(5).unwrap();
    resumed.fit(&data, None, &mut |_| {}).unwrap();
    assert_eq!(run_state(&resumed), run_state(&straight));
}

// ---- The committed checkpoint read by tests/reference/check_checkpoint.py ----

const COMMITTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reference/glassbox_small_checkpoint.safetensors"
);

/// The inputs whose outputs the committed checkpoint stores (6 rows × 5 features).
fn reference_inputs() -> Array2<f32> {
    Array2::from_shape_fn((6, 5), |(i, j)| ((i * 5 + j) as f32 - 14.5) / 8.0)
}

/// Writes the committed checkpoint: 5 → 4 (ReLU, dropout 0.1) → 3 (tanh) → 1 (sigmoid),
/// trained 2 epochs on 32 rows with Keras's recipe; `extra` holds the reference inputs and
/// the network's outputs for them (JSON arrays of f32 values written as f64).
fn write_committed_checkpoint(path: &Path) {
    let (x, y) = binary_data::<f32>(32, 5, 50);
    let spec = MlpSpec::new(
        5,
        vec![
            LayerSpec::new(4, Activation::Relu).with_dropout(0.1),
            LayerSpec::new(3, Activation::Tanh),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    let mut c = TrainConfig::keras_recipe(2, 51);
    c.batch_size = 8;
    let mut t = Trainer::<f32>::new(spec, Init::GlorotUniform, c).unwrap();
    t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .unwrap();
    let inputs = reference_inputs();
    let outputs = t.mlp().predict(inputs.view());
    let as_json = |a: &Array2<f32>| {
        let rows: Vec<Vec<f64>> = a
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect();
        serde_json::to_string(&rows).unwrap()
    };
    t.extra_mut()
        .insert("reference.inputs".into(), as_json(&inputs));
    t.extra_mut()
        .insert("reference.outputs".into(), as_json(&outputs));
    t.save(path).unwrap();
}

/// Regenerate with `GLASSBOX_REGENERATE_CHECKPOINT=1 cargo test --test checkpoint_resume
/// committed_checkpoint`, then run `python tests/reference/check_checkpoint.py`.
#[test]
fn committed_checkpoint_reproduces_its_reference_outputs() {
    let path = Path::new(COMMITTED);
    if std::env::var_os("GLASSBOX_REGENERATE_CHECKPOINT").is_some() {
        write_committed_checkpoint(path);
    }
    let ckpt = load_checkpoint::<f32>(path).expect("the committed checkpoint loads");
    let m = &ckpt.manifest;
    assert_eq!(
        (m.format.as_str(), m.format_version),
        ("glassbox-checkpoint", 1)
    );
    assert_eq!((m.epochs_done, m.optimizer_step_count), (2, 8));
    assert_eq!(m.num_params, 4 * 6 + 3 * 5 + 4);
    let read = |key: &str| -> Vec<Vec<f64>> {
        serde_json::from_str(&m.extra[key]).expect("a JSON array of rows")
    };
    let inputs = read("reference.inputs");
    let expected = read("reference.outputs");
    let x = reference_inputs();
    for (i, row) in inputs.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            assert_eq!(v, f64::from(x[[i, j]]));
        }
    }
    let out = ckpt.mlp.predict(x.view());
    for (i, row) in expected.iter().enumerate() {
        assert_eq!(row[0], f64::from(out[[i, 0]]), "row {i}");
    }
    // The outputs are probabilities that differ between rows (not a constant network).
    assert!(out.iter().all(|&p| p > 0.0 && p < 1.0));
    assert!(out.iter().any(|&p| p != out[[0, 0]]));
}
