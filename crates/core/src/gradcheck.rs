//! Gradient checks by central differences in `f64` (notes/backprop.md §7, B24–B25).
//!
//! The analytic gradient of the engine is compared, element by element, with a central
//! difference of the loss, by default the fourth-order one:
//!
//! ```text
//! (B24)  n_i = [8(L(v + h·e_i) − L(v − h·e_i)) − (L(v + 2h·e_i) − L(v − 2h·e_i))] / 12h,
//!        h = step·max(1, |v_i|)
//! ```
//!
//! (or the two-point `(L(v + h·e_i) − L(v − h·e_i)) / 2h`, [`Stencil`]). The error of
//! element i is
//!
//! ```text
//! (B25)  abs_i = |a_i − n_i|,   rel_i = abs_i / max(|a_i|, |n_i|, floor),
//! ```
//!
//! and a tensor passes when `max_i rel_i ≤ tolerance`, at least one element was checked,
//! and neither the analytic nor the numeric gradient is all zeros over the checked
//! elements (a check of two zero vectors proves nothing). The floor stops elements whose
//! true gradient is below the finite difference's noise (about `ε·|L|/h`) from dominating:
//! for them the criterion becomes the absolute `abs_i ≤ tolerance·floor`.
//!
//! Steps that straddle a kink of ReLU / leaky ReLU (a pre-activation changes sign between
//! the evaluations) do not measure the derivative; [`check_mlp`] detects them and skips the
//! element, reporting the count.
//!
//! Entry points: [`check_mlp`] (every parameter and every input of an [`Mlp`], or a seeded
//! sample of them), [`check_tensor`] (any scalar function of one tensor — single ops), and
//! [`compare_mlp`] with [`analytic_gradients`] for supplying the analytic side yourself
//! (negative controls).
//!
//! ```
//! use glassbox_core::gradcheck::{check_mlp, CheckLoss, CheckMode, GradcheckConfig, LossInput};
//! use glassbox_core::{Activation, Init, LayerSpec, Mlp, MlpSpec, seeded_rng};
//! use ndarray::{Array2, ArrayView2, ArrayViewMut2};
//!
//! /// MSE (B17): L = (1/(N·O)) Σ (ŷ − y)², ∂L/∂ŷ = 2(ŷ − y)/(N·O) (B18).
//! struct Mse(Array2<f64>);
//! impl CheckLoss for Mse {
//!     fn input(&self) -> LossInput { LossInput::Output }
//!     fn value(&self, y_hat: ArrayView2<f64>) -> f64 {
//!         (&y_hat - &self.0).mapv(|e| e * e).sum() / y_hat.len() as f64
//!     }
//!     fn gradient(&self, y_hat: ArrayView2<f64>, mut d: ArrayViewMut2<f64>) {
//!         d.assign(&((&y_hat - &self.0) * (2.0 / y_hat.len() as f64)));
//!     }
//! }
//!
//! let spec = MlpSpec::new(3, vec![
//!     LayerSpec::new(4, Activation::Tanh),
//!     LayerSpec::new(1, Activation::Sigmoid),
//! ]);
//! let mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut seeded_rng(1))?;
//! let x = Array2::from_shape_fn((5, 3), |(i, j)| (i as f64 - 2.0) * 0.3 + j as f64 * 0.1);
//! let y = Array2::from_shape_fn((5, 1), |(i, _)| (i % 2) as f64);
//! let report = check_mlp(&mlp, x.view(), &Mse(y), CheckMode::Inference, &GradcheckConfig::default());
//! assert!(report.passed(), "{report}");
//! assert!(report.max_rel_err() < 1e-7);
//! # Ok::<(), glassbox_core::MlpError>(())
//! ```

use std::fmt;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::{GradWrite, Mlp, Mode, Rng, Upstream, Workspace, seeded_rng};

/// The difference formula of (B24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stencil {
    /// `(L(v+h) − L(v−h)) / 2h`: truncation error `h²·L‴/6`, rounding error `≈ ε·|L|/h`.
    /// Best near `h ≈ 1e-5`, where both are `≈ 1e-11` for a loss of order 1.
    TwoPoint,
    /// `(8(L(v+h) − L(v−h)) − (L(v+2h) − L(v−2h))) / 12h`: truncation error
    /// `h⁴·L⁽⁵⁾/30`, rounding error `≈ 1.5·ε·|L|/h`. Best near `h ≈ 1e-3`, where both are
    /// `≈ 1e-13` — two orders below the two-point formula, which is what makes a 1e-7
    /// relative tolerance reachable for gradients down to about 1e-6.
    FourPoint,
}

