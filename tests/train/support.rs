//! Helpers shared by the trainer and checkpoint tests (included with `#[path]`; not a
//! test target of its own). Scratch folders come from `crates/data/tests/support/mod.rs`.

#![allow(dead_code)]

use glassbox_core::init::uniform01;
use glassbox_core::{Activation, Float, LayerSpec, MlpSpec, seeded_rng};
use glassbox_train::Trainer;
use ndarray::Array2;

/// A learnable binary problem: X uniform in [−1, 1) (N, D); y = 1 when a fixed linear
/// score of the first columns plus noise is positive. Every value comes from
/// `seeded_rng(seed)`, so the data are the same in every process.
pub fn binary_data<T: Float>(n: usize, d: usize, seed: u64) -> (Array2<T>, Array2<T>) {
    let mut rng = seeded_rng(seed);
    let x = Array2::from_shape_simple_fn((n, d), || T::from_f64(2.0 * uniform01(&mut rng) - 1.0));
    let y = Array2::from_shape_fn((n, 1), |(i, _)| {
        let score: f64 = (0..d.min(4))
            .map(|j| {
                Float::to_f64(x[[i, j]]) * (j as f64 + 1.0) * if j % 2 == 0 { 1.0 } else { -1.0 }
            })
            .sum();
        let noise = 0.5 * (uniform01(&mut rng) - 0.5);
        T::from_f64(if score + noise > 0.0 { 1.0 } else { 0.0 })
    });
    (x, y)
}

/// D → hidden… → 1 (sigmoid), ReLU hidden layers with dropout `p`.
pub fn binary_spec(d: usize, hidden: &[usize], p: f64) -> MlpSpec {
    let mut layers: Vec<LayerSpec> = hidden
        .iter()
        .map(|&h| LayerSpec::new(h, Activation::Relu).with_dropout(p))
        .collect();
    layers.push(LayerSpec::new(1, Activation::Sigmoid));
    MlpSpec::new(d, layers)
}

/// The bits of a float buffer (f32 or f64, widened exactly to f64).
pub fn bits<T: Float>(xs: &[T]) -> Vec<u64> {
    xs.iter().map(|&x| Float::to_f64(x).to_bits()).collect()
}

/// Everything a continued run must reproduce, as comparable values: parameters, optimizer
/// state and step count, the RNG state, the deterministic history, early stopping's state
/// and best parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct RunState {
    pub params: Vec<u64>,
    pub optimizer: Vec<(String, Vec<u64>)>,
    pub steps: u64,
    pub rng: (Vec<u8>, u64, u128),
    pub history: String,
    pub stopping: String,
    pub best: Option<Vec<u64>>,
}

pub fn run_state<T: Float>(t: &Trainer<T>) -> RunState {
    RunState {
        params: bits(t.mlp().params()),
        optimizer: t
            .optimizer()
            .buffers()
            .into_iter()
            .map(|(n, b)| (n.to_string(), bits(b)))
            .collect(),
        steps: t.optimizer().step_count(),
        rng: (
            t.rng().get_seed().to_vec(),
            t.rng().get_stream(),
            t.rng().get_word_pos(),
        ),
        history: t.history().deterministic_json(),
        stopping: serde_json::to_string(t.early_stopping_state()).unwrap(),
        best: t.best_params().map(bits),
    }
}
