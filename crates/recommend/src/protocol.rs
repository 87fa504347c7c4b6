//! The evaluation protocol of a temporal top-N split (notes/recommend.md §1, K1–K4): which
//! events train and which test, which users and items count, what the truth is, and the two
//! modes. Pure data in, data out: reading files is `crate::read`'s job.

use std::collections::{BTreeMap, BTreeSet};

/// One purchase line: who, what, when (Unix seconds) and in which basket. Lines of one basket
/// that name the same item count once (K1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub user: String,
    pub item: String,
    /// Unix seconds.
    pub time: i64,
    /// The basket (invoice) key; files without one use the time, so a basket is a (user,
    /// time) pair.
    pub basket: String,
}

/// A user's training purchases of one item: the times of the distinct baskets that held it.
#[derive(Debug, Clone, PartialEq)]
pub struct Owned {
    /// Index into [`Split::items`].
    pub item: u32,
    /// Unix seconds of each distinct basket, ascending.
    pub times: Vec<i64>,
}

/// What a warm user bought in the test window (K3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Truth {
    /// Candidate items bought in the test window, ascending index, distinct.
    pub known: Vec<u32>,
    /// Distinct test items never sold before the cutoff: they count in |T_u| and can never
    /// be hit (K3).
    pub unknown: usize,
    /// How many of `known` the user also bought in training (repeats). The `unknown` items
    /// are never repeats, so the new mode keeps them all.
    pub known_repeats: usize,
}

/// Which test items count (K4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The user's training items are removed from the ranking and from the truth; users left
    /// with an empty truth are skipped (the primary mode).
    New,
    /// Nothing is removed: repeat purchases count.
    All,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::New => "new",
            Mode::All => "all",
        }
    }
}

/// Counts the report shows next to the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SplitCounts {
    pub training_events: usize,
    pub test_events: usize,
    pub ignored_events: usize,
    /// Users with ≥ 1 training purchase.
    pub training_users: usize,
    /// Items with ≥ 1 training purchase: the candidates.
    pub candidate_items: usize,
    /// Distinct (user, item) pairs of training.
    pub training_pairs: usize,
    /// Users with a training and a test purchase (the evaluated ones in the all mode).
    pub warm_test_users: usize,
    /// Users with a test purchase but no training one (cold start: excluded).
    pub cold_test_users: usize,
    /// Distinct (warm user, item) test pairs, and of them repeats of a training purchase and
    /// items never sold before the cutoff.
    pub test_pairs: usize,
    pub test_repeat_pairs: usize,
    pub test_unknown_item_pairs: usize,
}

