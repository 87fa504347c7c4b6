//! `glassbox_audit::trace` on a network that scales its features (`--feature-scale`;
//! notes/backprop.md §13, B31–B32; notes/tabular.md N1–N2): the 2-2-1 example of
//! notes/backprop.md §9 behind a scaling layer, every new number checked by hand from the
//! given ones, by f64 central differences of the loss (with negative controls: the gradient a
//! bias would get, and ∂L/∂X without the factor s, must fail), and bit for bit against the
//! engine's own training backward and optimizer.

use glassbox_audit::AuditError;
use glassbox_audit::trace::{Trace, example_2_2_1, new_optimizer, trace_step};
use glassbox_core::{GradWrite, InputLayerSpec, Mlp, Mode, Upstream, seeded_rng};
use glassbox_train::{LossConfig, LossKind, OptimizerConfig};
use ndarray::Array2;

/// s of the example: one feature doubled, the other halved and flipped.
const S: [f64; 2] = [2.0, -0.5];
/// W of the wide term when the example has one (as in trace.rs).
const W: [f64; 2] = [0.7, -0.3];

/// The 2-2-1 example behind a scaling layer with s = S; `wide` adds the wide term (B27).
fn scaled_example(wide: bool) -> (Mlp<f64>, Array2<f64>, Array2<f64>) {
    let (mlp, x, y) = example_2_2_1();
    let spec = mlp
        .spec()
        .clone()
        .with_input_layers(vec![InputLayerSpec::Scale])
        .with_wide(wide);
    let mut params = S.to_vec(); // s first (layer 0), then the Dense layers, then W
    params.extend(mlp.params());
    if wide {
        params.extend(W);
    }
    (Mlp::from_params(spec, params).unwrap(), x, y)
}

fn mse() -> LossConfig {
    LossConfig::new(LossKind::Mse)
}

fn trace_of(mlp: &Mlp<f64>, x: &Array2<f64>, y: &Array2<f64>, opt: OptimizerConfig) -> Trace {
    let opt = new_optimizer(opt, mlp.num_params()).unwrap();
    trace_step(mlp, x.view(), y.view(), &mse(), &opt).unwrap()
}

/// The loss the trace reports for `mlp` on (x, y).
fn loss_at(mlp: &Mlp<f64>, x: &Array2<f64>, y: &Array2<f64>) -> f64 {
    trace_of(mlp, x, y, OptimizerConfig::sgd(0.1))
        .quantity("loss")
        .unwrap()
        .values[0]
}

/// Central difference of `f` at 0 with h = 1e-6.
fn central(f: impl Fn(f64) -> f64) -> f64 {
    let h = 1e-6;
    (f(h) - f(-h)) / (2.0 * h)
}

