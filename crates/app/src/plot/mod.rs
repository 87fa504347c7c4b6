//! Report plots, each written as both SVG and PNG.
//!
//! Every public function takes an output *stem* (`run/plots/roc`, no extension) and writes
//! `<stem>.svg` and `<stem>.png` through [`crate::output`], so each file appears complete or not
//! at all. One drawing routine, generic over plotters' `DrawingBackend`, serves both formats:
//! SVG is drawn into a `String` (`SVGBackend::with_string`) and written atomically; PNG is drawn
//! by `BitMapBackend`, whose only PNG encoder (plotters' `bitmap_encoder` feature, i.e. the
//! `image` crate) writes to a path — so it writes to a temporary path beside the target that is
//! then renamed ([`crate::output::write_atomic_via_path`]).
//!
//! Text needs a font on both backends (the SVG backend measures text to lay out axes and
//! legends); plotters' `ab_glyph` feature loads no system fonts, so DejaVu Sans is bundled
//! (`crates/app/assets/`, licence beside it) and registered as `sans-serif` on first use.
//!
//! The primitives take plain slices; [`reports`] draws the audit reports' figures from their
//! structs with them. Degenerate inputs
//! never panic: an empty series draws empty axes with "no data"; non-finite values are skipped,
//! counted, and the count is printed in a footnote on the figure and returned in
//! [`PlotFiles::notes`]; a single point or all-equal values get a padded axis range. Inputs of
//! inconsistent lengths (a caller bug) are an error naming the file, not a panic.
//!
//! The design record is `notes/design.md`, "Outputs and plots".

mod bars;
mod confusion;
mod curves;
pub mod reports;

use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::output::{OutputError, write_atomic, write_atomic_via_path};

pub use bars::{bar_chart, grouped_bars};
pub use confusion::confusion_matrix;
pub use curves::{CalibrationBin, calibration, line_curves, pr_curve, roc_curve, scatter};

/// Width × height in pixels of every plot, except bar charts that grow to fit their labels.
pub const DEFAULT_SIZE: (u32, u32) = (800, 600);

/// What one plot call wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotFiles {
    /// `<stem>.svg`
    pub svg: PathBuf,
    /// `<stem>.png`
    pub png: PathBuf,
    /// Width × height in pixels (the SVG's `width`/`height` and the PNG's dimensions).
    pub size: (u32, u32),
    /// What was left out of the drawing (non-finite values skipped, …), one sentence each;
    /// the same lines are printed at the bottom of the figure.
    pub notes: Vec<String>,
}

impl PlotFiles {
    /// Both files, SVG first — e.g. to add them to a [`crate::output::RunDir`] listing.
    pub fn paths(&self) -> [&Path; 2] {
        [&self.svg, &self.png]
    }
}

/// The font family every text element uses; the bundled DejaVu Sans is registered under it.
const FONT: &str = "sans-serif";

/// DejaVu Sans 2.37 (Bitstream Vera licence, `assets/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the bundled font with plotters once per process.
fn ensure_font() -> Result<(), &'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the bundled font DejaVuSans.ttf could not be parsed")
    }
}

/// Colour-blind-safe palette (Okabe & Ito, 2008), yellow left out for contrast on white.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];

/// Series colour `i`, cycling through [`PALETTE`].
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Grey for reference lines (chance diagonal, base rate) and notes.
const GREY: RGBColor = RGBColor(110, 110, 110);

const TITLE_PT: u32 = 24;
const DESC_PT: u32 = 17;
const LABEL_PT: u32 = 14;
const NOTE_PT: u32 = 13;

/// A figure that can draw itself on any plotters backend.
trait Figure {
    /// Pixel size; most figures use [`DEFAULT_SIZE`].
    fn size(&self) -> (u32, u32) {
        DEFAULT_SIZE
    }
    /// Draws on `area`, already filled white, with room for the footnotes kept below it.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB>;
}

