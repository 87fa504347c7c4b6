//! The vector operations the kernels are written over ([`Simd`]), and their
//! implementations: [`Avx2`] and [`Avx512`] (x86_64) and [`Scalar`], their lane-by-lane
//! twin.
//!
//! A kernel calls only these operations, so two implementations that compute each of them
//! alike give the same bits: [`Scalar`] does every lane's arithmetic as one IEEE operation
//! (`mul_add` for the fused multiply-add, rounded once like `vfmadd`) and adds the lanes of
//! `hsum` in the same tree as the AVX2 shuffle sequence. It runs on every CPU, and the tests
//! compare each vector path with it bit for bit (notes/gemm.md §2).

use crate::Float;

/// The vector operations of the kernels, for element type `E`: a vector `V` holds
/// [`Simd::LANES`] lanes of `E`, a mask `M` switches on its first lanes.
///
/// Every method is `unsafe`: it may run only on a CPU with the instruction set, and the
/// pointer methods read or write the lanes they name (the masked-on lanes of a masked
/// access; masked-off lanes are neither read nor written and never fault).
pub(super) trait Simd<E: Float> {
    /// One vector of lanes.
    type V: Copy;
    /// Which lanes a masked access touches (always the first ones).
    type M: Copy;
    /// Lanes per vector.
    const LANES: usize;
    /// All lanes 0.
    unsafe fn zero() -> Self::V;
    /// All lanes `x`.
    unsafe fn splat(x: E) -> Self::V;
    /// All lanes `*p`.
    unsafe fn broadcast(p: *const E) -> Self::V;
    /// The lanes at `p..p + L` (unaligned).
    unsafe fn load(p: *const E) -> Self::V;
    /// Stores the lanes at `p..p + L` (unaligned).
    unsafe fn store(p: *mut E, v: Self::V);
    /// A mask with the first `n` (0..=L) lanes on.
    unsafe fn mask(n: usize) -> Self::M;
    /// The lanes of `m` from `p`, the others 0.
    unsafe fn maskload(p: *const E, m: Self::M) -> Self::V;
    /// Stores the lanes of `m` at `p`.
    unsafe fn maskstore(p: *mut E, m: Self::M, v: Self::V);
    /// `a·b + c` lane by lane, rounded once (fused multiply-add).
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a·b` lane by lane.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// The lanes added as a tree of halves: lane `i` plus lane `i + L/2` for `i < L/2`,
    /// then the same on those L/2 sums, down to one — `((l0+l4) + (l2+l6)) + ((l1+l5) +
    /// (l3+l7))` for 8 lanes, `(l0+l2) + (l1+l3)` for 4.
    unsafe fn hsum(v: Self::V) -> E;
    /// A hint to bring the cache line holding `p` into L2; changes no value, never faults
    /// (any address).
    unsafe fn prefetch_l2(p: *const E);
}

/// Vectors of two halves, each half one 256-bit vector of the dot kernel (`H` = 8 `f32`
/// or 4 `f64` lanes): the AVX-512 dot kernel keeps in each half exactly the partial sums the
/// 256-bit dot kernel keeps in a whole vector, so both give the same bits (notes/gemm.md
/// §2). `mask` counts lanes of one half.
pub(super) trait Halves<E: Float>: Simd<E> {
    /// The `H` elements at `p` in both halves (the first `m` of them, the others 0).
    unsafe fn broadcast_half(p: *const E, m: Self::M) -> Self::V;
    /// The `H` elements at `p0` in the low half and those at `p1` in the high half (the
    /// first `m` of each, the others 0).
    unsafe fn load_halves(p0: *const E, p1: *const E, m: Self::M) -> Self::V;
    /// [`Halves::broadcast_half`] with all `H` elements (a plain load the CPU can fold).
    unsafe fn broadcast_half_full(p: *const E) -> Self::V;
    /// [`Halves::load_halves`] with all `H` elements of each.
    unsafe fn load_halves_full(p0: *const E, p1: *const E) -> Self::V;
    /// Each half's lanes added in the 256-bit dot kernel's tree (its `hsum`): (low, high).
    unsafe fn hsum_halves(v: Self::V) -> (E, E);
}

/// The element types the kernel runs in, `f32` and `f64`, with the implementation of
/// [`Simd`] each instruction set uses for them.
pub(super) trait Element: Float {
    /// [`Scalar`] with the lanes of one 256-bit vector.
    type Scalar: Simd<Self>;
    /// [`Avx2`].
    #[cfg(target_arch = "x86_64")]
    type Avx2: Simd<Self>;
    /// Off x86_64 the AVX2 slot holds the scalar twin; it is never run
    /// ([`super::Isa::Avx2`] is never available there).
    #[cfg(not(target_arch = "x86_64"))]
    type Avx2: Simd<Self>;
    /// [`Avx512`] (512-bit vectors: 16 `f32`, 8 `f64`); off x86_64 the scalar twin, never
    /// run.
    type Avx512: Halves<Self>;
}

impl Element for f32 {
    type Scalar = Scalar<8>;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = Avx2;
    #[cfg(not(target_arch = "x86_64"))]
    type Avx2 = Scalar<8>;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = Avx512;
    #[cfg(not(target_arch = "x86_64"))]
    type Avx512 = Scalar<16>;
}

impl Element for f64 {
    type Scalar = Scalar<4>;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = Avx2;
    #[cfg(not(target_arch = "x86_64"))]
    type Avx2 = Scalar<4>;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = Avx512;
    #[cfg(not(target_arch = "x86_64"))]
    type Avx512 = Scalar<8>;
}

/// The scalar twin of an `L`-lane vector: a vector is `[E; L]`, every operation a loop over
/// the lanes with one IEEE operation each. Needs no instruction set beyond the baseline;
/// where the CPU has no FMA, `mul_add` calls the C library's `fma`, which rounds once too.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scalar<const L: usize>;

impl<E: Float, const L: usize> Simd<E> for Scalar<L> {
    type V = [E; L];
    /// The number of lanes on.
    type M = usize;
    const LANES: usize = L;

