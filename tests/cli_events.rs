//! `glassbox events` end to end on small generated logs: train → predict at T (nothing at
//! or after T reaches a score), featurize → `glassbox evaluate` with the same model, and the
//! bad inputs of issue 12 (each exit 2, a clear message, no file written).

#[path = "cli/support.rs"]
mod support;

use std::path::Path;

use serde_json::Value;
use support::{Lcg, Scratch, run};

/// Unix seconds of 2020-01-01 00:00 UTC.
const START: i64 = 1_577_836_800;

/// A three-day log, unsorted, Unix seconds: 30 users browsing, carting and buying.
/// Returns the rows (without the header) so tests can change some.
fn log_rows(seed: u64) -> Vec<(i64, String)> {
    let mut rng = Lcg::new(seed);
    let mut rows = Vec::new();
    for user in 0..30u64 {
        let mut t = START + (rng.next() * 3600.0 * 6.0) as i64;
        let buyer = user % 3 == 0;
        while t < START + 3 * 86_400 - 7_200 {
            let item = 100 + (rng.next() * 20.0) as u64;
            rows.push((t, format!("{t},u{user},view,{item},")));
            if rng.next() < 0.3 {
                rows.push((t + 60, format!("{},u{user},addtocart,{item},", t + 60)));
                if buyer && rng.next() < 0.5 {
                    let tx = t + 600;
                    rows.push((tx, format!("{tx},u{user},transaction,{item},x{tx}")));
                }
            }
            t += 600 + (rng.next() * 3.0 * 3600.0) as i64;
        }
    }
    // Scramble the order: the featurizer sorts.
    rows.reverse();
    rows
}

