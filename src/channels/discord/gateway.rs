//! The optional Discord gateway connection (`discord.gateway = true`):
//! with the Message Content intent granted, messages people write become
//! ticket input as in Slack — a reply in a triage card's thread is an
//! internal note (agents), a direct message that replies to one of the
//! bot's ticket messages is a public comment, any other direct message
//! opens a ticket — and their attachments become ticket attachments.
//! Only one replica holds the connection: the leader of a Postgres
//! advisory lock (DESIGN.md §8). A session identifies afresh after every
//! disconnect (no RESUME yet), so messages written while it reconnects are
//! not read.

use std::{sync::Arc, time::Duration};

use anyhow::{anyhow, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{api::DiscordApi, PLATFORM};
use crate::{
    desk::{
        chat::{ChatMessage, ChatOutcome},
        identity::{Contact, IdentityKey},
        Desk, DeskError, Intake,
    },
    domain::Channel,
    runtime::{idle, Shutdown},
    store::{self, mail::Leader},
};

/// GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT (privileged).
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 12) | (1 << 15);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const LOCK: &str = "discord-gateway";

#[derive(Clone)]
pub struct Gateway {
    desk: Desk,
    api: Arc<DiscordApi>,
    token: String,
    organization: String,
    downloads: reqwest::Client,
}

/// A file attached to a message, fetched before the use case runs.
#[derive(Clone)]
struct Fetched {
    filename: String,
    bytes: Vec<u8>,
}

