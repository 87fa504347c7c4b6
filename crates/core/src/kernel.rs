//! Our own single-threaded GEMM, `C ← α·A·B + β·C`, in `f32` and `f64`, for the layouts a
//! Dense layer produces (notes/gemm.md §2).
//!
//! [`crate::gemm_serial`] calls [`gemm`] and falls back to matrixmultiply when it returns
//! `false` (no AVX2+FMA on the CPU). Why a kernel of our own: matrixmultiply packs both
//! operands into a freshly allocated buffer on every call; at the layer shapes of a small MLP
//! (batch 32, 784 → 64) packing and allocation cost as much as the arithmetic, and a training
//! step could never be allocation-free. Here an operand is copied only when its layout would
//! make the kernel wait on memory, into buffers kept per thread and reused; a [`Scratch`]
//! reserved up front ([`reserve_scratch_in_pool`], called by the MLP's workspace) means no
//! call allocates at all.
//!
//! One code serves both types, written over a private trait of 256-bit vector operations: a
//! vector holds `L` = 8 `f32` (`__m256`) or 4 `f64` (`__m256d`) lanes, and every width below
//! is counted in vectors, so it scales with `L`. The `f32` instantiation runs exactly the
//! instructions the earlier `f32`-only kernel ran.
//!
//! Two kernels, chosen from the strides and `k` only (never from `m`, `n` or the thread
//! count, so a block of C cut out by the parallel [`crate::gemm()`] runs the same code on
//! each of its elements as the whole product would):
//!
//! - **dot** — when rows of A and columns of B are both contiguous along k (`csa = 1`,
//!   `rsb = 1`: the forward pass `X·Θᵀ`) and `k ≥ DOT_MIN_K`. A 3×4 tile of C holds 12
//!   `L`-lane partial sums; lane `l` sums the products with `p ≡ l (mod L)` in increasing
//!   `p` (the last `k mod L` products through a masked load), then the `L` lanes are added in
//!   the fixed order of `hsum`. No copy of either operand; rows of A are taken in blocks
//!   of 48, and the next block is prefetched into L2 while one computes.
//! - **outer** — otherwise: a 6×2L tile of C (6×16 `f32`, 6×8 `f64`) holds 12 vector
//!   accumulators; for each `p` in increasing order it broadcasts `A[i, p]` (any strides) and
//!   multiplies a row of 2L values of B: `acc[i, j] = fma(A[i,p], B[p,j], acc[i,j])`, one
//!   fused multiply-add per product in k order. k is walked in chunks of 256 so a chunk of B
//!   (16 KiB in either type) stays in L1; between chunks a tile's accumulators are parked in
//!   memory and reloaded (exact). B is read in place when its rows are contiguous and less
//!   than 4 KiB apart (the backward products `d_zᵀ·X` and `d_z·Θ` of a small layer);
//!   otherwise all of B is copied once, in 2L-column panels. A block of 96 rows of A is
//!   copied when A's k-stride is 4 KiB or more (`d_zᵀ` of a wide layer), so that a tile's 6
//!   values per step share one cache line.
//!
//! Copies and chunks change where values are read from, never which operations run on
//! them, so they may depend on anything (sizes included) without changing a bit.
//!
//! Both end with `c ← fma(β, c, α·acc)` per element (`c ← α·acc` when β = 0, and then C
//! is not read). The elements of a tile edge (fewer than 3/6 rows or 4/2L columns) run the
//! same instruction sequence through masked loads and stores. Memory outside the views is
//! never read or written.
//!
//! The reference is [`crate::gemm_naive`]; the tests below and `crates/core/tests/gemm.rs`
//! compare against it on integer data (exact in any summation order) over all sizes 0–12,
//! awkward sizes and every stride layout, in both types.

use std::any::TypeId;
use std::cell::RefCell;

use crate::Float;

/// Below this k the dot kernel's 12 horizontal sums per tile cost more than copying B
/// (set from `f32` timings when the kernel was written; `f64` uses the same threshold,
/// untimed — notes/gemm.md §2); `X·Θᵀ` with a smaller k goes through the outer kernel.
pub const DOT_MIN_K: usize = 128;

/// Bytes in one vector register (AVX: 256 bits).
const VECTOR_BYTES: usize = 32;

/// Rows of C per dot tile.
const DOT_R: usize = 3;
/// Columns of C per dot tile.
const DOT_C: usize = 4;
/// Rows of A per cache block of the dot kernel: 48 rows of k = 784 (150 KB of `f32`, 300 KB
/// of `f64`) stay in L2 while every column quad of B passes over them.
const DOT_MC: usize = 48;

/// Rows of C per outer tile.
const MR: usize = 6;
/// The widest outer tile, in elements: two vectors of `f32`.
const NR_MAX: usize = 2 * VECTOR_BYTES / size_of::<f32>();
/// Rows of A per cache block of the outer kernel: 96 rows (16 tiles) share each panel of B.
const OUTER_MC: usize = 96;
/// Steps of k per chunk of the outer kernel: a chunk of a B panel, 256 × 2L elements
/// (16 KiB in either type), stays in L1 while the 16 tiles of a block pass over it.
const OUTER_KC: usize = 256;

/// A stride (in bytes) from which the outer kernel copies an operand instead of reading it
/// in place: 4 KiB, so every step of k lands on another page and the TLB, not the
/// arithmetic, sets the pace (1024 `f32`, as timed when the kernel was written; 512 `f64`
/// by the same page argument, untimed — notes/gemm.md §2).
const FAR_BYTES: usize = 4096;

/// Lanes of `E` in one vector: 8 `f32` or 4 `f64`.
const fn lanes<E>() -> usize {
    VECTOR_BYTES / size_of::<E>()
}

/// Columns of C per outer tile: two vectors (16 `f32`, 8 `f64`).
const fn nr<E>() -> usize {
    2 * lanes::<E>()
}

