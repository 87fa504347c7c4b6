//! Unit tests of the MLP: layout, spec checks, forward and backward against a chain of
//! owning Dense layers, accumulation and overwriting, dropout, workspaces.

use super::*;
use crate::{Activation, Dense, DenseGrads, dropout_sample_mask, seeded_rng};
use ndarray::Array;

fn spec_3_layers(dropout: f64) -> MlpSpec {
    MlpSpec::new(
        5,
        vec![
            LayerSpec::new(4, Activation::Tanh).with_dropout(dropout),
            LayerSpec::new(3, Activation::LeakyRelu { alpha: 0.1 }),
            LayerSpec::new(2, Activation::Sigmoid),
        ],
    )
}

/// The 5-4-3-2 test network (tanh with `dropout`, leaky ReLU, sigmoid).
fn net(dropout: f64, init: Init, seed: u64) -> Mlp<f64> {
    Mlp::new(spec_3_layers(dropout), init, &mut seeded_rng(seed)).expect("valid spec")
}

fn batch(n: usize, d: usize) -> Array2<f64> {
    Array::from_shape_fn((n, d), |(i, j)| ((i * 5 + j * 3) % 7) as f64 / 3.0 - 1.0)
}

/// The network as a chain of owning `Dense` layers with the same parameters.
fn as_dense_layers(mlp: &Mlp<f64>) -> Vec<Dense<f64>> {
    (0..mlp.num_layers())
        .map(|l| {
            Dense::from_parts(
                mlp.theta(l).to_owned(),
                mlp.bias(l).to_owned(),
                mlp.spec().layers[l].activation,
            )
        })
        .collect()
}

#[test]
fn layout_offsets_and_names() {
    let mlp = Mlp::<f32>::new(spec_3_layers(0.0), Init::TorchDefault, &mut seeded_rng(1))
        .expect("valid spec");
    assert_eq!(mlp.num_params(), 4 * 6 + 3 * 5 + 2 * 4);
    let t = mlp.tensors();
    let summary: Vec<(&str, usize, &[usize])> = t
        .iter()
        .map(|t| (t.name.as_str(), t.offset, t.shape.as_slice()))
        .collect();
    assert_eq!(
        summary,
        [
            ("layers.0.weight", 0, &[4, 5][..]),
            ("layers.0.bias", 20, &[4][..]),
            ("layers.1.weight", 24, &[3, 4][..]),
            ("layers.1.bias", 36, &[3][..]),
            ("layers.2.weight", 39, &[2, 3][..]),
            ("layers.2.bias", 45, &[2][..]),
        ]
    );
    assert_eq!(t.last().map(|t| t.range().end), Some(mlp.num_params()));
    // theta(l) / bias(l) are views of those slices.
    for (l, pair) in t.chunks(2).enumerate() {
        let theta: Vec<f32> = mlp.theta(l).iter().copied().collect();
        assert_eq!(theta, &mlp.params()[pair[0].range()]);
        assert_eq!(mlp.bias(l).to_vec(), &mlp.params()[pair[1].range()]);
    }
}

#[test]
fn new_matches_dense_new_with_the_same_rng_stream() {
    let mut rng = seeded_rng(8);
    let mlp = Mlp::<f64>::new(spec_3_layers(0.0), Init::HeUniform, &mut rng).expect("valid");
    let mut rng = seeded_rng(8);
    for (l, spec) in mlp.spec().layers.iter().enumerate() {
        let inputs = if l == 0 {
            5
        } else {
            mlp.spec().layers[l - 1].units
        };
        let dense = Dense::<f64>::new(
            inputs,
            spec.units,
            spec.activation,
            Init::HeUniform,
            &mut rng,
        );
        assert_eq!(dense.theta(), mlp.theta(l));
        assert_eq!(dense.b(), mlp.bias(l));
    }
}