#[test]
fn per_feature_scaling_is_traced_by_hand_and_by_differences() {
    for wide in [false, true] {
        let (mlp, x, y) = scaled_example(wide);
        let t = trace_of(&mlp, &x, &y, OptimizerConfig::sgd(0.1));
        let v = |id: &str| t.quantity(id).unwrap().values.clone();
        assert_eq!(v("s"), S);
        // B31 by hand: X̃ = X ⊙ s (the same product, so exactly), Z₁ = X̃·Θ₁ᵀ + b₁.
        let (xs, theta1, b1, z1) = (v("x_scaled"), v("theta1"), v("b1"), v("z1"));
        for n in 0..2 {
            for d in 0..2 {
                assert_eq!(xs[2 * n + d], x[[n, d]] * S[d], "x̃[{n},{d}]");
            }
            for h in 0..2 {
                let z = xs[2 * n] * theta1[2 * h] + xs[2 * n + 1] * theta1[2 * h + 1] + b1[h];
                assert!((z1[2 * n + h] - z).abs() < 1e-15, "z1[{n},{h}]");
            }
        }
        assert!(t.quantity("z1").unwrap().formula.starts_with("X̃·Θ₁ᵀ"));
        // B32 by hand: ∂L/∂X̃ = G₁·Θ₁, ∂L/∂s = 1ᵀ(∂L/∂X̃ ⊙ X), ∂L/∂X = ∂L/∂X̃ ⊙ s (+ G₂·W),
        // and Θ₁'s gradient reads X̃, not X.
        let (d_z1, d_xs, d_s, d_x) = (v("d_z1"), v("d_x_scaled"), v("d_s"), v("d_x"));
        let (d_theta1, d_z2) = (v("d_theta1"), v("d_z2"));
        for d in 0..2 {
            for n in 0..2 {
                let g = d_z1[2 * n] * theta1[d] + d_z1[2 * n + 1] * theta1[2 + d];
                assert!((d_xs[2 * n + d] - g).abs() < 1e-16, "∂L/∂x̃[{n},{d}]");
                let wide_part = if wide { d_z2[n] * W[d] } else { 0.0 };
                let want = d_xs[2 * n + d] * S[d] + wide_part;
                assert!((d_x[2 * n + d] - want).abs() < 1e-16, "∂L/∂x[{n},{d}]");
            }
            let want = d_xs[d] * x[[0, d]] + d_xs[2 + d] * x[[1, d]];
            assert!((d_s[d] - want).abs() < 1e-16, "∂L/∂s[{d}]");
            for h in 0..2 {
                let want = d_z1[h] * xs[d] + d_z1[2 + h] * xs[2 + d];
                assert!(
                    (d_theta1[2 * h + d] - want).abs() < 1e-16,
                    "∂L/∂Θ₁[{h},{d}]"
                );
            }
        }
        assert_eq!(t.quantity("d_s").unwrap().equation, "N2, B32");
        let d_x_eq = if wide { "N2, B32, B29" } else { "N2, B32" };
        assert_eq!(t.quantity("d_x").unwrap().equation, d_x_eq);

        // ∂L/∂s against central differences; negative control: the gradient s would get
        // if it were a bias (Σ_n ∂L/∂x̃_nd, no factor x) is told apart.
        for d in 0..2 {
            let numeric = central(|delta| {
                let mut m = mlp.clone();
                m.params_mut()[d] += delta;
                loss_at(&m, &x, &y)
            });
            assert!(
                (numeric - d_s[d]).abs() < 1e-9,
                "s[{d}]: {numeric} vs {}",
                d_s[d]
            );
            let as_bias = d_xs[d] + d_xs[2 + d];
            assert!((numeric - as_bias).abs() > 1e-4, "negative control s[{d}]");
        }
        // ∂L/∂X against central differences; negative control: ∂L/∂X̃ (the factor s
        // forgotten) is told apart.
        for i in 0..4 {
            let numeric = central(|delta| {
                let mut xp = x.clone();
                xp[[i / 2, i % 2]] += delta;
                loss_at(&mlp, &xp, &y)
            });
            assert!(
                (numeric - d_x[i]).abs() < 1e-9,
                "x[{i}]: {numeric} vs {}",
                d_x[i]
            );
            let no_s = d_xs[i] + if wide { d_z2[i / 2] * W[i % 2] } else { 0.0 };
            assert!((numeric - no_s).abs() > 1e-4, "negative control x[{i}]");
        }

        // SGD's update reaches s, labelled in both notations; Θ₁ is the code's layers.1.
        let theta_new = v("theta_new");
        assert_eq!(theta_new[..2], [S[0] - 0.1 * d_s[0], S[1] - 0.1 * d_s[1]]);
        let update = t.sections.last().unwrap();
        let (pretty, code) = (
            update.row_labels.as_ref().unwrap(),
            update.tensor_labels.as_ref().unwrap(),
        );
        assert_eq!(pretty[..3], ["s[1]", "s[2]", "Θ₁[1,1]"]);
        assert_eq!(
            code[..3],
            [
                "layers.0.scale[0]",
                "layers.0.scale[1]",
                "layers.1.weight[0,0]"
            ]
        );
        assert_eq!(pretty[10], "b₂[1]");
        assert_eq!(code[10], "layers.2.bias[0]");
        if wide {
            assert_eq!(pretty[11..], ["W[1,1]", "W[1,2]"]);
        }
        assert_eq!(pretty.len(), mlp.num_params());
    }
}

/// The engine's own training step on the same batch: forward, the loss's gradient, backward
/// with [`GradWrite::Overwrite`] (what the trainer writes), ∂L/∂X, then the optimizer.
fn engine_step(
    mlp: &Mlp<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
    config: OptimizerConfig,
) -> (Vec<f64>, Array2<f64>, Vec<f64>) {
    let mut net = mlp.clone();
    let mut ws = net.workspace(x.nrows());
    let fwd = net.forward(x.view(), Mode::Inference, &mut ws);
    let mut d_out = Array2::<f64>::zeros(fwd.output().dim());
    mse().compute(fwd.output(), y.view(), None, Some(d_out.view_mut()));
    let d_x = net
        .backward(fwd, Upstream::DY(d_out.view()), GradWrite::Overwrite)
        .input_gradient()
        .to_owned();
    let grads = net.grads().to_vec();
    let mut opt = new_optimizer(config, net.num_params()).unwrap();
    let (params, g) = net.params_and_grads_mut();
    opt.step(params, g);
    (grads, d_x, net.params().to_vec())
}

