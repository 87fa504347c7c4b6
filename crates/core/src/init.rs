//! Weight initialisers (notes/backprop.md §6, equations B21–B23).
//!
//! Every draw comes from the explicit [`Rng`] passed in, in a fixed order: the weight
//! matrix Θ (H, D) row-major, then the bias b (H) — so a seed fixes every parameter, and
//! `f32` and `f64` models built from the same seed hold the same values up to rounding
//! (each draw is made in `f64` and then rounded to `T`).
//!
//! Uniform draws use [`uniform01`]: the top 53 bits of one `u64` from the ChaCha8 stream,
//! scaled to `[0, 1)`. The formula is ours, written out, so the values do not depend on
//! the version of a distribution crate.
//!
//! ```
//! use glassbox_core::{Init, seeded_rng};
//! use ndarray::{Array1, Array2};
//!
//! let mut theta = Array2::<f64>::zeros((3, 4)); // (H, D): 4 inputs, 3 units
//! let mut b = Array1::<f64>::ones(3);
//! Init::GlorotUniform.fill(theta.view_mut(), b.view_mut(), &mut seeded_rng(7));
//! let bound = (6.0_f64 / (4.0 + 3.0)).sqrt();
//! assert!(theta.iter().all(|w| w.abs() <= bound));
//! assert_eq!(b, Array1::zeros(3)); // Keras: zero bias
//! ```

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayViewMut1, ArrayViewMut2};
use rand::RngCore;

use crate::{Float, Rng};

/// How a Dense layer's Θ (H, D) and b (H) are drawn; `fan_in = D`, `fan_out = H`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// (B21) Θ ~ U(±√(6 / (fan_in + fan_out))), b = 0: Keras' `Dense` defaults
    /// (`kernel_initializer="glorot_uniform"`, `bias_initializer="zeros"`).
    /// <https://keras.io/api/layers/initializers/#glorotuniform-class>,
    /// <https://keras.io/api/layers/core_layers/dense/>; Glorot & Bengio (2010).
    GlorotUniform,
    /// (B22) Θ ~ U(±√(6 / fan_in)), b = 0: He-uniform, Keras' `HeUniform` with a zero bias.
    /// <https://keras.io/api/layers/initializers/#heuniform-class>; He et al. (2015).
    HeUniform,
    /// (B23) Θ ~ U(±1/√fan_in) and b ~ U(±1/√fan_in): PyTorch's `nn.Linear.reset_parameters`
    /// (`kaiming_uniform_(a=√5)` gives gain √(2/(1+5)) = √(1/3), bound gain·√(3/fan_in) =
    /// 1/√fan_in; the bias bound is 1/√fan_in too).
    /// <https://pytorch.org/docs/stable/generated/torch.nn.Linear.html>,
    /// <https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/linear.py>.
    TorchDefault,
}

/// Error from parsing an [`Init`] name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitError {
    /// The text that was parsed.
    pub input: String,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown initialiser {:?}; expected one of {}",
            self.input,
            Init::NAMES.join(", ")
        )
    }
}

impl std::error::Error for InitError {}

impl Init {
    /// Every accepted name.
    pub const NAMES: [&'static str; 3] = ["glorot_uniform", "he_uniform", "torch_default"];

    /// `"glorot_uniform"`, `"he_uniform"` or `"torch_default"` (what manifests record).
    pub fn name(&self) -> &'static str {
        match self {
            Init::GlorotUniform => "glorot_uniform",
            Init::HeUniform => "he_uniform",
            Init::TorchDefault => "torch_default",
        }
    }

    /// The bound `a` of the weights' U(−a, a) (B21–B23).
    pub fn weight_bound(&self, fan_in: usize, fan_out: usize) -> f64 {
        let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
        match self {
            Init::GlorotUniform => (6.0 / (fan_in + fan_out)).sqrt(),
            Init::HeUniform => (6.0 / fan_in).sqrt(),
            Init::TorchDefault => 1.0 / fan_in.sqrt(),
        }
    }

    /// The bound of the bias' U(−a, a); `0` means the bias is set to zero without drawing.
    pub fn bias_bound(&self, fan_in: usize) -> f64 {
        match self {
            Init::GlorotUniform | Init::HeUniform => 0.0,
            Init::TorchDefault => 1.0 / (fan_in as f64).sqrt(),
        }
    }

