//! The default recommender and how its settings are chosen (notes/recommend.md §6, K19): MF
//! (K16) + item-kNN (K20) + recent popularity (K18) + the user's own purchases (K17), blended
//! by (K19), with every setting chosen on a validation split only — never on the test split.

use std::cell::RefCell;
use std::rc::Rc;

use glassbox_train::optim::OptimError;
use rayon::prelude::*;

use crate::ease::Ease;
use crate::knn::ItemKnn;
use crate::metrics::{Summary, summarize};
use crate::mf::{Mf, MfConfig};
use crate::phases::phase;
use crate::protocol::{Mode, Split};
use crate::repeat::{Blend, popularity_share, recent_popularity, repeat_scores, standardize};
use crate::retrieval::{Ranked, Scorer, top_k};

/// The settings of the default model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub mf: MfConfig,
    /// k of item-kNN (K20).
    pub knn_k: usize,
    /// Weights of (K19): MF, item-kNN and EASE, own purchases γ, popularity β.
    pub mf_weight: f64,
    pub knn_weight: f64,
    pub ease_weight: f64,
    /// λ of EASE (K21, K41).
    pub ease_lambda: f64,
    /// Half-lives in days of the recency weights (K40) in EASE's Gram matrix (K41) and in the
    /// profile EASE scores (K42); ∞ (`null` in JSON, and absent in files written before
    /// them) is the binary matrix of (K21).
    #[serde(default = "infinite", with = "infinite_as_null")]
    pub ease_half_life_days: f64,
    #[serde(default = "infinite", with = "infinite_as_null")]
    pub profile_half_life_days: f64,
    pub gamma: f64,
    pub beta: f64,
    /// Half-life of (K17) in days (∞: the plain basket count; JSON writes it as `null`) and
    /// the window of (K18) in days.
    #[serde(with = "infinite_as_null")]
    pub half_life_days: f64,
    pub window_days: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mf: MfConfig::default(),
            knn_k: 10,
            mf_weight: 1.0,
            knn_weight: 1.0,
            ease_weight: 1.0,
            ease_lambda: 300.0,
            ease_half_life_days: f64::INFINITY,
            profile_half_life_days: f64::INFINITY,
            gamma: 0.0,
            beta: 0.0,
            half_life_days: 240.0,
            window_days: 14.0,
        }
    }
}

/// Serde's default of a half-life absent from a file: ∞.
fn infinite() -> f64 {
    f64::INFINITY
}

/// JSON has no ∞: a half-life of ∞ is written as `null` and read back as ∞.
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

/// The distinct training (user, item) pairs, user-major.
pub fn training_pairs(split: &Split) -> Vec<(u32, u32)> {
    split
        .history
        .iter()
        .enumerate()
        .flat_map(|(u, h)| h.iter().map(move |o| (u as u32, o.item)))
        .collect()
}

/// Top-`k` lists of a mode's evaluated users.
pub fn lists<S: Scorer + ?Sized>(
    split: &Split,
    scorer: &S,
    mode: Mode,
    k: usize,
) -> Vec<Vec<Ranked>> {
    let users: Vec<u32> = split.evaluated(mode).iter().map(|u| u.user).collect();
    top_k(scorer, &users, k, &|u| split.excluded(u, mode))
}

/// The metrics at `k` of a scorer on a split's truth (K5–K11).
pub fn evaluate<S: Scorer + ?Sized>(split: &Split, scorer: &S, mode: Mode, k: usize) -> Summary {
    let users = split.evaluated(mode);
    let lists = lists(split, scorer, mode, k);
    summarize(
        &users,
        &lists,
        k,
        split.items.len(),
        &popularity_share(split),
    )
}

/// The parts of the default model fitted on one split's training part.
pub struct Fitted {
    pub mf: Mf,
    pub knn: ItemKnn,
    /// Not fitted when its weight is 0 (its n³ inverse is the slow part).
    pub ease: Option<Ease>,
    pub repeat: Vec<Vec<(u32, f64)>>,
    pub popularity: Vec<f64>,
    pub settings: Settings,
}

