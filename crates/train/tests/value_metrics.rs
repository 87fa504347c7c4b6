//! The value metrics against a Python reference (fixture
//! crates/train/tests/reference/value_metrics_fixtures.json, made by
//! crates/train/tests/reference/make_value_metrics_fixtures.py: numpy, scipy, scikit-learn and
//! the ZILN paper's Gini code).

use glassbox_train::metrics::value::{ValueMetrics, normalized_gini};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    actual: Vec<f64>,
    predicted: Vec<f64>,
    normalized_gini: f64,
    paper_gini: Option<f64>,
    spearman: f64,
    deciles: Vec<[f64; 2]>,
    decile_mape: f64,
    mae: f64,
    rmse: f64,
    auc_any: f64,
    top10: f64,
    top20: f64,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn close(what: &str, case: &str, ours: f64, theirs: f64) {
    let tol = 1e-10 * theirs.abs().max(1.0);
    assert!(
        (ours - theirs).abs() < tol,
        "{case}: {what} {ours} vs {theirs}"
    );
}

#[test]
fn every_value_metric_matches_the_python_reference() {
    let fixture: Fixture =
        serde_json::from_str(include_str!("reference/value_metrics_fixtures.json")).unwrap();
    assert_eq!(fixture.cases.len(), 3);
    for c in &fixture.cases {
        let m = ValueMetrics::compute(&c.actual, &c.predicted).expect("computes");
        close("gini", &c.name, m.normalized_gini, c.normalized_gini);
        if let Some(paper) = c.paper_gini {
            close("paper gini", &c.name, m.normalized_gini, paper);
        }
        close("spearman", &c.name, m.spearman, c.spearman);
        close("decile mape", &c.name, m.decile_mape, c.decile_mape);
        for (d, (ours, [p, a])) in m.deciles.iter().zip(&c.deciles).enumerate() {
            close(
                &format!("decile {d} predicted"),
                &c.name,
                ours.predicted,
                *p,
            );
            close(&format!("decile {d} actual"), &c.name, ours.actual, *a);
        }
        close("mae", &c.name, m.mae, c.mae);
        close("rmse", &c.name, m.rmse, c.rmse);
        close("auc", &c.name, m.auc_any.expect("both classes"), c.auc_any);
        close("top10", &c.name, m.top10_revenue_share, c.top10);
        close("top20", &c.name, m.top20_revenue_share, c.top20);
    }
}

#[test]
fn a_reversed_ranking_has_a_negative_gini() {
    let y = [0.0, 1.0, 2.0, 3.0, 10.0];
    let g = normalized_gini(&y, &[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap();
    assert!(g < 0.0, "{g}"); // not −1: the raw Gini of C31 is not centred by 1/n
    assert!(
        normalized_gini(&[0.0, 0.0], &[1.0, 2.0]).is_err(),
        "no value at all"
    );
}
