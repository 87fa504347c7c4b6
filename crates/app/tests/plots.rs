//! Every plot writes a well-formed SVG with its title and axis text, and a PNG of the stated
//! size, for normal and degenerate inputs (empty, NaN, a single point, all-equal values).
//!
//! Set `GLASSBOX_PLOT_DIR=/some/folder` to keep the figures for a look; by default they go
//! to a temporary folder that is removed.

use std::fs;
use std::path::{Path, PathBuf};

use glassbox_app::plot::{
    CalibrationBin, DEFAULT_SIZE, PlotFiles, bar_chart, calibration, confusion_matrix,
    grouped_bars, line_curves, pr_curve, roc_curve, scatter,
};

/// Output folder for one test, emptied first; removed on drop unless kept by the env var.
struct Out {
    dir: PathBuf,
    keep: bool,
}

impl Out {
    fn new(tag: &str) -> Self {
        let (base, keep) = match std::env::var_os("GLASSBOX_PLOT_DIR") {
            Some(d) => (PathBuf::from(d), true),
            None => (std::env::temp_dir(), false),
        };
        let dir = base.join(format!("glassbox-plots-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Out { dir, keep }
    }
    fn stem(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Checks that tags nest properly and `&` only starts an entity. Returns the element count.
fn assert_xml_ish(svg: &str) -> usize {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = 0;
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>').expect("unclosed tag");
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().expect("closing tag without opening tag");
            assert_eq!(open, name.trim(), "mismatched closing tag");
        } else {
            elements += 1;
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            assert!(!name.is_empty(), "empty tag name in <{tag}>");
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    for (i, _) in svg.match_indices('&') {
        let entity = &svg[i..svg.len().min(i + 8)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"]
                .iter()
                .any(|e| entity.starts_with(e)),
            "bare & in SVG: {entity}"
        );
    }
    elements
}

/// `(width, height)` from the PNG signature and IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk must be IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The contents of the SVG's `<text>` elements, trimmed and unescaped.
fn svg_texts(svg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        rest = &rest[i..];
        let open_end = rest.find('>').unwrap() + 1;
        let close = rest.find("</text>").unwrap();
        let raw = rest[open_end..close].trim();
        out.push(
            raw.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &rest[close..];
    }
    out
}

/// The common checks on a plot's two files. Each of `texts` must appear inside some text
/// element. Returns the SVG's text contents for plot-specific checks.
fn check(files: &PlotFiles, texts: &[&str]) -> Vec<String> {
    let svg = fs::read_to_string(&files.svg).unwrap();
    assert!(
        svg.trim_start().starts_with("<svg"),
        "{}",
        &svg[..80.min(svg.len())]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    let elements = assert_xml_ish(&svg);
    assert!(elements > 5, "only {elements} SVG elements");
    let (w, h) = files.size;
    assert!(svg.contains(&format!("width=\"{w}\"")), "SVG width");
    assert!(svg.contains(&format!("height=\"{h}\"")), "SVG height");
    // Text is drawn as <text> elements (no font needed to view the SVG).
    let found = svg_texts(&svg);
    for t in texts {
        assert!(
            found.iter().any(|f| f.contains(t)),
            "SVG lacks text {t:?}: {found:?}"
        );
    }
    for note in &files.notes {
        let shown = format!("note: {note}");
        assert!(found.contains(&shown), "note not drawn: {shown}");
    }

    let png = fs::read(&files.png).unwrap();
    assert_eq!(png_size(&png), files.size, "PNG size");
    assert_eq!(files.svg.extension().unwrap(), "svg");
    assert_eq!(files.png.extension().unwrap(), "png");
    assert_eq!(files.paths(), [files.svg.as_path(), files.png.as_path()]);

    // Nothing but finished files in the folder: no temporaries left behind.
    let dir = files.svg.parent().unwrap();
    for e in fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "temporary file left: {name}");
    }
    found
}

fn epochs(f: impl Fn(f64) -> f64, n: usize) -> Vec<(f64, f64)> {
    (1..=n).map(|e| (e as f64, f(e as f64))).collect()
}

#[test]
fn line_curves_normal() {
    let out = Out::new("lines");
    let train = epochs(|e| 0.6 * (-e / 8.0).exp() + 0.25, 60);
    let val = epochs(|e| 0.55 * (-e / 10.0).exp() + 0.3 + 0.001 * e, 60);
    let f = line_curves(
        out.stem("loss"),
        "Loss per epoch",
        "epoch",
        "binary cross-entropy",
        &[("train", &train), ("validation", &val)],
    )
    .unwrap();
    assert_eq!(f.size, DEFAULT_SIZE);
    assert!(f.notes.is_empty());
    check(
        &f,
        &[
            "Loss per epoch",
            "epoch",
            "binary cross-entropy",
            "train",
            "validation",
        ],
    );
}

#[test]
fn line_curves_degenerate() {
    let out = Out::new("lines-degenerate");
    // No series at all, and a series with no points.
    let f = line_curves(out.stem("none"), "Nothing", "x", "y", &[]).unwrap();
    check(&f, &["Nothing", "no data"]);
    let f = line_curves(out.stem("empty"), "Empty", "x", "y", &[("loss", &[])]).unwrap();
    check(&f, &["Empty", "no data", "loss"]);

    // NaN and infinity are skipped and noted; the line breaks there.
    let mut pts = epochs(|e| 1.0 / e, 10);
    pts[3].1 = f64::NAN;
    pts[7].0 = f64::INFINITY;
    let f = line_curves(
        out.stem("nan"),
        "With NaN",
        "epoch",
        "loss",
        &[("train", &pts)],
    )
    .unwrap();
    assert_eq!(f.notes, vec!["2 non-finite points skipped in \"train\""]);
    check(&f, &["With NaN"]);

    // All points NaN: noted, and drawn as "no data".
    let all_nan = [(1.0, f64::NAN), (2.0, f64::NAN)];
    let f = line_curves(out.stem("allnan"), "All NaN", "e", "l", &[("v", &all_nan)]).unwrap();
    assert_eq!(f.notes.len(), 1);
    check(&f, &["no data"]);

    // A single point and all-equal values get a padded range instead of a zero-width axis.
    let f = line_curves(
        out.stem("one"),
        "One point",
        "e",
        "l",
        &[("v", &[(1.0, 0.5)])],
    )
    .unwrap();
    check(&f, &["One point"]);
    let flat = epochs(|_| 0.0, 5);
    let f = line_curves(out.stem("flat"), "Flat zero", "e", "l", &[("v", &flat)]).unwrap();
    check(&f, &["Flat zero"]);
}

#[test]
fn roc_curve_normal_and_degenerate() {
    let out = Out::new("roc");
    let fpr: Vec<f64> = (0..=50).map(|i| i as f64 / 50.0).collect();
    let tpr: Vec<f64> = fpr.iter().map(|x| x.powf(0.3)).collect();
    let f = roc_curve(out.stem("roc"), "ROC — test set", &fpr, &tpr, 0.912).unwrap();
    assert_eq!(f.size, DEFAULT_SIZE);
    check(
        &f,
        &[
            "ROC — test set",
            "false positive rate",
            "true positive rate",
            "model (AUC = 0.912)",
            "chance (AUC = 0.5)",
        ],
    );

    let f = roc_curve(out.stem("roc-empty"), "ROC empty", &[], &[], f64::NAN).unwrap();
    check(&f, &["no data", "AUC = n/a"]);

    let f = roc_curve(
        out.stem("roc-nan"),
        "ROC NaN",
        &[0.0, f64::NAN, 1.0],
        &[0.0, 0.5, 1.0],
        0.5,
    )
    .unwrap();
    assert_eq!(f.notes, vec!["1 non-finite point skipped in the ROC curve"]);
    check(&f, &["ROC NaN"]);

    let err = roc_curve(out.stem("roc-bad"), "bad", &[0.0, 1.0], &[0.0], 0.5).unwrap_err();
    assert_eq!(err.path(), out.stem("roc-bad.svg").as_path());
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(cause, "fpr has 2 points but tpr has 1");
    assert!(!out.stem("roc-bad.svg").exists() && !out.stem("roc-bad.png").exists());
}

#[test]
fn pr_curve_normal_and_degenerate() {
    let out = Out::new("pr");
    let recall: Vec<f64> = (0..=40).map(|i| i as f64 / 40.0).collect();
    let precision: Vec<f64> = recall.iter().map(|r| 1.0 - 0.8 * r * r).collect();
    let f = pr_curve(
        out.stem("pr"),
        "Precision-recall",
        &recall,
        &precision,
        0.734,
        0.155,
    )
    .unwrap();
    check(
        &f,
        &[
            "Precision-recall",
            "recall",
            "precision",
            "model (AP = 0.734)",
            "no skill (positive rate = 0.155)",
        ],
    );

    let f = pr_curve(out.stem("pr-one"), "PR one", &[0.5], &[0.5], 0.5, f64::NAN).unwrap();
    assert_eq!(
        f.notes,
        vec!["base rate is not finite: no-skill line not drawn"]
    );
    let texts = check(&f, &["PR one"]);
    assert!(!texts.iter().any(|t| t.contains("no skill")));

    assert!(pr_curve(out.stem("pr-bad"), "bad", &[0.1], &[], 0.5, 0.1).is_err());
}

fn bins(counts: &[u64]) -> Vec<CalibrationBin> {
    let k = counts.len() as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let (lower, upper) = (i as f64 / k, (i + 1) as f64 / k);
            let mean = (lower + upper) / 2.0;
            CalibrationBin {
                lower,
                upper,
                mean_predicted: mean,
                fraction_positive: (mean * 1.2).min(1.0),
                count,
            }
        })
        .collect()
}

#[test]
fn calibration_normal_and_degenerate() {
    let out = Out::new("calibration");
    let b = bins(&[5200, 2100, 900, 500, 300, 200, 150, 120, 90, 0]);
    let f = calibration(out.stem("cal"), "Calibration (test)", &b).unwrap();
    assert_eq!(f.size, DEFAULT_SIZE);
    check(
        &f,
        &[
            "Calibration (test)",
            "fraction positive",
            "mean predicted probability",
            "count",
            "perfectly calibrated",
        ],
    );

    let f = calibration(out.stem("cal-empty"), "No bins", &[]).unwrap();
    check(&f, &["no data"]);
    let f = calibration(out.stem("cal-zero"), "Zero counts", &bins(&[0, 0, 0])).unwrap();
    check(&f, &["no data"]);

    let mut b = bins(&[10, 20, 30]);
    b[1].fraction_positive = f64::NAN;
    b[2].upper = f64::INFINITY;
    let f = calibration(out.stem("cal-nan"), "NaN bin", &b).unwrap();
    assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
    check(&f, &["NaN bin"]);
}

#[test]
fn confusion_matrix_normal_and_empty() {
    let out = Out::new("confusion");
    let f = confusion_matrix(
        out.stem("cm"),
        "Confusion matrix (test, t = 0.5)",
        290,
        120,
        1900,
        160,
    )
    .unwrap();
    assert_eq!(f.size, DEFAULT_SIZE);
    let svg = check(
        &f,
        &[
            "Confusion matrix (test, t = 0.5)",
            "predicted class",
            "actual class",
            "TN",
            "TNR = 94.1%",
            "FPR = 5.9%",
            "FNR = 35.6%",
            "TPR = 64.4%",
            "n = 2470",
            "accuracy 88.7%",
            "precision 70.7%",
            "recall 64.4%",
        ],
    );
    for count in ["1900", "290", "120", "160"] {
        assert!(svg.iter().any(|t| t == count), "count {count} not shown");
    }

    let f = confusion_matrix(out.stem("cm-empty"), "Empty", 0, 0, 0, 0).unwrap();
    check(&f, &["TPR = n/a", "n = 0", "accuracy n/a"]);
}

#[test]
fn bar_chart_normal_and_degenerate() {
    let out = Out::new("bars");
    let labels = [
        "PageValues",
        "ExitRates",
        "Month=Nov",
        "BounceRates",
        "ProductRelated_Duration",
    ];
    let values = [0.31, -0.12, 0.08, -0.05, 0.02];
    let errors = [0.04, 0.02, 0.03, 0.01, 0.015];
    let f = bar_chart(
        out.stem("attr"),
        "Feature attribution",
        "mean signed attribution",
        &labels,
        &values,
        Some(&errors),
    )
    .unwrap();
    assert_eq!(f.size, DEFAULT_SIZE);
    check(
        &f,
        &[
            "Feature attribution",
            "mean signed attribution",
            "PageValues",
            "ProductRelated_Duration",
        ],
    );

    // Many bars: the figure grows to keep labels apart.
    let names: Vec<String> = (0..60).map(|i| format!("feature_{i:02}")).collect();
    let labels: Vec<&str> = names.iter().map(String::as_str).collect();
    let values: Vec<f64> = (0..60).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let f = bar_chart(
        out.stem("many"),
        "Many",
        "importance",
        &labels,
        &values,
        None,
    )
    .unwrap();
    assert_eq!(f.size, (800, 130 + 26 * 60));
    check(&f, &["feature_00", "feature_59"]);

    let f = bar_chart(out.stem("none"), "No bars", "v", &[], &[], None).unwrap();
    check(&f, &["no data"]);

    let f = bar_chart(
        out.stem("nan"),
        "NaN bar",
        "v",
        &["a", "b", "c"],
        &[1.0, f64::NAN, 1.0],
        Some(&[0.1, 0.1, -1.0]),
    )
    .unwrap();
    assert_eq!(
        f.notes,
        vec![
            "1 non-finite value(s) shown as n/a",
            "1 error(s) non-finite or negative: no whisker drawn"
        ]
    );
    check(&f, &["n/a"]);

    let f = bar_chart(
        out.stem("zero"),
        "All zero",
        "v",
        &["a", "b"],
        &[0.0, 0.0],
        None,
    )
    .unwrap();
    check(&f, &["All zero"]);

    let err = bar_chart(out.stem("bad"), "bad", "v", &["a"], &[1.0], Some(&[])).unwrap_err();
    assert!(err.path().ends_with("bad.svg"));
}

#[test]
fn grouped_bars_normal_and_degenerate() {
    let out = Out::new("grouped");
    let groups = ["Returning_Visitor", "New_Visitor", "Other"];
    let metrics = ["recall", "false positive rate", "selection rate"];
    let values = [[0.62, 0.05, 0.14], [0.71, 0.11, 0.31], [0.5, 0.0, f64::NAN]];
    let f = grouped_bars(
        out.stem("fair"),
        "Metrics by visitor type",
        "rate",
        &groups,
        &metrics,
        &values,
    )
    .unwrap();
    assert_eq!(f.size, DEFAULT_SIZE);
    assert_eq!(f.notes, vec!["1 non-finite value(s) not drawn"]);
    check(
        &f,
        &[
            "Metrics by visitor type",
            "Returning_Visitor",
            "New_Visitor",
            "false positive rate",
            "selection rate",
        ],
    );

    let f = grouped_bars::<[f64; 0]>(out.stem("empty"), "Empty", "rate", &[], &[], &[]).unwrap();
    check(&f, &["no data"]);

    let neg = [vec![-0.2, 0.1], vec![0.3, -0.4]];
    let f = grouped_bars(
        out.stem("neg"),
        "Gaps",
        "difference",
        &["a", "b"],
        &["x", "y"],
        &neg,
    )
    .unwrap();
    check(&f, &["Gaps"]);

    let ragged = [vec![0.1, 0.2], vec![0.3]];
    let err = grouped_bars(
        out.stem("bad"),
        "bad",
        "r",
        &["a", "b"],
        &["x", "y"],
        &ragged,
    )
    .unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(cause, "2 metrics but group 1 (\"b\") has 1 values");
}

#[test]
fn special_characters_in_titles_are_escaped() {
    let out = Out::new("escape");
    let f = line_curves(
        out.stem("esc"),
        "loss < 0.5 & \"quoted\"",
        "x",
        "y",
        &[("a<b", &[(0.0, 1.0), (1.0, 2.0)])],
    )
    .unwrap();
    // The checker rejects a bare `&` or `<`, and the unescaped text comes back intact.
    check(&f, &["loss < 0.5 & \"quoted\"", "a<b"]);
}

#[test]
fn a_missing_folder_is_an_error_naming_the_file() {
    let out = Out::new("missing");
    let stem = out.stem("no/such/folder/roc");
    let err = roc_curve(&stem, "t", &[0.0, 1.0], &[0.0, 1.0], 0.5).unwrap_err();
    assert_eq!(err.path(), Path::new(&format!("{}.svg", stem.display())));
}

#[test]
fn the_same_input_gives_byte_identical_files() {
    let out = Out::new("determinism");
    let fpr = [0.0, 0.1, 0.3, 1.0];
    let tpr = [0.0, 0.6, 0.85, 1.0];
    let a = roc_curve(out.stem("a"), "ROC", &fpr, &tpr, 0.8).unwrap();
    let b = roc_curve(out.stem("b"), "ROC", &fpr, &tpr, 0.8).unwrap();
    assert_eq!(fs::read(&a.svg).unwrap(), fs::read(&b.svg).unwrap());
    assert_eq!(fs::read(&a.png).unwrap(), fs::read(&b.png).unwrap());
    // And a different input does change the picture.
    let c = roc_curve(out.stem("c"), "ROC", &fpr, &[0.0, 0.2, 0.5, 1.0], 0.6).unwrap();
    assert_ne!(fs::read(&a.png).unwrap(), fs::read(&c.png).unwrap());
}

/// Huge spans (plotters hangs on an axis whose span overflows), tiny all-equal values, and
/// odd calibration bin edges.
#[test]
fn extreme_magnitudes_still_draw() {
    let out = Out::new("extreme");
    let wide = [(0.0, -f64::MAX), (1.0, f64::MAX)];
    let f = line_curves(out.stem("wide"), "Wide", "x", "y", &[("v", &wide)]).unwrap();
    check(&f, &["Wide"]);
    let tiny = [(0.0, 1e-300), (1.0, 1e-300)];
    let f = line_curves(out.stem("tiny"), "Tiny", "x", "y", &[("v", &tiny)]).unwrap();
    check(&f, &["Tiny"]);
    let f = bar_chart(
        out.stem("big"),
        "Big",
        "v",
        &["a", "b"],
        &[f64::MAX, -f64::MAX],
        None,
    )
    .unwrap();
    check(&f, &["Big"]);
    let many: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    let metrics: Vec<&str> = many.iter().map(String::as_str).collect();
    let row: Vec<f64> = (0..40)
        .map(|i| if i % 2 == 0 { f64::MAX } else { -f64::MAX })
        .collect();
    let f = grouped_bars(
        out.stem("gbig"),
        "Grouped big",
        "v",
        &["g"],
        &metrics,
        &[row],
    )
    .unwrap();
    check(&f, &["Grouped big"]);
    let mut b = bins(&[10, 20]);
    b[0].lower = -f64::MAX;
    b[1].upper = f64::MAX;
    let f = calibration(out.stem("cal"), "Odd edges", &b).unwrap();
    check(&f, &["Odd edges"]);
}

/// Values far outside [0, 1] on the probability plots run off the plot instead of
/// overflowing plotters' pixel arithmetic.
#[test]
fn wild_probabilities_do_not_panic() {
    let out = Out::new("wild");
    let f = roc_curve(
        out.stem("roc"),
        "Wild ROC",
        &[0.0, 1e12, 1.0],
        &[0.0, -1e15, 1.0],
        0.5,
    )
    .unwrap();
    check(&f, &["Wild ROC"]);
    let f = pr_curve(
        out.stem("pr"),
        "Wild PR",
        &[0.0, 1.0],
        &[1.0, f64::MAX],
        0.5,
        1e200,
    )
    .unwrap();
    check(&f, &["Wild PR"]);
    let mut b = bins(&[10, 20]);
    b[0].fraction_positive = -1e300;
    b[1].mean_predicted = 1e300;
    let f = calibration(out.stem("cal"), "Wild calibration", &b).unwrap();
    check(&f, &["Wild calibration"]);
}

#[test]
fn scatter_normal_and_degenerate() {
    let out = Out::new("scatter");
    let actual: Vec<f64> = (0..100)
        .map(|i| (i as f64 * 0.37).sin() * 3.0 + 4.0)
        .collect();
    let predicted: Vec<f64> = actual.iter().map(|a| 0.8 * a + 0.5).collect();
    let f = scatter(
        out.stem("scatter"),
        "Predicted against actual",
        ("actual", &actual),
        ("predicted", &predicted),
    )
    .unwrap();
    assert_eq!(f.size, DEFAULT_SIZE);
    assert!(f.notes.is_empty());
    let svg = fs::read_to_string(&f.svg).unwrap();
    assert!(svg.matches("<circle").count() >= 100, "a circle per point");
    check(
        &f,
        &[
            "Predicted against actual",
            "actual",
            "predicted",
            "y = x (perfect)",
            "100 points",
        ],
    );

    let f = scatter(out.stem("empty"), "Empty", ("a", &[]), ("p", &[])).unwrap();
    check(&f, &["no data", "0 points"]);

    let f = scatter(
        out.stem("nan"),
        "NaN",
        ("a", &[1.0, f64::NAN, 3.0]),
        ("p", &[1.0, 2.0, f64::INFINITY]),
    )
    .unwrap();
    assert_eq!(
        f.notes,
        vec!["2 non-finite points skipped in the scatter plot"]
    );
    check(&f, &["1 points"]);

    let one = scatter(out.stem("one"), "One", ("a", &[5.0]), ("p", &[5.0])).unwrap();
    check(&one, &["One"]);

    let err = scatter(out.stem("bad"), "bad", ("a", &[0.0, 1.0]), ("p", &[0.0])).unwrap_err();
    assert_eq!(err.path(), out.stem("bad.svg").as_path());
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(cause, "a has 2 points but p has 1");
    assert!(!out.stem("bad.svg").exists() && !out.stem("bad.png").exists());
}
