//! Per-example squared gradient norms of a Dense layer (P18, P19, P44) and the scaling of
//! its δ rows by the clipping factors (P21): the private step's own work in the layer
//! (notes/privacy.md §11; cost notes: notes/privacy_cost.md).
//!
//! [`sum_of_squares`] is also the non-private step's `square_sum` (T13), so its per-row
//! paths stay as they are; the row-group path of [`dense_add_example_sq_norms`] on AVX2
//! ([`add_example_sq_norms_f32_avx2`]) is private-only.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2};

use crate::Float;

/// (P18, P19) Adds each example's squared gradient norm over this layer's parameters to
/// `sq_norms` (N,): the gradient of example i is `∂ℓᵢ/∂Θ = δᵢ·xᵢᵀ` and `∂ℓᵢ/∂b = δᵢ`, so
/// `sq_norms[i] += ‖δᵢ‖²·‖xᵢ‖² + ‖δᵢ‖²` — without forming the (H, D) outer product. Each
/// row's squares are summed in f64 by [`sum_of_squares`] on the calling thread (built for the
/// widest instruction set, same bits), so the result does not depend on the thread count or
/// the instruction set. `d_z` must hold per-example
/// gradients (row i = `∂ℓᵢ/∂zᵢ`), not a batch mean.
///
/// Shapes: `x` (N, D), `d_z` (N, H), `sq_norms` (N).
///
/// # Panics
/// If the row counts disagree.
pub fn dense_add_example_sq_norms<T: Float>(
    x: ArrayView2<T>,
    d_z: ArrayView2<T>,
    sq_norms: &mut [f64],
) {
    let n = x.nrows();
    assert_eq!(
        d_z.nrows(),
        n,
        "dense: X has {n} rows but dL/dZ {}",
        d_z.nrows()
    );
    assert_eq!(
        sq_norms.len(),
        n,
        "dense: {} norms for {n} rows",
        sq_norms.len()
    );
    #[cfg(target_arch = "x86_64")]
    if let (Some(x_all), Some(d_all)) = (f32_rows(&x), f32_rows(&d_z))
        && crate::gemm::kernel::avx2_paths()
        && !crate::gemm::kernel::avx512_paths()
    {
        // SAFETY: the CPU has AVX2 and FMA (checked); the slices are the row-major (N, D)
        // and (N, H) matrices.
        unsafe { add_example_sq_norms_f32_avx2(x_all, x.ncols(), d_all, d_z.ncols(), sq_norms) };
        return;
    }
    add_example_sq_norms_rows(x, d_z, sq_norms);
}

/// [`dense_add_example_sq_norms`] one row at a time with [`sum_of_squares`]: the oracle of
/// the row-group path, and the path of `f64`, strided matrices and CPUs without AVX2 or
/// with AVX-512.
pub fn add_example_sq_norms_rows<T: Float>(
    x: ArrayView2<T>,
    d_z: ArrayView2<T>,
    sq_norms: &mut [f64],
) {
    crate::gemm::kernel::on_widest_isa(
        #[inline(always)]
        || {
            for ((acc, x_i), d_i) in sq_norms.iter_mut().zip(x.rows()).zip(d_z.rows()) {
                *acc += sum_of_squares(d_i) * (sum_of_squares(x_i) + 1.0);
            }
        },
    );
}

/// A row-major `f32` matrix as one slice of `f32`s, when it is one; `None` for `f64` or a
/// strided view.
#[cfg(target_arch = "x86_64")]
fn f32_rows<'a, T: Float>(m: &ArrayView2<'a, T>) -> Option<&'a [f32]> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() {
        return None;
    }
    let values = m.to_slice()?;
    // SAFETY: T is f32 (checked), so the slice's memory holds `values.len()` f32s.
    Some(unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<f32>(), values.len()) })
}

/// Rows summed side by side by [`add_example_sq_norms_f32_avx2`].
#[cfg(target_arch = "x86_64")]
const ROW_GROUP: usize = 4;

