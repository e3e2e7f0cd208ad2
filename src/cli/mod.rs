//! The command line's bodies: what each `switchboard` command does once
//! `main.rs` has parsed its arguments (serve, migrate, token, audit, storage, SLA
//! replay, Discord command registration, configuration check, reports),
//! the demo seed and its 90 days of history, the CMDB importer and the benchmarks' load generators.
//!
//! An edge like `http`: it may import every layer (`app`, `config`,
//! `desk`, `store`, `domain`, `workers`, `channels`). Nothing in the library
//! imports `cli`; `main.rs` and tests call it.

pub mod audit;
pub mod bench;
pub mod config;
pub mod demo;
pub mod demo_history;
pub mod discord;
pub mod import;
pub mod org;
pub mod report;
pub mod serve;
pub mod sla;
pub mod storage;
pub mod token;
