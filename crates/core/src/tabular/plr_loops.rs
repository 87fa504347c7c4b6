//! The inner loops of the PLR layer (notes/tabular.md §10, N27): one feature of one row for
//! the forward (N4) and N8, one feature over a range of rows for the parameter gradients
//! (N7, N9). Each sum keeps the order of the plain loops — N4 and N8 in increasing j and h
//! from b and from zero, N7 and N9 in increasing row from the value already in the gradient
//! buffer — but its partial sum lives in a local array of a constant length L (8, 4 or 1
//! sums side by side), which the compiler keeps in registers and stores once. The split of
//! the sums into blocks of L changes no bits: every sum is computed alone.

use crate::Float;

/// Runs `body` with `start` at the start of each block and `len` a constant block length:
/// blocks of the first size while they fit in `0..n`, then of the next, … The last size
/// must be 1, so the blocks cover `0..n` exactly, in increasing order.
macro_rules! in_blocks {
    ($n:expr, [$($size:literal),+], |$start:ident, $len:ident| $body:block) => {{
        let n: usize = $n;
        let mut $start: usize = 0;
        $({
            const $len: usize = $size;
            while $start + $len <= n {
                $body
                $start += $len;
            }
        })+
        debug_assert_eq!($start, n);
    }};
}

/// (N3, N26) One feature's phases for one value `x`: `p = [sin 2πc_k x …, cos 2πc_k x …]`
/// for the K frequencies `c_d` (the loop over k vectorises). The one place both forwards
/// compute them, so the row-by-row and eight-row paths share every bit of p.
#[inline(always)]
pub(super) fn phases<T: Float>(c_d: &[T], x: T, p: &mut [T]) {
    let (sin_v, cos_v) = p.split_at_mut(c_d.len());
    for ((s, co), &c) in sin_v.iter_mut().zip(cos_v.iter_mut()).zip(c_d) {
        (*s, *co) = T::plr_phase(c, x);
    }
}

/// (N4, N27) One feature of one row: `z_h = b_h + Σ_j W_hj p_j` in increasing j for each of
/// the H units, then `y = max(z, 0)`. `p` is p_nd (2K), `w_d` W_d (H, 2K) row-major, `b_d`,
/// `z_d` and `y_d` have H elements.
#[inline(always)]
pub(super) fn forward_feature<T: Float>(
    p: &[T],
    w_d: &[T],
    b_d: &[T],
    z_d: &mut [T],
    y_d: &mut [T],
) {
    let two_k = p.len();
    in_blocks!(z_d.len(), [8, 4, 1], |h0, L| {
        let w = &w_d[h0 * two_k..(h0 + L) * two_k];
        let mut acc: [T; L] = std::array::from_fn(|i| b_d[h0 + i]);
        for (j, &pj) in p.iter().enumerate() {
            for (i, a) in acc.iter_mut().enumerate() {
                *a += w[i * two_k + j] * pj; // (N4)
            }
        }
        z_d[h0..h0 + L].copy_from_slice(&acc);
    });
    for (yv, &zv) in y_d.iter_mut().zip(z_d.iter()) {
        *yv = zv.max(T::zero());
    }
}

/// (N8, N27) One feature of one row: `g_k = Σ_h δ_h (W_h,k cos v_k − W_h,K+k sin v_k)` from
/// zero in increasing h for each of the K phases. `p` is [sin v, cos v] (2K), `w_d` W_d
/// (H, 2K), `delta_d` δ_nd (H), `g_d` (K).
#[inline(always)]
pub(super) fn delta_feature<T: Float>(p: &[T], w_d: &[T], delta_d: &[T], g_d: &mut [T]) {
    let k_n = g_d.len();
    let (sin_v, cos_v) = p.split_at(k_n);
    in_blocks!(k_n, [8, 4, 1], |k0, L| {
        let (sv, cv) = (&sin_v[k0..k0 + L], &cos_v[k0..k0 + L]);
        let mut acc = [T::zero(); L];
        for (&dl, w) in delta_d.iter().zip(w_d.chunks_exact(2 * k_n)) {
            let (ws, wc) = (&w[k0..k0 + L], &w[k_n + k0..k_n + k0 + L]);
            for (i, a) in acc.iter_mut().enumerate() {
                // (N8) ∂sin v/∂v = cos v, ∂cos v/∂v = −sin v
                *a += dl * (ws[i] * cv[i] - wc[i] * sv[i]);
            }
        }
        g_d[k0..k0 + L].copy_from_slice(&acc);
    });
}

