//! Events API deliveries (and Socket Mode `events_api` envelopes): a
//! direct message, a mention or a thread reply goes to the desk's chat use
//! case; an edit or deletion in a ticket's thread is recorded on it; the
//! configured reaction and shared files become deferred work (their slow
//! Slack calls happen in the deliverer); opening the home tab publishes it.
//! The dedupe key is the `event_id`, and Slack's retries (marked by
//! `X-Slack-Retry-Num`) replay the first answer.

use serde_json::{json, Value};
use slack_morphism::{
    events::{
        SlackEventCallbackBody, SlackMessageEvent, SlackMessageEventEdited, SlackMessageEventType,
        SlackPushEvent, SlackPushEventCallback, SlackReactionAddedEvent,
    },
    SlackFile, SlackReactionsItem,
};
use uuid::Uuid;

use super::{
    super::{
        deferred,
        payload::{self, Event, EventExtra, FileExtra},
        render, PLATFORM,
    },
    intake, unreadable, Reply, Slack,
};
use crate::{
    desk::{
        chat::{ChatMessage, ChatOutcome},
        Intake, Outcome,
    },
    domain::Channel,
};

impl Slack {
    /// `POST /slack/events`; `first_delivery` unless Slack marked it a
    /// retry (`X-Slack-Retry-Num`, or a Socket Mode `retry_attempt`).
    pub async fn event(&self, body: &[u8], first_delivery: bool) -> Reply {
        let Event { push, extra } = match payload::parse_event(body) {
            Ok(event) => event,
            Err(error) => return unreadable(error),
        };
        match push {
            SlackPushEvent::UrlVerification(check) => {
                Reply::Json(json!({ "challenge": check.challenge }))
            }
            SlackPushEvent::EventCallback(callback) => {
                self.event_callback(callback, extra, body, first_delivery)
                    .await
            }
            SlackPushEvent::AppRateLimited(limited) => {
                tracing::warn!(team = %limited.team_id, "Slack is dropping our events (app_rate_limited)");
                Reply::Ack
            }
        }
    }

