//! The export performance targets of issue 17:
//! - XLSX of 100,000 rows × 20 columns in < 3 s with < 64 MB extra resident memory;
//! - a 10-page PDF with 4 charts in < 1 s.
//!
//! `cargo run --release --example bench_exports`. Peak resident memory is
//! VmHWM from /proc/self/status: the XLSX run comes first, so the rise of
//! the high-water mark over the baseline is what the XLSX write added.

/// `common` names the model as `crate::export`, as inside the crate.
mod export {
    pub use switchboard::export::model;
}

#[path = "../src/export/tests/common.rs"]
mod common;

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate};
use switchboard::export::model::{Cell, Column, ColumnKind, Document, Section, Table};
use switchboard::export::{pdf, xlsx};

fn vm_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("{field} missing from /proc/self/status"))?;
    line.split_whitespace()
        .nth(1)
        .context("no number")?
        .parse()
        .context("not a number")
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second).
    let after = stat.rsplit_once(')').context("odd /proc/self/stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn wide_columns() -> Vec<Column> {
    let kinds = [
        ColumnKind::Date,
        ColumnKind::Text,
        ColumnKind::Count,
        ColumnKind::Count,
        ColumnKind::Count,
        ColumnKind::Percent,
        ColumnKind::Duration,
        ColumnKind::Duration,
        ColumnKind::Number,
        ColumnKind::DateTime,
    ];
    (0..20)
        .map(|i| {
            common::column(
                &format!("metric_{i}"),
                &format!("Metric {i}"),
                kinds[i % kinds.len()],
            )
        })
        .collect()
}

fn wide_row(r: usize) -> Vec<Cell> {
    let day =
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date") + Duration::days((r % 365) as i64);
    (0..20)
        .map(|c| match c % 10 {
            0 => Cell::Date(day),
            1 => Cell::Text(format!("Team {}", (r + c) % 17)),
            2..=4 => Cell::Count(((r * 31 + c * 7) % 1000) as i64),
            5 => Cell::Percent(((r + c) % 1000) as f64 / 10.0),
            6 | 7 => Cell::Duration(((r * 97 + c) % 200_000) as i64),
            8 => Cell::Number((r % 500) as f64 / 7.0),
            _ => Cell::LocalDateTime(
                day.and_hms_opt((r % 24) as u32, (c * 3 % 60) as u32, 0)
                    .expect("valid time"),
            ),
        })
        .collect()
}

fn main() -> Result<()> {
    let baseline = vm_kib("VmRSS:")?;
    let hwm_before = vm_kib("VmHWM:")?;

    println!("load average before: {}", load_average());
    let columns = wide_columns();
    let cpu = cpu_seconds()?;
    let started = Instant::now();
    let bytes = xlsx::write_rows(
        "Tickets",
        &common::facts(),
        &columns,
        (0..100_000).map(wide_row),
    )?;
    let xlsx_time = started.elapsed();
    let xlsx_cpu = cpu_seconds()? - cpu;
    let hwm_after = vm_kib("VmHWM:")?;
    println!(
        "xlsx::write_rows 100,000 × 20: {:.2} s wall, {:.2} s CPU, {:.1} MB file, peak RSS {:.1} MB → {:.1} MB (+{:.1} MB over the {:.1} MB baseline)",
        xlsx_time.as_secs_f64(),
        xlsx_cpu,
        bytes.len() as f64 / 1e6,
        hwm_before as f64 / 1024.0,
        hwm_after as f64 / 1024.0,
        hwm_after.saturating_sub(baseline) as f64 / 1024.0,
        baseline as f64 / 1024.0,
    );
    drop(bytes);

    // The same table through the Document entry (rows held by the caller).
    let doc = Document {
        title: "Tickets".to_owned(),
        facts: common::facts(),
        sections: vec![Section::Table(Table {
            title: "Tickets".to_owned(),
            columns: columns.clone(),
            rows: (0..100_000).map(wide_row).collect(),
        })],
    };
    let rss_with_rows = vm_kib("VmRSS:")?;
    let cpu = cpu_seconds()?;
    let started = Instant::now();
    let bytes = xlsx::write(&doc)?;
    println!(
        "xlsx::write (Document, rows already in memory): {:.2} s wall, {:.2} s CPU, {:.1} MB file, RSS with the rows {:.1} MB, peak now {:.1} MB",
        started.elapsed().as_secs_f64(),
        cpu_seconds()? - cpu,
        bytes.len() as f64 / 1e6,
        rss_with_rows as f64 / 1024.0,
        vm_kib("VmHWM:")? as f64 / 1024.0,
    );
    drop(bytes);
    drop(doc);

    // A 10-page report: the sample (figures, 4 charts) with enough rows.
    let mut rows = 200;
    let (pdf_bytes, pages) = loop {
        let bytes = pdf::write(&common::sample_document(rows))?;
        let pages = count_pages(&bytes);
        if pages >= 10 || rows > 2_000 {
            break (bytes, pages);
        }
        rows += 10;
    };
    drop(pdf_bytes);
    let doc = common::sample_document(rows);
    let mut times = Vec::new();
    let mut size = 0;
    let cpu = cpu_seconds()?;
    for _ in 0..5 {
        let started = Instant::now();
        size = pdf::write(&doc)?.len();
        times.push(started.elapsed().as_secs_f64());
    }
    let pdf_cpu = (cpu_seconds()? - cpu) / 5.0;
    times.sort_by(f64::total_cmp);
    println!(
        "pdf::write {pages} pages ({rows} table rows, 4 charts, key figures): median {:.3} s wall, worst {:.3} s of 5, {:.3} s CPU each, {:.0} kB",
        times[2],
        times[4],
        pdf_cpu,
        size as f64 / 1e3
    );
    println!("load average after: {}", load_average());
    Ok(())
}

/// Pages in a PDF written by krilla: each page object has `/Type/Page` once.
fn count_pages(pdf: &[u8]) -> usize {
    let needle = b"/Type/Page";
    pdf.windows(needle.len() + 1)
        .filter(|w| &w[..needle.len()] == needle && w[needle.len()] != b's')
        .count()
}
