//! Switchboard: IT service management as a chat-ops daemon.
//!
//! Layers (dependencies point inward): `http` and `workers` call `desk`;
//! `desk` applies `domain` rules and writes through `store`; `domain` is pure.
//! See ARCHITECTURE.md.
#![forbid(unsafe_code)]

pub mod app;
pub mod bench;
pub mod bench_email;
pub mod bench_sla;
pub mod channels;
pub mod cli;
pub mod config;
pub mod demo;
pub mod desk;
pub mod domain;
pub mod export;
pub mod http;
pub mod import;
pub mod metrics;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod workers;
