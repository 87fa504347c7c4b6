//! EASE (Steck 2019), the closed-form item-item model (notes/recommend.md §7, K21): a
//! collaborative part of the default blend, computed in f64.

use glassbox_core::gemm::gemm;
use glassbox_core::gemm::kernel::on_widest_isa;
use ndarray::{Array2, ArrayViewMut2, Axis, s};
use rayon::prelude::*;

use crate::phases::phase;
use crate::protocol::Split;
use crate::repeat::recency_weights;
use crate::retrieval::Scorer;

/// B (I, I) row-major: `s_uj = Σ_{i ∈ H_u} w_ui B_ij` (K42), built from the stored P (K39).
#[derive(Debug, Clone, PartialEq)]
pub struct Ease {
    items: usize,
    /// P's upper triangle, row-major packed, in f32: what a model file stores (K39).
    p_upper: Vec<f32>,
    b: Vec<f64>,
    /// Per user, the profile: (training item, its weight w_ui of K42), ascending item id;
    /// every weight 1 (the binary profile of K21) unless [`Ease::with_profile`] set them.
    history: Vec<Vec<(u32, f64)>>,
}

/// (K21) In-place inverse of a symmetric positive-definite `a` (n, n) by Gauss–Jordan
/// elimination without pivoting (the diagonal stays positive for SPD matrices). Step k scales
/// row k by 1/a_kk and subtracts a_ik times it from every other row i; rows are updated in
/// parallel, each by one thread, element by element, so the result does not depend on the
/// thread count. n³ multiply-adds, each pass streaming the whole matrix: the reference twin of
/// [`invert_spd_blocked`], which EASE uses.
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

/// Block width of (K22): panels of this many columns go through the GEMM.
const BLOCK: usize = 96;

/// (K22) In-place inverse of a symmetric positive-definite `a` (n, n, row-major) through its
/// Cholesky factor, blocked so that almost all the work is the engine's GEMM:
/// 1. G = L·Lᵀ, right-looking by panels of [`BLOCK`] columns: the diagonal block is factored
///    element by element, the panel below it solved against it row by row (rows in
///    parallel), and the trailing square updated by one GEMM, A ← A − panel·panelᵀ;
/// 2. W = L⁻¹ by block rows: R = E − L[r, :r]·W[:r, :] (GEMM), then L_rr·X = R forward;
/// 3. G⁻¹ = Wᵀ·W, block row r of it = W[r.., r]ᵀ·W[r.., :] (W is lower triangular, so the
///    rows above r add nothing), computed from the diagonal block rightwards and mirrored
///    (G⁻¹ is symmetric).
///
/// About 5n³/6 multiply-adds, nearly all in GEMM calls, whose every element is summed in one
/// fixed order; the row-wise parts give each row to one thread. So the bits do not depend on
/// the thread count.
///
/// # Panics
/// If `a` is not (n, n) or a pivot is not positive (`a` is not positive definite).
pub fn invert_spd_blocked(a: &mut [f64], n: usize) {
    invert_spd_upper(a, n);
    for i in 0..n {
        for j in 0..i {
            a[i * n + j] = a[j * n + i];
        }
    }
}

/// [`invert_spd_blocked`] without its last step: only the diagonal and the upper triangle of
/// `a` hold G⁻¹ (the lower triangle is left as scratch) — all that EASE stores (K39).
///
/// # Panics
/// As [`invert_spd_blocked`].
pub fn invert_spd_upper(a: &mut [f64], n: usize) {
    assert_eq!(a.len(), n * n, "invert_spd_blocked: not (n, n)");
    let mut g = ArrayViewMut2::from_shape((n, n), a).expect("n·n elements checked above");
    cholesky_in_place(&mut g);
    let w = lower_inverse(&g);
    // P is symmetric: only the blocks on and right of the diagonal are computed (n³/6
    // multiply-adds instead of n³/2), then mirrored.
    for r0 in (0..n).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(n);
        gemm(
            1.0,
            w.slice(s![r0.., r0..r1]).t(),
            w.slice(s![r0.., r0..]),
            0.0,
            g.slice_mut(s![r0..r1, r0..]),
        );
    }
}

