//! The repeat signal, recent popularity and the blend (K17–K19) on a log worked by hand, and
//! the MF fit (K16) bit-identical at 1, 2 and 7 threads; the blocked Cholesky inverse (K22)
//! against the Gauss–Jordan one (K21) and its bits at 1, 2 and 7 threads.

use glassbox_core::build_pool;
use glassbox_recommend::ease::{Ease, invert_spd, invert_spd_blocked};
use glassbox_recommend::knn::ItemKnn;
use glassbox_recommend::mf::{Mf, MfConfig};
use glassbox_recommend::repeat::{Blend, recency_weights, recent_popularity, repeat_scores};
use glassbox_recommend::{Scorer, Split};

mod common;

use common::{DAY, buy};

/// Cutoff at day 10. u1 bought A on days 8 and 9 (and again on day 9: same basket), B on
/// day 2; u2 bought B on day 9 and C on day 1; u3 bought A on day 4.
fn split() -> Split {
    let log = vec![
        buy("u1", "A", 8),
        buy("u1", "A", 9),
        buy("u1", "A", 9),
        buy("u1", "B", 2),
        buy("u2", "B", 9),
        buy("u2", "C", 1),
        buy("u3", "A", 4),
        buy("u1", "C", 11),
    ];
    Split::new(&log, 10 * DAY, None)
}

#[test]
fn hand_computed_repeat_popularity_and_blend() {
    let s = split();
    assert_eq!(s.items, ["A", "B", "C"]);
    // Half-life 1 day: A of u1 = 0.5² + 0.5¹ = 0.75 (the duplicate line counts once); B = 0.5⁸.
    let r = repeat_scores(&s, 1.0);
    assert_eq!(r[0], vec![(0, 0.75), (1, 0.5f64.powi(8))]);
    let r_count = repeat_scores(&s, f64::INFINITY);
    assert_eq!(r_count[0], vec![(0, 2.0), (1, 1.0)]);
    // Window 3 days (from day 7): A bought by u1 (day 9), B by u2 (day 9), C by nobody.
    // All-time buyers A 2, B 2, C 1; U + 1 = 4.
    assert_eq!(recent_popularity(&s, 3.0), vec![1.5, 1.5, 0.25]);

    struct Flat;
    impl Scorer for Flat {
        fn n_items(&self) -> usize {
            3
        }
        fn score(&self, _: u32, out: &mut [f64]) {
            out.copy_from_slice(&[1.0, 2.0, 3.0]);
        }
    }
    let pop = [3.0, 1.0, 0.0];
    let blend = Blend {
        collaborative: vec![(&Flat, 1.0)],
        repeat: &r_count,
        popularity: &pop,
        gamma: 2.0,
        beta: 0.5,
    };
    let mut out = [0.0; 3];
    blend.score(0, &mut out);
    // z of (1, 2, 3): mean 2, sd √(2/3); + 0.5·pop/3; + 2·ln(1 + r).
    let sd = (2.0f64 / 3.0).sqrt();
    let expected = [
        -1.0 / sd + 0.5 + 2.0 * 3.0f64.ln(),
        0.0 + 0.5 / 3.0 + 2.0 * 2.0f64.ln(),
        1.0 / sd,
    ];
    for (a, e) in out.iter().zip(expected) {
        assert!((a - e).abs() < 1e-12, "{a} vs {e}");
    }
}

#[test]
fn item_knn_by_hand() {
    // H: u1 {A, B}, u2 {B, C}, u3 {A}. C_AA = 2, C_BB = 2, C_CC = 1, C_AB = 1, C_BC = 1, C_AC = 0:
    // cos(A, B) = 1/2, cos(B, C) = 1/√2, cos(A, C) = 0. With k = 1: A → B, B → C, C → B.
    let knn = ItemKnn::fit(&split(), 1);
    let mut out = [9.0; 3];
    knn.score(0, &mut out); // u1 = S_A + S_B
    assert_eq!(out, [0.0, 0.5, 1.0 / 2.0f64.sqrt()]);
    knn.score(2, &mut out); // u3 = S_A
    assert_eq!(out, [0.0, 0.5, 0.0]);
}

