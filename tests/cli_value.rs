//! `glassbox value train | evaluate | predict` end to end on a generated transaction log, and
//! the bad inputs of issue 14 (each exit 2 with the file, line and column, nothing written).

#[path = "cli/support.rs"]
mod support;

use std::path::Path;

use serde_json::Value;
use support::{Lcg, Scratch, run};

/// 240 customers over 2020; heavier spenders buy more often; some return goods.
fn log_text() -> String {
    let mut rng = Lcg::new(14);
    let mut s = String::from("Invoice,Qty,When,Price,Customer,Country\n");
    let mut invoice = 1000;
    for c in 0..240u32 {
        let rate = 0.02 + 0.2 * rng.next() * rng.next();
        let price = 1.0 + 20.0 * rng.next();
        let country = ["UK", "France", "Germany"][(c % 3) as usize];
        for day in 0..366u32 {
            if rng.next() < rate {
                invoice += 1;
                let date = 1 + day; // day of year 1..366 (2020 is a leap year)
                let (m, d) = month_day(date);
                let qty = 1 + (rng.next() * 6.0) as u32;
                s.push_str(&format!(
                    "{invoice},{qty},2020-{m:02}-{d:02} 10:{:02}:00,{price:.2},{c}.0,{country}\n",
                    c % 60
                ));
                if rng.next() < 0.1 {
                    s.push_str(&format!(
                        "C{invoice},-1,2020-{m:02}-{d:02} 18:00:00,{price:.2},{c}.0,{country}\n"
                    ));
                }
            }
        }
    }
    s
}

fn month_day(day_of_year: u32) -> (u32, u32) {
    let lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut d = day_of_year;
    for (m, len) in lengths.iter().enumerate() {
        if d <= *len {
            return (m as u32 + 1, d);
        }
        d -= len;
    }
    (12, 31)
}

fn roles(log: &str) -> Vec<String> {
    [
        log,
        "--customer",
        "Customer",
        "--time",
        "When",
        "--quantity",
        "Qty",
        "--price",
        "Price",
        "--invoice",
        "Invoice",
        "--categorical",
        "Country",
        "--horizon",
        "60d",
    ]
    .map(String::from)
    .to_vec()
}

fn args<'a>(head: &[&'a str], rest: &'a [String], tail: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = head.to_vec();
    v.extend(rest.iter().map(String::as_str));
    v.extend(tail);
    v
}

#[test]
fn train_evaluate_predict_end_to_end() {
    let s = Scratch::new("value-e2e");
    let log = s.file("log.csv", log_text());
    let out = s.path("run");
    let roles = roles(&log);
    run(&args(
        &["--threads", "1", "value", "train"],
        &roles,
        &[
            "--cutoff",
            "2020-09-01",
            "--max-epochs",
            "20",
            "--out",
            &out,
        ],
    ))
    .ok();
    // metrics.json records the recipe the run trained with: the ZILN default's L2.
    let trained: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/metrics.json")).unwrap())
            .unwrap();
    assert_eq!(trained["loss"], "ziln", "{trained}");
    assert_eq!(trained["recipe"]["l2"].as_f64(), Some(1e-2), "{trained}");
    let model = format!("{out}/model.safetensors");
    let eval = s.path("eval");
    run(&[
        "value",
        "evaluate",
        &model,
        &log,
        "--cutoff",
        "2020-10-01",
        "--out",
        &eval,
    ])
    .ok();
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{eval}/metrics.json")).unwrap())
            .unwrap();
    for key in [
        "normalized_gini",
        "spearman",
        "top20_revenue_share",
        "decile_mape",
    ] {
        let v = metrics["test"][key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite(), "{key}: {v}");
    }
    // Heavier, more frequent buyers are predicted higher: the ranking is informative.
    assert!(
        metrics["test"]["normalized_gini"].as_f64().unwrap() > 0.3,
        "{metrics}"
    );
    let csv = s.path("pred.csv");
    let r = run(&[
        "value",
        "predict",
        &model,
        &log,
        "--at",
        "2020-12-31",
        "--out",
        &csv,
    ])
    .ok();
    assert!(r.stdout.contains("customers scored"), "{}", r.stdout);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("customer,probability,expected_value,lower,upper")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect())
        .collect();
    assert!(rows.len() > 200, "{}", rows.len());
    for r in &rows {
        let (p, mean, lo, hi) = (r[0], r[1], r[2], r[3]);
        assert!((0.0..=1.0).contains(&p) && mean >= 0.0 && lo <= hi, "{r:?}");
    }
}

