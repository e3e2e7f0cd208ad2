//! Chat use cases shared by the chat platforms: a message to the bot opens
//! a ticket or, in a ticket's thread, comments on it; ticket events become
//! outbox rows for each enabled chat platform (triage cards, thread sync,
//! resolution checks), which the platform's deliverer renders.

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    identity::{resolve_contact_in, Contact},
    new_id,
    people::actor_for,
    tickets::{OpenTicket, TicketChanges},
    views::TicketView,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{Channel, Kind, Level, Priority},
    store::{self, chat::ChatMessageRow, outbox::OutboxRow},
};

/// Purposes of recorded chat messages.
pub const REQUESTER_THREAD: &str = "requester_thread";
pub const TRIAGE_CARD: &str = "triage_card";
pub const APPROVAL: &str = "approval";
pub const RESOLUTION_CHECK: &str = "resolution_check";
/// A person who opened the bot's home tab (channel = their chat user id).
pub const APP_HOME: &str = "app_home";

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
        );
        work.set_chat_origin(message.platform, &message.channel, &message.ts);
        Ok(ChatOutcome::Opened {
            ticket: Box::new(ticket),
        })
    }

    /// Makes (channel, ts) the requester's thread of `ticket`.
    pub fn record_thread(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketView,
        platform: &str,
        channel: &str,
        ts: &str,
    ) {
        // Written with the flush: a ticket's creation holds its counter
        // until commit, and this saves a round trip under it.
        work.buffers.chat.push(ChatMessageRow {
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
        });
    }

    /// One outbox row per mirrored ticket event and enabled chat platform;
    /// runs before the flush, after automation, like the webhook fan-out.
    pub(crate) fn chat_fan_out(&self, work: &mut Work) {
        if self.settings.chat_platforms.is_empty() {
            return;
        }
        let now = store::now();
        let mut rows = Vec::new();
        for event in work
            .buffers
            .events
            .iter()
            .filter(|e| MIRRORED.contains(&e.name))
        {
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
        work.buffers.outbox.extend(rows);
    }
}

impl Desk {
    /// The person a chat identity is linked to, without creating anyone
    /// (e.g. the Slack user picked in a card's "Assign" menu).
    pub async fn chat_linked_person(
        &self,
        work: &mut Work,
        org_id: Uuid,
        identity: &super::identity::IdentityKey,
    ) -> Result<Option<Uuid>, DeskError> {
        let (kind, namespace, external_id) = identity.parts();
        Ok(
            store::identity::find_identity(&mut work.tx, org_id, kind, namespace, &external_id)
                .await?
                .map(|i| i.person_id),
        )
    }

    /// Sets a ticket's priority from a chat menu: priority follows impact ×
    /// urgency, so this picks the cell of the organization's matrix that
    /// gives it — keeping the impact when possible (what is affected does
    /// not change with a click), else the first cell that does.
    pub async fn set_priority(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        priority: &str,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let wanted =
            Priority::parse(priority).map_err(|e| DeskError::invalid("priority", e.to_string()))?;
        let row = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        let matrix = self.priority_matrix(&mut work.tx, actor.org_id).await?;
        let levels = [Level::High, Level::Medium, Level::Low];
        let impact = Level::parse(&row.impact).unwrap_or(Level::Medium);
        let cell = levels
            .iter()
            .find(|u| matrix.priority(impact, **u) == wanted)
            .map(|u| (impact, *u))
            .or_else(|| {
                levels
                    .iter()
                    .flat_map(|i| levels.iter().map(move |u| (*i, *u)))
                    .find(|(i, u)| matrix.priority(*i, *u) == wanted)
            });
        let Some((impact, urgency)) = cell else {
            return Err(DeskError::invalid(
                "priority",
                format!(
                    "no impact and urgency give {priority} in this organization's priority matrix"
                ),
            ));
        };
        self.update_ticket(
            work,
            actor,
            number,
            TicketChanges {
                impact: Some(impact.as_str().into()),
                urgency: Some(urgency.as_str().into()),
                ..TicketChanges::default()
            },
        )
        .await
    }

    /// "Escalate" on a triage card: the ticket's escalation level goes up
    /// one step (the problem-management use case; at most 10).
    pub async fn escalate_one_level(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let row = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        let next = i64::from(row.extra.escalation_level) + 1;
        self.set_escalation_level(work, actor, number, next).await
    }
}

/// Outbox rows of a chat platform whose target starts with this are work
/// taken in but not yet done (see [`Desk::defer_chat_work`]).
pub const DEFERRED: &str = "work:";

/// A ticket thread a chat message belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct ChatThread {
    pub ticket_id: Uuid,
    pub number: String,
    pub purpose: String,
    pub channel: String,
    pub ts: String,
}

