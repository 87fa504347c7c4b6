//! The Dense (fully connected) layer: `Y = f(X·Θᵀ + 1·bᵀ)` (notes/backprop.md §1, B1–B6).
//!
//! Shapes: X (N, D) inputs, Θ (H, D) weights stored like PyTorch's `nn.Linear.weight`,
//! b (H) bias, Z = X·Θᵀ + 1·bᵀ (N, H) pre-activation, Y = f(Z) (N, H) output.
//!
//! Two levels:
//! - free functions on views, used by the MLP's Dense layers on their preallocated buffers:
//!   [`dense_forward`] (GEMM, then one pass that adds the bias and applies `f`), and for
//!   the backward pass from `∂L/∂Z` [`dense_backward_params`] (∂L/∂Θ, ∂L/∂b, added or
//!   written as [`GradWrite`] says) and [`dense_backward_input`] (∂L/∂X), each with its slow
//!   reference beside it ([`dense_forward_naive`], [`dense_backward_params_naive`],
//!   [`dense_backward_input_naive`]);
//! - the owning [`Dense`], whose `forward` returns a [`DenseCache`] that `backward` requires.
//!
//! ```
//! use glassbox_core::{Activation, Dense, DenseGrads};
//! use ndarray::array;
//!
//! // One unit, two inputs: y = σ(0.5·x₀ − 1·x₁ + 0.25).
//! let layer = Dense::from_parts(array![[0.5, -1.0]], array![0.25], Activation::Sigmoid);
//! let (y, cache) = layer.forward(array![[2.0, 1.25]].view());
//! assert_eq!(cache.z()[[0, 0]], 0.0);
//! assert_eq!(y[[0, 0]], 0.5);
//! let mut grads = DenseGrads::zeros_like(&layer);
//! let d_x = layer.backward(&cache, array![[1.0]].view(), &mut grads);
//! // ∂L/∂Z = 1·σ′(0) = 0.25; ∂L/∂Θ = 0.25·x; ∂L/∂b = 0.25; ∂L/∂X = 0.25·Θ.
//! assert_eq!(grads.d_theta, array![[0.5, 0.3125]]);
//! assert_eq!(grads.d_b, array![0.25]);
//! assert_eq!(d_x, array![[0.125, -0.25]]);
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};

use crate::activation::PAR_MIN_ELEMS;
use crate::gemm::kernel::Scratch;
use crate::layer::GradWrite;
use crate::{Activation, Float, Init, Rng, gemm, gemm_naive};

mod norms;
pub use norms::{
    add_example_sq_norms_rows, dense_add_example_sq_norms, scale_example_rows, sum_of_squares,
    sum_of_squares_lanes,
};

fn check_forward_shapes<T>(
    x: &ArrayView2<T>,
    theta: &ArrayView2<T>,
    b: &ArrayView1<T>,
    z: &ArrayViewMut2<T>,
    y: &ArrayViewMut2<T>,
) {
    let (n, d) = x.dim();
    let (h, d2) = theta.dim();
    assert_eq!(d, d2, "dense: X is ({n}, {d}) but Θ is ({h}, {d2})");
    assert_eq!(b.len(), h, "dense: Θ is ({h}, {d}) but b has {}", b.len());
    assert_eq!(
        z.dim(),
        (n, h),
        "dense: Z is {:?}, expected ({n}, {h})",
        z.dim()
    );
    assert_eq!(
        y.dim(),
        (n, h),
        "dense: Y is {:?}, expected ({n}, {h})",
        y.dim()
    );
}

/// Forward (B1, B2): `Z = X·Θᵀ + 1·bᵀ`, `Y = f(Z)`, both written.
///
/// One GEMM `Z ← X·Θᵀ` (β = 0; Θᵀ is a stride view, not a copy), then one pass over the
/// rows of Z that adds b and applies `f` — bias and activation fused into the output pass.
/// Rows run in parallel when N·H ≥ [`PAR_MIN_ELEMS`]; every element is computed by the
/// same code on any thread, so the result does not depend on the thread count.
///
/// Shapes: `x` (N, D), `theta` (H, D), `b` (H) → `z` (N, H), `y` (N, H).
///
/// # Panics
/// If the shapes disagree.
pub fn dense_forward<T: Float>(
    x: ArrayView2<T>,
    theta: ArrayView2<T>,
    b: ArrayView1<T>,
    activation: Activation,
    mut z: ArrayViewMut2<T>,
    mut y: ArrayViewMut2<T>,
) {
    check_forward_shapes(&x, &theta, &b, &z, &y);
    gemm(T::one(), x, theta.t(), T::zero(), z.view_mut());
    let pass = |mut z_row: ArrayViewMut1<T>, y_row: ArrayViewMut1<T>| {
        z_row += &b;
        activation.forward_row(z_row.view(), y_row);
    };
    let big = z.len() >= PAR_MIN_ELEMS;
    let zip = Zip::from(z.rows_mut()).and(y.rows_mut());
    if big {
        zip.par_for_each(pass);
    } else {
        zip.for_each(pass);
    }
}

