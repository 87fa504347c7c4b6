//! One optimizer step over the parameters of the 784-64-64-1 MLP, P = 54,465, in f32
//! (notes/benchmarks.md, "Training and inference throughput").
//!
//! `cargo bench --bench optim` — groups `optim/1-thread` and `optim/all-threads` (from
//! P ≥ `glassbox_train::optim::PAR_MIN_PARAMS` the update runs in chunks on the pool's
//! threads). Criterion's "elem/s" is parameters updated per second. Before timing, one
//! Adam step (PyTorch form) is checked bit for bit against the formula (O10–O12) written out
//! element by element, and every optimizer against itself at 1 and all threads.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glassbox_core::build_pool;
use glassbox_train::{Optimizer, OptimizerConfig, WeightDecay};

/// Parameters of 784-64-64-1: 784·64 + 64 + 64·64 + 64 + 64 + 1.
const P: usize = 54_465;

fn configs() -> [(&'static str, OptimizerConfig); 8] {
    [
        ("sgd", OptimizerConfig::sgd(1e-2)),
        ("sgd_momentum", OptimizerConfig::sgd_momentum(1e-2, 0.9)),
        ("sgd_nesterov", OptimizerConfig::sgd_nesterov(1e-2, 0.9)),
        ("rmsprop_torch", OptimizerConfig::rmsprop_torch(1e-3)),
        ("rmsprop_keras", OptimizerConfig::rmsprop_keras(1e-3)),
        ("adam_torch", OptimizerConfig::adam_torch(1e-3)),
        ("adam_keras", OptimizerConfig::adam_keras(1e-3)),
        (
            "adamw_l2",
            OptimizerConfig::adamw(1e-3, 0.01).with_weight_decay(WeightDecay::L2(1e-4)),
        ),
    ]
}

fn start() -> (Vec<f32>, Vec<f32>) {
    let params = (0..P)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 200.0)
        .collect();
    let grads = (0..P)
        .map(|i| ((i * 13 % 29) as f32 - 14.0) / 1000.0)
        .collect();
    (params, grads)
}

/// Adam's first step (t = 1, m = v = 0) in the PyTorch form, element by element (O10–O12).
fn adam_first_step_naive(params: &[f32], grads: &[f32], lr: f64) -> Vec<f32> {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let step_size = (lr / (1.0 - b1)) as f32;
    let inv_sqrt_bc2 = (1.0 / (1.0 - b2).sqrt()) as f32;
    params
        .iter()
        .zip(grads)
        .map(|(&p, &g)| {
            let m = 0.0f32 + (1.0 - b1) as f32 * (g - 0.0); // O10
            let v = b2 as f32 * 0.0 + (1.0 - b2) as f32 * (g * g); // O11
            p - step_size * (m / (v.sqrt() * inv_sqrt_bc2 + eps as f32)) // O12
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn bench(c: &mut Criterion) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools = [
        ("1-thread", build_pool(1).expect("pool")),
        ("all-threads", build_pool(all).expect("pool")),
    ];
    let (params0, grads) = start();

    // Validation: Adam against the written-out formula; every optimizer at 1 vs all threads.
    let mut p = params0.clone();
    let mut adam = Optimizer::new(OptimizerConfig::adam_torch(1e-3), P).expect("valid");
    pools[1].1.install(|| adam.step(&mut p, &grads));
    assert_eq!(
        bits(&p),
        bits(&adam_first_step_naive(&params0, &grads, 1e-3))
    );
    for (name, config) in configs() {
        let after = |pool: &rayon::ThreadPool| {
            let mut p = params0.clone();
            let mut opt = Optimizer::new(config, P).expect("valid");
            pool.install(|| (0..3).for_each(|_| opt.step(&mut p, &grads)));
            p
        };
        let one = after(&pools[0].1);
        assert!(one != params0, "{name} did not move the parameters");
        assert_eq!(
            bits(&one),
            bits(&after(&pools[1].1)),
            "{name}: threads change bits"
        );
    }

    for (label, pool) in &pools {
        let mut group = c.benchmark_group(format!("optim/{label}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(1));
        group.throughput(Throughput::Elements(P as u64));
        for (name, config) in configs() {
            let mut p = params0.clone();
            let mut opt = Optimizer::new(config, P).expect("valid");
            group.bench_function(BenchmarkId::new(name, P), |bch| {
                pool.install(|| bch.iter(|| opt.step(&mut p, &grads)))
            });
        }
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
