//! The recommendation case study (issue 13): recommend to each customer of UCI's "Online
//! Retail" shop the products they will buy after 2011-10-01, under the protocol of
//! `../shared/datasets/README.md` (notes/recommend.md §1).
//!
//! ```text
//! data      datasets/online_retail_interactions.csv.gz, streamed (glassbox-recommend::read)
//! split     training < 2011-10-01, test to 2011-12-09; validation: < 2011-09-01 / September
//! models    popularity, recent popularity, the repeat rule, item-kNN, EASE, BPR-MF, the default
//!           blend (K19) — settings chosen on validation only, per mode; 5 seeds for MF
//! metrics   Recall@20, NDCG@20, HR@10, MAP@20, coverage, popularity (K6–K11), both modes;
//!           a paired bootstrap over users of the default against the best reference run here
//! report    metrics.json, report.md, metric@K curves, popularity of the lists (report.rs)
//! ```

mod report;

use std::time::Instant;

use glassbox_recommend::compare::{PairedDifference, paired_bootstrap, per_user};
use glassbox_recommend::ease::Ease;
use glassbox_recommend::knn::ItemKnn;
use glassbox_recommend::mf::{Mf, MfConfig};
use glassbox_recommend::model::fit_mfs_once;
use glassbox_recommend::read::{Columns, parse_time};
use glassbox_recommend::repeat::{Blend, popularity_share, recent_popularity, repeat_scores};
use glassbox_recommend::select::{Fitted, Settings, choose_settings, lists};
use glassbox_recommend::{Mode, Ranked, Scorer, Split, summarize};

use super::{Case, CaseOptions};
use crate::exit::{CliError, ResultExt};
use crate::out_dir::OutDir;
use crate::pipeline::recommend::{ModeMetrics, read_log};

/// The recommendation case in the registry.
pub const CASE: Case = Case {
    name: "recommend",
    about: "personalised recommendation: each customer's next products, the default blend vs \
            popularity, the repeat rule, item-kNN, EASE and BPR-MF, on Online Retail",
    default_out: "runs/case-study-recommend",
    run,
};

const LOG_FILE: &str = "online_retail_interactions.csv.gz";
const CUTOFF: &str = "2011-10-01";
const VALIDATION_CUTOFF: &str = "2011-09-01";
/// Seeds of the seeded models (the targets are means over 5).
const SEEDS: u64 = 5;
/// Resamples of the paired bootstrap.
const RESAMPLES: usize = 1000;
/// The list lengths of the metric@K curves.
pub(crate) const CURVE_KS: [usize; 6] = [1, 2, 5, 10, 20, 50];

/// One model's results in one mode: per seed (one entry for deterministic models).
pub(crate) struct ModelRow {
    pub name: String,
    pub settings: String,
    pub seeds: Vec<ModeMetrics>,
    /// Recall and NDCG at each of [`CURVE_KS`] (first seed).
    pub curve: Vec<(usize, f64, f64)>,
}

/// Example lists for the report.
pub(crate) struct Example {
    pub user: String,
    pub history: Vec<String>,
    /// (item, in the truth).
    pub list: Vec<(String, bool)>,
    pub truth_size: usize,
}

/// One mode's study.
pub(crate) struct ModeStudy {
    pub mode: Mode,
    pub settings: Settings,
    pub validation_ndcg: f64,
    pub rows: Vec<ModelRow>,
    /// The default (first seed) against the best reference run here: its name, Recall@20
    /// and NDCG@20 differences.
    pub bootstrap: (String, PairedDifference, PairedDifference),
    pub examples: Vec<Example>,
}

/// What the report is built from.
pub(crate) struct Study {
    pub test: Split,
    pub validation: Split,
    pub modes: Vec<ModeStudy>,
    pub seeds: u64,
    pub read_seconds: f64,
    pub fit_seconds: f64,
}

fn run(case: &Case, options: &CaseOptions) -> Result<(), CliError> {
    let started = Instant::now();
    let mut out = OutDir::open(&options.out)?;
    out.guard(|run| {
        let study = study(options)?;
        report::write(case, options, &study, run, started)
    })
}

/// A model's metrics, its (K, Recall@K, NDCG@K) curve and its lists at 50.
type Scored = (ModeMetrics, Vec<(usize, f64, f64)>, Vec<Vec<Ranked>>);

