//! The training step of the 784-64-64-1 MLP (ReLU, ReLU, logit) at batch 32 and 256, its
//! parts, and one epoch on the online-shoppers training file (f32; notes/benchmarks.md,
//! "Training and inference throughput").
//!
//! `cargo bench --bench train_step` — groups `train_step/1-thread` and
//! `train_step/all-threads`, each inside a pool from `glassbox_core::build_pool`.
//! Criterion's "elem/s" is samples (rows) per second.
//!
//! The step is the trainer's own, [`glassbox_train::train_step`], with the configuration of
//! `TrainConfig::keras_recipe` and Adam in the PyTorch form (lr 1e-3): forward in
//! `Mode::Train`; binary cross-entropy on the logits, ∂L/∂Z = (σ(z) − y)/N written into a
//! zeroed buffer; `backward` with `GradWrite::Overwrite` (writes the gradients, no zeroing
//! pass); the global
//! gradient norm (no clipping); Adam's `step_lr`. Benchmarks:
//! - `step/N`: the whole step;
//! - `forward_train/N`, `backward/N` (timed alone, after an untimed forward), `adam/N`: its
//!   main parts, called directly;
//! - `epoch_online_shoppers/32`: one pass over the 9,864 rows of
//!   `datasets/online_shoppers_train.csv` (read with `glassbox_data`: `Table::read_infer`
//!   with `datasets/online_shoppers.schema.toml`, `Preprocessor::fit`/`transform`), in file
//!   order, batch 32 (the last batch has 8 rows), through a D-64-64-1 MLP of the same kind.
//!
//! Before timing: the gradient of one step equals the naive chain (`dense_forward_naive`,
//! `dense_backward_params_naive`, `dense_backward_input_naive`, ReLU′ written out) within f32 rounding, and 30 steps on one batch
//! lower its loss.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glassbox_core::init::uniform01;
use glassbox_core::{
    Activation, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, Rng, Upstream, build_pool,
    dense_backward_input_naive, dense_backward_params_naive, dense_forward_naive, seeded_rng,
};
use glassbox_data::{Preprocessor, ReadOptions, SchemaOverrides, Table, TargetSpec};
use glassbox_train::{
    Batch, Optimizer, OptimizerConfig, StepBuffers, TrainConfig, Weighting, bce_with_logits,
    train_step,
};
use ndarray::{Array1, Array2, ArrayView2, s};

const D: usize = 784;
const BATCHES: [usize; 2] = [32, 256];

/// A D-64-64-1 ReLU MLP with a logit output, He-uniform init.
fn mlp(inputs: usize) -> Mlp<f32> {
    let spec = MlpSpec::new(
        inputs,
        vec![
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(1, Activation::Identity),
        ],
    );
    Mlp::new(spec, Init::HeUniform, &mut seeded_rng(1)).expect("valid spec")
}

fn data(n: usize, d: usize, seed: u64) -> (Array2<f32>, Array2<f32>) {
    let mut rng = seeded_rng(seed);
    let x = Array2::from_shape_simple_fn((n, d), || (2.0 * uniform01(&mut rng) - 1.0) as f32);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| (x[[i, 0]] + x[[i, 1]] > 0.0) as u8 as f32);
    (x, y)
}

/// Configuration, network, optimizer, RNG and step buffers: everything a step touches,
/// allocated once. Make it inside the pool that runs the steps (see `StepBuffers::new`).
struct Trainer {
    config: TrainConfig,
    mlp: Mlp<f32>,
    opt: Optimizer<f32>,
    rng: Rng,
    buffers: StepBuffers<f32>,
    /// ∂L/∂Z of a batch, for timing backward alone.
    d_z: Array2<f32>,
}

