//! Chat use cases shared by the chat platforms: a message to the bot opens
//! a ticket or, in a ticket's thread, comments on it; ticket events become
//! outbox rows for each enabled chat platform (triage cards, thread sync,
//! resolution checks), which the platform's deliverer renders.

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    identity::{actor_for, resolve_contact_in, Contact},
    new_id,
    tickets::OpenTicket,
    views::TicketView,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{Channel, Kind},
    store::{self, chat::ChatMessageRow, outbox::OutboxRow},
};

/// Purposes of recorded chat messages.
pub const REQUESTER_THREAD: &str = "requester_thread";
pub const TRIAGE_CARD: &str = "triage_card";
pub const APPROVAL: &str = "approval";
pub const RESOLUTION_CHECK: &str = "resolution_check";

/// Ticket events the chat platforms mirror.
const MIRRORED: &[&str] = &[
    "ticket.created",
    "ticket.updated",
    "ticket.state_changed",
    "ticket.assigned",
    "ticket.commented",
    "ticket.major_changed",
];

/// A message someone wrote to or near the bot.
#[derive(Debug, Clone)]
pub struct ChatMessage {
    /// `slack` or `discord`.
    pub platform: &'static str,
    pub channel_kind: Channel,
    /// Where it was written, and its id there.
    pub channel: String,
    pub ts: String,
    /// The thread it replies in, if any.
    pub thread_ts: Option<String>,
    pub text: String,
    /// A direct message to the bot.
    pub direct: bool,
}

/// What became of a chat message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChatOutcome {
    Opened { ticket: Box<TicketView> },
    Commented { number: String, internal: bool },
    Ignored { reason: String },
}

impl Work {
    /// Marks the chat thread a change came from, so the mirror does not
    /// echo it back there.
    pub(crate) fn set_chat_origin(&mut self, platform: &str, channel: &str, ts: &str) {
        self.chat_origin = Some(json!({ "platform": platform, "channel": channel, "ts": ts }));
    }
}

impl Desk {
    /// Resolves a chat contact to an actor inside the use case's transaction
    /// (creating a requester on first contact).
    pub async fn chat_actor(
        &self,
        work: &mut Work,
        contact: &Contact,
        channel: Channel,
    ) -> Result<Actor, DeskError> {
        let person = resolve_contact_in(work, contact).await?;
        if person.disabled_at.is_some() {
            return Err(DeskError::Forbidden("this account is disabled".into()));
        }
        Ok(actor_for(&person, channel))
    }

    /// A direct message opens a ticket (its thread becomes the requester's
    /// thread); a reply in a requester thread is a public comment, in a
    /// triage card's thread an internal note.
    pub async fn chat_message(
        &self,
        work: &mut Work,
        contact: &Contact,
        message: ChatMessage,
    ) -> Result<ChatOutcome, DeskError> {
        let actor = self.chat_actor(work, contact, message.channel_kind).await?;
        let text = message.text.trim();
        if text.is_empty() {
            return Ok(ChatOutcome::Ignored {
                reason: "empty message".into(),
            });
        }
        if let Some(thread) = &message.thread_ts {
            let root =
                store::chat::find_by_ts(&mut work.tx, message.platform, &message.channel, thread)
                    .await?;
            if let Some(root) = root.filter(|r| r.org_id == actor.org_id) {
                let Some(ticket_id) = root.ticket_id else {
                    return Ok(ChatOutcome::Ignored {
                        reason: "a thread without a ticket".into(),
                    });
                };
                let ticket = store::tickets::find_ticket(&mut work.tx, actor.org_id, ticket_id)
                    .await?
                    .ok_or(DeskError::NotFound("ticket"))?;
                let internal = root.purpose == TRIAGE_CARD;
                if internal && !actor.is_agent() {
                    return Ok(ChatOutcome::Ignored {
                        reason: "only agents' replies on a triage card become notes".into(),
                    });
                }
                work.set_chat_origin(message.platform, &message.channel, thread);
                self.add_comment(work, &actor, &ticket.number, text, internal)
                    .await?;
                return Ok(ChatOutcome::Commented {
                    number: ticket.number,
                    internal,
                });
            }
            if !message.direct {
                return Ok(ChatOutcome::Ignored {
                    reason: "a thread the bot does not follow".into(),
                });
            }
        }
        if !message.direct {
            return Ok(ChatOutcome::Ignored {
                reason: "not addressed to the bot".into(),
            });
        }
        let ticket = self
            .open_ticket(work, &actor, ticket_from_text(Kind::Incident, text))
            .await?;
        self.record_thread(
            work,
            &actor,
            &ticket,
            message.platform,
            &message.channel,
            &message.ts,
        )
        .await?;
        work.set_chat_origin(message.platform, &message.channel, &message.ts);
        Ok(ChatOutcome::Opened {
            ticket: Box::new(ticket),
        })
    }

    /// Makes (channel, ts) the requester's thread of `ticket`.
    pub async fn record_thread(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketView,
        platform: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), DeskError> {
        store::chat::insert_message(
            &mut work.tx,
            &ChatMessageRow {
                id: new_id(),
                org_id: actor.org_id,
                platform: platform.into(),
                purpose: REQUESTER_THREAD.into(),
                ticket_id: Some(ticket.id),
                approval_id: None,
                person_id: actor.person_id,
                channel: channel.into(),
                ts: ts.into(),
                outbox_id: None,
                created_at: store::now(),
            },
        )
        .await?;
        Ok(())
    }

    /// One outbox row per mirrored ticket event and enabled chat platform;
    /// runs before the flush, after automation, like the webhook fan-out.
    pub(crate) fn chat_fan_out(&self, work: &mut Work) {
        if self.settings.chat_platforms.is_empty() {
            return;
        }
        let now = store::now();
        let mut rows = Vec::new();
        for event in work.events.iter().filter(|e| MIRRORED.contains(&e.name)) {
            for platform in &self.settings.chat_platforms {
                rows.push(OutboxRow {
                    id: new_id(),
                    org_id: event.org_id,
                    channel: platform.clone(),
                    target: format!("ticket:{}", event.ticket.id),
                    event: event.name.into(),
                    payload: sqlx::types::Json(json!({
                        "ticket": event.ticket,
                        "details": event.details,
                        "origin": work.chat_origin,
                    })),
                    state: store::outbox::PENDING.into(),
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                    created_at: now,
                    delivered_at: None,
                });
            }
        }
        work.outbox.extend(rows);
    }
}

/// A ticket from free text: the first line is the title (shortened), the
/// whole text the description.
pub fn ticket_from_text(kind: Kind, text: &str) -> OpenTicket {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim();
    let title: String = if first.chars().count() > 120 {
        let cut: String = first.chars().take(117).collect();
        format!("{cut}…")
    } else {
        first.to_string()
    };
    OpenTicket {
        kind: kind.as_str().into(),
        title,
        description: text.to_string(),
        ..OpenTicket::default()
    }
}

/// Parses the ticket id out of a chat outbox target (`ticket:<id>`).
pub fn ticket_target(target: &str) -> Option<Uuid> {
    target
        .strip_prefix("ticket:")
        .and_then(|id| Uuid::parse_str(id).ok())
}
