//! What runs write for people: the metrics table (screen and Markdown), the evaluation plots,
//! the training history (`history.csv` and loss curves), and the case study's `report.md`.
//!
//! Every file goes through [`RunDir`] (atomic writes, listed at the end of a run).

use std::fmt::Write as _;

use serde::Serialize;

use crate::bundle::{Bundle, BundleInfo};
use crate::describe::recipe_rows;
use crate::exit::{CliError, ResultExt};
use crate::output::RunDir;
use crate::pipeline::EpochRecord;
use crate::pipeline::{Evaluation, InputNotes};
use crate::plot::{self, PlotFiles};
use crate::recipe::ThresholdRule;
use glassbox_data::DataSummary;
use glassbox_train::metrics::standard_error::auc_standard_error;

/// `0.9234`, or `n/a`.
fn f4(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
}

/// The rows of a metrics table: label, then one cell per evaluated model.
fn metric_rows(columns: &[(&str, &Evaluation)]) -> Vec<(String, Vec<String>)> {
    let cell = |f: &dyn Fn(&Evaluation) -> String| columns.iter().map(|(_, e)| f(e)).collect();
    vec![
        ("rows".into(), cell(&|e| e.at_threshold.n.to_string())),
        (
            "positives".into(),
            cell(&|e| e.at_threshold.positives.to_string()),
        ),
        ("ROC-AUC".into(), cell(&|e| f4(e.at_threshold.roc_auc))),
        (
            "PR-AUC (average precision)".into(),
            cell(&|e| f4(e.at_threshold.average_precision)),
        ),
        (
            "log-loss".into(),
            cell(&|e| f4(Some(e.at_threshold.log_loss))),
        ),
        (
            "Brier score".into(),
            cell(&|e| f4(Some(e.at_threshold.brier))),
        ),
        ("F1 at 0.5".into(), cell(&|e| f4(Some(e.at_half.f1)))),
        (
            "accuracy at 0.5".into(),
            cell(&|e| f4(Some(e.at_half.accuracy))),
        ),
        (
            "model threshold t".into(),
            cell(&|e| f4(Some(e.at_threshold.threshold))),
        ),
        ("F1 at t".into(), cell(&|e| f4(Some(e.at_threshold.f1)))),
        (
            "precision at t".into(),
            cell(&|e| f4(Some(e.at_threshold.precision))),
        ),
        (
            "recall at t".into(),
            cell(&|e| f4(Some(e.at_threshold.recall))),
        ),
        (
            "accuracy at t".into(),
            cell(&|e| f4(Some(e.at_threshold.accuracy))),
        ),
        (
            "TP / FP / TN / FN at t".into(),
            cell(&|e| {
                let c = &e.at_threshold.confusion;
                format!("{} / {} / {} / {}", c.tp, c.fp, c.tn, c.fn_)
            }),
        ),
    ]
}

