//! PDF exports read back with poppler-utils (`pdftotext`, `pdffonts`), as a
//! reader would see them. Needs Debian's `poppler-utils`; without it these
//! tests fail, naming the package.

use super::common;

use std::io::Write;
use std::process::{Command, Stdio};

use crate::export::model::{Cell, ColumnKind, Document, Section, Table};
use crate::export::pdf;

/// Runs a poppler tool on `pdf` (given on standard input) and returns its output.
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    // pdffonts cannot read standard input; give every tool a file.
    let dir = std::env::temp_dir().join(format!(
        "export-pdf-test-{}-{tool}-{}",
        std::process::id(),
        args.join("_")
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("report.pdf");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(pdf))
        .expect("write the PDF");
    let output = Command::new(tool)
        .args(args)
        .arg(&path)
        .arg("-")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{tool}` ({e}): install Debian's poppler-utils (apt-get install -y poppler-utils)")
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn pdffonts(pdf: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("export-pdffonts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("report.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let output = Command::new("pdffonts").arg(&path).output().unwrap_or_else(|e| {
        panic!("cannot run `pdffonts` ({e}): install Debian's poppler-utils (apt-get install -y poppler-utils)")
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn page(pdf: &[u8], n: u32) -> String {
    let n = n.to_string();
    poppler("pdftotext", &["-layout", "-f", &n, "-l", &n], pdf)
}

#[test]
fn first_page_has_title_facts_and_figures() {
    let bytes = pdf::write(&common::sample_document(120)).expect("writes");
    assert!(bytes.starts_with(b"%PDF-"));
    let first = page(&bytes, 1);
    for expected in [
        "Ticket volume",
        "Organization",
        "Acme",
        "Period",
        "2026-08-01 – 2026-12-01",
        "Time zone",
        "Europe/London",
        "Generated at",
        "2026-12-06 20:41 UTC",
        "93.5 %",
        "3h 20m",
        "1,204",
        "—",
    ] {
        assert!(
            first.contains(expected),
            "{expected:?} missing from page 1:\n{first}"
        );
    }
}

#[test]
fn long_table_continues_with_its_header_and_page_numbers() {
    let bytes = pdf::write(&common::sample_document(120)).expect("writes");
    let all = poppler("pdftotext", &["-layout"], &bytes);
    let pages = all.matches('\u{c}').count();
    assert!(
        pages >= 3,
        "120 rows and four charts take several pages, got {pages}"
    );
    let second = page(&bytes, 2);
    assert!(
        second.contains(&format!("Page 2 of {pages}")),
        "page number on page 2:\n{second}"
    );
    assert!(second.contains("Volume by day (continued)"));
    assert!(
        second.contains("Median resolution"),
        "the header row is repeated"
    );
    // A value from the middle of the table, formatted for people.
    assert!(all.contains("2026-09-15"), "a date cell");
    assert!(
        all.contains("2026-07-20 09:30 UTC"),
        "a UTC date and time cell"
    );
    // Chart text is real text too.
    assert!(all.contains("Open tickets by state"));
    assert!(all.contains("Waiting on"));
}

#[test]
fn fonts_are_embedded() {
    let bytes = pdf::write(&common::sample_document(40)).expect("writes");
    let fonts = pdffonts(&bytes);
    let rows: Vec<&str> = fonts
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!rows.is_empty(), "no fonts listed:\n{fonts}");
    for row in rows {
        assert!(row.contains("DejaVuSans"), "unexpected font: {row}");
        let columns: Vec<&str> = row.split_whitespace().collect();
        // name type... encoding emb sub uni object ID: `emb` is the 4th from the end but two.
        let emb = columns[columns.len() - 5];
        assert_eq!(emb, "yes", "font not embedded: {row}");
    }
}

#[test]
fn numbers_are_right_aligned_and_empty_is_a_dash() {
    let doc = Document {
        title: "Agents".to_owned(),
        facts: common::facts(),
        sections: vec![Section::Table(Table {
            title: "Agents".to_owned(),
            columns: vec![
                common::column("agent", "Agent", ColumnKind::Text),
                common::column("resolved", "Resolved", ColumnKind::Count),
                common::column(
                    "median_first_response_seconds",
                    "Median first response",
                    ColumnKind::Duration,
                ),
            ],
            rows: vec![
                vec![
                    Cell::Text("Ada".to_owned()),
                    Cell::Count(1_234),
                    Cell::Duration(45 * 60),
                ],
                vec![Cell::Text("Grace".to_owned()), Cell::Count(7), Cell::Empty],
            ],
        })],
    };
    let text = page(&pdf::write(&doc).expect("writes"), 1);
    let ada = text.lines().find(|l| l.contains("Ada")).expect("Ada's row");
    let grace = text
        .lines()
        .find(|l| l.contains("Grace"))
        .expect("Grace's row");
    assert!(ada.contains("1,234") && ada.contains("45m"), "{ada}");
    assert!(grace.contains('—'), "Empty prints as a dash: {grace}");
    let end = |line: &str, needle: &str| line.find(needle).map(|i| i + needle.len());
    assert_eq!(
        end(ada, "1,234"),
        end(grace, "7"),
        "counts share a right edge:\n{ada}\n{grace}"
    );
}

#[test]
fn same_document_gives_same_bytes() {
    let doc = common::sample_document(20);
    assert_eq!(
        pdf::write(&doc).expect("writes"),
        pdf::write(&doc).expect("writes")
    );
}

#[test]
fn durations_read_as_hours_and_minutes() {
    assert_eq!(pdf::duration(12_000), "3h 20m");
    assert_eq!(pdf::duration(45 * 60), "45m");
    assert_eq!(pdf::duration(30), "30s");
    assert_eq!(pdf::duration(50 * 3600 + 5 * 60), "50h 5m");
    assert_eq!(pdf::display(&Cell::Percent(93.5)), "93.5 %");
    assert_eq!(pdf::display(&Cell::Number(1234.5)), "1,234.50");
    assert_eq!(pdf::display(&Cell::Number(-1_234_567.891)), "-1,234,567.89");
    assert_eq!(
        pdf::display(&Cell::Number(1e20)),
        "100,000,000,000,000,000,000.00"
    );
    assert_eq!(pdf::display(&Cell::Count(-1_234)), "-1,234");
    assert_eq!(pdf::display(&Cell::Empty), "—");
}
