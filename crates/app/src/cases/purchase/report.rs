//! The report stage of the purchase case study: the model bundles, the plots, `history.csv`,
//! `metrics.json` and `report.md` — the study in words, with the test metrics side by side,
//! reference figures, plots, recipes, data, conventions and limitations.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use glassbox_data::{DataSummary, ReadOptions, Table};
use glassbox_train::metrics::standard_error::auc_standard_error;
use serde_json::json;

use super::privacy::{PrivateModel, privacy_json, privacy_markdown};
use super::{NAMES, Study};
use crate::bundle::Bundle;
use crate::describe::recipe_rows;
use crate::exit::{CliError, ResultExt, joined};
use crate::output::RunDir;
use crate::pipeline::{Evaluation, TrainedModel};
use crate::plot;
use crate::recipe::ThresholdRule;
use crate::render::data::data_markdown;
use crate::render::metrics::{f4, metrics_markdown};
use crate::render::table::{Align, markdown_table, markdown_table_aligned};
use crate::report::{
    EvalPlots, Plots, record_all, write_eval_plots, write_history, write_history_plots,
};

/// Wall time of the phases of a case study, seconds.
pub(super) struct Timings {
    pub(super) prepare: f64,
    pub(super) train: f64,
    pub(super) evaluate: f64,
    pub(super) started: Instant,
}

/// Writes bundles, history, plots, metrics.json and report.md.
pub(super) fn write_outputs(
    run: &mut RunDir,
    study: &Study<'_>,
    trained: &[TrainedModel],
    tests: &[Evaluation],
    private: &[PrivateModel],
    timings: &Timings,
) -> Result<(), CliError> {
    let (case, options) = (study.case, study.options);
    let (train_path, test_path) = (&study.data.train, &study.data.test);
    let train_summary = study.train_summary;
    let threads = options.threads;
    let write_started = Instant::now();
    let test_table = Table::read(
        test_path,
        &ReadOptions::default(),
        trained[1].bundle.preprocessor.schema(),
    )
    .data_err()?;
    let test_summary =
        DataSummary::new(&test_table, Some(&trained[1].bundle.preprocessor)).data_err()?;
    let mut history = Vec::new();
    let mut bundle_paths = Vec::new();
    for (t, name) in trained.iter().zip(NAMES) {
        let rel = format!("{name}/model.safetensors");
        let path = run.prepare(&rel).usage_err()?;
        t.bundle.save(&path).usage_err()?;
        run.record(path);
        bundle_paths.push(rel);
        history.extend(t.history.iter().cloned());
    }
    for m in private {
        let rel = format!("privacy/epsilon-{}/model.safetensors", m.epsilon);
        let path = run.prepare(&rel).usage_err()?;
        m.trained.bundle.save(&path).usage_err()?;
        run.record(path);
        history.extend(m.trained.history.iter().cloned());
    }
    // The figures are independent: draw each model's, and the comparison, on its own thread.
    let shared: &RunDir = run;
    let (drawn, comparison) = std::thread::scope(|scope| {
        let handles: Vec<_> = trained
            .iter()
            .zip(tests)
            .zip(NAMES)
            .map(|((t, test), name)| {
                scope.spawn(move || -> Result<(Plots, EvalPlots), CliError> {
                    let h = write_history_plots(
                        shared,
                        name,
                        &t.bundle.info.recipe.label(),
                        &t.history,
                    )
                    .usage_err()?;
                    let e =
                        write_eval_plots(shared, name, &format!("{name} recipe, test split"), test)
                            .usage_err()?;
                    Ok((h, e))
                })
            })
            .collect();
        let comparison = comparison_plots(shared, &NAMES, tests);
        let drawn: Vec<_> = handles
            .into_iter()
            .map(|h| joined(h.join(), "plotting")?)
            .collect();
        (drawn, comparison)
    });
    let mut history_plots = Vec::new();
    let mut eval_plots = Vec::new();
    for d in drawn {
        let (h, e) = d?;
        record_all(run, &h.files);
        record_all(run, &e.files);
        history_plots.push(h.stems);
        eval_plots.push(e);
    }
    let comparison = comparison?;
    record_all(run, &comparison.files);
    let comparison = comparison.stems;
    write_history(run, &history).usage_err()?;
    let test_rows_in_train = rows_copied_across(train_path, test_path)?;
    run.write_json(
        "metrics.json",
        &json!({
            "train_file": train_path.display().to_string(),
            "test_file": test_path.display().to_string(),
            "seed": options.seed,
            "quick": options.quick,
            "threads": threads,
            "seconds": {
                "read_and_prepare": timings.prepare,
                "train": timings.train,
                "evaluate": timings.evaluate,
                "bundles_plots_history": write_started.elapsed().as_secs_f64(),
                "total_before_report": timings.started.elapsed().as_secs_f64(),
            },
            "models": NAMES.iter().zip(trained).zip(tests).map(|((n, t), e)| json!({
                "name": n,
                "recipe": t.bundle.info.recipe,
                "threshold": t.bundle.info.threshold,
                "members": t.bundle.info.members,
                "test": e,
                "validation": t.validation,
            })).collect::<Vec<_>>(),
            "privacy": privacy_json(private),
            "test_rows_copied_from_train": test_rows_in_train,
            "data": { "train": train_summary, "test": test_summary },
        }),
    )
    .usage_err()?;
    let models = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| CaseStudyModel {
            name: n,
            bundle: &trained[i].bundle,
            bundle_path: bundle_paths[i].clone(),
            test: &tests[i],
            validation: trained[i].validation.as_ref(),
            plots: &eval_plots[i],
            history_plots: &history_plots[i],
            train_seconds: timings.train,
        })
        .collect();
    let mut report = case_study_markdown(&CaseStudy {
        models,
        train_summary,
        test_summary: &test_summary,
        test_rows_in_train,
        comparison_plots: &comparison,
        total_seconds: timings.started.elapsed().as_secs_f64(),
        threads,
        command: case.command(options),
    });
    report.push('\n');
    report.push_str(&privacy_markdown(private, &tests[1]));
    run.write_bytes("report.md", report.as_bytes())
        .usage_err()?;
    Ok(())
}

