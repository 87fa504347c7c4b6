//! Helpers of the whole-network tests of tables, shared by `table_network.rs` and
//! `ensemble_network.rs`: inputs, one loss-and-gradient pass, SGD steps, the one-shard check.

use glassbox_core::gradcheck::{CheckLoss, GradcheckReport, LossInput};
use glassbox_core::{GradWrite, Mlp, MlpSpec, Mode, ShardPlan, Upstream, sigmoid};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde_json::Value;

use crate::fixtures_json::floats;

/// The fixture's `shape` entry `key`.
pub fn dim(f: &Value, key: &str) -> usize {
    f["shape"][key].as_u64().expect("shape") as usize
}

/// The fixture's network (`spec` with its `params`), input x (n, d) and targets y (n, 1).
pub fn fixture_net(f: &Value, spec: MlpSpec) -> (Mlp<f64>, Array2<f64>, Array2<f64>) {
    let (n, d) = (dim(f, "n"), dim(f, "d"));
    let mlp = Mlp::from_params(spec, floats(&f["params"])).expect("fixture parameters");
    let x = Array2::from_shape_vec((n, d), floats(&f["x"])).expect("x");
    let y = Array2::from_shape_vec((n, 1), floats(&f["y"])).expect("y");
    (mlp, x, y)
}

/// Mean BCE on logits z (N, k) in the stable form, every column against the row's target
/// y (N, 1) — the mean over all N·k entries (N20's mean of k members; k = 1 is plain BCE) —
/// with its fused gradient (σ(z_ni) − y_n)/(N·k).
pub struct MeanBceLogits(pub Array2<f64>);

impl CheckLoss for MeanBceLogits {
    fn input(&self) -> LossInput {
        LossInput::Logits
    }
    fn value(&self, z: ArrayView2<f64>) -> f64 {
        let mut sum = 0.0;
        for (zr, &y) in z.rows().into_iter().zip(self.0.column(0)) {
            for &z in zr {
                sum += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
            }
        }
        sum / z.len() as f64
    }
    fn gradient(&self, z: ArrayView2<f64>, mut d: ArrayViewMut2<f64>) {
        let nk = z.len() as f64;
        for ((mut dr, zr), &y) in d.rows_mut().into_iter().zip(z.rows()).zip(self.0.column(0)) {
            for (d, &z) in dr.iter_mut().zip(zr) {
                *d = (sigmoid(z) - y) / nk;
            }
        }
    }
}

/// A deterministic, irregular (N, D) matrix in about [−1.5, 1.5].
pub fn matrix(n: usize, d: usize, salt: u64) -> Array2<f64> {
    Array2::from_shape_fn((n, d), |(i, j)| {
        let k = (i as u64 * 7919 + j as u64 * 104_729 + salt * 1_299_709) % 1009;
        (k as f64 / 1009.0 - 0.5) * 3.0
    })
}

/// Loss, parameter gradients and ∂L/∂X of `mlp` at `x` for a loss on the logits.
pub fn loss_and_gradients<L: CheckLoss>(
    mlp: &mut Mlp<f64>,
    x: &Array2<f64>,
    loss: &L,
) -> (f64, Vec<f64>, Array2<f64>) {
    let mut ws = mlp.workspace(x.nrows());
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let value = loss.value(fwd.logits());
    let mut d_z = Array2::zeros(fwd.logits().dim());
    loss.gradient(fwd.logits(), d_z.view_mut());
    let d_x = mlp
        .backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Overwrite)
        .input_gradient()
        .to_owned();
    (value, mlp.grads().to_vec(), d_x)
}

/// `steps` plain SGD steps, θ ← θ − lr·∇L, on the batch `x`.
pub fn sgd_steps<L: CheckLoss>(
    mlp: &mut Mlp<f64>,
    x: &Array2<f64>,
    loss: &L,
    lr: f64,
    steps: usize,
) {
    for _ in 0..steps {
        let (_, g, _) = loss_and_gradients(mlp, x, loss);
        for (p, g) in mlp.params_mut().iter_mut().zip(&g) {
            *p -= lr * g;
        }
    }
}

/// One shard of the sharded backward (T11) gives the plain backward's bits, on 11 rows of
/// `d` inputs and an upstream of `o` columns.
pub fn assert_one_shard_equals_the_plain_backward(mut a: Mlp<f64>, d: usize, o: usize) {
    let mut b = a.clone();
    let x = matrix(11, d, 4);
    let up = matrix(11, o, 5);
    let mut ws = a.workspace(11);
    let fwd = a.forward(x.view(), Mode::Inference, &mut ws);
    a.backward(fwd, Upstream::DZ(up.view()), GradWrite::Overwrite);
    let mut ws = b.workspace(11);
    let fwd = b.forward(x.view(), Mode::Inference, &mut ws);
    b.backward_sharded(fwd, Upstream::DZ(up.view()), ShardPlan::for_batch(11));
    assert_eq!(a.grads(), b.grads());
    assert!(a.grads().iter().any(|&g| g != 0.0));
}

/// The gradient check passed, and each named tensor was checked with a gradient that is not
/// all zero (an all-zero gradient passes trivially).
pub fn assert_passed_with_nonzero_gradients(report: &GradcheckReport, names: &[&str]) {
    assert!(report.passed(), "{report}");
    for name in names {
        let t = report.tensor(name).expect("tensor checked");
        assert!(
            t.analytic_norm > 0.0,
            "{}: an all-zero gradient passes trivially",
            t.name
        );
    }
}

/// The range of the tensor `name` in the network's flat parameters.
pub fn tensor_range(mlp: &Mlp<f64>, name: &str) -> std::ops::Range<usize> {
    mlp.tensors()
        .into_iter()
        .find(|t| t.name == name)
        .expect("tensor")
        .range()
}