/// (P19, P44) [`dense_add_example_sq_norms`] of row-major `f32` matrices on an AVX2 CPU, four
/// rows at a time: each row's eight lanes of P19 in two 256-bit registers (lanes 0–3 and
/// 4–7) as [`sum_of_squares_f32_avx2`] keeps them, but each square added by one FMA (exact
/// for `f32` values, P44); the remainder of a row (< 8 values) as one block padded with
/// zeros (adding 0² leaves a lane's bits unchanged, P44); then the tree of P19 for the four
/// rows at once, each lane of a register one row's sum (P44); then
/// `sq_norms[i] += ‖δᵢ‖²·(‖xᵢ‖² + 1)` for the four rows in one register. The last N mod 4
/// rows go one by one through [`sum_of_squares_f32_avx2`]. The same operations on the same
/// values in the same order per row as [`add_example_sq_norms_rows`]: the same bits, without
/// each row's store and scalar tree (notes/privacy_cost.md, seventeenth session).
///
/// `x` is (N, D) and `d_z` (N, H) row-major, N = `sq_norms.len()`.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_example_sq_norms_f32_avx2(
    x: &[f32],
    d: usize,
    d_z: &[f32],
    h: usize,
    sq_norms: &mut [f64],
) {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_set1_pd, _mm256_storeu_pd,
    };
    let n = sq_norms.len();
    assert!(
        x.len() == n * d && d_z.len() == n * h,
        "dense: row-major shapes"
    );
    let mut groups = sq_norms.chunks_exact_mut(ROW_GROUP);
    let one = _mm256_set1_pd(1.0);
    for (g, acc) in (&mut groups).enumerate() {
        let rows = g * ROW_GROUP..(g + 1) * ROW_GROUP;
        // SAFETY: AVX2 and FMA (this function's contract); each slice is four rows.
        let (sx, sd) = unsafe {
            (
                square_sums4_f32_avx2(&x[rows.start * d..rows.end * d], d),
                square_sums4_f32_avx2(&d_z[rows.start * h..rows.end * h], h),
            )
        };
        // SAFETY: `acc` is four f64s; the load and store are unaligned.
        unsafe {
            let sum = _mm256_add_pd(
                _mm256_loadu_pd(acc.as_ptr()),
                _mm256_mul_pd(sd, _mm256_add_pd(sx, one)),
            );
            _mm256_storeu_pd(acc.as_mut_ptr(), sum);
        }
    }
    let start = n - groups.into_remainder().len();
    for i in start..n {
        // SAFETY: AVX2 and FMA (this function's contract).
        let (sx, sd) = unsafe {
            (
                sum_of_squares_f32_avx2(&x[i * d..(i + 1) * d]),
                sum_of_squares_f32_avx2(&d_z[i * h..(i + 1) * h]),
            )
        };
        sq_norms[i] += sd * (sx + 1.0);
    }
}

