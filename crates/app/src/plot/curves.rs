//! Plots on numeric axes: training curves, ROC, precision–recall, calibration, scatter.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::{
    FONT, Figure, GREY, PlotFiles, Runs, bad_input, colour, draw_legend, draw_no_data,
    finite_bounds, finite_runs, fmt3, house_mesh, keep_near, padded, quiet_corner, render,
    tick_format, titled,
};
use crate::output::OutputError;

/// A chart with numeric axes on `area`.
type XyChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Probability axes: `[0, 1]` with a little room so lines on the border stay visible.
const UNIT: Range<f64> = -0.02..1.02;

/// Series with more points than this are drawn as plain lines, fewer also get markers.
const MARKER_LIMIT: usize = 40;

/// Builds a chart with the house style: caption (if any), axis descriptions, light grid.
fn xy_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    xr: Range<f64>,
    yr: Range<f64>,
) -> DrawResult<XyChart<'a, DB>, DB> {
    let mut builder = ChartBuilder::on(area);
    if !title.is_empty() {
        builder.caption(title, (FONT, super::TITLE_PT));
    }
    let (x_fmt, y_fmt) = (tick_format(&xr), tick_format(&yr));
    let mut chart = builder
        .margin(18)
        .x_label_area_size(if x_label.is_empty() { 30 } else { 52 })
        .y_label_area_size(80)
        .build_cartesian_2d(xr, yr)?;
    house_mesh(&mut chart.configure_mesh())
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;
    Ok(chart)
}

/// Draws a polyline made of finite runs; `name` adds a legend entry (once, even if the
/// series has several runs or none).
fn draw_runs<DB: DrawingBackend>(
    chart: &mut XyChart<'_, DB>,
    runs: &[Vec<(f64, f64)>],
    style: ShapeStyle,
    name: Option<&str>,
) -> DrawResult<(), DB> {
    if let Some(name) = name {
        chart
            .draw_series(LineSeries::new(Vec::<(f64, f64)>::new(), style))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    let n: usize = runs.iter().map(Vec::len).sum();
    for run in runs {
        let points = if n <= MARKER_LIMIT || run.len() == 1 {
            4
        } else {
            0
        };
        chart.draw_series(LineSeries::new(run.iter().copied(), style).point_size(points))?;
    }
    Ok(())
}

/// A grey dashed reference line with a legend entry.
fn draw_reference<DB: DrawingBackend>(
    chart: &mut XyChart<'_, DB>,
    from: (f64, f64),
    to: (f64, f64),
    name: &str,
) -> DrawResult<(), DB> {
    let style = GREY.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(vec![from, to], 8, 6, style))?
        .label(name)
        .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, style));
    Ok(())
}

/// The note for `skipped` non-finite points of `what`, if any.
fn skipped_note(notes: &mut Vec<String>, skipped: usize, what: &str) {
    if skipped > 0 {
        let s = if skipped == 1 { "" } else { "s" };
        notes.push(format!("{skipped} non-finite point{s} skipped in {what}"));
    }
}

/// Named polylines on shared axes.
struct Lines<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: Vec<(&'a str, Runs)>,
}

impl Figure for Lines<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let points = || {
            self.series
                .iter()
                .flat_map(|(_, runs)| runs.iter().flatten())
        };
        let ranges = finite_bounds(points().map(|p| p.0)).zip(finite_bounds(points().map(|p| p.1)));
        let (xr, yr) = match ranges {
            Some(((x0, x1), (y0, y1))) => (padded(x0, x1), padded(y0, y1)),
            None => (0.0..1.0, 0.0..1.0),
        };
        let lines: Vec<&[(f64, f64)]> = self
            .series
            .iter()
            .flat_map(|(_, runs)| runs.iter().map(Vec::as_slice))
            .collect();
        let corner = quiet_corner(&lines, &xr, &yr);
        let mut chart = xy_chart(area, self.title, self.x_label, self.y_label, xr, yr)?;
        if ranges.is_none() {
            draw_no_data(&chart.plotting_area().strip_coord_spec())?;
        }
        for (i, (name, runs)) in self.series.iter().enumerate() {
            let label = (!name.is_empty()).then_some(*name);
            draw_runs(&mut chart, runs, colour(i).stroke_width(2), label)?;
        }
        if self.series.iter().any(|(name, _)| !name.is_empty()) {
            draw_legend(&mut chart, corner)?;
        }
        Ok(())
    }
}

