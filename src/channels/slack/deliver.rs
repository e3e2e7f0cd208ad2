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
//! the row is retried.

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
    desk::{
        approvals::ApprovalView,
        chat::{
            ticket_target, APPROVAL, DEFERRED, REQUESTER_THREAD, RESOLUTION_CHECK, TRIAGE_CARD,
        },
        new_id,
        views::TicketView,
    },
    store::{self, chat::ChatMessageRow, outbox::OutboxRow, Db},
    workers::dispatcher::{Deliverer, Delivery},
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
            ApiFailure::Retry { error, after } => Delivery::Retry {
                error,
                not_before: after
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .map(|d| store::now() + d),
            },
            ApiFailure::Permanent(error) => Delivery::Permanent(error),
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

impl SlackDeliverer {
    pub fn new(slack: Slack) -> Self {
        Self {
            api: slack.api.clone(),
            db: slack.desk.db.clone(),
            slack,
        }
    }

    async fn send(&self, message: &OutboxRow) -> Delivery {
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
        scoped.send_scoped(message).await
    }

    async fn send_scoped(&self, message: &OutboxRow) -> Delivery {
        let result = match ticket_target(&message.target) {
            Some(ticket) => self.mirror(message, ticket).await,
            None => self.to_person(message).await,
        };
        match result {
            Ok(()) => Delivery::Delivered,
            Err(delivery) => delivery,
        }
    }

