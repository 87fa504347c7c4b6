//! Why did the model say that? Per-row attributions and global importance
//! (notes/explain.md, equations E1–E9).
//!
//! - **Gradient × input** (E2): `A_i = x_i · ∂f/∂x_i`, one forward and one backward pass
//!   taken down to X ([`Mlp::input_gradient`](glassbox_core::Mlp::input_gradient), i.e. B20b–B20d ending in B6).
//! - **Integrated gradients** (E3–E5): `IG_i = (x_i − x′_i) · ∫₀¹ ∂f/∂x_i(x′ + α(x − x′)) dα`,
//!   the integral by a Riemann or trapezoid sum over `m` steps from a baseline `x′` (default
//!   the all-zero standardised vector: the training mean of every numeric feature, "false"
//!   for booleans, no category for one-hot groups). Completeness (E6):
//!   `Σ_i IG_i = f(x) − f(x′)` up to the quadrature error; the gap is reported per row and
//!   compared with a stated tolerance.
//! - `f` is the model's **logit** `z` (the last layer's pre-activation) by default, or its
//!   **probability** `σ(z)` ([`Output`]); every report says which.
//! - Attributions are mapped back to the CSV's columns by summing each one-hot group
//!   ([`glassbox_data::Preprocessor::feature_groups`]) (E7).
//! - **Permutation importance** (E8, E9): the drop in ROC-AUC when one source column's
//!   features are permuted together, R repeats from a seeded RNG, mean and a 95 % interval
//!   for the mean.
//!
//! Shapes: X (N, D), baseline (D), attributions (N, D) per feature or (N, C) per source
//! column.

mod kept_embedding;

use glassbox_core::init::uniform01;
use glassbox_core::{Mode, Upstream, Workspace, seeded_rng, sigmoid};
use glassbox_train::metrics::roc_auc;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::Serialize;

use glassbox_data::{FeatureGroup, Preprocessor, Table, Value};

use crate::{AuditError, Classifier, encode_f64, pick_rows};

/// Which scalar of the model is explained (E1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// The logit `z`, the last layer's pre-activation (log-odds of the positive class).
    Logit,
    /// The probability `p = σ(z)`.
    Probability,
}

impl Output {
    /// What is explained, in words: `logit z (log-odds)` or `probability p = σ(z)`.
    pub fn name(self) -> &'static str {
        match self {
            Output::Logit => "logit z (log-odds)",
            Output::Probability => "probability p = σ(z)",
        }
    }
}

/// The quadrature of the path integral (E4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// `α_k = k/m`, k = 0 … m−1, weights 1/m.
    Left,
    /// `α_k = k/m`, k = 1 … m, weights 1/m.
    Right,
    /// `α_k = (k + ½)/m`, k = 0 … m−1, weights 1/m.
    Midpoint,
    /// `α_k = k/m`, k = 0 … m, weights 1/m with the two ends halved.
    Trapezoid,
}

impl Rule {
    /// The points `α_k` and weights `w_k` of the rule with `m` steps (E4).
    pub fn nodes(self, m: usize) -> Vec<(f64, f64)> {
        let mf = m as f64;
        let w = 1.0 / mf;
        match self {
            Rule::Left => (0..m).map(|k| (k as f64 / mf, w)).collect(),
            Rule::Right => (1..=m).map(|k| (k as f64 / mf, w)).collect(),
            Rule::Midpoint => (0..m).map(|k| ((k as f64 + 0.5) / mf, w)).collect(),
            Rule::Trapezoid => (0..=m)
                .map(|k| {
                    let end = k == 0 || k == m;
                    (k as f64 / mf, if end { 0.5 * w } else { w })
                })
                .collect(),
        }
    }
}

/// The reference point x′ of integrated gradients.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "values")]
pub enum Baseline {
    /// The all-zero feature vector: the training mean of every standardised numeric
    /// feature (D7), `false` for booleans, no category for one-hot groups.
    Zero,
    /// A given vector (D), e.g. the mean feature vector of the training data.
    Custom(Vec<f64>),
}

impl Baseline {
    fn vector(&self, d: usize) -> Result<Array1<f64>, AuditError> {
        match self {
            Baseline::Zero => Ok(Array1::zeros(d)),
            Baseline::Custom(v) if v.len() == d && v.iter().all(|x| x.is_finite()) => {
                Ok(Array1::from(v.clone()))
            }
            Baseline::Custom(v) => Err(AuditError::InvalidOption {
                name: "baseline",
                value: format!("{} values", v.len()),
                reason: format!("the baseline needs {d} finite values, one per feature"),
            }),
        }
    }

