//! Each report as an export [`Document`]: typed tables, its charts and the
//! header facts (organization, period, time zone, generated at). The
//! writers (`crate::export`) read only this; CSV is the document's first
//! table, so every format shows the same numbers under the same names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::{
    desk::DeskError,
    domain::report::{Format, ReportKind},
};

use super::{
    AgentRow, AgentsReport, DashboardReport, NamedCount, ProcessesReport, Report, ReportRequest,
    SlaReport, VolumeReport,
};
use crate::export::model::{
    Cell, Chart, ChartKind, Column, ColumnKind, Document, Section, Series, Table,
};

fn col(name: &str, label: &str, kind: ColumnKind) -> Column {
    Column {
        name: name.into(),
        label: label.into(),
        kind,
    }
}

fn opt_text(v: &Option<String>) -> Cell {
    v.as_ref().map_or(Cell::Empty, |s| Cell::Text(s.clone()))
}

fn opt_duration(v: Option<i64>) -> Cell {
    v.map_or(Cell::Empty, Cell::Duration)
}

fn opt_percent(v: Option<f64>) -> Cell {
    v.map_or(Cell::Empty, Cell::Percent)
}

fn opt_number(v: Option<f64>) -> Cell {
    v.map_or(Cell::Empty, Cell::Number)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn facts(r: &ReportRequest, with_period: bool) -> Vec<(String, String)> {
    let mut out = vec![("Organization".to_string(), r.organization.clone())];
    if with_period {
        let from = r.period.from.with_timezone(&r.tz);
        let to = r.period.to.with_timezone(&r.tz);
        out.push((
            "Period".into(),
            format!(
                "{} – {} (end exclusive)",
                from.format("%Y-%m-%d %H:%M"),
                to.format("%Y-%m-%d %H:%M")
            ),
        ));
    }
    out.push(("Time zone".into(), r.tz.name().to_string()));
    out.push(("Generated at".into(), stamp(r.generated_at)));
    out
}

/// The formats the API and the CLI write (both refuse other names, listing
/// these).
pub const FORMATS: [&str; 6] = ["json", "csv", "xlsx", "pdf", "png", "svg"];

/// CSV rows per chunk of a streamed export.
const CSV_CHUNK_ROWS: usize = 1_000;

/// Parses `format` (JSON when absent); an unknown name is refused, naming
/// what it accepts.
pub fn parse_format(value: Option<&str>) -> Result<Format, String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Format::Json);
    };
    Format::parse(v).map_err(|_| {
        format!(
            "`format`: unknown value `{v}`; accepts {}",
            FORMATS.join(", ")
        )
    })
}

/// A table as CSV: the header row (the columns' metric names) and then the
/// rows, in chunks encoded one at a time as the iterator is read.
pub fn csv_chunks(table: Table) -> impl Iterator<Item = Result<Vec<u8>, csv::Error>> {
    let mut header = Some(
        table
            .columns
            .into_iter()
            .map(|c| c.name)
            .collect::<Vec<_>>(),
    );
    let mut rows = table.rows.into_iter();
    std::iter::from_fn(move || {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut wrote = false;
        if let Some(h) = header.take() {
            if let Err(e) = writer.write_record(&h) {
                return Some(Err(e));
            }
            wrote = true;
        }
        for row in rows.by_ref().take(CSV_CHUNK_ROWS) {
            if let Err(e) = writer.write_record(row.iter().map(cell_text)) {
                return Some(Err(e));
            }
            wrote = true;
        }
        if !wrote {
            return None;
        }
        Some(writer.into_inner().map_err(|e| e.into_error().into()))
    })
}

/// The document of any report.
pub fn document(request: &ReportRequest, report: &Report) -> Document {
    match report {
        Report::Dashboard(d) => dashboard(request, d),
        Report::Volume(v) => volume(request, v),
        Report::Sla(s) => sla(request, s),
        Report::Agents(a) => agents(request, a),
        Report::Processes(p) => processes(request, p),
    }
}

