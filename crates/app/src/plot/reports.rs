//! The figures of the audit reports, drawn from their structs with the primitives of
//! [`super`]: integrated gradients per row and permutation importance (`explain`), the rates
//! per group (`evaluate --by`).

use std::path::Path;

use glassbox_audit::explain::{ColumnAttribution, ExplainReport, PermutationImportance};
use glassbox_audit::sig;
use glassbox_train::metrics::fairness::FairnessReport;

use super::{PlotFiles, bar_chart, grouped_bars};
use crate::output::OutputError;

/// One horizontal bar chart per explained row of the integrated gradients per column, at
/// `<dir>/explain_row<r>.{svg,png}`.
///
/// # Errors
/// [`OutputError`] if a file cannot be written.
pub fn explain_rows(report: &ExplainReport, dir: &Path) -> Result<Vec<PlotFiles>, OutputError> {
    let mut files = Vec::new();
    for r in &report.rows {
        let mut cols: Vec<&ColumnAttribution> = r.columns.iter().collect();
        cols.sort_by(|a, b| {
            b.integrated_gradients
                .abs()
                .total_cmp(&a.integrated_gradients.abs())
        });
        let labels: Vec<String> = cols
            .iter()
            .map(|c| format!("{} = {}", c.column, c.value))
            .collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let values: Vec<f64> = cols.iter().map(|c| c.integrated_gradients).collect();
        files.push(bar_chart(
            dir.join(format!("explain_row{}", r.row)),
            &format!(
                "Row {}: integrated gradients, p = {}",
                r.row,
                sig(r.probability, 3)
            ),
            &format!("attribution to the {}", report.output.name()),
            &labels,
            &values,
            None,
        )?);
    }
    Ok(files)
}

/// A horizontal bar chart of the mean drops with their 95 % intervals as whiskers, at
/// `<stem>.{svg,png}`.
///
/// # Errors
/// [`OutputError`] if a file cannot be written.
pub fn importance(imp: &PermutationImportance, stem: &Path) -> Result<PlotFiles, OutputError> {
    let labels: Vec<&str> = imp.columns.iter().map(|c| c.column.as_str()).collect();
    let values: Vec<f64> = imp.columns.iter().map(|c| c.mean_drop).collect();
    let errors: Vec<f64> = imp
        .columns
        .iter()
        .map(|c| c.ci95.map_or(f64::NAN, |(lo, hi)| 0.5 * (hi - lo)))
        .collect();
    bar_chart(
        stem,
        "Permutation importance",
        "drop in ROC-AUC (mean, 95 % interval)",
        &labels,
        &values,
        Some(&errors),
    )
}

/// Grouped bars of selection rate, TPR, FPR and precision per group at
/// `<stem>.{svg,png}`; flagged groups are labelled "(small)", undefined rates not drawn.
///
/// # Errors
/// [`OutputError`] if a file cannot be written.
pub fn fairness(report: &FairnessReport, stem: &Path) -> Result<PlotFiles, OutputError> {
    let labels: Vec<String> = report
        .groups
        .iter()
        .map(|g| {
            if g.flagged {
                format!("{} (small)", g.group)
            } else {
                g.group.clone()
            }
        })
        .collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let values: Vec<[f64; 4]> = report
        .groups
        .iter()
        .map(|g| {
            [
                g.predicted_positive_rate,
                g.tpr.unwrap_or(f64::NAN),
                g.fpr.unwrap_or(f64::NAN),
                g.precision.unwrap_or(f64::NAN),
            ]
        })
        .collect();
    grouped_bars(
        stem,
        &format!("Metrics by {}", report.column),
        "rate",
        &labels,
        &["predicted positive rate", "TPR", "FPR", "precision"],
        &values,
    )
}