    fn describe(&self) -> String {
        match self {
            Baseline::Zero => "all-zero feature vector (training mean of each numeric feature, \
                               false for booleans, no category for one-hot groups)"
                .into(),
            Baseline::Custom(_) => "a given feature vector".into(),
        }
    }
}

/// Settings of integrated gradients.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgConfig {
    /// m, the number of steps (E4).
    pub steps: usize,
    /// The quadrature rule.
    pub rule: Rule,
    /// The reference point x′.
    pub baseline: Baseline,
    /// What is explained.
    pub output: Output,
    /// Completeness is reported as holding when
    /// `|Σ IG − (f(x) − f(x′))| ≤ rel_tolerance·|f(x) − f(x′)| + abs_tolerance` (E6).
    pub rel_tolerance: f64,
    /// The absolute part of the tolerance, in the units of `output`.
    pub abs_tolerance: f64,
}

impl IgConfig {
    /// The completeness tolerance of a row whose output moves by `delta = f(x) − f(x′)`.
    pub fn tolerance(&self, delta: f64) -> f64 {
        self.rel_tolerance * delta.abs() + self.abs_tolerance
    }
}

impl Default for IgConfig {
    /// 1024 trapezoid steps from the zero baseline on the logit; completeness within 1 % of
    /// |f(x) − f(x′)| plus 1e-4. (A ReLU network's path integrand is piecewise constant, so
    /// the quadrature error falls only like 1/m; notes/explain.md §3 has the measurements
    /// behind these defaults.)
    fn default() -> Self {
        IgConfig {
            steps: 1024,
            rule: Rule::Trapezoid,
            baseline: Baseline::Zero,
            output: Output::Logit,
            rel_tolerance: 1e-2,
            abs_tolerance: 1e-4,
        }
    }
}

/// `f(X)` (N,) and `∂f/∂X` (N, D) for a batch (E1, E2): per member one inference forward
/// pass, then the backward pass taken down to X.
///
/// One network: `∂f/∂Z_L` = 1 (logit) or `p(1 − p)` (probability). An ensemble of K
/// networks has `p̄ = (1/K) Σ_k σ(z_k)`; its probability's gradient is
/// `(1/K) Σ_k σ(z_k)σ(−z_k)·∂z_k/∂X`, and its logit is `ln p̄ − ln q̄` with
/// `q̄ = (1/K) Σ_k σ(−z_k) = 1 − p̄`, whose gradient is that sum times `1/p̄ + 1/q̄` (E2′).
/// A BatchEnsemble network's k logit columns count as k members (R1, N21): its backward
/// pass takes all k columns' `σ(z)σ(−z)/K` at once, since the members share the input.
///
/// # Panics
/// If X does not have the model's D columns or `ws` is not one workspace per member.
pub fn output_and_gradient(
    model: &Classifier,
    x: ArrayView2<f64>,
    output: Output,
    ws: &mut [Workspace<f64>],
) -> (Array1<f64>, Array2<f64>) {
    let members = model.members();
    assert_eq!(ws.len(), members.len(), "one workspace per member");
    if let ([mlp], [ws]) = (members, &mut *ws)
        && mlp.spec().output_width() == 1
    {
        let fwd = mlp.forward(x, Mode::Inference, ws);
        let z = fwd.logits().column(0).to_owned();
        let (f, d_z): (Array1<f64>, Array1<f64>) = match output {
            Output::Logit => (z.clone(), Array1::ones(z.len())),
            Output::Probability => {
                let p = z.mapv(sigmoid);
                let dp = p.mapv(|p| p * (1.0 - p)); // σ′(z) = σ(z)(1 − σ(z)) (B10)
                (p, dp)
            }
        };
        let d_z = d_z.insert_axis(Axis(1));
        let d_x = mlp.input_gradient(fwd, Upstream::DZ(d_z.view())).to_owned();
        return (f, d_x);
    }
    let k = model.probability_count() as f64;
    let n = x.nrows();
    let (mut p_bar, mut q_bar) = (Array1::<f64>::zeros(n), Array1::<f64>::zeros(n));
    let mut grad = Array2::<f64>::zeros(x.dim());
    for (mlp, ws) in members.iter().zip(ws.iter_mut()) {
        let fwd = mlp.forward(x, Mode::Inference, ws);
        let z = fwd.logits().to_owned();
        let p = z.mapv(sigmoid);
        let q = z.mapv(|z| sigmoid(-z));
        // Column by column, in member order: the sum `ensemble_probabilities` makes.
        for (pc, qc) in p.columns().into_iter().zip(q.columns()) {
            p_bar += &pc;
            q_bar += &qc;
        }
        let d_z = &p * &q / k;
        grad += &mlp.input_gradient(fwd, Upstream::DZ(d_z.view()));
    }
    // Summed in member order, then divided: the same p̄ as `Classifier::probabilities`.
    p_bar /= k;
    q_bar /= k;
    match output {
        Output::Probability => (p_bar, grad),
        Output::Logit => {
            let scale = p_bar.mapv(|p| 1.0 / p) + q_bar.mapv(|q| 1.0 / q);
            let f = p_bar.mapv(f64::ln) - q_bar.mapv(f64::ln);
            (f, grad * &scale.insert_axis(Axis(1)))
        }
    }
}

