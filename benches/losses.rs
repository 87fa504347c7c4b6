//! Every loss, value and gradient in one call, at batch 32 and 256 (f32; notes/benchmarks.md,
//! "Training and inference throughput").
//!
//! `cargo bench --bench losses` — one group, `losses/1-thread`: the losses are one serial
//! pass over the batch (no rayon inside), so a second thread count would time the same
//! code. Binary losses have O = 1 output; softmax cross-entropy has O = 4 classes.
//! Criterion's "elem/s" is samples (rows) per second. Each loss's value and gradient are
//! checked once against a naive f64 computation of its formula before timing.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glassbox_core::init::uniform01;
use glassbox_core::{build_pool, seeded_rng};
use glassbox_train::{
    KERAS_EPSILON, Targets, Weighting, bce_keras, bce_with_logits, mse, softmax_cross_entropy,
};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

const BATCHES: [usize; 2] = [32, 256];
const CLASSES: usize = 4;

/// Batch `n`: logits (n, o) in [−4, 4], probabilities σ(logits), one-hot or 0/1 targets.
struct Batch {
    z: Array2<f32>,
    p: Array2<f32>,
    y: Array2<f32>,
    z4: Array2<f32>,
    y4: Array2<f32>,
}

impl Batch {
    fn new(n: usize) -> Batch {
        let mut rng = seeded_rng(n as u64);
        let mut u = move || uniform01(&mut rng);
        let z = Array2::from_shape_simple_fn((n, 1), || (8.0 * u() - 4.0) as f32);
        let p = z.mapv(|v| 1.0 / (1.0 + (-v).exp()));
        let y = Array2::from_shape_fn((n, 1), |(i, _)| ((i * 7) % 3 == 0) as u8 as f32);
        let z4 = Array2::from_shape_fn((n, CLASSES), |(i, j)| ((i * 5 + j * 3) % 7) as f32 - 3.0);
        let y4 = Array2::from_shape_fn((n, CLASSES), |(i, j)| (i % CLASSES == j) as u8 as f32);
        Batch { z, p, y, z4, y4 }
    }
}

type LossFn = fn(&Batch, Option<ArrayViewMut2<f32>>) -> f64;

fn run_mse(b: &Batch, d: Option<ArrayViewMut2<f32>>) -> f64 {
    mse(b.p.view(), b.y.view(), &Weighting::NONE, d)
}
fn run_bce_logits(b: &Batch, d: Option<ArrayViewMut2<f32>>) -> f64 {
    bce_with_logits(b.z.view(), b.y.view(), &Weighting::NONE, None, d)
}
fn run_bce_keras(b: &Batch, d: Option<ArrayViewMut2<f32>>) -> f64 {
    bce_keras(b.p.view(), b.y.view(), &Weighting::NONE, d)
}
fn run_softmax_ce(b: &Batch, d: Option<ArrayViewMut2<f32>>) -> f64 {
    softmax_cross_entropy(
        b.z4.view(),
        Targets::OneHot(b.y4.view()),
        &Weighting::NONE,
        d,
    )
}

/// Naive f64 value and gradient of each loss, straight from its formula (notes/losses.md).
fn naive(name: &str, b: &Batch) -> (f64, Array2<f64>) {
    let f = |a: ArrayView2<f32>| a.mapv(f64::from);
    match name {
        "mse" => {
            let (p, y) = (f(b.p.view()), f(b.y.view()));
            let n = p.len() as f64;
            let diff = &p - &y;
            ((&diff * &diff).sum() / n, diff * (2.0 / n)) // L1, L2
        }
        "bce_with_logits" => {
            let (z, y) = (f(b.z.view()), f(b.y.view()));
            let n = z.len() as f64;
            let l: f64 = z
                .iter()
                .zip(&y)
                .map(|(&z, &y)| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p())
                .sum();
            let g = ndarray::Zip::from(&z)
                .and(&y)
                .map_collect(|&z, &y| (1.0 / (1.0 + (-z).exp()) - y) / n);
            (l / n, g) // L5, L6
        }
        "bce_keras" => {
            let (p, y) = (f(b.p.view()), f(b.y.view()));
            let n = p.len() as f64;
            let e = KERAS_EPSILON;
            let l: f64 = p
                .iter()
                .zip(&y)
                .map(|(&p, &y)| {
                    let p = p.clamp(e, 1.0 - e);
                    -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
                })
                .sum();
            let g = ndarray::Zip::from(&p)
                .and(&y)
                .map_collect(|&p, &y| (-y / p + (1.0 - y) / (1.0 - p)) / n);
            (l / n, g) // L9, L10 (all p here are inside the clip range)
        }
        _ => {
            let (z, y) = (f(b.z4.view()), f(b.y4.view()));
            let n = z.nrows() as f64;
            let mut l = 0.0;
            let mut g = Array2::zeros(z.dim());
            for i in 0..z.nrows() {
                let m = z.row(i).fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                let s: f64 = z.row(i).iter().map(|v| (v - m).exp()).sum();
                let lse = m + s.ln();
                for j in 0..z.ncols() {
                    l += y[[i, j]] * (lse - z[[i, j]]);
                    g[[i, j]] = ((z[[i, j]] - lse).exp() - y[[i, j]]) / n;
                }
            }
            (l / n, g) // L12, L13
        }
    }
}

fn validate(name: &str, run: LossFn, b: &Batch) {
    let (want, want_grad) = naive(name, b);
    let mut grad = Array2::<f32>::zeros(want_grad.dim());
    let got = run(b, Some(grad.view_mut()));
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{name}: {got} vs naive {want}"
    );
    let scale = want_grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    assert!(scale > 0.0, "{name}: all-zero gradient");
    for (g, w) in grad.iter().zip(&want_grad) {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-4 * scale,
            "{name}: gradient {g} vs naive {w}"
        );
    }
}

fn bench(c: &mut Criterion) {
    let losses: [(&str, LossFn); 4] = [
        ("mse", run_mse),
        ("bce_with_logits", run_bce_logits),
        ("bce_keras", run_bce_keras),
        ("softmax_cross_entropy", run_softmax_ce),
    ];
    let batches: Vec<Batch> = BATCHES.iter().map(|&n| Batch::new(n)).collect();
    for b in &batches {
        for (name, run) in losses {
            validate(name, run, b);
        }
    }
    let pool = build_pool(1).expect("pool");
    let mut group = c.benchmark_group("losses/1-thread");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    for (n, b) in BATCHES.iter().zip(&batches) {
        group.throughput(Throughput::Elements(*n as u64));
        for (name, run) in losses {
            let cols = if name == "softmax_cross_entropy" {
                CLASSES
            } else {
                1
            };
            let mut grad = Array2::<f32>::zeros((*n, cols));
            group.bench_function(BenchmarkId::new(name, n), |bch| {
                pool.install(|| bch.iter(|| run(b, Some(grad.view_mut()))))
            });
        }
    }
    group.finish();
}

// No plots: criterion's plotters backend needs a system font, which headless machines lack.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
