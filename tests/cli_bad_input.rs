//! Bad input to the `glassbox` binary, one test per case: each must fail with a message
//! naming the file (and the line and column where they apply), exit code 2 for problems the
//! user can fix, no panic, and no partial output left behind. Unseen categories at
//! prediction time must *work* and be counted.

#[path = "cli/support.rs"]
mod support;

use support::{Scratch, files_under, run, shared_model, simple_csv};

/// `train` on `data` into `out` with the small recipe used throughout.
fn train(data: &str, out: &str, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "train",
        data,
        "--target",
        "bought",
        "--out",
        out,
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--ensemble",
        "1",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Asserts the output folder holds no file at all (it may not exist).
fn nothing_written(out: &str) {
    let files = files_under(std::path::Path::new(out));
    assert!(files.is_empty(), "files left behind in {out}: {files:?}");
}

#[test]
fn missing_file() {
    let s = Scratch::new("missing_file");
    let data = s.path("nope.csv");
    let out = s.path("out");
    train(&data, &out, &[])
        .fails_with(2)
        .stderr_has(&["nope.csv", "cannot read the file"]);
    assert!(
        !std::path::Path::new(&out).exists(),
        "the run folder was left behind"
    );
}

#[test]
fn empty_file() {
    let s = Scratch::new("empty_file");
    let data = s.file("empty.csv", "");
    let out = s.path("out");
    train(&data, &out, &[])
        .fails_with(2)
        .stderr_has(&["empty.csv", "the file is empty"]);
    nothing_written(&out);
}

#[test]
fn header_only() {
    let s = Scratch::new("header_only");
    let data = s.file("header.csv", "age,plan,bought\n");
    let out = s.path("out");
    train(&data, &out, &[])
        .fails_with(2)
        .stderr_has(&["header.csv", "no data rows"]);
    nothing_written(&out);
}

#[test]
fn ragged_rows() {
    let s = Scratch::new("ragged_rows");
    let mut csv = simple_csv(20, 2);
    csv.push_str("30,basic,4\n"); // line 22: 3 fields instead of 5
    let data = s.file("ragged.csv", csv);
    let out = s.path("out");
    train(&data, &out, &[]).fails_with(2).stderr_has(&[
        "ragged.csv, line 22",
        "expected 5 fields",
        "found 3",
    ]);
    nothing_written(&out);
}

#[test]
fn non_numeric_value_in_a_numeric_column() {
    let s = Scratch::new("non_numeric");
    let mut csv = simple_csv(20, 3);
    csv.push_str("30,basic,4,TRUE,no\n");
    csv.push_str("31,pro,7,FALSE,yes\n");
    let data = s.file("typo.csv", csv);
    let out = s.path("out");
    // `visits` is numeric in every other row; declaring it makes "7a" an error, not text.
    let csv = std::fs::read_to_string(&data)
        .unwrap()
        .replace("31,pro,7,", "31,pro,7a,");
    std::fs::write(&data, csv).unwrap();
    let schema = s.file("schema.toml", "[columns.visits]\nkind = \"numeric\"\n");
    train(&data, &out, &["--schema", &schema])
        .fails_with(2)
        .stderr_has(&[
            "typo.csv, line 23, column 3 (\"visits\")",
            "\"7a\" is not a number",
        ]);
    nothing_written(&out);
}

#[test]
fn infinite_value_is_an_error_with_line_and_column() {
    let s = Scratch::new("infinite");
    let mut csv = simple_csv(20, 4);
    csv.push_str("inf,basic,4,TRUE,no\n");
    let data = s.file("inf.csv", csv);
    let out = s.path("out");
    train(&data, &out, &[])
        .fails_with(2)
        .stderr_has(&["inf.csv, line 22, column 1 (\"age\")", "infinite"]);
    nothing_written(&out);
}

#[test]
fn nan_is_a_missing_value_and_is_imputed() {
    let s = Scratch::new("nan");
    let mut csv = simple_csv(60, 5);
    csv.push_str("NaN,basic,4,TRUE,no\n30,pro,,FALSE,yes\n");
    let data = s.file("nan.csv", csv);
    let out = s.path("out");
    // Every row trains (no validation part), so the one NaN age is among them.
    let all_rows = [
        "--val-fraction",
        "0",
        "--early-stopping",
        "0",
        "--threshold",
        "0.5",
    ];
    train(&data, &out, &all_rows).ok();
    let r = run(&["inspect", &format!("{out}/model.safetensors"), "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // The preprocessor recorded 61 observed ages of 62 rows (one NaN).
    let cols = v["preprocessor"]["columns"].as_array().unwrap();
    let age = cols.iter().find(|c| c["column"] == "age").unwrap();
    assert_eq!(age["observed"], 61, "{age}");
}

#[test]
fn missing_target_column() {
    let s = Scratch::new("missing_target");
    let data = s.file("data.csv", simple_csv(20, 6));
    let out = s.path("out");
    run(&[
        "train", &data, "--target", "Revenue", "--out", &out, "--quiet",
    ])
    .fails_with(2)
    .stderr_has(&[
        "data.csv",
        "target column \"Revenue\" not found",
        "\"bought\"",
    ]);
    nothing_written(&out);
}

#[test]
fn single_class_target() {
    let s = Scratch::new("single_class");
    let csv = simple_csv(20, 7).replace(",yes\n", ",no\n");
    let data = s.file("one.csv", csv);
    let out = s.path("out");
    train(&data, &out, &[])
        .fails_with(2)
        // yes/no is a boolean spelling: the class is reported by its key, "false".
        .stderr_has(&["one.csv", "single class", "\"false\" (all 20 rows)"]);
    nothing_written(&out);
}

#[test]
fn unknown_positive_label() {
    let s = Scratch::new("unknown_positive");
    let data = s.file("data.csv", simple_csv(20, 8));
    let out = s.path("out");
    train(&data, &out, &["--positive", "maybe"])
        .fails_with(2)
        .stderr_has(&[
            "data.csv",
            "positive label \"maybe\"",
            "\"false\", \"true\"",
        ]);
    nothing_written(&out);
}

#[test]
fn unseen_categories_at_predict_time_work_and_are_counted() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("unseen");
    let data = s.file(
        "new.csv",
        "age,plan,visits,weekend\n30,basic,3,FALSE\n41,enterprise,9,TRUE\n52,free,0,FALSE\n",
    );
    let r = run(&["predict", model, &data]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "row,line,probability,label");
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    assert!(lines[2].starts_with("2,3,"), "{}", lines[2]);
    assert!(
        r.stderr
            .contains("column \"plan\": 2 values not seen in training, encoded as <unknown>"),
        "{}",
        r.stderr
    );
}

#[test]
fn truncated_bundle() {
    let (_, model, data) = shared_model();
    let s = Scratch::new("truncated");
    let bytes = std::fs::read(model).unwrap();
    let cut = s.file("cut.safetensors", &bytes[..bytes.len() / 2]);
    run(&["predict", &cut, data]).fails_with(2).stderr_has(&[
        "cut.safetensors",
        "not a glassbox model bundle",
        "truncated",
    ]);
    // Cut inside the header, too.
    let cut = s.file("cut2.safetensors", &bytes[..20]);
    run(&["inspect", &cut])
        .fails_with(2)
        .stderr_has(&["cut2.safetensors"]);
}

#[test]
fn corrupted_bundle() {
    let (_, model, data) = shared_model();
    let s = Scratch::new("corrupted");
    let mut bytes = std::fs::read(model).unwrap();
    let last = bytes.len() - 3; // inside the last tensor's data
    bytes[last] ^= 0x40;
    let bad = s.file("flipped.safetensors", &bytes);
    run(&["evaluate", &bad, data, "--out", &s.path("eval")])
        .fails_with(2)
        .stderr_has(&["flipped.safetensors", "corrupted", "checksum"]);
    nothing_written(&s.path("eval"));
    // Not a model at all.
    let junk = s.file(
        "junk.safetensors",
        "this is not a model file at all, just text",
    );
    run(&["inspect", &junk])
        .fails_with(2)
        .stderr_has(&["junk.safetensors", "not a glassbox model bundle"]);
}

#[test]
fn bundle_from_a_different_schema() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("other_schema");
    // A CSV from another source: no `visits` column, which the model needs.
    let data = s.file("other.csv", "age,plan,weekend,city\n30,basic,TRUE,Oslo\n");
    let out = s.path("preds.csv");
    run(&["predict", model, &data, "--out", &out])
        .fails_with(2)
        .stderr_has(&["other.csv", "no column \"visits\"", "\"city\""]);
    nothing_written(s.dir().join("nothing").to_str().unwrap());
    assert!(
        !std::path::Path::new(&out).exists(),
        "partial predictions left behind"
    );
    assert_eq!(files_under(s.dir()), ["other.csv"], "stray files");
}

#[test]
fn bad_value_after_the_first_chunk_leaves_no_partial_predictions() {
    let (_, model, _) = shared_model();
    let s = Scratch::new("late_error");
    let mut csv = String::from("age,plan,visits,weekend\n");
    for i in 0..50 {
        csv.push_str(&format!("{},basic,{},FALSE\n", 20 + i % 40, i % 9));
    }
    csv.push_str("33,pro,lots,TRUE\n"); // line 52
    let data = s.file("late.csv", csv);
    let out = s.path("preds.csv");
    run(&["predict", model, &data, "--out", &out, "--chunk-rows", "16"])
        .fails_with(2)
        .stderr_has(&["late.csv, line 52, column 3 (\"visits\")", "\"lots\""]);
    assert_eq!(
        files_under(s.dir()),
        ["late.csv"],
        "partial output left behind"
    );
}

#[test]
fn unwritable_output_folder() {
    let s = Scratch::new("unwritable");
    let data = s.file("data.csv", simple_csv(30, 9));
    let blocker = s.file("a_file", "I am a regular file");
    let out = format!("{blocker}/run");
    train(&data, &out, &[])
        .fails_with(2)
        .stderr_has(&["cannot create run folder", "a_file/run"]);
    assert_eq!(files_under(s.dir()), ["a_file", "data.csv"], "stray files");
    // predict --out under a regular file
    let (_, model, train_csv) = shared_model();
    run(&[
        "predict",
        model,
        train_csv,
        "--out",
        &format!("{blocker}/p.csv"),
    ])
    .fails_with(2)
    .stderr_has(&["cannot write", "a_file/p.csv"]);
    assert_eq!(files_under(s.dir()), ["a_file", "data.csv"], "stray files");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let r = run(&["train", "x.csv"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--target"), "{}", r.stderr);
    let s = Scratch::new("bad_args");
    let data = s.file("data.csv", simple_csv(30, 10));
    train(
        &data,
        &s.path("out"),
        &["--val-fraction", "0", "--early-stopping", "3"],
    )
    .fails_with(2)
    .stderr_has(&["early stopping needs a validation part"]);
    train(&data, &s.path("out"), &["--activation", "swish"])
        .fails_with(2)
        .stderr_has(&["--activation"]);
    let r = run(&["train", &data, "--target", "bought", "--threshold", "2"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    nothing_written(&s.path("out"));
}

/// `glassbox trace | head`: the reader goes away before the output is written. The process
/// must end quietly (killed by SIGPIPE, like other Unix tools), not panic in `println!`.
#[cfg(unix)]
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    use std::io::Read as _;
    use std::process::Stdio;
    let mut child = support::glassbox()
        .arg("trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("glassbox starts");
    drop(child.stdout.take()); // close the read end before the child writes
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("stderr readable");
    let status = child.wait().expect("glassbox ends");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!status.success(), "a write to a closed pipe cannot succeed");
}
