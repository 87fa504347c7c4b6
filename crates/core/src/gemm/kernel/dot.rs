//! The dot kernel (notes/gemm.md §2): rows of A and columns of B both contiguous along k
//! (the forward pass `X·Θᵀ`), k ≥ `DOT_MIN_K`. A 3×4 tile of C holds 12 L-lane partial
//! sums: lane `l` sums the products with `p ≡ l (mod L)` in increasing `p` (the last
//! `k mod L` through a masked load), then [`Simd::hsum`] adds the lanes in its fixed tree.
//! No copy of either operand.
//!
//! Every function here is `#[inline(always)]`: it is compiled inside the entry point of its
//! instruction set (`run_avx2`, or plain code for the scalar twin), so the vector operations
//! inline into it.

use super::simd::{Halves, Simd};
use super::{Mat, MatMut, Product, finish};
use crate::Float;
use crate::gemm::tuning::dot_block_rows;

/// Rows of C per dot tile.
const DOT_R: usize = 3;
/// Columns of C per dot tile.
const DOT_C: usize = 4;

/// The dot kernel over all of C: blocks of at most `DOT_MC` rows, within a block every column quad
/// of B against every row triple of A.
///
/// # Safety
/// `S` must run on this CPU; A's rows and B's columns contiguous (`a.cs = b.rs = 1`); the
/// contract of [`super::gemm`].
#[inline(always)]
pub(super) unsafe fn gemm<E: Float, S: Simd<E>>(p: Product<E>) {
    /// The 256-bit tiles.
    struct Tiles<E, S>(Product<E>, std::marker::PhantomData<S>);
    impl<E: Float, S: Simd<E>> TileRunner for Tiles<E, S> {
        #[inline(always)]
        unsafe fn tile(&mut self, i: usize, j: usize, rows: usize, cols: usize) {
            let p = self.0;
            let mats = (p.a, p.b, p.c);
            // SAFETY: (i, j) + (rows, cols) lies inside C (this method's contract).
            unsafe { tile_at::<E, S>(p.k, p.alpha, mats, p.beta, i, j, rows, cols) }
        }
    }
    // SAFETY: forwarded to the caller.
    unsafe { blocks::<E, S>(p, DOT_R, DOT_C, Tiles::<E, S>(p, std::marker::PhantomData)) };
}

/// The 256-bit dot tile at (i, j) with `rows` ≤ 3 rows and `cols` ≤ 4 columns.
///
/// # Safety
/// As [`tile`], for the tile at (i, j).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_at<E: Float, S: Simd<E>>(
    k: usize,
    alpha: E,
    (a, b, c): (Mat<E>, Mat<E>, MatMut<E>),
    beta: E,
    i: usize,
    j: usize,
    rows: usize,
    cols: usize,
) {
    // SAFETY: forwarded to the caller.
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
}

/// The dot kernel on vectors of two 256-bit halves ([`Halves`], AVX-512): a 6×8 tile of C
/// holds 24 accumulators, each the partial sums of one row of A against two columns of B
/// (one per half). Each half's lanes are exactly those of [`gemm`]'s accumulator for that
/// element — lane `l` sums the products with `p ≡ l (mod H)` in increasing `p`, the last
/// `k mod H` through a masked load — and are added in the same tree, so the bits are
/// [`gemm`]'s; only twice as many elements advance per instruction.
///
/// # Safety
/// `P` must run on this CPU; A's rows and B's columns contiguous (`a.cs = b.rs = 1`); the
/// contract of [`super::gemm`].
#[inline(always)]
pub(super) unsafe fn gemm_halves<E: Float, P: Halves<E>>(p: Product<E>) {
    /// The tiles of two halves.
    struct Tiles<E, P>(Product<E>, std::marker::PhantomData<P>);
    impl<E: Float, P: Halves<E>> TileRunner for Tiles<E, P> {
        #[inline(always)]
        unsafe fn tile(&mut self, i: usize, j: usize, rows: usize, cols: usize) {
            let p = self.0;
            // SAFETY: (i, j) + (rows, cols) lies inside C (this method's contract).
            unsafe {
                let (a, b, c) = (p.a.at(i, 0), p.b.at(0, j), p.c.at(i, j));
                let t = (p.k, cols, p.alpha, a, b, p.beta, c);
                match rows {
                    6 => tile_halves_rows::<E, P, 6>(t),
                    5 => tile_halves_rows::<E, P, 5>(t),
                    4 => tile_halves_rows::<E, P, 4>(t),
                    3 => tile_halves_rows::<E, P, 3>(t),
                    2 => tile_halves_rows::<E, P, 2>(t),
                    _ => tile_halves_rows::<E, P, 1>(t),
                }
            }
        }
    }
    let tiles = Tiles::<E, P>(p, std::marker::PhantomData);
    // SAFETY: forwarded to the caller.
    unsafe { blocks::<E, P>(p, HALVES_R, 2 * HALVES_PAIRS, tiles) };
}

