//! No future leakage: the features at cutoff T are bit-identical whatever the log holds at or
//! after T — events changed, added (also exactly at T, by new and by active users, exact
//! duplicates) or removed. A negative control changes one event just before T and must move a
//! feature, so the comparison can fail.

mod common;

use std::path::PathBuf;

use common::try_examples;
use glassbox_events::{Cutoffs, EventSpec, Labels};

/// Every example at T as (user, cutoff) → feature bits.
type Bits = Vec<((u64, i64), Vec<u64>)>;

/// The features at T when scoring (no labels), or when training (labels looked up in the
/// next hour; only the features are returned).
fn featurize_bits_as(text: &str, t: i64, labels: Labels) -> Bits {
    let mut spec = EventSpec::retailrocket_next_hour();
    spec.cutoffs = Cutoffs::List(vec![t]);
    let (examples, report) = try_examples(text, &spec, labels).expect("featurize");
    assert_eq!(report.cutoffs.len(), 1);
    examples
        .into_iter()
        .map(|(key, (label, features))| {
            assert_eq!(label.is_some(), labels == Labels::Required);
            (key, features.values().map(|v| v.to_bits()).collect())
        })
        .collect()
}

fn featurize_bits(text: &str, t: i64) -> Bits {
    featurize_bits_as(text, t, Labels::Unknown)
}

fn bundled_rows() -> (String, Vec<(i64, Vec<String>)>) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/retailrocket_events.csv");
    let text = std::fs::read_to_string(path).expect("bundled log");
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_string();
    let rows = lines
        .map(|line| {
            let fields: Vec<String> = line.split(',').map(String::from).collect();
            (fields[0].parse().expect("timestamp"), fields)
        })
        .collect();
    (header, rows)
}

fn join(header: &str, rows: &[Vec<String>]) -> String {
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    text
}

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn check_cutoff(t: i64) {
    let (header, rows) = bundled_rows();
    let original: Vec<Vec<String>> = rows.iter().map(|(_, r)| r.clone()).collect();
    let base = featurize_bits(&join(&header, &original), t);
    assert!(base.len() > 1000, "{} examples at {t}", base.len());
    let kinds = ["view", "addtocart", "transaction"];
    let mut rng = Lcg(t as u64);

    // 1. Every event at or after T removed.
    let past: Vec<Vec<String>> = rows
        .iter()
        .filter(|(ts, _)| *ts < t)
        .map(|(_, r)| r.clone())
        .collect();
    assert!(past.len() < original.len());
    assert_eq!(
        featurize_bits(&join(&header, &past), t),
        base,
        "events at or after T removed"
    );

    // 2. Every event at or after T changed: kind, user (often an active one), item, txn.
    let active_users: Vec<u64> = base.iter().map(|((u, _), _)| *u).collect();
    let changed: Vec<Vec<String>> = rows
        .iter()
        .map(|(ts, r)| {
            if *ts < t {
                return r.clone();
            }
            let kind = kinds[rng.below(3) as usize];
            let user = active_users[rng.below(active_users.len() as u64) as usize];
            let txn = if kind == "transaction" {
                rng.below(50).to_string()
            } else {
                String::new()
            };
            vec![
                r[0].clone(),
                user.to_string(),
                kind.into(),
                rng.below(40_000).to_string(),
                txn,
            ]
        })
        .collect();
    let changed = join(&header, &changed);
    assert_eq!(
        featurize_bits(&changed, t),
        base,
        "events at or after T changed"
    );
    let labelled_base = featurize_bits_as(&join(&header, &original), t, Labels::Required);
    assert_eq!(
        labelled_base, base,
        "the look-ahead for labels does not reach the features"
    );
    assert_eq!(
        featurize_bits_as(&changed, t, Labels::Required),
        base,
        "changed, with labels"
    );

    // 3. Events added: exactly at T (purchases by active users, views by new users), later,
    //    and exact duplicates of later rows; inserted at random places in the file.
    let mut added = original.clone();
    for i in 0..2_000u64 {
        let at = match i % 4 {
            0 => t,
            1 => t + rng.below(3_600_000) as i64,
            _ => t + rng.below(400_000_000) as i64,
        };
        let row = if i % 5 == 4 {
            let later: Vec<&(i64, Vec<String>)> = rows.iter().filter(|(ts, _)| *ts >= t).collect();
            match later.get(rng.below(later.len().max(1) as u64) as usize) {
                Some((_, r)) => r.clone(),
                None => continue,
            }
        } else if i % 2 == 0 {
            let user = active_users[rng.below(active_users.len() as u64) as usize];
            vec![
                at.to_string(),
                user.to_string(),
                "transaction".into(),
                "355908".into(),
                i.to_string(),
            ]
        } else {
            let user = 9_000_000 + i;
            vec![
                at.to_string(),
                user.to_string(),
                "view".into(),
                rng.below(40_000).to_string(),
                String::new(),
            ]
        };
        let place = rng.below(added.len() as u64 + 1) as usize;
        added.insert(place, row);
    }
    let added = join(&header, &added);
    assert_eq!(
        featurize_bits(&added, t),
        base,
        "events at or after T added"
    );
    assert_eq!(
        featurize_bits_as(&added, t, Labels::Required),
        base,
        "added, with labels"
    );

    // Negative control: the last event before T becomes a purchase of another item.
    let mut control = original;
    let (last, _) = rows
        .iter()
        .enumerate()
        .filter(|(_, (ts, _))| *ts < t)
        .max_by_key(|(i, (ts, _))| (*ts, *i))
        .expect("an event before T");
    control[last][2] = if control[last][2] == "transaction" {
        "view".into()
    } else {
        "transaction".into()
    };
    control[last][4] = if control[last][2] == "transaction" {
        "777".into()
    } else {
        String::new()
    };
    assert_ne!(
        featurize_bits(&join(&header, &control), t),
        base,
        "a change before T must show"
    );
}

#[test]
fn features_at_a_training_cutoff_ignore_everything_from_t_on() {
    check_cutoff(1_433_228_400_000); // 2015-06-02 07:00 UTC
}

#[test]
fn features_at_a_test_cutoff_ignore_everything_from_t_on() {
    check_cutoff(1_433_433_600_000); // 2015-06-04 16:00 UTC
}