#[test]
fn spec_validation_errors() {
    let ok = spec_3_layers(0.2);
    assert_eq!(ok.validate(), Ok(()));
    let mut s = ok.clone();
    s.inputs = 0;
    assert_eq!(s.validate(), Err(MlpError::NoInputs));
    assert_eq!(MlpSpec::new(3, vec![]).validate(), Err(MlpError::NoLayers));
    let mut s = ok.clone();
    s.layers[1].units = 0;
    assert_eq!(s.validate(), Err(MlpError::NoUnits { layer: 1 }));
    let mut s = ok.clone();
    s.layers[0].dropout = 1.0;
    assert_eq!(s.validate(), Err(MlpError::Dropout { layer: 0, p: 1.0 }));
    let mut s = ok.clone();
    s.layers[2].dropout = 0.1;
    assert_eq!(
        s.validate(),
        Err(MlpError::DropoutOnOutput { layer: 2, p: 0.1 })
    );
    let mut s = ok.clone();
    s.layers[1].activation = Activation::LeakyRelu { alpha: f64::NAN };
    assert!(matches!(
        s.validate(),
        Err(MlpError::Activation { layer: 1, .. })
    ));
    let e = Mlp::<f64>::from_params(ok, vec![0.0; 3]).unwrap_err();
    assert_eq!(
        e,
        MlpError::ParamCount {
            expected: 47,
            got: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "parameter buffer holds 3 values but the spec needs 47"
    );
}

#[test]
fn forward_and_backward_equal_the_chain_of_dense_layers() {
    let mut mlp = net(0.0, Init::GlorotUniform, 2);
    let dense = as_dense_layers(&mlp);
    let x = batch(6, 5);
    let d_y = batch(6, 2);
    // Chain of Dense layers.
    let mut caches = Vec::new();
    let mut a = x.clone();
    for layer in &dense {
        let (y, cache) = layer.forward(a.view());
        caches.push(cache);
        a = y;
    }
    let mut grads: Vec<DenseGrads<f64>> = dense.iter().map(DenseGrads::zeros_like).collect();
    let mut d = d_y.clone();
    for l in (0..dense.len()).rev() {
        d = dense[l].backward(&caches[l], d.view(), &mut grads[l]);
    }
    // The MLP.
    let mut ws = mlp.workspace(6);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    assert_eq!(fwd.output(), a);
    assert_eq!(fwd.logits(), caches[2].z());
    let d_x = mlp
        .backward(fwd, Upstream::DY(d_y.view()), GradWrite::Accumulate)
        .input_gradient()
        .to_owned();
    assert_eq!(d_x, d);
    for (l, g) in grads.iter().enumerate() {
        assert_eq!(mlp.d_theta(l), g.d_theta);
        assert_eq!(mlp.d_bias(l), g.d_b);
    }
}

/// Inference forward on `x`, then backward from `upstream`; returns the accumulated
/// gradient buffer.
fn accumulate(mlp: &mut Mlp<f64>, x: &Array2<f64>, upstream: Upstream<'_, f64>) -> Vec<f64> {
    let mut ws = mlp.workspace(x.nrows());
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    mlp.backward(fwd, upstream, GradWrite::Accumulate);
    mlp.grads().to_vec()
}

#[test]
fn backward_accumulates_and_zero_grads_resets() {
    let mut mlp = net(0.0, Init::TorchDefault, 3);
    let (x, d_z) = (batch(4, 5), batch(4, 2));
    let once = accumulate(&mut mlp, &x, Upstream::DZ(d_z.view()));
    assert!(once.iter().all(|g| g.is_finite()) && once.iter().any(|&g| g != 0.0));
    let twice = accumulate(&mut mlp, &x, Upstream::DZ(d_z.view()));
    assert_eq!(twice, once.iter().map(|g| g + g).collect::<Vec<f64>>());
    mlp.zero_grads();
    assert!(mlp.grads().iter().all(|&g| g == 0.0));
}

#[test]
fn overwriting_equals_zeroing_then_accumulating() {
    let mut mlp = net(0.0, Init::GlorotUniform, 5);
    let (x, d_z) = (batch(6, 5), batch(6, 2));
    mlp.zero_grads();
    let want = accumulate(&mut mlp, &x, Upstream::DZ(d_z.view()));
    assert!(want.iter().any(|&g| g != 0.0));
    // Stale gradients everywhere: overwriting must not read them.
    mlp.grads_mut().fill(123.0);
    let mut ws = mlp.workspace(6);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    mlp.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Overwrite);
    assert_eq!(mlp.grads(), want.as_slice());
    // A second overwrite gives the same, not twice as much.
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    mlp.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Overwrite);
    assert_eq!(mlp.grads(), want.as_slice());
}