/// (K22, step 1) Overwrites the lower triangle of `g` with L, G = L·Lᵀ (the upper triangle is
/// left as scratch).
fn cholesky_in_place(g: &mut ArrayViewMut2<'_, f64>) {
    let n = g.nrows();
    for k0 in (0..n).step_by(BLOCK) {
        let k1 = (k0 + BLOCK).min(n);
        for j in k0..k1 {
            let d = g[[j, j]] - (k0..j).map(|p| g[[j, p]] * g[[j, p]]).sum::<f64>();
            assert!(
                d > 0.0,
                "invert_spd_blocked: pivot {j} is {d}: not positive definite"
            );
            let d = d.sqrt();
            g[[j, j]] = d;
            for i in j + 1..k1 {
                let v = g[[i, j]] - (k0..j).map(|p| g[[i, p]] * g[[j, p]]).sum::<f64>();
                g[[i, j]] = v / d;
            }
        }
        if k1 == n {
            break;
        }
        let (top, mut below) = g.view_mut().split_at(Axis(0), k1);
        let diag = top.slice(s![k0..k1, k0..k1]);
        // Panel: X·L_kkᵀ = A[k1.., k0..k1], one row per task.
        below
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut row| {
                for j in 0..k1 - k0 {
                    let v = row[k0 + j] - (0..j).map(|p| row[k0 + p] * diag[[j, p]]).sum::<f64>();
                    row[k0 + j] = v / diag[[j, j]];
                }
            });
        let panel = g.slice(s![k1.., k0..k1]).to_owned();
        gemm(
            -1.0,
            panel.view(),
            panel.t(),
            1.0,
            g.slice_mut(s![k1.., k1..]),
        );
    }
}

/// (K22, step 2) W = L⁻¹ for the lower triangle L of `l` (its upper triangle is ignored).
fn lower_inverse(l: &ArrayViewMut2<'_, f64>) -> Array2<f64> {
    let n = l.nrows();
    let mut w = Array2::<f64>::zeros((n, n));
    for r0 in (0..n).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(n);
        let mut x = Array2::<f64>::zeros((r1 - r0, r1));
        for t in 0..r1 - r0 {
            x[[t, r0 + t]] = 1.0;
        }
        if r0 > 0 {
            gemm(
                -1.0,
                l.slice(s![r0..r1, ..r0]),
                w.slice(s![..r0, ..r1]),
                1.0,
                x.view_mut(),
            );
        }
        // L_rr·X = R, forward: row t of X uses the rows s < t already solved. Columns do not
        // mix: slabs of them are solved in parallel, each element by the same steps.
        x.axis_chunks_iter_mut(Axis(1), BLOCK)
            .into_par_iter()
            .for_each(|mut slab| {
                for t in 0..r1 - r0 {
                    let (done, mut rest) = slab.view_mut().split_at(Axis(0), t);
                    let mut row = rest.row_mut(0);
                    for (p, solved) in done.outer_iter().enumerate() {
                        let f = l[[r0 + t, r0 + p]];
                        row.zip_mut_with(&solved, |a, &b| *a -= f * b);
                    }
                    let d = l[[r0 + t, r0 + t]];
                    row.mapv_inplace(|a| a / d);
                }
            });
        w.slice_mut(s![r0..r1, ..r1]).assign(&x);
    }
    w
}

/// (K41) G = X_wᵀX_w + λ_h I (n, n), row-major. Row i is summed by one task over i's
/// buyers in ascending user id — the order of a user-by-user pass — and λ_h added last, so
/// the bits do not depend on the thread count.
fn gram(split: &Split, lambda: f64, half_life_days: f64) -> Vec<f64> {
    let n = split.items.len();
    let weights = recency_weights(split, half_life_days);
    let (mut squares, mut pairs) = (0.0, 0.0);
    let mut buyers: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    for (u, h) in weights.iter().enumerate() {
        for &(i, wi) in h {
            squares += wi * wi;
            pairs += 1.0;
            buyers[i as usize].push((u as u32, wi));
        }
    }
    let lambda_h = if pairs > 0.0 {
        lambda * (squares / pairs)
    } else {
        lambda
    };
    let mut g = vec![0.0; n * n];
    // `max(1)`: a split without items has no rows.
    g.par_chunks_mut(n.max(1))
        .zip(&buyers)
        .enumerate()
        .for_each(|(i, (row, users))| {
            for &(u, wi) in users {
                for &(j, wj) in &weights[u as usize] {
                    row[j as usize] += wi * wj;
                }
            }
            row[i] += lambda_h;
        });
    g
}

