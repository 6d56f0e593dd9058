//! Figures of the analyses, drawn with plotters as PNG or SVG.
//!
//! The format follows the file's extension (`.png` or `.svg`). Text is set
//! in DejaVu Sans, compiled into the binary (`assets/fonts/`), so a figure
//! looks the same on a machine with no fonts installed.
//!
//! Three figures, one function each:
//! - [`scatter`]: predicted against measured accuracy, with y = x;
//! - [`responses`]: one LSTM unit's response along the layers of a few
//!   architectures, layers of the unit's preferred type marked;
//! - [`map`]: 2-D points coloured by a value (the t-SNE map of structural
//!   features, coloured by accuracy), with a colour bar.
//!
//! This module draws what it is given; choosing the unit, running t-SNE and
//! reading stores is the caller's business.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// The one typeface of every figure.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Image formats a figure can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// One architecture's responses, layer by layer.
#[derive(Debug, Clone)]
pub struct Trace {
    pub label: String,
    pub values: Vec<f64>,
    /// Layers of the unit's preferred type, drawn as filled dots.
    pub marked: Vec<bool>,
}

/// Something that can draw itself on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

/// Writes `figure` to `path` in the format its extension names.
fn render(path: &Path, size: (u32, u32), figure: &impl Figure) -> anyhow::Result<()> {
    static FONT_OK: OnceLock<bool> = OnceLock::new();
    let font_ok = FONT_OK.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(
        *font_ok,
        "the bundled font (assets/fonts/DejaVuSans.ttf) does not parse"
    );
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let result = match ext {
        "png" => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            figure.draw(&root).and_then(|()| Ok(root.present()?))
        }
        "svg" => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            figure.draw(&root).and_then(|()| Ok(root.present()?))
        }
        other => anyhow::bail!(
            "{}: unknown figure format '{other}' (known: png, svg)",
            path.display()
        ),
    };
    result.with_context(|| format!("drawing {}", path.display()))
}

/// Low and high ends of `values`, widened by 5% (and never empty).
fn range(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

/// An axis label for `value` on an axis spanning `span`: as many decimals
/// as ticks about a tenth of the span apart need, and never "-0.0".
fn tick(value: f64, span: f64) -> String {
    let decimals = (-(span / 10.0).log10()).ceil().clamp(0.0, 6.0) as usize;
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

struct Scatter<'a> {
    measured: &'a [f64],
    predicted: &'a [f64],
    title: &'a str,
}

impl Figure for Scatter<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let (lo, hi) = range(self.measured.iter().chain(self.predicted).copied());
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, lo..hi)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_label_formatter(&|v| tick(*v, hi - lo))
            .y_label_formatter(&|v| tick(*v, hi - lo))
            .x_desc("measured accuracy")
            .y_desc("predicted accuracy")
            .label_style((FAMILY, 14))
            .draw()?;
        chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.4)))?;
        chart.draw_series(
            self.measured
                .iter()
                .zip(self.predicted)
                .map(|(&m, &p)| Circle::new((m, p), 3, BLUE.mix(0.7).filled())),
        )?;
        Ok(())
    }
}

/// Predicted against measured accuracy, one dot per network.
pub fn scatter(
    path: &Path,
    measured: &[f64],
    predicted: &[f64],
    title: &str,
) -> anyhow::Result<()> {
    let figure = Scatter {
        measured,
        predicted,
        title,
    };
    render(path, (600, 600), &figure)
}

struct Responses<'a> {
    traces: &'a [Trace],
    title: &'a str,
}

impl Figure for Responses<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let layers = self
            .traces
            .iter()
            .map(|t| t.values.len())
            .max()
            .unwrap_or(1);
        let (lo, top) = range(self.traces.iter().flat_map(|t| t.values.iter().copied()));
        // Headroom above the data for the legend, one row per trace.
        let hi = top + (top - lo) * (0.05 + 0.09 * self.traces.len() as f64);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5..layers as f64 + 0.5, lo..hi)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_labels(layers.min(20))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|v| tick(*v, hi - lo))
            .x_desc("layer")
            .y_desc("response (hidden state)")
            .label_style((FAMILY, 14))
            .draw()?;
        for (k, trace) in self.traces.iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            let points: Vec<(f64, f64)> = trace
                .values
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64 + 1.0, v))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(trace.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(points.iter().zip(&trace.marked).map(|(&p, &marked)| {
                if marked {
                    Circle::new(p, 6, colour.filled())
                } else {
                    Circle::new(p, 3, colour.stroke_width(1))
                }
            }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        Ok(())
    }
}

/// One unit's response along the layers of each trace; marked layers are
/// filled dots, the others hollow.
pub fn responses(path: &Path, traces: &[Trace], title: &str) -> anyhow::Result<()> {
    render(path, (800, 500), &Responses { traces, title })
}

struct Map<'a> {
    points: &'a [(f64, f64)],
    values: &'a [f64],
    title: &'a str,
    value_name: &'a str,
}

