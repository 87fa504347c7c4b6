//! The row-parallel builds of `recommend train` (notes/recommend.md §8, K43) against the serial
//! passes they replaced, on a synthetic log: C = XᵀX and item-kNN at several k from one C;
//! EASE's recency-weighted Gram summed user by user then inverted by the mirrored inverse
//! (the old path) against `Ease::fit_decayed`; each at 1, 2 and 7 threads.

use glassbox_core::build_pool;
use glassbox_recommend::ease::{Ease, invert_spd_blocked};
use glassbox_recommend::knn::{ItemKnn, co_buyers};
use glassbox_recommend::repeat::recency_weights;
use glassbox_recommend::{Interaction, Split};

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
