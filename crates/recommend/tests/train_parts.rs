//! The row-parallel builds of `recommend train` (notes/recommend.md §8, K43) against the serial
//! passes they replaced, on a synthetic log: C = XᵀX and item-kNN at several k from one C;
//! EASE's recency-weighted Gram summed user by user then inverted by the mirrored inverse
//! (the old path) against `Ease::fit_decayed`; each at 1, 2 and 7 threads. MF's item-major
//! scorer against `Mf::score`, K14's row-group `mf_score` against one fold per row, and `Mf::fit` (which zeroes only the gradient rows a step
//! wrote) against steps of `Mf::step` (which zeroes the whole gradient), bit for bit.

use glassbox_core::build_pool;
use glassbox_recommend::ease::{Ease, invert_spd_blocked};
use glassbox_recommend::knn::{ItemKnn, co_buyers};
use glassbox_recommend::mf::{Mf, MfConfig};
use glassbox_recommend::repeat::recency_weights;
use glassbox_recommend::{Interaction, Scorer, Split};

mod common;

use common::{DAY, buy};

/// 400 users over 250 items (more than two of K22's 96-column blocks) and 100 days, cutoff at day 100, from a fixed LCG: users buy
/// mostly within a band of items so C has structure, with repeats on later days.
fn synthetic() -> Split {
    let mut state: u64 = 12_345;
    let mut next = |m: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % m
    };
    let mut log: Vec<Interaction> = Vec::new();
    for u in 0..400u64 {
        let band = next(240);
        for _ in 0..1 + next(12) {
            let item = band + next(10);
            let day = next(100) as i64;
            log.push(buy(&format!("u{u:03}"), &format!("i{item:03}"), day));
        }
    }
    Split::new(&log, 100 * DAY, None)
}

#[test]
fn co_buyers_and_knn_at_several_k_match_the_serial_counts() {
    let split = synthetic();
    let n = split.items.len();
    let mut naive = vec![0u32; n * n];
    for h in &split.history {
        for a in h {
            for b in h {
                naive[a.item as usize * n + b.item as usize] += 1;
            }
        }
    }
    let ks = [1, 3, 10, 100];
    let run = |threads: usize| {
        build_pool(threads).unwrap().install(|| {
            let (_, co) = co_buyers(&split);
            (co, ItemKnn::fit_each(&split, &ks))
        })
    };
    let (co, each) = run(1);
    assert!(naive.iter().any(|&c| c > 1), "the log has co-buyers");
    assert_eq!(co, naive);
    // Each model of the shared ranking is the one fitted at its own k alone.
    for (k, m) in ks.iter().zip(&each) {
        assert_eq!(*m, ItemKnn::fit(&split, *k), "k = {k}");
    }
    // Negative control: k = 1 and k = 3 differ on this log.
    assert_ne!(each[0], each[1]);
    for threads in [2, 7] {
        assert_eq!(
            run(threads),
            (co.clone(), each.clone()),
            "{threads} threads"
        );
    }
}

#[test]
fn decayed_gram_row_parallel_is_deterministic_and_matches_the_serial_path() {
    let split = synthetic();
    let n = split.items.len();
    let (lambda, h) = (30.0, 20.0);
    // The serial path: G summed user by user in ascending user id, λ_h added, the mirrored
    // inverse, P's upper triangle in f32.
    let weights = recency_weights(&split, h);
    let mut g = vec![0.0; n * n];
    let (mut squares, mut pairs) = (0.0, 0.0);
    for hist in &weights {
        for &(i, wi) in hist {
            squares += wi * wi;
            pairs += 1.0;
            for &(j, wj) in hist {
                g[i as usize * n + j as usize] += wi * wj;
            }
        }
    }
    for i in 0..n {
        g[i * n + i] += lambda * (squares / pairs);
    }
    build_pool(1)
        .unwrap()
        .install(|| invert_spd_blocked(&mut g, n));
    let want: Vec<f32> = (0..n)
        .flat_map(|i| g[i * n + i..(i + 1) * n].iter().map(|&x| x as f32))
        .collect();
    let run = |threads: usize| {
        build_pool(threads).unwrap().install(|| {
            Ease::fit_decayed(&split, lambda, h)
                .inverse_upper()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<u32>>()
        })
    };
    let one = run(1);
    for threads in [2, 7] {
        assert_eq!(run(threads), one, "{threads} threads");
    }
    // Against the serial reference: equal up to f32 rounding of near-zero entries (on this
    // log one entry of ~1e-39 is −0 in one and a subnormal in the other; notes §8).
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    for (k, (&a, &b)) in one.iter().zip(&want).enumerate() {
        let a = f32::from_bits(a);
        assert!(
            (a - b).abs() <= 1e-6 * scale,
            "P entry {k}: {a} against {b}"
        );
    }
    let want: Vec<u32> = one;
    // Negative control: the binary Gram gives another P.
    let binary: Vec<u32> = Ease::fit_decayed(&split, lambda, f64::INFINITY)
        .inverse_upper()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    assert_ne!(binary, want);
}

