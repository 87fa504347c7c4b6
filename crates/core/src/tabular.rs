//! Layers for the numeric features of tables (notes/tabular.md, N1–N9): a learned scale per
//! feature (RealMLP, Holzmüller et al. 2024) and periodic embeddings with a per-feature
//! dense layer, PLR (Gorishniy, Rubachev & Babenko 2022). Each op's forward and backward sit
//! side by side; backward *adds* into caller-owned gradient buffers.
//!
//! Shapes: `N` rows, `D` features, `K` frequencies per feature, `H` embedding units per
//! feature. Parameters are flat row-major buffers, as the network's are.
//!
//! Determinism: threads split rows (forward, `∂L/∂X`) or features (parameter gradients), and
//! every sum over rows runs in increasing row order on one thread, so results are
//! bit-identical at any thread count (test `plr_is_bit_identical_at_1_2_and_7_threads`).

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::init::{uniform_symmetric, uniform01};
use crate::{Float, Rng};

/// (N1) Per-feature scaling, forward: `y_nd = x_nd · s_d`. x (N, D), s (D) → y (N, D).
///
/// **Panics** if `s.len()` is not D.
pub fn feature_scale_forward<T: Float>(s: &[T], x: ArrayView2<T>) -> Array2<T> {
    assert_eq!(
        s.len(),
        x.ncols(),
        "feature_scale: {} scales for {} features",
        s.len(),
        x.ncols()
    );
    let mut y = x.to_owned();
    for mut row in y.rows_mut() {
        for (v, &sd) in row.iter_mut().zip(s) {
            *v *= sd;
        }
    }
    y
}

/// (N2) Per-feature scaling, backward: `d_s_d += Σ_n d_y_nd · x_nd` (summed in row order),
/// and returns `d_x_nd = d_y_nd · s_d` (N, D).
///
/// **Panics** if the shapes disagree.
pub fn feature_scale_backward<T: Float>(
    s: &[T],
    x: ArrayView2<T>,
    d_y: ArrayView2<T>,
    d_s: &mut [T],
) -> Array2<T> {
    assert_eq!(
        x.dim(),
        d_y.dim(),
        "feature_scale: x and d_y differ in shape"
    );
    assert_eq!(
        d_s.len(),
        s.len(),
        "feature_scale: d_s has the wrong length"
    );
    let mut d_x = d_y.to_owned();
    for (mut dx_row, x_row) in d_x.rows_mut().into_iter().zip(x.rows()) {
        for d in 0..s.len() {
            d_s[d] += dx_row[d] * x_row[d]; // (N2) uses d_y before it is scaled below
            dx_row[d] *= s[d];
        }
    }
    d_x
}

/// The shape of a PLR embedding: D features, K frequencies, H units per feature, and σ of
/// the frequencies' initial normal distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlrSpec {
    pub features: usize,
    pub frequencies: usize,
    pub units: usize,
    pub sigma: f64,
}

/// PLR parameters. `freq` c (D, K); `weight` W (D, H, 2K), row `h` of feature d holding
/// the weights on `[sin(v_d1..K), cos(v_d1..K)]`; `bias` b (D, H).
#[derive(Clone, Debug, PartialEq)]
pub struct Plr<T> {
    pub spec: PlrSpec,
    pub freq: Vec<T>,
    pub weight: Vec<T>,
    pub bias: Vec<T>,
}

/// Gradients of a [`Plr`], same layout; backward adds into them.
#[derive(Clone, Debug, PartialEq)]
pub struct PlrGrads<T> {
    pub d_freq: Vec<T>,
    pub d_weight: Vec<T>,
    pub d_bias: Vec<T>,
}

/// What [`Plr::forward`] keeps for [`Plr::backward`].
#[derive(Clone, Debug)]
pub struct PlrCache<T> {
    /// The input x (N, D): ∂v/∂c needs it.
    x: Array2<T>,
    /// sin v, cos v per (n, d): (N, D, 2K) flat — ∂z/∂W, and cos/sin are ∂(sin, cos)/∂v.
    periodic: Vec<T>,
    /// The pre-activation z (N, D·H): ReLU′.
    z: Vec<T>,
}

/// 2π as `T`.
fn two_pi<T: Float>() -> T {
    T::from_f64(std::f64::consts::TAU)
}

