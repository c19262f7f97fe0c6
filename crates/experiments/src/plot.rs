//! Plots as plain data, drawn with `plotters` to SVG and PNG.
//!
//! A [`Plot`] is a title, axis labels and scales, and a list of [`Series`]; a series is
//! a labelled curve (line, points or dashed) with an optional shaded band (mean ± std
//! over seeds). [`scatter_with_fit`] builds the log-log scatter with its least-squares
//! line that the convergence-order and width-limit experiments use. [`render`] writes
//! `<stem>.svg` and `<stem>.png` atomically.
//!
//! On a log axis only strictly positive finite values can be drawn: points with a
//! non-positive or non-finite coordinate are left out (and counted in the legend label
//! as "(k points ≤ 0 omitted)"), band edges below the smallest drawn value are clipped.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plres_data::io::write_atomic_with;
use plres_theory::stats::{LinearFit, linear_fit};
use serde::{Deserialize, Serialize};

use crate::error::ExperimentError;

/// The font plot text is drawn with (DejaVu Sans, vendored with its licence in
/// `assets/`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Pixel size of every plot.
pub const PLOT_SIZE: (u32, u32) = (900, 560);

/// Pixel size of one panel of a multi-panel figure.
pub const PANEL_SIZE: (u32, u32) = (640, 440);

/// Height of the title strip above a panel grid.
pub const TITLE_STRIP_PX: u32 = 40;

/// Scale of an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Linear.
    Linear,
    /// Base-10 logarithmic.
    Log,
    /// Logarithmic with ticks at powers of two (widths, depths).
    Log2,
}

impl Scale {
    fn is_log(self) -> bool {
        self != Scale::Linear
    }
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// A solid polyline.
    Line,
    /// Markers only.
    Points,
    /// A polyline with markers.
    LineAndPoints,
    /// A dashed polyline (reference lines, bounds).
    Dashed,
}

/// A shaded band around a series: `lower[i] ≤ y[i] ≤ upper[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Lower edge, one value per x.
    pub lower: Vec<f64>,
    /// Upper edge, one value per x.
    pub upper: Vec<f64>,
}

/// One labelled curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Abscissae.
    pub x: Vec<f64>,
    /// Ordinates, one per abscissa.
    pub y: Vec<f64>,
    /// Optional shaded band.
    pub band: Option<Band>,
    /// Drawing style.
    pub style: Style,
}

impl Series {
    /// A solid line through `(x[i], y[i])`.
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    pub fn line(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self::with_style(label, x, y, Style::Line)
    }

    /// Markers at `(x[i], y[i])`.
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    pub fn points(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self::with_style(label, x, y, Style::Points)
    }

    /// A series with an explicit style.
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    pub fn with_style(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>, style: Style) -> Self {
        let label = label.into();
        assert_eq!(
            x.len(),
            y.len(),
            "series `{label}`: {} abscissae but {} ordinates",
            x.len(),
            y.len()
        );
        Self {
            label,
            x,
            y,
            band: None,
            style,
        }
    }

    /// The mean over runs as a line and mean ± (sample) standard deviation as a band.
    /// `runs[r][i]` is run `r` at `x[i]`. With one run the band has zero width.
    ///
    /// # Panics
    /// If `runs` is empty or a run's length differs from `x`'s.
    pub fn mean_std(label: impl Into<String>, x: Vec<f64>, runs: &[Vec<f64>]) -> Self {
        let label = label.into();
        assert!(!runs.is_empty(), "series `{label}`: no runs to average");
        for (r, run) in runs.iter().enumerate() {
            assert_eq!(
                run.len(),
                x.len(),
                "series `{label}`: run {r} has {} values, x has {}",
                run.len(),
                x.len()
            );
        }
        let (mean, std) = mean_std(x.len(), runs);
        let band = Band {
            lower: mean.iter().zip(&std).map(|(m, s)| m - s).collect(),
            upper: mean.iter().zip(&std).map(|(m, s)| m + s).collect(),
        };
        let mut s = Self::line(label, x, mean);
        s.band = Some(band);
        s
    }
}

