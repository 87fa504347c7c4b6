//! Training a recipe on a [`TrainingSet`]: the trainer's configuration per member, the
//! members trained side by side, then one bundle — ensemble probabilities on the validation
//! rows (R1), the threshold (R2), validation metrics — and the per-epoch records of
//! `history.csv`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use glassbox_core::Mlp;
use glassbox_train::batching::num_batches;
use glassbox_train::distributed::Distributed;
use glassbox_train::metrics::threshold::choose_threshold;
use glassbox_train::privacy::{DpSgdConfig, PrivacyRecord, plan_dp_sgd_with};
use glassbox_train::{
    DataView, EarlyStopping, Event, History, Monitor, TrainConfig, TrainError, Trainer,
};
use ndarray::Axis;
use serde::Serialize;

use super::{Evaluation, PipelineError, TrainingSet, bool_labels, evaluate};
use crate::bundle::{Bundle, BundleInfo, MemberInfo, TrainingData, member_probabilities};
use crate::describe::conventions;
use crate::progress::{Progress, TrainBar};
use crate::recipe::Recipe;

/// One network to train: member `member` of `recipe` on `set`.
#[derive(Debug, Clone, Copy)]
pub struct MemberJob<'a> {
    pub set: &'a TrainingSet,
    pub recipe: &'a Recipe,
    /// The recipe's label in reports and progress (`paper`, `default`).
    pub model: &'a str,
    pub member: usize,
}

/// A trained network and its record.
#[derive(Debug, Clone)]
pub struct MemberResult {
    pub mlp: Mlp<f32>,
    pub info: MemberInfo,
    pub history: History,
}

/// The trainer's configuration for member `member` of `recipe` on `n_train` rows.
///
/// # Errors
/// [`PipelineError::ClassWeights`] for balanced class weights without both classes (cannot
/// happen after the target was resolved).
pub(crate) fn train_config(
    recipe: &Recipe,
    member: usize,
    n_train: usize,
    class_counts: (usize, usize),
    threads: usize,
) -> Result<TrainConfig, PipelineError> {
    let loss = recipe.loss_config(class_counts)?;
    let total_steps = recipe.epochs * num_batches(n_train.max(1), recipe.batch_size);
    Ok(TrainConfig {
        epochs: recipe.epochs,
        batch_size: recipe.batch_size,
        loss,
        optimizer: recipe.optimizer,
        schedule: recipe.schedule.resolve(recipe.optimizer.lr(), total_steps),
        clip_norm: None,
        early_stopping: recipe.early_stopping.map(|patience| EarlyStopping {
            patience,
            min_delta: 0.0,
            monitor: Monitor::ValLoss,
            restore_best: true,
        }),
        seed: recipe.member_seed(member),
        shuffle: true,
        threads: Some(threads.max(1)),
        privacy: privacy_plan(recipe, n_train)?.map(|(dp, _)| dp),
    })
}

/// The DP-SGD settings and the privacy record of a private recipe trained on `n_train`
/// rows (σ calibrated over all members' steps, notes/privacy.md §12); `None` for a
/// non-private recipe.
///
/// # Errors
/// [`PipelineError::Privacy`] for a budget that cannot be met or checked (ε ≤ 0, δ ≥ 1/N, …).
pub fn privacy_plan(
    recipe: &Recipe,
    n_train: usize,
) -> Result<Option<(DpSgdConfig, PrivacyRecord)>, PipelineError> {
    let Some(p) = &recipe.privacy else {
        return Ok(None);
    };
    let request = p.request()?;
    let plan = plan_dp_sgd_with(
        p.accounting,
        &request,
        n_train,
        recipe.batch_size,
        recipe.epochs,
        recipe.ensemble,
    )?;
    Ok(Some(plan))
}

/// The other processes of a distributed run (`train --distributed`, notes/distributed.md):
/// set once, before training, by the command that joined them.
static DISTRIBUTED: OnceLock<Distributed> = OnceLock::new();