/// `<stem>.<ext>`, appending rather than replacing (a stem `roc.v2` gives `roc.v2.svg`).
fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = OsString::from(stem.as_os_str());
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// The error for an input a plot cannot draw (inconsistent lengths), naming the SVG file.
fn bad_input(stem: &Path, message: String) -> OutputError {
    OutputError::new("cannot draw plot", with_ext(stem, "svg"), message)
}

/// Draws `fig` into `<stem>.svg` and `<stem>.png`, atomically each.
fn render(stem: &Path, fig: &impl Figure, notes: Vec<String>) -> Result<PlotFiles, OutputError> {
    let svg = with_ext(stem, "svg");
    let png = with_ext(stem, "png");
    ensure_font().map_err(|m| OutputError::new("cannot draw plot", &svg, m))?;
    let size = fig.size();

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        paint(&root, fig, &notes)
            .map_err(|e| OutputError::new("cannot draw plot", &svg, e.to_string()))?;
    }
    write_atomic(&svg, text.as_bytes())?;

    write_atomic_via_path(&png, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        paint(&root, fig, &notes).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    })?;

    Ok(PlotFiles {
        svg,
        png,
        size,
        notes,
    })
}

/// White background, the figure, then the notes as grey footnotes under it.
fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &impl Figure,
    notes: &[String],
) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    let (_, h) = root.dim_in_pixel();
    let line = NOTE_PT + 5;
    let footer = if notes.is_empty() {
        0
    } else {
        line * notes.len() as u32 + 6
    };
    let (body, foot) = root.split_vertically(h.saturating_sub(footer));
    fig.draw(&body)?;
    let style = TextStyle::from((FONT, NOTE_PT).into_font()).color(&GREY);
    for (i, note) in notes.iter().enumerate() {
        foot.draw_text(
            &format!("note: {note}"),
            &style,
            (10, (line * i as u32) as i32),
        )?;
    }
    root.present()
}

/// Smallest and largest of the finite values, if any.
fn finite_bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// An axis range around `[lo, hi]` with 5 % margins; an empty span (one point, all-equal
/// values) is widened by 10 % of the value (±1 around zero) so the axis still has ticks.
///
/// Bounds are first clamped to ±1e307 so the span and its padding stay finite (plotters loops
/// forever on an axis whose span overflows to infinity).
fn padded(lo: f64, hi: f64) -> Range<f64> {
    const LIMIT: f64 = 1e307;
    let (lo, hi) = (lo.clamp(-LIMIT, LIMIT), hi.clamp(-LIMIT, LIMIT));
    let span = hi - lo;
    let scale = lo.abs().max(hi.abs());
    if span <= 1e-12 * scale || span == 0.0 {
        let pad = if scale == 0.0 { 1.0 } else { 0.1 * scale };
        return (lo - pad)..(hi + pad);
    }
    (lo - 0.05 * span)..(hi + 0.05 * span)
}

/// `v` pulled to within ten spans of the axis `r`. plotters maps a coordinate to pixels with
/// an `i32` addition that overflows (a panic in debug builds) for values millions of spans
/// outside the axis; on axes not derived from the data (probabilities) this keeps wild input
/// drawable — it runs off the plot instead.
fn keep_near(r: &Range<f64>, v: f64) -> f64 {
    let span = r.end - r.start;
    v.clamp(r.start - 10.0 * span, r.end + 10.0 * span)
}

/// A polyline broken into the runs of consecutive finite points.
type Runs = Vec<Vec<(f64, f64)>>;

/// Splits a polyline at non-finite points: the finite runs, and how many points were dropped.
fn finite_runs(points: impl IntoIterator<Item = (f64, f64)>) -> (Runs, usize) {
    let mut runs = vec![Vec::new()];
    let mut skipped = 0;
    for (x, y) in points {
        if x.is_finite() && y.is_finite() {
            if let Some(run) = runs.last_mut() {
                run.push((x, y));
            }
        } else {
            skipped += 1;
            if runs.last().is_some_and(|r| !r.is_empty()) {
                runs.push(Vec::new());
            }
        }
    }
    runs.retain(|r| !r.is_empty());
    (runs, skipped)
}

