//! The Slack deliverer: renders outbox rows of channel `slack` and sends
//! them. Two kinds of target:
//! - `ticket:<id>` mirrors a ticket event: the team's triage card (posted
//!   once, then updated in place), the requester's thread (confirmation,
//!   public comments, state changes, the resolution check) and the card's
//!   thread (every comment) — never echoing a message back to the thread
//!   it came from;
//! - `<team>:<user>` is a person: approval requests (recorded so their
//!   copies can be updated after a decision) and notices, as direct messages.
//!
//! Rows with a `work:<key>` target are inbound work deferred past the
//! acknowledgement (see `deferred`).
//!
//! A message an outbox row already posted is edited, not posted again, when
//! the row is retried. The steps Discord shares are in `common::deliver`;
//! here are Slack's calls and markup, the home tabs and messages to people.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    api::{ApiFailure, SlackApi},
    inbound::Slack,
    render, PLATFORM,
};
use crate::{
    channels::common::deliver::{
        self as common, ChatPlatform, Markup, Mirror, PersonEvent, PersonMessage, Place, Record,
    },
    desk::{
        chat::{DEFERRED, REQUESTER_THREAD},
        OutboxFile,
    },
    runtime::delivery::{Deliverer, Delivery},
    store::{chat::ChatMessageRow, outbox::OutboxRow, Db},
};

/// The metadata event type of the marks our posts carry.
const MARK_EVENT: &str = "switchboard_outbox";

pub struct SlackDeliverer {
    api: Arc<SlackApi>,
    db: Db,
    /// Deferred inbound work (`work:` targets) runs through the handler.
    slack: Slack,
}

impl From<ApiFailure> for Delivery {
    fn from(failure: ApiFailure) -> Self {
        match failure {
            ApiFailure::Retry { error, after } => Delivery::retry_in(error, after),
            ApiFailure::Permanent(error) => Delivery::Permanent(error),
        }
    }
}

impl SlackDeliverer {
    pub fn new(slack: Slack) -> Self {
        Self {
            api: slack.api.clone(),
            db: slack.desk.db.clone(),
            slack,
        }
    }

    async fn send_row(&self, message: &OutboxRow) -> Delivery {
        if message.target.starts_with(DEFERRED) {
            return self.slack.deferred(message).await;
        }
        // The organization's installed workspace speaks with its own token.
        let scoped = match self.api.for_org(message.org_id).await {
            Ok(api) => Self {
                api: Arc::new(api),
                db: self.db.clone(),
                slack: self.slack.clone(),
            },
            Err(failure) => return failure.into(),
        };
        common::deliver(&scoped, message).await
    }

    /// Refreshes the home tab of whoever a ticket change concerns (its
    /// requester, assignee and team) among those who opened it: one query,
    /// and nothing at all for people who never looked.
    async fn refresh_homes(
        &self,
        org_id: Uuid,
        people: [Option<Uuid>; 2],
        team: Option<Uuid>,
    ) -> Result<(), Delivery> {
        let viewers = crate::store::chat::home_viewers(&self.db, PLATFORM, org_id, &people, team)
            .await
            .map_err(common::db_retry)?;
        for viewer in viewers {
            if let Some(person) = viewer.person_id {
                self.slack
                    .publish_home(org_id, person, &viewer.channel)
                    .await;
            }
        }
        Ok(())
    }
}

impl ChatPlatform for SlackDeliverer {
    const PLATFORM: &'static str = PLATFORM;
    const MARKUP: Markup = render::MARKUP;

    fn db(&self) -> &Db {
        &self.db
    }

    async fn send(
        &self,
        to: Place<'_>,
        body: Value,
        mark: &str,
    ) -> Result<(String, String), Delivery> {
        let mut request = body;
        request["channel"] = json!(to.channel);
        if let Some(thread) = to.thread {
            request["thread_ts"] = json!(thread);
        }
        request["metadata"] =
            json!({ "event_type": MARK_EVENT, "event_payload": { "mark": mark } });
        let answer = self.api.call("chat.postMessage", &request).await?;
        let ts = answer["ts"].as_str().unwrap_or_default().to_string();
        // A user id as the channel posts into the direct-message channel.
        let channel = answer["channel"].as_str().unwrap_or(to.channel).to_string();
        Ok((channel, ts))
    }

