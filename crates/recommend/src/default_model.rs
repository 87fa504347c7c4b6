//! The default recommender (notes/recommend.md §12, K38): the YouTube-DNN-style model (K36–K37)
//! blended (K19) with EASE (K21), item-kNN (K20), recent popularity (K18) and the user's own
//! purchases (K17). Every setting was chosen on the validation split of the training period
//! (train < 2011-09-01, truth = September 2011) by [`choose_default`]; the test window is
//! never read. [`fit_default`] fits the chosen model on a split's training events.

use glassbox_train::optim::OptimError;

use crate::dnn::{Dnn, DnnConfig};
use crate::ease::Ease;
use crate::knn::ItemKnn;
use crate::protocol::{Mode, Split};
use crate::repeat::{Blend, recent_popularity, repeat_scores};
use crate::retrieval::Scorer;
use crate::select::{WINDOWS, evaluate, own_grid, stage, weight_grid};

/// The settings of the default model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DefaultSettings {
    pub dnn: DnnConfig,
    /// Weights of (K19): the DNN, EASE, item-kNN; popularity β; own purchases γ.
    pub dnn_weight: f64,
    pub ease_weight: f64,
    pub knn_weight: f64,
    pub beta: f64,
    pub gamma: f64,
    /// λ of EASE (K21), k of item-kNN (K20).
    pub ease_lambda: f64,
    pub knn_k: usize,
    /// Half-life of (K17) and window of (K18), days.
    pub half_life_days: f64,
    pub window_days: f64,
}

impl DefaultSettings {
    /// The settings [`choose_default`] chose on the Online Retail validation split (the log
    /// of that search is in notes/recommend.md §12).
    pub fn chosen() -> DefaultSettings {
        DefaultSettings {
            dnn: DnnConfig::default(),
            dnn_weight: 2.0,
            ease_weight: 1.0,
            knn_weight: 0.5,
            beta: 0.5,
            gamma: 1000.0,
            ease_lambda: 300.0,
            knn_k: 10,
            half_life_days: f64::INFINITY,
            window_days: 14.0,
        }
    }
}

/// The fitted parts; a part whose weight is 0 is not fitted.
pub struct DefaultModel {
    pub dnn: Option<Dnn>,
    pub ease: Option<Ease>,
    pub knn: Option<ItemKnn>,
    pub repeat: Vec<Vec<(u32, f64)>>,
    pub popularity: Vec<f64>,
    pub settings: DefaultSettings,
}

impl DefaultModel {
    /// Fits every part with a non-zero weight on `split`'s training events.
    ///
    /// # Errors
    /// An invalid optimizer or layer setting of the DNN.
    pub fn fit(split: &Split, settings: &DefaultSettings) -> Result<DefaultModel, OptimError> {
        let dnn = if settings.dnn_weight != 0.0 {
            Some(Dnn::fit(split, &settings.dnn, |_| false, |_, _| {})?)
        } else {
            None
        };
        Ok(DefaultModel::with_dnn(split, dnn, settings))
    }

    /// The other parts fitted on `split` around an already fitted DNN.
    pub fn with_dnn(split: &Split, dnn: Option<Dnn>, settings: &DefaultSettings) -> DefaultModel {
        DefaultModel {
            dnn,
            ease: (settings.ease_weight != 0.0).then(|| Ease::fit(split, settings.ease_lambda)),
            knn: (settings.knn_weight != 0.0).then(|| ItemKnn::fit(split, settings.knn_k)),
            repeat: repeat_scores(split, settings.half_life_days),
            popularity: recent_popularity(split, settings.window_days),
            settings: *settings,
        }
    }

    /// The blended scorer (K19) over the fitted parts.
    pub fn blend(&self) -> Blend<'_> {
        let s = &self.settings;
        let mut collaborative: Vec<(&dyn Scorer, f64)> = Vec::new();
        if let Some(d) = &self.dnn {
            collaborative.push((d, s.dnn_weight));
        }
        if let Some(e) = &self.ease {
            collaborative.push((e, s.ease_weight));
        }
        if let Some(k) = &self.knn {
            collaborative.push((k, s.knn_weight));
        }
        Blend {
            collaborative,
            repeat: &self.repeat,
            popularity: &self.popularity,
            gamma: s.gamma,
            beta: s.beta,
        }
    }
}

impl Scorer for DefaultModel {
    fn n_items(&self) -> usize {
        self.popularity.len()
    }

    fn score(&self, user: u32, out: &mut [f64]) {
        self.blend().score(user, out);
    }
}