/// ROC and precision–recall curves of both recipes on one figure each.
fn comparison_plots(run: &RunDir, names: &[&str], tests: &[Evaluation]) -> Result<Plots, CliError> {
    let mut out = Plots::default();
    let roc: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .zip(tests)
        .filter_map(|(n, e)| {
            let r = e.roc.as_ref()?;
            let label = format!("{n} (AUC {:.4})", e.at_threshold.roc_auc?);
            Some((
                label,
                r.fpr.iter().copied().zip(r.tpr.iter().copied()).collect(),
            ))
        })
        .collect();
    let pr: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .zip(tests)
        .filter_map(|(n, e)| {
            let r = e.pr.as_ref()?;
            let label = format!("{n} (AP {:.4})", e.at_threshold.average_precision?);
            Some((
                label,
                r.recall
                    .iter()
                    .copied()
                    .zip(r.precision.iter().copied())
                    .collect(),
            ))
        })
        .collect();
    for (stem, title, x, y, series) in [
        (
            "plots/compare-roc",
            "ROC, test split",
            "false positive rate",
            "true positive rate",
            roc,
        ),
        (
            "plots/compare-pr",
            "Precision–recall, test split",
            "recall",
            "precision",
            pr,
        ),
    ] {
        if series.is_empty() {
            continue;
        }
        let pairs: Vec<(&str, &[(f64, f64)])> = series
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_slice()))
            .collect();
        let files =
            plot::line_curves(run.prepare(stem).usage_err()?, title, x, y, &pairs).usage_err()?;
        out.files
            .extend(files.paths().iter().map(|p| p.to_path_buf()));
        out.stems.push(stem.to_string());
    }
    Ok(out)
}

