//! Losses: the value and its gradient with respect to the network's last activations, in
//! one pass over the batch (notes/losses.md, equations L0–L14).
//!
//! Shapes: outputs and targets are (N, O) — `N` rows in the batch, `O` outputs. Every loss
//! is a **mean over the batch**; what exactly is averaged is stated on each function:
//! - element-wise losses ([`mse`], [`bce_with_logits`], [`bce_keras`]) divide the weighted
//!   sum over all N·O elements by N·O (PyTorch's `reduction="mean"`, and Keras's
//!   `sum_over_batch_size` after its mean over the last axis);
//! - [`softmax_cross_entropy`] sums over the O classes of a row and divides by N.
//!
//! Weights never change the divisor: a row of weight `w_n` contributes `w_n·ℓ_n` and the
//! sum is still divided by N (or N·O), as Keras's `sample_weight` / `class_weight` and
//! PyTorch's `weight=` for BCE do (L3). PyTorch's `CrossEntropyLoss(weight=…)` is the
//! exception — it divides by `Σ w` — and is not what we compute.
//!
//! Each loss returns the value (summed in `f64` in row order, then divided) and, if a
//! gradient buffer is given, **adds** `∂L/∂(input)` into it: like every backward in glassbox
//! it accumulates, and zeroing the buffer is the caller's step. Nothing is allocated.
//!
//! # Which output/loss pairs give `delta = ŷ − y`
//! The gradient written is with respect to the tensor the loss receives:
//! - identity output + [`mse`]: `d_ŷ = 2·w·(ŷ − y)/(N·O)` — `ŷ − y` up to the constant of the
//!   ½ convention (L2);
//! - sigmoid output + BCE, fused as [`bce_with_logits`] on the logits `z`:
//!   `d_z = w·(σ(z) − y)/(N·O)` (L6) — the sigmoid's own derivative is already inside; the
//!   network's last layer must then be linear (no sigmoid applied before the loss);
//! - softmax output + categorical cross-entropy, fused as [`softmax_cross_entropy`] on the
//!   logits: `d_z = w·(softmax(z) − y)/N` (L13);
//! - sigmoid output + [`bce_keras`] is **not** fused: it returns `∂L/∂p` for probabilities
//!   `p`, and the network back-propagates `σ′ = p(1 − p)` itself. Inside the clip range the
//!   product is again `(p − y)/(N·O)`; outside it the gradient is exactly zero (L11).
//!
//! # Zero coefficients
//! A term whose coefficient is exactly zero contributes exactly zero, even when the other
//! factor is infinite (`0·∞ := 0`, the limit of the term that is absent): a label `y = 1`
//! removes the `(1 − y)·z` term of BCE at `z = +∞`, a zero sample weight removes its row.
//! Without this rule a confident correct prediction would give NaN (L0).
//!
//! # Example
//! The hand-worked example of notes/losses.md §2: `z = [0, ln 3]`, `y = [1, 0]`, N = 2, O = 1.
//! - row 1: `ℓ = 0 − 0 + ln(1 + e⁰) = ln 2`, `∂ℓ/∂z = σ(0) − 1 = −1/2`;
//! - row 2: `ℓ = ln 3 − 0 + ln(1 + 1/3) = ln 4`, `∂ℓ/∂z = σ(ln 3) − 0 = 3/4`;
//! - `L = (ln 2 + ln 4)/2 = 1.5·ln 2`, `d_z = [−1/2, 3/4]/2 = [−1/4, 3/8]`.
//! ```
//! use glassbox_train::{Weighting, bce_with_logits};
//! use ndarray::{Array2, array};
//! let z = array![[0.0], [3.0f64.ln()]];
//! let y = array![[1.0], [0.0]];
//! let mut d_z = Array2::zeros((2, 1)); // backward adds into it
//! let loss = bce_with_logits(z.view(), y.view(), &Weighting::NONE, None, Some(d_z.view_mut()));
//! assert!((loss - 1.5 * 2.0f64.ln()).abs() < 1e-15); // (ln 2 + ln 4)/2
//! assert!((d_z[[0, 0]] + 0.25).abs() < 1e-16 && (d_z[[1, 0]] - 0.375).abs() < 1e-16);
//! ```