/// Makes every later training step of this process a step of the distributed run `dist`;
/// `false` if one was set already.
pub fn set_distributed(dist: Distributed) -> bool {
    DISTRIBUTED.set(dist).is_ok()
}

/// A training failure, naming the model, member and seed.
fn train_error(job: &MemberJob<'_>, e: TrainError) -> PipelineError {
    PipelineError::Train {
        model: job.model.to_string(),
        member: job.member,
        seed: job.recipe.member_seed(job.member),
        source: e.into(),
    }
}

/// Trains one network, reporting to `bar`.
fn train_member(
    job: &MemberJob<'_>,
    threads: usize,
    bar: &mut TrainBar,
) -> Result<MemberResult, PipelineError> {
    let set = job.set;
    let recipe = job.recipe;
    let spec = recipe
        .mlp_spec_for(&set.preprocessor)
        .map_err(PipelineError::Recipe)?;
    let init = recipe.init().map_err(PipelineError::Recipe)?;
    let positives = set.y_train.iter().filter(|&&v| v == 1.0).count();
    let counts = (set.y_train.len() - positives, positives);
    let config = train_config(recipe, job.member, set.y_train.len(), counts, threads)?;
    let batches = num_batches(set.y_train.len().max(1), recipe.batch_size);
    let mut trainer = Trainer::<f32>::new(spec, init, config).map_err(|e| train_error(job, e))?;
    if let Some(dist) = DISTRIBUTED.get() {
        trainer
            .set_distributed(dist.clone())
            .map_err(|e| train_error(job, e))?;
    }
    let y_train = set.y_train.view().insert_axis(Axis(1));
    let train = DataView::new(set.x_train.view(), y_train);
    let y_val = set.y_val.as_ref().map(|y| y.view().insert_axis(Axis(1)));
    let val = match (&set.x_val, &y_val) {
        (Some(x), Some(y)) => Some(DataView::new(x.view(), *y)),
        _ => None,
    };
    let mut step = 0u64;
    let history = trainer
        .fit(&train, val.as_ref(), &mut |event| match event {
            Event::Batch(p) => {
                step += 1;
                bar.batch(step, p.epoch, p.running_loss);
            }
            Event::EpochEnd(r) => {
                let mut s = String::new();
                if let Some(v) = r.val_loss {
                    s.push_str(&format!("val loss {v:.4}"));
                }
                if let Some(a) = r.val_roc_auc {
                    s.push_str(&format!(" auc {a:.4}"));
                }
                bar.epoch(&s);
                step = ((r.epoch + 1) * batches) as u64;
            }
            _ => {}
        })
        .map_err(|e| train_error(job, e))?;
    // Early stopping restores the best weights when it fires; when every epoch ran, put
    // the best validation epoch back as well, so "early stopping" always means "the best
    // epoch's weights".
    let best_epoch = match trainer.early_stopping_state().best_epoch {
        Some(best) if recipe.early_stopping.is_some() => {
            if history.early_stop.is_none() {
                trainer.restore_best();
            }
            best
        }
        _ => history.len().saturating_sub(1),
    };
    // A private run that averages its iterates keeps the average (P28; refused together
    // with early stopping).
    trainer.use_average();
    let kept = history.epochs.get(best_epoch);
    let manifest = trainer.manifest();
    let info = MemberInfo {
        seed: recipe.member_seed(job.member),
        epochs_run: history.len(),
        best_epoch: best_epoch + 1,
        train_loss: kept.map_or(f64::NAN, |r| r.train_loss),
        val_loss: kept.and_then(|r| r.val_loss),
        config: manifest.config,
        trainer_conventions: manifest.conventions,
        // Wall times are not reproducible: they go to history.csv, not into the bundle, so
        // equal models stay equal files.
        history: History {
            seconds: Vec::new(),
            ..history.clone()
        },
    };
    bar.finish(&format!(
        "{} epoch(s), kept epoch {}{}",
        info.epochs_run,
        info.best_epoch,
        info.val_loss
            .map_or(String::new(), |v| format!(", val loss {v:.4}"))
    ));
    Ok(MemberResult {
        mlp: trainer.into_mlp(),
        info,
        history,
    })
}