/// (P19, P44) The sums of squares of the four rows of `rows` (row-major, `width` columns), in
/// the four lanes of the result (row r in lane r), each with the bits of
/// [`sum_of_squares_lanes`]: per row, lanes 0–3 and 4–7 of P19 in two registers,
/// `s ← fma(v, v, s)` per value (exact, P44), the remainder as a block padded with zeros;
/// then the tree across rows — pairs `s₀ + s₁`, `s₂ + s₃` of two rows in one register
/// (unpack, add), the 128-bit halves of two such registers exchanged so that each lane holds
/// one row, `(s₀ + s₁) + (s₂ + s₃)`, the same for lanes 4–7, and their sum.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn square_sums4_f32_avx2(rows: &[f32], width: usize) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::{
        __m256d, _mm_loadu_ps, _mm256_add_pd, _mm256_castps256_ps128, _mm256_cmpgt_epi32,
        _mm256_cvtps_pd, _mm256_extractf128_ps, _mm256_fmadd_pd, _mm256_maskload_ps,
        _mm256_permute2f128_pd, _mm256_set1_epi32, _mm256_setr_epi32, _mm256_setzero_pd,
        _mm256_unpackhi_pd, _mm256_unpacklo_pd,
    };
    assert_eq!(rows.len(), ROW_GROUP * width, "dense: a group of rows");
    let blocks = width / SQUARE_LANES;
    let mut low = [_mm256_setzero_pd(); ROW_GROUP];
    let mut high = [_mm256_setzero_pd(); ROW_GROUP];
    let base = rows.as_ptr();
    for k in 0..blocks {
        for r in 0..ROW_GROUP {
            // SAFETY: row r's block k, values r·width + 8k … + 7, lies inside `rows`
            // (k < width / 8); the two loads of four are unaligned.
            let (a, b) = unsafe {
                let p = base.add(r * width + k * SQUARE_LANES);
                (
                    _mm256_cvtps_pd(_mm_loadu_ps(p)),
                    _mm256_cvtps_pd(_mm_loadu_ps(p.add(4))),
                )
            };
            low[r] = _mm256_fmadd_pd(a, a, low[r]);
            high[r] = _mm256_fmadd_pd(b, b, high[r]);
        }
    }
    let rest = width - blocks * SQUARE_LANES;
    if rest > 0 {
        // Lanes 0 … rest − 1 of the remainder, zeros beyond.
        let mask = _mm256_cmpgt_epi32(
            _mm256_set1_epi32(rest as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        for r in 0..ROW_GROUP {
            // SAFETY: the mask reads only row r's `rest` last values, inside `rows`; the
            // other lanes are not accessed (and read as 0).
            let v =
                unsafe { _mm256_maskload_ps(base.add(r * width + blocks * SQUARE_LANES), mask) };
            let (a, b) = (
                _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
            );
            low[r] = _mm256_fmadd_pd(a, a, low[r]);
            high[r] = _mm256_fmadd_pd(b, b, high[r]);
        }
    }
    // [a₀ + a₁, b₀ + b₁, a₂ + a₃, b₂ + b₃] of rows a and b: each pair added in lane order.
    let pairs = |a, b| _mm256_add_pd(_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
    // From the pairs of rows 0, 1 and of rows 2, 3: (s₀ + s₁) + (s₂ + s₃), row r in lane r.
    let halves = |p01, p23| {
        _mm256_add_pd(
            _mm256_permute2f128_pd::<0x20>(p01, p23),
            _mm256_permute2f128_pd::<0x31>(p01, p23),
        )
    };
    let first: __m256d = halves(pairs(low[0], low[1]), pairs(low[2], low[3]));
    let second = halves(pairs(high[0], high[1]), pairs(high[2], high[3]));
    _mm256_add_pd(first, second)
}

/// Partial sums of [`sum_of_squares`].
const SQUARE_LANES: usize = 8;

/// (P19) `Σⱼ vⱼ²` in f64 over eight interleaved partial sums — lane `j mod 8` adds `vⱼ²` in
/// increasing j — combined as `((s₀ + s₁) + (s₂ + s₃)) + ((s₄ + s₅) + (s₆ + s₇))`. The order is
/// fixed, so the bits are the same on every machine and instruction set, and the eight chains
/// of additions run side by side instead of each addition waiting for the one before (and
/// vectorise, inside [`crate::gemm::kernel::on_widest_isa`], with the same bits).
///
/// For contiguous `f32` rows on a CPU with AVX-512 the lanes are one 512-bit register
/// ([`sum_of_squares_f32_avx512`]): the same operations lane by lane, so the same bits, in a
/// third of the instructions the compiler made of the loop below (profile of a private step,
/// notes/privacy.md §14); on an AVX2 CPU without AVX-512, two 256-bit registers of four lanes
/// ([`sum_of_squares_f32_avx2`]).
#[inline(always)]
pub fn sum_of_squares<T: Float>(row: ArrayView1<T>) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if let Some(values) = row.as_slice()
        && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
    {
        // SAFETY: T is f32 (checked), so the slice's memory holds `values.len()` f32s.
        let values =
            unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<f32>(), values.len()) };
        if crate::gemm::kernel::avx512_paths() {
            // SAFETY: the CPU has AVX-512F/VL (checked).
            return unsafe { sum_of_squares_f32_avx512(values) };
        }
        if crate::gemm::kernel::avx2_paths() {
            // SAFETY: the CPU has AVX2 and FMA (checked).
            return unsafe { sum_of_squares_f32_avx2(values) };
        }
    }
    sum_of_squares_lanes(row)
}

