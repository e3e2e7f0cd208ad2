//! Slack: request signing (`verify`), the Web API client with per-method
//! pacing (`api`), Block Kit rendering (`render`), the outbox deliverer
//! (`deliver`) and the translation of events, slash commands and
//! interactions into desk calls (`inbound`).

pub mod api;
pub mod deliver;
pub mod inbound;
pub mod render;
pub mod verify;

/// The platform name used in outbox rows, identities and chat messages.
pub const PLATFORM: &str = "slack";