/// Where one feature d's numbers sit in the rows of the batch: the row strides of p (D·2K),
/// δ (D·H) and g (D·K) and d's offsets in them.
pub(super) struct FeatureRows<'a, T> {
    /// p (N, D, 2K), δ (N, D·H) and g (N, D·K), whole.
    pub(super) periodic: &'a [T],
    pub(super) delta: &'a [T],
    pub(super) g: &'a [T],
    /// D, K and H.
    pub(super) features: usize,
    pub(super) frequencies: usize,
    pub(super) units: usize,
    /// The feature d.
    pub(super) feature: usize,
}

impl<T: Float> FeatureRows<'_, T> {
    /// p_nd (2K).
    #[inline(always)]
    fn p(&self, row: usize) -> &[T] {
        let two_k = 2 * self.frequencies;
        let at = (row * self.features + self.feature) * two_k;
        &self.periodic[at..at + two_k]
    }

    /// δ_nd (H).
    #[inline(always)]
    fn delta(&self, row: usize) -> &[T] {
        let at = (row * self.features + self.feature) * self.units;
        &self.delta[at..at + self.units]
    }

    /// g_nd (K).
    #[inline(always)]
    fn g(&self, row: usize) -> &[T] {
        let at = (row * self.features + self.feature) * self.frequencies;
        &self.g[at..at + self.frequencies]
    }
}

/// (N7, N9, N27) One feature's parameter gradients over `rows`, added in increasing row
/// order to what `d_c` (K), `d_w` (H, 2K) and `d_b` (H) hold: `d_W_hj += δ_nh p_nj`,
/// `d_b_h += δ_nh`, `d_c_k += (g_nk·2π)·x_n` with `xs` = x_·d, the
/// feature's column of x.
#[inline(always)]
pub(super) fn param_gradients_feature<T: Float>(
    f: &FeatureRows<T>,
    xs: ndarray::ArrayView1<T>,
    rows: std::ops::Range<usize>,
    d_c: &mut [T],
    d_w: &mut [T],
    d_b: &mut [T],
) {
    let (k_n, h_n) = (f.frequencies, f.units);
    let two_k = 2 * k_n;
    in_blocks!(h_n, [8, 4, 1], |h0, L| {
        let mut acc: [T; L] = std::array::from_fn(|i| d_b[h0 + i]);
        for row in rows.clone() {
            let dl = &f.delta(row)[h0..h0 + L];
            for (a, &v) in acc.iter_mut().zip(dl) {
                *a += v; // (N7)
            }
        }
        d_b[h0..h0 + L].copy_from_slice(&acc);
    });
    in_blocks!(h_n, [4, 1], |h0, HB| {
        in_blocks!(two_k, [8, 4, 1], |j0, JB| {
            let mut acc: [[T; JB]; HB] =
                std::array::from_fn(|u| std::array::from_fn(|i| d_w[(h0 + u) * two_k + j0 + i]));
            for row in rows.clone() {
                let (p, dl) = (&f.p(row)[j0..j0 + JB], &f.delta(row)[h0..h0 + HB]);
                for (acc_h, &dv) in acc.iter_mut().zip(dl) {
                    for (a, &pj) in acc_h.iter_mut().zip(p) {
                        *a += dv * pj; // (N7)
                    }
                }
            }
            for (u, acc_h) in acc.iter().enumerate() {
                let at = (h0 + u) * two_k + j0;
                d_w[at..at + JB].copy_from_slice(acc_h);
            }
        });
    });
    let two_pi = T::from_f64(std::f64::consts::TAU);
    in_blocks!(k_n, [8, 4, 1], |k0, L| {
        let mut acc: [T; L] = std::array::from_fn(|i| d_c[k0 + i]);
        for row in rows.clone() {
            let (g, xv) = (&f.g(row)[k0..k0 + L], xs[row]);
            for (a, &gv) in acc.iter_mut().zip(g) {
                *a += gv * two_pi * xv; // (N9)
            }
        }
        d_c[k0..k0 + L].copy_from_slice(&acc);
    });
}

