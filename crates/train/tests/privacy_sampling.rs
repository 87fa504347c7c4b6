//! Poisson sampling of DP-SGD batches (notes/privacy.md §7, P13–P14, P24): determinism, the
//! geometric gaps against their law, the inclusion frequency, the independence of rows and of
//! steps and the varying batch sizes against the Bernoulli model (with negative controls:
//! fixed-size batches, gaps that skip one row too many, the same batch every step), the words
//! a step draws, Opacus's sample-rate convention, and the refusals.

use glassbox_core::{build_pool, seeded_rng};
use glassbox_train::privacy::PrivacyError;
use glassbox_train::privacy::calibration::calibration_steps;
use glassbox_train::privacy::sampling::{
    PoissonSampler, SamplingPlan, expected_batch_size, unit_uniform,
};
use rand::RngCore;

fn batches(sampler: &PoissonSampler, seed: u64, steps: usize) -> Vec<Vec<usize>> {
    let mut rng = seeded_rng(seed);
    (0..steps).map(|_| sampler.sample(&mut rng)).collect()
}

#[test]
fn same_seed_same_batches_other_seed_other_batches() {
    let sampler = PoissonSampler::new(500, 0.05).unwrap();
    let a = batches(&sampler, 11, 40);
    assert_eq!(a, batches(&sampler, 11, 40));
    assert_ne!(a, batches(&sampler, 12, 40));
    for batch in &a {
        assert!(
            batch.windows(2).all(|w| w[0] < w[1]),
            "ascending, no repeats"
        );
        assert!(batch.iter().all(|&row| row < 500));
    }
}

#[test]
fn batches_do_not_depend_on_the_thread_count() {
    let sampler = PoissonSampler::new(2_000, 0.03).unwrap();
    let serial = batches(&sampler, 5, 20);
    for threads in [1, 2, 7] {
        let pool = build_pool(threads).expect("pool builds");
        assert_eq!(
            pool.install(|| batches(&sampler, 5, 20)),
            serial,
            "{threads} threads"
        );
    }
}

/// A step draws one word per sampled row and one more (the gap that runs past the last row):
/// N·q + 1 words in expectation, not N.
#[test]
fn one_step_draws_one_word_per_sampled_row_and_one_more() {
    let sampler = PoissonSampler::new(9_864, 1.0 / 155.0).unwrap();
    let mut sampled = seeded_rng(3);
    let mut words = 0;
    for _ in 0..20 {
        let batch = sampler.sample(&mut sampled);
        words += batch.len() + 1;
    }
    let mut skipped = seeded_rng(3);
    for _ in 0..words {
        skipped.next_u64();
    }
    assert_eq!(sampled.next_u64(), skipped.next_u64());
    assert!(words < 20 * 200, "{words} words for 20 steps");
}

/// (P24) The gaps are geometric: over 400,000 gaps at q = 0.05, the fraction with G ≥ k is
/// within 6 standard errors of (1 − q)ᵏ for k = 0 … 150, and the mean gap within 6 standard
/// errors of (1 − q)/q = 19 (sd √(1 − q)/q = 19.5).
#[test]
fn gaps_follow_the_geometric_law() {
    let (q, draws) = (0.05, 400_000usize);
    let sampler = PoissonSampler::new(1_000, q).unwrap();
    let mut rng = seeded_rng(24);
    let gaps: Vec<usize> = (0..draws).map(|_| sampler.gap(&mut rng)).collect();
    let n = draws as f64;
    for k in 0..=150 {
        let survival = (1.0 - q).powi(k as i32);
        let got = gaps.iter().filter(|&&g| g >= k).count() as f64 / n;
        let se = (survival * (1.0 - survival) / n).sqrt();
        assert!(
            (got - survival).abs() <= 6.0 * se + 1e-12,
            "P(G ≥ {k}) = {got}, law {survival}"
        );
    }
    let mean = gaps.iter().sum::<usize>() as f64 / n;
    let sd = (1.0 - q).sqrt() / q;
    assert!(
        (mean - (1.0 - q) / q).abs() < 6.0 * sd / n.sqrt(),
        "mean gap {mean}"
    );
}