/// (N6) One draw of N(0, 1) by Box–Muller from two uniforms of `rng`: √(−2 ln u₁)·cos(2πu₂),
/// with u₁ in (0, 1] so the logarithm is finite.
fn standard_normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - uniform01(rng);
    let u2 = uniform01(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl<T: Float> Plr<T> {
    /// (N6) Initialisation: c_dk ~ N(0, σ²) (the paper's choice, σ a hyper-parameter), W and
    /// b ~ U(±1/√(2K)) as PyTorch's `nn.Linear` with fan-in 2K. Draws c, then W, then b.
    pub fn new(spec: PlrSpec, rng: &mut Rng) -> Plr<T> {
        let (d, k, h) = (spec.features, spec.frequencies, spec.units);
        let bound = 1.0 / ((2 * k) as f64).sqrt();
        let freq = (0..d * k)
            .map(|_| T::from_f64(spec.sigma * standard_normal(rng)))
            .collect();
        let weight = (0..d * h * 2 * k)
            .map(|_| T::from_f64(uniform_symmetric(bound, rng)))
            .collect();
        let bias = (0..d * h)
            .map(|_| T::from_f64(uniform_symmetric(bound, rng)))
            .collect();
        Plr {
            spec,
            freq,
            weight,
            bias,
        }
    }

    /// Zero gradients of this layer's shape.
    pub fn zero_grads(&self) -> PlrGrads<T> {
        PlrGrads {
            d_freq: vec![T::zero(); self.freq.len()],
            d_weight: vec![T::zero(); self.weight.len()],
            d_bias: vec![T::zero(); self.bias.len()],
        }
    }

    /// Forward, x (N, D) → y (N, D·H), feature d's units at columns d·H … d·H + H − 1:
    ///
    /// ```text
    /// (N3)  v_ndk = 2π c_dk x_nd,     p_nd = [sin v_nd1 … sin v_ndK, cos v_nd1 … cos v_ndK]
    /// (N4)  z_ndh = Σ_j W_dhj p_ndj + b_dh,     y_ndh = max(z_ndh, 0)
    /// ```
    ///
    /// Threads split rows.
    ///
    /// **Panics** if x does not have D columns.
    pub fn forward(&self, x: ArrayView2<T>) -> (Array2<T>, PlrCache<T>) {
        let PlrSpec {
            features: d_n,
            frequencies: k_n,
            units: h_n,
            ..
        } = self.spec;
        assert_eq!(
            x.ncols(),
            d_n,
            "plr: {} columns for {d_n} features",
            x.ncols()
        );
        let n = x.nrows();
        let x = x.to_owned();
        let mut periodic = vec![T::zero(); n * d_n * 2 * k_n];
        let mut z = vec![T::zero(); n * d_n * h_n];
        let mut y = vec![T::zero(); n * d_n * h_n];
        periodic
            .par_chunks_mut((d_n * 2 * k_n).max(1))
            .zip(z.par_chunks_mut((d_n * h_n).max(1)))
            .zip(y.par_chunks_mut((d_n * h_n).max(1)))
            .enumerate()
            .for_each(|(row, ((p_row, z_row), y_row))| {
                for d in 0..d_n {
                    let xv = x[[row, d]];
                    let p = &mut p_row[d * 2 * k_n..(d + 1) * 2 * k_n];
                    for k in 0..k_n {
                        let v = two_pi::<T>() * self.freq[d * k_n + k] * xv; // (N3)
                        p[k] = v.sin();
                        p[k_n + k] = v.cos();
                    }
                    for h in 0..h_n {
                        let w = &self.weight[(d * h_n + h) * 2 * k_n..(d * h_n + h + 1) * 2 * k_n];
                        let mut acc = self.bias[d * h_n + h];
                        for (wj, pj) in w.iter().zip(p.iter()) {
                            acc += *wj * *pj; // (N4)
                        }
                        z_row[d * h_n + h] = acc;
                        y_row[d * h_n + h] = acc.max(T::zero());
                    }
                }
            });
        let y = Array2::from_shape_vec((n, d_n * h_n), y).expect("n·D·H outputs");
        (y, PlrCache { x, periodic, z })
    }

    /// Backward from `d_y` (N, D·H): adds the parameter gradients into `grads` and returns
    /// ∂L/∂x (N, D).
    ///
    /// ```text
    /// (N5)  δ_ndh = d_y_ndh · [z_ndh > 0]                     (ReLU′(0) = 0)
    /// (N7)  d_W_dhj += Σ_n δ_ndh p_ndj,    d_b_dh += Σ_n δ_ndh
    /// (N8)  g_ndk = Σ_h δ_ndh (W_dh,k cos v_ndk − W_dh,K+k sin v_ndk)   (= ∂L/∂v_ndk)
    /// (N9)  d_c_dk += Σ_n g_ndk 2π x_nd,   d_x_nd = Σ_k g_ndk 2π c_dk
    /// ```
    ///
    /// Rows in parallel for δ, g and d_x; features in parallel for the parameter gradients,
    /// each summing over n in increasing order.
    ///
    /// **Panics** if `d_y` or `grads` have the wrong shape.
    pub fn backward(
        &self,
        cache: PlrCache<T>,
        d_y: ArrayView2<T>,
        grads: &mut PlrGrads<T>,
    ) -> Array2<T> {
        let PlrSpec {
            features: d_n,
            frequencies: k_n,
            units: h_n,
            ..
        } = self.spec;
        let n = cache.x.nrows();
        assert_eq!(d_y.dim(), (n, d_n * h_n), "plr: d_y has the wrong shape");
        assert_eq!(
            grads.d_weight.len(),
            self.weight.len(),
            "plr: wrong gradient buffers"
        );
        let PlrCache { x, periodic, z } = cache;
        let mut delta = vec![T::zero(); n * d_n * h_n];
        let mut g = vec![T::zero(); n * d_n * k_n];
        let mut d_x = vec![T::zero(); n * d_n];
        delta
            .par_chunks_mut((d_n * h_n).max(1))
            .zip(g.par_chunks_mut((d_n * k_n).max(1)))
            .zip(d_x.par_chunks_mut(d_n.max(1)))
            .enumerate()
            .for_each(|(row, ((delta_row, g_row), dx_row))| {
                for d in 0..d_n {
                    let p = &periodic[(row * d_n + d) * 2 * k_n..(row * d_n + d + 1) * 2 * k_n];
                    for h in 0..h_n {
                        let i = d * h_n + h;
                        // (N5) ReLU′(0) = 0, as PyTorch.
                        delta_row[i] = if z[row * d_n * h_n + i] > T::zero() {
                            d_y[[row, i]]
                        } else {
                            T::zero()
                        };
                    }
                    let mut dx = T::zero();
                    for k in 0..k_n {
                        let (sin_v, cos_v) = (p[k], p[k_n + k]);
                        let mut acc = T::zero();
                        for h in 0..h_n {
                            let w = &self.weight[(d * h_n + h) * 2 * k_n..];
                            // (N8) ∂sin v/∂v = cos v, ∂cos v/∂v = −sin v
                            acc += delta_row[d * h_n + h] * (w[k] * cos_v - w[k_n + k] * sin_v);
                        }
                        g_row[d * k_n + k] = acc;
                        dx += acc * two_pi::<T>() * self.freq[d * k_n + k]; // (N9)
                    }
                    dx_row[d] = dx;
                }
            });
        grads
            .d_freq
            .par_chunks_mut(k_n.max(1))
            .zip(grads.d_weight.par_chunks_mut((h_n * 2 * k_n).max(1)))
            .zip(grads.d_bias.par_chunks_mut(h_n.max(1)))
            .enumerate()
            .for_each(|(d, ((d_c, d_w), d_b))| {
                for row in 0..n {
                    let p = &periodic[(row * d_n + d) * 2 * k_n..(row * d_n + d + 1) * 2 * k_n];
                    for h in 0..h_n {
                        let dl = delta[row * d_n * h_n + d * h_n + h];
                        d_b[h] += dl; // (N7)
                        for (dw, pj) in d_w[h * 2 * k_n..(h + 1) * 2 * k_n].iter_mut().zip(p) {
                            *dw += dl * *pj; // (N7)
                        }
                    }
                    let xv = x[[row, d]];
                    for k in 0..k_n {
                        d_c[k] += g[row * d_n * k_n + d * k_n + k] * two_pi::<T>() * xv; // (N9)
                    }
                }
            });
        Array2::from_shape_vec((n, d_n), d_x).expect("n·D input gradients")
    }
}
