//! The trainer against a hand-rolled loop, its events, validation metrics, early stopping,
//! non-finite stops, data checks and history output.

mod support;

use glassbox_core::{
    Activation, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, Upstream, build_pool, seeded_rng,
};
use glassbox_train::batching::shuffled_order;
use glassbox_train::metrics::roc_auc;
use glassbox_train::{
    DataView, EarlyStopping, Event, LossConfig, LossKind, Monitor, NonFiniteKind, Optimizer,
    OptimizerConfig, Schedule, TrainConfig, TrainError, Trainer, Weighting, bce_with_logits,
    clip_mlp_grad_norm,
};
use ndarray::{Array2, Axis, s};
use support::{binary_data, binary_spec, bits, run_state};

fn config(epochs: usize, batch: usize, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::keras_recipe(epochs, seed);
    c.batch_size = batch;
    c.threads = Some(2);
    c
}

/// A step-by-step reimplementation of the training step (T5, T6) with the public pieces:
/// the shuffle of each epoch (T2) from stream 1 of the seed, gathered rows, a train-mode
/// forward, BCE from logits (L5, L6) into a zeroed buffer, backward, clipping (O14) and
/// the scheduled Adam step (O12, O15–O18). The trainer must reproduce it bit for bit.
#[test]
fn trainer_equals_a_hand_rolled_loop() {
    let (n, d, b, seed) = (30, 5, 7, 21);
    let (x, y) = binary_data::<f32>(n, d, 1);
    let spec = binary_spec(d, &[6, 4], 0.2);
    let mut cfg = config(2, b, seed);
    cfg.optimizer = OptimizerConfig::adam_torch(0.01);
    cfg.clip_norm = Some(0.05);
    cfg.schedule = Schedule::Warmup {
        steps: 3,
        then: Box::new(Schedule::Step {
            every: 4,
            gamma: 0.5,
        }),
    };

    let mut trainer = Trainer::<f32>::new(spec.clone(), Init::GlorotUniform, cfg.clone()).unwrap();
    let mut event_losses = Vec::new();
    let mut clipped = 0;
    let history = trainer
        .fit(&DataView::new(x.view(), y.view()), None, &mut |e| {
            if let Event::Batch(p) = e {
                event_losses.push((p.loss, p.lr));
                clipped += usize::from(p.grad_norm > 0.05);
            }
        })
        .unwrap();
    assert!(clipped > 0, "the test must exercise clipping");

    let pool = build_pool(1).unwrap();
    let (params, losses) = pool.install(|| {
        let mut mlp = Mlp::<f32>::new(spec, Init::GlorotUniform, &mut seeded_rng(seed)).unwrap();
        let mut rng = seeded_rng(seed);
        rng.set_stream(1);
        let mut opt = Optimizer::<f32>::new(cfg.optimizer, mlp.num_params()).unwrap();
        let mut order = vec![0; n];
        let mut losses = Vec::new();
        for _epoch in 0..2 {
            shuffled_order(&mut order, Some(&mut rng));
            for rows in order.chunks(b) {
                let xb = x.select(Axis(0), rows);
                let yb = y.select(Axis(0), rows);
                let lr = cfg.schedule.lr_at(0.01, opt.step_count() as usize);
                let mut ws = mlp.workspace(rows.len());
                let fwd = mlp.forward(xb.view(), Mode::Train(&mut rng), &mut ws);
                let mut d_z = Array2::zeros((rows.len(), 1));
                let loss = bce_with_logits(
                    fwd.logits(),
                    yb.view(),
                    &Weighting::NONE,
                    None,
                    Some(d_z.view_mut()),
                );
                mlp.zero_grads();
                mlp.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Accumulate);
                clip_mlp_grad_norm(&mut mlp, 0.05);
                let (p, g) = mlp.params_and_grads_mut();
                opt.step_lr(p, g, lr);
                losses.push((loss, lr));
            }
        }
        (mlp.params().to_vec(), losses)
    });
    assert_eq!(losses.len(), 10, "⌈30/7⌉ = 5 batches per epoch");
    assert_eq!(bits(trainer.mlp().params()), bits(&params));
    let as_bits = |v: &[(f64, f64)]| -> Vec<(u64, u64)> {
        v.iter().map(|(l, r)| (l.to_bits(), r.to_bits())).collect()
    };
    assert_eq!(as_bits(&event_losses), as_bits(&losses));
    // (T7) the epoch loss is the row-weighted mean of the batch losses: 4 batches of 7, one
    // of 2.
    for (e, rec) in history.epochs.iter().enumerate() {
        let l = &losses[5 * e..5 * e + 5];
        let expect = l.iter().take(4).map(|(v, _)| v * 7.0).sum::<f64>() + l[4].0 * 2.0;
        assert_eq!(rec.train_loss.to_bits(), (expect / 30.0).to_bits());
        assert_eq!(rec.lr, l[4].1);
        assert_eq!(rec.steps, 5 * (e as u64 + 1));
    }
}