/// A report written in one of the binary formats: the workbook, the PDF, or
/// the report's chart (its first) as PNG or SVG. CPU work of up to a
/// second on a big report: callers on the async runtime run it on a
/// blocking thread.
pub fn export_bytes(format: Format, doc: &Document) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let chart =
        || main_chart(doc).with_context(|| format!("the report `{}` has no chart", doc.title));
    match format {
        Format::Xlsx => crate::export::xlsx::write(doc),
        Format::Pdf => crate::export::pdf::write(doc),
        Format::Png => crate::export::chart::png(chart()?),
        Format::Svg => crate::export::chart::svg(chart()?).map(String::into_bytes),
        Format::Csv => {
            let table = main_table(doc)
                .cloned()
                .with_context(|| format!("the report `{}` has no table", doc.title))?;
            let mut out = Vec::new();
            for chunk in csv_chunks(table) {
                out.extend(chunk.context("encoding CSV")?);
            }
            Ok(out)
        }
        Format::Json => anyhow::bail!("JSON is written by the caller"),
    }
}

/// Rows of the main table a summary lists before it says "and N more".
const SUMMARY_ROWS: usize = 8;

/// A report in a few plain lines, for a mail body or a chat message: the
/// title and period, the key figures, else the main table's first rows.
pub fn summary_text(doc: &Document) -> String {
    use crate::export::pdf::display;
    let mut lines = vec![doc.title.clone()];
    lines.extend(
        doc.facts
            .iter()
            .filter(|(name, _)| name == "Period" || name == "Time zone")
            .map(|(name, value)| format!("{name}: {value}")),
    );
    let figures: Vec<String> = doc
        .sections
        .iter()
        .filter_map(|s| match s {
            Section::Figures { figures, .. } => Some(figures),
            _ => None,
        })
        .flatten()
        .map(|(name, value)| format!("• {name}: {}", display(value)))
        .collect();
    if !figures.is_empty() {
        lines.extend(figures);
    } else if let Some(table) = main_table(doc) {
        if table.rows.is_empty() {
            lines.push("No tickets in this period.".into());
        }
        for row in table.rows.iter().take(SUMMARY_ROWS) {
            let parts: Vec<String> = table
                .columns
                .iter()
                .zip(row)
                .filter(|(_, cell)| !matches!(cell, Cell::Empty))
                .map(|(column, cell)| match (column.kind, cell) {
                    (ColumnKind::Text, _) => display(cell),
                    _ => format!("{} {}", column.label, display(cell)),
                })
                .collect();
            lines.push(format!("• {}", parts.join(" · ")));
        }
        if table.rows.len() > SUMMARY_ROWS {
            lines.push(format!(
                "… and {} more rows",
                table.rows.len() - SUMMARY_ROWS
            ));
        }
    }
    lines.join("\n")
}

/// A report written as a file to download.
pub struct ExportedFile {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub name: String,
}

/// [`export_bytes`] on a blocking thread, with the file's media type and
/// name: what the API and the console send for a binary format.
pub async fn export_file(
    kind: ReportKind,
    format: Format,
    request: &ReportRequest,
    report: &Report,
) -> Result<ExportedFile, DeskError> {
    let doc = document(request, report);
    let bytes = tokio::task::spawn_blocking(move || export_bytes(format, &doc))
        .await
        .map_err(|e| DeskError::Internal(anyhow::anyhow!("writing the {format}: {e}")))?
        .map_err(DeskError::Internal)?;
    Ok(ExportedFile {
        bytes,
        content_type: content_type(format),
        name: file_name(kind, request, format.as_str()),
    })
}

/// `volume-2026-11-01-2026-12-01.csv`, dates local to the report's zone.
pub fn file_name(kind: ReportKind, request: &ReportRequest, extension: &str) -> String {
    let day = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&request.tz).format("%Y-%m-%d");
    if kind == ReportKind::Dashboard {
        format!("dashboard-{}.{extension}", day(request.generated_at))
    } else {
        format!(
            "{kind}-{}-{}.{extension}",
            day(request.period.from),
            day(request.period.to)
        )
    }
}