impl Gateway {
    pub fn new(desk: Desk, config: &crate::config::DiscordConfig) -> anyhow::Result<Self> {
        Ok(Self {
            desk,
            api: Arc::new(DiscordApi::new(config)?),
            token: config.bot_token.expose().to_string(),
            organization: config.organization.clone(),
            downloads: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// Runs until shutdown: leader election, then one session after another.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut backoff = Duration::from_secs(1);
        while !*shutdown.borrow() {
            let mut leader = match Leader::try_acquire(&self.desk.db, LOCK).await {
                Ok(Some(leader)) => leader,
                Ok(None) => {
                    tracing::debug!("another replica holds the Discord gateway");
                    idle(&mut shutdown, None, Duration::from_secs(15)).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Discord gateway leader election failed");
                    idle(&mut shutdown, None, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            match self.session(&mut leader, &mut shutdown).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "Discord gateway session ended");
                    leader.release().await;
                    idle(&mut shutdown, None, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            leader.release().await;
        }
    }

    /// One gateway session: HELLO, IDENTIFY, heartbeats, dispatches.
    async fn session(&self, leader: &mut Leader, shutdown: &mut Shutdown) -> anyhow::Result<()> {
        let url = self.api.gateway_url().await.map_err(|f| anyhow!("{f:?}"))?;
        let url = format!("{}/?v=10&encoding=json", url.trim_end_matches('/'));
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let hello = read_json(&mut socket).await?;
        if hello["op"] != 10 {
            return Err(anyhow!("expected HELLO, got {hello}"));
        }
        let interval = Duration::from_millis(
            hello["d"]["heartbeat_interval"]
                .as_u64()
                .unwrap_or(41_250)
                .max(1000),
        );
        let identify = json!({ "op": 2, "d": {
            "token": self.token, "intents": INTENTS,
            "properties": { "os": std::env::consts::OS, "browser": "switchboard", "device": "switchboard" } } });
        socket.send(Message::text(identify.to_string())).await?;
        tracing::info!("Discord gateway connected");
        let mut sequence = Value::Null;
        let mut heartbeat = tokio::time::interval(interval);
        heartbeat.tick().await;
        let mut acknowledged = true;
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    let _ = socket.close(None).await;
                    return Ok(());
                }
                _ = heartbeat.tick() => {
                    if !acknowledged {
                        return Err(anyhow!("no heartbeat acknowledgement: a zombie connection"));
                    }
                    if !leader.still_leading().await {
                        return Err(anyhow!("lost the leader lock's database session"));
                    }
                    acknowledged = false;
                    socket.send(Message::text(json!({ "op": 1, "d": sequence }).to_string())).await?;
                }
                frame = socket.next() => {
                    let frame = frame.ok_or_else(|| anyhow!("the gateway closed the connection"))??;
                    let text = match frame {
                        Message::Text(text) => text.to_string(),
                        Message::Close(close) => return Err(anyhow!("the gateway closed the connection: {close:?}")),
                        _ => continue,
                    };
                    let Ok(event) = serde_json::from_str::<Value>(&text) else { continue };
                    match event["op"].as_u64() {
                        Some(0) => {
                            if !event["s"].is_null() {
                                sequence = event["s"].clone();
                            }
                            let kind = event["t"].as_str().unwrap_or_default();
                            if let Err(e) = self.handle_event(kind, &event["d"]).await {
                                tracing::warn!(error = %format!("{e:#}"), kind, "a Discord gateway event failed");
                            }
                        }
                        Some(1) => {
                            socket.send(Message::text(json!({ "op": 1, "d": sequence }).to_string())).await?;
                        }
                        Some(11) => acknowledged = true,
                        Some(7) => return Ok(()),
                        Some(9) => return Err(anyhow!("the gateway invalidated the session")),
                        _ => {}
                    }
                }
            }
        }
    }

    /// One dispatched event; only `MESSAGE_CREATE` matters. The step tests call.
    pub async fn handle_event(&self, kind: &str, data: &Value) -> anyhow::Result<()> {
        if kind != "MESSAGE_CREATE" || data["author"]["bot"] == true {
            return Ok(());
        }
        let (Some(id), Some(channel), Some(user)) = (
            data["id"].as_str(),
            data["channel_id"].as_str(),
            data["author"]["id"].as_str(),
        ) else {
            return Ok(());
        };
        let org_id = self.desk.organization_id(&self.organization).await?;
        let direct = data["guild_id"].is_null();
        // Where the message was written, in the terms the desk knows.
        let (root_channel, thread) = if direct {
            let reference = data["message_reference"]["message_id"].as_str();
            (channel.to_string(), reference.map(String::from))
        } else {
            // A thread on a card has the card's id.
            match store::chat::find_by_ts_only(&self.desk.db, PLATFORM, channel).await? {
                Some(card) => (card.channel, Some(card.ts)),
                None => return Ok(()),
            }
        };
        let guild = match data["guild_id"].as_str() {
            Some(guild) => guild.to_string(),
            None => {
                let mut tx = self.desk.db.read().await?;
                match store::identity::find_identity_any_namespace(&mut tx, org_id, PLATFORM, user)
                    .await?
                {
                    Some(identity) => identity.namespace,
                    None => "@me".to_string(),
                }
            }
        };
        let name = data["member"]["nick"]
            .as_str()
            .or_else(|| data["author"]["global_name"].as_str())
            .or_else(|| data["author"]["username"].as_str())
            .unwrap_or(user)
            .to_string();
        let contact = Contact {
            org_id,
            identity: IdentityKey::Discord {
                guild_id: guild,
                user_id: user.to_string(),
            },
            display_name: name,
            verified_email: None,
        };
        let files = self.fetch_attachments(data).await;
        let text = data["content"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        let text = if text.is_empty() && !files.is_empty() {
            files
                .iter()
                .map(|f| f.filename.clone())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            text
        };
        let message = ChatMessage {
            platform: PLATFORM,
            channel_kind: Channel::Discord,
            channel: root_channel,
            ts: id.to_string(),
            thread_ts: thread,
            text,
            direct,
        };
        let intake = Intake {
            source: PLATFORM.into(),
            key: format!("message:{id}"),
            fingerprint: id.to_string(),
            status: 200,
            first_delivery: false,
        };
        let desk = self.desk.clone();
        self.desk
            .run(Some(&intake), move |work| {
                Box::pin(async move {
                    let outcome = desk.chat_message(work, &contact, message).await?;
                    let number = match &outcome {
                        ChatOutcome::Opened { ticket } => Some(ticket.number.clone()),
                        ChatOutcome::Commented { number, .. } => Some(number.clone()),
                        ChatOutcome::Ignored { .. } => None,
                    };
                    if let Some(number) = number {
                        let actor = desk.chat_actor(work, &contact, Channel::Discord).await?;
                        for file in &files {
                            match desk
                                .add_attachment(work, &actor, &number, &file.filename, &file.bytes)
                                .await
                            {
                                Ok(_) => {}
                                Err(e @ (DeskError::TooLarge(_) | DeskError::Invalid(_))) => {
                                    tracing::info!(error = %e, "skipped a Discord attachment");
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Ok(outcome)
                })
            })
            .await?;
        Ok(())
    }

    /// Downloads a message's attachments (within the size limit) before the
    /// transaction, so no network wait happens inside it.
    async fn fetch_attachments(&self, data: &Value) -> Vec<Fetched> {
        let limit = self.desk.settings.max_attachment_bytes;
        let mut files = Vec::new();
        for a in data["attachments"].as_array().into_iter().flatten() {
            let (Some(url), Some(filename)) = (a["url"].as_str(), a["filename"].as_str()) else {
                continue;
            };
            if a["size"].as_u64().is_some_and(|s| s > limit) {
                tracing::info!(
                    filename,
                    "a Discord attachment is over storage.max_attachment_bytes"
                );
                continue;
            }
            match self
                .downloads
                .get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
            {
                Ok(response) => match response.bytes().await {
                    Ok(bytes) if bytes.len() as u64 <= limit => files.push(Fetched {
                        filename: filename.to_string(),
                        bytes: bytes.to_vec(),
                    }),
                    Ok(_) => tracing::info!(filename, "a Discord attachment is too large"),
                    Err(e) => {
                        tracing::warn!(error = %e, filename, "could not read a Discord attachment")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, filename, "could not fetch a Discord attachment")
                }
            }
        }
        files
    }
}

async fn read_json<S>(socket: &mut S) -> anyhow::Result<Value>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text)?),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(anyhow!("the gateway closed the connection")),
        }
    }
}
