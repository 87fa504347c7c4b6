//! The queue bound: with a pass in progress and the queue full, a request is answered
//! `Busy` (503) at once, and the queued requests are still scored. No timing: the scorer
//! holds its pass until the test lets it go.

use std::sync::Mutex;
use std::sync::mpsc as std_mpsc;

use glassbox_data::{
    Preprocessor, RawTable, ReadOptions, Schema, SchemaOverrides, Table, TargetSpec,
};

use super::*;
use crate::model::Scorer;

/// A scorer whose every pass announces itself on `entered` with the number of passes its
/// batcher's scratch has counted (0 for a fresh scratch), then waits for a `release`.
pub(crate) struct GateScorer {
    pub(crate) preprocessor: Preprocessor,
    pub(crate) entered: Mutex<std_mpsc::Sender<u32>>,
    pub(crate) release: Mutex<std_mpsc::Receiver<()>>,
}

impl Scorer for GateScorer {
    fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }
    fn probabilities(
        &self,
        x: ndarray::ArrayView2<'_, f32>,
        scratch: &mut crate::model::Scratch,
    ) -> Vec<f64> {
        let passes = match scratch.as_mut().and_then(|s| s.downcast_mut::<u32>()) {
            Some(n) => {
                *n += 1;
                *n - 1
            }
            None => {
                *scratch = Some(Box::new(1u32));
                0
            }
        };
        let _ = self.entered.lock().unwrap().send(passes);
        self.release.lock().unwrap().recv().unwrap();
        x.column(0).iter().map(|&v| f64::from(v)).collect()
    }
    fn decide(&self, p: f64) -> (bool, &str) {
        (p >= 0.5, "")
    }
    fn threshold(&self) -> f64 {
        0.5
    }
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

pub(crate) fn preprocessor() -> Preprocessor {
    let csv = "x,y\n1,true\n2,false\n";
    let raw = RawTable::from_reader(
        std::io::Cursor::new(csv.as_bytes().to_vec()),
        "tiny",
        &ReadOptions::default(),
    )
    .unwrap();
    let schema = Schema::infer(&raw, &SchemaOverrides::default()).unwrap();
    let table = Table::from_raw(&raw, &schema).unwrap();
    Preprocessor::fit(&table, &schema, &TargetSpec::new("y")).unwrap()
}

fn one_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Every request in a pass of its own, at most `queue` waiting.
fn one_row_batches(queue: usize) -> BatchConfig {
    BatchConfig {
        max_wait: Duration::ZERO,
        max_batch_rows: 1,
        queue,
    }
}

fn one_row(v: f32) -> Array2<f32> {
    Array2::from_elem((1, 1), v)
}

#[test]
fn a_full_queue_answers_busy_and_the_queued_requests_are_still_scored() {
    let runtime = one_worker_runtime();
    let (entered_tx, entered) = std_mpsc::channel();
    let (release, release_rx) = std_mpsc::channel();
    let scorer: Arc<dyn Scorer> = Arc::new(GateScorer {
        preprocessor: preprocessor(),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    let model = Arc::new(Loaded::new(scorer, 1));
    let config = one_row_batches(1);
    runtime.block_on(async move {
        let batcher = Batcher::start("m".into(), config, Arc::new(Metrics::new()));
        // Waits (off the runtime) until a pass has started and holds.
        let entered = Arc::new(Mutex::new(entered));
        let pass_started = || {
            let entered = Arc::clone(&entered);
            tokio::task::spawn_blocking(move || entered.lock().unwrap().recv().unwrap())
        };
        // A is taken by the batcher and its pass holds: the queue is empty again.
        let a = batcher.submit(Arc::clone(&model), one_row(0.25)).unwrap();
        pass_started().await.unwrap();
        // B fills the queue (bound 1); C finds it full and is refused at once.
        let b = batcher.submit(Arc::clone(&model), one_row(0.75)).unwrap();
        let c = batcher.submit(Arc::clone(&model), one_row(0.5));
        assert_eq!(c.err(), Some(BatchError::Busy));
        // The queued requests are still answered, B in a pass of its own (max 1 row).
        release.send(()).unwrap();
        assert_eq!(a.await.unwrap(), Ok(vec![0.25]));
        pass_started().await.unwrap();
        release.send(()).unwrap();
        assert_eq!(b.await.unwrap(), Ok(vec![0.75]));
        // With the queue empty again, a request is accepted.
        let d = batcher.submit(model, one_row(1.0)).unwrap();
        pass_started().await.unwrap();
        release.send(()).unwrap();
        assert_eq!(d.await.unwrap(), Ok(vec![1.0]));
    });
}

/// The working memory belongs to the model name, not to a version: a pass on version 2 finds
/// what the passes on version 1 left (a reload allocates no buffers, notes/serving.md §4).
#[test]
fn the_scratch_is_kept_from_pass_to_pass_and_across_versions() {
    let runtime = one_worker_runtime();
    let (entered_tx, entered) = std_mpsc::channel();
    let version = |v| {
        let (release, release_rx) = std_mpsc::channel();
        let scorer: Arc<dyn Scorer> = Arc::new(GateScorer {
            preprocessor: preprocessor(),
            entered: Mutex::new(entered_tx.clone()),
            release: Mutex::new(release_rx),
        });
        (Arc::new(Loaded::new(scorer, v)), release)
    };
    let (first, second) = (version(1), version(2));
    let config = one_row_batches(8);
    runtime.block_on(async move {
        let batcher = Batcher::start("m".into(), config, Arc::new(Metrics::new()));
        let entered = Arc::new(Mutex::new(entered));
        let mut seen = Vec::new();
        for (model, release) in [&first, &first, &second, &second] {
            let answer = batcher.submit(Arc::clone(model), one_row(0.5)).unwrap();
            let entered = Arc::clone(&entered);
            let passes_before =
                tokio::task::spawn_blocking(move || entered.lock().unwrap().recv().unwrap());
            seen.push(passes_before.await.unwrap());
            release.send(()).unwrap();
            assert_eq!(answer.await.unwrap(), Ok(vec![0.5]));
        }
        assert_eq!(
            seen,
            [0, 1, 2, 3],
            "the scratch did not outlive a pass or a version"
        );
    });
}
