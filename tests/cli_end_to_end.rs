//! The `glassbox` binary end to end on small generated files: train → inspect → evaluate →
//! predict on a CSV with every column kind and quirk, determinism across thread counts,
//! streaming prediction, the case study's run folder, and the help text.

#[path = "cli/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use support::{Lcg, Scratch, files_under, run};

/// A semicolon-separated file with a byte-order mark and CRLF line endings, holding every
/// column kind and quirk:
/// - `id`: an identifier (dropped with --drop);
/// - `age`: numeric with empty and `NA` cells;
/// - `income`: skewed non-negative numbers (--log1p);
/// - `tenure`: numeric with the sentinel -1 for "unknown" (--missing tenure=-1);
/// - `region`: integer codes of categories (--categorical region);
/// - `plan`: categorical text, quoted, some values holding the delimiter;
/// - `newsletter`: boolean TRUE/FALSE with a missing cell;
/// - `comment`: quoted free text with doubled quotes (dropped);
/// - `churned`: the yes/no target (--positive yes).
///
/// `unseen` adds region 9 and plan "legacy", which training never saw.
fn quirky_csv(rows: usize, seed: u64, with_target: bool, unseen: bool) -> String {
    let mut g = Lcg::new(seed);
    let mut s = String::from("\u{feff}id;age;income;tenure;region;plan;newsletter;comment");
    s.push_str(if with_target { ";churned\r\n" } else { "\r\n" });
    for i in 0..rows {
        let age = 18.0 + (g.next() * 60.0).floor();
        let income = (g.next().powi(3) * 200_000.0).floor();
        let tenure = if g.next() < 0.1 {
            -1.0
        } else {
            (g.next() * 10.0).floor()
        };
        let mut region = 1 + (g.next() * 4.0) as usize;
        let mut plan = ["basic", "pro; annual", "team"][(g.next() * 3.0) as usize];
        if unseen && i % 7 == 3 {
            region = 9;
            plan = "legacy";
        }
        let newsletter = g.next() < 0.5;
        let t = if tenure < 0.0 { 3.0 } else { tenure };
        let score = -0.4 * t
            + if plan == "basic" { 1.0 } else { -0.5 }
            + if newsletter { -0.7 } else { 0.3 }
            + 0.3 * (region as f64 - 2.5)
            + 1.0;
        let churned = g.next() < 1.0 / (1.0 + (-score).exp());
        let age_cell = match i % 13 {
            5 => String::new(),
            9 => "NA".into(),
            _ => format!("{age}"),
        };
        let nl = if i % 17 == 4 {
            ""
        } else if newsletter {
            "TRUE"
        } else {
            "FALSE"
        };
        s.push_str(&format!(
            "C{i:05};{age_cell};{income};{tenure};{region};\"{plan}\";{nl};\"said \"\"hi\"\"; row {i}\""
        ));
        if with_target {
            s.push_str(if churned { ";yes" } else { ";no" });
        }
        s.push_str("\r\n");
    }
    s
}

const FLAGS: &[&str] = &[
    "--target",
    "churned",
    "--positive",
    "yes",
    "--categorical",
    "region",
    "--missing",
    "tenure=-1",
    "--log1p",
    "income",
    "--drop",
    "id,comment",
];

/// Trains on the quirky file with a small recipe; `extra` holds `(flag, value)` pairs that
/// replace the defaults or add to them.
fn train_quirky(s: &Scratch, out: &str, extra: &[(&str, &str)]) -> support::Run {
    let data = s.path("train.csv");
    if !Path::new(&data).exists() {
        s.file("train.csv", quirky_csv(400, 11, true, false));
    }
    let mut options: Vec<(&str, &str)> = vec![
        ("--hidden", "16"),
        ("--epochs", "12"),
        ("--batch-size", "32"),
        ("--ensemble", "2"),
        ("--seed", "7"),
    ];
    for (flag, value) in extra {
        match options.iter_mut().find(|(f, _)| f == flag) {
            Some(o) => o.1 = value,
            None => options.push((flag, value)),
        }
    }
    let mut args = vec!["train", &data, "--out", out, "--quiet"];
    args.extend_from_slice(FLAGS);
    for (f, v) in &options {
        args.extend_from_slice(&[f, v]);
    }
    run(&args)
}

