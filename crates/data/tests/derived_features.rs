//! Datetime columns and derived features (notes/data.md §9–10, D11–D16) on hand-made rows
//! whose answers are worked out by hand.

use std::io::Cursor;

use glassbox_data::*;

fn raw(csv: &str, name: &str) -> RawTable {
    RawTable::from_reader(Cursor::new(csv.to_string()), name, &ReadOptions::default()).unwrap()
}

fn numbers(table: &Table, name: &str) -> Vec<f64> {
    let c = table
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    (0..c.len())
        .map(|i| match c.value(i) {
            Value::Number(x) => x,
            Value::Bool(b) => f64::from(u8::from(b)),
            Value::Missing => f64::NAN,
            Value::Text(t) => t.parse().unwrap(),
        })
        .collect()
}

const TRAIN: &str = "\
user,signup,purchase,device,y
1,2/24/15 22:55,2/24/15 22:55,AAA,1
2,2/24/15 22:55,2/24/15 22:56,AAA,1
3,1/1/15 0:00,1/3/15 12:00,BBB,0
4,3/1/15 6:30,3/8/15 18:45,CCC,0
";

fn fraud_like_overrides() -> SchemaOverrides {
    let mut o = SchemaOverrides::new("test");
    o.set_datetime("signup", "%m/%d/%y %H:%M")
        .set_datetime("purchase", "%m/%d/%y %H:%M")
        .set_drop("user", true)
        .set_drop("device", true);
    for flag in [
        "gap=seconds_between(signup,purchase)",
        "quick=at_most(gap,60)",
        "age_days=age(signup,purchase,days)",
        "hour=hour_of_day(purchase)",
        "dow=day_of_week(purchase)",
        "hc=hour_of_day(purchase,cyclic)",
        "users=count_by_key(device)",
        "users_now=count_by_key(device,scored)",
    ] {
        o.add_derived(DerivedSpec::parse_flag(flag).unwrap());
    }
    o
}

#[test]
fn derived_features_on_hand_made_rows() {
    let raw = raw(TRAIN, "train.csv");
    let schema = Schema::infer(&raw, &fraud_like_overrides()).unwrap();
    let table = Table::from_raw_as(&raw, &schema, Role::Training).unwrap();
    // Gaps: 0 s; 60 s; 2.5 days = 216000 s; 7 days 12 h 15 min = 648900 s.
    assert_eq!(numbers(&table, "gap"), [0.0, 60.0, 216_000.0, 648_900.0]);
    assert_eq!(numbers(&table, "quick"), [1.0, 1.0, 0.0, 0.0]);
    assert_eq!(
        numbers(&table, "age_days"),
        [0.0, 60.0 / 86_400.0, 2.5, 648_900.0 / 86_400.0]
    );
    // 2015-02-24 was a Tuesday (1), 2015-01-03 a Saturday (5), 2015-03-08 a Sunday (6).
    assert_eq!(numbers(&table, "hour"), [22.0, 22.0, 12.0, 18.0]);
    assert_eq!(numbers(&table, "dow"), [1.0, 1.0, 5.0, 6.0]);
    assert_eq!(
        table.column("hour").unwrap().kind(),
        ColumnKind::Categorical
    );
    let sin = numbers(&table, "hc_sin");
    let cos = numbers(&table, "hc_cos");
    assert!(
        (sin[2] - 0.0).abs() < 1e-12 && (cos[2] + 1.0).abs() < 1e-12,
        "12 h is π"
    );
    assert!(
        (sin[3] + 1.0).abs() < 1e-12 && cos[3].abs() < 1e-12,
        "18 h is 3π/2"
    );
    // Training rows count their own key in the training file.
    assert_eq!(numbers(&table, "users"), [2.0, 2.0, 1.0, 1.0]);
    assert_eq!(numbers(&table, "users_now"), [2.0, 2.0, 1.0, 1.0]);
    // The identifiers and raw times are not columns of the table.
    assert!(table.column("user").is_none() && table.column("device").is_none());
    // A datetime column kept as a feature holds Unix seconds.
    assert_eq!(numbers(&table, "signup")[0], 1_424_818_500.0);
}

#[test]
fn scored_rows_count_training_rows_plus_themselves_and_unseen_keys_are_one() {
    let schema = Schema::infer(&raw(TRAIN, "train.csv"), &fraud_like_overrides()).unwrap();
    let test = "\
user,signup,purchase,device,y
9,2/24/15 22:55,2/24/15 22:55,AAA,1
10,2/24/15 22:55,2/24/15 22:55,ZZZ,1
11,2/24/15 22:55,2/24/15 22:55,ZZZ,1
12,2/24/15 22:55,2/24/15 22:55,BBB,1
";
    let table = Table::from_raw(&raw(test, "test.csv"), &schema).unwrap();
    // AAA: 2 training rows + itself; ZZZ unseen: 0 + 1; BBB: 1 + 1.
    assert_eq!(numbers(&table, "users"), [3.0, 1.0, 1.0, 2.0]);
    // The scored scope counts over the scored file: AAA 1, ZZZ 2, BBB 1.
    assert_eq!(numbers(&table, "users_now"), [1.0, 2.0, 2.0, 1.0]);
}