/// Gradient × input (E2): `A[n, i] = X[n, i] · ∂f/∂X[n, i]`, with `f(X)` (N,).
///
/// # Errors
/// [`AuditError::Model`] if X does not have the model's D columns;
/// [`AuditError::InvalidOption`] for no rows.
pub fn gradient_times_input(
    model: &Classifier,
    x: ArrayView2<f64>,
    output: Output,
) -> Result<(Array1<f64>, Array2<f64>), AuditError> {
    model.check_batch(x)?;
    let mut ws = model.workspaces(x.nrows());
    let (f, grad) = output_and_gradient(model, x, output, &mut ws);
    Ok((f, &x * &grad))
}

/// Integrated gradients of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct IgResult {
    /// IG (N, D) (E3–E5).
    pub attributions: Array2<f64>,
    /// f(x) (N,).
    pub f_x: Array1<f64>,
    /// f(x′), the same for every row.
    pub f_baseline: f64,
    /// `Σ_i IG[n, i] − (f(x_n) − f(x′))` (N,) (E6).
    pub gap: Array1<f64>,
}

/// Integrated gradients (E3–E6) of every row of X (N, D) from `config.baseline`: per row,
/// one forward + backward pass over the `m + 1` (trapezoid) or `m` points of the path as
/// one batch, then the weighted sum in order of k.
///
/// # Errors
/// [`AuditError::Model`] if X does not have the model's D columns;
/// [`AuditError::InvalidOption`] for no rows, `steps = 0`, invalid tolerances or a baseline
/// of the wrong length.
pub fn integrated_gradients(
    model: &Classifier,
    x: ArrayView2<f64>,
    config: &IgConfig,
) -> Result<IgResult, AuditError> {
    model.check_batch(x)?;
    if config.steps == 0 {
        return Err(AuditError::InvalidOption {
            name: "steps",
            value: "0".into(),
            reason: "integrated gradients need at least one step".into(),
        });
    }
    let (rel, abs) = (config.rel_tolerance, config.abs_tolerance);
    if !(rel.is_finite() && abs.is_finite() && rel >= 0.0 && abs >= 0.0 && rel + abs > 0.0) {
        return Err(AuditError::InvalidOption {
            name: "tolerance",
            value: format!("relative {rel}, absolute {abs}"),
            reason: "the completeness tolerances must be finite, ≥ 0 and not both 0".into(),
        });
    }
    let (n, d) = x.dim();
    let base = config.baseline.vector(d)?;
    let nodes = config.rule.nodes(config.steps);
    let mut ws = model.workspaces(nodes.len());
    let (f_base, _) = output_and_gradient(
        model,
        base.view().insert_axis(Axis(0)),
        config.output,
        &mut ws,
    );
    let f_baseline = f_base[0];
    let mut attributions = Array2::<f64>::zeros((n, d));
    let mut f_x = Array1::<f64>::zeros(n);
    let mut gap = Array1::<f64>::zeros(n);
    let mut path = Array2::<f64>::zeros((nodes.len(), d));
    for r in 0..n {
        let row = x.row(r);
        let delta = &row - &base;
        // (E4) the path points x′ + α_k (x − x′), one per row of the batch.
        for (k, &(alpha, _)) in nodes.iter().enumerate() {
            let mut p = path.row_mut(k);
            p.assign(&base);
            p.scaled_add(alpha, &delta);
        }
        let (_, grads) = output_and_gradient(model, path.view(), config.output, &mut ws);
        // (E5) Σ_k w_k ∂f/∂x(α_k), summed in order of k, times (x − x′).
        let mut avg = Array1::<f64>::zeros(d);
        for (k, &(_, w)) in nodes.iter().enumerate() {
            avg.scaled_add(w, &grads.row(k));
        }
        let ig = &delta * &avg;
        let (fx, _) = output_and_gradient(model, row.insert_axis(Axis(0)), config.output, &mut ws);
        f_x[r] = fx[0];
        gap[r] = ig.iter().fold(0.0, |s, v| s + v) - (fx[0] - f_baseline); // (E6)
        attributions.row_mut(r).assign(&ig);
    }
    Ok(IgResult {
        attributions,
        f_x,
        f_baseline,
        gap,
    })
}

