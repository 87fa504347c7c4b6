//! The recommendation case's outputs: metrics.json (a top-level `test` object with the
//! default's means, primary mode), report.md (protocol, counts, every model next to the data
//! README's reference figures in both modes, the paired bootstrap, example lists), the
//! metric@K curves and the popularity of the recommended items.

use std::fmt::Write as _;
use std::time::Instant;

use glassbox_recommend::Mode;
use serde_json::{Value, json};

use super::{ModeStudy, ModelRow, Study};
use crate::cases::{Case, CaseOptions};
use crate::exit::{CliError, ResultExt};
use crate::output::RunDir;
use crate::pipeline::recommend::ModeMetrics;
use crate::plot::{bar_chart, line_curves};

/// The data README's reference figures: (model, settings, Recall@20, NDCG@20, HR@10).
const NEW_REFERENCES: [(&str, &str, f64, f64, f64); 8] = [
    ("popularity (global)", "–", 0.0301, 0.0447, 0.2845),
    ("recent popularity", "last 60 days", 0.0394, 0.0573, 0.3524),
    ("item-kNN (cosine)", "k=10", 0.0722, 0.0925, 0.4412),
    ("EASE", "λ=300", 0.0859, 0.1068, 0.5045),
    (
        "ALS (`implicit`)",
        "α=1, d=256, reg=10",
        0.0816,
        0.1040,
        0.4847,
    ),
    ("BPR (`implicit`)", "ep=100, d=128", 0.0618, 0.0837, 0.4153),
    (
        "MF, BPR loss (PyTorch)",
        "d=256, ep=20",
        0.0666,
        0.0868,
        0.4472,
    ),
    (
        "MF, full softmax (PyTorch)",
        "d=256, ep=45",
        0.0675,
        0.0917,
        0.4842,
    ),
];
// Figures copied from the data README; one of them happens to lie near 2/π.
#[allow(clippy::approx_constant)]
const ALL_REFERENCES: [(&str, &str, f64, f64, f64); 9] = [
    ("popularity (global)", "–", 0.0489, 0.0989, 0.5245),
    ("recent popularity", "last 14 days", 0.0644, 0.1257, 0.6104),
    (
        "repeat purchase (own history)",
        "half-life=240",
        0.2001,
        0.3175,
        0.7845,
    ),
    ("item-kNN (cosine)", "k=20", 0.1260, 0.2064, 0.6366),
    ("EASE", "λ=300", 0.1663, 0.2716, 0.7258),
    (
        "ALS (`implicit`)",
        "α=1, d=512, reg=10",
        0.1942,
        0.3038,
        0.7864,
    ),
    ("BPR (`implicit`)", "ep=200, d=128", 0.1744, 0.2715, 0.7708),
    (
        "MF, BPR loss (PyTorch)",
        "d=256, ep=20",
        0.1489,
        0.2367,
        0.7485,
    ),
    (
        "MF, full softmax (PyTorch)",
        "d=256, ep=15",
        0.1776,
        0.2789,
        0.7599,
    ),
];

fn references(mode: Mode) -> &'static [(&'static str, &'static str, f64, f64, f64)] {
    match mode {
        Mode::New => &NEW_REFERENCES,
        Mode::All => &ALL_REFERENCES,
    }
}

/// Mean and sample sd (0 for one value) of one metric over a row's seeds.
fn mean_sd(row: &ModelRow, f: fn(&ModeMetrics) -> f64) -> (f64, f64) {
    let v: Vec<f64> = row.seeds.iter().map(f).collect();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}

fn cell(row: &ModelRow, f: fn(&ModeMetrics) -> f64) -> String {
    let (m, sd) = mean_sd(row, f);
    if row.seeds.len() > 1 {
        format!("{m:.4} ± {sd:.4}")
    } else {
        format!("{m:.4}")
    }
}

