//! The special functions the accountant needs, in f64 and written out (notes/privacy.md §8):
//! the complementary error function by W. J. Cody's rational Chebyshev approximations
//! (P15), its logarithm where erfc itself underflows (P16), and addition and subtraction of
//! numbers held as logarithms (P17); and the standard normal quantile Φ⁻¹ (C8), which the
//! value losses' quantiles and the quantile-normal transform (D20) share.
//!
//! ```
//! use glassbox_core::special::{erfc, log_add_exp, log_erfc};
//!
//! assert!((erfc(1.0) - 0.157_299_207_050_285_13).abs() < 1e-16);
//! // erfc(40) ≈ 1.9e-697 underflows f64, its logarithm does not:
//! assert!((log_erfc(40.0) - -1604.261_556_653_273_6).abs() < 1e-9);
//! assert!((log_add_exp(2f64.ln(), 3f64.ln()) - 5f64.ln()).abs() < 1e-15);
//! ```

// Cody's coefficients are printed with 18 significant digits; they are kept as published
// (the compiler rounds them to the nearest f64) so they can be checked against the paper.
#![allow(clippy::excessive_precision)]

/// `1/√π`.
const FRAC_1_SQRT_PI: f64 = 5.641_895_835_477_562_869_5e-1;

/// Interval 1, `|x| ≤ 0.46875`: `erf(x) ≈ x·A(x²)/B(x²)` (Cody 1969, Table I, n = 4).
/// Coefficients from the constant term up.
const ERF_NUM: [f64; 5] = [
    3.209_377_589_138_469_47e3,
    3.774_852_376_853_020_21e2,
    1.138_641_541_510_501_56e2,
    3.161_123_743_870_565_60e0,
    1.857_777_061_846_031_53e-1,
];
const ERF_DEN: [f64; 5] = [
    2.844_236_833_439_170_62e3,
    1.282_616_526_077_372_28e3,
    2.440_246_379_344_441_73e2,
    2.360_129_095_234_412_09e1,
    1.0,
];

/// Interval 2, `0.46875 < x ≤ 4`: `e^{x²}·erfc(x) ≈ C(x)/D(x)` (Cody 1969, Table II, n = 8).
const ERFCX_MID_NUM: [f64; 9] = [
    1.230_339_354_797_997_25e3,
    2.051_078_377_826_071_47e3,
    1.712_047_612_634_070_58e3,
    8.819_522_212_417_690_90e2,
    2.986_351_381_974_001_31e2,
    6.611_919_063_714_162_95e1,
    8.883_149_794_388_375_94e0,
    5.641_884_969_886_700_89e-1,
    2.153_115_354_744_038_46e-8,
];
const ERFCX_MID_DEN: [f64; 9] = [
    1.230_339_354_803_749_42e3,
    3.439_367_674_143_721_64e3,
    4.362_619_090_143_247_16e3,
    3.290_799_235_733_459_63e3,
    1.621_389_574_566_690_19e3,
    5.371_811_018_620_098_58e2,
    1.176_939_508_913_124_99e2,
    1.574_492_611_070_983_47e1,
    1.0,
];

/// Interval 3, `x > 4`: `e^{x²}·erfc(x) ≈ (1/√π − t·P(t)/Q(t))/x` with `t = 1/x²` (Cody
/// 1969, Table III, n = 5).
const ERFCX_TAIL_NUM: [f64; 6] = [
    6.587_491_615_298_378_03e-4,
    1.608_378_514_874_227_66e-2,
    1.257_817_261_112_292_46e-1,
    3.603_448_999_498_044_39e-1,
    3.053_266_349_612_323_44e-1,
    1.631_538_713_730_209_78e-2,
];
const ERFCX_TAIL_DEN: [f64; 6] = [
    2.335_204_976_268_691_85e-3,
    6.051_834_131_244_131_91e-2,
    5.279_051_029_514_284_12e-1,
    1.872_952_849_923_460_47e0,
    2.568_520_192_289_822_42e0,
    1.0,
];

/// The border between Cody's first and second intervals.
const ERF_SMALL_LIMIT: f64 = 0.46875;
/// The border between the second and third intervals.
const ERFC_TAIL_START: f64 = 4.0;

/// Horner's rule, coefficients from the constant term up: `Σ_k c[k]·t^k`.
fn polynomial(coefficients: &[f64], t: f64) -> f64 {
    coefficients.iter().rev().fold(0.0, |acc, &c| acc * t + c)
}

/// `erf(x)` for `|x| ≤ 0.46875` (P15, first interval).
fn erf_small(x: f64) -> f64 {
    let t = x * x;
    x * polynomial(&ERF_NUM, t) / polynomial(&ERF_DEN, t)
}

/// The scaled complementary error function `e^{y²}·erfc(y)` for `y > 0.46875` (P15, second
/// and third intervals). It does not underflow: it decreases like `1/(y√π)`.
fn erfc_scaled(y: f64) -> f64 {
    debug_assert!(y > ERF_SMALL_LIMIT);
    if y <= ERFC_TAIL_START {
        polynomial(&ERFCX_MID_NUM, y) / polynomial(&ERFCX_MID_DEN, y)
    } else {
        // For y > 1.3e154 the square overflows, t = 0 and the leading term 1/(y√π) is exact.
        let t = 1.0 / (y * y);
        let tail = t * polynomial(&ERFCX_TAIL_NUM, t) / polynomial(&ERFCX_TAIL_DEN, t);
        (FRAC_1_SQRT_PI - tail) / y
    }
}

