//! The featurizer on hand-made logs whose every feature is worked out by hand (notes/value.md
//! §2): returns netted, a customer whose first purchase is after the cutoff, one with only a
//! cancellation, lines before the start and after the holdout; then the bad inputs.

use std::path::PathBuf;

use glassbox_value::{
    Amount, Clock, Columns, FEATURES, Part, Scaler, ValueError, feature_index, featurize,
    headline_split, parse_date, parse_horizon, split_key,
};

const LOG: &str = "\
InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536001,85123A,2,2011-01-10 10:00:00,5.0,1.0,United Kingdom
536001,POST,1,2011-01-10 10:00:00,3.0,1.0,United Kingdom
536002,85123A,4,2011-02-20 12:00:00,2.5,1.0,United Kingdom
C536003,85123A,-1,2011-02-25 09:00:00,5.0,1.0,United Kingdom
536010,85123A,10,2011-03-05 08:00:00,1.0,1.0,United Kingdom
C536011,85123A,-2,2011-03-06 08:00:00,1.0,1.0,United Kingdom
536500,85123A,1,2011-04-15 08:00:00,1.0,1.0,United Kingdom
536000,85123A,1,2010-12-15 08:00:00,1.0,1.0,United Kingdom
536012,85123A,3,2011-03-10 08:00:00,2.0,2.0,France
536020,85123A,1,2011-02-28 23:00:00,100,3.0,France
536020,22423,1,2011-02-28 23:00:00,0,3.0,Germany
536020,DOT,2,2011-02-28 23:00:00,0.5,3.0,Germany
C536030,85123A,-1,2011-03-02 10:00:00,100,3.0,France
C536040,85123A,-1,2011-02-01 10:00:00,10,4.0,Spain
536050,85123A,5,2011-02-01 10:00:00,1.0,,United Kingdom
";

