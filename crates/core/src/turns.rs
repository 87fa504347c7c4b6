//! (N26) A fast, deterministic sin/cos of a phase given in turns, for the f32 PLR layer
//! (notes/tabular.md §9): `sin 2πt`, `cos 2πt` by an exact reduction in turns, a quadrant
//! step and Cephes' minimax polynomials on [−π/4, π/4].
//!
//! Only IEEE `+`, `−`, `×`, round-to-nearest-even and integer/bit operations, in a fixed
//! order (Rust never contracts them into FMAs) and without branches, so a loop of
//! [`sin_cos_turns`] gives the same bits scalar or vectorised under
//! [`crate::gemm::kernel::on_widest_isa`] (tests `sin_cos_turns_simd_matches_scalar_bits`,
//! `sin_cos_turns_error_is_within_bound`).

/// 2π rounded to f32.
const TAU: f32 = std::f32::consts::TAU;

/// (N26) `(sin 2πt, cos 2πt)` for f32 `t`:
///
/// ```text
/// r = t − rne(t) ∈ [−½, ½]      (exact; |t| ≥ 2²³ is an integer, so r = 0)
/// q = rne(4r) ∈ {−2, …, 2},  s = r − q/4 ∈ [−⅛, ⅛]   (exact, Sterbenz)
/// u = fl(2π·s) ∈ [−π/4, π/4],  S ≈ sin u,  C ≈ cos u  (Cephes sinf/cosf minimax)
/// sin 2πt = sin(u + qπ/2): q mod 4 = 0 → S, 1 → C, 2 → −S, 3 → −C
/// cos 2πt = cos(u + qπ/2): q mod 4 = 0 → C, 1 → −S, 2 → −C, 3 → S
/// ```
///
/// NaN and ±∞ give NaN (as `f32::sin`); ±0 gives (+0, 1).
#[inline(always)]
// Not `!(-0.5..=1.5).contains(&qf)` below: that is true for NaN, and would flip a NaN's sign.
#[allow(clippy::manual_range_contains)]
pub fn sin_cos_turns(t: f32) -> (f32, f32) {
    let r = t - t.round_ties_even();
    let qf = (4.0 * r).round_ties_even();
    let s = r - 0.25 * qf;
    let u = TAU * s;
    let z = u * u;
    let sin_u = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * u + u;
    let cos_u =
        ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    // Quadrant q = qf ∈ {−2 … 2}: swap on odd q, then flip the signs bit-wise — sin's when
    // q mod 4 ∈ {2, 3} (q ∈ {2, −1, −2}), cos's when q mod 4 ∈ {1, 2} (q ∈ {1, 2, −2}). Read
    // by comparisons of qf, not through an integer: no branch and no float-to-int conversion
    // (which the compiler does not vectorise), so the loop over k vectorises whole. NaN
    // compares false: no swap, no flip, and the result is NaN through s anyway.
    let odd = qf.abs() == 1.0;
    let (a, b) = if odd { (cos_u, sin_u) } else { (sin_u, cos_u) };
    let sin_sign = u32::from(qf > 1.5 || qf < -0.5) << 31;
    let cos_sign = u32::from(qf > 0.5 || qf < -1.5) << 31;
    (
        f32::from_bits(a.to_bits() ^ sin_sign),
        f32::from_bits(b.to_bits() ^ cos_sign),
    )
}

