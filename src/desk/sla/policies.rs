//! SLA policies (admin): which tickets they select, their targets,
//! warning thresholds and pause states, and the terms a ticket's clocks
//! run by.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::parse;
use crate::desk::{new_id, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        sla::{self, OnReopen, Selector, Targets, Terms},
        FieldError, State,
    },
    store::{self, sla::PolicyRow, Exec, Tx},
};

impl Desk {
    pub async fn create_sla_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: PolicyInput,
    ) -> Result<PolicyView, DeskError> {
        actor.require_admin()?;
        let now = store::now();
        let row = self
            .policy_row(&mut work.tx, actor.org_id, new_id(), input, now, now)
            .await?;
        store::sla::upsert_policy(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "sla.policy_created",
            &row.name,
            json!({ "id": row.id }),
        );
        policy_view(&row)
    }

    pub async fn update_sla_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: PolicyInput,
    ) -> Result<PolicyView, DeskError> {
        actor.require_admin()?;
        let old = store::sla::find_policy(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("SLA policy"))?;
        let row = self
            .policy_row(
                &mut work.tx,
                actor.org_id,
                id,
                input,
                old.created_at,
                store::now(),
            )
            .await?;
        store::sla::upsert_policy(&mut work.tx, &row).await?;
        work.audit(actor, "sla.policy_updated", &row.name, json!({ "id": id }));
        policy_view(&row)
    }

    pub async fn list_sla_policies(&self, actor: &Actor) -> Result<Vec<PolicyView>, DeskError> {
        actor.require_agent()?;
        store::sla::list_policies(Exec::Db(&self.db), actor.org_id)
            .await?
            .iter()
            .map(policy_view)
            .collect()
    }

    pub async fn get_sla_policy(&self, actor: &Actor, id: Uuid) -> Result<PolicyView, DeskError> {
        actor.require_agent()?;
        let row = store::sla::find_policy(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("SLA policy"))?;
        policy_view(&row)
    }

    pub async fn delete_sla_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        let row = store::sla::find_policy(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("SLA policy"))?;
        store::sla::delete_policy(&mut work.tx, actor.org_id, id).await?;
        work.audit(actor, "sla.policy_deleted", &row.name, json!({ "id": id }));
        Ok(())
    }

    pub(super) async fn policy_row(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
        id: Uuid,
        input: PolicyInput,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Result<PolicyRow, DeskError> {
        let mut errors = Vec::new();
        if input.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        sla::validate_terms(&input.targets, &input.warn_at_percent, &mut errors);
        for (i, state) in input.pause_states.iter().enumerate() {
            if let Err(e) = State::parse(state) {
                errors.push(FieldError::new(format!("pause_states[{i}]"), e.to_string()));
            }
        }
        for (i, kind) in input.selector.kinds.iter().enumerate() {
            if let Err(e) = crate::domain::Kind::parse(kind) {
                errors.push(FieldError::new(
                    format!("selector.kinds[{i}]"),
                    e.to_string(),
                ));
            }
        }
        for (i, priority) in input.selector.priorities.iter().enumerate() {
            if let Err(e) = crate::domain::Priority::parse(priority) {
                errors.push(FieldError::new(
                    format!("selector.priorities[{i}]"),
                    e.to_string(),
                ));
            }
        }
        if let Some(calendar) = input.calendar {
            if store::sla::find_calendar(Exec::Tx(tx), org_id, calendar)
                .await?
                .is_none()
            {
                errors.push(FieldError::new(
                    "calendar",
                    format!("no calendar {calendar}"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let json = |v: serde_json::Result<serde_json::Value>| {
            v.map(sqlx::types::Json).map_err(anyhow::Error::from)
        };
        Ok(PolicyRow {
            id,
            org_id,
            name: input.name.trim().into(),
            position: input.position,
            selector: json(serde_json::to_value(&input.selector))?,
            targets: json(serde_json::to_value(input.targets))?,
            warn_at_percent: json(serde_json::to_value(&input.warn_at_percent))?,
            pause_states: json(serde_json::to_value(
                input
                    .pause_states
                    .iter()
                    .filter_map(|s| State::parse(s).ok().map(|s| s.as_str().to_string()))
                    .collect::<Vec<_>>(),
            ))?,
            on_reopen: match input.on_reopen {
                OnReopen::Restart => "restart".into(),
                OnReopen::Resume => "resume".into(),
            },
            calendar_id: input.calendar,
            created_at,
            updated_at,
        })
    }
}

/// An SLA policy as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub name: String,
    /// Policies are tried in ascending position; the first match applies.
    #[serde(default)]
    pub position: i64,
    /// Which tickets: lists of kinds, priorities, category and team names (empty = any).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub selector: Selector,
    /// Minutes of business time: `first_response_minutes`, `resolution_minutes`, `next_response_minutes`.
    #[schema(value_type = Object)]
    pub targets: Targets,
    /// Warning thresholds in percent of a target (default 75 and 90).
    #[serde(default = "default_warnings")]
    pub warn_at_percent: Vec<u8>,
    /// States in which the clocks pause (default `on_hold`).
    #[serde(default = "default_pause_states")]
    pub pause_states: Vec<String>,
    /// `restart` (default) or `resume`: the resolution clock on reopening.
    #[serde(default)]
    #[schema(value_type = String)]
    pub on_reopen: OnReopen,
    /// Business calendar id; none means 24×7 in UTC.
    #[serde(default)]
    pub calendar: Option<Uuid>,
}

pub(super) fn default_warnings() -> Vec<u8> {
    vec![75, 90]
}

pub(super) fn default_pause_states() -> Vec<String> {
    vec![State::OnHold.as_str().into()]
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub id: Uuid,
    pub name: String,
    pub position: i64,
    #[schema(value_type = Object)]
    pub selector: Selector,
    #[schema(value_type = Object)]
    pub targets: Targets,
    pub warn_at_percent: Vec<u8>,
    pub pause_states: Vec<String>,
    #[schema(value_type = String)]
    pub on_reopen: OnReopen,
    pub calendar: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

pub(super) fn terms_of(row: &PolicyRow) -> Result<Terms, DeskError> {
    Ok(Terms {
        policy_id: row.id,
        policy_name: row.name.clone(),
        calendar_id: row.calendar_id,
        targets: parse(&row.targets.0)?,
        warn_at_percent: parse(&row.warn_at_percent.0)?,
        pause_states: parse(&row.pause_states.0)?,
        on_reopen: if row.on_reopen == "resume" {
            OnReopen::Resume
        } else {
            OnReopen::Restart
        },
    })
}

pub(super) fn policy_view(row: &PolicyRow) -> Result<PolicyView, DeskError> {
    let terms = terms_of(row)?;
    Ok(PolicyView {
        id: row.id,
        name: row.name.clone(),
        position: row.position,
        selector: serde_json::from_value(row.selector.0.clone()).map_err(anyhow::Error::from)?,
        targets: terms.targets,
        warn_at_percent: terms.warn_at_percent,
        pause_states: terms.pause_states,
        on_reopen: terms.on_reopen,
        calendar: row.calendar_id,
        updated_at: row.updated_at,
    })
}
