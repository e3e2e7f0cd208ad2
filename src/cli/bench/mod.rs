//! The benchmarks' load generators (see BENCHMARKS.md): `load.rs` drives a
//! running daemon over HTTP (API, Slack, Discord), `email.rs` fills an IMAP
//! mailbox and times its intake, `sla.rs` times due dates and SLA timers,
//! `reports.rs` seeds a large history and times each report, `console.rs`
//! seeds the same and times the web console's queue and ticket pages.
//! Like the rest of `cli`, may import every layer.

pub mod console;
pub mod email;
pub mod load;
pub mod reports;
pub mod sla;

use std::process::ExitCode;

use crate::config::Config;

/// `switchboard bench`: the email scenario reads the configured mailbox and
/// database, the reports scenario the configured database; every other
/// scenario talks to a running daemon over HTTP.
pub async fn run(config: Config, args: load::BenchArgs) -> anyhow::Result<ExitCode> {
    if args.scenario == "reports" {
        return reports::run(&config, &args).await;
    }
    if args.scenario == "console" {
        return console::run(config).await;
    }
    if args.scenario == "email" {
        email::run(config, args.messages, args.corpus.as_deref()).await?;
    } else {
        load::run(args).await?;
    }
    Ok(ExitCode::SUCCESS)
}
