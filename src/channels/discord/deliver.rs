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
//! the row is retried.

use futures::future::BoxFuture;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    api::{ApiFailure, DiscordApi, CANNOT_DM},
    render, PLATFORM,
};
use crate::{
    desk::{
        approvals::ApprovalView,
        chat::{ticket_target, APPROVAL, REQUESTER_THREAD, RESOLUTION_CHECK, TRIAGE_CARD},
        new_id,
        views::TicketView,
    },
    store::{self, chat::ChatMessageRow, outbox::OutboxRow, Db},
    workers::dispatcher::{Deliverer, Delivery},
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
            ApiFailure::Retry { error, after } => Delivery::Retry {
                error,
                not_before: after
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .map(|d| store::now() + d),
            },
            ApiFailure::Permanent { error, .. } => Delivery::Permanent(error),
        }
    }
}

/// What a posted message is recorded as, so later events find it.
#[derive(Clone, Copy)]
struct Record<'a> {
    purpose: &'a str,
    ticket_id: Option<Uuid>,
    approval_id: Option<Uuid>,
    person_id: Option<Uuid>,
}

fn db_retry(e: sqlx::Error) -> Delivery {
    Delivery::Retry {
        error: format!("database: {e}"),
        not_before: None,
    }
}

/// Where a message to a person goes.
enum Place {
    Dm(String),
    /// The fallback channel, mentioning the user.
    Channel(String),
}

impl DiscordDeliverer {
    pub fn new(api: DiscordApi, db: Db, fallback_channel: Option<String>) -> Self {
        Self {
            api,
            db,
            fallback_channel,
        }
    }

    async fn send(&self, message: &OutboxRow) -> Delivery {
        let result = match ticket_target(&message.target) {
            Some(ticket) => self.mirror(message, ticket).await,
            None => self.to_person(message).await,
        };
        match result {
            Ok(()) => Delivery::Delivered,
            Err(delivery) => delivery,
        }
    }

    /// Posts `body` to `channel`; records it under `purpose` when asked. A
    /// retried row edits what it posted. Returns the message id.
    async fn post(
        &self,
        message: &OutboxRow,
        channel: &str,
        body: Value,
        record: Option<Record<'_>>,
    ) -> Result<String, Delivery> {
        if let Some(Record { purpose, .. }) = record {
            if let Some(done) = store::chat::for_outbox(&self.db, message.id)
                .await
                .map_err(db_retry)?
                .filter(|m| m.purpose == purpose)
            {
                self.api
                    .edit_message(&done.channel, &done.ts, &body)
                    .await?;
                return Ok(done.ts);
            }
        }
        let id = self.api.post_message(channel, &body).await?;
        if let Some(Record {
            purpose,
            ticket_id,
            approval_id,
            person_id,
        }) = record
        {
            store::chat::record_posted(
                &self.db,
                &ChatMessageRow {
                    id: new_id(),
                    org_id: message.org_id,
                    platform: PLATFORM.into(),
                    purpose: purpose.into(),
                    ticket_id,
                    approval_id,
                    person_id,
                    channel: channel.to_string(),
                    ts: id.clone(),
                    outbox_id: Some(message.id),
                    created_at: store::now(),
                },
            )
            .await
            .map_err(db_retry)?;
        }
        Ok(id)
    }

