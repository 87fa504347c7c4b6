//! The audit commands through the `glassbox` binary: `trace`, `gradcheck`, `explain` and
//! `evaluate --by`, end to end on the bundled Online Shoppers files, and their bad input
//! (exit code 2, a message naming the file, no panic, nothing left behind).
//!
//! One small model (8 hidden units, 2 epochs, one network) is trained once per test process
//! and shared. The numbers asserted come from elsewhere, never from a previous run: the
//! hand-worked 2-2-1 example of notes/teaching.md §3–§6 (13 significant digits), equations
//! recomputed here from the JSON the commands write (BCE from the logits, the completeness
//! gap of integrated gradients, the 95 % interval of permutation importance, the
//! demographic-parity difference), and counts read from the CSV files themselves.

#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use audit::{data_rows, model, test_csv, train_one_epoch};
use serde_json::Value;
use support::{Scratch, files_under, run};

fn read_json(path: impl AsRef<Path>) -> Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(f)
        .collect()
}

/// `|a − e| ≤ rel·|e|` (or `≤ rel` near zero).
fn assert_close(a: f64, e: f64, rel: f64, what: &str) {
    assert!(
        (a - e).abs() <= rel * e.abs().max(1e-300),
        "{what}: {a:e} vs {e:e} (rel {:e})",
        (a - e).abs() / e.abs()
    );
}

/// The quantity `id` of a trace's JSON, in any section.
fn quantity<'a>(trace: &'a Value, id: &str) -> &'a Value {
    trace["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["quantities"].as_array().unwrap())
        .find(|q| q["id"] == id)
        .unwrap_or_else(|| panic!("no quantity {id}"))
}

/// The `column` field of each entry.
fn column_names(entries: &[Value]) -> BTreeSet<&str> {
    entries
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect()
}

/// The units of each layer of a trace's JSON, input side first.
fn layer_units(trace: &Value) -> Vec<u64> {
    trace["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["units"].as_u64().unwrap())
        .collect()
}

/// Asserts the file exists and starts like an SVG or PNG file.
fn assert_image(path: &Path) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{}",
            path.display()
        ),
        Some("svg") => assert!(
            String::from_utf8_lossy(&bytes).contains("<svg"),
            "{}",
            path.display()
        ),
        _ => panic!("not an image: {}", path.display()),
    }
}

// ---------------------------------------------------------------------------------------
// trace

/// Hand-worked values of notes/teaching.md §3–§6 (13 significant digits, relative 1e-11
/// covers the printing), with the equation each is labelled with.
const HAND_WORKED: &[(&str, usize, f64, &str)] = &[
    // (id, index, value, equation)
    ("z1", 1, 0.3925, "B1, B20"),
    ("y1", 0, 0.5932699921072, "B2, B10"),
    ("y2", 0, 0.7513650695523, "B2, B10"),
    ("loss", 0, 0.3035152678491, "L1"),
    ("d_z2", 1, -0.04487717590896, "B3, B10, B20b"),
    ("d_theta2", 0, 0.05578691096127, "B4, B20c"),
    ("d_theta1", 0, -0.0006363772020568, "B4, B20c"),
    ("d_x", 3, -0.002335107027546, "B6, B20d"),
    ("theta_new", 0, 0.2499984286296, "O12"),
];

