//! `glassbox recommend train | evaluate | predict` end to end on hand-made interactions with
//! known answers, and the bad inputs of issue 13 (each exit 2 naming the file, and the line
//! and column where there is one; never a panic).

#[path = "cli/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::{Scratch, run};

/// Two clusters of 30 users; cluster X buys a1..a6, cluster Y b1..b6. In training each user
/// buys five of their cluster's six items (user u misses item u % 6 + 1); three more users buy
/// only b3 and b5, so b3 and b5 are the most bought (28 buyers against 25).
fn training_pairs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for u in 0..60 {
        let cluster = if u < 30 { "a" } else { "b" };
        for k in 1..=6 {
            if k != u % 6 + 1 {
                out.push((format!("u{u:02}"), format!("{cluster}{k}")));
            }
        }
    }
    for p in 1..=3 {
        out.push((format!("p{p}"), "b3".into()));
        out.push((format!("p{p}"), "b5".into()));
    }
    out
}

/// The test period: each clustered user buys the item they missed; u00 also buys an item
/// never sold before ("new1"); "zz" (no history) buys a1.
fn test_pairs() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = (0..60)
        .map(|u| {
            let cluster = if u < 30 { "a" } else { "b" };
            (format!("u{u:02}"), format!("{cluster}{}", u % 6 + 1))
        })
        .collect();
    out.push(("u00".into(), "new1".into()));
    out.push(("zz".into(), "a1".into()));
    out
}

fn csv(pairs: &[(String, String)]) -> String {
    let mut s = String::from("customer,product\n");
    for (u, i) in pairs {
        s.push_str(&format!("{u},{i}\n"));
    }
    s
}

fn json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("written")).expect("JSON")
}

