//! The kernel's own tests, each run on every instruction set this CPU has (and reported as
//! skipped, by name, for one it lacks) and for `f32` and `f64`.

use super::*;
use crate::gemm::gemm_serial_on;
use crate::gemm_naive;
use ndarray::{Array2, ShapeBuilder};

/// Small integers: every product and partial sum is exact in f32 (and f64), so any
/// summation order gives the naive loop's value exactly.
fn ints<T: Float>(rows: usize, cols: usize, salt: usize, col_major: bool) -> Array2<T> {
    let f = |(i, j): (usize, usize)| T::from_f64(((i * 7 + j * 5 + salt * 3) % 11) as f64 - 5.0);
    if col_major {
        Array2::from_shape_fn((rows, cols).f(), f)
    } else {
        Array2::from_shape_fn((rows, cols), f)
    }
}

/// The instruction sets this CPU runs; the others are reported as skipped, with the test's
/// name (visible with `--nocapture`), so a pass on a CPU without them is not mistaken for
/// a pass on them.
fn isas(test: &str) -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_available();
            if !ok {
                eprintln!("{test}: SKIPPED on {isa}: this CPU cannot run it");
            }
            ok
        })
        .collect()
}

fn t<T: Float>(x: f64) -> T {
    T::from_f64(x)
}