impl Desk {
    /// Records work that needs slow calls to the platform (fetching a
    /// message, downloading a file) as an outbox row of the platform, in
    /// the transaction that takes the input in: acknowledged input is never
    /// lost, and the platform's deliverer does the work later with the
    /// outbox's retries.
    pub fn defer_chat_work(
        &self,
        work: &mut Work,
        org_id: Uuid,
        platform: &str,
        key: &str,
        event: &str,
        payload: serde_json::Value,
    ) {
        let now = store::now();
        work.buffers.outbox.push(OutboxRow {
            id: new_id(),
            org_id,
            channel: platform.into(),
            target: format!("{DEFERRED}{key}"),
            event: event.into(),
            payload: sqlx::types::Json(payload),
            state: store::outbox::PENDING.into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            delivered_at: None,
        });
    }

    /// The ticket thread rooted at (channel, ts), if the bot follows it.
    pub async fn chat_thread(
        &self,
        org_id: Uuid,
        platform: &str,
        channel: &str,
        ts: &str,
    ) -> Result<Option<ChatThread>, DeskError> {
        let mut tx = self.db.read().await?;
        let Some(root) = store::chat::find_by_ts(&mut tx, platform, channel, ts)
            .await?
            .filter(|r| r.org_id == org_id)
        else {
            return Ok(None);
        };
        let Some(ticket_id) = root.ticket_id else {
            return Ok(None);
        };
        let Some(ticket) = store::tickets::find_ticket(&mut tx, org_id, ticket_id).await? else {
            return Ok(None);
        };
        Ok(Some(ChatThread {
            ticket_id,
            number: ticket.number,
            purpose: root.purpose,
            channel: root.channel,
            ts: root.ts,
        }))
    }

    /// An edit or deletion of a message in a ticket's thread: recorded in
    /// the ticket's activity with the old and new text. The comment made
    /// from the original message stays as it was (audit trail).
    #[allow(clippy::too_many_arguments)]
    pub async fn chat_message_changed(
        &self,
        work: &mut Work,
        contact: &Contact,
        message: &ChatMessage,
        previous: Option<String>,
        deleted: bool,
    ) -> Result<ChatOutcome, DeskError> {
        let Some(thread) = &message.thread_ts else {
            return Ok(ChatOutcome::Ignored {
                reason: "not in a thread".into(),
            });
        };
        let root =
            store::chat::find_by_ts(&mut work.tx, message.platform, &message.channel, thread)
                .await?
                .filter(|r| r.org_id == contact.org_id);
        let Some(ticket_id) = root.and_then(|r| r.ticket_id) else {
            return Ok(ChatOutcome::Ignored {
                reason: "a thread the bot does not follow".into(),
            });
        };
        let actor = self.chat_actor(work, contact, message.channel_kind).await?;
        let ticket = store::tickets::find_ticket(&mut work.tx, actor.org_id, ticket_id)
            .await?
            .ok_or(DeskError::NotFound("ticket"))?;
        let (action, new) = if deleted {
            ("chat_message_deleted", None)
        } else {
            ("chat_message_edited", Some(message.text.clone()))
        };
        work.record(&actor, ticket_id, action, Some(("comment", previous, new)));
        work.audit(
            &actor,
            &format!("ticket.{action}"),
            &ticket.number,
            json!({ "platform": message.platform, "channel": message.channel, "ts": message.ts }),
        );
        Ok(ChatOutcome::Commented {
            number: ticket.number,
            internal: false,
        })
    }

    /// Links a chat identity to the existing person with the email address
    /// the platform vouches for (learnt after first contact, in the
    /// background); true when it moved or linked.
    pub async fn chat_link_verified_email(
        &self,
        work: &mut Work,
        contact: &Contact,
    ) -> Result<bool, DeskError> {
        let Some(email) = contact
            .verified_email
            .as_deref()
            .and_then(|e| super::people::normalize_email(e).ok())
        else {
            return Ok(false);
        };
        let Some(person) =
            store::people::find_person_by_email(&mut work.tx, contact.org_id, &email).await?
        else {
            return Ok(false);
        };
        // After a first message creating this contact's person, if any.
        super::identity::lock_identity(work, contact).await?;
        let (kind, namespace, external_id) = contact.identity.parts();
        let current = store::identity::find_identity(
            &mut work.tx,
            contact.org_id,
            kind,
            namespace,
            &external_id,
        )
        .await?;
        if current.is_some_and(|i| i.person_id == person.id && i.verified) {
            return Ok(false);
        }
        self.link_identity(
            work,
            &Actor::system(contact.org_id),
            person.id,
            contact.identity.clone(),
        )
        .await?;
        Ok(true)
    }
}

