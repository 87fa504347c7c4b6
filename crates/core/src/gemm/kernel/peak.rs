//! The FMA peak of this CPU, measured: the rate of independent fused multiply-adds that the
//! GEMM figures are a fraction of (issue 11; notes/gemm.md §6, eq. G5).
//!
//! [`fma_peak_work`] runs [`PEAK_CHAINS`] independent FMA chains on vectors of the chosen
//! instruction set, each `rounds` long. The chains are independent, so a CPU that issues
//! F fused multiply-adds a cycle with a latency of L cycles keeps them all busy as long as
//! the chains number at least F·L (2·4 = 8 on Zen 3 and Ice Lake, 1·5 on Zen 1, whose 256-bit
//! operations take two 128-bit halves, by AMD's description); 12 also leaves the 16 AVX2
//! registers room for the two operands, so nothing spills. No memory is touched: this is the
//! arithmetic ceiling, which a GEMM can approach but not pass (it also loads, broadcasts and
//! stores).
//! The caller times it; this crate does no timing.

use super::Isa;
use super::simd::{Element, Simd};

/// Independent accumulator chains of the peak loop (12 vectors; see the module's text).
const PEAK_CHAINS: usize = 12;

/// Runs `PEAK_CHAINS` chains of `rounds` fused multiply-adds `c ← c·a + b` on `isa`'s vectors
/// of `f32`, and returns (the floating-point operations done, counting a fused multiply-add
/// as two; a value of the chains that the caller passes to `black_box` so that no compiler
/// removes the work). `None` when this CPU lacks `isa`.
pub fn fma_peak_work(isa: Isa, rounds: usize) -> Option<(u64, f32)> {
    if !isa.is_available() {
        return None;
    }
    // SAFETY: `isa` is available (checked above), so its target features are present.
    let (value, lanes) = unsafe {
        match isa {
            Isa::Scalar => chains::<f32, <f32 as Element>::Scalar>(rounds),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => chains_avx2(rounds),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => chains_avx512(rounds),
            #[cfg(not(target_arch = "x86_64"))]
            _ => return None,
        }
    };
    Some((2 * (PEAK_CHAINS * lanes * rounds) as u64, value))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2(rounds: usize) -> (f32, usize) {
    // SAFETY: forwarded to the caller.
    unsafe { chains::<f32, <f32 as Element>::Avx2>(rounds) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn chains_avx512(rounds: usize) -> (f32, usize) {
    // SAFETY: forwarded to the caller.
    unsafe { chains::<f32, <f32 as Element>::Avx512>(rounds) }
}

/// The chains on `S`'s vectors, their lanes summed at the end; and the lanes of a vector.
///
/// # Safety
/// The CPU runs `S`'s instructions.
#[inline(always)]
unsafe fn chains<E: Element, S: Simd<E>>(rounds: usize) -> (E, usize) {
    // SAFETY: forwarded to the caller; no pointer is touched.
    unsafe {
        // c·a + b with a just under 1 keeps every chain finite and away from subnormals.
        let a = S::splat(E::from_f64(0.999_999));
        let b = S::splat(E::from_f64(1e-3));
        let mut acc = [S::splat(E::one()); PEAK_CHAINS];
        for _ in 0..rounds {
            for c in &mut acc {
                *c = S::fma(*c, a, b);
            }
        }
        let value = acc.iter().fold(E::zero(), |sum, &c| sum + S::hsum(c));
        (value, S::LANES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every available instruction set computes the same chains: c after r rounds of
    /// c ← c·a + b from 1, the same value in every lane, so each vector's lanes add to
    /// lanes·c exactly (equal lanes added in a tree of halves), and the 12 vectors' sums
    /// are folded in order. A CPU that lacks an instruction set gets `None`.
    #[test]
    fn the_peak_loop_counts_its_operations_and_computes_the_chains() {
        let rounds = 1000;
        let mut c = 1.0f32;
        for _ in 0..rounds {
            c = c.mul_add(0.999_999, 1e-3);
        }
        for isa in Isa::ALL {
            match fma_peak_work(isa, rounds) {
                None => assert!(!isa.is_available(), "{isa} is available but gave None"),
                Some((flops, value)) => {
                    let lanes = flops as usize / (2 * PEAK_CHAINS * rounds);
                    assert_eq!(flops, (2 * PEAK_CHAINS * lanes * rounds) as u64);
                    let expected = lanes == 8 || lanes == 16;
                    assert!(expected, "{isa}: {lanes} lanes");
                    let folded = (0..PEAK_CHAINS).fold(0.0f32, |sum, _| sum + c * lanes as f32);
                    assert_eq!(value, folded, "{isa}");
                }
            }
        }
    }
}
