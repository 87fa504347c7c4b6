//! `glassbox train` with the preprocessing of notes/data.md §11 (D17–D23) on a development
//! table: the flags reach the bundle (recipe and preprocessor), `evaluate` applies them, and
//! a bad value is a usage error.

#[path = "cli/support.rs"]
mod support;

use serde_json::Value;
use support::{Scratch, run};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn robust_clip_indicators_and_rare_levels_travel_in_the_bundle() {
    let s = Scratch::new("feature-options");
    let train = format!("{ROOT}/datasets/tabular/adult_train.csv");
    let schema = format!("{ROOT}/datasets/tabular/adult.schema.toml");
    let out = s.path("run");
    run(&[
        "train",
        &train,
        "--target",
        "income",
        "--positive",
        ">50K",
        "--schema",
        &schema,
        "--numeric-scaling",
        "robust-clip",
        "--missing-indicators",
        "true",
        "--rare-min-count",
        "10",
        "--ensemble",
        "1",
        "--epochs",
        "1",
        "--threads",
        "2",
        "--out",
        &out,
    ])
    .ok();
    let model = format!("{out}/model.safetensors");
    let json: Value =
        serde_json::from_str(&run(&["inspect", &model, "--json"]).ok().stdout).unwrap();
    let features = &json["info"]["recipe"]["features"];
    assert_eq!(features["numeric"], "robust_clip");
    assert_eq!(features["missing_indicators"], true);
    assert_eq!(features["rare_min_count"], 10);
    assert_eq!(json["preprocessor"]["options"], *features);
    let names: Vec<&str> = json["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // `?` in occupation → a <missing> level (D22); Holand-Netherlands (one row) pooled (D23).
    assert!(names.contains(&"occupation=<missing>"), "{names:?}");
    assert!(
        !names.contains(&"native-country=Holand-Netherlands"),
        "{names:?}"
    );
    assert!(names.contains(&"native-country=United-States"), "{names:?}");
    // evaluate re-applies the stored transform to a file it reads afresh.
    let r = run(&["evaluate", &model, &train, "--out", &s.path("eval")]).ok();
    assert!(r.stdout.contains("ROC-AUC"), "{}", r.stdout);

    run(&[
        "train",
        &train,
        "--target",
        "income",
        "--positive",
        ">50K",
        "--numeric-scaling",
        "log",
        "--out",
        &s.path("bad"),
    ])
    .fails_with(2)
    .stderr_has(&["standard, robust-clip, quantile-normal"]);
}