/// Fast against naive over sizes around the tile edges (of every instruction set's tiles), both
/// kernels, every A/B/C order, β = 0 (C starts NaN) and β ≠ 0.
fn both_kernels_equal_naive_on_integers<T: Float>(isa: Isa) {
    let ms = [1, 2, 3, 5, 6, 7, 13, 14, 29, 50, 97];
    let ns = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33];
    let ks = [0, 1, 3, 4, 5, 7, 8, 9, 127, 128, 131];
    let mut dot_cases = 0;
    for &m in &ms {
        for &n in &ns {
            for &k in &ks {
                for lay in 0..8 {
                    let (ca, cb, cc) = (lay & 1 == 1, lay & 2 == 2, lay & 4 == 4);
                    let a = ints::<T>(m, k, 1, ca);
                    let b = ints::<T>(k, n, 2, cb);
                    for (alpha, beta) in [(1.0, 0.0), (-2.0, 0.5)] {
                        let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
                        let init = ints::<T>(m, n, 3, cc);
                        let mut want = init.clone();
                        gemm_naive(alpha, a.view(), b.view(), beta, want.view_mut());
                        let mut got = init.clone();
                        if beta == T::zero() {
                            got.fill(T::nan());
                        }
                        assert!(gemm_serial_on(
                            isa,
                            alpha,
                            a.view(),
                            b.view(),
                            beta,
                            got.view_mut()
                        ));
                        assert_eq!(
                            got,
                            want,
                            "{isa} {} {m}x{k}x{n} layout {lay} α={alpha} β={beta}",
                            T::NAME
                        );
                        let s = (a.strides(), b.strides());
                        if uses_dot(k, s.0[0], s.0[1], s.1[0], s.1[1]) {
                            dot_cases += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(dot_cases > 100, "the dot kernel ran {dot_cases} times");
}

#[test]
fn both_kernels_equal_naive_on_integers_f32() {
    for isa in isas("both_kernels_equal_naive_on_integers_f32") {
        both_kernels_equal_naive_on_integers::<f32>(isa);
    }
}

#[test]
fn both_kernels_equal_naive_on_integers_f64() {
    for isa in isas("both_kernels_equal_naive_on_integers_f64") {
        both_kernels_equal_naive_on_integers::<f64>(isa);
    }
}

/// The outer kernel's other paths: k in several chunks (k > `outer_kc`, 64 to 512), more than one
/// block of rows (m > OUTER_MC), and A and B copied because their k-strides are 4 KiB
/// or more — each against naive, on integers.
fn outer_kernel_chunks_and_copies_equal_naive<T: Float>(isa: Isa) {
    let (m, n) = (100, 37);
    for k in [255, 256, 257, 600] {
        // Wide parents, so the views' k-strides are 1100 ≥ 1024 ≥ far.
        let a_far = ints::<T>(1100, k, 1, true);
        let b_far = ints::<T>(k, 1100, 2, false);
        let a_near = ints::<T>(m, k, 1, true);
        let b_near = ints::<T>(k, n, 2, false);
        let a_far = a_far.slice(ndarray::s![..m, ..]);
        let b_far = b_far.slice(ndarray::s![.., ..n]);
        assert!(
            a_far.strides()[1] as usize >= far::<T>() && b_far.strides()[0] as usize >= far::<T>()
        );
        for (a, b) in [
            (a_far, b_far),
            (a_far, b_near.view()),
            (a_near.view(), b_far),
            (a_near.view(), b_near.view()),
        ] {
            let s = (a.strides(), b.strides());
            assert!(!uses_dot(k, s.0[0], s.0[1], s.1[0], s.1[1]));
            for (alpha, beta) in [(1.0, 0.0), (2.0, -1.0)] {
                let (alpha, beta) = (t::<T>(alpha), t::<T>(beta));
                let init = ints::<T>(m, n, 3, false);
                let mut want = init.clone();
                gemm_naive(alpha, a, b, beta, want.view_mut());
                let mut got = init.clone();
                assert!(gemm_serial_on(isa, alpha, a, b, beta, got.view_mut()));
                assert_eq!(
                    got, want,
                    "{isa}: k = {k}, strides {s:?}, α={alpha} β={beta}"
                );
            }
        }
    }
}

#[test]
fn outer_kernel_chunks_and_copies_equal_naive_f32() {
    for isa in isas("outer_kernel_chunks_and_copies_equal_naive_f32") {
        outer_kernel_chunks_and_copies_equal_naive::<f32>(isa);
    }
}

#[test]
fn outer_kernel_chunks_and_copies_equal_naive_f64() {
    for isa in isas("outer_kernel_chunks_and_copies_equal_naive_f64") {
        outer_kernel_chunks_and_copies_equal_naive::<f64>(isa);
    }
}

/// Negative control: a wrong result is caught (the comparison is not vacuous).
fn a_perturbed_operand_is_detected<T: Float>(isa: Isa) {
    let a = ints::<T>(7, 130, 1, false);
    let b = ints::<T>(130, 5, 2, true);
    let mut want = Array2::zeros((7, 5));
    gemm_naive(T::one(), a.view(), b.view(), T::zero(), want.view_mut());
    let mut bad = b.clone();
    bad[[129, 4]] += T::one(); // the masked tail of the dot kernel (130 = 16·8 + 2 = 32·4 + 2)
    let mut got = Array2::zeros((7, 5));
    assert!(gemm_serial_on(
        isa,
        T::one(),
        a.view(),
        bad.view(),
        T::zero(),
        got.view_mut()
    ));
    assert_ne!(got, want);
    assert!((0..7).all(|i| got[[i, 4]] - want[[i, 4]] == a[[i, 129]]));
}

#[test]
fn a_perturbed_operand_is_detected_f32() {
    for isa in isas("a_perturbed_operand_is_detected_f32") {
        a_perturbed_operand_is_detected::<f32>(isa);
    }
}

#[test]
fn a_perturbed_operand_is_detected_f64() {
    for isa in isas("a_perturbed_operand_is_detected_f64") {
        a_perturbed_operand_is_detected::<f64>(isa);
    }
}

/// Both kernels on real-valued data: within rounding (`tol`) of the f64 product, and
/// bit-identical whether C is computed whole or in two row blocks (what the parallel
/// GEMM does).
fn blocks_of_c_are_bit_identical_to_the_whole<T: Float>(isa: Isa, tol: f64) {
    let real = |rows, cols, salt: f64| {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            T::from_f64(((i as f64 * 0.37 + j as f64 * 0.11 + salt).sin()) * 0.5)
        })
    };
    for (x, theta_t) in [
        (real(50, 784, 0.3), real(64, 784, 1.1).reversed_axes()),
        (real(50, 64, 0.3), real(64, 64, 1.1).reversed_axes()),
    ] {
        let mut whole = Array2::zeros((50, 64));
        assert!(gemm_serial_on(
            isa,
            T::one(),
            x.view(),
            theta_t.view(),
            T::zero(),
            whole.view_mut()
        ));
        let mut parts = Array2::zeros((50, 64));
        let (top, bottom) = parts.view_mut().split_at(ndarray::Axis(0), 19);
        let (xt, xb) = x.view().split_at(ndarray::Axis(0), 19);
        assert!(gemm_serial_on(
            isa,
            T::one(),
            xt,
            theta_t.view(),
            T::zero(),
            top
        ));
        assert!(gemm_serial_on(
            isa,
            T::one(),
            xb,
            theta_t.view(),
            T::zero(),
            bottom
        ));
        let bits = |c: &Array2<T>| {
            c.iter()
                .map(|&v| Float::to_f64(v).to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&whole), bits(&parts));
        let exact = x.mapv(Float::to_f64).dot(&theta_t.mapv(Float::to_f64));
        let err = (&whole.mapv(Float::to_f64) - &exact)
            .iter()
            .fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(err < tol, "{isa} {}: max error {err:e}", T::NAME);
    }
}

#[test]
fn blocks_of_c_are_bit_identical_to_the_whole_f32() {
    for isa in isas("blocks_of_c_are_bit_identical_to_the_whole_f32") {
        blocks_of_c_are_bit_identical_to_the_whole::<f32>(isa, 1e-4);
    }
}

#[test]
fn blocks_of_c_are_bit_identical_to_the_whole_f64() {
    for isa in isas("blocks_of_c_are_bit_identical_to_the_whole_f64") {
        blocks_of_c_are_bit_identical_to_the_whole::<f64>(isa, 1e-12);
    }
}

/// The layouts of the outer kernel's copy paths, and one of the dot kernel.
fn copy_cases<T: Float>() -> Vec<(Array2<T>, Array2<T>, bool, bool)> {
    let (m, n, k) = (20, 37, 300);
    vec![
        // A column-major with near columns (not the dot kernel), B column-major: B
        // copied (its rows are not contiguous).
        (ints(m, k, 1, true), ints(k, n, 2, true), false, true),
        // A's k-stride 1100 ≥ far (column-major, 1100 rows), B rows 1100 apart: both.
        (ints(1100, k, 1, true), ints(k, 1100, 2, false), true, true),
        // Row-major B with near rows: nothing copied.
        (ints(m, k, 1, true), ints(k, n, 2, false), false, false),
        // The dot kernel: nothing copied.
        (ints(m, k, 1, false), ints(k, n, 2, true), false, false),
    ]
}

/// [`Scratch::for_product`] is what the kernel then uses (on any instruction set: they all
/// copy alike — [`scratch::kernel_scratch`] is its answer whatever [`active_isa`] says):
/// after reserving it on a fresh thread, the product leaves the thread's buffers as they
/// were; without the reserve, the copying products grow them (negative control).
fn scratch_covers_the_product<T: Float>(isa: Isa) {
    for (a, b, want_a, want_b) in copy_cases::<T>() {
        let (a, b) = (
            a.slice(ndarray::s![..20, ..]),
            b.slice(ndarray::s![.., ..37]),
        );
        let s = scratch::kernel_scratch::<T>(
            a.ncols(),
            b.ncols(),
            a.strides()[0],
            a.strides()[1],
            b.strides()[0],
            b.strides()[1],
        );
        assert_eq!((s.a_bytes > 0, s.b_bytes > 0), (want_a, want_b), "{s:?}");
        std::thread::scope(|sc| {
            sc.spawn(|| {
                reserve_scratch(s);
                let before = reserved_scratch();
                assert!(before.a_bytes >= s.a_bytes && before.b_bytes >= s.b_bytes);
                let mut c = Array2::zeros((20, 37));
                assert!(gemm_serial_on(isa, T::one(), a, b, T::zero(), c.view_mut()));
                assert_eq!(reserved_scratch(), before, "{s:?}");
            });
            sc.spawn(|| {
                assert_eq!(reserved_scratch(), Scratch::default());
                let mut c = Array2::zeros((20, 37));
                assert!(gemm_serial_on(isa, T::one(), a, b, T::zero(), c.view_mut()));
                let grown = reserved_scratch();
                assert_eq!((grown.a_bytes > 0, grown.b_bytes > 0), (want_a, want_b));
            });
        });
    }
}

#[test]
fn scratch_covers_the_product_f32() {
    for isa in isas("scratch_covers_the_product_f32") {
        scratch_covers_the_product::<f32>(isa);
    }
}

#[test]
fn scratch_covers_the_product_f64() {
    for isa in isas("scratch_covers_the_product_f64") {
        scratch_covers_the_product::<f64>(isa);
    }
}

/// [`reserve_scratch_in_pool`] inside a pool reserves on every worker (a fresh pool holds
/// nothing); outside any pool, on the calling thread.
#[test]
fn reserve_in_pool_reaches_every_worker() {
    let s = Scratch {
        a_bytes: 5000,
        b_bytes: 70_000,
    };
    let pool = crate::build_pool(3).expect("pool");
    assert_eq!(
        pool.broadcast(|_| reserved_scratch()),
        vec![Scratch::default(); 3],
        "negative control: a fresh pool holds nothing"
    );
    pool.install(|| reserve_scratch_in_pool(s));
    let held = pool.broadcast(|_| reserved_scratch());
    assert!(
        held.iter()
            .all(|h| h.a_bytes >= s.a_bytes && h.b_bytes >= s.b_bytes),
        "{held:?}"
    );
    std::thread::scope(|sc| {
        sc.spawn(|| {
            reserve_scratch_in_pool(s);
            assert_eq!(
                reserved_scratch(),
                Scratch {
                    a_bytes: 8192,
                    b_bytes: 131_072
                },
                "the calling thread, in powers of two"
            );
        });
    });
}

/// [`ISA_ENV`]: unset or empty keeps the CPU's default; a name picks its instruction set; an
/// unknown name, or one this CPU lacks, is refused with the reason.
#[test]
fn the_environment_variable_picks_the_instruction_set() {
    use std::env::VarError;
    let set = |v: &str| Ok(v.to_string());
    // CPUs: every instruction set, AVX2 but not AVX-512, none but the scalar path.
    let all = |_: Isa| true;
    let avx2 = |isa: Isa| isa != Isa::Avx512;
    let none = |isa: Isa| isa == Isa::Scalar;
    assert_eq!(
        isa_choice(Err(VarError::NotPresent), all),
        Ok(Some(Isa::Avx512))
    );
    assert_eq!(
        isa_choice(Err(VarError::NotPresent), avx2),
        Ok(Some(Isa::Avx2))
    );
    assert_eq!(isa_choice(Err(VarError::NotPresent), none), Ok(None));
    assert_eq!(isa_choice(set(""), avx2), Ok(Some(Isa::Avx2)));
    assert_eq!(isa_choice(set("scalar"), all), Ok(Some(Isa::Scalar)));
    assert_eq!(isa_choice(set("scalar"), none), Ok(Some(Isa::Scalar)));
    assert_eq!(isa_choice(set("avx2"), all), Ok(Some(Isa::Avx2)));
    assert_eq!(isa_choice(set("avx512"), all), Ok(Some(Isa::Avx512)));
    assert_eq!(
        isa_choice(set("avx2"), none),
        Err("GLASSBOX_ISA=avx2: this CPU cannot run the avx2 kernel".to_string())
    );
    assert_eq!(
        isa_choice(set("avx512"), avx2),
        Err("GLASSBOX_ISA=avx512: this CPU cannot run the avx512 kernel".to_string())
    );
    assert_eq!(
        isa_choice(set("avx1024"), all),
        Err("GLASSBOX_ISA=\"avx1024\": expected one of scalar, avx2, avx512".to_string())
    );
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
}

/// [`with_packed_b`] packs only for a layout the outer kernel copies B in, lends the
/// thread's shared buffer once (a sharing product nested in another on the same thread gets
/// `None` and copies its own B) and gets it back afterwards; the packed panels computed
/// through [`gemm_packed_b`] give the serial call's bits.
#[test]
fn shared_b_buffer_is_lent_once_and_given_back() {
    let (m, k, n) = (20, 300, 100);
    let a = ints::<f32>(m, k, 1, true); // column-major: k-stride m
    let b = ints::<f32>(k, 1100, 2, false); // rows 1100 apart: copied
    let (csa, far_b, near_b) = (
        m as isize,
        (b.as_ptr(), 1100, 1),
        (b.as_ptr(), 1, k as isize),
    );
    for isa in isas("shared_b_buffer_is_lent_once_and_given_back") {
        let mut want = Array2::<f32>::zeros((m, n));
        let bv = b.slice(ndarray::s![.., ..n]);
        assert!(gemm_serial_on(isa, 1.0, a.view(), bv, 0.0, want.view_mut()));
        // SAFETY: `b` is a valid (k, 1100) matrix, so its first n columns and its transpose's
        // leading (k, n) block are valid too; nothing writes it.
        unsafe {
            with_packed_b(isa, k, n, csa, far_b, |outer| {
                let packed = outer.expect("a far B is packed");
                with_packed_b(isa, k, n, csa, far_b, |inner| assert!(inner.is_none()));
                let mut got = Array2::<f32>::zeros((m, n));
                let c = got.as_mut_ptr();
                gemm_packed_b(m, 1.0, a.as_ptr(), 1, csa, packed, 0.0, c, n as isize, 1);
                assert_eq!(got, want, "{isa}");
            });
            with_packed_b(isa, k, n, csa, far_b, |again| assert!(again.is_some()));
            // B read in place by the outer kernel, or a dot-kernel layout: nothing to share.
            with_packed_b(isa, k, n, csa, (b.as_ptr(), n as isize, 1), |p| {
                assert!(p.is_none())
            });
            with_packed_b(isa, k, n, 1, near_b, |p| assert!(p.is_none()));
        }
    }
}

/// The dot kernel's blocks (`tuning::dot_block_rows`): whole tiles, at most `DOT_MC` rows,
/// the fewest blocks that cover m, and no block shorter than a tile below the others.
#[test]
fn dot_blocks_are_few_even_and_whole_tiles() {
    use crate::gemm::tuning::{DOT_MC, dot_block_rows};
    assert_eq!((dot_block_rows(256, 6), dot_block_rows(512, 6)), (66, 66));
    for tr in [1, 3, 6] {
        let cap = DOT_MC / tr * tr;
        for m in 0..400 {
            let mc = dot_block_rows(m, tr);
            assert!(
                mc > 0 && mc.is_multiple_of(tr) && mc <= cap,
                "m {m} tr {tr}: {mc}"
            );
            let blocks = m.div_ceil(mc);
            assert_eq!(blocks, m.div_ceil(cap), "m {m} tr {tr}: {mc} rows a block");
            // The last block is at most one tile per block shorter than the others.
            if blocks > 1 {
                assert!(
                    m - (blocks - 1) * mc + blocks * tr >= mc,
                    "m {m} tr {tr}: {mc}"
                );
            }
        }
    }
}