/// The media type of a format's bytes.
pub fn content_type(format: Format) -> &'static str {
    match format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Format::Pdf => "application/pdf",
        Format::Png => "image/png",
        Format::Svg => "image/svg+xml",
    }
}

/// The chart PNG and SVG show: the document's first.
pub fn main_chart(doc: &Document) -> Option<&Chart> {
    doc.sections.iter().find_map(|s| match s {
        Section::Chart(c) => Some(c),
        _ => None,
    })
}

/// The table CSV writes: the document's first.
pub fn main_table(doc: &Document) -> Option<&Table> {
    doc.sections.iter().find_map(|s| match s {
        Section::Table(t) => Some(t),
        _ => None,
    })
}

/// A cell as CSV text: numbers plain (durations in seconds, percentages
/// 0–100), instants RFC 3339, missing values empty.
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Count(n) | Cell::Duration(n) => n.to_string(),
        Cell::Number(x) | Cell::Percent(x) => x.to_string(),
        Cell::Date(d) => d.to_string(),
        Cell::LocalDateTime(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        Cell::DateTime(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    }
}

fn long_table(title: &str, rows: Vec<(String, Option<String>, f64)>) -> Table {
    Table {
        title: title.into(),
        columns: vec![
            col("metric", "Metric", ColumnKind::Text),
            col("group", "Group", ColumnKind::Text),
            col("value", "Value", ColumnKind::Number),
        ],
        rows: rows
            .into_iter()
            .map(|(m, g, v)| vec![Cell::Text(m), opt_text(&g), Cell::Number(v)])
            .collect(),
    }
}

fn breakdown(metric: &str, counts: &[NamedCount], out: &mut Vec<(String, Option<String>, f64)>) {
    for c in counts {
        out.push((metric.to_string(), c.name.clone(), c.count as f64));
    }
}

fn dashboard(r: &ReportRequest, d: &DashboardReport) -> Document {
    let mut rows = vec![
        ("open".to_string(), None, d.open as f64),
        ("unassigned".into(), None, d.unassigned as f64),
        ("created_today".into(), None, d.created.today as f64),
        (
            "created_last_7_days".into(),
            None,
            d.created.last_7_days as f64,
        ),
        ("resolved_today".into(), None, d.resolved.today as f64),
        (
            "resolved_last_7_days".into(),
            None,
            d.resolved.last_7_days as f64,
        ),
        ("sla_at_risk".into(), None, d.sla_at_risk as f64),
        ("sla_breached".into(), None, d.sla_breached as f64),
        ("ratings".into(), None, d.ratings as f64),
    ];
    if let Some(avg) = d.average_satisfaction {
        rows.push(("average_satisfaction".into(), None, avg));
    }
    if let Some(o) = &d.oldest_open {
        rows.push((
            "oldest_open_age_seconds".into(),
            Some(o.number.clone()),
            o.age_seconds as f64,
        ));
    }
    breakdown("open_by_state", &d.open_by_state, &mut rows);
    breakdown("open_by_priority", &d.open_by_priority, &mut rows);
    breakdown("open_by_kind", &d.open_by_kind, &mut rows);
    breakdown("open_by_team", &d.open_by_team, &mut rows);
    breakdown("top_categories", &d.top_categories, &mut rows);
    let names = |c: &[NamedCount]| -> Vec<String> {
        c.iter()
            .map(|c| c.name.clone().unwrap_or_else(|| "(none)".into()))
            .collect()
    };
    let values = |c: &[NamedCount]| -> Vec<f64> { c.iter().map(|c| c.count as f64).collect() };
    let mut figures = vec![
        ("Open".to_string(), Cell::Count(d.open)),
        ("Unassigned".into(), Cell::Count(d.unassigned)),
        ("Created today".into(), Cell::Count(d.created.today)),
        ("Resolved today".into(), Cell::Count(d.resolved.today)),
        ("SLA at risk".into(), Cell::Count(d.sla_at_risk)),
        ("SLA breached".into(), Cell::Count(d.sla_breached)),
        (
            "Average satisfaction".into(),
            opt_number(d.average_satisfaction),
        ),
    ];
    if let Some(o) = &d.oldest_open {
        figures.push((
            format!("Oldest open ({})", o.number),
            Cell::DateTime(o.created_at),
        ));
    }
    Document {
        title: "Dashboard".into(),
        facts: facts(r, false),
        sections: vec![
            Section::Table(long_table("Dashboard", rows)),
            Section::Figures {
                title: "Now".into(),
                figures,
            },
            Section::Chart(Chart {
                title: "Open tickets by state".into(),
                kind: ChartKind::Donut,
                categories: names(&d.open_by_state),
                series: vec![Series {
                    name: "open".into(),
                    values: values(&d.open_by_state),
                }],
                y_label: "tickets".into(),
            }),
            Section::Chart(Chart {
                title: "Open tickets by priority".into(),
                kind: ChartKind::Bar,
                categories: names(&d.open_by_priority),
                series: vec![Series {
                    name: "open".into(),
                    values: values(&d.open_by_priority),
                }],
                y_label: "tickets".into(),
            }),
        ],
    }
}

