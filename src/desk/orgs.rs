//! Organizations: the tenant every row belongs to. Created by slug on first
//! use (the `default` one on first start), with the ITIL priority matrix.

use serde_json::json;
use uuid::Uuid;

use super::{new_id, views::OrganizationView, Actor, Desk, DeskError, Work};
use crate::{
    domain::PriorityMatrix,
    store::{self, orgs::OrgRow},
};

/// The organization every fresh installation starts with.
pub const DEFAULT_ORG: &str = "default";

impl Desk {
    /// Returns the organization with this slug, creating it (with the ITIL
    /// priority matrix) when missing. Second value: whether it was created.
    /// The id of the organization with this slug (chat workspaces and
    /// mailboxes are mapped to one by slug in the configuration).
    pub async fn organization_id(&self, slug: &str) -> Result<Uuid, DeskError> {
        let mut tx = self.db.read().await?;
        store::orgs::find_org_by_slug(&mut tx, slug)
            .await?
            .map(|o| o.id)
            .ok_or(DeskError::NotFound("organization"))
    }

    /// An existing organization by slug; the error names the ones there
    /// are (a typo must never create a tenant: only
    /// [`Desk::ensure_org`], behind `switchboard org create`, does).
    pub async fn existing_org(&self, slug: &str) -> Result<OrgRow, DeskError> {
        let mut tx = self.db.read().await?;
        if let Some(org) = store::orgs::find_org_by_slug(&mut tx, slug).await? {
            return Ok(org);
        }
        drop(tx);
        let known: Vec<String> = store::orgs::list_orgs(&self.db)
            .await?
            .into_iter()
            .map(|o| o.slug)
            .collect();
        Err(DeskError::invalid(
            "org",
            format!(
                "no organization `{slug}` (there are: {}); create it with `switchboard org create {slug}`",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ),
        ))
    }

    pub async fn ensure_org(&self, slug: &str) -> Result<(OrgRow, bool), DeskError> {
        let slug = slug.to_string();
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if let Some(org) = store::orgs::find_org_by_slug(&mut work.tx, &slug).await? {
                    return Ok((org, false));
                }
                let org = OrgRow {
                    id: new_id(),
                    slug: slug.clone(),
                    name: slug.clone(),
                    priority_matrix: sqlx::types::Json(
                        serde_json::to_value(PriorityMatrix::itil_default())
                            .map_err(anyhow::Error::from)?,
                    ),
                    mfa_required: false,
                    created_at: store::now(),
                    time_zone: "UTC".into(),
                };
                store::orgs::insert_org(&mut work.tx, &org).await?;
                desk.ensure_default_classes(&mut work.tx, org.id).await?;
                work.audit(
                    &Actor::system(org.id),
                    "organization.created",
                    &slug,
                    json!({}),
                );
                Ok((org, true))
            })
        })
        .await
    }

    pub async fn organization(&self, actor: &Actor) -> Result<OrganizationView, DeskError> {
        let mut tx = self.db.read().await?;
        let org = store::orgs::get_org(&mut tx, actor.org_id).await?;
        Ok(OrganizationView::from(&org))
    }

    /// Changes the organization's settings (admins): the MFA requirement
    /// and the IANA time zone reports cut days in.
    pub async fn update_organization(
        &self,
        work: &mut Work,
        actor: &Actor,
        mfa_required: Option<bool>,
        time_zone: Option<String>,
    ) -> Result<OrganizationView, DeskError> {
        actor.require_admin()?;
        // Checked before anything is written: a bad zone changes nothing.
        let zone = time_zone
            .as_deref()
            .map(|z| crate::domain::report::parse_time_zone("time_zone", z))
            .transpose()?;
        if let Some(required) = mfa_required {
            self.set_mfa_policy(work, actor, required).await?;
        }
        if let Some(zone) = zone {
            let before = store::orgs::get_org(&mut work.tx, actor.org_id).await?;
            if before.time_zone != zone.name() {
                store::reports::set_org_time_zone(&mut work.tx, actor.org_id, zone.name()).await?;
                work.audit(
                    actor,
                    "organization.time_zone_changed",
                    &before.slug,
                    serde_json::json!({ "from": before.time_zone, "to": zone.name() }),
                );
            }
        }
        let org = store::orgs::get_org(&mut work.tx, actor.org_id).await?;
        Ok(OrganizationView::from(&org))
    }
}