/// A model's lists of the mode's evaluated users at 50 and its metrics (K5–K11).
fn score<S: Scorer + ?Sized>(split: &Split, scorer: &S, mode: Mode) -> Scored {
    let users = split.evaluated(mode);
    let top = lists(split, scorer, mode, 50);
    let pop = popularity_share(split);
    let n = split.items.len();
    let at = |k| summarize(&users, &top, k, n, &pop);
    let curve = CURVE_KS
        .iter()
        .map(|&k| {
            let s = at(k);
            (k, s.recall, s.ndcg)
        })
        .collect();
    (ModeMetrics::new(&at(20), &at(10)), curve, top)
}

fn study(options: &CaseOptions) -> Result<Study, CliError> {
    let started = Instant::now();
    let dir = super::data_dir(&options.data_dir, LOG_FILE);
    let log = read_log(&dir.join(LOG_FILE), &Columns::online_retail())?;
    let date = |d: &str| parse_time(d).ok_or_else(|| anyhow::anyhow!("bad date {d}"));
    let cutoff = date(CUTOFF).internal_err()?;
    let test = Split::new(&log, cutoff, None);
    let validation = Split::new(&log, date(VALIDATION_CUTOFF).internal_err()?, Some(cutoff));
    let read_seconds = started.elapsed().as_secs_f64();
    let fit_started = Instant::now();
    let say = |line: String| {
        if !options.quiet {
            eprintln!("  {line}");
        }
    };
    let base = MfConfig {
        epochs: if options.quick { 10 } else { 40 },
        seed: options.seed,
        ..MfConfig::default()
    };
    let modes = [Mode::New, Mode::All];
    let chosen = choose_settings(&validation, &modes, &base, &mut |l| say(l)).usage_err()?;
    // MF: one fit per seed serves both modes (each keeps its own epoch count), by the
    // model's own snapshotting fit; trained even where a mode's MF weight is 0, for the
    // BPR-MF row (a weight of 0 keeps it out of the blend).
    let seeds = if options.quick { 1 } else { SEEDS };
    let mut mf_runs: Vec<Vec<Mf>> = Vec::new();
    for seed in options.seed..options.seed + seeds {
        let seeded: Vec<Settings> = chosen
            .iter()
            .map(|(s, _)| Settings {
                mf: MfConfig { seed, ..s.mf },
                mf_weight: 1.0,
                ..*s
            })
            .collect();
        mf_runs.push(fit_mfs_once(&test, &seeded).usage_err()?);
        say(format!("MF seed {seed}: fitted"));
    }
    // EASE as the data README runs it (binary, λ 300): a reference row; the default's own
    // EASE (K41, at the chosen Gram half-life) is fitted apart when that differs.
    let ease = Ease::fit(&test, Settings::default().ease_lambda);
    let default_ease = chosen
        .iter()
        .find(|(s, _)| s.ease_weight != 0.0)
        .filter(|(s, _)| s.ease_half_life_days.is_finite())
        .map(|(s, _)| Ease::fit_decayed(&test, s.ease_lambda, s.ease_half_life_days));
    let mut studies = Vec::new();
    for (k, (&mode, (settings, validation_ndcg))) in modes.iter().zip(&chosen).enumerate() {
        studies.push(mode_study(
            &test,
            mode,
            settings,
            *validation_ndcg,
            mf_runs.iter().map(|r| r[k].clone()).collect(),
            (&ease, default_ease.as_ref().unwrap_or(&ease)),
            options.seed,
        )?);
    }
    Ok(Study {
        test,
        validation,
        modes: studies,
        seeds,
        read_seconds,
        fit_seconds: fit_started.elapsed().as_secs_f64(),
    })
}