/// Pointwise mean and sample standard deviation (divisor `n − 1`, 0 for one run) of
/// `runs[r][i]`, `i < len`.
pub fn mean_std(len: usize, runs: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n = runs.len() as f64;
    let mean: Vec<f64> = (0..len)
        .map(|i| runs.iter().map(|r| r[i]).sum::<f64>() / n)
        .collect();
    let std = (0..len)
        .map(|i| {
            if runs.len() < 2 {
                0.0
            } else {
                let ss: f64 = runs.iter().map(|r| (r[i] - mean[i]).powi(2)).sum();
                (ss / (n - 1.0)).sqrt()
            }
        })
        .collect();
    (mean, std)
}

/// A plot: title, axes and series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    /// Title drawn above the chart.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Scale of the x axis.
    pub x_scale: Scale,
    /// Scale of the y axis.
    pub y_scale: Scale,
    /// The curves, drawn in order; colours follow the order.
    pub series: Vec<Series>,
    /// Sub-plots drawn side by side in a grid of `panel_columns` columns (row-major) under
    /// the title, instead of `series` (empty: a single chart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub panels: Vec<Plot>,
    /// Columns of the panel grid.
    #[serde(default)]
    pub panel_columns: usize,
}

impl Plot {
    /// An empty plot with linear axes.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: Vec::new(),
            panels: Vec::new(),
            panel_columns: 0,
        }
    }

    /// One figure of `panels` in a grid of `columns` columns under `title`: different
    /// quantities keep their own axes, one image replaces near-identical ones.
    pub fn panels(title: impl Into<String>, columns: usize, panels: Vec<Plot>) -> Self {
        let mut p = Self::new(title, "", "");
        p.panel_columns = columns.max(1);
        p.panels = panels;
        p
    }

    /// The pixel size of the rendered figure: [`PLOT_SIZE`], or a grid of panels of
    /// [`PANEL_SIZE`] under a title strip.
    pub fn size(&self) -> (u32, u32) {
        if self.panels.is_empty() {
            PLOT_SIZE
        } else {
            let cols = self.panel_columns.max(1);
            let rows = self.panels.len().div_ceil(cols);
            (
                PANEL_SIZE.0 * cols as u32,
                PANEL_SIZE.1 * rows as u32 + TITLE_STRIP_PX,
            )
        }
    }

    /// Makes the y axis logarithmic.
    pub fn log_y(mut self) -> Self {
        self.y_scale = Scale::Log;
        self
    }

    /// Makes the x axis logarithmic.
    pub fn log_x(mut self) -> Self {
        self.x_scale = Scale::Log;
        self
    }

    /// Makes the x axis logarithmic with ticks at powers of two.
    pub fn log2_x(mut self) -> Self {
        self.x_scale = Scale::Log2;
        self
    }

    /// Appends a series.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }
}

/// Least squares of `log10 y` against `log10 x` (a power law `y = 10^intercept · x^slope`),
/// using only points with both coordinates strictly positive and finite: plres-theory's
/// [`linear_fit`] on the logarithms. `None` with fewer than two distinct usable abscissae.
///
/// # Panics
/// If `x` and `y` differ in length.
pub fn fit_log_log(x: &[f64], y: &[f64]) -> Option<LinearFit> {
    assert_eq!(
        x.len(),
        y.len(),
        "fit_log_log: {} x but {} y",
        x.len(),
        y.len()
    );
    let (lx, ly): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0 && a.is_finite() && b.is_finite())
        .map(|(a, b)| (a.log10(), b.log10()))
        .unzip();
    linear_fit(&lx, &ly).ok()
}

