//! `glassbox train` with the preprocessing of notes/data.md §11 (D17–D23) on a development
//! table: the flags reach the bundle (recipe and preprocessor), `evaluate` applies them, and
//! a bad value is a usage error.

#[path = "cli/support.rs"]
mod support;

use serde_json::Value;
use support::{Scratch, run};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `glassbox train` on the adult table `train`, target income >50K, one member for one
/// epoch on two threads, then `extra`.
fn train_adult<'a>(train: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        train,
        "--target",
        "income",
        "--positive",
        ">50K",
        "--ensemble",
        "1",
        "--epochs",
        "1",
        "--threads",
        "2",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn robust_clip_indicators_and_rare_levels_travel_in_the_bundle() {
    let s = Scratch::new("feature-options");
    let train = format!("{ROOT}/datasets/tabular/adult_train.csv");
    let schema = format!("{ROOT}/datasets/tabular/adult.schema.toml");
    let out = s.path("run");
    run(&train_adult(
        &train,
        &[
            "--schema",
            &schema,
            "--numeric-scaling",
            "robust-clip",
            "--missing-indicators",
            "true",
            "--rare-min-count",
            "10",
            "--out",
            &out,
        ],
    ))
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

    let bad = s.path("bad");
    run(&train_adult(
        &train,
        &["--numeric-scaling", "log", "--out", &bad],
    ))
    .fails_with(2)
    .stderr_has(&["standard, robust-clip, quantile-normal"]);
}

/// `--wide` (the wide & deep linear term, notes/backprop.md B27–B30) reaches the bundle's
/// recipe and its tensors, `evaluate` scores with it, and it is refused with a BatchEnsemble
/// network.
#[test]
fn wide_term_travels_in_the_bundle_and_is_refused_with_ensemble_k() {
    let s = Scratch::new("feature-options-wide");
    let train = format!("{ROOT}/datasets/tabular/adult_train.csv");
    let out = s.path("run");
    let mut args = train_adult(&train, &["--wide"]);
    args.extend(["--out", &out]);
    run(&args).ok();
    let model = format!("{out}/model.safetensors");
    let json: Value =
        serde_json::from_str(&run(&["inspect", &model, "--json"]).ok().stdout).unwrap();
    assert_eq!(json["info"]["recipe"]["wide"], true);
    let bytes = std::fs::read(&model).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("\"members.0.wide.weight\""));
    let r = run(&["evaluate", &model, &train, "--out", &s.path("eval")]).ok();
    assert!(r.stdout.contains("ROC-AUC"), "{}", r.stdout);

    let bad = s.path("bad");
    let mut args = train_adult(&train, &["--wide"]);
    args.extend(["--ensemble-k", "2", "--out", &bad]);
    run(&args).fails_with(2).stderr_has(&["--wide"]);
}