#[test]
fn ease_by_hand_against_numpy() {
    // G = XᵀX + I = [[3, 1, 0], [1, 3, 1], [0, 1, 2]]; numpy: P = inv(G), B = −P / diag(P),
    // diag(B) = 0, scores X·B = [[0.4, 1/3, 0.25], [0.2, 0.5, 0.375], [0, 1/3, −0.125]].
    let ease = Ease::fit(&split(), 1.0);
    let expected = [
        [0.4, 1.0 / 3.0, 0.25],
        [0.2, 0.5, 0.375],
        [0.0, 1.0 / 3.0, -0.125],
    ];
    let mut out = [0.0; 3];
    for (u, row) in expected.iter().enumerate() {
        ease.score(u as u32, &mut out);
        for (a, e) in out.iter().zip(row) {
            // P is kept in f32 (K39): relative rounding 6e-8 on entries of order 1.
            assert!((a - e).abs() < 1e-6, "user {u}: {a} vs {e}");
        }
    }
    // The stored triangle rebuilds the very model; a wrong length is refused.
    let p = ease.inverse_upper().to_vec();
    assert_eq!(p.len(), 6);
    assert_eq!(Ease::from_inverse(&split(), p.clone()), Some(ease));
    assert_eq!(Ease::from_inverse(&split(), p[..5].to_vec()), None);
}

// numpy's printed digits, kept as printed (17 significant digits, more than f64 holds).
#[allow(clippy::excessive_precision)]
#[test]
fn recency_weighted_ease_by_hand_against_numpy() {
    // (K40) Half-life 1 day, cutoff day 10, w = 0.5^(10 − last basket day): u1 A (day 9) 0.5,
    // B (day 2) 0.5⁸; u2 B (day 9) 0.5, C (day 1) 0.5⁹; u3 A (day 4) 0.5⁶.
    let s = split();
    let w = recency_weights(&s, 1.0);
    assert_eq!(w[0], vec![(0, 0.5), (1, 0.5f64.powi(8))]);
    assert_eq!(w[1], vec![(1, 0.5), (2, 0.5f64.powi(9))]);
    assert_eq!(w[2], vec![(0, 0.5f64.powi(6))]);
    assert_eq!(
        recency_weights(&s, f64::INFINITY)[0],
        vec![(0, 1.0), (1, 1.0)]
    );
    // (K41, K42) numpy (float64), from W above:
    //   lam = 1.0 * (W**2).sum() / 5            # 0.10005264282226563
    //   G = W.T @ W + lam * np.eye(3); P = np.linalg.inv(G)
    //   B = -P / np.diag(P); np.fill_diagonal(B, 0); print(W @ B, (W > 0) @ B)
    let weighted: [[f64; 3]; 3] = [
        [
            2.1794635351286822e-05,
            2.7878146364624379e-03,
            3.1201261456468870e-06,
        ],
        [
            2.7896069658944799e-03,
            1.9062723987006849e-05,
            1.3948620757922310e-03,
        ],
        [0.0, 8.7119207389451184e-05, -2.4303855692124742e-07],
    ];
    let binary_profile: [[f64; 3]; 3] = [
        [
            5.5794266499294264e-03,
            5.5756292729248758e-03,
            2.7741696839415019e-03,
        ],
        [
            5.5249708059699485e-03,
            9.7601146813475065e-03,
            2.7897241515844619e-03,
        ],
        [0.0, 5.5756292729248758e-03, -1.5554467642959835e-05],
    ];
    let ease = Ease::fit_decayed(&s, 1.0, 1.0);
    let mut out = [0.0; 3];
    for (model, expected) in [
        (ease.clone().with_profile(&s, 1.0), weighted),
        (ease.clone(), binary_profile),
    ] {
        for (u, row) in expected.iter().enumerate() {
            model.score(u as u32, &mut out);
            let scale = row.iter().fold(0.0f64, |m, &x: &f64| m.max(x.abs()));
            for (a, e) in out.iter().zip(row) {
                // P in f32 (K39): relative rounding ~1e-7 of the row's scale.
                assert!((a - e).abs() < 1e-6 * scale, "user {u}: {a} vs {e}");
            }
        }
    }
    // At h = ∞ the weights are 1 and λ_h = λ: the binary EASE of (K21), bit for bit.
    assert_eq!(
        Ease::fit_decayed(&s, 1.0, f64::INFINITY),
        Ease::fit(&s, 1.0)
    );
    assert_eq!(
        Ease::fit(&s, 1.0).with_profile(&s, f64::INFINITY),
        Ease::fit(&s, 1.0)
    );
    // Another half-life gives another model (a control: the weights do enter).
    assert_ne!(Ease::fit_decayed(&s, 1.0, 2.0), ease);
}

