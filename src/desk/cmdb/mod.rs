//! CMDB use cases: classes, configuration items, relationships, impact
//! analysis, ticket links, history and the idempotent bulk upsert that
//! discovery tools and the importer use.
//!
//! Removal policy: a CI that has relationships or ticket links cannot be
//! deleted — retire it instead (lifecycle `retired`), which keeps its
//! relationships as history and takes it out of impact analysis. Only a CI
//! that nothing refers to (typically created by mistake) can be deleted.
//!
//! Files: `mod.rs` the views and inputs, classes and the helpers the others
//! share; `cis.rs` single CIs, relationships, history and ticket links;
//! `impact.rs` impact analysis over the cached graph; `writes.rs` validation
//! and writes shared by single CIs and the bulk upsert. May import
//! `domain`, `store` and the desk modules below it (`teams`, `tickets`, `views`).

mod cis;
mod impact;
mod writes;

pub use impact::{GraphCache, IMPACT_MAX_DEPTH, IMPACT_MAX_NODES};
use writes::{claim_unique, insert_prepared, prepare, relate};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{new_id, views::PersonRef, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        cmdb::{self, ClassSchema, RelationKind},
        text::Name,
        FieldError, Role,
    },
    store::{
        self,
        cmdb::{CiHistoryRow, CiRow, ClassRow},
        Exec, Tx,
    },
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClassView {
    pub id: Uuid,
    pub name: String,
    pub label: String,
    /// `{"attributes": [{"name", "kind": {"type": …}, "required", "unique"}]}`
    #[schema(value_type = Object)]
    pub schema: Value,
    pub builtin: bool,
}

