//! Tests of the exports at the boundary a person or a script sees: XLSX read
//! back with calamine, PDF text and fonts with poppler-utils (`pdftotext`,
//! `pdffonts`; Debian's `poppler-utils` must be installed), charts parsed as
//! XML and decoded as PNG.

pub(crate) mod common;

mod chart;
mod pdf;
mod xlsx;
