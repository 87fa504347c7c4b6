//! Per-example squared gradient norms of a BatchEnsemble layer (P45) and the scaling of its
//! per-example δ rows by the clipping factors (P21): what DP-SGD needs from the layer
//! (notes/privacy.md §11).
//!
//! Example n's gradient of the shared W is a sum over the members, `Σ_i d_t_ni ⊗ u_ni`, not one
//! outer product, so its norm is not P19's product of two norms; P45 takes it from the k × k
//! Gram matrices of the d_t and u rows of the example, without forming the (H, D) matrix.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::BatchEnsembleSpec;
use crate::Float;
use crate::dense::scale_example_rows;
use crate::layer::mat_mut;

/// The per-example parts of a BatchEnsemble layer after [`super::be_delta`], for N rows:
/// the layer's input and its caches, every δ row the example's own `∂ℓₙ/∂z`.
pub(crate) struct ExampleParts<'a, T> {
    /// x (N, D) shared by the members, or (N, k·D).
    pub(crate) x: ArrayView2<'a, T>,
    /// u = x ∘ r (N·k, D).
    pub(crate) u: &'a [T],
    /// t = u·Wᵀ (N·k, H).
    pub(crate) t: &'a [T],
    /// δ = d_z (N, k·H).
    pub(crate) d_z: &'a [T],
    /// d_t = δ ∘ s (N·k, H).
    pub(crate) d_t: &'a [T],
    /// d_u = d_t·W (N·k, D).
    pub(crate) d_u: &'a [T],
}

/// (P45) Adds each example's squared gradient norm over W, r, s and b to `sq_norms` (N,).
/// From N15–N17 restricted to row n,
///
/// ```text
/// ‖gₙ‖² = Σ_ih d_z_nih²  +  Σ_ih (d_z_nih t_nih)²  +  Σ_id (d_u_nid x_nid)²
///       + Σ_i Σ_j (d_t_ni · d_t_nj)(u_ni · u_nj)
/// ```
///
/// (b, s, r, then W: `‖Σ_i d_t_ni u_niᵀ‖²_F = Σ_ij ⟨d_t_ni, d_t_nj⟩⟨u_ni, u_nj⟩`, k² dot
/// products of length H and D instead of the H·D entries). Every product and sum in f64, in
/// a fixed order (members i, then h or d, increasing; the Gram terms i ≥ j, the off-diagonal
/// ones doubled); rows run on the pool's threads, each row's sum on one thread, so the norms
/// do not depend on the thread count. The W term is a Frobenius product of two Gram
/// matrices, ≥ 0 exactly; it is floored at 0 so that rounding under heavy cancellation cannot
/// make a norm negative (its error is f64's, far below the f32 gradients it measures).
pub(crate) fn be_add_example_sq_norms<T: Float>(
    spec: &BatchEnsembleSpec,
    parts: ExampleParts<'_, T>,
    sq_norms: &mut [f64],
) {
    let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
    let n = parts.x.nrows();
    assert_eq!(
        sq_norms.len(),
        n,
        "batch_ensemble: {} norms for {n} rows",
        sq_norms.len()
    );
    let f = |v: T| v.to_f64();
    let dot = |a: &[T], b: &[T]| -> f64 { a.iter().zip(b).map(|(&p, &q)| f(p) * f(q)).sum() };
    sq_norms.par_iter_mut().enumerate().for_each(|(row, sq)| {
        let mut total = 0.0;
        for i in 0..k_n {
            let at = (row * k_n + i) * h_n;
            for h in at..at + h_n {
                let dz = f(parts.d_z[h]);
                let ds = dz * f(parts.t[h]);
                total += dz * dz + ds * ds; // (P45) b, s
            }
            let at = (row * k_n + i) * d_n;
            for d in 0..d_n {
                let dr = f(parts.d_u[at + d]) * f(spec.x_at(&parts.x, row, i, d));
                total += dr * dr; // (P45) r
            }
        }
        let member = |buf, i, width| member_row(buf, row * k_n + i, width);
        let mut w = 0.0;
        for i in 0..k_n {
            for j in 0..=i {
                let gram = dot(member(parts.d_t, i, h_n), member(parts.d_t, j, h_n))
                    * dot(member(parts.u, i, d_n), member(parts.u, j, d_n));
                w += if i == j { gram } else { 2.0 * gram }; // (P45) W
            }
        }
        *sq += total + w.max(0.0);
    });
}