use std::fmt;

use glassbox_core::{Float, SoftmaxRow, sigmoid};
use ndarray::{ArrayView2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

/// Keras's `backend.epsilon()`: the clip bound of [`bce_keras`] (and Keras's Adam/RMSprop ε).
pub const KERAS_EPSILON: f64 = 1e-7;

/// Errors in a loss configuration (checked once, before training).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossError {
    /// A weight that must be positive and finite is not.
    #[error("{what} must be positive and finite, got {value}")]
    InvalidWeight {
        /// Which weight (`"ClassWeights.negative"`, `"pos_weight"`, …).
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// `ClassWeights::balanced` needs both classes present.
    #[error(
        "balanced class weights need both classes present: {n_negative} negative, {n_positive} positive labels"
    )]
    MissingClass {
        /// Count of label 0.
        n_negative: usize,
        /// Count of label 1.
        n_positive: usize,
    },
    /// `pos_weight` is defined only for [`LossKind::BceWithLogits`].
    #[error("pos_weight is only defined for BceWithLogits, not {0:?}")]
    PosWeightUnsupported(LossKind),
    /// Focal settings out of range, or given to another loss.
    #[error("focal loss: {0}")]
    FocalSettings(String),
    /// The ranking term's λ (C43) out of range, or given to a loss without a value head.
    #[error("ranking term: {0}")]
    RankingSettings(String),
}

/// Per-class weights for a binary problem, with Keras's `class_weight` semantics (L3):
/// each row gets the weight of its class as a per-sample weight, and the mean is still
/// divided by N (verified against `model.fit(class_weight=…)` in
/// `crates/train/tests/losses_reference.rs`).
///
/// The class of a row is Keras's: for `O = 1` a target `y > 0.5` is positive (Keras rounds
/// half to even, so 0.5 is negative); for `O ≥ 2` it is the arg-max of the row (first on
/// ties), and must be 0 or 1; with [`Targets::Indices`] it is the index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassWeights {
    /// Weight of class 0.
    pub negative: f64,
    /// Weight of class 1.
    pub positive: f64,
}

impl ClassWeights {
    /// scikit-learn's `compute_class_weight("balanced")`: `w_c = n / (2·n_c)` (L4), so that
    /// both classes carry the same total weight `n/2`.
    ///
    /// # Errors
    /// [`LossError::MissingClass`] if either count is zero.
    pub fn balanced(n_negative: usize, n_positive: usize) -> Result<Self, LossError> {
        if n_negative == 0 || n_positive == 0 {
            return Err(LossError::MissingClass {
                n_negative,
                n_positive,
            });
        }
        let n = (n_negative + n_positive) as f64;
        Ok(Self {
            negative: n / (2.0 * n_negative as f64),
            positive: n / (2.0 * n_positive as f64),
        })
    }

    /// Checks that both weights are positive and finite.
    ///
    /// # Errors
    /// [`LossError::InvalidWeight`] naming the offending field.
    pub fn validate(&self) -> Result<(), LossError> {
        check_positive("ClassWeights.negative", self.negative)?;
        check_positive("ClassWeights.positive", self.positive)
    }

    /// The weight of class `class` (0 or 1).
    ///
    /// # Panics
    /// If `class > 1`: these weights are binary.
    pub fn of_class(&self, class: usize) -> f64 {
        match class {
            0 => self.negative,
            1 => self.positive,
            _ => panic!("ClassWeights are binary, but a row has class {class}"),
        }
    }
}

fn check_positive(what: &'static str, value: f64) -> Result<(), LossError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(LossError::InvalidWeight { what, value })
    }
}

