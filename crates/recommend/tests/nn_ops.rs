//! The ops of the YouTube-DNN-style model: pooling (K30–K31), scoring against the item table
//! with the full softmax (K32–K33), the sampled softmax with log-Q (K34), lazy Adam (K35).
//! Each: PyTorch float64 values (fixture tests/reference/nn_fixtures.json from
//! tests/reference/make_nn_fixtures.py), an f64 gradient check with a negative control, and
//! bit-identity at 1, 2 and 7 threads.

use glassbox_core::gradcheck::{GradcheckConfig, check_tensor};
use glassbox_core::{build_pool, seeded_rng};
use glassbox_recommend::embedding::embedding_backward;
use glassbox_recommend::pooling::{
    Bags, Pooling, pool_backward, pool_backward_naive, pool_forward,
};
use glassbox_recommend::sampled::{Proposal, sampled_softmax_backward, sampled_softmax_forward};
use glassbox_recommend::softmax::{
    TargetWeighting, item_scores_backward, item_scores_forward, softmax_ce_backward,
    softmax_ce_forward,
};
use glassbox_train::batching::uniform_below;
use glassbox_train::optim::lazy::LazyAdam;
use glassbox_train::optim::{AdamEpsilon, Optimizer, OptimizerConfig, WeightDecay};
use ndarray::{ArrayView2, ArrayViewMut2};
use serde::Deserialize;

#[derive(Deserialize)]
struct Pooled {
    out: Vec<f64>,
    d_table: Vec<f64>,
}

#[derive(Deserialize)]
struct PoolingFix {
    sum: Pooled,
    mean: Pooled,
}

#[derive(Deserialize)]
struct PerTarget {
    loss: f64,
    d_u: Vec<f64>,
    d_q: Vec<f64>,
    d_b: Vec<f64>,
}

#[derive(Deserialize)]
struct Full {
    per_target: PerTarget,
    u: Vec<f64>,
    q: Vec<f64>,
    b: Vec<f64>,
    targets: Vec<Vec<u32>>,
    scores: Vec<f64>,
    loss: f64,
    d_u: Vec<f64>,
    d_q: Vec<f64>,
    d_b: Vec<f64>,
}

#[derive(Deserialize)]
struct Sampled {
    weights: Vec<f64>,
    u: Vec<f64>,
    targets: Vec<u32>,
    sampled: Vec<u32>,
    loss: f64,
    d_u: Vec<f64>,
    d_q: Vec<f64>,
    d_b: Vec<f64>,
}

#[derive(Deserialize)]
struct SparseAdam {
    lr: f64,
    table: Vec<f64>,
    steps: Vec<Vec<u32>>,
    upstream: Vec<Vec<f64>>,
    after: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Fixture {
    pool_dim: usize,
    table: Vec<f64>,
    bag_offsets: Vec<usize>,
    bag_ids: Vec<u32>,
    w: Vec<f64>,
    pooling: PoolingFix,
    dim: usize,
    items: usize,
    full: Full,
    sampled: Sampled,
    sparse_adam: SparseAdam,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("reference/nn_fixtures.json")).expect("fixture")
}

fn close(a: &[f64], e: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), e.len(), "{what}: lengths");
    for (k, (x, y)) in a.iter().zip(e).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{k}]: {x} vs {y}"
        );
    }
}

fn bits<T: Copy + Into<f64>>(x: &[T]) -> Vec<u64> {
    x.iter().map(|&v| v.into().to_bits()).collect()
}

fn view(x: &[f64], r: usize, c: usize) -> ArrayView2<'_, f64> {
    ArrayView2::from_shape((r, c), x).unwrap()
}

fn v(x: &[f32], r: usize, c: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((r, c), x).unwrap()
}

fn view_mut(x: &mut [f64], r: usize, c: usize) -> ArrayViewMut2<'_, f64> {
    ArrayViewMut2::from_shape((r, c), x).unwrap()
}