/// Sums feature attributions over each source column's features (E7): `a` (D) → (C).
///
/// # Panics
/// If a group reaches beyond `a`.
pub fn per_column(a: ArrayView1<f64>, groups: &[FeatureGroup]) -> Vec<f64> {
    groups
        .iter()
        .map(|g| (g.start..g.end).fold(0.0, |s, i| s + a[i]))
        .collect()
}

/// One feature's attributions in a row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureAttribution {
    /// The feature's name (`PageValues`, `Month=Nov`).
    pub feature: String,
    /// Its value x_i (standardised or 0/1).
    pub x: f64,
    /// ∂f/∂x_i at x.
    pub gradient: f64,
    /// x_i · ∂f/∂x_i (E2).
    pub gradient_x_input: f64,
    /// IG_i (E5).
    pub integrated_gradients: f64,
}

/// One source column's attributions in a row (its features summed, E7).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnAttribution {
    /// The CSV column.
    pub column: String,
    /// The raw cell of this row, as read (`<missing>` if missing).
    pub value: String,
    /// Σ over the column's features of x_i · ∂f/∂x_i.
    pub gradient_x_input: f64,
    /// Σ over the column's features of IG_i.
    pub integrated_gradients: f64,
}

/// The explanation of one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowExplanation {
    /// The 0-based data row in the file.
    pub row: usize,
    /// Its line in the file.
    pub line: u64,
    /// The model's probability of the positive class.
    pub probability: f64,
    /// f(x) in the explained output's units.
    pub f_x: f64,
    /// f(x′).
    pub f_baseline: f64,
    /// Σ_i IG_i.
    pub ig_sum: f64,
    /// Σ_i IG_i − (f(x) − f(x′)) (E6).
    pub gap: f64,
    /// |gap| within [`IgConfig::tolerance`].
    pub complete: bool,
    /// Per source column, in the preprocessor's column order.
    pub columns: Vec<ColumnAttribution>,
    /// Per feature, in matrix order.
    pub features: Vec<FeatureAttribution>,
}

/// Explanations of chosen rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainReport {
    /// The file.
    pub file: String,
    /// What is explained.
    pub output: Output,
    /// The integrated-gradients settings.
    pub ig: IgConfig,
    /// The baseline in words.
    pub baseline: String,
    /// The largest |gap| over the rows.
    pub max_abs_gap: f64,
    /// One entry per row, in the order asked.
    pub rows: Vec<RowExplanation>,
}