/// Centre-anchored text style.
fn centred(pt: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, pt).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
}

/// "no data" in grey in the middle of a drawing area.
fn draw_no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let (w, h) = area.dim_in_pixel();
    area.draw_text(
        "no data",
        &centred(22).color(&GREY),
        ((w / 2) as i32, (h / 2) as i32),
    )
}

/// Tick labels for an axis over `range`: integers without `.0`, others with the fewest
/// decimals (at most 6) that show them, scientific notation outside `[1e-4, 1e6)`, and
/// values within a billionth of the span of zero shown as `0` (no `-0` or `5.55e-17`).
fn tick_format(range: &Range<f64>) -> impl Fn(&f64) -> String + use<> {
    let zero = 1e-9 * (range.end - range.start).abs();
    move |v: &f64| {
        let v = *v;
        if v.abs() <= zero {
            return "0".to_string();
        }
        if !(1e-4..1e6).contains(&v.abs()) {
            let s = format!("{v:.2e}");
            return match s.split_once('e') {
                Some((m, e)) => {
                    let m = if m.contains('.') {
                        m.trim_end_matches('0').trim_end_matches('.')
                    } else {
                        m
                    };
                    format!("{m}e{e}")
                }
                None => s,
            };
        }
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The house style of a mesh: fonts, a light major grid, no minor grid. Numeric axes also
/// get [`tick_format`] labels, set by the callers.
fn house_mesh<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.axis_desc_style((FONT, DESC_PT))
        .label_style((FONT, LABEL_PT))
        .bold_line_style(BLACK.mix(0.12))
        .max_light_lines(0)
}

/// Draws the legend of `chart`'s labelled series in the house style at `position`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult<(), DB> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(10)
        .label_font((FONT, LABEL_PT))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
}

/// The corner where a legend hides the least of `lines`: for each corner, count the samples
/// of the lines (vertices plus 10 interpolated points per segment) falling in a box of 45 % of
/// the width and 25 % of the height there; the first corner with the fewest wins, in the order
/// upper right, lower right, upper left, lower left.
fn quiet_corner(lines: &[&[(f64, f64)]], xr: &Range<f64>, yr: &Range<f64>) -> SeriesLabelPosition {
    let unit = |v: f64, r: &Range<f64>| (v - r.start) / (r.end - r.start);
    let mut samples = Vec::new();
    for line in lines {
        for (i, &(x, y)) in line.iter().enumerate() {
            samples.push((unit(x, xr), unit(y, yr)));
            if let Some(&(x1, y1)) = line.get(i + 1) {
                for k in 1..10 {
                    let t = k as f64 / 10.0;
                    samples.push((unit(x + t * (x1 - x), xr), unit(y + t * (y1 - y), yr)));
                }
            }
        }
    }
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let hits = |right: bool, top: bool| {
        let inside = |&&(fx, fy): &&(f64, f64)| {
            let in_x = if right { fx > 0.55 } else { fx < 0.45 };
            let in_y = if top { fy > 0.75 } else { fy < 0.25 };
            in_x && in_y
        };
        samples.iter().filter(inside).count()
    };
    let mut best = (usize::MAX, SeriesLabelPosition::UpperRight);
    for (pos, right, top) in corners {
        let n = hits(right, top);
        if n < best.0 {
            best = (n, pos);
        }
    }
    best.1
}

/// `area` below a title, with the same top margin as chart captions.
fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> DrawResult<DrawingArea<DB, Shift>, DB> {
    area.margin(14, 0, 0, 0).titled(title, (FONT, TITLE_PT))
}

