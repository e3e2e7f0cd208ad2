//! What Slack sends, turned into desk calls: events (direct messages,
//! mentions, thread replies), the `/ticket` slash command, and
//! interactions (buttons, modal submissions, the "Create ticket" message
//! shortcut). Each input is recorded under its natural key (`event_id`, or
//! the `trigger_id` of a command or click), so Slack's retries change
//! nothing; anything slow (opening a modal, an ephemeral answer) happens
//! after the answer, never before.

use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{api::SlackApi, render, PLATFORM};
use crate::{
    desk::{
        chat::{ticket_from_text, ChatMessage},
        identity::{Contact, IdentityKey},
        tickets::{Assignment, OpenTicket},
        Actor, Desk, DeskError, Intake, Outcome, Work,
    },
    domain::{Channel, Kind},
};

/// What the HTTP endpoint answers Slack.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// 200 with an empty body.
    Ack,
    /// 200 with this JSON.
    Json(Value),
    /// 500: not recorded (a database problem); Slack will retry.
    Retry,
}

#[derive(Clone)]
pub struct Slack {
    pub desk: Desk,
    pub api: Arc<SlackApi>,
    pub signing_secret: String,
    /// The organization (slug) this workspace belongs to.
    pub organization: String,
}

fn fingerprint(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn intake(key: &str, body: &[u8]) -> Intake {
    Intake {
        source: PLATFORM.into(),
        key: key.into(),
        fingerprint: fingerprint(body),
        status: 200,
    }
}

/// Sorts a desk error: lasting refusals are answered (and logged), storage
/// trouble is not acknowledged so Slack retries.
fn refused(error: &DeskError) -> bool {
    !matches!(error, DeskError::Store(_) | DeskError::Internal(_))
}

impl Slack {
    async fn org_id(&self) -> Result<Uuid, DeskError> {
        self.desk.organization_id(&self.organization).await
    }

    fn contact(&self, org_id: Uuid, team: &str, user: &str, name: Option<&str>) -> Contact {
        Contact {
            org_id,
            identity: IdentityKey::Slack {
                team_id: team.to_string(),
                user_id: user.to_string(),
            },
            display_name: name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(user)
                .to_string(),
            verified_email: None,
        }
    }

    /// `POST /slack/events`.
    pub async fn event(&self, body: &[u8]) -> Reply {
        let Ok(payload) = serde_json::from_slice::<Value>(body) else {
            return Reply::Json(json!({ "error": "malformed JSON" }));
        };
        match payload["type"].as_str() {
            Some("url_verification") => Reply::Json(
                json!({ "challenge": payload["challenge"].as_str().unwrap_or_default() }),
            ),
            Some("event_callback") => self.event_callback(&payload, body).await,
            other => {
                tracing::debug!(kind = ?other, "ignoring a Slack event envelope");
                Reply::Ack
            }
        }
    }

    async fn event_callback(&self, payload: &Value, body: &[u8]) -> Reply {
        let event = &payload["event"];
        let (Some(event_id), Some(team)) =
            (payload["event_id"].as_str(), payload["team_id"].as_str())
        else {
            return Reply::Ack;
        };
        let kind = event["type"].as_str().unwrap_or_default();
        // Our own posts, edits and deletions come back as events too.
        let from_a_bot = event.get("bot_id").is_some() || event["subtype"].is_string();
        let direct = match kind {
            "message" if !from_a_bot => event["channel_type"] == "im",
            "app_mention" if !from_a_bot => true,
            _ => {
                tracing::debug!(kind, subtype = ?event["subtype"].as_str(), "ignoring a Slack event");
                return Reply::Ack;
            }
        };
        let (Some(user), Some(channel), Some(ts)) = (
            event["user"].as_str(),
            event["channel"].as_str(),
            event["ts"].as_str(),
        ) else {
            return Reply::Ack;
        };
        let org_id = match self.org_id().await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        let contact = self.contact(org_id, team, user, None);
        let message = ChatMessage {
            platform: PLATFORM,
            channel_kind: Channel::Slack,
            channel: channel.to_string(),
            ts: ts.to_string(),
            thread_ts: event["thread_ts"]
                .as_str()
                .filter(|t| *t != ts)
                .map(String::from),
            text: strip_mentions(event["text"].as_str().unwrap_or_default()),
            direct,
        };
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("event:{event_id}"), body)),
                move |work| {
                    Box::pin(async move { desk.chat_message(work, &contact, message).await })
                },
            )
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a Slack message", &e),
        }
    }

    fn failed(&self, what: &str, error: &DeskError) -> Reply {
        if refused(error) {
            tracing::info!(%error, "refused {what}");
            Reply::Ack
        } else {
            tracing::error!(%error, "could not record {what}; Slack will retry");
            Reply::Retry
        }
    }

    /// `POST /slack/commands` (form-encoded).
    pub async fn command(&self, form: &[(String, String)], body: &[u8]) -> Reply {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        let (command, text, user, team, trigger) = (
            field("command"),
            field("text").trim(),
            field("user_id"),
            field("team_id"),
            field("trigger_id"),
        );
        if command != "/ticket" {
            tracing::debug!(command, "ignoring an unknown Slack command");
            return ephemeral(&format!("I don't know {command}. Try /ticket."));
        }
        if text.is_empty() {
            self.open_view(trigger, render::create_modal());
            return Reply::Ack;
        }
        let org_id = match self.org_id().await {
            Ok(id) => id,
            Err(e) => return self.failed("a slash command", &e),
        };
        let contact = self.contact(org_id, team, user, Some(field("user_name")));
        let input = ticket_from_text(Kind::Incident, text);
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("command:{trigger}"), body)),
                move |work| {
                    Box::pin(async move {
                        let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                        desk.open_ticket(work, &actor, input).await
                    })
                },
            )
            .await;
        match outcome {
            Ok(Outcome::Done(ticket)) => ephemeral(&format!(
                "Opened *{}*: {}. I'll message you about it.",
                ticket.number,
                render::escape(&ticket.title)
            )),
            Ok(Outcome::Replayed { body, .. }) => ephemeral(&format!(
                "Opened *{}*.",
                body["number"].as_str().unwrap_or_default()
            )),
            Err(e) if refused(&e) => ephemeral(&format!("I could not open that ticket: {e}")),
            Err(e) => self.failed("a slash command", &e),
        }
    }

    /// `POST /slack/interactions` (`payload=<json>`).
    pub async fn interaction(&self, payload: &str, body: &[u8]) -> Reply {
        let Ok(payload) = serde_json::from_str::<Value>(payload) else {
            return Reply::Json(json!({ "error": "malformed payload" }));
        };
        let team = payload["team"]["id"]
            .as_str()
            .or_else(|| payload["user"]["team_id"].as_str())
            .unwrap_or_default()
            .to_string();
        let user = payload["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = payload["user"]["name"]
            .as_str()
            .or_else(|| payload["user"]["username"].as_str())
            .map(String::from);
        let trigger = payload["trigger_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let org_id = match self.org_id().await {
            Ok(id) => id,
            Err(e) => return self.failed("an interaction", &e),
        };
        let contact = self.contact(org_id, &team, &user, name.as_deref());
        let key = format!("interaction:{trigger}");
        match payload["type"].as_str() {
            Some("block_actions") => self.block_action(&payload, contact, &key, body).await,
            Some("view_submission") => self.view_submission(&payload, contact, &key, body).await,
            Some("message_action") => self.message_action(&payload, contact, &key, body).await,
            Some("shortcut") => {
                self.open_view(&trigger, render::create_modal());
                Reply::Ack
            }
            other => {
                tracing::debug!(kind = ?other, "ignoring a Slack interaction");
                Reply::Ack
            }
        }
    }

    async fn block_action(
        &self,
        payload: &Value,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let action = &payload["actions"][0];
        let action_id = action["action_id"].as_str().unwrap_or_default().to_string();
        let value = action["value"].as_str().unwrap_or_default().to_string();
        let response_url = payload["response_url"].as_str().map(String::from);
        if action_id == render::REJECT {
            let trigger = payload["trigger_id"].as_str().unwrap_or_default();
            self.open_view(trigger, render::reject_modal(&value));
            return Reply::Ack;
        }
        let known = [
            render::APPROVE,
            render::TAKE,
            render::RESOLVE,
            render::SOLVED_YES,
            render::SOLVED_NO,
        ];
        if !known.contains(&action_id.as_str()) {
            tracing::debug!(action_id, "ignoring an unknown Slack action");
            return Reply::Ack;
        }
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    act(&desk, work, &actor, &action_id, &value).await
                })
            })
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) if refused(&e) => {
                // Only the person who clicked sees why nothing happened.
                if let Some(url) = response_url {
                    self.tell(url, e.to_string());
                }
                Reply::Ack
            }
            Err(e) => self.failed("a button click", &e),
        }
    }

    async fn view_submission(
        &self,
        payload: &Value,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let view = &payload["view"];
        let values = &view["state"]["values"];
        let text = |block: &str| {
            let v = &values[block]["value"];
            v["value"]
                .as_str()
                .or_else(|| v["selected_option"]["value"].as_str())
                .map(str::to_string)
        };
        let desk = self.desk.clone();
        match view["callback_id"].as_str() {
            Some(render::CREATE_MODAL) => {
                let input = OpenTicket {
                    kind: Kind::Incident.as_str().into(),
                    title: text("title").unwrap_or_default(),
                    description: text("description").unwrap_or_default(),
                    urgency: text("urgency"),
                    ..OpenTicket::default()
                };
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            desk.open_ticket(work, &actor, input).await
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "title")
            }
            Some(render::REJECT_MODAL) => {
                let Some(approval) = view["private_metadata"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                else {
                    return Reply::Ack;
                };
                let reason = text("reason");
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            desk.decide(work, &actor, approval, "reject", reason).await
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "reason")
            }
            other => {
                tracing::debug!(callback = ?other, "ignoring an unknown Slack modal");
                Reply::Ack
            }
        }
    }

    /// A modal's answer: closed on success, errors shown next to the fields
    /// (the block ids are the desk's field names), anything else on `fallback`.
    fn modal_outcome(&self, outcome: Result<(), DeskError>, fallback: &str) -> Reply {
        match outcome {
            Ok(()) => Reply::Ack,
            Err(DeskError::Invalid(errors)) => {
                let mut shown = serde_json::Map::new();
                for e in errors {
                    let block = match e.field.as_ref() {
                        "title" | "description" | "urgency" | "reason" => e.field.to_string(),
                        _ => fallback.to_string(),
                    };
                    shown.entry(block).or_insert_with(|| json!(e.message));
                }
                Reply::Json(json!({ "response_action": "errors", "errors": shown }))
            }
            Err(e) if refused(&e) => Reply::Json(json!({
                "response_action": "errors",
                "errors": { fallback: e.to_string() },
            })),
            Err(e) => self.failed("a modal", &e),
        }
    }

    /// The "Create ticket" message shortcut: the message becomes a ticket
    /// raised by whoever used the shortcut.
    async fn message_action(
        &self,
        payload: &Value,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let text = payload["message"]["text"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        if text.is_empty() {
            return Reply::Ack;
        }
        let channel = payload["channel"]["id"].as_str().unwrap_or_default();
        let author = payload["message"]["user"].as_str().unwrap_or_default();
        let mut input = ticket_from_text(Kind::Incident, &text);
        input.description = format!("{text}\n\n— message by <@{author}> in <#{channel}>");
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.open_ticket(work, &actor, input).await
                })
            })
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a message shortcut", &e),
        }
    }

    /// Opens a modal after the answer: Slack wants `views.open` within
    /// three seconds of the trigger, and the answer must not wait for it.
    fn open_view(&self, trigger: &str, view: Value) {
        let api = self.api.clone();
        let body = json!({ "trigger_id": trigger, "view": view });
        tokio::spawn(async move {
            if let Err(error) = api.call("views.open", &body).await {
                tracing::warn!(?error, "could not open a Slack modal");
            }
        });
    }

    /// An ephemeral answer to the person who clicked, after the answer.
    fn tell(&self, response_url: String, text: String) {
        let api = self.api.clone();
        tokio::spawn(async move {
            let body =
                json!({ "response_type": "ephemeral", "replace_original": false, "text": text });
            if let Err(error) = api.respond(&response_url, &body).await {
                tracing::warn!(?error, "could not answer a Slack click");
            }
        });
    }
}