/// The default's means of one mode, as metrics.json writes them.
fn default_json(ms: &ModeStudy) -> Value {
    // The case pushes the default last; a study without rows has nothing to report.
    let Some(d) = ms.rows.last() else {
        return Value::Null;
    };
    let m = |f: fn(&ModeMetrics) -> f64| mean_sd(d, f).0;
    json!({
        "users": d.seeds.first().map_or(0, |s| s.users),
        "seeds": d.seeds.len(),
        "recall_at_20": m(|s| s.recall_at_20),
        "recall_at_20_sd": mean_sd(d, |s| s.recall_at_20).1,
        "ndcg_at_20": m(|s| s.ndcg_at_20),
        "ndcg_at_20_sd": mean_sd(d, |s| s.ndcg_at_20).1,
        "hit_rate_at_10": m(|s| s.hit_rate_at_10),
        "map_at_20": m(|s| s.map_at_20),
        "coverage_at_20": m(|s| s.coverage_at_20),
        "popularity_at_20": m(|s| s.popularity_at_20),
        "validation_ndcg_at_20": ms.validation_ndcg,
        "settings": ms.settings,
        "paired_vs_best_reference": {
            "reference": ms.bootstrap.0,
            "recall_at_20": ms.bootstrap.1,
            "ndcg_at_20": ms.bootstrap.2,
        },
    })
}

