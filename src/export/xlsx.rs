//! XLSX: a workbook for people and for scripts.
//!
//! Layout: a "Summary" sheet first (title, header facts, key figures), then
//! one worksheet per table section, then a "Charts" sheet when the document
//! has charts: each chart's data written as a small block with a native
//! Excel chart beside it that references the block, so the chart stays live
//! if someone edits the numbers.
//!
//! Table sheets: row 1 holds the columns' `name`s (metric names, stable for
//! scripts), the pane below it is frozen and it carries an autofilter. Cells
//! are typed by their [`Cell`] variant: counts and numbers as numbers,
//! percentages as fractions with a `0.0%` format, durations as days with
//! `[h]:mm`, dates and times as Excel serial dates. `Empty` stays blank —
//! a missing median is not zero.
//!
//! Table sheets use rust_xlsxwriter's constant-memory mode: each row is
//! serialised as it is written (to an anonymous temporary file), so memory
//! does not grow with the table, and [`write_rows`] takes the rows from an
//! iterator without collecting them. Column widths are tracked while the
//! rows stream by and set at the end.

use std::collections::HashSet;

use anyhow::{Context, Result};
use rust_xlsxwriter::{
    Chart as XlsxChart, ChartFormat, ChartLine, ChartPoint, ChartSolidFill, ChartType, Color,
    Format, FormatAlign, FormatBorder, Workbook, Worksheet,
};

use crate::export::chart::palette;
use crate::export::model::{Cell, Chart, ChartKind, Column, ColumnKind, Document, Section, Table};

/// Excel's limit on a sheet name, in characters.
const SHEET_NAME_MAX: usize = 31;
/// Excel's limit on the text in one cell, in characters.
const CELL_TEXT_MAX: usize = 32_767;
/// Widest column we set, in Excel character units.
const WIDTH_MAX: f64 = 60.0;

/// The whole document as an XLSX workbook.
pub fn write(doc: &Document) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    let mut names = SheetNames::default();
    let styles = Styles::new();

    let summary = names.claim("Summary");
    let figures: Vec<(&str, &[(String, Cell)])> = doc
        .sections
        .iter()
        .filter_map(|s| match s {
            Section::Figures { title, figures } => Some((title.as_str(), figures.as_slice())),
            _ => None,
        })
        .collect();
    write_summary(
        workbook.add_worksheet(),
        &summary,
        &doc.title,
        &doc.facts,
        &figures,
        &styles,
    )?;

    for section in &doc.sections {
        if let Section::Table(Table {
            title,
            columns,
            rows,
        }) = section
        {
            let name = names.claim(title);
            let sheet = workbook
                .add_worksheet_with_constant_memory()
                .context("creating a constant-memory worksheet (is TMPDIR writable?)")?;
            write_table(sheet, &name, columns, rows.iter().cloned(), &styles)
                .with_context(|| format!("writing the table {title:?}"))?;
        }
    }

    let charts: Vec<&Chart> = doc
        .sections
        .iter()
        .filter_map(|s| match s {
            Section::Chart(chart) => Some(chart),
            _ => None,
        })
        .collect();
    if !charts.is_empty() {
        let name = names.claim("Charts");
        write_charts(workbook.add_worksheet(), &name, &charts, &styles)?;
    }

    workbook
        .save_to_buffer()
        .context("assembling the XLSX file")
}

/// One big table streamed from `rows` (nothing is collected), with a summary
/// sheet holding `title` and `facts`. For exports too large to build a
/// [`Document`] of.
pub fn write_rows(
    title: &str,
    facts: &[(String, String)],
    columns: &[Column],
    rows: impl IntoIterator<Item = Vec<Cell>>,
) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    let mut names = SheetNames::default();
    let styles = Styles::new();
    let summary = names.claim("Summary");
    write_summary(
        workbook.add_worksheet(),
        &summary,
        title,
        facts,
        &[],
        &styles,
    )?;
    let name = names.claim(title);
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .context("creating a constant-memory worksheet (is TMPDIR writable?)")?;
    write_table(sheet, &name, columns, rows, &styles)
        .with_context(|| format!("writing the table {title:?}"))?;
    workbook
        .save_to_buffer()
        .context("assembling the XLSX file")
}

