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
    assert_eq!(
        avg.len(),
        params.len(),
        "average and parameters differ in length"
    );
    let weight = new_iterate_weight(t, beta);
    for (a, &p) in avg.iter_mut().zip(params) {
        let a64 = a.to_f64();
        *a = T::from_f64(a64 + (p.to_f64() - a64) * weight);
    }
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
