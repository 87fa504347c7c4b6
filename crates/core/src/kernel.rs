//! Our own single-threaded f32 GEMM, `C ← α·A·B + β·C`, for the layouts a Dense layer
//! produces (notes/benchmarks.md, "Training and inference throughput" §kernel).
//!
//! [`crate::gemm_serial`] calls [`sgemm`] for `f32` and falls back to matrixmultiply when it
//! returns `false` (no AVX2+FMA on the CPU). Why a kernel of our own: matrixmultiply packs
//! both operands into a freshly allocated buffer on every call; at the layer shapes of a
//! small MLP (batch 32, 784 → 64) packing and allocation cost as much as the arithmetic.
//! Here an operand is copied only when its layout would make the kernel wait on memory,
//! into buffers kept per thread and reused.
//!
//! Two kernels, chosen from the strides and `k` only (never from `m`, `n` or the thread
//! count, so a block of C cut out by the parallel [`crate::gemm`] runs the same code on
//! each of its elements as the whole product would):
//!
//! - **dot** — when rows of A and columns of B are both contiguous along k (`csa = 1`,
//!   `rsb = 1`: the forward pass `X·Θᵀ`) and `k ≥ DOT_MIN_K`. A 3×4 tile of C holds 12
//!   eight-lane partial sums; lane `l` sums the products with `p ≡ l (mod 8)` in increasing
//!   `p` (the last `k mod 8` products through a masked load), then the 8 lanes are added in
//!   the fixed order of [`hsum`]. No copy of either operand; rows of A are taken in blocks
//!   of 48, and the next block is prefetched into L2 while one computes.
//! - **outer** — otherwise: a 6×16 tile of C holds 12 eight-lane accumulators; for each `p`
//!   in increasing order it broadcasts `A[i, p]` (any strides) and multiplies a row of 16
//!   values of B: `acc[i, j] = fma(A[i,p], B[p,j], acc[i,j])`, one fused multiply-add per
//!   product in k order. k is walked in chunks of 256 so a chunk of B stays in L1; between
//!   chunks a tile's accumulators are parked in memory and reloaded (exact). B is read in
//!   place when its rows are contiguous and less than `FAR` apart (the backward products
//!   `d_zᵀ·X` and `d_z·Θ` of a small layer); otherwise all of B is copied once, in 16-column
//!   panels. A block of 96 rows of A is copied when A's k-stride is `FAR` or more (`d_zᵀ`
//!   of a wide layer), so that a tile's 6 values per step share one cache line.
//!
//! Copies and chunks change where values are read from, never which operations run on
//! them, so they may depend on anything (sizes included) without changing a bit.
//!
//! Both end with `c ← fma(β, c, α·acc)` per element (`c ← α·acc` when β = 0, and then C
//! is not read). The elements of a tile edge (fewer than 3/6 rows or 4/16 columns) run the
//! same instruction sequence through masked loads and stores. Memory outside the views is
//! never read or written.
//!
//! The reference is [`crate::gemm_naive`]; the tests below and `crates/core/tests/gemm.rs`
//! compare against it on integer data (exact in any summation order) over all sizes 0–12,
//! awkward sizes and every stride layout.

use std::cell::RefCell;

/// Below this k the dot kernel's 12 horizontal sums per tile cost more than copying B
/// (measured in notes/benchmarks.md); `X·Θᵀ` with a smaller k goes through the outer kernel.
pub const DOT_MIN_K: usize = 128;

/// Rows of C per dot tile.
const DOT_R: usize = 3;
/// Columns of C per dot tile.
const DOT_C: usize = 4;
/// Rows of A per cache block of the dot kernel: 48 rows of k = 784 floats (150 KB) stay in
/// L2 while every column quad of B passes over them.
const DOT_MC: usize = 48;

/// Rows of C per outer tile.
const MR: usize = 6;
/// Columns of C per outer tile (two 8-lane vectors).
const NR: usize = 16;
/// Rows of A per cache block of the outer kernel: 96 rows (16 tiles) share each panel of B.
const OUTER_MC: usize = 96;
/// Steps of k per chunk of the outer kernel: a chunk of a B panel, 256 × 16 floats (16 KiB),
/// stays in L1 while the 16 tiles of a block pass over it.
const OUTER_KC: usize = 256;

