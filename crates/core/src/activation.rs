//! Activation functions: each value `f` and its derivative `f′` side by side
//! (notes/backprop.md §2, equations B7–B13).
//!
//! Shapes: `Z` and `Y = f(Z)` are (N, H); `d_y = ∂L/∂Y` and `d_z = ∂L/∂Z` are (N, H).
//! Element-wise activations act on each entry; softmax acts on each row.
//!
//! Numerical conventions (notes/backprop.md §10):
//! - ReLU′(0) = 0 and LeakyReLU′(0) = α, as PyTorch (the derivative of the branch `z ≤ 0`);
//! - sigmoid is evaluated in the branch-on-sign form (B10a), so `e^{|z|}` never overflows;
//! - softmax subtracts the row maximum (B12a); rows holding `+∞` share their mass equally
//!   among the `+∞` entries, and a row of only `−∞` gives the uniform distribution (the limit
//!   of equal logits). NaN inputs give NaN outputs: there are no hidden clamps. [`SoftmaxRow`]
//!   is the one implementation: the loss and the trainer's scores use it too.
//!
//! ```
//! use glassbox_core::Activation;
//! use ndarray::{array, Array2};
//!
//! let z = array![[-1.0_f64, 0.0, 2.0]];
//! let mut y = Array2::zeros((1, 3));
//! Activation::Sigmoid.forward(z.view(), y.view_mut());
//! assert!((y[[0, 0]] - 0.268_941_421_369_995_1).abs() < 1e-15);
//! assert_eq!(y[[0, 1]], 0.5);
//!
//! // ∂L/∂Z from ∂L/∂Y = 1: the derivative y(1 − y), computed from the output.
//! let mut d = Array2::ones((1, 3));
//! Activation::Sigmoid.backward_in_place(z.view(), y.view(), d.view_mut());
//! assert_eq!(d[[0, 1]], 0.25);
//! ```

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};

use crate::Float;

/// Element count (N·H) from which the row passes run on rayon. Each thread owns whole rows
/// and computes every element with the same code, so the result does not depend on the
/// thread count; below this size the pass stays on the calling thread.
pub const PAR_MIN_ELEMS: usize = 1 << 15;

/// The activation `f` of a layer, applied to its pre-activation `Z` (N, H).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `y = z` (B7).
    Identity,
    /// `y = max(z, 0)`, with ReLU′(0) = 0 (B8).
    Relu,
    /// `y = z` for `z > 0`, else `α·z`, with LeakyReLU′(0) = α (B9). `α` must be finite and
    /// positive ([`Activation::validate`]); PyTorch's default is 0.01.
    LeakyRelu {
        /// The slope `α` for `z ≤ 0`.
        alpha: f64,
    },
    /// `y = 1 / (1 + e^{−z})`, derivative `y(1 − y)` from the output (B10).
    Sigmoid,
    /// `y = tanh z`, derivative `1 − y²` from the output (B11).
    Tanh,
    /// Row-wise `y_i = e^{z_i} / Σ_j e^{z_j}` (B12); backward is the Jacobian-vector
    /// product `d_z = y ⊙ (d_y − ⟨d_y, y⟩)` per row (B13).
    Softmax,
}

/// Error from parsing an [`Activation`] name or validating its parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivationError {
    /// The text that was parsed, or the activation that was validated.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad activation {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for ActivationError {}

impl Activation {
    /// PyTorch's default slope of `nn.LeakyReLU` (`negative_slope=0.01`), used when
    /// `"leaky_relu"` is parsed without a slope.
    pub const LEAKY_RELU_DEFAULT_ALPHA: f64 = 0.01;