/// Gradient × input and integrated gradients of the given data rows (0-based) of `table`,
/// encoded by `pre`, per feature and per source column.
///
/// # Errors
/// [`AuditError::RowIndex`] for a row beyond the file, [`AuditError::TooManyRows`] for more
/// than [`MAX_EXPLAIN_ROWS`](crate::MAX_EXPLAIN_ROWS) rows, [`AuditError::Model`] if the model
/// does not read the preprocessor's features, the data layer's errors, and those of
/// [`integrated_gradients`].
pub fn explain_rows(
    model: &Classifier,
    pre: &Preprocessor,
    table: &Table,
    rows: &[usize],
    config: &IgConfig,
) -> Result<ExplainReport, AuditError> {
    model.check_fits(pre)?;
    crate::check_row_limit(
        "explain",
        rows.len(),
        crate::MAX_EXPLAIN_ROWS,
        "each row costs an integrated-gradients path and a table of its own",
    )?;
    let picked = pick_rows(table, rows)?;
    let x = pre.transform_features(&picked)?.mapv(f64::from);
    let ig = integrated_gradients(model, x.view(), config)?;
    let (f, grads) = {
        let mut ws = model.workspaces(x.nrows());
        output_and_gradient(model, x.view(), config.output, &mut ws)
    };
    let gxi = &x * &grads; // (E2)
    let groups = pre.feature_groups();
    let names = pre.feature_names();
    let mut out = Vec::with_capacity(rows.len());
    for (r, &row) in rows.iter().enumerate() {
        let col_gxi = per_column(gxi.row(r), &groups);
        let col_ig = per_column(ig.attributions.row(r), &groups);
        let columns = groups
            .iter()
            .enumerate()
            .map(|(c, g)| ColumnAttribution {
                column: g.column.clone(),
                value: cell_text(&picked, &g.column, r),
                gradient_x_input: col_gxi[c],
                integrated_gradients: col_ig[c],
            })
            .collect();
        let features = names
            .iter()
            .enumerate()
            .map(|(i, name)| FeatureAttribution {
                feature: name.clone(),
                x: x[[r, i]],
                gradient: grads[[r, i]],
                gradient_x_input: gxi[[r, i]],
                integrated_gradients: ig.attributions[[r, i]],
            })
            .collect();
        let probability = match config.output {
            Output::Logit => sigmoid(f[r]),
            Output::Probability => f[r],
        };
        out.push(RowExplanation {
            row,
            line: picked.lines()[r],
            probability,
            f_x: ig.f_x[r],
            f_baseline: ig.f_baseline,
            ig_sum: ig.attributions.row(r).iter().fold(0.0, |s, v| s + v),
            gap: ig.gap[r],
            complete: ig.gap[r].abs() <= config.tolerance(ig.f_x[r] - ig.f_baseline),
            columns,
            features,
        });
    }
    let max_abs_gap = ig.gap.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    Ok(ExplainReport {
        file: table.file().to_string(),
        output: config.output,
        ig: config.clone(),
        baseline: config.baseline.describe(),
        max_abs_gap,
        rows: out,
    })
}

/// The raw cell of row `r` of `column`, as text.
fn cell_text(table: &Table, column: &str, r: usize) -> String {
    match table.column(column).map(|c| c.value(r)) {
        Some(Value::Number(x)) => x.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Text(t)) => t.to_string(),
        Some(Value::Missing) | None => "<missing>".into(),
    }
}

/// Settings of permutation importance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PermutationConfig {
    /// R, permutations per column (≥ 2 for an interval).
    pub repeats: usize,
    /// Seed; column c draws from stream c of `seeded_rng(seed)`.
    pub seed: u64,
}

impl Default for PermutationConfig {
    /// 10 repeats, seed 0.
    fn default() -> Self {
        PermutationConfig {
            repeats: 10,
            seed: 0,
        }
    }
}

/// The importance of one source column (E8, E9).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnImportance {
    /// The CSV column.
    pub column: String,
    /// Its number of features.
    pub features: usize,
    /// Mean drop of the score over the repeats.
    pub mean_drop: f64,
    /// Sample standard deviation of the drops (n − 1); `None` for one repeat.
    pub std: Option<f64>,
    /// 95 % interval for the mean: `mean ∓ t₀.₉₇₅,R−1 · std/√R` (E9); `None` for one repeat.
    pub ci95: Option<(f64, f64)>,
    /// The drop of each repeat, in order.
    pub drops: Vec<f64>,
}

/// Permutation importance over a data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermutationImportance {
    /// Where the rows came from.
    pub source: String,
    /// N.
    pub rows: usize,
    /// The score: `roc_auc` for a classifier, `normalized_gini` for a value model.
    pub metric: String,
    /// The score of the unpermuted data.
    pub baseline_score: f64,
    /// The settings.
    pub config: PermutationConfig,
    /// Columns by decreasing mean drop (ties in column order).
    pub columns: Vec<ColumnImportance>,
}