/// Settings of a gradient check.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckConfig {
    /// The difference formula (B24).
    pub stencil: Stencil,
    /// Base step; element i moves by `h = step·max(1, |v_i|)`. Default 1e-3 with
    /// [`Stencil::FourPoint`] (see there); use about 1e-5 with [`Stencil::TwoPoint`].
    /// `v_i ± h` is rounded to `f64`, an error of at most `ulp(v_i)/2`, i.e. a relative
    /// error of `≈ 1e-13` in the step at h = 1e-3·max(1, |v_i|) — negligible.
    pub step: f64,
    /// Largest accepted relative error (B25). Default 1e-7.
    pub tolerance: f64,
    /// Floor of the relative error's denominator (B25). Default 1e-6: an element whose
    /// gradient is below it passes when its absolute error is ≤ tolerance·floor = 1e-13,
    /// the rounding noise of the four-point formula.
    pub floor: f64,
    /// `None`: check every element. `Some`: a seeded sample of each tensor, for large
    /// models.
    pub sample: Option<Sample>,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        GradcheckConfig {
            stencil: Stencil::FourPoint,
            step: 1e-3,
            tolerance: 1e-7,
            floor: 1e-6,
            sample: None,
        }
    }
}

/// Check only `per_tensor` elements of each tensor, drawn without replacement from
/// `seeded_rng(seed)` (all of a smaller tensor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Elements per tensor.
    pub per_tensor: usize,
    /// Seed of the draw.
    pub seed: u64,
}

/// The outcome for one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every checked element is within the tolerance.
    Pass,
    /// Some element's relative error exceeds the tolerance.
    TooLarge,
    /// The analytic gradient is zero at every checked element.
    AnalyticAllZero,
    /// The numeric gradient is zero at every checked element.
    NumericAllZero,
    /// No element was checked (empty tensor, or every step straddled a kink).
    NothingChecked,
}

/// Errors of one tensor (B25).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorReport {
    /// Tensor name: `layers.{l}.weight`, `layers.{l}.bias`, `input`, or the caller's.
    pub name: String,
    /// Elements compared.
    pub checked: usize,
    /// Elements skipped because the step straddled a kink.
    pub skipped_kinks: usize,
    /// `max_i |a_i − n_i|`.
    pub max_abs_err: f64,
    /// `max_i |a_i − n_i| / max(|a_i|, |n_i|, floor)`.
    pub max_rel_err: f64,
    /// Index (in the tensor, row-major) of the element with the largest relative error.
    pub worst: Option<usize>,
    /// `‖a‖₂` over the checked elements.
    pub analytic_norm: f64,
    /// `‖n‖₂` over the checked elements.
    pub numeric_norm: f64,
    /// Pass or the reason for failing.
    pub verdict: Verdict,
}

impl TensorReport {
    /// Whether the tensor passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// The check of every tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// One report per tensor: parameters in buffer order, then `input` if checked.
    pub tensors: Vec<TensorReport>,
    /// The settings used.
    pub config: GradcheckConfig,
}

impl GradcheckReport {
    /// Whether every tensor passed (and there is at least one).
    pub fn passed(&self) -> bool {
        !self.tensors.is_empty() && self.tensors.iter().all(TensorReport::passed)
    }

    /// The largest relative error over all tensors.
    pub fn max_rel_err(&self) -> f64 {
        self.tensors.iter().fold(
            0.0,
            |m, t| if t.max_rel_err > m { t.max_rel_err } else { m },
        )
    }