/// [`FAR_BYTES`] in elements of `E` (1024 `f32`, 512 `f64`).
const fn far<E>() -> usize {
    FAR_BYTES / size_of::<E>()
}

/// Which operands the outer kernel copies: `(A, B)`. A when its k-stride is far; B when
/// its rows are not contiguous or lie far apart. A function of the strides only.
fn outer_copies<E>(csa: isize, rsb: isize, csb: isize) -> (bool, bool) {
    (
        csa.unsigned_abs() >= far::<E>(),
        csb != 1 || rsb.unsigned_abs() >= far::<E>(),
    )
}

/// Elements of the outer kernel's copies for k steps and n columns of B: `(A, B)`. A is one
/// block of `OUTER_MC` rows, B all its 2L-column panels.
fn outer_copy_len<E>(k: usize, n: usize, (copy_a, copy_b): (bool, bool)) -> (usize, usize) {
    let nr = nr::<E>();
    (
        if copy_a { OUTER_MC * k } else { 0 },
        if copy_b { n.div_ceil(nr) * nr * k } else { 0 },
    )
}

thread_local! {
    /// The outer kernel's copies: a block of A (`OUTER_MC` × k) and the 2L-column panels of
    /// B (k × 2L each), made when the operand is not laid out for the kernel. Shared by
    /// `f32` and `f64` (they hold bytes). They grow to the largest product seen or reserved
    /// on this thread and are reused.
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

    /// Pointers to at least `a` and `b` elements of `E` (null when 0 is asked and none is
    /// held).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn reserve<E>(&mut self, a: usize, b: usize) -> (*mut E, *mut E) {
        let size = size_of::<E>();
        (
            self.a.reserve(a * size).cast(),
            self.b.reserve(b * size).cast(),
        )
    }
}

/// Per-thread scratch the kernels use for one product, or the most any of several use: the
/// bytes of the outer kernel's copies of A and of B.
///
/// [`Scratch::for_product`] says what one product needs; [`reserve_scratch`] (this thread)
/// and [`reserve_scratch_in_pool`] (this thread and every worker of its rayon pool) make the
/// buffers that large up front, so that no later product of at most that size allocates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scratch {
    /// Bytes for a copied block of A.
    pub a_bytes: usize,
    /// Bytes for the copied panels of B.
    pub b_bytes: usize,
}

impl Scratch {
    /// What [`gemm`] needs for A (m, k) · B (k, n) with these strides (in elements), on this
    /// CPU: nothing for the dot kernel, for the matrixmultiply fallback, or when the outer
    /// kernel reads both operands in place. A block of the product (fewer rows or columns,
    /// same strides — what the parallel [`crate::gemm()`] runs) needs no more.
    pub fn for_product<T: Float>(
        k: usize,
        n: usize,
        rsa: isize,
        csa: isize,
        rsb: isize,
        csb: isize,
    ) -> Scratch {
        if !available_for::<T>() || uses_dot(k, rsa, csa, rsb, csb) {
            return Scratch::default();
        }
        let (a, b) = outer_copy_len::<T>(k, n, outer_copies::<T>(csa, rsb, csb));
        Scratch {
            a_bytes: a * size_of::<T>(),
            b_bytes: b * size_of::<T>(),
        }
    }

    /// The larger of each part: enough for either product.
    pub fn max(self, other: Scratch) -> Scratch {
        Scratch {
            a_bytes: self.a_bytes.max(other.a_bytes),
            b_bytes: self.b_bytes.max(other.b_bytes),
        }
    }
}

/// Grows the calling thread's kernel buffers to hold `s` (allocates only if they are
/// smaller; never shrinks them).
pub fn reserve_scratch(s: Scratch) {
    PANELS.with(|panels| {
        let mut panels = panels.borrow_mut();
        panels.a.reserve(s.a_bytes);
        panels.b.reserve(s.b_bytes);
    });
}

/// What the calling thread's kernel buffers hold now, in bytes (at least what was reserved
/// or used; the buffers grow in powers of two).
pub fn reserved_scratch() -> Scratch {
    PANELS.with(|panels| {
        let panels = panels.borrow();
        Scratch {
            a_bytes: panels.a.len,
            b_bytes: panels.b.len,
        }
    })
}

/// [`reserve_scratch`] on the calling thread and, when it is a worker of a rayon pool, on
/// every worker of that pool (one `rayon::broadcast`, skipped when `s` is empty).
///
/// Which worker runs which block of a parallel GEMM depends on scheduling, so a buffer made
/// lazily on a worker's first task would make "the first step that allocates nothing"
/// depend on scheduling too. Reserving on every worker up front makes it the first step
/// after this call. Call it inside the pool that will run the products (`pool.install`):
/// called from outside any pool it reserves on the calling thread only (rayon's global
/// pool is left alone, so this never starts it).
pub fn reserve_scratch_in_pool(s: Scratch) {
    reserve_scratch(s);
    if s != Scratch::default() && rayon::current_thread_index().is_some() {
        rayon::broadcast(|_| reserve_scratch(s));
    }
}

/// Whether [`gemm`] runs for element type `T` on this CPU: `T` is `f32` or `f64`, and the
/// CPU has AVX2 and FMA.
pub fn available_for<T: Float>() -> bool {
    let id = TypeId::of::<T>();
    (id == TypeId::of::<f32>() || id == TypeId::of::<f64>()) && simd_available()
}