/// Training curves: one line per named series of `(x, y)` points (e.g. epoch → loss for
/// "train" and "validation"), writing `<stem>.svg` and `<stem>.png`.
///
/// Series with at most 40 points in all get point markers. Non-finite points are skipped and
/// break the line there (noted). Series with an empty name get no legend entry.
pub fn line_curves(
    stem: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, &[(f64, f64)])],
) -> Result<PlotFiles, OutputError> {
    let mut notes = Vec::new();
    let series = series
        .iter()
        .map(|&(name, points)| {
            let (runs, skipped) = finite_runs(points.iter().copied());
            skipped_note(&mut notes, skipped, &format!("\"{name}\""));
            (name, runs)
        })
        .collect();
    let fig = Lines {
        title,
        x_label,
        y_label,
        series,
    };
    render(stem.as_ref(), &fig, notes)
}

/// Runs with coordinates pulled near the unit square (see [`keep_near`]).
fn near_unit(runs: Runs) -> Runs {
    let near = |(x, y): (f64, f64)| (keep_near(&UNIT, x), keep_near(&UNIT, y));
    runs.into_iter()
        .map(|run| run.into_iter().map(near).collect())
        .collect()
}

/// The `(x, y)` pairs of two equal-length slices, or an error naming the plot.
fn paired(
    stem: &Path,
    (x_name, x): (&str, &[f64]),
    (y_name, y): (&str, &[f64]),
) -> Result<Vec<(f64, f64)>, OutputError> {
    if x.len() != y.len() {
        return Err(bad_input(
            stem,
            format!(
                "{x_name} has {} points but {y_name} has {}",
                x.len(),
                y.len()
            ),
        ));
    }
    Ok(x.iter().copied().zip(y.iter().copied()).collect())
}

/// A dashed reference line (chance, no skill) and its legend text.
struct Reference {
    from: (f64, f64),
    to: (f64, f64),
    name: String,
}

/// A curve in the unit square with a dashed reference line.
struct UnitCurve<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    runs: Runs,
    curve_name: String,
    reference: Option<Reference>,
}

impl Figure for UnitCurve<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let mut lines: Vec<&[(f64, f64)]> = self.runs.iter().map(Vec::as_slice).collect();
        let reference_line = self.reference.as_ref().map(|r| [r.from, r.to]);
        lines.extend(reference_line.as_ref().map(|l| l.as_slice()));
        let corner = quiet_corner(&lines, &UNIT, &UNIT);
        let mut chart = xy_chart(area, self.title, self.x_label, self.y_label, UNIT, UNIT)?;
        if let Some(r) = &self.reference {
            draw_reference(&mut chart, r.from, r.to, &r.name)?;
        }
        if self.runs.is_empty() {
            draw_no_data(&chart.plotting_area().strip_coord_spec())?;
        }
        draw_runs(
            &mut chart,
            &self.runs,
            colour(0).stroke_width(2),
            Some(&self.curve_name),
        )?;
        draw_legend(&mut chart, corner)
    }
}

/// ROC curve: true-positive rate against false-positive rate, with the chance diagonal and
/// the AUC in the legend, writing `<stem>.svg` and `<stem>.png`.
///
/// `fpr[i]`, `tpr[i]` are one operating point, in the order to join them (increasing
/// threshold index as a ROC routine returns them). Different lengths are an error.
pub fn roc_curve(
    stem: impl AsRef<Path>,
    title: &str,
    fpr: &[f64],
    tpr: &[f64],
    auc: f64,
) -> Result<PlotFiles, OutputError> {
    let stem = stem.as_ref();
    let points = paired(stem, ("fpr", fpr), ("tpr", tpr))?;
    let (runs, skipped) = finite_runs(points);
    let runs = near_unit(runs);
    let mut notes = Vec::new();
    skipped_note(&mut notes, skipped, "the ROC curve");
    let fig = UnitCurve {
        title,
        x_label: "false positive rate",
        y_label: "true positive rate (recall)",
        runs,
        curve_name: format!("model (AUC = {})", fmt3(auc)),
        reference: Some(Reference {
            from: (0.0, 0.0),
            to: (1.0, 1.0),
            name: "chance (AUC = 0.5)".to_string(),
        }),
    };
    render(stem, &fig, notes)
}

