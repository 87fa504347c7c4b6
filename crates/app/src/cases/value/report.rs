//! The value case's outputs: metrics.json (a top-level `test` object with the headline means),
//! report.md (protocol, counts, metrics next to the reference figures, the paired bootstrap
//! against the best reference, what drives value), the decile chart and the gain curve.

use std::fmt::Write as _;
use std::time::Instant;

use glassbox_audit::AuditError;
use glassbox_audit::explain::{
    PermutationConfig, PermutationImportance, permutation_importance_by,
};
use glassbox_core::seeded_rng;
use glassbox_train::metrics::value::{ValueMetrics, gain_curve, normalized_gini};
use glassbox_value::{Part, format_ms, last_period_rule_of};
use serde_json::json;

use super::{ModelRuns, Study, metrics_of};
use crate::cases::{Case, CaseOptions};
use crate::exit::{CliError, ResultExt};
use crate::output::RunDir;
use crate::pipeline::value::ValueRecipe;
use crate::plot::{grouped_bars, line_curves, scatter};

/// Bootstrap resamples of the test customers (as the data README).
const RESAMPLES: usize = 2000;
/// Permutations per input column.
const REPEATS: usize = 5;

/// Reference figures of the data README: (model, headline Gini, Spearman, decile MAPE,
/// top-20 % share; cross-fitted Gini, decile MAPE).
const REFERENCES: [(&str, f64, f64, f64, f64, f64, f64); 6] = [
    (
        "(a) last-period spend repeats",
        0.7295,
        0.5145,
        0.348,
        0.586,
        0.7629,
        0.447,
    ),
    (
        "(b) BG/NBD + Gamma-Gamma",
        0.6846,
        0.5069,
        0.214,
        0.581,
        0.7698,
        0.308,
    ),
    (
        "(c) LightGBM two-part",
        0.7142,
        0.5107,
        0.166,
        0.566,
        0.7742,
        0.114,
    ),
    (
        "(c+) LightGBM Tweedie",
        0.7176,
        0.5081,
        0.162,
        0.570,
        0.7680,
        0.181,
    ),
    (
        "(d) MLP, MSE on log1p (PyTorch)",
        0.6667,
        0.5046,
        0.870,
        0.575,
        0.7646,
        0.823,
    ),
    (
        "(e) MLP, ZILN (PyTorch)",
        0.7145,
        0.4993,
        0.253,
        0.592,
        0.7956,
        0.124,
    ),
];

/// Mean and sd over seeds of one metric.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n.max(1.0);
    (mean, var.sqrt())
}

struct Summary {
    name: String,
    per_seed: Vec<ValueMetrics>,
}

impl Summary {
    fn of(&self, f: impl Fn(&ValueMetrics) -> f64) -> (f64, f64) {
        mean_sd(&self.per_seed.iter().map(f).collect::<Vec<_>>())
    }
}

fn summarise(
    study: &Study,
    rows: &[usize],
    name: &str,
    runs: &[Vec<f64>],
) -> Result<Summary, CliError> {
    let per_seed = runs
        .iter()
        .map(|p| metrics_of(&study.table, rows, p))
        .collect::<Result<_, _>>()?;
    Ok(Summary {
        name: name.to_string(),
        per_seed,
    })
}

fn gini_of(actual: &[f64], predicted: &[f64], rows: &[usize]) -> f64 {
    let a: Vec<f64> = rows.iter().map(|&i| actual[i]).collect();
    let p: Vec<f64> = rows.iter().map(|&i| predicted[i]).collect();
    normalized_gini(&a, &p).unwrap_or(f64::NAN)
}

