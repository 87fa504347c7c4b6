//! Batching: the seeded shuffle of each epoch, gathering rows into a preallocated batch
//! buffer, and the stratified train/validation split (notes/training.md §1, equations
//! T1–T4).
//!
//! Everything here runs on one thread and draws from the explicit [`Rng`] in a fixed
//! order, so a permutation depends only on the RNG state — never on the thread count.
//! Random integers come from [`uniform_below`], whose formula is written here (Lemire's
//! multiply-and-reject), so the permutations do not depend on the version of `rand`.
//!
//! ```
//! use glassbox_core::seeded_rng;
//! use glassbox_train::batching::{num_batches, shuffled_order};
//!
//! let mut order = vec![0; 10];
//! shuffled_order(&mut order, Some(&mut seeded_rng(3)));
//! let mut sorted = order.clone();
//! sorted.sort();
//! assert_eq!(sorted, (0..10).collect::<Vec<_>>()); // a permutation of 0..N
//! assert_eq!(num_batches(100, 32), 4);             // 32, 32, 32 and a last batch of 4
//! ```

use glassbox_core::{Float, Rng};
use ndarray::{Array2, ArrayView2, s};
use rand::RngCore;

/// (T1) A uniform integer in `0..n` from one or more 64-bit draws, by Lemire's
/// multiply-and-reject method: with `x` a uniform `u64`, `m = x·n` as a 128-bit product,
/// the candidate is `⌊m / 2⁶⁴⌋`; it is rejected (and `x` redrawn) while the low 64 bits of
/// `m` are below `2⁶⁴ mod n`, which removes the bias exactly. For `n = 1` it returns 0
/// after one draw.
///
/// # Panics
/// If `n == 0`.
pub fn uniform_below(rng: &mut Rng, n: u64) -> u64 {
    assert!(n > 0, "uniform_below: empty range 0..0");
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    let mut low = m as u64;
    if low < n {
        // 2⁶⁴ mod n, computed in 64 bits as (2⁶⁴ − n) mod n.
        let threshold = n.wrapping_neg() % n;
        while low < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
            low = m as u64;
        }
    }
    (m >> 64) as u64
}

