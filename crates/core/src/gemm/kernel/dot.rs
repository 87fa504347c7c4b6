//! The dot kernel (notes/gemm.md §2): rows of A and columns of B both contiguous along k
//! (the forward pass `X·Θᵀ`), k ≥ `DOT_MIN_K`. A 3×4 tile of C holds 12 L-lane partial
//! sums: lane `l` sums the products with `p ≡ l (mod L)` in increasing `p` (the last
//! `k mod L` through a masked load), then [`Simd::hsum`] adds the lanes in its fixed tree.
//! No copy of either operand.
//!
//! Every function here is `#[inline(always)]`: it is compiled inside the entry point of its
//! instruction set (`run_avx2`, or plain code for the scalar twin), so the vector operations
//! inline into it.

use super::simd::Simd;
use super::{Mat, MatMut, Product, finish};
use crate::Float;
use crate::gemm::tuning::DOT_MC;

/// Rows of C per dot tile.
const DOT_R: usize = 3;
/// Columns of C per dot tile.
const DOT_C: usize = 4;

/// The dot kernel over all of C: blocks of `DOT_MC` rows, within a block every column quad
/// of B against every row triple of A.
///
/// # Safety
/// `S` must run on this CPU; A's rows and B's columns contiguous (`a.cs = b.rs = 1`); the
/// contract of [`super::gemm`].
#[inline(always)]
pub(super) unsafe fn gemm<E: Float, S: Simd<E>>(p: Product<E>) {
    let Product {
        m,
        k,
        n,
        alpha,
        a,
        b,
        beta,
        c,
    } = p;
    let quads = n.div_ceil(DOT_C);
    let per_line = 64 / size_of::<E>(); // elements per 64-byte line
    let lines_per_row = k.div_ceil(per_line);
    for i0 in (0..m).step_by(DOT_MC) {
        let i_end = (i0 + DOT_MC).min(m);
        // The next block's rows of A are fetched into L2 a slice per column quad, while
        // this block computes: a block's first pass would otherwise wait on memory.
        let next = (i_end.min(m), (i_end + DOT_MC).min(m));
        let lines = (next.1 - next.0) * lines_per_row;
        let per_quad = lines.div_ceil(quads);
        for (q, j) in (0..n).step_by(DOT_C).enumerate() {
            for l in q * per_quad..((q + 1) * per_quad).min(lines) {
                let (r, line) = (next.0 + l / lines_per_row, l % lines_per_row);
                let addr = a
                    .ptr
                    .wrapping_offset(r as isize * a.rs)
                    .wrapping_add(line * per_line);
                // SAFETY: a prefetch is a hint: it never faults and changes no value.
                unsafe { S::prefetch_l2(addr) };
            }
            let cols = (n - j).min(DOT_C);
            let mut i = i0;
            while i < i_end {
                let rows = (i_end - i).min(DOT_R);
                // SAFETY: (i, j) + (rows, cols) lies inside C; the caller vouches for A, B.
                unsafe {
                    let (at, bt, ct) = (a.at(i, 0), b.at(0, j), c.at(i, j));
                    match (rows, cols) {
                        (3, 4) => tile::<E, S, 3, 4>(k, alpha, at, bt, beta, ct),
                        (3, 3) => tile::<E, S, 3, 3>(k, alpha, at, bt, beta, ct),
                        (3, 2) => tile::<E, S, 3, 2>(k, alpha, at, bt, beta, ct),
                        (3, 1) => tile::<E, S, 3, 1>(k, alpha, at, bt, beta, ct),
                        (2, 4) => tile::<E, S, 2, 4>(k, alpha, at, bt, beta, ct),
                        (2, 3) => tile::<E, S, 2, 3>(k, alpha, at, bt, beta, ct),
                        (2, 2) => tile::<E, S, 2, 2>(k, alpha, at, bt, beta, ct),
                        (2, 1) => tile::<E, S, 2, 1>(k, alpha, at, bt, beta, ct),
                        (1, 4) => tile::<E, S, 1, 4>(k, alpha, at, bt, beta, ct),
                        (1, 3) => tile::<E, S, 1, 3>(k, alpha, at, bt, beta, ct),
                        (1, 2) => tile::<E, S, 1, 2>(k, alpha, at, bt, beta, ct),
                        _ => tile::<E, S, 1, 1>(k, alpha, at, bt, beta, ct),
                    }
                }
                i += rows;
            }
        }
    }
}

/// One R×C tile of the dot kernel: `C[r, s] ← α·Σ_p A[r, p]·B[p, s] (+ β·C[r, s])`, rows of
/// A at `a.ptr + r·a.rs` and columns of B at `b.ptr + s·b.cs`, both contiguous.
///
/// # Safety
/// As [`gemm`], for the tile.
#[inline(always)]
unsafe fn tile<E: Float, S: Simd<E>, const R: usize, const C: usize>(
    k: usize,
    alpha: E,
    a: Mat<E>,
    b: Mat<E>,
    beta: E,
    c: MatMut<E>,
) {
    debug_assert!(R <= DOT_R && C <= DOT_C);
    let l = S::LANES;
    // SAFETY: S runs on this CPU (this function's contract).
    let mut acc = [[unsafe { S::zero() }; C]; R];
    let mut ar = [a.ptr; R];
    let mut bc = [b.ptr; C];
    for (r, p) in ar.iter_mut().enumerate() {
        // SAFETY: row r < R of the tile is inside A.
        *p = unsafe { a.ptr.offset(r as isize * a.rs) };
    }
    for (s, p) in bc.iter_mut().enumerate() {
        // SAFETY: column s < C of the tile is inside B.
        *p = unsafe { b.ptr.offset(s as isize * b.cs) };
    }
    // SAFETY: as above.
    let mut av = [unsafe { S::zero() }; R];
    let full = k / l * l;
    let mut p = 0;
    while p < full {
        // SAFETY: p + L ≤ k: the L elements of each row/column are inside A and B.
        unsafe {
            for r in 0..R {
                av[r] = S::load(ar[r].add(p));
            }
            for s in 0..C {
                let bv = S::load(bc[s].add(p));
                for r in 0..R {
                    acc[r][s] = S::fma(av[r], bv, acc[r][s]);
                }
            }
        }
        p += l;
    }
    if p < k {
        // SAFETY: the mask enables only the k − p < L elements inside A and B; masked-off
        // lanes are neither read nor faulted on and load as 0.
        unsafe {
            let mk = S::mask(k - p);
            for r in 0..R {
                av[r] = S::maskload(ar[r].add(p), mk);
            }
            for s in 0..C {
                let bv = S::maskload(bc[s].add(p), mk);
                for r in 0..R {
                    acc[r][s] = S::fma(av[r], bv, acc[r][s]);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (s, v) in row.iter().enumerate() {
            // SAFETY: (r, s) is inside the tile of C.
            unsafe {
                let cp = &mut *c.ptr.offset(r as isize * c.rs + s as isize * c.cs);
                finish(S::hsum(*v), alpha, beta, cp);
            }
        }
    }
}