/// The training-scope count never reads the scored rows: each row's value is the same
/// whether it is scored alone or with any other rows, and the fitted schema depends on the
/// training file only.
#[test]
fn training_scope_counts_never_read_test_rows() {
    let schema = Schema::infer(&raw(TRAIN, "train.csv"), &fraud_like_overrides()).unwrap();
    let header = "user,signup,purchase,device,y\n";
    let rows = [
        "9,2/24/15 22:55,2/24/15 22:55,AAA,1\n",
        "10,2/24/15 22:55,2/24/15 22:55,AAA,1\n",
        "11,2/24/15 22:55,2/24/15 22:55,AAA,1\n",
        "12,2/24/15 22:55,2/24/15 22:55,QQQ,1\n",
    ];
    let together =
        Table::from_raw(&raw(&format!("{header}{}", rows.concat()), "t"), &schema).unwrap();
    let batch = numbers(&together, "users");
    for (i, row) in rows.iter().enumerate() {
        let alone = Table::from_raw(&raw(&format!("{header}{row}"), "t"), &schema).unwrap();
        assert_eq!(numbers(&alone, "users"), [batch[i]], "row {i}");
    }
    // Negative control: the scored scope does depend on the other rows.
    let alone = Table::from_raw(&raw(&format!("{header}{}", rows[0]), "t"), &schema).unwrap();
    assert_ne!(
        numbers(&alone, "users_now"),
        [numbers(&together, "users_now")[0]]
    );
    // The stored counts are those of the training file.
    let counts = schema
        .derived
        .iter()
        .find_map(|d| match &d.op {
            DerivedOp::CountByKey {
                counts,
                scope: CountScope::Training,
                ..
            } => Some(counts.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [
            ("AAA".to_string(), 2),
            ("BBB".to_string(), 1),
            ("CCC".to_string(), 1)
        ]
    );
}

#[test]
fn a_bad_datetime_names_file_line_and_column() {
    let csv = "user,signup,purchase,device,y\n1,2/24/15 22:55,2/24/15 22:55,A,1\n\n2,2/30/15 1:00,2/24/15 22:55,A,0\n";
    let err = Schema::infer(&raw(csv, "bad.csv"), &fraud_like_overrides())
        .and_then(|s| Table::from_raw_as(&raw(csv, "bad.csv"), &s, Role::Training))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DataError::BadDatetime {
                line: 4,
                column: 2,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("bad.csv, line 4, column 2 (\"signup\")") && msg.contains("2/30/15 1:00"),
        "{msg}"
    );
}

#[test]
fn iso_columns_are_inferred_and_zones_convert_to_utc() {
    let csv = "\
t,u,y
2015-02-24T22:55:00Z,2015-02-24 22:55,1
2015-02-25T00:55:00+02:00,2015-02-24 23:55,0
2015-02-24T17:55:00-05:00,,1
";
    let mut o = SchemaOverrides::new("test");
    o.add_derived(DerivedSpec::parse_flag("d=seconds_between(t,u)").unwrap());
    let iso = raw(csv, "iso.csv");
    let schema = Schema::infer(&iso, &o).unwrap();
    assert_eq!(
        schema.column("t").unwrap().datetime,
        Some(DatetimeFormat::Iso)
    );
    assert_eq!(
        schema.column("u").unwrap().datetime,
        Some(DatetimeFormat::Iso)
    );
    let table = Table::from_raw(&iso, &schema).unwrap();
    // All three `t` are the same instant.
    assert_eq!(numbers(&table, "t"), [1_424_818_500.0; 3]);
    let d = numbers(&table, "d");
    assert_eq!(&d[..2], [0.0, 3600.0]);
    assert!(
        d[2].is_nan(),
        "a missing input gives a missing derived value"
    );
    // A non-ISO cell keeps the column categorical (not datetime).
    let mixed = "t,y\n2015-02-24,1\nyesterday,0\n";
    let s = Schema::infer(&raw(mixed, "m.csv"), &SchemaOverrides::default()).unwrap();
    assert_eq!(s.column("t").unwrap().datetime, None);
}

#[test]
fn the_schema_file_declares_datetimes_and_derived_columns() {
    let o = SchemaOverrides::from_toml_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../datasets/fraud_purchases.schema.toml"
    ))
    .unwrap();
    assert_eq!(o.derived.len(), 5);
    let bad = "[[derived]]\nname = \"x\"\nop = \"nonsense\"\n";
    let o = SchemaOverrides::from_toml_str(bad, "bad.toml").unwrap();
    let err = Schema::infer(&raw(TRAIN, "train.csv"), &o)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown op \"nonsense\""), "{err}");
    assert!(DerivedSpec::parse_flag("x=hour_of_day(t,wavy)").is_err());
    assert!(DerivedSpec::parse_flag("nonsense").is_err());
}
