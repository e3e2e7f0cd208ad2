//! CMDB use cases: classes, configuration items, relationships, impact
//! analysis, ticket links, history and the idempotent bulk upsert that
//! discovery tools and the importer use.
//!
//! Removal policy: a CI that has relationships or ticket links cannot be
//! deleted — retire it instead (lifecycle `retired`), which keeps its
//! relationships as history and takes it out of impact analysis. Only a CI
//! that nothing refers to (typically created by mistake) can be deleted.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{new_id, views::PersonRef, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        cmdb::{self, ClassSchema, Criticality, Direction, Edge, Lifecycle, RelationKind},
        cmdb_graph::{CmdbGraph, GraphCi},
        text::Name,
        FieldError, Role,
    },
    store::{
        self,
        cmdb::{CiHistoryRow, CiRow, ClassRow, RelationshipRow},
        Exec, Tx,
    },
};

/// Most CIs one impact answer lists.
pub const IMPACT_MAX_NODES: usize = 10_000;
pub const IMPACT_MAX_DEPTH: u32 = 10;
/// Above this many CIs, impact answers find their tickets from the open
/// ones rather than by CI id.
const TICKETS_BY_CI_MAX: usize = 1_000;

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

    pub async fn create_ci(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: CiInput,
    ) -> Result<CiView, DeskError> {
        let prepared = prepare(&mut work.tx, actor, &input).await?;
        require_ci_writer(&mut work.tx, actor, prepared.owner_team_id).await?;
        let row = insert_prepared(work, actor, prepared).await?;
        Ok(CiView::from(&row))
    }

    pub async fn get_ci(&self, actor: &Actor, id: Uuid) -> Result<CiDetail, DeskError> {
        actor.require_agent()?;
        let ci = store::cmdb::find_ci(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("configuration item"))?;
        let relationships =
            store::cmdb::list_relationships_of(Exec::Db(&self.db), actor.org_id, id)
                .await?
                .into_iter()
                .map(|r| RelationshipView {
                    id: r.id,
                    source: CiRef {
                        id: r.source_id,
                        name: r.source_name,
                    },
                    kind: r.kind,
                    target: CiRef {
                        id: r.target_id,
                        name: r.target_name,
                    },
                    attributes: r.attributes.0,
                })
                .collect();
        let tickets = store::cmdb::tickets_on(Exec::Db(&self.db), actor.org_id, &[id])
            .await?
            .into_iter()
            .map(ticket_ref)
            .collect();
        Ok(CiDetail {
            ci: CiView::from(&ci),
            relationships,
            tickets,
        })
    }

    pub async fn list_cis(
        &self,
        actor: &Actor,
        class: Option<&str>,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<CiView>, Option<String>), DeskError> {
        actor.require_agent()?;
        if !(1..=500).contains(&limit) {
            return Err(DeskError::invalid("limit", "must be between 1 and 500"));
        }
        let after = match cursor {
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                DeskError::invalid("cursor", "not a cursor returned by this API")
            })?),
            None => None,
        };
        let class_id = match class {
            Some(name) => {
                let mut tx = self.db.read().await?;
                Some(class_by_name(&mut tx, actor.org_id, name).await?.id)
            }
            None => None,
        };
        let mut rows = store::cmdb::list_cis(
            Exec::Db(&self.db),
            actor.org_id,
            class_id,
            q,
            after,
            limit + 1,
        )
        .await?;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| encode_cursor(&r.name, r.id))
        } else {
            None
        };
        Ok((rows.iter().map(CiView::from).collect(), next))
    }

    pub async fn update_ci(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        changes: CiChanges,
    ) -> Result<CiView, DeskError> {
        let mut row = store::cmdb::find_ci(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("configuration item"))?;
        require_ci_writer(&mut work.tx, actor, row.owner_team_id).await?;
        let class = class_by_name(&mut work.tx, actor.org_id, &row.class_name).await?;
        let schema = ClassSchema::parse(&class.schema.0).map_err(DeskError::Invalid)?;
        let mut history = Vec::new();
        if let Some(name) = &changes.name {
            let name = Name::parse("name", name)?.into_inner();
            if name != row.name {
                history.push(("name", Some(row.name.clone()), Some(name.clone())));
                row.name = name;
            }
        }
        if let Some(team) = &changes.owner_team {
            let team = if team.trim().is_empty() {
                None
            } else {
                Some(super::teams::resolve_team(&mut work.tx, actor.org_id, team).await?)
            };
            if team.as_ref().map(|t| t.id) != row.owner_team_id {
                history.push((
                    "owner_team",
                    row.owner_team_name.clone(),
                    team.as_ref().map(|t| t.name.clone()),
                ));
                row.owner_team_id = team.as_ref().map(|t| t.id);
                row.owner_team_name = team.map(|t| t.name);
            }
        }
        if let Some(to) = &changes.lifecycle {
            let from = Lifecycle::parse(&row.lifecycle).map_err(anyhow::Error::from)?;
            let to =
                Lifecycle::parse(to).map_err(|e| DeskError::invalid("lifecycle", e.to_string()))?;
            if from != to {
                Lifecycle::transition(from, to)
                    .map_err(|e| DeskError::invalid("lifecycle", e.to_string()))?;
                history.push((
                    "lifecycle",
                    Some(from.as_str().into()),
                    Some(to.as_str().into()),
                ));
                row.lifecycle = to.as_str().into();
            }
        }
        if let Some(c) = &changes.criticality {
            let c = Criticality::parse(c)
                .map_err(|e| DeskError::invalid("criticality", e.to_string()))?;
            if c.as_str() != row.criticality {
                history.push((
                    "criticality",
                    Some(row.criticality.clone()),
                    Some(c.as_str().into()),
                ));
                row.criticality = c.as_str().into();
            }
        }
        if let Some(patch) = &changes.attributes {
            let mut merged = row.attributes.0.as_object().cloned().unwrap_or_default();
            for (k, v) in patch {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            let normalized = schema.validate(&merged).map_err(DeskError::Invalid)?;
            let before = row.attributes.0.as_object().cloned().unwrap_or_default();
            for key in before
                .keys()
                .chain(normalized.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let (old, new) = (before.get(key), normalized.get(key));
                if old != new {
                    history.push((
                        "attributes",
                        old.map(|v| format!("{key}={v}")),
                        new.map(|v| format!("{key}={v}")),
                    ));
                }
            }
            store::cmdb::release_unique_values(&mut work.tx, row.id).await?;
            claim_unique(
                &mut work.tx,
                actor.org_id,
                &class,
                &schema,
                &normalized,
                row.id,
            )
            .await?;
            row.attributes = sqlx::types::Json(Value::Object(normalized));
        }
        if history.is_empty() {
            return Ok(CiView::from(&row));
        }
        row.updated_at = store::now();
        store::cmdb::update_ci(&mut work.tx, &row).await?;
        work.cmdb_changed(actor.org_id);
        let rows: Vec<CiHistoryRow> = history
            .iter()
            .map(|(f, o, n)| history_row(actor, row.id, "updated", Some(f), o.clone(), n.clone()))
            .collect();
        store::cmdb::insert_history(&mut work.tx, &rows).await?;
        let fields: Vec<&str> = history.iter().map(|h| h.0).collect();
        work.audit(
            actor,
            "cmdb.ci_updated",
            &row.id.to_string(),
            json!({ "fields": fields }),
        );
        Ok(CiView::from(&row))
    }

    /// Deletes a CI nothing refers to; anything else must be retired.
    pub async fn delete_ci(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        let row = store::cmdb::find_ci(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("configuration item"))?;
        require_ci_writer(&mut work.tx, actor, row.owner_team_id).await?;
        let relationships = store::cmdb::count_relationships_of(&mut work.tx, id).await?;
        let tickets = store::cmdb::count_ticket_links(&mut work.tx, id).await?;
        if relationships > 0 || tickets > 0 {
            return Err(DeskError::Conflict(format!(
                "{} has {relationships} relationship(s) and {tickets} linked ticket(s); retire it (lifecycle `retired`) to keep that history",
                row.name
            )));
        }
        store::cmdb::delete_ci(&mut work.tx, actor.org_id, id).await?;
        work.cmdb_changed(actor.org_id);
        work.audit(
            actor,
            "cmdb.ci_deleted",
            &id.to_string(),
            json!({ "name": row.name, "class": row.class_name }),
        );
        Ok(())
    }

    pub async fn add_relationship(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: RelationshipInput,
    ) -> Result<RelationshipView, DeskError> {
        let kind = RelationKind::parse(&input.kind)
            .map_err(|e| DeskError::invalid("kind", e.to_string()))?;
        let source = store::cmdb::find_ci(Exec::Tx(&mut work.tx), actor.org_id, input.source)
            .await?
            .ok_or_else(|| DeskError::invalid("source", "no such configuration item"))?;
        let target = store::cmdb::find_ci(Exec::Tx(&mut work.tx), actor.org_id, input.target)
            .await?
            .ok_or_else(|| DeskError::invalid("target", "no such configuration item"))?;
        require_ci_writer(&mut work.tx, actor, source.owner_team_id).await?;
        let (id, _) = relate(work, actor, &source, kind, &target, input.attributes).await?;
        Ok(RelationshipView {
            id,
            source: CiRef {
                id: source.id,
                name: source.name,
            },
            kind: kind.as_str().into(),
            target: CiRef {
                id: target.id,
                name: target.name,
            },
            attributes: Value::Object(Map::new()),
        })
    }

    pub async fn remove_relationship(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        let row = store::cmdb::delete_relationship(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("relationship"))?;
        work.cmdb_changed(actor.org_id);
        let source = store::cmdb::find_ci(Exec::Tx(&mut work.tx), actor.org_id, row.source_id)
            .await?
            .ok_or(DeskError::NotFound("configuration item"))?;
        require_ci_writer(&mut work.tx, actor, source.owner_team_id).await?;
        let text = format!("{} {} {}", row.source_id, row.kind, row.target_id);
        let rows = [
            history_row(
                actor,
                row.source_id,
                "relationship_removed",
                Some("relationships"),
                Some(text.clone()),
                None,
            ),
            history_row(
                actor,
                row.target_id,
                "relationship_removed",
                Some("relationships"),
                Some(text),
                None,
            ),
        ];
        store::cmdb::insert_history(&mut work.tx, &rows).await?;
        work.audit(
            actor,
            "cmdb.relationship_removed",
            &id.to_string(),
            json!({ "source": row.source_id, "kind": row.kind, "target": row.target_id }),
        );
        Ok(())
    }

    pub async fn ci_history(&self, actor: &Actor, id: Uuid) -> Result<Vec<HistoryView>, DeskError> {
        actor.require_agent()?;
        store::cmdb::find_ci(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("configuration item"))?;
        Ok(
            store::cmdb::list_history(Exec::Db(&self.db), actor.org_id, id)
                .await?
                .into_iter()
                .map(|h| HistoryView {
                    actor: h.actor_id.map(|id| PersonRef {
                        id,
                        name: h.actor_name.clone().unwrap_or_default(),
                        email: None,
                    }),
                    channel: h.channel,
                    action: h.action,
                    field: h.field,
                    old_value: h.old_value,
                    new_value: h.new_value,
                    at: h.created_at,
                })
                .collect(),
        )
    }

    /// What a CI's failure affects (upstream) and what it relies on
    /// (downstream), to `depth` hops; retired and disposed CIs pass nothing on.
    pub async fn impact(&self, actor: &Actor, id: Uuid, depth: u32) -> Result<Impact, DeskError> {
        actor.require_agent()?;
        if !(1..=IMPACT_MAX_DEPTH).contains(&depth) {
            return Err(DeskError::invalid(
                "depth",
                format!("must be between 1 and {IMPACT_MAX_DEPTH}"),
            ));
        }
        let start = store::cmdb::find_ci(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("configuration item"))?;
        let graph = self.impact_graph(actor.org_id).await?;
        let upstream = graph.walk(id, Direction::Upstream, depth, IMPACT_MAX_NODES);
        let downstream = graph.walk(id, Direction::Downstream, depth, IMPACT_MAX_NODES);
        let mut all: Vec<Uuid> = vec![id];
        all.extend(upstream.reached.iter().map(|r| r.ci));
        all.extend(downstream.reached.iter().map(|r| r.ci));
        let describe = |reached: Vec<cmdb::Reached>| -> Vec<ImpactedCi> {
            let mut described = Vec::with_capacity(reached.len());
            described.extend(reached.into_iter().filter_map(|r| {
                let b = graph.ci(r.ci)?;
                Some(ImpactedCi {
                    id: r.ci,
                    name: b.name.clone(),
                    class: b.class.clone(),
                    criticality: b.criticality.clone(),
                    depth: r.depth,
                    path: r
                        .path
                        .into_iter()
                        .map(|(source, kind, target)| PathStep {
                            source,
                            kind,
                            target,
                        })
                        .collect(),
                })
            }));
            described
        };
        let truncated = upstream.truncated || downstream.truncated;
        let upstream_view = describe(upstream.reached);
        let downstream_view = describe(downstream.reached);
        let mut services: Vec<CiRef> =
            std::iter::once((start.id, start.class_name.as_str(), start.name.as_str()))
                .chain(
                    upstream_view
                        .iter()
                        .map(|c| (c.id, c.class.as_ref(), c.name.as_ref())),
                )
                .filter(|(_, class, _)| *class == "service")
                .map(|(id, _, name)| CiRef {
                    id,
                    name: name.to_string(),
                })
                .collect();
        services.dedup_by_key(|s| s.id);
        let tickets = if all.len() <= TICKETS_BY_CI_MAX {
            store::cmdb::tickets_on(Exec::Db(&self.db), actor.org_id, &all).await?
        } else {
            // Shipping thousands of ids costs more than reading the open
            // tickets that have CIs (a partial index) and keeping ours.
            let ours: HashSet<Uuid> = all.iter().copied().collect();
            let mut rows =
                store::cmdb::open_tickets_with_cis(Exec::Db(&self.db), actor.org_id).await?;
            rows.retain(|t| ours.contains(&t.ci_id));
            rows
        };
        let mut seen = HashSet::new();
        let mut open_incidents = Vec::new();
        let mut scheduled_changes = Vec::new();
        for t in tickets {
            if !seen.insert(t.number.clone()) {
                continue;
            }
            let open = !matches!(
                t.state.as_str(),
                "resolved" | "closed" | "cancelled" | "rejected"
            );
            if t.kind == "incident" && open {
                open_incidents.push(ticket_ref(t));
            } else if t.kind == "change"
                && matches!(
                    t.state.as_str(),
                    "awaiting_approval" | "scheduled" | "implementing"
                )
            {
                scheduled_changes.push(ticket_ref(t));
            }
        }
        Ok(Impact {
            ci: CiRef {
                id: start.id,
                name: start.name,
            },
            depth,
            upstream: upstream_view,
            downstream: downstream_view,
            services,
            open_incidents,
            scheduled_changes,
            truncated,
        })
    }

    /// The organization's relationship graph as of its current CMDB
    /// generation: the cached one when the generation still matches (one
    /// primary-key read), else rebuilt from one consistent snapshot. One
    /// rebuild at a time per organization; requests arriving meanwhile wait
    /// for it rather than each loading the graph.
    async fn impact_graph(&self, org_id: Uuid) -> Result<Arc<CmdbGraph>, DeskError> {
        let generation = store::cmdb::cmdb_generation(Exec::Db(&self.db), org_id).await?;
        if let Some(graph) = self.impact_graphs.current(org_id, generation) {
            return Ok(graph);
        }
        let gate = self.impact_graphs.gate(org_id);
        let _turn = gate.lock().await;
        let mut tx = self.db.snapshot().await?;
        let generation = store::cmdb::cmdb_generation(Exec::Tx(&mut tx), org_id).await?;
        if let Some(graph) = self.impact_graphs.current(org_id, generation) {
            return Ok(graph);
        }
        let cis = store::cmdb::all_briefs(&mut tx, org_id).await?;
        let edges = store::cmdb::all_edges(&mut tx, org_id).await?;
        tx.commit().await?;
        let graph = tokio::task::spawn_blocking(move || build_graph(cis, edges))
            .await
            .map_err(|e| anyhow::Error::new(e).context("building the impact graph"))?;
        let graph = Arc::new(graph);
        self.impact_graphs.store(org_id, generation, graph.clone());
        Ok(graph)
    }

    /// Links a ticket to a CI (agents).
    pub async fn link_ticket_ci(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        ci: Uuid,
    ) -> Result<Vec<CiRef>, DeskError> {
        actor.require_agent()?;
        let ticket = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        let row = store::cmdb::find_ci(Exec::Tx(&mut work.tx), actor.org_id, ci)
            .await?
            .ok_or_else(|| DeskError::invalid("ci", "no such configuration item"))?;
        if store::cmdb::link_ticket(&mut work.tx, ticket.id, ci, store::now()).await? {
            work.record(
                actor,
                ticket.id,
                "ci_linked",
                Some(("cis", None, Some(row.name.clone()))),
            );
            store::cmdb::insert_history(
                &mut work.tx,
                &[history_row(
                    actor,
                    ci,
                    "ticket_linked",
                    Some("tickets"),
                    None,
                    Some(ticket.number.clone()),
                )],
            )
            .await?;
            work.audit(
                actor,
                "ticket.ci_linked",
                &ticket.number,
                json!({ "ci": ci }),
            );
        }
        self.ticket_cis_in(Exec::Tx(&mut work.tx), ticket.id).await
    }

    pub async fn unlink_ticket_ci(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        ci: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_agent()?;
        let ticket = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        if !store::cmdb::unlink_ticket(&mut work.tx, ticket.id, ci).await? {
            return Err(DeskError::NotFound("link"));
        }
        work.record(
            actor,
            ticket.id,
            "ci_unlinked",
            Some(("cis", Some(ci.to_string()), None)),
        );
        store::cmdb::insert_history(
            &mut work.tx,
            &[history_row(
                actor,
                ci,
                "ticket_unlinked",
                Some("tickets"),
                Some(ticket.number.clone()),
                None,
            )],
        )
        .await?;
        work.audit(
            actor,
            "ticket.ci_unlinked",
            &ticket.number,
            json!({ "ci": ci }),
        );
        Ok(())
    }

    pub async fn ticket_cis(&self, actor: &Actor, number: &str) -> Result<Vec<CiRef>, DeskError> {
        let ticket = self.get_ticket(actor, number).await?;
        self.ticket_cis_in(Exec::Db(&self.db), ticket.id).await
    }

    async fn ticket_cis_in(
        &self,
        exec: Exec<'_>,
        ticket_id: Uuid,
    ) -> Result<Vec<CiRef>, DeskError> {
        Ok(store::cmdb::cis_of_ticket(exec, ticket_id)
            .await?
            .into_iter()
            .map(|(id, name, _)| CiRef { id, name })
            .collect())
    }

    /// Creates or updates CIs by external id and adds relationships between
    /// them, all or nothing: every entry is checked first and any invalid one
    /// stops the whole batch, naming each problem by position.
    pub async fn bulk_upsert(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: BulkUpsert,
    ) -> Result<BulkResult, DeskError> {
        if !actor.has(Role::Admin) {
            return Err(DeskError::Forbidden(
                "bulk upserts need the admin role".into(),
            ));
        }
        let mut errors = Vec::new();
        let mut prepared = Vec::with_capacity(input.items.len());
        let mut seen_external = HashSet::new();
        let mut classes = HashMap::new();
        for (index, item) in input.items.iter().enumerate() {
            let Some(external) = item.external_id.as_deref().filter(|e| !e.trim().is_empty())
            else {
                errors.push(BulkError {
                    section: "items".into(),
                    index,
                    errors: vec!["external_id is required for bulk upserts".into()],
                });
                continue;
            };
            if !seen_external.insert(external.to_string()) {
                errors.push(BulkError {
                    section: "items".into(),
                    index,
                    errors: vec![format!(
                        "external_id `{external}` appears twice in this batch"
                    )],
                });
                continue;
            }
            match prepare_cached(&mut work.tx, actor, item, &mut classes).await {
                Ok(p) => prepared.push(p),
                Err(DeskError::Invalid(fields)) => errors.push(BulkError {
                    section: "items".into(),
                    index,
                    errors: fields.iter().map(ToString::to_string).collect(),
                }),
                Err(other) => return Err(other),
            }
        }
        let mut kinds = Vec::with_capacity(input.relationships.len());
        for (index, r) in input.relationships.iter().enumerate() {
            match RelationKind::parse(&r.kind) {
                Ok(kind) => kinds.push(kind),
                Err(e) => errors.push(BulkError {
                    section: "relationships".into(),
                    index,
                    errors: vec![e.to_string()],
                }),
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::BulkInvalid(errors));
        }
        let mut result = BulkResult {
            created: 0,
            updated: 0,
            unchanged: 0,
            relationships_created: 0,
            relationships_existing: 0,
        };
        let mut by_external: HashMap<String, CiRow> = HashMap::new();
        let externals: Vec<String> = prepared
            .iter()
            .filter_map(|p| p.external_id.clone())
            .collect();
        let existing: HashSet<String> =
            store::cmdb::find_by_external_ids(&mut work.tx, actor.org_id, &externals)
                .await?
                .into_iter()
                .map(|(external, ..)| external)
                .collect();
        let mut fresh = Vec::new();
        for (index, p) in prepared.into_iter().enumerate() {
            let external = p.external_id.clone().unwrap_or_default();
            if !existing.contains(&external) {
                fresh.push((index, p));
                continue;
            }
            let current =
                store::cmdb::find_ci_by_external_id(&mut work.tx, actor.org_id, &external)
                    .await?
                    .ok_or(DeskError::NotFound("configuration item"))?;
            match update_prepared(work, actor, current, p).await {
                Ok((row, changed)) => {
                    if changed {
                        result.updated += 1;
                    } else {
                        result.unchanged += 1;
                    }
                    by_external.insert(external, row);
                }
                Err(DeskError::Invalid(fields)) => {
                    return Err(DeskError::BulkInvalid(vec![BulkError {
                        section: "items".into(),
                        index,
                        errors: fields.iter().map(ToString::to_string).collect(),
                    }]));
                }
                Err(e) => return Err(e),
            }
        }
        result.created = fresh.len();
        for row in insert_many(work, actor, fresh).await? {
            by_external.insert(row.external_id.clone().unwrap_or_default(), row);
        }
        let (created, existing) =
            relate_many(work, actor, &input.relationships, &kinds, &by_external).await?;
        result.relationships_created = created;
        result.relationships_existing = existing;
        work.audit(actor, "cmdb.bulk_upsert", "cmdb", json!({ "created": result.created, "updated": result.updated, "relationships": result.relationships_created }));
        Ok(result)
    }
}