fn text(rows: &[(i64, String)]) -> String {
    let mut s = String::from("ts,uid,kind,item,txn\n");
    for (_, r) in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// The role flags of the generated log.
fn roles(log: &str) -> Vec<String> {
    [
        log,
        "--user",
        "uid",
        "--time",
        "ts",
        "--event",
        "kind",
        "--item",
        "item",
        "--transaction",
        "txn",
        "--cart-event",
        "addtocart",
        "--target-event",
        "transaction",
        "--every",
        "1h",
        "--horizon",
        "1h",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn train_args(log: &str, out: &str) -> Vec<String> {
    let mut a = vec!["events".to_string(), "train".to_string()];
    a.extend(roles(log));
    for x in [
        "--recipe", "paper", "--epochs", "2", "--out", out, "--quiet",
    ] {
        a.push(x.to_string());
    }
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn scores_at_t_use_nothing_at_or_after_t() {
    let s = Scratch::new("events_leak");
    let rows = log_rows(7);
    let log = s.file("log.csv", text(&rows));
    let model = s.path("model.safetensors");
    run(&strs(&train_args(&log, &model))).ok();
    let at = START + 2 * 86_400 + 12 * 3600; // day 3, 12:00 UTC
    let score = |log: &str, out: &str| {
        run(&[
            "events",
            "predict",
            &model,
            log,
            "--at",
            &at.to_string(),
            "--out",
            out,
        ])
        .ok();
        std::fs::read(out).unwrap()
    };
    let base = score(&log, &s.path("base.csv"));
    let lines = String::from_utf8(base.clone()).unwrap();
    assert!(lines.lines().count() > 5, "{lines}");
    assert!(lines.starts_with("user,cutoff_ms,probability,label\n"));
    // The same instant written as ISO-8601 gives the same bytes.
    let iso = s.path("iso.csv");
    run(&[
        "events",
        "predict",
        &model,
        &log,
        "--at",
        "2020-01-03T12:00:00Z",
        "--out",
        &iso,
    ])
    .ok();
    assert_eq!(std::fs::read(&iso).unwrap(), base);
    // Change every event at or after T (kind, item), add events at exactly T by known and
    // new users, and later purchases: the scores must not move.
    let mut future: Vec<(i64, String)> = rows
        .iter()
        .map(|(t, r)| {
            if *t >= at {
                let f: Vec<&str> = r.split(',').collect();
                (*t, format!("{},{},transaction,999,y{t}", f[0], f[1]))
            } else {
                (*t, r.clone())
            }
        })
        .collect();
    future.push((at, format!("{at},u3,transaction,105,z1")));
    future.push((at, format!("{at},newcomer,view,105,")));
    future.push((at + 5, format!("{},u0,addtocart,101,", at + 5)));
    let changed = s.file("future.csv", text(&future));
    assert_eq!(score(&changed, &s.path("future-scores.csv")), base);
    // Negative control: changing the last event before T moves a score.
    let (i, _) = rows
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| *t < at)
        .max_by_key(|(_, (t, _))| *t)
        .unwrap();
    let mut past = rows.clone();
    let f: Vec<String> = past[i].1.split(',').map(String::from).collect();
    past[i].1 = format!("{},{},transaction,{},w1", f[0], f[1], f[3]);
    let control = s.file("past.csv", text(&past));
    assert_ne!(score(&control, &s.path("past-scores.csv")), base);
}

#[test]
fn featurized_examples_evaluate_with_the_trained_model() {
    let s = Scratch::new("events_evaluate");
    let log = s.file("log.csv", text(&log_rows(3)));
    let model = s.path("model.safetensors");
    run(&strs(&train_args(&log, &model))).ok();
    let examples = s.path("examples.csv");
    let mut a = vec!["events".to_string(), "featurize".to_string()];
    a.extend(roles(&log));
    a.extend(["--out".to_string(), examples.clone()]);
    run(&strs(&a)).ok();
    let csv = std::fs::read_to_string(&examples).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("user,cutoff_ms,n_"), "{header}");
    assert!(header.contains(",n_view_1h,"), "{header}");
    assert!(header.ends_with(",label"), "{header}");
    let out = s.path("eval");
    run(&["evaluate", &model, &examples, "--out", &out, "--quiet"]).ok();
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/metrics.json")).unwrap())
            .unwrap();
    let text = m.to_string();
    let rows = csv.lines().count() - 1;
    assert!(text.contains(&format!("\"n\":{rows}")), "{text}");
    // The model's schema names the featurizer's columns; the key columns are ignored.
    let inspect = run(&["inspect", &model]).ok();
    assert!(inspect.stdout.contains("n_view_1h"), "{}", inspect.stdout);
}

/// Runs `events train` with `change` applied to the arguments and the log text, and checks
/// exit 2, the message fragments and that no model file appeared.
fn refused(name: &str, log_text: &str, change: &[(&str, &str)], fragments: &[&str]) {
    let s = Scratch::new(name);
    let log = s.file("log.csv", log_text);
    let model = s.path("model.safetensors");
    let mut args = train_args(&log, &model);
    for (flag, value) in change {
        match args.iter().position(|a| a == flag) {
            Some(i) => args[i + 1] = value.to_string(),
            None => args.extend([flag.to_string(), value.to_string()]),
        }
    }
    run(&strs(&args)).fails_with(2).stderr_has(fragments);
    assert!(!Path::new(&model).exists(), "{name}: a model was written");
    let left: Vec<_> = std::fs::read_dir(s.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["log.csv".to_string()], "{name}: {left:?}");
}

#[test]
fn bad_input_is_refused_with_exit_2_and_nothing_written() {
    let good = text(&log_rows(5));
    refused(
        "events_unknown_column",
        &good,
        &[("--user", "visitor")],
        &["\"visitor\"", "\"uid\""],
    );
    refused(
        "events_unknown_event_column",
        &good,
        &[("--event", "what")],
        &["\"what\"", "\"kind\""],
    );
    let mut bad_time = log_rows(5);
    bad_time.push((0, "yesterday,u1,view,100,".into()));
    bad_time.rotate_right(1);
    refused(
        "events_bad_timestamp",
        &text(&bad_time),
        &[],
        &["line 2", "column 1", "\"ts\"", "yesterday"],
    );
    refused(
        "events_empty_window",
        &good,
        &[("--window", "0h")],
        &["empty"],
    );
    refused(
        "events_long_horizon",
        &good,
        &[("--horizon", "30d")],
        &["horizon", "log"],
    );
    // A log whose only purchase comes before the first cutoff: no positive label.
    let no_positive = format!(
        "ts,uid,kind,item,txn\n{},u1,transaction,1,x\n{},u1,addtocart,1,\n{},u1,view,1,\n{},u2,view,2,\n",
        START + 10,
        START + 15,
        START + 20,
        START + 5 * 3600
    );
    refused(
        "events_no_positive",
        &no_positive,
        &[],
        &["no positive label"],
    );
}

/// The tabular layers of notes/tabular.md reach `events train` through the recipe flags
/// (notes/events.md §13): scaling and PLR land in the bundle and score at T; a BatchEnsemble
/// network refuses the event default's dropout (N19) and trains without it.
#[test]
fn tabular_layers_reach_events_train_and_batch_ensemble_refuses_dropout() {
    let s = Scratch::new("events_tabular_layers");
    let log = s.file("log.csv", text(&log_rows(11)));
    let events_train = |out: &str, extra: &[&str]| {
        let mut a = vec!["events".to_string(), "train".to_string()];
        a.extend(roles(&log));
        let tail = ["--epochs", "2", "--ensemble", "1", "--out", out, "--quiet"];
        a.extend(extra.iter().chain(&tail).map(|x| x.to_string()));
        a
    };
    let plr = s.path("plr.safetensors");
    let flags = [
        "--feature-scale",
        "--embedding",
        "plr",
        "--plr-frequencies",
        "4",
        "--plr-units",
        "3",
    ];
    run(&strs(&events_train(&plr, &flags))).ok();
    let inspect = run(&["inspect", &plr]).ok();
    for want in [
        "input layer 0",
        "input layer 1: PLR embedding",
        "4 frequencies",
    ] {
        assert!(inspect.stdout.contains(want), "{want}: {}", inspect.stdout);
    }
    let at = (START + 2 * 86_400 + 12 * 3600).to_string();
    let scores = s.path("scores.csv");
    run(&[
        "events", "predict", &plr, &log, "--at", &at, "--out", &scores,
    ])
    .ok();
    let lines = std::fs::read_to_string(&scores).unwrap();
    assert!(lines.lines().count() > 5, "{lines}");
    // The default recipe's dropout 0.2 meets --ensemble-k: refused, nothing written.
    let be = s.path("be.safetensors");
    run(&strs(&events_train(&be, &["--ensemble-k", "2"])))
        .fails_with(2)
        .stderr_has(&["--ensemble-k 2", "--dropout"]);
    assert!(!Path::new(&be).exists());
    run(&strs(&events_train(
        &be,
        &["--ensemble-k", "2", "--dropout", "0"],
    )))
    .ok();
    let inspect = run(&["inspect", &be]).ok();
    assert!(
        inspect.stdout.contains("BatchEnsemble"),
        "{}",
        inspect.stdout
    );
}