/// Every model of one mode on the test split.
fn mode_study(
    test: &Split,
    mode: Mode,
    settings: &Settings,
    validation_ndcg: f64,
    mfs: Vec<Mf>,
    // EASE as the data README runs it, and the default's own (K41; the same when binary).
    (ease, default_ease): (&Ease, &Ease),
    seed: u64,
) -> Result<ModeStudy, CliError> {
    let mut rows = Vec::new();
    // Non-personal lists and the repeat rule, at the data README's validated settings.
    let rule =
        |gamma: f64, h: f64, w: f64| (gamma, repeat_scores(test, h), recent_popularity(test, w));
    let mut plain = vec![
        (
            "popularity (global)".to_string(),
            "–".to_string(),
            rule(0.0, f64::INFINITY, f64::INFINITY),
        ),
        (
            "recent popularity".into(),
            format!("last {} days", if mode == Mode::New { 60 } else { 14 }),
            rule(
                0.0,
                f64::INFINITY,
                if mode == Mode::New { 60.0 } else { 14.0 },
            ),
        ),
    ];
    if mode == Mode::All {
        plain.push((
            "repeat purchase (own history)".into(),
            "half-life 240 d; ties and the rest of the list by recent popularity 14 d".into(),
            rule(1000.0, 240.0, 14.0),
        ));
    }
    let mut repeat_lists = None;
    for (name, s, (gamma, repeat, pop)) in &plain {
        let blend = Blend {
            collaborative: vec![],
            repeat,
            popularity: pop,
            gamma: *gamma,
            beta: 1.0,
        };
        let (m, curve, top) = score(test, &blend, mode);
        if *gamma > 0.0 {
            repeat_lists = Some(top);
        }
        rows.push(ModelRow {
            name: name.clone(),
            settings: s.clone(),
            seeds: vec![m],
            curve,
        });
    }
    let knn = ItemKnn::fit(test, settings.knn_k);
    let (m, curve, _) = score(test, &knn, mode);
    rows.push(ModelRow {
        name: "item-kNN (cosine)".into(),
        settings: format!("k={} (validation)", settings.knn_k),
        seeds: vec![m],
        curve,
    });
    let (m, curve, ease_lists) = score(test, ease, mode);
    rows.push(ModelRow {
        name: "EASE".into(),
        settings: format!("λ={}", settings.ease_lambda),
        seeds: vec![m],
        curve,
    });
    let mut mf_row = ModelRow {
        name: "BPR-MF (glassbox)".into(),
        settings: format!(
            "d={}, {} epochs (validation), lr={}, wd={}",
            settings.mf.dim, settings.mf.epochs, settings.mf.lr, settings.mf.weight_decay
        ),
        seeds: vec![],
        curve: vec![],
    };
    let mut default_row = ModelRow {
        name: "**default blend (K19)**".into(),
        settings: describe(settings),
        seeds: vec![],
        curve: vec![],
    };
    let mut default_lists = Vec::new();
    let mut fitted: Option<Fitted> = None;
    for mf in mfs {
        let (m, curve, _) = score(test, &mf, mode);
        mf_row.seeds.push(m);
        if mf_row.curve.is_empty() {
            mf_row.curve = curve;
        }
        let f = match fitted.take() {
            Some(mut f) => {
                f.mf = mf;
                f
            }
            None => Fitted::with_parts(
                test,
                mf,
                (settings.ease_weight != 0.0).then(|| default_ease.clone()),
                settings,
            ),
        };
        let (m, curve, top) = score(test, &f.scorer(), mode);
        default_row.seeds.push(m);
        if default_row.curve.is_empty() {
            default_row.curve = curve;
            default_lists = top;
        }
        fitted = Some(f);
    }
    rows.push(mf_row);
    rows.push(default_row);
    let users = test.evaluated(mode);
    let (reference, reference_lists) = match (mode, repeat_lists) {
        (Mode::All, Some(r)) => ("repeat purchase", r),
        _ => ("EASE", ease_lists),
    };
    let a = per_user(&users, &default_lists, 20);
    let b = per_user(&users, &reference_lists, 20);
    let diff = |f: fn(&glassbox_recommend::UserMetrics) -> f64| -> Vec<f64> {
        a.iter().zip(&b).map(|(x, y)| f(x) - f(y)).collect()
    };
    let bootstrap = (
        reference.to_string(),
        paired_bootstrap(&diff(|m| m.recall), RESAMPLES, seed),
        paired_bootstrap(&diff(|m| m.ndcg), RESAMPLES, seed),
    );
    let examples = [0, users.len() / 2, users.len().saturating_sub(1)]
        .iter()
        .filter(|&&i| i < users.len())
        .map(|&i| {
            let u = &users[i];
            Example {
                user: test.users[u.user as usize].clone(),
                history: test.history[u.user as usize]
                    .iter()
                    .map(|o| test.items[o.item as usize].clone())
                    .collect(),
                list: default_lists[i]
                    .iter()
                    .take(10)
                    .map(|e| {
                        (
                            test.items[e.item as usize].clone(),
                            u.known.binary_search(&e.item).is_ok(),
                        )
                    })
                    .collect(),
                truth_size: u.size,
            }
        })
        .collect();
    Ok(ModeStudy {
        mode,
        settings: *settings,
        validation_ndcg,
        rows,
        bootstrap,
        examples,
    })
}

/// The default's settings in one line.
fn describe(s: &Settings) -> String {
    format!(
        "MF×{} + kNN(k={})×{} + EASE(h={} d, profile h={} d)×{} + pop({} d)×{} + own(h={} d)×{}",
        s.mf_weight,
        s.knn_k,
        s.knn_weight,
        s.ease_half_life_days,
        s.profile_half_life_days,
        s.ease_weight,
        s.window_days,
        s.beta,
        s.half_life_days,
        s.gamma
    )
}
