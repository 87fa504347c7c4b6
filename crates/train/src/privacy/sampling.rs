//! Poisson sampling of DP-SGD batches (notes/privacy.md §7): at every step each of the N
//! rows joins the batch independently with probability q, so batch sizes vary — the
//! sampling the accountant (P3) assumes. Opacus's conventions for a nominal batch size B:
//! q = 1/⌈N/B⌉, ⌈N/B⌉ steps per epoch, and the DP step divides by the expected batch size
//! ⌊N·q⌋, not by the size of the batch drawn.
//!
//! The sampler does not flip a coin per row: it draws the gaps between sampled rows, each
//! geometric (P24), one 64-bit word per gap, so a step costs |batch| + 1 words (N·q + 1 in
//! expectation) instead of N. The draws run on the calling thread from the explicit seeded
//! [`Rng`], and the logarithm is the hand-written one of [`super::elementary`]: the batches
//! are a function of the seed alone, whatever the thread count or machine.
//!
//! ```
//! use glassbox_core::seeded_rng;
//! use glassbox_train::privacy::sampling::SamplingPlan;
//!
//! let plan = SamplingPlan::for_batch_size(9_864, 256).unwrap();
//! assert_eq!(plan.steps_per_epoch(), 39);
//! assert_eq!(plan.rate(), 1.0 / 39.0); // not 256/9864
//! assert_eq!(plan.expected_batch_size(), 252); // ⌊9864/39⌋
//! assert_eq!(plan.steps(10).unwrap(), 390);
//!
//! let mut rng = seeded_rng(7);
//! let batch = plan.sampler().sample(&mut rng);
//! assert!(batch.windows(2).all(|w| w[0] < w[1])); // row indices, ascending
//! ```

use super::elementary::{ln, ln_1p};
use super::validate::{PrivacyError, check_sample_rate};
use glassbox_core::Rng;
use rand::RngCore;

/// `2⁻⁵³`: the spacing of the uniform grid of [`unit_uniform`].
pub(crate) const UNIT_GRID: f64 = 1.0 / (1u64 << 53) as f64;

/// A uniform draw from `[0, 1)`: the top 53 bits of one 64-bit word, `u = ⌊x/2¹¹⌋·2⁻⁵³`.
/// Every value is a multiple of 2⁻⁵³, each with probability 2⁻⁵³, so `P(u < q)` is q rounded
/// up to the grid (within 1.2·10⁻¹⁶ of q, and exactly 1 for q = 1).
pub fn unit_uniform(rng: &mut Rng) -> f64 {
    unit_from_word(rng.next_u64())
}

/// [`unit_uniform`] of the word `word`: `⌊word/2¹¹⌋·2⁻⁵³`.
pub(crate) fn unit_from_word(word: u64) -> f64 {
    (word >> 11) as f64 * UNIT_GRID
}

/// Draws Poisson-sampled batches: every row independently with probability q.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoissonSampler {
    rows: usize,
    rate: f64,
    /// ln(1 − q) < 0 (−∞ for q = 1), the divisor of the gap (P24).
    log_keep: f64,
}

impl PoissonSampler {
    /// A sampler over `rows` rows (N ≥ 1) at rate q ∈ (0, 1].
    pub fn new(rows: usize, rate: f64) -> Result<Self, PrivacyError> {
        if rows == 0 {
            return Err(PrivacyError::NoRows);
        }
        check_sample_rate(rate)?;
        Ok(Self {
            rows,
            rate,
            log_keep: ln_1p(-rate),
        })
    }

    /// The number of rows N.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The sampling rate q.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// (P24) The number of rows skipped before the next sampled one,
    /// `G = ⌊ln(1 − u)/ln(1 − q)⌋` with `u` = [`unit_uniform`] (so `1 − u ∈ (0, 1]`): one
    /// word, `P(G ≥ k) = (1 − q)ᵏ`. Saturates at `usize::MAX` (past any N).
    pub fn gap(&self, rng: &mut Rng) -> usize {
        let survival = 1.0 - unit_uniform(rng);
        // ln(survival) ≤ 0 and log_keep < 0: the quotient is ≥ 0 (or −0, or +∞), and `as`
        // takes its floor, saturating.
        (ln(survival) / self.log_keep) as usize
    }

