//! Bad input to the audit commands through the `glassbox` binary: missing or damaged model
//! files, missing, header-only or incomplete data files, unknown columns, rows out of range
//! and bad options — each exits with 2, names the file, never panics and leaves nothing
//! behind. (The commands' good paths: tests/cli_audit.rs.)

#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/support.rs"]
mod support;

use std::path::Path;

use audit::{absent, data_rows, model, test_csv};
use support::{Scratch, files_under, run};

/// Runs every command line of `cases`: each must exit with 2, say every fragment on stderr
/// (which starts with `error: ` and holds no panic), and leave none of `outputs` behind.
fn each_fails(cases: &[Vec<&str>], fragments: &[&str], outputs: &[&str]) {
    for args in cases {
        run(args).fails_with(2).stderr_has(fragments);
        for o in outputs {
            absent(o);
        }
    }
}

#[test]
fn missing_and_damaged_model_files() {
    let s = Scratch::new("bad_model");
    let data = test_csv();
    let out = s.path("out");
    let nope = s.path("nope.safetensors");
    each_fails(
        &[
            vec!["gradcheck", &nope, &data],
            vec!["trace", &nope, &data],
            vec!["explain", &nope, &data, "--out", &out],
            vec!["evaluate", &nope, &data, "--by", "Region", "--out", &out],
        ],
        &["nope.safetensors", "cannot read the model file"],
        &[&out],
    );
    // Truncated: half the file.
    let bytes = std::fs::read(model()).unwrap();
    let cut = s.file("cut.safetensors", &bytes[..bytes.len() / 2]);
    each_fails(
        &[
            vec!["gradcheck", &cut, &data],
            vec!["trace", &cut, &data],
            vec!["explain", &cut, &data, "--out", &out],
        ],
        &[
            "cut.safetensors",
            "not a glassbox model bundle",
            "truncated",
        ],
        &[&out],
    );
    // Corrupted: one bit of the last tensor flipped.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x40;
    let bad = s.file("flipped.safetensors", &flipped);
    each_fails(
        &[vec!["explain", &bad, &data, "--out", &out]],
        &["flipped.safetensors", "corrupted", "checksum"],
        &[&out],
    );
    assert_eq!(
        files_under(s.dir()),
        ["cut.safetensors", "flipped.safetensors"],
        "stray files"
    );
}

#[test]
fn missing_header_only_and_incomplete_data_files() {
    let s = Scratch::new("bad_data");
    let out = s.path("out");
    let report = s.path("report.txt");
    let outputs = [out.as_str(), report.as_str()];
    let nope = s.path("nope.csv");
    each_fails(
        &[
            vec!["gradcheck", model(), &nope, "--out", &report],
            vec!["trace", model(), &nope, "--out", &report],
            vec!["explain", model(), &nope, "--out", &out],
            vec!["evaluate", model(), &nope, "--by", "Region", "--out", &out],
        ],
        &["nope.csv", "cannot read the file"],
        &outputs,
    );
    let csv = std::fs::read_to_string(test_csv()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let header = s.file("header.csv", format!("{}\n", lines[0]));
    each_fails(
        &[
            vec!["gradcheck", model(), &header, "--out", &report],
            vec!["explain", model(), &header, "--out", &out],
        ],
        &["header.csv", "no data rows"],
        &outputs,
    );
    // No PageValues column (the ninth), which the model needs.
    let without: String = lines[..6]
        .iter()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            cells.remove(8);
            format!("{}\n", cells.join(","))
        })
        .collect();
    assert!(!without.contains("PageValues"));
    let no_pv = s.file("no_pv.csv", without);
    each_fails(
        &[
            vec!["gradcheck", model(), &no_pv, "-k", "2", "--out", &report],
            vec!["trace", model(), &no_pv, "--out", &report],
            vec!["explain", model(), &no_pv, "--out", &out],
        ],
        &["no_pv.csv", "no column \"PageValues\""],
        &outputs,
    );
    // A bad value: the message names the line and the column.
    let mut typo: Vec<String> = lines[..6].iter().map(|l| l.to_string()).collect();
    let mut cells: Vec<&str> = lines[4].split(',').collect();
    cells[8] = "lots";
    typo[4] = cells.join(",");
    let typo = s.file("typo.csv", typo.join("\n") + "\n");
    each_fails(
        &[vec![
            "gradcheck",
            model(),
            &typo,
            "-k",
            "2",
            "--out",
            &report,
        ]],
        &["typo.csv, line 5, column 9 (\"PageValues\")", "\"lots\""],
        &outputs,
    );
    // More rows than the file holds.
    let five = s.file("five.csv", lines[..6].join("\n") + "\n");
    each_fails(
        &[vec![
            "trace",
            model(),
            &five,
            "--rows",
            "9",
            "--out",
            &report,
        ]],
        &["five.csv", "9 rows requested but the file holds 5"],
        &outputs,
    );
}