/// CSR of a list of lists.
fn csr(lists: &[Vec<u32>]) -> (Vec<usize>, Vec<u32>) {
    let mut offsets = vec![0];
    let mut ids = Vec::new();
    for l in lists {
        ids.extend_from_slice(l);
        offsets.push(ids.len());
    }
    (offsets, ids)
}

// ---------- pooling (K30–K31)

/// L = Σ W ⊙ pool(E) and dL/dE.
fn pool_loss(f: &Fixture, table: &[f64], pooling: Pooling) -> (f64, Vec<f64>, Vec<f64>) {
    let bags = Bags {
        offsets: &f.bag_offsets,
        ids: &f.bag_ids,
    };
    let d = f.pool_dim;
    let mut out = vec![0.0; bags.len() * d];
    pool_forward(table, d, bags, pooling, &mut out);
    let loss = out.iter().zip(&f.w).map(|(o, w)| o * w).sum();
    let mut d_table = vec![0.0; table.len()];
    pool_backward(&f.w, bags, pooling, d, &mut d_table);
    (loss, out, d_table)
}

#[test]
fn sum_and_mean_pooling_match_pytorch_embedding_bag() {
    let f = fixture();
    for (pooling, want) in [
        (Pooling::Sum, &f.pooling.sum),
        (Pooling::Mean, &f.pooling.mean),
    ] {
        let (_, out, d_table) = pool_loss(&f, &f.table, pooling);
        close(&out, &want.out, 1e-14, "pooled");
        close(&d_table, &want.d_table, 1e-14, "d_table");
        // The empty bag (the second) pools to zeros; row 1 sits twice in the first bag.
        assert!(out[f.pool_dim..2 * f.pool_dim].iter().all(|&x| x == 0.0));
    }
}

#[test]
fn pooling_gradient_check_f64_passes_and_a_wrong_gradient_fails() {
    let f = fixture();
    for pooling in [Pooling::Sum, Pooling::Mean] {
        let mut point = f.table.clone();
        let (_, _, analytic) = pool_loss(&f, &point, pooling);
        let config = GradcheckConfig::default();
        let report = check_tensor("E", &mut point, &analytic, &config, |t| {
            pool_loss(&f, t, pooling).0
        });
        assert!(report.passed(), "{report:?}");
        let mut wrong = analytic.clone();
        wrong[4 * f.pool_dim + 1] *= 1.01; // row 4 sits in three bags
        let report = check_tensor("E", &mut point, &wrong, &config, |t| {
            pool_loss(&f, t, pooling).0
        });
        assert!(!report.passed(), "a wrong gradient passed");
    }
}

