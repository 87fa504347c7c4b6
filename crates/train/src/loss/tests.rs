//! Unit tests of `loss.rs` (a sibling file to keep the module under 1,000 lines).

use super::*;
use glassbox_core::gradcheck::{GradcheckConfig, check_tensor};
use ndarray::{Array2, array};

/// Compares an analytic gradient with glassbox-core's public central-difference check
/// (four-point stencil, relative error < 1e-7, all-zero guard: notes/backprop.md B24–B25).
/// The step is 1e-5 rather than the default 1e-3 so that the stencil (±2h) never
/// crosses the Keras clip bounds at 1e-7 from 0 and 1 for the probabilities tested.
fn gradient_check(
    f: &dyn Fn(&Array2<f64>) -> f64,
    x: &Array2<f64>,
    analytic: &Array2<f64>,
) -> Result<(), String> {
    let mut point: Vec<f64> = x.iter().copied().collect();
    let analytic: Vec<f64> = analytic.iter().copied().collect();
    let dim = x.dim();
    let config = GradcheckConfig {
        step: 1e-5,
        ..GradcheckConfig::default()
    };
    let report = check_tensor("loss input", &mut point, &analytic, &config, |p| {
        f(&Array2::from_shape_vec(dim, p.to_vec()).expect("same shape"))
    });
    if report.passed() {
        Ok(())
    } else {
        Err(format!("{report:?}"))
    }
}

/// Runs the check and a negative control: the same gradient with one entry off by 1%
/// must fail.
fn check_with_control(f: &dyn Fn(&Array2<f64>) -> f64, x: &Array2<f64>, g: &Array2<f64>) {
    gradient_check(f, x, g).unwrap();
    let mut wrong = g.clone();
    let (i, _) =
        g.iter().enumerate().fold(
            (0, 0.0f64),
            |b, (i, v)| if v.abs() > b.1 { (i, v.abs()) } else { b },
        );
    let flat = wrong.as_slice_mut().unwrap();
    flat[i] *= 1.01;
    assert!(
        gradient_check(f, x, &wrong).is_err(),
        "negative control: a gradient off by 1% passed"
    );
}

/// Gradient-checks a loss at `x` (with the negative control) and returns its gradient.
fn check_loss(
    loss: impl Fn(ArrayView2<'_, f64>, Option<ArrayViewMut2<'_, f64>>) -> f64,
    x: &Array2<f64>,
) -> Array2<f64> {
    let mut g = Array2::zeros(x.dim());
    loss(x.view(), Some(g.view_mut()));
    check_with_control(&|x| loss(x.view(), None), x, &g);
    g
}

fn labels() -> Array2<f64> {
    array![[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.3, 0.8]]
}

fn inputs() -> Array2<f64> {
    array![
        [0.5, -1.25],
        [2.0, 0.1],
        [-3.0, 0.7],
        [0.0, 4.0],
        [-0.4, 1.5]
    ]
}

const SAMPLE: [f64; 5] = [1.0, 0.5, 2.0, 1.5, 0.25];

#[test]
fn mse_gradient_matches_central_differences() {
    let y = labels();
    for sample in [None, Some(&SAMPLE[..])] {
        let w = Weighting {
            sample,
            class: None,
        };
        check_loss(|x, d| mse(x, y.view(), &w, d), &inputs());
    }
}

#[test]
fn bce_with_logits_gradient_matches_central_differences() {
    let y = labels();
    let sample = Weighting {
        sample: Some(&SAMPLE[..]),
        class: None,
    };
    for (w, pos) in [
        (Weighting::NONE, None),
        (sample, None),
        (Weighting::NONE, Some(3.0)),
        (sample, Some(0.5)),
    ] {
        check_loss(|x, d| bce_with_logits(x, y.view(), &w, pos, d), &inputs());
    }
}

#[test]
fn bce_keras_gradient_matches_central_differences_inside_and_outside_the_clip() {
    let y = labels();
    // Probabilities inside (0, 1), and two outside the clip range by more than the
    // step h = 1e-6, where the loss is flat: analytic and numerical gradients are both 0.
    let x = array![
        [0.2, 0.9],
        [0.6, -0.25],
        [0.05, 0.999],
        [1.25, 0.4],
        [0.7, 0.35]
    ];
    let w = Weighting {
        sample: Some(&SAMPLE[..]),
        class: None,
    };
    let g = check_loss(|x, d| bce_keras(x, y.view(), &w, d), &x);
    assert_eq!(g[[1, 1]], 0.0);
    assert_eq!(g[[3, 0]], 0.0);
    // Just outside the bounds (closer than h): still exactly zero; on them: passed.
    let eps = KERAS_EPSILON;
    let p = array![[1e-9, 1.0 - 1e-9, eps, 1.0 - eps]];
    let y = array![[1.0, 0.0, 1.0, 0.0]];
    let mut d = Array2::zeros((1, 4));
    bce_keras(p.view(), y.view(), &Weighting::NONE, Some(d.view_mut()));
    assert_eq!(&d.as_slice().unwrap()[..2], &[0.0, 0.0]);
    assert_eq!(d[[0, 2]], -1.0 / eps / 4.0);
    assert_eq!(d[[0, 3]], 1.0 / (1.0 - (1.0 - eps)) / 4.0);
}

