//! The fallback GEMM, matrixmultiply (notes/gemm.md §2): what [`crate::gemm_serial`] runs
//! when our kernel does not ([`crate::gemm::kernel::active_isa`] is `None`: a CPU without
//! AVX2+FMA and no `GLASSBOX_ISA` asking for the scalar path).
//!
//! matrixmultiply packs both operands (BLIS-style panels) into a buffer it allocates on every
//! call, runs an 8×8 (`f32`) / 8×4 (`f64`) micro-kernel chosen at run time and sums k in
//! chunks of 256. Its summation order is not ours, so its results differ from the kernel's
//! in the last bits (equal on integer data); they do not depend on the thread count either
//! (notes/gemm.md §3).

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::Float;

/// `C ← α·A·B + β·C` (eq. G1) by one single-threaded matrixmultiply call
/// ([`Float::gemm_raw`]), on any CPU — so the tests can sweep it on a CPU where
/// [`crate::gemm_serial`] never reaches it. Allocates a packing buffer on every call.
///
/// If `beta` is zero, C need not be initialised.
///
/// # Panics
/// If the shapes of A (M,K), B (K,N) and C (M,N) disagree.
pub fn gemm_fallback<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) {
    let (m, k, n) = super::check_shapes(&a, &b, &c);
    if m == 0 || n == 0 {
        return;
    }
    let ([rsa, csa], [rsb, csb]) = (
        [a.strides()[0], a.strides()[1]],
        [b.strides()[0], b.strides()[1]],
    );
    let [rsc, csc] = [c.strides()[0], c.strides()[1]];
    // SAFETY: the views guarantee that pointer + strides describe valid matrices of the
    // checked shapes; C is a unique mutable view, so it does not overlap A or B.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            rsc,
            csc,
        );
    }
}