/// One user's training purchases: item → the distinct (time, basket) pairs that held it.
type Baskets<'a> = BTreeMap<&'a str, BTreeSet<(i64, &'a str)>>;

/// A log cut at a time (K1), with id maps over what training saw (K2) and the truth of the
/// test window (K3).
#[derive(Debug, Clone)]
pub struct Split {
    /// Training users in byte order of their names; index = user id.
    pub users: Vec<String>,
    /// Candidate items in byte order of their names; index = item id, so "ties go to the
    /// smaller item id" is "ties go to the smaller name" (K5).
    pub items: Vec<String>,
    /// Per user, its training items (ascending item id) with their basket times.
    pub history: Vec<Vec<Owned>>,
    /// Per user, the truth of the test window (`None`: no test purchase).
    pub truth: Vec<Option<Truth>>,
    /// The cutoff, Unix seconds: training is `time < cutoff` (K1).
    pub cutoff: i64,
    pub counts: SplitCounts,
}

impl Split {
    /// (K1–K3) Training = events with `time < cutoff`; test = `cutoff ≤ time < end` (`end`
    /// `None`: no end); events at or after `end` are ignored. Users and items are indexed
    /// over training only, in byte order of their names.
    pub fn new(log: &[Interaction], cutoff: i64, end: Option<i64>) -> Split {
        let mut counts = SplitCounts::default();
        // (user, item) → distinct basket times; BTreeMaps keep every order independent of
        // the file's row order.
        let mut train: BTreeMap<&str, Baskets> = BTreeMap::new();
        let mut test: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in log {
            if e.time < cutoff {
                counts.training_events += 1;
                train
                    .entry(&e.user)
                    .or_default()
                    .entry(&e.item)
                    .or_default()
                    .insert((e.time, &e.basket));
            } else if end.is_none_or(|end| e.time < end) {
                counts.test_events += 1;
                test.entry(&e.user).or_default().insert(&e.item);
            } else {
                counts.ignored_events += 1;
            }
        }
        let item_set: BTreeSet<&str> = train.values().flat_map(|m| m.keys().copied()).collect();
        let items: Vec<String> = item_set.iter().map(|s| s.to_string()).collect();
        let item_id: BTreeMap<&str, u32> = item_set
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        let users: Vec<String> = train.keys().map(|s| s.to_string()).collect();
        let mut history = Vec::with_capacity(users.len());
        let mut truth = Vec::with_capacity(users.len());
        for (user, owned) in &train {
            let h: Vec<Owned> = owned
                .iter()
                .map(|(item, baskets)| {
                    // A basket keyed across a minute change holds two times; one time per
                    // distinct basket key: the earliest.
                    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
                    for &(t, b) in baskets {
                        first.entry(b).or_insert(t);
                    }
                    let mut times: Vec<i64> = first.into_values().collect();
                    times.sort_unstable();
                    Owned {
                        item: item_id[item],
                        times,
                    }
                })
                .collect();
            counts.training_pairs += h.len();
            let t = test.get(user).map(|bought| {
                let mut tr = Truth::default();
                for item in bought {
                    match item_id.get(item) {
                        Some(&i) => {
                            tr.known.push(i);
                            if owned.contains_key(item) {
                                tr.known_repeats += 1;
                            }
                        }
                        None => tr.unknown += 1,
                    }
                }
                tr.known.sort_unstable();
                tr
            });
            if let Some(tr) = &t {
                counts.warm_test_users += 1;
                counts.test_pairs += tr.known.len() + tr.unknown;
                counts.test_repeat_pairs += tr.known_repeats;
                counts.test_unknown_item_pairs += tr.unknown;
            }
            history.push(h);
            truth.push(t);
        }
        counts.cold_test_users = test.keys().filter(|u| !train.contains_key(*u)).count();
        counts.training_users = users.len();
        counts.candidate_items = items.len();
        Split {
            users,
            items,
            history,
            truth,
            cutoff,
            counts,
        }
    }

    /// (K4) The evaluated users of a mode and their truth: known items (ascending) and |T_u|.
    /// New mode removes the user's training items and skips users left with nothing.
    pub fn evaluated(&self, mode: Mode) -> Vec<EvaluatedUser> {
        let mut out = Vec::new();
        for (u, t) in self.truth.iter().enumerate() {
            let Some(t) = t else { continue };
            let known: Vec<u32> = match mode {
                Mode::All => t.known.clone(),
                Mode::New => t
                    .known
                    .iter()
                    .copied()
                    .filter(|i| self.history[u].binary_search_by_key(i, |o| o.item).is_err())
                    .collect(),
            };
            let size = known.len() + t.unknown;
            if size > 0 {
                out.push(EvaluatedUser {
                    user: u as u32,
                    known,
                    size,
                });
            }
        }
        out
    }

    /// Items a mode removes from a user's ranking (K4): their training items in the new
    /// mode, nothing in the all mode. Ascending item ids.
    pub fn excluded(&self, user: u32, mode: Mode) -> Vec<u32> {
        match mode {
            Mode::All => Vec::new(),
            Mode::New => self.history[user as usize].iter().map(|o| o.item).collect(),
        }
    }
}

/// A user of a mode's evaluation with the truth that mode keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluatedUser {
    pub user: u32,
    /// Candidate items of the truth, ascending.
    pub known: Vec<u32>,
    /// |T_u|: `known` plus the items never sold before the cutoff.
    pub size: usize,
}
