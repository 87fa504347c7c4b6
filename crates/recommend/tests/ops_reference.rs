//! The embedding lookup (K12–K13), the MF score (K14) and BPR (K15): PyTorch float64
//! autograd values, an f64 gradient check with a negative control, the golden Adam run of
//! `Mf::step` (PyTorch float32), and bit-identity of the scatter-add at 1, 2 and 7 threads.
//! Fixture: tests/reference/ops_fixtures.json from tests/reference/make_ops_fixtures.py.

use glassbox_core::gradcheck::{GradcheckConfig, check_tensor};
use glassbox_core::{build_pool, seeded_rng};
use glassbox_recommend::embedding::{embedding_backward, embedding_backward_naive};
use glassbox_recommend::mf::{Mf, bpr_loss_and_grad};
use glassbox_train::batching::uniform_below;
use glassbox_train::optim::{Optimizer, OptimizerConfig, WeightDecay};
use serde::Deserialize;

#[derive(Deserialize)]
struct Adam {
    lr: f64,
    weight_decay: f64,
    losses: Vec<f64>,
    params: Vec<f64>,
}

#[derive(Deserialize)]
struct Fixture {
    users: usize,
    items: usize,
    dim: usize,
    p: Vec<f64>,
    q: Vec<f64>,
    b: Vec<f64>,
    triples: Vec<(u32, u32, u32)>,
    loss: f64,
    d_p: Vec<f64>,
    d_q: Vec<f64>,
    d_b: Vec<f64>,
    adam: Adam,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("reference/ops_fixtures.json")).expect("fixture")
}

/// θ = [P | Q | b] → (L, dL/dθ) in f64 (K12–K15).
fn loss_and_grad(f: &Fixture, theta: &[f64]) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; theta.len()];
    let loss = bpr_loss_and_grad(theta, f.users, f.dim, &f.triples, &mut grad);
    (loss, grad)
}

fn theta(f: &Fixture) -> Vec<f64> {
    f.p.iter().chain(&f.q).chain(&f.b).copied().collect()
}

#[test]
fn loss_and_every_gradient_match_pytorch_float64() {
    let f = fixture();
    let (loss, grad) = loss_and_grad(&f, &theta(&f));
    assert!((loss - f.loss).abs() < 1e-14, "{loss} vs {}", f.loss);
    let expected: Vec<f64> = f.d_p.iter().chain(&f.d_q).chain(&f.d_b).copied().collect();
    for (k, (a, e)) in grad.iter().zip(&expected).enumerate() {
        assert!((a - e).abs() < 1e-14, "θ[{k}]: {a} vs {e}");
    }
    // Item 1 is a positive three times and a negative once: its rows were summed.
    assert!(expected[f.users * f.dim + f.dim] != 0.0);
}

#[test]
fn gradient_check_f64_passes_and_a_wrong_gradient_fails() {
    let f = fixture();
    let mut point = theta(&f);
    let (_, analytic) = loss_and_grad(&f, &point);
    let config = GradcheckConfig::default();
    let report = check_tensor("theta", &mut point, &analytic, &config, |t| {
        loss_and_grad(&f, t).0
    });
    assert!(report.passed(), "{report:?}");
    // Negative control: the gradient of one Q entry off by 1 %.
    let mut wrong = analytic.clone();
    wrong[f.users * f.dim + 4] *= 1.01;
    let report = check_tensor("theta", &mut point, &wrong, &config, |t| {
        loss_and_grad(&f, t).0
    });
    assert!(!report.passed(), "a wrong gradient passed");
}

#[test]
fn three_adam_steps_of_mf_match_pytorch_float32() {
    let f = fixture();
    let mut model = Mf {
        users: f.users,
        items: f.items,
        dim: f.dim,
        params: theta(&f).iter().map(|&x| x as f32).collect(),
    };
    let config = OptimizerConfig::adam_torch(f.adam.lr)
        .with_weight_decay(WeightDecay::L2(f.adam.weight_decay));
    let mut opt = Optimizer::new(config, model.params.len()).unwrap();
    let mut grads = vec![0.0; model.params.len()];
    for expected in &f.adam.losses {
        let loss = model.step(&f.triples, &mut grads, &mut opt);
        assert!(
            (f64::from(loss) - expected).abs() < 1e-6,
            "{loss} vs {expected}"
        );
    }
    for (k, (a, e)) in model.params.iter().zip(&f.adam.params).enumerate() {
        assert!((f64::from(*a) - e).abs() < 1e-5, "θ[{k}]: {a} vs {e}");
    }
}

#[test]
fn scatter_add_is_bit_identical_at_1_2_and_7_threads_and_equals_the_naive_pass() {
    // 1,000 rows × 8 (four row blocks), 5,000 ids with many repeats, f32 gradients.
    let (v, d, n) = (1000usize, 8usize, 5000usize);
    let mut rng = seeded_rng(7);
    let ids: Vec<u32> = (0..n)
        .map(|_| uniform_below(&mut rng, v as u64) as u32)
        .collect();
    let d_out: Vec<f32> = (0..n * d)
        .map(|_| uniform_below(&mut rng, 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let run = |threads| {
        let mut d_table = vec![0.0f32; v * d];
        build_pool(threads)
            .unwrap()
            .install(|| embedding_backward(&d_out, &ids, d, &mut d_table));
        d_table
    };
    let one = run(1);
    let mut naive = vec![0.0f32; v * d];
    embedding_backward_naive(&d_out, &ids, d, &mut naive);
    assert_eq!(one, naive);
    assert!(one.iter().any(|&x| x != 0.0));
    let bits = |t: &[f32]| t.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&one), bits(&run(2)));
    assert_eq!(bits(&one), bits(&run(7)));
}
