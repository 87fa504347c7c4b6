//! The gradient check of a model ([`glassbox_audit::gradcheck`]) as text and Markdown: a
//! summary with the verdict and the negative control, then one table row per tensor.

use std::fmt::Write as _;

use glassbox_audit::gradcheck::{Coverage, GradcheckAudit};
use glassbox_audit::sig;

use super::Report;
use super::table::{markdown_table, text_table};

/// The summary lines, the verdict (`PASS`, `FAIL`), the table's header and rows.
fn layout(audit: &GradcheckAudit) -> (String, &'static str, [&'static str; 9], Vec<Vec<String>>) {
    let header = [
        "tensor",
        "shape",
        "checked",
        "kinks",
        "max abs err",
        "max rel err",
        "|analytic|",
        "|numeric|",
        "verdict",
    ];
    let rows: Vec<Vec<String>> = audit
        .tensors
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                format!("{:?}", t.shape),
                t.checked.to_string(),
                t.skipped_kinks.to_string(),
                sig(t.max_abs_err, 3),
                sig(t.max_rel_err, 3),
                sig(t.analytic_norm, 4),
                sig(t.numeric_norm, 4),
                t.verdict.clone(),
            ]
        })
        .collect();
    let verdict = if audit.passed { "PASS" } else { "FAIL" };
    let mut summary = format!(
        "gradient check of {} parameters on {} rows of {}, loss {}: {verdict}, max relative \
         error {} (tolerance {})\n{} differences, step {}, floor {}; {}\n",
        audit.params,
        audit.rows,
        audit.source,
        audit.loss.kind,
        sig(audit.max_rel_err, 3),
        sig(audit.tolerance, 3),
        audit.stencil,
        sig(audit.step, 3),
        sig(audit.floor, 3),
        match audit.coverage {
            Coverage::Sample { per_tensor } =>
                format!("{per_tensor} elements per tensor, seed {}", audit.seed),
            _ => "every element".into(),
        }
    );
    if let Some(c) = &audit.negative_control {
        let _ = writeln!(
            summary,
            "negative control (analytic gradient × {}): {} — {} of {} tensors failed",
            c.scale,
            if c.detected {
                "rejected, as it must be"
            } else {
                "NOT rejected: this check cannot see an error of that size"
            },
            c.failed_tensors,
            c.tensors
        );
    }
    (summary, verdict, header, rows)
}

impl Report for GradcheckAudit {
    fn to_text(&self) -> String {
        let (summary, _, header, rows) = layout(self);
        format!("{summary}\n{}", text_table(&header, &rows))
    }

    fn to_markdown(&self) -> String {
        let (summary, verdict, header, rows) = layout(self);
        format!(
            "# Gradient check: {verdict}\n\n{}\n{}",
            summary
                .lines()
                .map(|l| format!("- {l}\n"))
                .collect::<String>(),
            markdown_table(&header, &rows)
        )
    }
}