    async fn event_callback(
        &self,
        callback: SlackPushEventCallback,
        extra: EventExtra,
        body: &[u8],
        first_delivery: bool,
    ) -> Reply {
        let (event_id, team) = (callback.event_id.0, callback.team_id.0);
        let (event_id, team) = (event_id.as_str(), team.as_str());
        let (message, direct) = match callback.event {
            SlackEventCallbackBody::ReactionAdded(reaction) => {
                return self.reaction(reaction, event_id, team, body).await
            }
            SlackEventCallbackBody::AppHomeOpened(home)
                if home.tab.as_deref() != Some("messages") =>
            {
                return self.home_opened(&home.user.0, team).await
            }
            SlackEventCallbackBody::Message(message)
                if matches!(
                    message.subtype,
                    Some(
                        SlackMessageEventType::MessageChanged
                            | SlackMessageEventType::MessageDeleted
                    )
                ) =>
            {
                return self
                    .message_changed(message, &extra, event_id, team, body)
                    .await
            }
            // Our own posts come back as events too; of the other subtypes
            // only a shared file is taken in.
            SlackEventCallbackBody::Message(message)
                if message.sender.bot_id.is_none()
                    && matches!(
                        message.subtype,
                        None | Some(SlackMessageEventType::FileShare)
                    ) =>
            {
                let direct =
                    message.origin.channel_type.as_ref().map(|t| t.0.as_str()) == Some("im");
                let Some(user) = message.sender.user else {
                    return Reply::Ack;
                };
                let (text, files) = message
                    .content
                    .map(|c| (c.text.unwrap_or_default(), c.files.unwrap_or_default()))
                    .unwrap_or_default();
                let heard = Heard {
                    user: user.0,
                    channel: message.origin.channel.map(|c| c.0),
                    ts: message.origin.ts.0,
                    thread_ts: message.origin.thread_ts.map(|t| t.0),
                    text,
                    files,
                };
                (heard, direct)
            }
            SlackEventCallbackBody::AppMention(mention) if extra.bot_id.is_none() => (
                Heard {
                    user: mention.user.0,
                    channel: Some(mention.channel.0),
                    ts: mention.origin.ts.0,
                    thread_ts: mention.origin.thread_ts.map(|t| t.0),
                    text: mention.content.text.unwrap_or_default(),
                    files: mention.content.files.unwrap_or_default(),
                },
                true,
            ),
            other => {
                tracing::debug!(event = ?event_kind(&other), "ignoring a Slack event");
                return Reply::Ack;
            }
        };
        let Some(channel) = message.channel else {
            return Reply::Ack;
        };
        let (user, ts) = (message.user, message.ts);
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        let contact = self.contact(org_id, team, &user, None);
        let thread_ts = message.thread_ts.filter(|t| *t != ts);
        // Files are downloaded later (slow): recorded now, with the thread
        // they belong to (the message itself when it opens a ticket).
        let files = (!message.files.is_empty()).then(|| {
            json!({
                "team": team,
                "event_id": event_id,
                "event": {
                    "channel": channel,
                    "user": user,
                    "ts": ts,
                    "files": shared_files(&message.files, extra.files.as_deref().unwrap_or_default()),
                },
                "root": thread_ts.clone().unwrap_or_else(|| ts.clone()),
            })
        });
        let message = ChatMessage {
            platform: PLATFORM,
            channel_kind: Channel::Slack,
            channel,
            ts,
            thread_ts,
            text: strip_mentions(&message.text),
            direct,
        };
        let desk = self.desk.clone();
        let key = format!("event:{event_id}");
        let intake = Intake {
            first_delivery,
            ..intake(&key, body)
        };
        let outcome = self
            .desk
            .run(Some(&intake), move |work| {
                Box::pin(async move {
                    let outcome = desk.chat_message(work, &contact, message).await?;
                    if let Some(files) = files {
                        desk.defer_chat_work(work, org_id, PLATFORM, &key, deferred::FILES, files);
                    }
                    Ok(outcome)
                })
            })
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a Slack message", &e),
        }
    }

    /// A reaction: with the configured emoji on a message, recorded for
    /// the deliverer to fetch the message and its permalink (slow calls)
    /// and open the ticket; the answer does not wait for that.
    async fn reaction(
        &self,
        reaction: SlackReactionAddedEvent,
        event_id: &str,
        team: &str,
        body: &[u8],
    ) -> Reply {
        let wanted = self.settings.reaction.trim_matches(':');
        let item = match &reaction.item {
            SlackReactionsItem::Message(item) if reaction.reaction.0 == wanted => item,
            _ => {
                tracing::debug!(reaction = %reaction.reaction.0, "ignoring a Slack reaction");
                return Reply::Ack;
            }
        };
        let channel = item
            .origin
            .channel
            .as_ref()
            .map(|c| c.0.as_str())
            .unwrap_or_default();
        let ts = item.origin.ts.0.as_str();
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        // The deferred work reads the reaction in Slack's own shape.
        let work = json!({ "team": team, "event_id": event_id, "event": {
            "type": "reaction_added",
            "user": reaction.user.0,
            "reaction": reaction.reaction.0,
            "item_user": reaction.item_user.as_ref().map(|u| u.0.as_str()),
            "item": { "type": "message", "channel": channel, "ts": ts },
            "event_ts": reaction.event_ts.0,
        } });
        let desk = self.desk.clone();
        // Reactions to one message share a target: the outbox serves them
        // in order, so the first reactor's ticket is the one.
        let target = format!("reaction:{team}:{channel}:{ts}");
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("event:{event_id}"), body)),
                move |w| {
                    Box::pin(async move {
                        desk.defer_chat_work(
                            w,
                            org_id,
                            PLATFORM,
                            &target,
                            deferred::REACTION,
                            work,
                        );
                        Ok(())
                    })
                },
            )
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a Slack reaction", &e),
        }
    }

    /// The home tab was opened: the person is remembered (changes refresh
    /// it) and their home published after the answer.
    async fn home_opened(&self, user: &str, team: &str) -> Reply {
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        let contact = self.contact(org_id, team, user, None);
        let desk = self.desk.clone();
        let owned = user.to_string();
        let person = self
            .desk
            .execute(move |work| {
                Box::pin(async move {
                    desk.chat_home_opened(work, &contact, PLATFORM, &owned)
                        .await
                })
            })
            .await;
        match person {
            Ok(person) => {
                let this = self.clone();
                let user = user.to_string();
                tokio::spawn(async move { this.publish_home(org_id, person, &user).await });
                Reply::Ack
            }
            Err(e) => self.failed("an App Home visit", &e),
        }
    }

    /// Publishes a person's home tab; failures are logged (the next change
    /// or visit publishes again).
    pub async fn publish_home(&self, org_id: Uuid, person: Uuid, user: &str) {
        let view = match self.desk.chat_home(org_id, person).await {
            Ok(view) => view,
            Err(error) => {
                tracing::warn!(%error, "could not build a Slack App Home");
                return;
            }
        };
        let body = json!({ "user_id": user, "view": render::home(&view) });
        let api = match self.api.for_org(org_id).await {
            Ok(api) => api,
            Err(error) => {
                tracing::warn!(?error, "no Slack token for the App Home");
                return;
            }
        };
        if let Err(error) = api.call("views.publish", &body).await {
            tracing::warn!(?error, "could not publish a Slack App Home");
        }
    }

    /// An edit or deletion of a message in a ticket's thread: recorded on
    /// the ticket (the original comment stays).
    async fn message_changed(
        &self,
        event: SlackMessageEvent,
        extra: &EventExtra,
        event_id: &str,
        team: &str,
        body: &[u8],
    ) -> Reply {
        let deleted = event.subtype == Some(SlackMessageEventType::MessageDeleted);
        let (current, previous) = (event.message.as_ref(), event.previous_message.as_ref());
        // Our own messages being edited (cards, approvals) are not news.
        if [current, previous]
            .iter()
            .flatten()
            .any(|m| m.sender.bot_id.is_some())
        {
            return Reply::Ack;
        }
        let (source, source_thread) = if deleted {
            (previous, extra.previous_message.as_ref())
        } else {
            (current, extra.message.as_ref())
        };
        let (Some(user), Some(channel), Some(ts)) = (
            source.and_then(|m| m.sender.user.as_ref()),
            event.origin.channel.as_ref(),
            source.map(|m| &m.ts).or(event.deleted_ts.as_ref()),
        ) else {
            return Reply::Ack;
        };
        let Some(thread) = source_thread
            .and_then(|t| t.thread_ts.as_deref())
            .filter(|t| *t != ts.0)
        else {
            return Reply::Ack;
        };
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        let contact = self.contact(org_id, team, &user.0, None);
        let text_of = |m: Option<&SlackMessageEventEdited>| {
            m.and_then(|m| m.content.as_ref())
                .and_then(|c| c.text.as_deref())
                .map(strip_mentions)
        };
        let message = ChatMessage {
            platform: PLATFORM,
            channel_kind: Channel::Slack,
            channel: channel.0.clone(),
            ts: ts.0.clone(),
            thread_ts: Some(thread.to_string()),
            text: if deleted {
                String::new()
            } else {
                text_of(current).unwrap_or_default()
            },
            direct: false,
        };
        let previous_text = text_of(previous);
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("event:{event_id}"), body)),
                move |work| {
                    Box::pin(async move {
                        desk.chat_message_changed(work, &contact, &message, previous_text, deleted)
                            .await
                    })
                },
            )
            .await;
        match outcome {
            Ok(Outcome::Done(ChatOutcome::Ignored { reason })) => {
                tracing::debug!(reason, "ignoring a Slack edit");
                Reply::Ack
            }
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a Slack edit", &e),
        }
    }
}

/// A message taken in (a direct message, a thread reply, a mention),
/// whichever event carried it.
struct Heard {
    user: String,
    channel: Option<String>,
    ts: String,
    thread_ts: Option<String>,
    text: String,
    files: Vec<SlackFile>,
}

/// An ignored event's type, for the debug log.
fn event_kind(event: &SlackEventCallbackBody) -> Option<String> {
    let value = serde_json::to_value(event).ok()?;
    value["type"].as_str().map(String::from)
}

/// Shared files as the deferred download reads them: slack-morphism's file
/// with the `mode` and `size` it does not model beside it.
fn shared_files(files: &[SlackFile], extra: &[FileExtra]) -> Vec<Value> {
    files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let extra = extra.get(i);
            json!({
                "id": file.id.0,
                "name": file.name,
                "title": file.title,
                "url_private_download": file.url_private_download.as_ref().map(|u| u.as_str()),
                "mode": extra.and_then(|e| e.mode.as_deref()),
                "size": extra.and_then(|e| e.size),
            })
        })
        .collect()
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
