//! Slack: request signing (`verify`), the HTTP endpoints (`routes`), the
//! Web API client with per-method pacing (`api`), Block Kit rendering
//! (`render`), the outbox deliverer (`deliver`), work deferred past the
//! acknowledgement (`deferred`), the translation of events, slash commands
//! and interactions into desk calls (`inbound`) after `payload` read them
//! into slack-morphism's models, Socket Mode (`socket`),
//! and OAuth installs of several workspaces (`installs`, `oauth`). Never
//! imports `discord`; what both need is in `channels::common`.

pub mod api;
pub mod deferred;
pub mod deliver;
pub mod inbound;
pub mod installs;
pub mod oauth;
pub mod payload;
pub mod render;
pub mod routes;
pub mod socket;
pub mod verify;

/// The platform name used in outbox rows, identities and chat messages.
pub const PLATFORM: &str = "slack";