/// Reference for [`dense_forward`]: the triple-loop [`gemm_naive`], then the bias in its
/// own pass, then the activation in another — nothing fused.
///
/// # Panics
/// If the shapes disagree.
pub fn dense_forward_naive<T: Float>(
    x: ArrayView2<T>,
    theta: ArrayView2<T>,
    b: ArrayView1<T>,
    activation: Activation,
    mut z: ArrayViewMut2<T>,
    y: ArrayViewMut2<T>,
) {
    check_forward_shapes(&x, &theta, &b, &z, &y);
    gemm_naive(T::one(), x, theta.t(), T::zero(), z.view_mut());
    for mut row in z.rows_mut() {
        for (zh, &bh) in row.iter_mut().zip(b.iter()) {
            *zh += bh;
        }
    }
    activation.forward(z.view(), y);
}

/// Parameter part of the backward pass (B4, B5), from `d_z = ∂L/∂Z`:
/// `d_theta ⟵ d_zᵀ·X` (one GEMM, `d_zᵀ` a stride view) and `d_b ⟵ Σ_n d_z[n, :]` (each
/// column summed over n in increasing order on the calling thread, then added or written),
/// where `⟵` adds or writes as `write` says ([`GradWrite`]).
///
/// Shapes: `x` (N, D), `d_z` (N, H), `d_theta` (H, D), `d_b` (H).
///
/// # Panics
/// If the shapes disagree.
pub fn dense_backward_params<T: Float>(
    x: ArrayView2<T>,
    d_z: ArrayView2<T>,
    d_theta: ArrayViewMut2<T>,
    mut d_b: ArrayViewMut1<T>,
    write: GradWrite,
) {
    check_params_shapes(&x, &d_z, &d_theta, &d_b);
    gemm(T::one(), d_z.t(), x, write.beta(), d_theta);
    bias_gradient(d_z, d_b.view_mut(), write);
}

/// Columns of ∂L/∂b summed side by side: [`dense_backward_params`]'s bias part.
const BIAS_LANES: usize = 64;

/// (B5) `∂L/∂b_j = Σ_n d_z[n, j]`, each column summed in T in increasing n. The sums run
/// [`BIAS_LANES`] columns at a time, row after row, instead of one column after another: each
/// column's additions are the same, in the same order (the same bits), but the columns'
/// independent chains advance together along the contiguous rows, where one column at a time
/// waits for every addition of a long column in turn (a 512-row private batch, whose bias
/// sums are not split into shards, spent more time there than in the weight GEMM).
fn bias_gradient<T: Float>(d_z: ArrayView2<T>, mut d_b: ArrayViewMut1<T>, write: GradWrite) {
    let h = d_z.ncols();
    for start in (0..h).step_by(BIAS_LANES) {
        let width = BIAS_LANES.min(h - start);
        let mut sums = [T::zero(); BIAS_LANES];
        let sums = &mut sums[..width];
        for row in d_z.rows() {
            let row = row.slice(ndarray::s![start..start + width]);
            match row.as_slice() {
                Some(values) => sums.iter_mut().zip(values).for_each(|(sum, &v)| *sum += v),
                None => sums
                    .iter_mut()
                    .zip(row.iter())
                    .for_each(|(sum, &v)| *sum += v),
            }
        }
        for (d_b, &sum) in d_b
            .slice_mut(ndarray::s![start..start + width])
            .iter_mut()
            .zip(sums.iter())
        {
            *d_b = write.apply(*d_b, sum);
        }
    }
}