/// A = MᵀM + shift·I with M's entries in [−1, 1]: symmetric positive definite.
fn spd(n: usize, shift: f64) -> Vec<f64> {
    let m: Vec<f64> = (0..n * n)
        .map(|k| ((k * 7919 % 201) as f64 - 100.0) / 100.0)
        .collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..n).map(|k| m[k * n + i] * m[k * n + j]).sum::<f64>();
        }
        a[i * n + i] += shift;
    }
    a
}

#[test]
fn spd_inverse_is_an_inverse_and_bit_identical_at_1_2_and_7_threads() {
    let n = 40;
    let a = spd(n, n as f64);
    let run = |threads| {
        let mut inv = a.clone();
        build_pool(threads)
            .unwrap()
            .install(|| invert_spd(&mut inv, n));
        inv
    };
    let inv = run(1);
    for i in 0..n {
        for j in 0..n {
            let prod: f64 = (0..n).map(|k| a[i * n + k] * inv[k * n + j]).sum();
            let id = if i == j { 1.0 } else { 0.0 };
            assert!((prod - id).abs() < 1e-12, "(A·A⁻¹)[{i},{j}] = {prod}");
        }
    }
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&inv), bits(&run(2)));
    assert_eq!(bits(&inv), bits(&run(7)));
}

#[test]
fn mf_fit_is_bit_identical_at_1_2_and_7_threads() {
    // 600 users × 700 items (item table over two row blocks), a few pairs each.
    let pairs: Vec<(u32, u32)> = (0..600u32)
        .flat_map(|u| (0..5u32).map(move |k| (u, (u * 7 + k * 131) % 700)))
        .collect();
    let cfg = MfConfig {
        dim: 8,
        epochs: 2,
        batch: 256,
        ..MfConfig::default()
    };
    let run = |threads| {
        build_pool(threads)
            .unwrap()
            .install(|| Mf::fit(600, 700, &pairs, &cfg, |_, _| {}).unwrap())
    };
    let one = run(1);
    let bits = |m: &Mf| m.params.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_ne!(
        bits(&one),
        bits(&Mf::init(600, 700, &cfg, &mut glassbox_core::seeded_rng(0)))
    );
    assert_eq!(bits(&one), bits(&run(2)));
    assert_eq!(bits(&one), bits(&run(7)));
}

fn blocked(a: &[f64], n: usize, threads: usize) -> Vec<f64> {
    let mut inv = a.to_vec();
    build_pool(threads)
        .expect("pool")
        .install(|| invert_spd_blocked(&mut inv, n));
    inv
}

