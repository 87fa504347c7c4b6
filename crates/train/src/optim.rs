//! Optimizers: one element-wise update per algorithm over the flat parameter buffer
//! (notes/optimizers.md, equations O1–O13).
//!
//! The network keeps all parameters in one contiguous `&mut [T]` (P,) and their gradients
//! in a matching `&[T]` (P,). [`Optimizer::step`] makes a single pass over them (and over
//! its own state buffers, also (P,)), element by element, with the maths of each element in
//! a fixed order and in `T`; the per-step scalars (bias corrections, `1 − lr·λ`) are
//! computed once in `f64` and rounded to `T`, as PyTorch does with its Python-float
//! scalars. Nothing is allocated after [`Optimizer::new`]. Results therefore do not depend
//! on the thread count, and an optimizer restored from its [`Optimizer::buffers`] and
//! [`Optimizer::step_count`] continues bit for bit.
//!
//! Every numerical convention is a named choice ([`Momentum`], [`RmsPropEpsilon`],
//! [`AdamEpsilon`], [`WeightDecay`]) written into the run's manifest through
//! [`OptimizerConfig`]'s serde form.
//!
//! # Example
//! Adam's first step is `lr·g/(|g| + ε)` in the PyTorch form (O12):
//! ```
//! use glassbox_train::{Optimizer, OptimizerConfig};
//! let mut theta = vec![1.0f64, -2.0];
//! let grads = [0.5, -4.0];
//! let mut opt = Optimizer::new(OptimizerConfig::adam_torch(0.1), theta.len()).unwrap();
//! opt.step(&mut theta, &grads);
//! assert!((theta[0] - (1.0 - 0.1 * 0.5 / (0.5 + 1e-8))).abs() < 1e-15);
//! assert!((theta[1] - (-2.0 + 0.1 * 4.0 / (4.0 + 1e-8))).abs() < 1e-15);
//! assert_eq!(opt.step_count(), 1);
//! ```

use std::ops::Range;

use glassbox_core::Float;
use serde::{Deserialize, Serialize};

pub mod lazy;

/// How weight decay enters the update (O1, O2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum WeightDecay {
    /// No weight decay.
    None,
    /// Coupled L2 (PyTorch's `weight_decay=` of SGD, RMSprop, Adam): `g ← g + λ·θ` before
    /// the update (O1), so Adam normalises the decay with the gradient.
    L2(f64),
    /// Decoupled (PyTorch `AdamW`; Keras 3's `weight_decay=` on every optimizer):
    /// `θ ← θ·(1 − lr·λ)` before the update, with the step's lr (O2).
    Decoupled(f64),
}

/// Momentum of SGD, in PyTorch's formulation (O4–O6) with `dampening = 0`.
///
/// Keras's `SGD(momentum=μ)` keeps `v ← μ·v − lr·g; θ ← θ + v` (Nesterov:
/// `θ ← θ + μ·v − lr·g`). With a constant lr, `v = −lr·b` and the two agree; when the lr
/// changes, Keras's velocity remembers the old lr while PyTorch's buffer `b` does not
/// (notes/optimizers.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Momentum {
    /// Plain SGD (O3).
    None,
    /// Heavy ball: `b ← μ·b + g; θ ← θ − lr·b` (O4, O5).
    Classic(f64),
    /// Nesterov: `b ← μ·b + g; θ ← θ − lr·(g + μ·b)` (O4, O6).
    Nesterov(f64),
}

/// Where RMSProp's ε goes, with its value (O7–O9). The decay rate is the same in both
/// (PyTorch's `alpha`, Keras's `rho`); only the defaults differ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum RmsPropEpsilon {
    /// PyTorch `RMSprop`: `θ ← θ − lr·g/(√v + ε)`, default ε = 1e-8 (α = 0.99) (O8).
    Torch(f64),
    /// Keras `RMSprop`: `θ ← θ − lr·g/√(v + ε)`, default ε = 1e-7 (ρ = 0.9) (O9).
    Keras(f64),
}

/// Adam's ε, as a named form with its value (O10–O13).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum AdamEpsilon {
    /// PyTorch `Adam`/`AdamW` (Algorithm 1 of Kingma & Ba): ε added outside the square root
    /// of the bias-corrected `v̂`: `θ ← θ − lr·m̂/(√v̂ + ε)`, default 1e-8 (O12).
    Torch(f64),
    /// Keras 3 `Adam` (`keras/src/optimizers/adam.py`, "epsilon hat" of Kingma & Ba §2):
    /// bias correction folded into the step size, `α_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`, ε̂
    /// added to the uncorrected `√v`: `θ ← θ − α_t·m/(√v + ε̂)`, default 1e-7 (O13).
    /// Equivalent to the Torch form with `ε = ε̂/√(1 − β₂ᵗ)` — 31.6·ε̂ at t = 1.
    Keras(f64),
}

