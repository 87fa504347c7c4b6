//! The cost decision a model stores (notes/metrics.md §7, M22–M24): the threshold of least
//! validation cost on hand-computed rows, its probability threshold, its JSON form, and
//! bundles written before it existed.

use glassbox_train::metrics::cost::{CostDecision, CostSpec, MissCost};
use glassbox_train::metrics::threshold::{ThresholdInfo, ThresholdRule};

const LABELS: [bool; 6] = [true, false, true, false, false, true];
const PROBS: [f64; 6] = [0.9, 0.8, 0.3, 0.2, 0.1, 0.05];

#[test]
fn column_costs_choose_the_least_cost_risk_threshold() {
    // Risks p · m: 90, 8, 15, 4, 3, 0.5. Approving all costs 100 + 50 + 10 = 160; alerting
    // on r ≥ 15 costs 2 · 5 + 10 = 20, every other cut more (r ≥ 8: 25, r ≥ 90: 65, all: 30).
    let miss = [100.0, 10.0, 50.0, 20.0, 30.0, 10.0];
    let costs = CostSpec {
        alert: 5.0,
        miss: MissCost::Column("value".into()),
    };
    let d = CostDecision::choose(&LABELS, &PROBS, &miss, &costs).unwrap();
    assert_eq!(d.risk_threshold, 15.0);
    assert_eq!((d.validation.cost, d.validation.alerts), (20.0, 2));
    assert_eq!(d.validation.cost_approve_all, 160.0);
    assert_eq!(d.validation.savings, 1.0 - 20.0 / 160.0);
    assert_eq!(
        d.alerts(&PROBS, &miss),
        [true, false, true, false, false, false]
    );
    // The probability threshold for a row of the median cost (30): 15 / 30.
    let t = ThresholdInfo::from_cost(d, &PROBS, &miss);
    assert_eq!((t.value, t.rule), (0.5, ThresholdRule::MinCost));
    assert_eq!(t.criterion_on_validation, Some(20.0));
}

#[test]
fn a_constant_miss_cost_gives_an_exact_probability_threshold() {
    // m = 40, alert 15: r ≥ 12 (p ≥ 0.3) costs 3 · 15 + 40 = 85, the least (all: 90,
    // r ≥ 36: 95, none: 120).
    let miss = [40.0; 6];
    let costs = CostSpec {
        alert: 15.0,
        miss: MissCost::Constant(40.0),
    };
    let d = CostDecision::choose(&LABELS, &PROBS, &miss, &costs).unwrap();
    assert_eq!((d.risk_threshold, d.validation.cost), (12.0, 85.0));
    let alerts = d.alerts(&PROBS, &miss);
    let t = ThresholdInfo::from_cost(d, &PROBS, &miss);
    assert_eq!(t.value, 0.3);
    let by_probability: Vec<bool> = PROBS.iter().map(|&p| p >= t.value).collect();
    assert_eq!(by_probability, alerts);
}

#[test]
fn alerting_on_nothing_is_stored_as_a_finite_threshold() {
    // No positives: any alert only costs; τ = +∞ is stored as f64::MAX (JSON has no ∞).
    let labels = [false; 3];
    let miss = [10.0; 3];
    let costs = CostSpec {
        alert: 1.0,
        miss: MissCost::Constant(10.0),
    };
    let d = CostDecision::choose(&labels, &PROBS[..3], &miss, &costs).unwrap();
    assert_eq!((d.risk_threshold, d.validation.alerts), (f64::MAX, 0));
    let t = ThresholdInfo::from_cost(d, &PROBS[..3], &miss);
    assert_eq!(t.value, f64::MAX);
    let json = serde_json::to_string(&t).unwrap();
    let back: ThresholdInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
}

#[test]
fn the_decision_round_trips_and_old_thresholds_still_load() {
    let miss = [100.0, 10.0, 50.0, 20.0, 30.0, 10.0];
    let costs = CostSpec {
        alert: 5.0,
        miss: MissCost::Column("purchase_value".into()),
    };
    let d = CostDecision::choose(&LABELS, &PROBS, &miss, &costs).unwrap();
    let t = ThresholdInfo::from_cost(d, &PROBS, &miss);
    let json = serde_json::to_string(&t).unwrap();
    assert!(json.contains("\"rule\":\"min_cost\""), "{json}");
    assert_eq!(serde_json::from_str::<ThresholdInfo>(&json).unwrap(), t);
    // A threshold as bundles wrote it before cost decisions: no `cost` key.
    let old = r#"{"value":0.31,"rule":"max_f1","criterion_on_validation":0.7}"#;
    let t: ThresholdInfo = serde_json::from_str(old).unwrap();
    assert_eq!(
        (t.value, t.rule, t.cost),
        (0.31, ThresholdRule::MaxF1, None)
    );
}