/// The number formats, made once per workbook.
struct Styles {
    title: Format,
    header: Format,
    label: Format,
    count: Format,
    number: Format,
    percent: Format,
    duration: Format,
    date: Format,
    datetime: Format,
}

impl Styles {
    fn new() -> Styles {
        Styles {
            title: Format::new().set_bold().set_font_size(14),
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0xEEF1F4))
                .set_border_bottom(FormatBorder::Thin)
                .set_border_bottom_color(Color::RGB(0x9AA5B1)),
            label: Format::new().set_font_color(Color::RGB(0x525F6B)),
            count: Format::new().set_num_format("#,##0"),
            number: Format::new().set_num_format("#,##0.00"),
            percent: Format::new().set_num_format("0.0%"),
            duration: Format::new()
                .set_num_format("[h]:mm")
                .set_align(FormatAlign::Right),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm"),
        }
    }
}

/// Writes one typed cell and returns its display width in characters (for
/// the column width), or 0 for a blank.
fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    styles: &Styles,
) -> Result<usize> {
    let width = match cell {
        Cell::Empty => 0,
        Cell::Text(text) => {
            let width = text.chars().count();
            if width > CELL_TEXT_MAX {
                let cut: String = text.chars().take(CELL_TEXT_MAX).collect();
                sheet.write_string(row, col, cut)?;
                CELL_TEXT_MAX
            } else {
                sheet.write_string(row, col, text.as_str())?;
                width
            }
        }
        Cell::Count(n) => {
            sheet.write_number_with_format(row, col, *n as f64, &styles.count)?;
            grouped_digits(n.unsigned_abs()) + usize::from(*n < 0)
        }
        Cell::Number(v) => {
            if !v.is_finite() {
                return Ok(0);
            }
            sheet.write_number_with_format(row, col, *v, &styles.number)?;
            grouped_digits(v.abs() as u64) + 3 + usize::from(*v < 0.0)
        }
        Cell::Percent(p) => {
            if !p.is_finite() {
                return Ok(0);
            }
            sheet.write_number_with_format(row, col, *p / 100.0, &styles.percent)?;
            digits(p.abs() as u64) + 3 + usize::from(*p < 0.0)
        }
        Cell::Duration(seconds) => {
            sheet.write_number_with_format(
                row,
                col,
                *seconds as f64 / 86_400.0,
                &styles.duration,
            )?;
            digits(seconds.unsigned_abs() / 3600) + 3 + usize::from(*seconds < 0)
        }
        Cell::Date(date) => {
            sheet.write_datetime_with_format(row, col, date, &styles.date)?;
            10
        }
        Cell::LocalDateTime(at) => {
            sheet.write_datetime_with_format(row, col, at, &styles.datetime)?;
            16
        }
        Cell::DateTime(at) => {
            let at = at.naive_utc();
            sheet.write_datetime_with_format(row, col, at, &styles.datetime)?;
            16
        }
    };
    Ok(width)
}

fn write_summary(
    sheet: &mut Worksheet,
    name: &str,
    title: &str,
    facts: &[(String, String)],
    figures: &[(&str, &[(String, Cell)])],
    styles: &Styles,
) -> Result<()> {
    sheet.set_name(name)?;
    sheet.write_string_with_format(0, 0, title, &styles.title)?;
    let mut label_width = 12;
    let mut value_width = 12;
    let mut row = 2u32;
    for (label, value) in facts {
        sheet.write_string_with_format(row, 0, label, &styles.label)?;
        sheet.write_string(row, 1, value)?;
        label_width = label_width.max(label.chars().count());
        value_width = value_width.max(value.chars().count());
        row += 1;
    }
    for (heading, list) in figures {
        row += 1;
        sheet.write_string_with_format(row, 0, *heading, &styles.header)?;
        sheet.write_string_with_format(row, 1, "", &styles.header)?;
        row += 1;
        for (label, cell) in *list {
            sheet.write_string_with_format(row, 0, label, &styles.label)?;
            let width = write_cell(sheet, row, 1, cell, styles)?;
            label_width = label_width.max(label.chars().count());
            value_width = value_width.max(width);
            row += 1;
        }
    }
    sheet.set_column_width(0, column_width(label_width))?;
    sheet.set_column_width(1, column_width(value_width))?;
    Ok(())
}

