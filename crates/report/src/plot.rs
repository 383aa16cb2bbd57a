//! Draws a [`Figure`] as SVG with plotters, and renders SVG to PNG with resvg.
//!
//! Colours are the Okabe–Ito palette (colour-blind safe); every model also gets its own dash
//! pattern and marker so the figures stay readable in grey. Text uses the embedded DejaVu Sans,
//! never a system font, so the PNGs look the same on every machine.

use crate::figdata::{Bar, BarPanel, Figure, FigureKind, GatePlane, Heatmap, LinePanel, Series};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
pub(crate) static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Okabe & Ito (2008): black, orange, sky blue, bluish green, yellow, blue, vermillion, purple.
const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(240, 228, 66),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
];

/// How one model is drawn: colour, dash (dash, gap in px; 0 = solid), marker index.
#[derive(Clone, Copy)]
struct Look {
    color: RGBColor,
    dash: (u32, u32),
    marker: usize,
}

fn look(key: &str) -> Look {
    let (i, dash, marker) = match key {
        "dense" => (0, (0, 0), 0),
        "dense groups" => (2, (10, 4), 1),
        "top1" => (6, (7, 4), 2),
        "top2" => (5, (2, 3), 3),
        "soft" => (3, (14, 5), 4),
        "expert" => {
            return Look {
                color: RGBColor(150, 150, 150),
                dash: (0, 0),
                marker: 99,
            }
        }
        other => (1 + other.bytes().map(usize::from).sum::<usize>() % 7, (5, 2), 1),
    };
    Look {
        color: OKABE_ITO[i],
        dash,
        marker,
    }
}

fn font_once() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(()).ok_or_else(|| Error::Plot {
        figure: "font".into(),
        message: "the embedded DejaVu Sans could not be loaded".into(),
    })
}

fn err<E: std::fmt::Debug>(figure: &str) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Plot {
        figure: figure.to_string(),
        message: format!("{e:?}"),
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The figure as an SVG document.
pub fn render_svg(fig: &Figure) -> Result<String> {
    font_once()?;
    let panels = match &fig.kind {
        FigureKind::Lines { panels, .. } => panels.len(),
        FigureKind::Bars(p) => p.len(),
        FigureKind::Heatmaps { panels, .. } => panels.len(),
        FigureKind::Planes(p) => p.len(),
    }
    .max(1);
    let cols = panels.min(4);
    let rows = panels.div_ceil(cols);
    let (w, h) = (
        if panels == 1 { 900 } else { 330 * cols as u32 + 40 },
        80 + 340 * rows as u32,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err(&fig.name))?;
        let root = root
            .titled(&fig.title, (FAMILY, 22).into_font().color(&BLACK))
            .map_err(err(&fig.name))?;
        let areas = root.split_evenly((rows, cols));
        match &fig.kind {
            FigureKind::Lines { panels, log_y } => {
                for (a, p) in areas.iter().zip(panels) {
                    line_panel(a, fig, p, *log_y, panels.len() == 1)?;
                }
            }
            FigureKind::Bars(p) => {
                for (a, p) in areas.iter().zip(p) {
                    bar_panel(a, fig, p)?;
                }
            }
            FigureKind::Heatmaps { panels, vmax } => {
                for (a, p) in areas.iter().zip(panels) {
                    heatmap_panel(a, fig, p, *vmax)?;
                }
            }
            FigureKind::Planes(p) => {
                for (a, p) in areas.iter().zip(p) {
                    plane_panel(a, fig, p)?;
                }
            }
        }
        root.present().map_err(err(&fig.name))?;
    }
    Ok(svg)
}

/// y range over finite positive (log) or all values, padded.
fn y_range(panel: &LinePanel, log_y: bool) -> (f64, f64) {
    let vals = panel.series.iter().flat_map(|s| {
        let sd = s.sd.clone().unwrap_or_else(|| vec![0.0; s.y.len()]);
        s.y.iter()
            .zip(sd)
            .flat_map(|(y, d)| [y - d, y + d, *y])
            .collect::<Vec<f64>>()
    });
    let vals: Vec<f64> = vals.filter(|v| v.is_finite() && (!log_y || *v > 0.0)).collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match (lo.is_finite(), log_y) {
        (false, true) => (1e-3, 1.0),
        (false, false) => (0.0, 1.0),
        (true, true) => (lo.max(hi * 1e-8) / 1.5, hi * 1.5),
        (true, false) => (lo.min(0.0), hi + 0.05 * (hi - lo).abs().max(1e-9)),
    }
}

/// The padded data range of `vals` (a scatter's axes fit its points, not zero).
fn padded(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.06 * (hi - lo)
    } else {
        0.5 * lo.abs().max(1e-3)
    };
    (lo - pad, hi + pad)
}

