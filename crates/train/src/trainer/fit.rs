//! [`Trainer::fit`]: the epoch loop around [`train_step`] — shuffling, batching, the
//! running loss, validation after every epoch and early stopping (T1–T9) — and the events it
//! reports.

use std::time::Instant;

use glassbox_core::{Float, Mlp, Mode, Workspace};
use ndarray::s;
use serde::{Deserialize, Serialize};

use super::step::{LossReads, StepBuffers, members_loss, train_step};
use super::{DataView, NonFiniteKind, TrainError, Trainer, push_scores};
use crate::LossConfig;
use crate::batching::{BatchBuffer, num_batches, shuffled_order};
use crate::distributed::{ShardBuffers, distributed_step, share_optimizer_state};
use crate::history::{EarlyStop, EpochRecord, History};
use crate::metrics::{MetricsError, roc_auc};
use crate::privacy::average::{update_average, update_average_warmup};
use crate::privacy::{PoissonSampler, expected_batch_size};

/// Progress after one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchProgress {
    /// The epoch (from 0).
    pub epoch: usize,
    /// The batch within the epoch (from 0).
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// Rows of this batch.
    pub rows: usize,
    /// The batch's loss `L_b` (training mode).
    pub loss: f64,
    /// Row-weighted mean of the epoch's batch losses so far (T7) — Keras's progress-bar
    /// loss.
    pub running_loss: f64,
    /// The learning rate of this step.
    pub lr: f64,
    /// Global gradient norm before clipping (O14).
    pub grad_norm: f64,
}

/// What [`Trainer::fit`] reports to its callback, in this order per epoch:
/// `EpochStart`, one `Batch` per step, `EpochEnd`, and `EarlyStop` if it stops.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// An epoch begins.
    EpochStart {
        /// The epoch (from 0).
        epoch: usize,
        /// Total epochs of the run.
        epochs: usize,
        /// Batches in this epoch.
        batches: usize,
        /// Training rows N.
        rows: usize,
    },
    /// A training step is done.
    Batch(BatchProgress),
    /// An epoch is done and validated; its record is in the history.
    EpochEnd(&'a EpochRecord),
    /// Early stopping ended the run.
    EarlyStop(&'a EarlyStop),
}

/// The state of early stopping between epochs (checkpointed with the run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    /// The best monitored value so far.
    pub best_value: Option<f64>,
    /// Its epoch.
    pub best_epoch: Option<usize>,
    /// Epochs since the last improvement.
    pub wait: usize,
}

