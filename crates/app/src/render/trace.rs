//! The trace of one training step ([`glassbox_audit::trace`]) as text and Markdown: one
//! block or table per section, the update section as one row per parameter.

use std::fmt::Write as _;

use glassbox_audit::sig13;
use glassbox_audit::trace::{Origin, Quantity, Section, Trace, optimizer_name};

use super::Report;
use super::table::{markdown_table, text_table};

impl Report for Trace {
    /// Plain text: one block per quantity, matrices one row per line.
    fn to_text(&self) -> String {
        let mut out = format!(
            "{}
{}
",
            self.title,
            summary(self)
        );
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n== {} ==", section.title);
            if let Some(table) = parameter_table(section) {
                for q in &table.scalars {
                    let _ = writeln!(
                        out,
                        "{} = {}   [{}; {}]",
                        q.symbol,
                        bracketed(q),
                        q.formula,
                        q.equation
                    );
                }
                for q in &table.columns {
                    let _ = writeln!(out, "{} = {}   ({})", q.symbol, q.formula, q.equation);
                }
                out.push_str(&text_table(&table.header, &table.rows));
                continue;
            }
            for q in &section.quantities {
                let derived = if q.origin == Origin::Derived {
                    "; derived"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "{} = {}   ({}; {}{derived})",
                    q.symbol,
                    q.formula,
                    q.equation,
                    shape_text(q)
                );
                match q.shape.as_slice() {
                    [_, c] if *c > 0 => {
                        for row in q.values.chunks(*c) {
                            let cells: Vec<String> = row.iter().map(|&v| sig13(v)).collect();
                            let _ = writeln!(out, "    [{}]", cells.join(", "));
                        }
                    }
                    _ => {
                        let _ = writeln!(out, "    {}", bracketed(q));
                    }
                }
            }
        }
        out
    }

    /// Markdown for a handout: one table per section.
    fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n{}.\n\n", self.title, summary(self));
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n## {}\n", section.title);
            let listed: Vec<&Quantity> = match parameter_table(section) {
                Some(ref t) => t.scalars.iter().chain(&t.columns).copied().collect(),
                None => section.quantities.iter().collect(),
            };
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|q| {
                    let value = match (&section.row_labels, q.shape.is_empty()) {
                        (Some(_), false) => "per parameter, below".into(),
                        _ => bracketed(q),
                    };
                    vec![
                        q.symbol.clone(),
                        q.formula.clone(),
                        q.equation.clone(),
                        shape_text(q),
                        value,
                    ]
                })
                .collect();
            out.push_str(&markdown_table(
                &["quantity", "formula", "equation", "shape", "value"],
                &rows,
            ));
            if let Some(table) = parameter_table(section) {
                out.push('\n');
                out.push_str(&markdown_table(&table.header, &table.rows));
            }
        }
        out
    }
}

/// Network, batch, loss, optimizer and step in one line.
fn summary(trace: &Trace) -> String {
    let mut net = format!("{} inputs", trace.inputs);
    for l in &trace.layers {
        let _ = write!(net, " → {} {}", l.units, l.activation);
    }
    format!(
        "network {net}; batch N = {}; loss {}; optimizer {}; step t = {}",
        trace.rows,
        trace.loss.kind,
        optimizer_name(&trace.optimizer),
        trace.step
    )
}

/// The values of `q` in the notes' bracket notation, 13 significant digits:
/// `[[0.3775, 0.3925], [0.355, 0.365]]`, `[0.35, 0.35]` or `0.3035152678491`.
fn bracketed(q: &Quantity) -> String {
    let list = |v: &[f64]| {
        let items: Vec<String> = v.iter().map(|&x| sig13(x)).collect();
        format!("[{}]", items.join(", "))
    };
    match q.shape.as_slice() {
        [] => q.values.first().map_or_else(String::new, |&v| sig13(v)),
        [_] => list(&q.values),
        [_, c] => {
            let rows: Vec<String> = q.values.chunks((*c).max(1)).map(list).collect();
            format!("[{}]", rows.join(", "))
        }
        _ => list(&q.values),
    }
}

/// `scalar`, or the shape as `(2, 3)`.
fn shape_text(q: &Quantity) -> String {
    match q.shape.as_slice() {
        [] => "scalar".into(),
        s => {
            let dims: Vec<String> = s.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// The update section as a table: one row per parameter, one column per (P,) quantity.
struct ParameterTable<'a> {
    scalars: Vec<&'a Quantity>,
    columns: Vec<&'a Quantity>,
    header: Vec<&'a str>,
    rows: Vec<Vec<String>>,
}

/// The update section's (P,) quantities as a table, if it labels its parameters.
fn parameter_table(section: &Section) -> Option<ParameterTable<'_>> {
    let labels = section.row_labels.as_ref()?;
    let (scalars, columns): (Vec<&Quantity>, Vec<&Quantity>) =
        section.quantities.iter().partition(|q| q.shape.is_empty());
    // The last column names each parameter in the code's terms (`layers.0.weight[0,1]`),
    // as notes/teaching.md §1 promises: symbols count layers from 1, tensors from 0.
    let tensors = section.tensor_labels.as_ref();
    let header = std::iter::once("parameter")
        .chain(columns.iter().map(|q| q.symbol.as_str()))
        .chain(tensors.map(|_| "tensor"))
        .collect();
    let rows = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            std::iter::once(label.clone())
                .chain(columns.iter().map(|q| sig13(q.values[i])))
                .chain(tensors.and_then(|t| t.get(i)).cloned())
                .collect()
        })
        .collect();
    Some(ParameterTable {
        scalars,
        columns,
        header,
        rows,
    })
}
