//! The cost-aware metrics (notes/metrics.md §7, M21–M25) against scikit-learn:
//! `crates/train/tests/reference/make_cost_fixtures.py` → `cost_fixtures.json`.

use glassbox_train::metrics::cost::{
    CostMatrix, CostReport, cost_curve, cost_minimising_threshold, expected_cost,
    precision_at_top_fraction, recall_at_fpr, risk_scores,
};
use serde_json::Value;

fn num(v: &Value) -> f64 {
    v.as_str()
        .expect("floats are strings")
        .parse()
        .expect("a float")
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

fn close(a: f64, b: f64, what: &str) {
    let tol = 1e-9 * b.abs().max(1.0);
    assert!(
        (a - b).abs() <= tol || a == b,
        "{what}: glassbox {a}, reference {b}"
    );
}

fn cases() -> Vec<Value> {
    let text = include_str!("reference/cost_fixtures.json");
    let v: Value = serde_json::from_str(text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn cost_metrics_match_sklearn_on_every_case() {
    let all = cases();
    assert!(all.len() >= 5);
    for c in all {
        let name = c["name"].as_str().unwrap();
        let labels: Vec<bool> = c["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        let probs = nums(&c["probs"]);
        let miss = nums(&c["miss"]);
        let cost = CostMatrix {
            alert: num(&c["alert"]),
            miss: &miss,
        };
        let risks = risk_scores(&probs, &miss);
        let curve = cost_curve(&labels, &risks, &cost).unwrap();
        let reference = c["curve"].as_array().unwrap();
        assert_eq!(curve.len(), reference.len(), "{name}: curve points");
        for (p, r) in curve.iter().zip(reference) {
            close(p.threshold, num(&r[0]), name);
            assert_eq!(p.alerts as u64, r[1].as_u64().unwrap(), "{name}");
            close(p.cost, num(&r[2]), name);
        }
        let best = cost_minimising_threshold(&labels, &risks, &cost).unwrap();
        close(best.threshold, num(&c["best"][0]), name);
        close(best.cost, num(&c["best"][2]), name);
        let bayes = CostReport::compute(&labels, &probs, &cost, cost.alert).unwrap();
        close(bayes.cost, num(&c["bayes_cost"]), name);
        close(bayes.cost_approve_all, num(&c["approve_all"]), name);
        let none = expected_cost(&labels, &vec![false; labels.len()], &cost).unwrap();
        close(none, num(&c["approve_all"]), name);
        for (q, v) in c["recall_at_fpr"].as_object().unwrap() {
            let q: f64 = q.parse().unwrap();
            close(
                recall_at_fpr(&labels, &probs, q).unwrap(),
                num(v),
                &format!("{name} recall@{q}"),
            );
        }
        for (q, v) in c["precision_top"].as_object().unwrap() {
            let q: f64 = q.parse().unwrap();
            close(
                precision_at_top_fraction(&labels, &probs, q).unwrap(),
                num(v),
                &format!("{name} top {q}"),
            );
        }
    }
}

/// A hand-sized cost threshold: worked by hand, and a negative control (the Bayes rule is
/// not the validated minimum here).
#[test]
fn cost_threshold_on_a_hand_made_fixture() {
    // Risks p·m: 90, 32, 10, 15, 1, 10. Alert costs 5.
    let labels = [true, false, true, false, false, true];
    let probs = [0.9, 0.8, 0.5, 0.5, 0.1, 0.05];
    let miss = [100.0, 40.0, 20.0, 30.0, 10.0, 200.0];
    let cost = CostMatrix {
        alert: 5.0,
        miss: &miss,
    };
    let risks = risk_scores(&probs, &miss);
    // Alert on nothing: 100 + 20 + 200 = 320. Alert on r ≥ 10 (5 rows): 25 + 0 missed = 25.
    let best = cost_minimising_threshold(&labels, &risks, &cost).unwrap();
    assert_eq!((best.threshold, best.alerts, best.cost), (10.0, 5, 25.0));
    let report = CostReport::compute(&labels, &probs, &cost, best.threshold).unwrap();
    assert_eq!((report.cost, report.cost_approve_all), (25.0, 320.0));
    assert!((report.savings - (1.0 - 25.0 / 320.0)).abs() < 1e-15);
    // Alerting on everything: 6 · 5 = 30 > 25 — a threshold one step lower costs more.
    let all = CostReport::compute(&labels, &probs, &cost, 0.0).unwrap();
    assert_eq!(all.cost, 30.0);
    assert_ne!(all.cost, best.cost);
}