impl AdamEpsilon {
    /// PyTorch's default, `Torch(1e-8)`.
    pub const TORCH_DEFAULT: Self = AdamEpsilon::Torch(1e-8);
    /// Keras's default, `Keras(1e-7)`.
    pub const KERAS_DEFAULT: Self = AdamEpsilon::Keras(1e-7);
}

impl RmsPropEpsilon {
    /// PyTorch's default, `Torch(1e-8)`.
    pub const TORCH_DEFAULT: Self = RmsPropEpsilon::Torch(1e-8);
    /// Keras's default, `Keras(1e-7)`.
    pub const KERAS_DEFAULT: Self = RmsPropEpsilon::Keras(1e-7);
}

/// The optimizer of a run, as written into its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// SGD with optional momentum (O3–O6); PyTorch `SGD`.
    Sgd {
        /// Base learning rate.
        lr: f64,
        /// Momentum form and μ.
        momentum: Momentum,
        /// Weight-decay form and λ.
        weight_decay: WeightDecay,
    },
    /// RMSProp without momentum, not centred (O7–O9).
    RmsProp {
        /// Base learning rate.
        lr: f64,
        /// Decay rate of the squared-gradient average (PyTorch `alpha`, Keras `rho`).
        rho: f64,
        /// ε form and value.
        eps: RmsPropEpsilon,
        /// Weight-decay form and λ.
        weight_decay: WeightDecay,
    },
    /// Adam (O10–O13); AdamW is `weight_decay: Decoupled(λ)`.
    Adam {
        /// Base learning rate.
        lr: f64,
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// ε form and value.
        eps: AdamEpsilon,
        /// Weight-decay form and λ.
        weight_decay: WeightDecay,
    },
}

/// An invalid optimizer configuration or checkpoint.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimError {
    /// A hyper-parameter outside its range.
    #[error("optimizer hyper-parameter {name} = {value} is outside {range}")]
    OutOfRange {
        /// Its name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The allowed range, as text.
        range: &'static str,
    },
    /// A restored state buffer's name is not one this optimizer has, or appears twice, or
    /// one is missing.
    #[error("optimizer state: expected buffers {expected:?}, got {got:?}")]
    BufferNames {
        /// The names this optimizer keeps.
        expected: &'static [&'static str],
        /// The names given.
        got: Vec<String>,
    },
    /// A restored state buffer has the wrong length.
    #[error("optimizer state buffer {name:?} has {got} entries, expected P = {expected}")]
    BufferLength {
        /// The buffer.
        name: String,
        /// Its length.
        got: usize,
        /// The parameter count.
        expected: usize,
    },
}