/// How the rows of a batch are weighted (L3): `w_n = sample[n] · class_weight(class of n)`,
/// either factor defaulting to 1. Keras refuses `sample_weight` and `class_weight`
/// together; here they multiply.
#[derive(Debug, Clone, Copy)]
pub struct Weighting<'a, T> {
    /// Per-sample weights, (N,).
    pub sample: Option<&'a [T]>,
    /// Per-class weights, looked up from each row's target.
    pub class: Option<ClassWeights>,
}

impl<T: Float> Weighting<'_, T> {
    /// Every row weighs 1.
    pub const NONE: Self = Self {
        sample: None,
        class: None,
    };

    /// Panics if the sample weights do not have N entries.
    fn check(&self, n: usize, loss: &str) {
        if let Some(s) = self.sample {
            assert_eq!(
                s.len(),
                n,
                "{loss}: {} sample weights for a batch of N = {n} rows",
                s.len()
            );
        }
    }

    /// `w_n` for row `n`; `class` computes the row's class only when class weights are set.
    fn row(&self, n: usize, class: impl FnOnce() -> usize) -> T {
        let sample = self.sample.map_or(T::one(), |s| s[n]);
        match self.class {
            None => sample,
            Some(cw) => sample * T::from_f64(cw.of_class(class())),
        }
    }
}

/// Keras's class of a target row (see [`ClassWeights`]).
fn class_of_row<T: Float>(y: ndarray::ArrayView1<T>) -> usize {
    if y.len() == 1 {
        usize::from(y[0] > T::from_f64(0.5))
    } else {
        let mut best = 0;
        for (o, &v) in y.iter().enumerate() {
            if v > y[best] {
                best = o;
            }
        }
        best
    }
}

/// `k·x`, except that an exactly zero coefficient gives exactly zero even for infinite x
/// (L0).
#[inline]
fn times<T: Float>(k: T, x: T) -> T {
    if k == T::zero() { T::zero() } else { k * x }
}

fn check_pair<T>(a: &ArrayView2<T>, b: &ArrayView2<T>, loss: &str, names: (&str, &str)) {
    assert_eq!(
        a.dim(),
        b.dim(),
        "{loss}: {} is {:?} but {} is {:?}",
        names.0,
        a.dim(),
        names.1,
        b.dim()
    );
    assert!(a.nrows() > 0, "{loss}: empty batch (N = 0)");
}

fn check_grad<T>(d: &Option<ArrayViewMut2<T>>, dim: (usize, usize), loss: &str, name: &str) {
    if let Some(d) = d {
        assert_eq!(
            d.dim(),
            dim,
            "{loss}: {name} is {:?} but the outputs are {dim:?}",
            d.dim()
        );
    }
}

/// The driver of the element-wise losses (L3): `elem(a, y) = (ℓ, ∂ℓ/∂a)` for one element;
/// returns `(1/(N·O)) Σ_n w_n Σ_o ℓ_no` (summed in f64 in row-major order) and adds
/// `w_n·∂ℓ/∂a_no/(N·O)` into `d_a` if given. Weights go through the zero-coefficient rule (L0).
///
/// # Panics
/// If `a`, `y` and `d_a` differ in shape, N = 0, or the sample weights are not (N,).
fn elementwise<T: Float>(
    loss: &str,
    names: (&str, &str),
    a: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    mut d_a: Option<ArrayViewMut2<T>>,
    elem: impl Fn(T, T) -> (T, T),
) -> f64 {
    check_pair(&a, &y, loss, names);
    check_grad(&d_a, a.dim(), loss, names.0);
    let (n_rows, n_out) = a.dim();
    weighting.check(n_rows, loss);
    let count = (n_rows * n_out) as f64;
    let inv_count = T::from_f64(1.0 / count);
    let mut sum = 0.0f64;
    for n in 0..n_rows {
        let w = weighting.row(n, || class_of_row(y.row(n)));
        let scale = w * inv_count;
        for o in 0..n_out {
            let (l, dl) = elem(a[[n, o]], y[[n, o]]);
            sum += times(w, l).to_f64();
            if let Some(d) = d_a.as_mut() {
                d[[n, o]] += times(scale, dl);
            }
        }
    }
    sum / count
}

