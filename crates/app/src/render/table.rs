//! The one table renderer: every table a report prints — audit reports, metrics, data
//! summaries, recipes — is laid out here, as aligned text or as a Markdown table.

/// The alignment of a Markdown column, as its separator cell writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// `---`: the renderer's default (left).
    Default,
    /// `---:`: right-aligned, for numbers.
    Right,
}

impl Align {
    fn separator(self) -> &'static str {
        match self {
            Align::Default => "---",
            Align::Right => "---:",
        }
    }
}

/// A Markdown table with every column in the default alignment (see
/// [`markdown_table_aligned`]).
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    markdown_table_aligned(header, &[], rows)
}

/// A Markdown table: the header row, the separator row (`align[j]` for column j,
/// [`Align::Default`] where `align` is shorter), then one line per row. Every cell is
/// written `| cell |` with `|` inside it escaped; a blank header cell — the corner above a
/// column of row labels — is written `| |`.
pub fn markdown_table_aligned(header: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("|");
    for h in header {
        if h.is_empty() {
            out.push_str(" |");
        } else {
            out.push_str(&format!(" {} |", esc(h)));
        }
    }
    out.push_str("\n|");
    for j in 0..header.len() {
        out.push_str(align.get(j).copied().unwrap_or(Align::Default).separator());
        out.push('|');
    }
    out.push('\n');
    for row in rows {
        out.push('|');
        for cell in row {
            out.push_str(&format!(" {} |", esc(cell)));
        }
        out.push('\n');
    }
    out
}

/// A plain-text table with columns padded to their widest cell (first column left-aligned,
/// the others right-aligned, two spaces between columns, no trailing spaces).
pub fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (j, cell) in row.iter().enumerate().take(n) {
            width[j] = width[j].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (j, cell) in cells.iter().enumerate() {
            let pad = width[j].saturating_sub(cell.chars().count());
            if j == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_escape() {
        let rows = vec![vec!["a|b".to_string(), "1".to_string()]];
        assert_eq!(
            markdown_table(&["x", "y"], &rows),
            "| x | y |\n|---|---|\n| a\\|b | 1 |\n"
        );
        let rows = vec![
            vec!["long name".to_string(), "1".to_string()],
            vec!["n".to_string(), "100".to_string()],
        ];
        assert_eq!(
            text_table(&["k", "v"], &rows),
            "k            v\nlong name    1\nn          100\n"
        );
    }

    #[test]
    fn a_blank_corner_and_right_aligned_columns() {
        let rows = vec![vec!["rows".to_string(), "12".to_string(), String::new()]];
        assert_eq!(
            markdown_table_aligned(
                &["", "train", "test"],
                &[Align::Default, Align::Right],
                &rows
            ),
            "| | train | test |\n|---|---:|---|\n| rows | 12 |  |\n"
        );
    }
}