/// `C ← α·A·B + β·C` on strided memory, single-threaded; `false` (nothing done) unless
/// [`available_for`]`::<T>()` (then the caller falls back to matrixmultiply).
///
/// A is (m, k), B is (k, n), C is (m, n); strides in elements, any sign. If β is zero, C
/// need not be initialised. Allocates only to grow the calling thread's copy buffers beyond
/// what it held (see [`Scratch`]).
///
/// # Safety
/// The pointers and strides must describe valid matrices of the given shapes; C must be
/// writable at every index it describes and must not overlap A or B.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) -> bool {
    if !available_for::<T>() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
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
        // The same value in the kernel's type (exact: T is that type).
        fn to<E: Float, T: Float>(x: T) -> E {
            E::from_f64(Float::to_f64(x))
        }
        // SAFETY: AVX2 and FMA were detected; T is the type the pointers are cast to, so
        // they describe the same matrices; the caller vouches for the memory.
        unsafe {
            if TypeId::of::<T>() == TypeId::of::<f32>() {
                run::<f32>(m, k, n, to(alpha), a.cast(), b.cast(), to(beta), c.cast());
            } else {
                run::<f64>(m, k, n, to(alpha), a.cast(), b.cast(), to(beta), c.cast());
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

/// [`gemm`] in the kernel's own type: picks the dot or the outer kernel.
///
/// # Safety
/// AVX2 and FMA must be available; the contract of [`gemm`].
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn run<E: avx2::Simd>(
    m: usize,
    k: usize,
    n: usize,
    alpha: E,
    a: Mat<E>,
    b: Mat<E>,
    beta: E,
    c: MatMut<E>,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: forwarded to the caller.
    unsafe {
        if uses_dot(k, a.rs, a.cs, b.rs, b.cs) {
            avx2::dot_gemm(m, k, n, alpha, a, b, beta, c);
        } else {
            avx2::outer_gemm(m, k, n, alpha, a, b, beta, c);
        }
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

/// Which kernel [`gemm`] uses: dot when A's rows and B's columns are contiguous and
/// `k ≥ DOT_MIN_K`. A function of the strides and k only (see the module doc).
pub fn uses_dot(k: usize, _rsa: isize, csa: isize, rsb: isize, _csb: isize) -> bool {
    k >= DOT_MIN_K && csa == 1 && rsb == 1
}

/// A read-only strided matrix: element (i, j) at `ptr + i·rs + j·cs`.
struct Mat<E> {
    ptr: *const E,
    rs: isize,
    cs: isize,
}

/// A writable strided matrix.
struct MatMut<E> {
    ptr: *mut E,
    rs: isize,
    cs: isize,
}

// Copy for every E (a derive would ask E: Copy).
impl<E> Clone for Mat<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Mat<E> {}
impl<E> Clone for MatMut<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for MatMut<E> {}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl<E> Mat<E> {
    /// The sub-matrix starting at element (i, j), same strides.
    ///
    /// # Safety
    /// (i, j) must lie inside the matrix (or be its end).
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> Mat<E> {
        // SAFETY: forwarded to the caller.
        let ptr = unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) };
        Mat { ptr, ..self }
    }

    /// The same matrix read as elements of `F` (the caller knows `F` is `E`).
    fn cast<F>(self) -> Mat<F> {
        Mat {
            ptr: self.ptr.cast(),
            rs: self.rs,
            cs: self.cs,
        }
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl<E> MatMut<E> {
    /// The sub-matrix starting at element (i, j), same strides.
    ///
    /// # Safety
    /// (i, j) must lie inside the matrix.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> MatMut<E> {
        // SAFETY: forwarded to the caller.
        let ptr = unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) };
        MatMut { ptr, ..self }
    }

    /// The same matrix written as elements of `F` (the caller knows `F` is `E`).
    fn cast<F>(self) -> MatMut<F> {
        MatMut {
            ptr: self.ptr.cast(),
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// A growable byte buffer aligned to 64 bytes (a cache line; whole-vector loads never split
/// a line).
struct AlignedBuf {
    ptr: *mut u8,
    /// Bytes held.
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
        std::alloc::Layout::from_size_align(len, 64).expect("panel size overflows")
    }

    /// A pointer to at least `len` bytes (contents unspecified); reallocates only to grow,
    /// to a power of two of at least 4 KiB.
    fn reserve(&mut self, len: usize) -> *mut u8 {
        if len > self.len {
            self.release();
            let len = len.next_power_of_two().max(4096);
            // SAFETY: the layout has non-zero size (len ≥ 4096).
            let ptr = unsafe { std::alloc::alloc(Self::layout(len)) };
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
            unsafe { std::alloc::dealloc(self.ptr, Self::layout(self.len)) };
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

    use super::{
        DOT_C, DOT_MC, DOT_R, MR, Mat, MatMut, NR_MAX, OUTER_KC, OUTER_MC, PANELS, lanes, nr,
        outer_copies, outer_copy_len,
    };
    use crate::Float;

    /// The 256-bit vector operations of the kernels, for one element type: `f32` in 8 lanes
    /// of `__m256`, `f64` in 4 lanes of `__m256d`. Each is one AVX instruction, except
    /// `vhsum` (a fixed sequence) and `vmask` (a load from a constant table).
    ///
    /// Every method is `unsafe`: it may run only where AVX2 and FMA are available, and the
    /// pointer methods read or write the lanes they name (the masked-on lanes of a masked
    /// access; masked-off lanes are neither read nor written and never fault).
    pub(super) trait Simd: Float {
        /// One vector of lanes.
        type V: Copy;
        /// All lanes 0.
        unsafe fn vzero() -> Self::V;
        /// All lanes `x`.
        unsafe fn vsplat(x: Self) -> Self::V;
        /// All lanes `*p`.
        unsafe fn vbroadcast(p: *const Self) -> Self::V;
        /// The lanes at `p..p + L` (unaligned).
        unsafe fn vload(p: *const Self) -> Self::V;
        /// Stores the lanes at `p..p + L` (unaligned).
        unsafe fn vstore(p: *mut Self, v: Self::V);
        /// A mask with the first `n` (0..=L) lanes on.
        unsafe fn vmask(n: usize) -> __m256i;
        /// The lanes of `m` from `p`, the others 0.
        unsafe fn vmaskload(p: *const Self, m: __m256i) -> Self::V;
        /// Stores the lanes of `m` at `p`.
        unsafe fn vmaskstore(p: *mut Self, m: __m256i, v: Self::V);
        /// `a·b + c` lane by lane, rounded once (fused multiply-add).
        unsafe fn vfma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        /// `a·b` lane by lane.
        unsafe fn vmul(a: Self::V, b: Self::V) -> Self::V;
        /// The lanes added in a fixed order (see each impl).
        unsafe fn vhsum(v: Self::V) -> Self;
    }

    impl Simd for f32 {
        type V = __m256;

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vzero() -> __m256 {
            _mm256_setzero_ps()
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vsplat(x: f32) -> __m256 {
            _mm256_set1_ps(x)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vbroadcast(p: *const f32) -> __m256 {
            // SAFETY: the caller vouches for *p.
            unsafe { _mm256_broadcast_ss(&*p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vload(p: *const f32) -> __m256 {
            // SAFETY: the caller vouches for the 8 floats at p.
            unsafe { _mm256_loadu_ps(p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vstore(p: *mut f32, v: __m256) {
            // SAFETY: the caller vouches for the 8 floats at p.
            unsafe { _mm256_storeu_ps(p, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmask(n: usize) -> __m256i {
            const ON: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
            debug_assert!(n <= 8);
            // SAFETY: n ≤ 8, so the 8 lanes read lie inside ON.
            unsafe { _mm256_loadu_si256(ON.as_ptr().add(8 - n) as *const __m256i) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmaskload(p: *const f32, m: __m256i) -> __m256 {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskload_ps(p, m) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmaskstore(p: *mut f32, m: __m256i, v: __m256) {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskstore_ps(p, m, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vfma(a: __m256, b: __m256, c: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, c)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmul(a: __m256, b: __m256) -> __m256 {
            _mm256_mul_ps(a, b)
        }

        /// `(l0+l4) + (l2+l6)` and `(l1+l5) + (l3+l7)`, then those two.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vhsum(v: __m256) -> f32 {
            let lo = _mm256_castps256_ps128(v);
            let hi = _mm256_extractf128_ps::<1>(v);
            let s4 = _mm_add_ps(lo, hi); // l0+l4, l1+l5, l2+l6, l3+l7
            let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4)); // (l0+l4)+(l2+l6), (l1+l5)+(l3+l7)
            let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
            _mm_cvtss_f32(s1)
        }
    }

    impl Simd for f64 {
        type V = __m256d;

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vzero() -> __m256d {
            _mm256_setzero_pd()
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vsplat(x: f64) -> __m256d {
            _mm256_set1_pd(x)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vbroadcast(p: *const f64) -> __m256d {
            // SAFETY: the caller vouches for *p.
            unsafe { _mm256_broadcast_sd(&*p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vload(p: *const f64) -> __m256d {
            // SAFETY: the caller vouches for the 4 doubles at p.
            unsafe { _mm256_loadu_pd(p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vstore(p: *mut f64, v: __m256d) {
            // SAFETY: the caller vouches for the 4 doubles at p.
            unsafe { _mm256_storeu_pd(p, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmask(n: usize) -> __m256i {
            const ON: [i64; 8] = [-1, -1, -1, -1, 0, 0, 0, 0];
            debug_assert!(n <= 4);
            // SAFETY: n ≤ 4, so the 4 lanes read lie inside ON.
            unsafe { _mm256_loadu_si256(ON.as_ptr().add(4 - n) as *const __m256i) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmaskload(p: *const f64, m: __m256i) -> __m256d {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskload_pd(p, m) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmaskstore(p: *mut f64, m: __m256i, v: __m256d) {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskstore_pd(p, m, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vfma(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
            _mm256_fmadd_pd(a, b, c)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vmul(a: __m256d, b: __m256d) -> __m256d {
            _mm256_mul_pd(a, b)
        }

        /// `(l0+l2) + (l1+l3)`.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn vhsum(v: __m256d) -> f64 {
            let lo = _mm256_castpd256_pd128(v);
            let hi = _mm256_extractf128_pd::<1>(v);
            let s2 = _mm_add_pd(lo, hi); // l0+l2, l1+l3
            let s1 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
            _mm_cvtsd_f64(s1)
        }
    }

    /// `c ← α·acc` (β = 0, C not read) or `c ← fma(β, c, α·acc)`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn finish<E: Float>(acc: E, alpha: E, beta: E, c: &mut E) {
        let t = alpha * acc;
        *c = if beta == E::zero() {
            t
        } else {
            num_traits::Float::mul_add(beta, *c, t)
        };
    }

    /// One vector of a row of C: `dst ← α·v (+ β·dst)`, all L lanes when `full`, else the
    /// lanes of `m`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_half<E: Simd>(
        dst: *mut E,
        v: E::V,
        m: __m256i,
        full: bool,
        va: E::V,
        vb: E::V,
        beta: E,
    ) {
        // SAFETY: the caller guarantees the L (full) or masked lanes at dst are inside C.
        unsafe {
            let t = E::vmul(va, v);
            let out = if beta == E::zero() {
                t
            } else if full {
                E::vfma(vb, E::vload(dst), t)
            } else {
                E::vfma(vb, E::vmaskload(dst, m), t)
            };
            if full {
                E::vstore(dst, out);
            } else {
                E::vmaskstore(dst, m, out);
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // dot kernel

    /// The dot kernel over all of C: blocks of `DOT_MC` rows, within a block every column
    /// quad of B against every row triple of A.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn dot_gemm<E: Simd>(
        m: usize,
        k: usize,
        n: usize,
        alpha: E,
        a: Mat<E>,
        b: Mat<E>,
        beta: E,
        c: MatMut<E>,
    ) {
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
                            (3, 4) => dot_tile::<E, 3, 4>(k, alpha, at, bt, beta, ct),
                            (3, 3) => dot_tile::<E, 3, 3>(k, alpha, at, bt, beta, ct),
                            (3, 2) => dot_tile::<E, 3, 2>(k, alpha, at, bt, beta, ct),
                            (3, 1) => dot_tile::<E, 3, 1>(k, alpha, at, bt, beta, ct),
                            (2, 4) => dot_tile::<E, 2, 4>(k, alpha, at, bt, beta, ct),
                            (2, 3) => dot_tile::<E, 2, 3>(k, alpha, at, bt, beta, ct),
                            (2, 2) => dot_tile::<E, 2, 2>(k, alpha, at, bt, beta, ct),
                            (2, 1) => dot_tile::<E, 2, 1>(k, alpha, at, bt, beta, ct),
                            (1, 4) => dot_tile::<E, 1, 4>(k, alpha, at, bt, beta, ct),
                            (1, 3) => dot_tile::<E, 1, 3>(k, alpha, at, bt, beta, ct),
                            (1, 2) => dot_tile::<E, 1, 2>(k, alpha, at, bt, beta, ct),
                            _ => dot_tile::<E, 1, 1>(k, alpha, at, bt, beta, ct),
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
    unsafe fn dot_tile<E: Simd, const R: usize, const C: usize>(
        k: usize,
        alpha: E,
        a: Mat<E>,
        b: Mat<E>,
        beta: E,
        c: MatMut<E>,
    ) {
        debug_assert!(R <= DOT_R && C <= DOT_C);
        let l = lanes::<E>();
        // SAFETY: AVX2 and FMA are available (this function's contract).
        let mut acc = [[unsafe { E::vzero() }; C]; R];
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
        let full = k / l * l;
        let mut p = 0;
        while p < full {
            // SAFETY: p + L ≤ k: the L elements of each row/column are inside A and B.
            unsafe {
                let av: [E::V; R] = std::array::from_fn(|r| E::vload(ar[r].add(p)));
                for s in 0..C {
                    let bv = E::vload(bc[s].add(p));
                    for r in 0..R {
                        acc[r][s] = E::vfma(av[r], bv, acc[r][s]);
                    }
                }
            }
            p += l;
        }
        if p < k {
            // SAFETY: the mask enables only the k − p < L elements inside A and B;
            // masked-off lanes are neither read nor faulted on and load as 0.
            unsafe {
                let mk = E::vmask(k - p);
                let av: [E::V; R] = std::array::from_fn(|r| E::vmaskload(ar[r].add(p), mk));
                for s in 0..C {
                    let bv = E::vmaskload(bc[s].add(p), mk);
                    for r in 0..R {
                        acc[r][s] = E::vfma(av[r], bv, acc[r][s]);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (s, v) in row.iter().enumerate() {
                // SAFETY: (r, s) is inside the tile of C.
                unsafe {
                    let cp = &mut *c.ptr.offset(r as isize * c.rs + s as isize * c.cs);
                    finish(E::vhsum(*v), alpha, beta, cp);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // outer kernel

    /// The outer kernel over all of C: blocks of `OUTER_MC` rows; within a block, for each
    /// 2L-column panel of B (copied into the thread's buffer unless B's rows are
    /// contiguous and near), every row sextet of A.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn outer_gemm<E: Simd>(
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
        let (copy_a, copy_b) = outer_copies::<E>(a.cs, b.rs, b.cs);
        // The accumulators of the block's tiles between chunks of k (OUTER_MC × 2L used).
        let mut saved = [E::zero(); OUTER_MC * NR_MAX];
        PANELS.with(|panels| {
            let mut panels = panels.borrow_mut();
            let n_panels = n.div_ceil(nr);
            let (len_a, len_b) = outer_copy_len::<E>(k, n, (copy_a, copy_b));
            let (buf_a, buf_b) = panels.reserve::<E>(len_a, len_b);
            if copy_b {
                // All of B, once: panel q at buf_b + q·k·2L, reused by every block of rows.
                for q in 0..n_panels {
                    let cols = (n - q * nr).min(nr);
                    // SAFETY: columns 2Lq..2Lq+cols of B are inside B; buf_b holds
                    // n_panels·k·2L elements.
                    unsafe { pack_b(k, cols, b.at(0, q * nr), buf_b.add(q * nr * k)) };
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
                            let save = saved.as_mut_ptr().wrapping_add((i - i0) * nr);
                            let flags = (first, last, save);
                            // SAFETY: the tile (i, j) + (rows, cols) is inside C; its rows of
                            // A are inside A or, copied, at tile (i − i0)/6 of buf_a (k·6
                            // each); columns p0..p0+kc of A and rows p0..p0+kc of B are
                            // inside them; `save` has rows·2L elements left in `saved`.
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
                                    6 => {
                                        outer_tile::<E, 6>(kc, cols, alpha, at, bk, beta, ct, flags)
                                    }
                                    5 => {
                                        outer_tile::<E, 5>(kc, cols, alpha, at, bk, beta, ct, flags)
                                    }
                                    4 => {
                                        outer_tile::<E, 4>(kc, cols, alpha, at, bk, beta, ct, flags)
                                    }
                                    3 => {
                                        outer_tile::<E, 3>(kc, cols, alpha, at, bk, beta, ct, flags)
                                    }
                                    2 => {
                                        outer_tile::<E, 2>(kc, cols, alpha, at, bk, beta, ct, flags)
                                    }
                                    _ => {
                                        outer_tile::<E, 1>(kc, cols, alpha, at, bk, beta, ct, flags)
                                    }
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
    unsafe fn pack_a<E: Simd>(k: usize, rows: usize, a: Mat<E>, dst: *mut E) {
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
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack_b<E: Simd>(k: usize, cols: usize, b: Mat<E>, dst: *mut E) {
        let (l, nr) = (lanes::<E>(), nr::<E>());
        for p in 0..k {
            // SAFETY: row p, columns < cols of B are inside B; dst holds k·2L elements.
            unsafe {
                let row = b.ptr.offset(p as isize * b.rs);
                let out = dst.add(p * nr);
                if cols == nr && b.cs == 1 {
                    E::vstore(out, E::vload(row));
                    E::vstore(out.add(l), E::vload(row.add(l)));
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

    /// One R×2L tile (R ≤ 6, `cols` ≤ 2L columns stored) of the outer kernel over the k
    /// steps of one chunk: `acc[r, s] += A[r, p]·B[p, s]` by one fma per p in increasing
    /// order. The accumulators start at 0 on the `first` chunk, else from `save` (R × 2L
    /// elements), where they are left after every chunk but the `last`; after the last,
    /// `C ← α·acc (+ β·C)`. Saving and reloading is exact, so a tile computed in chunks gets
    /// the same bits as in one go. B's rows are contiguous (`b.cs = 1`), at `b.ptr + p·b.rs`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn outer_tile<E: Simd, const R: usize>(
        k: usize,
        cols: usize,
        alpha: E,
        a: Mat<E>,
        b: Mat<E>,
        beta: E,
        c: MatMut<E>,
        (first, last, save): (bool, bool, *mut E),
    ) {
        let (l, nr) = (lanes::<E>(), nr::<E>());
        debug_assert!(R <= MR && cols <= nr && b.cs == 1);
        // SAFETY: AVX2 and FMA are available (this function's contract).
        let mut acc = [[unsafe { E::vzero() }; 2]; R];
        if !first {
            for (r, v) in acc.iter_mut().enumerate() {
                // SAFETY: `save` holds R × 2L elements.
                unsafe {
                    v[0] = E::vload(save.add(r * nr));
                    v[1] = E::vload(save.add(r * nr + l));
                }
            }
        }
        let mut ar = [a.ptr; R];
        for (r, p) in ar.iter_mut().enumerate() {
            // SAFETY: row r of the tile is inside A.
            *p = unsafe { a.ptr.offset(r as isize * a.rs) };
        }
        // SAFETY (whole body): element (r, p) of A is `ar[r] + p·a.cs`, row p of B starts
        // at `b.ptr + p·b.rs` with `cols` valid elements; masked lanes are not read.
        unsafe {
            if cols == nr {
                let mut bp = b.ptr;
                let mut off = 0isize;
                for _ in 0..k {
                    let b0 = E::vload(bp);
                    let b1 = E::vload(bp.add(l));
                    for r in 0..R {
                        let av = E::vbroadcast(ar[r].offset(off));
                        acc[r][0] = E::vfma(av, b0, acc[r][0]);
                        acc[r][1] = E::vfma(av, b1, acc[r][1]);
                    }
                    bp = bp.offset(b.rs);
                    off += a.cs;
                }
            } else {
                let m0 = E::vmask(cols.min(l));
                let m1 = E::vmask(cols.saturating_sub(l));
                let mut bp = b.ptr;
                let mut off = 0isize;
                for _ in 0..k {
                    let b0 = E::vmaskload(bp, m0);
                    let b1 = E::vmaskload(bp.add(l), m1);
                    for r in 0..R {
                        let av = E::vbroadcast(ar[r].offset(off));
                        acc[r][0] = E::vfma(av, b0, acc[r][0]);
                        acc[r][1] = E::vfma(av, b1, acc[r][1]);
                    }
                    bp = bp.offset(b.rs);
                    off += a.cs;
                }
            }
            if last {
                store_tile::<E, R>(cols, alpha, acc, beta, c);
            } else {
                for (r, v) in acc.iter().enumerate() {
                    E::vstore(save.add(r * nr), v[0]);
                    E::vstore(save.add(r * nr + l), v[1]);
                }
            }
        }
    }

    /// `C[r, s] ← α·acc[r, s] (+ β·C[r, s])` for r < R, s < cols: vector loads and stores
    /// when C's rows are contiguous, else element by element — the same fma either way.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_tile<E: Simd, const R: usize>(
        cols: usize,
        alpha: E,
        acc: [[E::V; 2]; R],
        beta: E,
        c: MatMut<E>,
    ) {
        let (l, nr) = (lanes::<E>(), nr::<E>());
        // SAFETY (whole body): AVX2 and FMA are available; (r, s) with r < R, s < cols lies
        // inside C; masked lanes are neither read nor written.
        unsafe {
            let va = E::vsplat(alpha);
            let vb = E::vsplat(beta);
            if c.cs == 1 {
                let m0 = E::vmask(cols.min(l));
                let m1 = E::vmask(cols.saturating_sub(l));
                for (r, v) in acc.iter().enumerate() {
                    let row = c.ptr.offset(r as isize * c.rs);
                    store_half::<E>(row, v[0], m0, cols >= l, va, vb, beta);
                    store_half::<E>(row.add(l), v[1], m1, cols >= nr, va, vb, beta);
                }
            } else {
                for (r, v) in acc.iter().enumerate() {
                    let mut buf = [E::zero(); NR_MAX];
                    E::vstore(buf.as_mut_ptr(), v[0]);
                    E::vstore(buf.as_mut_ptr().add(l), v[1]);
                    for (s, &x) in buf.iter().enumerate().take(cols) {
                        let cp = &mut *c.ptr.offset(r as isize * c.rs + s as isize * c.cs);
                        finish(x, alpha, beta, cp);
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
    use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};

    /// Small integers: every product and partial sum is exact in f32 (and f64), so any
    /// summation order gives the naive loop's value exactly.
    fn ints<T: Float>(rows: usize, cols: usize, salt: usize, col_major: bool) -> Array2<T> {
        let f =
            |(i, j): (usize, usize)| T::from_f64(((i * 7 + j * 5 + salt * 3) % 11) as f64 - 5.0);
        if col_major {
            Array2::from_shape_fn((rows, cols).f(), f)
        } else {
            Array2::from_shape_fn((rows, cols), f)
        }
    }

    /// Runs [`gemm`] on views and returns whether it handled the call.
    fn run<T: Float>(
        alpha: T,
        a: ArrayView2<T>,
        b: ArrayView2<T>,
        beta: T,
        mut c: ArrayViewMut2<T>,
    ) -> bool {
        let (m, k) = a.dim();
        let n = b.ncols();
        // SAFETY: the views describe valid, non-overlapping matrices of these shapes.
        unsafe {
            gemm(
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

    fn t<T: Float>(x: f64) -> T {
        T::from_f64(x)
    }

    /// Fast against naive over sizes around the tile edges (of both types' tiles), both
    /// kernels, every A/B/C order, β = 0 (C starts NaN) and β ≠ 0.
    fn both_kernels_equal_naive_on_integers<T: Float>() {
        if !available_for::<T>() {
            return;
        }
        let ms = [1, 2, 3, 5, 6, 7, 13, 50, 97];
        let ns = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33];
        let ks = [0, 1, 3, 4, 5, 7, 8, 9, 127, 128, 131];
        let mut dot_cases = 0;
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    for lay in 0..8 {
                        let (ca, cb, cc) = (lay & 1 == 1, lay & 2 == 2, lay & 4 == 4);
                        let a = ints::<T>(m, k, 1, ca);
                        let b = ints::<T>(k, n, 2, cb);
                        for (alpha, beta) in [(1.0, 0.0), (-2.0, 0.5)] {
                            let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
                            let init = ints::<T>(m, n, 3, cc);
                            let mut want = init.clone();
                            gemm_naive(alpha, a.view(), b.view(), beta, want.view_mut());
                            let mut got = init.clone();
                            if beta == T::zero() {
                                got.fill(T::nan());
                            }
                            assert!(run(alpha, a.view(), b.view(), beta, got.view_mut()));
                            assert_eq!(
                                got,
                                want,
                                "{} {m}x{k}x{n} layout {lay} α={alpha} β={beta}",
                                T::NAME
                            );
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

    #[test]
    fn both_kernels_equal_naive_on_integers_f32() {
        both_kernels_equal_naive_on_integers::<f32>();
    }

    #[test]
    fn both_kernels_equal_naive_on_integers_f64() {
        both_kernels_equal_naive_on_integers::<f64>();
    }

    /// The outer kernel's other paths: k in several chunks (k > OUTER_KC), more than one
    /// block of rows (m > OUTER_MC), and A and B copied because their k-strides are 4 KiB
    /// or more — each against naive, on integers.
    fn outer_kernel_chunks_and_copies_equal_naive<T: Float>() {
        if !available_for::<T>() {
            return;
        }
        let (m, n) = (100, 37);
        for k in [255, 256, 257, 600] {
            // Wide parents, so the views' k-strides are 1100 ≥ 1024 ≥ far.
            let a_far = ints::<T>(1100, k, 1, true);
            let b_far = ints::<T>(k, 1100, 2, false);
            let a_near = ints::<T>(m, k, 1, true);
            let b_near = ints::<T>(k, n, 2, false);
            let a_far = a_far.slice(ndarray::s![..m, ..]);
            let b_far = b_far.slice(ndarray::s![.., ..n]);
            assert!(
                a_far.strides()[1] as usize >= far::<T>()
                    && b_far.strides()[0] as usize >= far::<T>()
            );
            for (a, b) in [
                (a_far, b_far),
                (a_far, b_near.view()),
                (a_near.view(), b_far),
                (a_near.view(), b_near.view()),
            ] {
                let s = (a.strides(), b.strides());
                assert!(!uses_dot(k, s.0[0], s.0[1], s.1[0], s.1[1]));
                for (alpha, beta) in [(1.0, 0.0), (2.0, -1.0)] {
                    let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
                    let init = ints::<T>(m, n, 3, false);
                    let mut want = init.clone();
                    gemm_naive(alpha, a, b, beta, want.view_mut());
                    let mut got = init.clone();
                    assert!(run(alpha, a, b, beta, got.view_mut()));
                    assert_eq!(got, want, "k = {k}, strides {s:?}, α={alpha} β={beta}");
                }
            }
        }
    }

    #[test]
    fn outer_kernel_chunks_and_copies_equal_naive_f32() {
        outer_kernel_chunks_and_copies_equal_naive::<f32>();
    }

    #[test]
    fn outer_kernel_chunks_and_copies_equal_naive_f64() {
        outer_kernel_chunks_and_copies_equal_naive::<f64>();
    }

    /// Negative control: a wrong result is caught (the comparison is not vacuous).
    fn a_perturbed_operand_is_detected<T: Float>() {
        if !available_for::<T>() {
            return;
        }
        let a = ints::<T>(7, 130, 1, false);
        let b = ints::<T>(130, 5, 2, true);
        let mut want = Array2::zeros((7, 5));
        gemm_naive(T::one(), a.view(), b.view(), T::zero(), want.view_mut());
        let mut bad = b.clone();
        bad[[129, 4]] += T::one(); // the masked tail of the dot kernel (130 = 16·8 + 2 = 32·4 + 2)
        let mut got = Array2::zeros((7, 5));
        assert!(run(
            T::one(),
            a.view(),
            bad.view(),
            T::zero(),
            got.view_mut()
        ));
        assert_ne!(got, want);
        assert!((0..7).all(|i| got[[i, 4]] - want[[i, 4]] == a[[i, 129]]));
    }

    #[test]
    fn a_perturbed_operand_is_detected_f32() {
        a_perturbed_operand_is_detected::<f32>();
    }

    #[test]
    fn a_perturbed_operand_is_detected_f64() {
        a_perturbed_operand_is_detected::<f64>();
    }

    /// Both kernels on real-valued data: within rounding (`tol`) of the f64 product, and
    /// bit-identical whether C is computed whole or in two row blocks (what the parallel
    /// GEMM does).
    fn blocks_of_c_are_bit_identical_to_the_whole<T: Float>(tol: f64) {
        if !available_for::<T>() {
            return;
        }
        let real = |rows, cols, salt: f64| {
            Array2::from_shape_fn((rows, cols), |(i, j)| {
                T::from_f64(((i as f64 * 0.37 + j as f64 * 0.11 + salt).sin()) * 0.5)
            })
        };
        for (x, theta_t) in [
            (real(50, 784, 0.3), real(64, 784, 1.1).reversed_axes()),
            (real(50, 64, 0.3), real(64, 64, 1.1).reversed_axes()),
        ] {
            let mut whole = Array2::zeros((50, 64));
            assert!(run(
                T::one(),
                x.view(),
                theta_t.view(),
                T::zero(),
                whole.view_mut()
            ));
            let mut parts = Array2::zeros((50, 64));
            let (top, bottom) = parts.view_mut().split_at(ndarray::Axis(0), 19);
            let (xt, xb) = x.view().split_at(ndarray::Axis(0), 19);
            assert!(run(T::one(), xt, theta_t.view(), T::zero(), top));
            assert!(run(T::one(), xb, theta_t.view(), T::zero(), bottom));
            let bits = |c: &Array2<T>| {
                c.iter()
                    .map(|&v| Float::to_f64(v).to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&whole), bits(&parts));
            let exact = x.mapv(Float::to_f64).dot(&theta_t.mapv(Float::to_f64));
            let err = (&whole.mapv(Float::to_f64) - &exact)
                .iter()
                .fold(0.0f64, |m, e| m.max(e.abs()));
            assert!(err < tol, "{}: max error {err:e}", T::NAME);
        }
    }

    #[test]
    fn blocks_of_c_are_bit_identical_to_the_whole_f32() {
        blocks_of_c_are_bit_identical_to_the_whole::<f32>(1e-4);
    }

    #[test]
    fn blocks_of_c_are_bit_identical_to_the_whole_f64() {
        blocks_of_c_are_bit_identical_to_the_whole::<f64>(1e-12);
    }

    /// The layouts of the outer kernel's copy paths, and one of the dot kernel.
    fn copy_cases<T: Float>() -> Vec<(Array2<T>, Array2<T>, bool, bool)> {
        let (m, n, k) = (20, 37, 300);
        vec![
            // A column-major with near columns (not the dot kernel), B column-major: B
            // copied (its rows are not contiguous).
            (ints(m, k, 1, true), ints(k, n, 2, true), false, true),
            // A's k-stride 1100 ≥ far (column-major, 1100 rows), B rows 1100 apart: both.
            (ints(1100, k, 1, true), ints(k, 1100, 2, false), true, true),
            // Row-major B with near rows: nothing copied.
            (ints(m, k, 1, true), ints(k, n, 2, false), false, false),
            // The dot kernel: nothing copied.
            (ints(m, k, 1, false), ints(k, n, 2, true), false, false),
        ]
    }

    /// [`Scratch::for_product`] is what the kernel then uses: after reserving it on a fresh
    /// thread, the product leaves the thread's buffers as they were; without the reserve,
    /// the copying products grow them (negative control).
    fn scratch_covers_the_product<T: Float>() {
        if !available_for::<T>() {
            return;
        }
        for (a, b, want_a, want_b) in copy_cases::<T>() {
            let (a, b) = (
                a.slice(ndarray::s![..20, ..]),
                b.slice(ndarray::s![.., ..37]),
            );
            let s = Scratch::for_product::<T>(
                a.ncols(),
                b.ncols(),
                a.strides()[0],
                a.strides()[1],
                b.strides()[0],
                b.strides()[1],
            );
            assert_eq!((s.a_bytes > 0, s.b_bytes > 0), (want_a, want_b), "{s:?}");
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    reserve_scratch(s);
                    let before = reserved_scratch();
                    assert!(before.a_bytes >= s.a_bytes && before.b_bytes >= s.b_bytes);
                    let mut c = Array2::zeros((20, 37));
                    assert!(run(T::one(), a, b, T::zero(), c.view_mut()));
                    assert_eq!(reserved_scratch(), before, "{s:?}");
                });
                sc.spawn(|| {
                    assert_eq!(reserved_scratch(), Scratch::default());
                    let mut c = Array2::zeros((20, 37));
                    assert!(run(T::one(), a, b, T::zero(), c.view_mut()));
                    let grown = reserved_scratch();
                    assert_eq!((grown.a_bytes > 0, grown.b_bytes > 0), (want_a, want_b));
                });
            });
        }
    }

    #[test]
    fn scratch_covers_the_product_f32() {
        scratch_covers_the_product::<f32>();
    }

    #[test]
    fn scratch_covers_the_product_f64() {
        scratch_covers_the_product::<f64>();
    }

    /// [`reserve_scratch_in_pool`] inside a pool reserves on every worker (a fresh pool holds
    /// nothing); outside any pool, on the calling thread.
    #[test]
    fn reserve_in_pool_reaches_every_worker() {
        let s = Scratch {
            a_bytes: 5000,
            b_bytes: 70_000,
        };
        let pool = crate::build_pool(3).expect("pool");
        assert_eq!(
            pool.broadcast(|_| reserved_scratch()),
            vec![Scratch::default(); 3],
            "negative control: a fresh pool holds nothing"
        );
        pool.install(|| reserve_scratch_in_pool(s));
        let held = pool.broadcast(|_| reserved_scratch());
        assert!(
            held.iter()
                .all(|h| h.a_bytes >= s.a_bytes && h.b_bytes >= s.b_bytes),
            "{held:?}"
        );
        std::thread::scope(|sc| {
            sc.spawn(|| {
                reserve_scratch_in_pool(s);
                assert_eq!(
                    reserved_scratch(),
                    Scratch {
                        a_bytes: 8192,
                        b_bytes: 131_072
                    },
                    "the calling thread, in powers of two"
                );
            });
        });
    }
}