/// (T2) Fisher–Yates shuffle in place: for `i = len − 1` down to 1, swap `items[i]` with
/// `items[j]`, `j =` [`uniform_below`]`(i + 1)`. Draws `len − 1` integers (none for
/// `len ≤ 1`).
pub fn fisher_yates<I>(items: &mut [I], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = uniform_below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// The row order of one epoch, written into `order` (N,): the identity `0, 1, …, N − 1`,
/// then shuffled by [`fisher_yates`] when an RNG is given. Starting from the identity each
/// epoch makes the order a function of the RNG state alone (a checkpoint need not store
/// the previous permutation).
pub fn shuffled_order(order: &mut [usize], rng: Option<&mut Rng>) {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    if let Some(rng) = rng {
        fisher_yates(order, rng);
    }
}

/// (T3) Number of batches of an epoch: `⌈N / B⌉`. The last batch holds
/// `N − (⌈N/B⌉ − 1)·B` rows (between 1 and B); it is **kept**, as Keras's `fit` and
/// PyTorch's `DataLoader(drop_last=False)` keep it.
///
/// # Panics
/// If `batch_size == 0`.
pub fn num_batches(n: usize, batch_size: usize) -> usize {
    assert!(batch_size > 0, "num_batches: batch size 0");
    n.div_ceil(batch_size)
}

/// Preallocated buffers for one batch: X (B, D), Y (B, O) and the sample weights (B,).
///
/// [`BatchBuffer::gather`] copies the rows of a batch into the first `n ≤ B` rows and
/// returns views of exactly those rows; nothing is allocated after [`BatchBuffer::new`].
#[derive(Debug, Clone)]
pub struct BatchBuffer<T> {
    /// X of the batch (B, D), row-major; rows `n..B` hold the previous batch's leftovers.
    x: Array2<T>,
    /// Y of the batch (B, O).
    y: Array2<T>,
    /// Sample weights of the batch (B,); unused (empty) when the data have none.
    w: Vec<T>,
}

/// The rows of one batch, as views into a [`BatchBuffer`].
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, T> {
    /// X (n, D).
    pub x: ArrayView2<'a, T>,
    /// Y (n, O).
    pub y: ArrayView2<'a, T>,
    /// Sample weights (n,), if the data have them.
    pub weights: Option<&'a [T]>,
}

impl<'a, T> Batch<'a, T> {
    /// A batch of X (n, D) and Y (n, O) without sample weights.
    pub fn new(x: ArrayView2<'a, T>, y: ArrayView2<'a, T>) -> Self {
        Batch {
            x,
            y,
            weights: None,
        }
    }
}

impl<T: Float> BatchBuffer<T> {
    /// Buffers for batches of up to `batch_size` rows of `inputs` features and `outputs`
    /// targets, with room for sample weights when `weighted`.
    pub fn new(batch_size: usize, inputs: usize, outputs: usize, weighted: bool) -> Self {
        BatchBuffer {
            x: Array2::zeros((batch_size, inputs)),
            y: Array2::zeros((batch_size, outputs)),
            w: if weighted {
                vec![T::zero(); batch_size]
            } else {
                Vec::new()
            },
        }
    }

    /// B, the largest batch the buffers hold.
    pub fn capacity(&self) -> usize {
        self.x.nrows()
    }

    /// Grows the buffers to hold `n` rows if they hold fewer (the only allocation): a
    /// Poisson-sampled batch (P13) can exceed the size they were made for.
    pub fn reserve_rows(&mut self, n: usize) {
        if n > self.capacity() {
            let (d, o, weighted) = (self.x.ncols(), self.y.ncols(), !self.w.is_empty());
            *self = BatchBuffer::new(n, d, o, weighted);
        }
    }

    /// Copies rows `rows` (n,) of `x` (N, D), `y` (N, O) and `weights` (N,) into the first n
    /// rows of the buffers, in the order given, and returns views of them. An empty `rows`
    /// gives an empty batch (a Poisson-sampled batch may be empty).
    ///
    /// # Panics
    /// If `rows` has more than B entries, a row index is out of range, the
    /// column counts differ from the buffers', or `weights` is given to a buffer made
    /// without room for them.
    pub fn gather<'s>(
        &'s mut self,
        x: ArrayView2<T>,
        y: ArrayView2<T>,
        weights: Option<&[T]>,
        rows: &[usize],
    ) -> Batch<'s, T> {
        let n = rows.len();
        assert!(
            n <= self.capacity(),
            "gather: {n} rows for a buffer of {} rows",
            self.capacity()
        );
        assert_eq!(x.ncols(), self.x.ncols(), "gather: X has the wrong width");
        assert_eq!(y.ncols(), self.y.ncols(), "gather: Y has the wrong width");
        copy_rows(&mut self.x, x, rows);
        copy_rows(&mut self.y, y, rows);
        if let Some(w) = weights {
            assert_eq!(
                self.w.len(),
                self.capacity(),
                "gather: weights given to an unweighted buffer"
            );
            for (i, &r) in rows.iter().enumerate() {
                self.w[i] = w[r];
            }
        }
        Batch {
            x: self.x.slice(s![..n, ..]),
            y: self.y.slice(s![..n, ..]),
            weights: weights.map(|_| &self.w[..n]),
        }
    }
}