    /// Slack has no idempotency key: the mark rides in the message's
    /// metadata, and the channel's history (or the thread) is searched.
    /// A lookup Slack refuses (a missing scope) posts again rather than
    /// never: a possible second copy beats a lost message.
    async fn find_posted(
        &self,
        to: Place<'_>,
        mark: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, String)>, Delivery> {
        match self
            .api
            .find_marked(to.channel, to.thread, MARK_EVENT, mark, since)
            .await
        {
            Ok(found) => Ok(found),
            Err(ApiFailure::Permanent(error)) => {
                tracing::warn!(%error, channel = to.channel, "could not look for an earlier post; posting");
                Ok(None)
            }
            Err(retry) => Err(retry.into()),
        }
    }

    async fn edit(&self, channel: &str, ts: &str, body: Value) -> Result<(), Delivery> {
        let mut request = body;
        request["channel"] = json!(channel);
        request["ts"] = json!(ts);
        self.api.call("chat.update", &request).await?;
        Ok(())
    }

    /// Replies go under the message that opened the conversation.
    fn in_requester_thread(thread: &ChatMessageRow) -> Place<'_> {
        Place {
            channel: &thread.channel,
            thread: Some(&thread.ts),
        }
    }

    fn in_card_thread(card: &ChatMessageRow) -> Place<'_> {
        Self::in_requester_thread(card)
    }

    /// Teams may name their channel `#name`; Slack wants it without `#`.
    fn team_channel(configured: &str) -> Option<String> {
        Some(configured.trim().trim_start_matches('#').to_string()).filter(|c| !c.is_empty())
    }

    /// A direct message (to the user id: Slack opens the DM channel).
    async fn open_requester_thread(&self, m: &Mirror<'_>, user: &str) -> Result<(), Delivery> {
        let (ticket, requester) = (m.ticket, m.ticket.requester.as_ref().map(|p| p.id));
        let text = format!(
            "I opened *{}* for you: {}. Replies in this thread go to the ticket.",
            ticket.number,
            render::escape(&ticket.title)
        );
        let record = Record::ticket(REQUESTER_THREAD, ticket.id, requester);
        let body = (render::MARKUP.text)(&text);
        common::post(self, m.message, Place::channel(user), body, Some(record)).await?;
        Ok(())
    }

    /// Home tabs show the ticket too: refresh those of the people it concerns.
    async fn mirrored(&self, m: &Mirror<'_>) -> Result<(), Delivery> {
        if matches!(
            m.message.event.as_str(),
            "ticket.created" | "ticket.state_changed" | "ticket.assigned" | "ticket.updated"
        ) {
            let ticket = m.ticket;
            let people = [
                ticket.requester.as_ref().map(|p| p.id),
                ticket.assignee.as_ref().map(|p| p.id),
            ];
            self.refresh_homes(m.message.org_id, people, ticket.team.as_ref().map(|t| t.id))
                .await?;
        }
        Ok(())
    }

    async fn to_person(&self, message: &OutboxRow, to: PersonMessage<'_>) -> Result<(), Delivery> {
        let dm = Place::channel(to.user);
        match &to.kind {
            PersonEvent::ApprovalRequest { view, reminder } => {
                let mut body = render::approval(view);
                if *reminder {
                    body["text"] =
                        json!(format!("Reminder: {}", body["text"].as_str().unwrap_or("")));
                }
                let record = Record::approval(view.id, to.person);
                common::post(self, message, dm, body, Some(record)).await?;
            }
            PersonEvent::ApprovalUpdate(view) => {
                for copy in to.approval_copies(self, view.id).await? {
                    self.edit(&copy.channel, &copy.ts, render::approval(view))
                        .await?;
                }
            }
            PersonEvent::Alarm {
                ticket: Some(number),
            } => {
                let body = render::alarm(to.subject, to.text, number);
                common::post(self, message, dm, body, None).await?;
            }
            PersonEvent::Alarm { ticket: None } | PersonEvent::Notice => {
                let subject = render::escape(to.subject);
                let text = format!("*{subject}*\n{}", render::escape(to.text));
                common::post(self, message, dm, (render::MARKUP.text)(&text), None).await?;
            }
        }
        if matches!(
            to.kind,
            PersonEvent::ApprovalRequest { .. } | PersonEvent::ApprovalUpdate(_)
        ) {
            self.refresh_homes(message.org_id, [to.person, None], None)
                .await?;
        }
        Ok(())
    }

    async fn share_files(
        &self,
        channel: &str,
        text: &str,
        files: &[OutboxFile],
    ) -> Result<(), Delivery> {
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|f| (f.name.as_str(), f.bytes.as_slice()))
            .collect();
        self.api.share_files(channel, text, &files).await?;
        Ok(())
    }
}

impl Deliverer for SlackDeliverer {
    fn channel(&self) -> &'static str {
        PLATFORM
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(self.send_row(message))
    }
}