    /// Posts `body` to `channel` (in `thread_ts` if given); records it
    /// under `purpose` when asked. A retried row edits what it posted.
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        message: &OutboxRow,
        channel: &str,
        thread_ts: Option<&str>,
        body: Value,
        record: Option<Record<'_>>,
    ) -> Result<String, Delivery> {
        if let Some(Record { purpose, .. }) = record {
            if let Some(done) = store::chat::for_outbox(&self.db, message.id)
                .await
                .map_err(db_retry)?
                .filter(|m| m.purpose == purpose)
            {
                self.update(&done.channel, &done.ts, body).await?;
                return Ok(done.ts);
            }
        }
        let mut request = body;
        request["channel"] = json!(channel);
        if let Some(thread) = thread_ts {
            request["thread_ts"] = json!(thread);
        }
        let answer = self.api.call("chat.postMessage", &request).await?;
        let ts = answer["ts"].as_str().unwrap_or_default().to_string();
        let posted_channel = answer["channel"].as_str().unwrap_or(channel).to_string();
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
                    channel: posted_channel,
                    ts: ts.clone(),
                    outbox_id: Some(message.id),
                    created_at: store::now(),
                },
            )
            .await
            .map_err(db_retry)?;
        }
        Ok(ts)
    }

    async fn update(&self, channel: &str, ts: &str, body: Value) -> Result<(), Delivery> {
        let mut request = body;
        request["channel"] = json!(channel);
        request["ts"] = json!(ts);
        self.api.call("chat.update", &request).await?;
        Ok(())
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
        let viewers = store::chat::home_viewers(&self.db, PLATFORM, org_id, &people, team)
            .await
            .map_err(db_retry)?;
        for viewer in viewers {
            if let Some(person) = viewer.person_id {
                self.slack
                    .publish_home(org_id, person, &viewer.channel)
                    .await;
            }
        }
        Ok(())
    }

    async fn mirror(&self, message: &OutboxRow, ticket_id: Uuid) -> Result<(), Delivery> {
        self.mirror_ticket(message, ticket_id).await?;
        if matches!(
            message.event.as_str(),
            "ticket.created" | "ticket.state_changed" | "ticket.assigned" | "ticket.updated"
        ) {
            if let Ok(ticket) =
                serde_json::from_value::<TicketView>(message.payload.0["ticket"].clone())
            {
                let people = [
                    ticket.requester.as_ref().map(|p| p.id),
                    ticket.assignee.as_ref().map(|p| p.id),
                ];
                self.refresh_homes(message.org_id, people, ticket.team.as_ref().map(|t| t.id))
                    .await?;
            }
        }
        Ok(())
    }

    async fn mirror_ticket(&self, message: &OutboxRow, ticket_id: Uuid) -> Result<(), Delivery> {
        let payload = &message.payload.0;
        let Ok(ticket) = serde_json::from_value::<TicketView>(payload["ticket"].clone()) else {
            return Err(Delivery::Permanent("outbox payload has no ticket".into()));
        };
        let origin = &payload["origin"];
        let from_thread = |channel: &str, ts: &str| {
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

        // The requester's thread.
        match message.event.as_str() {
            "ticket.created" => match threads.first() {
                Some(thread) => {
                    let text = format!(
                        "Thanks — I opened *{}* for you: {}. Replies in this thread go to the ticket.",
                        ticket.number,
                        render::escape(&ticket.title)
                    );
                    self.post(
                        message,
                        &thread.channel,
                        Some(&thread.ts),
                        json!({ "text": text }),
                        None,
                    )
                    .await?;
                }
                None => self.open_requester_thread(message, &ticket).await?,
            },
            "ticket.commented" if !internal => {
                for thread in &threads {
                    if !from_thread(&thread.channel, &thread.ts) {
                        let text = comment_text(comment);
                        self.post(
                            message,
                            &thread.channel,
                            Some(&thread.ts),
                            json!({ "text": text }),
                            None,
                        )
                        .await?;
                    }
                }
            }
            "ticket.state_changed" => {
                for thread in &threads {
                    let to = payload["details"]["to"].as_str().unwrap_or(&ticket.state);
                    let body = if to == "resolved" {
                        render::resolution_check(&ticket)
                    } else {
                        json!({ "text": format!("*{}* is now *{to}*.", ticket.number) })
                    };
                    let record = (to == "resolved").then_some(Record {
                        purpose: RESOLUTION_CHECK,
                        ticket_id: Some(ticket_id),
                        approval_id: None,
                        person_id: thread.person_id,
                    });
                    self.post(message, &thread.channel, Some(&thread.ts), body, record)
                        .await?;
                }
            }
            _ => {}
        }

        // The team's triage card and its thread.
        match cards.first() {
            Some(card) => {
                self.update(&card.channel, &card.ts, render::card(&ticket))
                    .await?;
                if message.event == "ticket.commented" && !from_thread(&card.channel, &card.ts) {
                    let text = comment_text(comment);
                    self.post(
                        message,
                        &card.channel,
                        Some(&card.ts),
                        json!({ "text": text }),
                        None,
                    )
                    .await?;
                }
            }
            None => {
                if let Some(channel) = self.team_channel(message.org_id, &ticket).await? {
                    self.post(
                        message,
                        &channel,
                        None,
                        render::card(&ticket),
                        Some(Record {
                            purpose: TRIAGE_CARD,
                            ticket_id: Some(ticket_id),
                            approval_id: None,
                            person_id: None,
                        }),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// A ticket raised through Slack without a thread (a slash command, a
    /// modal): the confirmation goes to the requester as a direct message,
    /// which becomes their thread.
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
        let Some(user) = self.slack_user(message.org_id, requester.id).await? else {
            return Ok(());
        };
        let text = format!(
            "I opened *{}* for you: {}. Replies in this thread go to the ticket.",
            ticket.number,
            render::escape(&ticket.title)
        );
        self.post(
            message,
            &user,
            None,
            json!({ "text": text }),
            Some(Record {
                purpose: REQUESTER_THREAD,
                ticket_id: Some(ticket.id),
                approval_id: None,
                person_id: Some(requester.id),
            }),
        )
        .await?;
        Ok(())
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
        Ok(row
            .and_then(|t| t.default_channel)
            .map(|c| c.trim().trim_start_matches('#').to_string())
            .filter(|c| !c.is_empty()))
    }

    /// The person's Slack user id, if they have a Slack identity.
    async fn slack_user(&self, org_id: Uuid, person: Uuid) -> Result<Option<String>, Delivery> {
        let mut tx = self.db.read().await.map_err(db_retry)?;
        let identities = store::identity::list_identities(&mut tx, org_id, person)
            .await
            .map_err(db_retry)?;
        Ok(identities
            .into_iter()
            .find(|i| i.kind == PLATFORM)
            .map(|i| i.external_id))
    }

    async fn to_person(&self, message: &OutboxRow) -> Result<(), Delivery> {
        let payload = &message.payload.0;
        let Some((_, user)) = message.target.split_once(':') else {
            return Err(Delivery::Permanent(format!(
                "bad Slack target `{}`",
                message.target
            )));
        };
        let person = payload["person"]
            .as_str()
            .and_then(|p| Uuid::parse_str(p).ok());
        let approval =
            serde_json::from_value::<ApprovalView>(payload["data"]["approval"].clone()).ok();
        match (message.event.as_str(), approval) {
            ("approval.requested" | "approval.reminder", Some(view)) => {
                let mut body = render::approval(&view);
                if message.event == "approval.reminder" {
                    body["text"] =
                        json!(format!("Reminder: {}", body["text"].as_str().unwrap_or("")));
                }
                self.post(
                    message,
                    user,
                    None,
                    body,
                    Some(Record {
                        purpose: APPROVAL,
                        ticket_id: None,
                        approval_id: Some(view.id),
                        person_id: person,
                    }),
                )
                .await?;
                self.refresh_homes(message.org_id, [person, None], None)
                    .await?;
            }
            ("approval.updated", Some(view)) => {
                let copies = store::chat::for_approval(&self.db, PLATFORM, view.id)
                    .await
                    .map_err(db_retry)?;
                for copy in copies.iter().filter(|c| c.person_id == person) {
                    self.update(&copy.channel, &copy.ts, render::approval(&view))
                        .await?;
                }
                self.refresh_homes(message.org_id, [person, None], None)
                    .await?;
            }
            ("escalation" | "sla.warning" | "sla.breached", _)
                if payload["data"]["ticket"].is_string() =>
            {
                let body = render::alarm(
                    payload["subject"].as_str().unwrap_or_default(),
                    payload["text"].as_str().unwrap_or_default(),
                    payload["data"]["ticket"].as_str().unwrap_or_default(),
                );
                self.post(message, user, None, body, None).await?;
            }
            _ => {
                let text = payload["text"].as_str().unwrap_or_default();
                let subject = payload["subject"].as_str().unwrap_or_default();
                let body = json!({ "text": format!("*{}*\n{}", render::escape(subject), render::escape(text)) });
                self.post(message, user, None, body, None).await?;
            }
        }
        Ok(())
    }
}

fn comment_text(comment: &Value) -> String {
    let author = comment["author"]["name"]
        .as_str()
        .or_else(|| comment["author_name"].as_str())
        .unwrap_or("Someone");
    let body = comment["body"].as_str().unwrap_or_default();
    format!("*{}*: {}", render::escape(author), render::escape(body))
}

impl Deliverer for SlackDeliverer {
    fn channel(&self) -> &'static str {
        PLATFORM
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(self.send(message))
    }
}
