//! The outer kernel (notes/gemm.md §2), for every layout the dot kernel does not take: a
//! 6×2L tile of C holds 12 vector accumulators; for each `p` in increasing order `A[i, p]`
//! is broadcast and multiplied into a row of 2L values of B, one fused multiply-add per
//! product, so each element of C is one FMA chain in k order. k runs in chunks of
//! `OUTER_KC`; between chunks the accumulators are parked in memory and reloaded (exact).
//! B is read in place when its rows are contiguous and near, else copied once in 2L-column
//! panels; a block of `OUTER_MC` rows of A is copied when A's k-stride is far.
//!
//! Every function here is `#[inline(always)]`: it is compiled inside the entry point of its
//! instruction set, so the vector operations inline into it.

use super::scratch::panels;
use super::simd::Simd;
use super::{Mat, MatMut, far, finish, lanes, nr};
use crate::Float;
use crate::gemm::tuning::{OUTER_KC, OUTER_MC};

/// Rows of C per outer tile.
const MR: usize = 6;
/// The widest outer tile, in elements: two vectors of `f32`.
const NR_MAX: usize = 2 * super::VECTOR_BYTES / size_of::<f32>();

/// Which operands the outer kernel copies: `(A, B)`. A when its k-stride is far; B when
/// its rows are not contiguous or lie far apart. A function of the strides only.
pub(super) fn copies<E>(csa: isize, rsb: isize, csb: isize) -> (bool, bool) {
    (
        csa.unsigned_abs() >= far::<E>(),
        csb != 1 || rsb.unsigned_abs() >= far::<E>(),
    )
}

/// Elements of the outer kernel's copies for k steps and n columns of B: `(A, B)`. A is one
/// block of `OUTER_MC` rows, B all its 2L-column panels.
pub(super) fn copy_len<E>(k: usize, n: usize, (copy_a, copy_b): (bool, bool)) -> (usize, usize) {
    let nr = nr::<E>();
    (
        if copy_a { OUTER_MC * k } else { 0 },
        if copy_b { n.div_ceil(nr) * nr * k } else { 0 },
    )
}

/// The outer kernel over all of C: blocks of `OUTER_MC` rows; within a block, for each
/// 2L-column panel of B (copied into the thread's buffer unless B's rows are contiguous and
/// near), every row sextet of A.
///
/// # Safety
/// `S` must run on this CPU; the contract of [`super::gemm`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm<E: Float, S: Simd<E>>(
    m: usize,
    k: usize,
    n: usize,
    alpha: E,
    a: Mat<E>,
    b: Mat<E>,
    beta: E,
    c: MatMut<E>,
) {
    let nr = nr::<E>();
    let (copy_a, copy_b) = copies::<E>(a.cs, b.rs, b.cs);
    // The accumulators of the block's tiles between chunks of k (OUTER_MC × 2L used).
    let mut saved = [E::zero(); OUTER_MC * NR_MAX];
    let n_panels = n.div_ceil(nr);
    let (len_a, len_b) = copy_len::<E>(k, n, (copy_a, copy_b));
    // Used only within this call, which grows no buffer of this thread again.
    let (buf_a, buf_b) = panels::<E>(len_a, len_b);
    if copy_b {
        // All of B, once: panel q at buf_b + q·k·2L, reused by every block of rows.
        for q in 0..n_panels {
            let cols = (n - q * nr).min(nr);
            // SAFETY: columns 2Lq..2Lq+cols of B are inside B; buf_b holds n_panels·k·2L
            // elements.
            unsafe { pack_b::<E, S>(k, cols, b.at(0, q * nr), buf_b.add(q * nr * k)) };
        }
    }
    for i0 in (0..m).step_by(OUTER_MC) {
        let i_end = (i0 + OUTER_MC).min(m);
        // The rows of A this block uses: in place, or copied tile by tile.
        // SAFETY: rows i0..i_end of A are inside A; buf_a holds OUTER_MC·k.
        let a_blk = unsafe {
            if copy_a {
                pack_a(k, i_end - i0, a.at(i0, 0), buf_a);
                Mat {
                    ptr: buf_a as *const E,
                    rs: 1,
                    cs: MR as isize,
                }
            } else {
                a.at(i0, 0)
            }
        };
        for j in (0..n).step_by(nr) {
            let cols = (n - j).min(nr);
            // SAFETY: columns j..j+cols of B are inside B, or copied at panel j/2L.
            let bt = unsafe {
                if copy_b {
                    Mat {
                        ptr: buf_b.add(j * k) as *const E,
                        rs: nr as isize,
                        cs: 1,
                    }
                } else {
                    b.at(0, j)
                }
            };
            // k in chunks of OUTER_KC steps (at least one chunk, for k = 0): the chunk of B
            // stays in L1 while every tile of the block passes over it.
            let chunks = k.div_ceil(OUTER_KC).max(1);
            for ch in 0..chunks {
                let p0 = ch * OUTER_KC;
                let kc = k.saturating_sub(p0).min(OUTER_KC);
                let (first, last) = (ch == 0, ch + 1 == chunks);
                let mut i = i0;
                while i < i_end {
                    let rows = (i_end - i).min(MR);
                    let save = saved.as_mut_ptr().wrapping_add((i - i0) * nr);
                    let flags = (first, last, save);
                    // SAFETY: the tile (i, j) + (rows, cols) is inside C; its rows of A are
                    // inside A or, copied, at tile (i − i0)/6 of buf_a (k·6 each); columns
                    // p0..p0+kc of A and rows p0..p0+kc of B are inside them; `save` has
                    // rows·2L elements left in `saved`.
                    unsafe {
                        let at = if copy_a {
                            a_blk.ptr.add((i - i0) * k + p0 * MR)
                        } else {
                            a_blk.at(i - i0, p0).ptr
                        };
                        let at = Mat { ptr: at, ..a_blk };
                        let bk = bt.at(p0, 0);
                        let ct = c.at(i, j);
                        match rows {
                            6 => tile::<E, S, 6>(kc, cols, alpha, at, bk, beta, ct, flags),
                            5 => tile::<E, S, 5>(kc, cols, alpha, at, bk, beta, ct, flags),
                            4 => tile::<E, S, 4>(kc, cols, alpha, at, bk, beta, ct, flags),
                            3 => tile::<E, S, 3>(kc, cols, alpha, at, bk, beta, ct, flags),
                            2 => tile::<E, S, 2>(kc, cols, alpha, at, bk, beta, ct, flags),
                            _ => tile::<E, S, 1>(kc, cols, alpha, at, bk, beta, ct, flags),
                        }
                    }
                    i += rows;
                }
            }
        }
    }
}