fn scratch(name: &str, text: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-value-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn columns() -> Columns {
    Columns::online_retail()
}

fn clock() -> Clock {
    Clock {
        cutoff_ms: parse_date("2011-03-01", "cutoff").unwrap(),
        horizon_ms: parse_horizon("30d", "horizon").unwrap(),
        start_ms: Some(parse_date("2011-01-01", "start").unwrap()),
    }
}

fn check(row: &[f64], expected: &[(&str, f64)]) {
    assert_eq!(row.len(), glassbox_value::ALL_FEATURES.len());
    for (name, value) in expected {
        let got = row[feature_index(name)];
        assert!((got - value).abs() < 1e-12, "{name}: {got} vs {value}");
    }
}

#[test]
fn every_feature_of_a_hand_made_log() {
    let table = featurize(
        &scratch("log.csv", LOG.as_bytes()),
        &columns(),
        &clock(),
        true,
    )
    .expect("reads");
    assert_eq!(table.ids, ["1.0", "3.0"]);
    assert_eq!(table.numeric_ids, [Some(1), Some(3)]);
    check(
        &table.features[0],
        &[
            ("recency_days", 8.5),
            ("tenure_days", 49.0 + 14.0 / 24.0),
            ("invoices", 2.0),
            ("purchase_days", 2.0),
            ("cancelled_invoices", 1.0),
            ("gross_value", 23.0),
            ("returned_value", 5.0),
            ("net_value", 18.0),
            ("return_rate", 5.0 / 23.0),
            ("mean_invoice_value", 11.5),
            ("max_invoice_value", 13.0),
            ("first_invoice_value", 13.0),
            ("mean_lines_per_invoice", 1.5),
            ("mean_quantity_per_invoice", 3.5),
            ("mean_days_between_purchase_days", 41.0),
            ("one_day_customer", 0.0),
            ("net_value_last_30d", 5.0),
            ("invoices_last_90d", 2.0),
            ("service_share", 3.0 / 23.0),
            ("net_value_period_1", 5.0),
            ("net_value_period_2", 13.0),
            ("net_value_period_3", 0.0),
            ("net_value_period_4", 0.0),
        ],
    );
    check(
        &table.features[1],
        &[
            ("recency_days", 1.0 / 24.0),
            ("tenure_days", 1.0 / 24.0),
            ("invoices", 1.0),
            ("purchase_days", 1.0),
            ("cancelled_invoices", 0.0),
            ("gross_value", 101.0),
            ("returned_value", 0.0),
            ("net_value", 101.0),
            ("mean_lines_per_invoice", 3.0),
            ("mean_quantity_per_invoice", 4.0),
            ("mean_days_between_purchase_days", 0.0),
            ("one_day_customer", 1.0),
            ("service_share", 1.0 / 101.0),
            ("net_value_period_1", 101.0),
        ],
    );
    // Germany holds 2 of customer 3's 3 lines.
    assert_eq!(table.categories, [["United Kingdom"], ["Germany"]]);
    // y: 10 − 2 = 8; customer 3 returns 100 in the holdout: −100 floored to 0.
    assert_eq!(table.target, [8.0, 0.0]);
    let s = &table.stats;
    assert_eq!(s.lines, 15);
    assert_eq!(s.lines_without_customer, 1);
    assert_eq!(s.lines_before_start, 1);
    assert_eq!(s.lines_after_holdout, 1);
    assert_eq!(s.lines_holdout, 4);
    assert_eq!(s.lines_calibration, 8);
    assert_eq!(s.customers_seen, 4);
    assert_eq!(s.customers, 2);
    assert_eq!(s.customers_only_in_holdout, 1, "customer 2");
    assert_eq!(s.customers_buying_in_holdout, 1);
    assert_eq!(s.customers_with_negative_holdout, 1);
    assert_eq!(s.holdout_revenue, 8.0);
}

#[test]
fn order_and_compression_do_not_change_the_table() {
    let a = featurize(
        &scratch("a.csv", LOG.as_bytes()),
        &columns(),
        &clock(),
        true,
    )
    .unwrap();
    let mut lines: Vec<&str> = LOG.lines().collect();
    lines[1..].reverse();
    let reversed = lines.join("\n");
    let b = featurize(
        &scratch("b.csv", reversed.as_bytes()),
        &columns(),
        &clock(),
        true,
    )
    .unwrap();
    assert_eq!(a, b);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, LOG.as_bytes()).unwrap();
    let c = featurize(
        &scratch("c.csv.gz", &gz.finish().unwrap()),
        &columns(),
        &clock(),
        true,
    )
    .unwrap();
    assert_eq!(a, c);
}

#[test]
fn an_amount_column_reads_like_quantity_times_price() {
    let text =
        "customer,when,spend\n7,2020-01-05,10\n7,2020-01-20,-4\n7,2020-02-10,3.5\n8,2020-01-06,1\n";
    let columns = Columns {
        customer: "customer".into(),
        time: "when".into(),
        amount: Amount::Column("spend".into()),
        invoice: None,
        categorical: vec![],
        product: None,
    };
    let clock = Clock {
        cutoff_ms: parse_date("2020-02-01", "cutoff").unwrap(),
        horizon_ms: parse_horizon("28d", "horizon").unwrap(),
        start_ms: None,
    };
    let t = featurize(
        &scratch("amount.csv", text.as_bytes()),
        &columns,
        &clock,
        true,
    )
    .unwrap();
    assert_eq!(t.ids, ["7", "8"]);
    check(
        &t.features[0],
        &[
            ("gross_value", 10.0),
            ("returned_value", 4.0),
            ("cancelled_invoices", 1.0),
        ],
    );
    assert_eq!(t.target, [3.5, 0.0]);
}