/// Paired bootstrap of the Gini difference model − reference on the same resamples:
/// (mean difference, 2.5 %, 97.5 % quantiles, share of resamples where the model is better).
fn paired_bootstrap(actual: &[f64], model: &[f64], reference: &[f64], seed: u64) -> [f64; 4] {
    use rand::Rng as _;
    let n = actual.len();
    let mut rng = seeded_rng(seed);
    let mut diffs = Vec::with_capacity(RESAMPLES);
    let mut rows = vec![0usize; n];
    for _ in 0..RESAMPLES {
        rows.iter_mut().for_each(|r| *r = rng.random_range(0..n));
        let d = gini_of(actual, model, &rows) - gini_of(actual, reference, &rows);
        if d.is_finite() {
            diffs.push(d);
        }
    }
    diffs.sort_by(f64::total_cmp);
    let q = |p: f64| diffs[((p * (diffs.len() - 1) as f64).round()) as usize];
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let better = diffs.iter().filter(|&&d| d > 0.0).count() as f64 / diffs.len() as f64;
    [mean, q(0.025), q(0.975), better]
}

/// Permutation importance on the val customers (E8, E9, by the audit crate's explain), with
/// the normalized Gini (C31) as the score: each input group (a numeric feature, or a
/// categorical column's one-hots together) permuted `REPEATS` times.
fn importance(study: &Study, seed: u64) -> Result<PermutationImportance, CliError> {
    let model = &study.first_model;
    let x = crate::pipeline::value::inputs(&model.info.scaler, &study.table, &study.val);
    let actual: Vec<f64> = study.val.iter().map(|&i| study.table.target[i]).collect();
    // The rule's part of the blend (C37) reads the raw log, not the permuted inputs.
    let rule = last_period_rule_of(&study.table, model.info.horizon_ms, &study.val);
    let config = PermutationConfig {
        repeats: REPEATS,
        seed,
    };
    permutation_importance_by(
        x.mapv(f64::from).view(),
        &model.info.scaler.feature_groups(),
        &config,
        "normalized_gini",
        |x| {
            let p: Vec<f64> = model
                .predict_inputs(&x.mapv(|v| v as f32), &rule)
                .iter()
                .map(|p| p.expected)
                .collect();
            normalized_gini(&actual, &p).map_err(|e| AuditError::InvalidOption {
                name: "val customers",
                value: actual.len().to_string(),
                reason: format!("normalized Gini undefined: {e}"),
            })
        },
    )
    .internal_err()
}

