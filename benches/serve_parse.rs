//! The work of one 1,000-row `POST /v1/models/{name}/predict` of `glassbox serve`, stage by
//! stage (notes/benchmarks_serving.md; notes/serving.md §7):
//! - `parse/json`, `parse/csv`: `request::parse_body` — the body to a `Table` read with the
//!   model's prediction schema;
//! - `encode`: `Preprocessor::encode` of that table;
//! - `score`: `Bundle::probabilities` (the forward pass, all threads);
//! - `answer`: `answer::answer_json`, the answer's bytes;
//! - `request/json`, `request/csv`: all of it, as one request costs without HTTP.
//!
//! `cargo bench --bench serve_parse` with the bundle at `runs/case-study/purchase/default/
//! model.safetensors` (`glassbox case-study`), or the one named by `GLASSBOX_BUNDLE`. Rows:
//! the first 1,000 of datasets/online_shoppers_test.csv, as JSON row objects built the way
//! benches/serving/make_bodies.py builds them. Criterion's "elem/s" is rows per second.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glassbox_app::bundle::Bundle;
use glassbox_data::ColumnKind;
use glassbox_serve::answer::answer_json;
use glassbox_serve::request::{BodyFormat, parse_body, read_features};

const ROWS: usize = 1000;

fn bundle_path() -> PathBuf {
    std::env::var_os("GLASSBOX_BUNDLE").map_or_else(
        || PathBuf::from("runs/case-study/purchase/default/model.safetensors"),
        PathBuf::from,
    )
}

/// The first `ROWS` data lines of the test split as CSV text, and as a `{"rows": [...]}`
/// body: numbers as the CSV wrote them, booleans as `true`/`false`, the rest as strings.
fn bodies(bundle: &Bundle) -> (String, String) {
    let text = std::fs::read_to_string("datasets/online_shoppers_test.csv").expect("test split");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let schema = bundle.preprocessor.prediction_schema();
    let rows: Vec<&str> = lines.take(ROWS).collect();
    let csv = format!("{}\n{}\n", header.join(","), rows.join("\n"));
    let mut json = Vec::with_capacity(rows.len());
    for row in &rows {
        let cells = header
            .iter()
            .zip(row.split(','))
            .filter_map(|(name, cell)| {
                let kind = schema.column(name)?.kind;
                let value = match kind {
                    _ if cell.is_empty() => "null".to_string(),
                    ColumnKind::Numeric => cell.to_string(),
                    ColumnKind::Boolean => cell.to_ascii_lowercase(),
                    ColumnKind::Categorical => format!("\"{cell}\""),
                };
                Some(format!("\"{name}\":{value}"))
            });
        json.push(format!("{{{}}}", cells.collect::<Vec<_>>().join(",")));
    }
    (csv, format!("{{\"rows\":[{}]}}", json.join(",")))
}

fn bench(c: &mut Criterion) {
    let path = bundle_path();
    let Ok(bundle) = Bundle::load(&path) else {
        eprintln!(
            "serve_parse: no bundle at {} (run `glassbox case-study` or set GLASSBOX_BUNDLE)",
            path.display()
        );
        return;
    };
    let schema = bundle.preprocessor.prediction_schema();
    let (csv, json) = bodies(&bundle);
    let (csv, json) = (csv.as_bytes(), json.as_bytes());
    let pre = &bundle.preprocessor;
    let table = parse_body(json, BodyFormat::Json, &schema, ROWS).expect("json body");
    let x = pre.encode(&table, false).expect("encode").x;
    let via_csv = read_features(csv, BodyFormat::Csv, &schema, pre, ROWS).expect("csv body");
    assert_eq!(x, via_csv, "JSON and CSV bodies give other features");
    let probs = bundle.probabilities(x.view());

    let mut group = c.benchmark_group("serve_1000_rows");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("parse/json", |b| {
        b.iter(|| parse_body(black_box(json), BodyFormat::Json, &schema, ROWS))
    });
    group.bench_function("parse/csv", |b| {
        b.iter(|| parse_body(black_box(csv), BodyFormat::Csv, &schema, ROWS))
    });
    group.bench_function("encode", |b| {
        b.iter(|| pre.encode(black_box(&table), false))
    });
    group.bench_function("score", |b| {
        b.iter(|| bundle.probabilities(black_box(x.view())))
    });
    let answer = |probs: &[f64]| {
        answer_json("shoppers", 1, bundle.info.threshold.value, probs, |p| {
            bundle.decide(p)
        })
    };
    group.bench_function("answer", |b| b.iter(|| answer(black_box(&probs))));
    for (name, body, format) in [
        ("request/json", json, BodyFormat::Json),
        ("request/csv", csv, BodyFormat::Csv),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let x = read_features(black_box(body), format, &schema, pre, ROWS).expect("body");
                answer(&bundle.probabilities(x.view()))
            })
        });
    }
    group.finish();
}

// No plots: criterion's plotters backend needs a system font, which headless machines lack.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
