//! PDF: an A4 report laid out here and drawn with krilla.
//!
//! Two passes: [`layout`] turns the document into pages of drawing
//! operations (so the footer can say "Page 2 of 7"), then [`render`] draws
//! them. The layout is deliberately plain: a header with the title and facts
//! on the first page; per section a heading, then key figures as a list,
//! tables with a shaded header row that is repeated on every page the table
//! continues onto, or a chart drawn from the same SVG as the web and chat
//! versions (vector, with selectable text). Numbers and durations are
//! right-aligned; a missing value prints as "—".
//!
//! DejaVu Sans (regular and bold) is embedded and subset by krilla; chart
//! text uses the same fonts through krilla-svg. Nothing is read from disk or
//! the network, and no creation date is stamped, so a document gives the
//! same bytes every time.

use anyhow::{anyhow, Context, Result};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::Document as PdfDocument;
use krilla_svg::{SurfaceExt, SvgSettings};
use resvg::usvg;

use crate::export::chart::{self, group_digits, group_thousands, Metrics};
use crate::export::model::{Cell, Chart, Column, ColumnKind, Document, Section, Table};
use crate::export::{FONT_BOLD, FONT_REGULAR};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 48.0;
const MARGIN_TOP: f32 = 48.0;
/// Content stops here; the footer lives below.
const CONTENT_BOTTOM: f32 = PAGE_H - 60.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;

const TITLE_PT: f32 = 20.0;
const HEADING_PT: f32 = 12.5;
const BODY_PT: f32 = 9.0;
const TABLE_PT: f32 = 8.5;
const MIN_TABLE_PT: f32 = 6.5;
const SMALL_PT: f32 = 7.5;
const ROW_H: f32 = 15.0;
const CELL_PAD: f32 = 5.0;
/// Rows measured to size table columns; later rows are cut to fit.
const MEASURE_ROWS: usize = 2_000;

type Rgb = (u8, u8, u8);
const INK: Rgb = (0x1F, 0x29, 0x33);
const MUTED: Rgb = (0x52, 0x5F, 0x6B);
const RULE: Rgb = (0xC9, 0xD0, 0xD7);
const HEADER_BG: Rgb = (0xEE, 0xF1, 0xF4);
const ZEBRA: Rgb = (0xF7, 0xF8, 0xFA);

/// The document as an A4 PDF.
pub fn write(doc: &Document) -> Result<Vec<u8>> {
    let metrics = Metrics::get()?;
    let mut charts = Vec::new();
    let pages = layout(doc, metrics, &mut charts)?;
    render(doc, &pages, &charts)
}

/// How a cell reads in the PDF: "1,234", "93.5 %", "3h 20m", "—".
pub fn display(cell: &Cell) -> String {
    match cell {
        Cell::Empty => "—".to_owned(),
        Cell::Text(text) => text.clone(),
        Cell::Count(n) => group_thousands(*n),
        Cell::Number(v) if v.is_finite() => {
            let fixed = format!("{:.2}", v.abs());
            let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, "00"));
            let sign = if *v < 0.0 && fixed != "0.00" { "-" } else { "" };
            format!("{sign}{}.{fraction}", group_digits(whole))
        }
        Cell::Percent(p) if p.is_finite() => format!("{p:.1} %"),
        Cell::Number(_) | Cell::Percent(_) => "—".to_owned(),
        Cell::Duration(seconds) => duration(*seconds),
        Cell::Date(date) => date.format("%Y-%m-%d").to_string(),
        Cell::LocalDateTime(at) => at.format("%Y-%m-%d %H:%M").to_string(),
        Cell::DateTime(at) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// Seconds as "3h 20m", "45m" or "30s" (hours are not folded into days:
/// business durations read better in hours).
pub fn duration(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    let (h, m) = (s / 3600, (s % 3600) / 60);
    if h > 0 {
        format!("{sign}{h}h {m}m")
    } else if m > 0 {
        format!("{sign}{m}m")
    } else {
        format!("{sign}{s}s")
    }
}

fn right_aligned(kind: ColumnKind) -> bool {
    matches!(
        kind,
        ColumnKind::Count | ColumnKind::Number | ColumnKind::Percent | ColumnKind::Duration
    )
}

#[derive(Debug, Clone)]
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        color: Rgb,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        color: Rgb,
    },
    Chart {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        index: usize,
    },
}

/// Pages of operations, filled top to bottom.
struct Pages<'m> {
    pages: Vec<Vec<Op>>,
    y: f32,
    metrics: &'m Metrics,
}

impl<'m> Pages<'m> {
    fn new(metrics: &'m Metrics) -> Self {
        Pages {
            pages: vec![Vec::new()],
            y: MARGIN_TOP,
            metrics,
        }
    }