/// The order [`train_members`] starts its jobs in: the costliest first (longest processing
/// time first), so the last job to start is a short one and the workers finish close
/// together. The cost is guessed from the recipe: a network with input layers (a PLR step
/// costs about 3.5 times a plain one, notes/events_default.md §15–16) before one without,
/// then more epochs × training rows first; ties keep the job order. Only the start order changes:
/// every member is trained alone and results come back in job order.
fn start_order(jobs: &[MemberJob<'_>]) -> Vec<usize> {
    let costs: Vec<(bool, usize)> = jobs
        .iter()
        .map(|j| {
            let work = j.recipe.epochs.saturating_mul(j.set.y_train.len());
            (!j.recipe.input_layers.is_empty(), work)
        })
        .collect();
    costliest_first(&costs)
}

/// The indices of `costs` from the largest cost to the smallest, ties in index order.
fn costliest_first<C: Ord>(costs: &[C]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].cmp(&costs[a])); // stable: ties keep index order
    order
}

/// Trains every job on `workers` threads at once (each network's maths on
/// `threads / workers` threads), started in [`start_order`], returning results in job
/// order. Networks are independent and seeded, so the results do not depend on `workers`,
/// `threads` or the start order.
pub fn train_members(
    jobs: &[MemberJob<'_>],
    threads: usize,
    progress: &Progress,
) -> Vec<Result<MemberResult, PipelineError>> {
    // A distributed run trains its members one after another: each step talks to the
    // other ranks, and one conversation at a time keeps every rank's calls in one order.
    let workers = match DISTRIBUTED.get() {
        Some(_) => 1,
        None => threads.clamp(1, jobs.len().max(1)),
    };
    let per_job = (threads / workers).max(1);
    let mut bars: Vec<Option<TrainBar>> = jobs
        .iter()
        .map(|j| {
            let k = j.recipe.ensemble;
            let label = if k > 1 {
                format!("{} {}/{k}", j.model, j.member + 1)
            } else {
                j.model.to_string()
            };
            let batches = num_batches(j.set.y_train.len().max(1), j.recipe.batch_size);
            Some(progress.training_bar(&label, j.recipe.epochs, batches))
        })
        .collect();
    let bars_by_job: Vec<std::sync::Mutex<Option<TrainBar>>> = bars
        .iter_mut()
        .map(|b| std::sync::Mutex::new(b.take()))
        .collect();
    let order = start_order(jobs);
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<MemberResult, PipelineError>>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut bar = bars_by_job[i]
                        .lock()
                        .ok()
                        .and_then(|mut b| b.take())
                        .unwrap_or_else(|| Progress::silent().training_bar("", 1, 1));
                    let r = train_member(&jobs[i], per_job, &mut bar);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(PipelineError::Internal(
                    "a training thread stopped early".into(),
                ))
            })
        })
        .collect()
}

/// A trained model: the bundle plus what the run records around it.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    pub bundle: Bundle,
    /// One record per member and epoch.
    pub history: Vec<EpochRecord>,
    /// The ensemble on the validation rows, at the chosen threshold.
    pub validation: Option<Evaluation>,
}

