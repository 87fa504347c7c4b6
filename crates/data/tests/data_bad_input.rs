//! One test per kind of bad input: each asserts the error variant and that its message
//! names the file and, where it applies, the line (header = line 1) and the column.
//! Policies (notes/data.md §2): empty, NA and NaN are missing values, not errors; `inf` in a
//! numeric column is an error.

mod support;

use glassbox_data::*;
use support::{Scratch, assert_message};

/// Writes `text` to a scratch file and reads it with inference.
fn read(
    scratch: &Scratch,
    name: &str,
    text: impl AsRef<[u8]>,
) -> (String, Result<(Table, Schema)>) {
    let path = scratch.file(name, text);
    let shown = path.display().to_string();
    (
        shown,
        Table::read_infer(&path, &ReadOptions::default(), &SchemaOverrides::default()),
    )
}

/// Reads `train`, fits on target `y` (positive label optional), returns the fit's result.
fn fit(scratch: &Scratch, text: &str, positive: Option<&str>) -> (String, Result<Preprocessor>) {
    let (file, r) = read(scratch, "train.csv", text);
    let (table, schema) = r.unwrap();
    let mut spec = TargetSpec::new("y");
    spec.positive = positive.map(str::to_string);
    (file, Preprocessor::fit(&table, &schema, &spec))
}