impl Fitted {
    /// Fits every part on `split`'s training events (MF and EASE only when their weight is
    /// not 0).
    ///
    /// # Errors
    /// An invalid optimizer setting.
    pub fn fit(split: &Split, settings: &Settings) -> Result<Fitted, OptimError> {
        let mf = Fitted::fit_mf(split, settings)?;
        Ok(Fitted::with_mf(split, mf, settings))
    }

    /// The MF part: trained for `settings.mf.epochs` when its weight is not 0, else left at
    /// its initialisation (0 epochs: it does not enter the blend).
    ///
    /// # Errors
    /// An invalid optimizer setting.
    pub fn fit_mf(split: &Split, settings: &Settings) -> Result<Mf, OptimError> {
        let epochs = if settings.mf_weight == 0.0 {
            0
        } else {
            settings.mf.epochs
        };
        Mf::fit(
            split.users.len(),
            split.items.len(),
            &training_pairs(split),
            &MfConfig {
                epochs,
                ..settings.mf
            },
            |_, _| {},
        )
    }

    /// The other parts fitted on `split` around an already fitted MF.
    pub fn with_mf(split: &Split, mf: Mf, settings: &Settings) -> Fitted {
        let ease = (settings.ease_weight != 0.0)
            .then(|| Ease::fit_decayed(split, settings.ease_lambda, settings.ease_half_life_days));
        Fitted::with_parts(split, mf, ease, settings)
    }

    /// The deterministic, cheap parts (item-kNN, repeat, popularity, EASE's profile of K42)
    /// fitted on `split` around an already fitted MF and EASE.
    pub fn with_parts(split: &Split, mf: Mf, ease: Option<Ease>, settings: &Settings) -> Fitted {
        Fitted {
            mf,
            knn: ItemKnn::fit(split, settings.knn_k),
            ease: ease.map(|e| e.with_profile(split, settings.profile_half_life_days)),
            repeat: repeat_scores(split, settings.half_life_days),
            popularity: recent_popularity(split, settings.window_days),
            settings: *settings,
        }
    }

    /// The blended scorer (K19).
    pub fn scorer(&self) -> Blend<'_> {
        let mut collaborative: Vec<(&dyn Scorer, f64)> = vec![
            (&self.mf, self.settings.mf_weight),
            (&self.knn, self.settings.knn_weight),
        ];
        if let Some(ease) = &self.ease {
            collaborative.push((ease, self.settings.ease_weight));
        }
        Blend {
            collaborative,
            repeat: &self.repeat,
            popularity: &self.popularity,
            gamma: self.settings.gamma,
            beta: self.settings.beta,
        }
    }
}

/// EASE's dense I × I inverse is fitted only up to this many candidate items (an f64 matrix of
/// 1.8 GB); above it the EASE term keeps weight 0 and the blend uses the other parts.
pub const EASE_MAX_ITEMS: usize = 15_000;

