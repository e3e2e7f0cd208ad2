//! The report document: what every export format (XLSX, PDF, SVG, PNG) reads.
//!
//! Reports (`desk::reports`) build a [`Document`]; the writers in this folder
//! turn it into bytes. The model knows nothing of tickets or SLAs: a document
//! is a title, header facts, and sections of tables, charts and key figures.
//! This file is the contract between the two sides; add to it, don't reshape it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// One report, ready to be written in any format.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// e.g. "Ticket volume".
    pub title: String,
    /// Header facts in display order: ("Organization", "Acme"), ("Period",
    /// "2026-11-01 – 2026-12-01"), ("Time zone", "Europe/London"),
    /// ("Generated at", "2026-12-06 20:41 UTC").
    pub facts: Vec<(String, String)>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Section {
    /// Key figures shown as a short list ("Open tickets: 42").
    Figures {
        title: String,
        figures: Vec<(String, Cell)>,
    },
    Table(Table),
    Chart(Chart),
}

/// A table with typed columns. In CSV and XLSX the header row is the
/// columns' `name`s (the metric names: `created`, `resolved`, …); PDF
/// shows their `label`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Machine name, stable for scripts: `created`, `p90_resolution_seconds`.
    pub name: String,
    /// Human heading: "Created", "p90 resolution".
    pub label: String,
    pub kind: ColumnKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    /// Whole numbers.
    Count,
    /// Numbers with decimals (averages, ratios that are not percentages).
    Number,
    /// 0–100.
    Percent,
    /// Seconds; XLSX shows them as a duration ([h]:mm), PDF as "3h 20m".
    Duration,
    Date,
    DateTime,
}

/// One value. `Empty` is a missing value (no tickets to take a median of),
/// never zero.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Count(i64),
    Number(f64),
    /// 0–100.
    Percent(f64),
    /// Seconds.
    Duration(i64),
    Date(NaiveDate),
    /// A local date and time in the report's time zone.
    LocalDateTime(NaiveDateTime),
    DateTime(DateTime<Utc>),
}

/// A chart over categories (x axis labels or donut slices) and series.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub kind: ChartKind,
    /// x axis labels (Line, Area, Bar, StackedBar) or slice names (Donut).
    pub categories: Vec<String>,
    /// Each series has one value per category. A Donut reads its first series.
    pub series: Vec<Series>,
    /// e.g. "tickets", "% met".
    pub y_label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Trends (volume per bucket).
    Line,
    /// Backlog over time.
    Area,
    Bar,
    /// By priority per bucket.
    StackedBar,
    /// By state.
    Donut,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}
