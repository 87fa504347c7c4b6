//! `glassbox_audit::fairness`: the fairness of a model by a CSV column — its groups, the
//! bundle's probabilities, the CSV path's errors. (The metrics per group against the
//! scikit-learn/fairlearn fixture are checked where they are computed:
//! crates/train/tests/fairness_reference.rs.)

#[path = "../../data/tests/support/mod.rs"]
mod data_support;
mod support;

use data_support::{Scratch, dataset};
use glassbox_audit::AuditError;
use glassbox_audit::fairness::{EMPTY_GROUP, fairness_csv, group_labels};
use glassbox_data::{RawTable, ReadOptions};
use glassbox_train::metrics::fairness::FairnessConfig;

#[test]
fn fairness_of_a_model_by_a_csv_column() {
    let (mlp, pre, _) = support::trained_shoppers_model();
    let mlp = std::slice::from_ref(&mlp);
    let path = dataset("online_shoppers_test.csv");
    let config = FairnessConfig::default();
    let report = fairness_csv(
        mlp,
        &pre,
        &path,
        &ReadOptions::default(),
        "VisitorType",
        &config,
    )
    .unwrap();
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
    let by_region =
        fairness_csv(mlp, &pre, &path, &ReadOptions::default(), "Region", &config).unwrap();
    assert_eq!(by_region.groups.len(), 9);
    assert_eq!(by_region.groups[0].group, "1");
    assert_eq!(by_region.groups[8].group, "9");
}

#[test]
fn bad_input_is_an_error() {
    let (mlp, pre, _) = support::trained_shoppers_model();
    let mlp = std::slice::from_ref(&mlp);
    let path = dataset("online_shoppers_test.csv");
    let config = FairnessConfig::default();
    let opts = ReadOptions::default();
    let e = fairness_csv(mlp, &pre, &path, &opts, "Visitor", &config).unwrap_err();
    assert!(matches!(e, AuditError::UnknownColumn { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("no column \"Visitor\" for --by"), "{msg}");
    assert!(msg.contains("\"VisitorType\""), "{msg}");
    // A numeric measurement is not a grouping.
    let e = fairness_csv(mlp, &pre, &path, &opts, "PageValues", &config).unwrap_err();
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
    let e = fairness_csv(mlp, &pre, &no_admin, &opts, "VisitorType", &config).unwrap_err();
    assert!(matches!(e, AuditError::Data(_)), "{e}");
    assert!(
        e.to_string().contains("no column \"Administrative\""),
        "{e}"
    );
    // A model of another width.
    let other = [support::classifier::<f32>(3, 2, 0)];
    let e = fairness_csv(&other, &pre, &path, &opts, "VisitorType", &config).unwrap_err();
    assert!(matches!(e, AuditError::Model(_)), "{e}");
    // Empty cells form their own group.
    let raw = RawTable::from_reader(
        std::io::Cursor::new("g,y\na,1\n,0\na,0\n"),
        "mem.csv",
        &opts,
    )
    .unwrap();
    assert_eq!(group_labels(&raw, "g").unwrap(), ["a", EMPTY_GROUP, "a"]);
}
