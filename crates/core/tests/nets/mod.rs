//! Helpers of the whole-network tests of tables, shared by `table_network.rs` and
//! `ensemble_network.rs` and `wide_network.rs`: inputs, one loss-and-gradient pass, SGD
//! steps, the one-shard check, the bits of every pass.
#![allow(dead_code)] // each binary uses its own subset

use glassbox_core::gradcheck::{
    CheckLoss, CheckMode, GradcheckConfig, GradcheckReport, LossInput, check_mlp, compare_mlp,
};
use glassbox_core::{
    Activation, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, ShardPlan, Upstream, clip_factor,
    seeded_rng, sigmoid,
};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use serde_json::Value;

use crate::fixtures_json::{close, floats};

/// The fixture's `shape` entry `key`.
pub fn dim(f: &Value, key: &str) -> usize {
    f["shape"][key].as_u64().expect("shape") as usize
}

/// Dense(`units`, ReLU) then Dense(1, sigmoid) on `d` inputs, the Dense part of the
/// whole-network tests' specs.
pub fn relu_sigmoid_spec(d: usize, units: usize) -> MlpSpec {
    MlpSpec::new(
        d,
        vec![
            LayerSpec::new(units, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
}

/// The bits of every pass of `mlp` (f32) on `n` rows in a pool of `threads` threads: the
/// output, the gradients and ∂L/∂X of a backward pass, with `clipped` the per-example norms
/// and gradient of a clipped one (C = 0.01), and the gradient of a sharded one — for the
/// 1/2/7-thread determinism tests.
pub fn pass_bits(threads: usize, mlp: &mut Mlp<f32>, n: usize, clipped: bool) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let x = matrix(n, mlp.spec().inputs, 2).mapv(|v| v as f32);
        let up = matrix(n, mlp.spec().output_width(), 3).mapv(|v| v as f32 / n as f32);
        let mut ws = mlp.workspace(n);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        let mut out: Vec<u32> = fwd.output().iter().map(|v| v.to_bits()).collect();
        let d_x = mlp
            .backward(fwd, Upstream::DZ(up.view()), GradWrite::Overwrite)
            .input_gradient()
            .to_owned();
        out.extend(mlp.grads().iter().chain(d_x.iter()).map(|v| v.to_bits()));
        if clipped {
            let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
            let norms = mlp.backward_clipped(fwd, Upstream::DZ(up.view()), 0.01);
            out.extend(norms.iter().map(|&v| (v as f32).to_bits()));
            out.extend(mlp.grads().iter().map(|v| v.to_bits()));
        }
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        mlp.backward_sharded(fwd, Upstream::DZ(up.view()), ShardPlan::for_batch(n));
        out.extend(mlp.grads().iter().map(|v| v.to_bits()));
        out
    })
}

/// `bits_at(t)` — every bit of a pass in a pool of t threads — is not all zero and the same
/// at 1, 2 and 7 threads.
pub fn assert_same_bits_at_1_2_and_7_threads(bits_at: impl Fn(usize) -> Vec<u32>) {
    let one = bits_at(1);
    assert!(one.iter().any(|&b| b != 0));
    assert_eq!(one, bits_at(2));
    assert_eq!(one, bits_at(7));
}

/// The fixture's loss, every parameter's gradient and ∂L/∂X of `mlp` at its `x` and `y`,
/// then its parameters after three SGD steps at its `lr` (the PyTorch float64 scripts'
/// common part).
pub fn assert_matches_fixture_gradients_and_steps(
    f: &Value,
    mlp: &mut Mlp<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
) {
    let (loss, grads, d_x) = loss_and_gradients(mlp, x, &MeanBceLogits(y.clone()));
    close("loss", &[loss], &[f["loss"].as_f64().unwrap()], 1e-13);
    close("grads", &grads, &floats(&f["grads"]), 1e-12);
    close("d_x", d_x.as_slice().unwrap(), &floats(&f["d_x"]), 1e-12);
    let lr = f["lr"].as_f64().unwrap();
    sgd_steps(mlp, x, &MeanBceLogits(y.clone()), lr, 3);
    close(
        "params after 3 SGD steps",
        mlp.params(),
        &floats(&f["params_after_3_sgd"]),
        1e-12,
    );
}