/// Mean squared error, PyTorch `MSELoss(reduction="mean")` (L1, L2):
///
/// `L = (1/(N·O)) Σ_n w_n Σ_o (ŷ_no − y_no)²`,  `∂L/∂ŷ_no = 2·w_n·(ŷ_no − y_no)/(N·O)`.
///
/// No ½ in front: the textbook (and the paper's) `E = ½ Σ (ŷ − y)²` has gradient `ŷ − y`;
/// ours is that times `2/(N·O)`, a constant the learning rate absorbs (notes/losses.md §1).
///
/// `y_hat`, `y` are (N, O); `d_y_hat`, if given, is (N, O) and is **added** to.
/// Returns L. An infinite `ŷ` gives `L = +∞` and an infinite gradient (unavoidable: the
/// squared error is unbounded); no NaN arises.
///
/// # Panics
/// If the shapes differ, N = 0, or the sample weights do not have N entries.
pub fn mse<T: Float>(
    y_hat: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    d_y_hat: Option<ArrayViewMut2<T>>,
) -> f64 {
    elementwise(
        "mse",
        ("y_hat", "y"),
        y_hat,
        y,
        weighting,
        d_y_hat,
        |y_hat, y| {
            let diff = y_hat - y;
            (diff * diff, (T::one() + T::one()) * diff) // L1, L2 (before the 1/(N·O) scale)
        },
    )
}

/// Binary cross-entropy fused with the sigmoid, from logits, in the stable form (L5–L8):
///
/// `ℓ = max(z, 0) − z·y + ln(1 + e^{−|z|})`,  `∂ℓ/∂z = σ(z) − y`,
///
/// `L = (1/(N·O)) Σ_n w_n Σ_o ℓ_no`,  `∂L/∂z_no = w_n·(σ(z_no) − y_no)/(N·O)`.
///
/// With `pos_weight = p` (PyTorch `BCEWithLogitsLoss(pos_weight=…)`, one value for every
/// output column), the positive term is weighted by `p` (L7, L8):
/// `ℓ = −[p·y·ln σ(z) + (1 − y)·ln(1 − σ(z))]`, `∂ℓ/∂z = (p·y + 1 − y)·σ(z) − p·y`.
///
/// The linear part `max(z,0) − z·y` is evaluated as `(1 − y)·z` for z ≥ 0 and `y·(−z)`
/// for z < 0 with the zero-coefficient rule (L0), so `z = ±∞` with the matching label gives
/// `ℓ = 0` and gradient 0. `ℓ = +∞` only for `z = +∞, y = 0` or `z = −∞, y = 1` (the true
/// label has probability exactly 0: unavoidable); the gradient is always finite.
///
/// `z`, `y` are (N, O); `d_z`, if given, is (N, O) and is **added** to. Returns L.
///
/// # Panics
/// If the shapes differ, N = 0, or the sample weights do not have N entries.
pub fn bce_with_logits<T: Float>(
    z: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    pos_weight: Option<T>,
    d_z: Option<ArrayViewMut2<T>>,
) -> f64 {
    elementwise(
        "bce_with_logits",
        ("z", "y"),
        z,
        y,
        weighting,
        d_z,
        |z, y| bce_logits_elem(z, y, pos_weight),
    )
}

/// One element of [`bce_with_logits`]: `(ℓ, ∂ℓ/∂z)` (L5–L8).
#[inline]
fn bce_logits_elem<T: Float>(z: T, y: T, pos_weight: Option<T>) -> (T, T) {
    let one = T::one();
    let softplus_tail = (-z.abs()).exp().ln_1p(); // ln(1 + e^{−|z|}) ∈ [0, ln 2]
    match pos_weight {
        None => {
            let linear = if z >= T::zero() {
                times(one - y, z)
            } else {
                times(y, -z)
            };
            (linear + softplus_tail, sigmoid(z) - y) // L5, L6
        }
        Some(p) => {
            let py = p * y;
            let c = py + (one - y); // weight of softplus(−z) = −ln σ(z)
            let linear = if z >= T::zero() {
                times(one - y, z)
            } else {
                times(py, -z)
            };
            (linear + c * softplus_tail, c * sigmoid(z) - py) // L7, L8
        }
    }
}

