//! The default recommender as one object (notes/recommend.md §6, §9): fitted on the events
//! before a cutoff, its settings chosen per mode on the last days before that cutoff (the
//! validation split), and rebuilt from stored parts. What the command line trains, saves,
//! evaluates and serves; no file I/O here.

use glassbox_train::optim::OptimError;

use crate::ease::Ease;
use crate::mf::{Mf, MfConfig};
use crate::phases::phase;
use crate::protocol::{Interaction, Mode, Split, SplitCounts};
use crate::retrieval::{Ranked, top_k, top_k_of};
use crate::select::{EASE_MAX_ITEMS, Fitted, Settings, choose_settings, training_pairs};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The modes a model is trained for, in the order of [`Recommender::modes`].
pub const MODES: [Mode; 2] = [Mode::New, Mode::All];

/// One mode's fitted blend and how its settings were chosen.
pub struct ModeModel {
    pub mode: Mode,
    pub fitted: Fitted,
    /// Validation NDCG@20 of the chosen settings; `None` when the validation split had no
    /// user to evaluate and the defaults were kept.
    pub validation_ndcg: Option<f64>,
}

/// The default model of both modes over one training split.
pub struct Recommender {
    /// The training events (the split's test window is empty).
    pub split: Split,
    /// One per entry of [`MODES`].
    pub modes: Vec<ModeModel>,
    /// The validation split's counts (`None`: no validation split could be cut).
    pub validation: Option<SplitCounts>,
}

/// How [`Recommender::train`] cuts and fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSpec {
    /// Training = events before it (Unix seconds).
    pub cutoff: i64,
    /// The validation split: train before `cutoff − validation_days`, truth = the rest.
    pub validation_days: i64,
    /// MF's settings; its epochs are the most the validation search tries.
    pub mf: MfConfig,
}

impl Recommender {
    /// (K1, K19) Fits the default on the events of `log` before `spec.cutoff`, each mode's
    /// settings chosen on the validation split (the last `validation_days` before the
    /// cutoff); a mode without validation users keeps [`Settings::default`] (with MF's seed).
    /// EASE is fitted once and shared by the modes that use it.
    ///
    /// # Errors
    /// An invalid optimizer setting.
    pub fn train(
        log: &[Interaction],
        spec: &TrainSpec,
        progress: &mut dyn FnMut(String),
    ) -> Result<Recommender, OptimError> {
        // Two independent passes over the log: one per core.
        let (split, val) = phase("the two splits", || {
            rayon::join(
                || Split::new(log, spec.cutoff, Some(spec.cutoff)),
                || {
                    Split::new(
                        log,
                        spec.cutoff - spec.validation_days * DAY,
                        Some(spec.cutoff),
                    )
                },
            )
        });
        let searchable: Vec<Mode> = MODES
            .into_iter()
            .filter(|&m| !val.users.is_empty() && !val.evaluated(m).is_empty())
            .collect();
        let mut chosen = phase("validation search", || {
            choose_settings(&val, &searchable, &spec.mf, progress)
        })?
        .into_iter();
        let settings: Vec<(Settings, Option<f64>)> = MODES
            .iter()
            .map(|m| {
                if searchable.contains(m) {
                    chosen.next().map(|(s, v)| (s, Some(v)))
                } else {
                    None
                }
                .unwrap_or((
                    Settings {
                        mf: spec.mf,
                        ease_weight: if split.items.len() <= EASE_MAX_ITEMS {
                            1.0
                        } else {
                            0.0
                        },
                        ..Settings::default()
                    },
                    None,
                ))
            })
            .collect();
        let ease = phase("final EASE", || {
            shared_ease(&split, settings.iter().map(|s| &s.0))
        });
        let mfs = phase("final MF", || {
            fit_mfs_once(&split, &settings.iter().map(|s| s.0).collect::<Vec<_>>())
        })?;
        let mut modes = Vec::with_capacity(MODES.len());
        for ((&mode, (s, v)), mf) in MODES.iter().zip(settings).zip(mfs) {
            let e = ease.as_ref().filter(|_| s.ease_weight != 0.0).cloned();
            modes.push(ModeModel {
                mode,
                fitted: phase("final kNN, profile, repeat, popularity", || {
                    Fitted::with_parts(&split, mf, e, &s)
                }),
                validation_ndcg: v,
            });
        }
        Ok(Recommender {
            validation: (!val.users.is_empty()).then(|| val.counts.clone()),
            split,
            modes,
        })
    }

