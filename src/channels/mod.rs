//! Chat platforms: translate platform input into desk calls and render desk
//! output (outbox rows) into platform messages. No business rules here —
//! those are the desk's. Each platform exposes its HTTP router, its outbox
//! deliverer and its long-running connection; `app` mounts and starts
//! them. What Slack and Discord share lives in `common`, below both.
//!
//! May import `desk`, `store`, `domain`, `runtime` and `config`; never
//! `http`, `workers`, `app`, `console` or `cli`; `slack` and `discord`
//! never import each other, and nothing but `app` (and `cli`) imports
//! `channels` (checked by `tests/tidy.rs`).

pub mod common;
pub mod discord;
pub mod slack;