fn line_panel(area: &Area, fig: &Figure, panel: &LinePanel, log_y: bool, single: bool) -> Result<()> {
    let xs = || panel.series.iter().flat_map(|s| s.x.iter().copied());
    let scatter = !log_y && !panel.series.is_empty() && panel.series.iter().all(|s| s.width == 0);
    let ((x_lo, x_hi), (lo, hi)) = if scatter {
        (
            padded(xs()),
            padded(panel.series.iter().flat_map(|s| s.y.iter().copied())),
        )
    } else {
        // Line charts start at x = 1 at most (spectra are indexed from 1).
        let x_hi = xs().fold(1.0, f64::max);
        ((xs().fold(x_hi, f64::min), x_hi), y_range(panel, log_y))
    };
    let mut b = ChartBuilder::on(area);
    b.caption(&panel.title, (FAMILY, 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(if single { 70 } else { 62 });
    if log_y {
        let mut chart = b
            .build_cartesian_2d(x_lo..x_hi, (lo..hi).log_scale())
            .map_err(err(&fig.name))?;
        mesh(&mut chart, fig)?;
        draw_lines(&mut chart, fig, panel, lo)
    } else {
        let mut chart = b.build_cartesian_2d(x_lo..x_hi, lo..hi).map_err(err(&fig.name))?;
        mesh(&mut chart, fig)?;
        draw_lines(&mut chart, fig, panel, lo)
    }
}

fn mesh<'a, X, Y>(chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>, fig: &Figure) -> Result<()>
where
    X: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(&fig.x_label)
        .y_desc(&fig.y_label)
        .axis_desc_style((FAMILY, 15))
        .label_style((FAMILY, 13))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(err(&fig.name))
}

/// Tick labels: 3 significant digits, scientific for very small or large values.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    fig: &Figure,
    panel: &LinePanel,
    floor: f64,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for s in &panel.series {
        let lk = look(&s.style);
        if let Some(sd) = &s.sd {
            let upper = s.x.iter().zip(&s.y).zip(sd).map(|((x, y), d)| (*x, y + d));
            let lower =
                s.x.iter()
                    .zip(&s.y)
                    .zip(sd)
                    .rev()
                    .map(|((x, y), d)| (*x, (y - d).max(floor)));
            let band: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, lk.color.mix(0.15).filled())))
                .map_err(err(&fig.name))?;
        }
        series_line(chart, fig, s, lk)?;
    }
    if panel.series.iter().any(|s| s.label.is_some()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FAMILY, 13))
            .draw()
            .map_err(err(&fig.name))?;
    }
    Ok(())
}

fn series_line<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    fig: &Figure,
    s: &Series,
    lk: Look,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = lk.color.stroke_width(s.width);
    let pts: Vec<(f64, f64)> = s.x.iter().copied().zip(s.y.iter().copied()).collect();
    if s.width == 0 {
        return scatter(chart, fig, s, lk, &pts);
    }
    let ann = if lk.dash.0 == 0 {
        chart
            .draw_series(LineSeries::new(pts.clone(), style))
            .map_err(err(&fig.name))?
    } else {
        let (dash, gap) = lk.dash;
        chart
            .draw_series(DashedLineSeries::new(pts.clone(), dash, gap, style))
            .map_err(err(&fig.name))?
    };
    if let Some(label) = &s.label {
        // Legend glyph: the dash pattern (two pieces) and the marker, in pixel offsets.
        let first = if lk.dash.0 == 0 {
            vec![(0, 0), (24, 0)]
        } else {
            vec![(0, 0), (9, 0)]
        };
        let mark: Vec<(i32, i32)> = marker_shape(lk.marker).iter().map(|(a, b)| (a + 12, *b)).collect();
        ann.label(label.clone()).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(first.clone(), style)
                + PathElement::new(vec![(15, 0), (24, 0)], style)
                + Polygon::new(mark.clone(), lk.color.filled())
        });
    }
    // Sparse markers (about 8 per line) make the series distinguishable in grey.
    let step = (pts.len() / 8).max(1);
    if lk.marker < 99 {
        let marks = pts
            .iter()
            .step_by(step)
            .map(|&p| EmptyElement::at(p) + Polygon::new(marker_shape(lk.marker), lk.color.filled()));
        chart.draw_series(marks).map_err(err(&fig.name))?;
    }
    Ok(())
}

