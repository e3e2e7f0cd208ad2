//! Macros (issue 23 item 4): canned responses an agent applies to a ticket
//! in one step — a reply with placeholders (public or internal) and field
//! changes (state, impact and urgency, so the priority, team, assignee,
//! tags). The organization's macros any agent may apply; a team's only to
//! that team's tickets.
//!
//! Applying one is one use case in one transaction: each change runs
//! through the use case a person's own change runs through (assignment,
//! field update, comment, transition), so it is checked, recorded, timed
//! and announced the same way, and then one `macro_applied` activity entry
//! names the macro. The API, Slack and Discord (`/macro`) call the same
//! [`Desk::apply_macro`].
//!
//! Managing: an admin manages every macro; a manager the macros of teams
//! they are a member of.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id,
    people::resolve_person,
    teams::resolve_team,
    tickets::{Assignment, TicketChanges},
    views::{CommentView, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        assignment::normalize_labels,
        macros::{self, MacroChanges},
        text::CommentBody,
        FieldError, Level, Role, State,
    },
    store::{self, macros::MacroRow, Tx},
};

/// A macro as saved (create) or replaced field by field (update).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroInput {
    /// Unique within its scope (the organization, or the team), whatever
    /// the case.
    #[schema(example = "VPN reset")]
    pub name: String,
    /// A team name or id: the macro is that team's; absent or null: the
    /// organization's.
    #[serde(default)]
    pub team: Option<String>,
    /// The reply, with placeholders `{{requester.name}}`,
    /// `{{ticket.number}}`, `{{ticket.title}}`, `{{ticket.state}}`,
    /// `{{ticket.priority}}`, `{{agent.name}}`; empty: no reply.
    #[serde(default)]
    #[schema(example = "Hi {{requester.name}}, I reset your VPN profile on {{ticket.number}}.")]
    pub body: String,
    /// Post the reply as an internal note (default: a public comment).
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"state": "resolved", "add_tags": ["vpn"]}))]
    pub changes: MacroChanges,
}