#[test]
fn pooling_is_bit_identical_at_1_2_and_7_threads_and_its_backward_equals_the_naive_pass() {
    let (v, d, bags_n) = (900usize, 8usize, 700usize);
    let mut rng = seeded_rng(11);
    let lists: Vec<Vec<u32>> = (0..bags_n)
        .map(|_| {
            let len = uniform_below(&mut rng, 12) as usize;
            (0..len)
                .map(|_| uniform_below(&mut rng, v as u64) as u32)
                .collect()
        })
        .collect();
    let (offsets, ids) = csr(&lists);
    let bags = Bags {
        offsets: &offsets,
        ids: &ids,
    };
    let table: Vec<f32> = (0..v * d)
        .map(|_| uniform_below(&mut rng, 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let d_out: Vec<f32> = (0..bags_n * d)
        .map(|_| uniform_below(&mut rng, 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let run = |threads| {
        let mut out = vec![0.0f32; bags_n * d];
        let mut d_table = vec![0.0f32; v * d];
        build_pool(threads).unwrap().install(|| {
            pool_forward(&table, d, bags, Pooling::Mean, &mut out);
            pool_backward(&d_out, bags, Pooling::Mean, d, &mut d_table);
        });
        (out, d_table)
    };
    let one = run(1);
    let mut naive = vec![0.0f32; v * d];
    pool_backward_naive(&d_out, bags, Pooling::Mean, d, &mut naive);
    assert_eq!(one.1, naive);
    assert!(one.1.iter().any(|&x| x != 0.0));
    for threads in [2, 7] {
        let other = run(threads);
        assert_eq!(bits(&one.0), bits(&other.0));
        assert_eq!(bits(&one.1), bits(&other.1));
    }
}

// ---------- scoring + full softmax (K32–K33)

/// θ = [U | Q | b] → (S, L, dL/dθ).
fn full_loss(
    f: &Fixture,
    theta: &[f64],
    targets: &[Vec<u32>],
    weighting: TargetWeighting,
) -> (Vec<f64>, f64, Vec<f64>) {
    let (d, items, n) = (f.dim, f.items, targets.len());
    let (u, rest) = theta.split_at(n * d);
    let (q, b) = rest.split_at(items * d);
    let (offsets, ids) = csr(targets);
    let bags = Bags {
        offsets: &offsets,
        ids: &ids,
    };
    let mut s = vec![0.0; n * items];
    item_scores_forward(
        view(u, n, d),
        view(q, items, d),
        b,
        view_mut(&mut s, n, items),
    );
    let scores = s.clone();
    let (loss, cache) = softmax_ce_forward(view(&s, n, items), bags, weighting);
    softmax_ce_backward(&cache, bags, view_mut(&mut s, n, items));
    let mut grad = vec![0.0; theta.len()];
    let (d_u, rest) = grad.split_at_mut(n * d);
    let (d_q, d_b) = rest.split_at_mut(items * d);
    item_scores_backward(
        view(&s, n, items),
        view(u, n, d),
        view(q, items, d),
        view_mut(d_u, n, d),
        view_mut(d_q, items, d),
        d_b,
    );
    (scores, loss, grad)
}

fn full_theta(f: &Fixture) -> Vec<f64> {
    f.full
        .u
        .iter()
        .chain(&f.full.q)
        .chain(&f.full.b)
        .copied()
        .collect()
}

#[test]
fn scores_full_softmax_loss_and_gradients_match_pytorch() {
    let f = fixture();
    let full = &f.full;
    let pt = &full.per_target;
    for (weighting, loss_want, d_u, d_q, d_b) in [
        (
            TargetWeighting::PerRow,
            full.loss,
            &full.d_u,
            &full.d_q,
            &full.d_b,
        ),
        (
            TargetWeighting::PerTarget,
            pt.loss,
            &pt.d_u,
            &pt.d_q,
            &pt.d_b,
        ),
    ] {
        let (scores, loss, grad) = full_loss(&f, &full_theta(&f), &full.targets, weighting);
        close(&scores, &full.scores, 1e-14, "S");
        assert!((loss - loss_want).abs() < 1e-14, "{loss} vs {loss_want}");
        let want: Vec<f64> = d_u.iter().chain(d_q).chain(d_b).copied().collect();
        close(&grad, &want, 1e-14, "dθ");
    }
}

#[test]
fn full_softmax_gradient_check_f64_passes_and_a_wrong_gradient_fails() {
    let f = fixture();
    for weighting in [TargetWeighting::PerRow, TargetWeighting::PerTarget] {
        let mut point = full_theta(&f);
        let (_, _, analytic) = full_loss(&f, &point, &f.full.targets, weighting);
        let config = GradcheckConfig::default();
        let report = check_tensor("θ", &mut point, &analytic, &config, |t| {
            full_loss(&f, t, &f.full.targets, weighting).1
        });
        assert!(report.passed(), "{report:?}");
        let mut wrong = analytic.clone();
        let at = f.full.targets.len() * f.dim + 2; // an entry of Q
        wrong[at] *= 1.01;
        let report = check_tensor("θ", &mut point, &wrong, &config, |t| {
            full_loss(&f, t, &f.full.targets, weighting).1
        });
        assert!(!report.passed(), "a wrong gradient passed");
    }
}

#[test]
fn full_softmax_is_stable_for_huge_scores() {
    // Scores of ±1e4: a naive exp overflows; the shifted form gives the exact answer.
    let s = [1e4, -1e4, 1e4 - 2.0];
    let (offsets, ids) = csr(&[vec![2]]);
    let bags = Bags {
        offsets: &offsets,
        ids: &ids,
    };
    let (loss, _) = softmax_ce_forward(view(&s, 1, 3), bags, TargetWeighting::PerRow);
    let want = (1.0 + (-2.0f64).exp()).ln() + 2.0;
    assert!((loss - want).abs() < 1e-12, "{loss} vs {want}");
}

#[test]
fn full_softmax_is_bit_identical_at_1_2_and_7_threads() {
    let (n, items, d) = (300usize, 1000usize, 16usize);
    let mut rng = seeded_rng(5);
    let mut r = |k: usize| -> Vec<f32> {
        (0..k)
            .map(|_| uniform_below(&mut rng, 2001) as f32 / 2000.0 - 0.5)
            .collect()
    };
    let (u, q, b) = (r(n * d), r(items * d), r(items));
    let mut rng = seeded_rng(6);
    let lists: Vec<Vec<u32>> = (0..n)
        .map(|_| {
            let len = 1 + uniform_below(&mut rng, 5) as usize;
            (0..len)
                .map(|_| uniform_below(&mut rng, items as u64) as u32)
                .collect()
        })
        .collect();
    let (offsets, ids) = csr(&lists);
    let bags = Bags {
        offsets: &offsets,
        ids: &ids,
    };
    let run = |threads| {
        build_pool(threads).unwrap().install(|| {
            let mut s = vec![0.0f32; n * items];
            item_scores_forward(
                v(&u, n, d),
                v(&q, items, d),
                &b,
                ArrayViewMut2::from_shape((n, items), &mut s[..]).unwrap(),
            );
            let (loss, cache) =
                softmax_ce_forward(v(&s, n, items), bags, TargetWeighting::PerTarget);
            softmax_ce_backward(
                &cache,
                bags,
                ArrayViewMut2::from_shape((n, items), &mut s[..]).unwrap(),
            );
            let (mut d_u, mut d_q, mut d_b) = (
                vec![0.0f32; n * d],
                vec![0.0f32; items * d],
                vec![0.0f32; items],
            );
            item_scores_backward(
                v(&s, n, items),
                v(&u, n, d),
                v(&q, items, d),
                ArrayViewMut2::from_shape((n, d), &mut d_u[..]).unwrap(),
                ArrayViewMut2::from_shape((items, d), &mut d_q[..]).unwrap(),
                &mut d_b,
            );
            (vec![loss], d_u, d_q, d_b)
        })
    };
    let one = run(1);
    assert!(one.2.iter().any(|&x| x != 0.0));
    for threads in [2, 7] {
        let o = run(threads);
        assert_eq!(bits(&one.0), bits(&o.0));
        assert_eq!(bits(&one.1), bits(&o.1));
        assert_eq!(bits(&one.2), bits(&o.2));
        assert_eq!(bits(&one.3), bits(&o.3));
    }
}

// ---------- sampled softmax with log-Q (K34)

/// θ = [U (pairs) | Q | b] → (L, dL/dθ).
fn sampled_loss(f: &Fixture, theta: &[f64]) -> (f64, Vec<f64>) {
    let s = &f.sampled;
    let (d, items, n) = (f.dim, f.items, s.targets.len());
    let (u, rest) = theta.split_at(n * d);
    let (q, b) = rest.split_at(items * d);
    let proposal = Proposal::new(&s.weights, 1.0);
    let (loss, cache) =
        sampled_softmax_forward(view(u, n, d), q, b, d, &s.targets, &s.sampled, &proposal);
    let mut grad = vec![0.0; theta.len()];
    let (d_u, rest) = grad.split_at_mut(n * d);
    let (d_q, d_b) = rest.split_at_mut(items * d);
    sampled_softmax_backward(
        &cache,
        view(u, n, d),
        d,
        &s.targets,
        &s.sampled,
        view_mut(d_u, n, d),
        d_q,
        d_b,
    );
    (loss, grad)
}

fn sampled_theta(f: &Fixture) -> Vec<f64> {
    f.sampled
        .u
        .iter()
        .chain(&f.full.q)
        .chain(&f.full.b)
        .copied()
        .collect()
}

#[test]
fn sampled_softmax_with_log_q_matches_pytorch() {
    let f = fixture();
    let (loss, grad) = sampled_loss(&f, &sampled_theta(&f));
    assert!(
        (loss - f.sampled.loss).abs() < 1e-14,
        "{loss} vs {}",
        f.sampled.loss
    );
    let s = &f.sampled;
    let want: Vec<f64> = s.d_u.iter().chain(&s.d_q).chain(&s.d_b).copied().collect();
    close(&grad, &want, 1e-14, "dθ");
}

#[test]
fn sampled_softmax_gradient_check_f64_passes_and_a_wrong_gradient_fails() {
    let f = fixture();
    let mut point = sampled_theta(&f);
    let (_, analytic) = sampled_loss(&f, &point);
    let config = GradcheckConfig::default();
    let report = check_tensor("θ", &mut point, &analytic, &config, |t| {
        sampled_loss(&f, t).0
    });
    assert!(report.passed(), "{report:?}");
    let mut wrong = analytic.clone();
    let at = f.sampled.targets.len() * f.dim + 4 * f.dim; // Q row 4: only ever sampled
    wrong[at] *= 1.01;
    let report = check_tensor("θ", &mut point, &wrong, &config, |t| sampled_loss(&f, t).0);
    assert!(!report.passed(), "a wrong gradient passed");
}

#[test]
fn the_sampler_is_seeded_follows_q_and_never_draws_a_zero_weight() {
    let proposal = Proposal::new(&[1.0, 0.0, 3.0, 0.0, 4.0, 0.0], 1.0);
    let draw = |seed| proposal.sample(40_000, &mut seeded_rng(seed));
    let a = draw(3);
    assert_eq!(a, draw(3));
    assert_ne!(a, draw(4));
    let mut counts = [0usize; 6];
    for &i in &a {
        counts[i as usize] += 1;
    }
    assert_eq!(counts[1] + counts[3] + counts[5], 0, "{counts:?}");
    for (i, q) in [(0, 0.125), (2, 0.375), (4, 0.5)] {
        let share = counts[i] as f64 / a.len() as f64;
        assert!((share - q).abs() < 0.01, "item {i}: {share} vs {q}");
    }
    // α = 0: uniform over every item, the zero weights included.
    let uniform = Proposal::new(&[1.0, 0.0, 3.0], 0.0);
    assert!((uniform.prob(1) - 1.0 / 3.0).abs() < 1e-15);
}

#[test]
fn sampled_softmax_is_bit_identical_at_1_2_and_7_threads() {
    let (n, items, d, m) = (400usize, 700usize, 8usize, 64usize);
    let mut rng = seeded_rng(9);
    let mut r = |k: usize| -> Vec<f32> {
        (0..k)
            .map(|_| uniform_below(&mut rng, 2001) as f32 / 2000.0 - 0.5)
            .collect()
    };
    let (u, q, b) = (r(n * d), r(items * d), r(items));
    let weights: Vec<f64> = (0..items).map(|i| 1.0 + (i % 17) as f64).collect();
    let proposal = Proposal::new(&weights, 0.75);
    let mut rng = seeded_rng(10);
    let targets: Vec<u32> = (0..n)
        .map(|_| uniform_below(&mut rng, items as u64) as u32)
        .collect();
    let run = |threads| {
        build_pool(threads).unwrap().install(|| {
            let sampled = proposal.sample(m, &mut seeded_rng(12));
            let uv = ArrayView2::from_shape((n, d), &u[..]).unwrap();
            let (loss, cache) =
                sampled_softmax_forward(uv, &q, &b, d, &targets, &sampled, &proposal);
            let (mut d_u, mut d_q, mut d_b) = (
                vec![0.0f32; n * d],
                vec![0.0f32; items * d],
                vec![0.0f32; items],
            );
            sampled_softmax_backward(
                &cache,
                uv,
                d,
                &targets,
                &sampled,
                ArrayViewMut2::from_shape((n, d), &mut d_u[..]).unwrap(),
                &mut d_q,
                &mut d_b,
            );
            (vec![loss], d_u, d_q, d_b)
        })
    };
    let one = run(1);
    assert!(one.2.iter().any(|&x| x != 0.0));
    for threads in [2, 7] {
        let o = run(threads);
        assert_eq!(bits(&one.0), bits(&o.0));
        assert_eq!(bits(&one.1), bits(&o.1));
        assert_eq!(bits(&one.2), bits(&o.2));
        assert_eq!(bits(&one.3), bits(&o.3));
    }
}

// ---------- lazy Adam (K35)

#[test]
fn lazy_adam_matches_torch_sparse_adam_for_three_steps() {
    let f = fixture();
    let a = &f.sparse_adam;
    let d = 3;
    let mut table: Vec<f32> = a.table.iter().map(|&x| x as f32).collect();
    let rows = table.len() / d;
    let mut opt = LazyAdam::new(LazyAdam::<f32>::sparse_adam_torch(a.lr), rows, d).unwrap();
    for ((ids, up), want) in a.steps.iter().zip(&a.upstream).zip(&a.after) {
        let up: Vec<f32> = up.iter().map(|&x| x as f32).collect();
        let mut grads = vec![0.0f32; table.len()];
        embedding_backward(&up, ids, d, &mut grads);
        let mut touched = ids.clone();
        touched.sort_unstable();
        touched.dedup();
        opt.step(&mut table, &grads, &touched);
        let got: Vec<f64> = table.iter().map(|&x| f64::from(x)).collect();
        close(&got, want, 1e-6, "table");
    }
    // Row 5 was never touched: it still holds its initial values, bit for bit.
    let initial: Vec<f32> = a.table[15..18].iter().map(|&x| x as f32).collect();
    assert_eq!(&table[15..18], &initial[..]);
}

#[test]
fn lazy_adam_with_every_row_touched_is_dense_adam_bit_for_bit() {
    let config = OptimizerConfig::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: AdamEpsilon::Keras(1e-8),
        weight_decay: WeightDecay::L2(1e-3),
    };
    let (rows, d) = (50usize, 4usize);
    let mut rng = seeded_rng(2);
    let mut lazy_table: Vec<f32> = (0..rows * d)
        .map(|_| uniform_below(&mut rng, 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let mut dense_table = lazy_table.clone();
    let mut lazy = LazyAdam::new(config, rows, d).unwrap();
    let mut dense = Optimizer::new(config, rows * d).unwrap();
    let all: Vec<u32> = (0..rows as u32).collect();
    for _ in 0..5 {
        let g: Vec<f32> = (0..rows * d)
            .map(|_| uniform_below(&mut rng, 2001) as f32 / 1000.0 - 1.0)
            .collect();
        lazy.step(&mut lazy_table, &g, &all);
        dense.step(&mut dense_table, &g);
    }
    assert_eq!(bits(&lazy_table), bits(&dense_table));
    // …and it departs from dense Adam once a row is left out: dense Adam still moves it.
    let g = vec![0.0f32; rows * d];
    let before = lazy_table.clone();
    lazy.step(&mut lazy_table, &g, &all[1..]);
    dense.step(&mut dense_table, &g);
    assert_eq!(&lazy_table[..d], &before[..d]);
    assert_ne!(&dense_table[..d], &before[..d]);
}
