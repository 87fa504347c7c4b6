//! A training step of the trainer allocates nothing.
//!
//! A counting `#[global_allocator]` wraps the system allocator (this file holds a single
//! `#[test]`, so no other test allocates while it counts). The trainer's callback reads the
//! counter at every event; between two consecutive events of an epoch lies exactly one
//! training step (gather, lr, forward with dropout, loss, backward, gradient norm and
//! clipping, optimizer update), so the counter must not move there.
//!
//! As in tests/alloc_free.rs, the GEMM kernel's own packing buffers (requests aligned to
//! 16 bytes or more, which nothing else on this path makes) are counted apart and reported;
//! every other allocation must be absent.

#[path = "train/support.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use glassbox_core::Init;
use glassbox_train::{DataView, Event, Schedule, TrainConfig, Trainer};
use support::{binary_data, binary_spec};

struct Counting;

static OTHER: AtomicUsize = AtomicUsize::new(0);
static GEMM_PACKING: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn record(layout: Layout) {
        if layout.align() >= 16 {
            GEMM_PACKING.fetch_add(1, Ordering::SeqCst);
        } else {
            OTHER.fetch_add(1, Ordering::SeqCst);
        }
    }
}

// SAFETY: every method forwards to `System` unchanged; counting has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::record(layout);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::record(layout);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::record(layout);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_training_step_allocates_nothing() {
    let (x, y) = binary_data::<f32>(520, 784, 70);
    let (xv, yv) = binary_data::<f32>(64, 784, 71);
    let weights: Vec<f32> = (0..520).map(|i| 0.5 + (i % 3) as f32 * 0.25).collect();
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
    c.threads = Some(2);
    let mut t = Trainer::<f32>::new(binary_spec(784, &[64, 64], 0.2), Init::GlorotUniform, c)
        .expect("valid");
    // (epoch, is a batch event, other allocations, GEMM packing allocations) per event.
    let mut marks: Vec<(usize, bool, usize, usize)> = Vec::with_capacity(64);
    t.fit(
        &DataView::new(x.view(), y.view()).with_weights(&weights),
        Some(&DataView::new(xv.view(), yv.view())),
        &mut |e| {
            let mark = |epoch, batch| {
                (
                    epoch,
                    batch,
                    OTHER.load(Ordering::SeqCst),
                    GEMM_PACKING.load(Ordering::SeqCst),
                )
            };
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
    let mut steps = 0;
    let mut packing = 0;
    for pair in marks.windows(2) {
        let ((e0, _, o0, g0), (e1, is_step, o1, g1)) = (pair[0], pair[1]);
        if e0 == e1 && is_step {
            steps += 1;
            // Epoch 0 is the warm-up: the GEMM kernel allocates each pool thread's packing
            // panel on that thread's first GEMM task, and which step that is depends on
            // scheduling. From epoch 1 on, every step must allocate nothing.
            if e1 == 0 {
                continue;
            }
            packing += g1 - g0;
            assert_eq!(
                o1 - o0,
                0,
                "epoch {e1}: step {steps} allocated {} times",
                o1 - o0
            );
        }
    }
    assert_eq!(steps, 18, "every step was checked");
    eprintln!("train step: 0 allocations in 18 steps besides {packing} GEMM packing buffers");
}