impl Figure for Map<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let (width, _) = root.dim_in_pixel();
        let (plot, bar) = root.split_horizontally(width.saturating_sub(120));
        let (x_lo, x_hi) = range(self.points.iter().map(|p| p.0));
        let (y_lo, y_hi) = range(self.points.iter().map(|p| p.1));
        let v_lo = self.values.iter().copied().fold(f64::INFINITY, f64::min);
        let v_hi = self
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let span = (v_hi - v_lo).max(1e-12);
        let colour = |v: f64| ViridisRGB.get_color(((v - v_lo) / span) as f32);

        let mut chart = ChartBuilder::on(&plot)
            .caption(self.title, (FAMILY, 18))
            .margin(15)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&|v| tick(*v, x_hi - x_lo))
            .y_label_formatter(&|v| tick(*v, y_hi - y_lo))
            .x_desc("t-SNE 1")
            .y_desc("t-SNE 2")
            .label_style((FAMILY, 12))
            .draw()?;
        chart.draw_series(
            self.points
                .iter()
                .zip(self.values)
                .map(|(&p, &v)| Circle::new(p, 4, colour(v).filled())),
        )?;

        // Colour bar: the value range from bottom to top.
        let mut bar = ChartBuilder::on(&bar)
            .margin_top(50)
            .margin_bottom(50)
            .margin_left(5)
            .margin_right(10)
            .right_y_label_area_size(75)
            .build_cartesian_2d(0.0..1.0, v_lo..v_lo + span)?;
        bar.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(self.value_name)
            .y_label_formatter(&|v| tick(*v, span))
            .label_style((FAMILY, 12))
            .draw()?;
        let steps = 100;
        bar.draw_series((0..steps).map(|i| {
            let a = v_lo + span * i as f64 / steps as f64;
            let b = v_lo + span * (i + 1) as f64 / steps as f64;
            Rectangle::new([(0.0, a), (1.0, b)], colour((a + b) / 2.0).filled())
        }))?;
        Ok(())
    }
}

/// Points coloured by `values` on the viridis scale, with a colour bar
/// named `value_name`.
pub fn map(
    path: &Path,
    points: &[(f64, f64)],
    values: &[f64],
    title: &str,
    value_name: &str,
) -> anyhow::Result<()> {
    let figure = Map {
        points,
        values,
        title,
        value_name,
    };
    render(path, (700, 600), &figure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_have_the_decimals_their_axis_needs_and_no_negative_zero() {
        assert_eq!(tick(0.2, 1.3), "0.2");
        assert_eq!(tick(0.875, 0.1), "0.88");
        assert_eq!(tick(-3.0, 10.0), "-3");
        assert_eq!(tick(-1e-17, 1.3), "0.0");
        assert_eq!(tick(-0.001, 10.0), "0");
    }

    #[test]
    fn bundled_font_parses() {
        assert!(register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn both_formats_are_written() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, p) = ([0.5, 0.6, 0.7], [0.55, 0.58, 0.75]);
        for ext in ["png", "svg"] {
            let path = tmp.path().join(format!("s.{ext}"));
            scatter(&path, &m, &p, "three").unwrap();
            let bytes = std::fs::read(&path).unwrap();
            match ext {
                "png" => assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n"),
                _ => assert!(String::from_utf8(bytes).unwrap().contains("<svg")),
            }
        }
        let err = scatter(&tmp.path().join("s.gif"), &m, &p, "x").unwrap_err();
        assert!(format!("{err:#}").contains("unknown figure format 'gif'"));
    }
}