#[test]
fn train_inspect_evaluate_predict_on_a_quirky_csv() {
    let s = Scratch::new("quirky");
    let out = s.path("run");
    let r = train_quirky(&s, &out, &[]).ok();
    assert!(r.stdout.contains("decision threshold"), "{}", r.stdout);
    let files: BTreeSet<String> = files_under(Path::new(&out)).into_iter().collect();
    for f in [
        "model.safetensors",
        "history.csv",
        "training.json",
        "plots/train-loss.svg",
        "plots/train-loss.png",
        "plots/validation-roc.png",
        "plots/validation-confusion.svg",
    ] {
        assert!(files.contains(f), "{f} missing from {files:?}");
    }
    assert!(
        !files.iter().any(|f| f.contains(".tmp-")),
        "temporary files left: {files:?}"
    );
    let history = std::fs::read_to_string(format!("{out}/history.csv")).unwrap();
    assert!(
        history.starts_with("model,member,epoch,train_loss,val_loss"),
        "{history}"
    );
    assert!(
        history.lines().any(|l| l.starts_with("default,1,")),
        "two members: {history}"
    );

    // inspect: the schema the flags built, in words and in JSON.
    let model = format!("{out}/model.safetensors");
    let text = run(&["inspect", &model]).ok().stdout;
    for needle in [
        "target \"churned\": positive = \"yes\", negative = \"no\"",
        "region",
        "missing = [-1]",
        "log1p",
        "dropped",
        "2 member(s)",
        "relu",
    ] {
        assert!(text.contains(needle), "inspect lacks {needle:?}:\n{text}");
    }
    let json: Value =
        serde_json::from_str(&run(&["inspect", &model, "--json"]).ok().stdout).unwrap();
    assert_eq!(json["info"]["recipe"]["ensemble"], 2);
    assert_eq!(json["tensors"].as_array().unwrap().len(), 2 * 2 * 2);
    let kinds: Vec<(String, String)> = json["preprocessor"]["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (name, kind) in [
        ("age", "numeric"),
        ("region", "categorical"),
        ("plan", "categorical"),
        ("newsletter", "boolean"),
        ("churned", "boolean"),
    ] {
        assert!(
            kinds.contains(&(name.into(), kind.into())),
            "{name}: {kinds:?}"
        );
    }
    let names: Vec<&str> = json["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(names.contains(&"plan=pro; annual"), "{names:?}");
    assert!(names.contains(&"region=<unknown>"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("id") || n.starts_with("comment"))
    );

    // evaluate on a fresh labelled file with unseen levels: works, notes them.
    let test = s.file("test.csv", quirky_csv(300, 12, true, true));
    let eval_dir = s.path("eval");
    let r = run(&["evaluate", &model, &test, "--out", &eval_dir]).ok();
    assert!(r.stdout.contains("ROC-AUC"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("column \"region\": 43 values not seen in training"),
        "{}",
        r.stderr
    );
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{eval_dir}/metrics.json")).unwrap())
            .unwrap();
    let e = &metrics["evaluation"]["at_threshold"];
    assert_eq!(e["n"], 300);
    let auc = e["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.7, "the signal is learnable: ROC-AUC {auc}");
    for p in ["roc", "pr", "calibration", "confusion"] {
        for ext in ["svg", "png"] {
            let f = format!("{eval_dir}/plots/eval-{p}.{ext}");
            assert!(Path::new(&f).exists(), "{f}");
        }
    }

    // predict on the same rows: the labels agree with evaluate's confusion matrix.
    let preds = s.path("preds.csv");
    run(&["predict", &model, &test, "--out", &preds, "--quiet"]).ok();
    let text = std::fs::read_to_string(&preds).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "row,line,probability,label");
    assert_eq!(lines.len(), 301);
    assert!(lines[1].starts_with("1,2,"), "{}", lines[1]);
    // Labels are written as the training file writes them (yes/no), not as the keys.
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.ends_with(",yes") || l.ends_with(",no")),
        "labels not spelled as in the file: {}",
        lines[1]
    );
    let positives = lines[1..].iter().filter(|l| l.ends_with(",yes")).count();
    let c = &e["confusion"];
    assert_eq!(
        positives as u64,
        c["tp"].as_u64().unwrap() + c["fp"].as_u64().unwrap(),
        "predict and evaluate disagree"
    );
    for l in &lines[1..] {
        let p: f64 = l.split(',').nth(2).unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&p), "{l}");
    }
}

