//! Report exports: a [`model::Document`] written as XLSX, PDF, SVG or PNG.
//! Pure functions from a document to bytes: no I/O, no database, no network
//! (fonts are embedded). May import `domain` only.
//!
//! - [`xlsx`]: one worksheet per table (constant-memory mode, typed cells,
//!   frozen header), a summary sheet with the facts and key figures, and
//!   native Excel charts over the chart sections' data. [`xlsx::write_rows`]
//!   streams one big table without holding its rows. The one exception to
//!   "no I/O": constant-memory worksheets spill their rows to an anonymous
//!   (already unlinked) temporary file in `TMPDIR`, which is what keeps the
//!   memory flat.
//! - [`pdf`]: an A4 report laid out by hand with krilla: header with the
//!   facts, tables that continue over pages with their header repeated, charts
//!   as vector graphics, page numbers, DejaVu Sans embedded (subset).
//! - [`chart`]: SVG drawn with plotters' SVG backend (no font-kit, no
//!   fontconfig), PNG rasterised with resvg; text always uses the embedded
//!   font, never a system one. The PDF draws the same SVG tree.
//!
//! Invariant: **nothing here reads a file, the clock or the environment**
//! (apart from the XLSX temp file above), so the same document always gives
//! the same bytes.

pub mod chart;
pub mod model;
pub mod pdf;
pub mod xlsx;

#[cfg(test)]
mod tests;

/// DejaVu Sans (Debian `fonts-dejavu-core`, Bitstream Vera licence; see
/// `assets/LICENSE-DejaVu.txt`).
pub(crate) const FONT_REGULAR: &[u8] = include_bytes!("assets/DejaVuSans.ttf");
/// DejaVu Sans Bold, same origin and licence.
pub(crate) const FONT_BOLD: &[u8] = include_bytes!("assets/DejaVuSans-Bold.ttf");
/// The family name both font files declare; charts ask for it by name.
pub(crate) const FONT_FAMILY: &str = "DejaVu Sans";