#[test]
fn the_traced_scale_gradient_is_the_training_steps_bit_for_bit() {
    let adam = OptimizerConfig::adam_torch(0.1);
    for wide in [false, true] {
        let (mlp, x, y) = scaled_example(wide);
        let t = trace_of(&mlp, &x, &y, adam);
        let (grads, d_x, after) = engine_step(&mlp, &x, &y, adam);
        let v = |id: &str| t.quantity(id).unwrap().values.clone();
        assert_eq!(v("d_s"), grads[..2], "∂L/∂s");
        assert_eq!(v("g"), grads, "every gradient");
        assert_eq!(v("d_x"), d_x.iter().copied().collect::<Vec<_>>(), "∂L/∂X");
        assert_eq!(v("theta_new"), after, "the Adam step");
    }
    // A trained-looking network: random Θ and s (D = 3, 3-4-2 with tanh), 5 rows.
    let (mlp, x, y) = random_scaled(3, 5);
    let t = trace_of(&mlp, &x, &y, adam);
    let (grads, d_x, after) = engine_step(&mlp, &x, &y, adam);
    assert_eq!(t.quantity("d_s").unwrap().values, grads[..3]);
    assert_eq!(
        t.quantity("d_x").unwrap().values,
        d_x.iter().copied().collect::<Vec<_>>()
    );
    assert_eq!(t.quantity("theta_new").unwrap().values, after);

    // Negative control: the same step with s[0] one ulp larger. ∂L/∂X = ∂L/∂X̃ ⊙ s (B32)
    // then differs in its first column, so a bit-for-bit comparison sees one ulp of s.
    let mut nudged = mlp.clone();
    let s0 = nudged.params()[0];
    nudged.params_mut()[0] = f64::from_bits(s0.to_bits() + 1);
    let (_, d_x_nudged, _) = engine_step(&nudged, &x, &y, adam);
    let traced = &t.quantity("d_x").unwrap().values;
    let nudged_d_x: Vec<f64> = d_x_nudged.iter().copied().collect();
    assert_ne!(traced, &nudged_d_x, "one ulp of s[0] must change ∂L/∂X");
    let differs = |c: usize| (0..5).any(|r| traced[r * 3 + c] != nudged_d_x[r * 3 + c]);
    assert!(differs(0), "the first column of ∂L/∂X carries s[0]");
}

/// A D-(4)-(2) tanh/identity network behind a scaling layer with s drawn away from 1.
fn random_scaled(d: usize, n: usize) -> (Mlp<f64>, Array2<f64>, Array2<f64>) {
    use glassbox_core::{Activation, Init, LayerSpec, MlpSpec};
    let spec = MlpSpec::new(
        d,
        vec![
            LayerSpec::new(4, Activation::Tanh),
            LayerSpec::new(2, Activation::Identity),
        ],
    )
    .with_input_layers(vec![InputLayerSpec::Scale]);
    let mut rng = seeded_rng(7);
    let mut mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut rng).unwrap();
    for (i, s) in mlp.params_mut()[..d].iter_mut().enumerate() {
        *s = 0.5 + 0.37 * i as f64;
    }
    let x = Array2::from_shape_fn((n, d), |(r, c)| ((r * d + c) as f64 * 0.77).sin());
    let y = Array2::from_shape_fn((n, 2), |(r, c)| ((r + 2 * c) as f64 * 0.31).cos());
    (mlp, x, y)
}

#[test]
fn plr_two_input_layers_and_batch_ensembles_are_refused_not_a_panic() {
    let (mlp, x, y) = example_2_2_1();
    let refused = |spec: glassbox_core::MlpSpec| {
        let net =
            Mlp::<f64>::new(spec, glassbox_core::Init::GlorotUniform, &mut seeded_rng(1)).unwrap();
        let opt = new_optimizer(OptimizerConfig::sgd(0.1), net.num_params()).unwrap();
        let e = trace_step(&net, x.view(), y.view(), &mse(), &opt).unwrap_err();
        assert!(matches!(e, AuditError::Model(_)), "{e}");
        e.to_string()
    };
    let plr: InputLayerSpec = "plr(k=2,h=2,sigma=0.1)".parse().unwrap();
    let e = refused(mlp.spec().clone().with_input_layers(vec![plr]));
    assert!(e.contains("[plr(") && e.contains("--embedding plr"), "{e}");
    let plr: InputLayerSpec = "plr(k=2,h=2,sigma=0.1)".parse().unwrap();
    let e = refused(
        mlp.spec()
            .clone()
            .with_input_layers(vec![InputLayerSpec::Scale, plr]),
    );
    assert!(e.contains("[scale, plr("), "{e}");
    let two = vec![InputLayerSpec::Scale, InputLayerSpec::Scale];
    let e = refused(mlp.spec().clone().with_input_layers(two));
    assert!(e.contains("more than one input layer"), "{e}");
    let e = refused(mlp.spec().clone().with_ensemble(3));
    assert!(
        e.contains("BatchEnsemble of 3 members (--ensemble-k"),
        "{e}"
    );
}