/// Rows side by side in [`forward_rows`].
pub(super) const LANES: usize = 8;

/// The most phases (2K) [`forward_rows`] takes: its scratch lives on the stack (the forward
/// allocates nothing); wider embeddings go row by row.
pub(super) const MAX_PHASES: usize = 64;

/// (N3, N4, N28) [`LANES`] rows of the PLR forward at once, feature by feature: each row's
/// phases (N26) as `forward_row` computes them, copied side by side (p_j of the 8 rows in one
/// array; N30: by 8 × 8 register transposes when `shuffle` is on), then each unit's
/// `z = b + Σ_j W_j p_j` with the 8 rows' running sums in one local
/// array (one AVX2 register for f32) — the sums of [`forward_feature`], in its order
/// (increasing j, from b, plain `×` then `+`), so the same bits; only 8 rows' independent
/// chains run side by side instead of one row's H. `x` holds the [`LANES`] rows (D columns);
/// `p_rows` (8·D·2K), `z_rows` and `y_rows` (8·D·H) are their rows of p, z and y, row-major;
/// `lanes` is scratch for the 2K phases (at least 2K arrays); `shuffle` is
/// [`Shuffle::for_phases`] of 2K.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_rows<T: Float>(
    shuffle: Shuffle,
    (k_n, h_n): (usize, usize),
    freq: &[T],
    weight: &[T],
    bias: &[T],
    x: ndarray::ArrayView2<T>,
    p_rows: &mut [T],
    z_rows: &mut [T],
    y_rows: &mut [T],
    lanes: &mut [[T; LANES]],
) {
    let d_n = x.ncols();
    let two_k = 2 * k_n;
    let (p_len, dh) = (d_n * two_k, d_n * h_n);
    let lanes = &mut lanes[..two_k];
    for d in 0..d_n {
        let c_d = &freq[d * k_n..(d + 1) * k_n];
        for l in 0..LANES {
            // The phases row by row, as `forward_row` computes them…
            let p = &mut p_rows[l * p_len + d * two_k..l * p_len + (d + 1) * two_k];
            phases(c_d, x[[l, d]], p); // (N3, N26)
        }
        // … then side by side, p_j of the 8 rows in one array.
        side_by_side(shuffle, &p_rows[d * two_k..], p_len, lanes);
        let w_d = &weight[d * h_n * two_k..(d + 1) * h_n * two_k];
        for h in 0..h_n {
            let w = &w_d[h * two_k..(h + 1) * two_k];
            let mut acc = [bias[d * h_n + h]; LANES];
            for (&wj, pj) in w.iter().zip(lanes.iter()) {
                for (a, &p) in acc.iter_mut().zip(pj) {
                    *a += wj * p; // (N4, N28)
                }
            }
            for (l, &zv) in acc.iter().enumerate() {
                z_rows[l * dh + d * h_n + h] = zv;
                y_rows[l * dh + d * h_n + h] = zv.max(T::zero());
            }
        }
    }
}

/// How [`forward_rows`] puts the 8 rows' phases side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shuffle {
    /// One value at a time (any `T`, any ISA, any 2K).
    Scalar,
    /// (N30) 8 × 8 blocks transposed in AVX2 registers: `T` is `f32`, the AVX2 paths run
    /// and 8 divides 2K.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Shuffle {
    /// The way for `T` and 2K = `phases` on this CPU: [`Shuffle::Avx2`] when it applies.
    pub(super) fn for_phases<T: Float>(phases: usize) -> Shuffle {
        #[cfg(target_arch = "x86_64")]
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && phases.is_multiple_of(LANES)
            && crate::gemm::kernel::avx2_paths()
        {
            return Shuffle::Avx2;
        }
        let _ = phases;
        Shuffle::Scalar
    }
}

