//! Exact top-K over the whole catalogue (notes/recommend.md §2, K5): every candidate item is
//! scored, the excluded ones are skipped, and the K best are kept in the order (score
//! descending, item id ascending). Item ids are the byte order of item names, so ties go to
//! the smaller name. Users are split between threads; each user's list is computed by one
//! thread from that user's scores alone, so the lists do not depend on the thread count.

use rayon::prelude::*;

/// Anything that scores every candidate item for a user.
pub trait Scorer: Sync {
    /// I, the number of candidate items.
    fn n_items(&self) -> usize;
    /// Writes the score of every item for `user` into `out` (I,). Scores must be finite.
    fn score(&self, user: u32, out: &mut [f64]);
}

/// One entry of a recommendation list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub item: u32,
    pub score: f64,
}

/// (K5) The ranking order: higher score first, then the smaller item id.
fn before(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
}

/// (K5) The top `k` of one user's scores (I,), skipping `excluded` (ascending ids). Returns
/// min(k, I − |excluded|) entries in ranking order. Selection then a sort of the kept part:
/// O(I + k log k).
pub fn top_k_of(scores: &[f64], excluded: &[u32], k: usize) -> Vec<Ranked> {
    debug_assert!(excluded.windows(2).all(|w| w[0] < w[1]));
    let mut skip = excluded.iter().peekable();
    let mut all: Vec<Ranked> = Vec::with_capacity(scores.len());
    for (i, &s) in scores.iter().enumerate() {
        debug_assert!(s.is_finite(), "item {i} has score {s}");
        if skip.peek().is_some_and(|&&e| e as usize == i) {
            skip.next();
            continue;
        }
        all.push(Ranked {
            item: i as u32,
            score: s,
        });
    }
    if k == 0 {
        return Vec::new();
    }
    if k < all.len() {
        // `before` is a total order, so the selected set is unique whatever the algorithm.
        all.select_nth_unstable_by(k - 1, before);
        all.truncate(k);
    }
    all.sort_unstable_by(before);
    all
}

/// The reference twin of [`top_k_of`]: sort everything, keep `k`.
pub fn top_k_of_naive(scores: &[f64], excluded: &[u32], k: usize) -> Vec<Ranked> {
    let mut all: Vec<Ranked> = scores
        .iter()
        .enumerate()
        .filter(|(i, _)| !excluded.contains(&(*i as u32)))
        .map(|(i, &score)| Ranked {
            item: i as u32,
            score,
        })
        .collect();
    all.sort_by(before);
    all.truncate(k);
    all
}

/// (K5) Top-`k` lists of `users` (in that order), run on the current rayon pool: users are
/// split into chunks, each chunk scored into its own buffer. `excluded(user)` gives the
/// items to skip (ascending ids).
pub fn top_k<S: Scorer + ?Sized>(
    scorer: &S,
    users: &[u32],
    k: usize,
    excluded: &(dyn Fn(u32) -> Vec<u32> + Sync),
) -> Vec<Vec<Ranked>> {
    const USERS_PER_TASK: usize = 64;
    users
        .par_chunks(USERS_PER_TASK)
        .flat_map_iter(|chunk| {
            let mut buf = vec![0.0; scorer.n_items()];
            chunk
                .iter()
                .map(|&u| {
                    scorer.score(u, &mut buf);
                    top_k_of(&buf, &excluded(u), k)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