fn volume(r: &ReportRequest, v: &VolumeReport) -> Document {
    let grouped = v.group_by != "none";
    let mut columns = vec![col("bucket", "Bucket", ColumnKind::Date)];
    if grouped {
        columns.push(col(&v.group_by, &v.group_by, ColumnKind::Text));
    }
    for (name, label) in [
        ("created", "Created"),
        ("resolved", "Resolved"),
        ("reopened", "Reopened"),
        ("backlog", "Backlog"),
    ] {
        columns.push(col(name, label, ColumnKind::Count));
    }
    let rows = v
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![Cell::Date(row.bucket)];
            if grouped {
                cells.push(opt_text(&row.group));
            }
            cells.extend([
                Cell::Count(row.created),
                Cell::Count(row.resolved),
                Cell::Count(row.reopened),
                Cell::Count(row.backlog),
            ]);
            cells
        })
        .collect();
    // Per bucket over all groups, in bucket order.
    let mut per_bucket = BTreeMap::<chrono::NaiveDate, [i64; 4]>::new();
    let mut per_group = BTreeMap::<Option<String>, BTreeMap<chrono::NaiveDate, i64>>::new();
    for row in &v.rows {
        let e = per_bucket.entry(row.bucket).or_default();
        e[0] += row.created;
        e[1] += row.resolved;
        e[2] += row.reopened;
        e[3] += row.backlog;
        *per_group
            .entry(row.group.clone())
            .or_default()
            .entry(row.bucket)
            .or_default() += row.created;
    }
    let categories: Vec<String> = per_bucket.keys().map(ToString::to_string).collect();
    let series = |i: usize, name: &str| Series {
        name: name.into(),
        values: per_bucket.values().map(|c| c[i] as f64).collect(),
    };
    let mut sections = vec![
        Section::Table(Table {
            title: "Volume".into(),
            columns,
            rows,
        }),
        Section::Figures {
            title: "Totals".into(),
            figures: vec![
                ("Created".into(), Cell::Count(v.totals.created)),
                ("Resolved".into(), Cell::Count(v.totals.resolved)),
                ("Reopened".into(), Cell::Count(v.totals.reopened)),
                (
                    "Backlog at start".into(),
                    Cell::Count(v.totals.opening_backlog),
                ),
                ("Backlog at end".into(), Cell::Count(v.totals.backlog)),
            ],
        },
        Section::Chart(Chart {
            title: "Created and resolved".into(),
            kind: ChartKind::Line,
            categories: categories.clone(),
            series: vec![
                series(0, "created"),
                series(1, "resolved"),
                series(2, "reopened"),
            ],
            y_label: "tickets".into(),
        }),
        Section::Chart(Chart {
            title: "Backlog".into(),
            kind: ChartKind::Area,
            categories: categories.clone(),
            series: vec![series(3, "backlog")],
            y_label: "open tickets".into(),
        }),
    ];
    if grouped {
        sections.push(Section::Chart(Chart {
            title: format!("Created by {}", v.group_by),
            kind: ChartKind::StackedBar,
            categories,
            series: per_group
                .into_iter()
                .map(|(group, counts)| Series {
                    name: group.unwrap_or_else(|| "(none)".into()),
                    values: per_bucket
                        .keys()
                        .map(|b| counts.get(b).copied().unwrap_or(0) as f64)
                        .collect(),
                })
                .collect(),
            y_label: "tickets".into(),
        }));
    }
    Document {
        title: "Ticket volume".into(),
        facts: facts(r, true),
        sections,
    }
}

