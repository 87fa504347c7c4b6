//! `ln`, `ln_1p` and `exp` written out in f64 (notes/privacy.md §8, P25–P26), for the random
//! streams of DP-SGD: the ziggurat's table and tail (P22) and the gaps of the Poisson sampler
//! (P24). The platform's C library may round its `exp` and `ln` differently from one system to
//! another; these functions are fixed sequences of IEEE-754 additions, multiplications and
//! divisions (no fused multiply-add: Rust never contracts), so their bits — and the noise and
//! the batches drawn with them — are the same on every machine.
//!
//! The algorithms and coefficients are those of Sun's fdlibm 5.3 (`e_log.c`, `e_exp.c`, K. C. Ng,
//! 1993): both are below one ulp of error (tested against the platform's functions and against
//! 40-digit values).
//!
//! ```
//! use glassbox_train::privacy::elementary::{exp, ln};
//!
//! assert_eq!(ln(1.0), 0.0);
//! assert_eq!(exp(0.0), 1.0);
//! assert!((ln(2.0) - std::f64::consts::LN_2).abs() <= f64::EPSILON / 2.0);
//! assert!((exp(1.0) - std::f64::consts::E).abs() <= f64::EPSILON * 2.0);
//! ```

// fdlibm prints its constants with 21 significant digits; they are kept as printed (the
// compiler rounds them to the f64 whose bits the unit test checks), so they can be compared
// with the source.
#![allow(clippy::excessive_precision)]

/// `ln 2` split so that `k·LN2_HI` is exact for |k| < 2¹¹: the top 32 bits of ln 2
/// (0x3fe62e42_fee00000) and the rest (0x3dea39ef_35793c76).
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// `1/ln 2` (0x3ff71547_652b82fe).
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// 2⁵⁴, to bring subnormal arguments of `ln` into the normal range.
const TWO54: f64 = 1.801_439_850_948_198_400_00e16;

/// The Remez coefficients of fdlibm's `e_log.c`: with `s = f/(2 + f)` and `z = s²`,
/// `ln(1 + f) = 2s + s·R(z)`, `R(z) ≈ Lg1·z + Lg2·z² + … + Lg7·z⁷`, error below 2⁻⁵⁸·⁴⁵ on
/// `|s| ≤ 0.1716`.
const LG: [f64; 7] = [
    6.666_666_666_666_735_130e-1, // 0x3fe55555_55555593
    3.999_999_999_940_941_908e-1, // 0x3fd99999_9997fa04
    2.857_142_874_366_239_149e-1, // 0x3fd24924_94229359
    2.222_219_843_214_978_396e-1, // 0x3fcc71c5_1d8e78af
    1.818_357_216_161_805_012e-1, // 0x3fc74664_96cb03de
    1.531_383_769_920_937_332e-1, // 0x3fc39a09_d078c69f
    1.479_819_860_511_658_591e-1, // 0x3fc2f112_df3e5244
];

/// The Remez coefficients of fdlibm's `e_exp.c`: on `|r| ≤ ln2/2`,
/// `R(r²) = r·(e^r + 1)/(e^r − 1) ≈ 2 + p₁·r² + … + p₅·r¹⁰`, error below 2⁻⁵⁹.
const P: [f64; 5] = [
    1.666_666_666_666_660_190_37e-1,  // 0x3fc55555_5555553e
    -2.777_777_777_701_559_338_42e-3, // 0xbf66c16c_16bebd93
    6.613_756_321_437_934_361_17e-5,  // 0x3f11566a_af25de2c
    -1.653_390_220_546_525_153_90e-6, // 0xbebbbd41_c5d26bf1
    4.138_136_797_057_238_460_39e-8,  // 0x3e663769_72bea4d0
];

/// Above this `exp` overflows (0x40862e42_fefa39ef, ln of the largest f64).
const EXP_OVERFLOW: f64 = 7.097_827_128_933_839_730_96e2;
/// Below this `exp` underflows to 0 (0xc0874910_d52d3051).
const EXP_UNDERFLOW: f64 = -7.451_332_191_019_411_084_20e2;