    async fn mirror(&self, message: &OutboxRow, ticket_id: Uuid) -> Result<(), Delivery> {
        let payload = &message.payload.0;
        let Ok(ticket) = serde_json::from_value::<TicketView>(payload["ticket"].clone()) else {
            return Err(Delivery::Permanent("outbox payload has no ticket".into()));
        };
        let origin = &payload["origin"];
        // The conversation a change came from (set by the gateway intake).
        let from = |channel: &str, ts: &str| {
            origin["platform"] == PLATFORM && origin["channel"] == channel && origin["ts"] == ts
        };
        let threads = store::chat::for_ticket(&self.db, PLATFORM, ticket_id, REQUESTER_THREAD)
            .await
            .map_err(db_retry)?;
        let cards = store::chat::for_ticket(&self.db, PLATFORM, ticket_id, TRIAGE_CARD)
            .await
            .map_err(db_retry)?;
        let comment = &payload["details"]["comment"];
        let internal = comment["internal"].as_bool() == Some(true);

        // The requester's conversation.
        match message.event.as_str() {
            "ticket.created" => match threads.first() {
                Some(thread) => {
                    let text = format!(
                        "Thanks — I opened **{}** for you: {}. Replies here go to the ticket.",
                        ticket.number,
                        render::escape(&ticket.title)
                    );
                    self.post(message, &thread.channel, text_body(&text), None)
                        .await?;
                }
                None => self.open_requester_thread(message, &ticket).await?,
            },
            "ticket.commented" if !internal => {
                for thread in threads.iter().filter(|t| !from(&t.channel, &t.ts)) {
                    self.post(
                        message,
                        &thread.channel,
                        text_body(&comment_text(comment)),
                        None,
                    )
                    .await?;
                }
            }
            "ticket.state_changed" => {
                for thread in &threads {
                    let to = payload["details"]["to"].as_str().unwrap_or(&ticket.state);
                    let (body, record) = if to == "resolved" {
                        (
                            render::resolution_check(&ticket),
                            Some(Record {
                                purpose: RESOLUTION_CHECK,
                                ticket_id: Some(ticket_id),
                                approval_id: None,
                                person_id: thread.person_id,
                            }),
                        )
                    } else {
                        (
                            text_body(&format!("**{}** is now **{to}**.", ticket.number)),
                            None,
                        )
                    };
                    self.post(message, &thread.channel, body, record).await?;
                }
            }
            _ => {}
        }

        // The team's triage card and its thread (the thread's id is the card's).
        match cards.first() {
            Some(card) => {
                self.api
                    .edit_message(&card.channel, &card.ts, &render::card(&ticket))
                    .await?;
                if message.event == "ticket.commented" && !from(&card.channel, &card.ts) {
                    self.post(message, &card.ts, text_body(&comment_text(comment)), None)
                        .await?;
                }
            }
            None => {
                if let Some(channel) = self.team_channel(message.org_id, &ticket).await? {
                    let id = self
                        .post(
                            message,
                            &channel,
                            render::card(&ticket),
                            Some(Record {
                                purpose: TRIAGE_CARD,
                                ticket_id: Some(ticket_id),
                                approval_id: None,
                                person_id: None,
                            }),
                        )
                        .await?;
                    let name = render::cut(&format!("{} {}", ticket.number, ticket.title), 100);
                    self.api.start_thread(&channel, &id, &name).await?;
                }
            }
        }
        Ok(())
    }

    /// A ticket raised through Discord: the confirmation goes to the
    /// requester as a direct message, which becomes their conversation.
    async fn open_requester_thread(
        &self,
        message: &OutboxRow,
        ticket: &TicketView,
    ) -> Result<(), Delivery> {
        if ticket.channel != PLATFORM {
            return Ok(());
        }
        let Some(requester) = &ticket.requester else {
            return Ok(());
        };
        let Some(user) = self.discord_user(message.org_id, requester.id).await? else {
            return Ok(());
        };
        let channel = match self.api.dm_channel(&user).await {
            Ok(channel) => channel,
            // They don't take direct messages: the ephemeral answer told them.
            Err(ApiFailure::Permanent { .. }) => return Ok(()),
            Err(retry) => return Err(retry.into()),
        };
        let text = format!(
            "I opened **{}** for you: {}. I'll keep you posted here.",
            ticket.number,
            render::escape(&ticket.title)
        );
        match self
            .post(
                message,
                &channel,
                text_body(&text),
                Some(Record {
                    purpose: REQUESTER_THREAD,
                    ticket_id: Some(ticket.id),
                    approval_id: None,
                    person_id: Some(requester.id),
                }),
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

    async fn team_channel(
        &self,
        org_id: Uuid,
        ticket: &TicketView,
    ) -> Result<Option<String>, Delivery> {
        let Some(team) = &ticket.team else {
            return Ok(None);
        };
        let mut tx = self.db.read().await.map_err(db_retry)?;
        let row = store::teams::find_team(&mut tx, org_id, team.id)
            .await
            .map_err(db_retry)?;
        // Discord channels are numeric ids; a Slack-style `#name` is not ours.
        Ok(row
            .and_then(|t| t.default_channel)
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit())))
    }

    /// The person's Discord user id, if they have a Discord identity.
    async fn discord_user(&self, org_id: Uuid, person: Uuid) -> Result<Option<String>, Delivery> {
        let mut tx = self.db.read().await.map_err(db_retry)?;
        let identities = store::identity::list_identities(&mut tx, org_id, person)
            .await
            .map_err(db_retry)?;
        Ok(identities
            .into_iter()
            .find(|i| i.kind == PLATFORM)
            .map(|i| i.external_id))
    }

