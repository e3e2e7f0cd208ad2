//! Chat and mail platforms: translate platform input into desk calls and
//! render desk output (outbox rows) into platform messages. No business
//! rules here — those are the desk's. The HTTP endpoints that receive the
//! platforms' requests live in `http/`; the deliverers run in the outbox
//! dispatcher.

pub mod discord;
pub mod slack;