/// Data rows of `test` whose text (trimmed, line ending removed) equals a data row of
/// `train`: verbatim copies across the split.
fn rows_copied_across(train: &Path, test: &Path) -> Result<usize, CliError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| anyhow::anyhow!("{}: cannot read the file: {e}", p.display()))
            .data_err()
    };
    let train_text = read(train)?;
    let seen: HashSet<&str> = train_text.lines().skip(1).map(str::trim).collect();
    let test_text = read(test)?;
    Ok(test_text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && seen.contains(l.trim()))
        .count())
}

/// Reference figures quoted in the case-study report: measured by the project with other
/// frameworks on the same split (not run by glassbox).
const REFERENCE_FIGURES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "Keras, the paper's recipe",
        "0.909 ± 0.002",
        "–",
        "≈ 0.62–0.64",
        "≈ 0.886–0.890",
    ),
    ("best Keras MLP", "0.924", "0.733", "–", "–"),
    ("tuned LightGBM", "0.928", "0.741", "–", "–"),
];

/// One recipe of the case study, as the report shows it.
#[derive(Debug)]
struct CaseStudyModel<'a> {
    /// `paper` or `default`.
    pub name: &'a str,
    pub bundle: &'a Bundle,
    /// Relative path of the bundle in the run folder.
    pub bundle_path: String,
    pub test: &'a Evaluation,
    pub validation: Option<&'a Evaluation>,
    pub plots: &'a EvalPlots,
    pub history_plots: &'a [String],
    /// Wall time of training (all members), seconds.
    pub train_seconds: f64,
}

/// Everything `report.md` ties together.
#[derive(Debug)]
struct CaseStudy<'a> {
    pub models: Vec<CaseStudyModel<'a>>,
    pub train_summary: &'a DataSummary,
    pub test_summary: &'a DataSummary,
    /// Test rows whose text equals a training row's text.
    pub test_rows_in_train: usize,
    pub comparison_plots: &'a [String],
    pub total_seconds: f64,
    pub threads: usize,
    pub command: String,
}