pub(super) fn write(
    case: &Case,
    options: &CaseOptions,
    study: &Study,
    run: &mut RunDir,
    started: Instant,
) -> Result<(), CliError> {
    let new = &study.modes[0];
    let all = &study.modes[1];
    let mut test = default_json(new);
    test["primary_mode"] = json!("new");
    test["modes"] = json!({"new": default_json(new), "all": default_json(all)});
    let models: Value = study
        .modes
        .iter()
        .map(|ms| {
            let rows: Vec<Value> = ms
                .rows
                .iter()
                .map(|r| json!({"model": r.name, "settings": r.settings, "seeds": r.seeds}))
                .collect();
            (ms.mode.name().to_string(), json!(rows))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    run.write_json(
        "metrics.json",
        &json!({
            "test": test,
            "models": models,
            "counts": study.test.counts,
            "validation_counts": study.validation.counts,
            "seeds": study.seeds,
            "seconds": {"read": study.read_seconds, "fit_and_score": study.fit_seconds},
        }),
    )
    .usage_err()?;

    let mut md = String::new();
    let c = &study.test.counts;
    let _ = writeln!(
        md,
        "# Personalised recommendation on Online Retail\n\n`{}` · {} seed(s) for MF and the default · \
         wall time {:.1} s (read {:.1} s, fit and score {:.1} s; a shared machine's wall clock is noise)\n",
        case.command(options),
        study.seeds,
        started.elapsed().as_secs_f64(),
        study.read_seconds,
        study.fit_seconds
    );
    let _ = writeln!(
        md,
        "## Protocol (notes/recommend.md §1, the data README)\n\n\
         Implicit feedback (bought or not). Training = purchases before 2011-10-01; test = \
         2011-10-01 to 2011-12-09. Evaluated customers have a training and a test purchase; \
         cold-start customers are excluded. Candidates: every item sold before the cutoff, full \
         ranking, ties to the smaller stock code. **new** (primary): the customer's training \
         items are removed from the list and the truth; **all**: repeats count. Every setting \
         was chosen on the validation split (train < 2011-09-01, truth = September) only, per \
         mode; the test split was scored once per seed.\n\n\
         | count | value |\n|---|---|\n\
         | training events / users / candidate items / pairs | {} / {} / {} / {} |\n\
         | test events | {} |\n\
         | warm test users (all mode) / new mode | {} / {} |\n\
         | cold-start test users (excluded) | {} |\n\
         | test pairs / repeats / items never sold before | {} / {} / {} |\n\
         | validation: users with history (all / new) | {} / {} |\n",
        c.training_events,
        c.training_users,
        c.candidate_items,
        c.training_pairs,
        c.test_events,
        c.warm_test_users,
        new.rows[0].seeds[0].users,
        c.cold_test_users,
        c.test_pairs,
        c.test_repeat_pairs,
        c.test_unknown_item_pairs,
        study.validation.evaluated(Mode::All).len(),
        study.validation.evaluated(Mode::New).len(),
    );
    for ms in &study.modes {
        mode_section(&mut md, ms, study.seeds);
        let stem = run
            .prepare(format!("metric_at_k_{}", ms.mode.name()))
            .usage_err()?;
        let series: Vec<(String, Vec<(f64, f64)>)> = ms
            .rows
            .iter()
            .flat_map(|r| {
                let name = r.name.trim_matches('*');
                [
                    (
                        format!("{name} NDCG"),
                        r.curve.iter().map(|&(k, _, n)| (k as f64, n)).collect(),
                    ),
                    (
                        format!("{name} Recall"),
                        r.curve.iter().map(|&(k, rc, _)| (k as f64, rc)).collect(),
                    ),
                ]
            })
            .filter(|(n, _)| n.contains("NDCG") || n.starts_with("default"))
            .collect();
        let refs: Vec<(&str, &[(f64, f64)])> = series
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_slice()))
            .collect();
        let plot = line_curves(
            &stem,
            &format!(
                "Metric@K, {} mode (test; MF and default: first seed)",
                ms.mode.name()
            ),
            "K (list length)",
            "metric",
            &refs,
        )
        .usage_err()?;
        for p in plot.paths() {
            run.record(p);
        }
        let stem = run
            .prepare(format!("popularity_{}", ms.mode.name()))
            .usage_err()?;
        let labels: Vec<&str> = ms.rows.iter().map(|r| r.name.trim_matches('*')).collect();
        let values: Vec<f64> = ms
            .rows
            .iter()
            .map(|r| mean_sd(r, |s| s.popularity_at_20).0)
            .collect();
        let plot = bar_chart(
            &stem,
            &format!(
                "Popularity of the recommended items, {} mode (mean share of training customers who bought a listed item, top 20)",
                ms.mode.name()
            ),
            "popularity@20",
            &labels,
            &values,
            None,
        )
        .usage_err()?;
        for p in plot.paths() {
            run.record(p);
        }
        let _ = writeln!(
            md,
            "![metric@K, {m}](metric_at_k_{m}.svg)\n![popularity, {m}](popularity_{m}.svg)\n",
            m = ms.mode.name()
        );
    }
    run.write_bytes("report.md", md.as_bytes()).usage_err()?;
    if !options.quiet {
        println!(
            "new: Recall@20 {:.4} NDCG@20 {:.4} | all: Recall@20 {:.4} NDCG@20 {:.4} (default, mean of {} seed(s)) → {}",
            test["modes"]["new"]["recall_at_20"]
                .as_f64()
                .unwrap_or(f64::NAN),
            test["modes"]["new"]["ndcg_at_20"]
                .as_f64()
                .unwrap_or(f64::NAN),
            test["modes"]["all"]["recall_at_20"]
                .as_f64()
                .unwrap_or(f64::NAN),
            test["modes"]["all"]["ndcg_at_20"]
                .as_f64()
                .unwrap_or(f64::NAN),
            study.seeds,
            run.path().display()
        );
    }
    Ok(())
}

