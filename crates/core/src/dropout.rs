//! Inverted dropout (notes/backprop.md §3, equations B14–B16).
//!
//! During training each element of a layer's output Y (N, H) is kept with probability
//! `1 − p` and scaled by `1/(1 − p)`, so the expected value of the output is unchanged and
//! inference is the identity (no rescaling at test time). The scale is folded into the mask:
//! `M_{nh} ∈ {0, 1/(1 − p)}` (B14), `A = Y ⊙ M` (B15), `∂L/∂Y = ∂L/∂A ⊙ M` (B16).
//!
//! The mask is drawn on the calling thread, row-major, one [`uniform01`] draw per element,
//! from the explicit [`Rng`] — so it never depends on the thread count. The draws are taken
//! in blocks ([`MASK_BLOCK`] words from one `fill_bytes`, the same stream as one `next_u64`
//! each) and compared as integers; [`dropout_sample_mask_reference`] is the element-by-element
//! form the tests hold it to, bit for bit.
//!
//! ```
//! use glassbox_core::{dropout_backward, dropout_forward, dropout_sample_mask, seeded_rng};
//! use ndarray::{array, Array2};
//!
//! let y = array![[1.0_f64, 2.0, 3.0, 4.0]];
//! let mut mask = Array2::zeros((1, 4));
//! dropout_sample_mask(0.5, &mut seeded_rng(1), mask.view_mut());
//! assert!(mask.iter().all(|&m| m == 0.0 || m == 2.0)); // 1/(1 − p) = 2
//! let mut a = Array2::zeros((1, 4));
//! dropout_forward(y.view(), mask.view(), a.view_mut());
//! assert_eq!(a, &y * &mask);
//! let mut d = Array2::ones((1, 4));
//! dropout_backward(mask.view(), d.view_mut());
//! assert_eq!(d, mask);
//! ```

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use rand::RngCore;

use crate::init::uniform01;
use crate::{Float, Rng};

/// Whether `p` is a valid drop probability: `0 ≤ p < 1` (p = 1 would divide by zero).
pub fn dropout_p_is_valid(p: f64) -> bool {
    (0.0..1.0).contains(&p)
}

/// Words drawn per `fill_bytes` call by [`dropout_sample_mask`] (4 KiB of stack).
const MASK_BLOCK: usize = 512;

/// (B14) Draws an inverted-dropout mask: `M_{nh} = 1/(1 − p)` with probability `1 − p`,
/// else 0. One [`uniform01`] draw `u` per element in row-major order; the element is
/// dropped when `u < p`. With `p = 0` every entry is 1 and nothing is drawn.
///
/// The same mask and the same RNG state after as [`dropout_sample_mask_reference`]: the
/// words come in blocks from `fill_bytes` (ChaCha's `next_u64` is two consecutive 32-bit
/// words, low first, which is what the little-endian bytes give), and `u < p` is decided on
/// the integer `k = ⌊x / 2¹¹⌋`: `u = k·2⁻⁵³` exactly, so `u < p ⇔ k < p·2⁵³ ⇔ k < ⌈p·2⁵³⌉`.
///
/// Shapes: `mask` (N, H), written.
///
/// # Panics
/// If `p` is not in `[0, 1)`.
pub fn dropout_sample_mask<T: Float>(p: f64, rng: &mut Rng, mut mask: ArrayViewMut2<T>) {
    let Some(keep) = mask_keep(p, &mut mask) else {
        return;
    };
    // p·2⁵³ is exact (a power-of-two scaling) and below 2⁵³, so the cast is exact too.
    let drop_below = (p * (1u64 << 53) as f64).ceil() as u64;
    let len = mask.len();
    match mask.as_slice_mut() {
        Some(cells) => fill_mask(cells.iter_mut(), len, drop_below, keep, rng),
        // Logical row-major order, whatever the memory layout (as the reference).
        None => fill_mask(mask.iter_mut(), len, drop_below, keep, rng),
    }
}

