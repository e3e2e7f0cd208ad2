//! Who stands in for an approver: a person's manager (for "the requester's
//! manager" stages) and explicit, dated delegations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::desk::{new_id, people::resolve_person, views::PersonRef, Actor, Desk, DeskError, Work};
use crate::store::{self, approvals::DelegationRow};

impl Desk {
    /// Sets (or clears) who a person reports to (admin).
    pub async fn set_manager(
        &self,
        work: &mut Work,
        actor: &Actor,
        person: Uuid,
        manager: Option<String>,
    ) -> Result<Option<PersonRef>, DeskError> {
        actor.require_admin()?;
        let subject = crate::desk::people::person_row(&mut work.tx, actor.org_id, person).await?;
        let manager = match manager {
            Some(who) => {
                let (id, name, email) =
                    resolve_person(&mut work.tx, actor.org_id, "manager", &who).await?;
                if id == person {
                    return Err(DeskError::invalid(
                        "manager",
                        "a person cannot manage themselves",
                    ));
                }
                Some(PersonRef { id, name, email })
            }
            None => None,
        };
        store::approvals::set_manager(
            &mut work.tx,
            actor.org_id,
            person,
            manager.as_ref().map(|m| m.id),
        )
        .await?;
        work.audit(
            actor,
            "person.manager_set",
            &subject.id.to_string(),
            json!({ "manager": manager.as_ref().map(|m| m.id) }),
        );
        Ok(manager)
    }

    /// Lets `to` decide in the actor's place between `starts_at` and
    /// `ends_at`. Admins may set up a delegation for someone else (`from`).
    pub async fn create_delegation(
        &self,
        work: &mut Work,
        actor: &Actor,
        from: Option<String>,
        to: &str,
        starts_at: Option<DateTime<Utc>>,
        ends_at: DateTime<Utc>,
    ) -> Result<DelegationView, DeskError> {
        let from_id = match from {
            Some(who) => {
                actor.require_admin()?;
                resolve_person(&mut work.tx, actor.org_id, "from", &who)
                    .await?
                    .0
            }
            None => actor
                .person_id
                .ok_or_else(|| DeskError::Forbidden("only a person can delegate".into()))?,
        };
        let (to_id, _, _) = resolve_person(&mut work.tx, actor.org_id, "to", to).await?;
        if to_id == from_id {
            return Err(DeskError::invalid("to", "you cannot delegate to yourself"));
        }
        let now = store::now();
        let starts_at = starts_at.unwrap_or(now);
        if ends_at <= starts_at || ends_at <= now {
            return Err(DeskError::invalid(
                "ends_at",
                "must be in the future and after starts_at",
            ));
        }
        let row = DelegationRow {
            id: new_id(),
            org_id: actor.org_id,
            from_id,
            to_id,
            starts_at,
            ends_at,
            created_at: now,
        };
        store::approvals::insert_delegation(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "delegation.created",
            &row.id.to_string(),
            json!({ "from": from_id, "to": to_id, "starts_at": starts_at, "ends_at": ends_at }),
        );
        Ok(DelegationView::from(&row))
    }

    pub async fn list_delegations(&self, actor: &Actor) -> Result<Vec<DelegationView>, DeskError> {
        let person = actor
            .person_id
            .ok_or_else(|| DeskError::Forbidden("only a person has delegations".into()))?;
        let mut tx = self.db.read().await?;
        let rows =
            store::approvals::list_delegations(&mut tx, actor.org_id, person, store::now()).await?;
        Ok(rows.iter().map(DelegationView::from).collect())
    }

    /// Ends one of the actor's own delegations now.
    pub async fn end_delegation(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        let person = actor.person_id.ok_or(DeskError::NotFound("delegation"))?;
        if !store::approvals::end_delegation(&mut work.tx, actor.org_id, id, person, store::now())
            .await?
        {
            return Err(DeskError::NotFound("delegation"));
        }
        work.audit(actor, "delegation.ended", &id.to_string(), json!({}));
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DelegationView {
    pub id: Uuid,
    pub from: Uuid,
    pub to: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl From<&DelegationRow> for DelegationView {
    fn from(d: &DelegationRow) -> Self {
        Self {
            id: d.id,
            from: d.from_id,
            to: d.to_id,
            starts_at: d.starts_at,
            ends_at: d.ends_at,
        }
    }
}
