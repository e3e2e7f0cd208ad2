//! The service catalog: categories and items with typed forms, a
//! fulfilment team, an approval policy and tasks. Ordering an item with
//! valid answers opens a service request; with a policy it goes straight to
//! approval.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    changes::parse_task_titles, new_id, people::resolve_person, teams::resolve_team,
    tickets::OpenTicket, views::TicketView, Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        form::{FormDefinition, ReferenceKind},
        text::{Description, Name},
        FieldError, Kind, State,
    },
    store::{
        self,
        catalog::{CatalogCategoryRow, CatalogItemRow, RequestDetailsRow},
        Exec,
    },
};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ItemInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Catalog category name.
    pub category: Option<String>,
    /// The form: `{"fields": [...]}`; see the README for field types.
    #[schema(value_type = Object)]
    #[serde(default = "empty_form")]
    pub form: Value,
    /// Fulfilment team (name or id).
    pub team: Option<String>,
    /// Approval policy (name or id).
    pub approval_policy: Option<String>,
    /// Task titles created with every order.
    #[serde(default)]
    pub tasks: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn empty_form() -> Value {
    json!({ "fields": [] })
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub category: Option<String>,
    /// The typed form, as chat connectors render it.
    #[schema(value_type = Object)]
    pub form: Value,
    pub team: Option<String>,
    pub approval_policy: Option<String>,
    pub tasks: Vec<String>,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<&CatalogItemRow> for ItemView {
    fn from(i: &CatalogItemRow) -> Self {
        Self {
            id: i.id,
            name: i.name.clone(),
            description: i.description.clone(),
            category: i.category_name.clone(),
            form: i.form.0.clone(),
            team: i.team_name.clone(),
            approval_policy: i.approval_policy_name.clone(),
            tasks: i.tasks.0.clone(),
            active: i.active,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CatalogCategoryView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub position: i32,
}

impl From<&CatalogCategoryRow> for CatalogCategoryView {
    fn from(c: &CatalogCategoryRow) -> Self {
        Self {
            id: c.id,
            name: c.name.clone(),
            description: c.description.clone(),
            position: c.position,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CatalogView {
    pub categories: Vec<CatalogCategoryView>,
    pub items: Vec<ItemView>,
}

/// An order: answers to the item's form, keyed by field key.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct OrderInput {
    #[schema(value_type = Object)]
    #[serde(default)]
    pub answers: Map<String, Value>,
    /// Agents may order for someone else (email or id).
    pub requester: Option<String>,
    /// A title; by default the item's name.
    pub title: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub ticket: TicketView,
    pub item: ItemView,
    #[schema(value_type = Object)]
    pub answers: Value,
}

impl Desk {
    pub async fn create_catalog_category(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        description: &str,
        position: Option<i32>,
    ) -> Result<CatalogCategoryView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", name)?.into_inner();
        let description = Description::parse("description", description)?.into_inner();
        if store::catalog::find_category_by_name(&mut work.tx, actor.org_id, &name)
            .await?
            .is_some()
        {
            return Err(DeskError::invalid(
                "name",
                format!("a catalog category named `{name}` already exists"),
            ));
        }
        let row = CatalogCategoryRow {
            id: new_id(),
            org_id: actor.org_id,
            name,
            description,
            position: position.unwrap_or(100),
            created_at: store::now(),
        };
        store::catalog::insert_category(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "catalog.category_created",
            &row.name,
            json!({ "id": row.id }),
        );
        Ok(CatalogCategoryView::from(&row))
    }

    /// The catalog: categories and items; inactive items only for agents.
    pub async fn catalog(&self, actor: &Actor) -> Result<CatalogView, DeskError> {
        let mut tx = self.db.read().await?;
        let categories = store::catalog::list_categories(&mut tx, actor.org_id).await?;
        let items = store::catalog::list_items(&mut tx, actor.org_id, actor.is_agent()).await?;
        Ok(CatalogView {
            categories: categories.iter().map(CatalogCategoryView::from).collect(),
            items: items.iter().map(ItemView::from).collect(),
        })
    }

    pub async fn get_catalog_item(&self, actor: &Actor, id: Uuid) -> Result<ItemView, DeskError> {
        let mut tx = self.db.read().await?;
        let item = store::catalog::find_item(&mut tx, actor.org_id, id)
            .await?
            .filter(|i| i.active || actor.is_agent())
            .ok_or(DeskError::NotFound("catalog item"))?;
        Ok(ItemView::from(&item))
    }

    pub async fn create_catalog_item(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: ItemInput,
    ) -> Result<ItemView, DeskError> {
        actor.require_admin()?;
        let mut row = self.item_row(work, actor, None, input).await?;
        if store::catalog::find_item_by_name(&mut work.tx, actor.org_id, &row.name)
            .await?
            .is_some()
        {
            return Err(DeskError::invalid(
                "name",
                format!("a catalog item named `{}` already exists", row.name),
            ));
        }
        store::catalog::insert_item(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "catalog.item_created",
            &row.name,
            json!({ "id": row.id }),
        );
        row = store::catalog::find_item(&mut work.tx, actor.org_id, row.id)
            .await?
            .ok_or(DeskError::NotFound("catalog item"))?;
        Ok(ItemView::from(&row))
    }

    pub async fn update_catalog_item(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: ItemInput,
    ) -> Result<ItemView, DeskError> {
        actor.require_admin()?;
        let existing = store::catalog::find_item(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("catalog item"))?;
        let row = self.item_row(work, actor, Some(&existing), input).await?;
        if let Some(other) =
            store::catalog::find_item_by_name(&mut work.tx, actor.org_id, &row.name).await?
        {
            if other.id != id {
                return Err(DeskError::invalid(
                    "name",
                    format!("a catalog item named `{}` already exists", row.name),
                ));
            }
        }
        store::catalog::update_item(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "catalog.item_updated",
            &row.name,
            json!({ "id": row.id }),
        );
        let row = store::catalog::find_item(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("catalog item"))?;
        Ok(ItemView::from(&row))
    }

    /// Checks an item's input; every problem is reported at once.
    async fn item_row(
        &self,
        work: &mut Work,
        actor: &Actor,
        existing: Option<&CatalogItemRow>,
        input: ItemInput,
    ) -> Result<CatalogItemRow, DeskError> {
        let mut errors = Vec::new();
        let name = Name::parse("name", &input.name)
            .map_err(|e| errors.push(e))
            .ok();
        let description = Description::parse("description", &input.description)
            .map_err(|e| errors.push(e))
            .ok();
        let form = FormDefinition::parse(&input.form)
            .map_err(|mut e| errors.append(&mut e))
            .ok();
        let tasks = parse_task_titles(input.tasks)
            .map_err(|e| collect(&mut errors, e))
            .ok();
        let category = match &input.category {
            Some(name) => {
                match store::catalog::find_category_by_name(&mut work.tx, actor.org_id, name.trim())
                    .await?
                {
                    Some(c) => Some(c.id),
                    None => {
                        errors.push(FieldError::new(
                            "category",
                            format!("no catalog category `{name}`"),
                        ));
                        None
                    }
                }
            }
            None => None,
        };
        let team = match &input.team {
            Some(t) => resolve_team(&mut work.tx, actor.org_id, t)
                .await
                .map_err(|e| collect(&mut errors, e))
                .ok()
                .map(|t| t.id),
            None => None,
        };
        let policy = match &input.approval_policy {
            Some(p) => self
                .resolve_policy(&mut work.tx, actor.org_id, "approval_policy", p)
                .await
                .map_err(|e| collect(&mut errors, e))
                .ok()
                .map(|p| p.id),
            None => None,
        };
        let (Some(name), Some(description), Some(form), Some(tasks)) =
            (name, description, form, tasks)
        else {
            return Err(DeskError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let now = store::now();
        Ok(CatalogItemRow {
            id: existing.map(|e| e.id).unwrap_or_else(new_id),
            org_id: actor.org_id,
            category_id: category,
            category_name: None,
            name: name.into_inner(),
            description: description.into_inner(),
            form: sqlx::types::Json(serde_json::to_value(&form).map_err(anyhow::Error::from)?),
            team_id: team,
            team_name: None,
            approval_policy_id: policy,
            approval_policy_name: None,
            tasks: sqlx::types::Json(tasks),
            active: input.active,
            created_at: existing.map(|e| e.created_at).unwrap_or(now),
            updated_at: now,
        })
    }

    /// Orders a catalog item: validates the answers against the form
    /// (field-level errors, nothing stored when any is wrong), opens a
    /// service request for the item's team with the item's tasks, and
    /// submits it to the item's approval policy if it has one.
    pub async fn order_item(
        &self,
        work: &mut Work,
        actor: &Actor,
        item_id: Uuid,
        input: OrderInput,
    ) -> Result<RequestView, DeskError> {
        let item = store::catalog::find_item(&mut work.tx, actor.org_id, item_id)
            .await?
            .filter(|i| i.active)
            .ok_or(DeskError::NotFound("catalog item"))?;
        let form: FormDefinition = serde_json::from_value(item.form.0.clone()).map_err(|e| {
            DeskError::Internal(anyhow::anyhow!("stored form of {}: {e}", item.name))
        })?;
        let valid = form.validate(&input.answers).map_err(DeskError::Invalid)?;
        let mut answers: BTreeMap<String, Value> = valid.values;
        let mut errors = Vec::new();
        for reference in &valid.references {
            let place = format!("answers.{}", reference.key);
            match &reference.kind {
                ReferenceKind::Person => {
                    match resolve_person(&mut work.tx, actor.org_id, "person", &reference.value)
                        .await
                    {
                        Ok((id, name, _)) => {
                            answers
                                .insert(reference.key.clone(), json!({ "id": id, "name": name }));
                        }
                        Err(_) => errors.push(FieldError::new(
                            place,
                            format!("no person `{}` in this organization", reference.value),
                        )),
                    }
                }
                ReferenceKind::ConfigurationItem { class } => {
                    let found = match Uuid::parse_str(&reference.value) {
                        Ok(id) => {
                            store::cmdb::find_ci(Exec::Tx(&mut work.tx), actor.org_id, id).await?
                        }
                        Err(_) => {
                            store::cmdb::find_ci_by_external_id(
                                &mut work.tx,
                                actor.org_id,
                                &reference.value,
                            )
                            .await?
                        }
                    };
                    match found {
                        Some(ci)
                            if class
                                .as_ref()
                                .is_none_or(|c| c.eq_ignore_ascii_case(&ci.class_name)) =>
                        {
                            answers.insert(
                                reference.key.clone(),
                                json!({ "id": ci.id, "name": ci.name }),
                            );
                        }
                        Some(ci) => errors.push(FieldError::new(
                            place,
                            format!(
                                "{} is a {}, not a {}",
                                ci.name,
                                ci.class_name,
                                class.clone().unwrap_or_default()
                            ),
                        )),
                        None => errors.push(FieldError::new(
                            place,
                            format!("no configuration item `{}`", reference.value),
                        )),
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        let description = describe_answers(&form, &answers);
        let ticket = self
            .open_ticket(
                work,
                actor,
                OpenTicket {
                    tags: Vec::new(),
                    kind: Kind::ServiceRequest.as_str().into(),
                    title: input.title.unwrap_or_else(|| item.name.clone()),
                    description,
                    impact: None,
                    urgency: None,
                    category: None,
                    team: item.team_id.map(|t| t.to_string()),
                    requester: input.requester,
                },
            )
            .await?;
        let answers_json = serde_json::to_value(&answers).map_err(anyhow::Error::from)?;
        store::catalog::insert_request(
            &mut work.tx,
            &RequestDetailsRow {
                ticket_id: ticket.id,
                org_id: actor.org_id,
                item_id: item.id,
                answers: sqlx::types::Json(answers_json.clone()),
            },
        )
        .await?;
        for title in &item.tasks.0 {
            self.insert_task(work, actor, ticket.id, title, None)
                .await?;
        }
        work.audit(
            actor,
            "catalog.ordered",
            &ticket.number,
            json!({ "item": item.id, "item_name": item.name }),
        );
        let ticket = if item.approval_policy_id.is_some() {
            let system = Actor {
                channel: actor.channel,
                ..Actor::system(actor.org_id)
            };
            self.move_ticket(
                work,
                &system,
                &ticket.number,
                State::AwaitingApproval,
                None,
                false,
            )
            .await?
        } else {
            ticket
        };
        Ok(RequestView {
            ticket,
            item: ItemView::from(&item),
            answers: answers_json,
        })
    }

    /// What was ordered on a service request.
    pub async fn get_request(&self, actor: &Actor, number: &str) -> Result<RequestView, DeskError> {
        let ticket = self.get_ticket(actor, number).await?;
        let mut tx = self.db.read().await?;
        let request = store::catalog::find_request(&mut tx, ticket.id)
            .await?
            .ok_or(DeskError::NotFound("catalog order"))?;
        let item = store::catalog::find_item(&mut tx, actor.org_id, request.item_id)
            .await?
            .ok_or(DeskError::NotFound("catalog item"))?;
        Ok(RequestView {
            ticket,
            item: ItemView::from(&item),
            answers: request.answers.0,
        })
    }
}

/// The answers as "Label: value" lines, for people reading the ticket.
fn describe_answers(form: &FormDefinition, answers: &BTreeMap<String, Value>) -> String {
    let mut lines = Vec::new();
    for field in &form.fields {
        let Some(value) = answers.get(&field.key) else {
            continue;
        };
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            Value::Object(o) => o
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
            other => other.to_string(),
        };
        lines.push(format!("{}: {text}", field.label));
    }
    lines.join("\n")
}

fn collect(errors: &mut Vec<FieldError>, error: DeskError) {
    match error {
        DeskError::Invalid(mut e) => errors.append(&mut e),
        other => errors.push(FieldError::new("input", other.to_string())),
    }
}
