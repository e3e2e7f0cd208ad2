//! Switchboard: IT service management as a chat-ops daemon.
//!
//! Layers (dependencies point inward; `tests/tidy.rs` checks the rules
//! marked ✓, each layer's module doc says the same):
//!
//! - `domain` — pure rules; imports nothing of the project ✓.
//! - `export` — report documents to bytes; imports only `domain` ✓.
//! - `store` — all SQL; imports only `domain` ✓.
//! - `desk` — the use cases; imports `store`, `domain`, `templates` and
//!   `metrics`, never `http`, `channels`, `workers`, `app`, `console` or
//!   `cli` ✓.
//! - `runtime` — what long-running parts share (shutdown, the outbox
//!   delivery contract, TLS, supervision); imports only `store`, `domain`
//!   and `metrics` ✓.
//! - `workers` — dispatcher, scheduler, mail intake, the non-chat
//!   deliverers; imports `desk`, `store`, `domain`, `runtime`, `config`,
//!   never `channels`, `http`, `app`, `console` or `cli` ✓.
//! - `channels` — the chat platforms; import `desk`, `store`, `domain`,
//!   `runtime`, `config`, never `http`, `workers`, `app`, `console` or `cli`
//!   ✓; `slack` and `discord` never import each other ✓ (shared code is in
//!   `channels::common`).
//! - `http` — the API and operations routers; imports `desk`, `store`,
//!   `domain`, `runtime`, `config`, `metrics`, not `channels` ✓.
//! - `console` — the web console's pages; imports `desk`, `domain`,
//!   `config`, `runtime`, never `store`, `http`, `channels`, `workers`,
//!   `app` or `cli` ✓.
//! - `app` — the wiring: may import everything; with `cli`, the only
//!   importer of `channels` ✓.
//!
//! See ARCHITECTURE.md.
#![forbid(unsafe_code)]

pub mod app;
pub mod channels;
pub mod cli;
pub mod config;
pub mod console;
pub mod desk;
pub mod domain;
pub mod export;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod workers;
