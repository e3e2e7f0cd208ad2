//! Ticket categories, each optionally routed to a team.

use serde_json::json;

use super::{new_id, teams::resolve_team, views::CategoryView, Actor, Desk, DeskError, Work};
use crate::{
    domain::text::Name,
    store::{self, teams::CategoryRow},
};

impl Desk {
    pub async fn create_category(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        team: Option<&str>,
    ) -> Result<CategoryView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", name)?;
        let team_id = match team {
            Some(t) => Some(resolve_team(&mut work.tx, actor.org_id, t).await?.id),
            None => None,
        };
        if store::teams::find_category_by_name(&mut work.tx, actor.org_id, name.as_str())
            .await?
            .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a category named `{name}` already exists"
            )));
        }
        let row = CategoryRow {
            id: new_id(),
            org_id: actor.org_id,
            name: name.into_inner(),
            team_id,
            created_at: store::now(),
        };
        store::teams::insert_category(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "category.created",
            &row.name,
            json!({ "id": row.id, "team": team_id }),
        );
        Ok(CategoryView::from(&row))
    }

    pub async fn list_categories(&self, actor: &Actor) -> Result<Vec<CategoryView>, DeskError> {
        let mut tx = self.db.read().await?;
        Ok(store::teams::list_categories(&mut tx, actor.org_id)
            .await?
            .iter()
            .map(CategoryView::from)
            .collect())
    }
}
