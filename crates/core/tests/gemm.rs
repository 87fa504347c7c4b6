//! GEMM tests in matrixmultiply's style (notes/gemm.md §5): every size 0..=12 cubed, awkward
//! sizes, every stride layout, α/β combinations, exact equality with the naive reference on
//! small-integer inputs, memory outside C untouched, parallel == serial bit for bit at 1, 2
//! and 7 threads, no allocation added by the parallel path, and shape-mismatch panics. The
//! matrixmultiply fallback (`gemm_fallback`, what `gemm_serial` runs when no kernel
//! instruction set is active) is swept too, since on an AVX2 CPU `gemm_serial` never
//! reaches it. Every instruction set against the scalar one, bit for bit: `isa.rs`.
//!
//! Rayon's *global* pool is used by one test only (`init_global_pool_...`): every other test
//! that can take the parallel path runs inside a pool of its own, so that test is the one
//! that initialises the global pool.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

mod support;

use glassbox_core::gemm::{
    MAX_BLOCKS, MIN_BLOCK, PARALLEL_MIN_MACS, Split, gemm_fallback, split_for, split_for_layout,
};
use glassbox_core::threads::flush_to_zero_enabled;
use glassbox_core::{Float, build_pool, gemm, gemm_naive, gemm_serial, init_global_pool};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use proptest::prelude::*;
use support::{ALPHA_BETA, AWKWARD, LAYOUTS, Lay, Strided, bits, f64_of, int_val, normal_matrix};

// ---------------------------------------------------------------------------------------------
// Counting allocator: counts allocations made on threads that opted in (the test's own pool
// workers), so the other tests of this binary, running concurrently, do not disturb the count.

struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNT_THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNT_THIS_THREAD.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every method forwards to the system allocator unchanged; the bookkeeping touches
// only an atomic and a const-initialised thread-local `Cell` (neither allocates).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

type GemmFn<T> = fn(T, ArrayView2<T>, ArrayView2<T>, T, ArrayViewMut2<T>);

/// A (M,K) and B (K,N) integer operands in the given layouts, with NaN around them (a read
/// outside the view would poison C).
fn operands<T: Float>(
    (m, k, n): (usize, usize, usize),
    (la, lb): (Lay, Lay),
    seed: usize,
) -> (Strided<T>, Strided<T>) {
    (
        Strided::new(la, (m, k), T::nan(), |i, j| int_val(seed, i, j)),
        Strided::new(lb, (k, n), T::nan(), |i, j| int_val(seed + 1, i, j)),
    )
}

/// Runs `f` for C ← α·A·B + β·C with C in layout `lc` and asserts C equals `expected`
/// exactly, and that nothing outside C was written. With β = 0, C starts as NaN (which must
/// be overwritten, not scaled).
fn check<T: Float>(
    f: GemmFn<T>,
    (a, b): (&Strided<T>, &Strided<T>),
    lc: Lay,
    (alpha, beta): (f64, f64),
    expected: &Array2<T>,
    seed: usize,
) {
    let ((m, k), n) = (a.shape, b.shape.1);
    let sentinel = T::from_f64(-12345.0);
    let mut c = Strided::new(lc, (m, n), sentinel, |i, j| {
        if beta == 0.0 {
            T::nan()
        } else {
            int_val(seed + 2, i, j)
        }
    });
    f(
        T::from_f64(alpha),
        a.view(),
        b.view(),
        T::from_f64(beta),
        c.view_mut(),
    );
    let what = || {
        format!(
            "{} ({m}x{k}x{n}) A {} B {} C {} α={alpha} β={beta}",
            T::NAME,
            a.lay.name,
            b.lay.name,
            lc.name
        )
    };
    // Equal as values (NaN ≠ anything): with k = 0 matrixmultiply returns β·C, which is −0
    // where the naive α·(+0) + β·C gives +0. Bit-level identity is demanded between the
    // parallel and serial paths below, which share one kernel.
    assert_eq!(c.view(), expected.view(), "{}", what());
    c.assert_outside_untouched(sentinel, what);
}

