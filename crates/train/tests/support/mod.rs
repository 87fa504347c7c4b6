//! Helpers shared by the trainer and checkpoint tests (`mod support;` in each; a folder
//! module, so not a test target of its own).

#![allow(dead_code)]

use std::path::PathBuf;

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

/// A folder of its own for one test of this process under the system temp folder, removed
/// (with everything in it) when dropped.
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    /// An empty folder named after `test` and this process.
    pub fn new(test: &str) -> Self {
        let root = std::env::temp_dir()
            .join("glassbox-train-tests")
            .join(format!("{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("scratch folder");
        Scratch { root }
    }

    /// `name` inside the folder (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Writes `bytes` to `name` inside the folder; returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A deliberate change to a gradient, for a negative control.
pub type WrongGradient<'a> = &'a dyn Fn(&mut [f64]);

/// The f64 gradient check of a loss of outputs `out` (N, O): central differences (B24) of
/// `loss` against `analytic` (N, O) must pass; then, when `wrong` is given, the same check
/// of the gradient `wrong` changes must fail (the negative control).
pub fn check_output_gradient(
    name: &str,
    out: &Array2<f64>,
    analytic: &Array2<f64>,
    wrong: Option<WrongGradient<'_>>,
    loss: impl Fn(&Array2<f64>) -> f64,
) {
    use glassbox_core::gradcheck::{GradcheckConfig, check_tensor};
    let config = GradcheckConfig::default();
    let mut point: Vec<f64> = out.iter().copied().collect();
    let analytic: Vec<f64> = analytic.iter().copied().collect();
    let loss_at = |p: &[f64]| {
        let m = Array2::from_shape_vec(out.dim(), p.to_vec()).expect("shape");
        loss(&m)
    };
    let report = check_tensor(name, &mut point, &analytic, &config, loss_at);
    assert!(report.passed(), "{name}: {report:?}");
    if let Some(change) = wrong {
        let mut bad = analytic.clone();
        change(&mut bad);
        let report = check_tensor(name, &mut point, &bad, &config, loss_at);
        assert!(!report.passed(), "{name}: the wrong gradient passed");
    }
}

/// A loss's value and gradient (N, O) against a reference fixture's: the value to 1e-12
/// relative, every gradient element to 1e-10 relative (floor 1e-9).
pub fn assert_matches_reference(
    name: &str,
    (value, grad): (f64, &Array2<f64>),
    (expected, expected_grad): (f64, &[Vec<f64>]),
) {
    let rel = (value - expected).abs() / value.abs().max(expected.abs()).max(1e-12);
    assert!(rel < 1e-12, "{name}: {value} vs {expected}");
    for (i, row) in expected_grad.iter().enumerate() {
        for (j, &g) in row.iter().enumerate() {
            let e = (grad[[i, j]] - g).abs() / g.abs().max(1e-9);
            assert!(e < 1e-10, "{name}: d[{i},{j}] {} vs {g}", grad[[i, j]]);
        }
    }
}
