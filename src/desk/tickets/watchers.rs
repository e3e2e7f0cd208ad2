//! A ticket's watchers: people notified of it besides requester and assignee,
//! who may also see it.

use serde_json::json;
use uuid::Uuid;

use super::lock_visible;
use crate::desk::{views::PersonRef, Actor, Desk, DeskError, Work};
use crate::store::{self, Exec};

impl Desk {
    /// Adds a watcher: agents add anyone of the organization; a requester
    /// may add colleagues to their own ticket.
    pub async fn add_watcher(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        person: Uuid,
    ) -> Result<Vec<PersonRef>, DeskError> {
        let row = lock_visible(&mut work.tx, actor, number).await?;
        if !actor.is_agent() && !actor.is_requester_of(&row) {
            return Err(DeskError::Forbidden(
                "only agents and the requester may add watchers".into(),
            ));
        }
        let watcher = crate::desk::people::person_row(&mut work.tx, actor.org_id, person)
            .await
            .map_err(|_| {
                DeskError::invalid("person", format!("no person {person} in this organization"))
            })?;
        if store::tickets::add_watcher(&mut work.tx, row.id, person).await? {
            work.record(
                actor,
                row.id,
                "watcher_added",
                Some(("watchers", None, Some(watcher.name.clone()))),
            );
            work.audit(
                actor,
                "ticket.watcher_added",
                &row.number,
                json!({ "person": person }),
            );
        }
        watchers(Exec::Tx(&mut work.tx), row.id).await
    }

    pub async fn remove_watcher(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        person: Uuid,
    ) -> Result<(), DeskError> {
        let row = lock_visible(&mut work.tx, actor, number).await?;
        let self_removal = actor.person_id == Some(person);
        if !actor.is_agent() && !actor.is_requester_of(&row) && !self_removal {
            return Err(DeskError::Forbidden(
                "only agents, the requester or the watcher may remove a watcher".into(),
            ));
        }
        if !store::tickets::remove_watcher(&mut work.tx, row.id, person).await? {
            return Err(DeskError::NotFound("watcher"));
        }
        work.record(
            actor,
            row.id,
            "watcher_removed",
            Some(("watchers", Some(person.to_string()), None)),
        );
        work.audit(
            actor,
            "ticket.watcher_removed",
            &row.number,
            json!({ "person": person }),
        );
        Ok(())
    }

    pub async fn list_watchers(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<PersonRef>, DeskError> {
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        watchers(Exec::Db(&self.db), row.id).await
    }
}

async fn watchers(exec: Exec<'_>, ticket_id: Uuid) -> Result<Vec<PersonRef>, DeskError> {
    Ok(store::tickets::list_watchers(exec, ticket_id)
        .await?
        .into_iter()
        .map(|(id, name, email)| PersonRef { id, name, email })
        .collect())
}