fn high_word(x: f64) -> i32 {
    (x.to_bits() >> 32) as i32
}

fn with_high_word(x: f64, high: i32) -> f64 {
    f64::from_bits((u64::from(high as u32) << 32) | (x.to_bits() & 0xffff_ffff))
}

/// (P25) The natural logarithm, fdlibm's `__ieee754_log`: `x = 2ᵏ·(1 + f)` with
/// `√2/2 ≤ 1 + f < √2`, then `ln x = k·ln2_hi + (f − (f²/2 − (s·(f²/2 + R(z)) + k·ln2_lo)))`,
/// `s = f/(2 + f)`, `z = s²` (the Remez polynomial `LG`). Below one ulp of error.
/// `ln(0) = −∞`, `ln(x < 0) = NaN`, `ln(∞) = ∞`, `ln(NaN) = NaN`.
#[allow(clippy::many_single_char_names)]
pub fn ln(x: f64) -> f64 {
    let mut x = x;
    let mut hx = high_word(x);
    let lx = x.to_bits() as u32;
    let mut k: i32 = 0;
    if hx < 0x0010_0000 {
        // x < 2⁻¹⁰²²: zero, negative or subnormal.
        if ((hx & 0x7fff_ffff) as u32 | lx) == 0 {
            return f64::NEG_INFINITY;
        }
        if hx < 0 {
            return f64::NAN;
        }
        k -= 54;
        x *= TWO54;
        hx = high_word(x);
    }
    if hx >= 0x7ff0_0000 {
        return x + x; // ∞ or NaN
    }
    k += (hx >> 20) - 1023;
    hx &= 0x000f_ffff;
    // i = 0x100000 when the mantissa is above √2: then 1 + f is taken as x/2.
    let i = (hx + 0x95f64) & 0x0010_0000;
    x = with_high_word(x, hx | (i ^ 0x3ff0_0000));
    k += i >> 20;
    let f = x - 1.0;
    let dk = f64::from(k);
    if (0x000f_ffff & (2 + hx)) < 3 {
        // |f| < 2⁻²⁰: two terms of the series suffice.
        if f == 0.0 {
            return if k == 0 {
                0.0
            } else {
                dk * LN2_HI + dk * LN2_LO
            };
        }
        let r = f * f * (0.5 - 0.333_333_333_333_333_33 * f);
        return if k == 0 {
            f - r
        } else {
            dk * LN2_HI - ((r - dk * LN2_LO) - f)
        };
    }
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    let r = t2 + t1;
    // fdlibm's test for 1 + f in [1.47, √2) or below 0.73 (f not small against 1).
    let far = ((hx - 0x6147a) | (0x6b851 - hx)) > 0;
    if far {
        let hfsq = 0.5 * f * f;
        if k == 0 {
            f - (hfsq - s * (hfsq + r))
        } else {
            dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
        }
    } else if k == 0 {
        f - s * (f - r)
    } else {
        dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)
    }
}

/// (P25) `ln(1 + x)`, accurate for small x: `u = 1 + x` rounded, then
/// `ln(u)·x/(u − 1)` (Goldberg 1991, Thm 4; `x` itself when `u = 1`), which cancels the
/// rounding error of `1 + x`. Within a few ulps; `ln_1p(−1) = −∞`.
pub fn ln_1p(x: f64) -> f64 {
    let u = 1.0 + x;
    if u == 1.0 {
        x
    } else if u.is_infinite() {
        u
    } else {
        ln(u) * (x / (u - 1.0))
    }
}

