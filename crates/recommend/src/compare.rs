//! Is one recommender better than another on the same users, or is the gap noise? A paired
//! bootstrap over users (notes/recommend.md §8, K23).

use glassbox_core::seeded_rng;
use glassbox_train::batching::uniform_below;

use crate::metrics::{UserMetrics, user_metrics};
use crate::protocol::EvaluatedUser;
use crate::retrieval::Ranked;

/// A paired difference `A − B` of a per-user metric's mean.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairedDifference {
    /// The mean over the users as they are.
    pub estimate: f64,
    /// The paired standard error, sd(d_u) / √n.
    pub standard_error: f64,
    /// The 2.5 % and 97.5 % quantiles of the resampled means.
    pub low: f64,
    pub high: f64,
    pub resamples: usize,
}

/// (K23) With d_u = m_A(u) − m_B(u) per user: the mean d̄, the paired standard error
/// sd(d)/√n (sd with n − 1), and a percentile interval over `resamples` resamples of the n
/// users with replacement (the same draw for both models, [`uniform_below`] on
/// `seeded_rng(seed)`), at ranks round(0.025·(B−1)) and round(0.975·(B−1)) of the sorted
/// means. Resample sums run in user order, so the result is the same at any thread count.
pub fn paired_bootstrap(d: &[f64], resamples: usize, seed: u64) -> PairedDifference {
    let n = d.len();
    if n == 0 {
        return PairedDifference {
            estimate: f64::NAN,
            standard_error: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
            resamples,
        };
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        d.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let mut rng = seeded_rng(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            (0..n)
                .map(|_| d[uniform_below(&mut rng, n as u64) as usize])
                .sum::<f64>()
                / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| {
        means
            .get((q * (resamples.max(1) - 1) as f64).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    PairedDifference {
        estimate: mean,
        standard_error: (var / n as f64).sqrt(),
        low: at(0.025),
        high: at(0.975),
        resamples,
    }
}

/// (K6–K9) Each user's metrics at `k` (the same users and order as `lists`).
pub fn per_user(users: &[EvaluatedUser], lists: &[Vec<Ranked>], k: usize) -> Vec<UserMetrics> {
    users
        .iter()
        .zip(lists)
        .map(|(u, l)| user_metrics(l, &u.known, u.size, k))
        .collect()
}
