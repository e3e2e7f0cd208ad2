//! XLSX exports read back with calamine, as a spreadsheet user or script would.

use super::common;

use std::io::Cursor;

use crate::export::model::{Cell, ColumnKind, Document, Section, Table};
use crate::export::xlsx;
use calamine::{Data, Reader, Xlsx};
use chrono::{NaiveDate, TimeZone, Utc};

fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    Xlsx::new(Cursor::new(bytes)).expect("the export is a readable XLSX file")
}

fn table(title: &str) -> Section {
    Section::Table(Table {
        title: title.to_owned(),
        columns: vec![common::column("n", "N", ColumnKind::Count)],
        rows: vec![vec![Cell::Count(1)]],
    })
}

#[test]
fn table_sheet_has_metric_names_as_header_and_typed_cells() {
    let doc = common::sample_document(30);
    let mut book = open(xlsx::write(&doc).expect("writes"));

    assert_eq!(
        book.sheet_names(),
        vec!["Summary", "Volume by day", "Charts"],
        "summary first, one sheet per table, then the charts' data"
    );
    let range = book.worksheet_range("Volume by day").expect("table sheet");
    let header: Vec<String> = (0..9)
        .map(|c| range.get((0, c)).map(|d| d.to_string()).unwrap_or_default())
        .collect();
    assert_eq!(
        header,
        [
            "day",
            "team",
            "created",
            "resolved",
            "backlog",
            "sla_met_percent",
            "median_resolution_seconds",
            "avg_satisfaction",
            "oldest_open_at"
        ]
    );
    assert_eq!(range.height(), 31, "header plus 30 rows");

    // Row 1 is common::daily_row(0).
    match range.get((1, 0)) {
        Some(Data::DateTime(d)) => {
            assert!(d.is_datetime(), "a Date cell reads back as a date");
            assert_eq!(
                d.as_datetime().map(|t| t.date()),
                NaiveDate::from_ymd_opt(2026, 8, 1)
            );
        }
        other => panic!("day should be a date, got {other:?}"),
    }
    assert_eq!(range.get((1, 1)), Some(&Data::String("Network".to_owned())));
    assert_eq!(
        range.get((1, 2)),
        Some(&Data::Float(40.0)),
        "Count as a number"
    );
    match range.get((1, 5)) {
        Some(Data::Float(v)) => assert!((v - 0.90).abs() < 1e-9, "90 % as 0.9, got {v}"),
        other => panic!("percent should be a number, got {other:?}"),
    }
    match range.get((1, 6)) {
        Some(Data::DateTime(d)) => {
            assert!(d.is_duration(), "Duration has the [h]:mm duration format");
            assert!(
                (d.as_f64() * 86_400.0 - 12_000.0).abs() < 1e-6,
                "3h 20m in days"
            );
        }
        other => panic!("duration should be a number with a duration format, got {other:?}"),
    }
    match range.get((1, 8)) {
        Some(Data::DateTime(d)) => assert_eq!(
            d.as_datetime(),
            Utc.with_ymd_and_hms(2026, 7, 20, 9, 30, 0)
                .single()
                .map(|t| t.naive_utc())
        ),
        other => panic!("oldest_open_at should be a date and time, got {other:?}"),
    }
    // daily_row(4) has an Empty satisfaction: a blank cell, not 0.
    assert!(
        matches!(range.get((5, 7)), None | Some(Data::Empty)),
        "Empty stays blank: {:?}",
        range.get((5, 7))
    );
}

#[test]
fn summary_sheet_holds_title_facts_and_figures() {
    let doc = common::sample_document(3);
    let mut book = open(xlsx::write(&doc).expect("writes"));
    let range = book.worksheet_range("Summary").expect("summary sheet");
    let cells: Vec<String> = range.cells().map(|(_, _, d)| d.to_string()).collect();
    for expected in [
        "Ticket volume",
        "Organization",
        "Acme",
        "Time zone",
        "Europe/London",
        "Open tickets",
        "1204",
    ] {
        assert!(
            cells.iter().any(|c| c == expected),
            "{expected:?} missing from {cells:?}"
        );
    }
}

#[test]
fn sheet_names_are_valid_truncated_and_unique() {
    let doc = Document {
        title: "Names".to_owned(),
        facts: vec![],
        sections: vec![
            table("Agents: first response / resolution [business hours]"),
            table("Agents: first response / resolution [wall clock]"),
            table("summary"),
            table("'quoted'"),
            table("History"),
            table(""),
        ],
    };
    let book = open(xlsx::write(&doc).expect("writes"));
    let names = book.sheet_names();
    assert_eq!(
        names,
        vec![
            "Summary",
            "Agents first response resolutio",
            "Agents first response resol (2)",
            "summary (2)",
            "quoted",
            "History sheet",
            "sheet",
        ]
    );
    for name in &names {
        assert!(name.chars().count() <= 31, "{name:?} is too long");
        assert!(!name.contains(['[', ']', ':', '*', '?', '/', '\\']));
    }
}

#[test]
fn streamed_rows_are_written_without_a_document() {
    let columns = common::daily_columns();
    let rows = (0..1_000).map(common::daily_row);
    let bytes =
        xlsx::write_rows("Volume by day", &common::facts(), &columns, rows).expect("writes");
    let mut book = open(bytes);
    assert_eq!(book.sheet_names(), vec!["Summary", "Volume by day"]);
    let range = book.worksheet_range("Volume by day").expect("table sheet");
    assert_eq!(range.height(), 1_001);
    assert_eq!(
        range.get((1_000, 2)),
        Some(&Data::Float(common::daily_row(999)[2].count()))
    );
}

#[test]
fn charts_sheet_holds_each_charts_data() {
    let doc = common::sample_document(10);
    let mut book = open(xlsx::write(&doc).expect("writes"));
    let range = book.worksheet_range("Charts").expect("charts sheet");
    let cells: Vec<String> = range.cells().map(|(_, _, d)| d.to_string()).collect();
    for expected in [
        "Ticket volume",
        "Created",
        "Resolved",
        "P1 critical",
        "Open tickets by state",
        "Waiting on customer",
    ] {
        assert!(cells.iter().any(|c| c == expected), "{expected:?} missing");
    }
}

trait CountValue {
    fn count(&self) -> f64;
}

impl CountValue for Cell {
    fn count(&self) -> f64 {
        match self {
            Cell::Count(n) => *n as f64,
            _ => f64::NAN,
        }
    }
}