    fn room(&self) -> f32 {
        CONTENT_BOTTOM - self.y
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN_TOP;
    }

    /// Start a new page unless `height` still fits on this one.
    fn ensure(&mut self, height: f32) {
        if self.room() < height && self.y > MARGIN_TOP {
            self.new_page();
        }
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn text(&mut self, x: f32, baseline: f32, size: f32, bold: bool, color: Rgb, text: String) {
        self.push(Op::Text {
            x,
            y: baseline,
            size,
            bold,
            color,
            text,
        });
    }

    fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        self.metrics.width(text, f64::from(size), bold) as f32
    }

    fn fit(&self, text: &str, max: f32, size: f32, bold: bool) -> String {
        self.metrics
            .fit(text, f64::from(max.max(0.0)), f64::from(size), bold)
    }
}

fn layout(doc: &Document, metrics: &Metrics, charts: &mut Vec<usvg::Tree>) -> Result<Vec<Vec<Op>>> {
    let mut p = Pages::new(metrics);

    // Header: title, then the facts as a two-column list, then a rule.
    let title = p.fit(&doc.title, CONTENT_W, TITLE_PT, true);
    p.text(MARGIN_X, p.y + TITLE_PT, TITLE_PT, true, INK, title);
    p.y += TITLE_PT + 14.0;
    let label_w = doc
        .facts
        .iter()
        .map(|(label, _)| p.width(label, BODY_PT, false))
        .fold(0.0, f32::max)
        + 14.0;
    for (label, value) in &doc.facts {
        let baseline = p.y + BODY_PT;
        p.text(MARGIN_X, baseline, BODY_PT, false, MUTED, label.clone());
        let value = p.fit(value, CONTENT_W - label_w, BODY_PT, false);
        p.text(MARGIN_X + label_w, baseline, BODY_PT, false, INK, value);
        p.y += BODY_PT + 5.0;
    }
    p.y += 6.0;
    let y = p.y;
    p.push(Op::Line {
        x1: MARGIN_X,
        y1: y,
        x2: MARGIN_X + CONTENT_W,
        y2: y,
        color: RULE,
    });
    p.y += 14.0;

    for section in &doc.sections {
        match section {
            Section::Figures { title, figures } => layout_figures(&mut p, title, figures),
            Section::Table(table) => layout_table(&mut p, table),
            Section::Chart(chart) => layout_chart(&mut p, chart, charts)?,
        }
    }
    Ok(p.pages)
}

fn heading(p: &mut Pages, title: &str) {
    let text = p.fit(title, CONTENT_W, HEADING_PT, true);
    p.text(MARGIN_X, p.y + HEADING_PT, HEADING_PT, true, INK, text);
    p.y += HEADING_PT + 9.0;
}

fn layout_figures(p: &mut Pages, title: &str, figures: &[(String, Cell)]) {
    p.ensure(HEADING_PT + 9.0 + 3.0 * ROW_H);
    heading(p, title);
    let list_w = CONTENT_W.min(300.0);
    for (label, cell) in figures {
        p.ensure(ROW_H);
        let baseline = p.y + ROW_H - 4.5;
        let value = display(cell);
        let value_w = p.width(&value, BODY_PT, true);
        let label = p.fit(label, list_w - value_w - 12.0, BODY_PT, false);
        p.text(MARGIN_X, baseline, BODY_PT, false, MUTED, label);
        p.text(
            MARGIN_X + list_w - value_w,
            baseline,
            BODY_PT,
            true,
            INK,
            value,
        );
        let y = p.y + ROW_H;
        p.push(Op::Line {
            x1: MARGIN_X,
            y1: y,
            x2: MARGIN_X + list_w,
            y2: y,
            color: HEADER_BG,
        });
        p.y += ROW_H;
    }
    p.y += 16.0;
}

/// Column widths and the font size of one table.
struct Grid {
    widths: Vec<f32>,
    size: f32,
}

