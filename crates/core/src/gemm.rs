//! General matrix multiply, `C ← α·A·B + β·C` (notes/gemm.md, eq. G1).
//!
//! Three entry points with one contract:
//! - [`gemm_naive`]: the triple-loop reference every fast path is tested against (eq. G2);
//! - [`gemm_serial`]: one single-threaded call: our own kernel for `f32` and `f64` on CPUs
//!   with AVX2+FMA ([`crate::kernel`]), otherwise matrixmultiply;
//! - [`gemm`]: the parallel GEMM. C is cut into blocks of rows (or of columns, when C is
//!   wide) chosen from the shape alone ([`split_for`], eq. G3); each rayon task owns one
//!   block and runs one single-threaded [`gemm_serial`] call on it. The k-sum is never split
//!   across threads, so every element of C is computed by the same instruction sequence
//!   whatever the thread count (bit-identical results).
//!
//! Operands are ndarray views with arbitrary (even negative) strides: pass `a.t()` to use
//! Aᵀ — transposes are strides, never copies.
//!
//! Shapes: A is (M, K), B is (K, N), C is (M, N).

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::Float;

/// How [`gemm`] divides C among rayon tasks (notes/gemm.md, eq. G3).
///
/// A pure function of the shape — see [`split_for`] — never of the thread count, so the
/// blocks, and therefore every bit of C, are the same on 1 thread or 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// One [`gemm_serial`] call on the calling thread.
    Serial,
    /// Blocks of `block` consecutive rows of C (and of A; all of B is shared).
    Rows {
        /// Rows per block; the last block takes the remainder.
        block: usize,
    },
    /// Blocks of `block` consecutive columns of C (and of B; all of A is shared).
    Cols {
        /// Columns per block; the last block takes the remainder.
        block: usize,
    },
}

/// Below this many multiply-adds (`m·k·n`, 2²¹ ≈ 2 M, ≈ 70 µs of one core) [`gemm`] stays
/// on the calling thread: waking a second thread costs more than it saves. First an
/// estimate; on a quiet machine 2¹⁹ measured no different on the 2-thread training step
/// (notes/gemm.md §3), so the estimate stands.
pub const PARALLEL_MIN_MACS: usize = 1 << 21;

/// The smallest block (rows or columns of C) one task gets: a multiple of the column tiles
/// (our kernels' 4 and 16 / 8, matrixmultiply's 8×8 / 8×4 for f32 / f64) so that column
/// blocks cut no tile a single call would have filled, and large enough to amortise a
/// block's fixed cost (copying the shared operand again, when the kernel copies it). Where
/// a block edge does cut a tile, only speed changes, never a bit (notes/gemm.md §3).
pub const MIN_BLOCK: usize = 64;

/// At most this many blocks: for large C the block grows (in steps of [`MIN_BLOCK`]) so that
/// the shared operand is packed at most this many times (notes/gemm.md §3).
pub const MAX_BLOCKS: usize = 8;

/// The split [`gemm`] uses for A (M,K) · B (K,N) — a function of `(m, k, n)` only (eq. G3).
///
/// C is cut along its longer side (rows when `m ≥ n`, else columns) into blocks of
/// `max(MIN_BLOCK, ⌈len / MAX_BLOCKS⌉ rounded up to a multiple of MIN_BLOCK)`; k is never
/// cut. Products under [`PARALLEL_MIN_MACS`] multiply-adds, or whose longer side fits one
/// block, are [`Split::Serial`].
pub fn split_for(m: usize, k: usize, n: usize) -> Split {
    if m.saturating_mul(k).saturating_mul(n) < PARALLEL_MIN_MACS {
        return Split::Serial;
    }
    let len = m.max(n);
    let block = block_len(len);
    if len <= block {
        Split::Serial
    } else if m >= n {
        Split::Rows { block }
    } else {
        Split::Cols { block }
    }
}

/// Rows or columns per block when C's cut side is `len` long (eq. G3).
fn block_len(len: usize) -> usize {
    len.div_ceil(MAX_BLOCKS)
        .div_ceil(MIN_BLOCK)
        .max(1)
        .saturating_mul(MIN_BLOCK)
}