fn write_table(
    sheet: &mut Worksheet,
    name: &str,
    columns: &[Column],
    rows: impl IntoIterator<Item = Vec<Cell>>,
    styles: &Styles,
) -> Result<()> {
    sheet.set_name(name)?;
    let last_col = u16::try_from(columns.len().saturating_sub(1))
        .context("too many columns for a worksheet")?;
    let mut widths: Vec<usize> = columns
        .iter()
        .map(|c| c.name.chars().count() + 3) // room for the filter button
        .collect();
    for (col, column) in columns.iter().enumerate() {
        let col = u16::try_from(col).context("too many columns for a worksheet")?;
        sheet.write_string_with_format(0, col, &column.name, &styles.header)?;
    }
    let mut last_row = 0u32;
    for (index, cells) in rows.into_iter().enumerate() {
        let row = u32::try_from(index + 1)
            .ok()
            .filter(|r| *r < 1_048_576)
            .context("more rows than a worksheet holds (1,048,575)")?;
        for (col, cell) in cells.iter().enumerate().take(columns.len()) {
            let width = write_cell(sheet, row, col as u16, cell, styles)?;
            if let Some(w) = widths.get_mut(col) {
                *w = (*w).max(width);
            }
        }
        last_row = row;
    }
    for (col, (width, column)) in widths.iter().zip(columns).enumerate() {
        let floor = match column.kind {
            ColumnKind::Date => 10,
            ColumnKind::DateTime => 16,
            _ => 0,
        };
        sheet.set_column_width(col as u16, column_width((*width).max(floor)))?;
    }
    if !columns.is_empty() {
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, last_row, last_col)?;
    }
    Ok(())
}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Characters of `n` written with thousands separators.
fn grouped_digits(n: u64) -> usize {
    let d = digits(n);
    d + (d - 1) / 3
}

/// Characters → Excel column width, with a little padding and a ceiling.
fn column_width(chars: usize) -> f64 {
    (chars as f64 + 2.0).min(WIDTH_MAX)
}

/// Each chart's data as a block (categories down column A, one column per
/// series) and a native chart beside it that references the block.
fn write_charts(
    sheet: &mut Worksheet,
    name: &str,
    charts: &[&Chart],
    styles: &Styles,
) -> Result<()> {
    sheet.set_name(name)?;
    let mut top = 0u32;
    let mut widest_category = 10;
    let mut series_columns = 1usize;
    for chart in charts {
        sheet.write_string_with_format(top, 0, &chart.title, &styles.title)?;
        let header = top + 1;
        sheet.write_string_with_format(header, 0, "category", &styles.header)?;
        let series: &[_] = if chart.kind == ChartKind::Donut {
            &chart.series[..chart.series.len().min(1)]
        } else {
            &chart.series
        };
        series_columns = series_columns.max(series.len());
        for (si, s) in series.iter().enumerate() {
            let col = u16::try_from(si + 1).context("too many series in a chart")?;
            sheet.write_string_with_format(header, col, &s.name, &styles.header)?;
        }
        for (ci, category) in chart.categories.iter().enumerate() {
            let row = header + 1 + u32::try_from(ci).context("too many categories")?;
            sheet.write_string(row, 0, category)?;
            widest_category = widest_category.max(category.chars().count());
            for (si, s) in series.iter().enumerate() {
                let col = u16::try_from(si + 1).context("too many series in a chart")?;
                match s.values.get(ci) {
                    Some(v) if v.is_finite() => {
                        sheet.write_number(row, col, *v)?;
                    }
                    _ => {}
                }
            }
        }
        let n = u32::try_from(chart.categories.len()).context("too many categories")?;
        let block_end = header + n;
        if n > 0 && !series.is_empty() {
            let xlsx_chart = native_chart(chart, name, header, block_end, series.len())?;
            let chart_col = u16::try_from(series.len() + 2).context("too many series")?;
            sheet.insert_chart(top, chart_col.max(4), &xlsx_chart)?;
        } else {
            sheet.write_string_with_format(header + 1, 0, "No data", &styles.label)?;
        }
        // A chart is 20 rows tall; leave a gap before the next block.
        top = block_end.max(top + 20) + 3;
    }
    sheet.set_column_width(0, column_width(widest_category))?;
    for col in 1..=series_columns {
        sheet.set_column_width(col as u16, 12)?;
    }
    Ok(())
}

