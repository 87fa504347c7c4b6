//! The protocol (K1–K4), the top-K retrieval (K5) and the metrics (K6–K11) against an
//! independent Python reference: tests/reference/protocol_fixtures.json, written by
//! tests/reference/make_protocol_fixtures.py (plain Python; scores with many ties).

use std::collections::BTreeMap;

use glassbox_recommend::{Interaction, Mode, Scorer, Split, summarize, top_k};
use serde::Deserialize;

#[derive(Deserialize)]
struct Evaluated {
    user: u32,
    truth: Vec<String>,
}

#[derive(Deserialize)]
struct Metrics {
    recall: f64,
    ndcg: f64,
    hit_rate: f64,
    map: f64,
    coverage: f64,
    popularity: f64,
}

#[derive(Deserialize)]
struct ModeCase {
    evaluated: Vec<Evaluated>,
    lists: Vec<Vec<u32>>,
    metrics: BTreeMap<String, Metrics>,
}

#[derive(Deserialize)]
struct Fixture {
    events: Vec<(String, String, i64, String)>,
    cutoff: i64,
    end: i64,
    users: Vec<String>,
    items: Vec<String>,
    scores: Vec<Vec<f64>>,
    popularity: Vec<f64>,
    cold_test_users: usize,
    modes: BTreeMap<String, ModeCase>,
}

struct Table<'a>(&'a [Vec<f64>]);

impl Scorer for Table<'_> {
    fn n_items(&self) -> usize {
        self.0[0].len()
    }
    fn score(&self, user: u32, out: &mut [f64]) {
        out.copy_from_slice(&self.0[user as usize]);
    }
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("reference/protocol_fixtures.json")).expect("fixture")
}

fn split_of(f: &Fixture) -> Split {
    let log: Vec<Interaction> = f
        .events
        .iter()
        .map(|(user, item, time, basket)| Interaction {
            user: user.clone(),
            item: item.clone(),
            time: *time,
            basket: basket.clone(),
        })
        .collect();
    Split::new(&log, f.cutoff, Some(f.end))
}

fn close(what: &str, ours: f64, theirs: f64) {
    assert!((ours - theirs).abs() < 1e-12, "{what}: {ours} vs {theirs}");
}

#[test]
fn split_lists_and_metrics_match_the_python_reference() {
    let f = fixture();
    let split = split_of(&f);
    assert_eq!(split.users, f.users);
    assert_eq!(split.items, f.items);
    assert_eq!(split.counts.cold_test_users, f.cold_test_users);
    assert!(
        split.counts.test_unknown_item_pairs >= 1,
        "the late-only item"
    );
    let table = Table(&f.scores);
    for (mode, name) in [(Mode::New, "new"), (Mode::All, "all")] {
        let case = &f.modes[name];
        let evaluated = split.evaluated(mode);
        assert_eq!(evaluated.len(), case.evaluated.len(), "{name}: users");
        for (ours, theirs) in evaluated.iter().zip(&case.evaluated) {
            assert_eq!(ours.user, theirs.user);
            assert_eq!(ours.size, theirs.truth.len());
            let known: Vec<&str> = ours
                .known
                .iter()
                .map(|&i| split.items[i as usize].as_str())
                .collect();
            let theirs_known: Vec<&str> = theirs
                .truth
                .iter()
                .map(String::as_str)
                .filter(|s| split.items.iter().any(|i| i == s))
                .collect();
            assert_eq!(known, theirs_known);
        }
        let users: Vec<u32> = evaluated.iter().map(|e| e.user).collect();
        let lists = top_k(&table, &users, 50, &|u| split.excluded(u, mode));
        for (ours, theirs) in lists.iter().zip(&case.lists) {
            let ids: Vec<u32> = ours.iter().map(|r| r.item).collect();
            assert_eq!(&ids, theirs, "{name}: list");
        }
        for (k, m) in &case.metrics {
            let k: usize = k.parse().unwrap();
            let s = summarize(&evaluated, &lists, k, split.items.len(), &f.popularity);
            close(&format!("{name} recall@{k}"), s.recall, m.recall);
            close(&format!("{name} ndcg@{k}"), s.ndcg, m.ndcg);
            close(&format!("{name} hr@{k}"), s.hit_rate, m.hit_rate);
            close(&format!("{name} map@{k}"), s.map, m.map);
            close(&format!("{name} coverage@{k}"), s.coverage, m.coverage);
            close(
                &format!("{name} popularity@{k}"),
                s.popularity,
                m.popularity,
            );
        }
    }
}

#[test]
fn lists_are_bit_identical_at_1_2_and_7_threads() {
    let f = fixture();
    let split = split_of(&f);
    let table = Table(&f.scores);
    let users: Vec<u32> = (0..split.users.len() as u32).collect();
    let run = |threads| {
        glassbox_core::build_pool(threads)
            .unwrap()
            .install(|| top_k(&table, &users, 7, &|u| split.excluded(u, Mode::New)))
    };
    let one = run(1);
    assert_eq!(one.len(), users.len());
    assert_eq!(one, run(2));
    assert_eq!(one, run(7));
}

#[test]
fn selection_equals_the_full_sort_at_every_k() {
    let f = fixture();
    for row in &f.scores {
        for k in [0, 1, 2, 3, 10, row.len() - 1, row.len(), row.len() + 5] {
            for excluded in [vec![], vec![0, 3, 4], (0..row.len() as u32).collect()] {
                assert_eq!(
                    glassbox_recommend::top_k_of(row, &excluded, k),
                    glassbox_recommend::top_k_of_naive(row, &excluded, k)
                );
            }
        }
    }
}

#[test]
fn both_selection_paths_equal_the_full_sort() {
    // 500 items with scores in 37 values (many ties, broken by id), some excluded; k on
    // both sides of the switch from the kept sorted list to selection.
    let row: Vec<f64> = (0..500u32)
        .map(|i| f64::from((i * 7919) % 37) - 18.0)
        .collect();
    let excluded: Vec<u32> = (0..500).filter(|i| i % 9 == 4).collect();
    for k in [0, 1, 2, 20, 63, 64, 65, 100, 444, 445, 500, 600] {
        for ex in [&[][..], &excluded[..]] {
            assert_eq!(
                glassbox_recommend::top_k_of(&row, ex, k),
                glassbox_recommend::top_k_of_naive(&row, ex, k),
                "k {k}, {} excluded",
                ex.len()
            );
        }
    }
}

#[test]
fn the_block_skip_of_top_k_equals_the_full_sort() {
    // 1,000 items, scores in 11 values with both zeros (ties across a block boundary, −0 against
    // +0 at the k-th), runs of excluded items inside blocks that are skipped, every k up to
    // the kept-list limit: the lists must be the full sort's.
    let row: Vec<f64> = (0..1000u32)
        .map(|i| match (i * 7919) % 11 {
            0 => -0.0,
            1 => 0.0,
            v => f64::from(v) - 5.5,
        })
        .collect();
    let runs: Vec<u32> = (0..1000)
        .filter(|i| (i / 8) % 5 == 2 || i % 13 == 0)
        .collect();
    for k in [1, 2, 7, 8, 9, 20, 63, 64] {
        for ex in [&[][..], &runs[..]] {
            for len in [0, 1, 7, 8, 9, 17, 1000] {
                assert_eq!(
                    glassbox_recommend::top_k_of(&row[..len], ex, k),
                    glassbox_recommend::top_k_of_naive(&row[..len], ex, k),
                    "k {k}, {len} items, {} excluded",
                    ex.len()
                );
            }
        }
    }
}
