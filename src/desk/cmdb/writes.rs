//! Validating and writing CIs and relationships, one or many: the
//! idempotent bulk upsert (discovery tools, the importer) and the steps the
//! single-CI use cases share with it.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{field, history_row, BulkError, BulkRelationship, BulkResult, BulkUpsert, CiInput};
use crate::desk::{new_id, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        cmdb::{self, ClassSchema, Criticality, Lifecycle, RelationKind},
        text::Name,
        FieldError, Role,
    },
    store::{
        self,
        cmdb::{CiHistoryRow, CiRow, ClassRow, RelationshipRow},
        Tx,
    },
};

impl Desk {
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

/// A validated CI ready to write.
pub(super) struct Prepared {
    pub(super) class: ClassRow,
    pub(super) schema: ClassSchema,
    pub(super) name: String,
    pub(super) owner_team_id: Option<Uuid>,
    pub(super) owner_team_name: Option<String>,
    pub(super) lifecycle: Lifecycle,
    pub(super) criticality: Criticality,
    pub(super) attributes: Map<String, Value>,
    pub(super) external_id: Option<String>,
}

pub(super) async fn prepare(
    tx: &mut Tx,
    actor: &Actor,
    input: &CiInput,
) -> Result<Prepared, DeskError> {
    prepare_cached(tx, actor, input, &mut HashMap::new()).await
}

/// [`prepare`] with the classes already read (bulk upserts read each once).
pub(super) async fn prepare_cached(
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
        Some(team) => match crate::desk::teams::find_team_ref(tx, actor.org_id, team).await? {
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

pub(super) async fn claim_unique(
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

pub(super) async fn insert_prepared(
    work: &mut Work,
    actor: &Actor,
    p: Prepared,
) -> Result<CiRow, DeskError> {
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
pub(super) async fn insert_many(
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
pub(super) fn unique_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    }
}

/// Applies an upsert to an existing CI; false when nothing changed.
pub(super) async fn update_prepared(
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
pub(super) async fn relate_many(
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
pub(super) async fn relate(
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