impl OptimizerConfig {
    /// Plain SGD, PyTorch `SGD(lr)`.
    pub fn sgd(lr: f64) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum: Momentum::None,
            weight_decay: WeightDecay::None,
        }
    }

    /// PyTorch `SGD(lr, momentum=μ)`.
    pub fn sgd_momentum(lr: f64, mu: f64) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum: Momentum::Classic(mu),
            weight_decay: WeightDecay::None,
        }
    }

    /// PyTorch `SGD(lr, momentum=μ, nesterov=True)`.
    pub fn sgd_nesterov(lr: f64, mu: f64) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum: Momentum::Nesterov(mu),
            weight_decay: WeightDecay::None,
        }
    }

    /// PyTorch `RMSprop(lr)`: α = 0.99, ε = 1e-8 outside the root.
    pub fn rmsprop_torch(lr: f64) -> Self {
        OptimizerConfig::RmsProp {
            lr,
            rho: 0.99,
            eps: RmsPropEpsilon::TORCH_DEFAULT,
            weight_decay: WeightDecay::None,
        }
    }

    /// Keras `RMSprop(learning_rate)`: ρ = 0.9, ε = 1e-7 inside the root.
    pub fn rmsprop_keras(lr: f64) -> Self {
        OptimizerConfig::RmsProp {
            lr,
            rho: 0.9,
            eps: RmsPropEpsilon::KERAS_DEFAULT,
            weight_decay: WeightDecay::None,
        }
    }

    /// PyTorch `Adam(lr)`: β = (0.9, 0.999), ε = 1e-8 (Torch form).
    pub fn adam_torch(lr: f64) -> Self {
        OptimizerConfig::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: AdamEpsilon::TORCH_DEFAULT,
            weight_decay: WeightDecay::None,
        }
    }

    /// Keras `Adam(learning_rate)`: β = (0.9, 0.999), ε̂ = 1e-7 (Keras form).
    pub fn adam_keras(lr: f64) -> Self {
        OptimizerConfig::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: AdamEpsilon::KERAS_DEFAULT,
            weight_decay: WeightDecay::None,
        }
    }

    /// PyTorch `AdamW(lr, weight_decay=λ)` (its default λ is 0.01).
    pub fn adamw(lr: f64, lambda: f64) -> Self {
        Self::adam_torch(lr).with_weight_decay(WeightDecay::Decoupled(lambda))
    }

    /// The same optimizer with another weight-decay form.
    pub fn with_weight_decay(mut self, wd: WeightDecay) -> Self {
        match &mut self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::RmsProp { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. } => *weight_decay = wd,
        }
        self
    }

    /// The base learning rate (what a [`crate::schedule::Schedule`] scales).
    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. }
            | OptimizerConfig::Adam { lr, .. } => lr,
        }
    }

    /// The weight-decay form and λ (O1, O2).
    pub fn weight_decay(&self) -> WeightDecay {
        match *self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::RmsProp { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. } => weight_decay,
        }
    }

    /// The state buffers this algorithm keeps, by name, each (P,).
    pub fn buffer_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerConfig::Sgd {
                momentum: Momentum::None,
                ..
            } => &[],
            OptimizerConfig::Sgd { .. } => &["velocity"],
            OptimizerConfig::RmsProp { .. } => &["v"],
            OptimizerConfig::Adam { .. } => &["m", "v"],
        }
    }

    /// Checks every hyper-parameter's range: lr ≥ 0, μ, ρ, β ∈ [0, 1), ε > 0, λ ≥ 0, all
    /// finite.
    ///
    /// # Errors
    /// [`OptimError::OutOfRange`] naming the first offender.
    pub fn validate(&self) -> Result<(), OptimError> {
        let unit = |name, value: f64| in_range(name, value, "[0, 1)", (0.0..1.0).contains(&value));
        let positive =
            |name, value: f64| in_range(name, value, "(0, ∞)", value > 0.0 && value.is_finite());
        in_range(
            "lr",
            self.lr(),
            "[0, ∞)",
            self.lr() >= 0.0 && self.lr().is_finite(),
        )?;
        match self.weight_decay() {
            WeightDecay::None => {}
            WeightDecay::L2(l) | WeightDecay::Decoupled(l) => {
                in_range("weight_decay", l, "[0, ∞)", l >= 0.0 && l.is_finite())?;
            }
        }
        match *self {
            OptimizerConfig::Sgd { momentum, .. } => match momentum {
                Momentum::None => Ok(()),
                Momentum::Classic(mu) | Momentum::Nesterov(mu) => unit("momentum", mu),
            },
            OptimizerConfig::RmsProp { rho, eps, .. } => {
                unit("rho", rho)?;
                let (RmsPropEpsilon::Torch(e) | RmsPropEpsilon::Keras(e)) = eps;
                positive("eps", e)
            }
            OptimizerConfig::Adam {
                beta1, beta2, eps, ..
            } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                let (AdamEpsilon::Torch(e) | AdamEpsilon::Keras(e)) = eps;
                positive("eps", e)
            }
        }
    }
}

fn in_range(
    name: &'static str,
    value: f64,
    range: &'static str,
    ok: bool,
) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::OutOfRange { name, value, range })
    }
}

/// An optimizer and its state for P parameters.
#[derive(Debug, Clone)]
pub struct Optimizer<T> {
    config: OptimizerConfig,
    /// P, the length every `step` checks.
    len: usize,
    /// Steps taken so far: `t` of the notes after the step it counts (Adam's bias
    /// corrections use it). A `u64` so no realistic run overflows it.
    t: u64,
    /// SGD momentum buffer `b` (P,); empty for other algorithms or without momentum.
    velocity: Vec<T>,
    /// Adam's first moment `m` (P,); empty otherwise.
    m: Vec<T>,
    /// Second moment `v` (P,) of RMSProp and Adam; empty otherwise.
    v: Vec<T>,
    /// DP-AdamBC's correction of `v̂` for the noise of a private step (P31); none: Adam as
    /// configured. Not state: the trainer sets it from the run's privacy settings.
    noise_correction: Option<NoiseCorrection>,
}