/// Every way the batches of T steps over N rows can fail the Bernoulli(q) model of (P13)
/// that this test looks at, each compared at 6 standard deviations of its law:
/// 1. a row's count over the steps: Binomial(T, q);
/// 2. the pairs of neighbouring rows sampled together, Σₜ Σᵢ [i, i+1 ∈ bₜ]: mean
///    T(N − 1)q², variance T[(N − 1)q²(1 − q²) + 2(N − 2)(q³ − q⁴)] (neighbouring pairs
///    share a row);
/// 3. the rows sampled at two consecutive steps, Σₜ Σᵢ [i ∈ bₜ ∩ bₜ₊₁]: mean (T − 1)Nq²,
///    variance (T − 1)Nq²(1 − q²) + 2(T − 2)N(q³ − q⁴);
/// 4. the batch sizes' variance: N·q(1 − q) within 20 % (its relative sd is √(2/T) = 3 %).
fn bernoulli_violations(batches: &[Vec<usize>], rows: usize, q: f64) -> Vec<String> {
    let t = batches.len() as f64;
    let nr = rows as f64;
    let mut bad = Vec::new();
    let mut check = |what: &str, got: f64, mean: f64, var: f64| {
        if (got - mean).abs() > 6.0 * var.sqrt() {
            bad.push(format!("{what}: {got} against {mean} ± {}", var.sqrt()));
        }
    };
    let mut counts = vec![0usize; rows];
    let (mut neighbours, mut repeats) = (0usize, 0usize);
    let mut member = vec![false; rows];
    let mut previous = vec![false; rows];
    for (step, batch) in batches.iter().enumerate() {
        member.iter_mut().for_each(|m| *m = false);
        for &row in batch {
            counts[row] += 1;
            member[row] = true;
        }
        neighbours += batch.windows(2).filter(|w| w[1] == w[0] + 1).count();
        if step > 0 {
            repeats += batch.iter().filter(|&&row| previous[row]).count();
        }
        std::mem::swap(&mut member, &mut previous);
    }
    let worst = counts
        .iter()
        .map(|&c| (c as f64 - t * q).abs())
        .fold(0.0, f64::max);
    check("worst row count", t * q + worst, t * q, t * q * (1.0 - q));
    let (q2, q3, q4) = (q * q, q * q * q, q * q * q * q);
    check(
        "neighbouring pairs",
        neighbours as f64,
        t * (nr - 1.0) * q2,
        t * ((nr - 1.0) * q2 * (1.0 - q2) + 2.0 * (nr - 2.0) * (q3 - q4)),
    );
    check(
        "rows in consecutive steps",
        repeats as f64,
        (t - 1.0) * nr * q2,
        (t - 1.0) * nr * q2 * (1.0 - q2) + 2.0 * (t - 2.0) * nr * (q3 - q4),
    );
    let sizes: Vec<f64> = batches.iter().map(|b| b.len() as f64).collect();
    let mean = sizes.iter().sum::<f64>() / t;
    let var = sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (t - 1.0);
    if (var / (nr * q * (1.0 - q)) - 1.0).abs() > 0.2 {
        bad.push(format!(
            "batch size variance {var}, law {}",
            nr * q * (1.0 - q)
        ));
    }
    bad
}

const ROWS: usize = 1_000;
const STEPS: usize = 2_000;
const RATE: f64 = 0.1;

