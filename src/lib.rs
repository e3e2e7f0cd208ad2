//! Switchboard: IT service management as a chat-ops daemon.
//!
//! Layers (dependencies point inward): `http` and `workers` call `desk`;
//! `desk` applies `domain` rules and writes through `store`; `domain` is pure.
//! See ARCHITECTURE.md.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod store;
pub mod desk;
pub mod metrics;
pub mod http;
pub mod workers;
pub mod app;
pub mod demo;
pub mod telemetry;
pub mod bench;
