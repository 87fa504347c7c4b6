//! GEMM throughput, `C ← A·B` in f32 (notes/benchmarks.md § GEMM).
//!
//! `cargo bench --bench gemm` — groups `gemm/1-thread` and `gemm/all-threads`, each run
//! inside a pool from `glassbox_core::build_pool` (flush-to-zero on every worker). Criterion's
//! "elem/s" is FLOP/s: the throughput is declared as `2·m·k·n` elements per call.
//!
//! Implementations: `naive` (triple loop; only at the two layer shapes — at 1024³ it would
//! take seconds per call), `matrixmultiply` (one plain `matrixmultiply::sgemm` call, through
//! `Float::gemm_raw`), `serial-<isa>` (one `gemm_serial_on` call on each vector instruction
//! set this CPU runs: `avx2`, the earlier kernel, and `avx512`) — these are
//! single-threaded by definition, so they are timed in the 1-thread group only — and
//! `parallel-<isa>` (`glassbox_core::gemm` on the instruction set it chose, the one
//! `GLASSBOX_ISA` names or the CPU's best). The first line printed names the CPU's choice.
//! Every result is checked against the naive loop once before anything is timed.
//!
//! Groups `fma-peak/1-thread` and `fma-peak/all-threads` first measure this CPU's FMA peak
//! on each vector instruction set (independent FMA chains in registers, eq. G5): the GEMM
//! figures are quoted as a fraction of it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use glassbox_core::gemm::gemm_serial_on;
use glassbox_core::gemm::kernel::{Isa, active_isa, fma_peak_work};
use glassbox_core::{Float, build_pool, gemm, gemm_naive, gemm_serial};
use ndarray::Array2;

/// (m, k, n): a 784-64 layer at batch 32 and 256, a square, and the layer at inference
/// batch 4096 (issue 11's four shapes).
const SHAPES: [(usize, usize, usize); 4] = [
    (32, 784, 64),
    (256, 784, 64),
    (1024, 1024, 1024),
    (4096, 784, 64),
];

/// (m, k, n) of a layer's forward pass `X·Θᵀ`, timed in that layout too (size suffix
/// `-fwd`): B is Θ (n, k) transposed, so both operands are contiguous along k — the dot
/// kernel's layout, what inference runs.
const FORWARD: [(usize, usize, usize); 3] = [(32, 784, 64), (256, 784, 64), (4096, 784, 64)];