impl From<&ClassRow> for ClassView {
    fn from(c: &ClassRow) -> Self {
        Self {
            id: c.id,
            name: c.name.clone(),
            label: c.label.clone(),
            schema: c.schema.0.clone(),
            builtin: c.builtin,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CiView {
    pub id: Uuid,
    pub class: String,
    pub name: String,
    pub owner_team: Option<super::views::TeamRef>,
    /// `planned`, `in_use`, `maintenance`, `retired`, `disposed`.
    pub lifecycle: String,
    /// `low`, `medium`, `high`, `critical`.
    pub criticality: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub external_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&CiRow> for CiView {
    fn from(c: &CiRow) -> Self {
        Self {
            id: c.id,
            class: c.class_name.clone(),
            name: c.name.clone(),
            owner_team: c.owner_team_id.map(|id| super::views::TeamRef {
                id,
                name: c.owner_team_name.clone().unwrap_or_default(),
            }),
            lifecycle: c.lifecycle.clone(),
            criticality: c.criticality.clone(),
            attributes: c.attributes.0.clone(),
            external_id: c.external_id.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelationshipView {
    pub id: Uuid,
    pub source: CiRef,
    /// e.g. `runs_on`: "source runs on target".
    pub kind: String,
    pub target: CiRef,
    #[schema(value_type = Object)]
    pub attributes: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CiRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketRef {
    pub number: String,
    pub kind: String,
    pub state: String,
    pub title: String,
    pub priority: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CiDetail {
    #[serde(flatten)]
    pub ci: CiView,
    pub relationships: Vec<RelationshipView>,
    pub tickets: Vec<TicketRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    pub actor: Option<PersonRef>,
    pub channel: String,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PathStep {
    pub source: Uuid,
    /// e.g. `runs_on`.
    #[schema(value_type = String)]
    pub kind: RelationKind,
    pub target: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImpactedCi {
    pub id: Uuid,
    /// Shared with the cached graph: answers list thousands of CIs.
    #[schema(value_type = String)]
    pub name: Arc<str>,
    #[schema(value_type = String)]
    pub class: Arc<str>,
    #[schema(value_type = String)]
    pub criticality: Arc<str>,
    pub depth: u32,
    /// The relationships that connect the start to this CI, in order.
    pub path: Vec<PathStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Impact {
    pub ci: CiRef,
    pub depth: u32,
    /// What is affected if this CI fails (its consumers).
    pub upstream: Vec<ImpactedCi>,
    /// What this CI depends on.
    pub downstream: Vec<ImpactedCi>,
    /// Business services among the affected (upstream, and the CI itself).
    pub services: Vec<CiRef>,
    /// Open incidents on the CI or anything upstream or downstream of it.
    pub open_incidents: Vec<TicketRef>,
    /// Changes approved, scheduled or in progress on any of those CIs.
    pub scheduled_changes: Vec<TicketRef>,
    /// True when more CIs were reachable than one answer lists.
    pub truncated: bool,
}

/// A CI as written by a person or a discovery tool.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiInput {
    /// Class name, e.g. `server`.
    pub class: String,
    pub name: String,
    /// Team name or id.
    pub owner_team: Option<String>,
    pub lifecycle: Option<String>,
    pub criticality: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Key of the CI in the discovery tool; upserts match on it.
    pub external_id: Option<String>,
}

/// Changes to a CI; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiChanges {
    pub name: Option<String>,
    /// Team name or id; `""` removes the owner.
    pub owner_team: Option<String>,
    pub lifecycle: Option<String>,
    pub criticality: Option<String>,
    /// Merged into the current attributes; a `null` value removes one.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipInput {
    pub source: Uuid,
    /// `depends_on`, `runs_on`, `connected_to`, `part_of`, `uses`, `backs_up`.
    pub kind: String,
    pub target: Uuid,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRelationship {
    pub source_external_id: String,
    pub kind: String,
    pub target_external_id: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkUpsert {
    /// Each needs an `external_id`.
    #[serde(default)]
    pub items: Vec<CiInput>,
    #[serde(default)]
    pub relationships: Vec<BulkRelationship>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub relationships_created: usize,
    pub relationships_existing: usize,
}

/// One invalid entry of a bulk request: which one and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BulkError {
    /// `items` or `relationships`.
    pub section: String,
    /// Zero-based position in that section.
    pub index: usize,
    pub errors: Vec<String>,
}

fn field(message: impl Into<String>) -> FieldError {
    FieldError {
        field: "attributes".into(),
        message: message.into(),
    }
}

impl Desk {
    /// Adds the built-in classes an organization lacks (idempotent).
    pub async fn ensure_default_classes(&self, tx: &mut Tx, org_id: Uuid) -> Result<(), DeskError> {
        for (name, label, schema) in cmdb::default_classes() {
            let row = ClassRow {
                id: new_id(),
                org_id,
                name: name.to_string(),
                label: label.to_string(),
                schema: sqlx::types::Json(
                    serde_json::to_value(&schema).map_err(anyhow::Error::from)?,
                ),
                builtin: true,
                created_at: store::now(),
            };
            store::cmdb::insert_class(tx, &row).await?;
        }
        Ok(())
    }

    /// Adds missing built-in classes to every organization (at start, so
    /// organizations created before a class was added get it too).
    pub async fn ensure_default_classes_everywhere(&self) -> Result<(), DeskError> {
        for org in store::orgs::list_orgs(&self.db).await? {
            let desk = self.clone();
            self.execute(move |work| {
                Box::pin(async move { desk.ensure_default_classes(&mut work.tx, org.id).await })
            })
            .await?;
        }
        Ok(())
    }

    pub async fn list_classes(&self, actor: &Actor) -> Result<Vec<ClassView>, DeskError> {
        actor.require_agent()?;
        Ok(store::cmdb::list_classes(Exec::Db(&self.db), actor.org_id)
            .await?
            .iter()
            .map(ClassView::from)
            .collect())
    }

    /// Adds an organization-specific class (admin).
    pub async fn create_class(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        label: &str,
        schema: &Value,
    ) -> Result<ClassView, DeskError> {
        actor.require_admin()?;
        let valid_name = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(DeskError::invalid(
                "name",
                "must be lowercase letters, digits and _ (e.g. load_balancer)",
            ));
        }
        let label = Name::parse("label", label)?.into_inner();
        let parsed = ClassSchema::parse(schema).map_err(DeskError::Invalid)?;
        let row = ClassRow {
            id: new_id(),
            org_id: actor.org_id,
            name: name.to_string(),
            label,
            schema: sqlx::types::Json(serde_json::to_value(&parsed).map_err(anyhow::Error::from)?),
            builtin: false,
            created_at: store::now(),
        };
        if !store::cmdb::insert_class(&mut work.tx, &row).await? {
            return Err(DeskError::Conflict(format!(
                "a class named `{name}` already exists"
            )));
        }
        work.audit(actor, "cmdb.class_created", name, json!({ "id": row.id }));
        Ok(ClassView::from(&row))
    }
}

async fn class_by_name(tx: &mut Tx, org_id: Uuid, name: &str) -> Result<ClassRow, DeskError> {
    store::cmdb::find_class_by_name(tx, org_id, name.trim())
        .await?
        .ok_or_else(|| {
            DeskError::invalid(
                "class",
                format!("unknown class `{name}`; GET /api/v1/cmdb/classes lists them"),
            )
        })
}

/// Admins write every CI; agents the CIs their team owns.
async fn require_ci_writer(
    tx: &mut Tx,
    actor: &Actor,
    owner_team: Option<Uuid>,
) -> Result<(), DeskError> {
    if actor.has(Role::Admin) {
        return Ok(());
    }
    actor.require_agent()?;
    match (owner_team, actor.person_id) {
        (Some(team), Some(person)) if store::teams::is_member(tx, team, person).await? => Ok(()),
        _ => Err(DeskError::Forbidden(
            "only admins and members of the owning team may change this configuration item".into(),
        )),
    }
}

fn history_row(
    actor: &Actor,
    ci_id: Uuid,
    action: &str,
    field: Option<&str>,
    old: Option<String>,
    new: Option<String>,
) -> CiHistoryRow {
    CiHistoryRow {
        id: new_id(),
        org_id: actor.org_id,
        ci_id,
        actor_id: actor.person_id,
        actor_name: None,
        channel: actor.channel.as_str().into(),
        action: action.into(),
        field: field.map(str::to_string),
        old_value: old,
        new_value: new,
        created_at: store::now(),
    }
}

fn ticket_ref(t: store::cmdb::LinkedTicket) -> TicketRef {
    TicketRef {
        number: t.number,
        kind: t.kind,
        state: t.state,
        title: t.title,
        priority: t.priority,
    }
}

fn encode_cursor(name: &str, id: Uuid) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    URL_SAFE_NO_PAD.encode(format!("{id}|{name}"))
}

fn decode_cursor(cursor: &str) -> Option<(String, Uuid)> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (id, name) = text.split_once('|')?;
    Some((name.to_string(), Uuid::parse_str(id).ok()?))
}
