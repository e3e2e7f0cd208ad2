//! What the Slack and Discord deliverers do alike, written once: a ticket
//! event (`ticket:<id>` target) mirrored into the requester's conversation
//! and the team's triage card and its thread, never echoing a message back
//! to where it came from; a message recorded when posted, so that a
//! retried outbox row edits what it posted instead of posting again (each
//! post carries a mark of its row and step, so one an attempt made just
//! before it was killed is found rather than posted twice); and the lookups both need (the team's channel, a person's platform user).
//!
//! A platform implements [`ChatPlatform`]: how it posts and edits, its
//! [`Markup`] (in its `render`), where replies go (Slack threads under a
//! message, Discord posts into a thread or a direct-message channel), and
//! its own steps around the common ones (Slack refreshes home tabs,
//! Discord opens a thread on a new card). Messages to people
//! (`<workspace>:<user>` targets) are read once into a [`PersonMessage`];
//! what each platform makes of them differs too much to share more.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    desk::{
        alerts::{alert_brief, AlertBrief},
        approvals::ApprovalView,
        chat::{ticket_target, APPROVAL, REQUESTER_THREAD, RESOLUTION_CHECK, TRIAGE_CARD},
        outbox_files,
        views::TicketView,
        OutboxFile, REPORT_EVENT,
    },
    domain::id::new_id,
    runtime::delivery::Delivery,
    store::{self, chat::ChatMessageRow, outbox::OutboxRow, Db},
};

/// Where a message goes: a channel (or direct-message channel), and on
/// platforms with threads under a message, the message it answers.
#[derive(Clone, Copy)]
pub struct Place<'a> {
    pub channel: &'a str,
    pub thread: Option<&'a str>,
}

impl<'a> Place<'a> {
    pub fn channel(channel: &'a str) -> Self {
        Self {
            channel,
            thread: None,
        }
    }
}

/// What a posted message is recorded as, so later events find it.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub purpose: &'a str,
    pub ticket_id: Option<Uuid>,
    pub approval_id: Option<Uuid>,
    pub person_id: Option<Uuid>,
}

impl<'a> Record<'a> {
    /// A message about a ticket (a triage card, a requester's thread).
    pub fn ticket(purpose: &'a str, ticket: Uuid, person: Option<Uuid>) -> Self {
        Self {
            purpose,
            ticket_id: Some(ticket),
            approval_id: None,
            person_id: person,
        }
    }

    /// An approval request sent to a person, edited after a decision.
    pub fn approval(approval: Uuid, person: Option<Uuid>) -> Self {
        Self {
            purpose: APPROVAL,
            ticket_id: None,
            approval_id: Some(approval),
            person_id: person,
        }
    }

    /// Any other message to a person that is found again by its purpose.
    pub fn person(purpose: &'a str, person: Option<Uuid>) -> Self {
        Self {
            purpose,
            ticket_id: None,
            approval_id: None,
            person_id: person,
        }
    }
}

/// A platform's markup, as its `render` module defines it.
pub struct Markup {
    /// Escapes text so it shows as written.
    pub escape: fn(&str) -> String,
    /// Bold text (escaped already, or safe: numbers, states).
    pub bold: fn(&str) -> String,
    /// A plain text message.
    pub text: fn(&str) -> Value,
    /// A ticket's triage card.
    pub card: fn(&TicketView, Option<&AlertBrief>) -> Value,
    /// "Is this solved?", sent when a ticket is resolved.
    pub resolution_check: fn(&TicketView) -> Value,
    /// How the confirmation in an existing conversation ends.
    pub replies_go_to_the_ticket: &'static str,
}

/// A ticket event being mirrored, as the platform's steps see it.
pub struct Mirror<'a> {
    pub message: &'a OutboxRow,
    pub ticket: &'a TicketView,
}

/// A chat platform as the common delivery steps see it.
pub trait ChatPlatform: Sync {
    /// The platform name of outbox rows, identities and chat messages.
    const PLATFORM: &'static str;
    const MARKUP: Markup;

