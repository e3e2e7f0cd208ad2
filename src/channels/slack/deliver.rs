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

use futures::future::BoxFuture;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    api::{ApiFailure, SlackApi},
    inbound::Slack,
    render, PLATFORM,
};
use crate::{
    channels::common::deliver::{self as common, ChatPlatform, PersonMessage, Place, Record},
    desk::{
        chat::{APPROVAL, DEFERRED, REQUESTER_THREAD},
        views::TicketView,
    },
    runtime::delivery::{Deliverer, Delivery},
    store::{chat::ChatMessageRow, outbox::OutboxRow, Db},
};

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
    const LABEL: &'static str = "Slack";
    const REPLIES_GO_TO_THE_TICKET: &'static str = "Replies in this thread go to the ticket.";

    fn db(&self) -> &Db {
        &self.db
    }

    async fn send(&self, to: Place<'_>, body: Value) -> Result<(String, String), Delivery> {
        let mut request = body;
        request["channel"] = json!(to.channel);
        if let Some(thread) = to.thread {
            request["thread_ts"] = json!(thread);
        }
        let answer = self.api.call("chat.postMessage", &request).await?;
        let ts = answer["ts"].as_str().unwrap_or_default().to_string();
        // A user id as the channel posts into the direct-message channel.
        let channel = answer["channel"].as_str().unwrap_or(to.channel).to_string();
        Ok((channel, ts))
    }

    async fn edit(&self, channel: &str, ts: &str, body: Value) -> Result<(), Delivery> {
        let mut request = body;
        request["channel"] = json!(channel);
        request["ts"] = json!(ts);
        self.api.call("chat.update", &request).await?;
        Ok(())
    }

    fn escape(text: &str) -> String {
        render::escape(text)
    }

    fn bold(text: &str) -> String {
        format!("*{text}*")
    }

    fn text(text: &str) -> Value {
        json!({ "text": text })
    }

    fn card(ticket: &TicketView) -> Value {
        render::card(ticket)
    }

    fn resolution_check(ticket: &TicketView) -> Value {
        render::resolution_check(ticket)
    }

    fn in_requester_thread(thread: &ChatMessageRow) -> Place<'_> {
        Place {
            channel: &thread.channel,
            thread: Some(&thread.ts),
        }
    }

    fn in_card_thread(card: &ChatMessageRow) -> Place<'_> {
        Place {
            channel: &card.channel,
            thread: Some(&card.ts),
        }
    }

    fn team_channel(configured: &str) -> Option<String> {
        Some(configured.trim().trim_start_matches('#').to_string()).filter(|c| !c.is_empty())
    }

    /// The confirmation goes to the requester as a direct message.
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
        let Some(user) = common::platform_user(self, message.org_id, requester.id).await? else {
            return Ok(());
        };
        let text = format!(
            "I opened *{}* for you: {}. Replies in this thread go to the ticket.",
            ticket.number,
            render::escape(&ticket.title)
        );
        let record = Record {
            purpose: REQUESTER_THREAD,
            ticket_id: Some(ticket.id),
            approval_id: None,
            person_id: Some(requester.id),
        };
        common::post(
            self,
            message,
            Place::channel(&user),
            Self::text(&text),
            Some(record),
        )
        .await?;
        Ok(())
    }

    async fn card_posted(
        &self,
        _message: &OutboxRow,
        _channel: &str,
        _id: &str,
        _ticket: &TicketView,
    ) -> Result<(), Delivery> {
        // A Slack thread needs no opening: replies name the card's ts.
        Ok(())
    }

    async fn mirrored(&self, message: &OutboxRow, ticket: &TicketView) -> Result<(), Delivery> {
        if matches!(
            message.event.as_str(),
            "ticket.created" | "ticket.state_changed" | "ticket.assigned" | "ticket.updated"
        ) {
            let people = [
                ticket.requester.as_ref().map(|p| p.id),
                ticket.assignee.as_ref().map(|p| p.id),
            ];
            self.refresh_homes(message.org_id, people, ticket.team.as_ref().map(|t| t.id))
                .await?;
        }
        Ok(())
    }

    async fn to_person(&self, message: &OutboxRow) -> Result<(), Delivery> {
        let to = PersonMessage::read::<Self>(message)?;
        let data = &message.payload.0["data"];
        match (message.event.as_str(), &to.approval) {
            ("approval.requested" | "approval.reminder", Some(view)) => {
                let mut body = render::approval(view);
                if message.event == "approval.reminder" {
                    body["text"] =
                        json!(format!("Reminder: {}", body["text"].as_str().unwrap_or("")));
                }
                let record = Record {
                    purpose: APPROVAL,
                    ticket_id: None,
                    approval_id: Some(view.id),
                    person_id: to.person,
                };
                common::post(self, message, Place::channel(to.user), body, Some(record)).await?;
                self.refresh_homes(message.org_id, [to.person, None], None)
                    .await?;
            }
            ("approval.updated", Some(view)) => {
                for copy in to.approval_copies(self, view.id).await? {
                    self.edit(&copy.channel, &copy.ts, render::approval(view))
                        .await?;
                }
                self.refresh_homes(message.org_id, [to.person, None], None)
                    .await?;
            }
            ("escalation" | "sla.warning" | "sla.breached", _) if data["ticket"].is_string() => {
                let body = render::alarm(
                    to.subject,
                    to.text,
                    data["ticket"].as_str().unwrap_or_default(),
                );
                common::post(self, message, Place::channel(to.user), body, None).await?;
            }
            _ => {
                let text = format!(
                    "{}\n{}",
                    Self::bold(&render::escape(to.subject)),
                    render::escape(to.text)
                );
                common::post(
                    self,
                    message,
                    Place::channel(to.user),
                    Self::text(&text),
                    None,
                )
                .await?;
            }
        }
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
