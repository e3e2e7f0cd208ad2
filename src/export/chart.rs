//! Charts as SVG (for the web and the PDF) and PNG (for chat).
//!
//! Drawn with plotters' SVG backend, built without its `ttf` feature, so no
//! font-kit and no fontconfig: plotters only writes `<text font-family="DejaVu
//! Sans">` and the real glyphs come from the embedded DejaVu Sans when resvg
//! (PNG) or krilla-svg (PDF) reads the SVG with a font database holding only
//! the embedded bytes. Text widths for the legend are measured with the same
//! font (ttf-parser), so the layout matches what is drawn.
//!
//! The canvas is 1200 × 675 (16:9, Slack's preview shape) with text sized
//! for that canvas at twice the usual scale (24 px labels, 34 px title), so
//! a preview scaled down to half still reads. Colours are Okabe–Ito, safe for
//! the common colour-vision deficiencies. A chart without categories or with
//! only zeros is a calm "No data" chart, never an error.
//!
//! Lenient on shape: a series shorter than the categories counts the missing
//! values as 0, and non-finite values count as 0, so a report with a gap
//! still gets its chart.

use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use resvg::tiny_skia;
use resvg::usvg;

use crate::export::model::{Chart, ChartKind};
use crate::export::{FONT_BOLD, FONT_FAMILY, FONT_REGULAR};

/// Canvas size in SVG user units; the PNG has these pixel dimensions.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 675;

/// Okabe–Ito, in the order series take them (yellow last: weakest on white).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];
/// The donut's "Other" slice, for slices past the palette.
const OTHER: RGBColor = RGBColor(0x99, 0x99, 0x99);
const INK: RGBColor = RGBColor(0x1F, 0x29, 0x33);
const MUTED: RGBColor = RGBColor(0x52, 0x5F, 0x6B);
const GRID: RGBColor = RGBColor(0xE4, 0xE7, 0xEB);
const AXIS: RGBColor = RGBColor(0x9A, 0xA5, 0xB1);

const TITLE_PX: f64 = 34.0;
const LABEL_PX: f64 = 24.0;
/// Margin around the drawing, in user units (the PDF aligns to it).
pub(crate) const MARGIN: i32 = 48;

