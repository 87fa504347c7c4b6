use super::*;
use glassbox_data::{ColumnSchema, Sentinel};

/// Columns x (numeric, -1 missing), flag (boolean), plan (categorical), y (the target,
/// dropped for prediction).
fn schema() -> Schema {
    let mut x = ColumnSchema::new("x", ColumnKind::Numeric);
    x.missing.push(Sentinel::Number(-1.0));
    let mut y = ColumnSchema::new("y", ColumnKind::Boolean);
    y.drop = true;
    Schema::new(vec![
        x,
        ColumnSchema::new("flag", ColumnKind::Boolean),
        ColumnSchema::new("plan", ColumnKind::Categorical),
        y,
    ])
    .unwrap()
}

fn json(body: &str) -> Result<Table, RequestError> {
    parse_body(body.as_bytes(), BodyFormat::Json, &schema(), 100)
}

fn csv(body: &str) -> Result<Table, RequestError> {
    parse_body(body.as_bytes(), BodyFormat::Csv, &schema(), 100)
}

fn fails(r: Result<Table, RequestError>, status: u16, fragments: &[&str]) {
    let e = r.expect_err("the body must be refused");
    assert_eq!(e.status, status, "{}", e.message);
    for f in fragments {
        assert!(e.message.contains(f), "{:?} lacks {f:?}", e.message);
    }
}

#[test]
fn the_three_json_shapes_and_csv_read_as_the_same_table() {
    let rows = r#"{"x": 1.5e0, "flag": true, "plan": " pro "}, {"x": null, "flag": "no", "plan": 3, "y": true}"#;
    let a = json(&format!("[{rows}]")).unwrap();
    let b = json(&format!("{{\"rows\": [{rows}]}}")).unwrap();
    let c = csv("plan,x,flag,y\npro,1.5e0,true,\n3,,no,true\n").unwrap();
    let data = |t: &Table| {
        t.columns()
            .iter()
            .map(|c| c.data().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(a.columns(), b.columns());
    // The CSV's columns are in another order (positions differ), the values are the same.
    assert_eq!(data(&a), data(&c));
    let one = json(r#"{"plan": "pro", "flag": true, "x": -1}"#).unwrap();
    assert_eq!(one.n_rows(), 1);
    assert!(
        one.columns()[0].is_missing(0),
        "-1 is the declared sentinel"
    );
}

#[test]
fn every_refusal_names_the_row_and_field() {
    let json_cases: [(&str, &[&str]); 11] = [
        (
            r#"[{"x": 1, "flag": true}]"#,
            &["row 1", "\"plan\"", "missing"],
        ),
        (
            r#"[{"x": 1, "flag": true, "plan": "a"}, {"x": 1, "flag": true, "plan": "a", "z": 0}]"#,
            &["row 2", "unknown field \"z\""],
        ),
        (
            r#"{"x": "NaN", "flag": true, "plan": "a"}"#,
            &["row 1", "\"x\"", "the string \"NaN\""],
        ),
        (
            r#"{"x": 1e999, "flag": true, "plan": "a"}"#,
            &["row 1", "\"x\"", "infinite"],
        ),
        (
            r#"{"x": 1, "flag": "maybe", "plan": "a"}"#,
            &["row 1", "\"flag\"", "boolean"],
        ),
        (
            r#"{"x": 1, "flag": true, "plan": {"a": 1}}"#,
            &["row 1", "\"plan\"", "an object"],
        ),
        (
            r#"{"x": 1, "x": 2, "flag": true, "plan": "a"}"#,
            &["row 1", "\"x\" is given twice"],
        ),
        (r#"[{"x": 1, "flag": true, "plan": "a"}, 7]"#, &["row 2"]),
        (r#"{"x": NaN}"#, &["malformed JSON"]),
        ("[]", &["no rows"]),
        (r#"{"rows": [], "x": 1}"#, &["beside \"rows\""]),
    ];
    for (body, fragments) in json_cases {
        fails(json(body), 400, fragments);
    }
    let csv_cases: [(&str, &[&str]); 3] = [
        (
            "x,flag,plan,extra\n1,true,a,0\n",
            &["unknown column(s) \"extra\""],
        ),
        ("x,flag\n1,true\n", &["no column \"plan\""]),
        (
            "x,flag,plan\nabc,true,a\n",
            &["line 2", "\"x\"", "not a number"],
        ),
    ];
    for (body, fragments) in csv_cases {
        fails(csv(body), 400, fragments);
    }
    // The negative control: a valid body of each format reads.
    assert!(json(r#"{"x": 1, "flag": true, "plan": "a"}"#).is_ok());
    assert!(csv("x,flag,plan\n1,true,a\n").is_ok());
}

#[test]
fn more_rows_than_the_limit_is_413() {
    let row = r#"{"x": 1, "flag": true, "plan": "a"}"#;
    let body = format!("[{}]", [row; 3].join(","));
    let s = schema();
    fails(
        parse_body(body.as_bytes(), BodyFormat::Json, &s, 2),
        413,
        &["more than 2 rows"],
    );
    assert_eq!(
        parse_body(body.as_bytes(), BodyFormat::Json, &s, 3)
            .unwrap()
            .n_rows(),
        3
    );
    let text = "x,flag,plan\n1,true,a\n2,false,b\n3,true,a\n";
    fails(
        parse_body(text.as_bytes(), BodyFormat::Csv, &s, 2),
        413,
        &["more than 2 rows"],
    );
}