    /// One of each variant (leaky ReLU with the default slope), for `--help` texts and
    /// for tests that sweep every activation.
    pub const VARIANTS: [Activation; 6] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu {
            alpha: Self::LEAKY_RELU_DEFAULT_ALPHA,
        },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
    ];

    /// Every accepted name, for error messages and `--help` texts.
    pub const NAMES: [&'static str; 6] = [
        "identity",
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "softmax",
    ];

    /// The variant's name without parameters: `"identity"`, `"relu"`, `"leaky_relu"`,
    /// `"sigmoid"`, `"tanh"` or `"softmax"`. [`Display`](fmt::Display) adds the slope of
    /// leaky ReLU, `"leaky_relu(0.01)"`, and [`FromStr`] parses both forms back.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
        }
    }

    /// Whether the backward pass reads the output `Y` (sigmoid, tanh, softmax) rather than
    /// the pre-activation `Z` (ReLU, leaky ReLU). Identity reads neither; it reports `true`
    /// (its derivative 1 is trivially "from the output").
    pub fn derivative_from_output(&self) -> bool {
        match self {
            Activation::Identity => IdentityFn::DF_FROM_OUTPUT,
            Activation::Relu => ReluFn::DF_FROM_OUTPUT,
            Activation::LeakyRelu { alpha } => LeakyReluFn { alpha: *alpha }.df_from_output(),
            Activation::Sigmoid => SigmoidFn::DF_FROM_OUTPUT,
            Activation::Tanh => TanhFn::DF_FROM_OUTPUT,
            Activation::Softmax => true,
        }
    }

    /// Whether `f` has a kink (a point where `f′` jumps) at `z = 0`: ReLU and leaky ReLU.
    /// A finite difference that straddles a kink does not measure the derivative; the
    /// gradient check uses this to detect and skip such steps.
    pub fn has_kink_at_zero(&self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu { .. })
    }

    /// Checks the parameter of the variant: leaky ReLU's `α` must be finite and positive
    /// (α = 0 is [`Activation::Relu`]; with α = 0, `α·(−∞)` would be NaN).
    pub fn validate(&self) -> Result<(), ActivationError> {
        if let Activation::LeakyRelu { alpha } = *self
            && !(alpha.is_finite() && alpha > 0.0)
        {
            return Err(ActivationError {
                input: self.to_string(),
                reason: format!("the slope α must be finite and > 0, got {alpha}"),
            });
        }
        Ok(())
    }

    /// Forward `Y = f(Z)` over a batch (B7–B12). Rows run in parallel when
    /// N·H ≥ [`PAR_MIN_ELEMS`].
    ///
    /// Shapes: `z` (N, H) → `y` (N, H), written (not accumulated).
    ///
    /// # Panics
    /// If `z` and `y` differ in shape.
    pub fn forward<T: Float>(&self, z: ArrayView2<T>, mut y: ArrayViewMut2<T>) {
        assert_eq!(
            z.dim(),
            y.dim(),
            "{}: forward Z is {:?} but Y is {:?}",
            self.name(),
            z.dim(),
            y.dim()
        );
        let act = *self;
        let zip = Zip::from(z.rows()).and(y.rows_mut());
        if z.len() >= PAR_MIN_ELEMS {
            zip.par_for_each(|z, y| act.forward_row(z, y));
        } else {
            zip.for_each(|z, y| act.forward_row(z, y));
        }
    }

    /// Forward on one row: `y = f(z)`, both of length H.
    ///
    /// # Panics
    /// If `z` and `y` differ in length.
    pub fn forward_row<T: Float>(&self, z: ArrayView1<T>, y: ArrayViewMut1<T>) {
        match *self {
            Activation::Identity => map_forward(IdentityFn, z, y),
            Activation::Relu => map_forward(ReluFn, z, y),
            Activation::LeakyRelu { alpha } => map_forward(LeakyReluFn { alpha }, z, y),
            Activation::Sigmoid => map_forward(SigmoidFn, z, y),
            Activation::Tanh => map_forward(TanhFn, z, y),
            Activation::Softmax => softmax_forward_row(z, y),
        }
    }

    /// Backward in place (B3 with B7–B13): on entry `d` holds `∂L/∂Y`, on exit `∂L/∂Z`.
    ///
    /// `d_z` is an intermediate, not a parameter gradient, so it is overwritten rather than
    /// accumulated. `z` is read by ReLU and leaky ReLU, `y` by sigmoid, tanh and softmax
    /// ([`Activation::derivative_from_output`]); both must be this batch's forward values.
    /// Rows run in parallel when N·H ≥ [`PAR_MIN_ELEMS`].
    ///
    /// Shapes: `z`, `y`, `d` all (N, H).
    ///
    /// # Panics
    /// If the three shapes differ.
    pub fn backward_in_place<T: Float>(
        &self,
        z: ArrayView2<T>,
        y: ArrayView2<T>,
        mut d: ArrayViewMut2<T>,
    ) {
        assert!(
            z.dim() == y.dim() && y.dim() == d.dim(),
            "{}: backward Z is {:?}, Y is {:?}, dL/dY is {:?}; they must agree",
            self.name(),
            z.dim(),
            y.dim(),
            d.dim()
        );
        let act = *self;
        let zip = Zip::from(z.rows()).and(y.rows()).and(d.rows_mut());
        if z.len() >= PAR_MIN_ELEMS {
            zip.par_for_each(|z, y, d| act.backward_row_in_place(z, y, d));
        } else {
            zip.for_each(|z, y, d| act.backward_row_in_place(z, y, d));
        }
    }

    /// Backward into a separate buffer: `d_z ← ∂L/∂Z` from `d_y = ∂L/∂Y` (B3). Copies `d_y`
    /// into `d_z`, then runs [`Activation::backward_in_place`].
    ///
    /// # Panics
    /// If the four shapes differ.
    pub fn backward<T: Float>(
        &self,
        z: ArrayView2<T>,
        y: ArrayView2<T>,
        d_y: ArrayView2<T>,
        mut d_z: ArrayViewMut2<T>,
    ) {
        assert_eq!(
            d_y.dim(),
            d_z.dim(),
            "{}: dL/dY is {:?} but dL/dZ is {:?}",
            self.name(),
            d_y.dim(),
            d_z.dim()
        );
        d_z.assign(&d_y);
        self.backward_in_place(z, y, d_z);
    }

    /// Backward on one row, in place: `d` holds `∂L/∂y` on entry and `∂L/∂z` on exit.
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn backward_row_in_place<T: Float>(
        &self,
        z: ArrayView1<T>,
        y: ArrayView1<T>,
        d: ArrayViewMut1<T>,
    ) {
        match *self {
            Activation::Identity => map_backward(IdentityFn, z, y, d),
            Activation::Relu => map_backward(ReluFn, z, y, d),
            Activation::LeakyRelu { alpha } => map_backward(LeakyReluFn { alpha }, z, y, d),
            Activation::Sigmoid => map_backward(SigmoidFn, z, y, d),
            Activation::Tanh => map_backward(TanhFn, z, y, d),
            Activation::Softmax => softmax_backward_row_in_place(y, d),
        }
    }
}