#[test]
fn missing_file() {
    let scratch = Scratch::new("missing_file");
    let path = scratch.path("nowhere.csv");
    let err = RawTable::read(&path, &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(&err, DataError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert_message(&err, &[&path.display().to_string(), "cannot read"]);
}

#[test]
fn empty_file() {
    let scratch = Scratch::new("empty_file");
    for (name, text) in [
        ("zero.csv", &b""[..]),
        ("bom.csv", b"\xEF\xBB\xBF"),
        ("blank.csv", b"\n\r\n\n"),
    ] {
        let (file, r) = read(&scratch, name, text);
        let err = r.unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{name}: {err}");
        assert_message(&err, &[&file, "empty"]);
    }
}

#[test]
fn header_only() {
    let scratch = Scratch::new("header_only");
    let (file, r) = read(&scratch, "h.csv", "a,b,c\n\n");
    let err = r.unwrap_err();
    assert!(matches!(err, DataError::NoDataRows { .. }));
    assert_message(&err, &[&file, "line 1", "no data rows"]);
}

#[test]
fn ragged_row_names_line_and_counts() {
    let scratch = Scratch::new("ragged");
    // Lines 3-4 hold one record (a quoted field spans them); the short row is on line 5.
    let (file, r) = read(&scratch, "r.csv", "a,b,c\n1,2,3\n\"x\ny\",5,6\n7,8\n");
    let err = r.unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Ragged {
                line: 5,
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_message(&err, &[&file, "line 5", "expected 3 fields", "found 2"]);
    let (_, r) = read(&scratch, "long.csv", "a,b\n1,2\n3,4,5\n");
    assert_message(&r.unwrap_err(), &["line 3", "expected 2", "found 3"]);
}

#[test]
fn unterminated_quote() {
    let scratch = Scratch::new("unterminated");
    let (file, r) = read(&scratch, "q.csv", "a,b\n1,2\n3,\"open\n4,5\n");
    let err = r.unwrap_err();
    assert!(matches!(err, DataError::UnterminatedQuote { line: 3, .. }));
    assert_message(&err, &[&file, "line 3", "never closed"]);
}

#[test]
fn non_numeric_value_in_numeric_column() {
    let scratch = Scratch::new("non_numeric");
    // Declared numeric by a schema file: the typo is an error, not a category.
    let data = scratch.file("n.csv", "id,amount\n1,3.5\n2,12a\n");
    let toml = scratch.file("s.toml", "[columns.amount]\nkind = \"numeric\"\n");
    let o = SchemaOverrides::from_toml_file(&toml).unwrap();
    let err = Table::read_infer(&data, &ReadOptions::default(), &o).unwrap_err();
    assert!(matches!(
        &err,
        DataError::BadValue { line: 3, column: 2, problem: ValueProblem::NotNumeric, text, .. } if text == "12a"
    ));
    assert_message(
        &err,
        &[
            &data.display().to_string(),
            "line 3",
            "column 2",
            "\"amount\"",
            "\"12a\"",
            "not a number",
        ],
    );

    // At prediction time the fitted schema says numeric, whatever the new file holds.
    let train = scratch.file("train.csv", "amount,y\n1,yes\n2,no\n");
    let (t, schema) =
        Table::read_infer(&train, &ReadOptions::default(), &SchemaOverrides::default()).unwrap();
    let pre = Preprocessor::fit(&t, &schema, &TargetSpec::new("y")).unwrap();
    let new = scratch.file("new.csv", "amount\n4\nfour\n");
    let err = ChunkReader::open(&new, &ReadOptions::default(), &pre.prediction_schema(), 10)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert_message(
        &err,
        &[&new.display().to_string(), "line 3", "column 1", "\"four\""],
    );
}

#[test]
fn infinite_value_is_an_error_but_nan_na_and_empty_are_missing() {
    let scratch = Scratch::new("infinite");
    for bad in ["inf", "-Infinity", "1e999"] {
        let (file, r) = read(&scratch, "i.csv", format!("a,b\n1,2\n3,{bad}\n"));
        let err = r.unwrap_err();
        assert!(
            matches!(
                &err,
                DataError::BadValue {
                    problem: ValueProblem::Infinite,
                    line: 3,
                    column: 2,
                    ..
                }
            ),
            "{bad}: {err}"
        );
        assert_message(
            &err,
            &[&file, "line 3", "column 2", "\"b\"", bad, "infinite"],
        );
    }
    let (_, r) = read(
        &scratch,
        "m.csv",
        "a,b\n1,2\n3,NaN\n4,NA\n5,\n6,nan\n7,-nan\n",
    );
    let (t, _) = r.unwrap();
    let b = t.column("b").unwrap();
    assert_eq!(b.kind(), ColumnKind::Numeric);
    assert_eq!(b.missing().total, 5);
}

#[test]
fn non_boolean_value_in_boolean_column() {
    let scratch = Scratch::new("not_boolean");
    let train = scratch.file("train.csv", "flag,y\nyes,1\nno,0\n");
    let (_, schema) =
        Table::read_infer(&train, &ReadOptions::default(), &SchemaOverrides::default()).unwrap();
    let new = scratch.file("new.csv", "flag,y\nTRUE,1\nmaybe,0\n");
    let err = Table::read(&new, &ReadOptions::default(), &schema).unwrap_err();
    assert!(matches!(
        err,
        DataError::BadValue {
            problem: ValueProblem::NotBoolean,
            ..
        }
    ));
    assert_message(
        &err,
        &[
            &new.display().to_string(),
            "line 3",
            "column 1",
            "\"flag\"",
            "\"maybe\"",
        ],
    );
}

#[test]
fn duplicate_header_names() {
    let scratch = Scratch::new("dup_header");
    let (file, r) = read(&scratch, "d.csv", "a,b, a \n1,2,3\n");
    let err = r.unwrap_err();
    assert!(matches!(
        err,
        DataError::DuplicateHeader {
            first: 1,
            second: 3,
            ..
        }
    ));
    assert_message(&err, &[&file, "line 1", "column 3", "\"a\"", "column 1"]);
}

#[test]
fn empty_header_name() {
    let scratch = Scratch::new("empty_header");
    let (file, r) = read(&scratch, "e.csv", "a,,c\n1,2,3\n");
    let err = r.unwrap_err();
    assert!(matches!(
        err,
        DataError::EmptyHeaderName {
            line: 1,
            column: 2,
            ..
        }
    ));
    assert_message(&err, &[&file, "line 1", "column 2", "empty name"]);
}

#[test]
fn invalid_utf8() {
    let scratch = Scratch::new("utf8");
    let (file, r) = read(
        &scratch,
        "u.csv",
        b"name,city\nann,Lyon\nbob,Saint-\xC9tienne\n",
    );
    let err = r.unwrap_err();
    assert!(matches!(
        err,
        DataError::InvalidUtf8 {
            line: 3,
            column: 2,
            ..
        }
    ));
    assert_message(&err, &[&file, "line 3", "column 2", "\"city\"", "UTF-8"]);
    let (file, r) = read(&scratch, "h.csv", b"name,ci\xFFty\n1,2\n");
    let err = r.unwrap_err();
    assert_message(&err, &[&file, "line 1", "column 2", "UTF-8"]);
}

#[test]
fn bad_delimiter_option() {
    let scratch = Scratch::new("bad_delim");
    let path = scratch.file("d.csv", "a,b\n1,2\n");
    let err = RawTable::read(&path, &ReadOptions::with_delimiter(b'"')).unwrap_err();
    assert!(matches!(err, DataError::BadDelimiter { delimiter: '"' }));
    assert_message(&err, &["delimiter '\"'"]);
}

#[test]
fn missing_target_column_lists_columns() {
    let scratch = Scratch::new("missing_target");
    let (file, r) = read(&scratch, "t.csv", "a,b\n1,2\n3,4\n");
    let (t, schema) = r.unwrap();
    let err = Preprocessor::fit(&t, &schema, &TargetSpec::new("Revenue")).unwrap_err();
    assert!(matches!(err, DataError::MissingTarget { .. }));
    assert_message(&err, &[&file, "\"Revenue\"", "not found", "\"a\", \"b\""]);
}

#[test]
fn single_class_target_names_class_and_count() {
    let scratch = Scratch::new("single_class");
    let (file, r) = fit(&scratch, "a,y\n1,FALSE\n2,FALSE\n3,false\n", None);
    let err = r.unwrap_err();
    assert!(matches!(&err, DataError::SingleClass { class, count: 3, .. } if class == "false"));
    assert_message(
        &err,
        &[&file, "\"y\"", "single class", "\"false\"", "3 rows"],
    );
}

#[test]
fn target_with_three_classes() {
    let scratch = Scratch::new("three_classes");
    let (file, r) = fit(&scratch, "a,y\n1,red\n2,green\n3,blue\n", Some("red"));
    let err = r.unwrap_err();
    assert!(matches!(err, DataError::TargetNotBinary { .. }));
    assert_message(&err, &[&file, "3 classes", "\"blue\", \"green\", \"red\""]);
}

#[test]
fn positive_label_required_lists_values() {
    let scratch = Scratch::new("positive_required");
    let (file, r) = fit(&scratch, "a,y\n1,churn\n2,stay\n", None);
    let err = r.unwrap_err();
    assert!(matches!(err, DataError::PositiveLabelRequired { .. }));
    assert_message(&err, &[&file, "\"y\"", "\"churn\", \"stay\""]);
}

#[test]
fn unknown_positive_label_lists_values() {
    let scratch = Scratch::new("unknown_positive");
    let (file, r) = fit(&scratch, "a,y\n1,churn\n2,stay\n", Some("left"));
    let err = r.unwrap_err();
    assert!(matches!(&err, DataError::UnknownPositiveLabel { label, .. } if label == "left"));
    assert_message(&err, &[&file, "\"left\"", "\"churn\", \"stay\""]);
}

#[test]
fn missing_label_names_line() {
    let scratch = Scratch::new("missing_label");
    let (file, r) = fit(&scratch, "a,y\n1,yes\n2,no\n3,\n", None);
    let err = r.unwrap_err();
    assert!(matches!(
        err,
        DataError::MissingLabel {
            line: 4,
            column: 2,
            ..
        }
    ));
    assert_message(&err, &[&file, "line 4", "column 2", "\"y\"", "missing"]);
}

#[test]
fn unknown_label_at_transform_time() {
    let scratch = Scratch::new("unknown_label");
    let (_, r) = fit(&scratch, "a,y\n1,churn\n2,stay\n", Some("churn"));
    let pre = r.unwrap();
    let test = scratch.file("test.csv", "a,y\n1,stay\n2,left\n");
    let t = Table::read(&test, &ReadOptions::default(), pre.schema()).unwrap();
    let err = pre.transform(&t).unwrap_err();
    assert!(matches!(&err, DataError::UnknownLabel { line: 3, value, .. } if value == "left"));
    assert_message(
        &err,
        &[
            &test.display().to_string(),
            "line 3",
            "column 2",
            "\"left\"",
            "\"churn\", \"stay\"",
        ],
    );
    // Features alone do not look at the target.
    assert_eq!(pre.transform_features(&t).unwrap().nrows(), 2);
}

#[test]
fn negative_value_under_log1p() {
    let scratch = Scratch::new("negative_log1p");
    let data = scratch.file("n.csv", "secs,y\n3,yes\n-1,no\n");
    let mut o = SchemaOverrides::new("command line");
    o.set_log1p("secs", true);
    let (t, schema) = Table::read_infer(&data, &ReadOptions::default(), &o).unwrap();
    let err = Preprocessor::fit(&t, &schema, &TargetSpec::new("y")).unwrap_err();
    assert!(matches!(
        err,
        DataError::NegativeLog1p {
            line: 3,
            column: 1,
            value: -1.0,
            ..
        }
    ));
    assert_message(
        &err,
        &[
            &data.display().to_string(),
            "line 3",
            "column 1",
            "\"secs\"",
            "missing = [-1]",
        ],
    );
    // Declaring the sentinel fixes it.
    o.add_missing("secs", Sentinel::Number(-1.0));
    let (t, schema) = Table::read_infer(&data, &ReadOptions::default(), &o).unwrap();
    assert!(Preprocessor::fit(&t, &schema, &TargetSpec::new("y")).is_ok());
}

#[test]
fn feature_column_absent_from_prediction_input() {
    let scratch = Scratch::new("absent_column");
    let (_, r) = fit(&scratch, "a,b,y\n1,2,yes\n2,3,no\n", None);
    let pre = r.unwrap();
    let new = scratch.file("new.csv", "a,c\n1,2\n");
    let err = ChunkReader::open(&new, &ReadOptions::default(), &pre.prediction_schema(), 5)
        .err()
        .unwrap();
    assert!(matches!(&err, DataError::MissingColumn { column, .. } if column == "b"));
    assert_message(&err, &[&new.display().to_string(), "\"b\"", "\"a\", \"c\""]);
}

#[test]
fn all_missing_feature_column() {
    let scratch = Scratch::new("all_missing");
    let (file, r) = fit(&scratch, "a,b,y\n1,,yes\n2,NA,no\n", None);
    let err = r.unwrap_err();
    assert!(matches!(err, DataError::NoObservedValues { rows: 2, .. }));
    assert_message(&err, &[&file, "\"b\"", "drop"]);
}

#[test]
fn schema_file_errors() {
    let scratch = Scratch::new("schema_file");
    let cases = [
        ("syntax.toml", "[columns.a\nkind = \"numeric\"\n", "line 1"),
        ("kind.toml", "[columns.a]\nkind = \"integer\"\n", "integer"),
        ("key.toml", "[columns.a]\nkinds = \"numeric\"\n", "kinds"),
        ("top.toml", "[colums.a]\nkind = \"numeric\"\n", "colums"),
    ];
    for (name, text, part) in cases {
        let path = scratch.file(name, text);
        let err = SchemaOverrides::from_toml_file(&path).unwrap_err();
        assert!(matches!(err, DataError::SchemaFile { .. }), "{name}: {err}");
        assert_message(&err, &[&path.display().to_string(), part]);
    }
    let missing = scratch.path("absent.toml");
    assert!(matches!(
        SchemaOverrides::from_toml_file(&missing),
        Err(DataError::Io { .. })
    ));
}

#[test]
fn override_of_unknown_column() {
    let scratch = Scratch::new("unknown_override");
    let data = scratch.file("d.csv", "a,b\n1,2\n");
    let toml = scratch.file("s.toml", "[columns.Regoin]\nkind = \"categorical\"\n");
    let o = SchemaOverrides::from_toml_file(&toml).unwrap();
    let err = Table::read_infer(&data, &ReadOptions::default(), &o).unwrap_err();
    assert!(matches!(err, DataError::UnknownSchemaColumn { .. }));
    assert_message(
        &err,
        &[
            &toml.display().to_string(),
            "\"Regoin\"",
            &data.display().to_string(),
            "\"a\", \"b\"",
        ],
    );
}

#[test]
fn log1p_on_a_text_column() {
    let scratch = Scratch::new("log1p_text");
    let data = scratch.file("d.csv", "a,b\nx,2\n");
    let mut o = SchemaOverrides::new("command line");
    o.set_log1p("a", true);
    let err = Table::read_infer(&data, &ReadOptions::default(), &o).unwrap_err();
    assert!(matches!(err, DataError::InvalidSchema { .. }));
    assert_message(&err, &["\"a\"", "log1p", "categorical"]);
}

#[test]
fn bad_preprocessor_json() {
    let err = Preprocessor::from_json("{\"format\": 1}", "model/bundle.json").unwrap_err();
    assert_message(&err, &["model/bundle.json", "missing field"]);
    let scratch = Scratch::new("bad_json");
    let (_, r) = fit(&scratch, "a,y\n1,yes\n2,no\n", None);
    let json = r
        .unwrap()
        .to_json()
        .replace("\"format\": 1", "\"format\": 99");
    let err = Preprocessor::from_json(&json, "model/bundle.json").unwrap_err();
    assert_message(&err, &["model/bundle.json", "format 99"]);
}