    /// Fills Θ (H, D) row-major, then b (H), from `rng` (B21–B23). Draws nothing for a zero
    /// bias.
    ///
    /// # Panics
    /// If `b` does not have H entries, or D = 0 (the bounds would be infinite).
    pub fn fill<T: Float>(
        &self,
        mut theta: ArrayViewMut2<T>,
        mut b: ArrayViewMut1<T>,
        rng: &mut Rng,
    ) {
        let (h, d) = theta.dim();
        assert_eq!(
            b.len(),
            h,
            "init: Θ is ({h}, {d}) but b has {} entries",
            b.len()
        );
        assert!(d > 0, "init: a layer needs at least one input (fan_in = 0)");
        let w_bound = self.weight_bound(d, h);
        // `iter_mut` walks a standard-layout Θ in row-major order; `for row` makes the
        // order explicit whatever the strides.
        for mut row in theta.rows_mut() {
            for w in row.iter_mut() {
                *w = T::from_f64(uniform_symmetric(w_bound, rng));
            }
        }
        let b_bound = self.bias_bound(d);
        if b_bound == 0.0 {
            b.fill(T::zero());
        } else {
            for v in b.iter_mut() {
                *v = T::from_f64(uniform_symmetric(b_bound, rng));
            }
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Init {
    type Err = InitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "glorot_uniform" => Ok(Init::GlorotUniform),
            "he_uniform" => Ok(Init::HeUniform),
            "torch_default" => Ok(Init::TorchDefault),
            _ => Err(InitError {
                input: s.to_string(),
            }),
        }
    }
}

/// A uniform draw in `[0, 1)`: `u = ⌊x / 2¹¹⌋ · 2⁻⁵³` for one `x = rng.next_u64()`.
/// Every value is a multiple of 2⁻⁵³ and exactly representable in `f64`.
pub fn uniform01(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform draw in `[−a, a)`: `a·(2u − 1)` with `u` from [`uniform01`].
pub fn uniform_symmetric(a: f64, rng: &mut Rng) -> f64 {
    a * (2.0 * uniform01(rng) - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;
    use ndarray::{Array1, Array2};

    #[test]
    fn bounds_match_the_documented_formulas() {
        // Literal values: √(6/(784+64)), √(6/784), 1/√784 = 1/28.
        assert!((Init::GlorotUniform.weight_bound(784, 64) - 0.08411582311380664).abs() < 1e-15);
        assert!((Init::HeUniform.weight_bound(784, 64) - 0.08748177652797065).abs() < 1e-15);
        assert_eq!(Init::TorchDefault.weight_bound(784, 64), 1.0 / 28.0);
        assert_eq!(Init::TorchDefault.bias_bound(784), 1.0 / 28.0);
        assert_eq!(Init::GlorotUniform.bias_bound(784), 0.0);
        assert_eq!(Init::HeUniform.bias_bound(784), 0.0);
    }

    #[test]
    fn draws_stay_in_bounds_fill_the_range_and_are_centred() {
        for init in [Init::GlorotUniform, Init::HeUniform, Init::TorchDefault] {
            let (h, d) = (64, 200);
            let mut theta = Array2::<f64>::zeros((h, d));
            let mut b = Array1::<f64>::from_elem(h, 9.0);
            init.fill(theta.view_mut(), b.view_mut(), &mut seeded_rng(3));
            let a = init.weight_bound(d, h);
            let max = theta.iter().fold(0.0_f64, |m, w| m.max(w.abs()));
            assert!(max <= a, "{init}: {max} > {a}");
            // 12 800 draws: the largest |w| comes within 0.1 % of the bound.
            assert!(max > 0.999 * a, "{init}: max {max} far below bound {a}");
            // Mean of U(−a, a) is 0 with standard error a/√(3·12800) ≈ 0.005a.
            let mean = theta.sum() / theta.len() as f64;
            assert!(mean.abs() < 0.03 * a, "{init}: mean {mean}");
            // Variance a²/3 within 5 %.
            let var = theta.iter().map(|w| w * w).sum::<f64>() / theta.len() as f64;
            assert!(
                (var / (a * a / 3.0) - 1.0).abs() < 0.05,
                "{init}: var {var}"
            );
            let bb = init.bias_bound(d);
            if bb == 0.0 {
                assert!(b.iter().all(|&v| v == 0.0));
            } else {
                assert!(b.iter().all(|v| v.abs() <= bb));
                assert!(b.iter().any(|&v| v != b[0]));
            }
        }
    }

    #[test]
    fn same_seed_same_values_in_f32_and_f64() {
        let mut t64 = Array2::<f64>::zeros((5, 3));
        let mut b64 = Array1::<f64>::zeros(5);
        let mut t32 = Array2::<f32>::zeros((5, 3));
        let mut b32 = Array1::<f32>::zeros(5);
        Init::TorchDefault.fill(t64.view_mut(), b64.view_mut(), &mut seeded_rng(11));
        Init::TorchDefault.fill(t32.view_mut(), b32.view_mut(), &mut seeded_rng(11));
        assert!(t64.iter().zip(&t32).all(|(a, b)| *a as f32 == *b));
        assert!(b64.iter().zip(&b32).all(|(a, b)| *a as f32 == *b));
        let mut again = Array2::<f64>::zeros((5, 3));
        Init::TorchDefault.fill(again.view_mut(), b64.view_mut(), &mut seeded_rng(11));
        assert_eq!(again, t64);
    }

    #[test]
    fn uniform01_is_in_the_half_open_unit_interval() {
        let mut rng = seeded_rng(0);
        let draws: Vec<f64> = (0..10_000).map(|_| uniform01(&mut rng)).collect();
        assert!(draws.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }

    #[test]
    fn names_round_trip() {
        for init in [Init::GlorotUniform, Init::HeUniform, Init::TorchDefault] {
            assert_eq!(init.to_string().parse::<Init>(), Ok(init));
        }
        assert!("xavier".parse::<Init>().is_err());
    }
}
