//! The losses against PyTorch and Keras (fixture: crates/train/tests/reference/train_fixtures.json, made
//! by crates/train/tests/reference/make_train_fixtures.py — its docstring gives versions and how to run).
//!
//! Tolerances, relative with a floor, `|ours − ref| ≤ tol·(1 + |ref|)`, for the value and
//! for every gradient element:
//! - f64: `1e-12`. Both sides compute in f64 from the same (exactly representable) inputs
//!   and differ only in operation order (PyTorch's pairwise sums, TF's fused kernels), a
//!   few ulps (~1e-16) per value. The gradients recovered from a Keras `fit` step
//!   (`z − (z − ∂L/∂z)`) carry one more rounding of `|z| ≤ 30`, ~7e-15 absolute. One
//!   documented exception: the loss *value* Keras's JAX backend reports (see
//!   [`tolerances`]).
//! - f32: `1e-6`. Each element costs a few f32 roundings (6e-8 each) on both sides, and
//!   our value is summed in f64 where PyTorch and TF sum in f32.
//!
//! Measured when this was written (`cargo test -p glassbox-train --test losses_reference -- --nocapture`
//! prints them): f64 ≤ 8e-17 for the direct losses and ≤ 1.6e-15 through `fit`; f32 ≤ 6e-8;
//! the JAX `fit` value 1.6e-9 (its gradient 2e-16).

use glassbox_core::Float;
use glassbox_train::{
    ClassWeights, Targets, Weighting, bce_keras, bce_with_logits, mse, softmax_cross_entropy,
};
use ndarray::Array2;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    losses: Vec<LossCase>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum TargetData {
    Indices(Vec<usize>),
    Rows(Vec<Vec<f64>>),
}

#[derive(Deserialize, Clone)]
struct LossCase {
    name: String,
    loss: String,
    dtype: String,
    reference: String,
    inputs: Vec<Vec<f64>>,
    targets: TargetData,
    sample_weights: Option<Vec<f64>>,
    class_weights: Option<ClassWeights>,
    pos_weight: Option<f64>,
    value: f64,
    grad: Vec<Vec<f64>>,
    #[serde(default)]
    label_counts: Option<(usize, usize)>,
    #[serde(default)]
    sklearn_balanced: Option<ClassWeights>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("reference/train_fixtures.json")).expect("fixture parses")
}

