//! The default recommender on Online Retail (notes/recommend.md §6–§9; issue 13's speed
//! targets), on every core (`build_pool(0)`: one thread per core):
//!
//! `cargo bench --bench recommend` — group `recommend`:
//! - `top20/every-user`: the default blend's top 20 (new mode, own items excluded) for each of
//!   the 3,613 training customers of the shop (target < 1 s);
//! - `fit/default`: fitting the default with fixed settings (the ones the validation search
//!   chose for the new mode in the seventh session: no MF, item-kNN k=10 ×0.5, EASE λ=300 on
//!   recency weights of half-life 120 d with a 240-d profile (K40–K42) ×4, recent popularity
//!   30 d ×1) on the training period; the settings search on the validation split is not
//!   included (the 30-s target is the whole `recommend train`, scripts/recommend_speed.sh).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use glassbox_core::build_pool;
use glassbox_recommend::mf::MfConfig;
use glassbox_recommend::read::{Columns, parse_time, read_interactions};
use glassbox_recommend::select::{Fitted, Settings};
use glassbox_recommend::{Mode, Split, top_k};

fn settings() -> Settings {
    Settings {
        mf: MfConfig {
            epochs: 30,
            ..MfConfig::default()
        },
        knn_k: 10,
        mf_weight: 0.0,
        knn_weight: 0.5,
        ease_weight: 4.0,
        ease_half_life_days: 120.0,
        profile_half_life_days: 240.0,
        beta: 1.0,
        window_days: 30.0,
        ..Settings::default()
    }
}

fn bench(c: &mut Criterion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/online_retail_interactions.csv.gz");
    let log = read_interactions(&path, &Columns::online_retail()).expect("the bundled data");
    let split = Split::new(&log, parse_time("2011-10-01").expect("date"), None);
    let pool = build_pool(0).expect("pool");
    let fitted = pool.install(|| Fitted::fit(&split, &settings()).expect("fit"));
    let users: Vec<u32> = (0..split.users.len() as u32).collect();
    let mut g = c.benchmark_group("recommend");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("top20/every-user", |b| {
        let scorer = fitted.scorer();
        b.iter(|| {
            pool.install(|| {
                black_box(top_k(&scorer, &users, 20, &|u| {
                    split.excluded(u, Mode::New)
                }))
            })
        })
    });
    g.bench_function("fit/default", |b| {
        b.iter(|| pool.install(|| black_box(Fitted::fit(&split, &settings()).expect("fit"))))
    });
    g.finish();
}

// No plots: criterion's plotters backend needs a system font, which headless machines lack.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
