//! `switchboard serve`, `demo` and `migrate`: run the daemon (optionally
//! after seeding the demo organization), or only apply migrations.

use std::process::ExitCode;

use anyhow::Context;

use super::demo;
use crate::{
    app::{self, Application},
    config::Config,
};

/// Applies the migrations of the configured database and exits.
pub async fn migrate(config: Config) -> anyhow::Result<ExitCode> {
    let db = app::open_database(&config).await?;
    tracing::info!(backend = db.backend(), "migrations applied");
    Ok(ExitCode::SUCCESS)
}

/// Runs the daemon until SIGTERM/SIGINT; with `demo`, seeds the demo
/// organization first and prints its admin token and a curl example.
pub async fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    // Handlers first: a SIGTERM during start-up still shuts down cleanly.
    let stop = app::shutdown_signal();
    let application = Application::build(config.clone(), true).await?;
    let addr = application.local_addr();
    let connectors: Vec<String> = config
        .connectors()
        .into_iter()
        .map(|(name, on)| format!("{name}={}", if on { "on" } else { "off" }))
        .collect();
    tracing::info!(%addr, database = application.desk().db.backend(), connectors = %connectors.join(" "), "switchboard listening");
    if let Some(token) = &application.bootstrap_token {
        println!("First start: created organization `default` and this admin token (shown once, keep it):\n\n    {token}\n");
    }
    if demo {
        let token = demo::seed(application.desk())
            .await
            .context("seeding the demo organization")?;
        let sign_ins: Vec<String> = demo::SIGN_INS
            .iter()
            .map(|(_, email, roles)| format!("    {email:<22} {}", roles.join(", ")))
            .collect();
        println!(
            "Demo organization `demo` is ready.\n\nOpen the console: http://{addr}/\nSign in as one of these, password `{}`:\n\n{}\n\nAdmin token for the API:\n\n    {token}\n\nTry:\n\n    curl -s -H 'Authorization: Bearer {token}' 'http://{addr}/api/v1/tickets?limit=5'\n\n    curl -s -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n      -d '{{\"kind\":\"incident\",\"title\":\"Printer on fire\",\"impact\":\"high\",\"urgency\":\"high\"}}' http://{addr}/api/v1/tickets\n",
            demo::DEMO_PASSWORD,
            sign_ins.join("\n")
        );
    }
    application.run_until_stopped(stop).await?;
    Ok(ExitCode::SUCCESS)
}