/// Impact graphs by organization, each with the CMDB generation it was
/// built from. Every CMDB write bumps the generation in its transaction
/// ([`Work::cmdb_changed`]), so a graph whose generation matches the
/// database's is exactly what the database holds — on every replica.
#[derive(Default)]
pub struct GraphCache {
    graphs: std::sync::RwLock<HashMap<Uuid, (i64, Arc<CmdbGraph>)>>,
    gates: std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl GraphCache {
    fn current(&self, org_id: Uuid, generation: i64) -> Option<Arc<CmdbGraph>> {
        let graphs = self.graphs.read().unwrap_or_else(|e| e.into_inner());
        graphs
            .get(&org_id)
            .filter(|(g, _)| *g == generation)
            .map(|(_, graph)| graph.clone())
    }

    fn store(&self, org_id: Uuid, generation: i64, graph: Arc<CmdbGraph>) {
        let mut graphs = self.graphs.write().unwrap_or_else(|e| e.into_inner());
        graphs.insert(org_id, (generation, graph));
    }

    /// The organization's rebuild queue.
    fn gate(&self, org_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(org_id).or_default().clone()
    }
}

/// Retired and disposed CIs pass nothing on; relationships of an unknown
/// kind are not walked.
fn build_graph(cis: Vec<store::cmdb::CiBrief>, edges: Vec<(Uuid, Uuid, String)>) -> CmdbGraph {
    let cis = cis
        .into_iter()
        .map(|c| GraphCi {
            id: c.id,
            active: Lifecycle::parse(&c.lifecycle).is_ok_and(Lifecycle::is_active),
            name: c.name.into(),
            class: c.class_name.into(),
            criticality: c.criticality.into(),
        })
        .collect();
    let edges = edges.into_iter().filter_map(|(source, target, kind)| {
        RelationKind::parse(&kind).ok().map(|kind| Edge {
            source,
            target,
            kind,
        })
    });
    CmdbGraph::new(cis, edges)
}

/// A validated CI ready to write.
struct Prepared {
    class: ClassRow,
    schema: ClassSchema,
    name: String,
    owner_team_id: Option<Uuid>,
    owner_team_name: Option<String>,
    lifecycle: Lifecycle,
    criticality: Criticality,
    attributes: Map<String, Value>,
    external_id: Option<String>,
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

async fn prepare(tx: &mut Tx, actor: &Actor, input: &CiInput) -> Result<Prepared, DeskError> {
    prepare_cached(tx, actor, input, &mut HashMap::new()).await
}

/// [`prepare`] with the classes already read (bulk upserts read each once).
async fn prepare_cached(
    tx: &mut Tx,
    actor: &Actor,
    input: &CiInput,
    classes: &mut HashMap<String, Option<ClassRow>>,
) -> Result<Prepared, DeskError> {
    let mut errors = Vec::new();
    let class_name = input.class.trim().to_string();
    if !classes.contains_key(&class_name) {
        let found = store::cmdb::find_class_by_name(tx, actor.org_id, &class_name).await?;
        classes.insert(class_name.clone(), found);
    }
    let class = match classes.get(&class_name).cloned().flatten() {
        Some(c) => Some(c),
        None => {
            errors.push(FieldError {
                field: "class".into(),
                message: format!("unknown class `{}`", input.class),
            });
            None
        }
    };
    let name = Name::parse("name", &input.name)
        .map_err(|e| errors.push(e))
        .ok();
    let lifecycle = match input.lifecycle.as_deref() {
        None => Some(Lifecycle::initial()),
        Some(l) => Lifecycle::parse(l)
            .map_err(|e| {
                errors.push(FieldError {
                    field: "lifecycle".into(),
                    message: e.to_string(),
                })
            })
            .ok(),
    };
    let criticality = match input.criticality.as_deref() {
        None => Some(Criticality::Medium),
        Some(c) => Criticality::parse(c)
            .map_err(|e| {
                errors.push(FieldError {
                    field: "criticality".into(),
                    message: e.to_string(),
                })
            })
            .ok(),
    };
    if let Some(e) = &input.external_id {
        if e.trim().is_empty() || e.len() > 200 {
            errors.push(FieldError {
                field: "external_id".into(),
                message: "must be 1 to 200 characters".into(),
            });
        }
    }
    let owner = match input.owner_team.as_deref() {
        Some(team) => match super::teams::find_team_ref(tx, actor.org_id, team).await? {
            Some(t) => Some(t),
            None => {
                errors.push(FieldError {
                    field: "owner_team".into(),
                    message: format!("no team `{team}` in this organization"),
                });
                None
            }
        },
        None => None,
    };
    let schema = class
        .as_ref()
        .map(|c| ClassSchema::parse(&c.schema.0))
        .transpose()
        .map_err(|_| anyhow::anyhow!("a stored class schema does not parse"))?;
    let attributes = match &schema {
        Some(schema) => schema
            .validate(&input.attributes)
            .map_err(|mut e| errors.append(&mut e))
            .ok(),
        None => None,
    };
    match (class, schema, name, lifecycle, criticality, attributes) {
        (
            Some(class),
            Some(schema),
            Some(name),
            Some(lifecycle),
            Some(criticality),
            Some(attributes),
        ) if errors.is_empty() => Ok(Prepared {
            class,
            schema,
            name: name.into_inner(),
            owner_team_id: owner.as_ref().map(|t| t.id),
            owner_team_name: owner.map(|t| t.name),
            lifecycle,
            criticality,
            attributes,
            external_id: input.external_id.as_ref().map(|e| e.trim().to_string()),
        }),
        _ => Err(DeskError::Invalid(errors)),
    }
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

async fn claim_unique(
    tx: &mut Tx,
    org_id: Uuid,
    class: &ClassRow,
    schema: &ClassSchema,
    attributes: &Map<String, Value>,
    ci_id: Uuid,
) -> Result<(), DeskError> {
    for key in schema.unique_keys() {
        let Some(value) = attributes.get(key) else {
            continue;
        };
        let value = unique_text(value);
        if let Some(owner) =
            store::cmdb::unique_value_owner(tx, org_id, class.id, key, &value).await?
        {
            if owner != ci_id {
                return Err(DeskError::Invalid(vec![field(format!(
                    "`{key}` {value} is already used by another {} ({owner})",
                    class.name
                ))]));
            }
            continue;
        }
        store::cmdb::claim_unique_value(tx, org_id, class.id, key, &value, ci_id).await?;
    }
    Ok(())
}

async fn insert_prepared(work: &mut Work, actor: &Actor, p: Prepared) -> Result<CiRow, DeskError> {
    let now = store::now();
    let row = CiRow {
        id: new_id(),
        org_id: actor.org_id,
        class_id: p.class.id,
        class_name: p.class.name.clone(),
        name: p.name,
        owner_team_id: p.owner_team_id,
        owner_team_name: p.owner_team_name,
        lifecycle: p.lifecycle.as_str().into(),
        criticality: p.criticality.as_str().into(),
        attributes: sqlx::types::Json(Value::Object(p.attributes.clone())),
        external_id: p.external_id,
        created_at: now,
        updated_at: now,
    };
    if let Some(external) = &row.external_id {
        if store::cmdb::find_ci_by_external_id(&mut work.tx, actor.org_id, external)
            .await?
            .is_some()
        {
            return Err(DeskError::Invalid(vec![FieldError {
                field: "external_id".into(),
                message: format!("`{external}` is already used; upsert through /api/v1/cmdb/bulk"),
            }]));
        }
    }
    store::cmdb::insert_ci(&mut work.tx, &row).await?;
    work.cmdb_changed(actor.org_id);
    claim_unique(
        &mut work.tx,
        actor.org_id,
        &p.class,
        &p.schema,
        &p.attributes,
        row.id,
    )
    .await?;
    store::cmdb::insert_history(
        &mut work.tx,
        &[history_row(
            actor,
            row.id,
            "created",
            None,
            None,
            Some(row.name.clone()),
        )],
    )
    .await?;
    work.audit(
        actor,
        "cmdb.ci_created",
        &row.id.to_string(),
        json!({ "class": row.class_name, "name": row.name }),
    );
    Ok(row)
}

/// Inserts new CIs of a bulk upsert in a few statements: rows, unique
/// values (a clash names its entry), history. One audit event covers the
/// whole upsert; each CI's history records its creation.
async fn insert_many(
    work: &mut Work,
    actor: &Actor,
    fresh: Vec<(usize, Prepared)>,
) -> Result<Vec<CiRow>, DeskError> {
    let now = store::now();
    let mut rows = Vec::with_capacity(fresh.len());
    let mut claims = Vec::new();
    let mut index_of = HashMap::new();
    for (index, p) in fresh {
        let id = new_id();
        index_of.insert(id, index);
        for key in p.schema.unique_keys() {
            if let Some(value) = p.attributes.get(key) {
                claims.push(store::cmdb::UniqueClaim {
                    org_id: actor.org_id,
                    class_id: p.class.id,
                    attribute: key.to_string(),
                    value: unique_text(value),
                    ci_id: id,
                });
            }
        }
        rows.push(CiRow {
            id,
            org_id: actor.org_id,
            class_id: p.class.id,
            class_name: p.class.name.clone(),
            name: p.name,
            owner_team_id: p.owner_team_id,
            owner_team_name: p.owner_team_name,
            lifecycle: p.lifecycle.as_str().into(),
            criticality: p.criticality.as_str().into(),
            attributes: sqlx::types::Json(Value::Object(p.attributes)),
            external_id: p.external_id,
            created_at: now,
            updated_at: now,
        });
    }
    store::cmdb::insert_cis(&mut work.tx, &rows).await?;
    if !rows.is_empty() {
        work.cmdb_changed(actor.org_id);
    }
    let refused = store::cmdb::claim_unique_values(&mut work.tx, &claims).await?;
    if !refused.is_empty() {
        return Err(DeskError::BulkInvalid(
            refused
                .into_iter()
                .map(|(ci, key, value)| BulkError {
                    section: "items".into(),
                    index: index_of.get(&ci).copied().unwrap_or_default(),
                    errors: vec![format!(
                        "`{key}` {value} is already used by another configuration item"
                    )],
                })
                .collect(),
        ));
    }
    let history: Vec<CiHistoryRow> = rows
        .iter()
        .map(|r| history_row(actor, r.id, "created", None, None, Some(r.name.clone())))
        .collect();
    store::cmdb::insert_history(&mut work.tx, &history).await?;
    Ok(rows)
}

/// How a unique attribute value is compared: case-insensitive text.
fn unique_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    }
}

/// Applies an upsert to an existing CI; false when nothing changed.
async fn update_prepared(
    work: &mut Work,
    actor: &Actor,
    mut current: CiRow,
    p: Prepared,
) -> Result<(CiRow, bool), DeskError> {
    if current.class_id != p.class.id {
        return Err(DeskError::Invalid(vec![FieldError {
            field: "class".into(),
            message: format!(
                "`{}` is a {}; a CI's class cannot change",
                p.external_id.unwrap_or_default(),
                current.class_name
            ),
        }]));
    }
    let attributes = Value::Object(p.attributes.clone());
    let mut history = Vec::new();
    if current.name != p.name {
        history.push(("name", Some(current.name.clone()), Some(p.name.clone())));
        current.name = p.name;
    }
    if current.attributes.0 != attributes {
        history.push((
            "attributes",
            Some(current.attributes.0.to_string()),
            Some(attributes.to_string()),
        ));
        store::cmdb::release_unique_values(&mut work.tx, current.id).await?;
        claim_unique(
            &mut work.tx,
            actor.org_id,
            &p.class,
            &p.schema,
            &p.attributes,
            current.id,
        )
        .await?;
        current.attributes = sqlx::types::Json(attributes);
    }
    if current.owner_team_id != p.owner_team_id {
        history.push((
            "owner_team",
            current.owner_team_name.clone(),
            p.owner_team_name.clone(),
        ));
        current.owner_team_id = p.owner_team_id;
        current.owner_team_name = p.owner_team_name;
    }
    if current.criticality != p.criticality.as_str() {
        history.push((
            "criticality",
            Some(current.criticality.clone()),
            Some(p.criticality.as_str().into()),
        ));
        current.criticality = p.criticality.as_str().into();
    }
    if current.lifecycle != p.lifecycle.as_str() {
        let from = Lifecycle::parse(&current.lifecycle).map_err(anyhow::Error::from)?;
        Lifecycle::transition(from, p.lifecycle)
            .map_err(|e| DeskError::invalid("lifecycle", e.to_string()))?;
        history.push((
            "lifecycle",
            Some(current.lifecycle.clone()),
            Some(p.lifecycle.as_str().into()),
        ));
        current.lifecycle = p.lifecycle.as_str().into();
    }
    if history.is_empty() {
        return Ok((current, false));
    }
    current.updated_at = store::now();
    store::cmdb::update_ci(&mut work.tx, &current).await?;
    work.cmdb_changed(actor.org_id);
    let rows: Vec<CiHistoryRow> = history
        .iter()
        .map(|(f, o, n)| history_row(actor, current.id, "updated", Some(f), o.clone(), n.clone()))
        .collect();
    store::cmdb::insert_history(&mut work.tx, &rows).await?;
    Ok((current, true))
}

/// Adds many relationships named by external id in a few statements: the
/// ends are looked up at once, every entry is checked, then one multi-row
/// insert skips those that exist. Returns (added, already there).
async fn relate_many(
    work: &mut Work,
    actor: &Actor,
    relationships: &[BulkRelationship],
    kinds: &[RelationKind],
    batch: &HashMap<String, CiRow>,
) -> Result<(usize, usize), DeskError> {
    if relationships.is_empty() {
        return Ok((0, 0));
    }
    // (id, class, name) by external id: this batch's CIs, then the database.
    let mut ends: HashMap<String, (Uuid, String, String)> = batch
        .iter()
        .map(|(e, row)| {
            (
                e.clone(),
                (row.id, row.class_name.clone(), row.name.clone()),
            )
        })
        .collect();
    let mut wanted: Vec<String> = relationships
        .iter()
        .flat_map(|r| [r.source_external_id.clone(), r.target_external_id.clone()])
        .filter(|e| !ends.contains_key(e))
        .collect();
    wanted.sort();
    wanted.dedup();
    for (external, id, class, name) in
        store::cmdb::find_by_external_ids(&mut work.tx, actor.org_id, &wanted).await?
    {
        ends.insert(external, (id, class, name));
    }
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(relationships.len());
    let now = store::now();
    for (index, (r, kind)) in relationships.iter().zip(kinds).enumerate() {
        let mut problems = Vec::new();
        let source = ends.get(&r.source_external_id);
        let target = ends.get(&r.target_external_id);
        for (which, external, end) in [
            ("source", &r.source_external_id, source),
            ("target", &r.target_external_id, target),
        ] {
            if end.is_none() {
                problems.push(format!("unknown {which} external_id `{external}`"));
            }
        }
        if let (Some(s), Some(t)) = (source, target) {
            if s.0 == t.0 {
                problems.push("a configuration item cannot relate to itself".into());
            } else if let Err(m) = cmdb::relation_allowed(*kind, &s.1, &t.1) {
                problems.push(m);
            } else {
                rows.push(RelationshipRow {
                    id: new_id(),
                    org_id: actor.org_id,
                    source_id: s.0,
                    target_id: t.0,
                    kind: kind.as_str().into(),
                    attributes: sqlx::types::Json(Value::Object(Map::new())),
                    created_at: now,
                });
            }
        }
        if !problems.is_empty() {
            errors.push(BulkError {
                section: "relationships".into(),
                index,
                errors: problems,
            });
        }
    }
    if !errors.is_empty() {
        return Err(DeskError::BulkInvalid(errors));
    }
    let created: HashSet<Uuid> = store::cmdb::insert_relationships(&mut work.tx, &rows)
        .await?
        .into_iter()
        .collect();
    let names: HashMap<Uuid, &str> = ends
        .values()
        .map(|(id, _, name)| (*id, name.as_str()))
        .collect();
    if !created.is_empty() {
        work.cmdb_changed(actor.org_id);
    }
    let mut history = Vec::with_capacity(created.len() * 2);
    for row in rows.iter().filter(|r| created.contains(&r.id)) {
        let text = format!(
            "{} {} {}",
            names.get(&row.source_id).unwrap_or(&""),
            row.kind,
            names.get(&row.target_id).unwrap_or(&"")
        );
        history.push(history_row(
            actor,
            row.source_id,
            "relationship_added",
            Some("relationships"),
            None,
            Some(text.clone()),
        ));
        history.push(history_row(
            actor,
            row.target_id,
            "relationship_added",
            Some("relationships"),
            None,
            Some(text),
        ));
    }
    store::cmdb::insert_history(&mut work.tx, &history).await?;
    Ok((created.len(), relationships.len() - created.len()))
}

/// Adds `source kind target` after checking the classes allow it.
async fn relate(
    work: &mut Work,
    actor: &Actor,
    source: &CiRow,
    kind: RelationKind,
    target: &CiRow,
    attributes: Map<String, Value>,
) -> Result<(Uuid, bool), DeskError> {
    if source.id == target.id {
        return Err(DeskError::invalid(
            "target",
            "a configuration item cannot relate to itself",
        ));
    }
    cmdb::relation_allowed(kind, &source.class_name, &target.class_name)
        .map_err(|m| DeskError::invalid("kind", m))?;
    let row = RelationshipRow {
        id: new_id(),
        org_id: actor.org_id,
        source_id: source.id,
        target_id: target.id,
        kind: kind.as_str().into(),
        attributes: sqlx::types::Json(Value::Object(attributes)),
        created_at: store::now(),
    };
    let (id, created) = store::cmdb::upsert_relationship(&mut work.tx, &row).await?;
    if created {
        work.cmdb_changed(actor.org_id);
        let text = format!("{} {} {}", source.name, kind.as_str(), target.name);
        let rows = [
            history_row(
                actor,
                source.id,
                "relationship_added",
                Some("relationships"),
                None,
                Some(text.clone()),
            ),
            history_row(
                actor,
                target.id,
                "relationship_added",
                Some("relationships"),
                None,
                Some(text),
            ),
        ];
        store::cmdb::insert_history(&mut work.tx, &rows).await?;
    }
    Ok((id, created))
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
