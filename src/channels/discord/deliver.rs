//! The Discord deliverer: renders outbox rows of channel `discord` and
//! sends them. Two kinds of target:
//! - `ticket:<id>` mirrors a ticket event: the team's triage card (posted
//!   once with a thread opened on it, then edited in place), the
//!   requester's direct messages (confirmation, public comments, state
//!   changes, the resolution check) and the card's thread (every comment)
//!   — never echoing a message back to where it came from;
//! - `<guild>:<user>` is a person: approval requests (recorded so their
//!   copies can be edited after a decision), escalations and SLA alarms
//!   (with an Acknowledge button) and notices, as direct messages — or, for
//!   people who do not accept direct messages, in `discord.fallback_channel`
//!   with a mention.
//!
//! A message an outbox row already posted is edited, not posted again, when
//! the row is retried. The steps Slack shares are in `common::deliver`;
//! here are Discord's calls and markup, threads on cards, and messages to
//! people with the fallback channel.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{
    api::{ApiFailure, DiscordApi, CANNOT_DM},
    render::{self, CONTENT_MAX},
    PLATFORM,
};
use crate::{
    channels::common::deliver::{
        self as common, ChatPlatform, Markup, Mirror, PersonEvent, PersonMessage, Place, Record,
    },
    desk::{chat::REQUESTER_THREAD, OutboxFile},
    runtime::delivery::{Deliverer, Delivery},
    store::{chat::ChatMessageRow, outbox::OutboxRow, Db},
};

/// Purpose of an escalation or SLA notice with an Acknowledge button.
const ALERT: &str = "alert";

pub struct DiscordDeliverer {
    api: DiscordApi,
    db: Db,
    /// Where messages to people who refuse direct messages go, if anywhere.
    fallback_channel: Option<String>,
}

impl From<ApiFailure> for Delivery {
    fn from(failure: ApiFailure) -> Self {
        match failure {
            ApiFailure::Retry { error, after } => Delivery::retry_in(error, after),
            ApiFailure::Permanent { error, .. } => Delivery::Permanent(error),
        }
    }
}

/// Where a message to a person goes.
enum Dm {
    Channel(String),
    /// They refuse direct messages: the fallback channel, mentioning them.
    Fallback(String),
}

/// `body` with its content opened by a mention of `user`.
fn mentioning(mut body: Value, user: &str) -> Value {
    let content = body["content"].as_str().unwrap_or_default().to_string();
    body["content"] = json!(render::cut(&format!("<@{user}> {content}"), CONTENT_MAX));
    body
}

impl DiscordDeliverer {
    pub fn new(api: DiscordApi, db: Db, fallback_channel: Option<String>) -> Self {
        Self {
            api,
            db,
            fallback_channel,
        }
    }

    /// The person's direct-message channel, or the fallback channel when
    /// they refuse direct messages.
    async fn dm(&self, user: &str) -> Result<Dm, Delivery> {
        match self.api.dm_channel(user).await {
            Ok(channel) => Ok(Dm::Channel(channel)),
            Err(ApiFailure::Permanent { code, error }) => match &self.fallback_channel {
                Some(channel) if code == Some(CANNOT_DM) || code.is_none() => {
                    Ok(Dm::Fallback(channel.clone()))
                }
                _ => Err(Delivery::Permanent(error)),
            },
            Err(retry) => Err(retry.into()),
        }
    }

    /// Posts to a person; a refused direct message goes to the fallback
    /// channel instead.
    async fn to_dm(
        &self,
        message: &OutboxRow,
        user: &str,
        body: Value,
        record: Option<Record<'_>>,
    ) -> Result<(), Delivery> {
        let dm = self.dm(user).await?;
        if let Dm::Channel(channel) = &dm {
            let to = Place::channel(channel);
            match common::post(self, message, to, body.clone(), record).await {
                Err(Delivery::Permanent(error)) if self.fallback_channel.is_some() => {
                    tracing::info!(%error, "a Discord direct message was refused; using the fallback channel");
                }
                other => return other.map(|_| ()),
            }
        }
        let channel = match dm {
            Dm::Fallback(channel) => channel,
            Dm::Channel(_) => self.fallback_channel.clone().unwrap_or_default(),
        };
        let mut body = mentioning(body, user);
        body["allowed_mentions"] = json!({ "users": [user] });
        common::post(self, message, Place::channel(&channel), body, record).await?;
        Ok(())
    }
}

impl ChatPlatform for DiscordDeliverer {
    const PLATFORM: &'static str = PLATFORM;
    const MARKUP: Markup = render::MARKUP;

    fn db(&self) -> &Db {
        &self.db
    }

    /// Threads are channels of their own on Discord: `to.thread` is unused.
    /// The mark is the message's nonce, enforced: Discord answers a
    /// second create with the same nonce (for a few minutes) with the
    /// message it made the first time instead of posting again.
    async fn send(
        &self,
        to: Place<'_>,
        body: Value,
        mark: &str,
    ) -> Result<(String, String), Delivery> {
        let mut request = body;
        request["nonce"] = json!(mark);
        request["enforce_nonce"] = json!(true);
        let id = self.api.post_message(to.channel, &request).await?;
        Ok((to.channel.to_string(), id))
    }

