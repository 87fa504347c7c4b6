//! Every vector instruction set of the GEMM kernel against its scalar twin
//! ([`Isa::Scalar`]), bit for bit (notes/gemm.md §2): the sizes and stride layouts of the
//! GEMM sweep (`gemm.rs`), the layouts whose operands the kernel copies, a whole training
//! pass (forward with dropout, backward, ∂L/∂X) of 784-64-64-1 and of a network wide enough
//! for the copying paths, and a full SGD epoch of 784-64-64-1 at 1, 2 and 7 threads, in
//! `f32` and `f64`. Values are random reals, whose sums round
//! differently in any other order, so equal bits mean the same operations in the same order.
//!
//! An instruction set this CPU lacks is reported on stderr as `SKIPPED` with the test's name
//! (`cargo test -p glassbox-core --test isa -- --nocapture` shows it); the test then proves
//! nothing about it, and says so.

mod support;

use std::sync::Mutex;

use glassbox_core::gemm::kernel::{Isa, force_isa};
use glassbox_core::gemm::{gemm_naive, gemm_serial_on};
use glassbox_core::{
    Activation, Float, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, Upstream, build_pool,
    seeded_rng,
};
use ndarray::{Array2, ArrayView2, s};
use support::{ALPHA_BETA, AWKWARD, LAYOUTS, Lay, Strided, bits, normal_matrix};

/// The vector instruction sets this CPU runs; those it lacks are printed as skipped.
fn vector_isas(test: &str) -> Vec<Isa> {
    let mut run = Vec::new();
    for isa in Isa::ALL.into_iter().filter(|&isa| isa != Isa::Scalar) {
        if isa.is_available() {
            run.push(isa);
        } else {
            eprintln!("{test}: SKIPPED on {isa}: this CPU cannot run it");
        }
    }
    eprintln!("{test}: comparing {run:?} with scalar");
    run
}

/// `C ← α·A·B + β·C` on `isa` and on the scalar twin, C in layout `lc`: the same bits,
/// and nothing outside C written. Returns the result.
fn same_as_scalar<T: Float>(
    isa: Isa,
    (a, b): (ArrayView2<T>, ArrayView2<T>),
    lc: Lay,
    (alpha, beta): (f64, f64),
    seed: u64,
) -> Array2<T> {
    let (m, n) = (a.nrows(), b.ncols());
    let c0 = normal_matrix::<T>(seed, (m, n));
    let sentinel = T::from_f64(-12345.0);
    let run = |isa| {
        let mut c = Strided::new(lc, (m, n), sentinel, |i, j| c0[[i, j]]);
        let (alpha, beta) = (T::from_f64(alpha), T::from_f64(beta));
        assert!(
            gemm_serial_on(isa, alpha, a, b, beta, c.view_mut()),
            "{isa}"
        );
        let what = || format!("{isa} {} {m}x{}x{n} C {}", T::NAME, a.ncols(), lc.name);
        c.assert_outside_untouched(sentinel, what);
        c.view().to_owned()
    };
    let want = run(Isa::Scalar);
    let got = run(isa);
    assert_eq!(
        bits(got.view()),
        bits(want.view()),
        "{isa} vs scalar, {} {m}x{}x{n}, A {:?} B {:?} C {} α={alpha} β={beta}",
        T::NAME,
        a.ncols(),
        a.strides(),
        b.strides(),
        lc.name
    );
    want
}

/// A (rows, cols) operand of random values in layout `lay`.
fn operand<T: Float>(lay: Lay, shape: (usize, usize), seed: u64) -> Strided<T> {
    let values = normal_matrix::<T>(seed, shape);
    Strided::new(lay, shape, T::nan(), |i, j| values[[i, j]])
}

