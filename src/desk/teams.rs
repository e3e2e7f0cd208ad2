//! Teams: creating and editing them, their members, and finding a team by id
//! or name (what tickets, categories, the CMDB and rules name a team by). A
//! leaf: it imports no other use-case module.

use serde_json::json;
use uuid::Uuid;

use super::{new_id, views::TeamView, Actor, Desk, DeskError, Work};
use crate::{
    domain::{assignment::Strategy, text::Name},
    store::{self, teams::TeamRow, Tx},
};

impl Desk {
    pub async fn create_team(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        description: &str,
        lead: Option<Uuid>,
        members: &[Uuid],
    ) -> Result<TeamView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", name)?;
        if store::teams::find_team_by_name(&mut work.tx, actor.org_id, name.as_str())
            .await?
            .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a team named `{name}` already exists"
            )));
        }
        let fields = lead
            .iter()
            .map(|id| ("lead", id))
            .chain(members.iter().map(|id| ("members", id)));
        for (field, id) in fields {
            store::people::find_person(&mut work.tx, actor.org_id, *id)
                .await?
                .ok_or_else(|| {
                    DeskError::invalid(field, format!("no person {id} in this organization"))
                })?;
        }
        let team = TeamRow {
            id: new_id(),
            org_id: actor.org_id,
            name: name.into_inner(),
            description: description.trim().to_string(),
            lead_id: lead,
            default_channel: None,
            escalation_contact: None,
            created_at: store::now(),
            assignment: Strategy::None.as_str().into(),
            max_open_per_agent: None,
        };
        store::teams::insert_team(&mut work.tx, &team).await?;
        for id in lead.iter().chain(members) {
            store::teams::add_member(&mut work.tx, team.id, *id).await?;
        }
        work.audit(
            actor,
            "team.created",
            &team.name,
            json!({ "id": team.id, "lead": lead, "members": members }),
        );
        let members = store::teams::list_members(&mut work.tx, team.id).await?;
        Ok(TeamView::from_row(&team, members))
    }

    pub async fn list_teams(&self, actor: &Actor) -> Result<Vec<TeamView>, DeskError> {
        let mut tx = self.db.read().await?;
        let mut teams = Vec::new();
        for team in store::teams::list_teams(&mut tx, actor.org_id).await? {
            let members = store::teams::list_members(&mut tx, team.id).await?;
            teams.push(TeamView::from_row(&team, members));
        }
        Ok(teams)
    }

    pub async fn get_team(&self, actor: &Actor, id_or_name: &str) -> Result<TeamView, DeskError> {
        let mut tx = self.db.read().await?;
        let team = team_by_ref(&mut tx, actor.org_id, id_or_name).await?;
        let members = store::teams::list_members(&mut tx, team.id).await?;
        Ok(TeamView::from_row(&team, members))
    }

    pub async fn set_team_member(
        &self,
        work: &mut Work,
        actor: &Actor,
        team: &str,
        person: Uuid,
        member: bool,
    ) -> Result<TeamView, DeskError> {
        actor.require_admin()?;
        let team = team_by_ref(&mut work.tx, actor.org_id, team).await?;
        store::people::find_person(&mut work.tx, actor.org_id, person)
            .await?
            .ok_or(DeskError::NotFound("person"))?;
        if member {
            store::teams::add_member(&mut work.tx, team.id, person).await?;
        } else if !store::teams::remove_member(&mut work.tx, team.id, person).await? {
            return Err(DeskError::NotFound("team member"));
        }
        let action = if member {
            "team.member_added"
        } else {
            "team.member_removed"
        };
        work.audit(actor, action, &team.name, json!({ "person": person }));
        let members = store::teams::list_members(&mut work.tx, team.id).await?;
        Ok(TeamView::from_row(&team, members))
    }

    /// Edits a team's profile (admin).
    pub async fn update_team(
        &self,
        work: &mut Work,
        actor: &Actor,
        team: &str,
        changes: TeamChanges,
    ) -> Result<TeamView, DeskError> {
        actor.require_admin()?;
        let mut row = team_by_ref(&mut work.tx, actor.org_id, team).await?;
        if let Some(name) = &changes.name {
            row.name = Name::parse("name", name)?.into_inner();
        }
        if let Some(description) = &changes.description {
            row.description = description.trim().to_string();
        }
        for (field, value, slot) in [
            ("lead", changes.lead, &mut row.lead_id),
            (
                "escalation_contact",
                changes.escalation_contact,
                &mut row.escalation_contact,
            ),
        ] {
            if let Some(value) = value {
                if let Some(id) = value {
                    store::people::find_person(&mut work.tx, actor.org_id, id)
                        .await?
                        .ok_or_else(|| {
                            DeskError::invalid(
                                field,
                                format!("no person {id} in this organization"),
                            )
                        })?;
                }
                *slot = value;
            }
        }
        if let Some(channel) = changes.default_channel {
            row.default_channel = channel
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty());
        }
        if let Some(strategy) = &changes.assignment {
            let strategy = Strategy::parse(strategy)
                .map_err(|e| DeskError::invalid("assignment", e.to_string()))?;
            row.assignment = strategy.as_str().into();
        }
        if let Some(cap) = changes.max_open_per_agent {
            if cap.is_some_and(|n| !(1..=10_000).contains(&n)) {
                return Err(DeskError::invalid(
                    "max_open_per_agent",
                    "must be between 1 and 10000, or null for no cap",
                ));
            }
            row.max_open_per_agent = cap;
        }
        store::teams::update_team(&mut work.tx, &row).await?;
        if let Some(lead) = row.lead_id {
            store::teams::add_member(&mut work.tx, row.id, lead).await?;
        }
        work.audit(actor, "team.updated", &row.name, json!({ "id": row.id, "lead": row.lead_id, "escalation_contact": row.escalation_contact, "default_channel": row.default_channel, "assignment": row.assignment, "max_open_per_agent": row.max_open_per_agent }));
        let members = store::teams::list_members(&mut work.tx, row.id).await?;
        Ok(TeamView::from_row(&row, members))
    }
}

/// Team profile changes; `Some(None)` clears a field.
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub lead: Option<Option<Uuid>>,
    pub default_channel: Option<Option<String>>,
    pub escalation_contact: Option<Option<Uuid>>,
    /// `none`, `round_robin`, `least_loaded` or `skills`.
    pub assignment: Option<String>,
    /// `Some(None)` removes the cap.
    pub max_open_per_agent: Option<Option<i32>>,
}

async fn team_by_ref(tx: &mut Tx, org_id: Uuid, id_or_name: &str) -> Result<TeamRow, DeskError> {
    find_team_ref(tx, org_id, id_or_name)
        .await?
        .ok_or(DeskError::NotFound("team"))
}

/// Finds a team by id or name.
pub(crate) async fn find_team_ref(
    tx: &mut Tx,
    org_id: Uuid,
    name_or_id: &str,
) -> Result<Option<TeamRow>, DeskError> {
    Ok(match Uuid::parse_str(name_or_id.trim()) {
        Ok(id) => store::teams::find_team(tx, org_id, id).await?,
        Err(_) => store::teams::find_team_by_name(tx, org_id, name_or_id.trim()).await?,
    })
}

pub(crate) async fn resolve_team(
    tx: &mut Tx,
    org_id: Uuid,
    name_or_id: &str,
) -> Result<TeamRow, DeskError> {
    find_team_ref(tx, org_id, name_or_id).await?.ok_or_else(|| {
        DeskError::invalid(
            "team",
            format!("no team `{name_or_id}` in this organization"),
        )
    })
}
