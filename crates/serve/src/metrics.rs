//! Counters for `GET /metrics`, in the Prometheus text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, seconds: fine below the 2 ms target,
/// coarse up to the default request time limit.
const LATENCY_BOUNDS: [f64; 16] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A histogram with fixed buckets (cumulative on output).
struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    count: AtomicU64,
    /// Sum of observations in nanoseconds (an integer, so no float reduction order).
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS.iter().position(|&b| s <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Per-model counters.
#[derive(Default)]
struct ModelCounters {
    rows: u64,
    batches: u64,
    /// Rows in the pass running now (0 between passes).
    scoring: u64,
    version: u64,
    reloads_ok: u64,
    reloads_refused: u64,
}

/// Everything `/metrics` reports.
pub struct Metrics {
    /// (route, status) → requests.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Histogram,
    in_flight: AtomicU64,
    models: Mutex<BTreeMap<String, ModelCounters>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Recovers a poisoned lock: the counters stay meaningful after a panic elsewhere.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            requests: Mutex::new(BTreeMap::new()),
            latency: Histogram::new(),
            in_flight: AtomicU64::new(0),
            models: Mutex::new(BTreeMap::new()),
        }
    }

    /// A request started.
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A request on `route` answered `status` after `elapsed`.
    pub fn finished(&self, route: &str, status: u16, elapsed: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        *lock(&self.requests)
            .entry((route.to_string(), status))
            .or_default() += 1;
        self.latency.observe(elapsed);
    }

    /// A pass over `rows` rows of `model` started.
    pub fn scoring(&self, model: &str, rows: usize) {
        lock(&self.models)
            .entry(model.to_string())
            .or_default()
            .scoring = rows as u64;
    }

    /// The pass of `model` ended; `scored` says whether its `rows` rows were answered.
    pub fn pass_ended(&self, model: &str, rows: usize, scored: bool) {
        let mut models = lock(&self.models);
        let m = models.entry(model.to_string()).or_default();
        m.scoring = 0;
        if scored {
            m.rows += rows as u64;
            m.batches += 1;
        }
    }

    /// `model` now answers with `version`; `reload` says whether a reload led here (and
    /// whether it was refused).
    pub fn model_version(&self, model: &str, version: u64, reload: Option<bool>) {
        let mut models = lock(&self.models);
        let m = models.entry(model.to_string()).or_default();
        m.version = version;
        match reload {
            Some(true) => m.reloads_ok += 1,
            Some(false) => m.reloads_refused += 1,
            None => {}
        }
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let requests = lock(&self.requests);
        let _ = writeln!(
            out,
            "# HELP glassbox_requests_total Requests answered, by route and status.\n# TYPE glassbox_requests_total counter"
        );
        for ((route, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "glassbox_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP glassbox_request_errors_total Requests answered with a status of 400 or more.\n# TYPE glassbox_request_errors_total counter"
        );
        let errors: u64 = requests
            .iter()
            .filter(|((_, s), _)| *s >= 400)
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(out, "glassbox_request_errors_total {errors}");
        drop(requests);
        let _ = writeln!(
            out,
            "# HELP glassbox_request_duration_seconds Time from request to answer.\n# TYPE glassbox_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BOUNDS.iter().zip(&self.latency.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "glassbox_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.latency.count.load(Ordering::Relaxed);
        let sum = self.latency.sum_nanos.load(Ordering::Relaxed) as f64 * 1e-9;
        let _ = writeln!(
            out,
            "glassbox_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\nglassbox_request_duration_seconds_sum {sum}\nglassbox_request_duration_seconds_count {count}"
        );
        let _ = writeln!(
            out,
            "# HELP glassbox_requests_in_flight Requests being answered.\n# TYPE glassbox_requests_in_flight gauge\nglassbox_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let models = lock(&self.models);
        type Field = fn(&ModelCounters) -> u64;
        let series: [(&str, &str, &str, Field); 5] = [
            (
                "glassbox_rows_scored_total",
                "counter",
                "Rows scored.",
                |m| m.rows,
            ),
            (
                "glassbox_batches_total",
                "counter",
                "Batches run (requests arriving together share one).",
                |m| m.batches,
            ),
            (
                "glassbox_rows_scoring",
                "gauge",
                "Rows in the forward pass running now (0 when idle).",
                |m| m.scoring,
            ),
            (
                "glassbox_model_version",
                "gauge",
                "The version answering: 1 at start, +1 per successful reload.",
                |m| m.version,
            ),
            (
                "glassbox_model_reloads_refused_total",
                "counter",
                "Reloads refused (the old version kept answering).",
                |m| m.reloads_refused,
            ),
        ];
        for (name, kind, help, field) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (model, m) in models.iter() {
                let _ = writeln!(out, "{name}{{model=\"{model}\"}} {}", field(m));
            }
        }
        let _ = writeln!(
            out,
            "# HELP glassbox_model_reloads_total Successful reloads.\n# TYPE glassbox_model_reloads_total counter"
        );
        for (model, m) in models.iter() {
            let _ = writeln!(
                out,
                "glassbox_model_reloads_total{{model=\"{model}\"}} {}",
                m.reloads_ok
            );
        }
        out
    }
}