#[test]
fn predict_reads_label_less_files_in_any_column_order_and_delimiter() {
    let s = Scratch::new("reordered");
    let out = s.path("run");
    train_quirky(&s, &out, &[("--ensemble", "1"), ("--epochs", "3")]).ok();
    let model = format!("{out}/model.safetensors");
    // The same rows, comma-separated, columns reversed, no target, no BOM, LF endings.
    let semi = quirky_csv(40, 13, false, false);
    let mut reversed = String::new();
    for line in semi.trim_start_matches('\u{feff}').lines() {
        let mut fields: Vec<String> = Vec::new();
        let (mut cur, mut quoted) = (String::new(), false);
        for ch in line.chars() {
            match ch {
                '"' => {
                    quoted = !quoted;
                    cur.push(ch);
                }
                ';' if !quoted => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(ch),
            }
        }
        fields.push(cur);
        fields.reverse();
        reversed.push_str(&fields.join(","));
        reversed.push('\n');
    }
    let a = s.file("semi.csv", &semi);
    let b = s.file("comma.csv", &reversed);
    let pa = run(&["predict", &model, &a, "--quiet"]).ok().stdout;
    let pb = run(&["predict", &model, &b, "--quiet"]).ok().stdout;
    assert_eq!(pa.lines().count(), 41);
    assert_eq!(pa, pb, "same rows, same predictions");
}

#[test]
fn training_is_bit_identical_across_thread_counts() {
    let s = Scratch::new("threads");
    let (one, two) = (s.path("one"), s.path("two"));
    train_quirky(&s, &one, &[("--threads", "1")]).ok();
    train_quirky(&s, &two, &[("--threads", "2")]).ok();
    let a = std::fs::read(format!("{one}/model.safetensors")).unwrap();
    let b = std::fs::read(format!("{two}/model.safetensors")).unwrap();
    assert!(a == b, "model files differ between 1 and 2 threads");
    // A different seed gives a different model (the comparison above can fail).
    let three = s.path("three");
    train_quirky(&s, &three, &[("--seed", "8")]).ok();
    let c = std::fs::read(format!("{three}/model.safetensors")).unwrap();
    assert!(a != c, "the seed must matter");
}

#[test]
fn prediction_chunk_size_does_not_change_the_output() {
    let (_, model, data) = support::shared_model();
    let whole = run(&["predict", model, data, "--quiet"]).ok().stdout;
    let chunked = run(&["predict", model, data, "--quiet", "--chunk-rows", "7"])
        .ok()
        .stdout;
    assert_eq!(whole.lines().count(), 301);
    assert_eq!(whole, chunked);
}