    /// The report of the tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorReport> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gradient check ({:?}, step {:e}, tolerance {:e}, floor {:e}): {}",
            self.config.stencil,
            self.config.step,
            self.config.tolerance,
            self.config.floor,
            if self.passed() { "PASS" } else { "FAIL" }
        )?;
        writeln!(
            f,
            "{:<18} {:>7} {:>6} {:>11} {:>11} {:>11} {:>11}  verdict",
            "tensor", "checked", "kinks", "max_abs", "max_rel", "|analytic|", "|numeric|"
        )?;
        for t in &self.tensors {
            writeln!(
                f,
                "{:<18} {:>7} {:>6} {:>11.3e} {:>11.3e} {:>11.3e} {:>11.3e}  {:?}",
                t.name,
                t.checked,
                t.skipped_kinks,
                t.max_abs_err,
                t.max_rel_err,
                t.analytic_norm,
                t.numeric_norm,
                t.verdict
            )?;
        }
        Ok(())
    }
}

/// A scalar loss of the network's output (or logits), for [`check_mlp`].
pub trait CheckLoss {
    /// Which tensor the loss reads.
    fn input(&self) -> LossInput;
    /// `L` of the tensor (N, O).
    fn value(&self, v: ArrayView2<f64>) -> f64;
    /// Writes `∂L/∂v` (N, O) into `d`.
    fn gradient(&self, v: ArrayView2<f64>, d: ArrayViewMut2<f64>);
}

/// What a [`CheckLoss`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossInput {
    /// The output Y (N, O): the backward starts from ∂L/∂Y.
    Output,
    /// The last layer's logits Z (N, O): the backward starts from ∂L/∂Z (fused losses).
    Logits,
}

/// How the network runs during a check.
#[derive(Clone, Copy, Debug)]
pub enum CheckMode<'r> {
    /// Inference: no dropout.
    Inference,
    /// Training with a fixed dropout mask: every evaluation draws its masks from a clone of
    /// this RNG, so all evaluations see the same masks.
    Train {
        /// The RNG state the masks are drawn from.
        mask_rng: &'r Rng,
    },
}

/// Runs one forward pass of `mlp` on `x` and evaluates the loss.
fn loss_of<'a>(
    mlp: &Mlp<f64>,
    x: ArrayView2<'a, f64>,
    loss: &dyn CheckLoss,
    mode: CheckMode<'_>,
    ws: &'a mut Workspace<f64>,
) -> (f64, crate::Forward<'a, f64>) {
    let mut rng = match mode {
        CheckMode::Inference => None,
        CheckMode::Train { mask_rng } => Some(mask_rng.clone()),
    };
    let mode = match rng.as_mut() {
        None => Mode::Inference,
        Some(rng) => Mode::Train(rng),
    };
    let fwd = mlp.forward(x, mode, ws);
    let value = match loss.input() {
        LossInput::Output => loss.value(fwd.output()),
        LossInput::Logits => loss.value(fwd.logits()),
    };
    (value, fwd)
}

/// The engine's gradients of `loss` at `mlp` and `x`: every parameter (same layout as
/// [`Mlp::params`]) and ∂L/∂X (N, D).
pub fn analytic_gradients(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    loss: &dyn CheckLoss,
    mode: CheckMode<'_>,
) -> (Vec<f64>, Array2<f64>) {
    let mut net = mlp.clone();
    net.zero_grads();
    let mut ws = net.workspace(x.nrows());
    let (_, fwd) = loss_of(&net, x, loss, mode, &mut ws);
    let v = match loss.input() {
        LossInput::Output => fwd.output(),
        LossInput::Logits => fwd.logits(),
    };
    let mut d = Array2::zeros(v.dim());
    loss.gradient(v, d.view_mut());
    let upstream = match loss.input() {
        LossInput::Output => Upstream::DY(d.view()),
        LossInput::Logits => Upstream::DZ(d.view()),
    };
    let d_x = net
        .backward(fwd, upstream, GradWrite::Accumulate)
        .input_gradient()
        .to_owned();
    (net.grads().to_vec(), d_x)
}

/// Checks the engine's gradient of `loss` for every parameter tensor of `mlp` and for the
/// input X (tensor `input`), by central differences (B24, B25).
///
/// # Panics
/// If X does not have the network's D columns.
pub fn check_mlp(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    loss: &dyn CheckLoss,
    mode: CheckMode<'_>,
    config: &GradcheckConfig,
) -> GradcheckReport {
    let (params, input) = analytic_gradients(mlp, x, loss, mode);
    compare_mlp(mlp, x, loss, mode, &params, input.view(), config)
}