/// A change to a saved macro; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MacroPatch {
    pub name: Option<String>,
    /// `Some(None)` makes the macro the organization's.
    pub team: Option<Option<String>>,
    pub body: Option<String>,
    pub internal: Option<bool>,
    pub changes: Option<MacroChanges>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MacroTeam {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MacroView {
    pub id: Uuid,
    pub name: String,
    /// `null`: the organization's macro.
    pub team: Option<MacroTeam>,
    pub body: String,
    pub internal: bool,
    #[schema(value_type = Object)]
    pub changes: MacroChanges,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What applying a macro did: the ticket as it now stands and the reply
/// posted, if the macro has one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MacroApplied {
    #[serde(rename = "macro")]
    pub applied: MacroView,
    pub ticket: TicketView,
    pub comment: Option<CommentView>,
    /// The fields the macro changed, in the order it changed them.
    pub changed: Vec<String>,
}

impl MacroView {
    fn from_row(row: &MacroRow) -> Result<Self, DeskError> {
        let changes = serde_json::from_value(row.changes.0.clone()).map_err(|e| {
            anyhow::anyhow!("macro {} has changes this version cannot read: {e}", row.id)
        })?;
        Ok(Self {
            id: row.id,
            name: row.name.clone(),
            team: row.team_id.map(|id| MacroTeam {
                id,
                name: row.team_name.clone().unwrap_or_default(),
            }),
            body: row.body.clone(),
            internal: row.internal,
            changes,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Desk {
    pub async fn create_macro(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: MacroInput,
    ) -> Result<MacroView, DeskError> {
        actor.require_agent()?;
        let now = store::now();
        let mut row = MacroRow {
            id: new_id(),
            org_id: actor.org_id,
            team_id: None,
            team_name: None,
            name: String::new(),
            body: String::new(),
            internal: false,
            changes: sqlx::types::Json(json!({})),
            created_by: actor.person_id,
            created_at: now,
            updated_at: now,
        };
        self.fill_macro(work, actor, &mut row, input).await?;
        store::macros::insert_macro(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "macro.created",
            &row.name,
            json!({ "id": row.id, "team": row.team_id }),
        );
        MacroView::from_row(&row)
    }

    pub async fn update_macro(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        patch: MacroPatch,
    ) -> Result<MacroView, DeskError> {
        actor.require_agent()?;
        let mut row = store::macros::find_macro(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("macro"))?;
        // The macro's present scope must be the actor's to manage too, so a
        // manager cannot take another team's macro over.
        require_manage(&mut work.tx, actor, row.team_id, row.team_name.as_deref()).await?;
        let current = MacroView::from_row(&row)?;
        let input = MacroInput {
            name: patch.name.unwrap_or(current.name),
            team: match patch.team {
                Some(team) => team,
                None => current.team.map(|t| t.id.to_string()),
            },
            body: patch.body.unwrap_or(current.body),
            internal: patch.internal.unwrap_or(current.internal),
            changes: patch.changes.unwrap_or(current.changes),
        };
        self.fill_macro(work, actor, &mut row, input).await?;
        row.updated_at = store::now();
        store::macros::update_macro(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "macro.updated",
            &row.name,
            json!({ "id": row.id, "team": row.team_id }),
        );
        MacroView::from_row(&row)
    }

    pub async fn delete_macro(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_agent()?;
        let row = store::macros::find_macro(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("macro"))?;
        require_manage(&mut work.tx, actor, row.team_id, row.team_name.as_deref()).await?;
        store::macros::delete_macro(&mut work.tx, actor.org_id, id).await?;
        work.audit(actor, "macro.deleted", &row.name, json!({ "id": id }));
        Ok(())
    }

    /// The organization's macros (agents, managers, admins); with `team`,
    /// the ones that apply to that team's tickets: the organization's and
    /// the team's own.
    pub async fn list_macros(
        &self,
        actor: &Actor,
        team: Option<&str>,
    ) -> Result<Vec<MacroView>, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        let team = match team {
            Some(team) => Some(resolve_team(&mut tx, actor.org_id, team).await?.id),
            None => None,
        };
        store::macros::list_macros(&mut tx, actor.org_id)
            .await?
            .iter()
            .filter(|m| team.is_none() || m.team_id.is_none() || m.team_id == team)
            .map(MacroView::from_row)
            .collect()
    }

    pub async fn get_macro(&self, actor: &Actor, id: Uuid) -> Result<MacroView, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        let row = store::macros::find_macro(&mut tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("macro"))?;
        MacroView::from_row(&row)
    }

    /// Applies a macro, named by id or by name, to a ticket. By name, the
    /// ticket's team's macro comes before the organization's of the same
    /// name. Everything or nothing: a change the ticket refuses (an
    /// illegal transition, an assignee who left the team) refuses it all.
    #[tracing::instrument(skip_all, fields(ticket = %number), err(level = "debug"))]
    pub async fn apply_macro(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        id_or_name: &str,
    ) -> Result<MacroApplied, DeskError> {
        actor.require_agent()?;
        let ticket = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        let all = store::macros::list_macros(&mut work.tx, actor.org_id).await?;
        let row = pick_macro(&all, id_or_name, ticket.team_id)
            .ok_or(DeskError::NotFound("macro"))?
            .clone();
        if let Some(team) = row.team_id {
            if ticket.team_id != Some(team) {
                let with = ticket
                    .team_name
                    .as_deref()
                    .map_or("no team".to_string(), |t| format!("team {t}"));
                return Err(DeskError::Conflict(format!(
                    "macro `{}` is team {}'s and applies to its tickets only; {} is with {with}",
                    row.name,
                    row.team_name.as_deref().unwrap_or_default(),
                    ticket.number
                )));
            }
        }
        let applied = MacroView::from_row(&row)?;
        let changes = &applied.changes;
        let number = ticket.number.clone();
        let mut changed = Vec::new();

        if changes.team.is_some() || changes.assignee.is_some() {
            let assignee = match changes.assignee.as_deref() {
                Some("me") => Some(Some(
                    actor
                        .person_id
                        .ok_or_else(|| {
                            DeskError::invalid("assignee", "`me` needs a person applying the macro")
                        })?
                        .to_string(),
                )),
                Some(who) => Some(Some(who.to_string())),
                None => None,
            };
            let before = (ticket.team_id, ticket.assignee_id);
            let view = self
                .assign(
                    work,
                    actor,
                    &number,
                    Assignment {
                        team: changes.team.clone().map(Some),
                        assignee,
                    },
                )
                .await?;
            if view.team.as_ref().map(|t| t.id) != before.0 {
                changed.push("team".to_string());
            }
            if view.assignee.as_ref().map(|a| a.id) != before.1 {
                changed.push("assignee".to_string());
            }
        }

        let tags = (!changes.add_tags.is_empty() || !changes.remove_tags.is_empty())
            .then(|| changes.apply_tags(&ticket.extra.tags.0))
            .filter(|tags| *tags != ticket.extra.tags.0);
        let mut view = if changes.impact.is_some() || changes.urgency.is_some() || tags.is_some() {
            let before = TicketView::from(&ticket);
            let view = self
                .update_ticket(
                    work,
                    actor,
                    &number,
                    TicketChanges {
                        impact: changes.impact.clone(),
                        urgency: changes.urgency.clone(),
                        tags: tags.clone(),
                        ..TicketChanges::default()
                    },
                )
                .await?;
            for (field, moved) in [
                ("impact", view.impact != before.impact),
                ("urgency", view.urgency != before.urgency),
                ("priority", view.priority != before.priority),
                ("tags", view.tags != before.tags),
            ] {
                if moved {
                    changed.push(field.to_string());
                }
            }
            view
        } else {
            self.get_locked_view(work, actor, &number).await?
        };

        let target = changes
            .state
            .as_deref()
            .filter(|state| *state != view.state)
            .map(str::to_string);
        let comment = if applied.body.trim().is_empty() {
            None
        } else {
            let context = macros::Context {
                requester_name: ticket.requester_name.clone().unwrap_or_default(),
                ticket_number: view.number.clone(),
                ticket_title: view.title.clone(),
                ticket_state: target.clone().unwrap_or_else(|| view.state.clone()),
                ticket_priority: view.priority.clone(),
                agent_name: actor.name.clone(),
            };
            let body = macros::render(&applied.body, &context);
            let comment = self
                .add_comment(work, actor, &number, &body, applied.internal)
                .await?;
            changed.push(
                if applied.internal {
                    "internal_note"
                } else {
                    "comment"
                }
                .into(),
            );
            Some(comment)
        };
        if let Some(to) = target {
            view = self.transition(work, actor, &number, &to, None).await?;
            changed.push("state".to_string());
        } else if comment.is_some() {
            view = self.get_locked_view(work, actor, &number).await?;
        }

        work.record(
            actor,
            ticket.id,
            "macro_applied",
            Some(("macro", None, Some(applied.name.clone()))),
        );
        work.audit(
            actor,
            "macro.applied",
            &number,
            json!({ "macro": applied.id, "name": applied.name, "changed": changed }),
        );
        Ok(MacroApplied {
            applied,
            ticket: view,
            comment,
            changed,
        })
    }

    /// The ticket as this transaction sees it now.
    async fn get_locked_view(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<TicketView, DeskError> {
        let row = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        Ok(TicketView::from(&row))
    }

    /// Checks `input` and writes it into `row`: the name (unique in its
    /// scope), the scope (the actor's to manage), the reply's placeholders
    /// and every change against what exists now.
    async fn fill_macro(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: &mut MacroRow,
        input: MacroInput,
    ) -> Result<(), DeskError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let name = macros::check_name(&input.name)
            .map_err(|e| errors.push(e))
            .ok();
        let team = match input.team.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(team) => match resolve_team(&mut work.tx, actor.org_id, team).await {
                Ok(team) => Some(team),
                Err(DeskError::Invalid(mut e)) => {
                    errors.append(&mut e);
                    None
                }
                Err(e) => return Err(e),
            },
        };
        if !input.body.trim().is_empty() {
            if let Err(e) = macros::check_template("body", &input.body) {
                errors.push(e);
            } else if let Err(e) = CommentBody::parse("body", &input.body) {
                errors.push(e);
            }
        }
        let mut changes = input.changes;
        self.check_changes(work, actor, &mut changes, &mut errors)
            .await?;
        if input.body.trim().is_empty() && changes.is_empty() {
            errors.push(FieldError::new(
                "body",
                "a macro posts a reply or changes a field: give a body or changes",
            ));
        }
        let Some(name) = name else {
            return Err(DeskError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let team_id = team.as_ref().map(|t| t.id);
        require_manage(
            &mut work.tx,
            actor,
            team_id,
            team.as_ref().map(|t| t.name.as_str()),
        )
        .await?;
        let lower = name.to_lowercase();
        let taken = store::macros::list_macros(&mut work.tx, actor.org_id)
            .await?
            .into_iter()
            .any(|m| m.id != row.id && m.team_id == team_id && m.name.to_lowercase() == lower);
        if taken {
            let scope = team.as_ref().map_or("the organization".to_string(), |t| {
                format!("team {}", t.name)
            });
            return Err(DeskError::Conflict(format!(
                "{scope} already has a macro named `{name}`"
            )));
        }
        row.team_id = team_id;
        row.team_name = team.map(|t| t.name);
        row.name = name;
        row.body = input.body.trim().to_string();
        row.internal = input.internal;
        row.changes = sqlx::types::Json(
            serde_json::to_value(&changes).map_err(|e| anyhow::anyhow!("macro changes: {e}"))?,
        );
        Ok(())
    }

    /// Checks a macro's changes against the organization as it is now
    /// (they are checked again, by the use cases, when applied) and
    /// normalizes their names.
    async fn check_changes(
        &self,
        work: &mut Work,
        actor: &Actor,
        changes: &mut MacroChanges,
        errors: &mut Vec<FieldError>,
    ) -> Result<(), DeskError> {
        if let Some(state) = &changes.state {
            match State::parse(state) {
                Ok(state) => changes.state = Some(state.as_str().to_string()),
                Err(e) => errors.push(FieldError::new("changes.state", e.to_string())),
            }
        }
        for (field, value) in [
            ("changes.impact", &mut changes.impact),
            ("changes.urgency", &mut changes.urgency),
        ] {
            if let Some(level) = value.as_deref() {
                match Level::parse(level) {
                    Ok(level) => *value = Some(level.as_str().to_string()),
                    Err(e) => errors.push(FieldError::new(field, e.to_string())),
                }
            }
        }
        if let Some(team) = &changes.team {
            match resolve_team(&mut work.tx, actor.org_id, team).await {
                Ok(team) => changes.team = Some(team.name),
                Err(DeskError::Invalid(_)) => errors.push(FieldError::new(
                    "changes.team",
                    format!("no team `{team}` in this organization"),
                )),
                Err(e) => return Err(e),
            }
        }
        if let Some(who) = changes.assignee.clone().filter(|w| w != "me") {
            match resolve_person(&mut work.tx, actor.org_id, "changes.assignee", &who).await {
                Ok((id, name, _)) => {
                    let person = store::people::find_person(&mut work.tx, actor.org_id, id)
                        .await?
                        .ok_or(DeskError::NotFound("person"))?;
                    let works = person
                        .roles
                        .0
                        .iter()
                        .any(|r| Role::parse(r).is_ok_and(|r| r.can_work_tickets()));
                    if works {
                        changes.assignee = Some(id.to_string());
                    } else {
                        errors.push(FieldError::new(
                            "changes.assignee",
                            format!("{name} is not an agent and cannot be assigned tickets"),
                        ));
                    }
                }
                Err(DeskError::Invalid(mut e)) => errors.append(&mut e),
                Err(e) => return Err(e),
            }
        }
        for (field, tags) in [
            ("changes.add_tags", &mut changes.add_tags),
            ("changes.remove_tags", &mut changes.remove_tags),
        ] {
            match normalize_labels("tag", tags) {
                Ok(normalized) => *tags = normalized,
                Err(e) => errors.push(FieldError::new(field, e)),
            }
        }
        if let Some(both) = changes
            .add_tags
            .iter()
            .find(|t| changes.remove_tags.contains(t))
        {
            errors.push(FieldError::new(
                "changes.remove_tags",
                format!("`{both}` is also among the tags to add"),
            ));
        }
        Ok(())
    }
}

/// The macro `id_or_name` names: by id, or by name (case-insensitive) with
/// the ticket's team's own before the organization's. Another team's macro
/// is found too, so that applying it is refused with a reason rather than
/// reported missing.
fn pick_macro<'a>(
    all: &'a [MacroRow],
    id_or_name: &str,
    ticket_team: Option<Uuid>,
) -> Option<&'a MacroRow> {
    let wanted = id_or_name.trim();
    if let Ok(id) = Uuid::parse_str(wanted) {
        return all.iter().find(|m| m.id == id);
    }
    let lower = wanted.to_lowercase();
    let named: Vec<&MacroRow> = all
        .iter()
        .filter(|m| m.name.to_lowercase() == lower)
        .collect();
    named
        .iter()
        .find(|m| m.team_id.is_some() && m.team_id == ticket_team)
        .or_else(|| named.iter().find(|m| m.team_id.is_none()))
        .or_else(|| named.first())
        .copied()
}

/// Admins manage every macro; managers those of the teams they belong to.
async fn require_manage(
    tx: &mut Tx,
    actor: &Actor,
    team: Option<Uuid>,
    team_name: Option<&str>,
) -> Result<(), DeskError> {
    if actor.require_admin().is_ok() {
        return Ok(());
    }
    let member = match (team, actor.person_id) {
        (Some(team), Some(person)) => store::teams::is_member(tx, team, person).await?,
        _ => false,
    };
    if actor.has(Role::Manager) && member {
        return Ok(());
    }
    Err(DeskError::Forbidden(match team_name {
        Some(team) => {
            format!("team {team}'s macros are managed by admins and the team's managers")
        }
        None => "the organization's macros are managed by admins".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, team: Option<Uuid>) -> MacroRow {
        MacroRow {
            id: Uuid::new_v4(),
            org_id: Uuid::nil(),
            team_id: team,
            team_name: None,
            name: name.into(),
            body: String::new(),
            internal: false,
            changes: sqlx::types::Json(json!({})),
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_name_means_the_tickets_team_macro_first() {
        let network = Uuid::new_v4();
        let desk = Uuid::new_v4();
        let all = vec![
            row("VPN reset", None),
            row("VPN reset", Some(network)),
            row("Printer", Some(desk)),
        ];
        let picked = pick_macro(&all, "vpn RESET", Some(network)).expect("found");
        assert_eq!(picked.team_id, Some(network));
        let picked = pick_macro(&all, "VPN reset", Some(desk)).expect("found");
        assert_eq!(picked.team_id, None, "the organization's, for another team");
        let picked = pick_macro(&all, "printer", Some(network)).expect("found");
        assert_eq!(picked.team_id, Some(desk), "found, so it can be refused");
        assert_eq!(
            pick_macro(&all, &all[2].id.to_string(), None).map(|m| m.id),
            Some(all[2].id)
        );
        assert!(pick_macro(&all, "nothing", None).is_none());
    }
}
