//! Averaging of the iterates of a private run (notes/privacy.md §12, P28): an exponential
//! moving average of the parameters after every step, kept beside the network and taken as
//! the trained model (De, Berrada, Hayes, Smith & Balle 2022). It reads only the iterates,
//! which the guarantee already covers (P1: the run's output is the whole sequence of
//! parameters), so it is post-processing and costs no privacy.
//!
//! ```
//! use glassbox_train::privacy::average::update_average;
//!
//! // β = 0.5 over the iterates 2, 4: (0.5·2 + 1·4) / (0.5 + 1) = 10/3.
//! let mut avg = [0.0f64];
//! update_average(&mut avg, &[2.0], 1, 0.5);
//! assert_eq!(avg, [2.0]); // the first iterate itself
//! update_average(&mut avg, &[4.0], 2, 0.5);
//! assert!((avg[0] - 10.0 / 3.0).abs() < 1e-15);
//! ```
//!
//! With the warm-up of the decay (P29, `--dp-average-warmup`) the early iterates count less:
//!
//! ```
//! use glassbox_train::privacy::average::update_average_warmup;
//!
//! // β = 0.99 over the iterates 1, 2, 4: weights 1, 9/12, 9/13 of the newest iterate.
//! let mut avg = [0.0f64];
//! update_average_warmup(&mut avg, &[1.0], 1, 0.99);
//! update_average_warmup(&mut avg, &[2.0], 2, 0.99);
//! assert_eq!(avg, [1.75]);
//! update_average_warmup(&mut avg, &[4.0], 3, 0.99);
//! assert!((avg[0] - 43.0 / 13.0).abs() < 1e-15);
//! ```

use glassbox_core::Float;

use super::elementary::{exp, ln};
use super::validate::PrivacyError;

/// (P28) Folds the iterate θ_t of step `t ≥ 1` into the average of θ_1 … θ_{t−1}:
/// `θ̂_t = θ̂_{t−1} + (θ_t − θ̂_{t−1})·(1 − β)/(1 − β^t)`, which keeps
/// `θ̂_t = Σ_{s≤t} β^{t−s}·θ_s / Σ_{s≤t} β^{t−s}` (at t = 1 the weight is 1 and θ̂_1 = θ_1,
/// whatever `avg` held). Each coordinate in f64, rounded once to `T`; β^t by the
/// hand-written `exp`/`ln` (P25–P26), so the same bits on every machine.
///
/// # Panics
/// If `avg` and `params` differ in length.
pub fn update_average<T: Float>(avg: &mut [T], params: &[T], t: u64, beta: f64) {
    fold(avg, params, new_iterate_weight(t, beta));
}

/// (P29) Folds the iterate θ_t of step `t ≥ 1` into the average with De et al.'s warm-up of
/// the decay, `β_t = min(β, (1 + t)/(10 + t))`: `θ̂_t = β_t·θ̂_{t−1} + (1 − β_t)·θ_t` for
/// t ≥ 2 and `θ̂_1 = θ_1` (whatever `avg` held), so the newest iterate's weight is
/// `max(1 − β, 9/(10 + t))`. Each coordinate in f64, rounded once to `T`, as P28.
///
/// # Panics
/// If `avg` and `params` differ in length.
pub fn update_average_warmup<T: Float>(avg: &mut [T], params: &[T], t: u64, beta: f64) {
    fold(avg, params, warmup_iterate_weight(t, beta));
}

/// `θ̂ ← θ̂ + (θ − θ̂)·w` coordinate by coordinate in f64 (P28, P29).
fn fold<T: Float>(avg: &mut [T], params: &[T], weight: f64) {
    assert_eq!(
        avg.len(),
        params.len(),
        "average and parameters differ in length"
    );
    for (a, &p) in avg.iter_mut().zip(params) {
        let a64 = a.to_f64();
        *a = T::from_f64(a64 + (p.to_f64() - a64) * weight);
    }
}