/// A series of width 0: every point marked, no line (scatter plots of sweep figures).
fn scatter<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    fig: &Figure,
    s: &Series,
    lk: Look,
    pts: &[(f64, f64)],
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let shape = marker_shape(lk.marker % 99);
    let marks = pts
        .iter()
        .map(|&p| EmptyElement::at(p) + Polygon::new(shape.clone(), lk.color.filled()));
    let ann = chart.draw_series(marks).map_err(err(&fig.name))?;
    if let Some(label) = &s.label {
        let mark: Vec<(i32, i32)> = shape.iter().map(|(a, b)| (a + 12, *b)).collect();
        ann.label(label.clone())
            .legend(move |(x, y)| EmptyElement::at((x, y)) + Polygon::new(mark.clone(), lk.color.filled()));
    }
    Ok(())
}

/// Marker outline in pixel offsets: circle (octagon), square, triangle, plus, diamond.
fn marker_shape(kind: usize) -> Vec<(i32, i32)> {
    match kind {
        0 => vec![(-2, -4), (2, -4), (4, -2), (4, 2), (2, 4), (-2, 4), (-4, 2), (-4, -2)],
        1 => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
        2 => vec![(0, -5), (5, 4), (-5, 4)],
        3 => vec![
            (-1, -5),
            (1, -5),
            (1, -1),
            (5, -1),
            (5, 1),
            (1, 1),
            (1, 5),
            (-1, 5),
            (-1, 1),
            (-5, 1),
            (-5, -1),
            (-1, -1),
        ],
        4 => vec![(0, -5), (5, 0), (0, 5), (-5, 0)],
        _ => vec![(0, 0), (1, 0), (0, 1)],
    }
}

/// A bar panel: one bar per architecture with a 95 % CI whisker; failed models say so.
fn bar_panel(area: &Area, fig: &Figure, panel: &BarPanel) -> Result<()> {
    let n = panel.bars.len();
    let hi = panel
        .bars
        .iter()
        .filter_map(|b| b.ci.map(|c| c.1).or(b.mean))
        .fold(0.0_f64, f64::max)
        .max(1e-12)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, 17))
        .margin(12)
        .x_label_area_size(64)
        .y_label_area_size(62)
        .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0.0..hi)
        .map_err(err(&fig.name))?;
    let labels: Vec<String> = panel.bars.iter().map(|b| b.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| short(*v))
        .label_style((FAMILY, 12))
        .y_desc(&panel.title)
        .axis_desc_style((FAMILY, 14))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(err(&fig.name))?;
    for (i, b) in panel.bars.iter().enumerate() {
        draw_bar(&mut chart, fig, i, b, hi)?;
    }
    Ok(())
}

type BarChart<'a> = ChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<
        plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

fn draw_bar(chart: &mut BarChart<'_>, fig: &Figure, i: usize, b: &Bar, hi: f64) -> Result<()> {
    let lk = look(&b.style);
    let Some(mean) = b.mean else {
        let what = if b.failed { "failed" } else { "n/a" };
        let t = Text::new(
            what,
            (SegmentValue::CenterOf(i), 0.05 * hi),
            (FAMILY, 14).into_font().color(&OKABE_ITO[6]),
        );
        chart.draw_series(std::iter::once(t)).map_err(err(&fig.name))?;
        return Ok(());
    };
    let x0 = SegmentValue::Exact(i);
    let x1 = SegmentValue::Exact(i + 1);
    let rect = Rectangle::new([(x0, 0.0), (x1, mean)], lk.color.mix(0.75).filled());
    let edge = Rectangle::new(
        [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), mean)],
        BLACK.stroke_width(1),
    );
    chart.draw_series([rect, edge]).map_err(err(&fig.name))?;
    if let Some((lo, up)) = b.ci {
        let c = SegmentValue::CenterOf(i);
        let whisker = PathElement::new(vec![(c.clone(), lo), (c.clone(), up)], BLACK.stroke_width(2));
        let caps = [lo, up].map(|y| Circle::new((c.clone(), y), 3, BLACK.filled()));
        chart.draw_series(std::iter::once(whisker)).map_err(err(&fig.name))?;
        chart.draw_series(caps).map_err(err(&fig.name))?;
    }
    if b.failed {
        let t = Text::new(
            "(failed)",
            (SegmentValue::CenterOf(i), mean),
            (FAMILY, 12).into_font().color(&OKABE_ITO[6]),
        );
        chart.draw_series(std::iter::once(t)).map_err(err(&fig.name))?;
    }
    Ok(())
}