    #[inline(always)]
    unsafe fn zero() -> [E; L] {
        [E::zero(); L]
    }

    #[inline(always)]
    unsafe fn splat(x: E) -> [E; L] {
        [x; L]
    }

    #[inline(always)]
    unsafe fn broadcast(p: *const E) -> [E; L] {
        // SAFETY: the caller vouches for *p.
        [unsafe { *p }; L]
    }

    #[inline(always)]
    unsafe fn load(p: *const E) -> [E; L] {
        let mut v = [E::zero(); L];
        for (i, lane) in v.iter_mut().enumerate() {
            // SAFETY: the caller vouches for the L elements at p.
            *lane = unsafe { *p.add(i) };
        }
        v
    }

    #[inline(always)]
    unsafe fn store(p: *mut E, v: [E; L]) {
        for (i, &lane) in v.iter().enumerate() {
            // SAFETY: the caller vouches for the L elements at p.
            unsafe { *p.add(i) = lane };
        }
    }

    #[inline(always)]
    unsafe fn mask(n: usize) -> usize {
        debug_assert!(n <= L);
        n
    }

    #[inline(always)]
    unsafe fn maskload(p: *const E, m: usize) -> [E; L] {
        let mut v = [E::zero(); L];
        for (i, lane) in v.iter_mut().enumerate().take(m) {
            // SAFETY: the caller vouches for the first m elements at p.
            *lane = unsafe { *p.add(i) };
        }
        v
    }

    #[inline(always)]
    unsafe fn maskstore(p: *mut E, m: usize, v: [E; L]) {
        for (i, &lane) in v.iter().enumerate().take(m) {
            // SAFETY: the caller vouches for the first m elements at p.
            unsafe { *p.add(i) = lane };
        }
    }