/// Sizes a table to the content width: each column's natural width (its
/// label and the widest of the first rows); a table too wide first gets a
/// smaller font (down to 6.5 pt), then its text columns are cut (with an
/// ellipsis), and only then is everything narrowed. Extra room goes to the
/// text columns.
fn grid(p: &Pages, table: &Table) -> Grid {
    // Text widths at TABLE_PT; they scale linearly with the font size, the
    // cell padding does not.
    let text: Vec<f32> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            table
                .rows
                .iter()
                .take(MEASURE_ROWS)
                .filter_map(|row| row.get(i))
                .map(|cell| p.width(&display(cell), TABLE_PT, false))
                .fold(p.width(&column.label, TABLE_PT, true), f32::max)
        })
        .collect();
    let text_total: f32 = text.iter().sum();
    // Padding plus a point of slack per column, so that a cell measured to
    // fit exactly is not cut by rounding.
    let padding = (2.0 * CELL_PAD + 1.0) * table.columns.len() as f32;
    if text_total <= 0.0 {
        return Grid {
            widths: text.iter().map(|w| w + 2.0 * CELL_PAD).collect(),
            size: TABLE_PT,
        };
    }
    let size = if text_total + padding > CONTENT_W {
        (TABLE_PT * (CONTENT_W - padding) / text_total).clamp(MIN_TABLE_PT, TABLE_PT)
    } else {
        TABLE_PT
    };
    let natural: Vec<f32> = text
        .iter()
        .map(|w| w * size / TABLE_PT + 2.0 * CELL_PAD + 1.0)
        .collect();
    let total: f32 = natural.iter().sum();
    let is_text = |c: &Column| c.kind == ColumnKind::Text;
    let flexible: f32 = natural
        .iter()
        .zip(&table.columns)
        .filter(|(_, c)| is_text(c))
        .map(|(w, _)| *w)
        .sum();
    let fixed = total - flexible;
    let widths = if flexible > 0.0 && (total < CONTENT_W || fixed < CONTENT_W * 0.85) {
        let scale = (CONTENT_W - fixed) / flexible;
        natural
            .iter()
            .zip(&table.columns)
            .map(|(w, c)| if is_text(c) { w * scale } else { *w })
            .collect()
    } else {
        let scale = CONTENT_W / total;
        natural.iter().map(|w| w * scale).collect()
    };
    Grid { widths, size }
}

fn table_header(p: &mut Pages, table: &Table, grid: &Grid) {
    let y = p.y;
    p.push(Op::Rect {
        x: MARGIN_X,
        y,
        w: CONTENT_W,
        h: ROW_H + 2.0,
        color: HEADER_BG,
    });
    let mut x = MARGIN_X;
    for (column, w) in table.columns.iter().zip(&grid.widths) {
        let label = p.fit(&column.label, w - 2.0 * CELL_PAD, grid.size, true);
        let tx = if right_aligned(column.kind) {
            x + w - CELL_PAD - p.width(&label, grid.size, true)
        } else {
            x + CELL_PAD
        };
        p.text(tx, y + ROW_H - 3.5, grid.size, true, INK, label);
        x += w;
    }
    p.y += ROW_H + 2.0;
    let y = p.y;
    p.push(Op::Line {
        x1: MARGIN_X,
        y1: y,
        x2: MARGIN_X + CONTENT_W,
        y2: y,
        color: RULE,
    });
}

fn layout_table(p: &mut Pages, table: &Table) {
    p.ensure(HEADING_PT + 9.0 + 4.0 * ROW_H);
    heading(p, &table.title);
    let grid = grid(p, table);
    table_header(p, table, &grid);
    if table.rows.is_empty() {
        p.text(
            MARGIN_X + CELL_PAD,
            p.y + ROW_H - 4.0,
            TABLE_PT,
            false,
            MUTED,
            "No rows".to_owned(),
        );
        p.y += ROW_H;
    }
    for (index, row) in table.rows.iter().enumerate() {
        if p.room() < ROW_H {
            p.new_page();
            let title = format!("{} (continued)", table.title);
            let title = p.fit(&title, CONTENT_W, BODY_PT, false);
            p.text(MARGIN_X, p.y + BODY_PT, BODY_PT, false, MUTED, title);
            p.y += BODY_PT + 7.0;
            table_header(p, table, &grid);
        }
        let y = p.y;
        if index % 2 == 1 {
            p.push(Op::Rect {
                x: MARGIN_X,
                y,
                w: CONTENT_W,
                h: ROW_H,
                color: ZEBRA,
            });
        }
        let mut x = MARGIN_X;
        for (i, (column, w)) in table.columns.iter().zip(&grid.widths).enumerate() {
            let cell = row.get(i).unwrap_or(&Cell::Empty);
            let color = if matches!(cell, Cell::Empty) {
                MUTED
            } else {
                INK
            };
            let text = p.fit(&display(cell), w - 2.0 * CELL_PAD, grid.size, false);
            let tx = if right_aligned(column.kind) {
                x + w - CELL_PAD - p.width(&text, grid.size, false)
            } else {
                x + CELL_PAD
            };
            p.text(tx, y + ROW_H - 4.0, grid.size, false, color, text);
            x += w;
        }
        p.y += ROW_H;
    }
    let y = p.y;
    p.push(Op::Line {
        x1: MARGIN_X,
        y1: y,
        x2: MARGIN_X + CONTENT_W,
        y2: y,
        color: RULE,
    });
    p.y += 20.0;
}