/// Binary cross-entropy on probabilities, as Keras computes it (L9–L11):
///
/// `p̃ = clip(p, ε, 1 − ε)` with ε = [`KERAS_EPSILON`] (`1 − ε` rounded to T, as TF casts
/// the Python float), `ℓ = −[y·ln p̃ + (1 − y)·ln(1 − p̃)]`,
///
/// `∂ℓ/∂p = (−y/p̃ + (1 − y)/(1 − p̃)) · 1[ε ≤ p ≤ 1 − ε]`,
///
/// `L = (1/(N·O)) Σ_n w_n Σ_o ℓ_no`, `∂L/∂p_no = w_n·∂ℓ/∂p_no/(N·O)`.
///
/// The gradient through the clip is TensorFlow's: `tf.clip_by_value` is
/// `maximum(minimum(p, 1 − ε), ε)`, whose gradient passes where `p ≤ 1 − ε` and
/// `p ≥ ε` (bounds included) and is **zero outside** — a saturated sigmoid stops learning.
///
/// **What `model.fit` actually computes.** With the TensorFlow backend (Keras 3.15), a
/// `binary_crossentropy` loss on the output of a Keras `sigmoid` is rewritten to
/// `sigmoid_cross_entropy_with_logits` on the sigmoid's input (`_get_logits` in
/// `keras/src/backend/tensorflow/nn.py`): no clip at all, i.e. [`bce_with_logits`]. This
/// function is what Keras computes on probabilities that are not a sigmoid's direct
/// output (a loss called on arrays, the JAX and PyTorch backends). Both are checked in
/// `crates/train/tests/losses_reference.rs`; notes/losses.md §3 has the experiment.
///
/// Every ℓ is finite, at most `−ln ε ≈ 16.1` (in f32 `−ln(1 − (1 − ε)_f32) ≈ 15.9`);
/// a NaN probability gives a NaN loss and zero gradient, as in TF.
///
/// `p`, `y` are (N, O); `d_p`, if given, is (N, O) and is **added** to. Returns L.
///
/// # Panics
/// If the shapes differ, N = 0, or the sample weights do not have N entries.
pub fn bce_keras<T: Float>(
    p: ArrayView2<T>,
    y: ArrayView2<T>,
    weighting: &Weighting<T>,
    d_p: Option<ArrayViewMut2<T>>,
) -> f64 {
    let lo = T::from_f64(KERAS_EPSILON);
    let hi = T::from_f64(1.0 - KERAS_EPSILON);
    let one = T::one();
    elementwise("bce_keras", ("p", "y"), p, y, weighting, d_p, |p, y| {
        // Explicit comparisons, not min/max: a NaN must stay NaN (TF's minimum does).
        let pc = if p < lo {
            lo
        } else if p > hi {
            hi
        } else {
            p
        };
        let l = -(y * pc.ln() + (one - y) * (one - pc).ln()); // L9
        let inside = p >= lo && p <= hi; // L11: where the clip passes the gradient
        let dl = if inside {
            -y / pc + (one - y) / (one - pc) // L10
        } else {
            T::zero()
        };
        (l, dl)
    })
}

