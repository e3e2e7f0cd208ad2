//! Messages to people through the outbox: one row per channel a person can
//! be reached on (email, and each linked Slack or Discord identity). The
//! payload carries the event's data so each connector can render it its own
//! way (an interactive Slack message, a Discord component, a plain email).
//! Per-person channel preferences and quiet hours come with the
//! notifications issue; until a channel has a deliverer its rows wait,
//! visible through the outbox API.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{new_id, Desk, DeskError, Work};
use crate::store::{self, outbox::OutboxRow};

/// What to tell someone: a subject and plain text for channels that need
/// them, and the structured data for those that render it.
pub struct Message<'a> {
    pub event: &'a str,
    pub subject: String,
    pub text: String,
    pub data: Value,
}

impl Desk {
    /// Queues `message` for `person` on every channel they can be reached on.
    /// Disabled people and unknown ids get nothing.
    pub(crate) async fn notify_person(
        &self,
        work: &mut Work,
        org_id: Uuid,
        person_id: Uuid,
        message: &Message<'_>,
    ) -> Result<(), DeskError> {
        let Some(person) = store::people::find_person(&mut work.tx, org_id, person_id).await?
        else {
            return Ok(());
        };
        if person.disabled_at.is_some() {
            return Ok(());
        }
        let mut targets: Vec<(&str, String)> = Vec::new();
        if let Some(email) = &person.email {
            targets.push(("email", email.clone()));
        }
        for identity in store::identity::list_identities(&mut work.tx, org_id, person_id).await? {
            if matches!(identity.kind.as_str(), "slack" | "discord") {
                targets.push((
                    if identity.kind == "slack" {
                        "slack"
                    } else {
                        "discord"
                    },
                    format!("{}:{}", identity.namespace, identity.external_id),
                ));
            }
        }
        let now = store::now();
        for (channel, target) in targets {
            work.outbox.push(OutboxRow {
                id: new_id(),
                org_id,
                channel: channel.into(),
                target: target.clone(),
                event: message.event.into(),
                payload: sqlx::types::Json(json!({
                    "to": target,
                    "person": person_id,
                    "subject": message.subject,
                    "text": message.text,
                    "data": message.data,
                })),
                state: store::outbox::PENDING.into(),
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                created_at: now,
                delivered_at: None,
            });
        }
        Ok(())
    }
}
