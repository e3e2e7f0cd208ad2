//! Long-running tasks: the outbox dispatcher, the timer scheduler and the
//! mail intake (one task per mailbox), and the deliverers of the channels
//! that are not chat platforms (webhooks, SMS, mail over SMTP). Each loop
//! exposes a "do one unit now" method that tests call to step it
//! deterministically, and a loop that runs until shutdown is signalled;
//! `app` starts the loops under supervision and hands the dispatcher its
//! deliverers, Slack's and Discord's among them.
//!
//! May import `desk`, `store`, `domain`, `runtime` and `config`; never
//! `channels`, `http`, `app`, `console` or `cli` (checked by
//! `tests/tidy.rs`).

pub mod dispatcher;
pub mod mail;
pub mod scheduler;
pub mod sms;
pub mod webhook;