/// The colour of the series (or donut slice) at `index`.
pub(crate) fn palette(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// The chart as a standalone SVG document, 1200 × 675 user units.
pub fn svg(chart: &Chart) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw_title(&root, &chart.title)?;
        if is_empty(chart) {
            draw_no_data(&root)?;
        } else if chart.kind == ChartKind::Donut {
            draw_donut(&root, chart)?;
        } else {
            draw_cartesian(&root, chart)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

/// The chart as a PNG, 1200 × 675 pixels, rendered from [`svg`].
pub fn png(chart: &Chart) -> Result<Vec<u8>> {
    let tree = svg_tree(chart)?;
    let mut pixmap =
        tiny_skia::Pixmap::new(WIDTH, HEIGHT).context("allocating the chart's pixmap")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("encoding the chart as PNG")
}

/// The chart's SVG parsed into a usvg tree with the embedded fonts: what the
/// PDF draws (vector, selectable text) and what [`png`] rasterises.
pub fn svg_tree(chart: &Chart) -> Result<usvg::Tree> {
    let svg = svg(chart)?;
    parse_svg(&svg)
}

/// Parse SVG text with the embedded fonts only; `<image>` references to
/// files are refused, so parsing never touches the filesystem.
pub(crate) fn parse_svg(svg: &str) -> Result<usvg::Tree> {
    let options = usvg::Options {
        font_family: FONT_FAMILY.to_owned(),
        fontdb: font_database(),
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: usvg::ImageHrefResolver::default_data_resolver(),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    usvg::Tree::from_str(svg, &options).context("parsing the chart's SVG")
}

/// A font database with the two embedded faces and nothing else.
fn font_database() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_source(usvg::fontdb::Source::Binary(Arc::new(FONT_REGULAR)));
        db.load_font_source(usvg::fontdb::Source::Binary(Arc::new(FONT_BOLD)));
        db.set_sans_serif_family(FONT_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Measures text in the embedded fonts (advance widths; no kerning, which
/// DejaVu barely uses). Shared with the PDF layout.
pub(crate) struct Metrics {
    regular: ttf_parser::Face<'static>,
    bold: ttf_parser::Face<'static>,
}

impl Metrics {
    pub(crate) fn get() -> Result<&'static Metrics> {
        static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();
        METRICS
            .get_or_init(|| {
                Some(Metrics {
                    regular: ttf_parser::Face::parse(FONT_REGULAR, 0).ok()?,
                    bold: ttf_parser::Face::parse(FONT_BOLD, 0).ok()?,
                })
            })
            .as_ref()
            .ok_or_else(|| anyhow!("the embedded DejaVu Sans font does not parse"))
    }

    /// Width of `text` at `size` (same unit as the result: px or pt).
    pub(crate) fn width(&self, text: &str, size: f64, bold: bool) -> f64 {
        let face = if bold { &self.bold } else { &self.regular };
        let units: u32 = text
            .chars()
            .map(|c| {
                let glyph = face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
                u32::from(face.glyph_hor_advance(glyph).unwrap_or(0))
            })
            .sum();
        f64::from(units) / f64::from(face.units_per_em()) * size
    }

    /// `text` cut with an ellipsis so that it is at most `max` wide.
    pub(crate) fn fit(&self, text: &str, max: f64, size: f64, bold: bool) -> String {
        if self.width(text, size, bold) <= max {
            return text.to_owned();
        }
        let room = max - self.width("…", size, bold);
        let mut used = 0.0;
        let mut out = String::new();
        for c in text.chars() {
            let w = self.width(c.encode_utf8(&mut [0; 4]), size, bold);
            if used + w > room {
                break;
            }
            used += w;
            out.push(c);
        }
        out.push('…');
        out
    }
}

fn plot_err<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("drawing the chart: {error}")
}

/// A font style whose rendered size is `px` (plotters' SVG backend writes
/// `size / 1.24` as the font-size).
fn font(px: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT_FAMILY, px * 1.24).into_font().color(&color)
}

fn bold_font(px: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT_FAMILY, px * 1.24, FontStyle::Bold)
        .into_font()
        .color(&color)
}

fn value(values: &[f64], index: usize) -> f64 {
    values
        .get(index)
        .copied()
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// No categories, no series, or nothing but zeros.
pub(crate) fn is_empty(chart: &Chart) -> bool {
    let n = chart.categories.len();
    let series = match chart.kind {
        ChartKind::Donut => &chart.series[..chart.series.len().min(1)],
        _ => &chart.series[..],
    };
    n == 0
        || series
            .iter()
            .all(|s| (0..n).all(|i| value(&s.values, i) == 0.0))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_title(root: &Area, title: &str) -> Result<()> {
    let room = f64::from(WIDTH) - 2.0 * f64::from(MARGIN);
    root.draw(&Text::new(
        Metrics::get()?.fit(title, room, TITLE_PX, true),
        (MARGIN, 30),
        bold_font(TITLE_PX, INK),
    ))
    .map_err(plot_err)
}

fn draw_no_data(root: &Area) -> Result<()> {
    let frame = Rectangle::new(
        [
            (MARGIN, 100),
            (WIDTH as i32 - MARGIN, HEIGHT as i32 - MARGIN),
        ],
        GRID.stroke_width(2),
    );
    root.draw(&frame).map_err(plot_err)?;
    let style = font(36.0, MUTED).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(
        "No data",
        (WIDTH as i32 / 2, (HEIGHT as i32 + 100 - MARGIN) / 2),
        style,
    ))
    .map_err(plot_err)
}

/// A horizontal legend under the title: swatch and name per series.
fn draw_legend(root: &Area, names: &[&str], metrics: &Metrics) -> Result<()> {
    let mut x = MARGIN;
    let y = 84;
    let right = WIDTH as i32 - MARGIN;
    for (index, name) in names.iter().enumerate() {
        // Names are cut to a third of the width; entries that no longer fit
        // on the line end the legend with an ellipsis.
        let name = metrics.fit(name, f64::from(WIDTH) / 3.0, LABEL_PX, false);
        let needed = 32 + metrics.width(&name, LABEL_PX, false).ceil() as i32;
        if x + needed > right {
            let style = font(LABEL_PX, MUTED).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new("…", (x, y + 11), style))
                .map_err(plot_err)?;
            break;
        }
        let color = palette(index);
        root.draw(&Rectangle::new([(x, y), (x + 22, y + 22)], color.filled()))
            .map_err(plot_err)?;
        let style = font(LABEL_PX, INK).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(name, (x + 32, y + 11), style))
            .map_err(plot_err)?;
        x += needed + 36;
    }
    Ok(())
}