#[test]
fn paper_recipe_is_the_keras_recipe_in_the_bundle() {
    let (dir, _, data) = support::shared_model();
    let out = dir.join("paper").display().to_string();
    run(&[
        "train", data, "--target", "bought", "--recipe", "paper", "--epochs", "1", "--out", &out,
        "--quiet",
    ])
    .ok();
    let json: Value = serde_json::from_str(
        &run(&["inspect", &format!("{out}/model.safetensors"), "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    let r = &json["info"]["recipe"];
    assert_eq!(r["hidden"], serde_json::json!([64, 64]));
    assert_eq!(r["batch_size"], 32);
    assert_eq!(r["loss"], "BceWithLogits");
    assert_eq!(r["optimizer"]["algorithm"], "adam");
    assert_eq!(r["optimizer"]["eps"]["Keras"], 1e-7);
    assert_eq!(r["val_fraction"], 0.0);
    assert_eq!(r["log1p"], false);
    assert_eq!(json["info"]["threshold"]["value"], 0.5);
    assert_eq!(json["info"]["data"]["val_rows"], 0);
    assert_eq!(json["info"]["data"]["train_rows"], 300);
}

#[test]
fn case_study_quick_writes_a_complete_run_folder() {
    let s = Scratch::new("case_study");
    let out = s.path("cs");
    let r = run(&[
        "case-study",
        "purchase",
        "--quick",
        "--out",
        &out,
        "--quiet",
    ])
    .ok();
    assert!(
        r.stdout.contains("paper") && r.stdout.contains("default"),
        "{}",
        r.stdout
    );
    let report = std::fs::read_to_string(format!("{out}/report.md")).unwrap();
    for section in [
        "## Test metrics",
        "## Plots",
        "## The two recipes",
        "## Data",
        "## Conventions",
        "## Limitations",
    ] {
        assert!(report.contains(section), "report.md lacks {section}");
    }
    // Every file the report links to exists.
    let mut links = 0;
    for part in report.split("](").skip(1) {
        let target = &part[..part.find(')').unwrap()];
        assert!(
            Path::new(&out).join(target).exists(),
            "broken link {target}"
        );
        links += 1;
    }
    assert!(links >= 20, "{links} links");
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/metrics.json")).unwrap())
            .unwrap();
    let models = m["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for model in models {
        let auc = model["test"]["at_threshold"]["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.8, "{}: ROC-AUC {auc}", model["name"]);
        assert_eq!(model["test"]["at_threshold"]["n"], 2466);
    }
    assert_eq!(m["data"]["test"]["unknown_categories"]["Browser"], 1);
    for name in ["paper", "default"] {
        run(&["inspect", &format!("{out}/{name}/model.safetensors")]).ok();
        for plot in ["roc", "pr", "calibration", "confusion", "loss"] {
            for ext in ["svg", "png"] {
                let f = format!("{out}/plots/{name}-{plot}.{ext}");
                assert!(Path::new(&f).exists(), "{f}");
            }
        }
    }
    let history = std::fs::read_to_string(format!("{out}/history.csv")).unwrap();
    assert!(
        history.lines().any(|l| l.starts_with("paper,0,2,")),
        "{history}"
    );
    assert!(
        history.lines().any(|l| l.starts_with("default,1,")),
        "{history}"
    );
}

#[test]
fn case_study_without_a_case_runs_every_case_and_indexes_them() {
    let s = Scratch::new("case_study_named");
    let (all, named) = (s.path("all"), s.path("named"));
    run(&["case-study", "--quick", "--out", &all, "--quiet"]).ok();
    let index = std::fs::read_to_string(format!("{all}/index.md")).unwrap();
    for case in ["purchase", "next-hour", "risk", "value", "recommend"] {
        assert!(index.contains(&format!("]({case}/report.md)")), "{index}");
        assert!(Path::new(&format!("{all}/{case}/report.md")).exists());
        assert!(Path::new(&format!("{all}/{case}/metrics.json")).exists());
    }
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{all}/next-hour/metrics.json")).unwrap(),
    )
    .unwrap();
    for key in [
        "roc_auc",
        "pr_auc",
        "log_loss",
        "precision_at_100",
        "recall_at_top_1pct",
    ] {
        let v = m["test"][key].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{all}/value/metrics.json")).unwrap(),
    )
    .unwrap();
    for key in [
        "normalized_gini",
        "spearman",
        "top20_revenue_share",
        "decile_mape",
    ] {
        assert!(
            v["test"][key].as_f64().is_some_and(f64::is_finite),
            "value: {key}"
        );
    }
    assert_eq!(v["counts"]["customers"], 3_317);
    // Paired with LightGBM's fixture (M20 paired): an estimate inside its interval.
    let paired = &m["test"]["paired_bootstrap_vs_lightgbm"];
    let ci = &paired["roc_auc_difference_ci95"];
    let (d, low, high) = (
        paired["roc_auc_difference"].as_f64().unwrap_or(f64::NAN),
        ci[0].as_f64().unwrap_or(f64::NAN),
        ci[1].as_f64().unwrap_or(f64::NAN),
    );
    assert!(low <= d && d <= high && high - low < 0.5, "{paired}");
    assert!(
        paired["resamples"].as_u64().is_some_and(|r| r > 900),
        "{paired}"
    );
    assert_eq!(m["counts"]["test_rows"], 617_300);
    assert_eq!(m["counts"]["test_positives"], 153);
    assert_eq!(m["counts"]["training_sample_rows"], 153_803);
    // The purchase case inside the all-cases run is the same as run by name.
    let default = format!("{all}/purchase");
    run(&[
        "case-study",
        "purchase",
        "--quick",
        "--out",
        &named,
        "--quiet",
    ])
    .ok();
    let read = |dir: &str, file: &str| std::fs::read(format!("{dir}/{file}")).unwrap();
    for bundle in ["paper/model.safetensors", "default/model.safetensors"] {
        assert!(read(&default, bundle) == read(&named, bundle), "{bundle}");
    }
    // Wall times aside (the `seconds` of metrics.json and history.csv, the timings of
    // report.md), the two runs are the same bytes.
    let metrics = |dir: &str| {
        let mut m: Value = serde_json::from_slice(&read(dir, "metrics.json")).unwrap();
        m.as_object_mut().unwrap().remove("seconds");
        m
    };
    assert_eq!(metrics(&default), metrics(&named));
    let history = |dir: &str| {
        let text = String::from_utf8(read(dir, "history.csv")).unwrap();
        let rows: Vec<String> = text
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect();
        rows
    };
    assert_eq!(history(&default), history(&named));
    let report = |dir: &str| {
        let text = String::from_utf8(read(dir, "report.md")).unwrap();
        text.split(" s ")
            .map(|part| part.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.'))
            .collect::<Vec<_>>()
            .join(" s ")
    };
    assert_eq!(report(&default), report(&named));
    assert!(report(&named).contains("Produced by `glassbox case-study purchase --quick`"));
}

#[test]
fn help_teaches_every_command() {
    let top = run(&["--help"]).ok().stdout;
    for cmd in ["case-study", "train", "evaluate", "predict", "inspect"] {
        assert!(top.contains(cmd), "--help lacks {cmd}");
        let sub = run(&[cmd, "--help"]).ok().stdout;
        assert!(
            sub.contains("Examples:"),
            "{cmd} --help has no examples:\n{sub}"
        );
    }
    let train = run(&["train", "--help"]).ok().stdout;
    for flag in [
        "--target",
        "--positive",
        "--schema",
        "--categorical",
        "--missing",
        "--log1p",
        "--drop",
        "--val-fraction",
        "--hidden",
        "--activation",
        "--loss",
        "--optimizer",
        "--lr",
        "--epochs",
        "--batch-size",
        "--seed",
        "--class-weight",
        "--early-stopping",
        "--ensemble",
        "--recipe",
        "--out",
        "--threads",
        "--quiet",
    ] {
        assert!(train.contains(flag), "train --help lacks {flag}");
    }
    let v = run(&["--version"]).ok().stdout;
    assert!(v.starts_with("glassbox "), "{v}");
}
