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
    /// (K19) The row of [`Scorer::score`] standardised (z_u: mean 0, sd 1) as the blend
    /// would compute it, when the scorer holds it already (the validation search's cache);
    /// `None`: the blend computes it.
    fn standardized_row(&self, _user: u32) -> Option<&[f64]> {
        None
    }
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
/// min(k, I − |excluded|) entries in ranking order. One pass keeps the best `k` so far,
/// sorted: an item enters only if it ranks before the current k-th, which after the first
/// few hundred items is rare, so the pass costs about one comparison per item,
/// O(I + k · entries); above [`SMALL_K`] it selects instead ([`top_k_by_selection`]). `before` is a total order, so the kept set and its order are unique
/// whatever the algorithm (checked against [`top_k_of_naive`]).
pub fn top_k_of(scores: &[f64], excluded: &[u32], k: usize) -> Vec<Ranked> {
    debug_assert!(excluded.windows(2).all(|w| w[0] < w[1]));
    if k > SMALL_K {
        return top_k_by_selection(scores, excluded, k);
    }
    let mut skip = excluded.iter().peekable();
    let mut kept: Vec<Ranked> = Vec::with_capacity(k + 1);
    if k == 0 {
        return kept;
    }
    // Items below `cleared` were let through by a block test: they take the scalar path.
    let (mut i, mut cleared) = (0, 0);
    while i < scores.len() {
        // Once k are kept, a block of LANES whose scores are all below the k-th cannot enter
        // (an item enters only if it ranks before the k-th, and every kept item has a
        // smaller id, so a tie never enters): skip it after one vector comparison. `>=` is a
        // superset of K5's `before` (±0 compare equal), so what is skipped could not enter.
        if i >= cleared
            && kept.len() == k
            && let Some(block) = scores.get(i..i + LANES)
            && let Ok(block) = <&[f64; LANES]>::try_from(block)
        {
            if !any_at_least(block, kept[k - 1].score) {
                i += LANES;
                while skip.next_if(|&&e| (e as usize) < i).is_some() {}
                continue;
            }
            cleared = i + LANES;
        }
        let (item, s) = (i, scores[i]);
        i += 1;
        debug_assert!(s.is_finite(), "item {item} has score {s}");
        if skip.peek().is_some_and(|&&e| e as usize == item) {
            skip.next();
            continue;
        }
        let r = Ranked {
            item: item as u32,
            score: s,
        };
        if kept.len() == k {
            if before(&r, &kept[k - 1]) != std::cmp::Ordering::Less {
                continue;
            }
            kept.pop();
        }
        let at = kept.partition_point(|x| before(x, &r) == std::cmp::Ordering::Less);
        kept.insert(at, r);
    }
    kept
}

/// Scores per block of [`top_k_of`]'s skip test: one 512-bit comparison of f64.
const LANES: usize = 8;

/// Whether any of `block` is ≥ `t`; without early exit, so it vectorises.
#[inline(always)]
fn any_at_least(block: &[f64; LANES], t: f64) -> bool {
    block.iter().fold(false, |any, &s| any | (s >= t))
}

/// Up to this k, [`top_k_of`] keeps a sorted list (an insertion costs O(k)); above it, it
/// selects from the whole row.
const SMALL_K: usize = 64;

/// (K5) [`top_k_of`] for a large k: every candidate collected, the k first selected with
/// `select_nth_unstable_by`, then sorted: O(I + k log k).
fn top_k_by_selection(scores: &[f64], excluded: &[u32], k: usize) -> Vec<Ranked> {
    let mut skip = excluded.iter().peekable();
    let mut all: Vec<Ranked> = Vec::with_capacity(scores.len());
    for (i, &s) in scores.iter().enumerate() {
        if skip.peek().is_some_and(|&&e| e as usize == i) {
            skip.next();
            continue;
        }
        all.push(Ranked {
            item: i as u32,
            score: s,
        });
    }
    if k < all.len() {
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