/// [`sum_of_squares`] as portable code: the reference the AVX-512 and AVX2 paths are tested
/// against, and the path of `f64`, strided rows and other CPUs.
#[inline(always)]
pub fn sum_of_squares_lanes<T: Float>(row: ArrayView1<T>) -> f64 {
    let mut lanes = [0.0f64; SQUARE_LANES];
    let mut add = |lane: usize, v: T| {
        let v = v.to_f64();
        lanes[lane] += v * v;
    };
    match row.as_slice() {
        Some(values) => {
            let mut blocks = values.chunks_exact(SQUARE_LANES);
            for block in &mut blocks {
                for (lane, &v) in block.iter().enumerate() {
                    add(lane, v);
                }
            }
            for (lane, &v) in blocks.remainder().iter().enumerate() {
                add(lane, v);
            }
        }
        None => {
            for (j, &v) in row.iter().enumerate() {
                add(j % SQUARE_LANES, v);
            }
        }
    }
    let [s0, s1, s2, s3, s4, s5, s6, s7] = lanes;
    ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

/// (P19) [`sum_of_squares`] of an `f32` row with the eight lanes in one AVX-512 register:
/// each block of eight values widened to f64, squared and added lane by lane (lane j mod 8,
/// in increasing j, as [`sum_of_squares_lanes`]), the remainder added to its lanes one by
/// one, then the same tree `((s₀ + s₁) + (s₂ + s₃)) + ((s₄ + s₅) + (s₆ + s₇))`. IEEE
/// products and sums in the same order per lane, no FMA: the same bits.
///
/// # Safety
/// The CPU must have AVX-512F (and AVX-512VL, AVX2 and FMA, which the build enables).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn sum_of_squares_f32_avx512(values: &[f32]) -> f64 {
    use std::arch::x86_64::{
        _mm256_loadu_ps, _mm512_add_pd, _mm512_cvtps_pd, _mm512_mul_pd, _mm512_setzero_pd,
        _mm512_storeu_pd,
    };
    let (blocks, rest) = values.as_chunks::<SQUARE_LANES>();
    let mut acc = _mm512_setzero_pd();
    for block in blocks {
        // SAFETY: `block` is eight f32s (32 bytes); the load is unaligned.
        let v = _mm512_cvtps_pd(unsafe { _mm256_loadu_ps(block.as_ptr()) });
        acc = _mm512_add_pd(acc, _mm512_mul_pd(v, v));
    }
    let mut lanes = [0.0f64; SQUARE_LANES];
    // SAFETY: `lanes` is eight f64s (64 bytes); the store is unaligned.
    unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), acc) };
    finish_square_lanes(lanes, rest)
}

