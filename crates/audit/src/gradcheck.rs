//! The gradient check of a model on rows of a CSV file (notes/backprop.md §7, B24–B25).
//!
//! The model is cast to `f64` ([`Mlp::cast`]), the first `k` rows of the file go through
//! the model's preprocessor, and the engine's analytic gradient of the model's own loss
//! ([`LossConfig::compute`], so class weights and `pos_weight` included) is compared with
//! four-point central differences of the same loss — every parameter and every input
//! feature, or a seeded sample of each tensor for large models — by
//! [`glassbox_core::gradcheck::check_mlp`]. Per tensor: the largest absolute and relative
//! error (B25) and a verdict; the model passes when every tensor does.
//!
//! A check that cannot fail proves nothing, so every run also carries a **negative control**:
//! the same comparison with the analytic gradient scaled by `1 + 10⁻⁴` must fail. Its
//! outcome is part of the report ([`NegativeControl`]).

use glassbox_core::gradcheck::{
    CheckLoss, CheckMode, GradcheckConfig, GradcheckReport, LossInput as CheckInput, Sample,
    Stencil, analytic_gradients, compare_mlp,
};
use glassbox_core::{Float, Mlp};
use glassbox_train::trainer::members_loss;
use glassbox_train::{LossConfig, LossInput};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use serde::Serialize;

use glassbox_data::{Preprocessor, Table};

use crate::{AuditError, encode_f64, first_rows};

/// Models with more parameters than this are checked on a sample under [`Coverage::Auto`].
pub const AUTO_SAMPLE_ABOVE: usize = 20_000;

/// Elements per tensor checked when [`Coverage::Auto`] samples.
pub const AUTO_PER_TENSOR: usize = 256;

/// The relative perturbation of the negative control: the analytic gradient times
/// `1 + NEGATIVE_CONTROL_SCALE` must fail a check whose tolerance is 1e-7.
pub const NEGATIVE_CONTROL_SCALE: f64 = 1e-4;

/// Which elements are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Coverage {
    /// Every element up to [`AUTO_SAMPLE_ABOVE`] parameters, else [`AUTO_PER_TENSOR`] per
    /// tensor.
    Auto,
    /// Every parameter and every input element.
    All,
    /// `per_tensor` elements of each tensor, drawn without replacement.
    Sample {
        /// Elements per tensor.
        per_tensor: usize,
    },
}

/// Settings of [`gradcheck_csv`] / [`gradcheck_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckOptions {
    /// Which elements.
    pub coverage: Coverage,
    /// Seed of the sample draw (unused when every element is checked).
    pub seed: u64,
    /// The finite-difference settings (default: four-point, step 1e-3, tolerance 1e-7,
    /// floor 1e-6 — notes/backprop.md §7).
    pub check: GradcheckConfig,
    /// Whether to run the negative control (doubles the time).
    pub negative_control: bool,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            coverage: Coverage::Auto,
            seed: 0,
            check: GradcheckConfig::default(),
            negative_control: true,
        }
    }
}

/// One tensor's result (B25).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorCheck {
    /// `layers.{l}.weight`, `layers.{l}.bias` or `input`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Elements compared.
    pub checked: usize,
    /// Elements skipped because a step crossed a ReLU kink.
    pub skipped_kinks: usize,
    /// `max |a − n|`.
    pub max_abs_err: f64,
    /// `max |a − n| / max(|a|, |n|, floor)`.
    pub max_rel_err: f64,
    /// `‖a‖₂` over the checked elements.
    pub analytic_norm: f64,
    /// `‖n‖₂` over the checked elements.
    pub numeric_norm: f64,
    /// `pass`, `too_large`, `analytic_all_zero`, `numeric_all_zero` or `nothing_checked`.
    pub verdict: String,
    /// Whether the tensor passed.
    pub passed: bool,
}

/// The outcome of the negative control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NegativeControl {
    /// The factor the analytic gradient was multiplied by.
    pub scale: f64,
    /// Tensors whose check failed with the wrong gradient (as it should).
    pub failed_tensors: usize,
    /// Tensors checked.
    pub tensors: usize,
    /// Whether the check as a whole rejected the wrong gradient.
    pub detected: bool,
}

/// A model's gradient check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradcheckAudit {
    /// Where the rows came from.
    pub source: String,
    /// N, the rows the loss is evaluated on.
    pub rows: usize,
    /// The loss checked.
    pub loss: LossConfig,
    /// Parameters of the model.
    pub params: usize,
    /// `four_point` or `two_point` (B24).
    pub stencil: String,
    /// Base step h.
    pub step: f64,
    /// Largest accepted relative error.
    pub tolerance: f64,
    /// Floor of the relative error's denominator.
    pub floor: f64,
    /// The coverage actually used (`Auto` resolved).
    pub coverage: Coverage,
    /// The seed of the sample (when sampled).
    pub seed: u64,
    /// One entry per parameter tensor, then `input`.
    pub tensors: Vec<TensorCheck>,
    /// The largest relative error over all tensors.
    pub max_rel_err: f64,
    /// Whether every tensor passed.
    pub passed: bool,
    /// The negative control, if run.
    pub negative_control: Option<NegativeControl>,
}

