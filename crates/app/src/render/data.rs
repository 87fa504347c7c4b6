//! What a data set looked like, for a report: rows, class balance, duplicates, missing
//! values and unseen categories per file, and the missing cells per column.

use glassbox_data::DataSummary;

use super::table::{Align, markdown_table_aligned};

/// The data section of a report: one column per file, then the missing cells per column.
pub fn data_markdown(summaries: &[(&str, &DataSummary)]) -> String {
    let names = summaries.iter().map(|(n, _)| *n);
    let header: Vec<&str> = std::iter::once("").chain(names.clone()).collect();
    let mut align = vec![Align::Right; header.len()];
    align[0] = Align::Default;
    type Cell<'a> = &'a dyn Fn(&DataSummary) -> String;
    let rows: [(&str, Cell); 7] = [
        ("file", &|d| format!("`{}`", d.file)),
        ("rows", &|d| d.rows.to_string()),
        ("positive rows (class balance)", &|d| {
            d.class_balance.as_ref().map_or("n/a".into(), |c| {
                format!(
                    "{} of {} ({:.2} %)",
                    c.positive_count,
                    c.positive_count + c.negative_count,
                    100.0 * c.positive_rate
                )
            })
        }),
        ("rows repeating an earlier row", &|d| {
            d.duplicates.repeats.to_string()
        }),
        ("distinct repeated rows / rows involved", &|d| {
            format!("{} / {}", d.duplicates.groups, d.duplicates.rows_in_groups)
        }),
        ("missing cells (of which declared sentinels)", &|d| {
            let total: usize = d.columns.iter().map(|c| c.missing.total).sum();
            let sentinel: usize = d.columns.iter().map(|c| c.missing.sentinel).sum();
            format!("{total} ({sentinel})")
        }),
        ("cells with a category unseen in training", &|d| {
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
        }),
    ];
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(label, f)| {
            std::iter::once(label.to_string())
                .chain(summaries.iter().map(|(_, d)| f(d)))
                .collect()
        })
        .collect();
    let mut s = markdown_table_aligned(&header, &align, &rows);
    s.push_str("\nMissing cells per column (all / declared sentinel):\n\n");
    let header: Vec<&str> = ["column", "kind"].into_iter().chain(names).collect();
    let mut align = vec![Align::Right; header.len()];
    align[..2].fill(Align::Default);
    let rows: Vec<Vec<String>> = summaries.first().map_or_else(Vec::new, |(_, first)| {
        first
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let column = format!("{}{}", c.name, if c.target { " (target)" } else { "" });
                let kind = format!("{}{}", c.kind, if c.log1p { ", log1p" } else { "" });
                let missing = summaries.iter().map(|(_, d)| {
                    d.columns
                        .get(j)
                        .filter(|x| x.name == c.name)
                        .map_or("–".to_string(), |x| {
                            format!("{} / {}", x.missing.total, x.missing.sentinel)
                        })
                });
                [column, kind].into_iter().chain(missing).collect()
            })
            .collect()
    });
    s.push_str(&markdown_table_aligned(&header, &align, &rows));
    s
}
