//! GEMM throughput, `C ← A·B` in f32 (notes/benchmarks.md § GEMM).
//!
//! `cargo bench --bench gemm` — groups `gemm/1-thread` and `gemm/all-threads`, each run
//! inside a pool from `glassbox_core::build_pool` (flush-to-zero on every worker). Criterion's
//! "elem/s" is FLOP/s: the throughput is declared as `2·m·k·n` elements per call.
//!
//! Implementations: `naive` (triple loop; only at the two layer shapes — at 1024³ it would
//! take seconds per call), `matrixmultiply` (one plain `matrixmultiply::sgemm` call, through
//! `Float::gemm_raw`), `serial` (one `gemm_serial` call: our AVX2+FMA kernel on this CPU) —
//! these three are single-threaded by definition, so they are timed in the 1-thread group
//! only — and `parallel` (`glassbox_core::gemm`).
//! Every result is checked against the naive loop once before anything is timed.

use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use glassbox_core::{Float, build_pool, gemm, gemm_naive, gemm_serial};
use ndarray::Array2;

/// (m, k, n): a 784-64 layer's forward pass at batch 32 and 256, a square, and a wide C.
const SHAPES: [(usize, usize, usize); 4] = [
    (32, 784, 64),
    (256, 784, 64),
    (1024, 1024, 1024),
    (64, 4096, 4096),
];

/// The naive loop is timed only up to this many multiply-adds.
const NAIVE_MAX_MACS: usize = 20_000_000;

/// Small integers in [-4, 4]: every product and k-sum is exact in f32, so the check against
/// the naive loop is exact equality. (GEMM speed does not depend on the values.)
fn operand(rows: usize, cols: usize, salt: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 7 + j * 13 + salt * 5) % 9) as f32 - 4.0
    })
}

/// Checks matrixmultiply, serial and parallel against the naive loop, once per shape, before
/// timing.
fn validate(pool: &rayon::ThreadPool, a: &Array2<f32>, b: &Array2<f32>) {
    let (m, n) = (a.nrows(), b.ncols());
    let mut reference = Array2::<f32>::zeros((m, n));
    gemm_naive(1.0, a.view(), b.view(), 0.0, reference.view_mut());
    let mut plain = Array2::<f32>::from_elem((m, n), f32::NAN);
    matrixmultiply_call(a, b, &mut plain);
    assert_eq!(
        plain,
        reference,
        "matrixmultiply differs from gemm_naive at {m}x{}x{n}",
        a.ncols()
    );
    let mut serial = Array2::<f32>::from_elem((m, n), f32::NAN);
    gemm_serial(1.0, a.view(), b.view(), 0.0, serial.view_mut());
    let mut parallel = Array2::<f32>::from_elem((m, n), f32::NAN);
    pool.install(|| gemm(1.0, a.view(), b.view(), 0.0, parallel.view_mut()));
    assert_eq!(
        serial,
        reference,
        "gemm_serial differs from gemm_naive at {m}x{}x{n}",
        a.ncols()
    );
    assert_eq!(
        parallel,
        reference,
        "gemm differs from gemm_naive at {m}x{}x{n}",
        a.ncols()
    );
}

/// `out ← a·b` by one plain matrixmultiply call (what `gemm_serial` falls back to).
fn matrixmultiply_call(a: &Array2<f32>, b: &Array2<f32>, out: &mut Array2<f32>) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (sa, sb, sc) = (a.strides(), b.strides(), out.strides());
    let (rsc, csc) = (sc[0], sc[1]);
    // SAFETY: the pointers and strides describe a (m, k), b (k, n) and out (m, n), owned
    // arrays that do not overlap; out is borrowed mutably.
    unsafe {
        <f32 as Float>::gemm_raw(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            sa[0],
            sa[1],
            b.as_ptr(),
            sb[0],
            sb[1],
            0.0,
            out.as_mut_ptr(),
            rsc,
            csc,
        );
    }
}

fn bench(c: &mut Criterion) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools = [
        ("1-thread", build_pool(1).expect("pool")),
        ("all-threads", build_pool(all).expect("pool")),
    ];
    let operands: Vec<_> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, &(m, k, n))| (operand(m, k, i), operand(k, n, i + 1)))
        .collect();
    for (a, b) in &operands {
        validate(&pools[1].1, a, b);
    }

    for (label, pool) in &pools {
        let mut group = c.benchmark_group(format!("gemm/{label}"));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(15);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for ((m, k, n), (a, b)) in SHAPES.iter().copied().zip(&operands) {
            let size = format!("{m}x{k}x{n}");
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            let mut out = Array2::<f32>::zeros((m, n));
            if *label == "1-thread" {
                if m * k * n <= NAIVE_MAX_MACS {
                    group.bench_function(BenchmarkId::new("naive", &size), |bch| {
                        pool.install(|| {
                            bch.iter(|| gemm_naive(1.0, a.view(), b.view(), 0.0, out.view_mut()))
                        })
                    });
                }
                group.bench_function(BenchmarkId::new("matrixmultiply", &size), |bch| {
                    pool.install(|| bch.iter(|| matrixmultiply_call(a, b, &mut out)))
                });
                group.bench_function(BenchmarkId::new("serial", &size), |bch| {
                    pool.install(|| {
                        bch.iter(|| gemm_serial(1.0, a.view(), b.view(), 0.0, out.view_mut()))
                    })
                });
            }
            group.bench_function(BenchmarkId::new("parallel", &size), |bch| {
                pool.install(|| bch.iter(|| gemm(1.0, a.view(), b.view(), 0.0, out.view_mut())))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // No plots: the plotters backend needs system fonts, which this machine kind lacks.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