/// Targets of [`softmax_cross_entropy`].
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a, T> {
    /// One class index per row, (N,), each `< O`.
    Indices(&'a [usize]),
    /// One-hot rows (N, O); soft labels are allowed (the gradient is exact for any row,
    /// L13).
    OneHot(ArrayView2<'a, T>),
}

/// Softmax fused with categorical cross-entropy, from logits (L12–L14):
///
/// `ℓ_n = Σ_o y_no·(lse(z_n) − z_no)` with `lse(z) = m + ln Σ_o e^{z_o − m}`, `m = max_o z_o`,
///
/// `∂ℓ_n/∂z_no = softmax(z_n)_o·Σ_k y_nk − y_no` (= `softmax − onehot` for one-hot rows),
///
/// `L = (1/N) Σ_n w_n ℓ_n` (sum over the O classes, mean over the N rows — PyTorch
/// `CrossEntropyLoss()`, Keras `CategoricalCrossentropy(from_logits=True)`).
///
/// Infinite logits: `z − m` is taken as 0 where `z = m` (also when `m = ±∞`), so a row
/// with k entries at `+∞` has softmax `1/k` on them; a row entirely at `−∞` is uniform.
/// `ℓ = +∞` only when a target class has probability exactly 0 (unavoidable); the gradient
/// is always finite.
///
/// `z` is (N, O); `d_z`, if given, is (N, O) and is **added** to. Returns L.
///
/// # Panics
/// If the shapes differ, N = 0, an index is `≥ O`, or the sample weights do not have N
/// entries.
pub fn softmax_cross_entropy<T: Float>(
    z: ArrayView2<T>,
    targets: Targets<T>,
    weighting: &Weighting<T>,
    mut d_z: Option<ArrayViewMut2<T>>,
) -> f64 {
    let (n_rows, n_out) = z.dim();
    assert!(n_rows > 0, "softmax_cross_entropy: empty batch (N = 0)");
    match &targets {
        Targets::Indices(t) => {
            assert_eq!(
                t.len(),
                n_rows,
                "softmax_cross_entropy: {} target indices for z of shape {:?}",
                t.len(),
                z.dim()
            );
            if let Some(&bad) = t.iter().find(|&&c| c >= n_out) {
                panic!("softmax_cross_entropy: target index {bad} but only O = {n_out} classes");
            }
        }
        Targets::OneHot(y) => check_pair(&z, y, "softmax_cross_entropy", ("z", "y")),
    }
    check_grad(&d_z, z.dim(), "softmax_cross_entropy", "d_z");
    weighting.check(n_rows, "softmax_cross_entropy");
    let inv_n = T::from_f64(1.0 / n_rows as f64);
    let mut sum = 0.0f64;
    for n in 0..n_rows {
        let zr = z.row(n);
        // m = max_o z_o, z ⊖ m and s = Σ_o e^{z_o ⊖ m} (L12, B12a): core's one softmax.
        let softmax = SoftmaxRow::of(zr);
        let shifted = |v: T| softmax.shifted(v);
        let log_s = softmax.ln_sum(); // lse(z) − m
        let (w, l, y_sum) = match &targets {
            Targets::Indices(t) => {
                let c = t[n];
                let w = weighting.row(n, || c);
                (w, log_s - shifted(zr[c]), T::one())
            }
            Targets::OneHot(y) => {
                let yr = y.row(n);
                let w = weighting.row(n, || class_of_row(yr));
                let mut l = T::zero();
                let mut y_sum = T::zero();
                for (&v, &t) in zr.iter().zip(yr.iter()) {
                    l += times(t, log_s - shifted(v));
                    y_sum += t;
                }
                (w, l, y_sum)
            }
        };
        sum += times(w, l).to_f64(); // L12, L14
        if let Some(d) = d_z.as_mut() {
            let scale = w * inv_n;
            for o in 0..n_out {
                let p = softmax.prob(zr[o]);
                let t = match &targets {
                    Targets::Indices(t) => {
                        if t[n] == o {
                            T::one()
                        } else {
                            T::zero()
                        }
                    }
                    Targets::OneHot(y) => y[[n, o]],
                };
                d[[n, o]] += scale * (p * y_sum - t); // L13
            }
        }
    }
    sum / n_rows as f64
}

/// What a loss expects to receive from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LossInput {
    /// Raw values of a linear last layer (MSE regression).
    Values,
    /// Pre-activation logits: the sigmoid/softmax is inside the loss.
    Logits,
    /// Probabilities: the network applies the sigmoid itself.
    Probabilities,
}

/// The loss of a run, as written into its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LossKind {
    /// [`mse`].
    Mse,
    /// [`bce_with_logits`].
    BceWithLogits,
    /// [`bce_keras`].
    BceKeras,
    /// [`softmax_cross_entropy`] with one-hot targets.
    SoftmaxCrossEntropy,
    /// [`mse_log1p`]: a value regression head (notes/value.md, C1).
    MseLog1p,
    /// [`huber_log1p`] (C3).
    HuberLog1p,
    /// [`ziln`], three outputs per target (C4–C6).
    Ziln,
    /// [`focal::focal_with_logits`] (L15–L17), its γ and α in [`LossConfig::focal`].
    Focal,
}

