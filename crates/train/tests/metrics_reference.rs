//! glassbox_train::metrics against scikit-learn 1.9.1, case by case.
//!
//! The fixture `crates/train/tests/reference/metrics_fixtures.json` is written by
//! `crates/train/tests/reference/make_metrics_fixtures.py` (run it from the repository root with
//! `/work/venv/bin/python`). Floats are stored as Python `repr` strings, so `str::parse` reads
//! the exact doubles scikit-learn saw; counts and thresholds must agree exactly, computed
//! floats to 1e-9 (absolute). A metric scikit-learn leaves undefined is `null` there and must
//! be an error here (notes/metrics.md).

use glassbox_train::metrics::{
    Criterion, MetricsError, MetricsReport, average_precision, best_threshold, brier_score,
    calibration_table, confusion_matrix, log_loss, precision_recall_curve, roc_auc,
    roc_auc_pairwise, roc_curve, threshold_counts,
};
use serde_json::Value;

const TOL: f64 = 1e-9;
const FIXTURE: &str = include_str!("reference/metrics_fixtures.json");

struct Case {
    name: String,
    labels: Vec<bool>,
    scores: Vec<f64>,
    raw: Value,
}

fn num(v: &Value) -> f64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("float fixture must be a string: {v}"));
    s.parse().unwrap_or_else(|e| panic!("bad float {s:?}: {e}"))
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn ints(v: &Value) -> Vec<usize> {
    let int = |x: &Value| x.as_u64().expect("integer") as usize;
    v.as_array().expect("array").iter().map(int).collect()
}

fn cases() -> Vec<Case> {
    let doc: Value = serde_json::from_str(FIXTURE).expect("fixture parses");
    assert_eq!(doc["versions"]["sklearn"], "1.9.1");
    let cases: Vec<Case> = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            labels: ints(&c["labels"]).iter().map(|&y| y == 1).collect(),
            scores: nums(&c["scores"]),
            raw: c.clone(),
        })
        .collect();
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "hand6",
            "random",
            "heavy_ties",
            "all_equal",
            "perfect",
            "inverted",
            "imbalanced",
            "clip_edges",
            "logits",
            "all_negative",
            "all_positive"
        ]
    );
    cases
}

/// Compares floats to `TOL` and remembers the largest deviation and how many were compared,
/// so a test cannot pass by comparing nothing.
#[derive(Default)]
struct Checker {
    compared: usize,
    max_dev: f64,
}

impl Checker {
    fn close(&mut self, what: &str, case: &str, got: f64, want: f64) {
        self.compared += 1;
        if got == want {
            return; // covers ±∞
        }
        let dev = (got - want).abs();
        assert!(
            dev <= TOL,
            "{case}: {what}: got {got:e}, sklearn {want:e} (|Δ| = {dev:e})"
        );
        self.max_dev = self.max_dev.max(dev);
    }

    fn close_all(&mut self, what: &str, case: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{case}: {what}: length");
        for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
            self.close(&format!("{what}[{k}]"), case, g, w);
        }
    }

    fn done(&self, test: &str, at_least: usize) {
        eprintln!(
            "{test}: {} values, max |Δ| = {:e}",
            self.compared, self.max_dev
        );
        assert!(
            self.compared >= at_least,
            "{test}: only {} values compared",
            self.compared
        );
    }
}

#[test]
fn confusion_and_rates_match_sklearn() {
    let mut ck = Checker::default();
    for c in cases() {
        for at in c.raw["at_threshold"].as_array().expect("at_threshold") {
            let t = num(&at["threshold"]);
            let m = confusion_matrix(&c.labels, &c.scores, t).expect("confusion");
            let what = format!("t = {t}");
            let want = |k: &str| at[k].as_u64().expect("count") as usize;
            assert_eq!(
                (m.tp, m.fp, m.tn, m.fn_),
                (want("tp"), want("fp"), want("tn"), want("fn")),
                "{}: {what}",
                c.name
            );
            ck.close("accuracy", &c.name, m.accuracy(), num(&at["accuracy"]));
            ck.close("precision", &c.name, m.precision(), num(&at["precision"]));
            ck.close("recall", &c.name, m.recall(), num(&at["recall"]));
            ck.close(
                "specificity",
                &c.name,
                m.specificity(),
                num(&at["specificity"]),
            );
            ck.close("fpr", &c.name, m.fpr(), num(&at["fpr"]));
            ck.close("f1", &c.name, m.f1(), num(&at["f1"]));
        }
    }
    ck.done("confusion rates", 11 * 3 * 6);
}

