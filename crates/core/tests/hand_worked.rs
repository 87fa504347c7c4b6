//! The hand-worked 2-2-1 example of notes/backprop.md §9: every intermediate number written
//! out there is reproduced here by the engine (f64).
//!
//! Network: X (2, 2) → Dense(2, sigmoid) → Dense(1, sigmoid) → ŷ (2, 1); loss MSE,
//! L = (1/(N·O)) Σ (ŷ − y)² with N = 2, O = 1 (B17). The expected values were computed with
//! Python's `decimal` at 40 digits and printed to 13 significant digits (script and a
//! PyTorch autograd cross-check in the notes), so a relative tolerance of 1e-11 covers the
//! printing (≤ 5e-13) and f64 rounding (≈ 1e-15) with room to spare.

use glassbox_core::{Activation, GradWrite, LayerSpec, Mlp, MlpSpec, Mode, Upstream};
use ndarray::{Array2, ArrayView2, array};

fn assert_close(what: &str, actual: ArrayView2<f64>, expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (a, e) in actual.iter().zip(expected) {
        let rel = (a - e).abs() / e.abs();
        assert!(rel < 1e-11, "{what}: {a:e} vs {e:e} (rel {rel:e})");
    }
}

fn as_2d(v: &[f64]) -> Array2<f64> {
    Array2::from_shape_vec((1, v.len()), v.to_vec()).expect("row")
}

#[test]
fn every_number_of_the_hand_worked_example() {
    // Parameters: Θ₁ = [[0.15, 0.20], [0.25, 0.30]], b₁ = [0.35, 0.35],
    //             Θ₂ = [[0.40, 0.45]],               b₂ = [0.60].
    let spec = MlpSpec::new(
        2,
        vec![
            LayerSpec::new(2, Activation::Sigmoid),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    let params = vec![0.15, 0.20, 0.25, 0.30, 0.35, 0.35, 0.40, 0.45, 0.60];
    let mut mlp = Mlp::<f64>::from_params(spec, params).expect("valid");
    let x = array![[0.05, 0.10], [0.30, -0.20]];
    let y = array![[0.01], [0.99]];

    let mut ws = mlp.workspace(2);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    assert_close(
        "Z1",
        fwd.pre_activation(0),
        &[3.775e-1, 3.925e-1, 3.55e-1, 3.65e-1],
    );
    assert_close(
        "Y1",
        fwd.activation_output(0),
        &[
            5.932699921072e-1,
            5.968843782598e-1,
            5.878295384825e-1,
            5.902502519302e-1,
        ],
    );
    assert_close("Z2", fwd.logits(), &[1.105905967060e+0, 1.100744428762e+0]);
    assert_close(
        "y_hat",
        fwd.output(),
        &[7.513650695523e-1, 7.503995631350e-1],
    );

    // MSE (B17) and its gradient (B18), written out as in the notes.
    let y_hat = fwd.output().to_owned();
    let l = (&y_hat - &y).mapv(|e| e * e).sum() / 2.0;
    assert_close("L", as_2d(&[l]).view(), &[3.035152678491e-1]);
    let d_y_hat = (&y_hat - &y) * (2.0 / 2.0);
    assert_close(
        "dL/dy_hat",
        d_y_hat.view(),
        &[7.413650695523e-1, -2.396004368650e-1],
    );
    // ∂L/∂Z₂ by the sigmoid derivative from its output (B10): the engine's own step.
    let d_z2 = &d_y_hat * &y_hat * (1.0 - &y_hat);
    assert_close(
        "dL/dZ2",
        d_z2.view(),
        &[1.384985616286e-1, -4.487717590896e-2],
    );

    let d_x = mlp
        .backward(fwd, Upstream::DY(d_y_hat.view()), GradWrite::Accumulate)
        .input_gradient()
        .to_owned();
    assert_close(
        "dL/dTheta2",
        mlp.d_theta(1),
        &[5.578691096127e-2, 5.617886346136e-2],
    );
    assert_close(
        "dL/db2",
        as_2d(&mlp.d_bias(1).to_vec()).view(),
        &[9.362138571960e-2],
    );
    // ∂L/∂Y₁ = ∂L/∂Z₂·Θ₂ (B6) and ∂L/∂Z₁ = ∂L/∂Y₁ ⊙ Y₁(1 − Y₁) (B10), recomputed from the
    // engine's own intermediate values to check the two steps between the layers.
    let d_y1 = d_z2.dot(&mlp.theta(1));
    assert_close(
        "dL/dY1",
        d_y1.view(),
        &[
            5.539942465142e-2,
            6.232435273285e-2,
            -1.795087036358e-2,
            -2.019472915903e-2,
        ],
    );
    let y1 = mlp
        .forward(x.view(), Mode::Inference, &mut ws)
        .activation_output(0)
        .to_owned();
    let d_z1 = &d_y1 * &y1 * (1.0 - &y1);
    assert_close(
        "dL/dZ1",
        d_z1.view(),
        &[
            1.336792042289e-2,
            1.499607548890e-2,
            -4.349244077337e-3,
            -4.884194040262e-3,
        ],
    );
    assert_close(
        "dL/dTheta1",
        mlp.d_theta(0),
        &[
            -6.363772020568e-4,
            2.206640857756e-3,
            -7.154544376339e-4,
            2.476446356942e-3,
        ],
    );
    assert_close(
        "dL/db1",
        as_2d(&mlp.d_bias(0).to_vec()).view(),
        &[9.018676345550e-3, 1.011188144863e-2],
    );
    assert_close(
        "dL/dX",
        d_x.view(),
        &[
            5.754206935657e-3,
            7.172406731247e-3,
            -1.873435121666e-3,
            -2.335107027546e-3,
        ],
    );
}