/// The sampler's batches pass every check of [`bernoulli_violations`]; three samplers that are
/// not Poisson sampling each fail one (the negative controls).
#[test]
fn batches_pass_the_bernoulli_checks_and_the_negative_controls_fail() {
    let sampler = PoissonSampler::new(ROWS, RATE).unwrap();
    let good = batches(&sampler, 20_261_129, STEPS);
    assert_eq!(
        bernoulli_violations(&good, ROWS, RATE),
        Vec::<String>::new()
    );

    // Fixed-size batches (a shuffle cut into chunks of N·q rows): right frequency, no
    // variance in the batch size.
    let mut rng = seeded_rng(1);
    let fixed: Vec<Vec<usize>> = (0..STEPS)
        .map(|_| {
            let mut order: Vec<usize> = (0..ROWS).collect();
            for i in (1..ROWS).rev() {
                order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            let mut b = order[..(ROWS as f64 * RATE) as usize].to_vec();
            b.sort_unstable();
            b
        })
        .collect();
    let bad = bernoulli_violations(&fixed, ROWS, RATE);
    assert!(
        bad.iter().any(|b| b.contains("batch size variance")),
        "{bad:?}"
    );

    // Gaps that skip the row after each sampled one: neighbours never sampled together.
    let mut rng = seeded_rng(2);
    let skipping: Vec<Vec<usize>> = (0..STEPS)
        .map(|_| {
            let (mut b, mut row) = (Vec::new(), 0usize);
            loop {
                row = row.saturating_add(sampler.gap(&mut rng));
                if row >= ROWS {
                    return b;
                }
                b.push(row);
                row += 2;
            }
        })
        .collect();
    let bad = bernoulli_violations(&skipping, ROWS, RATE);
    assert!(
        bad.iter().any(|b| b.contains("neighbouring pairs")),
        "{bad:?}"
    );

    // The same batch at every step (the RNG restored each time): steps not independent.
    let frozen: Vec<Vec<usize>> = (0..STEPS)
        .map(|_| sampler.sample(&mut seeded_rng(3)))
        .collect();
    let bad = bernoulli_violations(&frozen, ROWS, RATE);
    assert!(
        bad.iter().any(|b| b.contains("consecutive steps")),
        "{bad:?}"
    );
}

#[test]
fn rate_one_takes_every_row() {
    let sampler = PoissonSampler::new(64, 1.0).unwrap();
    let mut rng = seeded_rng(0);
    for _ in 0..10 {
        assert_eq!(sampler.sample(&mut rng), (0..64).collect::<Vec<_>>());
    }
}

#[test]
fn unit_uniform_is_on_the_53_bit_grid() {
    let mut rng = seeded_rng(9);
    for _ in 0..1_000 {
        let u = unit_uniform(&mut rng);
        assert!((0.0..1.0).contains(&u));
        assert_eq!((u * 2f64.powi(53)).fract(), 0.0);
    }
}

/// Opacus's q = 1/⌈N/B⌉ on the shoppers training file (N = 9,864): the q of the last eight
/// `epsilon` rows of the accountant fixture, bit for bit, and their step counts.
#[test]
fn opacus_sample_rate_convention() {
    let n = 9_864;
    for (batch_size, steps_per_epoch, q, expected, epochs, steps) in [
        (64, 155, 0.006_451_612_903_225_806_4, 63, 10, 1_550),
        (256, 39, 0.025_641_025_641_025_64, 252, 30, 1_170),
        (256, 39, 0.025_641_025_641_025_64, 252, 10, 390),
        (512, 20, 0.05, 493, 30, 600),
    ] {
        let plan = SamplingPlan::for_batch_size(n, batch_size).unwrap();
        assert_eq!(plan.steps_per_epoch(), steps_per_epoch);
        assert_eq!(plan.rate().to_bits(), f64::to_bits(q), "B = {batch_size}");
        assert_eq!(plan.expected_batch_size(), expected);
        assert_eq!(plan.steps(epochs), Ok(steps));
        // Opacus's calibration counts int(E/q) steps: the same here.
        assert_eq!(calibration_steps(epochs, plan.rate()), Ok(steps));
        assert_eq!(plan.sampler().rate(), plan.rate());
    }
    // Opacus's int(E/q) can be one step short of E·⌈N/B⌉: 1/75 rounds up in f64, so
    // 3/(1/75) = 224.99999999999997, truncated to 224.
    let plan = SamplingPlan::for_batch_size(750, 10).unwrap();
    assert_eq!(plan.steps(3), Ok(225));
    assert_eq!(calibration_steps(3, plan.rate()), Ok(224));
    // Not B/N: for B = 256, B/N = 0.02595… (an expected batch of 256), q = 1/39 gives 252.9.
    assert_ne!(
        SamplingPlan::for_batch_size(n, 256).unwrap().rate(),
        256.0 / 9_864.0
    );
}

#[test]
fn sampling_refusals() {
    use PrivacyError::*;
    assert_eq!(PoissonSampler::new(0, 0.1), Err(NoRows));
    assert_eq!(PoissonSampler::new(10, 0.0), Err(InvalidSampleRate(0.0)));
    assert_eq!(PoissonSampler::new(10, 1.01), Err(InvalidSampleRate(1.01)));
    assert!(matches!(
        PoissonSampler::new(10, f64::NAN),
        Err(InvalidSampleRate(_))
    ));
    assert_eq!(SamplingPlan::for_batch_size(0, 8), Err(NoRows));
    assert_eq!(SamplingPlan::for_batch_size(8, 0), Err(ZeroBatchSize));
    assert_eq!(
        expected_batch_size(10, 0.05),
        Err(EmptyExpectedBatch { rows: 10, q: 0.05 })
    );
    assert_eq!(expected_batch_size(10, 0.1), Ok(1));
    let plan = SamplingPlan::for_batch_size(100, 10).unwrap();
    assert_eq!(plan.steps(0), Err(ZeroEpochs));
    assert!(matches!(
        plan.steps(u64::MAX),
        Err(StepCountOverflow { .. })
    ));
}
