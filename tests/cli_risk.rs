//! Risk control end to end (issue 15): `train`/`evaluate`/`predict` with datetime columns
//! and derived features from command-line flags on generated files, bad datetimes named by
//! line and column, and `case-study risk`'s outputs.

#[path = "cli/support.rs"]
mod support;

use serde_json::Value;
use support::{Lcg, Scratch, run};

/// Purchases with sign-up and purchase times (ISO with a zone in `signup`, a pattern in
/// `bought`), a device shared by fraudulent bursts, and a fraud label that follows the
/// instant purchases and the shared devices.
fn purchases(rows: usize, seed: u64, offset: usize) -> String {
    let mut g = Lcg::new(seed);
    let mut s = String::from("user,signup,bought,value,device,fraud\n");
    for i in 0..rows {
        let burst = g.next() < 0.15;
        let device = if burst {
            format!("D{}", (i + offset) / 4)
        } else {
            format!("U{}", i + offset)
        };
        let gap_min = if burst && g.next() < 0.7 {
            0
        } else {
            (g.next() * 10_000.0) as u64
        };
        let day = 1 + (g.next() * 27.0) as u64;
        let hour = (g.next() * 24.0) as u64;
        let signup = format!("2015-03-{day:02}T{hour:02}:00:00+01:00");
        // `bought` is written in UTC as M/D/YY H:MM; signup in UTC is one hour earlier.
        let t = (day * 24 + hour) * 60 - 60 + gap_min;
        let (d, h, m) = (t / 1440, (t % 1440) / 60, t % 60);
        let bought = if d <= 31 {
            format!("3/{d}/15 {h}:{m:02}")
        } else {
            format!("4/{}/15 {h}:{m:02}", d - 31)
        };
        let fraud = burst && (gap_min == 0 || g.next() < 0.5);
        let value = 10 + (g.next() * 90.0) as u64;
        s.push_str(&format!(
            "{},{signup},{bought},{value},{device},{}\n",
            i + offset,
            u8::from(fraud)
        ));
    }
    s
}

#[test]
fn train_evaluate_predict_with_datetimes_and_derived_features_from_flags() {
    let s = Scratch::new("risk_flags");
    let train = s.file("train.csv", purchases(600, 1, 0));
    let test = s.file("test.csv", purchases(200, 2, 10_000));
    let model_dir = s.path("model");
    let flags = [
        "--target",
        "fraud",
        "--positive",
        "1",
        "--drop",
        "user,device,signup,bought",
        "--datetime",
        "bought=%m/%d/%y %H:%M",
        "--derive",
        "gap=seconds_between(signup,bought)",
        "--derive",
        "quick=at_most(gap,60)",
        "--derive",
        "hour=hour_of_day(bought,cyclic)",
        "--derive",
        "dow=day_of_week(bought)",
        "--derive",
        "users=count_by_key(device)",
        "--log1p",
        "gap,users",
        "--epochs",
        "3",
        "--ensemble",
        "1",
    ];
    let mut args = vec!["train", &train, "--out", &model_dir, "--quiet"];
    args.extend(flags);
    run(&args).ok();
    let model = format!("{model_dir}/model.safetensors");
    let inspect = run(&["inspect", &model]).ok().stdout;
    for column in ["gap ", "quick ", "hour_sin ", "hour_cos ", "users "] {
        assert!(inspect.contains(column), "no input {column}:\n{inspect}");
    }
    // Day of week as a category: 7 days and the unknown bucket.
    assert!(inspect.contains("dow (categorical, 8 one-hot"), "{inspect}");
    for id in ["user", "device"] {
        assert!(
            !inspect.contains(&format!("  {id} (")),
            "identifier {id} is an input:\n{inspect}"
        );
    }
    let eval_dir = s.path("eval");
    run(&["evaluate", &model, &test, "--out", &eval_dir, "--quiet"]).ok();
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{eval_dir}/metrics.json")).unwrap())
            .unwrap();
    assert!(metrics.to_string().contains("roc_auc"));
    let pred = s.path("pred.csv");
    run(&["predict", &model, &test, "--out", &pred, "--quiet"]).ok();
    assert_eq!(std::fs::read_to_string(&pred).unwrap().lines().count(), 201);
    // A bad datetime in the scored file: exit 2, the file, line and column named.
    let bad = purchases(5, 3, 20_000).replacen("2015-03-", "2015-13-", 1);
    let bad = s.file("bad.csv", bad);
    run(&[
        "predict",
        &model,
        &bad,
        "--out",
        &s.path("bad_pred.csv"),
        "--quiet",
    ])
    .fails_with(2)
    .stderr_has(&["bad.csv, line 2, column 2 (\"signup\")", "2015-13-"]);
    assert!(!std::path::Path::new(&s.path("bad_pred.csv")).exists());
}

#[test]
fn case_study_risk_writes_the_test_metrics_and_the_report() {
    let s = Scratch::new("risk_case");
    let out = s.path("risk");
    run(&["case-study", "risk", "--quick", "--out", &out, "--quiet"]).ok();
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/metrics.json")).unwrap())
            .unwrap();
    for key in ["roc_auc", "pr_auc", "recall_at_1pct_fpr"] {
        let v = m["test"][key].as_f64().unwrap_or(f64::NAN);
        assert!((0.5..=1.0).contains(&v), "{key} = {v}");
    }
    let cost = m["test"]["expected_cost"].as_f64().unwrap_or(f64::NAN);
    // Between a perfect model ($4,830) and approving everything ($36,941) on the test file.
    assert!(cost > 4_830.0 && cost < 36_941.0, "cost {cost}");
    let features: Vec<&str> = m["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(features.contains(&"device_users") && features.contains(&"quick_purchase"));
    assert!(
        !features
            .iter()
            .any(|f| f.starts_with("user_id") || f.starts_with("device_id"))
    );
    let report = std::fs::read_to_string(format!("{out}/report.md")).unwrap();
    for section in [
        "## Data checks",
        "## Engineered features and what they buy",
        "## Against the best peer: paired bootstrap",
        "## Fairness across sex and age bands",
        "# Fairness by age band",
    ] {
        assert!(report.contains(section), "no section {section}");
    }
    assert!(std::path::Path::new(&format!("{out}/plots/cost-curve.svg")).exists());
}