fn sla(r: &ReportRequest, s: &SlaReport) -> Document {
    let rows = s
        .rows
        .iter()
        .map(|row| {
            vec![
                opt_text(&row.group),
                Cell::Text(row.target.clone()),
                Cell::Count(row.met),
                Cell::Count(row.breached),
                Cell::Count(row.in_progress),
                opt_percent(row.percent_met),
                opt_duration(row.median_business_seconds),
                opt_duration(row.p90_business_seconds),
            ]
        })
        .collect();
    let groups: Vec<Option<String>> = {
        let mut g: Vec<Option<String>> = s.rows.iter().map(|r| r.group.clone()).collect();
        g.dedup();
        g
    };
    let mut targets: Vec<String> = s.rows.iter().map(|r| r.target.clone()).collect();
    targets.sort();
    targets.dedup();
    let series = targets
        .iter()
        .map(|t| Series {
            name: t.clone(),
            values: groups
                .iter()
                .map(|g| {
                    s.rows
                        .iter()
                        .find(|r| &r.group == g && &r.target == t)
                        .and_then(|r| r.percent_met)
                        .unwrap_or(0.0)
                })
                .collect(),
        })
        .collect();
    Document {
        title: "SLA compliance".into(),
        facts: facts(r, true),
        sections: vec![
            Section::Table(Table {
                title: format!("SLA by {}", s.group_by),
                columns: vec![
                    col(&s.group_by, &s.group_by, ColumnKind::Text),
                    col("target", "Target", ColumnKind::Text),
                    col("met", "Met", ColumnKind::Count),
                    col("breached", "Breached", ColumnKind::Count),
                    col("in_progress", "In progress", ColumnKind::Count),
                    col("percent_met", "% met", ColumnKind::Percent),
                    col(
                        "median_business_seconds",
                        "Median (business)",
                        ColumnKind::Duration,
                    ),
                    col(
                        "p90_business_seconds",
                        "p90 (business)",
                        ColumnKind::Duration,
                    ),
                ],
                rows,
            }),
            Section::Chart(Chart {
                title: "SLA % met".into(),
                kind: ChartKind::Bar,
                categories: groups
                    .into_iter()
                    .map(|g| g.unwrap_or_else(|| "(none)".into()))
                    .collect(),
                series,
                y_label: "% met".into(),
            }),
        ],
    }
}

fn agent_cells(kind: &str, a: &AgentRow) -> Vec<Cell> {
    vec![
        Cell::Text(kind.into()),
        a.id.map_or(Cell::Empty, |id| Cell::Text(id.to_string())),
        opt_text(&a.name),
        Cell::Count(a.assigned),
        Cell::Count(a.resolved),
        Cell::Count(a.reopened),
        opt_duration(a.median_first_response_seconds),
        opt_duration(a.p90_first_response_seconds),
        opt_duration(a.median_first_response_business_seconds),
        opt_duration(a.p90_first_response_business_seconds),
        opt_duration(a.median_resolution_seconds),
        opt_duration(a.p90_resolution_seconds),
        opt_duration(a.median_resolution_business_seconds),
        opt_duration(a.p90_resolution_business_seconds),
        opt_percent(a.sla_percent_met),
        opt_number(a.average_satisfaction),
        Cell::Count(a.open),
        Cell::Count(a.time_logged_minutes),
        Cell::Count(a.billable_minutes),
    ]
}

