//! Bar charts on a categorical axis: attributions/importances (horizontal, with interval
//! whiskers) and per-group metrics (vertical, grouped).

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    DEFAULT_SIZE, FONT, Figure, GREY, LABEL_PT, PlotFiles, TITLE_PT, bad_input, colour,
    draw_legend, draw_no_data, finite_bounds, house_mesh, padded, render, tick_format,
};
use crate::output::OutputError;

/// An f64 axis over `[-0.5, n - 0.5]` whose ticks are exactly the integers `0..n`, one per
/// category; bars are drawn at fractional positions around them. (plotters' `with_key_points`
/// would do, but it does not forward the f64 value formatter that `configure_mesh` needs.)
struct CategoryAxis {
    n: usize,
    inner: RangedCoordf64,
}

impl Ranged for CategoryAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new() // no minor grid between categories
        } else {
            (0..self.n).map(|i| i as f64).collect()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Labels longer than this are shortened with an ellipsis.
const MAX_LABEL_CHARS: usize = 40;

/// Half the thickness of a bar, in category units.
const HALF_BAR: f64 = 0.36;

/// Height in pixels given to each bar of a horizontal bar chart once there are many.
const ROW_PX: u32 = 26;

fn shorten(label: &str) -> String {
    if label.chars().count() > MAX_LABEL_CHARS {
        let head: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
        format!("{head}…")
    } else {
        label.to_string()
    }
}

/// An axis holding `n` categories, ticks on each.
fn category_axis(n: usize) -> CategoryAxis {
    let upper = n.max(1) as f64 - 0.5;
    CategoryAxis {
        n,
        inner: (-0.5..upper).into(),
    }
}

/// The label of category tick `v` among `labels`, or "" between ticks.
fn category_label(labels: &[String], v: f64) -> String {
    let k = v.round();
    if (v - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < labels.len() {
        labels[k as usize].clone()
    } else {
        String::new()
    }
}

/// Value range covering zero and every finite `v`, padded.
fn value_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = finite_bounds(values.into_iter().chain([0.0])).unwrap_or((0.0, 0.0));
    padded(lo, hi)
}

/// Horizontal bars, first label at the top.
struct HBars<'a> {
    title: &'a str,
    value_label: &'a str,
    /// Top to bottom.
    labels: Vec<String>,
    values: &'a [f64],
    errors: Option<&'a [f64]>,
    size: (u32, u32),
}

impl HBars<'_> {
    /// Axis position of row `i` (row 0 is drawn at the top).
    fn y(&self, i: usize) -> f64 {
        (self.labels.len() - 1 - i) as f64
    }

    /// The usable half-width of row `i`'s interval.
    fn error(&self, i: usize) -> Option<f64> {
        let e = self.errors?.get(i).copied()?;
        (e.is_finite() && e >= 0.0 && self.values[i].is_finite()).then_some(e)
    }
}

