//! What runs write for people: the evaluation plots and the training history (`history.csv`
//! and loss curves). Tables are laid out by [`crate::render`]; each case study writes its own
//! report (`crate::cases`).
//!
//! Every file goes through [`RunDir`] (atomic writes, listed at the end of a run).

use serde::Serialize;

use crate::output::{OutputError, RunDir};
use crate::pipeline::{EpochRecord, Evaluation};
use crate::plot::{self, PlotFiles};

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
