//! General matrix multiply, `C ← α·A·B + β·C` (notes/gemm.md, eq. G1).
//!
//! Three entry points with one contract:
//! - [`gemm_naive`]: the triple-loop reference every fast path is tested against (eq. G2);
//! - [`gemm_serial`]: one single-threaded call: our own kernel ([`kernel`]) for `f32` and
//!   `f64` when it runs on this CPU ([`kernel::active_isa`]), otherwise matrixmultiply
//!   ([`fallback`]);
//! - [`gemm`]: the parallel GEMM. C is cut into blocks of rows (or of columns, when C is
//!   wide) chosen from the shape alone ([`split_for`], eq. G3); each rayon task owns one
//!   block and runs one single-threaded [`gemm_serial`] call on it. The k-sum is never split
//!   across threads, so every element of C is computed by the same instruction sequence
//!   whatever the thread count (bit-identical results). A row split whose kernel copies B
//!   packs B once, on the calling thread, and its blocks share it (eq. G4).
//!
//! The numbers that were measured to pick the blocks and the kernel's cache blocking live
//! in [`tuning`]. Operands are ndarray views with arbitrary (even negative) strides: pass
//! `a.t()` to use Aᵀ — transposes are strides, never copies.
//!
//! Shapes: A is (M, K), B is (K, N), C is (M, N).

pub mod cache;
pub mod fallback;
pub mod kernel;
pub mod tuning;

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

pub use fallback::gemm_fallback;
pub use kernel::Isa;
pub use tuning::{MAX_BLOCKS, MIN_BLOCK, PARALLEL_MIN_MACS, Split, split_for, split_for_layout};

use crate::Float;

/// The shapes (M, K, N) of A (M,K) · B (K,N) into C (M,N).
///
/// # Panics
/// If they disagree, naming both.
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

/// Reference triple loop: `C ← α·A·B + β·C` (eq. G2), summing k in increasing order in `T`.
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

/// Single-threaded `C ← α·A·B + β·C`: our own kernel ([`kernel::gemm`], `f32` and `f64`)
/// on the instruction set [`kernel::active_isa`] names, else matrixmultiply
/// ([`gemm_fallback`]).
///
/// The kernel allocates only to grow the calling thread's copy buffers (none once a
/// [`kernel::Scratch`] for the product is reserved); matrixmultiply allocates a packing
/// buffer on every call.
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
    let ran = kernel::active_isa()
        .is_some_and(|isa| gemm_serial_on(isa, alpha, a.view(), b.view(), beta, c.view_mut()));
    if !ran {
        gemm_fallback(alpha, a, b, beta, c);
    }
}

/// [`gemm_serial`] on our kernel with the instruction set `isa`, whatever
/// [`kernel::active_isa`] says; `false` (C untouched) when this CPU lacks `isa` or `T` is
/// not `f32` or `f64`. Every instruction set gives the same bits (notes/gemm.md §2); the
/// tests prove it by comparing each with [`Isa::Scalar`] through this function.
///
/// If `beta` is zero, C need not be initialised.
///
/// # Panics
/// If the shapes of A (M,K), B (K,N) and C (M,N) disagree.
pub fn gemm_serial_on<T: Float>(
    isa: Isa,
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) -> bool {
    let (m, k, n) = check_shapes(&a, &b, &c);
    let [rsa, csa] = [a.strides()[0], a.strides()[1]];
    let [rsb, csb] = [b.strides()[0], b.strides()[1]];
    let [rsc, csc] = [c.strides()[0], c.strides()[1]];
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY: the views guarantee that pointer + strides describe valid matrices of the
    // checked shapes; C is a unique mutable view, so it does not overlap A or B.
    unsafe {
        kernel::gemm_on(
            isa, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
        )
    }
}

/// Parallel `C ← α·A·B + β·C` (eq. G1): rayon tasks own disjoint blocks of C (eq. G3, G3′).
///
/// The blocks come from [`split_for_layout`] (the shape, and which operand the kernel
/// copies); each runs one single-threaded
/// [`gemm_serial`] call on its rows of A and C (or columns of B and C). The k-sum of every
/// element is done by one call, in one order, so C is bit-identical to [`gemm_serial`]'s at
/// every thread count. Below [`PARALLEL_MIN_MACS`] multiply-adds, or in a pool of one
/// thread, the whole product is one call on the calling thread.
///
/// Allocation: the splitting itself allocates nothing (rayon::join recursion on views), so
/// a call allocates exactly as often as the same blocks run through [`gemm_serial`] would:
/// never with our kernel once every worker's scratch is reserved
/// ([`kernel::reserve_scratch_in_pool`]), once per block with matrixmultiply.
///
/// If `beta` is zero, C need not be initialised.
///
/// # Panics
/// If the shapes of A (M,K), B (K,N) and C (M,N) disagree.
pub fn gemm<T: Float>(alpha: T, a: ArrayView2<T>, b: ArrayView2<T>, beta: T, c: ArrayViewMut2<T>) {
    let (m, k, n) = check_shapes(&a, &b, &c);
    let (sa, sb) = (a.strides(), b.strides());
    let copies = kernel::Scratch::for_product::<T>(k, n, sa[0], sa[1], sb[0], sb[1]);
    let split = split_for_layout(m, k, n, copies.a_bytes > 0, copies.b_bytes > 0);
    // In a pool of one thread the blocks would run one after another; one call computes
    // every element by the same chain as its block would (notes/gemm.md §3), so the bits
    // are the same, without the recursion and the per-block set-up. (Asked only for a split
    // product: a serial one never touches rayon, so it never starts the global pool.)
    let one_thread = || rayon::current_num_threads() == 1;
    match split {
        Split::Serial => gemm_serial(alpha, a, b, beta, c),
        _ if one_thread() => gemm_serial(alpha, a, b, beta, c),
        Split::Rows { block } if copies.b_bytes > 0 => {
            gemm_rows_sharing_b(alpha, a, b, beta, c, block)
        }
        Split::Rows { block } => gemm_blocks(alpha, a, b, beta, c, Axis(0), block, &gemm_serial),
        Split::Cols { block } => gemm_blocks(alpha, a, b, beta, c, Axis(1), block, &gemm_serial),
    }
}