/// The end of [`sum_of_squares`]' vector paths: the remainder `rest` (< 8 values) added to
/// lanes 0, 1, … one by one, then the fixed tree.
#[inline(always)]
fn finish_square_lanes(mut lanes: [f64; SQUARE_LANES], rest: &[f32]) -> f64 {
    for (lane, &v) in rest.iter().enumerate() {
        let v = f64::from(v);
        lanes[lane] += v * v;
    }
    let [s0, s1, s2, s3, s4, s5, s6, s7] = lanes;
    ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

/// (P19) [`sum_of_squares`] of an `f32` row on an AVX2 CPU without AVX-512: lanes 0–3 in
/// one 256-bit register and lanes 4–7 in another, each block of eight values widened to f64,
/// squared and added lane by lane in increasing j, the remainder and the tree as
/// [`sum_of_squares_lanes`] — IEEE products and sums in the same order per lane, no FMA: the
/// same bits. The portable loop was compiled to two-lane pieces with shuffles (Zen 3 profile,
/// notes/privacy_cost.md, fifteenth session).
///
/// # Safety
/// The CPU must have AVX2 (and FMA, which the build enables).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_of_squares_f32_avx2(values: &[f32]) -> f64 {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_castps256_ps128, _mm256_cvtps_pd, _mm256_extractf128_ps,
        _mm256_loadu_ps, _mm256_mul_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    let (blocks, rest) = values.as_chunks::<SQUARE_LANES>();
    let (mut low, mut high) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    for block in blocks {
        // SAFETY: `block` is eight f32s (32 bytes); the load is unaligned.
        let v = unsafe { _mm256_loadu_ps(block.as_ptr()) };
        let (a, b) = (
            _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
        );
        low = _mm256_add_pd(low, _mm256_mul_pd(a, a));
        high = _mm256_add_pd(high, _mm256_mul_pd(b, b));
    }
    let mut lanes = [0.0f64; SQUARE_LANES];
    // SAFETY: `lanes` is eight f64s (64 bytes); each store of four is unaligned.
    unsafe {
        _mm256_storeu_pd(lanes.as_mut_ptr(), low);
        _mm256_storeu_pd(lanes[4..].as_mut_ptr(), high);
    }
    finish_square_lanes(lanes, rest)
}

