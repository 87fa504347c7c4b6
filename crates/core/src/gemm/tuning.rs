//! The measured (or estimated, where said) numbers of the GEMM, in one place
//! (notes/gemm.md §2, §3).
//!
//! Two kinds, with different promises:
//! - **speed only** — the parallel split (eq. G3, G3′: [`PARALLEL_MIN_MACS`], [`MIN_BLOCK`],
//!   [`MAX_BLOCKS`]) and the kernel's cache blocking ([`DOT_MC`], [`OUTER_MC`],
//!   [`outer_kc`], [`FAR_BYTES`]) decide which thread computes an element of C, where its
//!   operands are read from and what stays in cache, never which operations run on it:
//!   changing one of them changes no bit (notes/gemm.md §3, "why results cannot depend on
//!   the thread count");
//! - **bits too** — [`DOT_MIN_K`] chooses between the dot and the outer kernel, which sum k
//!   in different orders (notes/gemm.md §2): changing it changes the last bits of every
//!   product whose k lies between the old and the new value.

use crate::gemm::cache::cache_sizes;

/// Below this many multiply-adds (`m·k·n`, 2²⁰ ≈ 1 M, ≈ 35 µs of one core) [`crate::gemm()`]
/// stays on the calling thread: waking a second thread costs more than it saves. 2²⁰, not
/// the first estimate 2²¹, since a batch's parameter gradients are summed by shards of 32
/// rows (T11): the 784-64 layer's shard product (64 × 32 × 784, 1.6 M) then stayed on one
/// thread, and the 2-thread step at batch 256 ran 26 % faster at 2²⁰ (notes/gemm.md §3).
pub const PARALLEL_MIN_MACS: usize = 1 << 20;

/// The smallest block (rows or columns of C) one task gets: a multiple of the column tiles
/// (our kernels' 4 and 16 / 8, matrixmultiply's 8×8 / 8×4 for f32 / f64) so that column
/// blocks cut no tile a single call would have filled, and large enough to amortise a
/// block's fixed cost (copying the shared operand again, when the kernel copies it). Where
/// a block edge does cut a tile, only speed changes, never a bit (notes/gemm.md §3).
pub const MIN_BLOCK: usize = 64;

/// At most this many blocks: for large C the block grows (in steps of [`MIN_BLOCK`]) so that
/// the shared operand is packed at most this many times (notes/gemm.md §3).
pub const MAX_BLOCKS: usize = 8;

/// Below this k the dot kernel's 12 horizontal sums per tile cost more than copying B
/// (set from `f32` timings when the kernel was written; `f64` uses the same threshold,
/// untimed — notes/gemm.md §2); `X·Θᵀ` with a smaller k goes through the outer kernel.
/// The one number here that changes bits (see the module doc).
pub const DOT_MIN_K: usize = 128;

/// At most this many rows of A per cache block of the dot kernel: 72 rows of k = 1024
/// (288 KB of `f32`) stay in L2 while every column group of B passes over them. All of B
/// streams through once per block, so the rows are cut into the fewest blocks of at most
/// this many, of equal length up to a tile ([`dot_block_rows`]): 256 rows make 4 passes and
/// 512 make 8, where 48-row blocks made 6 and 11 — a rank of np = 2 paid more than half the
/// one-process forward pass (notes/distributed.md §8, session 10: 784-1024-1024-1 at 256 and
/// 512 rows, the forward 2–4 % faster at both).
pub const DOT_MC: usize = 72;

/// Rows per block of the dot kernel for `m` rows of A in tiles of `tr` rows: the fewest
/// blocks of at most [`DOT_MC`] rows (rounded down to whole tiles), their length split evenly
/// and rounded up to whole tiles, so no block is a short tail that streams all of B for a
/// few rows; at least one tile (never 0, also for m = 0). Speed only: a block never changes
/// an element's operations.
pub fn dot_block_rows(m: usize, tr: usize) -> usize {
    let tr = tr.max(1);
    let cap = (DOT_MC / tr).max(1) * tr;
    let blocks = m.div_ceil(cap).max(1);
    (m.div_ceil(blocks).div_ceil(tr) * tr).max(tr)
}

