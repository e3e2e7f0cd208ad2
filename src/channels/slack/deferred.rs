//! Slack input that needs slow calls before it can reach the desk: a
//! reaction (fetch the message and its permalink, then open the ticket)
//! and files shared in a ticket's thread (download, then attach). The
//! events endpoint records such work as an outbox row of channel `slack`
//! (target `work:<key>`) in the transaction that acknowledges the event;
//! the Slack deliverer does it here, with the outbox's retries. Each desk
//! call carries its own intake key, so a retry after a half-done attempt
//! does not open or attach twice.

use serde_json::{json, Value};

use super::{
    api::{ApiFailure, SlackApi},
    inbound::Slack,
    render, PLATFORM,
};
use crate::{
    desk::{chat::ticket_from_text, DeskError, Intake, Outcome},
    domain::{Channel, Kind},
    runtime::delivery::Delivery,
    store::outbox::OutboxRow,
};

/// Outbox events of deferred work.
pub const REACTION: &str = "slack.reaction";
pub const FILES: &str = "slack.files";

fn intake(key: String) -> Intake {
    Intake {
        source: PLATFORM.into(),
        key,
        fingerprint: String::new(),
        status: 200,
        first_delivery: false,
    }
}

/// Desk errors in delivery terms: storage trouble is retried, a refusal is
/// final.
fn desk_failure(error: DeskError) -> Delivery {
    match error {
        DeskError::Store(_) | DeskError::Internal(_) => Delivery::Retry {
            error: error.to_string(),
            not_before: None,
        },
        other => Delivery::Permanent(other.to_string()),
    }
}

impl Slack {
    /// Does one row of deferred work.
    pub async fn deferred(&self, row: &OutboxRow) -> Delivery {
        let team = row.payload.0["team"].as_str().unwrap_or_default();
        let api = match self.api.for_team(team).await {
            Ok(api) => api,
            Err(failure) => return failure.into(),
        };
        let result = match row.event.as_str() {
            REACTION => self.reaction_ticket(&api, &row.payload.0).await,
            FILES => self.attach_files(&api, &row.payload.0).await,
            other => Err(Delivery::Permanent(format!(
                "unknown deferred Slack work `{other}`"
            ))),
        };
        match result {
            Ok(()) => Delivery::Delivered,
            Err(delivery) => delivery,
        }
    }