/// (P21) Scales row i of `d_z` (N, H) by `factors[i]` (N,), in place: with the clipping
/// factors of (P20) the parameter-gradient GEMM that follows
/// ([`dense_backward_params`](super::dense_backward_params)) produces the sum of the clipped
/// per-example gradients. The product is taken in f64 and rounded once to `T`.
///
/// # Panics
/// If `factors` does not have N entries.
pub fn scale_example_rows<T: Float>(mut d_z: ArrayViewMut2<T>, factors: &[f64]) {
    assert_eq!(
        factors.len(),
        d_z.nrows(),
        "dense: {} factors for {} rows",
        factors.len(),
        d_z.nrows()
    );
    for (mut row, &c) in d_z.rows_mut().into_iter().zip(factors) {
        if c != 1.0 {
            row.mapv_inplace(|v| T::from_f64(v.to_f64() * c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 and AVX2 sums of squares (when the CPU has them; the dispatched one and the
    /// AVX2 one called directly) give the bits of the portable lanes
    /// for every length 0–40, the layers' widths and a noise block, for values across the
    /// exponent range, zeros and infinities; and for strided rows and `f64` (portable both).
    #[test]
    fn sum_of_squares_is_the_same_on_every_path() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let m = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            m * 2f32.powi((state % 60) as i32 - 30)
        };
        let mut order_matters = false;
        for len in (0..=40).chain([64, 73, 1024, 1031]) {
            let mut v: Vec<f32> = (0..len).map(|_| next()).collect();
            // Negative control: one chain of additions (another order) differs somewhere, so
            // the bit comparisons below can fail.
            let chain: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            order_matters |=
                chain.to_bits() != sum_of_squares_lanes(ArrayView1::from(&v[..])).to_bits();
            let whole = sum_of_squares(ArrayView1::from(&v[..]));
            let portable = sum_of_squares_lanes(ArrayView1::from(&v[..]));
            assert_eq!(whole.to_bits(), portable.to_bits(), "length {len}");
            #[cfg(target_arch = "x86_64")]
            if crate::gemm::kernel::simd_available() {
                // SAFETY: the CPU has AVX2 and FMA (checked).
                let avx2 = unsafe { sum_of_squares_f32_avx2(&v) };
                assert_eq!(avx2.to_bits(), portable.to_bits(), "AVX2, length {len}");
            }
            if len > 3 {
                v[len / 2] = 0.0;
                v[1] = f32::INFINITY;
                let (a, b) = (ArrayView1::from(&v[..]), ArrayView1::from(&v[..]));
                assert_eq!(sum_of_squares(a), sum_of_squares_lanes(b), "length {len}");
            }
        }
        assert!(order_matters, "no length told the summation orders apart");
        let m = ndarray::Array2::from_shape_fn((9, 5), |(i, j)| (i * 5 + j) as f32 * 0.37 - 3.0);
        let col = m.column(2);
        assert_eq!(
            sum_of_squares(col).to_bits(),
            sum_of_squares_lanes(col).to_bits()
        );
        let d: Vec<f64> = (0..19).map(|i| f64::from(i) * 0.1 - 0.7).collect();
        let want: f64 = d.iter().map(|x| x * x).sum();
        assert!((sum_of_squares(ArrayView1::from(&d[..])) - want).abs() < 1e-12);
    }

    /// A value of magnitude 10⁻³⁰ … 10³⁰ and either sign, from a xorshift state.
    fn spread_value(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let m = (*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        m * 10f32.powi((*state % 61) as i32 - 30)
    }

    /// The eight lanes of P19 of one row, by hand.
    fn lanes_of(v: &[f32]) -> [f64; SQUARE_LANES] {
        let mut lanes = [0.0f64; SQUARE_LANES];
        for (j, &x) in v.iter().enumerate() {
            lanes[j % SQUARE_LANES] += f64::from(x) * f64::from(x);
        }
        lanes
    }

    /// The row-group path (dispatched, and the AVX2 function called directly when the CPU has
    /// AVX2) gives the bits of the portable oracle `acc + lanes(δᵢ)·(lanes(xᵢ) + 1)` for
    /// widths 0–40, 63–65, 73 and 1,024, row counts that are and are not multiples of the
    /// group (0–9, 13, 64), values of magnitude 10⁻³⁰–10³⁰ added to non-zero norms, and
    /// rows with infinities and NaN. Negative control: another tree over the same lanes
    /// (a left fold) differs from P19's somewhere, so the comparisons can fail.
    #[test]
    fn the_row_group_norms_equal_the_portable_rows() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut other_tree_differs = false;
        let widths = (0..=40).chain([63, 64, 65, 73, 1024]);
        for (case, d) in widths.enumerate() {
            let h = [1, 7, 64, 9, 33][case % 5];
            for n in (0..=9).chain([13, 64]) {
                let mut x: Vec<f32> = (0..n * d).map(|_| spread_value(&mut state)).collect();
                let d_z: Vec<f32> = (0..n * h).map(|_| spread_value(&mut state)).collect();
                if n > 5 && d > 2 {
                    x[d + 1] = f32::INFINITY;
                    x[5 * d] = f32::NAN;
                }
                let x_m = ArrayView2::from_shape((n, d), &x[..]).unwrap();
                let d_m = ArrayView2::from_shape((n, h), &d_z[..]).unwrap();
                let start: Vec<f64> = (0..n).map(|i| i as f64 * 0.37).collect();
                let want: Vec<f64> = (0..n)
                    .map(|i| {
                        let (x_i, d_i) = (x_m.row(i), d_m.row(i));
                        start[i] + sum_of_squares_lanes(d_i) * (sum_of_squares_lanes(x_i) + 1.0)
                    })
                    .collect();
                for i in 0..n {
                    let l = lanes_of(x_m.row(i).to_slice().unwrap());
                    let tree = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
                    let fold = l.iter().fold(0.0, |a, &b| a + b);
                    assert_eq!(tree.to_bits(), sum_of_squares_lanes(x_m.row(i)).to_bits());
                    other_tree_differs |= fold.to_bits() != tree.to_bits();
                }
                let same = |got: &[f64], path: &str| {
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                            "{path}: width {d}, {h} units, {n} rows, row {i}: {g:e} against {w:e}"
                        );
                    }
                };
                let mut got = start.clone();
                dense_add_example_sq_norms(x_m, d_m, &mut got);
                same(&got, "dispatched");
                #[cfg(target_arch = "x86_64")]
                if crate::gemm::kernel::simd_available() {
                    let mut got = start.clone();
                    // SAFETY: the CPU has AVX2 and FMA (checked); the slices are (n, d), (n, h).
                    unsafe { add_example_sq_norms_f32_avx2(&x, d, &d_z, h, &mut got) };
                    same(&got, "AVX2 row groups");
                }
            }
        }
        assert!(other_tree_differs, "no row told the trees apart");
    }
}