/// The model's own loss as a [`CheckLoss`]: the value and gradient of
/// [`LossConfig::compute`] against fixed targets — for a BatchEnsemble network of k members,
/// the mean of the members' losses as trained ([`members_loss`], N20).
struct EngineLoss {
    config: LossConfig,
    /// Targets (N, O), shared by the members.
    y: Array2<f64>,
    /// k, the members whose outputs sit side by side (1 for a plain network).
    members: usize,
}

impl CheckLoss for EngineLoss {
    fn input(&self) -> CheckInput {
        match self.config.kind.input() {
            LossInput::Logits => CheckInput::Logits,
            LossInput::Values | LossInput::Probabilities => CheckInput::Output,
        }
    }

    fn value(&self, v: ArrayView2<f64>) -> f64 {
        members_loss(&self.config, self.members, v, self.y.view(), None, None)
    }

    fn gradient(&self, v: ArrayView2<f64>, mut d: ArrayViewMut2<f64>) {
        d.fill(0.0); // the loss adds into its buffer
        let y = self.y.view();
        members_loss(&self.config, self.members, v, y, None, Some(d));
    }
}

/// Checks `mlp` (cast to f64) on the first `k` rows of `table` through `pre`, with the
/// model's loss; the targets are the preprocessor's 0/1 labels.
///
/// # Errors
/// [`AuditError::RowCount`] if `k` is 0 or exceeds the file, [`AuditError::Model`] if the
/// network does not read the preprocessor's features or has more than one output, the data
/// layer's errors, and those of [`gradcheck_batch`].
pub fn gradcheck_csv<T: Float>(
    mlp: &Mlp<T>,
    pre: &Preprocessor,
    table: &Table,
    k: usize,
    loss: &LossConfig,
    options: &GradcheckOptions,
) -> Result<GradcheckAudit, AuditError> {
    crate::check_model_fits(mlp, pre)?;
    if mlp.spec().outputs() != 1 {
        return Err(AuditError::Model(format!(
            "the CSV gradient check needs one output (the label), the network has {}",
            mlp.spec().outputs()
        )));
    }
    let rows = first_rows(table, k)?;
    let (x, y) = encode_f64(pre, &rows)?;
    let y = y.insert_axis(ndarray::Axis(1));
    let mut audit = gradcheck_batch(&mlp.cast::<f64>(), x.view(), y.view(), loss, options)?;
    audit.source = format!("{} (its first rows)", table.file());
    Ok(audit)
}

/// Checks the gradient of `loss` for `mlp` at the batch `x` (N, D) with targets `y` (N, O).
///
/// # Errors
/// [`AuditError::Model`] for mismatched shapes, [`AuditError::InvalidOption`] for an empty
/// batch, an invalid loss, a zero sample size or invalid check settings.
pub fn gradcheck_batch(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    loss: &LossConfig,
    options: &GradcheckOptions,
) -> Result<GradcheckAudit, AuditError> {
    let (analytic_params, analytic_input, engine_loss, config) = prepare(mlp, x, y, loss, options)?;
    let report = compare_mlp(
        mlp,
        x,
        &engine_loss,
        CheckMode::Inference,
        &analytic_params,
        analytic_input.view(),
        &config,
    );
    let negative_control = if options.negative_control {
        let scale = 1.0 + NEGATIVE_CONTROL_SCALE;
        let wrong_params: Vec<f64> = analytic_params.iter().map(|g| g * scale).collect();
        let wrong_input = &analytic_input * scale;
        let wrong = compare_mlp(
            mlp,
            x,
            &engine_loss,
            CheckMode::Inference,
            &wrong_params,
            wrong_input.view(),
            &config,
        );
        Some(NegativeControl {
            scale,
            failed_tensors: wrong.tensors.iter().filter(|t| !t.passed()).count(),
            tensors: wrong.tensors.len(),
            detected: !wrong.passed(),
        })
    } else {
        None
    };
    Ok(summarise(mlp, x, loss, options, &report, negative_control))
}

/// Like [`gradcheck_batch`], but compares the given analytic gradients (laid out like
/// [`Mlp::params`], and ∂L/∂X (N, D)) instead of the engine's — for negative controls of
/// your own.
///
/// # Errors
/// Those of [`gradcheck_batch`], and [`AuditError::Model`] if the gradients are not shaped
/// like the parameters and X.
pub fn gradcheck_against(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    loss: &LossConfig,
    options: &GradcheckOptions,
    analytic_params: &[f64],
    analytic_input: ArrayView2<f64>,
) -> Result<GradcheckAudit, AuditError> {
    let (_, _, engine_loss, config) = prepare(mlp, x, y, loss, options)?;
    if analytic_params.len() != mlp.num_params() || analytic_input.dim() != x.dim() {
        return Err(AuditError::Model(format!(
            "analytic gradients of {} parameters and input {:?} for a model of {} parameters \
             and input {:?}",
            analytic_params.len(),
            analytic_input.dim(),
            mlp.num_params(),
            x.dim()
        )));
    }
    let report = compare_mlp(
        mlp,
        x,
        &engine_loss,
        CheckMode::Inference,
        analytic_params,
        analytic_input,
        &config,
    );
    Ok(summarise(mlp, x, loss, options, &report, None))
}

