//! What runs write for people: the evaluation plots, the training history (`history.csv` and
//! loss curves), and the case study's `report.md`. Tables are laid out by [`crate::render`].
//!
//! Every file goes through [`RunDir`] (atomic writes, listed at the end of a run).

use std::fmt::Write as _;

use serde::Serialize;

use crate::bundle::Bundle;
use crate::describe::recipe_rows;
use crate::output::{OutputError, RunDir};
use crate::pipeline::{EpochRecord, Evaluation};
use crate::plot::{self, PlotFiles};
use crate::recipe::ThresholdRule;
use crate::render::data::data_markdown;
use crate::render::metrics::{f4, metrics_markdown};
use crate::render::table::{Align, markdown_table, markdown_table_aligned};
use glassbox_data::DataSummary;
use glassbox_train::metrics::standard_error::auc_standard_error;

/// The four evaluation plots of one model, written under `plots/<prefix>-…`: their stems
/// relative to the run folder, and every file written (for [`RunDir::record`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalPlots {
    pub roc: Option<String>,
    pub pr: Option<String>,
    pub calibration: Option<String>,
    pub confusion: Option<String>,
    #[serde(skip)]
    pub files: Vec<std::path::PathBuf>,
}

/// Stems of plots written, and every file (for [`RunDir::record`]).
#[derive(Debug, Clone, Default)]
pub struct Plots {
    pub stems: Vec<String>,
    pub files: Vec<std::path::PathBuf>,
}

/// Keeps `files` for the listing and returns the stem `rel`.
fn recorded(written: &mut Vec<std::path::PathBuf>, rel: &str, files: PlotFiles) -> String {
    written.extend(files.paths().iter().map(|p| p.to_path_buf()));
    rel.to_string()
}

/// Adds files (a plot's two, or every file of [`EvalPlots`] or [`Plots`]) to the run's
/// listing.
pub fn record_all<P: Into<std::path::PathBuf>>(
    run: &mut RunDir,
    files: impl IntoIterator<Item = P>,
) {
    for f in files {
        run.record(f);
    }
}

/// Writes ROC, precision–recall, calibration and confusion-matrix plots (SVG + PNG) of
/// `eval` as `plots/<prefix>-{roc,pr,calibration,confusion}.{svg,png}`; `title` names the
/// model and data in each figure. Curves undefined on the data (one class) are skipped.
/// Takes the folder by shared reference so that several models' plots can be drawn at once;
/// record [`EvalPlots::files`] afterwards.
pub fn write_eval_plots(
    run: &RunDir,
    prefix: &str,
    title: &str,
    eval: &Evaluation,
) -> Result<EvalPlots, OutputError> {
    let mut out = EvalPlots::default();
    let r = &eval.at_threshold;
    if let (Some(roc), Some(auc)) = (&eval.roc, r.roc_auc) {
        let rel = format!("plots/{prefix}-roc");
        let f = plot::roc_curve(
            run.prepare(&rel)?,
            &format!("ROC — {title}"),
            &roc.fpr,
            &roc.tpr,
            auc,
        )?;
        out.roc = Some(recorded(&mut out.files, &rel, f));
    }
    if let (Some(pr), Some(ap)) = (&eval.pr, r.average_precision) {
        let rel = format!("plots/{prefix}-pr");
        let base = r.positives as f64 / r.n.max(1) as f64;
        let f = plot::pr_curve(
            run.prepare(&rel)?,
            &format!("Precision–recall — {title}"),
            &pr.recall,
            &pr.precision,
            ap,
            base,
        )?;
        out.pr = Some(recorded(&mut out.files, &rel, f));
    }
    let bins: Vec<plot::CalibrationBin> = eval
        .calibration
        .bins
        .iter()
        .map(|b| plot::CalibrationBin {
            lower: b.lower,
            upper: b.upper,
            mean_predicted: b.mean_predicted,
            fraction_positive: b.fraction_positive,
            count: b.count as u64,
        })
        .collect();
    let rel = format!("plots/{prefix}-calibration");
    let f = plot::calibration(run.prepare(&rel)?, &format!("Calibration — {title}"), &bins)?;
    out.calibration = Some(recorded(&mut out.files, &rel, f));
    let c = &r.confusion;
    let rel = format!("plots/{prefix}-confusion");
    let f = plot::confusion_matrix(
        run.prepare(&rel)?,
        &format!("Confusion at t = {:.3} — {title}", r.threshold),
        c.tp as u64,
        c.fp as u64,
        c.tn as u64,
        c.fn_ as u64,
    )?;
    out.confusion = Some(recorded(&mut out.files, &rel, f));
    Ok(out)
}