/// DP-AdamBC's correction (P31, notes/privacy.md §12; Tang, Shpilevskiy & Lécuyer 2024): the
/// variance Φ = (σC/B)² that the Gaussian noise adds to every coordinate of a privatised
/// gradient, taken off Adam's bias-corrected second moment, floored at γ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseCorrection {
    /// Φ = (σC/B)², the noise's variance per coordinate of the averaged gradient.
    pub variance: f64,
    /// γ > 0, the floor of `v̂ − Φ` (it takes the place of Adam's ε).
    pub floor: f64,
}

impl<T: Float> Optimizer<T> {
    /// An optimizer for `n_params` parameters, its state zeroed and `t = 0`. The state
    /// buffers are the only allocation.
    ///
    /// # Errors
    /// [`OptimError::OutOfRange`] if the configuration is invalid
    /// ([`OptimizerConfig::validate`]).
    pub fn new(config: OptimizerConfig, n_params: usize) -> Result<Self, OptimError> {
        config.validate()?;
        let names = config.buffer_names();
        let buf = |name: &str| {
            if names.contains(&name) {
                vec![T::zero(); n_params]
            } else {
                Vec::new()
            }
        };
        Ok(Self {
            config,
            len: n_params,
            t: 0,
            velocity: buf("velocity"),
            m: buf("m"),
            v: buf("v"),
            noise_correction: None,
        })
    }

    /// Makes every later Adam step DP-AdamBC's (P31) with this correction; none: plain Adam.
    ///
    /// # Errors
    /// [`OptimError::OutOfRange`] if the algorithm is not Adam, Φ is negative or γ is not
    /// positive (each not finite included).
    pub fn set_noise_correction(&mut self, c: Option<NoiseCorrection>) -> Result<(), OptimError> {
        if let Some(c) = c {
            let adam = matches!(self.config, OptimizerConfig::Adam { .. });
            in_range("noise correction: the algorithm", 0.0, "Adam only", adam)?;
            let phi_ok = c.variance >= 0.0 && c.variance.is_finite();
            in_range("noise variance Φ", c.variance, "[0, ∞)", phi_ok)?;
            let floor_ok = c.floor > 0.0 && c.floor.is_finite();
            in_range("floor γ", c.floor, "(0, ∞)", floor_ok)?;
        }
        self.noise_correction = c;
        Ok(())
    }

    /// Its configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// P, the number of parameters it updates.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it updates no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Steps taken so far (`t`).
    pub fn step_count(&self) -> u64 {
        self.t
    }

    /// The state buffers for a checkpoint, in [`OptimizerConfig::buffer_names`] order, each
    /// (P,). Together with [`Optimizer::step_count`] this is the whole state.
    pub fn buffers(&self) -> Vec<(&'static str, &[T])> {
        self.config
            .buffer_names()
            .iter()
            .map(|&name| (name, self.buffer(name)))
            .collect()
    }

    fn buffer(&self, name: &str) -> &[T] {
        match name {
            "velocity" => &self.velocity,
            "m" => &self.m,
            _ => &self.v,
        }
    }

    /// Restores a checkpointed state: the step counter and every buffer of
    /// [`OptimizerConfig::buffer_names`], each exactly once, each (P,). Continuing from a
    /// restored state is bit-identical to never having stopped.
    ///
    /// # Errors
    /// [`OptimError::BufferNames`] if the names are not exactly this optimizer's;
    /// [`OptimError::BufferLength`] if a buffer is not (P,). On error nothing is changed.
    pub fn restore(&mut self, step_count: u64, buffers: &[(&str, &[T])]) -> Result<(), OptimError> {
        let expected = self.config.buffer_names();
        let mut names: Vec<&str> = buffers.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        if names != want {
            return Err(OptimError::BufferNames {
                expected,
                got: buffers.iter().map(|(n, _)| n.to_string()).collect(),
            });
        }
        if let Some((name, data)) = buffers.iter().find(|(_, d)| d.len() != self.len) {
            return Err(OptimError::BufferLength {
                name: name.to_string(),
                got: data.len(),
                expected: self.len,
            });
        }
        for (name, data) in buffers {
            let dst = match *name {
                "velocity" => &mut self.velocity,
                "m" => &mut self.m,
                _ => &mut self.v,
            };
            dst.copy_from_slice(data);
        }
        self.t = step_count;
        Ok(())
    }