/// Reference for [`dense_backward_params`]: explicit loops, every sum in increasing n.
///
/// # Panics
/// If the shapes disagree.
pub fn dense_backward_params_naive<T: Float>(
    x: ArrayView2<T>,
    d_z: ArrayView2<T>,
    mut d_theta: ArrayViewMut2<T>,
    mut d_b: ArrayViewMut1<T>,
    write: GradWrite,
) {
    check_params_shapes(&x, &d_z, &d_theta, &d_b);
    let ((n, d), h) = (x.dim(), d_z.ncols());
    for j in 0..h {
        for k in 0..d {
            let mut acc = T::zero();
            for i in 0..n {
                acc += d_z[[i, j]] * x[[i, k]];
            }
            d_theta[[j, k]] = write.apply(d_theta[[j, k]], acc);
        }
        let mut acc = T::zero();
        for i in 0..n {
            acc += d_z[[i, j]];
        }
        d_b[j] = write.apply(d_b[j], acc);
    }
}

fn check_params_shapes<T>(
    x: &ArrayView2<T>,
    d_z: &ArrayView2<T>,
    d_theta: &ArrayViewMut2<T>,
    d_b: &ArrayViewMut1<T>,
) {
    let (n, d) = x.dim();
    let h = d_z.ncols();
    assert_eq!(
        d_z.nrows(),
        n,
        "dense: X is ({n}, {d}) but dL/dZ is {:?}",
        d_z.dim()
    );
    assert_eq!(
        d_theta.dim(),
        (h, d),
        "dense: dL/dΘ is {:?}, expected ({h}, {d})",
        d_theta.dim()
    );
    assert_eq!(d_b.len(), h, "dense: dL/db has {}, expected {h}", d_b.len());
}

/// Input part of the backward pass (B6): `d_x = d_z·Θ`, written (β = 0). `d_x` is a
/// per-batch intermediate (the next layer down's `∂L/∂Y`), so it is overwritten, not
/// accumulated.
///
/// Shapes: `d_z` (N, H), `theta` (H, D) → `d_x` (N, D).
///
/// # Panics
/// If the shapes disagree.
pub fn dense_backward_input<T: Float>(
    theta: ArrayView2<T>,
    d_z: ArrayView2<T>,
    d_x: ArrayViewMut2<T>,
) {
    check_input_shapes(&theta, &d_z, &d_x);
    gemm(T::one(), d_z, theta, T::zero(), d_x);
}

/// Reference for [`dense_backward_input`]: explicit loops, every sum in increasing h.
///
/// # Panics
/// If the shapes disagree.
pub fn dense_backward_input_naive<T: Float>(
    theta: ArrayView2<T>,
    d_z: ArrayView2<T>,
    mut d_x: ArrayViewMut2<T>,
) {
    check_input_shapes(&theta, &d_z, &d_x);
    let ((n, d), h) = (d_x.dim(), theta.nrows());
    for i in 0..n {
        for k in 0..d {
            let mut acc = T::zero();
            for j in 0..h {
                acc += d_z[[i, j]] * theta[[j, k]];
            }
            d_x[[i, k]] = acc;
        }
    }
}

fn check_input_shapes<T>(theta: &ArrayView2<T>, d_z: &ArrayView2<T>, d_x: &ArrayViewMut2<T>) {
    let (h, d) = theta.dim();
    assert_eq!(
        d_z.ncols(),
        h,
        "dense: Θ is ({h}, {d}) but dL/dZ is {:?}",
        d_z.dim()
    );
    assert_eq!(
        d_x.dim(),
        (d_z.nrows(), d),
        "dense: dL/dX is {:?}, expected ({}, {d})",
        d_x.dim(),
        d_z.nrows()
    );
}

/// The per-thread GEMM scratch ([`Scratch`]) that the three products of a layer with D
/// inputs and H units need for batches of up to N rows, laid out as the MLP lays them out:
/// `Z ← X·Θᵀ` in [`dense_forward`] (X (N, D) row-major, Θᵀ a stride view of the row-major
/// Θ (H, D)), `d_theta += d_zᵀ·X` in [`dense_backward_params`] (`d_zᵀ` a stride view of the
/// row-major `d_z` (N, H)) and `d_x = d_z·Θ` in [`dense_backward_input`].
///
/// An X in another layout may need more; the kernel then grows its buffers on first use.
pub fn dense_gemm_scratch<T: Float>(n: usize, d: usize, h: usize) -> Scratch {
    let (di, hi) = (d as isize, h as isize);
    // (B1) A = X, strides (D, 1); B = Θᵀ, strides (1, D); k = D; H columns.
    let forward = Scratch::for_product::<T>(d, h, di, 1, 1, di);
    // (B4) A = d_zᵀ, strides (1, H); B = X, strides (D, 1); k = N; D columns.
    let params = Scratch::for_product::<T>(n, d, 1, hi, di, 1);
    // (B6) A = d_z, strides (H, 1); B = Θ, strides (D, 1); k = H; D columns.
    let input = Scratch::for_product::<T>(h, d, hi, 1, di, 1);
    forward.max(params).max(input)
}

