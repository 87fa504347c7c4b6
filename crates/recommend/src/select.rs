//! The default recommender and how its settings are chosen (notes/recommend.md §6, K19): MF
//! (K16) + item-kNN (K20) + recent popularity (K18) + the user's own purchases (K17), blended
//! by (K19), with every setting chosen on a validation split only — never on the test split.

use glassbox_train::optim::OptimError;

use crate::ease::Ease;
use crate::knn::ItemKnn;
use crate::metrics::{Summary, summarize};
use crate::mf::{Mf, MfConfig};
use crate::protocol::{Mode, Split};
use crate::repeat::{Blend, popularity_share, recent_popularity, repeat_scores};
use crate::retrieval::{Ranked, Scorer, top_k};

/// The settings of the default model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Settings {
    pub mf: MfConfig,
    /// k of item-kNN (K20).
    pub knn_k: usize,
    /// Weights of (K19): MF, item-kNN and EASE, own purchases γ, popularity β.
    pub mf_weight: f64,
    pub knn_weight: f64,
    pub ease_weight: f64,
    /// λ of EASE (K21).
    pub ease_lambda: f64,
    pub gamma: f64,
    pub beta: f64,
    /// Half-life of (K17) in days (∞: the plain basket count; JSON writes it as `null`) and
    /// the window of (K18) in days.
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
            gamma: 0.0,
            beta: 0.0,
            half_life_days: 240.0,
            window_days: 14.0,
        }
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
    /// Fits every part on `split`'s training events.
    ///
    /// # Errors
    /// An invalid optimizer setting.
    pub fn fit(split: &Split, settings: &Settings) -> Result<Fitted, OptimError> {
        let mf = Mf::fit(
            split.users.len(),
            split.items.len(),
            &training_pairs(split),
            &settings.mf,
            |_, _| {},
        )?;
        Ok(Fitted::with_mf(split, mf, settings))
    }

    /// The other parts fitted on `split` around an already fitted MF.
    pub fn with_mf(split: &Split, mf: Mf, settings: &Settings) -> Fitted {
        Fitted {
            mf,
            knn: ItemKnn::fit(split, settings.knn_k),
            ease: (settings.ease_weight != 0.0).then(|| Ease::fit(split, settings.ease_lambda)),
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

/// Chooses the settings for `mode` on the validation split `val` (NDCG@20, seed of `base`), in
/// stages: MF epochs (checked every 5, up to `base.epochs`), kNN's k, then kNN weight × β,
/// the popularity window, and in the all mode γ × half-life. `log` receives one line per
/// candidate.
///
/// # Errors
/// An invalid optimizer setting.
pub fn choose_settings(
    val: &Split,
    mode: Mode,
    base: &MfConfig,
    log: &mut dyn FnMut(String),
) -> Result<(Settings, f64), OptimError> {
    let mut best_epoch = (f64::MIN, 0, None);
    Mf::fit(
        val.users.len(),
        val.items.len(),
        &training_pairs(val),
        base,
        |e, m| {
            if e % 5 == 0 || e == base.epochs {
                let s = evaluate(val, m, mode, 20);
                log(format!("MF epoch {e}: validation NDCG@20 {:.4}", s.ndcg));
                if s.ndcg > best_epoch.0 {
                    best_epoch = (s.ndcg, e, Some(m.clone()));
                }
            }
        },
    )?;
    let (_, epochs, mf) = best_epoch;
    let mf = mf.expect("at least one epoch was evaluated");
    let mut best_k = (f64::MIN, 10);
    for k in [10, 20, 50, 100] {
        let s = evaluate(val, &ItemKnn::fit(val, k), mode, 20);
        log(format!("item-kNN k={k}: validation NDCG@20 {:.4}", s.ndcg));
        if s.ndcg > best_k.0 {
            best_k = (s.ndcg, k);
        }
    }
    let knn = ItemKnn::fit(val, best_k.1);
    let ease = Ease::fit(val, Settings::default().ease_lambda);
    let score = |t: &Settings| {
        let repeat = repeat_scores(val, t.half_life_days);
        let popularity = recent_popularity(val, t.window_days);
        let blend = Blend {
            collaborative: vec![
                (&mf, t.mf_weight),
                (&knn, t.knn_weight),
                (&ease, t.ease_weight),
            ],
            repeat: &repeat,
            popularity: &popularity,
            gamma: t.gamma,
            beta: t.beta,
        };
        evaluate(val, &blend, mode, 20).ndcg
    };
    let mut chosen = Settings {
        mf: MfConfig { epochs, ..*base },
        knn_k: best_k.1,
        knn_weight: 0.0,
        ease_weight: 0.0,
        ..Settings::default()
    };
    let mut best = f64::MIN;
    // Each stage keeps the best trial so far; a trial must beat it strictly.
    let mut stage = |trials: Vec<Settings>, chosen: &mut Settings| {
        for t in trials {
            let v = score(&t);
            if v > best {
                best = v;
                *chosen = t;
            }
        }
    };
    let c = chosen;
    let mut weights = Vec::new();
    for mf_weight in [0.0, 1.0] {
        for ease_weight in [0.0, 1.0, 2.0, 4.0] {
            for knn_weight in [0.0, 0.5, 1.0, 2.0] {
                for beta in [0.0, 1.0, 2.0] {
                    if mf_weight + ease_weight + knn_weight > 0.0 {
                        weights.push(Settings {
                            mf_weight,
                            ease_weight,
                            knn_weight,
                            beta,
                            ..c
                        });
                    }
                }
            }
        }
    }
    stage(weights, &mut chosen);
    let c = chosen;
    stage(
        [14.0, 30.0, 60.0]
            .map(|window_days| Settings { window_days, ..c })
            .to_vec(),
        &mut chosen,
    );
    if mode == Mode::All {
        let c = chosen;
        stage(
            [60.0, 240.0, f64::INFINITY]
                .iter()
                .flat_map(|&half_life_days| {
                    [1.0, 2.0, 4.0, 8.0, 16.0, 1000.0].map(|gamma| Settings {
                        gamma,
                        half_life_days,
                        ..c
                    })
                })
                .collect(),
            &mut chosen,
        );
    }
    let best = score(&chosen);
    log(format!(
        "chosen ({}): MF epochs {} weight {}, kNN k {} weight {}, EASE λ {} weight {}, γ {}, β {}, half-life {} d, window {} d: validation NDCG@20 {best:.4}",
        mode.name(),
        chosen.mf.epochs,
        chosen.mf_weight,
        chosen.knn_k,
        chosen.knn_weight,
        chosen.ease_lambda,
        chosen.ease_weight,
        chosen.gamma,
        chosen.beta,
        chosen.half_life_days,
        chosen.window_days
    ));
    Ok((chosen, best))
}