#[test]
fn train_evaluate_predict_without_time_column() {
    let s = Scratch::new("rec-e2e");
    let train = s.file("train.csv", csv(&training_pairs()));
    let test = s.file("test.csv", csv(&test_pairs()));
    let out = s.path("run");
    run(&[
        "--threads",
        "2",
        "recommend",
        "train",
        &train,
        "--user",
        "customer",
        "--item",
        "product",
        "--epochs",
        "10",
        "--out",
        &out,
    ])
    .ok();
    let model = format!("{out}/model.safetensors");
    let eval = s.path("eval");
    let r = run(&["recommend", "evaluate", &model, &test, "--out", &eval]).ok();
    let m = json(&format!("{eval}/metrics.json"));
    let t = &m["test"];
    // New mode: every clustered user's truth is the one cluster item they missed, and only
    // one more cluster item is a candidate... none: the other five are their own. So the
    // truth competes with the other cluster's six items; co-buying puts it first.
    assert_eq!(t["modes"]["new"]["users"], 60, "{m}");
    assert_eq!(t["users"], 60);
    assert!(t["ndcg_at_20"].as_f64().unwrap() > 0.9, "{m}");
    assert_eq!(t["hit_rate_at_10"].as_f64().unwrap(), 1.0, "{m}");
    // u00's truth has the unseen item too: its recall is 1/2, everyone else's 1.
    let recall = t["recall_at_20"].as_f64().unwrap();
    assert!((recall - (59.0 + 0.5) / 60.0).abs() < 1e-12, "{m}");
    for key in ["map_at_20", "coverage_at_20", "popularity_at_20"] {
        assert!(t[key].as_f64().is_some_and(f64::is_finite), "{key}: {m}");
        assert!(t["modes"]["all"][key].as_f64().is_some(), "{key}: {m}");
    }
    assert_eq!(m["counts"]["cold_test_users_excluded"], 1, "{m}");
    assert_eq!(m["counts"]["test_pairs_with_items_unseen_in_training"], 1);
    assert_eq!(m["counts"]["warm_test_users"], 60);
    assert!(r.stdout.contains("1 cold users excluded"), "{}", r.stdout);

    // predict: every training user plus one without history, new mode.
    let users = s.file("users.txt", "customer\nu00\nzz\np1\n");
    let preds = s.path("recs.csv");
    let r = run(&[
        "recommend",
        "predict",
        &model,
        "--users",
        &users,
        "--k",
        "3",
        "--out",
        &preds,
    ])
    .ok();
    assert!(r.stdout.contains("1 without"), "{}", r.stdout);
    let text = std::fs::read_to_string(&preds).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(text.lines().next(), Some("user,rank,item,score"));
    let by_user: BTreeMap<&str, Vec<&str>> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        m.entry(r[0]).or_insert_with(Vec::new).push(r[2]);
        m
    });
    // u00 missed a1: it comes first; its own items never appear (new mode).
    assert_eq!(by_user["u00"][0], "a1", "{text}");
    let owned: BTreeSet<(String, String)> = training_pairs().into_iter().collect();
    for r in &rows {
        assert!(
            !owned.contains(&(r[0].to_string(), r[2].to_string())),
            "{r:?} is owned"
        );
    }
    // zz has no history: the popularity list, b3 and b5 (28 buyers) then a1 (25, smallest
    // name of the ties).
    assert_eq!(by_user["zz"], ["b3", "b5", "a1"], "{text}");
    assert_eq!(
        rows.iter()
            .filter(|r| r[0] == "zz")
            .map(|r| r[1])
            .collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    // p1 owns b3 and b5; new mode leaves the b cluster's items first.
    assert!(by_user["p1"].iter().all(|i| i.starts_with('b')), "{text}");

    // Every training user by default.
    let all = s.path("all.csv");
    run(&[
        "recommend",
        "predict",
        &model,
        "--k",
        "2",
        "--mode",
        "all",
        "--out",
        &all,
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(&all).unwrap().lines().count(),
        1 + 63 * 2
    );
}

#[test]
fn train_with_time_cutoff_and_baskets_on_a_semicolon_file() {
    let s = Scratch::new("rec-time");
    // Training purchases spread over January and February 2021, the test window in March.
    let mut text = String::from("order;when;customer;product\n");
    let mut order = 0;
    for (n, (u, i)) in training_pairs().iter().enumerate() {
        order += 1;
        let day = 1 + n % 28;
        let month = if n % 2 == 0 { 1 } else { 2 };
        text.push_str(&format!(
            "o{order};2021-{month:02}-{day:02} 10:00:00;{u};{i}\n"
        ));
        // The same item twice in one basket counts once.
        if n % 7 == 0 {
            text.push_str(&format!(
                "o{order};2021-{month:02}-{day:02} 10:00:00;{u};{i}\n"
            ));
        }
    }
    for (n, (u, i)) in test_pairs().iter().enumerate() {
        text.push_str(&format!(
            "t{n};2021-03-{:02} 09:00:00;{u};{i}\n",
            1 + n % 28
        ));
    }
    // u10, u20 and u40 buy again an item they had (repeats).
    for u in ["u10", "u20", "u40"] {
        let item = if u == "u40" { "b2" } else { "a2" };
        text.push_str(&format!("r{u};2021-03-05 12:00:00;{u};{item}\n"));
    }
    let log = s.file("log.csv", text);
    let out = s.path("run");
    let r = run(&[
        "recommend",
        "train",
        &log,
        "--user",
        "customer",
        "--item",
        "product",
        "--time",
        "when",
        "--basket",
        "order",
        "--cutoff",
        "2021-03-01",
        "--epochs",
        "5",
        "--out",
        &out,
    ])
    .ok();
    assert!(r.stdout.contains("63 users × 12 items"), "{}", r.stdout);
    let trained = json(&format!("{out}/metrics.json"));
    assert_eq!(trained["training"]["training_pairs"], 306, "{trained}");
    assert!(trained["validation_split"].is_object(), "{trained}");
    let eval = s.path("eval");
    run(&[
        "recommend",
        "evaluate",
        &format!("{out}/model.safetensors"),
        &log,
        "--out",
        &eval,
    ])
    .ok();
    let m = json(&format!("{eval}/metrics.json"));
    let c = &m["counts"];
    assert_eq!(c["events_before_the_cutoff_not_used"], 306 + 44, "{m}");
    assert_eq!(c["test_pairs"], 60 + 1 + 3, "{m}");
    assert_eq!(c["test_repeat_pairs"], 3, "{m}");
    assert_eq!(c["cold_test_users_excluded"], 1, "{m}");
    assert_eq!(m["test"]["modes"]["all"]["users"], 60, "{m}");
    assert_eq!(m["test"]["modes"]["new"]["users"], 60, "{m}");

    // inspect: what the file is, its data, each mode's blend, its sizes.
    let model = format!("{out}/model.safetensors");
    let r = run(&["inspect", &model, "--json"]).ok();
    let v: Value = serde_json::from_str(&r.stdout).expect("inspect --json is JSON");
    assert_eq!(v["kind"], "recommender", "{v}");
    assert_eq!(
        (v["users"].clone(), v["items"].clone()),
        (63.into(), 12.into())
    );
    assert_eq!(v["training"]["training_pairs"], 306, "{v}");
    assert_eq!(v["columns"]["basket"], "order", "{v}");
    assert_eq!(
        v["modes"][0]["mode"], trained["validation"][0]["mode"],
        "{v}"
    );
    assert_eq!(
        v["modes"][1]["settings"],
        trained["validation"][1]["settings"]
    );
    let tensors = v["tensors"].as_array().expect("tensors");
    let bytes: u64 = tensors.iter().map(|t| t["bytes"].as_u64().unwrap()).sum();
    let file = std::fs::metadata(&model).unwrap().len();
    assert!(
        bytes < file && file < bytes + 100_000,
        "{bytes} of {file}: {v}"
    );
    assert_eq!(v["file_bytes"], file, "{v}");
    // EASE, when used, is P's upper triangle in f32: 12·13/2 entries.
    if let Some(p) = tensors.iter().find(|t| t["name"] == "ease.p_upper") {
        assert_eq!(
            (p["dtype"].clone(), p["shape"].clone()),
            ("F32".into(), serde_json::json!([78]))
        );
    }
    let text = run(&["inspect", &model]).ok().stdout;
    for want in [
        "glassbox recommender",
        "Mode new:",
        "Mode all:",
        "306 distinct",
        "training.user U32",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

#[test]
fn bad_inputs_exit_2_naming_file_line_and_column() {
    let s = Scratch::new("rec-bad");
    let out = s.path("run");
    let train = |file: &str, extra: &[&str]| {
        let mut a = vec![
            "recommend",
            "train",
            file,
            "--user",
            "customer",
            "--item",
            "product",
            "--out",
            &out,
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let good = s.file("good.csv", csv(&training_pairs()));
    train(&good, &["--time", "nope"])
        .fails_with(2)
        .stderr_has(&["good.csv", "nope", "customer, product"]);
    let empty = s.file("empty.csv", "");
    train(&empty, &[]).fails_with(2).stderr_has(&["empty.csv"]);
    let header = s.file("header.csv", "customer,product\n");
    train(&header, &[])
        .fails_with(2)
        .stderr_has(&["header.csv", "no data rows"]);
    let one_user = s.file("one_user.csv", "customer,product\nu1,a\nu1,b\n");
    train(&one_user, &[]).fails_with(2).stderr_has(&[
        "one_user.csv",
        "column \"customer\"",
        "same user",
    ]);
    let one_item = s.file("one_item.csv", "customer\tproduct\nu1\ta\nu2\ta\n");
    train(&one_item, &[]).fails_with(2).stderr_has(&[
        "one_item.csv",
        "column \"product\"",
        "same item",
    ]);
    let no_user = s.file("no_user.csv", "customer,product\nu1,a\n,b\nu2,b\n");
    train(&no_user, &[]).fails_with(2).stderr_has(&[
        "no_user.csv",
        "line 3",
        "column \"customer\"",
        "empty user id",
    ]);
    let bad_time = s.file(
        "bad_time.csv",
        "customer,product,t\nu1,a,2021-01-01\nu2,b,soon\n",
    );
    train(&bad_time, &["--time", "t"])
        .fails_with(2)
        .stderr_has(&["bad_time.csv", "line 3", "column \"t\"", "soon"]);
    train(&good, &["--cutoff", "someday"])
        .fails_with(2)
        .stderr_has(&["--cutoff"]);
    assert!(
        !std::path::Path::new(&out).exists(),
        "a failed run leaves no folder"
    );

    // A model to predict with: --k 0, and files that are not models.
    train(&good, &["--epochs", "2"]).ok();
    let model = format!("{out}/model.safetensors");
    run(&[
        "recommend",
        "predict",
        &model,
        "--k",
        "0",
        "--out",
        &s.path("p.csv"),
    ])
    .fails_with(2)
    .stderr_has(&["--k"]);
    run(&["recommend", "evaluate", &good, &good, "--out", &s.path("e")])
        .fails_with(2)
        .stderr_has(&["good.csv"]);
    let blank = s.file("blank.txt", "\n\n");
    run(&[
        "recommend",
        "predict",
        &model,
        "--users",
        &blank,
        "--out",
        &s.path("p.csv"),
    ])
    .fails_with(2)
    .stderr_has(&["blank.txt", "no user ids"]);
    let unknown = s.file("test_bad.csv", "client,product\nu1,a1\n");
    run(&[
        "recommend",
        "evaluate",
        &model,
        &unknown,
        "--out",
        &s.path("e2"),
    ])
    .fails_with(2)
    .stderr_has(&["test_bad.csv", "customer"]);
}