/// `t₀.₉₇₅` of Student's t with `df` degrees of freedom: the exact values (SciPy 1.x
/// `stats.t.ppf(0.975, df)`, to 13 digits) for df ≤ 30, the Cornish–Fisher expansion to
/// ν⁻⁴ beyond (error < 1e-6 there).
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.70620473617,
        4.302652729749,
        3.182446305284,
        2.776445105198,
        2.570581835636,
        2.446911851145,
        2.364624251593,
        2.306004135204,
        2.262157162798,
        2.228138851986,
        2.200985160092,
        2.178812829667,
        2.160368656463,
        2.144786687918,
        2.131449545560,
        2.119905299221,
        2.109815577833,
        2.100922040241,
        2.093024054408,
        2.085963447266,
        2.079613844728,
        2.073873067904,
        2.068657610419,
        2.063898561628,
        2.059538552753,
        2.055529438643,
        2.051830516480,
        2.048407141795,
        2.045229642133,
        2.042272456301,
    ];
    if df == 0 {
        return f64::NAN;
    }
    if df <= 30 {
        return TABLE[df - 1];
    }
    let z = 1.959_963_984_540_054_f64;
    let nu = df as f64;
    let (z3, z5, z7, z9) = (z.powi(3), z.powi(5), z.powi(7), z.powi(9));
    z + (z3 + z) / (4.0 * nu)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * nu * nu)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * nu.powi(3))
        + (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / (92_160.0 * nu.powi(4))
}

/// Permutation importance (E8, E9) of a binary classifier, scored by ROC-AUC of
/// `labels` against σ(z): [`permutation_importance_by`] with that score. When every member's
/// input layer is one PLR layer on every column, each member's embedding of the unpermuted
/// columns is kept between passes (N29, `explain/kept_embedding.rs`): the same bits, less work.
///
/// # Errors
/// [`AuditError::Model`] if X does not fit or a group reaches beyond it;
/// [`AuditError::InvalidOption`] for no rows, `repeats = 0` or labels of the wrong length;
/// [`AuditError::Metrics`] if ROC-AUC is undefined (one class only).
pub fn permutation_importance(
    model: &Classifier,
    x: ArrayView2<f64>,
    labels: &[bool],
    groups: &[FeatureGroup],
    config: &PermutationConfig,
) -> Result<PermutationImportance, AuditError> {
    model.check_batch(x)?;
    let n = x.nrows();
    if labels.len() != n {
        return Err(AuditError::InvalidOption {
            name: "labels",
            value: labels.len().to_string(),
            reason: format!("one label per row: {n} rows"),
        });
    }
    // (N29) Networks whose input layer is one PLR layer on every column: the same scores with
    // each member's embedding kept between passes.
    if let Some(kept) = kept_embedding::importance(model, x, labels, groups, config) {
        return kept;
    }
    whole_network_importance(model, x, labels, groups, config)
}

/// [`permutation_importance`] scoring the whole networks at every pass: the path of every
/// network, and the oracle of the kept-embedding path (N29).
fn whole_network_importance(
    model: &Classifier,
    x: ArrayView2<f64>,
    labels: &[bool],
    groups: &[FeatureGroup],
    config: &PermutationConfig,
) -> Result<PermutationImportance, AuditError> {
    let mut ws = model.workspaces(x.nrows());
    permutation_importance_by(x, groups, config, "roc_auc", |x| {
        pass_score(labels, &model.probabilities(x, &mut ws))
    })
}

/// The score of one pass of [`permutation_importance`] (either path): ROC-AUC of `labels`
/// against the probabilities `scores`.
fn pass_score(labels: &[bool], scores: &[f64]) -> Result<f64, AuditError> {
    roc_auc(labels, scores).map_err(|source| AuditError::Metrics {
        context: "permutation importance (ROC-AUC)".into(),
        source,
    })
}

