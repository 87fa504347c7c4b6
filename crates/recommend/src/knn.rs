//! Item-based nearest neighbours (notes/recommend.md §7, K20): cosine similarity of the item
//! columns of the binary training matrix, each item keeping its k most similar items.

use rayon::prelude::*;

use crate::protocol::Split;
use crate::retrieval::{Ranked, Scorer, top_k_of};

/// S as sparse rows: `neighbours[i]` = the k items most similar to i, with their cosines.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemKnn {
    neighbours: Vec<Vec<Ranked>>,
    /// Per user, the training items (ascending).
    history: Vec<Vec<u32>>,
}

/// Per user, the training items (ascending), and C = XᵀX (I, I) row-major: C_ij = the users
/// who bought both i and j, C_ii = the buyers of i (K20, K21). Row i is counted by one task
/// from i's buyers (integer counts: the result does not depend on the thread count).
pub fn co_buyers(split: &Split) -> (Vec<Vec<u32>>, Vec<u32>) {
    let n = split.items.len();
    let history: Vec<Vec<u32>> = split
        .history
        .iter()
        .map(|h| h.iter().map(|o| o.item).collect())
        .collect();
    let mut buyers: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, h) in history.iter().enumerate() {
        for &i in h {
            buyers[i as usize].push(u as u32);
        }
    }
    let mut co = vec![0u32; n * n];
    // `max(1)`: a split without items has no rows.
    co.par_chunks_mut(n.max(1))
        .zip(&buyers)
        .for_each(|(row, users)| {
            for &u in users {
                for &j in &history[u as usize] {
                    row[j as usize] += 1;
                }
            }
        });
    (history, co)
}

impl ItemKnn {
    /// (K20) `C = XᵀX` (co-buyer counts, X binary U × I), `cos(i, j) = C_ij / √(C_ii C_jj)`,
    /// diagonal 0; row i of S keeps its `k` largest cosines (ties to the smaller item id,
    /// as in K5). Integer counts: the result does not depend on any summation order.
    pub fn fit(split: &Split, k: usize) -> ItemKnn {
        let mut one = ItemKnn::fit_each(split, &[k]);
        one.pop()
            .unwrap_or_else(|| unreachable!("one k, one model"))
    }

    /// [`ItemKnn::fit`] at each k of `ks`, in that order, from one C and one ranking of each
    /// row at the largest k: K5's order is total, so the k best of a row are the first k of
    /// its best max(ks), and each model is the one [`ItemKnn::fit`] gives. Rows in parallel,
    /// each by one task.
    pub fn fit_each(split: &Split, ks: &[usize]) -> Vec<ItemKnn> {
        crate::phases::phase("kNN fit", || {
            let n = split.items.len();
            let (history, co) = co_buyers(split);
            let most = ks.iter().copied().max().unwrap_or(0);
            let ranked: Vec<Vec<Ranked>> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let ci = f64::from(co[i * n + i]);
                    let row_scores: Vec<f64> = (0..n)
                        .map(|j| {
                            let cj = f64::from(co[j * n + j]);
                            if j == i || ci == 0.0 || cj == 0.0 {
                                0.0
                            } else {
                                f64::from(co[i * n + j]) / (ci * cj).sqrt()
                            }
                        })
                        .collect();
                    top_k_of(&row_scores, &[], most)
                })
                .collect();
            ks.iter()
                .map(|&k| ItemKnn {
                    neighbours: ranked
                        .iter()
                        .map(|top| {
                            top.iter()
                                .take(k)
                                .filter(|r| r.score > 0.0)
                                .copied()
                                .collect()
                        })
                        .collect(),
                    history: history.clone(),
                })
                .collect()
        })
    }
}

impl Scorer for ItemKnn {
    fn n_items(&self) -> usize {
        self.neighbours.len()
    }

    /// (K20) `s_uj = Σ_{i ∈ H_u} S_ij`, added in ascending i.
    fn score(&self, user: u32, out: &mut [f64]) {
        out.fill(0.0);
        for &i in &self.history[user as usize] {
            for r in &self.neighbours[i as usize] {
                out[r.item as usize] += r.score;
            }
        }
    }
}