    /// One update with the configured base learning rate; see [`Optimizer::step_lr`].
    ///
    /// # Panics
    /// If `params` or `grads` is not (P,).
    pub fn step(&mut self, params: &mut [T], grads: &[T]) {
        self.step_lr(params, grads, self.config.lr());
    }

    /// One update `θ ← update(θ, g)` of every parameter with learning rate `lr` (from a
    /// schedule), then `t ← t + 1`. `params` (P,) is updated in place; `grads` (P,) is
    /// read only (weight decay and momentum work on local copies).
    ///
    /// # Panics
    /// If `params` or `grads` is not (P,).
    pub fn step_lr(&mut self, params: &mut [T], grads: &[T], lr: f64) {
        assert_eq!(
            params.len(),
            self.len,
            "optimizer step: {} parameters, optimizer built for P = {}",
            params.len(),
            self.len
        );
        assert_eq!(
            grads.len(),
            self.len,
            "optimizer step: {} gradients for P = {} parameters",
            grads.len(),
            self.len
        );
        self.update_ranges(params, grads, lr, std::slice::from_ref(&(0..self.len)));
    }

    /// [`Optimizer::step_lr`] on the parameters of `ranges` only, `t ← t + 1` once: the other
    /// parameters and their state are left alone. Every update is element-wise, so each
    /// updated element gets the bits [`Optimizer::step_lr`] gives it — how the ranks of a
    /// distributed step share the update, each its own units (T12, notes/distributed.md §2).
    ///
    /// # Panics
    /// If `params` or `grads` is not (P,), or a range is out of bounds.
    pub fn step_lr_ranges(
        &mut self,
        params: &mut [T],
        grads: &[T],
        lr: f64,
        ranges: &[Range<usize>],
    ) {
        assert!(
            params.len() == self.len && grads.len() == self.len,
            "optimizer step: {} parameters and {} gradients for P = {}",
            params.len(),
            grads.len(),
            self.len
        );
        self.update_ranges(params, grads, lr, ranges);
    }

    /// The state buffers that hold something, each (P,), in
    /// [`OptimizerConfig::buffer_names`] order: for a distributed run to share the pieces
    /// each rank updated.
    pub fn buffers_mut(&mut self) -> Vec<&mut [T]> {
        [&mut self.velocity, &mut self.m, &mut self.v]
            .into_iter()
            .filter(|b| !b.is_empty())
            .map(Vec::as_mut_slice)
            .collect()
    }

    /// `t ← t + 1`, then the update of every parameter in `ranges`.
    fn update_ranges(&mut self, params: &mut [T], grads: &[T], lr: f64, ranges: &[Range<usize>]) {
        self.t += 1;
        let decay = Decay::new(self.config.weight_decay(), lr);
        let config = self.config;
        let t = self.t;
        // One chunk of the parameters with the algorithm's state buffers (`s0`, `s1`:
        // velocity / v / (m, v); unused ones are empty). Every update is element-wise, so a
        // chunk gets the same bits on any thread, in any order.
        let step = Step {
            config,
            lr,
            t,
            decay,
            noise_correction: self.noise_correction,
        };
        let update = move |params: &mut [T], grads: &[T], s0: &mut [T], s1: &mut [T]| {
            step.run(params, grads, s0, s1)
        };
        let (s0, s1): (&mut [T], &mut [T]) = match config {
            OptimizerConfig::Sgd { .. } => (&mut self.velocity, &mut []),
            OptimizerConfig::RmsProp { .. } => (&mut self.v, &mut []),
            OptimizerConfig::Adam { .. } => (&mut self.m, &mut self.v),
        };
        for range in ranges {
            let (params, grads) = (&mut params[range.clone()], &grads[range.clone()]);
            let s0 = state_range(s0, range);
            let s1 = state_range(s1, range);
            if params.len() < PAR_MIN_PARAMS || rayon::current_num_threads() == 1 {
                update(params, grads, s0, s1);
            } else {
                par_chunks(params, grads, s0, s1, &update);
            }
        }
    }
}

/// One step's settings, applied to a chunk of the buffers by [`Step::run`].
#[derive(Clone, Copy)]
struct Step<T> {
    config: OptimizerConfig,
    lr: f64,
    /// The step number after incrementing.
    t: u64,
    decay: Decay<T>,
    noise_correction: Option<NoiseCorrection>,
}