/// [`check`] with freshly built operands.
fn check_layouts<T: Float>(
    f: GemmFn<T>,
    shape: (usize, usize, usize),
    (la, lb, lc): (Lay, Lay, Lay),
    ab: (f64, f64),
    expected: &Array2<T>,
    seed: usize,
) {
    let (a, b) = operands(shape, (la, lb), seed);
    check(f, (&a, &b), lc, ab, expected, seed);
}

/// The naive reference on row-major integer inputs, with C's initial values as `check_layouts`
/// makes them.
fn reference<T: Float>(
    (m, k, n): (usize, usize, usize),
    (alpha, beta): (f64, f64),
    seed: usize,
) -> Array2<T> {
    let a = Array2::from_shape_fn((m, k), |(i, j)| int_val::<T>(seed, i, j));
    let b = Array2::from_shape_fn((k, n), |(i, j)| int_val::<T>(seed + 1, i, j));
    let mut c = Array2::from_shape_fn((m, n), |(i, j)| {
        if beta == 0.0 {
            T::nan()
        } else {
            int_val::<T>(seed + 2, i, j)
        }
    });
    gemm_naive(
        T::from_f64(alpha),
        a.view(),
        b.view(),
        T::from_f64(beta),
        c.view_mut(),
    );
    c
}

const ROW: Lay = LAYOUTS[0];

// ---------------------------------------------------------------------------------------------
// Sizes 0..=12 cubed.