#[test]
fn events_come_in_order_with_a_partial_last_batch() {
    let (x, y) = binary_data::<f32>(45, 3, 2);
    let mut trainer = Trainer::<f32>::new(
        binary_spec(3, &[4], 0.0),
        Init::GlorotUniform,
        config(2, 16, 3),
    )
    .unwrap();
    let data = DataView::new(x.view(), y.view());
    let mut log = Vec::new();
    let mut running = Vec::new();
    let history = trainer
        .fit(&data, Some(&data), &mut |e| match e {
            Event::EpochStart {
                epoch,
                epochs,
                batches,
                rows,
            } => log.push(format!("start {epoch}/{epochs} {batches} {rows}")),
            Event::Batch(p) => {
                log.push(format!(
                    "batch {}.{} of {} rows {}",
                    p.epoch, p.batch, p.batches, p.rows
                ));
                running.push(p.running_loss);
            }
            Event::EpochEnd(r) => log.push(format!("end {}", r.epoch)),
            Event::EarlyStop(_) => log.push("stop".into()),
        })
        .unwrap();
    let expect = [
        "start 0/2 3 45",
        "batch 0.0 of 3 rows 16",
        "batch 0.1 of 3 rows 16",
        "batch 0.2 of 3 rows 13",
        "end 0",
        "start 1/2 3 45",
        "batch 1.0 of 3 rows 16",
        "batch 1.1 of 3 rows 16",
        "batch 1.2 of 3 rows 13",
        "end 1",
    ];
    assert_eq!(log, expect);
    // The running loss after an epoch's last batch is the epoch's training loss.
    assert_eq!(running[2], history.epochs[0].train_loss);
    assert_eq!(running[5], history.epochs[1].train_loss);
    assert_eq!(trainer.history(), &history);
}

#[test]
fn validation_metrics_match_a_recomputation() {
    let (x, y) = binary_data::<f32>(200, 6, 4);
    let (xv, yv) = binary_data::<f32>(77, 6, 5);
    let mut trainer = Trainer::<f32>::new(
        binary_spec(6, &[8], 0.1),
        Init::GlorotUniform,
        config(1, 32, 6),
    )
    .unwrap();
    let history = trainer
        .fit(
            &DataView::new(x.view(), y.view()),
            Some(&DataView::new(xv.view(), yv.view())),
            &mut |_| {},
        )
        .unwrap();
    let rec = &history.epochs[0];
    let mlp = trainer.mlp();
    // Loss: inference-mode BCE from the logits, batches of 32 in order, row-weighted (T7).
    let mut ws = mlp.workspace(32);
    let mut sum = 0.0;
    for start in (0..77).step_by(32) {
        let end = (start + 32).min(77);
        let fwd = mlp.forward(xv.slice(s![start..end, ..]), Mode::Inference, &mut ws);
        let l = LossConfig::new(LossKind::BceWithLogits).compute(
            fwd.logits(),
            yv.slice(s![start..end, ..]),
            None,
            None,
        );
        sum += l * (end - start) as f64;
    }
    assert_eq!(rec.val_loss, Some(sum / 77.0));
    // Scores: σ(Z) = the sigmoid layer's output.
    let scores = trainer.scores(xv.view());
    let predicted: Vec<f64> = mlp
        .predict(xv.view())
        .iter()
        .map(|&p| f64::from(p))
        .collect();
    assert_eq!(scores, predicted);
    let labels: Vec<bool> = yv.iter().map(|&v| v > 0.5).collect();
    assert_eq!(rec.val_roc_auc, Some(roc_auc(&labels, &scores).unwrap()));
    let correct = labels
        .iter()
        .zip(&scores)
        .filter(|(l, s)| **l == (**s >= 0.5))
        .count();
    assert_eq!(rec.val_accuracy, Some(correct as f64 / 77.0));
    assert!(rec.val_roc_auc.unwrap() > 0.5 && rec.val_roc_auc.unwrap() <= 1.0);
}