/// Copies `rows` (≤ `OUTER_MC`) rows of A (k columns) into `dst` tile by tile: tile t holds
/// rows 6t..6t+6 as k groups of 6 (`dst[(6t)·k + 6p + r] = A[6t + r, p]`), so the outer
/// kernel's 6 broadcasts per p read one cache line. Rows past `rows` are not written (the
/// tile that would read them has fewer rows).
///
/// # Safety
/// Rows `..rows` of A are inside A; `dst` holds `OUTER_MC·k` elements.
#[inline(always)]
unsafe fn pack_a<E: Float>(k: usize, rows: usize, a: Mat<E>, dst: *mut E) {
    for t in 0..rows.div_ceil(MR) {
        let r_end = (rows - t * MR).min(MR);
        for p in 0..k {
            for r in 0..r_end {
                // SAFETY: A[6t + r, p] is inside A; the index is < OUTER_MC·k.
                unsafe {
                    *dst.add(t * MR * k + p * MR + r) = *a
                        .ptr
                        .offset((t * MR + r) as isize * a.rs + p as isize * a.cs);
                }
            }
        }
    }
}

/// Copies `cols` (≤ 2L) columns of B (k rows) into `dst` as k rows of 2L (the unused
/// columns are zero).
///
/// # Safety
/// `S` runs on this CPU; columns `..cols` of B are inside B; `dst` holds `k·2L` elements.
#[inline(always)]
unsafe fn pack_b<E: Float, S: Simd<E>>(k: usize, cols: usize, b: Mat<E>, dst: *mut E) {
    let (l, nr) = (lanes::<E>(), nr::<E>());
    for p in 0..k {
        // SAFETY: row p, columns < cols of B are inside B; dst holds k·2L elements.
        unsafe {
            let row = b.ptr.offset(p as isize * b.rs);
            let out = dst.add(p * nr);
            if cols == nr && b.cs == 1 {
                S::store(out, S::load(row));
                S::store(out.add(l), S::load(row.add(l)));
                continue;
            }
            for s in 0..nr {
                *out.add(s) = if s < cols {
                    *row.offset(s as isize * b.cs)
                } else {
                    E::zero()
                };
            }
        }
    }
}

