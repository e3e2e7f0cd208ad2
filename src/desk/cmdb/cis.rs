//! Configuration items one at a time: create, read, list, update, delete
//! (only what nothing refers to), their relationships, history and the
//! tickets linked to them.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    claim_unique, class_by_name, decode_cursor, encode_cursor, history_row, insert_prepared,
    prepare, relate, require_ci_writer, ticket_ref, CiChanges, CiDetail, CiInput, CiRef, CiView,
    HistoryView, RelationshipInput, RelationshipView,
};
use crate::desk::{views::PersonRef, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        cmdb::{ClassSchema, Criticality, Lifecycle, RelationKind},
        text::Name,
    },
    store::{self, cmdb::CiHistoryRow, Exec},
};

impl Desk {
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
                Some(crate::desk::teams::resolve_team(&mut work.tx, actor.org_id, team).await?)
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

    /// Links a ticket to a CI (agents).
    pub async fn link_ticket_ci(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        ci: Uuid,
    ) -> Result<Vec<CiRef>, DeskError> {
        actor.require_agent()?;
        let ticket = crate::desk::tickets::lock_visible(&mut work.tx, actor, number).await?;
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
        let ticket = crate::desk::tickets::lock_visible(&mut work.tx, actor, number).await?;
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

    pub(super) async fn ticket_cis_in(
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
}
