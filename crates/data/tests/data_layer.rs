//! The data layer end to end: reading every CSV dialect, inferring and overriding kinds,
//! imputing with training statistics only, encoding, serialising, streaming — and the
//! bundled Online Shoppers data, checked against pandas/scikit-learn
//! (crates/data/tests/reference/make_data_fixtures.py). Rules and equations: notes/data.md.

mod support;

use std::collections::BTreeMap;

use glassbox_data::*;
use ndarray::{Array2, Axis, concatenate};
use proptest::prelude::*;
use serde::Deserialize;
use support::{Scratch, dataset};

const F32_TOL: f32 = 1e-6;

fn no_overrides() -> SchemaOverrides {
    SchemaOverrides::default()
}

fn kinds(schema: &Schema) -> Vec<(String, ColumnKind)> {
    schema
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.kind))
        .collect()
}

/// Parses CSV text held in memory, inferring its schema with `overrides`.
fn table_from(csv: &'static str, name: &str, overrides: &SchemaOverrides) -> (Table, Schema) {
    let raw =
        RawTable::from_reader(std::io::Cursor::new(csv), name, &ReadOptions::default()).unwrap();
    let schema = Schema::infer(&raw, overrides).unwrap();
    (Table::from_raw(&raw, &schema).unwrap(), schema)
}

fn texts(raw: &RawTable) -> Vec<Vec<String>> {
    (0..raw.n_rows())
        .map(|i| {
            (0..raw.header().len())
                .map(|j| raw.column(j)[i].clone())
                .collect()
        })
        .collect()
}

#[track_caller]
fn assert_close(actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (k, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(*a) - e).abs() <= f64::from(F32_TOL) * e.abs().max(1.0),
            "feature {k}: {a} vs {e} (all: {actual:?})"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// The same table written with each delimiter, with and without a BOM, LF or CRLF, with and
/// without a final newline, reads to the same cells and the same detected delimiter.
#[test]
fn every_dialect_reads_the_same_cells() {
    let scratch = Scratch::new("dialects");
    let rows = [
        ["id", "city", "note"],
        ["1", "Lyon", "plain"],
        ["2", "Saint-Étienne", "has the delimiter: , \t ;"],
        ["3", "  padded  ", "say \"hi\""],
        ["4", "multi", "line one\nline two"],
    ];
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|f| f.to_string()).collect())
        .collect();
    let mut reference: Option<Vec<Vec<String>>> = None;
    for delim in [',', ';', '\t'] {
        for bom in [false, true] {
            for crlf in [false, true] {
                for final_newline in [false, true] {
                    let eol = if crlf { "\r\n" } else { "\n" };
                    let text = write_csv(&rows, delim, eol, bom, final_newline, false);
                    let path = scratch.file("t.csv", &text);
                    let raw = RawTable::read(&path, &ReadOptions::default()).unwrap();
                    let what = format!("delim {delim:?} bom {bom} crlf {crlf} eol {final_newline}");
                    assert_eq!(raw.delimiter(), delim as u8, "{what}");
                    assert_eq!(raw.header(), ["id", "city", "note"], "{what}");
                    // The multi-line field starts on line 5 and ends on line 6.
                    assert_eq!(raw.lines(), [2, 3, 4, 5], "{what}");
                    let cells = texts(&raw);
                    assert_eq!(cells[2][1], "padded", "{what}: fields are trimmed");
                    assert_eq!(cells[2][2], "say \"hi\"", "{what}");
                    assert_eq!(cells[1][2], "has the delimiter: , \t ;", "{what}");
                    assert_eq!(cells[3][2], "line one\nline two", "{what}");
                    match &reference {
                        None => reference = Some(cells),
                        Some(r) => assert_eq!(&cells, r, "{what}"),
                    }
                }
            }
        }
    }
}

/// An explicit delimiter wins over detection: `|` is never detected, and forcing `,` on a
/// semicolon file reads one column.
#[test]
fn delimiter_override() {
    let scratch = Scratch::new("delimiter_override");
    let pipe = scratch.file("pipe.csv", "a|b\n1|2\n");
    let raw = RawTable::read(&pipe, &ReadOptions::with_delimiter(b'|')).unwrap();
    assert_eq!(raw.header(), ["a", "b"]);
    assert_eq!(raw.column(1), ["2"]);
    let detected = RawTable::read(&pipe, &ReadOptions::default()).unwrap();
    assert_eq!(detected.header(), ["a|b"]);

    let semi = scratch.file("semi.csv", "a;b\n1,5;2\n");
    let raw = RawTable::read(&semi, &ReadOptions::default()).unwrap();
    assert_eq!(raw.delimiter(), b';');
    assert_eq!(raw.column(0), ["1,5"], "a decimal comma stays in its field");
    let forced = RawTable::read(&semi, &ReadOptions::with_delimiter(b',')).unwrap_err();
    assert!(matches!(
        forced,
        DataError::Ragged {
            line: 2,
            expected: 1,
            found: 2,
            ..
        }
    ));
}