/// Row `at` of width `width` of a row-major buffer.
fn member_row<T>(buf: &[T], at: usize, width: usize) -> &[T] {
    &buf[at * width..(at + 1) * width]
}

/// (P21) Scales example n's δ, d_t and d_u rows by `factors[n]` (N,): the parameter
/// gradients N15–N17 are linear in δ given the forward pass's caches, so the clipped sum
/// `Σₙ cₙ·gₙ` is the ordinary gradient of the scaled rows. d_t and d_u are scaled in place
/// rather than recomputed from the scaled δ (one GEMM saved); a factor of 1 leaves every bit.
pub(crate) fn be_scale_examples<T: Float>(
    spec: &BatchEnsembleSpec,
    d_z: &mut [T],
    d_t: &mut [T],
    d_u: &mut [T],
    factors: &[f64],
) {
    let n = factors.len();
    let (kh, kd) = (spec.output_width(), spec.members * spec.inputs);
    scale_example_rows(mat_mut(d_z, n, kh), factors);
    scale_example_rows(mat_mut(d_t, n, kh), factors);
    scale_example_rows(mat_mut(d_u, n, kd), factors);
}

#[cfg(test)]
mod tests {
    //! P45 against the explicit gradient of each example: [`super::super::be_param_gradients`]
    //! over the one row n is example n's gradient, whose squared norm is summed directly.

    use super::*;
    use crate::batch_ensemble::{be_delta, be_forward, be_param_gradients};
    use crate::init::uniform01;
    use crate::layer::GradWrite;
    use crate::{Rng, seeded_rng};
    use ndarray::Array2;

    /// A layer's random input and per-example δ, and its forward and δ caches (from random
    /// parameters, dropped once the caches are made).
    struct Layer<T> {
        x: Array2<T>,
        u: Vec<T>,
        t: Vec<T>,
        d_z: Vec<T>,
        d_t: Vec<T>,
        d_u: Vec<T>,
    }

    impl<T: Float> Layer<T> {
        /// Uniform values in (−1, 1) for the parameters, x and δ; u, t by N14, d_t, d_u by
        /// N16–N17.
        fn random(spec: &BatchEnsembleSpec, n: usize, rng: &mut Rng) -> Layer<T> {
            let mut draw = |len: usize| -> Vec<T> {
                (0..len)
                    .map(|_| T::from_f64(2.0 * uniform01(rng) - 1.0))
                    .collect()
            };
            let params = draw(spec.num_params());
            let x = Array2::from_shape_vec((n, spec.input_width()), draw(n * spec.input_width()))
                .expect("x");
            let (kd, kh) = (n * spec.members * spec.inputs, n * spec.output_width());
            let d_z = draw(kh);
            let (mut u, mut t, mut z) = (
                vec![T::zero(); kd],
                vec![T::zero(); kh],
                vec![T::zero(); kh],
            );
            be_forward(spec, spec.split(&params), x.view(), &mut u, &mut t, &mut z);
            let (mut d_t, mut d_u) = (vec![T::zero(); kh], vec![T::zero(); kd]);
            be_delta(spec, spec.split(&params), n, &d_z, &mut d_t, &mut d_u);
            Layer {
                x,
                u,
                t,
                d_z,
                d_t,
                d_u,
            }
        }

        fn parts(&self) -> ExampleParts<'_, T> {
            ExampleParts {
                x: self.x.view(),
                u: &self.u,
                t: &self.t,
                d_z: &self.d_z,
                d_t: &self.d_t,
                d_u: &self.d_u,
            }
        }