#[test]
fn bad_inputs_exit_2_naming_the_place() {
    let s = Scratch::new("value-bad");
    let good = log_text();
    let train = |name: &str, text: &str, cutoff: &str| {
        let log = s.file(name, text);
        let out = s.path(&format!("out-{name}"));
        let r = run(&args(
            &["value", "train"],
            &roles(&log),
            &["--cutoff", cutoff, "--max-epochs", "2", "--out", &out],
        ))
        .fails_with(2);
        assert!(
            !std::path::Path::new(&out).exists(),
            "{name}: no output folder is left"
        );
        r
    };
    // Line 3 is the second data line: its price made negative.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let fields: Vec<&str> = lines[2].split(',').collect();
    let negative = format!(
        "{},{},{},-{},{},{}",
        fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
    );
    lines[2] = negative;
    train("neg.csv", &(lines.join("\n") + "\n"), "2020-09-01").stderr_has(&[
        "neg.csv",
        "line 3, column 4 (\"Price\")",
        "negative price",
    ]);
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    lines[4] = lines[4].replacen("2020-", "20/", 1);
    train("date.csv", &(lines.join("\n") + "\n"), "2020-09-01")
        .stderr_has(&["date.csv", "line 5, column 3 (\"When\")"]);
    train("early.csv", &good, "2019-01-01").stderr_has(&["early.csv", "outside the log"]);
    train("late.csv", &good, "2021-06-01").stderr_has(&["late.csv", "outside the log"]);
    // Every holdout line removed: nobody buys after the cutoff.
    let before: String = good
        .lines()
        .filter(|l| {
            !l.contains("2020-09-")
                && !l.contains("2020-10-")
                && !l.contains("2020-11-")
                && !l.contains("2020-12-")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let with_late_return = before + "C9,-1,2020-12-30 10:00:00,1.00,1.0,UK\n";
    train("quiet.csv", &with_late_return, "2020-09-01").stderr_has(&["quiet.csv", "holdout"]);
    run(&[
        "value",
        "train",
        "x.csv",
        "--customer",
        "a",
        "--time",
        "b",
        "--cutoff",
        "2020-01-01",
        "--horizon",
        "9d",
    ])
    .fails_with(2)
    .stderr_has(&["--amount"]);
}

#[test]
fn case_study_value_leaves_no_folder_when_its_log_fails_to_load() {
    let s = Scratch::new("value-case-bad");
    let header =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";
    let bad_date = format!(
        "{header}536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n\
         536366,71053,LANTERN,6,01/12/2010 08:28,3.39,17850.0,United Kingdom\n"
    );
    let missing = s.path("missing");
    std::fs::create_dir_all(&missing).unwrap();
    let broken = s.path("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(format!("{broken}/online_retail.csv.gz"), bad_date).unwrap();
    for (k, (dir, expected)) in [
        (&missing, vec!["online_retail.csv.gz"]),
        (
            &broken,
            vec!["online_retail.csv.gz", "line 3, column 5 (\"InvoiceDate\")"],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = s.path(&format!("out-{k}"));
        run(&[
            "case-study",
            "value",
            "--data-dir",
            dir,
            "--out",
            &out,
            "--quiet",
        ])
        .fails_with(2)
        .stderr_has(&expected);
        assert!(
            !Path::new(&out).exists(),
            "{dir}: the output folder is left"
        );
    }
}

#[test]
fn each_loss_starts_from_its_own_recipe_and_flags_win() {
    let s = Scratch::new("value-loss-recipe");
    let log = s.file("log.csv", log_text());
    let roles = roles(&log);
    let l2_of = |extra: &[&str], name: &str| {
        let out = s.path(name);
        let mut tail = vec!["--cutoff", "2020-09-01", "--max-epochs", "1", "--out", &out];
        tail.extend_from_slice(extra);
        run(&args(&["--threads", "1", "value", "train"], &roles, &tail)).ok();
        let m: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{out}/metrics.json")).unwrap())
                .unwrap();
        (
            m["loss"].clone(),
            m["recipe"]["l2"].as_f64(),
            m["recipe"]["blend_rule"].as_bool(),
        )
    };
    // The ZILN default is the network alone (the twelfth session); the log1p losses blend.
    let (loss, l2, blend) = l2_of(&[], "ziln");
    assert_eq!(
        (loss.as_str(), l2, blend),
        (Some("ziln"), Some(1e-2), Some(false)),
        "{loss}"
    );
    // The log1p losses keep the reference's L2 1e-3 (the ZILN default's is 1e-2).
    let (loss, l2, blend) = l2_of(&["--loss", "mse-log1p"], "mse");
    assert_eq!(
        (loss.as_str(), l2, blend),
        (Some("mse_log1p"), Some(1e-3), Some(true)),
        "{loss}"
    );
    let (_, l2, blend) = l2_of(&["--loss", "huber-log1p"], "huber");
    assert_eq!((l2, blend), (Some(1e-3), Some(true)));
    let (_, l2, _) = l2_of(&["--loss", "mse-log1p", "--l2", "0.05"], "flag");
    assert_eq!(l2, Some(0.05));
}
