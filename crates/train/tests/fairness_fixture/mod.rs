//! The fairness fixture (crates/train/tests/reference/fairness_fixtures.json, made by
//! make_fairness_fixtures.py beside it with scikit-learn, pandas and fairlearn): shared by
//! tests/fairness_reference.rs (`mod fairness_fixture;`) and, through `#[path]`, by the
//! app's report tests; a folder module, so not a test target of its own.

#![allow(dead_code)]

use glassbox_train::metrics::fairness::{FairnessConfig, FairnessReport, fairness_by_group};
use serde_json::Value;

/// The fixture (the path works from any crate of crates/, so the app's report test reads
/// it too).
pub fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../train/tests/reference/fairness_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A float written as its repr string; `null` is `None`.
pub fn num(v: &Value) -> Option<f64> {
    v.as_str().map(|s| s.parse().unwrap())
}

/// The fixture's rows evaluated with its (default) settings.
pub fn from_fixture(fx: &Value) -> FairnessReport {
    let rows = &fx["rows"];
    let groups: Vec<String> = rows["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    let labels: Vec<bool> = rows["label"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64() == Some(1))
        .collect();
    let scores: Vec<f64> = rows["score"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| num(v).unwrap())
        .collect();
    let c = &fx["config"];
    let config = FairnessConfig {
        threshold: num(&c["threshold"]).unwrap(),
        min_rows: c["min_rows"].as_u64().unwrap() as usize,
        min_positives: c["min_positives"].as_u64().unwrap() as usize,
        min_negatives: c["min_negatives"].as_u64().unwrap() as usize,
        calibration_bins: c["calibration_bins"].as_u64().unwrap() as usize,
    };
    assert_eq!(
        config,
        FairnessConfig::default(),
        "the fixture uses the defaults"
    );
    fairness_by_group("group", &groups, &labels, &scores, &config).unwrap()
}
