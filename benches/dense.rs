//! One Dense layer, 784 → 64 with ReLU (the first layer of the 784-64-64-1 MLP), in f32
//! (notes/benchmarks.md, "Training and inference throughput").
//!
//! `cargo bench --bench dense` — groups `dense/1-thread` and `dense/all-threads`, each run
//! inside a pool from `glassbox_core::build_pool` (flush-to-zero on every worker). Per
//! batch N ∈ {32, 256}:
//! - `forward`: [`dense_forward`] into preallocated Z, Y — the GEMM `X·Θᵀ` plus the fused
//!   bias + activation pass; what the MLP runs in inference and in training;
//! - `forward_cache`: [`Dense::forward`], the owning API that allocates Y and returns a
//!   [`glassbox_core::DenseCache`] (copies of X, Z, Y) for backward;
//! - `backward`: [`dense_backward_params`] and [`dense_backward_input`] from ∂L/∂Z:
//!   `d_theta += d_zᵀ·X`, `d_b += Σ d_z`, `d_x = d_z·Θ`.
//!
//! Criterion's "elem/s" is FLOP/s: forward declares `2·N·D·H`, backward `4·N·D·H` (two
//! GEMMs). Every result is checked against the naive reference once before timing.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glassbox_core::init::uniform01;
use glassbox_core::{
    Activation, Dense, DenseGrads, GradWrite, Init, build_pool, dense_backward_input,
    dense_backward_input_naive, dense_backward_params, dense_backward_params_naive, dense_forward,
    dense_forward_naive, seeded_rng,
};
use ndarray::{Array1, Array2};

const D: usize = 784;
const H: usize = 64;
const BATCHES: [usize; 2] = [32, 256];

fn uniform(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = seeded_rng(seed);
    Array2::from_shape_simple_fn((rows, cols), || (2.0 * uniform01(&mut rng) - 1.0) as f32)
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Fast forward and backward against the naive loops, once per batch size.
fn validate(layer: &Dense<f32>, x: &Array2<f32>, d_z: &Array2<f32>) {
    let n = x.nrows();
    let (theta, b, act) = (layer.theta(), layer.b(), layer.activation());
    let (mut z, mut y) = (Array2::zeros((n, H)), Array2::zeros((n, H)));
    let (mut z0, mut y0) = (Array2::zeros((n, H)), Array2::zeros((n, H)));
    dense_forward(x.view(), theta, b, act, z.view_mut(), y.view_mut());
    dense_forward_naive(x.view(), theta, b, act, z0.view_mut(), y0.view_mut());
    // |z| ≲ 10 here; f32 rounding over 784 terms in another order stays far below 1e-3.
    assert!(max_abs_diff(&z, &z0) < 1e-3, "forward differs from naive");
    assert!(max_abs_diff(&y, &y0) < 1e-3, "forward differs from naive");
    assert!(y.iter().any(|&v| v > 0.0) && y.iter().any(|&v| v == 0.0));

    let (mut g, mut gb, mut dx) = (
        Array2::zeros((H, D)),
        Array1::zeros(H),
        Array2::zeros((n, D)),
    );
    let (mut g0, mut gb0, mut dx0) = (
        Array2::zeros((H, D)),
        Array1::zeros(H),
        Array2::zeros((n, D)),
    );
    let write = GradWrite::Accumulate;
    dense_backward_params(x.view(), d_z.view(), g.view_mut(), gb.view_mut(), write);
    dense_backward_input(theta, d_z.view(), dx.view_mut());
    dense_backward_params_naive(x.view(), d_z.view(), g0.view_mut(), gb0.view_mut(), write);
    dense_backward_input_naive(theta, d_z.view(), dx0.view_mut());
    assert!(max_abs_diff(&g, &g0) < 1e-3, "d_theta differs from naive");
    assert!(max_abs_diff(&dx, &dx0) < 1e-3, "d_x differs from naive");
    assert!(gb.iter().zip(&gb0).all(|(a, b)| (a - b).abs() < 1e-3));
}

fn bench(c: &mut Criterion) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools = [
        ("1-thread", build_pool(1).expect("pool")),
        ("all-threads", build_pool(all).expect("pool")),
    ];
    let layer = Dense::<f32>::new(D, H, Activation::Relu, Init::HeUniform, &mut seeded_rng(1));
    for n in BATCHES {
        validate(&layer, &uniform(n, D, 2), &uniform(n, H, 3));
    }

    for (label, pool) in &pools {
        let mut group = c.benchmark_group(format!("dense/{label}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for n in BATCHES {
            let x = uniform(n, D, 2);
            let d_z = uniform(n, H, 3);
            let flops = (2 * n * D * H) as u64;
            let (theta, b, act) = (layer.theta(), layer.b(), layer.activation());

            group.throughput(Throughput::Elements(flops));
            let (mut z, mut y) = (Array2::zeros((n, H)), Array2::zeros((n, H)));
            group.bench_function(BenchmarkId::new("forward", n), |bch| {
                pool.install(|| {
                    bch.iter(|| dense_forward(x.view(), theta, b, act, z.view_mut(), y.view_mut()))
                })
            });
            group.bench_function(BenchmarkId::new("forward_cache", n), |bch| {
                pool.install(|| bch.iter(|| layer.forward(x.view())))
            });

            group.throughput(Throughput::Elements(2 * flops));
            let mut grads = DenseGrads::zeros_like(&layer);
            let mut d_x = Array2::zeros((n, D));
            group.bench_function(BenchmarkId::new("backward", n), |bch| {
                pool.install(|| {
                    bch.iter(|| {
                        dense_backward_params(
                            x.view(),
                            d_z.view(),
                            grads.d_theta.view_mut(),
                            grads.d_b.view_mut(),
                            GradWrite::Accumulate,
                        );
                        dense_backward_input(theta, d_z.view(), d_x.view_mut())
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