/// [`sin_cos_turns`] of every element of `t` into `sin` and `cos` (same lengths); a loop the
/// compiler vectorises when inlined into [`crate::gemm::kernel::on_widest_isa`].
///
/// **Panics** if the lengths differ.
#[inline(always)]
pub fn sin_cos_turns_slice(t: &[f32], sin: &mut [f32], cos: &mut [f32]) {
    assert!(
        sin.len() == t.len() && cos.len() == t.len(),
        "sin_cos_turns: lengths differ"
    );
    for ((&tv, s), c) in t.iter().zip(sin.iter_mut()).zip(cos.iter_mut()) {
        (*s, *c) = sin_cos_turns(tv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::kernel::on_widest_isa;

    /// Scalar: the loop compiled for the baseline ISA, kept from vectorising by `black_box`.
    fn scalar(t: &[f32]) -> (Vec<f32>, Vec<f32>) {
        t.iter()
            .map(|&v| sin_cos_turns(std::hint::black_box(v)))
            .unzip()
    }

    fn simd(t: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (mut s, mut c) = (vec![0.0; t.len()], vec![0.0; t.len()]);
        on_widest_isa(
            #[inline(always)]
            || sin_cos_turns_slice(t, &mut s, &mut c),
        );
        (s, c)
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// Inputs: a dense sweep of [−4, 4], a log sweep of |t| over the whole f32 range with
    /// both signs, and edge cases (±0, subnormals, 2²²…2²³ halves, ±∞, NaN).
    fn inputs() -> Vec<f32> {
        let mut t: Vec<f32> = (0..2_000_000).map(|i| -4.0 + i as f32 * 4e-6).collect();
        let mut bits = 1u32;
        while bits < 0x7f80_0000 {
            t.push(f32::from_bits(bits));
            t.push(-f32::from_bits(bits));
            bits += 397;
        }
        t.extend([
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            4_194_304.5,
            -4_194_304.5,
            8_388_607.5,
            8_388_608.0,
            0.5,
            -0.5,
            0.25,
            -0.25,
            0.125,
            0.375,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        t
    }

    #[test]
    fn sin_cos_turns_simd_matches_scalar_bits() {
        let t = inputs();
        assert!(t.len() > 10_000_000);
        let (s0, c0) = scalar(&t);
        let (s1, c1) = simd(&t);
        assert!(same_bits(&s0, &s1), "sin: scalar and SIMD bits differ");
        assert!(same_bits(&c0, &c1), "cos: scalar and SIMD bits differ");
    }

    /// The error in units of the last place of the exact value rounded to f32.
    fn ulps(approx: f32, exact: f64) -> f64 {
        let e = (exact as f32).abs();
        let ulp = if e < f32::MIN_POSITIVE {
            f64::from(f32::from_bits(1))
        } else {
            f64::from(f32::from_bits(e.to_bits() + 1) - e)
        };
        (f64::from(approx) - exact).abs() / ulp
    }

    /// (N26) Against f64 `sin`, `cos` of 2π·t (t exact in f64, reduced exactly as the f32
    /// code does): at most [`ULP_BOUND`] ulps of the exact value rounded to f32, everywhere
    /// (the reduction is exact, so near the zeros the error stays relative); the measured
    /// maximum is in notes/tabular.md §9.
    #[test]
    fn sin_cos_turns_error_is_within_bound() {
        let t = inputs();
        let (s, c) = simd(&t);
        let mut worst = 0.0f64;
        for ((&tv, &sv), &cv) in t.iter().zip(&s).zip(&c) {
            if !tv.is_finite() {
                assert!(sv.is_nan() && cv.is_nan(), "t = {tv}: ({sv}, {cv})");
                continue;
            }
            let (es, ec) = reference(tv);
            for (a, e) in [(sv, es), (cv, ec)] {
                let u = ulps(a, e);
                worst = worst.max(u);
                assert!(u <= ULP_BOUND, "t = {tv:e}: {a:e} against {e:e}, {u} ulp");
            }
        }
        assert!(worst > 0.0, "the sweep compared nothing");
        eprintln!(
            "sin_cos_turns: worst {worst:.3} ulp over {} inputs",
            t.len()
        );
    }

    /// sin 2πt, cos 2πt in f64 for t exact: reduced to [−⅛, ⅛] turns the same way (exact
    /// in f64 too), so the quarter turns are rotated exactly rather than through 2π·¼ ≠ π/2.
    fn reference(t: f32) -> (f64, f64) {
        let t = f64::from(t);
        let r = t - t.round_ties_even();
        let q = (4.0 * r).round_ties_even();
        let (s, c) = (std::f64::consts::TAU * (r - 0.25 * q)).sin_cos();
        match (q as i32).rem_euclid(4) {
            0 => (s, c),
            1 => (c, -s),
            2 => (-s, -c),
            _ => (-c, s),
        }
    }

    /// The documented bound of (N26), in ulps of the result.
    const ULP_BOUND: f64 = 2.0;

    #[test]
    fn sin_cos_turns_edge_cases() {
        assert_eq!(sin_cos_turns(0.0), (0.0, 1.0));
        assert_eq!(sin_cos_turns(-0.0), (0.0, 1.0));
        assert_eq!(sin_cos_turns(8_388_608.0), (0.0, 1.0));
        assert_eq!(sin_cos_turns(f32::MAX), (0.0, 1.0));
        // Halves and quarters land on exact values (u = 0).
        assert_eq!(sin_cos_turns(0.5), (0.0, -1.0));
        assert_eq!(sin_cos_turns(0.25), (1.0, 0.0));
        assert_eq!(sin_cos_turns(-0.25), (-1.0, 0.0));
        assert_eq!(sin_cos_turns(4_194_304.5), (0.0, -1.0));
        let (s, c) = sin_cos_turns(f32::NAN);
        assert!(s.is_nan() && c.is_nan());
        let (s, c) = sin_cos_turns(f32::NEG_INFINITY);
        assert!(s.is_nan() && c.is_nan());
        let tiny = f32::from_bits(1);
        assert_eq!(sin_cos_turns(tiny).1, 1.0);
    }
}