pub(super) fn write(
    case: &Case,
    options: &CaseOptions,
    study: &Study,
    run: &mut RunDir,
    started: Instant,
) -> Result<(), CliError> {
    let t = &study.table;
    let zi: &ModelRuns = &study.models[0];
    let all: Vec<usize> = (0..t.ids.len()).collect();
    let mut headline = Vec::new();
    for m in &study.models {
        headline.push(summarise(study, &study.test, m.name, &m.test)?);
    }
    headline.push(summarise(
        study,
        &study.test,
        "last-period rule (C25)",
        std::slice::from_ref(&study.rule_test),
    )?);
    let cross = summarise(study, &all, zi.name, &zi.cross_fit)?;
    let cross_rule = summarise(
        study,
        &all,
        "last-period rule (C25)",
        std::slice::from_ref(&study.rule_all),
    )?;
    let z = &headline[0];
    let actual_test: Vec<f64> = study.test.iter().map(|&i| t.target[i]).collect();
    let rows: Vec<usize> = (0..actual_test.len()).collect();
    let boot = paired_bootstrap(&actual_test, &zi.test[0], &study.rule_test, options.seed);
    let _ = &rows;
    let drivers = importance(study, options.seed)?;

    // metrics.json
    let block = |s: &Summary| {
        json!({
            "normalized_gini": s.of(|m| m.normalized_gini).0,
            "normalized_gini_sd": s.of(|m| m.normalized_gini).1,
            "spearman": s.of(|m| m.spearman).0,
            "top10_revenue_share": s.of(|m| m.top10_revenue_share).0,
            "top20_revenue_share": s.of(|m| m.top20_revenue_share).0,
            "decile_mape": s.of(|m| m.decile_mape).0,
            "mae": s.of(|m| m.mae).0,
            "rmse": s.of(|m| m.rmse).0,
            "auc_any": s.of(|m| m.auc_any.unwrap_or(f64::NAN)).0,
            "mean_predicted": s.of(|m| m.mean_predicted).0,
            "seeds": s.per_seed.len(),
            "per_seed": s.per_seed,
        })
    };
    let metrics = json!({
        "case": case.name,
        "model": zi.name,
        "test": block(z),
        "cross_fit": block(&cross),
        "models": headline.iter().map(|s| json!({"name": s.name, "test": block(s)})).collect::<Vec<_>>(),
        "cross_fit_last_period_rule": block(&cross_rule),
        "paired_bootstrap_vs_last_period": {
            "resamples": RESAMPLES,
            "gini_difference": boot[0], "ci95": [boot[1], boot[2]], "p_better": boot[3],
        },
        "epochs": zi.epochs,
        "blend_weight_power_and_level": zi.blend_level,
        "permutation_importance_val": drivers,
        "counts": t.stats,
        "seconds": {"read": study.read_seconds, "fit": study.fit_seconds, "total": started.elapsed().as_secs_f64()},
    });
    run.write_json("metrics.json", &metrics).usage_err()?;

    // Plots: the first seed's decile chart, the gain curves of the model and the rule.
    let deciles = &z.per_seed[0].deciles;
    let labels: Vec<String> = (1..=10).map(|d| d.to_string()).collect();
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let values: Vec<[f64; 2]> = deciles.iter().map(|d| [d.predicted, d.actual]).collect();
    let bars = grouped_bars(
        run.prepare("decile_chart").usage_err()?,
        "Decile chart (test, first seed): mean spend per tenth of customers by prediction",
        "mean spend in the next 91 days (£)",
        &label_refs,
        &["predicted", "actual"],
        &values,
    )
    .usage_err()?;
    let curve_points = |p: &[f64]| -> Vec<(f64, f64)> {
        let curve = gain_curve(&actual_test, p).unwrap_or_default();
        let n = curve.len() as f64;
        std::iter::once((0.0, 0.0))
            .chain(
                curve
                    .iter()
                    .enumerate()
                    .map(|(k, c)| ((k + 1) as f64 / n, *c)),
            )
            .collect()
    };
    let perfect = curve_points(&actual_test);
    let model_curve = curve_points(&zi.test[0]);
    let rule_curve = curve_points(&study.rule_test);
    let gain = line_curves(
        run.prepare("gain_curve").usage_err()?,
        "Gain curve (test): share of revenue from the top customers by prediction",
        "share of customers",
        "share of holdout revenue",
        &[
            ("perfect", &perfect),
            ("ZILN MLP", &model_curve),
            ("last-period rule", &rule_curve),
        ],
    )
    .usage_err()?;
    // Money spans five decades and half the actual values are 0: both axes on log10(1 + £).
    let log_scale =
        |v: &[f64]| -> Vec<f64> { v.iter().map(|x| x.max(0.0).ln_1p() / 10f64.ln()).collect() };
    let scatter_plot = scatter(
        run.prepare("predicted_vs_actual").usage_err()?,
        "Predicted against actual spend (test, first seed)",
        ("actual spend, log10(1 + £)", &log_scale(&actual_test)),
        ("predicted spend, log10(1 + £)", &log_scale(&zi.test[0])),
    )
    .usage_err()?;
    for p in bars
        .paths()
        .into_iter()
        .chain(gain.paths())
        .chain(scatter_plot.paths())
    {
        run.record(p.to_path_buf());
    }

    // report.md
    let s = &t.stats;
    let mut r = String::new();
    let _ = writeln!(r, "# Customer value: spend in the next 91 days\n");
    let _ = writeln!(
        r,
        "`{}` on `{}`, in {:.2} s ({:.2} s reading the log, {:.2} s fitting {} networks) on {} thread(s).\n",
        case.command(options),
        super::log_path(options).display(),
        started.elapsed().as_secs_f64(),
        study.read_seconds,
        study.fit_seconds,
        zi.test.len() * 7 + study.models[1].test.len(),
        options.threads
    );
    let _ = writeln!(r, "## Protocol\n");
    let _ = writeln!(
        r,
        "UCI \"Online Retail\" (CC BY 4.0), the protocol of the data README: lines with a customer, calibration \
[{}, 2011-09-01), holdout 91 days to 2011-12-01; cancellations net against purchases; target = max(0, net holdout \
spend) (C21); cohort = customers with a purchase line in calibration (C22); the portable customer split (C24). \
Features: notes/value.md §2 (23 per customer + country one-hots), signed log, standardised on the fit customers, \
clipped to ±5 sd. Model: 64-64 ReLU MLP, dropout 0.25, Adam (lr 2e-3, coupled L2 {:e} with ZILN, {:e} with MSE), batch \
128, early stopping on the val loss (patience 10, at most 150 epochs, best epoch restored); ZILN head (C4–C7) by default, MSE \
on log1p(y) as the plain alternative. The ZILN network is used alone (α = 1); the MSE one blends with the last-period rule, \
`α·network + (1 − α)·rule`, α on the grid 0, 0.1, …, 1 with the best val Gini (C37). Each prediction is then mapped \
through `a·ŷᵇ` fitted on the val decile chart (C39); no level factor after it (C36 off: level factor 1). {} seeds per model; test touched \
only for this report.\n\nFitted on val per headline seed of the default, (α, exponent b, level factor): {}.\n",
        format_ms(s.start_ms),
        ValueRecipe::ziln(0).l2,
        ValueRecipe::mse_log1p(0).l2,
        zi.test.len(),
        zi.blend_level
            .iter()
            .map(|(a, b, l)| format!("({a:.1}, {b:.2}, {l:.3})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let count = |p: Part| study.parts.iter().filter(|&&q| q == p).count();
    let _ = writeln!(r, "| quantity | value |\n|---|---|");
    for (k, v) in [
        ("lines in the log", s.lines.to_string()),
        (
            "lines without a customer",
            s.lines_without_customer.to_string(),
        ),
        (
            "lines in calibration / holdout",
            format!("{} / {}", s.lines_calibration, s.lines_holdout),
        ),
        (
            "lines after the holdout (dropped)",
            s.lines_after_holdout.to_string(),
        ),
        ("customers in the cohort", s.customers.to_string()),
        (
            "customers with lines only in the holdout (out)",
            s.customers_only_in_holdout.to_string(),
        ),
        (
            "fit / val / test customers",
            format!(
                "{} / {} / {}",
                count(Part::Fit),
                count(Part::Val),
                count(Part::Test)
            ),
        ),
        (
            "customers buying in the holdout",
            s.customers_buying_in_holdout.to_string(),
        ),
        (
            "customers with negative net holdout spend (floored)",
            s.customers_with_negative_holdout.to_string(),
        ),
        (
            "holdout revenue, cohort (£)",
            format!("{:.0}", s.holdout_revenue),
        ),
    ] {
        let _ = writeln!(r, "| {k} | {v} |");
    }
    let _ = writeln!(
        r,
        "\n## Headline split (664 test customers), mean ± sd over seeds\n"
    );
    let _ = writeln!(
        r,
        "| model | norm. Gini | Spearman | decile MAPE | top-10 % | top-20 % | MAE | RMSE | AUC any | mean pred |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for h in &headline {
        let f = |g: &dyn Fn(&ValueMetrics) -> f64| {
            let (m, sd) = h.of(g);
            if h.per_seed.len() > 1 {
                format!("{m:.4} ± {sd:.4}")
            } else {
                format!("{m:.4}")
            }
        };
        let _ = writeln!(
            r,
            "| {} (glassbox) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            h.name,
            f(&|m| m.normalized_gini),
            f(&|m| m.spearman),
            f(&|m| m.decile_mape),
            f(&|m| m.top10_revenue_share),
            f(&|m| m.top20_revenue_share),
            f(&|m| m.mae),
            f(&|m| m.rmse),
            f(&|m| m.auc_any.unwrap_or(f64::NAN)),
            f(&|m| m.mean_predicted),
        );
    }
    for (name, g, sp, mape, top20, _, _) in REFERENCES {
        let _ = writeln!(
            r,
            "| {name} (reference) | {g:.4} | {sp:.4} | {mape:.3} | | {top20:.3} | | | | |"
        );
    }
    let _ = writeln!(
        r,
        "\nTargets (headline): Gini ≥ 0.730, top-20 % share ≥ 0.592, decile MAPE ≤ 0.20. \
Paired bootstrap ({RESAMPLES} resamples of the test customers, first seed) of Gini(ZILN MLP) − Gini(last-period \
rule): {:+.4} [{:+.4}, {:+.4}], P(better) = {:.2}.\n",
        boot[0], boot[1], boot[2], boot[3]
    );
    let _ = writeln!(
        r,
        "## Cross-fitted over all {} customers (5 folds), mean ± sd over seeds\n\nFold f is scored by \
the model trained on the other folds (fold f + 1 its val). The decile power map is shared by the fold models (C40): \
model f's is fitted on the pooled val predictions of the four models whose val fold is not fold f.\n",
        t.ids.len()
    );
    let _ = writeln!(
        r,
        "| model | norm. Gini | decile MAPE | Spearman | top-20 % | mean pred |\n|---|---|---|---|---|---|"
    );
    for c in [&cross, &cross_rule] {
        let (g, gs) = c.of(|m| m.normalized_gini);
        let _ = writeln!(
            r,
            "| {} (glassbox) | {g:.4} ± {gs:.4} | {:.3} | {:.4} | {:.3} | {:.1} |",
            c.name,
            c.of(|m| m.decile_mape).0,
            c.of(|m| m.spearman).0,
            c.of(|m| m.top20_revenue_share).0,
            c.of(|m| m.mean_predicted).0
        );
    }
    for (name, _, _, _, _, g, mape) in REFERENCES {
        let _ = writeln!(r, "| {name} (reference) | {g:.4} | {mape:.3} | | | |");
    }
    let _ = writeln!(
        r,
        "\nTargets (cross-fitted): Gini ≥ 0.80 with decile MAPE ≤ 0.12.\n"
    );
    let _ = writeln!(
        r,
        "## Decile chart, gain curve, predicted against actual (test, first seed)\n"
    );
    let _ = writeln!(
        r,
        "![decile chart](decile_chart.svg)\n\n![gain curve](gain_curve.svg)\n\n\
![predicted against actual](predicted_vs_actual.svg)\n\nThe scatter plot has both axes on \
log10(1 + £): the customers who bought nothing (actual 0) form the column on the left.\n"
    );
    let _ = writeln!(
        r,
        "| decile | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (label, pick) in [("actual mean", 1usize), ("predicted mean", 0)] {
        let cells: Vec<String> = values.iter().map(|v| format!("{:.0}", v[pick])).collect();
        let _ = writeln!(r, "| {label} | {} |", cells.join(" | "));
    }
    let _ = writeln!(
        r,
        "\n## What drives value (permutation importance, val customers, first seed)\n"
    );
    let _ = writeln!(
        r,
        "The permuted inputs feed the network only; where a blend with the rule is on (weight 1 − α), the \
rule reads the raw net spend and is left as it is, so with a small α every drop is small.\n"
    );
    let _ = writeln!(
        r,
        "Mean drop in normalized Gini (from {:.4}) over {REPEATS} permutations of each input (one-hots of a \
column together; notes/explain.md E8, E9), with the 95 % interval of the mean over permutations.\n",
        drivers.baseline_score
    );
    let _ = writeln!(r, "| input | Gini drop | 95 % interval |\n|---|---|---|");
    for c in drivers.columns.iter().take(12) {
        let interval = c
            .ci95
            .map(|(lo, hi)| format!("[{lo:+.4}, {hi:+.4}]"))
            .unwrap_or_default();
        let _ = writeln!(r, "| {} | {:+.4} | {interval} |", c.column, c.mean_drop);
    }
    run.write_bytes("report.md", r.as_bytes()).usage_err()?;
    if !options.quiet {
        println!(
            "value: test Gini {:.4}, top-20 % {:.3}, decile MAPE {:.3}; cross-fitted Gini {:.4}, decile MAPE {:.3} ({:.1} s)",
            z.of(|m| m.normalized_gini).0,
            z.of(|m| m.top20_revenue_share).0,
            z.of(|m| m.decile_mape).0,
            cross.of(|m| m.normalized_gini).0,
            cross.of(|m| m.decile_mape).0,
            started.elapsed().as_secs_f64()
        );
        println!("report: {}", run.path().join("report.md").display());
    }
    Ok(())
}
