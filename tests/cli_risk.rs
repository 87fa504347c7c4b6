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
    let mut args = vec!["train", &train, "--out", &model_dir];
    args.extend(risk_flags(&[
        "--derive",
        "quick=at_most(gap,60)",
        "--derive",
        "hour=hour_of_day(bought,cyclic)",
        "--derive",
        "dow=day_of_week(bought)",
        "--log1p",
        "gap,users",
    ]));
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
    // Five seeds of the engineered model, the run's first: its values are the `test` ones.
    assert_eq!(m["seeds"]["seeds"], serde_json::json!([0, 1, 2, 3, 4]));
    let seeds = m["seeds"]["metrics"].as_array().unwrap();
    let roc = seeds.iter().find(|s| s["metric"] == "roc_auc").unwrap();
    assert_eq!(roc["values"].as_array().unwrap().len(), 5);
    assert_eq!(roc["values"][0], m["test"]["roc_auc"]);
    // The fairness groups are judged at the cost decision.
    assert!(
        m["fairness"][0]["source"]
            .as_str()
            .is_some_and(|s| s.contains("p · purchase_value ≥ $5")),
        "{}",
        m["fairness"][0]["source"]
    );
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

/// The flags of a small risk model on [`purchases`] files, with `extra` appended.
fn risk_flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut flags = vec![
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
        "users=count_by_key(device)",
        "--epochs",
        "3",
        "--ensemble",
        "1",
        "--quiet",
    ];
    flags.extend_from_slice(extra);
    flags
}

fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Σ of `value` over the fraudulent rows of a [`purchases`] file: the cost of approving all.
fn fraud_value(csv: &str) -> f64 {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[5] == "1")
        .map(|f| f[3].parse::<f64>().unwrap())
        .sum()
}

#[test]
fn cost_flags_choose_and_store_the_cost_threshold_and_evaluate_prices_it() {
    let s = Scratch::new("risk_cost");
    let train = s.file("train.csv", purchases(600, 1, 0));
    let test_csv = purchases(200, 2, 10_000);
    let test = s.file("test.csv", &test_csv);
    let dir = s.path("by_value");
    let mut args = vec!["train", &train, "--out", &dir];
    args.extend(risk_flags(&["--cost-fp", "5", "--cost-fn-column", "value"]));
    run(&args).ok();
    let t = &read_json(&format!("{dir}/training.json"))["threshold"];
    assert_eq!(t["rule"], "min_cost", "{t}");
    let decision = &t["cost"];
    assert_eq!(decision["costs"]["alert"], 5.0);
    assert_eq!(decision["costs"]["miss"]["column"], "value");
    let tau = decision["risk_threshold"].as_f64().unwrap();
    let val = &decision["validation"];
    // The least-cost τ costs no more than approving everything on the validation rows.
    assert!(val["cost"].as_f64().unwrap() <= val["cost_approve_all"].as_f64().unwrap());
    let model = format!("{dir}/model.safetensors");
    let inspect = run(&["inspect", &model]).ok().stdout;
    assert!(inspect.contains("positive when p · m ≥"), "{inspect}");

    // evaluate prices the stored decision with the stored costs …
    let eval = s.path("eval");
    let printed = run(&["evaluate", &model, &test, "--out", &eval, "--quiet"])
        .ok()
        .stdout;
    assert!(printed.contains("expected cost"), "{printed}");
    let cost = &read_json(&format!("{eval}/metrics.json"))["cost"];
    assert_eq!(cost["report"]["threshold"].as_f64(), Some(tau));
    assert_eq!(
        cost["report"]["cost_approve_all"].as_f64(),
        Some(fraud_value(&test_csv))
    );
    // predict decides each row as evaluate does, by p · m ≥ τ with m the row's `value`.
    let by_row = s.path("by_row.csv");
    run(&["predict", &model, &test, "--out", &by_row, "--quiet"]).ok();
    let flagged = std::fs::read_to_string(&by_row)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",1"))
        .count() as u64;
    assert_eq!(Some(flagged), cost["report"]["alerts"].as_u64());
    // … so a row without its cost cannot be decided: exit 2 naming line and column.
    let holed: Vec<String> = test_csv
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<&str> = l.split(',').collect();
            if i == 3 {
                f[3] = "";
            }
            f.join(",") + "\n"
        })
        .collect();
    let holed = s.file("holed.csv", holed.concat());
    run(&["predict", &model, &holed, "--quiet"])
        .fails_with(2)
        .stderr_has(&["holed.csv, line 4, column 4 (\"value\")", "miss cost"]);

    // … or with others given on the command line (the decision stays the model's).
    let eval2 = s.path("eval2");
    run(&[
        "evaluate",
        &model,
        &test,
        "--out",
        &eval2,
        "--quiet",
        "--cost-fp",
        "1",
        "--cost-fn",
        "50",
    ])
    .ok();
    let cost2 = &read_json(&format!("{eval2}/metrics.json"))["cost"];
    let positives = test_csv
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",1"))
        .count();
    assert_eq!(
        cost2["report"]["cost_approve_all"].as_f64(),
        Some(50.0 * positives as f64)
    );
    assert_eq!(cost2["report"]["alerts"], cost["report"]["alerts"]);
    let alerts = cost2["report"]["alerts"].as_f64().unwrap();
    let missed = cost2["report"]["cost"].as_f64().unwrap() - alerts;
    assert_eq!(
        missed % 50.0,
        0.0,
        "a constant miss cost prices misses by 50"
    );

    // A constant miss cost: the stored probability threshold makes predict's labels the
    // evaluated alerts.
    let flat = s.path("flat");
    let mut args = vec!["train", &train, "--out", &flat];
    args.extend(risk_flags(&["--cost-fp", "5", "--cost-fn", "40"]));
    run(&args).ok();
    let flat_model = format!("{flat}/model.safetensors");
    let eval3 = s.path("eval3");
    run(&["evaluate", &flat_model, &test, "--out", &eval3, "--quiet"]).ok();
    let alerts3 = read_json(&format!("{eval3}/metrics.json"))["cost"]["report"]["alerts"]
        .as_u64()
        .unwrap();
    let pred = s.path("pred.csv");
    run(&["predict", &flat_model, &test, "--out", &pred, "--quiet"]).ok();
    let flagged = std::fs::read_to_string(&pred)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",1"))
        .count() as u64;
    assert_eq!(flagged, alerts3);

    // A model without a cost decision reports no cost unless asked.
    let plain = s.path("plain");
    let mut args = vec!["train", &train, "--out", &plain];
    args.extend(risk_flags(&[]));
    run(&args).ok();
    let eval4 = s.path("eval4");
    let plain_model = format!("{plain}/model.safetensors");
    run(&["evaluate", &plain_model, &test, "--out", &eval4, "--quiet"]).ok();
    assert!(read_json(&format!("{eval4}/metrics.json"))["cost"].is_null());
}