/// The GEMM sweep of `gemm.rs` on random values: every size 0..=12 cubed with the layouts
/// rotating, the awkward sizes with each operand's layout varied alone and all equal, and
/// operands whose k-stride is 4 KiB or more (the outer kernel copies them).
fn gemm_sweep_equals_scalar<T: Float>(test: &str) {
    let row = LAYOUTS[0];
    for isa in vector_isas(test) {
        let mut checked = 0;
        for m in 0..=12 {
            for k in 0..=12 {
                for n in 0..=12 {
                    let case = m * 169 + k * 13 + n;
                    let lay = LAYOUTS[case % LAYOUTS.len()];
                    let ab = ALPHA_BETA[case % ALPHA_BETA.len()];
                    let seed = case as u64 * 3;
                    let (a, b) = (
                        operand::<T>(lay, (m, k), seed),
                        operand(row, (k, n), seed + 1),
                    );
                    same_as_scalar(isa, (a.view(), b.view()), row, ab, seed + 2);
                    let (a, b) = (
                        operand::<T>(row, (m, k), seed),
                        operand(lay, (k, n), seed + 1),
                    );
                    same_as_scalar(isa, (a.view(), b.view()), lay, ab, seed + 2);
                    checked += 2;
                }
            }
        }
        for (idx, &(m, k, n)) in AWKWARD.iter().enumerate() {
            let ab = ALPHA_BETA[idx % ALPHA_BETA.len()];
            let seed = 10_000 + idx as u64 * 10;
            for (ia, ib, ic) in
                (0..LAYOUTS.len()).flat_map(|l| [(l, 0, 0), (0, l, 0), (0, 0, l), (l, l, l)])
            {
                let a = operand::<T>(LAYOUTS[ia], (m, k), seed);
                let b = operand::<T>(LAYOUTS[ib], (k, n), seed + 1);
                same_as_scalar(isa, (a.view(), b.view()), LAYOUTS[ic], ab, seed + 2);
                checked += 1;
            }
        }
        // Far k-strides: A column-major in a 1100-row parent, B's rows 1100 apart.
        let (m, n) = (100, 37);
        for k in [255, 300, 600] {
            let a_far = normal_matrix::<T>(20, (k, 1100)).reversed_axes();
            let b_far = normal_matrix::<T>(21, (k, 1100));
            let (a, b) = (a_far.slice(s![..m, ..]), b_far.slice(s![.., ..n]));
            for ab in [(1.0, 0.0), (0.5, -1.5)] {
                same_as_scalar(isa, (a, b), row, ab, 22);
                checked += 1;
            }
        }
        eprintln!("{test}: {isa} equals scalar on {checked} products");
    }
}

#[test]
fn gemm_sweep_every_isa_equals_scalar_f32() {
    gemm_sweep_equals_scalar::<f32>("gemm_sweep_every_isa_equals_scalar_f32");
}

#[test]
fn gemm_sweep_every_isa_equals_scalar_f64() {
    gemm_sweep_equals_scalar::<f64>("gemm_sweep_every_isa_equals_scalar_f64");
}

/// Negative control: random values do tell summation orders apart — the kernel's bits
/// differ from the naive loop's (one sum in increasing k), so equal bits above are evidence.
#[test]
fn random_values_tell_summation_orders_apart() {
    let a = normal_matrix::<f32>(1, (32, 784));
    let b = normal_matrix::<f32>(2, (784, 64));
    let mut naive = Array2::zeros((32, 64));
    gemm_naive(1.0, a.view(), b.view(), 0.0, naive.view_mut());
    let mut scalar = Array2::zeros((32, 64));
    assert!(gemm_serial_on(
        Isa::Scalar,
        1.0,
        a.view(),
        b.view(),
        0.0,
        scalar.view_mut()
    ));
    let differ = bits(naive.view())
        .iter()
        .zip(bits(scalar.view()))
        .filter(|(x, y)| **x != *y)
        .count();
    assert!(differ > 100, "only {differ} of 2048 elements differ");
}