#[test]
fn threshold_counts_match_confusion_matrix_at_thresholds() {
    let mut compared = 0;
    for c in cases() {
        let got = threshold_counts(&c.labels, &c.scores).expect("counts");
        let want = &c.raw["threshold_counts"];
        // thresholds are sample scores: exact equality
        assert_eq!(got.thresholds, nums(&want["thresholds"]), "{}", c.name);
        assert_eq!(got.tp, ints(&want["tp"]), "{}", c.name);
        assert_eq!(got.fp, ints(&want["fp"]), "{}", c.name);
        compared += got.thresholds.len();
    }
    assert!(compared > 400, "{compared}");
}

fn single_class(c: &Case) -> bool {
    c.labels.iter().all(|&y| y) || c.labels.iter().all(|&y| !y)
}

#[test]
fn roc_curves_and_auc_match_sklearn() {
    let mut ck = Checker::default();
    let mut undefined = 0;
    for c in cases() {
        for (key, drop) in [("roc", true), ("roc_full", false)] {
            let got = roc_curve(&c.labels, &c.scores, drop);
            let want = &c.raw[key];
            if want.is_null() {
                assert!(single_class(&c), "{}", c.name);
                assert!(
                    matches!(got, Err(MetricsError::SingleClass { .. })),
                    "{}: {got:?}",
                    c.name
                );
                undefined += 1;
                continue;
            }
            let got = got.expect("roc");
            assert_eq!(
                got.thresholds,
                nums(&want["thresholds"]),
                "{}: {key}",
                c.name
            );
            ck.close_all(
                &format!("{key}.fpr"),
                &c.name,
                &got.fpr,
                &nums(&want["fpr"]),
            );
            ck.close_all(
                &format!("{key}.tpr"),
                &c.name,
                &got.tpr,
                &nums(&want["tpr"]),
            );
        }
        let auc = roc_auc(&c.labels, &c.scores);
        let pairwise = roc_auc_pairwise(&c.labels, &c.scores);
        if c.raw["roc_auc"].is_null() {
            assert!(
                matches!(auc, Err(MetricsError::SingleClass { .. })),
                "{}",
                c.name
            );
            assert!(
                matches!(pairwise, Err(MetricsError::SingleClass { .. })),
                "{}",
                c.name
            );
        } else {
            let want = num(&c.raw["roc_auc"]);
            ck.close("roc_auc", &c.name, auc.expect("auc"), want);
            // (M11): the pair count agrees with the trapezoid, ties included
            ck.close("roc_auc_pairwise", &c.name, pairwise.expect("pairs"), want);
        }
    }
    assert_eq!(undefined, 4); // all_negative and all_positive, both modes
    ck.done("roc", 1000);
}

#[test]
fn pr_curves_and_average_precision_match_sklearn() {
    let mut ck = Checker::default();
    for c in cases() {
        for (key, drop) in [("pr", false), ("pr_drop", true)] {
            let got = precision_recall_curve(&c.labels, &c.scores, drop);
            let want = &c.raw[key];
            if want.is_null() {
                assert!(
                    matches!(got, Err(MetricsError::NoPositives { .. })),
                    "{}: {got:?}",
                    c.name
                );
                continue;
            }
            let got = got.expect("pr");
            assert_eq!(
                got.thresholds,
                nums(&want["thresholds"]),
                "{}: {key}",
                c.name
            );
            let (p, r) = (nums(&want["precision"]), nums(&want["recall"]));
            ck.close_all(&format!("{key}.precision"), &c.name, &got.precision, &p);
            ck.close_all(&format!("{key}.recall"), &c.name, &got.recall, &r);
        }
        let ap = average_precision(&c.labels, &c.scores);
        if c.raw["average_precision"].is_null() {
            assert_eq!(c.name, "all_negative");
            assert!(matches!(ap, Err(MetricsError::NoPositives { n: 10, .. })));
        } else {
            let want = num(&c.raw["average_precision"]);
            ck.close("average_precision", &c.name, ap.expect("ap"), want);
        }
    }
    ck.done("pr", 1000);
}

#[test]
fn log_loss_and_brier_match_sklearn() {
    let mut ck = Checker::default();
    for c in cases() {
        let (ll, bs) = (
            log_loss(&c.labels, &c.scores),
            brier_score(&c.labels, &c.scores),
        );
        if c.raw["log_loss"].is_null() {
            // logits: negative scores are not probabilities
            assert_eq!(c.name, "logits");
            assert!(matches!(ll, Err(MetricsError::OutOfRange { .. })), "{ll:?}");
            assert!(matches!(bs, Err(MetricsError::OutOfRange { .. })), "{bs:?}");
            continue;
        }
        ck.close(
            "log_loss",
            &c.name,
            ll.expect("log_loss"),
            num(&c.raw["log_loss"]),
        );
        ck.close("brier", &c.name, bs.expect("brier"), num(&c.raw["brier"]));
    }
    ck.done("log_loss/brier", 20);
}