/// `report.md` of the case study.
fn case_study_markdown(cs: &CaseStudy<'_>) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Purchase prediction — case study\n");
    let _ = writeln!(
        w,
        "Produced by `{}` (glassbox {}) in {:.2} s on {} thread(s). Data: the \"Online Shoppers \
Purchasing Intention\" set (Sakar et al., 2019; UCI, CC BY 4.0), its fixed stratified 80/20 split \
(`datasets/README.md`). Every model was trained on the training file only; thresholds and early \
stopping were chosen on a validation part carved out of it; the test file was used for the \
figures below and nothing else.\n",
        cs.command,
        env!("CARGO_PKG_VERSION"),
        cs.total_seconds,
        cs.threads
    );

    let _ = writeln!(w, "## Test metrics\n");
    let cols: Vec<(&str, &Evaluation)> = cs.models.iter().map(|m| (m.name, m.test)).collect();
    w.push_str(&metrics_markdown(&cols));
    let _ = writeln!(
        w,
        "\nThe model threshold `t` of each bundle was fixed before the test file was read: the \
paper's recipe predicts positive at p ≥ 0.5 as Keras does; the default recipe uses the threshold \
that maximised F1 on its validation rows (F1 because purchases are the rare class of interest and \
F1 weighs missed buyers and false alarms alike; Youden's J is available with `--threshold \
youden`).\n"
    );
    for m in &cs.models {
        let r = &m.test.at_threshold;
        if let Some(a) = r.roc_auc {
            let se = auc_standard_error(a, r.positives, r.n - r.positives);
            let _ = writeln!(
                w,
                "- **{}**: ROC-AUC {a:.4} ± {se:.4} (one standard error (R3), Hanley & McNeil \
1982, from {} positive and {} negative test rows).",
                m.name,
                r.positives,
                r.n - r.positives,
            );
        }
    }
    if let Some(m) = cs.models.first() {
        let _ = writeln!(
            w,
            "\nAll networks of both recipes were trained in {:.2} s on {} thread(s).",
            m.train_seconds, cs.threads
        );
    }
    let _ = writeln!(
        w,
        "\nReference figures on the same split, measured by the project with other frameworks \
(quoted, not re-run here; see `notes/benchmarks.md` for glassbox over 5 seeds):\n"
    );
    let mut rows: Vec<Vec<String>> = REFERENCE_FIGURES
        .iter()
        .map(|(sys, auc, ap, f1, acc)| [sys, auc, ap, f1, acc].map(|c| c.to_string()).to_vec())
        .collect();
    for m in &cs.models {
        let r = &m.test.at_threshold;
        let h = &m.test.at_half;
        rows.push(vec![
            format!(
                "glassbox, {} (this run, seed {})",
                m.name, m.bundle.info.recipe.seed
            ),
            f4(r.roc_auc),
            f4(r.average_precision),
            format!("{:.4}", h.f1),
            format!("{:.4}", h.accuracy),
        ]);
    }
    w.push_str(&markdown_table_aligned(
        &[
            "system",
            "ROC-AUC",
            "PR-AUC",
            "F1 at 0.5",
            "accuracy at 0.5",
        ],
        &[
            Align::Default,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
        ],
        &rows,
    ));

    let _ = writeln!(w, "\n## Plots\n");
    for m in &cs.models {
        let _ = writeln!(w, "### {}\n", m.name);
        let mut link = |title: &str, stem: &Option<String>| {
            if let Some(stem) = stem {
                let _ = writeln!(
                    w,
                    "- {title}: [`{stem}.svg`]({stem}.svg)\n\n  ![{title}]({stem}.png)\n"
                );
            }
        };
        link("ROC curve (test)", &m.plots.roc);
        link("precision–recall curve (test)", &m.plots.pr);
        link("calibration, 10 bins (test)", &m.plots.calibration);
        link(
            "confusion matrix at the model threshold (test)",
            &m.plots.confusion,
        );
        for h in m.history_plots {
            let _ = writeln!(
                w,
                "- training curve: [`{h}.svg`]({h}.svg)\n\n  ![{h}]({h}.png)\n"
            );
        }
    }
    for c in cs.comparison_plots {
        let _ = writeln!(
            w,
            "- both recipes: [`{c}.svg`]({c}.svg)\n\n  ![{c}]({c}.png)\n"
        );
    }

    let _ = writeln!(w, "## The two recipes\n");
    let header: Vec<&str> = std::iter::once("")
        .chain(cs.models.iter().map(|m| m.name))
        .collect();
    let described: Vec<Vec<(&str, String)>> = cs
        .models
        .iter()
        .map(|m| recipe_rows(&m.bundle.info.recipe))
        .collect();
    let mut rows: Vec<Vec<String>> = described.first().map_or_else(Vec::new, |first| {
        first
            .iter()
            .enumerate()
            .map(|(i, (k, _))| {
                std::iter::once(k.to_string())
                    .chain(described.iter().map(|r| r[i].1.clone()))
                    .collect()
            })
            .collect()
    });
    let row = |label: &str, cell: &dyn Fn(&CaseStudyModel<'_>) -> String| {
        std::iter::once(label.to_string())
            .chain(cs.models.iter().map(cell))
            .collect::<Vec<String>>()
    };
    rows.push(row("members: epochs run / kept epoch", &|m| {
        let v: Vec<String> = m
            .bundle
            .info
            .members
            .iter()
            .map(|x| format!("{}/{}", x.epochs_run, x.best_epoch))
            .collect();
        v.join(", ")
    }));
    rows.push(row("decision threshold", &|m| {
        let t = &m.bundle.info.threshold;
        format!(
            "{:.4}{}",
            t.value,
            match (t.rule, t.criterion_on_validation) {
                (ThresholdRule::MaxF1, Some(c)) => format!(" (F1 {c:.4} on validation)"),
                (ThresholdRule::YoudenJ, Some(c)) => format!(" (Youden's J {c:.4} on validation)"),
                _ => String::new(),
            }
        )
    }));
    rows.push(row("model file", &|m| {
        format!("[`{0}`]({0})", m.bundle_path)
    }));
    w.push_str(&markdown_table(&header, &rows));
    w.push_str("\nWhy the default recipe is what it is: `notes/recipe.md` (the search, on validation rows only).\n");

    if cs.models.iter().any(|m| m.validation.is_some()) {
        let _ = writeln!(
            w,
            "\n### Validation metrics (rows carved from the training file)\n"
        );
        let cols: Vec<(&str, &Evaluation)> = cs
            .models
            .iter()
            .filter_map(|m| m.validation.map(|v| (m.name, v)))
            .collect();
        w.push_str(&metrics_markdown(&cols));
    }

    let _ = writeln!(w, "\n## Data\n");
    w.push_str(&data_markdown(&[
        ("training file", cs.train_summary),
        ("test file", cs.test_summary),
    ]));
    let _ = writeln!(
        w,
        "\n{} test row(s) are verbatim copies of a training row (the data set repeats 119 \
sessions exactly); they are kept, as in the published split, and counted here so the test \
figures can be read with that in mind.\n",
        cs.test_rows_in_train
    );

    let _ = writeln!(w, "## Conventions\n");
    if let Some(m) = cs.models.first() {
        for (k, v) in &m.bundle.info.conventions {
            if k != "optimizer" && k != "loss" && k != "initialiser" {
                let _ = writeln!(w, "- **{k}**: {v}");
            }
        }
    }
    for k in ["loss", "optimizer", "initialiser"] {
        let values: Vec<(&str, &String)> = cs
            .models
            .iter()
            .filter_map(|m| m.bundle.info.conventions.get(k).map(|v| (m.name, v)))
            .collect();
        if values.windows(2).all(|p| p[0].1 == p[1].1) {
            if let Some((_, v)) = values.first() {
                let _ = writeln!(w, "- **{k}**: {v}");
            }
        } else {
            for (name, v) in values {
                let _ = writeln!(w, "- **{k}** ({name}): {v}");
            }
        }
    }
    let _ = writeln!(w, "\n## Limitations\n");
    let _ = writeln!(
        w,
        "- **One split, one seed per recipe.** The figures above come from one training run of \
each recipe. Seeds move the test ROC-AUC by a few thousandths; `notes/benchmarks.md` gives \
mean ± sd over 5 seeds. With {} positive test rows, differences below about two standard errors \
(above) are not evidence of a better model.",
        cs.models
            .first()
            .map_or(0, |m| m.test.at_threshold.positives)
    );
    let _ = writeln!(
        w,
        "- **Threshold-dependent metrics** (F1, precision, recall, accuracy) depend on the \
threshold, which was chosen on validation rows; at another operating point the trade-off differs \
(see the PR curve). Accuracy is dominated by the 85 % of sessions that do not buy."
    );
    let _ = writeln!(
        w,
        "- **PageValues** is the strongest feature and is computed by Google Analytics from the \
pages a visitor saw before a transaction; in real-time use its value at prediction time may be \
less informative than in this after-the-fact export."
    );
    let _ = writeln!(
        w,
        "- **One store, one year, sessions treated as independent.** The data cannot tell \
whether the model transfers to another shop or season; there is no time-based split."
    );
    let _ = writeln!(
        w,
        "- **Calibration** is reported, not corrected: the ensemble's probabilities are averages \
of sigmoid outputs trained with cross-entropy, with no post-hoc calibration."
    );
    let _ = writeln!(
        w,
        "- **Reference figures** for Keras and LightGBM are quoted from the project's \
measurements on the same split, not re-run by this command."
    );
    s
}
