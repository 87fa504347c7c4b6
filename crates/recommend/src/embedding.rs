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
/// Accumulates (the caller zeroes `d_table`). Threads own disjoint blocks of table rows;
/// each scans all ids in order and adds only the rows of its block, so every row's sum has
/// the same order whatever the thread count: no atomics, no scheduling-order reduction.
/// Cost: every task reads all N ids (N·V/256 comparisons), cheap next to the d-wide adds.
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
    d_table
        .par_chunks_mut(ROWS_PER_TASK * d)
        .enumerate()
        .for_each(|(block, rows)| {
            let first = block * ROWS_PER_TASK;
            let last = first + rows.len() / d;
            for (n, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= first && id < last {
                    let dst = &mut rows[(id - first) * d..(id - first + 1) * d];
                    for (a, &g) in dst.iter_mut().zip(&d_out[n * d..(n + 1) * d]) {
                        *a += g;
                    }
                }
            }
        });
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