fn agents(r: &ReportRequest, a: &AgentsReport) -> Document {
    use ColumnKind::{Count, Duration, Number, Percent, Text};
    let columns = vec![
        col("row_type", "Agent or team", Text),
        col("id", "Id", Text),
        col("name", "Name", Text),
        col("assigned", "Assigned", Count),
        col("resolved", "Resolved", Count),
        col("reopened", "Reopened", Count),
        col(
            "median_first_response_seconds",
            "Median first response",
            Duration,
        ),
        col("p90_first_response_seconds", "p90 first response", Duration),
        col(
            "median_first_response_business_seconds",
            "Median first response (business)",
            Duration,
        ),
        col(
            "p90_first_response_business_seconds",
            "p90 first response (business)",
            Duration,
        ),
        col("median_resolution_seconds", "Median resolution", Duration),
        col("p90_resolution_seconds", "p90 resolution", Duration),
        col(
            "median_resolution_business_seconds",
            "Median resolution (business)",
            Duration,
        ),
        col(
            "p90_resolution_business_seconds",
            "p90 resolution (business)",
            Duration,
        ),
        col("sla_percent_met", "SLA % met", Percent),
        col("average_satisfaction", "Satisfaction", Number),
        col("open", "Open", Count),
        col("time_logged_minutes", "Time logged (min)", Count),
        col("billable_minutes", "Billable (min)", Count),
    ];
    let rows = a
        .agents
        .iter()
        .map(|x| agent_cells("agent", x))
        .chain(a.teams.iter().map(|x| agent_cells("team", x)))
        .collect();
    let label = |x: &AgentRow| x.name.clone().unwrap_or_else(|| "(unassigned)".into());
    Document {
        title: "Agent performance".into(),
        facts: facts(r, true),
        sections: vec![
            Section::Table(Table {
                title: "Agents and teams".into(),
                columns,
                rows,
            }),
            Section::Chart(Chart {
                title: "Resolved per agent".into(),
                kind: ChartKind::Bar,
                categories: a.agents.iter().map(label).collect(),
                series: vec![
                    Series {
                        name: "resolved".into(),
                        values: a.agents.iter().map(|x| x.resolved as f64).collect(),
                    },
                    Series {
                        name: "open".into(),
                        values: a.agents.iter().map(|x| x.open as f64).collect(),
                    },
                ],
                y_label: "tickets".into(),
            }),
        ],
    }
}

