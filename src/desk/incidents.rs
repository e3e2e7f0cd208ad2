//! Incident specifics: the major-incident flag, the escalation level, and
//! parent/child incidents (a parent has no parent, a child no children;
//! resolving a parent resolves its open children).

use serde_json::json;

use super::{
    problems::{link_refused, linkable, lock_referenced, refs, state_of, TicketRef},
    tickets::lock_visible,
    views::TicketView,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        problem::{check_parent_link, escalation_level, is_open, Linkable},
        text::CommentBody,
        Kind, State,
    },
    store::{self, Exec},
};

impl Desk {
    /// Resolves the open children of a just-resolved parent incident, each
    /// with a public note saying so. Children have no children, so this
    /// goes one level only.
    pub(crate) async fn resolve_children(
        &self,
        work: &mut Work,
        actor: &Actor,
        parent: &TicketView,
    ) -> Result<Vec<TicketRef>, DeskError> {
        if parent.kind != Kind::Incident.as_str() {
            return Ok(Vec::new());
        }
        let children =
            store::problems::children_of(Exec::Tx(&mut work.tx), actor.org_id, parent.id).await?;
        let mut resolved = Vec::new();
        for child in children {
            let row = lock_visible(&mut work.tx, actor, &child.number).await?;
            if !is_open(state_of(&row)?) {
                continue;
            }
            let note = format!("Resolved with parent incident {}.", parent.number);
            let view = self
                .apply_transition(work, actor, row, State::Resolved.as_str(), Some(note))
                .await?;
            work.record(
                actor,
                view.id,
                "resolved_by_parent",
                Some(("parent", None, Some(parent.number.clone()))),
            );
            resolved.push(TicketRef::from(&view));
        }
        Ok(resolved)
    }

    /// Declares or clears a major incident (agents); recorded, audited and
    /// announced as `ticket.major_changed`. Setting what is set changes
    /// nothing.
    #[tracing::instrument(skip_all, fields(ticket = %number, major), err(level = "debug"))]
    pub async fn set_major(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        major: bool,
        reason: Option<String>,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let reason = match reason.as_deref().filter(|r| !r.trim().is_empty()) {
            Some(r) => Some(CommentBody::parse("reason", r)?.into_inner()),
            None => None,
        };
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        if row.kind != Kind::Incident.as_str() {
            return Err(DeskError::invalid(
                "major",
                format!(
                    "only incidents can be major incidents; {} is a {}",
                    row.number, row.kind
                ),
            ));
        }
        if row.extra.major == major {
            return Ok(TicketView::from(&row));
        }
        row.extra.major = major;
        row.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &row).await?;
        work.record(
            actor,
            row.id,
            "updated",
            Some(("major", Some((!major).to_string()), Some(major.to_string()))),
        );
        let details = json!({ "major": major, "reason": reason });
        work.audit(actor, "ticket.major_changed", &row.number, details.clone());
        let view = TicketView::from(&row);
        work.emit(actor.org_id, "ticket.major_changed", view.clone(), details);
        Ok(view)
    }

    /// Sets a ticket's escalation level, 0–10 (agents; later the SLA).
    pub async fn set_escalation_level(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        level: i64,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let level = escalation_level(level)?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        let old = row.extra.escalation_level;
        if old == level {
            return Ok(TicketView::from(&row));
        }
        row.extra.escalation_level = level;
        row.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &row).await?;
        work.record(
            actor,
            row.id,
            "updated",
            Some((
                "escalation_level",
                Some(old.to_string()),
                Some(level.to_string()),
            )),
        );
        let details = json!({ "fields": ["escalation_level"], "from": old, "to": level });
        work.audit(
            actor,
            "ticket.escalation_changed",
            &row.number,
            details.clone(),
        );
        let view = TicketView::from(&row);
        work.emit(actor.org_id, "ticket.updated", view.clone(), details);
        Ok(view)
    }

    /// Makes an incident the child of another (agents). A parent has no
    /// parent and a child no children, so links never cycle; when the
    /// parent is resolved its open children are resolved with it.
    #[tracing::instrument(skip_all, fields(ticket = %number, parent = %parent), err(level = "debug"))]
    pub async fn set_parent(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        parent: &str,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        // The child must be visible before anything is said about the parent.
        let child_number = self
            .visible_ticket(Exec::Tx(&mut work.tx), actor, number)
            .await?
            .number;
        // Parent first, then child: the order a resolving parent locks in.
        let parent_row = lock_referenced(&mut work.tx, actor, "parent", parent).await?;
        let mut child = lock_visible(&mut work.tx, actor, &child_number).await?;
        if child.extra.parent_id == Some(parent_row.id) {
            return Ok(TicketView::from(&child));
        }
        let has_children =
            store::problems::has_children(Exec::Tx(&mut work.tx), actor.org_id, child.id).await?;
        let child_link = Linkable {
            has_children,
            ..linkable(&child)?
        };
        check_parent_link(&child_link, &linkable(&parent_row)?)
            .map_err(|e| link_refused("parent", e))?;
        let old = child.extra.parent_number.clone();
        child.extra.parent_id = Some(parent_row.id);
        child.extra.parent_number = Some(parent_row.number.clone());
        child.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &child).await?;
        work.record(
            actor,
            child.id,
            "updated",
            Some(("parent", old.clone(), Some(parent_row.number.clone()))),
        );
        work.record(
            actor,
            parent_row.id,
            "child_linked",
            Some(("children", None, Some(child.number.clone()))),
        );
        let details = json!({ "parent": parent_row.number, "previous": old });
        work.audit(
            actor,
            "ticket.parent_changed",
            &child.number,
            details.clone(),
        );
        let view = TicketView::from(&child);
        work.emit(actor.org_id, "ticket.parent_changed", view.clone(), details);
        Ok(view)
    }

    /// Detaches a child incident from its parent (agents).
    pub async fn clear_parent(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketView, DeskError> {
        actor.require_agent()?;
        let mut child = lock_visible(&mut work.tx, actor, number).await?;
        let Some(old) = child.extra.parent_number.take() else {
            return Err(DeskError::NotFound("parent link"));
        };
        let parent_id = child.extra.parent_id.take();
        child.updated_at = store::now();
        store::problems::update_ticket_extra(&mut work.tx, &child).await?;
        work.record(
            actor,
            child.id,
            "updated",
            Some(("parent", Some(old.clone()), None)),
        );
        if let Some(parent_id) = parent_id {
            work.record(
                actor,
                parent_id,
                "child_unlinked",
                Some(("children", Some(child.number.clone()), None)),
            );
        }
        let details = json!({ "parent": null, "previous": old });
        work.audit(
            actor,
            "ticket.parent_changed",
            &child.number,
            details.clone(),
        );
        let view = TicketView::from(&child);
        work.emit(actor.org_id, "ticket.parent_changed", view.clone(), details);
        Ok(view)
    }

    /// The child incidents of an incident (a requester sees their own only).
    pub async fn child_incidents(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<TicketRef>, DeskError> {
        let mut tx = self.db.read().await?;
        let row = self
            .visible_ticket(Exec::Tx(&mut tx), actor, number)
            .await?;
        let rows = store::problems::children_of(Exec::Tx(&mut tx), actor.org_id, row.id).await?;
        Ok(refs(actor, &rows))
    }
}