/// Writes `history.csv` (one row per member and epoch).
pub fn write_history(run: &mut RunDir, records: &[EpochRecord]) -> Result<(), OutputError> {
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v}"));
    let rows = records.iter().map(|r| {
        let e = &r.record;
        vec![
            r.model.clone(),
            r.member.to_string(),
            r.epoch().to_string(),
            format!("{}", e.train_loss),
            opt(e.val_loss),
            opt(e.val_roc_auc),
            opt(e.val_accuracy),
            format!("{}", e.lr),
            format!("{:.4}", r.seconds),
        ]
    });
    run.write_csv(
        "history.csv",
        &[
            "model",
            "member",
            "epoch",
            "train_loss",
            "val_loss",
            "val_roc_auc",
            "val_accuracy",
            "lr",
            "seconds",
        ],
        rows,
    )?;
    Ok(())
}

/// Loss curves of one model (every member's training loss, and validation loss where
/// known) and, with validation, its validation ROC-AUC per epoch. Record [`Plots::files`]
/// afterwards.
pub fn write_history_plots(
    run: &RunDir,
    prefix: &str,
    title: &str,
    records: &[EpochRecord],
) -> Result<Plots, OutputError> {
    let members = records.iter().map(|r| r.member).max().map_or(0, |m| m + 1);
    let mut names = Vec::new();
    let mut series: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut auc_names = Vec::new();
    let mut auc_series: Vec<Vec<(f64, f64)>> = Vec::new();
    for m in 0..members {
        let rows: Vec<&EpochRecord> = records.iter().filter(|r| r.member == m).collect();
        let tag = if members > 1 {
            format!(" (member {m})")
        } else {
            String::new()
        };
        names.push(format!("train{tag}"));
        series.push(
            rows.iter()
                .map(|r| (r.epoch() as f64, r.record.train_loss))
                .collect(),
        );
        if rows.iter().any(|r| r.record.val_loss.is_some()) {
            names.push(format!("validation{tag}"));
            series.push(
                rows.iter()
                    .filter_map(|r| r.record.val_loss.map(|v| (r.epoch() as f64, v)))
                    .collect(),
            );
        }
        if rows.iter().any(|r| r.record.val_roc_auc.is_some()) {
            auc_names.push(format!("validation ROC-AUC{tag}"));
            auc_series.push(
                rows.iter()
                    .filter_map(|r| r.record.val_roc_auc.map(|v| (r.epoch() as f64, v)))
                    .collect(),
            );
        }
    }
    let mut written = Plots::default();
    let rel = format!("plots/{prefix}-loss");
    let pairs: Vec<(&str, &[(f64, f64)])> = names
        .iter()
        .map(String::as_str)
        .zip(series.iter().map(Vec::as_slice))
        .collect();
    let f = plot::line_curves(
        run.prepare(&rel)?,
        &format!("Loss per epoch — {title}"),
        "epoch",
        "binary cross-entropy",
        &pairs,
    )?;
    let stem = recorded(&mut written.files, &rel, f);
    written.stems.push(stem);
    if !auc_series.is_empty() {
        let rel = format!("plots/{prefix}-val-auc");
        let pairs: Vec<(&str, &[(f64, f64)])> = auc_names
            .iter()
            .map(String::as_str)
            .zip(auc_series.iter().map(Vec::as_slice))
            .collect();
        let f = plot::line_curves(
            run.prepare(&rel)?,
            &format!("Validation ROC-AUC per epoch — {title}"),
            "epoch",
            "ROC-AUC",
            &pairs,
        )?;
        let stem = recorded(&mut written.files, &rel, f);
        written.stems.push(stem);
    }
    Ok(written)
}

/// Reference figures quoted in the case-study report: measured by the project with other
/// frameworks on the same split (not run by glassbox).
pub const REFERENCE_FIGURES: &[(&str, &str, &str, &str, &str)] = &[
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
pub struct CaseStudyModel<'a> {
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
pub struct CaseStudy<'a> {
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
pub fn case_study_markdown(cs: &CaseStudy<'_>) -> String {
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
