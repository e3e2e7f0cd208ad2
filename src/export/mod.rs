//! Report exports: a [`model::Document`] written as XLSX, PDF, SVG or PNG.
//! Pure functions from a document to bytes: no I/O, no database, no network
//! (fonts are embedded). May import `domain` only.

pub mod model;
