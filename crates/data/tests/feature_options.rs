//! The selectable preprocessing of notes/data.md §11 (D17–D23) on hand-made tables: every
//! feature value by hand, statistics from the training rows only, and the bundle's JSON round
//! trip.

use glassbox_data::*;

/// Training rows: `a` numeric with one gap and an outlier; `c` categorical with a rare level
/// and a gap; `label` yes/no.
const TRAIN: &str = "a,c,label\n1,red,no\n2,red,yes\n,blue,no\n4,red,yes\n100,green,no\n3,,yes\n";
/// Later rows: an unseen level, a rare training level, gaps in both columns.
const LATER: &str = "a,c,label\n,pink,no\n3,green,yes\n5,,no\n";

fn table(csv: &'static str, name: &str, schema: Option<&Schema>) -> (Table, Schema) {
    let raw =
        RawTable::from_reader(std::io::Cursor::new(csv), name, &ReadOptions::default()).unwrap();
    let schema = match schema {
        Some(s) => s.clone(),
        None => Schema::infer(&raw, &SchemaOverrides::default()).unwrap(),
    };
    (Table::from_raw(&raw, &schema).unwrap(), schema)
}

fn fit(options: FeatureOptions) -> (Preprocessor, Schema) {
    let (train, schema) = table(TRAIN, "train.csv", None);
    let pre = Preprocessor::fit_with(&train, &schema, &TargetSpec::new("label"), options).unwrap();
    (pre, schema)
}

fn row(x: &ndarray::Array2<f32>, i: usize) -> Vec<f32> {
    x.row(i).to_vec()
}

