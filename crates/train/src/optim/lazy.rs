//! Lazy (sparse) Adam for embedding tables (notes/optimizers.md's O10–O13 restricted to the
//! rows a step touched; notes/recommend.md §10, K35): PyTorch's `torch.optim.SparseAdam`, and
//! TensorFlow Addons' `LazyAdam`.
//!
//! The table is (V, d) row-major. A step updates only the rows listed as touched, with the
//! very element-wise Adam update of [`super::Optimizer`] (same code, same bits per element);
//! an untouched row keeps its parameters **and** its moments. Departure from dense Adam:
//! dense Adam decays every row's m and v each step and keeps moving a row with m ≠ 0 even when
//! its gradient is 0, while here an absent row is frozen, and its moments, when it is next
//! touched, are bias-corrected with the global step count t although they saw fewer updates
//! (so its first steps are smaller than dense Adam's). With every row touched every step the
//! two are the same update.

use glassbox_core::Float;

use super::{AdamEpsilon, AdamHyper, Decay, OptimError, OptimizerConfig, WeightDecay, adam_update};

/// Adam whose state and updates are per row of a (V, d) table, applied to touched rows only.
#[derive(Debug, Clone)]
pub struct LazyAdam<T> {
    config: OptimizerConfig,
    /// d, the row width.
    dim: usize,
    /// Steps taken (the t of the bias corrections: global, as SparseAdam's `step`).
    t: u64,
    /// m, v (V, d).
    m: Vec<T>,
    v: Vec<T>,
}

impl<T: Float> LazyAdam<T> {
    /// `config` must be [`OptimizerConfig::Adam`]. SparseAdam's ε is the Keras form (added to
    /// the uncorrected √v, O13): `OptimizerConfig::Adam { eps: AdamEpsilon::Keras(1e-8), .. }`
    /// as [`LazyAdam::sparse_adam_torch`] builds it. Weight decay (coupled L2, O1) applies to
    /// touched rows only.
    ///
    /// # Errors
    /// A config that is not Adam or is out of range.
    pub fn new(config: OptimizerConfig, rows: usize, dim: usize) -> Result<Self, OptimError> {
        config.validate()?;
        if !matches!(config, OptimizerConfig::Adam { .. }) {
            return Err(OptimError::OutOfRange {
                name: "lazy optimizer",
                value: 0.0,
                range: "Adam only",
            });
        }
        Ok(LazyAdam {
            config,
            dim,
            t: 0,
            m: vec![T::zero(); rows * dim],
            v: vec![T::zero(); rows * dim],
        })
    }

    /// `torch.optim.SparseAdam(lr)`: β = (0.9, 0.999), ε = 1e-8 added to the uncorrected √v
    /// (its `step_size = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`), no weight decay.
    pub fn sparse_adam_torch(lr: f64) -> OptimizerConfig {
        OptimizerConfig::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: AdamEpsilon::Keras(1e-8),
            weight_decay: WeightDecay::None,
        }
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.t
    }

    /// One step: `t ← t + 1`, then for each row r in `rows` (ascending, distinct) the Adam
    /// update (O10, O11′, O13 or O11, O12 by the ε form) of `table[r]` from `grads[r]`;
    /// every other row and its moments are left alone.
    ///
    /// # Panics
    /// If `table` or `grads` is not (V, d) for the optimizer's V, or `rows` is not ascending
    /// and distinct below V.
    pub fn step(&mut self, table: &mut [T], grads: &[T], rows: &[u32]) {
        let d = self.dim;
        assert_eq!(table.len(), self.m.len(), "lazy adam: table is not (V, d)");
        assert_eq!(grads.len(), self.m.len(), "lazy adam: grads is not (V, d)");
        assert!(
            rows.windows(2).all(|w| w[0] < w[1])
                && rows.last().is_none_or(|&r| (r as usize) * d < table.len()),
            "lazy adam: rows must be ascending, distinct and < V"
        );
        self.t += 1;
        let OptimizerConfig::Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config
        else {
            unreachable!("checked in new")
        };
        let h = AdamHyper {
            beta1,
            beta2,
            eps,
            lr,
            t: self.t,
        };
        let decay = Decay::new(weight_decay, lr);
        for &r in rows {
            let at = r as usize * d..(r as usize + 1) * d;
            adam_update(
                &mut table[at.clone()],
                &grads[at.clone()],
                &mut self.m[at.clone()],
                &mut self.v[at],
                h,
                decay,
            );
        }
    }
}