    fn db(&self) -> &Db;
    /// Posts `body` to `to`, carrying `mark` (see [`post_mark`]); the
    /// channel the message landed in (a user id may turn into a
    /// direct-message channel) and the message's id.
    async fn send(
        &self,
        to: Place<'_>,
        body: Value,
        mark: &str,
    ) -> Result<(String, String), Delivery>;
    /// The message carrying `mark` posted at `to` since `since`, if the
    /// platform can look messages up by it: an attempt killed between the
    /// post and recording it left the post unrecorded.
    async fn find_posted(
        &self,
        to: Place<'_>,
        mark: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, String)>, Delivery>;
    async fn edit(&self, channel: &str, id: &str, body: Value) -> Result<(), Delivery>;
    /// Where a reply in the requester's recorded conversation goes.
    fn in_requester_thread(thread: &ChatMessageRow) -> Place<'_>;
    /// Where a reply under the team's recorded triage card goes.
    fn in_card_thread(card: &ChatMessageRow) -> Place<'_>;
    /// A team's default channel as this platform names channels, if it does.
    fn team_channel(configured: &str) -> Option<String>;
    /// A ticket raised on this platform without a conversation (a command,
    /// a modal): the requester (platform user `user`) gets the confirmation
    /// directly, which becomes their conversation.
    async fn open_requester_thread(&self, m: &Mirror<'_>, user: &str) -> Result<(), Delivery>;
    /// After a triage card was first posted as `id` in `channel`.
    async fn card_posted(
        &self,
        _m: &Mirror<'_>,
        _channel: &str,
        _id: &str,
    ) -> Result<(), Delivery> {
        Ok(())
    }
    /// After a ticket event was mirrored.
    async fn mirrored(&self, _m: &Mirror<'_>) -> Result<(), Delivery> {
        Ok(())
    }
    /// A message to a person (`<workspace>:<user>` targets).
    async fn to_person(&self, message: &OutboxRow, to: PersonMessage<'_>) -> Result<(), Delivery>;
    /// Posts a message with files (a scheduled report) to a channel, in
    /// one post.
    async fn share_files(
        &self,
        channel: &str,
        text: &str,
        files: &[OutboxFile],
    ) -> Result<(), Delivery>;
}

/// A storage failure while delivering: try again later.
pub fn db_retry(e: sqlx::Error) -> Delivery {
    Delivery::Retry {
        error: format!("database: {e}"),
        not_before: None,
    }
}

/// One delivery attempt of an outbox row of the platform's channel.
pub async fn deliver<P: ChatPlatform>(platform: &P, message: &OutboxRow) -> Delivery {
    if message.event == REPORT_EVENT {
        return share_report(platform, message)
            .await
            .err()
            .unwrap_or(Delivery::Delivered);
    }
    let result = match ticket_target(&message.target) {
        Some(ticket) => mirror(platform, message, ticket).await,
        None => match PersonMessage::read::<P>(message) {
            Ok(to) => platform.to_person(message, to).await,
            Err(refused) => Err(refused),
        },
    };
    result.err().unwrap_or(Delivery::Delivered)
}

/// A scheduled report: its summary with its files, to the channel named
/// by the row's target.
async fn share_report<P: ChatPlatform>(platform: &P, message: &OutboxRow) -> Result<(), Delivery> {
    let files = outbox_files(&message.payload.0).map_err(Delivery::Permanent)?;
    let field = |key: &str| message.payload.0[key].as_str().unwrap_or_default();
    let markup = P::MARKUP;
    let text = format!(
        "{}\n{}",
        (markup.bold)(&(markup.escape)(field("subject"))),
        (markup.escape)(field("text"))
    );
    platform.share_files(&message.target, &text, &files).await
}

/// Posts `body` to `to`; records it under its purpose when asked. Each
/// post is a step of the row's delivery: a retried row does not post again
/// what an earlier attempt posted — it edits a recorded message (a card, a
/// resolution check) and skips the rest (a comment in a thread), so an
/// attempt that failed at a later step resumes there. Returns the
/// message id.
pub async fn post<P: ChatPlatform>(
    platform: &P,
    message: &OutboxRow,
    to: Place<'_>,
    body: Value,
    record: Option<Record<'_>>,
) -> Result<String, Delivery> {
    let db = platform.db();
    let purpose = record.map_or("post", |r| r.purpose);
    let step = format!("{purpose}@{}/{}", to.channel, to.thread.unwrap_or_default());
    let mut done = step_done(platform, message, &step).await?;
    if done.is_none() && record.is_some() {
        // A row an older version began recorded its message only here.
        done = store::chat::for_outbox(db, message.id)
            .await
            .map_err(db_retry)?
            .filter(|m| m.purpose == purpose)
            .map(|m| (m.channel, m.ts));
    }
    if let Some((channel, id)) = done {
        if record.is_some() {
            platform.edit(&channel, &id, body).await?;
        }
        return Ok(id);
    }
    let mark = post_mark(message.id, &step);
    // Claimed before (a claim counts an attempt) with the step unrecorded:
    // the earlier attempt may have posted and died before recording it.
    let found = if message.attempts > 1 {
        platform.find_posted(to, &mark, message.created_at).await?
    } else {
        None
    };
    let (channel, id) = match found {
        Some(posted) => posted,
        None => platform.send(to, body, &mark).await?,
    };
    record_step(platform, message, &step, &channel, &id).await?;
    if let Some(Record {
        purpose,
        ticket_id,
        approval_id,
        person_id,
    }) = record
    {
        store::chat::record_posted(
            db,
            &ChatMessageRow {
                id: new_id(),
                org_id: message.org_id,
                platform: P::PLATFORM.into(),
                purpose: purpose.into(),
                ticket_id,
                approval_id,
                person_id,
                channel,
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

/// What a post made as step `step` of outbox row `row` carries so a later
/// attempt can recognise it: 24 hex digits of a hash of both, which fits
/// Discord's 25-character nonce.
pub fn post_mark(row: Uuid, step: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(row.as_bytes())
        .chain_update(step.as_bytes())
        .finalize();
    hex::encode(&digest[..12])
}

/// What step `step` of the row made in an earlier attempt (the channel and
/// id of the message), if it was done.
pub async fn step_done<P: ChatPlatform>(
    platform: &P,
    message: &OutboxRow,
    step: &str,
) -> Result<Option<(String, String)>, Delivery> {
    let steps = store::outbox::steps(platform.db(), message.id)
        .await
        .map_err(db_retry)?;
    let done = &steps[step];
    Ok(done["id"].as_str().map(|id| {
        let channel = done["channel"].as_str().unwrap_or_default();
        (channel.to_string(), id.to_string())
    }))
}

/// Records step `step` of the row as done, making message `id` in
/// `channel`.
pub async fn record_step<P: ChatPlatform>(
    platform: &P,
    message: &OutboxRow,
    step: &str,
    channel: &str,
    id: &str,
) -> Result<(), Delivery> {
    let done = serde_json::json!({ "channel": channel, "id": id });
    store::outbox::record_step(platform.db(), message.id, step, done)
        .await
        .map_err(db_retry)
}

async fn mirror<P: ChatPlatform>(
    platform: &P,
    message: &OutboxRow,
    ticket_id: Uuid,
) -> Result<(), Delivery> {
    let payload = &message.payload.0;
    let Ok(ticket) = serde_json::from_value::<TicketView>(payload["ticket"].clone()) else {
        return Err(Delivery::Permanent("outbox payload has no ticket".into()));
    };
    let db = platform.db();
    let markup = &P::MARKUP;
    let origin = &payload["origin"];
    // The conversation a change came from (a thread reply, a gateway message).
    let from = |row: &ChatMessageRow| {
        origin["platform"] == P::PLATFORM
            && origin["channel"] == row.channel
            && origin["ts"] == row.ts
    };
    let threads = store::chat::for_ticket(db, P::PLATFORM, ticket_id, REQUESTER_THREAD)
        .await
        .map_err(db_retry)?;
    let cards = store::chat::for_ticket(db, P::PLATFORM, ticket_id, TRIAGE_CARD)
        .await
        .map_err(db_retry)?;
    let comment = &payload["details"]["comment"];
    let internal = comment["internal"].as_bool() == Some(true);
    let comment_text = || {
        let author = comment["author"]["name"]
            .as_str()
            .or_else(|| comment["author_name"].as_str())
            .unwrap_or("Someone");
        let body = comment["body"].as_str().unwrap_or_default();
        (markup.text)(&format!(
            "{}: {}",
            (markup.bold)(&(markup.escape)(author)),
            (markup.escape)(body)
        ))
    };

    // The requester's conversation.
    match message.event.as_str() {
        "ticket.created" => match threads.first() {
            Some(thread) => {
                let text = format!(
                    "Thanks — I opened {} for you: {}. {}",
                    (markup.bold)(&ticket.number),
                    (markup.escape)(&ticket.title),
                    markup.replies_go_to_the_ticket
                );
                let to = P::in_requester_thread(thread);
                post(platform, message, to, (markup.text)(&text), None).await?;
            }
            None => {
                open_requester_thread(
                    platform,
                    &Mirror {
                        message,
                        ticket: &ticket,
                    },
                )
                .await?
            }
        },
        "ticket.commented" if !internal => {
            for thread in threads.iter().filter(|t| !from(t)) {
                let to = P::in_requester_thread(thread);
                post(platform, message, to, comment_text(), None).await?;
            }
        }
        "ticket.state_changed" => {
            for thread in &threads {
                let to = payload["details"]["to"].as_str().unwrap_or(&ticket.state);
                let (body, record) = if to == "resolved" {
                    let record = Record::ticket(RESOLUTION_CHECK, ticket_id, thread.person_id);
                    ((markup.resolution_check)(&ticket), Some(record))
                } else {
                    let bold = markup.bold;
                    let text = format!("{} is now {}.", bold(&ticket.number), bold(to));
                    ((markup.text)(&text), None)
                };
                let to = P::in_requester_thread(thread);
                post(platform, message, to, body, record).await?;
            }
        }
        _ => {}
    }

    // The team's triage card and its thread.
    let brief = alert_brief(db, &ticket).await.map_err(db_retry)?;
    match cards.first() {
        Some(card) => {
            if message.event == "ticket.commented" && !from(card) {
                let to = P::in_card_thread(card);
                post(platform, message, to, comment_text(), None).await?;
            }
            platform
                .edit(
                    &card.channel,
                    &card.ts,
                    (markup.card)(&ticket, brief.as_ref()),
                )
                .await?;
        }
        None => {
            if let Some(channel) = team_channel(platform, message.org_id, &ticket).await? {
                let record = Record::ticket(TRIAGE_CARD, ticket_id, None);
                let to = Place::channel(&channel);
                let card = (markup.card)(&ticket, brief.as_ref());
                let id = post(platform, message, to, card, Some(record)).await?;
                let m = Mirror {
                    message,
                    ticket: &ticket,
                };
                platform.card_posted(&m, &channel, &id).await?;
            }
        }
    }
    platform
        .mirrored(&Mirror {
            message,
            ticket: &ticket,
        })
        .await
}

/// A ticket raised on this platform, by a requester with a user here.
async fn open_requester_thread<P: ChatPlatform>(
    platform: &P,
    m: &Mirror<'_>,
) -> Result<(), Delivery> {
    if m.ticket.channel != P::PLATFORM {
        return Ok(());
    }
    let Some(requester) = &m.ticket.requester else {
        return Ok(());
    };
    match platform_user(platform, m.message.org_id, requester.id).await? {
        Some(user) => platform.open_requester_thread(m, &user).await,
        None => Ok(()),
    }
}

/// The channel of the ticket's team, as the platform names channels.
async fn team_channel<P: ChatPlatform>(
    platform: &P,
    org_id: Uuid,
    ticket: &TicketView,
) -> Result<Option<String>, Delivery> {
    let Some(team) = &ticket.team else {
        return Ok(None);
    };
    let mut tx = platform.db().read().await.map_err(db_retry)?;
    let row = store::teams::find_team(&mut tx, org_id, team.id)
        .await
        .map_err(db_retry)?;
    Ok(row
        .and_then(|t| t.default_channel)
        .and_then(|c| P::team_channel(&c)))
}

/// The person's user id on the platform, if they have an identity there.
pub async fn platform_user<P: ChatPlatform>(
    platform: &P,
    org_id: Uuid,
    person: Uuid,
) -> Result<Option<String>, Delivery> {
    let mut tx = platform.db().read().await.map_err(db_retry)?;
    let identities = store::identity::list_identities(&mut tx, org_id, person)
        .await
        .map_err(db_retry)?;
    Ok(identities
        .into_iter()
        .find(|i| i.kind == P::PLATFORM)
        .map(|i| i.external_id))
}

/// An outbox row to a person (`<workspace>:<user>`), read once.
pub struct PersonMessage<'a> {
    /// The platform's user id.
    pub user: &'a str,
    /// The desk's person, when the row names them.
    pub person: Option<Uuid>,
    pub kind: PersonEvent<'a>,
    pub subject: &'a str,
    pub text: &'a str,
}

/// What a message to a person is about.
pub enum PersonEvent<'a> {
    /// `approval.requested`, or `approval.reminder` (`reminder`).
    ApprovalRequest { view: ApprovalView, reminder: bool },
    /// `approval.updated`: the copies sent earlier are edited.
    ApprovalUpdate(ApprovalView),
    /// An escalation or SLA alarm, about the ticket numbered so if any.
    Alarm { ticket: Option<&'a str> },
    /// Anything else: subject and text.
    Notice,
}

impl<'a> PersonMessage<'a> {
    pub fn read<P: ChatPlatform>(message: &'a OutboxRow) -> Result<Self, Delivery> {
        let payload = &message.payload.0;
        let Some((_, user)) = message.target.split_once(':') else {
            return Err(Delivery::Permanent(format!(
                "bad {} target `{}`",
                label(P::PLATFORM),
                message.target
            )));
        };
        let approval =
            serde_json::from_value::<ApprovalView>(payload["data"]["approval"].clone()).ok();
        let kind = match (message.event.as_str(), approval) {
            ("approval.requested", Some(view)) => PersonEvent::ApprovalRequest {
                view,
                reminder: false,
            },
            ("approval.reminder", Some(view)) => PersonEvent::ApprovalRequest {
                view,
                reminder: true,
            },
            ("approval.updated", Some(view)) => PersonEvent::ApprovalUpdate(view),
            ("escalation" | "sla.warning" | "sla.breached", _) => PersonEvent::Alarm {
                ticket: payload["data"]["ticket"].as_str(),
            },
            _ => PersonEvent::Notice,
        };
        Ok(Self {
            user,
            person: payload["person"]
                .as_str()
                .and_then(|p| Uuid::parse_str(p).ok()),
            kind,
            subject: payload["subject"].as_str().unwrap_or_default(),
            text: payload["text"].as_str().unwrap_or_default(),
        })
    }

    /// The recorded copies of an approval request sent to this person.
    pub async fn approval_copies<P: ChatPlatform>(
        &self,
        platform: &P,
        approval: Uuid,
    ) -> Result<Vec<ChatMessageRow>, Delivery> {
        let copies = store::chat::for_approval(platform.db(), P::PLATFORM, approval)
            .await
            .map_err(db_retry)?;
        Ok(copies
            .into_iter()
            .filter(|c| c.person_id == self.person)
            .collect())
    }
}

/// A platform's name as people read it: `slack` → `Slack`.
fn label(platform: &str) -> String {
    let mut chars = platform.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_is_named_as_people_read_it() {
        assert_eq!(label("slack"), "Slack");
        assert_eq!(label("discord"), "Discord");
        assert_eq!(label(""), "");
    }
}