/// The tick step for an axis: 1, 2 or 5 times a power of ten, at least
/// `raw` (the steps plotters itself picks, so every tick is labelled).
fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|candidate| *candidate >= raw * 0.999_999)
        .unwrap_or(10.0 * magnitude)
}

/// Axis numbers: "1,500", "12k", "1.2M", "2.5".
pub(crate) fn compact_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if (v - v.round()).abs() < 1e-9 {
        group_thousands(v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// "1234567" → "1,234,567".
pub(crate) fn group_thousands(n: i64) -> String {
    let digits = group_digits(&n.unsigned_abs().to_string());
    if n < 0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A string of decimal digits with a comma every three: "1234" → "1,234".
pub(crate) fn group_digits(digits: &str) -> String {
    let count = digits.chars().count();
    let mut out = String::with_capacity(count + count / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (count - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn draw_cartesian(root: &Area, chart: &Chart) -> Result<()> {
    let metrics = Metrics::get()?;
    let n = chart.categories.len();
    let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
    draw_legend(root, &names, metrics)?;

    let stacked = chart.kind == ChartKind::StackedBar;
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for i in 0..n {
        if stacked {
            let total: f64 = chart
                .series
                .iter()
                .map(|s| value(&s.values, i).max(0.0))
                .sum();
            hi = hi.max(total);
        } else {
            for s in &chart.series {
                let v = value(&s.values, i);
                hi = hi.max(v);
                lo = lo.min(v);
            }
        }
    }
    let percent_axis = chart.y_label.contains('%') && lo >= 0.0 && hi <= 100.0;
    let (y_min, y_max, y_step) = if percent_axis {
        (0.0, 100.0, 20.0)
    } else {
        let step = nice_step((hi - lo) * 1.05 / 6.0);
        let max = (hi * 1.05 / step).ceil() * step;
        let min = (lo * 1.05 / step).floor() * step;
        (min, max.max(step), step)
    };
    let y_ticks = ((y_max - y_min) / y_step).round() as usize + 1;

    // One label per `step` categories, so that labels never collide.
    let widest = chart
        .categories
        .iter()
        .map(|c| metrics.width(c, LABEL_PX, false))
        .fold(0.0, f64::max);
    let plot_width = f64::from(WIDTH) - 2.0 * f64::from(MARGIN) - 110.0;
    let fit = ((plot_width / (widest + 28.0)).floor() as usize).max(1);
    let step = n.div_ceil(fit).max(1);

    let area = root.margin(140, 16, MARGIN as u32 - 20, MARGIN as u32);
    let mut ctx = ChartBuilder::on(&area)
        .x_label_area_size(52)
        .y_label_area_size(110)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y_min..y_max)
        .map_err(plot_err)?;

    let y_format = |y: &f64| compact_number(*y);
    ctx.configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS.stroke_width(2))
        .y_labels(y_ticks)
        .label_style(font(LABEL_PX - 2.0, MUTED))
        .axis_desc_style(font(LABEL_PX - 2.0, MUTED))
        .x_labels(0)
        .y_label_formatter(&y_format)
        .y_desc(chart.y_label.clone())
        .draw()
        .map_err(plot_err)?;

    // Category labels, drawn here rather than by plotters so that exactly
    // every `step`-th category is labelled, centred under its point or bar.
    let label_style = font(LABEL_PX - 2.0, MUTED).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, category) in chart.categories.iter().enumerate().step_by(step) {
        let (x, y) = ctx.backend_coord(&(i as f64, y_min));
        let label = metrics.fit(
            category,
            (widest + 20.0).min(plot_width),
            LABEL_PX - 2.0,
            false,
        );
        root.draw(&Text::new(label, (x, y + 12), label_style.clone()))
            .map_err(plot_err)?;
    }

    match chart.kind {
        ChartKind::Line | ChartKind::Area => {
            for (si, s) in chart.series.iter().enumerate() {
                let color = palette(si);
                let points: Vec<(f64, f64)> =
                    (0..n).map(|i| (i as f64, value(&s.values, i))).collect();
                if chart.kind == ChartKind::Area {
                    ctx.draw_series(
                        AreaSeries::new(points.clone(), 0.0, color.mix(0.22).filled())
                            .border_style(color.stroke_width(3)),
                    )
                    .map_err(plot_err)?;
                } else {
                    ctx.draw_series(LineSeries::new(points.clone(), color.stroke_width(4)))
                        .map_err(plot_err)?;
                    if n <= 40 {
                        ctx.draw_series(points.iter().map(|p| Circle::new(*p, 5, color.filled())))
                            .map_err(plot_err)?;
                    }
                }
            }
        }
        ChartKind::Bar => {
            let k = chart.series.len().max(1) as f64;
            let group = 0.76;
            let width = group / k;
            for (si, s) in chart.series.iter().enumerate() {
                let color = palette(si);
                ctx.draw_series((0..n).map(|i| {
                    let x0 = i as f64 - group / 2.0 + width * si as f64;
                    let inset = if k > 1.0 { width * 0.06 } else { 0.0 };
                    Rectangle::new(
                        [(x0 + inset, 0.0), (x0 + width - inset, value(&s.values, i))],
                        color.filled(),
                    )
                }))
                .map_err(plot_err)?;
            }
        }
        ChartKind::StackedBar => {
            let mut base = vec![0.0f64; n];
            for (si, s) in chart.series.iter().enumerate() {
                let color = palette(si);
                let bars: Vec<Rectangle<(f64, f64)>> = (0..n)
                    .filter_map(|i| {
                        let v = value(&s.values, i).max(0.0);
                        let b = base.get_mut(i)?;
                        let rect = Rectangle::new(
                            [(i as f64 - 0.36, *b), (i as f64 + 0.36, *b + v)],
                            color.filled(),
                        );
                        *b += v;
                        (v > 0.0).then_some(rect)
                    })
                    .collect();
                ctx.draw_series(bars).map_err(plot_err)?;
            }
        }
        ChartKind::Donut => {}
    }
    Ok(())
}

/// A donut of the first series with the total in the hole and a legend
/// listing each slice's value and share. Slices past the palette are
/// summed into "Other".
fn draw_donut(root: &Area, chart: &Chart) -> Result<()> {
    let metrics = Metrics::get()?;
    let values: Vec<f64> = chart
        .series
        .first()
        .map(|s| {
            (0..chart.categories.len())
                .map(|i| value(&s.values, i).max(0.0))
                .collect()
        })
        .unwrap_or_default();
    let mut slices: Vec<(String, f64, RGBColor)> = Vec::new();
    let keep = PALETTE.len() - 1;
    for (i, (name, v)) in chart.categories.iter().zip(&values).enumerate() {
        if i < keep || chart.categories.len() == keep + 1 {
            slices.push((name.clone(), *v, palette(i)));
        } else if let Some(other) = slices.get_mut(keep) {
            other.1 += v;
        } else {
            slices.push(("Other".to_owned(), *v, OTHER));
        }
    }
    let total: f64 = slices.iter().map(|s| s.1).sum();

    let (cx, cy) = (330.0f64, 395.0f64);
    let (outer, inner) = (225.0f64, 138.0f64);
    let mut start = -std::f64::consts::FRAC_PI_2;
    for (_, v, color) in &slices {
        if *v <= 0.0 {
            continue;
        }
        let sweep = v / total * std::f64::consts::TAU;
        let steps = ((sweep / 0.02).ceil() as usize).max(2);
        let arc = |r: f64, t: f64| {
            let a = start + sweep * t;
            (
                (cx + r * a.cos()).round() as i32,
                (cy + r * a.sin()).round() as i32,
            )
        };
        let mut points: Vec<(i32, i32)> = (0..=steps)
            .map(|s| arc(outer, s as f64 / steps as f64))
            .collect();
        points.extend(
            (0..=steps)
                .rev()
                .map(|s| arc(inner, s as f64 / steps as f64)),
        );
        root.draw(&Polygon::new(points, color.filled()))
            .map_err(plot_err)?;
        start += sweep;
    }
    // White spokes between slices keep neighbours apart.
    let mut angle = -std::f64::consts::FRAC_PI_2;
    let visible = slices.iter().filter(|s| s.1 > 0.0).count();
    for (_, v, _) in &slices {
        if *v <= 0.0 || visible < 2 {
            continue;
        }
        let p = |r: f64| {
            (
                (cx + r * angle.cos()).round() as i32,
                (cy + r * angle.sin()).round() as i32,
            )
        };
        root.draw(&PathElement::new(
            vec![p(inner - 2.0), p(outer + 2.0)],
            WHITE.stroke_width(4),
        ))
        .map_err(plot_err)?;
        angle += v / total * std::f64::consts::TAU;
    }

    let centre = (cx.round() as i32, cy.round() as i32);
    root.draw(&Text::new(
        compact_number(total),
        (centre.0, centre.1 - 8),
        bold_font(52.0, INK).pos(Pos::new(HPos::Center, VPos::Bottom)),
    ))
    .map_err(plot_err)?;
    root.draw(&Text::new(
        chart.y_label.clone(),
        (centre.0, centre.1 + 10),
        font(LABEL_PX, MUTED).pos(Pos::new(HPos::Center, VPos::Top)),
    ))
    .map_err(plot_err)?;

    // Legend: swatch, name, value (right-aligned), share (right-aligned).
    let x = 640;
    let row = 50;
    let top = cy as i32 - (slices.len() as i32 * row) / 2;
    let value_right = WIDTH as i32 - MARGIN - 130;
    let share_right = WIDTH as i32 - MARGIN;
    for (i, (name, v, color)) in slices.iter().enumerate() {
        let y = top + i as i32 * row + row / 2;
        root.draw(&Rectangle::new(
            [(x, y - 12), (x + 24, y + 12)],
            color.filled(),
        ))
        .map_err(plot_err)?;
        let room = f64::from(value_right - x - 34 - 110);
        let label = metrics.fit(name, room, LABEL_PX, false);
        root.draw(&Text::new(
            label,
            (x + 36, y),
            font(LABEL_PX, INK).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(plot_err)?;
        root.draw(&Text::new(
            compact_number(*v),
            (value_right, y),
            bold_font(LABEL_PX, INK).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(plot_err)?;
        let share = if total > 0.0 { v / total * 100.0 } else { 0.0 };
        root.draw(&Text::new(
            format!("{share:.1} %"),
            (share_right, y),
            font(LABEL_PX, MUTED).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}
