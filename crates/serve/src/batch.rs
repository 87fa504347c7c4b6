//! Micro-batching (notes/serving.md §3): requests for one model that arrive together are
//! scored as one matrix, by one forward pass on the engine's thread pool.
//!
//! One task per model name takes the first waiting request, then every request already
//! queued, then waits at most `max_wait` for more, up to `max_batch_rows` rows. Requests that
//! hold different versions of the model (a reload happened between them) go to separate
//! passes, each on the version its requests arrived with. The pass runs on a rayon worker
//! (`rayon::spawn`), so the async runtime never computes; while it runs, new requests queue
//! and become the next batch. Rows are independent in every layer (each output row is its
//! own chain of operations, notes/gemm.md §3), so a row's probability is the same bits in
//! any batch. The batcher also keeps the scorer's working memory ([`Scratch`]) from pass to
//! pass and across reloads, so a new version reuses the buffers its predecessor grew.

use std::sync::Arc;
use std::time::Duration;

use ndarray::{Array2, Axis};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::model::{Loaded, Scratch};

/// How requests are grouped.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// The longest a batch waits for more requests after its first one.
    pub max_wait: Duration,
    /// A batch stops taking requests at this many rows (one larger request runs alone).
    pub max_batch_rows: usize,
    /// Requests waiting per model beyond which new ones are answered 503.
    pub queue: usize,
}

/// Why a request was not scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The queue is full.
    Busy,
    /// The scorer panicked or the batcher stopped (a bug, answered 500).
    Failed,
}

struct Job {
    model: Arc<Loaded>,
    x: Array2<f32>,
    reply: oneshot::Sender<Result<Vec<f64>, BatchError>>,
}

/// The handle requests send their features to.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the batching task of model `name` on the current runtime.
    pub fn start(name: String, config: BatchConfig, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        tokio::spawn(run(name, rx, config, metrics));
        Self { tx }
    }

    /// The probabilities of the rows of `x` under `model`.
    pub async fn score(&self, model: Arc<Loaded>, x: Array2<f32>) -> Result<Vec<f64>, BatchError> {
        let answer = self.submit(model, x)?;
        answer.await.unwrap_or(Err(BatchError::Failed))
    }

    /// Queues the rows of `x` and returns where their probabilities will arrive, or
    /// [`BatchError::Busy`] at once when the queue is full.
    fn submit(&self, model: Arc<Loaded>, x: Array2<f32>) -> Result<Answer, BatchError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Job { model, x, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => BatchError::Busy,
                mpsc::error::TrySendError::Closed(_) => BatchError::Failed,
            })?;
        Ok(answer)
    }
}

type Answer = oneshot::Receiver<Result<Vec<f64>, BatchError>>;

async fn run(
    name: String,
    mut rx: mpsc::Receiver<Job>,
    config: BatchConfig,
    metrics: Arc<Metrics>,
) {
    let mut carried: Option<Job> = None;
    // The name's working memory: one pass runs at a time, whatever its version.
    let mut scratch: Scratch = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let deadline = Instant::now() + config.max_wait;
        let mut rows = first.x.nrows();
        let mut jobs = vec![first];
        while rows < config.max_batch_rows {
            let next = match rx.try_recv() {
                Ok(job) => Some(job),
                Err(mpsc::error::TryRecvError::Empty) if !config.max_wait.is_zero() => {
                    tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten()
                }
                Err(_) => None,
            };
            let Some(job) = next else { break };
            if rows + job.x.nrows() > config.max_batch_rows {
                carried = Some(job);
                break;
            }
            rows += job.x.nrows();
            jobs.push(job);
        }
        // Consecutive requests on one version share a pass.
        while !jobs.is_empty() {
            let model = Arc::clone(&jobs[0].model);
            let same = jobs
                .iter()
                .take_while(|j| Arc::ptr_eq(&j.model, &model))
                .count();
            let group: Vec<Job> = jobs.drain(..same).collect();
            score_group(&name, model, group, &mut scratch, &metrics).await;
        }
    }
}

/// One forward pass over the stacked rows of `group`, answers split back per request.
/// `scratch` goes to the pass and comes back with its answer.
async fn score_group(
    name: &str,
    model: Arc<Loaded>,
    group: Vec<Job>,
    scratch: &mut Scratch,
    metrics: &Metrics,
) {
    let sizes: Vec<usize> = group.iter().map(|j| j.x.nrows()).collect();
    let mut replies = Vec::with_capacity(group.len());
    let mut features = Vec::with_capacity(group.len());
    for job in group {
        replies.push(job.reply);
        features.push(job.x);
    }
    let x = if features.len() == 1 {
        features.pop()
    } else {
        let views: Vec<_> = features.iter().map(|f| f.view()).collect();
        ndarray::concatenate(Axis(0), &views).ok()
    };
    let Some(x) = x else {
        for r in replies {
            let _ = r.send(Err(BatchError::Failed));
        }
        return;
    };
    let rows = x.nrows();
    metrics.scoring(name, rows);
    let (done, result) = oneshot::channel();
    let scorer = Arc::clone(&model.scorer);
    let mut lent = scratch.take();
    rayon::spawn(move || {
        let probs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scorer.probabilities(x.view(), &mut lent)
        }));
        // After a panic the buffers' state is unknown: the next pass starts afresh.
        let kept = if probs.is_ok() { lent } else { None };
        let _ = done.send((probs, kept));
    });
    let probs = match result.await {
        Ok((Ok(probs), kept)) => {
            *scratch = kept;
            Some(probs)
        }
        _ => None,
    };
    let whole = probs.as_ref().is_some_and(|p| p.len() == rows);
    metrics.pass_ended(name, rows, whole);
    match probs {
        Some(probs) if whole => {
            let mut start = 0;
            for (reply, n) in replies.into_iter().zip(sizes) {
                let _ = reply.send(Ok(probs[start..start + n].to_vec()));
                start += n;
            }
        }
        _ => {
            for r in replies {
                let _ = r.send(Err(BatchError::Failed));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