/// Precision–recall curve with the no-skill line at the positive rate and the average
/// precision in the legend, writing `<stem>.svg` and `<stem>.png`.
///
/// A non-finite `base_rate` drops the no-skill line (noted). Different lengths of `recall`
/// and `precision` are an error.
pub fn pr_curve(
    stem: impl AsRef<Path>,
    title: &str,
    recall: &[f64],
    precision: &[f64],
    average_precision: f64,
    base_rate: f64,
) -> Result<PlotFiles, OutputError> {
    let stem = stem.as_ref();
    let points = paired(stem, ("recall", recall), ("precision", precision))?;
    let (runs, skipped) = finite_runs(points);
    let runs = near_unit(runs);
    let mut notes = Vec::new();
    skipped_note(&mut notes, skipped, "the precision-recall curve");
    let reference = if base_rate.is_finite() {
        Some(Reference {
            from: (0.0, keep_near(&UNIT, base_rate)),
            to: (1.0, keep_near(&UNIT, base_rate)),
            name: format!("no skill (positive rate = {})", fmt3(base_rate)),
        })
    } else {
        notes.push("base rate is not finite: no-skill line not drawn".to_string());
        None
    };
    let fig = UnitCurve {
        title,
        x_label: "recall",
        y_label: "precision",
        runs,
        curve_name: format!("model (AP = {})", fmt3(average_precision)),
        reference,
    };
    render(stem, &fig, notes)
}

/// One bin of a reliability diagram: predictions with probability in `[lower, upper)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationBin {
    /// Lower edge of the bin.
    pub lower: f64,
    /// Upper edge of the bin.
    pub upper: f64,
    /// Mean predicted probability of the examples in the bin.
    pub mean_predicted: f64,
    /// Fraction of those examples that are positive.
    pub fraction_positive: f64,
    /// Number of examples in the bin.
    pub count: u64,
}

/// Reliability diagram above, bin counts below.
struct Calibration<'a> {
    title: &'a str,
    /// `(mean predicted, fraction positive)` of the non-empty, finite bins.
    points: Vec<(f64, f64)>,
    /// `(lower, upper, count)` of the bins with finite edges.
    bars: Vec<(f64, f64, u64)>,
}

impl Figure for Calibration<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let area = titled(area, self.title)?;
        let (_, h) = area.dim_in_pixel();
        let (upper, lower) = area.split_vertically(h * 68 / 100);

        // [0, 1], widened to odd bin edges but at most to [-1, 2].
        let x0 = finite_bounds(self.bars.iter().map(|b| b.0)).map_or(0.0, |(lo, _)| lo.min(0.0));
        let x1 = finite_bounds(self.bars.iter().map(|b| b.1)).map_or(1.0, |(_, hi)| hi.max(1.0));
        let (x0, x1) = (x0.max(-1.0), x1.min(2.0));
        let xr = (x0 - 0.02)..(x1 + 0.02);
        let points: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|&(x, y)| (keep_near(&xr, x), keep_near(&UNIT, y)))
            .collect();
        let bars: Vec<(f64, f64, u64)> = self
            .bars
            .iter()
            .map(|&(lo, hi, n)| (keep_near(&xr, lo), keep_near(&xr, hi), n))
            .collect();

        let diagonal = [(0.0, 0.0), (1.0, 1.0)];
        let corner = quiet_corner(&[&points, &diagonal], &xr, &UNIT);
        let mut chart = xy_chart(&upper, "", "", "fraction positive", xr.clone(), UNIT)?;
        draw_reference(&mut chart, diagonal[0], diagonal[1], "perfectly calibrated")?;
        if points.is_empty() {
            draw_no_data(&chart.plotting_area().strip_coord_spec())?;
        }
        let style = colour(0).stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style).point_size(4))?
            .label("model")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        draw_legend(&mut chart, corner)?;

        let max_count = bars.iter().map(|b| b.2).max().unwrap_or(0);
        let yr = 0.0..(max_count.max(1) as f64 * 1.1);
        let mut counts = xy_chart(&lower, "", "mean predicted probability", "count", xr, yr)?;
        let fill = colour(0).mix(0.55).filled();
        counts.draw_series(
            bars.iter()
                .map(|&(lo, hi, n)| Rectangle::new([(lo, 0.0), (hi, n as f64)], fill)),
        )?;
        counts.draw_series(bars.iter().map(|&(lo, hi, n)| {
            Rectangle::new([(lo, 0.0), (hi, n as f64)], colour(0).stroke_width(1))
        }))?;
        Ok(())
    }
}