impl Ease {
    /// (K21) G = XᵀX + λI (X the binary training matrix), P = G⁻¹ (K22), kept as its upper
    /// triangle in f32 (K39), and B = I − P · diag(1/diag P) from it: [`Ease::fit_decayed`]
    /// at an infinite half-life.
    pub fn fit(split: &Split, lambda: f64) -> Ease {
        Ease::fit_decayed(split, lambda, f64::INFINITY)
    }

    /// (K41) EASE on the recency-weighted matrix X_w (w_ui of K40 at `half_life_days`):
    /// G = X_wᵀX_w + λ_h I with λ_h = λ · Σ_ui w_ui² / Σ_ui x_ui, so that λ keeps its strength
    /// relative to the Gram's diagonal; then P, B as (K21, K22, K39). G is summed user by user
    /// in ascending user id, so its bits do not depend on the thread count. At h = ∞ every
    /// w_ui = 1: G is the integer co-buyer counts and λ_h = λ, exactly (K21).
    pub fn fit_decayed(split: &Split, lambda: f64, half_life_days: f64) -> Ease {
        let n = split.items.len();
        let mut g = phase("EASE Gram", || gram(split, lambda, half_life_days));
        // Only P's upper triangle is kept (K39): no mirror.
        phase("EASE inverse", || invert_spd_upper(&mut g, n));
        phase("EASE B", || {
            let p_upper = (0..n)
                .flat_map(|i| g[i * n + i..(i + 1) * n].iter().map(|&x| x as f32))
                .collect();
            Ease::from_inverse(split, p_upper).expect("n(n + 1)/2 entries by construction")
        })
    }

    /// (K42) The same B scoring a recency-weighted profile: `s_uj = Σ_{i ∈ H_u} w_ui B_ij`,
    /// w_ui of (K40) at `half_life_days` (∞: the binary profile of K21).
    #[must_use]
    pub fn with_profile(mut self, split: &Split, half_life_days: f64) -> Ease {
        self.history = recency_weights(split, half_life_days);
        self
    }

    /// P's upper triangle, row-major packed (row i holds P_ii..P_i,n−1), in f32.
    pub fn inverse_upper(&self) -> &[f32] {
        &self.p_upper
    }

    /// (K39) The model of a stored P (upper triangle, as [`Ease::inverse_upper`]) over
    /// `split`'s users and items: P_ij = P_ji = the stored P_min(i,j),max(i,j) in f64, then
    /// B_ij = −P_ij / P_jj off the diagonal, B_ii = 0. `None` if the length is not
    /// I(I + 1)/2.
    pub fn from_inverse(split: &Split, p_upper: Vec<f32>) -> Option<Ease> {
        let n = split.items.len();
        if p_upper.len() != n * (n + 1) / 2 {
            return None;
        }
        // Row i of the packed triangle follows rows 0..i, of lengths n, n − 1, …: Σ = i·n − i(i−1)/2.
        let start: Vec<usize> = (0..n)
            .map(|i| i * n - i * i.saturating_sub(1) / 2)
            .collect();
        let at = |i: usize, j: usize| {
            let (a, c) = if i <= j { (i, j) } else { (j, i) };
            f64::from(p_upper[start[a] + c - a])
        };
        let mut b = vec![0.0; n * n];
        // `max(1)`: a split without items (nothing before a validation cutoff) has no rows.
        b.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
            for (j, x) in row.iter_mut().enumerate() {
                if i != j {
                    *x = -at(i, j) / at(j, j);
                }
            }
        });
        Some(Ease {
            items: n,
            p_upper,
            b,
            history: split
                .history
                .iter()
                .map(|h| h.iter().map(|o| (o.item, 1.0)).collect())
                .collect(),
        })
    }
}

impl Scorer for Ease {
    fn n_items(&self) -> usize {
        self.items
    }

    /// (K21, K42) `s_uj = Σ_{i ∈ H_u} w_ui B_ij`, added in ascending i (w = 1: exactly K21).
    /// Compiled for the widest vectors the CPU has: the same operations per item at any width.
    fn score(&self, user: u32, out: &mut [f64]) {
        on_widest_isa(|| self.score_row(user, out))
    }
}

impl Ease {
    #[inline(always)]
    fn score_row(&self, user: u32, out: &mut [f64]) {
        out.fill(0.0);
        let n = self.items;
        for &(i, w) in &self.history[user as usize] {
            for (s, b) in out
                .iter_mut()
                .zip(&self.b[i as usize * n..(i as usize + 1) * n])
            {
                *s += w * b;
            }
        }
    }
}