#[test]
fn trace_of_the_hand_worked_example_in_three_formats() {
    // Text: the numbers as notes/teaching.md prints them, each with its equation label.
    let text = run(&["trace"]).ok().stdout;
    assert!(text.contains("batch N = 2"), "{text}");
    assert!(text.contains("step t = 1"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    for (id, _, value, eq) in HAND_WORKED {
        // Rust prints these f64 in the notes' 13 digits (no trailing zeros among them).
        let printed = format!("{value}");
        assert!(text.contains(&printed), "{id}: {printed} missing:\n{text}");
        if *id == "theta_new" {
            // The update prints as a table, one row per parameter, under its formula line.
            assert!(text.contains(&format!("({eq})")), "{id}: ({eq}) missing");
            continue;
        }
        // A quantity prints as `symbol = formula   (equation; shape)`, values indented below.
        let labelled = lines.iter().enumerate().any(|(i, l)| {
            l.contains(&format!("({eq};"))
                && lines[i + 1..]
                    .iter()
                    .take_while(|v| v.starts_with("    "))
                    .any(|v| v.contains(&printed))
        });
        assert!(
            labelled,
            "{id}: {printed} is not under an ({eq}; …) label:\n{text}"
        );
    }
    // The 2-2-1 example has 9 parameters, one update row each, labelled both ways.
    assert!(text.contains("Θ₁[1,2]"), "{text}");
    assert!(text.contains("layers.0.weight[0,1]"), "{text}");

    // JSON: the same numbers, exact to the notes' printing.
    let json: Value = serde_json::from_str(&run(&["trace", "--format", "json"]).ok().stdout)
        .expect("trace --format json is JSON");
    for key in [
        "title",
        "inputs",
        "layers",
        "rows",
        "loss",
        "optimizer",
        "step",
        "sections",
    ] {
        assert!(json.get(key).is_some(), "no {key} in the trace JSON");
    }
    assert_eq!(json["inputs"], 2);
    assert_eq!(json["rows"], 2);
    assert_eq!(json["step"], 1);
    assert_eq!(layer_units(&json), [2, 1]);
    for (id, i, value, eq) in HAND_WORKED {
        let q = quantity(&json, id);
        assert_eq!(q["equation"], *eq, "{id}");
        for key in ["symbol", "formula", "shape", "origin"] {
            assert!(q.get(key).is_some(), "{id} has no {key}");
        }
        assert_close(f(&q["values"][*i]), *value, 1e-11, &format!("{id}[{i}]"));
    }
    // Z₁ whole (notes/teaching.md §3), row-major with its shape.
    let z1 = quantity(&json, "z1");
    assert_eq!(z1["shape"], serde_json::json!([2, 2]));
    for (a, e) in floats(&z1["values"])
        .iter()
        .zip([0.3775, 0.3925, 0.355, 0.365])
    {
        assert_close(*a, e, 1e-14, "Z₁");
    }
    // Adam's first step: m̂ equals g, so every parameter moves by lr = 0.1 (less ε's share).
    let step = floats(&quantity(&json, "adam_step")["values"]);
    assert_eq!(step.len(), 9);
    for s in &step {
        assert!((s.abs() - 0.1).abs() < 2e-6, "Adam step {s}");
    }

    // Markdown: a handout of tables.
    let md = run(&["trace", "--format", "markdown"]).ok().stdout;
    assert!(md.starts_with("# "), "{md}");
    let lines: Vec<&str> = md.lines().collect();
    let header = lines
        .iter()
        .position(|l| *l == "| quantity | formula | equation | shape | value |")
        .unwrap_or_else(|| panic!("no quantity table:\n{md}"));
    assert_eq!(lines[header + 1], "|---|---|---|---|---|");
    let loss_row = lines
        .iter()
        .find(|l| l.contains("| L1 |"))
        .unwrap_or_else(|| panic!("no L1 row:\n{md}"));
    assert!(loss_row.contains("0.3035152678491"), "{loss_row}");
    assert!(lines.iter().any(|l| l.starts_with("| parameter |")), "{md}");
    for l in lines.iter().filter(|l| l.starts_with('|')) {
        assert!(l.ends_with('|'), "ragged table row {l:?}");
    }

    // --out writes the same text to a file and prints nothing.
    let s = Scratch::new("trace_out");
    let file = s.path("step.md");
    let r = run(&["trace", "--format", "markdown", "--out", &file]).ok();
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), md);
}

