//! Helpers shared by the featurizer's integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use glassbox_events::{
    Cutoffs, EventSpec, EventsError, ExampleKey, ExampleSink, FeaturizeReport, Labels, SortedLog,
    TimeFormat, feature_names, featurize,
};

/// Every example of a featurizing pass, by (user, cutoff ms): label and features by name.
pub type Examples = BTreeMap<(u64, i64), (Option<bool>, BTreeMap<String, f64>)>;

/// The RetailRocket spec on an ISO-8601 log with columns `time,user,event,item,txn` and
/// the given cutoffs.
pub fn iso_spec(cutoffs: Cutoffs) -> EventSpec {
    let mut spec = EventSpec::retailrocket_next_hour();
    spec.columns.user = "user".into();
    spec.columns.time = "time".into();
    spec.columns.item = "item".into();
    spec.columns.transaction = Some("txn".into());
    spec.time_format = TimeFormat::Iso8601;
    spec.cutoffs = cutoffs;
    spec
}

/// Unix ms of an ISO-8601 UTC instant (`2020-01-01T06:00:00Z`).
pub fn ms(iso: &str) -> i64 {
    TimeFormat::Iso8601
        .parse_ms(iso.as_bytes())
        .expect("test timestamp")
}

/// Collects every example by key.
struct Collect {
    names: Vec<String>,
    out: Examples,
}

impl ExampleSink for Collect {
    fn accept(&mut self, key: &ExampleKey, features: &[f64]) -> Result<(), EventsError> {
        let named = self
            .names
            .iter()
            .cloned()
            .zip(features.iter().copied())
            .collect();
        self.out
            .insert((key.user, key.cutoff_ms), (key.label, named));
        Ok(())
    }
}

/// Featurizes `text` (an in-memory log named `test.csv`) with `spec`.
pub fn try_examples(
    text: &str,
    spec: &EventSpec,
    labels: Labels,
) -> Result<(Examples, FeaturizeReport), EventsError> {
    let mut log = SortedLog::from_text("test.csv", std::io::Cursor::new(text.to_string()), spec)?;
    let mut sink = Collect {
        names: feature_names(spec),
        out: Examples::new(),
    };
    let report = featurize(&mut log, spec, labels, &mut sink)?;
    Ok((sink.out, report))
}

/// The message of the error [`try_examples`] must return.
pub fn message_of(text: &str, spec: &EventSpec, labels: Labels) -> String {
    match try_examples(text, spec, labels) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}

/// [`try_examples`], which must succeed.
pub fn examples(text: &str, spec: &EventSpec, labels: Labels) -> (Examples, FeaturizeReport) {
    try_examples(text, spec, labels).expect("featurize")
}

/// Asserts that each `(name, value)` equals the example's feature exactly (`==` on `f64`, with
/// a relative 1e-15 allowed for the rates, whose division order may differ from the test's).
pub fn assert_features(example: &BTreeMap<String, f64>, expected: &[(&str, f64)], what: &str) {
    for &(name, value) in expected {
        let ours = *example
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no feature {name}"));
        let close = ours == value || (ours - value).abs() <= 1e-15 * value.abs();
        assert!(close, "{what}: {name} = {ours}, expected {value}");
    }
}
