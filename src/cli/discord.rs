//! `switchboard discord register-commands`: replace the Discord
//! application's commands from the manifest.

use std::{path::Path, process::ExitCode};

use anyhow::Context;

use crate::{channels::discord, config::Config};

/// Registers the commands of `file` (the built-in manifest when absent),
/// globally or in one guild, and prints their names.
pub async fn register_commands(
    config: Config,
    guild: Option<String>,
    file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let commands = match file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => discord::COMMANDS.to_string(),
    };
    let names = discord::register_commands(&config.discord, guild.as_deref(), &commands).await?;
    println!(
        "registered {} commands {}: {}",
        names.len(),
        guild.map_or("globally".to_string(), |g| format!("in guild {g}")),
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
