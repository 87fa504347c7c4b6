//! Validation search and test figures of the default recommender on Online Retail
//! (notes/recommend.md §6). Settings are chosen on the validation split only (train
//! < 2011-09-01, truth = September 2011); the test split is scored once per seed with them.
//!
//! cargo run --release -p glassbox-recommend --example online_retail [-- SEEDS]

use std::path::PathBuf;
use std::time::Instant;

use glassbox_recommend::mf::{Mf, MfConfig};
use glassbox_recommend::read::{Columns, parse_time, read_interactions};
use glassbox_recommend::repeat::{Blend, popularity_share, recent_popularity, repeat_scores};
use glassbox_recommend::{Mode, Scorer, Split, Summary, summarize, top_k};

fn evaluate<S: Scorer>(split: &Split, scorer: &S, mode: Mode, k: usize) -> Summary {
    let users = split.evaluated(mode);
    let ids: Vec<u32> = users.iter().map(|u| u.user).collect();
    let lists = top_k(scorer, &ids, k, &|u| split.excluded(u, mode));
    summarize(
        &users,
        &lists,
        k,
        split.items.len(),
        &popularity_share(split),
    )
}

fn pairs(split: &Split) -> Vec<(u32, u32)> {
    split
        .history
        .iter()
        .enumerate()
        .flat_map(|(u, h)| h.iter().map(move |o| (u as u32, o.item)))
        .collect()
}

struct Search {
    epochs: usize,
    gamma: f64,
    beta: f64,
    half_life: f64,
    window: f64,
}

fn search(val: &Split, mode: Mode, base: &MfConfig) -> Search {
    let mut best_epoch = (0.0, 0);
    let mut snapshots = Vec::new();
    let t = Instant::now();
    let _ = Mf::fit(
        val.users.len(),
        val.items.len(),
        &pairs(val),
        base,
        |e, m| {
            if e % 5 == 0 {
                let s = evaluate(val, m, mode, 20);
                eprintln!(
                    "  {} epoch {e}: val ndcg@20 {:.4} recall@20 {:.4}",
                    mode.name(),
                    s.ndcg,
                    s.recall
                );
                if s.ndcg > best_epoch.0 {
                    best_epoch = (s.ndcg, e);
                }
                snapshots.push((e, m.clone()));
            }
        },
    )
    .expect("fit");
    eprintln!("  fit {:.1}s", t.elapsed().as_secs_f64());
    let model = snapshots
        .into_iter()
        .find(|(e, _)| *e == best_epoch.1)
        .expect("snapshot")
        .1;
    let mut best = (f64::MIN, 0.0, 0.0, 0.0, 0.0);
    for half_life in [60.0, 240.0, f64::INFINITY] {
        let repeat = repeat_scores(val, half_life);
        for window in [14.0, 60.0] {
            let pop = recent_popularity(val, window);
            for gamma in [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 1000.0] {
                for beta in [0.0, 0.5, 1.0, 2.0] {
                    if mode == Mode::New && gamma > 0.0 && half_life != 240.0 {
                        continue; // no own item is left to rank in the new mode
                    }
                    let blend = Blend {
                        collaborative: &model,
                        repeat: &repeat,
                        popularity: &pop,
                        gamma,
                        beta,
                    };
                    let s = evaluate(val, &blend, mode, 20);
                    if s.ndcg > best.0 {
                        best = (s.ndcg, gamma, beta, half_life, window);
                    }
                }
            }
        }
    }
    eprintln!(
        "  {} chosen: epochs {} γ {} β {} half-life {} window {} (val ndcg@20 {:.4})",
        mode.name(),
        best_epoch.1,
        best.1,
        best.2,
        best.3,
        best.4,
        best.0
    );
    Search {
        epochs: best_epoch.1,
        gamma: best.1,
        beta: best.2,
        half_life: best.3,
        window: best.4,
    }
}

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/online_retail_interactions.csv.gz");
    let cols = Columns::online_retail();
    let log = read_interactions(&path, &cols).expect("reads");
    let sep = parse_time("2011-09-01").unwrap();
    let oct = parse_time("2011-10-01").unwrap();
    let val = Split::new(&log, sep, Some(oct));
    let test = Split::new(&log, oct, None);
    let base = MfConfig {
        epochs: 40,
        ..MfConfig::default()
    };
    for mode in [Mode::New, Mode::All] {
        let chosen = search(&val, mode, &base);
        let repeat = repeat_scores(&test, chosen.half_life);
        let pop = recent_popularity(&test, chosen.window);
        let (mut r, mut n, mut h) = (0.0, 0.0, 0.0);
        for seed in 0..seeds {
            let cfg = MfConfig {
                epochs: chosen.epochs,
                seed,
                ..base
            };
            let t = Instant::now();
            let model = Mf::fit(
                test.users.len(),
                test.items.len(),
                &pairs(&test),
                &cfg,
                |_, _| {},
            )
            .expect("fit");
            let fit = t.elapsed().as_secs_f64();
            let blend = Blend {
                collaborative: &model,
                repeat: &repeat,
                popularity: &pop,
                gamma: chosen.gamma,
                beta: chosen.beta,
            };
            let s20 = evaluate(&test, &blend, mode, 20);
            let s10 = evaluate(&test, &blend, mode, 10);
            let mf = evaluate(&test, &model, mode, 20);
            println!(
                "{} seed {seed}: blend recall@20 {:.4} ndcg@20 {:.4} hr@10 {:.4} | MF alone {:.4} / {:.4} | fit {fit:.1}s",
                mode.name(),
                s20.recall,
                s20.ndcg,
                s10.hit_rate,
                mf.recall,
                mf.ndcg
            );
            r += s20.recall;
            n += s20.ndcg;
            h += s10.hit_rate;
        }
        let k = seeds as f64;
        println!(
            "{} mean of {seeds}: recall@20 {:.4} ndcg@20 {:.4} hr@10 {:.4}",
            mode.name(),
            r / k,
            n / k,
            h / k
        );
    }
}