/// (N28, N30) `lanes[j][l] = p[l·stride + j]` for the [`LANES`] rows l and the first
/// `lanes.len()` phases j: the copy side by side of [`forward_rows`]. A copy, so either way
/// gives the same bits.
#[inline(always)]
fn side_by_side<T: Float>(shuffle: Shuffle, p: &[T], stride: usize, lanes: &mut [[T; LANES]]) {
    let two_k = lanes.len();
    assert!(
        p.len() >= (LANES - 1) * stride + two_k,
        "plr: phases out of range"
    );
    #[cfg(target_arch = "x86_64")]
    if shuffle == Shuffle::Avx2 {
        // SAFETY: `Shuffle::Avx2` is only made for T = f32 (so both slices hold f32s) on a
        // CPU with AVX2 (`avx2_paths`) and 8 | 2K; row l's block j0..j0 + 8 lies in `p`
        // (asserted above) and `lanes` holds 2K arrays of 8.
        unsafe {
            let src = p.as_ptr().cast::<f32>();
            let dst = lanes.as_mut_ptr().cast::<[f32; LANES]>();
            for j0 in (0..two_k).step_by(LANES) {
                transpose_8x8_f32_avx2(src.add(j0), stride, dst.add(j0));
            }
        }
        return;
    }
    let _ = shuffle;
    for l in 0..LANES {
        for (lane, &v) in lanes.iter_mut().zip(&p[l * stride..l * stride + two_k]) {
            lane[l] = v;
        }
    }
}

/// (N30) `dst[i][l] = src[l·stride + i]` for i, l < 8: an 8 × 8 `f32` block transposed in
/// AVX2 registers (pairs interleaved, then quadruples, then the 128-bit halves).
///
/// # Safety
/// The CPU has AVX2; `src + l·stride` holds 8 readable `f32`s for each l < 8 and `dst` 8
/// writable arrays of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_8x8_f32_avx2(src: *const f32, stride: usize, dst: *mut [f32; LANES]) {
    use std::arch::x86_64::{
        _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
        _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };
    // SAFETY: the caller's contract: every row read and every array written is in bounds.
    unsafe {
        let r: [_; 8] = std::array::from_fn(|l| _mm256_loadu_ps(src.add(l * stride)));
        // Rows 2m, 2m+1 interleaved: (a0 b0 a1 b1 | a4 b4 a5 b5) and (a2 b2 a3 b3 | a6 b6 a7 b7).
        let lo: [_; 4] = std::array::from_fn(|m| _mm256_unpacklo_ps(r[2 * m], r[2 * m + 1]));
        let hi: [_; 4] = std::array::from_fn(|m| _mm256_unpackhi_ps(r[2 * m], r[2 * m + 1]));
        // Four rows' column i (i = 0, 1, 2, 3 in each 128-bit half): rows 0–3 from pairs 0, 1
        // and rows 4–7 from pairs 2, 3.
        let quad = |q: usize| {
            [
                _mm256_shuffle_ps::<0x44>(lo[2 * q], lo[2 * q + 1]),
                _mm256_shuffle_ps::<0xee>(lo[2 * q], lo[2 * q + 1]),
                _mm256_shuffle_ps::<0x44>(hi[2 * q], hi[2 * q + 1]),
                _mm256_shuffle_ps::<0xee>(hi[2 * q], hi[2 * q + 1]),
            ]
        };
        let (top, bottom) = (quad(0), quad(1));
        for i in 0..4 {
            // Column i from the low halves, column i + 4 from the high halves.
            let low = _mm256_permute2f128_ps::<0x20>(top[i], bottom[i]);
            let high = _mm256_permute2f128_ps::<0x31>(top[i], bottom[i]);
            _mm256_storeu_ps(dst.add(i).cast::<f32>(), low);
            _mm256_storeu_ps(dst.add(i + 4).cast::<f32>(), high);
        }
    }
}