/// One R×2L tile (R ≤ 6, `cols` ≤ 2L columns stored) of the outer kernel over the k steps
/// of one chunk: `acc[r, s] += A[r, p]·B[p, s]` by one fma per p in increasing order. The
/// accumulators start at 0 on the `first` chunk, else from `save` (R × 2L elements), where
/// they are left after every chunk but the `last`; after the last, `C ← α·acc (+ β·C)`.
/// Saving and reloading is exact, so a tile computed in chunks gets the same bits as in one
/// go. B's rows are contiguous (`b.cs = 1`), at `b.ptr + p·b.rs`.
///
/// # Safety
/// As [`gemm`], for the tile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<E: Float, S: Simd<E>, const R: usize>(
    k: usize,
    cols: usize,
    alpha: E,
    a: Mat<E>,
    b: Mat<E>,
    beta: E,
    c: MatMut<E>,
    (first, last, save): (bool, bool, *mut E),
) {
    let (l, nr) = (S::LANES, nr::<E>());
    debug_assert!(R <= MR && cols <= nr && b.cs == 1);
    // SAFETY: S runs on this CPU (this function's contract).
    let mut acc = [[unsafe { S::zero() }; 2]; R];
    if !first {
        for (r, v) in acc.iter_mut().enumerate() {
            // SAFETY: `save` holds R × 2L elements.
            unsafe {
                v[0] = S::load(save.add(r * nr));
                v[1] = S::load(save.add(r * nr + l));
            }
        }
    }
    let mut ar = [a.ptr; R];
    for (r, p) in ar.iter_mut().enumerate() {
        // SAFETY: row r of the tile is inside A.
        *p = unsafe { a.ptr.offset(r as isize * a.rs) };
    }
    // SAFETY (whole body): element (r, p) of A is `ar[r] + p·a.cs`, row p of B starts at
    // `b.ptr + p·b.rs` with `cols` valid elements; masked lanes are not read.
    unsafe {
        if cols == nr {
            let mut bp = b.ptr;
            let mut off = 0isize;
            for _ in 0..k {
                let b0 = S::load(bp);
                let b1 = S::load(bp.add(l));
                for r in 0..R {
                    let av = S::broadcast(ar[r].offset(off));
                    acc[r][0] = S::fma(av, b0, acc[r][0]);
                    acc[r][1] = S::fma(av, b1, acc[r][1]);
                }
                bp = bp.offset(b.rs);
                off += a.cs;
            }
        } else {
            let m0 = S::mask(cols.min(l));
            let m1 = S::mask(cols.saturating_sub(l));
            let mut bp = b.ptr;
            let mut off = 0isize;
            for _ in 0..k {
                let b0 = S::maskload(bp, m0);
                let b1 = S::maskload(bp.add(l), m1);
                for r in 0..R {
                    let av = S::broadcast(ar[r].offset(off));
                    acc[r][0] = S::fma(av, b0, acc[r][0]);
                    acc[r][1] = S::fma(av, b1, acc[r][1]);
                }
                bp = bp.offset(b.rs);
                off += a.cs;
            }
        }
        if last {
            store_tile::<E, S, R>(cols, alpha, acc, beta, c);
        } else {
            for (r, v) in acc.iter().enumerate() {
                S::store(save.add(r * nr), v[0]);
                S::store(save.add(r * nr + l), v[1]);
            }
        }
    }
}

/// `C[r, s] ← α·acc[r, s] (+ β·C[r, s])` for r < R, s < cols: vector loads and stores when
/// C's rows are contiguous, else element by element — the same fma either way.
///
/// # Safety
/// `S` runs on this CPU; (r, s) with r < R, s < cols lies inside C.
#[inline(always)]
unsafe fn store_tile<E: Float, S: Simd<E>, const R: usize>(
    cols: usize,
    alpha: E,
    acc: [[S::V; 2]; R],
    beta: E,
    c: MatMut<E>,
) {
    let (l, nr) = (S::LANES, nr::<E>());
    // SAFETY (whole body): S runs on this CPU; (r, s) with r < R, s < cols lies inside C;
    // masked lanes are neither read nor written.
    unsafe {
        let va = S::splat(alpha);
        let vb = S::splat(beta);
        if c.cs == 1 {
            let m0 = S::mask(cols.min(l));
            let m1 = S::mask(cols.saturating_sub(l));
            for (r, v) in acc.iter().enumerate() {
                let row = c.ptr.offset(r as isize * c.rs);
                store_half::<E, S>(row, v[0], m0, cols >= l, va, vb, beta);
                store_half::<E, S>(row.add(l), v[1], m1, cols >= nr, va, vb, beta);
            }
        } else {
            for (r, v) in acc.iter().enumerate() {
                let mut buf = [E::zero(); NR_MAX];
                S::store(buf.as_mut_ptr(), v[0]);
                S::store(buf.as_mut_ptr().add(l), v[1]);
                for (s, &x) in buf.iter().enumerate().take(cols) {
                    let cp = &mut *c.ptr.offset(r as isize * c.rs + s as isize * c.cs);
                    finish(x, alpha, beta, cp);
                }
            }
        }
    }
}

/// One vector of a row of C: `dst ← α·v (+ β·dst)`, all L lanes when `full`, else the
/// lanes of `m`.
///
/// # Safety
/// `S` runs on this CPU; the L (full) or masked lanes at `dst` are inside C.
#[inline(always)]
unsafe fn store_half<E: Float, S: Simd<E>>(
    dst: *mut E,
    v: S::V,
    m: S::M,
    full: bool,
    va: S::V,
    vb: S::V,
    beta: E,
) {
    // SAFETY: the caller guarantees the L (full) or masked lanes at dst are inside C.
    unsafe {
        let t = S::mul(va, v);
        let out = if beta == E::zero() {
            t
        } else if full {
            S::fma(vb, S::load(dst), t)
        } else {
            S::fma(vb, S::maskload(dst, m), t)
        };
        if full {
            S::store(dst, out);
        } else {
            S::maskstore(dst, m, out);
        }
    }
}