    /// The message a reaction was added to: its channel history at that
    /// `ts`, or — for a reply in a thread — the thread's.
    async fn reacted_message(
        &self,
        api: &SlackApi,
        channel: &str,
        ts: &str,
    ) -> Result<Value, ApiFailure> {
        let history = api
            .call_form(
                "conversations.history",
                &[
                    ("channel", channel),
                    ("latest", ts),
                    ("inclusive", "true"),
                    ("limit", "1"),
                ],
            )
            .await?;
        let found = |answer: &Value| {
            answer["messages"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["ts"] == ts).cloned())
        };
        if let Some(message) = found(&history) {
            return Ok(message);
        }
        let replies = api
            .call_form(
                "conversations.replies",
                &[
                    ("channel", channel),
                    ("ts", ts),
                    ("latest", ts),
                    ("inclusive", "true"),
                    ("limit", "1"),
                ],
            )
            .await?;
        found(&replies)
            .ok_or_else(|| ApiFailure::Permanent(format!("the message {ts} in {channel} is gone")))
    }

    async fn reaction_ticket(&self, api: &SlackApi, work: &Value) -> Result<(), Delivery> {
        let event = &work["event"];
        let team = work["team"].as_str().unwrap_or_default();
        let (Some(channel), Some(ts)) = (
            event["item"]["channel"].as_str(),
            event["item"]["ts"].as_str(),
        ) else {
            return Err(Delivery::Permanent("reaction without a message".into()));
        };
        let message = self.reacted_message(api, channel, ts).await?;
        let permalink = api
            .call_form(
                "chat.getPermalink",
                &[("channel", channel), ("message_ts", ts)],
            )
            .await?["permalink"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let text = message["text"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        let author = message["user"]
            .as_str()
            .or_else(|| event["item_user"].as_str())
            .unwrap_or_default();
        let requester = match self.settings.reaction_requester.as_str() {
            "author" if !author.is_empty() => author,
            _ => event["user"].as_str().unwrap_or_default(),
        };
        if text.is_empty() || requester.is_empty() {
            return Err(Delivery::Permanent(
                "the reacted-to message has no text or no author".into(),
            ));
        }
        let org_id = self.org_id(team).await.map_err(desk_failure)?;
        let contact = self.contact(org_id, team, requester, None);
        let mut input = ticket_from_text(Kind::Incident, &text);
        input.description =
            format!("{text}\n\n— message by <@{author}> in <#{channel}>: {permalink}");
        let desk = self.desk.clone();
        // One ticket per message, however many people react.
        let key = format!("reaction:{team}:{channel}:{ts}");
        let outcome = self
            .desk
            .run(Some(&intake(key)), move |w| {
                Box::pin(async move {
                    let actor = desk.chat_actor(w, &contact, Channel::Slack).await?;
                    desk.open_ticket(w, &actor, input).await.map(|t| t.number)
                })
            })
            .await
            .map_err(desk_failure)?;
        if let Outcome::Done(number) = outcome {
            tracing::info!(number, channel, ts, "opened a ticket from a reaction");
        }
        Ok(())
    }

    /// Files shared in a ticket's thread become its attachments; oversize
    /// or unsupported ones are refused with a message in the thread.
    async fn attach_files(&self, api: &SlackApi, work: &Value) -> Result<(), Delivery> {
        let event = &work["event"];
        let team = work["team"].as_str().unwrap_or_default();
        let (Some(channel), Some(root), Some(user)) = (
            event["channel"].as_str(),
            work["root"].as_str(),
            event["user"].as_str(),
        ) else {
            return Err(Delivery::Permanent("file event without a thread".into()));
        };
        let org_id = self.org_id(team).await.map_err(desk_failure)?;
        let Some(thread) = self
            .desk
            .chat_thread(org_id, PLATFORM, channel, root)
            .await
            .map_err(desk_failure)?
        else {
            tracing::debug!(
                channel,
                root,
                "files outside a ticket thread are not taken in"
            );
            return Ok(());
        };
        let limit = self.desk.settings.max_attachment_bytes;
        let mut refusals = Vec::new();
        for file in event["files"].as_array().into_iter().flatten() {
            let name = file["name"]
                .as_str()
                .or_else(|| file["title"].as_str())
                .unwrap_or("file")
                .to_string();
            let url = file["url_private_download"].as_str();
            let hidden = matches!(
                file["mode"].as_str(),
                Some("external" | "tombstone" | "hidden_by_limit")
            );
            let (Some(url), false) = (url, hidden) else {
                refusals.push(format!(
                    "I could not attach *{}*: Slack does not offer it for download (external, deleted or hidden files are not supported).",
                    render::escape(&name)
                ));
                continue;
            };
            let size = file["size"].as_u64().unwrap_or(0);
            let too_large = || {
                format!(
                    "I could not attach *{}*: it is larger than the limit of {limit} bytes.",
                    render::escape(&name)
                )
            };
            if size > limit {
                refusals.push(too_large());
                continue;
            }
            let Some(bytes) = api.download(url, limit).await? else {
                refusals.push(too_large());
                continue;
            };
            let contact = self.contact(org_id, team, user, None);
            let number = thread.number.clone();
            let desk = self.desk.clone();
            let file_id = file["id"].as_str().unwrap_or(&name).to_string();
            let filename = name.clone();
            let outcome = self
                .desk
                .run(
                    Some(&intake(format!("file:{team}:{file_id}:{channel}:{root}"))),
                    move |w| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(w, &contact, Channel::Slack).await?;
                            desk.add_attachment(w, &actor, &number, &filename, &bytes)
                                .await
                                .map(|a| a.id)
                        })
                    },
                )
                .await;
            match outcome {
                Ok(_) => {}
                Err(e @ (DeskError::Store(_) | DeskError::Internal(_))) => {
                    return Err(desk_failure(e))
                }
                Err(e) => refusals.push(format!(
                    "I could not attach *{}*: {}",
                    render::escape(&name),
                    render::escape(&e.to_string())
                )),
            }
        }
        if !refusals.is_empty() {
            let body = json!({ "channel": thread.channel, "thread_ts": thread.ts, "text": refusals.join("\n") });
            api.call("chat.postMessage", &body).await?;
        }
        Ok(())
    }
}