    #[inline(always)]
    unsafe fn fma(a: [E; L], b: [E; L], c: [E; L]) -> [E; L] {
        let mut v = c;
        for (i, lane) in v.iter_mut().enumerate() {
            *lane = num_traits::Float::mul_add(a[i], b[i], c[i]);
        }
        v
    }

    #[inline(always)]
    unsafe fn mul(a: [E; L], b: [E; L]) -> [E; L] {
        let mut v = a;
        for (i, lane) in v.iter_mut().enumerate() {
            *lane = a[i] * b[i];
        }
        v
    }

    #[inline(always)]
    unsafe fn hsum(v: [E; L]) -> E {
        tree_sum(v, L)
    }

    #[inline(always)]
    unsafe fn prefetch_l2(_p: *const E) {}
}

/// The scalar twin of [`Halves`]: halves of `L/2` lanes (never run where [`Avx512`] is;
/// it fills the slot off x86_64).
impl<E: Float, const L: usize> Halves<E> for Scalar<L> {
    #[inline(always)]
    unsafe fn broadcast_half(p: *const E, m: usize) -> [E; L] {
        let mut v = [E::zero(); L];
        for i in 0..m.min(L / 2) {
            // SAFETY: the caller vouches for the first m elements at p.
            let x = unsafe { *p.add(i) };
            (v[i], v[i + L / 2]) = (x, x);
        }
        v
    }

    #[inline(always)]
    unsafe fn load_halves(p0: *const E, p1: *const E, m: usize) -> [E; L] {
        let mut v = [E::zero(); L];
        for i in 0..m.min(L / 2) {
            // SAFETY: the caller vouches for the first m elements at p0 and p1.
            (v[i], v[i + L / 2]) = unsafe { (*p0.add(i), *p1.add(i)) };
        }
        v
    }

    #[inline(always)]
    unsafe fn broadcast_half_full(p: *const E) -> [E; L] {
        // SAFETY: forwarded to the caller.
        unsafe { Self::broadcast_half(p, L / 2) }
    }

    #[inline(always)]
    unsafe fn load_halves_full(p0: *const E, p1: *const E) -> [E; L] {
        // SAFETY: forwarded to the caller.
        unsafe { Self::load_halves(p0, p1, L / 2) }
    }