impl fmt::Display for Activation {
    /// The canonical text: the [`name`](Activation::name), plus the slope for leaky ReLU,
    /// e.g. `leaky_relu(0.01)`. Floats print in Rust's shortest round-trip form, so
    /// parsing the text gives back the same `α` bit for bit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::LeakyRelu { alpha } => write!(f, "leaky_relu({alpha})"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Activation {
    type Err = ActivationError;

    /// Parses `identity`, `relu`, `leaky_relu` (slope 0.01), `leaky_relu(<α>)`, `sigmoid`,
    /// `tanh`, `softmax` (surrounding whitespace ignored) and validates the slope.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let err = |reason: String| ActivationError {
            input: s.to_string(),
            reason,
        };
        let act = match text {
            "identity" => Activation::Identity,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu {
                alpha: Self::LEAKY_RELU_DEFAULT_ALPHA,
            },
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            _ => {
                let inner = text
                    .strip_prefix("leaky_relu(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .ok_or_else(|| {
                        err(format!(
                            "unknown name; expected one of {} or leaky_relu(<slope>)",
                            Self::NAMES.join(", ")
                        ))
                    })?;
                let alpha = inner
                    .trim()
                    .parse::<f64>()
                    .map_err(|e| err(format!("slope {inner:?} is not a number: {e}")))?;
                Activation::LeakyRelu { alpha }
            }
        };
        act.validate().map_err(|e| err(e.reason))?;
        Ok(act)
    }
}

/// An element-wise activation: value `f(z)` and local derivative `f′` side by side.
///
/// `df(z, y)` returns `∂y/∂z` at this element given both the input and the output; each
/// implementation reads only one of them, named by `DF_FROM_OUTPUT`.
trait Pointwise: Copy {
    /// `true` when `df` reads `y`, `false` when it reads `z`.
    const DF_FROM_OUTPUT: bool;
    fn f<T: Float>(self, z: T) -> T;
    fn df<T: Float>(self, z: T, y: T) -> T;
}