        /// P45's squared norms.
        fn p45(&self, spec: &BatchEnsembleSpec) -> Vec<f64> {
            let mut sq = vec![0.0; self.x.nrows()];
            be_add_example_sq_norms(spec, self.parts(), &mut sq);
            sq
        }
    }

    /// The squared norms by the explicit per-example gradients, and with the W term of each
    /// example as if the members' outer products were orthogonal (Σ_i ‖d_t_ni‖²‖u_ni‖², the
    /// negative control).
    fn explicit_and_orthogonal(spec: &BatchEnsembleSpec, l: &Layer<f64>) -> [Vec<f64>; 2] {
        let (k_n, d_n, h_n) = (spec.members, spec.inputs, spec.units);
        let lw = spec.tensor_lens()[0];
        let sq = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
        (0..l.x.nrows())
            .map(|row| {
                let mut g = vec![0.0; spec.num_params()];
                let (x, rows) = (l.x.view(), row..row + 1);
                let write = GradWrite::Overwrite;
                be_param_gradients(
                    spec, x, &l.u, &l.t, &l.d_z, &l.d_t, &l.d_u, rows, write, &mut g,
                );
                let orthogonal: f64 = (0..k_n)
                    .map(|i| {
                        let at = row * k_n + i;
                        sq(member_row(&l.d_t, at, h_n)) * sq(member_row(&l.u, at, d_n))
                    })
                    .sum();
                (sq(&g), sq(&g) - sq(&g[..lw]) + orthogonal)
            })
            .unzip::<f64, f64, Vec<f64>, Vec<f64>>()
            .into()
    }

    fn worst_gap(got: &[f64], want: &[f64]) -> f64 {
        got.iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1e-300))
            .fold(0.0, f64::max)
    }

    #[test]
    fn p45_equals_the_explicit_per_example_gradient_norms_and_the_orthogonal_form_does_not() {
        let mut rng = seeded_rng(45);
        for members in [1, 2, 3, 5] {
            for (inputs, units) in [(1, 1), (4, 3), (7, 9)] {
                for shared_input in [true, false] {
                    let spec = BatchEnsembleSpec {
                        members,
                        inputs,
                        units,
                        shared_input,
                    };
                    let layer = Layer::<f64>::random(&spec, 6, &mut rng);
                    let [explicit, orthogonal] = explicit_and_orthogonal(&spec, &layer);
                    let gap = worst_gap(&layer.p45(&spec), &explicit);
                    assert!(
                        gap < 1e-12,
                        "{spec:?}: P45 differs from the explicit norms by {gap:e}"
                    );
                    if members > 1 && units > 1 && inputs > 1 {
                        // Negative control: without the members' cross terms the W part is
                        // wrong, so the same check must fail.
                        let gap = worst_gap(&orthogonal, &explicit);
                        assert!(gap > 1e-6, "{spec:?}: the orthogonal form passed ({gap:e})");
                    }
                }
            }
        }
    }

    #[test]
    fn norms_do_not_depend_on_the_thread_count_and_scaling_by_one_keeps_every_bit() {
        let spec = BatchEnsembleSpec {
            members: 8,
            inputs: 37,
            units: 64,
            shared_input: false,
        };
        let n = 97;
        let mut l = Layer::<f32>::random(&spec, n, &mut seeded_rng(7));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let sq = pool.install(|| l.p45(&spec));
            sq.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(7));
        let before = [l.d_z.clone(), l.d_t.clone(), l.d_u.clone()];
        be_scale_examples(&spec, &mut l.d_z, &mut l.d_t, &mut l.d_u, &vec![1.0; n]);
        assert_eq!(before, [l.d_z.clone(), l.d_t.clone(), l.d_u.clone()]);
        let mut halves = vec![1.0; n];
        halves[3] = 0.5;
        be_scale_examples(&spec, &mut l.d_z, &mut l.d_t, &mut l.d_u, &halves);
        let (kh, kd) = (spec.output_width(), spec.members * spec.inputs);
        assert_eq!(l.d_z[3 * kh], 0.5 * before[0][3 * kh]);
        assert_eq!(l.d_u[3 * kd], 0.5 * before[2][3 * kd]);
        assert_eq!(l.d_t[4 * kh], before[1][4 * kh]);
    }
}