/// [`split_for`], with the side to cut chosen by which operand the kernel copies (eq. G3′):
/// when only B is copied (its rows far apart or not contiguous), C is cut into columns, so
/// each block copies its own columns of B — cut into rows, every block would copy all of B;
/// when only A is copied, into rows, for the same reason. Otherwise, and when that side is
/// too short to cut, [`split_for`]'s choice. Like the shape, which operands are copied
/// depends on the strides alone ([`crate::kernel::Scratch::for_product`]), never on the
/// thread count.
pub fn split_for_layout(m: usize, k: usize, n: usize, copy_a: bool, copy_b: bool) -> Split {
    let split = split_for(m, k, n);
    if split == Split::Serial || copy_a == copy_b {
        return split;
    }
    let len = if copy_b { n } else { m };
    let block = block_len(len);
    match (len > block, copy_b) {
        (false, _) => split,
        (true, true) => Split::Cols { block },
        (true, false) => Split::Rows { block },
    }
}

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

/// Single-threaded `C ← α·A·B + β·C`: our own kernel ([`crate::kernel::gemm`], `f32` and
/// `f64`) when the CPU has AVX2 and FMA, else matrixmultiply ([`Float::gemm_raw`]).
///
/// The kernel allocates only to grow the calling thread's copy buffers (none once a
/// [`crate::kernel::Scratch`] for the product is reserved); matrixmultiply allocates a
/// packing buffer on every call.
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
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY (both calls): the views guarantee that pointer + strides describe valid
    // matrices of the checked shapes; C is a unique mutable view, so it does not overlap A
    // or B.
    unsafe {
        let done = crate::kernel::gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc);
        if !done {
            T::gemm_raw(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc);
        }
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
/// ([`crate::kernel::reserve_scratch_in_pool`]), once per block with matrixmultiply.
///
/// If `beta` is zero, C need not be initialised.
///
/// # Panics
/// If the shapes of A (M,K), B (K,N) and C (M,N) disagree.
pub fn gemm<T: Float>(alpha: T, a: ArrayView2<T>, b: ArrayView2<T>, beta: T, c: ArrayViewMut2<T>) {
    let (m, k, n) = check_shapes(&a, &b, &c);
    let (sa, sb) = (a.strides(), b.strides());
    let copies = crate::kernel::Scratch::for_product::<T>(k, n, sa[0], sa[1], sb[0], sb[1]);
    let split = split_for_layout(m, k, n, copies.a_bytes > 0, copies.b_bytes > 0);
    // In a pool of one thread the blocks would run one after another; one call computes
    // every element by the same chain as its block would (notes/gemm.md §3), so the bits
    // are the same, without the recursion and the per-block set-up. (Asked only for a split
    // product: a serial one never touches rayon, so it never starts the global pool.)
    let one_thread = || rayon::current_num_threads() == 1;
    match split {
        Split::Serial => gemm_serial(alpha, a, b, beta, c),
        _ if one_thread() => gemm_serial(alpha, a, b, beta, c),
        Split::Rows { block } => gemm_blocks(alpha, a, b, beta, c, Axis(0), block),
        Split::Cols { block } => gemm_blocks(alpha, a, b, beta, c, Axis(1), block),
    }
}

/// Runs `C ← α·A·B + β·C` as one [`gemm_serial`] call per block of `block` rows
/// (`axis = 0`: A and C cut by rows) or columns (`axis = 1`: B and C cut by columns) of C.
///
/// Halves the range at a block boundary and recurses through `rayon::join`, so the leaves
/// are exactly the blocks `[i·block, (i+1)·block)` whatever the thread count or the order
/// in which threads steal them; no heap allocation (join's jobs live on the stack).
fn gemm_blocks<T: Float>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    c: ArrayViewMut2<T>,
    axis: Axis,
    block: usize,
) {
    debug_assert!(block > 0);
    let len = c.len_of(axis);
    if len <= block {
        gemm_serial(alpha, a, b, beta, c);
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
        || gemm_blocks(alpha, a0, b0, beta, c0, axis, block),
        || gemm_blocks(alpha, a1, b1, beta, c1, axis, block),
    );
}
