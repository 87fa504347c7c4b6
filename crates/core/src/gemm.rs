//! General matrix multiply, `C ← α·A·B + β·C` (notes/gemm.md, eq. G1).
//!
//! Three entry points with one contract:
//! - [`gemm_naive`]: the triple-loop reference every fast path is tested against;
//! - [`gemm_serial`]: one single-threaded matrixmultiply call;
//! - [`gemm`]: the parallel GEMM. Each rayon task owns a fixed block of rows of C and runs
//!   a single-threaded matrixmultiply call on it; the k-sum is never split across threads,
//!   so every element of C is computed by the same instruction sequence whatever the
//!   thread count (bit-identical results).
//!
//! Operands are ndarray views with arbitrary (even negative) strides: pass `a.t()` to use
//! Aᵀ — transposes are strides, never copies.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::Float;

/// Rows of C per parallel task. Fixed (not derived from the thread count) so the split —
/// and therefore every result — is independent of how many threads run it.
pub const ROW_BLOCK: usize = 64;

/// Below this many multiply-adds (`m·k·n`) the parallel GEMM stays on the calling thread.
pub const PARALLEL_MIN_FLOPS: usize = 1 << 21;

fn check_shapes<T>(
    a: &ArrayView2<T>,
    b: &ArrayView2<T>,
    c: &ArrayViewMut2<T>,
) -> (usize, usize, usize) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(
        k, k2,
        "gemm: A is ({m}, {k}) but B is ({k2}, {n}); inner dimensions differ"
    );
    assert_eq!(
        c.dim(),
        (m, n),
        "gemm: C is {:?} but A·B is ({m}, {n})",
        c.dim()
    );
    (m, k, n)
}

/// Reference triple loop: `C ← α·A·B + β·C`, summing k in increasing order in `T`.
///
/// If `beta` is zero, C need not be initialised (its old values are not read).
///
/// # Panics
/// If the shapes of A (M,K), B (K,N) and C (M,N) disagree.
pub fn gemm_naive<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) {
    let (m, k, n) = check_shapes(&a, &b, &c);
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::zero();
            for p in 0..k {
                acc += a[[i, p]] * b[[p, j]];
            }
            let old = if beta == T::zero() {
                T::zero()
            } else {
                beta * c[[i, j]]
            };
            c[[i, j]] = alpha * acc + old;
        }
    }
}

/// Single-threaded `C ← α·A·B + β·C` through matrixmultiply.
///
/// If `beta` is zero, C need not be initialised.
///
/// # Panics
/// If the shapes of A (M,K), B (K,N) and C (M,N) disagree.
pub fn gemm_serial<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) {
    let (m, k, n) = check_shapes(&a, &b, &c);
    if m == 0 || n == 0 {
        return;
    }
    let [rsa, csa] = [a.strides()[0], a.strides()[1]];
    let [rsb, csb] = [b.strides()[0], b.strides()[1]];
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

/// Parallel `C ← α·A·B + β·C`: rayon tasks own disjoint blocks of [`ROW_BLOCK`] rows of C.
///
/// Stays on the calling thread when `m·k·n` < [`PARALLEL_MIN_FLOPS`] or C has a single
/// block. Results are bit-identical to [`gemm_serial`] at every thread count because
/// each row block runs the same single-threaded kernel.
///
/// # Panics
/// If the shapes of A (M,K), B (K,N) and C (M,N) disagree.
pub fn gemm<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) {
    let (m, k, n) = check_shapes(&a, &b, &c);
    if m.saturating_mul(k).saturating_mul(n) < PARALLEL_MIN_FLOPS || m <= ROW_BLOCK {
        gemm_serial(alpha, a, b, beta, c);
        return;
    }
    let a_blocks: Vec<_> = a.axis_chunks_iter(Axis(0), ROW_BLOCK).collect();
    let c_blocks: Vec<_> = c.axis_chunks_iter_mut(Axis(0), ROW_BLOCK).collect();
    rayon::scope(|s| {
        for (a_blk, c_blk) in a_blocks.into_iter().zip(c_blocks) {
            let b = b.view();
            s.spawn(move |_| gemm_serial(alpha, a_blk, b, beta, c_blk));
        }
    });
}