/// The kept value `1/(1 − p)` of a mask, or `None` when `p = 0` (then the mask is all ones
/// and nothing is to be drawn).
///
/// # Panics
/// If `p` is not in `[0, 1)`.
fn mask_keep<T: Float>(p: f64, mask: &mut ArrayViewMut2<T>) -> Option<T> {
    assert!(
        dropout_p_is_valid(p),
        "dropout: p must be in [0, 1), got {p}"
    );
    if p == 0.0 {
        mask.fill(T::one());
        return None;
    }
    Some(T::from_f64(1.0 / (1.0 - p)))
}

/// Writes the `len` cells of `cells` from blocks of draws: 0 where `⌊x / 2¹¹⌋ < drop_below`,
/// else `keep` ([`dropout_sample_mask`]).
fn fill_mask<'a, T: Float + 'a>(
    mut cells: impl Iterator<Item = &'a mut T>,
    mut len: usize,
    drop_below: u64,
    keep: T,
    rng: &mut Rng,
) {
    let mut bytes = [0u8; 8 * MASK_BLOCK];
    while len > 0 {
        let n = len.min(MASK_BLOCK);
        rng.fill_bytes(&mut bytes[..8 * n]);
        let (words, _) = bytes[..8 * n].as_chunks::<8>();
        for (m, w) in cells.by_ref().take(n).zip(words) {
            let k = u64::from_le_bytes(*w) >> 11;
            *m = if k < drop_below { T::zero() } else { keep };
        }
        len -= n;
    }
}

/// (B14) The element-by-element form of [`dropout_sample_mask`]: one [`uniform01`] call per
/// element, row by row. Kept as the reference the block form is tested against.
///
/// # Panics
/// If `p` is not in `[0, 1)`.
pub fn dropout_sample_mask_reference<T: Float>(p: f64, rng: &mut Rng, mut mask: ArrayViewMut2<T>) {
    let Some(keep) = mask_keep(p, &mut mask) else {
        return;
    };
    for mut row in mask.rows_mut() {
        for m in row.iter_mut() {
            *m = if uniform01(rng) < p { T::zero() } else { keep };
        }
    }
}

/// (B15) Forward: `A = Y ⊙ M`, written into `a`.
///
/// Shapes: `y`, `mask`, `a` all (N, H).
///
/// # Panics
/// If the shapes differ.
pub fn dropout_forward<T: Float>(y: ArrayView2<T>, mask: ArrayView2<T>, mut a: ArrayViewMut2<T>) {
    assert!(
        y.dim() == mask.dim() && mask.dim() == a.dim(),
        "dropout: Y is {:?}, mask is {:?}, A is {:?}; they must agree",
        y.dim(),
        mask.dim(),
        a.dim()
    );
    Zip::from(&mut a)
        .and(&y)
        .and(&mask)
        .for_each(|a, &y, &m| *a = y * m);
}

