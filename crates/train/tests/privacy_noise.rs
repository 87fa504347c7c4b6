//! The Gaussian noise of DP-SGD (notes/privacy.md §12, P22, P23, P27): its law by the
//! Kolmogorov–Smirnov and chi-square tests with a fixed seed (and broken samplers that fail
//! them), its independence of the thread count and of the order the blocks are drawn in, and
//! what it takes from the trainer's generator.

use glassbox_core::seeded_rng;
use glassbox_train::privacy::add_noise_and_average;
use glassbox_train::privacy::noise::{NOISE_BLOCK, NoiseKey, normal_block};
use glassbox_train::privacy::special::erfc;

/// n standard normal draws: the first n coordinates of one step's noise.
fn draws(n: usize, seed: u64) -> Vec<f64> {
    let key = NoiseKey::draw(&mut seeded_rng(seed));
    let mut z = vec![0.0; n];
    for (b, block) in z.chunks_mut(NOISE_BLOCK).enumerate() {
        normal_block(&key, b as u64, block);
    }
    z
}

/// Φ, the standard normal distribution function, by the hand-written erfc (P15).
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The Kolmogorov–Smirnov statistic `D = sup |F_n − Φ|`.
fn ks_statistic(z: &[f64]) -> f64 {
    let mut sorted = z.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = phi(x);
            ((i + 1) as f64 / n - f).max(f - i as f64 / n)
        })
        .fold(0.0, f64::max)
}

/// Pearson's chi-square over 34 cells: (−∞, −4), 32 cells of width 1/4 on [−4, 4), [4, ∞)
/// (the smallest expected count is 32 at n = 10⁶; the tails beyond R = 3.654 come from the
/// ziggurat's tail method, the cells inside from its rectangles and wedges).
fn chi_square(z: &[f64]) -> f64 {
    let edges: Vec<f64> = (0..=32).map(|k| -4.0 + 0.25 * k as f64).collect();
    let mut counts = [0u64; 34];
    for &x in z {
        counts[edges.partition_point(|&e| e <= x)] += 1;
    }
    let cdf: Vec<f64> = std::iter::once(0.0)
        .chain(edges.iter().map(|&e| phi(e)))
        .chain(std::iter::once(1.0))
        .collect();
    let n = z.len() as f64;
    counts
        .iter()
        .zip(cdf.windows(2))
        .map(|(&c, p)| {
            let expected = n * (p[1] - p[0]);
            (c as f64 - expected).powi(2) / expected
        })
        .sum()
}

/// `P(√n·D > 1.95) ≈ 0.001` (Kolmogorov's limit law), and the chi-square's 0.999 quantile
/// for 33 degrees of freedom (scipy.stats.chi2.ppf(0.999, 33) = 63.87): a correct sampler
/// fails either with probability about 0.001 for a random seed; the seed is fixed.
const KS_CRITICAL: f64 = 1.95;
const CHI2_CRITICAL: f64 = 63.87;

#[test]
fn a_million_draws_pass_kolmogorov_smirnov_and_chi_square() {
    let z = draws(1_000_000, 2026);
    let n = z.len() as f64;
    let (d, chi2) = (ks_statistic(&z), chi_square(&z));
    eprintln!("√n·D = {:.3}, chi-square (33 df) = {chi2:.1}", d * n.sqrt());
    assert!(d * n.sqrt() < KS_CRITICAL, "KS: √n·D = {}", d * n.sqrt());
    assert!(chi2 < CHI2_CRITICAL, "chi-square {chi2}");
    let tails = z.iter().filter(|x| x.abs() > 3.654_152_885_361_009).count();
    assert!(tails > 0, "the tail method was exercised");
}

/// Negative controls: the same draws with the errors a sampler typically makes fail the
/// tests above — a scale 2 % off (KS), the tail beyond R cut off (chi-square), 2 % of the draws
/// from another law (chi-square), and the sign lost for every other draw (KS).
#[test]
fn broken_samplers_fail_the_same_tests() {
    let z = draws(1_000_000, 2026);
    let n = z.len() as f64;
    let scaled: Vec<f64> = z.iter().map(|x| 1.02 * x).collect();
    assert!(ks_statistic(&scaled) * n.sqrt() > KS_CRITICAL);
    let r = 3.654_152_885_361_009;
    let no_tail: Vec<f64> = z.iter().map(|x| x.clamp(-r, r)).collect();
    assert!(chi_square(&no_tail) > CHI2_CRITICAL);
    // A slow path that returned the wrong law: every 50th draw uniform on (−2, 2).
    let wrong_slow_path: Vec<f64> = z
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if i % 50 == 0 {
                4.0 * (x.abs() * 1e4).fract() - 2.0
            } else {
                *x
            }
        })
        .collect();
    assert!(chi_square(&wrong_slow_path) > CHI2_CRITICAL);
    let half_positive: Vec<f64> = z
        .iter()
        .enumerate()
        .map(|(i, x)| if i % 2 == 0 { x.abs() } else { *x })
        .collect();
    assert!(ks_statistic(&half_positive) * n.sqrt() > KS_CRITICAL);
}

/// Every block depends on the key and its index alone: drawing the blocks in reverse order
/// gives the noise of `add_noise_and_average`, which itself is the same in pools of 1, 2 and
/// 7 threads (at 100,000 coordinates it splits the blocks over the pool).
#[test]
fn noise_is_the_same_at_1_2_and_7_threads_and_in_any_block_order() {
    let p = 100_000;
    let noise_at = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let mut g = vec![0.0f64; p];
        pool.install(|| add_noise_and_average(&mut g, 1.0, 1, &mut seeded_rng(77)));
        g.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let one = noise_at(1);
    assert_eq!(one, noise_at(2), "2 threads");
    assert_eq!(one, noise_at(7), "7 threads");
    let key = NoiseKey::draw(&mut seeded_rng(77));
    let mut reversed = vec![0.0; p];
    let blocks: Vec<(usize, &mut [f64])> = reversed.chunks_mut(NOISE_BLOCK).enumerate().collect();
    for (b, block) in blocks.into_iter().rev() {
        normal_block(&key, b as u64, block);
    }
    let reversed: Vec<u64> = reversed.iter().map(|v| v.to_bits()).collect();
    assert_eq!(one, reversed);
}

/// A step takes exactly four words (one 256-bit key) from the trainer's generator, whatever
/// the number of parameters: the checkpoint of a private run needs the generator's state only.
#[test]
fn a_step_takes_one_key_from_the_trainers_generator() {
    for p in [1, 1000, 50_000] {
        let mut rng = seeded_rng(5);
        add_noise_and_average(&mut vec![0.0f32; p], 1.0, 4, &mut rng);
        assert_eq!(rng.get_word_pos(), 8, "{p} coordinates: 8 32-bit words");
    }
}