impl<T: Float> Step<T> {
    /// The update of one chunk; the 8-lane AVX2 build when the CPU has it. The baseline
    /// x86_64 target has only SSE2, so LLVM vectorises the loops 4 lanes wide; the AVX2
    /// build runs the same IEEE operations per lane (Rust never contracts a multiply and an
    /// add into an FMA), so both give the same bits.
    fn run(self, params: &mut [T], grads: &[T], s0: &mut [T], s1: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if glassbox_core::gemm::kernel::avx2_paths() {
            // SAFETY: the CPU has AVX2 and FMA (avx2_paths checks it).
            unsafe { self.run_avx2(params, grads, s0, s1) };
            return;
        }
        self.run_any(params, grads, s0, s1);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2(self, params: &mut [T], grads: &[T], s0: &mut [T], s1: &mut [T]) {
        self.run_any(params, grads, s0, s1);
    }

    #[inline(always)]
    fn run_any(self, params: &mut [T], grads: &[T], s0: &mut [T], s1: &mut [T]) {
        let (lr, decay) = (self.lr, self.decay);
        match self.config {
            OptimizerConfig::Sgd { momentum, .. } => {
                sgd_update(params, grads, s0, momentum, lr, decay)
            }
            OptimizerConfig::RmsProp { rho, eps, .. } => {
                rmsprop_update(params, grads, s0, rho, eps, lr, decay)
            }
            OptimizerConfig::Adam {
                beta1, beta2, eps, ..
            } => {
                let h = AdamHyper {
                    beta1,
                    beta2,
                    eps,
                    lr,
                    t: self.t,
                };
                match self.noise_correction {
                    None => adam_update(params, grads, s0, s1, h, decay),
                    Some(c) => adam_bc_update(params, grads, s0, s1, h, c, decay),
                }
            }
        }
    }
}

/// From this many parameters [`Optimizer::step_lr`] updates chunks of [`PAR_CHUNK`] on
/// rayon's threads (when there is more than one).
pub const PAR_MIN_PARAMS: usize = 1 << 15;

/// Parameters per chunk of the parallel update.
pub const PAR_CHUNK: usize = 1 << 14;

/// `s[range]`, or an empty slice if `s` is an unused (empty) state buffer.
fn state_range<'s, T>(s: &'s mut [T], range: &Range<usize>) -> &'s mut [T] {
    if s.is_empty() {
        &mut []
    } else {
        &mut s[range.clone()]
    }
}

/// `s` split at `mid`, or two empty slices if `s` is an unused (empty) state buffer.
fn split_state<T>(s: &mut [T], mid: usize) -> (&mut [T], &mut [T]) {
    if s.is_empty() {
        (&mut [], &mut [])
    } else {
        s.split_at_mut(mid)
    }
}

/// Runs `f` on chunks of [`PAR_CHUNK`] elements of all four buffers (an empty state buffer
/// gives empty chunks), halving at a chunk boundary through `rayon::join` — no allocation.
fn par_chunks<T: Float>(
    params: &mut [T],
    grads: &[T],
    s0: &mut [T],
    s1: &mut [T],
    f: &(impl Fn(&mut [T], &[T], &mut [T], &mut [T]) + Sync),
) {
    if params.len() <= PAR_CHUNK {
        f(params, grads, s0, s1);
        return;
    }
    let mid = params.len().div_ceil(PAR_CHUNK) / 2 * PAR_CHUNK;
    let (p0, p1) = params.split_at_mut(mid);
    let (g0, g1) = grads.split_at(mid);
    let (a0, a1) = split_state(s0, mid);
    let (b0, b1) = split_state(s1, mid);
    rayon::join(
        || par_chunks(p0, g0, a0, b0, f),
        || par_chunks(p1, g1, a1, b1, f),
    );
}

/// Weight decay of one step, its scalar already in `T` (O1, O2).
#[derive(Clone, Copy)]
enum Decay<T> {
    None,
    /// `λ`: `g ← g + λ·θ`.
    L2(T),
    /// `1 − lr·λ`: `θ ← θ·(1 − lr·λ)`.
    Decoupled(T),
}