#[test]
fn d_y_and_d_z_upstreams_agree() {
    let mut mlp = net(0.0, Init::GlorotUniform, 4);
    let (x, d_y) = (batch(5, 5), batch(5, 2));
    // Sigmoid output: ∂L/∂Z = ∂L/∂Y ⊙ y(1 − y).
    let y = mlp.predict(x.view());
    let d_z = &d_y * &y * (1.0 - &y);
    let from_d_y = accumulate(&mut mlp, &x, Upstream::DY(d_y.view()));
    mlp.zero_grads();
    assert_eq!(accumulate(&mut mlp, &x, Upstream::DZ(d_z.view())), from_d_y);
}

#[test]
fn input_gradient_leaves_parameter_gradients_alone() {
    let mut mlp = net(0.0, Init::GlorotUniform, 5);
    let x = batch(3, 5);
    let d_z = batch(3, 2);
    let mut ws = mlp.workspace(3);
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let only = mlp.input_gradient(fwd, Upstream::DZ(d_z.view())).to_owned();
    assert!(mlp.grads().iter().all(|&g| g == 0.0));
    let fwd = mlp.forward(x.view(), Mode::Inference, &mut ws);
    let with = mlp
        .backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Accumulate)
        .input_gradient();
    assert_eq!(only, with);
    assert!(only.iter().any(|&g| g != 0.0));
}

#[test]
fn workspace_grows_once_and_predict_matches() {
    let mlp = net(0.0, Init::GlorotUniform, 6);
    let mut ws = mlp.workspace(2);
    let small = batch(2, 5);
    let big = batch(9, 5);
    let out_small = mlp
        .forward(small.view(), Mode::Inference, &mut ws)
        .output()
        .to_owned();
    let out_big = mlp
        .forward(big.view(), Mode::Inference, &mut ws)
        .output()
        .to_owned();
    assert_eq!(ws.capacity(), 9);
    assert_eq!(out_big, mlp.predict(big.view()));
    assert_eq!(out_small, mlp.predict(small.view()));
    // Row i of a batch does not depend on the other rows.
    assert_eq!(out_big.row(0), out_small.row(0));
}

#[test]
fn dropout_in_training_only_and_reproducible() {
    let mlp = net(0.5, Init::GlorotUniform, 7);
    let x = batch(16, 5);
    let mut ws = mlp.workspace(16);
    let infer = mlp
        .forward(x.view(), Mode::Inference, &mut ws)
        .output()
        .to_owned();
    assert_eq!(infer, mlp.predict(x.view()));
    let mut rng = seeded_rng(99);
    let train1 = mlp
        .forward(x.view(), Mode::Train(&mut rng), &mut ws)
        .output()
        .to_owned();
    let train2 = mlp
        .forward(x.view(), Mode::Train(&mut rng), &mut ws)
        .output()
        .to_owned();
    let again = mlp
        .forward(x.view(), Mode::Train(&mut seeded_rng(99)), &mut ws)
        .output()
        .to_owned();
    assert_ne!(train1, infer);
    assert_ne!(train1, train2, "a fresh mask each step");
    assert_eq!(train1, again, "same seed, same mask");
    // A network without dropout ignores the RNG in training mode.
    let plain = net(0.0, Init::GlorotUniform, 7);
    let mut rng = seeded_rng(1);
    let before = rng.clone();
    let mut ws = plain.workspace(16);
    let out = plain
        .forward(x.view(), Mode::Train(&mut rng), &mut ws)
        .output()
        .to_owned();
    assert_eq!(rng, before);
    assert_eq!(out, plain.predict(x.view()));
}

#[test]
fn dropout_backward_uses_the_forward_mask() {
    // One hidden unit layer with dropout, identity everywhere: the gradient of the
    // output layer's Θ is Σ_n d_z·A = Σ_n d_z·(Y ⊙ M).
    let spec = MlpSpec::new(
        2,
        vec![
            LayerSpec::new(3, Activation::Identity).with_dropout(0.5),
            LayerSpec::new(1, Activation::Identity),
        ],
    );
    let mut mlp = Mlp::<f64>::new(spec, Init::TorchDefault, &mut seeded_rng(10)).expect("valid");
    let x = batch(8, 2);
    let mut ws = mlp.workspace(8);
    let fwd = mlp.forward(x.view(), Mode::Train(&mut seeded_rng(3)), &mut ws);
    let y0 = fwd.activation_output(0).to_owned();
    let out = fwd.output().to_owned();
    let d_z = Array2::ones((8, 1));
    mlp.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Accumulate);
    let mut mask = Array2::<f64>::zeros((8, 3));
    dropout_sample_mask(0.5, &mut seeded_rng(3), mask.view_mut());
    let a = &y0 * &mask;
    let expect = a.sum_axis(ndarray::Axis(0));
    assert_eq!(mlp.d_theta(1).row(0), expect);
    let theta1 = mlp.theta(1).to_owned();
    assert_eq!(out, a.dot(&theta1.t()) + mlp.bias(1)[0]);
    assert!(mask.iter().any(|&m| m == 0.0));
}