    /// Nothing to search: the enforced nonce makes the post itself
    /// idempotent.
    async fn find_posted(
        &self,
        _to: Place<'_>,
        _mark: &str,
        _since: DateTime<Utc>,
    ) -> Result<Option<(String, String)>, Delivery> {
        Ok(None)
    }

    async fn edit(&self, channel: &str, id: &str, body: Value) -> Result<(), Delivery> {
        self.api.edit_message(channel, id, &body).await?;
        Ok(())
    }

    /// The requester's conversation is a direct-message channel.
    fn in_requester_thread(thread: &ChatMessageRow) -> Place<'_> {
        Place::channel(&thread.channel)
    }

    /// A card's thread has the card's id.
    fn in_card_thread(card: &ChatMessageRow) -> Place<'_> {
        Place::channel(&card.ts)
    }

    /// Discord channels are numeric ids; a Slack-style `#name` is not ours.
    fn team_channel(configured: &str) -> Option<String> {
        let channel = configured.trim();
        (!channel.is_empty() && channel.chars().all(|ch| ch.is_ascii_digit()))
            .then(|| channel.to_string())
    }

    /// A direct message, in the DM channel Discord opens for the user.
    async fn open_requester_thread(&self, m: &Mirror<'_>, user: &str) -> Result<(), Delivery> {
        let channel = match self.api.dm_channel(user).await {
            Ok(channel) => channel,
            // They don't take direct messages: the ephemeral answer told them.
            Err(ApiFailure::Permanent { .. }) => return Ok(()),
            Err(retry) => return Err(retry.into()),
        };
        let ticket = m.ticket;
        let text = format!(
            "I opened **{}** for you: {}. I'll keep you posted here.",
            ticket.number,
            render::escape(&ticket.title)
        );
        let requester = ticket.requester.as_ref().map(|p| p.id);
        let record = Record::ticket(REQUESTER_THREAD, ticket.id, requester);
        let body = (render::MARKUP.text)(&text);
        match common::post(
            self,
            m.message,
            Place::channel(&channel),
            body,
            Some(record),
        )
        .await
        {
            Err(Delivery::Permanent(error)) => {
                tracing::info!(%error, "could not message a requester on Discord");
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Opens the card's thread, where the ticket's comments go.
    async fn card_posted(&self, m: &Mirror<'_>, channel: &str, id: &str) -> Result<(), Delivery> {
        // Discord refuses a second thread on a message: once per row.
        let step = format!("thread@{channel}/{id}");
        if common::step_done(self, m.message, &step).await?.is_some() {
            return Ok(());
        }
        let name = render::cut(&format!("{} {}", m.ticket.number, m.ticket.title), 100);
        let thread = self.api.start_thread(channel, id, &name).await?;
        common::record_step(self, m.message, &step, channel, &thread).await
    }

    async fn to_person(&self, message: &OutboxRow, to: PersonMessage<'_>) -> Result<(), Delivery> {
        match &to.kind {
            PersonEvent::ApprovalRequest { view, reminder } => {
                let mut body = render::approval(view);
                if *reminder {
                    let content = body["content"].as_str().unwrap_or("");
                    body["content"] =
                        json!(render::cut(&format!("Reminder: {content}"), CONTENT_MAX));
                }
                let record = Record::approval(view.id, to.person);
                self.to_dm(message, to.user, body, Some(record)).await?;
            }
            PersonEvent::ApprovalUpdate(view) => {
                for copy in to.approval_copies(self, view.id).await? {
                    let mut body = render::approval(view);
                    if !copy.channel.is_empty()
                        && self.fallback_channel.as_deref() == Some(&copy.channel)
                    {
                        body = mentioning(body, to.user);
                    }
                    self.edit(&copy.channel, &copy.ts, body).await?;
                }
            }
            PersonEvent::Alarm { ticket } => {
                // With an Acknowledge button when it names its ticket.
                let body = render::notice(to.subject, to.text, *ticket);
                let record = Record::person(ALERT, to.person);
                self.to_dm(message, to.user, body, Some(record)).await?;
            }
            PersonEvent::Notice => {
                let body = render::notice(to.subject, to.text, None);
                self.to_dm(message, to.user, body, None).await?;
            }
        }
        Ok(())
    }

    async fn share_files(
        &self,
        channel: &str,
        text: &str,
        files: &[OutboxFile],
    ) -> Result<(), Delivery> {
        let body = (render::MARKUP.text)(text);
        let files: Vec<(&str, &str, &[u8])> = files
            .iter()
            .map(|f| (f.name.as_str(), f.content_type.as_str(), f.bytes.as_slice()))
            .collect();
        self.api
            .post_message_with_files(channel, &body, &files)
            .await?;
        Ok(())
    }
}

impl Deliverer for DiscordDeliverer {
    fn channel(&self) -> &'static str {
        PLATFORM
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(common::deliver(self, message))
    }
}