#[test]
fn trace_of_a_saved_model_on_csv_rows() {
    let k = 3;
    let data = test_csv();
    let r = run(&["trace", model(), &data, "--rows", "3", "--format", "json"]).ok();
    let t: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(t["rows"], k);
    assert_eq!(t["step"], 1);
    let d = t["inputs"].as_u64().unwrap() as usize;
    assert_eq!(layer_units(&t), [8, 1]);
    assert_eq!(quantity(&t, "x")["shape"], serde_json::json!([k, d]));

    // The model's loss is BCE from the logits (the default recipe, no class weights):
    // L = (1/N) Σ max(z, 0) − z·y + ln(1 + e^{−|z|}) (notes/losses.md), recomputed here.
    let z = floats(&quantity(&t, "z2")["values"]);
    let y = floats(&quantity(&t, "y_target")["values"]);
    let p = floats(&quantity(&t, "y2")["values"]);
    assert_eq!((z.len(), y.len(), p.len()), (k, k, k));
    let bce = z
        .iter()
        .zip(&y)
        .map(|(&z, &y)| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p())
        .sum::<f64>()
        / k as f64;
    assert_close(f(&quantity(&t, "loss")["values"][0]), bce, 1e-12, "loss");
    // The fused backward: ∂L/∂z = (σ(z) − y)/N.
    let d_z = floats(&quantity(&t, "d_z2")["values"]);
    for n in 0..k {
        assert_close(p[n], 1.0 / (1.0 + (-z[n]).exp()), 1e-12, "σ(z)");
        assert_close(d_z[n], (p[n] - y[n]) / k as f64, 1e-12, "d_z2");
    }
    // The targets are the file's first rows' Revenue column.
    let csv = std::fs::read_to_string(&data).unwrap();
    let revenue: Vec<f64> = csv
        .lines()
        .skip(1)
        .take(k)
        .map(|l| if l.ends_with("TRUE") { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(y, revenue);

    // The probabilities are the ones `predict` gives for the same rows (6 decimals there).
    let s = Scratch::new("trace_model");
    let head: String = csv.lines().take(k + 1).map(|l| format!("{l}\n")).collect();
    let few = s.file("few.csv", head);
    let preds = run(&["predict", model(), &few]).ok().stdout;
    let predicted: Vec<f64> = preds
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(predicted.len(), k);
    for n in 0..k {
        assert!(
            (predicted[n] - p[n]).abs() <= 1e-6,
            "row {n}: predict {} vs trace {}",
            predicted[n],
            p[n]
        );
    }

    // Text output names the file and the features.
    let text = run(&["trace", model(), &data, "-k", "2"]).ok().stdout;
    assert!(text.contains("online_shoppers_test.csv"), "{text}");
    assert!(text.contains("PageValues"), "{text}");
    assert!(text.contains("batch N = 2"), "{text}");
}

/// A one-epoch `--feature-scale` model traced end to end (notes/backprop.md §13, B31–B32):
/// s, X̃ = X ⊙ s, ∂L/∂s and ∂L/∂X = ∂L/∂X̃ ⊙ s in the JSON, exactly as N1–N2 say, and the
/// SGD step of s; a PLR model is refused with exit 2 and a message that names it.
#[test]
fn trace_of_a_feature_scale_model_and_a_refused_plr_one() {
    let s = Scratch::new("trace_scale");
    let train_with = |name: &str, extra: &[&str]| train_one_epoch(&s.path(name), extra);
    let data = test_csv();
    let scaled = train_with("scaled", &["--feature-scale"]);
    let args = [
        "trace",
        &scaled,
        &data,
        "--rows",
        "3",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
    ];
    let r = run(&[&args[..], &["--format", "json"]].concat()).ok();
    let t: Value = serde_json::from_str(&r.stdout).unwrap();
    let d = t["inputs"].as_u64().unwrap() as usize;
    let v = |id: &str| floats(&quantity(&t, id)["values"]);
    let (scale, x, xs) = (v("s"), v("x"), v("x_scaled"));
    assert_eq!(scale.len(), d);
    assert!(
        scale.iter().any(|&s| s != 1.0),
        "one epoch moved s from 1 (N11)"
    );
    let (d_xs, d_s, d_x) = (v("d_x_scaled"), v("d_s"), v("d_x"));
    for n in 0..3 {
        for (c, &s) in scale.iter().enumerate() {
            let i = n * d + c;
            assert_eq!(xs[i], x[i] * s, "x̃[{n},{c}]");
            assert_eq!(d_x[i], d_xs[i] * s, "∂L/∂x[{n},{c}]");
        }
    }
    for c in 0..d {
        let want = (0..3).fold(0.0, |acc, n| acc + d_xs[n * d + c] * x[n * d + c]);
        assert_eq!(d_s[c], want, "∂L/∂s[{c}]");
    }
    let new = v("theta_new");
    for c in 0..d {
        assert_eq!(new[c], scale[c] - 0.5 * d_s[c], "s[{c}] after the step");
    }
    assert_eq!(quantity(&t, "d_s")["equation"], "N2, B32");
    let text = run(&args).ok().stdout;
    assert!(text.contains("layers.0.scale"), "{text}");

    let plr = train_with(
        "plr",
        &[
            "--embedding",
            "plr",
            "--plr-frequencies",
            "2",
            "--plr-units",
            "2",
        ],
    );
    let refused = run(&["trace", &plr, &data]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--embedding plr"),
        "{}",
        refused.stderr
    );
}

// ---------------------------------------------------------------------------------------
// gradcheck

/// The value after `label` in `text`, up to the next space, comma or parenthesis.
fn number_after(text: &str, label: &str) -> f64 {
    let start = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
        + label.len();
    let rest = &text[start..];
    let end = rest.find([' ', ',', ')', '\n']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("{label:?} {:?}: {e}", &rest[..end]))
}

#[test]
fn gradcheck_passes_with_errors_below_its_tolerance() {
    let data = test_csv();
    // Text: the verdict line, the largest relative error and the tolerance it is held to.
    let text = run(&["gradcheck", model(), &data, "--rows", "16"])
        .ok()
        .stdout;
    assert!(text.contains(": PASS, max relative error"), "{text}");
    let max_rel = number_after(&text, "max relative error ");
    let tol = number_after(&text, "(tolerance ");
    assert_eq!(tol, 1e-7, "the documented tolerance");
    assert!(max_rel < tol, "max relative error {max_rel:e} ≥ {tol:e}");
    assert!(text.contains("rejected, as it must be"), "{text}");
    // One table row per tensor, each with its own error below the tolerance and PASS.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("layers.") || l.starts_with("input"))
        .collect();
    assert_eq!(rows.len(), 5, "4 parameter tensors and the input:\n{text}");
    for row in &rows {
        let cells: Vec<&str> = row.split("  ").filter(|c| !c.trim().is_empty()).collect();
        let err: f64 = cells[cells.len() - 4].trim().parse().unwrap();
        assert!(err < tol, "{row}");
        assert_eq!(cells[cells.len() - 1].trim(), "pass", "{row}");
    }

    // JSON: every element checked (the model is small), non-zero gradients (a check of zeros
    // against zeros proves nothing), and the negative control rejected.
    let r = run(&[
        "gradcheck",
        model(),
        &data,
        "--rows",
        "16",
        "--format",
        "json",
    ])
    .ok();
    let reports: Value = serde_json::from_str(&r.stdout).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 1, "one network");
    let g = &reports[0];
    assert_eq!(g["passed"], true);
    assert_eq!(g["rows"], 16);
    let tol = f(&g["tolerance"]);
    let mut checked = 0;
    let mut max_seen = 0.0f64;
    for t in g["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let size: u64 = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .product();
        assert_eq!(
            t["checked"].as_u64().unwrap() + t["skipped_kinks"].as_u64().unwrap(),
            size,
            "{name}: every element"
        );
        if name.starts_with("layers.") {
            checked += size;
        }
        let rel = f(&t["max_rel_err"]);
        assert!(rel < tol, "{name}: {rel:e}");
        assert!(f(&t["analytic_norm"]) > 0.0, "{name}: all-zero gradient");
        assert_close(
            f(&t["numeric_norm"]),
            f(&t["analytic_norm"]),
            1e-6,
            &format!("{name}: |numeric| vs |analytic|"),
        );
        max_seen = max_seen.max(rel);
    }
    assert_eq!(checked, g["params"].as_u64().unwrap(), "every parameter");
    assert_eq!(f(&g["max_rel_err"]), max_seen);
    assert!(
        g["negative_control"]["detected"] == true,
        "{}",
        g["negative_control"]
    );
}

// ---------------------------------------------------------------------------------------
// explain

#[test]
fn explain_writes_reports_with_complete_attributions_and_intervals() {
    let s = Scratch::new("explain");
    let out = s.path("explain");
    let data = test_csv();
    let r = run(&[
        "explain",
        model(),
        &data,
        "--rows",
        "0,7",
        "--importance",
        "--out",
        &out,
    ])
    .ok();
    assert!(r.stdout.contains("PageValues"), "{}", r.stdout);
    let files: BTreeSet<String> = files_under(Path::new(&out)).into_iter().collect();
    let expected: BTreeSet<String> = [
        "explain.json",
        "explain.md",
        "importance.json",
        "importance.md",
        "plots/explain_row0.png",
        "plots/explain_row0.svg",
        "plots/explain_row7.png",
        "plots/explain_row7.svg",
        "plots/importance.png",
        "plots/importance.svg",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(files, expected);
    for f in files.iter().filter(|f| f.starts_with("plots/")) {
        assert_image(&Path::new(&out).join(f));
    }

    // The CSV's columns, and the model's: every column but the target.
    let csv = std::fs::read_to_string(&data).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let lines: Vec<&str> = csv.lines().collect();
    let model_columns: BTreeSet<&str> =
        header.iter().copied().filter(|c| *c != "Revenue").collect();

    let e = read_json(Path::new(&out).join("explain.json"));
    let rel_tol = f(&e["ig"]["rel_tolerance"]);
    let abs_tol = f(&e["ig"]["abs_tolerance"]);
    assert!(
        rel_tol > 0.0 && rel_tol <= 1e-2 && abs_tol <= 1e-4,
        "{}",
        e["ig"]
    );
    let rows = e["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let mut max_gap = 0.0f64;
    for (r, want) in rows.iter().zip([0usize, 7]) {
        assert_eq!(r["row"], want);
        assert_eq!(
            r["line"],
            want + 2,
            "data row {want} is on line {}",
            want + 2
        );
        let (fx, fb) = (f(&r["f_x"]), f(&r["f_baseline"]));
        // Completeness (E6): Σ IG = f(x) − f(x′) within the stated tolerance.
        let ig_sum: f64 = r["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| f(&a["integrated_gradients"]))
            .sum();
        assert_close(f(&r["ig_sum"]), ig_sum, 1e-9, "Σ IG");
        let gap = ig_sum - (fx - fb);
        assert!(
            (f(&r["gap"]) - gap).abs() <= 1e-9,
            "gap {} vs {gap}",
            r["gap"]
        );
        let tolerance = rel_tol * (fx - fb).abs() + abs_tol;
        assert!(
            gap.abs() <= tolerance,
            "row {want}: |gap| {gap:e} > {tolerance:e}"
        );
        assert_eq!(r["complete"], true);
        assert!(
            fx != fb,
            "row {want}: the output did not move from the baseline"
        );
        max_gap = max_gap.max(gap.abs());
        // The logit is explained; the probability is its sigmoid.
        assert_close(f(&r["probability"]), 1.0 / (1.0 + (-fx).exp()), 1e-12, "p");
        // Attributions per CSV column, one-hot groups summed (E7): same total.
        let columns = r["columns"].as_array().unwrap();
        assert_eq!(column_names(columns), model_columns);
        let col_sum: f64 = columns.iter().map(|c| f(&c["integrated_gradients"])).sum();
        assert_close(col_sum, ig_sum, 1e-9, "Σ over columns");
        // Each column's value is the row's raw cell.
        let cells: Vec<&str> = lines[want + 1].split(',').collect();
        for c in columns {
            let name = c["column"].as_str().unwrap();
            let j = header.iter().position(|h| *h == name).unwrap();
            let shown = c["value"].as_str().unwrap();
            let agrees = shown == cells[j]
                || shown.eq_ignore_ascii_case(cells[j])
                || matches!((shown.parse::<f64>(), cells[j].parse::<f64>()), (Ok(a), Ok(b)) if a == b);
            assert!(
                agrees,
                "row {want}, {name}: {shown:?} vs the CSV's {:?}",
                cells[j]
            );
        }
        // Gradient × input (E2), feature by feature.
        for a in r["features"].as_array().unwrap() {
            let gxi = f(&a["x"]) * f(&a["gradient"]);
            assert!((f(&a["gradient_x_input"]) - gxi).abs() <= 1e-12 * gxi.abs().max(1.0));
        }
        let page_values = columns
            .iter()
            .find(|c| c["column"] == "PageValues")
            .unwrap();
        assert!(f(&page_values["integrated_gradients"]).is_finite());
    }
    assert_eq!(f(&e["max_abs_gap"]), max_gap);

    // Permutation importance: every column, a 95 % interval mean ∓ t₀.₉₇₅,₉·s/√10 (E9).
    let imp = read_json(Path::new(&out).join("importance.json"));
    assert_eq!(imp["rows"], data_rows(&data));
    assert_eq!(imp["metric"], "roc_auc");
    let auc = f(&imp["baseline_score"]);
    assert!(auc > 0.5 && auc <= 1.0, "baseline ROC-AUC {auc}");
    let columns = imp["columns"].as_array().unwrap();
    assert_eq!(column_names(columns), model_columns);
    const T_975_DF9: f64 = 2.262157162798; // scipy.stats.t.ppf(0.975, 9)
    let mut previous = f64::INFINITY;
    for c in columns {
        let drops = floats(&c["drops"]);
        assert_eq!(drops.len(), 10, "--repeats defaults to 10");
        let mean = drops.iter().sum::<f64>() / 10.0;
        let var = drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 9.0;
        let half = T_975_DF9 * var.sqrt() / 10f64.sqrt();
        let name = c["column"].as_str().unwrap();
        assert!((f(&c["mean_drop"]) - mean).abs() <= 1e-12, "{name}: mean");
        let ci = floats(&c["ci95"]);
        assert_eq!(ci.len(), 2, "{name}: interval");
        assert!(
            (ci[0] - (mean - half)).abs() <= 1e-12,
            "{name}: {ci:?}, mean {mean}, half {half}"
        );
        assert!(
            (ci[1] - (mean + half)).abs() <= 1e-12,
            "{name}: {ci:?}, mean {mean}, half {half}"
        );
        assert!(
            f(&c["mean_drop"]) <= previous,
            "sorted by decreasing mean drop"
        );
        previous = f(&c["mean_drop"]);
    }
    // PageValues is the strongest single signal of this data (datasets/README.md).
    assert_eq!(columns[0]["column"], "PageValues", "{}", imp["columns"]);
    assert!(
        floats(&columns[0]["ci95"])[0] > 0.0,
        "PageValues' interval excludes 0"
    );

    let md = std::fs::read_to_string(Path::new(&out).join("explain.md")).unwrap();
    assert!(md.contains("PageValues") && md.contains("|---"), "{md}");
}

// ---------------------------------------------------------------------------------------
// evaluate --by

#[test]
fn explain_and_gradcheck_read_every_member_of_a_batch_ensemble() {
    let s = Scratch::new("explain-batch-ensemble");
    let bundle = train_one_epoch(&s.path("be"), &["--ensemble-k", "3"]);
    let data = test_csv();
    let out = s.path("explain");
    run(&[
        "explain", &bundle, &data, "--rows", "0,7", "--out", &out, "--quiet",
    ])
    .ok();
    let e = read_json(Path::new(&out).join("explain.json"));
    let predicted = run(&["predict", &bundle, &data, "--quiet"]).ok().stdout;
    let probability = |row: usize| -> f64 {
        let line = predicted.lines().nth(row + 1).unwrap();
        line.split(',').nth(2).unwrap().parse().unwrap()
    };
    for (r, want) in e["rows"].as_array().unwrap().iter().zip([0usize, 7]) {
        // The mean of the 3 members' probabilities, as `predict` prints it (6 decimals, of
        // the f32 networks; explain's are their exact f64 casts).
        let (p, printed) = (f(&r["probability"]), probability(want));
        assert!((p - printed).abs() <= 1e-6, "row {want}: {p} vs {printed}");
        assert_eq!(r["complete"], true, "row {want}: gap {}", r["gap"]);
    }
    // gradcheck checks the members' mean loss (N20) it was trained with, parameters r and s
    // included; trace still follows one logit per network: a usage error that says so.
    let checked = run(&[
        "gradcheck",
        &bundle,
        &data,
        "--rows",
        "8",
        "--format",
        "json",
    ])
    .ok();
    let reports: Value = serde_json::from_str(&checked.stdout).unwrap();
    assert_eq!(reports[0]["passed"], true, "{}", checked.stdout);
    assert!(checked.stdout.contains("layers.0.r"), "{}", checked.stdout);
    let refused = run(&["trace", &bundle, &data]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--ensemble-k"),
        "{}",
        refused.stderr
    );
}

#[test]
fn evaluate_by_writes_fairness_reports_that_add_up() {
    let s = Scratch::new("fairness");
    let out = s.path("eval");
    let data = test_csv();
    let n = data_rows(&data);
    let r = run(&[
        "evaluate",
        model(),
        &data,
        "--by",
        "VisitorType,Region",
        "--out",
        &out,
    ])
    .ok();
    assert!(r.stdout.contains("Fairness by VisitorType"), "{}", r.stdout);
    assert!(r.stdout.contains("Fairness by Region"), "{}", r.stdout);
    let files: BTreeSet<String> = files_under(Path::new(&out)).into_iter().collect();
    for c in ["VisitorType", "Region"] {
        for f in [
            format!("fairness_{c}.json"),
            format!("fairness_{c}.md"),
            format!("plots/fairness_{c}.svg"),
            format!("plots/fairness_{c}.png"),
        ] {
            assert!(files.contains(&f), "{f} missing from {files:?}");
        }
        assert_image(&Path::new(&out).join(format!("plots/fairness_{c}.png")));
    }
    assert!(files.contains("metrics.json"), "{files:?}");
    let metrics = read_json(Path::new(&out).join("metrics.json"));
    let overall = &metrics["evaluation"]["at_threshold"];
    let threshold = f(&overall["threshold"]);

    // Group sizes read from the CSV itself.
    let csv = std::fs::read_to_string(&data).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for column in ["VisitorType", "Region"] {
        let j = header.iter().position(|h| *h == column).unwrap();
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for line in csv.lines().skip(1).filter(|l| !l.is_empty()) {
            *counts
                .entry(line.split(',').nth(j).unwrap().to_string())
                .or_default() += 1;
        }
        let rep = read_json(Path::new(&out).join(format!("fairness_{column}.json")));
        assert_eq!(rep["column"], column);
        assert_eq!(rep["rows"], n);
        assert_eq!(
            f(&rep["config"]["threshold"]),
            threshold,
            "the model's threshold"
        );
        let groups = rep["groups"].as_array().unwrap();
        let total: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
        assert_eq!(total, n as u64, "{column}: group counts sum to the rows");
        let mut tp = 0;
        let mut rates = Vec::new();
        for g in groups {
            let name = g["group"].as_str().unwrap();
            let count = g["count"].as_u64().unwrap();
            assert_eq!(Some(&count), counts.get(name), "{column} = {name}");
            let (gtp, gfp, gtn, gfn) = (
                g["tp"].as_u64().unwrap(),
                g["fp"].as_u64().unwrap(),
                g["tn"].as_u64().unwrap(),
                g["fn_"].as_u64().unwrap(),
            );
            assert_eq!(gtp + gfp + gtn + gfn, count);
            assert_eq!(gtp + gfn, g["positives"].as_u64().unwrap());
            let rate = (gtp + gfp) as f64 / count as f64; // (F1)
            assert!(
                (f(&g["predicted_positive_rate"]) - rate).abs() <= 1e-12,
                "{name}"
            );
            rates.push(rate);
            tp += gtp;
            // Flagged exactly when too small to judge: < 30 rows, < 5 positives or negatives.
            let small = count < 30 || gtp + gfn < 5 || gfp + gtn < 5;
            assert_eq!(g["flagged"], small, "{column} = {name}: {g}");
            assert_eq!(g["flag_reasons"].as_array().unwrap().is_empty(), !small);
        }
        // The per-group confusion counts add up to the overall ones in metrics.json.
        assert_eq!(tp, overall["confusion"]["tp"].as_u64().unwrap(), "{column}");
        // Demographic parity (F6): max − min of the predicted-positive rates.
        let max = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let dp = f(&rep["all_groups"]["demographic_parity_difference"]);
        assert!(
            (dp - (max - min)).abs() <= 1e-12,
            "{column}: {dp} vs {}",
            max - min
        );
        assert_eq!(rep["all_groups"]["groups"], groups.len());
    }
    // VisitorType "Other" has 20 rows in the test file: too small to judge, and said so.
    let rep = read_json(Path::new(&out).join("fairness_VisitorType.json"));
    let other = rep["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "Other")
        .unwrap();
    assert_eq!(other["count"], 20);
    assert_eq!(other["flagged"], true);
    assert!(r.stdout.contains("too small"), "{}", r.stdout);
    assert_eq!(
        rep["judged_groups"]["groups"], 2,
        "{}",
        rep["judged_groups"]
    );
}

#[test]
fn help_of_the_audit_commands_teaches_by_example() {
    for (command, example) in [
        ("trace", "glassbox trace --optimizer sgd"),
        ("gradcheck", "glassbox gradcheck MODEL"),
        ("explain", "glassbox explain MODEL"),
        ("evaluate", "--by VisitorType,Region"),
    ] {
        let r = run(&[command, "--help"]).ok();
        assert!(r.stdout.contains("Examples:"), "{command}:\n{}", r.stdout);
        assert!(r.stdout.contains(example), "{command}:\n{}", r.stdout);
        assert!(
            r.stdout.contains("notes/"),
            "{command} cites no note:\n{}",
            r.stdout
        );
    }
}