/// (m, k, n) of weight gradients `d_zᵀ·H`, timed in that layout (size suffix `-dw`): A is
/// `d_z` (k, m) transposed and B is H (k, n) row-major. A wide layer's (the 784-1024-1024-1
/// model at batch 256: B's rows 4 KiB apart, so the outer kernel copies both and the
/// parallel GEMM cuts rows that share one packed B, notes/gemm.md eq. G4), and the 784-64
/// layer's over one 32-row shard (T11: every batch's gradient is a sum of such products, so
/// this short-k shape is most of the 784-64-64-1 step's backward pass).
const WEIGHT_GRADIENT: [(usize, usize, usize); 2] = [(1024, 256, 1024), (64, 32, 784)];

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
    for isa in Isa::ALL.into_iter().filter(|isa| isa.is_available()) {
        let mut on = Array2::<f32>::from_elem((m, n), f32::NAN);
        assert!(gemm_serial_on(
            isa,
            1.0,
            a.view(),
            b.view(),
            0.0,
            on.view_mut()
        ));
        assert_eq!(
            on,
            reference,
            "{isa} differs from gemm_naive at {m}x{}x{n}",
            a.ncols()
        );
    }
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
    let isa = active_isa().map_or("matrixmultiply", Isa::name);
    println!(
        "gemm bench: gemm runs on {isa}; GLASSBOX_ISA={:?}",
        std::env::var("GLASSBOX_ISA").ok()
    );
    let vector_isas: Vec<Isa> = Isa::ALL
        .into_iter()
        .filter(|&i| i != Isa::Scalar && i.is_available())
        .collect();
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools = [
        ("1-thread", build_pool(1).expect("pool")),
        ("all-threads", build_pool(all).expect("pool")),
    ];
    // (label, A, B): B row-major for SHAPES; for FORWARD Θ (n, k) row-major with its axes
    // reversed, i.e. Θᵀ (k, n) in column-major order.
    let mut operands: Vec<_> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, &(m, k, n))| {
            let label = format!("{m}x{k}x{n}");
            (label, operand(m, k, i), operand(k, n, i + 1))
        })
        .collect();
    operands.extend(FORWARD.iter().map(|&(m, k, n)| {
        let theta = operand(n, k, 7);
        (
            format!("{m}x{k}x{n}-fwd"),
            operand(m, k, 5),
            theta.reversed_axes(),
        )
    }));
    operands.extend(WEIGHT_GRADIENT.iter().map(|&(m, k, n)| {
        let d_z = operand(k, m, 9);
        (
            format!("{m}x{k}x{n}-dw"),
            d_z.reversed_axes(),
            operand(k, n, 10),
        )
    }));
    for (_, a, b) in &operands {
        validate(&pools[1].1, a, b);
    }

    fma_peak(c, &pools, &vector_isas);
    for (label, pool) in &pools {
        let mut group = c.benchmark_group(format!("gemm/{label}"));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(15);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for (size, a, b) in &operands {
            let ((m, k), n) = (a.dim(), b.ncols());
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            let mut out = Array2::<f32>::zeros((m, n));
            if *label == "1-thread" {
                if m * k * n <= NAIVE_MAX_MACS {
                    group.bench_function(BenchmarkId::new("naive", size), |bch| {
                        pool.install(|| {
                            bch.iter(|| gemm_naive(1.0, a.view(), b.view(), 0.0, out.view_mut()))
                        })
                    });
                }
                group.bench_function(BenchmarkId::new("matrixmultiply", size), |bch| {
                    pool.install(|| bch.iter(|| matrixmultiply_call(a, b, &mut out)))
                });
                for &on in &vector_isas {
                    let name = format!("serial-{on}");
                    group.bench_function(BenchmarkId::new(name, size), |bch| {
                        pool.install(|| {
                            bch.iter(|| {
                                gemm_serial_on(on, 1.0, a.view(), b.view(), 0.0, out.view_mut())
                            })
                        })
                    });
                }
            }
            let name = format!("parallel-{isa}");
            group.bench_function(BenchmarkId::new(name, size), |bch| {
                pool.install(|| bch.iter(|| gemm(1.0, a.view(), b.view(), 0.0, out.view_mut())))
            });
        }
        group.finish();
    }
}

/// Rounds of the FMA peak loop per call: 12 chains × 8 lanes × 2 × 100,000 = 19.2 MFLOP
/// on AVX2, about half a millisecond.
const PEAK_ROUNDS: usize = 100_000;

/// The FMA peak (G5, notes/gemm.md §6): groups `fma-peak/1-thread` and
/// `fma-peak/all-threads`, one benchmark per vector instruction set; in the all-threads pool
/// every worker runs the loop at once (`broadcast`), and the throughput counts all of them.
fn fma_peak(c: &mut Criterion, pools: &[(&str, rayon::ThreadPool)], isas: &[Isa]) {
    for (label, pool) in pools {
        let mut group = c.benchmark_group(format!("fma-peak/{label}"));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(15);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for &isa in isas {
            let (flops, _) = fma_peak_work(isa, PEAK_ROUNDS).expect("an available ISA");
            let workers = pool.current_num_threads() as u64;
            group.throughput(Throughput::Elements(flops * workers));
            group.bench_function(isa.name(), |bch| {
                bch.iter(|| pool.broadcast(|_| black_box(fma_peak_work(isa, PEAK_ROUNDS))))
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
