//! The paper's single-layer case (Sakar et al. 2019, as condensed in the project's issue):
//! `y = f(θx + b)` trained on m samples with MSE, and its update
//!
//! ```text
//! (B26)  Δθ = −(1/m) · Σ_i (y_i − ŷ_i) · f′(θx_i + b) · x_i
//! ```
//!
//! Reading used (notes/backprop.md §8): the paper's `y = f(θx + b)` is the network's output
//! and its `ŷ` is the target — the reverse of the convention in the rest of glassbox, where ŷ
//! is the prediction. With the loss `L = (1/2m) Σ_i (y_i − ŷ_i)²` (the ½ cancels the 2 of
//! the square), `∂L/∂θ = (1/m) Σ_i (y_i − ŷ_i) f′(z_i) x_i`, so Δθ is the descent direction
//! −∂L/∂θ, the learning rate left out. With the mean-MSE of the rest of glassbox,
//! `L = (1/m) Σ_i (y_i − ŷ_i)²` (B17), the engine's gradient is exactly twice as large.
//!
//! The closed form below is written with scalar loops, independently of the engine.

use glassbox_core::{Activation, Dense, DenseGrads, LayerSpec, Mlp, MlpSpec, Mode};
use ndarray::{Array1, Array2, array};

/// m = 6 samples of D = 3 features, and targets in [0, 1].
fn data() -> (Array2<f64>, Array1<f64>) {
    let x = array![
        [0.5, -1.2, 0.3],
        [1.5, 0.2, -0.7],
        [-0.4, 0.9, 1.1],
        [0.0, -0.3, 2.0],
        [2.2, 1.0, -1.5],
        [-1.0, -0.8, 0.6]
    ];
    (x, array![1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
}

const THETA: [f64; 3] = [0.4, -0.25, 0.6];
const B: f64 = 0.1;

/// f and f′ written out for the closed form.
fn f_and_df(act: Activation, z: f64) -> (f64, f64) {
    match act {
        Activation::Sigmoid => {
            let s = 1.0 / (1.0 + (-z).exp());
            (s, s * (1.0 - s))
        }
        Activation::Relu => (z.max(0.0), if z > 0.0 { 1.0 } else { 0.0 }),
        other => panic!("not used here: {other}"),
    }
}

/// The paper's Δθ and the matching Δb = −(1/m) Σ (y_i − ŷ_i) f′(z_i), by scalar loops.
fn paper_update(act: Activation) -> ([f64; 3], f64) {
    let (x, target) = data();
    let m = x.nrows() as f64;
    let mut d_theta = [0.0; 3];
    let mut d_b = 0.0;
    for i in 0..x.nrows() {
        let z: f64 = (0..3).map(|k| THETA[k] * x[[i, k]]).sum::<f64>() + B;
        let (y, df) = f_and_df(act, z); // the paper's y: the output
        let y_hat = target[i]; // the paper's ŷ: the target
        for k in 0..3 {
            d_theta[k] += -(1.0 / m) * (y - y_hat) * df * x[[i, k]];
        }
        d_b += -(1.0 / m) * (y - y_hat) * df;
    }
    (d_theta, d_b)
}

/// The engine's gradient for `L = scale · Σ_i (out_i − target_i)²`: ∂L/∂out = 2·scale·(out − t).
fn engine_gradient(act: Activation, scale: f64) -> ([f64; 3], f64) {
    let (x, target) = data();
    let layer = Dense::from_parts(array![THETA], array![B], act);
    let (out, cache) = layer.forward(x.view());
    let d_y = (&out - &target.insert_axis(ndarray::Axis(1))) * (2.0 * scale);
    let mut grads = DenseGrads::zeros_like(&layer);
    layer.backward(&cache, d_y.view(), &mut grads);
    let t = grads.d_theta.row(0);
    ([t[0], t[1], t[2]], grads.d_b[0])
}

fn assert_close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-14 * b.abs().max(1e-3), "{a:e} vs {b:e}");
}

#[test]
fn half_mse_gradient_is_minus_the_papers_update_for_sigmoid_and_relu() {
    for act in [Activation::Sigmoid, Activation::Relu] {
        let (delta_theta, delta_b) = paper_update(act);
        let m = 6.0;
        // The half MSE (B19): L½ = (1/2m) Σ (ŷ − y)², scale 1/(2m) on the squared errors.
        let (d_theta, d_b) = engine_gradient(act, 1.0 / (2.0 * m));
        for k in 0..3 {
            assert_close(d_theta[k], -delta_theta[k]);
        }
        assert_close(d_b, -delta_b);
        assert!(
            delta_theta.iter().all(|v| v.abs() > 1e-3),
            "{act}: non-trivial"
        );
    }
}

#[test]
fn mean_mse_gradient_is_twice_as_large() {
    for act in [Activation::Sigmoid, Activation::Relu] {
        let (delta_theta, delta_b) = paper_update(act);
        let (d_theta, d_b) = engine_gradient(act, 1.0 / 6.0);
        for k in 0..3 {
            assert_close(d_theta[k], -2.0 * delta_theta[k]);
        }
        assert_close(d_b, -2.0 * delta_b);
    }
}

/// ReLU's kink convention enters the paper's formula through f′(0): a sample with
/// θx + b = 0 contributes nothing (ReLU′(0) = 0, as PyTorch).
#[test]
fn relu_sample_exactly_at_the_kink_contributes_nothing() {
    // Dyadic values, so θ·x + b = 0.5·1 − 0.25·3 + 0.75·0 + 0.25 = 0 exactly.
    let x = array![[1.0, 3.0, 0.0]];
    let layer = Dense::from_parts(array![[0.5, -0.25, 0.75]], array![0.25], Activation::Relu);
    let (out, cache) = layer.forward(x.view());
    assert_eq!(cache.z()[[0, 0]], 0.0);
    let mut grads = DenseGrads::zeros_like(&layer);
    layer.backward(&cache, (&out - 1.0).view(), &mut grads);
    assert_eq!(grads.d_theta, Array2::<f64>::zeros((1, 3)));
}

/// Following Δθ lowers the loss: one small step along the paper's update, through the
/// single-layer MLP, decreases the half-MSE.
#[test]
fn a_step_along_the_papers_update_lowers_the_loss() {
    let (x, target) = data();
    let spec = MlpSpec::new(3, vec![LayerSpec::new(1, Activation::Sigmoid)]);
    let loss = |params: Vec<f64>| {
        let mlp = Mlp::from_params(spec.clone(), params).expect("valid");
        let mut ws = mlp.workspace(6);
        let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
        fwd.output()
            .iter()
            .zip(&target)
            .map(|(o, t)| (o - t) * (o - t))
            .sum::<f64>()
            / 12.0
    };
    let (delta_theta, delta_b) = paper_update(Activation::Sigmoid);
    let before = loss(vec![THETA[0], THETA[1], THETA[2], B]);
    let eta = 0.5;
    let after = loss(vec![
        THETA[0] + eta * delta_theta[0],
        THETA[1] + eta * delta_theta[1],
        THETA[2] + eta * delta_theta[2],
        B + eta * delta_b,
    ]);
    assert!(after < before, "{after} !< {before}");
}
