//! Item-based nearest neighbours (notes/recommend.md §7, K20): cosine similarity of the item
//! columns of the binary training matrix, each item keeping its k most similar items.

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
/// who bought both i and j, C_ii = the buyers of i (K20, K21).
pub fn co_buyers(split: &Split) -> (Vec<Vec<u32>>, Vec<u32>) {
    let n = split.items.len();
    let history: Vec<Vec<u32>> = split
        .history
        .iter()
        .map(|h| h.iter().map(|o| o.item).collect())
        .collect();
    let mut co = vec![0u32; n * n];
    for h in &history {
        for &i in h {
            let row = &mut co[i as usize * n..(i as usize + 1) * n];
            for &j in h {
                row[j as usize] += 1;
            }
        }
    }
    (history, co)
}

impl ItemKnn {
    /// (K20) `C = XᵀX` (co-buyer counts, X binary U × I), `cos(i, j) = C_ij / √(C_ii C_jj)`,
    /// diagonal 0; row i of S keeps its `k` largest cosines (ties to the smaller item id,
    /// as in K5). Integer counts: the result does not depend on any summation order.
    pub fn fit(split: &Split, k: usize) -> ItemKnn {
        let n = split.items.len();
        let (history, co) = co_buyers(split);
        let mut row_scores = vec![0.0; n];
        let neighbours = (0..n)
            .map(|i| {
                let ci = f64::from(co[i * n + i]);
                for (j, s) in row_scores.iter_mut().enumerate() {
                    let cj = f64::from(co[j * n + j]);
                    *s = if j == i || ci == 0.0 || cj == 0.0 {
                        0.0
                    } else {
                        f64::from(co[i * n + j]) / (ci * cj).sqrt()
                    };
                }
                let mut top = top_k_of(&row_scores, &[], k);
                top.retain(|r| r.score > 0.0);
                top
            })
            .collect();
        ItemKnn {
            neighbours,
            history,
        }
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