impl Trainer {
    fn new(inputs: usize, batch: usize) -> Trainer {
        let config = TrainConfig {
            batch_size: batch,
            optimizer: OptimizerConfig::adam_torch(1e-3),
            ..TrainConfig::keras_recipe(1, 0)
        };
        let mlp = mlp(inputs);
        let opt = Optimizer::new(config.optimizer, mlp.num_params()).expect("valid");
        let buffers = StepBuffers::new(&mlp, config.loss.kind, batch).expect("a logit output");
        Trainer {
            config,
            d_z: Array2::zeros((batch, 1)),
            mlp,
            opt,
            rng: seeded_rng(2),
            buffers,
        }
    }

    /// The trainer's step on X (N, D), y (N, 1); returns the batch's loss.
    fn step(&mut self, x: ArrayView2<f32>, y: ArrayView2<f32>) -> f64 {
        let Trainer {
            config,
            mlp,
            opt,
            rng,
            buffers,
            ..
        } = self;
        let step = train_step(config, mlp, opt, rng, Batch::new(x, y), buffers);
        step.expect("a finite loss and gradient norm").loss
    }

    /// Keeps ∂L/∂Z of the batch (X, y) under the current weights, for `backward/N`.
    fn keep_d_z(&mut self, x: ArrayView2<f32>, y: ArrayView2<f32>) {
        let fwd = self
            .mlp
            .forward(x, Mode::Train(&mut self.rng), self.buffers.workspace());
        self.d_z.fill(0.0);
        let d_z = self.d_z.slice_mut(s![..x.nrows(), ..]);
        bce_with_logits(fwd.logits(), y, &Weighting::NONE, None, Some(d_z));
    }

    fn adam(&mut self) {
        let (params, grads) = self.mlp.params_and_grads_mut();
        self.opt.step_lr(params, grads, 1e-3);
    }
}

/// The gradient of the 3-layer MLP by the naive reference kernels, for validation.
fn naive_gradients(mlp: &Mlp<f32>, x: &Array2<f32>, y: &Array2<f32>) -> Vec<f32> {
    let n = x.nrows();
    let acts = [Activation::Relu, Activation::Relu, Activation::Identity];
    let (mut inputs, mut zs) = (vec![x.clone()], Vec::new());
    for (l, act) in acts.iter().enumerate() {
        let h = mlp.theta(l).nrows();
        let (mut z, mut a) = (Array2::zeros((n, h)), Array2::zeros((n, h)));
        let prev = inputs.last().expect("input");
        dense_forward_naive(
            prev.view(),
            mlp.theta(l),
            mlp.bias(l),
            *act,
            z.view_mut(),
            a.view_mut(),
        );
        zs.push(z);
        inputs.push(a);
    }
    // (L6) ∂L/∂z = (σ(z) − y)/N for the mean BCE on logits.
    let mut d_z = ndarray::Zip::from(&zs[2])
        .and(y)
        .map_collect(|&z, &t| (1.0 / (1.0 + (-z).exp()) - t) / n as f32);
    let mut grads: Vec<(Array2<f32>, Array1<f32>)> = Vec::new();
    for l in (0..3).rev() {
        let theta = mlp.theta(l);
        let (mut g, mut gb) = (Array2::zeros(theta.dim()), Array1::zeros(theta.nrows()));
        let mut d_x = Array2::zeros((n, theta.ncols()));
        let write = GradWrite::Accumulate;
        dense_backward_params_naive(
            inputs[l].view(),
            d_z.view(),
            g.view_mut(),
            gb.view_mut(),
            write,
        );
        dense_backward_input_naive(theta, d_z.view(), d_x.view_mut());
        grads.push((g, gb));
        if l > 0 {
            // (B8) ReLU′(z) = 1 for z > 0, else 0.
            d_z = ndarray::Zip::from(&d_x)
                .and(&zs[l - 1])
                .map_collect(|&d, &z| if z > 0.0 { d } else { 0.0 });
        }
    }
    grads
        .iter()
        .rev()
        .flat_map(|(g, gb)| g.iter().chain(gb.iter()).copied().collect::<Vec<_>>())
        .collect()
}