/// Chooses the settings of each of `modes` on the validation split `val` (NDCG@20, seed of
/// `base`): the parts are fitted once and shared by the modes — MF (its epochs checked every 5,
/// up to `base.epochs`), item-kNN at each k, EASE at λ = 300 (catalogues up to
/// [`EASE_MAX_ITEMS`]) — then, per mode, in stages: MF epochs, kNN's k, the weights × β, the
/// popularity window, and in the all mode γ × half-life. `log` receives one line per
/// candidate. Returns (settings, validation NDCG@20) per mode, in the order of `modes`.
///
/// # Errors
/// An invalid optimizer setting.
pub fn choose_settings(
    val: &Split,
    modes: &[Mode],
    base: &MfConfig,
    log: &mut dyn FnMut(String),
) -> Result<Vec<(Settings, f64)>, OptimError> {
    let mut best_epoch: Vec<(f64, usize, Option<Mf>)> = vec![(f64::MIN, 0, None); modes.len()];
    phase("validation MF fit and epochs", || {
        Mf::fit(
            val.users.len(),
            val.items.len(),
            &training_pairs(val),
            base,
            |e, m| {
                if e % 5 == 0 || e == base.epochs {
                    let scorer = m.item_major();
                    for (best, &mode) in best_epoch.iter_mut().zip(modes) {
                        let s = evaluate(val, &scorer, mode, 20);
                        log(format!(
                            "{}: MF epoch {e}: validation NDCG@20 {:.4}",
                            mode.name(),
                            s.ndcg
                        ));
                        if s.ndcg > best.0 {
                            *best = (s.ndcg, e, Some(m.clone()));
                        }
                    }
                }
            },
        )
    })?;
    // (validation NDCG@20, index into KNN_KS) per mode; one C for every k.
    let mut best_k = vec![(f64::MIN, 0); modes.len()];
    let knns = ItemKnn::fit_each(val, &KNN_KS);
    phase("validation kNN k", || {
        for (at, (k, knn)) in KNN_KS.iter().zip(&knns).enumerate() {
            for (best, &mode) in best_k.iter_mut().zip(modes) {
                let s = evaluate(val, knn, mode, 20);
                log(format!(
                    "{}: item-kNN k={k}: validation NDCG@20 {:.4}",
                    mode.name(),
                    s.ndcg
                ));
                if s.ndcg > best.0 {
                    *best = (s.ndcg, at);
                }
            }
        }
    });
    // Every mode's evaluated users are among the all mode's.
    let users: Vec<u32> = val.evaluated(Mode::All).iter().map(|u| u.user).collect();
    let ease = phase("validation EASE candidates", || {
        choose_ease(val, modes, log)
    });
    let profiles = Memo::new();
    let mut out = Vec::with_capacity(modes.len());
    for ((&mode, (_, epochs, mf)), (_, at)) in modes.iter().zip(best_epoch).zip(best_k) {
        let k = KNN_KS[at];
        let mf = mf.map_or_else(
            || Mf::fit(val.users.len(), val.items.len(), &[], base, |_, _| {}),
            Ok,
        )?;
        let half_life = ease.as_ref().map_or(f64::INFINITY, |e| e.0);
        let start = Settings {
            mf: MfConfig { epochs, ..*base },
            knn_k: k,
            ease_half_life_days: half_life,
            profile_half_life_days: half_life,
            ..Settings::default()
        };
        let parts = ValidationParts {
            val,
            users: &users,
            mf: &phase("validation MF rows", || {
                Cached::of(&mf.item_major(), &users, val.users.len())
            }),
            knn: &phase("validation kNN rows", || {
                Cached::of(&knns[at], &users, val.users.len())
            }),
            ease: ease.as_ref().map(|e| (&e.1, &profiles)),
            repeat: Memo::new(),
            popularity: Memo::new(),
        };
        out.push(phase("validation blend search", || {
            parts.search(mode, start, log)
        }));
    }
    Ok(out)
}

/// The k of item-kNN (K20) the validation search tries.
const KNN_KS: [usize; 4] = [10, 20, 50, 100];

/// The half-lives in days of EASE's recency weights (K40–K42) the validation search tries (∞:
/// the binary EASE of K21). Each is an n³ inverse on the validation split; 60 d was tried too
/// (notes/recommend.md §7) and left out to keep the training within its time budget.
pub(crate) const EASE_HALF_LIVES: [f64; 2] = [f64::INFINITY, 120.0];

/// The half-lives in days of EASE's profile weights (K42) the blend search tries.
pub(crate) const PROFILE_HALF_LIVES: [f64; 4] = [f64::INFINITY, 240.0, 120.0, 60.0];

