//! A training step of the trainer allocates nothing, after one warm-up step — in f32 and
//! f64, with 1 and 2 threads.
//!
//! A counting global allocator wraps the system allocator and counts every allocation (this
//! file holds a single `#[test]`, so no other test allocates while it counts). The trainer's
//! callback reads the counter at every event; between two consecutive events of an epoch
//! lies exactly one training step (gather, lr, forward with dropout, loss, backward,
//! gradient norm and clipping, optimizer update), so the counter must not move there.
//!
//! Warm-up is one step, not one epoch: the trainer makes its workspace inside its pool, and
//! the workspace reserves the GEMM kernel's buffers on every worker of that pool up front
//! (`Workspace::reserve_gemm_scratch`), so no step depends on which worker happens to run a
//! GEMM block first. The first step is left out for once-only state outside glassbox; its
//! count is printed, not asserted.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use glassbox_core::{Float, Init};
use glassbox_train::{DataView, Event, Schedule, TrainConfig, Trainer};
use support::{binary_data, binary_spec};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` unchanged; counting has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Trains 2 epochs of 9 steps (8 full batches of 64 rows and one of 8) with `threads`
/// threads; returns the allocations of the first step and of each later step, in order.
fn step_allocations<T: Float>(threads: usize) -> (usize, Vec<usize>) {
    let (x, y) = binary_data::<T>(520, 784, 70);
    let (xv, yv) = binary_data::<T>(64, 784, 71);
    let weights: Vec<T> = (0..520)
        .map(|i| T::from_f64(0.5 + (i % 3) as f64 * 0.25))
        .collect();
    let mut c = TrainConfig::keras_recipe(2, 72);
    c.batch_size = 64; // 8 full batches and one of 8 rows per epoch
    c.clip_norm = Some(0.5);
    c.schedule = Schedule::Warmup {
        steps: 4,
        then: Box::new(Schedule::Cosine {
            total_steps: 20,
            min_lr: 1e-5,
        }),
    };
    c.threads = Some(threads);
    let mut t =
        Trainer::<T>::new(binary_spec(784, &[64, 64], 0.2), Init::GlorotUniform, c).expect("valid");
    // (epoch, is a batch event, allocations so far) per event.
    let mut marks: Vec<(usize, bool, usize)> = Vec::with_capacity(64);
    t.fit(
        &DataView::new(x.view(), y.view()).with_weights(&weights),
        Some(&DataView::new(xv.view(), yv.view())),
        &mut |e| {
            let mark = |epoch, batch| (epoch, batch, ALLOCATIONS.load(Ordering::SeqCst));
            match e {
                Event::EpochStart { epoch, .. } => marks.push(mark(*epoch, false)),
                Event::Batch(p) => marks.push(mark(p.epoch, true)),
                _ => {}
            }
        },
    )
    .expect("training runs");
    assert_eq!(
        marks.len(),
        2 * (1 + 9),
        "an EpochStart and 9 steps per epoch"
    );
    // Each step lies between an event and the next batch event of the same epoch.
    let per_step: Vec<usize> = marks
        .windows(2)
        .filter(|pair| pair[0].0 == pair[1].0 && pair[1].1)
        .map(|pair| pair[1].2 - pair[0].2)
        .collect();
    assert_eq!(per_step.len(), 18, "every step was measured");
    (per_step[0], per_step[1..].to_vec())
}

fn allocation_free<T: Float>(threads: usize) {
    let (warm_up, later) = step_allocations::<T>(threads);
    eprintln!(
        "{} train step, {threads} thread(s): warm-up step {warm_up} allocations, \
         next {} steps {later:?}",
        T::NAME,
        later.len()
    );
    assert_eq!(
        later,
        vec![0; 17],
        "{} with {threads} thread(s): allocations of steps 2..=18",
        T::NAME
    );
}

#[test]
fn a_training_step_allocates_nothing_after_one_warm_up_step() {
    for threads in [1, 2] {
        allocation_free::<f32>(threads);
        allocation_free::<f64>(threads);
    }
}