/// Permutation importance (E8, E9) under any score where higher is better (ROC-AUC for a
/// classifier, the normalized Gini for a value model): for each source column c (its
/// features `start..end` permuted together with one permutation, so a one-hot row stays
/// one-hot), R times: permute, score, `drop = score(X) − score(X with c permuted)`. Column
/// c's permutations come from stream c of `seeded_rng(seed)` by Fisher–Yates with
/// `j = ⌊u·(i + 1)⌋`, u from [`uniform01`], so the result depends on the seed only — not on
/// the column order or the thread count. `metric` names the score in the result.
///
/// # Errors
/// [`AuditError::Model`] if a group reaches beyond X's columns;
/// [`AuditError::InvalidOption`] for no rows or `repeats = 0`; the score's own errors.
pub fn permutation_importance_by(
    x: ArrayView2<f64>,
    groups: &[FeatureGroup],
    config: &PermutationConfig,
    metric: &str,
    mut score: impl FnMut(ArrayView2<f64>) -> Result<f64, AuditError>,
) -> Result<PermutationImportance, AuditError> {
    if config.repeats == 0 {
        return Err(AuditError::InvalidOption {
            name: "repeats",
            value: "0".into(),
            reason: "permutation importance needs at least one repeat".into(),
        });
    }
    let (n, d) = x.dim();
    if n == 0 {
        return Err(AuditError::InvalidOption {
            name: "rows",
            value: "0".into(),
            reason: "permutation importance needs at least one row".into(),
        });
    }
    if let Some(g) = groups.iter().find(|g| g.end > d || g.start >= g.end) {
        return Err(AuditError::Model(format!(
            "feature group \"{}\" spans {}..{} but the network has {d} inputs",
            g.column, g.start, g.end
        )));
    }
    let baseline_score = score(x)?;
    let mut work = x.to_owned();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut columns = Vec::with_capacity(groups.len());
    for (c, g) in groups.iter().enumerate() {
        let mut rng = seeded_rng(config.seed);
        rng.set_stream(c as u64);
        let mut drops = Vec::with_capacity(config.repeats);
        for _ in 0..config.repeats {
            for (i, p) in perm.iter_mut().enumerate() {
                *p = i;
            }
            for i in (1..n).rev() {
                let j = (uniform01(&mut rng) * (i + 1) as f64) as usize; // (E8)
                perm.swap(i, j.min(i));
            }
            for f in g.start..g.end {
                for (r, &src) in perm.iter().enumerate() {
                    work[[r, f]] = x[[src, f]];
                }
            }
            drops.push(baseline_score - score(work.view())?);
        }
        for f in g.start..g.end {
            work.column_mut(f).assign(&x.column(f));
        }
        columns.push(summarise_drops(g, drops));
    }
    columns.sort_by(|a, b| b.mean_drop.total_cmp(&a.mean_drop)); // stable: ties keep order
    Ok(PermutationImportance {
        source: "batch".into(),
        rows: n,
        metric: metric.into(),
        baseline_score,
        config: *config,
        columns,
    })
}

/// Mean, standard deviation and t interval of one column's drops (E9).
fn summarise_drops(g: &FeatureGroup, drops: Vec<f64>) -> ColumnImportance {
    let r = drops.len() as f64;
    let mean = drops.iter().fold(0.0, |s, v| s + v) / r;
    let (std, ci95) = if drops.len() >= 2 {
        let ss = drops.iter().fold(0.0, |s, v| s + (v - mean) * (v - mean));
        let std = (ss / (r - 1.0)).sqrt();
        let half = t_975(drops.len() - 1) * std / r.sqrt();
        (Some(std), Some((mean - half, mean + half)))
    } else {
        (None, None)
    };
    ColumnImportance {
        column: g.column.clone(),
        features: g.end - g.start,
        mean_drop: mean,
        std,
        ci95,
        drops,
    }
}

/// Permutation importance of `model` on every row of `table` (which must hold the target),
/// encoded by `pre`, per source column.
///
/// # Errors
/// [`AuditError::Model`] if the model does not read the preprocessor's features, the data
/// layer's errors (e.g. no target column), and those of [`permutation_importance`].
pub fn permutation_importance_csv(
    model: &Classifier,
    pre: &Preprocessor,
    table: &Table,
    config: &PermutationConfig,
) -> Result<PermutationImportance, AuditError> {
    model.check_fits(pre)?;
    let (x, y) = encode_f64(pre, table)?;
    let labels: Vec<bool> = y.iter().map(|&v| v > 0.5).collect();
    let mut out = permutation_importance(model, x.view(), &labels, &pre.feature_groups(), config)
        .map_err(|e| match e {
        // Name the file: "only one class" is a property of the data.
        AuditError::Metrics { context, source } => AuditError::Metrics {
            context: format!("{}: {context}", table.file()),
            source,
        },
        e => e,
    })?;
    out.source = table.file().to_string();
    Ok(out)
}