/// A stride (in floats) from which the outer kernel copies an operand instead of reading
/// it in place: 1024 floats = 4 KiB, so every step of k lands on another page and the TLB,
/// not the arithmetic, sets the pace (measured in notes/benchmarks.md).
const FAR: usize = 1024;

thread_local! {
    /// The outer kernel's copies: a block of A (`OUTER_MC` × k) and a 16-column panel of B
    /// (k × 16), made when the operand is not laid out for the kernel. They grow to the
    /// largest k seen on this thread and are reused: after the first call, no allocation.
    static PANELS: RefCell<Panels> = const { RefCell::new(Panels::new()) };
}

/// The two per-thread copy buffers of the outer kernel.
struct Panels {
    a: AlignedBuf,
    b: AlignedBuf,
}

impl Panels {
    const fn new() -> Self {
        Panels {
            a: AlignedBuf::new(),
            b: AlignedBuf::new(),
        }
    }

    /// Pointers to at least `a` and `b` floats (null when 0 is asked and none is held).
    fn reserve(&mut self, a: usize, b: usize) -> (*mut f32, *mut f32) {
        (self.a.reserve(a), self.b.reserve(b))
    }
}

/// `C ← α·A·B + β·C` in f32 on strided memory, single-threaded; `false` (nothing done)
/// when the CPU lacks AVX2 and FMA.
///
/// A is (m, k), B is (k, n), C is (m, n); strides in elements, any sign. If β is zero, C
/// need not be initialised.
///
/// # Safety
/// The pointers and strides must describe valid matrices of the given shapes; C must be
/// writable at every index it describes and must not overlap A or B.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !simd_available() {
            return false;
        }
        if m == 0 || n == 0 {
            return true;
        }
        let a = Mat {
            ptr: a,
            rs: rsa,
            cs: csa,
        };
        let b = Mat {
            ptr: b,
            rs: rsb,
            cs: csb,
        };
        let c = MatMut {
            ptr: c,
            rs: rsc,
            cs: csc,
        };
        // SAFETY: AVX2 and FMA were detected; the caller vouches for the memory.
        unsafe {
            if uses_dot(k, rsa, csa, rsb, csb) {
                avx2::dot_gemm(m, k, n, alpha, a, b, beta, c);
            } else {
                avx2::outer_gemm(m, k, n, alpha, a, b, beta, c);
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc);
        false
    }
}

/// Whether the CPU has AVX2 and FMA (cached by std after the first query): the kernels
/// here, and the 8-lane builds of element-wise loops elsewhere (optimizer updates), run
/// only then.
#[inline]
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Which kernel [`sgemm`] uses: dot when A's rows and B's columns are contiguous and
/// `k ≥ DOT_MIN_K`. A function of the strides and k only (see the module doc).
pub fn uses_dot(k: usize, _rsa: isize, csa: isize, rsb: isize, _csb: isize) -> bool {
    k >= DOT_MIN_K && csa == 1 && rsb == 1
}

/// A read-only strided matrix: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
struct Mat {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

/// A writable strided matrix.
#[derive(Clone, Copy)]
struct MatMut {
    ptr: *mut f32,
    rs: isize,
    cs: isize,
}

impl Mat {
    /// The sub-matrix starting at element (i, j), same strides.
    ///
    /// # Safety
    /// (i, j) must lie inside the matrix (or be its end).
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> Mat {
        // SAFETY: forwarded to the caller.
        let ptr = unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) };
        Mat { ptr, ..self }
    }
}

impl MatMut {
    /// The sub-matrix starting at element (i, j), same strides.
    ///
    /// # Safety
    /// (i, j) must lie inside the matrix.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> MatMut {
        // SAFETY: forwarded to the caller.
        let ptr = unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) };
        MatMut { ptr, ..self }
    }
}