impl Figure for HBars<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let n = self.labels.len();
        let label_font = TextStyle::from((FONT, LABEL_PT).into_font());
        let mut widest = 0;
        for l in &self.labels {
            widest = widest.max(area.estimate_text_size(l, &label_font)?.0);
        }
        let (w, _) = area.dim_in_pixel();
        let label_area = (widest + 24).clamp(60, w * 45 / 100);

        let ends = (0..n).flat_map(|i| {
            let v = self.values[i];
            let e = self.error(i).unwrap_or(0.0);
            [v - e, v + e]
        });
        let xr = value_range(ends);
        let rows_label: Vec<String> = (0..n).rev().map(|i| self.labels[i].clone()).collect();
        let y_fmt = |v: &f64| category_label(&rows_label, *v);
        let x_fmt = tick_format(&xr);
        let x_desc = if self.errors.is_some() {
            format!("{}   (whiskers: value ± error)", self.value_label)
        } else {
            self.value_label.to_string()
        };

        let mut chart = ChartBuilder::on(area)
            .caption(self.title, (FONT, TITLE_PT))
            .margin(18)
            .x_label_area_size(52)
            .y_label_area_size(label_area)
            .build_cartesian_2d(xr.clone(), category_axis(n))?;
        house_mesh(&mut chart.configure_mesh())
            .disable_y_mesh()
            .x_desc(x_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()?;
        if n == 0 {
            return draw_no_data(&chart.plotting_area().strip_coord_spec());
        }

        let bar = |i: usize| {
            let (v, y) = (self.values[i], self.y(i));
            let fill = if v < 0.0 { colour(1) } else { colour(0) };
            Rectangle::new(
                [(v.min(0.0), y - HALF_BAR), (v.max(0.0), y + HALF_BAR)],
                fill.mix(0.85).filled(),
            )
        };
        let finite = || (0..n).filter(|&i| self.values[i].is_finite());
        chart.draw_series(finite().map(bar))?;
        if xr.start < 0.0 && xr.end > 0.0 {
            let top = n as f64 - 0.5;
            chart.draw_series(LineSeries::new(
                [(0.0, -0.5), (0.0, top)],
                BLACK.stroke_width(1),
            ))?;
        }
        let na_style = TextStyle::from((FONT, LABEL_PT).into_font())
            .color(&GREY)
            .pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(
            (0..n)
                .filter(|&i| !self.values[i].is_finite())
                .map(|i| Text::new(" n/a", (0.0, self.y(i)), na_style.clone())),
        )?;

        if self.errors.is_some() {
            let style = BLACK.stroke_width(2);
            let whisker = |i: usize| {
                let (v, y, e) = (self.values[i], self.y(i), self.error(i).unwrap_or(0.0));
                let cap = 0.18;
                [
                    PathElement::new(vec![(v - e, y), (v + e, y)], style),
                    PathElement::new(vec![(v - e, y - cap), (v - e, y + cap)], style),
                    PathElement::new(vec![(v + e, y - cap), (v + e, y + cap)], style),
                ]
            };
            chart.draw_series(
                (0..n)
                    .filter(|&i| self.error(i).is_some())
                    .flat_map(whisker),
            )?;
        }
        Ok(())
    }
}

/// Horizontal bar chart — one bar per label, first label at the top — for feature
/// attributions or importances, writing `<stem>.svg` and `<stem>.png`.
///
/// Negative values extend left of a zero line in a second colour. `errors`, if given, are
/// half-widths drawn as whiskers `value ± error` (e.g. a confidence interval); a
/// non-finite or negative error draws no whisker. A non-finite value draws no bar and shows
/// `n/a` (noted). The figure is 800 px wide and grows taller than 600 px beyond 18 bars, so
/// every label stays readable; labels over 40 characters are shortened. Lengths of `values`
/// or `errors` different from `labels` are an error.
pub fn bar_chart(
    stem: impl AsRef<Path>,
    title: &str,
    value_label: &str,
    labels: &[&str],
    values: &[f64],
    errors: Option<&[f64]>,
) -> Result<PlotFiles, OutputError> {
    let stem = stem.as_ref();
    let n = labels.len();
    if values.len() != n {
        let msg = format!("{n} labels but {} values", values.len());
        return Err(bad_input(stem, msg));
    }
    if let Some(e) = errors.filter(|e| e.len() != n) {
        let msg = format!("{n} labels but {} errors", e.len());
        return Err(bad_input(stem, msg));
    }
    let mut notes = Vec::new();
    let missing = values.iter().filter(|v| !v.is_finite()).count();
    if missing > 0 {
        notes.push(format!("{missing} non-finite value(s) shown as n/a"));
    }
    let bad_errors = errors.map_or(0, |e| {
        let bad = |(v, e): (&f64, &f64)| v.is_finite() && !(e.is_finite() && *e >= 0.0);
        values.iter().zip(e).filter(|&p| bad(p)).count()
    });
    if bad_errors > 0 {
        notes.push(format!(
            "{bad_errors} error(s) non-finite or negative: no whisker drawn"
        ));
    }
    let (w, h) = DEFAULT_SIZE;
    let fig = HBars {
        title,
        value_label,
        labels: labels.iter().map(|l| shorten(l)).collect(),
        values,
        errors,
        size: (w, h.max(130 + ROW_PX * n as u32)),
    };
    render(stem, &fig, notes)
}