/// An SGD run with lr = 0 never changes the weights, so every epoch's validation loss
/// equals the first: Keras's rule (T9) stops after `patience` epochs without improvement.
#[test]
fn early_stopping_counts_patience() {
    let (x, y) = binary_data::<f32>(40, 3, 7);
    let data = DataView::new(x.view(), y.view());
    for (patience, last_epoch) in [(2usize, 2usize), (0, 1)] {
        let mut c = config(10, 16, 8);
        c.optimizer = OptimizerConfig::sgd(0.0);
        c.early_stopping = Some(EarlyStopping {
            patience,
            min_delta: 0.0,
            monitor: Monitor::ValLoss,
            restore_best: false,
        });
        let mut t = Trainer::<f32>::new(binary_spec(3, &[4], 0.0), Init::GlorotUniform, c).unwrap();
        let mut stops = 0;
        let h = t
            .fit(&data, Some(&data), &mut |e| {
                stops += usize::from(matches!(e, Event::EarlyStop(_)));
            })
            .unwrap();
        assert_eq!(h.len(), last_epoch + 1, "patience {patience}");
        let stop = h.early_stop.clone().expect("stopped early");
        assert_eq!((stop.epoch, stop.best_epoch), (last_epoch, 0));
        assert_eq!(stop.best_value, h.epochs[0].val_loss.unwrap());
        assert_eq!(stops, 1);
        assert_eq!(t.early_stopping_state().wait, patience.max(1));
        // A stopped run does not train again.
        let steps = t.optimizer().step_count();
        assert_eq!(t.fit(&data, Some(&data), &mut |_| {}).unwrap(), h);
        assert_eq!(t.optimizer().step_count(), steps);
    }
}

/// With an improvement margin no accuracy can beat (2.0), only epoch 0 improves; patience
/// 1 stops after epoch 1 and `restore_best` puts epoch 0's weights back.
#[test]
fn early_stopping_restores_the_best_weights() {
    let (x, y) = binary_data::<f32>(64, 4, 9);
    let data = DataView::new(x.view(), y.view());
    let spec = binary_spec(4, &[5], 0.0);
    let run = |epochs: usize, es: Option<EarlyStopping>| {
        let mut c = config(epochs, 16, 10);
        c.optimizer = OptimizerConfig::adam_keras(0.05);
        c.early_stopping = es;
        let mut t = Trainer::<f32>::new(spec.clone(), Init::GlorotUniform, c).unwrap();
        t.fit(&data, Some(&data), &mut |_| {}).unwrap();
        t
    };
    let es = |restore_best| EarlyStopping {
        patience: 1,
        min_delta: 2.0,
        monitor: Monitor::ValAccuracy,
        restore_best,
    };
    let after_epoch_0 = run(1, None);
    let restored = run(10, Some(es(true)));
    let kept = run(10, Some(es(false)));
    let stop = restored.history().early_stop.clone().unwrap();
    assert_eq!(
        (stop.epoch, stop.best_epoch, stop.restored_best),
        (1, 0, true)
    );
    assert_eq!(
        bits(restored.mlp().params()),
        bits(after_epoch_0.mlp().params())
    );
    assert_eq!(
        restored.best_params().map(bits),
        Some(bits(after_epoch_0.mlp().params()))
    );
    // Without restoring, the weights are those after epoch 1 — different.
    assert!(!kept.history().early_stop.clone().unwrap().restored_best);
    assert_ne!(
        bits(kept.mlp().params()),
        bits(after_epoch_0.mlp().params())
    );
    assert!(kept.best_params().is_none());
}

#[test]
fn monitors_that_need_validation_data_are_refused_without_it() {
    let (x, y) = binary_data::<f32>(20, 3, 11);
    let data = DataView::new(x.view(), y.view());
    let mut c = config(3, 8, 1);
    c.early_stopping = Some(EarlyStopping {
        patience: 1,
        min_delta: 0.0,
        monitor: Monitor::ValRocAuc,
        restore_best: false,
    });
    let mut t =
        Trainer::<f32>::new(binary_spec(3, &[4], 0.0), Init::GlorotUniform, c.clone()).unwrap();
    assert_eq!(
        t.fit(&data, None, &mut |_| {}),
        Err(TrainError::MonitorNeedsValidation(Monitor::ValRocAuc))
    );
    // The training loss needs none.
    c.early_stopping.as_mut().unwrap().monitor = Monitor::TrainLoss;
    let mut t = Trainer::<f32>::new(binary_spec(3, &[4], 0.0), Init::GlorotUniform, c).unwrap();
    assert_eq!(t.fit(&data, None, &mut |_| {}).unwrap().len(), 3);
}