/// One mode's tables, bootstrap and examples.
fn mode_section(md: &mut String, ms: &ModeStudy, seeds: u64) {
    let name = ms.mode.name();
    let _ = writeln!(
        md,
        "## {} mode ({} customers)\n\nglassbox's models on the test period ({} seed(s) for the \
         seeded ones: mean ± sample sd):\n\n\
         | model | settings | Recall@20 | NDCG@20 | HR@10 | MAP@20 | coverage@20 | popularity@20 |\n\
         |---|---|---|---|---|---|---|---|",
        if ms.mode == Mode::New {
            "New items only (primary)"
        } else {
            "All items (secondary)"
        },
        ms.rows[0].seeds[0].users,
        seeds
    );
    for r in &ms.rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.settings,
            cell(r, |s| s.recall_at_20),
            cell(r, |s| s.ndcg_at_20),
            cell(r, |s| s.hit_rate_at_10),
            cell(r, |s| s.map_at_20),
            cell(r, |s| s.coverage_at_20),
            cell(r, |s| s.popularity_at_20),
        );
    }
    let _ = writeln!(
        md,
        "\nThe data README's reference figures ({name} mode; Python tools, 3 seeds where seeded):\n\n\
         | reference | settings | Recall@20 | NDCG@20 | HR@10 |\n|---|---|---|---|---|"
    );
    for (m, s, r, n, h) in references(ms.mode) {
        let _ = writeln!(md, "| {m} | {s} | {r:.4} | {n:.4} | {h:.4} |");
    }
    let best_recall = references(ms.mode).iter().map(|r| r.2).fold(0.0, f64::max);
    let best_ndcg = references(ms.mode).iter().map(|r| r.3).fold(0.0, f64::max);
    let Some(d) = ms.rows.last() else {
        return; // no rows, no verdict (the case pushes the default last)
    };
    let (rec, _) = mean_sd(d, |s| s.recall_at_20);
    let (ndcg, _) = mean_sd(d, |s| s.ndcg_at_20);
    let verdict = |ours: f64, best: f64| {
        if ours > best {
            format!("beats it by {:+.4}", ours - best)
        } else {
            format!("misses it by {:+.4}", ours - best)
        }
    };
    let (reference, dr, dn) = &ms.bootstrap;
    let _ = writeln!(
        md,
        "\n**The default against the best reference figure** (mean of {seeds} seed(s)): \
         Recall@20 {rec:.4} against {best_recall:.4} ({}), NDCG@20 {ndcg:.4} against \
         {best_ndcg:.4} ({}). Validation NDCG@20 of its settings: {:.4}.\n\n\
         **Paired bootstrap** (first seed, {} resamples of the customers) of the default minus \
         {reference} run here on the same customers: Recall@20 {:+.4} (paired SE {:.4}, 95 % \
         interval [{:+.4}, {:+.4}]), NDCG@20 {:+.4} (paired SE {:.4}, 95 % interval [{:+.4}, \
         {:+.4}]).\n",
        verdict(rec, best_recall),
        verdict(ndcg, best_ndcg),
        ms.validation_ndcg,
        dr.resamples,
        dr.estimate,
        dr.standard_error,
        dr.low,
        dr.high,
        dn.estimate,
        dn.standard_error,
        dn.low,
        dn.high,
    );
    if ms.mode == Mode::All {
        let _ = writeln!(
            md,
            "The repeat rule run here breaks ties of its score (items of one basket share it) by \
             recent popularity, which the data README's does not (its ties go to the smaller \
             stock code), the likely reason it scores above the README's 0.2001 / 0.3175 (not checked by a \
             run without them); the paired comparison is made against it, the stronger rule, \
             not against the README's figure.\n"
        );
    }
    let _ = writeln!(
        md,
        "Example lists (default, first seed; ✓ = bought in the test period):\n"
    );
    for e in &ms.examples {
        let shown: Vec<&str> = e.history.iter().take(15).map(String::as_str).collect();
        let list: Vec<String> = e
            .list
            .iter()
            .map(|(i, hit)| {
                if *hit {
                    format!("**{i} ✓**")
                } else {
                    i.clone()
                }
            })
            .collect();
        let _ = writeln!(
            md,
            "- customer {} — history ({} items): {}{}; truth {} items → top 10: {}",
            e.user,
            e.history.len(),
            shown.join(", "),
            if e.history.len() > 15 { ", …" } else { "" },
            e.truth_size,
            list.join(", ")
        );
    }
    let _ = writeln!(md);
}