impl LossKind {
    /// What this loss expects from the network's last layer.
    pub fn input(self) -> LossInput {
        match self {
            LossKind::Mse | LossKind::MseLog1p | LossKind::HuberLog1p | LossKind::Ziln => {
                LossInput::Values
            }
            LossKind::BceWithLogits | LossKind::SoftmaxCrossEntropy | LossKind::Focal => {
                LossInput::Logits
            }
            LossKind::BceKeras => LossInput::Probabilities,
        }
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            LossKind::Mse => "mse",
            LossKind::BceWithLogits => "bce_with_logits",
            LossKind::BceKeras => "bce_keras",
            LossKind::SoftmaxCrossEntropy => "softmax_cross_entropy",
            LossKind::MseLog1p => "mse_log1p",
            LossKind::HuberLog1p => "huber_log1p",
            LossKind::Ziln => "ziln",
            LossKind::Focal => "focal",
        };
        f.write_str(name)
    }
}

/// A loss with its weighting options: the uniform entry point the trainer calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Which loss.
    pub kind: LossKind,
    /// Keras-style class weights (L3), or none.
    #[serde(default)]
    pub class_weights: Option<ClassWeights>,
    /// PyTorch-style `pos_weight` (L7), only for [`LossKind::BceWithLogits`].
    #[serde(default)]
    pub pos_weight: Option<f64>,
    /// γ and α of [`LossKind::Focal`] (L17); [`Focal::DEFAULT`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focal: Option<Focal>,
    /// λ of the pairwise ranking term beside a value loss (C41–C43); none: the value loss
    /// alone (the same bits as before the term existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<f64>,
    /// λ of the listwise term beside a value loss (V26, V27); none: not added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listwise: Option<f64>,
}

impl LossConfig {
    /// A loss without weights.
    pub fn new(kind: LossKind) -> Self {
        Self {
            kind,
            class_weights: None,
            pos_weight: None,
            focal: None,
            ranking: None,
            listwise: None,
        }
    }

    /// (T17) Whether each row's ∂L/∂output depends on that row's output alone (with its
    /// target and weight, and the batch's size and targets and weights): every value loss,
    /// weighted or not, of every member of an ensemble — not the pairwise (C41) or listwise
    /// (V26) ranking terms, which couple the rows' outputs. A term added to this struct that
    /// couples rows must be refused here: a distributed rank then forms its rows' ∂L/∂output
    /// before it knows the other ranks' outputs (notes/distributed.md §2).
    pub fn rows_separable(&self) -> bool {
        self.ranking.is_none() && self.listwise.is_none()
    }

    /// Checks the weights (positive, finite) and that `pos_weight` is only set for
    /// `BceWithLogits`.
    ///
    /// # Errors
    /// [`LossError::InvalidWeight`] or [`LossError::PosWeightUnsupported`].
    pub fn validate(&self) -> Result<(), LossError> {
        if let Some(cw) = &self.class_weights {
            cw.validate()?;
        }
        if let Some(p) = self.pos_weight {
            if self.kind != LossKind::BceWithLogits {
                return Err(LossError::PosWeightUnsupported(self.kind));
            }
            check_positive("pos_weight", p)?;
        }
        if let Some(f) = self.focal {
            if self.kind != LossKind::Focal {
                return Err(LossError::FocalSettings(format!(
                    "γ and α are settings of the focal loss, not of {}",
                    self.kind
                )));
            }
            f.validate()?;
        }
        for lambda in [self.ranking, self.listwise].into_iter().flatten() {
            if self.kind.value_head().is_none() {
                return Err(LossError::RankingSettings(format!(
                    "it ranks a value head's predictions; {} has none",
                    self.kind
                )));
            }
            if !(lambda.is_finite() && lambda >= 0.0) {
                return Err(LossError::RankingSettings(format!(
                    "λ must be finite and ≥ 0, got {lambda}"
                )));
            }
        }
        Ok(())
    }

