//! `glassbox_audit::explain`: integrated gradients satisfy completeness (and converge as the steps
//! grow), gradient × input of a linear model is θ ⊙ x exactly, attributions map back to
//! CSV columns, and permutation importance finds a planted informative column.

#[path = "../../data/tests/support/mod.rs"]
mod data_support;
mod support;

use std::fmt::Write as _;

use data_support::Scratch;
use glassbox_audit::explain::{
    Baseline, IgConfig, Output, PermutationConfig, Rule, explain_rows, gradient_times_input,
    integrated_gradients, output_and_gradient, per_column, permutation_importance_csv, t_975,
};
use glassbox_audit::{AuditError, Classifier};
use glassbox_core::init::uniform01;
use glassbox_core::{Activation, Init, LayerSpec, Mlp, MlpSpec, Mode, Rng, Upstream, seeded_rng};
use glassbox_data::{ReadOptions, Table};
use ndarray::{Array2, array};

/// A random 6-8-4-1 network with smooth activations (tanh, tanh, sigmoid).
fn smooth_mlp(seed: u64) -> Mlp<f64> {
    let spec = MlpSpec::new(
        6,
        vec![
            LayerSpec::new(8, Activation::Tanh),
            LayerSpec::new(4, Activation::Tanh),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    Mlp::new(spec, Init::GlorotUniform, &mut seeded_rng(seed)).unwrap()
}

fn uniform_matrix(rows: usize, cols: usize, scale: f64, rng: &mut Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || scale * (2.0 * uniform01(rng) - 1.0))
}

fn max_abs_gap(
    model: &Classifier,
    x: &Array2<f64>,
    rule: Rule,
    steps: usize,
    output: Output,
) -> f64 {
    let config = IgConfig {
        steps,
        rule,
        output,
        ..IgConfig::default()
    };
    let ig = integrated_gradients(model, x.view(), &config).unwrap();
    ig.gap.iter().fold(0.0f64, |m, g| m.max(g.abs()))
}

/// The trapezoid rule's completeness gap shrinks from 16 to 64 to 256 steps, below 1e-5.
fn assert_complete_as_steps_grow(model: &Classifier, x: &Array2<f64>, output: Output) {
    let gaps: Vec<f64> = [16, 64, 256]
        .iter()
        .map(|&m| max_abs_gap(model, x, Rule::Trapezoid, m, output))
        .collect();
    assert!(
        gaps[2] < gaps[1] && gaps[1] < gaps[0] && gaps[2] < 1e-5,
        "{output:?}: {gaps:?}"
    );
}

fn fmt_gaps(gaps: &[f64]) -> String {
    gaps.iter()
        .map(|g| format!("{g:.2e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn integrated_gradients_are_complete_and_converge() {
    let mlp = Classifier::single(&smooth_mlp(5)).unwrap();
    let x = uniform_matrix(8, 6, 2.0, &mut seeded_rng(9));
    let mut table = String::new();
    for output in [Output::Logit, Output::Probability] {
        for rule in [Rule::Trapezoid, Rule::Midpoint, Rule::Left] {
            let gaps: Vec<f64> = [4, 16, 64, 256]
                .iter()
                .map(|&m| max_abs_gap(&mlp, &x, rule, m, output))
                .collect();
            let _ = writeln!(table, "{output:?} {rule:?}: {}", fmt_gaps(&gaps));
            for w in gaps.windows(2) {
                assert!(
                    w[1] < w[0],
                    "{output:?} {rule:?}: gaps {gaps:?} do not shrink"
                );
            }
            // Second-order rules: ×4 steps → about ÷16; the left sum is first order (÷4).
            let (factor, last) = match rule {
                Rule::Left => (3.0, 1e-2),
                _ => (12.0, 1e-5),
            };
            assert!(gaps[2] / gaps[3] > factor, "{output:?} {rule:?}: {gaps:?}");
            assert!(gaps[3] < last, "{output:?} {rule:?}: {gaps:?}");
        }
    }
    eprintln!("max |Σ IG − (f(x) − f(x′))| over 8 rows, m = 4, 16, 64, 256:\n{table}");
    // The default (1024 trapezoid steps) is within the default tolerance.
    let config = IgConfig::default();
    let ig = integrated_gradients(&mlp, x.view(), &config).unwrap();
    for (g, f) in ig.gap.iter().zip(&ig.f_x) {
        assert!(g.abs() <= config.tolerance(f - ig.f_baseline), "{g}");
    }
    let spread = ig
        .f_x
        .iter()
        .fold(0.0f64, |m, f| m.max((f - ig.f_baseline).abs()));
    assert!(
        spread > 0.1,
        "the rows must move f for the check to mean something"
    );
}

#[test]
fn gradient_times_input_of_a_linear_model_is_theta_times_x() {
    // z = θ·x + b, p = σ(z): ∂z/∂x = θ, so gradient × input is θ ⊙ x, bit for bit.
    let theta = [0.5, -1.25, 2.0, 0.0, -0.375];
    let spec = MlpSpec::new(5, vec![LayerSpec::new(1, Activation::Sigmoid)]);
    let mut params = theta.to_vec();
    params.push(0.3);
    let mlp = Classifier::single(&Mlp::<f64>::from_params(spec, params).unwrap()).unwrap();
    let x = uniform_matrix(7, 5, 3.0, &mut seeded_rng(2));
    let (f, a) = gradient_times_input(&mlp, x.view(), Output::Logit).unwrap();
    for r in 0..7 {
        for i in 0..5 {
            assert_eq!(a[[r, i]], theta[i] * x[[r, i]], "row {r} feature {i}");
        }
        let z: f64 = (0..5).map(|i| theta[i] * x[[r, i]]).sum::<f64>() + 0.3;
        assert!((f[r] - z).abs() < 1e-14);
    }
    // Integrated gradients from 0 agree with it (the integrand is constant), and
    // completeness is exact up to rounding for every rule and step count.
    for rule in [Rule::Left, Rule::Trapezoid] {
        let config = IgConfig {
            steps: 3,
            rule,
            ..IgConfig::default()
        };
        let ig = integrated_gradients(&mlp, x.view(), &config).unwrap();
        for (g, e) in ig.attributions.iter().zip(a.iter()) {
            assert!((g - e).abs() < 1e-14, "{g} vs {e}");
        }
        assert!(ig.gap.iter().all(|g| g.abs() < 1e-14), "{:?}", ig.gap);
    }
}

#[test]
fn attributions_sum_over_one_hot_groups() {
    let groups = vec![group("a", 0, 1), group("b", 1, 4), group("c", 4, 5)];
    assert_eq!(
        per_column(array![1.0, 2.0, 3.0, 4.0, 5.0].view(), &groups),
        [1.0, 9.0, 5.0]
    );
}

fn group(column: &str, start: usize, end: usize) -> glassbox_data::FeatureGroup {
    glassbox_data::FeatureGroup {
        column: column.into(),
        kind: glassbox_data::ColumnKind::Numeric,
        start,
        end,
        names: (start..end).map(|i| format!("{column}{i}")).collect(),
    }
}

#[test]
fn permutation_importance_ranks_the_planted_feature_first() {
    let scratch = Scratch::new("audit-permutation");
    let (mlp, pre, table) = support::synthetic_model(&support::synthetic_csv(&scratch, 1200, 4));
    let config = PermutationConfig {
        repeats: 5,
        seed: 17,
    };
    let imp = permutation_importance_csv(&mlp, &pre, &table, &config).unwrap();
    assert!(
        imp.baseline_score > 0.9,
        "the model must have learnt: {}",
        imp.baseline_score
    );
    let order: Vec<&str> = imp.columns.iter().map(|c| c.column.as_str()).collect();
    assert_eq!(order[0], "signal", "{order:?}");
    assert_eq!(order.len(), 6);
    let first = &imp.columns[0];
    assert!(first.mean_drop > 0.2, "{first:?}");
    let (lo, _) = first.ci95.unwrap();
    for other in &imp.columns[1..] {
        assert!(other.mean_drop < 0.05, "{other:?}");
        assert!(
            other.ci95.unwrap().1 < lo,
            "intervals overlap: {other:?} vs {first:?}"
        );
    }
    let colour = imp.columns.iter().find(|c| c.column == "colour").unwrap();
    assert_eq!(colour.features, 4); // red, green, blue, <unknown>
    assert_eq!(first.drops.len(), 5);
    // Deterministic: the same seed gives the same numbers; another seed other drops.
    assert_eq!(
        imp,
        permutation_importance_csv(&mlp, &pre, &table, &config).unwrap()
    );
    let other = PermutationConfig { seed: 18, ..config };
    let again = permutation_importance_csv(&mlp, &pre, &table, &other).unwrap();
    assert_ne!(again.columns[0].drops, first.drops);
    // The serialised form (the JSON report; its text, Markdown and plot are the app's).
    let json = serde_json::to_value(&imp).unwrap();
    assert_eq!(json["columns"][0]["column"], "signal");
}

#[test]
fn row_explanations_map_features_back_to_csv_columns() {
    let scratch = Scratch::new("audit-explain-rows");
    let (mlp, pre, table) = support::synthetic_model(&support::synthetic_csv(&scratch, 600, 8));
    let report = explain_rows(&mlp, &pre, &table, &[3, 0, 41], &IgConfig::default()).unwrap();
    assert_eq!(report.rows.len(), 3);
    assert_eq!(report.rows[0].row, 3);
    assert_eq!(report.rows[0].line, 5); // header is line 1, data row 3 is line 5
    // A ReLU network's path gradient is piecewise constant, so the trapezoid error falls
    // like 1/m (not 1/m²); at the default m = 1024 it is within the default tolerance.
    let x = pre
        .transform_features(&table.select_rows(&[3, 0, 41]))
        .unwrap()
        .mapv(f64::from);
    let gaps: Vec<f64> = [16, 64, 256, 1024]
        .iter()
        .map(|&m| max_abs_gap(&mlp, &x, Rule::Trapezoid, m, Output::Logit))
        .collect();
    eprintln!(
        "ReLU model, max |gap| at m = 16, 64, 256, 1024: {}",
        fmt_gaps(&gaps)
    );
    assert!(gaps[3] < gaps[1] && gaps[3] < 1e-3, "{gaps:?}");
    assert_eq!(report.max_abs_gap, gaps[3]);
    for r in &report.rows {
        assert!(r.complete);
        assert_eq!(r.columns.len(), 6);
        assert_eq!(r.features.len(), pre.n_features());
        // Each column's attribution is the sum of its features'.
        for g in pre.feature_groups() {
            let col = r.columns.iter().find(|c| c.column == g.column).unwrap();
            let sum: f64 = r.features[g.start..g.end]
                .iter()
                .map(|f| f.integrated_gradients)
                .sum();
            assert!(
                (col.integrated_gradients - sum).abs() < 1e-12,
                "{}",
                g.column
            );
            let gxi: f64 = r.features[g.start..g.end]
                .iter()
                .map(|f| f.x * f.gradient)
                .sum();
            assert!((col.gradient_x_input - gxi).abs() < 1e-12, "{}", g.column);
        }
        let total: f64 = r.columns.iter().map(|c| c.integrated_gradients).sum();
        assert!((total - r.ig_sum).abs() < 1e-12);
        assert!((r.ig_sum - (r.f_x - r.f_baseline) - r.gap).abs() < 1e-12);
        // The signal dominates the explanation of a confident prediction.
        let top = r
            .columns
            .iter()
            .max_by(|a, b| {
                a.integrated_gradients
                    .abs()
                    .total_cmp(&b.integrated_gradients.abs())
            })
            .unwrap();
        if (r.probability - 0.5).abs() > 0.3 {
            assert_eq!(top.column, "signal", "{r:?}");
        }
    }
    let colour = &report.rows[1].columns[2];
    assert_eq!(colour.column, "colour");
    assert!(["red", "green", "blue"].contains(&colour.value.as_str()));
}

#[test]
fn bad_input_is_an_error() {
    let scratch = Scratch::new("audit-explain-bad");
    let (mlp, pre, table) = support::synthetic_model(&support::synthetic_csv(&scratch, 100, 1));
    let ok = IgConfig::default();
    let e = explain_rows(&mlp, &pre, &table, &[0, 100], &ok).unwrap_err();
    assert!(matches!(e, AuditError::RowIndex { row: 100, .. }), "{e}");
    assert!(
        e.to_string()
            .contains("row 100 requested but the file holds rows 0..100"),
        "{e}"
    );
    assert!(explain_rows(&mlp, &pre, &table, &[], &ok).is_err());
    let zero_steps = IgConfig {
        steps: 0,
        ..IgConfig::default()
    };
    assert!(matches!(
        explain_rows(&mlp, &pre, &table, &[0], &zero_steps),
        Err(AuditError::InvalidOption { name: "steps", .. })
    ));
    let short = IgConfig {
        baseline: Baseline::Custom(vec![0.0; 3]),
        ..IgConfig::default()
    };
    let e = explain_rows(&mlp, &pre, &table, &[0], &short).unwrap_err();
    assert!(e.to_string().contains("needs 9 finite values"), "{e}");
    let wrong = Classifier::single(&support::classifier::<f32>(7, 2, 0)).unwrap();
    let e = explain_rows(&wrong, &pre, &table, &[0], &ok).unwrap_err();
    assert!(matches!(e, AuditError::Model(_)), "{e}");
    // A table without the target: permutation importance needs labels.
    let no_label = Table::read(
        scratch.file(
            "nolabel.csv",
            "noise1,signal,colour,noise2,flag,noise3\n1,2,red,3,true,4\n",
        ),
        &ReadOptions::default(),
        &pre.prediction_schema(),
    )
    .unwrap();
    let e = permutation_importance_csv(&mlp, &pre, &no_label, &PermutationConfig::default())
        .unwrap_err();
    assert!(matches!(e, AuditError::Data(_)), "{e}");
    assert!(e.to_string().contains("label"), "{e}");
    // A file missing a column the model reads.
    let missing = scratch.file(
        "missing.csv",
        "noise1,colour,noise2,flag,noise3,label\n1,red,3,true,4,yes\n",
    );
    let e = Table::read(&missing, &ReadOptions::default(), pre.schema()).unwrap_err();
    assert!(e.to_string().contains("no column \"signal\""), "{e}");
    let repeats = PermutationConfig {
        repeats: 0,
        seed: 0,
    };
    assert!(permutation_importance_csv(&mlp, &pre, &table, &repeats).is_err());
}

#[test]
fn student_t_quantiles_match_scipy() {
    // scipy.stats.t.ppf(0.975, df), SciPy 1.17.1.
    for (df, want) in [
        (1, 12.706204736174694),
        (10, 2.228138851986274),
        (30, 2.0422724563012378),
        (31, 2.039513446396408),
        (40, 2.021075390306273),
        (60, 2.0002978220142604),
        (100, 1.9839715185235518),
        (1000, 1.9623390808264083),
    ] {
        assert!(
            (t_975(df) - want).abs() < 1e-6,
            "df {df}: {} vs {want}",
            t_975(df)
        );
    }
    assert!(t_975(0).is_nan());
}

/// ∂f/∂x of `model` at row 0 of `x` against central differences, every feature.
fn check_input_gradient(model: &Classifier, x: &Array2<f64>, output: Output) {
    let mut ws = model.workspaces(1);
    let row = x.slice(ndarray::s![0..1, ..]).to_owned();
    let (_, grad) = output_and_gradient(model, row.view(), output, &mut ws);
    let h = 1e-5;
    for i in 0..row.ncols() {
        let mut up = row.clone();
        up[[0, i]] += h;
        let mut down = row.clone();
        down[[0, i]] -= h;
        let (fu, _) = output_and_gradient(model, up.view(), output, &mut ws);
        let (fd, _) = output_and_gradient(model, down.view(), output, &mut ws);
        let numeric = (fu[0] - fd[0]) / (2.0 * h);
        let err = (numeric - grad[[0, i]]).abs() / grad[[0, i]].abs().max(1e-3);
        assert!(
            err < 1e-7,
            "{output:?} feature {i}: {} vs {numeric}",
            grad[[0, i]]
        );
    }
}

#[test]
fn ensembles_average_probabilities_and_stay_complete() {
    let members = [smooth_mlp(5), smooth_mlp(6), smooth_mlp(7)];
    let model = Classifier::new(&members).unwrap();
    let x = uniform_matrix(5, 6, 2.0, &mut seeded_rng(3));
    // p̄ = (1/3) Σ σ(z_k), as the model bundle computes it.
    let p = model.probabilities(x.view(), &mut model.workspaces(5));
    let outputs: Vec<_> = members.iter().map(|m| m.predict(x.view())).collect();
    for (r, &pr) in p.iter().enumerate() {
        let mean = outputs.iter().map(|o| o[[r, 0]]).sum::<f64>() / 3.0;
        assert!((pr - mean).abs() < 1e-15, "{pr} vs {mean}");
    }
    // The ensemble's logit is ln(p̄/(1 − p̄)); its probability is p̄.
    let (z, _) = gradient_times_input(&model, x.view(), Output::Logit).unwrap();
    let (pr, _) = gradient_times_input(&model, x.view(), Output::Probability).unwrap();
    for r in 0..5 {
        assert!((z[r] - (p[r] / (1.0 - p[r])).ln()).abs() < 1e-12);
        assert_eq!(pr[r], p[r]);
    }
    for output in [Output::Logit, Output::Probability] {
        check_input_gradient(&model, &x, output);
        check_input_gradient(&Classifier::single(&members[0]).unwrap(), &x, output);
        assert_complete_as_steps_grow(&model, &x, output);
    }
}

/// A 6-8-1 BatchEnsemble network of `k` members with smooth activations.
fn smooth_batch_ensemble(k: usize, seed: u64) -> Mlp<f64> {
    let spec = MlpSpec::new(
        6,
        vec![
            LayerSpec::new(8, Activation::Tanh),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
    .with_ensemble(k);
    Mlp::new(spec, Init::GlorotUniform, &mut seeded_rng(seed)).unwrap()
}

#[test]
fn a_batch_ensemble_counts_each_member_and_its_gradient_is_exact() {
    let be = smooth_batch_ensemble(3, 11);
    let x = uniform_matrix(5, 6, 2.0, &mut seeded_rng(4));
    for model in [
        Classifier::single(&be).unwrap(),
        Classifier::new(&[be.clone(), smooth_batch_ensemble(3, 12)]).unwrap(),
    ] {
        // p̄ is the mean of every member's σ(z) (R1): the bundle's rule, to the bit.
        let k = model.probability_count();
        assert_eq!(k, 3 * model.members().len());
        let p = model.probabilities(x.view(), &mut model.workspaces(5));
        let (pr, _) = gradient_times_input(&model, x.view(), Output::Probability).unwrap();
        assert_eq!(pr.to_vec(), p);
        let by_hand: Vec<f64> = (0..5)
            .map(|r| {
                let probs: Vec<f64> = model
                    .members()
                    .iter()
                    .flat_map(|m| m.predict(x.view()).row(r).to_vec())
                    .collect();
                probs.iter().sum::<f64>() / k as f64
            })
            .collect();
        for (a, b) in p.iter().zip(&by_hand) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
        for output in [Output::Logit, Output::Probability] {
            check_input_gradient(&model, &x, output);
            assert_complete_as_steps_grow(&model, &x, output);
        }
    }
    // Negative control: reading member 0's logit only (what a one-column reader would do)
    // gives a gradient the central differences reject.
    let model = Classifier::single(&be).unwrap();
    let row = x.slice(ndarray::s![0..1, ..]).to_owned();
    let mut ws = be.workspace(1);
    let fwd = be.forward(row.view(), Mode::Inference, &mut ws);
    let p0 = glassbox_core::sigmoid(fwd.logits()[[0, 0]]);
    let mut d_z = Array2::<f64>::zeros((1, 3));
    d_z[[0, 0]] = p0 * (1.0 - p0);
    let one_column = be.input_gradient(fwd, Upstream::DZ(d_z.view())).to_owned();
    let (_, exact) = output_and_gradient(
        &model,
        row.view(),
        Output::Probability,
        &mut model.workspaces(1),
    );
    let gap = (&one_column - &exact)
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(gap > 0.1 * scale, "member 0 alone: {one_column} vs {exact}");
}

#[test]
fn a_classifier_needs_compatible_one_output_members() {
    assert!(Classifier::new::<f64>(&[]).is_err());
    let two_outputs = Mlp::<f64>::new(
        MlpSpec::new(6, vec![LayerSpec::new(2, Activation::Sigmoid)]),
        Init::GlorotUniform,
        &mut seeded_rng(1),
    )
    .unwrap();
    let e = Classifier::single(&two_outputs).unwrap_err();
    assert!(
        e.to_string().contains("one output, this network has 2"),
        "{e}"
    );
    let relu_out = Mlp::<f64>::new(
        MlpSpec::new(6, vec![LayerSpec::new(1, Activation::Relu)]),
        Init::GlorotUniform,
        &mut seeded_rng(1),
    )
    .unwrap();
    assert!(Classifier::single(&relu_out).is_err());
    let narrow = support::classifier::<f64>(5, 3, 1);
    let e = Classifier::new(&[smooth_mlp(1), narrow]).unwrap_err();
    assert!(
        e.to_string()
            .contains("member 1 reads 5 features, member 0 reads 6"),
        "{e}"
    );
}

#[test]
fn an_explain_request_on_more_rows_than_the_limit_is_refused() {
    let scratch = Scratch::new("audit-explain-limit");
    let (mlp, pre, table) = support::synthetic_model(&support::synthetic_csv(&scratch, 100, 1));
    // Millions of row indices (all valid): refused before any work, with the limit named.
    let rows = vec![0usize; 2_000_000];
    let e = explain_rows(&mlp, &pre, &table, &rows, &IgConfig::default()).unwrap_err();
    assert!(
        matches!(e, AuditError::TooManyRows { audit: "explain", requested: 2_000_000, limit, .. } if limit == glassbox_audit::MAX_EXPLAIN_ROWS),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("explain of 2000000 rows refused: the limit is 10000 rows"),
        "{e}"
    );
}

/// `permutation_importance_by` with a score of our own (as the value case's Gini): a column
/// the score ignores drops exactly 0, the column it reads drops, a one-hot group is permuted
/// as one (each permuted row stays one-hot), and bad settings are refused.
#[test]
fn permutation_importance_by_any_score_permutes_groups_together() {
    use glassbox_audit::explain::permutation_importance_by;
    let n = 200;
    let target: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64).collect();
    // Columns: 0 = the target itself, 1 = noise, 2..5 = a one-hot of i mod 3.
    let x = ndarray::Array2::from_shape_fn((n, 5), |(i, j)| match j {
        0 => target[i],
        1 => ((i * 13) % 7) as f64,
        _ => f64::from(u8::from(i % 3 == j - 2)),
    });
    let groups = [
        group("signal", 0, 1),
        group("noise", 1, 2),
        group("colour", 2, 5),
    ];
    // Higher is better: minus the mean squared gap of column 0 to the target.
    let score = |x: ndarray::ArrayView2<f64>| {
        for row in x.rows() {
            let hot: f64 = row.iter().skip(2).sum();
            assert_eq!(hot, 1.0, "a permuted row is no longer one-hot");
        }
        let sq: f64 = (0..n).map(|i| (x[[i, 0]] - target[i]).powi(2)).sum();
        Ok(-sq / n as f64)
    };
    let config = PermutationConfig {
        repeats: 4,
        seed: 3,
    };
    let imp = permutation_importance_by(x.view(), &groups, &config, "neg_mse", score).unwrap();
    assert_eq!(imp.metric, "neg_mse");
    assert_eq!(imp.baseline_score, 0.0);
    assert_eq!(imp.columns[0].column, "signal");
    assert!(imp.columns[0].mean_drop > 100.0, "{:?}", imp.columns[0]);
    for other in &imp.columns[1..] {
        assert_eq!(other.drops, vec![0.0; 4], "{other:?}");
    }
    // Deterministic in the seed.
    let again = permutation_importance_by(x.view(), &groups, &config, "neg_mse", score).unwrap();
    assert_eq!(imp, again);
    // Refused: no repeats, no rows, a group beyond X.
    let none = PermutationConfig {
        repeats: 0,
        ..config
    };
    assert!(permutation_importance_by(x.view(), &groups, &none, "m", score).is_err());
    let empty = ndarray::Array2::<f64>::zeros((0, 5));
    assert!(permutation_importance_by(empty.view(), &groups, &config, "m", score).is_err());
    let wide = [group("far", 4, 6)];
    assert!(permutation_importance_by(x.view(), &wide, &config, "m", score).is_err());
}
