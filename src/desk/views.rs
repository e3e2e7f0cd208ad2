//! What use cases return: plain serializable structures that the API sends
//! as JSON and the chat connectors render.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{Kind, State},
    store::{
        activity::ActivityRow,
        orgs::OrgRow,
        outbox::OutboxRow,
        people::PersonRow,
        teams::{CategoryRow, TeamRow},
        tickets::{AttachmentRow, CommentRow, TicketRow},
        tokens::TokenRow,
        webhooks::WebhookRow,
    },
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonRef {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    /// Human-readable number, e.g. `INC0000042`.
    pub number: String,
    /// `incident`, `service_request`, `problem` or `change`.
    pub kind: String,
    pub state: String,
    /// `p1` (critical) … `p5` (planning), from impact × urgency.
    pub priority: String,
    pub impact: String,
    pub urgency: String,
    pub title: String,
    pub description: String,
    pub requester: Option<PersonRef>,
    pub assignee: Option<PersonRef>,
    pub team: Option<TeamRef>,
    pub category: Option<String>,
    /// Where the ticket came from: `api`, `slack`, `discord`, `email`, …
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// A major incident: declared by an agent, announced as an event.
    #[serde(default)]
    pub major: bool,
    /// For a child incident: its parent's number.
    #[serde(default)]
    pub parent: Option<String>,
    /// 0 unless escalated (by agents; later by the SLA).
    #[serde(default)]
    pub escalation_level: i32,
    /// The requester's rating (1–5) after the resolution, once given.
    #[serde(default)]
    pub satisfaction: Option<i32>,
    /// Labels agents and rules put on the ticket.
    #[serde(default)]
    pub tags: Vec<String>,
    /// States this ticket may move to next.
    pub allowed_transitions: Vec<String>,
    /// Links to other tickets as this ticket reads them: in the
    /// single-ticket answer and link events, not in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<TicketLinkView>>,
    /// The ticket this one was merged into (single-ticket answer and merge events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

fn person_ref(
    id: Option<Uuid>,
    name: &Option<String>,
    email: &Option<String>,
) -> Option<PersonRef> {
    id.map(|id| PersonRef {
        id,
        name: name.clone().unwrap_or_default(),
        email: email.clone(),
    })
}

impl From<&TicketRow> for TicketView {
    fn from(t: &TicketRow) -> Self {
        let allowed = match (Kind::parse(&t.kind), State::parse(&t.state)) {
            (Ok(kind), Ok(state)) => kind
                .allowed_from(state)
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            _ => Vec::new(),
        };
        Self {
            id: t.id,
            number: t.number.clone(),
            kind: t.kind.clone(),
            state: t.state.clone(),
            priority: t.priority.clone(),
            impact: t.impact.clone(),
            urgency: t.urgency.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            requester: person_ref(t.requester_id, &t.requester_name, &t.requester_email),
            assignee: person_ref(t.assignee_id, &t.assignee_name, &t.assignee_email),
            team: t.team_id.map(|id| TeamRef {
                id,
                name: t.team_name.clone().unwrap_or_default(),
            }),
            category: t.category_name.clone(),
            channel: t.channel.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            major: t.extra.major,
            parent: t.extra.parent_number.clone(),
            escalation_level: t.extra.escalation_level,
            satisfaction: t.satisfaction,
            tags: t.extra.tags.0.clone(),
            allowed_transitions: allowed,
            links: None,
            merged_into: None,
        }
    }
}

/// One link of a ticket as that ticket reads it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketLinkView {
    /// The other ticket's number.
    pub ticket: String,
    pub title: String,
    pub state: String,
    /// The other ticket's kind (`incident`, `change` …).
    pub ticket_kind: String,
    /// As this ticket reads the link: `related`, `duplicate_of`,
    /// `duplicated_by`, `caused_by`, `causes`, `blocks` or `blocked_by`.
    pub kind: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketList {
    pub items: Vec<TicketView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommentView {
    pub id: Uuid,
    pub ticket: String,
    pub author: Option<PersonRef>,
    pub body: String,
    pub internal: bool,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    /// The ticket this comment was copied from by a merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<String>,
}

impl CommentView {
    pub fn from_row(c: &CommentRow, ticket_number: &str) -> Self {
        Self {
            id: c.id,
            ticket: ticket_number.to_string(),
            author: person_ref(c.author_id, &c.author_name, &None),
            body: c.body.clone(),
            internal: c.internal,
            channel: c.channel.clone(),
            created_at: c.created_at,
            merged_from: c.merged_from.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttachmentView {
    pub id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl From<&AttachmentRow> for AttachmentView {
    fn from(a: &AttachmentRow) -> Self {
        Self {
            id: a.id,
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            size_bytes: a.size_bytes,
            sha256: a.sha256.clone(),
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActivityView {
    pub actor: Option<PersonRef>,
    pub channel: String,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<&ActivityRow> for ActivityView {
    fn from(a: &ActivityRow) -> Self {
        Self {
            actor: person_ref(a.actor_id, &a.actor_name, &None),
            channel: a.channel.clone(),
            action: a.action.clone(),
            field: a.field.clone(),
            old_value: a.old_value.clone(),
            new_value: a.new_value.clone(),
            at: a.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonView {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    /// IANA time zone.
    pub time_zone: String,
    pub locale: String,
    /// Notification preferences: `channels`, `events`, `quiet_hours`
    /// (see the README's notifications section).
    #[schema(value_type = Object)]
    pub notification_prefs: serde_json::Value,
    /// E.164 number for SMS notifications.
    pub phone: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&PersonRow> for PersonView {
    fn from(p: &PersonRow) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            email: p.email.clone(),
            roles: p.roles.0.clone(),
            time_zone: p.time_zone.clone(),
            locale: p.locale.clone(),
            notification_prefs: p.notification_prefs.0.clone(),
            phone: p.phone.clone(),
            disabled: p.disabled_at.is_some(),
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub lead: Option<Uuid>,
    pub members: Vec<Uuid>,
    /// Where the team's tickets are announced (e.g. a chat channel id).
    pub default_channel: Option<String>,
    /// Who escalations go to when no policy says otherwise.
    pub escalation_contact: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// How tickets reaching the team are assigned: `none`, `round_robin`,
    /// `least_loaded` or `skills`.
    pub assignment: String,
    /// Agents holding this many open tickets get no new ones by assignment.
    pub max_open_per_agent: Option<i32>,
}

impl TeamView {
    pub fn from_row(t: &TeamRow, members: Vec<Uuid>) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            description: t.description.clone(),
            lead: t.lead_id,
            members,
            default_channel: t.default_channel.clone(),
            escalation_contact: t.escalation_contact,
            created_at: t.created_at,
            assignment: t.assignment.clone(),
            max_open_per_agent: t.max_open_per_agent,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryView {
    pub id: Uuid,
    pub name: String,
    /// The team new tickets of this category go to.
    pub team: Option<Uuid>,
}

impl From<&CategoryRow> for CategoryView {
    fn from(c: &CategoryRow) -> Self {
        Self {
            id: c.id,
            name: c.name.clone(),
            team: c.team_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    /// Shown once, when the subscription is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&WebhookRow> for WebhookView {
    fn from(w: &WebhookRow) -> Self {
        Self {
            id: w.id,
            url: w.url.clone(),
            events: w.events.0.clone(),
            active: w.active,
            secret: None,
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboxView {
    pub id: Uuid,
    pub channel: String,
    pub target: String,
    pub event: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// What will be (or was) sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<&OutboxRow> for OutboxView {
    fn from(o: &OutboxRow) -> Self {
        Self {
            id: o.id,
            channel: o.channel.clone(),
            target: o.target.clone(),
            event: o.event.clone(),
            state: o.state.clone(),
            attempts: o.attempts,
            next_attempt_at: o.next_attempt_at,
            last_error: o.last_error.clone(),
            payload: o.payload.0.clone(),
            created_at: o.created_at,
            delivered_at: o.delivered_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// Every local account must use two-factor authentication.
    pub mfa_required: bool,
    /// The IANA time zone reports cut days in, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// impact → urgency → priority.
    #[schema(value_type = Object)]
    pub priority_matrix: serde_json::Value,
}

impl From<&OrgRow> for OrganizationView {
    fn from(o: &OrgRow) -> Self {
        Self {
            id: o.id,
            slug: o.slug.clone(),
            name: o.name.clone(),
            mfa_required: o.mfa_required,
            time_zone: o.time_zone.clone(),
            priority_matrix: o.priority_matrix.0.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    /// `read`, `read_write` or `scim` (only SCIM, see `desk::scim`).
    pub scope: String,
    /// The person the token acts as.
    pub person: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The secret, shown once at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&TokenRow> for TokenView {
    fn from(t: &TokenRow) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            role: t.role.clone(),
            scope: t.scope.clone(),
            person: t.person_id,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            token: None,
        }
    }
}