    /// (P13 by P24) One step's batch, written into `batch` (cleared first) as ascending row
    /// indices: starting at row 0, skip a geometric gap G (P24), take the row, move past it,
    /// until the gap runs past row N − 1. Each row is then in the batch independently with
    /// probability q, as (P13) asks. Draws |batch| + 1 words (none for q = 1, which takes
    /// every row). The batch may be empty (probability (1 − q)^N); the DP step still takes
    /// it, adding noise to a zero sum, as the analysis requires.
    pub fn sample_into(&self, rng: &mut Rng, batch: &mut Vec<usize>) {
        batch.clear();
        if self.rate >= 1.0 {
            batch.extend(0..self.rows);
            return;
        }
        let mut row = 0usize;
        loop {
            row = row.saturating_add(self.gap(rng));
            if row >= self.rows {
                return;
            }
            batch.push(row);
            row += 1;
        }
    }

    /// One step's batch as a new vector (see [`Self::sample_into`]).
    pub fn sample(&self, rng: &mut Rng) -> Vec<usize> {
        let mut batch = Vec::new();
        self.sample_into(rng, &mut batch);
        batch
    }
}

/// (P14) The expected batch size the DP step divides by: `⌊N·q⌋`, the product taken in f64
/// and truncated (Opacus's `int(len(dataset) * sample_rate)`). An error when it is 0.
pub fn expected_batch_size(rows: usize, rate: f64) -> Result<usize, PrivacyError> {
    check_sample_rate(rate)?;
    let expected = (rows as f64 * rate) as usize;
    if expected == 0 {
        return Err(PrivacyError::EmptyExpectedBatch { rows, q: rate });
    }
    Ok(expected)
}

/// Opacus's sampling plan for N rows and a nominal batch size B (P14).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingPlan {
    rows: usize,
    batch_size: usize,
    steps_per_epoch: usize,
    rate: f64,
    expected_batch_size: usize,
}

impl SamplingPlan {
    /// (P14) `steps per epoch = ⌈N/B⌉`, `q = 1/⌈N/B⌉`, `expected batch = ⌊N·q⌋`.
    /// Opacus's `DPDataLoader` takes q = 1/len(data_loader) rather than B/N, so that one
    /// epoch of ⌈N/B⌉ steps visits each row once in expectation; the accountant must be
    /// given this same q.
    pub fn for_batch_size(rows: usize, batch_size: usize) -> Result<Self, PrivacyError> {
        if rows == 0 {
            return Err(PrivacyError::NoRows);
        }
        if batch_size == 0 {
            return Err(PrivacyError::ZeroBatchSize);
        }
        let steps_per_epoch = rows.div_ceil(batch_size);
        let rate = 1.0 / steps_per_epoch as f64;
        let expected_batch_size = expected_batch_size(rows, rate)?;
        Ok(Self {
            rows,
            batch_size,
            steps_per_epoch,
            rate,
            expected_batch_size,
        })
    }

    /// The number of rows N.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The nominal batch size B the plan was made from.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// ⌈N/B⌉.
    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    /// The sampling rate q = 1/⌈N/B⌉.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// ⌊N·q⌋, what the noisy gradient sum is divided by.
    pub fn expected_batch_size(&self) -> usize {
        self.expected_batch_size
    }

    /// (P14) The steps of `epochs` epochs: `T = E·⌈N/B⌉`.
    pub fn steps(&self, epochs: u64) -> Result<u64, PrivacyError> {
        if epochs == 0 {
            return Err(PrivacyError::ZeroEpochs);
        }
        epochs
            .checked_mul(self.steps_per_epoch as u64)
            .ok_or(PrivacyError::StepCountOverflow {
                epochs,
                steps_per_epoch: self.steps_per_epoch,
            })
    }

    /// The sampler for this plan.
    pub fn sampler(&self) -> PoissonSampler {
        PoissonSampler {
            rows: self.rows,
            rate: self.rate,
            log_keep: ln_1p(-self.rate),
        }
    }
}