/// A log-log scatter of `(x, y)` with its least-squares power law drawn as a line, and
/// optionally a dashed reference line of slope `reference.0` (labelled `reference.1`)
/// through the first point. Returns the plot and the fit (`None` if fewer than two
/// usable points, in which case no fitted line is drawn).
pub fn scatter_with_fit(
    title: impl Into<String>,
    x_label: impl Into<String>,
    y_label: impl Into<String>,
    label: impl Into<String>,
    x: &[f64],
    y: &[f64],
    reference: Option<(f64, &str)>,
) -> (Plot, Option<LinearFit>) {
    let fit = fit_log_log(x, y);
    let mut plot = Plot::new(title, x_label, y_label)
        .log_x()
        .log_y()
        .with(Series::points(label, x.to_vec(), y.to_vec()));
    let positive: Vec<f64> = x.iter().copied().filter(|v| *v > 0.0).collect();
    let lo = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = positive.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if let Some(f) = fit {
        let fx = vec![lo, hi];
        let fy = fx
            .iter()
            .map(|v| 10f64.powf(f.intercept + f.slope * v.log10()))
            .collect();
        plot = plot.with(Series::line(
            format!("fit: slope {:.3} (R² {:.3})", f.slope, f.r_squared),
            fx,
            fy,
        ));
    }
    if let Some((slope, name)) = reference {
        let first = x
            .iter()
            .zip(y)
            .find(|(a, b)| **a > 0.0 && **b > 0.0 && a.is_finite() && b.is_finite());
        if let Some((x0, y0)) = first {
            let rx = vec![lo, hi];
            let ry = rx.iter().map(|v| y0 * (v / x0).powf(slope)).collect();
            plot = plot.with(Series::with_style(name, rx, ry, Style::Dashed));
        }
    }
    (plot, fit)
}

/// The two files a rendered plot consists of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotFiles {
    /// `<stem>.svg`.
    pub svg: PathBuf,
    /// `<stem>.png`.
    pub png: PathBuf,
}

/// Draws `plot` into `<dir>/<stem>.svg` and `<dir>/<stem>.png`, each written atomically.
pub fn render(plot: &Plot, dir: &Path, stem: &str) -> Result<PlotFiles, ExperimentError> {
    register_font();
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, plot.size()).into_drawing_area();
        draw_figure(&root, plot).map_err(|message| ExperimentError::Plot {
            path: svg.clone(),
            message,
        })?;
        root.present().map_err(|e| ExperimentError::Plot {
            path: svg.clone(),
            message: e.to_string(),
        })?;
    }
    write_atomic_with(&svg, |tmp| {
        std::fs::write(tmp, text.as_bytes()).map_err(|e| ExperimentError::io("writing", tmp, e))
    })?;
    write_atomic_with(&png, |tmp| {
        let plot_err = |message: String| ExperimentError::Plot {
            path: png.clone(),
            message,
        };
        let root = BitMapBackend::new(tmp, plot.size()).into_drawing_area();
        draw_figure(&root, plot).map_err(plot_err)?;
        root.present().map_err(|e| plot_err(e.to_string()))
    })?;
    Ok(PlotFiles { svg, png })
}

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are the vendored DejaVu Sans, a valid TrueType font (tested), so a
        // failure here is a build defect, not a user error.
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the vendored DejaVuSans.ttf is not a valid font");
        }
    });
}

/// A colour-blind-friendly palette (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The drawable points of a series on the given scales, with the band edges.
struct Prepared {
    pts: Vec<(f64, f64)>,
    band: Option<Vec<(f64, f64, f64)>>,
    omitted: usize,
    /// Band points whose lower edge is `≤ 0` on a log axis: drawn from the mean up only.
    halved: usize,
}

fn usable(v: f64, scale: Scale) -> bool {
    v.is_finite() && (!scale.is_log() || v > 0.0)
}

