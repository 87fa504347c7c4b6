//! Explanations ([`glassbox_audit::explain`]) as text and Markdown: per row the columns by
//! decreasing |integrated gradients|; permutation importance as one ranked table.

use std::fmt::Write as _;

use glassbox_audit::explain::{ColumnAttribution, ExplainReport, PermutationImportance};
use glassbox_audit::sig;

use super::Report;
use super::table::{markdown_table, text_table};

/// The per-column attributions of every row, as Markdown (`md`) or text.
fn explain_text(report: &ExplainReport, md: bool) -> String {
    let mut out = String::new();
    let head = format!(
        "Attributions of the {} for {} row(s) of {}: gradient × input and integrated \
         gradients ({} steps, {:?} rule, baseline: {}). Completeness Σ IG = f(x) − f(x′) \
         holds within {}·|f(x) − f(x′)| + {} on every row: {} (largest |gap| {}).",
        report.output.name(),
        report.rows.len(),
        report.file,
        report.ig.steps,
        report.ig.rule,
        report.baseline,
        sig(report.ig.rel_tolerance, 3),
        sig(report.ig.abs_tolerance, 3),
        if report.rows.iter().all(|r| r.complete) {
            "yes"
        } else {
            "NO"
        },
        sig(report.max_abs_gap, 3)
    );
    if md {
        let _ = writeln!(out, "# Explanations\n\n{head}");
    } else {
        let _ = writeln!(out, "{head}");
    }
    for r in &report.rows {
        let title = format!(
            "row {} (line {}): p = {}, f(x) = {}, f(x′) = {}, Σ IG = {}, gap = {}",
            r.row,
            r.line,
            sig(r.probability, 4),
            sig(r.f_x, 6),
            sig(r.f_baseline, 6),
            sig(r.ig_sum, 6),
            sig(r.gap, 3)
        );
        let mut cols: Vec<&ColumnAttribution> = r.columns.iter().collect();
        cols.sort_by(|a, b| {
            b.integrated_gradients
                .abs()
                .total_cmp(&a.integrated_gradients.abs())
        });
        let rows: Vec<Vec<String>> = cols
            .iter()
            .map(|c| {
                vec![
                    c.column.clone(),
                    c.value.clone(),
                    sig(c.integrated_gradients, 4),
                    sig(c.gradient_x_input, 4),
                ]
            })
            .collect();
        let header = [
            "column",
            "value",
            "integrated gradients",
            "gradient × input",
        ];
        if md {
            let _ = writeln!(out, "\n## {title}\n\n{}", markdown_table(&header, &rows));
        } else {
            let _ = writeln!(out, "\n{title}\n{}", text_table(&header, &rows));
        }
    }
    out
}

impl Report for ExplainReport {
    fn to_text(&self) -> String {
        explain_text(self, false)
    }

    fn to_markdown(&self) -> String {
        explain_text(self, true)
    }
}

/// The head line, the table's header and rows.
fn importance_layout(imp: &PermutationImportance) -> (String, [&'static str; 6], Vec<Vec<String>>) {
    let head = format!(
        "Permutation importance on {} ({} rows): drop in ROC-AUC (baseline {}) when one \
         column's features are permuted together; {} repeats, seed {}; 95 % interval for \
         the mean drop (t distribution over the repeats).",
        imp.source,
        imp.rows,
        sig(imp.baseline_score, 6),
        imp.config.repeats,
        imp.config.seed
    );
    let header = [
        "rank",
        "column",
        "features",
        "mean drop",
        "std",
        "95 % interval",
    ];
    let rows: Vec<Vec<String>> = imp
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                (i + 1).to_string(),
                c.column.clone(),
                c.features.to_string(),
                sig(c.mean_drop, 4),
                c.std.map_or("—".into(), |s| sig(s, 3)),
                c.ci95.map_or("—".into(), |(lo, hi)| {
                    format!("[{}, {}]", sig(lo, 4), sig(hi, 4))
                }),
            ]
        })
        .collect();
    (head, header, rows)
}

impl Report for PermutationImportance {
    fn to_text(&self) -> String {
        let (head, header, rows) = importance_layout(self);
        format!("{head}\n\n{}", text_table(&header, &rows))
    }

    fn to_markdown(&self) -> String {
        let (head, header, rows) = importance_layout(self);
        format!(
            "# Permutation importance\n\n{head}\n\n{}",
            markdown_table(&header, &rows)
        )
    }
}