    /// Rebuilds a model from its stored parts: the training events, each mode's settings,
    /// validation score and MF parameters (`None` when its MF weight is 0), and EASE's P
    /// (upper triangle, K39) when a mode uses it.
    ///
    /// # Errors
    /// A part whose size does not match the training events.
    pub fn from_parts(
        training: &[Interaction],
        cutoff: i64,
        modes: Vec<(Settings, Option<f64>, Option<Vec<f32>>)>,
        ease_p: Option<Vec<f32>>,
        validation: Option<SplitCounts>,
    ) -> Result<Recommender, String> {
        let split = Split::new(training, cutoff, Some(cutoff));
        if modes.len() != MODES.len() {
            return Err(format!(
                "{} modes stored, {} expected",
                modes.len(),
                MODES.len()
            ));
        }
        // One P is stored: every mode that uses EASE must have been fitted with the same G.
        let mut grams = modes
            .iter()
            .filter(|m| m.0.ease_weight != 0.0)
            .map(|m| (m.0.ease_lambda.to_bits(), m.0.ease_half_life_days.to_bits()));
        if let Some(first) = grams.next()
            && grams.any(|g| g != first)
        {
            return Err(
                "the modes' EASE settings (λ, Gram half-life) differ; one P is stored".into(),
            );
        }
        let ease = match ease_p {
            Some(p) => Some(
                Ease::from_inverse(&split, p).ok_or("EASE's P is not an (I, I) upper triangle")?,
            ),
            None => None,
        };
        let mut out = Vec::with_capacity(MODES.len());
        for (&mode, (s, v, params)) in MODES.iter().zip(modes) {
            let mf = match params {
                Some(params) => {
                    let mf = Mf {
                        users: split.users.len(),
                        items: split.items.len(),
                        dim: s.mf.dim,
                        params,
                    };
                    let want = (mf.users + mf.items) * mf.dim + mf.items;
                    if mf.params.len() != want {
                        return Err(format!(
                            "{} mode: {} MF parameters, {want} expected",
                            mode.name(),
                            mf.params.len()
                        ));
                    }
                    mf
                }
                None => Fitted::fit_mf(
                    &split,
                    &Settings {
                        mf_weight: 0.0,
                        ..s
                    },
                )
                .map_err(|e| e.to_string())?,
            };
            if s.ease_weight != 0.0 && ease.is_none() {
                return Err(format!("{} mode uses EASE but no B is stored", mode.name()));
            }
            let e = ease.as_ref().filter(|_| s.ease_weight != 0.0).cloned();
            out.push(ModeModel {
                mode,
                fitted: phase("final kNN, profile, repeat, popularity", || {
                    Fitted::with_parts(&split, mf, e, &s)
                }),
                validation_ndcg: v,
            });
        }
        Ok(Recommender {
            split,
            modes: out,
            validation,
        })
    }

    /// The training events back as interactions, one per distinct basket of each
    /// (user, item), the basket keyed by its time: `Split::new` on them (and the same cutoff)
    /// gives the same users, items and history.
    pub fn training_log(&self) -> Vec<Interaction> {
        let s = &self.split;
        let mut out = Vec::new();
        for (user, owned) in s.users.iter().zip(&s.history) {
            for o in owned {
                for &t in &o.times {
                    out.push(Interaction {
                        user: user.clone(),
                        item: s.items[o.item as usize].clone(),
                        time: t,
                        basket: t.to_string(),
                    });
                }
            }
        }
        out
    }