fn sweep_small<T: Float>() {
    let mut checked = 0;
    for m in 0..=12 {
        for k in 0..=12 {
            for n in 0..=12 {
                // Rotate α/β pairs and layouts over the sweep so every one meets many shapes.
                let case = m * 169 + k * 13 + n;
                let lay = LAYOUTS[case % LAYOUTS.len()];
                for ab in [ALPHA_BETA[case % 6], ALPHA_BETA[(case + 3) % 6]] {
                    let expected = reference::<T>((m, k, n), ab, case);
                    for f in [gemm::<T> as GemmFn<T>, gemm_serial::<T>, gemm_fallback::<T>] {
                        check_layouts(f, (m, k, n), (lay, ROW, ROW), ab, &expected, case);
                        check_layouts(f, (m, k, n), (ROW, lay, lay), ab, &expected, case);
                        checked += 2;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 13 * 13 * 13 * 12);
}

#[test]
fn all_sizes_to_12_cubed_f32() {
    sweep_small::<f32>();
}

#[test]
fn all_sizes_to_12_cubed_f64() {
    sweep_small::<f64>();
}

/// The naive loop itself reads strided and reversed views correctly: every layout gives
/// the same numbers as row-major.
#[test]
fn naive_is_layout_independent() {
    let shape = (7, 5, 6);
    let expected = reference::<f64>(shape, (2.0, -1.0), 3);
    for la in LAYOUTS {
        for lb in LAYOUTS {
            for lc in LAYOUTS {
                check_layouts(
                    gemm_naive::<f64>,
                    shape,
                    (la, lb, lc),
                    (2.0, -1.0),
                    &expected,
                    3,
                );
            }
        }
    }
}

/// A hand-worked 2×3·3×2 product, every number written out.
#[test]
fn hand_worked_example() {
    // A = [[1, 2, 3], [4, 5, 6]], B = [[7, 8], [9, 10], [11, 12]], C = [[1, 1], [1, 1]].
    // A·B = [[1·7+2·9+3·11, 1·8+2·10+3·12], [4·7+5·9+6·11, 4·8+5·10+6·12]] = [[58, 64], [139, 154]].
    // α = 2, β = −1: C = [[116−1, 128−1], [278−1, 308−1]] = [[115, 127], [277, 307]].
    let a = ndarray::arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let b = ndarray::arr2(&[[7.0f32, 8.0], [9.0, 10.0], [11.0, 12.0]]);
    for f in [
        gemm::<f32> as GemmFn<f32>,
        gemm_serial::<f32>,
        gemm_naive::<f32>,
    ] {
        let mut c = Array2::<f32>::ones((2, 2));
        f(2.0, a.view(), b.view(), -1.0, c.view_mut());
        assert_eq!(c, ndarray::arr2(&[[115.0, 127.0], [277.0, 307.0]]));
    }
}

// ---------------------------------------------------------------------------------------------
// Awkward sizes, every layout combination.

/// Every combination of A, B and C layouts (8³) for products up to this many multiply-adds;
/// above it, each operand's layout is varied with the others row-major, plus all-equal.
const ALL_COMBINATIONS_MAX_MACS: usize = 300_000;

fn awkward_all_layouts<T: Float>(sizes: &[(usize, usize, usize)]) {
    pool2().install(|| {
        for (idx, &(m, k, n)) in sizes.iter().enumerate() {
            let shape = (m, k, n);
            let ab = ALPHA_BETA[idx % ALPHA_BETA.len()];
            let expected = reference::<T>(shape, ab, idx);
            let ops: Vec<_> = LAYOUTS
                .iter()
                .map(|&l| operands::<T>(shape, (l, l), idx))
                .collect();
            let mut combos = Vec::new();
            for ia in 0..LAYOUTS.len() {
                for ib in 0..LAYOUTS.len() {
                    for ic in 0..LAYOUTS.len() {
                        let varied = [ia, ib, ic].iter().filter(|&&i| i != 0).count();
                        if m * k * n <= ALL_COMBINATIONS_MAX_MACS
                            || varied <= 1
                            || ia == ib && ib == ic
                        {
                            combos.push((ia, ib, ic));
                        }
                    }
                }
            }
            for (ia, ib, ic) in combos {
                check(
                    gemm::<T>,
                    (&ops[ia].0, &ops[ib].1),
                    LAYOUTS[ic],
                    ab,
                    &expected,
                    idx,
                );
            }
            // gemm_serial and the fallback on the diagonal of layout combinations.
            for (l, (a, b)) in LAYOUTS.iter().zip(&ops) {
                check(gemm_serial::<T>, (a, b), *l, ab, &expected, idx);
                check(gemm_fallback::<T>, (a, b), *l, ab, &expected, idx);
            }
            // β = 0 over NaN with every layout of C.
            let expected0 = reference::<T>(shape, (1.0, 0.0), idx);
            for lc in LAYOUTS {
                check(
                    gemm::<T>,
                    (&ops[0].0, &ops[0].1),
                    lc,
                    (1.0, 0.0),
                    &expected0,
                    idx,
                );
            }
        }
    });
}

/// A 2-thread pool shared by the tests that need one (building one per proptest case would
/// spend the time on thread start-up).
fn pool2() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| build_pool(2).expect("pool"))
}

#[test]
fn awkward_sizes_every_layout_f32() {
    awkward_all_layouts::<f32>(&AWKWARD);
}

#[test]
fn awkward_sizes_every_layout_f64() {
    awkward_all_layouts::<f64>(&AWKWARD);
}

#[test]
fn awkward_sizes_take_both_parallel_paths() {
    // Guards the test above: it must cover the row split, the column split and the serial path.
    let splits: Vec<Split> = AWKWARD
        .iter()
        .map(|&(m, k, n)| split_for(m, k, n))
        .collect();
    assert!(
        splits.iter().any(|s| matches!(s, Split::Rows { .. })),
        "{splits:?}"
    );
    assert!(
        splits.iter().any(|s| matches!(s, Split::Cols { .. })),
        "{splits:?}"
    );
    assert!(splits.contains(&Split::Serial), "{splits:?}");
}

// ---------------------------------------------------------------------------------------------
// The split is a function of the shape.

#[test]
fn split_follows_the_copied_operand() {
    // Only B copied: columns, so that no block copies all of B (G3′).
    assert_eq!(
        split_for_layout(1024, 1024, 1024, false, true),
        Split::Cols { block: 128 }
    );
    // Only A copied: rows.
    assert_eq!(
        split_for_layout(256, 64, 784, true, false),
        Split::Rows { block: 64 }
    );
    // Both: rows, each block copying its own rows of A and sharing one packed B (G4),
    // even where the shape rule would cut columns.
    assert_eq!(split_for(256, 1024, 1024), Split::Cols { block: 128 });
    assert_eq!(
        split_for_layout(256, 1024, 1024, true, true),
        Split::Rows { block: 64 }
    );
    // Neither: the shape rule.
    assert_eq!(
        split_for_layout(1024, 1024, 1024, false, false),
        split_for(1024, 1024, 1024)
    );
    // Under the threshold, or the copied side too short to cut: the shape rule.
    assert_eq!(split_for_layout(32, 784, 64, false, true), Split::Serial);
    assert_eq!(
        split_for_layout(4096, 1024, 64, false, true),
        split_for(4096, 1024, 64)
    );
}

/// A product the kernel runs with a copied B (B's rows 4 KiB apart), cut by columns: equal to
/// one serial call, bit for bit, at 1, 2 and 7 threads, and to the naive loop on integers.
#[test]
fn column_split_for_a_copied_b_is_bit_identical() {
    let (m, k, n) = (300, 160, 200);
    let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
    // B is a (k, n) view into a (k, 1100) parent: its row stride is 1100 floats.
    let parent = Array2::from_shape_fn((k, 1100), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
    let b = parent.slice(ndarray::s![.., ..n]);
    let copies = glassbox_core::gemm::kernel::Scratch::for_product::<f32>(
        k,
        n,
        a.strides()[0],
        a.strides()[1],
        b.strides()[0],
        b.strides()[1],
    );
    if copies.b_bytes == 0 {
        // Our kernel does not run here (matrixmultiply does, and copies nothing of its own).
        eprintln!("column_split_for_a_copied_b_is_bit_identical: SKIPPED: no kernel ISA active");
        return;
    }
    assert_eq!(copies.a_bytes, 0);
    assert!(matches!(
        split_for_layout(m, k, n, false, true),
        Split::Cols { .. }
    ));
    let mut want = Array2::<f32>::zeros((m, n));
    gemm_naive(1.0, a.view(), b, 0.0, want.view_mut());
    let mut serial = Array2::<f32>::zeros((m, n));
    gemm_serial(1.0, a.view(), b, 0.0, serial.view_mut());
    assert_eq!(serial, want);
    for threads in [1, 2, 7] {
        let pool = glassbox_core::build_pool(threads).expect("pool");
        let mut c = Array2::<f32>::zeros((m, n));
        pool.install(|| gemm(1.0, a.view(), b, 0.0, c.view_mut()));
        assert_eq!(c, want, "{threads} threads");
    }
}

/// A product whose kernel copies both operands (A's k-stride and B's row stride 1100
/// elements), cut by rows with one packed B shared by the blocks (G4): bit-identical to one
/// serial call at 1, 2 and 7 threads on random values, with α/β, in f32 and f64; and equal to
/// the naive loop on integers.
fn row_split_sharing_a_packed_b_is_bit_identical<T: Float>() {
    let (m, k, n) = (300, 160, 200);
    let a_parent = normal_matrix::<T>(31, (k, 1100));
    let b_parent = normal_matrix::<T>(32, (k, 1100));
    let a = a_parent.t();
    let a = a.slice(s![..m, ..]);
    let b = b_parent.slice(s![.., ..n]);
    let copies = glassbox_core::gemm::kernel::Scratch::for_product::<T>(
        k,
        n,
        a.strides()[0],
        a.strides()[1],
        b.strides()[0],
        b.strides()[1],
    );
    if copies.a_bytes == 0 || copies.b_bytes == 0 {
        eprintln!("row_split_sharing_a_packed_b: SKIPPED: no kernel ISA active");
        return;
    }
    assert_eq!(
        split_for_layout(m, k, n, true, true),
        Split::Rows { block: 64 }
    );
    let (alpha, beta) = (T::from_f64(0.75), T::from_f64(-1.5));
    let c0 = normal_matrix::<T>(33, (m, n));
    let mut serial = c0.clone();
    gemm_serial(alpha, a, b, beta, serial.view_mut());
    for threads in [1, 2, 7] {
        let pool = build_pool(threads).expect("pool");
        let mut c = c0.clone();
        pool.install(|| gemm(alpha, a, b, beta, c.view_mut()));
        assert_eq!(
            bits(c.view()),
            bits(serial.view()),
            "{} at {threads} threads",
            T::NAME
        );
    }
    // On integers the result is exact, so it equals the naive loop.
    let ints =
        |rows, cols, salt| Array2::from_shape_fn((rows, cols), |(i, j)| int_val::<T>(salt, i, j));
    let (ai, bi) = (ints(k, 1100, 1), ints(k, 1100, 2));
    let (ai, bi) = (ai.t(), bi.slice(s![.., ..n]));
    let ai = ai.slice(s![..m, ..]);
    let mut want = Array2::<T>::zeros((m, n));
    gemm_naive(T::one(), ai, bi, T::zero(), want.view_mut());
    let mut got = Array2::<T>::from_elem((m, n), T::from_f64(f64::NAN));
    build_pool(2)
        .expect("pool")
        .install(|| gemm(T::one(), ai, bi, T::zero(), got.view_mut()));
    assert_eq!(got, want);
}

#[test]
fn row_split_sharing_a_packed_b_is_bit_identical_f32() {
    row_split_sharing_a_packed_b_is_bit_identical::<f32>();
}

#[test]
fn row_split_sharing_a_packed_b_is_bit_identical_f64() {
    row_split_sharing_a_packed_b_is_bit_identical::<f64>();
}

#[test]
fn split_rule() {
    // Under the threshold: serial, whatever the shape.
    assert_eq!(split_for(1, 1, 1), Split::Serial);
    assert_eq!(split_for(0, 100_000, 100_000), Split::Serial);
    assert_eq!(split_for(32, 784, 64), Split::Serial);
    // Longer side of C fits one block: serial.
    assert_eq!(split_for(64, 100_000, 64), Split::Serial);
    // A shard's weight gradient of the 784-64 layer (T11: 32 rows; 1.6 M multiply-adds) is
    // split: at 2²¹ it ran on one thread while the other waited (notes/gemm.md §3).
    assert_eq!(split_for(64, 32, 784), Split::Cols { block: 128 });
    // Rows when C is tall (or square), columns when C is wide.
    assert_eq!(split_for(1024, 1024, 1024), Split::Rows { block: 128 });
    assert_eq!(split_for(784, 256, 64), Split::Rows { block: 128 });
    assert_eq!(split_for(256, 784, 64), Split::Rows { block: 64 });
    assert_eq!(split_for(64, 4096, 4096), Split::Cols { block: 512 });
    assert_eq!(split_for(256, 64, 784), Split::Cols { block: 128 });
    for (m, k, n) in [
        (100, 300, 100),
        (5000, 1, 3000),
        (129, 1000, 7),
        (64, 64, 1 << 20),
    ] {
        let macs = m * k * n;
        match split_for(m, k, n) {
            Split::Serial => assert!(macs < PARALLEL_MIN_MACS || m.max(n) <= MIN_BLOCK),
            Split::Rows { block } | Split::Cols { block } => {
                let len = m.max(n);
                assert!(macs >= PARALLEL_MIN_MACS);
                assert_eq!(block % MIN_BLOCK, 0);
                assert!(
                    len > block && len.div_ceil(block) <= MAX_BLOCKS,
                    "{m}x{k}x{n}: {block}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parallel == serial bit for bit, at 1, 2 and 7 threads.

/// Shapes that take the row split and the column split, with random (non-integer) values.
const PARALLEL_SHAPES: [(usize, usize, usize); 4] = [
    (300, 129, 70),
    (70, 300, 257),
    (784, 64, 64),
    (129, 513, 200),
];

fn parallel_equals_serial<T: Float>() {
    let pools: Vec<_> = [1, 2, 7]
        .iter()
        .map(|&t| build_pool(t).expect("pool"))
        .collect();
    for (idx, &(m, k, n)) in PARALLEL_SHAPES.iter().enumerate() {
        assert_ne!(
            split_for(m, k, n),
            Split::Serial,
            "{m}x{k}x{n} must take the parallel path"
        );
        let seed = idx as u64 * 10;
        let a = normal_matrix::<T>(seed, (m, k));
        let b = normal_matrix::<T>(seed + 1, (k, n));
        let c0 = normal_matrix::<T>(seed + 2, (m, n));
        let (alpha, beta) = (T::from_f64(0.7), T::from_f64(-1.3));
        let mut serial = c0.clone();
        gemm_serial(alpha, a.view(), b.view(), beta, serial.view_mut());
        for pool in &pools {
            let mut par = c0.clone();
            pool.install(|| gemm(alpha, a.view(), b.view(), beta, par.view_mut()));
            assert_eq!(
                bits(par.view()),
                bits(serial.view()),
                "{} {m}x{k}x{n} at {} threads",
                T::NAME,
                pool.current_num_threads()
            );
            // Transposed operands too.
            let (at, bt) = (a.t().to_owned(), b.t().to_owned());
            let mut par_t = c0.clone();
            pool.install(|| gemm(alpha, at.t(), bt.t(), beta, par_t.view_mut()));
            assert_eq!(
                bits(par_t.view()),
                bits(serial.view()),
                "{} {m}x{k}x{n} transposed",
                T::NAME
            );
        }
        // And the serial result is right (to rounding) against the naive loop.
        let mut naive = c0.clone();
        gemm_naive(alpha, a.view(), b.view(), beta, naive.view_mut());
        let tol = if T::NAME == "f32" { 1e-4 } else { 1e-12 };
        for (x, y) in serial.iter().zip(&naive) {
            let (x, y) = (f64_of(*x), f64_of(*y));
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()) * (k as f64).sqrt(),
                "{x} vs {y}"
            );
        }
    }
}

#[test]
fn parallel_equals_serial_at_1_2_7_threads_f32() {
    parallel_equals_serial::<f32>();
}

#[test]
fn parallel_equals_serial_at_1_2_7_threads_f64() {
    parallel_equals_serial::<f64>();
}

// ---------------------------------------------------------------------------------------------
// Allocation: the parallel path adds none to what the kernel calls themselves allocate.

fn count_allocations(pool: &rayon::ThreadPool, f: impl FnOnce() + Send) -> usize {
    pool.install(|| {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        f();
        ALLOCATIONS.load(Ordering::SeqCst) - before
    })
}

fn parallel_path_adds_no_allocation_at<T: Float>(m: usize, k: usize, n: usize) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNT_THIS_THREAD.with(|c| c.set(true)))
        .build()
        .expect("pool");
    let (block, rows) = match split_for(m, k, n) {
        Split::Rows { block } => (block, true),
        Split::Cols { block } => (block, false),
        Split::Serial => panic!("{m}x{k}x{n} must take the parallel path"),
    };
    let a = normal_matrix::<T>(1, (m, k));
    let b = normal_matrix::<T>(2, (k, n));
    let mut c = Array2::<T>::zeros((m, n));
    let one = T::one();

    // What the same blocks cost through gemm_serial, one call per block.
    let len = if rows { m } else { n };
    let serial_blocks = |c: &mut Array2<T>| {
        for start in (0..len).step_by(block) {
            let end = (start + block).min(len);
            if rows {
                let (a_blk, c_blk) = (a.slice(s![start..end, ..]), c.slice_mut(s![start..end, ..]));
                gemm_serial(one, a_blk, b.view(), one, c_blk);
            } else {
                let (b_blk, c_blk) = (b.slice(s![.., start..end]), c.slice_mut(s![.., start..end]));
                gemm_serial(one, a.view(), b_blk, one, c_blk);
            }
        }
    };
    let parallel = |c: &mut Array2<T>| gemm(one, a.view(), b.view(), one, c.view_mut());
    // Warm-up: the first calls on a fresh pool allocate once-only state (thread-locals, a
    // worker's first park). Which worker runs which block depends on timing, so every
    // worker also runs a product of its own, then all go idle and park.
    for _ in 0..2 {
        pool.install(|| serial_blocks(&mut c));
        pool.install(|| parallel(&mut c));
    }
    pool.broadcast(|_| {
        let mut own = Array2::<T>::zeros((m.min(8), n.min(8)));
        let (a8, b8) = (a.slice(s![..m.min(8), ..]), b.slice(s![.., ..n.min(8)]));
        gemm_serial(one, a8, b8, one, own.view_mut());
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _ in 0..2 {
        pool.install(|| parallel(&mut c));
    }
    // The counter sees an allocation made on a pool thread (so a zero below means zero).
    assert_eq!(
        count_allocations(&pool, || drop(std::hint::black_box(
            Vec::<u8>::with_capacity(1)
        ))),
        1,
        "the counter counts on pool threads"
    );
    for _ in 0..3 {
        let serial_allocs = count_allocations(&pool, || serial_blocks(&mut c));
        let parallel_allocs = count_allocations(&pool, || parallel(&mut c));
        // Where the kernel runs both types use it, and it reuses its buffers per thread
        // (gemm::kernel); elsewhere matrixmultiply allocates once per call.
        if glassbox_core::gemm::kernel::available_for::<T>() {
            assert_eq!(
                serial_allocs,
                0,
                "{m}x{k}x{n}: the {} kernel allocated",
                T::NAME
            );
        } else {
            assert!(
                serial_allocs >= len.div_ceil(block),
                "one packing buffer per call"
            );
        }
        assert_eq!(
            parallel_allocs,
            serial_allocs,
            "{m}x{k}x{n}: parallel gemm allocated {parallel_allocs} times, its {} blocks \
             through gemm_serial {serial_allocs} times",
            len.div_ceil(block)
        );
    }
}

/// The row split that shares one packed B (G4) allocates nothing once the pool's scratch is
/// reserved ([`reserve_scratch_in_pool`], as the MLP's workspace does): the shared buffer
/// is the calling worker's, lent and given back.
///
/// [`reserve_scratch_in_pool`]: glassbox_core::gemm::kernel::reserve_scratch_in_pool
fn shared_b_path_adds_no_allocation<T: Float>() {
    use glassbox_core::gemm::kernel::{Scratch, available_for, reserve_scratch_in_pool};
    if !available_for::<T>() {
        eprintln!("shared_b_path_adds_no_allocation: SKIPPED: no kernel ISA active");
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNT_THIS_THREAD.with(|c| c.set(true)))
        .build()
        .expect("pool");
    let (m, k, n) = (300, 160, 200);
    let (a_parent, b_parent) = (
        normal_matrix::<T>(1, (k, 1100)),
        normal_matrix::<T>(2, (k, 1100)),
    );
    let a = a_parent.t();
    let (a, b) = (a.slice(s![..m, ..]), b_parent.slice(s![.., ..n]));
    let (sa, sb) = (a.strides(), b.strides());
    let scratch = Scratch::for_product::<T>(k, n, sa[0], sa[1], sb[0], sb[1]);
    assert!(scratch.a_bytes > 0 && scratch.b_bytes > 0, "{scratch:?}");
    let mut c = Array2::<T>::zeros((m, n));
    pool.install(|| reserve_scratch_in_pool(scratch));
    pool.install(|| gemm(T::one(), a, b, T::zero(), c.view_mut()));
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _ in 0..3 {
        let allocs = count_allocations(&pool, || gemm(T::one(), a, b, T::zero(), c.view_mut()));
        assert_eq!(allocs, 0, "{} {m}x{k}x{n} sharing B", T::NAME);
    }
}

/// One test for all shapes: the counter is global to the binary, so two counting tests
/// running at once would see each other's allocations.
#[test]
fn parallel_path_adds_no_allocation() {
    parallel_path_adds_no_allocation_at::<f32>(784, 256, 64); // rows
    parallel_path_adds_no_allocation_at::<f64>(1024, 64, 100); // rows
    parallel_path_adds_no_allocation_at::<f32>(32, 256, 784); // columns
    shared_b_path_adds_no_allocation::<f32>();
    shared_b_path_adds_no_allocation::<f64>();
}

// ---------------------------------------------------------------------------------------------
// Flush-to-zero on the global pool (the one test that initialises it).

#[test]
fn init_global_pool_sets_flush_to_zero_on_workers_and_caller() {
    std::thread::spawn(|| {
        assert!(
            !flush_to_zero_enabled(),
            "a fresh thread starts with subnormals kept"
        );
        init_global_pool(Some(2)).expect("no other test in this binary uses the global pool");
        assert!(flush_to_zero_enabled(), "the caller computes too");
        let on_workers = rayon::broadcast(|_| {
            let tiny = std::hint::black_box(1e-20f32);
            (flush_to_zero_enabled(), tiny * tiny)
        });
        assert_eq!(on_workers, vec![(true, 0.0), (true, 0.0)]);
        assert!(
            init_global_pool(Some(2)).is_err(),
            "a second initialisation is refused"
        );
    })
    .join()
    .expect("test thread");
}

// ---------------------------------------------------------------------------------------------
// Shape mismatches panic, in all three entry points.

fn mismatched_inner(f: GemmFn<f32>) {
    let (a, b) = (Array2::<f32>::zeros((2, 3)), Array2::<f32>::zeros((4, 5)));
    let mut c = Array2::<f32>::zeros((2, 5));
    f(1.0, a.view(), b.view(), 0.0, c.view_mut());
}

fn mismatched_output(f: GemmFn<f32>) {
    let (a, b) = (Array2::<f32>::zeros((2, 3)), Array2::<f32>::zeros((3, 5)));
    let mut c = Array2::<f32>::zeros((5, 2));
    f(1.0, a.view(), b.view(), 0.0, c.view_mut());
}

#[test]
#[should_panic(expected = "inner dimensions differ")]
fn gemm_panics_on_inner_mismatch() {
    mismatched_inner(gemm);
}

#[test]
#[should_panic(expected = "inner dimensions differ")]
fn gemm_serial_panics_on_inner_mismatch() {
    mismatched_inner(gemm_serial);
}

#[test]
#[should_panic(expected = "inner dimensions differ")]
fn gemm_naive_panics_on_inner_mismatch() {
    mismatched_inner(gemm_naive);
}

#[test]
#[should_panic(expected = "but A·B is (2, 5)")]
fn gemm_panics_on_output_mismatch() {
    mismatched_output(gemm);
}

#[test]
#[should_panic(expected = "but A·B is (2, 5)")]
fn gemm_serial_panics_on_output_mismatch() {
    mismatched_output(gemm_serial);
}

#[test]
#[should_panic(expected = "but A·B is (2, 5)")]
fn gemm_naive_panics_on_output_mismatch() {
    mismatched_output(gemm_naive);
}

// ---------------------------------------------------------------------------------------------
// Random shapes and layouts.

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_and_layouts_match_naive(
        m in 0usize..160, k in 0usize..90, n in 0usize..160,
        la in 0usize..8, lb in 0usize..8, lc in 0usize..8,
        ab in 0usize..ALPHA_BETA.len(), seed in 0usize..1000, wide in any::<bool>(),
    ) {
        // `wide` stretches one side of C so that some cases take the parallel path.
        let (m, n) = if wide { (m, n * 4) } else { (m * 4, n) };
        let shape = (m, k, n);
        let lays = (LAYOUTS[la], LAYOUTS[lb], LAYOUTS[lc]);
        let expected = reference::<f32>(shape, ALPHA_BETA[ab], seed);
        pool2().install(|| check_layouts(gemm::<f32>, shape, lays, ALPHA_BETA[ab], &expected, seed));
        check_layouts(gemm_serial::<f32>, shape, lays, ALPHA_BETA[ab], &expected, seed);
    }
}
