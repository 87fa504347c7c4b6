//! `audit::fairness`: per-group metrics and gaps against scikit-learn/pandas/fairlearn
//! (tests/reference/fairness_fixtures.json, made by tests/reference/make_fairness_fixtures.py)
//! to 1e-9, and the CSV path with its errors.

#[path = "../crates/data/tests/support/mod.rs"]
mod data_support;
#[path = "audit/support.rs"]
mod support;

use data_support::{Scratch, dataset};
use glassbox_app::audit::fairness::{
    EMPTY_GROUP, FairnessConfig, FairnessReport, Gaps, GroupMetrics, fairness_by_group,
    fairness_csv, group_labels,
};
use glassbox_app::audit::{AuditError, Classifier, Format};
use glassbox_data::{RawTable, ReadOptions};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/fairness_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A float written as its repr string; `null` is `None`.
fn num(v: &Value) -> Option<f64> {
    v.as_str().map(|s| s.parse().unwrap())
}

thread_local! {
    /// The largest |difference| seen by `close`, for the test's log.
    static WORST: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

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

fn from_fixture(fx: &Value) -> FairnessReport {
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
fn reports_render_and_plot() {
    let report = from_fixture(&fixture());
    let text = report.render(Format::Text).unwrap();
    assert!(text.contains("too small: 25 rows < 30"), "{text}");
    assert!(text.contains("0 positives < 5"), "{text}");
    assert!(
        text.contains("groups large enough to judge (3 groups)"),
        "{text}"
    );
    let md = report.render(Format::Markdown).unwrap();
    assert!(md.starts_with("# Fairness by group"));
    assert!(md.contains("| group | n | positives |"));
    let json: Value = serde_json::from_str(&report.render(Format::Json).unwrap()).unwrap();
    assert_eq!(json["groups"][4]["tpr"], Value::Null);
    assert_eq!(json["groups"][0]["flagged"], false);
    let scratch = Scratch::new("audit-fairness-plot");
    let files = report.plot(&scratch.path("by_group")).unwrap();
    assert!(files.svg.exists() && files.png.exists());
    assert_eq!(files.notes, ["2 non-finite value(s) not drawn"]);
}

#[test]
fn fairness_of_a_model_by_a_csv_column() {
    let (mlp, pre, _) = support::trained_shoppers_model();
    let mlp = Classifier::single(&mlp).unwrap();
    let path = dataset("online_shoppers_test.csv");
    let config = FairnessConfig::default();
    let report = fairness_csv(
        &mlp,
        &pre,
        &path,
        &ReadOptions::default(),
        "VisitorType",
        &config,
    )
    .unwrap();
    eprintln!("{}", report.render(Format::Text).unwrap());
    let names: Vec<&str> = report.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, ["New_Visitor", "Other", "Returning_Visitor"]);
    assert_eq!(report.groups.iter().map(|g| g.count).sum::<usize>(), 2466);
    assert_eq!(report.rows, 2466);
    let returning = &report.groups[2];
    assert!(
        !returning.flagged && returning.roc_auc.unwrap() > 0.8,
        "{returning:?}"
    );
    // Region: nine groups, in numeric order.
    let by_region = fairness_csv(
        &mlp,
        &pre,
        &path,
        &ReadOptions::default(),
        "Region",
        &config,
    )
    .unwrap();
    assert_eq!(by_region.groups.len(), 9);
    assert_eq!(by_region.groups[0].group, "1");
    assert_eq!(by_region.groups[8].group, "9");
}

#[test]
fn bad_input_is_an_error() {
    let (mlp, pre, _) = support::trained_shoppers_model();
    let mlp = Classifier::single(&mlp).unwrap();
    let path = dataset("online_shoppers_test.csv");
    let config = FairnessConfig::default();
    let opts = ReadOptions::default();
    let e = fairness_csv(&mlp, &pre, &path, &opts, "Visitor", &config).unwrap_err();
    assert!(matches!(e, AuditError::UnknownColumn { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("no column \"Visitor\" for --by"), "{msg}");
    assert!(msg.contains("\"VisitorType\""), "{msg}");
    // A numeric measurement is not a grouping.
    let e = fairness_csv(&mlp, &pre, &path, &opts, "PageValues", &config).unwrap_err();
    assert!(
        e.to_string()
            .contains("distinct values; a grouping needs at most 50"),
        "{e}"
    );
    // A file without a column the model reads: the data layer's error, naming it.
    let scratch = Scratch::new("audit-fairness-bad");
    let text = std::fs::read_to_string(&path).unwrap();
    let cut: String = text
        .lines()
        .take(40)
        .map(|l| l.split(',').skip(1).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let no_admin = scratch.file("cut.csv", cut);
    let e = fairness_csv(&mlp, &pre, &no_admin, &opts, "VisitorType", &config).unwrap_err();
    assert!(matches!(e, AuditError::Data(_)), "{e}");
    assert!(
        e.to_string().contains("no column \"Administrative\""),
        "{e}"
    );
    // A model of another width.
    let other = Classifier::single(&support::classifier::<f32>(3, 2, 0)).unwrap();
    let e = fairness_csv(&other, &pre, &path, &opts, "VisitorType", &config).unwrap_err();
    assert!(matches!(e, AuditError::Model(_)), "{e}");
    // Empty cells form their own group; lengths must agree.
    let raw = RawTable::from_reader(
        std::io::Cursor::new("g,y\na,1\n,0\na,0\n"),
        "mem.csv",
        &opts,
    )
    .unwrap();
    assert_eq!(group_labels(&raw, "g").unwrap(), ["a", EMPTY_GROUP, "a"]);
    let e = fairness_by_group("g", &["a".into()], &[true, false], &[0.1, 0.2], &config);
    assert!(matches!(e, Err(AuditError::InvalidOption { .. })));
    let e = fairness_by_group("g", &["a".into()], &[true], &[1.5], &config).unwrap_err();
    assert!(e.to_string().contains("outside [0, 1]"), "{e}");
}