/// What a person's App Home shows.
#[derive(Debug, Clone, Serialize)]
pub struct HomeView {
    pub name: String,
    /// Open tickets they raised.
    pub mine: Vec<TicketView>,
    /// Approvals waiting for their decision.
    pub approvals: Vec<super::approvals::ApprovalView>,
    /// Open tickets of each of their teams (agents).
    pub queues: Vec<(String, Vec<TicketView>)>,
    /// The dashboard report's summary lines, for those who may run reports
    /// (agents over their teams, managers and admins over everything).
    pub dashboard: Option<Vec<String>>,
}

/// How many entries each App Home list shows.
const HOME_LIST: i64 = 10;

fn is_open(t: &TicketView) -> bool {
    !matches!(
        t.state.as_str(),
        "resolved" | "closed" | "cancelled" | "rejected"
    )
}

impl Desk {
    /// Someone opened the bot's home tab: remembered (so changes refresh
    /// it), and the person resolved (created on first contact).
    pub async fn chat_home_opened(
        &self,
        work: &mut Work,
        contact: &Contact,
        platform: &str,
        user: &str,
    ) -> Result<Uuid, DeskError> {
        let actor = self.chat_actor(work, contact, Channel::Slack).await?;
        let person = actor.person_id.ok_or(DeskError::NotFound("person"))?;
        store::chat::insert_message(
            &mut work.tx,
            &ChatMessageRow {
                id: new_id(),
                org_id: actor.org_id,
                platform: platform.into(),
                purpose: APP_HOME.into(),
                ticket_id: None,
                approval_id: None,
                person_id: Some(person),
                channel: user.into(),
                ts: APP_HOME.into(),
                outbox_id: None,
                created_at: store::now(),
            },
        )
        .await?;
        Ok(person)
    }

    /// The App Home of a person: their open tickets, approvals waiting for
    /// them, their teams' open tickets. Reads only.
    pub async fn chat_home(&self, org_id: Uuid, person_id: Uuid) -> Result<HomeView, DeskError> {
        let mut tx = self.db.read().await?;
        let person = super::people::person_row(&mut tx, org_id, person_id).await?;
        let actor = actor_for(&person, Channel::Slack);
        let teams = if actor.is_agent() {
            let mut mine = Vec::new();
            for team in store::teams::list_teams(&mut tx, org_id).await? {
                if store::teams::is_member(&mut tx, team.id, person_id).await? {
                    mine.push(team);
                }
            }
            mine
        } else {
            Vec::new()
        };
        drop(tx);
        let list = |query: super::tickets::ListTickets| {
            let actor = actor.clone();
            async move {
                let list = self.list_tickets(&actor, query).await?;
                Ok::<_, DeskError>(
                    list.items
                        .into_iter()
                        .filter(is_open)
                        .take(HOME_LIST as usize)
                        .collect::<Vec<_>>(),
                )
            }
        };
        let mine = list(super::tickets::ListTickets {
            requester: Some(person_id.to_string()),
            sort: Some("-updated_at".into()),
            limit: Some(HOME_LIST * 3),
            ..Default::default()
        })
        .await?;
        let mut queues = Vec::new();
        for team in teams {
            let open = list(super::tickets::ListTickets {
                team: Some(team.id.to_string()),
                sort: Some("-updated_at".into()),
                limit: Some(HOME_LIST * 3),
                ..Default::default()
            })
            .await?;
            queues.push((team.name, open));
        }
        let mut approvals = self.my_approvals(&actor).await?;
        approvals.truncate(HOME_LIST as usize);
        let dashboard = match self
            .report(
                &actor,
                crate::domain::report::ReportKind::Dashboard,
                &super::reports::ReportQuery::default(),
            )
            .await
        {
            Ok((request, report)) => {
                let doc = super::reports::document::document(&request, &report);
                let summary = super::reports::document::summary_text(&doc);
                // The title line is the home's header.
                Some(summary.lines().skip(1).map(String::from).collect())
            }
            Err(DeskError::Forbidden(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(HomeView {
            name: person.name,
            mine,
            approvals,
            queues,
            dashboard,
        })
    }
}

impl Desk {
    /// A Slack workspace was installed (OAuth): its sealed bot token is
    /// stored for the organization, and the install audited.
    pub async fn slack_installed(
        &self,
        work: &mut Work,
        row: store::slack_installs::SlackInstallRow,
    ) -> Result<(), DeskError> {
        store::slack_installs::upsert_install(&mut work.tx, &row).await?;
        work.audit(
            &Actor::system(row.org_id),
            "slack.installed",
            &row.team_id,
            json!({ "team_name": row.team_name, "scopes": row.scopes }),
        );
        Ok(())
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
