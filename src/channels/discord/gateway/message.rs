//! One dispatched event turned into a desk call: a reply in a triage
//! card's thread is an internal note (agents), a direct message that
//! replies to one of the bot's ticket messages is a public comment, any
//! other direct message opens a ticket, and attachments become ticket
//! attachments. Idempotent by message id, so Discord replaying an event
//! after a RESUME changes nothing the second time.

use serde_json::Value;

use super::{Gateway, PLATFORM};
use crate::{
    desk::{
        chat::{ChatMessage, ChatOutcome},
        identity::{Contact, IdentityKey},
        DeskError, Intake,
    },
    domain::Channel,
    store,
};

/// A file attached to a message, fetched before the use case runs.
#[derive(Clone)]
struct Fetched {
    filename: String,
    bytes: Vec<u8>,
}

impl Gateway {
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