fn matrix<T: Float>(rows: &[Vec<f64>]) -> Array2<T> {
    let cols = rows[0].len();
    Array2::from_shape_fn((rows.len(), cols), |(i, j)| T::from_f64(rows[i][j]))
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Our value and gradient (as f64) for a fixture case, computed in T.
fn ours<T: Float>(c: &LossCase) -> (f64, Array2<f64>) {
    let x = matrix::<T>(&c.inputs);
    let sample: Option<Vec<T>> = c
        .sample_weights
        .as_ref()
        .map(|w| w.iter().map(|&v| T::from_f64(v)).collect());
    let w = Weighting {
        sample: sample.as_deref(),
        class: c.class_weights,
    };
    let mut d = Array2::<T>::zeros(x.dim());
    let rows = |t: &TargetData| match t {
        TargetData::Rows(r) => matrix::<T>(r),
        TargetData::Indices(_) => panic!("{}: index targets for an element-wise loss", c.name),
    };
    let value = match c.loss.as_str() {
        "mse" => mse(x.view(), rows(&c.targets).view(), &w, Some(d.view_mut())),
        "bce_with_logits" => {
            let pos = c.pos_weight.map(T::from_f64);
            bce_with_logits(
                x.view(),
                rows(&c.targets).view(),
                &w,
                pos,
                Some(d.view_mut()),
            )
        }
        "bce_keras" => bce_keras(x.view(), rows(&c.targets).view(), &w, Some(d.view_mut())),
        "bce_keras_through_sigmoid" => {
            // The network's side: p = σ(z), then d_z = d_p·p(1 − p).
            let p = x.mapv(|z| T::from_f64(sigmoid(z.to_f64())));
            let v = bce_keras(p.view(), rows(&c.targets).view(), &w, Some(d.view_mut()));
            d.zip_mut_with(&p, |g, &p| *g *= p * (T::one() - p));
            v
        }
        "softmax_cross_entropy" => match &c.targets {
            TargetData::Indices(idx) => {
                softmax_cross_entropy(x.view(), Targets::Indices(idx), &w, Some(d.view_mut()))
            }
            TargetData::Rows(r) => {
                let y = matrix::<T>(r);
                softmax_cross_entropy(x.view(), Targets::OneHot(y.view()), &w, Some(d.view_mut()))
            }
        },
        other => panic!("{}: unknown loss {other}", c.name),
    };
    (value, d.mapv(|v| v.to_f64()))
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / (1.0 + b.abs())
}

/// Largest `|a − b|/(1 + |b|)` over the gradient elements.
fn grad_error(c: &LossCase, grad: &Array2<f64>) -> f64 {
    let mut e = 0.0f64;
    for (i, row) in c.grad.iter().enumerate() {
        for (j, &g) in row.iter().enumerate() {
            e = e.max(rel(grad[[i, j]], g));
        }
    }
    e
}

/// Largest relative error over the value and the gradient.
fn worst(c: &LossCase, value: f64, grad: &Array2<f64>) -> f64 {
    rel(value, c.value).max(grad_error(c, grad))
}

/// `(value tolerance, gradient tolerance)`; see the module doc.
fn tolerances(c: &LossCase) -> (f64, f64) {
    match (c.dtype.as_str(), c.name.as_str()) {
        // Keras 3.15's JAX backend takes `ops.mean` in float32 even for float64 inputs
        // (`compute_dtype = result_type(x.dtype, "float32")` in keras/src/backend/jax/
        // numpy.py, which promotes to float32), so the reported loss carries f32 rounding
        // of each row (~6e-8 relative); its gradient is float64.
        ("f64", "keras_fit_sigmoid_bce_jax_f64") => (1e-7, 1e-12),
        ("f64", _) => (1e-12, 1e-12),
        ("f32", _) => (1e-6, 1e-6),
        (other, _) => panic!("unknown dtype {other}"),
    }
}

#[test]
fn every_loss_case_matches_its_reference() {
    let f = fixture();
    assert!(
        f.losses.len() >= 19,
        "fixture has {} loss cases",
        f.losses.len()
    );
    for c in &f.losses {
        let (value, grad) = match c.dtype.as_str() {
            "f64" => ours::<f64>(c),
            _ => ours::<f32>(c),
        };
        let (ev, eg) = (rel(value, c.value), grad_error(c, &grad));
        let (tv, tg) = tolerances(c);
        eprintln!(
            "measured {:<38} {} value {ev:.1e} (tol {tv:.0e})  grad {eg:.1e} (tol {tg:.0e})",
            c.name, c.dtype
        );
        assert!(
            ev <= tv && eg <= tg,
            "{} ({}): relative errors value {ev:e}, gradient {eg:e}\nours {value} vs {}\nours grad {grad:?}\nref grad {:?}",
            c.name,
            c.reference,
            c.value,
            c.grad
        );
    }
}

/// The `model.fit` experiment of notes/losses.md §3: with the TensorFlow backend Keras
/// trains a sigmoid output + "binary_crossentropy" on the logits (no clip), with the JAX
/// backend on clipped probabilities. Saturated rows (|z| ≥ 17) tell them apart.
#[test]
fn keras_fit_bce_depends_on_the_backend() {
    let f = fixture();
    let get = |n: &str| f.losses.iter().find(|c| c.name == n).expect(n);
    let tf = get("keras_fit_sigmoid_bce_tensorflow_f64");
    let jax = get("keras_fit_sigmoid_bce_jax_f64");
    assert_eq!(tf.inputs, jax.inputs);
    // Each matches its own formula (checked above) and not the other one.
    let as_keras = LossCase {
        loss: "bce_keras_through_sigmoid".into(),
        ..tf.clone()
    };
    let (v, g) = ours::<f64>(&as_keras);
    assert!(worst(tf, v, &g) > 0.1, "TF fit matched the clipped formula");
    let as_logits = LossCase {
        loss: "bce_with_logits".into(),
        ..jax.clone()
    };
    let (v, g) = ours::<f64>(&as_logits);
    assert!(
        worst(jax, v, &g) > 0.1,
        "JAX fit matched the logits formula"
    );
    // The saturated, wrongly labelled row z = 25, y = 0: the clip stops its gradient.
    let last = tf.grad.len() - 1;
    assert_eq!(jax.grad[last][0], 0.0);
    assert!((tf.grad[last][0] - sigmoid(25.0) / 8.0).abs() < 1e-12);
}

/// Keras `class_weight` = per-sample weights with the mean still over N (the value itself is
/// checked in the sweep above). Here: the fixture's weights do not sum to N, so dividing by
/// the summed weights (PyTorch's `CrossEntropyLoss(weight=…)` convention) would miss the
/// reported value by far more than the tolerance; and `ClassWeights::balanced` reproduces
/// scikit-learn's `compute_class_weight("balanced")` for the same labels.
#[test]
fn class_weights_follow_keras_and_sklearn() {
    let f = fixture();
    let c = f
        .losses
        .iter()
        .find(|c| c.name == "keras_fit_class_weight_f64")
        .unwrap();
    let (n_neg, n_pos) = c.label_counts.unwrap();
    let cw = c.class_weights.unwrap();
    let n = (n_neg + n_pos) as f64;
    let total_weight = n_neg as f64 * cw.negative + n_pos as f64 * cw.positive;
    let (value, _) = ours::<f64>(c);
    assert!((value - c.value).abs() < 1e-12);
    let divided_by_total = value * n / total_weight;
    assert!((divided_by_total - c.value).abs() > 0.1);

    let balanced = ClassWeights::balanced(n_neg, n_pos).unwrap();
    let sk = c.sklearn_balanced.unwrap();
    assert!((balanced.negative - sk.negative).abs() < 1e-15);
    assert!((balanced.positive - sk.positive).abs() < 1e-15);
}