/// Serialises the tests that force an instruction set (a setting of the whole process) and
/// puts the default back when one ends, even by a panic.
struct Forced(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Forced {
    fn lock() -> Forced {
        static LOCK: Mutex<()> = Mutex::new(());
        Forced(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Forced {
    fn drop(&mut self) {
        force_isa(None).expect("the default is always available");
    }
}

/// The parallel row split that packs B once and shares it among its blocks (G4), on every
/// instruction set (the scalar one included) in pools of 2 and 7 threads, against one scalar
/// serial call, bit for bit: k over several chunks, n not a multiple of any panel width,
/// α/β, f32 and f64.
fn shared_b_split_equals_scalar<T: Float>(test: &str) {
    let _forced = Forced::lock();
    let (m, k, n) = (300, 600, 200);
    let a_parent = normal_matrix::<T>(40, (k, 1100));
    let b_parent = normal_matrix::<T>(41, (k, 1100));
    let a = a_parent.t();
    let (a, b) = (a.slice(s![..m, ..]), b_parent.slice(s![.., ..n]));
    let c0 = normal_matrix::<T>(42, (m, n));
    let (alpha, beta) = (T::from_f64(0.5), T::from_f64(-1.5));
    let mut want = c0.clone();
    assert!(gemm_serial_on(
        Isa::Scalar,
        alpha,
        a,
        b,
        beta,
        want.view_mut()
    ));
    let pools = [build_pool(2).expect("pool"), build_pool(7).expect("pool")];
    let mut isas = vector_isas(test);
    isas.insert(0, Isa::Scalar);
    for isa in isas {
        force_isa(Some(isa)).expect("available");
        for pool in &pools {
            let mut got = c0.clone();
            pool.install(|| glassbox_core::gemm(alpha, a, b, beta, got.view_mut()));
            assert_eq!(
                bits(got.view()),
                bits(want.view()),
                "{isa}, {} threads, {}",
                pool.current_num_threads(),
                T::NAME
            );
        }
    }
}

#[test]
fn shared_b_split_on_every_isa_equals_scalar_f32() {
    shared_b_split_equals_scalar::<f32>("shared_b_split_on_every_isa_equals_scalar_f32");
}

#[test]
fn shared_b_split_on_every_isa_equals_scalar_f64() {
    shared_b_split_equals_scalar::<f64>("shared_b_split_on_every_isa_equals_scalar_f64");
}

/// Bits of one training pass: output, logits, every parameter gradient, ∂L/∂X twice (with
/// the parameter gradients, and alone).
#[derive(Debug, PartialEq, Eq)]
struct PassBits {
    output: Vec<u64>,
    logits: Vec<u64>,
    grads: Vec<u64>,
    d_x: Vec<u64>,
    d_x_alone: Vec<u64>,
}

/// A training pass of `spec` on `n` random rows, in a 2-thread pool (so the large products
/// take the parallel GEMM), with dropout masks drawn from a fixed seed.
fn training_pass<T: Float>(spec: &MlpSpec, n: usize) -> PassBits {
    let pool = build_pool(2).expect("pool");
    pool.install(|| {
        let mut mlp = Mlp::<T>::new(spec.clone(), Init::GlorotUniform, &mut seeded_rng(5))
            .expect("valid spec");
        let x = normal_matrix::<T>(6, (n, spec.inputs));
        let d_y = normal_matrix::<T>(7, (n, spec.outputs()));
        let mut ws = mlp.workspace(n);
        let fwd = mlp.forward(x.view(), Mode::Train(&mut seeded_rng(8)), &mut ws);
        let (output, logits) = (bits(fwd.output()), bits(fwd.logits()));
        let write = GradWrite::Accumulate;
        let d_x = bits(
            mlp.backward(fwd, Upstream::DY(d_y.view()), write)
                .input_gradient(),
        );
        let grads = mlp
            .grads()
            .iter()
            .map(|&g| Float::to_f64(g).to_bits())
            .collect();
        let fwd = mlp.forward(x.view(), Mode::Train(&mut seeded_rng(8)), &mut ws);
        let d_x_alone = bits(mlp.input_gradient(fwd, Upstream::DY(d_y.view())));
        PassBits {
            output,
            logits,
            grads,
            d_x,
            d_x_alone,
        }
    })
}

/// The networks of the pass: 784-64-64-1 (ReLU with dropout, ReLU, sigmoid) and 1030-520-3
/// (its 1030-wide input makes the kernel copy B of `d_zᵀ·X` and `d_z·Θ`; 520 units copy A
/// of `d_zᵀ·X` in f64).
fn networks() -> [(MlpSpec, usize); 3] {
    let small = MlpSpec::new(
        784,
        vec![
            LayerSpec::new(64, Activation::Relu).with_dropout(0.3),
            LayerSpec::new(64, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    let wide = MlpSpec::new(
        1030,
        vec![
            LayerSpec::new(520, Activation::Tanh).with_dropout(0.5),
            LayerSpec::new(3, Activation::Softmax),
        ],
    );
    [(small.clone(), 16), (small, 256), (wide, 20)]
}

fn training_pass_equals_scalar<T: Float>(test: &str) {
    let _forced = Forced::lock();
    for (spec, n) in networks() {
        force_isa(Some(Isa::Scalar)).expect("scalar runs everywhere");
        let want = training_pass::<T>(&spec, n);
        assert!(want.grads.iter().any(|&g| f64::from_bits(g) != 0.0));
        for isa in vector_isas(test) {
            force_isa(Some(isa)).expect("available");
            let got = training_pass::<T>(&spec, n);
            assert!(
                got == want,
                "{isa} vs scalar: {} {}-… N = {n}",
                T::NAME,
                spec.inputs
            );
        }
    }
}

#[test]
fn training_pass_on_every_isa_equals_scalar_f32() {
    training_pass_equals_scalar::<f32>("training_pass_on_every_isa_equals_scalar_f32");
}

#[test]
fn training_pass_on_every_isa_equals_scalar_f64() {
    training_pass_equals_scalar::<f64>("training_pass_on_every_isa_equals_scalar_f64");
}

/// Bits of the parameters after one epoch of plain SGD on 784-64-64-1: 1024 random rows in
/// batches of 32 (the last of the 32 batches included), fused sigmoid + BCE
/// (∂L/∂Z = (ŷ − y)/N), dropout on the first layer, `θ ← θ − 0.05·∂L/∂θ` after every batch
/// — so every GEMM shape of a training run, each depending on the bits of the step before,
/// in a pool of `threads`.
fn training_epoch<T: Float>(threads: usize) -> Vec<u64> {
    let (rows, batch) = (1024, 32);
    let pool = build_pool(threads).expect("pool");
    pool.install(|| {
        let spec = &networks()[0].0;
        let mut mlp = Mlp::<T>::new(spec.clone(), Init::GlorotUniform, &mut seeded_rng(9))
            .expect("valid spec");
        let x = normal_matrix::<T>(10, (rows, spec.inputs));
        let y = normal_matrix::<T>(11, (rows, 1))
            .mapv(|v| T::from_f64(f64::from(u8::from(v > T::zero()))));
        let mut ws = mlp.workspace(batch);
        let mut dropout_rng = seeded_rng(12);
        let lr = T::from_f64(0.05);
        for b0 in (0..rows).step_by(batch) {
            let (xb, yb) = (
                x.slice(s![b0..b0 + batch, ..]),
                y.slice(s![b0..b0 + batch, ..]),
            );
            mlp.zero_grads();
            let fwd = mlp.forward(xb, Mode::Train(&mut dropout_rng), &mut ws);
            let d_z = (&fwd.output() - &yb).mapv(|v| v / T::from_f64(batch as f64));
            let _ = mlp.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Accumulate);
            let (params, grads) = mlp.params_and_grads_mut();
            for (p, &g) in params.iter_mut().zip(grads) {
                *p -= lr * g;
            }
        }
        mlp.params()
            .iter()
            .map(|&p| Float::to_f64(p).to_bits())
            .collect()
    })
}

/// A full epoch (`training_epoch`) on every instruction set at 1, 2 and 7 threads equals the
/// scalar twin's on 1 thread, bit for bit.
fn training_epoch_equals_scalar<T: Float>(test: &str) {
    let _forced = Forced::lock();
    force_isa(Some(Isa::Scalar)).expect("scalar runs everywhere");
    let want = training_epoch::<T>(1);
    let start = Mlp::<T>::new(
        networks()[0].0.clone(),
        Init::GlorotUniform,
        &mut seeded_rng(9),
    )
    .expect("valid spec");
    let moved = want
        .iter()
        .zip(start.params())
        .filter(|&(&w, &p)| w != Float::to_f64(p).to_bits())
        .count();
    assert!(
        moved > want.len() / 2,
        "the epoch moved only {moved} parameters"
    );
    for isa in [Isa::Scalar].into_iter().chain(vector_isas(test)) {
        force_isa(Some(isa)).expect("available");
        for threads in [1, 2, 7] {
            let got = training_epoch::<T>(threads);
            let differ = got.iter().zip(&want).filter(|(g, w)| g != w).count();
            assert_eq!(
                differ,
                0,
                "{isa} at {threads} threads vs scalar at 1: {} parameters of {} differ",
                T::NAME,
                want.len()
            );
        }
        eprintln!("{test}: {isa} at 1, 2 and 7 threads equals scalar");
    }
}

#[test]
fn training_epoch_on_every_isa_and_thread_count_equals_scalar_f32() {
    training_epoch_equals_scalar::<f32>(
        "training_epoch_on_every_isa_and_thread_count_equals_scalar_f32",
    );
}

#[test]
fn training_epoch_on_every_isa_and_thread_count_equals_scalar_f64() {
    training_epoch_equals_scalar::<f64>(
        "training_epoch_on_every_isa_and_thread_count_equals_scalar_f64",
    );
}

/// `force_isa` refuses nothing this CPU runs and changes nothing when it refuses.
#[test]
fn forcing_an_unavailable_isa_is_refused() {
    let _forced = Forced::lock();
    for isa in Isa::ALL {
        let before = glassbox_core::gemm::kernel::active_isa();
        match force_isa(Some(isa)) {
            Ok(()) => assert_eq!(glassbox_core::gemm::kernel::active_isa(), Some(isa)),
            Err(e) => {
                assert!(!isa.is_available(), "{e}");
                assert_eq!(glassbox_core::gemm::kernel::active_isa(), before);
            }
        }
    }
}