impl<T: Float> Decay<T> {
    fn new(wd: WeightDecay, lr: f64) -> Self {
        match wd {
            WeightDecay::None => Decay::None,
            WeightDecay::L2(l) => Decay::L2(T::from_f64(l)),
            WeightDecay::Decoupled(l) => Decay::Decoupled(T::from_f64(1.0 - lr * l)),
        }
    }

    /// Applies the decay to one element: returns the gradient the algorithm sees and
    /// shrinks `theta` first for the decoupled form.
    #[inline]
    fn apply(self, theta: &mut T, g: T) -> T {
        match self {
            Decay::None => g,
            Decay::L2(l) => g + l * *theta, // O1
            Decay::Decoupled(k) => {
                *theta *= k; // O2
                g
            }
        }
    }
}

/// SGD, PyTorch `torch.optim.SGD` with `dampening = 0` (O3–O6):
/// plain `θ ← θ − lr·g`; momentum `b ← μ·b + g`, then `θ ← θ − lr·b` (classic) or
/// `θ ← θ − lr·(g + μ·b)` (Nesterov). PyTorch sets `b ← g` on the first step; with `b`
/// starting at 0, `μ·0 + g` is the same value bit for bit.
#[inline(always)] // compiled into `Step::run_avx2` too
fn sgd_update<T: Float>(
    params: &mut [T],
    grads: &[T],
    velocity: &mut [T],
    momentum: Momentum,
    lr: f64,
    decay: Decay<T>,
) {
    let lr = T::from_f64(lr);
    match momentum {
        Momentum::None => {
            for (theta, &g) in params.iter_mut().zip(grads) {
                let g = decay.apply(theta, g);
                *theta -= lr * g; // O3
            }
        }
        Momentum::Classic(mu) | Momentum::Nesterov(mu) => {
            let nesterov = matches!(momentum, Momentum::Nesterov(_));
            let mu = T::from_f64(mu);
            for ((theta, &g), b) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
                let g = decay.apply(theta, g);
                *b = mu * *b + g; // O4
                let dir = if nesterov { g + mu * *b } else { *b }; // O6 / O5
                *theta -= lr * dir;
            }
        }
    }
}

/// RMSProp, not centred, no momentum (O7–O9): `v ← ρ·v + (1 − ρ)·g²`, then PyTorch
/// `torch.optim.RMSprop`: `θ ← θ − lr·g/(√v + ε)`, or Keras `keras.optimizers.RMSprop`:
/// `θ ← θ − lr·g/√(v + ε)`.
#[inline(always)] // compiled into `Step::run_avx2` too
fn rmsprop_update<T: Float>(
    params: &mut [T],
    grads: &[T],
    v: &mut [T],
    rho: f64,
    eps: RmsPropEpsilon,
    lr: f64,
    decay: Decay<T>,
) {
    let (rho, one_minus_rho, lr) = (T::from_f64(rho), T::from_f64(1.0 - rho), T::from_f64(lr));
    let eps_inside = matches!(eps, RmsPropEpsilon::Keras(_));
    let (RmsPropEpsilon::Torch(e) | RmsPropEpsilon::Keras(e)) = eps;
    let e = T::from_f64(e);
    for ((theta, &g), v) in params.iter_mut().zip(grads).zip(v.iter_mut()) {
        let g = decay.apply(theta, g);
        *v = rho * *v + one_minus_rho * (g * g); // O7
        if eps_inside {
            *theta -= (lr * g) / (*v + e).sqrt(); // O9 (Keras)
        } else {
            *theta -= lr * (g / (v.sqrt() + e)); // O8 (PyTorch: addcdiv)
        }
    }
}

/// Adam's per-step hyper-parameters.
#[derive(Clone, Copy)]
struct AdamHyper {
    beta1: f64,
    beta2: f64,
    eps: AdamEpsilon,
    lr: f64,
    /// The step number after incrementing (1 on the first step).
    t: u64,
}

impl AdamHyper {
    /// (1 − β₁ᵗ, 1 − β₂ᵗ), Adam's bias corrections at step t.
    fn bias_corrections(&self) -> (f64, f64) {
        let t = self.t as f64;
        (1.0 - self.beta1.powf(t), 1.0 - self.beta2.powf(t))
    }

    /// (1 − β₁, 1 − β₂, β₂) in `T`, the moments' coefficients (O10, O11).
    fn decays<T: Float>(&self) -> (T, T, T) {
        let b2 = self.beta2;
        (
            T::from_f64(1.0 - self.beta1),
            T::from_f64(1.0 - b2),
            T::from_f64(b2),
        )
    }
}