/// Puts trained members together: ensemble probabilities on the validation rows (R1), the
/// threshold by the recipe's rule (R2), validation metrics, the bundle.
///
/// # Errors
/// [`PipelineError::Threshold`] if the validation rows do not define the threshold's
/// criterion, and those of [`evaluate`].
pub fn assemble(
    set: &TrainingSet,
    recipe: &Recipe,
    model: &str,
    members: Vec<MemberResult>,
) -> Result<TrainedModel, PipelineError> {
    let mut history = Vec::new();
    for (k, m) in members.iter().enumerate() {
        for (r, secs) in m.history.epochs.iter().zip(&m.history.seconds) {
            history.push(EpochRecord {
                model: model.to_string(),
                member: k,
                record: r.clone(),
                seconds: *secs,
            });
        }
    }
    let infos: Vec<MemberInfo> = members.iter().map(|m| m.info.clone()).collect();
    let mlps: Vec<Mlp<f32>> = members.into_iter().map(|m| m.mlp).collect();
    let val = match (&set.x_val, &set.y_val) {
        (Some(x), Some(y)) => Some((bool_labels(y), member_probabilities(&mlps, x.view()))),
        _ => None,
    };
    let threshold = choose_threshold(
        recipe.threshold,
        val.as_ref().map(|(l, p)| (l.as_slice(), p.as_slice())),
    )?;
    let validation = match val {
        Some((labels, probs)) => Some(evaluate("validation", labels, probs, threshold.value)?),
        None => None,
    };
    let summary = &set.summary;
    let class_balance = summary.class_balance.clone().ok_or_else(|| {
        PipelineError::Internal("the training summary has no class balance".into())
    })?;
    let privacy = privacy_plan(recipe, set.train_rows.len())?.map(|(_, record)| record);
    let info = BundleInfo {
        privacy,
        created_by: format!("glassbox {}", env!("CARGO_PKG_VERSION")),
        recipe: recipe.clone(),
        target: set.target().clone(),
        threshold,
        members: infos,
        validation: validation.as_ref().map(|v| v.at_threshold.clone()),
        data: TrainingData {
            file: set.file.clone(),
            rows: summary.rows,
            train_rows: set.train_rows.len(),
            val_rows: set.val_rows.len(),
            features: set.preprocessor.n_features(),
            class_balance,
            duplicates: summary.duplicates,
        },
        conventions: conventions(recipe),
    };
    Ok(TrainedModel {
        bundle: Bundle {
            info,
            preprocessor: set.preprocessor.clone(),
            members: mlps,
            events: None,
        },
        history,
        validation,
    })
}

/// Trains `recipe` on `set` with `threads` threads: every member, then [`assemble`].
///
/// # Errors
/// The first member's failure ([`PipelineError::Train`], [`PipelineError::Recipe`], …),
/// and those of [`assemble`].
pub fn train_bundle(
    set: &TrainingSet,
    recipe: &Recipe,
    model: &str,
    threads: usize,
    progress: &Progress,
) -> Result<TrainedModel, PipelineError> {
    let jobs: Vec<MemberJob<'_>> = (0..recipe.ensemble)
        .map(|member| MemberJob {
            set,
            recipe,
            model,
            member,
        })
        .collect();
    let members = train_members(&jobs, threads, progress)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    assemble(set, recipe, model, members)
}

/// One epoch of one ensemble member, as `history.csv` holds it: the trainer's record
/// (epochs counted from 0 there) with the model, the member and the epoch's wall time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochRecord {
    /// The recipe's label (`paper`, `default`).
    pub model: String,
    /// Ensemble member index.
    pub member: usize,
    /// What the trainer recorded.
    pub record: glassbox_train::EpochRecord,
    /// Wall time of the epoch, seconds (not reproducible).
    pub seconds: f64,
}

impl EpochRecord {
    /// The epoch counted from 1, as reports show it.
    pub fn epoch(&self) -> usize {
        self.record.epoch + 1
    }
}

#[cfg(test)]
mod tests {
    use super::costliest_first;

    #[test]
    fn jobs_start_costliest_first_and_ties_keep_their_order() {
        // The next-hour case: the paper member (no input layer, more epochs), then two PLR
        // members.
        let costs = [(false, 20 * 1000), (true, 10 * 1000), (true, 10 * 1000)];
        assert_eq!(costliest_first(&costs), [1, 2, 0]);
        assert_eq!(costliest_first(&[3, 7, 5, 7]), [1, 3, 2, 0]);
        assert!(costliest_first::<u8>(&[]).is_empty());
    }
}
