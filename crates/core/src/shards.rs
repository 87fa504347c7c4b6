//! How a batch's gradient is summed: over a fixed number of shards of consecutive rows, each
//! shard's partial from zero, the partials added in shard order (notes/training.md §2b, T11).
//!
//! The count depends on the batch size alone, never on the thread count or on how many
//! processes share the batch, so one process and N MPI ranks (each computing some shards'
//! partials, notes/distributed.md) add the same partials in the same order: the same bits.

use std::ops::Range;

/// Rows per shard at least (where the batch allows): a smaller shard makes the weight
/// gradient GEMM read and write all of dΘ for too few rows of the batch.
pub const SHARD_MIN_ROWS: usize = 32;

/// Shards per batch at most: 8 partials, each a pass over dΘ.
pub const MAX_SHARDS: usize = 8;

/// (T11) The shards of a batch of `rows` rows: `S = clamp(⌊rows / 32⌋, 1, 8)` shards, shard
/// s holding rows `[⌊s·rows/S⌋, ⌊(s+1)·rows/S⌋)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardPlan {
    rows: usize,
    count: usize,
}

impl ShardPlan {
    /// The plan of a batch of `rows` rows (T11).
    pub fn for_batch(rows: usize) -> Self {
        ShardPlan {
            rows,
            count: (rows / SHARD_MIN_ROWS).clamp(1, MAX_SHARDS),
        }
    }

    /// The number of shards S.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The rows of the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The rows of shard `s` (T11).
    ///
    /// # Panics
    /// If `s ≥ S`.
    pub fn shard(&self, s: usize) -> Range<usize> {
        assert!(s < self.count, "shard {s} of {}", self.count);
        self.start(s)..self.start(s + 1)
    }

    /// The first row of shard `s` (the end of the batch for `s = S`).
    fn start(&self, s: usize) -> usize {
        s * self.rows / self.count
    }

    /// The shards `[first, last)` of `ranks` processes' rank `rank`: consecutive blocks, as
    /// even as S allows, in rank order (notes/distributed.md).
    pub fn shards_of_rank(&self, rank: usize, ranks: usize) -> Range<usize> {
        assert!(rank < ranks, "rank {rank} of {ranks}");
        rank * self.count / ranks..(rank + 1) * self.count / ranks
    }

    /// The batch rows of shards `shards` (consecutive).
    pub fn rows_of(&self, shards: Range<usize>) -> Range<usize> {
        self.start(shards.start)..self.start(shards.end)
    }
}

/// (T12) The units `[⌊h·r/N⌋, ⌊h·(r+1)/N⌋)` of a layer of `units` units whose gradient
/// rank `rank` of `ranks` computes over the whole batch (notes/distributed.md §2): consecutive
/// blocks in rank order, as even as `units` allows (a rank may have none).
pub fn units_of_rank(units: usize, rank: usize, ranks: usize) -> Range<usize> {
    assert!(rank < ranks, "rank {rank} of {ranks}");
    units * rank / ranks..units * (rank + 1) / ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order() {
        for rows in [0, 1, 31, 32, 64, 65, 100, 255, 256, 512, 1000] {
            let plan = ShardPlan::for_batch(rows);
            let mut next = 0;
            for s in 0..plan.count() {
                let r = plan.shard(s);
                assert_eq!(r.start, next, "rows {rows} shard {s}");
                next = r.end;
            }
            assert_eq!(next, rows);
        }
        assert_eq!(ShardPlan::for_batch(32).count(), 1);
        assert_eq!(ShardPlan::for_batch(64).count(), 2);
        assert_eq!(ShardPlan::for_batch(512).count(), 8);
        assert_eq!(ShardPlan::for_batch(512).shard(7), 448..512);
    }

    #[test]
    fn ranks_take_consecutive_shards() {
        for count_rows in [32, 64, 96, 512] {
            let plan = ShardPlan::for_batch(count_rows);
            for ranks in 1..=5 {
                let mut next = 0;
                for r in 0..ranks {
                    let mine = plan.shards_of_rank(r, ranks);
                    assert_eq!(mine.start, next);
                    next = mine.end;
                }
                assert_eq!(next, plan.count());
            }
        }
        assert_eq!(ShardPlan::for_batch(512).shards_of_rank(1, 3), 2..5);
    }

    #[test]
    fn ranks_take_consecutive_units() {
        for units in [1, 2, 5, 16, 1024] {
            for ranks in 1..=5 {
                let mut next = 0;
                for r in 0..ranks {
                    let mine = units_of_rank(units, r, ranks);
                    assert_eq!(mine.start, next);
                    next = mine.end;
                }
                assert_eq!(next, units);
            }
        }
        assert_eq!(units_of_rank(1, 0, 2), 0..0);
        assert_eq!(units_of_rank(1, 1, 2), 0..1);
        assert_eq!(units_of_rank(1024, 1, 3), 341..682);
    }
}