fn layout_chart(p: &mut Pages, chart: &Chart, charts: &mut Vec<usvg::Tree>) -> Result<()> {
    let tree =
        chart::svg_tree(chart).with_context(|| format!("drawing the chart {:?}", chart.title))?;
    // The SVG keeps a margin of its own; widen the drawing so that its
    // content lines up with the page's text column.
    let scale = CONTENT_W / (chart::WIDTH as f32 - 2.0 * chart::MARGIN as f32);
    let w = chart::WIDTH as f32 * scale;
    let h = chart::HEIGHT as f32 * scale;
    let x = MARGIN_X - chart::MARGIN as f32 * scale;
    p.ensure(h + 8.0);
    let index = charts.len();
    charts.push(tree);
    let y = p.y - 14.0 * scale;
    p.push(Op::Chart { x, y, w, h, index });
    let h = h - 14.0 * scale;
    p.y += h + 22.0;
    Ok(())
}

fn fill(color: Rgb) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn render(doc: &Document, pages: &[Vec<Op>], charts: &[usvg::Tree]) -> Result<Vec<u8>> {
    let regular = Font::new(FONT_REGULAR.into(), 0).context("loading the embedded regular font")?;
    let bold = Font::new(FONT_BOLD.into(), 0).context("loading the embedded bold font")?;
    let mut pdf = PdfDocument::new();
    pdf.set_metadata(
        Metadata::new()
            .title(doc.title.clone())
            .creator("Switchboard".to_owned()),
    );
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).context("A4 page size")?;
    let count = pages.len();
    let metrics = Metrics::get()?;
    for (number, ops) in pages.iter().enumerate() {
        let mut page = pdf.start_page_with(settings.clone());
        let mut surface = page.surface();
        let footer = [
            Op::Line {
                x1: MARGIN_X,
                y1: PAGE_H - 44.0,
                x2: PAGE_W - MARGIN_X,
                y2: PAGE_H - 44.0,
                color: RULE,
            },
            Op::Text {
                x: MARGIN_X,
                y: PAGE_H - 30.0,
                size: SMALL_PT,
                bold: false,
                color: MUTED,
                text: metrics.fit(
                    &doc.title,
                    f64::from(CONTENT_W * 0.7),
                    f64::from(SMALL_PT),
                    false,
                ),
            },
            {
                let text = format!("Page {} of {count}", number + 1);
                let w = metrics.width(&text, f64::from(SMALL_PT), false) as f32;
                Op::Text {
                    x: PAGE_W - MARGIN_X - w,
                    y: PAGE_H - 30.0,
                    size: SMALL_PT,
                    bold: false,
                    color: MUTED,
                    text,
                }
            },
        ];
        for op in ops.iter().chain(footer.iter()) {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    bold: is_bold,
                    color,
                    text,
                } => {
                    if text.is_empty() {
                        continue;
                    }
                    surface.set_stroke(None);
                    surface.set_fill(Some(fill(*color)));
                    let font = if *is_bold {
                        bold.clone()
                    } else {
                        regular.clone()
                    };
                    surface.draw_text(
                        Point::from_xy(*x, *y),
                        font,
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Rect { x, y, w, h, color } => {
                    let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                        continue;
                    };
                    let mut builder = PathBuilder::new();
                    builder.push_rect(rect);
                    if let Some(path) = builder.finish() {
                        surface.set_stroke(None);
                        surface.set_fill(Some(fill(*color)));
                        surface.draw_path(&path);
                    }
                }
                Op::Line {
                    x1,
                    y1,
                    x2,
                    y2,
                    color,
                } => {
                    let mut builder = PathBuilder::new();
                    builder.move_to(*x1, *y1);
                    builder.line_to(*x2, *y2);
                    if let Some(path) = builder.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            paint: rgb::Color::new(color.0, color.1, color.2).into(),
                            width: 0.6,
                            ..Stroke::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
                Op::Chart { x, y, w, h, index } => {
                    let tree = charts
                        .get(*index)
                        .ok_or_else(|| anyhow!("chart {index} was not laid out"))?;
                    let size = Size::from_wh(*w, *h).context("chart size")?;
                    surface.push_transform(&Transform::from_translate(*x, *y));
                    surface
                        .draw_svg(tree, size, SvgSettings::default())
                        .context("drawing a chart into the PDF")?;
                    surface.pop();
                }
            }
        }
        surface.finish();
        page.finish();
    }
    pdf.finish()
        .map_err(|error| anyhow!("writing the PDF: {error:?}"))
}