/// (B7) Identity: `f(z) = z`, `f′(z) = 1`.
#[derive(Clone, Copy)]
struct IdentityFn;

impl Pointwise for IdentityFn {
    const DF_FROM_OUTPUT: bool = true;
    fn f<T: Float>(self, z: T) -> T {
        z
    }
    fn df<T: Float>(self, _z: T, _y: T) -> T {
        T::one()
    }
}

/// (B8) ReLU: `f(z) = z` for `z > 0`, else 0; `f′(z) = 1` for `z > 0`, else 0 — so
/// ReLU′(0) = 0, as PyTorch. NaN propagates (`NaN < 0` is false).
#[derive(Clone, Copy)]
struct ReluFn;

impl Pointwise for ReluFn {
    const DF_FROM_OUTPUT: bool = false;
    fn f<T: Float>(self, z: T) -> T {
        if z < T::zero() { T::zero() } else { z }
    }
    fn df<T: Float>(self, z: T, _y: T) -> T {
        if z > T::zero() { T::one() } else { T::zero() }
    }
}

/// (B9) Leaky ReLU: `f(z) = z` for `z > 0`, else `α·z`; `f′(z) = 1` for `z > 0`, else `α`.
#[derive(Clone, Copy)]
struct LeakyReluFn {
    alpha: f64,
}

impl LeakyReluFn {
    fn df_from_output(self) -> bool {
        Self::DF_FROM_OUTPUT
    }
}

impl Pointwise for LeakyReluFn {
    const DF_FROM_OUTPUT: bool = false;
    fn f<T: Float>(self, z: T) -> T {
        if z > T::zero() {
            z
        } else {
            T::from_f64(self.alpha) * z
        }
    }
    fn df<T: Float>(self, z: T, _y: T) -> T {
        if z > T::zero() {
            T::one()
        } else {
            T::from_f64(self.alpha)
        }
    }
}

/// (B10) Sigmoid: `f(z) = 1 / (1 + e^{−z})`, `f′ = y(1 − y)` from the output.
#[derive(Clone, Copy)]
struct SigmoidFn;

impl Pointwise for SigmoidFn {
    const DF_FROM_OUTPUT: bool = true;
    fn f<T: Float>(self, z: T) -> T {
        sigmoid(z)
    }
    fn df<T: Float>(self, _z: T, y: T) -> T {
        y * (T::one() - y)
    }
}

/// (B11) Tanh: `f(z) = tanh z`, `f′ = 1 − y²` from the output.
#[derive(Clone, Copy)]
struct TanhFn;

impl Pointwise for TanhFn {
    const DF_FROM_OUTPUT: bool = true;
    fn f<T: Float>(self, z: T) -> T {
        z.tanh()
    }
    fn df<T: Float>(self, _z: T, y: T) -> T {
        T::one() - y * y
    }
}