/// Compares given analytic gradients (`analytic_params` laid out like [`Mlp::params`],
/// `analytic_input` (N, D)) with central differences of `loss` (B24, B25).
///
/// # Panics
/// If the analytic gradients are not shaped like the parameters and X.
pub fn compare_mlp(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    loss: &dyn CheckLoss,
    mode: CheckMode<'_>,
    analytic_params: &[f64],
    analytic_input: ArrayView2<f64>,
    config: &GradcheckConfig,
) -> GradcheckReport {
    assert_eq!(
        analytic_params.len(),
        mlp.num_params(),
        "gradcheck: {} analytic parameter gradients for {} parameters",
        analytic_params.len(),
        mlp.num_params()
    );
    assert_eq!(
        analytic_input.dim(),
        x.dim(),
        "gradcheck: analytic dL/dX is {:?} but X is {:?}",
        analytic_input.dim(),
        x.dim()
    );
    let mut net = mlp.clone();
    let mut x_work = x.to_owned();
    let mut ws = net.workspace(x.nrows());
    // Every ReLU-like unit a step may cross: the Dense layers' and the PLR layers' own
    // ReLU (N4, N5), whose z sits in front of the first Dense layer.
    let kink_layers: Vec<usize> = (0..mlp.num_layers())
        .filter(|&l| mlp.spec().layers[l].activation.has_kink_at_zero())
        .collect();
    let kink_inputs: Vec<usize> = (mlp.spec().input_layers.iter().enumerate())
        .filter(|(_, s)| matches!(s, crate::InputLayerSpec::Plr { .. }))
        .map(|(j, _)| j)
        .collect();
    let signs = |fwd: &crate::Forward<'_, f64>| -> Vec<bool> {
        let inputs = kink_inputs
            .iter()
            .map(|&j| fwd.input_layer_pre_activation(j));
        let dense = kink_layers.iter().map(|&l| fwd.pre_activation(l));
        inputs
            .chain(dense)
            .flat_map(|z| z.iter().map(|&z| z > 0.0).collect::<Vec<_>>())
            .collect()
    };
    let baseline = {
        let (_, fwd) = loss_of(&net, x_work.view(), loss, mode, &mut ws);
        signs(&fwd)
    };
    let mut tensors = Vec::new();
    let mut sample_rng = config.sample.map(|s| seeded_rng(s.seed));
    for info in mlp.tensors() {
        let range = info.range();
        let indices = chosen(range.len(), config.sample, sample_rng.as_mut());
        let numeric = indices
            .iter()
            .map(|&i| {
                let k = range.start + i;
                let start = net.params()[k];
                central_difference(config.stencil, config.step, start, |value| {
                    net.params_mut()[k] = value;
                    let (l, fwd) = loss_of(&net, x_work.view(), loss, mode, &mut ws);
                    let kinked = signs(&fwd) != baseline;
                    net.params_mut()[k] = start;
                    (l, kinked)
                })
            })
            .collect::<Vec<_>>();
        tensors.push(summarise(
            &info.name,
            &analytic_params[range],
            &indices,
            &numeric,
            config,
        ));
    }
    let n_in = x.len();
    let indices = chosen(n_in, config.sample, sample_rng.as_mut());
    let d = x.ncols();
    let numeric = indices
        .iter()
        .map(|&i| {
            let at = [i / d, i % d];
            let start = x_work[at];
            central_difference(config.stencil, config.step, start, |value| {
                x_work[at] = value;
                let (l, fwd) = loss_of(&net, x_work.view(), loss, mode, &mut ws);
                let kinked = signs(&fwd) != baseline;
                x_work[at] = start;
                (l, kinked)
            })
        })
        .collect::<Vec<_>>();
    let flat: Vec<f64> = analytic_input.iter().copied().collect();
    tensors.push(summarise("input", &flat, &indices, &numeric, config));
    GradcheckReport {
        tensors,
        config: config.clone(),
    }
}

