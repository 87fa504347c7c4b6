//! Poisson sampling of DP-SGD batches (notes/privacy.md §7, P13–P14): determinism, the
//! inclusion frequency against its binomial law, varying batch sizes, Opacus's sample-rate
//! convention, and the refusals.

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

#[test]
fn one_step_draws_exactly_one_word_per_row() {
    let sampler = PoissonSampler::new(37, 0.4).unwrap();
    let mut sampled = seeded_rng(3);
    sampler.sample(&mut sampled);
    let mut skipped = seeded_rng(3);
    for _ in 0..37 {
        skipped.next_u64();
    }
    assert_eq!(sampled.next_u64(), skipped.next_u64());
}

/// Each row's count over T steps is Binomial(T, q): mean Tq, standard deviation
/// √(Tq(1 − q)). With N = 1,000 rows, T = 2,000 steps, q = 0.1: mean 200, sd 13.4. Every
/// row must fall within 6 sd (a row outside has probability ~2·10⁻⁹, so ~2·10⁻⁶ for any of
/// 1,000), and the total within 6 sd of its own Binomial(NT, q) law (mean 200,000, sd 424).
#[test]
fn inclusion_frequency_is_within_its_binomial_bound() {
    let (rows, steps, q) = (1_000usize, 2_000usize, 0.1);
    let sampler = PoissonSampler::new(rows, q).unwrap();
    let mut rng = seeded_rng(20_261_129);
    let mut counts = vec![0usize; rows];
    let mut sizes = Vec::with_capacity(steps);
    let mut batch = Vec::new();
    for _ in 0..steps {
        sampler.sample_into(&mut rng, &mut batch);
        sizes.push(batch.len());
        for &row in &batch {
            counts[row] += 1;
        }
    }
    let mean = steps as f64 * q;
    let sd = (steps as f64 * q * (1.0 - q)).sqrt();
    let worst = counts
        .iter()
        .map(|&c| (c as f64 - mean).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= 6.0 * sd,
        "a row's count is {worst} from {mean} (sd {sd})"
    );
    let total: usize = counts.iter().sum();
    let total_mean = (rows * steps) as f64 * q;
    let total_sd = ((rows * steps) as f64 * q * (1.0 - q)).sqrt();
    assert!(
        (total as f64 - total_mean).abs() <= 6.0 * total_sd,
        "total {total}"
    );

    // Batch sizes vary, as Binomial(N, q): mean 100, variance 90.
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(min < max, "batch sizes must vary, all were {min}");
    let size_mean = sizes.iter().sum::<usize>() as f64 / steps as f64;
    let size_var = sizes
        .iter()
        .map(|&s| (s as f64 - size_mean).powi(2))
        .sum::<f64>()
        / (steps - 1) as f64;
    let expected_var = rows as f64 * q * (1.0 - q);
    // The sample variance of 2,000 draws has relative sd √(2/1999) ≈ 3.2 %; allow 20 %.
    assert!(
        (size_var / expected_var - 1.0).abs() < 0.2,
        "variance {size_var} vs {expected_var}"
    );
    println!(
        "Poisson sampling: worst row {:.2} sd from its mean; batch sizes {min}..{max}, \
         variance {size_var:.1} (expected {expected_var:.1})",
        worst / sd
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
