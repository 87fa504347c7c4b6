//! Data-parallel training (notes/distributed.md) over an in-process transport: N threads
//! play N ranks. The weights after every epoch must equal one process's bit for bit with
//! the exact reduction, at 1, 2, 3 and 4 ranks and batch sizes of 1 to 8 shards.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use glassbox_core::Init;
use glassbox_train::distributed::{
    Collective, Distributed, RecvPiece, Reduce, SendPiece, pairwise_pieces,
};
use glassbox_train::{DataView, TrainConfig, Trainer};
use ndarray::Array2;
use support::{Scratch, binary_data, binary_spec, bits};

/// Rank `rank` of `size` threads; `inbox[from]` receives what rank `from` sent it.
#[derive(Debug)]
struct Threads {
    rank: usize,
    size: usize,
    outbox: Vec<Sender<Vec<u8>>>,
    inbox: Vec<Mutex<Receiver<Vec<u8>>>>,
    /// The collectives called: the meetings of the ranks (T14, T17).
    meetings: AtomicUsize,
}

fn ranks(size: usize) -> Vec<Threads> {
    // links[from][to]
    let mut senders: Vec<Vec<Option<Sender<Vec<u8>>>>> = vec![vec![None; size]; size];
    let mut receivers: Vec<Vec<Option<Receiver<Vec<u8>>>>> = (0..size)
        .map(|_| (0..size).map(|_| None).collect())
        .collect();
    for (from, row) in senders.iter_mut().enumerate() {
        for (to, slot) in row.iter_mut().enumerate() {
            let (tx, rx) = channel();
            *slot = Some(tx);
            receivers[to][from] = Some(rx);
        }
    }
    (0..size)
        .map(|rank| Threads {
            rank,
            size,
            outbox: (0..size)
                .map(|to| senders[rank][to].clone().unwrap())
                .collect(),
            inbox: receivers[rank]
                .iter_mut()
                .map(|r| Mutex::new(r.take().unwrap()))
                .collect(),
            meetings: AtomicUsize::new(0),
        })
        .collect()
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&self, send: &[u8], recv: &mut [u8], counts: &[usize]) {
        self.meetings.fetch_add(1, Ordering::Relaxed);
        for to in 0..self.size {
            self.send(to, send);
        }
        let mut at = 0;
        for (from, &c) in counts.iter().enumerate() {
            self.recv(from, &mut recv[at..at + c]);
            at += c;
        }
    }
    fn send(&self, to: usize, data: &[u8]) {
        self.outbox[to].send(data.to_vec()).unwrap();
    }
    fn recv(&self, from: usize, data: &mut [u8]) {
        let got = self.inbox[from].lock().unwrap().recv().unwrap();
        data.copy_from_slice(&got);
    }
    fn broadcast(&self, root: usize, data: &mut [u8]) {
        if self.rank == root {
            for to in (0..self.size).filter(|&t| t != root) {
                self.send(to, data);
            }
        } else {
            self.recv(root, data);
        }
    }
    fn all_to_all_pieces(&self, sends: &[SendPiece<'_>], recvs: &mut [RecvPiece<'_>]) {
        self.meetings.fetch_add(1, Ordering::Relaxed);
        pairwise_pieces(self, sends, recvs);
    }
    fn all_reduce_sum(&self, data: &mut [u8], f32: bool) {
        assert!(f32, "the test trains in f32");
        let mut all = vec![0u8; data.len() * self.size];
        self.all_gather(data, &mut all, &vec![data.len(); self.size]);
        let mut sum = vec![0f32; data.len() / 4];
        // Reverse rank order: another order than the exact chain's, as MPI may choose.
        for block in all.chunks_exact(data.len()).rev() {
            for (s, b) in sum.iter_mut().zip(block.chunks_exact(4)) {
                *s += f32::from_le_bytes(b.try_into().unwrap());
            }
        }
        for (d, s) in data.chunks_exact_mut(4).zip(sum) {
            d.copy_from_slice(&s.to_le_bytes());
        }
    }
}

fn config(batch: usize, clip: Option<f64>) -> TrainConfig {
    let mut c = TrainConfig::keras_recipe(3, 11);
    c.batch_size = batch;
    c.clip_norm = clip;
    c.threads = Some(1);
    c
}

/// The parameters after 3 epochs on (x, y), one process or `size` thread ranks.
fn train(x: &Array2<f32>, y: &Array2<f32>, batch: usize, size: usize, reduce: Reduce) -> Vec<u64> {
    let run = Run {
        hidden: &[24, 16],
        batch,
        size,
        reduce,
        resume: None,
        epochs: 3,
        save: None,
        clip: None,
    };
    run.train(x, y)
}