/// Checks `analytic` = ∂L/∂v against central differences of `loss` at `point` (B24, B25).
///
/// `loss` receives the perturbed tensor; `point` is restored exactly after each step. Use
/// it for single ops (an activation, a Dense layer, dropout with a fixed mask) with a loss
/// such as `L = Σ w ⊙ op(v)` whose gradient `w` is fed to the op's backward.
///
/// # Panics
/// If `analytic` and `point` differ in length.
pub fn check_tensor(
    name: &str,
    point: &mut [f64],
    analytic: &[f64],
    config: &GradcheckConfig,
    mut loss: impl FnMut(&[f64]) -> f64,
) -> TensorReport {
    assert_eq!(
        point.len(),
        analytic.len(),
        "gradcheck: {name} has {} values but {} analytic gradients",
        point.len(),
        analytic.len()
    );
    let mut rng = config.sample.map(|s| seeded_rng(s.seed));
    let indices = chosen(point.len(), config.sample, rng.as_mut());
    let numeric: Vec<_> = indices
        .iter()
        .map(|&i| {
            let start = point[i];
            central_difference(config.stencil, config.step, start, |value| {
                point[i] = value;
                let l = loss(point);
                point[i] = start;
                (l, false)
            })
        })
        .collect();
    summarise(name, analytic, &indices, &numeric, config)
}

/// (B24) The central difference at one element of value `v`: `eval(w)` sets the element
/// to `w`, returns the loss and whether a kink was crossed, and restores the element.
/// Returns the numeric derivative and whether any evaluation crossed a kink.
fn central_difference(
    stencil: Stencil,
    step: f64,
    v: f64,
    mut eval: impl FnMut(f64) -> (f64, bool),
) -> (f64, bool) {
    let h = step * v.abs().max(1.0);
    let (l_p1, k_p1) = eval(v + h);
    let (l_m1, k_m1) = eval(v - h);
    match stencil {
        Stencil::TwoPoint => ((l_p1 - l_m1) / (2.0 * h), k_p1 || k_m1),
        Stencil::FourPoint => {
            let (l_p2, k_p2) = eval(v + 2.0 * h);
            let (l_m2, k_m2) = eval(v - 2.0 * h);
            let d = (8.0 * (l_p1 - l_m1) - (l_p2 - l_m2)) / (12.0 * h);
            (d, k_p1 || k_m1 || k_p2 || k_m2)
        }
    }
}

/// The element indices to check: all, or a sorted seeded sample.
fn chosen(len: usize, sample: Option<Sample>, rng: Option<&mut Rng>) -> Vec<usize> {
    match (sample, rng) {
        (Some(s), Some(rng)) if s.per_tensor < len => {
            let mut idx = rand::seq::index::sample(rng, len, s.per_tensor).into_vec();
            idx.sort_unstable();
            idx
        }
        _ => (0..len).collect(),
    }
}

/// (B25) Errors and verdict of one tensor from its analytic gradient and the numeric
/// derivatives at `indices`.
fn summarise(
    name: &str,
    analytic: &[f64],
    indices: &[usize],
    numeric: &[(f64, bool)],
    config: &GradcheckConfig,
) -> TensorReport {
    let mut report = TensorReport {
        name: name.to_string(),
        checked: 0,
        skipped_kinks: 0,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        worst: None,
        analytic_norm: 0.0,
        numeric_norm: 0.0,
        verdict: Verdict::Pass,
    };
    let (mut a_sq, mut n_sq) = (0.0, 0.0);
    for (&i, &(n, kinked)) in indices.iter().zip(numeric) {
        if kinked {
            report.skipped_kinks += 1;
            continue;
        }
        let a = analytic[i];
        let abs = (a - n).abs();
        let rel = abs / a.abs().max(n.abs()).max(config.floor);
        // A NaN on either side is an infinite error, never a pass.
        let (abs, rel) = if rel.is_nan() {
            (f64::INFINITY, f64::INFINITY)
        } else {
            (abs, rel)
        };
        report.checked += 1;
        a_sq += a * a;
        n_sq += n * n;
        report.max_abs_err = report.max_abs_err.max(abs);
        if report.worst.is_none() || rel > report.max_rel_err {
            report.max_rel_err = rel;
            report.worst = Some(i);
        }
    }
    report.analytic_norm = a_sq.sqrt();
    report.numeric_norm = n_sq.sqrt();
    report.verdict = if report.checked == 0 {
        Verdict::NothingChecked
    } else if report.analytic_norm == 0.0 {
        Verdict::AnalyticAllZero
    } else if report.numeric_norm == 0.0 {
        Verdict::NumericAllZero
    } else if report.max_rel_err > config.tolerance {
        Verdict::TooLarge
    } else {
        Verdict::Pass
    };
    report
}

#[cfg(test)]
mod tests;
