//! A full epoch of training gives bit-identical weights, optimizer state and metrics in
//! pools of 1, 2 and 7 threads.
//!
//! 784-64-64-1 with dropout on both hidden layers, 4096 shuffled rows, batches of 32 and
//! of 256 (the latter takes the parallel GEMM paths), validation on 512 rows. The shuffle
//! and the dropout masks are drawn on one thread from the trainer's RNG; threads own
//! disjoint outputs in the GEMM and activation passes; every reduction (loss, gradient
//! norm, metrics) is a sequential sum. So nothing may change with the thread count.

mod support;

use glassbox_core::Init;
use glassbox_train::{DataView, Event, TrainConfig, Trainer};
use support::{RunState, binary_data, binary_spec, run_state};

fn one_epoch(threads: usize, batch: usize) -> (RunState, Vec<u64>) {
    let (x, y) = binary_data::<f32>(4096, 784, 31);
    let (xv, yv) = binary_data::<f32>(512, 784, 32);
    let mut c = TrainConfig::keras_recipe(1, 33);
    c.batch_size = batch;
    c.threads = Some(threads);
    c.clip_norm = Some(1.0);
    let mut t = Trainer::<f32>::new(binary_spec(784, &[64, 64], 0.2), Init::GlorotUniform, c)
        .expect("valid trainer");
    let mut batch_losses = Vec::new();
    t.fit(
        &DataView::new(x.view(), y.view()),
        Some(&DataView::new(xv.view(), yv.view())),
        &mut |e| {
            if let Event::Batch(p) = e {
                batch_losses.push(p.loss.to_bits());
                batch_losses.push(p.grad_norm.to_bits());
            }
        },
    )
    .expect("training runs");
    (run_state(&t), batch_losses)
}

#[test]
fn one_epoch_is_bit_identical_at_1_2_and_7_threads() {
    for batch in [32, 256] {
        let (one, losses) = one_epoch(1, batch);
        assert_eq!(losses.len(), 2 * 4096 / batch);
        let record: serde_json::Value = serde_json::from_str(&one.history).unwrap();
        let auc = record[0][0]["val_roc_auc"].as_f64().unwrap();
        assert!(
            auc > 0.5,
            "batch {batch}: the epoch learned something (AUC {auc})"
        );
        for threads in [2, 7] {
            let (other, other_losses) = one_epoch(threads, batch);
            assert!(
                other_losses == losses,
                "batch {batch}: batch losses differ at {threads} threads"
            );
            assert!(
                other == one,
                "batch {batch}: weights, optimizer state or metrics differ at {threads} threads"
            );
        }
    }
}
