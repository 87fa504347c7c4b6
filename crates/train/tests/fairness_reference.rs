//! `glassbox_train::metrics::fairness`: per-group metrics and gaps against
//! scikit-learn/pandas/fairlearn (tests/reference/fairness_fixtures.json, made by
//! tests/reference/make_fairness_fixtures.py) to 1e-9, and inconsistent input.
//! (`cargo test -p glassbox-train --test fairness_reference`.)

mod fairness_fixture;

use fairness_fixture::{fixture, from_fixture, num};
use glassbox_train::metrics::fairness::{
    FairnessConfig, FairnessError, Gaps, GroupMetrics, fairness_by_group,
};
use serde_json::Value;

thread_local! {
    /// The largest |difference| seen by `close`, for the test's log.
    static WORST: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Asserts `got` within 1e-9 of the fixture's `want` (`null` = `None`).
fn close(what: &str, got: Option<f64>, want: &Value) {
    match (got, num(want)) {
        (Some(g), Some(w)) => {
            assert!((g - w).abs() <= 1e-9, "{what}: {g} vs {w}");
            WORST.with(|m| m.set(m.get().max((g - w).abs())));
        }
        (None, None) => {}
        (g, w) => panic!("{what}: {g:?} vs {w:?}"),
    }
}

fn check_group(g: &GroupMetrics, want: &Value) {
    let w = |k: &str| &want[k];
    assert_eq!(g.group, w("group").as_str().unwrap());
    let count = |k: &str| w(k).as_u64().unwrap() as usize;
    assert_eq!(
        (g.count, g.positives, g.tp, g.fp, g.tn, g.fn_),
        (
            count("count"),
            count("positives"),
            count("tp"),
            count("fp"),
            count("tn"),
            count("fn")
        ),
        "group {}",
        g.group
    );
    let name = |k: &str| format!("group {} {k}", g.group);
    close(
        &name("positive_rate"),
        Some(g.positive_rate),
        w("positive_rate"),
    );
    close(
        &name("predicted_positive_rate"),
        Some(g.predicted_positive_rate),
        w("predicted_positive_rate"),
    );
    close(&name("tpr"), g.tpr, w("tpr"));
    close(&name("fpr"), g.fpr, w("fpr"));
    close(&name("precision"), g.precision, w("precision"));
    close(&name("roc_auc"), g.roc_auc, w("roc_auc"));
    close(
        &name("mean_predicted"),
        Some(g.mean_predicted),
        w("mean_predicted"),
    );
    close(
        &name("calibration_gap"),
        Some(g.calibration_gap),
        w("calibration_gap"),
    );
    close(&name("ece"), Some(g.ece), w("ece"));
    assert_eq!(
        g.flagged,
        w("flagged").as_bool().unwrap(),
        "group {}",
        g.group
    );
    let reasons: Vec<&str> = w("flag_reasons")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(g.flag_reasons, reasons, "group {}", g.group);
}

fn check_gaps(what: &str, got: &Gaps, want: &Value) {
    if let Some(n) = want["groups"].as_u64() {
        assert_eq!(got.groups, n as usize, "{what}");
    }
    close(
        &format!("{what} DP"),
        got.demographic_parity_difference,
        &want["demographic_parity_difference"],
    );
    close(
        &format!("{what} EO"),
        got.equalized_odds_difference,
        &want["equalized_odds_difference"],
    );
    if want.get("tpr_gap").is_some() {
        close(&format!("{what} TPR gap"), got.tpr_gap, &want["tpr_gap"]);
        close(&format!("{what} FPR gap"), got.fpr_gap, &want["fpr_gap"]);
    }
}

#[test]
fn every_group_metric_and_gap_matches_the_reference() {
    let fx = fixture();
    let report = from_fixture(&fx);
    let want = fx["groups"].as_array().unwrap();
    // Numeric order of the group labels: 1, 2, 3, 4, 5, 6, 10.
    let order: Vec<&str> = report.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(order, ["1", "2", "3", "4", "5", "6", "10"]);
    assert_eq!(report.groups.len(), want.len());
    for (g, w) in report.groups.iter().zip(want) {
        check_group(g, w);
    }
    check_gaps("all groups", &report.all_groups, &fx["all_groups"]);
    check_gaps("judged groups", &report.judged_groups, &fx["judged_groups"]);
    // fairlearn itself, on the groups large enough to judge (and on all groups, where it
    // agrees here because group 6 has a true TPR of 0).
    check_gaps(
        "fairlearn judged",
        &report.judged_groups,
        &fx["fairlearn_judged_groups"],
    );
    check_gaps(
        "fairlearn all",
        &report.all_groups,
        &fx["fairlearn_all_groups"],
    );
    // The undefined cases are None, never 0 or NaN.
    let by = |name: &str| report.groups.iter().find(|g| g.group == name).unwrap();
    assert_eq!((by("5").tpr, by("5").roc_auc), (None, None));
    assert_eq!(by("6").precision, None);
    assert_eq!(report.judged_groups.groups, 3);
    assert_eq!(report.rows, 706);
    eprintln!(
        "largest |glassbox − reference| over every compared value: {:e}",
        WORST.with(|m| m.get())
    );
}

#[test]
fn inconsistent_input_is_an_error() {
    let config = FairnessConfig::default();
    let e = fairness_by_group("g", &["a".into()], &[true, false], &[0.1, 0.2], &config);
    assert!(matches!(e, Err(FairnessError::InvalidInput { .. })));
    let e = fairness_by_group("g", &["a".into()], &[true], &[1.5], &config).unwrap_err();
    assert!(e.to_string().contains("outside [0, 1]"), "{e}");
}

#[test]
fn decisions_of_another_rule_set_the_rates_and_the_scores_the_rest() {
    use glassbox_train::metrics::fairness::fairness_by_group_decided;
    let groups: Vec<String> = ["a", "a", "a", "b", "b", "b"].map(String::from).to_vec();
    let labels = [true, false, true, true, false, false];
    let scores = [0.9, 0.6, 0.2, 0.7, 0.4, 0.1];
    let config = FairnessConfig::default();
    let plain = fairness_by_group("g", &groups, &labels, &scores, &config).unwrap();
    // The rule `score ≥ 0.5` as decisions: the same report.
    let same: Vec<bool> = scores.iter().map(|&s| s >= config.threshold).collect();
    let decided =
        fairness_by_group_decided("g", &groups, &labels, &scores, &same, &config).unwrap();
    assert_eq!(decided.groups, plain.groups);
    // Other decisions (e.g. a cost rule alerting on the cheap-to-review row 2 of group a
    // and nothing in b): the counts follow them, ROC-AUC and calibration do not.
    let alerts = [true, false, true, false, false, false];
    let other =
        fairness_by_group_decided("g", &groups, &labels, &scores, &alerts, &config).unwrap();
    let (a, b) = (&other.groups[0], &other.groups[1]);
    assert_eq!((a.tp, a.fp, a.tn, a.fn_), (2, 0, 1, 0));
    assert_eq!((b.tp, b.fp, b.tn, b.fn_), (0, 0, 2, 1));
    assert_eq!(a.tpr, Some(1.0));
    assert_eq!(b.tpr, Some(0.0));
    assert_eq!(a.roc_auc, plain.groups[0].roc_auc);
    assert_eq!(a.ece, plain.groups[0].ece);
    assert!(
        fairness_by_group_decided("g", &groups, &labels, &scores, &alerts[..5], &config).is_err()
    );
}
