//! A fairness report ([`glassbox_train::metrics::fairness`], by CSV column through
//! [`glassbox_audit::fairness`]) as text and Markdown: one table row per group, then the gaps
//! over all groups and over the groups large enough to judge.

use glassbox_audit::sig;
use glassbox_train::metrics::fairness::{FairnessReport, Gaps};

use super::Report;
use super::table::{markdown_table, text_table};

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| sig(x, digits))
}

/// The report as Markdown (`md`) or text.
fn fairness_text(report: &FairnessReport, md: bool) -> String {
    let header = [
        "group",
        "n",
        "positives",
        "positive rate",
        "predicted positive rate",
        "TPR",
        "FPR",
        "precision",
        "ROC-AUC",
        "mean predicted",
        "ECE",
        "flag",
    ];
    let rows: Vec<Vec<String>> = report
        .groups
        .iter()
        .map(|g| {
            vec![
                g.group.clone(),
                g.count.to_string(),
                g.positives.to_string(),
                sig(g.positive_rate, 4),
                sig(g.predicted_positive_rate, 4),
                opt(g.tpr, 4),
                opt(g.fpr, 4),
                opt(g.precision, 4),
                opt(g.roc_auc, 4),
                sig(g.mean_predicted, 4),
                sig(g.ece, 3),
                if g.flagged {
                    format!("too small: {}", g.flag_reasons.join(", "))
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let gap_line = |label: &str, g: &Gaps| {
        format!(
            "{label} ({} groups): demographic-parity difference {}, equalised-odds \
             difference {} (TPR gap {}, FPR gap {})",
            g.groups,
            opt(g.demographic_parity_difference, 4),
            opt(g.equalized_odds_difference, 4),
            opt(g.tpr_gap, 4),
            opt(g.fpr_gap, 4)
        )
    };
    let head = format!(
        "Fairness by {} on {} ({} rows), threshold {}: a group is flagged when it has fewer \
         than {} rows, {} positives or {} negatives; undefined rates (—) are left out of \
         the gaps.",
        report.column,
        report.source,
        report.rows,
        report.config.threshold,
        report.config.min_rows,
        report.config.min_positives,
        report.config.min_negatives
    );
    let gaps = [
        gap_line("all groups", &report.all_groups),
        gap_line("groups large enough to judge", &report.judged_groups),
    ];
    if md {
        format!(
            "# Fairness by {}\n\n{head}\n\n{}\n- {}\n- {}\n",
            report.column,
            markdown_table(&header, &rows),
            gaps[0],
            gaps[1]
        )
    } else {
        format!(
            "{head}\n\n{}\n{}\n{}\n",
            text_table(&header, &rows),
            gaps[0],
            gaps[1]
        )
    }
}

impl Report for FairnessReport {
    fn to_text(&self) -> String {
        fairness_text(self, false)
    }

    fn to_markdown(&self) -> String {
        fairness_text(self, true)
    }
}