/// (K38) The default model with the chosen settings and the DNN seeded by `seed`, fitted on
/// `split`'s training events. One model serves both modes: in the new mode the own-purchase
/// term only touches excluded items, so γ and h act in the all mode alone.
///
/// # Errors
/// An invalid optimizer or layer setting of the DNN.
pub fn fit_default(split: &Split, seed: u64) -> Result<DefaultModel, OptimError> {
    let mut settings = DefaultSettings::chosen();
    settings.dnn.seed = seed;
    DefaultModel::fit(split, &settings)
}

/// (K38) Chooses the default's settings on the validation split `val` (NDCG@20, the DNN
/// seeded by `base.seed`), in stages: the DNN's epochs (checked every 5 up to
/// `base.epochs`, new mode); the weights of the DNN, EASE and item-kNN × β (new mode); the
/// popularity window (new mode); γ × the half-life (all mode, the other settings fixed). Each
/// stage keeps the best trial so far; a trial must beat it strictly. `log` receives one line
/// per stage result. Returns the settings and their validation NDCG@20 (new, all).
///
/// # Errors
/// An invalid optimizer or layer setting.
pub fn choose_default(
    val: &Split,
    base: &DnnConfig,
    log: &mut dyn FnMut(String),
) -> Result<(DefaultSettings, f64, f64), OptimError> {
    let mut best_epoch = (f64::MIN, 0, None);
    Dnn::fit(
        val,
        base,
        |e| e % 5 == 0,
        |e, m| {
            let s = evaluate(val, m, Mode::New, 20);
            log(format!(
                "DNN epoch {e}: validation new NDCG@20 {:.4}",
                s.ndcg
            ));
            if s.ndcg > best_epoch.0 {
                best_epoch = (s.ndcg, e, Some(m.clone()));
            }
        },
    )?;
    let (_, epochs, dnn) = best_epoch;
    let start = DefaultSettings {
        dnn: DnnConfig { epochs, ..*base },
        ..DefaultSettings::chosen()
    };
    let ease = Ease::fit(val, start.ease_lambda);
    let knn = ItemKnn::fit(val, start.knn_k);
    let dnn = dnn.expect("at least one epoch was evaluated");
    let score = |t: &DefaultSettings, mode: Mode| {
        let repeat = repeat_scores(val, t.half_life_days);
        let popularity = recent_popularity(val, t.window_days);
        let blend = Blend {
            collaborative: vec![
                (&dnn, t.dnn_weight),
                (&ease, t.ease_weight),
                (&knn, t.knn_weight),
            ],
            repeat: &repeat,
            popularity: &popularity,
            gamma: t.gamma,
            beta: t.beta,
        };
        evaluate(val, &blend, mode, 20).ndcg
    };
    let mut chosen = start;
    let c = chosen;
    let weights = weight_grid(
        &[0.0, 0.5, 1.0, 2.0],
        &[0.0, 1.0, 2.0],
        &[0.0, 0.5, 1.0],
        &[0.0, 0.5, 1.0, 2.0],
    )
    .map(
        |[dnn_weight, ease_weight, knn_weight, beta]| DefaultSettings {
            dnn_weight,
            ease_weight,
            knn_weight,
            beta,
            ..c
        },
    );
    let new_mode = |t: &DefaultSettings| score(t, Mode::New);
    let mut v = f64::MIN;
    stage(weights, new_mode, &mut v, &mut chosen);
    log(format!(
        "weights: DNN {} EASE {} kNN {} β {}: validation new NDCG@20 {v:.4}",
        chosen.dnn_weight, chosen.ease_weight, chosen.knn_weight, chosen.beta
    ));
    let c = chosen;
    let mut v = f64::MIN;
    let windows = WINDOWS.map(|window_days| DefaultSettings { window_days, ..c });
    stage(windows, new_mode, &mut v, &mut chosen);
    log(format!(
        "window {} d: validation new NDCG@20 {v:.4}",
        chosen.window_days
    ));
    let c = chosen;
    let own = own_grid().map(|(gamma, half_life_days)| DefaultSettings {
        gamma,
        half_life_days,
        ..c
    });
    let mut v = f64::MIN;
    stage(own, |t| score(t, Mode::All), &mut v, &mut chosen);
    log(format!(
        "own purchases: γ {} half-life {} d: validation all NDCG@20 {v:.4}",
        chosen.gamma, chosen.half_life_days
    ));
    let new = score(&chosen, Mode::New);
    Ok((chosen, new, v))
}
