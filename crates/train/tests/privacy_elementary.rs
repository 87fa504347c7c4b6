//! The hand-written `ln`, `ln_1p` and `exp` of the DP random streams (notes/privacy.md §8,
//! P25–P26): within one ulp of the correctly rounded value at 47 arguments (60-digit mpmath,
//! `scripts/elementary_reference.py`), within one ulp of the platform's functions over a
//! million arguments, the special values, and a negative control.

use glassbox_core::seeded_rng;
use glassbox_train::privacy::elementary::{exp, ln, ln_1p};
use rand::RngCore;

/// Distance in units in the last place between two finite f64 of the same sign.
fn ulps(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
    a.to_bits().abs_diff(b.to_bits())
}

// (argument bits, correctly rounded result bits), from scripts/elementary_reference.py.
const LN: [(u64, u64); 20] = [
    (0x0000000000000001, 0xc0874385446d71c3), // 5e-324
    (0x01a56e1fc2f8f359, 0xc085963447f87fb5), // 1e-300
    (0x3ca0000000000000, 0xc0425e4f7b2737fa), // 1.1102230246251565e-16
    (0x3ddb7cdfd9d7bdbb, 0xc037069e2aa2aa5b), // 1e-10
    (0x3fb999999999999a, 0xc0026bb1bbb55515), // 0.1
    (0x3fe0000000000000, 0xbfe62e42fefa39ef), // 0.5
    (0x3fe6a09e667f3bcd, 0xbfd62e42fefa39ee), // 0.7071067811865476
    (0x3fe75c28f5c28f5c, 0xbfd42438893252f5), // 0.73
    (0x3fefffffca501acb, 0xbe7ad7f2b1049b9f), // 0.9999999
    (0x3ff0000000000001, 0x3cafffffffffffff), // 1.0000000000000002
    (0x3ff000001ad7f29b, 0x3e7ad7f2847b6492), // 1.0000001
    (0x3ff6a09e667f3bcd, 0x3fd62e42fefa39f0), // 1.4142135623730951
    (0x3ff7851eb851eb85, 0x3fd8a823a0f18d8c), // 1.47
    (0x4000000000000000, 0x3fe62e42fefa39ef), // 2.0
    (0x4005bf0a8b145769, 0x3ff0000000000000), // 2.718281828459045
    (0x400b8a7c476d2be8, 0x3ff3c79c02ad7380), // 3.442619855899
    (0x4024000000000000, 0x40026bb1bbb55516), // 10.0
    (0x4202a05f20000000, 0x4037069e2aa2aa5b), // 10000000000.0
    (0x7e37e43c8800759c, 0x4085963447f87fb5), // 1e+300
    (0x7fefffffffffffff, 0x40862e42fefa39ef), // 1.7976931348623157e+308
];
const LN_1P: [(u64, u64); 10] = [
    (0xbfe0000000000000, 0xbfe62e42fefa39ef), // -0.5
    (0xbfc999999999999a, 0xbfcc8ff7c79a9a22), // -0.2
    (0xbfa999999999999a, 0xbfaa431d5bcc1938), // -0.05
    (0xbf9a41a41a41a41a, 0xbf9a995162661705), // -0.02564102564102564
    (0xbf7a6d01a6d01a6d, 0xbf7a82ec61fe00ef), // -0.0064516129032258064
    (0xbf6a82e65130e159, 0xbf6a8de7cc9fb86f), // -0.003236245954692557
    (0xbeb0c6f7a0b5ed8d, 0xbeb0c6f82d72bfbd), // -1e-06
    (0xbd719799812dea11, 0xbd719799812df3bd), // -1e-12
    (0x3c670ef54646d497, 0x3c670ef54646d497), // 1e-17
    (0x3fd3333333333333, 0x3fd0ca937be1b9dc), // 0.3
];
const EXP: [(u64, u64); 17] = [
    (0xc087480000000000, 0x0000000000000001), // -745.0
    (0xc086240000000000, 0x000e6cf6d08897ac), // -708.5
    (0xc085e00000000000, 0x00d14f2b0fb9307f), // -700.0
    (0xc034000000000000, 0x3e21b48655f37267), // -20.0
    (0xc017b33333333333, 0x3f65e32fd421dbbf), // -5.925
    (0xbff8000000000000, 0x3fcc8f87724b5c1d), // -1.5
    (0xbfe62e42fefa39ef, 0x3fe0000000000000), // -0.6931471805599453
    (0xbfd5c28f5c28f5c3, 0x3fe6c6d28e50ebb5), // -0.34
    (0xbe112e0be826d695, 0x3fefffffff768fa1), // -1e-09
    (0x3bc79ca10c924223, 0x3ff0000000000000), // 1e-20
    (0x3fd0000000000000, 0x3ff48b5e3c3e8186), // 0.25
    (0x3fe0000000000000, 0x3ffa61298e1e069c), // 0.5
    (0x3ff0000000000000, 0x4005bf0a8b145769), // 1.0
    (0x4008000000000000, 0x403415e5bf6fb106), // 3.0
    (0x4024000000000000, 0x40d5829dcf950560), // 10.0
    (0x4059000000000000, 0x48f3494a9b171bf5), // 100.0
    (0x40862d999999999a, 0x7fed75ae7a50ee14), // 709.7
];