/// (P29) The weight of the newest iterate under the warm-up, `1 − β_t = max(1 − β,
/// 9/(10 + t))` (`1 − (1 + t)/(10 + t)` written as one division): 1 at t = 1.
fn warmup_iterate_weight(t: u64, beta: f64) -> f64 {
    if t <= 1 {
        return 1.0;
    }
    (1.0 - beta).max(9.0 / (10.0 + t as f64))
}

/// (P28) The weight of the newest iterate, `(1 − β)/(1 − β^t)`: 1 at t = 1, falling to
/// 1 − β as t grows.
fn new_iterate_weight(t: u64, beta: f64) -> f64 {
    if t <= 1 || beta == 0.0 {
        return 1.0;
    }
    (1.0 - beta) / (1.0 - exp(t as f64 * ln(beta)))
}

/// Checks an averaging decay: 0 ≤ β < 1 (β = 0 keeps the last iterate; β = 1 would never
/// move).
///
/// # Errors
/// [`PrivacyError::InvalidAverageDecay`] naming β.
pub fn check_average_decay(beta: f64) -> Result<(), PrivacyError> {
    if (0.0..1.0).contains(&beta) {
        Ok(())
    } else {
        Err(PrivacyError::InvalidAverageDecay(beta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recursion equals the weighted mean `Σ β^{t−s}θ_s / Σ β^{t−s}` written out, at every
    /// step, in f64 (to 1e-13); and a recursion that forgets the correction 1/(1 − β^t) —
    /// the plain EMA started from zero — does not (it stays shrunk towards 0).
    #[test]
    fn the_recursion_is_the_weighted_mean_of_the_iterates() {
        let beta = 0.9;
        let iterates: Vec<[f64; 2]> = (1..=40)
            .map(|s| [(s as f64).sin() + 2.0, -0.5 * s as f64])
            .collect();
        let (mut avg, mut plain) = ([7.0, 7.0], [0.0f64, 0.0]);
        for (i, theta) in iterates.iter().enumerate() {
            let t = i as u64 + 1;
            update_average(&mut avg, theta, t, beta);
            for (p, &x) in plain.iter_mut().zip(theta) {
                *p = beta * *p + (1.0 - beta) * x;
            }
            for c in 0..2 {
                let (mut num, mut den) = (0.0, 0.0);
                for (s, th) in iterates[..=i].iter().enumerate() {
                    let w = beta.powi((i - s) as i32);
                    num += w * th[c];
                    den += w;
                }
                let want = num / den;
                assert!(
                    (avg[c] - want).abs() <= 1e-13 * want.abs().max(1.0),
                    "t {t}"
                );
                if t == 5 {
                    assert!((plain[c] - want).abs() > 1e-2, "the uncorrected EMA passed");
                }
            }
        }
    }

    /// (P29) by hand, three steps at β = 0.99 (the warm-up below β throughout): θ = 1, 2, 4.
    /// t = 1: θ̂ = 1. t = 2: β_2 = min(0.99, 3/12) = 0.25, θ̂ = 0.25·1 + 0.75·2 = 1.75.
    /// t = 3: β_3 = 4/13, θ̂ = (4/13)·1.75 + (9/13)·4 = 7/13 + 36/13 = 43/13 = 3.307692….
    /// P28 with the same β would give (0.99²·1 + 0.99·2 + 4)/(0.99² + 0.99 + 1) ≈ 2.3434.
    #[test]
    fn warmup_three_steps_by_hand() {
        let mut avg = [5.0f64, 5.0];
        update_average_warmup(&mut avg, &[1.0, -1.0], 1, 0.99);
        assert_eq!(avg, [1.0, -1.0]);
        update_average_warmup(&mut avg, &[2.0, -2.0], 2, 0.99);
        assert_eq!(avg, [1.75, -1.75]);
        update_average_warmup(&mut avg, &[4.0, -4.0], 3, 0.99);
        assert!((avg[0] - 43.0 / 13.0).abs() < 1e-15, "{}", avg[0]);
        assert_eq!(avg[1], -avg[0]);
        let mut plain = [0.0f64];
        for (t, x) in [1.0, 2.0, 4.0].into_iter().enumerate() {
            update_average(&mut plain, &[x], t as u64 + 1, 0.99);
        }
        assert!((plain[0] - 2.3434).abs() < 1e-4, "{}", plain[0]);
    }

    /// (P29) The recursion equals `Σ_s w_s·θ_s` with `w_s = (1 − β_s)·Π_{u>s} β_u` (β_1 := 0),
    /// weights that sum to 1, over 40 steps at β = 0.6, where the cap β takes over from
    /// (1 + t)/(10 + t) at t = 14 (9/24 < 0.4); a warm-up without the cap fails it.
    #[test]
    fn warmup_is_the_product_weighted_mean_and_caps_at_beta() {
        let beta: f64 = 0.6;
        let beta_t = |t: usize| {
            if t <= 1 {
                0.0
            } else {
                beta.min((1.0 + t as f64) / (10.0 + t as f64))
            }
        };
        let iterates: Vec<f64> = (1..=40)
            .map(|s| (s as f64).cos() * 3.0 + s as f64)
            .collect();
        let (mut avg, mut uncapped) = ([0.0f64], 0.0f64);
        for (i, &theta) in iterates.iter().enumerate() {
            let t = i + 1;
            update_average_warmup(&mut avg, &[theta], t as u64, beta);
            let b = if t <= 1 {
                0.0
            } else {
                (1.0 + t as f64) / (10.0 + t as f64)
            };
            uncapped = b * uncapped + (1.0 - b) * theta;
            let (mut want, mut total) = (0.0, 0.0);
            for s in 1..=t {
                let w = (1.0 - beta_t(s)) * ((s + 1)..=t).map(beta_t).product::<f64>();
                want += w * iterates[s - 1];
                total += w;
            }
            assert!((total - 1.0).abs() < 1e-13, "t {t}");
            assert!(
                (avg[0] - want).abs() <= 1e-12 * want.abs().max(1.0),
                "t {t}"
            );
            if t == 40 {
                assert!(
                    (uncapped - want).abs() > 1e-2,
                    "the uncapped warm-up passed"
                );
            }
        }
    }

    /// (P29) The same bits however often it runs, and on f32 each coordinate is the f64
    /// fold rounded once.
    #[test]
    fn warmup_is_deterministic_and_rounds_once() {
        let run = || {
            let mut avg = [0.0f32; 3];
            for t in 1..=50u64 {
                let p = [t as f32 * 0.37, -(t as f32).sqrt(), 1.0 / t as f32];
                update_average_warmup(&mut avg, &p, t, 0.995);
            }
            avg.map(f32::to_bits)
        };
        assert_eq!(run(), run());
        let mut a32 = [0.3f32];
        let mut a64 = [0.3f32 as f64];
        update_average_warmup(&mut a32, &[0.7f32], 5, 0.995);
        update_average_warmup(&mut a64, &[0.7f32 as f64], 5, 0.995);
        assert_eq!(a32[0], a64[0] as f32);
    }

    /// β = 0 keeps the last iterate; the decay must be in [0, 1).
    #[test]
    fn beta_zero_is_the_last_iterate_and_bad_decays_are_refused() {
        let mut avg = [1.0f32, 2.0];
        update_average(&mut avg, &[3.0, -4.0], 9, 0.0);
        assert_eq!(avg, [3.0, -4.0]);
        assert!(check_average_decay(0.999).is_ok());
        for bad in [1.0, -0.1, f64::NAN, 2.0] {
            assert!(check_average_decay(bad).is_err(), "{bad}");
        }
    }
}
