//! The metrics of evaluated models side by side: one row per metric, one column per model,
//! as aligned text (terminal) or Markdown (reports).

use crate::pipeline::Evaluation;

use super::table::{Align, markdown_table_aligned, text_table};

/// `0.9234`, or `n/a` for an undefined metric.
pub fn f4(v: Option<f64>) -> String {
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

/// The header (a first column of labels, headed `first`, then the models) and the rows.
fn layout(first: &'static str, columns: &[(&str, &Evaluation)]) -> (Vec<String>, Vec<Vec<String>>) {
    let header = std::iter::once(first.to_string())
        .chain(columns.iter().map(|(name, _)| name.to_string()))
        .collect();
    let rows = metric_rows(columns)
        .into_iter()
        .map(|(label, cells)| std::iter::once(label).chain(cells).collect())
        .collect();
    (header, rows)
}

/// A plain-text table: one row per metric, one column per model.
pub fn metrics_table(columns: &[(&str, &Evaluation)]) -> String {
    let (header, rows) = layout("", columns);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    text_table(&header, &rows)
}

/// The same table in Markdown, the models' columns right-aligned.
pub fn metrics_markdown(columns: &[(&str, &Evaluation)]) -> String {
    let (header, rows) = layout("metric", columns);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut align = vec![Align::Right; header.len()];
    align[0] = Align::Default;
    markdown_table_aligned(&header, &align, &rows)
}