/// Computes one tile of C for [`blocks`]. A trait rather than a closure: a closure's body
/// is a function of its own, compiled without the instruction set of the entry point
/// (`run_avx2`, `run_avx512`) unless inlined, which nothing guarantees — and then every
/// vector operation in it becomes a call (measured: 0.66 GFLOP/s instead of tens).
trait TileRunner {
    /// The tile at (i, j) with `rows` rows and `cols` columns.
    ///
    /// # Safety
    /// The tile lies inside C; the kernel's contract holds.
    unsafe fn tile(&mut self, i: usize, j: usize, rows: usize, cols: usize);
}

/// Rows of C per tile of [`gemm_halves`].
const HALVES_R: usize = 6;
/// Column pairs of C per tile of [`gemm_halves`] (8 columns).
const HALVES_PAIRS: usize = 4;

/// One tile's operands for [`tile_halves`]: k, columns stored, α, A, B, β, C.
type HalvesTile<E> = (usize, usize, E, Mat<E>, Mat<E>, E, MatMut<E>);

/// [`tile_halves`] with the number of column pairs as a constant.
///
/// # Safety
/// As [`tile_halves`].
#[inline(always)]
unsafe fn tile_halves_rows<E: Float, P: Halves<E>, const R: usize>(t: HalvesTile<E>) {
    // SAFETY: forwarded to the caller.
    unsafe {
        match t.1.div_ceil(2) {
            4 => tile_halves::<E, P, R, 4>(t),
            3 => tile_halves::<E, P, R, 3>(t),
            2 => tile_halves::<E, P, R, 2>(t),
            _ => tile_halves::<E, P, R, 1>(t),
        }
    }
}