/// A row split whose blocks would each copy all of B (eq. G4): B is packed once, on the
/// calling thread, into the outer kernel's column panels ([`kernel::with_packed_b`]), and
/// every block reads those panels ([`kernel::gemm_packed_b`]). Packing moves values and
/// computes nothing, so each element's chain is the one [`gemm_serial`] runs. When the
/// shared buffer is lent already (this thread is inside another such product), each block
/// copies B itself, as [`gemm_blocks`] does.
fn gemm_rows_sharing_b<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    c: ArrayViewMut2<T>,
    block: usize,
) {
    let Some(isa) = kernel::active_isa() else {
        return gemm_blocks(alpha, a, b, beta, c, Axis(0), block, &gemm_serial);
    };
    let (k, n) = b.dim();
    let strided_b = (b.as_ptr(), b.strides()[0], b.strides()[1]);
    // SAFETY: the view describes a valid (k, n) matrix; nothing writes B (C is a unique
    // mutable view, so it is not B) while the closure runs.
    unsafe {
        kernel::with_packed_b(
            isa,
            k,
            n,
            a.strides()[1],
            strided_b,
            |packed| match packed {
                Some(packed) => {
                    let leaf = |alpha: T,
                                a: ArrayView2<T>,
                                _: ArrayView2<T>,
                                beta: T,
                                c: ArrayViewMut2<T>| {
                        gemm_serial_packed_b(alpha, a, packed, beta, c)
                    };
                    gemm_blocks(alpha, a, b, beta, c, Axis(0), block, &leaf)
                }
                None => gemm_blocks(alpha, a, b, beta, c, Axis(0), block, &gemm_serial),
            },
        )
    }
}

/// One row block of [`gemm_rows_sharing_b`]: `C ← α·A·B + β·C` with B packed.
///
/// # Panics
/// If A (M, K) and C (M, N) disagree with the packed B (K, N).
fn gemm_serial_packed_b<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: kernel::PackedB<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) {
    let (m, k) = a.dim();
    assert_eq!(
        (k, c.dim()),
        (b.k, (m, b.n)),
        "gemm: the packed B does not fit A and C"
    );
    let (sa, sc) = (
        [a.strides()[0], a.strides()[1]],
        [c.strides()[0], c.strides()[1]],
    );
    // SAFETY: the views describe valid matrices of the checked shapes; C is a unique
    // mutable view; `b` is used inside its `with_packed_b` closure.
    unsafe {
        kernel::gemm_packed_b(
            m,
            alpha,
            a.as_ptr(),
            sa[0],
            sa[1],
            b,
            beta,
            c.as_mut_ptr(),
            sc[0],
            sc[1],
        );
    }
}

/// Runs `C ← α·A·B + β·C` as one `leaf` call ([`gemm_serial`], or a row block on a shared
/// packed B) per block of `block` rows
/// (`axis = 0`: A and C cut by rows) or columns (`axis = 1`: B and C cut by columns) of C.
///
/// Halves the range at a block boundary and recurses through `rayon::join`, so the leaves
/// are exactly the blocks `[i·block, (i+1)·block)` whatever the thread count or the order
/// in which threads steal them; no heap allocation (join's jobs live on the stack).
#[allow(clippy::too_many_arguments)]
fn gemm_blocks<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    c: ArrayViewMut2<T>,
    axis: Axis,
    block: usize,
    leaf: &(impl Fn(T, ArrayView2<T>, ArrayView2<T>, T, ArrayViewMut2<T>) + Sync),
) {
    debug_assert!(block > 0);
    let len = c.len_of(axis);
    if len <= block {
        leaf(alpha, a, b, beta, c);
        return;
    }
    // len > block ⇒ at least 2 blocks, so block ≤ mid < len.
    let mid = len.div_ceil(block) / 2 * block;
    let (c0, c1) = c.split_at(axis, mid);
    // Rows of C are rows of A (times all of B); columns of C are columns of B (all of A times).
    let ((a0, a1), (b0, b1)) = if axis == Axis(0) {
        (a.split_at(Axis(0), mid), (b, b))
    } else {
        ((a, a), b.split_at(Axis(1), mid))
    };
    rayon::join(
        || gemm_blocks(alpha, a0, b0, beta, c0, axis, block, leaf),
        || gemm_blocks(alpha, a1, b1, beta, c1, axis, block, leaf),
    );
}
