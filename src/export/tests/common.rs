//! A sample report shared by the export tests and the examples (which
//! include this file by path, with `crate::export` aliased to the library).
#![allow(dead_code)]

use crate::export::model::{
    Cell, Chart, ChartKind, Column, ColumnKind, Document, Section, Series, Table,
};
use chrono::{Duration, NaiveDate, TimeZone, Utc};

pub fn column(name: &str, label: &str, kind: ColumnKind) -> Column {
    Column {
        name: name.to_owned(),
        label: label.to_owned(),
        kind,
    }
}

pub fn facts() -> Vec<(String, String)> {
    [
        ("Organization", "Acme"),
        ("Period", "2026-08-01 – 2026-12-01"),
        ("Time zone", "Europe/London"),
        ("Generated at", "2026-12-06 20:41 UTC"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn daily_columns() -> Vec<Column> {
    vec![
        column("day", "Day", ColumnKind::Date),
        column("team", "Team", ColumnKind::Text),
        column("created", "Created", ColumnKind::Count),
        column("resolved", "Resolved", ColumnKind::Count),
        column("backlog", "Backlog", ColumnKind::Count),
        column("sla_met_percent", "SLA met", ColumnKind::Percent),
        column(
            "median_resolution_seconds",
            "Median resolution",
            ColumnKind::Duration,
        ),
        column("avg_satisfaction", "Satisfaction", ColumnKind::Number),
        column("oldest_open_at", "Oldest open", ColumnKind::DateTime),
    ]
}

pub fn daily_row(i: usize) -> Vec<Cell> {
    let start = NaiveDate::from_ymd_opt(2026, 8, 1).expect("valid date");
    let day = start + Duration::days(i as i64);
    let created = 40 + (i * 7 % 23) as i64;
    let resolved = 38 + (i * 5 % 21) as i64;
    let oldest = Utc
        .with_ymd_and_hms(2026, 7, 20, 9, 30, 0)
        .single()
        .expect("valid time")
        + Duration::hours(i as i64 * 6);
    vec![
        Cell::Date(day),
        Cell::Text(["Network", "Service desk", "Applications"][i % 3].to_owned()),
        Cell::Count(created),
        Cell::Count(resolved),
        Cell::Count(120 + (i as i64 % 17) * 3),
        Cell::Percent(90.0 + (i % 10) as f64 * 0.5),
        Cell::Duration(3 * 3600 + 20 * 60 + (i as i64 % 5) * 600),
        if i % 11 == 4 {
            Cell::Empty
        } else {
            Cell::Number(4.0 + (i % 9) as f64 / 10.0)
        },
        Cell::DateTime(oldest),
    ]
}

pub fn days(n: usize) -> Vec<String> {
    let start = NaiveDate::from_ymd_opt(2026, 8, 1).expect("valid date");
    (0..n)
        .map(|i| {
            (start + Duration::days(i as i64))
                .format("%d %b")
                .to_string()
        })
        .collect()
}

pub fn volume_chart(n: usize) -> Chart {
    Chart {
        title: "Ticket volume".to_owned(),
        kind: ChartKind::Line,
        categories: days(n),
        series: vec![
            Series {
                name: "Created".to_owned(),
                values: (0..n).map(|i| 40.0 + (i * 7 % 23) as f64).collect(),
            },
            Series {
                name: "Resolved".to_owned(),
                values: (0..n).map(|i| 38.0 + (i * 5 % 21) as f64).collect(),
            },
        ],
        y_label: "tickets".to_owned(),
    }
}

pub fn backlog_chart(n: usize) -> Chart {
    Chart {
        title: "Backlog".to_owned(),
        kind: ChartKind::Area,
        categories: days(n),
        series: vec![Series {
            name: "Open at end of day".to_owned(),
            values: (0..n).map(|i| 120.0 + (i % 17) as f64 * 3.0).collect(),
        }],
        y_label: "tickets".to_owned(),
    }
}

pub fn priority_chart() -> Chart {
    let weeks: Vec<String> = (31..=44).map(|w| format!("W{w}")).collect();
    let n = weeks.len();
    let series = ["P1 critical", "P2 high", "P3 medium", "P4 low"]
        .iter()
        .enumerate()
        .map(|(p, name)| Series {
            name: name.to_string(),
            values: (0..n)
                .map(|i| (4 + p * 9 + (i * (p + 3)) % 11) as f64)
                .collect(),
        })
        .collect();
    Chart {
        title: "Created by priority".to_owned(),
        kind: ChartKind::StackedBar,
        categories: weeks,
        series,
        y_label: "tickets".to_owned(),
    }
}

pub fn state_chart() -> Chart {
    Chart {
        title: "Open tickets by state".to_owned(),
        kind: ChartKind::Donut,
        categories: [
            "New",
            "Assigned",
            "In progress",
            "Waiting on customer",
            "On hold",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        series: vec![Series {
            name: "Open".to_owned(),
            values: vec![18.0, 42.0, 35.0, 21.0, 4.0],
        }],
        y_label: "open tickets".to_owned(),
    }
}

pub fn sla_chart() -> Chart {
    Chart {
        title: "SLA met by team".to_owned(),
        kind: ChartKind::Bar,
        categories: ["Network", "Service desk", "Applications", "Security"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        series: vec![
            Series {
                name: "First response".to_owned(),
                values: vec![96.5, 91.0, 88.2, 99.0],
            },
            Series {
                name: "Resolution".to_owned(),
                values: vec![92.1, 85.4, 79.9, 97.3],
            },
        ],
        y_label: "% met".to_owned(),
    }
}

/// A report of `days` daily rows with figures and four charts.
pub fn sample_document(days: usize) -> Document {
    Document {
        title: "Ticket volume".to_owned(),
        facts: facts(),
        sections: vec![
            Section::Figures {
                title: "Key figures".to_owned(),
                figures: vec![
                    ("Open tickets".to_owned(), Cell::Count(1_204)),
                    ("SLA met".to_owned(), Cell::Percent(93.5)),
                    ("Median resolution".to_owned(), Cell::Duration(12_000)),
                    ("Average satisfaction".to_owned(), Cell::Number(4.25)),
                    (
                        "Oldest open ticket".to_owned(),
                        Cell::Date(NaiveDate::from_ymd_opt(2026, 7, 20).expect("valid date")),
                    ),
                    ("Median first response".to_owned(), Cell::Empty),
                ],
            },
            Section::Chart(volume_chart(days.min(120))),
            Section::Table(Table {
                title: "Volume by day".to_owned(),
                columns: daily_columns(),
                rows: (0..days).map(daily_row).collect(),
            }),
            Section::Chart(backlog_chart(days.min(120))),
            Section::Chart(priority_chart()),
            Section::Chart(state_chart()),
        ],
    }
}
