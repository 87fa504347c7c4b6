//! The bundled RetailRocket log against the data README's reference featurizer
//! (`tests/reference/`, copied from `next_hour_reference/`): examples and positives of all 191
//! cutoffs, and all 46 features of the 22 golden examples.

use std::collections::BTreeMap;
use std::path::PathBuf;

use glassbox_events::{
    EventSpec, EventsError, ExampleKey, ExampleSink, Labels, Part, Protocol, SortedLog,
    feature_names, featurize,
};

fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn log_path() -> PathBuf {
    manifest_path("../../datasets/retailrocket_events.csv")
}

fn read_csv(rel: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(manifest_path(rel)).expect("reference file");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("record").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// A golden example's label and features, once cut.
type Cut = Option<(bool, Vec<f64>)>;

/// Keeps the features of the golden (user, cutoff) pairs, and counts every example.
struct GoldenSink {
    wanted: BTreeMap<(u64, i64), Cut>,
    counts: BTreeMap<i64, (usize, usize)>,
}

impl ExampleSink for GoldenSink {
    fn wants(&mut self, key: &ExampleKey) -> bool {
        let count = self.counts.entry(key.cutoff_ms).or_default();
        count.0 += 1;
        count.1 += usize::from(key.label == Some(true));
        self.wanted.contains_key(&(key.user, key.cutoff_ms))
    }

    fn accept(&mut self, key: &ExampleKey, features: &[f64]) -> Result<(), EventsError> {
        let label = key.label.expect("labelled");
        self.wanted
            .insert((key.user, key.cutoff_ms), Some((label, features.to_vec())));
        Ok(())
    }
}

/// Largest allowed |ours − reference| for a reference written as `text`: exact for integers,
/// half a unit in the last of 10 significant digits for other floats; seconds are written to
/// the millisecond, so half a millisecond (with a hair for binary rounding).
fn tolerance(name: &str, text: &str, reference: f64) -> f64 {
    if !text.contains(['.', 'e', 'E']) {
        return 0.0;
    }
    if name.starts_with("s_since") || name == "ls_duration_s" {
        return 0.0005 + 1e-9;
    }
    let exponent = reference.abs().log10().floor();
    0.5 * 10f64.powf(exponent - 9.0) * (1.0 + 1e-9)
}

#[test]
fn cutoff_counts_and_golden_features_match_the_reference() {
    let spec = EventSpec::retailrocket_next_hour();
    let names = feature_names(&spec);
    let (gold_header, gold_rows) = read_csv("tests/reference/golden_examples.csv");
    assert_eq!(
        &gold_header[4..],
        &names[..],
        "feature names and order are the reference's"
    );
    assert_eq!(names.len(), 46);

    let mut sink = GoldenSink {
        wanted: BTreeMap::new(),
        counts: BTreeMap::new(),
    };
    for row in &gold_rows {
        sink.wanted.insert(
            (
                row[2].parse().expect("user"),
                row[0].parse().expect("cutoff"),
            ),
            None,
        );
    }
    let mut log = SortedLog::open(&log_path(), &spec).expect("open log");
    let report = featurize(&mut log, &spec, Labels::Required, &mut sink).expect("featurize");

    // The log as the README describes it.
    assert_eq!(report.log.rows, 93_661);
    assert_eq!(report.log.duplicates_dropped, 8);
    assert_eq!(report.log.users, 50_777);
    assert_eq!(report.log.items, 37_645);
    assert_eq!(report.log.transactions, 632);
    assert!(report.log.rows_out_of_order > 0 && report.log.sorted_in_memory);
    assert_eq!(report.log_end_ms, 1_433_484_000_000, "2015-06-05 06:00 UTC");

    // Every cutoff: k = 1 … 191, the split, examples and positives.
    let (_, count_rows) = read_csv("tests/reference/cutoff_counts.csv");
    assert_eq!(count_rows.len(), 191);
    assert_eq!(report.cutoffs.len(), 191);
    let protocol = Protocol::retailrocket();
    for (k, (row, summary)) in count_rows.iter().zip(&report.cutoffs).enumerate() {
        let t: i64 = row[0].parse().expect("cutoff_ms");
        assert_eq!(
            (summary.cutoff_ms, summary.index),
            (t, k as i64 + 1),
            "cutoff {}",
            row[1]
        );
        let part = protocol.part(t);
        match row[2].as_str() {
            "train" => assert!(part.is_train(), "{}: {part:?}", row[1]),
            "test" => assert_eq!(part, Part::Test, "{}", row[1]),
            "excluded" => {
                assert!(
                    part == Part::Excluded || !summary.labelled,
                    "{}: {part:?}",
                    row[1]
                );
                assert_eq!(row[3], "");
                continue;
            }
            other => panic!("unknown split {other}"),
        }
        assert!(summary.labelled, "{}", row[1]);
        let expected: (usize, usize) = (
            row[3].parse().expect("examples"),
            row[4].parse().expect("positives"),
        );
        assert_eq!(
            (summary.examples, summary.positives),
            expected,
            "cutoff {}",
            row[1]
        );
        assert_eq!(
            sink.counts.get(&t).copied().unwrap_or_default(),
            expected,
            "sink at {}",
            row[1]
        );
    }
    let part_total = |keep: fn(Part) -> bool| -> (usize, usize) {
        report
            .cutoffs
            .iter()
            .filter(|s| s.labelled && keep(protocol.part(s.cutoff_ms)))
            .fold((0, 0), |(e, p), s| (e + s.examples, p + s.positives))
    };
    assert_eq!(part_total(Part::is_train), (1_534_121, 436));
    assert_eq!(part_total(|p| p == Part::Test), (617_300, 153));
    assert_eq!(part_total(|p| p == Part::Fit), (891_797, 286));
    assert_eq!(part_total(|p| p == Part::Validation), (628_959, 150));

    // The 22 golden examples, all 46 features.
    let (mut worst_abs, mut worst_rel) = ((0.0f64, String::new()), (0.0f64, String::new()));
    let (mut rounded_equal, mut compared) = (0, 0);
    for row in &gold_rows {
        let key = (
            row[2].parse::<u64>().expect("user"),
            row[0].parse::<i64>().expect("cutoff"),
        );
        let Some(Some((label, ours))) = sink.wanted.get(&key) else {
            panic!("golden example {key:?} was not cut");
        };
        assert_eq!(*label, row[3] == "1", "label of {key:?}");
        for (j, name) in names.iter().enumerate() {
            let text = &row[4 + j];
            let reference: f64 = text.parse().expect("number");
            let diff = (ours[j] - reference).abs();
            let what = format!("{name} of user {} at {}", key.0, row[1]);
            assert!(
                diff <= tolerance(name, text, reference),
                "{what}: ours {} reference {text}",
                ours[j]
            );
            // Rounded as the reference writes it: 10 significant digits, seconds to the ms.
            let rounded: f64 = if tolerance(name, text, reference) > 0.0004 {
                (ours[j] * 1000.0).round() / 1000.0
            } else {
                format!("{:.9e}", ours[j]).parse().unwrap_or(f64::NAN)
            };
            rounded_equal += usize::from(rounded == reference);
            compared += 1;
            if diff > worst_abs.0 {
                worst_abs = (diff, what.clone());
            }
            if reference != 0.0 && diff / reference.abs() > worst_rel.0 {
                worst_rel = (diff / reference.abs(), what);
            }
        }
    }
    println!(
        "{rounded_equal} of {compared} values, rounded as written, equal the reference's text"
    );
    assert_eq!(
        (rounded_equal, compared),
        (22 * 46, 22 * 46),
        "every value rounds to the reference's text"
    );
    println!(
        "largest absolute difference {:e} ({})",
        worst_abs.0, worst_abs.1
    );
    println!(
        "largest relative difference {:e} ({})",
        worst_rel.0, worst_rel.1
    );
}