/// Vertical bars, one cluster per group, one colour per metric.
struct GroupedBars<'a> {
    title: &'a str,
    y_label: &'a str,
    groups: Vec<String>,
    metrics: &'a [&'a str],
    /// `values[g][m]`
    values: Vec<&'a [f64]>,
    size: (u32, u32),
}

impl Figure for GroupedBars<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
        let (g_count, m_count) = (self.groups.len(), self.metrics.len());
        let all = self.values.iter().flat_map(|row| row.iter().copied());
        let mut yr = value_range(all);
        if m_count > 0 {
            // Headroom for the legend in the upper right.
            yr.end += 0.06 * (m_count.min(8) as f64 + 1.0) * (yr.end - yr.start);
        }
        let x_fmt = |v: &f64| category_label(&self.groups, *v);
        let y_fmt = tick_format(&yr);
        let mut chart = ChartBuilder::on(area)
            .caption(self.title, (FONT, TITLE_PT))
            .margin(18)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(category_axis(g_count), yr.clone())?;
        house_mesh(&mut chart.configure_mesh())
            .disable_x_mesh()
            .y_desc(self.y_label)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()?;
        if g_count == 0 || m_count == 0 {
            return draw_no_data(&chart.plotting_area().strip_coord_spec());
        }

        let width = 0.8 / m_count as f64;
        for (m, metric) in self.metrics.iter().enumerate() {
            let fill = colour(m).filled();
            let bars = (0..g_count).filter_map(|g| {
                let v = self.values[g][m];
                let x0 = g as f64 - 0.4 + m as f64 * width;
                v.is_finite().then(|| {
                    Rectangle::new(
                        [
                            (x0 + 0.05 * width, v.min(0.0)),
                            (x0 + 0.95 * width, v.max(0.0)),
                        ],
                        fill,
                    )
                })
            });
            chart
                .draw_series(bars)?
                .label(*metric)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], fill));
        }
        if yr.start < 0.0 && yr.end > 0.0 {
            let right = g_count as f64 - 0.5;
            chart.draw_series(LineSeries::new(
                [(-0.5, 0.0), (right, 0.0)],
                BLACK.stroke_width(1),
            ))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

/// Grouped vertical bars: for each group (e.g. visitor type) one bar per metric (e.g.
/// recall, false-positive rate, selection rate), for fairness comparisons, writing
/// `<stem>.svg` and `<stem>.png`.
///
/// `values[g][m]` is metric `m` for group `g`. Non-finite values draw no bar (noted); colours
/// repeat after 7 metrics. The figure widens beyond 800 px when the groups need it. A `values`
/// shape different from `groups.len() × metrics.len()` is an error.
pub fn grouped_bars<V: AsRef<[f64]>>(
    stem: impl AsRef<Path>,
    title: &str,
    y_label: &str,
    groups: &[&str],
    metrics: &[&str],
    values: &[V],
) -> Result<PlotFiles, OutputError> {
    let stem = stem.as_ref();
    if values.len() != groups.len() {
        let msg = format!(
            "{} groups but {} rows of values",
            groups.len(),
            values.len()
        );
        return Err(bad_input(stem, msg));
    }
    let rows: Vec<&[f64]> = values.iter().map(AsRef::as_ref).collect();
    if let Some((g, row)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != metrics.len())
    {
        let msg = format!(
            "{} metrics but group {g} (\"{}\") has {} values",
            metrics.len(),
            groups[g],
            row.len()
        );
        return Err(bad_input(stem, msg));
    }
    let mut notes = Vec::new();
    let missing = rows
        .iter()
        .flat_map(|r| r.iter())
        .filter(|v| !v.is_finite())
        .count();
    if missing > 0 {
        notes.push(format!("{missing} non-finite value(s) not drawn"));
    }
    let groups: Vec<String> = groups.iter().map(|g| shorten(g)).collect();
    let widest = groups.iter().map(|g| g.chars().count()).max().unwrap_or(0) as u32;
    let per_group = (24 * metrics.len() as u32 + 30).max(9 * widest + 20);
    let (w, h) = DEFAULT_SIZE;
    let fig = GroupedBars {
        title,
        y_label,
        groups,
        metrics,
        values: rows,
        size: (w.max(140 + per_group * values.len() as u32), h),
    };
    render(stem, &fig, notes)
}