/// An owning Dense layer: Θ (H, D), b (H) and the activation `f`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<T: Float> {
    /// Θ (H, D), PyTorch's layout: row h holds the weights of unit h.
    theta: Array2<T>,
    /// b (H).
    b: Array1<T>,
    activation: Activation,
}

/// What [`Dense::forward`] keeps for [`Dense::backward`]. Backward takes it by reference,
/// so it cannot be called without a forward pass on the same batch.
#[derive(Clone, Debug)]
pub struct DenseCache<T: Float> {
    /// X (N, D): the weight gradient is `d_zᵀ·X` (B4).
    x: Array2<T>,
    /// Z (N, H): read by the derivative of ReLU / leaky ReLU (B8, B9), and the logits a
    /// fused loss starts from.
    z: Array2<T>,
    /// Y (N, H): read by the derivative of sigmoid, tanh and softmax (B10, B11, B13), which
    /// is computed from the output; kept rather than recomputed so backward uses exactly
    /// the forward's values.
    y: Array2<T>,
}

impl<T: Float> DenseCache<T> {
    /// The input X (N, D) of the forward pass.
    pub fn x(&self) -> ArrayView2<'_, T> {
        self.x.view()
    }

    /// The pre-activation Z (N, H).
    pub fn z(&self) -> ArrayView2<'_, T> {
        self.z.view()
    }

    /// The output Y (N, H).
    pub fn y(&self) -> ArrayView2<'_, T> {
        self.y.view()
    }
}

/// Gradient buffers of one Dense layer, accumulated by [`Dense::backward`].
#[derive(Clone, Debug, PartialEq)]
pub struct DenseGrads<T: Float> {
    /// ∂L/∂Θ (H, D).
    pub d_theta: Array2<T>,
    /// ∂L/∂b (H).
    pub d_b: Array1<T>,
}

impl<T: Float> DenseGrads<T> {
    /// Zero gradients shaped like `layer`'s parameters.
    pub fn zeros_like(layer: &Dense<T>) -> Self {
        DenseGrads {
            d_theta: Array2::zeros(layer.theta.dim()),
            d_b: Array1::zeros(layer.b.len()),
        }
    }

    /// Sets every gradient to zero (the separate step between accumulations).
    pub fn zero(&mut self) {
        self.d_theta.fill(T::zero());
        self.d_b.fill(T::zero());
    }
}

impl<T: Float> Dense<T> {
    /// A layer with `inputs` (D) inputs and `units` (H) units, drawn by `init` from `rng`.
    ///
    /// # Panics
    /// If `inputs` is 0.
    pub fn new(
        inputs: usize,
        units: usize,
        activation: Activation,
        init: Init,
        rng: &mut Rng,
    ) -> Self {
        let mut theta = Array2::zeros((units, inputs));
        let mut b = Array1::zeros(units);
        init.fill(theta.view_mut(), b.view_mut(), rng);
        Dense {
            theta,
            b,
            activation,
        }
    }

    /// A layer from given Θ (H, D) and b (H).
    ///
    /// # Panics
    /// If `b.len()` ≠ H.
    pub fn from_parts(theta: Array2<T>, b: Array1<T>, activation: Activation) -> Self {
        assert_eq!(
            theta.nrows(),
            b.len(),
            "dense: Θ is {:?} but b has {}",
            theta.dim(),
            b.len()
        );
        Dense {
            theta,
            b,
            activation,
        }
    }