/// One R×2Q tile (`cols` ≤ 2Q columns stored) of [`gemm_halves`]: accumulator (r, q) holds
/// row r of A against columns 2q (low half) and 2q + 1 (high half) of B; a missing last
/// column reads column 2q again and is not stored.
///
/// # Safety
/// As [`gemm_halves`], for the tile.
#[inline(always)]
unsafe fn tile_halves<E: Float, P: Halves<E>, const R: usize, const Q: usize>(
    (k, cols, alpha, a, b, beta, c): HalvesTile<E>,
) {
    let h = P::LANES / 2;
    debug_assert!(R <= HALVES_R && Q <= HALVES_PAIRS && cols <= 2 * Q && cols > 2 * Q - 2);
    // SAFETY: P runs on this CPU (this function's contract).
    let mut acc = [[unsafe { P::zero() }; Q]; R];
    let mut ar = [a.ptr; R];
    let mut b0 = [b.ptr; Q];
    let mut b1 = [b.ptr; Q];
    for (r, p) in ar.iter_mut().enumerate() {
        // SAFETY: row r < R of the tile is inside A.
        *p = unsafe { a.ptr.offset(r as isize * a.rs) };
    }
    for q in 0..Q {
        let hi = if 2 * q + 1 < cols { 2 * q + 1 } else { 2 * q };
        // SAFETY: columns 2q and `hi` < cols of the tile are inside B.
        unsafe {
            b0[q] = b.ptr.offset((2 * q) as isize * b.cs);
            b1[q] = b.ptr.offset(hi as isize * b.cs);
        }
    }
    // SAFETY (whole body): P runs on this CPU; the masked-on elements of each row of A and
    // column of B lie inside them (p + on ≤ k); masked-off lanes are neither read nor
    // faulted on and load as 0, as in the 256-bit kernel.
    unsafe {
        let mut av = [P::zero(); R];
        // Full steps of H (plain loads), then one masked step for the last k mod H. Two
        // copies of the step, not a closure: see `TileRunner`.
        let full = k / h * h;
        let mut p = 0;
        while p < full {
            for r in 0..R {
                av[r] = P::broadcast_half_full(ar[r].add(p));
            }
            for q in 0..Q {
                let bv = P::load_halves_full(b0[q].add(p), b1[q].add(p));
                for r in 0..R {
                    acc[r][q] = P::fma(av[r], bv, acc[r][q]);
                }
            }
            p += h;
        }
        if p < k {
            let on = P::mask(k - p);
            for r in 0..R {
                av[r] = P::broadcast_half(ar[r].add(p), on);
            }
            for q in 0..Q {
                let bv = P::load_halves(b0[q].add(p), b1[q].add(p), on);
                for r in 0..R {
                    acc[r][q] = P::fma(av[r], bv, acc[r][q]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (q, v) in row.iter().enumerate() {
                let (lo, hi) = P::hsum_halves(*v);
                let at = |s: usize| &mut *c.ptr.offset(r as isize * c.rs + s as isize * c.cs);
                finish(lo, alpha, beta, at(2 * q));
                if 2 * q + 1 < cols {
                    finish(hi, alpha, beta, at(2 * q + 1));
                }
            }
        }
    }
}

/// Runs `tiles.tile(i, j, rows, cols)` over C in tiles of `tr` rows × `tc` columns: blocks of
/// [`dot_block_rows`] rows (at most `DOT_MC`, of equal length), within a block every column group against every row group; the next
/// block's rows of A are fetched into L2 a slice per column group, while this block
/// computes (a block's first pass would otherwise wait on memory).
///
/// # Safety
/// `S` must run on this CPU (its prefetch); `tiles` must be safe to run on every tile of C.
#[inline(always)]
unsafe fn blocks<E: Float, S: Simd<E>>(
    p: Product<E>,
    tr: usize,
    tc: usize,
    mut tiles: impl TileRunner,
) {
    let Product { m, k, n, a, .. } = p;
    let groups = n.div_ceil(tc);
    let per_line = 64 / size_of::<E>(); // elements per 64-byte line
    let lines_per_row = k.div_ceil(per_line);
    let mc = dot_block_rows(m, tr);
    for i0 in (0..m).step_by(mc) {
        let i_end = (i0 + mc).min(m);
        let next = (i_end.min(m), (i_end + mc).min(m));
        let lines = (next.1 - next.0) * lines_per_row;
        let per_group = lines.div_ceil(groups);
        for (g, j) in (0..n).step_by(tc).enumerate() {
            for l in g * per_group..((g + 1) * per_group).min(lines) {
                let (r, line) = (next.0 + l / lines_per_row, l % lines_per_row);
                let addr = a
                    .ptr
                    .wrapping_offset(r as isize * a.rs)
                    .wrapping_add(line * per_line);
                // SAFETY: a prefetch is a hint: it never faults and changes no value.
                unsafe { S::prefetch_l2(addr) };
            }
            let cols = (n - j).min(tc);
            let mut i = i0;
            while i < i_end {
                let rows = (i_end - i).min(tr);
                // SAFETY: the tile lies inside C; the caller vouches for the rest.
                unsafe { tiles.tile(i, j, rows, cols) };
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