#[test]
fn bad_costs_exit_2_naming_the_file_line_and_column() {
    let s = Scratch::new("risk_cost_bad");
    // An extra column `chargeback` (not a model input) holds the miss costs.
    let with_costs = |cells: &[(usize, &str)]| {
        let mut text = String::new();
        for (i, line) in purchases(300, 4, 0).lines().enumerate() {
            let cell = match (i, cells.iter().find(|(r, _)| *r == i)) {
                (0, _) => "chargeback",
                (_, Some((_, c))) => c,
                _ => "12.5",
            };
            text.push_str(&format!("{line},{cell}\n"));
        }
        text
    };
    let cost_flags = ["--drop", "chargeback", "--cost-fp", "5", "--cost-fn-column"];
    for (cell, problem) in [
        ("abc", "is not a number"),
        ("-3", "a cost must be a finite number ≥ 0"),
        ("", "is missing"),
    ] {
        let file = s.file("bad.csv", with_costs(&[(7, cell)]));
        let out = s.path("out");
        let mut args = vec!["train", &file, "--out", &out];
        args.extend(risk_flags(&cost_flags));
        args.push("chargeback");
        run(&args)
            .fails_with(2)
            .stderr_has(&["bad.csv, line 8, column 7 (\"chargeback\")", problem]);
        assert!(!std::path::Path::new(&format!("{out}/model.safetensors")).exists());
    }
    let good = s.file("good.csv", with_costs(&[]));
    let out = s.path("out2");
    let mut args = vec!["train", &good, "--out", &out];
    args.extend(risk_flags(&["--cost-fp", "5", "--cost-fn-column", "nope"]));
    run(&args)
        .fails_with(2)
        .stderr_has(&["good.csv: no column \"nope\"", "chargeback"]);
    for (flags, message) in [
        (vec!["--cost-fp=-1", "--cost-fn", "3"], "a cost must be"),
        (vec!["--cost-fp", "x", "--cost-fn", "3"], "is not a number"),
        (
            vec!["--cost-fp", "5"],
            "--cost-fn AMOUNT or --cost-fn-column",
        ),
        (vec!["--cost-fn", "3"], "--cost-fp"),
    ] {
        let mut args = vec!["train", &good, "--out", &out];
        args.extend(risk_flags(&flags));
        run(&args).fails_with(2).stderr_has(&[message]);
    }
}

#[test]
fn focal_loss_is_a_recipe_loss_stored_in_the_bundle() {
    let s = Scratch::new("risk_focal");
    let train = s.file("train.csv", purchases(600, 1, 0));
    let test = s.file("test.csv", purchases(200, 2, 10_000));
    let dir = s.path("focal");
    let mut args = vec!["train", &train, "--out", &dir];
    args.extend(risk_flags(&[
        "--loss",
        "focal",
        "--focal-gamma",
        "1.5",
        "--focal-alpha",
        "0.6",
    ]));
    run(&args).ok();
    let training = read_json(&format!("{dir}/training.json"));
    let recipe = &training["recipe"];
    assert_eq!(recipe["loss"], "Focal", "{recipe}");
    assert_eq!(recipe["focal"]["gamma"], 1.5);
    assert_eq!(recipe["focal"]["alpha"], 0.6);
    let model = format!("{dir}/model.safetensors");
    // The bundle loads back with its loss: inspect and evaluate read it.
    let inspect = run(&["inspect", &model]).ok().stdout;
    assert!(inspect.contains("focal"), "{inspect}");
    let eval = s.path("eval");
    run(&["evaluate", &model, &test, "--out", &eval, "--quiet"]).ok();
    let auc = read_json(&format!("{eval}/metrics.json"))["evaluation"]["at_threshold"]["roc_auc"]
        .as_f64()
        .unwrap();
    assert!(
        auc > 0.6,
        "a focal model that learnt nothing: ROC-AUC {auc}"
    );
    // The settings belong to the focal loss and are range-checked.
    for (flags, message) in [
        (vec!["--focal-gamma", "1"], "add --loss focal"),
        (vec!["--loss", "focal", "--focal-alpha", "2"], "α = 2"),
        (vec!["--loss", "focal", "--focal-gamma=-1"], "γ = -1"),
    ] {
        let mut args = vec!["train", &train, "--out", &dir];
        args.extend(risk_flags(&flags));
        run(&args).fails_with(2).stderr_has(&[message]);
    }
}
