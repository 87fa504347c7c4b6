//! After the first batch, a training step (forward + backward) allocates nothing.
//!
//! A counting `#[global_allocator]` wraps the system allocator. This file holds a single
//! `#[test]` so no other test allocates while it counts.
//!
//! What is counted, and one exception stated plainly: the GEMM kernel (matrixmultiply)
//! allocates its own packing buffer on every call (see `gemm.rs`: "each matrixmultiply call
//! allocates its own packing buffer"). Those requests ask for an alignment of 16 bytes or
//! more (the kernels' SIMD alignment), which nothing else on this path does — our buffers
//! are `Vec<f32>` / `Vec<f64>` (alignment 4 / 8) — so they are counted separately and
//! reported, and the assertion is that every *other* allocation count is zero. If the GEMM
//! comes to reuse its packing buffers, the reported count drops to zero with no change here.
//!
//! The large batch takes the parallel paths (GEMM row blocks, row-parallel activation
//! passes) and runs inside `ThreadPool::install`, as a training loop should: a rayon job
//! injected from outside the pool goes through crossbeam's injector queue, which allocates
//! a block every 63 injections; jobs spawned by a worker thread live on its own deque.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use glassbox_core::{Activation, Init, LayerSpec, Mlp, MlpSpec, Mode, Upstream, seeded_rng};
use ndarray::{Array2, Zip};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static OTHER: AtomicUsize = AtomicUsize::new(0);
static GEMM_PACKING: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn record(layout: Layout) {
        if COUNTING.load(Ordering::SeqCst) {
            if layout.align() >= 16 {
                GEMM_PACKING.fetch_add(1, Ordering::SeqCst);
            } else {
                OTHER.fetch_add(1, Ordering::SeqCst);
            }
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

/// Runs `f` with counting on; returns (other allocations, GEMM packing allocations).
fn count(f: impl FnOnce()) -> (usize, usize) {
    OTHER.store(0, Ordering::SeqCst);
    GEMM_PACKING.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    (
        OTHER.load(Ordering::SeqCst),
        GEMM_PACKING.load(Ordering::SeqCst),
    )
}

fn net_784_64_64_1() -> Mlp<f32> {
    let spec = MlpSpec::new(
        784,
        vec![
            LayerSpec::new(64, Activation::Relu).with_dropout(0.2),
            LayerSpec::new(64, Activation::Relu).with_dropout(0.2),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    Mlp::new(spec, Init::GlorotUniform, &mut seeded_rng(1)).expect("valid spec")
}

fn batch(n: usize, d: usize, salt: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |(i, j)| {
        ((i * 31 + j * 17 + salt) % 23) as f32 / 11.0 - 1.0
    })
}

/// One training step as a trainer runs it: train-mode forward (dropout), fused
/// sigmoid + BCE gradient ∂L/∂Z = (ŷ − y)/N into a kept buffer, zero the gradients,
/// backward; then an inference forward and an input-gradient pass.
struct Step {
    mlp: Mlp<f32>,
    ws: glassbox_core::Workspace<f32>,
    x: Array2<f32>,
    y: Array2<f32>,
    d_z: Array2<f32>,
    rng: glassbox_core::Rng,
}

impl Step {
    fn new(n: usize) -> Step {
        let mlp = net_784_64_64_1();
        let ws = mlp.workspace(n);
        Step {
            ws,
            mlp,
            x: batch(n, 784, 3),
            y: batch(n, 1, 5).mapv(|v| if v > 0.0 { 1.0 } else { 0.0 }),
            d_z: Array2::zeros((n, 1)),
            rng: seeded_rng(2),
        }
    }

    fn run(&mut self) {
        let n = self.x.nrows() as f32;
        let fwd = self
            .mlp
            .forward(self.x.view(), Mode::Train(&mut self.rng), &mut self.ws);
        Zip::from(&mut self.d_z)
            .and(&fwd.output())
            .and(&self.y)
            .for_each(|d, &p, &t| *d = (p - t) / n);
        self.mlp.zero_grads();
        self.mlp.backward_from_d_z(fwd, self.d_z.view());
        let fwd = self
            .mlp
            .forward(self.x.view(), Mode::Inference, &mut self.ws);
        let d_x = self.mlp.input_gradient(fwd, Upstream::DZ(self.d_z.view()));
        assert!(d_x[[0, 0]].is_finite());
        assert!(self.mlp.grads().iter().any(|&g| g != 0.0));
    }
}

#[test]
fn training_steps_allocate_nothing_after_warm_up() {
    // Batch 32: every product is below the parallel threshold; runs on the calling thread.
    let mut small = Step::new(32);
    small.run(); // warm-up
    let (other, packing) = count(|| {
        for _ in 0..5 {
            small.run();
        }
    });
    eprintln!("batch 32, 5 steps: {other} allocations, {packing} GEMM packing buffers");
    assert_eq!(other, 0, "batch 32 allocated {other} times after warm-up");

    // Batch 512 on a 2-thread pool: parallel GEMM (512·784·64 multiply-adds ≫ 2²¹) and
    // row-parallel passes (512·64 = 2¹⁵ elements).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("thread pool");
    let mut big = Step::new(512);
    let (other, packing) = pool.install(|| {
        big.run(); // warm-up: grows the workers' deques once
        big.run();
        count(|| {
            for _ in 0..5 {
                big.run();
            }
        })
    });
    eprintln!("batch 512, 5 steps, 2 threads: {other} allocations, {packing} GEMM packing buffers");
    assert_eq!(other, 0, "batch 512 allocated {other} times after warm-up");

    // A batch larger than the workspace grows it once, then runs allocation-free again.
    let x = batch(48, 784, 7);
    let mut rng = seeded_rng(4);
    let (grow, _) = count(|| {
        let fwd = small
            .mlp
            .forward(x.view(), Mode::Train(&mut rng), &mut small.ws);
        assert_eq!(fwd.rows(), 48);
    });
    assert!(grow > 0, "growing the workspace allocates");
    assert_eq!(small.ws.capacity(), 48);
    let (again, _) = count(|| {
        let fwd = small
            .mlp
            .forward(x.view(), Mode::Train(&mut rng), &mut small.ws);
        assert_eq!(fwd.rows(), 48);
    });
    assert_eq!(again, 0, "the grown workspace is reused");
}