    /// Θ (H, D).
    pub fn theta(&self) -> ArrayView2<'_, T> {
        self.theta.view()
    }

    /// Θ (H, D), mutable (optimizers, gradient checks).
    pub fn theta_mut(&mut self) -> ArrayViewMut2<'_, T> {
        self.theta.view_mut()
    }

    /// b (H).
    pub fn b(&self) -> ArrayView1<'_, T> {
        self.b.view()
    }

    /// b (H), mutable.
    pub fn b_mut(&mut self) -> ArrayViewMut1<'_, T> {
        self.b.view_mut()
    }

    /// The activation `f`.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Forward (B1, B2) on X (N, D): returns Y (N, H) and the cache backward needs.
    ///
    /// # Panics
    /// If X does not have D columns.
    pub fn forward(&self, x: ArrayView2<T>) -> (Array2<T>, DenseCache<T>) {
        let n = x.nrows();
        let h = self.theta.nrows();
        let mut z = Array2::zeros((n, h));
        let mut y = Array2::zeros((n, h));
        dense_forward(
            x,
            self.theta.view(),
            self.b.view(),
            self.activation,
            z.view_mut(),
            y.view_mut(),
        );
        let cache = DenseCache {
            x: x.to_owned(),
            z,
            y: y.clone(),
        };
        (y, cache)
    }

    /// Backward from `d_y = ∂L/∂Y` (N, H): converts to `∂L/∂Z` through the activation (B3),
    /// accumulates ∂L/∂Θ and ∂L/∂b into `grads` (B4, B5) and returns ∂L/∂X (N, D) (B6).
    ///
    /// # Panics
    /// If `d_y` is not shaped like the cached Y, or `grads` not like the parameters.
    pub fn backward(
        &self,
        cache: &DenseCache<T>,
        d_y: ArrayView2<T>,
        grads: &mut DenseGrads<T>,
    ) -> Array2<T> {
        let mut d_z = Array2::zeros(cache.y.dim());
        self.activation
            .backward(cache.z.view(), cache.y.view(), d_y, d_z.view_mut());
        dense_backward_params(
            cache.x.view(),
            d_z.view(),
            grads.d_theta.view_mut(),
            grads.d_b.view_mut(),
            GradWrite::Accumulate,
        );
        let mut d_x = Array2::zeros(cache.x.dim());
        dense_backward_input(self.theta.view(), d_z.view(), d_x.view_mut());
        d_x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;
    use ndarray::{Array, Axis, s};

    /// Integer-valued data keeps every product and sum exact, so fast and naive must agree
    /// bit for bit whatever the summation order.
    fn int_matrix(rows: usize, cols: usize, salt: usize) -> Array2<f64> {
        Array::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 7 + j * 13 + salt * 5) % 9) as f64 - 4.0
        })
    }

    #[test]
    fn fused_forward_equals_naive_over_odd_sizes_and_strides() {
        for &(n, d, h) in &[
            (1, 1, 1),
            (3, 5, 2),
            (7, 1, 9),
            (13, 11, 4),
            (0, 3, 2),
            (70, 33, 65),
        ] {
            let x_big = int_matrix(2 * n + 1, d, 1);
            // Every other row: a strided X.
            let x = x_big.slice(s![..;2, ..]);
            let x = x.slice(s![..n, ..]);
            // Θ stored transposed: a column-major (H, D) view.
            let theta_t = int_matrix(d, h, 2);
            let theta = theta_t.t();
            let b = Array1::from_shape_fn(h, |j| j as f64 - 1.0);
            for act in Activation::VARIANTS {
                let (mut z1, mut y1) = (Array2::zeros((n, h)), Array2::zeros((n, h)));
                let (mut z2, mut y2) = (Array2::zeros((n, h)), Array2::zeros((n, h)));
                dense_forward(x, theta, b.view(), act, z1.view_mut(), y1.view_mut());
                dense_forward_naive(x, theta, b.view(), act, z2.view_mut(), y2.view_mut());
                assert_eq!(z1, z2, "{act} ({n},{d},{h})");
                assert_eq!(y1, y2, "{act} ({n},{d},{h})");
            }
        }
    }

    #[test]
    fn fast_backward_equals_naive_and_accumulates() {
        for &(n, d, h) in &[(1, 1, 1), (3, 5, 2), (7, 1, 9), (13, 11, 4), (70, 33, 65)] {
            let x = int_matrix(n, d, 3);
            let theta = int_matrix(h, d, 4);
            let d_z_t = int_matrix(h, n, 5);
            let d_z = d_z_t.t(); // column-major dL/dZ
            let start_theta = int_matrix(h, d, 6);
            let start_b = Array1::from_shape_fn(h, |j| j as f64);
            for write in [GradWrite::Accumulate, GradWrite::Overwrite] {
                let (mut g1, mut b1) = (start_theta.clone(), start_b.clone());
                let (mut g2, mut b2) = (start_theta.clone(), start_b.clone());
                dense_backward_params(x.view(), d_z, g1.view_mut(), b1.view_mut(), write);
                dense_backward_params_naive(x.view(), d_z, g2.view_mut(), b2.view_mut(), write);
                assert_eq!(g1, g2, "{write:?}");
                assert_eq!(b1, b2, "{write:?}");
            }
            let (mut x1, mut x2) = (Array2::from_elem((n, d), f64::NAN), Array2::zeros((n, d)));
            dense_backward_input(theta.view(), d_z, x1.view_mut());
            dense_backward_input_naive(theta.view(), d_z, x2.view_mut());
            assert_eq!(x1, x2);
            // Accumulation: the result is start + one pass's gradient; overwriting (over
            // NaN, never read) gives that one pass's gradient.
            let (mut acc, mut acc_b) = (start_theta.clone(), start_b.clone());
            let write = GradWrite::Accumulate;
            dense_backward_params(x.view(), d_z, acc.view_mut(), acc_b.view_mut(), write);
            let mut once = Array2::from_elem((h, d), f64::NAN);
            let mut once_b = Array1::from_elem(h, f64::NAN);
            let write = GradWrite::Overwrite;
            dense_backward_params(x.view(), d_z, once.view_mut(), once_b.view_mut(), write);
            assert_eq!(acc, &start_theta + &once);
            assert_eq!(acc_b, &start_b + &once_b);
            assert_eq!(once_b, d_z.sum_axis(Axis(0)));
        }
    }

    fn assert_close<'a>(
        actual: impl ExactSizeIterator<Item = &'a f64>,
        expected: &[f64],
        tol: f64,
    ) {
        assert_eq!(actual.len(), expected.len());
        for (a, b) in actual.zip(expected) {
            assert!((a - b).abs() < tol, "{a} vs {b}");
        }
    }

    // PyTorch (f64):
    //   lin = nn.Linear(3, 2); lin.weight = [[0.1, -0.2, 0.3], [0.5, 0.4, -0.6]]; lin.bias = [0.05, -0.1]
    //   x = [[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]]; y = torch.tanh(lin(x)); y.backward([[1, -1], [0.5, 2]])
    #[test]
    fn dense_literal_against_pytorch() {
        let layer = Dense::from_parts(
            ndarray::array![[0.1_f64, -0.2, 0.3], [0.5, 0.4, -0.6]],
            ndarray::array![0.05, -0.1],
            Activation::Tanh,
        );
        let x = ndarray::array![[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]];
        let (y, cache) = layer.forward(x.view());
        let z = [0.65, -0.6, -0.075, -0.55];
        let y_expect = [
            0.5716699660851172,
            -0.5370495669980351,
            -0.07485969068749909,
            -0.5005202111902352,
        ];
        assert_close(cache.z().iter(), &z, 1e-15);
        assert_close(y.iter(), &y_expect, 1e-15);
        let mut grads = DenseGrads::zeros_like(&layer);
        let d_x = layer.backward(
            &cache,
            ndarray::array![[1.0, -1.0], [0.5, 2.0]].view(),
            &mut grads,
        );
        let d_theta = [
            0.175995436521155,
            1.594985906430025,
            2.143879852967494,
            -2.2105367989673876,
            -0.6736760069843637,
            -1.7599935286666282,
        ];
        let d_b = [1.170391463231327, 0.7873812737929418];
        let d_x_expect = [
            -0.28846953630598743,
            -0.41926979501013745,
            0.6289046925152061,
            0.799199319525591,
            0.5001440118810487,
            -0.7502160178215731,
        ];
        assert_close(grads.d_theta.iter(), &d_theta, 1e-14);
        assert_close(grads.d_b.iter(), &d_b, 1e-14);
        assert_close(d_x.iter(), &d_x_expect, 1e-14);
    }

    #[test]
    fn new_draws_from_the_initialiser() {
        let layer = Dense::<f32>::new(10, 4, Activation::Relu, Init::HeUniform, &mut seeded_rng(1));
        assert_eq!(layer.theta().dim(), (4, 10));
        assert!(layer.b().iter().all(|&b| b == 0.0));
        let bound = Init::HeUniform.weight_bound(10, 4) as f32;
        assert!(layer.theta().iter().all(|w| w.abs() <= bound));
        assert!(layer.theta().iter().any(|&w| w != 0.0));
    }

    #[test]
    #[should_panic(expected = "X is (2, 3) but Θ is (4, 5)")]
    fn shape_mismatch_panics_with_shapes() {
        let (mut z, mut y) = (Array2::zeros((2, 4)), Array2::zeros((2, 4)));
        dense_forward(
            Array2::<f64>::zeros((2, 3)).view(),
            Array2::zeros((4, 5)).view(),
            Array1::zeros(4).view(),
            Activation::Identity,
            z.view_mut(),
            y.view_mut(),
        );
    }
}