/// `y²` as the pair `(s, d)` with `y² = s² + d`, `s = ⌊16y⌋/16` (Cody's device): `s²` is
/// exact and `d = (y − s)(y + s)` is small, so `e^{−y²} = e^{−s²}·e^{−d}` keeps full relative
/// accuracy where `e^{−y·y}` would inherit the rounding error of `y·y` times `y²`.
fn split_square(y: f64) -> (f64, f64) {
    let s = (16.0 * y).trunc() / 16.0;
    (s * s, (y - s) * (y + s))
}

/// (P15) The complementary error function `erfc(x) = (2/√π)·∫ₓ^∞ e^{−t²} dt`, by Cody's
/// three rational Chebyshev approximations (W. J. Cody, "Rational Chebyshev approximations
/// for the error function", Math. Comp. 23 (1969) 631–637; the coefficients of his netlib
/// routine CALERF):
///
/// - `|x| ≤ 0.46875`: `erfc(x) = 1 − x·A(x²)/B(x²)`;
/// - `0.46875 < |x| ≤ 4`: `erfc(|x|) = e^{−x²}·C(|x|)/D(|x|)`;
/// - `|x| > 4`: `erfc(|x|) = e^{−x²}/|x|·(1/√π − x⁻²·P(x⁻²)/Q(x⁻²))`;
/// - `x < −0.46875`: `erfc(x) = 2 − erfc(|x|)`.
///
/// Relative error within a few units in the last place (measured against mpmath in
/// `tests/privacy_accountant.rs`). `erfc(x)` underflows to 0 for `x ≳ 27.2`; use
/// [`log_erfc`] there. `erfc(−∞) = 2`, `erfc(∞) = 0`, NaN gives NaN.
pub fn erfc(x: f64) -> f64 {
    let y = x.abs();
    if y.is_nan() {
        return f64::NAN;
    }
    if y == f64::INFINITY {
        return if x < 0.0 { 2.0 } else { 0.0 };
    }
    if y <= ERF_SMALL_LIMIT {
        return 1.0 - erf_small(x);
    }
    let (s2, d) = split_square(y);
    let tail = (-s2).exp() * (-d).exp() * erfc_scaled(y);
    if x < 0.0 { 2.0 - tail } else { tail }
}

/// (P16) `ln erfc(x)` for every `x`, without underflow: for `x > 0.46875` it is
/// `ln(e^{x²}·erfc(x)) − x²` from the scaled approximation of (P15), the square taken as
/// `s² + d` (exact `s²`); for `|x| ≤ 0.46875` it is `ln_1p(−erf x)`, and below that
/// `erfc(x) ∈ (1.49, 2]` and its logarithm is taken directly. Decreases like `−x² − ln(x√π)`: `ln erfc(40) ≈ −1604.26`. NaN gives NaN;
/// `+∞` gives `−∞`.
pub fn log_erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.abs() <= ERF_SMALL_LIMIT {
        // ln(1 − erf x) by ln_1p keeps the relative accuracy of tiny results near x = 0.
        return (-erf_small(x)).ln_1p();
    }
    if x < 0.0 {
        return erfc(x).ln();
    }
    if x == f64::INFINITY {
        return f64::NEG_INFINITY;
    }
    let (s2, d) = split_square(x);
    erfc_scaled(x).ln() - s2 - d
}

/// (P17) `ln(eᵃ + eᵇ) = m + ln(1 + e^{n − m})` with `m = max(a, b)`, `n = min(a, b)`, so
/// that nothing overflows. `−∞` stands for 0: `log_add_exp(−∞, b) = b`.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let (small, large) = if a < b { (a, b) } else { (b, a) };
    if small == f64::NEG_INFINITY || large == f64::INFINITY {
        return large;
    }
    (small - large).exp().ln_1p() + large
}

/// (P17) `ln(eᵃ − eᵇ) = b + ln(e^{a − b} − 1)` for `a ≥ b`; `−∞` (zero) when `a = b`, `a`
/// when `b = −∞`, and `a` when `e^{a − b}` overflows (the difference is then `eᵃ` to within
/// `e^{−709}` relative, as Opacus's `_log_sub` returns). `None` when `a < b`: the
/// difference would be negative and has no logarithm.
pub fn log_sub_exp(a: f64, b: f64) -> Option<f64> {
    if a < b {
        return None;
    }
    if b == f64::NEG_INFINITY {
        return Some(a);
    }
    if a == b {
        return Some(f64::NEG_INFINITY);
    }
    let gap = (a - b).exp_m1();
    if gap.is_infinite() {
        Some(a)
    } else {
        Some(gap.ln() + b)
    }
}

/// (C8) Φ⁻¹(u), the standard normal quantile: Acklam's rational approximation (relative
/// error < 1.2e-9) refined by one Halley step on `Φ(x) − u` with `Φ(x) = erfc(−x/√2)/2`,
/// which brings it to about 1e-15.
///
/// # Panics
/// If `u` is not in (0, 1).
pub fn normal_quantile(u: f64) -> f64 {
    assert!(u > 0.0 && u < 1.0, "normal_quantile: {u} not in (0, 1)");
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if u < LOW {
        tail((-2.0 * u.ln()).sqrt())
    } else if u > 1.0 - LOW {
        -tail((-2.0 * (1.0 - u).ln()).sqrt())
    } else {
        let q = u - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - u;
    let slope = (2.0 * std::f64::consts::PI).sqrt() * (0.5 * x * x).exp();
    let step = e * slope;
    x - step / (1.0 + 0.5 * x * step)
}
