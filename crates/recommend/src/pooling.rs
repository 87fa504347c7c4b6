//! Sum and mean pooling of bags of ids over an embedding table (notes/recommend.md §10,
//! K30–K31), forward and backward side by side.
//!
//! Shapes: the table is (V, d) row-major; B bags in CSR form (`offsets` (B + 1,), `ids`
//! (Σ|bag|,)); the pooled rows (B, d).

use glassbox_core::Float;
use rayon::prelude::*;

/// B bags of ids in CSR form: bag b is `ids[offsets[b]..offsets[b + 1]]`.
#[derive(Debug, Clone, Copy)]
pub struct Bags<'a> {
    /// (B + 1,), ascending, `offsets[0] = 0`, `offsets[B] = ids.len()`.
    pub offsets: &'a [usize],
    /// (Σ|bag|,), each < V.
    pub ids: &'a [u32],
}

impl Bags<'_> {
    /// B, the number of bags.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of bag `b`.
    pub fn bag(&self, b: usize) -> &[u32] {
        &self.ids[self.offsets[b]..self.offsets[b + 1]]
    }
}

/// How a bag's rows are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// (K30) `o_b = Σ_{n ∈ b} E[id_n]`.
    Sum,
    /// (K30) `o_b = (1/|b|) Σ_{n ∈ b} E[id_n]`; an empty bag gives the zero row (PyTorch's
    /// `EmbeddingBag(mode="mean")` does the same).
    Mean,
}

impl Pooling {
    /// The factor each row of bag `b` is multiplied by: 1, or 1/|b| (1 for an empty bag,
    /// which has no rows to scale).
    fn scale<T: Float>(self, len: usize) -> T {
        match self {
            Pooling::Sum => T::one(),
            Pooling::Mean => T::from_f64(1.0 / len.max(1) as f64),
        }
    }
}

/// (K30) `out[b, :] = c_b Σ_{n ∈ bag b} table[ids[n], :]` with `c_b` = 1 (sum) or 1/|b|
/// (mean); the sum runs in the bag's order, then the factor is applied. Bags are split between
/// threads (each bag is one thread's sum), so the result does not depend on the thread count.
///
/// # Panics
/// If `out` is not (B, d) or an id is ≥ V.
pub fn pool_forward<T: Float>(
    table: &[T],
    d: usize,
    bags: Bags<'_>,
    pooling: Pooling,
    out: &mut [T],
) {
    assert_eq!(out.len(), bags.len() * d, "pool_forward: out is not (B, d)");
    out.par_chunks_mut(d.max(1))
        .enumerate()
        .for_each(|(b, row)| {
            row.fill(T::zero());
            let ids = bags.bag(b);
            for &id in ids {
                let at = id as usize * d;
                for (o, &e) in row.iter_mut().zip(&table[at..at + d]) {
                    *o += e;
                }
            }
            let c: T = pooling.scale(ids.len());
            if c != T::one() {
                row.iter_mut().for_each(|o| *o *= c);
            }
        });
}

/// Table rows per parallel task of [`pool_backward`].
const ROWS_PER_TASK: usize = 256;

/// (K31) `d_table[v, :] += Σ_b Σ_{n ∈ bag b, ids[n] = v} c_b · d_out[b, :]`, the sum taken in
/// ascending (b, n). Accumulates (the caller zeroes `d_table`). As the embedding backward
/// (K13): threads own disjoint blocks of table rows, each scans every id in order and adds
/// only the rows of its block, so the bits do not depend on the thread count.
///
/// # Panics
/// If `d_out` is not (B, d), `d_table` is not a whole number of rows, or an id is ≥ V.
pub fn pool_backward<T: Float>(
    d_out: &[T],
    bags: Bags<'_>,
    pooling: Pooling,
    d: usize,
    d_table: &mut [T],
) {
    assert_eq!(
        d_out.len(),
        bags.len() * d,
        "pool_backward: d_out is not (B, d)"
    );
    assert!(
        d > 0 && d_table.len().is_multiple_of(d),
        "pool_backward: d_table is not (V, d)"
    );
    let v = d_table.len() / d;
    assert!(
        bags.ids.iter().all(|&i| (i as usize) < v),
        "pool_backward: id ≥ V = {v}"
    );
    // c_b · d_out[b] once per bag, not once per id.
    let mut scaled = d_out.to_vec();
    for (b, row) in scaled.chunks_exact_mut(d).enumerate() {
        let c: T = pooling.scale(bags.bag(b).len());
        row.iter_mut().for_each(|g| *g *= c);
    }
    d_table
        .par_chunks_mut(ROWS_PER_TASK * d)
        .enumerate()
        .for_each(|(block, rows)| {
            let first = block * ROWS_PER_TASK;
            let last = first + rows.len() / d;
            for b in 0..bags.len() {
                let g = &scaled[b * d..(b + 1) * d];
                for &id in bags.bag(b) {
                    let id = id as usize;
                    if id >= first && id < last {
                        let dst = &mut rows[(id - first) * d..(id - first + 1) * d];
                        for (a, &x) in dst.iter_mut().zip(g) {
                            *a += x;
                        }
                    }
                }
            }
        });
}

/// The reference twin of [`pool_backward`]: one thread, one pass over (b, n).
pub fn pool_backward_naive<T: Float>(
    d_out: &[T],
    bags: Bags<'_>,
    pooling: Pooling,
    d: usize,
    d_table: &mut [T],
) {
    for b in 0..bags.len() {
        let c: T = pooling.scale(bags.bag(b).len());
        for &id in bags.bag(b) {
            for k in 0..d {
                d_table[id as usize * d + k] += c * d_out[b * d + k];
            }
        }
    }
}