#[test]
fn evaluate_by_an_unknown_column_writes_nothing() {
    let s = Scratch::new("by_unknown");
    let data = test_csv();
    let out = s.path("eval");
    let evaluate_by = |by| vec!["evaluate", model(), &data, "--by", by, "--out", &out];
    // Region is fine; the unknown column is refused before Region's report or metrics.json
    // are written, naming the file and listing its columns.
    each_fails(
        &[evaluate_by("Region,NoSuchColumn")],
        &[
            "online_shoppers_test.csv",
            "no column \"NoSuchColumn\" for --by",
            "\"VisitorType\"",
        ],
        &[&out],
    );
    // Into a folder that exists already (kept, as it is not the run's): nothing written.
    std::fs::create_dir_all(&out).unwrap();
    let nothing_in_out = || {
        let files = files_under(Path::new(&out));
        assert!(files.is_empty(), "left behind: {files:?}");
    };
    each_fails(
        &[evaluate_by("NoSuchColumn")],
        &["no column \"NoSuchColumn\""],
        &[],
    );
    nothing_in_out();
    // A column with too many values to be a grouping.
    each_fails(
        &[evaluate_by("ProductRelated_Duration")],
        &["ProductRelated_Duration", "distinct values"],
        &[],
    );
    nothing_in_out();
}

#[test]
fn explain_row_out_of_range_and_bad_options() {
    let s = Scratch::new("bad_options");
    let data = test_csv();
    let n = data_rows(&data);
    let out = s.path("explain");
    let rows = format!("0,{n}");
    each_fails(
        &[vec![
            "explain",
            model(),
            &data,
            "--rows",
            &rows,
            "--out",
            &out,
        ]],
        &[
            "online_shoppers_test.csv",
            &format!("row {n} requested but the file holds rows 0..{n}"),
        ],
        &[&out],
    );
    // Importance that cannot be computed fails before explain.json is written: no repeats,
    // or a file of one class (ROC-AUC undefined).
    let importance = |file| vec!["explain", model(), file, "--importance", "--out", &out];
    let mut no_repeats = importance(&data);
    no_repeats.extend(["--repeats", "0"]);
    each_fails(
        &[no_repeats],
        &["repeats = 0", "at least one repeat"],
        &[&out],
    );
    let csv = std::fs::read_to_string(&data).unwrap();
    let negatives: String = csv
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.ends_with(",FALSE"))
        .take(40)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let one_class = s.file("one_class.csv", negatives);
    each_fails(
        &[importance(&one_class)],
        &["one_class.csv", "ROC-AUC"],
        &[&out],
    );
    // An unknown format is an argument error listing the choices.
    let r = run(&["trace", "--format", "nonsense"]).fails_with(2);
    for word in ["nonsense", "text", "json", "markdown"] {
        assert!(r.stderr.contains(word), "{word}: {}", r.stderr);
    }
    assert!(r.stdout.is_empty());
    // The example has no model optimizer.
    each_fails(
        &[vec!["trace", "--optimizer", "model"]],
        &["--optimizer model needs a MODEL"],
        &[],
    );
}
