//! A proptest fuzz of the request parser (`request::read_features`, JSON and CSV): any body
//! is answered with features or a 400/413 error, never a panic, and never more rows than the
//! limit. The test suite runs a few hundred cases per strategy; the documented long run
//! (notes/serving.md §6) sets `GLASSBOX_FUZZ_CASES`:
//!
//! ```text
//! GLASSBOX_FUZZ_CASES=1000000 cargo test --release -p glassbox-serve --test fuzz_request
//! ```

use glassbox_data::{
    Preprocessor, RawTable, ReadOptions, Schema, SchemaOverrides, Table, TargetSpec,
};
use glassbox_serve::request::{BodyFormat, read_features};
use proptest::prelude::*;

const MAX_ROWS: usize = 8;

fn model() -> &'static (Schema, Preprocessor) {
    static MODEL: std::sync::OnceLock<(Schema, Preprocessor)> = std::sync::OnceLock::new();
    MODEL.get_or_init(fit)
}

fn fit() -> (Schema, Preprocessor) {
    let csv = "age,plan,visits,weekend,bought\n31,basic,2,TRUE,no\n45,pro,0,FALSE,yes\n,team,7,FALSE,no\n52,pro,1,TRUE,yes\n";
    let raw = RawTable::from_reader(
        std::io::Cursor::new(csv),
        "fit.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    let mut overrides = SchemaOverrides::new("test");
    overrides.set_log1p("visits", true);
    let schema = Schema::infer(&raw, &overrides).unwrap();
    let table = Table::from_raw(&raw, &schema).unwrap();
    let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("bought")).unwrap();
    (pre.prediction_schema(), pre)
}

fn cases() -> u32 {
    std::env::var("GLASSBOX_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Tokens that build bodies near the grammar, so most cases get past the first byte.
fn json_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"age\"",
        "\"plan\"",
        "\"visits\"",
        "\"weekend\"",
        "\"bought\"",
        "\"rows\"",
        "\"zip\"",
        "30",
        "-1",
        "1e400",
        "0.5",
        "-0",
        "null",
        "true",
        "false",
        "\"pro\"",
        "\"NaN\"",
        "\"\\u00e9\"",
        "\"a\\\"b\"",
        " ",
        "\"",
        "\\",
        "NaN",
    ])
}

fn csv_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "age", "plan", "visits", "weekend", "bought", "zip", ",", ";", "\t", "\n", "\r\n", "\"",
        "30", "-2", "inf", "NaN", "pro", "TRUE", "maybe", "", " ",
    ])
}

fn check(body: &[u8], format: BodyFormat, schema: &Schema, pre: &Preprocessor) {
    match read_features(body, format, schema, pre, MAX_ROWS) {
        Ok(x) => {
            assert!(x.nrows() >= 1 && x.nrows() <= MAX_ROWS);
            assert_eq!(x.ncols(), pre.n_features());
            assert!(x.iter().all(|v| v.is_finite()), "non-finite feature");
        }
        Err(e) => {
            assert!(e.status == 400 || e.status == 413, "{e:?}");
            assert!(!e.message.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn json_near_the_grammar_never_panics(tokens in prop::collection::vec(json_token(), 0..60)) {
        let (schema, pre) = model();
        check(tokens.concat().as_bytes(), BodyFormat::Json, schema, pre);
    }

    #[test]
    fn csv_near_the_grammar_never_panics(tokens in prop::collection::vec(csv_token(), 0..60)) {
        let (schema, pre) = model();
        check(tokens.concat().as_bytes(), BodyFormat::Csv, schema, pre);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let (schema, pre) = model();
        check(&body, BodyFormat::Json, schema, pre);
        check(&body, BodyFormat::Csv, schema, pre);
    }
}

#[test]
fn a_valid_body_of_each_format_gives_features() {
    // The negative control of the properties above: valid input is not refused.
    let (schema, pre) = model();
    let json = r#"{"rows": [{"age": 40, "plan": "pro", "visits": 2, "weekend": true}]}"#;
    let x = read_features(json.as_bytes(), BodyFormat::Json, schema, pre, MAX_ROWS).unwrap();
    let csv = "age,plan,visits,weekend\n40,pro,2,true\n";
    let y = read_features(csv.as_bytes(), BodyFormat::Csv, schema, pre, MAX_ROWS).unwrap();
    assert_eq!(x, y);
}