fn processes(r: &ReportRequest, p: &ProcessesReport) -> Document {
    let mut rows: Vec<(String, Option<String>, f64)> = Vec::new();
    for m in &p.mean_time_to_resolve {
        rows.push((
            "resolved".into(),
            Some(m.priority.clone()),
            m.resolved as f64,
        ));
        rows.push((
            "mean_time_to_resolve_seconds".into(),
            Some(m.priority.clone()),
            m.mean_seconds as f64,
        ));
        rows.push((
            "mean_time_to_resolve_business_seconds".into(),
            Some(m.priority.clone()),
            m.mean_business_seconds as f64,
        ));
    }
    rows.push(("problems".into(), None, p.problems as f64));
    rows.push(("linked_incidents".into(), None, p.linked_incidents as f64));
    if let Some(x) = p.incidents_per_problem {
        rows.push(("incidents_per_problem".into(), None, x));
    }
    rows.push(("changes_reviewed".into(), None, p.changes_reviewed as f64));
    rows.push((
        "changes_successful".into(),
        None,
        p.changes_successful as f64,
    ));
    rows.push(("changes_failed".into(), None, p.changes_failed as f64));
    if let Some(x) = p.change_success_percent {
        rows.push(("change_success_percent".into(), None, x));
    }
    rows.push(("changes_created".into(), None, p.changes_created as f64));
    rows.push(("emergency_changes".into(), None, p.emergency_changes as f64));
    if let Some(x) = p.emergency_percent {
        rows.push(("emergency_percent".into(), None, x));
    }
    Document {
        title: "Processes".into(),
        facts: facts(r, true),
        sections: vec![
            Section::Table(long_table("Processes", rows)),
            Section::Table(Table {
                title: "Mean time to resolve by priority".into(),
                columns: vec![
                    col("priority", "Priority", ColumnKind::Text),
                    col("resolved", "Resolved", ColumnKind::Count),
                    col("mean_seconds", "Mean", ColumnKind::Duration),
                    col(
                        "mean_business_seconds",
                        "Mean (business)",
                        ColumnKind::Duration,
                    ),
                ],
                rows: p
                    .mean_time_to_resolve
                    .iter()
                    .map(|m| {
                        vec![
                            Cell::Text(m.priority.clone()),
                            Cell::Count(m.resolved),
                            Cell::Duration(m.mean_seconds),
                            Cell::Duration(m.mean_business_seconds),
                        ]
                    })
                    .collect(),
            }),
            Section::Figures {
                title: "Problems and changes".into(),
                figures: vec![
                    (
                        "Incidents per problem".into(),
                        opt_number(p.incidents_per_problem),
                    ),
                    (
                        "Change success".into(),
                        opt_percent(p.change_success_percent),
                    ),
                    ("Emergency changes".into(), opt_percent(p.emergency_percent)),
                ],
            },
            Section::Chart(Chart {
                title: "Mean time to resolve (hours)".into(),
                kind: ChartKind::Bar,
                categories: p
                    .mean_time_to_resolve
                    .iter()
                    .map(|m| m.priority.clone())
                    .collect(),
                series: vec![Series {
                    name: "hours".into(),
                    values: p
                        .mean_time_to_resolve
                        .iter()
                        .map(|m| m.mean_seconds as f64 / 3600.0)
                        .collect(),
                }],
                y_label: "hours".into(),
            }),
        ],
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::{
        desk::reports::{VolumeRow, VolumeTotals},
        domain::report::{Interval, Period, SlaGroup, VolumeGroup},
        store::reports::Filters,
    };

    fn request() -> ReportRequest {
        let from = Utc
            .with_ymd_and_hms(2026, 10, 24, 23, 0, 0)
            .single()
            .expect("from");
        let to = Utc
            .with_ymd_and_hms(2026, 10, 27, 0, 0, 0)
            .single()
            .expect("to");
        ReportRequest {
            org_id: uuid::Uuid::from_u128(1),
            organization: "Acme".into(),
            tz: "Europe/London".parse().expect("zone"),
            period: Period::new(from, to).expect("period"),
            interval: Interval::Day,
            volume_group: VolumeGroup::Team,
            sla_group: SlaGroup::Policy,
            filters: Filters::default(),
            generated_at: to,
        }
    }

    fn row(day: u32, group: &str, created: i64, resolved: i64, backlog: i64) -> VolumeRow {
        let bucket = NaiveDate::from_ymd_opt(2026, 10, day).expect("date");
        VolumeRow {
            bucket,
            start: Utc.from_utc_datetime(&bucket.and_time(chrono::NaiveTime::MIN)),
            end: Utc.from_utc_datetime(&bucket.and_time(chrono::NaiveTime::MIN)),
            group: Some(group.into()),
            created,
            resolved,
            reopened: 0,
            backlog,
        }
    }

    #[test]
    fn a_volume_document_has_metric_columns_a_trend_a_backlog_and_stacked_groups() {
        let report = VolumeReport {
            organization: "Acme".into(),
            time_zone: "Europe/London".into(),
            from: request().period.from,
            to: request().period.to,
            interval: "day".into(),
            group_by: "team".into(),
            totals: VolumeTotals {
                created: 6,
                resolved: 3,
                reopened: 0,
                opening_backlog: 0,
                backlog: 3,
            },
            rows: vec![
                row(25, "Network", 2, 1, 1),
                row(25, "Service Desk", 1, 0, 1),
                row(26, "Network", 3, 2, 2),
                row(26, "Service Desk", 0, 0, 1),
            ],
        };
        let doc = document(&request(), &Report::Volume(report));
        let facts: Vec<&str> = doc.facts.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            facts,
            ["Organization", "Period", "Time zone", "Generated at"]
        );
        assert_eq!(
            doc.facts[1].1,
            "2026-10-25 00:00 – 2026-10-27 00:00 (end exclusive)"
        );
        let table = main_table(&doc).expect("table");
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["bucket", "team", "created", "resolved", "reopened", "backlog"]
        );
        assert_eq!(table.rows.len(), 4);
        let charts: Vec<(ChartKind, Vec<f64>)> = doc
            .sections
            .iter()
            .filter_map(|s| match s {
                Section::Chart(c) => Some((c.kind, c.series[0].values.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(charts[0], (ChartKind::Line, vec![3.0, 3.0]));
        assert_eq!(charts[1], (ChartKind::Area, vec![2.0, 3.0]));
        assert_eq!(charts[2], (ChartKind::StackedBar, vec![2.0, 3.0]));
    }

    #[test]
    fn unknown_formats_are_refused_naming_the_six() {
        assert_eq!(parse_format(None), Ok(Format::Json));
        assert_eq!(parse_format(Some("CSV")), Ok(Format::Csv));
        assert_eq!(parse_format(Some("pdf")), Ok(Format::Pdf));
        for name in FORMATS {
            assert_eq!(parse_format(Some(name)).map(Format::as_str), Ok(name));
        }
        let err = parse_format(Some("docx")).expect_err("unknown");
        assert!(err.starts_with("`format`: unknown value `docx`"));
        assert!(err.ends_with("json, csv, xlsx, pdf, png, svg"), "{err}");
    }

    #[test]
    fn cells_read_as_plain_csv_values() {
        assert_eq!(cell_text(&Cell::Empty), "");
        assert_eq!(cell_text(&Cell::Duration(3600)), "3600");
        assert_eq!(cell_text(&Cell::Percent(93.5)), "93.5");
        assert_eq!(
            cell_text(&Cell::Date(
                NaiveDate::from_ymd_opt(2026, 3, 8).expect("date")
            )),
            "2026-03-08"
        );
    }

    #[test]
    fn a_dashboard_document_shows_open_tickets_by_state_as_a_donut() {
        let d = DashboardReport {
            organization: "Acme".into(),
            time_zone: "UTC".into(),
            generated_at: request().generated_at,
            open: 3,
            unassigned: 1,
            open_by_state: vec![
                NamedCount {
                    name: Some("new".into()),
                    count: 2,
                },
                NamedCount {
                    name: Some("in_progress".into()),
                    count: 1,
                },
            ],
            open_by_priority: vec![NamedCount {
                name: Some("p3".into()),
                count: 3,
            }],
            open_by_kind: vec![],
            open_by_team: vec![NamedCount {
                name: None,
                count: 3,
            }],
            created: super::super::SinceCounts {
                today: 1,
                last_7_days: 3,
            },
            resolved: super::super::SinceCounts {
                today: 0,
                last_7_days: 0,
            },
            sla_at_risk: 0,
            sla_breached: 1,
            oldest_open: None,
            average_satisfaction: None,
            ratings: 0,
            top_categories: vec![],
        };
        let doc = document(&request(), &Report::Dashboard(d));
        let donut = doc.sections.iter().find_map(|s| match s {
            Section::Chart(c) if c.kind == ChartKind::Donut => Some(c),
            _ => None,
        });
        let donut = donut.expect("donut");
        assert_eq!(donut.categories, ["new", "in_progress"]);
        assert_eq!(donut.series[0].values, [2.0, 1.0]);
        let table = main_table(&doc).expect("table");
        assert!(table
            .rows
            .iter()
            .any(|r| r[0] == Cell::Text("open_by_team".into()) && r[1] == Cell::Empty));
    }
}
