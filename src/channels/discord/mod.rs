//! Discord: request signing (`verify`), the REST client that keeps
//! Discord's rate limits (`api`), message and modal rendering (`render`),
//! the outbox deliverer (`deliver`) and the translation of interactions
//! into desk calls (`inbound`).

pub mod api;
pub mod deliver;
pub mod inbound;
pub mod render;
pub mod verify;

/// The platform name used in outbox rows, identities and chat messages.
pub const PLATFORM: &str = "discord";