/// Per-example norms and clipping (P18–P21) of `mlp` at `x` (N rows) with targets `y`
/// (N, 1) and the per-example upstream `∂ℓᵢ/∂zᵢ = σ(zᵢ) − yᵢ`, against one backward pass per
/// row: the norms equal the explicit gradients' and the clipped gradient (C the median
/// norm: some examples clipped, some not) equals `Σᵢ min(1, C/‖gᵢ‖)·gᵢ`. Returns the
/// norms `backward_clipped` gave and the explicit per-example gradients, for a test's own
/// negative control.
pub fn assert_clipping_matches_per_example(
    mlp: &mut Mlp<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = x.nrows();
    let z = mlp.predict(x.view()).mapv(|p| (p / (1.0 - p)).ln());
    let up = (&z.mapv(sigmoid)) - y;
    let mut explicit = Vec::new();
    for i in 0..n {
        let mut net = mlp.clone();
        let xi = x.slice(s![i..i + 1, ..]).to_owned();
        let mut ws = net.workspace(1);
        let fwd = net.forward(xi.view(), Mode::Inference, &mut ws);
        let ui = up.slice(s![i..i + 1, ..]).to_owned();
        net.backward(fwd, Upstream::DZ(ui.view()), GradWrite::Overwrite);
        explicit.push(net.grads().to_vec());
    }
    let norms: Vec<f64> = explicit
        .iter()
        .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let mut sorted = norms.clone();
    sorted.sort_by(f64::total_cmp);
    let c = sorted[n / 2];
    let mut ws = mlp.workspace(n);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let got = mlp
        .backward_clipped(fwd, Upstream::DZ(up.view()), c)
        .to_vec();
    close("per-example norms", &got, &norms, 1e-12);
    let mut want = vec![0.0; mlp.num_params()];
    for (g, &norm) in explicit.iter().zip(&norms) {
        let factor = clip_factor(norm, c);
        for (w, v) in want.iter_mut().zip(g) {
            *w += factor * v;
        }
    }
    close("clipped gradient", mlp.grads(), &want, 1e-12);
    (got, explicit)
}

/// The fixture's logits (from the predicted probabilities, to 1e-9), then its loss, every
/// gradient, ∂L/∂X and three SGD steps ([`assert_matches_fixture_gradients_and_steps`]).
pub fn assert_matches_fixture(f: &Value, mlp: &mut Mlp<f64>, x: &Array2<f64>, y: &Array2<f64>) {
    let logits = mlp.predict(x.view()).mapv(|p| (p / (1.0 - p)).ln());
    close(
        "logit",
        logits.as_slice().expect("contiguous"),
        &floats(&f["logit"]),
        1e-9,
    );
    assert_matches_fixture_gradients_and_steps(f, mlp, x, y);
}

/// The 1/2/7-thread test and the one-shard test of a network of `spec` (f32 Glorot seed 5 on
/// N = 257 rows, clipped passes included; f64 He seed 9 on 5 rows), for the table networks.
pub fn assert_bits_and_one_shard(spec: &MlpSpec) {
    assert_same_bits_at_1_2_and_7_threads(|threads| {
        let mut mlp =
            Mlp::<f32>::new(spec.clone(), Init::GlorotUniform, &mut seeded_rng(5)).expect("spec");
        pass_bits(threads, &mut mlp, 257, true)
    });
    let a = Mlp::<f64>::new(spec.clone(), Init::HeUniform, &mut seeded_rng(9)).expect("spec");
    assert_one_shard_equals_the_plain_backward(a, spec.inputs, 1);
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

/// The fixture's network under the f64 gradient check with mean BCE on its logits: the
/// check has passed with every tensor of `names` non-zero, and the analytic gradients are
/// kept for negative controls ([`FixtureCheck::compare`]).
pub struct FixtureCheck {
    pub mlp: Mlp<f64>,
    pub x: Array2<f64>,
    pub loss: MeanBceLogits,
    pub grads: Vec<f64>,
    pub d_x: Array2<f64>,
    config: GradcheckConfig,
}

impl FixtureCheck {
    pub fn passed(f: &Value, spec: MlpSpec, names: &[&str]) -> Self {
        let (mlp, x, y) = fixture_net(f, spec);
        let loss = MeanBceLogits(y);
        let config = GradcheckConfig::default();
        let report = check_mlp(&mlp, x.view(), &loss, CheckMode::Inference, &config);
        assert_passed_with_nonzero_gradients(&report, names);
        let (_, grads, d_x) = loss_and_gradients(&mut mlp.clone(), &x, &loss);
        FixtureCheck {
            mlp,
            x,
            loss,
            grads,
            d_x,
            config,
        }
    }

    /// The check's verdicts on the given gradients instead of the engine's.
    pub fn compare(&self, params: &[f64], input: &Array2<f64>) -> GradcheckReport {
        compare_mlp(
            &self.mlp,
            self.x.view(),
            &self.loss,
            CheckMode::Inference,
            params,
            input.view(),
            &self.config,
        )
    }
}