/// Reliability diagram: fraction of positives against mean predicted probability per bin,
/// with the diagonal of perfect calibration, and a bar chart of the bin counts below,
/// writing `<stem>.svg` and `<stem>.png`.
///
/// Empty bins (count 0) have no point. Bins with a non-finite mean or fraction are skipped
/// in the diagram, bins with non-finite edges in the counts (noted).
pub fn calibration(
    stem: impl AsRef<Path>,
    title: &str,
    bins: &[CalibrationBin],
) -> Result<PlotFiles, OutputError> {
    let mut notes = Vec::new();
    let usable =
        |b: &&CalibrationBin| b.mean_predicted.is_finite() && b.fraction_positive.is_finite();
    let points = bins
        .iter()
        .filter(|b| b.count > 0)
        .filter(usable)
        .map(|b| (b.mean_predicted, b.fraction_positive))
        .collect();
    let bad = bins.iter().filter(|b| b.count > 0 && !usable(b)).count();
    skipped_note(&mut notes, bad, "the reliability diagram");
    let bars: Vec<_> = bins
        .iter()
        .filter(|b| b.lower.is_finite() && b.upper.is_finite())
        .map(|b| (b.lower, b.upper, b.count))
        .collect();
    if bars.len() < bins.len() {
        notes.push(format!(
            "{} bin(s) with non-finite edges left out of the counts",
            bins.len() - bars.len()
        ));
    }
    let fig = Calibration {
        title,
        points,
        bars,
    };
    render(stem.as_ref(), &fig, notes)
}

/// Points on numeric axes with the dashed diagonal `y = x` ("perfect") across their range.
struct Scatter<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    points: Vec<(f64, f64)>,
}

impl Figure for Scatter<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        // One range for both axes, so the diagonal is at 45°.
        let both = self.points.iter().flat_map(|&(x, y)| [x, y]);
        let range = match finite_bounds(both) {
            Some((lo, hi)) => padded(lo, hi),
            None => 0.0..1.0,
        };
        let diagonal = [(range.start, range.start), (range.end, range.end)];
        let corner = quiet_corner(&[&self.points, &diagonal], &range, &range);
        let mut chart = xy_chart(
            area,
            self.title,
            self.x_label,
            self.y_label,
            range.clone(),
            range,
        )?;
        draw_reference(&mut chart, diagonal[0], diagonal[1], "y = x (perfect)")?;
        if self.points.is_empty() {
            draw_no_data(&chart.plotting_area().strip_coord_spec())?;
        }
        let style = colour(0).mix(0.45).filled();
        chart
            .draw_series(self.points.iter().map(|&p| Circle::new(p, 3, style)))?
            .label(format!("{} points", self.points.len()))
            .legend(move |(x, y)| Circle::new((x + 12, y), 4, style));
        draw_legend(&mut chart, corner)
    }
}

/// A scatter plot of `(x[i], y[i])` with the diagonal `y = x` (e.g. predicted against actual),
/// both axes over the same range, writing `<stem>.svg` and `<stem>.png`.
///
/// Non-finite points are skipped (noted). Different lengths are an error.
pub fn scatter(
    stem: impl AsRef<Path>,
    title: &str,
    (x_label, x): (&str, &[f64]),
    (y_label, y): (&str, &[f64]),
) -> Result<PlotFiles, OutputError> {
    let stem = stem.as_ref();
    let pairs = paired(stem, (x_label, x), (y_label, y))?;
    let total = pairs.len();
    let points: Vec<(f64, f64)> = pairs
        .into_iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    let mut notes = Vec::new();
    skipped_note(&mut notes, total - points.len(), "the scatter plot");
    let fig = Scatter {
        title,
        x_label,
        y_label,
        points,
    };
    render(stem, &fig, notes)
}
