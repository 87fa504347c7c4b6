//! The embedding lookup (notes/recommend.md §4, K12–K13): forward gathers rows of a table,
//! backward scatter-adds the rows' gradients back into the table's gradient.
//!
//! Shapes: the table is (V, d) row-major, `ids` (N,), the gathered rows (N, d).

use glassbox_core::Float;
use rayon::prelude::*;

/// (K12) `out[n, :] = table[ids[n], :]`: table (V, d), ids (N,), out (N, d).
///
/// # Panics
/// If `out` is not (N, d) or an id is ≥ V.
pub fn embedding_forward<T: Float>(table: &[T], d: usize, ids: &[u32], out: &mut [T]) {
    assert_eq!(
        out.len(),
        ids.len() * d,
        "embedding_forward: out is not (N, d)"
    );
    for (row, &id) in out.chunks_exact_mut(d).zip(ids) {
        let at = id as usize * d;
        row.copy_from_slice(&table[at..at + d]);
    }
}

/// Table rows per parallel task of [`embedding_backward`].
const ROWS_PER_TASK: usize = 256;

/// (K13) `d_table[v, :] += Σ_{n : ids[n] = v} d_out[n, :]`, the sum taken in ascending n.
/// Accumulates (the caller zeroes `d_table`). Threads own disjoint blocks of table rows; the
/// ids are first sorted by block, stably (a counting sort: each block's list keeps ascending
/// n), so each task visits only its own ids and every row's sum has the same order whatever
/// the thread count: no atomics, no scheduling-order reduction. The sort is O(N + V/256);
/// before the ninth session every task scanned all N ids (N·V/256 comparisons, most of the
/// MF step's time after the optimizer).
///
/// # Panics
/// If `d_out` is not (N, d), `d_table` is not a whole number of rows, or an id is ≥ V.
pub fn embedding_backward<T: Float>(d_out: &[T], ids: &[u32], d: usize, d_table: &mut [T]) {
    assert_eq!(
        d_out.len(),
        ids.len() * d,
        "embedding_backward: d_out is not (N, d)"
    );
    assert!(
        d > 0 && d_table.len().is_multiple_of(d),
        "embedding_backward: d_table is not (V, d)"
    );
    let v = d_table.len() / d;
    assert!(
        ids.iter().all(|&i| (i as usize) < v),
        "embedding_backward: id ≥ V = {v}"
    );
    let (start, order) = by_block(ids, v.div_ceil(ROWS_PER_TASK));
    d_table
        .par_chunks_mut(ROWS_PER_TASK * d)
        .enumerate()
        .for_each(|(block, rows)| {
            let first = block * ROWS_PER_TASK;
            for &n in &order[start[block]..start[block + 1]] {
                let (n, at) = (n as usize, ids[n as usize] as usize - first);
                let dst = &mut rows[at * d..(at + 1) * d];
                for (a, &g) in dst.iter_mut().zip(&d_out[n * d..(n + 1) * d]) {
                    *a += g;
                }
            }
        });
}

/// The positions n of `ids` grouped by block (`ids[n] / ROWS_PER_TASK`), ascending n within
/// a block: block b's positions are `order[start[b]..start[b + 1]]` (`start` has
/// `blocks + 1` entries).
fn by_block(ids: &[u32], blocks: usize) -> (Vec<usize>, Vec<u32>) {
    let mut start = vec![0usize; blocks + 1];
    for &id in ids {
        start[id as usize / ROWS_PER_TASK + 1] += 1;
    }
    for b in 0..blocks {
        start[b + 1] += start[b];
    }
    let mut next = start.clone();
    let mut order = vec![0u32; ids.len()];
    for (n, &id) in ids.iter().enumerate() {
        let b = id as usize / ROWS_PER_TASK;
        order[next[b]] = n as u32;
        next[b] += 1;
    }
    (start, order)
}

/// The reference twin of [`embedding_backward`]: one thread, one pass over n.
pub fn embedding_backward_naive<T: Float>(d_out: &[T], ids: &[u32], d: usize, d_table: &mut [T]) {
    for (n, &id) in ids.iter().enumerate() {
        let at = id as usize * d;
        for k in 0..d {
            d_table[at + k] += d_out[n * d + k];
        }
    }
}