#[test]
fn softmax_cross_entropy_gradient_matches_central_differences() {
    let z = array![
        [0.5, -1.25, 2.0],
        [0.1, -3.0, 0.7],
        [0.0, 4.0, -0.4],
        [1.5, 1.5, 0.2]
    ];
    let idx = [2usize, 0, 1, 1];
    // Soft rows, one not summing to 1: the general gradient p·Σy − y (L13).
    let soft = array![
        [0.0, 0.0, 1.0],
        [0.7, 0.2, 0.1],
        [0.0, 1.0, 0.0],
        [0.5, 0.25, 0.5]
    ];
    let sample = [0.5, 1.0, 2.0, 1.5];
    let w = Weighting {
        sample: Some(&sample[..]),
        class: None,
    };
    check_loss(
        |x, d| softmax_cross_entropy(x, Targets::Indices(&idx), &w, d),
        &z,
    );
    check_loss(
        |x, d| softmax_cross_entropy(x, Targets::OneHot(soft.view()), &w, d),
        &z,
    );
}

#[test]
fn class_weights_gradient_matches_central_differences() {
    // O = 1 binary labels; class weights looked up from y (> 0.5 is positive).
    let y = array![[0.0], [1.0], [1.0], [0.0], [1.0]];
    let x = array![[0.3], [-1.2], [2.5], [0.9], [-0.1]];
    let w = Weighting::<f64> {
        sample: None,
        class: Some(ClassWeights {
            negative: 0.6,
            positive: 3.0,
        }),
    };
    check_loss(|x, d| bce_with_logits(x, y.view(), &w, None, d), &x);
    check_loss(|x, d| mse(x, y.view(), &w, d), &x);
}

#[test]
fn gradient_accumulates_and_value_only_leaves_buffers_alone() {
    let z = inputs();
    let y = labels();
    let mut d = Array2::from_elem(z.dim(), 1.0);
    let l1 = bce_with_logits(
        z.view(),
        y.view(),
        &Weighting::NONE,
        None,
        Some(d.view_mut()),
    );
    let l2 = bce_with_logits(z.view(), y.view(), &Weighting::NONE, None, None);
    assert_eq!(l1, l2);
    let mut fresh = Array2::zeros(z.dim());
    bce_with_logits(
        z.view(),
        y.view(),
        &Weighting::NONE,
        None,
        Some(fresh.view_mut()),
    );
    for (a, b) in d.iter().zip(fresh.iter()) {
        assert_eq!(*a, 1.0 + b);
    }
}

#[test]
fn mse_literal_values() {
    // torch.nn.MSELoss()(torch.tensor([[1., 2.], [3., 5.]]), torch.tensor([[0., 2.], [5., 4.]]))
    // = (1 + 0 + 4 + 1)/4 = 1.5; grad = 2·[[1, 0], [−2, 1]]/4.
    let y_hat = array![[1.0f32, 2.0], [3.0, 5.0]];
    let y = array![[0.0f32, 2.0], [5.0, 4.0]];
    let mut d = Array2::zeros((2, 2));
    let l = mse(y_hat.view(), y.view(), &Weighting::NONE, Some(d.view_mut()));
    assert_eq!(l, 1.5);
    assert_eq!(d, array![[0.5f32, 0.0], [-1.0, 0.5]]);
}

#[test]
fn balanced_class_weights_follow_sklearn() {
    // sklearn: compute_class_weight("balanced", classes=[0, 1], y=[0]*6 + [1]*2)
    // = 8/(2·[6, 2]) = [0.6666…, 2.0]
    let cw = ClassWeights::balanced(6, 2).unwrap();
    assert_eq!(cw.negative, 8.0 / 12.0);
    assert_eq!(cw.positive, 2.0);
    assert_eq!(
        ClassWeights::balanced(0, 3),
        Err(LossError::MissingClass {
            n_negative: 0,
            n_positive: 3
        })
    );
}

fn extreme_logits() -> Vec<f64> {
    let mut zs = vec![];
    for m in [0.0, 10.0, 50.0, 1e3, f64::INFINITY] {
        zs.push(m);
        zs.push(-m);
    }
    zs
}

