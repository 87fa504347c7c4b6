//! Gradient clipping by global L2 norm (notes/optimizers.md, equation O14).

use glassbox_core::{Float, Mlp};

/// PyTorch's guard in the denominator of `clip_grad_norm_`: `max_norm/(‖g‖ + 1e-6)`.
pub const CLIP_NORM_EPS: f64 = 1e-6;

/// `‖g‖₂ = √(Σ_i g_i²)` over the whole gradient buffer (P,), the squares summed in `f64`
/// in index order on one thread: the same bits whatever the thread count.
pub fn global_norm<T: Float>(grads: &[T]) -> f64 {
    add_squares(0.0, grads).sqrt()
}

/// `sum + Σ_i g_i²` in `f64`, in index order: [`global_norm`]'s sum.
fn add_squares<T: Float>(mut sum: f64, grads: &[T]) -> f64 {
    for &g in grads {
        let g = g.to_f64();
        sum += g * g;
    }
    sum
}

/// Clips the gradient buffer (P,) to global L2 norm at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_(params, max_norm)` does (O14):
///
/// `c = max_norm/(‖g‖ + 1e-6)`; if `c < 1`, `g ← c·g` (PyTorch multiplies by
/// `min(c, 1)`, which leaves `g` unchanged when `c ≥ 1`). Returns the **pre-clip** norm
/// ‖g‖ (what PyTorch returns). Because of the 1e-6, a clipped gradient's norm is slightly
/// below `max_norm`.
///
/// A non-finite norm (an infinite or NaN gradient) leaves the gradients untouched and is
/// returned as it is, for the caller to act on (PyTorch would scale by 0 or NaN unless
/// `error_if_nonfinite=True`).
///
/// # Panics
/// If `max_norm` is not positive and finite.
pub fn clip_grad_norm<T: Float>(grads: &mut [T], max_norm: f64) -> f64 {
    assert!(
        max_norm > 0.0 && max_norm.is_finite(),
        "clip_grad_norm: max_norm must be positive and finite, got {max_norm}"
    );
    let norm = global_norm(grads);
    if !norm.is_finite() {
        return norm;
    }
    if let Some(c) = clip_coefficient(norm, max_norm) {
        for g in grads.iter_mut() {
            *g *= c;
        }
    }
    norm
}

/// [`clip_grad_norm`] for a network's gradients as training clips them: the norm summed by
/// units (T13, [`Mlp::grad_norm`]: the sum N ranks form without a chain,
/// notes/distributed.md §2), then `g ← c·g` as O14 when `c < 1`. Returns the pre-clip norm;
/// a non-finite one leaves the gradients untouched.
///
/// # Panics
/// If `max_norm` is not positive and finite.
pub fn clip_mlp_grad_norm<T: Float>(mlp: &mut Mlp<T>, max_norm: f64) -> f64 {
    assert!(
        max_norm > 0.0 && max_norm.is_finite(),
        "clip_mlp_grad_norm: max_norm must be positive and finite, got {max_norm}"
    );
    let norm = mlp.grad_norm();
    if let Some(c) = clip_coefficient::<T>(norm, max_norm).filter(|_| norm.is_finite()) {
        mlp.grads_mut().iter_mut().for_each(|g| *g *= c);
    }
    norm
}

/// (O14) The factor `max_norm/(‖g‖ + 1e-6)` that scales a gradient of finite norm `norm`,
/// in T, or `None` when it would not shrink it.
pub fn clip_coefficient<T: Float>(norm: f64, max_norm: f64) -> Option<T> {
    let coef = max_norm / (norm + CLIP_NORM_EPS);
    (coef < 1.0).then(|| T::from_f64(coef))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_a_3_4_5_triangle() {
        // ‖(3, 4)‖ = 5; max 1 → c = 1/(5 + 1e-6) → (0.6, 0.8)·5/(5 + 1e-6).
        let mut g = [3.0f64, 4.0];
        let norm = clip_grad_norm(&mut g, 1.0);
        assert_eq!(norm, 5.0);
        let c = 1.0 / (5.0 + 1e-6);
        assert_eq!(g, [3.0 * c, 4.0 * c]);
        assert!(global_norm(&g) < 1.0 && global_norm(&g) > 1.0 - 1e-6);
    }

    #[test]
    fn leaves_small_gradients_alone_bit_for_bit() {
        let mut g = [0.3f32, -0.4, 0.0];
        let norm = clip_grad_norm(&mut g, 0.5 + 1e-3);
        assert!((norm - 0.5).abs() < 1e-7);
        assert_eq!(g, [0.3f32, -0.4, 0.0]);
    }

    #[test]
    fn non_finite_norm_is_reported_and_gradients_kept() {
        let mut g = [1.0f64, f64::INFINITY];
        assert_eq!(clip_grad_norm(&mut g, 1.0), f64::INFINITY);
        assert_eq!(g, [1.0, f64::INFINITY]);
        let mut g = [f64::NAN, 1.0];
        assert!(clip_grad_norm(&mut g, 1.0).is_nan());
        assert_eq!(g[1], 1.0);
    }

    #[test]
    fn norm_of_f32_is_accumulated_in_f64() {
        // 1e6 entries of (1e-3)_f32: the norm is 1e3·(1e-3)_f32 ≈ 1. Summed in f64 the error
        // is ≲ 1e6 roundings of 1e-16 relative; an f32 running sum would be off by ~1e-2
        // (each add of 1e-6 to a sum near 1 loses most of its bits).
        let g = vec![1e-3f32; 1_000_000];
        let exact = 1e3 * (1e-3f32 as f64);
        assert!((global_norm(&g) - exact).abs() < 1e-9);
        let f32_sum = g.iter().fold(0.0f32, |s, &x| s + x * x).sqrt() as f64;
        assert!(
            (f32_sum - exact).abs() > 1e-4,
            "the f32 sum was expected to drift"
        );
    }
}