/// (B16) Backward in place: `d ← d ⊙ M`; `d` holds `∂L/∂A` on entry, `∂L/∂Y` on exit.
///
/// Shapes: `mask`, `d` (N, H).
///
/// # Panics
/// If the shapes differ.
pub fn dropout_backward<T: Float>(mask: ArrayView2<T>, mut d: ArrayViewMut2<T>) {
    assert_eq!(
        mask.dim(),
        d.dim(),
        "dropout: mask is {:?} but dL/dA is {:?}",
        mask.dim(),
        d.dim()
    );
    Zip::from(&mut d).and(&mask).for_each(|d, &m| *d *= m);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;
    use ndarray::{Array2, array};

    #[test]
    fn mask_is_scaled_and_keeps_about_one_minus_p() {
        let mut mask = Array2::<f64>::zeros((100, 100));
        dropout_sample_mask(0.3, &mut seeded_rng(5), mask.view_mut());
        let keep = 1.0 / 0.7;
        assert!(mask.iter().all(|&m| m == 0.0 || m == keep));
        let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / 1e4;
        // Binomial(10⁴, 0.7): standard deviation 0.0046.
        assert!((kept - 0.7).abs() < 0.02, "{kept}");
        // E[M] = 1: the mean output is preserved.
        assert!((mask.mean().unwrap_or(0.0) - 1.0).abs() < 0.03);
    }

    #[test]
    fn mask_is_a_pure_function_of_the_seed_and_the_shape_order() {
        let mut a = Array2::<f32>::zeros((7, 9));
        let mut b = Array2::<f32>::zeros((7, 9));
        dropout_sample_mask(0.5, &mut seeded_rng(9), a.view_mut());
        dropout_sample_mask(0.5, &mut seeded_rng(9), b.view_mut());
        assert_eq!(a, b);
        // The order is the view's logical row-major order, whatever its memory layout:
        // filling the transpose of a (9, 7) array gives the same logical mask.
        let mut t = Array2::<f32>::zeros((9, 7));
        dropout_sample_mask(0.5, &mut seeded_rng(9), t.view_mut().reversed_axes());
        assert_eq!(t.t(), a);
        assert!(a.iter().any(|&m| m == 0.0) && a.iter().any(|&m| m == 2.0));
    }

    #[test]
    fn the_block_form_is_the_reference_bit_for_bit() {
        // Sizes across the block edge (512 words), odd sizes, a p on a 2⁻⁵³ grid point
        // (0.5: u = p exactly is kept) and awkward ones; the RNG must end in the same state.
        for (rows, cols) in [
            (1, 1),
            (3, 7),
            (1, 511),
            (1, 512),
            (2, 513),
            (37, 64),
            (256, 64),
        ] {
            for p in [0.5, 0.2, 0.1, 1e-9, 0.999_999] {
                let mut rng_a = seeded_rng(rows as u64 * 31 + cols as u64);
                // Leave the stream at an odd word so a u64 straddles a ChaCha block.
                let _ = rng_a.next_u32();
                let mut rng_b = rng_a.clone();
                let mut a = Array2::<f32>::zeros((rows, cols));
                let mut b = Array2::<f32>::zeros((rows, cols));
                dropout_sample_mask(p, &mut rng_a, a.view_mut());
                dropout_sample_mask_reference(p, &mut rng_b, b.view_mut());
                assert_eq!(a, b, "{rows}x{cols}, p = {p}");
                assert_eq!(rng_a, rng_b, "{rows}x{cols}, p = {p}");
            }
        }
        // A transposed (non-contiguous) view, in f64.
        let mut a = Array2::<f64>::zeros((9, 70));
        let mut b = Array2::<f64>::zeros((9, 70));
        dropout_sample_mask(0.3, &mut seeded_rng(4), a.view_mut().reversed_axes());
        dropout_sample_mask_reference(0.3, &mut seeded_rng(4), b.view_mut().reversed_axes());
        assert_eq!(a, b);
        assert!(a.iter().any(|&m| m == 0.0) && a.iter().any(|&m| m != 0.0));
    }

    #[test]
    fn p_zero_is_the_identity_and_draws_nothing() {
        let mut rng = seeded_rng(2);
        let before = rng.clone();
        let mut mask = Array2::<f64>::zeros((3, 4));
        dropout_sample_mask(0.0, &mut rng, mask.view_mut());
        assert_eq!(mask, Array2::ones((3, 4)));
        assert_eq!(rng, before);
    }

    #[test]
    fn forward_and_backward_literal() {
        let y = array![[1.5, -2.0], [0.25, 4.0]];
        let mask = array![[0.0, 2.0], [2.0, 0.0]];
        let mut a = Array2::zeros((2, 2));
        dropout_forward(y.view(), mask.view(), a.view_mut());
        assert_eq!(a, array![[0.0, -4.0], [0.5, 0.0]]);
        let mut d = array![[10.0, 20.0], [30.0, 40.0]];
        dropout_backward(mask.view(), d.view_mut());
        assert_eq!(d, array![[0.0, 40.0], [60.0, 0.0]]);
    }

    #[test]
    #[should_panic(expected = "p must be in [0, 1)")]
    fn p_one_is_rejected() {
        let mut mask = Array2::<f64>::zeros((1, 1));
        dropout_sample_mask(1.0, &mut seeded_rng(0), mask.view_mut());
    }
}