    #[inline(always)]
    unsafe fn hsum_halves(v: [E; L]) -> (E, E) {
        let mut hi = v;
        hi.rotate_left(L / 2);
        (tree_sum(v, L / 2), tree_sum(hi, L / 2))
    }
}

/// The first `n` lanes of `v` added as a tree of halves: lane `i` plus lane `i + n/2` for
/// `i < n/2`, then the same on those n/2 sums, down to one (what [`Simd::hsum`] promises).
#[inline(always)]
fn tree_sum<E: Float, const L: usize>(mut v: [E; L], n: usize) -> E {
    let mut half = n / 2;
    while half > 0 {
        for i in 0..half {
            let upper = v[i + half];
            v[i] += upper;
        }
        half /= 2;
    }
    v[0]
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx2::Avx2;
#[cfg(target_arch = "x86_64")]
pub(super) use avx512::Avx512;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Simd;

    /// AVX2 + FMA: `f32` in 8 lanes of `__m256`, `f64` in 4 lanes of `__m256d`. Each
    /// operation is one instruction, except `hsum` (a fixed sequence) and `mask` (a load
    /// from a constant table).
    #[derive(Clone, Copy, Debug)]
    pub(in crate::gemm::kernel) struct Avx2;

    impl Simd<f32> for Avx2 {
        type V = __m256;
        type M = __m256i;
        const LANES: usize = 8;

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn zero() -> __m256 {
            _mm256_setzero_ps()
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn splat(x: f32) -> __m256 {
            _mm256_set1_ps(x)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn broadcast(p: *const f32) -> __m256 {
            // SAFETY: the caller vouches for *p.
            unsafe { _mm256_broadcast_ss(&*p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn load(p: *const f32) -> __m256 {
            // SAFETY: the caller vouches for the 8 floats at p.
            unsafe { _mm256_loadu_ps(p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn store(p: *mut f32, v: __m256) {
            // SAFETY: the caller vouches for the 8 floats at p.
            unsafe { _mm256_storeu_ps(p, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn mask(n: usize) -> __m256i {
            const ON: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
            debug_assert!(n <= 8);
            // SAFETY: n ≤ 8, so the 8 lanes read lie inside ON.
            unsafe { _mm256_loadu_si256(ON.as_ptr().add(8 - n) as *const __m256i) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn maskload(p: *const f32, m: __m256i) -> __m256 {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskload_ps(p, m) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn maskstore(p: *mut f32, m: __m256i, v: __m256) {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskstore_ps(p, m, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, c)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn mul(a: __m256, b: __m256) -> __m256 {
            _mm256_mul_ps(a, b)
        }

        /// `(l0+l4) + (l2+l6)` and `(l1+l5) + (l3+l7)`, then those two.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn hsum(v: __m256) -> f32 {
            let lo = _mm256_castps256_ps128(v);
            let hi = _mm256_extractf128_ps::<1>(v);
            let s4 = _mm_add_ps(lo, hi); // l0+l4, l1+l5, l2+l6, l3+l7
            let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4)); // (l0+l4)+(l2+l6), (l1+l5)+(l3+l7)
            let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
            _mm_cvtss_f32(s1)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn prefetch_l2(p: *const f32) {
            _mm_prefetch::<_MM_HINT_T1>(p as *const i8);
        }
    }

    impl Simd<f64> for Avx2 {
        type V = __m256d;
        type M = __m256i;
        const LANES: usize = 4;

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn zero() -> __m256d {
            _mm256_setzero_pd()
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn splat(x: f64) -> __m256d {
            _mm256_set1_pd(x)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn broadcast(p: *const f64) -> __m256d {
            // SAFETY: the caller vouches for *p.
            unsafe { _mm256_broadcast_sd(&*p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn load(p: *const f64) -> __m256d {
            // SAFETY: the caller vouches for the 4 doubles at p.
            unsafe { _mm256_loadu_pd(p) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn store(p: *mut f64, v: __m256d) {
            // SAFETY: the caller vouches for the 4 doubles at p.
            unsafe { _mm256_storeu_pd(p, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn mask(n: usize) -> __m256i {
            const ON: [i64; 8] = [-1, -1, -1, -1, 0, 0, 0, 0];
            debug_assert!(n <= 4);
            // SAFETY: n ≤ 4, so the 4 lanes read lie inside ON.
            unsafe { _mm256_loadu_si256(ON.as_ptr().add(4 - n) as *const __m256i) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn maskload(p: *const f64, m: __m256i) -> __m256d {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskload_pd(p, m) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn maskstore(p: *mut f64, m: __m256i, v: __m256d) {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm256_maskstore_pd(p, m, v) }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn fma(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
            _mm256_fmadd_pd(a, b, c)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn mul(a: __m256d, b: __m256d) -> __m256d {
            _mm256_mul_pd(a, b)
        }

        /// `(l0+l2) + (l1+l3)`.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn hsum(v: __m256d) -> f64 {
            let lo = _mm256_castpd256_pd128(v);
            let hi = _mm256_extractf128_pd::<1>(v);
            let s2 = _mm_add_pd(lo, hi); // l0+l2, l1+l3
            let s1 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
            _mm_cvtsd_f64(s1)
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn prefetch_l2(p: *const f64) {
            _mm_prefetch::<_MM_HINT_T1>(p as *const i8);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Halves, Simd};

    /// AVX-512F: `f32` in 16 lanes of `__m512`, `f64` in 8 lanes of `__m512d`, masks in
    /// mask registers. Each operation is one instruction except `hsum` (a fixed sequence:
    /// the two 256-bit halves added, then AVX2's tree). A masked load suppresses faults on
    /// its masked-off lanes, like AVX2's.
    #[derive(Clone, Copy, Debug)]
    pub(in crate::gemm::kernel) struct Avx512;

    impl Simd<f32> for Avx512 {
        type V = __m512;
        type M = __mmask16;
        const LANES: usize = 16;

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn zero() -> __m512 {
            _mm512_setzero_ps()
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn splat(x: f32) -> __m512 {
            _mm512_set1_ps(x)
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn broadcast(p: *const f32) -> __m512 {
            // SAFETY: the caller vouches for *p.
            _mm512_set1_ps(unsafe { *p })
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn load(p: *const f32) -> __m512 {
            // SAFETY: the caller vouches for the 16 floats at p.
            unsafe { _mm512_loadu_ps(p) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn store(p: *mut f32, v: __m512) {
            // SAFETY: the caller vouches for the 16 floats at p.
            unsafe { _mm512_storeu_ps(p, v) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn mask(n: usize) -> __mmask16 {
            debug_assert!(n <= 16);
            ((1u32 << n) - 1) as __mmask16
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn maskload(p: *const f32, m: __mmask16) -> __m512 {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm512_maskz_loadu_ps(m, p) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn maskstore(p: *mut f32, m: __mmask16, v: __m512) {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm512_mask_storeu_ps(p, m, v) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            _mm512_fmadd_ps(a, b, c)
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            _mm512_mul_ps(a, b)
        }

        /// Lane i plus lane i + 8, then [`super::Avx2`]'s tree on those 8 sums.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn hsum(v: __m512) -> f32 {
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            // SAFETY: AVX-512F implies AVX2 and FMA.
            unsafe { <super::Avx2 as Simd<f32>>::hsum(_mm256_add_ps(lo, hi)) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn prefetch_l2(p: *const f32) {
            _mm_prefetch::<_MM_HINT_T1>(p as *const i8);
        }
    }

    impl Simd<f64> for Avx512 {
        type V = __m512d;
        type M = __mmask8;
        const LANES: usize = 8;

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn zero() -> __m512d {
            _mm512_setzero_pd()
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn splat(x: f64) -> __m512d {
            _mm512_set1_pd(x)
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn broadcast(p: *const f64) -> __m512d {
            // SAFETY: the caller vouches for *p.
            _mm512_set1_pd(unsafe { *p })
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn load(p: *const f64) -> __m512d {
            // SAFETY: the caller vouches for the 8 doubles at p.
            unsafe { _mm512_loadu_pd(p) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn store(p: *mut f64, v: __m512d) {
            // SAFETY: the caller vouches for the 8 doubles at p.
            unsafe { _mm512_storeu_pd(p, v) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn mask(n: usize) -> __mmask8 {
            debug_assert!(n <= 8);
            ((1u32 << n) - 1) as __mmask8
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn maskload(p: *const f64, m: __mmask8) -> __m512d {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm512_maskz_loadu_pd(m, p) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn maskstore(p: *mut f64, m: __mmask8, v: __m512d) {
            // SAFETY: the caller vouches for the masked-on lanes at p.
            unsafe { _mm512_mask_storeu_pd(p, m, v) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn fma(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
            _mm512_fmadd_pd(a, b, c)
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn mul(a: __m512d, b: __m512d) -> __m512d {
            _mm512_mul_pd(a, b)
        }

        /// Lane i plus lane i + 4, then [`super::Avx2`]'s tree on those 4 sums.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn hsum(v: __m512d) -> f64 {
            let lo = _mm512_castpd512_pd256(v);
            let hi = _mm512_extractf64x4_pd::<1>(v);
            // SAFETY: AVX-512F implies AVX2 and FMA.
            unsafe { <super::Avx2 as Simd<f64>>::hsum(_mm256_add_pd(lo, hi)) }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn prefetch_l2(p: *const f64) {
            _mm_prefetch::<_MM_HINT_T1>(p as *const i8);
        }
    }

    impl Halves<f32> for Avx512 {
        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn broadcast_half(p: *const f32, m: __mmask16) -> __m512 {
            // SAFETY: the caller vouches for the masked-on elements at p.
            let half = unsafe { _mm256_maskz_loadu_ps(m as __mmask8, p) };
            _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(half)))
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn load_halves(p0: *const f32, p1: *const f32, m: __mmask16) -> __m512 {
            // SAFETY: the caller vouches for the masked-on elements at p0 and p1.
            unsafe {
                let lo = _mm256_maskz_loadu_ps(m as __mmask8, p0);
                let hi = _mm256_maskz_loadu_ps(m as __mmask8, p1);
                let lo = _mm512_castpd256_pd512(_mm256_castps_pd(lo));
                _mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, _mm256_castps_pd(hi)))
            }
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn broadcast_half_full(p: *const f32) -> __m512 {
            // SAFETY: the caller vouches for the 8 floats at p (read as 4 doubles' bits).
            let half = unsafe { _mm256_loadu_pd(p as *const f64) };
            _mm512_castpd_ps(_mm512_broadcast_f64x4(half))
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn load_halves_full(p0: *const f32, p1: *const f32) -> __m512 {
            // SAFETY: the caller vouches for the 8 floats at p0 and at p1.
            unsafe {
                let lo = _mm512_castpd256_pd512(_mm256_loadu_pd(p0 as *const f64));
                let hi = _mm256_loadu_pd(p1 as *const f64);
                _mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, hi))
            }
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn hsum_halves(v: __m512) -> (f32, f32) {
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            // SAFETY: AVX-512F implies AVX2 and FMA.
            unsafe {
                (
                    <super::Avx2 as Simd<f32>>::hsum(lo),
                    <super::Avx2 as Simd<f32>>::hsum(hi),
                )
            }
        }
    }

    impl Halves<f64> for Avx512 {
        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn broadcast_half(p: *const f64, m: __mmask8) -> __m512d {
            // SAFETY: the caller vouches for the masked-on elements at p.
            let half = unsafe { _mm256_maskz_loadu_pd(m, p) };
            _mm512_broadcast_f64x4(half)
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn load_halves(p0: *const f64, p1: *const f64, m: __mmask8) -> __m512d {
            // SAFETY: the caller vouches for the masked-on elements at p0 and p1.
            unsafe {
                let lo = _mm256_maskz_loadu_pd(m, p0);
                let hi = _mm256_maskz_loadu_pd(m, p1);
                _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi)
            }
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn broadcast_half_full(p: *const f64) -> __m512d {
            // SAFETY: the caller vouches for the 4 doubles at p.
            _mm512_broadcast_f64x4(unsafe { _mm256_loadu_pd(p) })
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn load_halves_full(p0: *const f64, p1: *const f64) -> __m512d {
            // SAFETY: the caller vouches for the 4 doubles at p0 and at p1.
            unsafe {
                let lo = _mm512_castpd256_pd512(_mm256_loadu_pd(p0));
                _mm512_insertf64x4::<1>(lo, _mm256_loadu_pd(p1))
            }
        }

        #[target_feature(enable = "avx512f,avx512vl")]
        #[inline]
        unsafe fn hsum_halves(v: __m512d) -> (f64, f64) {
            let lo = _mm512_castpd512_pd256(v);
            let hi = _mm512_extractf64x4_pd::<1>(v);
            // SAFETY: AVX-512F implies AVX2 and FMA.
            unsafe {
                (
                    <super::Avx2 as Simd<f64>>::hsum(lo),
                    <super::Avx2 as Simd<f64>>::hsum(hi),
                )
            }
        }
    }
}