/// Blank lines are skipped but counted: line numbers stay those of the file.
#[test]
fn blank_lines_keep_line_numbers() {
    let scratch = Scratch::new("blank_lines");
    let path = scratch.file("t.csv", "\n\nx,y\n1,2\n\n\r\n3,4\n\n");
    let raw = RawTable::read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(raw.header_line(), 3);
    assert_eq!(raw.lines(), [4, 7]);
    assert_eq!(raw.column(0), ["1", "3"]);
}

/// A hand-rolled RFC 4180 writer: fields quoted (all of them, or only those holding a
/// delimiter, quote or newline), quotes doubled.
fn write_csv(
    rows: &[Vec<String>],
    delim: char,
    eol: &str,
    bom: bool,
    final_eol: bool,
    quote_all: bool,
) -> String {
    let mut out = String::new();
    if bom {
        out.push('\u{feff}');
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|f| {
                    if quote_all || f.contains([',', ';', '\t', '"', '\n']) {
                        format!("\"{}\"", f.replace('"', "\"\""))
                    } else {
                        f.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(&delim.to_string())
        })
        .collect();
    out.push_str(&lines.join(eol));
    if final_eol {
        out.push_str(eol);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The writer above (every field quoted) and our reader agree on random field contents,
    /// through a real file, for every delimiter, line ending, BOM and final-newline choice.
    #[test]
    fn random_fields_round_trip_through_a_file(
        body in prop::collection::vec(prop::collection::vec("[a-zé0-9 ,;\t\"\n.-]{0,8}", 4), 1..8),
        delim in prop::sample::select(vec![',', ';', '\t']),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        final_eol in any::<bool>(),
    ) {
        let scratch = Scratch::new("proptest_round_trip");
        let mut rows = vec![vec!["h1".to_string(), "h2".into(), "h3".into(), "h4".into()]];
        rows.extend(body.iter().cloned());
        let text = write_csv(&rows, delim, if crlf { "\r\n" } else { "\n" }, bom, final_eol, true);
        let path = scratch.file("p.csv", &text);
        let raw = RawTable::read(&path, &ReadOptions::default()).unwrap();
        prop_assert_eq!(raw.delimiter(), delim as u8);
        let want: Vec<Vec<String>> = body
            .iter()
            .map(|r| r.iter().map(|f| f.trim().to_string()).collect())
            .collect();
        prop_assert_eq!(texts(&raw), want);
        // Each record starts on the line after the previous one's last line.
        let mut line = 2u64;
        for (i, r) in body.iter().enumerate() {
            prop_assert_eq!(raw.lines()[i], line);
            line += 1 + r.iter().map(|f| f.matches('\n').count() as u64).sum::<u64>();
        }
    }

    /// Whatever bytes a file holds, reading, inferring, parsing, fitting and transforming
    /// return `Ok` or `Err` — never panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(prop::sample::select(
            b"ab01,;\t\"\r\n .-eEinfNA\xff\xef\xbb\xbf".to_vec()), 0..80),
    ) {
        let raw = RawTable::from_reader(std::io::Cursor::new(bytes), "fuzz.csv", &ReadOptions::default());
        if let Ok(raw) = raw {
            let schema = Schema::infer(&raw, &no_overrides()).unwrap();
            // Parsing may refuse an inferred-numeric `1e1111` (infinite); that is an Err.
            let Ok(table) = Table::from_raw(&raw, &schema) else {
                return Ok(());
            };
            let _ = table.duplicates();
            let target = raw.header()[raw.header().len() - 1].clone();
            if let Ok(pre) = Preprocessor::fit(&table, &schema, &TargetSpec::new(&target)) {
                let _ = pre.transform(&table);
                let _ = DataSummary::new(&table, Some(&pre));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Kinds and overrides

#[test]
fn inference_of_every_kind() {
    let csv = "num,ints,flag,yn,bit,cat,mixed,codes,empty\n\
               1.5,1,TRUE,yes,1,red,1,10,\n\
               -2e3,2,false,No,0,blue,2,20,NA\n\
               NaN,3,True,YES,1,red,x,30,\n\
               ,,FALSE,,0,,3,10,nan\n";
    let raw = RawTable::from_reader(
        std::io::Cursor::new(csv),
        "kinds.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    let schema = Schema::infer(&raw, &no_overrides()).unwrap();
    use ColumnKind::*;
    let expected = [
        ("num", Numeric),
        ("ints", Numeric),
        ("flag", Boolean),
        ("yn", Boolean),
        ("bit", Boolean),
        ("cat", Categorical),
        ("mixed", Categorical),
        ("codes", Numeric),
        ("empty", Categorical),
    ];
    let got = kinds(&schema);
    assert_eq!(
        got,
        expected
            .iter()
            .map(|(n, k)| (n.to_string(), *k))
            .collect::<Vec<_>>()
    );
    assert!(
        schema
            .columns
            .iter()
            .all(|c| c.source == KindSource::Inferred)
    );
    // The all-missing column is flagged.
    assert!(
        schema.warnings.iter().any(|w| w.contains("\"empty\"")),
        "{:?}",
        schema.warnings
    );

    let table = Table::from_raw(&raw, &schema).unwrap();
    let num = table.column("num").unwrap();
    assert_eq!(num.value(0), Value::Number(1.5));
    assert_eq!(num.value(1), Value::Number(-2000.0));
    assert_eq!(num.value(2), Value::Missing, "NaN is missing");
    assert_eq!(num.missing().total, 2);
    let flag = table.column("flag").unwrap();
    assert_eq!(
        (0..4).map(|i| flag.value(i)).collect::<Vec<_>>(),
        [
            Value::Bool(true),
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(false)
        ]
    );
    assert_eq!(table.column("yn").unwrap().value(3), Value::Missing);
    assert_eq!(table.column("cat").unwrap().value(1), Value::Text("blue"));
    assert_eq!(table.column("empty").unwrap().missing().total, 4);
}

#[test]
fn mostly_numeric_column_is_flagged() {
    let mut csv = String::from("v\n");
    for i in 0..20 {
        csv.push_str(&format!("{i}\n"));
    }
    csv.push_str("12a\n");
    let raw =
        RawTable::from_reader(std::io::Cursor::new(csv), "m.csv", &ReadOptions::default()).unwrap();
    let schema = Schema::infer(&raw, &no_overrides()).unwrap();
    assert_eq!(schema.columns[0].kind, ColumnKind::Categorical);
    assert_eq!(schema.warnings.len(), 1);
    assert!(
        schema.warnings[0].contains("\"12a\" on line 22"),
        "{:?}",
        schema.warnings
    );
}

const OVERRIDES_TOML: &str = r#"
[columns.code]
kind = "categorical"

[columns.secs]
missing = [-1, "?"]
log1p = true

[columns.junk]
drop = true
"#;

#[test]
fn toml_and_programmatic_overrides_agree() {
    let scratch = Scratch::new("overrides");
    let data = scratch.file(
        "d.csv",
        "code,secs,junk,y\n1,-1,zz,yes\n2,?,@@,no\n1,30,,no\n3,-1.0,,yes\n",
    );
    let toml = scratch.file("s.toml", OVERRIDES_TOML);
    let from_file = SchemaOverrides::from_toml_file(&toml).unwrap();
    let mut by_code = SchemaOverrides::new("command line");
    by_code
        .set_kind("code", ColumnKind::Categorical)
        .add_missing("secs", Sentinel::Number(-1.0))
        .add_missing("secs", Sentinel::Text("?".into()))
        .set_log1p("secs", true)
        .set_drop("junk", true);
    let (t1, s1) = Table::read_infer(&data, &ReadOptions::default(), &from_file).unwrap();
    let (t2, s2) = Table::read_infer(&data, &ReadOptions::default(), &by_code).unwrap();
    assert_eq!(s1, s2);
    assert_eq!(t1, t2);

    let code = s1.column("code").unwrap();
    assert_eq!(
        (code.kind, code.source),
        (ColumnKind::Categorical, KindSource::Declared)
    );
    let secs = s1.column("secs").unwrap();
    assert_eq!(
        secs.kind,
        ColumnKind::Numeric,
        "sentinels are skipped by inference"
    );
    assert!(secs.log1p);
    assert!(s1.column("junk").unwrap().drop);
    assert!(t1.column("junk").is_none(), "a dropped column is not read");
    // -1, -1.0 and ? are the sentinels: 3 missing, all declared.
    assert_eq!(
        t1.column("secs").unwrap().missing(),
        MissingCount {
            total: 3,
            sentinel: 3
        }
    );

    // Flags given after the file win; sentinels add up.
    let mut merged = from_file.clone();
    let mut flags = SchemaOverrides::new("command line");
    flags
        .set_kind("code", ColumnKind::Numeric)
        .set_log1p("secs", false)
        .add_missing("secs", Sentinel::Number(30.0));
    merged.merge(flags);
    let m = &merged.columns["secs"];
    assert_eq!(m.log1p, Some(false));
    assert_eq!(m.missing.len(), 3);
    assert_eq!(merged.columns["code"].kind, Some(ColumnKind::Numeric));
    assert_eq!(merged.columns["junk"].drop, Some(true));
}

/// The schema of a file without its dropped column still reads it, and a file lacking a
/// dropped column is accepted.
#[test]
fn dropped_columns_are_not_required() {
    let scratch = Scratch::new("dropped");
    let a = scratch.file("a.csv", "x,junk,y\n1,z,yes\n2,z,no\n");
    let b = scratch.file("b.csv", "y,x\nno,5\n");
    let mut o = SchemaOverrides::new("test");
    o.set_drop("junk", true);
    let (_, schema) = Table::read_infer(&a, &ReadOptions::default(), &o).unwrap();
    let t = Table::read(&b, &ReadOptions::default(), &schema).unwrap();
    assert_eq!(t.column_names(), ["x", "y"], "schema order, not file order");
    assert_eq!(t.column("x").unwrap().position(), 2);
}

// ---------------------------------------------------------------------------------------
// Features

const HAND_TRAIN: &str =
    "a,b,c,d,label\n1,0,red,yes,no\n3,1,blue,no,yes\n,3,red,,no\n7,-1,NA,yes,yes\n";
const HAND_TEST: &str = "a,b,c,d,label\n100,,green,no,yes\n,2,blue,yes,no\n";

fn hand_overrides() -> SchemaOverrides {
    let mut o = SchemaOverrides::new("test");
    o.add_missing("b", Sentinel::Number(-1.0))
        .set_log1p("b", true);
    o
}

/// Every number of a small fit written out (notes/data.md §6 works it by hand).
///
/// a = (1, 3, –, 7): median 3 (D2) → ã = (1, 3, 3, 7); μ = 14/4 = 3.5 (D4);
///   σ² = (6.25 + 0.25 + 0.25 + 12.25)/4 = 4.75, σ = 2.179449471770337 (D5);
///   z = (−1.1470786693528088, −0.22941573387056174, −0.22941573387056174, 1.6059101370939322).
/// b = (0, 1, 3, −1 sentinel): median of (0, 1, 3) is 1 → b̃ = (0, 1, 3, 1);
///   u = ln(1 + b̃) = (0, ln 2, ln 4, ln 2) (D3); μ = ln 2; σ = ln 2 / √2 → z = (−√2, 0, √2, 0).
/// c = (red, blue, red, NA): levels (blue, red) with counts (1, 2), mode red (D10).
/// d = (yes, no, –, yes): 2 true vs 1 false, mode true (D8).
/// label: yes/no is boolean, its positive class inferred as `true` (D9).
#[test]
fn hand_worked_fit_and_transform() {
    let train_raw = RawTable::from_reader(
        std::io::Cursor::new(HAND_TRAIN),
        "hand.csv",
        &ReadOptions::default(),
    )
    .unwrap();
    let schema = Schema::infer(&train_raw, &hand_overrides()).unwrap();
    let train = Table::from_raw(&train_raw, &schema).unwrap();
    let pre = Preprocessor::fit(&train, &schema, &TargetSpec::new("label")).unwrap();

    assert_eq!(
        pre.feature_names(),
        ["a", "b", "c=blue", "c=red", "c=<unknown>", "d"]
    );
    assert_eq!(pre.target().positive, "true");
    assert_eq!(pre.target().negative, "false");
    let FittedColumn::Numeric(a) = &pre.columns()[0] else {
        panic!("a is numeric")
    };
    assert_eq!((a.median, a.mean, a.observed), (3.0, 3.5, 3));
    assert_eq!(a.std, 4.75f64.sqrt());
    let FittedColumn::Categorical(c) = &pre.columns()[2] else {
        panic!("c is categorical")
    };
    assert_eq!(
        (c.levels.as_slice(), c.counts.as_slice(), c.mode),
        (&["blue".to_string(), "red".into()][..], &[1, 2][..], 1)
    );
    let FittedColumn::Boolean(d) = &pre.columns()[3] else {
        panic!("d is boolean")
    };
    assert!(d.mode);

    let (x, y) = pre.transform(&train).unwrap();
    let r2 = std::f64::consts::SQRT_2;
    let expected = [
        [-1.1470786693528088, -r2, 0.0, 1.0, 0.0, 1.0],
        [-0.22941573387056174, 0.0, 1.0, 0.0, 0.0, 0.0],
        [-0.22941573387056174, r2, 0.0, 1.0, 0.0, 1.0],
        [1.6059101370939322, 0.0, 0.0, 1.0, 0.0, 1.0],
    ];
    for (i, row) in expected.iter().enumerate() {
        assert_close(x.row(i).as_slice().unwrap(), row);
    }
    assert_eq!(y.to_vec(), [0.0, 1.0, 0.0, 1.0]);

    let enc = pre.encode(&train, true).unwrap();
    let imputed: BTreeMap<String, usize> = [("a", 1), ("b", 1), ("c", 1), ("d", 1)]
        .map(|(k, v)| (k.to_string(), v))
        .into();
    assert_eq!(enc.imputed, imputed);
    assert_eq!(enc.unknown, BTreeMap::from([("c".to_string(), 0)]));
}

/// Statistics come from the training rows only: test values (an outlier of 100, a level
/// never seen) change nothing in the fit, and a missing test value is imputed with the
/// training median — while a fit that did see the test rows would differ.
#[test]
fn imputation_uses_training_statistics_only() {
    let read = |text: &'static str, name: &str, schema: Option<&Schema>| {
        let raw = RawTable::from_reader(std::io::Cursor::new(text), name, &ReadOptions::default())
            .unwrap();
        let schema = schema
            .cloned()
            .unwrap_or_else(|| Schema::infer(&raw, &hand_overrides()).unwrap());
        (Table::from_raw(&raw, &schema).unwrap(), schema)
    };
    let (train, schema) = read(HAND_TRAIN, "train.csv", None);
    let (test, _) = read(HAND_TEST, "test.csv", Some(&schema));
    let pre = Preprocessor::fit(&train, &schema, &TargetSpec::new("label")).unwrap();
    let before = pre.clone();
    let enc = pre.encode(&test, true).unwrap();
    assert_eq!(pre, before);

    // Row 1: a = 100 → (100 − 3.5)/σ; b missing → median 1 → ln 2 → z = 0; c = green →
    // <unknown>; d = no → 0.
    // Row 2: a missing → training median 3 → z = −0.2294…; b = 2 → (ln 3 − ln 2)/σ_b.
    assert_close(
        enc.x.row(0).as_slice().unwrap(),
        &[44.27723663701842, 0.0, 0.0, 0.0, 1.0, 0.0],
    );
    assert_close(
        enc.x.row(1).as_slice().unwrap(),
        &[-0.22941573387056174, 0.8272619019995403, 1.0, 0.0, 0.0, 1.0],
    );
    assert_eq!(enc.y.unwrap().to_vec(), [1.0, 0.0]);
    assert_eq!(enc.unknown["c"], 1);
    assert_eq!((enc.imputed["a"], enc.imputed["b"]), (1, 1));

    // Control: fitting on train and test together would give other statistics.
    let both = "a,b,c,d,label\n1,0,red,yes,no\n3,1,blue,no,yes\n,3,red,,no\n7,-1,NA,yes,yes\n100,,green,no,yes\n,2,blue,yes,no\n";
    let (all, _) = read(both, "all.csv", Some(&schema));
    let leaky = Preprocessor::fit(&all, &schema, &TargetSpec::new("label")).unwrap();
    let (FittedColumn::Numeric(honest), FittedColumn::Numeric(leaked)) =
        (&pre.columns()[0], &leaky.columns()[0])
    else {
        panic!("a is numeric")
    };
    assert_eq!(honest.median, 3.0);
    assert_eq!(leaked.median, 5.0);
    assert_ne!(honest.mean, leaked.mean);
}

/// A constant training column has σ = 0: its divisor is 1 and its feature is 0 (D6).
#[test]
fn constant_column_standardises_to_zero() {
    let csv = "k,v,y\n0.1,1,yes\n0.1,2,no\n0.1,3,no\n";
    let (t, schema) = table_from(csv, "c.csv", &no_overrides());
    let pre = Preprocessor::fit(&t, &schema, &TargetSpec::new("y")).unwrap();
    let FittedColumn::Numeric(k) = &pre.columns()[0] else {
        panic!()
    };
    assert_eq!((k.mean, k.std, k.scale), (0.1, 0.0, 1.0));
    let x = pre.transform_features(&t).unwrap();
    assert_eq!(x.column(0).to_vec(), [0.0, 0.0, 0.0]);
}

/// Category levels: numeric order for number-like codes, byte order otherwise; the
/// `<unknown>` bucket last; groups map every feature back to its column.
#[test]
fn one_hot_levels_and_feature_groups() {
    let csv = "os,m,n,y\n10,b,1,yes\n2,a,2,no\n1,c,3,no\n2,a,4,yes\n";
    let mut o = SchemaOverrides::new("test");
    o.set_kind("os", ColumnKind::Categorical);
    let (t, schema) = table_from(csv, "g.csv", &o);
    let pre = Preprocessor::fit(&t, &schema, &TargetSpec::new("y")).unwrap();
    let groups = pre.feature_groups();
    assert_eq!(
        groups
            .iter()
            .map(|g| (g.column.as_str(), g.kind, g.start, g.end))
            .collect::<Vec<_>>(),
        [
            ("os", ColumnKind::Categorical, 0, 4),
            ("m", ColumnKind::Categorical, 4, 8),
            ("n", ColumnKind::Numeric, 8, 9),
        ]
    );
    assert_eq!(groups[0].names, ["os=1", "os=2", "os=10", "os=<unknown>"]);
    assert_eq!(groups[1].names, ["m=a", "m=b", "m=c", "m=<unknown>"]);
    assert_eq!(pre.numeric_value_features(), [8]);
    let names = pre.feature_names();
    assert_eq!(names.len(), pre.n_features());
    for g in &groups {
        assert_eq!(&names[g.start..g.end], g.names.as_slice());
    }
    // Each one-hot block holds exactly one 1 per row.
    let x = pre.transform_features(&t).unwrap();
    for g in &groups[..2] {
        for row in x.slice(ndarray::s![.., g.start..g.end]).rows() {
            assert_eq!(row.sum(), 1.0);
        }
    }
}

#[test]
fn log1p_is_applied_before_standardisation() {
    let csv = "v,y\n0,yes\n9,no\n99,no\n";
    let mut o = SchemaOverrides::new("test");
    o.set_log1p("v", true);
    let (t, schema) = table_from(csv, "l.csv", &o);
    let pre = Preprocessor::fit(&t, &schema, &TargetSpec::new("y")).unwrap();
    let u: Vec<f64> = [0.0f64, 9.0, 99.0].iter().map(|v| v.ln_1p()).collect();
    let mean = u.iter().sum::<f64>() / 3.0;
    let std = (u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    let x = pre.transform_features(&t).unwrap();
    let want: Vec<f64> = u.iter().map(|x| (x - mean) / std).collect();
    assert_close(x.column(0).to_vec().as_slice(), &want);
    let FittedColumn::Numeric(s) = &pre.columns()[0] else {
        panic!()
    };
    assert_eq!(s.mean, mean);
}

#[test]
fn positive_label_inference_and_choice() {
    let fit = |csv: &'static str, spec: TargetSpec| {
        let (t, schema) = table_from(csv, "t.csv", &no_overrides());
        let pre = Preprocessor::fit(&t, &schema, &spec)?;
        let (_, y) = pre.transform(&t)?;
        Ok::<_, DataError>((pre.target().clone(), y.to_vec()))
    };
    // Boolean spellings: the true one is positive.
    let (t, y) = fit("x,r\n1,TRUE\n2,FALSE\n", TargetSpec::new("r")).unwrap();
    assert_eq!((t.positive.as_str(), y), ("true", vec![1.0, 0.0]));
    assert_eq!(
        (t.positive_written(), t.negative_written()),
        ("TRUE", "FALSE")
    );
    let (t, y) = fit("x,r\n1,no\n2,Yes\n3,yes\n", TargetSpec::new("r")).unwrap();
    assert_eq!(y, [0.0, 1.0, 1.0]);
    // Outputs write the classes as the file first did; the keys stay canonical.
    assert_eq!(
        (t.positive.as_str(), t.negative.as_str()),
        ("true", "false")
    );
    assert_eq!((t.positive_written(), t.negative_written()), ("Yes", "no"));
    // Spelled like the keys: nothing extra is stored (bundles stay as they were).
    let (t, _) = fit("x,r\n1,true\n2,false\n", TargetSpec::new("r")).unwrap();
    assert_eq!(t.written, None);
    assert_eq!(t.positive_written(), "true");
    // Any spelling of the class picks it for a boolean target; FALSE may be positive.
    let (t, y) = fit(
        "x,r\n1,TRUE\n2,FALSE\n",
        TargetSpec::new("r").with_positive("false"),
    )
    .unwrap();
    assert_eq!((t.positive.as_str(), y), ("false", vec![0.0, 1.0]));
    // Text classes need the label; it is matched exactly, or case-insensitively if unique.
    let (t, y) = fit(
        "x,r\n1,churn\n2,stay\n",
        TargetSpec::new("r").with_positive("Churn"),
    )
    .unwrap();
    assert_eq!(
        (t.positive.as_str(), t.negative.as_str(), y),
        ("churn", "stay", vec![1.0, 0.0])
    );
    // Numeric classes are compared as numbers: "2.0" names the class written "2".
    let (t, y) = fit("x,r\n1,2\n2,5\n", TargetSpec::new("r").with_positive("2.0")).unwrap();
    assert_eq!((t.positive.as_str(), y), ("2", vec![1.0, 0.0]));
}

// ---------------------------------------------------------------------------------------
// Duplicates, serialisation, streaming

#[test]
fn duplicates_are_counted_not_dropped() {
    let csv = "a,b\n1,x\n1.0,x\n2,y\n1,x\n,z\nNA,z\n";
    let (t, _) = table_from(csv, "d.csv", &no_overrides());
    // (1, x) three times (1 and 1.0 are one value), (missing, z) twice.
    assert_eq!(
        t.duplicates(),
        DuplicateStats {
            repeats: 3,
            groups: 2,
            rows_in_groups: 5
        }
    );
    assert_eq!(t.n_rows(), 6, "counting does not drop");
    let d = t.without_duplicates();
    assert_eq!(d.n_rows(), 3);
    assert_eq!(d.lines(), [2, 4, 6], "first copies kept, with their lines");
    assert_eq!(d.duplicates().repeats, 0);
}

#[derive(Deserialize)]
struct Fixture {
    counts: BTreeMap<String, Counts>,
    feature_names: Vec<String>,
    numeric_stats: BTreeMap<String, BTreeMap<String, String>>,
    levels: BTreeMap<String, Vec<String>>,
    test_unknown: BTreeMap<String, usize>,
    test_rows: Vec<FixtureRow>,
    test_feature_sums: Vec<String>,
}

#[derive(Deserialize)]
struct Counts {
    rows: usize,
    revenue_true: usize,
    duplicate_repeats: usize,
    duplicate_rows_in_groups: usize,
    duplicate_groups: usize,
    sentinel_rows: usize,
    empty_cells: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct FixtureRow {
    row: usize,
    line: u64,
    y: String,
    x: Vec<String>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/data_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn num(s: &str) -> f64 {
    s.parse().unwrap()
}

fn shipped_overrides() -> SchemaOverrides {
    SchemaOverrides::from_toml_file(dataset("online_shoppers.schema.toml")).unwrap()
}

/// Reads a bundled file with the shipped schema and fits a preprocessor on it.
fn fit_bundled(file: &str) -> (Table, Schema, Preprocessor) {
    let (table, schema) =
        Table::read_infer(dataset(file), &ReadOptions::default(), &shipped_overrides()).unwrap();
    let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("Revenue")).unwrap();
    (table, schema, pre)
}

const DURATIONS: [&str; 3] = [
    "Administrative_Duration",
    "Informational_Duration",
    "ProductRelated_Duration",
];

/// The bundled files: row counts, labels, sentinels, blanks and duplicates, against
/// pandas' counts on the raw text.
#[test]
fn bundled_data_counts() {
    let fx = fixture();
    let o = shipped_overrides();
    for (key, file, rows) in [
        ("full", "online_shoppers_intention.csv", 12_330),
        ("train", "online_shoppers_train.csv", 9_864),
        ("test", "online_shoppers_test.csv", 2_466),
    ] {
        let want = &fx.counts[key];
        let (t, schema) = Table::read_infer(dataset(file), &ReadOptions::default(), &o).unwrap();
        assert_eq!(t.n_rows(), rows, "{file}");
        assert_eq!(want.rows, rows);
        assert!(schema.warnings.is_empty(), "{:?}", schema.warnings);
        let revenue = t.column("Revenue").unwrap();
        let trues = (0..t.n_rows())
            .filter(|&i| revenue.value(i) == Value::Bool(true))
            .count();
        assert_eq!(trues, want.revenue_true, "{file}");
        // The -1 sentinels: the same rows in all three duration columns.
        let sentinel_rows = (0..t.n_rows())
            .filter(|&i| {
                DURATIONS.iter().all(|c| t.column(c).unwrap().is_missing(i))
                    && t.column("Administrative").unwrap().value(i) != Value::Missing
            })
            .count();
        assert_eq!(sentinel_rows, want.sentinel_rows, "{file}");
        for c in DURATIONS {
            let m = t.column(c).unwrap().missing();
            assert_eq!(m.sentinel, want.sentinel_rows, "{file} {c}");
            assert_eq!(m.total - m.sentinel, want.empty_cells[c], "{file} {c}");
        }
        let d = t.duplicates();
        assert_eq!(
            (d.repeats, d.groups, d.rows_in_groups),
            (
                want.duplicate_repeats,
                want.duplicate_groups,
                want.duplicate_rows_in_groups
            ),
            "{file}"
        );
    }
    let full = &fx.counts["full"];
    assert_eq!(
        (
            full.revenue_true,
            full.sentinel_rows,
            full.duplicate_repeats
        ),
        (1_908, 33, 119)
    );
}

/// A preprocessor fitted on the bundled training file matches scikit-learn's
/// SimpleImputer → log1p → StandardScaler / OneHotEncoder pipeline on the test file.
#[test]
fn bundled_features_match_scikit_learn() {
    let fx = fixture();
    let (_, _, pre) = fit_bundled("online_shoppers_train.csv");
    assert_eq!(pre.feature_names(), fx.feature_names);
    assert_eq!(pre.n_features(), 79);
    for fitted in pre.columns() {
        match fitted {
            FittedColumn::Numeric(s) => {
                let want = &fx.numeric_stats[&s.column];
                assert_eq!(s.median, num(&want["median"]), "{}", s.column);
                let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-300);
                assert!(rel(s.mean, num(&want["mean"])) < 1e-12, "{}", s.column);
                assert!(rel(s.scale, num(&want["scale"])) < 1e-12, "{}", s.column);
            }
            FittedColumn::Categorical(s) => assert_eq!(s.levels, fx.levels[&s.column]),
            FittedColumn::Boolean(_) => {}
        }
    }
    let test = Table::read(
        dataset("online_shoppers_test.csv"),
        &ReadOptions::default(),
        pre.schema(),
    )
    .unwrap();
    let enc = pre.encode(&test, true).unwrap();
    assert!(enc.x.iter().all(|v| v.is_finite()));
    assert_eq!(enc.unknown, fx.test_unknown);
    assert_eq!(enc.unknown["Browser"], 1);
    let y = enc.y.as_ref().unwrap();
    assert_eq!(y.sum(), 382.0);
    for r in &fx.test_rows {
        assert_eq!(test.lines()[r.row], r.line);
        let want: Vec<f64> = r.x.iter().map(|s| num(s)).collect();
        assert_close(enc.x.row(r.row).as_slice().unwrap(), &want);
        assert_eq!(f64::from(y[r.row]), num(&r.y));
    }
    // Column sums over all 2,466 test rows (f32 features summed in f64).
    for (k, s) in fx.test_feature_sums.iter().enumerate() {
        let ours: f64 = enc.x.column(k).iter().map(|&v| f64::from(v)).sum();
        assert!(
            (ours - num(s)).abs() < 1e-3,
            "feature {k} {}: {ours} vs {s}",
            fx.feature_names[k]
        );
    }
}

/// JSON out and back in gives the same preprocessor, bit for bit, and the same features.
#[test]
fn preprocessor_json_round_trip_is_exact() {
    let (_, _, pre) = fit_bundled("online_shoppers_train.csv");
    let json = pre.to_json();
    let back = Preprocessor::from_json(&json, "bundle.json").unwrap();
    assert_eq!(back, pre);
    for (a, b) in pre.columns().iter().zip(back.columns()) {
        if let (FittedColumn::Numeric(a), FittedColumn::Numeric(b)) = (a, b) {
            assert_eq!(a.mean.to_bits(), b.mean.to_bits());
            assert_eq!(a.scale.to_bits(), b.scale.to_bits());
            assert_eq!(a.median.to_bits(), b.median.to_bits());
        }
    }
    let test = Table::read(
        dataset("online_shoppers_test.csv"),
        &ReadOptions::default(),
        back.schema(),
    )
    .unwrap();
    let (x1, y1) = pre.transform(&test).unwrap();
    let (x2, y2) = back.transform(&test).unwrap();
    assert_eq!(
        x1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        x2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(y1, y2);
    // The same through plain serde_json, as a model bundle would embed it.
    let via_serde: Preprocessor =
        serde_json::from_value(serde_json::to_value(&pre).unwrap()).unwrap();
    assert_eq!(via_serde, pre);
}

/// Chunks of k rows give, concatenated, the whole file's features bit for bit, with the
/// file's line numbers; a label-less file reads with the prediction schema.
#[test]
fn chunked_reading_matches_whole_file() {
    let scratch = Scratch::new("chunks");
    let (_, _, pre) = fit_bundled("online_shoppers_train.csv");
    let test_path = dataset("online_shoppers_test.csv");
    let whole = Table::read(&test_path, &ReadOptions::default(), pre.schema()).unwrap();
    let x_whole = pre.transform_features(&whole).unwrap();

    let chunks: Vec<Table> =
        ChunkReader::open(&test_path, &ReadOptions::default(), pre.schema(), 1000)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
    assert_eq!(
        chunks.iter().map(Table::n_rows).collect::<Vec<_>>(),
        [1000, 1000, 466]
    );
    assert_eq!(chunks[1].lines()[0], 1002);
    assert_eq!(chunks[2].lines()[465], 2467);
    let xs: Vec<Array2<f32>> = chunks
        .iter()
        .map(|c| pre.transform_features(c).unwrap())
        .collect();
    let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
    let x_chunks = concatenate(Axis(0), &views).unwrap();
    assert_eq!(x_chunks, x_whole);
    let unknown: usize = chunks
        .iter()
        .map(|c| pre.encode(c, false).unwrap().unknown["Browser"])
        .sum();
    assert_eq!(unknown, 1);

    // The same file without its Revenue column, columns shuffled, through the prediction
    // schema: same features.
    let text = std::fs::read_to_string(&test_path).unwrap();
    let mut shuffled = String::new();
    for line in text.lines() {
        let mut f: Vec<&str> = line.split(',').collect();
        f.pop();
        f.rotate_left(5);
        shuffled.push_str(&f.join(";"));
        shuffled.push('\n');
    }
    let unlabelled = scratch.file("predict.csv", shuffled);
    let schema = pre.prediction_schema();
    let mut reader = ChunkReader::open(&unlabelled, &ReadOptions::default(), &schema, 700).unwrap();
    assert_eq!(reader.delimiter(), b';');
    let mut parts = Vec::new();
    for chunk in reader.by_ref() {
        parts.push(pre.transform_features(&chunk.unwrap()).unwrap());
    }
    assert_eq!(reader.rows_read(), 2466);
    let views: Vec<_> = parts.iter().map(|x| x.view()).collect();
    assert_eq!(concatenate(Axis(0), &views).unwrap(), x_whole);
}

/// The run report's data section, serialised.
#[test]
fn data_summary_of_the_bundled_file() {
    let (full, _, pre) = fit_bundled("online_shoppers_intention.csv");
    let s = DataSummary::new(&full, Some(&pre)).unwrap();
    assert_eq!(s.rows, 12_330);
    assert_eq!(s.columns.len(), 18);
    let balance = s.class_balance.as_ref().unwrap();
    assert_eq!(
        (balance.positive_count, balance.negative_count),
        (1_908, 10_422)
    );
    assert_eq!(s.duplicates.repeats, 119);
    let col = |n: &str| s.columns.iter().find(|c| c.name == n).unwrap();
    assert_eq!(col("Browser").levels, Some(13));
    assert_eq!(col("Browser").kind_source, KindSource::Declared);
    assert_eq!(col("Month").kind_source, KindSource::Inferred);
    assert_eq!(col("Month").levels, Some(10));
    assert_eq!(col("Weekend").kind, ColumnKind::Boolean);
    assert!(col("Revenue").target);
    assert_eq!(
        col("ProductRelated_Duration").missing,
        MissingCount {
            total: 47,
            sentinel: 33
        }
    );
    assert!(s.unknown_categories.values().all(|&n| n == 0));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["class_balance"]["positive_count"], 1908);
    assert_eq!(json["columns"][1]["missing"]["sentinel"], 33);
    assert_eq!(json["columns"][1]["kind"], "numeric");
}