    /// The person's direct-message channel, or the fallback channel when
    /// they refuse direct messages.
    async fn place(&self, user: &str) -> Result<Place, Delivery> {
        match self.api.dm_channel(user).await {
            Ok(channel) => Ok(Place::Dm(channel)),
            Err(ApiFailure::Permanent { code, error }) => match &self.fallback_channel {
                Some(channel) if code == Some(CANNOT_DM) || code.is_none() => {
                    Ok(Place::Channel(channel.clone()))
                }
                _ => Err(Delivery::Permanent(error)),
            },
            Err(retry) => Err(retry.into()),
        }
    }

    /// Posts to a person; a refused direct message goes to the fallback
    /// channel instead.
    async fn to_place(
        &self,
        message: &OutboxRow,
        user: &str,
        body: Value,
        record: Option<Record<'_>>,
    ) -> Result<(), Delivery> {
        let place = self.place(user).await?;
        if let Place::Dm(channel) = &place {
            match self.post(message, channel, body.clone(), record).await {
                Err(Delivery::Permanent(error)) if self.fallback_channel.is_some() => {
                    tracing::info!(%error, "a Discord direct message was refused; using the fallback channel");
                }
                other => return other.map(|_| ()),
            }
        }
        let channel = match place {
            Place::Channel(channel) => channel,
            Place::Dm(_) => self.fallback_channel.clone().unwrap_or_default(),
        };
        let mut body = body;
        let content = body["content"].as_str().unwrap_or_default().to_string();
        body["content"] = json!(render::cut(&format!("<@{user}> {content}"), 2000));
        body["allowed_mentions"] = json!({ "users": [user] });
        self.post(message, &channel, body, record).await?;
        Ok(())
    }

    async fn to_person(&self, message: &OutboxRow) -> Result<(), Delivery> {
        let payload = &message.payload.0;
        let Some((_, user)) = message.target.split_once(':') else {
            return Err(Delivery::Permanent(format!(
                "bad Discord target `{}`",
                message.target
            )));
        };
        let person = payload["person"]
            .as_str()
            .and_then(|p| Uuid::parse_str(p).ok());
        let approval =
            serde_json::from_value::<ApprovalView>(payload["data"]["approval"].clone()).ok();
        let subject = payload["subject"].as_str().unwrap_or_default();
        let text = payload["text"].as_str().unwrap_or_default();
        match (message.event.as_str(), approval) {
            ("approval.requested" | "approval.reminder", Some(view)) => {
                let mut body = render::approval(&view);
                if message.event == "approval.reminder" {
                    body["content"] = json!(render::cut(
                        &format!("Reminder: {}", body["content"].as_str().unwrap_or("")),
                        2000
                    ));
                }
                let record = Record {
                    purpose: APPROVAL,
                    ticket_id: None,
                    approval_id: Some(view.id),
                    person_id: person,
                };
                self.to_place(message, user, body, Some(record)).await?;
            }
            ("approval.updated", Some(view)) => {
                let copies = store::chat::for_approval(&self.db, PLATFORM, view.id)
                    .await
                    .map_err(db_retry)?;
                for copy in copies.iter().filter(|c| c.person_id == person) {
                    let mut body = render::approval(&view);
                    if !copy.channel.is_empty()
                        && self.fallback_channel.as_deref() == Some(&copy.channel)
                    {
                        let content = body["content"].as_str().unwrap_or_default().to_string();
                        body["content"] = json!(render::cut(&format!("<@{user}> {content}"), 2000));
                    }
                    self.api
                        .edit_message(&copy.channel, &copy.ts, &body)
                        .await?;
                }
            }
            ("escalation" | "sla.warning" | "sla.breached", _) => {
                let number = payload["data"]["ticket"].as_str();
                let record = Record {
                    purpose: ALERT,
                    ticket_id: None,
                    approval_id: None,
                    person_id: person,
                };
                self.to_place(
                    message,
                    user,
                    render::notice(subject, text, number),
                    Some(record),
                )
                .await?;
            }
            _ => {
                self.to_place(message, user, render::notice(subject, text, None), None)
                    .await?;
            }
        }
        Ok(())
    }
}

fn text_body(text: &str) -> Value {
    json!({ "content": render::cut(text, 2000), "allowed_mentions": { "parse": [] } })
}

fn comment_text(comment: &Value) -> String {
    let author = comment["author"]["name"]
        .as_str()
        .or_else(|| comment["author_name"].as_str())
        .unwrap_or("Someone");
    let body = comment["body"].as_str().unwrap_or_default();
    format!("**{}**: {}", render::escape(author), render::escape(body))
}

impl Deliverer for DiscordDeliverer {
    fn channel(&self) -> &'static str {
        PLATFORM
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(self.send(message))
    }
}
