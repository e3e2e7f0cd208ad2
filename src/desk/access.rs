//! Who is acting and what they may do. Every use case checks here, so chat,
//! email and API paths obey the same rules.

use uuid::Uuid;

use super::{views::TicketView, DeskError};
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

    /// Whether this actor's role lets them make the move (the kind's state
    /// machine and the process decide the rest): agents any, requesters
    /// cancelling what has not started, closing or reopening a resolution.
    pub fn may_move(&self, from: State, to: State) -> bool {
        self.is_agent()
            || matches!(
                (from, to),
                (State::New, State::Cancelled)
                    | (State::Resolved, State::Closed)
                    | (State::Resolved, State::InProgress)
                    | (State::Resolved, State::Investigating)
            )
    }

    /// The ticket's next states this actor may choose, for a page that
    /// offers only moves its reader can make.
    pub fn moves_for(&self, ticket: &TicketView) -> Vec<String> {
        let Ok(from) = State::parse(&ticket.state) else {
            return Vec::new();
        };
        ticket
            .allowed_transitions
            .iter()
            .filter(|to| State::parse(to).is_ok_and(|to| self.may_move(from, to)))
            .cloned()
            .collect()
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
        if self.may_move(from, to) {
            Ok(())
        } else {
            Err(DeskError::Forbidden(format!(
                "a requester may cancel a new ticket, close or reopen a resolved one; moving {from} to {to} needs an agent"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn actor(roles: &[Role]) -> Actor {
        Actor {
            org_id: Uuid::from_u128(1),
            person_id: Some(Uuid::from_u128(10)),
            name: "someone".into(),
            email: None,
            roles: roles.to_vec(),
            channel: Channel::Api,
            read_only: false,
        }
    }

    fn ticket(org: u128, requester: u128) -> TicketRow {
        TicketRow {
            id: Uuid::from_u128(100),
            org_id: Uuid::from_u128(org),
            number: "INC0000001".into(),
            kind: "incident".into(),
            title: "t".into(),
            description: String::new(),
            state: "new".into(),
            impact: "low".into(),
            urgency: "low".into(),
            priority: "p5".into(),
            requester_id: Some(Uuid::from_u128(requester)),
            requester_name: None,
            requester_email: None,
            assignee_id: None,
            assignee_name: None,
            assignee_email: None,
            team_id: None,
            team_name: None,
            category_id: None,
            category_name: None,
            channel: "api".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            resolved_at: None,
            closed_at: None,
            satisfaction: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn a_page_offers_a_requester_only_the_moves_a_requester_may_make() {
        let new = TicketView::from(&ticket(1, 10));
        let agent_moves = actor(&[Role::Agent]).moves_for(&new);
        assert_eq!(agent_moves, new.allowed_transitions);
        assert!(agent_moves.len() > 1, "{agent_moves:?}");
        assert_eq!(actor(&[Role::Requester]).moves_for(&new), vec!["cancelled"]);
        let mut resolved = ticket(1, 10);
        resolved.state = "resolved".into();
        let moves = actor(&[Role::Requester]).moves_for(&TicketView::from(&resolved));
        assert!(moves.contains(&"closed".to_string()), "{moves:?}");
        assert!(moves.iter().all(|m| m != "cancelled"), "{moves:?}");
    }

    #[test]
    fn agents_see_their_organizations_tickets_and_requesters_their_own() {
        let own = ticket(1, 10);
        let someone_elses = ticket(1, 11);
        let other_org = ticket(2, 10);
        for role in [Role::Agent, Role::Manager, Role::Admin] {
            assert!(
                actor(&[role]).require_view(&someone_elses).is_ok(),
                "{role}"
            );
            assert!(
                actor(&[role]).require_view(&other_org).is_err(),
                "{role} across organizations"
            );
        }
        let requester = actor(&[Role::Requester]);
        assert!(requester.require_view(&own).is_ok());
        assert!(matches!(
            requester.require_view(&someone_elses),
            Err(DeskError::NotFound(_))
        ));
        assert!(matches!(
            actor(&[Role::Approver]).require_view(&someone_elses),
            Err(DeskError::NotFound(_))
        ));
    }

    #[test]
    fn requesters_may_cancel_new_and_close_or_reopen_resolved_tickets_only() {
        let requester = actor(&[Role::Requester]);
        let own = ticket(1, 10);
        let allowed = [
            (State::New, State::Cancelled),
            (State::Resolved, State::Closed),
            (State::Resolved, State::InProgress),
        ];
        for (from, to) in allowed {
            assert!(
                requester.require_transition(&own, from, to).is_ok(),
                "{from} → {to}"
            );
        }
        for (from, to) in [
            (State::New, State::InProgress),
            (State::InProgress, State::Resolved),
            (State::OnHold, State::Cancelled),
        ] {
            assert!(
                matches!(
                    requester.require_transition(&own, from, to),
                    Err(DeskError::Forbidden(_))
                ),
                "{from} → {to}"
            );
        }
        assert!(actor(&[Role::Agent])
            .require_transition(&own, State::New, State::InProgress)
            .is_ok());
    }

    #[test]
    fn only_admins_administer_and_only_ticket_workers_work_tickets() {
        assert!(actor(&[Role::Admin]).require_admin().is_ok());
        for role in [Role::Requester, Role::Agent, Role::Approver, Role::Manager] {
            assert!(actor(&[role]).require_admin().is_err(), "{role}");
        }
        assert!(
            actor(&[Role::Requester, Role::Agent])
                .require_agent()
                .is_ok(),
            "roles combine"
        );
        assert!(actor(&[Role::Requester, Role::Approver])
            .require_agent()
            .is_err());
        assert!(Actor::system(Uuid::nil()).require_admin().is_ok());
    }
}