/// A plain-text table: one row per metric, one column per model.
pub fn metrics_table(columns: &[(&str, &Evaluation)]) -> String {
    let rows = metric_rows(columns);
    let label_w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let col_w: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(j, (name, _))| {
            rows.iter()
                .map(|r| r.1[j].chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{:label_w$}", "");
    for ((name, _), w) in columns.iter().zip(&col_w) {
        let _ = write!(out, "  {name:>w$}");
    }
    out.push('\n');
    for (label, cells) in &rows {
        let _ = write!(out, "{label:label_w$}");
        for (c, w) in cells.iter().zip(&col_w) {
            let _ = write!(out, "  {c:>w$}");
        }
        out.push('\n');
    }
    out
}

/// The same table in Markdown.
pub fn metrics_markdown(columns: &[(&str, &Evaluation)]) -> String {
    let rows = metric_rows(columns);
    let mut out = String::from("| metric |");
    for (name, _) in columns {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for (label, cells) in rows {
        let _ = write!(out, "| {label} |");
        for c in cells {
            let _ = write!(out, " {c} |");
        }
        out.push('\n');
    }
    out
}

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

/// Adds plot files to the run's listing.
pub fn record_all(run: &mut RunDir, files: &[std::path::PathBuf]) {
    for f in files {
        run.record(f.clone());
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
) -> Result<EvalPlots, CliError> {
    let mut out = EvalPlots::default();
    let r = &eval.at_threshold;
    if let (Some(roc), Some(auc)) = (&eval.roc, r.roc_auc) {
        let rel = format!("plots/{prefix}-roc");
        let f = plot::roc_curve(
            run.prepare(&rel).usage_err()?,
            &format!("ROC — {title}"),
            &roc.fpr,
            &roc.tpr,
            auc,
        )
        .usage_err()?;
        out.roc = Some(recorded(&mut out.files, &rel, f));
    }
    if let (Some(pr), Some(ap)) = (&eval.pr, r.average_precision) {
        let rel = format!("plots/{prefix}-pr");
        let base = r.positives as f64 / r.n.max(1) as f64;
        let f = plot::pr_curve(
            run.prepare(&rel).usage_err()?,
            &format!("Precision–recall — {title}"),
            &pr.recall,
            &pr.precision,
            ap,
            base,
        )
        .usage_err()?;
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
    let f = plot::calibration(
        run.prepare(&rel).usage_err()?,
        &format!("Calibration — {title}"),
        &bins,
    )
    .usage_err()?;
    out.calibration = Some(recorded(&mut out.files, &rel, f));
    let c = &r.confusion;
    let rel = format!("plots/{prefix}-confusion");
    let f = plot::confusion_matrix(
        run.prepare(&rel).usage_err()?,
        &format!("Confusion at t = {:.3} — {title}", r.threshold),
        c.tp as u64,
        c.fp as u64,
        c.tn as u64,
        c.fn_ as u64,
    )
    .usage_err()?;
    out.confusion = Some(recorded(&mut out.files, &rel, f));
    Ok(out)
}

/// Writes `history.csv` (one row per member and epoch).
pub fn write_history(run: &mut RunDir, records: &[EpochRecord]) -> Result<(), CliError> {
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
    )
    .usage_err()?;
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
) -> Result<Plots, CliError> {
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
        run.prepare(&rel).usage_err()?,
        &format!("Loss per epoch — {title}"),
        "epoch",
        "binary cross-entropy",
        &pairs,
    )
    .usage_err()?;
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
            run.prepare(&rel).usage_err()?,
            &format!("Validation ROC-AUC per epoch — {title}"),
            "epoch",
            "ROC-AUC",
            &pairs,
        )
        .usage_err()?;
        let stem = recorded(&mut written.files, &rel, f);
        written.stems.push(stem);
    }
    Ok(written)
}

/// `inspect`'s human-readable description of a bundle.
pub fn describe_bundle(path: &str, b: &Bundle) -> String {
    let info: &BundleInfo = &b.info;
    let pre = &b.preprocessor;
    let mut s = String::new();
    let _ = writeln!(s, "model bundle {path}");
    let _ = writeln!(s, "  written by {}", info.created_by);
    let _ = writeln!(
        s,
        "  target \"{}\": positive = \"{}\", negative = \"{}\"",
        info.target.column,
        info.target.positive_written(),
        info.target.negative_written()
    );
    let t = &info.threshold;
    let how = match t.rule {
        ThresholdRule::Fixed(_) => "fixed".to_string(),
        ThresholdRule::MaxF1 => format!(
            "the best F1 on the validation rows: {}",
            f4(t.criterion_on_validation)
        ),
        ThresholdRule::YoudenJ => format!(
            "the best Youden's J on the validation rows: {}",
            f4(t.criterion_on_validation)
        ),
    };
    let _ = writeln!(s, "  decision: positive when p ≥ {:.6} ({how})", t.value);
    let _ = writeln!(
        s,
        "\nnetwork ({} member(s), probabilities averaged)",
        b.members.len()
    );
    if let Some(m) = b.members.first() {
        let spec = m.spec();
        let mut fan_in = spec.inputs;
        let _ = writeln!(s, "  input: {} features", spec.inputs);
        for (l, layer) in spec.layers.iter().enumerate() {
            let params = layer.units * (fan_in + 1);
            let _ = writeln!(
                s,
                "  layer {l}: Dense {fan_in} → {}, {}{}  ({params} parameters: weight [{}, {fan_in}], bias [{}])",
                layer.units,
                layer.activation,
                if layer.dropout > 0.0 {
                    format!(", dropout {} in training", layer.dropout)
                } else {
                    String::new()
                },
                layer.units,
                layer.units
            );
            fan_in = layer.units;
        }
        let _ = writeln!(
            s,
            "  output: p = σ(z), z = the last layer's pre-activation (the logit)\n  parameters: {} per member, {} in all",
            spec.num_params(),
            spec.num_params() * b.members.len()
        );
    }
    let _ = writeln!(s, "\nrecipe: {}", info.recipe.label());
    for (k, v) in recipe_rows(&info.recipe) {
        let _ = writeln!(s, "  {k:26} {v}");
    }
    let _ = writeln!(s, "\nmembers");
    for (k, m) in info.members.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {k}: seed {}, {} epoch(s) run, kept epoch {}, train loss {:.4}, validation loss {}",
            m.seed,
            m.epochs_run,
            m.best_epoch,
            m.train_loss,
            f4(m.val_loss)
        );
    }
    let d = &info.data;
    let cb = &d.class_balance;
    let _ = writeln!(
        s,
        "\ntraining data {}: {} rows ({} trained on, {} validation), {} features; {} positive ({:.2} %), {} negative; {} rows repeat an earlier row exactly",
        d.file,
        d.rows,
        d.train_rows,
        d.val_rows,
        d.features,
        cb.positive_count,
        100.0 * cb.positive_rate,
        cb.negative_count,
        d.duplicates.repeats
    );
    let _ = writeln!(s, "\nschema (columns in file order)");
    for c in &pre.schema().columns {
        let mut extra = Vec::new();
        if c.name == info.target.column {
            extra.push("target".to_string());
        }
        if c.drop {
            extra.push("dropped".into());
        }
        if c.log1p {
            extra.push("log1p".into());
        }
        if !c.missing.is_empty() {
            let m: Vec<String> = c.missing.iter().map(|m| m.to_string()).collect();
            extra.push(format!("missing = [{}]", m.join(", ")));
        }
        let _ = writeln!(
            s,
            "  {:28} {:11} {:9}{}",
            c.name,
            c.kind.to_string(),
            format!("{:?}", c.source).to_lowercase(),
            if extra.is_empty() {
                String::new()
            } else {
                format!(" {}", extra.join(", "))
            }
        );
    }
    let _ = writeln!(s, "\nfeatures: {} in all", pre.n_features());
    for g in pre.feature_groups() {
        let _ = writeln!(
            s,
            "  {:>3}..{:<3} {} ({}{})",
            g.start,
            g.end,
            g.column,
            g.kind,
            if g.end - g.start > 1 {
                format!(", {} one-hot columns incl. <unknown>", g.end - g.start)
            } else {
                String::new()
            }
        );
    }
    if let Some(v) = &info.validation {
        let _ = writeln!(
            s,
            "\nvalidation metrics ({} rows, threshold {:.4}): ROC-AUC {}, PR-AUC {}, F1 {:.4}, precision {:.4}, recall {:.4}, accuracy {:.4}, log-loss {:.4}",
            v.n,
            v.threshold,
            f4(v.roc_auc),
            f4(v.average_precision),
            v.f1,
            v.precision,
            v.recall,
            v.accuracy,
            v.log_loss
        );
    }
    let _ = writeln!(s, "\nconventions");
    for (k, v) in &info.conventions {
        let _ = writeln!(s, "  {k}: {v}");
    }
    s
}

