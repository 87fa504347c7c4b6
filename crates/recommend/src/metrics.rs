//! Ranking metrics of top-K lists (notes/recommend.md §3, K6–K11): per user, then the plain
//! mean over users; plus the coverage and the popularity of the lists.

use crate::protocol::EvaluatedUser;
use crate::retrieval::Ranked;

/// One user's metrics at one K.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UserMetrics {
    pub recall: f64,
    pub ndcg: f64,
    pub hit: f64,
    pub ap: f64,
}

/// (K6–K9) Metrics of one list (its first `k` entries) against a truth of `size` items whose
/// candidate part is `known` (ascending). `size ≥ known.len()`; items of the truth that are no
/// candidate can never be hit but count in |T_u|.
///
/// (K6) Recall@K = hits@K / |T|; (K7) NDCG@K = Σ_{r ≤ K, item r ∈ T} 1/log2(r+1) ÷
/// Σ_{r=1}^{min(K,|T|)} 1/log2(r+1); (K8) HR@K = 1 if hits@K > 0; (K9) AP@K = Σ_{r ≤ K, item
/// r ∈ T} P@r ÷ min(K, |T|).
///
/// # Panics
/// If `size` is 0 or smaller than `known.len()` (the protocol skips empty truths).
pub fn user_metrics(list: &[Ranked], known: &[u32], size: usize, k: usize) -> UserMetrics {
    assert!(size > 0 && size >= known.len(), "truth of {size} items");
    if k == 0 {
        return UserMetrics::default();
    }
    let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
    for (r0, entry) in list.iter().take(k).enumerate() {
        if known.binary_search(&entry.item).is_ok() {
            hits += 1;
            dcg += discount(r0 + 1);
            ap += hits as f64 / (r0 + 1) as f64;
        }
    }
    let ideal: f64 = (1..=k.min(size)).map(discount).sum();
    UserMetrics {
        recall: hits as f64 / size as f64,
        ndcg: dcg / ideal,
        hit: if hits > 0 { 1.0 } else { 0.0 },
        ap: ap / k.min(size) as f64,
    }
}

/// (K7) The discount of rank r (1-based): 1 / log2(r + 1).
fn discount(rank: usize) -> f64 {
    1.0 / ((rank + 1) as f64).log2()
}

/// Mean metrics over users at one K, with the list-level statistics.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Summary {
    pub k: usize,
    pub users: usize,
    pub recall: f64,
    pub ndcg: f64,
    pub hit_rate: f64,
    pub map: f64,
    /// (K10) Distinct items in all top-K lists / I.
    pub coverage: f64,
    /// (K11) Mean over users of the mean popularity of their top-K items.
    pub popularity: f64,
}

/// (K6–K11) The plain mean of [`user_metrics`] over `users` (whose lists are `lists`, same
/// order), the coverage of the lists over `n_items` candidates (K10), and the mean
/// popularity of the listed items (K11), `popularity[i]` being the share of training users
/// who bought item i.
///
/// # Panics
/// If `lists` and `users` differ in length.
pub fn summarize(
    users: &[EvaluatedUser],
    lists: &[Vec<Ranked>],
    k: usize,
    n_items: usize,
    popularity: &[f64],
) -> Summary {
    assert_eq!(users.len(), lists.len(), "one list per evaluated user");
    let mut s = Summary {
        k,
        users: users.len(),
        ..Summary::default()
    };
    if users.is_empty() {
        return s;
    }
    let mut seen = vec![false; n_items];
    let mut listed_users = 0usize;
    for (u, list) in users.iter().zip(lists) {
        let m = user_metrics(list, &u.known, u.size, k);
        s.recall += m.recall;
        s.ndcg += m.ndcg;
        s.hit_rate += m.hit;
        s.map += m.ap;
        let top = &list[..k.min(list.len())];
        for e in top {
            seen[e.item as usize] = true;
        }
        if !top.is_empty() {
            listed_users += 1;
            s.popularity +=
                top.iter().map(|e| popularity[e.item as usize]).sum::<f64>() / top.len() as f64;
        }
    }
    let n = users.len() as f64;
    s.recall /= n;
    s.ndcg /= n;
    s.hit_rate /= n;
    s.map /= n;
    s.coverage = if n_items == 0 {
        0.0
    } else {
        seen.iter().filter(|&&b| b).count() as f64 / n_items as f64
    };
    if listed_users > 0 {
        s.popularity /= listed_users as f64;
    }
    s
}
