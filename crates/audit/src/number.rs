//! Numbers as the audits print them: significant digits, trailing zeros trimmed (the
//! precision of the hand-worked tables in notes/backprop.md §9).

/// `x` with 13 significant digits, trailing zeros removed: plain decimals for
/// `1e-4 ≤ |x| < 1e6`, scientific notation otherwise (the precision of the hand-worked
/// tables in notes/backprop.md §9).
pub fn sig13(x: f64) -> String {
    sig(x, 13)
}

/// `x` with `digits` significant digits (see [`sig13`]).
pub fn sig(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-4..1e6).contains(&a) {
        let exp = a.log10().floor() as i64;
        let decimals = (digits as i64 - 1 - exp).max(0) as usize;
        let mut s = format!("{x:.decimals$}");
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        s
    } else {
        let s = format!("{x:.prec$e}", prec = digits - 1);
        // Trim zeros of the mantissa: 1.500000e-7 → 1.5e-7.
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            _ => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig13_matches_the_notes_precision() {
        assert_eq!(sig13(0.593_269_992_107_211_7), "0.5932699921072");
        assert_eq!(sig13(1.105_905_967_059_659), "1.10590596706"); // 1.105905967060, trailing 0 trimmed
        assert_eq!(sig13(-0.044_877_175_908_960_1), "-0.04487717590896");
        assert_eq!(sig13(0.3775), "0.3775");
        assert_eq!(sig13(0.0), "0");
        assert_eq!(sig13(-6.363_772_020_568e-4), "-0.0006363772020568");
        assert_eq!(sig13(1.5e-7), "1.5e-7");
        assert_eq!(sig13(f64::NAN), "NaN");
        assert_eq!(sig(123_456_789.0, 4), "1.235e8");
    }
}