/// (K41, K42) EASE's Gram half-life, chosen once for every mode on `val` (catalogues up to
/// [`EASE_MAX_ITEMS`]; `None` above it or without modes): EASE alone at λ = 300 (scaled as
/// K41) and each half-life of [`EASE_HALF_LIVES`] — its profile at the same half-life — scored
/// by validation NDCG@20 in the first of `modes` (the primary new mode when it is searched).
/// One fit is shared by the modes (as the model file stores one P); each mode then chooses
/// its profile's half-life in its blend search. Returns (half-life, the fitted EASE).
fn choose_ease(val: &Split, modes: &[Mode], log: &mut dyn FnMut(String)) -> Option<(f64, Ease)> {
    let &mode = modes.first()?;
    if val.items.len() > EASE_MAX_ITEMS {
        return None;
    }
    let lambda = Settings::default().ease_lambda;
    let mut best: Option<(f64, f64, Ease)> = None;
    for h in EASE_HALF_LIVES {
        let ease = Ease::fit_decayed(val, lambda, h).with_profile(val, h);
        let ndcg = evaluate(val, &ease, mode, 20).ndcg;
        log(format!(
            "{}: EASE λ {lambda} half-life {h} d: validation NDCG@20 {ndcg:.4}",
            mode.name()
        ));
        if best.as_ref().is_none_or(|b| ndcg > b.0) {
            best = Some((ndcg, h, ease));
        }
    }
    best.map(|(_, h, e)| (h, e))
}

/// One part's standardised score rows z_u (K19) of the validation users, computed once: the
/// weight search blends them hundreds of times. The rows are the numbers the blend would
/// compute from the part itself, so a blend of them is bit-identical to a blend of the part.
struct Cached {
    n_items: usize,
    /// Per user id: the row, for the users it was built for.
    rows: Vec<Option<Vec<f64>>>,
}

impl Cached {
    fn of<S: Scorer + ?Sized>(scorer: &S, users: &[u32], n_users: usize) -> Cached {
        let n_items = scorer.n_items();
        let computed: Vec<Vec<f64>> = users
            .par_iter()
            .map(|&u| {
                let mut row = vec![0.0; n_items];
                scorer.score(u, &mut row);
                standardize(&mut row);
                row
            })
            .collect();
        let mut rows = vec![None; n_users];
        for (&u, row) in users.iter().zip(computed) {
            rows[u as usize] = Some(row);
        }
        Cached { n_items, rows }
    }
}

impl Scorer for Cached {
    fn n_items(&self) -> usize {
        self.n_items
    }

    /// The part's standardised scores z_u: the same order as the part's own.
    ///
    /// # Panics
    /// For a user the rows were not built for (the search asks only for validation users).
    fn score(&self, user: u32, out: &mut [f64]) {
        let row = self.rows[user as usize]
            .as_ref()
            .expect("scores cached for every validation user");
        out.copy_from_slice(row);
    }

    /// The cached rows are standardised already.
    fn standardized_row(&self, user: u32) -> Option<&[f64]> {
        self.rows[user as usize].as_deref()
    }
}

/// One stage of a staged search (here and in `default_model::choose_default`): each trial in
/// order is scored and kept in `chosen` if it beats `best` strictly (the first of equals
/// wins).
pub(crate) fn stage<T>(
    trials: impl IntoIterator<Item = T>,
    mut score: impl FnMut(&T) -> f64,
    best: &mut f64,
    chosen: &mut T,
) {
    for t in trials {
        let v = score(&t);
        if v > *best {
            *best = v;
            *chosen = t;
        }
    }
}

/// The grid of three collaborative weights × β, in nested order (the first weight slowest),
/// without the trials whose collaborative weights are all 0.
pub(crate) fn weight_grid<'a>(
    first: &'a [f64],
    second: &'a [f64],
    third: &'a [f64],
    betas: &'a [f64],
) -> impl Iterator<Item = [f64; 4]> + 'a {
    first.iter().flat_map(move |&a| {
        second.iter().flat_map(move |&b| {
            third.iter().flat_map(move |&c| {
                betas
                    .iter()
                    .filter(move |_| a + b + c > 0.0)
                    .map(move |&beta| [a, b, c, beta])
            })
        })
    })
}