/// The largest distance in ulps of `f` from the table, or the first row beyond one ulp.
fn check_table(name: &str, f: fn(f64) -> f64, table: &[(u64, u64)]) -> Result<u64, String> {
    let mut worst = 0;
    for &(x, want) in table {
        let (x, want) = (f64::from_bits(x), f64::from_bits(want));
        let got = f(x);
        let d = ulps(got, want);
        if d > 1 {
            return Err(format!(
                "{name}({x:e}) = {got:e}, correctly rounded {want:e}: {d} ulps"
            ));
        }
        worst = worst.max(d);
    }
    Ok(worst)
}

#[test]
fn within_one_ulp_of_the_correctly_rounded_values() {
    let worst = [
        check_table("ln", ln, &LN).unwrap(),
        check_table("ln_1p", ln_1p, &LN_1P).unwrap(),
        check_table("exp", exp, &EXP).unwrap(),
    ];
    eprintln!(
        "worst ulps against mpmath: ln {}, ln_1p {}, exp {}",
        worst[0], worst[1], worst[2]
    );
}

/// Negative control for the table check: a logarithm off by 2 ulps fails it.
#[test]
fn a_logarithm_two_ulps_off_fails_the_table() {
    let off = check_table("ln+2ulp", |x| f64::from_bits(ln(x).to_bits() + 2), &LN);
    assert!(
        off.is_err_and(|e| e.contains("2 ulps")),
        "the control passed"
    );
}

/// Over a million arguments spread over the exponent range (ln) and over [−745, 709] (exp),
/// the functions stay within one ulp of the platform's (both are within an ulp of the truth,
/// so they differ by at most one), and agree exactly on most.
#[test]
fn within_one_ulp_of_the_platform_functions() {
    let mut rng = seeded_rng(25);
    let (mut same_ln, mut same_exp, n) = (0, 0, 1_000_000);
    for _ in 0..n {
        let word = rng.next_u64();
        // A positive finite f64 with uniformly random bits (exponents 0..=2046).
        let x = f64::from_bits(word % 0x7fe0_0000_0000_0000 + 1);
        let d = ulps(ln(x), x.ln());
        assert!(d <= 1, "ln({x:e}) = {:e}, platform {:e}", ln(x), x.ln());
        same_ln += usize::from(d == 0);
        let y = -745.0 + 1454.0 * ((word >> 11) as f64 / (1u64 << 53) as f64);
        let (got, platform) = (exp(y), y.exp());
        // Subnormal results may differ by one unit as well.
        let d = ulps(got, platform);
        assert!(d <= 1, "exp({y:e}) = {got:e}, platform {platform:e}");
        same_exp += usize::from(d == 0);
    }
    eprintln!("identical to the platform: ln {same_ln}/{n}, exp {same_exp}/{n}");
    assert!(same_ln > n * 9 / 10 && same_exp > n * 9 / 10);
}

#[test]
fn special_values() {
    assert_eq!(ln(0.0), f64::NEG_INFINITY);
    assert_eq!(ln(-0.0), f64::NEG_INFINITY);
    assert!(ln(-1.0).is_nan() && ln(f64::NAN).is_nan());
    assert_eq!(ln(f64::INFINITY), f64::INFINITY);
    assert_eq!(ln(1.0).to_bits(), 0);
    assert_eq!(ln_1p(-1.0), f64::NEG_INFINITY);
    assert_eq!(ln_1p(0.0), 0.0);
    assert_eq!(exp(f64::NEG_INFINITY), 0.0);
    assert_eq!(exp(f64::INFINITY), f64::INFINITY);
    assert!(exp(f64::NAN).is_nan());
    assert_eq!(exp(710.0), f64::INFINITY);
    assert_eq!(exp(-746.0), 0.0);
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(-0.0), 1.0);
    // Powers of two are exact: ln(2ᵏ) = k·ln 2 to the ulp, e^(k ln 2) = 2ᵏ to the ulp.
    for k in [-1074i32, -1022, -60, -1, 1, 60, 1023] {
        let power = if k < -1022 {
            f64::from_bits(1u64 << (k + 1074)) // subnormal
        } else {
            f64::from_bits(((k + 1023) as u64) << 52)
        };
        let want = f64::from(k) * std::f64::consts::LN_2;
        assert!(ulps(ln(power), want) <= 1, "ln 2^{k}");
    }
}
