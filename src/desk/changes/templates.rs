//! Standard-change templates and freeze windows (admin), which planned
//! windows are checked against.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::parse_task_titles;
use crate::desk::{new_id, teams::resolve_team, Actor, Desk, DeskError, Work};
use crate::{
    domain::text::{Description, Name},
    store::{
        self,
        changes::{FreezeRow, TemplateRow},
    },
};

impl Desk {
    pub async fn create_template(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        description: &str,
        tasks: Vec<String>,
    ) -> Result<TemplateView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", name)?.into_inner();
        let description = Description::parse("description", description)?.into_inner();
        let tasks = parse_task_titles(tasks)?;
        if store::changes::find_template(&mut work.tx, actor.org_id, &name)
            .await?
            .is_some()
        {
            return Err(DeskError::invalid(
                "name",
                format!("a template named `{name}` already exists"),
            ));
        }
        let row = TemplateRow {
            id: new_id(),
            org_id: actor.org_id,
            name,
            description,
            tasks: sqlx::types::Json(tasks),
            created_at: store::now(),
        };
        store::changes::insert_template(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "change_template.created",
            &row.name,
            json!({ "id": row.id }),
        );
        Ok(TemplateView::from(&row))
    }

    pub async fn list_templates(&self, actor: &Actor) -> Result<Vec<TemplateView>, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        Ok(store::changes::list_templates(&mut tx, actor.org_id)
            .await?
            .iter()
            .map(TemplateView::from)
            .collect())
    }

    pub async fn create_freeze(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        team: Option<String>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<FreezeView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", name)?.into_inner();
        if ends_at <= starts_at {
            return Err(DeskError::invalid("ends_at", "must be after starts_at"));
        }
        let team = match team {
            Some(t) => Some(resolve_team(&mut work.tx, actor.org_id, &t).await?.id),
            None => None,
        };
        let row = FreezeRow {
            id: new_id(),
            org_id: actor.org_id,
            team_id: team,
            name,
            starts_at,
            ends_at,
            created_at: store::now(),
        };
        store::changes::insert_freeze(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "freeze.created",
            &row.name,
            json!({ "id": row.id, "team": team }),
        );
        Ok(FreezeView::from(&row))
    }

    pub async fn list_freezes(&self, actor: &Actor) -> Result<Vec<FreezeView>, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        Ok(store::changes::list_freezes(&mut tx, actor.org_id)
            .await?
            .iter()
            .map(FreezeView::from)
            .collect())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub tasks: Vec<String>,
}

impl From<&TemplateRow> for TemplateView {
    fn from(t: &TemplateRow) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            description: t.description.clone(),
            tasks: t.tasks.0.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FreezeView {
    pub id: Uuid,
    pub name: String,
    /// The team it applies to; everyone when absent.
    pub team: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl From<&FreezeRow> for FreezeView {
    fn from(f: &FreezeRow) -> Self {
        Self {
            id: f.id,
            name: f.name.clone(),
            team: f.team_id,
            starts_at: f.starts_at,
            ends_at: f.ends_at,
        }
    }
}
