//! Same seed → bit-identical outputs and gradients at 1, 2 and 7 threads.
//!
//! N = 1024 rows through 784-256-256-1 takes every parallel path: GEMM row blocks
//! (1024·784·256 multiply-adds), row-parallel bias + activation and activation-backward
//! passes (1024·256 elements ≥ `PAR_MIN_ELEMS`). Threads own disjoint rows or blocks of
//! outputs and never split a sum, and dropout masks are drawn on the calling thread, so the
//! thread count cannot change a bit.

use glassbox_core::init::uniform01;
use glassbox_core::{
    Activation, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, Upstream, seeded_rng,
};
use ndarray::Array2;

/// Everything one step produces, as bits: output, logits, parameter gradients, ∂L/∂X.
#[derive(Debug, PartialEq, Eq)]
struct Bits {
    output: Vec<u32>,
    logits: Vec<u32>,
    grads: Vec<u32>,
    d_x: Vec<u32>,
}

fn step(threads: usize) -> Bits {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        assert_eq!(rayon::current_num_threads(), threads);
        let spec = MlpSpec::new(
            784,
            vec![
                LayerSpec::new(256, Activation::Relu).with_dropout(0.3),
                LayerSpec::new(256, Activation::Tanh).with_dropout(0.1),
                LayerSpec::new(1, Activation::Sigmoid),
            ],
        );
        let mut mlp =
            Mlp::<f32>::new(spec, Init::HeUniform, &mut seeded_rng(17)).expect("valid spec");
        let mut data_rng = seeded_rng(18);
        let x = Array2::from_shape_simple_fn((1024, 784), || {
            (2.0 * uniform01(&mut data_rng) - 1.0) as f32
        });
        let y = Array2::from_shape_simple_fn((1024, 1), || {
            if uniform01(&mut data_rng) < 0.3 {
                1.0_f32
            } else {
                0.0
            }
        });
        let mut ws = mlp.workspace(1024);
        let mut rng = seeded_rng(19);
        let fwd = mlp.forward(x.view(), Mode::Train(&mut rng), &mut ws);
        let output: Vec<u32> = fwd.output().iter().map(|v| v.to_bits()).collect();
        let logits: Vec<u32> = fwd.logits().iter().map(|v| v.to_bits()).collect();
        // Fused sigmoid + BCE: ∂L/∂Z = (ŷ − y)/N.
        let d_z = (&fwd.output() - &y) / 1024.0;
        let d_x = mlp
            .backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Accumulate)
            .input_gradient();
        let d_x: Vec<u32> = d_x.iter().map(|v| v.to_bits()).collect();
        Bits {
            output,
            logits,
            grads: mlp.grads().iter().map(|v| v.to_bits()).collect(),
            d_x,
        }
    })
}

#[test]
fn bit_identical_at_1_2_and_7_threads() {
    let one = step(1);
    assert!(one.grads.iter().any(|&g| f32::from_bits(g) != 0.0));
    assert!(one.d_x.iter().all(|&g| f32::from_bits(g).is_finite()));
    for threads in [2, 7] {
        let other = step(threads);
        assert!(
            other.output == one.output,
            "output differs at {threads} threads"
        );
        assert!(
            other.logits == one.logits,
            "logits differ at {threads} threads"
        );
        assert!(
            other.grads == one.grads,
            "gradients differ at {threads} threads"
        );
        assert!(other.d_x == one.d_x, "dL/dX differs at {threads} threads");
    }
}
