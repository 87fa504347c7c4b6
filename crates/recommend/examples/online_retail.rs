//! The default recommender on Online Retail (notes/recommend.md §6): settings chosen on the
//! validation split only (train < 2011-09-01, truth = September 2011), separately per mode;
//! then refitted on the whole training period and scored once per seed on the test period.
//! Prints the mean of the seeds next to the parts alone.
//!
//! scripts/recommend_online_retail.sh [SEEDS, default 5] (release build, CPU time and load)

use std::time::Instant;

use glassbox_recommend::Mode;
use glassbox_recommend::mf::{Mf, MfConfig};
use glassbox_recommend::select::{Fitted, choose_settings, evaluate, lists, training_pairs};

mod common;

use common::{OnlineRetail, online_retail};

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let OnlineRetail { val, test } = online_retail();
    let base = MfConfig {
        epochs: 40,
        ..MfConfig::default()
    };
    let modes = [Mode::New, Mode::All];
    let chosen =
        choose_settings(&val, &modes, &base, &mut |line| eprintln!("  {line}")).expect("search");
    for (mode, (chosen, _)) in modes.into_iter().zip(chosen) {
        let (mut r, mut n, mut h) = (0.0, 0.0, 0.0);
        let t = Instant::now();
        let mut fitted = Fitted::fit(&test, &chosen).expect("fit");
        println!(
            "{}: whole default fit (MF {} epochs + kNN + EASE + repeat) {:.1} s wall",
            mode.name(),
            chosen.mf.epochs,
            t.elapsed().as_secs_f64()
        );
        for seed in 0..seeds {
            let cfg = MfConfig { seed, ..chosen.mf };
            let t = Instant::now();
            fitted.mf = Mf::fit(
                test.users.len(),
                test.items.len(),
                &training_pairs(&test),
                &cfg,
                |_, _| {},
            )
            .expect("fit");
            let fit = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let top20 = lists(&test, &fitted.scorer(), mode, 20);
            let retrieval = t.elapsed().as_secs_f64();
            assert_eq!(top20.len(), test.evaluated(mode).len());
            let s20 = evaluate(&test, &fitted.scorer(), mode, 20);
            let s10 = evaluate(&test, &fitted.scorer(), mode, 10);
            let mf = evaluate(&test, &fitted.mf, mode, 20);
            let knn = evaluate(&test, &fitted.knn, mode, 20);
            let ease = fitted.ease.as_ref().map_or((f64::NAN, f64::NAN), |e| {
                let s = evaluate(&test, e, mode, 20);
                (s.recall, s.ndcg)
            });
            println!(
                "{} seed {seed}: default recall@20 {:.4} ndcg@20 {:.4} hr@10 {:.4} | MF alone {:.4} / {:.4} | kNN alone {:.4} / {:.4} | EASE alone (NaN when weight 0: not fitted) {:.4} / {:.4} | MF fit {fit:.1} s, top-20 of every user {retrieval:.2} s wall",
                mode.name(),
                s20.recall,
                s20.ndcg,
                s10.hit_rate,
                mf.recall,
                mf.ndcg,
                knn.recall,
                knn.ndcg,
                ease.0,
                ease.1
            );
            r += s20.recall;
            n += s20.ndcg;
            h += s10.hit_rate;
        }
        let k = seeds as f64;
        println!(
            "{} mean of {seeds} seeds: recall@20 {:.4} ndcg@20 {:.4} hr@10 {:.4}",
            mode.name(),
            r / k,
            n / k,
            h / k
        );
    }
}