/// SGD with lr = 10⁶ on MSE blows up within a few steps: the trainer must stop with
/// NonFinite at the batch where it happened, before applying that update.
#[test]
fn a_non_finite_loss_stops_training() {
    let (x, y) = binary_data::<f32>(64, 4, 12);
    let spec = MlpSpec::new(
        4,
        vec![
            LayerSpec::new(8, Activation::Relu),
            LayerSpec::new(1, Activation::Identity),
        ],
    );
    let mut c = config(50, 8, 13);
    c.loss = LossConfig::new(LossKind::Mse);
    c.optimizer = OptimizerConfig::sgd(1e6);
    let mut t = Trainer::<f32>::new(spec, Init::GlorotUniform, c).unwrap();
    let mut seen = Vec::new();
    let err = t
        .fit(&DataView::new(x.view(), y.view()), None, &mut |e| {
            if let Event::Batch(p) = e {
                seen.push((p.epoch, p.batch));
            }
        })
        .unwrap_err();
    let TrainError::NonFinite {
        epoch,
        batch,
        what,
        value,
    } = err.clone()
    else {
        panic!("expected NonFinite, got {err:?}");
    };
    assert!(!value.is_finite());
    assert!(matches!(
        what,
        NonFiniteKind::Loss | NonFiniteKind::GradNorm
    ));
    // The failing batch is the one after the last completed step.
    let next = match seen.last() {
        Some(&(e, b)) if b + 1 < 8 => (e, b + 1),
        Some(&(e, _)) => (e + 1, 0),
        None => (0, 0),
    };
    assert_eq!((epoch, batch), next);
    assert_eq!(t.optimizer().step_count(), seen.len() as u64);
    assert!(
        err.to_string()
            .contains(&format!("epoch {epoch}, batch {batch}")),
        "{err}"
    );
    // The history holds only completed epochs.
    assert_eq!(t.history().len(), epoch);
}

#[test]
fn bad_data_and_bad_pairs_are_refused_with_context() {
    let (x, y) = binary_data::<f32>(10, 3, 14);
    let mut t = Trainer::<f32>::new(
        binary_spec(3, &[4], 0.0),
        Init::GlorotUniform,
        config(1, 4, 1),
    )
    .unwrap();
    let msg = |t: &mut Trainer<f32>, d: DataView<'_, f32>| {
        t.fit(&d, None, &mut |_| {}).unwrap_err().to_string()
    };
    let (x4, _) = binary_data::<f32>(10, 4, 14);
    assert_eq!(
        msg(&mut t, DataView::new(x4.view(), y.view())),
        "training data: X has 4 columns but the network has 3 inputs"
    );
    let mut bad = x.clone();
    bad[[6, 2]] = f32::NAN;
    assert_eq!(
        msg(&mut t, DataView::new(bad.view(), y.view())),
        "training data: X[6, 2] is NaN"
    );
    let w = [1.0f32, 1.0, 1.0, -0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    assert!(
        msg(&mut t, DataView::new(x.view(), y.view()).with_weights(&w))
            .contains("sample weight of row 3 is -0.5")
    );
    assert!(msg(&mut t, DataView::new(x.view(), y.slice(s![..9, ..]))).contains("Y is (9, 1)"));
    let empty = Array2::<f32>::zeros((0, 3));
    let empty_y = Array2::<f32>::zeros((0, 1));
    assert_eq!(
        msg(&mut t, DataView::new(empty.view(), empty_y.view())),
        "training data: no rows"
    );
    // Validation data are checked too.
    let data = DataView::new(x.view(), y.view());
    let e = t
        .fit(
            &data,
            Some(&DataView::new(bad.view(), y.view())),
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "validation data: X[6, 2] is NaN");
    assert_eq!(t.history().len(), 0, "nothing trained");
    // A loss on probabilities with a linear output is refused at construction.
    let mut c = config(1, 4, 1);
    c.loss = LossConfig::new(LossKind::BceKeras);
    let linear = MlpSpec::new(3, vec![LayerSpec::new(1, Activation::Identity)]);
    assert!(matches!(
        Trainer::<f32>::new(linear, Init::GlorotUniform, c),
        Err(TrainError::LossMismatch { .. })
    ));
}

