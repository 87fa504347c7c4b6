//! The wide & deep linear term (Cheng et al. 2016, "Wide & Deep Learning for Recommender
//! Systems"; notes/backprop.md §12, B27–B30): the output layer's pre-activation gains a linear
//! function of the network's input X,
//!
//! ```text
//! Z_out = A_{L−2}·Θ_{L−1}ᵀ + 1·b_{L−1}ᵀ + X·Wᵀ        (the deep part, then the wide part)
//! ```
//!
//! so a binary network's logit is `MLP(x) + wᵀx + c` (the constant c is the output layer's
//! own bias). W (O, D) has no bias of its own. Forward and backward sit side by side; the
//! backward *adds* (or writes, [`GradWrite`]) into caller-owned buffers.
//!
//! Shapes: `N` rows, `D` inputs, `O` outputs. Every product is one [`gemm`] call, whose
//! threads split rows or columns of C and never a sum, so the bits do not depend on the
//! thread count (test `wide_network_is_bit_identical_at_1_2_and_7_threads`).

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2, s};

use crate::{Float, GradWrite, TensorInfo, gemm};

/// Where the wide term's W (O, D) sits in a network's flat parameter buffer: after every
/// layer's parameters, so switching it on moves no other parameter (B27).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WideTerm {
    /// D, the network's input width.
    pub inputs: usize,
    /// O, the output layer's units.
    pub outputs: usize,
    /// Offset of W in the flat buffer.
    pub offset: usize,
}

impl WideTerm {
    /// W's slice of the flat buffer: `O·D` values, row-major.
    pub fn params(&self) -> Range<usize> {
        self.offset..self.offset + self.outputs * self.inputs
    }

    /// W (O, D) as a view of the network's flat buffer.
    pub fn weight<'p, T>(&self, params: &'p [T]) -> ArrayView2<'p, T> {
        ArrayView2::from_shape((self.outputs, self.inputs), &params[self.params()])
            .expect("the buffer holds W")
    }

    /// d_W (O, D) as a mutable view of the network's flat gradient buffer.
    pub fn weight_mut<'p, T>(&self, grads: &'p mut [T]) -> ArrayViewMut2<'p, T> {
        ArrayViewMut2::from_shape((self.outputs, self.inputs), &mut grads[self.params()])
            .expect("the buffer holds d_W")
    }

    /// The name of W among a network's tensors (bundles, gradcheck, trace).
    pub const TENSOR_NAME: &'static str = "wide.weight";

    /// The tensor `wide.weight` [O, D] (a PyTorch `nn.Linear(D, O, bias=False)`'s weight).
    pub fn tensor(&self) -> TensorInfo {
        TensorInfo {
            name: Self::TENSOR_NAME.into(),
            offset: self.offset,
            shape: vec![self.outputs, self.inputs],
        }
    }
}

/// (B27) Forward: `Z ← Z + X·Wᵀ` — the wide part added to the output layer's pre-activation
/// (which then goes through the output activation again). One GEMM with β = 1, Wᵀ a stride
/// view.
///
/// Shapes: `x` (N, D), `w` (O, D), `z` (N, O).
///
/// # Panics
/// If the shapes disagree.
pub fn wide_forward_add<T: Float>(x: ArrayView2<T>, w: ArrayView2<T>, z: ArrayViewMut2<T>) {
    check_shapes(&x, &w, z.dim());
    gemm(T::one(), x, w.t(), T::one(), z);
}

/// Reference for [`wide_forward_add`]: explicit loops, each sum over d in increasing order,
/// then added to Z.
///
/// # Panics
/// If the shapes disagree.
pub fn wide_forward_add_naive<T: Float>(
    x: ArrayView2<T>,
    w: ArrayView2<T>,
    mut z: ArrayViewMut2<T>,
) {
    check_shapes(&x, &w, z.dim());
    let ((n, d), o) = (x.dim(), w.nrows());
    for i in 0..n {
        for j in 0..o {
            let mut acc = T::zero();
            for k in 0..d {
                acc += x[[i, k]] * w[[j, k]];
            }
            z[[i, j]] += acc;
        }
    }
}

/// (B28) The weight gradient over the batch rows `rows`: `d_W ⟵ d_Zᵀ·X` (`d_Zᵀ` a stride
/// view; ⟵ adds or writes as `write` says). `d_z` is the output layer's δ = ∂L/∂Z — the
/// same δ its own Θ and b read (B20c): the wide path only adds a second consumer of it.
///
/// Shapes: `x` (N, D), `d_z` (N, O), `d_w` (O, D).
///
/// # Panics
/// If the shapes disagree or `rows` is not within N.
pub fn wide_backward_params<T: Float>(
    x: ArrayView2<T>,
    d_z: ArrayView2<T>,
    d_w: ArrayViewMut2<T>,
    write: GradWrite,
    rows: Range<usize>,
) {
    check_shapes(&x, &d_w.view(), d_z.dim());
    gemm(
        T::one(),
        d_z.slice(s![rows.clone(), ..]).t(),
        x.slice(s![rows, ..]),
        write.beta(),
        d_w,
    );
}

/// (B29) The input gradient's wide part: `d_X ← d_X + d_Z·W`, added to what the deep path
/// (B6 down to the first layer) wrote there.
///
/// Shapes: `w` (O, D), `d_z` (N, O), `d_x` (N, D).
///
/// # Panics
/// If the shapes disagree.
pub fn wide_backward_input_add<T: Float>(
    w: ArrayView2<T>,
    d_z: ArrayView2<T>,
    d_x: ArrayViewMut2<T>,
) {
    check_shapes(&d_x.view(), &w, d_z.dim());
    gemm(T::one(), d_z, w, T::one(), d_x);
}

/// (B30) Adds each example's squared gradient norm over W to `sq_norms` (N,): example i's
/// gradient is `δᵢ·xᵢᵀ`, so `sq_norms[i] += ‖δᵢ‖²·‖xᵢ‖²` (no bias term), each factor summed
/// in f64 by [`crate::sum_of_squares`] (the same bits on every thread count and ISA).
///
/// Shapes: `x` (N, D), `d_z` (N, O), `sq_norms` (N).
///
/// # Panics
/// If the row counts disagree.
pub fn wide_add_example_sq_norms<T: Float>(
    x: ArrayView2<T>,
    d_z: ArrayView2<T>,
    sq_norms: &mut [f64],
) {
    assert_eq!(x.nrows(), d_z.nrows(), "wide: X and dL/dZ differ in rows");
    assert_eq!(x.nrows(), sq_norms.len(), "wide: one norm per row");
    for ((x_row, dz_row), sq) in x.rows().into_iter().zip(d_z.rows()).zip(sq_norms) {
        *sq += crate::sum_of_squares(dz_row) * crate::sum_of_squares(x_row); // B30
    }
}

/// X (N, D), W (O, D) and a (N, O) product agree.
fn check_shapes<T>(x: &ArrayView2<T>, w: &ArrayView2<T>, z: (usize, usize)) {
    let ((n, d), (o, dw)) = (x.dim(), w.dim());
    assert_eq!(d, dw, "wide: X is ({n}, {d}) but W is ({o}, {dw})");
    assert_eq!(z, (n, o), "wide: Z is {z:?}, expected ({n}, {o})");
}
