//! Who is acting and what they may do. Every use case checks here, so chat,
//! email and API paths obey the same rules.

use uuid::Uuid;

use super::DeskError;
use crate::{
    domain::{Channel, Role, State},
    store::tickets::TicketRow,
};

/// An authenticated person acting in one organization through one channel.
#[derive(Debug, Clone)]
pub struct Actor {
    pub org_id: Uuid,
    /// None for the system itself (timers, automation).
    pub person_id: Option<Uuid>,
    /// Display name and email, for views and notifications.
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<Role>,
    pub channel: Channel,
    /// A read-scoped API token: refused on anything that writes.
    pub read_only: bool,
}

impl Actor {
    /// The daemon acting on its own (timers): may do what an admin may.
    pub fn system(org_id: Uuid) -> Self {
        Self {
            org_id,
            person_id: None,
            name: "Switchboard".into(),
            email: None,
            roles: vec![Role::Admin],
            channel: Channel::System,
            read_only: false,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_agent(&self) -> bool {
        self.roles.iter().any(|r| r.can_work_tickets())
    }

    pub fn require_agent(&self) -> Result<(), DeskError> {
        if self.is_agent() {
            Ok(())
        } else {
            Err(DeskError::Forbidden(
                "this needs the agent, manager or admin role".into(),
            ))
        }
    }

    pub fn require_admin(&self) -> Result<(), DeskError> {
        if self.roles.iter().any(|r| r.can_administer()) {
            Ok(())
        } else {
            Err(DeskError::Forbidden("this needs the admin role".into()))
        }
    }

    /// Agents see the organization's tickets; requesters their own. A ticket
    /// the actor may not see is reported as not found.
    pub fn require_view(&self, ticket: &TicketRow) -> Result<(), DeskError> {
        if ticket.org_id == self.org_id && (self.is_agent() || self.is_requester_of(ticket)) {
            Ok(())
        } else {
            Err(DeskError::NotFound("ticket"))
        }
    }

    pub fn is_requester_of(&self, ticket: &TicketRow) -> bool {
        self.person_id.is_some() && ticket.requester_id == self.person_id
    }

    /// Requesters may cancel what has not started, confirm a resolution
    /// (close) or reopen it; everything else is agents' work.
    pub fn require_transition(
        &self,
        ticket: &TicketRow,
        from: State,
        to: State,
    ) -> Result<(), DeskError> {
        self.require_view(ticket)?;
        if self.is_agent() {
            return Ok(());
        }
        let allowed = matches!(
            (from, to),
            (State::New, State::Cancelled)
                | (State::Resolved, State::Closed)
                | (State::Resolved, State::InProgress)
                | (State::Resolved, State::Investigating)
        );
        if allowed {
            Ok(())
        } else {
            Err(DeskError::Forbidden(format!(
                "a requester may cancel a new ticket, close or reopen a resolved one; moving {from} to {to} needs an agent"
            )))
        }
    }
}
