//! The protocol's sample and split on the bundled log against the data README's table, the
//! probability correction, the spec's serde form and the CSV output.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{examples, iso_spec, ms};
use glassbox_events::{
    CsvLayout, CsvSink, Cutoffs, EventSpec, Labels, Part, Protocol, SortedLog,
    correct_sampled_probability, feature_names, featurize, featurize_protocol,
};

#[test]
fn the_standard_training_sample_and_the_test_day_match_the_readme() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/retailrocket_events.csv");
    let spec = EventSpec::retailrocket_next_hour();
    let protocol = Protocol::retailrocket();
    let (sink, report) = featurize_protocol(&path, &spec, &protocol, true).expect("featurize");
    let visitors = |keys: &[(u64, i64)], y: &[f32], positive_only: bool| {
        let set: BTreeSet<u64> = keys
            .iter()
            .zip(y)
            .filter(|(_, y)| !positive_only || **y == 1.0)
            .map(|(k, _)| k.0)
            .collect();
        set.len()
    };
    let (train, test) = (&sink.train, &sink.test);
    // README: training sample 153,803 examples, 436 positives, 36,791 visitors, 204 positive.
    assert_eq!((train.rows(), train.positives()), (153_803, 436));
    assert_eq!(visitors(&train.keys, &train.y, false), 36_791);
    assert_eq!(visitors(&train.keys, &train.y, true), 204);
    // README: test 617,300 examples, 153 positives, 25,100 visitors, 63 positive.
    assert_eq!((test.rows(), test.positives()), (617_300, 153));
    assert_eq!(visitors(&test.keys, &test.y, false), 25_100);
    assert_eq!(visitors(&test.keys, &test.y, true), 63);
    assert_eq!(test.x.len(), test.rows() * 46);
    // The featurizer cuts k = 143 too (its label window is inside the log); the sink drops it.
    let straddling: usize = report
        .cutoffs
        .iter()
        .filter(|s| protocol.part(s.cutoff_ms) == Part::Excluded)
        .map(|s| s.examples)
        .sum();
    assert_eq!(report.examples - straddling, 1_534_121 + 617_300);
    // The tuning parts of the sample: fit k = 1 … 94, validation k = 96 … 142.
    let fit = protocol.rows_in(train, |p| p == Part::Fit);
    let val = protocol.rows_in(train, |p| p == Part::Validation);
    let k_of = |t: i64| spec.cutoffs.index_of(t).unwrap_or(-1);
    assert!(fit.keys.iter().all(|&(_, t)| (1..=94).contains(&k_of(t))));
    assert!(val.keys.iter().all(|&(_, t)| (96..=142).contains(&k_of(t))));
    assert_eq!((fit.positives(), val.positives()), (286, 150));
}

#[test]
fn the_sample_rule_and_the_probability_correction() {
    let protocol = Protocol::retailrocket();
    // (visitorid + k) mod 10 = 0 keeps a negative; positives are always kept.
    assert!(protocol.in_sample(17, 3, Some(false)));
    assert!(!protocol.in_sample(17, 4, Some(false)));
    assert!(protocol.in_sample(17, 4, Some(true)));
    assert!(!protocol.in_sample(17, 3, None));
    assert!(
        protocol.in_sample(u64::MAX, 5, Some(false)),
        "u64::MAX ends in 5: no overflow"
    );
    // p / (p + 10 (1 − p)): 0.5 → 1/11; 0 and 1 stay.
    assert_eq!(correct_sampled_probability(0.5, 10.0), 0.5 / 5.5);
    assert_eq!(correct_sampled_probability(0.0, 10.0), 0.0);
    assert_eq!(correct_sampled_probability(1.0, 10.0), 1.0);
    // The split around the test start, horizon 1 h.
    let test_start = protocol.test_start_ms;
    assert_eq!(protocol.part(test_start), Part::Test);
    assert_eq!(protocol.part(test_start - 1_800_000), Part::Excluded);
    assert_eq!(protocol.part(test_start - 3_600_000), Part::Validation);
    let val_start = protocol.validation_start_ms;
    assert_eq!(protocol.part(val_start - 1_800_000), Part::TrainOnly);
    assert_eq!(protocol.part(val_start - 3_600_000), Part::Fit);
}

#[test]
fn the_spec_round_trips_through_serde_with_readable_durations() {
    let spec = EventSpec::retailrocket_next_hour();
    let json = serde_json::to_value(&spec).expect("serialise");
    assert_eq!(json["horizon"], "1h");
    assert_eq!(
        json["count_windows"],
        serde_json::json!(["1h", "6h", "24h", "all"])
    );
    assert_eq!(json["cutoffs"]["every"]["step"], "30m");
    let back: EventSpec = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, spec);
}

#[test]
fn csv_output_holds_keys_features_and_labels() {
    let log = "time,user,event,item,txn\n\
               2020-01-01T10:00:00Z,5,view,1,\n\
               2020-01-01T10:20:00Z,5,transaction,1,a\n\
               2020-01-01T10:40:00Z,6,view,1,\n\
               2020-01-01T12:00:00Z,7,view,1,\n";
    let t = ms("2020-01-01T10:10:00Z");
    let spec = iso_spec(Cutoffs::List(vec![t]));
    let names = feature_names(&spec);

    // The matrix (f32) written by write_csv.
    let (matrix, _) = glassbox_events::featurize_to_matrix(
        &write_tmp("csv_in.csv", log),
        &spec,
        Labels::Required,
    )
    .expect("featurize");
    let mut out = Vec::new();
    matrix
        .write_csv(&mut out, "mem", &CsvLayout::default())
        .expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert_eq!(header, format!("user,cutoff_ms,{},label", names.join(",")));
    let row: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    assert_eq!(
        (row[0], row[1], row[row.len() - 1]),
        ("5", "1577873400000", "1")
    );
    assert_eq!(
        &row[2..6],
        ["1", "1", "1", "1"],
        "n_view_*: one view in every window"
    );
    assert!(lines.next().is_none());

    // The streaming sink writes the same in full f64 precision, here without keys.
    let layout = CsvLayout {
        user_column: None,
        ..CsvLayout::default()
    };
    let mut streamed = Vec::new();
    let mut sink = CsvSink::new(&mut streamed, "mem", &layout, &names).expect("header");
    let mut sorted =
        SortedLog::from_text("log", std::io::Cursor::new(log.to_string()), &spec).expect("log");
    featurize(&mut sorted, &spec, Labels::Required, &mut sink).expect("featurize");
    sink.finish().expect("flush");
    let text = String::from_utf8(streamed).expect("utf-8");
    let values: Vec<f64> = text
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    let (ex, _) = examples(log, &spec, Labels::Required);
    let expected: Vec<f64> = names.iter().map(|n| ex[&(5, t)].1[n]).collect();
    assert_eq!(
        values[..names.len()],
        expected[..],
        "f64 features written exactly"
    );
    assert_eq!(values[names.len()], 1.0);
}

fn write_tmp(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("write temp log");
    path
}
