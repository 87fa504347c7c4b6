//! Inference of the 784-64-64-1 MLP (ReLU, ReLU, logit) in f32 (notes/benchmarks.md,
//! "Training and inference throughput").
//!
//! `cargo bench --bench inference` — groups `inference/1-thread` and
//! `inference/all-threads`, each inside a pool from `glassbox_core::build_pool`:
//! - `forward/4096`: `Mlp::forward` in `Mode::Inference` into a kept workspace, the batch of
//!   the peers' `infer_b4096` workload;
//! - `forward/1`: one row, the latency of a single prediction.
//!
//! Criterion's "elem/s" is samples (rows) per second. Before timing, the output is checked
//! against the naive chain of `dense_forward_naive` within f32 rounding.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glassbox_core::init::uniform01;
use glassbox_core::{
    Activation, Init, LayerSpec, Mlp, MlpSpec, Mode, build_pool, dense_forward_naive, seeded_rng,
};
use ndarray::Array2;

const D: usize = 784;

fn mlp() -> Mlp<f32> {
    let spec = MlpSpec::new(
        D,
        vec![
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(1, Activation::Identity),
        ],
    );
    Mlp::new(spec, Init::HeUniform, &mut seeded_rng(1)).expect("valid spec")
}

fn validate(mlp: &Mlp<f32>, x: &Array2<f32>, pool: &rayon::ThreadPool) {
    let got = pool.install(|| mlp.predict(x.view()));
    let mut a = x.clone();
    for l in 0..mlp.num_layers() {
        let h = mlp.theta(l).nrows();
        let act = mlp.spec().layers[l].activation;
        let (mut z, mut y) = (Array2::zeros((a.nrows(), h)), Array2::zeros((a.nrows(), h)));
        dense_forward_naive(
            a.view(),
            mlp.theta(l),
            mlp.bias(l),
            act,
            z.view_mut(),
            y.view_mut(),
        );
        a = y;
    }
    let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "all-zero output");
    for (g, w) in got.iter().zip(&a) {
        assert!((g - w).abs() <= 1e-4 * scale, "output {g} vs naive {w}");
    }
}

fn bench(c: &mut Criterion) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools = [
        ("1-thread", build_pool(1).expect("pool")),
        ("all-threads", build_pool(all).expect("pool")),
    ];
    let mlp = mlp();
    let mut rng = seeded_rng(5);
    let x = Array2::from_shape_simple_fn((4096, D), || (2.0 * uniform01(&mut rng) - 1.0) as f32);
    validate(&mlp, &x, &pools[1].1);

    for (label, pool) in &pools {
        let mut group = c.benchmark_group(format!("inference/{label}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for n in [4096, 1] {
            let xb = x.slice(ndarray::s![..n, ..]);
            let mut ws = mlp.workspace(n);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(BenchmarkId::new("forward", n), |bch| {
                pool.install(|| {
                    bch.iter(|| {
                        let fwd = mlp.forward(xb, Mode::Inference, &mut ws);
                        black_box(fwd.output()[[0, 0]])
                    })
                })
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
