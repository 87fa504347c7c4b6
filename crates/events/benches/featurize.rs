//! Featurizing speed on one core: the bundled RetailRocket log (93,661 rows, unsorted) from bytes
//! in memory to examples, in events per second (`Throughput::Elements` = rows of the log).
//!
//! - `all_examples`: parse, sort, deduplicate, and cut all 2,164,654 examples of the 191 cutoffs
//!   (46 features each) into a `FeatureMatrix` (≈ 400 MB of f32).
//! - `protocol_sample`: the same pass, computing only the rows the case study keeps
//!   (`ProtocolSink`: the 153,803-row training sample and the 617,300 test rows).
//! - `no_features`: the same pass with a sink that wants no row (reading, sorting, state,
//!   active sets and labels; the cost floor of the pass).
//! - `read_sort`: reading, sorting and deduplicating only.
//!
//! Each result is checked once before timing. The featurizer is single-threaded, so every
//! number is one core. Run: `cargo bench -p glassbox-events --bench featurize`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glassbox_events::{
    EventSpec, EventsError, ExampleKey, ExampleSink, FeatureMatrix, FeaturizeReport, Labels,
    Protocol, ProtocolSink, SortedLog, feature_names, featurize,
};

const ROWS: u64 = 93_661;
const EXAMPLES: usize = 2_164_654;

fn log_bytes() -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/retailrocket_events.csv");
    std::fs::read(path).expect("the bundled log datasets/retailrocket_events.csv")
}

fn run(bytes: &[u8], spec: &EventSpec, sink: &mut dyn ExampleSink) -> FeaturizeReport {
    let mut log = SortedLog::from_text(
        "retailrocket_events.csv",
        std::io::Cursor::new(bytes.to_vec()),
        spec,
    )
    .expect("open the log");
    featurize(&mut log, spec, Labels::Required, sink).expect("featurize")
}

/// Wants no example: the pass without feature rows.
struct Nothing;

impl ExampleSink for Nothing {
    fn wants(&mut self, _key: &ExampleKey) -> bool {
        false
    }
    fn accept(&mut self, _key: &ExampleKey, _features: &[f64]) -> Result<(), EventsError> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let bytes = log_bytes();
    let spec = EventSpec::retailrocket_next_hour();
    let names = feature_names(&spec);

    // Check each variant once.
    let mut matrix = FeatureMatrix::new(names.clone());
    let report = run(&bytes, &spec, &mut matrix);
    assert_eq!(
        (report.log.rows, matrix.rows(), matrix.cols()),
        (ROWS, EXAMPLES, 46)
    );
    drop(matrix);
    let mut sink = ProtocolSink::new(Protocol::retailrocket(), true, names.clone());
    run(&bytes, &spec, &mut sink);
    assert_eq!((sink.train.rows(), sink.test.rows()), (153_803, 617_300));
    drop(sink);

    let mut group = c.benchmark_group("featurize/1-core");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("all_examples", |b| {
        b.iter(|| {
            let mut matrix = FeatureMatrix::new(names.clone());
            run(&bytes, &spec, &mut matrix);
            black_box(matrix.x.len())
        })
    });
    group.bench_function("protocol_sample", |b| {
        b.iter(|| {
            let mut sink = ProtocolSink::new(Protocol::retailrocket(), true, names.clone());
            run(&bytes, &spec, &mut sink);
            black_box(sink.test.rows())
        })
    });
    group.bench_function("no_features", |b| {
        b.iter(|| black_box(run(&bytes, &spec, &mut Nothing).examples))
    });
    group.bench_function("read_sort", |b| {
        b.iter(|| {
            let mut log = SortedLog::from_text("log", std::io::Cursor::new(bytes.clone()), &spec)
                .expect("open");
            let mut n = 0u64;
            while log.next_event().expect("event").is_some() {
                n += 1;
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
