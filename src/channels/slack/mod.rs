//! Slack: request signing (`verify`), the Web API client with per-method
//! pacing (`api`), Block Kit rendering (`render`), the outbox deliverer
//! (`deliver`), work deferred past the acknowledgement (`deferred`) and the translation of events, slash commands and
//! interactions into desk calls (`inbound`), Socket Mode (`socket`), and
//! OAuth installs of several workspaces (`installs`, `oauth`).

pub mod api;
pub mod deferred;
pub mod deliver;
pub mod inbound;
pub mod installs;
pub mod oauth;
pub mod render;
pub mod socket;
pub mod verify;

/// The platform name used in outbox rows, identities and chat messages.
pub const PLATFORM: &str = "slack";
