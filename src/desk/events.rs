//! Ticket events: collected during a use case, turned into one outbox row
//! per matching webhook subscription when the use case commits.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{new_id, views::TicketView, DeskError, Work};
use crate::store::{self, outbox::OutboxRow};

/// Every event name a webhook can subscribe to.
pub const EVENT_NAMES: &[&str] = &[
    "ticket.created",
    "ticket.updated",
    "ticket.state_changed",
    "ticket.assigned",
    "ticket.commented",
    "ticket.attachment_added",
    "approval.requested",
    "approval.decided",
    "ticket.major_changed",
    "ticket.parent_changed",
    "ticket.problem_linked",
    "ticket.problem_unlinked",
    "ticket.known_error_linked",
    "sla.warning",
    "sla.breached",
    "ticket.escalated",
    "ticket.rated",
    "ticket.linked",
    "ticket.unlinked",
    "ticket.merged",
    "time.logged",
];

/// A ticket a committed use case changed, announced to live views.
#[derive(Debug, Clone)]
pub struct TicketChanged {
    pub org_id: Uuid,
    pub number: String,
    pub event: &'static str,
}

/// How many changes a slow live view may fall behind before it is told it
/// lagged (it then reloads instead of replaying).
pub(super) const CHANGES_BUFFER: usize = 256;

/// The changes to announce once the use case commits; nothing is built
/// when no live view listens (the common case for intake).
pub(super) fn changed(
    work: &Work,
    changes: &tokio::sync::broadcast::Sender<TicketChanged>,
) -> Vec<TicketChanged> {
    if changes.receiver_count() == 0 {
        return Vec::new();
    }
    work.buffers
        .events
        .iter()
        .map(|e| TicketChanged {
            org_id: e.org_id,
            number: e.ticket.number.clone(),
            event: e.name,
        })
        .collect()
}

#[derive(Clone)]
pub(super) struct TicketEvent {
    pub org_id: Uuid,
    pub name: &'static str,
    pub at: DateTime<Utc>,
    pub ticket: TicketView,
    pub details: Value,
}

impl Work {
    /// Announces a ticket event to the organization's webhook subscribers.
    pub fn emit(&mut self, org_id: Uuid, name: &'static str, ticket: TicketView, details: Value) {
        self.buffers.events.push(TicketEvent {
            org_id,
            name,
            at: store::now(),
            ticket,
            details,
        });
    }
}

pub(super) async fn fan_out(work: &mut Work) -> Result<(), DeskError> {
    let events = std::mem::take(&mut work.buffers.events);
    let Some(first) = events.first() else {
        return Ok(());
    };
    let org_id = first.org_id;
    let subscriptions = match work.take_webhooks(org_id) {
        Some(subscriptions) => subscriptions,
        None => store::webhooks::list_active_webhooks(&mut work.tx, org_id).await?,
    };
    for event in events.iter().filter(|e| e.org_id == org_id) {
        for sub in subscriptions
            .iter()
            .filter(|s| s.events.0.iter().any(|e| e == "*" || e == event.name))
        {
            let id = new_id();
            work.buffers.outbox.push(OutboxRow {
                id,
                org_id,
                channel: "webhook".into(),
                target: sub.id.to_string(),
                event: event.name.into(),
                payload: sqlx::types::Json(json!({
                    "id": id,
                    "type": event.name,
                    "occurred_at": event.at,
                    "ticket": event.ticket,
                    "details": event.details,
                })),
                state: store::outbox::PENDING.into(),
                attempts: 0,
                next_attempt_at: event.at,
                last_error: None,
                created_at: event.at,
                delivered_at: None,
            });
        }
    }
    Ok(())
}