#[test]
fn sample_weights_scale_the_loss() {
    let (x, y) = binary_data::<f32>(24, 3, 15);
    let twos = vec![2.0f32; 24];
    let first_loss = |weights: Option<&[f32]>| {
        let mut t = Trainer::<f32>::new(
            binary_spec(3, &[4], 0.0),
            Init::GlorotUniform,
            config(1, 8, 2),
        )
        .unwrap();
        let mut data = DataView::new(x.view(), y.view());
        if let Some(w) = weights {
            data = data.with_weights(w);
        }
        let mut first = None;
        t.fit(&data, None, &mut |e| {
            if let (Event::Batch(p), None) = (e, first) {
                first = Some(p.loss);
            }
        })
        .unwrap();
        first.unwrap()
    };
    // (L3) w·ℓ summed and divided by N: weight 2 doubles the loss exactly.
    assert_eq!(first_loss(Some(&twos)), 2.0 * first_loss(None));
}

#[test]
fn continuing_a_run_in_process_equals_running_it_straight() {
    let (x, y) = binary_data::<f32>(50, 4, 16);
    let data = DataView::new(x.view(), y.view());
    let spec = binary_spec(4, &[6], 0.3);
    let mut straight =
        Trainer::<f32>::new(spec.clone(), Init::HeUniform, config(5, 8, 17)).unwrap();
    straight.fit(&data, Some(&data), &mut |_| {}).unwrap();
    let mut split = Trainer::<f32>::new(spec, Init::HeUniform, config(2, 8, 17)).unwrap();
    split.fit(&data, Some(&data), &mut |_| {}).unwrap();
    assert_eq!(split.epochs_done(), 2);
    split.set_epochs(5).unwrap();
    split.fit(&data, Some(&data), &mut |_| {}).unwrap();
    assert_eq!(run_state(&split), run_state(&straight));
}

#[test]
fn the_rng_is_used_only_for_shuffles_and_dropout() {
    let (x, y) = binary_data::<f32>(30, 3, 18);
    let data = DataView::new(x.view(), y.view());
    let word_pos = |shuffle: bool, p: f64| {
        let mut c = config(1, 8, 19);
        c.shuffle = shuffle;
        let mut t = Trainer::<f32>::new(binary_spec(3, &[4], p), Init::GlorotUniform, c).unwrap();
        assert_eq!(t.rng().get_stream(), 1);
        t.fit(&data, None, &mut |_| {}).unwrap();
        t.rng().get_word_pos()
    };
    assert_eq!(word_pos(false, 0.0), 0, "no shuffle, no dropout: no draw");
    // 29 Fisher–Yates draws, one u64 (two words) each, barring rare rejections.
    assert!((58..70).contains(&word_pos(true, 0.0)));
    // Dropout: one u64 per hidden unit per row on top (30 rows × 4 units).
    assert!(word_pos(true, 0.5) >= 58 + 2 * 120);
}

#[test]
fn history_exports_json_and_csv() {
    let (x, y) = binary_data::<f32>(40, 3, 20);
    let data = DataView::new(x.view(), y.view());
    let mut t = Trainer::<f32>::new(
        binary_spec(3, &[4], 0.0),
        Init::GlorotUniform,
        config(3, 16, 21),
    )
    .unwrap();
    let h = t.fit(&data, Some(&data), &mut |_| {}).unwrap();
    let csv = h.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], glassbox_train::history::CSV_HEADER);
    for (i, line) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 9);
        assert_eq!(f[0], i.to_string());
        assert_eq!(f[1].parse::<f64>().unwrap(), h.epochs[i].train_loss);
        assert_eq!(f[2].parse::<f64>().unwrap(), h.epochs[i].val_loss.unwrap());
        assert_eq!(f[6], ((i + 1) * 3).to_string(), "3 steps per epoch");
    }
    let back: glassbox_train::History = serde_json::from_str(&h.to_json()).unwrap();
    assert_eq!(back, h);
    assert_eq!(h.seconds.len(), 3);
}
