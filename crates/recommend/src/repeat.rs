//! The repeat signal and the blend (notes/recommend.md §6, K17–K19): a customer's own past
//! purchases ranked by recency-weighted frequency, recent popularity for everything else, and
//! the default model that adds a learned collaborative score to them.

use glassbox_core::gemm::kernel::on_widest_isa;

use crate::protocol::Split;
use crate::retrieval::Scorer;

/// Seconds in a day.
const DAY: f64 = 86_400.0;

/// One value per (user, training item) of `split`, from the item's basket times: per user,
/// (item, value) ascending id.
fn per_owned(split: &Split, value: impl Fn(&[i64]) -> f64) -> Vec<Vec<(u32, f64)>> {
    split
        .history
        .iter()
        .map(|owned| owned.iter().map(|o| (o.item, value(&o.times))).collect())
        .collect()
}

/// `0.5^{(c − t) / h}` (h in days; h = ∞ gives 1 exactly).
fn decay(split: &Split, t: i64, half_life_days: f64) -> f64 {
    0.5f64.powf((split.cutoff - t) as f64 / DAY / half_life_days)
}

/// (K17) `r_ui = Σ_{baskets b of u holding i} 0.5^{(c − t_b) / h}`, c the cutoff, h the
/// half-life in days (`f64::INFINITY`: plain basket count). Per user, (item, r) ascending id.
pub fn repeat_scores(split: &Split, half_life_days: f64) -> Vec<Vec<(u32, f64)>> {
    per_owned(split, |times| {
        times.iter().map(|&t| decay(split, t, half_life_days)).sum()
    })
}

/// (K40) Recency weights of a user's items: `w_ui = 0.5^{(c − t_ui) / h}`, t_ui the user's last
/// training basket holding i, c the cutoff, h the half-life in days; `h = ∞` gives exactly 1
/// (the binary matrix). Per user, (item, w) ascending id.
pub fn recency_weights(split: &Split, half_life_days: f64) -> Vec<Vec<(u32, f64)>> {
    per_owned(split, |times| {
        times
            .last()
            .map_or(1.0, |&t| decay(split, t, half_life_days))
    })
}

/// (K18) Recent popularity: `n_W(i)` = distinct users who bought i in `[c − W, c)`, ties by
/// all-time distinct buyers `n(i)`: `pop_i = n_W(i) + n(i) / (U + 1)` (the second term is < 1,
/// so it only orders items of equal `n_W`).
pub fn recent_popularity(split: &Split, window_days: f64) -> Vec<f64> {
    let mut recent = vec![0.0; split.items.len()];
    let mut all = vec![0.0; split.items.len()];
    let since = split.cutoff as f64 - window_days * DAY;
    for owned in &split.history {
        for o in owned {
            all[o.item as usize] += 1.0;
            if o.times.last().is_some_and(|&t| t as f64 >= since) {
                recent[o.item as usize] += 1.0;
            }
        }
    }
    let u1 = split.users.len() as f64 + 1.0;
    recent.iter().zip(&all).map(|(r, a)| r + a / u1).collect()
}

/// The share of training users who bought each item (K11's pop_i).
pub fn popularity_share(split: &Split) -> Vec<f64> {
    let mut n = vec![0.0; split.items.len()];
    for owned in &split.history {
        for o in owned {
            n[o.item as usize] += 1.0;
        }
    }
    let u = split.users.len().max(1) as f64;
    n.iter().map(|c| c / u).collect()
}

/// The blended scorer (K19):
/// `s_ui = Σ_m w_m · z_u(c^m_ui) + γ · ln(1 + r_ui) + β · pop_i / max pop`,
/// with `c^m` collaborative scores (MF, item-kNN), `z_u` the standardisation of a score row
/// over the user's candidates (mean 0, sd 1, so the weights mean the same for every user and
/// model), r of (K17) and pop of (K18). A large γ puts the user's own items first, ordered by
/// r, and fills the rest from the other terms.
pub struct Blend<'a> {
    pub collaborative: Vec<(&'a dyn Scorer, f64)>,
    pub repeat: &'a [Vec<(u32, f64)>],
    pub popularity: &'a [f64],
    pub gamma: f64,
    pub beta: f64,
}

/// (K19) z_u: a score row standardised to mean 0 and sd 1, in place. A constant row carries
/// no order: it becomes all zeros (sd taken as 1) rather than NaN.
pub(crate) fn standardize(row: &mut [f64]) {
    let n = row.len() as f64;
    let mean = row.iter().sum::<f64>() / n;
    let var = row.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / n;
    let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
    for s in row.iter_mut() {
        *s = (*s - mean) / sd;
    }
}

impl Scorer for Blend<'_> {
    fn n_items(&self) -> usize {
        self.popularity.len()
    }

    /// The blend's terms added in K19's order, item by item, compiled for the widest vector
    /// instructions the CPU has: each item's operations are the same IEEE ones in the same
    /// order at any width (Rust never fuses a multiply and an add), so the bits are the same.
    fn score(&self, user: u32, out: &mut [f64]) {
        on_widest_isa(|| self.score_row(user, out))
    }
}

impl Blend<'_> {
    #[inline(always)]
    fn score_row(&self, user: u32, out: &mut [f64]) {
        let top = max_of(self.popularity).max(f64::MIN_POSITIVE);
        for (s, p) in out.iter_mut().zip(self.popularity) {
            *s = self.beta * p / top;
        }
        let mut part = Vec::new();
        for &(scorer, weight) in &self.collaborative {
            if weight == 0.0 {
                continue;
            }
            let z = match scorer.standardized_row(user) {
                Some(row) => row,
                None => {
                    part.resize(out.len(), 0.0);
                    scorer.score(user, &mut part);
                    standardize(&mut part);
                    &part
                }
            };
            for (s, c) in out.iter_mut().zip(z) {
                *s += weight * c;
            }
        }
        for &(i, r) in &self.repeat[user as usize] {
            out[i as usize] += self.gamma * r.ln_1p();
        }
    }
}

/// The largest of `xs` (≥ 0, finite) and 0, in 8 lanes so that it vectorises: a maximum is one
/// of its inputs whatever the order it is taken in, so this is the left-to-right fold's value
/// (up to the sign of a zero maximum, which the caller replaces by `f64::MIN_POSITIVE`).
#[inline(always)]
fn max_of(xs: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut blocks = xs.chunks_exact(8);
    for block in &mut blocks {
        for (m, &x) in lanes.iter_mut().zip(block) {
            *m = m.max(x);
        }
    }
    let rest = blocks.remainder().iter().fold(0.0, |m: f64, &x| m.max(x));
    lanes.iter().fold(rest, |m, &x| m.max(x))
}