    /// The model of `mode`.
    pub fn mode(&self, mode: Mode) -> &ModeModel {
        let k = MODES.iter().position(|&m| m == mode).unwrap_or(0);
        &self.modes[k]
    }

    /// (K5, K19) Top-`k` lists of known `users` in `mode` over a split with the model's
    /// users and items (the training split, or one that adds a test window to it).
    pub fn lists(&self, split: &Split, mode: Mode, users: &[u32], k: usize) -> Vec<Vec<Ranked>> {
        let scorer = self.mode(mode).fitted.scorer();
        top_k(&scorer, users, k, &|u| split.excluded(u, mode))
    }

    /// The list of a user without training history (cold start): the mode's recent
    /// popularity (K18), the only non-personal list the protocol allows.
    pub fn cold_list(&self, mode: Mode, k: usize) -> Vec<Ranked> {
        top_k_of(&self.mode(mode).fitted.popularity, &[], k)
    }
}

/// Each mode's MF part (as [`Fitted::fit_mf`] would fit it), with one fit per distinct MF
/// configuration apart from its epochs: a fit to the most epochs asked for, snapshotted after
/// each mode's epochs. An epoch depends only on the ones before it, never on the total, so a
/// snapshot is bit for bit the shorter fit (tested), at the cost of the longest fit alone.
///
/// # Errors
/// An invalid optimizer setting.
pub fn fit_mfs_once(split: &Split, settings: &[Settings]) -> Result<Vec<Mf>, OptimError> {
    let wanted: Vec<MfConfig> = settings
        .iter()
        .map(|s| MfConfig {
            epochs: if s.mf_weight == 0.0 { 0 } else { s.mf.epochs },
            ..s.mf
        })
        .collect();
    let mut out: Vec<Option<Mf>> = vec![None; wanted.len()];
    for k in 0..wanted.len() {
        if out[k].is_some() {
            continue;
        }
        // One group: the same configuration but the epochs, all trained or all untrained.
        let same = |c: &MfConfig| {
            MfConfig { epochs: 0, ..*c }
                == MfConfig {
                    epochs: 0,
                    ..wanted[k]
                }
                && (c.epochs == 0) == (wanted[k].epochs == 0)
        };
        let longest = wanted
            .iter()
            .filter(|c| same(c))
            .map(|c| c.epochs)
            .max()
            .unwrap_or(0);
        let mut snapshots: Vec<(usize, Mf)> = Vec::new();
        let last = Mf::fit(
            split.users.len(),
            split.items.len(),
            &training_pairs(split),
            &MfConfig {
                epochs: longest,
                ..wanted[k]
            },
            |e, m| {
                if wanted
                    .iter()
                    .any(|c| same(c) && c.epochs == e && e < longest)
                {
                    snapshots.push((e, m.clone()));
                }
            },
        )?;
        for (slot, c) in out.iter_mut().zip(&wanted) {
            if slot.is_none() && same(c) {
                *slot = Some(if c.epochs == longest {
                    last.clone()
                } else {
                    snapshots
                        .iter()
                        .find(|(e, _)| *e == c.epochs)
                        .map(|(_, m)| m.clone())
                        .expect("a snapshot was taken after every epoch count asked for")
                });
            }
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// EASE fitted once on `split` at the λ and Gram half-life (K41) of the first settings that use
/// it (the search gives every mode the same), or `None` when no mode uses it or the catalogue
/// is too large. Each mode's profile (K42) is set when its parts are assembled.
fn shared_ease<'a>(
    split: &Split,
    mut settings: impl Iterator<Item = &'a Settings>,
) -> Option<Ease> {
    let s = settings.find(|s| s.ease_weight != 0.0)?;
    (split.items.len() <= EASE_MAX_ITEMS)
        .then(|| Ease::fit_decayed(split, s.ease_lambda, s.ease_half_life_days))
}