#[test]
fn blocked_inverse_equals_gauss_jordan_to_1e_9() {
    // 1 and 5: inside one block; 96: exactly one; 250: two full blocks and a ragged one.
    for n in [1, 5, 96, 250] {
        let a = spd(n, 0.5 * n as f64);
        let mut reference = a.clone();
        invert_spd(&mut reference, n);
        let fast = blocked(&a, n, 2);
        let scale = reference.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (k, (x, r)) in fast.iter().zip(&reference).enumerate() {
            assert!(
                (x - r).abs() <= 1e-9 * scale,
                "n {n}, element ({}, {}): {x} vs Gauss–Jordan {r}",
                k / n,
                k % n
            );
        }
        for i in 0..n {
            for j in 0..n {
                let prod: f64 = (0..n).map(|k| a[i * n + k] * fast[k * n + j]).sum();
                let id = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (prod - id).abs() < 1e-10,
                    "n {n}: (A·A⁻¹)[{i},{j}] = {prod}"
                );
            }
        }
    }
}

#[test]
fn blocked_inverse_is_bit_identical_at_1_2_and_7_threads() {
    let n = 300;
    let a = spd(n, 40.0);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let one = bits(&blocked(&a, n, 1));
    assert_eq!(one, bits(&blocked(&a, n, 2)));
    assert_eq!(one, bits(&blocked(&a, n, 7)));
}

#[test]
#[should_panic(expected = "not positive definite")]
fn an_indefinite_matrix_is_refused() {
    // [[1, 2], [2, 1]] has eigenvalues 3 and −1.
    let mut a = vec![1.0, 2.0, 2.0, 1.0];
    invert_spd_blocked(&mut a, 2);
}

#[test]
fn paired_bootstrap_by_hand() {
    use glassbox_recommend::compare::paired_bootstrap;
    // d = (1, 0, 0, 1): mean 0.5, sd √(1/3), paired SE √(1/3)/2.
    let p = paired_bootstrap(&[1.0, 0.0, 0.0, 1.0], 2000, 7);
    assert_eq!(p.estimate, 0.5);
    assert!((p.standard_error - (1.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
    // Resampled means of four 0/1 values lie in {0, 0.25, …, 1}; the interval is wide.
    assert!(p.low <= 0.25 && p.high >= 0.75, "{p:?}");
    assert!([p.low, p.high].iter().all(|x| (x * 4.0).fract() == 0.0));
    // The same seed gives the same interval; a constant difference has no spread.
    assert_eq!(p, paired_bootstrap(&[1.0, 0.0, 0.0, 1.0], 2000, 7));
    let c = paired_bootstrap(&[0.25; 10], 100, 1);
    assert_eq!((c.low, c.high, c.standard_error), (0.25, 0.25, 0.0));
    assert!(paired_bootstrap(&[], 10, 0).estimate.is_nan());
}

#[test]
fn one_mf_fit_snapshotted_equals_a_fit_per_mode() {
    use glassbox_recommend::model::fit_mfs_once;
    use glassbox_recommend::select::{Fitted, Settings};
    // 40 users buying 5 items each out of 30, over 20 days.
    let log: Vec<_> = (0..40u32)
        .flat_map(|u| {
            (0..5u32).map(move |k| {
                buy(
                    &format!("u{u:02}"),
                    &format!("i{:02}", (u * 7 + k * 11) % 30),
                    i64::from((u + k) % 20),
                )
            })
        })
        .collect();
    let split = Split::new(&log, 20 * DAY, None);
    let mf = MfConfig {
        dim: 4,
        batch: 32,
        ..MfConfig::default()
    };
    let with = |epochs, mf_weight, seed| Settings {
        mf: MfConfig { epochs, seed, ..mf },
        mf_weight,
        ..Settings::default()
    };
    // Two lengths of one fit, one untrained part, one other seed.
    let settings = [
        with(6, 1.0, 0),
        with(3, 1.0, 0),
        with(6, 0.0, 0),
        with(4, 1.0, 1),
    ];
    let once = fit_mfs_once(&split, &settings).unwrap();
    assert_eq!(once.len(), settings.len());
    let bits = |m: &Mf| m.params.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (s, m) in settings.iter().zip(&once) {
        assert_eq!(bits(m), bits(&Fitted::fit_mf(&split, s).unwrap()));
    }
    assert_ne!(bits(&once[0]), bits(&once[1]));
    assert_ne!(bits(&once[0]), bits(&once[2]));
}