#[test]
fn cast_round_trips_through_f32() {
    let mlp = net(0.0, Init::TorchDefault, 12);
    let m32: Mlp<f32> = mlp.cast();
    assert!(
        m32.params()
            .iter()
            .zip(mlp.params())
            .all(|(a, b)| *a == *b as f32)
    );
    let back: Mlp<f64> = m32.cast();
    let again: Mlp<f32> = back.cast();
    assert_eq!(again, m32);
    let rebuilt =
        Mlp::<f64>::from_params(mlp.spec().clone(), mlp.params().to_vec()).expect("valid");
    assert_eq!(rebuilt, mlp);
}

/// A training pass on a fresh thread leaves the GEMM kernel's per-thread buffers as the
/// workspace reserved them: the reservation covers every product, the copying ones
/// included (1030 inputs make the kernel copy B of `d_zᵀ·X` and `d_z·Θ`; 520 units make
/// it copy A of `d_zᵀ·X` in f64, whose far stride is 512 elements).
fn workspace_reserves_all_gemm_scratch<T: Float>() {
    if !kernel::available_for::<T>() {
        // matrixmultiply runs here and allocates per call: nothing to reserve.
        eprintln!(
            "workspace_reserves_all_gemm_scratch_{}: SKIPPED: no kernel ISA active",
            T::NAME
        );
        return;
    }
    let spec = MlpSpec::new(
        1030,
        vec![
            LayerSpec::new(520, Activation::Relu).with_dropout(0.5),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    let mut mlp = Mlp::<T>::new(spec, Init::GlorotUniform, &mut seeded_rng(3)).expect("valid");
    let x = Array2::from_shape_fn((20, 1030), |(i, j)| {
        T::from_f64(((i * 3 + j) % 7) as f64 / 7.0 - 0.5)
    });
    let d_z = Array2::from_elem((20, 1), T::from_f64(0.1));
    std::thread::spawn(move || {
        // Negative control: a fresh thread holds nothing until the workspace reserves.
        assert_eq!(kernel::reserved_scratch(), Scratch::default());
        let mut ws = mlp.workspace(20);
        let reserved = kernel::reserved_scratch();
        assert!(reserved.b_bytes > 0, "{reserved:?}");
        assert_eq!(reserved.a_bytes > 0, T::NAME == "f64", "{reserved:?}");
        let mut rng = seeded_rng(4);
        let fwd = mlp.forward(x.view(), Mode::Train(&mut rng), &mut ws);
        let d_x = mlp
            .backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Accumulate)
            .input_gradient();
        assert!(d_x.iter().any(|&g| g != T::zero()));
        assert!(mlp.grads().iter().any(|&g| g != T::zero()));
        assert_eq!(kernel::reserved_scratch(), reserved);
    })
    .join()
    .expect("test thread");
}

#[test]
fn workspace_reserves_all_gemm_scratch_f32() {
    workspace_reserves_all_gemm_scratch::<f32>();
}

#[test]
fn workspace_reserves_all_gemm_scratch_f64() {
    workspace_reserves_all_gemm_scratch::<f64>();
}

#[test]
#[should_panic(expected = "another architecture")]
fn workspace_of_another_network_panics() {
    let a = net(0.0, Init::TorchDefault, 1);
    let mut b_spec = spec_3_layers(0.0);
    b_spec.layers[1].units = 7;
    let b = Mlp::<f64>::new(b_spec, Init::TorchDefault, &mut seeded_rng(1)).expect("valid");
    let mut ws = b.workspace(2);
    let x = batch(2, 5);
    let _ = a.forward(x.view(), Mode::Inference, &mut ws);
}
