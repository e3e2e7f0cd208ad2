//! Approval policies: their stages and rules, validated against the
//! domain's approval rules, and which policy a ticket's approval uses.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::desk::{new_id, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        approval::{Approvers, PolicyStages},
        text::Name,
        FieldError,
    },
    store::{self, approvals::PolicyRow, Tx},
};

impl Desk {
    pub async fn create_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: PolicyInput,
    ) -> Result<PolicyView, DeskError> {
        actor.require_admin()?;
        let (name, stages, default_for) = self.check_policy(&mut work.tx, actor, &input).await?;
        if store::approvals::find_policy_by_name(&mut work.tx, actor.org_id, &name)
            .await?
            .is_some()
        {
            return Err(DeskError::invalid(
                "name",
                format!("a policy named `{name}` already exists"),
            ));
        }
        let now = store::now();
        let row = PolicyRow {
            id: new_id(),
            org_id: actor.org_id,
            name,
            description: input.description.trim().to_string(),
            stages: sqlx::types::Json(stages),
            default_for,
            created_at: now,
            updated_at: now,
        };
        store::approvals::insert_policy(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "approval_policy.created",
            &row.name,
            json!({ "id": row.id }),
        );
        Ok(PolicyView::from(&row))
    }

    pub async fn update_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: PolicyInput,
    ) -> Result<PolicyView, DeskError> {
        actor.require_admin()?;
        let mut row = store::approvals::find_policy(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("approval policy"))?;
        let (name, stages, default_for) = self.check_policy(&mut work.tx, actor, &input).await?;
        if let Some(other) =
            store::approvals::find_policy_by_name(&mut work.tx, actor.org_id, &name).await?
        {
            if other.id != id {
                return Err(DeskError::invalid(
                    "name",
                    format!("a policy named `{name}` already exists"),
                ));
            }
        }
        row.name = name;
        row.description = input.description.trim().to_string();
        row.stages = sqlx::types::Json(stages);
        row.default_for = default_for;
        row.updated_at = store::now();
        store::approvals::update_policy(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "approval_policy.updated",
            &row.name,
            json!({ "id": row.id }),
        );
        Ok(PolicyView::from(&row))
    }

    /// Checks a policy's name, stages (and that the people and teams they
    /// name exist here) and default use.
    pub(super) async fn check_policy(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        input: &PolicyInput,
    ) -> Result<(String, Value, Option<String>), DeskError> {
        let mut errors = Vec::new();
        let name = Name::parse("name", &input.name)
            .map_err(|e| errors.push(e))
            .ok();
        let stages = PolicyStages::parse(&input.stages)
            .map_err(|mut e| errors.append(&mut e))
            .ok();
        let default_for = match input.default_for.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if DEFAULT_FOR.contains(&v) => Some(v.to_string()),
            Some(v) => {
                errors.push(FieldError::new(
                    "default_for",
                    format!("`{v}` is not one of: {}", DEFAULT_FOR.join(", ")),
                ));
                None
            }
        };
        if let Some(stages) = &stages {
            for (i, stage) in stages.0.iter().enumerate() {
                for approvers in &stage.approvers {
                    let missing = match approvers {
                        Approvers::Person { id } => {
                            store::people::find_person(tx, actor.org_id, *id)
                                .await?
                                .is_none()
                        }
                        Approvers::Team { id } | Approvers::Cab { team: id } => {
                            store::teams::find_team(tx, actor.org_id, *id)
                                .await?
                                .is_none()
                        }
                        Approvers::RequesterManager => false,
                    };
                    if missing {
                        errors.push(FieldError::new(
                            format!("stages[{i}].approvers"),
                            format!("{approvers:?} does not exist in this organization"),
                        ));
                    }
                }
            }
        }
        match (name, stages) {
            (Some(name), Some(stages)) if errors.is_empty() => Ok((
                name.into_inner(),
                serde_json::to_value(&stages.0).map_err(anyhow::Error::from)?,
                default_for,
            )),
            _ => Err(DeskError::Invalid(errors)),
        }
    }

    pub async fn list_policies(&self, actor: &Actor) -> Result<Vec<PolicyView>, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        let rows = store::approvals::list_policies(&mut tx, actor.org_id).await?;
        Ok(rows.iter().map(PolicyView::from).collect())
    }

    pub async fn get_policy(&self, actor: &Actor, id: Uuid) -> Result<PolicyView, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        store::approvals::find_policy(&mut tx, actor.org_id, id)
            .await?
            .map(|p| PolicyView::from(&p))
            .ok_or(DeskError::NotFound("approval policy"))
    }

    /// Finds a policy by id or name, for orders, changes and rules.
    pub(crate) async fn resolve_policy(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
        field: &'static str,
        id_or_name: &str,
    ) -> Result<PolicyRow, DeskError> {
        let found = match Uuid::parse_str(id_or_name.trim()) {
            Ok(id) => store::approvals::find_policy(tx, org_id, id).await?,
            Err(_) => store::approvals::find_policy_by_name(tx, org_id, id_or_name.trim()).await?,
        };
        found.ok_or_else(|| DeskError::invalid(field, format!("no approval policy `{id_or_name}`")))
    }
}

/// Policy uses the change flows look up by default.
pub const DEFAULT_FOR: [&str; 2] = ["normal_change", "emergency_change"];

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PolicyInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The stages, in order; see the README for their shape.
    #[schema(value_type = Vec<Object>)]
    pub stages: Value,
    /// `normal_change` or `emergency_change`: changes of that type use this
    /// policy unless they name another.
    pub default_for: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(value_type = Vec<Object>)]
    pub stages: Value,
    pub default_for: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&PolicyRow> for PolicyView {
    fn from(p: &PolicyRow) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            description: p.description.clone(),
            stages: p.stages.0.clone(),
            default_for: p.default_for.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}
