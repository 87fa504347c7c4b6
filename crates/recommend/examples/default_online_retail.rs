//! The default recommender (K38) on Online Retail: its settings chosen on the validation split
//! only (train < 2011-09-01, truth = September 2011) by `choose_default`, then `fit_default`
//! on the whole training period for each seed and the test period scored once per seed, in
//! both modes, next to the parts alone and the reference figures. Prints per-seed lines, the
//! mean, and the CPU time of each fit (process CPU time: user + system of this process).
//!
//! scripts/recommend_default.sh [SEEDS, default 5] [search]   (release build)

use std::time::Instant;

use glassbox_recommend::default_model::{DefaultSettings, choose_default, fit_default};
use glassbox_recommend::dnn::{Dnn, DnnConfig};
use glassbox_recommend::repeat::{Blend, recent_popularity, repeat_scores};
use glassbox_recommend::select::{evaluate, lists};
use glassbox_recommend::{Mode, Split};
use glassbox_recommend::{Scorer, UserMetrics, user_metrics};

mod common;

use common::{OnlineRetail, online_retail};

/// CPU seconds (user + system) of this process so far, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the ')' .
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Per evaluated user of `mode` (in `Split::evaluated` order), the metrics at 20 (K6–K9).
fn users_metrics<S: Scorer + ?Sized>(test: &Split, scorer: &S, mode: Mode) -> Vec<UserMetrics> {
    let users = test.evaluated(mode);
    let lists = lists(test, scorer, mode, 20);
    users
        .iter()
        .zip(&lists)
        .map(|(u, l)| user_metrics(l, &u.known, u.size, 20))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let search = args.next().is_some_and(|a| a == "search");
    let OnlineRetail { val, test } = online_retail();
    if search {
        let base = DefaultSettings::chosen().dnn;
        let base = DnnConfig {
            epochs: base.epochs.max(40),
            ..base
        };
        let (chosen, new, all) =
            choose_default(&val, &base, &mut |line| eprintln!("  {line}")).expect("search");
        println!(
            "chosen on validation: {chosen:?}\nvalidation NDCG@20: new {new:.4}, all {all:.4}"
        );
    }
    let mut sums = [[0.0; 3]; 2];
    // Per user of each mode, (recall@20, NDCG@20) summed over seeds: for the paired comparison.
    let mut per_user: [Vec<(f64, f64)>; 2] = [
        vec![(0.0, 0.0); test.evaluated(Mode::New).len()],
        vec![(0.0, 0.0); test.evaluated(Mode::All).len()],
    ];
    let (t, c) = (Instant::now(), cpu_seconds());
    let mut model = fit_default(&test, 0).expect("fit");
    println!(
        "whole default fit (seed 0): {:.1} s wall, {:.1} s CPU",
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c
    );
    for seed in 0..seeds {
        // EASE, item-kNN, the repeat and popularity parts are deterministic: only the DNN is
        // refitted per seed.
        let (t, c) = (Instant::now(), cpu_seconds());
        if seed > 0 {
            let cfg = DnnConfig {
                seed,
                ..model.settings.dnn
            };
            model.dnn = Some(Dnn::fit(&test, &cfg, |_| false, |_, _| {}).expect("fit"));
        }
        let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        for (m, mode) in [Mode::New, Mode::All].into_iter().enumerate() {
            let s20 = evaluate(&test, &model, mode, 20);
            let s10 = evaluate(&test, &model, mode, 10);
            let dnn = model
                .dnn
                .as_ref()
                .map(|d| evaluate(&test, d, mode, 20))
                .map_or((f64::NAN, f64::NAN), |s| (s.recall, s.ndcg));
            println!(
                "{} seed {seed}: default recall@20 {:.4} ndcg@20 {:.4} hr@10 {:.4} | DNN alone {:.4} / {:.4} | DNN fit {wall:.1} s wall, {cpu:.1} s CPU (0 for seed 0: fitted above)",
                mode.name(),
                s20.recall,
                s20.ndcg,
                s10.hit_rate,
                dnn.0,
                dnn.1
            );
            for (acc, u) in per_user[m]
                .iter_mut()
                .zip(users_metrics(&test, &model, mode))
            {
                acc.0 += u.recall;
                acc.1 += u.ndcg;
            }
            sums[m][0] += s20.recall;
            sums[m][1] += s20.ndcg;
            sums[m][2] += s10.hit_rate;
        }
    }
    // The best references of the data README, rebuilt: EASE λ 300 (new), the repeat rule
    // (own items by half-life 240 d, then recent popularity 14 d) (all).
    let ease = model.ease.as_ref().expect("EASE is a part of the default");
    let repeat = repeat_scores(&test, 240.0);
    let popularity = recent_popularity(&test, 14.0);
    let rule = Blend {
        collaborative: Vec::new(),
        repeat: &repeat,
        popularity: &popularity,
        gamma: 1e6,
        beta: 1.0,
    };
    for (m, mode, reference, name) in [
        (0, Mode::New, ease as &dyn Scorer, "EASE"),
        (1, Mode::All, &rule as &dyn Scorer, "repeat rule"),
    ] {
        let theirs = users_metrics(&test, reference, mode);
        let k = seeds as f64;
        let paired = |f: &dyn Fn(&UserMetrics) -> f64, g: &dyn Fn(&(f64, f64)) -> f64| {
            let d: Vec<f64> = per_user[m]
                .iter()
                .zip(&theirs)
                .map(|(o, t)| g(o) / k - f(t))
                .collect();
            let n = d.len() as f64;
            let mean = d.iter().sum::<f64>() / n;
            let var = d.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
            (mean, (var / n).sqrt())
        };
        let r = paired(&|u| u.recall, &|o| o.0);
        let n = paired(&|u| u.ndcg, &|o| o.1);
        let mean_ref = |f: &dyn Fn(&UserMetrics) -> f64| {
            theirs.iter().map(f).sum::<f64>() / theirs.len() as f64
        };
        println!(
            "{} paired, default (mean of seeds) − {name} ({:.4} / {:.4} rebuilt here), same users: recall@20 {:+.4} ± {:.4}, NDCG@20 {:+.4} ± {:.4} (mean ± paired SE)",
            mode.name(),
            mean_ref(&|u| u.recall),
            mean_ref(&|u| u.ndcg),
            r.0,
            r.1,
            n.0,
            n.1
        );
    }
    for (m, (mode, refs)) in [
        (Mode::New, "EASE 0.0859 / 0.1068 / 0.5045"),
        (Mode::All, "repeat purchase 0.2001 / 0.3175 / 0.7845"),
    ]
    .into_iter()
    .enumerate()
    {
        let k = seeds as f64;
        println!(
            "{} mean of {seeds} seeds: recall@20 {:.4} ndcg@20 {:.4} hr@10 {:.4} (best reference: {refs})",
            mode.name(),
            sums[m][0] / k,
            sums[m][1] / k,
            sums[m][2] / k
        );
    }
}