/// (K43) Whether the trial `t` (MF, EASE, kNN weights and β of K19) is an earlier trial's
/// weights times 2, 4 or 8. With γ = 0 its blend scores are then that trial's times 2^m, every
/// sum and product scaled exactly (no rounding differs), so its lists and its validation NDCG
/// are the same, and [`stage`] (strictly better wins) can never choose it: it is skipped.
pub(crate) fn scaled_copy(t: &[f64; 4], earlier: &[[f64; 4]]) -> bool {
    earlier.iter().any(|e| {
        [2.0, 4.0, 8.0]
            .iter()
            .any(|f| t.iter().zip(e).all(|(a, b)| *a == b * f))
    })
}

/// The popularity windows W of (K18) tried, days.
pub(crate) const WINDOWS: [f64; 3] = [14.0, 30.0, 60.0];

/// The own-purchase trials (γ, half-life in days) of (K17, K19), half-life slowest.
pub(crate) fn own_grid() -> impl Iterator<Item = (f64, f64)> {
    [60.0, 240.0, f64::INFINITY].into_iter().flat_map(|h| {
        [1.0, 2.0, 4.0, 8.0, 16.0, 1000.0]
            .into_iter()
            .map(move |gamma| (gamma, h))
    })
}

/// The parts of the blend fitted on the validation split, for the weight search.
struct ValidationParts<'a> {
    val: &'a Split,
    /// The validation users the cached rows are built for.
    users: &'a [u32],
    mf: &'a Cached,
    knn: &'a Cached,
    /// EASE and its cached rows per profile half-life (K42), shared by the modes.
    ease: Option<(&'a Ease, &'a Memo<Cached>)>,
    /// The repeat scores (K17) per half-life and the popularity (K18) per window, computed
    /// once each: the trials revisit a handful of values.
    repeat: Memo<Vec<Vec<(u32, f64)>>>,
    popularity: Memo<Vec<f64>>,
}

/// Values of a deterministic function of one setting, computed on first use.
struct Memo<T>(RefCell<Vec<(f64, Rc<T>)>>);

impl<T> Memo<T> {
    fn new() -> Memo<T> {
        Memo(RefCell::new(Vec::new()))
    }

    /// `f(key)`, computed once per key (keys compared bit for bit).
    fn of(&self, key: f64, f: impl FnOnce(f64) -> T) -> Rc<T> {
        let mut seen = self.0.borrow_mut();
        if let Some((_, v)) = seen.iter().find(|(k, _)| k.to_bits() == key.to_bits()) {
            return Rc::clone(v);
        }
        let v = Rc::new(f(key));
        seen.push((key, Rc::clone(&v)));
        v
    }
}