fn native_chart(
    chart: &Chart,
    sheet: &str,
    header: u32,
    last_row: u32,
    series: usize,
) -> Result<XlsxChart> {
    let chart_type = match chart.kind {
        ChartKind::Line => ChartType::Line,
        ChartKind::Area => ChartType::Area,
        ChartKind::Bar => ChartType::Column,
        ChartKind::StackedBar => ChartType::ColumnStacked,
        ChartKind::Donut => ChartType::Doughnut,
    };
    let mut out = XlsxChart::new(chart_type);
    out.title().set_name(&chart.title);
    out.set_width(720).set_height(380);
    for si in 0..series {
        let col = u16::try_from(si + 1).context("too many series in a chart")?;
        let color = Color::RGB(rgb(si));
        let added = out
            .add_series()
            .set_name((sheet, header, col))
            .set_categories((sheet, header + 1, 0, last_row, 0))
            .set_values((sheet, header + 1, col, last_row, col));
        match chart.kind {
            ChartKind::Line => {
                added.set_format(
                    ChartFormat::new().set_line(ChartLine::new().set_color(color).set_width(2.25)),
                );
            }
            ChartKind::Donut => {
                let points: Vec<ChartPoint> =
                    (0..chart.categories.len())
                        .map(|i| {
                            ChartPoint::new().set_format(ChartFormat::new().set_solid_fill(
                                ChartSolidFill::new().set_color(Color::RGB(rgb(i))),
                            ))
                        })
                        .collect();
                added.set_points(&points);
                added.set_data_label(rust_xlsxwriter::ChartDataLabel::new().show_percentage());
            }
            _ => {
                added.set_format(
                    ChartFormat::new().set_solid_fill(ChartSolidFill::new().set_color(color)),
                );
            }
        }
    }
    if chart.kind != ChartKind::Donut {
        out.y_axis().set_name(&chart.y_label);
    }
    Ok(out)
}

/// The chart palette colour as 0xRRGGBB.
fn rgb(index: usize) -> u32 {
    let c = palette(index);
    (u32::from(c.0) << 16) | (u32::from(c.1) << 8) | u32::from(c.2)
}

/// Valid, unique sheet names: Excel forbids `[]:*?/\`, a leading or trailing
/// apostrophe, names over 31 characters, the reserved "History", and two
/// names that differ only in case.
#[derive(Default)]
struct SheetNames {
    taken: HashSet<String>,
}

impl SheetNames {
    fn claim(&mut self, wanted: &str) -> String {
        let cleaned: String = wanted
            .chars()
            .map(|c| match c {
                '[' | ']' | ':' | '*' | '?' | '/' | '\\' => ' ',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut base = cleaned.trim_matches('\'').trim().to_owned();
        if base.is_empty() || base.eq_ignore_ascii_case("history") {
            base = format!("{base} sheet").trim().to_owned();
        }
        let mut candidate = truncate(&base, SHEET_NAME_MAX);
        let mut n = 2;
        while self.taken.contains(&candidate.to_lowercase()) {
            let suffix = format!(" ({n})");
            let room = SHEET_NAME_MAX - suffix.chars().count();
            candidate = format!("{}{suffix}", truncate(&base, room).trim_end());
            n += 1;
        }
        self.taken.insert(candidate.to_lowercase());
        candidate
    }
}

fn truncate(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    cut.trim_end_matches('\'').to_owned()
}