fn validate(pool: &rayon::ThreadPool) {
    for n in BATCHES {
        let (x, y) = data(n, D, 3);
        let mut t = pool.install(|| Trainer::new(D, n));
        let before = t.mlp.clone();
        let first = pool.install(|| t.step(x.view(), y.view()));
        let want = naive_gradients(&before, &x, &y);
        let scale = want.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        assert!(scale > 0.0, "all-zero gradient");
        for (g, w) in t.mlp.grads().iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-4 * scale,
                "gradient {g} vs naive {w} (batch {n})"
            );
        }
        let last = pool.install(|| (0..30).map(|_| t.step(x.view(), y.view())).last());
        let last = last.expect("30 steps");
        assert!(
            last < 0.9 * first,
            "loss {first} → {last}: training does not learn"
        );
    }
}

/// The online-shoppers training file as (X, y), through the data layer.
fn online_shoppers() -> (Array2<f32>, Array2<f32>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets");
    let overrides = SchemaOverrides::from_toml_file(format!("{dir}/online_shoppers.schema.toml"))
        .expect("schema overrides");
    let (table, schema) = Table::read_infer(
        format!("{dir}/online_shoppers_train.csv"),
        &ReadOptions::default(),
        &overrides,
    )
    .expect("training file");
    let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("Revenue")).expect("fit");
    let (x, y) = pre.transform(&table).expect("transform");
    let n = y.len();
    (x, y.into_shape_with_order((n, 1)).expect("column"))
}

fn bench(c: &mut Criterion) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools = [
        ("1-thread", build_pool(1).expect("pool")),
        ("all-threads", build_pool(all).expect("pool")),
    ];
    validate(&pools[1].1);
    let (shop_x, shop_y) = online_shoppers();
    assert_eq!(shop_x.nrows(), 9_864);

    for (label, pool) in &pools {
        let mut group = c.benchmark_group(format!("train_step/{label}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for n in BATCHES {
            let (x, y) = data(n, D, 3);
            let (x, y) = (x.view(), y.view());
            group.throughput(Throughput::Elements(n as u64));
            let mut t = pool.install(|| Trainer::new(D, n));
            pool.install(|| t.keep_d_z(x, y));
            group.bench_function(BenchmarkId::new("step", n), |bch| {
                pool.install(|| bch.iter(|| t.step(x, y)))
            });
            group.bench_function(BenchmarkId::new("forward_train", n), |bch| {
                pool.install(|| {
                    bch.iter(|| {
                        let ws = t.buffers.workspace();
                        let fwd = t.mlp.forward(x, Mode::Train(&mut t.rng), ws);
                        black_box(fwd.logits()[[0, 0]])
                    })
                })
            });
            group.bench_function(BenchmarkId::new("backward", n), |bch| {
                pool.install(|| {
                    bch.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let ws = t.buffers.workspace();
                            let fwd = t.mlp.forward(x, Mode::Train(&mut t.rng), ws);
                            let d_z = t.d_z.view();
                            let start = Instant::now();
                            t.mlp.backward(fwd, Upstream::DZ(d_z), GradWrite::Overwrite);
                            total += start.elapsed();
                        }
                        total
                    })
                })
            });
            group.bench_function(BenchmarkId::new("adam", n), |bch| {
                pool.install(|| bch.iter(|| t.adam()))
            });
        }
        let rows = shop_x.nrows();
        group.throughput(Throughput::Elements(rows as u64));
        group.sample_size(10);
        let mut t = pool.install(|| Trainer::new(shop_x.ncols(), 32));
        group.bench_function(BenchmarkId::new("epoch_online_shoppers", 32), |bch| {
            pool.install(|| {
                bch.iter(|| {
                    let mut total = 0.0;
                    for start in (0..rows).step_by(32) {
                        let end = (start + 32).min(rows);
                        let (xb, yb) = (
                            shop_x.slice(s![start..end, ..]),
                            shop_y.slice(s![start..end, ..]),
                        );
                        total += t.step(xb, yb);
                    }
                    total
                })
            })
        });
        group.finish();
    }
}

// No plots: criterion's plotters backend needs a system font, which headless machines lack.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
