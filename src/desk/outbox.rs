//! The outbox as admins see it: listing messages by state and requeuing a
//! dead-lettered one.

use serde_json::json;
use uuid::Uuid;

use super::{views::OutboxView, Actor, Desk, DeskError, Work};
use crate::store;

impl Desk {
    pub async fn list_outbox(
        &self,
        actor: &Actor,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxView>, DeskError> {
        actor.require_admin()?;
        if let Some(s) = state {
            if ![
                store::outbox::PENDING,
                store::outbox::DELIVERED,
                store::outbox::DEAD,
            ]
            .contains(&s)
            {
                return Err(DeskError::invalid(
                    "state",
                    format!("unknown state `{s}`; expected one of: pending, delivered, dead"),
                ));
            }
        }
        if !(1..=500).contains(&limit) {
            return Err(DeskError::invalid("limit", "must be between 1 and 500"));
        }
        let mut tx = self.db.read().await?;
        Ok(
            store::outbox::list_outbox(&mut tx, actor.org_id, state, limit)
                .await?
                .iter()
                .map(OutboxView::from)
                .collect(),
        )
    }

    pub async fn retry_outbox(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        if !store::outbox::requeue(&mut work.tx, actor.org_id, id, store::now()).await? {
            return Err(
                match store::outbox::find_outbox_state(&mut work.tx, actor.org_id, id).await? {
                    None => DeskError::NotFound("outbox message"),
                    Some(state) => DeskError::Conflict(format!(
                        "only a dead-lettered message can be retried; this one is {state}"
                    )),
                },
            );
        }
        work.audit(actor, "outbox.requeued", &id.to_string(), json!({}));
        // A requeued row is due now: wake the dispatcher like any new row.
        work.outbox_touched = true;
        Ok(())
    }
}
