//! The 2×2 confusion matrix as a labelled heat map.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DESC_PT, Figure, LABEL_PT, PlotFiles, centred, render, titled};
use crate::output::OutputError;

/// `part / whole` as a percentage with one decimal, or `n/a` for an empty whole.
fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "n/a".to_string()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// One cell: its short name, count, and its share of the actual class (its row).
struct Cell {
    name: &'static str,
    count: u64,
    row_total: u64,
    rate_name: &'static str,
}

impl Cell {
    /// Row-normalised rate in [0, 1] (0 for an empty row); drives the shade.
    fn rate(&self) -> f64 {
        if self.row_total == 0 {
            0.0
        } else {
            self.count as f64 / self.row_total as f64
        }
    }
}

struct Confusion<'a> {
    title: &'a str,
    /// Rows: actual negative, actual positive; columns: predicted negative, predicted positive.
    cells: [[Cell; 2]; 2],
    summary: String,
}

/// White → deep blue as `t` goes 0 → 1.
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 69.0), mix(255.0, 148.0))
}

impl Figure for Confusion<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let area = titled(area, self.title)?;
        let (w, h) = area.dim_in_pixel();
        let (w, h) = (w as i32, h as i32);
        // Room for the axis names and class names left and above, the summary below.
        let (left, top, right, bottom) = (150, 70, 40, 50);
        let cell_w = (w - left - right).max(2) / 2;
        let cell_h = (h - top - bottom).max(2) / 2;
        let desc = centred(DESC_PT);
        let label = centred(LABEL_PT + 1);

        area.draw_text("predicted class", &desc, (left + cell_w, top - 50))?;
        let actual = desc.transform(FontTransform::Rotate270);
        area.draw_text("actual class", &actual, (24, top + cell_h))?;
        for (k, name) in ["negative (0)", "positive (1)"].iter().enumerate() {
            let k = k as i32;
            area.draw_text(name, &label, (left + cell_w * k + cell_w / 2, top - 18))?;
            area.draw_text(name, &label, (left - 54, top + cell_h * k + cell_h / 2))?;
        }

        for (r, row) in self.cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let x0 = left + cell_w * c as i32;
                let y0 = top + cell_h * r as i32;
                let t = cell.rate();
                area.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell_w, y0 + cell_h)],
                    shade(t).filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell_w, y0 + cell_h)],
                    BLACK.mix(0.5).stroke_width(1),
                ))?;
                let ink = if t > 0.5 { WHITE } else { BLACK };
                let (cx, cy) = (x0 + cell_w / 2, y0 + cell_h / 2);
                area.draw_text(cell.name, &centred(DESC_PT).color(&ink), (cx, cy - 40))?;
                area.draw_text(&cell.count.to_string(), &centred(34).color(&ink), (cx, cy))?;
                let rate = format!("{} = {}", cell.rate_name, pct(cell.count, cell.row_total));
                area.draw_text(&rate, &centred(LABEL_PT + 1).color(&ink), (cx, cy + 38))?;
            }
        }
        area.draw_text(
            &self.summary,
            &centred(LABEL_PT + 1),
            (left + cell_w, top + 2 * cell_h + bottom / 2 + 4),
        )
    }
}

/// The confusion matrix as a 2×2 heat map, writing `<stem>.svg` and `<stem>.png`.
///
/// Rows are the actual class, columns the predicted class (negative first). Each cell shows
/// its name (TN, FP, FN, TP), its count, and its rate within the actual class — TNR, FPR,
/// FNR, TPR — which also sets its shade, so a good classifier has a dark diagonal whatever
/// the class balance. A summary line gives n, accuracy, precision and recall; a rate with
/// a zero denominator shows `n/a`.
pub fn confusion_matrix(
    stem: impl AsRef<Path>,
    title: &str,
    tp: u64,
    fp: u64,
    tn: u64,
    fn_: u64,
) -> Result<PlotFiles, OutputError> {
    let negatives = tn + fp;
    let positives = fn_ + tp;
    let cell = |name, count, row_total, rate_name| Cell {
        name,
        count,
        row_total,
        rate_name,
    };
    let n = negatives + positives;
    let summary = format!(
        "n = {n}    accuracy {}    precision {}    recall {}",
        pct(tp + tn, n),
        pct(tp, tp + fp),
        pct(tp, positives)
    );
    let fig = Confusion {
        title,
        cells: [
            [
                cell("TN", tn, negatives, "TNR"),
                cell("FP", fp, negatives, "FPR"),
            ],
            [
                cell("FN", fn_, positives, "FNR"),
                cell("TP", tp, positives, "TPR"),
            ],
        ],
        summary,
    };
    render(stem.as_ref(), &fig, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_empty_denominators() {
        assert_eq!(pct(1, 3), "33.3%");
        assert_eq!(pct(0, 0), "n/a");
        assert_eq!(pct(5, 5), "100.0%");
    }

    #[test]
    fn shade_runs_from_near_white_to_deep_blue() {
        assert_eq!(shade(0.0), RGBColor(247, 251, 255));
        assert_eq!(shade(1.0), RGBColor(8, 69, 148));
        assert_eq!(shade(7.0), shade(1.0));
    }
}