/// Copies rows `rows` of `from` into the first rows of `to`, in order. Row-major inputs (the
/// usual case) go as slice copies: `assign` per row costs more than the copy itself for rows of
/// tens of features, and a training epoch gathers every row (a plain copy, so the same values).
fn copy_rows<T: Float>(to: &mut Array2<T>, from: ArrayView2<T>, rows: &[usize]) {
    let width = from.ncols();
    match (from.as_slice(), to.as_slice_mut()) {
        (Some(source), Some(target)) => {
            for (row_out, &r) in target.chunks_exact_mut(width.max(1)).zip(rows) {
                row_out.copy_from_slice(&source[r * width..(r + 1) * width]);
            }
        }
        _ => {
            for (i, &r) in rows.iter().enumerate() {
                to.row_mut(i).assign(&from.row(r));
            }
        }
    }
}

/// Why a stratified split was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    /// The fraction must be strictly between 0 and 1.
    #[error("validation fraction must be in (0, 1), got {0}")]
    Fraction(f64),
    /// The split would leave a class with no rows on one side.
    #[error(
        "class {class} has {count} rows: a validation fraction of {fraction} puts {n_val} of them in validation and {n_train} in training; each side needs at least one"
    )]
    EmptyClass {
        /// The class label.
        class: usize,
        /// Rows of that class.
        count: usize,
        /// The fraction asked for.
        fraction: f64,
        /// Rows it would put in validation.
        n_val: usize,
        /// Rows it would leave in training.
        n_train: usize,
    },
}

/// A train/validation split: row indices into the original data, each list ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows for training.
    pub train: Vec<usize>,
    /// Rows for validation.
    pub val: Vec<usize>,
}