/// Rows of A per cache block of the outer kernel: 96 rows (16 tiles of 6) share each panel
/// of B.
pub const OUTER_MC: usize = 96;

/// Steps of k per chunk of the outer kernel whose B panel rows are `panel_row_bytes` long:
/// the chunk of the panel fills half of the L1D (the other half holds the stream of A and
/// the parked accumulators while the block's tiles pass over it), a multiple of 16 within
/// 64..=512. 256 on AVX2 with a 32 KiB L1D (the number timed on Zen 3 when the kernel was
/// written), 192 on AVX-512 with 48 KiB (measured against 256: notes/gemm.md §2a). Speed
/// only: chunks of any length give the same bits.
pub fn outer_kc(panel_row_bytes: usize) -> usize {
    (cache_sizes().l1d / 2 / panel_row_bytes.max(1) / 16 * 16).clamp(64, 512)
}

/// A stride (in bytes) from which the outer kernel copies an operand instead of reading it
/// in place: 4 KiB, so every step of k lands on another page and the TLB, not the
/// arithmetic, sets the pace (1024 `f32`, as timed when the kernel was written; 512 `f64`
/// by the same page argument, untimed — notes/gemm.md §2).
pub const FAR_BYTES: usize = 4096;

/// How [`crate::gemm()`] divides C among rayon tasks (notes/gemm.md, eq. G3).
///
/// A pure function of the shape — see [`split_for`] — never of the thread count, so the
/// blocks, and therefore every bit of C, are the same on 1 thread or 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// One [`crate::gemm_serial`] call on the calling thread.
    Serial,
    /// Blocks of `block` consecutive rows of C (and of A; all of B is shared).
    Rows {
        /// Rows per block; the last block takes the remainder.
        block: usize,
    },
    /// Blocks of `block` consecutive columns of C (and of B; all of A is shared).
    Cols {
        /// Columns per block; the last block takes the remainder.
        block: usize,
    },
}

/// The split [`crate::gemm()`] uses for A (M,K) · B (K,N) — a function of `(m, k, n)` only
/// (eq. G3).
///
/// C is cut along its longer side (rows when `m ≥ n`, else columns) into blocks of
/// `max(MIN_BLOCK, ⌈len / MAX_BLOCKS⌉ rounded up to a multiple of MIN_BLOCK)`; k is never
/// cut. Products under [`PARALLEL_MIN_MACS`] multiply-adds, or whose longer side fits one
/// block, are [`Split::Serial`].
pub fn split_for(m: usize, k: usize, n: usize) -> Split {
    if m.saturating_mul(k).saturating_mul(n) < PARALLEL_MIN_MACS {
        return Split::Serial;
    }
    let len = m.max(n);
    let block = block_len(len);
    if len <= block {
        Split::Serial
    } else if m >= n {
        Split::Rows { block }
    } else {
        Split::Cols { block }
    }
}

/// Rows or columns per block when C's cut side is `len` long (eq. G3).
fn block_len(len: usize) -> usize {
    len.div_ceil(MAX_BLOCKS)
        .div_ceil(MIN_BLOCK)
        .max(1)
        .saturating_mul(MIN_BLOCK)
}

/// [`split_for`], with the side to cut chosen by which operand the kernel copies (eq. G3′):
/// when A is copied (with B or not), C is cut into rows, so each block copies only its own
/// rows of A — and a copied B is packed once and shared by the row blocks (G4,
/// `gemm_rows_sharing_b` in gemm/mod.rs); when only B is copied (its rows far apart or not
/// contiguous), into columns, so each block copies its own columns of B. Otherwise, and when
/// that side is too short to cut, [`split_for`]'s choice. Like the shape, which operands
/// are copied depends on the strides alone
/// ([`crate::gemm::kernel::Scratch::for_product`]), never on the thread count.
pub fn split_for_layout(m: usize, k: usize, n: usize, copy_a: bool, copy_b: bool) -> Split {
    let split = split_for(m, k, n);
    if split == Split::Serial || !(copy_a || copy_b) {
        return split;
    }
    let len = if copy_a { m } else { n };
    let block = block_len(len);
    match (len > block, copy_a) {
        (false, _) => split,
        (true, true) => Split::Rows { block },
        (true, false) => Split::Cols { block },
    }
}