    /// Computes the loss of `out` (N, O) against `y` (N, O; one-hot for softmax), adding
    /// its gradient into `d_out` if given, with this config's class weights and
    /// `pos_weight` and the optional per-sample weights (N,). Returns L.
    ///
    /// # Panics
    /// As the loss it dispatches to; also if `pos_weight` is set on a loss other than
    /// `BceWithLogits` (call [`LossConfig::validate`] once first).
    pub fn compute<T: Float>(
        &self,
        out: ArrayView2<T>,
        y: ArrayView2<T>,
        sample_weights: Option<&[T]>,
        mut d_out: Option<ArrayViewMut2<T>>,
    ) -> f64 {
        // C43: L = L_value + λ·R; the term first, so the value loss can take `d_out`.
        let ranked = match (self.ranking, self.kind.value_head()) {
            (Some(lambda), Some(head)) => {
                let d = d_out.as_mut().map(|d| d.view_mut());
                pairwise_ranking(head, lambda, out, y, d)
            }
            (Some(_), None) => panic!("the ranking term needs a value loss, not {}", self.kind),
            (None, _) => 0.0,
        };
        // V26: L = L_value + λ·Q, likewise.
        let listed = match (self.listwise, self.kind.value_head()) {
            (Some(lambda), Some(head)) => {
                let d = d_out.as_mut().map(|d| d.view_mut());
                listwise_ranking(head, lambda, out, y, d)
            }
            (Some(_), None) => panic!("the listwise term needs a value loss, not {}", self.kind),
            (None, _) => 0.0,
        };
        ranked + listed + self.compute_alone(out, y, sample_weights, d_out)
    }

    /// [`LossConfig::compute`] without the ranking term.
    fn compute_alone<T: Float>(
        &self,
        out: ArrayView2<T>,
        y: ArrayView2<T>,
        sample_weights: Option<&[T]>,
        d_out: Option<ArrayViewMut2<T>>,
    ) -> f64 {
        assert!(
            self.pos_weight.is_none() || self.kind == LossKind::BceWithLogits,
            "pos_weight is only defined for BceWithLogits, not {:?}",
            self.kind
        );
        let weighting = Weighting {
            sample: sample_weights,
            class: self.class_weights,
        };
        match self.kind {
            LossKind::Mse => mse(out, y, &weighting, d_out),
            LossKind::BceWithLogits => {
                let p = self.pos_weight.map(T::from_f64);
                bce_with_logits(out, y, &weighting, p, d_out)
            }
            LossKind::BceKeras => bce_keras(out, y, &weighting, d_out),
            LossKind::SoftmaxCrossEntropy => {
                softmax_cross_entropy(out, Targets::OneHot(y), &weighting, d_out)
            }
            LossKind::MseLog1p => mse_log1p(out, y, &weighting, d_out),
            LossKind::HuberLog1p => huber_log1p(out, y, &weighting, d_out),
            LossKind::Ziln => ziln(out, y, &weighting, d_out),
            LossKind::Focal => {
                let f = self.focal.unwrap_or(Focal::DEFAULT);
                focal::focal_with_logits(out, y, f, &weighting, d_out)
            }
        }
    }
}

mod value;
mod value_ranking;
pub use value::{
    DECILE_POWER_RANGE, HUBER_DELTA, ValueHead, ValuePrediction, ZILN_SIGMA_FLOOR, apply_power_map,
    blend, blend_weight, decile_power_map, huber_log1p, level_scale, mse_log1p, normal_quantile,
    ziln,
};
pub use value_ranking::{listwise_ranking, pairwise_ranking};

#[cfg(test)]
mod tests;

pub mod focal;
pub use focal::Focal;
