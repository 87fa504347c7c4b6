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
//! Speed before/after a change: build the old and the new binary and run them in turn (the
//! machine is shared; quote ratios of interleaved runs). Numbers: notes/events.md §7.
//!
//! Each result is checked once before timing. The featurizer is single-threaded. Two groups:
//! `1-core-wall` (elapsed time) and `1-core-cpu` (the thread's time on a CPU, which on a
//! shared machine excludes waiting for a core). Run: `cargo bench -p glassbox-events --bench featurize`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

    // Wall time, and the thread's time on a CPU: on a shared machine the wall clock also counts
    // the time spent waiting for a core, which says nothing about one core's speed.
    for (group_name, clock) in [
        ("featurize/1-core-wall", Clock::Wall),
        ("featurize/1-core-cpu", Clock::ThreadCpu),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(ROWS));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(8));
        group.bench_function("all_examples", |b| {
            b.iter_custom(|iters| {
                clock.time(iters, || {
                    let mut matrix = FeatureMatrix::new(names.clone());
                    run(&bytes, &spec, &mut matrix);
                    black_box(matrix.x.len());
                })
            })
        });
        group.bench_function("protocol_sample", |b| {
            b.iter_custom(|iters| {
                clock.time(iters, || {
                    let mut sink = ProtocolSink::new(Protocol::retailrocket(), true, names.clone());
                    run(&bytes, &spec, &mut sink);
                    black_box(sink.test.rows());
                })
            })
        });
        group.bench_function("no_features", |b| {
            b.iter_custom(|iters| {
                clock.time(iters, || {
                    black_box(run(&bytes, &spec, &mut Nothing).examples);
                })
            })
        });
        group.bench_function("read_sort", |b| {
            b.iter_custom(|iters| {
                clock.time(iters, || {
                    let mut log =
                        SortedLog::from_text("log", std::io::Cursor::new(bytes.clone()), &spec)
                            .expect("open");
                    let mut n = 0u64;
                    while log.next_event().expect("event").is_some() {
                        n += 1;
                    }
                    black_box(n);
                })
            })
        });
        group.finish();
    }
}

/// What a sample's duration measures.
#[derive(Clone, Copy)]
enum Clock {
    /// Elapsed real time.
    Wall,
    /// Time this thread ran on a CPU (Linux: first field of `/proc/thread-self/schedstat`, ns).
    ThreadCpu,
}

impl Clock {
    fn now_ns(self) -> u64 {
        match self {
            Clock::Wall => {
                static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
                START.get_or_init(Instant::now).elapsed().as_nanos() as u64
            }
            Clock::ThreadCpu => {
                let text = std::fs::read_to_string("/proc/thread-self/schedstat")
                    .expect("Linux schedstat");
                text.split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("CPU time")
            }
        }
    }

    /// The time `iters` calls of `f` take on this clock.
    fn time(self, iters: u64, mut f: impl FnMut()) -> Duration {
        let start = self.now_ns();
        for _ in 0..iters {
            f();
        }
        Duration::from_nanos(self.now_ns() - start)
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