type Prepared = (Vec<f64>, Array2<f64>, EngineLoss, GradcheckConfig);

/// Validates the inputs, resolves the coverage and computes the engine's gradients.
fn prepare(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    loss: &LossConfig,
    options: &GradcheckOptions,
) -> Result<Prepared, AuditError> {
    let spec = mlp.spec();
    if x.nrows() == 0 {
        return Err(AuditError::InvalidOption {
            name: "rows",
            value: "0".into(),
            reason: "the check needs at least one row".into(),
        });
    }
    if x.ncols() != spec.inputs || y.dim() != (x.nrows(), spec.outputs()) {
        return Err(AuditError::Model(format!(
            "X is {:?} and the targets {:?}, but the network maps {} inputs to {} outputs",
            x.dim(),
            y.dim(),
            spec.inputs,
            spec.outputs()
        )));
    }
    loss.validate().map_err(|e| AuditError::InvalidOption {
        name: "loss",
        value: loss.kind.to_string(),
        reason: e.to_string(),
    })?;
    let c = &options.check;
    if !(c.step > 0.0 && c.step.is_finite() && c.tolerance > 0.0 && c.floor >= 0.0) {
        return Err(AuditError::InvalidOption {
            name: "gradcheck settings",
            value: format!(
                "step {}, tolerance {}, floor {}",
                c.step, c.tolerance, c.floor
            ),
            reason: "step and tolerance must be positive and finite, floor ≥ 0".into(),
        });
    }
    let mut config = c.clone();
    config.sample = match resolve(options.coverage, mlp.num_params()) {
        Coverage::Sample { per_tensor: 0 } => {
            return Err(AuditError::InvalidOption {
                name: "per_tensor",
                value: "0".into(),
                reason: "a sample needs at least one element per tensor".into(),
            });
        }
        Coverage::Sample { per_tensor } => Some(Sample {
            per_tensor,
            seed: options.seed,
        }),
        _ => None,
    };
    let engine_loss = EngineLoss {
        config: *loss,
        y: y.to_owned(),
        members: spec.ensemble_k,
    };
    let (params, input) = analytic_gradients(mlp, x, &engine_loss, CheckMode::Inference);
    Ok((params, input, engine_loss, config))
}

fn resolve(coverage: Coverage, params: usize) -> Coverage {
    match coverage {
        Coverage::Auto if params > AUTO_SAMPLE_ABOVE => Coverage::Sample {
            per_tensor: AUTO_PER_TENSOR,
        },
        Coverage::Auto => Coverage::All,
        other => other,
    }
}

fn summarise(
    mlp: &Mlp<f64>,
    x: ArrayView2<f64>,
    loss: &LossConfig,
    options: &GradcheckOptions,
    report: &GradcheckReport,
    negative_control: Option<NegativeControl>,
) -> GradcheckAudit {
    let shapes: Vec<Vec<usize>> = mlp
        .tensors()
        .into_iter()
        .map(|t| t.shape)
        .chain(std::iter::once(vec![x.nrows(), x.ncols()]))
        .collect();
    let tensors = report
        .tensors
        .iter()
        .zip(shapes)
        .map(|(t, shape)| TensorCheck {
            name: t.name.clone(),
            shape,
            checked: t.checked,
            skipped_kinks: t.skipped_kinks,
            max_abs_err: t.max_abs_err,
            max_rel_err: t.max_rel_err,
            analytic_norm: t.analytic_norm,
            numeric_norm: t.numeric_norm,
            verdict: verdict_name(t.verdict).into(),
            passed: t.passed(),
        })
        .collect();
    GradcheckAudit {
        source: "batch".into(),
        rows: x.nrows(),
        loss: *loss,
        params: mlp.num_params(),
        stencil: match report.config.stencil {
            Stencil::FourPoint => "four_point".into(),
            Stencil::TwoPoint => "two_point".into(),
        },
        step: report.config.step,
        tolerance: report.config.tolerance,
        floor: report.config.floor,
        coverage: resolve(options.coverage, mlp.num_params()),
        seed: options.seed,
        tensors,
        max_rel_err: report.max_rel_err(),
        passed: report.passed(),
        negative_control,
    }
}

fn verdict_name(v: glassbox_core::gradcheck::Verdict) -> &'static str {
    use glassbox_core::gradcheck::Verdict;
    match v {
        Verdict::Pass => "pass",
        Verdict::TooLarge => "too_large",
        Verdict::AnalyticAllZero => "analytic_all_zero",
        Verdict::NumericAllZero => "numeric_all_zero",
        Verdict::NothingChecked => "nothing_checked",
    }
}
