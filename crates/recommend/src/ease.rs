//! EASE (Steck 2019), the closed-form item-item model (notes/recommend.md §7, K21): a
//! collaborative part of the default blend, computed in f64.

use rayon::prelude::*;

use crate::knn::co_buyers;
use crate::protocol::Split;
use crate::retrieval::Scorer;

/// B (I, I) row-major: `s_uj = Σ_{i ∈ H_u} B_ij`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ease {
    items: usize,
    b: Vec<f64>,
    history: Vec<Vec<u32>>,
}

/// (K21) In-place inverse of a symmetric positive-definite `a` (n, n) by Gauss–Jordan
/// elimination without pivoting (the diagonal stays positive for SPD matrices). Step k scales
/// row k by 1/a_kk and subtracts a_ik times it from every other row i; rows are updated in
/// parallel, each by one thread, element by element, so the result does not depend on the
/// thread count. n³ multiply-adds.
pub fn invert_spd(a: &mut [f64], n: usize) {
    assert_eq!(a.len(), n * n, "invert_spd: not (n, n)");
    let mut pivot_row = vec![0.0; n];
    for k in 0..n {
        let p = 1.0 / a[k * n + k];
        a[k * n + k] = 1.0;
        for x in &mut a[k * n..(k + 1) * n] {
            *x *= p;
        }
        pivot_row.copy_from_slice(&a[k * n..(k + 1) * n]);
        a.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            if i != k {
                let f = row[k];
                row[k] = 0.0;
                for (x, &pk) in row.iter_mut().zip(&pivot_row) {
                    *x -= f * pk;
                }
            }
        });
    }
}

impl Ease {
    /// (K21) G = XᵀX + λI (X the binary training matrix), P = G⁻¹,
    /// B = I − P · diag(1/diag P), i.e. B_ij = −P_ij / P_jj off the diagonal, B_ii = 0.
    pub fn fit(split: &Split, lambda: f64) -> Ease {
        let n = split.items.len();
        let (history, co) = co_buyers(split);
        let mut g: Vec<f64> = co.into_iter().map(f64::from).collect();
        for i in 0..n {
            g[i * n + i] += lambda;
        }
        invert_spd(&mut g, n);
        let diag: Vec<f64> = (0..n).map(|j| g[j * n + j]).collect();
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = if i == j { 0.0 } else { -g[i * n + j] / diag[j] };
            }
        }
        Ease {
            items: n,
            b: g,
            history,
        }
    }
}

impl Scorer for Ease {
    fn n_items(&self) -> usize {
        self.items
    }

    /// (K21) `s_uj = Σ_{i ∈ H_u} B_ij`, added in ascending i.
    fn score(&self, user: u32, out: &mut [f64]) {
        out.fill(0.0);
        let n = self.items;
        for &i in &self.history[user as usize] {
            for (s, b) in out
                .iter_mut()
                .zip(&self.b[i as usize * n..(i as usize + 1) * n])
            {
                *s += b;
            }
        }
    }
}
