//! Discord: request signing (`verify`), the HTTP endpoint (`routes`), the
//! interaction body read into twilight-model's types (`payload`), the
//! translation of interactions into desk calls (`inbound`, by input:
//! `commands` for application commands, `interactions` for clicks and
//! modal submissions), the REST client that keeps Discord's rate limits
//! (`api`), message and modal rendering (`render`), the outbox deliverer
//! (`deliver`), and the optional gateway connection that reads messages
//! and attachments (`gateway`). Never imports `slack`; what both need is in
//! `channels::common`.

pub mod api;
mod commands;
pub mod deliver;
pub mod gateway;
pub mod inbound;
mod interactions;
pub mod payload;
pub mod render;
pub mod routes;
pub mod verify;

/// The platform name used in outbox rows, identities and chat messages.
pub const PLATFORM: &str = "discord";

/// The application commands (bot-manifest/discord-commands.json), built in.
pub const COMMANDS: &str = include_str!("../../../bot-manifest/discord-commands.json");

/// `switchboard discord register-commands`: replaces the application's
/// commands (globally, or in one guild) with `commands` (a JSON array);
/// returns the registered names.
pub async fn register_commands(
    config: &crate::config::DiscordConfig,
    guild: Option<&str>,
    commands: &str,
) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    if config.application_id.trim().is_empty() || config.bot_token.is_empty() {
        anyhow::bail!(
            "discord.application_id and discord.bot_token are needed to register commands"
        );
    }
    let commands: serde_json::Value =
        serde_json::from_str(commands).context("the commands file is not JSON")?;
    if !commands.is_array() {
        anyhow::bail!("the commands file must hold a JSON array of commands");
    }
    let api = api::DiscordApi::new(config)?;
    let answer = api
        .put_commands(guild, &commands)
        .await
        .map_err(|failure| anyhow::anyhow!("Discord refused the commands: {failure:?}"))?;
    Ok(answer
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect())
}
