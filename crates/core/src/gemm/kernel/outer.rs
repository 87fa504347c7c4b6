//! The outer kernel (notes/gemm.md §2), for every layout the dot kernel does not take: an
//! MR×NV·L tile of C (6×2 vectors on AVX2, per instruction set in `super::run_on`) holds
//! MR·NV vector accumulators; for each `p` in increasing order `A[i, p]`
//! is broadcast and multiplied into a row of NV·L values of B, one fused multiply-add per
//! product, so each element of C is one FMA chain in k order. k runs in chunks of
//! `outer_kc` steps (from the L1D size); between chunks the accumulators are parked in
//! memory and reloaded (exact). B is read in place when its rows are contiguous and near,
//! else copied once in NV·L-column panels — or arrives packed so by the caller, shared by
//! the row blocks of a parallel product (`super::with_packed_b`); a block of `OUTER_MC` rows
//! of A is copied when A's k-stride is far.
//!
//! Every function here is `#[inline(always)]`: it is compiled inside the entry point of its
//! instruction set, so the vector operations inline into it.

use std::mem::MaybeUninit;

use super::scratch::panels;
use super::simd::Simd;
use super::{Mat, MatMut, Product, far, finish};
use crate::Float;
use crate::gemm::tuning::{OUTER_MC, outer_kc};

/// The widest outer tile of any instruction set, in bytes of one row: four 512-bit vectors.
const NR_MAX_BYTES: usize = 256;
/// [`NR_MAX_BYTES`] in `f32` (the type with the most elements per row): the size of a row of
/// the parked accumulators.
const NR_MAX: usize = NR_MAX_BYTES / size_of::<f32>();

/// Which operands the outer kernel copies: `(A, B)`. A when its k-stride is far; B when
/// its rows are not contiguous or lie far apart. A function of the strides only.
pub(super) fn copies<E>(csa: isize, rsb: isize, csb: isize) -> (bool, bool) {
    (
        csa.unsigned_abs() >= far::<E>(),
        csb != 1 || rsb.unsigned_abs() >= far::<E>(),
    )
}

/// Elements of the outer kernel's copies for k steps and n columns of B: `(A, B)`. A is one
/// block of `OUTER_MC` rows, B all its column panels — bounded for the widest tile of any
/// instruction set, so one reservation serves them all.
pub(super) fn copy_len<E>(k: usize, n: usize, (copy_a, copy_b): (bool, bool)) -> (usize, usize) {
    let nr_max = NR_MAX_BYTES / size_of::<E>();
    (
        if copy_a { OUTER_MC * k } else { 0 },
        if copy_b { (n + nr_max - 1) * k } else { 0 },
    )
}