/// What a button does, as the person who clicked it.
async fn act(
    desk: &Desk,
    work: &mut Work,
    actor: &Actor,
    action: &str,
    value: &str,
) -> Result<(), DeskError> {
    match action {
        render::APPROVE => {
            let id = Uuid::parse_str(value).map_err(|_| DeskError::NotFound("approval"))?;
            desk.decide(work, actor, id, "approve", None).await?;
        }
        render::TAKE => {
            let me = actor.person_id.map(|id| id.to_string());
            desk.assign(
                work,
                actor,
                value,
                Assignment {
                    team: None,
                    assignee: Some(me),
                },
            )
            .await?;
        }
        render::RESOLVE => {
            desk.transition(work, actor, value, "resolved", None)
                .await?;
        }
        render::SOLVED_YES => {
            desk.transition(work, actor, value, "closed", None).await?;
        }
        render::SOLVED_NO => {
            desk.transition(
                work,
                actor,
                value,
                "in_progress",
                Some("Not solved yet (answered in Slack).".into()),
            )
            .await?;
        }
        _ => {}
    }
    Ok(())
}

fn ephemeral(text: &str) -> Reply {
    Reply::Json(json!({ "response_type": "ephemeral", "text": text }))
}

/// Drops `<@U123>` mentions (the bot's name in an app mention).
fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped() {
        assert_eq!(strip_mentions("<@U1> the VPN is down"), "the VPN is down");
        assert_eq!(strip_mentions("hi <@U1> and <@U2>!"), "hi  and !");
        assert_eq!(strip_mentions("broken <@U1"), "broken <@U1");
    }
}