/// Formats a number for a legend: 3 decimals, or `n/a` when not finite.
fn fmt3(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "n/a".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_widens_empty_spans_and_adds_margins() {
        assert_eq!(padded(0.0, 0.0), -1.0..1.0);
        assert_eq!(padded(2.0, 2.0), 1.8..2.2);
        assert_eq!(padded(-5.0, -5.0), -5.5..-4.5);
        assert_eq!(padded(0.0, 10.0), -0.5..10.5);
        let wide = padded(-f64::MAX, f64::MAX);
        assert!((wide.end - wide.start).is_finite());
    }

    #[test]
    fn keep_near_clamps_only_far_values() {
        let r = 0.0..1.0;
        assert_eq!(keep_near(&r, 0.3), 0.3);
        assert_eq!(keep_near(&r, -4.0), -4.0);
        assert_eq!(keep_near(&r, 1e12), 11.0);
        assert_eq!(keep_near(&r, -f64::MAX), -10.0);
    }

    #[test]
    fn finite_runs_split_at_nan_and_count_it() {
        let pts = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 3.0),
            (3.0, 4.0),
            (f64::INFINITY, 0.0),
        ];
        let (runs, skipped) = finite_runs(pts);
        assert_eq!(runs, vec![vec![(0.0, 1.0)], vec![(2.0, 3.0), (3.0, 4.0)]]);
        assert_eq!(skipped, 2);
        let (runs, skipped) = finite_runs([(f64::NAN, 0.0)]);
        assert!(runs.is_empty());
        assert_eq!(skipped, 1);
    }

    #[test]
    fn finite_bounds_ignores_non_finite() {
        assert_eq!(
            finite_bounds([f64::NAN, 2.0, -1.0, f64::INFINITY]),
            Some((-1.0, 2.0))
        );
        assert_eq!(finite_bounds([f64::NAN]), None);
    }

    #[test]
    fn legend_goes_where_the_lines_are_not() {
        let unit = 0.0..1.0;
        let pos = |lines: &[&[(f64, f64)]]| format!("{:?}", quiet_corner(lines, &unit, &unit));
        // Nothing drawn: the first choice.
        assert_eq!(pos(&[]), "UpperRight");
        // A falling PR-like curve leaves the upper right free even with a no-skill line.
        let pr: Vec<(f64, f64)> = (0..=20)
            .map(|i| {
                let r = i as f64 / 20.0;
                (r, 1.0 - 0.8 * r * r)
            })
            .collect();
        let base = [(0.0, 0.15), (1.0, 0.15)];
        assert_eq!(pos(&[&pr, &base]), "UpperRight");
        // A line along the top pushes the legend down.
        assert_eq!(pos(&[&[(0.0, 0.95), (1.0, 0.95)]]), "LowerRight");
        // A ROC curve hugging the top left, with the diagonal: lower right is free.
        let roc = [(0.0, 0.0), (0.05, 0.7), (0.2, 0.9), (1.0, 1.0)];
        let diag = [(0.0, 0.0), (1.0, 1.0)];
        assert_eq!(pos(&[&roc, &diag]), "LowerRight");
        // A sparse segment crossing a corner counts, not only its end points.
        assert_eq!(pos(&[&[(0.4, 1.0), (1.0, 0.6)]]), "LowerRight");
    }

    #[test]
    fn tick_labels_are_short() {
        let f = tick_format(&(0.0..60.0));
        assert_eq!(f(&10.0), "10");
        assert_eq!(f(&-0.0), "0");
        assert_eq!(f(&0.30000000000000004), "0.3");
        assert_eq!(f(&5.551115123125783e-17), "0");
        assert_eq!(f(&2_500_000.0), "2.5e6");
        let g = tick_format(&(0.0..0.001));
        assert_eq!(g(&0.00002), "2e-5");
        assert_eq!(g(&0.0005), "0.0005");
    }

    #[test]
    fn stems_get_appended_extensions() {
        assert_eq!(
            with_ext(Path::new("a/roc.v2"), "svg"),
            PathBuf::from("a/roc.v2.svg")
        );
    }
}