/// A training run: `size` thread ranks (0: one process without a transport), fresh or
/// resumed from a checkpoint, trained to `epochs`, its checkpoint saved by rank 0.
struct Run<'a> {
    /// The hidden layers' widths.
    hidden: &'a [usize],
    batch: usize,
    size: usize,
    reduce: Reduce,
    resume: Option<&'a Path>,
    epochs: usize,
    save: Option<&'a Path>,
    /// Clip the gradient norm to this (O14).
    clip: Option<f64>,
}

impl Run<'_> {
    /// Rank 0's parameter bits at the end (every rank's checked equal).
    fn train(&self, x: &Array2<f32>, y: &Array2<f32>) -> Vec<u64> {
        self.train_with_norms(x, y).0
    }

    /// Rank 0's parameter bits and the bits of each epoch's largest gradient norm (every
    /// rank's checked equal).
    fn train_with_norms(&self, x: &Array2<f32>, y: &Array2<f32>) -> (Vec<u64>, Vec<u64>) {
        let spec = binary_spec(x.ncols(), self.hidden, 0.0);
        let fit = |dist: Option<Distributed>| {
            let rank = dist.as_ref().map_or(0, |d| d.collective.rank());
            let mut t = match self.resume {
                Some(path) => Trainer::<f32>::resume(path).unwrap(),
                None => Trainer::<f32>::new(
                    spec.clone(),
                    Init::GlorotUniform,
                    config(self.batch, self.clip),
                )
                .unwrap(),
            };
            t.set_epochs(self.epochs).unwrap();
            if let Some(d) = dist {
                t.set_distributed(d).unwrap();
            }
            t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
                .unwrap();
            if let Some(path) = self.save.filter(|_| rank == 0) {
                t.save(path).unwrap();
            }
            // Each epoch's largest norm and its loss (T17 forms it after the rows' exchange).
            let norms = t.history().epochs.iter();
            let norms = norms
                .flat_map(|e| [e.max_grad_norm.to_bits(), e.train_loss.to_bits()])
                .collect();
            (bits(t.mlp().params()), norms)
        };
        if self.size == 0 {
            return fit(None);
        }
        let reduce = self.reduce;
        let results: Vec<(Vec<u64>, Vec<u64>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = ranks(self.size)
                .into_iter()
                .map(|r| {
                    let collective = Arc::new(r);
                    scope.spawn(move || fit(Some(Distributed { collective, reduce })))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results[1..] {
            assert_eq!(r, &results[0], "every rank holds the same weights");
        }
        results.into_iter().next().unwrap()
    }
}

#[test]
fn exact_reduction_gives_one_process_bits_at_every_rank_count() {
    let (x, y) = binary_data::<f32>(300, 13, 5);
    // The weights and each epoch's largest gradient norm (summed by units, T13).
    let run = |batch, size| Run {
        hidden: &[24, 16],
        batch,
        size,
        reduce: Reduce::Exact,
        resume: None,
        epochs: 3,
        save: None,
        clip: None,
    };
    for batch in [32, 64, 100, 256] {
        let one = run(batch, 0).train_with_norms(&x, &y);
        for size in 1..=4 {
            let many = run(batch, size).train_with_norms(&x, &y);
            assert!(
                one == many,
                "batch {batch}, {size} ranks differ from one process"
            );
        }
    }
}

#[test]
fn exact_reduction_gives_one_process_bits_when_ranks_own_no_units_of_a_layer() {
    // Layers narrower than the ranks: at 4 ranks, rank 0 owns no unit of a 3-unit layer, so
    // it receives no other rank's rows of that layer's input (T15); with [3, 3] it owns no
    // unit at all. Only the last rank owns the output unit.
    let (x, y) = binary_data::<f32>(300, 13, 5);
    for hidden in [&[24, 3][..], &[3, 24], &[3, 3]] {
        let run = |size| Run {
            hidden,
            batch: 100,
            size,
            reduce: Reduce::Exact,
            resume: None,
            epochs: 2,
            save: None,
            clip: None,
        };
        let one = run(0).train_with_norms(&x, &y);
        for size in 2..=4 {
            let many = run(size).train_with_norms(&x, &y);
            assert!(
                one == many,
                "{hidden:?}, {size} ranks differ from one process"
            );
        }
    }
}

#[test]
fn exact_reduction_clips_and_reports_the_one_process_norm() {
    // The norm is summed by units (T13), every rank folding all units' partials in parameter
    // order; a clip below the norms seen makes every step scale its gradient by a factor
    // computed from it.
    let (x, y) = binary_data::<f32>(300, 13, 5);
    let run = |size| Run {
        hidden: &[24, 16],
        batch: 100,
        size,
        reduce: Reduce::Exact,
        resume: None,
        epochs: 3,
        save: None,
        clip: Some(0.05),
    };
    let one = run(0).train_with_norms(&x, &y);
    assert!(
        one.1.iter().all(|&n| f64::from_bits(n) > 0.05),
        "the clip must bite: {:?}",
        one.1.iter().map(|&n| f64::from_bits(n)).collect::<Vec<_>>()
    );
    let unclipped = train(&x, &y, 100, 0, Reduce::Exact);
    assert_ne!(one.0, unclipped, "clipping changed nothing");
    for size in 2..=3 {
        assert!(
            one == run(size).train_with_norms(&x, &y),
            "{size} ranks: weights or norms differ"
        );
    }
}

/// The collectives each of 2 thread ranks calls to train `epochs` epochs of 3 steps.
fn meetings(epochs: usize) -> Vec<usize> {
    let (x, y) = binary_data::<f32>(300, 13, 5);
    let spec = binary_spec(x.ncols(), &[24, 16], 0.0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = ranks(2)
            .into_iter()
            .map(|r| {
                let (x, y, spec) = (&x, &y, spec.clone());
                scope.spawn(move || {
                    let coll = Arc::new(r);
                    let collective: Arc<dyn Collective> = coll.clone();
                    let mut t =
                        Trainer::<f32>::new(spec, Init::GlorotUniform, config(100, None)).unwrap();
                    t.set_epochs(epochs).unwrap();
                    let reduce = Reduce::Exact;
                    t.set_distributed(Distributed { collective, reduce })
                        .unwrap();
                    t.fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
                        .unwrap();
                    coll.meetings.load(Ordering::Relaxed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn exact_step_meets_three_times_with_a_separable_loss() {
    // T17: the output's rows ride in the rows' all-to-all, so a step is the rows' exchange,
    // the norm's all-gather and the weights' exchange; the fit's own meetings (the
    // optimizer's state shared once after it) cancel in the difference.
    let (one, two) = (meetings(1), meetings(2));
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(
            b - a,
            3 * 3,
            "3 steps an epoch, 3 meetings a step: {one:?} {two:?}"
        );
    }
}

#[test]
fn fast_reduction_trains_but_is_not_bit_identical() {
    // Negative control: another summation order shows in the bits.
    let (x, y) = binary_data::<f32>(300, 13, 5);
    let one = train(&x, &y, 256, 0, Reduce::Exact);
    let fast = train(&x, &y, 256, 3, Reduce::Fast);
    assert_ne!(
        one, fast,
        "the fast reduction happened to sum in shard order"
    );
    let close = one
        .iter()
        .zip(&fast)
        .all(|(&a, &b)| (f64::from_bits(a) - f64::from_bits(b)).abs() < 1e-3);
    assert!(
        close,
        "the fast reduction is a different gradient, not a rounding"
    );
}

#[test]
fn distributed_runs_refuse_dropout() {
    let spec = binary_spec(5, &[8], 0.5);
    let mut t = Trainer::<f32>::new(spec, Init::GlorotUniform, config(32, None)).unwrap();
    let collective = Arc::new(ranks(1).pop().unwrap());
    let err = t
        .set_distributed(Distributed {
            collective,
            reduce: Reduce::Exact,
        })
        .unwrap_err();
    assert!(err.to_string().contains("dropout"), "{err}");
}

#[test]
fn checkpoints_resume_across_modes_bit_identically() {
    // 2 epochs then 3 more: a distributed run's checkpoint resumed in one process, and one
    // process's checkpoint resumed by 2 and 3 ranks, all end with the bits of 5 straight
    // epochs in one process.
    let (x, y) = binary_data::<f32>(300, 13, 5);
    let scratch = Scratch::new("checkpoints_resume_across_modes");
    let from_one = scratch.path("one.safetensors");
    let from_many = [2, 3].map(|size| (size, scratch.path(&format!("ranks{size}.safetensors"))));
    let run = |size, resume, epochs, save| Run {
        hidden: &[24, 16],
        batch: 100,
        size,
        reduce: Reduce::Exact,
        resume,
        epochs,
        save,
        clip: None,
    };
    let straight = run(0, None, 5, None).train(&x, &y);
    let two_epochs_one = run(0, None, 2, Some(&from_one)).train(&x, &y);
    assert_ne!(
        two_epochs_one, straight,
        "a checkpoint mid-way, not the end"
    );
    for (size, from_many) in &from_many {
        let size = *size;
        let resumed = run(size, Some(&from_one), 5, None).train(&x, &y);
        assert!(
            resumed == straight,
            "{size} ranks resuming one process's checkpoint"
        );
        let two_epochs_many = run(size, None, 2, Some(from_many)).train(&x, &y);
        assert!(
            two_epochs_many == two_epochs_one,
            "{size} ranks' first 2 epochs"
        );
        let resumed = run(0, Some(from_many), 5, None).train(&x, &y);
        assert!(
            resumed == straight,
            "one process resuming {size} ranks' checkpoint"
        );
    }
}