fn prepare(s: &Series, xs: Scale, ys: Scale) -> Prepared {
    let mut pts = Vec::with_capacity(s.x.len());
    let mut band = s.band.as_ref().map(|_| Vec::with_capacity(s.x.len()));
    let mut omitted = 0;
    let mut halved = 0;
    for i in 0..s.x.len() {
        let (x, y) = (s.x[i], s.y[i]);
        if !(usable(x, xs) && usable(y, ys)) {
            omitted += 1;
            continue;
        }
        pts.push((x, y));
        if let (Some(b), Some(out)) = (&s.band, band.as_mut()) {
            let (mut lo, hi) = (b.lower[i], b.upper[i]);
            if ys.is_log() && lo <= 0.0 {
                // a ±std band below zero has no place on a log axis: the upper half only
                lo = y.min(hi);
                halved += 1;
            }
            if lo.is_finite() && hi.is_finite() {
                out.push((x, lo, hi));
            }
        }
    }
    Prepared {
        pts,
        band,
        omitted,
        halved,
    }
}

/// The axis range covering `values`, padded by 5 % of the span (a factor on log axes).
fn axis_range(values: impl Iterator<Item = f64>, scale: Scale) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| usable(*v, scale))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return match scale {
            Scale::Linear => (0.0, 1.0),
            Scale::Log | Scale::Log2 => (0.1, 10.0),
        };
    }
    match scale {
        Scale::Linear => {
            if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
                let pad = (hi.abs() * 0.1).max(1e-12).max(f64::MIN_POSITIVE);
                lo -= pad;
                hi += pad;
            }
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        }
        Scale::Log => {
            // whole decades, at least two, so that the axis always carries at least three
            // labelled ticks (the decades)
            let a = (lo.log10() - 0.02).floor();
            let b = (hi.log10() + 0.02).ceil().max(a + 2.0);
            (10f64.powf(a), 10f64.powf(b))
        }
        Scale::Log2 => {
            let (mut a, mut b) = (lo.log10(), hi.log10());
            if b - a < 1e-3 {
                a -= 0.5;
                b += 0.5;
            }
            let pad = 0.05 * (b - a);
            (10f64.powf(a - pad), 10f64.powf(b + pad))
        }
    }
}

/// Height of one legend row and of the legend's frame, in pixels.
const LEGEND_ROW_PX: f64 = 20.0;
const LEGEND_FRAME_PX: f64 = 16.0;
/// Pixels of a chart's height outside its plotting area (caption, margins, x labels).
const CHART_CHROME_PX: f64 = 110.0;

/// Raises the top of the y axis so that the upper-right legend (`labels` rows) sits above
/// every data point: the data keep the lower `1 − f` of the axis, `f` the legend's share
/// of the plotting area's height (in log space on log axes, then rounded up to a decade
/// there so the ticks stay whole decades).
fn legend_headroom(y0: f64, y1: f64, scale: Scale, labels: usize, height_px: f64) -> (f64, f64) {
    if labels == 0 {
        return (y0, y1);
    }
    let area = (height_px - CHART_CHROME_PX).max(1.0);
    let f = ((labels as f64 * LEGEND_ROW_PX + LEGEND_FRAME_PX) / area).min(0.6);
    match scale {
        Scale::Linear => (y0, y0 + (y1 - y0) / (1.0 - f)),
        Scale::Log | Scale::Log2 => {
            let (a, b) = (y0.log10(), y1.log10());
            let top = a + (b - a) / (1.0 - f);
            let top = if scale == Scale::Log { top.ceil() } else { top };
            (y0, 10f64.powf(top))
        }
    }
}

/// Compact tick text: plain for moderate magnitudes, `1e-5` style otherwise.
fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".to_owned()
    } else if !(1e-3..1e4).contains(&a) {
        let s = format!("{v:.0e}");
        if s.parse::<f64>().is_ok_and(|r| (r - v).abs() <= 1e-9 * a) {
            s
        } else {
            format!("{v:.1e}")
        }
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_owned()
    }
}