/// The outer kernel over all of C, with tiles of `MR` rows × `NV` vectors: blocks of rows
/// (the largest multiple of `MR` up to `OUTER_MC`); within a block, for each column panel of
/// B (copied into the thread's buffer unless B's rows are contiguous and near), every row
/// tile of A. The tile shape decides only which elements share registers, never the order of
/// an element's operations.
///
/// # Safety
/// `S` must run on this CPU; the contract of [`super::gemm`].
#[inline(always)]
pub(super) unsafe fn gemm<E: Float, S: Simd<E>, const MR: usize, const NV: usize>(p: Product<E>) {
    let Product {
        m,
        k,
        n,
        alpha,
        a,
        b,
        beta,
        c,
        b_packed,
    } = p;
    const { assert!(MR >= 1 && MR <= MR_MAX && OUTER_MC >= MR) };
    let nr = NV * S::LANES;
    debug_assert!(nr * size_of::<E>() <= NR_MAX_BYTES);
    let mc = OUTER_MC / MR * MR;
    let (copy_a, copy_b) = copies::<E>(a.cs, b.rs, b.cs);
    // B already packed by the caller (in this tile's panels), or to be packed here.
    let (packed, copy_b) = (!b_packed.is_null(), copy_b && b_packed.is_null());
    // The accumulators of the block's tiles between chunks of k (mc × nr used); each is
    // written before it is read (the first chunk stores, later chunks load).
    let mut saved = Parked([const { MaybeUninit::uninit() }; OUTER_MC * NR_MAX_BYTES]);
    let saved = saved.0.as_mut_ptr().cast::<E>();
    let (len_a, len_b) = copy_len::<E>(k, n, (copy_a, copy_b));
    // Used only within this call, which grows no buffer of this thread again.
    let (buf_a, buf_b) = panels::<E>(len_a, len_b);
    let panels_b: *const E = if packed { b_packed } else { buf_b };
    if copy_b {
        // All of B, once, reused by every block of rows.
        // SAFETY: buf_b holds ⌈n / nr⌉·k·nr elements (copy_len).
        unsafe { pack_all_b::<E, S, NV>(k, n, b, buf_b) };
    }
    let kc_len = outer_kc(nr * size_of::<E>());
    for i0 in (0..m).step_by(mc) {
        let i_end = (i0 + mc).min(m);
        // The rows of A this block uses: in place, or copied tile by tile.
        // SAFETY: rows i0..i_end of A are inside A; buf_a holds OUTER_MC·k ≥ mc·k.
        let a_blk = unsafe {
            if copy_a {
                pack_a::<E, MR>(k, i_end - i0, a.at(i0, 0), buf_a);
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
            // SAFETY: columns j..j+cols of B are inside B, or copied at panel j/nr.
            let bt = unsafe {
                if copy_b || packed {
                    Mat {
                        ptr: panels_b.add(j * k),
                        rs: nr as isize,
                        cs: 1,
                    }
                } else {
                    b.at(0, j)
                }
            };
            // k in chunks of kc_len steps (at least one chunk, for k = 0): the chunk of B
            // stays in L1 while every tile of the block passes over it.
            let chunks = k.div_ceil(kc_len).max(1);
            for ch in 0..chunks {
                let p0 = ch * kc_len;
                let kc = k.saturating_sub(p0).min(kc_len);
                let (first, last) = (ch == 0, ch + 1 == chunks);
                let mut i = i0;
                while i < i_end {
                    let rows = (i_end - i).min(MR);
                    let save = saved.wrapping_add((i - i0) * nr);
                    // SAFETY: the tile (i, j) + (rows, cols) is inside C; its rows of A are
                    // inside A or, copied, at tile (i − i0)/MR of buf_a (k·MR each); columns
                    // p0..p0+kc of A and rows p0..p0+kc of B are inside them; `save` has
                    // rows·nr elements left in `saved`.
                    unsafe {
                        let at = if copy_a {
                            a_blk.ptr.add((i - i0) * k + p0 * MR)
                        } else {
                            a_blk.at(i - i0, p0).ptr
                        };
                        let at = Mat { ptr: at, ..a_blk };
                        let t = Tile {
                            k: kc,
                            cols,
                            alpha,
                            beta,
                            a: at,
                            b: bt.at(p0, 0),
                            c: c.at(i, j),
                            first,
                            last,
                            save,
                        };
                        tile_rows::<E, S, NV>(rows, t);
                    }
                    i += rows;
                }
            }
        }
    }
}

/// Room for the accumulators of a block's tiles between chunks of k: `OUTER_MC` rows of
/// the widest tile, aligned for any element type.
#[repr(align(64))]
struct Parked([MaybeUninit<u8>; OUTER_MC * NR_MAX_BYTES]);

/// The most rows any instruction set's tile has.
const MR_MAX: usize = 16;

/// One tile's operands and place in the k chunks: see [`tile`].
struct Tile<E> {
    /// Steps of k in this chunk.
    k: usize,
    /// Columns of C stored (≤ NV·L).
    cols: usize,
    alpha: E,
    beta: E,
    a: Mat<E>,
    b: Mat<E>,
    c: MatMut<E>,
    /// The first chunk: accumulators start at 0, else from `save`.
    first: bool,
    /// The last chunk: C is written, else the accumulators go to `save`.
    last: bool,
    save: *mut E,
}

/// [`tile`] with `rows` (1..=`MR_MAX`) rows as a constant.
///
/// # Safety
/// As [`tile`].
#[inline(always)]
unsafe fn tile_rows<E: Float, S: Simd<E>, const NV: usize>(rows: usize, t: Tile<E>) {
    // SAFETY: forwarded to the caller.
    unsafe {
        match rows {
            16 => tile::<E, S, 16, NV>(t),
            15 => tile::<E, S, 15, NV>(t),
            14 => tile::<E, S, 14, NV>(t),
            13 => tile::<E, S, 13, NV>(t),
            12 => tile::<E, S, 12, NV>(t),
            11 => tile::<E, S, 11, NV>(t),
            10 => tile::<E, S, 10, NV>(t),
            9 => tile::<E, S, 9, NV>(t),
            8 => tile::<E, S, 8, NV>(t),
            7 => tile::<E, S, 7, NV>(t),
            6 => tile::<E, S, 6, NV>(t),
            5 => tile::<E, S, 5, NV>(t),
            4 => tile::<E, S, 4, NV>(t),
            3 => tile::<E, S, 3, NV>(t),
            2 => tile::<E, S, 2, NV>(t),
            _ => tile::<E, S, 1, NV>(t),
        }
    }
}

/// Copies `rows` (≤ `OUTER_MC`) rows of A (k columns) into `dst` tile by tile: tile t holds
/// rows MR·t..MR·t+MR as k groups of MR (`dst[(MR·t)·k + MR·p + r] = A[MR·t + r, p]`), so
/// the outer kernel's MR broadcasts per p read one or two cache lines. Rows past `rows` are
/// not written (the tile that would read them has fewer rows).
///
/// # Safety
/// Rows `..rows` of A are inside A; `dst` holds `OUTER_MC·k` elements.
#[inline(always)]
unsafe fn pack_a<E: Float, const MR: usize>(k: usize, rows: usize, a: Mat<E>, dst: *mut E) {
    for t in 0..rows.div_ceil(MR) {
        let r_end = (rows - t * MR).min(MR);
        for p in 0..k {
            for r in 0..r_end {
                // SAFETY: A[MR·t + r, p] is inside A; the index is < OUTER_MC·k.
                unsafe {
                    *dst.add(t * MR * k + p * MR + r) = *a
                        .ptr
                        .offset((t * MR + r) as isize * a.rs + p as isize * a.cs);
                }
            }
        }
    }
}

/// Rows of B copied into every panel before the next [`PACK_ROWS`] rows: a band of B's rows
/// is read once, in order, while it is in cache, and each panel is written a run of
/// `PACK_ROWS·NV·L` values at a time. Panel by panel over all k rows instead read every row
/// of B once per panel, 4 KiB apart: 1024² `f32` took 0.66 ms to copy against 0.53 ms so
/// (notes/distributed.md §8, session 10). Speed only: the same values land in the same places.
const PACK_ROWS: usize = 16;

/// Copies all of B (k × n) into `dst` as the outer tile's column panels: panel q (columns
/// NV·L·q..) at `dst + q·k·NV·L`, k rows of NV·L each (see [`pack_b`]), in bands of
/// [`PACK_ROWS`] rows.
///
/// # Safety
/// `S` runs on this CPU; B is a valid (k, n) matrix; `dst` holds `⌈n / NV·L⌉·k·NV·L`
/// elements.
#[inline(always)]
pub(super) unsafe fn pack_all_b<E: Float, S: Simd<E>, const NV: usize>(
    k: usize,
    n: usize,
    b: Mat<E>,
    dst: *mut E,
) {
    let nr = NV * S::LANES;
    for p0 in (0..k).step_by(PACK_ROWS) {
        let rows = (k - p0).min(PACK_ROWS);
        for q in 0..n.div_ceil(nr) {
            let cols = (n - q * nr).min(nr);
            // SAFETY: rows p0..p0+rows, columns nr·q..nr·q+cols of B are inside B; rows
            // p0.. of panel q of dst are inside it.
            unsafe {
                let band = dst.add(q * nr * k + p0 * nr);
                pack_b::<E, S, NV>(rows, cols, b.at(p0, q * nr), band);
            }
        }
    }
}

/// Copies `cols` (≤ NV·L) columns of B (k rows) into `dst` as k rows of NV·L (the unused
/// columns are zero).
///
/// # Safety
/// `S` runs on this CPU; columns `..cols` of B are inside B; `dst` holds `k·NV·L` elements.
#[inline(always)]
unsafe fn pack_b<E: Float, S: Simd<E>, const NV: usize>(
    k: usize,
    cols: usize,
    b: Mat<E>,
    dst: *mut E,
) {
    let (l, nr) = (S::LANES, NV * S::LANES);
    for p in 0..k {
        // SAFETY: row p, columns < cols of B are inside B; dst holds k·nr elements.
        unsafe {
            let row = b.ptr.offset(p as isize * b.rs);
            let out = dst.add(p * nr);
            if cols == nr && b.cs == 1 {
                for v in 0..NV {
                    S::store(out.add(v * l), S::load(row.add(v * l)));
                }
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

/// One R×(NV·L) tile (R ≤ MR, `t.cols` columns stored) of the outer kernel over the k steps
/// of one chunk: `acc[r, s] = fma(A[r, p], B[p, s], acc[r, s])` by one fma per p in
/// increasing order. The accumulators start at 0 on the `first` chunk, else from `save`
/// (R × NV·L elements), where they are left after every chunk but the `last`; after the
/// last, `C ← α·acc (+ β·C)`. Saving and reloading is exact, so a tile computed in chunks
/// gets the same bits as in one go. B's rows are contiguous (`b.cs = 1`), at
/// `b.ptr + p·b.rs`.
///
/// # Safety
/// As [`gemm`], for the tile.
#[inline(always)]
unsafe fn tile<E: Float, S: Simd<E>, const R: usize, const NV: usize>(t: Tile<E>) {
    let (l, nr) = (S::LANES, NV * S::LANES);
    let (a, b) = (t.a, t.b);
    debug_assert!(R <= MR_MAX && t.cols <= nr && b.cs == 1);
    // SAFETY: S runs on this CPU (this function's contract).
    let mut acc = [[unsafe { S::zero() }; NV]; R];
    if !t.first {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, x) in row.iter_mut().enumerate() {
                // SAFETY: `save` holds R × nr elements.
                *x = unsafe { S::load(t.save.add(r * nr + v * l)) };
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
        let mut bp = b.ptr;
        let mut off = 0isize;
        if t.cols == nr {
            for _ in 0..t.k {
                let mut bv = [S::zero(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = S::load(bp.add(v * l));
                }
                for r in 0..R {
                    let av = S::broadcast(ar[r].offset(off));
                    for v in 0..NV {
                        acc[r][v] = S::fma(av, bv[v], acc[r][v]);
                    }
                }
                bp = bp.offset(b.rs);
                off += a.cs;
            }
        } else {
            let mut masks = [S::mask(0); NV];
            for (v, m) in masks.iter_mut().enumerate() {
                *m = S::mask(t.cols.saturating_sub(v * l).min(l));
            }
            for _ in 0..t.k {
                let mut bv = [S::zero(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = S::maskload(bp.add(v * l), masks[v]);
                }
                for r in 0..R {
                    let av = S::broadcast(ar[r].offset(off));
                    for v in 0..NV {
                        acc[r][v] = S::fma(av, bv[v], acc[r][v]);
                    }
                }
                bp = bp.offset(b.rs);
                off += a.cs;
            }
        }
        if t.last {
            store_tile::<E, S, R, NV>(t.cols, t.alpha, acc, t.beta, t.c);
        } else {
            for (r, row) in acc.iter().enumerate() {
                for (v, x) in row.iter().enumerate() {
                    S::store(t.save.add(r * nr + v * l), *x);
                }
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
unsafe fn store_tile<E: Float, S: Simd<E>, const R: usize, const NV: usize>(
    cols: usize,
    alpha: E,
    acc: [[S::V; NV]; R],
    beta: E,
    c: MatMut<E>,
) {
    let l = S::LANES;
    // SAFETY (whole body): S runs on this CPU; (r, s) with r < R, s < cols lies inside C;
    // masked lanes are neither read nor written.
    unsafe {
        let va = S::splat(alpha);
        let vb = S::splat(beta);
        if c.cs == 1 {
            for (r, row) in acc.iter().enumerate() {
                let dst = c.ptr.offset(r as isize * c.rs);
                for (v, x) in row.iter().enumerate() {
                    let on = cols.saturating_sub(v * l).min(l);
                    if on > 0 {
                        let m = S::mask(on);
                        store_half::<E, S>(dst.add(v * l), *x, m, on == l, va, vb, beta);
                    }
                }
            }
        } else {
            for (r, row) in acc.iter().enumerate() {
                let mut buf = [E::zero(); NR_MAX];
                for (v, x) in row.iter().enumerate() {
                    S::store(buf.as_mut_ptr().add(v * l), *x);
                }
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