fn extremes<T: Float>() {
    let zs = extreme_logits();
    for &zf in &zs {
        for yf in [0.0, 1.0] {
            let z = Array2::from_elem((1, 1), T::from_f64(zf));
            let y = Array2::from_elem((1, 1), T::from_f64(yf));
            let wrong_infinite =
                (zf == f64::INFINITY && yf == 0.0) || (zf == f64::NEG_INFINITY && yf == 1.0);
            for pos in [None, Some(T::from_f64(2.5))] {
                let mut d = Array2::zeros((1, 1));
                let l = bce_with_logits(
                    z.view(),
                    y.view(),
                    &Weighting::NONE,
                    pos,
                    Some(d.view_mut()),
                );
                assert!(
                    !l.is_nan() && !d[[0, 0]].is_nan(),
                    "z={zf} y={yf}: {l} {}",
                    d[[0, 0]]
                );
                assert!(
                    d[[0, 0]].is_finite(),
                    "z={zf} y={yf}: gradient {}",
                    d[[0, 0]]
                );
                if wrong_infinite {
                    assert_eq!(l, f64::INFINITY, "z={zf} y={yf}");
                } else {
                    assert!(l.is_finite(), "z={zf} y={yf}: loss {l}");
                }
                if zf.is_infinite() && !wrong_infinite {
                    assert_eq!(l, 0.0);
                    assert_eq!(d[[0, 0]], T::zero());
                }
            }
            // The same logit through a sigmoid into the Keras loss: always finite.
            let p = z.mapv(sigmoid);
            let mut d = Array2::zeros((1, 1));
            let l = bce_keras(p.view(), y.view(), &Weighting::NONE, Some(d.view_mut()));
            assert!(l.is_finite() && l <= 16.2, "bce_keras z={zf} y={yf}: {l}");
            assert!(d[[0, 0]].is_finite(), "bce_keras z={zf} y={yf}");
            // MSE on the raw value: +∞ exactly when the output is infinite.
            let mut d = Array2::zeros((1, 1));
            let l = mse(z.view(), y.view(), &Weighting::NONE, Some(d.view_mut()));
            assert!(!l.is_nan() && !d[[0, 0]].is_nan());
            assert_eq!(l.is_infinite(), zf.is_infinite());
        }
    }
    // Softmax rows over the same values: two classes, both targets.
    for &a in &zs {
        for &b in &zs {
            for t in [0usize, 1] {
                let z = ndarray::arr2(&[[T::from_f64(a), T::from_f64(b)]]);
                let mut d = Array2::zeros((1, 2));
                let l = softmax_cross_entropy(
                    z.view(),
                    Targets::Indices(&[t]),
                    &Weighting::NONE,
                    Some(d.view_mut()),
                );
                let (zt, zo) = if t == 0 { (a, b) } else { (b, a) };
                assert!(!l.is_nan(), "softmax [{a}, {b}] t={t}: NaN loss");
                assert!(
                    d.iter().all(|v| v.is_finite()),
                    "softmax [{a}, {b}] t={t}: {d:?}"
                );
                // +∞ only when the target's probability is exactly 0.
                let p_zero = zo == f64::INFINITY && zt != f64::INFINITY
                    || zt == f64::NEG_INFINITY && zo != f64::NEG_INFINITY;
                if p_zero {
                    assert_eq!(l, f64::INFINITY, "softmax [{a}, {b}] t={t}");
                } else {
                    assert!(l.is_finite(), "softmax [{a}, {b}] t={t}: {l}");
                }
            }
        }
    }
}

#[test]
fn extreme_values_give_no_nan_f64() {
    extremes::<f64>();
}

#[test]
fn extreme_values_give_no_nan_f32() {
    extremes::<f32>();
}

#[test]
fn softmax_with_two_infinite_logits_splits_evenly() {
    let z = array![[f64::INFINITY, f64::INFINITY, 0.0]];
    let mut d = Array2::zeros((1, 3));
    let l = softmax_cross_entropy(
        z.view(),
        Targets::Indices(&[0]),
        &Weighting::NONE,
        Some(d.view_mut()),
    );
    assert_eq!(l, 2.0f64.ln());
    assert_eq!(d, array![[-0.5, 0.5, 0.0]]);
}

#[test]
fn loss_config_validates_and_dispatches() {
    let mut c = LossConfig::new(LossKind::Mse);
    c.pos_weight = Some(2.0);
    assert_eq!(
        c.validate(),
        Err(LossError::PosWeightUnsupported(LossKind::Mse))
    );
    let mut c = LossConfig::new(LossKind::BceWithLogits);
    c.pos_weight = Some(2.0);
    c.validate().unwrap();
    let z = inputs();
    let y = labels();
    let direct = bce_with_logits(z.view(), y.view(), &Weighting::NONE, Some(2.0), None);
    assert_eq!(c.compute(z.view(), y.view(), None, None), direct);
    c.class_weights = Some(ClassWeights {
        negative: -1.0,
        positive: 1.0,
    });
    assert!(matches!(c.validate(), Err(LossError::InvalidWeight { .. })));
    let json = serde_json::to_string(&LossConfig::new(LossKind::BceKeras)).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"BceKeras","class_weights":null,"pos_weight":null}"#
    );
    let back: LossConfig = serde_json::from_str(r#"{"kind":"SoftmaxCrossEntropy"}"#).unwrap();
    assert_eq!(back, LossConfig::new(LossKind::SoftmaxCrossEntropy));
}