/// The logistic sigmoid `σ(z) = 1 / (1 + e^{−z})` in the stable form (B10a): for `z ≥ 0`
/// it evaluates `1 / (1 + e^{−z})`, for `z < 0` the equal `e^{z} / (1 + e^{z})`, so the
/// exponential's argument is never positive and cannot overflow. `σ(±∞) = 1, 0`;
/// `σ(NaN) = NaN`.
pub fn sigmoid<T: Float>(z: T) -> T {
    if z >= T::zero() {
        T::one() / (T::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (T::one() + e)
    }
}

/// `y_i = f(z_i)` over one row.
fn map_forward<P: Pointwise, T: Float>(p: P, z: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
    Zip::from(&mut y).and(&z).for_each(|y, &z| *y = p.f(z));
}

/// `d_i ← d_i · f′(z_i)` over one row (B3): chain rule with the local derivative.
fn map_backward<P: Pointwise, T: Float>(
    p: P,
    z: ArrayView1<T>,
    y: ArrayView1<T>,
    mut d: ArrayViewMut1<T>,
) {
    Zip::from(&mut d)
        .and(&z)
        .and(&y)
        .for_each(|d, &z, &y| *d *= p.df(z, y));
}

/// The pieces of a stable softmax over one row `z` (B12a), the one implementation that the
/// softmax activation, the cross-entropy loss and the trainer's class scores all use:
///
/// - the shift `m = max_j z_j` (a NaN never wins the comparison);
/// - `z ⊖ m`, which is `z − m` except where `z = m`, where it is 0 — so a row whose maximum
///   is `+∞` gives `e⁰ = 1` to each of its `+∞` entries (not `e^{∞ − ∞}` = NaN) and 0 to the
///   others, and a row entirely at `−∞` gives 1 to every entry (uniform: the limit of equal
///   logits);
/// - `s = Σ_j e^{z_j ⊖ m}`, summed in increasing j: every exponent is ≤ 0 and `s ≥ 1`.
///
/// Then `softmax(z)_i = e^{z_i ⊖ m} / s` ([`SoftmaxRow::prob`], a correctly rounded quotient)
/// and `ln softmax(z)_i = (z_i ⊖ m) − ln s` ([`SoftmaxRow::ln_sum`]). A NaN anywhere makes
/// `s`, and so every probability of the row, NaN: there is no hidden clamp.
///
/// ```
/// use glassbox_core::activation::SoftmaxRow;
/// use ndarray::array;
///
/// let z = array![1.0_f64, f64::INFINITY, 3.0, f64::INFINITY];
/// let row = SoftmaxRow::of(z.view());
/// assert_eq!(row.prob(f64::INFINITY), 0.5);
/// assert_eq!(row.prob(3.0), 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxRow<T> {
    /// `m = max_j z_j`.
    max: T,
    /// `s = Σ_j e^{z_j ⊖ m}`.
    sum: T,
}

impl<T: Float> SoftmaxRow<T> {
    /// The shift and the sum of row `z` (B12a).
    pub fn of(z: ArrayView1<T>) -> Self {
        let max = z
            .iter()
            .fold(T::neg_infinity(), |m, &v| if v > m { v } else { m });
        let mut row = SoftmaxRow {
            max,
            sum: T::zero(),
        };
        for &v in z.iter() {
            row.sum += row.shifted(v).exp();
        }
        row
    }

    /// `z ⊖ m`: `z − m`, or 0 where `z = m` (also when `m = ±∞`).
    pub fn shifted(&self, z: T) -> T {
        if z == self.max {
            T::zero()
        } else {
            z - self.max
        }
    }

    /// `softmax(z)_i = e^{z_i ⊖ m} / s` for the entry `z_i` of this row (B12a).
    pub fn prob(&self, z_i: T) -> T {
        self.shifted(z_i).exp() / self.sum
    }

    /// `ln s = lse(z) − m`, so that `ln softmax(z)_i = (z_i ⊖ m) − ln s`.
    pub fn ln_sum(&self) -> T {
        self.sum.ln()
    }
}

/// (B12) Softmax of one row in the shifted form (B12a), [`SoftmaxRow::prob`] of each entry:
/// `y_i = e^{z_i − m} / Σ_j e^{z_j − m}` with `m = max_j z_j`.
///
/// Infinite inputs (where `z − m` would be `∞ − ∞`): if `m = +∞` the `+∞` entries share the
/// mass equally and the others get 0; if every entry is `−∞` the row is uniform (the limit
/// of equal logits). A NaN anywhere makes the row NaN.
///
/// # Panics
/// If `z` and `y` differ in length.
pub fn softmax_forward_row<T: Float>(z: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
    assert_eq!(
        z.len(),
        y.len(),
        "softmax: Z row and Y row differ in length"
    );
    let row = SoftmaxRow::of(z.view());
    Zip::from(&mut y).and(&z).for_each(|y, &z| *y = row.prob(z));
}