/// The (θ, g, m, v) of every parameter of an Adam update, in order.
#[inline(always)]
fn adam_elements<'a, T>(
    params: &'a mut [T],
    grads: &'a [T],
    m: &'a mut [T],
    v: &'a mut [T],
) -> impl Iterator<Item = (&'a mut T, &'a T, &'a mut T, &'a mut T)> {
    let quads = params
        .iter_mut()
        .zip(grads)
        .zip(m.iter_mut())
        .zip(v.iter_mut());
    quads.map(|(((theta, g), m), v)| (theta, g, m, v))
}

/// Adam (O10–O13). Both forms update `m ← m + (1 − β₁)·(g − m)` (PyTorch's `lerp_`, Keras's
/// `m + (g − m)(1 − β₁)`: the same operations).
///
/// PyTorch `torch.optim.Adam`/`AdamW` (`_single_tensor_adam`):
/// `v ← β₂·v + (1 − β₂)·g²`, `θ ← θ − (lr/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε)`.
///
/// Keras 3 `keras.optimizers.Adam.update_step`: `v ← v + (g² − v)(1 − β₂)`,
/// `α = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`, `θ ← θ − (m·α)/(√v + ε̂)`.
#[inline(always)] // compiled into `Step::run_avx2` too
fn adam_update<T: Float>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    h: AdamHyper,
    decay: Decay<T>,
) {
    let (bc1, bc2) = h.bias_corrections();
    let (one_minus_b1, one_minus_b2, beta2) = h.decays::<T>();
    // Torch form: step size lr/(1 − β₁ᵗ) and √(1 − β₂ᵗ); Keras form: α_t (O13).
    let (torch_form, eps) = match h.eps {
        AdamEpsilon::Torch(e) => (true, T::from_f64(e)),
        AdamEpsilon::Keras(e) => (false, T::from_f64(e)),
    };
    let step_size = T::from_f64(h.lr / bc1);
    // √v/√b₂ as √v·(1/√b₂): one division per element fewer than PyTorch's quotient (the
    // update is divider-bound), within 2 ulp of it (notes/optimizers.md, O12).
    let inv_sqrt_bc2 = T::from_f64(1.0 / bc2.sqrt());
    let alpha = T::from_f64(h.lr * bc2.sqrt() / bc1);
    for (theta, &g, m, v) in adam_elements(params, grads, m, v) {
        let g = decay.apply(theta, g);
        *m += one_minus_b1 * (g - *m); // O10 (both forms)
        if torch_form {
            *v = beta2 * *v + one_minus_b2 * (g * g); // O11
            let denom = v.sqrt() * inv_sqrt_bc2 + eps;
            *theta -= step_size * (*m / denom); // O12
        } else {
            *v += (g * g - *v) * one_minus_b2; // O11′
            *theta -= (*m * alpha) / (v.sqrt() + eps); // O13
        }
    }
}

/// (P31) DP-AdamBC (notes/privacy.md §12): Adam's moments (O10, O11), each bias-corrected,
/// with the noise variance Φ taken off `v̂` and the difference floored at γ:
///
/// ```text
/// m̂ = m/(1 − β₁ᵗ),  v̂ = v/(1 − β₂ᵗ),  θ ← θ − lr·m̂/√max(v̂ − Φ, γ)
/// ```
///
/// ε is not used (γ keeps the root away from 0), so both ε forms give this update.
#[inline(always)] // compiled into `Step::run_avx2` too
fn adam_bc_update<T: Float>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    h: AdamHyper,
    c: NoiseCorrection,
    decay: Decay<T>,
) {
    let (bc1, bc2) = h.bias_corrections();
    let (one_minus_b1, one_minus_b2, beta2) = h.decays::<T>();
    let (step_size, inv_bc2) = (T::from_f64(h.lr / bc1), T::from_f64(1.0 / bc2));
    let (phi, gamma) = (T::from_f64(c.variance), T::from_f64(c.floor));
    for (theta, &g, m, v) in adam_elements(params, grads, m, v) {
        let g = decay.apply(theta, g);
        *m += one_minus_b1 * (g - *m); // O10
        *v = beta2 * *v + one_minus_b2 * (g * g); // O11
        let excess = *v * inv_bc2 - phi; // v̂ − Φ
        let denom = if excess > gamma { excess } else { gamma }.sqrt();
        *theta -= step_size * (*m / denom); // P31
    }
}

#[cfg(test)]
mod tests;