/// The data section of a report: rows, duplicates, missing values, class balance.
pub fn data_markdown(summaries: &[(&str, &DataSummary)]) -> String {
    let mut s = String::new();
    s.push_str("| | ");
    s.push_str(
        &summaries
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    s.push_str(" |\n|---|");
    s.push_str(&"---:|".repeat(summaries.len()));
    s.push('\n');
    let row = |s: &mut String, label: &str, f: &dyn Fn(&DataSummary) -> String| {
        let _ = write!(s, "| {label} |");
        for (_, d) in summaries {
            let _ = write!(s, " {} |", f(d));
        }
        s.push('\n');
    };
    row(&mut s, "file", &|d| format!("`{}`", d.file));
    row(&mut s, "rows", &|d| d.rows.to_string());
    row(&mut s, "positive rows (class balance)", &|d| {
        d.class_balance.as_ref().map_or("n/a".into(), |c| {
            format!(
                "{} of {} ({:.2} %)",
                c.positive_count,
                c.positive_count + c.negative_count,
                100.0 * c.positive_rate
            )
        })
    });
    row(&mut s, "rows repeating an earlier row", &|d| {
        d.duplicates.repeats.to_string()
    });
    row(&mut s, "distinct repeated rows / rows involved", &|d| {
        format!("{} / {}", d.duplicates.groups, d.duplicates.rows_in_groups)
    });
    row(
        &mut s,
        "missing cells (of which declared sentinels)",
        &|d| {
            let total: usize = d.columns.iter().map(|c| c.missing.total).sum();
            let sentinel: usize = d.columns.iter().map(|c| c.missing.sentinel).sum();
            format!("{total} ({sentinel})")
        },
    );
    row(&mut s, "cells with a category unseen in training", &|d| {
        let n: usize = d.unknown_categories.values().sum();
        let cols: Vec<String> = d
            .unknown_categories
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        if cols.is_empty() {
            n.to_string()
        } else {
            format!("{n} ({})", cols.join(", "))
        }
    });
    s.push_str("\nMissing cells per column (all / declared sentinel):\n\n| column | kind |");
    for (n, _) in summaries {
        let _ = write!(s, " {n} |");
    }
    s.push_str("\n|---|---|");
    s.push_str(&"---:|".repeat(summaries.len()));
    s.push('\n');
    if let Some((_, first)) = summaries.first() {
        for (j, c) in first.columns.iter().enumerate() {
            let _ = write!(
                s,
                "| {}{} | {}{} |",
                c.name,
                if c.target { " (target)" } else { "" },
                c.kind,
                if c.log1p { ", log1p" } else { "" }
            );
            for (_, d) in summaries {
                let cell = d
                    .columns
                    .get(j)
                    .filter(|x| x.name == c.name)
                    .map_or("–".to_string(), |x| {
                        format!("{} / {}", x.missing.total, x.missing.sentinel)
                    });
                let _ = write!(s, " {cell} |");
            }
            s.push('\n');
        }
    }
    s
}

/// The notes about an input file worth showing (unseen categories, ignored columns).
pub fn input_note_lines(notes: &InputNotes) -> Vec<String> {
    let mut out = notes.unknown_lines();
    if !notes.ignored_columns.is_empty() {
        out.push(format!(
            "columns not used by the model (ignored): {}",
            notes.ignored_columns.join(", ")
        ));
    }
    out
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
    let _ = writeln!(
        w,
        "| system | ROC-AUC | PR-AUC | F1 at 0.5 | accuracy at 0.5 |\n|---|---:|---:|---:|---:|"
    );
    for (sys, auc, ap, f1, acc) in REFERENCE_FIGURES {
        let _ = writeln!(w, "| {sys} | {auc} | {ap} | {f1} | {acc} |");
    }
    for m in &cs.models {
        let r = &m.test.at_threshold;
        let h = &m.test.at_half;
        let _ = writeln!(
            w,
            "| glassbox, {} (this run, seed {}) | {} | {} | {:.4} | {:.4} |",
            m.name,
            m.bundle.info.recipe.seed,
            f4(r.roc_auc),
            f4(r.average_precision),
            h.f1,
            h.accuracy
        );
    }

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
    let _ = write!(w, "| | ");
    let _ = writeln!(
        w,
        "{} |",
        cs.models
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(w, "|---|{}", "---|".repeat(cs.models.len()));
    let rows: Vec<Vec<(&str, String)>> = cs
        .models
        .iter()
        .map(|m| recipe_rows(&m.bundle.info.recipe))
        .collect();
    if let Some(first) = rows.first() {
        for (i, (k, _)) in first.iter().enumerate() {
            let _ = write!(w, "| {k} |");
            for r in &rows {
                let _ = write!(w, " {} |", r[i].1);
            }
            w.push('\n');
        }
    }
    let _ = write!(w, "| members: epochs run / kept epoch |");
    for m in &cs.models {
        let v: Vec<String> = m
            .bundle
            .info
            .members
            .iter()
            .map(|x| format!("{}/{}", x.epochs_run, x.best_epoch))
            .collect();
        let _ = write!(w, " {} |", v.join(", "));
    }
    let _ = write!(w, "\n| decision threshold |");
    for m in &cs.models {
        let t = &m.bundle.info.threshold;
        let _ = write!(
            w,
            " {:.4}{} |",
            t.value,
            match (t.rule, t.criterion_on_validation) {
                (ThresholdRule::MaxF1, Some(c)) => format!(" (F1 {c:.4} on validation)"),
                (ThresholdRule::YoudenJ, Some(c)) => format!(" (Youden's J {c:.4} on validation)"),
                _ => String::new(),
            }
        );
    }
    let _ = write!(w, "\n| model file |");
    for m in &cs.models {
        let _ = write!(w, " [`{0}`]({0}) |", m.bundle_path);
    }
    w.push_str("\n\nWhy the default recipe is what it is: `notes/recipe.md` (the search, on validation rows only).\n");

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
