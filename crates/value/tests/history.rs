//! The transaction-history features (notes/value.md C44–C46) on a hand-made customer history
//! whose every value is worked out by hand, their independence from the line order, and the
//! scaler that shows them to a model only when asked.

use std::path::PathBuf;

use glassbox_value::{
    ALL_FEATURES, Clock, Columns, FEATURES, HISTORY_FEATURES, Scaler, feature_index, featurize,
    parse_date, parse_horizon,
};

/// Customer 7: purchase days Jan 5, Mar 6, May 5 (two invoices), Jun 21, a return on Jun 25,
/// a holdout purchase. Customer 8: one purchase day. Cutoff 2011-07-01 00:00.
const LOG: &str = "\
InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
A1,85123A,2,2011-01-05 12:00:00,10.0,7,United Kingdom
A2,85123A,1,2011-03-06 12:00:00,40.0,7,United Kingdom
A3,85123A,3,2011-05-05 12:00:00,10.0,7,United Kingdom
A4,85123A,1,2011-05-05 15:00:00,5.0,7,United Kingdom
A5,85123A,2,2011-06-21 12:00:00,25.0,7,United Kingdom
CA6,85123A,-1,2011-06-25 12:00:00,25.0,7,United Kingdom
A7,85123A,1,2011-07-10 12:00:00,60.0,7,United Kingdom
B1,85123A,4,2011-06-30 18:00:00,2.5,8,France
";

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-value-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn clock() -> Clock {
    Clock {
        cutoff_ms: parse_date("2011-07-01", "cutoff").expect("date"),
        horizon_ms: parse_horizon("30d", "horizon").expect("horizon"),
        start_ms: Some(parse_date("2011-01-01", "start").expect("date")),
    }
}

fn table(text: &str, name: &str) -> glassbox_value::CustomerTable {
    featurize(
        &scratch(name, text),
        &Columns::online_retail(),
        &clock(),
        true,
    )
    .expect("reads")
}

fn check(row: &[f64], expected: &[(&str, f64)]) {
    assert_eq!(row.len(), ALL_FEATURES.len());
    for (name, value) in expected {
        let got = row[feature_index(name)];
        assert!((got - value).abs() < 1e-12, "{name}: {got} vs {value}");
    }
}

#[test]
fn history_features_of_a_hand_made_customer() {
    let t = table(LOG, "log.csv");
    assert_eq!(t.ids, ["7", "8"]);
    assert_eq!(t.target, [60.0, 0.0]);
    // Gaps between purchase days: Jan 5 → Mar 6 → May 5 → Jun 21 = 60, 60, 47 days.
    let mean: f64 = 167.0 / 3.0;
    let sd = (((60.0 - mean).powi(2) * 2.0 + (47.0 - mean).powi(2)) / 3.0).sqrt();
    // Tenure 176.5 days → M = 6 months; net per month back from the cutoff: 50 − 25 (Jun 21,
    // Jun 25), 30 + 5 (May 5), 0, 40 (Mar 6), 0, 20 (Jan 5); t_k = −k, mean −3.5.
    let u = |x: f64| x.ln_1p();
    let trend = (2.5 * u(25.0) + 1.5 * u(35.0) - 0.5 * u(40.0) - 2.5 * u(20.0)) / 17.5;
    check(
        &t.features[0],
        &[
            ("recency_days", 9.5),
            ("tenure_days", 176.5),
            ("invoices", 5.0),
            ("purchase_days", 4.0),
            ("mean_days_between_purchase_days", mean),
            ("invoices_last_30d", 1.0),
            ("invoices_last_90d", 3.0),
            ("invoices_last_180d", 5.0),
            ("invoices_last_365d", 5.0),
            ("gap_sd_days", sd),
            ("last_gap_days", 47.0),
            ("recency_over_mean_gap", 9.5 / mean),
            ("monthly_trend", trend),
            ("active_month_share", 4.0 / 6.0),
        ],
    );
    // One purchase day, 6 hours before the cutoff: no gap; M = 2 months (10, then 0).
    check(
        &t.features[1],
        &[
            ("invoices_last_30d", 1.0),
            ("invoices_last_365d", 1.0),
            ("gap_sd_days", 0.0),
            ("last_gap_days", 0.0),
            ("recency_over_mean_gap", 0.0),
            ("monthly_trend", u(10.0)),
            ("active_month_share", 0.5),
        ],
    );
}

#[test]
fn history_features_do_not_depend_on_the_line_order() {
    let a = table(LOG, "a.csv");
    let mut lines: Vec<&str> = LOG.lines().collect();
    lines[1..].reverse();
    let b = table(&(lines.join("\n") + "\n"), "b.csv");
    let bits = |t: &glassbox_value::CustomerTable| -> Vec<Vec<u64>> {
        t.features
            .iter()
            .map(|r| r.iter().map(|x| x.to_bits()).collect())
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn the_scaler_shows_history_features_only_when_asked() {
    let t = table(LOG, "c.csv");
    let names = ["Country".to_string()];
    let fit = [0, 1];
    let plain = Scaler::fit(&t.features, &t.categories, &names, &fit);
    let with = Scaler::fit_with(&t.features, &t.categories, &names, &fit, true);
    // No country reaches 10 customers: one "other" column each.
    assert_eq!(plain.width(), FEATURES.len() + 1);
    assert_eq!(with.width(), FEATURES.len() + HISTORY_FEATURES.len() + 1);
    assert_eq!(with.names()[FEATURES.len()], HISTORY_FEATURES[0].0);
    assert_eq!(with.feature_groups().len(), ALL_FEATURES.len() + 1);
    // A scaler without them serializes as before (no new key), so saved models keep bytes.
    let text = serde_json::to_string(&plain).expect("json");
    assert!(!text.contains("history"), "{text}");
    let back: Scaler = serde_json::from_str(&text).expect("reads");
    assert!(!back.history);
    let mut row = vec![0.0; with.width()];
    with.transform_row(&t.features[0], &t.categories[0], &mut row);
    // Two customers: every varying column standardises to ±1.
    let j = feature_index("active_month_share");
    assert!((row[j] - 1.0).abs() < 1e-12, "{}", row[j]);
}