impl<T: Float> Trainer<T> {
    /// Trains until `config.epochs` epochs are done (continuing a resumed run), or early
    /// stopping ends the run, validating on `val` after every epoch. Returns the history.
    ///
    /// `callback` hears every [`Event`]; it runs on a thread of the training pool (hence
    /// `Send`), between steps. A run that already finished returns its history at once.
    ///
    /// # Errors
    /// Bad data ([`TrainError::Data`]); a monitor without validation data; a non-finite
    /// loss or gradient norm ([`TrainError::NonFinite`], with the epoch and batch — the
    /// trainer keeps the weights of the last good step and can be inspected or saved).
    pub fn fit(
        &mut self,
        train: &DataView<'_, T>,
        val: Option<&DataView<'_, T>>,
        callback: &mut (dyn FnMut(&Event<'_>) + Send),
    ) -> Result<History, TrainError> {
        let spec = self.mlp.spec().clone();
        let targets = self.config.loss.kind.target_width(spec.outputs());
        train.validate(&spec, targets, "training")?;
        if let Some(v) = val {
            v.validate(&spec, targets, "validation")?;
        }
        if let Some(es) = &self.config.early_stopping
            && es.monitor.needs_validation()
            && val.is_none()
        {
            return Err(TrainError::MonitorNeedsValidation(es.monitor));
        }
        self.config.validate_privacy(&spec)?;
        if let Some(dp) = &self.config.privacy {
            let expected = expected_batch_size(train.rows(), dp.sample_rate)?;
            if expected != dp.expected_batch_size {
                return Err(TrainError::Config {
                    field: "privacy.expected_batch_size",
                    reason: format!(
                        "is {} but ⌊N·q⌋ = {expected} for the {} training rows",
                        dp.expected_batch_size,
                        train.rows()
                    ),
                });
            }
        }
        if self.history.early_stop.is_some() || self.epochs_done() >= self.config.epochs {
            return Ok(self.history.clone());
        }
        let threads = self.config.threads;
        let pool = glassbox_core::build_pool(threads.unwrap_or(0)).map_err(|e| {
            TrainError::ThreadPool {
                threads,
                reason: e.to_string(),
            }
        })?;
        // The whole loop runs on one pool thread: jobs spawned from inside a pool use the
        // workers' own deques, while jobs injected from outside allocate (notes/training.md).
        pool.install(|| self.run(train, val, callback))?;
        Ok(self.history.clone())
    }

    /// The epoch loop of [`Trainer::fit`], on a thread of the pool.
    fn run(
        &mut self,
        train: &DataView<'_, T>,
        val: Option<&DataView<'_, T>>,
        callback: &mut (dyn FnMut(&Event<'_>) + Send),
    ) -> Result<(), TrainError> {
        let b = self.config.batch_size;
        let (d, o) = (self.mlp.spec().inputs, self.mlp.spec().outputs());
        let n = train.rows();
        // DP-SGD: ⌈N/B⌉ Poisson-sampled batches per epoch (P13, P14) instead of the shuffle.
        let sampler = match &self.config.privacy {
            Some(dp) => Some(PoissonSampler::new(n, dp.sample_rate)?),
            None => None,
        };
        let (batches, capacity) = match (&self.config.privacy, &sampler) {
            (Some(dp), Some(_)) => (dp.steps_per_epoch, poisson_capacity(n, dp.sample_rate)),
            _ => (num_batches(n, b), b),
        };
        // Every buffer of the step, allocated once (T6), inside the pool (see StepBuffers::new).
        let mut order = vec![0usize; n];
        let mut sampled = Vec::with_capacity(n);
        let targets = self.config.loss.kind.target_width(o);
        let mut buf = BatchBuffer::<T>::new(capacity, d, targets, train.weights.is_some());
        let mut step_buffers = StepBuffers::new(&self.mlp, self.config.loss.kind, capacity)?;
        let reads = step_buffers.reads();
        let mut val_eval = val.map(|v| Validation::new(v, o));
        let mut shard_bufs = ShardBuffers::new(capacity, self.mlp.spec().output_width());

        for epoch in self.epochs_done()..self.config.epochs {
            let started = Instant::now();
            let Trainer {
                config,
                mlp,
                optimizer,
                rng,
                distributed,
                averaged,
                ..
            } = self;
            let average_decay = config.privacy.and_then(|dp| dp.method.average_decay);
            let warmup = config.privacy.is_some_and(|dp| dp.method.average_warmup);
            if sampler.is_none() {
                shuffled_order(&mut order, config.shuffle.then_some(&mut *rng));
            }
            callback(&Event::EpochStart {
                epoch,
                epochs: config.epochs,
                batches,
                rows: n,
            });
            let mut loss_sum = 0.0f64; // Σ L_b·n_b (T7)
            let mut rows_done = 0usize;
            let mut lr = config.optimizer.lr();
            let mut max_norm = 0.0f64;
            // (T3) batches of B rows in `order`, the last one partial; (T6) one step each.
            for batch in 0..batches {
                let rows = match &sampler {
                    Some(sampler) => {
                        sampler.sample_into(rng, &mut sampled);
                        buf.reserve_rows(sampled.len());
                        step_buffers.reserve_rows(sampled.len());
                        &sampled[..]
                    }
                    None => &order[batch * b..((batch + 1) * b).min(n)],
                };
                let nb = rows.len();
                let data = buf.gather(train.x, train.y, train.weights, rows);
                let step = match distributed {
                    None => train_step(config, mlp, optimizer, rng, data, &mut step_buffers),
                    Some(dist) => distributed_step(
                        config,
                        mlp,
                        optimizer,
                        rng,
                        data,
                        &mut step_buffers,
                        &mut shard_bufs,
                        dist,
                    ),
                }
                .map_err(|e| non_finite(epoch, batch, e.what, e.value))?;
                if let (Some(avg), Some(beta)) = (averaged.as_mut(), average_decay) {
                    let t = optimizer.step_count();
                    if warmup {
                        update_average_warmup(avg, mlp.params(), t, beta); // P29
                    } else {
                        update_average(avg, mlp.params(), t, beta); // P28
                    }
                }
                lr = step.lr;
                loss_sum += step.loss * nb as f64;
                rows_done += nb;
                max_norm = max_norm.max(step.grad_norm);
                callback(&Event::Batch(BatchProgress {
                    epoch,
                    batch,
                    batches,
                    rows: nb,
                    loss: step.loss,
                    running_loss: loss_sum / rows_done.max(1) as f64,
                    lr,
                    grad_norm: step.grad_norm,
                }));
            }
            let (val_loss, val_roc_auc, val_accuracy) = match (&mut val_eval, val) {
                (Some(ev), Some(v)) => {
                    let m = ev.evaluate(
                        mlp,
                        &config.loss,
                        reads,
                        v,
                        b,
                        step_buffers.workspace(),
                        epoch,
                    )?;
                    (Some(m.loss), m.roc_auc, Some(m.accuracy))
                }
                _ => (None, None, None),
            };
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / rows_done.max(1) as f64,
                val_loss,
                val_roc_auc,
                val_accuracy,
                lr,
                steps: optimizer.step_count(),
                max_grad_norm: max_norm,
            };
            let stop = self.early_stopping_update(&record)?;
            self.history.epochs.push(record);
            self.history.seconds.push(started.elapsed().as_secs_f64());
            if let Some(last) = self.history.epochs.last() {
                callback(&Event::EpochEnd(last));
            }
            if let Some(stop) = stop {
                self.history.early_stop = Some(stop);
                if let Some(stop) = &self.history.early_stop {
                    callback(&Event::EarlyStop(stop));
                }
                break;
            }
        }
        if let Some(dist) = &self.distributed {
            // The ranks updated their own units' optimizer state (T12): make it whole.
            share_optimizer_state(dist, &self.mlp, &mut self.optimizer);
        }
        Ok(())
    }

    /// (T9) Updates early stopping after `record`; returns the stop if training ends here
    /// (with the best weights put back when `restore_best`).
    fn early_stopping_update(
        &mut self,
        record: &EpochRecord,
    ) -> Result<Option<EarlyStop>, TrainError> {
        let Some(es) = self.config.early_stopping else {
            return Ok(None);
        };
        let value = es
            .monitor
            .value(record)
            .ok_or(TrainError::MonitorUndefined {
                monitor: es.monitor,
                epoch: record.epoch,
            })?;
        let st = &mut self.stopping;
        let improved = match st.best_value {
            None => true,
            Some(best) if es.monitor.maximise() => value > best + es.min_delta,
            Some(best) => value < best - es.min_delta,
        };
        if improved {
            st.best_value = Some(value);
            st.best_epoch = Some(record.epoch);
            st.wait = 0;
            if es.restore_best {
                let best = self.best_params.get_or_insert_with(Vec::new);
                best.clear();
                best.extend_from_slice(self.mlp.params());
            }
            return Ok(None);
        }
        st.wait += 1;
        if st.wait < es.patience {
            return Ok(None);
        }
        let (best_value, best_epoch) = (st.best_value.unwrap_or(value), st.best_epoch.unwrap_or(0));
        let restored_best = es.restore_best && self.restore_best();
        Ok(Some(EarlyStop {
            epoch: record.epoch,
            best_epoch,
            best_value,
            restored_best,
        }))
    }
}

/// The rows the batch buffers are made for in a DP run: the expected batch `N·q` plus eight
/// standard deviations of its Binomial(N, q) law (and 8), at most N. A larger batch
/// (probability below 10⁻¹⁴) grows the buffers once.
fn poisson_capacity(rows: usize, q: f64) -> usize {
    let mean = rows as f64 * q;
    let sd = (mean * (1.0 - q)).sqrt();
    ((mean + 8.0 * sd + 8.0).ceil() as usize).min(rows)
}

fn non_finite(epoch: usize, batch: usize, what: NonFiniteKind, value: f64) -> TrainError {
    TrainError::NonFinite {
        epoch,
        batch,
        what,
        value,
    }
}

/// Validation results of one epoch.
struct ValMetrics {
    loss: f64,
    roc_auc: Option<f64>,
    accuracy: f64,
}

/// Buffers for validation, allocated once per [`Trainer::fit`].
struct Validation {
    /// Class of each row: `y > 0.5` for one output, the arg-max of the row otherwise.
    classes: Vec<usize>,
    /// For ROC-AUC: whether each row is positive (class 1); empty when O > 2.
    positive: Vec<bool>,
    /// Scores (N·O), refilled each epoch.
    scores: Vec<f64>,
    /// Positive-class scores (N) for ROC-AUC.
    pos_scores: Vec<f64>,
    outputs: usize,
}

impl Validation {
    fn new<T: Float>(val: &DataView<'_, T>, outputs: usize) -> Self {
        let classes: Vec<usize> = val
            .y
            .rows()
            .into_iter()
            .map(|r| argmax_or_threshold(r.iter().map(|&v| Float::to_f64(v))))
            .collect();
        let positive = if outputs <= 2 {
            classes.iter().map(|&c| c == 1).collect()
        } else {
            Vec::new()
        };
        Validation {
            classes,
            positive,
            scores: Vec::with_capacity(val.rows() * outputs),
            pos_scores: Vec::with_capacity(val.rows()),
            outputs,
        }
    }

    /// The validation loss (T7, in inference mode, batches of `b` rows in order), ROC-AUC
    /// and accuracy (T8).
    #[allow(clippy::too_many_arguments)]
    fn evaluate<T: Float>(
        &mut self,
        mlp: &Mlp<T>,
        loss: &LossConfig,
        reads: LossReads,
        val: &DataView<'_, T>,
        b: usize,
        ws: &mut Workspace<T>,
        epoch: usize,
    ) -> Result<ValMetrics, TrainError> {
        let n = val.rows();
        self.scores.clear();
        let mut sum = 0.0f64;
        for (batch, start) in (0..n).step_by(b).enumerate() {
            let end = (start + b).min(n);
            let fwd = mlp.forward(val.x.slice(s![start..end, ..]), Mode::Inference, ws);
            let read = match reads {
                LossReads::Logits => fwd.logits(),
                LossReads::Output => fwd.output(),
            };
            let l = members_loss(
                loss,
                mlp.spec().ensemble_k,
                read,
                val.y.slice(s![start..end, ..]),
                val.weights.map(|w| &w[start..end]),
                None,
            );
            if !l.is_finite() {
                return Err(non_finite(epoch, batch, NonFiniteKind::ValLoss, l));
            }
            sum += l * (end - start) as f64;
            push_scores(
                loss.kind,
                reads,
                mlp.spec().ensemble_k,
                &fwd,
                &mut self.scores,
            );
        }
        let o = self.outputs;
        let mut correct = 0usize;
        for (i, &c) in self.classes.iter().enumerate() {
            let row = &self.scores[i * o..(i + 1) * o];
            if argmax_or_threshold(row.iter().copied()) == c {
                correct += 1;
            }
        }
        let roc_auc = if self.positive.is_empty() {
            None
        } else {
            self.pos_scores.clear();
            self.pos_scores
                .extend((0..n).map(|i| self.scores[i * o + (o - 1)]));
            match roc_auc(&self.positive, &self.pos_scores) {
                Ok(v) => Some(v),
                Err(MetricsError::SingleClass { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        };
        Ok(ValMetrics {
            loss: sum / n as f64,
            roc_auc,
            accuracy: correct as f64 / n as f64,
        })
    }
}

/// The class of a row of targets or scores: for one value, 1 if it is ≥ 0.5 (the
/// decision rule M1 at threshold ½; a 0/1 target maps to itself), else 0; for several,
/// the index of the largest (the first on ties).
fn argmax_or_threshold(row: impl Iterator<Item = f64>) -> usize {
    let mut best = (0usize, f64::NEG_INFINITY);
    let mut count = 0;
    let mut first = 0.0;
    for (i, v) in row.enumerate() {
        if i == 0 {
            first = v;
        }
        if v > best.1 {
            best = (i, v);
        }
        count += 1;
    }
    if count == 1 {
        usize::from(first >= 0.5)
    } else {
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_of_a_row() {
        assert_eq!(argmax_or_threshold([0.5].into_iter()), 1);
        assert_eq!(argmax_or_threshold([0.4999].into_iter()), 0);
        assert_eq!(argmax_or_threshold([0.2, 0.7, 0.1].into_iter()), 1);
        assert_eq!(argmax_or_threshold([0.5, 0.5].into_iter()), 0);
    }
}