#[test]
fn robust_scaling_with_indicators_and_rare_pooling_by_hand() {
    let options = FeatureOptions {
        numeric: NumericScaling::RobustClip,
        missing_indicators: true,
        rare_min_count: 2,
    };
    let (pre, schema) = fit(options);
    // `blue` and `green` are seen once each: pooled into <unknown> (D23); `c` and `a` have
    // gaps in training: each gets a <missing> feature (D22).
    assert_eq!(
        pre.feature_names(),
        ["a", "a=<missing>", "c=red", "c=<unknown>", "c=<missing>"]
    );
    // A PLR layer on numeric columns (notes/tabular.md N23) embeds `a`'s value, not its
    // missing indicator nor the one-hot columns.
    assert_eq!(pre.numeric_value_features(), [0]);
    let FittedColumn::Categorical(c) = &pre.columns()[1] else {
        panic!("c is categorical")
    };
    assert_eq!(
        (c.rare.clone(), c.rare_count, c.mode),
        (vec!["blue".to_string(), "green".into()], 2, 0)
    );
    // a: observed 1, 2, 4, 100, 3 → median 3 (D2); u = 1, 2, 3, 4, 100, 3 (imputed);
    // sorted 1, 2, 3, 3, 4, 100: center Q(0.5) = 3, Q(0.25) = 2.25, Q(0.75) = 3.75 → q = 1.5.
    let FittedColumn::Numeric(a) = &pre.columns()[0] else {
        panic!("a is numeric")
    };
    assert_eq!(
        a.scaling,
        Some(FittedScaling::RobustClip {
            center: 3.0,
            factor: 1.0 / 1.5
        })
    );
    let clip = |u: f64| smooth_clip((u - 3.0) / 1.5) as f32;
    let (train, _) = table(TRAIN, "train.csv", Some(&schema));
    let e = pre.encode(&train, true).unwrap();
    assert_eq!(row(&e.x, 0), [clip(1.0), 0.0, 1.0, 0.0, 0.0]);
    assert_eq!(row(&e.x, 2), [0.0, 1.0, 0.0, 1.0, 0.0]); // a missing; blue is rare
    assert_eq!(row(&e.x, 4), [clip(100.0), 0.0, 0.0, 1.0, 0.0]); // 2.998…, not 64.7
    assert_eq!(row(&e.x, 5), [0.0, 0.0, 0.0, 0.0, 1.0]); // c missing → <missing>, not the mode
    assert!(e.x[[4, 0]] < 3.0);
    // Pooled rare levels are not "unseen": no unknown count on the training rows.
    assert_eq!(e.unknown["c"], 0);
    assert_eq!(e.imputed["c"], 0);

    let (later, _) = table(LATER, "later.csv", Some(&schema));
    let l = pre.encode(&later, true).unwrap();
    assert_eq!(row(&l.x, 0), [0.0, 1.0, 0.0, 1.0, 0.0]); // unseen pink → <unknown>
    assert_eq!(row(&l.x, 1), [0.0, 0.0, 0.0, 1.0, 0.0]); // rare green → <unknown>
    assert_eq!(row(&l.x, 2), [clip(5.0), 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(l.unknown["c"], 1, "only pink was never seen in training");

    // The bundle's JSON gives the same features, bit for bit.
    let back = Preprocessor::from_json(&pre.to_json(), "round trip").unwrap();
    assert_eq!(back, pre);
    assert_eq!(back.options(), options);
    assert_eq!(back.encode(&later, true).unwrap().x, l.x);
}

#[test]
fn quantile_normal_scores_are_fitted_on_training_rows_only() {
    let options = FeatureOptions {
        numeric: NumericScaling::QuantileNormal,
        ..FeatureOptions::default()
    };
    let (pre, schema) = fit(options);
    assert_eq!(
        pre.feature_names(),
        ["a", "c=blue", "c=green", "c=red", "c=<unknown>"]
    );
    let FittedColumn::Numeric(a) = &pre.columns()[0] else {
        panic!("a is numeric")
    };
    let Some(FittedScaling::QuantileNormal { knots, scores }) = &a.scaling else {
        panic!("quantile-normal expected")
    };
    // u = 1, 2, 3, 4, 100, 3: distinct 1, 2, 3, 4, 100 with counts 1, 1, 2, 1, 1 (N = 6);
    // mid-ranks F = 0.5/6, 1.5/6, 3/6, 4.5/6, 5.5/6 (D20).
    assert_eq!(knots, &[1.0, 2.0, 3.0, 4.0, 100.0]);
    // scipy.stats.norm.ppf([0.5/6, 1.5/6, 0.5, 4.5/6, 5.5/6])
    let expected = [
        -1.382_994_127_100_638,
        -0.674_489_750_196_081_7,
        0.0,
        0.674_489_750_196_081_7,
        1.382_994_127_100_638,
    ];
    for (s, e) in scores.iter().zip(expected) {
        assert!((s - e).abs() < 1e-12, "{s} vs {e}");
    }
    // Later rows: missing → median 3 → 0; 5 lies between the knots 4 and 100 (D21).
    let (later, _) = table(LATER, "later.csv", Some(&schema));
    let l = pre.encode(&later, true).unwrap();
    assert_eq!(l.x[[0, 0]], 0.0);
    let between = expected[3] + (5.0 - 4.0) / 96.0 * (expected[4] - expected[3]);
    assert!((f64::from(l.x[[2, 0]]) - between).abs() < 1e-6);
    // Fitting on training + later rows would move the knots: the statistics are the
    // training rows' only.
    assert_eq!(knots.len(), 5);
    let back = Preprocessor::from_json(&pre.to_json(), "round trip").unwrap();
    assert_eq!(back, pre);
}

#[test]
fn default_options_are_the_standard_preprocessing_and_old_bundles_read_back() {
    let (train, schema) = table(TRAIN, "train.csv", None);
    let plain = Preprocessor::fit(&train, &schema, &TargetSpec::new("label")).unwrap();
    let (with, _) = fit(FeatureOptions::default());
    assert_eq!(plain, with);
    // A preprocessor written before the options existed has no `options` key.
    let json = plain.to_json();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value.as_object_mut().unwrap().remove("options");
    let old = Preprocessor::from_json(&value.to_string(), "old bundle").unwrap();
    assert_eq!(old, plain);
}

/// The summary from the unknown-category counts of parts that cover the table once (the
/// training pipeline's train and validation encodes) equals the summary that encodes it
/// whole; counts that miss a part do not.
#[test]
fn a_summary_from_the_parts_counts_is_the_whole_tables() {
    let (pre, schema) = fit(FeatureOptions::default());
    // LATER: an unseen level (`pink`, row 0) in one part, a gap in the other.
    let (later, _) = table(LATER, "later.csv", Some(&schema));
    let whole = DataSummary::new(&later, Some(&pre)).unwrap();
    assert_eq!(whole.unknown_categories["c"], 1);
    let mut unknown = pre
        .encode(&later.select_rows(&[0, 2]), true)
        .unwrap()
        .unknown;
    for (column, count) in pre.encode(&later.select_rows(&[1]), true).unwrap().unknown {
        *unknown.entry(column).or_insert(0) += count;
    }
    assert_eq!(
        DataSummary::with_unknown(&later, Some(&pre), unknown).unwrap(),
        whole
    );
    // Negative control: the second part's counts alone miss row 0's unseen level.
    let part = pre.encode(&later.select_rows(&[1]), true).unwrap().unknown;
    assert_ne!(
        DataSummary::with_unknown(&later, Some(&pre), part).unwrap(),
        whole
    );
}