/// (P26) `eˣ`, fdlibm's `__ieee754_exp`: `x = k·ln2 + r` with `|r| ≤ ln2/2` (`r = hi − lo`,
/// `hi = x − k·ln2_hi` exact), `c = r − r²·(p₁ + r²·(p₂ + … + r²·p₅))`,
/// `eʳ = 1 − ((lo − r·c/(2 − c)) − hi)`, then `eˣ = 2ᵏ·eʳ` by adding k to the exponent. Below
/// one ulp of error. `exp(−∞) = 0`, `exp(∞) = ∞`, `exp(NaN) = NaN`; overflow gives ∞,
/// underflow 0.
#[allow(clippy::many_single_char_names)]
pub fn exp(x: f64) -> f64 {
    let hx_signed = high_word(x);
    let negative = hx_signed < 0;
    let hx = hx_signed & 0x7fff_ffff;
    if hx >= 0x4086_2e42 {
        // |x| ≥ 709.78: non-finite, overflow or underflow.
        if hx >= 0x7ff0_0000 {
            if x.is_nan() {
                return x + x;
            }
            return if negative { 0.0 } else { x };
        }
        if x > EXP_OVERFLOW {
            return f64::INFINITY;
        }
        if x < EXP_UNDERFLOW {
            return 0.0;
        }
    }
    let (sign, half) = if negative { (-1.0, -0.5) } else { (1.0, 0.5) };
    let (hi, lo, k) = if hx > 0x3fd6_2e42 {
        // |x| > ln2/2: reduce.
        let (hi, lo, k) = if hx < 0x3ff0_a2b2 {
            // |x| < 1.5·ln2: k = ±1.
            (
                x - sign * LN2_HI,
                sign * LN2_LO,
                if negative { -1 } else { 1 },
            )
        } else {
            let k = (INV_LN2 * x + half) as i32;
            let t = f64::from(k);
            (x - t * LN2_HI, t * LN2_LO, k)
        };
        (hi, lo, k)
    } else if hx < 0x3e30_0000 {
        // |x| < 2⁻²⁸: e^x = 1 + x to within half an ulp.
        return 1.0 + x;
    } else {
        (x, 0.0, 0)
    };
    let r = if k == 0 { x } else { hi - lo };
    let t = r * r;
    let c = r - t * (P[0] + t * (P[1] + t * (P[2] + t * (P[3] + t * P[4]))));
    if k == 0 {
        return 1.0 - ((r * c) / (c - 2.0) - r);
    }
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    if k >= -1021 {
        with_high_word(y, high_word(y).wrapping_add(k << 20))
    } else {
        // The result is subnormal: scale by 2^(k + 1000), then by 2⁻¹⁰⁰⁰.
        let two_m1000 = f64::from_bits(0x0170_0000_0000_0000);
        with_high_word(y, high_word(y).wrapping_add((k + 1000) << 20)) * two_m1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decimal coefficients are the f64s whose bits fdlibm prints beside them.
    #[test]
    fn coefficients_are_fdlibms_bits() {
        let bits = [
            (LN2_HI, 0x3fe62e42_fee00000u64),
            (LN2_LO, 0x3dea39ef_35793c76),
            (INV_LN2, 0x3ff71547_652b82fe),
            (TWO54, 0x43500000_00000000),
            (LG[0], 0x3fe55555_55555593),
            (LG[1], 0x3fd99999_9997fa04),
            (LG[2], 0x3fd24924_94229359),
            (LG[3], 0x3fcc71c5_1d8e78af),
            (LG[4], 0x3fc74664_96cb03de),
            (LG[5], 0x3fc39a09_d078c69f),
            (LG[6], 0x3fc2f112_df3e5244),
            (P[0], 0x3fc55555_5555553e),
            (P[1], 0xbf66c16c_16bebd93),
            (P[2], 0x3f11566a_af25de2c),
            (P[3], 0xbebbbd41_c5d26bf1),
            (P[4], 0x3e663769_72bea4d0),
            (EXP_OVERFLOW, 0x40862e42_fefa39ef),
            (EXP_UNDERFLOW, 0xc0874910_d52d3051),
        ];
        for (value, expected) in bits {
            assert_eq!(value.to_bits(), expected, "{value:e}");
        }
    }
}