/// (T4) Splits rows into training and validation, preserving every class's share.
///
/// `labels` (N,) holds a class index per row (0/1 for a binary target). Classes are taken
/// in ascending order; for class c with `n_c` rows:
/// - `v_c = ⌊fraction·n_c + ½⌋` rows go to validation (round half up, so 2.5 → 3);
/// - the class's row indices, in ascending order, are shuffled by [`fisher_yates`] from
///   `rng`, and the first `v_c` of the shuffled list go to validation, the rest to training.
///
/// Both lists are returned sorted ascending, so only *which* rows were chosen depends on
/// the RNG. The validation set has `Σ_c v_c` rows, which may differ from `fraction·N`
/// by up to half a row per class.
///
/// # Errors
/// [`SplitError::Fraction`] unless `0 < fraction < 1`; [`SplitError::EmptyClass`] if some
/// class would get 0 rows in validation or 0 in training.
pub fn stratified_split(
    labels: &[usize],
    fraction: f64,
    rng: &mut Rng,
) -> Result<Split, SplitError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(SplitError::Fraction(fraction));
    }
    let n_classes = labels.iter().max().map_or(0, |&m| m + 1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (row, &c) in labels.iter().enumerate() {
        by_class[c].push(row);
    }
    // Check every class before drawing anything.
    for (class, rows) in by_class.iter().enumerate() {
        let count = rows.len();
        if count == 0 {
            continue; // a label value that never occurs is not a class of the data
        }
        let n_val = (fraction * count as f64 + 0.5).floor() as usize;
        if n_val == 0 || n_val >= count {
            return Err(SplitError::EmptyClass {
                class,
                count,
                fraction,
                n_val,
                n_train: count.saturating_sub(n_val),
            });
        }
    }
    let mut train = Vec::with_capacity(labels.len());
    let mut val = Vec::new();
    for mut rows in by_class {
        if rows.is_empty() {
            continue;
        }
        let n_val = (fraction * rows.len() as f64 + 0.5).floor() as usize;
        fisher_yates(&mut rows, rng);
        val.extend_from_slice(&rows[..n_val]);
        train.extend_from_slice(&rows[n_val..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    Ok(Split { train, val })
}

#[cfg(test)]
mod tests {
    use super::*;
    use glassbox_core::seeded_rng;
    use ndarray::array;

    #[test]
    fn uniform_below_is_in_range_and_covers_it() {
        let mut rng = seeded_rng(1);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            let k = uniform_below(&mut rng, 7) as usize;
            seen[k] += 1;
        }
        // Each count is Binomial(7000, 1/7): mean 1000, sd 29; ±200 is ~7 sd.
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(uniform_below(&mut rng, 1), 0);
    }

    #[test]
    fn uniform_below_literal_formula() {
        // The first draw of the stream, scaled by hand: ⌊x·n / 2⁶⁴⌋ (no rejection is
        // possible for n = 2³², since 2⁶⁴ mod 2³² = 0).
        let x = seeded_rng(5).next_u64();
        let expect = ((u128::from(x) * (1u128 << 32)) >> 64) as u64;
        assert_eq!(uniform_below(&mut seeded_rng(5), 1 << 32), expect);
        assert_eq!(expect, x >> 32);
    }

    #[test]
    fn uniform_below_rejects_the_biased_zone() {
        // n = 2⁶³ + 1: the threshold 2⁶⁴ mod n = 2⁶³ − 1 rejects about half of all draws.
        // Whatever is returned must still be < n, and over many draws some value ≥ 2⁶³ −
        // i.e. both halves of the range — appears.
        let n = (1u64 << 63) + 1;
        let mut rng = seeded_rng(9);
        let draws: Vec<u64> = (0..64).map(|_| uniform_below(&mut rng, n)).collect();
        assert!(draws.iter().all(|&d| d < n));
        assert!(draws.iter().any(|&d| d >= 1 << 62));
        assert!(draws.iter().any(|&d| d < 1 << 62));
    }

    #[test]
    fn fisher_yates_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..50).collect();
        let mut b = a.clone();
        fisher_yates(&mut a, &mut seeded_rng(2));
        fisher_yates(&mut b, &mut seeded_rng(2));
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        // A different seed gives a different order.
        let mut c: Vec<usize> = (0..50).collect();
        fisher_yates(&mut c, &mut seeded_rng(3));
        assert_ne!(a, c);
    }

    #[test]
    fn fisher_yates_draws_len_minus_one_integers() {
        // Replaying the draws by hand gives the same permutation: the algorithm is (T2).
        let mut rng = seeded_rng(4);
        let mut manual: Vec<usize> = (0..5).collect();
        for i in (1..5).rev() {
            let j = uniform_below(&mut rng, i as u64 + 1) as usize;
            manual.swap(i, j);
        }
        let mut via = seeded_rng(4);
        let mut items: Vec<usize> = (0..5).collect();
        fisher_yates(&mut items, &mut via);
        assert_eq!(items, manual);
        assert_eq!(via, rng, "the same number of draws");
        // Nothing is drawn for 0 or 1 items.
        let before = seeded_rng(4);
        let mut r = before.clone();
        fisher_yates(&mut [7usize], &mut r);
        fisher_yates::<usize>(&mut [], &mut r);
        assert_eq!(r, before);
    }

    #[test]
    fn every_permutation_of_three_is_about_equally_likely() {
        let mut rng = seeded_rng(11);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..6000 {
            let mut p = [0, 1, 2];
            fisher_yates(&mut p, &mut rng);
            *counts.entry(p).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 6);
        // Binomial(6000, 1/6): mean 1000, sd 29.
        assert!(
            counts.values().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn shuffled_order_without_rng_is_the_identity() {
        let mut order = vec![9; 4];
        shuffled_order(&mut order, None);
        assert_eq!(order, [0, 1, 2, 3]);
    }

    #[test]
    fn gather_copies_rows_in_order_and_keeps_the_partial_batch() {
        let x = array![
            [0.0f32, 1.0],
            [2.0, 3.0],
            [4.0, 5.0],
            [6.0, 7.0],
            [8.0, 9.0]
        ];
        let y = array![[0.0f32], [1.0], [0.0], [1.0], [1.0]];
        let w = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let mut buf = BatchBuffer::<f32>::new(2, 2, 1, true);
        let order = [4, 0, 3, 1, 2];
        let mut seen_x = Vec::new();
        let mut sizes = Vec::new();
        for rows in order.chunks(2) {
            let b = buf.gather(x.view(), y.view(), Some(&w[..]), rows);
            sizes.push(b.x.nrows());
            for i in 0..b.x.nrows() {
                assert_eq!(b.y[[i, 0]], y[[rows[i], 0]]);
                assert_eq!(b.weights.expect("weights")[i], w[rows[i]]);
                seen_x.push(b.x[[i, 0]]);
            }
        }
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(num_batches(5, 2), 3);
        assert_eq!(seen_x, [8.0, 0.0, 6.0, 2.0, 4.0]);
        // Without weights the batch has none.
        let mut plain = BatchBuffer::<f32>::new(2, 2, 1, false);
        assert!(
            plain
                .gather(x.view(), y.view(), None, &[1])
                .weights
                .is_none()
        );
    }

    #[test]
    fn gather_reads_strided_inputs() {
        // A transposed (column-major) X is gathered by rows all the same.
        let xt = array![[0.0f64, 2.0, 4.0], [1.0, 3.0, 5.0]];
        let x = xt.t();
        let y = array![[0.0f64], [1.0], [2.0]];
        let mut buf = BatchBuffer::<f64>::new(3, 2, 1, false);
        let b = buf.gather(x, y.view(), None, &[2, 1]);
        assert_eq!(b.x, array![[4.0, 5.0], [2.0, 3.0]]);
    }

    #[test]
    fn stratified_split_keeps_class_shares_and_rounds_half_up() {
        // 10 of class 0, 5 of class 1; fraction 0.3: class 0 gets ⌊3 + ½⌋ = 3, class 1
        // gets ⌊1.5 + ½⌋ = 2 (half rounds up).
        let labels: Vec<usize> = (0..15).map(|i| usize::from(i % 3 == 0)).collect();
        let split = stratified_split(&labels, 0.3, &mut seeded_rng(7)).expect("valid");
        let count = |rows: &[usize], c: usize| rows.iter().filter(|&&r| labels[r] == c).count();
        assert_eq!((count(&split.val, 0), count(&split.val, 1)), (3, 2));
        assert_eq!((count(&split.train, 0), count(&split.train, 1)), (7, 3));
        // Disjoint, covering, sorted.
        let mut all: Vec<usize> = split.train.iter().chain(&split.val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..15).collect::<Vec<_>>());
        assert!(split.val.windows(2).all(|w| w[0] < w[1]));
        assert!(split.train.windows(2).all(|w| w[0] < w[1]));
        // Same seed, same split; another seed, another one.
        let again = stratified_split(&labels, 0.3, &mut seeded_rng(7)).expect("valid");
        assert_eq!(again, split);
        let other = stratified_split(&labels, 0.3, &mut seeded_rng(8)).expect("valid");
        assert_ne!(other.val, split.val);
    }

    #[test]
    fn stratified_split_errors() {
        let labels = [0usize, 0, 0, 0, 1, 1];
        for f in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(matches!(
                stratified_split(&labels, f, &mut seeded_rng(1)),
                Err(SplitError::Fraction(_))
            ));
        }
        // 2 rows of class 1 at fraction 0.2: ⌊0.4 + ½⌋ = 0 in validation.
        let e = stratified_split(&labels, 0.2, &mut seeded_rng(1)).unwrap_err();
        assert_eq!(
            e,
            SplitError::EmptyClass {
                class: 1,
                count: 2,
                fraction: 0.2,
                n_val: 0,
                n_train: 2
            }
        );
        assert!(e.to_string().contains("class 1 has 2 rows"));
        // 2 rows at fraction 0.8: ⌊1.6 + ½⌋ = 2, nothing left for training.
        assert!(matches!(
            stratified_split(&labels, 0.8, &mut seeded_rng(1)),
            Err(SplitError::EmptyClass {
                class: 1,
                n_val: 2,
                n_train: 0,
                ..
            })
        ));
    }
}