/// Sequential colour map from light to dark blue (monotone in lightness, readable in grey).
fn colormap(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let (a, b) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn heatmap_panel(area: &Area, fig: &Figure, h: &Heatmap, vmax: f64) -> Result<()> {
    let (plot, bar) = area.split_horizontally(area.dim_in_pixel().0 as i32 - 70);
    let e = h.size;
    let mut chart = ChartBuilder::on(&plot)
        .caption(&h.title, (FAMILY, 17))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..e as f64, e as f64..0.0)
        .map_err(err(&fig.name))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(e.min(16))
        .y_labels(e.min(16))
        .x_label_formatter(&|v| format!("{}", v.floor() as i64))
        .y_label_formatter(&|v| format!("{}", v.floor() as i64))
        .x_desc(&fig.x_label)
        .y_desc(&fig.y_label)
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 14))
        .draw()
        .map_err(err(&fig.name))?;
    let cells = (0..e * e).map(|k| {
        let (r, c) = ((k / e) as f64, (k % e) as f64);
        Rectangle::new([(c, r), (c + 1.0, r + 1.0)], colormap(h.values[k] / vmax).filled())
    });
    chart.draw_series(cells).map_err(err(&fig.name))?;
    if e <= 8 {
        let text = (0..e * e).map(|k| {
            let (r, c) = ((k / e) as f64, (k % e) as f64);
            let color = if h.values[k] / vmax > 0.55 { WHITE } else { BLACK };
            let style = (FAMILY, 11)
                .into_font()
                .color(&color)
                .pos(Pos::new(HPos::Center, VPos::Center));
            Text::new(format!("{:.2}", h.values[k]), (c + 0.5, r + 0.5), style)
        });
        chart.draw_series(text).map_err(err(&fig.name))?;
    }
    colorbar(&bar, fig, h.chance, vmax)
}

/// A vertical colour bar 0…vmax with the chance level marked by a red line and label.
fn colorbar(area: &Area, fig: &Figure, chance: Option<f64>, vmax: f64) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(50)
        .margin_right(8)
        .y_label_area_size(34)
        .build_cartesian_2d(0.0..1.0, 0.0..vmax)
        .map_err(err(&fig.name))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .label_style((FAMILY, 11))
        .draw()
        .map_err(err(&fig.name))?;
    let steps = 50;
    let strips = (0..steps).map(|i| {
        let (a, b) = (vmax * i as f64 / steps as f64, vmax * (i + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a), (1.0, b)], colormap(a / vmax).filled())
    });
    chart.draw_series(strips).map_err(err(&fig.name))?;
    if let Some(c) = chance {
        let line = PathElement::new(vec![(0.0, c), (1.0, c)], OKABE_ITO[6].stroke_width(3));
        let style = (FAMILY, 11).into_font().color(&OKABE_ITO[6]);
        let label = Text::new("chance", (0.0, c + 0.04 * vmax), style);
        chart.draw_series(std::iter::once(line)).map_err(err(&fig.name))?;
        chart.draw_series(std::iter::once(label)).map_err(err(&fig.name))?;
    }
    Ok(())
}

fn plane_panel(area: &Area, fig: &Figure, p: &GatePlane) -> Result<()> {
    let xs = p.points.iter().map(|q| q.0);
    let ys = p.points.iter().map(|q| q.1);
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| (a.0.min(v), a.1.max(v)));
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| (a.0.min(v), a.1.max(v)));
    // A degenerate axis (a constant input feature) still gets a drawable range.
    let widen = |lo: f64, hi: f64| if lo < hi { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
    let ((x0, x1), (y0, y1)) = (widen(x0, x1), widen(y0, y1));
    let g = (p.points.len() as f64).sqrt().round().max(2.0);
    let (dx, dy) = ((x1 - x0) / (g - 1.0), (y1 - y0) / (g - 1.0));
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 17))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x0 - dx / 2.0..x1 + dx / 2.0, y0 - dy / 2.0..y1 + dy / 2.0)
        .map_err(err(&fig.name))?;
    mesh(&mut chart, fig)?;
    let cells = p
        .points
        .iter()
        .zip(&p.winner)
        .zip(&p.gate)
        .map(|((&(x, y), &w), &gate)| {
            let c = OKABE_ITO[1 + w % 7].mix(gate);
            Rectangle::new([(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)], c.filled())
        });
    chart.draw_series(cells).map_err(err(&fig.name))?;
    for e in 0..p.experts {
        let c = OKABE_ITO[1 + e % 7];
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err(&fig.name))?
            .label(format!("expert {e}"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FAMILY, 12))
        .draw()
        .map_err(err(&fig.name))
}

/// Renders an SVG document to PNG bytes with resvg, using only the embedded font.
pub fn svg_to_png(svg: &str, name: &str) -> Result<Vec<u8>> {
    let mut opts = resvg::usvg::Options::default();
    let db = opts.fontdb_mut();
    db.load_font_data(FONT.to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    let tree = resvg::usvg::Tree::from_str(svg, &opts).map_err(err(name))?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| Error::Plot {
        figure: name.into(),
        message: format!("empty image {}×{}", size.width(), size.height()),
    })?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(err(name))
}