fn error_of(text: &str, clock: &Clock) -> String {
    match featurize(
        &scratch("bad.csv", text.as_bytes()),
        &columns(),
        clock,
        true,
    ) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_inputs_name_the_line_and_column() {
    let negative = LOG.replace(
        "536002,85123A,4,2011-02-20 12:00:00,2.5",
        "536002,85123A,4,2011-02-20 12:00:00,-2.5",
    );
    let e = error_of(&negative, &clock());
    assert!(
        e.contains("line 4, column 5 (\"UnitPrice\"): a negative price"),
        "{e}"
    );
    let date = LOG.replace("2011-02-25 09:00:00", "25/02/2011 9:00");
    let e = error_of(&date, &clock());
    assert!(e.contains("line 5, column 4 (\"InvoiceDate\")"), "{e}");
    let number = LOG.replace("536010,85123A,10,", "536010,85123A,ten,");
    let e = error_of(&number, &clock());
    assert!(
        e.contains("line 6, column 3 (\"Quantity\"): not a finite number"),
        "{e}"
    );
    let mut early = clock();
    early.cutoff_ms = parse_date("2009-01-01", "cutoff").unwrap();
    early.start_ms = None;
    assert!(error_of(LOG, &early).contains("outside the log"));
    let mut late = clock();
    late.cutoff_ms = parse_date("2012-01-01", "cutoff").unwrap();
    assert!(error_of(LOG, &late).contains("outside the log"));
    let no_buyers = LOG.replace("536010,85123A,10,", "536010,85123A,0,");
    let e = error_of(&no_buyers, &clock());
    assert!(e.contains("has a purchase in the holdout"), "{e}");
    let e = featurize(
        &scratch("cols.csv", LOG.as_bytes()),
        &Columns {
            customer: "Client".into(),
            ..columns()
        },
        &clock(),
        true,
    )
    .expect_err("unknown column");
    assert!(matches!(e, ValueError::UnknownColumn { .. }), "{e}");
}

#[test]
fn the_split_is_portable_and_stratified() {
    // (17850 × 2654435761) mod 2³², by hand: 17850 × 2654435761 = 47381678333850.
    assert_eq!(
        split_key("17850.0", Some(17850)),
        47_381_678_333_850 % (1 << 32)
    );
    let ids: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let numeric: Vec<Option<u64>> = (0..50).map(Some).collect();
    let target: Vec<f64> = (0..50)
        .map(|i| if i % 5 == 0 { 1.0 } else { 0.0 })
        .collect();
    let parts = headline_split(&ids, &numeric, &target);
    let count = |p: Part, positive: bool| {
        (0..50)
            .filter(|&i| parts[i] == p && (target[i] > 0.0) == positive)
            .count()
    };
    // 10 positives: 2 test, round(0.2·8) = 2 val, 6 fit; 40 negatives: 8, round(6.4) = 6, 26.
    assert_eq!(
        (
            count(Part::Test, true),
            count(Part::Val, true),
            count(Part::Fit, true)
        ),
        (2, 2, 6)
    );
    assert_eq!(
        (
            count(Part::Test, false),
            count(Part::Val, false),
            count(Part::Fit, false)
        ),
        (8, 6, 26)
    );
}

#[test]
fn feature_groups_cover_every_input_once_with_one_hots_together() {
    // Two categorical columns: one with two kept values (+ other), one with none kept.
    let features = vec![vec![1.0; FEATURES.len()]; 30];
    let categories: Vec<Vec<String>> = (0..30)
        .map(|i| vec![["UK", "FR"][i % 2].to_string(), format!("rare{i}")])
        .collect();
    let fit: Vec<usize> = (0..30).collect();
    let names = ["Country".to_string(), "Shop".to_string()];
    let scaler = Scaler::fit(&features, &categories, &names, &fit);
    let groups = scaler.feature_groups();
    assert_eq!(groups.len(), FEATURES.len() + 2);
    let mut next = 0;
    for g in &groups {
        assert_eq!(g.start, next, "{g:?}");
        assert_eq!(g.names.len(), g.end - g.start);
        next = g.end;
    }
    assert_eq!(next, scaler.width());
    let country = &groups[FEATURES.len()];
    assert_eq!(country.column, "Country");
    assert_eq!(country.names, ["Country=FR", "Country=UK", "Country=other"]);
    assert_eq!(groups[FEATURES.len() + 1].names, ["Shop=other"]);
    assert_eq!(groups[0].names, [FEATURES[0].0]);
}