/// (B13) Softmax backward of one row as a Jacobian-vector product, in place:
/// `d ← y ⊙ (d − ⟨d, y⟩)`. The dot product runs left to right. On entry `d` is `∂L/∂y`,
/// on exit `∂L/∂z`. The Jacobian `diag(y) − y·yᵀ` is never formed.
///
/// # Panics
/// If `y` and `d` differ in length.
pub fn softmax_backward_row_in_place<T: Float>(y: ArrayView1<T>, mut d: ArrayViewMut1<T>) {
    assert_eq!(
        y.len(),
        d.len(),
        "softmax: Y row and dL/dY row differ in length"
    );
    let mut dot = T::zero();
    for (&d, &y) in d.iter().zip(y.iter()) {
        dot += d * y;
    }
    Zip::from(&mut d)
        .and(&y)
        .for_each(|d, &y| *d = y * (*d - dot));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, array};

    fn fwd(act: Activation, z: &Array2<f64>) -> Array2<f64> {
        let mut y = Array2::zeros(z.dim());
        act.forward(z.view(), y.view_mut());
        y
    }

    fn assert_close(actual: &Array2<f64>, expected: &[f64], tol: f64) {
        assert_eq!(actual.len(), expected.len());
        for (a, b) in actual.iter().zip(expected) {
            assert!((a - b).abs() < tol, "{a} vs {b}");
        }
    }

    fn bwd(act: Activation, z: &Array2<f64>, d_y: &Array2<f64>) -> Array2<f64> {
        let y = fwd(act, z);
        let mut d_z = Array2::zeros(z.dim());
        act.backward(z.view(), y.view(), d_y.view(), d_z.view_mut());
        d_z
    }

    // Expected values from PyTorch 2.x (f64):
    //   z = torch.tensor([[-2., -0.5, 0., 0.5, 3.]], dtype=torch.float64, requires_grad=True)
    //   torch.sigmoid(z), torch.tanh(z), F.leaky_relu(z, 0.1), F.softmax(z, dim=1)
    //   y.backward(torch.ones_like(y)) for the derivatives (softmax: dy = [1, 2, 3, 4, 5]).
    #[test]
    fn sigmoid_literal_values_and_derivative() {
        let z = array![[-2.0, -0.5, 0.0, 0.5, 3.0]];
        let y = fwd(Activation::Sigmoid, &z);
        let expect = [
            0.11920292202211755,
            0.3775406687981454,
            0.5,
            0.6224593312018546,
            0.9525741268224334,
        ];
        assert_close(&y, &expect, 1e-16);
        let d = bwd(Activation::Sigmoid, &z, &Array2::ones((1, 5)));
        let expect_d = [
            0.1049935854035065,
            0.2350037122015945,
            0.25,
            0.2350037122015945,
            0.045176659730912,
        ];
        assert_close(&d, &expect_d, 1e-16);
    }

    #[test]
    fn tanh_literal_values_and_derivative() {
        let z = array![[-2.0, -0.5, 0.0, 0.5, 3.0]];
        let y = fwd(Activation::Tanh, &z);
        let expect = [
            -0.9640275800758169,
            -0.46211715726000974,
            0.0,
            0.46211715726000974,
            0.9950547536867305,
        ];
        assert_close(&y, &expect, 1e-15);
        let d = bwd(Activation::Tanh, &z, &Array2::ones((1, 5)));
        let expect_d = [
            0.07065082485316443,
            0.7864477329659274,
            1.0,
            0.7864477329659274,
            0.009866037165440166,
        ];
        assert_close(&d, &expect_d, 1e-15);
    }

    #[test]
    fn relu_and_leaky_relu_literal_values_and_kink_convention() {
        let z = array![[-2.0, -0.5, 0.0, 0.5, 3.0]];
        assert_eq!(fwd(Activation::Relu, &z), array![[0.0, 0.0, 0.0, 0.5, 3.0]]);
        let ones = Array2::ones((1, 5));
        // ReLU′(0) = 0, as PyTorch.
        assert_eq!(
            bwd(Activation::Relu, &z, &ones),
            array![[0.0, 0.0, 0.0, 1.0, 1.0]]
        );
        let leaky = Activation::LeakyRelu { alpha: 0.1 };
        assert_eq!(fwd(leaky, &z), array![[-0.2, -0.05, 0.0, 0.5, 3.0]]);
        // LeakyReLU′(0) = α, as PyTorch.
        assert_eq!(bwd(leaky, &z, &ones), array![[0.1, 0.1, 0.1, 1.0, 1.0]]);
        assert_eq!(fwd(Activation::Identity, &z), z);
        assert_eq!(bwd(Activation::Identity, &z, &(&ones * 3.0)), &ones * 3.0);
    }

    #[test]
    fn softmax_literal_values_and_jvp() {
        let z = array![[-2.0, -0.5, 0.0, 0.5, 3.0]];
        let y = fwd(Activation::Softmax, &z);
        let expect = [
            0.0057648052313820555,
            0.025836064598112655,
            0.04259646925409089,
            0.07022970491594369,
            0.8555729560004709,
        ];
        assert_close(&y, &expect, 1e-15);
        let d_y = array![[1.0, 2.0, 3.0, 4.0, 5.0]];
        let d = bwd(Activation::Softmax, &z, &d_y);
        let expect_d = [
            -0.021583488099157947,
            -0.07089441811565521,
            -0.07428866586709834,
            -0.052251598671075955,
            0.21901817075298652,
        ];
        assert_close(&d, &expect_d, 1e-15);
    }

    /// The JVP (B13) against the naive product with the full Jacobian `diag(y) − y·yᵀ`.
    #[test]
    fn softmax_jvp_matches_full_jacobian() {
        let z = array![[0.3, -1.2, 2.5, 0.0], [5.0, 5.0, -3.0, 1.0]];
        let d_y = array![[0.7, -0.1, 0.4, 2.0], [-1.0, 0.5, 0.25, 3.0]];
        let y = fwd(Activation::Softmax, &z);
        let d = bwd(Activation::Softmax, &z, &d_y);
        for n in 0..2 {
            for i in 0..4 {
                let mut slow = 0.0;
                for j in 0..4 {
                    let jac = if i == j { y[[n, i]] } else { 0.0 } - y[[n, i]] * y[[n, j]];
                    slow += jac * d_y[[n, j]];
                }
                assert!((slow - d[[n, i]]).abs() < 1e-15, "{slow} vs {}", d[[n, i]]);
            }
        }
    }

    #[test]
    fn finite_and_saturated_at_large_and_infinite_inputs() {
        let z = array![[-1e3, 1e3, f64::NEG_INFINITY, f64::INFINITY, 0.0]];
        for act in Activation::VARIANTS {
            let y = fwd(act, &z);
            let d = bwd(act, &z, &Array2::ones((1, 5)));
            assert!(!y.iter().any(|v| v.is_nan()), "{act}: NaN in {y}");
            assert!(!d.iter().any(|v| v.is_nan()), "{act}: NaN in {d}");
        }
        assert_eq!(
            fwd(Activation::Sigmoid, &z),
            array![[0.0, 1.0, 0.0, 1.0, 0.5]]
        );
        assert_eq!(
            fwd(Activation::Tanh, &z),
            array![[-1.0, 1.0, -1.0, 1.0, 0.0]]
        );
        // Saturated sigmoid/tanh have zero derivative, not NaN.
        assert_eq!(
            bwd(Activation::Sigmoid, &z, &Array2::ones((1, 5))),
            array![[0.0, 0.0, 0.0, 0.0, 0.25]]
        );
        // +∞ takes all the mass.
        assert_eq!(
            fwd(Activation::Softmax, &z),
            array![[0.0, 0.0, 0.0, 1.0, 0.0]]
        );
        // f32 too.
        let z32 = array![[-1e3_f32, 1e3, f32::NEG_INFINITY, f32::INFINITY]];
        let mut y32 = Array2::zeros((1, 4));
        Activation::Sigmoid.forward(z32.view(), y32.view_mut());
        assert_eq!(y32, array![[0.0_f32, 1.0, 0.0, 1.0]]);
    }

    #[test]
    fn softmax_special_rows() {
        let y = fwd(
            Activation::Softmax,
            &array![
                [f64::INFINITY, 1.0, f64::INFINITY],
                [f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY],
                [1e3, 1e3 - 1.0, -1e3],
                [f64::NAN, 0.0, 1.0]
            ],
        );
        assert_eq!(y.row(0), Array1::from(vec![0.5, 0.0, 0.5]));
        assert_eq!(y.row(1), Array1::from(vec![1.0 / 3.0; 3]));
        let e = (-1.0_f64).exp();
        assert!((y[[2, 0]] - 1.0 / (1.0 + e)).abs() < 1e-15);
        assert!((y[[2, 1]] - e / (1.0 + e)).abs() < 1e-15);
        assert_eq!(y[[2, 2]], 0.0);
        // NaN in, NaN out: no hidden clamp.
        assert!(y.row(3).iter().all(|v| v.is_nan()));
    }

    /// The pieces the loss and the trainer's scores read: the quotient form, `ln s`, the
    /// `+∞` row (a NaN before the trainer used this one softmax) and a NaN row.
    #[test]
    fn softmax_row_pieces() {
        let z = array![0.5, -1.25, 2.0, 0.0];
        let row = SoftmaxRow::of(z.view());
        let s: f64 = z.iter().map(|&v| (v - 2.0_f64).exp()).sum();
        assert_eq!(row.ln_sum(), s.ln());
        for &v in &z {
            assert_eq!(row.prob(v), (v - 2.0).exp() / s);
            let log_p = row.shifted(v) - row.ln_sum();
            assert!((log_p - row.prob(v).ln()).abs() < 1e-15);
        }
        let inf = SoftmaxRow::of(array![f64::INFINITY, 0.0, f64::INFINITY, -1.0].view());
        let p: Vec<f64> = [f64::INFINITY, 0.0, -1.0].map(|v| inf.prob(v)).to_vec();
        assert_eq!(p, [0.5, 0.0, 0.0]);
        assert_eq!(inf.ln_sum(), 2.0_f64.ln());
        let low = SoftmaxRow::of(Array1::from_elem(4, f64::NEG_INFINITY).view());
        assert_eq!(low.prob(f64::NEG_INFINITY), 0.25);
        let nan = SoftmaxRow::of(array![1.0, f64::NAN, f64::INFINITY].view());
        assert!(nan.prob(1.0).is_nan() && nan.prob(f64::INFINITY).is_nan());
    }

    #[test]
    fn nan_propagates_through_elementwise_activations() {
        let z = array![[f64::NAN]];
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::Sigmoid,
            Activation::Tanh,
        ] {
            assert!(fwd(act, &z)[[0, 0]].is_nan(), "{act}");
        }
    }

    #[test]
    fn derivative_source_flags() {
        let from_output: Vec<bool> = Activation::VARIANTS
            .iter()
            .map(|a| a.derivative_from_output())
            .collect();
        assert_eq!(from_output, [true, false, false, true, true, true]);
        let kinks: Vec<bool> = Activation::VARIANTS
            .iter()
            .map(|a| a.has_kink_at_zero())
            .collect();
        assert_eq!(kinks, [false, true, true, false, false, false]);
    }

    #[test]
    fn names_round_trip_through_display_and_from_str() {
        for act in Activation::VARIANTS {
            let text = act.to_string();
            assert_eq!(text.parse::<Activation>(), Ok(act), "{text}");
        }
        assert_eq!(
            "leaky_relu".parse::<Activation>(),
            Ok(Activation::LeakyRelu { alpha: 0.01 })
        );
        assert_eq!(
            " leaky_relu( 0.2 ) ".parse::<Activation>(),
            Ok(Activation::LeakyRelu { alpha: 0.2 })
        );
        let odd = Activation::LeakyRelu {
            alpha: 0.123_456_789_012_345_67,
        };
        assert_eq!(odd.to_string().parse::<Activation>(), Ok(odd));
        for bad in [
            "gelu",
            "leaky_relu(x)",
            "leaky_relu(0)",
            "leaky_relu(inf)",
            "",
        ] {
            let e = bad.parse::<Activation>().unwrap_err();
            assert_eq!(e.input, bad);
        }
        assert!(Activation::LeakyRelu { alpha: -1.0 }.validate().is_err());
    }

    /// The parallel row pass gives the same bits as the serial one.
    #[test]
    fn parallel_rows_equal_serial_rows() {
        let (n, h) = (PAR_MIN_ELEMS / 7 + 3, 7);
        let z = Array2::from_shape_fn((n, h), |(i, j)| {
            ((i * 31 + j * 17) % 101) as f64 / 13.0 - 4.0
        });
        let d_y = Array2::from_shape_fn((n, h), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        for act in Activation::VARIANTS {
            let y = fwd(act, &z);
            let d = bwd(act, &z, &d_y);
            for i in [0, n / 2, n - 1] {
                let mut y_row = Array1::zeros(h);
                act.forward_row(z.row(i), y_row.view_mut());
                let mut d_row = d_y.row(i).to_owned();
                act.backward_row_in_place(z.row(i), y_row.view(), d_row.view_mut());
                assert_eq!(y.row(i), y_row);
                assert_eq!(d.row(i), d_row);
            }
        }
    }
}