/// A growable f32 buffer aligned to 64 bytes (a cache line; whole-vector loads never split
/// a line).
struct AlignedBuf {
    ptr: *mut f32,
    len: usize,
}

impl AlignedBuf {
    const fn new() -> Self {
        AlignedBuf {
            ptr: std::ptr::null_mut(),
            len: 0,
        }
    }

    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(len * 4, 64).expect("panel size overflows")
    }

    /// A pointer to at least `len` floats (contents unspecified); reallocates only to grow.
    fn reserve(&mut self, len: usize) -> *mut f32 {
        if len > self.len {
            self.release();
            let len = len.next_power_of_two().max(1024);
            // SAFETY: the layout has non-zero size (len ≥ 1024).
            let ptr = unsafe { std::alloc::alloc(Self::layout(len)) } as *mut f32;
            if ptr.is_null() {
                std::alloc::handle_alloc_error(Self::layout(len));
            }
            self.ptr = ptr;
            self.len = len;
        }
        self.ptr
    }

    fn release(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: allocated in `reserve` with this very layout.
            unsafe { std::alloc::dealloc(self.ptr as *mut u8, Self::layout(self.len)) };
            self.ptr = std::ptr::null_mut();
            self.len = 0;
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{DOT_C, DOT_MC, DOT_R, FAR, MR, Mat, MatMut, NR, OUTER_KC, OUTER_MC, PANELS};

    /// Lane mask with the first `n` (0..=8) lanes on.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn mask(n: usize) -> __m256i {
        const ON: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
        // SAFETY: n ≤ 8, so the 8 lanes read lie inside ON.
        unsafe { _mm256_loadu_si256(ON.as_ptr().add(8 - n) as *const __m256i) }
    }

    /// The 8 lanes of `v` added in a fixed order: `(l0+l4) + (l2+l6)` and
    /// `(l1+l5) + (l3+l7)`, then those two.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s4 = _mm_add_ps(lo, hi); // l0+l4, l1+l5, l2+l6, l3+l7
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4)); // (l0+l4)+(l2+l6), (l1+l5)+(l3+l7)
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
        _mm_cvtss_f32(s1)
    }

    /// `c ← α·acc` (β = 0, C not read) or `c ← fma(β, c, α·acc)`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn finish(acc: f32, alpha: f32, beta: f32, c: &mut f32) {
        let t = alpha * acc;
        *c = if beta == 0.0 { t } else { beta.mul_add(*c, t) };
    }

    /// Eight lanes of a row of C: `dst ← α·v (+ β·dst)`, all 8 when `full`, else the lanes
    /// of `m`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_half(
        dst: *mut f32,
        v: __m256,
        m: __m256i,
        full: bool,
        va: __m256,
        vb: __m256,
        beta: f32,
    ) {
        let t = _mm256_mul_ps(va, v);
        // SAFETY: the caller guarantees the 8 (full) or masked lanes at dst are inside C.
        unsafe {
            let out = if beta == 0.0 {
                t
            } else if full {
                _mm256_fmadd_ps(vb, _mm256_loadu_ps(dst), t)
            } else {
                _mm256_fmadd_ps(vb, _mm256_maskload_ps(dst, m), t)
            };
            if full {
                _mm256_storeu_ps(dst, out);
            } else {
                _mm256_maskstore_ps(dst, m, out);
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // dot kernel

    /// The dot kernel over all of C: blocks of `DOT_MC` rows, within a block every column
    /// quad of B against every row triple of A.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn dot_gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: Mat,
        b: Mat,
        beta: f32,
        c: MatMut,
    ) {
        let quads = n.div_ceil(DOT_C);
        let lines_per_row = k.div_ceil(16); // 64-byte lines
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
                        .wrapping_add(line * 16);
                    // A prefetch is a hint: it never faults and changes no value.
                    _mm_prefetch::<_MM_HINT_T1>(addr as *const i8);
                }
                let cols = (n - j).min(DOT_C);
                let mut i = i0;
                while i < i_end {
                    let rows = (i_end - i).min(DOT_R);
                    // SAFETY: (i, j) + (rows, cols) lies inside C; the caller vouches for A, B.
                    unsafe {
                        let (at, bt, ct) = (a.at(i, 0), b.at(0, j), c.at(i, j));
                        match (rows, cols) {
                            (3, 4) => dot_tile::<3, 4>(k, alpha, at, bt, beta, ct),
                            (3, 3) => dot_tile::<3, 3>(k, alpha, at, bt, beta, ct),
                            (3, 2) => dot_tile::<3, 2>(k, alpha, at, bt, beta, ct),
                            (3, 1) => dot_tile::<3, 1>(k, alpha, at, bt, beta, ct),
                            (2, 4) => dot_tile::<2, 4>(k, alpha, at, bt, beta, ct),
                            (2, 3) => dot_tile::<2, 3>(k, alpha, at, bt, beta, ct),
                            (2, 2) => dot_tile::<2, 2>(k, alpha, at, bt, beta, ct),
                            (2, 1) => dot_tile::<2, 1>(k, alpha, at, bt, beta, ct),
                            (1, 4) => dot_tile::<1, 4>(k, alpha, at, bt, beta, ct),
                            (1, 3) => dot_tile::<1, 3>(k, alpha, at, bt, beta, ct),
                            (1, 2) => dot_tile::<1, 2>(k, alpha, at, bt, beta, ct),
                            _ => dot_tile::<1, 1>(k, alpha, at, bt, beta, ct),
                        }
                    }
                    i += rows;
                }
            }
        }
    }

    /// One R×C tile of the dot kernel: `C[r, s] ← α·Σ_p A[r, p]·B[p, s] (+ β·C[r, s])`,
    /// rows of A at `a.ptr + r·a.rs` and columns of B at `b.ptr + s·b.cs`, both contiguous.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn dot_tile<const R: usize, const C: usize>(
        k: usize,
        alpha: f32,
        a: Mat,
        b: Mat,
        beta: f32,
        c: MatMut,
    ) {
        debug_assert!(R <= DOT_R && C <= DOT_C);
        let mut acc = [[_mm256_setzero_ps(); C]; R];
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
        let full = k / 8 * 8;
        let mut p = 0;
        while p < full {
            // SAFETY: p + 8 ≤ k: the 8 floats of each row/column are inside A and B.
            unsafe {
                let av: [__m256; R] = std::array::from_fn(|r| _mm256_loadu_ps(ar[r].add(p)));
                for s in 0..C {
                    let bv = _mm256_loadu_ps(bc[s].add(p));
                    for r in 0..R {
                        acc[r][s] = _mm256_fmadd_ps(av[r], bv, acc[r][s]);
                    }
                }
            }
            p += 8;
        }
        if p < k {
            // SAFETY: the mask enables only the k − p < 8 elements inside A and B;
            // masked-off lanes are neither read nor faulted on and load as 0.
            unsafe {
                let mk = mask(k - p);
                let av: [__m256; R] = std::array::from_fn(|r| _mm256_maskload_ps(ar[r].add(p), mk));
                for s in 0..C {
                    let bv = _mm256_maskload_ps(bc[s].add(p), mk);
                    for r in 0..R {
                        acc[r][s] = _mm256_fmadd_ps(av[r], bv, acc[r][s]);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (s, v) in row.iter().enumerate() {
                // SAFETY: (r, s) is inside the tile of C.
                unsafe {
                    let cp = &mut *c.ptr.offset(r as isize * c.rs + s as isize * c.cs);
                    finish(hsum(*v), alpha, beta, cp);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // outer kernel

    /// The outer kernel over all of C: blocks of `OUTER_MC` rows; within a block, for each
    /// 16-column panel of B (copied into the thread's buffer unless B's rows are
    /// contiguous), every row sextet of A.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn outer_gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: Mat,
        b: Mat,
        beta: f32,
        c: MatMut,
    ) {
        let copy_b = b.cs != 1 || b.rs.unsigned_abs() >= FAR;
        let copy_a = a.cs.unsigned_abs() >= FAR;
        // The accumulators of the block's tiles between chunks of k.
        let mut saved = [0.0f32; OUTER_MC * NR];
        PANELS.with(|panels| {
            let mut panels = panels.borrow_mut();
            let n_panels = n.div_ceil(NR);
            let (buf_a, buf_b) = panels.reserve(
                if copy_a { OUTER_MC * k } else { 0 },
                if copy_b { n_panels * NR * k } else { 0 },
            );
            if copy_b {
                // All of B, once: panel q at buf_b + q·k·16, reused by every block of rows.
                for q in 0..n_panels {
                    let cols = (n - q * NR).min(NR);
                    // SAFETY: columns 16q..16q+cols of B are inside B; buf_b holds n_panels·k·16.
                    unsafe { pack_b(k, cols, b.at(0, q * NR), buf_b.add(q * NR * k)) };
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
                            ptr: buf_a,
                            rs: 1,
                            cs: MR as isize,
                        }
                    } else {
                        a.at(i0, 0)
                    }
                };
                for j in (0..n).step_by(NR) {
                    let cols = (n - j).min(NR);
                    // SAFETY: columns j..j+cols of B are inside B, or copied at panel j/16.
                    let bt = unsafe {
                        if copy_b {
                            Mat {
                                ptr: buf_b.add(j * k),
                                rs: NR as isize,
                                cs: 1,
                            }
                        } else {
                            b.at(0, j)
                        }
                    };
                    // k in chunks of OUTER_KC steps (at least one chunk, for k = 0): the
                    // chunk of B stays in L1 while every tile of the block passes over it.
                    let chunks = k.div_ceil(OUTER_KC).max(1);
                    for ch in 0..chunks {
                        let p0 = ch * OUTER_KC;
                        let kc = k.saturating_sub(p0).min(OUTER_KC);
                        let (first, last) = (ch == 0, ch + 1 == chunks);
                        let mut i = i0;
                        while i < i_end {
                            let rows = (i_end - i).min(MR);
                            let save = saved.as_mut_ptr().wrapping_add((i - i0) * NR);
                            let flags = (first, last, save);
                            // SAFETY: the tile (i, j) + (rows, cols) is inside C; its rows of
                            // A are inside A or, copied, at tile (i − i0)/6 of buf_a (k·6
                            // each); columns p0..p0+kc of A and rows p0..p0+kc of B are
                            // inside them; `save` has rows·16 floats left in `saved`.
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
                                    6 => outer_tile::<6>(kc, cols, alpha, at, bk, beta, ct, flags),
                                    5 => outer_tile::<5>(kc, cols, alpha, at, bk, beta, ct, flags),
                                    4 => outer_tile::<4>(kc, cols, alpha, at, bk, beta, ct, flags),
                                    3 => outer_tile::<3>(kc, cols, alpha, at, bk, beta, ct, flags),
                                    2 => outer_tile::<2>(kc, cols, alpha, at, bk, beta, ct, flags),
                                    _ => outer_tile::<1>(kc, cols, alpha, at, bk, beta, ct, flags),
                                }
                            }
                            i += rows;
                        }
                    }
                }
            }
        });
    }

    /// Copies `rows` (≤ `OUTER_MC`) rows of A (k columns) into `dst` tile by tile: tile t
    /// holds rows 6t..6t+6 as k groups of 6 (`dst[(6t)·k + 6p + r] = A[6t + r, p]`), so the
    /// outer kernel's 6 broadcasts per p read one cache line. Rows past `rows` are not
    /// written (the tile that would read them has fewer rows).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack_a(k: usize, rows: usize, a: Mat, dst: *mut f32) {
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

    /// Copies `cols` (≤ 16) columns of B (k rows) into `dst` as k rows of 16 (the unused
    /// columns are zero).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack_b(k: usize, cols: usize, b: Mat, dst: *mut f32) {
        for p in 0..k {
            // SAFETY: row p, columns < cols of B are inside B; dst holds k·16 floats.
            unsafe {
                let row = b.ptr.offset(p as isize * b.rs);
                let out = dst.add(p * NR);
                if cols == NR && b.cs == 1 {
                    _mm256_storeu_ps(out, _mm256_loadu_ps(row));
                    _mm256_storeu_ps(out.add(8), _mm256_loadu_ps(row.add(8)));
                    continue;
                }
                for s in 0..NR {
                    *out.add(s) = if s < cols {
                        *row.offset(s as isize * b.cs)
                    } else {
                        0.0
                    };
                }
            }
        }
    }

    /// One R×16 tile (R ≤ 6, `cols` ≤ 16 columns stored) of the outer kernel over the k
    /// steps of one chunk: `acc[r, s] += A[r, p]·B[p, s]` by one fma per p in increasing
    /// order. The accumulators start at 0 on the `first` chunk, else from `save` (R × 16
    /// floats), where they are left after every chunk but the `last`; after the last,
    /// `C ← α·acc (+ β·C)`. Saving and reloading is exact, so a tile computed in chunks gets
    /// the same bits as in one go. B's rows are contiguous (`b.cs = 1`), at `b.ptr + p·b.rs`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn outer_tile<const R: usize>(
        k: usize,
        cols: usize,
        alpha: f32,
        a: Mat,
        b: Mat,
        beta: f32,
        c: MatMut,
        (first, last, save): (bool, bool, *mut f32),
    ) {
        debug_assert!(R <= MR && cols <= NR && b.cs == 1);
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        if !first {
            for (r, v) in acc.iter_mut().enumerate() {
                // SAFETY: `save` holds R × 16 floats.
                unsafe {
                    v[0] = _mm256_loadu_ps(save.add(r * NR));
                    v[1] = _mm256_loadu_ps(save.add(r * NR + 8));
                }
            }
        }
        let mut ar = [a.ptr; R];
        for (r, p) in ar.iter_mut().enumerate() {
            // SAFETY: row r of the tile is inside A.
            *p = unsafe { a.ptr.offset(r as isize * a.rs) };
        }
        // SAFETY (whole body): element (r, p) of A is `ar[r] + p·a.cs`, row p of B starts
        // at `b.ptr + p·b.rs` with `cols` valid floats; masked lanes are not read.
        unsafe {
            if cols == NR {
                let mut bp = b.ptr;
                let mut off = 0isize;
                for _ in 0..k {
                    let b0 = _mm256_loadu_ps(bp);
                    let b1 = _mm256_loadu_ps(bp.add(8));
                    for r in 0..R {
                        let av = _mm256_broadcast_ss(&*ar[r].offset(off));
                        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                    }
                    bp = bp.offset(b.rs);
                    off += a.cs;
                }
            } else {
                let m0 = mask(cols.min(8));
                let m1 = mask(cols.saturating_sub(8));
                let mut bp = b.ptr;
                let mut off = 0isize;
                for _ in 0..k {
                    let b0 = _mm256_maskload_ps(bp, m0);
                    let b1 = _mm256_maskload_ps(bp.add(8), m1);
                    for r in 0..R {
                        let av = _mm256_broadcast_ss(&*ar[r].offset(off));
                        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                    }
                    bp = bp.offset(b.rs);
                    off += a.cs;
                }
            }
            if last {
                store_tile::<R>(cols, alpha, acc, beta, c);
            } else {
                for (r, v) in acc.iter().enumerate() {
                    _mm256_storeu_ps(save.add(r * NR), v[0]);
                    _mm256_storeu_ps(save.add(r * NR + 8), v[1]);
                }
            }
        }
    }

    /// `C[r, s] ← α·acc[r, s] (+ β·C[r, s])` for r < R, s < cols: vector loads and stores
    /// when C's rows are contiguous, else element by element — the same fma either way.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_tile<const R: usize>(
        cols: usize,
        alpha: f32,
        acc: [[__m256; 2]; R],
        beta: f32,
        c: MatMut,
    ) {
        let va = _mm256_set1_ps(alpha);
        let vb = _mm256_set1_ps(beta);
        // SAFETY (whole body): (r, s) with r < R, s < cols lies inside C; masked lanes are
        // neither read nor written.
        unsafe {
            if c.cs == 1 {
                let m0 = mask(cols.min(8));
                let m1 = mask(cols.saturating_sub(8));
                for (r, v) in acc.iter().enumerate() {
                    let row = c.ptr.offset(r as isize * c.rs);
                    store_half(row, v[0], m0, cols >= 8, va, vb, beta);
                    store_half(row.add(8), v[1], m1, cols >= 16, va, vb, beta);
                }
            } else {
                for (r, v) in acc.iter().enumerate() {
                    let mut lanes = [0.0f32; NR];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), v[0]);
                    _mm256_storeu_ps(lanes.as_mut_ptr().add(8), v[1]);
                    for (s, &l) in lanes.iter().enumerate().take(cols) {
                        let cp = &mut *c.ptr.offset(r as isize * c.rs + s as isize * c.cs);
                        finish(l, alpha, beta, cp);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm_naive;
    use ndarray::{Array2, ShapeBuilder};

    /// Small integers: every product and partial sum is exact in f32, so any summation
    /// order gives the naive loop's value exactly.
    fn ints(rows: usize, cols: usize, salt: usize, col_major: bool) -> Array2<f32> {
        let f = |(i, j): (usize, usize)| ((i * 7 + j * 5 + salt * 3) % 11) as f32 - 5.0;
        if col_major {
            Array2::from_shape_fn((rows, cols).f(), f)
        } else {
            Array2::from_shape_fn((rows, cols), f)
        }
    }

    /// Runs [`sgemm`] on views and returns whether it handled the call.
    fn run(
        alpha: f32,
        a: ndarray::ArrayView2<f32>,
        b: ndarray::ArrayView2<f32>,
        beta: f32,
        mut c: ndarray::ArrayViewMut2<f32>,
    ) -> bool {
        let (m, k) = a.dim();
        let n = b.ncols();
        // SAFETY: the views describe valid, non-overlapping matrices of these shapes.
        unsafe {
            sgemm(
                m,
                k,
                n,
                alpha,
                a.as_ptr(),
                a.strides()[0],
                a.strides()[1],
                b.as_ptr(),
                b.strides()[0],
                b.strides()[1],
                beta,
                c.as_mut_ptr(),
                c.strides()[0],
                c.strides()[1],
            )
        }
    }

    /// Fast against naive over sizes around the tile edges, both kernels, every A/B/C
    /// order, β = 0 (C starts NaN) and β ≠ 0.
    #[test]
    fn both_kernels_equal_naive_on_integers() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let ms = [1, 2, 3, 5, 6, 7, 13, 50, 97];
        let ns = [1, 3, 4, 5, 15, 16, 17, 33];
        let ks = [0, 1, 7, 8, 9, 127, 128, 131];
        let mut dot_cases = 0;
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    for lay in 0..8 {
                        let (ca, cb, cc) = (lay & 1 == 1, lay & 2 == 2, lay & 4 == 4);
                        let a = ints(m, k, 1, ca);
                        let b = ints(k, n, 2, cb);
                        for (alpha, beta) in [(1.0, 0.0), (-2.0, 0.5)] {
                            let init = ints(m, n, 3, cc);
                            let mut want = init.clone();
                            gemm_naive(alpha, a.view(), b.view(), beta, want.view_mut());
                            let mut got = init.clone();
                            if beta == 0.0 {
                                got.fill(f32::NAN);
                            }
                            assert!(run(alpha, a.view(), b.view(), beta, got.view_mut()));
                            assert_eq!(got, want, "{m}x{k}x{n} layout {lay} α={alpha} β={beta}");
                            let s = (a.strides(), b.strides());
                            if uses_dot(k, s.0[0], s.0[1], s.1[0], s.1[1]) {
                                dot_cases += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(dot_cases > 100, "the dot kernel ran {dot_cases} times");
    }

    /// The outer kernel's other paths: k in several chunks (k > OUTER_KC), more than one
    /// block of rows (m > OUTER_MC), and A and B copied because their k-strides are FAR or
    /// more — each against naive, on integers.
    #[test]
    fn outer_kernel_chunks_and_copies_equal_naive() {
        if !simd_available() {
            return;
        }
        let (m, n) = (100, 37);
        for k in [255, 256, 257, 600] {
            // Wide parents, so the views' k-strides are 1100 ≥ FAR.
            let a_far = ints(1100, k, 1, true);
            let b_far = ints(k, 1100, 2, false);
            let a_near = ints(m, k, 1, true);
            let b_near = ints(k, n, 2, false);
            let a_far = a_far.slice(ndarray::s![..m, ..]);
            let b_far = b_far.slice(ndarray::s![.., ..n]);
            assert!(a_far.strides()[1] as usize >= FAR && b_far.strides()[0] as usize >= FAR);
            for (a, b) in [
                (a_far, b_far),
                (a_far, b_near.view()),
                (a_near.view(), b_far),
                (a_near.view(), b_near.view()),
            ] {
                let s = (a.strides(), b.strides());
                assert!(!uses_dot(k, s.0[0], s.0[1], s.1[0], s.1[1]));
                for (alpha, beta) in [(1.0, 0.0), (2.0, -1.0)] {
                    let init = ints(m, n, 3, false);
                    let mut want = init.clone();
                    gemm_naive(alpha, a, b, beta, want.view_mut());
                    let mut got = init.clone();
                    assert!(run(alpha, a, b, beta, got.view_mut()));
                    assert_eq!(got, want, "k = {k}, strides {s:?}, α={alpha} β={beta}");
                }
            }
        }
    }

    /// Negative control: a wrong result is caught (the comparison is not vacuous).
    #[test]
    fn a_perturbed_operand_is_detected() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let a = ints(7, 130, 1, false);
        let b = ints(130, 5, 2, true);
        let mut want = Array2::zeros((7, 5));
        gemm_naive(1.0, a.view(), b.view(), 0.0, want.view_mut());
        let mut bad = b.clone();
        bad[[129, 4]] += 1.0; // the masked tail of the dot kernel
        let mut got = Array2::zeros((7, 5));
        assert!(run(1.0, a.view(), bad.view(), 0.0, got.view_mut()));
        assert_ne!(got, want);
        assert!((0..7).all(|i| got[[i, 4]] - want[[i, 4]] == a[[i, 129]]));
    }

    /// The dot kernel on real-valued data: within f32 rounding of the f64 product, and
    /// bit-identical whether C is computed whole or in two row blocks (what the parallel
    /// GEMM does).
    #[test]
    fn blocks_of_c_are_bit_identical_to_the_whole() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let real = |rows, cols, salt: f32| {
            Array2::from_shape_fn((rows, cols), |(i, j)| {
                ((i as f32 * 0.37 + j as f32 * 0.11 + salt).sin()) * 0.5
            })
        };
        for (x, theta_t) in [
            (real(50, 784, 0.3), real(64, 784, 1.1).reversed_axes()),
            (real(50, 64, 0.3), real(64, 64, 1.1).reversed_axes()),
        ] {
            let mut whole = Array2::zeros((50, 64));
            assert!(run(1.0, x.view(), theta_t.view(), 0.0, whole.view_mut()));
            let mut parts = Array2::zeros((50, 64));
            let (top, bottom) = parts.view_mut().split_at(ndarray::Axis(0), 19);
            let (xt, xb) = x.view().split_at(ndarray::Axis(0), 19);
            assert!(run(1.0, xt, theta_t.view(), 0.0, top));
            assert!(run(1.0, xb, theta_t.view(), 0.0, bottom));
            let bits = |c: &Array2<f32>| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&whole), bits(&parts));
            let exact = x.mapv(f64::from).dot(&theta_t.mapv(f64::from));
            let err = (&whole.mapv(f64::from) - &exact)
                .iter()
                .fold(0.0f64, |m, e| m.max(e.abs()));
            assert!(err < 1e-4, "max error {err:e}");
        }
    }
}