#[test]
fn calibration_tables_match_calibration_curve() {
    let mut ck = Checker::default();
    for c in cases() {
        let Some(tables) = c.raw["calibration"].as_object() else {
            assert_eq!(c.name, "logits");
            continue;
        };
        assert_eq!(tables.len(), 3);
        for (bins, want) in tables {
            let n_bins: usize = bins.parse().expect("n_bins");
            let got = calibration_table(&c.labels, &c.scores, n_bins).expect("calibration");
            let what = format!("{n_bins} bins");
            assert_eq!(got.n_bins, n_bins);
            let field = |f: fn(&glassbox_train::metrics::CalibrationBin) -> usize| {
                got.bins.iter().map(f).collect::<Vec<_>>()
            };
            assert_eq!(field(|b| b.bin), ints(&want["bins"]), "{}: {what}", c.name);
            assert_eq!(
                field(|b| b.count),
                ints(&want["count"]),
                "{}: {what}",
                c.name
            );
            assert_eq!(
                field(|b| b.positives),
                ints(&want["positives"]),
                "{}",
                c.name
            );
            let lower: Vec<f64> = got.bins.iter().map(|b| b.lower).collect();
            let upper: Vec<f64> = got.bins.iter().map(|b| b.upper).collect();
            assert_eq!(lower, nums(&want["lower"]), "{}: {what}: edges", c.name);
            assert_eq!(upper, nums(&want["upper"]), "{}: {what}: edges", c.name);
            let mean: Vec<f64> = got.bins.iter().map(|b| b.mean_predicted).collect();
            let frac: Vec<f64> = got.bins.iter().map(|b| b.fraction_positive).collect();
            ck.close_all(&what, &c.name, &mean, &nums(&want["prob_pred"]));
            ck.close_all(&what, &c.name, &frac, &nums(&want["prob_true"]));
        }
    }
    ck.done("calibration", 100);
}

#[test]
fn best_thresholds_match_the_exact_brute_force() {
    let mut ck = Checker::default();
    for c in cases() {
        for (key, criterion) in [("MaxF1", Criterion::MaxF1), ("YoudenJ", Criterion::YoudenJ)] {
            let got = best_threshold(&c.labels, &c.scores, criterion);
            let want = &c.raw["best_threshold"][key];
            if want.is_null() {
                assert!(single_class(&c), "{}: {key}", c.name);
                assert!(got.is_err(), "{}: {key}: {got:?}", c.name);
                continue;
            }
            let (t, value) = got.expect("best threshold");
            assert_eq!(t, num(&want[0]), "{}: {key} threshold", c.name);
            ck.close(key, &c.name, value, num(&want[1]));
        }
    }
    ck.done("best_threshold", 18);
}

#[test]
fn report_collects_the_same_numbers() {
    let mut ck = Checker::default();
    for c in cases() {
        let r = MetricsReport::compute(&c.labels, &c.scores, 0.5);
        if !c.raw["probability"].as_bool().expect("probability") {
            assert!(matches!(r, Err(MetricsError::OutOfRange { .. })), "{r:?}");
            continue;
        }
        let r = r.expect("report");
        let at = &c.raw["at_threshold"][0];
        assert_eq!(num(&at["threshold"]), 0.5);
        assert_eq!(
            r.confusion.tp,
            at["tp"].as_u64().expect("tp") as usize,
            "{}",
            c.name
        );
        assert_eq!(r.n, c.labels.len());
        ck.close("f1", &c.name, r.f1, num(&at["f1"]));
        ck.close(
            "specificity",
            &c.name,
            r.specificity,
            num(&at["specificity"]),
        );
        ck.close("log_loss", &c.name, r.log_loss, num(&c.raw["log_loss"]));
        ck.close("brier", &c.name, r.brier, num(&c.raw["brier"]));
        let opt = |key: &str| (!c.raw[key].is_null()).then(|| num(&c.raw[key]));
        assert_eq!(r.roc_auc.is_some(), opt("roc_auc").is_some(), "{}", c.name);
        if let (Some(got), Some(want)) = (r.roc_auc, opt("roc_auc")) {
            ck.close("roc_auc", &c.name, got, want);
        }
        let ap = opt("average_precision");
        assert_eq!(r.average_precision.is_some(), ap.is_some(), "{}", c.name);
        if let (Some(got), Some(want)) = (r.average_precision, ap) {
            ck.close("average_precision", &c.name, got, want);
        }
    }
    ck.done("report", 40);
}