/// A single chart, or the title and a grid of panels.
fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot,
) -> Result<(), String> {
    if plot.panels.is_empty() {
        return draw(root, plot);
    }
    let e = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (title, grid) = root.split_vertically(TITLE_STRIP_PX);
    title
        .titled(&plot.title, ("sans-serif", 24))
        .map_err(|x| e(&x))?;
    let cols = plot.panel_columns.max(1);
    let rows = plot.panels.len().div_ceil(cols);
    for (area, panel) in grid.split_evenly((rows, cols)).iter().zip(&plot.panels) {
        draw(area, panel)?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, plot: &Plot) -> Result<(), String> {
    let prepared: Vec<Prepared> = plot
        .series
        .iter()
        .map(|s| prepare(s, plot.x_scale, plot.y_scale))
        .collect();
    let xs = prepared.iter().flat_map(|p| p.pts.iter().map(|q| q.0));
    let (x0, x1) = axis_range(xs, plot.x_scale);
    let ys = prepared.iter().flat_map(|p| {
        p.pts.iter().map(|q| q.1).chain(
            p.band
                .iter()
                .flat_map(|b| b.iter().flat_map(|t| [t.1, t.2])),
        )
    });
    let (y0, y1) = axis_range(ys, plot.y_scale);
    let labels = plot.series.iter().filter(|s| !s.label.is_empty()).count();
    let height = f64::from(root.dim_in_pixel().1);
    let (y0, y1) = legend_headroom(y0, y1, plot.y_scale, labels, height);
    let base = |s: Scale| if s == Scale::Log2 { 2.0 } else { 10.0 };
    let (bx, by) = (base(plot.x_scale), base(plot.y_scale));
    // the coordinate types differ with the scales: one `draw_in` per combination
    macro_rules! draw_with {
        ($x_range:expr, $y_range:expr) => {
            draw_in(root, plot, &prepared, $x_range, $y_range, y0)
        };
    }
    match (plot.x_scale.is_log(), plot.y_scale.is_log()) {
        (false, false) => draw_with!(x0..x1, y0..y1),
        (false, true) => draw_with!(x0..x1, (y0..y1).log_scale().base(by)),
        (true, false) => draw_with!((x0..x1).log_scale().base(bx), y0..y1),
        (true, true) => draw_with!((x0..x1).log_scale().base(bx), (y0..y1).log_scale().base(by)),
    }
}

fn draw_in<DB, X, Y>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot,
    prepared: &[Prepared],
    x_range: X,
    y_range: Y,
    y_min: f64,
) -> Result<(), String>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let e = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range, y_range)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label.as_str())
        .y_desc(plot.y_label.as_str())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .max_light_lines(4)
        .draw()
        .map_err(|x| e(&x))?;
    let mut any_label = false;
    for (i, (s, p)) in plot.series.iter().zip(prepared).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if let Some(band) = p.band.as_ref().filter(|b| b.len() >= 2) {
            // Band edges on a log axis are clipped to the bottom of the axis.
            let clip = |v: f64| {
                if plot.y_scale.is_log() {
                    v.max(y_min)
                } else {
                    v
                }
            };
            let mut poly: Vec<(f64, f64)> = band.iter().map(|t| (t.0, clip(t.2))).collect();
            poly.extend(band.iter().rev().map(|t| (t.0, clip(t.1))));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    poly,
                    color.mix(0.22).filled(),
                )))
                .map_err(|x| e(&x))?;
        }
        if p.pts.is_empty() {
            continue;
        }
        let mut label = if p.omitted > 0 {
            format!("{} ({} points ≤ 0 omitted)", s.label, p.omitted)
        } else {
            s.label.clone()
        };
        if p.halved > 0 && !label.is_empty() {
            label.push_str(&format!(
                " (mean − std ≤ 0 at {}: band from the mean up)",
                p.halved
            ));
        }
        let stroke = color.stroke_width(2);
        let anno = match s.style {
            Style::Line => chart
                .draw_series(LineSeries::new(p.pts.iter().copied(), stroke))
                .map_err(|x| e(&x))?,
            Style::Dashed => chart
                .draw_series(DashedLineSeries::new(p.pts.iter().copied(), 8, 5, stroke))
                .map_err(|x| e(&x))?,
            Style::Points => chart
                .draw_series(
                    p.pts
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
                )
                .map_err(|x| e(&x))?,
            Style::LineAndPoints => {
                chart
                    .draw_series(
                        p.pts
                            .iter()
                            .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                    )
                    .map_err(|x| e(&x))?;
                chart
                    .draw_series(LineSeries::new(p.pts.iter().copied(), stroke))
                    .map_err(|x| e(&x))?
            }
        };
        if !label.is_empty() {
            any_label = true;
            let style = s.style;
            let (radius, path) = match style {
                Style::Points => (4, vec![(10, 0), (10, 0)]),
                Style::LineAndPoints => (3, vec![(0, 0), (20, 0)]),
                Style::Line | Style::Dashed => (0, vec![(0, 0), (20, 0)]),
            };
            anno.label(label).legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(path.clone(), color.stroke_width(2))
                    + Circle::new((10, 0), radius, color.filled())
            });
        }
    }
    if any_label {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|x| e(&x))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fit recovers an exact power law: y = 3 x^(−1/2) gives slope −1/2,
    /// intercept log10 3, R² = 1 up to a few ulps of the logs (n = 6 points, so the
    /// tolerance is 64 eps).
    #[test]
    fn log_log_fit_recovers_power_law() {
        let x: Vec<f64> = (0..6).map(|k| 2f64.powi(k + 3)).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 * v.powf(-0.5)).collect();
        let f = fit_log_log(&x, &y).unwrap();
        let tol = 64.0 * f64::EPSILON;
        assert!((f.slope + 0.5).abs() < tol, "slope {}", f.slope);
        assert!((f.intercept - 3f64.log10()).abs() < tol * 4.0);
        assert!((f.r_squared - 1.0).abs() < tol);
        assert_eq!(f.n, 6);
    }

    /// Non-positive points are skipped by the log fit; one usable point gives no fit.
    #[test]
    fn log_fit_skips_unusable_points() {
        let f = fit_log_log(&[1.0, 10.0, 100.0, -1.0], &[1.0, 10.0, 100.0, 5.0]).unwrap();
        assert_eq!(f.n, 3);
        assert!((f.slope - 1.0).abs() < 16.0 * f64::EPSILON);
        assert!(fit_log_log(&[1.0, 0.0], &[1.0, 1.0]).is_none());
        assert!(fit_log_log(&[2.0, 2.0], &[1.0, 3.0]).is_none());
    }

    /// Mean and sample std of two runs {1, 3}: mean 2, std √2 exactly representable
    /// to 1 ulp.
    #[test]
    fn mean_std_band() {
        let s = Series::mean_std("m", vec![0.0, 1.0], &[vec![1.0, 5.0], vec![3.0, 5.0]]);
        assert_eq!(s.y, vec![2.0, 5.0]);
        let b = s.band.unwrap();
        assert!((b.upper[0] - 2.0 - 2f64.sqrt()).abs() <= 4.0 * f64::EPSILON);
        assert_eq!(b.lower[1], 5.0);
        assert_eq!(b.upper[1], 5.0);
    }

    #[test]
    fn ticks_are_compact() {
        assert_eq!(tick(1e-5), "1e-5");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(2.5e-7), "2.5e-7");
        assert_eq!(tick(0.0), "0");
    }

    #[test]
    fn axis_ranges_cover_data() {
        let (a, b) = axis_range([1e-3, 1.0, -1.0, f64::NAN].into_iter(), Scale::Log);
        assert!(a < 1e-3 && b > 1.0 && a > 0.0);
        let (a, b) = axis_range([2.0, 2.0].into_iter(), Scale::Linear);
        assert!(a < 2.0 && b > 2.0);
        let (a, b) = axis_range(std::iter::empty(), Scale::Log);
        assert!(a > 0.0 && b > a);
    }
}