impl ValidationParts<'_> {
    /// Validation NDCG@20 of the blend with settings `t`.
    fn score(&self, mode: Mode, t: &Settings) -> f64 {
        let repeat = self
            .repeat
            .of(t.half_life_days, |h| repeat_scores(self.val, h));
        let popularity = self
            .popularity
            .of(t.window_days, |w| recent_popularity(self.val, w));
        let ease = self.ease.map(|(e, rows)| {
            rows.of(t.profile_half_life_days, |h| {
                let profiled = e.clone().with_profile(self.val, h);
                Cached::of(&profiled, self.users, self.val.users.len())
            })
        });
        let mut collaborative: Vec<(&dyn Scorer, f64)> =
            vec![(self.mf, t.mf_weight), (self.knn, t.knn_weight)];
        if let Some(ease) = &ease {
            collaborative.push((&**ease, t.ease_weight));
        }
        let blend = Blend {
            collaborative,
            repeat: &repeat,
            popularity: &popularity,
            gamma: t.gamma,
            beta: t.beta,
        };
        evaluate(self.val, &blend, mode, 20).ndcg
    }

    /// The staged search of [`choose_settings`] for one mode, from `start` (its MF epochs and
    /// k already chosen).
    fn search(&self, mode: Mode, start: Settings, log: &mut dyn FnMut(String)) -> (Settings, f64) {
        let mut chosen = Settings {
            knn_weight: 0.0,
            ease_weight: 0.0,
            ..start
        };
        let mut best = f64::MIN;
        let score = |t: &Settings| self.score(mode, t);
        let c = chosen;
        let ease_weights: &[f64] = if self.ease.is_some() {
            &[0.0, 1.0, 2.0, 4.0]
        } else {
            &[0.0]
        };
        let grid: Vec<[f64; 4]> = weight_grid(
            &[0.0, 1.0],
            ease_weights,
            &[0.0, 0.5, 1.0, 2.0],
            &[0.0, 1.0, 2.0],
        )
        .collect();
        let weights = grid
            .iter()
            .enumerate()
            .filter(|&(at, t)| c.gamma != 0.0 || !scaled_copy(t, &grid[..at]))
            .map(
                |(_, &[mf_weight, ease_weight, knn_weight, beta])| Settings {
                    mf_weight,
                    ease_weight,
                    knn_weight,
                    beta,
                    ..c
                },
            );
        stage(weights, score, &mut best, &mut chosen);
        let c = chosen;
        let windows = WINDOWS.map(|window_days| Settings { window_days, ..c });
        stage(windows, score, &mut best, &mut chosen);
        if chosen.ease_weight != 0.0 {
            let c = chosen;
            let profiles = PROFILE_HALF_LIVES.map(|profile_half_life_days| Settings {
                profile_half_life_days,
                ..c
            });
            stage(profiles, score, &mut best, &mut chosen);
        }
        if mode == Mode::All {
            let c = chosen;
            let own = own_grid().map(|(gamma, half_life_days)| Settings {
                gamma,
                half_life_days,
                ..c
            });
            stage(own, score, &mut best, &mut chosen);
        }
        // `best` is the chosen trial's score: scoring is deterministic.
        log(format!(
            "chosen ({}): MF epochs {} weight {}, kNN k {} weight {}, EASE λ {} half-lives {} d / {} d weight {}, γ {}, β {}, half-life {} d, window {} d: validation NDCG@20 {best:.4}",
            mode.name(),
            chosen.mf.epochs,
            chosen.mf_weight,
            chosen.knn_k,
            chosen.knn_weight,
            chosen.ease_lambda,
            chosen.ease_half_life_days,
            chosen.profile_half_life_days,
            chosen.ease_weight,
            chosen.gamma,
            chosen.beta,
            chosen.half_life_days,
            chosen.window_days
        ));
        (chosen, best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (K43) A trial is skipped only when every weight and β is one earlier trial's times 2, 4
    /// or 8; the search's grid loses exactly those.
    #[test]
    fn scaled_copies_of_earlier_trials_are_found() {
        let earlier = [[0.0, 1.0, 0.5, 1.0], [1.0, 1.0, 0.0, 0.0]];
        assert!(scaled_copy(&[0.0, 2.0, 1.0, 2.0], &earlier));
        assert!(scaled_copy(&[0.0, 8.0, 4.0, 8.0], &earlier));
        // Negative controls: one weight off, the factor 1 (the trial itself), the factor 3.
        assert!(!scaled_copy(&[0.0, 2.0, 1.0, 1.0], &earlier));
        assert!(!scaled_copy(&[1.0, 1.0, 0.0, 0.0], &earlier));
        assert!(!scaled_copy(&[3.0, 3.0, 0.0, 0.0], &earlier));
        let grid: Vec<[f64; 4]> = weight_grid(
            &[0.0, 1.0],
            &[0.0, 1.0, 2.0, 4.0],
            &[0.0, 0.5, 1.0, 2.0],
            &[0.0, 1.0, 2.0],
        )
        .collect();
        let skipped = (0..grid.len())
            .filter(|&at| scaled_copy(&grid[at], &grid[..at]))
            .count();
        // Counted by hand: with MF 0, four with EASE 0, six each with EASE 2 and 4.
        assert_eq!((grid.len(), skipped), (93, 16));
    }
}
