//! After one warm-up step, a training step (forward + backward, then an inference forward and
//! an input-gradient pass, then a DP forward + clipped backward) allocates nothing at all —
//! in f32 and in f64, on the calling thread and in 1- and 2-thread pools; and a BatchEnsemble
//! network's (k = 4, P45's clipped pass included) in the pools, where a trainer runs it.
//!
//! A counting `#[global_allocator]` wraps the system allocator and counts every allocation
//! of every thread while counting is on. This file holds a single `#[test]` so no other test
//! allocates while it counts.
//!
//! Why nothing allocates, and why after exactly one step: the [`Workspace`] holds every
//! buffer of the pass, and when it is made (or grows) it reserves the GEMM kernel's per-thread
//! copy buffers for its batch size on the calling thread and, inside a pool, on every worker
//! (`Workspace::reserve_gemm_scratch`). So the kernel never allocates, whichever worker runs
//! which block — that used to depend on scheduling. The one warm-up step covers once-only
//! state outside glassbox (rayon's); its count is printed, not asserted.
//!
//! The large batch takes the parallel paths (GEMM row blocks, row-parallel activation
//! passes) and runs inside `ThreadPool::install`, as a training loop should: a rayon job
//! injected from outside the pool goes through crossbeam's injector queue, which allocates
//! a block every 63 injections; jobs spawned by a worker thread live on its own deque.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use glassbox_core::gemm::{PARALLEL_MIN_MACS, Split, split_for};
use glassbox_core::{
    Activation, Float, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, Upstream, Workspace,
    build_pool, seeded_rng,
};
use ndarray::{Array2, Zip};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn record() {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

// SAFETY: every method forwards to `System` unchanged; counting has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::record();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::record();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::record();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting on; returns the number of allocations it made (on any thread).
fn count(f: impl FnOnce()) -> usize {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
}

fn net_784_64_64_1<T: Float>() -> Mlp<T> {
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

/// 784 → BatchEnsemble(64, ReLU) → BatchEnsemble(64, ReLU) → BatchEnsemble(1, sigmoid),
/// k = 4 (no dropout: BatchEnsemble layers refuse it).
fn net_ensemble<T: Float>() -> Mlp<T> {
    let spec = MlpSpec::new(
        784,
        vec![
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
    .with_ensemble(4);
    Mlp::new(spec, Init::GlorotUniform, &mut seeded_rng(1)).expect("valid spec")
}

fn batch<T: Float>(n: usize, d: usize, salt: usize) -> Array2<T> {
    Array2::from_shape_fn((n, d), |(i, j)| {
        T::from_f64(((i * 31 + j * 17 + salt) % 23) as f64 / 11.0 - 1.0)
    })
}

/// One training step as a trainer runs it: train-mode forward (dropout), fused
/// sigmoid + BCE gradient ∂L/∂Z = (ŷ − y)/N into a kept buffer, zero the gradients,
/// backward; then an inference forward and an input-gradient pass.
struct Step<T: Float> {
    mlp: Mlp<T>,
    ws: Workspace<T>,
    x: Array2<T>,
    y: Array2<T>,
    d_z: Array2<T>,
    rng: glassbox_core::Rng,
}

impl<T: Float> Step<T> {
    /// Made on the thread (or inside the pool) that will run it: the workspace reserves the
    /// GEMM kernel's buffers there.
    fn new(n: usize, net: fn() -> Mlp<T>) -> Step<T> {
        let mlp = net();
        let ws = mlp.workspace(n);
        let width = mlp.spec().output_width();
        Step {
            ws,
            mlp,
            x: batch(n, 784, 3),
            y: batch::<T>(n, width, 5).mapv(|v| if v > T::zero() { T::one() } else { T::zero() }),
            d_z: Array2::zeros((n, width)),
            rng: seeded_rng(2),
        }
    }

    fn run(&mut self) {
        let n = T::from_f64(self.x.nrows() as f64);
        let fwd = self
            .mlp
            .forward(self.x.view(), Mode::Train(&mut self.rng), &mut self.ws);
        Zip::from(&mut self.d_z)
            .and(&fwd.output())
            .and(&self.y)
            .for_each(|d, &p, &t| *d = (p - t) / n);
        self.mlp.zero_grads();
        self.mlp
            .backward(fwd, Upstream::DZ(self.d_z.view()), GradWrite::Accumulate);
        let fwd = self
            .mlp
            .forward(self.x.view(), Mode::Inference, &mut self.ws);
        let d_x = self.mlp.input_gradient(fwd, Upstream::DZ(self.d_z.view()));
        assert!(d_x[[0, 0]].is_finite());
        assert!(self.mlp.grads().iter().any(|&g| g != T::zero()));
        // DP-SGD's backward with per-example clipping (P18–P21) on the same workspace.
        let fwd = self
            .mlp
            .forward(self.x.view(), Mode::Train(&mut self.rng), &mut self.ws);
        let norms = self
            .mlp
            .backward_clipped(fwd, Upstream::DZ(self.d_z.view()), 1e-3);
        assert!(norms[0].is_finite());
    }
}

/// Makes a step of `n` rows, runs one warm-up step and then 5 counted steps, on the
/// calling thread (`pool = None`) or inside `pool`. Returns the allocations of the warm-up
/// step and of the 5 steps after it.
fn warm_up_then_count<T: Float>(
    n: usize,
    net: fn() -> Mlp<T>,
    pool: Option<&rayon::ThreadPool>,
) -> (usize, usize) {
    let steps = || {
        let mut step = Step::<T>::new(n, net);
        let warm_up = count(|| step.run());
        let after = count(|| {
            for _ in 0..5 {
                step.run();
            }
        });
        (warm_up, after)
    };
    match pool {
        None => steps(),
        Some(pool) => pool.install(steps),
    }
}

/// The batch run on the calling thread, and the batch the workspace grows to.
const SERIAL_BATCH: usize = 16;
const GROWN_BATCH: usize = 12;

/// Fails if a batch of `n` rows would send one of the first layer's products (n·784·64
/// multiply-adds: the forward pass, the weight gradient, the input gradient) to the parallel
/// GEMM: raising the batch or lowering [`PARALLEL_MIN_MACS`] must not silently turn the
/// calling-thread case into a pool case.
fn assert_serial(n: usize) {
    for (m, k, cols) in [(n, 784, 64), (64, n, 784), (n, 64, 784)] {
        assert_eq!(
            split_for(m, k, cols),
            Split::Serial,
            "batch {n}: the {m}×{k}×{cols} product would run in parallel \
             (PARALLEL_MIN_MACS = {PARALLEL_MIN_MACS})"
        );
    }
}

/// `pools` are kept for the whole test, so no worker thread starts or exits while counting.
fn allocation_free<T: Float>(pools: &[rayon::ThreadPool]) {
    // The calling-thread batch keeps every product below the parallel threshold: a product
    // at or above it, outside a pool, injects jobs into rayon's global pool, which
    // allocates (see the top of this file). Batch 512 takes the parallel GEMM
    // (512·784·64 multiply-adds ≫ the threshold) and the row-parallel passes
    // (512·64 = 2¹⁵ elements), in each pool.
    assert_serial(SERIAL_BATCH);
    // The BatchEnsemble network runs in the pools only: its adapters' gradients are split by
    // members on the pool's threads at any batch size (crates/core/src/batch_ensemble.rs).
    let plain = std::iter::once((SERIAL_BATCH, None)).chain(pools.iter().map(|p| (512, Some(p))));
    let cases = plain
        .map(|(n, pool)| {
            (
                n,
                pool,
                net_784_64_64_1::<T> as fn() -> Mlp<T>,
                "784-64-64-1",
            )
        })
        .chain(
            pools
                .iter()
                .map(|p| (512, Some(p), net_ensemble::<T> as fn() -> Mlp<T>, "k = 4")),
        );
    for (n, pool, net, name) in cases {
        let threads = pool.map_or(1, |p| p.current_num_threads());
        let (warm_up, after) = warm_up_then_count::<T>(n, net, pool);
        let place = if pool.is_some() {
            "pool"
        } else {
            "calling thread"
        };
        eprintln!(
            "{} {name} batch {n}, {threads} thread(s) ({place}): warm-up step {warm_up} \
             allocations, next 5 steps {after}",
            T::NAME
        );
        assert_eq!(
            after,
            0,
            "{} {name} batch {n}, {threads} thread(s) ({place}): 5 steps after the warm-up \
             allocated {after} times",
            T::NAME
        );
    }

    // A batch larger than the workspace grows it once (the counter sees it: the assertion
    // above can fail), then runs allocation-free again.
    let mut small = Step::<T>::new(SERIAL_BATCH / 2, net_784_64_64_1::<T>);
    small.run();
    assert_serial(GROWN_BATCH);
    let x = batch::<T>(GROWN_BATCH, 784, 7);
    let mut rng = seeded_rng(4);
    let grow = count(|| {
        let fwd = small
            .mlp
            .forward(x.view(), Mode::Train(&mut rng), &mut small.ws);
        assert_eq!(fwd.rows(), GROWN_BATCH);
    });
    assert!(grow > 0, "{}: growing the workspace allocates", T::NAME);
    assert_eq!(small.ws.capacity(), GROWN_BATCH);
    let again = count(|| {
        let fwd = small
            .mlp
            .forward(x.view(), Mode::Train(&mut rng), &mut small.ws);
        assert_eq!(fwd.rows(), GROWN_BATCH);
    });
    assert_eq!(again, 0, "{}: the grown workspace is reused", T::NAME);
}

#[test]
fn training_steps_allocate_nothing_after_one_warm_up_step() {
    let pools = [1, 2].map(|t| build_pool(t).expect("thread pool"));
    // Workers start asynchronously (and allocate as they do): wait until every one has run.
    for pool in &pools {
        pool.broadcast(|_| ());
    }
    allocation_free::<f32>(&pools);
    allocation_free::<f64>(&pools);
}