#[test]
fn mf_item_major_scores_are_mf_scores_bit_for_bit() {
    // Catalogues below, at and across the 64-item blocks, d odd and the default 64; some q
    // rows and biases exactly ±0 so that a dot starts from a −0 product.
    for (items, d) in [(0, 3), (1, 3), (63, 5), (64, 64), (65, 1), (200, 64)] {
        let cfg = MfConfig {
            dim: d,
            seed: 11,
            ..MfConfig::default()
        };
        let mut rng = glassbox_core::seeded_rng(3);
        let mut mf = Mf::init(4, items, &cfg, &mut rng);
        let (qo, bo) = (4 * d, (4 + items) * d);
        for (i, b) in mf.params[bo..].iter_mut().enumerate() {
            *b = [0.25, -0.0, 0.0, -1.5][i % 4];
        }
        for i in (0..items).step_by(7) {
            mf.params[qo + i * d..qo + (i + 1) * d].fill(if i % 2 == 0 { -0.0 } else { 0.0 });
        }
        mf.params[..d].fill(0.0);
        let fast = mf.item_major();
        let (mut a, mut b) = (vec![1.0; items], vec![2.0; items]);
        for u in 0..4 {
            mf.score(u, &mut a);
            fast.score(u, &mut b);
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{items} items, d {d}, user {u}");
        }
        assert!(items == 0 || a.iter().any(|&s| s != 0.0));
    }
}

#[test]
fn mf_fit_zeroing_only_the_written_rows_equals_whole_zeroing_steps() {
    use glassbox_train::batching::{shuffled_order, uniform_below};
    use glassbox_train::optim::{Optimizer, OptimizerConfig, WeightDecay};
    // 30 users × 20 items, batches of 16 over 90 pairs: rows recur across steps, so a row
    // left dirty from a step would change the next.
    let (users, items) = (30usize, 20usize);
    let pairs: Vec<(u32, u32)> = (0..90u32).map(|k| (k % 30, (k * 7) % 20)).collect();
    let cfg = MfConfig {
        dim: 6,
        epochs: 3,
        batch: 16,
        ..MfConfig::default()
    };
    let fitted = Mf::fit(users, items, &pairs, &cfg, |_, _| {}).unwrap();
    // The loop of `Mf::fit` (K16) written out with `Mf::step`.
    let mut rng = glassbox_core::seeded_rng(cfg.seed);
    let mut model = Mf::init(users, items, &cfg, &mut rng);
    let config =
        OptimizerConfig::adam_torch(cfg.lr).with_weight_decay(WeightDecay::L2(cfg.weight_decay));
    let mut opt = Optimizer::new(config, model.params.len()).unwrap();
    let mut grads = vec![0.0; model.params.len()];
    let mut order = vec![0usize; pairs.len()];
    for _ in 0..cfg.epochs {
        shuffled_order(&mut order, Some(&mut rng));
        for chunk in order.chunks(cfg.batch) {
            let triples: Vec<(u32, u32, u32)> = chunk
                .iter()
                .map(|&k| {
                    (
                        pairs[k].0,
                        pairs[k].1,
                        uniform_below(&mut rng, items as u64) as u32,
                    )
                })
                .collect();
            model.step(&triples, &mut grads, &mut opt);
        }
    }
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&fitted.params), bits(&model.params));
    assert_ne!(
        bits(&fitted.params),
        bits(&Mf::init(users, items, &cfg, &mut glassbox_core::seeded_rng(cfg.seed)).params)
    );
}

#[test]
fn mf_score_in_row_groups_equals_one_fold_per_row() {
    // 300 rows (three tasks of 128, groups of 8 with a ragged last one), d 5 and 64, values
    // with ±0 products; the reference is the fold of the row alone.
    for d in [5usize, 64] {
        let n = 300;
        let val = |k: usize| match k % 9 {
            0 => -0.0,
            1 => 0.0,
            r => (r as f32 - 4.5) * (1.0 + (k % 31) as f32 / 7.0),
        };
        let p: Vec<f32> = (0..n * d).map(val).collect();
        let q: Vec<f32> = (0..n * d).map(|k| val(k * 5 + 3)).collect();
        let b: Vec<f32> = (0..n).map(|k| val(k * 2 + 1)).collect();
        let mut out = vec![1.0f32; n];
        build_pool(2)
            .unwrap()
            .install(|| glassbox_recommend::bpr::mf_score(&p, &q, &b, d, &mut out));
        for (r, &s) in out.iter().enumerate() {
            let row = r * d..(r + 1) * d;
            let dot = p[row.clone()]
                .iter()
                .zip(&q[row])
                .fold(0.0f32, |acc, (&x, &y)| acc + x * y);
            assert_eq!(s.to_bits(), (dot + b[r]).to_bits(), "d {d}, row {r}");
        }
        assert!(out.iter().any(|&s| s != 0.0));
    }
}
